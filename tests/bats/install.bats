#!/usr/bin/env bats
# make install and uninstall: PREFIX and DESTDIR honoured, the examples
# installed and found when nothing else is configured, and uninstall
# leaving nothing behind.
#
# The examples' folder is baked into the programs, so an install with
# another DATADIR rebuilds them: the installs here keep the default
# build's (PREFIX=/usr/local) so that bin/ is not rebuilt under the
# suites running beside this one.  `make check-package` runs programs
# built for /usr with the examples where they were baked in.

load helpers

setup() {
	common_setup
	dest="$BATS_TEST_TMPDIR/root"
}

install_to() {
	run make -s -C "$TOP" install DESTDIR="$dest" \
		DATADIR=/usr/local/share/mas "$@"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
}

@test "make install puts binaries, pages and examples under DESTDIR/PREFIX" {
	install_to PREFIX=/opt/mas
	for program in bin/*; do
		[ -x "$dest/opt/mas/bin/${program#bin/}" ]
	done
	[ -f "$dest/opt/mas/share/man/man1/mas-analyze.1" ]
	[ -f "$dest/opt/mas/share/man/man5/mas-flow.5" ]
	[ -f "$dest/opt/mas/share/man/man7/mas.7" ]
	examples="$dest/usr/local/share/mas/examples"
	for file in kb.jsonl tasks.jsonl trace-tree.jq \
		corpus/energy/solar-plus-storage.txt data/user_behavior.jsonl \
		flows/customer-service.flow prompts/answer.txt; do
		cmp "examples/$file" "$examples/$file"
	done
	# the console's files, as mas-serve --www takes them
	for file in www/*; do
		cmp "$file" "$dest/usr/local/share/mas/www/${file#www/}"
	done
	# the installed pages name the installed examples
	grep -q '^\.Pa /usr/local/share/mas/examples/kb.jsonl' \
		"$dest/opt/mas/share/man/man1/mas-chat.1"
	run mandoc -Tlint -Wwarning "$dest"/opt/mas/share/man/man*/*
	[ -z "$output" ]
}

@test "an installed mas-chat with no --kb answers from the example KB, saying so once" {
	install_to
	export MAS_EXAMPLES_DIR="$dest/usr/local/share/mas/examples"
	cd "$BATS_TEST_TMPDIR"
	run --separate-stderr "$dest/usr/local/bin/mas-chat" <<-'EOF'
	{"message":"我想了解你们的企业版定价方案","session_id":"s1"}
	{"message":"how much is the enterprise plan?","session_id":"s2"}
	EOF
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 2 ]
	output_jq -s 'map(.chat.intent) == ["pricing", "pricing"]'
	[ "$stderr" = "mas-chat: warning: no knowledge base configured (--kb, MAS_KB, chat.kb): answering from the example one, $MAS_EXAMPLES_DIR/kb.jsonl" ]
	# a knowledge base given is used, and nothing is said
	run --separate-stderr "$dest/usr/local/bin/mas-chat" \
		--kb "$TOP/examples/kb.jsonl" <<<'{"message":"hi"}'
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "without the examples installed, mas-chat names where it looked" {
	export MAS_EXAMPLES_DIR="$BATS_TEST_TMPDIR/nowhere"
	run --separate-stderr mas-chat <<<'{"message":"hi"}'
	[ "$status" -eq 2 ]
	[ "$stderr" = "mas-chat: error: no knowledge base: give --kb FILE or set MAS_KB (chat.kb in the config file); the example one, $BATS_TEST_TMPDIR/nowhere/kb.jsonl, is not installed" ]
	# the default is the folder fixed at build time
	unset MAS_EXAMPLES_DIR
	run --separate-stderr mas-chat --config /dev/null <<<'{"message":"hi"}'
	[[ "$stderr" == *"/share/mas/examples/kb.jsonl"* ]]
}

@test "an installed mas-research with no corpus and no model answers from the example corpus" {
	install_to
	export MAS_EXAMPLES_DIR="$dest/usr/local/share/mas/examples"
	cd "$BATS_TEST_TMPDIR"
	run --separate-stderr "$dest/usr/local/bin/mas-research" <<-'EOF'
	{"query":"人工智能在医疗领域的应用前景"}
	{"query":"how do flow batteries store energy?"}
	EOF
	[ "$status" -eq 0 ]
	output_jq -s 'map(.research.sources | length > 0) == [true, true]'
	output_jq -s --arg d "$MAS_EXAMPLES_DIR/corpus/healthcare/" \
		'.[0].research.sources[0].path | startswith($d)'
	[ "$stderr" = "mas-research: warning: no corpus configured (--corpus, MAS_CORPUS, research.corpus): answering from the example one, $MAS_EXAMPLES_DIR/corpus" ]
}

@test "an installed mas-analyze finds a data_source missing from . in the example data" {
	install_to
	export MAS_EXAMPLES_DIR="$dest/usr/local/share/mas/examples"
	cd "$BATS_TEST_TMPDIR"
	run --separate-stderr "$dest/usr/local/bin/mas-analyze" <<-'EOF'
	{"data_source":"user_behavior","analysis_type":"trend_prediction"}
	{"data_source":"user_behavior","analysis_type":"describe"}
	{"data_source":"no_such_source"}
	EOF
	[ "$status" -eq 1 ]
	output_jq -s '.[0].analysis.insights[0] | startswith("engagement is increasing")'
	output_jq -s '.[2].error.message == "data_source: no file no_such_source.jsonl or no_such_source.csv in ."'
	[ "$stderr" = "mas-analyze: warning: data_source user_behavior is not in .: answering from the example data, $MAS_EXAMPLES_DIR/data (give --data-dir DIR)" ]
	# a file of that name in . comes first, and a data folder given is
	# the only one looked in
	printf '{"x":1}\n{"x":2}\n{"x":4}\n' >user_behavior.jsonl
	run --separate-stderr "$dest/usr/local/bin/mas-analyze" <<<'{"data_source":"user_behavior","analysis_type":"describe"}'
	[ -z "$stderr" ]
	output_jq '.analysis.summary | keys == ["x"]'
	run --separate-stderr "$dest/usr/local/bin/mas-analyze" --data-dir "$BATS_TEST_TMPDIR/home" <<<'{"data_source":"server_metrics"}'
	[ "$status" -eq 1 ]
	[ -z "$stderr" ]
}

@test "make uninstall removes everything make install wrote, folders included" {
	for prefix in /usr /opt/mas; do
		install_to PREFIX=$prefix
		[ -n "$(find "$dest" -type f)" ]
		run make -s -C "$TOP" uninstall DESTDIR="$dest" PREFIX=$prefix \
			DATADIR=/usr/local/share/mas
		[ "$status" -eq 0 ]
		left=$(find "$dest" -mindepth 1)
		[ -z "$left" ] || { echo "left behind: $left"; return 1; }
	done
	# a folder that was there before stays, and so do files not ours
	mkdir -p "$dest/usr/local/bin"
	touch "$dest/usr/local/bin/other"
	install_to
	run make -s -C "$TOP" uninstall DESTDIR="$dest"
	[ "$(find "$dest" -mindepth 1 | sort | tr '\n' ' ')" = "$dest/usr $dest/usr/local $dest/usr/local/bin $dest/usr/local/bin/other " ]
}
