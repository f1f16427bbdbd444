/*
 * forecast.h — automatic forecasts of one series: the ETS model R's
 * forecast::ets() would choose, checked against the seasonal benchmarks
 * of the M4 competition (seasonal naive, Theta), with prediction
 * intervals calibrated on the series' own forecast errors.  Depends on
 * stats.h only; no global state, no randomness (the simulated intervals
 * draw from a fixed seed), safe to call from several threads at once on
 * different structs.
 *
 * The method, in order (mas-analyze(1), "FORECASTS", is its manual):
 *
 * 1. ETS.  Every model of mas_stats_ets_auto is fitted and the lowest
 *    AICc wins (Hyndman & Khandakar 2008).
 * 2. Seasonal check.  With a period m >= 2 and enough values (2m for the
 *    models' warm-up, then MAS_FORECAST_CHECKED origins at most, each
 *    followed by a full check horizon of min(horizon, 2m) values; at
 *    least m/2 + 1 origins, none in the first half of the series, else
 *    no check), the ETS winner, seasonal
 *    naive, Theta and Comb (the mean of the three) forecast from each
 *    of the last origins.  No peeking: the ETS model and Theta are
 *    fitted again on the values before the first origin, then run
 *    through the rest with those parameters.  The lowest OWA wins (the
 *    M4 score: the mean of sMAPE and mean absolute error, each relative
 *    to seasonal naive's; a tie goes to ETS, then seasonal naive,
 *    Theta, Comb).  sMAPE and MASE are reported too.
 * 3. Intervals.  The winner's own intervals (analytic or simulated, see
 *    mas_stats_ets_forecast; seasonal naive: sigma^2 (k + 1) at step h,
 *    k = (h - 1)/m, sigma^2 the mean squared seasonal difference; Theta:
 *    those of its simple exponential smoothing, times the seasonal
 *    index; Comb: the means of the three methods' bounds) are widened
 *    by a factor c_h >= 1 per step: the root mean square of |e| / sd_h
 *    over h-step errors e (sd_h the standard deviation the interval
 *    assumes; relative errors for M models), never below a nearer
 *    step's, measured where at least 5 errors are (else the nearer
 *    step's).  On short series (n <= MAS_FORECAST_SHORT) an ETS winner
 *    is refitted on the values before each of the last
 *    MAS_FORECAST_REFITS origins after n/2, and its errors from there
 *    are truly out of sample; c_h is then multiplied by
 *    t_r((1 + coverage)/2) / z for the r errors it was measured on.
 *    Otherwise the errors are those of the final fit's forecasts from
 *    every origin after the warm-up (nearly out of sample on long
 *    series), and c_h is multiplied by t_{n-k} / z for the k
 *    parameters estimated.  Intervals that assume the model is right
 *    and its parameters known are too narrow on short series; the
 *    errors of the series' own past forecasts say by how much.
 * 4. Series that are never negative (every value >= 0) get forecasts
 *    and bounds truncated at 0.
 */
#ifndef MAS_FORECAST_H
#define MAS_FORECAST_H

#include <stddef.h>

#include "stats.h"

/* Origins of the seasonal check, at most. */
#define MAS_FORECAST_CHECKED 48

/* Series up to this long calibrate their intervals on refitted
 * forecasts, from this many origins at most. */
#define MAS_FORECAST_SHORT 48
#define MAS_FORECAST_REFITS 16

enum mas_forecast_method {
	MAS_FORECAST_ETS,
	MAS_FORECAST_SNAIVE, /* seasonal naive */
	MAS_FORECAST_THETA,  /* Theta after a classical decomposition */
	MAS_FORECAST_COMB    /* the mean of the three */
};
#define MAS_FORECAST_METHODS 4

struct mas_forecast {
	enum mas_forecast_method method; /* the winner */
	struct mas_stats_ets ets;  /* ETS's choice, fitted whenever the
	                              forecast exists (its residuals serve
	                              anomaly scoring whoever won) */
	double aicc[MAS_STATS_ETS_MODELS]; /* per model, NaN if not tried */
	size_t period;             /* m as given (0: none) */
	size_t horizon;
	double coverage;
	double *mean, *lower, *upper; /* horizon values each */
	/* the seasonal check: origins used (0: not made) and each method's
	 * score there (NaN when not made) */
	size_t checked;
	double score[MAS_FORECAST_METHODS]; /* OWA: the winner's lowest */
	double smape[MAS_FORECAST_METHODS]; /* sMAPE, % */
	double mase[MAS_FORECAST_METHODS];
	double *factor;            /* horizon factors c_h of step 3 */
	double widening;           /* their mean */
	size_t calibration_errors; /* errors it was measured on */
	int truncated;             /* the series is never negative */
	int theta_seasonal;        /* Theta deseasonalised the series */
	double theta_alpha, theta_drift;
};

void mas_forecast_init(struct mas_forecast *f);
void mas_forecast_release(struct mas_forecast *f);

/*
 * Forecasts y[0..count-1] (missing values as in stats.h) horizon steps
 * ahead (horizon >= 1) with the given period (0 or 1: none) and interval
 * coverage (0 < coverage < 1).  Returns what mas_stats_ets_auto returns
 * when no ETS model can be fitted (MAS_STATS_ESHORT for a series too
 * short, ...), MAS_STATS_EINVAL for bad arguments, MAS_STATS_ENOMEM,
 * else MAS_STATS_OK with f filled.
 */
int mas_forecast_make(struct mas_forecast *f, const double *y, size_t count,
                      size_t period, size_t horizon, double coverage);

/* "SNaive", "Theta", or the ETS model's name ("MAdM"). */
const char *mas_forecast_name(const struct mas_forecast *f);

/* Whether the winner models a season: a seasonal ETS model, seasonal
 * naive, or Theta over a deseasonalised series. */
int mas_forecast_seasonal(const struct mas_forecast *f);

/* The names of the methods, for reports: "ETS", "SNaive", "Theta". */
const char *mas_forecast_method_name(enum mas_forecast_method method);

#endif
