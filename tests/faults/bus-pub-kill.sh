#!/bin/sh
# kill -9 of `mas-bus pub --envelope` at random moments, on the embedded
# bus and on NATS, each time publishing the same input again from its
# start (envelopes with their own ids, the dedupe ids), then once to the
# end: every message is stored exactly once (mas-bus(1): "Publishing is
# deduplicated by message id"; on NATS within JetStream's duplicate
# window of two minutes), and every id pub printed with -v before it
# was killed is in the store.
. "$(dirname "$0")/common"

n=${RECORDS:-20000}
kills=${KILLS:-10}
records "$n" | jq -c '{id: .id, topic: "log", payload: .}' >"$work/in"
failures=0

# run BACKEND: the kill loop on the bus MAS_BUS_URL names.
run() {
	backend=$1 unstored=0
	for k in $(seq "$kills"); do
		paced "$work/in" 500 0.02 |
			mas-bus pub -v --envelope log >"$work/printed" \
				2>>"$work/err" &
		pid=$!
		sleep_ms "$(random_ms 50 600)"
		# the pid is the last of the pipeline: pub
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		# every id printed is stored, killed or not
		mas-bus sub log --from-start 2>>"$work/err" | jq -r .id |
			sort >"$work/stored-ids"
		# (a last line cut by the kill was not printed)
		jq -R -r 'fromjson? | select(.error | not) | .id' \
			"$work/printed" | sort >"$work/printed-ids"
		missing=$(comm -23 "$work/printed-ids" "$work/stored-ids" |
			wc -l | tr -d ' ')
		unstored=$((unstored + missing))
		printf 'bus-pub-kill: %s: kill %d: %d ids printed, %d stored, %d printed not stored\n' \
			"$backend" "$k" "$(wc -l <"$work/printed-ids")" \
			"$(wc -l <"$work/stored-ids")" "$missing"
	done
	mas-bus pub --envelope log <"$work/in" >"$work/out" 2>>"$work/err"
	pub_status=$?
	stored log "$work/stored"
	count "$work/stored" "$n"
	printf 'bus-pub-kill: %s: %d messages, %d kills, last pub exit %d: printed-not-stored=%d lost=%d duplicated=%d corrupt=%d\n' \
		"$backend" "$n" "$kills" "$pub_status" "$unstored" "$lost" \
		"$duplicated" "$corrupt"
	if [ "$pub_status" -ne 0 ] || [ "$unstored" -ne 0 ] ||
		[ "$lost" -ne 0 ] || [ "$duplicated" -ne 0 ] ||
		[ "$corrupt" -ne 0 ]; then
		failures=$((failures + 1))
		tail -5 "$work/err" | sed 's/^/    /'
	fi
}

export MAS_STATE_DIR="$work/state"
run sqlite
start_nats || exit 1
run nats
exit "$failures"
