#!/usr/bin/python3
"""rest-poll.py: what the Patroni REST watcher costs balloond.

N [cluster] sections, each with one fake member (tests/lib/fake-patroni.py, one
port per cluster, answering /cluster and the leader's /patroni at once),
polled every INTERVAL ms. Prints balloond's CPU (percent of one core) and
RSS while polling, the polls it completed per second (counted by the fake
API), and the same daemon with no [cluster] section as the baseline.

With --tls the fake members speak HTTPS with a self-signed certificate
(balloond's tls_ca_file is the system's CA bundle with it appended, as
for a certificate from a public CA) and, as Patroni 3.0's API does, HTTP/1.0: every
poll is a new TLS connection, so the figure includes the handshake and
whatever the TLS library loads per connection.

usage: bench/rest-poll.py BUILD_DIR [--clusters N] [--interval-ms MS]
                          [--seconds S] [--tls]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

from bdtest import PYTHON3, cpu_ticks, rss_kib, wait_until

SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"  # Debian's bundle
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def requests(log, path):
    try:
        with open(log) as f:
            return sum(1 for line in f if line.rstrip().endswith(" " + path))
    except FileNotFoundError:
        return 0


def make_cert(d):
    """A self-signed certificate for 127.0.0.1: (cert, key) paths."""
    cert, key = f"{d}/server.pem", f"{d}/server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def run(build, d, n, interval_ms, seconds, tls=False):
    """balloond with n clusters for seconds; returns (cpu %, RSS KiB,
    /cluster polls per second)."""
    procs = []
    try:
        conf = ""
        log = f"{d}/api.log"
        if n:
            state = f"{d}/api.json"
            tls_args, scheme = [], "http"
            if tls:
                cert, key = make_cert(d)
                ca = f"{d}/ca.pem"
                with open(ca, "w") as out, open(SYSTEM_CA) as sys_ca, open(cert) as own:
                    out.write(sys_ca.read() + own.read())
                tls_args, scheme = ["--tls-cert", cert, "--tls-key", key, "--http10"], "https"
            api = subprocess.Popen([PYTHON3, f"{TOP}/tests/lib/fake-patroni.py", "--state", state,
                                    "--log", log] + ["--port", "0"] * n + tls_args,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            procs.append(api)
            ports = api.stdout.readline().split()[1:]
            st = {}
            for i, p in enumerate(ports):
                url = f"{scheme}://127.0.0.1:{p}"
                st[p] = {"mode": "ok",
                         "cluster": {"members": [
                             {"name": f"c{i}m0", "role": "leader", "state": "running",
                              "api_url": f"{url}/patroni"},
                             {"name": f"c{i}m1", "role": "replica", "state": "running",
                              "api_url": f"{url}/patroni"}]},
                         "patroni": {"role": "master", "state": "running",
                                     "replication": [{"application_name": f"c{i}m1",
                                                      "state": "streaming"}]}}
                conf += (f"[cluster c{i}]\nrest_urls = {url}\n"
                         f"poll_interval_ms = {interval_ms}\nmax_age_ms = {max(10 * interval_ms, 2000)}\n"
                         + (f"tls_ca_file = {ca}\n" if tls else ""))
            with open(state, "w") as f:
                json.dump(st, f)
        with open(f"{d}/balloond.conf", "w") as f:
            f.write(conf)
        sock = f"{d}/control.sock"
        daemon = subprocess.Popen([f"{build}/balloond", "--foreground", "--config", f"{d}/balloond.conf",
                                   "--log-level", "warning", "--control-socket", sock,
                                   "--state-dir", f"{d}/state"],
                                  stdout=subprocess.DEVNULL, stderr=open(f"{d}/daemon.log", "w"))
        procs.append(daemon)
        wait_until(lambda: os.path.exists(sock), 30, "balloond")
        time.sleep(2)  # warm up: connections made, caches filled
        c0, r0, t0 = cpu_ticks(daemon.pid), requests(log, "/cluster"), time.monotonic()
        time.sleep(seconds)
        c1, r1, t1 = cpu_ticks(daemon.pid), requests(log, "/cluster"), time.monotonic()
        rss = rss_kib(daemon.pid)
        hz = os.sysconf("SC_CLK_TCK")
        return 100.0 * (c1 - c0) / hz / (t1 - t0), rss, (r1 - r0) / (t1 - t0)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--clusters", type=int, default=50)
    ap.add_argument("--interval-ms", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--tls", action="store_true")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="rest-poll.")
    try:
        base = run(a.build, d, 0, a.interval_ms, a.seconds)
        shutil.rmtree(d)
        os.mkdir(d)
        with_ = run(a.build, d, a.clusters, a.interval_ms, a.seconds, a.tls)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    want = a.clusters * 1000.0 / a.interval_ms
    how = "HTTPS, a connection per request" if a.tls else "HTTP, connections kept"
    print(f"Patroni REST watcher, {a.clusters} clusters every {a.interval_ms} ms, {a.seconds:.0f} s, {how}:")
    print(f"  no clusters:   CPU {base[0]:5.2f} % of a core, RSS {base[1] / 1024:.1f} MiB")
    print(f"  {a.clusters} clusters:   CPU {with_[0]:5.2f} % of a core, RSS {with_[1] / 1024:.1f} MiB, "
          f"{with_[2]:.0f} polls/s of {want:.0f} wanted (each GET /cluster + GET /patroni)")
    if with_[2]:
        print(f"  per poll: {with_[0] / 100 / with_[2] * 1e6:.0f} us of CPU")


if __name__ == "__main__":
    main()
