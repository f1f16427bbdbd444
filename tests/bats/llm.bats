#!/usr/bin/env bats
# The LLM client (lib/llm.c) through tests/helpers/bin/llm-cli against
# fake-openai on 127.0.0.1: what is sent, what comes back, every fault,
# the cache, the budget, order under concurrency, and the key kept secret.

load helpers
load fake_openai_helper

setup() {
	common_setup
	SCRIPT=$BATS_TEST_TMPDIR/script.jsonl
	: >"$SCRIPT"
	KEY=sk-test-9f8e7d6c5b4a
}

teardown() {
	fake_openai_stop
}

# rules LINE...: the server's script, one rule a line.
rules() {
	printf '%s\n' "$@" >"$SCRIPT"
}

# req TEXT [JQ-OBJECT]: a request with one user message, plus fields.
req() {
	local extra=${2:-'{}'}

	jq -nc --arg text "$1" \
		"{messages: [{role: \"user\", content: \$text}]} + ($extra)"
}

# llm [OPTION...]: llm-cli against the fake server, with fast backoff.
llm() {
	llm-cli --base-url "$FAKE_OPENAI_URL" --model test-model \
		--backoff-base 0.01 --backoff-max 0.05 "$@"
}

# requests_seen: how many chat requests the server received.
requests_seen() {
	grep -c '' "$FAKE_OPENAI_LOG" || true
}

# elapsed COMMAND...: runs it, leaving the seconds taken in $ELAPSED.
elapsed() {
	local start=$EPOCHREALTIME
	"$@"
	ELAPSED=$(echo "$EPOCHREALTIME - $start" | bc)
}

@test "llm: a plain reply, and the request the server saw" {
	fake_openai_start
	export OPENAI_API_KEY=$KEY
	run --separate-stderr llm <<<"$(req 'hello there' '{temperature: 0.2, max_tokens: 50}')"
	[ "$status" -eq 0 ]
	output_jq '.content == "This is a fake reply." and .model == "test-model"
		and .finish_reason == "stop" and .cached == false
		and .attempts == 1 and .latency_ms >= 0
		and .usage.total_tokens == .usage.prompt_tokens + .usage.completion_tokens
		and (.usage | keys) == ["completion_tokens", "prompt_tokens", "total_tokens"]'
	[ "$(requests_seen)" -eq 1 ]
	jq -e --arg key "Bearer $KEY" '.path == "/v1/chat/completions"
		and .method == "POST"
		and .headers.authorization == $key
		and (.headers["content-type"] | startswith("application/json"))
		and .body == {messages: [{role: "user", content: "hello there"}],
		              temperature: 0.2, max_tokens: 50,
		              model: "test-model"}' "$FAKE_OPENAI_LOG"
}

@test "llm: no key, no Authorization header; a trailing slash and a base without /v1 work" {
	fake_openai_start
	run llm-cli --base-url "$FAKE_OPENAI_URL/" --model m <<<"$(req one)"
	[ "$status" -eq 0 ]
	run llm-cli --base-url "http://127.0.0.1:$FAKE_OPENAI_PORT" \
		--model m <<<"$(req two)"
	[ "$status" -eq 0 ]
	run jq -sc 'map(.path)' "$FAKE_OPENAI_LOG"
	[ "$output" = '["/v1/chat/completions","/chat/completions"]' ]
	jq -se 'all(.headers | has("authorization") | not)' "$FAKE_OPENAI_LOG"
}

@test "llm: the model of a request wins over --model; OPENAI_BASE_URL and MAS_MODEL are read" {
	fake_openai_start
	export OPENAI_BASE_URL=$FAKE_OPENAI_URL MAS_MODEL=env-model
	run llm-cli <<<"$(req a)
$(req b '{model: "own-model"}')"
	[ "$status" -eq 0 ]
	run jq -sc 'map(.body.model) | sort' "$FAKE_OPENAI_LOG"
	[ "$output" = '["env-model","own-model"]' ]
}

@test "llm: a reply without usage gives usage null" {
	rules '{"usage": false, "reply": "no usage here"}'
	fake_openai_start --script "$SCRIPT"
	run llm <<<"$(req hi)"
	[ "$status" -eq 0 ]
	output_jq '.usage == null and .content == "no usage here"'
}

@test "llm: a stream cut into 1-byte pieces with SSE comments reassembles exactly" {
	text='Grüße, 你好世界！ streaming works — ok'
	rules "$(jq -nc --arg t "$text" '{stream: true, reply: $t,
		chunk_bytes: 1, sse_comments: true}')"
	fake_openai_start --script "$SCRIPT"
	run --separate-stderr llm --stream <<<"$(req hi)"
	[ "$status" -eq 0 ]
	output_jq --arg t "$text" '.content == $t and .finish_reason == "stop"
		and .usage.completion_tokens > 0'
	[ "$stderr" = "$text" ]
	jq -e '.body.stream == true and .body.stream_options.include_usage' \
		"$FAKE_OPENAI_LOG"
}

@test "llm: a stream in 3-byte pieces with CRLF line ends reassembles exactly" {
	text='行1 行2 ünïcödé 終わり'
	rules "$(jq -nc --arg t "$text" '{stream: true, reply: $t,
		chunk_bytes: 3, sse_crlf: true, sse_comments: true}')"
	fake_openai_start --script "$SCRIPT"
	run --separate-stderr llm --stream <<<"$(req hi)"
	[ "$status" -eq 0 ]
	output_jq --arg t "$text" '.content == $t'
}

@test "llm: a truncated stream is retried, then succeeds" {
	rules '{"stream": true, "reply": "one two three four", "truncate": true, "times": 1}' \
		'{"stream": true, "reply": "one two three four"}'
	fake_openai_start --script "$SCRIPT"
	run --separate-stderr llm --stream <<<"$(req hi)"
	[ "$status" -eq 0 ]
	output_jq '.content == "one two three four" and .attempts == 2'
	[ "$(requests_seen)" -eq 2 ]
}

@test "llm: an error event mid-stream is retried, then succeeds" {
	rules '{"stream": true, "reply": "alpha beta gamma delta", "stream_error": {"message": "overloaded"}, "times": 2}' \
		'{"stream": true, "reply": "alpha beta gamma delta"}'
	fake_openai_start --script "$SCRIPT"
	run --separate-stderr llm --stream <<<"$(req hi)"
	[ "$status" -eq 0 ]
	output_jq '.content == "alpha beta gamma delta" and .attempts == 3'
}

@test "llm: an error event on every attempt fails with the server's words" {
	rules '{"stream": true, "reply": "alpha beta gamma", "stream_error": {"message": "overloaded"}}'
	fake_openai_start --script "$SCRIPT"
	run -75 --separate-stderr llm --stream --max-attempts 2 <<<"$(req hi)"
	output_jq '.error.code == "UPSTREAM_ERROR" and .error.attempts == 2
		and (.error.message | contains("overloaded"))'
}

@test "llm: 429 with Retry-After: 1 waits about a second, then succeeds" {
	rules '{"status": 429, "retry_after": 1, "times": 1}'
	fake_openai_start --script "$SCRIPT"
	elapsed run --separate-stderr llm --backoff-max 60 <<<"$(req hi)"
	[ "$status" -eq 0 ]
	output_jq '.attempts == 2 and .content == "This is a fake reply."'
	# a second, not --backoff-max's minute (the upper bound is loose
	# for a loaded machine and a sanitized build)
	[ "$(echo "$ELAPSED >= 0.95 && $ELAPSED < 30" | bc)" -eq 1 ]
}

@test "llm: Retry-After is capped at --backoff-max" {
	rules '{"status": 503, "retry_after": 3600, "times": 1}'
	fake_openai_start --script "$SCRIPT"
	elapsed run llm --backoff-max 0.2 <<<"$(req hi)"
	[ "$status" -eq 0 ]
	# not the hour asked for
	[ "$(echo "$ELAPSED < 30" | bc)" -eq 1 ]
}

@test "llm: retry-after-ms is honoured too" {
	rules '{"status": 503, "headers": {"retry-after-ms": "400"}, "times": 1}'
	fake_openai_start --script "$SCRIPT"
	elapsed run llm --backoff-max 60 <<<"$(req hi)"
	[ "$status" -eq 0 ]
	output_jq '.attempts == 2'
	[ "$(echo "$ELAPSED >= 0.38 && $ELAPSED < 30" | bc)" -eq 1 ]
}

@test "llm: 429 on every attempt ends RATE_LIMITED, exit 75" {
	rules '{"status": 429}'
	fake_openai_start --script "$SCRIPT"
	run -75 --separate-stderr llm --max-attempts 3 <<<"$(req hi)"
	output_jq '.error.code == "RATE_LIMITED" and .error.status == 429
		and .error.attempts == 3'
	[ "$(requests_seen)" -eq 3 ]
}

@test "llm: 500, 500, then 200 succeeds with attempts 3" {
	rules '{"status": 500, "times": 2}'
	fake_openai_start --script "$SCRIPT"
	run --separate-stderr llm <<<"$(req hi)"
	[ "$status" -eq 0 ]
	output_jq '.attempts == 3 and .content == "This is a fake reply."'
}

@test "llm: 502, 503, 504 and 408 are retried too" {
	rules '{"status": 502, "times": 1}' '{"status": 503, "times": 1}' \
		'{"status": 504, "times": 1}' '{"status": 408, "times": 1}'
	fake_openai_start --script "$SCRIPT"
	run --separate-stderr llm --max-attempts 5 <<<"$(req hi)"
	[ "$status" -eq 0 ]
	output_jq '.attempts == 5'
}

@test "llm: 401 is not retried: UNAUTHORIZED, attempts 1, exit 1" {
	rules '{"status": 401, "error": {"message": "Incorrect API key provided"}}'
	fake_openai_start --script "$SCRIPT"
	run -1 --separate-stderr llm <<<"$(req hi)"
	output_jq '.error.code == "UNAUTHORIZED" and .error.status == 401
		and .error.attempts == 1
		and (.error.message | contains("Incorrect API key"))'
	[ "$(requests_seen)" -eq 1 ]
}

@test "llm: 400, 403 and 404 are not retried and keep their codes" {
	rules '{"contains": "four hundred", "status": 400}' \
		'{"contains": "forbidden", "status": 403}' \
		'{"contains": "missing", "status": 404}'
	fake_openai_start --script "$SCRIPT"
	run -1 --separate-stderr llm <<<"$(req 'four hundred')
$(req forbidden)
$(req missing)"
	run jq -sc 'map(.error.code)' <<<"$output"
	[ "$output" = '["INVALID_REQUEST","FORBIDDEN","NOT_FOUND"]' ]
	[ "$(requests_seen)" -eq 3 ]
}

@test "llm: a hanging server hits --timeout: TIMEOUT, exit 75" {
	rules '{"hang": true}'
	fake_openai_start --script "$SCRIPT"
	elapsed run -75 --separate-stderr llm --timeout 0.3 --max-attempts 2 \
		<<<"$(req hi)"
	output_jq '.error.code == "TIMEOUT" and .error.attempts == 2'
	[ "$(echo "$ELAPSED < 3" | bc)" -eq 1 ]
}

@test "llm: a malformed JSON body is UPSTREAM_ERROR after every attempt" {
	rules '{"body": "{\"choices\": [ oops"}'
	fake_openai_start --script "$SCRIPT"
	run -75 --separate-stderr llm --max-attempts 3 <<<"$(req hi)"
	output_jq '.error.code == "UPSTREAM_ERROR" and .error.attempts == 3
		and (.error.message | contains("malformed"))'
	[ "$(requests_seen)" -eq 3 ]
}

@test "llm: a connection closed without an answer is retried" {
	rules '{"close": true, "times": 1}'
	fake_openai_start --script "$SCRIPT"
	run --separate-stderr llm <<<"$(req hi)"
	[ "$status" -eq 0 ]
	output_jq '.attempts == 2'
}

@test "llm: nobody listening is UPSTREAM_ERROR naming the address" {
	run -75 --separate-stderr llm-cli --base-url http://127.0.0.1:9/v1 \
		--model m --max-attempts 2 --backoff-base 0.01 <<<"$(req hi)"
	output_jq '.error.code == "UPSTREAM_ERROR" and .error.attempts == 2
		and (.error.message | contains("127.0.0.1"))'
}

@test "llm: structured output lacking a field is retried once with the error quoted" {
	rules '{"times": 1, "json": {"intent": "weather"}}' \
		'{"json": {"intent": "weather", "sentiment": "neutral"}}'
	fake_openai_start --script "$SCRIPT"
	run --separate-stderr llm <<<"$(req 'classify me' '{response_format: {type: "object", properties: {intent: {type: "string"}, sentiment: {type: "string"}}}, required: ["intent", "sentiment"]}')"
	[ "$status" -eq 0 ]
	output_jq '.json == {intent: "weather", sentiment: "neutral"}
		and .attempts == 2'
	sed -n 1p "$FAKE_OPENAI_LOG" | jq -e '.body.response_format ==
		{type: "json_schema", json_schema: {name: "reply", strict: true,
		 schema: {type: "object", properties: {intent: {type: "string"},
		          sentiment: {type: "string"}}}}}'
	sed -n 2p "$FAKE_OPENAI_LOG" | jq -e '.body.messages | length == 3
		and .[1] == {role: "assistant", content: "{\"intent\":\"weather\"}"}
		and .[2].role == "user"
		and (.[2].content | contains("reply lacks field sentiment"))'
}

@test "llm: structured output still lacking a field fails after one repair" {
	rules '{"json": {"intent": "weather"}}'
	fake_openai_start --script "$SCRIPT"
	run -75 --separate-stderr llm <<<"$(req hi '{response_format: {type: "object"}, required: ["intent", "sentiment"]}')"
	output_jq '.error.code == "UPSTREAM_ERROR" and .error.attempts == 2
		and .error.message == "reply lacks field sentiment"'
	[ "$(requests_seen)" -eq 2 ]
}

@test "llm: structured output that is not JSON fails with the parser's words" {
	rules '{"reply": "Sure! The intent is weather."}'
	fake_openai_start --script "$SCRIPT"
	run -75 --separate-stderr llm <<<"$(req hi '{response_format: {type: "object"}}')"
	output_jq '.error.message | startswith("reply is not valid JSON: ")'
	sed -n 2p "$FAKE_OPENAI_LOG" |
		jq -e '.body.messages[2].content | contains("not valid JSON")'
}

@test "llm: a JSON reply inside a code fence is accepted" {
	rules '{"reply": "```json\n{\"intent\": \"weather\"}\n```"}'
	fake_openai_start --script "$SCRIPT"
	run --separate-stderr llm <<<"$(req hi '{response_format: {type: "object"}, required: ["intent"]}')"
	[ "$status" -eq 0 ]
	output_jq '.json.intent == "weather" and .attempts == 1'
}

@test "llm: the same request twice: the second comes from the cache" {
	fake_openai_start
	run --separate-stderr llm --stats <<<"$(req 'cache me')"
	[ "$status" -eq 0 ]
	output_jq '.cached == false'
	run --separate-stderr llm --stats <<<"$(req 'cache me')"
	[ "$status" -eq 0 ]
	output_jq '.cached == true and .attempts == 0
		and .content == "This is a fake reply." and .usage.total_tokens > 0'
	[ "$(jq -r .cache_hits <<<"$stderr")" -eq 1 ]
	[ "$(requests_seen)" -eq 1 ]
	[ -f "$XDG_STATE_HOME/mas/mas.db" ]
}

@test "llm: the cache key covers the parameters; --no-cache skips the cache" {
	fake_openai_start
	run llm <<<"$(req a '{temperature: 0}')"
	[ "$status" -eq 0 ]
	run llm <<<"$(req a '{temperature: 1}')"
	output_jq '.cached == false'
	run llm <<<"$(req a '{temperature: 0}')"
	output_jq '.cached == true'
	run llm --no-cache <<<"$(req a '{temperature: 0}')"
	output_jq '.cached == false'
	[ "$(requests_seen)" -eq 3 ]
}

@test "llm: a cached reply to a streamed request still prints its tokens" {
	rules '{"stream": true, "reply": "from the stream"}'
	fake_openai_start --script "$SCRIPT"
	run --separate-stderr llm --stream <<<"$(req s)"
	[ "$status" -eq 0 ]
	run --separate-stderr llm --stream <<<"$(req s)"
	output_jq '.cached == true and .content == "from the stream"'
	[ "$stderr" = "from the stream" ]
	[ "$(requests_seen)" -eq 1 ]
}

@test "llm: --cache-only answers hits and fails misses with NOT_FOUND, no network" {
	fake_openai_start
	run llm <<<"$(req recorded)"
	[ "$status" -eq 0 ]
	fake_openai_stop
	run -1 --separate-stderr llm --cache-only <<<"$(req recorded)
$(req 'never seen')"
	[ "$(line_count)" -eq 2 ]
	sed -n 1p <<<"$output" | jq -e '.cached == true'
	sed -n 2p <<<"$output" | jq -e '.error.code == "NOT_FOUND"
		and .error.message == "not in the cache (--cache-only)"'
}

@test "llm: an entry older than --cache-ttl is fetched again" {
	fake_openai_start
	run llm <<<"$(req ttl)"
	run llm --cache-ttl 60 <<<"$(req ttl)"
	output_jq '.cached == true'
	sleep 0.3
	run llm --cache-ttl 0.2 <<<"$(req ttl)"
	output_jq '.cached == false'
	[ "$(requests_seen)" -eq 2 ]
}

@test "llm: --max-tokens-total stops calling the model once spent" {
	fake_openai_start
	for jobs in 1 10; do
		: >"$FAKE_OPENAI_LOG"
		run -1 --separate-stderr llm --no-cache --jobs "$jobs" \
			--max-tokens-total 10 <<<"$(req one)
$(req two)
$(req three)"
		[ "$(line_count)" -eq 3 ]
		run jq -sc 'map(.error.code // "ok")' <<<"$output"
		[ "$output" = '["ok","ok","FORBIDDEN"]' ]
		# Concurrency does not overshoot: those that might cross the
		# budget wait for the answers in flight.
		[ "$(requests_seen)" -eq 2 ]
	done
}

@test "llm: an ample budget does not hold requests back" {
	fake_openai_start --default-delay-ms 200
	for i in $(seq 1 20); do req "b$i"; done >"$BATS_TEST_TMPDIR/in.jsonl"
	elapsed run llm --jobs 10 --max-tokens-total 1000000 \
		<"$BATS_TEST_TMPDIR/in.jsonl"
	[ "$status" -eq 0 ]
	[ "$(echo "$ELAPSED < 2" | bc)" -eq 1 ]
}

@test "llm: results keep input order with --jobs 10 and random delays" {
	for i in $(seq 1 30); do
		printf '{"contains": "<%02d>", "echo": true, "delay_ms": %d}\n' \
			"$i" $((RANDOM % 150))
		req "<$(printf %02d "$i")>" >>"$BATS_TEST_TMPDIR/in.jsonl"
	done >"$SCRIPT"
	fake_openai_start --script "$SCRIPT"
	run --separate-stderr llm --jobs 10 <"$BATS_TEST_TMPDIR/in.jsonl"
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 30 ]
	run jq -r .content <<<"$output"
	[ "$output" = "$(jq -r '.messages[0].content' "$BATS_TEST_TMPDIR/in.jsonl")" ]
}

@test "llm: requests run in parallel up to --jobs" {
	fake_openai_start --default-delay-ms 1000
	for i in $(seq 1 20); do req "p$i"; done >"$BATS_TEST_TMPDIR/in.jsonl"
	elapsed run llm --jobs 10 <"$BATS_TEST_TMPDIR/in.jsonl"
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 20 ]
	# 2 rounds of a second; 3 at a time would take 7 s, one at a time
	# 20 s.  (A bound of 2 s for 2 rounds of 200 ms failed in a
	# sanitized run at load 13.)
	[ "$(echo "$ELAPSED < 6.5" | bc)" -eq 1 ]
}

@test "llm: a bad line becomes an error record and the rest goes on" {
	fake_openai_start
	run -1 --separate-stderr llm <<<"$(req a)
not json
[1,2]
{\"messages\": []}
$(req b)"
	[ "$(line_count)" -eq 5 ]
	run jq -sc 'map(.error.code // .content)' <<<"$output"
	[ "$output" = '["This is a fake reply.","INVALID_REQUEST","INVALID_REQUEST","INVALID_REQUEST","This is a fake reply."]' ]
}

@test "llm: the key never appears on stdout or stderr, even at debug level" {
	rules "{\"contains\": \"leak\", \"status\": 401, \"error\": {\"message\": \"bad key $KEY\"}}" \
		"{\"status\": 500, \"times\": 1, \"error\": {\"message\": \"oops $KEY\"}}"
	fake_openai_start --script "$SCRIPT"
	export OPENAI_API_KEY=$KEY MAS_LOG_LEVEL=debug
	run --separate-stderr llm <<<"$(req hi)
$(req leak)"
	[ "$(line_count)" -eq 2 ]
	[[ "$stderr" == *"Bearer [redacted]"* ]]
	[[ "$stderr" == *"oops [redacted]"* ]]
	[[ "$output" != *"$KEY"* ]]
	[[ "$stderr" != *"$KEY"* ]]
	[[ "$output" == *"[redacted]"* ]]
	grep -q "Bearer $KEY" "$FAKE_OPENAI_LOG"
}

@test "llm: a reply that echoes the key is scrubbed from the debug log of the request asked again" {
	rules "{\"times\": 1, \"json\": {\"intent\": \"$KEY\"}}" \
		'{"json": {"intent": "weather", "sentiment": "neutral"}}'
	fake_openai_start --script "$SCRIPT"
	export OPENAI_API_KEY=$KEY MAS_LOG_LEVEL=debug
	run --separate-stderr llm <<<"$(req hi '{response_format: {type: "object"}, required: ["intent", "sentiment"]}')"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"asking again"* ]]
	[[ "$stderr" == *"[redacted]"* ]]
	[[ "$stderr" != *"$KEY"* ]]
	[[ "$output" != *"$KEY"* ]]
}

@test "llm: bad options and configuration exit 2" {
	run -2 llm-cli --base-url ftp://example.org --model m </dev/null
	[[ "$output" == *"not an http:// or https:// URL"* ]]
	run -2 llm-cli --base-url http://127.0.0.1:9 --jobs many </dev/null
	[[ "$output" == *"llm.jobs"* ]]
	run -2 llm-cli --base-url http://127.0.0.1:9 --no-cache --cache-only </dev/null
	[[ "$output" == *"--cache-only"* ]]
}

@test "llm: no model configured is an error record, not a request" {
	fake_openai_start
	run -1 llm-cli --base-url "$FAKE_OPENAI_URL" <<<"$(req hi)"
	output_jq '.error.code == "INVALID_REQUEST"
		and (.error.message | contains("MAS_MODEL"))'
	[ "$(requests_seen)" -eq 0 ]
}

@test "llm: --insecure says that TLS verification is off" {
	fake_openai_start
	run --separate-stderr llm --insecure <<<"$(req hi)"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"warning: TLS certificate verification is off"* ]]
}

@test "llm: a silent stream hits --timeout: TIMEOUT" {
	rules '{"stream": true, "hang": true}'
	fake_openai_start --script "$SCRIPT"
	elapsed run -75 --separate-stderr llm --stream --timeout 0.3 \
		--max-attempts 2 <<<"$(req hi)"
	output_jq '.error.code == "TIMEOUT" and .error.attempts == 2
		and (.error.message | contains("sent nothing for 0.3 s"))'
	[ "$(echo "$ELAPSED >= 0.6 && $ELAPSED < 3" | bc)" -eq 1 ]
}

@test "llm: a slow stream that keeps talking is not cut by --timeout" {
	# About 1 KB in 250-byte writes 150 ms apart: longer in all than
	# the timeout, never silent for as long.
	rules '{"stream": true, "reply": "one two three", "chunk_bytes": 250, "chunk_delay_ms": 150}'
	fake_openai_start --script "$SCRIPT"
	elapsed run --separate-stderr llm --stream --timeout 0.3 <<<"$(req hi)"
	[ "$status" -eq 0 ]
	output_jq '.content == "one two three" and .attempts == 1'
	[ "$(echo "$ELAPSED > 0.4" | bc)" -eq 1 ]
}

@test "llm: valgrind finds no leak or error over retries, streams, repairs and the cache" {
	[ "${SANITIZE:-}" != 1 ] || skip "valgrind and ASan do not mix"
	rules '{"contains": "flaky", "status": 500, "times": 1}' \
		'{"contains": "cut", "stream": true, "truncate": true, "times": 1, "reply": "a b c d"}' \
		'{"contains": "shape", "times": 1, "json": {"a": 1}}' \
		'{"contains": "shape", "json": {"a": 1, "b": 2}}' \
		'{"contains": "denied", "status": 401}'
	fake_openai_start --script "$SCRIPT"
	{
		req plain
		req flaky
		req cut '{stream: true}'
		req shape '{response_format: {type: "object"}, required: ["a", "b"]}'
		req denied
		echo 'not json'
	} >"$BATS_TEST_TMPDIR/in.jsonl"
	for pass in 1 2; do
		run -1 --separate-stderr valgrind -q --leak-check=full \
			--errors-for-leak-kinds=definite,indirect,possible \
			--error-exitcode=9 llm-cli --base-url "$FAKE_OPENAI_URL" \
			--model m --backoff-base 0.01 --stream \
			<"$BATS_TEST_TMPDIR/in.jsonl"
		[ "$(line_count)" -eq 6 ]
	done
	sed -n 1p <<<"$output" | jq -e '.cached'
}

@test "llm: a reply without finish_reason is no crash, and is cached" {
	rules '{"body": "{\"choices\":[{\"message\":{\"content\":\"ok\"}}]}"}'
	fake_openai_start --script "$SCRIPT"
	run --separate-stderr llm <<<"$(req 'hello')"
	[ "$status" -eq 0 ]
	output_jq '.content == "ok" and .finish_reason == null
		and .model == "test-model" and .usage == null'
	# the cache stores the answer as text and reads it back
	run --separate-stderr llm <<<"$(req 'hello')"
	[ "$status" -eq 0 ]
	output_jq '.cached == true and .finish_reason == null'
}
