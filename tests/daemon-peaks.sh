#!/bin/sh
# daemon-peaks.sh: right-sizing from each guest's own history, over 14
# simulated days with a restart in the middle.
#
# balloond and fake-qmp run with tests/fault-preload.so, whose
# BD_FAULT_CLOCK_FILE moves their wall clock (CLOCK_REALTIME, gettimeofday,
# time) ahead by the seconds in $T/clock: the test sets it to noon of each
# simulated UTC day in turn while the monotonic clock runs on. fake-qmp's
# mode used=BYTES sets what each 4 GiB guest reports using (it reports its
# size less that as available). vm0 uses about 1 GiB every day: too big.
# vm1 uses 2.5 GiB, and on days 2, 5 and 9 all but 100 MiB (under half of
# its 256 MiB reserve: starving): too small. After day 6 balloond stops and
# starts again: the days survive it. Then doctor reads the 14 days from
# status, and the metric matches.
. "$top_srcdir/tests/lib/daemon-lib.sh"

CLOCK="$T/clock"
echo 0 >"$CLOCK"
PRELOAD="$top_builddir/tests/fault-preload.so"
ASAN_PRELOAD=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

# A roomy host of fixture files: balloond never reclaims, the guests stay
# at their 4 GiB max, and only their own use changes.
H="$T/host"
mkdir -p "$H/proc/pressure" "$H/proc/sys/vm" "$H/sys"
cat >"$H/proc/meminfo" <<EOT
MemTotal:       67108864 kB
MemFree:        50331648 kB
MemAvailable:   50331648 kB
SwapTotal:       8388604 kB
Committed_AS:   16777216 kB
EOT
echo 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0' >"$H/proc/pressure/memory"
printf 'Filename\tType\tSize\tUsed\tPriority\n/dev/zram0 partition 8388604 0 100\n' >"$H/proc/swaps"
echo 10 >"$H/proc/sys/vm/swappiness"
cat >"$T/balloond.conf" <<EOT
[qmp]
stats_interval_s = 1
[policy]
guest_reserve = 256M
[host]
interval_ms = 200
EOT
export BALLOOND_CONF="$T/balloond.conf"

GiB=$((1024 * MiB))
env LD_PRELOAD="$PRELOAD" BD_FAULT_CLOCK_FILE="$CLOCK" ASAN_OPTIONS="$ASAN_PRELOAD" \
	"$FAKE_QMP" --dir "$T" --count 2 --mem 4G --log "$T/fake.log" \
	--control "$T/fake.ctl" >"$T/fake.out" 2>&1 &
FAKE_PID=$!
wait_for 20 test -S "$T/fake.ctl" || bail "fake-qmp did not start: $(cat "$T/fake.out")"

# start: balloond on the fixture host, its wall clock moved as fake-qmp's.
start() {
	saved_wrap=$DAEMON_WRAP
	DAEMON_WRAP="env LD_PRELOAD=$PRELOAD BD_FAULT_CLOCK_FILE=$CLOCK
		ASAN_OPTIONS=$ASAN_PRELOAD $DAEMON_WRAP"
	start_daemon --proc-root "$H/proc" --sys-root "$H/sys"
	DAEMON_WRAP=$saved_wrap
}

# Day d is noon (UTC) of the d-th day after tomorrow.
BASE=$((($(date +%s) / 86400 + 1) * 86400 + 43200))
set_day() {
	echo $((BASE + $1 * 86400 - $(date +%s))) >"$CLOCK"
}
date_of() { date -u -d "@$((BASE + $1 * 86400))" +%F; }

# newest GUEST: its newest day in status, "DATE USED STARVED" (- for what
# is not there), or "none".
newest() { bdtest newest-peak "$1"; }
newest_is() { test "$(newest "$1")" = "$2"; }

# no_stats GUEST: balloond saw the guest report no statistics.
no_stats() { test -z "$(field "$1" guest_stats)"; }

# history GUEST: its daily_used_peaks as one line of JSON.
history() { bdtest field-json "$1" daily_used_peaks; }

# No statistics until day 0: a sample at the real date would add a day
# before it (as on a busy machine, where registering takes a while).
fake mode '*' stuck >/dev/null || bail "fake-qmp: mode stuck"
start
ctl register vm0 --qmp "$T/vm0.qmp" >/dev/null || bail "register vm0"
ctl register vm1 --qmp "$T/vm1.qmp" >/dev/null || bail "register vm1"
wait_field 20 vm1 actual_bytes $((4 * GiB)) || bail "vm1 not at its max"

# day N: both guests stop reporting (no sample can straddle the change of
# day), the clock moves to day N, and they report again what they use that
# day; the day's peak shows in status. (tap.sh's check uses $d: the day
# is $dn.)
day() {
	dn=$1
	u0=$((GiB + dn * 8 * MiB))
	case $dn in
	2 | 5 | 9) u1=$((4 * GiB - 100 * MiB)) s1=starved ;;
	*) u1=$((2560 * MiB)) s1= ;;
	esac
	fake mode vm0.qmp stuck >/dev/null
	fake mode vm1.qmp stuck >/dev/null
	wait_for 20 no_stats vm0 && wait_for 20 no_stats vm1 ||
		bail "day $dn: the guests' stats did not stop"
	set_day "$dn"
	fake mode vm0.qmp "stuck=0,used=$u0" >/dev/null
	fake mode vm1.qmp "stuck=0,used=$u1" >/dev/null
	check "day $dn: vm0's peak $u0" wait_for 30 newest_is vm0 "$(date_of "$dn") $u0 -"
	check "day $dn: vm1's peak $u1${s1:+ ($s1)}" wait_for 30 newest_is vm1 "$(date_of "$dn") $u1 ${s1:--}"
}

for n in 0 1 2 3 4 5 6; do
	day "$n"
done

# The restart: today's peaks so far (day 6) are journaled at shutdown,
# the earlier days when their next day began.
h0=$(history vm0)
h1=$(history vm1)
check "7 days before the restart" test "$(echo "$h0" | grep -o '"date"' | wc -l)" = 7 ||
	diag "vm0's days: $h0"
stop_daemon TERM
check "balloond stopped cleanly" test "$STOP_RC" = 0
check "the journal holds the peaks" grep -q '"peaks"' "$STATE/guests.journal"
start
check "vm0's days survive the restart" test "$(history vm0)" = "$h0"
check "vm1's days survive the restart" test "$(history vm1)" = "$h1"
wait_field 20 vm1 link up || bail "vm1's link did not come back"

for n in 7 8 9 10 11 12 13; do
	day "$n"
done

# The same guest registered again with other settings keeps its days.
h0=$(history vm0)
ctl register vm0 --qmp "$T/vm0.qmp" --min 1G --no-wait >/dev/null ||
	not_ok "vm0 registered again"
check "vm0 registered again with min 1 GiB" wait_field 20 vm0 min_bytes $GiB
check "vm0's days stay with it" test "$(history vm0)" = "$h0"
wait_field 20 vm0 link up || bail "vm0's link did not come back"

# ---- what 14 days say ----
check "vm0: 14 days" test "$(history vm0 | grep -o '"used_bytes"' | wc -l)" = 14
check "vm1: 3 days starved" test "$(history vm1 | grep -o '"starved": true' | wc -l)" = 3
check "vm0's used_peak_bytes: day 13's" field_is vm0 used_peak_bytes $((GiB + 104 * MiB))
check "vm1's used_peak_bytes: a starving day's" field_is vm1 used_peak_bytes $((4 * GiB - 100 * MiB))
ctl metrics >"$T/metrics" || not_ok "balloonctl metrics"
check "the metric: vm0's peak" grep -qx "balloond_guest_used_peak_bytes{guest=\"vm0\"} $((GiB + 104 * MiB))" "$T/metrics"
check "the metric: vm1's peak" grep -qx "balloond_guest_used_peak_bytes{guest=\"vm1\"} $((4 * GiB - 100 * MiB))" "$T/metrics"

"$BALLOONCTL" doctor --proc-root "$H/proc" --sys-root "$H/sys" --etc-root "$T/etc" \
	--json >"$T/json" 2>"$T/err"
doctor_rc=$?
"$PY" "$top_srcdir/tests/doctor-json.py" "$T/json" >"$T/ids" ||
	not_ok "doctor --json is what balloonctl(8) says"
# finding ID TITLE-START: the finding's evidence and fix, or nothing.
finding() { bdtest finding "$T/json" "$1" "$2"; }
finding guest_too_big vm0 >"$T/big0"
finding guest_too_big vm1 >"$T/big1"
finding guest_too_small vm1 >"$T/small1"
finding guest_too_small vm0 >"$T/small0"
check "vm0: guest_too_big (info)" test "$(head -n 1 "$T/big0")" = info
# 1128 MiB + the 256 MiB reserve = 1384 MiB, up to 256 MiB: 1536 MiB.
check "vm0: suggested max 1536 MiB" grep -q "on 14 of the last 14 days.*rounded up to 256 MiB: 1536 MiB" "$T/big0"
check "vm0: the libvirt commands" grep -q "virsh setmaxmem vm0 1536MiB --config" "$T/big0"
check "vm0: a cold restart" grep -q "cold restart" "$T/big0"
check "vm0: the Proxmox VE command" grep -q "qm set VMID --memory 1536" "$T/big0"
check "vm1 (peak 3996 MiB of 4 GiB): no guest_too_big" test ! -s "$T/big1"
check "vm1: guest_too_small (warning)" test "$(head -n 1 "$T/small1")" = warning
check "vm1: starved on 3 of the last 14 days" grep -q "marks 3 days starved" "$T/small1"
# 3996 MiB + two reserves = 4508 MiB, up to 256 MiB: 4608 MiB.
check "vm1: suggested max 4608 MiB" grep -q "virsh setmaxmem vm1 4608MiB --config" "$T/small1"
check "vm0 never starved: no guest_too_small" test ! -s "$T/small0"
check "doctor: exit 0 (nothing critical)" test "$doctor_rc" = 0

# ---- unregistering keeps the history, by name, for the window ----
# (A hook unregisters a guest whenever its VM stops, and at a host
# shutdown.) vm1 unregistered and registered again has its days back.
h1=$(history vm1)
ctl unregister vm1 >/dev/null || not_ok "unregister vm1"
check "vm1 unregistered" test -z "$(field vm1 name)"
ctl register vm1 --qmp "$T/vm1.qmp" >/dev/null || not_ok "vm1 registered again"
check "vm1's days are back after unregister and register" test "$(history vm1)" = "$h1"
ctl metrics >"$T/metrics" || not_ok "balloonctl metrics"
check "the metric: vm1's peak is back" grep -qx "balloond_guest_used_peak_bytes{guest=\"vm1\"} $((4 * GiB - 100 * MiB))" "$T/metrics"
# Across restarts: the retirement is journaled (with today's peaks so
# far), the first start writes it into a snapshot, the second reads it
# from there.
ctl unregister vm1 >/dev/null || not_ok "unregister vm1 again"
stop_daemon TERM
check "the journal's removal of vm1 holds its days" grep -q '^{"del":"vm1","days":\[{' "$STATE/guests.journal"
start
stop_daemon TERM
# retired NAME: the names the snapshot keeps retired peaks for.
retired() { bdtest json-names retired "$STATE/guests.json"; }
check "the snapshot keeps vm1's days retired" test "$(retired)" = vm1
start
ctl register vm1 --qmp "$T/vm1.qmp" >/dev/null || not_ok "vm1 registered after two restarts"
check "vm1's days are back after two restarts" test "$(history vm1)" = "$h1"

# A guest skipped at load (its snapshot entry edited by hand to a relative
# QMP socket, which registration refuses) keeps its days, retired, for
# when it is registered again.
stop_daemon TERM
start
stop_daemon TERM
sed -i "s|\"qmp\": \"$T/vm1.qmp\"|\"qmp\": \"vm1.qmp\"|" "$STATE/guests.json"
grep -q '"qmp": "vm1.qmp"' "$STATE/guests.json" || bail "vm1's socket was not made relative in the snapshot"
start
check "vm1 is skipped at load" grep -q "guest vm1 skipped: QMP socket 'vm1.qmp' must be an absolute path" "$T/daemon.log"
check "vm1 is not registered" test -z "$(field vm1 name)"
ctl register vm1 --qmp "$T/vm1.qmp" >/dev/null || not_ok "vm1 registered after it was skipped at load"
check "vm1's days are back after it was skipped at load" test "$(history vm1)" = "$h1"

# Three days on without a sample: the window leaves days 0 to 2 out.
fake mode '*' stuck >/dev/null
wait_for 20 no_stats vm0 || bail "vm0's stats did not stop"
set_day 16
# Days 3 to 13 of both guests: 22 dates in status.
window_moved() { test "$(ctl status --json | grep -c '"date"')" = 22; }
check "day 16: days 3 to 13 left" wait_for 20 window_moved
ctl status --json >"$T/st" || not_ok "status on day 16"
check "day 16: day 3 is there" grep -q "\"$(date_of 3)\"" "$T/st"
check "day 16: day 2 is not" sh -c "! grep -q '\"$(date_of 2)\"' '$T/st'"

# A retired record lasts as long as its newest day is in the window:
# vm0's newest is day 13, still there on day 26 (after a restart), gone
# on day 27, from status and from the state files.
ctl unregister vm0 >/dev/null || not_ok "unregister vm0"
set_day 26
stop_daemon TERM
start
ctl register vm0 --qmp "$T/vm0.qmp" --no-wait >/dev/null || not_ok "vm0 registered on day 26"
check "day 26: vm0's day 13 is back" test "$(newest vm0)" = "$(date_of 13) $((GiB + 104 * MiB)) -"
ctl unregister vm0 >/dev/null || not_ok "unregister vm0 on day 26"
set_day 27
stop_daemon TERM
start
stop_daemon TERM
check "day 27: vm0's retired days are dropped from the snapshot" test -z "$(retired)"
check "day 27: and from the journal" sh -c "! grep -q '\"del\"' '$STATE/guests.journal'"
start
ctl register vm0 --qmp "$T/vm0.qmp" --no-wait >/dev/null || not_ok "vm0 registered on day 27"
check "day 27: vm0 starts anew" test "$(newest vm0)" = none

stop_daemon TERM
check "balloond stopped cleanly at the end" test "$STOP_RC" = 0
tap_done
