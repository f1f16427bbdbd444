#!/bin/sh
# generate.sh — writes the example data sets of mas-analyze.
#
# usage: sh examples/data/generate.sh [DIR]
#
# Writes user_behavior.jsonl, user_behavior.csv, sales.csv and
# server_metrics.jsonl into DIR (default: this script's directory).  The
# outputs are committed; a test may regenerate them into a temporary
# directory and compare.  POSIX sh and awk only.
#
# The noise comes from a Park-Miller generator written in awk with fixed
# seeds, not from awk's rand(): mawk, gawk and busybox awk each have their
# own rand(), while 16807 * x mod (2^31 - 1) is exact in any awk's double
# arithmetic.  Only + - * / and fixed tables are used (no sin, exp or log),
# so every awk prints the same bytes.
#
# What is in the data, for the README and the tests:
#
# user_behavior: 90 days, 2026-07-01 (a Wednesday) .. 2026-09-28.
#   engagement  ~1000, growing 0.5 %/day (x1.56 over the period); weekly
#               pattern with Saturdays ~15 % and Sundays ~17 % below
#               Mondays; noise sd ~2 %.
#               ANOMALIES: a spike on 2026-07-24 (x1.45, row 24) and a
#               dip on 2026-08-31 (x0.60, row 62).
#   conversion  ratio 0.030 rising to ~0.048, noise sd 0.0015.
#               MISSING: the row of 2026-08-15 has no conversion field.
#   retention   ratio ~0.70 falling to ~0.61, noise sd 0.006.
#               MISSING: retention is null on 2026-09-05.
# sales: 36 months 2023-01 .. 2025-12; revenue ~120000 growing 1.5 %/month
#   with a yearly pattern (low in February, high in November and
#   December), noise sd 2 %; orders = revenue / a slowly rising basket.
# server_metrics: 200 rows, every 5 minutes from 2026-11-01T00:00:00Z,
#   web1 and web2 alternating (100 each).  latency_ms ~45 (web1) and ~50
#   (web2); requests ~1200 per 5 minutes, rising through the morning.
#   INCIDENT: web2 latency x6-x8 and requests -35 % from 05:00 to 05:35
#   (2026-11-01T05:00:00Z .. 05:35:00Z, 8 rows of web2).

set -eu

LC_ALL=C
export LC_ALL

dir=${1:-$(dirname "$0")}

# Shared awk functions: the generator, noise with sd 1 (the sum of four
# uniforms, scaled), dates.
lib='
function seed(s) { rng = s }
function uniform() {
	rng = (rng * 16807) % 2147483647
	return rng / 2147483647
}
function noise() {
	return (uniform() + uniform() + uniform() + uniform() - 2) * 1.7320508
}
function month_days(y, m) {
	if (m == 2)
		return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28
	return (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31
}
# The day after the date held in Y, M, D.
function next_day() {
	D++
	if (D > month_days(Y, M)) { D = 1; M++ }
	if (M > 12) { M = 1; Y++ }
}
'

awk -v dir="$dir" "$lib"'
BEGIN {
	seed(20260701)
	jsonl = dir "/user_behavior.jsonl"
	csv = dir "/user_behavior.csv"
	print "date,engagement,conversion,retention" > csv
	# Monday first; 2026-07-01 is a Wednesday (weekday 2).
	split("1.00 1.02 1.03 1.02 0.98 0.85 0.83", week, " ")
	Y = 2026; M = 7; D = 1
	growth = 1
	for (i = 0; i < 90; i++) {
		date = sprintf("%04d-%02d-%02d", Y, M, D)
		e = 1000 * growth * week[(i + 2) % 7 + 1]
		e *= 1 + 0.02 * noise()
		if (date == "2026-07-24") e *= 1.45
		if (date == "2026-08-31") e *= 0.60
		c = 0.030 + 0.0002 * i + 0.0015 * noise()
		r = 0.700 - 0.001 * i + 0.006 * noise()
		es = sprintf("%.1f", e)
		cs = sprintf("%.4f", c)
		rs = sprintf("%.3f", r)
		if (date == "2026-09-05") rs = ""

		line = "{\"date\":\"" date "\",\"engagement\":" es
		if (date != "2026-08-15") line = line ",\"conversion\":" cs
		line = line ",\"retention\":" (rs == "" ? "null" : rs) "}"
		print line > jsonl
		if (date == "2026-08-15") cs = ""
		print date "," es "," cs "," rs > csv

		growth *= 1.005
		next_day()
	}
}'

awk -v dir="$dir" "$lib"'
BEGIN {
	seed(20230101)
	out = dir "/sales.csv"
	print "month,revenue,orders" > out
	split("0.85 0.80 0.92 0.95 1.00 0.98 0.94 0.97 1.03 1.08 1.18 1.32", \
	      season, " ")
	growth = 1
	for (t = 0; t < 36; t++) {
		y = 2023 + int(t / 12); m = t % 12 + 1
		rev = 120000 * growth * season[m] * (1 + 0.02 * noise())
		basket = 48 + 0.1 * t + 0.8 * noise()
		orders = int(rev / basket + 0.5)
		printf "%04d-%02d,%.2f,%d\n", y, m, rev, orders > out
		growth *= 1.015
	}
}'

awk -v dir="$dir" "$lib"'
BEGIN {
	seed(20261101)
	out = dir "/server_metrics.jsonl"
	# requests by hour: quiet night, rising towards the morning
	split("900 850 820 800 850 950 1100 1300 1500", hourly, " ")
	for (k = 0; k < 100; k++) {
		h = int(k / 12); mi = (k % 12) * 5
		ts = sprintf("2026-11-01T%02d:%02d:00Z", h, mi)
		for (host = 1; host <= 2; host++) {
			lat = (host == 1 ? 45 : 50) + 3 * noise()
			req = hourly[h + 1] * (1 + 0.05 * noise())
			if (host == 2 && h == 5 && mi < 40) {
				lat *= 6 + 2 * uniform()
				req *= 0.65
			}
			printf "{\"ts\":\"%s\",\"host\":\"web%d\",", \
			    ts, host > out
			printf "\"latency_ms\":%.1f,\"requests\":%d}\n", \
			    lat, int(req + 0.5) > out
		}
	}
}'
