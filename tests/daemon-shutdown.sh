#!/bin/sh
# daemon-shutdown.sh: what SIGTERM does for guests in trouble. Within
# restore_timeout_ms balloond keeps reconnecting to a guest whose QMP link
# is down and gives it its max once QEMU answers, retries a restore that
# QEMU refused with an error, and names, in its log and its exit status,
# the guests that did not get their max back.
. "$top_srcdir/tests/lib/daemon-lib.sh"

# A deadline that the guest which never comes back runs into; the others
# must be restored well within it (under valgrind everything is slower).
restore_ms=6000
[ "${VALGRIND:-0}" = 1 ] && restore_ms=20000

start_fake 4
cat >"$T/shutdown.conf" <<EOF
[daemon]
restore_timeout_ms = $restore_ms
[qmp]
greeting_timeout_ms = 300
command_timeout_ms = 2000
reconnect_max_ms = 400
EOF
BALLOOND_CONF="$T/shutdown.conf" start_daemon
for i in 0 1 2 3; do
	ctl register vm$i --qmp "$T/vm$i.qmp" --min 128M >/dev/null || bail "register vm$i"
	ctl set vm$i 128M >/dev/null || bail "set vm$i"
done
# A guest whose QEMU does not run (no socket) has no balloon to restore.
ctl register gone --qmp "$T/gone.qmp" --max 256M --no-wait >/dev/null || bail "register gone"
for i in 0 1 2 3; do
	check "vm$i shrunk to its pin" wait_field 20 vm$i actual_bytes $((128 * MiB))
done

# actual SOCKET: the fake guest's balloon size.
actual() { fake_actual "$1"; }
# balloons_since LINE SOCKET: balloon values SOCKET received after LINE of
# the fake's log.
balloons_since() { balloons "$2" "$1"; }

# link_down SOCKET: QEMU stops answering its monitor (no greeting on the
# next connection), and the guest's link goes down.
link_down() {
	fake mode "$1" no-greeting >/dev/null
	fake disconnect "$1" >/dev/null
}
# sigterm: send SIGTERM and wait until balloond has begun its shutdown.
stopping() { test "$(grep -c "SIGTERM: shutting down" "$T/daemon.log")" -gt "$1"; }
sigterm() {
	n=$(grep -c "SIGTERM: shutting down" "$T/daemon.log")
	kill -TERM "$DAEMON_PID"
	wait_for 20 stopping "$n"
}
# reap: wait for balloond's exit; its status goes to STOP_RC.
reap() {
	wait "$DAEMON_PID"
	STOP_RC=$?
	DAEMON_PID=
}

link_down vm1.qmp
link_down vm2.qmp
check "vm1's link is down" wait_field 20 vm1 link down
check "vm2's link is down" wait_field 20 vm2 link down
# vm3: QEMU refuses the next balloon command with an error, once.
fake mode vm3.qmp balloon-error >/dev/null

lines=$(wc -l <"$T/fake.log")
check "SIGTERM starts the shutdown" sigterm
# vm1's QEMU answers again, within the timeout; vm2's never does.
fake mode vm1.qmp no-greeting=0 >/dev/null
reap

at_max() { test "$(actual "$1")" = $((256 * MiB)); }
check "vm0 (link up) is back at its max" wait_for 10 at_max vm0.qmp
check "vm1, whose QEMU answered again during the shutdown, is back at its max" \
	wait_for 10 at_max vm1.qmp
check "vm3 is back at its max" wait_for 10 at_max vm3.qmp
check "vm3's refused restore was sent again" \
	test "$(balloons_since "$lines" vm3.qmp | grep -cx $((256 * MiB)))" -ge 2
check "the refusal was logged" grep -q "vm3: balloon 256 MiB: .*refused once" "$T/daemon.log"
check "vm2, which never answered, kept its balloon" test "$(actual vm2.qmp)" = $((128 * MiB))
check "vm2 was sent nothing" test -z "$(balloons_since "$lines" vm2.qmp)"
check "the exit status says some guests were not restored (3)" test "$STOP_RC" = 3
grep "not restored: " "$T/daemon.log" >"$T/unrestored" || true
check "the log names vm2 as not restored" grep -q "vm2" "$T/unrestored"
check "... and only vm2 (no QEMU runs for gone)" sh -c "! grep -qE 'vm[013]|gone' '$T/unrestored'"
check "nothing claims every guest was restored" sh -c "! grep -q 'every guest restored' '$T/daemon.log'"

# Every guest answering: exit 0 once all are restored, well before the
# deadline.
fake mode vm2.qmp normal >/dev/null
BALLOOND_CONF="$T/shutdown.conf" start_daemon
for i in 0 1 2 3; do
	wait_field 20 vm$i link up || bail "vm$i did not come back"
done
ctl set vm2 128M >/dev/null
check "vm2 pinned" wait_field 20 vm2 actual_bytes $((128 * MiB))
link_down vm2.qmp
check "vm2's link is down" wait_field 20 vm2 link down
t0=$(date +%s%N)
check "SIGTERM starts the shutdown" sigterm
fake mode vm2.qmp no-greeting=0 >/dev/null
reap
took_ms=$((($(date +%s%N) - t0) / 1000000))
check "all restored: exit 0" test "$STOP_RC" = 0
check "vm2, reconnected during the shutdown, is back at its max" wait_for 10 at_max vm2.qmp
check "the log says every guest was restored" grep -q "every guest restored" "$T/daemon.log"
check "without waiting for the deadline (${took_ms} ms < $restore_ms ms)" test "$took_ms" -lt "$restore_ms"
check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
tap_done
