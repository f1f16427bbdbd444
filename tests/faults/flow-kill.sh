#!/bin/sh
# kill -9 of `mas-flow run --run-id` at random moments, then `resume`
# with the input given again, appending to the same output file: every
# record must come out, whole, and duplicates stay within what
# mas-flow(1) promises.
. "$(dirname "$0")/common"

n=${RECORDS:-20000}
kills=${KILLS:-10}
records "$n" >"$work/in"
cat >"$work/flow" <<'FLOW'
node stamp  jq '.stamp = .n * 2'
node copy   run cat
node check  jq '.ok = (.stamp == .n * 2)'
start -> stamp
stamp -> copy
copy -> check
check -> end
FLOW

total_lost=0 total_dup=0 total_corrupt=0
for k in $(seq "$kills"); do
	out="$work/out.$k"
	: >"$out"
	mas-flow run --run-id "kill$k" "$work/flow" "$work/in" >>"$out" \
		2>"$work/err" &
	pid=$!
	sleep_ms "$(random_ms 50 1500)"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	before=$(wc -l <"$out")
	mas-flow resume "kill$k" "$work/in" >>"$out" 2>>"$work/err"
	status=$?
	count "$out" "$n"
	printf 'flow-kill: kill %d after %d lines: resume exit %d, lost=%d duplicated=%d corrupt=%d\n' \
		"$k" "$before" "$status" "$lost" "$duplicated" "$corrupt"
	total_lost=$((total_lost + lost))
	total_dup=$((total_dup + duplicated))
	total_corrupt=$((total_corrupt + corrupt))
done
printf 'flow-kill: %d records, %d kills: lost=%d duplicated=%d corrupt=%d\n' \
	"$n" "$kills" "$total_lost" "$total_dup" "$total_corrupt"
[ "$total_lost" -eq 0 ] && [ "$total_corrupt" -eq 0 ] &&
	[ "$total_dup" -le "${MAX_DUPLICATED:-0}" ]
