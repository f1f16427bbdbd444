#!/usr/bin/env bats
# Observability (mas(7) TRACING, METRICS, PROGRESS): traces across a
# pipeline, OTLP export, Prometheus metrics, -v and progress.

load helpers

setup() {
	common_setup
	export MAS_DATA_DIR="$DATA"
	trace="$BATS_TEST_TMPDIR/trace.jsonl"
}

teardown() {
	if [ -n "${SINK_PID:-}" ]; then
		kill "$SINK_PID" 2>/dev/null || true
		wait "$SINK_PID" 2>/dev/null || true
	fi
}

start_sink() {
	otlp-sink --port-file "$BATS_TEST_TMPDIR/sink.port" --log "$BATS_TEST_TMPDIR/sink.log" "$@" 3>&- &
	SINK_PID=$!
	for _ in $(seq 200); do
		[ -s "$BATS_TEST_TMPDIR/sink.port" ] && break
		sleep 0.02
	done
	export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/sink.port")"
}

@test "a three-program pipeline is one trace with the right parent links" {
	run bash -c "head -2 examples/tasks.jsonl |
		MAS_TRACE='$trace' mas-analyze --output-key first |
		MAS_TRACE='$trace' mas-analyze --output-key second |
		MAS_TRACE='$trace' mas-analyze --output-key third"
	[ "$status" -eq 0 ]
	# per record: one trace id for its three record spans
	run jq -rs '[.[] | select(.name == "mas-analyze" and .attributes["mas.record.id"] == "task-1")] | length' "$trace"
	[ "$output" -eq 3 ]
	run jq -rs '[.[] | select(.name == "mas-analyze" and .attributes["mas.record.id"] == "task-1") | .trace_id] | unique | length' "$trace"
	[ "$output" -eq 1 ]
	# the chain: first has no parent, second's parent is first, third's second
	run jq -rs '
		[.[] | select(.name == "mas-analyze" and .attributes["mas.record.id"] == "task-1")] as $r
		| ($r | map(select(.parent_id == null))) as $roots
		| ($roots | length) == 1
		  and ([$r[] | select(.parent_id == $roots[0].span_id)] | length) == 1
		  and ([$r[] | select(.parent_id == ([$r[] | select(.parent_id == $roots[0].span_id)][0].span_id))] | length) == 1' "$trace"
	[ "$output" = true ]
}

@test "the output carries the record span's traceparent" {
	run --separate-stderr mas-analyze --trace "$trace" < <(tiny_task a)
	[ "$status" -eq 0 ]
	span=$(jq -r 'select(.name == "mas-analyze") | .span_id' "$trace")
	traceid=$(jq -r 'select(.name == "mas-analyze") | .trace_id' "$trace")
	output_jq --arg v "00-$traceid-$span-01" '.traceparent == $v'
}

@test "BDI plans and steps are child spans of the record" {
	run --separate-stderr mas-analyze --trace "$trace" < <(head -1 examples/tasks.jsonl)
	[ "$status" -eq 0 ]
	record=$(jq -r 'select(.name == "mas-analyze") | .span_id' "$trace")
	run jq -rs --arg r "$record" '[.[] | select(.parent_id == $r) | .name] | map(select(startswith("plan:"))) | length' "$trace"
	[ "$output" -ge 10 ]
	run jq -rs '. as $all | [.[] | select(.name == "step:fit_seasonal_models")][0].parent_id as $p | $all[] | select(.span_id == $p) | .name' "$trace"
	[ "$output" = "plan:seasonal_smoothing" ]
	run jq -rs '.[] | select(.name == "plan:seasonal_smoothing") | .attributes["mas.bdi.subject"]' "$trace"
	[ "$output" = engagement ]
}

@test "an incoming traceparent is continued, a bad one starts a new trace" {
	parent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
	run --separate-stderr mas-analyze --trace "$trace" < <(tiny_task a | jq -c --arg p "$parent" '.traceparent = $p'; tiny_task b | jq -c '.traceparent = "junk"')
	[ "$status" -eq 0 ]
	# records are analysed on threads: their spans end in either order
	run jq -rs '[.[] | select(.name == "mas-analyze")] | sort_by(.parent_id == null) | .[0].trace_id + " " + .[0].parent_id + " " + (.[1].parent_id // "none") + " " + (.[1].trace_id != .[0].trace_id | tostring)' "$trace"
	[ "$output" = "0af7651916cd43dd8448eb211c80319c b7ad6b7169203331 none true" ]
}

@test "without tracing the traceparent passes through untouched" {
	run --separate-stderr mas-analyze < <(tiny_task a | jq -c '.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"')
	output_jq '.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"'
}

@test "several processes appending to one trace file leave whole lines" {
	seq 300 | awk '{printf "{\"id\":%d,\"analysis_type\":\"describe\",\"data\":{\"x\":[1,2,%d]}}\n", $1, $1}' > "$BATS_TEST_TMPDIR/t.jsonl"
	pids=
	for i in 1 2 3 4; do
		mas-analyze --trace "$trace" "$BATS_TEST_TMPDIR/t.jsonl" > /dev/null &
		pids="$pids $!"
	done
	# these four only: bats' own timeout watchdog is a child too
	wait $pids
	run jq -c . "$trace"
	[ "$status" -eq 0 ]
	[ "$(jq -s '[.[] | select(.name == "mas-analyze")] | length' "$trace")" -eq 1200 ]
}

@test "errors are marked on the record span" {
	run --separate-stderr mas-analyze --trace "$trace" < <(echo '{"data_source":"nope"}')
	[ "$status" -eq 1 ]
	run jq -r 'select(.name == "mas-analyze") | .status + " " + .attributes["mas.error.code"]' "$trace"
	[ "$output" = "error NOT_FOUND" ]
}

@test "the trace tree script prints nested spans with durations" {
	run --separate-stderr mas-analyze --trace "$trace" < <(head -1 examples/tasks.jsonl)
	run jq -rsf examples/trace-tree.jq "$trace"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "trace "*" (mas-analyze)" ]]
	[[ "$output" == *"    plan:seasonal_smoothing [engagement]  "*" ms"* ]]
	[[ "$output" == *"      step:fit_seasonal_models  "* ]]
}

@test "OTLP export sends well-formed resourceSpans to the collector" {
	start_sink
	OTEL_SERVICE_NAME=analysis-svc run --separate-stderr mas-analyze < <(head -2 examples/tasks.jsonl)
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 2 ]
	run bash -c "cut -d' ' -f2- '$BATS_TEST_TMPDIR/sink.log' | jq -s '[.[].resourceSpans[].scopeSpans[].spans[]] | length'"
	[ "$output" -ge 20 ]
	grep -q '^/v1/traces ' "$BATS_TEST_TMPDIR/sink.log"
	cut -d' ' -f2- "$BATS_TEST_TMPDIR/sink.log" | jq -e '.resourceSpans[0].resource.attributes[0] == {"key":"service.name","value":{"stringValue":"analysis-svc"}}'
	cut -d' ' -f2- "$BATS_TEST_TMPDIR/sink.log" | jq -es '[.[].resourceSpans[].scopeSpans[].spans[]] | all((.traceId | test("^[0-9a-f]{32}$")) and (.spanId | test("^[0-9a-f]{16}$")) and (.startTimeUnixNano | test("^[0-9]+$")) and .status.code == 1)'
}

@test "OTEL_EXPORTER_OTLP_HEADERS are sent" {
	start_sink
	# the sink logs bodies only; a bad header would be refused by curl
	OTEL_EXPORTER_OTLP_HEADERS="x-api-key=secret,x-team=mas" run --separate-stderr mas-analyze < <(tiny_task a)
	[ "$status" -eq 0 ]
	[ -s "$BATS_TEST_TMPDIR/sink.log" ]
}

@test "a collector that is down costs a warning, never a record" {
	export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9
	start=$(date +%s)
	run --separate-stderr mas-analyze < <(head -3 examples/tasks.jsonl)
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 3 ]
	[[ "$stderr" == *"OTLP export to http://127.0.0.1:9/v1/traces failed"* ]]
	[ $(( $(date +%s) - start )) -lt 10 ]
}

@test "a collector that hangs delays the exit by a bounded time only" {
	start_sink --hang
	start=$(date +%s)
	run --separate-stderr mas-analyze < <(tiny_task a)
	[ "$status" -eq 0 ]
	output_jq '.id == "a"'
	[ $(( $(date +%s) - start )) -le 6 ]
}

@test "--metrics-file writes Prometheus text that promtool accepts" {
	metrics="$BATS_TEST_TMPDIR/mas.prom"
	run --separate-stderr mas-analyze --metrics-file "$metrics" < <(head -3 examples/tasks.jsonl; echo 'junk')
	[ "$status" -eq 1 ]
	grep -q '^mas_records_total{program="mas-analyze",outcome="ok"} 3$' "$metrics"
	grep -q '^mas_record_errors_total{program="mas-analyze",code="INVALID_REQUEST"} 1$' "$metrics"
	grep -q '^mas_record_duration_seconds_count{program="mas-analyze"} 4$' "$metrics"
	grep -q '^mas_step_duration_seconds_bucket{program="mas-analyze",step="fit_line",le="+Inf"} ' "$metrics"
	if command -v promtool > /dev/null; then
		run promtool check metrics < "$metrics"
		[ "$status" -eq 0 ]
	fi
	# written whole by rename: no temporary file is left
	[ "$(ls "$BATS_TEST_TMPDIR" | grep -c '\.tmp$')" -eq 0 ]
}

@test "MAS_METRICS_FILE replaces the file atomically on each run" {
	export MAS_METRICS_FILE="$BATS_TEST_TMPDIR/mas.prom"
	mas-analyze < <(tiny_task a) > /dev/null
	first=$(stat -c %i "$MAS_METRICS_FILE")
	mas-analyze < <(tiny_task b; tiny_task c) > /dev/null
	[ "$(stat -c %i "$MAS_METRICS_FILE")" != "$first" ]
	grep -q '^mas_records_total{program="mas-analyze",outcome="ok"} 2$' "$MAS_METRICS_FILE"
}

@test "--metrics-file in a folder that does not exist is a usage error" {
	run --separate-stderr mas-analyze --metrics-file /no/such/dir/m.prom < /dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no folder /no/such/dir"* ]]
}

@test "-v logs one line per record with its id, time and outcome" {
	run --separate-stderr mas-analyze -v < <(tiny_task a; echo 'junk')
	[ "$status" -eq 1 ]
	[[ "$stderr" =~ mas-analyze:\ a\ [0-9.]+\ ms\ ok ]]
	[[ "$stderr" =~ mas-analyze:\ [0-9A-Z]{26}\ [0-9.]+\ ms\ INVALID_REQUEST ]]
}

@test "no progress line when stderr is not a terminal" {
	run --separate-stderr mas-analyze examples/tasks.jsonl
	[ -z "$stderr" ]
}

@test "a progress line on a terminal, none with --quiet" {
	seq 3000 | awk '{printf "{\"id\":%d,\"analysis_type\":\"trend_prediction\",\"data\":{\"x\":[1,3,2,5,4,6,5,8,%d]}}\n", $1, $1}' > "$BATS_TEST_TMPDIR/many.jsonl"
	script -qefc "mas-analyze '$BATS_TEST_TMPDIR/many.jsonl' > /dev/null" "$BATS_TEST_TMPDIR/tty" > /dev/null
	grep -aq 'records .*/s .*%  ETA' "$BATS_TEST_TMPDIR/tty"
	script -qefc "mas-analyze --quiet '$BATS_TEST_TMPDIR/many.jsonl' > /dev/null" "$BATS_TEST_TMPDIR/tty2" > /dev/null
	! grep -aq 'ETA' "$BATS_TEST_TMPDIR/tty2"
}

@test "the progress line follows the records written, about four times a second" {
	awk 'BEGIN { for (i = 1; i <= 1500; i++)
		printf "{\"id\":\"r%d\",\"n\":%d}\n", i, i }' \
		>"$BATS_TEST_TMPDIR/in"
	# about 2 s of work: a millisecond a record
	printf '%s\n' "node slow  run perl -ne '\$| = 1; select(undef, undef, undef, 0.001); print'" \
		'start -> slow' 'slow -> end' >"$BATS_TEST_TMPDIR/slow.flow"
	script -qefc "mas-flow run '$BATS_TEST_TMPDIR/slow.flow' '$BATS_TEST_TMPDIR/in' > /dev/null" \
		"$BATS_TEST_TMPDIR/tty" > /dev/null
	tr '\r' '\n' <"$BATS_TEST_TMPDIR/tty" |
		sed -n 's/^mas-flow: \([0-9]*\) records .* \([0-9]*\)%.*/\1 \2/p' \
		>"$BATS_TEST_TMPDIR/shown"
	cat "$BATS_TEST_TMPDIR/shown"
	# several updates, the counts of records written growing with the
	# percentage, never a percentage far ahead of the records
	[ "$(grep -c '' "$BATS_TEST_TMPDIR/shown")" -ge 4 ]
	sort -n -c "$BATS_TEST_TMPDIR/shown"
	awk '$2 > 5 && $1 == 0 { exit 1 }' "$BATS_TEST_TMPDIR/shown"
}

@test "mas-chat | mas-research | mas-analyze is one trace, each program under the last" {
	export MAS_STATE_DIR="$BATS_TEST_TMPDIR/state" MAS_TRACE="$trace"
	run --separate-stderr bash -c "echo '{\"id\":\"q1\",\"message\":\"How much is the pro plan?\",\"session_id\":\"s1\"}' |
		mas-chat --kb examples/kb.jsonl |
		mas-research --corpus examples/corpus --input '.chat.research_query // .message' |
		mas-analyze --input '{analysis_type: \"describe\", data: {confidence: [.chat.confidence, .research.confidence]}}'"
	[ "$status" -eq 0 ]
	output_jq '.id == "q1" and .chat.intent == "pricing" and (.research.sources | length) > 0 and .analysis.summary.confidence.n == 2'
	run jq -rs '
		[.[] | select(.attributes["mas.record.id"] == "q1")] as $r
		| ($r | map(.trace_id) | unique | length) as $traces
		| ($r[] | select(.service == "mas-chat")) as $chat
		| ($r[] | select(.service == "mas-research")) as $research
		| ($r[] | select(.service == "mas-analyze")) as $analyze
		| [$traces, $chat.parent_id, $research.parent_id == $chat.span_id,
		   $analyze.parent_id == $research.span_id] | @json' "$trace"
	[ "$output" = '[1,null,true,true]' ]
}
