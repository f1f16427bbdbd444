# Shared by the serve*.bats suites: start mas-serve on a free loopback
# port (the kernel picks it: --listen 127.0.0.1:0, and the server says
# which), stop it, and kill whatever a test started in teardown, even
# when the test failed.

load helpers

# The three agents on the example data, as the README's tour runs them;
# one request worker and no task worker, as each worker makes its own
# agents at start (tests that need more say so, later options winning).
SERVE_AGENTS=(--kb examples/kb.jsonl --corpus examples/corpus
	--data-dir examples/data --workers 1 --task-workers 0)
TASKS=(--task-workers 1)

serve_setup() {
	common_setup
	export MAS_STATE_DIR="$BATS_TEST_TMPDIR/state"
	SERVE_PIDS="$BATS_TEST_TMPDIR/serve.pids"
	: >"$SERVE_PIDS"
}

# Kill every server (and helper) the test started that still runs.
serve_teardown() {
	local pid
	[ -f "${SERVE_PIDS:-/nonexistent}" ] || return 0
	while read -r pid; do
		kill -9 "$pid" 2>/dev/null || true
	done <"$SERVE_PIDS"
}

# Remember PID for teardown.
serve_track() {
	echo "$1" >>"$SERVE_PIDS"
}

# serve_start [OPTION...]: start mas-serve with the options, wait until
# it listens; sets SERVE_PID, SERVE (host:port), URL and SERVE_LOG (its
# stderr: diagnostics and the access log).
serve_start() {
	SERVE_LOG="$BATS_TEST_TMPDIR/serve.$RANDOM.log"
	# fd 3 closed: bats waits for whoever holds it open.
	mas-serve --listen 127.0.0.1:0 -v "$@" 2>"$SERVE_LOG" 3>&- &
	SERVE_PID=$!
	serve_track "$SERVE_PID"
	for _ in $(seq 300); do
		SERVE=$(sed -n 's|.*listening on http://\([0-9.:]*\)/.*|\1|p' \
			"$SERVE_LOG" | head -1)
		if [ -n "$SERVE" ]; then
			URL="http://$SERVE"
			return 0
		fi
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "mas-serve did not start:" >&2
	cat "$SERVE_LOG" >&2
	return 1
}

# serve_stop: SIGTERM; its exit status is returned.
serve_stop() {
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID"
}

# http METHOD PATH [BODY] [CURL OPTION...]: the status in $status_code,
# the body in $output (run-style), headers in $BATS_TEST_TMPDIR/headers.
http() {
	local method=$1 path=$2 body=${3-} args=()
	shift 3 2>/dev/null || shift $#
	if [ -n "$body" ]; then
		args=(-H 'Content-Type: application/json' --data-binary "$body")
	fi
	status_code=$(curl -s -X "$method" -o "$BATS_TEST_TMPDIR/body" \
		-D "$BATS_TEST_TMPDIR/headers" -w '%{http_code}' \
		"${args[@]}" "$@" "$URL$path")
	output=$(cat "$BATS_TEST_TMPDIR/body")
}

# The value of header NAME in the last answer.
header() {
	tr -d '\r' <"$BATS_TEST_TMPDIR/headers" |
		sed -n "s/^$1: //Ip" | head -1
}

# Poll GET /tasks/ID (with curl options after ID) until the task is
# finished or SECONDS (default 20) pass; $output is its last answer.
wait_task() {
	local id=$1 tries
	shift
	tries=$(( ${WAIT_SECONDS:-20} * 10 ))
	for _ in $(seq "$tries"); do
		http GET "/tasks/$id" '' "$@"
		case $(printf '%s' "$output" | jq -r .data.status) in
		completed|failed) return 0 ;;
		esac
		sleep 0.1
	done
	echo "task $id did not finish: $output" >&2
	return 1
}
