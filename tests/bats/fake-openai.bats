#!/usr/bin/env bats
# fake-openai: the fake chat-completions server the LLM client is tested
# against.  Each test writes a script, starts a server, drives it with curl
# and checks both the answer and the request log.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load fake_openai_helper

bats_require_minimum_version 1.5.0

setup() {
	SCRIPT=$BATS_TEST_TMPDIR/script.jsonl
	: >"$SCRIPT"
}

teardown() {
	fake_openai_stop
}

# rules LINE...: the script, one rule a line.
rules() {
	printf '%s\n' "$@" >"$SCRIPT"
}

# body TEXT [JSON-FIELDS]: a chat request with one user message.
body() {
	printf '{"model":"test-model","messages":[{"role":"system",'
	printf '"content":"be brief"},{"role":"user","content":"%s"}]%s}' \
		"$1" "${2:+,$2}"
}

# chat TEXT [JSON-FIELDS] [CURL-OPTION...]: POST it, print the answer.
chat() {
	local text=$1 fields=${2:-}

	shift $(($# < 2 ? $# : 2))
	curl -sS -H 'Authorization: Bearer sk-test-key' \
		-H 'Content-Type: application/json' \
		-d "$(body "$text" "$fields")" "$@" \
		"$FAKE_OPENAI_URL/chat/completions"
}

# sockets PID: how many sockets the process has open.
sockets() {
	find /proc/"$1"/fd -lname 'socket:*' | wc -l
}

# content: the assistant content of the completion on stdin.
content() {
	jq -r '.choices[0].message.content'
}

# deltas: the content the SSE stream on stdin carries, reassembled.
deltas() {
	sed -n 's/^data: {/{/p' | jq -j '.choices[0].delta.content // empty'
}

@test "fake-openai: default reply is a chat.completion echoing the model" {
	fake_openai_start
	run chat 'hello'
	assert_success
	run jq -c '[.object, .model, .choices[0].message.role,
		.choices[0].message.content, .choices[0].finish_reason,
		(.usage.prompt_tokens > 0),
		(.usage.total_tokens ==
			.usage.prompt_tokens + .usage.completion_tokens),
		(.id | type), (.created > 0)]' <<<"$output"
	assert_output '["chat.completion","test-model","assistant","This is a fake reply.","stop",true,true,"string",true]'
}

@test "fake-openai: reply and finish_reason, also without /v1" {
	rules '{"reply":"Bonjour, le monde","finish_reason":"length"}'
	fake_openai_start --script "$SCRIPT"
	run curl -sS -d "$(body hi)" \
		"http://127.0.0.1:$FAKE_OPENAI_PORT/chat/completions"
	assert_success
	run jq -r '.choices[0] | .message.content + "|" + .finish_reason' \
		<<<"$output"
	assert_output 'Bonjour, le monde|length'
}

@test "fake-openai: echo answers the last user message" {
	rules '{"echo":true}'
	fake_openai_start --script "$SCRIPT"
	run chat 'say ünïcode back'
	assert_success
	assert_equal "$(content <<<"$output")" 'say ünïcode back'
}

@test "fake-openai: json content is the value serialised" {
	rules '{"json":{"intent":"weather","confidence":0.9}}'
	fake_openai_start --script "$SCRIPT"
	run chat 'what is the weather'
	assert_success
	run jq -c '.choices[0].message.content | fromjson' <<<"$output"
	assert_output '{"intent":"weather","confidence":0.9}'
}

@test "fake-openai: usage false leaves usage out" {
	rules '{"usage":false}'
	fake_openai_start --script "$SCRIPT"
	run chat 'hi'
	assert_success
	run jq 'has("usage")' <<<"$output"
	assert_output false
}

@test "fake-openai: 429 with Retry-After" {
	rules '{"status":429,"retry_after":2}'
	fake_openai_start --script "$SCRIPT"
	run chat 'hi' '' -i
	assert_success
	assert_line --index 0 --regexp '^HTTP/1.1 429 '
	assert_line --regexp $'^Retry-After: 2\r$'
	run jq -r '.error.message' <<<"${lines[-1]}"
	assert_output 'fake-openai: status 429'
}

@test "fake-openai: error object with its status, and extra headers" {
	rules '{"status":400,"error":{"message":"bad model","type":"invalid_request_error"},"headers":{"x-request-id":"req-7"}}'
	fake_openai_start --script "$SCRIPT"
	run chat 'hi' '' -i
	assert_success
	assert_line --index 0 --regexp '^HTTP/1.1 400 '
	assert_line --regexp $'^x-request-id: req-7\r$'
	assert_line --index -1 '{"error":{"message":"bad model","type":"invalid_request_error"}}'
}

@test "fake-openai: hang until the client gives up, then close" {
	rules '{"hang":true,"times":1}'
	fake_openai_start --script "$SCRIPT"
	local tries=0
	run -28 chat 'hi' '' --max-time 1
	# The server closes its side once curl has: only the listener is left.
	while [ "$(sockets "$FAKE_OPENAI_PID")" -gt 1 ]; do
		tries=$((tries + 1))
		[ "$tries" -lt 100 ] || fail "the hung connection is open"
		sleep 0.01
	done
	run chat 'again'
	assert_success
	assert_equal "$(content <<<"$output")" 'This is a fake reply.'
}

@test "fake-openai: close without an answer" {
	rules '{"close":true}'
	fake_openai_start --script "$SCRIPT"
	run -52 chat 'hi'
	assert_output --partial 'Empty reply from server'
}

@test "fake-openai: raw malformed body is sent verbatim" {
	rules '{"body":"{\"choices\": [","status":200}'
	fake_openai_start --script "$SCRIPT"
	run chat 'hi'
	assert_success
	assert_output '{"choices": ['
}

@test "fake-openai: chunk_bytes 3 splits the stream, text reassembles" {
	rules '{"stream":true,"reply":"héllo wörld ✓ — 日本語 ok","chunk_bytes":3}'
	fake_openai_start --script "$SCRIPT"
	chat 'hi' '"stream":true' -N --trace-ascii "$BATS_TEST_TMPDIR/trace" \
		>"$BATS_TEST_TMPDIR/out"
	assert_equal "$(deltas <"$BATS_TEST_TMPDIR/out")" \
		'héllo wörld ✓ — 日本語 ok'
	assert_equal "$(grep -v '^$' "$BATS_TEST_TMPDIR/out" | tail -n 1)" \
		'data: [DONE]'
	# 3 bytes and the chunk framing: "3\r\n" + 3 + "\r\n" = 8 bytes a read.
	local reads
	reads=$(grep -c '<= Recv data, 8 bytes' "$BATS_TEST_TMPDIR/trace")
	[ "$reads" -gt 50 ] || fail "only $reads reads of 8 bytes"
}

@test "fake-openai: stream with usage chunk when include_usage" {
	rules '{"reply":"one two three"}'
	fake_openai_start --script "$SCRIPT"
	run chat 'hi' \
		'"stream":true,"stream_options":{"include_usage":true}' -N
	assert_success
	assert_equal "$(deltas <<<"$output")" 'one two three'
	run bash -c 'sed -n "s/^data: {/{/p" | jq -c \
		"[.object, (.choices|length), .choices[0].finish_reason,
		  (.usage.total_tokens > 0)]"' <<<"$output"
	assert_line --index 0 '["chat.completion.chunk",1,null,false]'
	assert_line --index -2 '["chat.completion.chunk",1,"stop",false]'
	assert_line --index -1 '["chat.completion.chunk",0,null,true]'
}

@test "fake-openai: stream_reply false answers a stream request in JSON" {
	rules '{"stream_reply":false,"reply":"plain"}'
	fake_openai_start --script "$SCRIPT"
	run chat 'hi' '"stream":true'
	assert_success
	assert_equal "$(content <<<"$output")" 'plain'
}

@test "fake-openai: sse comments and CRLF do not change the text" {
	rules '{"reply":"a b c d","sse_comments":true,"sse_crlf":true}'
	fake_openai_start --script "$SCRIPT"
	run chat 'hi' '"stream":true' -N
	assert_success
	assert_line --partial ': keep-alive'
	assert_equal "$(tr -d '\r' <<<"$output" | deltas)" 'a b c d'
	# A blank line alone, between events, is a keep-alive too.
	[[ "$(tr -d '\r' <<<"$output")" == *$'\n\n\n'* ]] ||
		fail "no blank keep-alive"
	run grep -c -v $'\r$' <<<"$output"
	assert_output 0
}

@test "fake-openai: truncated stream has no [DONE] and ends the transfer" {
	rules '{"reply":"one two three four","truncate":true}'
	fake_openai_start --script "$SCRIPT"
	run -18 chat 'hi' '"stream":true' -N
	refute_output --partial '[DONE]'
	assert_output --partial '"content":"two "'
	refute_output --partial '"content":"three "}'
}

@test "fake-openai: stream_error sends an error event mid-stream" {
	rules '{"reply":"one two three four","stream_error":{"message":"overloaded","type":"server_error"}}'
	fake_openai_start --script "$SCRIPT"
	run chat 'hi' '"stream":true' -N
	assert_success
	assert_line 'data: {"error":{"message":"overloaded","type":"server_error"}}'
	refute_output --partial '[DONE]'
	assert_equal "$(deltas <<<"$output")" 'one two '
}

@test "fake-openai: nth, contains and times select the rule" {
	rules '{"nth":2,"reply":"second"}' \
		'{"contains":"weather","reply":"sunny","times":1}' \
		'{"stream":true,"reply":"streamed"}'
	fake_openai_start --script "$SCRIPT"
	assert_equal "$(chat 'weather?' | content)" 'sunny'
	assert_equal "$(chat 'weather?' | content)" 'second'
	assert_equal "$(chat 'weather?' | content)" 'This is a fake reply.'
	assert_equal "$(chat 'x' '"stream":true' -N | deltas)" 'streamed'
	run jq -c '.rule' "$FAKE_OPENAI_LOG"
	assert_output $'2\n1\nnull\n3'
}

@test "fake-openai: the log records method, path, headers and body" {
	fake_openai_start
	chat 'log me' '"response_format":{"type":"json_object"}' >/dev/null
	curl -sS "$FAKE_OPENAI_URL/models" >/dev/null
	run jq -c '[.n, .method, .path, .headers.authorization,
		.headers["content-type"], .body.model,
		.body.messages[1].content, .body.response_format.type]' \
		"$FAKE_OPENAI_LOG"
	assert_line --index 0 '[1,"POST","/v1/chat/completions","Bearer sk-test-key","application/json","test-model","log me","json_object"]'
	assert_line --index 1 '[2,"GET","/v1/models",null,null,null,null,null]'
	# The key appears once, in the authorization header.
	assert_equal "$(grep -o 'sk-test-key' "$FAKE_OPENAI_LOG" | wc -l)" 1
}

@test "fake-openai: a body that is not JSON is logged raw and gets a 400" {
	fake_openai_start
	run curl -sS -w '%{http_code}' -d 'not json' \
		"$FAKE_OPENAI_URL/chat/completions"
	assert_output --regexp '"invalid_request_error".*400$'
	run jq -c '.body' "$FAKE_OPENAI_LOG"
	assert_output '"not json"'
}

@test "fake-openai: models list and 404 for anything else" {
	fake_openai_start
	run curl -sS "$FAKE_OPENAI_URL/models"
	assert_success
	run jq -r '.data[0].id' <<<"$output"
	assert_output 'fake-model'
	run curl -sS -w ' %{http_code}' "$FAKE_OPENAI_URL/embeddings"
	assert_output --regexp '"no such endpoint: GET /v1/embeddings".* 404$'
}

@test "fake-openai: keep-alive, chunked request body, Expect 100-continue" {
	rules '{"echo":true}'
	fake_openai_start --script "$SCRIPT"
	run curl -sS -v -d "$(body one)" "$FAKE_OPENAI_URL/chat/completions" \
		-d "$(body two)" "$FAKE_OPENAI_URL/chat/completions"
	assert_output --partial 'Re-using existing connection'
	# Too big for an argument: curl reads the request from a file.
	local big
	big=$(head -c 300000 /dev/zero | tr '\0' 'x')
	body "$big" >"$BATS_TEST_TMPDIR/big.json"
	run curl -sS -v -d @"$BATS_TEST_TMPDIR/big.json" \
		-H 'Transfer-Encoding: chunked' -H 'Expect: 100-continue' \
		-o "$BATS_TEST_TMPDIR/big.out" "$FAKE_OPENAI_URL/chat/completions"
	assert_success
	assert_equal "$(content <"$BATS_TEST_TMPDIR/big.out")" "$big"
	# answered, not left for curl to give up waiting on
	assert_output --partial '< HTTP/1.1 100 Continue'
	refute_output --partial 'Done waiting for 100-continue'
	run jq -r '.headers["transfer-encoding"]' "$FAKE_OPENAI_LOG"
	assert_line --index 2 'chunked'
}

@test "fake-openai: 50 parallel requests delayed 200 ms are not serialised" {
	rules '{"echo":true,"delay_ms":200}'
	fake_openai_start --script "$SCRIPT"
	local urls=() i start end
	for i in $(seq 50); do
		urls+=("$FAKE_OPENAI_URL/chat/completions")
	done
	start=$(date +%s%N)
	curl -sS --parallel --parallel-immediate --parallel-max 50 \
		-d "$(body ping)" "${urls[@]}" >"$BATS_TEST_TMPDIR/out"
	end=$(date +%s%N)
	assert_equal "$(jq -s 'map(.choices[0].message.content) |
		select(all(. == "ping")) | length' "$BATS_TEST_TMPDIR/out")" 50
	assert_equal "$(wc -l <"$FAKE_OPENAI_LOG")" 50
	local ms=$(((end - start) / 1000000))
	# one after another they would take 10 s: half that is the bound
	[ "$ms" -lt 5000 ] || fail "50 requests took $ms ms"
}

@test "fake-openai: default delay, and a rule's delay_ms overrides it" {
	rules '{"contains":"fast","delay_ms":0}'
	fake_openai_start --script "$SCRIPT" --default-delay-ms 3000
	local start
	start=$(date +%s%N)
	chat fast >/dev/null
	[ $((($(date +%s%N) - start) / 1000000)) -lt 2500 ] ||
		fail "fast was delayed"
	start=$(date +%s%N)
	chat slow >/dev/null
	[ $((($(date +%s%N) - start) / 1000000)) -ge 3000 ] || fail "no delay"
}

@test "fake-openai: a bad script is refused with the line and field" {
	rules '{"reply":"ok"}' '' '# a comment' '{"replay":"typo"}'
	run -2 fake-openai --script "$SCRIPT"
	assert_output "fake-openai: $SCRIPT:4: replay: expected a known field"
	rules '{"nth":0}'
	run -2 fake-openai --script "$SCRIPT"
	assert_output --partial ':1: nth: expected a whole number above 0'
	rules '{"reply":"a","echo":true}'
	run -2 fake-openai --script "$SCRIPT"
	assert_output --partial 'exclude each other'
	run -2 fake-openai --port 70000
	run -2 fake-openai --bogus
}

@test "fake-openai: SIGTERM while requests hang and wait exits 0" {
	rules '{"contains":"hang","hang":true}' '{"delay_ms":60000}'
	fake_openai_start --script "$SCRIPT"
	chat hang --max-time 5 >/dev/null 2>&1 3>&- &
	local hang=$!
	chat slow --max-time 5 >/dev/null 2>&1 3>&- &
	local slow=$!
	local tries=0
	while [ "$(wc -l <"$FAKE_OPENAI_LOG")" -lt 2 ]; do
		tries=$((tries + 1))
		[ "$tries" -lt 200 ] || fail "requests not received"
		sleep 0.01
	done
	# bounded by fake_openai_stop: a server still up 5 s after SIGTERM
	# is killed, and that fails the test
	fake_openai_stop
	# the clients only: bats' own timeout watchdog is a child too
	wait "$hang" "$slow" || true
}
