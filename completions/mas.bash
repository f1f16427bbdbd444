# bash completion for the mas programs: mas-analyze, mas-bus, mas-chat,
# mas-flow, mas-research and mas-serve.
#
# Options come from the program's own --help when first asked (so they
# never drift from it), verbs from the table below (tests/bats/
# completion.bats checks it against each page's SYNOPSIS), option values
# by kind: folders, files, the formats and levels the pages list; flow
# files for mas-flow's verbs, topics the bus knows (`mas-bus stat`) for
# mas-bus's, run ids (`mas-flow runs`) for resume and show.

# _mas_verbs PROGRAM: the verbs PROGRAM takes as its first argument.
_mas_verbs()
{
	case $1 in
	mas-bus) echo "pub sub req serve route stat gc replay" ;;
	mas-flow) echo "run check graph resume runs show gc" ;;
	mas-chat) echo "sessions train" ;;
	mas-research) echo "index" ;;
	mas-serve) echo "keys openapi" ;;
	esac
}

# _mas_options PROGRAM: sets _mas_opts to its long options as --help
# lists them, "--name=" for those that take a value; kept for the session.
_mas_options()
{
	local key=_mas_options_${1//-/_}
	if [[ -z ${!key-} ]]; then
		printf -v "$key" '%s' "$(LC_ALL=C "$1" --help 2>/dev/null |
			grep -oE -- '--[a-z][a-z0-9-]*(=|\[=)?' |
			sed 's/\[=$/=/' | sort -u | tr '\n' ' ')"
	fi
	_mas_opts=${!key}
}

# _mas_words WORDLIST CUR: COMPREPLY from a list, with a space after.
_mas_words()
{
	local IFS=$' \t\n'
	# shellcheck disable=SC2207 # compgen's words have no spaces
	COMPREPLY=($(compgen -W "$1" -- "$2"))
}

_mas_files()
{
	local IFS=$'\n'
	# shellcheck disable=SC2207
	COMPREPLY=($(compgen "$@"))
	compopt -o filenames 2>/dev/null
}

# Values of the options that take a known kind of value.
_mas_value()
{
	local program=$1 option=$2 cur=$3
	case $option in
	--data-dir | --plot | --flows-dir | --state-dir)
		_mas_files -d -- "$cur" ;;
	--kb | --config | --trace | --metrics-file | --joblog | --keys | \
	--sentiment-train | --corpus | --access-log)
		_mas_files -f -- "$cur" ;;
	--log-level) _mas_words "error warn info debug" "$cur" ;;
	--lang) _mas_words "en zh" "$cur" ;;
	--depth) _mas_words "brief standard comprehensive" "$cur" ;;
	--format) _mas_words "dot mermaid" "$cur" ;;
	--priority) _mas_words "high normal low" "$cur" ;;
	--type) _mas_words "describe trend trend_prediction anomaly \
correlation comprehensive" "$cur" ;;
	--url) _mas_words "nats://127.0.0.1:4222" "$cur" ;;
	*) COMPREPLY=() ;;
	esac
}

# The verb, if the words before the cursor name one.
_mas_verb_of()
{
	local program=$1 verbs word i
	verbs=" $(_mas_verbs "$program") "
	for ((i = 1; i < COMP_CWORD; i++)); do
		word=${COMP_WORDS[i]}
		[[ $word == -- ]] && return
		[[ $word == -* ]] && continue
		[[ $verbs == *" $word "* ]] && { echo "$word"; return; }
		return
	done
}

# Arguments after the verb that are cheap to know.
_mas_argument()
{
	local program=$1 verb=$2 cur=$3
	case $program:$verb in
	mas-flow:run | mas-flow:check | mas-flow:graph)
		_mas_files -f -X '!*.flow' -- "$cur"
		[[ ${#COMPREPLY[@]} -eq 0 ]] && _mas_files -d -- "$cur" ;;
	mas-flow:resume | mas-flow:show)
		_mas_words "$(mas-flow runs 2>/dev/null |
			sed -n 's/.*"run_id":"\([^"]*\)".*/\1/p')" "$cur" ;;
	mas-bus:sub | mas-bus:serve | mas-bus:req | mas-bus:pub | \
	mas-bus:replay)
		_mas_words "$(mas-bus stat 2>/dev/null |
			sed -n 's/.*"topic":"\([^"]*\)".*/\1/p')" "$cur" ;;
	mas-chat:sessions) _mas_words "list show delete" "$cur" ;;
	mas-serve:keys) _mas_words "add list remove" "$cur" ;;
	*) _mas_files -f -- "$cur" ;;
	esac
}

_mas()
{
	local program=${COMP_WORDS[0]##*/} cur=${COMP_WORDS[COMP_CWORD]}
	local prev= verb word i _mas_opts
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	# After `--` (mas-bus serve ... -- COMMAND): the command's own.
	for ((i = 1; i < COMP_CWORD; i++)); do
		if [[ ${COMP_WORDS[i]} == -- ]]; then
			_mas_files -c -- "$cur"
			return
		fi
	done
	# --opt=VALUE: bash splits "--kb=x" into "--kb" "=" "x" when '=' is
	# a word break (the default), else it is one word.
	if [[ $cur == = ]]; then
		_mas_value "$program" "$prev" ""
		return
	fi
	if [[ $prev == = ]] && ((COMP_CWORD > 1)); then
		_mas_value "$program" "${COMP_WORDS[COMP_CWORD - 2]}" "$cur"
		return
	fi
	if [[ $cur == --*=* ]]; then
		_mas_value "$program" "${cur%%=*}" "${cur#*=}"
		COMPREPLY=("${COMPREPLY[@]/#/${cur%%=*}=}")
		return
	fi
	_mas_options "$program"
	# --opt VALUE
	if [[ $prev == --* && " $_mas_opts " == *" $prev= "* ]]; then
		_mas_value "$program" "$prev" "$cur"
		return
	fi
	if [[ $cur == -* ]]; then
		_mas_words "$_mas_opts" "$cur"
		[[ ${COMPREPLY[*]} == *= ]] && compopt -o nospace 2>/dev/null
		return
	fi
	verb=$(_mas_verb_of "$program")
	if [[ -z $verb ]]; then
		word=$(_mas_verbs "$program")
		if [[ -n $word ]]; then
			_mas_words "$word" "$cur"
			[[ $program == mas-flow || $program == mas-bus ]] && return
		fi
		local verbs=("${COMPREPLY[@]}")
		_mas_files -f -- "$cur"
		COMPREPLY=("${verbs[@]}" "${COMPREPLY[@]}")
		return
	fi
	_mas_argument "$program" "$verb" "$cur"
}

complete -F _mas mas-analyze mas-bus mas-chat mas-flow mas-research \
	mas-serve
