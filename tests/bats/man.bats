#!/usr/bin/env bats
# The manual: lint-clean mdoc, every EXAMPLES command runs, and every
# option --help lists is documented (STYLE.md: they never drift).

load helpers

setup() {
	common_setup
	export MAS_DATA_DIR="$DATA"
}

@test "every page is mandoc -Tlint clean" {
	run mandoc -Tlint -Wwarning man/*.[1357]
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "every program has a page with the required sections" {
	for program in bin/*; do
		page="man/$(basename "$program").1"
		[ -f "$page" ]
		for section in NAME SYNOPSIS DESCRIPTION ENVIRONMENT FILES \
			"EXIT STATUS" EXAMPLES "SEE ALSO"; do
			grep -q "^\.Sh $section\$" "$page" ||
				{ echo "$page: no $section"; return 1; }
		done
	done
}

# The .Dl lines of a page's EXAMPLES section, as shell commands.
examples_of() {
	awk '/^\.Sh EXAMPLES/ { on = 1; next } /^\.Sh / { on = 0 }
	     on && /^\.Dl / { sub(/^\.Dl /, ""); print }' "$1" |
		sed -e 's/\\e/\\/g' -e 's/\\(aq/'"'"'/g' -e 's/\\-/-/g' \
		    -e 's/\\&//g' -e 's/\\(dq/"/g'
}

# An example that starts a server ("mas-serve ... &") runs in the
# background on a free port instead of localhost:8000, and the lines
# after it reach it there; it is stopped when its page is done, and must
# then exit 0.
example_server_start() {
	local command=${1%&}
	command=${command//localhost:8000/127.0.0.1:0}
	example_log="$BATS_TEST_TMPDIR/example-server.log"
	sh -c "exec $command -v" 2>"$example_log" &
	example_pid=$!
	for _ in $(seq 300); do
		example_port=$(sed -n \
			's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' \
			"$example_log")
		[ -n "$example_port" ] && return 0
		kill -0 "$example_pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$example_log"
	return 1
}

example_server_stop() {
	local code=0
	[ -n "${example_pid:-}" ] || return 0
	kill -TERM "$example_pid"
	wait "$example_pid" || code=$?
	example_pid=
	example_port=
	return "$code"
}

teardown() {
	if [ -n "${example_pid:-}" ]; then
		kill -9 "$example_pid" 2>/dev/null || true
	fi
}

# The examples of a section 3 page build programs with libmas: they run
# in a scratch folder holding a link to the tree's examples, with the SDK
# installed in a root there and pkg-config and the loader pointed at it
# (for those commands only: sdk_env is put before each).
sdk_scratch() {
	scratch=$BATS_TEST_TMPDIR/scratch
	[ -d "$scratch" ] && return 0
	mkdir -p "$scratch"
	ln -s "$TOP/examples" "$scratch/examples"
	install_sdk "$scratch/root" || return 1
	local usr=$scratch/root/usr
	sdk_env="cd '$scratch' && export PKG_CONFIG_PATH='$usr/lib/pkgconfig'"
	sdk_env="$sdk_env PKG_CONFIG_SYSROOT_DIR='$scratch/root'"
	sdk_env="$sdk_env LD_LIBRARY_PATH='$usr/lib'"
	# A sanitized libmas in a plain program: ASan's runtime must come
	# first (the compiler's leaks are not ours to find).
	if [ "${SANITIZE:-}" = 1 ]; then
		sdk_env="$sdk_env LD_PRELOAD='$(cc -print-file-name=libasan.so)'"
		sdk_env="$sdk_env ASAN_OPTIONS=detect_leaks=0"
	fi
}

@test "every example in every page runs and exits 0" {
	count=0
	for page in man/*.[1357]; do
		case $page in
		*.3) sdk_scratch || { echo "$page: no SDK"; return 1; } ;;
		esac
		while IFS= read -r command; do
			count=$((count + 1))
			case $command in
			'mas-serve '*'&')
				example_server_start "$command" ||
					{ echo "$page: $command"; return 1; }
				continue ;;
			esac
			if [ -n "${example_port:-}" ]; then
				command=${command//localhost:8000/127.0.0.1:$example_port}
			fi
			case $page in
			*.3) command="$sdk_env && $command" ;;
			esac
			run --separate-stderr sh -c "$command"
			if [ "$status" -ne 0 ]; then
				echo "$page: exit $status: $command"
				echo "$stderr"
				return 1
			fi
		done <<-EOF
		$(examples_of "$page")
		EOF
		example_server_stop ||
			{ echo "$page: the server exited $?"; return 1; }
	done
	[ "$count" -ge 5 ]
}

@test "every option in --help is documented in the page" {
	for program in bin/*; do
		name=$(basename "$program")
		page="man/$name.1"
		options=$("$program" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
		for option in $options; do
			flag=${option#--}
			# mdoc writes --flag as "Fl -flag": Fl adds one dash.
			grep -qE "Fl -$flag( |\$)" "$page" ||
				{ echo "$page: $option not documented"; return 1; }
		done
	done
}
