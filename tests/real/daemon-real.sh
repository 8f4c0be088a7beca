#!/bin/sh
# daemon-real.sh: balloond on two real QEMU guests (test-vm): set moves
# the balloon, kill -9 and a restart touch nothing before reading the
# guests' actual sizes, SIGTERM restores both to max.
. "$top_srcdir/tests/lib/daemon-lib.sh"

G="$T/guests"
mkdir -p "$G"
stop_guests() { "$top_srcdir/test-vm/stop" --dir "$G" >/dev/null 2>&1; }
trap 'stop_guests; cleanup' EXIT

"$top_srcdir/test-vm/start" --dir "$G" --name g1 --mem 256M >"$T/g1.path" 2>"$T/g1.err" &
p1=$!
"$top_srcdir/test-vm/start" --dir "$G" --name g2 --mem 256M >"$T/g2.path" 2>"$T/g2.err" &
p2=$!
wait $p1 || bail "guest g1 did not boot: $(tail -n 5 "$T/g1.err")"
wait $p2 || bail "guest g2 did not boot: $(tail -n 5 "$T/g2.err")"
diag "guests booted under $(cat "$G/g1.accel")"

near() { # near GUEST BYTES: actual within 1% of BYTES
	a=$(field "$1" actual_bytes)
	[ -n "$a" ] && [ $((a > $2 ? a - $2 : $2 - a)) -le $(($2 / 100)) ]
}
qemu_actual() { # the guest's actual, asked over its own QMP socket
	"$BALLOONCTL" qmp --socket "$G/$1.qmp" query-balloon |
		sed 's/.*"actual":\([0-9]*\).*/\1/'
}

start_daemon
expect 0 "register g1" ctl register g1 --qmp "$G/g1.qmp" --min 128M
expect 0 "register g2" ctl register g2 --qmp "$G/g2.qmp" --min 128M
check "g1's max is its RAM" field_is g1 max_bytes $((256 * MiB))
expect 0 "set g1 160M" ctl set g1 160M
expect 0 "set g2 192M" ctl set g2 192M
check "g1's balloon really moves to 160 MiB" wait_for 30 near g1 $((160 * MiB))
check "g2's balloon really moves to 192 MiB" wait_for 30 near g2 $((192 * MiB))
check "guest stats come from the guest" wait_for 20 sh -c "'$BALLOONCTL' status --json | grep -q free_bytes"

# kill -9, then restart: registrations come back from the state dir and
# the sizes from QEMU; no command before the actual size is known.
stop_daemon KILL
before=$(qemu_actual g1)
: >"$T/daemon.log"
start_daemon
check "registrations are back after kill -9" wait_field 20 g1 link up
check "both links up" wait_field 20 g2 link up
vm_actual() { ctl qmp --vm "$1" query-balloon | sed 's/.*"actual":\([0-9]*\).*/\1/'; }
check "the guest was not moved by the restart" test "$(vm_actual g1)" = "$before"
for g in g1 g2; do
	up=$(grep -n "$g: QMP link up" "$T/daemon.log" | head -n 1 | cut -d: -f1)
	cmd=$(grep -n "$g: balloon target" "$T/daemon.log" | head -n 1 | cut -d: -f1)
	check "$g: first command only after its actual was read" \
		test -n "$up" -a \( -z "$cmd" -o "${cmd:-0}" -gt "${up:-0}" \)
done
check "restart read g1's real size (160 MiB) from QEMU" grep -q "g1: QMP link up, actual 160 MiB" "$T/daemon.log"
check "the pin is still applied" field_is g1 pin_bytes $((160 * MiB))

# SIGTERM: both back to max, then exit 0.
stop_daemon TERM
check "SIGTERM exits 0" test "$STOP_RC" = 0
check "g1 back at max" wait_for 30 sh -c "'$BALLOONCTL' qmp --socket '$G/g1.qmp' query-balloon | grep -q '\"actual\":$((256 * MiB))'"
check "g2 back at max" wait_for 30 sh -c "'$BALLOONCTL' qmp --socket '$G/g2.qmp' query-balloon | grep -q '\"actual\":$((256 * MiB))'"
check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
tap_done
