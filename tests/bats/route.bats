#!/usr/bin/env bats
# mas-bus route: records dispatched to co-process filters by a field, the
# answers merged back in input order, and what a broken route leaves.

load helpers

setup() {
	common_setup
}

# N records {"id":"rI","type":"a"|"b","n":I}: every THIRD one (default
# 2: every other one) of type b.
records() {
	awk -v n="$1" -v third="${2:-2}" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "{\"id\":\"r%d\",\"type\":\"%s\",\"n\":%d}\n",
				i, i % third ? "a" : "b", i }'
}

# One line per output record: its id, and its error's route and whether
# it is transient, or "ok".
summary() {
	printf '%s\n' "$output" | jq -r 'if .error then [.id, .error.route,
		.error.transient] | map(tostring) | join(" ") else
		(.id // "-") + " ok" end'
}

@test "route: a slow and a fast route mixed keep input order" {
	records 300 3 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route --to b=cat --to 'a=while IFS= \
		read -r line; do sleep 0.005; printf "%s\n" "$line"; done' \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	diff <(printf '%s\n' "$output") "$BATS_TEST_TMPDIR/in"
	[ -z "$stderr" ]
}

@test "route: a route killed mid-way fails its records by id" {
	records 10 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route --to b=cat \
		--to 'a=head -n 2; kill -9 $$' "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 1 ]
	diff <(summary) - <<-'EOF'
	r1 ok
	r2 ok
	r3 ok
	r4 ok
	r5 a false
	r6 ok
	r7 a false
	r8 ok
	r9 a false
	r10 ok
	EOF
	output_jq -s '[.[] | select(.error)] | all(.error.code ==
		"UPSTREAM_ERROR" and (.error.message |
		test("^route a was killed by signal 9")))'
	output_jq -s '[.[] | select(.error | not)] == [.[] |
		select(.error | not) | {id, type, n}]'
	[[ "$stderr" == *"route a was killed by signal 9"* ]]
}

@test "route: a route that ends early fails what it owes, exit 1" {
	records 4 100 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route --to 'a=head -n 1' \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 1 ]
	diff <(summary) - <<-'EOF'
	r1 ok
	r2 a false
	r3 a false
	r4 a false
	EOF
	output_jq -s '.[1].error.message ==
		"route a exited with status 0 without answering"'
}

@test "route: a line that is not JSON is an error record with the id" {
	records 3 100 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route \
		--to 'a=awk "{ print (NR == 2 ? \"oops\" : \$0); fflush() }"' \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 1 ]
	diff <(summary) - <<-'EOF'
	r1 ok
	r2 a false
	r3 ok
	EOF
	output_jq -s '.[1].error.message ==
		"route a answered a line that is not JSON: oops"'
}

@test "route: JSON that is not an object is an answer too" {
	printf '%s\n' '{"kind":"x","n":1}' '{"kind":"y","n":2}' \
		>"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route --by .kind --to x=cat \
		--to 'y=jq --unbuffered -c .n' "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = 2 ]
	output_jq -s '.[0] | del(.id) == {"kind":"x","n":1}'
}

@test "route: two lines for one record shift no later answer" {
	records 3 100 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route --to 'a=sed -u 1p' \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 1 ]
	diff <(summary) - <<-'EOF'
	r1 ok
	r2 ok
	r3 ok
	EOF
	[[ "$stderr" == *'route a: a second answer for record "r1" dropped'* ]]
}

@test "route: a record skipped by its route fails alone" {
	records 3 100 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route --to 'a=sed -u 2d' \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 1 ]
	diff <(summary) - <<-'EOF'
	r1 ok
	r2 a false
	r3 ok
	EOF
	output_jq -s '.[1].error.message | test("gave no answer")'
}

@test "route: an answer with another record's id is an error" {
	records 2 100 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route \
		--to 'a=jq -c --unbuffered ".id = \"other\""' \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 1 ]
	diff <(summary) - <<-'EOF'
	r1 a false
	r2 a false
	EOF
	output_jq -s 'all(.error.message |
		test("answered for another record"))'
}

@test "route: answers without an id get the record's, error answers pass" {
	printf '%s\n' '{"id":"r1","type":"a","n":1}' '{"type":"a","n":2}' \
		'{"id":7,"type":"a","n":3}' >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route \
		--to 'a=jq -c --unbuffered "if .n != 2 then {double: (.n * 2)}
			else {error: {code: \"X\", message: \"no\"}} end"' \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 1 ]
	# a record without an id was given one, and its answer has it
	output_jq -s '(.[1].id | test("^[0-9A-Z]{26}$")) and
		([.[] | del(.id)] == [{"double": 2}, {"error": {"code": "X",
		"message": "no"}}, {"double": 6}]) and .[0].id == "r1" and
		.[2].id == 7'
	[ "${lines[0]}" = '{"id":"r1","double":2}' ]
	[ "${lines[2]}" = '{"id":7,"double":6}' ]
}

@test "route: --by giving no route name is an error record with the id" {
	printf '%s\n' '{"id":"r1","type":"a"}' '{"id":"r2"}' \
		'{"id":"r3","type":"nowhere"}' '{"id":"r4","type":7}' \
		'{"type":"a","n":5}' >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route --to a=cat "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 1 ]
	diff <(summary | sed 's/^[0-9A-Z]\{26\} /ULID /') - <<-'EOF'
	r1 ok
	r2 null null
	r3 null null
	r4 null null
	ULID ok
	EOF
	output_jq -s '.[1].error.message ==
		"line 2: --by \u0027.type\u0027 gave no route name"'
	output_jq -s '.[2].error.message ==
		"line 3: no route named \u0027nowhere\u0027"'
	# the record comes out whole, with its error
	output_jq -s 'all(.[1:4][]; .error.code == "INVALID_REQUEST") and
		.[2].type == "nowhere" and .[3].type == 7 and
		(.[4] | del(.id)) == {"type": "a", "n": 5}'
	echo '{"id":"r1","type":"a"}' >"$BATS_TEST_TMPDIR/in"
	run -1 --separate-stderr mas-bus route --by .type.x --to a=cat \
		"$BATS_TEST_TMPDIR/in"
	output_jq '.id == "r1" and
		(.error.message | test("--by .\\.type\\.x.: "))'
}

@test "route: filters that read ahead or answer at end of input still answer" {
	records 3 100 >"$BATS_TEST_TMPDIR/in"
	# mawk reads ahead; this shell reads everything before it answers
	run --separate-stderr mas-bus route --to 'a=mawk "{ print }"' \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	diff <(printf '%s\n' "$output") "$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route \
		--to 'a=cat > "$BATS_TEST_TMPDIR/all"; cat "$BATS_TEST_TMPDIR/all"' \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	diff <(printf '%s\n' "$output") "$BATS_TEST_TMPDIR/in"
	printf '{"id":"r1","type":"a"}\n' >"$BATS_TEST_TMPDIR/in"
	run -1 --separate-stderr mas-bus route \
		--to 'a=sh -c "cat > /dev/null; echo done"' \
		"$BATS_TEST_TMPDIR/in"
	output_jq '.id == "r1" and .error.message ==
		"route a answered a line that is not JSON: done"'
}

@test "route: a silent route is killed with its children after --timeout" {
	records 4 2 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr timeout 20 mas-bus route --timeout 0.5 \
		--to b=cat --to 'a=sleep 1000 & echo $! > "$BATS_TEST_TMPDIR/pid";
			wait' "$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 75 ]
	diff <(summary) - <<-'EOF'
	r1 a true
	r2 ok
	r3 a true
	r4 ok
	EOF
	output_jq -s '[.[0, 2].error.code] == ["TIMEOUT", "TIMEOUT"] and
		(.[0].error.message | test("gave no answer within 0.5 s"))'
	# the route's own child went with it (allowing for its reaping)
	gone "$(cat "$BATS_TEST_TMPDIR/pid")"
}

@test "route: a route that answers all but ignores end of input is killed after --timeout" {
	records 3 100 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr timeout 20 mas-bus route --timeout 0.5 \
		--to 'a=while read -r l; do echo "$l"; done; sleep 1000' \
		"$BATS_TEST_TMPDIR/in"
	# every record answered; the route that would not end is a failure
	[ "$status" -eq 1 ]
	diff <(printf '%s\n' "$output") "$BATS_TEST_TMPDIR/in"
}

@test "route: 100,000 records through two cat routes, count and order" {
	records 100000 >"$BATS_TEST_TMPDIR/in"
	mas-bus route --to a=cat --to b=cat "$BATS_TEST_TMPDIR/in" \
		>"$BATS_TEST_TMPDIR/out"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq 100000 ]
	cmp "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/in"
}

@test "route: a route that cannot run fails every record sent to it" {
	records 2 100 >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr mas-bus route \
		--to a=/nonexistent/filter \
		"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 1 ]
	output_jq -s 'map(.id) == ["r1", "r2"] and all(.error.message |
		test("^route a exited with status 127"))'
}
