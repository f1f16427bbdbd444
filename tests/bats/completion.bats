#!/usr/bin/env bats
# Shell completions (completions/): the bash one driven as bash-completion
# drives it (COMP_WORDS, COMP_CWORD, the function, COMPREPLY), the verbs
# of both checked against each page's SYNOPSIS, the zsh one loaded by
# compinit, and both installed where the shells look.

load helpers

setup() {
	common_setup
	# shellcheck source=/dev/null
	source "$TOP/completions/mas.bash"
}

# complete WORD...: COMPREPLY for the command line WORD... with the
# cursor at the end of the last word, one per line, sorted.
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_mas
	printf '%s\n' "${COMPREPLY[@]}" | sort
}

@test "bash: every program's verbs, as its page's SYNOPSIS lists them" {
	for program in bin/*; do
		name=${program#bin/}
		page=$(awk '/^\.Sh SYNOPSIS/ { on = 1; next } /^\.Sh / { on = 0 }
			on && /^\.Cm / { print $2 }' "man/$name.1" | sort -u |
			grep -vx list || true)
		ours=$(_mas_verbs "$name" | tr ' ' '\n' | grep . | sort -u || true)
		[ "$page" = "$ours" ] ||
			{ echo "$name: page [$page] completion [$ours]"; return 1; }
		zsh_ours=$(sed -n "s/^$name) verbs=(\(.*\)) ;;\$/\1/p" \
			completions/_mas | tr ' ' '\n' | grep . | sort -u || true)
		[ "$zsh_ours" = "$ours" ] ||
			{ echo "$name: zsh [$zsh_ours] bash [$ours]"; return 1; }
	done
}

@test "bash: verbs, then options from --help, then option values" {
	[ "$(complete_words mas-bus s | tr '\n' ' ')" = "serve stat sub " ]
	[ "$(complete_words mas-flow r | tr '\n' ' ')" = "resume run runs " ]
	[ "$(complete_words mas-chat --k)" = "--kb=" ]
	[ "$(complete_words mas-research --dep)" = "--depth=" ]
	# every option --help lists is offered, no other
	for program in bin/*; do
		name=${program#bin/}
		want=$("$program" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
		got=$(complete_words "$name" - | sed 's/=$//' | sort -u)
		[ "$want" = "$got" ] || { echo "$name: $(diff <(echo "$want") <(echo "$got"))"; return 1; }
	done
	# values: "--opt VALUE", "--opt=VALUE" split at '=' as bash does
	[ "$(complete_words mas-chat --log-level d)" = debug ]
	[ "$(complete_words mas-chat --log-level = w)" = warn ]
	# ('=' not a word break: one word, answered whole)
	[ "$(complete_words mas-research --depth=b)" = "--depth=brief" ]
	[ "$(complete_words mas-flow graph --format m)" = mermaid ]
}

@test "bash: flow files for mas-flow's verbs, topics for mas-bus's, sub-verbs" {
	cd examples/flows
	[ "$(complete_words mas-flow run cust)" = customer-service.flow ]
	[ "$(complete_words mas-flow check re | tr '\n' ' ')" = "report.flow research-report.flow " ]
	[ "$(complete_words mas-flow run kb)" = "" ]
	printf '{"n":1}\n' | mas-bus pub tasks.analyze
	printf '{"n":1}\n' | mas-bus pub tasks.research
	printf '{"n":1}\n' | mas-bus pub alerts
	[ "$(complete_words mas-bus sub tasks. | tr '\n' ' ')" = "tasks.analyze tasks.research " ]
	[ "$(complete_words mas-bus serve --group w tasks.a)" = tasks.analyze ]
	# after --, the command mas-bus serve runs
	[[ "$(complete_words mas-bus serve tasks.analyze -- mas-ana)" == *mas-analyze* ]]
	[ "$(complete_words mas-chat sessions s)" = show ]
	[ "$(complete_words mas-serve keys r)" = remove ]
}

@test "zsh: compinit finds _mas for every program" {
	run zsh -f -c "fpath=($TOP/completions \$fpath); autoload -Uz compinit;
		compinit -u -D; for p in $(cd bin && echo *); do
		print -r -- \"\$p \${_comps[\$p]}\"; done"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c ' _mas$')" -eq "$(ls bin | wc -l)" ]
}

@test "installed where bash-completion and zsh look" {
	dest="$BATS_TEST_TMPDIR/root"
	run make -s -C "$TOP" install DESTDIR="$dest" PREFIX=/usr \
		DATADIR=/usr/local/share/mas
	[ "$status" -eq 0 ]
	for program in bin/*; do
		file="$dest/usr"/share/bash-completion/completions/"${program#bin/}"
		[ -e "$file" ]
		cmp "$file" completions/mas.bash
	done
	cmp "$dest/usr"/share/zsh/vendor-completions/_mas completions/_mas
	# bash-completion's own path for /usr is that one, and its loader
	# finds the completion there when the command is first completed
	[ "$(pkg-config --variable=completionsdir bash-completion)" = /usr/share/bash-completion/completions ]
	for program in bin/*; do
		run env XDG_DATA_DIRS="$dest/usr/share" bash -c '
			source /usr/share/bash-completion/bash_completion
			__load_completion "$1" && complete -p "$1"' - "${program#bin/}"
		[ "$output" = "complete -F _mas ${program#bin/}" ]
	done
	run make -s -C "$TOP" install DESTDIR="$dest" PREFIX=/opt/mas \
		DATADIR=/usr/local/share/mas
	[ -e "$dest/opt/mas/share/bash-completion/completions/mas-bus" ]
	[ -e "$dest/opt/mas/share/zsh/site-functions/_mas" ]
}
