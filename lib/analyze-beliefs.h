/*
 * analyze-beliefs.h — what the analysis agent believes about one task,
 * shared by its plans (analyze.c) and its sentences (insight.c).  Not a
 * public interface: only those two files include it.
 */
#ifndef MAS_ANALYZE_BELIEFS_H
#define MAS_ANALYZE_BELIEFS_H

#include <stddef.h>

#include <jv.h>

#include "analyze.h"
#include "dataset.h"
#include "forecast.h"
#include "stats.h"

/* Forecast models are fitted on at most this many recent values:
 * exponential smoothing forgets the far past anyway, and it keeps a
 * million-row series fast. */
#define MAS_ANALYZE_FIT_WINDOW 2000

/* Seasons longer than this are not looked for (a year of days). */
#define MAS_ANALYZE_MAX_PERIOD 366

/* Anomalies listed per metric; the count says how many there were. */
#define MAS_ANALYZE_MAX_ANOMALIES 50

struct analyze_metric {
	const char *name;        /* borrowed from the dataset */
	const double *y;         /* the values analysed */
	size_t n;                /* their count (rows in range) */
	size_t invalid;          /* values that were not numbers */

	int has_summary;
	struct mas_stats_summary summary;

	int has_trend;
	struct mas_stats_trend trend;
	const char *direction;   /* increasing, stable, decreasing */
	double rate;             /* % per period, of the mean */

	size_t period;           /* 0: none */
	const char *period_source; /* given, detected, none */
	double period_acf;

	int has_fit;
	struct mas_forecast forecast; /* ETS, benchmarks, intervals */
	size_t fit_offset;       /* index in y of the fit's first input */
	size_t horizon;
	double *mean, *lower, *upper; /* horizon forecasts */
	double change_pct;       /* mean forecast vs mean of recent values */
	double confidence;

	int has_anomalies;
	struct mas_stats_anomalies anomalies;
	double *expected;        /* expected value per y index, or NULL */
	const char *anomaly_method;

	jv omitted;              /* {part: reason} for what could not be done */
};

struct analyze_beliefs {
	const struct mas_analyze_options *options;
	const char *type;        /* analysis_type */
	const char *lang;        /* en or zh */
	size_t horizon;          /* periods */
	const char *horizon_label; /* "next_7_days" */
	size_t period_given;     /* 0: detect */
	struct mas_dataset *data;
	struct mas_dataset_timing timing;
	struct analyze_metric *metrics;
	size_t metric_count;
	jv correlations;         /* array */
	jv insights;             /* array of strings */
	int llm_available;       /* a model can narrate */
	int narrate;             /* the narration plan was chosen */
};

/* The insight sentences for everything the plans found. */
jv mas_insight_sentences(const struct analyze_beliefs *beliefs);

/* Label of row I's time (date or date-time) or of step H past the last
 * row, into BUF; the row index as text when there are no times. */
void mas_analyze_time_label(const struct analyze_beliefs *beliefs,
                            double index, char *buf, size_t size);

#endif
