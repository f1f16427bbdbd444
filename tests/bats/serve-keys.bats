#!/usr/bin/env bats
# mas-serve(1), KEY FILE: keys made and removed, refused when missing,
# wrong or not allowed, a key file others can read refused, per-key
# rate limits, and a key never written to a log or a trace.

load serve_helper

setup() {
	serve_setup
	KEYS="$BATS_TEST_TMPDIR/keys"
}

teardown() {
	serve_teardown
}

@test "serve keys: add prints a key once and stores only its digest" {
	run --separate-stderr mas-serve keys add alice --routes chat,tasks --keys "$KEYS"
	[ "$status" -eq 0 ]
	key=$output
	[[ "$key" =~ ^mas_[A-Za-z0-9_-]{43}$ ]]
	[ "$(stat -c %a "$KEYS")" = 600 ]
	! grep -qF "$key" "$KEYS"
	digest=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
	grep -q "^alice sha256:$digest chat,tasks$" "$KEYS"
	run --separate-stderr mas-serve keys add bob --routes metrics --rate 10/m --burst 3 --keys "$KEYS"
	[ "$status" -eq 0 ]
	[ "$output" != "$key" ]
	run --separate-stderr mas-serve keys list --keys "$KEYS"
	[ "$status" -eq 0 ]
	output_jq -s '. == [{"name":"alice","routes":["tasks","chat"],
		"rate":null,"burst":null},{"name":"bob","routes":["metrics"],
		"rate":(10/60),"burst":3}]'
	! grep -q sha256 <<<"$output"
	run --separate-stderr mas-serve keys add alice --keys "$KEYS"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"already"* ]]
	run --separate-stderr mas-serve keys add carol --routes chat,everything --keys "$KEYS"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--routes"* ]]
	run --separate-stderr mas-serve keys add 'bad name' --keys "$KEYS"
	[ "$status" -eq 2 ]
	run --separate-stderr mas-serve keys remove alice --keys "$KEYS"
	[ "$status" -eq 0 ]
	run --separate-stderr mas-serve keys remove alice --keys "$KEYS"
	[ "$status" -eq 1 ]
	[ "$(mas-serve keys list --keys "$KEYS" | jq -r .name)" = bob ]
	[ "$(stat -c %a "$KEYS")" = 600 ]
	run --separate-stderr mas-serve keys list
	[ "$status" -eq 2 ]
}

@test "serve keys: a file edited by hand stays whole through add and remove" {
	# its last line without a newline, a line with a NUL byte in it
	# (found by tests/fuzz/fuzz-serve-keys.c: add glued the new key
	# onto the last line, remove cut the line at the NUL and glued the
	# next one on)
	d1=$(printf a | sha256sum | cut -d' ' -f1)
	d2=$(printf b | sha256sum | cut -d' ' -f1)
	printf 'hand sha256:%s chat\0y\nmade sha256:%s *' "$d1" "$d2" \
		>"$KEYS"
	chmod 600 "$KEYS"
	run --separate-stderr mas-serve keys add new --routes tasks --keys "$KEYS"
	[ "$status" -eq 0 ]
	run --separate-stderr mas-serve keys list --keys "$KEYS"
	[ "$status" -eq 0 ]
	output_jq -s 'map(.name) == ["hand","made","new"]'
	run --separate-stderr mas-serve keys remove new --keys "$KEYS"
	[ "$status" -eq 0 ]
	run --separate-stderr mas-serve keys list --keys "$KEYS"
	[ "$status" -eq 0 ]
	output_jq -s 'map(.name) == ["hand","made"]'
}

@test "serve keys: missing, unknown and not allowed are 401, 401 and 403" {
	chat=$(mas-serve keys add chatter --routes chat --keys "$KEYS")
	all=$(mas-serve keys add ops --routes '*' --keys "$KEYS")
	serve_start "${SERVE_AGENTS[@]}" --keys "$KEYS"
	http POST /chat '{"message":"hi"}'
	[ "$status_code" = 401 ]
	[ "$(header WWW-Authenticate)" = Bearer ]
	printf '%s' "$output" | jq -e '.error.code == "UNAUTHORIZED" and
		.error.details.field == "Authorization"'
	http POST /chat '{"message":"hi"}' -H "Authorization: Bearer ${chat}x"
	[ "$status_code" = 401 ]
	http POST /chat '{"message":"hi"}' -H "Authorization: Bearer $chat"
	[ "$status_code" = 200 ]
	http POST /chat '{"message":"hi"}' -H "X-API-Key: $chat"
	[ "$status_code" = 200 ]
	http POST /analysis '{"data_source":"user_behavior"}' -H "X-API-Key: $chat"
	[ "$status_code" = 403 ]
	printf '%s' "$output" | jq -e '.error.code == "FORBIDDEN" and
		(.error.message | contains("chatter"))'
	http GET /metrics '' -H "X-API-Key: $chat"
	[ "$status_code" = 403 ]
	http GET /metrics '' -H "X-API-Key: $all"
	[ "$status_code" = 200 ]
	# public: health and the description
	http GET /health
	[ "$status_code" = 200 ]
	http GET /openapi.json
	[ "$status_code" = 200 ]
	serve_stop
	grep -q '^127.0.0.1 - chatter \[.*"POST /chat HTTP/1.1" 200 ' "$SERVE_LOG"
	grep -q '^127.0.0.1 - chatter \[.*"POST /analysis HTTP/1.1" 403 ' "$SERVE_LOG"
}

@test "serve keys: a key file others can read is refused" {
	mas-serve keys add alice --keys "$KEYS" >/dev/null
	chmod 644 "$KEYS"
	run --separate-stderr mas-serve --listen 127.0.0.1:0 --keys "$KEYS" "${SERVE_AGENTS[@]}"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"readable by group or others"* ]]
	run --separate-stderr mas-serve keys add bob --keys "$KEYS"
	[ "$status" -eq 2 ]
	chmod 600 "$KEYS"
	printf 'alice sha256:nothex *\n' >>"$KEYS"
	run --separate-stderr mas-serve --listen 127.0.0.1:0 --keys "$KEYS"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"keys:2: "* ]]
}

@test "serve keys: over its rate a key gets 429 with Retry-After and RateLimit headers" {
	slow=$(mas-serve keys add slow --routes chat --rate 2/m --burst 2 --keys "$KEYS")
	fast=$(mas-serve keys add fast --routes chat --keys "$KEYS")
	serve_start "${SERVE_AGENTS[@]}" --keys "$KEYS" --rate 100/s --burst 100
	for expected in 200 200 429 429; do
		http POST /chat '{"message":"hi"}' -H "X-API-Key: $slow"
		[ "$status_code" = "$expected" ]
	done
	printf '%s' "$output" | jq -e '.error.code == "RATE_LIMITED"'
	[ "$(header RateLimit-Limit)" = 2 ]
	[ "$(header RateLimit-Remaining)" = 0 ]
	retry=$(header Retry-After)
	[ "$retry" -ge 20 ] && [ "$retry" -le 30 ]
	[ "$(header RateLimit-Reset)" -ge "$retry" ]
	# Another key has its own bucket, the server's.
	http POST /chat '{"message":"hi"}' -H "X-API-Key: $fast"
	[ "$status_code" = 200 ]
	[ "$(header RateLimit-Limit)" = 100 ]
	[ "$(header RateLimit-Remaining)" = 99 ]
	http GET /metrics '' -H "X-API-Key: $fast"
	[ "$status_code" = 403 ]
	serve_stop
}

@test "serve keys: an open server limits each client by address" {
	serve_start "${SERVE_AGENTS[@]}" --rate 1/h --burst 1
	http POST /chat '{"message":"hi"}'
	[ "$status_code" = 200 ]
	http POST /chat '{"message":"hi"}'
	[ "$status_code" = 429 ]
	http GET /health
	[ "$status_code" = 200 ]
	serve_stop
}

@test "serve keys: a key is in no log and no trace, even at debug level" {
	key=$(mas-serve keys add secretive --routes '*' --keys "$KEYS")
	export MAS_TRACE="$BATS_TEST_TMPDIR/trace.jsonl"
	serve_start "${SERVE_AGENTS[@]}" "${TASKS[@]}" --keys "$KEYS" --log-level debug \
		--access-log "$BATS_TEST_TMPDIR/access.log"
	http POST /chat '{"message":"hi"}' -H "Authorization: Bearer $key"
	[ "$status_code" = 200 ]
	http POST /tasks '{"type":"chat","message":"hi"}' -H "X-API-Key: $key"
	[ "$status_code" = 201 ]
	wait_task "$(jq -r .data.task_id "$BATS_TEST_TMPDIR/body")" -H "X-API-Key: $key"
	http POST /chat '{"message":"hi"}' -H "Authorization: Bearer ${key}"
	http GET /metrics '' -H "X-API-Key: $key"
	serve_stop
	grep -q 'secretive' "$BATS_TEST_TMPDIR/access.log"
	grep -q '"mas.api_key.name":"secretive"' "$MAS_TRACE"
	for file in "$SERVE_LOG" "$BATS_TEST_TMPDIR/access.log" "$MAS_TRACE" \
		"$BATS_TEST_TMPDIR/body"; do
		! grep -qF "$key" "$file" || { echo "key in $file"; return 1; }
	done
	! grep -rqF "$key" "$MAS_STATE_DIR"
}
