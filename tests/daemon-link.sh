#!/bin/sh
# daemon-link.sh: what balloond believes QEMU has, against fake guests: a
# dry run that ends, a balloon moved by another monitor, and a reload of
# the [qmp] settings reaching the guests already registered.
. "$top_srcdir/tests/daemon-lib.sh"
PY=/usr/bin/python3

# Deadlines that catch hangs; valgrind makes the daemon many times slower.
D=20
[ "${VALGRIND:-0}" = 1 ] && D=60

start_fake 3

# wire PY-EXPR: a check over fake-qmp's command log (`log`, in arrival
# order; b(SOCKET): its balloon values); exit status from its truth.
wire() {
	"$PY" - "$T/fake.log" "$1" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
def b(sock): return [m["arguments"]["value"] for m in log
                     if m["socket"] == sock and m["execute"] == "balloon"]
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}

# fake_actual_is SOCKET BYTES: the fake guest's actual size.
fake_actual_is() { fake show "$1" | grep -q "\"actual\":$2[,}]"; }

# ---- a dry run that ends sends what it decided ----
# vm0 is a Patroni member of a cluster balloond has no section for: it may
# be the leader, so its target is its max. Another monitor left it at
# 128 MiB. A dry run only says what it would set; once a reload turns the
# dry run off, the target goes out.
fake balloon vm0.qmp 128M >/dev/null
check "another monitor left vm0 at 128 MiB" wait_for $D fake_actual_is vm0.qmp $((128 * MiB))
printf '[daemon]\ndry_run = yes\n' >"$T/link.conf"
BALLOOND_CONF="$T/link.conf" start_daemon
expect 0 "register vm0 (may be the leader)" ctl register vm0 --qmp "$T/vm0.qmp" --min 128M --patroni pg/pg1
check "dry run: it would set vm0 to its max" wait_for $D grep -q "vm0: dry run: would set target 256 MiB" "$T/daemon.log"
check "dry run: nothing was sent" wire 'b("vm0.qmp") == []'
check "dry run: status shows no target sent" field_is vm0 target_bytes 0
printf '[daemon]\ndry_run = no\n' >"$T/link.conf"
expect 0 "reload turns the dry run off" ctl reload
check "the dry run's decision goes out" wait_for $D wire 'b("vm0.qmp") == [256 << 20]'
check "vm0 is back at its max" wait_for $D field_is vm0 actual_bytes $((256 * MiB))
stop_daemon TERM
check "balloond exits 0" test "$STOP_RC" = 0

check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
tap_done
