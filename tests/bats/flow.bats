#!/usr/bin/env bats
# mas-flow(1): the file format of mas-flow(5), every problem `check`
# reports, `graph` in both formats, `run` with jq, run, flow (subgraph)
# and agent nodes, conditional edges, bounded loops, node options, broken
# filters and order; checkpoints, runs, show, gc and the joblog.

load helpers

setup() {
	common_setup
	FLOWS="$TOP/tests/flows"
	TRIAGE="$TOP/examples/flows/triage.flow"
}

# Write stdin to $BATS_TEST_TMPDIR/$1.flow.
flow_file() {
	cat >"$BATS_TEST_TMPDIR/$1.flow"
}

@test "check: the shipped flows are sound" {
	for flow in examples/flows/*.flow; do
		run --separate-stderr mas-flow check "$flow"
		[ "$status" -eq 0 ]
		[ -z "$output" ]
		[ -z "$stderr" ]
	done
}

@test "check: every problem as file:line: message, exit 2" {
	run --separate-stderr mas-flow check "$FLOWS/errors.flow"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	f="$FLOWS/errors.flow"
	grep -qxF "$f:3: duplicate node 'a' (first at line 2)" <<<"$stderr"
	grep -qF "$f:4: node 'b': jq expression '.x |||' does not compile" \
		<<<"$stderr"
	grep -qxF "$f:5: node 'c': command 'no-such-command-for-mas-flow' not found on PATH" \
		<<<"$stderr"
	grep -qF "$f:7: node 'f': unknown kind 'frob'" <<<"$stderr"
	grep -qF "$f:11: if: jq expression '.x ==' does not compile" \
		<<<"$stderr"
	grep -qxF "$f:10: unknown node 'zz'" <<<"$stderr"
	grep -qxF "$f:6: node 'd' is unreachable from start" <<<"$stderr"
	grep -qxF "$f:5: node 'c' is unreachable from start" <<<"$stderr"
	grep -qxF "$f:7: node 'f' is unreachable from start" <<<"$stderr"
	grep -qxF "$f:8: node 'g' has no path to end" <<<"$stderr"
	[ "$(grep -c . <<<"$stderr")" -eq 10 ]
}

@test "check: a flow without a start edge, and syntax errors" {
	flow_file bare <<-'EOF'
	node a jq '.'
	a -> end
	a => end
	a -> end when .x
	a -> end if .x max 0
	node
	EOF
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/bare.flow"
	[ "$status" -eq 2 ]
	grep -qF "bare.flow: no edge from start" <<<"$stderr"
	grep -qF "bare.flow:1: node 'a' is unreachable from start" \
		<<<"$stderr"
	grep -qF "bare.flow:3: expected 'node NAME ...' or" <<<"$stderr"
	grep -qF "bare.flow:4: expected 'if EXPR' or 'max N'" <<<"$stderr"
	grep -qF "bare.flow:5: max: '0' is not a count" <<<"$stderr"
	grep -qF "bare.flow:6: node: expected 'node NAME [OPTION=VALUE ...] KIND ...'" \
		<<<"$stderr"
}

@test "check: an unreadable file is exit 2 with its name" {
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/none.flow"
	[ "$status" -eq 2 ]
	grep -qF "none.flow: No such file or directory" <<<"$stderr"
}

@test "usage: a wrong verb, a missing file, a wrong format are exit 2" {
	run --separate-stderr mas-flow frob "$TRIAGE"
	[ "$status" -eq 2 ]
	grep -qF "'frob' is not a verb" <<<"$stderr"
	run --separate-stderr mas-flow check
	[ "$status" -eq 2 ]
	run --separate-stderr mas-flow graph --format png "$TRIAGE"
	[ "$status" -eq 2 ]
	grep -qF "'png' is not dot or mermaid" <<<"$stderr"
}

@test "comments, blank lines, quotes and trailing comments parse" {
	flow_file quoted <<-'EOF'
	# a comment

	   # an indented comment
	node say run printf '%s\n' '{"said": "it'"'"'s # not a comment"}' # one
	node add jq .x = 1
	start -> add
	add -> end
	say -> end
	start -> say if false
	EOF
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/quoted.flow"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/quoted.flow" \
		<<<'{"id":"r"}'
	[ "$status" -eq 0 ]
	output_jq '.x == 1 and .id == "r"'
}

@test "graph: DOT by default, with conditions and bounds on edges" {
	run --separate-stderr mas-flow graph "$TRIAGE"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "digraph flow {" ]
	grep -qxF $'\t"score" -> "bump" [label="if .score < 5 max 2"];' \
		<<<"$output"
	grep -qxF $'\t"stamp" -> "end";' <<<"$output"
	grep -qxF $'\t"start" -> "score";' <<<"$output"
	[ "${lines[-1]}" = "}" ]
	mas-flow graph "$TRIAGE" | dot -Tsvg >/dev/null
}

@test "graph: Mermaid, where end is a keyword" {
	run --separate-stderr mas-flow graph --format mermaid "$TRIAGE"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "flowchart TD" ]
	grep -qxF $'\tscore -->|"if .score < 5 max 2"| bump' <<<"$output"
	grep -qxF $'\tstamp --> __end__' <<<"$output"
	run mas-flow graph -f mermaid "$FLOWS/run.flow"
	grep -qF 'double["double (run)"]' <<<"$output"
}

@test "graph: on_error routes are drawn dashed and labelled, in DOT and Mermaid" {
	cat >"$BATS_TEST_TMPDIR/err.flow" <<-'EOF'
	node fetch  on_error=fallback run false
	node fallback  jq '.fell = true'
	start -> fetch
	fetch -> end
	fallback -> end
	EOF
	run --separate-stderr mas-flow graph "$BATS_TEST_TMPDIR/err.flow"
	[ "$status" -eq 0 ]
	grep -qxF $'\t"fetch" -> "fallback" [style=dashed, label="on error"];' \
		<<<"$output"
	mas-flow graph "$BATS_TEST_TMPDIR/err.flow" | dot -Tsvg >/dev/null
	run --separate-stderr mas-flow graph -f mermaid "$BATS_TEST_TMPDIR/err.flow"
	grep -qxF $'\tfetch -.->|"on error"| fallback' <<<"$output"
}

@test "graph: a broken flow is not drawn" {
	run --separate-stderr mas-flow graph "$FLOWS/errors.flow"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
}

@test "run: jq nodes, first matching edge, bounded loop, meta.flow path" {
	run --separate-stderr mas-flow run "$TRIAGE" <<-'EOF'
	{"id":"a","text":"hello"}
	{"id":"b","text":"fire!!!!!"}
	{"id":"c","text":"x"}
	EOF
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(line_count)" -eq 3 ]
	# a: 5 -> normal; b: 9 -> urgent; c: 1, bumped twice (max 2) to 7,
	# then the next edge that matches -> normal
	output_jq -s 'map(.queue) == ["normal","urgent","normal"]'
	output_jq -s 'map(.bumps) == [null, null, 2]'
	output_jq -s '.[2].meta.flow | map(.node) ==
		["score","bump","score","bump","score","normal","stamp"]'
	output_jq -s 'all(.[].meta.flow[]; (.ms | type) == "number" and .ms >= 0)'
}

@test "run: meta keeps its other fields" {
	run --separate-stderr mas-flow run "$TRIAGE" \
		<<<'{"id":"m","meta":{"source":"mail"}}'
	[ "$status" -eq 0 ]
	output_jq '.meta.source == "mail" and (.meta.flow | length) == 7'
}

@test "run: records from files named after the flow" {
	printf '{"id":"1"}\n' >"$BATS_TEST_TMPDIR/one.jsonl"
	printf '{"id":"2"}\n' >"$BATS_TEST_TMPDIR/two.jsonl"
	run --separate-stderr mas-flow run "$TRIAGE" \
		"$BATS_TEST_TMPDIR/one.jsonl" "$BATS_TEST_TMPDIR/two.jsonl"
	[ "$status" -eq 0 ]
	output_jq -s 'map(.id) == ["1","2"]'
}

@test "run: run nodes are co-processes started once, argv without a shell" {
	run --separate-stderr mas-flow run "$FLOWS/run.flow" <<-'EOF'
	{"id":"a","n":1}
	{"id":"b","n":21}
	EOF
	[ "$status" -eq 0 ]
	output_jq -s 'map(.n) == [2, 42]'
	output_jq -s 'all(.note == "a b" and .seen)'
	output_jq -s '.[0].meta.flow | map(.node) == ["double","pass","mark"]'
}

@test "run: a filter that dies is an error naming the node, and restarts" {
	run --separate-stderr mas-flow run "$FLOWS/crash.flow" <<-'EOF'
	{"id":"a","n":1}
	{"id":"b","n":1}
	{"id":"c","n":1}
	EOF
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 3 ]
	output_jq -s '.[0].error == null and .[2].error == null'
	output_jq -s '.[1].error.node == "once"'
	output_jq -s '.[1].error.message ==
		"node '"'once'"': command '"'sh'"' exited with status 3"'
}

@test "run: a line that is not JSON is an error with the node and the line" {
	run --separate-stderr mas-flow run "$FLOWS/crash.flow" \
		<<<'{"id":"z","n":2}'
	[ "$status" -eq 1 ]
	output_jq '.error.node == "nonsense"'
	output_jq '.error.message | test("not JSON.*: nope$")'
}

@test "run: a command that exits at once is an error, not a hang" {
	flow_file gone <<-EOF
	node gone run $BATS_TEST_TMPDIR/gone
	start -> gone
	gone -> end
	EOF
	printf '#!/bin/sh\nexit 0\n' >"$BATS_TEST_TMPDIR/gone"
	chmod +x "$BATS_TEST_TMPDIR/gone"
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/gone.flow" \
		<<<'{"id":"g"}'
	[ "$status" -eq 1 ]
	output_jq '.error.message | test("gone'"'"' exited with status 0$")'
}

@test "run: the recursion limit stops an unbounded loop" {
	run --separate-stderr mas-flow run "$FLOWS/loop.flow" <<<'{"n":0}'
	[ "$status" -eq 1 ]
	output_jq '.n == 25 and (.meta.flow | length) == 25'
	output_jq '.error.message ==
		"recursion limit of 25 steps reached before node '"'count'"'"'
	run --separate-stderr mas-flow run --recursion-limit 3 \
		"$FLOWS/loop.flow" <<<'{"n":0}'
	output_jq '.n == 3'
}

@test "run: jq errors and no matching edge are record errors" {
	flow_file fail <<-'EOF'
	node boom jq 'error("bad \(.id)")'
	node none jq 'empty'
	node flat jq '1'
	node stuck jq '.'
	start -> boom if .k == "boom"
	start -> none if .k == "none"
	start -> flat if .k == "flat"
	start -> stuck
	stuck -> end if .k == "never"
	boom -> end
	none -> end
	flat -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/fail.flow" <<-'EOF'
	{"id":"1","k":"boom"}
	{"id":"2","k":"none"}
	{"id":"3","k":"flat"}
	{"id":"4","k":"other"}
	EOF
	[ "$status" -eq 1 ]
	output_jq -s 'map(.error.message) == [
		"node '"'boom'"': jq: bad 1",
		"node '"'none'"': jq expression gave no output",
		"node '"'flat'"': output is not a JSON object",
		"no edge from '"'stuck'"' matched"]'
}

@test "run: a bad input line becomes an error record in its place" {
	run --separate-stderr mas-flow run "$TRIAGE" <<-'EOF'
	{"id":"a"}
	not json
	{"id":"c"}
	EOF
	[ "$status" -eq 1 ]
	output_jq -s 'map(.id != null) == [true, true, true]'
	output_jq -s '.[1].error.code == "INVALID_REQUEST" and .[2].queue'
}

@test "run: 10,000 records through jq and run nodes keep their order" {
	seq 10000 | jq -c '{id: tostring, text: ("x" * (. % 13))}' \
		>"$BATS_TEST_TMPDIR/in.jsonl"
	mas-flow run "$TRIAGE" <"$BATS_TEST_TMPDIR/in.jsonl" \
		>"$BATS_TEST_TMPDIR/out.jsonl"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out.jsonl")" -eq 10000 ]
	jq -e -s 'map(.id | tonumber) == [range(1; 10001)]' \
		"$BATS_TEST_TMPDIR/out.jsonl"
	jq -e -s 'all(.queue != null and .meta.flow[-1].node == "stamp")' \
		"$BATS_TEST_TMPDIR/out.jsonl"
}

@test "run: a write to a full disk is exit 74" {
	run --separate-stderr sh -c 'echo "{}" | mas-flow run "$1" >/dev/full' \
		sh "$TRIAGE"
	[ "$status" -eq 74 ]
	grep -qF "No space left on device" <<<"$stderr"
}

@test "mas-flow(5) shows examples/flows/triage.flow as it is" {
	awk '/^\.Sh EXAMPLES/ { ex = 1 } /^\.Ed/ { on = 0 } on
	     ex && /^\.Bd -literal/ && !seen { on = seen = 1 }' \
		man/mas-flow.5 >"$BATS_TEST_TMPDIR/page.flow"
	diff "$BATS_TEST_TMPDIR/page.flow" examples/flows/triage.flow
}

@test "run: a condition that raises a jq error is a record error" {
	flow_file cond <<-'EOF'
	node a jq '.'
	start -> a
	a -> end if error("no way")
	a -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/cond.flow" \
		<<<'{"id":"c"}'
	[ "$status" -eq 1 ]
	output_jq '.error.message | endswith("cond.flow:3: if: no way")'
}

@test "options: output=KEY puts the output under a key, output=merge merges" {
	flow_file output <<-'EOF'
	node size output=size jq '.text | length'
	node more output=merge jq '{extra: 1, text: "replaced"}'
	start -> size
	size -> more
	more -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/output.flow" \
		<<<'{"id":"o","text":"four"}'
	[ "$status" -eq 0 ]
	output_jq '.size == 4 and .extra == 1 and .text == "replaced"'
	output_jq '.id == "o"'
}

@test "options: a node that hangs past its timeout is killed, TIMEOUT" {
	flow_file hang <<-'EOF'
	node slow timeout=0.2 run sh -c 'while read line; do sleep 10; done'
	start -> slow
	slow -> end
	EOF
	SECONDS=0
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/hang.flow" <<-'EOF'
	{"id":"1"}
	{"id":"2"}
	EOF
	echo "status $status, after $SECONDS s: $output $stderr"
	# killed, not waited for: 20 s
	[ "$SECONDS" -lt 10 ]
	[ "$status" -eq 75 ]
	output_jq -s 'map(.error.code) == ["TIMEOUT", "TIMEOUT"]'
	output_jq -s '.[0].error.message | test("no answer within 0.2 s")'
}

@test "options: retries try a failing node again, and say how often" {
	flow_file retry <<-EOF
	node flaky retries=2 run sh -c 'test -e $BATS_TEST_TMPDIR/two && exec cat; test -e $BATS_TEST_TMPDIR/one && touch $BATS_TEST_TMPDIR/two; touch $BATS_TEST_TMPDIR/one; exit 1'
	start -> flaky
	flaky -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/retry.flow" \
		<<<'{"id":"r"}'
	[ "$status" -eq 0 ]
	output_jq '.error == null and .meta.flow[0].tries == 3'
}

@test "options: retries used up leave the error" {
	flow_file retry <<-'EOF'
	node broken retries=1 jq 'error("always")'
	start -> broken
	broken -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/retry.flow" \
		<<<'{"id":"r"}'
	[ "$status" -eq 1 ]
	output_jq '.error.message == "node '"'broken'"': jq: always"'
	output_jq '.meta.flow[0].tries == 2'
}

@test "options: on_error routes a failed record to a handler" {
	flow_file handled <<-'EOF'
	node risky on_error=rescue jq 'if .bad then error("bad input") else . end'
	node rescue jq '.rescued = .error.message | del(.error)'
	node after jq '.after = true'
	start -> risky
	risky -> after
	after -> end
	rescue -> end
	EOF
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/handled.flow"
	[ "$status" -eq 0 ]
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/handled.flow" <<-'EOF'
	{"id":"1"}
	{"id":"2","bad":true}
	EOF
	[ "$status" -eq 0 ]
	output_jq -s '.[0].after and .[0].rescued == null'
	output_jq -s '.[1].rescued == "node '"'risky'"': jq: bad input"'
	output_jq -s '.[1].meta.flow | map(.node) == ["risky","rescue"]'
}

@test "options: on_error=end emits the record with its error" {
	flow_file ended <<-'EOF'
	node risky on_error=end jq 'error("no")'
	start -> risky
	risky -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/ended.flow" \
		<<<'{"id":"1"}'
	[ "$status" -eq 1 ]
	output_jq '.error.node == "risky"'
}

@test "options: unknown options and targets, bad values are reported" {
	flow_file opts <<-'EOF'
	node a colour=red jq '.'
	node b timeout=soon jq '.'
	node c on_error=nowhere jq '.'
	start -> a
	a -> b
	b -> c
	c -> end
	EOF
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/opts.flow"
	[ "$status" -eq 2 ]
	grep -qF "opts.flow:1: node 'a': unknown option 'colour'" <<<"$stderr"
	grep -qF "opts.flow:2: timeout: 'soon' is not a number" <<<"$stderr"
	grep -qF "opts.flow:3: node 'c': on_error: unknown node 'nowhere'" \
		<<<"$stderr"
}

@test "checkpoints: --run-id stores each record's latest state and a step log" {
	run --separate-stderr mas-flow run --run-id first "$TRIAGE" <<-'EOF'
	{"id":"a","text":"hello"}
	{"id":"c","text":"x"}
	EOF
	[ "$status" -eq 0 ]
	db="$XDG_STATE_HOME/mas/mas.db"
	[ "$(sqlite3 "$db" 'SELECT count(*) FROM flow_record')" -eq 2 ]
	[ "$(sqlite3 "$db" "SELECT group_concat(node, ' ') FROM
		(SELECT node FROM flow_step WHERE seq = 2 ORDER BY step)")" = \
		"score bump score bump score normal stamp" ]
	sqlite3 "$db" "SELECT state FROM flow_record WHERE id = 'c'" |
		jq -e '.queue == "normal" and (.meta.flow | length) == 7'
	[ "$(sqlite3 "$db" 'SELECT min(done) FROM flow_record')" -eq 1 ]
}

@test "checkpoints: runs lists past runs with their counts" {
	mas-flow run --run-id ok "$TRIAGE" <<<'{"id":"a"}' >/dev/null
	run mas-flow run --run-id bad "$FLOWS/loop.flow" <<<'{"n":0}'
	[ "$status" -eq 1 ]
	run --separate-stderr mas-flow runs
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 2 ]
	output_jq -s 'map(select(.run_id == "ok"))[0] |
		.status == "done" and .records == 1 and .steps == 7 and
		.failed == 0 and .flow == "'"$TRIAGE"'"'
	output_jq -s 'map(select(.run_id == "bad"))[0] |
		.status == "failed" and .failed == 1 and .steps == 25'
}

@test "checkpoints: a run id is used once" {
	mas-flow run --run-id once "$TRIAGE" <<<'{"id":"a"}' >/dev/null
	run --separate-stderr mas-flow run --run-id once "$TRIAGE" \
		<<<'{"id":"a"}'
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	grep -qF "run 'once' exists already" <<<"$stderr"
}

@test "checkpoints: a state store that cannot be opened is exit 2" {
	export MAS_STATE_DIR=/dev/null/nowhere
	run --separate-stderr mas-flow run --run-id x "$TRIAGE" <<<'{}'
	[ "$status" -eq 2 ]
	[ -z "$output" ]
}

@test "subgraphs: a flow node runs another file, its path nested in meta.flow" {
	run --separate-stderr mas-flow run examples/flows/support.flow <<-'EOF'
	{"id":"1","text":" HELLO","meta":{"k":1}}
	{"id":"2","text":7}
	EOF
	[ "$status" -eq 0 ]
	output_jq -s '.[0].reply == "Your ticket is in the normal queue."'
	output_jq -s '.[0].meta.k == 1 and .[0].text == "hello"'
	output_jq -s '.[0].meta.flow | map(.node) == ["clean","triage","reply"]'
	output_jq -s '.[0].meta.flow[1].flow | map(.node) ==
		["score","normal","stamp"]'
	output_jq -s '.[1].queue == "human" and .[1].error == null'
	output_jq -s '.[1].meta.flow | map(.node) == ["clean","person"]'
}

@test "subgraphs: an error inside is the flow node's error" {
	flow_file inner <<-'EOF'
	node fail jq 'error("deep")'
	start -> fail
	fail -> end
	EOF
	flow_file outer <<-'EOF'
	node sub flow inner.flow
	start -> sub
	sub -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/outer.flow" \
		<<<'{"id":"e"}'
	[ "$status" -eq 1 ]
	output_jq '.error.node == "sub" and
		.error.message == "node '"'fail'"': jq: deep"'
	output_jq '.meta.flow[0].flow[0].node == "fail"'
}

@test "subgraphs: problems inside, a missing file, and self-inclusion" {
	flow_file broken <<-'EOF'
	node x jq '.x |||'
	start -> x
	x -> end
	EOF
	flow_file uses <<-'EOF'
	node a flow broken.flow
	node b flow missing.flow
	node c flow uses.flow
	start -> a
	a -> b
	b -> c
	c -> end
	EOF
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/uses.flow"
	[ "$status" -eq 2 ]
	grep -qF "broken.flow:1: node 'x': jq expression" <<<"$stderr"
	grep -qF "uses.flow:1: node 'a': flow '$BATS_TEST_TMPDIR/broken.flow' has problems" \
		<<<"$stderr"
	grep -qF "missing.flow: No such file or directory" <<<"$stderr"
	grep -qF "uses.flow:3: node 'c': flows nested more than 8 deep" \
		<<<"$stderr"
}

@test "joblog: a tab-separated line per record, appended" {
	log="$BATS_TEST_TMPDIR/jobs.tsv"
	run --separate-stderr mas-flow run --joblog "$log" \
		examples/flows/support.flow <<-'EOF'
	{"id":"1","text":"HELLO"}
	{"id":"2","text":7}
	EOF
	[ "$status" -eq 0 ]
	mas-flow run --joblog "$log" "$FLOWS/loop.flow" <<<'{"id":"3","n":0}' \
		>/dev/null || true
	[ "$(wc -l <"$log")" -eq 3 ]
	awk -F '\t' 'NF != 5 { exit 1 }' "$log"
	# in the order records finished, as GNU parallel's
	[ "$(cut -f 1,4,5 "$log" | sort | sed -n 1p)" = $'1\t0\tclean triage reply' ]
	[ "$(cut -f 1,4,5 "$log" | sort | sed -n 2p)" = $'2\t0\tclean person' ]
	[ "$(cut -f 1,4 "$log" | sed -n 3p)" = $'3\t1' ]
	awk -F '\t' '$2 < 1700000000 || $3 < 0 { exit 1 }' "$log"
}

@test "joblog: a joblog that cannot be written is exit 2 or 74" {
	run --separate-stderr mas-flow run --joblog /dev/null/x "$TRIAGE" \
		<<<'{}'
	[ "$status" -eq 2 ]
	grep -qF -- "--joblog: /dev/null/x" <<<"$stderr"
	run --separate-stderr mas-flow run --joblog /dev/full "$TRIAGE" \
		<<<'{}'
	[ "$status" -eq 74 ]
	grep -qF -- "--joblog: /dev/full: write failed" <<<"$stderr"
}

@test "show: a run and each of its records" {
	mas-flow run --run-id shown "$TRIAGE" <<-'EOF' >/dev/null
	{"id":"a","text":"hello"}
	{"id":"b","text":"fire!!!!!"}
	EOF
	run --separate-stderr mas-flow show shown
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 3 ]
	output_jq -s '.[0].run_id == "shown" and .[0].records == 2'
	output_jq -s '.[1:] == [
		{"seq":1,"id":"a","steps":3,"done":true,"waiting":false,
		 "error":null},
		{"seq":2,"id":"b","steps":3,"done":true,"waiting":false,
		 "error":null}]'
	run --separate-stderr mas-flow show none
	[ "$status" -eq 2 ]
	grep -qF "show: no run 'none'" <<<"$stderr"
}

@test "gc: removes old runs with their checkpoints, keeps recent ones" {
	mas-flow run --run-id old "$TRIAGE" <<<'{"id":"a"}' >/dev/null
	db="$XDG_STATE_HOME/mas/mas.db"
	sqlite3 "$db" "UPDATE flow_run SET updated = updated - 7200
		WHERE id = 'old'"
	mas-flow run --run-id new "$TRIAGE" <<<'{"id":"b"}' >/dev/null
	run --separate-stderr mas-flow gc --older-than 1h
	[ "$status" -eq 0 ]
	[ "$output" = '{"removed":1}' ]
	[ "$(mas-flow runs | jq -r .run_id)" = new ]
	[ "$(sqlite3 "$db" "SELECT count(*) FROM flow_step
		WHERE run_id = 'old'")" -eq 0 ]
	[ "$(sqlite3 "$db" "SELECT count(*) FROM flow_record
		WHERE run_id = 'old'")" -eq 0 ]
	run --separate-stderr mas-flow gc
	[ "$status" -eq 2 ]
	run --separate-stderr mas-flow gc --older-than soon
	[ "$status" -eq 2 ]
	grep -qF "'soon' is not a duration" <<<"$stderr"
}

@test "comments after quoted jq, after edges and after max" {
	flow_file comments <<-'EOF'
	node a jq '.a = 1'   # set a
	node b jq .b = "#1"  # jq's own comment
	start -> a           # first
	a -> a  max 2        # loop twice
	a -> b if .a == 1    # then b
	b -> end
	EOF
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/comments.flow"
	[ "$status" -eq 0 ]
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/comments.flow" \
		<<<'{"id":"c"}'
	[ "$status" -eq 0 ]
	output_jq '.a == 1 and .b == "#1"'
	output_jq '.meta.flow | map(.node) == ["a","a","a","b"]'
	run mas-flow graph "$BATS_TEST_TMPDIR/comments.flow"
	grep -qxF $'\t"a" -> "a" [label="max 2"];' <<<"$output"
}

@test "agent analyze: mas-analyze's task mode in-process, under analysis" {
	run --separate-stderr mas-flow run examples/flows/report.flow \
		<examples/tasks.jsonl
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq "$(grep -c . examples/tasks.jsonl)" ]
	output_jq -s 'all(.analysis.status == "completed")'
	output_jq -s 'all(.digest | startswith("task-"))'
	# the same analysis as the program's own
	diff <(mas-analyze --data-dir examples/data <examples/tasks.jsonl |
		jq -c '.analysis | del(.created_at, .completed_at)') \
	     <(printf '%s\n' "$output" |
		jq -c '.analysis | del(.created_at, .completed_at)')
}

@test "agent analyze: a bad task goes to on_error; unknown agents are reported" {
	run --separate-stderr mas-flow run examples/flows/report.flow \
		<<<'{"id":"z","data":"bad"}'
	[ "$status" -eq 1 ]
	output_jq '.error.node == "analyse" and .error.code == "INVALID_REQUEST"'
	output_jq '.digest | startswith("z: failed: data:")'
	flow_file agents <<-'EOF'
	node a agent dance
	node b agent analyze --colour red
	start -> a
	a -> b
	b -> end
	EOF
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/agents.flow"
	[ "$status" -eq 2 ]
	grep -qF "agents.flow:1: node 'a': unknown agent 'dance'" <<<"$stderr"
	grep -qF "agents.flow:2: node 'b': agent analyze: unknown argument '--colour'" \
		<<<"$stderr"
}
