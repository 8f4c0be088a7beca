#!/usr/bin/python3
"""scale.py: one balloond managing many fake-QMP guests.

Prints: registration throughput, RSS, CPU used while idle, the time from a
burst of requests that changes every guest's target to the last `balloon`
command a guest received, and the round trip of `status`.

usage: bench/scale.py BUILD_DIR [--guests N] [--idle SECONDS]
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

MiB = 1 << 20


def wait_until(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    sys.exit(f"scale: timed out waiting for {what}")


class Ctl:
    """A persistent control connection that can pipeline requests."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self.greeting = json.loads(self.f.readline())
        self.next_id = 1

    def send_many(self, reqs):
        lines = []
        for method, params in reqs:
            lines.append(json.dumps({"id": self.next_id, "method": method, "params": params}))
            self.next_id += 1
        self.s.sendall(("\n".join(lines) + "\n").encode())

    def read_replies(self, n):
        out = []
        while len(out) < n:
            m = json.loads(self.f.readline())
            if "id" in m:
                out.append(m)
        return out

    def call(self, method, params=None):
        self.send_many([(method, params or {})])
        return self.read_replies(1)[0]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def stop_all(procs, d):
    """Kill what is still running and remove the benchmark's directory."""
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(d, ignore_errors=True)


def start_fleet(build, d, n, procs, fake_log, conf, extra_args=()):
    """n fake guests and a balloond (on d/control.sock) that registered
    them all, pipelined on one connection; returns (daemon, ctl, seconds
    the registrations took)."""
    fake = subprocess.Popen([f"{build}/tests/fake-qmp", "--dir", d, "--count", str(n),
                             "--mem", str(1024 * MiB), "--control", f"{d}/fake.ctl"]
                            + (["--log", fake_log] if fake_log else []),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(fake)
    wait_until(lambda: os.path.exists(f"{d}/fake.ctl"), 30, "fake-qmp")
    sock = f"{d}/control.sock"
    with open(f"{d}/balloond.conf", "w") as f:
        f.write(conf)
    daemon = subprocess.Popen([f"{build}/balloond", "--foreground", "--config", f"{d}/balloond.conf",
                               "--log-level", "warning", "--control-socket", sock,
                               "--state-dir", f"{d}/state", *extra_args],
                              stdout=subprocess.DEVNULL, stderr=open(f"{d}/daemon.log", "w"))
    procs.append(daemon)
    wait_until(lambda: os.path.exists(sock), 30, "balloond")
    ctl = Ctl(sock)
    t0 = time.monotonic()
    ctl.send_many([("register", {"name": f"vm{i}", "qmp": f"{d}/vm{i}.qmp",
                                 "min_bytes": 256 * MiB}) for i in range(n)])
    replies = ctl.read_replies(n)
    t_reg = time.monotonic() - t0
    errors = [r for r in replies if "error" in r]
    if errors:
        sys.exit(f"{len(errors)} registrations failed: {errors[0]}")
    wait_until(lambda: ctl.call("status")["result"]["daemon"]["links_up"] == n, 60, "links up")
    return daemon, ctl, t_reg


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
        daemon, ctl, t_reg = start_fleet(a.build, d, n, procs, f"{d}/fake.log",
                                         f"[qmp]\nstats_interval_s = {a.stats_interval}\n")
        sock = f"{d}/control.sock"

        rss = rss_kib(daemon.pid)
        # Idle: nothing asked of it. Guest stats are polled every 5 s by
        # default, so this includes that work.
        log_before = sum(1 for _ in open(f"{d}/fake.log"))
        c0, w0 = cpu_ticks(daemon.pid), time.monotonic()
        time.sleep(a.idle)
        c1, w1 = cpu_ticks(daemon.pid), time.monotonic()
        log_idle = sum(1 for _ in open(f"{d}/fake.log")) - log_before
        hz = os.sysconf("SC_CLK_TCK")
        idle_cpu_s = (c1 - c0) / hz
        idle_pct = 100 * idle_cpu_s / (w1 - w0)

        # Every target changes: one burst of set requests on one connection;
        # measure until the last guest received its balloon command.
        target = 512 * MiB
        lines_before = sum(1 for _ in open(f"{d}/fake.log"))
        t_send = time.monotonic_ns()
        ctl.send_many([("set", {"name": f"vm{i}", "bytes": target}) for i in range(n)])
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

        # Stop: SIGTERM gives every guest its max back.
        t = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(60)
        stop_s = time.monotonic() - t

        print(f"balloond scale benchmark: {n} fake-QMP guests, one daemon ({a.build})")
        print(f"  register {n} guests (pipelined, one connection): {t_reg * 1000:.0f} ms "
              f"({n / t_reg:.0f}/s, reply after QEMU reported RAM)")
        print(f"  RSS after registration: {rss / 1024:.1f} MiB ({rss * 1024 / n / 1024:.1f} KiB per guest); "
              f"after the run: {rss_after / 1024:.1f} MiB")
        print(f"  idle {w1 - w0:.0f} s: {idle_cpu_s:.2f} CPU-s = {idle_pct:.2f}% of one core "
              f"({log_idle} QMP commands in that time; guest-stats polling "
              + (f"every {a.stats_interval} s)" if a.stats_interval else "off)"))
        print(f"  change all {n} targets (burst of {n} set requests):")
        print(f"    all replies: {replied_ms:.1f} ms; first balloon received: {first_ms:.1f} ms; "
              f"last balloon received: {last_ms:.1f} ms")
        print(f"  status with {n} guests ({size / 1024:.0f} KiB of JSON):")
        print(f"    one connection: p50 {statistics.median(rtts):.2f} ms, p99 {pct(rtts, 99):.2f} ms, "
              f"max {max(rtts):.2f} ms")
        print(f"    balloonctl status --json as a process: p50 {statistics.median(proc_rtts):.2f} ms, "
              f"p99 {pct(proc_rtts, 99):.2f} ms")
        print(f"  SIGTERM with {n} guests to restore: exit {rc} after {stop_s * 1000:.0f} ms")
    finally:
        stop_all(procs, d)


if __name__ == "__main__":
    main()
