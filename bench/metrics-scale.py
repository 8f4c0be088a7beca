#!/usr/bin/python3
"""metrics-scale.py: the metrics' cost in a running balloond with many
fake-QMP guests (scale.py's fleet), scraped over its HTTP listener.

Prints: the exposition's size and scrape time, the VmRSS that the listener
and its scrapes add, and the loop's responsiveness (the round trip of a
request the loop answers at once, probed every millisecond on its own
connection) while idle, while scraped back to back, during a burst that
changes every guest's target, and during both.

usage: bench/metrics-scale.py BUILD_DIR [--guests N]
"""
import argparse, http.client, socket, sys, tempfile, threading, time

from bdtest import Control, MiB, percentile, rss_kib, start_fleet, stop_all


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def scrape(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f"scrape: {r.status}")
    return body


class Prober(threading.Thread):
    """Round trips of an unknown method: the loop answers it at once, so
    its round trip is how long the loop left a request waiting."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.ctl = Control(sock, timeout_s=None)
        self.rtts, self.stop = [], False

    def run(self):
        while not self.stop:
            t0 = time.monotonic_ns()
            self.ctl.send_many([("no-such-method", {})])
            self.ctl.read_replies(1)
            self.rtts.append((time.monotonic_ns() - t0) / 1e6)
            time.sleep(0.001)


def phase(sock, seconds, work):
    p = Prober(sock)
    p.start()
    end = time.monotonic() + seconds
    work(end)
    while time.monotonic() < end:
        time.sleep(0.01)
    p.stop = True
    p.join()
    return p.rtts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--guests", type=int, default=1000)
    a = ap.parse_args()
    n = a.guests
    d = tempfile.mkdtemp(prefix="balloond-metrics.")
    procs = []
    port = free_port()
    try:
        daemon, ctl, _ = start_fleet(a.build, d, n, procs, None,
                                     "[qmp]\nstats_interval_s = 0\n"
                                     f"[metrics]\nlisten = 127.0.0.1:{port}\n")
        sock = f"{d}/control.sock"
        time.sleep(1)
        rss0 = rss_kib(daemon.pid)
        times, size = [], 0
        for _ in range(20):
            t0 = time.monotonic()
            size = len(scrape(port))
            times.append((time.monotonic() - t0) * 1000)
        rss1 = rss_kib(daemon.pid)
        print(f"guests {n}: exposition {size} bytes; scrape (HTTP, end to end) "
              f"median {percentile(times, 50):.1f} ms, longest {max(times):.1f} ms")
        print(f"VmRSS {rss0} KiB before the first scrape, {rss1} KiB after 20: "
              f"+{rss1 - rss0} KiB")

        def none(end):
            pass

        def scrapes(end):
            def loop():
                while time.monotonic() < end:
                    scrape(port)
            threading.Thread(target=loop, daemon=True).start()

        target = [512 * MiB]

        def burst(end):
            def go():
                target[0] = 768 * MiB if target[0] == 512 * MiB else 512 * MiB
                c = Control(sock, timeout_s=None)
                c.send_many([("set", {"name": f"vm{i}", "bytes": target[0]})
                             for i in range(n)])
                c.read_replies(n)
            threading.Thread(target=go, daemon=True).start()

        def both(end):
            scrapes(end)
            burst(end)

        for name, work in (("idle", none), ("scraped back to back", scrapes),
                           (f"a burst of {n} target changes", burst),
                           ("scraped during the burst", both)):
            r = phase(sock, 5, work)
            print(f"loop round trip, {name}: median {percentile(r, 50):.2f} ms, "
                  f"p99 {percentile(r, 99):.2f} ms, longest {max(r):.2f} ms ({len(r)} probes)")
        print(f"VmRSS at the end: {rss_kib(daemon.pid)} KiB")
    finally:
        stop_all(procs, d)


if __name__ == "__main__":
    main()
