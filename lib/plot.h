/*
 * plot.h — an SVG chart of one metric: its history, its forecast with the
 * prediction interval, and its anomalies.  `mas-analyze --plot DIR` writes
 * one per metric.
 *
 * The chart is standalone SVG 1.1: no script, no external font or image,
 * font-family sans-serif.  It is valid XML whatever the strings hold:
 * & < > " ' are escaped, and control characters and invalid UTF-8 become
 * '?'.  Numbers are written the same in every locale.  Degenerate input —
 * no points, all missing, a constant series, infinities — still gives a
 * valid chart, with "no data" written on it when nothing can be drawn.
 *
 * Values that are NaN, infinite or beyond ±1e300 are missing: the line
 * breaks there (the limit keeps the axis span a finite number).
 *
 * Depends only on libc and libm.  Nothing here keeps state between calls.
 */
#ifndef MAS_PLOT_H
#define MAS_PLOT_H

#include <stddef.h>
#include <stdio.h>

/*
 * What to draw.  Every pointer is borrowed for the duration of the call.
 * Zero-initialise it and fill in what you have:
 *
 *	struct mas_plot p = {0};
 *	p.title = "engagement";
 *	p.history = v;
 *	p.n_history = n;
 *
 * Points are numbered 0 .. n_history + n_forecast - 1 along the x axis:
 * history first, the forecast continuing it.
 */
struct mas_plot {
	const char *title;   /* above the chart; NULL: none */
	const char *y_label; /* along the y axis; NULL: none */

	const double *history; /* n_history values, NaN = missing */
	size_t n_history;

	/* x labels, one per point (n_history + n_forecast), e.g. dates.
	 * NULL, or a NULL entry: the point's index, counted from 0. */
	const char *const *labels;

	const double *forecast; /* n_forecast values after the history */
	const double *lower;    /* interval bounds, n_forecast each; */
	const double *upper;    /* either NULL: no band is drawn */
	size_t n_forecast;

	/* Indices into history; those out of range or missing are skipped. */
	const size_t *anomalies;
	size_t n_anomalies;

	/* Pixels; 0, or less than 320 × 200: 800 × 400. */
	int width, height;
};

/*
 * Writes the chart as an SVG document to OUT and flushes it.  OUT is not
 * closed.  Returns 0, or -1 with errno set: EINVAL when OUT or CHART is
 * NULL or a count is non-zero with its array NULL; the error of the write
 * (e.g. ENOSPC, EIO when the stream gives none) when a write fails.
 */
int mas_plot_svg(FILE *out, const struct mas_plot *chart);

/*
 * Size of the buffer mas_plot_file_name fills: a name is cut to
 * MAS_PLOT_NAME_MAX bytes before ".svg" and the NUL are added, which keeps
 * it and its temporary sibling under NAME_MAX.
 */
#define MAS_PLOT_NAME_MAX 200
#define MAS_PLOT_FILE_NAME_SIZE (MAS_PLOT_NAME_MAX + sizeof ".svg")

/*
 * Turns a metric name into a safe file name "NAME.svg" in BUF: every byte
 * other than [A-Za-z0-9._-] becomes '_', and so does a leading '.' (no
 * hidden files, no "." or ".."); NULL or "" becomes "plot".  Long names are
 * cut, so two long names sharing their first MAS_PLOT_NAME_MAX bytes give
 * the same file name.  Returns BUF.
 */
char *mas_plot_file_name(char buf[MAS_PLOT_FILE_NAME_SIZE], const char *name);

/*
 * Writes the chart to DIR/NAME.svg, NAME passed through mas_plot_file_name.
 * The file appears whole or not at all: the chart is written to a
 * temporary file in DIR (mode 0666 less the umask, like any new file) and
 * renamed over the target; no fsync, so a crash of the machine may still
 * lose it.  DIR must exist.  Returns 0, or -1 with errno set (EINVAL for
 * a NULL DIR or CHART, ENAMETOOLONG, or the error of open, write or
 * rename); on failure no temporary file is left behind.
 */
int mas_plot_write_file(const char *dir, const char *name,
                        const struct mas_plot *chart);

#endif
