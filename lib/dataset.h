/*
 * dataset.h — metric series for analysis: rows in, numeric columns out.
 *
 * Rows are JSON objects: inline in a task, read from a JSON Lines or CSV
 * file, or streamed from stdin in series mode.  A dataset keeps one
 * column of doubles per metric (NaN where a row has no usable value) and,
 * when the rows carry a time field, the time of each row in seconds since
 * the epoch.  It is built for a million rows: appending a row costs one
 * lookup per field, and memory is 8 bytes per value.
 *
 * Metrics are the fields named by the caller, or else every field whose
 * value is a number (or a string that reads as one, as CSV gives), in the
 * order first seen; a metric first seen late is missing in earlier rows.
 * The time field is the one named, or else the first of ts, timestamp,
 * time, date, datetime, month, day, period present in the first row; its
 * values may be RFC 3339 dates or date-times, "YYYY-MM" months, or epoch
 * seconds (milliseconds above 1e12).
 */
#ifndef MAS_DATASET_H
#define MAS_DATASET_H

#include <stddef.h>

#include <jv.h>

struct mas_dataset {
	size_t rows, capacity;
	size_t metric_count;
	char **metric_names;
	double **values;        /* values[metric][row] */
	size_t *invalid;        /* per metric: values that were not numbers */
	double *time;           /* time[row], NaN when unknown; or NULL */
	char *time_field;       /* chosen time field, or NULL */
	int fixed_metrics;      /* metrics were named: do not add more */
	char *exclude;          /* a field never taken as a metric (--by) */
};

/*
 * Start an empty dataset.  METRICS (borrowed array of COUNT names, may be
 * 0) fixes the metric list; TIME_FIELD (may be NULL) names the time field;
 * EXCLUDE (may be NULL) is a field that is never a metric.
 */
void mas_dataset_init(struct mas_dataset *data, const char *const *metrics,
                      size_t count, const char *time_field,
                      const char *exclude);
void mas_dataset_release(struct mas_dataset *data);

/* Append ROW (borrowed: a JSON object). */
void mas_dataset_add_row(struct mas_dataset *data, jv row);

/*
 * Read every row of a JSON Lines or CSV file (chosen by the name's
 * ending, ".csv" or else JSON Lines) as an array of objects.  CSV cells
 * that read as numbers become numbers, empty cells null.  Returns the
 * array, or jv_invalid_with_msg(string) naming the file and line.
 */
jv mas_dataset_read_file(const char *path);

/*
 * Read one CSV record at *P (before END) into an array of strings,
 * cells split at SEPARATOR (',' for CSV, '\t' for TSV), as RFC 4180
 * says: a quoted cell may hold the separator, line breaks, and "" for a
 * quote.  Advances *P past the record's line break and *LINE by the
 * lines it spans.  The record's text is overwritten (cells are unquoted
 * in place).  The text need not end with a line break.
 */
jv mas_dataset_csv_record(char **p, char *end, char separator,
                          unsigned long *line);

/* Append every row of ROWS (borrowed array of objects). */
void mas_dataset_add_rows(struct mas_dataset *data, jv rows);

/* Index of metric NAME, or -1. */
int mas_dataset_metric_index(const struct mas_dataset *data,
                             const char *name);

/*
 * Parse one time value (a borrowed jv string or number) as above into
 * *SECONDS.  Returns 0, or -1 if it is not a time.
 */
int mas_dataset_parse_time(jv value, double *seconds);

/*
 * What the time axis looks like, after mas_dataset_order():
 * the median step in seconds (0 without times), its unit name ("minute",
 * "hour", "day", "week", "month", "quarter", "year" or "period"), how
 * many steps were irregular, and how many rows had no readable time.
 */
struct mas_dataset_timing {
	double step;
	const char *unit;
	size_t irregular;
	size_t untimed;
	size_t inserted;  /* missing periods filled with NaN */
	int reordered;    /* rows were sorted by time */
};

/*
 * Put rows in time order (stable), then fill whole missing periods with
 * NaN rows so that a series is regular (a day with no row becomes a
 * missing value, not a silent jump).  Gaps are filled only when the step
 * is at most a week, since months vary in length; at most 10 times the
 * row count is inserted.  Fills *TIMING.
 */
void mas_dataset_order(struct mas_dataset *data,
                       struct mas_dataset_timing *timing);

/*
 * Keep only the last part of the rows as described by RANGE ("all",
 * "last_N_UNITS" with minutes, hours, days, weeks, months, quarters,
 * years, or points (rows), singular or plural; or NULL for all): by time
 * when the rows have times (relative to the last row, not to now, so a
 * run is reproducible), else by count.  Returns 0, or -1 if RANGE is not
 * understood.
 */
int mas_dataset_keep_range(struct mas_dataset *data, const char *range);

#endif
