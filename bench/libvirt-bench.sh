#!/bin/sh
# libvirt-bench.sh: what one balloon change costs through libvirt and
# through balloond, on a real libvirtd and real guests, in one run.
# tests/lib/libvirt-lib.sh starts virtlogd and libvirtd with balloond's qemu
# hook; two test-vm domains of the same size boot side by side:
#   bdtest-plain  no balloond metadata: changed with
#                 `virsh setmem DOMAIN SIZE --live`, a process per call
#                 (what cron-style tools do);
#   bdtest-bd     balloond's metadata: changed with `balloonctl set`, a
#                 process per call, while `balloonctl monitor --json`
#                 records the daemon's own events: per command, the QMP
#                 round trip (command_done's latency_us) and the time from
#                 the set request (its pin event) to the command written.
# Sizes alternate between 160M and 224M, so that every call is a change
# (balloond skips a change within its deadband, 16 MiB, of the actual).
# A balloonctl set returns once the pin is on disk (fsync); virsh setmem
# once QEMU answered `balloon`. Use a build without sanitizers.
# Then the hook's own run time: per start and per stop, from the hook
# wrapper's log over CYCLES real `virsh start`/`virsh destroy` cycles, and
# the hook program run directly RUNS times with a captured domain XML
# (started begin, then stopped end, against the running daemon).
# Prints n, median, p99, max, and each median's ratio to virsh setmem's.
#
#   [top_builddir=BUILD] [RUNS=200] [CTL_RUNS=RUNS*3/2] [CYCLES=10]
#       bench/libvirt-bench.sh
#
# CTL_RUNS: more balloonctl sets than virsh calls, because not every set
# sends a command: when a shrink follows a grow within QEMU's one-second
# BALLOON_CHANGE rate limit, balloond can read the late report of the grow
# as the guest deflating by itself ("deflated" events, counted below) and
# then holds shrinks back for a while ("pinned, but starving: not shrunk").
#
# Needs root, libvirt-daemon-system, QEMU, a built tree (balloond,
# balloonctl, hooks/qemu). Everything it starts is stopped on exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-.}
top_builddir=$(cd "$top_builddir" && pwd)
export top_srcdir top_builddir
RUNS=${RUNS:-200}
CTL_RUNS=${CTL_RUNS:-$((RUNS * 3 / 2))}
CYCLES=${CYCLES:-10}
PY=${PYTHON3:-/usr/bin/python3}
TOOL="$here/libvirt_bench.py"

. "$top_srcdir/tests/lib/daemon-lib.sh"
. "$top_srcdir/tests/lib/libvirt-lib.sh"
MON_PID=
stop_monitor() {
	[ -z "$MON_PID" ] || { kill -TERM "$MON_PID" 2>/dev/null; wait "$MON_PID" 2>/dev/null; }
	MON_PID=
}
trap 'stop_monitor; lv_cleanup; cleanup' EXIT
die() {
	echo "libvirt-bench.sh: $*" >&2
	exit 1
}
for p in "$BALLOOND" "$BALLOONCTL" "$LV_HOOK"; do
	[ -x "$p" ] || die "$p not built (make in $top_builddir)"
done

P=${LV_PREFIX}plain D=${LV_PREFIX}bd H=${LV_PREFIX}hook
MEM=256
lv_setup >&2
start_daemon
lv_define "$P" $MEM - noqmp
lv_define "$D" $MEM '<balloond:memory min="128M"/>'
lv_define "$H" 160 '<balloond:memory min="128M"/>'
lv_start "$P" || die "virsh start $P failed"
lv_start "$D" || die "virsh start $D failed"
lv_wait_ready 180 "$P" "$D" >&2
wait_for 30 field_is "$D" link up || die "$D is not managed by balloond"
R="$T/res"
mkdir -p "$R"

echo "libvirt-bench: libvirt $("$LV_LIBVIRTD" --version | awk '{print $NF}'), domains of type $LV_TYPE, $MEM MiB guests, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# virsh setmem, a process per change.
"$PY" "$TOOL" procs "$RUNS" "$R/virsh" virsh -q -c "$LV_URI" setmem "$P" --live \
	-- 160M 224M || die "virsh setmem failed"

# balloonctl set, a process per change, with the daemon's events.
"$BALLOONCTL" monitor --json >"$R/monitor.json" 2>"$R/monitor.err" &
MON_PID=$!
# Subscribed once a set shows up in it.
wait_for 10 sh -c "'$BALLOONCTL' set '$D' 216M >/dev/null && grep -q '\"pin\"' '$R/monitor.json'" ||
	die "balloonctl monitor shows nothing"
"$PY" "$TOOL" procs "$CTL_RUNS" "$R/ctl" "$BALLOONCTL" set "$D" \
	-- 160M 224M || die "balloonctl set failed"
# Every command written has its answer.
wait_for 10 sh -c "[ \$(grep -c '\"command_done\"' '$R/monitor.json') -ge \$(grep -c '\"event\":\"command\"' '$R/monitor.json') ]" ||
	die "not every command balloond sent was answered"
stop_monitor
"$PY" "$TOOL" events "$R/monitor.json" "$R/daemon" "$D"

# The hook: real starts and stops through libvirtd ...
: >"$LV_HOOK_LOG"
i=0
while [ $i -lt "$CYCLES" ]; do
	lv_start "$H" || die "virsh start $H failed"
	wait_for 10 field_is "$H" link up || die "$H not registered on start"
	virsh destroy "$H" >/dev/null 2>&1 || die "virsh destroy $H failed"
	i=$((i + 1))
done
"$PY" "$TOOL" hooklog "$LV_HOOK_LOG" "$R/hook-real"
# ... and the program alone, a domain's XML on stdin (a name of its own and
# a QMP socket nobody serves, so no running guest is disturbed).
virsh dumpxml "$D" | sed "s|<name>$D</name>|<name>${LV_PREFIX}direct</name>|;
	s|$LV_QMPDIR/$D.sock|$T/direct.sock|" >"$R/direct.xml"
export BALLOOND_STATE_DIR="$STATE"
"$PY" "$TOOL" hook "$RUNS" "$R/hook-direct" "$LV_HOOK" "$R/direct.xml" \
	"${LV_PREFIX}direct" || die "hook runs failed"

echo
echo "Per balloon change (a process per call; ratio: virsh setmem's median over this one's):"
"$PY" "$TOOL" table "virsh setmem --live=$R/virsh" "balloonctl set=$R/ctl" \
	"daemon: set request -> command=$R/daemon.dispatch" \
	"daemon: QMP balloon round trip=$R/daemon.qmp"
echo
echo "The hook's own run time (through libvirtd: the wrapper's timing of the program; direct: $RUNS runs with a captured XML):"
"$PY" "$TOOL" table "start, via libvirtd=$R/hook-real.start" "stop, via libvirtd=$R/hook-real.stop" \
	"start, direct=$R/hook-direct.start" "stop, direct=$R/hook-direct.stop"
