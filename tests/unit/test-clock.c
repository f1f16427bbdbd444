/*
 * test-clock.c — lib/clock.c against clock.h: formatting, clocks, and
 * ISO 8601 / RFC 3339 parsing with zones, fractions and bad dates.
 */
#include <stdlib.h>

#include "clock.h"
#include "unit.h"

#define JULY_1_2026 1782864000.0 /* date -u -d 2026-07-01 +%s */
#define FEB_29_2024 1709164800.0

/* Parses TEXT, which must be a date; its value, or NaN. */
static double parsed(const char *text)
{
	double seconds = -12345;

	if (mas_clock_parse_iso(text, &seconds) != 0)
		return NAN;
	return seconds;
}

#define CHECK_PARSES(text, want)                                              \
	do {                                                                  \
		double got_ = parsed(text);                                   \
		if (isnan(got_))                                              \
			UNIT_FAIL("\"%s\" refused", text);                    \
		else                                                          \
			CHECK_NEAR(got_, want, 1e-12);                        \
	} while (0)

#define CHECK_REFUSED(text)                                                   \
	do {                                                                  \
		double s_ = -12345;                                           \
		if (mas_clock_parse_iso(text, &s_) != -1)                     \
			UNIT_FAIL("\"%s\" accepted as %.3f", text, s_);       \
	} while (0)

static void test_parse_date(void)
{
	CHECK_PARSES("2026-07-01", JULY_1_2026);
	CHECK_PARSES("1970-01-01", 0);
	CHECK_PARSES("2024-02-29", FEB_29_2024);
	CHECK_PARSES("2000-02-29", 951782400);
	CHECK_PARSES("1969-12-31", -86400);
}

static void test_parse_date_time_utc(void)
{
	CHECK_PARSES("2026-07-01T12:00:00Z", JULY_1_2026 + 43200);
	CHECK_PARSES("2026-07-01t12:00:00z", JULY_1_2026 + 43200);
	CHECK_PARSES("2026-07-01T23:59:59Z", JULY_1_2026 + 86399);
	CHECK_PARSES("1969-12-31T23:59:59Z", -1);
}

static void test_parse_without_zone_is_utc(void)
{
	CHECK_PARSES("2026-07-01T12:00:00", JULY_1_2026 + 43200);
	CHECK_PARSES("2026-07-01 12:00:00", JULY_1_2026 + 43200);
}

static void test_parse_does_not_use_local_zone(void)
{
	const char *saved = getenv("TZ");
	char *copy = saved ? strdup(saved) : NULL;

	setenv("TZ", "Asia/Kolkata", 1);
	tzset();
	CHECK_PARSES("2026-07-01", JULY_1_2026);
	CHECK_PARSES("2026-07-01T12:00:00", JULY_1_2026 + 43200);
	if (copy)
		setenv("TZ", copy, 1);
	else
		unsetenv("TZ");
	tzset();
	free(copy);
}

static void test_parse_offsets(void)
{
	CHECK_PARSES("2026-07-01T12:00:00+02:00", JULY_1_2026 + 36000);
	CHECK_PARSES("2026-07-01T12:00:00-05:30", JULY_1_2026 + 63000);
	CHECK_PARSES("2026-07-01T12:00:00+00:00", JULY_1_2026 + 43200);
	CHECK_PARSES("2026-07-01T12:00:00-00:00", JULY_1_2026 + 43200);
	CHECK_PARSES("2026-07-01T12:00:00+0200", JULY_1_2026 + 36000);
	/* An offset can move the instant to another day. */
	CHECK_PARSES("2026-07-01T01:00:00+05:00", JULY_1_2026 - 14400);
	CHECK_PARSES("2026-07-01 12:00:00+02:00", JULY_1_2026 + 36000);
}

static void test_parse_fractions(void)
{
	CHECK_PARSES("2026-07-01T12:00:00.5Z", JULY_1_2026 + 43200.5);
	CHECK_PARSES("2026-07-01T12:00:00.123Z", JULY_1_2026 + 43200.123);
	CHECK_PARSES("2026-07-01T12:00:00.123456789Z",
	             JULY_1_2026 + 43200.123456789);
	CHECK_PARSES("2026-07-01T12:00:00.250+01:00",
	             JULY_1_2026 + 39600.25);
	CHECK_PARSES("2026-07-01T12:00:00.75", JULY_1_2026 + 43200.75);
	/* ISO 8601 allows a comma. */
	CHECK_PARSES("2026-07-01T12:00:00,5Z", JULY_1_2026 + 43200.5);
}

static void test_parse_bad_fractions(void)
{
	CHECK_REFUSED("2026-07-01T12:00:00.Z");
	CHECK_REFUSED("2026-07-01T12:00:00.");
	CHECK_REFUSED("2026-07-01T12:00:00.5e3Z");
	CHECK_REFUSED("2026-07-01T12:00:00.-5Z");
	CHECK_REFUSED("2026-07-01T12:00:00. 5Z");
}

static void test_parse_invalid_dates(void)
{
	CHECK_REFUSED("2026-02-29");  /* not a leap year */
	CHECK_REFUSED("1900-02-29");  /* century, not a leap year */
	CHECK_REFUSED("2026-02-30");
	CHECK_REFUSED("2026-04-31");
	CHECK_REFUSED("2026-06-31");
	CHECK_REFUSED("2026-09-31");
	CHECK_REFUSED("2026-11-31");
	CHECK_REFUSED("2026-13-01");
	CHECK_REFUSED("2026-00-10");
	CHECK_REFUSED("2026-01-00");
	CHECK_REFUSED("2026-01-32");
	CHECK_REFUSED("2026-02-30T12:00:00Z");
}

static void test_parse_invalid_times(void)
{
	CHECK_REFUSED("2026-07-01T24:00:00Z");
	CHECK_REFUSED("2026-07-01T12:60:00Z");
	CHECK_REFUSED("2026-07-01T12:00:61Z");
	CHECK_REFUSED("2026-07-01T1:00:00Z");
	CHECK_REFUSED("2026-07-01T12:0:00Z");
	CHECK_REFUSED("2026-07-01T12:00:0Z");
	CHECK_REFUSED("2026-07-01T");
	CHECK_REFUSED("2026-07-01T12");
}

static void test_parse_invalid_zones(void)
{
	CHECK_REFUSED("2026-07-01T12:00:00+2");
	CHECK_REFUSED("2026-07-01T12:00:00+02:0");
	CHECK_REFUSED("2026-07-01T12:00:00+99:00");
	CHECK_REFUSED("2026-07-01T12:00:00+02:99");
	CHECK_REFUSED("2026-07-01T12:00:00 UTC");
	CHECK_REFUSED("2026-07-01T12:00:00ZZ");
	CHECK_REFUSED("2026-07-01Z");
}

static void test_parse_not_dates(void)
{
	CHECK_REFUSED("");
	CHECK_REFUSED("2026");
	CHECK_REFUSED("2026-07");
	CHECK_REFUSED("2026-7-1");
	CHECK_REFUSED("26-07-01");
	CHECK_REFUSED("2026/07/01");
	CHECK_REFUSED("20260701");
	CHECK_REFUSED(" 2026-07-01");
	CHECK_REFUSED("2026-07-01 ");
	CHECK_REFUSED("2026-07-01x");
	CHECK_REFUSED("yesterday");
	CHECK_REFUSED("1782864000");
	CHECK_REFUSED("abcd-ef-gh");
}

static void test_parse_leaves_result_on_failure(void)
{
	double seconds = 42;

	CHECK_INT(mas_clock_parse_iso("2026-13-01", &seconds), -1);
	CHECK_INT(mas_clock_parse_iso("nope", &seconds), -1);
	CHECK_NEAR(seconds, 42, 0);
}

static void test_format_iso(void)
{
	char buf[MAS_CLOCK_ISO_SIZE];

	mas_clock_format_iso(0, buf);
	CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
	mas_clock_format_iso(JULY_1_2026 + 43200.5, buf);
	CHECK_STR(buf, "2026-07-01T12:00:00.500Z");
	mas_clock_format_iso(FEB_29_2024 + 86399.999, buf);
	CHECK_STR(buf, "2024-02-29T23:59:59.999Z");
	mas_clock_format_iso(-0.5, buf);
	CHECK_STR(buf, "1969-12-31T23:59:59.500Z");
	mas_clock_format_iso(253402300799.25, buf);
	CHECK_STR(buf, "9999-12-31T23:59:59.250Z");
	mas_clock_format_iso(253402300800.0, buf); /* past four digits */
	CHECK_STR(buf, "10000-01-01T00:00:00.000Z");
}

static void test_format_parse_round_trip(void)
{
	static const char *const stamps[] = {
		"2026-07-01T12:34:56.789Z", "2026-11-24T22:55:32.123Z",
		"1999-12-31T23:59:59.001Z", "2024-02-29T00:00:00.010Z",
		"2038-01-19T03:14:08.999Z",
	};
	char buf[MAS_CLOCK_ISO_SIZE];

	for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
		double seconds = parsed(stamps[i]);
		mas_clock_format_iso(seconds, buf);
		CHECK_STR(buf, stamps[i]);
	}
}

static void test_now_iso(void)
{
	char buf[MAS_CLOCK_ISO_SIZE];
	double before = (double)mas_clock_epoch_ms() / 1000.0, seconds;

	mas_clock_now_iso(buf);
	CHECK_INT(strlen(buf), 24);
	CHECK_INT(buf[23], 'Z');
	CHECK_INT(buf[10], 'T');
	seconds = parsed(buf);
	CHECK(!isnan(seconds));
	CHECK(seconds >= before - 0.001);
	CHECK(seconds <= before + 5);
}

static void test_epoch_ms(void)
{
	uint64_t ms = mas_clock_epoch_ms();
	time_t now = time(NULL);

	CHECK(ms / 1000 + 2 >= (uint64_t)now);
	CHECK(ms / 1000 <= (uint64_t)now + 2);
}

static void test_monotonic(void)
{
	double previous = mas_clock_monotonic();

	for (int i = 0; i < 10000; i++) {
		double now = mas_clock_monotonic();
		if (now < previous)
			UNIT_FAIL("monotonic went back: %f < %f", now,
			          previous);
		previous = now;
	}
}

static void test_format_label(void)
{
	char buf[64];

	mas_clock_format_label(JULY_1_2026, buf, sizeof(buf));
	CHECK_STR(buf, "2026-07-01");
	mas_clock_format_label(JULY_1_2026 + 3600 * 13 + 61, buf,
	                       sizeof(buf));
	CHECK_STR(buf, "2026-07-01T13:01:01Z");
	/* A fraction past midnight is not midnight. */
	mas_clock_format_label(JULY_1_2026 + 0.5, buf, sizeof(buf));
	CHECK(strncmp(buf, "2026-07-01T00:00:00", 19) == 0);
	mas_clock_format_label(-86400, buf, sizeof(buf));
	CHECK_STR(buf, "1969-12-31");
}

static void test_format_label_small_buffer(void)
{
	char buf[8];

	memset(buf, '#', sizeof(buf));
	mas_clock_format_label(JULY_1_2026, buf, sizeof(buf));
	CHECK_STR(buf, "2026-07");
}

int main(void)
{
	UNIT_RUN(test_parse_date);
	UNIT_RUN(test_parse_date_time_utc);
	UNIT_RUN(test_parse_without_zone_is_utc);
	UNIT_RUN(test_parse_does_not_use_local_zone);
	UNIT_RUN(test_parse_offsets);
	UNIT_RUN(test_parse_fractions);
	UNIT_RUN(test_parse_bad_fractions);
	UNIT_RUN(test_parse_invalid_dates);
	UNIT_RUN(test_parse_invalid_times);
	UNIT_RUN(test_parse_invalid_zones);
	UNIT_RUN(test_parse_not_dates);
	UNIT_RUN(test_parse_leaves_result_on_failure);
	UNIT_RUN(test_format_iso);
	UNIT_RUN(test_format_parse_round_trip);
	UNIT_RUN(test_now_iso);
	UNIT_RUN(test_epoch_ms);
	UNIT_RUN(test_monotonic);
	UNIT_RUN(test_format_label);
	UNIT_RUN(test_format_label_small_buffer);
	return unit_done();
}
