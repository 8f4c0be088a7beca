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
	/usr/bin/python3 "$top/bench/virsh_setmem.py" "$BENCH_VIRSH_DOMAIN"
else
	echo "  virsh setmem --live, per change (a process and a libvirt RPC): about 16 ms (HACKING.md, \"virsh setmem costs a process and an RPC\"; set BENCH_VIRSH_DOMAIN to measure)"
fi
