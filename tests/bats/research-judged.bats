#!/usr/bin/env bats
# Whether mas-research's confidence means something: a judged set of
# answerable and unanswerable questions (mas-research(1), CONFIDENCE),
# 118 English and Chinese questions over examples/corpus
# (tests/fixtures/research/judged-examples.jsonl: 44 answerable and 50
# unanswerable ones written by hand, on neighbouring subjects, and the 24
# queries of qrels.jsonl) and 400 over a generated corpus of 10,000
# documents (tests/helpers/qrels-gen, 200 answerable, 200 of neighbouring
# topics the corpus does not hold).  One run of mas-research per corpus.

load helpers

setup() {
	common_setup
	unset MAS_CORPUS
}

# The AUROC of .research.confidence for answerable against unanswerable
# questions over the records on stdin, ties counting half.
auroc() {
	jq -s '(map(select(.answerable) | .research.confidence)) as $p |
	       (map(select(.answerable | not) | .research.confidence)) as $n |
	       ([$p[] as $x | $n[] as $y |
	         if $x > $y then 1 elif $x == $y then 0.5 else 0 end] | add)
	       / (($p | length) * ($n | length))'
}

# The share of the records on stdin whose .answerable is $1 and that are
# reported completed.
completed() {
	jq -s --argjson a "$1" 'map(select(.answerable == $a)) |
	       (map(select(.research.status == "completed")) | length)
	       / length'
}

@test "confidence tells answerable from unanswerable questions" {
	gen="$BATS_TEST_TMPDIR/gen"
	mkdir "$gen"
	qrels-gen "$gen" 10000 7 200
	[ "$(jq -s 'map(select(.answerable)) | length' "$gen/judged.jsonl")" -eq 200 ]
	[ "$(jq -s 'map(select(.answerable | not)) | length' "$gen/judged.jsonl")" -eq 200 ]
	mas-research --corpus examples/corpus \
		<tests/fixtures/research/judged-examples.jsonl >"$BATS_TEST_TMPDIR/out" 2>/dev/null
	mas-research --corpus "$gen/corpus.jsonl" \
		<"$gen/judged.jsonl" >>"$BATS_TEST_TMPDIR/out" 2>/dev/null
	out="$BATS_TEST_TMPDIR/out"
	[ "$(grep -c . "$out")" -eq 518 ]
	! jq -e 'select(.error)' "$out" >/dev/null
	a=$(auroc <"$out") u=$(completed false <"$out") c=$(completed true <"$out")
	echo "AUROC $a, unanswerable completed $u, answerable completed $c" >&3
	jq -ne "$a >= 0.90 and $u <= 0.05 and $c >= 0.90"
	# and on each corpus alone
	for f in examples generated; do
		if [ $f = examples ]; then r=$(head -n 118 "$out"); else r=$(tail -n 400 "$out"); fi
		a=$(auroc <<<"$r") u=$(completed false <<<"$r") c=$(completed true <<<"$r")
		echo "$f: AUROC $a, unanswerable completed $u, answerable completed $c" >&3
		jq -ne "$a >= 0.90 and $u <= 0.05 and $c >= 0.90"
	done
	# an unanswerable question is never dressed up as an answer
	jq -e 'select(.research.status == "insufficient_evidence") |
	       .research | .key_findings == [] and .recommendations == [] and
	       .confidence < 0.7 and (.sources | length) > 0' "$out" >/dev/null
}

@test "the question of issue 18 is insufficient evidence, with the closest passages" {
	run --separate-stderr mas-research --corpus examples/corpus <<<'{"query":"企业数字化转型策略 市场调研"}'
	[ "$status" -eq 0 ]
	output_jq '.research | .status == "insufficient_evidence" and .confidence < 0.3 and .meta.plan == "report_insufficient" and .meta.evidence.sufficient == false'
	output_jq '.research | (.summary | contains("最接近")) and .key_findings == [] and .recommendations == [] and (.sources | length) == 5'
	output_jq '.research.meta.unmatched_terms | index(["转型"]) and index(["调研"])'
}
