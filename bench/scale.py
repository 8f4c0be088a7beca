#!/usr/bin/python3
"""scale.py: one balloond managing many fake-QMP guests.

Prints: the daemon's memory and shared libraries before any guest,
registration throughput, RSS, CPU used while idle, the time from a
burst of requests that changes every guest's target to the last `balloon`
command a guest received, and the round trip of `status`. Memory: RSS and
Private_Dirty (/proc/PID/smaps_rollup) with no guest registered, with all
of them (right after registration, after the idle period, right after the
run and a second later), and the difference per guest.

usage: bench/run scale [GUESTS] [IDLE_SECONDS], or
       bench/scale.py BUILD_DIR [--guests N] [--idle SECONDS]
"""
import argparse, json, os, signal, statistics, subprocess, tempfile, time

# The shared part (the control client, the fleet of fake guests, percentiles)
# is tests/lib/bdtest.py, on PYTHONPATH (bench/run, bench/build.sh).
from bdtest import (MiB, cpu_ticks, mapped_libs, percentile, rss_kib, smaps_rollup_kib,
                    start_fleet, stop_all, wait_until)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--guests", type=int, default=1000)
    ap.add_argument("--idle", type=float, default=30)
    ap.add_argument("--stats-interval", type=int, default=5,
                    help="[qmp] stats_interval_s for the daemon (0: no guest-stats polling)")
    a = ap.parse_args()
    n = a.guests
    d = tempfile.mkdtemp(prefix="balloond-scale.")
    procs = []
    try:
        # The base: the daemon listening, no guest yet.
        base = {}

        def at_start(pid):
            base.update(smaps_rollup_kib(pid), libs=len(mapped_libs(pid)))
        daemon, ctl, t_reg = start_fleet(a.build, d, n, procs, f"{d}/fake.log",
                                         f"[qmp]\nstats_interval_s = {a.stats_interval}\n",
                                         on_start=at_start)
        sock = f"{d}/control.sock"

        rss = rss_kib(daemon.pid)
        mem = {"0 guests": base, f"{n} guests": smaps_rollup_kib(daemon.pid)}
        # Idle: nothing asked of it. Guest stats are polled every 5 s by
        # default, so this includes that work.
        log_before = sum(1 for _ in open(f"{d}/fake.log"))
        c0, w0 = cpu_ticks(daemon.pid), time.monotonic()
        time.sleep(a.idle)
        c1, w1 = cpu_ticks(daemon.pid), time.monotonic()
        log_idle = sum(1 for _ in open(f"{d}/fake.log")) - log_before
        mem[f"{n} guests, idle"] = smaps_rollup_kib(daemon.pid)
        hz = os.sysconf("SC_CLK_TCK")
        idle_cpu_s = (c1 - c0) / hz
        idle_pct = 100 * idle_cpu_s / (w1 - w0)

        # Every target changes: one burst of set requests on one connection;
        # measure until the last guest received its balloon command.
        target = 512 * MiB
        lines_before = sum(1 for _ in open(f"{d}/fake.log"))
        # Encoded before the clock starts, as in bench/burst.py.
        data, _ = ctl.encode_many([("set", {"name": f"vm{i}", "bytes": target})
                                   for i in range(n)])
        t_send = time.monotonic_ns()
        ctl.send_bytes(data)
        ctl.read_replies(n)
        t_replied = time.monotonic_ns()

        def balloons():
            out = []
            with open(f"{d}/fake.log") as f:
                for i, line in enumerate(f):
                    if i < lines_before:
                        continue
                    m = json.loads(line)
                    if m["execute"] == "balloon" and m["arguments"]["value"] == target:
                        out.append(m["t_ns"])
            return out
        wait_until(lambda: len(balloons()) >= n, 60, "all balloon commands")
        bs = balloons()
        first_ms = (min(bs) - t_send) / 1e6
        last_ms = (max(bs) - t_send) / 1e6
        replied_ms = (t_replied - t_send) / 1e6

        # status round trips over one connection, and as a process.
        rtts = []
        size = 0
        for _ in range(50):
            t = time.monotonic_ns()
            ctl.send_many([("status", {})])
            r = ctl.read_replies(1)[0]
            rtts.append((time.monotonic_ns() - t) / 1e6)
        size = len(json.dumps(r))
        proc_rtts = []
        for _ in range(20):
            t = time.monotonic_ns()
            subprocess.run([f"{a.build}/balloonctl", "--socket", sock, "status", "--json"],
                           stdout=subprocess.DEVNULL, check=True)
            proc_rtts.append((time.monotonic_ns() - t) / 1e6)
        rss_after = rss_kib(daemon.pid)
        mem[f"{n} guests, after the run"] = smaps_rollup_kib(daemon.pid)
        # What stays once the run's garbage had a second to go (a daemon
        # that gives free memory back does so once the loop is quiet).
        time.sleep(1)
        mem[f"{n} guests, 1 s after the run"] = smaps_rollup_kib(daemon.pid)

        # Stop: SIGTERM gives every guest its max back.
        t = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(60)
        stop_s = time.monotonic() - t

        print(f"balloond scale benchmark: {n} fake-QMP guests, one daemon ({a.build})")
        print(f"  base RSS, no guest yet: {base['Rss'] / 1024:.1f} MiB (Private_Dirty "
              f"{base['Private_Dirty'] / 1024:.1f} MiB, Shared_Clean {base['Shared_Clean'] / 1024:.1f} MiB), "
              f"{base['libs']} shared libraries mapped")
        print(f"  register {n} guests (pipelined, one connection): {t_reg * 1000:.0f} ms "
              f"({n / t_reg:.0f}/s, reply after QEMU reported RAM)")
        print(f"  RSS after registration: {rss / 1024:.1f} MiB ({rss * 1024 / n / 1024:.1f} KiB per guest); "
              f"after the run: {rss_after / 1024:.1f} MiB")
        for what, m in mem.items():
            line = (f"  memory (smaps_rollup), {what}: RSS {m['Rss'] / 1024:.1f} MiB, "
                    f"Private_Dirty {m['Private_Dirty'] / 1024:.1f} MiB")
            if m is not base and n:
                line += (f"; per guest: RSS {(m['Rss'] - base['Rss']) / n:.2f} KiB, "
                         f"Private_Dirty {(m['Private_Dirty'] - base['Private_Dirty']) / n:.2f} KiB")
            print(line)
        print(f"  idle {w1 - w0:.0f} s: {idle_cpu_s:.2f} CPU-s = {idle_pct:.2f}% of one core "
              f"({log_idle} QMP commands in that time; guest-stats polling "
              + (f"every {a.stats_interval} s)" if a.stats_interval else "off)"))
        print(f"  change all {n} targets (burst of {n} set requests):")
        print(f"    all replies: {replied_ms:.1f} ms; first balloon received: {first_ms:.1f} ms; "
              f"last balloon received: {last_ms:.1f} ms")
        print(f"  status with {n} guests ({size / 1024:.0f} KiB of JSON):")
        print(f"    one connection: p50 {statistics.median(rtts):.2f} ms, p99 {percentile(rtts, 99):.2f} ms, "
              f"max {max(rtts):.2f} ms")
        print(f"    balloonctl status --json as a process: p50 {statistics.median(proc_rtts):.2f} ms, "
              f"p99 {percentile(proc_rtts, 99):.2f} ms")
        print(f"  SIGTERM with {n} guests to restore: exit {rc} after {stop_s * 1000:.0f} ms")
    finally:
        stop_all(procs, d)


if __name__ == "__main__":
    main()
