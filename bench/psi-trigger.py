#!/usr/bin/python3
"""psi-trigger.py: from the kernel's memory PSI trigger to the first shrink.

Runs balloond on the real /proc (the trigger armed on
/proc/pressure/memory; needs root, or CAP_SYS_RESOURCE before Linux 6.4)
with fake guests that report free memory, then makes the host stall on
memory for real: a process in a small memory cgroup (v1 or v2) reads a file
larger than the cgroup through the page cache, so reclaim stalls it. Each
trigger event and the balloon commands that follow come on balloond's
event stream (wall-clock microseconds, one clock): printed is the time
from each "psi" event to the first "command" after it, p50 and p99.

usage: bench/psi-trigger.py BUILD_DIR [--events 20] [--guests 8]
Everything it creates (cgroup, files) is removed at the end.
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

from bdtest import percentile, start_fleet, wait_until


def make_cgroup(limit):
    """A memory cgroup with a limit; returns (procs file, cleanup)."""
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers") and \
        "memory" in open("/sys/fs/cgroup/cgroup.controllers").read()
    base = "/sys/fs/cgroup" if v2 else "/sys/fs/cgroup/memory"
    cg = f"{base}/balloond-psi-bench.{os.getpid()}"
    os.mkdir(cg)
    with open(f"{cg}/{'memory.max' if v2 else 'memory.limit_in_bytes'}", "w") as f:
        f.write(str(limit))
    return f"{cg}/cgroup.procs", lambda: os.rmdir(cg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--events", type=int, default=20)
    ap.add_argument("--guests", type=int, default=8)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="balloond-psi.")
    procs, ev = [], []
    cleanup_cg = None
    stress = None
    try:
        conf = "[host]\ninterval_ms = 60000\n[qmp]\nstats_interval_s = 1\n"
        daemon, ctl, _ = start_fleet(a.build, d, a.guests, procs, None, conf)
        st = ctl.call("status")["result"]["host"]
        if not st.get("psi_trigger"):
            sys.exit(f"psi-trigger: the kernel did not take a trigger here: {st.get('error')}")
        mon = socket.socket(socket.AF_UNIX)
        mon.connect(f"{d}/control.sock")
        mf = mon.makefile("rb")
        mf.readline()
        mon.sendall(b'{"id": 1, "method": "monitor"}\n')
        threading.Thread(target=lambda: [ev.append(json.loads(l)) for l in mf],
                         daemon=True).start()
        wait_until(lambda: sum(1 for g in ctl.call("status")["result"]["guests"]
                               if "guest_stats" in g) == a.guests, 60, "guest stats")
        time.sleep(2.5)
        # 256 MiB read again and again through a 32 MiB cgroup.
        data = f"{d}/data"
        with open(data, "wb") as f:
            f.write(os.urandom(1 << 20) * 256)
        cg_procs, cleanup_cg = make_cgroup(32 << 20)
        stress = subprocess.Popen(
            ["sh", "-c", f"echo $$ > {cg_procs}; while :; do cat {data} > /dev/null; done"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if sum(1 for e in ev if e.get("event") == "psi") >= a.events:
                break
            time.sleep(0.5)
        stress.kill()
        stress.wait()
        stress = None
        time.sleep(1)
        lat = []
        psis = [e for e in ev if e.get("event") == "psi"]
        cmds = [e for e in ev if e.get("event") == "command"]
        for p in psis:
            after = [c["time_us"] for c in cmds if c["time_us"] >= p["time_us"]]
            if after and after[0] - p["time_us"] < 5e6:
                lat.append((after[0] - p["time_us"]) / 1000)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        print(f"balloond PSI trigger -> first balloon command ({a.guests} fake guests, "
              f"real /proc, trigger some 150 ms / 2 s)")
        print(f"  {len(psis)} trigger events, {len(lat)} followed by a command within 5 s")
        if lat:
            print(f"  p50 {statistics.median(lat):.2f} ms, p99 {percentile(lat, 99):.2f} ms, "
                  f"max {max(lat):.2f} ms")
    finally:
        if stress:
            stress.kill()
            stress.wait()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if cleanup_cg:
            time.sleep(0.5)
            try:
                cleanup_cg()
            except OSError as e:
                print(f"psi-trigger: could not remove the cgroup: {e}", file=sys.stderr)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
