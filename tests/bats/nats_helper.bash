# Shared by the suites that need a NATS server (bus-nats.bats,
# serve-tasks.bats, valgrind.bats): nats-server with JetStream on a free
# loopback port, its store and log in a folder of the test's.

# nats_start DIR: start it, its store in DIR/jetstream, its log in
# DIR/nats.log and its pid in DIR/nats.pid; sets NATS_PID and exports
# NATS_URL.  A few tries, the port being picked at random.  Ready is
# when its own log says so: a connection alone could reach another
# server that holds the port.
nats_start() {
	local dir=$1 port log="$1/nats.log"
	command -v nats-server >/dev/null || {
		echo "nats-server is not installed" >&2
		return 1
	}
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		# fd 3 closed: bats waits for whoever holds it open.
		nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir/jetstream" \
			>"$log" 2>&1 </dev/null 3>&- &
		NATS_PID=$!
		for _ in $(seq 50); do
			if grep -q "Server is ready" "$log"; then
				echo "$NATS_PID" >"$dir/nats.pid"
				export NATS_URL="nats://127.0.0.1:$port"
				return 0
			fi
			kill -0 "$NATS_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$NATS_PID" 2>/dev/null
		wait "$NATS_PID" 2>/dev/null
	done
	echo "cannot start nats-server" >&2
	cat "$log" >&2
	return 1
}

# nats_stop DIR: stop the server nats_start DIR started, waiting for it
# by polling (in teardown_file it is not the shell's child).
nats_stop() {
	local pid
	[ -f "$1/nats.pid" ] || return 0
	pid=$(cat "$1/nats.pid")
	kill "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$1/nats.pid"
}
