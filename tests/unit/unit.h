/*
 * unit.h — the smallest harness that does the job: TAP on stdout.
 *
 * A test file defines functions `static void test_x(void)` and a main that
 * calls UNIT_RUN(test_x) for each, then returns unit_done().  Checks never
 * stop a test: every failed check prints its file, line and values, so one
 * run shows every difference.  tests/run counts the "ok"/"not ok" lines.
 */
#ifndef MAS_UNIT_H
#define MAS_UNIT_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_count, unit_failed, unit_test_failed;

#define UNIT_FAIL(...)                                                        \
	do {                                                                  \
		unit_test_failed = 1;                                         \
		printf("# %s:%d: ", __FILE__, __LINE__);                      \
		printf(__VA_ARGS__);                                          \
		printf("\n");                                                 \
	} while (0)

#define CHECK(cond)                                                           \
	do {                                                                  \
		if (!(cond))                                                  \
			UNIT_FAIL("check failed: %s", #cond);                 \
	} while (0)

#define CHECK_INT(got, want)                                                  \
	do {                                                                  \
		long long g_ = (long long)(got), w_ = (long long)(want);      \
		if (g_ != w_)                                                 \
			UNIT_FAIL("%s == %lld, want %lld", #got, g_, w_);     \
	} while (0)

#define CHECK_STR(got, want)                                                  \
	do {                                                                  \
		const char *g_ = (got), *w_ = (want);                         \
		if (!g_ || !w_ || strcmp(g_, w_) != 0)                        \
			UNIT_FAIL("%s == \"%s\", want \"%s\"", #got,          \
			          g_ ? g_ : "(null)", w_ ? w_ : "(null)");    \
	} while (0)

/* Relative tolerance, with an absolute floor for values near zero. */
#define CHECK_NEAR(got, want, tol)                                            \
	do {                                                                  \
		double g_ = (got), w_ = (want), t_ = (tol);                   \
		double s_ = fabs(w_) > 1.0 ? fabs(w_) : 1.0;                  \
		if (!(fabs(g_ - w_) <= t_ * s_))                              \
			UNIT_FAIL("%s == %.10g, want %.10g (tol %g)", #got,   \
			          g_, w_, t_);                                \
	} while (0)

#define UNIT_RUN(fn)                                                          \
	do {                                                                  \
		unit_test_failed = 0;                                         \
		fn();                                                         \
		unit_count++;                                                 \
		if (unit_test_failed)                                         \
			unit_failed++;                                        \
		printf("%s %d - %s\n", unit_test_failed ? "not ok" : "ok",    \
		       unit_count, #fn);                                      \
	} while (0)

/*
 * A new, empty folder for a test's files, named after WHAT, under
 * $TMPDIR or /tmp, into DIR (at least 256 bytes); exits 99 when it
 * cannot be made.  unit_remove_dir removes it with all it holds.
 */
static inline void unit_make_dir(char *dir, size_t size, const char *what)
{
	const char *base = getenv("TMPDIR");

	snprintf(dir, size, "%s/mas-%s-XXXXXX", base && *base ? base : "/tmp",
	         what);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(99);
	}
}

static inline void unit_remove_dir(const char *dir)
{
	char command[512];

	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	if (system(command) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static inline int unit_done(void)
{
	printf("1..%d\n", unit_count);
	return unit_failed ? 1 : 0;
}

#endif
