#!/usr/bin/env bats
# mas-chat with a model endpoint (the fake server under tests/helpers):
# the reply written by the model from the retrieved knowledge and the
# history, structured output constrained to the knowledge base's
# intents, fallback, and streaming in the interactive mode.
# mas-chat(1), MODEL.

load helpers
load fake_openai_helper

KB=examples/kb.jsonl

setup() {
	common_setup
	export MAS_STATE_DIR="$BATS_TEST_TMPDIR/state" MAS_MODEL=test-model
	good='{"json":{"response":"Pro costs $15 per user per month.","intent":"pricing","sentiment":"neutral","sentiment_score":0.1,"confidence":0.93}}'
}

teardown() {
	fake_openai_stop
}

serve() {
	printf '%s\n' "$@" > "$BATS_TEST_TMPDIR/rules.jsonl"
	fake_openai_start --script "$BATS_TEST_TMPDIR/rules.jsonl"
	export OPENAI_BASE_URL=$FAKE_OPENAI_URL
}

requests() {
	grep -c . "$FAKE_OPENAI_LOG" || true
}

@test "the model writes the reply; intent and sentiment come back by structured output" {
	serve "$good"
	run --separate-stderr mas-chat -k "$KB" <<< '{"message":"how much is pro?","session_id":"m"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.response == "Pro costs $15 per user per month." and .chat.intent == "pricing"'
	output_jq '.chat.sentiment == {"label":"neutral","score":0.1} and .chat.confidence == 0.93'
	output_jq '.chat.meta.engine == "llm" and .chat.meta.llm.model == "test-model"'
	output_jq '.chat.meta.model_knowledge[0].id == "faq-price-pro"'
	output_jq '[.chat.meta.plans[] | select(.goal == "generate") | .plan] == ["model_reply"]'
	# what the server was asked
	jq -e '.body.response_format.json_schema.schema.properties.intent.enum | index("pricing") and index("out_of_scope") and length == 13' "$FAKE_OPENAI_LOG"
	jq -e '.body.response_format.json_schema.schema.required == ["response","intent","sentiment","sentiment_score","confidence"]' "$FAKE_OPENAI_LOG"
	jq -e '.body.messages[0].content | test("only the knowledge given")' "$FAKE_OPENAI_LOG"
	jq -e '.body.messages[1].content | fromjson | .message == "how much is pro?" and .draft.intent == "pricing" and (.knowledge | length) == 3' "$FAKE_OPENAI_LOG"
}

@test "the session's history goes to the model, and its turns are remembered" {
	serve "$good"
	mas-chat -k "$KB" --session h <<< '{"message":"hello"}' > /dev/null
	run --separate-stderr mas-chat -k "$KB" --session h --no-cache <<< '{"message":"how much is pro?"}'
	[ "$status" -eq 0 ]
	jq -e -s '.[1].body.messages[1].content | fromjson | .history == [{"message":"hello","response":"Pro costs $15 per user per month.","intent":"pricing"}]' "$FAKE_OPENAI_LOG"
	run --separate-stderr mas-chat sessions show h
	output_jq '.turns == 2 and .history[1].response == "Pro costs $15 per user per month."'
}

@test "an intent the knowledge base does not have: the embedded answer stands" {
	serve '{"json":{"response":"It is sunny.","intent":"weather","sentiment":"neutral","sentiment_score":0,"confidence":0.9}}'
	run --separate-stderr mas-chat -k "$KB" --no-sessions <<< '{"message":"how much is pro?"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.meta.engine == "embedded" and (.chat.meta.fallback_reason | startswith("UPSTREAM_ERROR: reply: intent"))'
	output_jq '.chat.meta.knowledge == ["faq-price-pro"] and (.chat.response | startswith("The Pro plan costs"))'
}

@test "a failing endpoint: fallback, or --fallback error and exit 75" {
	serve '{"status":503,"times":20}'
	run --separate-stderr mas-chat -k "$KB" --no-sessions <<< '{"message":"hello"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.meta.engine == "embedded" and (.chat.meta.fallback_reason | startswith("UPSTREAM_ERROR"))'
	output_jq '.chat.intent == "greeting"'
	run --separate-stderr mas-chat -k "$KB" --no-sessions --no-cache --fallback error <<< '{"id":"x","message":"hello"}'
	[ "$status" -eq 75 ]
	output_jq '.id == "x" and .error.code == "UPSTREAM_ERROR" and (has("chat") | not)'
}

@test "the model's intent brings its own suggested actions" {
	serve '{"json":{"response":"Let me help with your invoice.","intent":"billing","sentiment":"neutral","sentiment_score":0,"confidence":0.8}}'
	run --separate-stderr mas-chat -k "$KB" --no-sessions <<< '{"message":"how much is pro?"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.intent == "billing" and .chat.suggested_actions == ["view_billing","download_invoice"]'
}

@test "the interactive mode streams the reply as the model writes it" {
	serve "$good"
	pty-run -t 20 'expect=> ' 'send=how much is pro?\r' 'expect=pricing' \
		'expect=> ' 'send=\x04' \
		-- mas-chat -i -k "$KB" --session s > "$BATS_TEST_TMPDIR/tty.out"
	tr -d '\r' < "$BATS_TEST_TMPDIR/tty.out" | grep -q '^Pro costs \$15 per user per month\.$'
	jq -e '.body.stream == true' "$FAKE_OPENAI_LOG"
}

@test "--jobs: turns of one session in flight at once are all remembered, output in order" {
	serve '{"delay_ms":200,"json":{"response":"ok.","intent":"greeting","sentiment":"neutral","sentiment_score":0,"confidence":0.9}}'
	run --separate-stderr mas-chat -k "$KB" --jobs 4 --session j < <(for i in 1 2 3 4; do printf '{"id":"%s","message":"hello %s"}\n' "$i" "$i"; done)
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(printf '%s\n' "$output" | jq -r .id | paste -sd,)" = "1,2,3,4" ]
	run --separate-stderr mas-chat sessions show j
	output_jq '.turns == 4 and (.history | map(.message) | sort) == ["hello 1","hello 2","hello 3","hello 4"]'
}

@test "a cached reply is checked as a live one: its JSON made afresh, a bad one fetched again" {
	serve "$good"
	run --separate-stderr mas-chat -k "$KB" <<< '{"message":"how much is pro?"}'
	[ "$status" -eq 0 ]
	db="$MAS_STATE_DIR/mas.db"
	# a stored reply without its parsed JSON, or with a number there,
	# or without the fields the agent reads: served, its JSON made
	# from its content again (these aborted mas-chat); content that
	# does not follow the schema: a miss, asked again
	for change in 'del(.json)' '.json = 5' 'del(.finish_reason, .model)' \
		'.content = "[1]"'; do
		sqlite3 "$db" "SELECT reply FROM llm_cache" | jq -c "$change" \
			>"$BATS_TEST_TMPDIR/reply"
		sqlite3 "$db" "UPDATE llm_cache SET reply =
			readfile('$BATS_TEST_TMPDIR/reply')"
		run --separate-stderr mas-chat -k "$KB" <<< '{"message":"how much is pro?"}'
		[ "$status" -eq 0 ]
		output_jq '.chat.meta.engine == "llm" and .chat.intent == "pricing"'
	done
	[ "$(requests)" -eq 2 ]
}
