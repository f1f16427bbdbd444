#!/usr/bin/env bats
# mas-flow(5)'s agent and llm nodes: the three agents run in-process give
# their programs' answers; every bad set-up is reported by `check` with
# its line; an llm node fills its template from the state, asks the model
# (the fake server of tests/helpers) and places the reply, JSON or text;
# without a model, or with a hole that fails, the record carries the
# error.

load helpers
load fake_openai_helper

setup() {
	common_setup
	export MAS_STATE_DIR="$BATS_TEST_TMPDIR/state"
}

teardown() {
	fake_openai_stop
}

# Write stdin to $BATS_TEST_TMPDIR/$1.flow.
flow_file() {
	cat >"$BATS_TEST_TMPDIR/$1.flow"
}

# Write stdin to the template $BATS_TEST_TMPDIR/$1.
template() {
	mkdir -p "$(dirname "$BATS_TEST_TMPDIR/$1")"
	cat >"$BATS_TEST_TMPDIR/$1"
}

# What the fake server was sent: the Nth request's body (1-based).
request_body() {
	jq -c -s ".[$1 - 1].body" "$FAKE_OPENAI_LOG"
}

# A one-node flow: start -> NAME -> end, NAME being the rest of the line.
one_node() {
	flow_file "$1" <<-EOF
	node $2
	start -> ${2%% *}
	${2%% *} -> end
	EOF
}

# ---- agents ----

@test "agent research: mas-research's answer over a corpus, under research" {
	one_node research 'r agent research --corpus examples/corpus --depth brief'
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/research.flow"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	task='{"id":"q","query":"how does storage help solar power?"}'
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/research.flow" \
		<<<"$task"
	[ "$status" -eq 0 ]
	output_jq '.id == "q" and .research.meta.engine == "embedded"'
	output_jq '.research.sources | length > 0'
	output_jq '.research.meta.depth == "brief"'
	diff <(mas-research --corpus examples/corpus --depth brief <<<"$task" |
		jq -c '.research | del(.created_at, .completed_at)') \
	     <(printf '%s\n' "$output" |
		jq -c '.research | del(.created_at, .completed_at)')
}

@test "agent research: the index mas-research index stored is used" {
	one_node stored 'r agent research --corpus examples/corpus'
	run --separate-stderr mas-flow -v check "$BATS_TEST_TMPDIR/stored.flow"
	[ "$status" -eq 0 ]
	grep -qE "^mas-flow: indexing [0-9]+ files on the fly$" <<<"$stderr"
	mas-research index --corpus examples/corpus >/dev/null
	run --separate-stderr mas-flow -v check "$BATS_TEST_TMPDIR/stored.flow"
	[ "$status" -eq 0 ]
	grep -qE "^mas-flow: using the stored index of [0-9]+ files$" <<<"$stderr"
}

@test "agent research: --retrieve-only and --sources" {
	one_node ranked 'r agent research --corpus=examples/corpus --retrieve-only --sources 2'
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/ranked.flow" \
		<<<'{"id":"q","query":"solar storage"}'
	[ "$status" -eq 0 ]
	output_jq '(.research.sources | length) == 2'
	output_jq '.research | has("summary") | not'
}

@test "agent chat: mas-chat's reply from a knowledge base, under chat" {
	one_node chat 'c agent chat --kb examples/kb.jsonl'
	record='{"id":"m","message":"how much is pro?"}'
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/chat.flow" \
		<<<"$record"
	[ "$status" -eq 0 ]
	output_jq '.id == "m" and .chat.intent == "pricing"'
	output_jq '.chat.response | startswith("The Pro plan costs")'
	diff <(mas-chat --kb examples/kb.jsonl --no-sessions <<<"$record" |
		jq -c '.chat | del(.timestamp)') \
	     <(printf '%s\n' "$output" | jq -c '.chat | del(.timestamp)')
}

@test "agent chat: the knowledge base from MAS_KB, options checked" {
	one_node kbenv 'c agent chat --lang en --threshold 0.2 --no-sessions'
	MAS_KB=examples/kb.jsonl run --separate-stderr \
		mas-flow run "$BATS_TEST_TMPDIR/kbenv.flow" \
		<<<'{"id":"m","message":"hello"}'
	[ "$status" -eq 0 ]
	output_jq '.chat.intent == "greeting" and .chat.language == "en"'
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/kbenv.flow"
	[ "$status" -eq 2 ]
	grep -qxF "$BATS_TEST_TMPDIR/kbenv.flow:1: node 'c': agent chat: no knowledge base: give --kb FILE or set MAS_KB" \
		<<<"$stderr"
}

@test "agent analyze: mas-analyze's answer over examples/data, under analysis" {
	one_node analyze 'a agent analyze --data-dir examples/data --type describe'
	task=$(head -1 examples/tasks.jsonl | jq -c 'del(.analysis_type)')
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/analyze.flow" \
		<<<"$task"
	[ "$status" -eq 0 ]
	output_jq '.analysis.status == "completed"'
	output_jq '.analysis.analysis_type == "describe"'
	diff <(mas-analyze --data-dir examples/data --type describe \
		<<<"$task" |
		jq -c '.analysis | del(.created_at, .completed_at)') \
	     <(printf '%s\n' "$output" |
		jq -c '.analysis | del(.created_at, .completed_at)')
}

@test "agents in a row: each result under its key, in one state" {
	flow_file row <<-'EOF'
	node c agent chat --kb examples/kb.jsonl
	node r agent research --corpus examples/corpus
	start -> c
	c -> r   if .chat.intent == "pricing"
	c -> end
	r -> end
	EOF
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/row.flow" <<-'EOF'
	{"id":"1","message":"how much is pro?","query":"pricing"}
	{"id":"2","message":"hello"}
	EOF
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 2 ]
	output_jq -s '.[0].chat.intent == "pricing" and (.[0] | has("research"))'
	output_jq -s '.[1].chat.intent == "greeting" and (.[1] | has("research") | not)'
}

# ---- check ----

@test "check: each bad agent set-up with its line, exit 2" {
	printf '{"type":"intent","name":"x"}\n' >"$BATS_TEST_TMPDIR/bad-kb.jsonl"
	flow_file agents <<-EOF
	node a agent frobnicate
	node b agent analyze --colour red
	node c agent analyze --type
	node d agent chat --kb $BATS_TEST_TMPDIR/bad-kb.jsonl
	node e agent research --corpus $BATS_TEST_TMPDIR/no-such-corpus
	node f agent research --depth deep --sources 50
	node g agent analyze --data-dir $BATS_TEST_TMPDIR/no-such-dir
	node h agent
	start -> a
	a -> b
	b -> c
	c -> d
	d -> e
	e -> f
	f -> g
	g -> h
	h -> end
	EOF
	f="$BATS_TEST_TMPDIR/agents.flow"
	run --separate-stderr mas-flow check "$f"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	grep -qxF "$f:1: node 'a': unknown agent 'frobnicate' (known: analyze, research, chat)" <<<"$stderr"
	grep -qF "$f:2: node 'b': agent analyze: unknown argument '--colour' (known: --data-dir, --type," <<<"$stderr"
	grep -qF "$f:2: node 'b': agent analyze: unknown argument 'red'" <<<"$stderr"
	grep -qxF "$f:3: node 'c': agent analyze: --type needs a value" <<<"$stderr"
	grep -qxF "$f:4: node 'd': agent chat: $BATS_TEST_TMPDIR/bad-kb.jsonl:1: intent: missing field 'examples'" <<<"$stderr"
	grep -qxF "$f:5: node 'e': agent research: --corpus: $BATS_TEST_TMPDIR/no-such-corpus: No such file or directory" <<<"$stderr"
	grep -qxF "$f:6: node 'f': agent research: --depth: 'deep' is not brief, standard or comprehensive" <<<"$stderr"
	grep -qxF "$f:6: node 'f': agent research: --sources: '50' is not a count from 1 to 20" <<<"$stderr"
	grep -qxF "$f:7: node 'g': agent analyze: --data-dir: $BATS_TEST_TMPDIR/no-such-dir: not a folder" <<<"$stderr"
	grep -qxF "$f:8: node 'h': agent needs a name: analyze, research or chat" <<<"$stderr"
	[ "$(grep -c . <<<"$stderr")" -eq 10 ]
}

@test "check: agents' paths are relative to the current folder" {
	one_node here 'a agent analyze --data-dir examples/data'
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/here.flow"
	[ "$status" -eq 0 ]
	cd "$BATS_TEST_TMPDIR"
	run --separate-stderr mas-flow check here.flow
	[ "$status" -eq 2 ]
	grep -qxF "here.flow:1: node 'a': agent analyze: --data-dir: examples/data: not a folder" <<<"$stderr"
}

@test "check: a bad llm template, hole by hole with the template's line" {
	template prompts/bad.txt <<-'EOF'
	Dear {{ .name }},
	{{ .x ||| }} and {{ }}
	fine: {{ {id: .id, s: "}}"} }}
	EOF
	flow_file llmbad <<-'EOF'
	node a llm prompts/bad.txt --temperature 3
	node b llm prompts/none.txt --top-k 5
	node c llm
	start -> a
	a -> b
	b -> c
	c -> end
	EOF
	f="$BATS_TEST_TMPDIR/llmbad.flow"
	t="$BATS_TEST_TMPDIR/prompts"
	run --separate-stderr mas-flow check "$f"
	[ "$status" -eq 2 ]
	grep -qF "$f:1: node 'a': llm: template $t/bad.txt:2: jq expression '.x |||' does not compile: " <<<"$stderr"
	grep -qxF "$f:1: node 'a': llm: template $t/bad.txt:2: empty {{ }}" <<<"$stderr"
	grep -qxF "$f:1: node 'a': llm: --temperature: '3' is not a number from 0 to 2" <<<"$stderr"
	grep -qxF "$f:2: node 'b': llm: unknown argument '--top-k' (known: --system, --model, --temperature, --max-tokens)" <<<"$stderr"
	grep -qxF "$f:2: node 'b': llm: unknown argument '5' (known: --system, --model, --temperature, --max-tokens)" <<<"$stderr"
	grep -qxF "$f:2: node 'b': llm: template $t/none.txt: No such file or directory" <<<"$stderr"
	grep -qxF "$f:3: node 'c': llm needs a TEMPLATE file" <<<"$stderr"
	[ "$(grep -c . <<<"$stderr")" -eq 7 ]
	printf 'open {{ .x\n' | template prompts/open.txt
	one_node open 'o llm prompts/open.txt'
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/open.flow"
	[ "$status" -eq 2 ]
	grep -qxF "$BATS_TEST_TMPDIR/open.flow:1: node 'o': llm: template $t/open.txt:1: '{{' without its '}}'" <<<"$stderr"
}

# ---- llm ----

@test "llm: holes filled from the state; a JSON reply is placed as a value" {
	template prompts/summary.txt <<-'EOF'
	Summarise ticket {{ .id }} for {{ .customer.name }}.
	Items: {{ .items }}; note: {{ .note }}{{ empty }}.
	Literally {{ "{{" }} and {{ {id} }}.
	EOF
	one_node summary 'summary llm prompts/summary.txt'
	fake_openai_serve '{"reply":"```json\n{\"topic\":\"billing\",\"urgent\":true}\n```"}'
	export MAS_MODEL=test-model
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/summary.flow" \
		<<<'{"id":"t1","customer":{"name":"Ann"},"items":[1,"two"],"note":null}'
	[ "$status" -eq 0 ]
	output_jq '.id == "t1" and .summary == {"topic":"billing","urgent":true}'
	output_jq '.customer.name == "Ann"'
	[ "$(fake_openai_requests)" -eq 1 ]
	request_body 1 | jq -e '.messages == [{"role":"user","content":"Summarise ticket t1 for Ann.\nItems: [1,\"two\"]; note: null.\nLiterally {{ and {\"id\":\"t1\"}.\n"}]'
	request_body 1 | jq -e '.model == "test-model" and (has("temperature") | not)'
}

@test "llm: a text reply is placed as a string; output= and options" {
	template prompts/ask.txt <<<'Answer {{ .question }}'
	printf 'You are terse.\n' | template prompts/system.txt
	flow_file ask <<-'EOF'
	node ask output=answer llm prompts/ask.txt --system prompts/system.txt --temperature 0.2 --max-tokens=64 --model other-model
	start -> ask
	ask -> end
	EOF
	fake_openai_serve '{"reply":"Forty-two, roughly."}'
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/ask.flow" \
		<<<'{"id":"q","question":"what is six times seven?"}'
	[ "$status" -eq 0 ]
	output_jq '.answer == "Forty-two, roughly." and .question == "what is six times seven?"'
	request_body 1 | jq -e '.messages[0] == {"role":"system","content":"You are terse.\n"}'
	request_body 1 | jq -e '.messages[1].content == "Answer what is six times seven?\n"'
	request_body 1 | jq -e '.temperature == 0.2 and .max_tokens == 64 and .model == "other-model"'
}

@test "research then llm: examples/prompts/answer.txt from the research" {
	flow_file answer <<-EOF
	node research agent research --corpus examples/corpus --depth brief
	node answer   llm $TOP/examples/prompts/answer.txt --temperature 0
	start    -> research
	research -> answer
	answer   -> end
	EOF
	fake_openai_serve '{"contains":"Question: does storage shift solar output to the evening?","json":{"answer":"Yes: batteries move midday solar to the evening.","needs_more":false}}'
	export MAS_MODEL=test-model
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/answer.flow" \
		<<<'{"id":"s","query":"does storage shift solar output to the evening?"}'
	[ "$status" -eq 0 ]
	output_jq '.answer.needs_more == false and (.answer.answer | startswith("Yes"))'
	output_jq '.research.sources | length > 0'
	# the research agent asked the model too; the llm node's is last
	jq -s -e 'last.body.messages[0].content | test("Sources: .*Solar plus storage") and contains("\n- ")' "$FAKE_OPENAI_LOG"
	jq -s -e 'last.body.temperature == 0' "$FAKE_OPENAI_LOG"
}

@test "llm: the template is found next to the flow file, from anywhere" {
	template prompts/echo.txt <<<'{{ .word }}'
	one_node echo 'e llm prompts/echo.txt'
	fake_openai_serve '{"echo":true}'
	export MAS_MODEL=test-model
	cd /
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/echo.flow" \
		<<<'{"id":"x","word":"{\"a\": 1}"}'
	[ "$status" -eq 0 ]
	output_jq '.e == {"a": 1}'
}

@test "llm: a hole that fails at run time is the record's error, exit 1" {
	template prompts/name.txt <<<'Hello {{ .user.name }}'
	one_node name 'greet llm prompts/name.txt'
	fake_openai_serve '{"reply":"hi"}'
	export MAS_MODEL=test-model
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/name.flow" <<-'EOF'
	{"id":"ok","user":{"name":"Ann"}}
	{"id":"bad","user":3}
	EOF
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 2 ]
	output_jq -s '.[0].greet == "hi" and (.[0] | has("error") | not)'
	output_jq -s '.[1].error.code == "INVALID_REQUEST" and .[1].error.node == "greet"'
	output_jq -s '.[1].error.message | contains("{{ .user.name }}") and contains("name.txt:1")'
	[ "$(fake_openai_requests)" -eq 1 ]
}

@test "llm: without a model the step fails, not the check" {
	template prompts/hello.txt <<<'Hello'
	one_node nomodel 'hello llm prompts/hello.txt'
	run --separate-stderr mas-flow check "$BATS_TEST_TMPDIR/nomodel.flow"
	[ "$status" -eq 0 ]
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/nomodel.flow" \
		<<<'{"id":"n"}'
	[ "$status" -eq 1 ]
	output_jq '.id == "n" and .error.code == "INVALID_REQUEST" and .error.node == "hello"'
	output_jq '.error.message | contains("llm needs a model: set OPENAI_BASE_URL or OPENAI_API_KEY")'
}

@test "llm: a model that keeps failing gives a transient error, exit 75" {
	template prompts/hello.txt <<<'Hello'
	one_node down 'hello llm prompts/hello.txt'
	fake_openai_serve '{"status":503,"times":50}'
	export MAS_MODEL=test-model
	run --separate-stderr mas-flow run "$BATS_TEST_TMPDIR/down.flow" \
		<<<'{"id":"d"}'
	[ "$status" -eq 75 ]
	output_jq '.error.code == "UPSTREAM_ERROR" and .error.transient == true'
}
