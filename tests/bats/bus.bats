#!/usr/bin/env bats
# mas-bus(1): round trips, wildcards, priorities, groups splitting work,
# redelivery after a killed consumer, dead letters, bad input and
# concurrent publishers.
#
# One suite, two backends: as bus.bats it runs on the embedded SQLite
# bus; as bus-nats.bats (a symbolic link to this file) on NATS, against
# a nats-server with JetStream that setup_file starts on a free loopback
# port and teardown_file stops.  A test that only makes sense on one
# backend skips on the other, saying why.

load helpers
load nats_helper

BACKEND=sqlite
if [ "$(basename "$BATS_TEST_FILENAME")" = bus-nats.bats ]; then
	BACKEND=nats
fi

# The file's nats-server (nats_helper.bash), its URL the bus's.
start_nats() {
	nats_start "$BATS_FILE_TMPDIR" || return 1
	export MAS_BUS_URL=$NATS_URL
}

# Stop the file's nats-server for $1 seconds, then start it again on the
# same port with the same store, as an operator's restart would.
restart_nats() {
	local pid port log="$BATS_FILE_TMPDIR/nats.log"
	pid=$(cat "$BATS_FILE_TMPDIR/nats.pid")
	port=${MAS_BUS_URL##*:}
	kill "$pid"
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	sleep "$1"
	: >"$log"
	nats-server -a 127.0.0.1 -p "$port" -js \
		-sd "$BATS_FILE_TMPDIR/jetstream" \
		>"$log" 2>&1 </dev/null 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/nats.pid"
	for _ in $(seq 100); do
		grep -q "Server is ready" "$log" && return 0
		sleep 0.05
	done
	cat "$log" >&2
	return 1
}

# N records {"n":1} ... {"n":N}, a hundred every tenth of a second, as
# a live producer writes them.
slow_records() {
	seq "$1" | awk '{ print "{\"n\":" $1 "}"; fflush()
		if (NR % 100 == 0) system("sleep 0.1") }'
}

setup_file() {
	if [ "$BACKEND" = nats ]; then
		start_nats
	fi
}

teardown_file() {
	nats_stop "$BATS_FILE_TMPDIR"
}

setup() {
	common_setup
	export MAS_STATE_DIR="$BATS_TEST_TMPDIR/state"
	if [ "$BACKEND" = nats ]; then
		# One server for the file: each test starts from no streams.
		nats-reset "$MAS_BUS_URL"
	fi
}

only_on() {
	if [ "$BACKEND" != "$1" ]; then
		skip "$2"
	fi
}

# Long enough for a visibility timeout of $1 s to have passed: NATS's
# redelivery timer may fire up to about a second after AckWait.
after_visibility() {
	if [ "$BACKEND" = nats ]; then
		sleep "$(awk -v s="$1" 'BEGIN { print s + 1 }')"
	else
		sleep "$(awk -v s="$1" 'BEGIN { print s + 0.2 }')"
	fi
}

# Wait until the messages group $1 claimed and did not acknowledge can be
# claimed again, a visibility timeout of $2 s after the claim: polled on
# SQLite, where stat says so (at most 20 s, a loaded machine), waited
# out on NATS, whose server redelivers up to a second late.
after_claims_expire() {
	if [ "$BACKEND" = nats ]; then
		after_visibility "$2"
		return
	fi
	sleep "$2"
	for _ in $(seq 200); do
		mas-bus stat | jq -e --arg g "$1" \
			'select(.group == $g) | .in_flight == 0' >/dev/null &&
			return 0
		sleep 0.1
	done
	return 1
}

# Wait, at most $3 seconds, until group $1 has delivered more than $2
# messages.
wait_delivered() {
	for _ in $(seq $(($3 * 10))); do
		mas-bus stat | jq -e --arg g "$1" --argjson n "$2" \
			'select(.group == $g) | .delivered > $n' \
			>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# Wait, at most $3 seconds, until group $1 has acknowledged $2 messages.
wait_acknowledged() {
	for _ in $(seq $(($3 * 20))); do
		mas-bus stat | jq -e --arg g "$1" --argjson n "$2" \
			'select(.group == $g) | .acknowledged == $n' \
			>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# N records {"n":1} ... {"n":N}.
records() {
	seq "$1" | sed 's/.*/{"n":&}/'
}

# Start a group consumer whose stdout is a pipe nobody reads, so it
# claims a batch and blocks writing it; then kill it with -9.  Payloads
# are large so the batch overflows the pipe.
kill_mid_batch() {
	local fifo="$BATS_TEST_TMPDIR/fifo" reader writer
	mkfifo "$fifo"
	sleep 20 <"$fifo" &
	reader=$!
	mas-bus sub jobs --group g --visibility 2 "$@" >"$fifo" 2>/dev/null &
	writer=$!
	# Wait until it has claimed its batch (at most 5 s).
	for _ in $(seq 50); do
		mas-bus stat | jq -e 'select(.group == "g") | .delivered > 0' \
			>/dev/null && break
		sleep 0.1
	done
	kill -9 "$writer"
	kill "$reader"
	wait "$writer" "$reader" 2>/dev/null || true
	rm -f "$fifo"
}

# M records whose payloads are about 8 KiB each.
big_records() {
	local pad
	pad=$(head -c 8000 /dev/zero | tr '\0' x)
	seq "$1" | sed "s/.*/{\"n\":&,\"pad\":\"$pad\"}/"
}

@test "bus: published payloads come back in order, in envelopes" {
	records 3 | mas-bus pub tasks.a
	run --separate-stderr mas-bus sub tasks.a --from-start
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 3 ]
	output_jq -s 'map(.payload.n) == [1,2,3] and
		all(.[]; .topic == "tasks.a" and .type == "event" and
		    .priority == "normal" and (.id | length) == 26 and
		    has("timestamp") and has("sender") and
		    has("correlation_id") and has("reply_to"))'
	run --separate-stderr mas-bus sub tasks.a --from-start --payload \
		--count 2
	[ "$output" = '{"n":1}
{"n":2}' ]
}

@test "bus: pub -v prints the message ids" {
	run --separate-stderr mas-bus pub tasks.a -v < <(records 2)
	[ "$status" -eq 0 ]
	output_jq -s 'length == 2 and all(.[]; .topic == "tasks.a" and
		(.id | length) == 26)'
	# The sequence number is SQLite's; NATS acknowledges asynchronously.
	if [ "$BACKEND" = sqlite ]; then
		output_jq -s 'map(.seq) == [1,2]'
	else
		output_jq -s 'all(.[]; has("seq") | not)'
	fi
}

@test "bus: a plain subscriber sees only messages published after it" {
	records 2 | mas-bus pub t
	run --separate-stderr mas-bus sub t
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	timeout 20 mas-bus sub t --follow --count 1 --payload \
		>"$BATS_TEST_TMPDIR/out" &
	sleep 0.5
	echo '{"late":true}' | mas-bus pub t
	wait $!
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = '{"late":true}' ]
}

@test "bus: wildcards match one token (*) or the rest (>)" {
	for topic in a.b a.b.c a.x.c b.b; do
		echo "{\"t\":\"$topic\"}" | mas-bus pub "$topic"
	done
	run --separate-stderr mas-bus sub 'a.*' --from-start --payload
	[ "$output" = '{"t":"a.b"}' ]
	run --separate-stderr mas-bus sub 'a.>' --from-start --payload
	output_jq -s 'map(.t) == ["a.b","a.b.c","a.x.c"]'
	run --separate-stderr mas-bus sub 'a.*.c' --from-start --payload
	output_jq -s 'map(.t) == ["a.b.c","a.x.c"]'
	if [ "$BACKEND" = nats ]; then
		# One stream per first token: a stored read needs that token.
		run -2 --separate-stderr mas-bus sub '*.b' --from-start
		[[ "$stderr" == *"first token"* ]]
		return
	fi
	run --separate-stderr mas-bus sub '*.b' --from-start --payload
	output_jq -s 'map(.t) == ["a.b","b.b"]'
}

@test "bus: a group takes high before normal before low, FIFO within" {
	only_on sqlite "NATS delivers in publication order: no priorities"
	echo '{"p":"low1"}' | mas-bus pub q --priority low
	echo '{"p":"normal1"}' | mas-bus pub q
	echo '{"p":"high1"}' | mas-bus pub q --priority high
	echo '{"p":"low2"}' | mas-bus pub q --priority low
	echo '{"p":"high2"}' | mas-bus pub q --priority high
	run --separate-stderr mas-bus sub q --group w --payload
	[ "$status" -eq 0 ]
	output_jq -s 'map(.p) == ["high1","high2","normal1","low1","low2"]'
}

@test "bus: two members of a group get each message once" {
	records 400 | mas-bus pub work
	mas-bus sub work --group pool --count 200 --payload \
		>"$BATS_TEST_TMPDIR/one" &
	first=$!
	mas-bus sub work --group pool --count 200 --payload \
		>"$BATS_TEST_TMPDIR/two" &
	second=$!
	wait "$first"
	wait "$second"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/one")" -eq 200 ]
	[ "$(wc -l <"$BATS_TEST_TMPDIR/two")" -eq 200 ]
	[ "$(cat "$BATS_TEST_TMPDIR/one" "$BATS_TEST_TMPDIR/two" |
		jq .n | sort -n | uniq | wc -l)" -eq 400 ]
	run --separate-stderr mas-bus sub work --group pool
	[ -z "$output" ]
}

@test "bus: a consumer killed mid-batch has its messages redelivered" {
	big_records 30 | mas-bus pub jobs
	kill_mid_batch
	run --separate-stderr mas-bus stat
	output_jq -s '.[] | select(.group == "g") |
		.delivered > 0 and .acknowledged < 30'
	acked=$(printf '%s\n' "$output" |
		jq -s '.[] | select(.group == "g") | .acknowledged')
	after_visibility 2
	run --separate-stderr mas-bus sub jobs --group g --payload
	[ "$status" -eq 0 ]
	# Everything not acknowledged before the kill comes out now, once.
	[ "$(line_count)" -eq $((30 - acked)) ]
	[ "$(printf '%s\n' "$output" | jq .n | sort -u | wc -l)" -eq \
		$((30 - acked)) ]
	run --separate-stderr mas-bus stat
	output_jq -s '.[] | select(.group == "g") | .redelivered > 0 and
		.acknowledged == 30 and .lag == 0 and .in_flight == 0'
}

@test "bus: past --max-deliver a message is dead-lettered" {
	big_records 30 | mas-bus pub jobs
	kill_mid_batch --max-deliver 1
	after_visibility 2
	run --separate-stderr mas-bus sub jobs --group g --max-deliver 1 \
		--payload
	[ "$status" -eq 0 ]
	run --separate-stderr mas-bus stat
	output_jq -s '.[] | select(.group == "g") | .dead_lettered > 0 and
		.acknowledged + .dead_lettered == 30 and .lag == 0'
}

@test "bus: dead letters are read on _dead.GROUP and replayed once" {
	records 3 | mas-bus pub jobs
	# a worker that fails every message (its output is full)
	run -74 --separate-stderr sh -c 'mas-bus sub jobs --group w \
		--visibility 1 --max-deliver 1 --prefetch 3 >/dev/full'
	after_visibility 1
	run --separate-stderr mas-bus sub jobs --group w --max-deliver 1
	[ -z "$output" ]
	# the same way on both backends
	run --separate-stderr mas-bus sub _dead.w --from-start --payload
	[ "$output" = '{"n":1}
{"n":2}
{"n":3}' ]
	run --separate-stderr mas-bus stat
	output_jq -s '.[] | select(.group == "w") | .dead_lettered == 3'
	# back to their topic once fixed, each once however often asked
	run --separate-stderr mas-bus replay _dead.w
	[ "$output" = '{"replayed":3,"skipped":0}' ]
	run --separate-stderr mas-bus replay _dead.w
	[ "$output" = '{"replayed":0,"skipped":0}' ]
	run --separate-stderr mas-bus sub jobs --group w
	output_jq -s 'map(.payload.n) == [1,2,3] and
		all(.[]; .topic == "jobs" and (.id | endswith("-replay")))'
	# or elsewhere, by a replay group of another name
	run --separate-stderr mas-bus replay _dead.w --to jobs.retry \
		--group again
	[ "$output" = '{"replayed":3,"skipped":0}' ]
	run --separate-stderr mas-bus sub jobs.retry --from-start --payload
	[ "$(line_count)" -eq 3 ]
	run -2 --separate-stderr mas-bus replay jobs
	run -2 --separate-stderr mas-bus replay _dead.w --to _dead.w
}

@test "bus: malformed input lines become error records" {
	run --separate-stderr mas-bus pub t -v <<-'EOF'
	{"n":1}
	not json
	{"n":2}
	EOF
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 3 ]
	printf '%s\n' "$output" | sed -n 2p |
		jq -e '.error.code == "INVALID_REQUEST" and .error.line == 2'
	run --separate-stderr mas-bus sub t --from-start --payload
	[ "$output" = '{"n":1}
{"n":2}' ]
}

@test "bus: --envelope checks envelopes and stores an id once" {
	env='{"id":"m1","topic":"x.y","type":"request","payload":{"q":1}}'
	run --separate-stderr mas-bus pub t --envelope <<-EOF
	$env
	$env
	{"topic":"bad topic","payload":1}
	EOF
	[ "$status" -eq 1 ]
	output_jq '.error.field == "topic"'
	run --separate-stderr mas-bus sub x.y --from-start
	[ "$(line_count)" -eq 1 ]
	output_jq '.id == "m1" and .type == "request" and
		.priority == "normal"'
}

@test "bus: an illegal topic or verb is a usage error" {
	run -2 --separate-stderr mas-bus pub 'tasks a' </dev/null
	[[ "$stderr" == *"not a valid topic"* ]]
	run -2 --separate-stderr mas-bus pub 'tasks.*' </dev/null
	run -2 --separate-stderr mas-bus sub 'a..b'
	run -2 --separate-stderr mas-bus sub 'a.>.b'
	run -2 --separate-stderr mas-bus frob t
	run -2 --separate-stderr mas-bus pub t --priority urgent </dev/null
	run -2 --separate-stderr mas-bus stat --url redis://127.0.0.1:6379
	# A group keeps the pattern it was made with.
	mas-bus sub a.x --group keeper
	run -2 --separate-stderr mas-bus sub a.y --group keeper
	[[ "$stderr" == *"subscribes to a.x, not a.y"* ]]
	run -2 --separate-stderr mas-bus stat \
		--url 'nats://127.0.0.1:4222?frob=1'
}

@test "bus: an unreachable NATS server is a temporary failure" {
	run -75 --separate-stderr mas-bus stat --url nats://127.0.0.1:1
	[[ "$stderr" == *"cannot connect"* ]]
	run -75 --separate-stderr mas-bus pub t --url nats://127.0.0.1:1 \
		<<< '{}'
}

@test "bus: concurrent publishers lose nothing" {
	local publishers=()
	for i in 1 2 3 4; do
		records 250 | mas-bus pub "p.$i" &
		publishers+=($!)
	done
	wait "${publishers[@]}"
	run --separate-stderr mas-bus sub 'p.>' --from-start
	[ "$(line_count)" -eq 1000 ]
	[ "$(printf '%s\n' "$output" | jq -r .id | sort -u | wc -l)" -eq 1000 ]
}

@test "bus: a failed write leaves the messages unacknowledged" {
	records 3 | mas-bus pub t
	run -74 --separate-stderr sh -c \
		'mas-bus sub t --group g --visibility 4 --prefetch 3 \
		>/dev/full'
	# claimed, not acknowledged: invisible for the 4 s (long enough
	# for a loaded machine to get here first), then back
	run --separate-stderr mas-bus sub t --group g --visibility 4
	[ -z "$output" ]
	after_claims_expire g 4
	run --separate-stderr mas-bus sub t --group g --payload
	[ "$(line_count)" -eq 3 ]
	# with the adaptive window, only the first message was claimed
	records 3 | mas-bus pub u
	run -74 --separate-stderr sh -c \
		'mas-bus sub u --group h --visibility 10 >/dev/full'
	run --separate-stderr mas-bus sub u --group h --payload
	[ "$output" = '{"n":2}
{"n":3}' ]
}

@test "bus: a locked store fails each record of pub, transient, once waited" {
	only_on sqlite "the state store"
	records 1 | mas-bus pub t
	lock_store "$MAS_STATE_DIR/mas.db"
	start=$(date +%s%N)
	MAS_STATE_BUSY_TIMEOUT=0.5 run -75 --separate-stderr \
		mas-bus pub t -v < <(records 5)
	elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
	unlock_store
	# one error record per record, one wait: the first message made
	# comes with its envelope, the records refused after it whole
	[ "$(line_count)" -eq 5 ]
	output_jq -s 'map(.n // .envelope.payload.n) == [1,2,3,4,5] and
		all(.[]; .error.code == "TIMEOUT" and .error.transient and
		    .error.line == (.n // .envelope.payload.n) and
		    (.error.message | test("locked")))'
	echo "5 records refused in $elapsed_ms ms"
	[ "$elapsed_ms" -lt 4000 ]
	# nothing of them was stored; once the lock is gone they are
	run --separate-stderr mas-bus sub t --from-start --payload
	[ "$output" = '{"n":1}' ]
	run -0 --separate-stderr mas-bus pub t < <(records 5)
}

@test "bus: sub --group | head -1 acknowledges only what head took" {
	records 300 | mas-bus pub t
	mas-bus sub t --group g --visibility 1 |
		head -1 >"$BATS_TEST_TMPDIR/first"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/first")" -eq 1 ]
	run --separate-stderr mas-bus stat
	acked=$(printf '%s\n' "$output" |
		jq -s '.[] | select(.group == "g") | .acknowledged')
	echo "acknowledged $acked of 300"
	# what head read from the pipe (one message, or two that came
	# together), not the batch written into it
	[ "$acked" -ge 1 ]
	[ "$acked" -le 2 ]
	# the rest is still owed, and delivered again once the claims end
	after_visibility 1
	run --separate-stderr mas-bus sub t --group g --payload
	[ "$(line_count)" -eq $((300 - acked)) ]
	run --separate-stderr mas-bus stat
	output_jq -s '.[] | select(.group == "g") | .acknowledged == 300
		and .lag == 0'
}

@test "bus: --url sqlite:PATH keeps the bus in that file" {
	only_on sqlite "a SQLite file"
	echo '{"n":1}' | mas-bus pub t --url "sqlite:$BATS_TEST_TMPDIR/bus.db"
	[ -f "$BATS_TEST_TMPDIR/bus.db" ]
	run --separate-stderr mas-bus sub t --from-start \
		--url "sqlite:$BATS_TEST_TMPDIR/bus.db" --payload
	[ "$output" = '{"n":1}' ]
	MAS_BUS_URL="sqlite:$BATS_TEST_TMPDIR/bus.db" \
		run --separate-stderr mas-bus stat
	output_jq '.topic == "t" and .messages == 1'
}

@test "bus: a quiet producer's message is stored before its next line" {
	# (not $lines: bats' run sets that)
	mkfifo "$BATS_TEST_TMPDIR/lines"
	mas-bus pub slow <"$BATS_TEST_TMPDIR/lines" &
	publisher=$!
	exec {producer}>"$BATS_TEST_TMPDIR/lines"
	echo '{"n":1}' >&"$producer"
	# the line is stored while the producer keeps its pipe open
	for _ in $(seq 100); do
		run --separate-stderr mas-bus sub slow --from-start --payload
		[ "$output" = '{"n":1}' ] && break
		sleep 0.1
	done
	[ "$output" = '{"n":1}' ]
	echo '{"n":2}' >&"$producer"
	exec {producer}>&-
	wait "$publisher"
}

@test "bus: every id a killed publisher printed is stored" {
	records 200000 | mas-bus pub t -v >"$BATS_TEST_TMPDIR/ids" &
	publisher=$!
	# mid-run: once it has printed ids (a sanitized build on a loaded
	# machine takes more than half a second to)
	for _ in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/ids" ] && break
		sleep 0.1
	done
	sleep 0.2
	kill -9 "$publisher"
	wait "$publisher" || true
	# Only whole lines: the last, when it has no newline, was cut by
	# the kill.
	cd "$BATS_TEST_TMPDIR"
	if [ -n "$(tail -c 1 ids)" ]; then sed '$d' ids; else cat ids; fi |
		jq -r .id | sort >printed
	[ -s printed ]
	mas-bus sub t --from-start | jq -r .id | sort >stored
	[ -z "$(comm -23 printed stored)" ]
}

@test "bus: req gets serve's reply, and a timeout is an error record" {
	timeout 30 mas-bus serve calc --group c --follow --count 2 -- \
		jq --unbuffered -c '{sum: (.a + .b)}' >/dev/null 2>&1 &
	worker=$!
	run --separate-stderr mas-bus req calc --payload --timeout 10 <<-'EOF'
	{"a":1,"b":2}
	{"a":5,"b":5}
	EOF
	[ "$status" -eq 0 ]
	[ "$output" = '{"sum":3}
{"sum":10}' ]
	wait "$worker"
	run -75 --separate-stderr mas-bus req nobody --timeout 0.3 <<< '{}'
	output_jq '.error.code == "TIMEOUT"'
}

@test "bus: a waiting worker answers at once, not a poll later" {
	timeout 60 mas-bus serve calc --follow --count 21 -- \
		jq --unbuffered -c '{sum: (.a + .b)}' >/dev/null 2>&1 &
	worker=$!
	# The first request waits for the worker to start.
	echo '{"a":0,"b":0}' | mas-bus req calc --timeout 20 >/dev/null
	start=$(date +%s%N)
	run --separate-stderr mas-bus req calc --payload --timeout 10 < <(
		for i in $(seq 20); do echo "{\"a\":$i,\"b\":1}"; done)
	elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
	wait "$worker"
	[ "$(line_count)" -eq 20 ]
	# Twenty round trips, one at a time: well under a second each
	# (a pull waiting for a full batch once took most of a second, 20 s
	# in all: the bound is loose enough for a loaded machine).
	echo "20 requests in $elapsed_ms ms"
	[ "$elapsed_ms" -lt 15000 ]
}

@test "bus: serve replies to TOPIC.done when there is no reply_to" {
	records 3 | mas-bus pub tasks
	run --separate-stderr mas-bus serve tasks -- \
		jq --unbuffered -c '{double: (.n * 2)}'
	[ "$status" -eq 0 ]
	run --separate-stderr mas-bus sub tasks.done --from-start
	output_jq -s 'map(.payload.double) == [2,4,6] and
		all(.[]; .type == "response" and
		    .id == .correlation_id + "-reply")'
}

@test "bus: a serve worker killed mid-batch: each request answered once" {
	records 20 | mas-bus pub jobs
	slow='while read -r l; do sleep 0.05; echo "$l"; done'
	mas-bus serve jobs --group w --visibility 1 --follow -- \
		sh -c "$slow" 2>/dev/null &
	worker=$!
	# killed once it has claimed and answered some, not before
	wait_delivered w 2 20
	kill -9 "$worker"
	wait "$worker" || true
	after_claims_expire w 1
	run --separate-stderr mas-bus serve jobs --group w -- sh -c "$slow"
	[ "$status" -eq 0 ]
	run --separate-stderr mas-bus sub jobs.done --from-start --payload
	[ "$(line_count)" -eq 20 ]
	[ "$(printf '%s\n' "$output" | jq .n | sort -n | uniq | wc -l)" -eq 20 ]
	run --separate-stderr mas-bus stat
	output_jq -s '.[] | select(.group == "w") | .lag == 0 and
		.acknowledged == 20 and .redelivered > 0'
}

@test "bus: serve without a command is a usage error" {
	run -2 --separate-stderr mas-bus serve jobs
}

@test "bus: serve exits 75 when its command cannot run" {
	run -75 --separate-stderr mas-bus serve jobs -- /nonexistent/filter
	[[ "$stderr" == *"exited with status 127"* ]]
}

@test "bus: serve closes its command's input after the last request" {
	# A command that answers only at end of file (reads ahead): with
	# --count the last request is known, and its input closed after it.
	records 1 | mas-bus pub ahead
	run --separate-stderr timeout 30 mas-bus serve ahead --count 1 -- \
		sh -c 'cat >/dev/null; echo "{\"done\":true}"'
	[ "$status" -eq 0 ]
	run --separate-stderr mas-bus sub ahead.done --from-start --payload
	[ "$output" = '{"done":true}' ]
}

@test "bus: a serve command that never answers fails with TIMEOUT" {
	printf '{"id":"a"}\n{"id":"b"}\n' | mas-bus pub hang
	start=$(date +%s)
	run --separate-stderr timeout 60 mas-bus serve hang --timeout 1 -- \
		sh -c 'read -r l; sleep 999.25'
	# each request in about its second, the command killed and started
	# again for the next, and the run ends: transient, exit 75
	[ "$status" -eq 75 ]
	[ $(($(date +%s) - start)) -lt 30 ]
	[[ "$stderr" == *"no answer within 1 s"* ]]
	[[ "$stderr" == *"2 requests failed with TIMEOUT"* ]]
	! pgrep -f 'sleep 999.25'
	run --separate-stderr mas-bus sub hang.done --from-start --payload
	output_jq -s 'map(.id) == ["a","b"] and
		all(.[]; .error.code == "TIMEOUT")'
	# answered, with an error: acknowledged, not delivered again
	run --separate-stderr mas-bus serve hang --timeout 1 -- cat
	[ "$status" -eq 0 ]
	run --separate-stderr mas-bus sub hang.done --from-start
	[ "$(line_count)" -eq 2 ]
}

@test "bus: serve's command gets end of file when the queue is drained" {
	records 3 | mas-bus pub eof
	run --separate-stderr timeout 30 mas-bus serve eof -- sh -c \
		"while read -r l; do echo \"\$l\"; done; echo end >'$BATS_TEST_TMPDIR/end'"
	[ "$status" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/end")" = end ]
	# one that stays after end of file is killed --timeout later
	records 1 | mas-bus pub eof
	run --separate-stderr timeout 30 mas-bus serve eof --timeout 1 -- \
		sh -c 'while read -r l; do echo "$l"; done; sleep 999.5'
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"did not exit within 1 s"* ]]
	! pgrep -f 'sleep 999.5'
	run --separate-stderr mas-bus sub eof.done --from-start
	[ "$(line_count)" -eq 4 ]
}

@test "bus: serve's command gets end of file when serve is terminated" {
	mas-bus serve term --follow -- sh -c \
		"echo up >'$BATS_TEST_TMPDIR/up'; while read -r l; do echo \"\$l\"; done; echo end >'$BATS_TEST_TMPDIR/end'" \
		2>/dev/null &
	worker=$!
	# terminated once its command runs (a sanitized build starts slowly)
	for _ in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/up" ] && break
		sleep 0.1
	done
	kill -TERM "$worker"
	wait "$worker" || true
	for _ in $(seq 50); do
		[ -s "$BATS_TEST_TMPDIR/end" ] && break
		sleep 0.1
	done
	[ "$(cat "$BATS_TEST_TMPDIR/end")" = end ]
}

@test "bus: route dispatches by a field and keeps input order" {
	only_on sqlite "route uses no bus"
	run --separate-stderr mas-bus route --by .kind \
		--to 'double=jq --unbuffered -c "{double: (.n * 2)}"' \
		--to 'same=cat' <<-'EOF'
	{"kind":"double","n":1}
	{"kind":"same","n":2}
	{"kind":"double","n":3}
	{"kind":"nowhere","n":4}
	not json
	{"kind":"same","n":6}
	EOF
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 6 ]
	output_jq -s '.[0].double == 2 and .[1].n == 2 and .[2].double == 6
		and (.[3].error.message | test("no route named .nowhere."))
		and .[4].error.line == 5 and .[5].n == 6'
}

@test "bus: route keeps order over many records without deadlock" {
	only_on sqlite "route uses no bus"
	seq 20000 | awk '{ printf "{\"type\":\"%s\",\"n\":%d}\n",
		($1 % 3 ? "a" : "b"), $1 }' >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route --to a=cat --to b=cat \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq .n | awk '$1 != NR' | wc -l)" -eq 0 ]
	[ "$(line_count)" -eq 20000 ]
}

@test "bus: a route that dies leaves error records, not a hang" {
	only_on sqlite "route uses no bus"
	run --separate-stderr mas-bus route --to 'a=head -n 1' <<-'EOF'
	{"type":"a","n":1}
	{"type":"a","n":2}
	EOF
	[ "$status" -eq 1 ]
	output_jq -s '.[0].n == 1 and .[1].error.route == "a"'
	run -2 --separate-stderr mas-bus route </dev/null
	run -2 --separate-stderr mas-bus route --to nameonly </dev/null
}

@test "bus: two workers share 10,000 messages, each handled once" {
	cd "$BATS_TEST_TMPDIR"
	for worker in 1 2; do
		mas-bus serve work --group pool --follow --prefetch 16 -- cat \
			2>"worker$worker.err" &
		echo $! >"worker$worker.pid"
	done
	sleep 0.5 # both waiting for work
	records 10000 | mas-bus pub work
	# Done when the group has acknowledged everything (at most 120 s).
	wait_acknowledged pool 10000 120 || true
	kill "$(cat worker1.pid)" "$(cat worker2.pid)"
	wait "$(cat worker1.pid)" "$(cat worker2.pid)" || true
	mas-bus sub work.done --from-start >replies
	# Each request answered once, by one worker or the other.
	[ "$(wc -l <replies)" -eq 10000 ]
	[ "$(jq .payload.n replies | sort -n | uniq | wc -l)" -eq 10000 ]
	# Shared: each worker (its replies' sender) did at least a tenth of
	# the work.  (NATS splits close to even; on SQLite whoever takes
	# the lock more often does more, 50/50 to 80/20.)
	jq -r .sender replies | sort | uniq -c >split
	cat split
	[ "$(wc -l <split)" -eq 2 ]
	[ "$(awk '$1 < 1000' split | wc -l)" -eq 0 ]
}

@test "bus: pub rides out a NATS restart: stored once, or reported" {
	only_on nats "a NATS server restart"
	cd "$BATS_TEST_TMPDIR"
	# Down for longer than --timeout: the batches of the outage fail,
	# reported; the later ones are stored once the client reconnects.
	slow_records 3000 | mas-bus pub r.t -v --timeout 0.5 >out 2>err &
	publisher=$!
	sleep 0.5
	restart_nats 1
	status=0
	wait "$publisher" || status=$?
	[ "$status" -eq 75 ] # only transient failures
	jq -r 'select(.error | not) | .id' out | sort >stored
	jq -r 'select(.error) | .id' out | sort >failed
	mas-bus sub r.t --from-start | jq -r .id | sort >stream
	echo "published 3000, stored $(wc -l <stored), failed" \
		"$(wc -l <failed), in stream $(wc -l <stream)," \
		"duplicates $(uniq -d stream | wc -l)"
	# each record reported once, stored or failed, with its own line
	[ "$(wc -l <out)" -eq 3000 ]
	[ "$(sort -u stored failed | wc -l)" -eq 3000 ]
	[ -s failed ]
	jq -e -s 'all(.[] | select(.error); .error.line == .envelope.payload.n
		and .error.code == "UPSTREAM_ERROR")' out
	# reconnected: the last records are stored
	tail -1 out | jq -e '.error | not'
	# what was reported stored is stored, once
	[ -z "$(comm -23 stored stream)" ]
	[ -z "$(uniq -d stream)" ]
	# publishing the failed ones again under their ids stores each once
	jq -c 'select(.error) | .envelope' out | mas-bus pub r.t --envelope
	mas-bus sub r.t --from-start | jq -r .id | sort >stream
	[ "$(wc -l <stream)" -eq 3000 ]
	[ "$(sort -u stream | wc -l)" -eq 3000 ]
	grep -q reconnected err
}

@test "bus: three serve workers share slow jobs within a job's time" {
	cd "$BATS_TEST_TMPDIR"
	slow='while read -r l; do sleep 0.2; echo "$l"; done'
	for _ in 1 2 3; do
		mas-bus serve jobs --group pool --follow -- sh -c "$slow" \
			2>/dev/null &
		echo $! >>workers
	done
	sleep 0.5 # all three waiting
	start=$(date +%s%N)
	records 30 | mas-bus pub jobs
	wait_acknowledged pool 30 15 || true
	elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
	kill $(cat workers)
	wait $(cat workers) || true
	mas-bus sub jobs.done --from-start >replies
	[ "$(jq .payload.n replies | sort -n | uniq | wc -l)" -eq 30 ]
	jq -r .sender replies | sort | uniq -c >split
	echo "30 jobs of 0.2 s (6 s one after another) in $elapsed_ms ms:" \
		$(awk '{ print $1 }' split)
	# each worker took a share (once all 30 went to one): the time is
	# printed, not checked, as a loaded machine stretches it
	[ "$(wc -l <split)" -eq 3 ]
	[ "$(awk '$1 < 5' split | wc -l)" -eq 0 ]
}

@test "bus: two sub members behind slow readers share the messages" {
	cd "$BATS_TEST_TMPDIR"
	records 100 | mas-bus pub t
	slow='while read -r l; do sleep 0.01; echo "$l"; done'
	mas-bus sub t --group g --follow --payload > >(sh -c "$slow" >a) &
	first=$!
	sleep 0.3 # the first has had time to take everything
	mas-bus sub t --group g --follow --payload > >(sh -c "$slow" >b) &
	second=$!
	for _ in $(seq 100); do
		[ "$(cat a b | wc -l)" -ge 100 ] && break
		sleep 0.1
	done
	kill "$first" "$second"
	wait "$first" "$second" || true
	echo "split: $(wc -l <a) $(wc -l <b)"
	[ "$(cat a b | jq .n | sort -n | uniq | wc -l)" -eq 100 ]
	# (a pipe holds 100 small messages: once, the first member wrote
	# them all into it and acknowledged them, the second got none)
	[ "$(wc -l <b)" -ge 20 ]
}

@test "bus: NATS stat shows streams and groups" {
	only_on nats "NATS figures"
	records 3 | mas-bus pub tasks.a
	mas-bus sub 'tasks.>' --group g --count 2 >/dev/null
	run --separate-stderr mas-bus stat
	[ "$status" -eq 0 ]
	output_jq -s '.[0] == {"topic":"tasks.a","messages":3} and
		(.[1] | .group == "g" and .stream == "MAS_tasks" and
		 .pattern == "tasks.>" and .delivered == 2 and
		 .acknowledged == 2 and .depth == 1 and .lag == 1)'
}

@test "bus: NATS ?jetstream=no is core NATS: queue groups, nothing kept" {
	only_on nats "a NATS URL"
	core="$MAS_BUS_URL?jetstream=no"
	cd "$BATS_TEST_TMPDIR"
	local members=()
	for member in 1 2; do
		timeout 20 mas-bus sub jobs --group q --follow --payload \
			--url "$core" >"member$member" &
		members+=($!)
	done
	sleep 0.5
	records 100 | mas-bus pub jobs --url "$core"
	sleep 0.5
	kill "${members[@]}" 2>/dev/null || true
	wait "${members[@]}" || true
	# A queue group: each message to one member.
	[ "$(cat member1 member2 | jq .n | sort -n | uniq | wc -l)" -eq 100 ]
	[ "$(cat member1 member2 | wc -l)" -eq 100 ]
	# Nothing was stored.
	run --separate-stderr mas-bus stat
	[ -z "$output" ]
	run -2 --separate-stderr mas-bus sub jobs --from-start --url "$core"
}

@test "bus: sub --count stops cleanly while messages still flow" {
	only_on nats "libnats' reader thread is NATS's"
	core="$MAS_BUS_URL?jetstream=no"
	records 40000 >"$BATS_TEST_TMPDIR/in"
	# stop after 20,000 of 80,000: the rest arrive as the sub closes
	for _ in 1 2 3; do
		mas-bus sub flood --follow --count 20000 --url "$core" \
			>"$BATS_TEST_TMPDIR/out" &
		sub=$!
		sleep 0.3
		mas-bus pub flood --url "$core" "$BATS_TEST_TMPDIR/in" &
		publisher=$!
		mas-bus pub flood --url "$core" "$BATS_TEST_TMPDIR/in"
		wait "$sub"
		wait "$publisher"
		[ "$(grep -c '' "$BATS_TEST_TMPDIR/out")" -eq 20000 ]
	done
}

@test "bus: gc removes old messages no group owes, keeps the rest" {
	if [ "$BACKEND" = nats ]; then
		run -2 --separate-stderr mas-bus gc --older-than 0
		grep -qF "max age" <<<"$stderr"
		return
	fi
	records 5 | mas-bus pub a.x
	records 3 | mas-bus pub b.y
	mas-bus sub 'a.>' --group g --count 2 --payload >/dev/null
	run --separate-stderr mas-bus gc --older-than 1d
	[ "$output" = '{"removed":0}' ]
	# the 2 acknowledged, and b.y, which the group does not take
	run --separate-stderr mas-bus gc --older-than 0
	[ "$output" = '{"removed":5}' ]
	# what the group still owes is kept, and still delivered
	run --separate-stderr mas-bus sub 'a.>' --group g --payload
	[ "$(printf '%s\n' "$output" | jq -s -c 'map(.n)')" = "[3,4,5]" ]
	run --separate-stderr mas-bus gc --older-than 0s
	[ "$output" = '{"removed":3}' ]
	run -2 --separate-stderr mas-bus gc
	run -2 --separate-stderr mas-bus gc topic --older-than 1h
	run -2 --separate-stderr mas-bus gc --older-than soon
}

# publish_foreign TOPIC LINE...: messages as another client of the bus
# may send them, not mas envelopes: rows in the store, or plain NATS
# publishes into the topic's stream (which `mas-bus pub` made first).
publish_foreign() {
	local topic=$1 line
	shift
	echo '{"n":0}' | mas-bus pub "$topic"
	if [ "$BACKEND" = nats ]; then
		printf '%s\n' "$@" >"$BATS_TEST_TMPDIR/foreign"
		nats-pair pub "$MAS_BUS_URL" "$topic" "$BATS_TEST_TMPDIR/foreign"
		return
	fi
	for line in "$@"; do
		sqlite3 "$MAS_STATE_DIR/mas.db" "INSERT INTO bus_message
			(id, topic, priority, at, envelope) VALUES
			(lower(hex(randomblob(8))), '$topic', 1, 0,
			 '${line//\'/\'\'}')"
	done
}

FOREIGN=('42' '[1]' 'null' '{}' 'not json' '{"id":5,"topic":"w","payload":{"n":9}}')

@test "bus: messages that are not envelopes: error records with sub --payload, never a crash" {
	publish_foreign w "${FOREIGN[@]}"
	run --separate-stderr mas-bus sub w --from-start
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 7 ]
	run --separate-stderr mas-bus sub w --from-start --payload
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 7 ]
	output_jq -s '[.[] | .error.code // .n] ==
		[0, "UPSTREAM_ERROR", "UPSTREAM_ERROR", "UPSTREAM_ERROR",
		 "UPSTREAM_ERROR", "UPSTREAM_ERROR", 9]'
	output_jq -s '[.[].error.input | values] ==
		["42", "[1]", "null", "{}", "not json"]'
	# traced, each message's traceparent is looked for
	MAS_TRACE="$BATS_TEST_TMPDIR/trace.jsonl" run --separate-stderr \
		mas-bus sub w --group g --payload
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 7 ]
}

@test "bus: serve skips messages it cannot answer, with a warning" {
	publish_foreign w "${FOREIGN[@]}"
	run --separate-stderr mas-bus serve w -- jq --unbuffered -c '.n += 1'
	[ "$status" -eq 0 ]
	[ "$(grep -c 'skipped a message that is not an envelope' <<<"$stderr")" -eq 6 ]
	run --separate-stderr mas-bus sub w.done --from-start --payload
	[ "$output" = '{"n":1}' ]
}

@test "bus: req --payload: a reply without a payload is an error record" {
	echo '{"x":1}' | mas-bus req asks --payload --timeout 20 \
		>"$BATS_TEST_TMPDIR/reply" 2>/dev/null &
	local asker=$! id=
	for _ in $(seq 100); do
		id=$(mas-bus sub asks --from-start | jq -r .id)
		[ -n "$id" ] && break
		sleep 0.1
	done
	[ -n "$id" ]
	publish_foreign "_inbox.$id" \
		"{\"id\":\"r1\",\"topic\":\"_inbox.$id\",\"type\":\"response\",\"correlation_id\":\"$id\"}"
	local asked=0
	wait "$asker" || asked=$?
	[ "$asked" -eq 1 ]
	run jq -c . "$BATS_TEST_TMPDIR/reply"
	output_jq '.error == {code: "UPSTREAM_ERROR", message:
		"line 1: the reply has no payload", transient: false, line: 1}'
}
