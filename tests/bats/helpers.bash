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
	unset MAS_STATE_DIR MAS_DATA_DIR MAS_LANG MAS_LOG_LEVEL MAS_LOG_FORMAT
	unset OPENAI_API_KEY OPENAI_BASE_URL MAS_MODEL NO_COLOR
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
