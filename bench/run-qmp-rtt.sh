#!/bin/sh
# run-qmp-rtt.sh: query-balloon round trips, the C library (bench/qmp-rtt)
# against a minimal Python client (bench/qmp_rtt.py), one call at a time on
# one connection, first against tests/fake-qmp, then against a real QEMU
# (TCG, no guest kernel: QEMU's monitor answers all the same). Prints a
# table and how many times faster C is (p50 and calls/s).
#
#   [top_builddir=BUILD] [N_FAKE=20000] [N_QEMU=5000] [BENCH_CPU=0]
#   bench/run-qmp-rtt.sh
#
# Run it from a build without sanitizers: they slow the C side down.
# The fake and both clients run pinned to CPU $BENCH_CPU (empty: not
# pinned): a round trip on the fake is two wake-ups, and on a VM with idle
# vCPUs a wake-up across CPUs costs more than everything else (measured
# here: p50 about 80 us unpinned, 20 us pinned, for C and Python alike).
# QEMU itself is left unpinned (its vCPU thread would compete). The
# cpu_us/call column is the client's own CPU time per call, which the
# scheduler does not blur.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-.}
N_FAKE=${N_FAKE:-20000}
N_QEMU=${N_QEMU:-5000}
PYTHON3=${PYTHON3:-/usr/bin/python3}
BENCH_CPU=${BENCH_CPU-0}
PIN=
if [ -n "$BENCH_CPU" ] && command -v taskset >/dev/null 2>&1; then
	PIN="taskset -c $BENCH_CPU"
fi
QEMU=${QEMU:-$(command -v qemu-system-x86_64 || true)}
. "$top_srcdir/tests/lib/tap.sh" # wait_for

C_BENCH=$top_builddir/bench/qmp-rtt
FAKE=$top_builddir/tests/fake-qmp
for p in "$C_BENCH" "$FAKE"; do
	if [ ! -x "$p" ]; then
		echo "run-qmp-rtt.sh: $p not built (make in $top_builddir)" >&2
		exit 1
	fi
done

DIR=$(mktemp -d /tmp/qmp-rtt.XXXXXX) || exit 1
FAKE_PID=
cleanup() {
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
	if [ -f "$DIR/qemu.pid" ]; then
		pid=$(cat "$DIR/qemu.pid")
		if grep -q "$DIR" "/proc/$pid/cmdline" 2>/dev/null; then
			kill "$pid"
			wait_for 5 sh -c "! kill -0 $pid" || kill -9 "$pid"
		fi
	fi
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# field LINE KEY: the value of KEY=VALUE in a result line.
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

RESULTS=
# run TARGET CLIENT SOCKET N: one measurement, appended to RESULTS.
run() {
	if [ "$2" = C ]; then
		line=$($PIN "$C_BENCH" --count "$4" "$3")
	else
		line=$($PIN "$PYTHON3" "$top_srcdir/bench/qmp_rtt.py" --count "$4" "$3")
	fi || {
		echo "run-qmp-rtt.sh: $2 client against $1 failed" >&2
		exit 1
	}
	RESULTS="$RESULTS$1 $2 $line
"
}

$PIN "$FAKE" --dir "$DIR" --count 1 --control "$DIR/control" >"$DIR/fake.log" 2>&1 &
FAKE_PID=$!
wait_for 10 test -S "$DIR/control" || {
	echo "run-qmp-rtt.sh: fake-qmp did not start" >&2
	exit 1
}
run fake-qmp C "$DIR/vm0.qmp" "$N_FAKE"
run fake-qmp python "$DIR/vm0.qmp" "$N_FAKE"

if [ -n "$QEMU" ]; then
	"$QEMU" -nodefaults -display none -machine accel=tcg -m 256 \
		-device virtio-balloon-pci,id=balloon0 \
		-qmp "unix:$DIR/q.sock,server=on,wait=off" \
		-daemonize -pidfile "$DIR/qemu.pid" &&
		wait_for 10 test -S "$DIR/q.sock" || {
		echo "run-qmp-rtt.sh: QEMU did not start" >&2
		exit 1
	}
	run qemu-tcg C "$DIR/q.sock" "$N_QEMU"
	run qemu-tcg python "$DIR/q.sock" "$N_QEMU"
else
	echo "run-qmp-rtt.sh: no qemu-system-x86_64: fake only" >&2
fi

echo "pinned: ${PIN:-no}"
printf '%-9s %-7s %6s %8s %8s %8s %8s %12s %11s\n' server client calls \
	p50_us p99_us max_us calls/s cpu_us/call maxrss_kib
echo "$RESULTS" | while read -r target client line; do
	[ -n "$target" ] || continue
	printf '%-9s %-7s %6s %8s %8s %8s %8s %12s %11s\n' "$target" \
		"$client" "$(field "$line" calls)" "$(field "$line" p50_us)" \
		"$(field "$line" p99_us)" "$(field "$line" max_us)" \
		"$(field "$line" calls_per_s)" \
		"$(field "$line" cpu_us_per_call)" "$(field "$line" maxrss_kib)"
done
echo
for target in fake-qmp qemu-tcg; do
	c=$(echo "$RESULTS" | grep "^$target C ") || continue
	py=$(echo "$RESULTS" | grep "^$target python ") || continue
	awk -v t="$target" -v cp50="$(field "$c" p50_us)" \
		-v pp50="$(field "$py" p50_us)" -v ccps="$(field "$c" calls_per_s)" \
		-v pcps="$(field "$py" calls_per_s)" \
		-v ccpu="$(field "$c" cpu_us_per_call)" \
		-v pcpu="$(field "$py" cpu_us_per_call)" \
		-v crss="$(field "$c" maxrss_kib)" \
		-v prss="$(field "$py" maxrss_kib)" 'BEGIN {
		printf "%s: C vs Python: p50 %.2fx lower, calls/s %.2fx " \
			"higher, CPU per call %.1fx lower, RSS %.1fx lower\n",
			t, pp50 / cp50, ccps / pcps, (ccpu > 0 ? pcpu / ccpu : 0),
			prss / crss }'
done
