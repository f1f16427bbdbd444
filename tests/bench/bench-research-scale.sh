# mas-research at scale (issue 18): for generated corpora of 50 MB, 200
# MB and 1 GB (tests/bench/research-corpus.awk), the time and peak memory
# of `mas-research index`, and the latency and peak memory of the first
# answer from the stored index (a process started for one question,
# answered in full, and one ranked with --retrieve-only), and `index`
# again after one file changed, one added and one removed (an update:
# only that file is read, and added to the index as a segment), against
# the full index, with the first answer again once a segment is there.
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
	# one file changed, one added, one removed; each time the files
	# read, from the index record (a baseline without updates reads
	# every file, or says nothing)
	again="'$bin' index --corpus '$corpus' >'$OUT/scale-again.out' 2>/dev/null || true"
	read_of() { jq -r '(.index.files_read // "?" | tostring) + " read, " + (.index.segments // "?" | tostring) + " segments"' "$OUT/scale-again.out" 2>/dev/null || echo "?"; }
	echo "Changed." >>"$corpus/doc001.txt"
	measure "$who-$size-change" "$again"
	changed_read=$(read_of)
	measure "$who-$size-answer2" "'$bin' --corpus '$corpus' '$OUT/scale-q1.jsonl' >'$OUT/scale-answer.out'"
	cp "$corpus/doc002.txt" "$corpus/added.txt"
	measure "$who-$size-add" "$again"
	added_read=$(read_of)
	rm "$corpus/added.txt"
	measure "$who-$size-remove" "$again"
	removed_read=$(read_of)
	# back as it was (size and text; the time differs, so the next run
	# indexes afresh anyway)
	truncate -s -9 "$corpus/doc001.txt"
	printf '  %-8s index %6.1f s (%6.1f CPU s) %5.0f MiB (%.2f x) %5.0f MB | first answer %6.3f s %4.0f MiB | ranked %6.3f s %4.0f MiB\n' \
		"$who" "$(median "$who-$size-index")" "$(cpu "$who-$size-index")" \
		"$(peak "$who-$size-index")" \
		"$(echo "$(peak "$who-$size-index") * 1048576 / $bytes" | bc -l)" \
		"$(echo "$index_bytes / 1000000" | bc -l)" \
		"$(median "$who-$size-answer")" "$(peak "$who-$size-answer")" \
		"$(median "$who-$size-rank")" "$(peak "$who-$size-rank")"
	full=$(median "$who-$size-index")
	for what in change add remove; do
		case $what in
		change) n=$changed_read label=changed: ;;
		add) n=$added_read label=added: ;;
		remove) n=$removed_read label=removed: ;;
		esac
		printf '  %-8s index again after one file %-7s %6.2f s (%5.2f CPU s) %5.0f MiB, %s: %.3f x the full index\n' \
			"$who" "$label" "$(median "$who-$size-$what")" \
			"$(cpu "$who-$size-$what")" "$(peak "$who-$size-$what")" "$n" \
			"$(echo "$(median "$who-$size-$what") / $full" | bc -l)"
	done
	printf '  %-8s first answer after the change %6.3f s %4.0f MiB\n' \
		"$who" "$(median "$who-$size-answer2")" "$(peak "$who-$size-answer2")"
	rm -rf "$MAS_STATE_DIR"
}

echo "== mas-research at scale: index, first answer, memory (peak RSS) =="
echo "(index: mas-research index --corpus DIR; then, with one file of DIR"
echo " changed (a line appended to doc001.txt), added (doc002.txt copied to"
echo " added.txt) and removed (added.txt), the same command again, each an"
echo " update reading that file only; load: $(uptime | sed 's/.*average: //'))"
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
