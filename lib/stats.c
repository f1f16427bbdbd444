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

		return lgamma(p) + correction + p - p * log(p + q) +
		       (q - 0.5) * log1p(-ratio);
	}
	return lgamma(p) + lgamma(q) - lgamma(p + q);
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

/* ------------------------------------------------------------------ */
/* Nelder-Mead                                                         */

typedef double (*objective_fn)(const double *point, void *context);

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

static void simplex_start(struct simplex *s, const double *start,
                          const double *step)
{
	size_t i;

	for (i = 0; i <= s->dim; i++) {
		memcpy(vertex(s, i), start, s->dim * sizeof(double));
		if (i > 0)
			vertex(s, i)[i - 1] += step[i - 1];
		s->values[i] = simplex_eval(s, vertex(s, i));
	}
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
 * start and returns its value. */
static double simplex_run(struct simplex *s, double *start,
                          const double *step)
{
	size_t best, worst, second;

	simplex_start(s, start, step);
	for (;;) {
		double spread;

		simplex_order(s, &best, &worst, &second);
		spread = s->values[worst] - s->values[best];
		if (spread <= 1e-12 * fabs(s->values[best]) + 1e-300)
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
 * a fresh simplex around the best point until a restart gains less than
 * 1e-10: a collapsed simplex is Nelder-Mead's usual way to stall.
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
	for (restart = 0; restart < 8; restart++) {
		double found;

		s.evaluations = 0;
		s.max_evaluations = 500 * (dim + 1);
		found = simplex_run(&s, start, step);
		if (!(found < best - 1e-10 * fabs(best))) {
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
	int trend, damped, seasonal;
	size_t m; /* 1 without season, so that i % m is harmless */
};

static int ets_model_ok(enum mas_stats_ets_model model)
{
	return (int)model >= 0 && (int)model < MAS_STATS_ETS_MODELS;
}

static struct ets_shape ets_shape_of(enum mas_stats_ets_model model,
                                     size_t period)
{
	struct ets_shape shape = { 0, 0, 0, 1 };

	shape.trend = model == MAS_STATS_ETS_AAN ||
	              model == MAS_STATS_ETS_AADN ||
	              model == MAS_STATS_ETS_AAA ||
	              model == MAS_STATS_ETS_AADA;
	shape.damped =
		model == MAS_STATS_ETS_AADN || model == MAS_STATS_ETS_AADA;
	shape.seasonal = model == MAS_STATS_ETS_ANA ||
	                 model == MAS_STATS_ETS_AAA ||
	                 model == MAS_STATS_ETS_AADA;
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
	static const char *const names[MAS_STATS_ETS_MODELS] = {
		"ANN", "AAN", "AAdN", "ANA", "AAA", "AAdA"
	};

	return ets_model_ok(model) ? names[model] : "?";
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
};

/*
 * The recursions of stats.h over y[0..n-1] (y NULL: all zero, to trace
 * how initial states propagate); season is updated in place.  fitted may
 * be NULL (the optimiser needs only the SSE).  Returns the SSE, or
 * HUGE_VAL when it overflowed: unstable parameters.
 */
static double ets_run(const struct ets_shape *shape,
                      const struct mas_stats_ets_params *par,
                      struct ets_states *st, const double *y, size_t n,
                      double *fitted)
{
	/* one loop for all six models: absent parts are zeros that stay 0 */
	double none = 0, *season = shape->seasonal ? st->season : &none;
	double phi = shape->damped ? par->phi : 1;
	double beta = shape->trend ? par->beta : 0;
	double gamma = shape->seasonal ? par->gamma : 0;
	double level = st->level, trend = shape->trend ? st->trend : 0;
	double sse = 0;
	size_t i, at = 0, m = shape->seasonal ? shape->m : 1;

	for (i = 0; i < n; i++) {
		double damped_trend = phi * trend;
		double forecast = level + damped_trend + season[at];
		double error = (y ? y[i] : 0) - forecast;

		if (fitted)
			fitted[i] = forecast;
		level += damped_trend + par->alpha * error;
		trend = damped_trend + beta * error;
		season[at] += gamma * error;
		at = at + 1 == m ? 0 : at + 1;
		sse += error * error;
	}
	st->level = level;
	st->trend = trend;
	return isfinite(sse) ? sse : HUGE_VAL;
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

/* Seasonal indices of a classical additive decomposition, sum 0. */
static void seasonal_indices(const double *y, size_t n, size_t m,
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
			if (t < half)
				continue;
			total += y[t] - centred_average(y, t, m);
			seen++;
		}
		season[j] = seen ? total / (double)seen : 0;
		mean += season[j];
	}
	mean /= (double)m;
	for (j = 0; j < m; j++)
		season[j] -= mean;
}

/* ------------------------------------------------------------------ */
/* ETS estimation                                                      */
/*
 * For fixed smoothing parameters the one-step errors of these additive
 * models are affine in the initial states (x_t = D x_{t-1} + g y_t, D
 * constant), so the states that minimise the SSE solve a linear
 * least-squares problem.  Nelder-Mead then searches only the smoothing
 * parameters, at most 4, each point scored with its best states: searched
 * jointly, a dozen state coordinates made it stall well short of the
 * optimum.
 */

struct ets_problem {
	struct ets_shape shape;
	const double *y;
	size_t n;
	size_t free_season;   /* seasonal states estimated: m - 1, or 0 */
	size_t columns;       /* states estimated: 1 + trend + free_season */
	double *design;       /* n x columns, column-major */
	double *target;       /* n */
	double *diagonal;     /* columns, scratch of least_squares */
	double *coefficients; /* columns */
	double *fixed_season; /* m: zeros, or the heuristic if not estimated */
	struct ets_states initial; /* best states for the last point scored */
	struct ets_states work;    /* scratch for one run */
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

/* Fills p->initial with the best states for par; 0, or -1 if a run
 * overflowed (parameters far outside any stable region). */
static int ets_best_states(struct ets_problem *p,
                           const struct mas_stats_ets_params *par)
{
	struct ets_states *st = &p->work;
	size_t trend = (size_t)p->shape.trend, i, j, m = p->shape.m;
	double moved = 0;

	ets_zero_states(p, st);
	if (p->shape.seasonal)
		memcpy(st->season, p->fixed_season, m * sizeof(double));
	if (ets_run(&p->shape, par, st, p->y, p->n, p->target) == HUGE_VAL)
		return -1;
	for (i = 0; i < p->n; i++)
		p->target[i] = p->y[i] - p->target[i];
	for (j = 0; j < p->columns; j++) {
		ets_unit_states(p, j, st);
		if (ets_run(&p->shape, par, st, NULL, p->n,
		            p->design + j * p->n) == HUGE_VAL)
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

static double logistic(double u)
{
	return 1 / (1 + exp(-u));
}

static double logit(double p)
{
	return log(p / (1 - p));
}

/* The admissible ranges of stats.h, one unbounded coordinate each. */
static void ets_decode_params(const struct ets_shape *shape,
                              const double *point,
                              struct mas_stats_ets_params *par)
{
	size_t i = 0;

	par->alpha = logistic(point[i++]);
	par->beta = shape->trend ? par->alpha * logistic(point[i++]) : 0;
	par->gamma =
		shape->seasonal ? (1 - par->alpha) * logistic(point[i++]) : 0;
	par->phi = shape->damped ? 0.8 + 0.18 * logistic(point[i++]) : 1;
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

	point[i++] = logit(par->alpha);
	if (shape->trend)
		point[i++] = logit(par->beta / par->alpha);
	if (shape->seasonal)
		point[i++] = logit(par->gamma / (1 - par->alpha));
	if (shape->damped)
		point[i++] = logit((par->phi - 0.8) / 0.18);
}

/* SSE at a point, with the best initial states for it. */
static double ets_objective(const double *point, void *context)
{
	struct ets_problem *p = context;
	struct mas_stats_ets_params par;

	ets_decode_params(&p->shape, point, &par);
	if (ets_best_states(p, &par) < 0)
		return HUGE_VAL;
	p->work.level = p->initial.level;
	p->work.trend = p->initial.trend;
	if (p->shape.seasonal)
		memcpy(p->work.season, p->initial.season,
		       p->shape.m * sizeof(double));
	return ets_run(&p->shape, &par, &p->work, p->y, p->n, NULL);
}

#define ETS_MAX_PARAMS 4

/*
 * Several starting alphas, because the SSE can have separate basins (a
 * fast level, or a slow one with a steady trend) and Nelder-Mead keeps to
 * the one it starts in.  Fixed starts keep the fit deterministic.
 */
static int ets_optimise(struct ets_problem *p, double *point, double *sse)
{
	/* alpha, beta / alpha, gamma / (1 - alpha); phi starts at 0.9 */
	static const double starts[][3] = { { 0.5, 0.1, 0.1 },
		                            { 0.1, 0.1, 0.1 },
		                            { 0.9, 0.1, 0.1 },
		                            { 0.02, 0.1, 0.1 },
		                            { 0.01, 0.01, 0.01 } };
	double step[ETS_MAX_PARAMS] = { 0.5, 0.5, 0.5, 0.5 };
	double candidate[ETS_MAX_PARAMS], best = HUGE_VAL, value;
	size_t dim = ets_param_count(&p->shape), i;

	for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		double alpha = starts[i][0];
		struct mas_stats_ets_params par = {
			alpha, alpha * starts[i][1],
			(1 - alpha) * starts[i][2], 0.9
		};

		ets_encode_params(&p->shape, &par, candidate);
		if (minimise(ets_objective, p, candidate, step, dim, &value))
			return MAS_STATS_ENOMEM;
		if (i > 0 && !(value < best))
			continue;
		best = value;
		memcpy(point, candidate, sizeof(candidate));
	}
	*sse = best;
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

/* SSE, sigma2 and the information criteria of stats.h. */
static void ets_scores(struct mas_stats_ets *fit, const double *y,
                       size_t n)
{
	double n_d = (double)n, k = (double)fit->k, biggest = 0, sse;
	size_t i;

	for (i = 0; i < n; i++)
		biggest = fmax(biggest, fabs(y[i]));
	/* an exact fit would give log 0; see mas_stats_ets_fit */
	if (biggest == 0)
		biggest = 1;
	sse = fmax(fit->sse, n_d * (1e-15 * biggest) * (1e-15 * biggest));
	fit->sigma2 = n_d > k ? fit->sse / (n_d - k) : NAN;
	fit->loglik = -n_d / 2 * (log(2 * PI * sse / n_d) + 1);
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
 * records fitted values, residuals, final states and scores. */
static void ets_finish(struct mas_stats_ets *fit, const double *input,
                       const struct span *s)
{
	struct ets_shape shape = ets_shape_of(fit->model, fit->period);
	struct ets_states st = { fit->level0, fit->trend0, fit->season };
	double *fitted = fit->fitted + fit->first;
	size_t i, m = fit->period;

	if (m)
		memcpy(fit->season, fit->season0, m * sizeof(double));
	fit->sse = ets_run(&shape, &fit->params, &st, s->values, s->n, fitted);
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
	ets_scores(fit, s->values, s->n);
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
		ets_finish(fit, y, &s);
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
}

static int ets_problem_alloc(struct ets_problem *p, size_t m)
{
	size_t columns = p->columns, seasons = m ? m : 1;

	p->design = malloc(p->n * columns * sizeof(double));
	p->target = malloc(p->n * sizeof(double));
	p->diagonal = malloc(columns * sizeof(double));
	p->coefficients = malloc(columns * sizeof(double));
	p->fixed_season = calloc(seasons, sizeof(double));
	p->initial.season = malloc(seasons * sizeof(double));
	p->work.season = malloc(seasons * sizeof(double));
	return p->design && p->target && p->diagonal && p->coefficients &&
	       p->fixed_season && p->initial.season && p->work.season;
}

/* The estimation proper, on the gap-filled span; fills the parameters
 * and initial states of fit. */
static int ets_estimate(struct mas_stats_ets *fit, const struct span *s)
{
	struct ets_problem p;
	double point[ETS_MAX_PARAMS], sse = HUGE_VAL;
	int status = MAS_STATS_ENOMEM;

	memset(&p, 0, sizeof(p));
	p.shape = ets_shape_of(fit->model, fit->period);
	p.y = s->values;
	p.n = s->n;
	if (p.shape.seasonal && fit->period <= MAS_STATS_ETS_OPTIMISED_PERIOD)
		p.free_season = fit->period - 1;
	p.columns = 1 + (size_t)p.shape.trend + p.free_season;
	if (ets_problem_alloc(&p, fit->period)) {
		if (p.shape.seasonal && !p.free_season)
			seasonal_indices(p.y, p.n, p.shape.m, p.fixed_season);
		status = ets_optimise(&p, point, &sse);
	}
	if (status == MAS_STATS_OK) {
		ets_decode_params(&p.shape, point, &fit->params);
		/* every point overflowed: squares of the data do not fit */
		if (sse == HUGE_VAL || ets_best_states(&p, &fit->params) < 0)
			status = MAS_STATS_ERANGE;
	}
	if (status == MAS_STATS_OK) {
		fit->level0 = p.initial.level;
		fit->trend0 = p.initial.trend;
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
	if (status == MAS_STATS_OK)
		status = ets_estimate(fit, &s);
	if (status == MAS_STATS_OK)
		ets_finish(fit, y, &s);
	ets_end(fit, status);
	free(s.values);
	return status;
}

static int ets_candidate(enum mas_stats_ets_model model, size_t n,
                         size_t period)
{
	size_t need = mas_stats_ets_min_length(model, period);

	return need > 0 && n >= need;
}

/* Length of the span mas_stats_ets_fit would use. */
static size_t trimmed_length(const double *y, size_t count)
{
	size_t first = 0, end = count;

	while (first < count && !isfinite(y[first]))
		first++;
	while (end > first && !isfinite(y[end - 1]))
		end--;
	return end - first;
}

int mas_stats_ets_auto(struct mas_stats_ets *best, const double *y,
                       size_t count, size_t period,
                       double aicc[MAS_STATS_ETS_MODELS])
{
	struct mas_stats_ets trial;
	size_t n;
	int model, found = 0, status = MAS_STATS_ESHORT;

	for (model = 0; aicc && model < MAS_STATS_ETS_MODELS; model++)
		aicc[model] = NAN;
	if (!best || (!y && count))
		return MAS_STATS_EINVAL;
	mas_stats_ets_release(best);
	n = trimmed_length(y, count);
	mas_stats_ets_init(&trial);
	for (model = 0; model < MAS_STATS_ETS_MODELS; model++) {
		int fitted;

		if (!ets_candidate(model, n, period))
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

/* c_j of stats.h, damping being phi + ... + phi^j. */
static double ets_weight(const struct ets_shape *shape,
                         const struct mas_stats_ets_params *par,
                         double damping, size_t j)
{
	double c = par->alpha + par->beta * damping;

	if (shape->seasonal && j % shape->m == 0)
		c += par->gamma;
	return c;
}

int mas_stats_ets_forecast(const struct mas_stats_ets *fit, size_t horizon,
                           double coverage, double *mean, double *lower,
                           double *upper)
{
	struct ets_shape shape;
	const struct mas_stats_ets_params *par;
	double z = NAN, damping = 0, power = 1, spread = 0;
	int intervals = lower && upper;
	size_t h;

	if (!fit || !fit->fitted || (!mean && horizon) ||
	    (intervals && !(coverage > 0 && coverage < 1)))
		return MAS_STATS_EINVAL;
	shape = ets_shape_of(fit->model, fit->period);
	par = &fit->params;
	if (intervals)
		z = mas_stats_normal_quantile((1 + coverage) / 2);
	for (h = 1; h <= horizon; h++) {
		double seasonal =
			shape.seasonal ? fit->season[(h - 1) % shape.m] : 0;
		double sd;

		power *= shape.damped ? par->phi : 1;
		damping += power; /* phi + ... + phi^h */
		mean[h - 1] = fit->level + damping * fit->trend + seasonal;
		if (!intervals)
			continue;
		sd = sqrt(fit->sigma2 * (1 + spread));
		lower[h - 1] = mean[h - 1] - z * sd;
		upper[h - 1] = mean[h - 1] + z * sd;
		spread += pow(ets_weight(&shape, par, damping, h), 2);
	}
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

/* A local peak of the ACF above the bar; r has p + 1 entries at least. */
static int season_peak(const double *r, size_t p, double bar)
{
	return r[p] > r[p - 1] && r[p] >= r[p + 1] && r[p] > bar;
}

/* The lag chosen by the rule of stats.h, or 0. */
static size_t season_pick(const double *r, size_t longest, double bar)
{
	size_t p, q, best = 0;

	for (p = 2; p <= longest; p++)
		if (season_peak(r, p, bar) && (!best || r[p] > r[best]))
			best = p;
	/* a multiple of the period peaks nearly as high: keep the period */
	for (q = 2; best && q < best; q++)
		if (season_peak(r, q, bar) && best % q == 0 &&
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
			season_pick(r, longest, fmax(threshold, out->bound));
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
