# mas-bus, embedded backend: publish then consume 100,000 messages of
# about 200 bytes with a durable group, messages/s each way, against Redis
# Streams (XADD, then XREADGROUP + XACK 100 at a time) on a Unix socket in
# the same run, when Debian's redis-server is there.
#
# NATS backend, when Debian's nats-server is there: 1,000,000 messages
# through `mas-bus pub` -> nats-server -> `mas-bus sub` on core NATS,
# against the minimal libnats pair tests/helpers/nats-pair.c in the same
# run; then JetStream: publish 100,000 into a stream and consume them
# with a durable group.
. tests/bench/lib.sh
rm -f "$OUT/times"
RUNS=${RUNS:-3}

# The baselines come from Debian: install them when we may.
for tool in redis-server:redis-server nats-server:nats-server \
	    python3:python3; do
	if ! command -v "${tool%%:*}" > /dev/null && [ "$(id -u)" -eq 0 ]; then
		echo "bench: installing ${tool#*:} for the comparison" >&2
		apt-get install -y -qq "${tool#*:}" > /dev/null 2>&1 || true
	fi
done
N=100000

messages="$OUT/bus-messages-100k.jsonl"
if [ ! -s "$messages" ]; then
	awk -v n="$N" 'BEGIN { pad = sprintf("%170s", ""); gsub(/ /, "x", pad);
		for (i = 1; i <= n; i++) printf "{\"n\":%d,\"text\":\"%s\"}\n", i, pad }' \
		> "$messages"
fi

state="$OUT/bus-state"
for i in $(seq "$RUNS"); do
	rm -rf "$state"
	measure pub "MAS_STATE_DIR='$state' mas-bus pub bench < '$messages'"
	measure sub "MAS_STATE_DIR='$state' mas-bus sub bench --group g > /dev/null"
	left=$(MAS_STATE_DIR="$state" mas-bus stat | jq -s '.[] | select(.group == "g") | .lag')
	[ "$left" = 0 ] || echo "bench-bus: $left messages left unconsumed" >&2
done
pub_s=$(median pub)
sub_s=$(median sub)
pub_rate=$(echo "$N / $pub_s" | bc -l)
sub_rate=$(echo "$N / $sub_s" | bc -l)
echo "mas-bus (SQLite, durable group), $N messages of ~200 bytes:"
printf '  publish %.2f s, %.0f messages/s; consume and acknowledge %.2f s, %.0f messages/s\n' \
	"$pub_s" "$pub_rate" "$sub_s" "$sub_rate"

# route: 1,000,000 records to two cat filters, answers in input order.
routed="$OUT/bus-route-1m.jsonl"
if [ ! -s "$routed" ]; then
	awk 'BEGIN { pad = sprintf("%150s", ""); gsub(/ /, "x", pad);
		for (i = 1; i <= 1000000; i++)
			printf "{\"type\":\"%s\",\"n\":%d,\"text\":\"%s\"}\n",
				i % 2 ? "a" : "b", i, pad }' > "$routed"
fi
for i in $(seq "$RUNS"); do
	measure route "mas-bus route --to a=cat --to b=cat '$routed' > /dev/null"
done
route_s=$(median route)
printf '  route, 1,000,000 records to two cat filters: %.2f s, %.0f records/s (target >= 200,000)\n' \
	"$route_s" "$(echo "1000000 / $route_s" | bc -l)"

# ---- NATS ----
now() { date +%s.%N; }

# The seconds from starting the publisher until the subscriber, started
# first, has received everything: "NAME SECONDS 0" into $OUT/times.
pub_to_sub() {
	name=$1 sub=$2 pub=$3
	sh -c "$sub" > /dev/null &
	subscriber=$!
	sleep 0.5 # subscribed
	start=$(now)
	sh -c "$pub"
	wait "$subscriber"
	printf '%s %s 0\n' "$name" "$(echo "$(now) - $start" | bc -l)" \
		>> "$OUT/times"
}

bench_nats() {
	million="$OUT/bus-messages-1m.jsonl"
	if [ ! -s "$million" ]; then
		awk 'BEGIN { pad = sprintf("%170s", ""); gsub(/ /, "x", pad);
			for (i = 1; i <= 1000000; i++)
				printf "{\"n\":%d,\"text\":\"%s\"}\n", i, pad }' \
			> "$million"
	fi
	port=$((20000 + $$ % 40000))
	rm -rf "$OUT/nats-store"
	nats-server -a 127.0.0.1 -p "$port" -js -sd "$OUT/nats-store" \
		> "$OUT/nats.log" 2>&1 &
	server=$!
	trap 'kill $server 2> /dev/null' EXIT
	for _ in $(seq 50); do
		grep -q "Server is ready" "$OUT/nats.log" && break
		sleep 0.1
	done
	if ! grep -q "Server is ready" "$OUT/nats.log"; then
		echo "  (nats-server did not start on port $port: NATS benchmark skipped)"
		return 0
	fi
	url="nats://127.0.0.1:$port"
	core="$url?jetstream=no"
	for i in $(seq "$RUNS"); do
		pub_to_sub nats-pair "nats-pair sub $url pair 1000000" \
			"nats-pair pub $url pair '$million'"
		pub_to_sub nats-mas "mas-bus sub mas --url '$core' --follow \
			--count 1000000" "mas-bus pub mas --url '$core' < '$million'"
		measure js-pub "mas-bus pub js$i --url '$url' < '$messages'"
		measure js-sub "mas-bus sub js$i --url '$url' --group g > /dev/null"
	done
	kill "$server"
	wait "$server" 2> /dev/null || true
	trap - EXIT
	pair_s=$(median nats-pair)
	mas_s=$(median nats-mas)
	echo "mas-bus (NATS), 1,000,000 messages of ~200 bytes, pub -> nats-server -> sub, core NATS:"
	printf '  libnats pair %.2f s, %.0f messages/s; mas-bus %.2f s, %.0f messages/s\n' \
		"$pair_s" "$(echo "1000000 / $pair_s" | bc -l)" \
		"$mas_s" "$(echo "1000000 / $mas_s" | bc -l)"
	printf '  ratio mas-bus / libnats pair: %.2f (target >= 0.5)\n' \
		"$(echo "$pair_s / $mas_s" | bc -l)"
	printf '  JetStream, %d messages: publish %.0f messages/s; consume with a durable group %.0f messages/s\n' \
		"$N" "$(echo "$N / $(median js-pub)" | bc -l)" \
		"$(echo "$N / $(median js-sub)" | bc -l)"
}

if command -v nats-server > /dev/null; then
	bench_nats
else
	echo "  (no nats-server: NATS benchmark skipped)"
fi

if ! command -v redis-server > /dev/null || ! command -v python3 > /dev/null; then
	echo "  (no redis-server or python3: Redis Streams comparison skipped)"
	exit 0
fi
# Absolute: redis-server changes to --dir before opening the others.
dir=$(cd "$OUT" && pwd)
sock="$dir/redis.sock"
for i in $(seq "$RUNS"); do
	rm -f "$sock" "$dir/redis.pid"
	# Append-only with fsync every second: like the store's WAL with
	# synchronous = NORMAL, durable against a crashed process.
	redis-server --port 0 --unixsocket "$sock" --save '' --appendonly yes \
		--appendfsync everysec --dir "$dir" --daemonize yes \
		--pidfile "$dir/redis.pid" --logfile "$dir/redis.log" > /dev/null
	for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
	printf 'redis-xadd %s 0\n' "$(python3 tests/bench/redis-streams.py \
		"$sock" produce "$N" "$messages")" >> "$OUT/times"
	printf 'redis-read %s 0\n' "$(python3 tests/bench/redis-streams.py \
		"$sock" consume "$N")" >> "$OUT/times"
	redis-cli -s "$sock" shutdown nosave > /dev/null 2>&1 || true
	for _ in $(seq 50); do [ -e "$dir/redis.pid" ] || break; sleep 0.1; done
	rm -rf "$dir"/appendonly* "$sock"
done
xadd_s=$(median redis-xadd)
read_s=$(median redis-read)
printf '  Redis Streams: XADD %.0f messages/s; XREADGROUP + XACK %.0f messages/s (Python client, 100 per round trip)\n' \
	"$(echo "$N / $xadd_s" | bc -l)" "$(echo "$N / $read_s" | bc -l)"
printf '  ratio mas-bus / Redis: publish %.2f, consume %.2f (target >= 0.5)\n' \
	"$(echo "$xadd_s / $pub_s" | bc -l)" "$(echo "$read_s / $sub_s" | bc -l)"
