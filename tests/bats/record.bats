#!/usr/bin/env bats
# The record contract of mas(7), tested through mas-analyze: every program
# runs the same loop (lib/record.c), so these hold for all of them.

load helpers

setup() {
	common_setup
}

@test "a valid record comes out once with its id kept and exit 0" {
	run --separate-stderr mas-analyze < <(tiny_task keep-me)
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 1 ]
	output_jq '.id == "keep-me" and .analysis.summary.x.mean == 2'
	[ -z "$stderr" ]
}

@test "a missing id is assigned as a ULID placed first" {
	run --separate-stderr mas-analyze < <(echo '{"data":{"x":[1,2,3]},"analysis_type":"describe"}')
	[ "$status" -eq 0 ]
	output_jq '.id | test("^[0-9A-HJKMNP-TV-Z]{26}$")'
	output_jq 'keys_unsorted[0] == "id"'
}

@test "assigned ids are unique and sort in output order" {
	run --separate-stderr bash -c 'for i in $(seq 500); do echo "{\"analysis_type\":\"describe\",\"data\":{\"x\":[1,2]}}"; done | mas-analyze | jq -r .id'
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | sort -u | wc -l)" -eq 500 ]
	[ "$(printf '%s\n' "$output" | sort -c && echo sorted)" = sorted ]
}

@test "malformed JSON becomes an error record naming the line, and the run goes on" {
	run --separate-stderr mas-analyze < <(tiny_task a; echo '{"broken": '; tiny_task c)
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 3 ]
	output_jq -s '.[0].id == "a" and .[2].id == "c"'
	output_jq -s '.[1].error.code == "INVALID_REQUEST" and .[1].error.line == 2'
	output_jq -s '.[1].error.message | test("^line 2, column [0-9]+: ")'
	output_jq -s '.[1].error.input == "{\"broken\": "'
}

@test "a JSON value that is not an object is an error record" {
	run --separate-stderr mas-analyze < <(echo '[1,2,3]'; echo '"text"'; echo 42)
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 3 ]
	output_jq -s '.[0].error.message == "line 1: expected a JSON object, got an array"'
	output_jq -s '.[1].error.message | endswith("got a string")'
	output_jq -s '.[2].error.line == 3'
}

@test "invalid UTF-8 is an error record with the byte offset" {
	run --separate-stderr mas-analyze < <(printf '{"x":"\xff\xfe"}\n'; tiny_task ok)
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 2 ]
	output_jq -s '.[0].error.message == "line 1: invalid UTF-8 at byte 7"'
	output_jq -s '.[1].id == "ok"'
}

@test "empty and blank lines are skipped but counted for line numbers" {
	run --separate-stderr mas-analyze < <(printf '\n   \n'; tiny_task a; printf '\r\n\n'; echo 'oops')
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 2 ]
	output_jq -s '.[1].error.line == 6'
}

@test "CRLF line endings are accepted" {
	run --separate-stderr mas-analyze < <(tiny_task a | sed 's/$/\r/')
	[ "$status" -eq 0 ]
	output_jq '.id == "a"'
}

@test "a 10 MB line is processed whole" {
	pad=$(head -c 10000000 /dev/zero | tr '\0' 'x')
	printf '{"id":"big","pad":"%s","analysis_type":"describe","data":{"x":[1,2,3]}}\n' "$pad" > "$BATS_TEST_TMPDIR/big.jsonl"
	tiny_task after >> "$BATS_TEST_TMPDIR/big.jsonl"
	run --separate-stderr mas-analyze "$BATS_TEST_TMPDIR/big.jsonl"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -r '.pad | length' | head -1)" -eq 10000000 ]
	output_jq -s '.[1].id == "after"'
}

@test "a huge bad line is reported without echoing all of it" {
	pad=$(head -c 200000 /dev/zero | tr '\0' 'x')
	run --separate-stderr mas-analyze < <(printf '{"a":%s}\n' "$pad")
	[ "$status" -eq 1 ]
	output_jq '.error.input_truncated == true and (.error.input | length) == 65536'
	output_jq '(.error.message | length) < 200'
}

@test "files named as arguments are read in order, - is stdin" {
	tiny_task f1 > "$BATS_TEST_TMPDIR/one.jsonl"
	tiny_task f2 > "$BATS_TEST_TMPDIR/two.jsonl"
	run --separate-stderr mas-analyze "$BATS_TEST_TMPDIR/one.jsonl" - "$BATS_TEST_TMPDIR/two.jsonl" < <(tiny_task stdin)
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -r .id | paste -sd,)" = "f1,stdin,f2" ]
}

@test "a bad line in a named file carries the file name" {
	echo 'nope' > "$BATS_TEST_TMPDIR/bad.jsonl"
	run --separate-stderr mas-analyze "$BATS_TEST_TMPDIR/bad.jsonl"
	[ "$status" -eq 1 ]
	output_jq --arg f "$BATS_TEST_TMPDIR/bad.jsonl" '.error.file == $f'
}

@test "a missing input file exits 2 naming it, after reading the others" {
	tiny_task ok > "$BATS_TEST_TMPDIR/ok.jsonl"
	run --separate-stderr mas-analyze "$BATS_TEST_TMPDIR/nope.jsonl" "$BATS_TEST_TMPDIR/ok.jsonl"
	[ "$status" -eq 2 ]
	[ "$stderr" = "mas-analyze: error: $BATS_TEST_TMPDIR/nope.jsonl: No such file or directory" ]
	output_jq '.id == "ok"'
}

@test "order is kept over 100,000 records" {
	seq 100000 | awk '{printf "{\"id\":%d,\"analysis_type\":\"describe\",\"data\":{\"x\":[1,%d]}}\n", $1, $1}' > "$BATS_TEST_TMPDIR/many.jsonl"
	run --separate-stderr bash -c "mas-analyze '$BATS_TEST_TMPDIR/many.jsonl' | jq -r '[.id, .analysis.summary.x.max] | @tsv' | awk -F'\t' '\$1 != NR || \$2 != NR { bad++ } END { print NR, bad + 0 }'"
	[ "$status" -eq 0 ]
	[ "$output" = "100000 0" ]
}

@test "a closed stdout ends the program quietly" {
	seq 20000 | awk '{printf "{\"id\":%d,\"analysis_type\":\"describe\",\"data\":{\"x\":[1,2]}}\n", $1}' > "$BATS_TEST_TMPDIR/many.jsonl"
	run --separate-stderr bash -c "set -o pipefail; mas-analyze '$BATS_TEST_TMPDIR/many.jsonl' | head -1"
	[ "$status" -eq 141 ]
	[ -z "$stderr" ]
	[ "$(line_count)" -eq 1 ]
}

@test "a full disk is a write error: exit 74 with a message" {
	run --separate-stderr bash -c "mas-analyze < <(printf '%s\n' '$(tiny_task a)') > /dev/full"
	[ "$status" -eq 74 ]
	[[ "$stderr" == *"write error: No space left on device"* ]]
}

@test "output is flushed before waiting for more input" {
	# The first result must arrive while the writer is still asleep.
	run --separate-stderr bash -c "( $(declare -f tiny_task); tiny_task first; sleep 6; tiny_task second ) | mas-analyze | { IFS= read -r -t 4 line && echo \"\$line\"; }"
	[ "$status" -eq 0 ]
	output_jq '.id == "first"'
}

@test "--input selects the agent's input and --output-key places the result" {
	run --separate-stderr mas-analyze --input .task --output-key result < <(echo '{"id":"n","task":{"analysis_type":"describe","data":{"x":[4,6]}},"keep":true}')
	[ "$status" -eq 0 ]
	output_jq '.result.summary.x.mean == 5 and .keep == true and .task.data.x == [4,6] and (has("analysis") | not)'
}

@test "--input that fails on a record is an error record naming the expression" {
	run --separate-stderr mas-analyze --input '.task | error("no task")' < <(tiny_task a)
	[ "$status" -eq 1 ]
	output_jq '.error.message == "--input '"'"'.task | error(\"no task\")'"'"': no task"'
	run --separate-stderr mas-analyze --input 'empty' < <(tiny_task a)
	[ "$status" -eq 1 ]
	output_jq '.error.message | endswith("no value")'
}

@test "--input that does not compile is a usage error quoting it" {
	run --separate-stderr mas-analyze --input '.a[' < /dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == "mas-analyze: error: --input '.a[': syntax error"* ]]
	[ -z "$output" ]
}

@test "an unknown option is a usage error with status 2" {
	run --separate-stderr mas-analyze --no-such-option
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"unrecognized option '--no-such-option'"* ]]
}

@test "--help and --version exit 0 and print to stdout" {
	run --separate-stderr mas-analyze --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--output-key"* ]]
	run --separate-stderr mas-analyze --version
	[ "$status" -eq 0 ]
	[[ "$output" == "mas-analyze "[0-9]* ]]
}

@test "a bad --log-level is a usage error" {
	run --separate-stderr mas-analyze --log-level loud
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--log-level: 'loud' is not one of error, warn, info, debug"* ]]
}

@test "MAS_LOG_FORMAT=json logs JSON lines on stderr" {
	MAS_LOG_FORMAT=json run --separate-stderr mas-analyze "$BATS_TEST_TMPDIR/absent"
	[ "$status" -eq 2 ]
	printf '%s\n' "$stderr" | jq -e '.level == "error" and .program == "mas-analyze" and (.message | endswith("No such file or directory"))'
}

@test "--quiet silences warnings, NO_COLOR and a non-terminal keep plain text" {
	printf 'bogus.key = 1\n' > "$XDG_CONFIG_HOME/cfg"
	run --separate-stderr mas-analyze --config "$XDG_CONFIG_HOME/cfg" < <(tiny_task a)
	[ "$status" -eq 0 ]
	[ "$stderr" = "mas-analyze: warning: $XDG_CONFIG_HOME/cfg:1: unknown key 'bogus.key', ignored" ]
	run --separate-stderr mas-analyze --quiet --config "$XDG_CONFIG_HOME/cfg" < <(tiny_task a)
	[ -z "$stderr" ]
}

@test "numeric ids are written back as the input wrote them, through every kind of program" {
	ids='9007199254740993 123456789012345678901234567890123456789012345678901234567890 1e999 1.0 -0 42 1.5e3'
	for id in $ids; do
		printf '{"id":%s,"analysis_type":"describe","data":{"x":[1,2,3]},"type":"a"}\n' "$id"
	done >"$BATS_TEST_TMPDIR/in"
	want=$(printf '%s\n' $ids)
	run --separate-stderr mas-analyze "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | sed 's/^{"id":\([^,]*\),.*/\1/')" = "$want" ]
	printf 'node a jq .x = 1\nnode b run cat\nstart -> a\na -> b\nb -> end\n' \
		>"$BATS_TEST_TMPDIR/f.flow"
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/f.flow" \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | sed 's/^{"id":\([^,]*\),.*/\1/')" = "$want" ]
	run --separate-stderr mas-bus route --to 'a=jq -c --unbuffered .' \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | sed 's/^{"id":\([^,]*\),.*/\1/')" = "$want" ]
	# a program that changes the id's value writes its own
	printf 'node a jq .id += 1\nstart -> a\na -> end\n' >"$BATS_TEST_TMPDIR/g.flow"
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/g.flow" \
		<<<'{"id":1.0}'
	[[ "$output" == '{"id":2,'* ]]
}
