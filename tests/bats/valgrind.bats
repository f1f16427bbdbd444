#!/usr/bin/env bats
# Every program under valgrind on the example data, as the README's demo
# runs them: no invalid read or write, no use of an uninitialised value,
# no leak (definite, indirect or possible), and the same output as
# without valgrind.  ASan runs the whole suite (make check SANITIZE=1);
# valgrind also sees what ASan does not instrument (libjq, libstemmer,
# liblinear, SQLite) and leaks at exit that LeakSanitizer counts as
# reachable.  llm.bats does the same for the LLM client.
#
# About 100 s of CPU in its few lines: tests/run starts it among the
# longest suites.
# check-weight: 900

load helpers
load serve_helper
load nats_helper

setup() {
	[ "${SANITIZE:-}" != 1 ] || skip "valgrind and ASan do not mix"
	serve_setup
	VG=(valgrind -q --leak-check=full
		--errors-for-leak-kinds=definite,indirect,possible
		--error-exitcode=9 --suppressions="$TOP/tests/valgrind.supp")
}

teardown() {
	serve_teardown
}

# vg COMMAND...: the command under valgrind, input from $IN.
vg() {
	run --separate-stderr "${VG[@]}" "$@" <"${IN:-/dev/null}"
	if [ "$status" -ne 0 ]; then
		printf '%s\n' "$stderr" >&2
		return 1
	fi
}

@test "valgrind: mas-chat, a session of two turns, trained then cached" {
	IN=$BATS_TEST_TMPDIR/in.jsonl
	jq -nc '{message: "我想了解你们的企业版定价方案"}' >"$IN"
	vg mas-chat --kb examples/kb.jsonl --session demo
	output_jq '.chat.intent == "pricing"'
	jq -nc '{message: "那专业版呢？"}' >"$IN"
	vg mas-chat --kb examples/kb.jsonl --session demo
	output_jq '.chat.meta.followup'
	# messages of every kind, from the mapped model
	IN=$BATS_TEST_TMPDIR/held.jsonl
	head -24 tests/fixtures/chat/heldout.jsonl >"$IN"
	vg mas-chat --kb examples/kb.jsonl
	[ "$(line_count)" -eq 24 ]
}

@test "valgrind: mas-research, indexed, updated by a segment, from the stored index" {
	# (indexing on the fly: mas-serve's test below)
	IN=$BATS_TEST_TMPDIR/q.jsonl
	jq -nc '{query: "人工智能在医疗领域的应用前景"}' >"$IN"
	d=$BATS_TEST_TMPDIR/c
	cp -r examples/corpus "$d"
	vg mas-research index --corpus "$d"
	output_jq '.index.segments == 1'
	# an update that adds a segment, and answers from the two
	printf '\nAI triage in hospitals.\n' >>"$d/energy/battery-safety.md"
	vg mas-research index --corpus "$d"
	output_jq '.index | .incremental and .segments == 2'
	vg mas-research --corpus "$d"
	output_jq '.research.sources | length > 0'
	vg mas-research --retrieve-only --rank documents --corpus "$d"
	output_jq '.research.sources | length > 0'
}

@test "valgrind: mas-analyze, tasks and series" {
	vg mas-analyze --data-dir examples/data examples/tasks.jsonl
	[ "$(line_count)" -eq "$(grep -c '' examples/tasks.jsonl)" ]
	output_jq -s 'all(.status != "failed")'
	vg mas-analyze --series --by host --type anomaly \
		examples/data/server_metrics.jsonl
	[ "$(line_count)" -ge 2 ]
}

@test "valgrind: mas-flow and the agents it runs" {
	IN=$BATS_TEST_TMPDIR/in.jsonl
	printf '%s\n' \
		'{"id":"m1","message":"I want to complain, this is a terrible service"}' \
		'{"id":"m2","message":"how do flow batteries store energy?"}' \
		'{"id":"m3","message":"what does the pro plan cost?"}' >"$IN"
	VG+=(--trace-children=yes
		--trace-children-skip='*/sh,*/bash,*/jq,*/env')
	vg mas-flow run examples/flows/customer-service.flow
	[ "$(line_count)" -eq 3 ]
	output_jq -s 'map(.id) == ["m1", "m2", "m3"]'
}

# bus_round_trip: five records published, taken by a group and
# acknowledged, and the group in stat, each step under valgrind.
bus_round_trip() {
	IN=$BATS_TEST_TMPDIR/in.jsonl
	seq 5 | jq -c '{n: .}' >"$IN"
	vg mas-bus pub jobs
	vg mas-bus sub --group g --count 5 --payload jobs
	[ "$(jq -s -c 'map(.n)' <<<"$output")" = "[1,2,3,4,5]" ]
	vg mas-bus stat
	output_jq -s 'map(select(.group == "g")) | length == 1'
}

@test "valgrind: mas-bus, publish and a group's ack" {
	export MAS_STATE_DIR=$BATS_TEST_TMPDIR/bus
	bus_round_trip
}

@test "valgrind: mas-bus on NATS, publish, a group's ack and stat" {
	nats_start "$BATS_TEST_TMPDIR"
	serve_track "$NATS_PID"
	export MAS_BUS_URL=$NATS_URL
	vg mas-bus stat	# no stream yet
	bus_round_trip
	nats_stop "$BATS_TEST_TMPDIR"
}

@test "valgrind: mas-serve answers, runs a task and stops clean" {
	# serve_start runs mas-serve from PATH: a wrapper puts valgrind
	# in front, and serve_stop returns valgrind's status.
	mkdir -p "$BATS_TEST_TMPDIR/vgbin"
	printf '#!/bin/sh\nexec %s "%s" "$@"\n' "${VG[*]}" \
		"$(command -v mas-serve)" >"$BATS_TEST_TMPDIR/vgbin/mas-serve"
	chmod +x "$BATS_TEST_TMPDIR/vgbin/mas-serve"
	PATH=$BATS_TEST_TMPDIR/vgbin:$PATH serve_start "${SERVE_AGENTS[@]}" \
		"${TASKS[@]}" || {
		# valgrind's start takes longer than serve_start waits on a
		# loaded machine: wait on.
		for _ in $(seq 600); do
			grep -q 'listening on' "$SERVE_LOG" && break
			sleep 0.1
		done
		SERVE=$(sed -n 's|.*listening on http://\([0-9.:]*\)/.*|\1|p' \
			"$SERVE_LOG" | head -1)
		URL="http://$SERVE"
	}
	[ -n "$SERVE" ]
	http POST /chat '{"message":"我想了解你们的企业版定价方案","session_id":"s1"}'
	[ "$status_code" = 200 ]
	http POST /chat '{"message":"那专业版呢？","session_id":"s1"}'
	[ "$status_code" = 200 ]
	http POST /chat '{"message": '
	[ "$status_code" = 400 ]
	http POST /tasks '{"type":"research","query":"flow batteries"}'
	[ "$status_code" = 201 ]
	task=$(jq -r .data.task_id <<<"$output")
	http POST /analysis '{"data_source":"user_behavior","analysis_type":"trend_prediction"}'
	[ "$status_code" = 200 ]
	for _ in $(seq 600); do
		http GET "/tasks/$task"
		jq -e '.data.status == "completed"' <<<"$output" >/dev/null &&
			break
		sleep 0.1
	done
	jq -e '.data.status == "completed"' <<<"$output"
	http GET /metrics
	[ "$status_code" = 200 ]
	serve_stop || {
		cat "$SERVE_LOG" >&2
		false
	}
}
