#!/usr/bin/python3
"""notify-latency.py: how fast a Patroni callback moves a balloon.

From the moment the callback process (hooks/balloond-patroni) is started,
as Patroni starts it for `on_role_change master`, to the moment the
`balloon` command that gives the new leader its max arrives on that
guest's QMP socket. The guests are fake QEMUs (tests/fake-qmp, which logs
every command with a CLOCK_MONOTONIC timestamp), Patroni's REST API is
tests/lib/fake-patroni.py (it confirms the member a streaming replica, so that
balloond shrinks it to its replica target between rounds), so only
balloond and the callback are measured.

Beside it, in the same rounds, the floor: /bin/true started the same way
(subprocess.Popen) until it exits, what any process costs on this machine
now.

One guest is the Patroni member; the other GUESTS-1 are plain guests
registered beside it (the registry and the stats polling that a full
host brings).

usage: bench/notify-latency.py BUILD_DIR [--guests N] [--rounds N]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

from bdtest import PYTHON3, Control, percentile, stop_all, wait_until

MiB = 1 << 20
MAX = 1024 * MiB
REPLICA = 512 * MiB


class QmpLog:
    """Follows fake-qmp's command log."""

    def __init__(self, path):
        self.f = open(path)
        self.buf = ""

    def balloons(self, socket_name):
        """The new balloon commands for socket_name: [(t_ns, value)]."""
        out = []
        data = self.f.read()
        if not data:
            return out
        self.buf += data
        lines = self.buf.split("\n")
        self.buf = lines.pop()
        for line in lines:
            m = json.loads(line)
            if m["execute"] == "balloon" and m["socket"] == socket_name:
                out.append((m["t_ns"], m["arguments"]["value"]))
        return out


def patroni_state(port, member):
    api = "http://127.0.0.1:%d/patroni" % port
    cluster = {"members": [
        {"name": "leader0", "role": "leader", "state": "running", "api_url": api,
         "host": "127.0.0.1", "port": 5432, "timeline": 1},
        {"name": member, "role": "replica", "state": "streaming", "api_url": api,
         "host": "127.0.0.1", "port": 5433, "timeline": 1, "lag": 0}]}
    patroni = {"state": "running", "role": "master", "timeline": 1,
               "replication": [{"usename": "replicator", "application_name": member,
                                "client_addr": "127.0.0.1", "state": "streaming",
                                "sync_state": "async", "sync_priority": 0}]}
    return {str(port): {"mode": "ok", "cluster": cluster, "patroni": patroni}}


def run(build, top, n, rounds):
    d = tempfile.mkdtemp(prefix="balloond-notify.")
    procs = []
    try:
        fake = subprocess.Popen([f"{build}/tests/fake-qmp", "--dir", d, "--count", str(n),
                                 "--mem", str(MAX), "--move-ms", "5", "--log", f"{d}/qmp.log",
                                 "--control", f"{d}/fake.ctl"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(fake)
        wait_until(lambda: os.path.exists(f"{d}/fake.ctl"), 30, "fake-qmp")
        # The fake Patroni: one port, state in a file.
        with open(f"{d}/patroni.json", "w") as f:
            json.dump({}, f)
        rest = subprocess.Popen([PYTHON3, f"{top}/tests/lib/fake-patroni.py", "--state",
                                 f"{d}/patroni.json", "--log", f"{d}/rest.log", "--port", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(rest)
        port = int(rest.stdout.readline().split()[1])
        tmp = f"{d}/patroni.json.tmp"
        with open(tmp, "w") as f:
            json.dump(patroni_state(port, "m0"), f)
        os.rename(tmp, f"{d}/patroni.json")

        sock = f"{d}/control.sock"
        with open(f"{d}/balloond.conf", "w") as f:
            # No guest-stats polling: with it, a shrink waits for stats taken
            # after the last move (every 5 s), and rounds take 10 s.
            f.write("[qmp]\nstats_interval_s = 0\n")
            f.write(f"[cluster pg]\nrest_urls = http://127.0.0.1:{port}\n"
                    "poll_interval_ms = 100\ntimeout_ms = 1000\n"
                    # Polled often so that rounds are short; dwell long enough
                    # that a round's grow is not undone while
                    # it is measured; the next round waits for the shrink.
                    "dwell_ms = 100\nmax_age_ms = 60000\n")
        daemon = subprocess.Popen([f"{build}/balloond", "--foreground", "--config",
                                   f"{d}/balloond.conf", "--log-level", "warning",
                                   "--control-socket", sock, "--state-dir", f"{d}/state"],
                                  stdout=subprocess.DEVNULL, stderr=open(f"{d}/daemon.log", "w"))
        procs.append(daemon)
        wait_until(lambda: os.path.exists(sock), 30, "balloond")
        ctl = Control(sock, timeout_s=None)
        regs = [("register", {"name": "vm0", "qmp": f"{d}/vm0.qmp", "cluster": "pg",
                              "member": "m0", "replica_target_bytes": REPLICA})]
        regs += [("register", {"name": f"vm{i}", "qmp": f"{d}/vm{i}.qmp"}) for i in range(1, n)]
        ctl.send_many(regs)
        errors = [r for r in ctl.read_replies(n) if "error" in r]
        if errors:
            sys.exit(f"registration failed: {errors[0]}")
        wait_until(lambda: ctl.call("status")["result"]["daemon"]["links_up"] == n, 60, "links up")

        log = QmpLog(f"{d}/qmp.log")
        env = dict(os.environ, BALLOOND_SOCKET=sock, BALLOOND_STATE_DIR=f"{d}/state")
        hook = [f"{build}/hooks/balloond-patroni", "--member", "m0", "on_role_change"]
        lat = []
        hook_ms = []
        floor_ms = []
        for r in range(rounds + 1):
            # Wait for the shrink to the replica target (REST confirmed).
            end = time.monotonic() + 30
            while not any(v == REPLICA for _, v in log.balloons("vm0.qmp")):
                if time.monotonic() > end:
                    sys.exit("vm0 was never shrunk to its replica target: "
                             + open(f"{d}/daemon.log").read()[-2000:])
                time.sleep(0.002)
            time.sleep(0.02)  # let the shrink's move finish
            # The floor, in the same round: what starting a process that
            # does nothing and waiting for its exit costs now.
            t0 = time.monotonic_ns()
            subprocess.Popen(["/bin/true"], env=env).wait()
            if r:
                floor_ms.append((time.monotonic_ns() - t0) / 1e6)
            t0 = time.monotonic_ns()
            p = subprocess.Popen(hook + ["master", "pg"], env=env)
            got = None
            end = time.monotonic() + 10
            while got is None and time.monotonic() < end:
                for t, v in log.balloons("vm0.qmp"):
                    if v == MAX and t > t0:
                        got = t
                        break
                else:
                    time.sleep(0.0002)
            p.wait()
            t_exit = time.monotonic_ns()
            if got is None:
                sys.exit("no grow within 10 s")
            if r:  # the first round warms caches up
                lat.append((got - t0) / 1e6)
                hook_ms.append((t_exit - t0) / 1e6)
            # Back to replica: Patroni's demotion callback, then balloond
            # re-reads the REST API at once and shrinks it after dwell_ms.
            subprocess.run(hook + ["replica", "pg"], env=env, check=True)
        daemon.terminate()
        daemon.wait(30)
        return lat, hook_ms, floor_ms
    finally:
        stop_all(procs, d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--guests", type=int, action="append")
    ap.add_argument("--rounds", type=int, default=200)
    a = ap.parse_args()
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print("callback start -> `balloon` on the new leader's QMP socket "
          f"(fake QEMU, {a.rounds} notifications each):")
    for n in a.guests or [1, 1000]:
        lat, hook_ms, floor_ms = run(a.build, top, n, a.rounds)
        print(f"  {n:5d} registered guests: p50 {statistics.median(lat):.2f} ms, "
              f"p99 {percentile(lat, 99):.2f} ms, max {max(lat):.2f} ms "
              f"(callback process exits after: p50 {statistics.median(hook_ms):.2f} ms)")
        print(f"        floor, /bin/true started the same way, until it exits: "
              f"p50 {statistics.median(floor_ms):.2f} ms, p99 {percentile(floor_ms, 99):.2f} ms, "
              f"max {max(floor_ms):.2f} ms")


if __name__ == "__main__":
    main()
