#!/usr/bin/python3
"""virsh_setmem.py DOMAIN: what one `virsh setmem --live` costs (a process
and a libvirt RPC), the median of 30 changes of DOMAIN's balloon by 1 KiB,
for bench/run-reaction.sh's baselines. DOMAIN's size is restored."""
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
