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

# mas-serve's chat turns on a disk that fills while they come in, 16 at
# a time (a worker commits the turns queued together at once): each
# request is answered, 200 only for a turn the store holds, an error
# envelope saying why for the others, never 500.
rm -f "$work/full/filler"
sqlite3 "$MAS_STATE_DIR/mas.db" 'PRAGMA wal_checkpoint(TRUNCATE);' \
	>/dev/null
free_kb=$(df -k "$work/full" | awk 'NR == 2 { print $4 }')
dd if=/dev/zero of="$work/full/filler" bs=1k count=$((free_kb - 200)) \
	2>/dev/null
mas-serve --listen 127.0.0.1:0 -v --kb "$kb" --access-log off --workers 2 \
	2>"$work/serve.err" &
serve=$!
address=
for _ in $(seq 100); do
	address=$(sed -n 's|.*listening on http://\([0-9.:]*\)/.*|\1|p' \
		"$work/serve.err")
	[ -n "$address" ] && break
	sleep 0.1
done
n_serve=400
seq "$n_serve" | xargs -P 16 -I{} sh -c 'curl -s -m 30 \
	-H "Content-Type: application/json" -w "\n%{http_code}\n" \
	-d "{\"message\":\"hello {}\",\"session_id\":\"serve-s$(({} % 7))\"}" \
	"http://$1/chat" | jq -c -R -s --arg n {} "split(\"\\n\") |
	{n: \$n, code: .[-2], body: (.[0] | try fromjson catch null)}"' \
	sh "$address" >"$work/answers"
kill -TERM "$serve"
wait "$serve"
serve_status=$?
answered=$(jq -s 'map(.n) | unique | length' "$work/answers")
ok=$(jq -s 'map(select(.code == "200")) | length' "$work/answers")
bad=$(jq -s 'map(select(.code != "200" and (.code == "500" or
	.body.status != "error"))) | length' "$work/answers")
stored=$(sqlite3 "$MAS_STATE_DIR/mas.db" "SELECT count(*) FROM chat_turn
	WHERE session_id LIKE 'serve-%'")
printf 'store: filling/mas-serve: exit %d, %d requests, %d answered 200, %d turns stored, %d refused; lost=%d duplicated=%d corrupt=%d\n' \
	"$serve_status" "$n_serve" "$ok" "$stored" "$((answered - ok))" \
	"$((n_serve - answered + ok - stored))" "$((stored - ok))" "$bad"
if [ "$answered" -ne "$n_serve" ] || [ "$ok" -ne "$stored" ] ||
	[ "$bad" -ne 0 ] || [ "$ok" -eq "$n_serve" ] ||
	[ "$serve_status" -ne 0 ]; then
	failures=$((failures + 1))
	tail -3 "$work/serve.err" | sed 's/^/    /'
fi
umount "$work/full" 2>/dev/null && trap 'rm -rf "$work"' EXIT
[ "$failures" -eq 0 ]
