#!/usr/bin/env bats
# mas-research with a model endpoint (the fake server under tests/helpers):
# sub-questions, a synthesis whose citations are checked, no corpus, and
# the fallback.  mas-research(1) MODEL.

load helpers
load fake_openai_helper

CORPUS=examples/corpus
P=examples/corpus/energy

setup() {
	common_setup
	export MAS_STATE_DIR="$BATS_TEST_TMPDIR/state" MAS_MODEL=test-model
	unset MAS_CORPUS
}

teardown() {
	fake_openai_stop
}


questions='{"contains":"Break the research question","json":{"sub_questions":["How cheap are lithium-ion batteries?","What do grid batteries do?"]}}'
synthesis='{"contains":"Answer the research question","json":{"answers":[{"question":"How cheap are lithium-ion batteries?","answer":"139 dollars per kWh.","sources":["'$P'/lithium-ion-costs.md#1"]}],"summary":"Batteries got cheap.","summary_sources":["'$P'/lithium-ion-costs.md#1","invented#1"],"key_findings":[{"text":"Pack prices fell about 90%.","sources":["'$P'/lithium-ion-costs.md#1","nowhere#7"]}],"recommendations":[{"text":"Pair solar with storage.","sources":["'$P'/grid-scale-storage.md#2"]}]}}'

@test "sub-questions, retrieval for each, and a synthesis citing retrieved passages only" {
	fake_openai_serve "$questions" "$synthesis"
	run --separate-stderr mas-research --corpus "$CORPUS" <<<'{"query":"battery storage costs"}'
	[ "$status" -eq 0 ]
	output_jq '.research.meta.engine == "llm" and .research.meta.plan == "model_synthesis" and .research.meta.grounded == true'
	output_jq '.research.summary == "Batteries got cheap." and .research.summary_sources == ["'$P'/lithium-ion-costs.md#1"]'
	output_jq '.research.key_findings == [{"text":"Pack prices fell about 90%.","sources":["'$P'/lithium-ion-costs.md#1"]}]'
	output_jq '.research.meta.removed_citations == 2'
	output_jq '.research.sub_questions[0].question == "How cheap are lithium-ion batteries?"'
	output_jq '.research.meta.passages as $p | [.research.key_findings[], .research.recommendations[] | .sources[]] | all(. as $c | $p | index([$c]))'
	# two requests; the second carries the sub-questions and the passages
	[ "$(grep -c . "$FAKE_OPENAI_LOG")" -eq 2 ]
	sed -n 2p "$FAKE_OPENAI_LOG" | jq -e '.body.messages[1].content | fromjson | (.sub_questions | length) == 2 and (.passages | length) >= 5 and all(.passages[]; has("id") and has("text"))'
	sed -n 2p "$FAKE_OPENAI_LOG" | jq -e '.body.response_format.type == "json_schema"'
}

@test "without a corpus the model answers, marked grounded: false" {
	fake_openai_serve "$questions" "$synthesis"
	run --separate-stderr mas-research <<<'{"query":"battery storage costs"}'
	[ "$status" -eq 0 ]
	output_jq '.research | .meta.grounded == false and .sources == [] and .confidence == null and .meta.plan == "model_only"'
	output_jq '.research.key_findings[0].sources == [] and .research.meta.removed_citations == 6'
}

@test "a model that fails leaves the embedded answer, or the error with --fallback error" {
	fake_openai_serve '{"status":500}'
	run --separate-stderr mas-research --corpus "$CORPUS" --timeout 5 <<<'{"query":"battery storage costs"}'
	[ "$status" -eq 0 ]
	output_jq '.research.meta.engine == "embedded" and (.research.meta.fallback_reason | startswith("UPSTREAM_ERROR")) and (.research.key_findings | length) > 0'
	run --separate-stderr mas-research --corpus "$CORPUS" --fallback error --no-cache <<<'{"query":"battery storage costs"}'
	[ "$status" -eq 75 ]
	output_jq '.error.code == "UPSTREAM_ERROR" and (has("research") | not)'
}

@test "a finding that is not an object is the model's error, not a crash" {
	bad='{"contains":"Answer the research question","json":{"answers":[],"summary":"s","summary_sources":[],"key_findings":[{"text":"t","sources":[]}],"recommendations":[42]}}'
	fake_openai_serve "$questions" "$bad"
	run --separate-stderr mas-research --corpus "$CORPUS" --fallback error <<<'{"query":"battery storage costs"}'
	[ "$status" -eq 1 ]
	output_jq '.error.code == "UPSTREAM_ERROR" and .error.message == "reply: recommendations[0]: expected an object"'
	# not cached: the model is asked again
	run --separate-stderr mas-research --corpus "$CORPUS" <<<'{"query":"battery storage costs"}'
	[ "$status" -eq 0 ]
	output_jq '.research.meta.engine == "embedded" and (.research.meta.fallback_reason | contains("recommendations[0]"))'
	[ "$(grep -c 'Answer the research question' "$FAKE_OPENAI_LOG")" -eq 2 ]
}

@test "--retrieve-only never asks the model" {
	fake_openai_serve "$questions" "$synthesis"
	run --separate-stderr mas-research --corpus "$CORPUS" --retrieve-only <<<'{"query":"battery storage costs"}'
	[ "$status" -eq 0 ]
	output_jq '.research.meta.plan == "ranked_sources" and .research.meta.engine == "embedded"'
	[ "$(grep -c . "$FAKE_OPENAI_LOG" || true)" -eq 0 ]
}

@test "insufficient evidence: the model is told so, and the record still says so" {
	told='{"contains":"do NOT hold enough evidence","json":{"answers":[],"summary":"The corpus does not cover perovskite cells.","summary_sources":["'$P'/solar-plus-storage.txt#1"],"key_findings":[],"recommendations":[{"text":"Buy perovskite panels.","sources":[]}]}}'
	fake_openai_serve "$questions" "$told"
	run --separate-stderr mas-research --corpus "$CORPUS" <<<'{"query":"What is the efficiency of perovskite solar cells?"}'
	[ "$status" -eq 0 ]
	output_jq '.research | .status == "insufficient_evidence" and .confidence < 0.7 and .meta.engine == "llm" and .meta.plan == "model_insufficient"'
	output_jq '.research | .summary == "The corpus does not cover perovskite cells." and .recommendations == [] and (.sources | length) > 0'
	sed -n 2p "$FAKE_OPENAI_LOG" | jq -e '.body.messages[1].content | fromjson | .evidence == "insufficient" and (.passages | length) > 0'
	sed -n 2p "$FAKE_OPENAI_LOG" | jq -e '.body.messages[0].content | contains("Do not answer from general knowledge")'
}

@test "insufficient evidence and a model that fails: the embedded record, insufficient_evidence" {
	fake_openai_serve '{"status":500}'
	run --separate-stderr mas-research --corpus "$CORPUS" --timeout 5 <<<'{"query":"What is the efficiency of perovskite solar cells?"}'
	[ "$status" -eq 0 ]
	output_jq '.research | .status == "insufficient_evidence" and .meta.engine == "embedded" and .key_findings == [] and .recommendations == []'
}
