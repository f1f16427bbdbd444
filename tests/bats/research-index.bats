#!/usr/bin/env bats
# mas-research(1) index: an update reads only the files changed, adds
# them as a segment (or compacts), and answers as an index of every file
# would; an update interrupted or an index damaged is never used.

load helpers

setup() {
	common_setup
	unset MAS_CORPUS MAS_RESEARCH_DEPTH
	d=$BATS_TEST_TMPDIR/c
	cp -r examples/corpus "$d"
	strip='del(.research.created_at, .research.completed_at)'
	queries=$(jq -c '{id, query}' tests/fixtures/research/judged-examples.jsonl | head -30)
}

# The answers to $queries from $d, in full and ranked, with the index
# kept in state folder $1 ("" for the one of this test).
answers() {
	local state=${1:-$XDG_STATE_HOME/mas}
	MAS_STATE_DIR=$state mas-research --corpus "$d" <<<"$queries" | jq -c "$strip"
	MAS_STATE_DIR=$state mas-research --corpus "$d" --retrieve-only --rank documents --sources 20 <<<"$queries" | jq -c "$strip"
}

# Indexes $d again in a new state folder and checks the answers from
# the index of this test are the same, and its counts.
same_as_full() {
	local fresh=$BATS_TEST_TMPDIR/fresh-$RANDOM
	local kept full
	MAS_STATE_DIR=$fresh mas-research index --corpus "$d" >"$BATS_TEST_TMPDIR/full.json"
	jq -e '.index.incremental == false' "$BATS_TEST_TMPDIR/full.json" >/dev/null
	kept=$(answers)
	full=$(answers "$fresh")
	[ "$(wc -l <<<"$kept")" -eq $((2 * $(wc -l <<<"$queries"))) ]
	[ "$kept" = "$full" ]
	# the same counts, whatever the update read
	[ "$(jq -c '.index | {files, documents, passages, terms}' <<<"$output")" = \
	  "$(jq -c '.index | {files, documents, passages, terms}' "$BATS_TEST_TMPDIR/full.json")" ]
}

@test "an update reads only the file changed, added or removed, and answers as a full index" {
	run --separate-stderr mas-research index --corpus "$d"
	[ "$status" -eq 0 ]
	output_jq '.index | .incremental == false and .files_read == 25 and .files_kept == 0'
	# a file changed
	sleep 0.01
	printf '\nGravity storage lifts concrete blocks.\n' >>"$d/energy/battery-safety.md"
	run --separate-stderr mas-research index --corpus "$d" -v
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"updating the stored index: reading 1 of 25 files"* ]]
	output_jq '.index | .incremental == true and .reused == false and .files_read == 1 and .files_kept == 24'
	same_as_full
	# the new text is found in the index kept, not on the fly
	run --separate-stderr mas-research -v --corpus "$d" --retrieve-only < <(jq -nc '{query: "gravity concrete blocks"}')
	[[ "$stderr" == *"using the stored index of 25 files"* ]]
	output_jq '.research.sources[0].id | endswith("battery-safety.md")'
	# a file added (its terms new to the index)
	printf '# Tidal lagoons\n\nTidal lagoons turn the tide into power, twice a day.\n' >"$d/energy/tidal.md"
	run --separate-stderr mas-research index --corpus "$d" -v
	[[ "$stderr" == *"reading 1 of 26 files"* ]]
	output_jq '.index | .incremental == true and .files_read == 1 and .files_kept == 25'
	same_as_full
	# a file removed: nothing to read; its terms gone with it
	rm "$d/energy/tidal.md"
	run --separate-stderr mas-research index --corpus "$d" -v
	[[ "$stderr" == *"reading 0 of 25 files"* ]]
	output_jq '.index | .incremental == true and .files_read == 0 and .files_kept == 25'
	same_as_full
	run --separate-stderr mas-research --corpus "$d" --retrieve-only < <(jq -nc '{query: "tidal lagoons"}')
	output_jq '[.research.sources[].id | select(endswith("tidal.md"))] == []'
	# unchanged: reused as it is
	run --separate-stderr mas-research index --corpus "$d"
	output_jq '.index | .reused == true and .files_read == 0 and .files_kept == 25'
	# more changed than a quarter of the corpus or of --index-memory:
	# every file read
	find "$d" -type f -exec sh -c 'echo More. >>"$1"' sh {} \;
	run --separate-stderr mas-research index --corpus "$d" -v --index-memory 0
	[[ "$stderr" != *"updating the stored index"* ]]
	output_jq '.index | .incremental == false and .files_read == 25'
}

@test "a damaged or missing index is never used: queries index on the fly, index reads every file" {
	idx=$XDG_STATE_HOME/mas/research-index
	mas-research index --corpus "$d" >/dev/null
	good=$(answers)
	# cut short: not an index any more
	f=$(ls "$idx"/*.idx)
	truncate -s $(($(stat -c %s "$f") / 2)) "$f"
	run --separate-stderr mas-research -v --corpus "$d" --retrieve-only < <(jq -nc '{query: "battery"}')
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"indexing 25 files on the fly"* ]]
	[ "$(answers)" = "$good" ]
	echo "More." >>"$d/energy/battery-safety.md"
	run --separate-stderr mas-research index --corpus "$d"
	output_jq '.index | .incremental == false and .files_read == 25'
	same_as_full
	good=$(answers)
	# a document's strings out of place (the first file's): a segment
	# added does not read the files it keeps, so the damage stays
	# (answers poor, never a read outside the file) until a compaction
	# copies that file, sees it and reads every file
	f=$(ls "$idx"/*.idx)
	off=$(od -An -t u8 -j 96 -N 8 "$f" | tr -d ' ')
	printf '\000\000\000\100' | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
	echo "More." >>"$d/energy/battery-safety.md"
	run --separate-stderr mas-research index --corpus "$d"
	[ "$status" -eq 0 ]
	output_jq '.index | .incremental == true and .segments == 2'
	run --separate-stderr mas-research --corpus "$d" --retrieve-only --rank documents <<<"$queries"
	[ "$status" -eq 0 ]
	[ "$(wc -l <<<"$output")" -eq 30 ]
	for f in $(find "$d" -type f | sort | sed -n 2,9p); do
		echo "More." >>"$f"
	done
	run --separate-stderr mas-research index --corpus "$d"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"updating the stored index: the index kept is damaged; reading every file"* ]]
	output_jq '.index | .incremental == false and .files_read == 25 and .segments == 1'
	same_as_full
	# gone: the next index reads every file
	rm "$idx"/*.idx
	echo "More." >>"$d/energy/battery-safety.md"
	run --separate-stderr mas-research index --corpus "$d"
	output_jq '.index | .incremental == false and .files_read == 25'
	same_as_full
}

@test "an update killed midway leaves the index kept before, or the new one whole" {
	d=$BATS_TEST_TMPDIR/big
	mkdir -p "$d"
	awk -v dir="$d" -v files=60 -v queries="$BATS_TEST_TMPDIR/q.jsonl" \
		-f tests/bench/research-corpus.awk
	queries=$(head -10 "$BATS_TEST_TMPDIR/q.jsonl" | jq -c '{id, query}')
	mas-research index --corpus "$d" >/dev/null
	echo "Changed." >>"$d/doc001.txt"
	fresh=$BATS_TEST_TMPDIR/fresh
	MAS_STATE_DIR=$fresh mas-research index --corpus "$d" >/dev/null
	want=$(answers "$fresh")
	# killed wherever it is after a moment: the row is pointed at the
	# new file only once it is whole, so whenever the kill lands, the
	# index in use is the old one (stale: queries index on the fly) or
	# the new one, never half of one
	mas-research index --corpus "$d" >/dev/null 2>&1 &
	pid=$!
	sleep 0.0$((RANDOM % 10))
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" || true
	file=$(sqlite3 "$XDG_STATE_HOME/mas/mas.db" 'select file from research_index')
	[ -s "$XDG_STATE_HOME/mas/research-index/$file" ]
	[ "$(answers)" = "$want" ]
	run --separate-stderr mas-research index --corpus "$d"
	[ "$status" -eq 0 ]
	output_jq '.index | .files == 60 and (.reused or .files_read == 1)'
	same_as_full
	# the same with segments kept: every file the row names is whole,
	# and the answers are the old index's (stale: on the fly) or the
	# new one's
	for round in 1 2 3; do
		echo "Changed $round." >>"$d/doc00$((round + 1)).txt"
		rm -rf "$fresh"
		MAS_STATE_DIR=$fresh mas-research index --corpus "$d" >/dev/null
		want=$(answers "$fresh")
		mas-research index --corpus "$d" >/dev/null 2>&1 &
		pid=$!
		sleep 0.0$((RANDOM % 5))$((RANDOM % 10))
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" || true
		for f in $(sqlite3 "$XDG_STATE_HOME/mas/mas.db" 'select coalesce(segments, file) from research_index'); do
			[ -s "$XDG_STATE_HOME/mas/research-index/$f" ]
		done
		[ "$(answers)" = "$want" ]
		run --separate-stderr mas-research index --corpus "$d"
		[ "$status" -eq 0 ]
		output_jq '.index | .files == 60 and (.reused or .incremental)'
	done
	output_jq '.index.segments > 1'
	same_as_full
}

@test "updates add a segment each, drop the segments nothing lives in, and compact" {
	idx=$XDG_STATE_HOME/mas/research-index
	segments() { sqlite3 "$XDG_STATE_HOME/mas/mas.db" 'select coalesce(segments, file) from research_index' | wc -w; }
	run --separate-stderr mas-research index --corpus "$d"
	output_jq '.index | .segments == 1'
	# a file changed: a segment of it added, the base's copy dead
	sleep 0.01
	printf '\nGravity storage lifts concrete blocks.\n' >>"$d/energy/battery-safety.md"
	run --separate-stderr mas-research index --corpus "$d" -v
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"the index kept is 2 segments: one added with the files read"* ]]
	output_jq '.index | .incremental and .files_read == 1 and .files_kept == 24 and .segments == 2'
	[ "$(ls "$idx" | wc -l)" -eq 2 ]
	same_as_full
	# a file added, its terms new: a third
	printf '# Tidal lagoons\n\nTidal lagoons turn the tide into power.\n' >"$d/energy/tidal.md"
	run --separate-stderr mas-research index --corpus "$d"
	output_jq '.index | .incremental and .files_read == 1 and .segments == 3'
	same_as_full
	# the same file changed again: the segment that held it holds
	# nothing live any more, and goes with its file
	printf 'Flywheels spin.\n' >>"$d/energy/battery-safety.md"
	run --separate-stderr mas-research index --corpus "$d"
	output_jq '.index | .incremental and .files_read == 1 and .segments == 3'
	[ "$(ls "$idx" | wc -l)" -eq 3 ]
	[ "$(segments)" -eq 3 ]
	same_as_full
	# the file a segment holds removed: nothing read, the segment gone
	rm "$d/energy/tidal.md"
	run --separate-stderr mas-research index --corpus "$d"
	output_jq '.index | .incremental and .files_read == 0 and .segments == 2'
	[ "$(ls "$idx" | wc -l)" -eq 2 ]
	same_as_full
	run --separate-stderr mas-research --corpus "$d" --retrieve-only < <(jq -nc '{query: "tidal lagoons"}')
	output_jq '[.research.sources[].id | select(endswith("tidal.md"))] == []'
	# unchanged: reused, segments and all
	run --separate-stderr mas-research index --corpus "$d"
	output_jq '.index | .reused and .segments == 2'
	# a chain of files changed, a segment each, until the passages
	# beyond the base's live ones exceed a quarter: written whole
	compacted=
	for f in $(find "$d" -type f | sort | head -12); do
		echo "Changed." >>"$f"
		run --separate-stderr mas-research index --corpus "$d" -v
		[ "$status" -eq 0 ]
		output_jq '.index | .incremental and .files_read == 1'
		same_as_full
		if jq -e '.index.segments == 1' <<<"$output" >/dev/null; then
			[[ "$stderr" == *"the index kept is written whole again"* ]]
			compacted=1
			break
		fi
		[ "$(ls "$idx" | wc -l)" -eq "$(jq .index.segments <<<"$output")" ]
	done
	[ -n "$compacted" ]
	[ "$(ls "$idx" | wc -l)" -eq 1 ]
	[ "$(segments)" -eq 1 ]
}

@test "a segment damaged or missing makes the index stale: rebuilt, never a crash" {
	idx=$XDG_STATE_HOME/mas/research-index
	db=$XDG_STATE_HOME/mas/mas.db
	mas-research index --corpus "$d" >/dev/null
	latest() { sqlite3 "$db" 'select segments from research_index' | awk '{ print $NF }'; }
	for damage in truncate remove header layout; do
		echo "More $damage." >>"$d/energy/battery-safety.md"
		run --separate-stderr mas-research index --corpus "$d"
		output_jq '.index | .incremental and .segments == 2'
		good=$(answers)
		f=$idx/$(latest)
		case $damage in
		truncate) truncate -s $(($(stat -c %s "$f") / 2)) "$f" ;;
		remove) rm "$f" ;;
		header) printf 'XXXX' | dd of="$f" bs=1 seek=0 conv=notrunc status=none ;;
		layout) sqlite3 "$db" "update research_index set layout = '0:0:1 1:0:9'" ;;
		esac
		run --separate-stderr mas-research -v --corpus "$d" --retrieve-only < <(jq -nc '{query: "battery"}')
		[ "$status" -eq 0 ]
		[[ "$stderr" == *"indexing 25 files on the fly"* ]]
		[ "$(answers)" = "$good" ]
		run --separate-stderr mas-research index --corpus "$d"
		[ "$status" -eq 0 ]
		output_jq '.index | .incremental == false and .files_read == 25 and .segments == 1'
		same_as_full
	done
}
