#!/bin/sh
# run-reaction.sh [ROUNDS]: the Patroni reaction benchmarks, next to what
# they replace. On an optimised build (build-bench/):
#   1. bench/notify-latency.py: callback process start -> `balloon` on the
#      new leader's (fake) QMP socket, p50/p99 over 200 notifications,
#      with 1 and with 1,000 registered guests;
#   2. bench/run-switchover.sh: on a real Patroni cluster, switchover -> the
#      new leader's balloon at max, with and without pre_promote (ROUNDS
#      switchovers each, default 3);
# then the baselines: an hourly cron poll of Patroni (a new leader waits
# 30 minutes on average) and the per-change cost of `virsh setmem`
# (measured when BENCH_VIRSH_DOMAIN names a running libvirt domain, else
# the figure in HACKING.md, "virsh setmem costs a process and an RPC").
# Run as root.
set -eu
. "$(dirname "$0")/build.sh"
/usr/bin/python3 "$top/bench/notify-latency.py" "$b" --guests 1 --guests 1000 --rounds 200
echo
sh "$top/bench/run-switchover.sh" "${1:-3}"
echo
echo "baselines:"
echo "  hourly cron job polling Patroni, then virsh setmem: a new leader waits 30 min on average (60 min at worst)"
if [ -n "${BENCH_VIRSH_DOMAIN:-}" ]; then
	/usr/bin/python3 - "$BENCH_VIRSH_DOMAIN" <<'PY'
import statistics, subprocess, sys, time
dom = sys.argv[1]
cur = subprocess.run(["virsh", "-c", "qemu:///system", "dommemstat", dom], capture_output=True,
                     text=True, check=True).stdout
actual = int(next(l.split()[1] for l in cur.splitlines() if l.startswith("actual")))
ts = []
for i in range(30):
    t = time.monotonic()
    subprocess.run(["virsh", "-c", "qemu:///system", "setmem", dom, str(actual - 1024 * (i % 2)),
                    "--live"], stdout=subprocess.DEVNULL, check=True)
    ts.append((time.monotonic() - t) * 1000)
subprocess.run(["virsh", "-c", "qemu:///system", "setmem", dom, str(actual), "--live"],
               stdout=subprocess.DEVNULL, check=True)
print("  virsh setmem --live, per change (a process and a libvirt RPC): median %.1f ms (measured, 30 calls)"
      % statistics.median(ts))
PY
else
	echo "  virsh setmem --live, per change (a process and a libvirt RPC): about 16 ms (HACKING.md, \"virsh setmem costs a process and an RPC\"; set BENCH_VIRSH_DOMAIN to measure)"
fi
