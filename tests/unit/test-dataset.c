/*
 * test-dataset.c — lib/dataset.c against dataset.h: rows into numeric
 * columns, metric discovery, time fields, CSV and JSON Lines files with
 * their errors, ordering with gap filling, and ranges.  Also
 * mas_analyze_parse_horizon from analyze.h, the other parser of the
 * analysis task's words.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyze.h"
#include "clock.h"
#include "dataset.h"
#include "unit.h"

#define DAY 86400.0
#define JULY_1_2026 1782864000.0

static char tmp[256];

static void setup(void)
{
	unit_make_dir(tmp, sizeof(tmp), "dataset");
}

static void teardown(void)
{
	unit_remove_dir(tmp);
}

/* Writes SIZE bytes of TEXT to NAME in the temporary folder; the path,
 * in a static buffer. */
static const char *write_bytes(const char *name, const char *text,
                               size_t size)
{
	static char path[512];
	FILE *file;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	file = fopen(path, "wb");
	if (!file) {
		perror(path);
		exit(99);
	}
	fwrite(text, 1, size, file);
	fclose(file);
	return path;
}

static const char *write_text(const char *name, const char *text)
{
	return write_bytes(name, text, strlen(text));
}

static void add_json(struct mas_dataset *data, const char *json)
{
	jv row = jv_parse(json);

	mas_dataset_add_row(data, row);
	jv_free(row);
}

/* Whether ROWS (borrowed) equals the JSON text WANT; says why not. */
static int rows_are(jv rows, const char *want)
{
	jv expected = jv_parse(want);
	int equal = jv_equal(jv_copy(rows), jv_copy(expected));

	if (!equal) {
		jv text = jv_dump_string(jv_copy(rows), 0);
		UNIT_FAIL("rows %s, want %s",
		          jv_is_valid(text) ? jv_string_value(text) : "?",
		          want);
		jv_free(text);
	}
	jv_free(expected);
	return equal;
}

/* Whether the error message of FAILED (consumed) holds PART. */
static int error_names(jv failed, const char *part)
{
	jv message;
	int found;

	if (jv_is_valid(failed)) {
		jv_free(failed);
		UNIT_FAIL("no error, want one naming \"%s\"", part);
		return 0;
	}
	message = jv_invalid_get_msg(failed);
	found = jv_get_kind(message) == JV_KIND_STRING &&
	        strstr(jv_string_value(message), part) != NULL;
	if (!found)
		UNIT_FAIL("error \"%s\" lacks \"%s\"",
		          jv_get_kind(message) == JV_KIND_STRING
		                  ? jv_string_value(message)
		                  : "(not a string)",
		          part);
	jv_free(message);
	return found;
}

/* A dataset of COUNT daily rows from July 1st 2026, v = 0, 1, 2, ... */
static void daily_rows(struct mas_dataset *data, int count)
{
	char row[128], date[16];

	mas_dataset_init(data, NULL, 0, NULL, NULL);
	for (int i = 0; i < count; i++) {
		mas_clock_format_label(JULY_1_2026 + i * DAY, date,
		                       sizeof(date));
		snprintf(row, sizeof(row), "{\"date\":\"%s\",\"v\":%d}", date,
		         i);
		add_json(data, row);
	}
}

/* ---- metrics ---- */

static void test_fixed_metrics(void)
{
	static const char *const metrics[] = { "sales", "visits" };
	struct mas_dataset data;

	mas_dataset_init(&data, metrics, 2, NULL, NULL);
	CHECK_INT(data.metric_count, 2);
	CHECK_INT(data.rows, 0);
	CHECK_INT(mas_dataset_metric_index(&data, "sales"), 0);
	CHECK_INT(mas_dataset_metric_index(&data, "visits"), 1);
	CHECK_INT(mas_dataset_metric_index(&data, "other"), -1);
	add_json(&data, "{\"sales\":3,\"visits\":\"4\",\"other\":5}");
	add_json(&data, "{\"sales\":\"n/a\",\"visits\":null}");
	add_json(&data, "{\"visits\":6}");
	CHECK_INT(data.metric_count, 2);
	CHECK_INT(data.rows, 3);
	CHECK_NEAR(data.values[0][0], 3, 0);
	CHECK_NEAR(data.values[1][0], 4, 0);
	CHECK(isnan(data.values[0][1]));
	CHECK(isnan(data.values[1][1]));
	CHECK(isnan(data.values[0][2]));
	CHECK_NEAR(data.values[1][2], 6, 0);
	/* Only the value that was there and not a number is invalid. */
	CHECK_INT(data.invalid[0], 1);
	CHECK_INT(data.invalid[1], 0);
	mas_dataset_release(&data);
}

static void test_discovered_metrics_in_order(void)
{
	struct mas_dataset data;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"b\":1,\"name\":\"north\",\"a\":2,"
	         "\"flag\":true,\"list\":[1]}");
	add_json(&data, "{\"c\":3,\"a\":4,\"name\":\"south\"}");
	CHECK_INT(data.metric_count, 3);
	CHECK_STR(data.metric_names[0], "b");
	CHECK_STR(data.metric_names[1], "a");
	CHECK_STR(data.metric_names[2], "c");
	CHECK_INT(mas_dataset_metric_index(&data, "name"), -1);
	CHECK_INT(mas_dataset_metric_index(&data, "flag"), -1);
	/* A metric first seen late is missing in the earlier rows. */
	CHECK(isnan(data.values[2][0]));
	CHECK_NEAR(data.values[2][1], 3, 0);
	CHECK(isnan(data.values[0][1]));
	CHECK_NEAR(data.values[1][1], 4, 0);
	mas_dataset_release(&data);
}

static void test_numeric_strings(void)
{
	struct mas_dataset data;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"a\":\"12\",\"b\":\"-3.5e2\",\"c\":\" 7 \","
	         "\"d\":\"12abc\",\"e\":\"nan\",\"f\":\"inf\",\"g\":\"\","
	         "\"h\":\"1e999\",\"i\":\"+0.25\"}");
	CHECK_INT(data.metric_count, 4);
	CHECK_INT(mas_dataset_metric_index(&data, "d"), -1);
	CHECK_INT(mas_dataset_metric_index(&data, "e"), -1);
	CHECK_INT(mas_dataset_metric_index(&data, "f"), -1);
	CHECK_INT(mas_dataset_metric_index(&data, "g"), -1);
	CHECK_INT(mas_dataset_metric_index(&data, "h"), -1);
	if (data.metric_count == 4) {
		CHECK_NEAR(data.values[0][0], 12, 0);
		CHECK_NEAR(data.values[1][0], -350, 0);
		CHECK_NEAR(data.values[2][0], 7, 0);
		CHECK_NEAR(data.values[3][0], 0.25, 0);
	}
	mas_dataset_release(&data);
}

static void test_exclude_and_time_not_metrics(void)
{
	struct mas_dataset data;

	mas_dataset_init(&data, NULL, 0, NULL, "region");
	add_json(&data, "{\"date\":\"2026-07-01\",\"region\":3,\"v\":1}");
	CHECK_INT(data.metric_count, 1);
	CHECK_STR(data.metric_names[0], "v");
	CHECK_STR(data.time_field, "date");
	mas_dataset_release(&data);
}

static void test_many_rows(void)
{
	struct mas_dataset data;
	char row[64];
	int wrong = 0;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	for (int i = 0; i < 20000; i++) {
		snprintf(row, sizeof(row), "{\"ts\":%d,\"x\":%d,\"y\":%d}",
		         1700000000 + 60 * i, i, -i);
		add_json(&data, row);
	}
	CHECK_INT(data.rows, 20000);
	CHECK_INT(data.metric_count, 2);
	for (int i = 0; i < 20000; i++)
		wrong += data.values[0][i] != i || data.values[1][i] != -i ||
		         data.time[i] != 1700000000.0 + 60 * i;
	CHECK_INT(wrong, 0);
	mas_dataset_release(&data);
}

static void test_add_rows_skips_non_objects(void)
{
	struct mas_dataset data;
	jv rows = jv_parse("[{\"v\":1},2,null,\"x\",{\"v\":3}]");

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	mas_dataset_add_rows(&data, rows);
	CHECK_INT(data.rows, 2);
	CHECK_NEAR(data.values[0][1], 3, 0);
	/* Borrowed: still ours. */
	CHECK_INT(jv_array_length(rows), 5);
	mas_dataset_release(&data);
}

/* ---- time ---- */

static int time_of(jv value, double *seconds)
{
	int status = mas_dataset_parse_time(value, seconds);

	jv_free(value);
	return status;
}

static void test_parse_time(void)
{
	double s = 0;

	CHECK_INT(time_of(jv_string("2026-07-01"), &s), 0);
	CHECK_NEAR(s, JULY_1_2026, 0);
	CHECK_INT(time_of(jv_string("2026-07-01T06:00:00+02:00"), &s), 0);
	CHECK_NEAR(s, JULY_1_2026 + 4 * 3600, 0);
	CHECK_INT(time_of(jv_string("2026-07"), &s), 0);
	CHECK_NEAR(s, JULY_1_2026, 0);
	CHECK_INT(time_of(jv_number(1782864000), &s), 0);
	CHECK_NEAR(s, JULY_1_2026, 0);
	CHECK_INT(time_of(jv_number(1782864000123.0), &s), 0);
	CHECK_NEAR(s, JULY_1_2026 + 0.123, 1e-12);
	CHECK_INT(time_of(jv_number(0), &s), 0);
	CHECK_NEAR(s, 0, 0);
}

static void test_parse_time_refused(void)
{
	double s = 42;

	CHECK_INT(time_of(jv_string("yesterday"), &s), -1);
	CHECK_INT(time_of(jv_string("2026-13"), &s), -1);
	CHECK_INT(time_of(jv_string("2026-7"), &s), -1);
	CHECK_INT(time_of(jv_string("2026-07-"), &s), -1);
	CHECK_INT(time_of(jv_string(""), &s), -1);
	CHECK_INT(time_of(jv_true(), &s), -1);
	CHECK_INT(time_of(jv_null(), &s), -1);
	CHECK_INT(time_of(jv_array(), &s), -1);
	CHECK_INT(time_of(jv_number(NAN), &s), -1);
	CHECK_INT(time_of(jv_number(INFINITY), &s), -1);
	CHECK_NEAR(s, 42, 0);
}

static void test_time_field_detection_order(void)
{
	struct mas_dataset data;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"date\":\"2026-07-02\",\"time\":\"2026-07-01\","
	         "\"v\":1}");
	CHECK_STR(data.time_field, "time");
	CHECK(data.time != NULL);
	if (data.time)
		CHECK_NEAR(data.time[0], JULY_1_2026, 0);
	mas_dataset_release(&data);

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"period\":\"2026-07\",\"month\":\"2026-08\","
	         "\"v\":1}");
	CHECK_STR(data.time_field, "month");
	mas_dataset_release(&data);
}

static void test_time_field_null_is_absent(void)
{
	struct mas_dataset data;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"ts\":null,\"day\":\"2026-07-01\",\"v\":1}");
	CHECK_STR(data.time_field, "day");
	mas_dataset_release(&data);
}

static void test_time_field_from_first_row_only(void)
{
	struct mas_dataset data;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"v\":1}");
	add_json(&data, "{\"v\":2,\"date\":\"2026-07-01\"}");
	CHECK(data.time_field == NULL);
	CHECK(data.time == NULL);
	mas_dataset_release(&data);
}

static void test_named_time_field(void)
{
	struct mas_dataset data;

	mas_dataset_init(&data, NULL, 0, "when", NULL);
	add_json(&data, "{\"when\":\"2026-07-01\",\"date\":\"2020-01-01\","
	         "\"v\":1}");
	add_json(&data, "{\"when\":\"bad\",\"v\":2}");
	add_json(&data, "{\"v\":3}");
	CHECK_STR(data.time_field, "when");
	CHECK_INT(mas_dataset_metric_index(&data, "when"), -1);
	CHECK(data.time != NULL);
	if (data.time) {
		CHECK_NEAR(data.time[0], JULY_1_2026, 0);
		CHECK(isnan(data.time[1]));
		CHECK(isnan(data.time[2]));
	}
	mas_dataset_release(&data);
}

static void test_epoch_time_field(void)
{
	struct mas_dataset data;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"timestamp\":1782864000000,\"v\":1}");
	add_json(&data, "{\"timestamp\":1782864060000,\"v\":2}");
	CHECK_STR(data.time_field, "timestamp");
	CHECK_INT(data.metric_count, 1);
	if (data.time)
		CHECK_NEAR(data.time[1], JULY_1_2026 + 60, 0);
	mas_dataset_release(&data);
}

/* ---- CSV ---- */

static void test_csv(void)
{
	const char *path = write_text("data.csv",
		"date,region,sales,note\n"
		"2026-07-01,north,12,\"plain\"\n"
		"2026-07-02,\"south, east\",-3.5,\"say \"\"hi\"\"\"\n"
		"2026-07-03,west,,\"two\nlines\"\n");
	jv rows = mas_dataset_read_file(path);

	CHECK(rows_are(rows,
		"[{\"date\":\"2026-07-01\",\"region\":\"north\",\"sales\":12,"
		"\"note\":\"plain\"},"
		"{\"date\":\"2026-07-02\",\"region\":\"south, east\","
		"\"sales\":-3.5,\"note\":\"say \\\"hi\\\"\"},"
		"{\"date\":\"2026-07-03\",\"region\":\"west\",\"sales\":null,"
		"\"note\":\"two\\nlines\"}]"));
	jv_free(rows);
}

static void test_csv_crlf_blank_lines_no_final_newline(void)
{
	const char *path = write_text("data.csv",
		"a,b\r\n1,2\r\n\r\n3,4\r\n\n5,\"x\r\ny\"");
	jv rows = mas_dataset_read_file(path);

	CHECK(rows_are(rows, "[{\"a\":1,\"b\":2},{\"a\":3,\"b\":4},"
	                     "{\"a\":5,\"b\":\"x\\r\\ny\"}]"));
	jv_free(rows);
}

/* Cells were once built a byte at a time, and jq replaced each byte of
 * a multi-byte character, as invalid UTF-8, with U+FFFD. */
static void test_csv_utf8_cells_kept(void)
{
	const char *path = write_text("data.csv",
		"label,review\n1,\"酒店很好，“干净”\"\n0,Été naïve\n");
	jv rows = mas_dataset_read_file(path);

	CHECK(rows_are(rows, "[{\"label\":1,\"review\":\"酒店很好，“干净”\"},"
	                     "{\"label\":0,\"review\":\"Été naïve\"}]"));
	jv_free(rows);
}

static void test_csv_record_tabs(void)
{
	char text[] = "1\t\"a\tb\"\tc d\nnext";
	char *p = text;
	unsigned long line = 0;
	jv cells = mas_dataset_csv_record(&p, text + strlen(text), '\t',
	                                  &line);
	jv want = jv_parse("[\"1\",\"a\\tb\",\"c d\"]");

	CHECK(jv_equal(cells, want));
	CHECK_STR(p, "next");
	CHECK_INT(line, 1);
}

static void test_csv_empty_cells_are_null(void)
{
	const char *path = write_text("data.csv", "a,b,c\n,,\n1,,\"\"\n");
	jv rows = mas_dataset_read_file(path);

	CHECK(rows_are(rows, "[{\"a\":null,\"b\":null,\"c\":null},"
	                     "{\"a\":1,\"b\":null,\"c\":null}]"));
	jv_free(rows);
}

static void test_csv_header_only(void)
{
	const char *path = write_text("data.csv", "a,b\n");
	jv rows = mas_dataset_read_file(path);

	CHECK(rows_are(rows, "[]"));
	jv_free(rows);
}

static void test_csv_uppercase_extension(void)
{
	const char *path = write_text("DATA.CSV", "a\n1\n");
	jv rows = mas_dataset_read_file(path);

	CHECK(rows_are(rows, "[{\"a\":1}]"));
	jv_free(rows);
}

static void test_csv_wrong_cell_count(void)
{
	char where[600];
	const char *path = write_text("bad.csv",
		"a,b,c\n1,2,3\n4,5\n");

	snprintf(where, sizeof(where), "%s:3:", path);
	error_names(mas_dataset_read_file(path), where);

	path = write_text("bad.csv", "a,b\n1,2\n3,4,5\n");
	snprintf(where, sizeof(where), "%s:3:", path);
	error_names(mas_dataset_read_file(path), where);
}

static void test_csv_error_line_after_quoted_newlines(void)
{
	char where[600];
	const char *path = write_text("bad.csv",
		"a,b\n"
		"1,\"one\ntwo\nthree\"\n"
		"2,ok\n"
		"3\n");

	/* The short row starts on physical line 6. */
	snprintf(where, sizeof(where), "%s:6:", path);
	error_names(mas_dataset_read_file(path), where);
}

static void test_csv_into_dataset(void)
{
	const char *path = write_text("data.csv",
		"month,visits,label\n2026-07,100,a\n2026-08,120,b\n");
	jv rows = mas_dataset_read_file(path);
	struct mas_dataset data;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	mas_dataset_add_rows(&data, rows);
	jv_free(rows);
	CHECK_STR(data.time_field, "month");
	CHECK_INT(data.metric_count, 1);
	CHECK_STR(data.metric_names[0], "visits");
	CHECK_NEAR(data.values[0][1], 120, 0);
	CHECK_NEAR(data.time[0], JULY_1_2026, 0);
	mas_dataset_release(&data);
}

/* ---- JSON Lines ---- */

static void test_jsonl(void)
{
	const char *path = write_text("data.jsonl",
		"{\"a\":1}\n"
		"\n"
		"   \n"
		"{\"a\":2,\"s\":\"x\"}\r\n"
		"{\"a\":3}");
	jv rows = mas_dataset_read_file(path);

	CHECK(rows_are(rows, "[{\"a\":1},{\"a\":2,\"s\":\"x\"},{\"a\":3}]"));
	jv_free(rows);
}

static void test_jsonl_bad_line(void)
{
	char where[600];
	const char *path = write_text("data.jsonl",
		"{\"a\":1}\n\n{\"a\":\n{\"a\":3}\n");

	snprintf(where, sizeof(where), "%s:3:", path);
	error_names(mas_dataset_read_file(path), where);
}

static void test_jsonl_not_an_object(void)
{
	char where[600];
	const char *path = write_text("data.json", "{\"a\":1}\n[1,2]\n");

	snprintf(where, sizeof(where), "%s:2:", path);
	error_names(mas_dataset_read_file(path), where);
	path = write_text("data.json", "{\"a\":1} {\"a\":2}\n");
	snprintf(where, sizeof(where), "%s:1:", path);
	error_names(mas_dataset_read_file(path), where);
}

static void test_jsonl_empty_file(void)
{
	const char *path = write_bytes("empty.jsonl", "", 0);
	jv rows = mas_dataset_read_file(path);

	CHECK(rows_are(rows, "[]"));
	jv_free(rows);
}

static void test_missing_file(void)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/nowhere.csv", tmp);
	error_names(mas_dataset_read_file(path), path);
}

/* ---- order ---- */

static void test_order_sorts_stably(void)
{
	struct mas_dataset data;
	struct mas_dataset_timing timing;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"date\":\"2026-07-03\",\"v\":3}");
	add_json(&data, "{\"date\":\"2026-07-01\",\"v\":1}");
	add_json(&data, "{\"date\":\"2026-07-02\",\"v\":20}");
	add_json(&data, "{\"date\":\"2026-07-02\",\"v\":21}");
	add_json(&data, "{\"date\":\"2026-07-04\",\"v\":4}");
	mas_dataset_order(&data, &timing);
	CHECK_INT(timing.reordered, 1);
	CHECK_INT(timing.inserted, 0);
	CHECK_NEAR(timing.step, DAY, 0);
	CHECK_STR(timing.unit, "day");
	CHECK_INT(data.rows, 5);
	CHECK_NEAR(data.values[0][0], 1, 0);
	CHECK_NEAR(data.values[0][1], 20, 0);
	CHECK_NEAR(data.values[0][2], 21, 0);
	CHECK_NEAR(data.values[0][3], 3, 0);
	CHECK_NEAR(data.values[0][4], 4, 0);
	CHECK_NEAR(data.time[0], JULY_1_2026, 0);
	CHECK_NEAR(data.time[4], JULY_1_2026 + 3 * DAY, 0);
	mas_dataset_release(&data);
}

static void test_order_already_sorted(void)
{
	struct mas_dataset data;
	struct mas_dataset_timing timing;

	daily_rows(&data, 10);
	mas_dataset_order(&data, &timing);
	CHECK_INT(timing.reordered, 0);
	CHECK_INT(timing.irregular, 0);
	CHECK_INT(timing.untimed, 0);
	CHECK_INT(timing.inserted, 0);
	CHECK_INT(data.rows, 10);
	mas_dataset_release(&data);
}

static void test_order_fills_gaps(void)
{
	struct mas_dataset data;
	struct mas_dataset_timing timing;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"date\":\"2026-07-01\",\"v\":1,\"w\":10}");
	add_json(&data, "{\"date\":\"2026-07-02\",\"v\":2,\"w\":20}");
	add_json(&data, "{\"date\":\"2026-07-05\",\"v\":5,\"w\":50}");
	add_json(&data, "{\"date\":\"2026-07-06\",\"v\":6,\"w\":60}");
	add_json(&data, "{\"date\":\"2026-07-07\",\"v\":7,\"w\":70}");
	mas_dataset_order(&data, &timing);
	CHECK_STR(timing.unit, "day");
	CHECK_INT(timing.inserted, 2);
	CHECK_INT(timing.irregular, 1);
	CHECK_INT(data.rows, 7);
	for (int r = 0; r < 7; r++) {
		double want = r == 2 || r == 3 ? NAN : r + 1;
		CHECK_NEAR(data.time[r], JULY_1_2026 + r * DAY, 0);
		if (isnan(want)) {
			CHECK(isnan(data.values[0][r]));
			CHECK(isnan(data.values[1][r]));
		} else {
			CHECK_NEAR(data.values[0][r], want, 0);
			CHECK_NEAR(data.values[1][r], want * 10, 0);
		}
	}
	mas_dataset_release(&data);
}

static void test_order_fills_many_gaps_growing(void)
{
	struct mas_dataset data;
	struct mas_dataset_timing timing;
	char row[96];

	/* Every other hour missing after the first hundred, over more
	 * rows than the first allocation, so filling must grow the
	 * columns. */
	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	for (int i = 0; i < 200; i++) {
		int hour = i < 100 ? i : 100 + 2 * (i - 100);
		snprintf(row, sizeof(row), "{\"ts\":%.0f,\"h\":%d}",
		         JULY_1_2026 + hour * 3600.0, hour);
		add_json(&data, row);
	}
	mas_dataset_order(&data, &timing);
	CHECK_STR(timing.unit, "hour");
	CHECK_INT(timing.inserted, 99);
	CHECK_INT(data.rows, 299);
	for (int r = 0; r < (int)data.rows; r++) {
		CHECK_NEAR(data.time[r], JULY_1_2026 + r * 3600.0, 0);
		if (r < 100 || r % 2 == 0)
			CHECK_NEAR(data.values[0][r], r, 0);
		else
			CHECK(isnan(data.values[0][r]));
	}
	mas_dataset_release(&data);
}

static void test_order_gap_fill_capped(void)
{
	struct mas_dataset data;
	struct mas_dataset_timing timing;

	/* Daily rows, then one a hundred days later: 98 missing days is
	 * more than 10 times the 4 rows, so nothing is inserted. */
	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"ts\":\"2026-07-01\",\"v\":1}");
	add_json(&data, "{\"ts\":\"2026-07-02\",\"v\":2}");
	add_json(&data, "{\"ts\":\"2026-07-03\",\"v\":3}");
	add_json(&data, "{\"ts\":\"2026-10-09\",\"v\":4}");
	mas_dataset_order(&data, &timing);
	CHECK_STR(timing.unit, "day");
	CHECK_INT(timing.irregular, 1);
	CHECK_INT(timing.inserted, 0);
	CHECK_INT(data.rows, 4);
	mas_dataset_release(&data);
}

static void test_order_months_not_filled(void)
{
	struct mas_dataset data;
	struct mas_dataset_timing timing;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"month\":\"2026-01\",\"v\":1}");
	add_json(&data, "{\"month\":\"2026-02\",\"v\":2}");
	add_json(&data, "{\"month\":\"2026-03\",\"v\":3}");
	add_json(&data, "{\"month\":\"2026-04\",\"v\":4}");
	add_json(&data, "{\"month\":\"2026-07\",\"v\":7}");
	mas_dataset_order(&data, &timing);
	CHECK_STR(timing.unit, "month");
	CHECK_INT(timing.inserted, 0);
	CHECK_INT(data.rows, 5);
	/* February's 28 days are not irregular; the jump to July is. */
	CHECK_INT(timing.irregular, 1);
	mas_dataset_release(&data);
}

static void test_order_units(void)
{
	static const struct { double step; const char *unit; } cases[] = {
		{ 60, "minute" }, { 3600, "hour" }, { DAY, "day" },
		{ 7 * DAY, "week" }, { 91 * DAY, "quarter" },
		{ 365 * DAY, "year" }, { 17, "period" },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct mas_dataset data;
		struct mas_dataset_timing timing;
		char row[96];

		mas_dataset_init(&data, NULL, 0, NULL, NULL);
		for (int i = 0; i < 6; i++) {
			snprintf(row, sizeof(row), "{\"ts\":%.0f,\"v\":%d}",
			         1e9 + i * cases[c].step, i);
			add_json(&data, row);
		}
		mas_dataset_order(&data, &timing);
		CHECK_STR(timing.unit, cases[c].unit);
		CHECK_NEAR(timing.step, cases[c].step, 1e-9);
		mas_dataset_release(&data);
	}
}

static void test_order_untimed_rows_last(void)
{
	struct mas_dataset data;
	struct mas_dataset_timing timing;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"date\":\"2026-07-02\",\"v\":2}");
	add_json(&data, "{\"date\":\"someday\",\"v\":99}");
	add_json(&data, "{\"date\":\"2026-07-01\",\"v\":1}");
	add_json(&data, "{\"v\":98}");
	add_json(&data, "{\"date\":\"2026-07-03\",\"v\":3}");
	mas_dataset_order(&data, &timing);
	CHECK_INT(timing.untimed, 2);
	CHECK_INT(data.rows, 5);
	CHECK_NEAR(data.values[0][0], 1, 0);
	CHECK_NEAR(data.values[0][1], 2, 0);
	CHECK_NEAR(data.values[0][2], 3, 0);
	CHECK_NEAR(data.values[0][3], 99, 0);
	CHECK_NEAR(data.values[0][4], 98, 0);
	mas_dataset_release(&data);
}

static void test_order_without_times(void)
{
	struct mas_dataset data;
	struct mas_dataset_timing timing;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	add_json(&data, "{\"v\":3}");
	add_json(&data, "{\"v\":1}");
	mas_dataset_order(&data, &timing);
	CHECK_NEAR(timing.step, 0, 0);
	CHECK_STR(timing.unit, "period");
	CHECK_INT(timing.reordered, 0);
	CHECK_NEAR(data.values[0][0], 3, 0);
	mas_dataset_release(&data);

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	mas_dataset_order(&data, &timing);
	CHECK_INT(data.rows, 0);
	CHECK_NEAR(timing.step, 0, 0);
	mas_dataset_release(&data);
}

/* ---- ranges ---- */

static void test_keep_all(void)
{
	struct mas_dataset data;

	daily_rows(&data, 30);
	CHECK_INT(mas_dataset_keep_range(&data, NULL), 0);
	CHECK_INT(data.rows, 30);
	CHECK_INT(mas_dataset_keep_range(&data, "all"), 0);
	CHECK_INT(data.rows, 30);
	mas_dataset_release(&data);
}

static void test_keep_by_time(void)
{
	struct mas_dataset data;

	daily_rows(&data, 60);
	CHECK_INT(mas_dataset_keep_range(&data, "last_30_days"), 0);
	CHECK_INT(data.rows, 30);
	CHECK_NEAR(data.values[0][0], 30, 0);
	CHECK_NEAR(data.values[0][29], 59, 0);
	CHECK_NEAR(data.time[0], JULY_1_2026 + 30 * DAY, 0);
	CHECK_INT(mas_dataset_keep_range(&data, "last_2_weeks"), 0);
	CHECK_INT(data.rows, 14);
	CHECK_NEAR(data.values[0][0], 46, 0);
	mas_dataset_release(&data);
}

static void test_keep_months(void)
{
	struct mas_dataset data;

	daily_rows(&data, 100);
	CHECK_INT(mas_dataset_keep_range(&data, "last_1_months"), 0);
	CHECK(data.rows >= 30 && data.rows <= 31);
	CHECK_NEAR(data.values[0][data.rows - 1], 99, 0);
	mas_dataset_release(&data);
}

static void test_keep_by_count(void)
{
	struct mas_dataset data;

	daily_rows(&data, 20);
	CHECK_INT(mas_dataset_keep_range(&data, "last_5_points"), 0);
	CHECK_INT(data.rows, 5);
	CHECK_NEAR(data.values[0][0], 15, 0);
	CHECK_INT(mas_dataset_keep_range(&data, "last_3_periods"), 0);
	CHECK_INT(data.rows, 3);
	CHECK_NEAR(data.values[0][0], 17, 0);
	CHECK_NEAR(data.time[0], JULY_1_2026 + 17 * DAY, 0);
	CHECK_INT(mas_dataset_keep_range(&data, "last_100_points"), 0);
	CHECK_INT(data.rows, 3);
	mas_dataset_release(&data);
}

static void test_keep_days_without_times_counts_rows(void)
{
	struct mas_dataset data;
	char row[32];

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	for (int i = 0; i < 50; i++) {
		snprintf(row, sizeof(row), "{\"v\":%d}", i);
		add_json(&data, row);
	}
	CHECK_INT(mas_dataset_keep_range(&data, "last_7_days"), 0);
	CHECK_INT(data.rows, 7);
	CHECK_NEAR(data.values[0][0], 43, 0);
	mas_dataset_release(&data);
}

static void test_keep_empty_dataset(void)
{
	struct mas_dataset data;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	CHECK_INT(mas_dataset_keep_range(&data, "last_7_days"), 0);
	CHECK_INT(data.rows, 0);
	mas_dataset_release(&data);
}

static void test_keep_bad_ranges(void)
{
	static const char *const bad[] = {
		"", "last", "last_days", "last_7", "last_7_", "last_0_days",
		"last_-3_days", "last_7_fortnights", "last_7_days_ago",
		"first_7_days", "last_7_DAYS", "last_x_days", "everything",
		"next_7_days",
	};
	struct mas_dataset data;

	daily_rows(&data, 10);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mas_dataset_keep_range(&data, bad[i]) != -1)
			UNIT_FAIL("range \"%s\" accepted", bad[i]);
	CHECK_INT(data.rows, 10);
	mas_dataset_release(&data);
}

static void test_release_twice(void)
{
	struct mas_dataset data;

	daily_rows(&data, 3);
	mas_dataset_release(&data);
	mas_dataset_release(&data);
}

/* ---- prediction horizon (analyze.h) ---- */

static void check_horizon(jv horizon, size_t count, const char *unit)
{
	size_t got_count = 0;
	const char *got_unit = NULL;

	CHECK_INT(mas_analyze_parse_horizon(horizon, &got_count, &got_unit),
	          0);
	CHECK_INT(got_count, count);
	CHECK_STR(got_unit, unit);
}

static void test_horizon(void)
{
	check_horizon(jv_string("next_7_days"), 7, "day");
	check_horizon(jv_string("next_1_day"), 1, "day");
	check_horizon(jv_string("next_2_weeks"), 2, "week");
	check_horizon(jv_string("next_3_months"), 3, "month");
	check_horizon(jv_string("next_4_quarters"), 4, "quarter");
	check_horizon(jv_string("next_5_periods"), 5, "period");
	check_horizon(jv_string("next_12_hours"), 12, "hour");
	check_horizon(jv_number(12), 12, "period");
}

static void test_horizon_refused(void)
{
	jv bad[] = {
		jv_string("next_0_days"), jv_string("next_-1_days"),
		jv_string("next_7_fortnights"), jv_string("next_7_days_x"),
		jv_string("last_7_days"), jv_string("7"), jv_string(""),
		jv_string("next_7_dayss"), jv_string("next_days"),
		jv_number(0), jv_number(-3), jv_number(2.5),
		jv_number(NAN), jv_null(), jv_true(), jv_array(),
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t count = 99;
		const char *unit = "unchanged";
		jv shown = jv_dump_string(jv_copy(bad[i]), 0);
		if (mas_analyze_parse_horizon(bad[i], &count, &unit) != -1)
			UNIT_FAIL("horizon %s accepted",
			          jv_string_value(shown));
		jv_free(shown);
	}
}

#define RUN(fn)                                                               \
	do {                                                                  \
		setup();                                                      \
		UNIT_RUN(fn);                                                 \
		teardown();                                                   \
	} while (0)

int main(void)
{
	RUN(test_fixed_metrics);
	RUN(test_discovered_metrics_in_order);
	RUN(test_numeric_strings);
	RUN(test_exclude_and_time_not_metrics);
	RUN(test_many_rows);
	RUN(test_add_rows_skips_non_objects);
	RUN(test_parse_time);
	RUN(test_parse_time_refused);
	RUN(test_time_field_detection_order);
	RUN(test_time_field_null_is_absent);
	RUN(test_time_field_from_first_row_only);
	RUN(test_named_time_field);
	RUN(test_epoch_time_field);
	RUN(test_csv);
	RUN(test_csv_crlf_blank_lines_no_final_newline);
	RUN(test_csv_empty_cells_are_null);
	RUN(test_csv_utf8_cells_kept);
	RUN(test_csv_record_tabs);
	RUN(test_csv_header_only);
	RUN(test_csv_uppercase_extension);
	RUN(test_csv_wrong_cell_count);
	RUN(test_csv_error_line_after_quoted_newlines);
	RUN(test_csv_into_dataset);
	RUN(test_jsonl);
	RUN(test_jsonl_bad_line);
	RUN(test_jsonl_not_an_object);
	RUN(test_jsonl_empty_file);
	RUN(test_missing_file);
	RUN(test_order_sorts_stably);
	RUN(test_order_already_sorted);
	RUN(test_order_fills_gaps);
	RUN(test_order_fills_many_gaps_growing);
	RUN(test_order_gap_fill_capped);
	RUN(test_order_months_not_filled);
	RUN(test_order_units);
	RUN(test_order_untimed_rows_last);
	RUN(test_order_without_times);
	RUN(test_keep_all);
	RUN(test_keep_by_time);
	RUN(test_keep_months);
	RUN(test_keep_by_count);
	RUN(test_keep_days_without_times_counts_rows);
	RUN(test_keep_empty_dataset);
	RUN(test_keep_bad_ranges);
	RUN(test_release_twice);
	RUN(test_horizon);
	RUN(test_horizon_refused);
	return unit_done();
}
