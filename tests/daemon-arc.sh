#!/bin/sh
# daemon-arc.sh: the ZFS ARC budget across restarts. A --proc-root and
# --sys-root fixture plays a 4 GiB host with ZFS; like OpenZFS, the test
# turns each value written to zfs_arc_max (logged by fault-preload.so) into
# arcstats' c_max, except 0, which leaves c_max as it is. balloond
# keeps the ARC's native c_max, and the admin's own zfs_arc_max, from
# before its first write in its state directory (arc.json), so that after a
# restart, clean or kill -9, the cap can rise again up to the native c_max
# instead of only ever falling. A reload that turns arc_manage off writes
# the admin's value back.
. "$top_srcdir/tests/lib/daemon-lib.sh"
GiB=1073741824

P="$T/proc"
S="$T/sys"
PARAM="$S/module/zfs/parameters/zfs_arc_max"
mkdir -p "$P/spl/kstat/zfs" "$S/module/zfs/parameters"
cat >"$P/meminfo" <<EOF
MemTotal:        4194304 kB
MemFree:         3145728 kB
MemAvailable:    3145728 kB
EOF
# The ARC's own maximum, and the admin's zfs_arc_max (0: ZFS's default).
NATIVE=$((3 * GiB))
echo 0 >"$PARAM"
# Each value written to zfs_arc_max, in order.
WLOG="$T/writes.log"
: >"$WLOG"

# kernel: what OpenZFS (arc_tuning_update) does with each value written to
# zfs_arc_max: c_max takes it only if it is not 0, at least 64 MiB, below
# all of memory and above c_min; a 0 changes nothing until a reboot.
kernel() {
	v=$NATIVE
	while read -r what w; do
		[ "$what" = zfs_arc_max ] && [ "$w" != 0 ] &&
			[ "$w" -ge $((64 * MiB)) ] && [ "$w" -lt $((4 * GiB)) ] &&
			[ "$w" -gt 268435456 ] && v=$w
	done <"$WLOG"
	cat >"$P/spl/kstat/zfs/arcstats.tmp" <<EOF
13 1 0x01 123 33456 5029341722 1234567890123
name                            type data
c                               4    $v
c_min                           4    268435456
c_max                           4    $v
size                            4    1073741824
EOF
	mv "$P/spl/kstat/zfs/arcstats.tmp" "$P/spl/kstat/zfs/arcstats"
}
kernel

# arc_max_is BYTES: balloond wrote BYTES to zfs_arc_max; the kernel then
# reports it as c_max.
arc_max_is() {
	test "$(cat "$PARAM")" = "$1" || return 1
	kernel
}

# 4 GiB, minus the guests at 256 MiB each, minus the 768 MiB reserve and
# the 256 MiB high watermark (the ARC leaves the high watermark free: it
# gives memory back too slowly for a grow to wait on it).
cap() { echo $((3 * GiB - $1 * 256 * MiB)); }

cat >"$T/arc.conf" <<EOF
[daemon]
proc_root = $P
sys_root = $S
[qmp]
# Nothing replans on its own: no guest statistics to poll.
stats_interval_s = 0
[host]
interval_ms = 100
reserve = 768M
low_watermark = 128M
high_watermark = 256M
arc_manage = yes
arc_min = 512M
EOF
cat >"$T/noarc.conf" <<EOF
[daemon]
proc_root = $P
sys_root = $S
[qmp]
# Nothing replans on its own: no guest statistics to poll.
stats_interval_s = 0
[host]
interval_ms = 100
reserve = 1G
arc_manage = no
EOF
cp "$T/arc.conf" "$T/live.conf"
export BALLOOND_CONF="$T/live.conf"
# The fixture's roots are in the configuration; the preload library logs
# the writes to zfs_arc_max.
start_arc_daemon() { start_daemon_with_faults BD_FAULT_LOG="$WLOG"; }

start_fake 4
start_arc_daemon
for i in 0 1 2 3; do
	ctl register vm$i --qmp "$T/vm$i.qmp" >/dev/null || bail "register vm$i"
done
check "four guests: the cap is 2 GiB" wait_for 20 arc_max_is "$(cap 4)"
check "the native c_max and the admin's zfs_arc_max were saved first" \
	bdtest json-is "$STATE/arc.json" \
	"{\"version\": 1, \"c_max_bytes\": $NATIVE, \"zfs_arc_max_bytes\": 0}"

# kill -9: nothing is written on the way out; the next balloond must not
# take the 2 GiB now in c_max for the ARC's own maximum.
stop_daemon KILL
start_arc_daemon
wait_field 20 vm3 link up || bail "vm3 did not come back"
ctl unregister vm2 >/dev/null
ctl unregister vm3 >/dev/null
check "after kill -9, two guests gone: the cap rises to 2.5 GiB" wait_for 20 arc_max_is "$(cap 2)"

# SIGTERM keeps a cap that fits every guest at its max (an unbounded ARC
# would recreate the incident), here with three guests.
ctl register vm2 --qmp "$T/vm2.qmp" >/dev/null || bail "register vm2"
check "three guests: 2.25 GiB" wait_for 20 arc_max_is "$(cap 3)"
stop_daemon TERM
check "SIGTERM exits 0" test "$STOP_RC" = 0
check "SIGTERM leaves the cap for every guest at its max" arc_max_is "$(cap 3)"
check "the saved values stay for the next start" test -s "$STATE/arc.json"

start_arc_daemon
wait_field 20 vm2 link up || bail "vm2 did not come back"
ctl unregister vm2 >/dev/null
check "after a clean restart the cap rises again, to 2.5 GiB" wait_for 20 arc_max_is "$(cap 2)"

# arc_manage off: the admin's own value (0 here) goes back.
cp "$T/noarc.conf" "$T/live.conf"
expect 0 "reload with arc_manage off" ctl reload
check "the admin's zfs_arc_max is written back" wait_for 20 arc_max_is 0
check "and the ARC's c_max is its own again" \
	grep -q "^c_max  *4  *$NATIVE\$" "$P/spl/kstat/zfs/arcstats"
check "arc.json is gone with balloond's cap" wait_for 10 test ! -e "$STATE/arc.json"
check "the log says so" grep -q "zfs_arc_max set back to 0" "$T/daemon.log"
stop_daemon TERM
check "SIGTERM with arc_manage off leaves zfs_arc_max alone" arc_max_is 0

# An admin who set zfs_arc_max (2.75 GiB) gets that value back, and the
# ARC's own c_max then is that value.
echo $((11 * GiB / 4)) >"$PARAM"
echo "zfs_arc_max $((11 * GiB / 4))" >>"$WLOG"
NATIVE=$((11 * GiB / 4))
kernel
cp "$T/arc.conf" "$T/live.conf"
start_arc_daemon
for i in 2 3; do
	ctl register vm$i --qmp "$T/vm$i.qmp" >/dev/null || bail "register vm$i"
done
check "capped again under the admin's value: 2 GiB" wait_for 20 arc_max_is "$(cap 4)"
cp "$T/noarc.conf" "$T/live.conf"
expect 0 "reload with arc_manage off" ctl reload
check "the admin's 2.75 GiB is written back" wait_for 20 arc_max_is $((11 * GiB / 4))
stop_daemon TERM

# A dry run writes nothing and records no target as set, so every replan
# (here each guest's statistics, every second) decides the same
# zfs_arc_max and the same targets again: each is said once, and a
# monitor's plan events list only what is new.
sed -e 's/^\[qmp\]/dry_run = yes\n[qmp]/' \
	-e 's/^stats_interval_s = 0/stats_interval_s = 1/' "$T/arc.conf" >"$T/live.conf"
start_arc_daemon
# vm2 again, with room below its max to pin it.
ctl unregister vm2 >/dev/null || bail "unregister vm2"
n=$(wc -l <"$T/daemon.log")
ctl register vm2 --qmp "$T/vm2.qmp" --min 128M >/dev/null || bail "register vm2"
wait_for 20 sh -c "tail -n +$((n + 1)) '$T/daemon.log' | grep -q 'vm2: dry run: would set target 256 MiB'" ||
	bail "vm2's dry run target"
ctl monitor --json >"$T/dry.mon" 2>&1 &
MON=$!
wait_for 20 grep -q "request monitor" "$T/daemon.log" || bail "monitor did not subscribe"
said=$(grep -c "dry run: would set zfs_arc_max" "$T/daemon.log")
polls() { grep -c '"guest-stats"' "$T/fake.log"; }
p0=$(polls)
check "dry run: the guests' statistics came in three times more" \
	wait_for 30 sh -c "[ \$(grep -c '\"guest-stats\"' '$T/fake.log') -ge $((p0 + 12)) ]"
check "dry run: the ARC cap is said once, not at each replan" \
	test "$(grep -c "dry run: would set zfs_arc_max" "$T/daemon.log")" = "$said"
check "dry run: no plan event when nothing new is decided" \
	sh -c "! grep -q '\"event\":\"plan\"' '$T/dry.mon'"
expect 0 "dry run: pin vm2" ctl set vm2 200M
check "dry run: the monitor sees the pin's plan" \
	wait_for 20 grep -q '"event":"plan"' "$T/dry.mon"
check "dry run: the plan event lists only vm2, the guest that changed" \
	bdtest plans-touch "$T/dry.mon" vm2
kill "$MON"
wait "$MON" 2>/dev/null
check "dry run: nothing was written to zfs_arc_max" test "$(cat "$PARAM")" = $((11 * GiB / 4))
stop_daemon TERM
# An admin's zfs_arc_max that OpenZFS ignores (5 GiB, above all of this
# 4 GiB host's memory) left the ARC's c_max at its own 2.75 GiB. Written
# back alone it would change nothing and leave balloond's cap in c_max:
# the native c_max goes in first, then the admin's value.
echo $((5 * GiB)) >"$PARAM"
echo "zfs_arc_max $((5 * GiB))" >>"$WLOG"
kernel
check "an out-of-range admin value leaves c_max at 2.75 GiB" \
	grep -q "^c_max  *4  *$((11 * GiB / 4))\$" "$P/spl/kstat/zfs/arcstats"
cp "$T/arc.conf" "$T/live.conf"
start_arc_daemon
# Without vm2, which the dry run above left pinned: three guests at 256 MiB.
wait_field 20 vm2 link up || bail "vm2 did not come back"
ctl unregister vm2 >/dev/null || bail "unregister vm2"
check "capped under it: 2.25 GiB" wait_for 20 arc_max_is "$(cap 3)"
cp "$T/noarc.conf" "$T/live.conf"
expect 0 "reload with arc_manage off" ctl reload
check "the admin's 5 GiB is written back" wait_for 20 arc_max_is $((5 * GiB))
check "and c_max is the ARC's own 2.75 GiB again, not balloond's cap" \
	grep -q "^c_max  *4  *$((11 * GiB / 4))\$" "$P/spl/kstat/zfs/arcstats"
stop_daemon TERM
check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
tap_done
