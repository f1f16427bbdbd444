# Shared set-up for the bats suites: a private HOME, state and config
# folder per test, the built programs first on PATH, and small helpers.

bats_require_minimum_version 1.5.0

TOP=${MAS_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
export PATH="$TOP/bin:$TOP/tests/helpers/bin:$PATH"
DATA="$TOP/examples/data"

common_setup() {
	export HOME="$BATS_TEST_TMPDIR/home"
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/config"
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME"
	unset MAS_STATE_DIR MAS_STATE_BUSY_TIMEOUT MAS_DATA_DIR MAS_LANG MAS_LOG_LEVEL MAS_LOG_FORMAT
	unset OPENAI_API_KEY OPENAI_BASE_URL MAS_MODEL NO_COLOR
	# No installed examples to fall back on unless a test asks for them.
	export MAS_EXAMPLES_DIR="$BATS_TEST_TMPDIR/no-examples"
	cd "$TOP" || return 1
}

# Number of lines on stdout of the last `run`.
line_count() {
	printf '%s' "$output" | grep -c '' || true
}

# jq over the output of the last run: exits non-zero when the expression
# yields false or null, like `jq -e`.
output_jq() {
	printf '%s\n' "$output" | jq -e "$@"
}

# A tiny task with inline data that analyses fast.
tiny_task() {
	printf '{"id":"%s","analysis_type":"describe","data":{"x":[1,2,3]}}\n' "$1"
}

# gone PID: wait up to 5 s for process PID to be gone (a killed process
# lingers until it is reaped); fails if it is still there.
gone() {
	for _ in $(seq 50); do
		kill -0 "$1" 2>/dev/null || return 0
		case $(ps -o stat= -p "$1" 2>/dev/null) in Z*) return 0 ;; esac
		sleep 0.1
	done
	return 1
}

# lock_store DB: hold an exclusive lock on the SQLite database DB from a
# background sqlite3 until unlock_store; the pid is in LOCK_PID.
lock_store() {
	mkfifo "$BATS_TEST_TMPDIR/lock.fifo"
	sqlite3 "$1" <"$BATS_TEST_TMPDIR/lock.fifo" >/dev/null 2>&1 &
	LOCK_PID=$!
	exec {LOCK_FD}>"$BATS_TEST_TMPDIR/lock.fifo"
	printf 'BEGIN EXCLUSIVE;\nINSERT INTO mas_meta VALUES (%s, %s);\n' \
		"'lock'" "'held'" >&"$LOCK_FD"
	# wait until the lock is really held
	for _ in $(seq 50); do
		sqlite3 -cmd '.timeout 0' "$1" 'BEGIN IMMEDIATE; ROLLBACK;' \
			2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

unlock_store() {
	exec {LOCK_FD}>&-
	wait "$LOCK_PID" 2>/dev/null || true
}

# install_sdk ROOT: install libmas (make install-lib) into ROOT as a
# package build would, PREFIX /usr, with what is built: -o keeps make from
# building anything again here, whatever flags the tree was built with.
install_sdk() {
	local so
	so=$(cd "$TOP/lib" && ls libmas.so.*.*.*) || return 1
	# shellcheck disable=SC2046 # one -o per object
	make -s -C "$TOP" install-lib DESTDIR="$1" PREFIX=/usr \
		-o .build-flags -o lib/libmas.a -o "lib/$so" \
		$(cd "$TOP" && printf -- '-o %s ' lib/*.o lib/*.inc)
}
