#!/bin/sh
# hook-proxmox.sh: the Proxmox VE hookscript (hooks/balloond-proxmox) as
# Proxmox runs it, argv VMID PHASE, against the fixture VM configs of
# tests/pve/ (BALLOOND_PVE_DIR), a private balloond (BALLOOND_SOCKET,
# BALLOOND_STATE_DIR) and fake QMP guests; no Proxmox needed. Registration
# on post-start from either monitor syntax with every description field,
# unregistration on post-stop, silence for unmarked VMs and other phases,
# the auto-balloon warning, one clear line and exit 0 for bad input, and
# the spool when balloond is down or stopped.
. "$top_srcdir/tests/lib/daemon-lib.sh"

HOOK="$top_builddir/hooks/balloond-proxmox"
export BALLOOND_STATE_DIR="$STATE"
export BALLOOND_PVE_DIR="$T/pve"
mkdir -p "$BALLOOND_PVE_DIR"
# The fixtures, their monitors pointing at the fake guests $T/vmN.qmp.
for f in "$top_srcdir"/tests/pve/*.conf; do
	sed "s|@DIR@|$T|g" "$f" >"$BALLOOND_PVE_DIR/$(basename "$f")"
done

# hook VMID PHASE: run the hookscript as Proxmox does; output in $T/out
# and $T/err, exit status in HOOK_RC, run time in HOOK_MS.
hook() {
	t0=$(date +%s%N)
	"$HOOK" "$@" </dev/null >"$T/out" 2>"$T/err"
	HOOK_RC=$?
	HOOK_MS=$((($(date +%s%N) - t0) / 1000000))
}
hook_ok() { check "$1: exit 0" test "$HOOK_RC" = 0; }
silent() { check "$1: no output" test ! -s "$T/out" -a ! -s "$T/err"; }
one_line() { check "$1: one line on stderr, naming the VM" test "$(wc -l <"$T/err")" = 1 -a "$(grep -c "^balloond-proxmox: $2: " "$T/err")" = 1; }
registered() { ctl status --json | grep -qF "\"name\": \"$1\""; }
not_registered() { ! registered "$1"; }
spooled() { ls "$STATE/spool" 2>/dev/null | grep -c '\.json$'; }
# spool_empty: for wait_for, which must count again at every poll (a
# "$(spooled)" in its arguments is counted once, before it starts).
spool_empty() { test "$(spooled)" = 0; }

start_fake 7

# ---- balloond down, before it ever ran: the spool ----
hook 100 pre-start
BASE_MS=$HOOK_MS # a hook that does nothing: this machine's process start
hook_ok "pre-start"
silent "pre-start"
hook 100 post-start
hook_ok "post-start, balloond never started"
check "says the request was spooled" grep -q "register not sent.*spooled in $STATE/spool" "$T/err"
one_line "spooled" 100
check "a spool file (the state dir made for it)" test "$(spooled)" = 1
timely "no daemon: no wait for the hard timeout (${HOOK_MS} ms against ${BASE_MS} ms doing nothing): the difference" $((HOOK_MS - BASE_MS)) 700

start_daemon
check "a daemon started later carries the spooled register out" wait_for 20 registered 100
check "the spool file is removed once on disk" wait_for 20 spool_empty

# ---- 100: -chardev/-mon, a description line with every field ----
hook 100 post-start
hook_ok "post-start again"
silent "post-start again: idempotent"
check "still one 100" test "$(ctl status --json | grep -c '"name": "100"')" = 1
check "QMP socket from -chardev/-mon in args:" field_is 100 qmp "$T/vm0.qmp"
check "max from the description (below memory:)" field_is 100 max_bytes $((224 * MiB))
check "min from the description" field_is 100 min_bytes $((128 * MiB))
check "replica target from the description" field_is 100 replica_target_bytes $((160 * MiB))
check "priority from the description" field_is 100 priority 7
check "Patroni cluster from the description" field_is 100 cluster nosuchcluster
check "Patroni member from the description" field_is 100 member m0
check "on disk when the hook returns" on_disk 100 max_bytes $((224 * MiB))
check "a cluster balloond does not know: kept at max" wait_field 10 100 actual_bytes $((224 * MiB))
check "QEMU was told max, on balloond's own monitor" test "$(balloons vm0.qmp | tail -n 1)" = $((224 * MiB))

# ---- 101: -qmp unix:...,server,nowait; memory: current= ----
hook 101 post-start
hook_ok "-qmp monitor"
silent "-qmp monitor"
check "registered under its VMID" registered 101
check "QMP socket from -qmp in args:" field_is 101 qmp "$T/vm1.qmp"
check "max from memory: current=224" field_is 101 max_bytes $((224 * MiB))
check "no balloond: line: min defaults to max" field_is 101 min_bytes $((224 * MiB))

# ---- 102: not balloond's ----
for ph in pre-start post-start pre-stop post-stop; do
	hook 102 $ph
	check "unmarked VM, $ph: exit 0 and silent" test "$HOOK_RC" = 0 -a ! -s "$T/err" -a ! -s "$T/out"
done
check "unmarked VM: not registered" not_registered 102

# ---- 103: Proxmox's auto-balloon would move it too ----
hook 103 post-start
hook_ok "auto-balloon conflict"
check "warns that Proxmox's auto-ballooning moves it too" grep -q "auto-ballooning also moves this VM (balloon: is set and shares: is not 0)" "$T/err"
check "the warning says what to run" grep -qF 'qm set 103 --shares 0' "$T/err"
one_line "auto-balloon conflict" 103
check "registered all the same" registered 103
check "its min from the description" field_is 103 min_bytes $((96 * MiB))

# ---- 104, 105: refused with one line ----
hook 104 post-start
hook_ok "balloon: 0"
check "balloon: 0: says there is no balloon device" grep -q "balloon: 0 removes the VM's virtio-balloon device; not registered" "$T/err"
one_line "balloon: 0" 104
check "balloon: 0: not registered" not_registered 104
hook 105 post-start
hook_ok "unknown key"
check "unknown key: names the file, the line and the key" grep -qF "$BALLOOND_PVE_DIR/105.conf: line 1: balloond: line: unknown key 'lowest'" "$T/err"
one_line "unknown key" 105
check "unknown key: not registered" not_registered 105

# ---- 106: snapshots and pending changes are not the VM's config ----
hook 106 post-start
hook_ok "snapshots and pending"
check "the VM's own monitor, not a snapshot's or a pending one" field_is 106 qmp "$T/vm6.qmp"
check "the VM's own description line (min 100M)" field_is 106 min_bytes $((100 * MiB))

# ---- stops ----
hook 100 pre-stop
silent "pre-stop"
check "pre-stop: still registered" registered 100
hook 100 post-stop
hook_ok "post-stop"
silent "post-stop"
check "post-stop: unregistered" not_registered 100
check "post-stop: gone from disk" not_on_disk 100
hook 100 post-stop
hook_ok "post-stop of a VM balloond does not know"
silent "post-stop of a VM balloond does not know"
mv "$BALLOOND_PVE_DIR/101.conf" "$T/101.conf.away"
hook 101 post-stop
hook_ok "post-stop, the config gone"
check "post-stop, the config gone: unregistered all the same" not_registered 101
hook 101 post-start
hook_ok "post-start, no config"
check "post-start, no config: one line naming the file" grep -qF "$BALLOOND_PVE_DIR/101.conf: No such file or directory; balloond not told" "$T/err"
mv "$T/101.conf.away" "$BALLOOND_PVE_DIR/101.conf"

# ---- bad invocations: exit 0, a clear line ----
"$HOOK" </dev/null >/dev/null 2>"$T/err"
check "no arguments: exit 0" test $? = 0
check "no arguments: a usage line" grep -q usage "$T/err"
for v in ../100 100x 0100 '' 1234567890; do
	hook "$v" post-start
	check "VMID '$v': exit 0" test "$HOOK_RC" = 0
	check "VMID '$v': refused" grep -q "not a VMID" "$T/err"
done
hook 100 migrate
hook_ok "an unknown phase"
silent "an unknown phase"
head -c 1100000 /dev/zero | tr '\0' '#' >"$BALLOOND_PVE_DIR/107.conf"
hook 107 post-start
hook_ok "an oversized config"
check "an oversized config: says so" grep -q "107.conf: Message too long; balloond not told" "$T/err"

# ---- balloond stopped (SIGSTOP): back within the deadline, spooled ----
kill -STOP "$DAEMON_PID"
hook 100 post-start
kill -CONT "$DAEMON_PID"
hook_ok "a stopped (SIGSTOP) daemon"
timely "a stopped daemon: back within the hard timeout" "$HOOK_MS" 2500
check "a stopped daemon: spooled" grep -q "spooled" "$T/err"
check "once it runs again the VM is registered" wait_for 20 registered 100
check "and the spool is empty" wait_for 20 spool_empty ||
	diag "left in the spool: $(ls -l "$STATE/spool" | tr '\n' ';'); the daemon's spool lines: $(grep 'spool' "$T/daemon.log" | tail -n 5 | tr '\n' ';')"

# ---- balloond down: the unregister spooled too ----
stop_daemon
hook 106 post-stop
hook_ok "post-stop, balloond down"
check "post-stop, balloond down: unregister spooled" grep -q "unregister not sent.*spooled" "$T/err"
start_daemon
check "the spooled unregister is carried out at start" wait_for 20 not_registered 106
check "the others are still registered" registered 100

# ---- the hookscript's own run time ----
times=
for i in 1 2 3 4 5; do
	hook 101 post-start
	a=$HOOK_MS
	hook 101 post-stop
	times="$times $a/$HOOK_MS"
done
diag "hookscript run time, post-start/post-stop pairs (ms):$times"

# ---- balloonctl enable --proxmox: its qm set commands, run, mark the VM ----
# qm set VMID --OPTION VALUE, as Proxmox applies it to the VM's config
# (one line per key; the description is left alone).
qm() {
	[ "$1" = set ] || return 2
	qf="$BALLOOND_PVE_DIR/$2.conf"
	shift 2
	while [ $# -ge 2 ]; do
		k=${1#--}
		grep -v "^$k:" "$qf" >"$qf.new"
		echo "$k: $2" >>"$qf.new"
		mv "$qf.new" "$qf"
		shift 2
	done
}
expect 0 "enable --proxmox 102 (unmarked, with args: of its own)" ctl enable --proxmox 102
cp "$T/out" "$T/enable.out"
sed 's/^/#   /' "$T/enable.out"
check "prints qm set --args, keeping its args" grep -qxF "qm set 102 --args '-cpu host,+kvm_pv_unhalt -chardev socket,id=balloond,path=/run/balloond/pve/102.qmp,server=on,wait=off -mon chardev=balloond,mode=control'" "$T/enable.out"
check "prints qm set --hookscript in local's snippets" grep -qxF "qm set 102 --hookscript local:snippets/balloond-proxmox" "$T/enable.out"
check "prints qm set --shares 0" grep -qxF "qm set 102 --shares 0" "$T/enable.out"
check "every other line is a shell comment" sh -c "! grep -v -e '^qm set ' -e '^#' '$T/enable.out'"
cp "$BALLOOND_PVE_DIR/102.conf" "$T/102.before"
check "nothing was changed" cmp -s "$T/102.before" "$BALLOOND_PVE_DIR/102.conf"
eval "$(cat "$T/enable.out")"
hook 102 post-start
hook_ok "102 after the printed qm set commands"
check "the hookscript now registers 102 on balloond's monitor socket" field_is 102 qmp /run/balloond/pve/102.qmp
check "no auto-balloon warning after shares: 0" sh -c "! grep -q auto-ballooning '$T/err'"
hook 102 post-stop
check "and unregisters it" not_registered 102
expect 0 "enable --proxmox again: idempotent" ctl enable --proxmox 102
check "the second run prints args: as they are" grep -qxF "$(grep '^args: ' "$BALLOOND_PVE_DIR/102.conf" | sed "s/^args: \(.*\)/qm set 102 --args '\1'/")" "$T/out"
expect 0 "enable --proxmox of a VM without a readable config" ctl enable --proxmox 4242 --storage cephfs
out_has "qm set 4242 --args '-chardev socket,id=balloond,path=/run/balloond/pve/4242.qmp,server=on,wait=off -mon chardev=balloond,mode=control'"
out_has "qm set 4242 --hookscript cephfs:snippets/balloond-proxmox"
expect 0 "enable --proxmox of a VM with balloon: 0" ctl enable --proxmox 104
out_has "qm set 104 --delete balloon"
expect 2 "enable --proxmox takes a VMID" ctl enable --proxmox 10a
err_has "takes a VMID"
expect 2 "enable --proxmox: a storage ID" ctl enable --proxmox 100 --storage 'a b'
err_has "storage ID"
expect 2 "enable --proxmox: no libvirt options" ctl enable --proxmox 100 --min 1G
err_has "description"

stop_daemon
check "balloond exits cleanly" test "$STOP_RC" = 0
tap_done
