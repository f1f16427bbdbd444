#!/usr/bin/env bats
# mas-analyze(1): tasks, series mode, methods visible in the output, bad
# input.  Numbers themselves are checked against reference values in the
# unit tests (tests/unit/test-stats.c); here the program's behaviour.

load helpers

setup() {
	common_setup
	export MAS_DATA_DIR="$DATA"
}

task() {
	jq -nc "$@"
}

@test "the shipped tasks all succeed" {
	run --separate-stderr mas-analyze examples/tasks.jsonl
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq "$(grep -c . examples/tasks.jsonl)" ]
	output_jq -s 'all(.analysis.status == "completed")'
	[ -z "$stderr" ]
}

@test "trend_prediction gives trends, 7 forecast points with intervals, and a meaningful confidence" {
	run --separate-stderr mas-analyze < <(head -1 examples/tasks.jsonl)
	[ "$status" -eq 0 ]
	output_jq '.analysis.current_trends | keys == ["conversion","engagement","retention"]'
	output_jq '.analysis.current_trends.engagement.trend == "increasing"'
	output_jq '.analysis.current_trends.retention.trend == "decreasing"'
	output_jq '.analysis.predictions.next_7_days.engagement.forecast | length == 7'
	output_jq '[.analysis.predictions.next_7_days[].forecast[]] | length == 21 and all(.lower < .value and .value < .upper)'
	output_jq '[.analysis.predictions.next_7_days[].confidence] | all(. >= 0.5 and . <= 1)'
	output_jq '.analysis.predictions.next_7_days.engagement.predicted_change | test("^[+-][0-9]+\\.[0-9]%$")'
	output_jq '.analysis.predictions.next_7_days.engagement.forecast[0].time == "2026-09-29"'
}

@test "confidence follows the evidence: a clean trend is surer than noise" {
	clean=$(task '{analysis_type:"trend_prediction",data:{y:[range(40)|. * 2 + 100]}}')
	noisy=$(task '{analysis_type:"trend_prediction",data:{y:[range(40)|(. * 7919 % 37) + 100]}}')
	run --separate-stderr mas-analyze < <(echo "$clean"; echo "$noisy")
	[ "$status" -eq 0 ]
	output_jq -s '.[0].analysis.predictions.next_7_periods.y.confidence > 0.99'
	output_jq -s '.[1].analysis.predictions.next_7_periods.y.confidence < .[0].analysis.predictions.next_7_periods.y.confidence'
}

@test "the weekly season is detected and a seasonal plan chosen" {
	run --separate-stderr mas-analyze < <(task '{data_source:"user_behavior",analysis_type:"trend_prediction",parameters:{metrics:["engagement"]}}')
	[ "$status" -eq 0 ]
	output_jq '.analysis.meta.plans[] | select(.goal == "season") | .plan == "autocorrelation_period"'
	output_jq '.analysis.meta.plans[] | select(.goal == "forecast") | .plan == "seasonal_smoothing"'
	output_jq '.analysis.predictions.next_7_days.engagement.period == 7'
}

@test "a curved trend is no season: web1's requests get the non-seasonal plan, engagement keeps its week" {
	# web1's requests rise through the morning in hourly steps; after a
	# line their autocorrelation decays slowly from lag 1 with a bump at
	# lag 5, once read as a period (seasonal naive then won the check)
	run --separate-stderr mas-analyze --series --by host --type trend_prediction "$DATA/server_metrics.jsonl"
	[ "$status" -eq 0 ]
	output_jq -s '.[] | select(.group.host == "web1") | .analysis.meta.plans[] | select(.subject == "requests" and .goal == "forecast") | .plan == "trend_smoothing"'
	output_jq -s '.[] | select(.group.host == "web1") | .analysis.predictions[].requests | has("period") | not'
	run --separate-stderr mas-analyze < <(task '{data_source:"user_behavior",analysis_type:"trend_prediction",parameters:{metrics:["engagement"],time_range:"last_30_days"}}')
	[ "$status" -eq 0 ]
	output_jq '.analysis.meta.plans[] | select(.goal == "forecast") | .plan == "seasonal_smoothing"'
	output_jq '.analysis.insights | any(. == "engagement repeats every 7 days.")'
}

@test "too few points: the describe-only plan, with the reason" {
	run --separate-stderr mas-analyze < <(task '{analysis_type:"trend_prediction",data:{y:[3,4,5]}}')
	[ "$status" -eq 0 ]
	output_jq '.analysis.meta.plans[] | select(.goal == "forecast") | .plan == "describe_only"'
	output_jq '.analysis.omitted.y.prediction | test("at least 5 values")'
	output_jq '.analysis.predictions.next_7_periods == {}'
}

@test "a given seasonal period overrides detection" {
	run --separate-stderr mas-analyze < <(task '{data_source:"user_behavior",analysis_type:"trend_prediction",parameters:{metrics:["engagement"],seasonal_period:14}}')
	output_jq '.analysis.meta.plans[] | select(.goal == "season") | .plan == "given_period"'
	run --separate-stderr mas-analyze --period 3 < <(task '{data_source:"user_behavior",analysis_type:"trend_prediction",parameters:{metrics:["engagement"]}}')
	output_jq '.analysis.meta.plans[] | select(.goal == "season") | .plan == "given_period"'
}

@test "horizons: weeks convert to days, a number is periods, --horizon overrides" {
	run --separate-stderr mas-analyze < <(task '{data_source:"user_behavior",analysis_type:"trend_prediction",parameters:{metrics:["conversion"],prediction_horizon:"next_2_weeks"}}')
	output_jq '.analysis.predictions.next_2_weeks.conversion.forecast | length == 14'
	run --separate-stderr mas-analyze < <(task '{data_source:"sales",analysis_type:"trend_prediction",parameters:{metrics:["revenue"],prediction_horizon:5}}')
	output_jq '.analysis.predictions.next_5_periods.revenue.forecast | length == 5'
	output_jq '.analysis.predictions.next_5_periods.revenue.forecast[0].time == "2026-01-01"'
	run --separate-stderr mas-analyze --horizon 3 < <(task '{data_source:"user_behavior",analysis_type:"trend_prediction",parameters:{prediction_horizon:"next_7_days"}}')
	output_jq '.analysis.predictions.next_3_days.engagement.forecast | length == 3'
}

@test "CSV and JSON Lines data give the same numbers" {
	run --separate-stderr mas-analyze < <(task '{data_source:"user_behavior.csv",analysis_type:"describe"}'; task '{data_source:"user_behavior.jsonl",analysis_type:"describe"}')
	[ "$status" -eq 0 ]
	output_jq -s '.[0].analysis.summary == .[1].analysis.summary'
}

@test "inline data as rows or as columns" {
	run --separate-stderr mas-analyze < <(task '{analysis_type:"describe",data:[{a:1,b:2},{a:3,b:4}]}'; task '{analysis_type:"describe",data:{a:[1,3],b:[2,4]}}')
	[ "$status" -eq 0 ]
	output_jq -s '.[0].analysis.summary == .[1].analysis.summary and .[0].analysis.summary.b.mean == 3'
}

@test "time_range keeps the last part by time" {
	run --separate-stderr mas-analyze < <(task '{data_source:"user_behavior",analysis_type:"describe",parameters:{time_range:"last_14_days"}}'; task '{data_source:"user_behavior",analysis_type:"describe",parameters:{time_range:"last_5_points"}}')
	output_jq -s '.[0].analysis.meta.data.used == 14 and .[0].analysis.meta.data.rows == 90'
	output_jq -s '.[1].analysis.meta.data.used == 5'
}

@test "anomalies: the injected spike and dip are found with their dates" {
	run --separate-stderr mas-analyze < <(task '{data_source:"user_behavior",analysis_type:"anomaly",parameters:{metrics:["engagement"]}}')
	[ "$status" -eq 0 ]
	output_jq '[.analysis.anomalies[].time] | index("2026-07-24") != null and index("2026-08-31") != null'
	output_jq '.analysis.anomalies | all(.score | fabs > 3.5)'
}

@test "correlation pairs carry Pearson and Spearman" {
	run --separate-stderr mas-analyze < <(task '{data_source:"sales",analysis_type:"correlation"}')
	output_jq '.analysis.correlations[0] | .metrics == ["revenue","orders"] and .pearson > 0.9 and .spearman > 0.9'
}

@test "insights follow context.preferred_language, and --lang overrides" {
	run --separate-stderr mas-analyze < <(task '{data_source:"user_behavior",analysis_type:"trend",context:{preferred_language:"zh-CN"}}')
	output_jq '.analysis.insights[0] | test("趋势")'
	run --separate-stderr mas-analyze --lang en < <(task '{data_source:"user_behavior",analysis_type:"trend",context:{preferred_language:"zh-CN"}}')
	output_jq '.analysis.insights[0] | test("per day")'
}

@test "missing values are counted and reported" {
	run --separate-stderr mas-analyze < <(task '{data_source:"user_behavior",analysis_type:"describe"}')
	output_jq '.analysis.meta.data.missing == {"conversion":1,"retention":1}'
	output_jq '.analysis.summary.retention.missing == 1'
}

@test "a gap in daily rows is filled with a missing period" {
	run --separate-stderr mas-analyze < <(task '{analysis_type:"describe",data:[{date:"2026-01-01",v:1},{date:"2026-01-02",v:2},{date:"2026-01-05",v:5},{date:"2026-01-03",v:3}]}')
	output_jq '.analysis.meta.data | .inserted_periods == 1 and .reordered == true and .irregular_steps == 1'
	output_jq '.analysis.summary.v.missing == 1'
}

@test "a data_source that does not exist is NOT_FOUND, naming the folder" {
	run --separate-stderr mas-analyze < <(task '{data_source:"nothing_here",analysis_type:"describe"}')
	[ "$status" -eq 1 ]
	output_jq --arg d "$DATA" '.error == {code:"NOT_FOUND",message:"data_source: no file nothing_here.jsonl or nothing_here.csv in \($d)"}'
}

@test "a data_source that is a path is refused" {
	run --separate-stderr mas-analyze < <(task '{data_source:"../../etc/passwd",analysis_type:"describe"}')
	[ "$status" -eq 1 ]
	output_jq '.error.code == "INVALID_REQUEST" and (.error.message | startswith("data_source:"))'
}

@test "bad fields are errors that name the field" {
	run --separate-stderr mas-analyze < <(
		task '{data_source:"sales",analysis_type:"guess"}'
		task '{data_source:"sales",parameters:{prediction_horizon:"soon"}}'
		task '{data_source:"sales",parameters:{metrics:["profit"]}}'
		task '{data_source:"sales",parameters:{time_range:"yesterday"}}'
		task '{data_source:42}'
		task '{analysis_type:"describe"}'
		task '{data:{a:[1,2],b:[1]}}'
		task '{data_source:"sales",parameters:"all"}')
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 8 ]
	run jq -r '.error.message | split(":")[0]' <<<"$output"
	[ "${lines[0]}" = analysis_type ]
	[ "${lines[1]}" = parameters.prediction_horizon ]
	[ "${lines[2]}" = parameters.metrics ]
	[ "${lines[3]}" = parameters.time_range ]
	[ "${lines[4]}" = data_source ]
	[ "${lines[5]}" = data_source ]
	[ "${lines[6]}" = data.b ]
	[ "${lines[7]}" = parameters ]
}

@test "a malformed data file is an error naming its line" {
	mkdir -p "$BATS_TEST_TMPDIR/d"
	printf '{"v":1}\n{"v":\n' > "$BATS_TEST_TMPDIR/d/bad.jsonl"
	printf 'a,b\n1,2\n3\n' > "$BATS_TEST_TMPDIR/d/short.csv"
	run --separate-stderr mas-analyze --data-dir "$BATS_TEST_TMPDIR/d" < <(task '{data_source:"bad"}'; task '{data_source:"short"}')
	[ "$status" -eq 1 ]
	output_jq -s '.[0].error.message | endswith("bad.jsonl:2: not a JSON object")'
	output_jq -s '.[1].error.message | endswith("short.csv:3: 1 cells, but the header has 2")'
}

@test "CSV cells keep their UTF-8: a Chinese header, a quoted cell" {
	mkdir -p "$BATS_TEST_TMPDIR/d"
	printf 'date,销量,"备注, 说明"\n2024-01-01,5,"一"\n2024-01-02,7,二\n2024-01-03,9,"三 ""四"""\n' \
		> "$BATS_TEST_TMPDIR/d/zh.csv"
	run --separate-stderr mas-analyze --data-dir "$BATS_TEST_TMPDIR/d" < <(task '{data_source:"zh.csv",analysis_type:"describe"}')
	[ "$status" -eq 0 ]
	output_jq '.analysis.summary | keys == ["销量"]'
	output_jq '.analysis.summary."销量".mean == 7'
}

@test "series mode: one analysis per group at end of input" {
	run --separate-stderr mas-analyze --series --by host --type anomaly "$DATA/server_metrics.jsonl"
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 2 ]
	output_jq -s '[.[].group.host] == ["web1","web2"] and all(.rows == 100)'
	output_jq -s '.[1].analysis.anomalies | map(select(.metric == "latency_ms")) | length >= 6'
	output_jq -s '.[0].analysis.anomalies | map(select(.metric == "latency_ms")) | length == 0'
}

@test "series mode without --by analyses everything as one group" {
	run --separate-stderr mas-analyze --series --metric engagement "$DATA/user_behavior.jsonl"
	[ "$status" -eq 0 ]
	output_jq '.rows == 90 and (.analysis.summary | keys == ["engagement"]) and (has("group") | not)'
}

@test "series mode keeps bad lines as error records" {
	run --separate-stderr mas-analyze --series < <(echo '{"v":1}'; echo 'junk'; echo '{"v":2}'; echo '{"v":3}')
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 2 ]
	output_jq -s '.[0].error.line == 2 and .[1].analysis.summary.v.n == 3'
	output_jq -s '.[0].id | test("^[0-9A-Z]{26}$")'
	run --separate-stderr mas-analyze --series --input .b < <(echo '{"b":{"v":1}}'; echo '{"a":1}')
	[ "$status" -eq 1 ]
	output_jq -s '.[0].error.message == "line 2: --input must give an object" and (.[0].id | length) == 26'
}

@test "--by without --series is a usage error" {
	run --separate-stderr mas-analyze --by host < /dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--by: only in series mode"* ]]
}

@test "--plot writes one SVG per metric" {
	run --separate-stderr mas-analyze --plot "$BATS_TEST_TMPDIR/plots" < <(head -1 examples/tasks.jsonl)
	[ "$status" -eq 0 ]
	for m in engagement conversion retention; do
		grep -q '<svg' "$BATS_TEST_TMPDIR/plots/task-1-$m.svg"
	done
}

@test "--plot makes its folder, and fails at once when it cannot" {
	run --separate-stderr mas-analyze --plot "$BATS_TEST_TMPDIR/new" < <(tiny_task a)
	[ "$status" -eq 0 ]
	[ -f "$BATS_TEST_TMPDIR/new/a-x.svg" ]
	run --separate-stderr mas-analyze --plot "$BATS_TEST_TMPDIR/no/such/dir" < <(tiny_task a)
	[ "$status" -eq 2 ]
	[ "$stderr" = "mas-analyze: error: --plot: $BATS_TEST_TMPDIR/no/such/dir: No such file or directory" ]
	[ -z "$output" ]
	run --separate-stderr mas-analyze --plot /etc/passwd < <(tiny_task a)
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"not a folder"* ]]
}

@test "bad option values are usage errors naming the option" {
	run --separate-stderr mas-analyze --horizon 0
	[ "$status" -eq 2 ]; [[ "$stderr" == *"--horizon: '0'"* ]]
	run --separate-stderr mas-analyze --coverage 1.5
	[ "$status" -eq 2 ]; [[ "$stderr" == *"--coverage: '1.5'"* ]]
	run --separate-stderr mas-analyze --type everything
	[ "$status" -eq 2 ]; [[ "$stderr" == *"--type: 'everything'"* ]]
	run --separate-stderr mas-analyze --lang fr
	[ "$status" -eq 2 ]; [[ "$stderr" == *"'fr' is not en or zh"* ]]
}

@test "--coverage widens or narrows the intervals" {
	t=$(task '{data_source:"sales",analysis_type:"trend_prediction",parameters:{metrics:["revenue"],prediction_horizon:3}}')
	run --separate-stderr bash -c "echo '$t' | mas-analyze --coverage 0.5; echo '$t' | mas-analyze --coverage 0.99"
	output_jq -s '[.[].analysis.predictions.next_3_periods.revenue.forecast[0] | .upper - .lower] | .[0] < .[1]'
}

@test "the same input gives the same analysis" {
	run bash -c "mas-analyze examples/tasks.jsonl | jq -c 'del(.analysis.created_at, .analysis.completed_at)' | md5sum; mas-analyze examples/tasks.jsonl | jq -c 'del(.analysis.created_at, .analysis.completed_at)' | md5sum"
	[ "${lines[0]}" = "${lines[1]}" ]
}

@test "a seasonal series: ETS, seasonal naive, Theta and Comb scored without peeking, the lowest OWA wins" {
	series-gen hourly 1 3 | awk '{
		printf "{\"analysis_type\":\"trend_prediction\",\"parameters\":{\"prediction_horizon\":48,\"seasonal_period\":24},\"data\":{\"y\":["
		for (i = 5; i < 5 + $4; i++)
			printf "%s%s", (i > 5 ? "," : ""), $i
		printf "]}}\n"
	}' > "$BATS_TEST_TMPDIR/task.json"
	run --separate-stderr mas-analyze "$BATS_TEST_TMPDIR/task.json"
	[ "$status" -eq 0 ]
	output_jq '.analysis.predictions[].y.selection.check | .origins == 48 and (.owa | keys == ["Comb","ETS","SNaive","Theta"]) and .owa.SNaive == 1'
	output_jq '.analysis.predictions[].y.selection | .winner == (.check.owa | to_entries | min_by(.value) | .key)'
	output_jq '.analysis.predictions[].y.forecast | length == 48'
	output_jq '.analysis.meta.plans[] | select(.goal == "forecast") | .chosen | test("OWA ETS .*Comb")'
}

@test "a short yearly series: intervals calibrated on refitted past forecasts, never narrowing along the horizon" {
	series-gen yearly 1 5 | awk '{
		printf "{\"analysis_type\":\"trend_prediction\",\"parameters\":{\"prediction_horizon\":6},\"data\":{\"y\":["
		for (i = 5; i < 5 + $4; i++)
			printf "%s%s", (i > 5 ? "," : ""), $i
		printf "]}}\n"
	}' > "$BATS_TEST_TMPDIR/task.json"
	run --separate-stderr mas-analyze "$BATS_TEST_TMPDIR/task.json"
	[ "$status" -eq 0 ]
	output_jq '.analysis.predictions[].y.selection | .calibration_errors >= 5 and .interval_widening >= 1'
	output_jq '[.analysis.predictions[].y.forecast[] | .upper - .lower] | . as $w | all(range(1; length); $w[.] >= $w[. - 1] * 0.999)'
}
