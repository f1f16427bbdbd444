#!/usr/bin/env bats
# examples/monitoring: the Prometheus configuration, alert rules and
# Grafana dashboard, run with Debian's prometheus and node_exporter
# against a real mas-serve and the metrics files of real program runs.
#
# setup_file starts, on loopback ports, a fake model server, mas-serve
# with a key file, node_exporter reading a textfile folder that real
# runs of mas-analyze and mas-bus wrote, and Prometheus with the
# example's configuration (the ports, a 1 s interval and the key
# substituted); then it drives traffic.  teardown_file stops them all.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load helpers

MON=examples/monitoring

# A free-looking loopback port; the caller retries when it is taken.
random_port() {
	echo $((20000 + RANDOM % 40000))
}

# track PID: stopped by teardown_file.
track() {
	echo "$1" >>"$BATS_FILE_TMPDIR/pids"
}

# until_ok SECONDS COMMAND...: run COMMAND every 0.2 s until it
# succeeds, at most SECONDS; fails if it never did.
until_ok() {
	local tries=$(($1 * 5))
	shift
	for _ in $(seq "$tries"); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}

# query PROMQL: the answer of Prometheus's /api/v1/query in $output.
query() {
	output=$(curl -sf --max-time 5 "$PROM/api/v1/query" \
		--data-urlencode "query=$1")
}

# has_value PROMQL JQ: the query's first sample's value passes JQ
# (given the number as .).
has_value() {
	query "$1" || return 1
	printf '%s' "$output" | jq -e \
		"(.data.result[0].value[1] // empty | tonumber) | $2" >/dev/null
}

start_fake_model() {
	local dir=$BATS_FILE_TMPDIR
	# A chat reply for the chat agent; the other agents' requests get
	# it too, which they cannot use: model failures and fallbacks.
	echo '{"json":{"response":"Pro costs $15 per user per month.","intent":"pricing","sentiment":"neutral","sentiment_score":0.1,"confidence":0.93}}' \
		>"$dir/rules.jsonl"
	fake-openai --port 0 --port-file "$dir/model.port" \
		--script "$dir/rules.jsonl" </dev/null >/dev/null \
		2>"$dir/model.err" 3>&- &
	track $!
	until_ok 5 test -s "$dir/model.port"
	export OPENAI_BASE_URL="http://127.0.0.1:$(cat "$dir/model.port")/v1"
}

start_serve() {
	local dir=$BATS_FILE_TMPDIR log=$BATS_FILE_TMPDIR/serve.log
	mas-serve keys add prometheus --routes metrics --keys "$dir/keys" \
		>"$dir/prometheus.key"
	CLIENT=$(mas-serve keys add client --keys "$dir/keys")
	LIMITED=$(mas-serve keys add limited --routes chat --rate 1/m \
		--burst 1 --keys "$dir/keys")
	export CLIENT LIMITED
	mas-serve --listen 127.0.0.1:0 -v --keys "$dir/keys" \
		--kb examples/kb.jsonl --corpus examples/corpus \
		--data-dir examples/data --workers 2 --task-workers 1 \
		--model fake --header-timeout 1 2>"$log" 3>&- &
	track $!
	until_ok 15 grep -q 'listening on http://' "$log" || {
		cat "$log" >&2
		return 1
	}
	SERVE=$(sed -n 's|.*listening on http://\([0-9.:]*\)/.*|\1|p' "$log" |
		head -1)
	export SERVE
}

# The metrics files of real runs, where node_exporter reads them: an
# analysis with a bad line, and a bus with a group that took one of
# three messages and has no member left.
write_textfiles() {
	local tf=$BATS_FILE_TMPDIR/textfile
	mkdir -p "$tf"
	{ cat examples/tasks.jsonl; echo 'not json'; } |
		mas-analyze -q -d examples/data \
			--metrics-file "$tf/mas-analyze.prom" >/dev/null || true
	printf '{"n":1}\n{"n":2}\n{"n":3}\n' |
		mas-bus pub jobs.report --metrics-file "$tf/mas-bus-pub.prom" \
			>/dev/null
	mas-bus sub 'jobs.*' --group reports --count 1 \
		--metrics-file "$tf/mas-bus-sub.prom" >/dev/null
	mas-bus stat --metrics-file "$tf/mas-bus-stat.prom" >/dev/null
}

# start_listening VAR PATH LOG COMMAND...: start COMMAND, where @PORT@
# stands for a random loopback port, until http://127.0.0.1:PORT/PATH
# answers and COMMAND still runs (a port another server holds makes it
# exit); a few tries.  Exports VAR=127.0.0.1:PORT.
start_listening() {
	local var=$1 path=$2 log=$3 port pid
	shift 3
	for _ in 1 2 3 4 5; do
		port=$(random_port)
		"${@//@PORT@/$port}" 2>"$log" 3>&- &
		pid=$!
		track "$pid"
		if until_ok 10 curl -sf -o /dev/null \
			"http://127.0.0.1:$port$path" && sleep 0.2 &&
			kill -0 "$pid" 2>/dev/null; then
			export "$var=127.0.0.1:$port"
			return 0
		fi
	done
	cat "$log" >&2
	return 1
}

start_node_exporter() {
	start_listening NODE /metrics "$BATS_FILE_TMPDIR/node.log" \
		prometheus-node-exporter --web.listen-address=127.0.0.1:@PORT@ \
		--collector.disable-defaults --collector.textfile \
		--collector.textfile.directory="$BATS_FILE_TMPDIR/textfile"
}

# The example's configuration with the ports, a 1 s interval and the
# key for /metrics; the rules file beside it.
write_prometheus_config() {
	local dir=$BATS_FILE_TMPDIR/prometheus
	mkdir -p "$dir"
	cp "$MON/mas-alerts.yml" "$dir/"
	sed -e "s/localhost:8000/$SERVE/" -e "s/localhost:9100/$NODE/" \
		-e 's/_interval: 15s/_interval: 1s/' \
		-e 's/#authorization:/authorization:/' \
		-e 's/#  type: Bearer/  type: Bearer/' \
		-e "s|#  credentials_file: .*|  credentials_file: $BATS_FILE_TMPDIR/prometheus.key|" \
		"$MON/prometheus.yml" >"$dir/prometheus.yml"
}

start_prometheus() {
	local dir=$BATS_FILE_TMPDIR/prometheus
	start_listening PROM /-/ready "$dir/log" \
		prometheus --config.file="$dir/prometheus.yml" \
		--storage.tsdb.path="$dir/data" \
		--web.listen-address=127.0.0.1:@PORT@ --log.level=warn &&
		PROM=http://$PROM
}

api() {
	curl -s --max-time 10 -H "X-API-Key: $CLIENT" \
		-H 'Content-Type: application/json' "$@"
}

# Requests of every kind, once Prometheus has a first sample of each
# target, so that counters are seen to grow.
drive_traffic() {
	local id fd failures
	# a client that never finishes its request: dropped after 1 s
	exec {fd}<>"/dev/tcp/${SERVE%:*}/${SERVE#*:}"
	printf 'GET /health HTTP/1.1\r\n' >&"$fd"
	api -X POST "$SERVE/chat" -d '{"message":"how much is pro?"}' >/dev/null
	api -X POST "$SERVE/chat" -d '{"message":"how much is pro?"}' >/dev/null
	api -X POST "$SERVE/chat" -d 'not json' >/dev/null
	api -X POST "$SERVE/analysis" \
		-d '{"data_source":"user_behavior","analysis_type":"trend"}' >/dev/null
	api -X POST "$SERVE/research" -d '{"query":"flow batteries"}' >/dev/null
	id=$(api -X POST "$SERVE/tasks" \
		-d '{"type":"research","query":"flow batteries"}' |
		jq -r .data.task_id)
	until_ok 20 sh -c "curl -s -H 'X-API-Key: $CLIENT' \
		'$SERVE/tasks/$id' | grep -q '\"status\":\"completed\"'"
	for _ in 1 2; do
		curl -s -o /dev/null -H "X-API-Key: $LIMITED" -X POST \
			-H 'Content-Type: application/json' \
			-d '{"message":"hi"}' "$SERVE/chat"
	done
	until_ok 10 sh -c "curl -s -H 'X-API-Key: $CLIENT' '$SERVE/metrics' |
		grep -q '^mas_http_slow_clients_total'"
	exec {fd}>&-
	# one more failed model call once Prometheus has seen the counter,
	# for increase() to see it grow
	until_ok 10 has_value \
		'sum(mas_llm_failures_total{job="mas-serve"})' '. > 0'
	failures=$(model_failures)
	api -X POST "$SERVE/analysis" \
		-d '{"data_source":"server_metrics","analysis_type":"trend"}' \
		>/dev/null
	[ "$(model_failures)" -gt "$failures" ]
}

# mas-serve's count of failed model calls, all codes.
model_failures() {
	api "$SERVE/metrics" |
		awk '/^mas_llm_failures_total[{]/ { n += $2 } END { print n + 0 }'
}

setup_file() {
	cd "$TOP" || return 1
	export HOME="$BATS_FILE_TMPDIR/home"
	export MAS_STATE_DIR="$BATS_FILE_TMPDIR/state"
	export XDG_CONFIG_HOME="$BATS_FILE_TMPDIR/config"
	mkdir -p "$HOME" "$MAS_STATE_DIR" "$XDG_CONFIG_HOME"
	unset OPENAI_API_KEY MAS_MODEL MAS_LOG_LEVEL MAS_LOG_FORMAT \
		MAS_METRICS_FILE MAS_BUS_URL
	: >"$BATS_FILE_TMPDIR/pids"
	start_fake_model
	start_serve
	write_textfiles
	start_node_exporter
	write_prometheus_config
	start_prometheus
	until_ok 15 has_value 'sum(up{job=~"mas-serve|node"})' '. == 2' || {
		curl -s "$PROM/api/v1/targets" >&2
		return 1
	}
	drive_traffic
}

# Stop every server: SIGTERM, then SIGKILL what is left after 5 s.
teardown_file() {
	local pid
	[ -f "$BATS_FILE_TMPDIR/pids" ] || return 0
	while read -r pid; do
		kill -TERM "$pid" 2>/dev/null || true
	done <"$BATS_FILE_TMPDIR/pids"
	while read -r pid; do
		gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
	done <"$BATS_FILE_TMPDIR/pids"
}

setup() {
	cd "$TOP" || return 1
}

# The metric names a PromQL expression uses: label matchers, strings,
# ranges, grouping label lists and variables taken out, then every word
# that is not a function (followed by "("), a keyword or a number.
promql_names() {
	jq -Rr '
		gsub("\"([^\"\\\\]|\\\\.)*\""; "")
		| gsub("\\{[^}]*\\}"; " ")
		| gsub("\\[[^\\]]*\\]"; " ")
		| gsub("\\$[A-Za-z_]+"; " ")
		| gsub("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)"; " ")
		| [scan("[A-Za-z0-9_:.]+\\s*\\(?")][]
		| select(test("^[A-Za-z_:]") and (test("\\($") | not))
		| sub("\\s+$"; "")
		| select(IN("and", "or", "unless", "bool", "offset", "by",
			"without", "on", "ignoring", "group_left", "group_right",
			"Inf", "NaN", "inf", "nan") | not)'
}

dashboard_exprs() {
	jq -r '[.. | objects | select(has("expr")) | .expr][]' \
		"$MON/mas-dashboard.json"
}

rule_exprs() {
	curl -sf --max-time 5 "$PROM/api/v1/rules" |
		jq -r '.data.groups[].rules[].query'
}

@test "monitoring: promtool accepts the configuration and the rules" {
	run promtool check config "$MON/prometheus.yml"
	assert_success
	assert_output --partial 'SUCCESS: 1 rule files found'
	run promtool check rules "$MON/mas-alerts.yml"
	assert_success
	assert_output --regexp 'SUCCESS: [0-9]+ rules found'
	# and the configuration the tests made of it, key and all
	run promtool check config "$BATS_FILE_TMPDIR/prometheus/prometheus.yml"
	assert_success
	grep -q "credentials_file: $BATS_FILE_TMPDIR/prometheus.key" \
		"$BATS_FILE_TMPDIR/prometheus/prometheus.yml"
}

@test "monitoring: the dashboard is a Grafana dashboard with a query in every panel" {
	run jq -e '.title == "mas" and .uid and (.schemaVersion | type) ==
		"number" and (.templating.list[0].type == "datasource")' \
		"$MON/mas-dashboard.json"
	assert_success
	# every panel but the rows has queries, each with its data source
	run jq -e '[.panels[] | select(.type != "row")] | length > 20 and
		all(.targets | length > 0 and all(.expr != "" and
		.datasource.uid == "${datasource}" and .refId))' \
		"$MON/mas-dashboard.json"
	assert_success
	# panels do not overlap
	run jq -e '[.panels[].gridPos | "\(.x),\(.y)"] | length == (unique |
		length)' "$MON/mas-dashboard.json"
	assert_success
}

@test "monitoring: Prometheus scrapes mas-serve and the values arrive" {
	until_ok 15 has_value \
		'sum(mas_http_requests_total{job="mas-serve",route="/chat",status="200"})' \
		'. >= 2'
	until_ok 10 has_value 'sum(mas_tasks{job="mas-serve",state="completed"})' \
		'. >= 1'
	until_ok 10 has_value \
		'sum(mas_http_requests_total{job="mas-serve",status="429"})' '. >= 1'
	until_ok 10 has_value 'sum(mas_llm_tokens_total{job="mas-serve"})' '. > 0'
	until_ok 10 has_value 'sum(mas_llm_cache_hits_total{job="mas-serve"})' \
		'. >= 1'
	until_ok 10 has_value \
		'sum(mas_records_total{job="mas-serve",agent="chat",outcome="ok"})' \
		'. >= 2'
	# a latency quantile the dashboard draws, from the histogram
	until_ok 10 has_value 'histogram_quantile(0.9, sum by (le) (rate(mas_http_request_duration_seconds_bucket{job="mas-serve"}[1m])))' \
		'. > 0'
}

@test "monitoring: node_exporter's textfile collector serves the programs' files" {
	until_ok 10 has_value \
		'mas_records_total{job="node",program="mas-analyze",outcome="error"}' \
		'. == 1'
	has_value 'sum(mas_records_total{job="node",program="mas-analyze"})' \
		". == $(($(wc -l <examples/tasks.jsonl) + 1))"
	has_value 'mas_bus_published_total{job="node",program="mas-bus"}' \
		'. == 3'
	has_value 'mas_bus_group_lag{job="node",group="reports"}' '. == 2'
	has_value 'mas_bus_group_delivered_total{job="node",group="reports"}' \
		'. == 1'
	has_value 'count(node_textfile_mtime_seconds{file=~"(.*/)?mas-.*[.]prom"})' \
		'. == 4'
	has_value 'sum(node_textfile_scrape_error)' '. == 0'
}

@test "monitoring: the rules load, evaluate without error, and alert" {
	run rule_exprs
	assert_success
	[ "$(printf '%s\n' "$output" | grep -c .)" -eq \
		"$(grep -c '^ *- alert:' "$MON/mas-alerts.yml")" ]
	# every rule evaluated, none failed
	until_ok 10 sh -c "curl -sf '$PROM/api/v1/rules' | jq -e '
		[.data.groups[].rules[]] | all(.health == \"ok\")' >/dev/null"
	# the group that took one message and has no member: pending
	until_ok 15 sh -c "curl -sf '$PROM/api/v1/alerts' | jq -e '
		.data.alerts | any(.labels.alertname == \"MasBusGroupNoConsumer\"
		and .labels.group == \"reports\" and .state == \"pending\")' \
		>/dev/null"
	# the model's answers the analysis and research agents cannot use
	until_ok 15 sh -c "curl -sf '$PROM/api/v1/alerts' | jq -e '
		.data.alerts | any(.labels.alertname == \"MasModelFailures\"
		and .labels.program == \"mas-serve\" and .state == \"firing\")' \
		>/dev/null"
	# and what is well stays quiet
	run curl -sf "$PROM/api/v1/alerts"
	assert_success
	output_jq '[.data.alerts[].labels.alertname] | all(IN("MasServeDown",
		"MasCronJobStale", "MasTaskWorkersAbsent",
		"MasTextfileUnreadable") | not)'
}

@test "monitoring: every query of the dashboard is valid PromQL" {
	local rules=$BATS_TEST_TMPDIR/dashboard-rules.json
	# each query as a recording rule, for promtool to parse and type-
	# check them all at once (JSON is YAML)
	jq '{groups: [{name: "dashboard", rules: [[.. | objects |
		select(has("expr")) | .expr] | to_entries[] |
		{record: "dashboard:query_\(.key)", expr: (.value |
		gsub("\\$__rate_interval"; "1m"))}]}]}' \
		"$MON/mas-dashboard.json" >"$rules"
	run promtool check rules "$rules"
	assert_success
	assert_output --partial "SUCCESS: $(dashboard_exprs | grep -c .) rules found"
	# and one of them, answered by Prometheus
	query "$(dashboard_exprs | grep -m1 mas_tasks |
		sed 's/\$__rate_interval/1m/g')"
	printf '%s' "$output" | jq -e '.status == "success" and
		(.data.result | length > 0)'
}

@test "monitoring: the dashboard and the rules use only metric names the programs export" {
	local scraped=$BATS_TEST_TMPDIR/scraped used=$BATS_TEST_TMPDIR/used
	# a real scrape of each: mas-serve, and node_exporter's textfile
	# collector serving the programs' files
	{
		curl -sf -H "Authorization: Bearer $(cat \
			"$BATS_FILE_TMPDIR/prometheus.key")" "http://$SERVE/metrics"
		curl -sf "http://$NODE/metrics"
	} | sed -n 's/^\([a-zA-Z_:][a-zA-Z0-9_:]*\).*/\1/p' | sort -u \
		>"$scraped"
	grep -q '^mas_http_requests_total$' "$scraped"
	grep -q '^mas_bus_group_lag$' "$scraped"
	{
		dashboard_exprs
		rule_exprs
	} | promql_names | sort -u >"$used"
	# the tokenizer found the names (a broken one would find none)
	[ "$(grep -c . "$used")" -gt 30 ]
	grep -q '^mas_http_request_duration_seconds_bucket$' "$used"
	grep -q '^node_textfile_mtime_seconds$' "$used"
	# `up` is made by Prometheus for each target, not scraped
	run comm -23 "$used" <(printf 'up\n' | sort -u - "$scraped")
	assert_success
	assert_output ''
}

@test "monitoring: the tokenizer keeps names and drops functions, labels and keywords" {
	run promql_names <<-'EOF'
	sum by (le, route) (rate(a_total{x="y{z}",w=~"b|c"}[5m] offset 1h)) / on (i) group_left (j) b:c > bool 1e3 and histogram_quantile(0.9, d_bucket[$__rate_interval])
	EOF
	assert_success
	assert_output "$(printf 'a_total\nb:c\nd_bucket')"
}

@test "monitoring: mas-bus stat writes each group's figures for the textfile collector" {
	export MAS_STATE_DIR=$BATS_TEST_TMPDIR/state
	mkdir -p "$MAS_STATE_DIR"
	printf '{"n":1}\n{"n":2}\n' | mas-bus pub jobs.a >/dev/null
	mas-bus sub 'jobs.*' --group 'night "shift"' --count 1 >/dev/null
	run --separate-stderr mas-bus stat --metrics-file \
		"$BATS_TEST_TMPDIR/stat.prom"
	assert_success
	# the same figures as the JSON lines
	output_jq -s '.[1] | .group == "night \"shift\"" and .lag == 1 and
		.delivered == 1 and .acknowledged == 1 and .in_flight == 0'
	run promtool check metrics <"$BATS_TEST_TMPDIR/stat.prom"
	assert_success
	run grep -v '^#' "$BATS_TEST_TMPDIR/stat.prom"
	assert_output --partial \
		'mas_bus_group_lag{program="mas-bus",group="night \"shift\""} 1'
	assert_output --partial \
		'mas_bus_group_delivered_total{program="mas-bus",group="night \"shift\""} 1'
	assert_output --partial \
		'mas_bus_group_in_flight{program="mas-bus",group="night \"shift\""} 0'
	[ "$(grep -c '^mas_bus_group_' "$BATS_TEST_TMPDIR/stat.prom")" -eq 7 ]
	# totals of the bus, not of the run: a second stat says the same
	mas-bus stat --metrics-file "$BATS_TEST_TMPDIR/again.prom" >/dev/null
	diff "$BATS_TEST_TMPDIR/stat.prom" "$BATS_TEST_TMPDIR/again.prom"
}
