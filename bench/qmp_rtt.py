#!/usr/bin/python3
"""qmp_rtt.py: the same measurement as bench/qmp-rtt.c, with nothing but
the Python standard library: a blocking unix socket, json, one
query-balloon at a time (each with an id, events skipped), on one
connection. The baseline a "just script it" daemon would have.

usage: qmp_rtt.py [--count N] [--warmup N] SOCKET

Prints: calls=N p50_us=.. p99_us=.. max_us=.. calls_per_s=..
cpu_us_per_call=.. maxrss_kib=..
"""
import argparse
import json
import resource
import socket
import sys
import time

from bdtest import percentile  # nearest rank, as in qmp-rtt.c


class QMP:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        self.next_id = 1
        greeting = json.loads(self.file.readline())
        if "QMP" not in greeting:
            raise RuntimeError("no QMP greeting")
        self.execute("qmp_capabilities")

    def execute(self, command, arguments=None):
        msg = {"execute": command, "id": self.next_id}
        if arguments is not None:
            msg["arguments"] = arguments
        self.next_id += 1
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            line = self.file.readline()
            if not line:
                raise RuntimeError("connection closed")
            reply = json.loads(line)
            if "event" in reply:
                continue
            if reply.get("id") != msg["id"]:
                raise RuntimeError("unexpected reply %r" % reply)
            if "error" in reply:
                raise RuntimeError("%(class)s: %(desc)s" % reply["error"])
            return reply["return"]


def cpu_us():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (ru.ru_utime + ru.ru_stime) * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("socket")
    args = ap.parse_args()

    qmp = QMP(args.socket)
    for _ in range(args.warmup):
        qmp.execute("query-balloon")
    rtt = []
    cpu0 = cpu_us()
    start = time.perf_counter_ns()
    for _ in range(args.count):
        t0 = time.perf_counter_ns()
        ret = qmp.execute("query-balloon")
        rtt.append(time.perf_counter_ns() - t0)
        if ret.get("actual", 0) <= 0:
            raise RuntimeError("bad query-balloon reply %r" % ret)
    secs = (time.perf_counter_ns() - start) / 1e9
    cpu = cpu_us() - cpu0
    rtt.sort()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("calls=%d p50_us=%.1f p99_us=%.1f max_us=%.1f calls_per_s=%.0f "
          "cpu_us_per_call=%.2f maxrss_kib=%d"
          % (args.count, percentile(rtt, 50) / 1e3, percentile(rtt, 99) / 1e3,
             rtt[-1] / 1e3, args.count / secs, cpu / args.count, maxrss))
    return 0


if __name__ == "__main__":
    sys.exit(main())
