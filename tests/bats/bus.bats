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

BACKEND=sqlite
if [ "$(basename "$BATS_TEST_FILENAME")" = bus-nats.bats ]; then
	BACKEND=nats
fi

# Start nats-server on a free port (a few tries: the port is picked at
# random), its store under the file's temporary folder.  Ready is when
# its own log says so: a connection alone could reach another server
# that holds the port.
start_nats() {
	local port pid log="$BATS_FILE_TMPDIR/nats.log"
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		nats-server -a 127.0.0.1 -p "$port" -js \
			-sd "$BATS_FILE_TMPDIR/jetstream" >"$log" 2>&1 &
		pid=$!
		for _ in $(seq 50); do
			if grep -q "Server is ready" "$log"; then
				echo "$pid" >"$BATS_FILE_TMPDIR/nats.pid"
				export MAS_BUS_URL="nats://127.0.0.1:$port"
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	echo "cannot start nats-server" >&2
	cat "$BATS_FILE_TMPDIR/nats.log" >&2
	return 1
}

setup_file() {
	if [ "$BACKEND" = nats ]; then
		start_nats
	fi
}

teardown_file() {
	local pid
	if [ -f "$BATS_FILE_TMPDIR/nats.pid" ]; then
		pid=$(cat "$BATS_FILE_TMPDIR/nats.pid")
		kill "$pid" 2>/dev/null
		# nats-server is not our child here: wait for it by polling.
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
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
	for i in 1 2 3 4; do
		records 250 | mas-bus pub "p.$i" &
	done
	wait
	run --separate-stderr mas-bus sub 'p.>' --from-start
	[ "$(line_count)" -eq 1000 ]
	[ "$(printf '%s\n' "$output" | jq -r .id | sort -u | wc -l)" -eq 1000 ]
}

@test "bus: a failed write leaves the messages unacknowledged" {
	records 3 | mas-bus pub t
	run -74 --separate-stderr sh -c \
		'mas-bus sub t --group g --visibility 1 >/dev/full'
	run --separate-stderr mas-bus sub t --group g --visibility 1
	[ -z "$output" ]
	after_visibility 1
	run --separate-stderr mas-bus sub t --group g --payload
	[ "$(line_count)" -eq 3 ]
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
	{ echo '{"n":1}'; sleep 1.5; echo '{"n":2}'; } | mas-bus pub slow &
	sleep 0.7
	run --separate-stderr mas-bus sub slow --from-start --payload
	[ "$output" = '{"n":1}' ]
	wait
}

@test "bus: every id a killed publisher printed is stored" {
	records 200000 | mas-bus pub t -v >"$BATS_TEST_TMPDIR/ids" &
	publisher=$!
	sleep 0.5
	kill -9 "$publisher"
	wait "$publisher" || true
	# Only whole lines: the last may have been cut by the kill.
	cd "$BATS_TEST_TMPDIR"
	sed '$d' ids | jq -r .id | sort >printed
	[ -s printed ]
	mas-bus sub t --from-start | jq -r .id | sort >stored
	[ -z "$(comm -23 printed stored)" ]
}

@test "bus: req gets serve's reply, and a timeout is an error record" {
	timeout 30 mas-bus serve calc --group c --follow --count 2 -- \
		jq --unbuffered -c '{sum: (.a + .b)}' >/dev/null 2>&1 &
	run --separate-stderr mas-bus req calc --payload --timeout 10 <<-'EOF'
	{"a":1,"b":2}
	{"a":5,"b":5}
	EOF
	[ "$status" -eq 0 ]
	[ "$output" = '{"sum":3}
{"sum":10}' ]
	wait
	run -75 --separate-stderr mas-bus req nobody --timeout 0.3 <<< '{}'
	output_jq '.error.code == "TIMEOUT"'
}

@test "bus: a waiting worker answers at once, not a poll later" {
	timeout 60 mas-bus serve calc --follow --count 21 -- \
		jq --unbuffered -c '{sum: (.a + .b)}' >/dev/null 2>&1 &
	# The first request waits for the worker to start.
	echo '{"a":0,"b":0}' | mas-bus req calc --timeout 20 >/dev/null
	start=$(date +%s%N)
	run --separate-stderr mas-bus req calc --payload --timeout 10 < <(
		for i in $(seq 20); do echo "{\"a\":$i,\"b\":1}"; done)
	elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
	wait
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
	sleep 0.4
	kill -9 "$worker"
	wait "$worker" || true
	after_visibility 1
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
		mas-bus serve work --group pool --follow -- cat \
			2>"worker$worker.err" &
		echo $! >"worker$worker.pid"
	done
	sleep 0.5 # both waiting for work
	records 10000 | mas-bus pub work
	# Done when the group has acknowledged everything (at most 120 s).
	for _ in $(seq 1200); do
		mas-bus stat | jq -e 'select(.group == "pool") |
			.acknowledged == 10000' >/dev/null && break
		sleep 0.1
	done
	kill "$(cat worker1.pid)" "$(cat worker2.pid)"
	wait || true
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
	for member in 1 2; do
		timeout 20 mas-bus sub jobs --group q --follow --payload \
			--url "$core" >"member$member" &
	done
	sleep 0.5
	records 100 | mas-bus pub jobs --url "$core"
	sleep 0.5
	kill %1 %2 2>/dev/null || true
	wait || true
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
		mas-bus pub flood --url "$core" "$BATS_TEST_TMPDIR/in"
		wait "$sub"
		wait
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
