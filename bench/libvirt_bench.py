#!/usr/bin/python3
"""libvirt_bench.py: the timing half of bench/libvirt-bench.sh.

  libvirt_bench.py procs N OUT CMD... -- SIZE1 SIZE2
      runs CMD SIZE N times as a process per call, SIZE alternating between
      SIZE1 and SIZE2; one wall time per call (microseconds) to OUT. Any
      call that fails stops the run (exit 1).
  libvirt_bench.py events MONITOR_OUT OUT_PREFIX GUEST
      reads `balloonctl monitor --json` output: for GUEST, the latency_us of
      every command_done (the daemon's QMP round trip: `balloon` sent until
      QEMU's answer) to OUT_PREFIX.qmp, and the time from each pin (the set
      request handled) to its command written to OUT_PREFIX.dispatch.
  libvirt_bench.py hook N OUT_PREFIX HOOK XML NAME
      runs HOOK NAME started begin - then HOOK NAME stopped end -, XML on
      stdin, N times; wall times to OUT_PREFIX.start and OUT_PREFIX.stop.
  libvirt_bench.py hooklog LOG OUT_PREFIX
      the wrapper's log (NAME OP SUBOP rc=N us=T): start times (started
      begin) to OUT_PREFIX.start, stop times (stopped end) to
      OUT_PREFIX.stop.
  libvirt_bench.py table ROW... where ROW is LABEL=FILE
      prints n, median, p99 and max of each file (microseconds), and the
      ratio of each median to the first row's.
"""
import json
import subprocess
import sys
import time

from bdtest import percentile


def write(path, values):
    with open(path, "w") as f:
        for v in values:
            f.write("%d\n" % v)


def procs(argv):
    n, out = int(argv[0]), argv[1]
    sep = argv.index("--")
    cmd, sizes = argv[2:sep], argv[sep + 1:]
    times = []
    for i in range(n):
        c = cmd + [sizes[i % len(sizes)]]
        t0 = time.perf_counter_ns()
        r = subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t1 = time.perf_counter_ns()
        if r.returncode != 0:
            sys.exit("%s: exit %d: %s" % (" ".join(c), r.returncode,
                                          r.stderr.decode().strip()))
        times.append((t1 - t0) // 1000)
    write(out, times)


def events(argv):
    mon, prefix, guest = argv
    qmp, dispatch = [], []
    pin_at = None
    pins = deflated = 0
    with open(mon) as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            data = ev.get("data") or {}
            if data.get("guest") != guest:
                continue
            name = ev.get("event") or ev.get("name")
            if name == "deflated":
                deflated += 1
            if name == "pin":
                pin_at = ev["time_us"]
                pins += 1
            elif name == "command" and pin_at is not None:
                dispatch.append(ev["time_us"] - pin_at)
                pin_at = None
            elif name == "command_done" and "error" not in data:
                qmp.append(data["latency_us"])
    print("balloonctl set: %d sets seen by the monitor, %d balloon "
          "commands answered, %d \"deflated\" readings" % (
              pins, len(qmp), deflated))
    write(prefix + ".qmp", qmp)
    write(prefix + ".dispatch", dispatch)


def hook(argv):
    n, prefix, prog, xml, name = argv
    data = open(xml, "rb").read()
    out = {"start": [], "stop": []}
    for _ in range(int(n)):
        for key, op, sub in (("start", "started", "begin"),
                             ("stop", "stopped", "end")):
            t0 = time.perf_counter_ns()
            r = subprocess.run([prog, name, op, sub, "-"], input=data,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            t1 = time.perf_counter_ns()
            if r.returncode != 0:
                sys.exit("hook %s %s: exit %d: %s" % (
                    op, sub, r.returncode, r.stderr.decode().strip()))
            out[key].append((t1 - t0) // 1000)
    for key, v in out.items():
        write("%s.%s" % (prefix, key), v)


def hooklog(argv):
    log, prefix = argv
    start, stop = [], []
    for line in open(log):
        w = line.split()
        if len(w) < 5 or not w[4].startswith("us="):
            continue
        us = int(w[4][3:])
        if (w[1], w[2]) == ("started", "begin"):
            start.append(us)
        elif (w[1], w[2]) == ("stopped", "end"):
            stop.append(us)
    write(prefix + ".start", start)
    write(prefix + ".stop", stop)


def table(argv):
    rows = []
    for arg in argv:
        label, path = arg.split("=", 1)
        v = sorted(int(x) for x in open(path) if x.strip())
        rows.append((label, v))
    w = max(len(r[0]) for r in rows)
    print("%-*s %6s %10s %10s %10s %9s" % (w, "", "n", "median", "p99",
                                           "max", "ratio"))
    base = None
    for label, v in rows:
        if not v:
            print("%-*s %6d %10s" % (w, label, 0, "-"))
            continue
        med = percentile(v, 50)
        if base is None:
            base = med
        print("%-*s %6d %8.2fms %8.2fms %8.2fms %8.1fx" % (
            w, label, len(v), med / 1000, percentile(v, 99) / 1000, v[-1] / 1000,
            base / med if med else float("inf")))


def main():
    cmds = {"procs": procs, "events": events, "hook": hook,
            "hooklog": hooklog, "table": table}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
