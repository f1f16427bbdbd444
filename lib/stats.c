/*
 * stats.c — the numeric engine of mas-analyze.  See stats.h for what each
 * function promises; comments here say why things are done as they are.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "stats.h"

/* Own constants: M_PI and friends are not ISO C. */
#define PI 3.14159265358979323846264338328
#define SQRT2 1.41421356237309504880168872421
#define LN_SQRT_2PI 0.918938533204672741780329736406
#define SQRT_2PI 2.50662827463100050241576528481

const char *mas_stats_strerror(int status)
{
	switch (status) {
	case MAS_STATS_OK:
		return "success";
	case MAS_STATS_EINVAL:
		return "invalid argument";
	case MAS_STATS_ENOMEM:
		return "out of memory";
	case MAS_STATS_ESHORT:
		return "too few values";
	case MAS_STATS_EDEGENERATE:
		return "values without spread";
	case MAS_STATS_ERANGE:
		return "values too large to compute with";
	}
	return "unknown status";
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

/* Neumaier's compensated sum: totals of long series stay exact-ish. */
struct sum {
	double total, compensation;
};

static void sum_add(struct sum *s, double x)
{
	double t = s->total + x;

	if (fabs(s->total) >= fabs(x))
		s->compensation += (s->total - t) + x;
	else
		s->compensation += (x - t) + s->total;
	s->total = t;
}

static double sum_value(const struct sum *s)
{
	return s->total + s->compensation;
}

/*
 * Sorting.  Quantiles, medians, MADs and ranks all sort, and on a million
 * values qsort's comparator calls were most of mas-analyze's time in
 * series mode.  An LSD radix sort on the IEEE-754 bit patterns is O(n)
 * and stable (so equal values keep input order, as ranks need); below
 * RADIX_MIN values qsort is cheaper than eight counting passes.
 */
#define RADIX_MIN 256

/* Maps a double to a uint64_t whose unsigned order is the double's. */
static uint64_t order_key(double value)
{
	uint64_t bits;

	memcpy(&bits, &value, sizeof(bits));
	return bits >> 63 ? ~bits : bits | (UINT64_C(1) << 63);
}

static double key_value(uint64_t key)
{
	uint64_t bits = key >> 63 ? key & ~(UINT64_C(1) << 63) : ~key;
	double value;

	memcpy(&value, &bits, sizeof(value));
	return value;
}

/* Sorts KEYS (and PAYLOAD alongside, if not NULL) using scratch space for
 * N keys and N payloads; 8 passes of 8 bits, a pass skipped when every
 * key has the same byte there. */
static void radix_sort(uint64_t *keys, size_t *payload, size_t n,
                       uint64_t *key_scratch, size_t *payload_scratch)
{
	for (int shift = 0; shift < 64; shift += 8) {
		size_t count[256] = { 0 }, offset = 0;

		for (size_t i = 0; i < n; i++)
			count[(keys[i] >> shift) & 255]++;
		if (count[(keys[0] >> shift) & 255] == n)
			continue;
		for (int b = 0; b < 256; b++) {
			size_t c = count[b];
			count[b] = offset;
			offset += c;
		}
		for (size_t i = 0; i < n; i++) {
			size_t to = count[(keys[i] >> shift) & 255]++;
			key_scratch[to] = keys[i];
			if (payload)
				payload_scratch[to] = payload[i];
		}
		memcpy(keys, key_scratch, n * sizeof(*keys));
		if (payload)
			memcpy(payload, payload_scratch, n * sizeof(*payload));
	}
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void mas_stats_sort(double *values, size_t n)
{
	uint64_t *keys = n >= RADIX_MIN ? malloc(2 * n * sizeof(*keys)) : NULL;

	if (!keys) {
		qsort(values, n, sizeof(*values), compare_doubles);
		return;
	}
	for (size_t i = 0; i < n; i++)
		keys[i] = order_key(values[i]);
	radix_sort(keys, NULL, n, keys + n, NULL);
	for (size_t i = 0; i < n; i++)
		values[i] = key_value(keys[i]);
	free(keys);
}

/* Copies the finite values of x into a new array; *n gets their count. */
static double *finite_copy(const double *x, size_t count, size_t *n)
{
	double *copy = malloc((count ? count : 1) * sizeof(*copy));
	size_t i, used = 0;

	if (!copy)
		return NULL;
	for (i = 0; i < count; i++)
		if (isfinite(x[i]))
			copy[used++] = x[i];
	*n = used;
	return copy;
}

static double median_in_place(double *values, size_t n)
{
	mas_stats_sort(values, n);
	return mas_stats_quantile(values, n, 0.5);
}

/* ------------------------------------------------------------------ */
/* Descriptive statistics                                              */

double mas_stats_quantile(const double *sorted, size_t n, double p)
{
	double h, a, b, weight;
	size_t low;

	if (!sorted || n == 0 || !(p >= 0 && p <= 1))
		return NAN;
	h = (double)(n - 1) * p;
	low = (size_t)floor(h);
	if (low >= n - 1)
		return sorted[n - 1];
	a = sorted[low];
	b = sorted[low + 1];
	weight = h - (double)low;
	/* numpy's _lerp: exact at both ends, monotone in between */
	if (weight >= 0.5)
		return b - (b - a) * (1 - weight);
	return a + (b - a) * weight;
}

static void summary_empty(struct mas_stats_summary *out, size_t count)
{
	out->n = 0;
	out->missing = count;
	out->sum = 0;
	out->mean = out->sd = out->min = out->max = NAN;
	out->q1 = out->median = out->q3 = NAN;
}

int mas_stats_describe(struct mas_stats_summary *out, const double *values,
                       size_t count)
{
	struct sum total = { 0, 0 }, deviation = { 0, 0 }, squares = { 0, 0 };
	double *sorted;
	size_t i, n;

	if (!out || (!values && count))
		return MAS_STATS_EINVAL;
	summary_empty(out, count);
	sorted = finite_copy(values, count, &n);
	if (!sorted)
		return MAS_STATS_ENOMEM;
	if (n == 0) {
		free(sorted);
		return MAS_STATS_ESHORT;
	}
	mas_stats_sort(sorted, n);
	for (i = 0; i < n; i++)
		sum_add(&total, sorted[i]);
	out->n = n;
	out->missing = count - n;
	out->sum = sum_value(&total);
	out->mean = out->sum / (double)n;
	/* two passes, with the first-order correction of the mean's error */
	for (i = 0; i < n; i++) {
		double d = sorted[i] - out->mean;

		sum_add(&deviation, d);
		sum_add(&squares, d * d);
	}
	if (n > 1) {
		double d = sum_value(&deviation);
		double ss = sum_value(&squares) - d * d / (double)n;

		out->sd = sqrt(fmax(ss, 0) / (double)(n - 1));
	}
	out->min = sorted[0];
	out->max = sorted[n - 1];
	out->q1 = mas_stats_quantile(sorted, n, 0.25);
	out->median = mas_stats_quantile(sorted, n, 0.5);
	out->q3 = mas_stats_quantile(sorted, n, 0.75);
	free(sorted);
	return MAS_STATS_OK;
}

/* ------------------------------------------------------------------ */
/* Distributions                                                       */

double mas_stats_normal_cdf(double z)
{
	return 0.5 * erfc(-z / SQRT2);
}

/*
 * Acklam's rational approximation (relative error 1.2e-9) for p <= 0.5,
 * then Halley steps on erfc, which is accurate in the tail, bring it to
 * double precision.
 */
static double normal_lower_quantile(double p)
{
	static const double a[] = { -3.969683028665376e+01,
		                    2.209460984245205e+02,
		                    -2.759285104469687e+02,
		                    1.383577518672690e+02,
		                    -3.066479806614716e+01,
		                    2.506628277459239e+00 };
	static const double b[] = { -5.447609879822406e+01,
		                    1.615858368580409e+02,
		                    -1.556989798598866e+02,
		                    6.680131188771972e+01,
		                    -1.328068155288572e+01 };
	static const double c[] = { -7.784894002430293e-03,
		                    -3.223964580411365e-01,
		                    -2.400758277161838e+00,
		                    -2.549732539343734e+00,
		                    4.374664141464968e+00,
		                    2.938163982698783e+00 };
	static const double d[] = { 7.784695709041462e-03,
		                    3.224671290700398e-01,
		                    2.445134137142996e+00,
		                    3.754408661907416e+00 };
	double x, q, r;
	int i;

	if (p < 0.02425) {
		q = sqrt(-2 * log(p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) *
		             q + c[5]) /
		    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	} else {
		q = p - 0.5;
		r = q * q;
		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) *
		             r + a[5]) * q /
		    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) *
		             r + 1);
	}
	for (i = 0; i < 3; i++) {
		double e = mas_stats_normal_cdf(x) - p;
		double u = e * SQRT_2PI * exp(x * x / 2);

		if (!isfinite(u))
			break; /* p below the smallest normal double */
		x -= u / (1 + x * u / 2);
	}
	return x;
}

double mas_stats_normal_quantile(double p)
{
	if (!(p >= 0 && p <= 1))
		return NAN;
	if (p == 0)
		return -INFINITY;
	if (p == 1)
		return INFINITY;
	if (p == 0.5)
		return 0;
	/* 1 - p is exact for p >= 0.5, and the lower tail is accurate */
	if (p > 0.5)
		return -normal_lower_quantile(1 - p);
	return normal_lower_quantile(p);
}

/* lgamma(x) - Stirling's approximation, for x >= 10 (error < 2e-14). */
static double stirling_correction(double x)
{
	double x2 = 1 / (x * x);

	return (1.0 / 12 +
	        x2 * (-1.0 / 360 +
	              x2 * (1.0 / 1260 +
	                    x2 * (-1.0 / 1680 +
	                          x2 * (1.0 / 1188 +
	                                x2 * (-691.0 / 360360)))))) /
	       x;
}

/* lgamma without its global signgam (analyses run on many threads);
 * every argument here is positive, so the sign is not wanted. */
static double log_gamma(double x)
{
	int sign;

	return lgamma_r(x, &sign);
}

/*
 * log B(a, b) without the cancellation of lgamma(a) + lgamma(b) -
 * lgamma(a + b) when an argument is large (as R's lbeta does): t tests
 * with many degrees of freedom need it.
 */
static double log_beta(double a, double b)
{
	double p = fmin(a, b), q = fmax(a, b), ratio = p / (p + q);

	if (p >= 10) {
		double correction = stirling_correction(p) +
		                    stirling_correction(q) -
		                    stirling_correction(p + q);

		return -0.5 * log(q) + LN_SQRT_2PI + correction +
		       (p - 0.5) * log(ratio) + q * log1p(-ratio);
	}
	if (q >= 10) {
		double correction =
			stirling_correction(q) - stirling_correction(p + q);

		return log_gamma(p) + correction + p - p * log(p + q) +
		       (q - 0.5) * log1p(-ratio);
	}
	return log_gamma(p) + log_gamma(q) - log_gamma(p + q);
}

#define BETA_ITERATIONS 100000
#define LENTZ_TINY 1e-300

static double lentz_guard(double v)
{
	return fabs(v) < LENTZ_TINY ? LENTZ_TINY : v;
}

/* Continued fraction for I_x(a, b) (Numerical Recipes' betacf, Lentz). */
static double beta_fraction(double a, double b, double x)
{
	double c = 1, d = 1 / lentz_guard(1 - (a + b) * x / (a + 1));
	double h = d;
	int m;

	for (m = 1; m <= BETA_ITERATIONS; m++) {
		double m2 = 2.0 * m, step;
		double even = m * (b - m) * x / ((a - 1 + m2) * (a + m2));
		double odd = -(a + m) * (a + b + m) * x /
		             ((a + m2) * (a + 1 + m2));

		d = 1 / lentz_guard(1 + even * d);
		c = lentz_guard(1 + even / c);
		h *= d * c;
		d = 1 / lentz_guard(1 + odd * d);
		c = lentz_guard(1 + odd / c);
		step = d * c;
		h *= step;
		if (fabs(step - 1) < 1e-16)
			break;
	}
	return h;
}

/*
 * I_x(a, b) given x, y = 1 - x and their logarithms, so that a caller who
 * knows them better than 1 - x or log of an underflowed x would (the t
 * tail) loses nothing.
 */
static double beta_from_logs(double a, double b, double x, double y,
                             double log_x, double log_y)
{
	double front = a * log_x + b * log_y - log_beta(a, b);

	if (!(log_x > -INFINITY))
		return 0;
	if (y <= 0)
		return 1;
	/* the fraction converges fast below the mean; use symmetry above */
	if (x < (a + 1) / (a + b + 2))
		return exp(front) * beta_fraction(a, b, x) / a;
	return 1 - exp(front) * beta_fraction(b, a, y) / b;
}

static double beta_regularized(double a, double b, double x, double y)
{
	if (x <= 0)
		return 0;
	if (y <= 0)
		return 1;
	return beta_from_logs(a, b, x, y, x < 0.5 ? log(x) : log1p(-y),
	                      y < 0.5 ? log(y) : log1p(-x));
}

double mas_stats_beta_regularized(double a, double b, double x)
{
	if (!(a > 0 && b > 0 && x >= 0 && x <= 1))
		return NAN;
	return beta_regularized(a, b, x, 1 - x);
}

/*
 * P(|T| >= |t|) = I_x(df/2, 1/2), x = df/(df+t^2), with x, 1 - x and
 * their logs formed without cancellation and without squaring a huge t.
 */
static double t_two_sided(double t, double df)
{
	double size = fabs(t), ratio, x, y, log_x, log_y;

	if (size > sqrt(df)) {
		ratio = df / size / size; /* df / t^2 */
		x = ratio / (1 + ratio);
		y = 1 / (1 + ratio);
		log_x = log(df) - 2 * log(size) - log1p(ratio);
		log_y = -log1p(ratio);
	} else {
		ratio = size / df * size; /* t^2 / df */
		if (ratio == 0)
			return 1;
		x = 1 / (1 + ratio);
		y = ratio / (1 + ratio);
		log_x = -log1p(ratio);
		log_y = log(ratio) - log1p(ratio);
	}
	return fmin(1, beta_from_logs(df / 2, 0.5, x, y, log_x, log_y));
}

static int t_args_bad(double t, double df)
{
	return isnan(t) || !(df > 0);
}

/*
 * Past 1e10 degrees of freedom the continued fraction converges slowly
 * and loses digits in the tails, while the normal limit is within 1e-8.
 */
static int t_is_normal(double df)
{
	return df > 1e10;
}

double mas_stats_t_pvalue(double t, double df)
{
	if (t_args_bad(t, df))
		return NAN;
	if (t_is_normal(df))
		return fmin(1, erfc(fabs(t) / SQRT2));
	if (isinf(t))
		return 0;
	return t_two_sided(t, df);
}

double mas_stats_t_cdf(double t, double df)
{
	double tail;

	if (t_args_bad(t, df))
		return NAN;
	if (t_is_normal(df))
		return mas_stats_normal_cdf(t);
	if (isinf(t))
		return t > 0 ? 1 : 0;
	tail = 0.5 * t_two_sided(t, df);
	return t < 0 ? tail : 1 - tail;
}

/* Student t density at s, through log B so that large df stay exact. */
static double t_density(double s, double df)
{
	return exp(-log_beta(df / 2, 0.5) - 0.5 * log(df) -
	           (df + 1) / 2 * log1p(s * s / df));
}

/*
 * s > 0 with P(T > s) = q < 0.5.  Newton on log P(T > e^u) - log q as a
 * function of u = log s: in the tail that function is nearly linear
 * (P ~ C s^-df), so a few steps suffice even at q = 1e-300, where Newton
 * on s itself would crawl.  A bracket turns wild steps into bisection.
 */
static double t_upper_quantile(double q, double df)
{
	double z = -normal_lower_quantile(q), log_q = log(q);
	double guess = z + (z * z * z + z) / (4 * df);
	double u = log(guess), low = -INFINITY, high = INFINITY;
	int i;

	if (0.5 * t_two_sided(DBL_MAX, df) > q)
		return INFINITY; /* beyond the doubles (tiny q, df < 1) */

	for (i = 0; i < 200; i++) {
		double s = exp(u), tail = 0.5 * t_two_sided(s, df);
		double gap = log(tail) - log_q, slope, next;

		if (gap == 0)
			return s;
		if (gap > 0)
			low = u;
		else
			high = u;
		slope = -t_density(s, df) * s / tail;
		next = u - gap / slope;
		if (!(next > low && next < high)) {
			if (isfinite(low) && isfinite(high))
				next = 0.5 * (low + high);
			else
				next = gap > 0 ? u + 1 : u - 1;
		}
		if (fabs(next - u) < 1e-15)
			return exp(next);
		u = next;
	}
	return exp(u);
}

double mas_stats_t_quantile(double p, double df)
{
	double q, s;

	if (!(p >= 0 && p <= 1) || !(df > 0))
		return NAN;
	if (p == 0)
		return -INFINITY;
	if (p == 1)
		return INFINITY;
	if (t_is_normal(df))
		return mas_stats_normal_quantile(p);
	if (p == 0.5)
		return 0;
	q = p < 0.5 ? p : 1 - p;
	if (df == 1)
		s = 1 / tan(PI * q);
	else if (df == 2)
		s = (1 - 2 * q) / sqrt(2 * q * (1 - q));
	else
		s = t_upper_quantile(q, df);
	return p < 0.5 ? -s : s;
}

/* ------------------------------------------------------------------ */
/* Trend                                                               */

static double x_at(const double *x, size_t i)
{
	return x ? x[i] : (double)i;
}

static int pair_ok(const double *x, const double *y, size_t i)
{
	return isfinite(x_at(x, i)) && isfinite(y[i]);
}

/* Sums of a least-squares fit, accumulated over the complete pairs. */
struct moments {
	size_t n;
	double mean_x, mean_y, sxx, sxy, syy;
};

static void moments_of(struct moments *m, const double *x, const double *y,
                       size_t count)
{
	struct sum sx = { 0, 0 }, sy = { 0, 0 };
	struct sum sxx = { 0, 0 }, sxy = { 0, 0 }, syy = { 0, 0 };
	size_t i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < count; i++) {
		if (!pair_ok(x, y, i))
			continue;
		sum_add(&sx, x_at(x, i));
		sum_add(&sy, y[i]);
		m->n++;
	}
	if (m->n == 0)
		return;
	m->mean_x = sum_value(&sx) / (double)m->n;
	m->mean_y = sum_value(&sy) / (double)m->n;
	for (i = 0; i < count; i++) {
		double dx, dy;

		if (!pair_ok(x, y, i))
			continue;
		dx = x_at(x, i) - m->mean_x;
		dy = y[i] - m->mean_y;
		sum_add(&sxx, dx * dx);
		sum_add(&sxy, dx * dy);
		sum_add(&syy, dy * dy);
	}
	m->sxx = sum_value(&sxx);
	m->sxy = sum_value(&sxy);
	m->syy = sum_value(&syy);
}

static void trend_empty(struct mas_stats_trend *out, size_t n)
{
	out->n = n;
	out->slope = out->intercept = NAN;
	out->slope_se = out->intercept_se = NAN;
	out->t = out->p_value = out->r_squared = out->residual_sd = NAN;
}

/* Residual sum of squares computed directly: exact for near-perfect fits,
 * where Syy - slope Sxy would cancel. */
static double trend_sse(const struct mas_stats_trend *fit, const double *x,
                        const double *y, size_t count)
{
	struct sum sse = { 0, 0 };
	size_t i;

	for (i = 0; i < count; i++) {
		double e;

		if (!pair_ok(x, y, i))
			continue;
		e = y[i] - (fit->intercept + fit->slope * x_at(x, i));
		sum_add(&sse, e * e);
	}
	return sum_value(&sse);
}

static void trend_significance(struct mas_stats_trend *out,
                               const struct moments *m, double sse)
{
	double n = (double)m->n, df = n - 2;

	out->residual_sd = sqrt(sse / df);
	out->slope_se = sqrt(sse / df / m->sxx);
	out->intercept_se =
		out->slope_se * sqrt(m->sxx / n + m->mean_x * m->mean_x);
	if (m->syy == 0) {
		out->slope = 0;
		out->slope_se = out->intercept_se = out->residual_sd = 0;
		out->t = 0;
		out->p_value = 1;
		return;
	}
	if (out->slope_se == 0) {
		out->t = copysign(INFINITY, out->slope);
		out->p_value = 0;
		return;
	}
	out->t = out->slope / out->slope_se;
	out->p_value = mas_stats_t_pvalue(out->t, df);
}

int mas_stats_trend(struct mas_stats_trend *out, const double *x,
                    const double *y, size_t count)
{
	struct moments m;

	if (!out || (!y && count))
		return MAS_STATS_EINVAL;
	moments_of(&m, x, y, count);
	trend_empty(out, m.n);
	if (m.n < 2)
		return MAS_STATS_ESHORT;
	if (m.sxx == 0)
		return MAS_STATS_EDEGENERATE;
	out->slope = m.sxy / m.sxx;
	out->intercept = m.mean_y - out->slope * m.mean_x;
	out->r_squared = m.syy == 0 ? 0 : m.sxy / m.sxx * (m.sxy / m.syy);
	out->r_squared = fmin(1, out->r_squared);
	if (m.n < 3)
		return MAS_STATS_ESHORT;
	trend_significance(out, &m, trend_sse(out, x, y, count));
	return MAS_STATS_OK;
}

int mas_stats_trend_residuals(const struct mas_stats_trend *fit,
                              const double *x, const double *y,
                              size_t count, double *residuals)
{
	size_t i;

	if (!fit || ((!y || !residuals) && count))
		return MAS_STATS_EINVAL;
	for (i = 0; i < count; i++) {
		double line = fit->intercept + fit->slope * x_at(x, i);

		residuals[i] = pair_ok(x, y, i) ? y[i] - line : NAN;
	}
	return MAS_STATS_OK;
}

/* ------------------------------------------------------------------ */
/* Gaps: the span of finite values, interior holes filled linearly     */

struct span {
	size_t first, n, filled;
	double *values; /* n values, owned */
};

static int span_fill(struct span *s, const double *y, size_t count)
{
	size_t i, last = 0, previous;
	int any = 0;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < count; i++) {
		if (!isfinite(y[i]))
			continue;
		if (!any)
			s->first = i;
		any = 1;
		last = i;
	}
	if (!any)
		return MAS_STATS_ESHORT;
	s->n = last - s->first + 1;
	s->values = malloc(s->n * sizeof(*s->values));
	if (!s->values)
		return MAS_STATS_ENOMEM;
	previous = 0;
	for (i = 0; i < s->n; i++) {
		double v = y[s->first + i];
		size_t j;

		if (!isfinite(v))
			continue;
		s->values[i] = v;
		for (j = previous + 1; j < i; j++) {
			double from = s->values[previous];
			double w = (double)(j - previous);

			w /= (double)(i - previous);
			s->values[j] = from + w * (v - from);
			s->filled++;
		}
		previous = i;
	}
	return MAS_STATS_OK;
}

int mas_stats_fill_gaps(const double *y, size_t count, double **values,
                        size_t *first, size_t *n, size_t *filled)
{
	struct span s;
	int status;

	if (!values || (!y && count))
		return MAS_STATS_EINVAL;
	*values = NULL;
	status = span_fill(&s, y, count);
	if (first)
		*first = s.first;
	if (n)
		*n = s.n;
	if (filled)
		*filled = s.filled;
	if (status == MAS_STATS_OK)
		*values = s.values;
	else
		free(s.values);
	return status;
}

/* ------------------------------------------------------------------ */
/* Nelder-Mead                                                         */

typedef double (*objective_fn)(const double *point, void *context);

/*
 * The objective (ETS: -2 log-likelihood) is taken as minimal once the
 * simplex's values agree to this: a tenth of a thousandth of a unit of
 * AICc, far below any difference that changes a choice of model.
 */
#define SIMPLEX_TOLERANCE 1e-3
#define SIMPLEX_MAX_DIM 4
#define SIMPLEX_RESTART_STEP 0.2

struct simplex {
	size_t dim, evaluations, max_evaluations;
	double *points; /* (dim + 1) x dim */
	double *values; /* dim + 1 */
	double *centroid, *trial, *second;
	objective_fn f;
	void *context;
};

static double simplex_eval(struct simplex *s, const double *point)
{
	double v = s->f(point, s->context);

	s->evaluations++;
	return isfinite(v) ? v : HUGE_VAL;
}

static double *vertex(struct simplex *s, size_t i)
{
	return s->points + i * s->dim;
}

static int simplex_alloc(struct simplex *s, size_t dim)
{
	memset(s, 0, sizeof(*s));
	s->dim = dim;
	s->points = malloc((dim + 1) * dim * sizeof(double));
	s->values = malloc((dim + 1) * sizeof(double));
	s->centroid = malloc(dim * sizeof(double));
	s->trial = malloc(dim * sizeof(double));
	s->second = malloc(dim * sizeof(double));
	return s->points && s->values && s->centroid && s->trial && s->second;
}

static void simplex_free(struct simplex *s)
{
	free(s->points);
	free(s->values);
	free(s->centroid);
	free(s->trial);
	free(s->second);
}

/* A simplex of start and one step along each coordinate; known is f at
 * start when it is (a restart), else HUGE_VAL. */
static void simplex_start(struct simplex *s, const double *start,
                          const double *step, double known)
{
	size_t i;

	for (i = 0; i <= s->dim; i++) {
		memcpy(vertex(s, i), start, s->dim * sizeof(double));
		if (i > 0)
			vertex(s, i)[i - 1] += step[i - 1];
		s->values[i] = i == 0 && known < HUGE_VAL
		                       ? known
		                       : simplex_eval(s, vertex(s, i));
	}
}

/* Whether some vertex is lower than the first by more than the
 * tolerance. */
static int simplex_gains(const struct simplex *s)
{
	size_t i;

	for (i = 1; i <= s->dim; i++)
		if (s->values[i] < s->values[0] - SIMPLEX_TOLERANCE)
			return 1;
	return 0;
}

/* Indices of the best, worst and second-worst vertices. */
static void simplex_order(const struct simplex *s, size_t *best,
                          size_t *worst, size_t *second)
{
	size_t i;

	*best = *worst = 0;
	for (i = 1; i <= s->dim; i++) {
		if (s->values[i] < s->values[*best])
			*best = i;
		if (s->values[i] > s->values[*worst])
			*worst = i;
	}
	*second = *best;
	for (i = 0; i <= s->dim; i++)
		if (i != *worst && s->values[i] > s->values[*second])
			*second = i;
}

/* out = centroid + scale (centroid - worst) */
static void simplex_along(struct simplex *s, size_t worst, double scale,
                          double *out)
{
	size_t j;

	for (j = 0; j < s->dim; j++)
		out[j] = s->centroid[j] +
		         scale * (s->centroid[j] - vertex(s, worst)[j]);
}

static void simplex_centroid(struct simplex *s, size_t worst)
{
	size_t i, j;

	for (j = 0; j < s->dim; j++) {
		double total = 0;

		for (i = 0; i <= s->dim; i++)
			if (i != worst)
				total += vertex(s, i)[j];
		s->centroid[j] = total / (double)s->dim;
	}
}

static void simplex_replace(struct simplex *s, size_t i, const double *p,
                            double value)
{
	memcpy(vertex(s, i), p, s->dim * sizeof(double));
	s->values[i] = value;
}

static void simplex_shrink(struct simplex *s, size_t best)
{
	size_t i, j;

	for (i = 0; i <= s->dim; i++) {
		if (i == best)
			continue;
		for (j = 0; j < s->dim; j++)
			vertex(s, i)[j] = vertex(s, best)[j] +
			                  0.5 * (vertex(s, i)[j] -
			                         vertex(s, best)[j]);
		s->values[i] = simplex_eval(s, vertex(s, i));
	}
}

/* One Nelder-Mead move (Lagarias et al. 1998 coefficients 1, 2, 1/2). */
static void simplex_step(struct simplex *s, size_t best, size_t worst,
                         size_t second)
{
	double reflected, other;

	simplex_centroid(s, worst);
	simplex_along(s, worst, 1, s->trial);
	reflected = simplex_eval(s, s->trial);
	if (reflected < s->values[best]) {
		simplex_along(s, worst, 2, s->second);
		other = simplex_eval(s, s->second);
		if (other < reflected)
			simplex_replace(s, worst, s->second, other);
		else
			simplex_replace(s, worst, s->trial, reflected);
		return;
	}
	if (reflected < s->values[second]) {
		simplex_replace(s, worst, s->trial, reflected);
		return;
	}
	if (reflected < s->values[worst])
		simplex_along(s, worst, 0.5, s->second);
	else
		simplex_along(s, worst, -0.5, s->second);
	other = simplex_eval(s, s->second);
	if (other < fmin(reflected, s->values[worst]))
		simplex_replace(s, worst, s->second, other);
	else
		simplex_shrink(s, best);
}

/* Runs from start until the values agree to ftol; leaves the best in
 * start and returns its value.  A restart (known: f at start) stops at
 * once when no vertex of its first simplex is lower than start. */
static double simplex_run(struct simplex *s, double *start,
                          const double *step, double known)
{
	size_t best, worst, second;

	simplex_start(s, start, step, known);
	if (known < HUGE_VAL && !simplex_gains(s))
		return known;
	for (;;) {
		double spread;

		simplex_order(s, &best, &worst, &second);
		spread = s->values[worst] - s->values[best];
		if (spread <= SIMPLEX_TOLERANCE)
			break;
		if (s->evaluations >= s->max_evaluations)
			break;
		simplex_step(s, best, worst, second);
	}
	memcpy(start, vertex(s, best), s->dim * sizeof(double));
	return s->values[best];
}

/*
 * Minimises f from start (overwritten with the minimum), restarting with
 * a fresh simplex around the best point while a restart gains more than
 * SIMPLEX_TOLERANCE, at most twice: a collapsed simplex is Nelder-Mead's
 * usual way to stall, and each restart costs as much as the first run.
 */
static int minimise(objective_fn f, void *context, double *start,
                    const double *step, size_t dim, double *value)
{
	struct simplex s;
	double best = HUGE_VAL;
	int restart;

	if (!simplex_alloc(&s, dim)) {
		simplex_free(&s);
		return MAS_STATS_ENOMEM;
	}
	s.f = f;
	s.context = context;
	for (restart = 0; restart < 3; restart++) {
		double found, small[SIMPLEX_MAX_DIM];
		size_t j;

		/* a restart only checks the simplex did not collapse short
		 * of the optimum: a small one around it, fewer moves */
		for (j = 0; j < dim; j++)
			small[j] = restart ? SIMPLEX_RESTART_STEP * step[j]
			                   : step[j];
		s.evaluations = 0;
		s.max_evaluations = (restart ? 100 : 200) * (dim + 1);
		found = simplex_run(&s, start, small, best);
		if (!(found < best - SIMPLEX_TOLERANCE)) {
			best = fmin(best, found);
			break;
		}
		best = found;
	}
	simplex_free(&s);
	*value = best;
	return MAS_STATS_OK;
}

/* ------------------------------------------------------------------ */
/* Exponential smoothing                                               */

struct ets_shape {
	int error_mult, trend, damped, seasonal, season_mult;
	size_t m; /* 1 without season, so that i % m is harmless */
};

/* The models of stats.h, in enum order. */
static const struct ets_kind {
	const char *name;
	char error, trend, season; /* 'A', 'M' or 'N' */
	int damped;
} ets_kinds[MAS_STATS_ETS_MODELS] = {
	{ "ANN", 'A', 'N', 'N', 0 },  { "AAN", 'A', 'A', 'N', 0 },
	{ "AAdN", 'A', 'A', 'N', 1 }, { "ANA", 'A', 'N', 'A', 0 },
	{ "AAA", 'A', 'A', 'A', 0 },  { "AAdA", 'A', 'A', 'A', 1 },
	{ "MNN", 'M', 'N', 'N', 0 },  { "MAN", 'M', 'A', 'N', 0 },
	{ "MAdN", 'M', 'A', 'N', 1 }, { "MNA", 'M', 'N', 'A', 0 },
	{ "MAA", 'M', 'A', 'A', 0 },  { "MAdA", 'M', 'A', 'A', 1 },
	{ "MNM", 'M', 'N', 'M', 0 },  { "MAM", 'M', 'A', 'M', 0 },
	{ "MAdM", 'M', 'A', 'M', 1 },
};

/* R's usual bounds (ets(): lower, upper). */
#define ETS_LOWER 1e-4
#define ETS_UPPER 0.9999
#define ETS_PHI_LOWER 0.8
#define ETS_PHI_UPPER 0.98
/* A multiplicative state this close to 0 makes the model undefined. */
#define ETS_TINY 1e-10

static int ets_model_ok(enum mas_stats_ets_model model)
{
	return (int)model >= 0 && (int)model < MAS_STATS_ETS_MODELS;
}

static struct ets_shape ets_shape_of(enum mas_stats_ets_model model,
                                     size_t period)
{
	struct ets_shape shape = { 0, 0, 0, 0, 0, 1 };
	const struct ets_kind *kind;

	if (!ets_model_ok(model))
		return shape;
	kind = &ets_kinds[model];
	shape.error_mult = kind->error == 'M';
	shape.trend = kind->trend == 'A';
	shape.damped = kind->damped;
	shape.seasonal = kind->season != 'N';
	shape.season_mult = kind->season == 'M';
	if (shape.seasonal)
		shape.m = period;
	return shape;
}

static size_t ets_parameters(const struct ets_shape *shape)
{
	size_t k = 2; /* alpha, level0 */

	if (shape->trend)
		k += 2; /* beta, trend0 */
	if (shape->damped)
		k += 1; /* phi */
	if (shape->seasonal)
		k += shape->m; /* gamma, m - 1 free seasonal states */
	return k;
}

const char *mas_stats_ets_name(enum mas_stats_ets_model model)
{
	return ets_model_ok(model) ? ets_kinds[model].name : "?";
}

int mas_stats_ets_error_mult(enum mas_stats_ets_model model)
{
	return ets_shape_of(model, 2).error_mult;
}

int mas_stats_ets_has_trend(enum mas_stats_ets_model model)
{
	return ets_shape_of(model, 2).trend;
}

int mas_stats_ets_damped(enum mas_stats_ets_model model)
{
	return ets_shape_of(model, 2).damped;
}

int mas_stats_ets_seasonal(enum mas_stats_ets_model model)
{
	return ets_shape_of(model, 2).seasonal;
}

int mas_stats_ets_season_mult(enum mas_stats_ets_model model)
{
	return ets_shape_of(model, 2).season_mult;
}

size_t mas_stats_ets_min_length(enum mas_stats_ets_model model,
                                size_t period)
{
	struct ets_shape shape;
	size_t need;

	if (!ets_model_ok(model))
		return 0;
	shape = ets_shape_of(model, period);
	if (shape.seasonal && period < 2)
		return 0;
	need = ets_parameters(&shape) + 3;
	if (shape.seasonal && need < 2 * period + 2)
		need = 2 * period + 2;
	return need;
}

void mas_stats_ets_init(struct mas_stats_ets *fit)
{
	if (!fit)
		return;
	memset(fit, 0, sizeof(*fit));
	fit->params.phi = 1;
	fit->level0 = fit->trend0 = fit->level = fit->trend = NAN;
	fit->sse = fit->sigma2 = fit->loglik = fit->aic = fit->aicc = NAN;
}

void mas_stats_ets_release(struct mas_stats_ets *fit)
{
	if (!fit)
		return;
	free(fit->season0);
	free(fit->season);
	free(fit->fitted);
	free(fit->residuals);
	mas_stats_ets_init(fit);
}

/* The states a run starts from and ends with. */
struct ets_states {
	double level, trend;
	double *season; /* ring of m: season[i % m] serves observation i */
	size_t at;      /* where in the ring the next observation is */
};

/* What a run adds up: the criterion needs E and, for M errors, the
 * product of the forecasts, kept as mantissa and binary exponent so that
 * it costs no log per step. */
struct ets_sums {
	double sse;      /* sum (y - yhat)^2 */
	double rel;      /* sum ((y - yhat) / yhat)^2 */
	double mantissa; /* prod |yhat| = mantissa 2^exponent */
	long exponent;
};

static double ets_sums_logf(const struct ets_sums *sums)
{
	return log(sums->mantissa) + (double)sums->exponent * M_LN2;
}

/*
 * *mantissa 2^*exponent times v > 0.  The mantissa is left alone while
 * it stays within 2^+-256, so frexp (a call: 9 % of the instructions
 * of a 60-point series' fits when made every step) runs only every few
 * hundred steps; a factor near the ends of the double range, 0, or not
 * finite is split first, so nothing underflows or overflows unseen (0
 * and non-finite values show in the result, and the caller rejects
 * them).
 */
static inline void product_add(double *mantissa, long *exponent,
                               double v)
{
	double next = *mantissa * v;
	int e, f;

	if (next > 0x1p-256 && next < 0x1p256) {
		*mantissa = next;
		return;
	}
	*mantissa = frexp(*mantissa, &e) * frexp(v, &f);
	*exponent += (long)e + f;
}

/*
 * The recursions of stats.h over y[0..n-1] (y NULL: all zero, to trace
 * how initial states propagate); st is updated in place.  fitted may be
 * NULL (the optimiser needs only the sums).  Returns 0, or -1 when a
 * number overflowed or a multiplicative state reached 0: parameters or
 * states the model cannot run with.  No allocation: the optimiser calls
 * it thousands of times per fit.
 */
static int ets_run(const struct ets_shape *shape,
                   const struct mas_stats_ets_params *par,
                   struct ets_states *st, const double *y, size_t n,
                   double *fitted, struct ets_sums *sums)
{
	/* one loop for all models: absent parts are zeros that stay 0 */
	double none = 0, *season = shape->seasonal ? st->season : &none;
	double phi = shape->damped ? par->phi : 1, alpha = par->alpha;
	double beta = shape->trend ? par->beta : 0;
	double gamma = shape->seasonal ? par->gamma : 0;
	double level = st->level, trend = shape->trend ? st->trend : 0;
	double sse = 0, rel = 0, mantissa = 1;
	long exponent = 0;
	size_t i, at = st->at, m = shape->seasonal ? shape->m : 1;

	for (i = 0; i < n; i++) {
		double damped_trend = phi * trend, q = level + damped_trend;
		double s = season[at], forecast, error, u, v;

		if (shape->season_mult) {
			if (!(fabs(s) > ETS_TINY && fabs(q) > ETS_TINY))
				return -1;
			forecast = q * s;
			error = (y ? y[i] : 0) - forecast;
			u = error / s;
			v = error / q;
		} else {
			forecast = q + s;
			error = (y ? y[i] : 0) - forecast;
			u = v = error;
		}
		if (fitted)
			fitted[i] = forecast;
		level = q + alpha * u;
		trend = damped_trend + beta * u;
		season[at] += gamma * v;
		at = at + 1 == m ? 0 : at + 1;
		sse += error * error;
		if (shape->error_mult) {
			double r = error / forecast;

			rel += r * r;
			product_add(&mantissa, &exponent, fabs(forecast));
		}
	}
	st->level = level;
	st->trend = trend;
	st->at = at;
	if (sums) {
		sums->sse = sse;
		sums->rel = rel;
		sums->mantissa = mantissa;
		sums->exponent = exponent;
	}
	if (!isfinite(sse) || !isfinite(rel) || !isfinite(level) ||
	    (shape->error_mult && !(mantissa > 0)))
		return -1;
	return 0;
}

/* Centred moving average at t: 2 x m when m is even, plain m when odd. */
static double centred_average(const double *y, size_t t, size_t m)
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

/*
 * Seasonal indices of a classical decomposition of the first min(3, n/m)
 * whole periods: additive (sum 0) or, with mult, multiplicative (mean 1,
 * each at least 0.01 as in R's initstate).
 */
static void seasonal_indices(const double *y, size_t n, size_t m, int mult,
                             double *season)
{
	size_t periods = n / m < 3 ? n / m : 3, length = periods * m;
	size_t half = m / 2, t, j;
	double mean = 0;

	/* two whole periods give every position at least one average */
	for (j = 0; j < m; j++) {
		double total = 0;
		size_t seen = 0;

		for (t = j; t + half < length; t += m) {
			double average;

			if (t < half)
				continue;
			average = centred_average(y, t, m);
			if (mult && !(average > 0))
				continue;
			total += mult ? y[t] / average : y[t] - average;
			seen++;
		}
		season[j] = seen ? total / (double)seen : mult;
		mean += season[j];
	}
	mean /= (double)m;
	for (j = 0; j < m; j++) {
		if (!mult)
			season[j] -= mean;
		else
			season[j] = fmax(season[j] / mean, 0.01);
	}
}

/* ------------------------------------------------------------------ */
/* ETS estimation                                                      */
/*
 * Without a multiplicative season the one-step errors are affine in the
 * initial states (x_t = D x_{t-1} + g y_t, D constant), so the states
 * that minimise their sum of squares solve a linear least-squares
 * problem.  Nelder-Mead then searches only the smoothing parameters, at
 * most 4: searched jointly, a dozen state coordinates made it stall well
 * short of the optimum.  The exact states cost (states + 1) runs and a QR
 * per point, so seasonal series (but the shortest) take them at the
 * optimum of a search from R's heuristic states, and search again from
 * there, in turn while that gains: on 60-point tasks with a period of
 * 7-14 the states at every point cost 40 % of all CPU, while the rounds
 * come within 1 % of the sum of squares (tests/unit/test-stats.c).
 */

/* Budget of n (states)^2 under which every point gets its best states:
 * every non-seasonal fit, and seasonal ones of a few periods. */
#define ETS_PROFILE_BUDGET 2000
#define ETS_POLISH_ROUNDS 4

struct ets_problem {
	struct ets_shape shape;
	const double *y;
	size_t n;
	int profile;          /* best states for every point tried */
	size_t free_season;   /* seasonal states estimated: m - 1, or 0 */
	size_t columns;       /* states estimated: 1 + trend + free_season */
	double *design;       /* n x columns, column-major */
	double *target;       /* n */
	double *diagonal;     /* columns, scratch of least_squares */
	double *coefficients; /* columns */
	double *fixed_season; /* m: zeros, or the heuristic if not estimated */
	struct ets_states initial; /* states the next run starts from */
	struct ets_states work;    /* scratch for one run */
	double *saved_season;      /* m: initial.season kept while polishing */
	double floor_sse, floor_rel; /* see ets_criterion */
};

/*
 * Solves min |a x - b| by Householder QR; a (rows x cols, column-major,
 * rows >= cols) and b are destroyed.  A column that adds nothing (a
 * diagonal below 1e-10 of the largest) gets coefficient 0.
 */
static void least_squares(double *a, size_t rows, size_t cols, double *b,
                          double *x, double *diagonal)
{
	double largest = 0;
	size_t i, j, k;

	for (k = 0; k < cols; k++) {
		double *v = a + k * rows, norm = 0, alpha, vv;

		for (i = k; i < rows; i++)
			norm += v[i] * v[i];
		norm = sqrt(norm);
		diagonal[k] = 0;
		if (norm == 0)
			continue;
		alpha = v[k] > 0 ? -norm : norm;
		v[k] -= alpha;
		vv = norm * (norm + fabs(v[k] + alpha)); /* v.v / 2 */
		for (j = k + 1; j <= cols; j++) {
			double *c = j < cols ? a + j * rows : b, dot = 0;

			for (i = k; i < rows; i++)
				dot += v[i] * c[i];
			for (i = k; i < rows; i++)
				c[i] -= dot / vv * v[i];
		}
		diagonal[k] = alpha;
		largest = fmax(largest, fabs(alpha));
	}
	for (k = cols; k-- > 0;) {
		double total = b[k];

		for (j = k + 1; j < cols; j++)
			total -= a[j * rows + k] * x[j];
		if (fabs(diagonal[k]) > 1e-10 * largest)
			x[k] = total / diagonal[k];
		else
			x[k] = 0;
	}
}

static void ets_zero_states(const struct ets_problem *p,
                            struct ets_states *st)
{
	size_t j;

	st->level = st->trend = 0;
	st->at = 0;
	for (j = 0; p->shape.seasonal && j < p->shape.m; j++)
		st->season[j] = 0;
}

/* Unit initial state number `column`, in the order level, trend,
 * seasonal; a seasonal one moves the last state the other way (sum 0). */
static void ets_unit_states(const struct ets_problem *p, size_t column,
                            struct ets_states *st)
{
	size_t trend = (size_t)p->shape.trend;

	ets_zero_states(p, st);
	if (column == 0) {
		st->level = 1;
	} else if (trend && column == 1) {
		st->trend = 1;
	} else {
		st->season[column - 1 - trend] = 1;
		st->season[p->shape.m - 1] = -1;
	}
}

/*
 * Fills p->initial with the states that minimise the sum of squared
 * one-step errors for par (models without a multiplicative season);
 * 0, or -1 if a run overflowed (parameters far outside any stable
 * region).
 */
static int ets_best_states(struct ets_problem *p,
                           const struct mas_stats_ets_params *par)
{
	struct ets_states *st = &p->work;
	struct ets_shape additive = p->shape;
	size_t trend = (size_t)p->shape.trend, i, j, m = p->shape.m;
	double moved = 0;

	additive.error_mult = 0; /* the recursion is the same */
	ets_zero_states(p, st);
	if (p->shape.seasonal)
		memcpy(st->season, p->fixed_season, m * sizeof(double));
	if (ets_run(&additive, par, st, p->y, p->n, p->target, NULL) < 0)
		return -1;
	for (i = 0; i < p->n; i++)
		p->target[i] = p->y[i] - p->target[i];
	for (j = 0; j < p->columns; j++) {
		ets_unit_states(p, j, st);
		if (ets_run(&additive, par, st, NULL, p->n,
		            p->design + j * p->n, NULL) < 0)
			return -1;
	}
	least_squares(p->design, p->n, p->columns, p->target,
	              p->coefficients, p->diagonal);
	p->initial.level = p->coefficients[0];
	p->initial.trend = trend ? p->coefficients[1] : 0;
	if (p->shape.seasonal)
		memcpy(p->initial.season, p->fixed_season, m * sizeof(double));
	for (j = 0; j < p->free_season; j++) {
		p->initial.season[j] += p->coefficients[1 + trend + j];
		moved += p->coefficients[1 + trend + j];
	}
	if (p->free_season)
		p->initial.season[m - 1] -= moved;
	return 0;
}

/*
 * ets_best_states for a model without season, in one pass: the run from
 * zero states and the runs from a unit level and a unit trend go side
 * by side, adding up the 2 x 2 normal equations of the least-squares
 * problem.  For additive errors the minimal sum of squares follows from
 * them too (in *sse; NaN when cancellation makes it unreliable, so that
 * the caller runs the model instead).  For multiplicative errors the
 * three runs' forecasts are kept (p->target, p->design), so that
 * ets_plain_mult_score needs no second run of the recursions.
 */
static int ets_best_states_plain(struct ets_problem *p,
                                 const struct mas_stats_ets_params *par,
                                 double *sse)
{
	double phi = p->shape.damped ? par->phi : 1, alpha = par->alpha;
	double beta = p->shape.trend ? par->beta : 0;
	double l = 0, b = 0, la = 1, ba = 0, lc = 0, bc = 1;
	double saa = 0, sac = 0, scc = 0, sat = 0, sct = 0, stt = 0;
	double level, trend = 0, rest;
	double *kept = p->shape.error_mult ? p->target : NULL;
	size_t i, n = p->n;

	for (i = 0; i < n; i++) {
		double f = l + phi * b, a = la + phi * ba, c = lc + phi * bc;
		double t = p->y[i] - f;

		if (kept) {
			kept[i] = f;
			p->design[i] = a;
			if (p->shape.trend)
				p->design[n + i] = c;
		}
		saa += a * a;
		sac += a * c;
		scc += c * c;
		sat += a * t;
		sct += c * t;
		stt += t * t;
		l = f + alpha * t;
		b = phi * b + beta * t;
		la = a - alpha * a;
		ba = phi * ba - beta * a;
		lc = c - alpha * c;
		bc = phi * bc - beta * c;
	}
	if (!isfinite(stt) || !isfinite(saa) || !isfinite(scc))
		return -1;
	if (p->shape.trend) {
		double det = saa * scc - sac * sac;

		if (!(det > 1e-12 * saa * scc))
			return -1;
		level = (scc * sat - sac * sct) / det;
		trend = (saa * sct - sac * sat) / det;
	} else {
		level = saa > 0 ? sat / saa : 0;
	}
	p->initial.level = level;
	p->initial.trend = trend;
	rest = stt - level * sat - trend * sct;
	*sse = rest > 1e-9 * stt ? rest : NAN;
	return 0;
}

static double logistic(double u)
{
	return 1 / (1 + exp(-u));
}

/* The coordinate that puts v at its place in [lo, hi]. */
static double coordinate(double v, double lo, double hi)
{
	double f = hi > lo ? (v - lo) / (hi - lo) : 0.5;

	f = fmin(fmax(f, 1e-6), 1 - 1e-6);
	return log(f / (1 - f));
}

static double within(double u, double lo, double hi)
{
	return lo + (hi - lo) * logistic(u);
}

/* The usual bounds of stats.h, one unbounded coordinate each. */
static void ets_decode_params(const struct ets_shape *shape,
                              const double *point,
                              struct mas_stats_ets_params *par)
{
	size_t i = 0;

	par->alpha = within(point[i++], ETS_LOWER, ETS_UPPER);
	par->beta = shape->trend ? within(point[i++], ETS_LOWER,
	                                  fmin(par->alpha, ETS_UPPER))
	                         : 0;
	par->gamma = shape->seasonal
	                     ? within(point[i++], ETS_LOWER,
	                              fmin(1 - par->alpha, ETS_UPPER))
	                     : 0;
	par->phi = shape->damped
	                   ? within(point[i++], ETS_PHI_LOWER, ETS_PHI_UPPER)
	                   : 1;
}

static size_t ets_param_count(const struct ets_shape *shape)
{
	return 1 + (size_t)shape->trend + (size_t)shape->seasonal +
	       (size_t)shape->damped;
}

static void ets_encode_params(const struct ets_shape *shape,
                              const struct mas_stats_ets_params *par,
                              double *point)
{
	size_t i = 0;

	point[i++] = coordinate(par->alpha, ETS_LOWER, ETS_UPPER);
	if (shape->trend)
		point[i++] = coordinate(par->beta, ETS_LOWER,
		                        fmin(par->alpha, ETS_UPPER));
	if (shape->seasonal)
		point[i++] = coordinate(par->gamma, ETS_LOWER,
		                        fmin(1 - par->alpha, ETS_UPPER));
	if (shape->damped)
		point[i++] = coordinate(par->phi, ETS_PHI_LOWER,
		                        ETS_PHI_UPPER);
}

static void ets_copy_states(const struct ets_problem *p,
                            struct ets_states *to,
                            const struct ets_states *from)
{
	to->level = from->level;
	to->trend = from->trend;
	if (p->shape.seasonal)
		memcpy(to->season, from->season, p->shape.m * sizeof(double));
}

/* -2 log-likelihood less its constant: R's "lik", n log E plus
 * 2 sum log|yhat| for M errors, E floored as stats.h says. */
static double ets_criterion(const struct ets_problem *p,
                            const struct ets_sums *sums)
{
	double n = (double)p->n;

	if (!p->shape.error_mult)
		return n * log(fmax(sums->sse, p->floor_sse));
	return n * log(fmax(sums->rel, p->floor_rel)) +
	       2 * ets_sums_logf(sums);
}

/* The criterion at the states in p->initial (left as they were). */
static double ets_score_at(struct ets_problem *p,
                           const struct mas_stats_ets_params *par)
{
	struct ets_sums sums;

	ets_copy_states(p, &p->work, &p->initial);
	p->work.at = 0;
	if (ets_run(&p->shape, par, &p->work, p->y, p->n, NULL, &sums) < 0)
		return HUGE_VAL;
	return ets_criterion(p, &sums);
}

/*
 * The criterion of a model with multiplicative errors and no season at
 * the states ets_best_states_plain just found, from the forecasts it
 * kept: the forecasts are affine in the initial states, so
 * yhat_t = f_t + a_t l_0 + c_t b_0 without running the recursions again
 * (a loop with no dependence from step to step).
 */
static double ets_plain_mult_score(const struct ets_problem *p)
{
	const double *f = p->target, *a = p->design, *c = p->design + p->n;
	double level = p->initial.level, trend = p->initial.trend;
	struct ets_sums sums = { 0, 0, 1, 0 };
	size_t i;

	for (i = 0; i < p->n; i++) {
		double yhat = f[i] + a[i] * level, r;

		if (p->shape.trend)
			yhat += c[i] * trend;
		r = (p->y[i] - yhat) / yhat;
		sums.rel += r * r;
		product_add(&sums.mantissa, &sums.exponent, fabs(yhat));
	}
	if (!isfinite(sums.rel) || !(sums.mantissa > 0) ||
	    !isfinite(sums.mantissa))
		return HUGE_VAL;
	return ets_criterion(p, &sums);
}

static double ets_objective(const double *point, void *context)
{
	struct ets_problem *p = context;
	struct mas_stats_ets_params par;

	ets_decode_params(&p->shape, point, &par);
	if (p->profile && !p->shape.seasonal) {
		double sse;

		if (ets_best_states_plain(p, &par, &sse) < 0)
			return HUGE_VAL;
		if (p->shape.error_mult)
			return ets_plain_mult_score(p);
		if (isfinite(sse))
			return (double)p->n * log(fmax(sse, p->floor_sse));
		return ets_score_at(p, &par);
	}
	if (p->profile && ets_best_states(p, &par) < 0)
		return HUGE_VAL;
	return ets_score_at(p, &par);
}

/*
 * R's initstate: seasonal indices from a classical decomposition, then a
 * least-squares line (or the mean, without trend) through the first
 * max(10, 2m) seasonally adjusted values.
 */
static void ets_heuristic_states(struct ets_problem *p)
{
	const struct ets_shape *shape = &p->shape;
	size_t m = shape->m, t;
	size_t use = p->n < (2 * m > 10 ? 2 * m : 10) ? p->n
	                                               : (2 * m > 10 ? 2 * m
	                                                             : 10);
	double sx = 0, sy = 0, sxx = 0, sxy = 0;

	if (shape->seasonal)
		seasonal_indices(p->y, p->n, m, shape->season_mult,
		                 p->initial.season);
	for (t = 0; t < use; t++) {
		double x = (double)(t + 1), v = p->y[t];

		if (shape->seasonal)
			v = shape->season_mult ? v / p->initial.season[t % m]
			                       : v - p->initial.season[t % m];
		sx += x;
		sy += v;
		sxx += x * x;
		sxy += x * v;
	}
	p->initial.trend = 0;
	p->initial.level = sy / (double)use;
	if (shape->trend && use >= 2) {
		double d = (double)use;

		p->initial.trend = (d * sxy - sx * sy) / (d * sxx - sx * sx);
		p->initial.level = (sy - p->initial.trend * sx) / d;
	}
}

#define ETS_MAX_PARAMS 4

/* R's initparam: alpha a fifth of its range over m, beta a tenth of
 * alpha, gamma a twentieth of 1 - alpha, phi near its top. */
static void ets_start(const struct ets_problem *p, double *point)
{
	double m = p->shape.seasonal ? (double)p->shape.m : 1;
	struct mas_stats_ets_params par;

	par.alpha = ETS_LOWER + 0.2 * (ETS_UPPER - ETS_LOWER) / m;
	par.beta = ETS_LOWER + 0.1 * (par.alpha - ETS_LOWER);
	par.gamma = ETS_LOWER + 0.05 * (1 - par.alpha - ETS_LOWER);
	par.phi = ETS_PHI_LOWER + 0.99 * (ETS_PHI_UPPER - ETS_PHI_LOWER);
	ets_encode_params(&p->shape, &par, point);
}

/*
 * Without the exact states at every point: take them at the optimum,
 * search again from there, and keep whichever states scored better
 * (for M errors the least-squares states need not be the likelier).
 */
static int ets_polish(struct ets_problem *p, double *point, double *value)
{
	static const double step[ETS_MAX_PARAMS] = { 0.3, 0.3, 0.3, 0.3 };
	struct mas_stats_ets_params par;
	struct ets_states saved = { 0, 0, p->saved_season, 0 };
	double moved[ETS_MAX_PARAMS], again;
	size_t dim = ets_param_count(&p->shape);

	ets_decode_params(&p->shape, point, &par);
	ets_copy_states(p, &saved, &p->initial);
	if (ets_best_states(p, &par) < 0) {
		ets_copy_states(p, &p->initial, &saved);
		return MAS_STATS_OK;
	}
	memcpy(moved, point, sizeof(moved));
	if (minimise(ets_objective, p, moved, step, dim, &again))
		return MAS_STATS_ENOMEM;
	if (again < *value) {
		*value = again;
		memcpy(point, moved, sizeof(moved));
	} else {
		ets_copy_states(p, &p->initial, &saved);
	}
	return MAS_STATS_OK;
}

static int ets_optimise(struct ets_problem *p, double *point, double *value)
{
	static const double step[ETS_MAX_PARAMS] = { 0.5, 0.5, 0.5, 0.5 };
	size_t dim = ets_param_count(&p->shape);
	int round;

	ets_start(p, point);
	if (minimise(ets_objective, p, point, step, dim, value))
		return MAS_STATS_ENOMEM;
	if (p->profile || p->shape.season_mult || *value == HUGE_VAL)
		return MAS_STATS_OK;
	/* states and parameters in turn, while that still gains */
	for (round = 0; round < ETS_POLISH_ROUNDS; round++) {
		double before = *value;

		if (ets_polish(p, point, value))
			return MAS_STATS_ENOMEM;
		if (!(*value < before - SIMPLEX_TOLERANCE))
			break;
	}
	return MAS_STATS_OK;
}

/* ------------------------------------------------------------------ */
/* Filling struct mas_stats_ets                                        */

static int ets_allocate(struct mas_stats_ets *fit, size_t count, size_t m)
{
	size_t i;

	fit->fitted = malloc((count ? count : 1) * sizeof(double));
	fit->residuals = malloc((count ? count : 1) * sizeof(double));
	if (m) {
		fit->season0 = malloc(m * sizeof(double));
		fit->season = malloc(m * sizeof(double));
	}
	if (!fit->fitted || !fit->residuals ||
	    (m && (!fit->season0 || !fit->season)))
		return MAS_STATS_ENOMEM;
	for (i = 0; i < count; i++)
		fit->fitted[i] = fit->residuals[i] = NAN;
	return MAS_STATS_OK;
}

static int all_positive(const double *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!(v[i] > 0))
			return 0;
	return 1;
}

/* Prepares fit for model over y: checks, trims, fills gaps, allocates. */
static int ets_begin(struct mas_stats_ets *fit, enum mas_stats_ets_model model,
                     const double *y, size_t count, size_t period,
                     struct span *s)
{
	struct ets_shape shape;
	int status;

	memset(s, 0, sizeof(*s));
	if (!fit)
		return MAS_STATS_EINVAL;
	mas_stats_ets_release(fit);
	if ((!y && count) || !ets_model_ok(model))
		return MAS_STATS_EINVAL;
	shape = ets_shape_of(model, period);
	if (shape.seasonal && period < 2)
		return MAS_STATS_EINVAL;
	fit->model = model;
	fit->period = shape.seasonal ? period : 0;
	fit->count = count;
	fit->k = ets_parameters(&shape);
	status = span_fill(s, y, count);
	if (status != MAS_STATS_OK)
		return status;
	fit->first = s->first;
	fit->n = s->n;
	fit->interpolated = s->filled;
	return ets_allocate(fit, count, fit->period);
}

/* A failed fit keeps its counts but no arrays: nothing to forecast from. */
static void ets_end(struct mas_stats_ets *fit, int status)
{
	if (!fit || status == MAS_STATS_OK)
		return;
	free(fit->season0);
	free(fit->season);
	free(fit->fitted);
	free(fit->residuals);
	fit->season0 = fit->season = fit->fitted = fit->residuals = NULL;
}

/* The floors of stats.h under E, so that an exact fit scores finitely. */
static void ets_floors(const double *y, size_t n, double *sse, double *rel)
{
	double biggest = 0;
	size_t i;

	for (i = 0; i < n; i++)
		biggest = fmax(biggest, fabs(y[i]));
	if (biggest == 0)
		biggest = 1;
	*sse = (double)n * (1e-15 * biggest) * (1e-15 * biggest);
	*rel = (double)n * 1e-30;
}

/* sigma2 and the information criteria of stats.h. */
static void ets_scores(struct mas_stats_ets *fit, const double *y,
                       size_t n, const struct ets_sums *sums)
{
	int mult = ets_shape_of(fit->model, fit->period).error_mult;
	double n_d = (double)n, k = (double)fit->k, floor_sse, floor_rel;
	double raw = mult ? sums->rel : sums->sse, e;

	ets_floors(y, n, &floor_sse, &floor_rel);
	e = fmax(raw, mult ? floor_rel : floor_sse);
	fit->sigma2 = n_d > k ? raw / (n_d - k) : NAN;
	fit->loglik = -n_d / 2 * (log(2 * PI * e / n_d) + 1);
	if (mult)
		fit->loglik -= ets_sums_logf(sums);
	fit->aic = -2 * fit->loglik + 2 * (k + 1);
	fit->aicc = n_d - k - 2 > 0
	                    ? fit->aic + 2 * (k + 1) * (k + 2) / (n_d - k - 2)
	                    : NAN;
}

static void reverse(double *v, size_t n)
{
	size_t i;

	for (i = 0; i < n / 2; i++) {
		double keep = v[i];

		v[i] = v[n - 1 - i];
		v[n - 1 - i] = keep;
	}
}

/* v[i] = old v[(i + by) % n], in place by three reversals. */
static void rotate_left(double *v, size_t n, size_t by)
{
	reverse(v, by);
	reverse(v + by, n - by);
	reverse(v, n);
}

/* Runs the model from the states in fit (level0, trend0, season0) and
 * records fitted values, residuals, final states and scores.  -1 when
 * the run cannot be made (a multiplicative state at 0). */
static int ets_finish(struct mas_stats_ets *fit, const double *input,
                      const struct span *s)
{
	struct ets_shape shape = ets_shape_of(fit->model, fit->period);
	struct ets_states st = { fit->level0, fit->trend0, fit->season, 0 };
	struct ets_sums sums;
	double *fitted = fit->fitted + fit->first;
	size_t i, m = fit->period;

	if (m)
		memcpy(fit->season, fit->season0, m * sizeof(double));
	if (ets_run(&shape, &fit->params, &st, s->values, s->n, fitted,
	            &sums) < 0)
		return -1;
	fit->sse = sums.sse;
	fit->level = st.level;
	fit->trend = shape.trend ? st.trend : 0;
	for (i = 0; i < s->n; i++) {
		double y = input[fit->first + i];

		fit->residuals[fit->first + i] =
			isfinite(y) ? y - fitted[i] : NAN;
	}
	/* rotate the ring so that season[k] serves forecast step k + 1 */
	if (m)
		rotate_left(fit->season, m, s->n % m);
	ets_scores(fit, s->values, s->n, &sums);
	return 0;
}

/* Multiplicative models need values above 0 (R: "inappropriate model
 * for data with negative or zero values"). */
static int ets_data_ok(enum mas_stats_ets_model model, const struct span *s)
{
	struct ets_shape shape = ets_shape_of(model, 2);

	return !(shape.error_mult || shape.season_mult) ||
	       all_positive(s->values, s->n);
}

int mas_stats_ets_smooth(struct mas_stats_ets *fit,
                         enum mas_stats_ets_model model, const double *y,
                         size_t count, size_t period,
                         const struct mas_stats_ets_params *params,
                         double level0, double trend0, const double *season0)
{
	struct span s;
	struct ets_shape shape = ets_shape_of(model, period);
	int status = ets_begin(fit, model, y, count, period, &s);

	if (status == MAS_STATS_OK &&
	    (!params || (shape.seasonal && !season0)))
		status = MAS_STATS_EINVAL;
	if (status == MAS_STATS_OK) {
		fit->params = *params;
		if (!shape.trend)
			fit->params.beta = 0;
		if (!shape.seasonal)
			fit->params.gamma = 0;
		if (!shape.damped)
			fit->params.phi = 1;
		fit->level0 = level0;
		fit->trend0 = shape.trend ? trend0 : 0;
		if (fit->period)
			memcpy(fit->season0, season0,
			       fit->period * sizeof(double));
		if (ets_finish(fit, y, &s) < 0)
			status = MAS_STATS_ERANGE;
	}
	ets_end(fit, status);
	free(s.values);
	return status;
}

static void ets_problem_free(struct ets_problem *p)
{
	free(p->design);
	free(p->target);
	free(p->diagonal);
	free(p->coefficients);
	free(p->fixed_season);
	free(p->initial.season);
	free(p->work.season);
	free(p->saved_season);
}

static int ets_problem_alloc(struct ets_problem *p, size_t m)
{
	size_t columns = p->columns, seasons = m ? m : 1;
	int exact = !p->shape.season_mult;

	if (exact) {
		p->design = malloc(p->n * columns * sizeof(double));
		p->target = malloc(p->n * sizeof(double));
	}
	p->diagonal = malloc(columns * sizeof(double));
	p->coefficients = malloc(columns * sizeof(double));
	p->fixed_season = calloc(seasons, sizeof(double));
	p->initial.season = malloc(seasons * sizeof(double));
	p->work.season = malloc(seasons * sizeof(double));
	p->saved_season = malloc(seasons * sizeof(double));
	return (!exact || (p->design && p->target)) && p->diagonal &&
	       p->coefficients && p->fixed_season && p->initial.season &&
	       p->work.season && p->saved_season;
}

/* Sets up the problem of fitting fit's model to the span. */
static int ets_problem_init(struct ets_problem *p,
                            const struct mas_stats_ets *fit,
                            const struct span *s)
{
	memset(p, 0, sizeof(*p));
	p->shape = ets_shape_of(fit->model, fit->period);
	p->y = s->values;
	p->n = s->n;
	if (p->shape.seasonal && !p->shape.season_mult &&
	    fit->period <= MAS_STATS_ETS_OPTIMISED_PERIOD)
		p->free_season = fit->period - 1;
	p->columns = 1 + (size_t)p->shape.trend + p->free_season;
	p->profile = !p->shape.season_mult &&
	             p->n * p->columns * p->columns <= ETS_PROFILE_BUDGET;
	ets_floors(p->y, p->n, &p->floor_sse, &p->floor_rel);
	if (!ets_problem_alloc(p, fit->period))
		return MAS_STATS_ENOMEM;
	ets_heuristic_states(p);
	/* seasonal states not estimated stay at the heuristic's */
	if (p->shape.seasonal && !p->free_season)
		memcpy(p->fixed_season, p->initial.season,
		       p->shape.m * sizeof(double));
	return MAS_STATS_OK;
}

/* The estimation proper, on the gap-filled span; fills the parameters
 * and initial states of fit. */
static int ets_estimate(struct mas_stats_ets *fit, const struct span *s)
{
	struct ets_problem p;
	double point[ETS_MAX_PARAMS], value = HUGE_VAL;
	int status = ets_problem_init(&p, fit, s);

	if (status == MAS_STATS_OK)
		status = ets_optimise(&p, point, &value);
	if (status == MAS_STATS_OK) {
		ets_decode_params(&p.shape, point, &fit->params);
		/* every point overflowed: squares of the data do not fit */
		if (value == HUGE_VAL ||
		    (p.profile && ets_best_states(&p, &fit->params) < 0))
			status = MAS_STATS_ERANGE;
	}
	if (status == MAS_STATS_OK) {
		fit->level0 = p.initial.level;
		fit->trend0 = p.shape.trend ? p.initial.trend : 0;
		if (fit->period)
			memcpy(fit->season0, p.initial.season,
			       fit->period * sizeof(double));
	}
	ets_problem_free(&p);
	return status;
}

int mas_stats_ets_fit(struct mas_stats_ets *fit,
                      enum mas_stats_ets_model model, const double *y,
                      size_t count, size_t period)
{
	struct span s;
	int status = ets_begin(fit, model, y, count, period, &s);

	if (status == MAS_STATS_OK &&
	    s.n < mas_stats_ets_min_length(model, period))
		status = MAS_STATS_ESHORT;
	if (status == MAS_STATS_OK && !ets_data_ok(model, &s))
		status = MAS_STATS_EINVAL;
	if (status == MAS_STATS_OK)
		status = ets_estimate(fit, &s);
	if (status == MAS_STATS_OK && ets_finish(fit, y, &s) < 0)
		status = MAS_STATS_ERANGE;
	ets_end(fit, status);
	free(s.values);
	return status;
}

/* Whether auto tries model on n values, positive or not. */
static int ets_candidate(enum mas_stats_ets_model model, size_t n,
                         size_t period, int positive)
{
	struct ets_shape shape = ets_shape_of(model, period);
	size_t need = mas_stats_ets_min_length(model, period);

	if ((shape.error_mult || shape.season_mult) && !positive)
		return 0;
	return need > 0 && n >= need;
}

/* Length of the span mas_stats_ets_fit would use, and whether every
 * finite value in it is above 0. */
static size_t trimmed_length(const double *y, size_t count, int *positive)
{
	size_t first = 0, end = count, i;

	while (first < count && !isfinite(y[first]))
		first++;
	while (end > first && !isfinite(y[end - 1]))
		end--;
	*positive = end > first;
	for (i = first; i < end; i++)
		if (isfinite(y[i]) && !(y[i] > 0))
			*positive = 0;
	return end - first;
}

int mas_stats_ets_auto(struct mas_stats_ets *best, const double *y,
                       size_t count, size_t period,
                       double aicc[MAS_STATS_ETS_MODELS])
{
	struct mas_stats_ets trial;
	size_t n;
	int model, found = 0, status = MAS_STATS_ESHORT, positive;

	for (model = 0; aicc && model < MAS_STATS_ETS_MODELS; model++)
		aicc[model] = NAN;
	if (!best || (!y && count))
		return MAS_STATS_EINVAL;
	mas_stats_ets_release(best);
	n = trimmed_length(y, count, &positive);
	mas_stats_ets_init(&trial);
	for (model = 0; model < MAS_STATS_ETS_MODELS; model++) {
		int fitted;

		if (!ets_candidate(model, n, period, positive))
			continue;
		fitted = mas_stats_ets_fit(&trial, model, y, count, period);
		if (fitted != MAS_STATS_OK)
			status = fitted;
		if (fitted == MAS_STATS_ENOMEM) {
			found = 0;
			break;
		}
		if (fitted != MAS_STATS_OK)
			continue;
		if (aicc)
			aicc[model] = trial.aicc;
		if (found && !(trial.aicc < best->aicc))
			continue;
		mas_stats_ets_release(best);
		*best = trial;
		mas_stats_ets_init(&trial);
		found = 1;
	}
	mas_stats_ets_release(&trial);
	if (found)
		return MAS_STATS_OK;
	mas_stats_ets_release(best);
	return status;
}

/* ------------------------------------------------------------------ */
/* ETS forecasts                                                       */

/* Point forecasts from states: season[(offset + h - 1) % m] serves step
 * h (offset 0 for the rotated final states). */
static void ets_points(const struct ets_shape *shape,
                       const struct mas_stats_ets_params *par, double level,
                       double trend, const double *season, size_t offset,
                       size_t horizon, double *out)
{
	double damping = 0, power = 1;
	size_t h;

	for (h = 1; h <= horizon; h++) {
		double q, s = 0;

		power *= shape->damped ? par->phi : 1;
		damping += power; /* phi + ... + phi^h */
		q = level + (shape->trend ? damping * trend : 0);
		if (shape->seasonal)
			s = season[(offset + h - 1) % shape->m];
		out[h - 1] = shape->season_mult ? q * s : q + s;
	}
}

/* c_j of stats.h, damping being phi + ... + phi^j. */
static double ets_weight(const struct ets_shape *shape,
                         const struct mas_stats_ets_params *par,
                         double damping, size_t j)
{
	double c = par->alpha + (shape->trend ? par->beta * damping : 0);

	if (shape->seasonal && j % shape->m == 0)
		c += par->gamma;
	return c;
}

/* v_h of classes 1 and 2 (stats.h) into var[0..horizon-1]; theta is
 * scratch of horizon doubles, NULL for class 1. */
static void ets_variances(const struct mas_stats_ets *fit,
                          const struct ets_shape *shape, const double *mean,
                          size_t horizon, double *var, double *theta)
{
	const struct mas_stats_ets_params *par = &fit->params;
	double damping = 0, power = 1, spread = 0, s2 = fit->sigma2;
	size_t h, j;

	for (h = 1; h <= horizon; h++) {
		power *= shape->damped ? par->phi : 1;
		damping += power;
		if (!theta) {
			var[h - 1] = s2 * (1 + spread);
			spread += pow(ets_weight(shape, par, damping, h), 2);
			continue;
		}
		/* var holds c_j^2 while theta is built */
		var[h - 1] = pow(ets_weight(shape, par, damping, h), 2);
		theta[h - 1] = mean[h - 1] * mean[h - 1];
		for (j = 1; j < h; j++)
			theta[h - 1] += s2 * var[j - 1] * theta[h - 1 - j];
	}
	for (h = 0; theta && h < horizon; h++)
		var[h] = (1 + s2) * theta[h] - mean[h] * mean[h];
}

/* A fixed-seed generator (splitmix64) and normal draws (Box-Muller). */
static double uniform_draw(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return ((double)(z >> 11) + 0.5) * 0x1p-53;
}

static double normal_draw(uint64_t *state)
{
	double u = uniform_draw(state), v = uniform_draw(state);

	return sqrt(-2 * log(u)) * cos(2 * PI * v);
}

/* The k-th smallest of v[0..n-1] (reordered), by quickselect. */
static double select_kth(double *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		double pivot = v[lo + (hi - lo) / 2];
		size_t i = lo, j = hi;

		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				double keep = v[i];

				v[i] = v[j];
				v[j] = keep;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return v[k];
	}
	return v[k];
}

/* The p-quantile (type 7, as mas_stats_quantile) of v, reordered. */
static double quantile_unsorted(double *v, size_t n, double p)
{
	double h = (double)(n - 1) * p, below, above = 0;
	size_t k = (size_t)floor(h), i;

	below = select_kth(v, n, k);
	if (k + 1 >= n)
		return below;
	/* after selection everything past k is >= below: take their min */
	above = v[k + 1];
	for (i = k + 2; i < n; i++)
		above = fmin(above, v[i]);
	return below + (h - (double)k) * (above - below);
}

/* One simulated path of horizon values into out (stride paths). */
static void ets_path(const struct mas_stats_ets *fit,
                     const struct ets_shape *shape, double *season,
                     uint64_t *seed, size_t horizon, double *out,
                     size_t stride)
{
	const struct mas_stats_ets_params *par = &fit->params;
	double level = fit->level, trend = fit->trend, sd = sqrt(fit->sigma2);
	double phi = shape->damped ? par->phi : 1;
	size_t h, m = shape->m;

	if (shape->seasonal)
		memcpy(season, fit->season, m * sizeof(double));
	for (h = 0; h < horizon; h++) {
		double damped_trend = shape->trend ? phi * trend : 0;
		double q = level + damped_trend, u, v, y, e;
		double s = shape->seasonal ? season[h % m] : 0;
		double f = shape->season_mult ? q * s : q + s;
		double draw = sd * normal_draw(seed);

		y = shape->error_mult ? f * (1 + draw) : f + draw;
		e = y - f;
		u = v = e;
		if (shape->season_mult) {
			u = fabs(s) > ETS_TINY ? e / s : 0;
			v = fabs(q) > ETS_TINY ? e / q : 0;
		}
		level = q + par->alpha * u;
		trend = damped_trend + par->beta * u;
		if (shape->seasonal)
			season[h % m] = s + par->gamma * v;
		out[h * stride] = y;
	}
}

/* Interval bounds from simulated paths. */
static int ets_simulate(const struct mas_stats_ets *fit,
                        const struct ets_shape *shape, size_t horizon,
                        double coverage, double *lower, double *upper)
{
	size_t paths = MAS_STATS_ETS_PATHS, i, h;
	double *values, *season;
	uint64_t seed = 20080101; /* any fixed value: same fit, same bounds */

	if (horizon > 400)
		paths = 400000 / horizon > 100 ? 400000 / horizon : 100;
	values = malloc(paths * horizon * sizeof(double));
	season = malloc((shape->m ? shape->m : 1) * sizeof(double));
	if (!values || !season) {
		free(values);
		free(season);
		return MAS_STATS_ENOMEM;
	}
	for (i = 0; i < paths; i++)
		ets_path(fit, shape, season, &seed, horizon, values + i, paths);
	for (h = 0; h < horizon; h++) {
		double *row = values + h * paths;

		lower[h] = quantile_unsorted(row, paths, (1 - coverage) / 2);
		upper[h] = quantile_unsorted(row, paths, (1 + coverage) / 2);
	}
	free(values);
	free(season);
	return MAS_STATS_OK;
}

/* Class 1 and 2 bounds: mean -/+ z sqrt(v_h). */
static int ets_analytic(const struct mas_stats_ets *fit,
                        const struct ets_shape *shape, size_t horizon,
                        double coverage, const double *mean, double *lower,
                        double *upper)
{
	double z = mas_stats_normal_quantile((1 + coverage) / 2);
	double *theta = NULL;
	size_t h;

	if (shape->error_mult) {
		theta = malloc(horizon * sizeof(double));
		if (!theta)
			return MAS_STATS_ENOMEM;
	}
	/* upper holds the variances until the bounds replace them */
	ets_variances(fit, shape, mean, horizon, upper, theta);
	for (h = 0; h < horizon; h++) {
		double sd = sqrt(fmax(upper[h], 0));

		lower[h] = mean[h] - z * sd;
		upper[h] = mean[h] + z * sd;
	}
	free(theta);
	return MAS_STATS_OK;
}

int mas_stats_ets_forecast(const struct mas_stats_ets *fit, size_t horizon,
                           double coverage, double *mean, double *lower,
                           double *upper)
{
	struct ets_shape shape;
	int intervals = lower && upper;
	size_t h;

	if (!fit || !fit->fitted || (!mean && horizon) ||
	    (intervals && !(coverage > 0 && coverage < 1)))
		return MAS_STATS_EINVAL;
	shape = ets_shape_of(fit->model, fit->period);
	ets_points(&shape, &fit->params, fit->level, fit->trend, fit->season,
	           0, horizon, mean);
	if (!intervals || horizon == 0)
		return MAS_STATS_OK;
	if (!isfinite(fit->sigma2)) {
		for (h = 0; h < horizon; h++)
			lower[h] = upper[h] = NAN;
		return MAS_STATS_OK;
	}
	if (shape.error_mult && (shape.seasonal || shape.season_mult))
		return ets_simulate(fit, &shape, horizon, coverage, lower,
		                    upper);
	return ets_analytic(fit, &shape, horizon, coverage, mean, lower,
	                    upper);
}

int mas_stats_ets_origin_forecasts(const struct mas_stats_ets *fit,
                                   const double *y, size_t from,
                                   size_t horizon, double *out)
{
	struct ets_shape shape;
	struct ets_states st;
	struct span s;
	size_t t, m;
	int status;

	if (!fit || !fit->fitted || !y || !out || from < 1 || from >= fit->n)
		return MAS_STATS_EINVAL;
	shape = ets_shape_of(fit->model, fit->period);
	m = shape.seasonal ? shape.m : 1;
	status = span_fill(&s, y, fit->count);
	st.level = fit->level0;
	st.trend = fit->trend0;
	st.at = 0;
	st.season = malloc(m * sizeof(double));
	if (status != MAS_STATS_OK || !st.season || s.n != fit->n) {
		free(s.values);
		free(st.season);
		return status != MAS_STATS_OK ? status : MAS_STATS_ENOMEM;
	}
	if (shape.seasonal)
		memcpy(st.season, fit->season0, m * sizeof(double));
	/* a run of one value at a time from the states it reached */
	ets_run(&shape, &fit->params, &st, s.values, from, NULL, NULL);
	for (t = from; t < fit->n; t++) {
		ets_points(&shape, &fit->params, st.level, st.trend,
		           st.season, st.at, horizon,
		           out + (t - from) * horizon);
		ets_run(&shape, &fit->params, &st, s.values + t, 1, NULL,
		        NULL);
	}
	free(s.values);
	free(st.season);
	return MAS_STATS_OK;
}

/* ------------------------------------------------------------------ */
/* Seasonal period                                                     */

int mas_stats_acf(double *acf, const double *x, size_t n, size_t max_lag)
{
	double mean = 0, total = 0;
	size_t i, k;

	if (!acf || !x || max_lag >= n)
		return MAS_STATS_EINVAL;
	for (i = 0; i < n; i++) {
		if (!isfinite(x[i]))
			return MAS_STATS_EINVAL;
		mean += x[i];
	}
	mean /= (double)n;
	for (i = 0; i < n; i++)
		total += (x[i] - mean) * (x[i] - mean);
	for (k = 0; k <= max_lag; k++) {
		double lagged = 0;

		for (i = 0; i + k < n; i++)
			lagged += (x[i] - mean) * (x[i + k] - mean);
		acf[k] = total > 0 ? lagged / total : NAN;
	}
	return total > 0 ? MAS_STATS_OK : MAS_STATS_EDEGENERATE;
}

/* Replaces v by its residuals from a line on the position; returns the
 * residual sd relative to the sd of v (0 for a constant). */
static double detrend(double *v, size_t n)
{
	struct mas_stats_trend line;
	double before = 0, after = 0, mean = 0;
	size_t i;

	for (i = 0; i < n; i++)
		mean += v[i];
	mean /= (double)n;
	for (i = 0; i < n; i++)
		before += (v[i] - mean) * (v[i] - mean);
	mas_stats_trend(&line, NULL, v, n);
	for (i = 0; i < n; i++) {
		v[i] -= line.intercept + line.slope * (double)i;
		after += v[i] * v[i];
	}
	return before > 0 ? sqrt(after / before) : 0;
}

/*
 * A local peak of the ACF above the bar, that the ACF dipped to below
 * by `dip` at least at some shorter lag (r has p + 1 entries at least).
 * A season's ACF falls between lag 0 and its period and rises again; a
 * trend that the line did not take out (a curve) leaves an ACF that
 * decays slowly from lag 1, and the noise's small bumps on it are no
 * season: web1's requests in examples/data (r 0.81 at lag 1, a bump of
 * 0.02 to 0.66 at lag 5) against engagement's weekly season (r 0.58 at
 * lag 7 after -0.40 at lags 3-4).
 */
static int season_peak(const double *r, size_t p, double bar, double dip)
{
	double lowest = r[1];
	size_t k;

	if (!(r[p] > r[p - 1] && r[p] >= r[p + 1] && r[p] > bar))
		return 0;
	for (k = 2; k < p; k++)
		lowest = fmin(lowest, r[k]);
	return r[p] - lowest >= dip;
}

/* The lag chosen by the rule of stats.h, or 0. */
static size_t season_pick(const double *r, size_t longest, double bar,
                          double dip)
{
	size_t p, q, best = 0;

	for (p = 2; p <= longest; p++)
		if (season_peak(r, p, bar, dip) && (!best || r[p] > r[best]))
			best = p;
	/* a multiple of the period peaks nearly as high: keep the period */
	for (q = 2; best && q < best; q++)
		if (season_peak(r, q, bar, dip) && best % q == 0 &&
		    r[q] >= 0.9 * r[best])
			return q;
	return best;
}

int mas_stats_season_detect(struct mas_stats_season *out, const double *y,
                            size_t count, size_t max_period,
                            double threshold)
{
	struct span s;
	double *r = NULL;
	size_t longest;
	int status;

	if (!out || (!y && count))
		return MAS_STATS_EINVAL;
	memset(out, 0, sizeof(*out));
	out->acf = out->bound = NAN;
	status = span_fill(&s, y, count);
	if (status != MAS_STATS_OK)
		return status;
	out->n = s.n;
	out->bound = 1.96 / sqrt((double)s.n);
	longest = max_period && max_period < s.n / 2 ? max_period : s.n / 2;
	if (s.n < 8)
		status = MAS_STATS_ESHORT;
	else if (detrend(s.values, s.n) > 1e-10) {
		r = malloc((longest + 2) * sizeof(*r));
		status = r ? mas_stats_acf(r, s.values, s.n, longest + 1)
		           : MAS_STATS_ENOMEM;
	}
	if (r && status == MAS_STATS_OK) {
		out->period =
			season_pick(r, longest, fmax(threshold, out->bound),
			            threshold);
		out->acf = out->period ? r[out->period] : NAN;
	}
	free(r);
	free(s.values);
	return status;
}

/* ------------------------------------------------------------------ */
/* Robust anomalies                                                    */

/* Median, MAD and mean absolute deviation of the finite values of x. */
struct spread {
	double median, mad, mean_deviation;
};

static int spread_of(struct spread *out, const double *x, size_t count)
{
	double *work;
	size_t i, n;

	work = finite_copy(x, count, &n);
	if (!work)
		return MAS_STATS_ENOMEM;
	if (n == 0) {
		free(work);
		return MAS_STATS_ESHORT;
	}
	out->median = median_in_place(work, n);
	out->mean_deviation = 0;
	for (i = 0; i < n; i++) {
		work[i] = fabs(work[i] - out->median);
		out->mean_deviation += work[i];
	}
	out->mean_deviation /= (double)n;
	out->mad = median_in_place(work, n);
	free(work);
	return MAS_STATS_OK;
}

int mas_stats_robust_z(double *z, const double *x, size_t count,
                       double *median_out, double *mad_out)
{
	struct spread s = { NAN, NAN, NAN };
	size_t i;
	int status;

	if ((!z || !x) && count)
		return MAS_STATS_EINVAL;
	for (i = 0; i < count; i++)
		z[i] = NAN;
	status = spread_of(&s, x, count);
	if (median_out)
		*median_out = s.median;
	if (mad_out)
		*mad_out = s.mad;
	for (i = 0; status == MAS_STATS_OK && i < count; i++) {
		double deviation = x[i] - s.median;

		if (!isfinite(x[i]))
			continue;
		if (s.mad > 0)
			z[i] = 0.6745 * deviation / s.mad;
		else if (s.mean_deviation > 0)
			z[i] = deviation / (1.253314 * s.mean_deviation);
		else
			z[i] = 0;
	}
	return status;
}

void mas_stats_anomalies_init(struct mas_stats_anomalies *found)
{
	if (!found)
		return;
	memset(found, 0, sizeof(*found));
	found->median = found->mad = NAN;
}

void mas_stats_anomalies_release(struct mas_stats_anomalies *found)
{
	if (!found)
		return;
	free(found->index);
	free(found->value);
	free(found->score);
	mas_stats_anomalies_init(found);
}

static int anomalies_allocate(struct mas_stats_anomalies *found,
                              size_t count)
{
	size_t slots = count ? count : 1;

	found->index = malloc(slots * sizeof(*found->index));
	found->value = malloc(slots * sizeof(*found->value));
	found->score = malloc(slots * sizeof(*found->score));
	return found->index && found->value && found->score;
}

int mas_stats_anomalies_find(struct mas_stats_anomalies *found,
                             const double *x, size_t count, double threshold)
{
	double *z;
	size_t i;
	int status;

	if (!found)
		return MAS_STATS_EINVAL;
	mas_stats_anomalies_release(found);
	if ((!x && count) || !(threshold > 0))
		return MAS_STATS_EINVAL;
	z = malloc((count ? count : 1) * sizeof(*z));
	if (!z || !anomalies_allocate(found, count)) {
		free(z);
		mas_stats_anomalies_release(found);
		return MAS_STATS_ENOMEM;
	}
	status = mas_stats_robust_z(z, x, count, &found->median, &found->mad);
	for (i = 0; status == MAS_STATS_OK && i < count; i++) {
		if (!(fabs(z[i]) > threshold))
			continue;
		found->index[found->count] = i;
		found->value[found->count] = x[i];
		found->score[found->count] = z[i];
		found->count++;
	}
	free(z);
	return status;
}

/* ------------------------------------------------------------------ */
/* Correlation                                                         */

static void correlation_of(struct mas_stats_correlation *out,
                           const struct moments *m)
{
	double r, df = (double)m->n - 2;

	r = m->sxy / sqrt(m->sxx) / sqrt(m->syy);
	r = fmax(-1, fmin(1, r));
	out->r = r;
	if (fabs(r) == 1) {
		out->p_value = 0;
		return;
	}
	out->p_value = mas_stats_t_pvalue(r * sqrt(df / ((1 - r) * (1 + r))),
	                                  df);
}

/* Status and NaN results for pairs that cannot give a coefficient. */
static int correlation_check(struct mas_stats_correlation *out,
                             const struct moments *m)
{
	out->n = m->n;
	out->r = out->p_value = NAN;
	if (m->n < 3)
		return MAS_STATS_ESHORT;
	if (m->sxx == 0 || m->syy == 0)
		return MAS_STATS_EDEGENERATE;
	return MAS_STATS_OK;
}

int mas_stats_pearson(struct mas_stats_correlation *out, const double *x,
                      const double *y, size_t count)
{
	struct moments m;
	int status;

	if (!out || ((!x || !y) && count))
		return MAS_STATS_EINVAL;
	moments_of(&m, x, y, count);
	status = correlation_check(out, &m);
	if (status == MAS_STATS_OK)
		correlation_of(out, &m);
	return status;
}

struct ranked {
	double value;
	size_t at;
};

static int compare_ranked(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->value != y->value)
		return (x->value > y->value) - (x->value < y->value);
	return (x->at > y->at) - (x->at < y->at);
}

/* Sorts ORDER by value, ties in input order, as compare_ranked does, by
 * the same radix passes on the structs themselves (one scratch copy, so a
 * million values cost 16 MB more, not 32); 0 when N is small or memory is
 * short (the caller uses qsort). */
static int sort_ranked_radix(struct ranked *order, size_t n)
{
	struct ranked *scratch;

	if (n < RADIX_MIN)
		return 0;
	scratch = malloc(n * sizeof(*scratch));
	if (!scratch)
		return 0;
	for (int shift = 0; shift < 64; shift += 8) {
		size_t count[256] = { 0 }, offset = 0;
		unsigned first = (unsigned)(order_key(order[0].value) >> shift)
		                 & 255;

		for (size_t i = 0; i < n; i++)
			count[(order_key(order[i].value) >> shift) & 255]++;
		if (count[first] == n)
			continue;
		for (int b = 0; b < 256; b++) {
			size_t c = count[b];
			count[b] = offset;
			offset += c;
		}
		for (size_t i = 0; i < n; i++)
			scratch[count[(order_key(order[i].value) >> shift) &
			              255]++] = order[i];
		memcpy(order, scratch, n * sizeof(*order));
	}
	free(scratch);
	return 1;
}

/* rank[i] = average 1-based rank of v[i] among v[0..n-1]. */
static void average_ranks(struct ranked *order, const double *v, size_t n,
                          double *rank)
{
	size_t i = 0, j;

	for (j = 0; j < n; j++) {
		order[j].value = v[j];
		order[j].at = j;
	}
	if (!sort_ranked_radix(order, n))
		qsort(order, n, sizeof(*order), compare_ranked);
	while (i < n) {
		size_t end = i + 1;
		double average;

		while (end < n && order[end].value == order[i].value)
			end++;
		average = (double)(i + 1 + end) / 2; /* mean of i+1..end */
		for (j = i; j < end; j++)
			rank[order[j].at] = average;
		i = end;
	}
}

int mas_stats_spearman(struct mas_stats_correlation *out, const double *x,
                       const double *y, size_t count)
{
	double *xs, *ys, *rx, *ry;
	struct ranked *order;
	size_t i, n = 0;
	int status = MAS_STATS_ENOMEM;

	if (!out || ((!x || !y) && count))
		return MAS_STATS_EINVAL;
	out->n = 0;
	out->r = out->p_value = NAN;
	xs = malloc((count ? count : 1) * 4 * sizeof(double));
	order = malloc((count ? count : 1) * sizeof(*order));
	if (xs && order) {
		ys = xs + count;
		rx = ys + count;
		ry = rx + count;
		for (i = 0; i < count; i++) {
			if (!isfinite(x[i]) || !isfinite(y[i]))
				continue;
			xs[n] = x[i];
			ys[n] = y[i];
			n++;
		}
		average_ranks(order, xs, n, rx);
		average_ranks(order, ys, n, ry);
		status = mas_stats_pearson(out, rx, ry, n);
	}
	free(xs);
	free(order);
	return status;
}
