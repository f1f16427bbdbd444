#!/usr/bin/env bats
# mas-chat -i on a pseudo-terminal (tests/helpers/pty-run), against the
# fake model server: the history file, Ctrl-C at the prompt and while a
# reply streams, text typed during a stream, a server killed half-way, and
# the terminal put back after SIGTERM.  mas-chat(1), INTERACTIVE MODE.

load helpers
load fake_openai_helper

KB=examples/kb.jsonl
# A reply streamed slowly: about 0.2 s a word.
SLOW='"chunk_bytes":64,"chunk_delay_ms":60,"json":{"response":"Pro costs fifteen dollars per user per month and it includes single sign-on, audit logs and priority support for every team.","intent":"pricing","sentiment":"neutral","sentiment_score":0.1,"confidence":0.93}'
SHORT='"chunk_bytes":64,"chunk_delay_ms":60,"json":{"response":"Pro costs fifteen dollars a user a month.","intent":"pricing","sentiment":"neutral","sentiment_score":0.1,"confidence":0.93}'
BASIC='{"json":{"response":"Basic is free for three users.","intent":"pricing","sentiment":"neutral","sentiment_score":0,"confidence":0.9}}'

setup() {
	common_setup
	export MAS_MODEL=test-model TERM=xterm
	tty_out="$BATS_TEST_TMPDIR/tty.out"
	tty_err="$BATS_TEST_TMPDIR/tty.err"
}

teardown() {
	fake_openai_stop
}

# chat STEP... : mas-chat -i --session s on a terminal, its stderr in
# $tty_err, the transcript (carriage returns dropped) in $tty_out and
# $output; pty-run's status in $status.
chat() {
	status=0
	pty-run -t 20 "$@" -- sh -c "exec mas-chat -i -k $KB --session s 2>'$tty_err'" \
		> "$BATS_TEST_TMPDIR/raw.out" || status=$?
	tr -d '\r' < "$BATS_TEST_TMPDIR/raw.out" > "$tty_out"
	output=$(cat "$tty_out")
	printf '%s\n' "$output"
}

@test "the history file: written 0600 after each line, recalled with Up in a new process, bounded" {
	chat 'expect=> ' 'send=how much is basic?\r' 'expect=view_pricing' \
		'expect=> ' 'send=\x04'
	[ "$status" -eq 0 ]
	history="$XDG_STATE_HOME/mas/history"
	[ "$(stat -c %a "$history")" = 600 ]
	[ "$(stat -c %a "$XDG_STATE_HOME/mas")" = 700 ]
	grep -q 'basic' "$history"
	# a new process: Up brings the line back, Enter sends it again
	chat 'expect=> ' 'send=\e[A\r' 'expect=view_pricing' 'expect=> ' \
		'send=\x04'
	[ "$status" -eq 0 ]
	[ "$(grep -c '^The Basic plan is free' "$tty_out")" -eq 1 ]
	run --separate-stderr mas-chat sessions show s
	output_jq '[.history[].message] == ["how much is basic?","how much is basic?"]'
	# 1200 lines in: the last 1000 are kept, the newest last
	{ echo _HiStOrY_V2_; seq -f 'old%g' 1200; } > "$history"
	chat 'expect=> ' 'send=hello\r' 'expect=show_menu' 'expect=> ' \
		'send=\x04'
	[ "$status" -eq 0 ]
	[ "$(wc -l < "$history")" -eq 1001 ]
	[ "$(tail -n 1 "$history")" = hello ]
	[ "$(sed -n 2p "$history")" = old202 ]
}

@test "Ctrl-C at the prompt drops the line; Ctrl-D on an empty line exits 0" {
	chat 'expect=> ' 'send=never sent' 'send=\x03' 'expect=> ' \
		'send=hello\r' 'expect=show_menu' 'expect=> ' 'send=\x04'
	[ "$status" -eq 0 ]
	grep -q '^> never sent.*\^C$' "$tty_out"
	run --separate-stderr mas-chat sessions show s
	output_jq '[.history[].message] == ["hello"]'
}

@test "Ctrl-C while a reply streams cancels it; the next question is answered in the same session" {
	fake_openai_serve "{\"nth\":1,$SLOW}" "$BASIC"
	chat 'expect=> ' 'send=how much is pro?\r' 'expect=fifteen' \
		'send=\x03' 'expect=[cancelled]' 'expect=> ' \
		'send=and basic?\r' 'expect=Basic is free' 'expect=> ' 'send=\x04'
	[ "$status" -eq 0 ]
	# the reply stopped where Ctrl-C came, and no understanding line
	grep -q '^Pro costs fifteen .*\[cancelled\]' "$tty_out"
	! grep -q 'single sign-on' "$tty_out"
	[ "$(grep -c '\[pricing' "$tty_out")" -eq 1 ]
	[ "$(grep -vc 'session s; Ctrl-D ends' "$tty_err")" -eq 0 ]
	# both turns in the session; the second request carried the first
	run --separate-stderr mas-chat sessions show s
	output_jq '[.history[].message] == ["how much is pro?","and basic?"]'
	[ "$(fake_openai_requests)" -eq 2 ]
	sed -n 2p "$FAKE_OPENAI_LOG" | jq -e '.body.messages | tostring | contains("how much is pro?")'
}

@test "text typed while a reply streams is not echoed into it, and waits for the prompt" {
	fake_openai_serve "{$SHORT}"
	chat 'expect=> ' 'send=how much is pro?\r' 'expect=Pro costs' \
		'send=zzz' 'expect=a month.' 'expect=> zzz' 'send=\x15\x04'
	[ "$status" -eq 0 ]
	grep -qx 'Pro costs fifteen dollars a user a month.' "$tty_out"
	[ "$(grep -c zzz "$tty_out")" -eq 1 ]
	grep -q '^> zzz' "$tty_out"
}

@test "a server killed half-way: the partial text marked abandoned, the embedded answer, one line on stderr" {
	fake_openai_serve "{$SLOW}"
	chat 'expect=> ' 'send=how much is pro?\r' 'expect=fifteen' \
		"run=kill -9 $FAKE_OPENAI_PID" \
		'expect=[abandoned: the model stopped answering]' \
		'expect=[pricing' 'expect=> ' 'send=\x04'
	wait "$FAKE_OPENAI_PID" || true
	unset FAKE_OPENAI_PID
	[ "$status" -eq 0 ]
	grep -q '^Pro costs fifteen .*\[abandoned: the model stopped answering\]' "$tty_out"
	# the embedded answer on the next line
	grep -A1 'abandoned' "$tty_out" | tail -n 1 | grep -q '^The Pro plan costs \$15 per user per month'
	cat "$tty_err"
	[ "$(grep -c 'warning: the model failed (UPSTREAM_ERROR: .*): this answer is the embedded engine.s, without the model' "$tty_err")" -eq 1 ]
	[ "$(grep -vc 'session s; Ctrl-D ends' "$tty_err")" -eq 1 ]
}

@test "SIGTERM while a reply streams: the terminal is put back as it was, the history already saved" {
	fake_openai_serve "{$SLOW}"
	status=0
	pty-run -t 20 'expect=> ' 'send=how much is pro?\r' 'expect=Pro costs' \
		"run=kill -TERM \$(cat '$BATS_TEST_TMPDIR/pid')" 'expect=speed' \
		-- sh -c "sh -c 'echo \$\$ > $BATS_TEST_TMPDIR/pid; exec mas-chat -i -k $KB --session s 2>/dev/null'; echo killed \$?; stty -a" \
		> "$tty_out" || status=$?
	cat "$tty_out"
	[ "$status" -eq 0 ]
	grep -q 'killed 143' "$tty_out"
	grep -Eq '(^| )icanon( |$)' "$tty_out"
	grep -Eq '(^| )echo( |$)' "$tty_out"
	grep -Eq '(^| )isig( |$)' "$tty_out"
	# the line was saved as it was sent, not at a clean exit
	grep -q 'pro?$' "$XDG_STATE_HOME/mas/history"
}
