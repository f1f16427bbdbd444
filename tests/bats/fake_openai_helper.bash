# fake_openai_helper.bash — start and stop tests/helpers/bin/fake-openai
# from a bats test.  Load it with `load fake_openai_helper`.
#
#   fake_openai_start [OPTION...]   start a server on a free port; the
#                                   options go to fake-openai (--script FILE,
#                                   --default-delay-ms N)
#   fake_openai_stop                stop it (in teardown); fails if it did not
#                                   exit 0, so a crash fails the test
#   fake_openai_serve RULE...       start it with these rules (one JSON
#                                   object each) and point OPENAI_BASE_URL
#                                   at it
#   fake_openai_requests            how many requests it has seen
#
# fake_openai_start waits at most 5 s for the port file, then exports
#   FAKE_OPENAI_URL   http://127.0.0.1:PORT/v1 (a base URL, as in
#                     OPENAI_BASE_URL)
#   FAKE_OPENAI_PORT  the port
#   FAKE_OPENAI_LOG   the request log, one JSON line per request
#   FAKE_OPENAI_PID   the server's process id
# The server's stderr goes to $BATS_TEST_TMPDIR/fake-openai.err.  One server
# at a time per test.

fake_openai_start() {
	local dir=${BATS_TEST_TMPDIR:-${TMPDIR:-/tmp}}
	local portfile=$dir/fake-openai.port
	local tries=0

	rm -f "$portfile"
	FAKE_OPENAI_LOG=$dir/fake-openai.log
	: >"$FAKE_OPENAI_LOG"
	# fd 3 closed: bats waits for whoever holds it open.
	fake-openai --port 0 --port-file "$portfile" \
		--log "$FAKE_OPENAI_LOG" "$@" \
		</dev/null >/dev/null 2>"$dir/fake-openai.err" 3>&- &
	FAKE_OPENAI_PID=$!
	while [ ! -s "$portfile" ]; do
		if ! kill -0 "$FAKE_OPENAI_PID" 2>/dev/null; then
			wait "$FAKE_OPENAI_PID"
			echo "fake-openai exited with status $?:" >&2
			cat "$dir/fake-openai.err" >&2
			unset FAKE_OPENAI_PID
			return 1
		fi
		tries=$((tries + 1))
		if [ "$tries" -gt 500 ]; then
			echo "fake-openai: no port file after 5 s" >&2
			fake_openai_stop
			return 1
		fi
		sleep 0.01
	done
	FAKE_OPENAI_PORT=$(cat "$portfile")
	FAKE_OPENAI_URL=http://127.0.0.1:$FAKE_OPENAI_PORT/v1
	export FAKE_OPENAI_URL FAKE_OPENAI_PORT FAKE_OPENAI_LOG FAKE_OPENAI_PID
}

fake_openai_stop() {
	local pid=${FAKE_OPENAI_PID:-}
	local tries=0 status=0

	[ -n "$pid" ] || return 0
	unset FAKE_OPENAI_PID
	kill -TERM "$pid" 2>/dev/null || true
	# Bounded: a server that ignores SIGTERM is killed, and the test fails.
	while kill -0 "$pid" 2>/dev/null; do
		tries=$((tries + 1))
		if [ "$tries" -gt 500 ]; then
			echo "fake-openai: still running 5 s after SIGTERM" >&2
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.01
	done
	wait "$pid" || status=$?
	if [ "$status" -ne 0 ]; then
		echo "fake-openai exited with status $status" >&2
		cat "${BATS_TEST_TMPDIR:-${TMPDIR:-/tmp}}/fake-openai.err" >&2
	fi
	return "$status"
}

fake_openai_serve() {
	local rules=${BATS_TEST_TMPDIR:-${TMPDIR:-/tmp}}/rules.jsonl

	printf '%s\n' "$@" >"$rules"
	fake_openai_start --script "$rules" || return 1
	export OPENAI_BASE_URL=$FAKE_OPENAI_URL
}

fake_openai_requests() {
	grep -c . "$FAKE_OPENAI_LOG" || true
}
