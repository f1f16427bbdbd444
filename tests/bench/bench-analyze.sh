# mas-analyze: series mode over 1,000,000 rows against `jq -c .` (the
# libjq parser is the floor both share), task mode throughput at --jobs 1
# and on every processor, and series mode by host likewise.
. tests/bench/lib.sh
rm -f "$OUT/times"
RUNS=${RUNS:-3}

rows="$OUT/series-1m.jsonl"
if [ ! -s "$rows" ]; then
	awk 'BEGIN {
		srand(42)
		for (i = 0; i < 1000000; i++)
			printf "{\"ts\":%d,\"user\":\"u%05d\",\"engagement\":%.2f," \
			       "\"conversion\":%.4f,\"retention\":%.3f}\n",
			       1767225600 + i * 60, i % 50000,
			       1000 + i / 1000 + 100 * sin(i / 1440 * 6.283) + rand() * 50,
			       0.03 + rand() * 0.01, 0.6 + rand() * 0.1
	}' > "$rows"
fi
bytes=$(wc -c < "$rows")

for i in $(seq "$RUNS"); do
	measure jq "jq -c . '$rows' > /dev/null"
	measure series "mas-analyze --series '$rows' > '$OUT/series.out'"
done
jq_s=$(median jq)
series_s=$(median series)
echo "mas-analyze series mode, 1,000,000 rows ($((bytes / 1000000)) MB), median of $RUNS:"
printf '  jq -c .              %6.2f s  %8.0f rows/s  peak %s MiB\n' \
	"$jq_s" "$(echo "1000000 / $jq_s" | bc -l)" "$(peak jq)"
printf '  mas-analyze --series %6.2f s  %8.0f rows/s  peak %s MiB\n' \
	"$series_s" "$(echo "1000000 / $series_s" | bc -l)" "$(peak series)"
printf '  ratio mas/jq         %6.2f   (target <= 1.5; peak target <= 200 MiB)\n' \
	"$(echo "$series_s / $jq_s" | bc -l)"
jq -e '.analysis.summary.engagement.n == 1000000' "$OUT/series.out" > /dev/null ||
	echo "  WARNING: series output does not cover every row" >&2

tasks="$OUT/tasks-10k.jsonl"
tasks_10k "$tasks"
# --jobs: threads for the analyses (issue 20), against one thread, in
# the same run; the outputs must be the same but for the clock.
CPUS=$(getconf _NPROCESSORS_ONLN)
unstamp() {
	sed -E 's/"(created|completed)_at":"[^"]*"/"\1_at":""/g' "$1"
}
for i in $(seq "$RUNS"); do
	measure tasks "mas-analyze --jobs 1 '$tasks' > '$OUT/tasks.out'"
	measure tasks_par "mas-analyze --jobs $CPUS '$tasks' > '$OUT/tasks-par.out'"
done
tasks_s=$(median tasks)
tasks_par_s=$(median tasks_par)
echo "mas-analyze task mode, 10,000 trend_prediction tasks of 60 points x 3 metrics:"
printf '  --jobs 1  %6.2f s, %5.0f records/s, peak %s MiB\n' "$tasks_s" \
	"$(echo "10000 / $tasks_s" | bc -l)" "$(peak tasks)"
printf '  --jobs %-2s %6.2f s, %5.0f records/s, peak %s MiB: %.2fx\n' "$CPUS" \
	"$tasks_par_s" "$(echo "10000 / $tasks_par_s" | bc -l)" \
	"$(peak tasks_par)" "$(echo "$tasks_s / $tasks_par_s" | bc -l)"
errors=$(jq -r 'select(.error) | .id' "$OUT/tasks.out" | wc -l)
[ "$errors" -eq 0 ] || echo "  WARNING: $errors tasks failed" >&2
unstamp "$OUT/tasks-par.out" > "$OUT/tasks-par.cmp"
unstamp "$OUT/tasks.out" | cmp -s - "$OUT/tasks-par.cmp" ||
	echo "  WARNING: --jobs $CPUS output differs from --jobs 1" >&2

# Series mode with one analysis per host: 200 hosts x 960 hourly rows
# with a daily cycle (the "1,000 hosts" case of issue 20, scaled down).
hosts="$OUT/hosts-200.jsonl"
if [ ! -s "$hosts" ]; then
	awk 'BEGIN {
		srand(11)
		for (t = 0; t < 960; t++)
			for (h = 0; h < 200; h++) {
				v = 40 + h % 17 + t * (h % 3) / 200 + rand() * 4
				v += (10 + h % 5) * sin(6.283 * (t % 24) / 24)
				printf "{\"ts\":%d,\"host\":\"h%03d\",\"cpu\":%.2f}\n",
				       1767225600 + t * 3600, h, v
			}
	}' > "$hosts"
fi
for i in $(seq "$RUNS"); do
	measure hosts "mas-analyze --jobs 1 --series --by host --type trend_prediction '$hosts' > '$OUT/hosts.out'"
	measure hosts_par "mas-analyze --jobs $CPUS --series --by host --type trend_prediction '$hosts' > '$OUT/hosts-par.out'"
done
hosts_s=$(median hosts)
hosts_par_s=$(median hosts_par)
echo "mas-analyze --series --by host, 200 hosts x 960 hourly rows (daily season):"
printf '  --jobs 1  %6.2f s, %5.1f hosts/s, peak %s MiB\n' "$hosts_s" \
	"$(echo "200 / $hosts_s" | bc -l)" "$(peak hosts)"
printf '  --jobs %-2s %6.2f s, %5.1f hosts/s, peak %s MiB: %.2fx\n' "$CPUS" \
	"$hosts_par_s" "$(echo "200 / $hosts_par_s" | bc -l)" \
	"$(peak hosts_par)" "$(echo "$hosts_s / $hosts_par_s" | bc -l)"
unstamp "$OUT/hosts-par.out" | jq -c 'del(.id)' > "$OUT/hosts-par.cmp"
unstamp "$OUT/hosts.out" | jq -c 'del(.id)' | cmp -s - "$OUT/hosts-par.cmp" ||
	echo "  WARNING: --jobs $CPUS series output differs from --jobs 1" >&2

# Tracing to a file on and off (issue: overhead under 10 %).  Series mode
# makes no span per row; task mode makes ~40 spans per task (record, BDI
# plans and steps).
trace="$OUT/trace.jsonl"
for i in $(seq "$RUNS"); do
	rm -f "$trace"
	measure series_traced "MAS_TRACE='$trace' mas-analyze --series '$rows' > /dev/null"
	rm -f "$trace"
	measure tasks_traced "MAS_TRACE='$trace' mas-analyze --jobs 1 '$tasks' > /dev/null"
done
spans=$(wc -l < "$trace")
echo "tracing to a file, on against off:"
printf '  series mode  %.2f s against %.2f s: overhead %+.1f%%\n' \
	"$(median series_traced)" "$series_s" \
	"$(echo "100 * ($(median series_traced) - $series_s) / $series_s" | bc -l)"
printf '  task mode    %.2f s against %.2f s: overhead %+.1f%% (%s spans, %.0f per task)\n' \
	"$(median tasks_traced)" "$tasks_s" \
	"$(echo "100 * ($(median tasks_traced) - $tasks_s) / $tasks_s" | bc -l)" \
	"$spans" "$(echo "$spans / 10000" | bc -l)"
rm -f "$trace"
