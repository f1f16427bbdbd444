#!/usr/bin/env bats
# mas-flow(1), the pipelined runner: records in flight at once, run
# node replicas, co-processes that crash, hang or print the wrong lines,
# parallel branches and their join, interrupts and resume --record, and
# resume after kill -9.

load helpers

setup() {
	common_setup
}

flow_file() {
	cat >"$BATS_TEST_TMPDIR/$1.flow"
}

# N records {"id":"rI","n":I}.
records() {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"id\":\"r%d\",\"n\":%d}\n", i, i }'
}

@test "run: a slow node holds only the records that pass through it" {
	flow_file split <<-'EOF'
	node slow  run sh -c 'while IFS= read -r l; do sleep 0.2; printf "%s\n" "$l"; done'
	node fast  jq '.fast = true'
	start -> slow  if .n % 2 == 1
	start -> fast
	slow -> end
	fast -> end
	EOF
	log="$BATS_TEST_TMPDIR/jobs.tsv"
	run --separate-stderr mas-flow run --joblog "$log" \
		"$BATS_TEST_TMPDIR/split.flow" < <(records 6)
	[ "$status" -eq 0 ]
	# output in input order
	[ "$(printf '%s\n' "$output" | jq -r .id | tr '\n' ' ')" = \
		"r1 r2 r3 r4 r5 r6 " ]
	# the fast ones finished first: the joblog is in finishing order
	[ "$(cut -f 1 "$log" | head -3 | sort | tr '\n' ' ')" = "r2 r4 r6 " ]
}

@test "run: jobs=N starts N replicas of a run node and shares the records" {
	flow_file replicas <<-'EOF'
	node who  jobs=3 output=who run sh -c 'while IFS= read -r l; do sleep 0.01; echo "{\"pid\":$$}"; done'
	start -> who
	who -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/replicas.flow" \
		< <(records 60)
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 60 ]
	output_jq -s '[.[].who.pid] | unique | length == 3'
	output_jq -s '[.[].id] == [range(1; 61) | "r\(.)"]'
}

@test "run: a co-process that dies fails its record; the rest go to a fresh one" {
	flow_file crash <<-'EOF'
	node once  run sh -c 'IFS= read -r l; printf "%s\n" "$l"; IFS= read -r l; exit 3'
	start -> once
	once -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/crash.flow" \
		< <(records 4)
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 4 ]
	# each child answers one record and dies on the next
	output_jq -s '[.[] | .error == null] == [true, false, true, false]'
	output_jq -s '.[1].error.code == "UPSTREAM_ERROR" and
		(.[1].error.message | test("exited with status 3")) and
		.[1].error.node == "once" and .[1].id == "r2"'
	grep -qF "node 'once': command 'sh' exited with status 3" <<<"$stderr"
}

@test "run: retries give a crashed record another co-process" {
	flow_file retry <<-'EOF'
	node flaky  retries=2 run sh -c 'IFS= read -r l; [ -e "$MARK" ] && printf "%s\n" "$l" && exec cat; touch "$MARK"; exit 1'
	start -> flaky
	flaky -> end
	EOF
	MARK="$BATS_TEST_TMPDIR/mark" run --separate-stderr \
		mas-flow run "$BATS_TEST_TMPDIR/retry.flow" < <(records 3)
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 3 ]
	output_jq -s '.[0].meta.flow[0].tries == 2 and
		([.[1:][].meta.flow[0].tries] == [null, null])'
}

@test "run: a node past its timeout is killed with its children, its record fails for now (75)" {
	flow_file hang <<-'EOF'
	node stuck  timeout=0.3 run sh -c 'IFS= read -r l; sleep 30 & echo $! > "$PIDFILE"; wait'
	start -> stuck
	stuck -> end
	EOF
	SECONDS=0
	PIDFILE=$BATS_TEST_TMPDIR/pid run --separate-stderr \
		mas-flow run "$BATS_TEST_TMPDIR/hang.flow" < <(records 1)
	[ "$status" -eq 75 ]
	[ "$SECONDS" -lt 10 ]
	output_jq '.error.code == "TIMEOUT" and .error.node == "stuck"'
	output_jq '.error.message | test("no answer within 0.3 s")'
	# the sleep the node started went with it
	gone "$(cat "$BATS_TEST_TMPDIR/pid")"
}

@test "run: filters that read ahead or answer at end of input still answer" {
	# mawk reads ahead; sort answers at end of input; both chained, with
	# a jq node between, so records reach a node whose input was closed
	flow_file ahead <<-'EOF'
	node first   run mawk '{ print }'
	node mark    jq '.marked = true'
	node sorted  run sort
	start -> first
	first -> mark
	mark -> sorted
	sorted -> end
	EOF
	run --separate-stderr timeout 20 mas-flow run \
		"$BATS_TEST_TMPDIR/ahead.flow" < <(records 5)
	[ "$status" -eq 0 ]
	output_jq -s '[.[] | [.id, .marked, (.meta.flow | map(.node))]] ==
		[range(1; 6) | ["r\(.)", true, ["first", "mark", "sorted"]]]'
}

@test "run: a node that answers all but ignores end of input is killed after its bound" {
	flow_file linger <<-'EOF'
	node a  timeout=0.5 run sh -c 'while read -r l; do echo "$l"; done; sleep 1000'
	start -> a
	a -> end
	EOF
	run --separate-stderr timeout 20 mas-flow run \
		"$BATS_TEST_TMPDIR/linger.flow" < <(records 3)
	[ "$status" -eq 0 ]
	output_jq -s '[.[].id] == ["r1", "r2", "r3"]'
	[[ "$stderr" == *"node 'a': command 'sh' was killed by signal 9"* ]]
}

@test "run: a run node answering JSON that is not an object fails that record" {
	for answer in '[1,2]' '"str"' 42 null; do
		flow_file odd <<-EOF
		node odd  run jq -c --unbuffered 'if .n == 2 then $answer else . end'
		start -> odd
		odd -> end
		EOF
		run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/odd.flow" \
			< <(records 3)
		[ "$status" -eq 1 ]
		output_jq -s '[.[] | .error.code // "ok"] ==
			["ok", "UPSTREAM_ERROR", "ok"] and [.[].id] == ["r1", "r2", "r3"]'
		output_jq -s '.[1].error.message |
			test("answered with JSON that is not an object")'
	done
	# under a key, it is an answer like any other
	flow_file keyed <<-'EOF'
	node n  output=n2 run jq -c --unbuffered '.n * 2'
	start -> n
	n -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/keyed.flow" \
		< <(records 2)
	[ "$status" -eq 0 ]
	output_jq -s '[.[].n2] == [2, 4]'
}

@test "run: answers are matched by id; a line that is not JSON is an error naming the line" {
	# every record answered twice: the repeats are dropped, none fails
	flow_file twice <<-'EOF'
	node echo2  run sh -c 'while IFS= read -r l; do printf "%s\n%s\n" "$l" "$l"; done'
	start -> echo2
	echo2 -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/twice.flow" \
		< <(records 20)
	[ "$status" -eq 0 ]
	output_jq -s 'length == 20 and all(.error == null) and
		[.[].id] == [range(1; 21) | "r\(.)"]'
	[[ "$stderr" == *"node 'echo2': a second answer for record \"r1\" dropped"* ]]
	# a record skipped fails alone
	flow_file skip <<-'EOF'
	node skip3  run jq -c --unbuffered 'if .n == 3 then empty else . end'
	start -> skip3
	skip3 -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/skip.flow" \
		< <(records 5)
	[ "$status" -eq 1 ]
	output_jq -s '[.[] | .error.code // "ok"] ==
		["ok", "ok", "UPSTREAM_ERROR", "ok", "ok"]'
	output_jq -s '[.[].id] == ["r1", "r2", "r3", "r4", "r5"]'
	output_jq -s '.[2].error.message | test("gave no answer for this record")'
	# an answer with no id gets the record's
	flow_file fresh <<-'EOF'
	node fresh  run jq -c --unbuffered '{m: .n}'
	start -> fresh
	fresh -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/fresh.flow" \
		< <(records 2; echo '{"id":42,"n":3}'; echo '{"n":4}')
	[ "$status" -eq 0 ]
	output_jq -s '[.[] | [.id, .m]][:3] == [["r1", 1], ["r2", 2], [42, 3]]'
	output_jq -s '.[3].id | test("^[0-9A-Z]{26}$")'
	# answers for another record still fail
	flow_file other <<-'EOF'
	node other  run jq -c --unbuffered '.id = "x"'
	start -> other
	other -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/other.flow" \
		< <(records 2)
	[ "$status" -eq 1 ]
	output_jq -s 'all(.error.message | test("answered for another record"))'
	flow_file prose <<-'EOF'
	node talk  run sh -c 'while IFS= read -r l; do echo "hello there"; done'
	start -> talk
	talk -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/prose.flow" \
		< <(records 1)
	[ "$status" -eq 1 ]
	output_jq '.error.message | test("not JSON: hello there")'
}

@test "parallel: branches run on copies of the state and are joined in order" {
	flow_file fan <<-'EOF'
	node prep   jq '.x = 2'
	node sq     jq '.x * .x'
	node half   output=merge jq '{half: (.x / 2)}'
	node echo   output=copy run cat
	node both   parallel sq half echo
	node after  jq '.total = .sq + .half'
	start -> prep
	prep -> both
	both -> after
	after -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/fan.flow" \
		< <(records 3)
	[ "$status" -eq 0 ]
	output_jq -s 'all(.sq == 4 and .half == 1 and .total == 5 and
		.copy.x == 2)'
	output_jq -s '.[0].meta.flow | map(.node) == ["prep", "both", "after"]'
	output_jq -s '.[0].meta.flow[1].branches | keys == ["echo", "half", "sq"]'
	run --separate-stderr mas-flow graph "$BATS_TEST_TMPDIR/fan.flow"
	grep -qF '"both" -> "echo" [style=dashed];' <<<"$output"
}

@test "parallel: a failing branch fails the node, which on_error takes" {
	flow_file fanfail <<-'EOF'
	node ok     jq '1'
	node bad    jq 'error("branch broke")'
	node both   on_error=mend parallel ok bad
	node mend   jq '.mended = .error.message'
	start -> both
	both -> end
	mend -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/fanfail.flow" \
		< <(records 1)
	output_jq '.mended == "node '"'bad'"': jq: branch broke"'
}

@test "check: parallel branches and interrupts are checked" {
	flow_file badfan <<-'EOF'
	node a    jq .
	node p    parallel a nosuch
	node q    parallel a
	node w    interrupt now
	start -> p
	p -> q
	q -> w
	a -> w
	w -> end
	EOF
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/badfan.flow"
	[ "$status" -eq 2 ]
	f="$BATS_TEST_TMPDIR/badfan.flow"
	grep -qF "$f:2: node 'p': unknown branch 'nosuch'" <<<"$stderr"
	grep -qF "$f:3: node 'q': parallel needs two or more branch nodes" \
		<<<"$stderr"
	grep -qF "$f:4: node 'w': interrupt takes no arguments" <<<"$stderr"
	grep -qF "$f:8: node 'a' is a parallel branch: it takes no edges" \
		<<<"$stderr"
}

@test "interrupt: records wait (exit 3) and resume --record --set goes on after it" {
	flow_file review <<-'EOF'
	node draft   jq '.draft = "Dear \(.name)"'
	node review  interrupt
	node send    jq '.sent = (.approved == true)'
	start -> draft
	draft -> review
	review -> send
	send -> end
	EOF
	run --separate-stderr mas-flow run --run-id rv \
		"$BATS_TEST_TMPDIR/review.flow" <<-'EOF'
	{"id":"a","name":"Ann"}
	{"id":"b","name":"Bo"}
	EOF
	[ "$status" -eq 3 ]
	output_jq -s 'all(.status == "waiting" and .meta.run_id == "rv" and
		.meta.waiting_at == "review")'
	grep -qF "mas-flow resume rv --record ID" <<<"$stderr"
	run --separate-stderr mas-flow resume rv --record a \
		--set '.approved = true'
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 1 ]
	output_jq '.sent == true and .draft == "Dear Ann" and .status == null'
	# draft ran once, before the interrupt: not again
	output_jq '.meta.flow | map(.node) == ["draft", "review", "send"]'
	run --separate-stderr mas-flow resume rv --record a
	[ "$status" -eq 2 ]
	grep -qF "no record 'a' waiting" <<<"$stderr"
	run --separate-stderr mas-flow resume rv --record b --set '.approved |'
	[ "$status" -eq 2 ]
	run --separate-stderr mas-flow show rv
	output_jq -s '.[0].status == "waiting" and
		([.[1:][] | .waiting] == [false, true])'
	run --separate-stderr mas-flow resume rv --record b
	[ "$status" -eq 0 ]
	output_jq '.sent == false'
	run --separate-stderr mas-flow show rv
	output_jq -s '.[0].status == "done" and .[0].records == 2'
}

@test "interrupt: --set that gives no object is a usage error, not a crash" {
	flow_file hold <<-'EOF'
	node hold  interrupt
	start -> hold
	hold -> end
	EOF
	run --separate-stderr mas-flow run --run-id hd \
		"$BATS_TEST_TMPDIR/hold.flow" < <(records 1)
	[ "$status" -eq 3 ]
	for set in 5 '[.]' '.n' '"s"' empty; do
		run --separate-stderr mas-flow resume hd --record r1 \
			--set "$set"
		[ "$status" -eq 2 ]
		grep -qF -- "--set '$set': does not give an object" <<<"$stderr"
	done
	run --separate-stderr mas-flow resume hd --record r1 --set '.n += 1'
	[ "$status" -eq 0 ]
	output_jq '.n == 2'
}

@test "resume: a damaged stored state or step is an error, not a crash" {
	flow_file hold <<-'EOF'
	node hold  interrupt
	start -> hold
	hold -> end
	EOF
	run --separate-stderr mas-flow run --run-id dm \
		"$BATS_TEST_TMPDIR/hold.flow" < <(records 3)
	[ "$status" -eq 3 ]
	sqlite3 "$XDG_STATE_HOME/mas/mas.db" \
		"UPDATE flow_record SET state = '[1]' WHERE seq = 1;
		 UPDATE flow_record SET state = 'not json' WHERE seq = 2;
		 UPDATE flow_step SET entry = 'not json' WHERE seq = 3"
	run --separate-stderr mas-flow show dm
	[ "$status" -eq 0 ]
	output_jq -s '[.[1:][] | .error] == [null, null, null]'
	for id in r1 r2; do
		run --separate-stderr mas-flow resume dm --record "$id"
		[ "$status" -eq 2 ]
		grep -qF "the stored state of record '$id' is not a JSON object" \
			<<<"$stderr"
	done
	# a step that cannot be read is null in the path
	run --separate-stderr mas-flow resume dm --record r3
	[ "$status" -eq 0 ]
	output_jq '.id == "r3" and .meta.flow == [null]'
}

@test "resume: after kill -9, a record whose stored state is damaged fails alone" {
	# s takes the records and never answers (it ends with its input)
	flow_file stuck <<-'EOF'
	node a  jq '.a = 1'
	node s  run sh -c 'while read -r l; do :; done'
	start -> a
	a -> s
	s -> end
	EOF
	records 2 >"$BATS_TEST_TMPDIR/in.jsonl"
	# input kept open, so s never sees its end
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	mas-flow run --run-id st "$BATS_TEST_TMPDIR/stuck.flow" \
		<"$BATS_TEST_TMPDIR/fifo" >/dev/null 2>&1 &
	pid=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	cat "$BATS_TEST_TMPDIR/in.jsonl" >&5
	db="$XDG_STATE_HOME/mas/mas.db"
	for _ in $(seq 100); do
		[ "$(sqlite3 "$db" "SELECT count(*) FROM flow_record
			WHERE node = 'a'" 2>/dev/null)" = 2 ] && break
		sleep 0.1
	done
	kill -9 "$pid"
	wait "$pid" || true
	exec 5>&-
	sqlite3 "$db" "UPDATE flow_record SET state = '[1]' WHERE seq = 1"
	sed -i "s/run sh -c .*/run cat/" "$BATS_TEST_TMPDIR/stuck.flow"
	run --separate-stderr mas-flow resume st "$BATS_TEST_TMPDIR/in.jsonl"
	[ "$status" -eq 1 ]
	output_jq -s '[.[] | [.id, .error.code // "ok", .a]] ==
		[["r1", "INTERNAL", null], ["r2", "ok", 1]]'
	output_jq -s '.[0].error.message ==
		"resume: the stored state of this record is not a JSON object"'
}

@test "interrupt: a run without --run-id gets one, to resume by" {
	flow_file ask <<-'EOF'
	node ask  interrupt
	start -> ask
	ask -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/ask.flow" \
		< <(records 1)
	[ "$status" -eq 3 ]
	id=$(printf '%s\n' "$output" | jq -r .meta.run_id)
	[ "${#id}" -eq 26 ]
	run --separate-stderr mas-flow resume "$id" --record r1
	[ "$status" -eq 0 ]
	output_jq '.meta.flow | map(.node) == ["ask"]'
}

@test "resume: written elsewhere, it reads back the killed run's own file for what it wrote after the last mark" {
	flow_file tag <<-'EOF'
	node tag jq '.tagged = true'
	start -> tag
	tag -> end
	EOF
	in="$BATS_TEST_TMPDIR/in.jsonl"
	records 20 >"$in"
	mas-flow run --run-id w "$BATS_TEST_TMPDIR/tag.flow" <"$in" >"$BATS_TEST_TMPDIR/out1"
	# a kill between the last write and the mark after it: the mark
	# (and the offset it keeps) stands 5 records back
	db="$XDG_STATE_HOME/mas/mas.db"
	offset=$(head -15 "$BATS_TEST_TMPDIR/out1" | wc -c)
	left=$(sqlite3 "$db" "SELECT out_dev || ', out_ino = ' || out_ino ||
		', out_path = ' || quote(out_path) FROM flow_run WHERE id = 'w'")
	rewind() {
		sqlite3 "$db" "UPDATE flow_run SET emitted = 15,
			out_offset = $offset, status = 'stopped',
			out_dev = $left WHERE id = 'w'"
	}
	rewind
	run --separate-stderr mas-flow resume -v w "$in"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[[ "$stderr" == *"5 records after the last mark are in $BATS_TEST_TMPDIR/out1 already"* ]]
	# the file gone, they are written again, as the window says
	rewind
	mv "$BATS_TEST_TMPDIR/out1" "$BATS_TEST_TMPDIR/kept"
	run --separate-stderr mas-flow resume w "$in"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -r .id | tr '\n' ' ')" = "r16 r17 r18 r19 r20 " ]
}

@test "resume: after kill -9, every record once, as an uninterrupted run" {
	flow_file slow <<-'EOF'
	node score  jq '.score = (.n % 7)'
	node slow   run perl -ne '$| = 1; select(undef, undef, undef, 0.001); print'
	node bump   jq '.score += 1'
	node done   jq '.done = true'
	start -> score
	score -> slow
	slow -> bump  if .score < 3  max 2
	slow -> done
	bump -> slow
	done -> end
	EOF
	f="$BATS_TEST_TMPDIR/slow.flow"
	in="$BATS_TEST_TMPDIR/in.jsonl"
	records 1500 >"$in"
	mas-flow run "$f" <"$in" | jq -c 'del(.meta)' | sort >"$BATS_TEST_TMPDIR/ref"
	mas-flow run --run-id k9 "$f" <"$in" >"$BATS_TEST_TMPDIR/out1" &
	pid=$!
	# kill it mid-way, some output out: not right after a write, where
	# the window mas-flow(1) owns for output to another file is (the
	# next test appends to the same file, which has none)
	for _ in $(seq 500); do
		[ -s "$BATS_TEST_TMPDIR/out1" ] && break
		sleep 0.02
	done
	sleep 0.3
	kill -9 "$pid"
	wait "$pid" || true
	n1=$(grep -c '' "$BATS_TEST_TMPDIR/out1" || true)
	[ "$n1" -lt 1500 ]
	run --separate-stderr mas-flow resume k9 "$in"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out2"
	cat "$BATS_TEST_TMPDIR/out1" "$BATS_TEST_TMPDIR/out2" >"$BATS_TEST_TMPDIR/all"
	[ "$(grep -c '' "$BATS_TEST_TMPDIR/all")" -eq 1500 ]
	[ -z "$(jq -r .id "$BATS_TEST_TMPDIR/all" | sort | uniq -d)" ]
	jq -c 'del(.meta)' "$BATS_TEST_TMPDIR/all" | sort |
		cmp - "$BATS_TEST_TMPDIR/ref"
	# a second resume has nothing left to do
	run --separate-stderr mas-flow resume k9 "$in"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run --separate-stderr mas-flow show k9
	output_jq -s '.[0].status == "done" and .[0].records == 1500'
}

@test "resume: appending to the killed run's file, every record exactly once, whole" {
	flow_file copy <<-'EOF'
	node stamp  jq '.stamp = .n * 2'
	node copy   run cat
	start -> stamp
	stamp -> copy
	copy -> end
	EOF
	f="$BATS_TEST_TMPDIR/copy.flow"
	in="$BATS_TEST_TMPDIR/in.jsonl"
	out="$BATS_TEST_TMPDIR/out"
	records 20000 >"$in"
	for k in 1 2 3; do
		: >"$out"
		mas-flow run --run-id "a$k" "$f" "$in" >>"$out" &
		pid=$!
		for _ in $(seq 100); do
			[ -s "$out" ] && break
			sleep 0.02
		done
		sleep "0.0$k"
		kill -9 "$pid"
		wait "$pid" || true
		# a killed run is stopped, its records and steps counted
		run --separate-stderr mas-flow runs
		output_jq -s --arg r "a$k" '.[] | select(.run_id == $r) |
			.status == "stopped" and .steps > 0'
		mas-flow resume "a$k" "$in" >>"$out"
		[ "$(grep -c '' "$out")" -eq 20000 ]
		[ -z "$(jq -r .id "$out" | sort | uniq -d)" ]
		jq -e -s 'map(.stamp == .n * 2) | all' "$out" >/dev/null
	done
}

@test "interrupt: a record with a numeric id waits and is resumed by it" {
	flow_file ask <<-'EOF'
	node ask   interrupt
	node done  jq '.done = true'
	start -> ask
	ask -> done
	done -> end
	EOF
	run --separate-stderr mas-flow run --run-id num \
		"$BATS_TEST_TMPDIR/ask.flow" <<<'{"id":42,"q":"?"}'
	[ "$status" -eq 3 ]
	output_jq '.id == 42 and .status == "waiting"'
	run --separate-stderr mas-flow show num
	output_jq -s '.[1].id == 42 and .[1].waiting'
	run --separate-stderr mas-flow resume --record 42 num
	[ "$status" -eq 0 ]
	output_jq '.id == 42 and .done'
}

@test "resume: an unknown run is a usage error" {
	run --separate-stderr mas-flow resume no-such-run
	[ "$status" -eq 2 ]
	grep -qF "no run 'no-such-run'" <<<"$stderr"
	run --separate-stderr mas-flow resume x --set .
	[ "$status" -eq 2 ]
	grep -qF -- "--set needs --record ID" <<<"$stderr"
}

@test "run: 100,000 records through a 5-node graph, none lost, in order" {
	flow_file five <<-'EOF'
	node parse  jq '.even = (.n % 2 == 0)'
	node a      run cat
	node b      jq '.b = true'
	node c      jobs=2 run cat
	node d      jq '.d = .n * 2'
	start -> parse
	parse -> a
	a -> b  if .even
	a -> c
	b -> c
	c -> d
	d -> end
	EOF
	records 100000 | mas-flow run "$BATS_TEST_TMPDIR/five.flow" \
		>"$BATS_TEST_TMPDIR/out"
	[ "$(grep -c '' "$BATS_TEST_TMPDIR/out")" -eq 100000 ]
	jq -r '[.n, .d, (.b // false), (.meta.flow | length)] | @tsv' \
		"$BATS_TEST_TMPDIR/out" |
		awk -F '\t' '$1 != NR || $2 != 2 * NR ||
			($3 == "true") != (NR % 2 == 0) ||
			$4 != (NR % 2 == 0 ? 5 : 4) { bad++ }
			END { exit bad > 0 }'
}

@test "run: an error record from a run node is that step's failure" {
	flow_file erring <<-'EOF2'
	node check  on_error=fix run jq -c --unbuffered 'if .n == 2 then .error = {code: "INVALID_REQUEST", message: "two"} else . end'
	node fix    jq '.fixed = .error.message | del(.error)'
	start -> check
	check -> end
	fix -> end
	EOF2
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/erring.flow" \
		< <(records 3)
	[ "$status" -eq 0 ]
	output_jq -s '[.[].fixed] == [null, "two", null]'
	output_jq -s '.[1].meta.flow | map(.node) == ["check", "fix"]'
}

@test "run: a long stream runs in constant memory" {
	[ "${SANITIZE:-}" != 1 ] || skip "ASan's own memory"
	flow_file two <<-'EOF'
	node a  jq '.a = 1'
	node b  jq '.b = .n'
	start -> a
	a -> b
	b -> end
	EOF
	rss() {
		records "$1" | /usr/bin/time -f %M mas-flow run \
			"$BATS_TEST_TMPDIR/two.flow" 2>&1 >/dev/null | tail -1
	}
	small=$(rss 20000)
	large=$(rss 100000)
	echo "peak KB: 20,000 records $small, 100,000 records $large"
	# five times the records, not 1 MB more (16 bytes a record kept
	# would be 1.3 MB)
	[ "$((large - small))" -lt 1024 ]
}

@test "run: an error object without a string code and message is the node's UPSTREAM_ERROR" {
	for error in '{}' '{a: 1}' '{code: 5, message: "m"}' '{code: "X"}'; do
		flow_file halferr <<-EOF
		node half  run jq -c --unbuffered 'if .n == 2 then .error = $error else . end'
		start -> half
		half -> end
		EOF
		run --separate-stderr mas-flow run \
			"$BATS_TEST_TMPDIR/halferr.flow" < <(records 3)
		[ "$status" -eq 1 ]
		output_jq -s '[.[] | .error.code // "ok"] ==
			["ok", "UPSTREAM_ERROR", "ok"] and [.[].id] == ["r1", "r2", "r3"]'
		output_jq -s '.[1].error | .node == "half" and
			(.message | test("error that has no string code and message"))
			and .given != null'
		output_jq -s '.[1].meta.flow == [{node: "half", ms: .[1].meta.flow[0].ms, error: "UPSTREAM_ERROR"}]'
	done
}

@test "run: a record with its id twice keeps the last, as jq reads it, when a filter drops it" {
	flow_file drop <<-'EOF'
	node a  run jq -c --unbuffered '{x: .x}'
	start -> a
	a -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/drop.flow" \
		<<<'{"id":"a","id":"bbbbbb","x":1}'
	[ "$status" -eq 0 ]
	output_jq '.id == "bbbbbb" and .x == 1'
}
