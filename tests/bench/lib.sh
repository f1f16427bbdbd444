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
