/*
 * test-plot.c — the SVG chart: structure, escaping, degenerate series,
 * file names and atomic writes.  Well-formedness is checked by a small
 * tag and entity checker below, so the test needs no XML tool.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plot.h"
#include "unit.h"

#include "banned.h"

/* The chart as a string; the caller frees it. */
static char *render(const struct mas_plot *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f)
		return NULL;
	rc = mas_plot_svg(f, p);
	fclose(f);
	if (rc != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	const char *p = strstr(hay, needle);

	while (p) {
		n++;
		p = strstr(p + 1, needle);
	}
	return n;
}

static int known_entity(const char *p)
{
	static const char *const ent[] = {"&amp;", "&lt;", "&gt;", "&quot;",
	                                  "&apos;"};
	size_t i;

	for (i = 0; i < sizeof ent / sizeof ent[0]; i++)
		if (strncmp(p, ent[i], strlen(ent[i])) == 0)
			return 1;
	return 0;
}

/* Length of the tag name at P. */
static size_t name_len(const char *p)
{
	return strcspn(p, " \t\n/>");
}

/*
 * Enough of XML to catch what a chart writer gets wrong: tags that do not
 * nest, a bare & or <, control characters, text outside the root.
 * Returns NULL when the document is fine, else what is wrong.
 */
static const char *xml_problem(const char *doc)
{
	const char *stack[64];
	size_t depth = 0, roots = 0;
	const char *p = doc;

	if (strncmp(p, "<?xml ", 6) != 0)
		return "no XML declaration";
	p = strstr(p, "?>");
	if (!p)
		return "unterminated declaration";
	for (p += 2; *p; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\n')
			return "control character";
		if (*p == '&' && !known_entity(p))
			return "bare &";
		if (*p == '>')
			return "bare >";
		if (*p != '<')
			continue;
		if (p[1] == '/') {
			size_t n = name_len(p + 2);
			if (depth == 0 || name_len(stack[depth - 1]) != n ||
			    strncmp(stack[depth - 1], p + 2, n) != 0)
				return "mismatched end tag";
			depth--;
		} else {
			const char *end = strchr(p, '>');
			const char *q;
			if (!end)
				return "unterminated tag";
			for (q = p + 1; q < end; q++) {
				if (*q == '<')
					return "< in a tag";
				if (*q == '&' && !known_entity(q))
					return "bare & in a tag";
			}
			if (depth == 0)
				roots++;
			if (end[-1] != '/') {
				if (depth == 64)
					return "too deep";
				stack[depth++] = p + 1;
			}
		}
		p = strchr(p, '>');
	}
	if (depth != 0)
		return "unclosed element";
	return roots == 1 ? NULL : "not exactly one root element";
}

#define CHECK_SVG(doc)                                                        \
	do {                                                                  \
		const char *why_ = (doc) ? xml_problem(doc) : "no output";    \
		if (why_)                                                     \
			UNIT_FAIL("bad SVG: %s", why_);                       \
		else if (strstr(doc, "nan") || strstr(doc, "inf"))            \
			UNIT_FAIL("NaN or infinity written into the SVG");    \
	} while (0)

static const double hist[] = {10, 12, 11, 13, NAN, 14, 16, 15, 17, 18};
static const double fc[] = {19, 20, 21};
static const double lo[] = {18, 18, 18.5};
static const double hi[] = {20, 22, 23.5};
static const size_t anom[] = {6, 4, 99};

static struct mas_plot sample(void)
{
	struct mas_plot p = {0};

	p.title = "A & B <c> \"d\" 'e'";
	p.y_label = "users/day";
	p.history = hist;
	p.n_history = sizeof hist / sizeof hist[0];
	p.forecast = fc;
	p.lower = lo;
	p.upper = hi;
	p.n_forecast = 3;
	p.anomalies = anom;
	p.n_anomalies = 3;
	return p;
}

static void test_structure(void)
{
	struct mas_plot p = sample();
	char *doc = render(&p);

	CHECK_SVG(doc);
	if (!doc)
		return;
	CHECK(strstr(doc, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	CHECK(strstr(doc, "font-family=\"sans-serif\""));
	CHECK(strstr(doc, "<path class=\"history\""));
	CHECK(strstr(doc, "<path class=\"forecast\""));
	CHECK(strstr(doc, "<path class=\"band\""));
	CHECK(strstr(doc, "class=\"legend\""));
	CHECK(!strstr(doc, "<script"));
	/* the NaN at index 4 breaks the history line in two */
	CHECK_INT(count(strstr(doc, "class=\"history\""), "M") >= 2, 1);
	/* anomaly 4 is missing and 99 out of range: one circle */
	CHECK_INT(count(doc, "anomaly at "), 1);
	CHECK(strstr(doc, "anomaly at 6: 16</title>"));
	/* no labels given: indices */
	CHECK(strstr(doc, ">0</text>"));
	free(doc);
}

static void test_escaping(void)
{
	struct mas_plot p = sample();
	static const char *const labels[] = {
	    "a<b", "c&d", "\x01x", "bad\xff", "\xe4\xb8\xad\xe6\x96\x87",
	    NULL, "6", "7", "8", "9", "10", "11", "12"};
	char *doc;

	p.labels = labels;
	doc = render(&p);
	CHECK_SVG(doc);
	if (!doc)
		return;
	CHECK(strstr(doc, "A &amp; B &lt;c&gt; &quot;d&quot; "
	                  "&apos;e&apos;</text>"));
	CHECK(strstr(doc, "<title>A &amp; B"));
	CHECK(!strstr(doc, "<c>"));
	CHECK(strstr(doc, "a&lt;b"));
	CHECK(strstr(doc, "users/day"));
	free(doc);

	/* every label shown: control character, bad UTF-8, CJK kept */
	p.n_history = 3;
	p.n_forecast = 0;
	p.labels = labels + 2;
	p.title = "t";
	doc = render(&p);
	CHECK_SVG(doc);
	if (!doc)
		return;
	CHECK(strstr(doc, ">?x</text>"));
	CHECK(strstr(doc, ">bad?</text>"));
	CHECK(strstr(doc, ">\xe4\xb8\xad\xe6\x96\x87</text>"));
	free(doc);
}

static void test_degenerate(void)
{
	static const double nans[] = {NAN, NAN, NAN};
	static const double flat[] = {5, 5, 5, 5};
	static const double zero[] = {0, 0};
	static const double infs[] = {1, INFINITY, -INFINITY, 2, 1e308};
	static const double one[] = {42};
	static const double huge[] = {-1e300, 1e300};
	static const double tiny[] = {1e-310, 2e-310, 1e-310};
	struct {
		const double *v;
		size_t n;
		int no_data;
	} cases[] = {
	    {NULL, 0, 1},  {nans, 3, 1}, {flat, 4, 0}, {zero, 2, 0},
	    {infs, 5, 0},  {one, 1, 0},  {huge, 2, 0}, {tiny, 3, 0},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mas_plot p = {0};
		char *doc;

		p.history = cases[i].v;
		p.n_history = cases[i].n;
		doc = render(&p);
		CHECK_SVG(doc);
		if (!doc)
			continue;
		CHECK_INT(strstr(doc, ">no data</text>") != NULL,
		          cases[i].no_data);
		free(doc);
	}
}

static void test_forecast_only(void)
{
	static const double nan_bounds[] = {NAN, 3, NAN};
	struct mas_plot p = {0};
	char *doc;

	p.forecast = fc;
	p.lower = nan_bounds;
	p.upper = hi;
	p.n_forecast = 3;
	doc = render(&p);
	CHECK_SVG(doc);
	if (doc)
		CHECK(strstr(doc, "<path class=\"forecast\""));
	free(doc);
}

static void test_ticks(void)
{
	double v[98];
	struct mas_plot p = {0};
	size_t i;
	char *doc;

	for (i = 0; i < 98; i++)
		v[i] = (double)i;
	p.history = v;
	p.n_history = 98;
	doc = render(&p);
	CHECK_SVG(doc);
	if (doc) {
		CHECK(strstr(doc, ">20</text>"));
		CHECK(strstr(doc, ">100</text>"));
	}
	free(doc);

	for (i = 0; i < 98; i++)
		v[i] = 100000 + 1000.0 * (double)i;
	doc = render(&p);
	CHECK_SVG(doc);
	if (doc)
		CHECK(strstr(doc, ">120k</text>"));
	free(doc);

	for (i = 0; i < 98; i++)
		v[i] = 0.03 + 0.0002 * (double)i;
	doc = render(&p);
	CHECK_SVG(doc);
	if (doc) {
		CHECK(strstr(doc, ">0.035</text>"));
		CHECK(!strstr(doc, "e-0"));
	}
	free(doc);
}

static void test_bad_arguments(void)
{
	struct mas_plot p = {0};

	p.n_history = 3;
	errno = 0;
	CHECK_INT(mas_plot_svg(stdout, &p), -1);
	CHECK_INT(errno, EINVAL);
	errno = 0;
	CHECK_INT(mas_plot_svg(stdout, NULL), -1);
	CHECK_INT(errno, EINVAL);
	errno = 0;
	CHECK_INT(mas_plot_write_file(NULL, "x", &p), -1);
	CHECK_INT(errno, EINVAL);
}

static void test_write_error(void)
{
	struct mas_plot p = sample();
	FILE *f = fopen("/dev/full", "w");

	if (!f) {
		printf("# no /dev/full, skipped\n");
		return;
	}
	errno = 0;
	CHECK_INT(mas_plot_svg(f, &p), -1);
	CHECK_INT(errno, ENOSPC);
	fclose(f);
}

static void test_file_name(void)
{
	char buf[MAS_PLOT_FILE_NAME_SIZE];
	char long_name[300];

	CHECK_STR(mas_plot_file_name(buf, "engagement"), "engagement.svg");
	CHECK_STR(mas_plot_file_name(buf, "cpu load/web-1.p95"),
	          "cpu_load_web-1.p95.svg");
	CHECK_STR(mas_plot_file_name(buf, "../etc/passwd"),
	          "_._etc_passwd.svg");
	CHECK_STR(mas_plot_file_name(buf, ".."), "_..svg");
	CHECK_STR(mas_plot_file_name(buf, ""), "plot.svg");
	CHECK_STR(mas_plot_file_name(buf, NULL), "plot.svg");
	CHECK_STR(mas_plot_file_name(buf, "\xe7\x95\x99\xe5\xad\x98"),
	          "______.svg");
	memset(long_name, 'x', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	CHECK_INT(strlen(mas_plot_file_name(buf, long_name)),
	          MAS_PLOT_NAME_MAX + 4);
}

/* Names of the entries of DIR, joined by spaces, in BUF. */
static void list_dir(const char *dir, char *buf, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t len = 0;

	buf[0] = '\0';
	if (!d)
		return;
	for (e = readdir(d); e; e = readdir(d)) {
		int n;
		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		n = snprintf(buf + len, size - len, "%s%s", len ? " " : "",
		             e->d_name);
		if (n < 0 || (size_t)n >= size - len)
			break;
		len += (size_t)n;
	}
	closedir(d);
}

static void test_write_file(void)
{
	char dir[] = "/tmp/test-plot.XXXXXX";
	char path[256], missing[300], names[512];
	struct mas_plot p = sample();
	FILE *f;
	char head[64] = "";

	if (!mkdtemp(dir)) {
		UNIT_FAIL("mkdtemp: %s", strerror(errno));
		return;
	}
	CHECK_INT(mas_plot_write_file(dir, "user engagement", &p), 0);
	/* written twice: the rename replaces the first */
	CHECK_INT(mas_plot_write_file(dir, "user engagement", &p), 0);
	list_dir(dir, names, sizeof names);
	CHECK_STR(names, "user_engagement.svg");

	snprintf(path, sizeof path, "%s/user_engagement.svg", dir);
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (f) {
		CHECK(fgets(head, sizeof head, f) != NULL);
		fclose(f);
	}
	CHECK(strncmp(head, "<?xml", 5) == 0);

	snprintf(missing, sizeof missing, "%s/no/such/dir", dir);
	errno = 0;
	CHECK_INT(mas_plot_write_file(missing, "x", &p), -1);
	CHECK_INT(errno, ENOENT);

	/* a failed chart leaves neither the file nor a temporary */
	p.n_history = 5;
	p.history = NULL;
	CHECK_INT(mas_plot_write_file(dir, "broken", &p), -1);
	list_dir(dir, names, sizeof names);
	CHECK_STR(names, "user_engagement.svg");

	unlink(path);
	CHECK_INT(rmdir(dir), 0);
}

int main(void)
{
	UNIT_RUN(test_structure);
	UNIT_RUN(test_escaping);
	UNIT_RUN(test_degenerate);
	UNIT_RUN(test_forecast_only);
	UNIT_RUN(test_ticks);
	UNIT_RUN(test_bad_arguments);
	UNIT_RUN(test_write_error);
	UNIT_RUN(test_file_name);
	UNIT_RUN(test_write_file);
	return unit_done();
}
