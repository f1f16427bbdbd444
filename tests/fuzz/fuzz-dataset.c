/*
 * fuzz-dataset.c — data files for mas-analyze (lib/dataset.c): the
 * input's first byte chooses CSV or JSON Lines (and a range), the rest
 * is the file.  A file reads as an array of objects or as an error
 * naming the file; CSV text that is valid UTF-8 keeps every character
 * (no U+FFFD appears that was not there); the rows then make a dataset
 * that mas_dataset_order leaves in time order (untimed rows last) and
 * mas_dataset_keep_range only shortens.
 */
#include <math.h>
#include <string.h>

#include <jv.h>

#include "dataset.h"
#include "fuzz.h"
#include "utf8.h"

static const char *const ranges[] = {
	NULL, "all", "last_7_days", "last_3_points", "last_2_months",
	"last_1_hour", "last_10_years", "last_x_days",
};

/* Whether any string in VALUE, keys included, holds U+FFFD. */
static int has_replacement(jv value) /* borrows */
{
	int found = 0;

	switch (jv_get_kind(value)) {
	case JV_KIND_STRING:
		return strstr(jv_string_value(value), "\xef\xbf\xbd") != NULL;
	case JV_KIND_ARRAY:
		jv_array_foreach(value, i, item) {
			found |= has_replacement(item);
			jv_free(item);
		}
		return found;
	case JV_KIND_OBJECT:
		jv_object_foreach(value, key, item) {
			found |= has_replacement(key) | has_replacement(item);
			jv_free(key);
			jv_free(item);
		}
		return found;
	default:
		return 0;
	}
}

static void check_order(const struct mas_dataset *data)
{
	for (size_t r = 1; data->time && r < data->rows; r++) {
		double a = data->time[r - 1], b = data->time[r];

		FUZZ_ASSERT(isnan(a) ? isnan(b) : isnan(b) || b >= a);
	}
}

static void check_dataset(jv rows, const char *range)
{
	struct mas_dataset data;
	struct mas_dataset_timing timing;
	size_t before;

	mas_dataset_init(&data, NULL, 0, NULL, NULL);
	mas_dataset_add_rows(&data, rows);
	FUZZ_ASSERT(data.rows <= (size_t)jv_array_length(jv_copy(rows)));
	before = data.rows;
	mas_dataset_order(&data, &timing);
	FUZZ_ASSERT(data.rows == before + timing.inserted);
	FUZZ_ASSERT(timing.inserted <= 10 * before);
	check_order(&data);
	before = data.rows;
	if (mas_dataset_keep_range(&data, range) == 0)
		FUZZ_ASSERT(data.rows <= before);
	check_order(&data);
	for (size_t m = 0; m < data.metric_count; m++)
		FUZZ_ASSERT(mas_dataset_metric_index(
		                    &data, data.metric_names[m]) == (int)m);
	mas_dataset_release(&data);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int csv;
	const char *path, *range;
	jv rows;

	if (size < 1)
		return 0;
	csv = data[0] & 1;
	range = ranges[data[0] >> 1 & 7];
	path = fuzz_file(csv ? "data.csv" : "data.jsonl", data + 1, size - 1);
	rows = mas_dataset_read_file(path);
	if (!jv_is_valid(rows)) {
		jv message = jv_invalid_get_msg(rows);

		FUZZ_ASSERT(jv_get_kind(message) == JV_KIND_STRING);
		FUZZ_ASSERT(strncmp(jv_string_value(message), path,
		                    strlen(path)) == 0);
		jv_free(message);
		return 0;
	}
	FUZZ_ASSERT(jv_get_kind(rows) == JV_KIND_ARRAY);
	jv_array_foreach(rows, i, row) {
		FUZZ_ASSERT(jv_get_kind(row) == JV_KIND_OBJECT);
		jv_free(row);
	}
	if (csv && mas_utf8_invalid_offset((const char *)data + 1,
	                                   size - 1) == size - 1 &&
	    !memmem(data + 1, size - 1, "\xef\xbf\xbd", 3))
		FUZZ_ASSERT(!has_replacement(rows));
	check_dataset(rows, range);
	jv_free(rows);
	return 0;
}
