#!/usr/bin/python3
"""pressure.py: how fast balloond reacts to host memory pressure.

A --proc-root fixture plays the host (a 64 GiB host; [host] interval_ms =
100). Each round writes a meminfo that reports pressure, and measures the
time from that write to the first `balloon` shrink a fake guest receives;
then it clears the pressure and waits for the guests to grow back. With
1,000 guests it also reads balloond's own "dispatched" events: the cost of
one replan (snapshot and policy) and of dispatching its commands.

The fixture's pressure/memory is a regular file, so no PSI trigger is armed
(balloond never writes into a fixture): this measures the periodic read,
whose interval bounds the reaction; a trigger on a real kernel skips that
wait.

usage: bench/pressure.py BUILD_DIR [--guests 1,1000] [--rounds 50]
"""
import argparse, json, os, signal, socket, statistics, tempfile, threading, time

from bdtest import MiB, percentile, start_fleet, stop_all, wait_until

GiB = 1 << 30


def write_meminfo(proc, avail_mib):
    tmp = f"{proc}/meminfo.tmp"
    with open(tmp, "w") as f:
        f.write(f"MemTotal:       {64 * 1024 * 1024} kB\n"
                f"MemFree:        {avail_mib * 1024} kB\n"
                f"MemAvailable:   {avail_mib * 1024} kB\n")
    os.rename(tmp, f"{proc}/meminfo")


def shrinks_after(log, offset, t_ns):
    """Times (ns) of balloon commands below 1 GiB received after t_ns."""
    out = []
    with open(log) as f:
        f.seek(offset)
        for line in f:
            m = json.loads(line)
            if m["execute"] == "balloon" and m["t_ns"] >= t_ns and m["arguments"]["value"] < GiB:
                out.append(m["t_ns"])
    return out


def run(build, n, rounds):
    d = tempfile.mkdtemp(prefix="balloond-pressure.")
    proc = f"{d}/proc"
    os.makedirs(f"{proc}/pressure")
    with open(f"{proc}/pressure/memory", "w") as f:
        f.write("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    write_meminfo(proc, 48 * 1024)
    procs = []
    events = []
    try:
        conf = ("[host]\ninterval_ms = 100\n[qmp]\nstats_interval_s = 1\n"
                "[policy]\ndeadband = 1M\n")
        daemon, ctl, _ = start_fleet(build, d, n, procs, f"{d}/fake.log", conf,
                                     extra_args=["--proc-root", proc])
        mon = socket.socket(socket.AF_UNIX)
        mon.connect(f"{d}/control.sock")
        mf = mon.makefile("rb")
        mf.readline()
        mon.sendall(b'{"id": 1, "method": "monitor"}\n')

        def reader():
            for line in mf:
                m = json.loads(line)
                if m.get("event") == "dispatched":
                    events.append(m["data"])
        threading.Thread(target=reader, daemon=True).start()
        # The fake guests report stats once QEMU is told to poll them; wait
        # until they are fresh for every guest.
        wait_until(lambda: sum(1 for g in ctl.call("status")["result"]["guests"]
                               if "guest_stats" in g) == n, 60, "guest stats")
        time.sleep(2.5)  # stats younger than the last move (the link-up read)
        lat = []
        for _ in range(rounds):
            offset = os.path.getsize(f"{d}/fake.log")
            t0 = time.monotonic_ns()
            write_meminfo(proc, 512)      # headroom below zero: pressure
            wait_until(lambda: shrinks_after(f"{d}/fake.log", offset, t0), 30, "a shrink")
            lat.append((min(shrinks_after(f"{d}/fake.log", offset, t0)) - t0) / 1e6)
            write_meminfo(proc, 48 * 1024)  # over: everyone grows back
            wait_until(lambda: all(g.get("actual_bytes") == 1024 * MiB
                                   for g in ctl.call("status")["result"]["guests"]), 60, "release")
            time.sleep(2.2)  # fresh stats again before the next round
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        return lat, list(events)
    finally:
        stop_all(procs, d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--guests", default="1,1000")
    ap.add_argument("--rounds", type=int, default=50)
    a = ap.parse_args()
    print("balloond pressure reaction: meminfo fixture written -> first shrink "
          "received by a guest ([host] interval_ms = 100, periodic read)")
    for n in [int(x) for x in a.guests.split(",")]:
        lat, ev = run(a.build, n, a.rounds)
        print(f"  {n:>5} guests, {len(lat)} rounds: p50 {statistics.median(lat):.1f} ms, "
              f"p99 {percentile(lat, 99):.1f} ms, max {max(lat):.1f} ms")
        big = [e for e in ev if e["actions"] >= n // 2] or ev
        if big:
            dec = [e["decide_us"] / 1000 for e in big]
            dis = [e["dispatch_us"] / 1000 for e in big]
            tot = [x + y for x, y in zip(dec, dis)]
            print(f"        replans with >= {n // 2} actions ({len(big)}): policy p50 "
                  f"{statistics.median(dec):.2f} ms, dispatch p50 {statistics.median(dis):.2f} ms, "
                  f"replan + dispatch p50 {statistics.median(tot):.2f} ms, p99 {percentile(tot, 99):.2f} ms")


if __name__ == "__main__":
    main()
