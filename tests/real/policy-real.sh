#!/bin/sh
# policy-real.sh: the policy engine on two real QEMU guests (test-vm). A
# --proc-root fixture plays the host: when it reports pressure, the guests
# shrink toward their min, taking only what they report free; when it
# clears, they grow back. A guest that allocates memory inside itself while
# shrunk is grown back. Below the critical watermark, a starving guest that
# is no leader gives what it reports available; the leader never gives.
# Under --dry-run the plan is logged and nothing is sent.
. "$top_srcdir/tests/lib/daemon-lib.sh"

G="$T/guests"
P="$T/proc"
mkdir -p "$G" "$P/pressure"
stop_guests() { "$top_srcdir/test-vm/stop" --dir "$G" >/dev/null 2>&1; }
trap 'stop_guests; cleanup' EXIT

# host AVAILABLE_MIB: an 8 GiB host with that much available (reserve
# 512 MiB, low watermark 409.6 MiB, high 819.2 MiB, critical 163.84 MiB:
# the defaults; the headroom is what is available less the reserve).
host() {
	cat >"$P/meminfo.tmp" <<EOF
MemTotal:        8388608 kB
MemFree:         $(($1 * 1024)) kB
MemAvailable:    $(($1 * 1024)) kB
EOF
	mv "$P/meminfo.tmp" "$P/meminfo"
}
host 7000
printf 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n' >"$P/pressure/memory"

for g in g1 g2; do
	"$top_srcdir/test-vm/start" --dir "$G" --name $g --mem 512M --interval 0 >"$T/$g.path" 2>"$T/$g.err" &
	eval "p_$g=\$!"
done
wait "$p_g1" || bail "guest g1 did not boot: $(tail -n 5 "$T/g1.err")"
wait "$p_g2" || bail "guest g2 did not boot: $(tail -n 5 "$T/g2.err")"
diag "guests booted under $(cat "$G/g1.accel")"

actual() { field "$1" actual_bytes; }
below() { a=$(actual "$1"); [ -n "$a" ] && [ "$a" -lt "$2" ]; }
above() { a=$(actual "$1"); [ -n "$a" ] && [ "$a" -gt "$2" ]; }

printf '[host]\ninterval_ms = 200\n[qmp]\nstats_interval_s = 1\n' >"$T/policy.conf"
export BALLOOND_CONF="$T/policy.conf"

# ---- dry run: the plan is logged, nothing is sent ----
start_daemon --proc-root "$P" --dry-run
for g in g1 g2; do
	ctl register $g --qmp "$G/$g.qmp" --min 200M >/dev/null || bail "register $g"
done
host 300
check "dry run: pressure is seen" wait_for 20 grep -q "host under memory pressure" "$T/daemon.log"
check "dry run: the shrinks are logged" wait_for 20 grep -q "g[12]: dry run: would set target" "$T/daemon.log"
check "dry run: g1's balloon did not move" test "$(actual g1)" = $((512 * MiB))
stop_daemon TERM
host 7000

# ---- pressure: donors shrink toward min, taking only what is free ----
start_daemon --proc-root "$P"
check "both guests managed" wait_field 20 g2 link up
check "no pressure: g1 at its max" wait_field 20 g1 actual_bytes $((512 * MiB))
check "guest stats arrive" wait_for 20 sh -c "'$BALLOONCTL' status --json | grep -q available_bytes"
# 800 MiB available: headroom 288 MiB, under the low watermark, above the
# critical one.
host 800
check "the host's pressure is seen" wait_for 20 sh -c "'$BALLOONCTL' status --json | grep -q '\"reclaiming\": true'"
check "g1 shrinks under host pressure" wait_for 60 below g1 $((400 * MiB))
check "g2 shrinks under host pressure" wait_for 60 below g2 $((400 * MiB))
check "the reason says why" sh -c "'$BALLOONCTL' status | grep -q 'pressure'"
# Never below min (within the balloon's own rounding).
for g in g1 g2; do
	check "$g never below its min" test "$(actual $g)" -ge $((199 * MiB))
done
check "no target outside the bounds was ever attempted" sh -c "! grep -q 'refusing target' '$T/daemon.log'"

# ---- a guest that needs its memory gets it back, even under pressure ----
# Pressure, but not critical: 700 MiB available (headroom 188 MiB). The
# host's figures are a fixture, so the pressure lasts and g1 gives all it
# can: down to its min, where it still has more than its reserve
# available. Its size is taken once it is there: a guest still shrinking
# when the hold starts is grown from lower down (a slow machine once read
# 355 MiB here, and g1 then went on to its min).
host 700
check "g1 gives down to its min under lasting pressure" wait_for 60 below g1 $((201 * MiB))
shrunk=$(actual g1)
diag "g1 shrunk to $((shrunk / MiB)) MiB"
# Take all but 24 MiB of what g1 has available: below half its reserve
# (64 MiB), starving, but not out of memory (no deflate-on-oom here: an OOM
# panics the guest).
avail_kib=$("$top_srcdir/test-vm/cmd" --dir "$G" --name g1 --timeout 60 status | sed 's/.*avail_kib=\([0-9]*\).*/\1/')
diag "g1 has $((avail_kib / 1024)) MiB available"
"$top_srcdir/test-vm/cmd" --dir "$G" --name g1 --timeout 60 hold $((avail_kib / 1024 - 24))M >"$T/hold.out" 2>&1
diag "g1 hold: $(cat "$T/hold.out")"
check "g1, starving after allocating inside, is grown back" wait_for 60 above g1 $((shrunk + 32 * MiB))
diag "g1 now: $("$BALLOONCTL" status | grep g1)"
check "the plan said why: starving" grep -q '"guest":"g1",[^}]*"reason":"starving' "$T/daemon.log"
"$top_srcdir/test-vm/cmd" --dir "$G" --name g1 --timeout 60 hold 0 >/dev/null 2>&1

# ---- pressure clears: everyone grows back ----
host 7000
check "pressure over" wait_for 20 sh -c "'$BALLOONCTL' status --json | grep -q '\"reclaiming\": false'"
check "g1 grows back to its max" wait_field 60 g1 actual_bytes $((512 * MiB))
check "g2 grows back to its max" wait_field 60 g2 actual_bytes $((512 * MiB))

stop_daemon TERM
check "SIGTERM exits 0" test "$STOP_RC" = 0

# ---- critical: a starving guest that is no leader gives; the leader never ----
printf '[host]\ninterval_ms = 200\n[qmp]\nstats_interval_s = 1\n[cluster pg]\n' >"$T/critical.conf"
# (daemon.log goes on from the runs above: this one's plans start here.)
from=$(($(wc -l <"$T/daemon.log") + 1))
logged() { tail -n +"$from" "$T/daemon.log" | grep -q "$1"; }
BALLOOND_CONF="$T/critical.conf" start_daemon --proc-root "$P"
# (The daemon kept both registrations from above: registered again, g1 as
# a Patroni member.)
for g in g1 g2; do
	expect 0 "unregister $g" ctl unregister $g
done
expect 0 "register g1 as the Patroni member pg/pg1" ctl register g1 --qmp "$G/g1.qmp" --patroni pg/pg1 --min 200M
expect 0 "register g2, a plain guest" ctl register g2 --qmp "$G/g2.qmp" --min 200M
expect 0 "push: g1 is the leader" ctl role pg pg1 master
check "g1 is known as the leader" wait_field 20 g1 role leader
check "g2's stats arrive" wait_for 20 sh -c "'$BALLOONCTL' status --json | grep -q available_bytes"
# g2 keeps 24 MiB available: under half its reserve (64 MiB), starving.
avail_kib=$("$top_srcdir/test-vm/cmd" --dir "$G" --name g2 --timeout 60 status | sed 's/.*avail_kib=\([0-9]*\).*/\1/')
"$top_srcdir/test-vm/cmd" --dir "$G" --name g2 --timeout 60 hold $((avail_kib / 1024 - 24))M >"$T/hold2.out" 2>&1
diag "g2 hold: $(cat "$T/hold2.out")"
check "g2 is starving" wait_field 30 g2 starving true
before=$(actual g2)
# 600 MiB available: headroom 88 MiB, under the critical watermark.
host 600
check "the critical tier is entered (logged)" wait_for 20 logged "below its critical watermark"
check "g2, starving and no leader, gives under the critical tier" wait_for 60 below g2 $((before - 8 * MiB))
check "the plan said why: the critical tier" logged '"guest":"g2",[^}]*"reason":"host critical'
diag "g2 now: $("$BALLOONCTL" status | grep g2)"
check "g2 never below its min" test "$(actual g2)" -ge $((199 * MiB))
check "the leader g1 stays at its max" field_is g1 actual_bytes $((512 * MiB))
tail -n +"$from" "$T/daemon.log" | grep -o '"guest":"g1","target_bytes":[0-9]*' >"$T/g1.targets"
diag "g1's targets since: $(sort -u "$T/g1.targets" | tr '\n' ' ')"
check "no plan took from the leader" sh -c "! grep -qv ':$((512 * MiB))\$' '$T/g1.targets'"
"$top_srcdir/test-vm/cmd" --dir "$G" --name g2 --timeout 60 hold 0 >/dev/null 2>&1
host 7000
check "the critical tier is left (logged)" wait_for 20 logged "above its critical watermark again"
check "g2 grows back to its max" wait_field 60 g2 actual_bytes $((512 * MiB))
stop_daemon TERM
check "SIGTERM exits 0 (critical)" test "$STOP_RC" = 0
check "the fixture was never written" grep -q "^some avg10=0.00" "$P/pressure/memory"
check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
tap_done
