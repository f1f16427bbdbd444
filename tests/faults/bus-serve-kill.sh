#!/bin/sh
# kill -9 of `mas-bus serve` workers at random moments while requests
# are being published, on the embedded bus and on NATS: every request
# is handled, its reply stored exactly once (a reply's id is its
# request's with -reply: the log keeps it once), and a request handled
# twice only as mas-bus(1) allows: delivery is at least once, and a
# worker killed before acknowledging its claimed batch (--prefetch
# requests) has that batch delivered again, so the command sees at most
# KILLS x PREFETCH requests twice.
. "$(dirname "$0")/common"

n=${RECORDS:-3000}
kills=${KILLS:-8}
prefetch=16
records "$n" >"$work/in"
failures=0

# run BACKEND: the kill loop on the bus MAS_BUS_URL names.
run() {
	backend=$1
	: >"$work/handled"
	# a producer publishing while the workers are being killed
	paced "$work/in" 100 0.1 | mas-bus pub jobs >"$work/pub" \
		2>>"$work/err" &
	producer=$!
	for k in $(seq "$kills"); do
		mas-bus serve jobs --group w --visibility 1 --follow \
			--prefetch "$prefetch" -- \
			tee -a "$work/handled" 2>>"$work/err" &
		worker=$!
		# killed at work: once it has handled a request (within 5 s)
		before=$(wc -l <"$work/handled")
		for _ in $(seq 100); do
			[ "$(wc -l <"$work/handled")" -gt "$before" ] && break
			sleep 0.05
		done
		sleep_ms "$(random_ms 0 400)"
		kill -9 "$worker" 2>/dev/null
		wait "$worker" 2>/dev/null
	done
	wait "$producer"
	pub_status=$?
	# what the killed workers claimed is claimable a visibility timeout
	# later
	# (NATS redelivers up to a second after it): drained by workers
	# without --follow, again while replies are missing (a loaded
	# machine's late redelivery), five times at most
	drains=0 lost=1
	while [ "$lost" -gt 0 ] && [ "$drains" -lt 5 ]; do
		sleep 2
		drains=$((drains + 1))
		mas-bus serve jobs --group w --visibility 1 \
			--prefetch "$prefetch" -- tee -a "$work/handled" \
			2>>"$work/err"
		serve_status=$?
		stored jobs.done "$work/replies"
		count "$work/replies" "$n"
	done
	r_lost=$lost r_dup=$duplicated r_corrupt=$corrupt
	count "$work/handled" "$n"
	printf 'bus-serve-kill: %s: %d requests, %d kills, pub exit %d, serve exit %d after %d drains: replies lost=%d duplicated=%d corrupt=%d; handled lost=%d duplicated=%d (at most %d) corrupt=%d\n' \
		"$backend" "$n" "$kills" "$pub_status" "$serve_status" "$drains" \
		"$r_lost" "$r_dup" "$r_corrupt" "$lost" "$duplicated" \
		"$((kills * prefetch))" "$corrupt"
	if [ "$pub_status" -ne 0 ] || [ "$serve_status" -ne 0 ] ||
		[ "$r_lost" -ne 0 ] || [ "$r_dup" -ne 0 ] ||
		[ "$r_corrupt" -ne 0 ] || [ "$lost" -ne 0 ] ||
		[ "$corrupt" -ne 0 ] ||
		[ "$duplicated" -gt "$((kills * prefetch))" ]; then
		failures=$((failures + 1))
		tail -5 "$work/err" | sed 's/^/    /'
	fi
}

export MAS_STATE_DIR="$work/state"
run sqlite
start_nats || exit 1
run nats
exit "$failures"
