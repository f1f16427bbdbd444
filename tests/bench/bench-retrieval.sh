# mas-research as a first stage: nDCG@10, recall@100 and recall@1000 and
# per-query latency on a generated collection with relevance judgments
# (tests/helpers/qrels-gen: 20,000 documents, 400 English and Chinese
# queries), for the default settings, a small grid of k1, b and title
# weight, passages against documents, and with --feedback.
#
# DOCS (20000) sets the collection's size; BASELINE_BIN, a mas-research
# built from another revision, adds its nDCG@10 and recall@20 at its
# defaults (older builds return at most 20 sources).
. tests/bench/lib.sh
DOCS=${DOCS:-20000}
col="$OUT/retrieval-$DOCS"
export MAS_STATE_DIR="$OUT/retrieval-state"
unset MAS_RESEARCH_BM25_K1 MAS_RESEARCH_BM25_B MAS_RESEARCH_TITLE_WEIGHT \
	MAS_RESEARCH_INCLUDE MAS_RESEARCH_EXCLUDE MAS_RESEARCH_ID_FIELD

mkdir -p "$col"
qrels-gen "$col" "$DOCS" 42
mas-research index --corpus "$col" --include corpus.jsonl >"$OUT/retrieval-index.out"
jq -c '{id: ._id, query: .text}' "$col/queries.jsonl" >"$OUT/retrieval-queries.jsonl"
nq=$(wc -l <"$OUT/retrieval-queries.jsonl")
zh=$(grep -c '[^ -~]' "$OUT/retrieval-queries.jsonl" || true)

# dedupe: records in, "qid docid rank" out, each document at its first
# place.
dedupe() {
	jq -r '.id as $q | .research.sources[] | "\($q) \(.id)"' |
		awk '!seen[$0]++ { print $1, $2, ++rank[$1] }'
}

# run NAME OPTIONS...: the ranked document ids per query into
# $OUT/retrieval-NAME.run ("qid docid rank", passages deduplicated to
# their documents in order) and each query's milliseconds (from -v) into
# $OUT/retrieval-NAME.ms.
run() {
	name=$1
	shift
	mas-research -v --corpus "$col" --include corpus.jsonl --retrieve-only \
		"$@" <"$OUT/retrieval-queries.jsonl" 2>"$OUT/retrieval-$name.err" |
		dedupe \
		>"$OUT/retrieval-$name.run"
	sed -n 's/.* \([0-9.]*\) ms ok$/\1/p' "$OUT/retrieval-$name.err" \
		>"$OUT/retrieval-$name.ms"
}

# score NAME: "nDCG@10 R@100 R@1000 p50_ms p95_ms" of a run (recall over
# every judged document; nDCG with grades 1 and 2, ideal from the qrels).
score() {
	metrics=$(awk -v nq="$nq" '
		FILENAME == ARGV[1] { rel[$1 " " $2] = $3; n[$1]++; g[$1, n[$1]] = $3; next }
		{ q = $1; r = $3; gain = rel[q " " $2]
		  if (gain > 0) {
			if (r <= 10) dcg[q] += (2 ^ gain - 1) / (log(r + 1) / log(2))
			if (r <= 100) h100[q]++
			if (r <= 1000) h1000[q]++
		  } }
		END {
			for (q in n) {
				# the ideal: grades 2 before 1
				m = n[q]; twos = 0
				for (i = 1; i <= m; i++) twos += g[q, i] == 2
				ideal = 0
				for (r = 1; r <= 10 && r <= m; r++)
					ideal += (r <= twos ? 3 : 1) / (log(r + 1) / log(2))
				s += dcg[q] / ideal; a += h100[q] / m; b += h1000[q] / m
			}
			printf "%.4f %.4f %.4f", s / nq, a / nq, b / nq
		}' "$col/qrels.tsv" "$OUT/retrieval-$1.run")
	ms=$(sort -n "$OUT/retrieval-$1.ms" | awk '{ v[NR] = $1 }
		END { printf "%.2f %.2f", v[int((NR + 1) / 2)], v[int(NR * 0.95 + 0.5)] }')
	echo "$metrics $ms"
}

row() {
	name=$1
	shift
	run "$name" "$@"
	printf '%-28s %s\n' "$name" "$(score "$name")"
}

echo "== mas-research retrieval: $DOCS generated documents, $nq queries ($zh Chinese) =="
jq -c '.index | {documents, passages, terms, seconds}' "$OUT/retrieval-index.out"
printf '%-28s %s\n' "run" "nDCG@10 R@100 R@1000 p50_ms p95_ms"
row documents --rank documents --sources 1000
row passages --sources 1000
row feedback --rank documents --sources 1000 --feedback
for kb in "0.9 0.4" "1.2 0.4" "1.2 0.9" "1.6 0.75" "2.0 0.75"; do
	set -- $kb
	row "k1=$1,b=$2" --rank documents --sources 1000 --bm25-k1 "$1" --bm25-b "$2"
done
for w in 0 2 3 5; do
	row "title_weight=$w" --rank documents --sources 1000 --title-weight "$w"
done
if [ -n "${BASELINE_BIN:-}" ]; then
	# another build: its own state, at most 20 sources, and ids from
	# "id" only (older builds do not read "_id")
	mkdir -p "$col-id"
	jq -c '{id: ._id, title, text}' "$col/corpus.jsonl" >"$col-id/corpus.jsonl"
	MAS_STATE_DIR="$OUT/retrieval-state-baseline" "$BASELINE_BIN" index \
		--corpus "$col-id/corpus.jsonl" >/dev/null
	MAS_STATE_DIR="$OUT/retrieval-state-baseline" "$BASELINE_BIN" -v \
		--corpus "$col-id/corpus.jsonl" --retrieve-only --sources 20 \
		<"$OUT/retrieval-queries.jsonl" 2>"$OUT/retrieval-baseline.err" |
		dedupe \
		>"$OUT/retrieval-baseline.run"
	sed -n 's/.* \([0-9.]*\) ms ok$/\1/p' "$OUT/retrieval-baseline.err" \
		>"$OUT/retrieval-baseline.ms"
	run now --sources 20
	echo "against $BASELINE_BIN (20 passages, deduplicated; R@100 is R@20):"
	printf '%-28s %s\n' baseline "$(score baseline)"
	printf '%-28s %s\n' "this build" "$(score now)"
fi
