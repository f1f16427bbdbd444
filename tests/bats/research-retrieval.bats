#!/usr/bin/env bats
# mas-research(1) retrieval: the Snowball stemmers, BM25's parameters and
# the title weight, corpus formats and patterns, and --retrieve-only as a
# first stage.

load helpers

setup() {
	common_setup
	unset MAS_CORPUS MAS_RESEARCH_DEPTH MAS_RESEARCH_BM25_K1 \
		MAS_RESEARCH_BM25_B MAS_RESEARCH_TITLE_WEIGHT
	C="$BATS_TEST_TMPDIR/corpus"
	mkdir -p "$C"
}

ask() {
	jq -nc --arg q "$1" '{query: $q}'
}

# Two documents: "solar" in a's title only, in b's text only.
titled() {
	printf '%s\n' '{"id":"a","title":"Solar","text":"wind turbines spin"}' \
		'{"id":"b","title":"Notes","text":"solar panels on roofs"}' \
		>"$C/docs.jsonl"
}

ids() {
	jq -c '[.research.sources[].id]' <<<"$output"
}

@test "stems by Porter2 and Snowball's Russian: other forms of a word match" {
	printf '%s\n' '{"id":"en","text":"The connection was generous."}' \
		'{"id":"ru","text":"Улицы Москвы широкие."}' >"$C/docs.jsonl"
	run --separate-stderr mas-research --corpus "$C" --retrieve-only < <(ask "connecting generously")
	[ "$status" -eq 0 ]
	[ "$(ids)" = '["en"]' ]
	run --separate-stderr mas-research --corpus "$C" --retrieve-only < <(ask "москва")
	[ "$(ids)" = '["ru"]' ]
	# a ligature from a PDF is its letters
	run --separate-stderr mas-research --corpus "$C" --retrieve-only < <(ask "ﬁ-connections")
	output_jq '.research.meta.unmatched_terms == ["fi"] and .research.sources[0].id == "en"'
}

@test "--title-weight: 0 ignores titles, 10 puts a title match first" {
	titled
	run --separate-stderr mas-research --corpus "$C" --retrieve-only < <(ask solar)
	[ "$status" -eq 0 ]
	[ "$(ids)" = '["a","b"]' ] # equal scores: the earlier passage
	output_jq '.research.sources[0].score == .research.sources[1].score'
	run --separate-stderr mas-research --corpus "$C" --retrieve-only --title-weight 0 < <(ask solar)
	[ "$(ids)" = '["b"]' ]
	run --separate-stderr mas-research --corpus "$C" --retrieve-only --title-weight 10 < <(ask solar)
	[ "$(ids)" = '["a","b"]' ]
	output_jq '.research.sources[0].score > .research.sources[1].score'
}

@test "BM25 settings: variables and options, the option winning; one stored index serves all" {
	titled
	run --separate-stderr mas-research index --corpus "$C"
	[ "$status" -eq 0 ]
	MAS_RESEARCH_TITLE_WEIGHT=0 run --separate-stderr mas-research -v --corpus "$C" --retrieve-only < <(ask solar)
	[ "$(ids)" = '["b"]' ]
	[[ "$stderr" == *"using the stored index"* ]]
	MAS_RESEARCH_TITLE_WEIGHT=0 run --separate-stderr mas-research --corpus "$C" --retrieve-only --title-weight 10 < <(ask solar)
	[ "$(ids)" = '["a","b"]' ]
	# k1 and b change the scores: b 0 ignores length, k1 0 counts once
	printf '%s\n' '{"id":"long","text":"solar solar solar one two three four five six seven eight"}' \
		'{"id":"short","text":"solar"}' >"$C/docs.jsonl"
	run --separate-stderr mas-research --corpus "$C" --retrieve-only < <(ask solar)
	[ "$(ids)" = '["short","long"]' ]
	run --separate-stderr mas-research --corpus "$C" --retrieve-only --bm25-b 0 < <(ask solar)
	[ "$(ids)" = '["long","short"]' ]
	MAS_RESEARCH_BM25_K1=0 run --separate-stderr mas-research --corpus "$C" --retrieve-only < <(ask solar)
	output_jq '.research.sources[0].score == .research.sources[1].score'
}

@test "a bad BM25 setting is a usage error naming it" {
	titled
	run -2 --separate-stderr mas-research --corpus "$C" --bm25-b 1.5 < <(ask solar)
	[ "$stderr" = "mas-research: error: research.bm25_b (--bm25-b, MAS_RESEARCH_BM25_B): '1.5' is not a number from 0 to 1" ]
	MAS_RESEARCH_BM25_K1=fast run -2 --separate-stderr mas-research --corpus "$C" < <(ask solar)
	[[ "$stderr" == *"research.bm25_k1 (--bm25-k1, MAS_RESEARCH_BM25_K1): 'fast' is not a number from 0 to 100"* ]]
	run -2 --separate-stderr mas-research --corpus "$C" --title-weight -1 < <(ask solar)
	[[ "$stderr" == *"research.title_weight"* ]]
	[ -z "$output" ]
}

@test "--retrieve-only is a pure first stage: no feedback, the top n the same whatever --sources" {
	queries=$(jq -c '{query}' tests/fixtures/research/qrels.jsonl; ask "zebra migration and sodium"; ask "企业数字化转型策略 市场调研")
	run --separate-stderr mas-research --corpus examples/corpus --retrieve-only --sources 10 <<<"$queries"
	[ "$status" -eq 0 ]
	ten=$(jq -c '[.research.sources[].passage_id]' <<<"$output")
	output_jq -s 'all(.research.meta.retrieval_rounds == 1 and .research.meta.expansion_terms == [])'
	run --separate-stderr mas-research --corpus examples/corpus --retrieve-only --sources 20 <<<"$queries"
	twenty=$(jq -c '[.research.sources[].passage_id][:10]' <<<"$output")
	[ "$ten" = "$twenty" ]
	[ "$(wc -l <<<"$ten")" -eq 26 ]
	# --feedback widens a thin query, as an answer does
	run --separate-stderr mas-research --corpus examples/corpus --retrieve-only --feedback < <(ask "zebra migration and sodium")
	output_jq '.research.meta.retrieval_rounds == 2 and (.research.meta.expansion_terms | length > 0)'
}

@test "a string task (from --input) is the query; a bare string line is an error record naming the line" {
	run --separate-stderr mas-research --corpus examples/corpus --retrieve-only --sources 1 --input .q <<<'{"q":"thermal runaway"}'
	[ "$status" -eq 0 ]
	output_jq '.research.query == "thermal runaway" and (.research.sources | length == 1)'
	# the record contract: a line is an object, where the answer goes
	run -1 --separate-stderr mas-research --corpus examples/corpus <<<'"thermal runaway"'
	output_jq '.error.message == "line 1: expected a JSON object, got a string"'
}

@test "a folder in BEIR's layout: the queries outrank the documents unless patterns leave them out" {
	B=tests/fixtures/research/beir
	queries=$(jq -c '{query: .text}' "$B/queries.jsonl")
	run --separate-stderr mas-research --corpus "$B" --retrieve-only --sources 1 <<<"$queries"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.research.sources[0].id' <<<"$output" | paste -sd,)" = "q1,q2,q3" ]
	# _id is the id, and only corpus.jsonl is read
	run --separate-stderr mas-research -v --corpus "$B" --include corpus.jsonl --retrieve-only --sources 1 <<<"$queries"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.research.sources[0].id' <<<"$output" | paste -sd,)" = "doc-101,doc-102,doc-104" ]
	[[ "$stderr" == *"$B/queries.jsonl: not matched by the patterns, skipped"* ]]
	[[ "$stderr" == *"$B/qrels/test.tsv: not matched by the patterns, skipped"* ]]
	output_jq -s 'map(.research.meta.corpus.documents) == [4, 4, 4]'
	# or the queries left out, the other kinds still taken
	run --separate-stderr mas-research --corpus "$B" --exclude queries.jsonl --retrieve-only --sources 1 <<<"$queries"
	[ "$(jq -r '.research.sources[0].id' <<<"$output" | paste -sd,)" = "doc-101,doc-102,doc-104" ]
}

@test "--include and --exclude: a glob with a slash matches the path below the root, an excluded folder is not walked" {
	mkdir -p "$C/a" "$C/b" "$C/b/deep"
	echo "solar panels in a" >"$C/a/notes.md"
	echo "solar panels in b" >"$C/b/notes.md"
	echo "solar panels deeper" >"$C/b/deep/notes.md"
	echo "solar panels in a log" >"$C/a/run.log"
	run --separate-stderr mas-research --corpus "$C" --retrieve-only --include 'a/*' < <(ask solar)
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.research.sources[].id] | sort' <<<"$output")" = "[\"$C/a/notes.md\",\"$C/a/run.log\"]" ]
	# * does not cross a slash; repeated options add up
	run --separate-stderr mas-research --corpus "$C" --retrieve-only --include 'b/*.md' --include '*.log' < <(ask solar)
	[ "$(jq -c '[.research.sources[].id] | sort' <<<"$output")" = "[\"$C/a/run.log\",\"$C/b/notes.md\"]" ]
	# a folder excluded by name, from the variable as from the option
	MAS_RESEARCH_EXCLUDE=deep:a run --separate-stderr mas-research --corpus "$C" --retrieve-only < <(ask solar)
	[ "$(ids)" = "[\"$C/b/notes.md\"]" ]
	# a file named as the corpus is read whatever the patterns
	run --separate-stderr mas-research --corpus "$C/a/run.log" --exclude '*.log' --retrieve-only < <(ask solar)
	[ "$(ids)" = "[\"$C/a/run.log\"]" ]
}

@test "--id-field names the id; ids held twice are warned about once, with their lines" {
	printf '%s\n' '{"docno":"D1","id":"x","text":"solar panels"}' \
		'{"docno":"D2","id":"x","text":"wind turbines"}' \
		'{"id":"y","text":"solar roofs"}' \
		'{"docno":"D1","text":"solar farms"}' >"$C/docs.jsonl"
	run --separate-stderr mas-research --corpus "$C" --retrieve-only < <(ask solar)
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"warning: duplicate id 'x' in 2 documents: $C/docs.jsonl:1, $C/docs.jsonl:2; each is kept"* ]]
	[ "$(grep -c duplicate <<<"$stderr")" -eq 1 ]
	run --separate-stderr mas-research index --corpus "$C" --id-field docno
	[ "$status" -eq 0 ]
	[ "$(grep -c duplicate <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == *"duplicate id 'D1' in 2 documents: $C/docs.jsonl:1, $C/docs.jsonl:4; each is kept"* ]]
	output_jq '.index.duplicate_ids == 1 and .index.documents == 4'
	# the stored index (its key holds the id field) is used, and quiet
	run --separate-stderr mas-research -v --corpus "$C" --id-field docno --retrieve-only < <(ask solar)
	[[ "$stderr" == *"using the stored index"* ]]
	[[ "$stderr" != *duplicate* ]]
	[ "$(ids)" = "[\"D1\",\"D1\",\"$C/docs.jsonl:3\"]" ]
	# without it, another corpus: indexed on the fly, ids from "id"
	run --separate-stderr mas-research -v --corpus "$C" --retrieve-only < <(ask solar)
	[[ "$stderr" == *"indexing 1 files on the fly"* ]]
	[ "$(ids)" = "[\"x\",\"y\",\"$C/docs.jsonl:4\"]" ]
}

@test "--rank documents: each document once, by its best passage, with the passages that earned the rank" {
	q='{"query":"battery cost storage"}'
	run --separate-stderr mas-research --corpus examples/corpus --retrieve-only --rank documents --sources 6 <<<"$q"
	[ "$status" -eq 0 ]
	output_jq '.research.sources | length == 6 and (map(.id) | unique | length == 6) and map(.rank) == [range(1; 7)]'
	output_jq '.research.sources | all(.passages[0].passage_id == .passage_id and .passages[0].score == .score and (.passages | length <= 3) and (.passages | map(.score) | . == (sort | reverse)))'
	output_jq '[.research.sources[] | .id as $d | .passages[].passage_id | startswith($d + "#")] | all'
	output_jq '[.research.sources[].passages | length] | max == 3'
	docs=$(jq -c '[.research.sources[].id]' <<<"$output")
	# MaxP: the documents in the order they first come among the passages
	run --separate-stderr mas-research --corpus examples/corpus --retrieve-only --sources 1000 <<<"$q"
	[ "$(jq -c '[.research.sources[].id] | reduce .[] as $d ([]; if index([$d]) then . else . + [$d] end) | .[:6]' <<<"$output")" = "$docs" ]
	# the default ranks passages, and says nothing of others
	output_jq '.research.sources | all(has("passages") | not)'
}

@test "--sources up to 1000 in a first stage, 20 in an answer; --rank only there" {
	seq 1500 | awk '{ printf "{\"id\":\"d%d\",\"text\":\"common words and number %d\"}\n", $1, $1 }' >"$C/many.jsonl"
	run --separate-stderr mas-research --corpus "$C" --retrieve-only --sources 1000 < <(ask "common number")
	[ "$status" -eq 0 ]
	output_jq '.research.sources | length == 1000 and (map(.rank) == [range(1; 1001)])'
	run --separate-stderr mas-research --corpus "$C" --retrieve-only --rank documents --sources 1000 < <(ask "common number")
	output_jq '.research.sources | length == 1000 and (map(.id) | unique | length == 1000)'
	run -2 --separate-stderr mas-research --corpus "$C" --retrieve-only --sources 1001 < <(ask common)
	[[ "$stderr" == *"--sources"* ]]
	run -2 --separate-stderr mas-research --corpus "$C" --sources 21 < <(ask common)
	[ "$stderr" = "mas-research: error: --sources: 21 is more than the 20 an answer cites (up to 1000 with --retrieve-only)" ]
	run -2 --separate-stderr mas-research --corpus "$C" --rank documents < <(ask common)
	[ "$stderr" = "mas-research: error: --rank documents: only with --retrieve-only (an answer cites passages)" ]
	run -2 --separate-stderr mas-research --corpus "$C" --retrieve-only --rank books < <(ask common)
	[ "$stderr" = "mas-research: error: --rank: 'books' is not passages or documents" ]
	[ -z "$output" ]
}

@test "--feedback in a first stage: the evidence is judged on the depth's window, so --sources changes how many, never which" {
	queries=$(jq -c '{query}' tests/fixtures/research/qrels.jsonl; ask "zebra migration and sodium")
	run --separate-stderr mas-research --corpus examples/corpus --retrieve-only --feedback --sources 3 <<<"$queries"
	[ "$status" -eq 0 ]
	three=$(jq -c '[.research.sources[].passage_id, .research.confidence, .research.meta.expansion_terms]' <<<"$output")
	run --separate-stderr mas-research --corpus examples/corpus --retrieve-only --feedback --sources 20 <<<"$queries"
	twenty=$(jq -c '[.research.sources[].passage_id][:3] + [.research.confidence, .research.meta.expansion_terms]' <<<"$output")
	[ "$three" = "$twenty" ]
	# some queries were widened, so the test says something
	output_jq -s 'map(select(.research.meta.retrieval_rounds == 2)) | length > 0'
}
