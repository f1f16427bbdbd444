#!/usr/bin/env bats
# mas-chat: the record contract, every option, bad input, the knowledge
# base's errors, plans (FAQ, templates, slots, clarifying questions,
# escalation), sessions and follow-ups, the interactive mode on a pty,
# and the evaluation on held-out messages.  mas-chat(1), mas-chat(5).

load helpers

KB=examples/kb.jsonl
HELDOUT=tests/fixtures/chat/heldout.jsonl

setup() {
	common_setup
	unset MAS_KB MAS_CHAT_SESSION_TTL
	export MAS_STATE_DIR="$BATS_TEST_TMPDIR/state"
}

# chat ARGS...: mas-chat with the example knowledge base.
chat() {
	mas-chat --kb "$KB" "$@"
}

# A knowledge base written from the lines given.
kb_file() {
	printf '%s\n' "$@" > "$BATS_TEST_TMPDIR/kb.jsonl"
	echo "$BATS_TEST_TMPDIR/kb.jsonl"
}

@test "the original API's request: reply, intent, sentiment, confidence, actions, session" {
	run --separate-stderr chat <<< '{"message":"我想了解你们的企业版定价方案","user_id":"user_123456","session_id":"session_abc789","context":{"user_tier":"premium","previous_interactions":3,"preferred_language":"zh-CN"}}'
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	output_jq '.id | length == 26'
	output_jq '.message == "我想了解你们的企业版定价方案" and .user_id == "user_123456" and .context.user_tier == "premium"'
	output_jq '.chat.intent == "pricing" and .chat.confidence > 0.5'
	output_jq '.chat.response | test("企业版") and test("269")'
	output_jq '.chat.sentiment == {"label":"neutral","score":0}'
	output_jq '.chat.suggested_actions == ["view_pricing","request_quote"]'
	output_jq '.chat.session_id == "session_abc789" and (.chat.timestamp | test("^2[0-9]{3}-[0-9]{2}-[0-9]{2}T.*Z$"))'
	output_jq '.chat.meta.engine == "embedded" and .chat.meta.plan == "faq_answer" and .chat.meta.knowledge == ["faq-zh-price-enterprise"]'
	output_jq '.chat.slots == {"plan":"enterprise"} and .chat.language == "zh" and .chat.meta.turn == 1'
	output_jq '[.chat.meta.plans[].goal] == ["interpret","respond","generate"]'
}

@test "one line in, one line out, in order, bad lines included (exit 1)" {
	run --separate-stderr chat < <(printf '%s\n' '{"id":"a","message":"hello"}' 'not json' '{"id":"c"}' '{"id":"d","message":42}' '[1,2]' '{"id":"f","message":"bye"}' '' '{"id":"h","message":"thanks!"}')
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 7 ]
	output_jq -s '[.[].id][0,2,3,5,6] | . == "a" or . == "c" or . == "d" or . == "f" or . == "h"'
	output_jq -s '.[0].chat.intent == "greeting" and .[5].chat.intent == "goodbye" and .[6].chat.intent == "thanks"'
	output_jq -s '.[1].error.code == "INVALID_REQUEST" and .[1].error.line == 2'
	output_jq -s '.[2].error == {"code":"INVALID_REQUEST","message":"message: missing"}'
	output_jq -s '.[3].error.message == "message: expected a string, got number" and (.[3] | has("chat") | not)'
	output_jq -s '.[4].error.code == "INVALID_REQUEST"'
}

@test "bad fields are named: user_id, session_id, context, an empty message" {
	run --separate-stderr chat < <(printf '%s\n' '{"message":"hi","user_id":7}' '{"message":"hi","session_id":[1]}' '{"message":"hi","context":"vip"}' '{"message":""}' '{"message":null}')
	[ "$status" -eq 1 ]
	output_jq -s 'map(.error.message) == ["user_id: expected a string, got number","session_id: expected a string, got array","context: expected an object, got string","message: empty","message: expected a string, got null"]'
}

@test "without a knowledge base: exit 2 saying how to give one" {
	run --separate-stderr mas-chat <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"no knowledge base: give --kb FILE or set MAS_KB"* ]]
}

@test "the knowledge base from MAS_KB, and from chat.kb in the config file" {
	MAS_KB=$KB run --separate-stderr mas-chat <<< '{"message":"hello"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.intent == "greeting"'
	mkdir -p "$XDG_CONFIG_HOME/mas"
	printf '[chat]\nkb = %s\n' "$TOP/$KB" > "$XDG_CONFIG_HOME/mas/config"
	run --separate-stderr mas-chat <<< '{"message":"bye"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.intent == "goodbye"'
}

@test "a malformed knowledge base: file:line errors, exit 2, nothing read" {
	good='{"type":"intent","name":"a","examples":["x"]}'
	kb=$(kb_file "$good" '{"type":"intent","name":"b","examples":["y"]' )
	run --separate-stderr mas-chat --kb "$kb" <<< '{"message":"x"}'
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == "mas-chat: error: $kb:2: not valid JSON"* ]]
	kb=$(kb_file "$good" '' '# comment' '{"type":"intnet","name":"b"}')
	run --separate-stderr mas-chat --kb "$kb" <<< '{"message":"x"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"$kb:4: unknown type 'intnet' (expected intent, faq, slot, escalation, out_of_scope or message)"* ]]
	kb=$(kb_file '{"type":"intent","name":"a"}')
	run --separate-stderr mas-chat --kb "$kb" <<< '{"message":"x"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"$kb:1: intent: missing field 'examples'"* ]]
	kb=$(kb_file "$good" '{"type":"faq","intent":"nope","question":"q","answer":"a"}')
	run --separate-stderr mas-chat --kb "$kb" <<< '{"message":"x"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"$kb:2: faq: unknown intent 'nope'"* ]]
	kb=$(kb_file '{"type":"intent","name":"a","examples":["x"],"respones":["typo"]}')
	run --separate-stderr mas-chat --kb "$kb" <<< '{"message":"x"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"$kb:1: intent: unknown field 'respones'"* ]]
}

@test "a knowledge base with duplicate intents is refused" {
	kb=$(kb_file '{"type":"intent","name":"pricing","examples":["x"]}' '{"type":"intent","name":"other","examples":["y"]}' '{"type":"intent","name":"pricing","examples":["z"]}')
	run --separate-stderr mas-chat --kb "$kb" <<< '{"message":"x"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"$kb:3: duplicate intent 'pricing' (first at line 1)"* ]]
}

@test "a knowledge base that cannot be read" {
	run --separate-stderr mas-chat --kb "$BATS_TEST_TMPDIR/none.jsonl" <<< '{"message":"x"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"none.jsonl: No such file or directory"* ]]
}

@test "FAQ answers in either language, the best entry for the words used" {
	run --separate-stderr chat --no-sessions < <(printf '%s\n' '{"message":"how do I reset my password?"}' '{"message":"怎么开发票"}' '{"message":"which payment methods do you accept"}')
	[ "$status" -eq 0 ]
	output_jq -s 'map(.chat.meta.knowledge[0]) == ["faq-account-password","faq-zh-billing-invoice","faq-billing-methods"]'
	output_jq -s 'all(.chat.meta.plan == "faq_answer")'
	output_jq -s '.[1].chat.language == "zh" and (.[1].chat.response | test("发票"))'
}

@test "templates fill their slots from the record; the next template when one cannot" {
	run --separate-stderr chat --no-sessions < <(printf '%s\n' '{"message":"I want a refund","user_id":"u-42"}' '{"message":"I want a refund"}')
	[ "$status" -eq 0 ]
	output_jq -s '.[0].chat.response | test("account u-42")'
	output_jq -s '.[1].chat.response | test("I can start a refund request")'
	output_jq -s 'all(.chat.meta.plan == "template_reply" and .chat.suggested_actions[0] == "start_refund")'
}

@test "a FAQ about a plan not named: ask which, then answer the follow-up" {
	run --separate-stderr chat --session s1 < <(printf '%s\n' '{"message":"how much does it cost?"}' '{"message":"and the pro plan?"}')
	[ "$status" -eq 0 ]
	output_jq -s '.[0].chat.meta.plan == "ask_slot" and .[0].chat.response == "Which plan do you mean: Basic, Pro or Enterprise?"'
	output_jq -s '.[0].chat.meta.plans[1].failed[0].plan == "faq_answer"'
	output_jq -s '.[1].chat.intent == "pricing" and .[1].chat.meta.followup and .[1].chat.meta.knowledge == ["faq-price-pro"]'
	output_jq -s '.[1].chat.meta.turn == 2 and .[1].chat.slots == {"plan":"pro"}'
}

@test "a follow-up in Chinese uses the previous intent: 那专业版呢?" {
	run --separate-stderr chat < <(printf '%s\n' '{"message":"我想了解你们的企业版定价方案","session_id":"zh-1"}' '{"message":"那专业版呢?","session_id":"zh-1"}')
	[ "$status" -eq 0 ]
	output_jq -s '.[1].chat.intent == "pricing" and .[1].chat.meta.plans[0].plan == "follow_up"'
	output_jq -s '.[1].chat.response | test("专业版") and test("99")'
	# the same message out of its session is no follow-up
	run --separate-stderr chat --no-sessions <<< '{"message":"那专业版呢?"}'
	output_jq '.chat.meta.followup == false and .chat.meta.turn == null'
}

@test "sessions: list, show with history and sentiment trend, delete" {
	chat > /dev/null < <(printf '%s\n' '{"message":"hello","session_id":"a","user_id":"u1"}' '{"message":"this app is terrible","session_id":"a"}' '{"message":"how much is enterprise","session_id":"b"}')
	run --separate-stderr mas-chat sessions list
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 2 ]
	output_jq -s 'map(.session_id) | sort == ["a","b"]'
	output_jq -s 'map(select(.session_id == "a"))[0] | .turns == 2 and .user_id == "u1" and .last_intent == "complaint"'
	run --separate-stderr mas-chat sessions show a
	[ "$status" -eq 0 ]
	output_jq '.turns == 2 and (.history | map(.intent)) == ["greeting","complaint"]'
	output_jq '(.sentiment_trend | length) == 2 and .sentiment_trend[1] < -0.2 and .negative_streak == 1'
	output_jq '.history[0] | has("message") and has("response") and has("plan") and has("timestamp")'
	run --separate-stderr mas-chat sessions delete a
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run --separate-stderr mas-chat sessions list
	output_jq -s 'map(.session_id) == ["b"]'
}

@test "sessions show and delete of an unknown session exit 1 with a message" {
	run --separate-stderr mas-chat sessions show nope
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "mas-chat: error: sessions show: no session 'nope'" ]
	run --separate-stderr mas-chat sessions delete nope
	[ "$status" -eq 1 ]
	[ "$stderr" = "mas-chat: error: sessions delete: no session 'nope'" ]
}

@test "sessions: usage errors exit 2" {
	run --separate-stderr mas-chat sessions
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"sessions: expected list, show ID or delete ID"* ]]
	run --separate-stderr mas-chat sessions show
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"sessions show: which session? give its id"* ]]
	run --separate-stderr mas-chat sessions list x
	[ "$status" -eq 2 ]
	run --separate-stderr mas-chat sessions show a b
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"too many arguments"* ]]
}

@test "--session-ttl forgets idle sessions; 0 keeps them" {
	# the clock pinned (MAS_NOW), so a slow machine cannot let the
	# session made afresh expire too before it is listed
	MAS_NOW=1000 chat --session-ttl 1 --session t <<< '{"message":"how much is pro?"}' > /dev/null
	MAS_NOW=1000 chat --session-ttl 0 --session keep <<< '{"message":"how much is pro?"}' > /dev/null
	MAS_NOW=1002 run --separate-stderr chat --session-ttl 1 --session t <<< '{"message":"hello"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.meta.turn == 1'
	MAS_NOW=1002 run --separate-stderr mas-chat sessions list --session-ttl 1
	output_jq -s 'map(.session_id) == ["t"]'
	MAS_CHAT_SESSION_TTL=abc run --separate-stderr chat <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"chat.session_ttl (--session-ttl, MAS_CHAT_SESSION_TTL): 'abc' is not a number"* ]]
	run --separate-stderr chat --session-ttl -5 <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
}

@test "--no-sessions opens no state store and remembers nothing" {
	run --separate-stderr chat --no-sessions < <(printf '%s\n' '{"message":"how much is pro?","session_id":"x"}' '{"message":"and basic?","session_id":"x"}')
	[ "$status" -eq 0 ]
	output_jq -s 'all(.chat.meta.turn == null) and .[0].chat.session_id == "x"'
	[ ! -e "$MAS_STATE_DIR/mas.db" ]
}

@test "escalation: an explicit request, a keyword, two negative messages in a row" {
	run --separate-stderr chat < <(printf '%s\n' '{"message":"I want to talk to a human"}' '{"message":"我要找律师起诉你们"}' '{"message":"the app keeps crashing, this is terrible","session_id":"n"}' '{"message":"still broken, I am so angry","session_id":"n"}')
	[ "$status" -eq 0 ]
	output_jq -s '.[0].chat.escalation == {"rule":"explicit_request","reason":"intent","matched":"human_handoff","priority":"normal"}'
	output_jq -s '.[1].chat.escalation.rule == "legal_threat" and .[1].chat.escalation.reason == "keyword" and .[1].chat.escalation.priority == "high"'
	output_jq -s '.[2].chat | has("escalation") | not'
	output_jq -s '.[3].chat.escalation == {"rule":"negative_streak","reason":"negative_streak","matched":2,"priority":"high"}'
	output_jq -s '[.[0,1,3].chat.suggested_actions[0]] == ["connect_human","connect_human","connect_human"]'
	output_jq -s '.[1].chat.language == "zh" and (.[1].chat.response | test("专员"))'
}

@test "low confidence: a clarifying question naming the likely intents" {
	run --separate-stderr chat --no-sessions --threshold 0.999 <<< '{"message":"I was charged and want my money"}'
	[ "$status" -eq 0 ]
	# the best candidate is kept, marked as unsure: not "none of these"
	output_jq '.chat.meta.plan == "clarify" and .chat.status == "clarify" and .chat.intent == "refund"'
	output_jq '.chat.intent == .chat.meta.candidates[0].intent'
	output_jq '.chat.response | startswith("Sorry, I'"'"'m not sure I understood. Is your question about")'
	output_jq '.chat.suggested_actions == ["confirm_intent"] and .chat.meta.threshold == 0.999'
	# the session does not take the candidate as understood
	chat --threshold 0.999 <<< '{"message":"I was charged and want my money","session_id":"c"}' >/dev/null
	run --separate-stderr mas-chat sessions show c
	[ "$status" -eq 0 ]
	output_jq '.last_intent == "out_of_scope"'
	run --separate-stderr chat --no-sessions <<< '{"message":"how much is the pro plan?"}'
	output_jq '.chat.status == "answer" and .chat.intent == "pricing"'
}

@test "out of scope: declined, naming what can be asked" {
	run --separate-stderr chat --no-sessions < <(printf '%s\n' '{"message":"tell me a joke about cats"}' '{"message":"给我讲个笑话吧"}')
	[ "$status" -eq 0 ]
	output_jq -s 'all(.chat.intent == "out_of_scope" and .chat.status == "out_of_scope" and .chat.meta.plan == "out_of_scope")'
	output_jq -s '.[0].chat.response | test("prices")'
	output_jq -s '.[1].chat.response | test("价格")'
	output_jq -s '.[0].chat.suggested_actions == ["rephrase","connect_human"]'
}

@test "--lang and context.preferred_language choose the reply's language" {
	run --separate-stderr chat --no-sessions --lang zh <<< '{"message":"hello"}'
	output_jq '.chat.language == "zh" and .chat.response == "您好！我是智能客服助手，请问有什么可以帮您？"'
	run --separate-stderr chat --no-sessions <<< '{"message":"hello","context":{"preferred_language":"zh-CN"}}'
	output_jq '.chat.language == "zh"'
	run --separate-stderr chat --no-sessions --lang en_US.UTF-8 <<< '{"message":"你好"}'
	output_jq '.chat.language == "en" and (.chat.response | startswith("Hello!"))'
	run --separate-stderr chat --lang fr <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--lang: 'fr' is not en or zh"* ]]
}

@test "--sentiment-train learns sentiment from labelled examples" {
	printf '%s\n' '{"text":"blorp is wonderful","label":"positive"}' '{"text":"so blorp","label":"positive"}' '{"text":"zint again","label":"negative"}' '{"text":"zint zint","label":"negative"}' '{"text":"a question","label":"neutral"}' '{"text":"another question","label":"neutral"}' > "$BATS_TEST_TMPDIR/s.jsonl"
	run --separate-stderr chat --no-sessions --sentiment-train "$BATS_TEST_TMPDIR/s.jsonl" < <(printf '%s\n' '{"message":"blorp blorp"}' '{"message":"zint"}')
	[ "$status" -eq 0 ]
	output_jq -s '.[0].chat.sentiment.label == "positive" and .[1].chat.sentiment.label == "negative"'
	printf '%s\n' '{"text":"ok","label":"positive"}' '{"text":7,"label":"negative"}' > "$BATS_TEST_TMPDIR/bad.jsonl"
	run --separate-stderr chat --sentiment-train "$BATS_TEST_TMPDIR/bad.jsonl" <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"bad.jsonl:2: text: expected a string"* ]]
}

@test "--sentiment-train: binary CSV with a label map and named columns, Chinese kept whole, reported with -v" {
	printf '%s\n' 'id,stars,review' '1,5,"酒店很干净，服务热情"' '2,5,"干净 热情, great"' '3,1,房间很脏，服务差' '4,1,"脏,差"' > "$BATS_TEST_TMPDIR/r.csv"
	run --separate-stderr chat -v --no-sessions --sentiment-train "$BATS_TEST_TMPDIR/r.csv" --text-field review --label-field stars --label-map 5=positive,1=negative < <(printf '%s\n' '{"message":"干净热情"}' '{"message":"又脏又差"}')
	[ "$status" -eq 0 ]
	output_jq -s '.[0].chat.sentiment.label == "positive" and .[1].chat.sentiment.label == "negative"'
	echo "$stderr" | grep -o '"sentiment_model":{[^}]*}' | sed 's/^"sentiment_model"://' > "$BATS_TEST_TMPDIR/report.json"
	jq -e '.examples == 4 and .positive == 2 and .negative == 2 and .neutral == 0 and .labels == 2 and .features > 10 and .values > 10 and .train_seconds >= 0' "$BATS_TEST_TMPDIR/report.json"
}

@test "--sentiment-train: TSV with pos, neu, neg labels, JSON number labels, and a pipe read twice" {
	printf 'label\ttext\npos\tblorp is fine\npos\tso blorp\nneg\tzint again\nneg\tzint zint\nneu\ta question\nneu\tanother question\n' > "$BATS_TEST_TMPDIR/s.tsv"
	run --separate-stderr chat -v --no-sessions --sentiment-train "$BATS_TEST_TMPDIR/s.tsv" <<< '{"message":"a question"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.sentiment.label == "neutral"'
	[[ "$stderr" == *'"labels":3'* ]]
	run --separate-stderr chat --no-sessions --label-map 1=positive,0=negative --sentiment-train <(printf '%s\n' '{"text":"blorp blorp","label":1}' '{"text":"zint zint","label":0}') <<< '{"message":"zint"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.sentiment.label == "negative"'
}

@test "--sentiment-train: bad label maps, labels, columns and cell counts are errors naming the line" {
	printf '%s\n' '{"text":"good","label":"1"}' '{"text":"bad","label":"0"}' > "$BATS_TEST_TMPDIR/s.jsonl"
	run --separate-stderr chat --no-sessions --sentiment-train "$BATS_TEST_TMPDIR/s.jsonl" <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"s.jsonl:1: label: '1' is not positive, neutral or negative (see --label-map)"* ]]
	run --separate-stderr chat --no-sessions --sentiment-train "$BATS_TEST_TMPDIR/s.jsonl" --label-map 1=good <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--label-map: '1=good' is not VALUE=positive, neutral or negative"* ]]
	run --separate-stderr chat --no-sessions --sentiment-train "$BATS_TEST_TMPDIR/s.jsonl" --label-map 1=positive <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"s.jsonl:2: label: '0' is not in --label-map"* ]]
	printf '%s\n' '{"text":"good","label":"pos"}' > "$BATS_TEST_TMPDIR/one.jsonl"
	run --separate-stderr chat --no-sessions --sentiment-train "$BATS_TEST_TMPDIR/one.jsonl" <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"one.jsonl: no example labelled negative"* ]]
	printf 'label,body\n1,ok\n' > "$BATS_TEST_TMPDIR/r.csv"
	run --separate-stderr chat --no-sessions --sentiment-train "$BATS_TEST_TMPDIR/r.csv" <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"r.csv:1: no column named 'text' in the header (--text-field)"* ]]
	printf 'label,text\npositive,ok\nnegative,"a, b",c\n' > "$BATS_TEST_TMPDIR/r.csv"
	run --separate-stderr chat --no-sessions --sentiment-train "$BATS_TEST_TMPDIR/r.csv" <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"r.csv:3: 3 cells, but the header has 2"* ]]
	run --separate-stderr chat --no-sessions --label-map 1=positive <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"give it too"* ]]
}

@test "--input and --output-key" {
	run --separate-stderr chat --no-sessions --input .body --output-key reply <<< '{"ticket":1,"body":{"message":"I forgot my password"}}'
	[ "$status" -eq 0 ]
	output_jq '.ticket == 1 and .reply.intent == "account" and (has("chat") | not)'
	run --separate-stderr chat --no-sessions --input .nothing <<< '{"message":"hi"}'
	[ "$status" -eq 1 ]
	output_jq '.error.message | startswith("input: expected an object, got null")'
}

@test "the same input gives the same output, but for the timestamp" {
	for i in 1 2; do
		chat --no-sessions < <(jq -c '{id: .message, message}' "$HELDOUT") | jq -c 'del(.chat.timestamp)' > "$BATS_TEST_TMPDIR/run$i"
	done
	cmp "$BATS_TEST_TMPDIR/run1" "$BATS_TEST_TMPDIR/run2"
	[ "$(grep -c . "$BATS_TEST_TMPDIR/run1")" -eq "$(grep -c . "$HELDOUT")" ]
}

@test "--threshold, --session and -v" {
	run --separate-stderr chat --threshold 1.5 <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--threshold: '1.5' is not a number from 0 up to 1"* ]]
	run --separate-stderr chat -v --session given <<< '{"message":"hi"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.session_id == "given"'
	[[ "$stderr" == *'knowledge base loaded: {"kb":"examples/kb.jsonl","intents":12,'* ]]
	run --separate-stderr chat --session '' <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
}

@test "a write to a full disk fails with exit 74" {
	run --separate-stderr sh -c "mas-chat --kb $KB --no-sessions < $HELDOUT > /dev/full"
	[ "$status" -eq 74 ]
}

@test "the interactive mode reads lines from a pipe without a prompt" {
	run --separate-stderr chat -i --session pipe < <(printf 'hello\n\nhow much is pro?\n/quit\nnever read\n')
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 4 ]
	[[ "${lines[0]}" == "Hello! I'm the support assistant. How can I help you today?" ]]
	[[ "${lines[1]}" == "  [greeting "*", neutral; show_menu]" ]]
	[[ "${lines[2]}" == "The Pro plan costs \$15"* ]]
	run --separate-stderr mas-chat sessions show pipe
	output_jq '.turns == 2'
	run --separate-stderr chat -i "$HELDOUT"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--interactive reads the terminal, not files"* ]]
}

@test "the interactive mode on a terminal: line editing, history, Ctrl-D ends" {
	# typed: "helo", Left, "l", Enter; Up (history), Ctrl-U, "how much is basic?", Enter; Ctrl-D
	pty-run -t 20 'expect=> ' 'send=helo\e[Dl\r' 'expect=show_menu' \
		'expect=> ' 'send=\e[A\x15how much is basic?\r' \
		'expect=view_pricing' 'expect=> ' 'send=\x04' \
		-- mas-chat -i -k "$KB" --session tty > "$BATS_TEST_TMPDIR/tty.out"
	tr -d '\r' < "$BATS_TEST_TMPDIR/tty.out" > "$BATS_TEST_TMPDIR/tty.txt"
	grep -q "mas-chat: session tty; Ctrl-D ends" "$BATS_TEST_TMPDIR/tty.txt"
	grep -q "^Hello! I'm the support assistant" "$BATS_TEST_TMPDIR/tty.txt"
	grep -q "^The Basic plan is free for up to 3 users" "$BATS_TEST_TMPDIR/tty.txt"
	run --separate-stderr mas-chat sessions show tty
	output_jq '[.history[].message] == ["hello","how much is basic?"]'
}

@test "evaluation on held-out messages: intent accuracy, out-of-scope recall, sentiment accuracy" {
	chat --no-sessions < "$HELDOUT" > "$BATS_TEST_TMPDIR/eval.jsonl"
	jq -s '{
	    top1: (map(select(.intent != "out_of_scope")) | (map(select(.chat.meta.candidates[0].intent == .intent)) | length) / length),
	    intent: (map(select(.intent != "out_of_scope")) | (map(select(.chat.intent == .intent and .chat.status == "answer")) | length) / length),
	    oos: (map(select(.intent == "out_of_scope")) | (map(select(.chat.status != "answer")) | length) / length),
	    sentiment: ((map(select(.chat.sentiment.label == .sentiment)) | length) / length)}' \
		"$BATS_TEST_TMPDIR/eval.jsonl" > "$BATS_TEST_TMPDIR/figures.json"
	cat "$BATS_TEST_TMPDIR/figures.json"
	# thresholds a message or two under what the engine reaches (top-1
	# 0.914, 0.898 answered right, 0.6875 out of scope refused (11 of
	# 16; 0.867 and 12 of 16 under the earlier default rule,
	# --oos-recall 0.7), 0.965 sentiment: 0.986 before the review model,
	# which calls 4 commands and a question without a question mark
	# polar): a regression fails, noise does not
	jq -e '.top1 >= 0.89 and .intent >= 0.88 and .oos >= 0.68 and .sentiment >= 0.95' "$BATS_TEST_TMPDIR/figures.json"
}

@test "the default out-of-scope threshold: recall 0.75 unless it costs over 2 points in scope (oos_recall_capped)" {
	# examples/kb.jsonl: out-of-scope examples that look like in-scope
	# ones; the earlier default (recall 0.7) gave up 6 points there on
	# cross-validation, the cap keeps the loss within 2
	run --separate-stderr mas-chat train --kb "$KB"
	[ "$status" -eq 0 ]
	output_jq '.threshold_rule == "oos_recall_capped" and .cv.top1 - .cv.accuracy <= 0.02'
	# a generated KB (tests/fixtures/chat/kb-oos.README) whose
	# out-of-scope examples are easier: the target with its margin,
	# where the earlier default stopped at 0.70
	run --separate-stderr mas-chat train --kb "tests/fixtures/chat/kb-oos.jsonl"
	[ "$status" -eq 0 ]
	output_jq '.threshold_rule == "oos_recall_capped" and .cv.oos_recall >= 0.75 and .cv.top1 - .cv.accuracy <= 0.02'
	# and on its held-out messages (120 in scope, 100 out): in-scope
	# answers within 3 points of top-1, out-of-scope recall >= 0.70
	# (reached: 0.925, 0.908, 0.77)
	mas-chat --kb "tests/fixtures/chat/kb-oos.jsonl" "tests/fixtures/chat/heldout-oos.jsonl" |
		jq -s '{top1: (map(select(.intent != "out_of_scope")) | (map(select(.chat.meta.candidates[0].intent == .intent)) | length) / length),
		    intent: (map(select(.intent != "out_of_scope")) | (map(select(.chat.intent == .intent and .chat.status == "answer")) | length) / length),
		    oos: (map(select(.intent == "out_of_scope")) | (map(select(.chat.status != "answer")) | length) / length)}' \
		> "$BATS_TEST_TMPDIR/figures.json"
	cat "$BATS_TEST_TMPDIR/figures.json"
	jq -e '.top1 >= 0.9 and .top1 - .intent <= 0.03 and .oos >= 0.7' "$BATS_TEST_TMPDIR/figures.json"
}

@test "the default engine on held-out real reviews (English, tests/fixtures/chat/reviews-en.README)" {
	chat --no-sessions < tests/fixtures/chat/reviews-en.jsonl > "$BATS_TEST_TMPDIR/reviews.jsonl"
	jq -s '{n: length,
	    accuracy: ((map(select(.chat.sentiment.label == .sentiment)) | length) / length),
	    neutral: ((map(select(.chat.sentiment.label == "neutral")) | length) / length)}' \
		"$BATS_TEST_TMPDIR/reviews.jsonl" > "$BATS_TEST_TMPDIR/figures.json"
	cat "$BATS_TEST_TMPDIR/figures.json"
	# polar reviews: neutral counts wrong.  The engine reaches 0.800,
	# 0.107 neutral (the lexicon alone 0.683 and 0.233; the hand-written
	# entries alone 0.403 and 0.55); the review model was trained on the
	# other 2,700 sentences of the corpus (lib/sentiment-model.README),
	# never these.  The thresholds are a few reviews short of that
	jq -e '.n == 300 and .accuracy >= 0.78 and .neutral <= 0.13' "$BATS_TEST_TMPDIR/figures.json"
}

@test "--oos-recall: the threshold's rule, its cross-validated figures in -v, the rule in meta" {
	run --separate-stderr chat --no-sessions -v <<< '{"message":"hi"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.meta.threshold_rule == "oos_recall_capped"'
	[[ "$stderr" == *'"threshold_rule":"oos_recall_capped"'* ]]
	default=$(jq -r .chat.meta.threshold <<< "$output")
	run --separate-stderr chat --no-sessions -v --oos-recall 1 <<< '{"message":"hi"}'
	[ "$status" -eq 0 ]
	[[ "$stderr" == *'"cv":{"top1":'*'"oos_recall":1}'* ]]
	output_jq --argjson d "$default" '.chat.meta.threshold > $d'
	run --separate-stderr chat --no-sessions --oos-recall 0.7 <<< '{"message":"hi"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.meta.threshold_rule == "oos_recall"'
	run --separate-stderr chat --no-sessions --oos-recall 0 <<< '{"message":"hi"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.meta.threshold_rule == "accuracy+recall"'
	run --separate-stderr chat --no-sessions --threshold 0.5 <<< '{"message":"hi"}'
	output_jq '.chat.meta.threshold_rule == "given" and .chat.meta.threshold == 0.5'
	run --separate-stderr chat --oos-recall 1.5 <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--oos-recall: '1.5' is not a number from 0 to 1"* ]]
	# without out-of-scope examples: 95% of correct held-out answers
	grep -v '"out_of_scope"' "$TOP/$KB" > "$BATS_TEST_TMPDIR/kb.jsonl"
	run --separate-stderr mas-chat --no-sessions -k "$BATS_TEST_TMPDIR/kb.jsonl" <<< '{"message":"hi"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.meta.threshold_rule == "correct_p5"'
}

@test "the shared options: --config, --log-level, -q, --trace, --metrics-file, the model's without an endpoint" {
	printf '[chat]\nkb = %s\nsession_ttl = 60\n' "$TOP/$KB" > "$BATS_TEST_TMPDIR/mas.conf"
	run --separate-stderr mas-chat --config "$BATS_TEST_TMPDIR/mas.conf" --log-level error -q --no-sessions <<< '{"message":"hello"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.intent == "greeting"'
	run --separate-stderr chat --no-sessions --trace "$BATS_TEST_TMPDIR/trace.jsonl" --metrics-file "$BATS_TEST_TMPDIR/metrics.prom" <<< '{"message":"hello"}'
	[ "$status" -eq 0 ]
	output_jq 'has("traceparent")'
	jq -e -s 'map(select(.service == "mas-chat") | .name) | index("plan:template_reply")' "$BATS_TEST_TMPDIR/trace.jsonl"
	grep -q 'mas-chat' "$BATS_TEST_TMPDIR/metrics.prom"
	run --separate-stderr chat --no-sessions --model m --jobs 2 --timeout 5 --cache-ttl 10 --max-tokens-total 100 --no-cache --insecure --fallback error <<< '{"message":"hello"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.meta.engine == "embedded"'
	run --separate-stderr chat --cache-only <<< '{"message":"hello"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--cache-only: no model endpoint is configured"* ]]
}

@test "a state store another process keeps locked: an error record per input record, exit 75" {
	chat <<< '{"message":"hi","session_id":"s"}' >/dev/null
	lock_store "$MAS_STATE_DIR/mas.db"
	MAS_STATE_BUSY_TIMEOUT=0.3 run --separate-stderr chat <<-'EOF'
	{"id":"a","message":"hi","session_id":"s"}
	{"id":"b","message":"how much is pro?"}
	EOF
	unlock_store
	[ "$status" -eq 75 ]
	output_jq -s '[.[].id] == ["a", "b"] and all(.error.code == "TIMEOUT"
		and .error.transient and (.error.message |
		test("state store: .*locked.*try again later"))) and
		.[0].message == "hi" and .[0].session_id == "s"'
	[[ "$stderr" == *"database is locked"* ]]
	# once the lock is gone, the same input is answered
	run --separate-stderr chat <<< '{"id":"a","message":"hi","session_id":"s"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.intent == "greeting"'
}

@test "a message longer than 65536 bytes is an error naming the field, in bounded memory" {
	jq -nc '{id: "big", message: ("how much is pro " * 250000)}' >"$BATS_TEST_TMPDIR/big"
	jq -nc '{id: "ok", message: ("how much is pro " * 4096)}' >>"$BATS_TEST_TMPDIR/big"
	run --separate-stderr /usr/bin/time -f '%M' mas-chat --kb "$KB" \
		--no-sessions "$BATS_TEST_TMPDIR/big"
	[ "$status" -eq 1 ]
	output_jq -s '.[0].error.message == "message: 4000000 bytes, longer than the 65536 a message may have" and .[1].chat.intent == "pricing"'
	# peak memory within a few times the 4 MB line (ASan's own aside)
	[ "${SANITIZE:-}" = 1 ] || [ "$(tail -1 <<<"$stderr")" -lt 30000 ]
}

@test "the model cache: train stores it, a run reads it, a changed KB or option trains anew, same answers" {
	db="$MAS_STATE_DIR/mas.db"
	run --separate-stderr mas-chat train --kb "$KB"
	[ "$status" -eq 0 ]
	output_jq '.model == "trained" and .intents == 12 and .threshold_rule == "oos_recall_capped" and .train_seconds > 0'
	[ "$(sqlite3 "$db" 'SELECT count(*) FROM chat_model')" -eq 1 ]
	# the row names a file beside the store, the only one there
	file=$(sqlite3 "$db" 'SELECT file FROM chat_model')
	[ "$(ls "$MAS_STATE_DIR/chat-model")" = "$file" ]
	[ -s "$MAS_STATE_DIR/chat-model/$file" ]
	run --separate-stderr mas-chat train --kb "$KB"
	output_jq '.model == "cached" and .load_seconds >= 0 and (has("train_seconds") | not)'
	run --separate-stderr chat -v < "$HELDOUT"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *'"model":"cached","load_seconds":'* ]]
	jq -c 'del(.id, .chat.timestamp)' <<< "$output" > "$BATS_TEST_TMPDIR/cached"
	run --separate-stderr chat --no-sessions -v < "$HELDOUT"
	[[ "$stderr" == *'"model":"trained in memory"'* ]]
	jq -c 'del(.id, .chat.timestamp)' <<< "$output" > "$BATS_TEST_TMPDIR/trained"
	cmp "$BATS_TEST_TMPDIR/cached" "$BATS_TEST_TMPDIR/trained"
	# an option that shapes training is another key
	run --separate-stderr chat -v --oos-recall 0.9 <<< '{"message":"hi"}'
	[[ "$stderr" == *'"model":"trained"'* ]]
	# another KB at the same path replaces the path's old models
	cp "$KB" "$BATS_TEST_TMPDIR/kb.jsonl"
	run --separate-stderr mas-chat train --kb "$BATS_TEST_TMPDIR/kb.jsonl"
	output_jq '.model == "trained"'
	echo '{"type":"out_of_scope","examples":["what is the capital of peru"]}' >> "$BATS_TEST_TMPDIR/kb.jsonl"
	run --separate-stderr mas-chat train --kb "$BATS_TEST_TMPDIR/kb.jsonl"
	output_jq '.model == "trained" and .examples == 400'
	[ "$(sqlite3 "$db" "SELECT count(*) FROM chat_model WHERE kb = '$BATS_TEST_TMPDIR/kb.jsonl'")" -eq 1 ]
	# and their files: one per row
	[ "$(ls "$MAS_STATE_DIR/chat-model" | wc -l)" -eq "$(sqlite3 "$db" 'SELECT count(*) FROM chat_model')" ]
	run --separate-stderr mas-chat train --kb "$BATS_TEST_TMPDIR/kb.jsonl" "$HELDOUT"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"train takes no input"* ]]
}

@test "the model cache: with the clock pinned, each run's model file has a name of its own, and the records' ids count from the pinned instant" {
	export SOURCE_DATE_EPOCH=1765015200
	cp "$KB" "$BATS_TEST_TMPDIR/a.jsonl"
	cp "$KB" "$BATS_TEST_TMPDIR/b.jsonl"
	echo '{"type":"out_of_scope","examples":["what is the capital of peru"]}' >> "$BATS_TEST_TMPDIR/b.jsonl"
	for kb in a b; do
		run --separate-stderr mas-chat train --kb "$BATS_TEST_TMPDIR/$kb.jsonl"
		[ "$status" -eq 0 ]
		output_jq '.model == "trained"'
	done
	[ "$(sqlite3 "$MAS_STATE_DIR/mas.db" 'SELECT count(*) FROM chat_model')" -eq 2 ]
	[ "$(ls "$MAS_STATE_DIR/chat-model" | wc -l)" -eq 2 ]
	rm -r "$MAS_STATE_DIR"
	run --separate-stderr chat <<< '{"message":"hi"}'
	output_jq '.id == "01KBSHN8800000000000000000"'
}

@test "the model cache: a warm start parses the KB without its examples, answers as a cold one, errors still name the line" {
	fixtures="$TOP/tests/fixtures/chat"
	for kb in "$KB" "$fixtures/kb-oos.jsonl"; do
		rm -rf "$MAS_STATE_DIR"
		cat "$fixtures/heldout.jsonl" "$fixtures/heldout-oos.jsonl" > "$BATS_TEST_TMPDIR/in"
		for start in cold warm; do
			run --separate-stderr env MAS_NOW=2026-01-01T00:00:00Z \
				mas-chat -v --kb "$kb" < "$BATS_TEST_TMPDIR/in"
			[ "$status" -eq 0 ]
			case $start in
			cold) [[ "$stderr" == *'"model":"trained"'* ]] ;;
			warm) [[ "$stderr" == *'"model":"cached"'* ]] ;;
			esac
			# byte for byte, ids and timestamps included
			printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/$start"
			grep -o '"examples":[0-9]*,"faqs":[0-9]*' <<< "$stderr" > "$BATS_TEST_TMPDIR/$start.counts"
		done
		cmp "$BATS_TEST_TMPDIR/cold" "$BATS_TEST_TMPDIR/warm"
		cmp "$BATS_TEST_TMPDIR/cold.counts" "$BATS_TEST_TMPDIR/warm.counts"
		[ "$(wc -l < "$BATS_TEST_TMPDIR/warm")" -eq "$(wc -l < "$BATS_TEST_TMPDIR/in")" ]
	done
	# FAQ retrieval works warm: the example KB's FAQ answers
	rm -rf "$MAS_STATE_DIR"
	chat <<< '{"message":"how do I reset my password"}' >/dev/null
	run --separate-stderr chat -v <<< '{"message":"how do I reset my password"}'
	[[ "$stderr" == *'"model":"cached"'* ]]
	output_jq '.chat.meta.plan == "faq_answer" and (.chat.meta.knowledge | length) == 1'
	# the model file keeps the KB without its intents' examples: only
	# the out-of-scope lines have some
	grep -aq "Forgot password" "$(model_file)"
	[ "$(grep -ac '"examples"' "$(model_file)")" -eq "$(jq -c 'select(.type == "out_of_scope")' "$KB" | wc -l)" ]
	# a damaged copy in the model file: the KB file is parsed, the
	# model still used, the answers the same
	chat <<< '{"message":"how do I reset my password"}' | jq -c 'del(.id, .chat.timestamp)' > "$BATS_TEST_TMPDIR/want"
	LC_ALL=C sed -i 's/"type":"intent"/"type":"intenX"/g' "$(model_file)"
	grep -aq '"type":"intenX"' "$(model_file)"
	run --separate-stderr chat -v <<< '{"message":"how do I reset my password"}'
	[ "$status" -eq 0 ]
	[[ "$stderr" == *'"model":"cached"'* ]]
	jq -c 'del(.id, .chat.timestamp)' <<< "$output" | cmp - "$BATS_TEST_TMPDIR/want"
	# a KB with an error is parsed, never taken from a cache: its line
	cp "$KB" "$BATS_TEST_TMPDIR/kb.jsonl"
	mas-chat train --kb "$BATS_TEST_TMPDIR/kb.jsonl" >/dev/null
	echo '{"type":"intent","name":"x","examples":"not an array"}' >> "$BATS_TEST_TMPDIR/kb.jsonl"
	line=$(wc -l < "$BATS_TEST_TMPDIR/kb.jsonl")
	run --separate-stderr mas-chat --kb "$BATS_TEST_TMPDIR/kb.jsonl" <<< '{"message":"hi"}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"kb.jsonl:$line: "*examples* ]]
}

# model_file: the path of the model file the store's one row names.
model_file() {
	echo "$MAS_STATE_DIR/chat-model/$(sqlite3 "$MAS_STATE_DIR/mas.db" 'SELECT file FROM chat_model')"
}

@test "the model cache: a damaged, truncated or removed model file is trained again, same answers" {
	mas-chat train --kb "$KB" >/dev/null
	chat --no-sessions < "$HELDOUT" | jq -c 'del(.id, .chat.timestamp)' > "$BATS_TEST_TMPDIR/want"
	for damage in header truncated halved empty removed; do
		file=$(model_file)
		case $damage in
		header) printf 'not a model' | dd of="$file" conv=notrunc status=none ;;
		truncated) truncate -s -100 "$file" ;;
		halved) truncate -s $(($(stat -c %s "$file") / 2)) "$file" ;;
		empty) : > "$file" ;;
		removed) rm "$file" ;;
		esac
		run --separate-stderr chat -v < "$HELDOUT"
		[ "$status" -eq 0 ]
		[[ "$stderr" == *'"model":"trained"'* ]]
		case $damage in
		header|truncated|halved)
			[[ "$stderr" == *"is not one this program reads; training again"* ]] ;;
		esac
		jq -c 'del(.id, .chat.timestamp)' <<< "$output" | cmp - "$BATS_TEST_TMPDIR/want"
		# stored again, in a new file, the damaged one gone
		[ "$(model_file)" != "$file" ] && [ -s "$(model_file)" ]
		[ "$(ls "$MAS_STATE_DIR/chat-model" | wc -l)" -eq 1 ]
		run --separate-stderr chat -v <<< '{"message":"hi"}'
		[[ "$stderr" == *'"model":"cached"'* ]]
	done
}

@test "the model cache: concurrent first runs each train, one model is kept, the next run maps it" {
	pids=()
	for i in 1 2 3; do
		mas-chat train --kb "$KB" > "$BATS_TEST_TMPDIR/run$i" 2>&1 &
		pids+=($!)
	done
	# each its own: bats's timeout watcher is a job of this shell too
	for i in 1 2 3; do
		wait "${pids[i - 1]}"
		jq -e '.model == "trained" or .model == "cached"' "$BATS_TEST_TMPDIR/run$i"
	done
	[ "$(sqlite3 "$MAS_STATE_DIR/mas.db" 'SELECT count(*) FROM chat_model')" -eq 1 ]
	[ "$(ls "$MAS_STATE_DIR/chat-model")" = "$(basename "$(model_file)")" ]
	run --separate-stderr chat -v <<< '{"message":"how much is pro?"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.intent == "pricing"'
	[[ "$stderr" == *'"model":"cached"'* ]]
}

@test "the model cache: a run answering from a model file replaced and removed meanwhile reads it to the end" {
	cp "$KB" "$BATS_TEST_TMPDIR/kb.jsonl"
	mas-chat train --kb "$BATS_TEST_TMPDIR/kb.jsonl" >/dev/null
	old=$(model_file)
	mkfifo "$BATS_TEST_TMPDIR/in"
	mas-chat -v --kb "$BATS_TEST_TMPDIR/kb.jsonl" < "$BATS_TEST_TMPDIR/in" \
		> "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" &
	pid=$!
	exec 8> "$BATS_TEST_TMPDIR/in"
	echo '{"message":"how much is pro?"}' >&8
	for _ in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/out" ] && break
		sleep 0.1
	done
	grep -q '"model":"cached"' "$BATS_TEST_TMPDIR/err"
	# the knowledge base edited and trained again: its old model file
	# is removed while the run above has it mapped
	echo '{"type":"out_of_scope","examples":["what is the capital of peru"]}' >> "$BATS_TEST_TMPDIR/kb.jsonl"
	mas-chat train --kb "$BATS_TEST_TMPDIR/kb.jsonl" >/dev/null
	[ ! -e "$old" ] && [ "$(model_file)" != "$old" ]
	echo '{"message":"I want a refund"}' >&8
	exec 8>&-
	wait "$pid"
	jq -e -s 'map(.chat.intent) == ["pricing", "refund"]' "$BATS_TEST_TMPDIR/out"
}

@test "the model cache: a model file no row names is removed once old; a store that cannot take a model leaves it in memory" {
	db="$MAS_STATE_DIR/mas.db"
	mkdir -p "$MAS_STATE_DIR/chat-model"
	echo left > "$MAS_STATE_DIR/chat-model/01OLD.model"
	echo young > "$MAS_STATE_DIR/chat-model/01YOUNG.model"
	touch -d '1 hour ago' "$MAS_STATE_DIR/chat-model/01OLD.model"
	mas-chat train --kb "$KB" >/dev/null
	[ ! -e "$MAS_STATE_DIR/chat-model/01OLD.model" ]
	[ -e "$MAS_STATE_DIR/chat-model/01YOUNG.model" ]
	sqlite3 "$db" "DELETE FROM chat_model; CREATE TRIGGER no_room BEFORE INSERT ON chat_model BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;"
	run --separate-stderr chat -v <<< '{"message":"how much is pro?"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.intent == "pricing"'
	[[ "$stderr" == *"database or disk is full; the model is not cached"* ]]
	[[ "$stderr" == *'"model":"trained in memory"'* ]]
	run --separate-stderr mas-chat train --kb "$KB"
	[ "$status" -eq 75 ]
	output_jq '.model == "trained in memory"'
	[[ "$stderr" == *"the model could not be stored; try again later"* ]]
	# a file the store could not name is removed: the first train's
	# (whose row was deleted) and 01YOUNG are left
	[ "$(ls "$MAS_STATE_DIR/chat-model" | wc -l)" -eq 2 ]
	sqlite3 "$db" "DROP TRIGGER no_room"
	lock_store "$db"
	MAS_STATE_BUSY_TIMEOUT=0.3 run --separate-stderr mas-chat train --kb "$KB"
	unlock_store
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"model cache: database is locked; the model is not cached"* ]]
	[ "$(ls "$MAS_STATE_DIR/chat-model" | wc -l)" -eq 2 ]
}
