# ets-reference.R — reference values for the ETS equations in
# tests/unit/test-stats.c (test_ets_equations_against_r), from R's
# forecast package (Debian r-cran-forecast, bench-only: tests/bench/
# bench-forecast.sh installs it when run as root).
#
#	Rscript --vanilla tests/unit/ets-reference.R
#
# For each case: a model with given smoothing parameters and initial
# states is run through a fixed series by forecast's own recursion
# (forecast:::pegelsresid.C, the C routine etscalc that ets() fits
# with), no estimation.  Printed, as C, in mas's conventions: the
# one-step fitted values (y - e for additive errors, y / (1 + e) for
# multiplicative ones), the states after the last value (season[k] for
# forecast step h with (h - 1) % m == k) and R's "lik", n log(sum e^2)
# (+ 2 sum log|fitted| for M errors), the -2 log-likelihood up to
# n (log(2 pi / n) + 1).  R lists seasonal states newest first, the one
# used next last: mas's season0[j], used by the j-th value, is R's
# init.state[2 + trend + (m - j)].
suppressPackageStartupMessages(library(forecast))

# A fixed positive series with a season of 4 and a trend (made here).
y <- c(112, 98, 131, 145, 120, 105, 140, 158, 129, 111, 152, 170,
       135, 118, 161, 182, 144, 126, 170, 193, 151, 133, 181, 204)
m <- 4
# season0 in mas's order (used by values 1..m); R's order reversed
add_season <- c(-8, -24, 12, 20)
mult_season <- c(0.94, 0.82, 1.08, 1.16)

cases <- list(
	list(name = "ANN", e = "A", t = "N", s = "N", d = FALSE,
	     a = 0.35, b = 0, g = 0, phi = 1, l = 120, tr = 0),
	list(name = "AAdN", e = "A", t = "A", s = "N", d = TRUE,
	     a = 0.4, b = 0.1, g = 0, phi = 0.9, l = 110, tr = 2),
	list(name = "AAA", e = "A", t = "A", s = "A", d = FALSE,
	     a = 0.3, b = 0.05, g = 0.2, phi = 1, l = 118, tr = 3),
	list(name = "MAN", e = "M", t = "A", s = "N", d = FALSE,
	     a = 0.3, b = 0.08, g = 0, phi = 1, l = 115, tr = 2.5),
	list(name = "MNM", e = "M", t = "N", s = "M", d = FALSE,
	     a = 0.25, b = 0, g = 0.15, phi = 1, l = 125, tr = 0),
	list(name = "MAdM", e = "M", t = "A", s = "M", d = TRUE,
	     a = 0.3, b = 0.06, g = 0.1, phi = 0.95, l = 117, tr = 2.8),
	list(name = "MAdA", e = "M", t = "A", s = "A", d = TRUE,
	     a = 0.2, b = 0.05, g = 0.1, phi = 0.92, l = 119, tr = 3)
)

# numbers three to a line, within 79 columns
num <- function(x) {
	text <- sprintf("%.17g", x)
	lines <- split(text, ceiling(seq_along(text) / 3))
	paste0("\n\t\t", sapply(lines, paste, collapse = ", "),
	       collapse = ",")
}
cat("/* made by tests/unit/ets-reference.R with forecast",
    as.character(packageVersion("forecast")), "*/\n")
for (c in cases) {
	season <- if (c$s == "A") add_season else if (c$s == "M") mult_season
	init <- c(c$l, if (c$t != "N") c$tr, rev(season))
	r <- forecast:::pegelsresid.C(y, m, init, c$e, c$t, c$s, c$d,
	                              c$a, c$b, c$g, c$phi, 1)
	e <- as.numeric(r$e)
	fitted <- if (c$e == "A") y - e else y / (1 + e)
	last <- r$states[length(y) + 1, ]
	level <- last[1]
	trend <- if (c$t != "N") last[2] else 0
	final <- if (c$s != "N") rev(last[(2 + (c$t != "N")):length(last)])
	cat(sprintf("\t{ \"%s\", %g, %g, %g, %g, %g, %g,\n",
	            c$name, c$a, c$b, c$g, c$phi, c$l, c$tr))
	cat("\t  {", if (is.null(season)) " 0 " else
	    paste(season, collapse = ", "), "},\n", sep = "")
	cat("\t  {", num(fitted), " },\n", sep = "")
	cat(sprintf("\t  %.17g, %.17g,\n", level, trend))
	cat("\t  {", if (is.null(final)) " 0" else num(final), " },\n",
	    sep = "")
	cat(sprintf("\t  %.17g },\n", r$lik))
}
