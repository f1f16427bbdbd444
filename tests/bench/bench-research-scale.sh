# mas-research at scale (issue 18): for generated corpora of 50 MB, 200
# MB and 1 GB (tests/bench/research-corpus.awk), the time and peak memory
# of `mas-research index`, and the latency and peak memory of the first
# answer from the stored index (a process started for one question,
# answered in full, and one ranked with --retrieve-only), and a second
# `index` after one file changed.
#
# SIZES (default "50 200 1000") are the corpora in MB; BASELINE_BIN, a
# mas-research built from another revision, is measured alongside (the
# figures to compare with: the same corpora, in the same run).  The page
# cache is warm for both (the corpus and the index were just written).
# Corpora are kept in $OUT/scale-SIZE for the next run, but for those of
# 1 GB or more (made again in about a minute); KEEP=0 removes all, KEEP=1
# keeps all.
. tests/bench/lib.sh
rm -f "$OUT/times"
SIZES=${SIZES:-50 200 1000}

corpus_of() {
	dir="$OUT/scale-$1"
	if [ ! -s "$dir/done" ]; then
		rm -rf "$dir"
		mkdir -p "$dir/corpus"
		awk -v dir="$dir/corpus" -v files=$(($1 * 10)) \
			-v queries="$dir/queries.jsonl" \
			-f tests/bench/research-corpus.awk
		echo ok >"$dir/done"
	fi
	echo "$dir"
}

# one WHO BIN CORPUS STATE: index, change a file, index again, answer
# one question (the first of the queries) and rank for another.
one() {
	who=$1 bin=$2 corpus=$3
	export MAS_STATE_DIR=$4
	rm -rf "$MAS_STATE_DIR"
	# (a failed index is reported with its time and memory)
	measure "$who-$size-index" "'$bin' index --corpus '$corpus' >'$OUT/scale.out' 2>'$OUT/scale.err' || true"
	if ! jq -e .index.index_bytes "$OUT/scale.out" >/dev/null 2>&1; then
		printf '  %-8s index %6.1f s (%6.1f CPU s) %5.0f MiB, then failed: %s\n' \
			"$who" "$(median "$who-$size-index")" "$(cpu "$who-$size-index")" \
			"$(peak "$who-$size-index")" \
			"$(tail -1 "$OUT/scale.err")"
		rm -rf "$MAS_STATE_DIR"
		return
	fi
	index_bytes=$(jq .index.index_bytes "$OUT/scale.out")
	head -1 "$dir/queries.jsonl" >"$OUT/scale-q1.jsonl"
	sed -n 2p "$dir/queries.jsonl" >"$OUT/scale-q2.jsonl"
	measure "$who-$size-answer" "'$bin' --corpus '$corpus' '$OUT/scale-q1.jsonl' >'$OUT/scale-answer.out'"
	measure "$who-$size-rank" "'$bin' --corpus '$corpus' --retrieve-only --sources 100 '$OUT/scale-q2.jsonl' >/dev/null"
	echo "Changed." >>"$corpus/doc001.txt"
	measure "$who-$size-again" "'$bin' index --corpus '$corpus' >/dev/null 2>&1 || true"
	# back as it was (size and text; the time differs, so the next run
	# indexes afresh anyway)
	truncate -s -9 "$corpus/doc001.txt"
	printf '  %-8s index %6.1f s (%6.1f CPU s) %5.0f MiB (%.2f x) %5.0f MB | first answer %6.3f s %4.0f MiB | ranked %6.3f s %4.0f MiB | after a change %6.1f s\n' \
		"$who" "$(median "$who-$size-index")" "$(cpu "$who-$size-index")" \
		"$(peak "$who-$size-index")" \
		"$(echo "$(peak "$who-$size-index") * 1048576 / $bytes" | bc -l)" \
		"$(echo "$index_bytes / 1000000" | bc -l)" \
		"$(median "$who-$size-answer")" "$(peak "$who-$size-answer")" \
		"$(median "$who-$size-rank")" "$(peak "$who-$size-rank")" \
		"$(median "$who-$size-again")"
	rm -rf "$MAS_STATE_DIR"
}

echo "== mas-research at scale: index, first answer, memory (peak RSS) =="
for size in $SIZES; do
	dir=$(corpus_of "$size")
	bytes=$(cat "$dir"/corpus/*.txt | wc -c)
	echo "$((bytes / 1000000)) MB in $((size * 10)) files:"
	if [ -n "${BASELINE_BIN:-}" ]; then
		one baseline "$BASELINE_BIN" "$dir/corpus" "$OUT/scale-state-base"
	fi
	one "this" "$PWD/bin/mas-research" "$dir/corpus" "$OUT/scale-state"
	keep=${KEEP:-$([ "$size" -lt 1000 ] && echo 1 || echo 0)}
	[ "$keep" = 1 ] || rm -rf "$dir"
done
