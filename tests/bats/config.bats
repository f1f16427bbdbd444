#!/usr/bin/env bats
# Configuration precedence and the secret-file rule (mas(7) CONFIGURATION),
# through mas-analyze's analyze.data_dir setting.

load helpers

setup() {
	common_setup
	mkdir -p "$BATS_TEST_TMPDIR"/{flag,env,file}
	for where in flag env file; do
		printf '{"date":"2026-01-01","%s":1}\n{"date":"2026-01-02","%s":3}\n' "$where" "$where" > "$BATS_TEST_TMPDIR/$where/d.jsonl"
	done
	mkdir -p "$XDG_CONFIG_HOME/mas"
	printf '# test config\n[analyze]\ndata_dir = "%s"\n' "$BATS_TEST_TMPDIR/file" > "$XDG_CONFIG_HOME/mas/config"
	task='{"data_source":"d","analysis_type":"describe"}'
}

metric_used() {
	printf '%s\n' "$output" | jq -r '.analysis.summary | keys[0]'
}

@test "the config file is read from XDG_CONFIG_HOME" {
	run --separate-stderr mas-analyze <<<"$task"
	[ "$status" -eq 0 ]
	[ "$(metric_used)" = file ]
}

@test "the environment beats the file" {
	MAS_DATA_DIR="$BATS_TEST_TMPDIR/env" run --separate-stderr mas-analyze <<<"$task"
	[ "$(metric_used)" = env ]
}

@test "a flag beats the environment and the file" {
	MAS_DATA_DIR="$BATS_TEST_TMPDIR/env" run --separate-stderr mas-analyze --data-dir "$BATS_TEST_TMPDIR/flag" <<<"$task"
	[ "$(metric_used)" = flag ]
}

@test "an empty environment variable counts as unset" {
	MAS_DATA_DIR= run --separate-stderr mas-analyze <<<"$task"
	[ "$(metric_used)" = file ]
}

@test "--config names another file; a missing one is a usage error" {
	printf 'analyze.data_dir = %s\n' "$BATS_TEST_TMPDIR/flag" > "$BATS_TEST_TMPDIR/other"
	run --separate-stderr mas-analyze --config "$BATS_TEST_TMPDIR/other" <<<"$task"
	[ "$(metric_used)" = flag ]
	run --separate-stderr mas-analyze --config "$BATS_TEST_TMPDIR/missing" <<<"$task"
	[ "$status" -eq 2 ]
	[ "$stderr" = "mas-analyze: error: $BATS_TEST_TMPDIR/missing: No such file or directory" ]
	[ -z "$output" ]
}

@test "a syntax error in the file names file and line" {
	printf '[analyze]\nthis is not a setting\n' > "$XDG_CONFIG_HOME/mas/config"
	run --separate-stderr mas-analyze <<<"$task"
	[ "$status" -eq 2 ]
	[ "$stderr" = "mas-analyze: error: $XDG_CONFIG_HOME/mas/config:2: expected 'key = value' or '[section]'" ]
}

@test "a file holding a secret that others can read is refused with the fix" {
	printf '[llm]\napi_key = sk-test-secret\n' > "$XDG_CONFIG_HOME/mas/config"
	chmod 644 "$XDG_CONFIG_HOME/mas/config"
	run --separate-stderr mas-analyze <<<"$task"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"holds a secret but group or others have access to it (mode 644); fix it with: chmod 600 $XDG_CONFIG_HOME/mas/config"* ]]
	[[ "$stderr" != *sk-test-secret* ]]
}

@test "the same secret in a private file is accepted" {
	printf '[llm]\napi_key = sk-test-secret\n[analyze]\ndata_dir = %s\n' "$BATS_TEST_TMPDIR/file" > "$XDG_CONFIG_HOME/mas/config"
	chmod 600 "$XDG_CONFIG_HOME/mas/config"
	run --separate-stderr mas-analyze <<<"$task"
	[ "$status" -eq 0 ]
	[ "$(metric_used)" = file ]
}

@test "log settings come from the file too" {
	printf '[log]\nformat = json\n' > "$XDG_CONFIG_HOME/mas/config"
	run --separate-stderr mas-analyze "$BATS_TEST_TMPDIR/absent"
	[ "$status" -eq 2 ]
	printf '%s\n' "$stderr" | jq -e '.level == "error"'
}

@test "a bad MAS_LOG_FORMAT is a configuration error" {
	MAS_LOG_FORMAT=xml run --separate-stderr mas-analyze < /dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"log.format (MAS_LOG_FORMAT): 'xml' is not text or json"* ]]
}
