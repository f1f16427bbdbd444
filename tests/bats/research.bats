#!/usr/bin/env bats
# mas-research(1): answers from the shipped corpus, citations, plans,
# options, the stored index, bad input and the record contract.

load helpers

CORPUS=examples/corpus
EXAMPLE='{"type":"research","query":"人工智能在医疗领域的应用前景","priority":"high","context":{"domain":"healthcare","timeframe":"2024-2025","depth":"comprehensive"}}'

setup() {
	common_setup
	unset MAS_CORPUS MAS_RESEARCH_DEPTH
}

ask() {
	jq -nc --arg q "$1" '{query: $q}'
}

@test "the issue's example: a cited, grounded answer in Chinese" {
	run --separate-stderr mas-research --corpus "$CORPUS" <<<"$EXAMPLE"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	output_jq '.research.status == "completed" and .research.meta.engine == "embedded" and .research.meta.grounded == true'
	output_jq '.research.summary | test("人工智能")'
	output_jq '.research.sources | length == 10 and all(.score > 0) and (map(.rank) == [range(1; 11)])'
	output_jq '.research.sources[0].id | test("healthcare-ai-outlook-zh.md$")'
	output_jq '.research.key_findings | length >= 4 and all(.sources | length >= 1)'
	output_jq '.research.recommendations | length >= 3 and any(.text | test("建议"))'
	# every citation names a passage that is among the sources
	output_jq '[.research.sources[].passage_id] as $ids | [.research.key_findings[], .research.recommendations[] | .sources[]] + .research.summary_sources | all(. as $c | $ids | index([$c]))'
	output_jq '.research.confidence > 0.5 and .research.confidence <= 1'
	output_jq '.research.meta.plan == "extractive_answer" and .research.meta.retrieval_rounds >= 1 and .research.meta.depth == "comprehensive"'
	output_jq '(.research.created_at | test("Z$")) and .type == "research" and .priority == "high"'
}

@test "no sentence is said twice: summary, findings and recommendations" {
	run --separate-stderr mas-research --corpus "$CORPUS" <<<"$EXAMPLE"
	[ "$status" -eq 0 ]
	output_jq '[.research.key_findings[].text, .research.recommendations[].text] | length == (unique | length)'
	output_jq '.research.summary as $s | [.research.key_findings[].text] | all(. as $t | $s | contains($t) | not)'
}

@test "an English question gets English sources and an advice sentence" {
	run --separate-stderr mas-research --corpus "$CORPUS" < <(ask "Should utilities pair solar farms with batteries?")
	[ "$status" -eq 0 ]
	output_jq '.research.sources[0].title | test("Solar plus storage|Grid-scale")'
	output_jq '.research.recommendations[0].text | test("should")'
}

@test "thin evidence: the feedback plan widens the query and retrieves again" {
	run --separate-stderr mas-research --corpus "$CORPUS" < <(ask "sodium")
	[ "$status" -eq 0 ]
	output_jq '.research.meta.retrieval_rounds == 2 and (.research.meta.expansion_terms | length > 0)'
	output_jq '.research.meta.plans[0] | .goal == "evidence" and .plan == "feedback_retrieval" and (.failed[0].reason | startswith("thin evidence"))'
}

@test "strong evidence needs one round" {
	run --separate-stderr mas-research --corpus "$CORPUS" < <(ask "thermal runaway fire safety of battery sites")
	output_jq '.research.meta.retrieval_rounds == 1 and .research.meta.plans[0].plan == "direct_retrieval" and .research.meta.evidence.thin == false'
}

@test "confidence follows the evidence: a matched question beats a vague one" {
	run --separate-stderr mas-research --corpus "$CORPUS" < <(ask "lithium-ion battery pack prices per kilowatt-hour"; ask "zebra migration and sodium")
	[ "$status" -eq 0 ]
	output_jq -s '.[0].research.confidence > .[1].research.confidence'
	output_jq -s '.[1].research.meta.unmatched_terms == ["zebra","migrat"]'
}

@test "nothing in the corpus matches: status no_evidence, confidence 0" {
	run --separate-stderr mas-research --corpus "$CORPUS" < <(ask "zebra quantum")
	[ "$status" -eq 0 ]
	output_jq '.research | .status == "no_evidence" and .confidence == 0 and .sources == [] and .key_findings == []'
}

@test "depth changes how much is returned, and --sources overrides" {
	q='{"query":"battery storage","context":{"depth":"brief"}}'
	run --separate-stderr mas-research --corpus "$CORPUS" <<<"$q"
	output_jq '.research | (.sources | length) == 3 and (.key_findings | length) <= 3 and .meta.depth == "brief"'
	run --separate-stderr mas-research --corpus "$CORPUS" --depth comprehensive < <(ask "battery storage")
	output_jq '.research | (.sources | length) == 10 and (.key_findings | length) > 3'
	run --separate-stderr mas-research --corpus "$CORPUS" --sources 7 <<<"$q"
	output_jq '.research.sources | length == 7'
	MAS_RESEARCH_DEPTH=brief run --separate-stderr mas-research --corpus "$CORPUS" < <(ask "battery storage")
	output_jq '.research.meta.depth == "brief"'
}

@test "--retrieve-only gives ranked sources and nothing else" {
	run --separate-stderr mas-research --corpus "$CORPUS" --retrieve-only --sources 4 < <(ask "储能电站安全")
	[ "$status" -eq 0 ]
	output_jq '.research | has("summary") or has("key_findings") or has("recommendations") | not'
	output_jq '.research.sources | length == 4 and (map(.score) == (map(.score) | sort | reverse))'
	output_jq '.research.sources[0].id | endswith("storage-safety-zh.md")'
	output_jq '.research.meta.plan == "ranked_sources"'
}

@test "a JSONL corpus gives sources that carry the document's own id" {
	run --separate-stderr mas-research --corpus "$CORPUS/briefs.jsonl" < <(ask "vehicle-to-grid")
	[ "$status" -eq 0 ]
	output_jq '.research.sources[0] | .id == "brief-003" and .passage_id == "brief-003#1" and .title == "Vehicle-to-grid" and .path == "examples/corpus/briefs.jsonl"'
}

@test "--input takes the query from another agent's output" {
	run --separate-stderr mas-research --corpus "$CORPUS" --input '.chat.research_query // .message' < <(echo '{"id":"c1","message":"How much do lithium-ion batteries cost?"}'; echo '{"id":"c2","chat":{"research_query":"储能电站安全"},"message":"x"}')
	[ "$status" -eq 0 ]
	output_jq -s '.[0].id == "c1" and .[0].message != null and ([.[0].research.sources[:2][].id] | any(endswith("lithium-ion-costs.md")))'
	output_jq -s '.[1].research.query == "储能电站安全"'
}

@test "the output feeds mas-analyze" {
	run --separate-stderr bash -c "mas-research --corpus $CORPUS <<<'$EXAMPLE' | mas-analyze --input '{analysis_type: \"describe\", data: [.research.sources[] | {score}]}'"
	[ "$status" -eq 0 ]
	output_jq '.analysis.summary.score.n == 10 and (.research.sources | length) == 10'
}

@test "one record in, one out, in order, with errors in place" {
	run --separate-stderr mas-research --corpus "$CORPUS" < <(
		echo '{"id":"a","query":"battery recycling"}'
		echo 'not json'
		echo '{"id":"c"}'
		echo '{"id":"d","query":"储能"}')
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 4 ]
	output_jq -s '[.[0].id, .[2].id, .[3].id] == ["a","c","d"] and .[1].error.line == 2'
	output_jq -s '.[2].error == {code: "INVALID_REQUEST", message: "query: missing"}'
	output_jq -s '.[3].research.status == "completed"'
}

@test "bad queries and contexts are errors naming the field" {
	run --separate-stderr mas-research --corpus "$CORPUS" < <(
		echo '{"query":""}'
		echo '{"query":"   "}'
		echo '{"query":42}'
		echo '{"query":"battery","context":{"depth":"deep"}}'
		echo '{"query":"battery","context":"x"}'
		echo '{"query":"😀 !!"}'
		echo '{"query":null}')
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 7 ]
	run jq -r '.error.code + " " + .error.message' <<<"$output"
	[ "${lines[0]}" = "INVALID_REQUEST query: empty" ]
	[ "${lines[1]}" = "INVALID_REQUEST query: empty" ]
	[ "${lines[2]}" = "INVALID_REQUEST query: expected a string, got number" ]
	[ "${lines[3]}" = "INVALID_REQUEST context.depth: expected brief, standard or comprehensive" ]
	[ "${lines[4]}" = "INVALID_REQUEST context: expected an object" ]
	[[ "${lines[5]}" == "INVALID_REQUEST query: no words to search for"* ]]
	[ "${lines[6]}" = "INVALID_REQUEST query: missing" ]
}

@test "no corpus and no model: an error record saying exactly that" {
	run --separate-stderr mas-research < <(ask "battery")
	[ "$status" -eq 1 ]
	output_jq '.error.code == "NOT_FOUND" and (.error.message | startswith("no corpus and no model: give --corpus PATH"))'
	output_jq '.query == "battery" and (has("research") | not)'
}

@test "a corpus that cannot be read is a usage error naming it" {
	run --separate-stderr mas-research --corpus "$BATS_TEST_TMPDIR/nothing" < <(ask x)
	[ "$status" -eq 2 ]
	[ "$stderr" = "mas-research: error: --corpus: $BATS_TEST_TMPDIR/nothing: No such file or directory" ]
	[ -z "$output" ]
}

@test "inside a folder: unreadable and binary files are skipped with a warning" {
	d=$BATS_TEST_TMPDIR/c
	mkdir -p "$d/sub" "$d/.git"
	printf 'Heat pumps move heat instead of making it.\n' > "$d/sub/heat.txt"
	printf 'PNG\0\1\2 heat pumps' > "$d/image.txt"
	printf '\xff\xfe heat pumps' > "$d/latin1.md"
	printf 'heat pumps hidden' > "$d/.git/x.txt"
	printf 'heat pumps' > "$d/notes.pdf"
	ln -s "$d/missing.txt" "$d/dangling.txt"
	run --separate-stderr mas-research --corpus "$d" --retrieve-only < <(ask "heat pumps")
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"$d/image.txt: binary file (a NUL byte in the first 8 KiB); skipped"* ]]
	[[ "$stderr" == *"$d/latin1.md: binary file (invalid UTF-8 in the first 8 KiB); skipped"* ]]
	[[ "$stderr" == *"$d/dangling.txt: No such file or directory; skipped"* ]]
	[[ "$stderr" != *hidden* && "$stderr" != *notes.pdf* ]]
	output_jq '[.research.sources[].id] == ["'"$d"'/sub/heat.txt"]'
	if [ "$(id -u)" -ne 0 ]; then
		chmod 000 "$d/sub/heat.txt"
		run --separate-stderr mas-research --corpus "$d" < <(ask "heat")
		[[ "$stderr" == *"heat.txt: Permission denied; skipped"* ]]
	fi
}

@test "a JSONL file is read a line at a time: binary head skipped, bad bytes further on replaced and warned about once" {
	d=$BATS_TEST_TMPDIR/j
	mkdir -p "$d"
	{
		head -c 9000 /dev/zero | tr '\0' ' '
		printf '\n{"id":"a","text":"heat pumps move heat"}\n'
	} > "$d/fine.jsonl"
	{
		head -c 9000 /dev/zero | tr '\0' ' '
		printf '\n{"id":"b","text":"heat \xff pumps"}\n\n'
		printf '{"id":"c","text":"heat\xfe again"}\n'
	} > "$d/bad.jsonl"
	printf '\0{"id":"z","text":"heat pumps"}\n' > "$d/nul.jsonl"
	run --separate-stderr mas-research --corpus "$d" --retrieve-only --sources 10 < <(ask "heat")
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"$d/bad.jsonl: invalid UTF-8 or NUL bytes from byte 9024, replaced"* ]]
	[ "$(grep -c 'invalid UTF-8 or NUL' <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == *"$d/nul.jsonl: binary file (a NUL byte in the first 8 KiB); skipped"* ]]
	output_jq '[.research.sources[].id] | sort == ["a", "b", "c"]'
	output_jq '[.research.sources[] | select(.id == "b") | .text] == ["heat \ufffd pumps"]'
}

@test "index stores the corpus; queries use it; it is reused until a file changes" {
	d=$BATS_TEST_TMPDIR/c
	mkdir -p "$d"
	cp examples/corpus/energy/*.md "$d/"
	run --separate-stderr mas-research index --corpus "$d"
	[ "$status" -eq 0 ]
	output_jq '.index | .files == 10 and .documents == 10 and .passages > 10 and .reused == false and .index_bytes > 0'
	run --separate-stderr mas-research index --corpus "$d"
	output_jq '.index.reused == true'
	run --separate-stderr mas-research -v --corpus "$d" < <(ask "flow batteries")
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"using the stored index of 10 files"* ]]
	# a changed file makes the stored index stale: rebuilt on the fly,
	# and the new text is found
	sleep 0.01
	printf '# Gravity storage\n\nGravity storage lifts concrete blocks.\n' >> "$d/battery-safety.md"
	run --separate-stderr mas-research -v --corpus "$d" --retrieve-only < <(ask "gravity concrete blocks")
	[[ "$stderr" == *"indexing 10 files on the fly"* ]]
	output_jq '.research.sources[0].id | endswith("battery-safety.md")'
	run --separate-stderr mas-research index --corpus "$d"
	output_jq '.index.reused == false'
	sqlite3 "$XDG_STATE_HOME/mas/mas.db" 'select count(*) from research_index' | grep -qx 1
}

@test "the stored index and an index built on the fly answer alike" {
	run bash -c "mas-research --corpus $CORPUS --retrieve-only <<<'$EXAMPLE' | jq -c .research.sources"
	fly=$output
	mas-research index --corpus "$CORPUS" >/dev/null
	run bash -c "mas-research --corpus $CORPUS --retrieve-only <<<'$EXAMPLE' | jq -c .research.sources"
	[ "$output" = "$fly" ]
}

@test "an index built in segments answers as one built in memory; a new one replaces its file; old stores are migrated" {
	d=$BATS_TEST_TMPDIR/c
	idx=$XDG_STATE_HOME/mas/research-index
	cp -r "$CORPUS" "$d"
	strip='del(.research.created_at, .research.completed_at)'
	queries=$(jq -c '{id, query}' tests/fixtures/research/judged-examples.jsonl | head -40)
	fly=$(mas-research --corpus "$d" <<<"$queries" | jq -c "$strip")
	# a segment per document, merged
	run --separate-stderr mas-research index --corpus "$d" --index-memory 0 -vv
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"index segment 30: 1 documents"* ]]
	output_jq '.index.documents == 30'
	[ "$(ls "$idx")" = "$(sqlite3 "$XDG_STATE_HOME/mas/mas.db" 'select file from research_index')" ]
	stored=$(mas-research -v --corpus "$d" <<<"$queries" 2>"$BATS_TEST_TMPDIR/err" | jq -c "$strip")
	grep -q "using the stored index" "$BATS_TEST_TMPDIR/err"
	[ -n "$fly" ] && [ "$stored" = "$fly" ]
	# an update adds a segment beside the old file; an orphan left by
	# a killed build is removed once old, a young one kept
	old=$(ls "$idx")
	touch -d '1 hour ago' "$idx/orphan.idx"
	touch "$idx/young.idx"
	echo "More text." >> "$d/energy/battery-safety.md"
	run --separate-stderr mas-research index --corpus "$d"
	[ "$status" -eq 0 ]
	output_jq '.index.segments == 2'
	[ -e "$idx/$old" ] && [ ! -e "$idx/orphan.idx" ] && [ -e "$idx/young.idx" ]
	[ "$(ls "$idx" | wc -l)" -eq 3 ]
	# every file changed: a new index replaces the old one's files
	find "$d" -type f -exec sh -c 'echo More. >>"$1"' sh {} \;
	run --separate-stderr mas-research index --corpus "$d"
	[ "$status" -eq 0 ]
	output_jq '.index.segments == 1'
	[ ! -e "$idx/$old" ] && [ -e "$idx/young.idx" ]
	[ "$(ls "$idx" | wc -l)" -eq 2 ]
	# a store of the version that kept indexes inside it: dropped, the
	# next index stores again
	db=$XDG_STATE_HOME/mas/mas.db
	sqlite3 "$db" "ALTER TABLE research_index DROP COLUMN file; ALTER TABLE research_index DROP COLUMN segments; ALTER TABLE research_index DROP COLUMN layout; ALTER TABLE research_index DROP COLUMN terms; ALTER TABLE flow_run DROP COLUMN out_path; ALTER TABLE chat_model DROP COLUMN file; PRAGMA user_version = 10"
	run --separate-stderr mas-research index --corpus "$d"
	[ "$status" -eq 0 ]
	output_jq '.index.reused == false'
	[ "$(sqlite3 "$db" 'PRAGMA user_version')" -ge 11 ]
	[ "$(sqlite3 "$db" 'select count(*) from research_index where file is not null')" -eq 1 ]
	run --separate-stderr mas-research index --corpus "$d" --index-memory=-1
	[ "$status" -eq 2 ]; [[ "$stderr" == *"--index-memory"* ]]
}

@test "research.corpus and MAS_CORPUS name the corpus" {
	MAS_CORPUS="$CORPUS/briefs.jsonl:$CORPUS/energy" run --separate-stderr mas-research --retrieve-only < <(ask "sodium-ion")
	[ "$status" -eq 0 ]
	output_jq '.research.sources[0].id == "brief-006"'
}

@test "bad options are usage errors naming the option" {
	run --separate-stderr mas-research --sources 0 --corpus "$CORPUS"
	[ "$status" -eq 2 ]; [[ "$stderr" == *"--sources"* ]]
	run --separate-stderr mas-research --depth deep --corpus "$CORPUS"
	[ "$status" -eq 2 ]; [[ "$stderr" == *"'deep' is not brief, standard or comprehensive"* ]]
	run --separate-stderr mas-research --retrieve-only
	[ "$status" -eq 2 ]; [[ "$stderr" == *"--retrieve-only: no corpus"* ]]
	run --separate-stderr mas-research index
	[ "$status" -eq 2 ]; [[ "$stderr" == *"index: no corpus"* ]]
}

@test "the same input gives the same answer" {
	strip='del(.id, .research.created_at, .research.completed_at)'
	one=$(mas-research --corpus "$CORPUS" <<<"$EXAMPLE" | jq -c "$strip")
	two=$(mas-research --corpus "$CORPUS" <<<"$EXAMPLE" | jq -c "$strip")
	[ -n "$one" ]
	[ "$one" = "$two" ]
}

@test "retrieval quality on the shipped corpus: MAP and nDCG@10 above their floors" {
	run --separate-stderr tests/fixtures/research/evaluate.sh
	[ "$status" -eq 0 ]
	echo "$output"
	output_jq '.queries >= 20 and .map >= 0.8 and .ndcg_at_10 >= 0.85'
}

@test "a write error on stdout is exit 74" {
	run bash -c "mas-research --corpus $CORPUS <<<'{\"query\":\"battery\"}' > /dev/full"
	[ "$status" -eq 74 ]
}

@test "a query longer than 65536 bytes is an error naming the field" {
	jq -nc '{id: "big", query: ("battery storage " * 10000)}' \
		>"$BATS_TEST_TMPDIR/big"
	run -1 --separate-stderr mas-research --corpus examples/corpus \
		"$BATS_TEST_TMPDIR/big"
	output_jq '.error.message == "query: 160000 bytes, longer than the 65536 a query may have"'
}

@test "summaries: no section labels of structured abstracts, no sentence far from the query" {
	c="$BATS_TEST_TMPDIR/abstracts.jsonl"
	cat >"$c" <<-'EOF2'
	{"id":"a1","title":"Statins after stroke","text":"BACKGROUNDStatins lower cholesterol after ischaemic stroke in older patients. METHODS: We followed 4,000 stroke patients on statins for five years. FINDINGS: Statins after stroke cut recurrent stroke by a fifth in patients over seventy. CONCLUSIONS: Clinicians should offer statins after ischaemic stroke to older patients."}
	{"id":"a2","title":"Hospital parking","text":"Parking fees at hospitals rose in 2020. Older visitors complained about the walk from the car park."}
	EOF2
	run --separate-stderr mas-research --corpus "$c" <<<'{"query":"statins after stroke in older patients"}'
	[ "$status" -eq 0 ]
	output_jq '.research.status == "completed"'
	output_jq '[.research.summary, .research.key_findings[].text, .research.recommendations[].text] | all(test("BACKGROUND|METHODS|FINDINGS|CONCLUSIONS") | not)'
	output_jq '[.research.summary, .research.key_findings[].text] | all(test("Parking|car park") | not)'
	output_jq '.research.summary | contains("Statins after stroke cut recurrent stroke")'
	output_jq '.research.recommendations == [{"text":"Clinicians should offer statins after ischaemic stroke to older patients.","sources":["a1#1"]}]'
}

@test "recommendations: only advice the corpus gives, never twice, never a template" {
	run --separate-stderr mas-research --corpus "$CORPUS" < <(jq -c '{query}' tests/fixtures/research/judged-examples.jsonl)
	[ "$status" -eq 0 ]
	output_jq -s '[.[].research.recommendations[]] | length > 20 and all(has("templated") | not)'
	output_jq -s 'all(.research.recommendations | map(.text) | length == (unique | length))'
	output_jq -s '[.[].research.recommendations[].text] | all(test("should|must|recommend|advis|need|important|consider|建议|应|必须|需要|推荐|务必"; "i"))'
}
