/*
 * plot.c — an SVG chart of one metric's history and forecast.
 *
 * The document is written in one pass: work out the layout (value range,
 * nice ticks, margins), then draw back to front — grid, axes, interval
 * band, lines, points, anomalies, legend.  Every write goes through put(),
 * which remembers the first error so that drawing code needs no checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"
#include "plot.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* Beyond this a value is drawn as missing: two of them still have a finite
 * difference, so the scale never divides by infinity. */
#define MAX_VALUE 1e300
/* A narrower value axis is widened, so that no pixel is a denormal. */
#define MIN_SPAN 1e-200

#define DEFAULT_WIDTH 800
#define DEFAULT_HEIGHT 400
#define MIN_WIDTH 320
#define MIN_HEIGHT 200

#define TITLE_MAX 90   /* characters of the title shown */
#define LABEL_MAX 24   /* characters of an x label shown */
#define YLABEL_MAX 40  /* characters of the y-axis label shown */
#define CHAR_PX 6.5    /* rough width of a character at 11px */

#define C_HISTORY "#1f6fb4"
#define C_FORECAST "#e8710a"
#define C_ANOMALY "#d62728"
#define C_GRID "#e6e6e6"
#define C_AXIS "#888888"
#define C_TEXT "#333333"

struct svg {
	FILE *f;
	int err; /* first write error, 0 while none */
};

/* Where things go.  Pixel y grows downwards, values upwards. */
struct layout {
	double width, height;
	double left, right, top, bottom; /* the plot area */
	double lo, hi, step;             /* value axis and tick step */
	size_t n;                        /* points along x */
	size_t x_step;                   /* points between x labels */
	int points;                      /* draw a dot per history point */
};

/* A formatted number; returned by value so that several can appear in one
 * put() call (a temporary lives to the end of the full expression). */
struct num {
	char s[40];
};

static void put(struct svg *s, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void put(struct svg *s, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (s->err)
		return;
	va_start(ap, fmt);
	rc = vfprintf(s->f, fmt, ap);
	va_end(ap);
	if (rc < 0)
		s->err = errno ? errno : EIO;
}

static int usable(double v)
{
	return isfinite(v) && fabs(v) <= MAX_VALUE;
}

/* A pixel coordinate with one decimal.  Integer arithmetic, not "%f", so
 * that a comma locale cannot write "12,5" into an attribute. */
static struct num px(double v)
{
	struct num n;
	long t;

	if (!isfinite(v))
		v = 0;
	if (v > 1e6)
		v = 1e6;
	if (v < -1e6)
		v = -1e6;
	t = lround(v * 10);
	if (t % 10 == 0)
		snprintf(n.s, sizeof n.s, "%ld", t / 10);
	else
		snprintf(n.s, sizeof n.s, "%s%ld.%ld", t < 0 ? "-" : "",
		         labs(t) / 10, labs(t) % 10);
	return n;
}

/* "%.*g", with the locale's decimal point put back to '.', so that the
 * same chart gives the same bytes everywhere. */
static struct num num_prec(double v, int prec)
{
	struct num n;
	const char *dp = localeconv()->decimal_point;
	size_t dlen = dp ? strlen(dp) : 0;
	char *p;

	snprintf(n.s, sizeof n.s, "%.*g", prec, v);
	if (dlen == 0 || strcmp(dp, ".") == 0)
		return n;
	p = strstr(n.s, dp);
	if (p) {
		*p = '.';
		memmove(p + 1, p + dlen, strlen(p + dlen) + 1);
	}
	return n;
}

static struct num num(double v)
{
	return num_prec(v, 6);
}

/*
 * Length of the character at P if it is valid UTF-8 and allowed in XML
 * text, else 0.  Control characters are refused even where XML allows
 * them (tab, newline): a label is one line.
 */
static size_t xml_char_len(const unsigned char *p)
{
	unsigned char c = p[0];

	if (c < 0x20 || c == 0x7f)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
		unsigned char hi = c == 0xed ? 0x9f : 0xbf;
		if (p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80)
			return 0;
		/* U+FFFE and U+FFFF are not XML characters. */
		if (c == 0xef && p[1] == 0xbf && p[2] >= 0xbe)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;
		if (p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

/* Display width in characters, a wide (CJK) character counting two. */
static size_t text_width(const char *str, size_t max_chars)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t chars = 0, width = 0;

	while (*p && chars < max_chars) {
		size_t len = xml_char_len(p);
		width += len >= 3 ? 2 : 1;
		p += len ? len : 1;
		chars++;
	}
	return *p ? width + 1 : width;
}

static void put_escaped_char(struct svg *s, const unsigned char *p,
                             size_t len)
{
	switch (len ? *p : '?') {
	case '&':
		put(s, "&amp;");
		break;
	case '<':
		put(s, "&lt;");
		break;
	case '>':
		put(s, "&gt;");
		break;
	case '"':
		put(s, "&quot;");
		break;
	case '\'':
		put(s, "&apos;");
		break;
	default:
		if (len)
			put(s, "%.*s", (int)len, (const char *)p);
		else
			put(s, "?");
	}
}

/* STR as XML character data, at most MAX_CHARS characters and an ellipsis
 * when cut. */
static void put_text(struct svg *s, const char *str, size_t max_chars)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t chars = 0;

	while (*p && chars < max_chars) {
		size_t len = xml_char_len(p);
		put_escaped_char(s, p, len);
		p += len ? len : 1;
		chars++;
	}
	if (*p)
		put(s, "\xe2\x80\xa6"); /* U+2026 … */
}

/* The x label of point I: the caller's, or its index written into BUF. */
static const char *label_of(const struct mas_plot *c, size_t i,
                            char buf[32])
{
	if (c->labels && c->labels[i])
		return c->labels[i];
	snprintf(buf, 32, "%zu", i);
	return buf;
}

/* The value of point I on the line, NaN when missing. */
static double value_at(const struct mas_plot *c, size_t i)
{
	double v;

	if (i < c->n_history)
		v = c->history[i];
	else
		v = c->forecast[i - c->n_history];
	return usable(v) ? v : NAN;
}

static int has_band(const struct mas_plot *c)
{
	return c->n_forecast > 0 && c->lower && c->upper;
}

/* ---- layout ------------------------------------------------------- */

/* The smallest of 1, 2, 5 × 10^k not below X (X > 0). */
static double nice_step(double x)
{
	double e = floor(log10(x));
	double p = pow(10, e);
	double f = x / p;

	if (f <= 1)
		return p;
	if (f <= 2)
		return 2 * p;
	if (f <= 5)
		return 5 * p;
	return 10 * p;
}

static void widen(double *lo, double *hi)
{
	double v = *lo, pad;

	if (!(v == v)) /* NaN: there is nothing to show */
		v = 0;
	/* ±10 % keeps a constant ratio such as 0.04 on a scale of its own
	 * size; only zero has no size to go by. */
	pad = v != 0 ? fabs(v) * 0.1 : 1;
	*lo = v - pad;
	*hi = v + pad;
}

static void range_add(double *lo, double *hi, double v)
{
	if (!usable(v))
		return;
	if (!(v >= *lo))
		*lo = v;
	if (!(v <= *hi))
		*hi = v;
}

/* The value axis: every drawn value inside it, ends on nice ticks. */
static void value_axis(struct layout *l, const struct mas_plot *c)
{
	double lo = NAN, hi = NAN;
	size_t i;

	for (i = 0; i < c->n_history; i++)
		range_add(&lo, &hi, c->history[i]);
	for (i = 0; i < c->n_forecast; i++) {
		range_add(&lo, &hi, c->forecast[i]);
		if (has_band(c)) {
			range_add(&lo, &hi, c->lower[i]);
			range_add(&lo, &hi, c->upper[i]);
		}
	}
	if (!(hi - lo > fmax(fabs(lo), fabs(hi)) * 1e-12) ||
	    hi - lo < MIN_SPAN)
		widen(&lo, &hi);
	l->step = nice_step((hi - lo) / 5);
	/* The slack keeps 0.03 / 0.005 = 5.9999… from adding a tick. */
	l->lo = floor(lo / l->step + 1e-9) * l->step;
	l->hi = ceil(hi / l->step - 1e-9) * l->step;
	/* Rounding at the edge of precision can leave an empty axis. */
	if (!(l->hi > l->lo)) {
		l->lo = lo;
		l->hi = lo + fmax(fabs(lo) * 1e-6, 1);
		l->step = l->hi - l->lo;
	}
}

/* Digits a tick label needs so that neighbouring ticks differ. */
static int tick_prec(const struct layout *l)
{
	double m = fmax(fabs(l->lo), fabs(l->hi));
	int need = (int)(floor(log10(m)) - floor(log10(l->step))) + 1;

	if (!(m > 0) || need < 6)
		return 6;
	return need > 15 ? 15 : need;
}

/* Tick labels of big numbers use a suffix: "120k" reads faster than
 * "120000" or "1.2e+05". */
static struct num tick_label(const struct layout *l, double v)
{
	static const char *const suffix[] = {"", "k", "M", "G", "T"};
	double m = fmax(fabs(l->lo), fabs(l->hi));
	double div = 1;
	int k = 0;
	struct num n;

	if (fabs(v) < l->step * 1e-9)
		v = 0; /* not "-1.1e-16" */
	while (m / div >= 1e4 && k < 4) {
		div *= 1e3;
		k++;
	}
	n = num_prec(v / div, tick_prec(l));
	if (k > 0 && v != 0) {
		size_t len = strlen(n.s);
		snprintf(n.s + len, sizeof n.s - len, "%s", suffix[k]);
	}
	return n;
}

static size_t tick_count(const struct layout *l)
{
	double n = floor((l->hi - l->lo) / l->step + 0.5);

	return n >= 1 && n <= 50 ? (size_t)n : 1;
}

static double tick_value(const struct layout *l, size_t k)
{
	size_t n = tick_count(l);

	return k == n ? l->hi : l->lo + (l->hi - l->lo) * (double)k / n;
}

/* Width of the widest y tick label, in characters. */
static size_t tick_label_width(const struct layout *l)
{
	size_t k, w = 1, n = tick_count(l);

	for (k = 0; k <= n; k++) {
		size_t len = strlen(tick_label(l, tick_value(l, k)).s);
		if (len > w)
			w = len;
	}
	return w;
}

/* Width of the widest x label, in characters. */
static size_t x_label_width(const struct mas_plot *c, size_t n)
{
	size_t i, w = 1;
	char buf[32];

	for (i = 0; i < n; i++) {
		size_t len = text_width(label_of(c, i, buf), LABEL_MAX);
		if (len > w)
			w = len;
	}
	return w;
}

/* Points between x labels: 1, 2, 5 × 10^k, as few as fit. */
static size_t x_label_step(double plot_w, size_t label_chars, size_t n)
{
	double fit = floor(plot_w / (label_chars * CHAR_PX + 16));
	size_t need, step = 1;

	if (fit < 1)
		fit = 1;
	need = (size_t)ceil((double)n / fit);
	while (step < need && step < SIZE_MAX / 10) {
		if (step * 2 >= need)
			return step * 2;
		if (step * 5 >= need)
			return step * 5;
		step *= 10;
	}
	return step;
}

static void layout_init(struct layout *l, const struct mas_plot *c)
{
	double label_w;

	memset(l, 0, sizeof *l);
	l->width = c->width >= MIN_WIDTH ? c->width : DEFAULT_WIDTH;
	l->height = c->height >= MIN_HEIGHT ? c->height : DEFAULT_HEIGHT;
	l->n = c->n_history + c->n_forecast;
	value_axis(l, c);
	label_w = tick_label_width(l) * CHAR_PX;
	l->left = 12 + (c->y_label ? 20 : 0) + label_w + 8;
	l->right = l->width - 40;
	l->top = 62;
	l->bottom = l->height - 42;
	l->x_step = x_label_step(l->right - l->left,
	                         x_label_width(c, l->n), l->n);
	l->points = l->n > 0 && (l->right - l->left) / l->n >= 5;
}

static double x_of(const struct layout *l, size_t i)
{
	if (l->n <= 1)
		return (l->left + l->right) / 2;
	return l->left + (l->right - l->left) * (double)i / (l->n - 1);
}

static double y_of(const struct layout *l, double v)
{
	double h = l->bottom - l->top;

	return l->bottom - h * (v - l->lo) / (l->hi - l->lo);
}

/* ---- drawing ------------------------------------------------------ */

static void draw_header(struct svg *s, const struct layout *l,
                        const struct mas_plot *c)
{
	put(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	put(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
	       "width=\"%s\" height=\"%s\" viewBox=\"0 0 %s %s\" "
	       "font-family=\"sans-serif\" font-size=\"11\">\n",
	    px(l->width).s, px(l->height).s, px(l->width).s,
	    px(l->height).s);
	put(s, "<title>");
	put_text(s, c->title ? c->title : "chart", TITLE_MAX);
	put(s, "</title>\n");
	put(s, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
	if (c->title) {
		put(s, "<text x=\"%s\" y=\"26\" font-size=\"16\" "
		       "font-weight=\"bold\" fill=\"" C_TEXT "\">",
		    px(l->left).s);
		put_text(s, c->title, TITLE_MAX);
		put(s, "</text>\n");
	}
}

static void draw_y_axis(struct svg *s, const struct layout *l,
                        const struct mas_plot *c)
{
	size_t k, n = tick_count(l);

	put(s, "<g class=\"y-axis\" fill=\"" C_TEXT "\" "
	       "text-anchor=\"end\">\n");
	for (k = 0; k <= n; k++) {
		double v = tick_value(l, k);
		struct num y = px(y_of(l, v));

		put(s, "<line x1=\"%s\" x2=\"%s\" y1=\"%s\" y2=\"%s\" "
		       "stroke=\"" C_GRID "\"/>\n",
		    px(l->left).s, px(l->right).s, y.s, y.s);
		put(s, "<text x=\"%s\" y=\"%s\" dy=\"0.35em\">%s</text>\n",
		    px(l->left - 6).s, y.s, tick_label(l, v).s);
	}
	put(s, "</g>\n");
	if (c->y_label) {
		double y = (l->top + l->bottom) / 2;
		put(s, "<text transform=\"translate(16,%s) rotate(-90)\" "
		       "text-anchor=\"middle\" fill=\"" C_TEXT "\">",
		    px(y).s);
		put_text(s, c->y_label, YLABEL_MAX);
		put(s, "</text>\n");
	}
}

static void draw_x_axis(struct svg *s, const struct layout *l,
                        const struct mas_plot *c)
{
	size_t i;
	char buf[32];

	put(s, "<g class=\"x-axis\" fill=\"" C_TEXT "\" "
	       "text-anchor=\"middle\">\n");
	for (i = 0; i < l->n; i += l->x_step) {
		const char *label = label_of(c, i, buf);
		double x = x_of(l, i);
		/* A long label under the first or last tick moves inwards
		 * rather than off the edge of the picture. */
		double half = text_width(label, LABEL_MAX) * CHAR_PX / 2 + 2;
		double tx = fmin(fmax(x, half), l->width - half);

		put(s, "<line x1=\"%s\" x2=\"%s\" y1=\"%s\" y2=\"%s\" "
		       "stroke=\"" C_AXIS "\"/>\n",
		    px(x).s, px(x).s, px(l->bottom).s, px(l->bottom + 4).s);
		put(s, "<text x=\"%s\" y=\"%s\">", px(tx).s,
		    px(l->bottom + 17).s);
		put_text(s, label, LABEL_MAX);
		put(s, "</text>\n");
		if (l->x_step > SIZE_MAX - i)
			break;
	}
	put(s, "</g>\n");
	put(s, "<path d=\"M%s %sV%sH%s\" fill=\"none\" "
	       "stroke=\"" C_AXIS "\"/>\n",
	    px(l->left).s, px(l->top).s, px(l->bottom).s, px(l->right).s);
}

/* A dotted line where the forecast starts, labelled, so that the eye
 * knows what is measured and what is predicted. */
static void draw_divider(struct svg *s, const struct layout *l,
                         const struct mas_plot *c)
{
	struct num x;

	if (c->n_history == 0 || c->n_forecast == 0)
		return;
	x = px(x_of(l, c->n_history - 1));
	put(s, "<line x1=\"%s\" x2=\"%s\" y1=\"%s\" y2=\"%s\" "
	       "stroke=\"" C_AXIS "\" stroke-dasharray=\"2 3\"/>\n",
	    x.s, x.s, px(l->top).s, px(l->bottom).s);
	put(s, "<text x=\"%s\" y=\"%s\" fill=\"" C_AXIS "\" "
	       "font-size=\"10\">forecast</text>\n",
	    px(x_of(l, c->n_history - 1) + 4).s, px(l->top + 10).s);
}

/* A line through the usable values of points FROM .. TO-1, broken where
 * one is missing.  Returns the number of path commands written. */
static size_t put_line_points(struct svg *s, const struct layout *l,
                              const struct mas_plot *c, size_t from,
                              size_t to)
{
	size_t i, cmds = 0;
	int pen_down = 0;

	for (i = from; i < to; i++) {
		double v = value_at(c, i);
		if (!usable(v)) {
			pen_down = 0;
			continue;
		}
		put(s, "%s%s %s", pen_down ? "L" : "M", px(x_of(l, i)).s,
		    px(y_of(l, v)).s);
		pen_down = 1;
		cmds++;
	}
	return cmds;
}

static void draw_history(struct svg *s, const struct layout *l,
                         const struct mas_plot *c)
{
	if (c->n_history == 0)
		return;
	put(s, "<path class=\"history\" fill=\"none\" "
	       "stroke=\"" C_HISTORY "\" stroke-width=\"2\" "
	       "stroke-linejoin=\"round\" d=\"");
	if (put_line_points(s, l, c, 0, c->n_history) == 0)
		put(s, "M0 0"); /* an empty d is an error in some viewers */
	put(s, "\"/>\n");
}

/* The forecast starts at the last history point, so that it continues
 * the line instead of floating beside it. */
static void draw_forecast(struct svg *s, const struct layout *l,
                          const struct mas_plot *c)
{
	size_t from = c->n_history > 0 ? c->n_history - 1 : 0;

	if (c->n_forecast == 0)
		return;
	put(s, "<path class=\"forecast\" fill=\"none\" "
	       "stroke=\"" C_FORECAST "\" stroke-width=\"2\" "
	       "stroke-dasharray=\"6 4\" stroke-linejoin=\"round\" d=\"");
	if (put_line_points(s, l, c, from, l->n) == 0)
		put(s, "M0 0");
	put(s, "\"/>\n");
}

static int band_ok(const struct mas_plot *c, size_t j)
{
	return usable(c->lower[j]) && usable(c->upper[j]);
}

/* One closed band over forecast points A .. B-1 (all usable): along the
 * upper bound, back along the lower one.  ANCHOR ties it to the last
 * history point, so the band opens out of the line like a cone. */
static void put_band_segment(struct svg *s, const struct layout *l,
                             const struct mas_plot *c, size_t a, size_t b,
                             int anchor)
{
	size_t h = c->n_history, j;
	struct num ax, ay;

	if (anchor) {
		ax = px(x_of(l, h - 1));
		ay = px(y_of(l, c->history[h - 1]));
		put(s, "M%s %s", ax.s, ay.s);
	}
	for (j = a; j < b; j++)
		put(s, "%s%s %s", j == a && !anchor ? "M" : "L",
		    px(x_of(l, h + j)).s, px(y_of(l, c->upper[j])).s);
	for (j = b; j-- > a;)
		put(s, "L%s %s", px(x_of(l, h + j)).s,
		    px(y_of(l, c->lower[j])).s);
	put(s, "Z");
}

static void draw_band(struct svg *s, const struct layout *l,
                      const struct mas_plot *c)
{
	size_t j = 0, n = c->n_forecast, h = c->n_history;
	int any = 0;

	if (!has_band(c))
		return;
	put(s, "<path class=\"band\" fill=\"" C_FORECAST "\" "
	       "fill-opacity=\"0.18\" stroke=\"none\" d=\"");
	while (j < n) {
		size_t a;
		int anchor;

		while (j < n && !band_ok(c, j))
			j++;
		if (j == n)
			break;
		a = j;
		while (j < n && band_ok(c, j))
			j++;
		anchor = a == 0 && h > 0 && usable(c->history[h - 1]);
		put_band_segment(s, l, c, a, j, anchor);
		any = 1;
	}
	if (!any)
		put(s, "M0 0");
	put(s, "\"/>\n");
}

static void put_point_title(struct svg *s, const struct mas_plot *c,
                            size_t i, const char *what, double v)
{
	char buf[32];

	put(s, "<title>%s", what);
	put_text(s, label_of(c, i, buf), LABEL_MAX);
	put(s, ": %s</title>", num(v).s);
}

/* Dots carry a tooltip with the exact value.  A point between two
 * missing ones gets a dot even when dots are off: no line shows it. */
static void draw_points(struct svg *s, const struct layout *l,
                        const struct mas_plot *c)
{
	size_t i;

	put(s, "<g class=\"points\" fill=\"" C_HISTORY "\">\n");
	for (i = 0; i < c->n_history; i++) {
		double v = value_at(c, i);
		int alone = (i == 0 || !usable(value_at(c, i - 1))) &&
		            (i + 1 >= l->n || !usable(value_at(c, i + 1)));

		if (!usable(v) || !(l->points || alone))
			continue;
		put(s, "<circle cx=\"%s\" cy=\"%s\" r=\"2.5\">",
		    px(x_of(l, i)).s, px(y_of(l, v)).s);
		put_point_title(s, c, i, "", v);
		put(s, "</circle>\n");
	}
	put(s, "</g>\n");
}

static size_t count_anomalies(const struct mas_plot *c)
{
	size_t k, n = 0;

	for (k = 0; k < c->n_anomalies; k++) {
		size_t i = c->anomalies[k];
		if (i < c->n_history && usable(c->history[i]))
			n++;
	}
	return n;
}

static void draw_anomalies(struct svg *s, const struct layout *l,
                           const struct mas_plot *c)
{
	size_t k;

	if (count_anomalies(c) == 0)
		return;
	put(s, "<g class=\"anomalies\" fill=\"" C_ANOMALY "\" "
	       "fill-opacity=\"0.25\" stroke=\"" C_ANOMALY "\" "
	       "stroke-width=\"2\">\n");
	for (k = 0; k < c->n_anomalies; k++) {
		size_t i = c->anomalies[k];

		if (i >= c->n_history || !usable(c->history[i]))
			continue;
		put(s, "<circle cx=\"%s\" cy=\"%s\" r=\"6\">",
		    px(x_of(l, i)).s, px(y_of(l, c->history[i])).s);
		put_point_title(s, c, i, "anomaly at ", c->history[i]);
		put(s, "</circle>\n");
	}
	put(s, "</g>\n");
}

/* ---- legend ------------------------------------------------------- */

enum swatch { SW_LINE, SW_DASH, SW_BAND, SW_DOT };

struct legend_item {
	enum swatch kind;
	const char *text;
};

static void put_swatch(struct svg *s, enum swatch kind, double x, double y)
{
	switch (kind) {
	case SW_LINE:
	case SW_DASH:
		put(s, "<line x1=\"%s\" x2=\"%s\" y1=\"%s\" y2=\"%s\" "
		       "stroke=\"%s\" stroke-width=\"2\"%s/>\n",
		    px(x).s, px(x + 20).s, px(y).s, px(y).s,
		    kind == SW_LINE ? C_HISTORY : C_FORECAST,
		    kind == SW_DASH ? " stroke-dasharray=\"6 4\"" : "");
		break;
	case SW_BAND:
		put(s, "<rect x=\"%s\" y=\"%s\" width=\"20\" height=\"10\" "
		       "fill=\"" C_FORECAST "\" fill-opacity=\"0.18\"/>\n",
		    px(x).s, px(y - 5).s);
		break;
	case SW_DOT:
		put(s, "<circle cx=\"%s\" cy=\"%s\" r=\"5\" "
		       "fill=\"" C_ANOMALY "\" fill-opacity=\"0.25\" "
		       "stroke=\"" C_ANOMALY "\" stroke-width=\"2\"/>\n",
		    px(x + 10).s, px(y).s);
		break;
	}
}

static size_t legend_items(const struct mas_plot *c,
                           struct legend_item item[4])
{
	size_t n = 0;

	item[n++] = (struct legend_item){SW_LINE, "history"};
	if (c->n_forecast > 0)
		item[n++] = (struct legend_item){SW_DASH, "forecast"};
	if (has_band(c))
		item[n++] = (struct legend_item){SW_BAND, "interval"};
	if (count_anomalies(c) > 0)
		item[n++] = (struct legend_item){SW_DOT, "anomaly"};
	return n;
}

/* The legend, right-aligned on a row between the title and the plot. */
static void draw_legend(struct svg *s, const struct layout *l,
                        const struct mas_plot *c)
{
	struct legend_item item[4];
	size_t k, n = legend_items(c, item);
	double y = 46, total = 0, x;

	for (k = 0; k < n; k++)
		total += 26 + strlen(item[k].text) * CHAR_PX + 16;
	x = l->right - total + 16;
	put(s, "<g class=\"legend\" fill=\"" C_TEXT "\">\n");
	for (k = 0; k < n; k++) {
		put_swatch(s, item[k].kind, x, y);
		put(s, "<text x=\"%s\" y=\"%s\" dy=\"0.35em\">%s</text>\n",
		    px(x + 26).s, px(y).s, item[k].text);
		x += 26 + strlen(item[k].text) * CHAR_PX + 16;
	}
	put(s, "</g>\n");
}

static int anything_to_draw(const struct layout *l, const struct mas_plot *c)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (usable(value_at(c, i)))
			return 1;
	return 0;
}

/* An empty frame says so, without a made-up value scale or a legend for
 * lines that are not there. */
static void draw_no_data(struct svg *s, const struct layout *l,
                         const struct mas_plot *c)
{
	draw_x_axis(s, l, c);
	put(s, "<text x=\"%s\" y=\"%s\" dy=\"0.35em\" "
	       "text-anchor=\"middle\" font-size=\"14\" "
	       "fill=\"" C_AXIS "\">no data</text>\n",
	    px((l->left + l->right) / 2).s, px((l->top + l->bottom) / 2).s);
}

static void draw_chart(struct svg *s, const struct mas_plot *c)
{
	struct layout l;

	layout_init(&l, c);
	draw_header(s, &l, c);
	if (!anything_to_draw(&l, c)) {
		draw_no_data(s, &l, c);
		put(s, "</svg>\n");
		return;
	}
	draw_y_axis(s, &l, c);
	draw_x_axis(s, &l, c);
	draw_divider(s, &l, c);
	draw_band(s, &l, c);
	draw_history(s, &l, c);
	draw_forecast(s, &l, c);
	draw_points(s, &l, c);
	draw_anomalies(s, &l, c);
	draw_legend(s, &l, c);
	put(s, "</svg>\n");
}

static int chart_valid(const struct mas_plot *c)
{
	if ((c->n_history && !c->history) || (c->n_forecast && !c->forecast))
		return 0;
	if (c->n_anomalies && !c->anomalies)
		return 0;
	return c->n_forecast <= SIZE_MAX - c->n_history;
}

int mas_plot_svg(FILE *out, const struct mas_plot *chart)
{
	struct svg s = {out, 0};

	if (!out || !chart || !chart_valid(chart)) {
		errno = EINVAL;
		return -1;
	}
	draw_chart(&s, chart);
	if (!s.err && fflush(out) != 0)
		s.err = errno ? errno : EIO;
	if (!s.err && ferror(out))
		s.err = EIO;
	if (s.err) {
		errno = s.err;
		return -1;
	}
	return 0;
}

/* ---- files -------------------------------------------------------- */

static int safe_byte(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

char *mas_plot_file_name(char buf[MAS_PLOT_FILE_NAME_SIZE], const char *name)
{
	size_t i;

	if (!name || !*name)
		name = "plot";
	for (i = 0; name[i] && i < MAS_PLOT_NAME_MAX; i++)
		buf[i] = safe_byte((unsigned char)name[i]) ? name[i] : '_';
	if (buf[0] == '.')
		buf[0] = '_';
	memcpy(buf + i, ".svg", sizeof ".svg");
	return buf;
}

/* Opens a new temporary file beside BASE in DIR, its name in TMP.  The
 * pid and a counter make the name; O_EXCL makes the file ours, and a name
 * taken (another thread, a file left by a dead process) is skipped. */
static FILE *open_temp(char tmp[PATH_MAX], const char *dir,
                       const char *base)
{
	unsigned attempt;

	for (attempt = 0; attempt < 1000; attempt++) {
		int n = snprintf(tmp, PATH_MAX, "%s/.%s.%ld.%u.tmp", dir,
		                 base, (long)getpid(), attempt);
		int fd;
		FILE *f;

		if (n < 0 || n >= PATH_MAX) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0)
			return NULL;
		f = fdopen(fd, "w");
		if (!f) {
			int err = errno;
			close(fd);
			unlink(tmp);
			errno = err;
		}
		return f;
	}
	errno = EEXIST;
	return NULL;
}

int mas_plot_write_file(const char *dir, const char *name,
                        const struct mas_plot *chart)
{
	char base[MAS_PLOT_FILE_NAME_SIZE], path[PATH_MAX], tmp[PATH_MAX];
	FILE *f;
	int n, rc, err = 0;

	if (!dir || !chart) {
		errno = EINVAL;
		return -1;
	}
	mas_plot_file_name(base, name);
	n = snprintf(path, sizeof path, "%s/%s", dir, base);
	if (n < 0 || n >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	f = open_temp(tmp, dir, base);
	if (!f)
		return -1;
	rc = mas_plot_svg(f, chart);
	if (rc != 0)
		err = errno;
	if (fclose(f) != 0 && rc == 0) {
		rc = -1;
		err = errno;
	}
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = -1;
		err = errno;
	}
	if (rc != 0) {
		unlink(tmp);
		errno = err;
	}
	return rc;
}
