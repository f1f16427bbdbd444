#!/usr/bin/env bats
# mas-serve(1): the original REST API through the real daemon on a
# loopback port: the README's curl calls, every endpoint's shape, every
# error status, time limits, streams, flows, health, metrics, traces,
# the access log, and the OpenAPI document checked against real answers.

load serve_helper
load fake_openai_helper

setup() {
	serve_setup
}

teardown() {
	serve_teardown
	fake_openai_stop
}

# Two flows of our own: one that tags the state, one that sleeps as
# long as the record says.
write_flows() {
	FLOWS="$BATS_TEST_TMPDIR/flows"
	mkdir -p "$FLOWS"
	cat >"$FLOWS/echo.flow" <<-'EOF'
	node tag jq '.tagged = true'
	start -> tag
	tag -> end
	EOF
	cat >"$FLOWS/slow.flow" <<-'EOF'
	node wait run sh -c 'while read -r l; do sleep "$(printf %s "$l" | jq -r ".sleep // 0")"; printf "%s\n" "$l"; done'
	start -> wait
	wait -> end
	EOF
}

@test "serve: the README's curl calls, verbatim, answer in the documented shapes" {
	key=$(mas-serve keys add readme --routes '*' --keys "$BATS_TEST_TMPDIR/keys")
	serve_start --keys "$BATS_TEST_TMPDIR/keys" "${SERVE_AGENTS[@]}" "${TASKS[@]}"
	task_id=
	calls=0
	while IFS= read -r call; do
		case $call in ''|'#'*) continue ;; esac
		calls=$((calls + 1))
		call=${call//localhost:8000/$SERVE}
		call=${call//your-api-key/$key}
		call=${call//\{task_id\}/$task_id}
		run sh -c "$call -s -w '\n%{http_code}'"
		[ "$status" -eq 0 ]
		code=${output##*$'\n'}
		body=${output%$'\n'*}
		case $call in
		*'POST "http://'*/tasks\"*)
			[ "$code" = 201 ]
			task_id=$(printf '%s' "$body" | jq -er '.data.task_id')
			printf '%s' "$body" | jq -e '.status == "success" and
				.data.status == "queued" and .data.type == "research"
				and .data.priority == "high" and
				(.data.created_at | test("^20")) and
				(.data.estimated_completion | type == "string")' ;;
		*/tasks/*)
			[ "$code" = 200 ]
			URL="http://$SERVE" wait_task "$task_id" -H "Authorization: Bearer $key"
			printf '%s' "$output" | jq -e '.data.status == "completed"
				and .data.task_id != null and .data.progress == 1 and
				(.data.result.key_findings | length > 0) and
				(.data.result.summary | length > 0) and
				(.data.result.sources | length > 0) and
				.data.completed_at != null' ;;
		*/analysis*)
			[ "$code" = 200 ]
			printf '%s' "$body" | jq -e '.status == "success" and
				(.data.current_trends.engagement != null) and
				(.data.predictions | length > 0) and
				(.data.insights | length > 0) and
				(.timestamp | test("^20"))' ;;
		*/chat*)
			[ "$code" = 200 ]
			printf '%s' "$body" | jq -e '.status == "success" and
				.data.intent == "pricing" and
				(.data.response | length > 0) and
				(.data.sentiment.label | type == "string") and
				(.data.confidence > 0.5) and
				(.data.suggested_actions | length > 0) and
				.data.session_id == "session_abc789"' ;;
		*/metrics*)
			[ "$code" = 200 ]
			grep -q '^mas_http_requests_total{program="mas-serve",route="/chat",method="POST",status="200",key="readme"} 1$' <<<"$body" ;;
		*/health*)
			[ "$code" = 200 ]
			printf '%s' "$body" | jq -e '.status == "healthy" and
				.components.store.status == "ok" and
				.components.bus.status == "ok" and
				.components.model.status == "ok" and
				.components.workers.status == "ok" and
				(.uptime_s >= 0) and .version != null' ;;
		*) echo "unexpected call: $call"; return 1 ;;
		esac
	done <tests/fixtures/serve/readme-curl.sh
	[ "$calls" -eq 6 ]
	serve_stop
}

@test "serve: the agents answer exactly what their programs write" {
	serve_start "${SERVE_AGENTS[@]}" --no-sessions
	record='{"id":"r1","query":"flow batteries","context":{"depth":"brief"}}'
	http POST /research "$record"
	[ "$status_code" = 200 ]
	[ "$(header X-Request-Id)" = r1 ]
	served=$(printf '%s' "$output" | jq -S 'del(.data.created_at,
		.data.completed_at) | .data')
	direct=$(mas-research --corpus examples/corpus <<<"$record" |
		jq -S '.research | del(.created_at, .completed_at)')
	[ "$served" = "$direct" ]
	record='{"message":"how much is the pro plan?"}'
	http POST /chat "$record"
	served=$(printf '%s' "$output" | jq -S '.data | del(.timestamp)')
	direct=$(mas-chat --no-sessions --kb examples/kb.jsonl <<<"$record" |
		jq -S '.chat | del(.timestamp)')
	[ "$served" = "$direct" ]
	serve_stop
}

@test "serve: chat remembers a session across requests" {
	serve_start "${SERVE_AGENTS[@]}"
	http POST /chat '{"message":"我想了解你们的企业版定价方案","session_id":"s1"}'
	printf '%s' "$output" | jq -e '.data.intent == "pricing"'
	http POST /chat '{"message":"那专业版呢？","session_id":"s1"}'
	printf '%s' "$output" | jq -e '.data.intent == "pricing" and
		.data.meta.turn == 2'
	serve_stop
	run --separate-stderr mas-chat sessions show s1
	output_jq '.turns | length == 2'
}

@test "serve: chat turns sent at once (committed together) are each stored once and numbered in order" {
	serve_start "${SERVE_AGENTS[@]}"
	seq 48 | xargs -P 16 -I{} curl -s -m 20 -H 'Content-Type: application/json' \
		-d '{"message":"我想了解你们的企业版定价方案 {}","session_id":"many"}' \
		"$URL/chat" >"$BATS_TEST_TMPDIR/answers"
	# every answer says its turn, and the turns are 1 to 48 once each
	jq -e -s 'length == 48 and (map(.status) | unique == ["success"]) and
		(map(.data.meta.turn) | sort == [range(1; 49)])' \
		"$BATS_TEST_TMPDIR/answers"
	serve_stop
	run --separate-stderr mas-chat sessions show many
	output_jq '.turns == 48 and (.history | length == 48) and
		(.history | map(.message | split(" ")[1] | tonumber) | sort ==
		 [range(1; 49)])'
}

@test "serve: a state store another process keeps locked: a chat turn with a session is answered 503 after one busy timeout; one without, 200" {
	MAS_STATE_BUSY_TIMEOUT=2 serve_start "${SERVE_AGENTS[@]}"
	http POST /chat '{"message":"hi","session_id":"s1"}'
	[ "$status_code" = 200 ]
	mkfifo "$BATS_TEST_TMPDIR/lock"
	sqlite3 "$MAS_STATE_DIR/mas.db" <"$BATS_TEST_TMPDIR/lock" >/dev/null 2>&1 3>&- &
	serve_track $!
	exec 4>"$BATS_TEST_TMPDIR/lock"
	echo "BEGIN EXCLUSIVE; INSERT INTO mas_meta VALUES ('lock', 'held');" >&4
	sleep 0.3
	began=$EPOCHREALTIME
	http POST /chat '{"message":"hi","session_id":"s1"}'
	took=$(awk -v a="$began" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
	exec 4>&-
	[ "$status_code" = 503 ]
	printf '%s' "$output" | jq -e '.status == "error" and
		(.error.message | test("state store: .*held its lock.*try again later"))'
	# one busy timeout (2 s), not one for the batch and one for the turn
	awk -v t="$took" 'BEGIN { exit !(t < 3.5) }' || { echo "took $took s"; false; }
	http POST /chat '{"message":"hi"}'
	[ "$status_code" = 200 ]
	serve_stop
}

@test "serve: every error status comes from a real request, never 500" {
	write_flows
	serve_start "${SERVE_AGENTS[@]}" --flows-dir "$FLOWS" --workers 1 \
		--queue 1 --request-timeout 8 --max-body 1048576
	check() {
		[ "$status_code" = "$1" ] ||
			{ echo "wanted $1, got $status_code: $output"; return 1; }
		printf '%s' "$output" | jq -e --arg code "$2" --arg field "$3" \
			'.status == "error" and .error.code == $code and
			 ($field == "" or .error.details.field == $field) and
			 (.error.message | length > 0) and (.timestamp | test("^20"))'
	}
	http POST /chat '{"message":'
	check 400 INVALID_REQUEST body
	http POST /chat $'{"message":"caf\xe9"}'
	check 400 INVALID_REQUEST body
	[[ "$output" == *"UTF-8 at byte 16"* ]]
	http POST /chat '[1,2]'
	check 400 INVALID_REQUEST body
	http POST /chat '{}'
	check 400 INVALID_REQUEST message
	http POST /analysis '{"data_source":"user_behavior","analysis_type":"sideways"}'
	check 400 INVALID_REQUEST analysis_type
	http POST /tasks '{"type":"chat","priority":"urgent"}'
	check 400 INVALID_REQUEST priority
	http GET '/tasks?limit=many'
	check 400 INVALID_REQUEST limit
	http GET /nowhere
	check 404 NOT_FOUND path
	http GET /tasks/01NOSUCHTASK
	check 404 NOT_FOUND task_id
	http POST /flows/nosuchflow '{}'
	check 404 NOT_FOUND name
	http DELETE /chat
	check 405 INVALID_REQUEST method
	[ "$(header Allow)" = POST ]
	head -c 10485760 /dev/zero | tr '\0' x >"$BATS_TEST_TMPDIR/big"
	status_code=$(curl -s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' \
		-H 'Content-Type: application/json' \
		--data-binary @"$BATS_TEST_TMPDIR/big" "$URL/chat")
	output=$(cat "$BATS_TEST_TMPDIR/body")
	check 413 INVALID_REQUEST body
	http POST /chat '' -d 'message=hi'
	check 415 INVALID_REQUEST Content-Type
	# One worker, a queue of one: one runs, one waits, the next is 503.
	# (The first holds the worker 6 s, within --request-timeout, so
	# that a loaded machine still finds it busy.)
	workers_are() { # BUSY QUEUED: wait until /health says so
		for _ in $(seq 100); do
			http GET /health
			printf '%s' "$output" | jq -e --argjson b "$1" \
				--argjson q "$2" '.components.workers.busy == $b
				and .components.workers.queued == $q' >/dev/null &&
				return 0
			sleep 0.05
		done
		echo "workers never $1 busy, $2 queued: $output"
		return 1
	}
	curl -s -o /dev/null -H 'Content-Type: application/json' \
		-d '{"sleep":6}' "$URL/flows/slow" &
	first=$!
	workers_are 1 0
	curl -s -o /dev/null -H 'Content-Type: application/json' \
		-d '{"sleep":0.1}' "$URL/flows/slow" &
	second=$!
	workers_are 1 1
	http POST /flows/slow '{"sleep":0.1}'
	check 503 UPSTREAM_ERROR ''
	[ "$(header Retry-After)" = 1 ]
	wait "$first" "$second"
	# An agent slower than --request-timeout: 504.
	http POST /flows/slow '{"sleep":9}'
	check 504 TIMEOUT ''
	# Still well, and nothing was a 500.
	http POST /flows/echo '{"n":1}'
	[ "$status_code" = 200 ]
	printf '%s' "$output" | jq -e '.data.tagged and .data.n == 1'
	serve_stop
	! grep -q '" 500 ' "$SERVE_LOG"
}

@test "serve: a client sending its request a byte a second is dropped" {
	serve_start "${SERVE_AGENTS[@]}" --header-timeout 1
	# (bats keeps descriptor 3 for itself)
	exec 7<>"/dev/tcp/127.0.0.1/${SERVE#*:}"
	(for _ in 1 2 3 4 5 6 7 8; do printf 'G' >&7 || exit 0; sleep 1; done) \
		2>/dev/null &
	writer=$!
	serve_track "$writer"
	start=$(date +%s%N)
	read -r -t 8 -u 7 line || true
	elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
	exec 7<&-
	kill "$writer" 2>/dev/null || true
	wait "$writer" 2>/dev/null || true
	echo "dropped after $elapsed_ms ms"
	[ "$elapsed_ms" -lt 5000 ]
	grep -q 'did not arrive in time' "$SERVE_LOG"
	http GET /health
	[ "$status_code" = 200 ]
	serve_stop
}

@test "serve: chat with Accept: text/event-stream answers in one event" {
	serve_start "${SERVE_AGENTS[@]}"
	run curl -sN -H 'Content-Type: application/json' \
		-H 'Accept: text/event-stream' \
		-d '{"message":"how much is the pro plan?"}' "$URL/chat"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^event: ' <<<"$output")" -eq 1 ]
	grep -q '^event: result$' <<<"$output"
	sed -n 's/^data: //p' <<<"$output" |
		jq -e '.status == "success" and .data.intent == "pricing"'
	serve_stop
}

@test "serve: with a model, chat streams its reply as delta events, then the result" {
	fake_openai_serve '{"json":{"response":"Pro costs $15 per user per month.","intent":"pricing","sentiment":"neutral","sentiment_score":0.1,"confidence":0.93}}'
	serve_start "${SERVE_AGENTS[@]}" --no-cache --model fake
	run curl -sN -H 'Content-Type: application/json' \
		-H 'Accept: text/event-stream' \
		-d '{"message":"how much is pro?"}' "$URL/chat"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^event: delta$' <<<"$output")" -ge 1 ]
	[ "$(grep -c '^event: result$' <<<"$output")" -eq 1 ]
	# The result comes last, after every piece.
	[ "$(grep '^event: ' <<<"$output" | tail -1)" = "event: result" ]
	sed -n '/^event: result$/,$p' <<<"$output" | sed -n 's/^data: //p' |
		jq -e '.data.meta.engine == "llm" and
		       .data.response == "Pro costs $15 per user per month."'
	jq -e '.body.stream == true' "$FAKE_OPENAI_LOG"
	http POST /chat '{"message":"how much is pro?"}'
	printf '%s' "$output" | jq -e '.data.meta.engine == "llm"'
	http GET /health
	printf '%s' "$output" | jq -e '.components.model.engine == "llm"'
	http GET /metrics
	grep -q '^mas_llm_requests_total{program="mas-serve",outcome="ok"} 2$' \
		"$BATS_TEST_TMPDIR/body"
	serve_stop
}

@test "serve: flows are listed with Mermaid graphs and run, at once or as tasks" {
	write_flows
	cp examples/flows/triage.flow "$FLOWS/"
	serve_start "${SERVE_AGENTS[@]}" "${TASKS[@]}" --flows-dir "$FLOWS"
	http GET /flows
	[ "$status_code" = 200 ]
	printf '%s' "$output" | jq -e '[.data.flows[].name] ==
		["echo", "slow", "triage"] and
		(.data.flows[0].graph | startswith("flowchart")) and
		all(.data.flows[]; .valid)'
	expected=$(mas-flow graph --format mermaid "$FLOWS/echo.flow")
	[ "$(printf '%s' "$output" | jq -r '.data.flows[0].graph')" = "$expected" ]
	http POST /flows/echo '{"id":"e1","n":2}'
	printf '%s' "$output" | jq -e '.data == {"id":"e1","n":2,"tagged":true,
		"meta":.data.meta} and .data.meta.flow[0].node == "tag"'
	http POST /flows/echo '{"n":3,"async":true}'
	[ "$status_code" = 201 ]
	id=$(printf '%s' "$output" | jq -r .data.task_id)
	printf '%s' "$output" | jq -e '.data.type == "flow" and .data.flow == "echo"'
	wait_task "$id"
	printf '%s' "$output" | jq -e '.data.status == "completed" and
		.data.result.tagged and .data.result.n == 3 and
		(.data.result | has("async") | not)'
	serve_stop
}

@test "serve: health is degraded, 503, when a component is down" {
	serve_start --corpus examples/corpus --data-dir examples/data
	http GET /health
	[ "$status_code" = 503 ]
	printf '%s' "$output" | jq -e '.status == "degraded" and
		.components.agents.chat.status == "down" and
		(.components.agents.chat.error | test("knowledge base")) and
		.components.agents.research.status == "ok"'
	http POST /chat '{"message":"hi"}'
	[ "$status_code" = 503 ]
	printf '%s' "$output" | jq -e '.error.code == "UPSTREAM_ERROR"'
	serve_stop
}

@test "serve: workers default to the CPUs it may run on, as nproc counts them" {
	real=$(command -v mas-serve)
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	printf '#!/bin/sh\nexec taskset -c 0 %s "$@"\n' "$real" \
		>"$BATS_TEST_TMPDIR/bin/mas-serve"
	chmod +x "$BATS_TEST_TMPDIR/bin/mas-serve"
	agents=(--kb examples/kb.jsonl --corpus examples/corpus
		--data-dir examples/data --task-workers 0)
	PATH="$BATS_TEST_TMPDIR/bin:$PATH" serve_start "${agents[@]}"
	http GET /health
	printf '%s' "$output" | jq -e '.components.workers.configured == 1'
	serve_stop
	serve_start "${agents[@]}"
	http GET /health
	printf '%s' "$output" | jq -e --argjson n "$(nproc)" \
		'.components.workers.configured == $n'
	serve_stop
}

@test "serve: /metrics is Prometheus text promtool accepts, or the original's JSON" {
	serve_start "${SERVE_AGENTS[@]}"
	http POST /chat '{"message":"hi"}'
	http POST /chat '{}'
	http GET /metrics
	[ "$status_code" = 200 ]
	[[ "$(header Content-Type)" == text/plain* ]]
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/metrics"
	for family in mas_http_requests_total mas_http_request_duration_seconds \
		mas_records_total mas_step_duration_seconds mas_tasks \
		mas_task_queue_depth mas_serve_queue_depth; do
		grep -q "^# TYPE $family " "$BATS_TEST_TMPDIR/metrics" ||
			{ echo "no $family"; return 1; }
	done
	grep -q '^mas_records_total{program="mas-serve",agent="chat",outcome="error"} 1$' "$BATS_TEST_TMPDIR/metrics"
	if command -v promtool >/dev/null; then
		run promtool check metrics <"$BATS_TEST_TMPDIR/metrics"
		[ "$status" -eq 0 ]
	fi
	http GET /metrics '' -H 'Accept: application/json'
	printf '%s' "$output" | jq -e '.status == "success" and
		.data.system_health.status == "healthy" and
		.data.performance.requests_total >= 3 and
		.data.agents.chat.requests == 2 and .data.agents.chat.errors == 1
		and .data.tasks.success_rate == 1'
	serve_stop
}

@test "serve: the OpenAPI document matches real answers, and /docs renders it" {
	write_flows
	key=$(mas-serve keys add doc --routes tasks,chat,analysis,research,flows --keys "$BATS_TEST_TMPDIR/keys")
	metrics_key=$(mas-serve keys add scraper --routes metrics --rate 1/m \
		--burst 1 --keys "$BATS_TEST_TMPDIR/keys")
	serve_start "${SERVE_AGENTS[@]}" "${TASKS[@]}" \
		--keys "$BATS_TEST_TMPDIR/keys" --flows-dir "$FLOWS" \
		--request-timeout 1
	answers="$BATS_TEST_TMPDIR/answers.jsonl"
	: >"$answers"
	# keep TEMPLATE METHOD: add the last answer to the list checked
	keep() {
		jq -c -n --arg path "$1" --arg method "$2" \
			--argjson status "$status_code" \
			--slurpfile body "$BATS_TEST_TMPDIR/body" \
			'{path: $path, method: $method, status: $status,
			  body: $body[0]}' >>"$answers"
	}
	auth=(-H "Authorization: Bearer $key")
	http POST /tasks '{"type":"chat","message":"hi","priority":"low"}' "${auth[@]}"; keep /tasks post
	id=$(jq -r .data.task_id "$BATS_TEST_TMPDIR/body")
	http POST /tasks '{"type":"nope"}' "${auth[@]}"; keep /tasks post
	http POST /tasks '{"type":"chat"}' -H "Authorization: Bearer wrong"; keep /tasks post
	http GET /tasks '' "${auth[@]}"; keep /tasks get
	http GET '/tasks?status=done' '' "${auth[@]}"; keep /tasks get
	wait_task "$id" "${auth[@]}"; keep '/tasks/{id}' get
	http GET /tasks/nope '' "${auth[@]}"; keep '/tasks/{id}' get
	http POST /analysis '{"data_source":"user_behavior","analysis_type":"trend_prediction"}' "${auth[@]}"; keep /analysis post
	http POST /analysis '{"data_source":"nothing"}' "${auth[@]}"; keep /analysis post
	http POST /chat '{"message":"hi","session_id":"x"}' "${auth[@]}"; keep /chat post
	http POST /chat '{"message":"hi"}'; keep /chat post
	http POST /research '{"query":"solar power"}' "${auth[@]}"; keep /research post
	http POST /research '{"query":"x"}' -H "Authorization: Bearer $metrics_key"; keep /research post
	http GET /flows '' "${auth[@]}"; keep /flows get
	http POST /flows/echo '{"a":1}' "${auth[@]}"; keep '/flows/{name}' post
	http POST /flows/echo '{"a":1,"async":true}' "${auth[@]}"; keep '/flows/{name}' post
	http POST /flows/slow '{"sleep":2}' "${auth[@]}"; keep '/flows/{name}' post
	http POST /flows/none '{}' "${auth[@]}"; keep '/flows/{name}' post
	http POST /flows/echo '{' "${auth[@]}"; keep '/flows/{name}' post
	http GET /health; keep /health get
	http GET /metrics '' -H 'Accept: application/json' -H "X-API-Key: $metrics_key"; keep /metrics get
	http GET /metrics '' -H 'Accept: application/json' -H "X-API-Key: $metrics_key"; keep /metrics get
	[ "$status_code" = 429 ]
	http GET /openapi.json; keep /openapi.json get
	run jq -r --slurpfile doc "$BATS_TEST_TMPDIR/body" \
		-f tests/helpers/openapi-check.jq "$answers"
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "$output"; return 1; }
	# Every operation of the document was tried.
	documented=$(jq -r '.paths | to_entries[] | .key as $p |
		.value | keys[] | "\($p) \(.)"' "$BATS_TEST_TMPDIR/body" | sort)
	tried=$(jq -r '"\(.path) \(.method)"' "$answers" | sort -u)
	missing=$(comm -23 <(printf '%s\n' "$documented") <(printf '%s\n' "$tried") |
		grep -v '^/docs get$' || true)
	[ -z "$missing" ] || { echo "not tried: $missing"; return 1; }
	jq -e --arg v "$(mas-serve --version | sed 's/^mas-serve //')" \
		'.openapi == "3.1.0" and .info.version == $v' "$BATS_TEST_TMPDIR/body"
	[ "$(mas-serve openapi | jq -c .)" = "$(jq -c . "$BATS_TEST_TMPDIR/body")" ]
	http GET /docs
	[ "$status_code" = 200 ]
	[[ "$(header Content-Type)" == text/html* ]]
	for path in /tasks /analysis /chat /research /flows /health /metrics; do
		grep -q "<code>POST $path\|<code>GET $path" "$BATS_TEST_TMPDIR/body" ||
			{ echo "/docs lacks $path"; return 1; }
	done
	! grep -Eq 'src="http|href="http' "$BATS_TEST_TMPDIR/body"
	serve_stop
}

@test "serve: a traceparent header makes the request the root of the agents' spans" {
	export MAS_TRACE="$BATS_TEST_TMPDIR/trace.jsonl"
	serve_start "${SERVE_AGENTS[@]}"
	parent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
	http POST /chat '{"message":"hi"}' -H "traceparent: $parent"
	[ "$status_code" = 200 ]
	serve_stop
	run jq -s -e '
		(map(select(.name == "HTTP POST /chat")) | length == 1) and
		(map(select(.name == "HTTP POST /chat"))[0] as $http |
		 $http.trace_id == "0af7651916cd43dd8448eb211c80319c" and
		 $http.parent_id == "b7ad6b7169203331" and
		 (map(select(.name == "agent.chat"))[0].parent_id == $http.span_id) and
		 (map(select(.name | startswith("step:")))[0].trace_id ==
		  $http.trace_id))' "$MAS_TRACE"
	[ "$status" -eq 0 ]
}

@test "serve: an access log line per request, common log format or JSON lines" {
	serve_start "${SERVE_AGENTS[@]}"
	http GET /health
	http POST /chat '{}'
	serve_stop
	grep -Eq '^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9:]{8} \+0000\] "GET /health HTTP/1\.1" 200 [0-9]+$' "$SERVE_LOG"
	grep -Eq '"POST /chat HTTP/1\.1" 400 [0-9]+$' "$SERVE_LOG"
	MAS_LOG_FORMAT=json serve_start "${SERVE_AGENTS[@]}"
	http POST /chat '{"message":"hi"}'
	serve_stop
	grep '"path":"/chat"' "$SERVE_LOG" | jq -e '.method == "POST" and
		.status == 200 and .key == null and .remote == "127.0.0.1" and
		(.duration_ms >= 0) and .bytes > 0'
}

@test "serve: SIGTERM finishes the request in flight and exits 0" {
	write_flows
	serve_start "${SERVE_AGENTS[@]}" --flows-dir "$FLOWS"
	curl -s -o "$BATS_TEST_TMPDIR/late" -w '%{http_code}' \
		-H 'Content-Type: application/json' -d '{"sleep":1}' \
		"$URL/flows/slow" >"$BATS_TEST_TMPDIR/late.code" &
	client=$!
	sleep 0.4
	kill -TERM "$SERVE_PID"
	code=0
	wait "$SERVE_PID" || code=$?
	[ "$code" -eq 0 ]
	wait "$client"
	[ "$(cat "$BATS_TEST_TMPDIR/late.code")" = 200 ]
	jq -e '.data.sleep == 1' "$BATS_TEST_TMPDIR/late"
	# And it no longer listens.
	! curl -s -o /dev/null "$URL/health"
}

@test "serve: without a key file it refuses to listen beyond loopback" {
	run --separate-stderr mas-serve --listen 0.0.0.0:0 "${SERVE_AGENTS[@]}"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"only on a loopback address"* ]]
	run --separate-stderr mas-serve --listen nowhere "${SERVE_AGENTS[@]}"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--listen"* ]]
	run --separate-stderr mas-serve --request-timeout soon
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--request-timeout"* ]]
}

@test "serve: the manual's nginx snippet puts TLS in front of it" {
	command -v nginx >/dev/null || skip "nginx is not installed"
	command -v openssl >/dev/null || skip "openssl is not installed"
	serve_start "${SERVE_AGENTS[@]}"
	dir="$BATS_TEST_TMPDIR/nginx"
	mkdir -p "$dir/logs" "$dir/tmp"
	chmod 777 "$dir/tmp"
	openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost \
		-days 1 -keyout "$dir/api.key" -out "$dir/api.pem" 2>/dev/null
	# The server block as the page has it, on a free port and our files.
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		{
			echo "pid $dir/nginx.pid; error_log $dir/error.log;"
			echo "events {}"
			echo "http { access_log off;"
			for temp in client_body proxy fastcgi uwsgi scgi; do
				echo "${temp}_temp_path $dir/tmp/$temp;"
			done
			sed -n '/^server {$/,/^}$/p' man/mas-serve.1 |
				sed -e "s|listen 443 ssl;|listen 127.0.0.1:$port ssl;|" \
				    -e "s|/etc/ssl/certs/api.pem|$dir/api.pem|" \
				    -e "s|/etc/ssl/private/api.key|$dir/api.key|" \
				    -e "s|127.0.0.1:8000|$SERVE|"
			echo "}"
		} >"$dir/nginx.conf"
		nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' \
			2>"$dir/stderr" &
		proxy=$!
		serve_track "$proxy"
		for _ in $(seq 50); do
			curl -sk -o /dev/null "https://127.0.0.1:$port/health" && break 2
			kill -0 "$proxy" 2>/dev/null || break
			sleep 0.1
		done
		kill "$proxy" 2>/dev/null || true
		wait "$proxy" 2>/dev/null || true
		proxy=
	done
	[ -n "$proxy" ] || { cat "$dir/stderr" "$dir/error.log"; return 1; }
	run curl -sk "https://127.0.0.1:$port/health"
	output_jq '.status == "healthy"'
	run curl -sk -H 'Content-Type: application/json' \
		-d '{"message":"how much is the pro plan?"}' "https://127.0.0.1:$port/chat"
	output_jq '.data.intent == "pricing"'
	run curl -skN -H 'Content-Type: application/json' \
		-H 'Accept: text/event-stream' -d '{"message":"hi"}' \
		"https://127.0.0.1:$port/chat"
	grep -q '^event: result$' <<<"$output"
	kill "$proxy"
	wait "$proxy" || true
	serve_stop
}
