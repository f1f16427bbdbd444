#!/usr/bin/env bats
# The systemd units (systemd/*.in): installed where systemd looks for
# PREFIX=/usr, else under DATADIR/systemd, with the installed paths, and
# clean for `systemd-analyze verify` (which runs without a systemd
# manager: it loads the unit files and checks each setting and that the
# commands exist).  See install.bats for why DATADIR is pinned.

load helpers

setup() {
	common_setup
	dest="$BATS_TEST_TMPDIR/root"
}

install_to() {
	run make -s -C "$TOP" install DESTDIR="$dest" \
		DATADIR=/usr/local/share/mas "$@"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
}

# verify UNIT...: systemd-analyze verify with nothing to say; ExecStart's
# programs are looked for under DESTDIR, as systemd-analyze checks that
# they exist on this machine.
verify() {
	run --separate-stderr systemd-analyze verify --man=no "$@"
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	[ -z "$stderr$output" ] || { echo "$stderr$output"; return 1; }
}

relocate() {
	mkdir -p "$BATS_TEST_TMPDIR/units"
	for unit in "$@"; do
		sed "s|/usr/bin/|$dest/usr/bin/|g" "$unit" \
			>"$BATS_TEST_TMPDIR/units/${unit##*/}"
	done
}

@test "PREFIX=/usr: the units go to PREFIX/lib/systemd/system and systemd-analyze verify passes them" {
	install_to PREFIX=/usr
	units="$dest/usr"/lib/systemd/system
	[ -f "$units/mas-serve.service" ]
	[ -f "$units/mas-worker@.service" ]
	grep -qx 'ExecStart=/usr/bin/mas-serve $MAS_SERVE_OPTIONS' "$units/mas-serve.service"
	grep -qx 'ExecStart=/usr/bin/mas-bus serve ${TOPIC} --follow $MAS_BUS_OPTIONS -- $COMMAND' \
		"$units/mas-worker@.service"
	grep -qx 'EnvironmentFile=/etc/mas/worker-%i.env' "$units/mas-worker@.service"
	for unit in "$units"/*; do
		for setting in DynamicUser=yes StateDirectory=mas \
			ProtectSystem=strict NoNewPrivileges=yes User=mas; do
			grep -qx "$setting" "$unit" ||
				{ echo "$unit: no $setting"; return 1; }
		done
		! grep -q '@[A-Z]*@' "$unit"
	done
	relocate "$units"/*
	verify "$BATS_TEST_TMPDIR/units/mas-serve.service"
	verify "$BATS_TEST_TMPDIR/units/mas-worker@analyze.service"
}

@test "systemd-analyze verify reports a broken unit (the check can fail)" {
	install_to PREFIX=/usr
	relocate "$dest/usr"/lib/systemd/system/mas-serve.service
	sed -i 's/^ProtectSystem=strict/ProtectSystem=sometimes/' \
		"$BATS_TEST_TMPDIR/units/mas-serve.service"
	run ! verify "$BATS_TEST_TMPDIR/units/mas-serve.service"
	# and a program that is not there
	relocate "$dest/usr"/lib/systemd/system/mas-serve.service
	rm "$dest/usr/bin/mas-serve"
	run ! verify "$BATS_TEST_TMPDIR/units/mas-serve.service"
}

@test "another PREFIX: the units go beside the examples, naming its programs" {
	install_to PREFIX=/opt/mas
	units="$dest/usr/local/share/mas/systemd"
	grep -qx 'ExecStart=/opt/mas/bin/mas-serve $MAS_SERVE_OPTIONS' "$units/mas-serve.service"
	[ ! -e "$dest/opt/mas/lib/systemd" ]
}
