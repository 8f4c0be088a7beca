#!/usr/bin/python3
"""burst.py: a burst of set requests to many fake guests, a build against an
old one in the same run.

One balloond and one tests/fake-qmp process serving GUESTS sockets per
build; each burst is GUESTS `set` requests pipelined on one control
connection, each giving one guest a target 128 MiB away from its last (more
than the policy's 16 MiB deadband), measured until the last `balloon`
command reaches the fake (its log's t_ns: the time it was received), from
the moment the already encoded requests are written.
Prints, per burst and build: that time, the daemon's and the fake's CPU
time over the burst (every thread's /proc/PID/task/*/schedstat, run time),
and the median per build; the load average before and after, since other
work on the machine stretches wall times (the CPU figures much less).
The builds take turns (ROUNDS rounds of BURSTS bursts each), so that a
change in the machine's load falls on both.

Both daemons are timed against the same fake, BUILD's (--own-fakes: each
build's own, which then counts the fake's own changes too).

usage: bench/run burst --old OLD_BUILD [--guests N] [--bursts K] [--rounds R] [--own-fakes]
       bench/burst.py BUILD --old OLD_BUILD [...]
OLD_BUILD is an optimised build of the revision to compare with (e.g. a
checkout of main configured with CFLAGS='-O2 -g', as bench/build.sh does).
"""
import argparse, glob, json, os, statistics, sys, tempfile, time

from bdtest import MiB, start_fleet, stop_all, wait_until


def cpu_ns(pid):
    """Run time of every thread of pid so far, in nanoseconds."""
    t = 0
    for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(f) as s:
                t += int(s.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return t


def balloons_logged(log, offset):
    """How many balloon commands the log holds past offset (bytes), by
    their text alone: cheap enough to poll while a burst runs."""
    with open(log, "rb") as f:
        f.seek(offset)
        return f.read().count(b'"execute":"balloon"')


def balloons(log, skip, target):
    """{socket: t_ns} of the balloon commands to target after line skip."""
    got = {}
    with open(log) as f:
        for i, line in enumerate(f):
            if i < skip:
                continue
            m = json.loads(line)
            if m["execute"] == "balloon" and m["arguments"].get("value") == target:
                got[m["socket"]] = m["t_ns"]
    return got


def run_bursts(build, n, bursts, first, fake):
    """bursts bursts on a fresh fleet; a list of (last ms, daemon ms, fake ms)."""
    d = tempfile.mkdtemp(prefix="balloond-burst.")
    procs = []
    out = []
    try:
        log = f"{d}/fake.log"
        daemon, ctl, _ = start_fleet(build, d, n, procs, log, "[qmp]\nstats_interval_s = 0\n",
                                     fake=fake)
        fake = procs[0]
        # The registrations' own work (first queries, the first save) ends
        # before the first burst.
        time.sleep(2)
        for k in range(bursts):
            target = (512 + 128 * ((first + k) % 2)) * MiB
            with open(log) as f:
                skip = sum(1 for _ in f)
            skip_bytes = os.path.getsize(log)
            # The requests are encoded before the clock starts: Python's
            # json.dumps of 1,000 of them (4 to 5 ms) is not balloond's.
            data, _ = ctl.encode_many([("set", {"name": f"vm{i}", "bytes": target})
                                       for i in range(n)])
            c0, f0 = cpu_ns(daemon.pid), cpu_ns(fake.pid)
            t_send = time.monotonic_ns()
            ctl.send_bytes(data)
            # This process shares the machine with balloond and the fake:
            # while the burst runs it only reads the replies' lines and
            # counts the balloon commands in the fake's log; both are
            # parsed once the burst is over.
            lines = [ctl.f.readline() for _ in range(n)]
            if not lines[-1]:
                sys.exit(f"{build}: balloond closed the connection during the burst")
            wait_until(lambda: balloons_logged(log, skip_bytes) >= n, 60,
                       "every guest's balloon command", interval_s=0.005)
            replies = [json.loads(line) for line in lines]
            bad = [r for r in replies if "result" not in r]
            if bad:
                sys.exit(f"{build}: {len(bad)} set requests failed: {bad[0]}")
            # The guests' BALLOON_CHANGE events and the save belong to the
            # burst too.
            time.sleep(0.5)
            got = balloons(log, skip, target)
            c1, f1 = cpu_ns(daemon.pid), cpu_ns(fake.pid)
            out.append(((max(got.values()) - t_send) / 1e6, (c1 - c0) / 1e6, (f1 - f0) / 1e6))
        return out
    finally:
        stop_all(procs, d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--old", required=True, help="the build to compare with")
    ap.add_argument("--guests", type=int, default=1000)
    ap.add_argument("--bursts", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--own-fakes", action="store_true",
                    help="each build with its own tests/fake-qmp (default: both with BUILD's)")
    a = ap.parse_args()
    builds = [("old", os.path.abspath(a.old)), ("new", os.path.abspath(a.build))]
    # The fake is the measuring instrument: by default both daemons are
    # timed against the same one, the new build's.
    fake = None if a.own_fakes else f"{builds[1][1]}/tests/fake-qmp"
    print(f"{a.guests} guests; load average before: {os.getloadavg()[0]:.2f}")
    print(f"  old: {builds[0][1]}\n  new: {builds[1][1]}")
    print(f"  fake QEMU: {fake or 'each build its own'}")
    results = {name: [] for name, _ in builds}
    for r in range(a.rounds):
        for name, build in builds:
            for k, (last, dcpu, fcpu) in enumerate(run_bursts(build, a.guests, a.bursts, r, fake)):
                results[name].append((last, dcpu, fcpu))
                print(f"round {r} {name} burst {k}: last balloon {last:6.1f} ms, "
                      f"daemon cpu {dcpu:5.1f} ms, fake cpu {fcpu:5.1f} ms", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for name, _ in builds:
        v = results[name]
        print(f"median {name}: last balloon {statistics.median(x[0] for x in v):6.1f} ms, "
              f"daemon cpu {statistics.median(x[1] for x in v):5.1f} ms, "
              f"fake cpu {statistics.median(x[2] for x in v):5.1f} ms")


if __name__ == "__main__":
    main()
