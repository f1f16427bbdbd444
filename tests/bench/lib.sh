# Helpers for the benchmark scripts: timing with peak memory, medians.

PATH="$PWD/bin:$PWD/tests/helpers/bin:$PATH"
OUT=${BENCH_OUT:-tests/bench/out}
mkdir -p "$OUT"

if [ ! -x /usr/bin/time ]; then
	echo "bench: installing GNU time for peak-memory figures" >&2
	apt-get install -y -qq time >/dev/null 2>&1 || true
fi

# measure NAME CMD...: runs CMD (through sh -c) and appends
# "NAME seconds peak_kib cpu_seconds" to $OUT/times (CPU: user and
# system time of CMD and its children, what one core spent: on a shared
# machine the elapsed time also counts the waits for a core).
measure() {
	name=$1
	shift
	/usr/bin/time -f "%e %M %U %S" -o "$OUT/time.$$" sh -c "$*"
	awk '{ printf "%s %s %.2f\n", $1, $2, $3 + $4 }' "$OUT/time.$$" \
		> "$OUT/time.$$.cpu" && mv "$OUT/time.$$.cpu" "$OUT/time.$$"
	printf '%s %s\n' "$name" "$(cat "$OUT/time.$$")" >> "$OUT/times"
	rm -f "$OUT/time.$$"
}

# median NAME: the median seconds of the runs recorded as NAME.
median() {
	awk -v n="$1" '$1 == n { print $2 }' "$OUT/times" | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# cpu NAME: the median CPU seconds of the runs recorded as NAME.
cpu() {
	awk -v n="$1" '$1 == n { print $4 }' "$OUT/times" | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# peak NAME: the largest peak memory of NAME's runs, in MiB.
peak() {
	awk -v n="$1" '$1 == n && $3 > m { m = $3 } END { printf "%.1f", m / 1024 }' "$OUT/times"
}

# tasks_10k FILE: writes (once) the task-mode workload of bench-analyze.sh
# and bench-forecast.sh: 10,000 trend_prediction tasks of 60 daily rows
# (engagement, conversion, retention), from a fixed seed.
tasks_10k() {
	[ -s "$1" ] && return 0
	awk 'BEGIN {
		srand(7)
		for (t = 0; t < 10000; t++) {
			printf "{\"id\":\"t%d\",\"analysis_type\":\"trend_prediction\"," \
			       "\"parameters\":{\"prediction_horizon\":\"next_7_days\"},\"data\":[", t
			for (i = 0; i < 60; i++)
				printf "%s{\"date\":\"2026-%02d-%02d\",\"engagement\":%.1f," \
				       "\"conversion\":%.4f,\"retention\":%.3f}",
				       i ? "," : "", 7 + int(i / 30), 1 + i % 30,
				       1000 + i * 5 + rand() * 80, 0.03 + rand() * 0.01,
				       0.7 - i * 0.001 + rand() * 0.02
			printf "]}\n"
		}
	}' > "$1"
}
