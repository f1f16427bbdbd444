/*
 * clock.c — clocks and timestamps (see clock.h).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "banned.h"

/* VALUE (0 or more) as WIDTH digits, zero-padded, at OUT. */
static void put_digits(char *out, int value, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = (char)('0' + value % 10);
		value /= 10;
	}
}

void mas_clock_format_iso(double epoch_seconds, char buf[MAS_CLOCK_ISO_SIZE])
{
	/* Rounded to the millisecond: a parsed ".123" is 0.12299... */
	double total_ms = floor(epoch_seconds * 1000.0 + 0.5);
	time_t seconds = (time_t)floor(total_ms / 1000.0);
	int ms = (int)(total_ms - (double)seconds * 1000.0);
	struct tm tm;

	if (ms > 999)
		ms = 999;
	gmtime_r(&seconds, &tm);
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
		snprintf(buf, MAS_CLOCK_ISO_SIZE,
		         "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		         tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
		return;
	}
	/* by hand: every record is stamped, and snprintf took 3,500
	 * instructions of the 330,000 mas-chat spent on a message */
	put_digits(buf, tm.tm_year + 1900, 4);
	buf[4] = '-';
	put_digits(buf + 5, tm.tm_mon + 1, 2);
	buf[7] = '-';
	put_digits(buf + 8, tm.tm_mday, 2);
	buf[10] = 'T';
	put_digits(buf + 11, tm.tm_hour, 2);
	buf[13] = ':';
	put_digits(buf + 14, tm.tm_min, 2);
	buf[16] = ':';
	put_digits(buf + 17, tm.tm_sec, 2);
	buf[19] = '.';
	put_digits(buf + 20, ms, 3);
	buf[23] = 'Z';
	buf[24] = '\0';
}

/* The pinned instant, read from the environment once. */
static pthread_once_t pin_once = PTHREAD_ONCE_INIT;
static int pinned;
static uint64_t pinned_ns;
static const char *pin_problem;

/* Whole seconds since the epoch, digits only; -1 when TEXT is not. */
static int parse_seconds(const char *text, double *seconds)
{
	char *end;
	unsigned long long value;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || *end != '\0' || value > 253402300799ull)
		return -1;
	*seconds = (double)value;
	return 0;
}

static void read_pin(void)
{
	const char *now = getenv("MAS_NOW");
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	double seconds;

	if (now && *now) {
		if (parse_seconds(now, &seconds) != 0 &&
		    (mas_clock_parse_iso(now, &seconds) != 0 || seconds < 0)) {
			pin_problem = "MAS_NOW: not an RFC 3339 date-time "
			              "(2026-12-06T10:00:00Z) or seconds since "
			              "the epoch";
			return;
		}
	} else if (epoch && *epoch) {
		if (parse_seconds(epoch, &seconds) != 0) {
			pin_problem = "SOURCE_DATE_EPOCH: not a whole number of "
			              "seconds since the epoch";
			return;
		}
	} else {
		return;
	}
	pinned = 1;
	pinned_ns = (uint64_t)llround(seconds * 1e9);
}

int mas_clock_pinned(void)
{
	pthread_once(&pin_once, read_pin);
	return pinned;
}

const char *mas_clock_pin_problem(void)
{
	pthread_once(&pin_once, read_pin);
	return pin_problem;
}

uint64_t mas_clock_epoch_ns(void)
{
	struct timespec now;

	if (mas_clock_pinned())
		return pinned_ns;
	clock_gettime(CLOCK_REALTIME, &now);
	return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

void mas_clock_now_iso(char buf[MAS_CLOCK_ISO_SIZE])
{
	mas_clock_format_iso((double)mas_clock_epoch_ns() / 1e9, buf);
}

double mas_clock_monotonic(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + now.tv_nsec / 1e9;
}

double mas_clock_coarse(void)
{
	struct timespec now;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &now) != 0)
		return mas_clock_monotonic();
	return (double)now.tv_sec + now.tv_nsec / 1e9;
}

double mas_clock_written_duration(double start, double end)
{
	return mas_clock_pinned() ? 0 : end - start;
}

uint64_t mas_clock_epoch_ms(void)
{
	return mas_clock_epoch_ns() / 1000000u;
}

/* Reads exactly WIDTH digits at *P into *OUT; advances *P. */
static int read_digits(const char **p, int width, int *out)
{
	int value = 0;

	for (int i = 0; i < width; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		value = value * 10 + (c - '0');
	}
	*p += width;
	*out = value;
	return 0;
}

static int parse_date(const char **p, struct tm *tm)
{
	static const int days_in[12] = { 31, 29, 31, 30, 31, 30,
	                                  31, 31, 30, 31, 30, 31 };
	int year, month, day;

	if (read_digits(p, 4, &year) || *(*p)++ != '-' ||
	    read_digits(p, 2, &month) || *(*p)++ != '-' ||
	    read_digits(p, 2, &day))
		return -1;
	if (month < 1 || month > 12 || day < 1 || day > days_in[month - 1])
		return -1;
	if (month == 2 && day == 29 &&
	    (year % 4 != 0 || (year % 100 == 0 && year % 400 != 0)))
		return -1;
	tm->tm_year = year - 1900;
	tm->tm_mon = month - 1;
	tm->tm_mday = day;
	return 0;
}

static int parse_clock(const char **p, struct tm *tm, double *fraction)
{
	int hour, minute, second = 0;

	if (read_digits(p, 2, &hour) || *(*p)++ != ':' ||
	    read_digits(p, 2, &minute))
		return -1;
	if (**p == ':') {
		(*p)++;
		if (read_digits(p, 2, &second))
			return -1;
	}
	if (**p == '.' || **p == ',') {
		/* Digits only: strtod would take ".5e3" too. */
		double scale = 0.1;
		(*p)++;
		if (**p < '0' || **p > '9')
			return -1;
		for (; **p >= '0' && **p <= '9'; (*p)++, scale /= 10)
			*fraction += (**p - '0') * scale;
	}
	if (hour > 23 || minute > 59 || second > 60)
		return -1;
	tm->tm_hour = hour;
	tm->tm_min = minute;
	tm->tm_sec = second;
	return 0;
}

static int parse_zone(const char **p, int *offset_seconds)
{
	int hours, minutes;
	int sign;

	*offset_seconds = 0;
	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		return 0;
	}
	if (**p != '+' && **p != '-')
		return 0;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (read_digits(p, 2, &hours))
		return -1;
	if (**p == ':')
		(*p)++;
	if (read_digits(p, 2, &minutes) || hours > 23 || minutes > 59)
		return -1;
	*offset_seconds = sign * (hours * 3600 + minutes * 60);
	return 0;
}

int mas_clock_parse_iso(const char *text, double *epoch_seconds)
{
	struct tm tm = {0};
	double fraction = 0;
	int offset = 0;
	const char *p = text;

	if (parse_date(&p, &tm))
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (parse_clock(&p, &tm, &fraction) || parse_zone(&p, &offset))
			return -1;
	}
	if (*p != '\0')
		return -1;
	*epoch_seconds = (double)timegm(&tm) - offset + fraction;
	return 0;
}

void mas_clock_format_label(double epoch_seconds, char *buf, size_t size)
{
	time_t seconds = (time_t)floor(epoch_seconds);
	struct tm tm;

	gmtime_r(&seconds, &tm);
	if (tm.tm_hour == 0 && tm.tm_min == 0 && tm.tm_sec == 0 &&
	    epoch_seconds == (double)seconds)
		snprintf(buf, size, "%04d-%02d-%02d", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday);
	else
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		         tm.tm_hour, tm.tm_min, tm.tm_sec);
}
