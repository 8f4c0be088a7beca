#!/bin/sh
# daemon-link.sh: what balloond believes QEMU has, against fake guests: a
# dry run that ends, a balloon moved by another monitor, and a reload of
# the [qmp] settings reaching the guests already registered.
. "$top_srcdir/tests/lib/daemon-lib.sh"

# Deadlines that catch hangs; valgrind makes the daemon many times slower.
D=20
[ "${VALGRIND:-0}" = 1 ] && D=60

start_fake 3

# sent_is SOCKET [VALUE...]: the balloon values fake-qmp received on
# SOCKET, in arrival order, are these (none: nothing was sent).
sent_is() {
	sock=$1
	shift
	test "$(balloons "$sock" | tr '\n' ' ')" = "${*:+$* }"
}

# fake_ok CMD...: fake-qmp's control socket answers "ok".
fake_ok() { test "$(fake "$@")" = ok; }

# fake_actual_is SOCKET BYTES: the fake guest's actual size.
fake_actual_is() { fake show "$1" | grep -q "\"actual\":$2[,}]"; }

# ---- a dry run that ends sends what it decided ----
# vm0 is a Patroni member of a cluster balloond has no section for: it may
# be the leader, so its target is its max. Another monitor left it at
# 128 MiB. A dry run only says what it would set; once a reload turns the
# dry run off, the target goes out.
check "another monitor lowers vm0 to 128 MiB" fake_ok balloon vm0.qmp 128M
check "... and left it there" wait_for $D fake_actual_is vm0.qmp $((128 * MiB))
printf '[daemon]\ndry_run = yes\n' >"$T/link.conf"
BALLOOND_CONF="$T/link.conf" start_daemon
expect 0 "register vm0 (may be the leader)" ctl register vm0 --qmp "$T/vm0.qmp" --min 128M --patroni pg/pg1
check "dry run: it would set vm0 to its max" wait_for $D grep -q "vm0: dry run: would set target 256 MiB" "$T/daemon.log"
check "dry run: nothing was sent" sent_is vm0.qmp
check "dry run: status shows no target sent" field_is vm0 target_bytes 0
printf '[daemon]\ndry_run = no\n' >"$T/link.conf"
expect 0 "reload turns the dry run off" ctl reload
check "the dry run's decision goes out" wait_for $D sent_is vm0.qmp $((256 * MiB))
check "vm0 is back at its max" wait_field $D vm0 actual_bytes $((256 * MiB))
stop_daemon TERM
check "balloond exits 0" test "$STOP_RC" = 0

# ---- the balloon moved below its target behind balloond's back ----
# QEMU sends BALLOON_CHANGE to every monitor: libvirt's `virsh setmem`, an
# admin's `balloon`, Proxmox's pvestatd can all lower the balloon. vm1 may
# be the leader (its max, acknowledged) when another monitor lowers it to
# 128 MiB: balloond says so and sets its max again.
start_daemon
ctl monitor --json >"$T/events" 2>&1 &
MON_PID=$!
check "monitor subscribed" wait_for $D grep -q "request monitor" "$T/daemon.log"
expect 0 "register vm1 (may be the leader)" ctl register vm1 --qmp "$T/vm1.qmp" --min 128M --patroni pg/pg2
check "vm1's max is acknowledged" wait_field $D vm1 target_bytes $((256 * MiB))
check "... once" sent_is vm1.qmp $((256 * MiB))
check "status counts no foreign move yet" field_is vm1 foreign_moves 0
check "another monitor lowers vm1 to 128 MiB" fake_ok balloon vm1.qmp 128M
check "an event names the target it had and the new actual" wait_for $D \
	bdtest event "$T/events" foreign_move guest=vm1 target_bytes=$((256 * MiB)) actual_bytes=$((128 * MiB))
check "status counts it" wait_field $D vm1 foreign_moves 1
check "the log says so" grep -q "vm1: the balloon moved to 128 MiB, below its target 256 MiB" "$T/daemon.log"
check "balloond sent vm1's max again" wait_for $D sent_is vm1.qmp $((256 * MiB)) $((256 * MiB))
check "vm1 is back at its max" wait_for $D fake_actual_is vm1.qmp $((256 * MiB))
check "status shows the max as its target again" wait_field $D vm1 target_bytes $((256 * MiB))
check "the way back up is balloond's own move" field_is vm1 foreign_moves 1
stop_daemon TERM
check "balloond exits 0" test "$STOP_RC" = 0
kill "$MON_PID" 2>/dev/null
wait "$MON_PID" 2>/dev/null

# ---- a reload's [qmp] settings reach the guests already registered ----
printf '[qmp]\ncommand_timeout_ms = 600000\nstats_interval_s = 1\n' >"$T/link.conf"
BALLOOND_CONF="$T/link.conf" start_daemon
expect 0 "register vm2" ctl register vm2 --qmp "$T/vm2.qmp" --min 128M
fake_stats_interval_is() { fake show "$1" | grep -q "\"stats_interval\":$2[,}]"; }
check "QEMU is told to poll vm2's stats every second" wait_for $D fake_stats_interval_is vm2.qmp 1
printf '[qmp]\ncommand_timeout_ms = 300\nstats_interval_s = 3600\n' >"$T/link.conf"
expect 0 "reload with a shorter command timeout and another stats interval" ctl reload
check "the new interval reaches vm2 at once, not an hour later" wait_for $D fake_stats_interval_is vm2.qmp 3600
check "... and the other guests' too" wait_for $D fake_stats_interval_is vm0.qmp 3600
check "vm2 is up" field_is vm2 link up
check "vm2 stops answering" fake_ok mode vm2.qmp hang
expect 0 "set vm2 while it hangs" ctl set vm2 200M
check "its command times out after the reloaded 300 ms, not ten minutes" wait_for $D \
	grep -q "vm2: balloon 200 MiB: timed out waiting for QEMU" "$T/daemon.log"
check "vm2 answers again" fake_ok mode vm2.qmp normal
check "once QEMU answers again, the target lands" wait_field $D vm2 actual_bytes $((200 * MiB))
stop_daemon TERM
check "balloond exits 0" test "$STOP_RC" = 0

check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
tap_done
