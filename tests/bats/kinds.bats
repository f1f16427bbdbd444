#!/usr/bin/env bats
# Fields of the wrong kind, through the real programs: every record comes
# out, as itself or as an error record naming the field, and no program
# aborts (libjq asserts on the kind of what it is asked about; mas checks
# first).  Each program gets, in one run, its example record with every
# field, and every well-known field it lacks, set to a value of each
# kind in turn.

load helpers

KB=examples/kb.jsonl

setup() {
	common_setup
	export MAS_STATE_DIR="$BATS_TEST_TMPDIR/state"
}

# mutate RECORD FIELD...: one record per path of RECORD and per FIELD,
# with a value of each kind there.
mutate() {
	local names
	names=$(printf '%s\n' "${@:2}" | jq -R . | jq -sc .)
	jq -c --argjson names "$names" '
		def kinds: [42, -1, 1e300, "s", "", [1], ["s"], [[1]], [],
		            {"a": 1}, {}, [{"a": 1}], null, true];
		. as $r
		| ([paths] + ($names | map([.]))) | unique | .[] as $p
		| kinds[] as $k | $r | try setpath($p; $k) catch empty' <<<"$1"
}

# every_line_out IN: the run wrote one JSON object with an id per line
# of IN, and exited 0 or 1.
every_line_out() {
	[ "$status" -eq 0 ] || [ "$status" -eq 1 ]
	[ "$(line_count)" -eq "$(grep -c '' "$1")" ]
	output_jq -s 'all(.[]; type == "object" and has("id"))'
}

@test "kinds: mas-chat" {
	mutate '{"id":"c","message":"I want a refund for my pro plan","user_id":"u","session_id":"s","context":{"lang":"en","history":[{"role":"user","content":"hi"}],"customer":{"tier":"pro"}}}' \
		message user_id session_id context meta error >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-chat -k "$KB" "$BATS_TEST_TMPDIR/in"
	every_line_out "$BATS_TEST_TMPDIR/in"
}

@test "kinds: mas-research" {
	mutate '{"id":"r","query":"energy storage batteries","priority":"high","context":{"depth":"brief","max_sources":3,"language":"en"}}' \
		query priority context meta error >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-research --corpus examples/corpus \
		"$BATS_TEST_TMPDIR/in"
	every_line_out "$BATS_TEST_TMPDIR/in"
}

@test "kinds: mas-analyze" {
	{
		mutate '{"id":"a","data_source":"user_behavior","analysis_type":"comprehensive","parameters":{"time_range":"last_30_days","prediction_horizon":"next_7_days","metrics":["engagement"],"time_field":"date"}}' \
			data data_source analysis_type parameters
		mutate '{"id":"b","data":[{"date":"2024-01-01","v":1},{"date":"2024-01-02","v":2},{"date":"2024-01-03","v":4}],"analysis_type":"trend"}' \
			parameters
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-analyze --data-dir examples/data \
		"$BATS_TEST_TMPDIR/in"
	every_line_out "$BATS_TEST_TMPDIR/in"
}

@test "kinds: mas-flow's agent nodes, and mas-bus route" {
	cat >"$BATS_TEST_TMPDIR/agents.flow" <<-EOF
	node c  on_error=r agent chat --kb $KB
	node r  on_error=a agent research --corpus examples/corpus
	node a  agent analyze --data-dir examples/data
	start -> c
	c -> r
	r -> a
	a -> end
	EOF
	mutate '{"id":"f","message":"hi","query":"battery","data":[{"v":1},{"v":2}],"type":"x"}' \
		context parameters session_id >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/agents.flow" \
		"$BATS_TEST_TMPDIR/in"
	every_line_out "$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route --to x=cat --to s=cat \
		"$BATS_TEST_TMPDIR/in"
	every_line_out "$BATS_TEST_TMPDIR/in"
}

@test "kinds: each field named in its error, exit 1" {
	check() { # PROGRAM... -- RECORD MESSAGE
		local record=${*: -2:1} message=${*: -1}
		run --separate-stderr "${@:1:$#-2}" <<<"$record"
		[ "$status" -eq 1 ]
		output_jq --arg m "$message" '.error.code == "INVALID_REQUEST"
			and (.error.message | startswith($m))'
	}
	check mas-research --corpus examples/corpus '{"query":42}' \
		"query: expected a string"
	check mas-research --corpus examples/corpus \
		'{"query":"x","context":"s"}' "context: expected an object"
	check mas-chat -k "$KB" '{"message":{"a":1}}' \
		"message: expected a string"
	check mas-chat -k "$KB" '{"message":"hi","session_id":7}' \
		"session_id: expected a string"
	check mas-chat -k "$KB" '{"message":"hi","context":"s"}' \
		"context: expected an object"
	check mas-analyze '{"data":"x"}' "data: expected an array"
	check mas-analyze '{"data":[{"v":1}],"parameters":[1]}' \
		"parameters: expected an object"
	check mas-chat -k "$KB" --input '.n' '{"n":5}' \
		"input: expected an object, got number"
	check mas-analyze --input '.n' '{"n":5}' \
		"input: expected an object, got number"
	check mas-research --corpus examples/corpus --input '.n' '{"n":5}' \
		"input: expected an object or a string, got number"
}
