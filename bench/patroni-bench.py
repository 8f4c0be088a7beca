#!/usr/bin/python3
"""patroni-bench.py: the Patroni callback's run time and the network
listener's cost, on a running balloond with one fake-QMP guest.

Prints, for balloond-patroni as a process (fork, exec, connect, one role
request, exit): p50/p99/max wall time over N runs through the control
socket, over --notify (one UDP datagram), and with the daemon down (the
spool, with its fsyncs); then the daemon's CPU time per bad datagram
received by the listener (forged MACs, garbage, oversized), counted from
its status, and its RSS before and after a flood.

The floor (/bin/true) and the callbacks run in turn, one of each per
round, so that a change of the machine's load touches them alike; each
line gives its p50 over the floor's p50. --also DIR adds another build's
callback to the rounds, against the same daemon (a before and an after
in one run).

usage: bench/patroni-bench.py BUILD_DIR [--runs N] [--flood N] [--also DIR]
"""
import argparse, hashlib, hmac, json, os, resource, shutil, socket, statistics, subprocess, sys, tempfile, time

from bdtest import cpu_ticks, rss_kib, wait_until

CPU_MS = 0.0

MiB = 1 << 20


def status(b, sock):
    out = subprocess.run([f"{b}/balloonctl", "--socket", sock, "status", "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def listener_seen(st):
    l = st["listener"]
    return l["accepted"] + sum(l["refused"].values())


def times(cmd_for, runs, env):
    """Wall times (ms); the mean CPU time (user + system) per run goes to
    CPU_MS, steadier than wall time on a loaded machine."""
    global CPU_MS
    out = []
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    for i in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(cmd_for(i), env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        out.append((time.perf_counter() - t0) * 1000)
        if r.returncode != 0:
            sys.exit(f"patroni-bench: {cmd_for(i)} exited {r.returncode}: {r.stderr}")
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_MS = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000 / runs
    return out


def run_once(cmd, env):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ms = (time.perf_counter() - t0) * 1000
    if r.returncode != 0:
        sys.exit(f"patroni-bench: {cmd} exited {r.returncode}: {r.stderr}")
    return ms


def rounds(cmds, runs, env):
    """Wall times (ms) of each of cmds ((what, cmd_for) pairs), run in
    turn, one of each per round."""
    out = {what: [] for what, _ in cmds}
    for i in range(runs):
        for what, cmd_for in cmds:
            out[what].append(run_once(cmd_for(i), env))
    return out


def p50(ms):
    return sorted(ms)[len(ms) // 2]


def show(what, ms, floor=None):
    ms = sorted(ms)
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    ratio = f"  x{p(0.5) / p50(floor):4.2f} floor" if floor else ""
    cpu = f"  CPU {CPU_MS:5.2f} ms" if CPU_MS else ""
    print(f"  {what:<44} p50 {p(0.5):6.2f} ms  p99 {p(0.99):6.2f} ms  "
          f"max {ms[-1]:6.2f} ms{cpu}  (n={len(ms)}){ratio}")


def forged(port_key, i, now):
    n = {"version": 1, "cluster": "pg", "member": "pg%d" % (i % 50), "role": "leader",
         "timestamp_ms": now, "nonce": os.urandom(16).hex()}
    text = "balloond-notify 1\n%s\n%s\n%s\n%d\n%s\n" % (
        n["cluster"], n["member"], n["role"], n["timestamp_ms"], n["nonce"])
    n["hmac"] = hmac.new(port_key, text.encode(), hashlib.sha256).hexdigest()
    return json.dumps(n).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--flood", type=int, default=100000)
    ap.add_argument("--also", help="another build directory whose callback runs in the same rounds")
    a = ap.parse_args()
    b = os.path.abspath(a.build)
    tmp = tempfile.mkdtemp(prefix="patroni-bench.")
    procs = []
    try:
        sock, state = f"{tmp}/control.sock", f"{tmp}/state"
        with open(f"{tmp}/pg.key", "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(f"{tmp}/pg.key", 0o600)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with open(f"{tmp}/b.conf", "w") as f:
            f.write(f"[listener]\nenabled = yes\nport = {port}\n"
                    f"[cluster pg]\nrest_urls = http://127.0.0.1:9\n"
                    f"notify_key_file = {tmp}/pg.key\n")
        fake = subprocess.Popen([f"{b}/tests/fake-qmp", "--dir", tmp, "--count", "1",
                                 "--mem", str(256 * MiB), "--control", f"{tmp}/fake.ctl"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(fake)
        wait_until(lambda: os.path.exists(f"{tmp}/fake.ctl"), 20, "fake-qmp")

        def start_daemon():
            d = subprocess.Popen([f"{b}/balloond", "-f", "-l", "notice", "-s", sock, "-d", state,
                                  "-c", f"{tmp}/b.conf"],
                                 stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/daemon.log", "a"))
            procs.append(d)
            wait_until(lambda: subprocess.run([f"{b}/balloonctl", "--socket", sock, "status"],
                                              capture_output=True).returncode == 0, 20, "balloond")
            return d

        d = start_daemon()
        subprocess.run([f"{b}/balloonctl", "--socket", sock, "register", "vm0", "--qmp",
                        f"{tmp}/vm0.qmp", "--patroni", "pg/pg0"], check=True,
                       stdout=subprocess.DEVNULL)
        env = dict(os.environ, BALLOOND_SOCKET=sock, BALLOOND_STATE_DIR=state)
        cb = f"{b}/hooks/balloond-patroni"
        roles = ["master", "replica"]
        builds = [("", cb)]
        if a.also:
            also = os.path.normpath(os.path.abspath(a.also))
            builds.append((f" [{os.path.basename(os.path.dirname(also))}/{os.path.basename(also)}]",
                           f"{os.path.abspath(a.also)}/hooks/balloond-patroni"))
        key_file = f"{tmp}/pg.key"
        cmds = [("/bin/true (a process's floor)", lambda i: ["/bin/true"])]
        for tag, c in builds:
            cmds.append((f"control socket{tag}",
                         lambda i, c=c: [c, "--member", "pg0", "on_role_change", roles[i % 2], "pg"]))
            cmds.append((f"--notify (one UDP datagram){tag}",
                         lambda i, c=c: [c, "--member", "pg0", "--notify", f"127.0.0.1:{port}",
                                         "--key-file", key_file, "on_role_change",
                                         roles[i % 2], "pg"]))
        print(f"balloond-patroni run time, as a process ({a.runs} rounds; each runs the floor "
              f"and every callback once; load average {os.getloadavg()[0]:.2f}):")
        global CPU_MS
        CPU_MS = 0.0
        res = rounds(cmds, a.runs, env)
        floor = res[cmds[0][0]]
        for what, _ in cmds:
            show(what, res[what], None if what == cmds[0][0] else floor)
        print(f"  (load average {os.getloadavg()[0]:.2f} after)")
        st = status(b, sock)
        if st["listener"]["accepted"] != a.runs * len(builds):
            sys.exit(f"patroni-bench: {st['listener']['accepted']} of {a.runs * len(builds)} accepted")
        show("--pre-promote, guest already at max",
             times(lambda i: [cb, "--pre-promote", "--cluster", "pg", "--member", "pg0"],
                   min(a.runs, 50), env))

        # The listener's cost per bad datagram: the daemon's CPU time over
        # the datagrams it counted (the kernel drops what it cannot take).
        key = open(f"{tmp}/pg.key", "rb").read().strip()
        now = int(time.time() * 1000)
        kinds = {
            "forged (bad MAC, in the window)": [forged(b"wrong key", i, now) for i in range(50)],
            "garbage (200 random bytes)": [os.urandom(200) for _ in range(50)],
            "oversized (1,500 bytes)": [b"x" * 1500],
            "depth bomb (900 x '{')": [b"{" * 900],
        }
        print(f"\nthe listener, per datagram received ({a.flood} sent of each kind):")
        tick = os.sysconf("SC_CLK_TCK")
        rss0 = rss_kib(d.pid)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for what, msgs in kinds.items():
            seen0, cpu0 = listener_seen(status(b, sock)), cpu_ticks(d.pid)
            t0 = time.perf_counter()
            for i in range(a.flood):
                u.sendto(msgs[i % len(msgs)], ("127.0.0.1", port))
            send_s = time.perf_counter() - t0
            time.sleep(0.5)
            seen = listener_seen(status(b, sock)) - seen0
            cpu = (cpu_ticks(d.pid) - cpu0) / tick
            print(f"  {what:<34} {cpu / max(seen, 1) * 1e6:6.2f} us CPU  "
                  f"({seen} of {a.flood} received, {a.flood / send_s:,.0f}/s sent)")
        rss1 = rss_kib(d.pid)
        t0 = time.perf_counter()
        subprocess.run([cb, "--member", "pg0", "on_role_change", "master", "pg"], env=env,
                       check=True, stderr=subprocess.DEVNULL)
        print(f"  RSS {rss0} KiB before the floods, {rss1} KiB after; a callback right "
              f"after: {(time.perf_counter() - t0) * 1000:.1f} ms")
        refused = status(b, sock)["listener"]["refused"]
        print(f"  refused by reason: {json.dumps(refused)}")

        # The daemon down: the callback spools (temporary file, fsync,
        # rename, directory fsync).
        d.terminate()
        d.wait()
        procs.remove(d)
        print()
        show("daemon down: spooled",
             times(lambda i: [cb, "--member", "pg0", "on_role_change", roles[i % 2], "pg"],
                   min(a.runs, 50), env))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


main()
