/*
 * analyze.h — the analysis agent: metric series in, trends, forecasts
 * with intervals, anomalies, correlations and insights out.
 *
 * Task mode: each record is a task in the original API's shape,
 *
 *	{"data_source":"user_behavior","analysis_type":"trend_prediction",
 *	 "parameters":{"time_range":"last_30_days","metrics":[...],
 *	 "prediction_horizon":"next_7_days"}}
 *
 * with the data inline ("data": [rows]) or named by data_source, a file
 * NAME.jsonl or NAME.csv in the data folder.  Series mode: the rows
 * themselves arrive one per record, grouped by a field, and one analysis
 * per group comes out at the end.  Both run the same BDI plans over a
 * mas_dataset; mas-analyze(1) documents the methods, the output fields and
 * what "confidence" means.
 */
#ifndef MAS_ANALYZE_H
#define MAS_ANALYZE_H

#include <stddef.h>

#include <jv.h>

#include "agent.h"
#include "engine.h"
#include "record.h"

struct mas_analyze_options {
	const char *data_dir;    /* where data_source files live */
	/* Looked in after data_dir, or NULL: the installed example data,
	 * for a program with no data folder configured; its first use is
	 * said once on stderr. */
	const char *example_dir;
	const char *lang;        /* "en", "zh", or NULL: from the record */
	const char *plot_dir;    /* write SVG charts here, or NULL */
	const char *time_field;  /* or NULL to guess */
	const char *type;        /* analysis_type when the task has none */
	const char *by;          /* series mode: the grouping field */
	const char *const *metrics; /* metrics when the task names none */
	size_t metric_count;
	size_t horizon;          /* periods, overriding the task; 0: task's */
	size_t period;           /* season, overriding detection; 0: detect */
	double coverage;         /* of prediction intervals, e.g. 0.95 */
	/* Threads that analyse tasks (and series groups) at once, output
	 * order kept; 0 or 1: the calling thread does it all. */
	unsigned threads;
	/* The model that narrates insights, or NULL: embedded only. */
	const struct mas_engine *engine;
};

struct mas_analyzer;

/* A new analyzer; OPTIONS and everything it points to are borrowed and
 * must outlive it. */
struct mas_analyzer *mas_analyzer_new(const struct mas_analyze_options *opts);
void mas_analyzer_free(struct mas_analyzer *analyzer);

/*
 * Analyse one task (consumed).  Returns the result object for the
 * record's output key, or jv_invalid_with_msg(error object) naming the
 * field that was wrong.
 */
jv mas_analyze_task(struct mas_analyzer *analyzer, jv task);

/*
 * Analyse TASK (consumed) as mas_analyze_task does, and when a model is
 * configured let it narrate the insights from the computed figures
 * (never changing a number): REPLY gets the result, once, now or from
 * inside the engine's wait.  A narration that fails or invents a figure
 * leaves the templated insights, as --fallback says.
 */
void mas_analyze_start(void *analyzer, jv task, mas_agent_reply_fn reply,
                       void *context);

/*
 * Records the record loop should keep in flight (struct
 * mas_run_options.jobs) for mas_analyze_start: the model's --jobs, and
 * with threads a window of 8 per thread; 0: synchronous.
 */
size_t mas_analyze_window(const struct mas_analyzer *analyzer);

/*
 * The record loop's wait (struct mas_run_options.wait): drive the model's
 * requests and collect the analyses the threads finished (their replies
 * come from here), for at most TIMEOUT_MS (-1: until something is done),
 * returning early when FD (-1: none) is readable.
 */
void mas_analyze_wait(struct mas_analyzer *analyzer, int timeout_ms, int fd);

/* Series mode: keep ROW (consumed) for its group. */
void mas_analyze_series_add(struct mas_analyzer *analyzer, jv row);

/*
 * Series mode, at end of input: emit one record per group, in order of
 * first appearance: {"id", "group": {FIELD: value} (with --by),
 * "rows": N, KEY: analysis}.
 */
void mas_analyze_series_finish(struct mas_analyzer *analyzer,
                               struct mas_run *run, const char *key);

/* Whether NAME is an analysis_type: describe, trend, trend_prediction,
 * anomaly, correlation or comprehensive. */
int mas_analyze_type_valid(const char *name);

/* The language of SETTING (analyze.lang): "en" or "zh" for those and for
 * locale-style names such as zh_CN, en-US or en.UTF-8; NULL for another. */
const char *mas_analyze_language(const char *setting);

/* Parse HORIZON (consumed): "next_7_days", "next_2_weeks",
 * "next_3_months", "next_5_periods" or a number, into a count and a unit
 * ("day", ..., "period"); -1 if it is none of these. */
int mas_analyze_parse_horizon(jv horizon, size_t *count, const char **unit);

#endif
