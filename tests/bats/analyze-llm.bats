#!/usr/bin/env bats
# mas-analyze with a model endpoint (the fake server under tests/helpers):
# narrated insights, the figure check, fallback, cache, budget, secrets,
# concurrency and exit statuses.  mas(7) ENGINES, mas-analyze(1) MODEL.

load helpers
load fake_openai_helper

setup() {
	common_setup
	export MAS_DATA_DIR="$DATA" MAS_STATE_DIR="$BATS_TEST_TMPDIR/state"
	export MAS_MODEL=test-model
	task1=$(head -1 examples/tasks.jsonl)
	good='{"json":{"insights":["engagement is rising about 0.70% per day and repeats every 7 days."]}}'
}

teardown() {
	fake_openai_stop
}



@test "without an endpoint the embedded engine answers and says so" {
	run --separate-stderr mas-analyze <<<"$task1"
	[ "$status" -eq 0 ]
	output_jq '.analysis.meta.engine == "embedded" and (.analysis.meta | has("fallback_reason") | not)'
	output_jq '[.analysis.meta.plans[] | select(.goal == "insights") | .plan] == ["templated_insights"]'
}

@test "with an endpoint the model narrates the computed figures" {
	fake_openai_serve "$good"
	run --separate-stderr mas-analyze <<<"$task1"
	[ "$status" -eq 0 ]
	output_jq '.analysis.insights == ["engagement is rising about 0.70% per day and repeats every 7 days."]'
	output_jq '.analysis.meta.engine == "llm" and .analysis.meta.llm.model == "test-model" and .analysis.meta.llm.cached == false'
	output_jq '[.analysis.meta.plans[] | select(.goal == "insights") | .plan] == ["model_narration"]'
	# numbers stay computed
	output_jq '.analysis.current_trends.engagement.rate == 0.696511'
	# what the server was asked
	jq -e '.body.model == "test-model" and .body.response_format.type == "json_schema"' "$FAKE_OPENAI_LOG"
	jq -e '.body.messages[0].content | test("never compute, estimate or invent a number")' "$FAKE_OPENAI_LOG"
	jq -e '.body.messages[1].content | fromjson | .current_trends.engagement.rate == 0.696511' "$FAKE_OPENAI_LOG"
	jq -e '.headers | has("authorization") | not' "$FAKE_OPENAI_LOG"
}

@test "a narration with a figure that was not computed falls back to the templates" {
	fake_openai_serve '{"contains":"xyzzy","json":{"insights":["xyzzy will grow 42.42% next year."]}}' "$good"
	run --separate-stderr mas-analyze < <(jq -nc '{analysis_type:"trend",data:{xyzzy:[1,2,3,5,8,13]}}')
	[ "$status" -eq 0 ]
	output_jq '.analysis.meta.engine == "embedded"'
	output_jq '.analysis.meta.fallback_reason == "UPSTREAM_ERROR: narration: the model wrote 42.42, which is not one of the computed figures"'
	output_jq '.analysis.insights[0] | startswith("xyzzy is increasing")'
}

@test "a narration without insights is not cached, and fails like any model failure" {
	fake_openai_serve '{"json":{"insights":[]}}'
	task=$(jq -nc '{id:"x",analysis_type:"trend",data:{xyzzy:[1,2,3,5,8,13]}}')
	for try in 1 2; do
		run -1 --separate-stderr mas-analyze --fallback error <<<"$task"
		output_jq '.error.code == "UPSTREAM_ERROR" and
			.error.message == "narration: no insights in the reply" and
			.error.transient == false and .error.attempts >= 1'
	done
	# asked again the second time: nothing useless was replayed
	[ "$(grep -c '' "$FAKE_OPENAI_LOG")" -eq 2 ]
}

@test "--fallback error turns a model failure into the record's error" {
	fake_openai_serve '{"contains":"xyzzy","json":{"insights":["xyzzy will grow 42.42% next year."]}}'
	run --separate-stderr mas-analyze --fallback error < <(jq -nc '{id:"x",analysis_type:"trend",data:{xyzzy:[1,2,3,5,8,13]}}')
	# a rejected reply is not a transient failure: exit 1, not 75
	[ "$status" -eq 1 ]
	output_jq '.id == "x" and .error.code == "UPSTREAM_ERROR" and .error.transient == false and (has("analysis") | not)'
}

@test "a rejected narration is not replayed from the cache" {
	fake_openai_serve '{"contains":"xyzzy","json":{"insights":["xyzzy will grow 42.42% next year."]}}'
	task=$(jq -nc '{analysis_type:"trend",data:{xyzzy:[1,2,3,5,8,13]}}')
	run --separate-stderr mas-analyze <<<"$task"
	run --separate-stderr mas-analyze <<<"$task"
	[ "$(fake_openai_requests)" -eq 2 ]
}

@test "a server that cannot be reached: fallback, or exit 75 for cron to retry" {
	export OPENAI_BASE_URL=http://127.0.0.1:9/v1
	run --separate-stderr mas-analyze --timeout 5 <<<"$task1"
	[ "$status" -eq 0 ]
	output_jq '.analysis.meta.engine == "embedded" and (.analysis.meta.fallback_reason | startswith("UPSTREAM_ERROR"))'
	run --separate-stderr mas-analyze --timeout 5 --fallback error <<<"$task1"
	[ "$status" -eq 75 ]
	output_jq '.error.code == "UPSTREAM_ERROR"'
}

@test "401 is not retried and is a permanent failure (exit 1)" {
	fake_openai_serve '{"status":401,"error":{"message":"bad key","type":"invalid_request_error"}}'
	OPENAI_API_KEY=sk-wrong run --separate-stderr mas-analyze --fallback error <<<"$task1"
	[ "$status" -eq 1 ]
	output_jq '.error.code == "UNAUTHORIZED"'
	[ "$(fake_openai_requests)" -eq 1 ]
}

@test "500s are retried, then the answer is used" {
	fake_openai_serve '{"status":500,"times":2}' "$good"
	run --separate-stderr mas-analyze <<<"$task1"
	[ "$status" -eq 0 ]
	output_jq '.analysis.meta.engine == "llm" and .analysis.meta.llm.attempts == 3'
	[ "$(fake_openai_requests)" -eq 3 ]
}

@test "the cache answers a repeated run without a request; --no-cache asks again" {
	fake_openai_serve "$good"
	run --separate-stderr mas-analyze <<<"$task1"
	run --separate-stderr mas-analyze <<<"$task1"
	output_jq '.analysis.meta.engine == "llm" and .analysis.meta.llm.cached == true'
	[ "$(fake_openai_requests)" -eq 1 ]
	run --separate-stderr mas-analyze --no-cache <<<"$task1"
	output_jq '.analysis.meta.llm.cached == false'
	[ "$(fake_openai_requests)" -eq 2 ]
}

@test "--cache-only replays without the network and treats a miss as an error" {
	fake_openai_serve "$good"
	run --separate-stderr mas-analyze <<<"$task1"
	fake_openai_stop
	export OPENAI_BASE_URL=http://127.0.0.1:9/v1
	run --separate-stderr mas-analyze --cache-only <<<"$task1"
	[ "$status" -eq 0 ]
	output_jq '.analysis.meta.llm.cached == true'
	run --separate-stderr mas-analyze --cache-only --fallback error < <(head -2 examples/tasks.jsonl | tail -1)
	[ "$status" -eq 1 ]
	output_jq '.error.code == "NOT_FOUND"'
}

@test "--cache-only without an endpoint is a usage error" {
	run --separate-stderr mas-analyze --cache-only <<<"$task1"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--cache-only: no model endpoint is configured"* ]]
}

@test "--max-tokens-total stops asking the model; later records fall back" {
	fake_openai_serve "$good"
	run --separate-stderr mas-analyze --no-cache --max-tokens-total 10 < <(echo "$task1"; echo "$task1" | jq -c '.id = "again"'; echo "$task1" | jq -c '.id = "third"')
	[ "$status" -eq 0 ]
	# the record whose analysis finished first (they run on threads)
	# spent the budget; the other two fell back
	output_jq -s '[.[] | select(.analysis.meta.engine == "llm")] | length == 1'
	output_jq -s '[.[] | select(.analysis.meta.engine == "embedded" and
		(.analysis.meta.fallback_reason | startswith("FORBIDDEN")))] |
		length == 2'
	[ "$(fake_openai_requests)" -eq 1 ]
	# said once on stderr at the default level, not once a record
	[ "$(grep -c 'token budget of 10 used up' <<<"$stderr")" -eq 1 ]
}

@test "--jobs keeps many requests in flight and the output in input order" {
	# Record 1 (metric "slow") is answered last: its place must wait.
	fake_openai_serve '{"contains":"slow","delay_ms":600,"json":{"insights":["first."]}}' '{"delay_ms":100,"json":{"insights":["later."]}}'
	for i in $(seq 12); do jq -nc --argjson i "$i" '{id:$i,analysis_type:"describe",data:{(if $i == 1 then "slow" else "v" end):[1,2,$i]}}'; done > "$BATS_TEST_TMPDIR/tasks.jsonl"
	run --separate-stderr mas-analyze --jobs 6 "$BATS_TEST_TMPDIR/tasks.jsonl"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -r .id | paste -sd,)" = "1,2,3,4,5,6,7,8,9,10,11,12" ]
	output_jq -s '.[0].analysis.insights == ["first."] and all(.[1:][]; .analysis.insights == ["later."])'
	[ "$(fake_openai_requests)" -eq 12 ]
}

@test "bad input lines keep their place among records waiting on the model" {
	fake_openai_serve '{"delay_ms":300,"json":{"insights":["ok."]}}'
	run --separate-stderr mas-analyze --jobs 4 < <(tiny_task a; echo 'junk'; tiny_task c)
	[ "$status" -eq 1 ]
	[ "$(printf '%s\n' "$output" | jq -r '.id // "?"' | sed -n '1p;3p' | paste -sd,)" = "a,c" ]
	output_jq -s '.[1].error.line == 2'
}

@test "the API key is sent to the server and nowhere else" {
	fake_openai_serve "$good"
	OPENAI_API_KEY=sk-test-7f3a9c MAS_LOG_LEVEL=debug run --separate-stderr mas-analyze --fallback embedded <<<"$task1"
	[ "$status" -eq 0 ]
	[[ "$output" != *sk-test-7f3a9c* ]]
	[[ "$stderr" != *sk-test-7f3a9c* ]]
	jq -e '.headers.authorization == "Bearer sk-test-7f3a9c"' "$FAKE_OPENAI_LOG"
	run sqlite3 "$MAS_STATE_DIR/mas.db" .dump
	[[ "$output" != *sk-test-7f3a9c* ]]
}

@test "a Chinese record gets a Chinese prompt" {
	fake_openai_serve '{"json":{"insights":["engagement 每天增长 0.70%。"]}}'
	run --separate-stderr mas-analyze < <(sed -n 6p examples/tasks.jsonl)
	[ "$status" -eq 0 ]
	output_jq '.analysis.meta.engine == "llm"'
	jq -e '.body.messages[0].content | test("简体中文")' "$FAKE_OPENAI_LOG"
}

@test "series mode narrates each group" {
	fake_openai_serve "$good"
	run --separate-stderr mas-analyze --series --by host --type trend "$DATA/server_metrics.jsonl"
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 2 ]
	[ "$(fake_openai_requests)" -eq 2 ]
}
