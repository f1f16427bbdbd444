/*
 * dataset.c — metric series for analysis (see dataset.h).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dataset.h"
#include "log.h"
#include "mas.h"
#include "stats.h"
#include "banned.h"

static const char *const time_fields[] = {
	"ts", "timestamp", "time", "date", "datetime", "month", "day",
	"period", NULL
};

static void *grow(void *array, size_t size)
{
	void *grown = realloc(array, size);

	if (!grown && size)
		mas_die(MAS_EXIT_IO, "out of memory");
	return grown;
}

static char *copy_string(const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		mas_die(MAS_EXIT_IO, "out of memory");
	return copy;
}

static int add_metric(struct mas_dataset *data, const char *name)
{
	size_t m = data->metric_count++;

	data->metric_names = grow(data->metric_names,
	                          data->metric_count * sizeof(char *));
	data->values = grow(data->values, data->metric_count * sizeof(double *));
	data->invalid = grow(data->invalid,
	                     data->metric_count * sizeof(size_t));
	data->metric_names[m] = copy_string(name);
	data->invalid[m] = 0;
	data->values[m] = grow(NULL, (data->capacity ? data->capacity : 1) *
	                                     sizeof(double));
	for (size_t r = 0; r < data->rows; r++)
		data->values[m][r] = NAN;
	return (int)m;
}

void mas_dataset_init(struct mas_dataset *data, const char *const *metrics,
                      size_t count, const char *time_field,
                      const char *exclude)
{
	memset(data, 0, sizeof(*data));
	for (size_t i = 0; i < count; i++)
		add_metric(data, metrics[i]);
	data->fixed_metrics = count > 0;
	if (time_field)
		data->time_field = copy_string(time_field);
	if (exclude)
		data->exclude = copy_string(exclude);
}

void mas_dataset_release(struct mas_dataset *data)
{
	for (size_t m = 0; m < data->metric_count; m++) {
		free(data->metric_names[m]);
		free(data->values[m]);
	}
	free(data->metric_names);
	free(data->values);
	free(data->invalid);
	free(data->time);
	free(data->time_field);
	free(data->exclude);
	memset(data, 0, sizeof(*data));
}

int mas_dataset_metric_index(const struct mas_dataset *data,
                             const char *name)
{
	for (size_t m = 0; m < data->metric_count; m++)
		if (strcmp(data->metric_names[m], name) == 0)
			return (int)m;
	return -1;
}

/* Strictly a number: "12", "-3.5e2"; not "", "12abc", "nan", "inf". */
static int read_number(const char *text, double *value)
{
	char *end;

	while (isspace((unsigned char)*text))
		text++;
	if (*text == '\0' || isalpha((unsigned char)*text))
		return -1;
	errno = 0;
	*value = strtod(text, &end);
	while (isspace((unsigned char)*end))
		end++;
	return *end == '\0' && errno == 0 && isfinite(*value) ? 0 : -1;
}

/* "YYYY-MM" (a month) as its first day. */
static int parse_month(const char *text, double *seconds)
{
	char day[16];

	if (strlen(text) != 7 || text[4] != '-')
		return -1;
	snprintf(day, sizeof(day), "%s-01", text);
	return mas_clock_parse_iso(day, seconds);
}

int mas_dataset_parse_time(jv value, double *seconds)
{
	if (jv_get_kind(value) == JV_KIND_NUMBER) {
		double number = jv_number_value(value);
		if (!isfinite(number))
			return -1;
		*seconds = number > 1e12 ? number / 1000.0 : number;
		return 0;
	}
	if (jv_get_kind(value) != JV_KIND_STRING)
		return -1;
	if (mas_clock_parse_iso(jv_string_value(value), seconds) == 0)
		return 0;
	return parse_month(jv_string_value(value), seconds);
}

static int is_time_name(const char *name)
{
	for (int i = 0; time_fields[i]; i++)
		if (strcmp(name, time_fields[i]) == 0)
			return 1;
	return 0;
}

/* Picks the time field from the first row, if the caller named none. */
static void choose_time_field(struct mas_dataset *data, jv row)
{
	for (int i = 0; time_fields[i]; i++) {
		jv value = jv_object_get(jv_copy(row), jv_string(time_fields[i]));
		int present = jv_is_valid(value) &&
		              jv_get_kind(value) != JV_KIND_NULL;
		jv_free(value);
		if (present) {
			data->time_field = copy_string(time_fields[i]);
			return;
		}
	}
}

/* Doubles the room of every column. */
static void grow_capacity(struct mas_dataset *data)
{
	size_t capacity = data->capacity ? data->capacity * 2 : 64;

	for (size_t m = 0; m < data->metric_count; m++)
		data->values[m] = grow(data->values[m],
		                       capacity * sizeof(double));
	if (data->time)
		data->time = grow(data->time, capacity * sizeof(double));
	data->capacity = capacity;
}

static void ensure_capacity(struct mas_dataset *data)
{
	if (data->rows >= data->capacity)
		grow_capacity(data);
}

/* A field's value as a number: numbers, and strings that read as one. */
static int value_number(jv value, double *number)
{
	if (jv_get_kind(value) == JV_KIND_NUMBER) {
		*number = jv_number_value(value);
		return isfinite(*number) ? 0 : -1;
	}
	if (jv_get_kind(value) == JV_KIND_STRING)
		return read_number(jv_string_value(value), number);
	return -1;
}

static int is_candidate(const struct mas_dataset *data, const char *name)
{
	if (data->time_field && strcmp(name, data->time_field) == 0)
		return 0;
	if (data->exclude && strcmp(name, data->exclude) == 0)
		return 0;
	return strcmp(name, "id") != 0 && !is_time_name(name);
}

/* Discovers metrics this row has that the dataset does not, yet. */
static void discover_metrics(struct mas_dataset *data, jv row)
{
	jv_object_foreach(row, key, value) {
		double number;
		const char *name = jv_string_value(key);

		if (value_number(value, &number) == 0 &&
		    is_candidate(data, name) &&
		    mas_dataset_metric_index(data, name) < 0)
			add_metric(data, name);
		jv_free(key);
		jv_free(value);
	}
	jv_free(row);
}

static void store_time(struct mas_dataset *data, jv row, size_t r)
{
	jv value;
	double seconds = NAN;

	if (!data->time_field) {
		jv_free(row);
		return;
	}
	if (!data->time) {
		data->time = grow(NULL, data->capacity * sizeof(double));
		for (size_t i = 0; i < r; i++)
			data->time[i] = NAN;
	}
	value = jv_object_get(row, jv_string(data->time_field));
	if (mas_dataset_parse_time(value, &seconds) != 0)
		seconds = NAN;
	jv_free(value);
	data->time[r] = seconds;
}

void mas_dataset_add_row(struct mas_dataset *data, jv row)
{
	size_t r = data->rows;

	if (r == 0 && !data->time_field)
		choose_time_field(data, row);
	if (!data->fixed_metrics)
		discover_metrics(data, jv_copy(row));
	ensure_capacity(data);
	for (size_t m = 0; m < data->metric_count; m++) {
		jv value = jv_object_get(jv_copy(row),
		                         jv_string(data->metric_names[m]));
		double number = NAN;
		if (value_number(value, &number) != 0) {
			if (jv_is_valid(value) &&
			    jv_get_kind(value) != JV_KIND_NULL)
				data->invalid[m]++;
			number = NAN;
		}
		jv_free(value);
		data->values[m][r] = number;
	}
	store_time(data, jv_copy(row), r);
	data->rows++;
}

void mas_dataset_add_rows(struct mas_dataset *data, jv rows)
{
	int count = jv_array_length(jv_copy(rows));

	for (int i = 0; i < count; i++) {
		jv row = jv_array_get(jv_copy(rows), i);
		if (jv_get_kind(row) == JV_KIND_OBJECT)
			mas_dataset_add_row(data, row);
		jv_free(row);
	}
}

/* ---- reading files ---- */

static char *slurp(const char *path, size_t *size)
{
	FILE *file = fopen(path, "rb");
	char *text = NULL;
	size_t used = 0, capacity = 0, got;

	if (!file)
		return NULL;
	do {
		if (capacity - used < 65536) {
			capacity = capacity ? capacity * 2 : 65536 * 2;
			text = grow(text, capacity + 1);
		}
		got = fread(text + used, 1, capacity - used, file);
		used += got;
	} while (got > 0);
	if (ferror(file)) {
		int saved = errno;
		fclose(file);
		free(text);
		errno = saved;
		return NULL;
	}
	fclose(file);
	text[used] = '\0';
	*size = used;
	return text;
}

static jv file_error(const char *path, unsigned long line, const char *what)
{
	return jv_invalid_with_msg(jv_string_fmt("%s:%lu: %s", path, line,
	                                         what));
}

static jv read_jsonl(const char *path, char *text, size_t size)
{
	jv rows = jv_array();
	unsigned long line = 0;
	char *p = text, *end = text + size;

	while (p < end) {
		char *newline = memchr(p, '\n', (size_t)(end - p));
		size_t length = newline ? (size_t)(newline - p)
		                        : (size_t)(end - p);
		jv row;

		line++;
		if (length > 0 && p[length - 1] == '\r')
			length--;
		if (strspn(p, " \t\r") < length) {
			row = jv_parse_sized(p, (int)length);
			if (jv_get_kind(row) != JV_KIND_OBJECT) {
				jv_free(row);
				jv_free(rows);
				return file_error(path, line,
				                  "not a JSON object");
			}
			rows = jv_array_append(rows, row);
		}
		p += length + (newline ? (size_t)(newline - p - length) + 1
		                       : (size_t)(end - p - length));
	}
	return rows;
}

jv mas_dataset_csv_record(char **p, char *end, char separator,
                          unsigned long *line)
{
	/* Each cell's bytes are moved down in place (a cell is never
	 * longer than its text) and made a string whole: a string built
	 * byte by byte would take each byte of a multi-byte character for
	 * invalid UTF-8 and replace it. */
	jv cells = jv_array();
	char *start = *p, *w = *p;
	int quoted = 0;

	while (*p < end) {
		char c = *(*p)++;
		if (quoted) {
			if (c == '"' && *p < end && **p == '"') {
				*w++ = '"';
				(*p)++;
			} else if (c == '"') {
				quoted = 0;
			} else {
				if (c == '\n')
					(*line)++;
				*w++ = c;
			}
		} else if (c == '"') {
			quoted = 1;
		} else if (c == separator) {
			cells = jv_array_append(cells, jv_string_sized(
				start, (int)(w - start)));
			start = w = *p;
		} else if (c == '\n') {
			break;
		} else if (c != '\r') {
			*w++ = c;
		}
	}
	(*line)++;
	return jv_array_append(cells, jv_string_sized(start,
	                                              (int)(w - start)));
}

static jv csv_value(jv cell)
{
	double number;

	if (jv_string_length_bytes(jv_copy(cell)) == 0) {
		jv_free(cell);
		return jv_null();
	}
	if (read_number(jv_string_value(cell), &number) == 0) {
		jv_free(cell);
		return jv_number(number);
	}
	return cell;
}

static jv read_csv(const char *path, char *text, size_t size)
{
	char *p = text, *end = text + size;
	unsigned long line = 0;
	jv header = mas_dataset_csv_record(&p, end, ',', &line);
	int columns = jv_array_length(jv_copy(header));
	jv rows = jv_array();

	while (p < end) {
		unsigned long at = line + 1;
		jv cells = mas_dataset_csv_record(&p, end, ',', &line);
		int count = jv_array_length(jv_copy(cells));
		jv row = jv_object();

		if (count == 1 && jv_string_length_bytes(
		                      jv_array_get(jv_copy(cells), 0)) == 0) {
			jv_free(cells);
			jv_free(row);
			continue; /* blank line */
		}
		if (count != columns) {
			jv_free(cells);
			jv_free(row);
			jv_free(rows);
			jv_free(header);
			return jv_invalid_with_msg(jv_string_fmt(
				"%s:%lu: %d cells, but the header has %d",
				path, at, count, columns));
		}
		for (int i = 0; i < count; i++)
			row = jv_object_set(row, jv_array_get(jv_copy(header), i),
			                    csv_value(jv_array_get(jv_copy(cells),
			                                           i)));
		jv_free(cells);
		rows = jv_array_append(rows, row);
	}
	jv_free(header);
	return rows;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

jv mas_dataset_read_file(const char *path)
{
	size_t size = 0;
	char *text = slurp(path, &size);
	jv rows;

	if (!text)
		return jv_invalid_with_msg(jv_string_fmt("%s: %s", path,
		                                         strerror(errno)));
	if (ends_with(path, ".csv"))
		rows = read_csv(path, text, size);
	else
		rows = read_jsonl(path, text, size);
	free(text);
	return rows;
}

/* ---- ordering and ranges ---- */

static int is_sorted(const struct mas_dataset *data)
{
	/* In compare_rows' order: an untimed row before a timed one is
	 * out of place too, though NaN compares false with everything. */
	for (size_t r = 1; r < data->rows; r++)
		if (isnan(data->time[r - 1]) ? !isnan(data->time[r])
		                             : data->time[r] < data->time[r - 1])
			return 0;
	return 1;
}

static const double *sort_keys;

static int compare_rows(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	double x = sort_keys[i], y = sort_keys[j];

	/* Untimed rows keep their place after the timed ones; ties keep
	 * input order (qsort is not stable, the index makes it so). */
	if (isnan(x) != isnan(y))
		return isnan(x) ? 1 : -1;
	if (x < y)
		return -1;
	if (x > y)
		return 1;
	return i < j ? -1 : i > j;
}

/* Rearranges every column by ORDER (a permutation of rows). */
static void permute(struct mas_dataset *data, const size_t *order)
{
	double *scratch = grow(NULL, data->rows * sizeof(double));

	for (size_t m = 0; m <= data->metric_count; m++) {
		double *column = m < data->metric_count ? data->values[m]
		                                        : data->time;
		for (size_t r = 0; r < data->rows; r++)
			scratch[r] = column[order[r]];
		memcpy(column, scratch, data->rows * sizeof(double));
	}
	free(scratch);
}

static void sort_by_time(struct mas_dataset *data)
{
	size_t *order = grow(NULL, data->rows * sizeof(size_t));

	for (size_t r = 0; r < data->rows; r++)
		order[r] = r;
	sort_keys = data->time;
	qsort(order, data->rows, sizeof(size_t), compare_rows);
	permute(data, order);
	free(order);
}

static double median_step(const struct mas_dataset *data)
{
	double *steps = grow(NULL, (data->rows ? data->rows : 1) *
	                                   sizeof(double));
	size_t count = 0;
	double median = 0;

	for (size_t r = 1; r < data->rows; r++) {
		double step = data->time[r] - data->time[r - 1];
		if (isfinite(step) && step > 0)
			steps[count++] = step;
	}
	if (count) {
		mas_stats_sort(steps, count);
		median = steps[count / 2];
	}
	free(steps);
	return median;
}

static const char *step_unit(double step)
{
	static const struct { double seconds, tolerance; const char *unit; }
	units[] = {
		{ 60, 0.1, "minute" }, { 3600, 0.1, "hour" },
		{ 86400, 0.1, "day" }, { 7 * 86400, 0.1, "week" },
		{ 30.44 * 86400, 0.1, "month" },
		{ 91.31 * 86400, 0.05, "quarter" },
		{ 365.25 * 86400, 0.01, "year" },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (fabs(step - units[i].seconds) <=
		    units[i].tolerance * units[i].seconds)
			return units[i].unit;
	return "period";
}

/* Inserts K NaN rows before row AT, with times continuing the step. */
static void insert_missing(struct mas_dataset *data, size_t at, size_t k,
                           double step)
{
	while (data->rows + k > data->capacity)
		grow_capacity(data);
	for (size_t m = 0; m <= data->metric_count; m++) {
		double *column = m < data->metric_count ? data->values[m]
		                                        : data->time;
		memmove(column + at + k, column + at,
		        (data->rows - at) * sizeof(double));
		for (size_t i = 0; i < k; i++)
			column[at + i] = m < data->metric_count
			                         ? NAN
			                         : column[at - 1] +
			                                   (double)(i + 1) * step;
	}
	data->rows += k;
}

void mas_dataset_order(struct mas_dataset *data,
                       struct mas_dataset_timing *timing)
{
	size_t original = data->rows;

	memset(timing, 0, sizeof(*timing));
	timing->unit = "period";
	if (!data->time || data->rows < 2)
		return;
	for (size_t r = 0; r < data->rows; r++)
		timing->untimed += isnan(data->time[r]) != 0;
	if (!is_sorted(data)) {
		sort_by_time(data);
		timing->reordered = 1;
	}
	timing->step = median_step(data);
	if (timing->step <= 0)
		return;
	timing->unit = step_unit(timing->step);
	for (size_t r = 1; r < data->rows; r++) {
		double gap = data->time[r] - data->time[r - 1];
		double ratio = gap / timing->step;
		size_t whole = (size_t)llround(ratio);
		if (!isfinite(gap) || fabs(ratio - 1) <= 0.1)
			continue;
		if (strcmp(timing->unit, "month") == 0 && ratio > 0.9 &&
		    ratio < 1.1)
			continue;
		timing->irregular++;
		if (timing->step <= 7 * 86400 && whole >= 2 &&
		    fabs(ratio - (double)whole) <= 0.1 &&
		    timing->inserted + whole - 1 <= 10 * original) {
			insert_missing(data, r, whole - 1, timing->step);
			timing->inserted += whole - 1;
			r += whole - 1;
		}
	}
}

/* Drops the first K rows. */
static void drop_front(struct mas_dataset *data, size_t k)
{
	if (k == 0)
		return;
	for (size_t m = 0; m <= data->metric_count; m++) {
		double *column = m < data->metric_count ? data->values[m]
		                                        : data->time;
		if (!column)
			continue;
		memmove(column, column + k, (data->rows - k) * sizeof(double));
	}
	data->rows -= k;
}

/* Seconds in N of UNIT ("days" or "day"), or -1 for an unknown unit; 0
 * for units that count rows ("points", "periods", "rows"). */
static double range_span(const char *unit, long n)
{
	static const struct { const char *unit; double seconds; } units[] = {
		{ "point", 0 }, { "period", 0 }, { "row", 0 },
		{ "minute", 60 }, { "hour", 3600 }, { "day", 86400 },
		{ "week", 7 * 86400 }, { "month", 30.44 * 86400 },
		{ "quarter", 91.31 * 86400 }, { "year", 365.25 * 86400 },
	};
	size_t length = strlen(unit);

	if (length > 1 && unit[length - 1] == 's')
		length--;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].unit) == length &&
		    strncmp(unit, units[i].unit, length) == 0)
			return units[i].seconds * (double)n;
	return -1;
}

int mas_dataset_keep_range(struct mas_dataset *data, const char *range)
{
	char unit[32];
	long n;
	int used = 0;
	double span, last;
	size_t first = 0;

	if (!range || strcmp(range, "all") == 0)
		return 0;
	if (sscanf(range, "last_%ld_%31[a-z]%n", &n, unit, &used) != 2 ||
	    range[used] != '\0' || n < 1)
		return -1;
	span = range_span(unit, n);
	if (span < 0)
		return -1;
	if (data->rows == 0)
		return 0;
	if (span == 0 || !data->time || !isfinite(data->time[data->rows - 1])) {
		/* Without times, "last 30 days" means the last 30 rows. */
		size_t keep = (size_t)n < data->rows ? (size_t)n : data->rows;
		drop_front(data, data->rows - keep);
		return 0;
	}
	/* Relative to the last row: "last 30 days" of daily rows is 30. */
	last = data->time[data->rows - 1];
	while (first < data->rows && !(data->time[first] > last - span))
		first++;
	drop_front(data, first);
	return 0;
}
