/*
 * series-gen — series from known processes, for tests/bench/
 * bench-forecast.sh (and anyone checking mas-analyze's forecasts).
 *
 * usage: series-gen SET COUNT [SEED]
 *
 * Writes COUNT series of SET, one per line:
 *
 *	ID PERIOD HORIZON N y_1 ... y_N | f_1 ... f_HORIZON
 *
 * the first N values to fit, the HORIZON after them to score forecasts
 * on.  SETs:
 *   hourly  960 values + 48, period 24: additive and multiplicative daily
 *           cycles, level shifts, drifts, spiky and intermittent counts
 *   daily   60-120 values + 14, period 7: weekly cycles, damped trends,
 *           intermittent demand, strictly positive ratios
 *   yearly  20-40 values + 6, no period: random walks with drift,
 *           damped and changing trends, level shifts, exponential growth
 * Which process a series comes from is its ID's middle word.  The noise is
 * a fixed-seed generator (splitmix64, Box-Muller): same SET, COUNT and
 * SEED, same bytes on any machine.  Made for this project (public
 * domain, as the rest of its test data).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAU 6.283185307179586

static uint64_t state;

static double uniform(void)
{
	uint64_t z = (state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return ((double)(z >> 11) + 0.5) * 0x1p-53;
}

static double normal(void)
{
	return sqrt(-2 * log(uniform())) * cos(TAU * uniform());
}

static double between(double lo, double hi)
{
	return lo + (hi - lo) * uniform();
}

/* Poisson draw by inversion (small means only). */
static double poisson(double mean)
{
	double p = exp(-mean), sum = p, u = uniform();
	int k = 0;

	while (u > sum && k < 1000) {
		k++;
		p *= mean / k;
		sum += p;
	}
	return k;
}

/* A daily profile: two bumps (morning, evening) over a floor. */
static double daily(int hour, double phase)
{
	double x = (hour + phase) / 24.0;

	return 0.6 * sin(TAU * x) + 0.3 * sin(2 * TAU * x + 1) +
	       0.15 * cos(3 * TAU * x);
}

static const char *hourly(int kind, double *y, int n)
{
	double level = between(50, 2000), amp = between(0.2, 0.6);
	double phase = between(0, 24), drift = between(-0.0004, 0.0006);
	double ar = 0, rho = between(0.3, 0.8), noise = between(0.02, 0.08);
	int shift_at = (int)between(n * 0.5, n * 0.95), t;
	double shift = between(0.7, 1.4);

	for (t = 0; t < n; t++) {
		double base = level * (1 + drift * t);
		double season = daily(t % 24, phase) * (t % 168 >= 120
		                                        ? 0.7 : 1);

		ar = rho * ar + normal() * noise;
		switch (kind) {
		case 0: /* additive cycle, additive noise */
			y[t] = base + level * amp * season + level * ar;
			break;
		case 1: /* multiplicative cycle, growing level */
			y[t] = base * (1 + amp * season) * (1 + ar);
			break;
		case 2: /* multiplicative cycle and a level shift */
			y[t] = base * (t >= shift_at ? shift : 1) *
			       (1 + amp * season) * (1 + ar);
			break;
		case 3: /* positive with spikes */
			y[t] = base * (1 + amp * season) * exp(ar) *
			       (uniform() < 0.01 ? between(2, 4) : 1);
			break;
		case 4: /* intermittent counts with a daily cycle */
			y[t] = poisson(fmax(0.05, between(0.5, 1.5) *
			                          (1 + 1.5 * season)));
			break;
		default: /* random-walk level with an additive cycle */
			level += normal() * noise * 10;
			y[t] = fmax(1, level) + 100 * amp * season +
			       10 * normal() * noise;
			break;
		}
	}
	{
		static const char *const names[] = {
			"additive", "multiplicative", "shift", "spiky",
			"intermittent", "randomwalk"
		};
		return names[kind];
	}
}

static const char *daily_series(int kind, double *y, int n)
{
	static const double week[7] = { 1.05, 1.1, 1.08, 1.06, 1.0, 0.83,
		                        0.88 };
	double level = between(20, 5000), trend = between(-0.004, 0.008);
	double noise = between(0.02, 0.1), phi = between(0.9, 0.97);
	double slope = level * between(-0.01, 0.02);
	int t;

	for (t = 0; t < n; t++) {
		double s = week[t % 7];

		switch (kind) {
		case 0: /* multiplicative weekly cycle, trend */
			y[t] = level * (1 + trend * t) * s * (1 + noise *
			                                      normal());
			break;
		case 1: /* damped trend, additive week */
			level += slope;
			slope *= phi;
			y[t] = level + level * 0.1 * (s - 1) * 3 +
			       level * noise * normal();
			break;
		case 2: /* intermittent demand */
			y[t] = uniform() < 0.35 ? poisson(between(1, 8) * s)
			                        : 0;
			break;
		default: /* a ratio in (0, 1) with a weekly cycle */
			y[t] = 0.03 * (1 + 0.2 * (s - 1) * 3) *
			       (1 + trend * t) * exp(noise * normal());
			break;
		}
	}
	{
		static const char *const names[] = { "multiplicative",
			                             "damped", "intermittent",
			                             "ratio" };
		return names[kind];
	}
}

static const char *yearly(int kind, double *y, int n)
{
	double level = between(100, 10000), drift = between(-0.02, 0.08);
	double noise = between(0.01, 0.06), slope = drift * level;
	double phi = between(0.8, 0.95);
	int t, shift_at = (int)between(n * 0.3, n * 0.9);

	for (t = 0; t < n; t++) {
		switch (kind) {
		case 0: /* random walk with drift */
			level += drift * level + noise * level * normal();
			y[t] = level;
			break;
		case 1: /* damped trend */
			slope *= phi;
			level += slope + noise * level * normal();
			y[t] = level;
			break;
		case 2: /* local linear trend: the slope wanders */
			slope += 0.3 * noise * level * normal();
			level += slope + noise * level * normal();
			y[t] = level;
			break;
		case 3: /* a trend with a level shift */
			level += drift * level + 0.5 * noise * level * normal();
			y[t] = level * (t >= shift_at ? 0.8 : 1);
			break;
		default: /* exponential growth, multiplicative noise */
			level *= 1 + drift + noise * normal();
			y[t] = level;
			break;
		}
		y[t] = fmax(y[t], 1);
	}
	{
		static const char *const names[] = { "rwdrift", "damped",
			                             "locallinear", "shift",
			                             "growth" };
		return names[kind];
	}
}

int main(int argc, char **argv)
{
	int count, i, t;
	double y[1100];

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: series-gen hourly|daily|yearly COUNT "
		        "[SEED]\n");
		return 2;
	}
	count = atoi(argv[2]);
	state = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
	state ^= (uint64_t)strlen(argv[1]) * 0x100000001b3ULL;
	for (i = 0; i < count; i++) {
		int n, h, m;
		const char *kind;

		if (strcmp(argv[1], "hourly") == 0) {
			n = 960, h = 48, m = 24;
			kind = hourly(i % 6, y, n + h);
		} else if (strcmp(argv[1], "daily") == 0) {
			n = (int)between(60, 121), h = 14, m = 7;
			kind = daily_series(i % 4, y, n + h);
		} else if (strcmp(argv[1], "yearly") == 0) {
			n = (int)between(20, 41), h = 6, m = 1;
			kind = yearly(i % 5, y, n + h);
		} else {
			fprintf(stderr, "series-gen: unknown set '%s'\n",
			        argv[1]);
			return 2;
		}
		printf("%s-%s-%d %d %d %d", argv[1], kind, i, m, h, n);
		for (t = 0; t < n + h; t++)
			printf("%s%.6g", t == n ? " | " : " ", y[t]);
		printf("\n");
	}
	return ferror(stdout) || fclose(stdout) ? 1 : 0;
}
