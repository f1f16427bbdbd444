#!/bin/sh
# The state store another process keeps locked, and on a full disk (a
# small tmpfs as MAS_STATE_DIR): every input record still comes out, as
# an answer or an error record saying why, and the exit status says to
# retry later (75) when nothing else failed.
. "$(dirname "$0")/common"

kb=$top/examples/kb.jsonl
n=${RECORDS:-200}
records "$n" | jq -c '.message = "hello \(.n)" | .session_id = "s\(.n % 7)"' \
	>"$work/chat.in"
records 20000 >"$work/flow.in"
cat >"$work/flow" <<'FLOW'
node stamp  jq '.stamp = .n * 2'
node copy   run cat
start -> stamp
stamp -> copy
copy -> end
FLOW
failures=0

# report NAME STATUS WANT FILE N: count FILE and check.
report() {
	count "$4" "$5"
	errors=$(jq -c 'select(.error)' "$4" | wc -l | tr -d ' ')
	printf 'store: %s: exit %d, %d error records, lost=%d duplicated=%d corrupt=%d\n' \
		"$1" "$2" "$errors" "$lost" "$duplicated" "$corrupt"
	if [ "$lost" -ne 0 ] || [ "$duplicated" -ne 0 ] ||
		[ "$corrupt" -ne 0 ] || [ "$2" -ne "$3" ]; then
		failures=$((failures + 1))
		tail -3 "$work/err" | sed 's/^/    /'
	fi
}

# --- a store another process keeps locked ---
export MAS_STATE_DIR="$work/locked" MAS_STATE_BUSY_TIMEOUT=0.5
mas-chat --kb "$kb" <"$work/chat.in" >/dev/null 2>&1
mkfifo "$work/lock"
sqlite3 "$MAS_STATE_DIR/mas.db" <"$work/lock" >/dev/null 2>&1 &
locker=$!
exec 3>"$work/lock"
echo "BEGIN EXCLUSIVE; INSERT INTO mas_meta VALUES ('lock', 'held');" >&3
sleep 0.5
mas-chat --kb "$kb" <"$work/chat.in" >"$work/out" 2>"$work/err"
report "locked/mas-chat" $? 75 "$work/out" "$n"
mas-flow run --run-id locked "$work/flow" "$work/flow.in" >"$work/out" \
	2>"$work/err"
report "locked/mas-flow --run-id" $? 75 "$work/out" 20000
exec 3>&-
wait "$locker"
unset MAS_STATE_BUSY_TIMEOUT

# --- a full disk ---
# a tmpfs of our own: as root, or in a user and mount namespace
full_disk() {
	mkdir -p "$work/full"
	mount -t tmpfs -o size=16m tmpfs "$work/full" 2>/dev/null || return
	trap 'umount "$work/full"; rm -rf "$work"' EXIT
}
if [ "${MAS_FAULT_NS:-}" != 1 ] && ! full_disk; then
	if unshare -rm true 2>/dev/null; then
		MAS_FAULT_NS=1 exec unshare -rm sh "$0" "$@"
	fi
	echo "store: cannot mount a tmpfs (not root, no user namespaces)"
	exit 1
fi
[ "${MAS_FAULT_NS:-}" = 1 ] && full_disk
export MAS_STATE_DIR="$work/full"
mas-chat --kb "$kb" <"$work/chat.in" >/dev/null 2>&1
# fill what is left
dd if=/dev/zero of="$work/full/filler" bs=4k 2>/dev/null
mas-chat --kb "$kb" <"$work/chat.in" >"$work/out" 2>"$work/err"
report "full/mas-chat" $? 75 "$work/out" "$n"
mas-flow run --run-id full "$work/flow" "$work/flow.in" >"$work/out" \
	2>"$work/err"
report "full/mas-flow --run-id" $? 75 "$work/out" 20000
# a disk that fills during the run: the records still come out, and the
# run says its checkpoints are incomplete (exit 1)
rm -f "$work/full/filler"
# the runs above leave the write-ahead log as large as it grew: fold it
# back into the database first, so that what is left free is what the
# run will get
sqlite3 "$MAS_STATE_DIR/mas.db" 'PRAGMA wal_checkpoint(TRUNCATE);' \
	>/dev/null
free_kb=$(df -k "$work/full" | awk 'NR == 2 { print $4 }')
if [ "$free_kb" -le 1500 ]; then
	echo "store: only $free_kb KiB free on the 16 MiB disk; need 1500" >&2
	exit 1
fi
dd if=/dev/zero of="$work/full/filler" bs=1k count=$((free_kb - 1000)) \
	2>/dev/null
mas-flow run --run-id filling "$work/flow" "$work/flow.in" >"$work/out" \
	2>"$work/err"
report "filling/mas-flow --run-id" $? 1 "$work/out" 20000
umount "$work/full" 2>/dev/null && trap 'rm -rf "$work"' EXIT
[ "$failures" -eq 0 ]
