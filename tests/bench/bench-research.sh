# mas-research: index a ~50 MB generated corpus (MB/s, index size), answer
# 1,000 queries with the stored index (queries/s, p50/p99 latency, peak
# memory against the corpus size), and MAP/nDCG@10 on the shipped corpus.
. tests/bench/lib.sh
rm -f "$OUT/times"
RUNS=${RUNS:-3}
export MAS_STATE_DIR="$OUT/research-state"
rm -rf "$MAS_STATE_DIR"

corpus="$OUT/research-corpus"
if [ ! -s "$corpus/done" ]; then
	rm -rf "$corpus"
	mkdir -p "$corpus"
	# 500 files of about 100 KB, and 1,000 queries
	awk -v dir="$corpus" -v files=500 \
		-v queries="$OUT/research-queries.jsonl" \
		-f tests/bench/research-corpus.awk
	echo ok > "$corpus/done"
fi
bytes=$(cat "$corpus"/*.txt | wc -c)
queries="$OUT/research-queries.jsonl"

for i in $(seq "$RUNS"); do
	rm -rf "$MAS_STATE_DIR"
	measure index "mas-research index --corpus '$corpus' > '$OUT/research-index.out'"
done
index_s=$(median index)
index_bytes=$(jq .index.index_bytes "$OUT/research-index.out")
echo "mas-research index, $((bytes / 1000000)) MB in 500 files, median of $RUNS:"
printf '  %.2f s, %.1f MB/s, index %.1f MB (%.2f x corpus), peak %s MiB\n' \
	"$index_s" "$(echo "$bytes / $index_s / 1000000" | bc -l)" \
	"$(echo "$index_bytes / 1000000" | bc -l)" \
	"$(echo "$index_bytes / $bytes" | bc -l)" "$(peak index)"

for i in $(seq "$RUNS"); do
	measure answer "mas-research --corpus '$corpus' '$queries' > '$OUT/research-answers.out'"
	measure retrieve "mas-research --corpus '$corpus' --retrieve-only '$queries' > /dev/null"
done
answer_s=$(median answer)
retrieve_s=$(median retrieve)
echo "mas-research, 1,000 queries against the stored index (load included), median of $RUNS:"
printf '  answers:        %.2f s, %.0f queries/s (target >= 200), peak %s MiB (%.2f x corpus; target < 4)\n' \
	"$answer_s" "$(echo "1000 / $answer_s" | bc -l)" "$(peak answer)" \
	"$(echo "$(peak answer) * 1048576 / $bytes" | bc -l)"
printf '  retrieve-only:  %.2f s, %.0f queries/s\n' "$retrieve_s" \
	"$(echo "1000 / $retrieve_s" | bc -l)"
jq -r '.research | ((.completed_at | sub("Z$"; "") | split(":") | .[2] | tonumber) -
                    (.created_at | sub("Z$"; "") | split(":") | .[2] | tonumber)) * 1000' \
	"$OUT/research-answers.out" | awk '$1 >= 0' | sort -n |
	awk '{ v[NR] = $1 } END { printf "  latency per query: p50 %.1f ms, p99 %.1f ms (clock resolution 1 ms)\n", v[int(NR * 0.5) + 1], v[int(NR * 0.99) + 1] }'
errors=$(jq -r 'select(.error) | .id' "$OUT/research-answers.out" | wc -l)
[ "$errors" -eq 0 ] || echo "  WARNING: $errors queries failed" >&2

echo "retrieval quality on examples/corpus (tests/fixtures/research/qrels.jsonl):"
tests/fixtures/research/evaluate.sh | jq -r '"  \(.queries) queries: MAP \(.map), nDCG@10 \(.ndcg_at_10)"'
