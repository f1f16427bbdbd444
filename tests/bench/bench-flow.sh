# mas-flow: per-step cost of a graph of 5 jq nodes with a conditional
# edge and a bounded loop, over 100,000 records, without and with
# checkpoints; and a 3-node graph of external `cat` filters over 1,000,000
# records (target: 200,000 records/s).  Then the same
# 5 node graph in LangGraph.js (tests/bench/langgraph), installed from the
# npm registry into $OUT, without and with a checkpointer, and the ratios
# of the costs per step against the targets of issue 6.
. tests/bench/lib.sh
rm -f "$OUT/times"
RUNS=${RUNS:-3}
N=${FLOW_RECORDS:-100000}
RUN_N=${RUN_RECORDS:-1000000}

flow="$OUT/bench-5jq.flow"
cat > "$flow" <<'FLOW'
# 5 jq nodes: a conditional edge and a loop bounded at 2 passes
node parse  jq '.n = (.id | tonumber)'
node even   jq '.kind = "even"'
node odd    jq '.kind = "odd"'
node grow   jq '.passes += 1'
node done   jq '.done = true'
start -> parse
parse -> even  if .n % 2 == 0
parse -> odd
even  -> grow
odd   -> grow
grow  -> grow  max 1
grow  -> done
done  -> end
FLOW

cats="$OUT/bench-3run.flow"
cat > "$cats" <<'FLOW'
node a run cat
node b run cat
node c run cat
start -> a
a -> b
b -> c
c -> end
FLOW

input="$OUT/flow-$N.jsonl"
if [ ! -s "$input" ]; then
	awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"id\":\"%d\",\"text\":\"record %d\"}\n", i, i }' \
		> "$input"
fi

run_input="$OUT/flow-$RUN_N.jsonl"
if [ ! -s "$run_input" ]; then
	awk -v n="$RUN_N" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"id\":\"%d\",\"text\":\"record %d\"}\n", i, i }' \
		> "$run_input"
fi

state="$OUT/flow-state"
for i in $(seq "$RUNS"); do
	measure jq5 "mas-flow run '$flow' < '$input' > '$OUT/flow-5jq.out'"
	rm -rf "$state"
	measure jq5cp "MAS_STATE_DIR='$state' mas-flow run --run-id bench \
		'$flow' < '$input' > /dev/null"
	measure run3 "mas-flow run '$cats' < '$run_input' > '$OUT/flow-3run.out'"
done

steps=$(jq -s 'map(.meta.flow | length) | add' "$OUT/flow-5jq.out")
jq5_s=$(median jq5)
run3_s=$(median run3)
echo "mas-flow, $N records, median of $RUNS:"
printf '  5 jq nodes    %6.2f s  %9.0f records/s  %6.2f us/step (%d steps)  peak %s MiB\n' \
	"$jq5_s" "$(echo "$N / $jq5_s" | bc -l)" \
	"$(echo "$jq5_s * 1000000 / $steps" | bc -l)" "$steps" "$(peak jq5)"
jq5cp_s=$(median jq5cp)
printf '  with --run-id %6.2f s  %9.0f records/s  %6.2f us/step  store %s MiB\n' \
	"$jq5cp_s" "$(echo "$N / $jq5cp_s" | bc -l)" \
	"$(echo "$jq5cp_s * 1000000 / $steps" | bc -l)" \
	"$(du -sk "$state" | awk '{ printf "%.1f", $1 / 1024 }')"
printf '  3 run (cat), %d records: %6.2f s  %9.0f records/s (target >= 200,000)  peak %s MiB\n' \
	"$RUN_N" "$run3_s" "$(echo "$RUN_N / $run3_s" | bc -l)" "$(peak run3)"
[ "$(wc -l < "$OUT/flow-5jq.out")" -eq "$N" ] ||
	echo "  WARNING: records lost in the 5 jq node flow" >&2
[ "$(wc -l < "$OUT/flow-3run.out")" -eq "$RUN_N" ] ||
	echo "  WARNING: records lost in the 3 run node flow" >&2

# Start-up (issue 14.5): one record through the 5 jq node graph against
# a `jq -n 1` process, STARTS of each in a loop, alternated, user+system
# CPU seconds (start-up is CPU: load on the machine does not change it).
STARTS=${STARTS:-50}
one="$OUT/flow-one.jsonl"
head -n 1 "$input" > "$one"
# cpu NAME CMD: the CPU seconds of STARTS runs of CMD, appended as NAME.
cpu() {
	/usr/bin/time -f "$1 %U %S" -a -o "$OUT/cpu" sh -c \
		"for i in \$(seq $STARTS); do $2; done > /dev/null"
}
rm -f "$OUT/cpu"
for i in $(seq "$RUNS"); do
	cpu jq "jq -n 1"
	cpu flow "mas-flow run '$flow' < '$one'"
done
# per NAME: the median milliseconds of one run of NAME.
per() {
	awk -v n="$1" '$1 == n { print ($2 + $3) * 1000 }' "$OUT/cpu" |
		sort -n | awk -v s="$STARTS" '{ v[NR] = $1 }
		END { printf "%.1f", v[int((NR + 1) / 2)] / s }'
}
# The chain of run cat nodes against the plain pipe it stands for
# (issue 14.6: target <= 20x), CPU seconds of every process of each.
for i in $(seq "$RUNS"); do
	/usr/bin/time -f "pipe %U %S" -a -o "$OUT/cpu" sh -c \
		"cat < '$run_input' | cat | cat > /dev/null"
	/usr/bin/time -f "chain %U %S" -a -o "$OUT/cpu" sh -c \
		"mas-flow run '$cats' < '$run_input' > /dev/null"
done
# cpu_s NAME: the median CPU seconds of NAME's runs.
cpu_s() {
	awk -v n="$1" '$1 == n { print $2 + $3 }' "$OUT/cpu" | sort -n |
		awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] }'
}
printf '  3 run (cat) against cat | cat | cat, CPU: %s s against %s s: %.0fx (target <= 20x)\n' \
	"$(cpu_s chain)" "$(cpu_s pipe)" \
	"$(echo "$(cpu_s chain) / $(cpu_s pipe)" | bc -l)"
printf '  start-up, one record: %s ms of CPU, jq -n 1 %s ms: %.2fx (target <= 1.5x)\n' \
	"$(per flow)" "$(per jq)" "$(echo "$(per flow) / $(per jq)" | bc -l)"

# LangGraph.js side by side.  It is about a hundred times slower a step, so
# it walks the first LG_RECORDS records of the same input: costs per step
# are compared, not totals.
LG_N=${LG_RECORDS:-10000}
[ "$LG_N" -le "$N" ] || LG_N=$N
lg="$OUT/langgraph"
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
	if [ "$(id -u)" = 0 ]; then
		echo "bench: installing nodejs and npm for the LangGraph.js comparison" >&2
		apt-get install -y -qq nodejs npm > /dev/null 2>&1 || true
	fi
fi
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
	echo "  (no node or npm: LangGraph.js comparison skipped)"
	exit 0
fi

# Installed once, again when package.json changes.  No package-lock: the
# versions are pinned in package.json.  better-sqlite3, under the SQLite
# checkpointer, is built from source against the installed node's headers,
# so that nothing but the npm registry is reached (its prebuilt binaries
# and node-gyp's headers are downloaded from elsewhere); it is optional, and
# without it the SQLite figures are skipped.
mkdir -p "$lg"
if [ ! -d "$lg/node_modules/@langchain/langgraph" ] ||
    ! cmp -s tests/bench/langgraph/package.json "$lg/package.json"; then
	echo "bench: installing LangGraph.js with npm into $lg" >&2
	cp tests/bench/langgraph/package.json "$lg/"
	if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
		npm_config_nodedir=/usr
		export npm_config_nodedir
	fi
	if ! (cd "$lg" && npm_config_build_from_source=true npm install \
	    --no-audit --no-fund --no-package-lock > npm-install.log 2>&1); then
		rm -rf "$lg/node_modules"
		echo "  (npm install failed, see $lg/npm-install.log: LangGraph.js comparison skipped)"
		exit 0
	fi
fi
# node resolves imports from the script's directory: copy it next to
# node_modules.
cp tests/bench/langgraph/graph.mjs "$lg/"
lg_version=$(jq -r .version "$lg/node_modules/@langchain/langgraph/package.json")
core_version=$(jq -r .version "$lg/node_modules/@langchain/core/package.json")

# lg NAME MODE [DB]: measures graph.mjs as NAME, and records the seconds of
# its invoke loop, without node's start and the imports, as NAME-loop.
lg() {
	measure "$1" "node '$lg/graph.mjs' $2 '$input' $LG_N ${3:-} \
		> '$OUT/flow-lg-$2.out' 2> '$OUT/flow-lg-$2.err'"
	tail -n 1 "$OUT/flow-lg-$2.err" |
		jq -r --arg n "$1-loop" '"\($n) \(.seconds) 0"' >> "$OUT/times" ||
		cat "$OUT/flow-lg-$2.err" >&2
}
# Whether the SQLite checkpointer loads: one record through it.
lgdb="$OUT/flow-lg-checkpoints.db"
rm -f "$lgdb" "$lgdb-wal" "$lgdb-shm"
sqlite=yes
node "$lg/graph.mjs" sqlite "$input" 1 "$lgdb" > /dev/null \
	2> "$OUT/flow-lg-sqlite.err" || sqlite=no
for i in $(seq "$RUNS"); do
	lg lg none
	lg lgmem memory
	if [ "$sqlite" = yes ]; then
		rm -f "$lgdb" "$lgdb-wal" "$lgdb-shm"
		lg lgsql sqlite "'$lgdb'"
	fi
done

lg_steps=$(jq -s 'map(.meta.flow | length) | add' "$OUT/flow-lg-none.out")
# row LABEL NAME: the times of LangGraph.js run NAME, the start of a line.
row() {
	printf '  %-16s %6.2f s  %9.0f records/s  %6.2f us/step' \
		"$1" "$(median "$2-loop")" \
		"$(echo "$LG_N / $(median "$2-loop")" | bc -l)" \
		"$(echo "$(median "$2-loop") * 1000000 / $lg_steps" | bc -l)"
}
# ratio MAS LG: mas-flow's cost per step over LangGraph.js's, as 1/x.
ratio() {
	printf '1/%.0f' "$(echo "($(median "$2-loop") / $lg_steps) / \
		($(median "$1") / $steps)" | bc -l)"
}
echo "LangGraph.js $lg_version (@langchain/core $core_version), the same graph," \
	"$LG_N records, one invoke a record, median of $RUNS" \
	"(invoke loop only, without node's start):"
row "no checkpointer" lg
printf ' (%d steps)  peak %s MiB\n' "$lg_steps" "$(peak lg)"
row MemorySaver lgmem
printf '  peak %s MiB\n' "$(peak lgmem)"
if [ "$sqlite" = yes ]; then
	row SqliteSaver lgsql
	printf '  peak %s MiB  store %s MiB\n' "$(peak lgsql)" \
		"$(du -sk "$lgdb"* | awk '{ k += $1 } END { printf "%.1f", k / 1024 }')"
else
	echo "  SqliteSaver: skipped, $(tail -n 1 "$OUT/flow-lg-sqlite.err")"
fi
for mode in none memory; do
	[ "$(wc -l < "$OUT/flow-lg-$mode.out")" -eq "$LG_N" ] ||
		echo "  WARNING: records lost in the LangGraph.js graph ($mode)" >&2
done
[ "$lg_steps" -eq "$((steps * LG_N / N))" ] ||
	echo "  WARNING: LangGraph.js took $lg_steps steps, mas-flow $steps for $N records" >&2
echo "  mas-flow/LangGraph.js per step, mas-flow over $N records:"
echo "    without checkpoints $(ratio jq5 lg) (target <= 1/50)"
printf '    with checkpoints    %s against MemorySaver' "$(ratio jq5cp lgmem)"
[ "$sqlite" = yes ] && printf ', %s against SqliteSaver' "$(ratio jq5cp lgsql)"
echo " (target <= 1/10)"
