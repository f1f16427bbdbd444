# mas-analyze's forecasts (issue 20): a rolling-origin evaluation on
# series from known processes (tests/helpers/series-gen.c) and on
# examples/data, reporting sMAPE, MASE, the coverage of 95 % intervals
# and CPU time of mas-analyze against seasonal naive and against R's
# forecast::ets() and thetaf(), run side by side in the same run.
#
# R (Debian's r-cran-forecast) is installed here when run as root and
# missing; without it the R rows are left out.  BASELINE_BIN=path adds
# the rows of another mas-analyze build (e.g. an older commit) for a
# before/after comparison.  HOURLY, DAILY, YEARLY set the series counts
# (R's ets takes ~3 CPU s per hourly series).  COVERAGE (default 95) is
# the nominal coverage of every method's intervals, in percent.
. tests/bench/lib.sh
set -eu

HOURLY=${HOURLY:-30}
DAILY=${DAILY:-120}
YEARLY=${YEARLY:-300}
COVERAGE=${COVERAGE:-95}
dir="$OUT/forecast"
mkdir -p "$dir"

if ! Rscript -e 'library(forecast)' >/dev/null 2>&1 &&
	[ "$(id -u)" -eq 0 ]; then
	echo "bench: installing r-cran-forecast for the R peer" >&2
	apt-get install -y -qq --no-install-recommends r-cran-forecast \
		>/dev/null 2>&1 || true
fi
have_r=0
Rscript -e 'library(forecast)' >/dev/null 2>&1 && have_r=1

# ---- the series: ID PERIOD HORIZON N train... | test... ----
series-gen hourly "$HOURLY" 20 > "$dir/hourly.txt"
series-gen daily "$DAILY" 20 > "$dir/daily.txt"
series-gen yearly "$YEARLY" 20 > "$dir/yearly.txt"

# examples/data: each metric cut at several origins (rolling origin).
examples_series() {
	# $1 file, $2 column, $3 period, $4 horizon, $5 origins, $6 jq filter
	jq -r "$6" "$1" | awk -v name="$2" -v m="$3" -v h="$4" -v k="$5" '
		{ v[NR] = $1 }
		END {
			for (j = 0; j < k; j++) {
				n = NR - h - j
				printf "examples-%s-%d %d %d %d", name, j, m, h, n
				for (t = 1; t <= n + h; t++)
					printf "%s%s", (t == n + 1 ? " | " : " "), v[t]
				printf "\n"
			}
		}'
}
csv_column() {
	# a CSV file's column as JSON rows for examples_series
	awk -F, -v c="$2" 'NR > 1 && $c != "" { print "{\"v\":" $c "}" }' "$1"
}
{
	csv_column examples/data/user_behavior.csv 2 > "$dir/col.json"
	examples_series "$dir/col.json" engagement 7 7 8 '.v'
	csv_column examples/data/user_behavior.csv 4 > "$dir/col.json"
	examples_series "$dir/col.json" retention 7 7 8 '.v'
	csv_column examples/data/sales.csv 2 > "$dir/col.json"
	examples_series "$dir/col.json" revenue 12 6 4 '.v'
	csv_column examples/data/sales.csv 3 > "$dir/col.json"
	examples_series "$dir/col.json" orders 12 6 4 '.v'
	for host in web1 web2; do
		examples_series examples/data/server_metrics.jsonl \
			"requests-$host" 1 12 6 \
			"select(.host == \"$host\") | .requests"
	done
} > "$dir/examples.txt"
rm -f "$dir/col.json"

# ---- mas-analyze: one task per series ----
to_tasks() {
	awk '{
		printf "{\"id\":\"%s\",\"analysis_type\":\"trend_prediction\"," \
		       "\"parameters\":{\"prediction_horizon\":%d", $1, $3
		if ($2 > 1)
			printf ",\"seasonal_period\":%d", $2
		printf "},\"data\":{\"y\":["
		for (i = 5; i < 5 + $4; i++)
			printf "%s%s", (i > 5 ? "," : ""), $i
		printf "]}}\n"
	}' "$1"
}

# cpu NAME CMD: runs CMD, appends "NAME user+sys seconds" to $dir/cpu.
cpu() {
	name=$1
	shift
	/usr/bin/time -f "%U %S" -o "$dir/time.$$" sh -c "$*"
	printf '%s %s\n' "$name" \
		"$(awk '{ print $1 + $2 }' "$dir/time.$$")" >> "$dir/cpu"
	rm -f "$dir/time.$$"
}

mas_forecasts() {
	# $1 binary, $2 set, $3 label
	to_tasks "$dir/$2.txt" > "$dir/$2.tasks"
	cpu "$3-$2" "'$1' --jobs 1 --coverage 0.$COVERAGE '$dir/$2.tasks' > '$dir/$2.$3.out'"
	jq -r '.id as $id | .analysis.predictions[][] | .forecast[] |
		"\($id) \(.step) \(.value) \(.lower) \(.upper)"' \
		"$dir/$2.$3.out" > "$dir/$2.$3.fc"
}

r_forecasts() {
	# $1 set: writes $set.ets.fc, $set.theta.fc and their CPU seconds
	Rscript --vanilla - "$dir/$1.txt" "$dir/$1" "$COVERAGE" <<'EOF' >> "$dir/cpu"
suppressPackageStartupMessages(library(forecast))
args <- commandArgs(TRUE)
level <- as.numeric(args[3])
lines <- readLines(args[1])
write_fc <- function(out, id, f) {
	cat(sprintf("%s %d %.10g %.10g %.10g\n", id, seq_along(f$mean),
	            as.numeric(f$mean), as.numeric(f$lower[, 1]),
	            as.numeric(f$upper[, 1])), sep = "", file = out)
}
ets_out <- file(paste0(args[2], ".ets.fc"), "w")
theta_out <- file(paste0(args[2], ".theta.fc"), "w")
t_ets <- 0; t_theta <- 0
for (line in lines) {
	parts <- strsplit(line, " \\| ")[[1]]
	head <- strsplit(parts[1], " ")[[1]]
	id <- head[1]; m <- as.integer(head[2]); h <- as.integer(head[3])
	y <- ts(as.numeric(head[-(1:4)]), frequency = max(m, 1))
	t0 <- proc.time()
	f <- tryCatch(forecast(ets(y), h = h, level = level),
	              error = function(e) NULL)
	t_ets <- t_ets + sum((proc.time() - t0)[1:2])
	if (!is.null(f)) write_fc(ets_out, id, f)
	t0 <- proc.time()
	f <- tryCatch(thetaf(y, h = h, level = level), error = function(e) NULL)
	t_theta <- t_theta + sum((proc.time() - t0)[1:2])
	if (!is.null(f)) write_fc(theta_out, id, f)
}
close(ets_out); close(theta_out)
set <- basename(args[2])
cat(sprintf("R-ets-%s %.3f\nR-theta-%s %.3f\n", set, t_ets, set, t_theta))
EOF
}

# score SET FORECASTS: sMAPE, MASE, coverage (all, first and last step)
score() {
	awk -v set="$1" '
		FNR == NR {
			# the series: scale and truth
			id = $1; m = $2 < 1 ? 1 : $2; h = $3; n = $4
			s = 0
			for (t = 5 + m; t < 5 + n; t++)
				s += ($t > $(t - m) ? $t - $(t - m) : $(t - m) - $t)
			scale[id] = s / (n - m)
			for (k = 1; k <= h; k++)
				truth[id, k] = $(5 + n + k)
			H[id] = h
			series++
			next
		}
		{
			if (!(($1 SUBSEP $2) in truth))
				next
			y = truth[$1, $2]; f = $3
			d = (y > f ? y - f : f - y)
			den = (y < 0 ? -y : y) + (f < 0 ? -f : f)
			smape += den > 0 ? 200 * d / den : 0
			if (scale[$1] > 0) { mase += d / scale[$1]; nm++ }
			inside = $4 <= y && y <= $5
			cover += inside; count++
			if ($2 == 1) { c1 += inside; n1++ }
			if ($2 == H[$1]) { cl += inside; nl++ }
			seen[$1] = 1
		}
		END {
			for (id in seen) got++
			printf "%6.2f %6.3f %5.1f %5.1f %5.1f %d/%d\n",
			       count ? smape / count : -1, nm ? mase / nm : -1,
			       count ? 100 * cover / count : -1,
			       n1 ? 100 * c1 / n1 : -1, nl ? 100 * cl / nl : -1,
			       got, series
		}' "$dir/$1.txt" "$2"
}

# seasonal naive (naive without a period), with R's snaive intervals
snaive() {
	z=$(echo "$COVERAGE" | awk '{
		# the normal quantile at (1 + p) / 2 by bisection
		p = (1 + $1 / 100) / 2; lo = 0; hi = 10
		for (i = 0; i < 60; i++) {
			mid = (lo + hi) / 2; x = mid / sqrt(2)
			# erf by Abramowitz-Stegun 7.1.26
			t = 1 / (1 + 0.3275911 * x)
			e = 1.061405429
			e = -1.453152027 + t * e
			e = 1.421413741 + t * e
			e = -0.284496736 + t * e
			e = 1 - t * (0.254829592 + t * e) * exp(-x * x)
			if ((1 + e) / 2 < p) lo = mid; else hi = mid
		}
		printf "%.6f", lo
	}')
	awk -v z="$z" '{
		m = $2 < 1 ? 1 : $2; h = $3; n = $4; s = 0
		for (t = 5 + m; t < 5 + n; t++)
			s += ($t - $(t - m)) ^ 2
		sd = sqrt(s / (n - m))
		for (k = 1; k <= h; k++) {
			f = $(5 + n - m + (k - 1) % m)
			w = z * sd * sqrt(int((k - 1) / m) + 1)
			print $1, k, f, f - w, f + w
		}
	}' "$dir/$1.txt" > "$dir/$1.snaive.fc"
}

rm -f "$dir/cpu"
sets="hourly daily yearly examples"
for set in $sets; do
	snaive "$set"
	mas_forecasts "$(command -v mas-analyze)" "$set" mas
	if [ -n "${BASELINE_BIN:-}" ]; then
		mas_forecasts "$BASELINE_BIN" "$set" before
	fi
	[ "$have_r" -eq 1 ] && r_forecasts "$set"
done

echo "mas-analyze forecasts, rolling origin (issue 20); $COVERAGE % intervals"
printf '  %-9s %-12s %6s %6s %5s %5s %5s %9s %s\n' set method sMAPE MASE \
	cover h=1 h=H "CPU/series" series
for set in $sets; do
	n=$(wc -l < "$dir/$set.txt")
	for method in snaive mas before ets theta; do
		[ -s "$dir/$set.$method.fc" ] || continue
		case $method in
		mas) key="mas-$set" label=mas-analyze ;;
		before) key="before-$set" label=baseline ;;
		ets) key="R-ets-$set" label="R ets()" ;;
		theta) key="R-theta-$set" label="R thetaf()" ;;
		*) key= label="seasonal naive" ;;
		esac
		secs=$(awk -v k="$key" '$1 == k { print $2 }' "$dir/cpu")
		per=$( [ -n "$secs" ] && echo "$secs / $n" | bc -l || echo 0)
		set -- $(score "$set" "$dir/$set.$method.fc")
		printf '  %-9s %-14s %6s %6s %5s %5s %5s %8.4fs %s\n' "$set" \
			"$label" "$1" "$2" "$3" "$4" "$5" "$per" "$6"
	done
done

# Speed on the task-mode workload of bench-analyze.sh: 60-point tasks
# (and the baseline build's, in the same run).
tasks="$OUT/tasks-10k.jsonl"
tasks_10k "$tasks"
cpu tasks "mas-analyze --jobs 1 '$tasks' > /dev/null"
secs=$(awk '$1 == "tasks" { print $2 }' "$dir/cpu")
printf '  60-point trend_prediction tasks: %.3f ms CPU per task (target <= 1)\n' \
	"$(echo "1000 * $secs / 10000" | bc -l)"
if [ -n "${BASELINE_BIN:-}" ]; then
	cpu tasks-before "'$BASELINE_BIN' --jobs 1 '$tasks' > /dev/null"
	before=$(awk '$1 == "tasks-before" { print $2 }' "$dir/cpu")
	printf '  the same with the baseline: %.3f ms CPU per task (%.2fx)\n' \
		"$(echo "1000 * $before / 10000" | bc -l)" \
		"$(echo "$before / $secs" | bc -l)"
fi

# --jobs (issue 20): the hourly tasks on one thread and on every
# processor, wall-clock time in the same run; the output must not change.
cpus=$(getconf _NPROCESSORS_ONLN)
wall() {
	/usr/bin/time -f "%e" -o "$dir/wall.$$" sh -c "$*"
	cat "$dir/wall.$$"
	rm -f "$dir/wall.$$"
}
one=$(wall "mas-analyze --jobs 1 '$dir/hourly.tasks' > '$dir/hourly.one'")
all=$(wall "mas-analyze --jobs $cpus '$dir/hourly.tasks' > '$dir/hourly.all'")
printf '  hourly tasks, wall: --jobs 1 %.2f s, --jobs %s %.2f s: %.2fx on %s processors\n' \
	"$one" "$cpus" "$all" "$(echo "$one / $all" | bc -l)" "$cpus"
for f in one all; do
	sed -E 's/"(created|completed)_at":"[^"]*"/"\1_at":""/g' \
		"$dir/hourly.$f" > "$dir/hourly.$f.cmp"
done
cmp -s "$dir/hourly.one.cmp" "$dir/hourly.all.cmp" ||
	echo "  WARNING: --jobs $cpus output differs from --jobs 1" >&2

# The ETS equations' reference values in tests/unit/test-stats.c are
# R's: printed again here, they must be the ones committed.
if [ "$have_r" -eq 1 ]; then
	Rscript --vanilla tests/unit/ets-reference.R > "$dir/ets-reference.c" 2>/dev/null
	if awk 'NR == FNR { want = want $0 "\n"; next } { got = got $0 "\n" }
		END { exit index(got, want) == 0 }' \
		"$dir/ets-reference.c" tests/unit/test-stats.c; then
		echo "  ETS reference values in test-stats.c: as R prints them"
	else
		echo "  WARNING: tests/unit/ets-reference.R prints other values than test-stats.c holds" >&2
	fi
fi
