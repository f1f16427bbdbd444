# Shared set-up for the fault scripts: the built programs first on PATH, a
# private state folder, and counting records in against records out.
# Each script prints one line "NAME: lost=N duplicated=N corrupt=N ..."
# and exits non-zero when what it saw breaks what the man pages promise.

top=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$top/bin:$top/tests/helpers/bin:$PATH"
export PATH
work=$(mktemp -d "${TMPDIR:-/tmp}/mas-fault.XXXXXX")
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" XDG_STATE_HOME="$work/state" \
	XDG_CONFIG_HOME="$work/config"
mkdir -p "$HOME" "$XDG_STATE_HOME" "$XDG_CONFIG_HOME"
unset MAS_STATE_DIR MAS_BUS_URL OPENAI_API_KEY OPENAI_BASE_URL

# records N: {"id":"rI","n":I} for I in 1..N.
records() {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"id\":\"r%d\",\"n\":%d}\n", i, i }'
}

# count FILE N: sets lost, duplicated and corrupt for FILE, which should
# hold the N records r1..rN once each: corrupt lines are those that are
# not one JSON object with a string id.
count() {
	corrupt=$(jq -R 'try (fromjson | if type == "object" and
		(.id | type) == "string" then empty else 1 end) catch 1' \
		"$1" | wc -l)
	unique=$(jq -R -r 'try (fromjson | .id // empty) catch empty' "$1" |
		grep -c '^r[0-9]*$' | tr -d ' ')
	unique=$(jq -R -r 'try (fromjson | .id // empty) catch empty' "$1" |
		grep '^r[0-9]*$' | sort -u | wc -l | tr -d ' ')
	lines=$(jq -R -r 'try (fromjson | .id // empty) catch empty' "$1" |
		grep -c '^r[0-9]*$')
	lost=$(($2 - unique))
	duplicated=$((lines - unique))
}

# random_ms LOW HIGH: a random number of milliseconds in [LOW, HIGH].
random_ms() {
	awk -v lo="$1" -v hi="$2" -v seed="$(od -An -N4 -tu4 /dev/urandom)" \
		'BEGIN { srand(seed); printf "%d\n", lo + rand() * (hi - lo) }'
}

# sleep_ms MS
sleep_ms() {
	sleep "$(awk -v ms="$1" 'BEGIN { printf "%.3f\n", ms / 1000 }')"
}
