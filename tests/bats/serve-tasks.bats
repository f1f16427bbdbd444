#!/usr/bin/env bats
# mas-serve(1), TASKS: durable tasks on the bus: stored before the 201,
# run by the server's workers or by a mas-bus serve worker, in priority
# order, failed with the agent's error; and a server killed with kill -9
# in the middle of a thousand tasks finishes every one of them, once.

load serve_helper
load nats_helper

setup() {
	serve_setup
}

teardown() {
	serve_teardown
}

@test "serve tasks: stored, run, listed; a bad record fails with its agent's error" {
	serve_start "${SERVE_AGENTS[@]}" "${TASKS[@]}"
	http POST /tasks '{"type":"analysis","id":"a1","data_source":"user_behavior","analysis_type":"trend"}'
	[ "$status_code" = 201 ]
	good=$(printf '%s' "$output" | jq -r .data.task_id)
	[ "$(header Location)" = "/tasks/$good" ]
	http POST /tasks '{"type":"analysis","data_source":"user_behavior","analysis_type":"sideways"}'
	bad=$(printf '%s' "$output" | jq -r .data.task_id)
	wait_task "$good"
	printf '%s' "$output" | jq -e '.data.status == "completed" and
		.data.attempts == 1 and (.data.result.current_trends | length > 0)
		and .data.error == null and (.data.worker | startswith("mas-serve"))'
	# The result is what mas-analyze writes for the record.
	direct=$(echo '{"id":"a1","data_source":"user_behavior","analysis_type":"trend","type":"analysis"}' |
		mas-analyze --data-dir examples/data | jq -c '.analysis.insights')
	[ "$(printf '%s' "$output" | jq -c .data.result.insights)" = "$direct" ]
	wait_task "$bad"
	printf '%s' "$output" | jq -e '.data.status == "failed" and
		.data.result == null and .data.error.code == "INVALID_REQUEST" and
		(.data.error.message | contains("sideways"))'
	http GET '/tasks?status=failed'
	printf '%s' "$output" | jq -e --arg bad "$bad" '.data.count == 1 and
		.data.tasks[0].task_id == $bad and (.data.tasks[0] | has("result") | not)'
	http GET '/tasks?limit=1'
	printf '%s' "$output" | jq -e --arg bad "$bad" '.data.count == 1 and
		.data.tasks[0].task_id == $bad'
	# Each finished once in the metrics, after its reply came back on
	# tasks.done too (the server's group has taken both).
	for _ in $(seq 50); do
		done_read=$(mas-bus stat |
			jq 'select(.group == "mas-serve.done") | .acknowledged')
		[ "$done_read" = 2 ] && break
		sleep 0.1
	done
	[ "$done_read" = 2 ]
	http GET /metrics
	printf '%s\n' "$output" | grep -q \
		'^mas_tasks_finished_total{program="mas-serve",outcome="completed"} 1$'
	printf '%s\n' "$output" | grep -q \
		'^mas_tasks_finished_total{program="mas-serve",outcome="failed"} 1$'
	serve_stop
}

@test "serve tasks: high priority runs before low" {
	# Stored with no worker to run them, then a server with one.
	serve_start "${SERVE_AGENTS[@]}" --task-workers 0
	for priority in low low low high normal; do
		http POST /tasks "{\"type\":\"chat\",\"message\":\"hi\",\"priority\":\"$priority\"}"
		[ "$status_code" = 201 ]
	done
	serve_stop
	serve_start "${SERVE_AGENTS[@]}" --task-workers 1
	for _ in $(seq 100); do
		http GET '/tasks?status=completed'
		[ "$(printf '%s' "$output" | jq .data.count)" = 5 ] && break
		sleep 0.1
	done
	# No task started before one of a higher priority.
	printf '%s' "$output" | jq -e '[.data.tasks[] | {s: .started_at,
		r: {"high": 0, "normal": 1, "low": 2}[.priority]}] as $t |
		($t | length == 5) and
		all($t[] as $a | $t[] as $b | ($a.r < $b.r) | not or $a.s <= $b.s)'
	serve_stop
}

@test "serve tasks: a mas-bus serve worker elsewhere runs a task, and the server learns its result" {
	serve_start "${SERVE_AGENTS[@]}" --task-workers 0
	http POST /tasks '{"type":"research","query":"flow batteries","context":{"depth":"brief"}}'
	[ "$status_code" = 201 ]
	id=$(printf '%s' "$output" | jq -r .data.task_id)
	http GET "/tasks/$id"
	printf '%s' "$output" | jq -e '.data.status == "queued"'
	# The worker joins the group the server's workers would: tasks.research.
	run --separate-stderr timeout 30 mas-bus serve tasks.research --count 1 -- \
		mas-research --corpus examples/corpus
	[ "$status" -eq 0 ]
	wait_task "$id"
	printf '%s' "$output" | jq -e '.data.status == "completed" and
		(.data.result.key_findings | length > 0) and
		(.data.worker | startswith("mas-serve") | not)'
	run --separate-stderr mas-bus sub tasks.done --from-start
	output_jq -s --arg id "$id" 'length == 1 and .[0].correlation_id == $id
		and .[0].id == $id + "-reply" and .[0].type == "response"'
	serve_stop
}

@test "serve tasks: kill -9 among a thousand tasks, restart: each completes exactly once" {
	# Stored first by a server that runs none, so that the kill lands
	# while the next one is running them.
	serve_start "${SERVE_AGENTS[@]}" --task-workers 0
	config="$BATS_TEST_TMPDIR/posts"
	mkdir -p "$BATS_TEST_TMPDIR/answers"
	for i in $(seq 1000); do
		[ "$i" -eq 1 ] || echo next
		printf 'url = "%s/tasks"\nheader = "Content-Type: application/json"\n' "$URL"
		printf 'data = "{\\"type\\":\\"chat\\",\\"id\\":\\"r%d\\",\\"message\\":\\"hello %d\\"}"\n' "$i" "$i"
		printf 'output = "%s/answers/%d"\n' "$BATS_TEST_TMPDIR" "$i"
	done >"$config"
	# A thousand POSTs from one curl, 32 at a time.
	curl -s -Z --parallel-max 32 -K "$config"
	cat "$BATS_TEST_TMPDIR"/answers/* | jq -r 'select(.status == "success") |
		.data.task_id' | sort >"$BATS_TEST_TMPDIR/ids"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/ids")" -eq 1000 ]
	serve_stop
	options=("${SERVE_AGENTS[@]}" --task-workers 2 --task-timeout 1)
	serve_start "${options[@]}"
	for _ in $(seq 400); do
		done_count=$(sqlite3 "$MAS_STATE_DIR/mas.db" "SELECT count(*)
			FROM serve_task WHERE status = 'completed'")
		[ "$done_count" -ge 100 ] && break
		sleep 0.02
	done
	kill -9 "$SERVE_PID"
	wait "$SERVE_PID" || true
	echo "killed with $done_count done"
	[ "$done_count" -lt 900 ]
	serve_start "${options[@]}"
	for _ in $(seq 300); do
		http GET '/tasks?status=completed&limit=1000'
		[ "$(printf '%s' "$output" | jq .data.count)" -eq 1000 ] && break
		sleep 0.1
	done
	printf '%s' "$output" | jq -r '.data.tasks[].task_id' | sort >"$BATS_TEST_TMPDIR/completed"
	cmp "$BATS_TEST_TMPDIR/ids" "$BATS_TEST_TMPDIR/completed"
	# Run a second time: only those the killed workers held (a batch
	# of eight each), never one that had completed.
	again=$(printf '%s' "$output" | jq '[.data.tasks[] | select(.attempts > 1)] | length')
	echo "run twice: $again"
	[ "$again" -le 16 ]
	http GET '/tasks?status=failed'
	printf '%s' "$output" | jq -e '.data.count == 0'
	# A task the killed server finished but had not yet answered on
	# tasks.done is answered when its claim lapses and it is delivered
	# again (from the stored result, not run again): wait for that.
	for _ in $(seq 300); do
		mas-bus sub tasks.done --from-start >"$BATS_TEST_TMPDIR/replies"
		[ "$(wc -l <"$BATS_TEST_TMPDIR/replies")" -ge 1000 ] && break
		sleep 0.1
	done
	serve_stop
	# One reply each on tasks.done, each the output of its own record.
	mas-bus sub tasks.done --from-start >"$BATS_TEST_TMPDIR/replies"
	echo "replies: $(wc -l <"$BATS_TEST_TMPDIR/replies")"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/replies")" -eq 1000 ]
	jq -r .correlation_id "$BATS_TEST_TMPDIR/replies" | sort | cmp - "$BATS_TEST_TMPDIR/ids"
	# ... and every record answered once: r1 to r1000, each a greeting.
	jq -r 'select(.payload.chat.intent == "greeting") | .payload.id' \
		"$BATS_TEST_TMPDIR/replies" | sort -u >"$BATS_TEST_TMPDIR/records"
	seq 1000 | sed 's/^/r/' | sort | cmp - "$BATS_TEST_TMPDIR/records"
}

@test "serve tasks: on NATS with JetStream, stored, run and answered the same way" {
	command -v nats-server >/dev/null || skip "nats-server is not installed"
	nats_start "$BATS_TEST_TMPDIR"
	nats=$NATS_PID
	serve_track "$nats"
	bus=$NATS_URL
	serve_start "${SERVE_AGENTS[@]}" "${TASKS[@]}" --url "$bus"
	http POST /tasks '{"type":"chat","message":"hello","priority":"high"}'
	[ "$status_code" = 201 ]
	id=$(printf '%s' "$output" | jq -r .data.task_id)
	wait_task "$id"
	printf '%s' "$output" | jq -e '.data.status == "completed" and
		.data.result.intent == "greeting"'
	http GET /health
	printf '%s' "$output" | jq -e '.components.bus.backend == "nats" and
		.components.bus.status == "ok"'
	serve_stop
	run --separate-stderr mas-bus sub tasks.done --from-start --url "$bus"
	output_jq -s --arg id "$id" 'length == 1 and .[0].correlation_id == $id'
	kill "$nats"
	wait "$nats" || true
}
