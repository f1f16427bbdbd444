#!/usr/bin/env bats
# The Makefile's promises: install and uninstall honour PREFIX and DESTDIR.

load helpers

setup() {
	common_setup
}

@test "make install puts binaries and pages under DESTDIR/PREFIX, uninstall removes them" {
	dest="$BATS_TEST_TMPDIR/root"
	run make -s -C "$TOP" install DESTDIR="$dest" PREFIX=/opt/mas
	[ "$status" -eq 0 ]
	[ -x "$dest/opt/mas/bin/mas-analyze" ]
	[ -f "$dest/opt/mas/share/man/man1/mas-analyze.1" ]
	[ -f "$dest/opt/mas/share/man/man7/mas.7" ]
	# the console's files, as mas-serve --www takes them
	for file in www/*; do
		cmp "$file" "$dest/opt/mas/share/mas/www/${file#www/}"
	done
	run "$dest/opt/mas/bin/mas-analyze" --version
	[ "$status" -eq 0 ]
	run make -s -C "$TOP" uninstall DESTDIR="$dest" PREFIX=/opt/mas
	[ "$status" -eq 0 ]
	[ ! -e "$dest/opt/mas/bin/mas-analyze" ]
	[ ! -e "$dest/opt/mas/share/man/man1/mas-analyze.1" ]
	[ ! -e "$dest/opt/mas/share/man/man7/mas.7" ]
	[ ! -e "$dest/opt/mas/share/mas" ]
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
