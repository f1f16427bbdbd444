#!/usr/bin/env bats
# The manual: lint-clean mdoc, every EXAMPLES command runs, and every
# option --help lists is documented (STYLE.md: they never drift).

load helpers

setup() {
	common_setup
	export MAS_DATA_DIR="$DATA"
}

@test "every page is mandoc -Tlint clean" {
	run mandoc -Tlint -Wwarning man/*.[157]
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

@test "every example in every page runs and exits 0" {
	count=0
	for page in man/*.[157]; do
		while IFS= read -r command; do
			count=$((count + 1))
			run --separate-stderr sh -c "$command"
			if [ "$status" -ne 0 ]; then
				echo "$page: exit $status: $command"
				echo "$stderr"
				return 1
			fi
		done <<-EOF
		$(examples_of "$page")
		EOF
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
