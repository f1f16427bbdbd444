/*
 * analyze.c — the analysis agent (see analyze.h): a task becomes beliefs
 * about a dataset, desires by analysis_type, and plans from the library
 * below that the BDI interpreter chooses among.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyze-beliefs.h"
#include "bdi.h"
#include "clock.h"
#include "id.h"
#include "log.h"
#include "mas.h"
#include "narrate.h"
#include "plot.h"
#include "trace.h"
#include "workers.h"
#include "banned.h"

struct series_group {
	jv key;                     /* the --by value, or null */
	struct mas_dataset data;
};

struct mas_analyzer {
	const struct mas_analyze_options *options;
	jv file_cache;              /* path -> {"mtime","size","rows"} */
	struct series_group *groups;
	size_t group_count;
	jv group_index;             /* dumped key -> index */
	struct mas_workers *workers; /* NULL: analyses run inline */
	int told_example;           /* example_dir's use was logged */
};

static const char *const analysis_types[] = {
	"describe", "trend", "trend_prediction", "anomaly", "correlation",
	"comprehensive", NULL
};

static int wants(const char *type, const char *goal);

/* ---- numbers in output ---- */

/* A number for output: six significant digits (the rest is noise in
 * the data, and it keeps output stable across machines); NaN is null. */
static jv number(double x)
{
	char text[32];

	if (!isfinite(x))
		return jv_null();
	snprintf(text, sizeof(text), "%.6g", x);
	return jv_number(strtod(text, NULL));
}

static jv set(jv object, const char *key, jv value)
{
	return jv_object_set(object, jv_string(key), value);
}

static void omit(struct analyze_metric *metric, const char *part,
                 const char *reason)
{
	metric->omitted = set(metric->omitted, part, jv_string(reason));
}

/* ---- the plan library ---- */

static struct analyze_metric *metric_named(struct analyze_beliefs *beliefs,
                                           const char *name)
{
	for (size_t i = 0; i < beliefs->metric_count; i++)
		if (strcmp(beliefs->metrics[i].name, name) == 0)
			return &beliefs->metrics[i];
	return NULL;
}

static const struct analyze_metric *
metric_of(const void *beliefs, const char *name)
{
	return metric_named((struct analyze_beliefs *)beliefs, name);
}

static int step_describe(struct mas_bdi *bdi, void *b, const char *subject)
{
	struct analyze_metric *metric = metric_named(b, subject);
	int status = mas_stats_describe(&metric->summary, metric->y, metric->n);

	if (status != MAS_STATS_OK)
		return mas_bdi_fail(bdi, "%s", mas_stats_strerror(status));
	metric->has_summary = 1;
	return 0;
}

static int has_values(const void *b, const char *subject)
{
	const struct analyze_metric *metric = metric_of(b, subject);
	size_t finite = 0;

	for (size_t i = 0; i < metric->n && finite == 0; i++)
		finite += isfinite(metric->y[i]) != 0;
	return finite > 0;
}

static int three_values(const void *b, const char *subject)
{
	const struct analyze_metric *metric = metric_of(b, subject);

	return metric->has_summary && metric->summary.n >= 3;
}

/*
 * A trend is "increasing" or "decreasing" when the slope differs from 0
 * at the 5 % level and moves the series by at least 0.1 % of its mean
 * per period; else "stable".  rate is the slope in % of |mean|.
 */
static int step_least_squares(struct mas_bdi *bdi, void *b,
                              const char *subject)
{
	struct analyze_metric *metric = metric_named(b, subject);
	struct mas_stats_trend *trend = &metric->trend;
	int status = mas_stats_trend(trend, NULL, metric->y, metric->n);
	double mean = fabs(metric->summary.mean);

	if (status != MAS_STATS_OK)
		return mas_bdi_fail(bdi, "%s", mas_stats_strerror(status));
	metric->rate = mean > 0 ? 100.0 * trend->slope / mean : NAN;
	metric->direction = "stable";
	if (trend->p_value < 0.05 && !(fabs(metric->rate) < 0.1))
		metric->direction = trend->slope > 0 ? "increasing"
		                                     : "decreasing";
	metric->has_trend = 1;
	return 0;
}

static int step_note_short_trend(struct mas_bdi *bdi, void *b,
                                 const char *subject)
{
	omit(metric_named(b, subject), "trend",
	     "needs at least 3 values");
	return 0;
}

static int period_given(const void *b, const char *subject)
{
	return ((const struct analyze_beliefs *)b)->period_given >= 2;
}

static int step_take_period(struct mas_bdi *bdi, void *b, const char *subject)
{
	struct analyze_beliefs *beliefs = b;
	struct analyze_metric *metric = metric_named(beliefs, subject);

	metric->period = beliefs->period_given;
	metric->period_source = "given";
	return 0;
}

static int eight_values(const void *b, const char *subject)
{
	const struct analyze_metric *metric = metric_of(b, subject);

	return metric->has_summary && metric->summary.n >= 8;
}

/* The most recent values, at most the fit window. */
static size_t window_start(const struct analyze_metric *metric)
{
	return metric->n > MAS_ANALYZE_FIT_WINDOW
	               ? metric->n - MAS_ANALYZE_FIT_WINDOW
	               : 0;
}

static int step_detect_period(struct mas_bdi *bdi, void *b,
                              const char *subject)
{
	struct analyze_metric *metric = metric_named(b, subject);
	struct mas_stats_season season;
	size_t start = window_start(metric);

	mas_stats_season_detect(&season, metric->y + start, metric->n - start,
	                        MAS_ANALYZE_MAX_PERIOD,
	                        MAS_STATS_SEASON_THRESHOLD);
	metric->period = season.period;
	metric->period_acf = season.acf;
	metric->period_source = season.period ? "detected" : "none";
	return 0;
}

static int step_no_season(struct mas_bdi *bdi, void *b, const char *subject)
{
	struct analyze_metric *metric = metric_named(b, subject);

	metric->period = 0;
	metric->period_source = "none";
	return 0;
}

static int seasonal_fit_possible(const void *b, const char *subject)
{
	const struct analyze_metric *metric = metric_of(b, subject);
	size_t need = mas_stats_ets_min_length(MAS_STATS_ETS_ANA,
	                                       metric->period);

	return metric->period >= 2 && need > 0 && metric->has_summary &&
	       metric->summary.n >= need;
}

static int smoothing_possible(const void *b, const char *subject)
{
	const struct analyze_metric *metric = metric_of(b, subject);

	return metric->has_summary &&
	       metric->summary.n >= mas_stats_ets_min_length(MAS_STATS_ETS_ANN,
	                                                     0);
}

static int fit_models(struct mas_bdi *bdi, struct analyze_beliefs *beliefs,
                      struct analyze_metric *metric, size_t period)
{
	size_t start = window_start(metric);
	int status;

	mas_forecast_init(&metric->forecast);
	status = mas_forecast_make(&metric->forecast, metric->y + start,
	                           metric->n - start, period, beliefs->horizon,
	                           beliefs->options->coverage);
	if (status != MAS_STATS_OK) {
		mas_forecast_release(&metric->forecast);
		return mas_bdi_fail(bdi, "%s", mas_stats_strerror(status));
	}
	metric->fit_offset = start;
	metric->has_fit = 1;
	return 0;
}

static int step_fit_seasonal(struct mas_bdi *bdi, void *b,
                             const char *subject)
{
	struct analyze_metric *metric = metric_named(b, subject);

	return fit_models(bdi, b, metric, metric->period);
}

static int step_fit_trend(struct mas_bdi *bdi, void *b, const char *subject)
{
	return fit_models(bdi, b, metric_named(b, subject), 0);
}

/* Mean of the last COUNT finite values of Y[0..N). */
static double recent_mean(const double *y, size_t n, size_t count)
{
	double sum = 0;
	size_t used = 0;

	for (size_t i = n; i > 0 && used < count; i--)
		if (isfinite(y[i - 1])) {
			sum += y[i - 1];
			used++;
		}
	return used ? sum / (double)used : NAN;
}

/*
 * predicted_change compares the mean forecast over the horizon with the
 * mean of as many recent observations.  confidence is Phi(|change| / s),
 * s the mean forecast standard deviation over the horizon: a lower bound,
 * under the fitted model's Gaussian forecast distribution, on the
 * probability that the horizon's mean moves in the predicted direction
 * (the sd of a mean of correlated errors is at most their mean sd).
 */
static void summarise_forecast(struct analyze_beliefs *beliefs,
                               struct analyze_metric *metric)
{
	double z = mas_stats_normal_quantile((1 + beliefs->options->coverage) /
	                                     2);
	double future = 0, spread = 0;
	double base = recent_mean(metric->y, metric->n, metric->horizon);

	for (size_t h = 0; h < metric->horizon; h++) {
		future += metric->mean[h];
		spread += (metric->upper[h] - metric->mean[h]) / z;
	}
	future /= (double)metric->horizon;
	spread /= (double)metric->horizon;
	metric->change_pct = fabs(base) > 0 ? 100 * (future - base) / fabs(base)
	                                    : NAN;
	if (spread > 0)
		metric->confidence = mas_stats_normal_cdf(fabs(future - base) /
		                                          spread);
	else
		metric->confidence = isfinite(spread) ? 1.0 : NAN;
}

static int step_forecast(struct mas_bdi *bdi, void *b, const char *subject)
{
	struct analyze_beliefs *beliefs = b;
	struct analyze_metric *metric = metric_named(beliefs, subject);
	size_t h = beliefs->horizon;

	metric->mean = calloc(h, sizeof(double));
	metric->lower = calloc(h, sizeof(double));
	metric->upper = calloc(h, sizeof(double));
	if (!metric->mean || !metric->lower || !metric->upper)
		return mas_bdi_fail(bdi, "out of memory");
	metric->horizon = h;
	memcpy(metric->mean, metric->forecast.mean, h * sizeof(double));
	memcpy(metric->lower, metric->forecast.lower, h * sizeof(double));
	memcpy(metric->upper, metric->forecast.upper, h * sizeof(double));
	summarise_forecast(beliefs, metric);
	return 0;
}

static int step_note_no_forecast(struct mas_bdi *bdi, void *b,
                                 const char *subject)
{
	char reason[96];

	snprintf(reason, sizeof(reason),
	         "needs at least %zu values to forecast",
	         mas_stats_ets_min_length(MAS_STATS_ETS_ANN, 0));
	omit(metric_named(b, subject), "prediction", reason);
	return 0;
}

static int model_fitted(const void *b, const char *subject)
{
	const struct analyze_metric *metric = metric_of(b, subject);

	return metric->has_fit && metric->fit_offset == 0;
}

static int five_values(const void *b, const char *subject)
{
	const struct analyze_metric *metric = metric_of(b, subject);

	return metric->has_summary && metric->summary.n >= 5;
}

static int find_anomalies(struct mas_bdi *bdi, struct analyze_metric *metric,
                          const double *residuals, const char *method)
{
	int status;

	mas_stats_anomalies_init(&metric->anomalies);
	status = mas_stats_anomalies_find(&metric->anomalies, residuals,
	                                  metric->n,
	                                  MAS_STATS_ANOMALY_THRESHOLD);
	if (status != MAS_STATS_OK) {
		mas_stats_anomalies_release(&metric->anomalies);
		return mas_bdi_fail(bdi, "%s", mas_stats_strerror(status));
	}
	metric->anomaly_method = method;
	metric->has_anomalies = 1;
	return 0;
}

static int step_model_residuals(struct mas_bdi *bdi, void *b,
                                const char *subject)
{
	struct analyze_metric *metric = metric_named(b, subject);

	metric->expected = malloc(metric->n * sizeof(double));
	if (!metric->expected)
		return mas_bdi_fail(bdi, "out of memory");
	memcpy(metric->expected, metric->forecast.ets.fitted,
	       metric->n * sizeof(double));
	return find_anomalies(bdi, metric, metric->forecast.ets.residuals,
	                      "exponential smoothing residuals");
}

/*
 * Without a model for the whole series: remove the least-squares line,
 * then, with a season, the mean residual of each phase.
 */
static int step_trend_season_residuals(struct mas_bdi *bdi, void *b,
                                       const char *subject)
{
	struct analyze_metric *metric = metric_named(b, subject);
	struct mas_stats_trend line;
	double *residuals = malloc(metric->n * sizeof(double));
	size_t m = metric->period;
	int status;

	metric->expected = malloc(metric->n * sizeof(double));
	if (!residuals || !metric->expected) {
		free(residuals);
		return mas_bdi_fail(bdi, "out of memory");
	}
	mas_stats_trend(&line, NULL, metric->y, metric->n);
	mas_stats_trend_residuals(&line, NULL, metric->y, metric->n,
	                          residuals);
	for (size_t phase = 0; m >= 2 && phase < m; phase++) {
		double sum = 0;
		size_t count = 0;
		for (size_t i = phase; i < metric->n; i += m)
			if (isfinite(residuals[i])) {
				sum += residuals[i];
				count++;
			}
		for (size_t i = phase; count && i < metric->n; i += m)
			residuals[i] -= sum / (double)count;
	}
	for (size_t i = 0; i < metric->n; i++)
		metric->expected[i] = metric->y[i] - residuals[i];
	status = find_anomalies(bdi, metric, residuals,
	                        m >= 2 ? "trend and seasonal residuals"
	                               : "trend residuals");
	free(residuals);
	return status;
}

static int step_level_deviation(struct mas_bdi *bdi, void *b,
                                const char *subject)
{
	struct analyze_metric *metric = metric_named(b, subject);
	int status = find_anomalies(bdi, metric, metric->y,
	                            "deviation from the median");

	if (status == 0) {
		metric->expected = malloc(metric->n * sizeof(double));
		if (!metric->expected)
			return mas_bdi_fail(bdi, "out of memory");
		for (size_t i = 0; i < metric->n; i++)
			metric->expected[i] = metric->anomalies.median;
	}
	return status;
}

static int step_note_no_anomalies(struct mas_bdi *bdi, void *b,
                                  const char *subject)
{
	omit(metric_named(b, subject), "anomalies",
	     "needs at least 3 values");
	return 0;
}

static int step_note_no_correlation(struct mas_bdi *bdi, void *b,
                                    const char *subject)
{
	struct analyze_beliefs *beliefs = b;

	if (beliefs->metric_count > 0)
		omit(&beliefs->metrics[0], "correlations",
		     "needs at least two metrics");
	return 0;
}

static int two_metrics(const void *b, const char *subject)
{
	return ((const struct analyze_beliefs *)b)->metric_count >= 2;
}

static jv correlation_pair(const struct analyze_metric *a,
                           const struct analyze_metric *b)
{
	struct mas_stats_correlation pearson, spearman;
	jv pair = JV_OBJECT(jv_string("metrics"),
	                    JV_ARRAY(jv_string(a->name), jv_string(b->name)));

	mas_stats_pearson(&pearson, a->y, b->y, a->n);
	mas_stats_spearman(&spearman, a->y, b->y, a->n);
	pair = set(pair, "n", jv_number((double)pearson.n));
	pair = set(pair, "pearson", number(pearson.r));
	pair = set(pair, "pearson_p", number(pearson.p_value));
	pair = set(pair, "spearman", number(spearman.r));
	return set(pair, "spearman_p", number(spearman.p_value));
}

static int step_pairwise(struct mas_bdi *bdi, void *b, const char *subject)
{
	struct analyze_beliefs *beliefs = b;

	for (size_t i = 0; i < beliefs->metric_count; i++)
		for (size_t j = i + 1; j < beliefs->metric_count; j++)
			beliefs->correlations = jv_array_append(
				beliefs->correlations,
				correlation_pair(&beliefs->metrics[i],
				                 &beliefs->metrics[j]));
	return 0;
}

static int step_templated(struct mas_bdi *bdi, void *b, const char *subject)
{
	struct analyze_beliefs *beliefs = b;

	jv_free(beliefs->insights);
	beliefs->insights = mas_insight_sentences(beliefs);
	return 0;
}

static int model_available(const void *b, const char *subject)
{
	return ((const struct analyze_beliefs *)b)->llm_available;
}

/* The request itself goes out after deliberation (it is asynchronous);
 * the templated sentences written first are the fallback. */
static int step_request_narration(struct mas_bdi *bdi, void *b,
                                  const char *subject)
{
	((struct analyze_beliefs *)b)->narrate = 1;
	return 0;
}

#define STEPS(...) ((const struct mas_bdi_step[]){ __VA_ARGS__, { NULL, NULL } })

/*
 * The plan library, in order of preference within each goal.  mas-analyze(1)
 * lists it under PLANS; keep the two in step.
 */
static const struct mas_bdi_plan plans[] = {
	{ "summary_statistics", "describe", has_values,
	  STEPS({ "describe", step_describe }) },
	{ "least_squares_trend", "trend", three_values,
	  STEPS({ "fit_line", step_least_squares }) },
	{ "too_few_for_trend", "trend", NULL,
	  STEPS({ "note_missing_trend", step_note_short_trend }) },
	{ "given_period", "season", period_given,
	  STEPS({ "take_period", step_take_period }) },
	{ "autocorrelation_period", "season", eight_values,
	  STEPS({ "detect_period", step_detect_period }) },
	{ "no_season", "season", NULL,
	  STEPS({ "assume_no_season", step_no_season }) },
	{ "seasonal_smoothing", "forecast", seasonal_fit_possible,
	  STEPS({ "fit_seasonal_models", step_fit_seasonal },
	        { "forecast_with_intervals", step_forecast }) },
	{ "trend_smoothing", "forecast", smoothing_possible,
	  STEPS({ "fit_trend_models", step_fit_trend },
	        { "forecast_with_intervals", step_forecast }) },
	{ "describe_only", "forecast", NULL,
	  STEPS({ "note_missing_forecast", step_note_no_forecast }) },
	{ "model_residuals", "anomalies", model_fitted,
	  STEPS({ "score_model_residuals", step_model_residuals }) },
	{ "trend_season_residuals", "anomalies", five_values,
	  STEPS({ "score_detrended_residuals", step_trend_season_residuals }) },
	{ "level_deviation", "anomalies", three_values,
	  STEPS({ "score_deviation_from_median", step_level_deviation }) },
	{ "too_few_for_anomalies", "anomalies", NULL,
	  STEPS({ "note_missing_anomalies", step_note_no_anomalies }) },
	{ "pairwise_correlation", "correlate", two_metrics,
	  STEPS({ "correlate_pairs", step_pairwise }) },
	{ "single_metric", "correlate", NULL,
	  STEPS({ "note_missing_correlation", step_note_no_correlation }) },
	{ "model_narration", "insights", model_available,
	  STEPS({ "write_sentences", step_templated },
	        { "request_narration", step_request_narration }) },
	{ "templated_insights", "insights", NULL,
	  STEPS({ "write_sentences", step_templated }) },
};

/*
 * Whether analysis_type TYPE desires GOAL: describe and insights always;
 * trend for trend, trend_prediction and comprehensive; forecast for
 * trend_prediction and comprehensive; anomalies for anomaly and
 * comprehensive; correlate for correlation and comprehensive; season
 * wherever a forecast or anomalies need it.
 */
static int wants(const char *type, const char *goal)
{
	int all = strcmp(type, "comprehensive") == 0;
	int predict = all || strcmp(type, "trend_prediction") == 0;
	int anomaly = all || strcmp(type, "anomaly") == 0;

	if (strcmp(goal, "trend") == 0)
		return predict || strcmp(type, "trend") == 0;
	if (strcmp(goal, "forecast") == 0)
		return predict;
	if (strcmp(goal, "anomalies") == 0)
		return anomaly;
	if (strcmp(goal, "season") == 0)
		return predict || anomaly;
	if (strcmp(goal, "correlate") == 0)
		return all || strcmp(type, "correlation") == 0;
	return 1;
}

/* The goals each analysis_type desires for every metric, and overall. */
static void post_desires(struct mas_bdi *bdi, struct analyze_beliefs *beliefs)
{
	static const char *const per_metric[] = {
		"describe", "trend", "season", "forecast", "anomalies", NULL
	};

	for (size_t i = 0; i < beliefs->metric_count; i++)
		for (int g = 0; per_metric[g]; g++)
			if (wants(beliefs->type, per_metric[g]))
				mas_bdi_post(bdi, per_metric[g],
				             beliefs->metrics[i].name);
	if (wants(beliefs->type, "correlate"))
		mas_bdi_post(bdi, "correlate", NULL);
	mas_bdi_post(bdi, "insights", NULL);
}

/* ---- time labels ---- */

static double add_months(double seconds, long months)
{
	time_t t = (time_t)seconds;
	struct tm tm;

	gmtime_r(&t, &tm);
	tm.tm_mon += (int)months;
	return (double)timegm(&tm);
}

void mas_analyze_time_label(const struct analyze_beliefs *beliefs,
                            double index, char *buf, size_t size)
{
	const struct mas_dataset *data = beliefs->data;
	const struct mas_dataset_timing *timing = &beliefs->timing;
	size_t last = data->rows - 1;
	double seconds;

	if (!data->time || timing->step <= 0) {
		snprintf(buf, size, "%.0f", index);
		return;
	}
	if (index <= (double)last) {
		seconds = data->time[(size_t)index];
	} else if (strcmp(timing->unit, "month") == 0) {
		seconds = add_months(data->time[last], (long)(index - last));
	} else {
		seconds = data->time[last] + (index - (double)last) *
		                                     timing->step;
	}
	if (!isfinite(seconds))
		snprintf(buf, size, "%.0f", index);
	else
		mas_clock_format_label(seconds, buf, size);
}

/* ---- output ---- */

static jv summary_json(const struct analyze_metric *metric)
{
	const struct mas_stats_summary *s = &metric->summary;
	jv out = jv_object();

	out = set(out, "n", jv_number((double)s->n));
	out = set(out, "missing", jv_number((double)s->missing));
	out = set(out, "mean", number(s->mean));
	out = set(out, "sd", number(s->sd));
	out = set(out, "min", number(s->min));
	out = set(out, "q1", number(s->q1));
	out = set(out, "median", number(s->median));
	out = set(out, "q3", number(s->q3));
	out = set(out, "max", number(s->max));
	return set(out, "last", number(recent_mean(metric->y, metric->n, 1)));
}

static jv trend_json(const struct analyze_metric *metric)
{
	const struct mas_stats_trend *t = &metric->trend;
	jv out = JV_OBJECT(jv_string("trend"), jv_string(metric->direction));

	out = set(out, "rate", number(metric->rate));
	out = set(out, "slope", number(t->slope));
	out = set(out, "slope_se", number(t->slope_se));
	out = set(out, "t", number(t->t));
	out = set(out, "p_value", number(t->p_value));
	out = set(out, "significant", jv_bool(t->p_value < 0.05));
	return set(out, "r_squared", number(t->r_squared));
}

static jv change_text(double pct)
{
	char text[32];

	if (!isfinite(pct))
		return jv_null();
	snprintf(text, sizeof(text), "%+.1f%%", pct);
	return jv_string(text);
}

/* "ETS(M,Ad,M)", or the benchmark's name, into BUF. */
static const char *method_label(const struct mas_forecast *f, char *buf,
                                size_t size)
{
	enum mas_stats_ets_model model = f->ets.model;

	if (f->method == MAS_FORECAST_SNAIVE)
		return "seasonal naive";
	if (f->method == MAS_FORECAST_THETA)
		return f->theta_seasonal ? "Theta, deseasonalised" : "Theta";
	if (f->method == MAS_FORECAST_COMB)
		return "mean of ETS, Theta and seasonal naive";
	snprintf(buf, size, "ETS(%c,%s,%c)",
	         mas_stats_ets_error_mult(model) ? 'M' : 'A',
	         mas_stats_ets_damped(model) ? "Ad"
	         : mas_stats_ets_has_trend(model) ? "A" : "N",
	         mas_stats_ets_season_mult(model) ? 'M'
	         : mas_stats_ets_seasonal(model) ? 'A' : 'N');
	return buf;
}

/* Every ETS model's AICc, by name (those not tried left out). */
static jv aicc_json(const struct mas_forecast *f)
{
	jv out = jv_object();

	for (int model = 0; model < MAS_STATS_ETS_MODELS; model++)
		if (isfinite(f->aicc[model]))
			out = set(out, mas_stats_ets_name(model),
			          number(f->aicc[model]));
	return out;
}

/* Why the forecast is what it is (mas-analyze(1), FORECASTS). */
static jv selection_json(const struct mas_forecast *f)
{
	jv out = JV_OBJECT(jv_string("ets"),
	                   jv_string(mas_stats_ets_name(f->ets.model)),
	                   jv_string("aicc"), aicc_json(f));

	if (f->checked) {
		jv owa = jv_object(), smape = jv_object(), mase = jv_object();
		for (int m = 0; m < MAS_FORECAST_METHODS; m++) {
			const char *name = mas_forecast_method_name(m);
			owa = set(owa, name, number(f->score[m]));
			smape = set(smape, name, number(f->smape[m]));
			mase = set(mase, name, number(f->mase[m]));
		}
		out = set(out, "check", JV_OBJECT(
			jv_string("origins"), jv_number((double)f->checked),
			jv_string("owa"), owa, jv_string("smape"), smape,
			jv_string("mase"), mase));
	}
	out = set(out, "winner", jv_string(mas_forecast_method_name(f->method)));
	out = set(out, "interval_widening", number(f->widening));
	out = set(out, "calibration_errors",
	          jv_number((double)f->calibration_errors));
	return set(out, "truncated_at_zero", jv_bool(f->truncated));
}

static jv forecast_points(const struct analyze_beliefs *beliefs,
                          const struct analyze_metric *metric)
{
	jv points = jv_array();

	for (size_t h = 0; h < metric->horizon; h++) {
		char label[64];
		mas_analyze_time_label(beliefs, (double)(metric->n + h), label,
		                       sizeof(label));
		points = jv_array_append(points, JV_OBJECT(
			jv_string("step"), jv_number((double)h + 1),
			jv_string("time"), jv_string(label),
			jv_string("value"), number(metric->mean[h]),
			jv_string("lower"), number(metric->lower[h]),
			jv_string("upper"), number(metric->upper[h])));
	}
	return points;
}

static jv prediction_json(const struct analyze_beliefs *beliefs,
                          const struct analyze_metric *metric)
{
	const struct mas_forecast *f = &metric->forecast;
	const struct mas_stats_ets *fit = &f->ets;
	char label[32];
	jv out = JV_OBJECT(jv_string("predicted_change"),
	                   change_text(metric->change_pct));

	out = set(out, "change_pct", number(metric->change_pct));
	out = set(out, "confidence", number(metric->confidence));
	out = set(out, "model", jv_string(mas_forecast_name(f)));
	out = set(out, "method", jv_string(method_label(f, label,
	                                                sizeof(label))));
	if (f->period && mas_forecast_seasonal(f))
		out = set(out, "period", jv_number((double)f->period));
	if (f->method == MAS_FORECAST_ETS) {
		out = set(out, "parameters", JV_OBJECT(
			jv_string("alpha"), number(fit->params.alpha),
			jv_string("beta"), number(fit->params.beta),
			jv_string("gamma"), number(fit->params.gamma),
			jv_string("phi"), number(fit->params.phi)));
		out = set(out, "aicc", number(fit->aicc));
	}
	out = set(out, "selection", selection_json(f));
	out = set(out, "coverage", number(beliefs->options->coverage));
	return set(out, "forecast", forecast_points(beliefs, metric));
}

static jv anomalies_json(const struct analyze_beliefs *beliefs,
                         const struct analyze_metric *metric, jv list)
{
	const struct mas_stats_anomalies *found = &metric->anomalies;

	for (size_t k = 0; k < found->count && k < MAS_ANALYZE_MAX_ANOMALIES;
	     k++) {
		size_t i = found->index[k];
		char label[64];
		mas_analyze_time_label(beliefs, (double)i, label,
		                       sizeof(label));
		list = jv_array_append(list, JV_OBJECT(
			jv_string("metric"), jv_string(metric->name),
			jv_string("index"), jv_number((double)i),
			jv_string("time"), jv_string(label),
			jv_string("value"), number(metric->y[i]),
			jv_string("expected"),
			number(metric->expected ? metric->expected[i] : NAN),
			jv_string("score"), number(found->score[k]),
			jv_string("method"), jv_string(metric->anomaly_method)));
	}
	return list;
}

/* Anomalies found per metric: the list is capped, the counts are not. */
static jv anomaly_counts(const struct analyze_beliefs *beliefs)
{
	jv counts = jv_object();

	for (size_t i = 0; i < beliefs->metric_count; i++) {
		const struct analyze_metric *metric = &beliefs->metrics[i];
		if (metric->has_anomalies)
			counts = set(counts, metric->name,
			             jv_number((double)metric->anomalies.count));
	}
	return counts;
}

static jv data_meta(const struct analyze_beliefs *beliefs, size_t rows_total)
{
	const struct mas_dataset_timing *timing = &beliefs->timing;
	jv missing = jv_object();
	jv out = jv_object();

	for (size_t i = 0; i < beliefs->metric_count; i++) {
		const struct analyze_metric *metric = &beliefs->metrics[i];
		size_t gaps = metric->has_summary ? metric->summary.missing
		                                  : metric->n;
		if (gaps)
			missing = set(missing, metric->name,
			              jv_number((double)gaps));
	}
	out = set(out, "rows", jv_number((double)rows_total));
	out = set(out, "used", jv_number((double)beliefs->data->rows));
	out = set(out, "time_field", beliefs->data->time_field
	                                     ? jv_string(beliefs->data->time_field)
	                                     : jv_null());
	out = set(out, "step", jv_string(timing->unit));
	out = set(out, "step_seconds",
	          number(timing->step > 0 ? timing->step : NAN));
	out = set(out, "missing", missing);
	out = set(out, "irregular_steps", jv_number((double)timing->irregular));
	out = set(out, "inserted_periods", jv_number((double)timing->inserted));
	return set(out, "reordered", jv_bool(timing->reordered));
}

/* The sentence meta.plans gives for a forecast: the winner and why. */
static jv choice_text(const struct mas_forecast *f)
{
	char text[400], check[200] = "";
	size_t tried = 0;

	for (int model = 0; model < MAS_STATS_ETS_MODELS; model++)
		tried += isfinite(f->aicc[model]) != 0;
	if (f->checked)
		snprintf(check, sizeof(check), "; over the last %zu origins "
		         "OWA ETS %.3g, SNaive %.3g, Theta %.3g, Comb %.3g, "
		         "so %s", f->checked, f->score[MAS_FORECAST_ETS],
		         f->score[MAS_FORECAST_SNAIVE],
		         f->score[MAS_FORECAST_THETA],
		         f->score[MAS_FORECAST_COMB],
		         f->method == MAS_FORECAST_ETS
		                 ? "ETS stays"
		                 : mas_forecast_method_name(f->method));
	snprintf(text, sizeof(text), "%s: lowest AICc of %zu ETS models%s; "
	         "intervals x%.3g from %zu past forecast errors%s",
	         mas_stats_ets_name(f->ets.model), tried, check, f->widening,
	         f->calibration_errors,
	         f->truncated ? "; never negative: cut at 0" : "");
	return jv_string(text);
}

/* meta.plans with each achieved forecast's "chosen" reason. */
static jv annotated_plans(const struct analyze_beliefs *beliefs,
                          const struct mas_bdi *bdi)
{
	jv trace = mas_bdi_trace(bdi);
	int count = jv_array_length(jv_copy(trace));

	for (int i = 0; i < count; i++) {
		jv entry = jv_array_get(jv_copy(trace), i);
		jv goal = jv_object_get(jv_copy(entry), jv_string("goal"));
		jv subject = jv_object_get(jv_copy(entry), jv_string("subject"));
		const struct analyze_metric *metric = NULL;

		if (jv_get_kind(goal) == JV_KIND_STRING &&
		    strcmp(jv_string_value(goal), "forecast") == 0 &&
		    jv_get_kind(subject) == JV_KIND_STRING)
			metric = metric_of(beliefs, jv_string_value(subject));
		if (metric && metric->has_fit && metric->horizon)
			trace = jv_array_set(trace, i, set(entry, "chosen",
			        choice_text(&metric->forecast)));
		else
			jv_free(entry);
		jv_free(goal);
		jv_free(subject);
	}
	return trace;
}

static jv result_json(struct analyze_beliefs *beliefs, struct mas_bdi *bdi,
                      size_t rows_total)
{
	jv summary = jv_object(), trends = jv_object(), forecasts = jv_object();
	jv anomalies = jv_array(), omitted = jv_object();
	jv out = JV_OBJECT(jv_string("analysis_type"), jv_string(beliefs->type));

	for (size_t i = 0; i < beliefs->metric_count; i++) {
		struct analyze_metric *metric = &beliefs->metrics[i];
		if (metric->has_summary)
			summary = set(summary, metric->name,
			              summary_json(metric));
		if (metric->has_trend)
			trends = set(trends, metric->name, trend_json(metric));
		if (metric->horizon)
			forecasts = set(forecasts, metric->name,
			                prediction_json(beliefs, metric));
		if (metric->has_anomalies)
			anomalies = anomalies_json(beliefs, metric, anomalies);
		if (jv_object_length(jv_copy(metric->omitted)) > 0)
			omitted = set(omitted, metric->name,
			              jv_copy(metric->omitted));
	}
	/* Only the parts the analysis_type asked for. */
	out = set(out, "summary", summary);
	if (wants(beliefs->type, "trend"))
		out = set(out, "current_trends", trends);
	else
		jv_free(trends);
	if (wants(beliefs->type, "forecast"))
		out = set(out, "predictions",
		          JV_OBJECT(jv_string(beliefs->horizon_label),
		                    forecasts));
	else
		jv_free(forecasts);
	if (wants(beliefs->type, "anomalies")) {
		out = set(out, "anomalies", anomalies);
		out = set(out, "anomaly_counts", anomaly_counts(beliefs));
	} else {
		jv_free(anomalies);
	}
	if (wants(beliefs->type, "correlate"))
		out = set(out, "correlations", jv_copy(beliefs->correlations));
	out = set(out, "insights", jv_copy(beliefs->insights));
	if (jv_object_length(jv_copy(omitted)) > 0)
		out = set(out, "omitted", omitted);
	else
		jv_free(omitted);
	return set(out, "meta", JV_OBJECT(
		jv_string("engine"), jv_string("embedded"),
		jv_string("plans"), annotated_plans(beliefs, bdi),
		jv_string("data"), data_meta(beliefs, rows_total)));
}

/* ---- plots ---- */

static void plot_metric(const struct analyze_beliefs *beliefs,
                        const struct analyze_metric *metric,
                        const char *prefix)
{
	size_t total = metric->n + metric->horizon;
	char **labels = calloc(total, sizeof(char *));
	char name[256];
	struct mas_plot chart = {
		.title = metric->name, .y_label = metric->name,
		.history = metric->y, .n_history = metric->n,
		.forecast = metric->mean, .lower = metric->lower,
		.upper = metric->upper, .n_forecast = metric->horizon,
		.anomalies = metric->has_anomalies ? metric->anomalies.index
		                                   : NULL,
		.n_anomalies = metric->has_anomalies ? metric->anomalies.count
		                                     : 0,
	};

	for (size_t i = 0; labels && i < total; i++) {
		char label[64];
		mas_analyze_time_label(beliefs, (double)i, label, sizeof(label));
		labels[i] = strdup(label);
	}
	chart.labels = (const char *const *)labels;
	snprintf(name, sizeof(name), "%s%s%s", prefix ? prefix : "",
	         prefix ? "-" : "", metric->name);
	if (mas_plot_write_file(beliefs->options->plot_dir, name, &chart) != 0)
		mas_warn("--plot: %s/%s.svg: %s", beliefs->options->plot_dir,
		         name, strerror(errno));
	for (size_t i = 0; labels && i < total; i++)
		free(labels[i]);
	free(labels);
}

/* ---- one analysis over a dataset ---- */

static void release_metric(struct analyze_metric *metric)
{
	if (metric->has_fit)
		mas_forecast_release(&metric->forecast);
	if (metric->has_anomalies)
		mas_stats_anomalies_release(&metric->anomalies);
	free(metric->mean);
	free(metric->lower);
	free(metric->upper);
	free(metric->expected);
	jv_free(metric->omitted);
}

/*
 * Runs the BDI cycle over DATA (already ordered and cut to range) and
 * returns the analysis.  PLOT_PREFIX names the charts.
 */
static jv analyse(struct analyze_beliefs *beliefs, size_t rows_total,
                  const char *plot_prefix)
{
	struct mas_dataset *data = beliefs->data;
	struct mas_bdi bdi;
	jv result;

	beliefs->metric_count = data->metric_count;
	beliefs->metrics = calloc(data->metric_count ? data->metric_count : 1,
	                          sizeof(*beliefs->metrics));
	if (!beliefs->metrics)
		return mas_fail(MAS_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < data->metric_count; i++) {
		struct analyze_metric *metric = &beliefs->metrics[i];
		metric->name = data->metric_names[i];
		metric->y = data->values[i];
		metric->n = data->rows;
		metric->invalid = data->invalid[i];
		metric->omitted = jv_object();
		metric->period_source = "none";
	}
	beliefs->correlations = jv_array();
	beliefs->insights = jv_array();
	beliefs->llm_available = beliefs->options->engine &&
	                         beliefs->options->engine->llm;
	mas_bdi_init(&bdi, plans, sizeof(plans) / sizeof(plans[0]), beliefs);
	post_desires(&bdi, beliefs);
	mas_bdi_run(&bdi);
	result = result_json(beliefs, &bdi, rows_total);
	for (size_t i = 0; i < beliefs->metric_count; i++) {
		if (beliefs->options->plot_dir)
			plot_metric(beliefs, &beliefs->metrics[i], plot_prefix);
		release_metric(&beliefs->metrics[i]);
	}
	mas_bdi_release(&bdi);
	free(beliefs->metrics);
	jv_free(beliefs->correlations);
	jv_free(beliefs->insights);
	return result;
}

/* ---- reading a task ---- */

/* jv_object_get that borrows OBJECT. */
static jv field(jv object, const char *key)
{
	if (jv_get_kind(object) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(object), jv_string(key));
}

static int is_type(const char *type)
{
	for (int i = 0; analysis_types[i]; i++)
		if (strcmp(type, analysis_types[i]) == 0)
			return 1;
	return 0;
}

static const char *unit_name(const char *word)
{
	static const char *const units[] = {
		"minute", "hour", "day", "week", "month", "quarter", "year",
		"period", NULL
	};
	size_t length = strlen(word);

	if (length > 1 && word[length - 1] == 's')
		length--;
	for (int i = 0; units[i]; i++)
		if (strlen(units[i]) == length &&
		    strncmp(word, units[i], length) == 0)
			return units[i];
	return NULL;
}

static int parse_horizon_text(const char *text, size_t *count,
                              const char **unit)
{
	char word[32];
	long n;
	int used = 0;

	if (sscanf(text, "next_%ld_%31[a-z]%n", &n, word, &used) != 2 ||
	    text[used] != '\0' || n < 1 || n > 10000 || !unit_name(word))
		return -1;
	*count = (size_t)n;
	*unit = unit_name(word);
	return 0;
}

int mas_analyze_type_valid(const char *name)
{
	return is_type(name);
}

const char *mas_analyze_language(const char *setting)
{
	static const char *const names[] = { "en", "zh" };

	for (int i = 0; i < 2; i++)
		if (strncmp(setting, names[i], 2) == 0 &&
		    strchr("_-.", setting[2]))
			return names[i]; /* "zh", "zh_CN", "en-US", "en.UTF-8" */
	return NULL;
}

int mas_analyze_parse_horizon(jv horizon, size_t *count, const char **unit)
{
	int status = -1;

	if (jv_get_kind(horizon) == JV_KIND_NUMBER) {
		double value = jv_number_value(horizon);
		if (value >= 1 && value <= 10000 && value == floor(value)) {
			*count = (size_t)value;
			*unit = "period";
			status = 0;
		}
	} else if (jv_get_kind(horizon) == JV_KIND_STRING) {
		status = parse_horizon_text(jv_string_value(horizon), count,
		                            unit);
	}
	jv_free(horizon);
	return status;
}

/* Seconds in one UNIT, roughly (months and years vary). */
static double unit_seconds(const char *unit)
{
	static const struct { const char *unit; double seconds; } table[] = {
		{ "minute", 60 }, { "hour", 3600 }, { "day", 86400 },
		{ "week", 7 * 86400 }, { "month", 30.44 * 86400 },
		{ "quarter", 91.31 * 86400 }, { "year", 365.25 * 86400 },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(unit, table[i].unit) == 0)
			return table[i].seconds;
	return 0;
}

/* The horizon in data periods: "next_2_weeks" over daily data is 14. */
static size_t periods_of(size_t count, const char *unit,
                         const struct mas_dataset_timing *timing)
{
	double from = unit_seconds(unit), step = timing->step;

	if (from <= 0 || step <= 0)
		return count;
	return (size_t)fmax(1.0, round((double)count * from / step));
}

static const char *language_of(const struct mas_analyze_options *options,
                               jv task)
{
	jv context = field(task, "context");
	jv language = field(context, "preferred_language");
	const char *lang = options->lang ? options->lang : "en";

	if (!options->lang && jv_get_kind(language) == JV_KIND_STRING &&
	    strncmp(jv_string_value(language), "zh", 2) == 0)
		lang = "zh";
	jv_free(language);
	jv_free(context);
	return lang;
}

static int valid_source_name(const char *name)
{
	size_t length = strlen(name);

	if (length == 0 || length > 200 || name[0] == '.')
		return 0;
	for (size_t i = 0; i < length; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return 0;
	return 1;
}

/* Rows of a file, read once per run and again only if it changed. */
static jv cached_rows(struct mas_analyzer *analyzer, const char *path,
                      const struct stat *st)
{
	jv entry = jv_object_get(jv_copy(analyzer->file_cache),
	                         jv_string(path));
	jv rows;

	if (jv_is_valid(entry)) {
		jv mtime = jv_object_get(jv_copy(entry), jv_string("mtime"));
		jv size = jv_object_get(jv_copy(entry), jv_string("size"));
		int fresh = jv_number_value(mtime) == (double)st->st_mtime &&
		            jv_number_value(size) == (double)st->st_size;
		jv_free(mtime);
		jv_free(size);
		if (fresh)
			return jv_object_get(entry, jv_string("rows"));
	}
	jv_free(entry);
	rows = mas_dataset_read_file(path);
	if (jv_is_valid(rows))
		analyzer->file_cache = jv_object_set(
			analyzer->file_cache, jv_string(path),
			JV_OBJECT(jv_string("mtime"),
			          jv_number((double)st->st_mtime),
			          jv_string("size"),
			          jv_number((double)st->st_size),
			          jv_string("rows"), jv_copy(rows)));
	return rows;
}

/* The file of data_source NAME in DIR, with or without an ending, into
 * PATH; returns 1 when there is one. */
static int find_source(const char *dir, const char *name, char *path,
                       size_t size, struct stat *st)
{
	static const char *const endings[] = { "", ".jsonl", ".csv", NULL };

	for (int i = 0; endings[i]; i++) {
		snprintf(path, size, "%s/%s%s", dir, name, endings[i]);
		if (stat(path, st) == 0 && S_ISREG(st->st_mode))
			return 1;
	}
	return 0;
}

/* In data_dir, else in the example data when there is no other. */
static int locate_source(struct mas_analyzer *analyzer, const char *name,
                         char *path, size_t size, struct stat *st)
{
	const char *example = analyzer->options->example_dir;

	if (find_source(analyzer->options->data_dir, name, path, size, st))
		return 1;
	if (!example || !find_source(example, name, path, size, st))
		return 0;
	if (!analyzer->told_example)
		mas_warn("data_source %s is not in %s: answering from the "
		         "example data, %s (give --data-dir DIR)", name,
		         analyzer->options->data_dir, example);
	analyzer->told_example = 1;
	return 1;
}

static jv source_rows(struct mas_analyzer *analyzer, const char *name)
{
	const char *dir = analyzer->options->data_dir;
	char path[4096];
	struct stat st;
	jv rows;

	if (!valid_source_name(name))
		return mas_fail(MAS_ERR_INVALID_REQUEST, "data_source: '%.200s' "
		                "is not a plain name (letters, digits, . _ -)",
		                name);
	if (!locate_source(analyzer, name, path, sizeof(path), &st))
		return mas_fail(MAS_ERR_NOT_FOUND, "data_source: no file "
		                "%s.jsonl or %s.csv in %s", name, name, dir);
	rows = cached_rows(analyzer, path, &st);
	if (!jv_is_valid(rows)) {
		jv message = jv_invalid_get_msg(rows);
		jv error = mas_fail(MAS_ERR_INVALID_REQUEST, "data_source: %s",
		                    jv_string_value(message));
		jv_free(message);
		return error;
	}
	return rows;
}

/* Inline data: an array of rows, or an object of equal-length columns. */
static jv inline_rows(jv data)
{
	jv rows;
	int length = -1;

	if (jv_get_kind(data) == JV_KIND_ARRAY)
		return data;
	rows = jv_array();
	if (jv_get_kind(data) != JV_KIND_OBJECT) {
		jv_free(rows);
		jv_free(data);
		return mas_fail(MAS_ERR_INVALID_REQUEST, "data: expected an "
		                "array of rows or an object of columns");
	}
	jv_object_foreach(data, key, column) {
		int n = jv_get_kind(column) == JV_KIND_ARRAY
		                ? jv_array_length(jv_copy(column))
		                : -1;
		if (n < 0 || (length >= 0 && n != length)) {
			jv error = mas_fail(MAS_ERR_INVALID_REQUEST,
			                    "data.%s: columns must be arrays of "
			                    "one length", jv_string_value(key));
			jv_free(key);
			jv_free(column);
			jv_free(rows);
			jv_free(data);
			return error;
		}
		for (int i = 0; i < n; i++) {
			jv row = i < jv_array_length(jv_copy(rows))
			                 ? jv_array_get(jv_copy(rows), i)
			                 : jv_object();
			row = jv_object_set(row, jv_copy(key),
			                    jv_array_get(jv_copy(column), i));
			rows = jv_array_set(rows, i, row);
		}
		length = n;
		jv_free(key);
		jv_free(column);
	}
	jv_free(data);
	return rows;
}

/* The metric names a task asks for (parameters.metrics), as a jv array
 * of strings, or null to take every numeric field. */
static jv task_metrics(jv parameters)
{
	jv metrics = field(parameters, "metrics");
	int count;

	if (!jv_is_valid(metrics) || jv_get_kind(metrics) == JV_KIND_NULL) {
		jv_free(metrics);
		return jv_null();
	}
	if (jv_get_kind(metrics) == JV_KIND_STRING)
		return JV_ARRAY(metrics);
	if (jv_get_kind(metrics) != JV_KIND_ARRAY)
		goto bad;
	count = jv_array_length(jv_copy(metrics));
	for (int i = 0; i < count; i++) {
		jv name = jv_array_get(jv_copy(metrics), i);
		int ok = jv_get_kind(name) == JV_KIND_STRING;
		jv_free(name);
		if (!ok)
			goto bad;
	}
	return metrics;
bad:
	jv_free(metrics);
	return mas_fail(MAS_ERR_INVALID_REQUEST, "parameters.metrics: expected "
	                "an array of field names");
}

/* Builds DATA from ROWS with the metrics asked for; an error if one of
 * them has no value in any row. */
static jv fill_dataset(struct mas_dataset *data, jv rows, jv metrics,
                       const struct mas_analyze_options *options)
{
	const char **names = NULL;
	size_t count = 0;
	jv status = jv_true();

	if (jv_get_kind(metrics) == JV_KIND_ARRAY) {
		count = (size_t)jv_array_length(jv_copy(metrics));
		names = calloc(count ? count : 1, sizeof(char *));
		for (size_t i = 0; names && i < count; i++) {
			jv name = jv_array_get(jv_copy(metrics), (int)i);
			names[i] = jv_string_value(name); /* kept by metrics */
			jv_free(name);
		}
	} else if (options->metric_count) {
		names = calloc(options->metric_count, sizeof(char *));
		count = options->metric_count;
		for (size_t i = 0; names && i < count; i++)
			names[i] = options->metrics[i];
	}
	mas_dataset_init(data, names, count, options->time_field, options->by);
	mas_dataset_add_rows(data, rows);
	for (size_t m = 0; m < data->metric_count; m++) {
		size_t finite = 0;
		for (size_t r = 0; r < data->rows; r++)
			finite += isfinite(data->values[m][r]) != 0;
		if (finite == 0 && count > 0) {
			jv_free(status);
			status = mas_fail(MAS_ERR_INVALID_REQUEST,
			                  "parameters.metrics: '%s' has no "
			                  "numeric value in the data",
			                  data->metric_names[m]);
			break;
		}
	}
	if (jv_is_valid(status) && data->metric_count == 0) {
		jv_free(status);
		status = mas_fail(MAS_ERR_INVALID_REQUEST, "data: no numeric "
		                  "field to analyse");
	}
	free(names);
	jv_free(rows);
	jv_free(metrics);
	return status;
}

/* The rows a task analyses: inline "data", else its data_source. */
static jv task_rows(struct mas_analyzer *analyzer, jv task)
{
	jv data = field(task, "data");
	jv source;
	jv rows;

	if (jv_is_valid(data) && jv_get_kind(data) != JV_KIND_NULL)
		return inline_rows(data);
	jv_free(data);
	source = field(task, "data_source");
	if (jv_get_kind(source) != JV_KIND_STRING) {
		int missing = !jv_is_valid(source) ||
		              jv_get_kind(source) == JV_KIND_NULL;
		jv_free(source);
		return mas_fail(MAS_ERR_INVALID_REQUEST, missing
		                ? "data_source: missing (give data_source or "
		                  "inline data)"
		                : "data_source: expected a string");
	}
	rows = source_rows(analyzer, jv_string_value(source));
	jv_free(source);
	return rows;
}

/* Reads analysis_type, the horizon and the period into BELIEFS. */
static jv read_parameters(struct analyze_beliefs *beliefs, jv task,
                          jv parameters, char *label, size_t label_size)
{
	const struct mas_analyze_options *options = beliefs->options;
	jv type = field(task, "analysis_type");
	jv horizon = field(parameters, "prediction_horizon");
	jv period = field(parameters, "seasonal_period");
	jv status = jv_true();
	size_t count = 7;
	const char *unit = "period";

	beliefs->type = options->type;
	if (jv_get_kind(type) == JV_KIND_STRING) {
		for (int i = 0; analysis_types[i]; i++)
			if (strcmp(jv_string_value(type), analysis_types[i]) == 0)
				beliefs->type = analysis_types[i];
		if (!is_type(jv_string_value(type)))
			status = mas_fail(MAS_ERR_INVALID_REQUEST,
			                  "analysis_type: '%.100s' is not one of "
			                  "describe, trend, trend_prediction, "
			                  "anomaly, correlation, comprehensive",
			                  jv_string_value(type));
	} else if (jv_is_valid(type) && jv_get_kind(type) != JV_KIND_NULL) {
		status = mas_fail(MAS_ERR_INVALID_REQUEST,
		                  "analysis_type: expected a string");
	}
	if (jv_is_valid(status) && jv_is_valid(horizon) &&
	    jv_get_kind(horizon) != JV_KIND_NULL &&
	    mas_analyze_parse_horizon(jv_copy(horizon), &count, &unit) != 0) {
		jv_free(status);
		status = mas_fail(MAS_ERR_INVALID_REQUEST,
		                  "parameters.prediction_horizon: expected "
		                  "next_N_UNITS (minutes, hours, days, weeks, "
		                  "months, quarters, years, periods) or a "
		                  "number");
	}
	if (jv_is_valid(status) && jv_is_valid(period) &&
	    jv_get_kind(period) != JV_KIND_NULL) {
		double p = jv_get_kind(period) == JV_KIND_NUMBER
		                   ? jv_number_value(period)
		                   : 0;
		if (p < 2 || p > 10000 || p != floor(p)) {
			jv_free(status);
			status = mas_fail(MAS_ERR_INVALID_REQUEST,
			                  "parameters.seasonal_period: expected a "
			                  "whole number from 2 to 10000");
		} else {
			beliefs->period_given = (size_t)p;
		}
	}
	if (options->period)
		beliefs->period_given = options->period;
	/* Without a horizon string the label waits for the data's unit. */
	if (jv_get_kind(horizon) == JV_KIND_STRING)
		snprintf(label, label_size, "%s", jv_string_value(horizon));
	else if (jv_get_kind(horizon) == JV_KIND_NUMBER)
		snprintf(label, label_size, "next_%zu_periods", count);
	else
		label[0] = '\0';
	beliefs->horizon = count;
	beliefs->horizon_label = unit; /* resolved to periods later */
	jv_free(type);
	jv_free(horizon);
	jv_free(period);
	return status;
}

/* Orders DATA, applies time_range, and converts the horizon to periods. */
static jv prepare_data(struct analyze_beliefs *beliefs, jv parameters)
{
	jv range = field(parameters, "time_range");
	const char *unit = beliefs->horizon_label;
	jv status = jv_true();

	mas_dataset_order(beliefs->data, &beliefs->timing);
	if (jv_get_kind(range) == JV_KIND_STRING) {
		if (mas_dataset_keep_range(beliefs->data,
		                           jv_string_value(range)) != 0)
			status = mas_fail(MAS_ERR_INVALID_REQUEST,
			                  "parameters.time_range: '%.100s' is not "
			                  "all or last_N_UNITS (minutes, hours, "
			                  "days, weeks, months, quarters, years, "
			                  "points, periods, rows)",
			                  jv_string_value(range));
	} else if (jv_is_valid(range) && jv_get_kind(range) != JV_KIND_NULL) {
		status = mas_fail(MAS_ERR_INVALID_REQUEST,
		                  "parameters.time_range: expected a string");
	}
	if (jv_is_valid(status) && beliefs->data->rows == 0) {
		jv_free(status);
		status = mas_fail(MAS_ERR_INVALID_REQUEST,
		                  "data: no rows to analyse");
	}
	if (beliefs->options->horizon)
		beliefs->horizon = beliefs->options->horizon;
	else
		beliefs->horizon = periods_of(beliefs->horizon, unit,
		                              &beliefs->timing);
	jv_free(range);
	return status;
}

/*
 * A task between its reading (on the record loop's thread, where its jv
 * values live) and its answer: the analysis proper, which holds only C
 * data (the dataset's arrays) and makes jv values of its own, may run on
 * a worker thread (workers.h) in between.
 */
struct task_job {
	struct mas_analyzer *analyzer;
	jv task;                 /* the loop's thread only */
	struct analyze_beliefs beliefs;
	struct mas_dataset data;
	size_t total;            /* rows before time_range */
	char label[64];          /* the horizon's label */
	char *plot_prefix;       /* charts are named by the task's id */
	char created[MAS_CLOCK_ISO_SIZE];
	struct mas_span *span;   /* current when it was read */
	jv result;               /* made by task_work */
	mas_agent_reply_fn reply;
	void *context;
};

static void task_job_free(struct task_job *job)
{
	jv_free(job->task);
	free(job->plot_prefix);
	free(job);
}

/*
 * Reads TASK (consumed) into a job, or returns NULL with *ERROR (an
 * invalid jv with the error object) naming what was wrong.
 */
static struct task_job *task_prepare(struct mas_analyzer *analyzer, jv task,
                                     jv *error)
{
	struct task_job *job = calloc(1, sizeof(*job));
	jv parameters = field(task, "parameters");
	jv rows, status, id;

	if (!job)
		mas_die(MAS_EXIT_IO, "out of memory");
	job->analyzer = analyzer;
	job->beliefs.options = analyzer->options;
	job->task = task;
	job->result = jv_invalid();
	mas_clock_now_iso(job->created);
	if (jv_get_kind(task) != JV_KIND_OBJECT) {
		status = mas_fail(MAS_ERR_INVALID_REQUEST, "input: expected an "
		                  "object, got %s (check --input)",
		                  jv_kind_name(jv_get_kind(task)));
		goto fail;
	}
	if (jv_is_valid(parameters) &&
	    jv_get_kind(parameters) != JV_KIND_OBJECT &&
	    jv_get_kind(parameters) != JV_KIND_NULL) {
		status = mas_fail(MAS_ERR_INVALID_REQUEST,
		                  "parameters: expected an object");
		goto fail;
	}
	job->beliefs.lang = language_of(analyzer->options, task);
	status = read_parameters(&job->beliefs, task, parameters, job->label,
	                         sizeof(job->label));
	if (!jv_is_valid(status))
		goto fail;
	rows = task_rows(analyzer, task);
	if (!jv_is_valid(rows)) {
		status = rows;
		goto fail;
	}
	status = fill_dataset(&job->data, rows, task_metrics(parameters),
	                      analyzer->options);
	job->beliefs.data = &job->data;
	job->total = job->data.rows;
	if (jv_is_valid(status))
		status = prepare_data(&job->beliefs, parameters);
	if (!jv_is_valid(status)) {
		mas_dataset_release(&job->data);
		goto fail;
	}
	jv_free(status);
	jv_free(parameters);
	/* --horizon overrides the task's words too: the label must say
	 * what was forecast. */
	if (job->label[0] == '\0' || analyzer->options->horizon)
		snprintf(job->label, sizeof(job->label), "next_%zu_%ss",
		         job->beliefs.horizon, job->beliefs.timing.unit);
	job->beliefs.horizon_label = job->label;
	id = field(task, "id");
	job->plot_prefix = strdup(jv_get_kind(id) == JV_KIND_STRING
	                          ? jv_string_value(id) : "task");
	jv_free(id);
	if (!job->plot_prefix)
		mas_die(MAS_EXIT_IO, "out of memory");
	return job;
fail:
	jv_free(parameters);
	task_job_free(job);
	*error = status;
	return NULL;
}

/* The analysis proper: on any thread (see struct task_job). */
static void task_work(void *data)
{
	struct task_job *job = data;
	struct mas_span *outer = NULL;

	/* The steps' spans hang from the record's, on this thread too. */
	if (job->span)
		outer = mas_trace_set_current(job->span);
	job->result = analyse(&job->beliefs, job->total, job->plot_prefix);
	if (job->span)
		mas_trace_set_current(outer);
	mas_dataset_release(&job->data);
}

/* The result of JOB (freed), stamped, on the loop's thread. */
static jv task_finish(struct task_job *job)
{
	jv result = job->result;
	char completed[MAS_CLOCK_ISO_SIZE];

	if (jv_is_valid(result)) {
		jv source = field(job->task, "data_source");
		mas_clock_now_iso(completed);
		if (jv_get_kind(source) == JV_KIND_STRING)
			result = set(result, "data_source", source);
		else
			jv_free(source);
		result = set(result, "status", jv_string("completed"));
		result = set(result, "created_at", jv_string(job->created));
		result = set(result, "completed_at", jv_string(completed));
	}
	job->result = jv_invalid();
	task_job_free(job);
	return result;
}

jv mas_analyze_task(struct mas_analyzer *analyzer, jv task)
{
	jv error = jv_invalid();
	struct task_job *job = task_prepare(analyzer, task, &error);

	if (!job)
		return error;
	task_work(job);
	return task_finish(job);
}

/* ---- narration by a model ---- */

/* The figures the model may tell: the result without its bookkeeping. */
static jv narration_facts(jv result)
{
	static const char *const parts[] = {
		"analysis_type", "summary", "current_trends", "predictions",
		"anomaly_counts", "correlations", "omitted", NULL
	};
	jv facts = jv_object();
	jv anomalies = field(result, "anomalies");
	jv unit = jv_getpath(jv_copy(result), JV_ARRAY(jv_string("meta"),
	                                               jv_string("data"),
	                                               jv_string("step")));

	for (int i = 0; parts[i]; i++) {
		jv part = field(result, parts[i]);
		if (jv_is_valid(part))
			facts = set(facts, parts[i], part);
		else
			jv_free(part);
	}
	if (jv_get_kind(anomalies) == JV_KIND_ARRAY)
		facts = set(facts, "anomalies", jv_array_slice(anomalies, 0, 20));
	else
		jv_free(anomalies);
	facts = set(facts, "period_unit", unit);
	return set(facts, "draft_insights", field(result, "insights"));
}

struct narration {
	const struct mas_engine *engine;
	jv result;
	jv facts;
	mas_agent_reply_fn reply;
	void *context;
};

/* A reply whose insights are sentences holding only given figures, or
 * the failure that stands for it. */
/*
 * OUTCOME (consumed), a reply the checks turned down with ERROR: it is
 * forgotten from the cache, so it is not replayed next time, and
 * reported like any failed model request, with its attempts; not
 * transient, as the same prompt may well get the same answer.
 */
static jv rejected(struct narration *narration, jv outcome, jv error)
{
	jv key = jv_object_get(jv_copy(outcome), jv_string("cache_key"));
	jv attempts = jv_object_get(outcome, jv_string("attempts"));

	if (jv_get_kind(key) == JV_KIND_STRING)
		mas_llm_forget(narration->engine->llm, jv_string_value(key));
	jv_free(key);
	error = jv_object_set(error, jv_string("transient"), jv_false());
	if (jv_get_kind(attempts) == JV_KIND_NUMBER)
		error = jv_object_set(error, jv_string("attempts"), attempts);
	else
		jv_free(attempts);
	return jv_invalid_with_msg(error);
}

static jv checked_narration(struct narration *narration, jv outcome)
{
	jv sentences, invented, error;

	if (!jv_is_valid(outcome))
		return outcome;
	sentences = jv_getpath(jv_copy(outcome),
	                       JV_ARRAY(jv_string("json"),
	                                jv_string("insights")));
	if (jv_get_kind(sentences) != JV_KIND_ARRAY ||
	    jv_array_length(jv_copy(sentences)) == 0) {
		jv_free(sentences);
		return rejected(narration, outcome, mas_error(
			MAS_ERR_UPSTREAM_ERROR, "narration: no insights in "
			"the reply"));
	}
	invented = mas_narrate_invented(sentences, narration->facts);
	jv_free(sentences);
	if (jv_array_length(jv_copy(invented)) > 0) {
		jv first = jv_array_get(invented, 0);

		error = mas_error(MAS_ERR_UPSTREAM_ERROR, "narration: the "
		                  "model wrote %s, which is not one of the "
		                  "computed figures", jv_string_value(first));
		jv_free(first);
		return rejected(narration, outcome, error);
	}
	jv_free(invented);
	return outcome;
}

/* The result with the model's sentences, or with the fallback the
 * engine's policy asks for. */
static jv narrated(struct narration *narration, jv outcome)
{
	jv result = narration->result;

	outcome = checked_narration(narration, outcome);
	if (jv_is_valid(outcome))
		result = set(result, "insights",
		             jv_getpath(jv_copy(outcome),
		                        JV_ARRAY(jv_string("json"),
		                                 jv_string("insights"))));
	jv_free(narration->facts);
	return mas_engine_settle(narration->engine, result, outcome);
}

static void narration_done(void *user, jv outcome)
{
	struct narration *narration = user;

	narration->reply(narration->context, narrated(narration, outcome));
	free(narration);
}

static jv narration_request(struct narration *narration, const char *lang)
{
	return mas_narrate_request(narration->facts, lang,
	                           strcmp(lang, "zh") == 0
	                                   ? "一项指标序列的统计分析"
	                                   : "a statistical analysis of "
	                                     "metric series");
}

/* A job's answer, on the loop's thread: narrated when the plans chose
 * to, else at once. */
static void task_done(void *data)
{
	struct task_job *job = data;
	const struct mas_engine *engine = job->analyzer->options->engine;
	mas_agent_reply_fn reply = job->reply;
	void *context = job->context;
	int narrate = job->beliefs.narrate;
	const char *lang = job->beliefs.lang;
	struct mas_span *span = job->span, *outer;
	jv result = task_finish(job);
	struct narration *narration;

	if (!jv_is_valid(result) || !narrate) {
		reply(context, result);
		return;
	}
	narration = malloc(sizeof(*narration));
	if (!narration)
		mas_die(MAS_EXIT_IO, "out of memory");
	narration->engine = engine;
	narration->result = result;
	narration->facts = narration_facts(result);
	narration->reply = reply;
	narration->context = context;
	/* The request hangs from the record's span, wherever it ran. */
	outer = span ? mas_trace_set_current(span) : NULL;
	mas_llm_submit(engine->llm, narration_request(narration, lang),
	               narration_done, NULL, narration);
	if (span)
		mas_trace_set_current(outer);
}

void mas_analyze_start(void *agent, jv task, mas_agent_reply_fn reply,
                       void *context)
{
	struct mas_analyzer *analyzer = agent;
	jv error = jv_invalid();
	struct task_job *job = task_prepare(analyzer, task, &error);

	if (!job) {
		reply(context, error);
		return;
	}
	job->reply = reply;
	job->context = context;
	if (!analyzer->workers) {
		task_work(job);
		task_done(job);
		return;
	}
	job->span = mas_trace_current();
	mas_workers_submit(analyzer->workers, task_work, task_done, job);
}

/* Series mode answers at end of input, one group at a time: there the
 * narration is asked for and waited on in turn. */
static jv narrate_now(const struct mas_engine *engine, jv result,
                      const char *lang)
{
	struct narration narration = { engine, result, jv_null(), NULL, NULL };

	narration.facts = narration_facts(result);
	return narrated(&narration,
	                mas_llm_complete(engine->llm,
	                                 narration_request(&narration, lang)));
}

/* ---- series mode ---- */

static struct series_group *group_for(struct mas_analyzer *analyzer, jv key)
{
	const struct mas_analyze_options *options = analyzer->options;
	jv dumped = jv_dump_string(jv_copy(key), 0);
	jv index = jv_object_get(jv_copy(analyzer->group_index),
	                         jv_copy(dumped));
	struct series_group *group;
	size_t i;

	if (jv_is_valid(index)) {
		i = (size_t)jv_number_value(index);
		jv_free(index);
		jv_free(dumped);
		jv_free(key);
		return &analyzer->groups[i];
	}
	jv_free(index);
	i = analyzer->group_count++;
	analyzer->groups = realloc(analyzer->groups,
	                           analyzer->group_count * sizeof(*group));
	if (!analyzer->groups)
		mas_die(MAS_EXIT_IO, "out of memory");
	group = &analyzer->groups[i];
	group->key = key;
	mas_dataset_init(&group->data, options->metrics, options->metric_count,
	                 options->time_field, options->by);
	analyzer->group_index = jv_object_set(analyzer->group_index, dumped,
	                                      jv_number((double)i));
	return group;
}

void mas_analyze_series_add(struct mas_analyzer *analyzer, jv row)
{
	jv key = analyzer->options->by
	                 ? jv_object_get(jv_copy(row),
	                                 jv_string(analyzer->options->by))
	                 : jv_null();
	struct series_group *group;

	if (!jv_is_valid(key)) {
		jv_free(key);
		key = jv_null();
	}
	group = group_for(analyzer, key);
	mas_dataset_add_row(&group->data, row);
	jv_free(row);
}

/*
 * One group's analysis at end of input: made ready on the loop's thread
 * (the record around it, the charts' name), analysed as a task is,
 * possibly on a worker thread, and written in its turn.
 */
struct group_job {
	struct mas_analyzer *analyzer;
	struct series_group *group;
	struct analyze_beliefs beliefs;
	char label[64];
	char *plot_prefix;       /* the --by value, or NULL */
	jv result;               /* made by group_work */
	jv record;               /* the loop's thread only */
	struct mas_run *run;
	size_t ticket;
	const char *output_key;
	struct mas_span *span;
};

static void group_work(void *data)
{
	struct group_job *job = data;
	const struct mas_analyze_options *options = job->analyzer->options;
	struct analyze_beliefs *beliefs = &job->beliefs;
	struct mas_dataset *rows = &job->group->data;
	size_t total = rows->rows;
	struct mas_span *outer = NULL;

	if (job->span)
		outer = mas_trace_set_current(job->span);
	beliefs->options = options;
	beliefs->type = options->type;
	beliefs->lang = options->lang ? options->lang : "en";
	beliefs->period_given = options->period;
	beliefs->data = rows;
	mas_dataset_order(rows, &beliefs->timing);
	beliefs->horizon = options->horizon ? options->horizon : 7;
	snprintf(job->label, sizeof(job->label), "next_%zu_%ss",
	         beliefs->horizon, beliefs->timing.unit);
	beliefs->horizon_label = job->label;
	if (rows->metric_count == 0)
		job->result = mas_fail(MAS_ERR_INVALID_REQUEST, "no numeric "
		                       "field to analyse in %zu rows", total);
	else
		job->result = analyse(beliefs, total, job->plot_prefix);
	if (job->span)
		mas_trace_set_current(outer);
}

static void group_done(void *data)
{
	struct group_job *job = data;
	const struct mas_analyze_options *options = job->analyzer->options;
	jv result = job->result;
	jv record = job->record;

	if (jv_is_valid(result) && job->beliefs.narrate)
		result = narrate_now(options->engine, result,
		                     job->beliefs.lang);
	if (jv_is_valid(result))
		record = set(record, job->output_key, result);
	else
		record = set(record, "error", jv_invalid_get_msg(result));
	mas_run_complete(job->run, job->ticket, record);
	free(job->plot_prefix);
	free(job);
}

static struct group_job *group_job_new(struct mas_analyzer *analyzer,
                                       struct series_group *group,
                                       struct mas_run *run,
                                       const char *output_key)
{
	const struct mas_analyze_options *options = analyzer->options;
	struct group_job *job = calloc(1, sizeof(*job));
	char id[MAS_ID_SIZE];
	/* Charts are named by the group's value: "web1", not "\"web1\"". */
	jv key = jv_get_kind(group->key) == JV_KIND_STRING
	                 ? jv_copy(group->key)
	                 : jv_dump_string(jv_copy(group->key), 0);

	if (!job)
		mas_die(MAS_EXIT_IO, "out of memory");
	job->analyzer = analyzer;
	job->group = group;
	job->run = run;
	job->output_key = output_key;
	job->plot_prefix = options->by ? strdup(jv_string_value(key)) : NULL;
	jv_free(key);
	mas_id_new(id);
	job->record = JV_OBJECT(jv_string("id"), jv_string(id));
	if (options->by)
		job->record = set(job->record, "group",
		                  JV_OBJECT(jv_string(options->by),
		                            jv_copy(group->key)));
	job->record = set(job->record, "rows",
	                  jv_number((double)group->data.rows));
	job->ticket = mas_run_defer(run);
	job->span = mas_trace_current();
	return job;
}

void mas_analyze_series_finish(struct mas_analyzer *analyzer,
                               struct mas_run *run, const char *output_key)
{
	struct mas_workers *workers = analyzer->workers;
	size_t window = workers ? 8 * analyzer->options->threads : 0;

	for (size_t i = 0; i < analyzer->group_count; i++) {
		struct group_job *job = group_job_new(
			analyzer, &analyzer->groups[i], run, output_key);

		if (!workers) {
			group_work(job);
			group_done(job);
			continue;
		}
		/* Memory: a window of groups analysed and not yet written. */
		while (job->ticket - mas_run_written(run) >= window)
			mas_workers_wait(workers, -1, -1);
		mas_workers_submit(workers, group_work, group_done, job);
	}
	while (workers && mas_workers_pending(workers) > 0)
		mas_workers_wait(workers, -1, -1);
}

/* ---- life cycle ---- */

size_t mas_analyze_window(const struct mas_analyzer *analyzer)
{
	const struct mas_engine *engine = analyzer->options->engine;
	size_t window = engine ? mas_engine_jobs(engine) : 0;

	/* Enough records in flight that a slow one (a long seasonal
	 * series) does not leave the other threads idle, few enough that
	 * memory stays bounded. */
	if (analyzer->workers && window < 8 * analyzer->options->threads)
		window = 8 * analyzer->options->threads;
	return window;
}

void mas_analyze_wait(struct mas_analyzer *analyzer, int timeout_ms, int fd)
{
	const struct mas_engine *engine = analyzer->options->engine;
	struct mas_llm *llm = engine ? engine->llm : NULL;
	struct pollfd fds[2];

	if (!analyzer->workers) {
		if (llm)
			mas_llm_perform(llm, timeout_ms, fd);
		return;
	}
	if (!llm) {
		mas_workers_wait(analyzer->workers, timeout_ms, fd);
		return;
	}
	/* Model replies, finished analyses and input, whichever first. */
	fds[0] = (struct pollfd){ .fd = mas_workers_fd(analyzer->workers),
	                          .events = POLLIN };
	fds[1] = (struct pollfd){ .fd = fd, .events = POLLIN };
	mas_llm_poll(llm, fds, fd >= 0 ? 2 : 1, timeout_ms);
	mas_workers_collect(analyzer->workers);
}

struct mas_analyzer *mas_analyzer_new(const struct mas_analyze_options *opts)
{
	struct mas_analyzer *analyzer = calloc(1, sizeof(*analyzer));

	if (!analyzer)
		mas_die(MAS_EXIT_IO, "out of memory");
	analyzer->options = opts;
	analyzer->file_cache = jv_object();
	analyzer->group_index = jv_object();
	if (opts->threads > 1)
		analyzer->workers = mas_workers_start(opts->threads);
	return analyzer;
}

void mas_analyzer_free(struct mas_analyzer *analyzer)
{
	if (!analyzer)
		return;
	mas_workers_stop(analyzer->workers);
	for (size_t i = 0; i < analyzer->group_count; i++) {
		jv_free(analyzer->groups[i].key);
		mas_dataset_release(&analyzer->groups[i].data);
	}
	free(analyzer->groups);
	jv_free(analyzer->group_index);
	jv_free(analyzer->file_cache);
	free(analyzer);
}
