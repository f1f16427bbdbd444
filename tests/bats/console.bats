#!/usr/bin/env bats
# mas-serve's web console (www/, mas-serve(1) CONSOLE): the files it
# answers at /, --www and its paths, eslint over the page's JavaScript,
# and the page itself in Debian's chromium, headless, driven by
# playwright-core (tests/browser/console-test.js) against a real server.
# Screenshots of each state go to tests/out/console/ (not committed).

load serve_helper
load fake_openai_helper

BROWSER="$TOP/tests/browser"
# The files need no agent: a server without them starts faster.
BARE=(--workers 1 --task-workers 0)

setup() {
	serve_setup
}

teardown() {
	serve_teardown
	fake_openai_stop
}

# The browser test's script, against the running server; its steps are
# printed as they pass (bats shows them when a test fails).
browse() {
	local shots=${CONSOLE_SHOTS:-$TOP/tests/out/console}
	[ -d "$BROWSER/node_modules/playwright-core" ] || {
		echo "tests/browser/node_modules is missing: run .ci/install-deps"
		return 1
	}
	mkdir -p "$shots"
	run --separate-stderr timeout 90 node "$BROWSER/console-test.js" \
		"$URL" "$shots" "$@"
	printf '%s\n' "$output" "$stderr"
	[ "$status" -eq 0 ]
	[[ "$output" != *"not ok"* ]]
}

@test "console: / is the page, built in, its files with their types, public even with keys" {
	key=$(mas-serve keys add web --routes tasks --keys "$BATS_TEST_TMPDIR/keys")
	serve_start "${BARE[@]}" --keys "$BATS_TEST_TMPDIR/keys"
	http GET /
	[ "$status_code" = 200 ]
	[[ "$(header Content-Type)" == "text/html; charset=utf-8" ]]
	cmp "$BATS_TEST_TMPDIR/body" www/index.html
	[[ "$(header Content-Security-Policy)" == "default-src 'self';"* ]]
	[ "$(header X-Content-Type-Options)" = nosniff ]
	http GET /index.html
	cmp "$BATS_TEST_TMPDIR/body" www/index.html
	http GET /console.js
	[ "$status_code" = 200 ]
	[[ "$(header Content-Type)" == text/javascript* ]]
	cmp "$BATS_TEST_TMPDIR/body" www/console.js
	http GET /console.css
	[[ "$(header Content-Type)" == text/css* ]]
	cmp "$BATS_TEST_TMPDIR/body" www/console.css
	http HEAD /console.js '' -I
	[ "$status_code" = 200 ]
	[ "$(header Content-Length)" = "$(wc -c <www/console.js)" ]
	# the page loads nothing from elsewhere
	! grep -Eq '(src|href)="(https?:)?//' www/*.html
	! grep -Eq 'https?://' www/*.js www/*.css
	# the API still wants its key; the page does not
	http GET /tasks
	[ "$status_code" = 401 ]
	http GET /tasks '' -H "X-API-Key: $key"
	[ "$status_code" = 200 ]
	serve_stop
}

@test "console: no path reaches a file outside the page's folder; 404 is the error envelope" {
	serve_start "${BARE[@]}"
	for path in /nothing.js /../Makefile /%2e%2e/Makefile /..%2fMakefile \
		/.%2e/.%2e/etc/passwd '/..\\Makefile' //etc/passwd /./index.html \
		/.hidden /www/index.html; do
		http GET "$path" '' --path-as-is
		[ "$status_code" = 404 ] || { echo "$path: $status_code"; return 1; }
		[ "$(jq -r .error.code "$BATS_TEST_TMPDIR/body")" = NOT_FOUND ]
		[ "$(jq -r .error.details.field "$BATS_TEST_TMPDIR/body")" = path ]
	done
	# a path of the API is never a file; other methods are not files
	http GET /chat
	[ "$status_code" = 405 ]
	http POST / '{}'
	[ "$status_code" = 404 ]
	grep -q '"GET /../Makefile HTTP/1.1" 404' "$SERVE_LOG"
	serve_stop
}

@test "console: --www DIR serves that folder, by type, and nothing outside it" {
	site="$BATS_TEST_TMPDIR/site"
	mkdir -p "$site/img" "$BATS_TEST_TMPDIR/secret"
	echo '<!doctype html><title>mine</title>' >"$site/index.html"
	echo '<svg xmlns="http://www.w3.org/2000/svg"/>' >"$site/img/logo.svg"
	echo '{"a":1}' >"$site/data.json"
	printf '\x00\x01' >"$site/blob.bin"
	echo hidden >"$site/.env"
	echo secret >"$BATS_TEST_TMPDIR/secret/key.txt"
	ln -s "$BATS_TEST_TMPDIR/secret" "$site/out"
	ln -s "$BATS_TEST_TMPDIR/secret/key.txt" "$site/key.txt"
	serve_start "${BARE[@]}" --www "$site"
	http GET /
	[ "$status_code" = 200 ]
	[ "$output" = '<!doctype html><title>mine</title>' ]
	http GET /img/logo.svg
	[ "$(header Content-Type)" = image/svg+xml ]
	http GET /data.json
	[ "$(header Content-Type)" = application/json ]
	http GET /blob.bin
	[ "$(header Content-Type)" = application/octet-stream ]
	cmp "$BATS_TEST_TMPDIR/body" "$site/blob.bin"
	http GET /img/
	[ "$status_code" = 404 ]
	for path in /.env /out/key.txt /key.txt /img/../../secret/key.txt \
		/img /console.js; do
		http GET "$path" '' --path-as-is
		[ "$status_code" = 404 ] || { echo "$path: $status_code"; return 1; }
	done
	# edited while serving: served as saved
	echo '<!doctype html><title>new</title>' >"$site/index.html"
	http GET /
	[ "$output" = '<!doctype html><title>new</title>' ]
	serve_stop
	run --separate-stderr mas-serve --www "$BATS_TEST_TMPDIR/none" \
		--listen 127.0.0.1:0
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"serve.www (--www): $BATS_TEST_TMPDIR/none: No such file"* ]]
	run --separate-stderr mas-serve --www "$site/data.json" \
		--listen 127.0.0.1:0
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"not a folder"* ]]
	MAS_SERVE_WWW="$site" serve_start "${BARE[@]}"
	http GET /
	[ "$output" = '<!doctype html><title>new</title>' ]
	serve_stop
}

@test "console: eslint finds nothing in the page's JavaScript or the browser test" {
	run "$BROWSER/node_modules/.bin/eslint" -c "$BROWSER/eslint.config.js" \
		www/ tests/browser/
	echo "$output"
	[ "$status" -eq 0 ]
	# and it does find what it is there for
	mkdir -p "$BATS_TEST_TMPDIR/www"
	printf 'x = 1;\nif (x == 2) undefinedThing();\n' >"$BATS_TEST_TMPDIR/www/bad.js"
	cd "$BATS_TEST_TMPDIR"
	run "$BROWSER/node_modules/.bin/eslint" -c "$BROWSER/eslint.config.js" \
		www/bad.js
	[ "$status" -eq 1 ]
	[[ "$output" == *no-undef* ]]
	[[ "$output" == *eqeqeq* ]]
}

@test "console: in chromium, the key asked for on 401, chat, tasks with citations and a chart, flows, live metrics, keyboard only, phone width" {
	key=$(mas-serve keys add web --keys "$BATS_TEST_TMPDIR/keys")
	serve_start "${SERVE_AGENTS[@]}" "${TASKS[@]}" --flows-dir examples/flows \
		--keys "$BATS_TEST_TMPDIR/keys"
	browse "$key"
	# the page's calls are the API's, made with the key once given
	grep -q '"POST /chat HTTP/1.1" 401' "$SERVE_LOG"
	grep -q ' - web \[.*"POST /chat HTTP/1.1" 200' "$SERVE_LOG"
	grep -q ' - web \[.*"POST /tasks HTTP/1.1" 201' "$SERVE_LOG"
	grep -q ' - web \[.*"GET /metrics HTTP/1.1" 200' "$SERVE_LOG"
	grep -q ' - web \[.*"POST /flows/triage HTTP/1.1" 200' "$SERVE_LOG"
	for shot in key-dialog chat task-research task-citation task-analysis \
		flows monitoring phone; do
		[ -s "${CONSOLE_SHOTS:-$TOP/tests/out/console}/$shot.png" ]
	done
	serve_stop
}

@test "console: in chromium, a model's streamed reply grows on the page as it comes" {
	# a piece every 100 ms, so the page is seen between them
	fake_openai_serve '{"json":{"response":"Pro costs $15 per user per month.","intent":"pricing","sentiment":"neutral","sentiment_score":0.1,"confidence":0.93},"chunk_bytes":256,"chunk_delay_ms":100}'
	serve_start "${SERVE_AGENTS[@]}" --no-cache --model fake
	CONSOLE_MODE=stream browse
	jq -e '.body.stream == true' "$FAKE_OPENAI_LOG"
	serve_stop
}
