/*
 * test-json.c — json.h against libjq: the scanner accepts exactly the
 * objects libjq parses (within strict JSON), and the dumper writes what
 * jv_dump_string writes, on generated texts and numbers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "unit.h"

/* A string of LENGTH characters drawn from an alphabet rich in what
 * the scanner must notice: quotes, backslashes, control characters. */
static void random_text(char *out, size_t length)
{
	static const char alphabet[] = "abcdefgh \"\\\n\t\x01\x1f/u0123é";

	for (size_t i = 0; i < length; i++)
		out[i] = alphabet[rand() % (sizeof(alphabet) - 1)];
	out[length] = '\0';
}

static void test_scan_agrees_with_libjq(void)
{
	char text[64], line[128];
	int mismatches = 0, accepted = 0;

	srand(7);
	for (int i = 0; i < 200000; i++) {
		struct mas_json_scan scan;
		jv value;
		int ours, theirs;

		random_text(text, (size_t)(rand() % 40));
		snprintf(line, sizeof(line), "{\"id\":\"x\",\"t\":\"%s\"}", text);
		ours = mas_json_scan_object(line, strlen(line), &scan);
		if (!ours)
			continue; /* the scanner may refuse what libjq takes
			           * (and libjq 1.6 leaks on some refusals) */
		value = jv_parse(line);
		theirs = jv_is_valid(value) &&
		         jv_get_kind(value) == JV_KIND_OBJECT;
		jv_free(value);
		/* never the reverse */
		mismatches += !theirs;
		accepted += ours;
		if (ours)
			CHECK(scan.id && scan.id_length == 3 && !scan.has_meta);
	}
	CHECK_INT(mismatches, 0);
	CHECK(accepted > 1000);
}

static void test_scan_keys(void)
{
	struct mas_json_scan scan;
	const char *line = "  {\"meta\":{\"id\":1},\"error\":null,\"id\":\"a\"} ";

	CHECK(mas_json_scan_object(line, strlen(line), &scan));
	CHECK(scan.has_meta && scan.has_error);
	CHECK_INT((int)scan.id_length, 3);
	CHECK(strncmp(scan.id, "\"a\"", 3) == 0);
	CHECK(!mas_json_scan_object("[1]", 3, &scan));
	CHECK(!mas_json_scan_object("{\"a\":1} x", 9, &scan));
	CHECK(!mas_json_scan_object("{\"a\":01}", 8, &scan));
	CHECK(mas_json_scan_object("{ }", 3, &scan) && scan.empty);
	/* white space after a comma, as Python's json.dumps writes */
	line = "{\"a\": 1, \"id\": 2 ,\t\"b\": [1, 2]}";
	CHECK(mas_json_scan_object(line, strlen(line), &scan));
	CHECK(scan.id && scan.id_length == 1 && *scan.id == '2');
	CHECK(!mas_json_scan_object("{\"a\":1, }", 10, &scan));
	/* a repeated id: the last, as libjq keeps it */
	line = "{\"id\":0,\"id\":[1, 2]}";
	CHECK(mas_json_scan_object(line, strlen(line), &scan));
	CHECK(scan.id_length == 6 && strncmp(scan.id, "[1, 2]", 6) == 0);
}

static void test_dump_agrees_with_libjq(void)
{
	char text[64];
	int mismatches = 0;

	srand(11);
	for (int i = 0; i < 100000; i++) {
		double x = i % 3 == 0 ? ldexp((double)rand(),
		                              rand() % 120 - 60)
		           : i % 3 == 1 ? (double)(rand() % 2000000) / 1000.0
		                                  - 1000
		           : (double)(rand() % 2000000) / 10000.0 - 100 +
		                     (double)(rand() % 4) * 99999999900.0;
		jv value, theirs;
		size_t length;
		char *ours;

		random_text(text, (size_t)(rand() % 20));
		value = JV_OBJECT(jv_string(text), jv_number(x),
		                  jv_string("a"), JV_ARRAY(jv_true(), jv_null(),
		                                           jv_number(-x)));
		theirs = jv_dump_string(jv_copy(value), 0);
		ours = mas_json_dump_text(value, &length);
		mismatches += strcmp(jv_string_value(theirs), ours) != 0 ||
		              length != strlen(ours);
		jv_free(theirs);
		free(ours);
	}
	CHECK_INT(mismatches, 0);
}

/* Milliseconds from integer microseconds, as mas_json_number writes
 * them from a double. */
static void test_millis_agrees_with_number(void)
{
	static const long long edges[] = {
		0, 1, 9, 10, 100, 999, 1000, 1001, 1010, 1100, 12345, 999999,
		-1, -999, -1000, -1001, -123456, 86400000000LL,
	};
	char a[MAS_JSON_NUMBER_SIZE], b[MAS_JSON_NUMBER_SIZE];

	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		mas_json_millis(edges[i], a);
		mas_json_number((double)edges[i] / 1000.0, b);
		CHECK_STR(a, b);
	}
	for (long long us = 0; us < 3000000; us += 7919) {
		size_t n = mas_json_millis(us, a);
		mas_json_number((double)us / 1000.0, b);
		CHECK_STR(a, b);
		CHECK_INT(n, strlen(b));
	}
}

/* mas_jv_drop's test matches what this libjq's jv_invalid() is, and it
 * frees the rest (a leak here fails the sanitized run). */
static void test_drop(void)
{
	jv bare = jv_invalid();

	CHECK(bare.kind_flags == JV_KIND_INVALID && bare.u.ptr == NULL);
	mas_jv_drop(bare);
	mas_jv_drop(jv_invalid_with_msg(jv_string("a message")));
	mas_jv_drop(jv_string("a string"));
	mas_jv_drop(JV_OBJECT(jv_string("k"), jv_array()));
	mas_jv_drop(jv_null());
}

int main(void)
{
	UNIT_RUN(test_scan_agrees_with_libjq);
	UNIT_RUN(test_scan_keys);
	UNIT_RUN(test_dump_agrees_with_libjq);
	UNIT_RUN(test_millis_agrees_with_number);
	UNIT_RUN(test_drop);
	return unit_done();
}
