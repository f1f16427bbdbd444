#!/usr/bin/env bats
# The Makefile's promises: one version, libraries loaded when needed
# (install.bats: what make install writes).

load helpers

setup() {
	common_setup
}

@test "--version prints each program's own name and the one version (debian/changelog)" {
	version=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)
	version=${version%-*}
	[ -n "$version" ]
	for program in bin/*; do
		name=$(basename "$program")
		run --separate-stderr "$program" --version
		[ "$status" -eq 0 ]
		[ "$output" = "$name $version" ] ||
			{ echo "$name: '$output', not '$name $version'"; return 1; }
		# started under another name, it still says its own
		ln -sf "$TOP/$program" "$BATS_TEST_TMPDIR/renamed"
		run --separate-stderr "$BATS_TEST_TMPDIR/renamed" -V
		[ "$output" = "$name $version" ]
	done
	run bin/mas-serve openapi
	[ "$(printf '%s' "$output" | jq -r .info.version)" = "$version" ]
}

@test "libcurl is loaded when first needed, not at every start (curl-lazy.h)" {
	for program in bin/*; do
		run ldd "$program"
		[ "$status" -eq 0 ]
		[[ "$output" != *libcurl* ]] || { echo "$program links libcurl"; return 1; }
	done
	# the runs that speak HTTP load it: llm.bats, chat-llm.bats,
	# observe.bats (OTLP)
}

@test "liblinear is loaded when a model is trained, not at every start (linear-lazy.h)" {
	for program in bin/* lib/libmas.so.0; do
		run ldd "$program"
		[ "$status" -eq 0 ]
		[[ "$output" != *liblinear* ]] || { echo "$program links liblinear"; return 1; }
	done
	export MAS_STATE_DIR="$BATS_TEST_TMPDIR/state"
	mkdir -p "$MAS_STATE_DIR"
	# the first run trains: liblinear is mapped; the second maps the
	# cached model and never loads it
	LD_DEBUG=files bin/mas-chat --kb examples/kb.jsonl </dev/null \
		2>"$BATS_TEST_TMPDIR/cold" >/dev/null
	grep -q 'file=liblinear.so.4 .*dynamically loaded' "$BATS_TEST_TMPDIR/cold"
	LD_DEBUG=files bin/mas-chat --kb examples/kb.jsonl </dev/null \
		2>"$BATS_TEST_TMPDIR/warm" >/dev/null
	grep -q 'file=libjq' "$BATS_TEST_TMPDIR/warm"
	! grep -q liblinear "$BATS_TEST_TMPDIR/warm"
}
