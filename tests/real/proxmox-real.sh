#!/bin/sh
# proxmox-real.sh: the Proxmox VE hookscript with a real QEMU guest. The
# guest (test-vm) is started with exactly the words Proxmox passes to QEMU
# from a VM config's args:, the config as `balloonctl enable --proxmox`
# prints it (a -chardev socket and a -mon in control mode), beside a QMP
# socket standing for Proxmox's own. Shows: post-start with balloond down
# spools, and balloond started later registers the VM and reaches its
# monitor; balloond drives the real balloon while Proxmox's own socket
# stays free for Proxmox's tools; post-stop unregisters.
. "$top_srcdir/tests/lib/daemon-lib.sh"

G="$T/guests"
mkdir -p "$G"
stop_guests() { "$top_srcdir/test-vm/stop" --dir "$G" >/dev/null 2>&1; }
trap 'stop_guests; cleanup' EXIT

HOOK="$top_builddir/hooks/balloond-proxmox"
VMID=9100
export BALLOOND_STATE_DIR="$STATE"
export BALLOOND_PVE_DIR="$T/pve"
mkdir -p "$BALLOOND_PVE_DIR"
BD_SOCK="$G/$VMID.balloond.qmp" # balloond's monitor (the args: socket)
PVE_SOCK="$G/pve$VMID.qmp"      # test-vm's own: Proxmox's monitor here
cat >"$BALLOOND_PVE_DIR/$VMID.conf" <<EOF
#Real guest for balloond's Proxmox tier.
#balloond%3A min=128M priority=2
args: -chardev socket,id=balloond,path=$BD_SOCK,server=on,wait=off -mon chardev=balloond,mode=control
boot: order=scsi0
cores: 1
memory: 256
name: pve-real
shares: 0
EOF
ARGS=$(sed -n 's/^args: //p' "$BALLOOND_PVE_DIR/$VMID.conf")

registered() { ctl status --json | grep -qF "\"name\": \"$VMID\""; }
unregistered() {
	ctl status --json >"$T/st.json" && ! grep -qF "\"name\": \"$VMID\"" "$T/st.json"
}
spooled() { ls "$STATE/spool" 2>/dev/null | grep -c '\.json$'; }
# actual_mib SOCKET: the balloon's actual size, asked over SOCKET.
actual_mib() {
	a=$("$BALLOONCTL" qmp --socket "$1" query-balloon 2>/dev/null |
		sed -n 's/.*"actual":\([0-9]*\).*/\1/p')
	[ -n "$a" ] && echo $((a / MiB))
}
near() { # near MIB: the guest's actual (over Proxmox's socket) within 1 %
	a=$(actual_mib "$PVE_SOCK")
	[ -n "$a" ] && [ $((a > $1 ? a - $1 : $1 - a)) -le $(($1 / 100 + 1)) ]
}

"$top_srcdir/test-vm/start" --dir "$G" --name "pve$VMID" --mem 256M \
	--qemu-args "$ARGS" >"$T/guest.path" 2>"$T/guest.err" ||
	bail "the guest did not boot: $(tail -n 5 "$T/guest.err")"
diag "guest booted under $(cat "$G/pve$VMID.accel") with args: $ARGS"
check "QEMU opened balloond's monitor from args:" test -S "$BD_SOCK"

# ---- post-start with balloond down: spooled -----------------------------------
t0=$(date +%s%N)
"$HOOK" "$VMID" post-start </dev/null >"$T/out" 2>"$T/err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check "post-start, balloond down: exit 0" test $rc = 0
check "post-start, balloond down: spooled ($ms ms)" grep -q "register not sent.*spooled" "$T/err"
check "one spool file" test "$(spooled)" = 1

start_daemon
check "balloond started later registers the VM from the spool" wait_for 20 registered
check "on balloond's monitor from args:" field_is "$VMID" qmp "$BD_SOCK"
check "max from memory:" field_is "$VMID" max_bytes $((256 * MiB))
check "min from the description" field_is "$VMID" min_bytes $((128 * MiB))
check "the link to the real guest is up" wait_field 30 "$VMID" link up

# ---- balloond drives the real balloon; Proxmox's socket stays usable ------------
expect 0 "set $VMID 160M" ctl set "$VMID" 160M
check "the real balloon moves to 160 MiB (asked on Proxmox's socket)" wait_for 30 near 160
check "Proxmox's own socket answers while balloond holds its monitor" test -n "$(actual_mib "$PVE_SOCK")"
expect 0 "release $VMID" ctl release "$VMID"

# ---- post-start again (idempotent), then the stop -----------------------------
"$HOOK" "$VMID" post-start </dev/null >"$T/out" 2>"$T/err"
check "post-start with balloond up: exit 0, silent" test $? = 0 -a ! -s "$T/err"
check "still registered, link up" field_is "$VMID" link up
"$top_srcdir/test-vm/stop" --dir "$G" --name "pve$VMID" >/dev/null 2>&1
"$HOOK" "$VMID" post-stop </dev/null >"$T/out" 2>"$T/err"
check "post-stop: exit 0, silent" test $? = 0 -a ! -s "$T/err"
check "post-stop: unregistered" unregistered
check "nothing left in the spool" test "$(spooled)" = 0

stop_daemon
check "balloond exits cleanly" test "$STOP_RC" = 0
tap_done
