#!/usr/bin/env bats
# A pinned clock (clock.h, mas(7) ENVIRONMENT): with SOURCE_DATE_EPOCH or
# MAS_NOW, two runs on the same input write the same bytes, every
# timestamp that instant; without, they differ (ids, times).

load helpers

setup() {
	common_setup
}

# twice NAME COMMAND...: run COMMAND on stdin's copy twice, each with a
# fresh state folder, into NAME.1 and NAME.2.
twice() {
	local name=$1
	shift
	cat >"$BATS_TEST_TMPDIR/$name.in"
	for i in 1 2; do
		XDG_STATE_HOME="$BATS_TEST_TMPDIR/state-$name-$i" "$@" \
			<"$BATS_TEST_TMPDIR/$name.in" >"$BATS_TEST_TMPDIR/$name.$i"
	done
}

@test "SOURCE_DATE_EPOCH: analyze, chat, research and a flow write the same bytes twice" {
	export SOURCE_DATE_EPOCH=1765015200	# 2025-12-06T10:00:00Z
	twice analyze mas-analyze --data-dir examples/data <examples/tasks.jsonl
	printf '%s\n' '{"message":"我想了解你们的企业版定价方案","session_id":"s1"}' \
		'{"message":"那专业版呢？","session_id":"s1"}' |
		twice chat mas-chat --kb examples/kb.jsonl
	printf '%s\n' '{"query":"人工智能在医疗领域的应用前景"}' '{"query":"flow batteries"}' |
		twice research mas-research --corpus examples/corpus
	printf '%s\n' '{"message":"how do flow batteries store energy?"}' \
		'{"message":"I want to speak to a human, this is terrible"}' |
		twice flow mas-flow run examples/flows/customer-service.flow
	for name in analyze chat research flow; do
		[ -s "$BATS_TEST_TMPDIR/$name.1" ]
		cmp "$BATS_TEST_TMPDIR/$name.1" "$BATS_TEST_TMPDIR/$name.2"
	done
	# every timestamp is the pinned instant; ids count from it
	run jq -r '.. | objects | (.created_at, .completed_at, .timestamp) // empty' \
		"$BATS_TEST_TMPDIR"/{analyze,chat,research}.1
	[ -n "$output" ]
	[ "$(printf '%s\n' "$output" | sort -u)" = 2025-12-06T10:00:00.000Z ]
	run jq -r .id "$BATS_TEST_TMPDIR/chat.1"
	[ "$output" = "$(printf '01KBSHN8800000000000000000\n01KBSHN8800000000000000001')" ]
	# the flow's step durations are written as 0
	run jq -c '[.meta.flow[].ms] | unique' "$BATS_TEST_TMPDIR/flow.1"
	[ "$output" = "$(printf '[0]\n[0]')" ]
}

@test "MAS_NOW takes an RFC 3339 time and wins over SOURCE_DATE_EPOCH" {
	export SOURCE_DATE_EPOCH=1765015200
	MAS_NOW=2026-12-06T10:00:00+02:00 \
		twice now mas-chat --kb examples/kb.jsonl <<<'{"message":"hi"}'
	cmp "$BATS_TEST_TMPDIR/now.1" "$BATS_TEST_TMPDIR/now.2"
	run jq -r .chat.timestamp "$BATS_TEST_TMPDIR/now.1"
	[ "$output" = 2026-12-06T08:00:00.000Z ]
	# a trace and JSON logs are pinned too
	MAS_NOW=1700000000 MAS_LOG_FORMAT=json mas-analyze -v \
		--trace "$BATS_TEST_TMPDIR/trace.jsonl" <<<"$(tiny_task t1)" \
		>/dev/null 2>"$BATS_TEST_TMPDIR/log"
	run jq -r '.ts // .time // .timestamp' "$BATS_TEST_TMPDIR/log"
	[ "$(printf '%s\n' "$output" | sort -u)" = 2023-11-14T22:13:20.000Z ]
}

@test "unpinned, two runs differ (the check above can fail)" {
	twice free mas-chat --kb examples/kb.jsonl <<<'{"message":"hi"}'
	! cmp -s "$BATS_TEST_TMPDIR/free.1" "$BATS_TEST_TMPDIR/free.2"
}

@test "a bad MAS_NOW or SOURCE_DATE_EPOCH is a usage error naming it" {
	run --separate-stderr env MAS_NOW=yesterday mas-analyze </dev/null
	[ "$status" -eq 2 ]
	[ "$stderr" = "mas-analyze: error: MAS_NOW: not an RFC 3339 date-time (2026-12-06T10:00:00Z) or seconds since the epoch" ]
	run --separate-stderr env SOURCE_DATE_EPOCH=-5 mas-chat --kb examples/kb.jsonl </dev/null
	[ "$status" -eq 2 ]
	[ "$stderr" = "mas-chat: error: SOURCE_DATE_EPOCH: not a whole number of seconds since the epoch" ]
}
