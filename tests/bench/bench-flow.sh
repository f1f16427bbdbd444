# mas-flow: per-step cost of a graph of 5 jq nodes with a conditional
# edge and a bounded loop, over 100,000 records; and a 3-node graph of
# external `cat` filters.  Stage 1 walks one record at a time; the
# LangGraph.js side by side comes with the pipelined runner.
. tests/bench/lib.sh
rm -f "$OUT/times"
RUNS=${RUNS:-3}
N=${FLOW_RECORDS:-100000}

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

state="$OUT/flow-state"
for i in $(seq "$RUNS"); do
	measure jq5 "mas-flow run '$flow' < '$input' > '$OUT/flow-5jq.out'"
	rm -rf "$state"
	measure jq5cp "MAS_STATE_DIR='$state' mas-flow run --run-id bench \
		'$flow' < '$input' > /dev/null"
	measure run3 "mas-flow run '$cats' < '$input' > '$OUT/flow-3run.out'"
done

steps=$(jq -s 'map(.meta.flow | length) | add' "$OUT/flow-5jq.out")
jq5_s=$(median jq5)
run3_s=$(median run3)
echo "mas-flow, $N records, median of $RUNS (one record at a time):"
printf '  5 jq nodes    %6.2f s  %9.0f records/s  %6.2f us/step (%d steps)  peak %s MiB\n' \
	"$jq5_s" "$(echo "$N / $jq5_s" | bc -l)" \
	"$(echo "$jq5_s * 1000000 / $steps" | bc -l)" "$steps" "$(peak jq5)"
jq5cp_s=$(median jq5cp)
printf '  with --run-id %6.2f s  %9.0f records/s  %6.2f us/step  store %s MiB\n' \
	"$jq5cp_s" "$(echo "$N / $jq5cp_s" | bc -l)" \
	"$(echo "$jq5cp_s * 1000000 / $steps" | bc -l)" \
	"$(du -sk "$state" | awk '{ printf "%.1f", $1 / 1024 }')"
printf '  3 run (cat)   %6.2f s  %9.0f records/s  peak %s MiB\n' \
	"$run3_s" "$(echo "$N / $run3_s" | bc -l)" "$(peak run3)"
[ "$(wc -l < "$OUT/flow-5jq.out")" -eq "$N" ] ||
	echo "  WARNING: records lost in the 5 jq node flow" >&2
[ "$(wc -l < "$OUT/flow-3run.out")" -eq "$N" ] ||
	echo "  WARNING: records lost in the 3 run node flow" >&2
