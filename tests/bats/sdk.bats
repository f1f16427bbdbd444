#!/usr/bin/env bats
# libmas, the SDK (libmas(3)): installed as a packager installs it, the
# example built against the installed tree with nothing but pkg-config,
# the exported symbols exactly the header's functions, and every function
# of include/mas/mas.h driven through tests/helpers/sdk-client.c.

load helpers

setup() {
	common_setup
	QUESTION='How fast did lithium-ion battery pack prices fall?'
	export MAS_STATE_DIR="$BATS_TEST_TMPDIR/state"
	BUS="sqlite:$BATS_TEST_TMPDIR/bus.db"
	# the SDK installed with PREFIX /usr into ROOT
	root=$BATS_TEST_TMPDIR/root
	usr=$root/usr
}

teardown() {
	if [ -n "${worker:-}" ]; then
		kill "$worker" 2>/dev/null || true
		wait "$worker" 2>/dev/null || true
	fi
}

# The functions the header declares, sorted: the name on each MAS_API
# line.
header_functions() {
	sed -n 's/^MAS_API [^(]*[ *]\(mas_[a-z_]*\)(.*/\1/p' \
		include/mas/mas.h | sort
}

@test "the shared library exports exactly the header's functions" {
	run header_functions
	[ "$status" -eq 0 ]
	[ "$(line_count)" -ge 20 ]
	expected=$output
	run --separate-stderr nm -D --defined-only lib/libmas.so.0
	[ "$status" -eq 0 ]
	exported=$(printf '%s\n' "$output" | awk '{ print $3 }' | sort)
	[ "$exported" = "$expected" ] ||
		{ diff <(echo "$expected") <(echo "$exported"); return 1; }
	# and each is a function
	[ -z "$(printf '%s\n' "$output" | awk '$2 != "T"')" ]
}

@test "the shared library is named by its soname" {
	run readelf -d lib/libmas.so.0
	[[ "$output" == *"Library soname: [libmas.so.0]"* ]]
	[[ "$(readlink lib/libmas.so.0)" == libmas.so.0.[0-9]*.[0-9]* ]]
	[ "$(readlink -f lib/libmas.so)" = "$(readlink -f lib/libmas.so.0)" ]
}

@test "make install-lib and uninstall: lib, header, mas.pc, pages" {
	run install_sdk "$root"
	[ "$status" -eq 0 ]
	for file in usr/lib/libmas.a usr/lib/libmas.so.0 usr/lib/libmas.so \
		usr/include/mas/mas.h usr/lib/pkgconfig/mas.pc \
		usr/share/man/man3/libmas.3 usr/share/man/man3/mas_agent_open.3; do
		[ -e "$root/$file" ] || { echo "no $file"; return 1; }
	done
	grep -qx 'prefix=/usr' "$usr/lib/pkgconfig/mas.pc"
	grep -qx 'libdir=${prefix}/lib' "$usr/lib/pkgconfig/mas.pc"
	run make -s uninstall DESTDIR="$root" PREFIX=/usr
	[ "$status" -eq 0 ]
	run find "$root" -type f -o -type l
	[ -z "$output" ]
}

@test "the example builds with pkg-config alone against the installed tree and runs" {
	install_sdk "$root"
	cp -R examples/sdk "$BATS_TEST_TMPDIR/sdk"
	export PKG_CONFIG_PATH="$usr/lib/pkgconfig"
	export PKG_CONFIG_SYSROOT_DIR="$root"
	run --separate-stderr pkg-config --cflags --libs mas
	[ "$status" -eq 0 ]
	[[ "$output" == *"-I$usr/include"* ]]
	[[ "$output" == *"-L$usr/lib -lmas -ljq"* ]]
	# the example's Makefile, no flag of this tree's; a sanitized
	# libmas needs a sanitized program (ASan's runtime first)
	san=
	[ "${SANITIZE:-}" != 1 ] || san='-fsanitize=address,undefined'
	run --separate-stderr make -s -C "$BATS_TEST_TMPDIR/sdk" \
		CFLAGS="-O2 -Werror $san" LDFLAGS="$san"
	[ "$status" -eq 0 ]
	run ldd "$BATS_TEST_TMPDIR/sdk/research-analyze"
	[[ "$output" == *"libmas.so.0 => not found"* ]]
	LD_LIBRARY_PATH="$usr/lib" run --separate-stderr \
		"$BATS_TEST_TMPDIR/sdk/research-analyze" examples/corpus \
		"$QUESTION"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${lines[0]}" = "question: $QUESTION" ]
	[[ "${lines[1]}" == "answer: The price of lithium-ion battery packs fell by about 90% between 2010 and 2023."* ]]
	[ "${lines[2]}" = "source 1: Lithium-ion battery costs" ]
	[[ "$output" == *"evidence: 5 sources, best score "* ]]
	# the analysis agent's figures are those mas-analyze computes
	best=$(printf '{"query":"%s"}\n' "$QUESTION" |
		mas-research --corpus examples/corpus |
		jq -r '[.research.sources[].score] | max | . * 100 | round / 100')
	[[ "$output" == *"best score $best,"* ]]
	# a corpus that is not there: exit 2, a message naming it
	LD_LIBRARY_PATH="$usr/lib" run --separate-stderr \
		"$BATS_TEST_TMPDIR/sdk/research-analyze" /nonexistent "$QUESTION"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "research-analyze: research: "*"/nonexistent"* ]]
}

# The record RECORD as PROGRAM writes it and as libmas's agent KIND
# answers it, compared without the times, which differ by run.
same_answer() {
	local kind=$1 record=$2
	shift 2
	local times='del(.. | .created_at?, .completed_at?, .timestamp?, .ms?)'
	a=$(printf '%s\n' "$record" | "$@" | jq -cS "$times")
	b=$(printf '%s\n' "$record" | sdk-client agent "$kind" 2>/dev/null |
		jq -cS "$times")
	[ -n "$a" ] && [ "$a" = "$b" ] ||
		{ echo "program: $a"; echo "libmas:  $b"; return 1; }
}

@test "an agent answers as its program does (research, chat, analyze)" {
	export MAS_CORPUS=examples/corpus MAS_KB=examples/kb.jsonl
	export MAS_DATA_DIR=examples/data
	same_answer research "{\"id\":\"r1\",\"query\":\"$QUESTION\"}" \
		mas-research
	same_answer chat '{"id":"c1","message":"I want my money back"}' \
		mas-chat --no-sessions
	same_answer analyze '{"id":"a1","data_source":"sales","analysis_type":"trend"}' \
		mas-analyze
}

@test "mas_agent_run (jv) and mas_agent_run_json give one answer; ids are given" {
	export MAS_CORPUS=examples/corpus
	printf '{"query":"%s"}\n' "$QUESTION" >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr sdk-client agent-jv research <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	[ "$stderr" = "sdk-client: key research" ]
	output_jq '(.id | test("^[0-9A-Z]{26}$")) and (.research.summary | test("90%"))'
	a=$(printf '%s\n' "$output" | jq -c 'del(.id, .research.meta, .research.created_at, .research.completed_at)')
	run --separate-stderr sdk-client agent research <"$BATS_TEST_TMPDIR/in"
	b=$(printf '%s\n' "$output" | jq -c 'del(.id, .research.meta, .research.created_at, .research.completed_at)')
	[ "$a" = "$b" ]
}

@test "bad records come back whole with an error, in order; exit 1" {
	export MAS_CORPUS=examples/corpus
	run --separate-stderr sdk-client agent research <<-'EOF'
	{"id":"q1","query":"solar"}
	not json
	[1,2]
	{"id":"q4","topic":"no query","keep":true}
	EOF
	[ "$status" -eq 1 ]
	[ "$(line_count)" -eq 4 ]
	[ "$(printf '%s\n' "${lines[0]}" | jq -r .id)" = q1 ]
	printf '%s\n' "${lines[1]}" | jq -e '.error.code == "INVALID_REQUEST" and (.error.message | startswith("not JSON"))'
	printf '%s\n' "${lines[2]}" | jq -e '.error.code == "INVALID_REQUEST" and (.error.message | contains("not array"))'
	printf '%s\n' "${lines[3]}" | jq -e '.id == "q4" and .keep and .error.code == "INVALID_REQUEST" and (.error.message | contains("query"))'
}

@test "opening fails with a message and exit 2: unknown agent, key, no KB, bad model setting" {
	run --separate-stderr sdk-client agent teller </dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"'teller' is not an agent: analyze, research or chat"* ]]
	run --separate-stderr sdk-client -s chat.knowledge=x agent chat </dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"chat.knowledge: not a configuration key"* ]]
	run --separate-stderr sdk-client agent chat </dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no knowledge base"* ]]
	run --separate-stderr sdk-client -s research.corpus=/nonexistent agent research </dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"/nonexistent"* ]]
	# the library reports a bad model setting; it does not exit
	OPENAI_BASE_URL=http://127.0.0.1:9/v1 MAS_LLM_TIMEOUT=soon \
		run --separate-stderr sdk-client agent analyze </dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == "sdk-client: agent: "*"timeout"* ]]
	# a configuration file with a bad line names it
	printf 'research.corpus examples/corpus\n' >"$BATS_TEST_TMPDIR/mas.conf"
	run --separate-stderr sdk-client -c "$BATS_TEST_TMPDIR/mas.conf" codes
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"$BATS_TEST_TMPDIR/mas.conf:1:"* ]]
}

@test "settings: set above environment above file above defaults" {
	printf '[research]\ncorpus = from-file\ndepth = brief\n' \
		>"$BATS_TEST_TMPDIR/mas.conf"
	MAS_RESEARCH_DEPTH=standard run sdk-client -c "$BATS_TEST_TMPDIR/mas.conf" get research.depth
	[ "$output" = standard ]
	MAS_RESEARCH_DEPTH=standard run sdk-client -c "$BATS_TEST_TMPDIR/mas.conf" -s research.depth=comprehensive get research.depth
	[ "$output" = comprehensive ]
	run sdk-client -c "$BATS_TEST_TMPDIR/mas.conf" get research.corpus
	[ "$output" = from-file ]
	run sdk-client get research.bm25_k1
	[ "$output" = 1.2 ]
	run sdk-client get no.such.key
	[ "$output" = "(unset)" ]
}

@test "handles opened from NULL settings read the environment, not the file" {
	mkdir -p "$XDG_CONFIG_HOME/mas"
	printf 'research.corpus = /nonexistent\n' >"$XDG_CONFIG_HOME/mas/config"
	# with settings, the file's corpus (missing): refused
	run --separate-stderr sdk-client agent research </dev/null
	[ "$status" -eq 2 ]
	# NULL settings: the environment's
	MAS_CORPUS=examples/corpus run --separate-stderr sdk-client -0 \
		agent research <<<"{\"query\":\"$QUESTION\"}"
	[ "$status" -eq 0 ]
	output_jq '.research.summary | test("90%")'
	MAS_BUS_URL=$BUS run --separate-stderr sdk-client -0 pub - jobs '{"n":1}'
	[ "$status" -eq 0 ]
	run mas-bus sub jobs --from-start --payload --url "$BUS"
	[ "$output" = '{"n":1}' ]
}

@test "error codes, their transience and the version" {
	run sdk-client codes
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "INVALID_REQUEST 0" ]
	[ "${lines[5]}" = "TIMEOUT 1" ]
	[ "${lines[6]}" = "UPSTREAM_ERROR 1" ]
	[ "${lines[7]}" = "INTERNAL 0" ]
	[ "${lines[8]}" = "version $(mas-flow --version | awk '{ print $NF }')" ]
}

@test "a workflow runs a flow file as mas-flow run does, with the settings it was opened with" {
	cat >"$BATS_TEST_TMPDIR/r.flow" <<-'EOF'
	node r      agent research
	node short  jq '.answer = .research.summary[0:40]'
	start -> r
	r -> short
	short -> end
	EOF
	record="{\"id\":\"f1\",\"query\":\"$QUESTION\"}"
	# the environment says otherwise; the setting wins, in the co-process too
	MAS_CORPUS=/nonexistent run --separate-stderr sdk-client \
		-s research.corpus=examples/corpus flow "$BATS_TEST_TMPDIR/r.flow" \
		<<<"$record"
	[ "$status" -eq 0 ]
	output_jq '.id == "f1" and (.answer | startswith("The price of lithium-ion")) and ([.meta.flow[].node] == ["r", "short"])'
	libmas=$(printf '%s\n' "$output" | jq -cS 'del(.. | .ms?, .created_at?, .completed_at?)')
	program=$(MAS_CORPUS=examples/corpus mas-flow run "$BATS_TEST_TMPDIR/r.flow" \
		<<<"$record" | jq -cS 'del(.. | .ms?, .created_at?, .completed_at?)')
	[ "$libmas" = "$program" ]
	# through jv, the same; and no settings file is left behind
	MAS_CORPUS=examples/corpus TMPDIR=$BATS_TEST_TMPDIR run sdk-client \
		flow-jv "$BATS_TEST_TMPDIR/r.flow" <<<"$record"
	[ "$status" -eq 0 ]
	output_jq '.answer | startswith("The price")'
	[ -z "$(ls "$BATS_TEST_TMPDIR" | grep libmas-)" ]
}

@test "a workflow with problems is refused at open, naming file and line" {
	printf "node a jq '.x +'\nstart -> a\na -> end\n" >"$BATS_TEST_TMPDIR/bad.flow"
	run --separate-stderr sdk-client flow "$BATS_TEST_TMPDIR/bad.flow" </dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == "sdk-client: flow: $BATS_TEST_TMPDIR/bad.flow:1: node 'a'"* ]]
	run --separate-stderr sdk-client flow "$BATS_TEST_TMPDIR/none.flow" </dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"none.flow: No such file or directory"* ]]
	# a flow whose record fails: the error in the record, exit 1
	printf "node a jq 'error(\"no\")'\nstart -> a\na -> end\n" >"$BATS_TEST_TMPDIR/fails.flow"
	run --separate-stderr sdk-client flow "$BATS_TEST_TMPDIR/fails.flow" <<<'{"id":"x"}'
	[ "$status" -eq 1 ]
	output_jq '.id == "x" and .error.node == "a"'
}

@test "bus: publish, then the iterator takes the messages from a group and acknowledges them" {
	run --separate-stderr sdk-client pub "$BUS" jobs.a '{"n":1}'
	[ "$status" -eq 0 ]
	run --separate-stderr sdk-client pub "$BUS" jobs.b '"two"'
	[ "$status" -eq 0 ]
	run --separate-stderr sdk-client sub "$BUS" 'jobs.*' g 5 0.2
	[ "$status" -eq 0 ]
	[ "$(line_count)" -eq 2 ]
	printf '%s\n' "${lines[0]}" | jq -e '.topic == "jobs.a" and .type == "event" and .payload == {"n":1} and .priority == "normal"'
	printf '%s\n' "${lines[1]}" | jq -e '.topic == "jobs.b" and .payload == "two"'
	# acknowledged: the group has nothing more
	run --separate-stderr sdk-client sub "$BUS" 'jobs.*' g 5 0.1
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# the program sees them too
	run mas-bus sub 'jobs.>' --from-start --payload --url "$BUS"
	[ "$output" = $'{"n":1}\n"two"' ]
}

@test "bus: the callback stops at its count and leaves the rest to the group" {
	for n in 1 2 3; do sdk-client pub "$BUS" jobs "{\"n\":$n}"; done
	run --separate-stderr sdk-client each "$BUS" jobs w 2 0.2
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -c .payload.n | paste -sd,)" = 1,2 ]
	run --separate-stderr sdk-client each "$BUS" jobs w 0 0.2
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -c .payload.n | paste -sd,)" = 3 ]
}

@test "bus: a request is answered by a mas-bus serve worker; none in time is 75" {
	mas-bus serve sums --group adders --follow --url "$BUS" -- \
		jq --unbuffered -c '{sum: (.a + .b)}' 2>"$BATS_TEST_TMPDIR/worker.log" &
	worker=$!
	run --separate-stderr sdk-client req "$BUS" sums '{"a":2,"b":3}' 20
	[ "$status" -eq 0 ]
	output_jq '.type == "response" and .payload == {"sum":5} and (.correlation_id | length == 26)'
	kill "$worker"; wait "$worker" || true; worker=
	run --separate-stderr sdk-client req "$BUS" sums '{"a":1,"b":1}' 0.3
	[ "$status" -eq 75 ]
	[ -z "$output" ]
	[[ "$stderr" == "sdk-client: req: "* ]]
}

@test "bus: bad topic, payload or URL is exit 2 with a message" {
	run --separate-stderr sdk-client pub "$BUS" 'bad topic' '{}'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"topic 'bad topic'"* ]]
	run --separate-stderr sdk-client pub "$BUS" jobs '{"n":'
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"payload: not JSON"* ]]
	run --separate-stderr sdk-client pub 'carrier-pigeon://x' jobs '{}'
	[ "$status" -eq 2 ]
	run --separate-stderr sdk-client sub "$BUS" 'jobs..x' - 1 0
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"pattern 'jobs..x'"* ]]
}
