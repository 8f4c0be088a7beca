#!/bin/sh
# libvirt-real.sh: balloond with a real libvirtd and its qemu hook
# (tests/lib/libvirt-lib.sh starts virtlogd and libvirtd, installs the hook).
# test-vm guests as libvirt domains:
#   A (bdtest-a): balloond metadata and the extra QMP socket in its XML;
#   B (bdtest-b): a memballoon, but no balloond metadata;
#   C (bdtest-c): plain at first; `balloonctl enable` makes it balloond's.
# Shows: virsh start registers A and balloond drives its real balloon,
# seen by libvirt too (virsh dommemstat); B is left alone; libvirtd
# restarted under running guests: reconnect registers them again; virsh
# destroy unregisters; the daemon down during a virsh start: the spooled
# registration is picked up, and kept past every timeout and a daemon
# restart; enable then start: managed; disable then restart: not.
. "$top_srcdir/tests/lib/daemon-lib.sh"
. "$top_srcdir/tests/lib/libvirt-lib.sh"
trap 'lv_cleanup; cleanup' EXIT

A=${LV_PREFIX}a B=${LV_PREFIX}b C=${LV_PREFIX}c N=${LV_PREFIX}nob
MEM=192 # MiB; 96 is test-vm's least
# Short QMP timeouts: a client's register gives up after greeting + 2
# commands (1.5 s here), so a kept registration is shown to outlive it
# without waiting minutes.
cat >"$T/balloond.conf" <<EOF
[qmp]
greeting_timeout_ms = 500
command_timeout_ms = 500
reconnect_max_ms = 1000
EOF
export BALLOOND_CONF="$T/balloond.conf"
DEADLINE_MS=1500

"$BALLOONCTL" enable --help >/dev/null 2>&1 ||
	bail "balloonctl has no enable: configure --with-libvirt"
lv_setup
start_daemon

registered() {
	ctl status --json >"$T/st.json" || return 2
	bdtest json guests "$T/st.json" | grep -qF "\"name\":\"$1\""
}
# unregistered NAME: the daemon answers, and NAME is not among its guests.
unregistered() {
	registered "$1"
	[ $? = 1 ]
}
# near NAME MIB: QEMU's actual, asked live through balloond's own QMP
# socket (the read-only pass-through), within 1 % of MIB.
near() {
	a=$(ctl qmp --vm "$1" query-balloon 2>/dev/null | sed -n 's/.*"actual":\([0-9]*\).*/\1/p')
	w=$(($2 * MiB))
	[ -n "$a" ] && [ $((a > w ? a - w : w - a)) -le $((w / 100)) ]
}
# lv_near NAME MIB: libvirt's view, virsh dommemstat's actual (KiB).
lv_near() {
	a=$(lv_memstat "$1" actual)
	w=$(($2 * 1024))
	[ -n "$a" ] && [ $((a > w ? a - w : w - a)) -le $((w / 100)) ]
}
# moves DESC NAME MIB: a test point that NAME's balloon reaches MIB; on a
# failure, what balloond and QEMU say.
moves() {
	if wait_for 30 near "$2" "$3"; then
		ok "$1"
	else
		not_ok "$1"
		ctl status | sed 's/^/#   /'
		ctl qmp --vm "$2" query-balloon 2>&1 | sed 's/^/#   /'
		grep -F "$2" "$T/daemon.log" | tail -n 15 | sed 's/^/#   /'
	fi
}
T0=$(date +%s)
phase() { diag "$(($(date +%s) - T0)) s: $*"; }
managed() { registered "$1" && field_is "$1" link up; }
spool_files() { ls "$STATE/spool/" 2>/dev/null | grep -c '\.json$'; }
spool_empty() { test "$(spool_files)" = 0; } # (run again at each poll)

# ---- boot three domains in parallel -----------------------------------------
lv_define "$A" $MEM '<balloond:memory min="128M" priority="5"/>'
lv_define "$B" $MEM - noqmp
lv_define "$C" $MEM - noqmp
lv_define "$N" $MEM '<balloond:memory min="128M"/>' qmp noballoon

# enable on a defined, stopped domain: the metadata and the QMP argument go
# into its persistent definition (through libvirt's API).
expect 0 "balloonctl enable C" ctl enable "$C" --min 128M --priority 3
virsh dumpxml --inactive "$C" >"$T/c.xml"
check "C's definition carries balloond's metadata" grep -q 'urn:balloond:guest:1' "$T/c.xml"
check "C's definition carries the extra QMP socket" grep -qF "$LV_QMPDIR/$C.sock,server=on,wait=off" "$T/c.xml"
cp "$T/c.xml" "$T/c1.xml"
expect 0 "enable again: idempotent" ctl enable "$C" --min 128M --priority 3
virsh dumpxml --inactive "$C" >"$T/c.xml"
check "the second enable changed nothing" cmp -s "$T/c.xml" "$T/c1.xml"
expect 1 "enable refuses a domain without a virtio memballoon" ctl enable "$N"
err_has memballoon

for d in "$A" "$B" "$C"; do
	lv_start "$d" || bail "virsh start $d failed"
done
check "virsh start registered A (the hook, no manual step)" wait_for 10 registered "$A"
check "C, enabled before its start, is registered" wait_for 10 registered "$C"
check "A's link to its extra QMP socket is up" wait_field 30 "$A" link up
check "A's bounds come from its metadata" field_is "$A" min_bytes $((128 * MiB))
check "A's max is its <memory>" field_is "$A" max_bytes $((MEM * MiB))
check "C's bounds come from enable" field_is "$C" min_bytes $((128 * MiB))
check "B, without metadata, is not registered" unregistered "$B"
check "the hook ran for B too and exited 0" grep -q "^$B started begin rc=0 " "$LV_HOOK_LOG"
check "no extra QMP socket for B" test ! -e "$LV_QMPDIR/$B.sock"
lv_wait_ready 120 "$A" "$B" "$C"
phase "A, B, C booted ($LV_TYPE)"

# ---- balloond drives A's real balloon; libvirt sees it ----------------------
phase "balloond drives A's real balloon; libvirt sees it"
expect 0 "set A 144M" ctl set "$A" 144M
moves "A's balloon moves to 144 MiB (QEMU's actual)" "$A" 144
check "virsh dommemstat shows A's new actual" wait_for 10 lv_near "$A" 144
expect 0 "set C 160M" ctl set "$C" 160M
moves "C's balloon moves to 160 MiB" "$C" 160
check "B's balloon is untouched" lv_near "$B" $MEM

# ---- libvirtd restarted while the guests run --------------------------------
phase "libvirtd restarted while the guests run"
# A's registration is dropped while libvirtd is down: only libvirtd's
# reconnect can bring it back.
before=$(lv_hook_calls "$A" reconnect begin)
lv_stop_libvirtd
check "the guests outlive libvirtd" test -S "$LV_QMPDIR/$A.sock"
expect 0 "unregister A while libvirtd is down" ctl unregister "$A"
lv_start_libvirtd
check "libvirtd's reconnect ran the hook for A" wait_for 20 sh -c \
	"[ \$(grep -c '^$A reconnect begin ' '$LV_HOOK_LOG') -gt $before ]"
check "reconnect registered A again" wait_for 10 registered "$A"
check "and its link is up again" wait_field 20 "$A" link up
check "C stayed managed across the restart" field_is "$C" link up
check "the reconnect's register of C (still registered) was accepted" \
	sh -c "! grep -q '$C: balloond refused' '$LV/hook.err'"
check "libvirt still knows A runs" lv_running "$A"
expect 0 "set A 176M after the restart" ctl set "$A" 176M
moves "A's balloon moves to 176 MiB" "$A" 176
check "virsh dommemstat follows after the restart" wait_for 10 lv_near "$A" 176
check "B is still not registered" unregistered "$B"

# ---- virsh destroy unregisters ----------------------------------------------
phase "virsh destroy unregisters"
virsh destroy "$A" >/dev/null 2>&1
check "virsh destroy: A is unregistered" wait_for 10 unregistered "$A"
check "and not on disk" not_on_disk "$A"

# ---- the daemon down during a virsh start -----------------------------------
phase "the daemon down during a virsh start"
stop_daemon TERM
check "balloond stopped (exit 0)" test "$STOP_RC" = 0
lv_start "$A" || bail "virsh start $A (daemon down) failed"
check "the start succeeded with the daemon down" lv_running "$A"
check "the hook spooled A's registration" test "$(spool_files)" -ge 1
check "the hook exited 0" grep -q "^$A started begin rc=0 " "$LV_HOOK_LOG"
start_daemon
t0=$(date +%s%N)
check "the spooled registration is picked up at start" wait_for 10 registered "$A"
check "A's link comes up" wait_field 30 "$A" link up
check "the spool is emptied" wait_for 10 spool_empty
check "A's registration is on disk" wait_for 10 on_disk "$A"
# Kept past every timeout: wait until twice the register deadline has
# passed since the pick-up, then it is still there.
past() { [ $((($(date +%s%N) - t0) / 1000000)) -gt $((2 * DEADLINE_MS)) ]; }
check "twice the register deadline has passed" wait_for 10 past
check "A is still registered past twice the register deadline" managed "$A"
lv_wait_ready 60 "$A"
expect 0 "set A 150M" ctl set "$A" 150M
moves "A's balloon moves (spooled registration, managed)" "$A" 150
# ... and across a daemon restart.
stop_daemon TERM
: >"$T/daemon.log"
start_daemon
check "A is registered again after a daemon restart (from disk)" wait_for 10 registered "$A"
check "and managed" wait_field 30 "$A" link up
expect 0 "set A 176M after the daemon restart" ctl set "$A" 176M
moves "A's balloon moves to 176 MiB" "$A" 176

# ---- disable: no longer managed ---------------------------------------------
phase "disable: no longer managed"
expect 0 "balloonctl disable C" ctl disable "$C"
virsh dumpxml --inactive "$C" >"$T/c.xml"
check "C's definition lost balloond's metadata" sh -c "! grep -q 'urn:balloond:guest:1' '$T/c.xml'"
check "and the extra QMP socket" sh -c "! grep -qF '$LV_QMPDIR/$C.sock' '$T/c.xml'"
expect 0 "disable again: idempotent" ctl disable "$C"
check "a running C stays managed until it stops" field_is "$C" link up
virsh destroy "$C" >/dev/null 2>&1
check "destroy unregisters C" wait_for 10 unregistered "$C"
lv_start "$C" || bail "virsh start $C failed"
check "C started again" lv_running "$C"
check "the hook saw C's new start" wait_for 10 sh -c "[ \$(grep -c '^$C started begin rc=0 ' '$LV_HOOK_LOG') -ge 2 ]"
check "C is no longer registered" unregistered "$C"
check "C has no extra QMP socket" test ! -e "$LV_QMPDIR/$C.sock"

check "every hook call exited 0" sh -c "! grep -v ' rc=0 ' '$LV_HOOK_LOG'"
[ ! -s "$LV/hook.err" ] || sed 's/^/# hook: /' "$LV/hook.err"
check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
tap_done
