#!/bin/sh
# Co-processes that crash, hang, babble, answer with JSON that is not an
# object, or read ahead, behind `mas-bus route` and a `mas-flow` run
# node: every input record comes out exactly once, with its id, as an
# answer or an error record, and the run ends.
. "$(dirname "$0")/common"

n=${RECORDS:-2000}
records "$n" >"$work/in"
status_all=0

# check NAME EXPECTED-STATUS BARE COMMAND...: run it over the input,
# count; BARE answers may be JSON that is not an object (route's).
check() {
	name=$1 expected=$2 allowed=$3
	shift 3
	"$@" <"$work/in" >"$work/out" 2>"$work/err"
	status=$?
	count "$work/out" "$n"
	errors=$(jq -c 'objects | select(.error)' "$work/out" | wc -l |
		tr -d ' ')
	printf 'coprocess: %s: exit %d, %d error records, %d bare answers, lost=%d duplicated=%d corrupt=%d\n' \
		"$name" "$status" "$errors" "$bare" "$((lost - bare))" \
		"$duplicated" "$corrupt"
	if [ "$((lost - bare))" -ne 0 ] || [ "$duplicated" -ne 0 ] ||
		[ "$corrupt" -ne 0 ] || [ "$bare" -gt "$allowed" ] ||
		[ "$status" -ne "$expected" ]; then
		status_all=1
		sed 's/^/    /' "$work/err" | tail -5
	fi
}

# The misbehaving filters, as sh -c scripts.
crash='awk "NR % 300 == 0 { exit 3 } { print; fflush() }"'
hang='awk "NR == 300 { system(\"sleep 1000\") } { print; fflush() }"'
babble='awk "{ print; print; if (NR % 7 == 0) print \"noise\"; fflush() }"'
odd='awk "{ if (NR % 5 == 0) print NR; else print; fflush() }"'
ahead='mawk "{ print }"'

for f in crash hang babble odd ahead; do
	eval "filter=\$$f"
	case $f in
	ahead) want=0 ;;
	hang) want=75 ;;
	*) want=1 ;;
	esac
	# route passes answers that are not objects on (mas-bus(1))
	bare=0 route_want=$want
	[ "$f" = odd ] && bare=$((n / 5)) route_want=0
	check "route/$f" "$route_want" "$bare" mas-bus route --by '"a"' \
		--timeout 1 --to "a=$filter"
	printf 'node f  timeout=1 run sh -c %s\nstart -> f\nf -> end\n' \
		"'$filter'" >"$work/$f.flow"
	check "flow/$f" "$want" 0 mas-flow run "$work/$f.flow"
done
exit "$status_all"
