/*
 * forecast.c — automatic forecasts with benchmarks and calibrated
 * intervals (see forecast.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"
#include "banned.h"

void mas_forecast_init(struct mas_forecast *f)
{
	int i;

	if (!f)
		return;
	memset(f, 0, sizeof(*f));
	mas_stats_ets_init(&f->ets);
	for (i = 0; i < MAS_STATS_ETS_MODELS; i++)
		f->aicc[i] = NAN;
	for (i = 0; i < MAS_FORECAST_METHODS; i++)
		f->score[i] = f->smape[i] = f->mase[i] = NAN;
	f->widening = 1;
	f->theta_alpha = f->theta_drift = NAN;
}

void mas_forecast_release(struct mas_forecast *f)
{
	if (!f)
		return;
	mas_stats_ets_release(&f->ets);
	free(f->mean);
	free(f->lower);
	free(f->upper);
	free(f->factor);
	mas_forecast_init(f);
}

const char *mas_forecast_method_name(enum mas_forecast_method method)
{
	static const char *const names[MAS_FORECAST_METHODS] = {
		"ETS", "SNaive", "Theta", "Comb"
	};

	return (int)method >= 0 && method < MAS_FORECAST_METHODS
	               ? names[method]
	               : "?";
}

const char *mas_forecast_name(const struct mas_forecast *f)
{
	if (f->method == MAS_FORECAST_ETS)
		return mas_stats_ets_name(f->ets.model);
	return mas_forecast_method_name(f->method);
}

int mas_forecast_seasonal(const struct mas_forecast *f)
{
	if (f->method == MAS_FORECAST_ETS)
		return mas_stats_ets_seasonal(f->ets.model);
	if (f->method == MAS_FORECAST_THETA)
		return f->theta_seasonal;
	return 1; /* seasonal naive, or Comb, which holds it */
}

/* ------------------------------------------------------------------ */
/* The series and its benchmarks                                       */

/* What every method needs: the gap-filled span and its period. */
struct series {
	double *y;      /* n values, owned */
	size_t n, m;    /* m 1 without season */
	const double *input;
	size_t count;
};

/*
 * The M4 benchmarks' seasonality test: the autocorrelation at lag m
 * exceeds 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n) in absolute value
 * (90 % one-sided).  Needs n >= 3m.
 */
static int seasonality_test(const struct series *s)
{
	double *r, limit = 0;
	size_t k;
	int seasonal = 0;

	if (s->m < 2 || s->n < 3 * s->m)
		return 0;
	r = malloc((s->m + 1) * sizeof(double));
	if (!r)
		return 0;
	if (mas_stats_acf(r, s->y, s->n, s->m) == MAS_STATS_OK) {
		for (k = 1; k < s->m; k++)
			limit += r[k] * r[k];
		limit = 1.645 * sqrt((1 + 2 * limit) / (double)s->n);
		seasonal = fabs(r[s->m]) > limit;
	}
	free(r);
	return seasonal;
}

/* Centred moving average at t: 2 x m when m is even, plain m when odd. */
static double moving_average(const double *y, size_t t, size_t m)
{
	size_t half = m / 2, j;
	double total = 0;

	if (m % 2) {
		for (j = t - half; j <= t + half; j++)
			total += y[j];
		return total / (double)m;
	}
	total = 0.5 * (y[t - half] + y[t + half]);
	for (j = t - half + 1; j < t + half; j++)
		total += y[j];
	return total / (double)m;
}

/* Classical decomposition indices over the whole span: multiplicative
 * (mean 1) when mult, else additive (sum 0). */
static void decompose(const struct series *s, int mult, double *index)
{
	size_t m = s->m, half = m / 2, t, j;
	double mean = 0;

	for (j = 0; j < m; j++) {
		double total = 0;
		size_t seen = 0;

		for (t = j; t + half < s->n; t += m) {
			double average;

			if (t < half)
				continue;
			average = moving_average(s->y, t, m);
			if (mult && !(average > 0))
				continue;
			total += mult ? s->y[t] / average : s->y[t] - average;
			seen++;
		}
		index[j] = seen ? total / (double)seen : mult;
		mean += index[j];
	}
	mean /= (double)m;
	for (j = 0; j < m; j++)
		index[j] = mult ? index[j] / mean : index[j] - mean;
}

struct theta {
	int seasonal, mult;
	double *index;     /* m seasonal indices (1 or 0 when not seasonal) */
	double *adjusted;  /* n deseasonalised values */
	struct mas_stats_ets ses; /* run through all n adjusted values */
	double drift;      /* half the least-squares slope of adjusted */
};

static void theta_release(struct theta *th)
{
	free(th->index);
	free(th->adjusted);
	mas_stats_ets_release(&th->ses);
}

static double slope_of(const double *y, size_t n)
{
	struct mas_stats_trend line;

	mas_stats_trend(&line, NULL, y, n);
	return isfinite(line.slope) ? line.slope : 0;
}

/* Runs a fit made on the first values of y through all n of them with
 * the same parameters and initial states (fit is replaced). */
static int extend_fit(struct mas_stats_ets *fit, const double *y, size_t n)
{
	struct mas_stats_ets run;
	int status;

	if (fit->n == n)
		return MAS_STATS_OK;
	mas_stats_ets_init(&run);
	status = mas_stats_ets_smooth(&run, fit->model, y, n, fit->period,
	                              &fit->params, fit->level0, fit->trend0,
	                              fit->season0);
	mas_stats_ets_release(fit);
	*fit = run;
	return status;
}

/*
 * Theta as the M4 benchmark: deseasonalise by a multiplicative classical
 * decomposition when the seasonality test says so (additive for a
 * series that is not positive), then simple exponential smoothing plus
 * half the slope of a line (Hyndman & Billah 2003).  Everything is
 * estimated on the first `known` values; the smoothing then runs
 * through the rest with those parameters (known < n: the seasonal
 * check's forecasts, made without seeing what they forecast).
 */
static int theta_fit(struct theta *th, const struct series *s, size_t known)
{
	struct series seen = *s;
	size_t m = s->m, i;
	int positive = 1, status;

	memset(th, 0, sizeof(*th));
	mas_stats_ets_init(&th->ses);
	th->index = malloc(m * sizeof(double));
	th->adjusted = malloc(s->n * sizeof(double));
	if (!th->index || !th->adjusted)
		return MAS_STATS_ENOMEM;
	seen.n = known;
	for (i = 0; i < known; i++)
		positive = positive && s->y[i] > 0;
	th->seasonal = seasonality_test(&seen);
	th->mult = positive;
	for (i = 0; i < m; i++)
		th->index[i] = th->mult ? 1 : 0;
	if (th->seasonal)
		decompose(&seen, th->mult, th->index);
	for (i = 0; i < s->n; i++)
		th->adjusted[i] = th->mult ? s->y[i] / th->index[i % m]
		                           : s->y[i] - th->index[i % m];
	status = mas_stats_ets_fit(&th->ses, MAS_STATS_ETS_ANN, th->adjusted,
	                           known, 0);
	th->drift = slope_of(th->adjusted, known) / 2;
	if (status == MAS_STATS_OK)
		status = extend_fit(&th->ses, th->adjusted, s->n);
	return status;
}

/* Theta's forecast of step h from a level after t values. */
static double theta_point(const struct theta *th, size_t m, double level,
                          size_t t, size_t h)
{
	double alpha = th->ses.params.alpha;
	double value = level + th->drift * ((double)h - 1 +
	                                    (1 - pow(1 - alpha, (double)t)) /
	                                            alpha);
	double index = th->index[(t + h - 1) % m];

	return th->mult ? value * index : value + index;
}

/* ------------------------------------------------------------------ */
/* Forecasts from past origins                                         */

/* The fitted methods forecasts come from: the ETS fit, the values it
 * runs through (the input for the final fit, the gap-filled span for
 * the check's), and Theta (NULL without period). */
struct methods {
	const struct mas_stats_ets *ets;
	const double *ets_y;
	const struct theta *th;
};

static int single_origin_forecasts(enum mas_forecast_method method,
                                   const struct methods *fm,
                                   const struct series *s, size_t from,
                                   size_t horizon, double *out)
{
	size_t t, h, m = s->m;
	int status;

	if (method == MAS_FORECAST_ETS)
		return mas_stats_ets_origin_forecasts(fm->ets, fm->ets_y, from,
		                                      horizon, out);
	if (method == MAS_FORECAST_SNAIVE) {
		for (t = from; t < s->n; t++)
			for (h = 1; h <= horizon; h++)
				out[(t - from) * horizon + h - 1] =
					s->y[t - m + (h - 1) % m];
		return MAS_STATS_OK;
	}
	/* Theta: the SES level at each origin, one step ahead */
	status = mas_stats_ets_origin_forecasts(&fm->th->ses,
	                                        fm->th->adjusted, from, 1,
	                                        out);
	if (status != MAS_STATS_OK)
		return status;
	for (t = s->n; t-- > from;) {
		double level = out[t - from];

		for (h = horizon; h >= 1; h--)
			out[(t - from) * horizon + h - 1] =
				theta_point(fm->th, m, level, t, h);
	}
	return MAS_STATS_OK;
}

/*
 * out[(t - from) H + h - 1]: the forecast of value t + h - 1 made after
 * t values, by a method, for t = from .. n - 1.  Comb is the mean of
 * the other three.
 */
static int origin_forecasts(enum mas_forecast_method method,
                            const struct methods *fm,
                            const struct series *s, size_t from,
                            size_t horizon, double *out)
{
	size_t i, size = (s->n - from) * horizon;
	double *part;
	int status, other;

	if (method != MAS_FORECAST_COMB)
		return single_origin_forecasts(method, fm, s, from, horizon,
		                               out);
	part = malloc(size * sizeof(double));
	if (!part)
		return MAS_STATS_ENOMEM;
	status = single_origin_forecasts(MAS_FORECAST_ETS, fm, s, from,
	                                 horizon, out);
	for (other = 1; status == MAS_STATS_OK && other < MAS_FORECAST_COMB;
	     other++) {
		status = single_origin_forecasts(other, fm, s, from, horizon,
		                                 part);
		for (i = 0; status == MAS_STATS_OK && i < size; i++)
			out[i] += part[i];
	}
	for (i = 0; i < size; i++)
		out[i] /= 3;
	free(part);
	return status;
}

/* sMAPE (%) and mean absolute error of the full-horizon forecasts from
 * origins from .. from + origins - 1. */
static void check_errors(const double *fc, const struct series *s,
                         size_t from, size_t origins, size_t horizon,
                         double *smape, double *mae)
{
	double total = 0, relative = 0;
	size_t t, h;

	for (t = from; t < from + origins; t++)
		for (h = 1; h <= horizon; h++) {
			double y = s->y[t + h - 1];
			double f = fc[(t - from) * horizon + h - 1];
			double scale = fabs(y) + fabs(f);

			total += fabs(y - f);
			if (scale > 0)
				relative += 200 * fabs(y - f) / scale;
		}
	*smape = relative / (double)(origins * horizon);
	*mae = total / (double)(origins * horizon);
}

/* In-sample mean absolute seasonal difference: MASE's scale. */
static double mase_scale(const struct series *s)
{
	double total = 0;
	size_t t;

	for (t = s->m; t < s->n; t++)
		total += fabs(s->y[t] - s->y[t - s->m]);
	return s->n > s->m ? total / (double)(s->n - s->m) : NAN;
}

/* A ratio to seasonal naive's error, 1 when both are 0. */
static double relative_to(double error, double benchmark)
{
	if (benchmark > 0)
		return error / benchmark;
	return error > 0 ? HUGE_VAL : 1;
}

/* The ETS model chosen and Theta, fitted on the first `known` values
 * only, and run through the rest: the check's forecasts. */
static int fit_before(struct mas_stats_ets *ets, struct theta *th,
                      const struct mas_forecast *f, const struct series *s,
                      size_t known)
{
	int status = mas_stats_ets_fit(ets, f->ets.model, s->y, known,
	                               f->period);

	if (status == MAS_STATS_OK)
		status = extend_fit(ets, s->y, s->n);
	if (status == MAS_STATS_OK)
		status = theta_fit(th, s, known);
	return status;
}

/* Scores every method over the check; the lowest OWA wins. */
static int score_methods(struct mas_forecast *f, const struct methods *fm,
                         const struct series *s, size_t from,
                         size_t origins, size_t horizon, double *fc)
{
	double scale = mase_scale(s), smape[MAS_FORECAST_METHODS];
	double mae[MAS_FORECAST_METHODS];
	int method, status;

	for (method = 0; method < MAS_FORECAST_METHODS; method++) {
		status = origin_forecasts(method, fm, s, from, horizon, fc);
		if (status != MAS_STATS_OK)
			return status;
		check_errors(fc, s, from, origins, horizon, &smape[method],
		             &mae[method]);
		f->smape[method] = smape[method];
		f->mase[method] = mae[method] / (scale > 0 ? scale : 1);
	}
	for (method = 0; method < MAS_FORECAST_METHODS; method++)
		f->score[method] =
			(relative_to(smape[method],
			             smape[MAS_FORECAST_SNAIVE]) +
			 relative_to(mae[method], mae[MAS_FORECAST_SNAIVE])) /
			2;
	for (method = 1; method < MAS_FORECAST_METHODS; method++)
		if (f->score[method] < f->score[f->method])
			f->method = method;
	return MAS_STATS_OK;
}

/*
 * Step 2 of forecast.h.  fc is scratch of (n - warm) horizon doubles.
 */
static int seasonal_check(struct mas_forecast *f, const struct series *s,
                          double *fc)
{
	size_t m = s->m, warm = 2 * m, horizon = f->horizon, from, origins;
	struct mas_stats_ets ets;
	struct theta th;
	struct methods fm = { &ets, NULL, &th };
	int status;

	if (horizon > 2 * m)
		horizon = 2 * m;
	if (s->n < warm + horizon + m / 2 + 1)
		return MAS_STATS_OK;
	origins = s->n - warm - horizon + 1;
	if (origins > MAS_FORECAST_CHECKED)
		origins = MAS_FORECAST_CHECKED;
	/* the refits see half the series at least: fitted on much less,
	 * a seasonal ETS model would lose the check for want of data */
	if (s->n - horizon + 1 - origins < s->n / 2)
		origins = s->n - horizon + 1 - s->n / 2;
	from = s->n - horizon - origins + 1;
	if (origins < m / 2 + 1 ||
	    from < mas_stats_ets_min_length(f->ets.model, f->period))
		return MAS_STATS_OK;
	fm.ets_y = s->y;
	mas_stats_ets_init(&ets);
	memset(&th, 0, sizeof(th));
	mas_stats_ets_init(&th.ses);
	status = fit_before(&ets, &th, f, s, from);
	if (status == MAS_STATS_OK)
		status = score_methods(f, &fm, s, from, origins, horizon, fc);
	if (status == MAS_STATS_OK)
		f->checked = origins;
	mas_stats_ets_release(&ets);
	theta_release(&th);
	/* a model that cannot be refitted on fewer values is no reason to
	 * give up the forecast: ETS stays, unchecked */
	return status == MAS_STATS_ENOMEM ? status : MAS_STATS_OK;
}

/* ------------------------------------------------------------------ */
/* Intervals                                                           */

/* A method's point forecasts and uncalibrated bounds. */
static int single_forecast(enum mas_forecast_method method,
                           const struct mas_forecast *f,
                           const struct theta *th, const struct series *s,
                           double *mean, double *lower, double *upper)
{
	double z = mas_stats_normal_quantile((1 + f->coverage) / 2);
	size_t h, m = s->m, horizon = f->horizon;
	int status = MAS_STATS_OK;

	if (method == MAS_FORECAST_ETS)
		return mas_stats_ets_forecast(&f->ets, horizon, f->coverage,
		                              mean, lower, upper);
	if (method == MAS_FORECAST_SNAIVE) {
		double sum = 0;

		for (h = m; h < s->n; h++)
			sum += pow(s->y[h] - s->y[h - m], 2);
		for (h = 1; h <= horizon; h++) {
			double sd = sqrt(sum / (double)(s->n - m) *
			                 (double)((h - 1) / m + 1));

			mean[h - 1] = s->y[s->n - m + (h - 1) % m];
			lower[h - 1] = mean[h - 1] - z * sd;
			upper[h - 1] = mean[h - 1] + z * sd;
		}
		return status;
	}
	status = mas_stats_ets_forecast(&th->ses, horizon, f->coverage,
	                                mean, lower, upper);
	for (h = 1; status == MAS_STATS_OK && h <= horizon; h++) {
		double half = upper[h - 1] - mean[h - 1];
		double index = th->index[(s->n + h - 1) % m];

		mean[h - 1] = theta_point(th, m, th->ses.level, s->n, h);
		if (th->mult)
			half *= index;
		lower[h - 1] = mean[h - 1] - half;
		upper[h - 1] = mean[h - 1] + half;
	}
	return status;
}

/* The winner's point forecasts and uncalibrated bounds; Comb's are the
 * means of the other three methods' forecasts and bounds. */
static int method_forecast(struct mas_forecast *f, const struct theta *th,
                           const struct series *s)
{
	size_t h, H = f->horizon;
	double *part;
	int status, other;

	if (f->method != MAS_FORECAST_COMB)
		return single_forecast(f->method, f, th, s, f->mean, f->lower,
		                       f->upper);
	part = malloc(3 * H * sizeof(double));
	if (!part)
		return MAS_STATS_ENOMEM;
	status = single_forecast(MAS_FORECAST_ETS, f, th, s, f->mean,
	                         f->lower, f->upper);
	for (other = 1; status == MAS_STATS_OK && other < MAS_FORECAST_COMB;
	     other++) {
		status = single_forecast(other, f, th, s, part, part + H,
		                         part + 2 * H);
		for (h = 0; status == MAS_STATS_OK && h < H; h++) {
			f->mean[h] += part[h];
			f->lower[h] += part[H + h];
			f->upper[h] += part[2 * H + h];
		}
	}
	for (h = 0; h < H; h++) {
		f->mean[h] /= 3;
		f->lower[h] /= 3;
		f->upper[h] /= 3;
	}
	free(part);
	return status;
}

/* Parameters the winner estimated, for the small-sample t. */
static double estimated(const struct mas_forecast *f)
{
	if (f->method == MAS_FORECAST_ETS)
		return (double)f->ets.k;
	if (f->method == MAS_FORECAST_THETA)
		return 3;
	if (f->method == MAS_FORECAST_COMB)
		return (double)f->ets.k + 3;
	return 1;
}

/* Fewest errors a step's own factor is measured on; steps with fewer
 * take the factor of the step before. */
#define CALIBRATION_MIN 5

/* The factor sd must be multiplied by for the errors' spread: the
 * root mean square of n ratios |e| / sd. */
static double step_factor(const double *ratio, size_t n)
{
	size_t i;
	double total = 0;

	for (i = 0; i < n; i++)
		total += ratio[i] * ratio[i];
	return sqrt(total / (double)n);
}

/* Ratios |e| / sd of the h-step errors of the winner's forecasts from
 * every origin after the warm-up, into ratio[(h - 1) slots ...]. */
static void error_ratios(const struct mas_forecast *f,
                         const struct series *s, const double *fc,
                         size_t warm, size_t horizon, double *ratio,
                         size_t *count)
{
	double z = mas_stats_normal_quantile((1 + f->coverage) / 2);
	size_t t, h, slots = s->n - warm;
	int relative = f->method == MAS_FORECAST_ETS &&
	               mas_stats_ets_error_mult(f->ets.model);

	for (t = warm; t < s->n; t++)
		for (h = 1; h <= horizon && t + h - 1 < s->n; h++) {
			double sd = (f->upper[h - 1] - f->lower[h - 1]) /
			            (2 * z);
			double e = s->y[t + h - 1] -
			           fc[(t - warm) * horizon + h - 1];

			if (relative) {
				e /= fc[(t - warm) * horizon + h - 1];
				sd /= fabs(f->mean[h - 1]);
			}
			if (!(sd > 0) || !isfinite(e))
				continue;
			ratio[(h - 1) * slots + count[h - 1]++] = fabs(e) / sd;
		}
}

/*
 * Short series: the winner refitted on the values before each of the
 * last origins (at most MAS_FORECAST_REFITS, after half the series),
 * its h-step errors from there as ratios to sd_h; ETS only (the
 * benchmarks have little to estimate).  Returns the origins used.
 */
static size_t refit_ratios(const struct mas_forecast *f,
                           const struct series *s, size_t horizon,
                           double *ratio, size_t slots, size_t *count)
{
	double z = mas_stats_normal_quantile((1 + f->coverage) / 2);
	double *ahead = malloc(horizon * sizeof(double));
	size_t t, h, first = s->n / 2, used = 0;
	size_t need = mas_stats_ets_min_length(f->ets.model, f->period);
	int relative = mas_stats_ets_error_mult(f->ets.model);
	struct mas_stats_ets fit;

	if (!ahead)
		return 0;
	if (first < need)
		first = need;
	if (s->n > first + MAS_FORECAST_REFITS)
		first = s->n - MAS_FORECAST_REFITS;
	mas_stats_ets_init(&fit);
	for (t = first; t < s->n; t++) {
		if (mas_stats_ets_fit(&fit, f->ets.model, s->y, t,
		                      f->period) != MAS_STATS_OK ||
		    mas_stats_ets_forecast(&fit, horizon, f->coverage, ahead,
		                           NULL, NULL) != MAS_STATS_OK)
			continue;
		used++;
		for (h = 1; h <= horizon && t + h - 1 < s->n; h++) {
			double sd = (f->upper[h - 1] - f->lower[h - 1]) /
			            (2 * z);
			double e = s->y[t + h - 1] - ahead[h - 1];

			if (relative) {
				e /= ahead[h - 1];
				sd /= fabs(f->mean[h - 1]);
			}
			if (!(sd > 0) || !isfinite(e) || count[h - 1] >= slots)
				continue;
			ratio[(h - 1) * slots + count[h - 1]++] = fabs(e) / sd;
		}
	}
	mas_stats_ets_release(&fit);
	free(ahead);
	return used;
}

/*
 * Step 3 of forecast.h: a factor per step from the errors of forecasts
 * from every origin after the warm-up.
 */
static int calibrate(struct mas_forecast *f, const struct theta *th,
                     const struct series *s, double *fc)
{
	struct methods fm = { &f->ets, s->input, th };
	double z = mas_stats_normal_quantile((1 + f->coverage) / 2);
	double df = (double)s->n - estimated(f), small = 1, last = 1;
	double *ratio = NULL;
	size_t warm = s->m > 1 ? 2 * s->m : 3, h, used = 0, *count = NULL;
	size_t horizon = f->horizon;
	int status = MAS_STATS_OK, refit = 0;

	if (warm < f->ets.k)
		warm = f->ets.k;
	if (horizon > s->n)
		horizon = s->n;
	if (df >= 1)
		small = mas_stats_t_quantile((1 + f->coverage) / 2, df) / z;
	if (s->n > warm + 1) {
		ratio = malloc((s->n - warm) * horizon * sizeof(double));
		count = calloc(horizon, sizeof(size_t));
		if (!ratio || !count)
			status = MAS_STATS_ENOMEM;
	}
	if (status == MAS_STATS_OK && ratio &&
	    f->method == MAS_FORECAST_ETS && s->n <= MAS_FORECAST_SHORT) {
		refit = refit_ratios(f, s, horizon, ratio, s->n - warm,
		                     count) > 0;
	}
	if (status == MAS_STATS_OK && ratio && !refit) {
		status = origin_forecasts(f->method, &fm, s, warm, horizon,
		                          fc);
		if (status == MAS_STATS_OK)
			error_ratios(f, s, fc, warm, horizon, ratio, count);
	}
	f->widening = 0;
	for (h = 0; status == MAS_STATS_OK && h < f->horizon; h++) {
		if (ratio && h < horizon && count[h] >= CALIBRATION_MIN) {
			/* never narrower than a nearer step's */
			double c = step_factor(ratio + h * (s->n - warm),
			                       count[h]);

			/* a variance measured on count[h] errors */
			if (refit)
				c *= mas_stats_t_quantile(
					(1 + f->coverage) / 2,
					(double)count[h]) / z;
			last = fmax(last, c);
			used += count[h];
		}
		f->factor[h] = refit ? last : last * small;
		f->widening += f->factor[h] / (double)f->horizon;
	}
	f->calibration_errors = used;
	free(ratio);
	free(count);
	return status;
}

static void widen(struct mas_forecast *f)
{
	size_t h;

	for (h = 0; h < f->horizon; h++) {
		double c = f->factor[h];

		f->lower[h] = f->mean[h] - c * (f->mean[h] - f->lower[h]);
		f->upper[h] = f->mean[h] + c * (f->upper[h] - f->mean[h]);
	}
}

static void truncate_at_zero(struct mas_forecast *f, const double *y,
                             size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (isfinite(y[i]) && y[i] < 0)
			return;
	f->truncated = 1;
	for (i = 0; i < f->horizon; i++) {
		f->mean[i] = fmax(f->mean[i], 0);
		f->lower[i] = fmax(f->lower[i], 0);
		f->upper[i] = fmax(f->upper[i], 0);
	}
}

/* ------------------------------------------------------------------ */

static int forecast_arrays(struct mas_forecast *f, size_t horizon)
{
	f->horizon = horizon;
	f->mean = malloc(horizon * sizeof(double));
	f->lower = malloc(horizon * sizeof(double));
	f->upper = malloc(horizon * sizeof(double));
	f->factor = malloc(horizon * sizeof(double));
	return f->mean && f->lower && f->upper && f->factor ? MAS_STATS_OK
	                                       : MAS_STATS_ENOMEM;
}

/* Steps 2 to 4, once ETS has fitted. */
static int forecast_steps(struct mas_forecast *f, struct series *s)
{
	struct theta th;
	size_t warm = s->m > 1 ? 2 * s->m : 3;
	double *fc = malloc((s->n > warm ? s->n - warm : 1) * f->horizon *
	                    sizeof(double));
	int status = fc ? MAS_STATS_OK : MAS_STATS_ENOMEM;

	memset(&th, 0, sizeof(th));
	mas_stats_ets_init(&th.ses);
	if (status == MAS_STATS_OK && s->m >= 2 &&
	    theta_fit(&th, s, s->n) == MAS_STATS_OK) {
		f->theta_seasonal = th.seasonal;
		f->theta_alpha = th.ses.params.alpha;
		f->theta_drift = th.drift;
		status = seasonal_check(f, s, fc);
	}
	if (status == MAS_STATS_OK)
		status = method_forecast(f, &th, s);
	if (status == MAS_STATS_OK)
		status = calibrate(f, &th, s, fc);
	if (status == MAS_STATS_OK) {
		widen(f);
		truncate_at_zero(f, s->input, s->count);
	}
	theta_release(&th);
	free(fc);
	return status;
}

int mas_forecast_make(struct mas_forecast *f, const double *y, size_t count,
                      size_t period, size_t horizon, double coverage)
{
	struct series s = { NULL, 0, period >= 2 ? period : 1, y, count };
	int status;

	if (!f)
		return MAS_STATS_EINVAL;
	mas_forecast_release(f);
	if ((!y && count) || horizon == 0 || !(coverage > 0 && coverage < 1))
		return MAS_STATS_EINVAL;
	f->period = period >= 2 ? period : 0;
	f->coverage = coverage;
	status = mas_stats_ets_auto(&f->ets, y, count, f->period, f->aicc);
	if (status == MAS_STATS_OK)
		status = mas_stats_fill_gaps(y, count, &s.y, NULL, &s.n, NULL);
	if (status == MAS_STATS_OK)
		status = forecast_arrays(f, horizon);
	if (status == MAS_STATS_OK)
		status = forecast_steps(f, &s);
	free(s.y);
	if (status != MAS_STATS_OK)
		mas_forecast_release(f);
	return status;
}
