/*
 * stats.h — the numeric engine of mas-analyze: descriptive statistics,
 * least-squares trend with significance, exponential-smoothing forecasts
 * with prediction intervals, seasonal period detection, robust anomalies
 * and correlations.  Depends on libc and libm only.
 *
 * Conventions that hold for every function below:
 *
 * - Missing values.  Any non-finite input (NaN, +inf, -inf) is a missing
 *   value.  Each function says what it does with them; none fails because
 *   of them.
 * - Status.  Functions that can fail return an enum mas_stats_status
 *   (MAS_STATS_OK is 0); mas_stats_strerror() names it.  On failure the
 *   output struct is still filled: counts are set and every number that
 *   could not be computed is NaN, so a caller may print what it got.  NaN
 *   is never a crash; JSON writers should map it to null.
 * - Ownership.  Inputs are borrowed (const) and never kept.  Structs that
 *   own memory have _init and _release; _release accepts NULL and leaves
 *   the struct initialised, so it may be filled again.  A function that
 *   fills such a struct releases what it held first.
 * - Units.  Results are in the units of the input; indices are positions in
 *   the input arrays (0-based); "time" for a trend without x is the
 *   position.
 * - Nothing here reads global state, allocates behind the caller's back or
 *   uses randomness (the simulated intervals draw from a fixed seed):
 *   same input, same output.  Every function is safe to call from
 *   several threads at once on different structs.
 */
#ifndef MAS_STATS_H
#define MAS_STATS_H

#include <stddef.h>

enum mas_stats_status {
	MAS_STATS_OK = 0,
	MAS_STATS_EINVAL,     /* bad argument (NULL, probability, period) */
	MAS_STATS_ENOMEM,     /* an allocation failed */
	MAS_STATS_ESHORT,     /* too few non-missing values */
	MAS_STATS_EDEGENERATE, /* no spread to work with (a constant) */
	MAS_STATS_ERANGE       /* values so large their squares overflow */
};

/* A static, lowercase message for a status, e.g. "too few values". */
const char *mas_stats_strerror(int status);

/* ------------------------------------------------------------------ */
/* Descriptive statistics                                              */

struct mas_stats_summary {
	size_t n;       /* finite values */
	size_t missing; /* non-finite values, skipped */
	double sum;     /* 0 when n == 0 (compensated summation) */
	double mean;
	double sd;      /* sample standard deviation (n - 1); NaN if n < 2 */
	double min, max;
	double q1, median, q3; /* mas_stats_quantile at 0.25, 0.5, 0.75 */
};

/*
 * Summarises values[0..count-1], skipping missing values.  Returns
 * MAS_STATS_ESHORT when n == 0 (then sum is 0 and the rest NaN),
 * MAS_STATS_ENOMEM, MAS_STATS_EINVAL for NULL out (or NULL values with
 * count > 0), else MAS_STATS_OK.  n == 1 is OK: sd is NaN, the other
 * statistics equal the value.
 */
int mas_stats_describe(struct mas_stats_summary *out, const double *values,
                       size_t count);

/*
 * Sorts values[0..n-1] ascending in place; they must all be finite.  A
 * radix sort on the bit patterns for n >= 256 (linear time, stable),
 * qsort below that or if scratch memory cannot be had.
 */
void mas_stats_sort(double *values, size_t n);

/*
 * The p-quantile (0 <= p <= 1) of n values sorted ascending, all finite,
 * by linear interpolation between order statistics: numpy's default
 * (method "linear", Hyndman & Fan type 7), h = (n - 1) p.  NaN when n == 0
 * or p is outside [0, 1].
 */
double mas_stats_quantile(const double *sorted, size_t n, double p);

/* ------------------------------------------------------------------ */
/* Distributions.  All return NaN for NaN arguments or df <= 0; df may  */
/* be fractional; df > 1e10 (and +inf) gives the normal distribution.   */
/* Accuracy: 1e-11 relative or better for df <= 1e6, tails included.  */

/* Standard normal P(Z <= z). */
double mas_stats_normal_cdf(double z);

/* z with P(Z <= z) = p; -inf at 0, +inf at 1, NaN outside [0, 1]. */
double mas_stats_normal_quantile(double p);

/* Student t P(T <= t) with df degrees of freedom. */
double mas_stats_t_cdf(double t, double df);

/* Two-sided p-value P(|T| >= |t|); exact in the tails (no 1 - x loss). */
double mas_stats_t_pvalue(double t, double df);

/* t with P(T <= t) = p; -inf at 0, +inf at 1, NaN outside [0, 1]. */
double mas_stats_t_quantile(double p, double df);

/* Regularised incomplete beta I_x(a, b), a, b > 0, 0 <= x <= 1. */
double mas_stats_beta_regularized(double a, double b, double x);

/* ------------------------------------------------------------------ */
/* Trend: ordinary least squares of y on x                             */

struct mas_stats_trend {
	size_t n;            /* pairs used */
	double slope;        /* units of y per unit of x */
	double intercept;    /* y at x = 0 */
	double slope_se;     /* standard error of the slope */
	double intercept_se;
	double t;            /* slope / slope_se */
	double p_value;      /* two-sided, Student t with n - 2 df */
	double r_squared;
	double residual_sd;  /* sqrt(SSE / (n - 2)) */
};

/*
 * Fits y = intercept + slope * x over the pairs where both are finite;
 * x NULL means x[i] = i.  Results, by case:
 *   n >= 3, x varies:  everything; MAS_STATS_OK.  A perfect fit gives
 *     slope_se 0, t = +-inf, p_value 0; a constant y gives slope 0,
 *     slope_se 0, t 0, p_value 1, r_squared 0 (as scipy's linregress).
 *   n == 2, x varies:  slope, intercept, r_squared (1); the rest NaN;
 *     MAS_STATS_ESHORT.
 *   n < 2:  all NaN; MAS_STATS_ESHORT.
 *   x constant (n >= 2):  all NaN; MAS_STATS_EDEGENERATE.
 */
int mas_stats_trend(struct mas_stats_trend *out, const double *x,
                    const double *y, size_t count);

/*
 * residuals[i] = y[i] - (intercept + slope * x[i]) for i < count, NaN where
 * x[i] or y[i] is missing or the fit has no slope.  x NULL as above.
 * residuals is the caller's, count long.  MAS_STATS_EINVAL on NULL.
 */
int mas_stats_trend_residuals(const struct mas_stats_trend *fit,
                              const double *x, const double *y,
                              size_t count, double *residuals);

/* ------------------------------------------------------------------ */
/* Gaps                                                                */

/*
 * The span the models fit: y[0..count-1] without its leading and
 * trailing missing values, interior ones filled by linear interpolation.
 * *values (n doubles, malloc'd, the caller's to free) holds them; *first
 * is the index in y of the first, *filled counts the values filled (each
 * out pointer but values may be NULL).  MAS_STATS_ESHORT (values NULL)
 * when no value is finite, MAS_STATS_ENOMEM, MAS_STATS_EINVAL on NULL.
 */
int mas_stats_fill_gaps(const double *y, size_t count, double **values,
                        size_t *first, size_t *n, size_t *filled);

/* ------------------------------------------------------------------ */
/* Exponential smoothing (ETS)                                         */
/*
 * The innovations state-space models of Hyndman, Koehler, Ord & Snyder,
 * "Forecasting with Exponential Smoothing" (2008), with the model set,
 * parameter bounds and selection of R's forecast::ets().  A model is
 * named by its error (A additive, M multiplicative), trend (N none, A
 * additive, Ad damped) and season (N, A, M).  With level l, trend b and
 * seasonal state s = s_{t-m} before value t, q = l + phi b (b = 0
 * without trend, phi = 1 without damping):
 *
 *   forecast    yhat_t = q + s           (additive or no season, s = 0)
 *               yhat_t = q s             (multiplicative season)
 *   error       e_t = y_t - yhat_t       (A);  (y_t - yhat_t) / yhat_t (M)
 *   updates     l_t = q + alpha u,  b_t = phi b + beta u,
 *               s_t = s + gamma v,  where u = v = y_t - yhat_t with an
 *               additive season, u = (y_t - yhat_t) / s and
 *               v = (y_t - yhat_t) / q with a multiplicative one
 *   forecast h steps after the last value n:
 *               (l_n + (phi + ... + phi^h) b_n) (+ or x) s_{n+h-m(k+1)},
 *               k = (h-1)/m
 *
 * These updates are the same for both error types (R's etscalc.c writes
 * them so); the error type changes the likelihood and the intervals.
 * beta is the book's beta (= alpha * beta* of Holt's form; statsmodels'
 * holtwinters takes beta*, its ETSModel beta); gamma is the book's gamma.
 *
 * Missing values: leading and trailing ones are dropped; interior ones
 * are filled by linear interpolation before fitting (counted in
 * .interpolated), their residuals are NaN and their fitted values kept.
 */
enum mas_stats_ets_model {
	MAS_STATS_ETS_ANN,  /* simple exponential smoothing */
	MAS_STATS_ETS_AAN,  /* Holt's linear trend */
	MAS_STATS_ETS_AADN, /* damped trend */
	MAS_STATS_ETS_ANA,  /* level and additive season */
	MAS_STATS_ETS_AAA,  /* additive Holt-Winters */
	MAS_STATS_ETS_AADA, /* damped additive Holt-Winters */
	MAS_STATS_ETS_MNN,  /* the same six with multiplicative errors */
	MAS_STATS_ETS_MAN,
	MAS_STATS_ETS_MADN,
	MAS_STATS_ETS_MNA,
	MAS_STATS_ETS_MAA,
	MAS_STATS_ETS_MADA,
	MAS_STATS_ETS_MNM,  /* multiplicative season (and errors) */
	MAS_STATS_ETS_MAM,  /* multiplicative Holt-Winters */
	MAS_STATS_ETS_MADM
};
#define MAS_STATS_ETS_MODELS 15

/* Seasonal initial states are estimated only up to this period; beyond
 * it they stay at the classical decomposition's indices (R's ets()
 * fits no seasonal model there at all). */
#define MAS_STATS_ETS_OPTIMISED_PERIOD 24

/* Paths simulated for the intervals of models without a closed form. */
#define MAS_STATS_ETS_PATHS 1000

struct mas_stats_ets_params {
	double alpha; /* level, 1e-4 <= alpha <= 0.9999 */
	double beta;  /* trend, 1e-4 <= beta <= alpha; 0 without trend */
	double gamma; /* season, 1e-4 <= gamma <= 1 - alpha; 0 without */
	double phi;   /* damping, 0.8 <= phi <= 0.98; 1 when not damped */
};

struct mas_stats_ets {
	enum mas_stats_ets_model model;
	size_t period;      /* m; 0 for non-seasonal models */
	struct mas_stats_ets_params params;
	double level0;      /* initial level l_0 (before the first value) */
	double trend0;      /* initial trend b_0; 0 without trend */
	double *season0;    /* m initial seasonal states; season0[j] is used
	                       by the j-th value fitted; NULL if no season */
	double level, trend;/* states after the last value fitted */
	double *season;     /* m final seasonal states; season[k] applies to
	                       forecast steps h with (h - 1) % m == k */
	size_t count;       /* length of the input */
	size_t first, n;    /* values fitted: input[first .. first + n - 1] */
	size_t interpolated;/* interior missing values filled */
	double *fitted;     /* count one-step forecasts; NaN off the span */
	double *residuals;  /* count y - fitted (for either error type);
	                       NaN where y is missing */
	double sse;         /* sum of squared y - fitted over the n values
	                       (interpolated ones included) */
	size_t k;           /* parameters: smoothing ones + initial states, the
	                       seasonal ones counted m - 1 (Hyndman) */
	double sigma2;      /* variance of the errors e_t: sum e_t^2 / (n - k),
	                       relative errors for M models; NaN if n <= k */
	double loglik;      /* Gaussian log-likelihood at the estimate:
	                       -n/2 (log(2 pi E/n) + 1) - [M] sum log|yhat_t|,
	                       E = sum e_t^2, floored as told at
	                       mas_stats_ets_fit */
	double aic;         /* -2 loglik + 2 (k + 1), the +1 for sigma^2 */
	double aicc;        /* aic + 2 (k+1)(k+2) / (n - k - 2); NaN if the
	                       denominator is not positive */
};

/* Short name: "ANN", "AAdN", "MAdM", ...; "?" for no model. */
const char *mas_stats_ets_name(enum mas_stats_ets_model model);

/* Whether the model has multiplicative errors, a trend, a damped trend, a
 * season, a multiplicative season (0 or 1 each; 0 for no model). */
int mas_stats_ets_error_mult(enum mas_stats_ets_model model);
int mas_stats_ets_has_trend(enum mas_stats_ets_model model);
int mas_stats_ets_damped(enum mas_stats_ets_model model);
int mas_stats_ets_seasonal(enum mas_stats_ets_model model);
int mas_stats_ets_season_mult(enum mas_stats_ets_model model);

/*
 * Fewest values (after trimming missing ends) mas_stats_ets_fit accepts:
 * k + 3, where k is as in struct mas_stats_ets, and for seasonal models
 * at least 2m + 2.  So ANN 5, AAN 7, AAdN 8; ANA, AAA, AAdA
 * max(2m + 2, m + 5 | m + 7 | m + 8); the M models as their A twins.
 * 0 for a seasonal model with m < 2 or an unknown model.
 */
size_t mas_stats_ets_min_length(enum mas_stats_ets_model model,
                                size_t period);

void mas_stats_ets_init(struct mas_stats_ets *fit);
void mas_stats_ets_release(struct mas_stats_ets *fit);

/*
 * Fits a model to y[0..count-1] with period m (ignored, stored as 0, for
 * non-seasonal models; must be >= 2 for seasonal ones).  Models with
 * multiplicative errors or season need every value > 0 (else
 * MAS_STATS_EINVAL).
 *
 * The smoothing parameters maximise the likelihood (R's opt.crit "lik":
 * n log E, plus 2 sum log|yhat_t| for M errors) by Nelder-Mead inside
 * the usual bounds of struct mas_stats_ets_params (logistic transforms),
 * from R's initparam start, with up to two restarts when the simplex
 * collapsed short of the optimum.  Initial states: the seasonal indices of a
 * classical decomposition (additive or multiplicative; centred moving
 * average, 2 x m when m is even) of the first min(3, n/m) whole periods,
 * and a least-squares line through the first max(10, 2m) seasonally
 * adjusted values, as R's initstate.  For models without a
 * multiplicative season the errors are affine in the initial states, so
 * the states that minimise the sum of squared errors are found exactly
 * by linear least squares (level, trend and m - 1 seasonal states, the
 * m-th making their sum 0): for every point the optimiser tries when
 * that is cheap (n (states)^2 <= 2000: every non-seasonal fit and
 * the shortest seasonal ones), else once at the optimum, which is then
 * searched again from the new states, states and parameters in turn
 * while that gains (4 rounds at most).  Nelder-Mead restarts from its
 * optimum with a simplex a fifth the size, to check it did not
 * collapse short of it; the restart goes on only when a vertex of that
 * simplex is lower than the optimum (by 1e-3 of the criterion; 98-99 %
 * of restarts on series-gen's series stop there, after one evaluation
 * per parameter).  When m >
 * MAS_STATS_ETS_OPTIMISED_PERIOD the seasonal states stay at the
 * decomposition's indices, and k still counts them.
 *
 * Returns MAS_STATS_EINVAL (NULL, unknown model, seasonal with m < 2, a
 * multiplicative model over a value <= 0), MAS_STATS_ESHORT (fewer than
 * mas_stats_ets_min_length values), MAS_STATS_ERANGE (values near 1e154
 * or beyond, or no parameters keep the model finite),
 * MAS_STATS_ENOMEM, or MAS_STATS_OK.  A series fitted exactly (E 0,
 * e.g. a constant) is OK; its likelihood uses E floored at
 * n (1e-15 max|y|)^2 (max|y| taken as 1 if 0; n 1e-30 for M errors) so
 * that scores stay finite and the simplest model wins a tie.
 */
int mas_stats_ets_fit(struct mas_stats_ets *fit,
                      enum mas_stats_ets_model model, const double *y,
                      size_t count, size_t period);

/*
 * Runs a model with given parameters and initial states, no fitting:
 * params are used as given (bounds not checked), season0 (m values,
 * NULL without season) as described in struct mas_stats_ets.  Fills fit
 * as mas_stats_ets_fit does; sigma2, aic and aicc are NaN when n is too
 * small for them.  MAS_STATS_ESHORT when no value is finite.
 */
int mas_stats_ets_smooth(struct mas_stats_ets *fit,
                         enum mas_stats_ets_model model, const double *y,
                         size_t count, size_t period,
                         const struct mas_stats_ets_params *params,
                         double level0, double trend0, const double *season0);

/*
 * Fits every candidate and keeps the one with the lowest AICc (a tie goes
 * to the earlier model in enum order), as R's ets(y) with its defaults
 * (restrict = TRUE, no multiplicative trend).  Candidates, each when long
 * enough (mas_stats_ets_min_length): ANN, AAN, AAdN; ANA, AAA, AAdA when
 * period >= 2; when every value is > 0 also the M-error twins of these,
 * and MNM, MAM, MAdM when period >= 2.  aicc, if not NULL, receives
 * MAS_STATS_ETS_MODELS scores indexed by model, NaN for models not
 * tried.  MAS_STATS_OK when some candidate fitted; else the failure of
 * the last one tried (MAS_STATS_ERANGE, MAS_STATS_ENOMEM), or
 * MAS_STATS_ESHORT when the series is too short for any; best then
 * holds no model.
 */
int mas_stats_ets_auto(struct mas_stats_ets *best, const double *y,
                       size_t count, size_t period,
                       double aicc[MAS_STATS_ETS_MODELS]);

/*
 * Point forecasts mean[h-1] for h = 1..horizon (the formula above), and,
 * if lower and upper are not NULL, prediction intervals of the given
 * coverage (0 < coverage < 1, e.g. 0.95), z the normal quantile at
 * (1 + coverage) / 2:
 *   A errors, no multiplicative season (class 1 of Hyndman et al. 2008,
 *   Table 6.1): mean -/+ z sqrt(v_h),
 *     v_h = sigma2 (1 + sum_{j=1}^{h-1} c_j^2),
 *     c_j = alpha + beta (phi + ... + phi^j) + gamma [j % m == 0];
 *   MNN, MAN, MAdN (class 2): the same with
 *     v_h = (1 + sigma2) theta_h - mean_h^2, theta_1 = mean_1^2,
 *     theta_h = mean_h^2 + sigma2 sum_{j=1}^{h-1} c_j^2 theta_{h-j};
 *   the other M models: the quantiles of MAS_STATS_ETS_PATHS sample
 *     paths (fewer when horizon > 400), simulated with Gaussian errors
 *     of variance sigma2 from a fixed seed, so the same fit gives the
 *     same bounds.
 * Uses fit->sigma2 as it is, so a caller may set its own.  Bounds are NaN
 * when sigma2 is.  Arrays are the caller's, horizon long.
 * MAS_STATS_EINVAL for a fit that holds no model, NULL mean, or a bad
 * coverage; MAS_STATS_ENOMEM (simulation only).
 */
int mas_stats_ets_forecast(const struct mas_stats_ets *fit, size_t horizon,
                           double coverage, double *mean, double *lower,
                           double *upper);

/*
 * Forecasts from past origins, for rolling-origin checks without a
 * refit: with the fitted parameters and initial states, the model is run
 * through its values again, and at each origin t = from .. n - 1 (values
 * of the fitted span consumed, so from >= 1) the forecasts of the next
 * horizon values are written to out[(t - from) horizon + h - 1]
 * (h = 1..horizon), whether or not those values exist.  out holds
 * (n - from) horizon doubles, the caller's.  MAS_STATS_EINVAL for a fit
 * without a model, a from outside 1..n - 1, or NULL out; y must be the
 * input the fit was made on (its gaps are filled again).
 */
int mas_stats_ets_origin_forecasts(const struct mas_stats_ets *fit,
                                   const double *y, size_t from,
                                   size_t horizon, double *out);

/* ------------------------------------------------------------------ */
/* Seasonal period                                                     */

#define MAS_STATS_SEASON_THRESHOLD 0.3

struct mas_stats_season {
	size_t period; /* 0 when none */
	double acf;    /* autocorrelation at period; NaN when period is 0 */
	double bound;  /* 1.96 / sqrt(n) */
	size_t n;      /* values used (trimmed, gaps filled) */
};

/*
 * Detects a seasonal period in y.  Missing values are treated as in ETS
 * (ends dropped, interior filled linearly); the series is detrended by a
 * least-squares line on its position; r_k is its sample autocorrelation
 * (mas_stats_acf).  A lag p in [2, P], P = max_period clamped to n/2 (0
 * means n/2), qualifies when r_p > r_{p-1}, r_p >= r_{p+1} (a local peak),
 * r_p > threshold, r_p > 1.96/sqrt(n), and r_p - min_{1<=k<p} r_k >=
 * threshold (the ACF dipped before the peak: a curved trend left by the
 * line makes an ACF that decays slowly from lag 1, and the noise's bumps
 * on it are no season).  The period is the qualifying lag with the
 * highest r_p, except that a smaller qualifying lag dividing it with r
 * at least 0.9 of the highest wins (so 7 rather than 14).
 * period is 0 when no lag qualifies, when the series is constant, or when
 * a line explains it to 1e-10 (relative residual sd): nothing is left.
 * MAS_STATS_ESHORT (period 0) when n < 8; MAS_STATS_EINVAL on NULL.
 */
int mas_stats_season_detect(struct mas_stats_season *out, const double *y,
                            size_t count, size_t max_period,
                            double threshold);

/*
 * Sample autocorrelation of x[0..n-1], all finite: acf[k] =
 * sum_t (x_t - xbar)(x_{t+k} - xbar) / sum_t (x_t - xbar)^2 for
 * k = 0..max_lag (statsmodels' acf, adjusted=False); acf has max_lag + 1
 * entries.  MAS_STATS_EINVAL for NULL, a missing value or max_lag >= n;
 * MAS_STATS_EDEGENERATE (acf NaN) when x is constant.
 */
int mas_stats_acf(double *acf, const double *x, size_t n, size_t max_lag);

/* ------------------------------------------------------------------ */
/* Robust anomalies (Iglewicz & Hoaglin modified z-scores)             */

#define MAS_STATS_ANOMALY_THRESHOLD 3.5

/*
 * z[i] = 0.6745 (x[i] - median) / MAD, median and MAD (median absolute
 * deviation from the median) over the finite values; z[i] NaN where x[i]
 * is missing.  When MAD is 0 (over half the values equal), z[i] =
 * (x[i] - median) / (1.253314 MeanAD), MeanAD the mean absolute deviation
 * from the median; when that is 0 too (all values equal), every z is 0.
 * median_out and mad_out may be NULL.  MAS_STATS_ESHORT (z all NaN) when
 * no value is finite; MAS_STATS_ENOMEM; MAS_STATS_EINVAL on NULL.
 */
int mas_stats_robust_z(double *z, const double *x, size_t count,
                       double *median_out, double *mad_out);

struct mas_stats_anomalies {
	size_t count;  /* anomalies found */
	size_t *index; /* their positions in the input, ascending */
	double *value; /* their input values */
	double *score; /* their modified z-scores */
	double median; /* of the finite input values */
	double mad;    /* MAD; 0 means the MeanAD fallback was used */
};

void mas_stats_anomalies_init(struct mas_stats_anomalies *found);
void mas_stats_anomalies_release(struct mas_stats_anomalies *found);

/*
 * Flags the values with |z| > threshold (threshold > 0, e.g.
 * MAS_STATS_ANOMALY_THRESHOLD), z as in mas_stats_robust_z; usually given
 * the residuals of a fit.  Returns as mas_stats_robust_z, and
 * MAS_STATS_EINVAL for a threshold that is not positive.
 */
int mas_stats_anomalies_find(struct mas_stats_anomalies *found,
                             const double *x, size_t count, double threshold);

/* ------------------------------------------------------------------ */
/* Correlation                                                         */

struct mas_stats_correlation {
	size_t n;       /* pairs with both values finite */
	double r;       /* coefficient in [-1, 1] */
	double p_value; /* two-sided, t = r sqrt((n-2)/(1-r^2)), n - 2 df */
};

/*
 * Pearson's r over the pairs where both x[i] and y[i] are finite (pairwise
 * deletion).  MAS_STATS_ESHORT (r, p NaN) when n < 3; MAS_STATS_EDEGENERATE
 * (r, p NaN) when either is constant; |r| = 1 gives p 0.
 */
int mas_stats_pearson(struct mas_stats_correlation *out, const double *x,
                      const double *y, size_t count);

/*
 * Spearman's rho: Pearson's r of the ranks (ties get their average rank)
 * of the complete pairs, with the same t approximation for p (as scipy).
 * Returns as mas_stats_pearson, and MAS_STATS_ENOMEM.
 */
int mas_stats_spearman(struct mas_stats_correlation *out, const double *x,
                       const double *y, size_t count);

#endif
