#!/bin/sh
# nats-server restarted three times under a running `mas-bus pub`: pub
# reconnects and sends again what was not acknowledged (mas-bus(1),
# Backends), so every record is stored exactly once (a resent message
# keeps its id, and JetStream drops the repeat), pub exits 0 with no
# error record, and every id it printed with -v is stored.  Then the
# same with --envelope and ids of our own, published twice across a
# restart: still once each.
. "$(dirname "$0")/common"

n=${RECORDS:-6000}
restarts=${RESTARTS:-3}
records "$n" >"$work/in"
failures=0
start_nats || exit 1
export MAS_STATE_DIR="$work/state"

# check NAME STATUS RESTARTS: count $work/stored and $work/out against the input.
check() {
	count "$work/stored" "$n"
	errors=$(jq -R 'fromjson? | select(.error)' "$work/out" | wc -l |
		tr -d ' ')
	jq -r 'select(.error | not) | .id' "$work/out" | sort -u \
		>"$work/printed"
	mas-bus sub "$topic" --from-start 2>>"$work/err" | jq -r .id |
		sort >"$work/ids"
	unstored=$(comm -23 "$work/printed" "$work/ids" | wc -l | tr -d ' ')
	printf 'bus-nats-restart: %s: %d records, %d restarts, pub exit %d, %d error records, printed-not-stored=%d lost=%d duplicated=%d corrupt=%d\n' \
		"$1" "$n" "$3" "$2" "$errors" "$unstored" "$lost" \
		"$duplicated" "$corrupt"
	if [ "$2" -ne 0 ] || [ "$errors" -ne 0 ] || [ "$unstored" -ne 0 ] ||
		[ "$lost" -ne 0 ] || [ "$duplicated" -ne 0 ] ||
		[ "$corrupt" -ne 0 ]; then
		failures=$((failures + 1))
		tail -5 "$work/err" | sed 's/^/    /'
	fi
}

# restarts N: the server stopped for half a second, N times, while the
# publisher runs.
restarts() {
	for _ in $(seq "$1"); do
		sleep_ms "$(random_ms 300 900)"
		restart_nats 0.5 || exit 1
	done
}

# pub's own ids: the records paced over about 6 s
topic=plain
paced "$work/in" 100 0.1 | mas-bus pub -v plain >"$work/out" \
	2>>"$work/err" &
publisher=$!
restarts "$restarts"
wait "$publisher"
status=$?
stored plain "$work/stored"
check pub "$status" "$restarts"

# our own ids, the input published in full twice, a restart during each
topic=env
jq -c '{id: .id, payload: .}' "$work/in" >"$work/env"
status=0
for round in 1 2; do
	paced "$work/env" 200 0.05 | mas-bus pub -v --envelope env \
		>"$work/out.$round" 2>>"$work/err" &
	publisher=$!
	restarts 1
	wait "$publisher" || status=$?
done
cat "$work/out.1" "$work/out.2" >"$work/out"
stored env "$work/stored"
check "pub --envelope, twice" "$status" 2
exit "$failures"
