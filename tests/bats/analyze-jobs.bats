#!/usr/bin/env bats
# mas-analyze --jobs: records and series groups analysed on several
# threads come out as --jobs 1 writes them, byte for byte, in input order,
# bad records in their place.

load helpers

setup() {
	common_setup
	export MAS_DATA_DIR="$DATA"
}

# series-gen's lines (tests/helpers/series-gen.c) as tasks, as
# tests/bench/bench-forecast.sh makes them.
series_tasks() {
	series-gen "$1" "$2" 7 | awk '{
		printf "{\"id\":\"%s\",\"analysis_type\":\"comprehensive\"," \
		       "\"parameters\":{\"prediction_horizon\":%d", $1, $3
		if ($2 > 1)
			printf ",\"seasonal_period\":%d", $2
		printf "},\"data\":{\"y\":["
		for (i = 5; i < 5 + $4; i++)
			printf "%s%s", (i > 5 ? "," : ""), $i
		printf "]}}\n"
	}'
}

# The output of the last run without its clock readings.
unstamped() {
	printf '%s\n' "$output" |
		sed -E 's/"(created|completed)_at":"[^"]*"/"\1_at":""/g'
}

@test "--jobs 2 and 3 write what --jobs 1 writes, byte for byte: shipped tasks and generated series" {
	{
		cat examples/tasks.jsonl
		series_tasks daily 12
		series_tasks yearly 12
		series_tasks hourly 2
	} > "$BATS_TEST_TMPDIR/tasks.jsonl"
	run --separate-stderr mas-analyze --jobs 1 "$BATS_TEST_TMPDIR/tasks.jsonl"
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 32 ]
	unstamped > "$BATS_TEST_TMPDIR/one"
	for jobs in 2 3; do
		run --separate-stderr mas-analyze --jobs "$jobs" "$BATS_TEST_TMPDIR/tasks.jsonl"
		[ "$status" -eq 0 ]
		[ -z "$stderr" ]
		unstamped | cmp - "$BATS_TEST_TMPDIR/one"
	done
	# the default (the processors online) too
	run --separate-stderr mas-analyze "$BATS_TEST_TMPDIR/tasks.jsonl"
	unstamped | cmp - "$BATS_TEST_TMPDIR/one"
}

@test "a slow record first: the fast ones after it wait for it, in input order" {
	{
		series_tasks hourly 1
		for i in $(seq 20); do tiny_task "t$i"; done
	} > "$BATS_TEST_TMPDIR/tasks.jsonl"
	run --separate-stderr mas-analyze --jobs 2 "$BATS_TEST_TMPDIR/tasks.jsonl"
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 21 ]
	want="$(head -1 "$BATS_TEST_TMPDIR/tasks.jsonl" | jq -r .id),$(seq -f 't%g' 20 | paste -sd,)"
	[ "$(printf '%s\n' "$output" | jq -r .id | paste -sd,)" = "$want" ]
}

@test "bad records among many keep their place with their error, as with --jobs 1" {
	{
		series_tasks daily 5
		echo '{"id":"bad-json",'
		series_tasks yearly 5
		echo '{"id":"no-source","data_source":"nowhere"}'
		echo '{"id":"bad-type","analysis_type":"guess","data":{"y":[1,2,3]}}'
		series_tasks daily 5 | tail -2
	} > "$BATS_TEST_TMPDIR/tasks.jsonl"
	run --separate-stderr mas-analyze --jobs 1 "$BATS_TEST_TMPDIR/tasks.jsonl"
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 15 ]
	unstamped | jq -c 'del(.id | select(test("^[0-9A-Z]{26}$")))' \
		> "$BATS_TEST_TMPDIR/one"
	run --separate-stderr mas-analyze --jobs 2 "$BATS_TEST_TMPDIR/tasks.jsonl"
	[ "$status" -eq 1 ]
	unstamped | jq -c 'del(.id | select(test("^[0-9A-Z]{26}$")))' |
		cmp - "$BATS_TEST_TMPDIR/one"
	output_jq -s '.[5].error.code == "INVALID_REQUEST" and .[5].error.line == 6'
	output_jq -s '.[11].id == "no-source" and .[11].error.code == "NOT_FOUND"'
	output_jq -s '.[12].id == "bad-type" and (.[12].error.message | test("analysis_type"))'
	output_jq -s '[.[] | select(.error)] | length == 3'
	output_jq -s '[.[] | select(.analysis.status == "completed")] | length == 12'
}

@test "series mode: groups analysed on threads come out as with --jobs 1, in order of first appearance" {
	awk 'BEGIN {
		for (i = 0; i < 2400; i++)
			printf "{\"ts\":%d,\"host\":\"h%02d\",\"cpu\":%.2f}\n",
			       1767225600 + int(i / 24) * 3600, (i * 7) % 24,
			       50 + 20 * sin(i / 24 / 24 * 6.283) + (i * 7919 % 13) + i % 24
	}' > "$BATS_TEST_TMPDIR/rows.jsonl"
	run --separate-stderr mas-analyze --jobs 1 --series --by host "$BATS_TEST_TMPDIR/rows.jsonl"
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 24 ]
	unstamped | jq -c 'del(.id)' > "$BATS_TEST_TMPDIR/one"
	run --separate-stderr mas-analyze --jobs 3 --series --by host "$BATS_TEST_TMPDIR/rows.jsonl"
	[ "$status" -eq 0 ]
	unstamped | jq -c 'del(.id)' | cmp - "$BATS_TEST_TMPDIR/one"
	[ "$(printf '%s\n' "$output" | jq -r .group.host | paste -sd,)" = "$(awk 'BEGIN { for (i = 0; i < 24; i++) printf "%sh%02d", i ? "," : "", (i * 7) % 24 }')" ]
	# the ids are new and still in order
	[ "$(printf '%s\n' "$output" | jq -r .id | sort -c && echo sorted)" = sorted ]
}

@test "--jobs out of range is a usage error" {
	run --separate-stderr mas-analyze --jobs 0 </dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *--jobs* ]]
}
