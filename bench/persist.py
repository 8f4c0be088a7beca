#!/usr/bin/python3
"""persist.py: what persistence costs a request.

Every change balloond acknowledges is on disk first. This sends 1,000 `set`
requests, each from its own connection (connect, greeting, request, reply:
what a `balloonctl set` process does), one after another, once with 10 and
once with 1,000 guests registered, and prints per-request latency (p50 and
p99) for the first and the last hundred. With the state written off the
loop and coalesced, the cost of a request must not grow with the number of
guests (ratio near 1), nor with the number of requests made before it.

usage: bench/persist.py BUILD_DIR [--guests 10,1000] [--requests 1000]
"""
import argparse, json, signal, socket, statistics, sys, tempfile, time

from bdtest import MiB, percentile, start_fleet, stop_all


def one_set(sock, name, value):
    t = time.perf_counter_ns()
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    f = s.makefile("rb")
    f.readline()  # greeting
    s.sendall(json.dumps({"id": 1, "method": "set",
                          "params": {"name": name, "bytes": value}}).encode() + b"\n")
    r = json.loads(f.readline())
    dt = (time.perf_counter_ns() - t) / 1e6
    s.close()
    if "error" in r:
        sys.exit(f"persist: set {name} failed: {r['error']}")
    return dt


def run(build, n, requests):
    d = tempfile.mkdtemp(prefix="balloond-persist.")
    procs = []
    try:
        daemon, ctl, _ = start_fleet(build, d, n, procs, None, "[qmp]\nstats_interval_s = 0\n")
        sock = f"{d}/control.sock"
        lat = []
        t0 = time.monotonic()
        for k in range(requests):
            # Alternate the pin so that every request changes something.
            lat.append(one_set(sock, f"vm{k % n}", (512 if (k // n) % 2 == 0 else 384) * MiB))
        total = time.monotonic() - t0
        pins = sum(1 for g in ctl.call("status")["result"]["guests"] if "pin_bytes" in g)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        return lat, total, pins
    finally:
        stop_all(procs, d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--guests", default="10,1000")
    ap.add_argument("--requests", type=int, default=1000)
    a = ap.parse_args()
    sizes = [int(x) for x in a.guests.split(",")]
    print(f"balloond persistence benchmark: {a.requests} set requests, each on its own "
          f"connection, one after another ({a.build})")
    print(f"  {'guests':>6}  {'first 100: p50':>15} {'p99':>8}  {'last 100: p50':>14} {'p99':>8}  "
          f"{'all: p50':>9} {'p99':>8}  {'req/s':>7}")
    results = {}
    for n in sizes:
        lat, total, pins = run(a.build, n, a.requests)
        if pins != min(n, a.requests):
            sys.exit(f"persist: {pins} guests pinned, expected {min(n, a.requests)}")
        first, last = lat[:100], lat[-100:]
        results[n] = lat
        print(f"  {n:>6}  {statistics.median(first):>12.2f} ms {percentile(first, 99):>5.2f} ms  "
              f"{statistics.median(last):>11.2f} ms {percentile(last, 99):>5.2f} ms  "
              f"{statistics.median(lat):>6.2f} ms {percentile(lat, 99):>5.2f} ms  {a.requests / total:>7.0f}")
    if len(sizes) >= 2:
        lo, hi = results[sizes[0]], results[sizes[-1]]
        print(f"  ratio {sizes[-1]} / {sizes[0]} guests: p50 {statistics.median(hi) / statistics.median(lo):.2f}, "
              f"p99 {percentile(hi, 99) / percentile(lo, 99):.2f}")


if __name__ == "__main__":
    main()
