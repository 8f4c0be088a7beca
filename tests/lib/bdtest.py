"""bdtest: the Python half of balloond's test and benchmark helpers.

Imported by the Python tests and benchmarks (tests/lib is on PYTHONPATH:
tests/lib/tap.sh, the Makefile's test environment, bench/run and
bench/build.sh put it there), and run as `/usr/bin/python3 -m bdtest
COMMAND ...` by the shell tests (tap.sh's bdtest; daemon-lib.sh wraps
the common commands; `/usr/bin/python3 -m bdtest` alone lists them). It runs under Debian's
/usr/bin/python3 with the standard library only (PyYAML for rule-exprs),
so that a less trusted user can run it too.

What it holds: the control-socket client (Control, call, status), status
fields (guest, lookup), wait_until with a deadline scaled like the shell
tests' (TIME_SCALE), percentiles, TAP for Python tests (Tap), fake-qmp's
control socket and command log, signed role notifications, the fleet of
fake guests the benchmarks start, fake-patroni's answers per test, and
the checks the shell tests run on a metrics exposition, Prometheus' API
and balloond's events. No test passes Python source to it: each check is
a named command.
"""
import json
import os
import socket
import sys
import time

# Modules that only some commands need (hashlib, hmac, subprocess, shutil,
# http.client, urllib, yaml) are imported where they are used: every shell
# test's status poll starts this module, and hashlib alone would add a
# third to its start-up.

MiB = 1 << 20


def _time_scale():
    """The factor by which deadlines grow where the code under test runs
    slower: the same rule as tests/lib/tap.sh's TIME_SCALE (and
    tests/lib/timescale.h)."""
    if os.environ.get("BD_TIME_SCALE"):
        return int(os.environ["BD_TIME_SCALE"])
    if os.environ.get("VALGRIND", "0") == "1":
        return 10
    if os.environ.get("BD_SANITIZERS"):
        return 3
    return 1


TIME_SCALE = _time_scale()

# The interpreter for helpers a test or benchmark starts (fake-patroni.py):
# Debian's, not whatever python3 is first on PATH (a version manager's shim
# costs a second per start under load), unless configure named another.
PYTHON3 = os.environ.get("PYTHON3", "/usr/bin/python3")


def wait_until(pred, deadline_s, what="a condition", interval_s=0.05):
    """Poll pred() until it is true, within deadline_s (times TIME_SCALE).
    Returns pred()'s last value; raises TimeoutError naming `what` once
    the deadline has passed (a deadline catches hangs: it is not a timing
    assertion)."""
    end = time.monotonic() + deadline_s * TIME_SCALE
    while True:
        try:
            v = pred()
        except (OSError, ValueError, KeyError):
            v = None
        if v:
            return v
        if time.monotonic() >= end:
            raise TimeoutError(f"timed out after {deadline_s * TIME_SCALE} s waiting for {what}")
        time.sleep(interval_s)


def percentile(values, p):
    """The p-th percentile of values by nearest rank (as bench/qmp-rtt.c):
    the smallest value with at least p % of the values at or below it."""
    v = sorted(values)
    if not v:
        raise ValueError("percentile of no values")
    rank = (len(v) * p + 99) // 100
    return v[max(int(rank), 1) - 1]


# ---- TAP, for the tests written in Python -------------------------------------

class Tap:
    """TAP output as tests/lib/tap.sh writes it: ok/not_ok/skip/check
    number the points, diag comments, bail aborts the file, done prints
    the plan (when none was given) and returns the exit status."""

    def __init__(self, plan=None):
        self.n = self.failed = 0
        self.planned = plan
        if plan is not None:
            print(f"1..{plan}", flush=True)

    def ok(self, desc):
        self.n += 1
        print(f"ok {self.n} - {desc}", flush=True)

    def not_ok(self, desc):
        self.n += 1
        self.failed += 1
        print(f"not ok {self.n} - {desc}", flush=True)

    def skip(self, why):
        self.n += 1
        print(f"ok {self.n} - # SKIP {why}", flush=True)

    def check(self, desc, cond):
        (self.ok if cond else self.not_ok)(desc)
        return bool(cond)

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            print(f"# {line}", flush=True)

    def bail(self, why):
        print(f"Bail out! {why}", flush=True)
        sys.exit(1)

    def done(self):
        if self.planned is None:
            print(f"1..{self.n}", flush=True)
        return 1 if self.failed else 0


# ---- the control socket ------------------------------------------------------

def socket_path(path=None):
    return path or os.environ.get("BALLOOND_SOCKET") or "/run/balloond/control.sock"


class Control:
    """One connection to balloond's control socket: newline-delimited JSON,
    a greeting first ({"balloond": {"protocol": 1, ...}}), then replies
    ({"id", "result"} or {"id", "error": {"code", "message"}}) in request
    order, with events ({"event", "data"}) in between for a monitor.
    Requests can be pipelined: send many, then read their replies."""

    def __init__(self, path=None, timeout_s=10, greeting=True):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout_s * TIME_SCALE if timeout_s else None)
        self.s.connect(socket_path(path))
        self.f = self.s.makefile("rb")
        self.next_id = 1
        self.greeting = json.loads(self.f.readline()) if greeting else None

    def close(self):
        self.f.close()
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        """Bytes as they are (one or more lines, malformed ones too)."""
        self.s.sendall(data)

    def encode_many(self, reqs):
        """(method, params) pairs as the bytes of one write, and their ids
        (taken from this connection's sequence)."""
        ids, lines = [], []
        for method, params in reqs:
            r = {"id": self.next_id, "method": method}
            if params is not None:
                r["params"] = params
            lines.append(json.dumps(r))
            ids.append(self.next_id)
            self.next_id += 1
        return ("\n".join(lines) + "\n").encode(), ids

    def send_bytes(self, data):
        self.s.sendall(data)

    def send_many(self, reqs):
        """(method, params) pairs in one write; returns their ids."""
        data, ids = self.encode_many(reqs)
        self.send_bytes(data)
        return ids

    def read(self):
        """The next message of any kind; None at EOF."""
        line = self.f.readline()
        return json.loads(line) if line else None

    def read_replies(self, n):
        """The next n replies (events skipped)."""
        out = []
        while len(out) < n:
            m = self.read()
            if m is None:
                raise ConnectionError("balloond closed the connection")
            if "id" in m:
                out.append(m)
        return out

    def call(self, method, params=None):
        """One request; its whole reply."""
        self.send_many([(method, params)])
        return self.read_replies(1)[0]


def call(method, params=None, path=None):
    """One request on a connection of its own; its whole reply."""
    with Control(path) as c:
        return c.call(method, params)


def status(path=None):
    """status's result (the same document as `balloonctl status --json`)."""
    r = call("status", None, path)
    if "error" in r:
        raise RuntimeError(f"status: {r['error']}")
    return r["result"]


def guest(st, name):
    for g in st["guests"]:
        if g["name"] == name:
            return g
    return None


def show(v):
    """A status value as the shell tests compare it: None is empty, and
    booleans are Python's True/False (field) unless lower (cluster)."""
    return "" if v is None else str(v)


def lookup(doc, path):
    """doc's member at a dotted path (listener.refused.bad-mac); None
    where a step is missing."""
    for k in path.split("."):
        if isinstance(doc, dict):
            doc = doc.get(k)
        elif isinstance(doc, list) and k.isdigit() and int(k) < len(doc):
            doc = doc[int(k)]
        else:
            return None
    return doc


# ---- fake-qmp (tests/lib/fake-qmp.c) -------------------------------------------

def fake(ctl_path, line):
    """One line to fake-qmp's control socket; its one-line answer."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10 * TIME_SCALE)
        s.connect(ctl_path)
        s.sendall(line.encode() + b"\n")
        return s.makefile().readline().strip()


def fake_log(path, since=0):
    """fake-qmp's command log ({"socket", "execute", "arguments", "t_ns"}
    per line), from line `since` on."""
    out = []
    with open(path) as f:
        for i, line in enumerate(f):
            if i >= since and line.endswith("\n"):
                out.append(json.loads(line))
    return out


def balloons(log, sock):
    """The balloon commands SOCKET received, in order."""
    return [m for m in log if m["socket"] == sock and m["execute"] == "balloon"]


def free_port(kind="tcp", address="127.0.0.1"):
    """A port on address that nothing listened on a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    s.bind((address, 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- role notifications (proto/notify.c's datagram) ----------------------------

def notification(key, cluster="pg", member="pg2", role="leader", skew_ms=0):
    """A signed role notification, as balloond-patroni --notify sends it."""
    n = {"version": 1, "cluster": cluster, "member": member, "role": role,
         "timestamp_ms": int(time.time() * 1000) + skew_ms, "nonce": os.urandom(16).hex()}
    sign(n, key)
    return n


def sign(n, key):
    import hashlib
    import hmac
    text = "balloond-notify 1\n%s\n%s\n%s\n%d\n%s\n" % (
        n["cluster"], n["member"], n["role"], n["timestamp_ms"], n["nonce"])
    n["hmac"] = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    return n


def read_key(path):
    with open(path, "rb") as f:
        return f.read().rstrip(b" \t\r\n")


# ---- processes ------------------------------------------------------------------

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


def smaps_rollup_kib(pid):
    """/proc/PID/smaps_rollup's Rss, Private_Dirty and Shared_Clean (KiB)."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Rss", "Private_Dirty", "Shared_Clean"):
                out[k] = int(v.split()[0])
    return out


def mapped_libs(pid):
    """The shared libraries PID maps (their paths, sorted, the program and
    the vDSO left out)."""
    libs = set()
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) == 6 and ".so" in os.path.basename(fields[5]):
                libs.add(fields[5].strip())
    return sorted(libs)


def stop_all(procs, d):
    """Kill what is still running and remove the directory."""
    import shutil
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(d, ignore_errors=True)


def start_fleet(build, d, n, procs, fake_log_path, conf, extra_args=(), on_start=None,
                fake=None):
    """n fake guests (tests/fake-qmp, build's own or the one at fake) and a
    balloond on d/control.sock that registered them all, pipelined on one
    connection; returns (daemon, control connection, seconds the
    registrations took). on_start(pid), if given, runs once the daemon
    listens, before the first registration."""
    import subprocess
    fq = subprocess.Popen([fake or f"{build}/tests/fake-qmp", "--dir", d, "--count", str(n),
                           "--mem", str(1024 * MiB), "--control", f"{d}/fake.ctl"]
                          + (["--log", fake_log_path] if fake_log_path else []),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(fq)
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
    ctl = Control(sock, timeout_s=None)
    if on_start:
        on_start(daemon.pid)
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


# ---- Patroni's REST answers, for tests/lib/fake-patroni.py's state file ----------

def patroni_member(name, role, port=None, state="running"):
    m = {"name": name, "role": role, "state": state}
    if port is not None:
        m.update({"api_url": "http://127.0.0.1:%s/patroni" % port,
                  "host": "127.0.0.1", "port": 5432, "timeline": 1})
    return m


def patroni_leader(*streaming, scope="pg", name=None, stream_state="streaming"):
    """A leader's /patroni: Patroni 3.0.2's answer, streaming to these."""
    p = {"version": "3.0.2", "scope": scope}
    if name:
        p["name"] = name
    return {"state": "running", "role": "master", "timeline": 1,
            "replication": [{"usename": "replicator", "application_name": n,
                             "client_addr": "127.0.0.1", "state": stream_state,
                             "sync_state": "async", "sync_priority": 0}
                            for n in streaming],
            "patroni": p}


PATRONI_REPLICA = {"state": "running", "role": "replica", "timeline": 1}


def write_json(path, doc):
    """Write doc to path atomically (a reader never sees half of it)."""
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.rename(path + ".tmp", path)


# ---- the command line: `/usr/bin/python3 -m bdtest COMMAND ...` ------------------

def _show_json(v):
    """A JSON value as the shell tests compare it: strings bare, null or
    missing empty, booleans true/false, objects and lists as JSON."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"))


def _cmd_field(a):
    """field GUEST KEY: a guest's status field (empty if none)."""
    print(_show_json(lookup(guest(status(), a[0]) or {}, a[1])))


def _cmd_field_json(a):
    """field-json GUEST KEY: a guest's status field as JSON on one line,
    keys sorted, Python's spacing ("key": value, ...)."""
    print(json.dumps(lookup(guest(status(), a[0]) or {}, a[1]), sort_keys=True))


def _cmd_guest(a):
    """guest GUEST: a guest's whole status object, keys sorted, one
    member a line (what a failed check prints to explain itself)."""
    print(json.dumps(guest(status(), a[0]), sort_keys=True, indent=1))


def _cmd_wait_field(a):
    """wait-field DEADLINE_S GUEST KEY VALUE: poll status (over one
    connection) until GUEST's KEY is VALUE; exit 1 past the deadline."""
    deadline, name, key, want = float(a[0]), a[1], a[2], a[3]
    seen = [None]

    def ok():
        with Control() as c:
            r = c.call("status")
        seen[0] = _show_json(lookup(guest(r["result"], name) or {}, key))
        return seen[0] == want
    try:
        wait_until(ok, deadline, f"{name}'s {key}", 0.1)
    except TimeoutError:
        print(f"# {name}'s {key} is {seen[0]!r}, not {want!r}", file=sys.stderr)
        sys.exit(1)


def _cmd_get(a):
    """get PATH: a member of status at a dotted path (clusters.pg.error)."""
    print(_show_json(lookup(status(), a[0])))


def _cmd_sum(a):
    """sum PATH: the sum of the numbers in a status object (listener.refused)."""
    print(sum((lookup(status(), a[0]) or {}).values()))


def _cmd_json(a):
    """json PATH [FILE]: a member of a JSON document (stdin, or FILE)."""
    doc = json.load(open(a[1]) if len(a) > 1 else sys.stdin)
    print(_show_json(lookup(doc, a[0])))


def _cmd_json_names(a):
    """json-names PATH FILE: the "name" of every element of the list at
    PATH in the JSON document FILE, one a line (none if no list)."""
    for e in lookup(json.load(open(a[1])), a[0]) or []:
        print(e["name"])


def _cmd_json_is(a):
    """json-is FILE JSON: FILE holds this JSON document (exit 1 if not)."""
    sys.exit(0 if json.load(open(a[0])) == json.loads(a[1]) else 1)


def _cmd_fake(a):
    """fake CTL LINE...: one line to fake-qmp's control socket."""
    print(fake(a[0], " ".join(a[1:])))


def _cmd_qmp_lines(a):
    """qmp-lines SOCKET: a QMP client of SOCKET (a fake guest) that reads
    the greeting, negotiates, then sends each line of stdin as it is and
    prints the reply line as it came (CRLF stripped)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(a[0])
    f = s.makefile("rb")
    f.readline()
    s.sendall(b'{"execute":"qmp_capabilities"}\n')
    f.readline()
    for line in sys.stdin:
        s.sendall(line.rstrip("\n").encode() + b"\n")
        print(f.readline().decode().rstrip("\r\n"))
    s.close()


def _cmd_balloons(a):
    """balloons LOG SOCKET [SINCE_LINE]: the balloon values SOCKET received
    after line SINCE_LINE of fake-qmp's log, one "VALUE T_NS" a line."""
    since = int(a[2]) if len(a) > 2 else 0
    try:
        log = fake_log(a[0], since)
    except FileNotFoundError:
        return
    for m in balloons(log, a[1]):
        print(m["arguments"]["value"], m["t_ns"])


def _cmd_balloon_first(a):
    """balloon-first LOG [SINCE_LINE]: the sockets that got a balloon
    command before any query-balloon (after line SINCE_LINE of the log)."""
    seen, bad = {}, []
    for m in fake_log(a[0], int(a[1]) if len(a) > 1 else 0):
        s = seen.setdefault(m["socket"], [])
        if m["execute"] == "balloon" and "query-balloon" not in s and m["socket"] not in bad:
            bad.append(m["socket"])
        s.append(m["execute"])
    if bad:
        print(" ".join(bad))


def _cmd_last_balloons(a):
    """last-balloons LOG SINCE_LINE VALUE: the sockets whose last balloon
    command after SINCE_LINE set VALUE, sorted."""
    last = {}
    for m in fake_log(a[0], int(a[1])):
        if m["execute"] == "balloon":
            last[m["socket"]] = m["arguments"]["value"]
    print(" ".join(sorted(k for k, v in last.items() if v == int(a[2]))))


def _cmd_event(a):
    """event FILE NAME [KEY=VALUE...]: a monitor event NAME (one JSON
    object a line in FILE) whose data has these values; exit 1 if none."""
    want = dict(kv.split("=", 1) for kv in a[2:])
    with open(a[0]) as f:
        for line in f:
            try:
                m = json.loads(line)
            except ValueError:
                continue
            d = m.get("data") or {}
            if m.get("event") == a[1] and all(_show_json(d.get(k)) == v for k, v in want.items()):
                sys.exit(0)
    sys.exit(1)


def _cmd_plans_touch(a):
    """plans-touch FILE GUEST...: FILE (monitor --json) holds plan events,
    and each lists actions for exactly these guests, in this order."""
    with open(a[0]) as f:
        plans = [e for e in map(json.loads, f) if e.get("event") == "plan"]
    sys.exit(0 if plans and all([x["guest"] for x in e["data"]["actions"]] == a[1:]
                                for e in plans) else 1)


def _state_on_disk(state):
    """The registrations as balloond would load them from STATE
    (guests.json, then the journal over it), by name."""
    guests = {}
    try:
        for g in json.load(open(os.path.join(state, "guests.json")))["guests"]:
            guests[g["name"]] = g
    except FileNotFoundError:
        pass
    try:
        for line in open(os.path.join(state, "guests.journal")):
            if not line.endswith("\n"):
                break
            e = json.loads(line)
            if "put" in e:
                guests[e["put"]["name"]] = e["put"]
            elif "del" in e:
                guests.pop(e["del"], None)
    except FileNotFoundError:
        pass
    return guests


def _cmd_on_disk(a):
    """on-disk STATE NAME [KEY VALUE]: NAME's registration as balloond
    would load it from STATE (guests.json, then the journal over it)
    exists and, with KEY, has that value."""
    g = _state_on_disk(a[0]).get(a[1])
    if g is None or (len(a) > 3 and _show_json(g.get(a[2])) != a[3]):
        sys.exit(1)


def _cmd_on_disk_count(a):
    """on-disk-count STATE KEY VALUE: how many registrations on disk (as
    on-disk reads them) have KEY at VALUE."""
    print(sum(1 for g in _state_on_disk(a[0]).values() if _show_json(g.get(a[1])) == a[2]))


def _cmd_converse(a):
    """converse [--pipeline | --half-close] [--close]: requests from stdin,
    one a line, sent as they are to the control socket.
      (default)     one at a time: "greeting PROTOCOL", then per request
                    "ok" or its error code
      --pipeline    all in one write: per reply "ID ok" or "ID CODE"
      --half-close  all in one write, then shut down the writing side:
                    the id of every message up to EOF ("greeting" first)
      --close       then one more read: "closed", "reset" or "open"."""
    reqs = [line.rstrip("\n").encode() for line in sys.stdin]
    c = Control(greeting="--half-close" not in a, timeout_s=20)
    if "--half-close" in a:
        c.send_raw(b"".join(r + b"\n" for r in reqs))
        c.s.shutdown(socket.SHUT_WR)
        ids = []
        while True:
            m = c.read()
            if m is None:
                break
            ids.append(str(m.get("id", "greeting")))
        print(" ".join(ids))
        return

    def result(r):
        return r["error"]["code"] if "error" in r else "ok"
    if "--pipeline" in a:
        c.send_raw(b"".join(r + b"\n" for r in reqs))
        for r in c.read_replies(len(reqs)):
            print(r.get("id"), result(r))
    else:
        print("greeting", c.greeting["balloond"]["protocol"])
        for raw in reqs:
            c.send_raw(raw + b"\n")
            print(result(c.read()))
    if "--close" in a:
        try:
            print("closed" if c.f.readline() == b"" else "open")
        except ConnectionResetError:
            print("reset")


def _cmd_hold(a):
    """hold [--rcvbuf BYTES] [--times N] READY LINE: a client that sends
    LINE (N times over) and never reads: writes READY once it has sent
    (or the daemon stopped taking it), then waits to be killed."""
    rcvbuf, times = None, 1
    while a and a[0].startswith("--"):
        if a[0] == "--rcvbuf":
            rcvbuf = int(a[1])
        else:
            times = int(a[1])
        del a[:2]
    ready, line = a[0], a[1].encode() + b"\n"
    s = socket.socket(socket.AF_UNIX)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(socket_path())
    s.settimeout(20 * TIME_SCALE)
    try:
        for i in range(0, times, 1000):
            s.sendall(line * min(1000, times - i))
    except OSError:
        pass
    with open(ready, "w") as f:
        f.write("sent\n")
    time.sleep(60 * TIME_SCALE)


def _cmd_activate(a):
    """activate SOCKET LOG COMMAND...: bind a listening socket and start
    COMMAND with it as fd 3, the way systemd's socket activation does
    (LISTEN_FDS=1, LISTEN_PID its own pid); output to LOG. Prints its pid."""
    path, log, argv = a[0], a[1], a[2:]
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(16)
    pid = os.fork()
    if pid == 0:
        # The socket may already be fd 3, where dup2 does nothing: it must
        # be made inheritable either way, or exec closes it.
        if s.fileno() != 3:
            os.dup2(s.fileno(), 3)
        os.set_inheritable(3, True)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(out, 1)
        os.dup2(out, 2)
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
        os.execve(argv[0], argv, env)
    print(pid)


def _cmd_silent_listener(a):
    """silent-listener PATH: a Unix socket that accepts and never answers."""
    s = socket.socket(socket.AF_UNIX)
    s.bind(a[0])
    s.listen(1)
    conns = []
    while True:
        c, _ = s.accept()
        conns.append(c)


def _cmd_udp_sink(a):
    """udp-sink PORT READY: bind 127.0.0.1:PORT over UDP, write READY, and
    never answer (a resolver that holds every query)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", int(a[0])))
    open(a[1], "w").close()
    time.sleep(600)


def _cmd_maps_libs(a):
    """maps-libs PID: how many shared libraries PID maps."""
    print(len(mapped_libs(int(a[0]))))


def _cmd_free_port(a):
    """free-port [tcp|udp] [ADDRESS]: a port on ADDRESS (127.0.0.1) that
    nothing listens on."""
    print(free_port(a[0] if a else "tcp", a[1] if len(a) > 1 else "127.0.0.1"))


def _cmd_notify(a):
    """notify PORT KEY_FILE [FIELD=VALUE...]: one role notification
    datagram to 127.0.0.1:PORT, signed with KEY_FILE, fields overriding a
    fresh one's (cluster pg, member pg2, role leader). SKEW_MS=N moves its
    timestamp; RAW=TEXT sends TEXT instead; TWICE=1 sends it twice;
    ALTER=FIELD:VALUE changes a field after signing; SAVE=FILE writes the
    datagram to FILE."""
    port, key = int(a[0]), read_key(a[1])
    args = dict(kv.split("=", 1) for kv in a[2:])
    twice, alter, raw, save = (args.pop(k, None) for k in ("TWICE", "ALTER", "RAW", "SAVE"))
    n = notification(key, skew_ms=int(args.pop("SKEW_MS", 0)))
    n.update(args)
    if args:
        sign(n, key)
    if alter:
        k, v = alter.split(":", 1)
        n[k] = v
    data = raw.encode() if raw is not None else json.dumps(n).encode()
    if save:
        with open(save, "wb") as f:
            f.write(data)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(2 if twice else 1):
        s.sendto(data, ("127.0.0.1", port))


def _cmd_notify_flood(a):
    """notify-flood PORT KEY_FILE COUNT: COUNT bad datagrams, as fast as
    they go: signed by the wrong key (the dearest to refuse), too long,
    not JSON, incomplete, random."""
    port, key, count = int(a[0]), read_key(a[1]), int(a[2])
    kinds = [json.dumps(notification(key, member="pg%d" % i)).encode() for i in range(50)]
    kinds += [b"x" * 1500, b"{" * 900, b'{"version": 1}', os.urandom(200)]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(count):
        s.sendto(kinds[i % len(kinds)], ("127.0.0.1", port))


def _cmd_spool(a):
    """spool DIR METHOD PARAMS-JSON: one request into a spool directory,
    the way a hook writes it (a temporary name, then a rename)."""
    d, method, params = a[0], a[1], json.loads(a[2])
    name = "%020d-%d-0.json" % (time.time_ns(), os.getpid())
    with open(os.path.join(d, name + ".tmp"), "w") as f:
        json.dump({"method": method, "params": params}, f)
    os.rename(os.path.join(d, name + ".tmp"), os.path.join(d, name))


# ---- Patroni fixtures: the fake API's answers per test ---------------------------
# tests/lib/fake-patroni.py serves, per port, {"mode", "cluster", "patroni"}
# from a JSON state file; these write the states the Patroni tests switch
# between (`bdtest patroni-state TEST PATH ...`).

def _patroni_watch(path, a, b, c, pg, st):
    """watch: PG is healthy, noleader, notstreaming (pg2 is not in the
    leader's replication list) or a fake-patroni mode (garbage, big,
    slow:MS, reset, status:CODE) for both of pg's ports A and B; ST is
    the mode of the st cluster's port C."""
    kind = pg if pg in ("healthy", "noleader", "notstreaming") else "healthy"
    mode = "ok" if pg == kind else pg
    cl = {"members": [patroni_member("pg0", "replica" if kind == "noleader" else "leader", a),
                      patroni_member("pg1", "replica", b), patroni_member("pg2", "replica", b)]}
    lead = patroni_leader("pg1") if kind == "notstreaming" else patroni_leader("pg1", "pg2")
    write_json(path, {
        a: {"mode": mode, "cluster": cl, "patroni": lead},
        b: {"mode": mode, "cluster": cl, "patroni": PATRONI_REPLICA},
        c: {"mode": st, "cluster": {"members": [patroni_member("st0", "leader", c),
                                                patroni_member("st1", "replica", c)]},
            "patroni": patroni_leader("st1", scope="st")}})


def _patroni_push(path, d, push):
    """push: the push cluster's one member p0, its leader, on port D, in
    fake-patroni mode PUSH."""
    write_json(path, {d: {"mode": push, "cluster": {"members": [patroni_member("p0", "leader", d)]},
                          "patroni": patroni_leader(scope="push")}})


def _patroni_trust(path, a, b, c, kind, st_mode="ok"):
    """trust: cluster pg (pg0 on A, pg1 on B) and st (C: st0 leader, st1
    its streaming replica, fake-patroni mode ST_MODE). KIND:
      healthy   pg0 leads, pg1 streams from it (Patroni 3.0.2's answers)
      slow      the same, pg1's /cluster state "streaming" (newer
                Patroni), every answer 2 s late
      promoted  pg1 leads, pg0 streams from it
      stale     /cluster as in slow, from a member whose view of the DCS
                lags: pg0 no longer leads (its /patroni: stopped)
      cluster-scope, patroni-scope, patroni-name: healthy, but /cluster
                says scope "other", or pg0's /patroni says scope "other",
                or names member pg1.
    The state carries a generation ("gen", the time it was written), which
    fake-patroni notes in LOG.seen for each request it answers from it;
    PATH.switched holds it."""
    scope = {"version": "3.0.2", "scope": "pg"}
    replica = dict(PATRONI_REPLICA, patroni=scope)
    stopped = {"state": "stopped", "role": "replica", "patroni": scope}
    mode = "slow:2000" if kind == "slow" else "ok"
    streaming = "streaming" if kind in ("slow", "stale") else "running"
    if kind == "promoted":
        cl = {"members": [patroni_member("pg0", "replica", a), patroni_member("pg1", "leader", b)]}
        pa, pb = replica, patroni_leader("pg0")
    else:
        cl = {"members": [patroni_member("pg0", "leader", a),
                          patroni_member("pg1", "replica", b, streaming)]}
        pa, pb = patroni_leader("pg1"), replica
        if kind == "stale":
            pa = stopped
        if kind == "cluster-scope":
            cl["scope"] = "other"
        if kind == "patroni-scope":
            pa = patroni_leader("pg1", scope="other")
        if kind == "patroni-name":
            pa = patroni_leader("pg1", name="pg1")
    gen = time.monotonic_ns()
    write_json(path, {
        "gen": gen,
        a: {"mode": mode, "cluster": cl, "patroni": pa},
        b: {"mode": mode, "cluster": cl, "patroni": pb},
        c: {"mode": st_mode,
            "cluster": {"members": [patroni_member("st0", "leader", c),
                                    patroni_member("st1", "replica", c)]},
            "patroni": patroni_leader("st1", scope="st")}})
    with open(path + ".switched", "w") as f:
        f.write("%d\n" % gen)


def _patroni_cred(path, f, h):
    """cred: cluster cr, cr0 leading and cr1 streaming; /cluster names the
    leader's api_url on port H; the same answers on F and H."""
    def m(n, r):
        return {"name": n, "role": r, "state": "running",
                "api_url": "http://127.0.0.1:%s/patroni" % h}
    lead = {"state": "running", "role": "master",
            "replication": [{"application_name": "cr1", "state": "streaming"}],
            "patroni": {"version": "3.0.2", "scope": "cr"}}
    st = {"mode": "ok", "cluster": {"members": [m("cr0", "leader"), m("cr1", "replica")]},
          "patroni": lead}
    write_json(path, {f: st, h: st})


def _patroni_tls(path, port):
    """tls: pg0 leading and pg1 streaming, answered on PORT."""
    st = {"cluster": {"members": [patroni_member("pg0", "leader"),
                                  patroni_member("pg1", "replica")]},
          "patroni": {"role": "master", "replication": [
              {"application_name": "pg1", "state": "streaming"}]}}
    write_json(path, {port: dict(st, mode="ok")})


_PATRONI_STATES = {"watch": _patroni_watch, "push": _patroni_push, "trust": _patroni_trust,
                   "cred": _patroni_cred, "tls": _patroni_tls}


def _cmd_patroni_state(a):
    """patroni-state TEST PATH ARGS...: write fake-patroni's state file
    PATH for the Patroni test TEST (watch, push, trust, cred, tls; see their
    builders in bdtest.py for the ARGS)."""
    _PATRONI_STATES[a[0]](*a[1:])


# ---- metrics: the Prometheus exposition and its HTTP listener --------------------

def _cmd_http(a):
    """http [--timeout S] PORT METHOD PATH [BODY_FILE]: one HTTP request to
    127.0.0.1:PORT; prints "STATUS CONTENT-TYPE ALLOW" (the body to
    BODY_FILE), or "0" when no answer came within S seconds (default 20,
    times TIME_SCALE)."""
    import http.client
    timeout = 20 * TIME_SCALE
    if a[0] == "--timeout":
        timeout, a = float(a[1]), a[2:]
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(a[0]), timeout=timeout)
        c.request(a[1], a[2])
        r = c.getresponse()
        body = r.read()
    except (OSError, http.client.HTTPException):
        print(0)
        return
    if len(a) > 3:
        with open(a[3], "wb") as f:
            f.write(body)
    print(r.status, r.getheader("Content-Type"), r.getheader("Allow") or "")


def _cmd_hold_tcp(a):
    """hold-tcp PORT READY N [PARTIAL]: N connections to 127.0.0.1:PORT
    that send nothing (the last sends PARTIAL, half a request), held
    until killed; READY is written once all are connected."""
    held = []
    for i in range(int(a[2])):
        s = socket.create_connection(("127.0.0.1", int(a[0])))
        if len(a) > 3 and i == int(a[2]) - 1:
            s.sendall(a[3].encode())
        held.append(s)
    open(a[1], "w").close()
    time.sleep(60 * TIME_SCALE)


def exposition(path):
    """A text exposition's samples: {"name{labels}": value}."""
    m = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            k, _, v = line.rstrip("\n").rpartition(" ")
            m[k] = v
    return m


def _cmd_metric(a):
    """metric FILE NAME{LABELS}: one sample's value (exit 1 if none)."""
    v = exposition(a[0]).get(a[1])
    if v is None:
        sys.exit(1)
    print(v)


def _cmd_metrics_typed(a):
    """metrics-typed FILE: every family in the exposition has HELP and TYPE
    (a histogram's _bucket, _sum and _count are its family's)."""
    helped, typed = set(), {}
    with open(a[0]) as f:
        for line in f:
            w = line.split()
            if line.startswith("# HELP"):
                helped.add(w[2])
            elif line.startswith("# TYPE"):
                typed[w[2]] = w[3]
            elif w:
                name = fam = w[0].split("{")[0]
                for s in ("_bucket", "_sum", "_count"):
                    if name.endswith(s) and typed.get(name[: -len(s)]) == "histogram":
                        fam = name[: -len(s)]
                if fam not in helped or fam not in typed:
                    print("# no HELP/TYPE for", fam)
                    sys.exit(1)


def _cmd_metrics_cover(a):
    """metrics-cover FILE USER...: every balloond_ metric the files USER
    (alerting rules, dashboards) name is a family in the exposition FILE."""
    import re
    have = set(re.findall(r"^# TYPE (\S+)", open(a[0]).read(), re.M))
    used = set()
    for f in a[1:]:
        used |= set(re.findall(r"\bballoond_[a-z0-9_]+", open(f).read()))
    used.discard("balloond_")  # a dashboard's uid and tags are no metrics
    missing = sorted(used - have)
    for m in missing:
        print("# not exported:", m)
    sys.exit(1 if missing else 0)


def _cmd_metrics_match_status(a):
    """metrics-match-status STATUS_JSON FILE: what status shows (guests'
    sizes, link, pin, starving, foreign moves; the host; the version;
    the clusters' reachability) has the same values in the exposition."""
    st = json.load(open(a[0]))
    m = {k: float(v) for k, v in exposition(a[1]).items()}
    bad = []

    def want(key, v):
        if m.get(key) != v:
            bad.append("%s: metrics %s, status %s" % (key, m.get(key), v))
    for g in st["guests"]:
        lab = '{guest="%s"}' % g["name"]
        want("balloond_guest_max_bytes" + lab, g["max_bytes"])
        want("balloond_guest_min_bytes" + lab, g["min_bytes"])
        want("balloond_guest_target_bytes" + lab, g["target_bytes"])
        want("balloond_guest_actual_bytes" + lab, g["actual_bytes"])
        want("balloond_guest_link_up" + lab, 1 if g["link"] == "up" else 0)
        want("balloond_guest_foreign_moves_total" + lab, g["foreign_moves"])
        want("balloond_guest_pinned" + lab, 1 if "pin_bytes" in g else 0)
        want("balloond_guest_starving" + lab, 1 if g.get("starving") else 0)
    h = st["host"]
    if "mem_total_bytes" in h:
        want("balloond_host_mem_total_bytes", h["mem_total_bytes"])
        want("balloond_host_mem_available_bytes", h["mem_available_bytes"])
    want('balloond_build_info{version="%s"}' % st["daemon"]["version"], 1)
    for name, c in st["clusters"].items():
        want('balloond_cluster_reachable{cluster="%s"}' % name, 1 if c["reachable"] else 0)
    for b in bad:
        print("#", b)
    sys.exit(1 if bad else 0)


def _cmd_first_answers(a):
    """first-answers SOCKET LINE...: one connection per LINE, all held
    open: per connection, the code of its first answer after the greeting
    as JSON ("ok", or an error's code; a peer refused at connect gets its
    error instead of a greeting)."""
    held = []
    for line in a[1:]:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(20 * TIME_SCALE)
        s.connect(a[0])
        f = s.makefile("rb")
        first = json.loads(f.readline())
        if "balloond" in first:
            s.sendall(line.encode() + b"\n")
            first = json.loads(f.readline())
        print(json.dumps(first.get("error", {}).get("code", "ok")))
        held.append((s, f))


def _cmd_http_keepalive(a):
    """http-keepalive PORT: two GET /metrics on one kept-alive connection
    (Prometheus' way), each 200 with a body and no "Connection: close"."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", int(a[0]), timeout=20 * TIME_SCALE)
    socks = []
    for i in range(2):
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read()
        if r.status != 200 or not body or (r.getheader("Connection") or "").lower() == "close":
            print("# scrape", i, r.status, r.getheader("Connection"))
            sys.exit(1)
        socks.append(c.sock)
    sys.exit(0 if socks[0] is not None and socks[0] is socks[1] else 1)


def _cmd_eof_within(a):
    """eof-within PORT SECONDS [SEND]: a connection that sends SEND
    (backslash escapes as in Python; nothing by default) and then nothing
    more is closed by the listener (EOF) within SECONDS; says after how
    long."""
    s = socket.create_connection(("127.0.0.1", int(a[0])))
    if len(a) > 2:
        s.sendall(a[2].encode().decode("unicode_escape").encode())
    t0 = time.monotonic()
    s.settimeout(float(a[1]))
    try:
        while s.recv(65536):
            pass
    except socket.timeout:
        print("# still open after %s s" % a[1])
        sys.exit(1)
    print("# closed after %.1f s" % (time.monotonic() - t0))


def _cmd_http_idle_clients(a):
    """http-idle-clients PORT READY CLOSED: six clients of the HTTP
    listener: three that send nothing, one half a request, two that ask
    and read slowly (a 4 KiB receive buffer, 256 bytes every 100 ms).
    READY is written once all are connected; CLOSED, with the seconds the
    listener took to close the silent four (EOF), once it has."""
    held = []
    for i in range(6):
        s = socket.socket()
        if i >= 4:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", int(a[0])))
        if i == 3:
            s.sendall(b"GET /metr")
        elif i >= 4:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        held.append(s)
    open(a[1], "w").close()
    t0 = time.monotonic()
    for s in held[:4]:
        s.settimeout(120)
        try:
            while s.recv(1):
                pass
        except OSError:
            pass
    silent = time.monotonic() - t0
    for s in held[4:]:
        s.settimeout(1)
        try:
            while s.recv(256):
                time.sleep(0.1)
        except OSError:
            pass
    with open(a[2], "w") as f:
        f.write("%.1f\n" % silent)


# ---- a Prometheus server's HTTP API (tests/prometheus-metrics.sh) ----------------

def prom_query(port, expr, timeout=10):
    """An instant query's result vector; raises on an error answer."""
    import urllib.parse
    import urllib.request
    url = "http://127.0.0.1:%s/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": expr}))
    r = json.load(urllib.request.urlopen(url, timeout=timeout))
    if r.get("status") != "success":
        raise ValueError(str(r))
    return r["data"]["result"]


def _cmd_prom_query(a):
    """prom-query PORT EXPR: the result's samples as JSON, one a line;
    exit 2 when it is empty, 1 when the query fails."""
    try:
        result = prom_query(a[0], a[1])
    except Exception as e:  # any failure of the query is the answer
        print("# %s: %s" % (a[1], e))
        sys.exit(1)
    for s in result:
        print(json.dumps(s))
    sys.exit(0 if result else 2)


def _cmd_prom_value(a):
    """prom-value PORT EXPR: the value of a query's one sample (empty if
    there is not exactly one)."""
    r = prom_query(a[0], a[1], 5)
    print(r[0]["value"][1] if len(r) == 1 else "")


def _cmd_prom_agree(a):
    """prom-agree PORT STATUS_JSON JOB: what Prometheus stored last from
    JOB agrees with status: the guests' sizes, link, pin, starving, role;
    the host; the version; the clusters' reachability."""
    port, st, job = a[0], json.load(open(a[1])), a[2]

    def sel(name, **labels):
        labels["job"] = job
        return name + "{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}"

    def val(expr):
        r = prom_query(port, expr, 5)
        return float(r[0]["value"][1]) if len(r) == 1 else None
    want = []
    for g in st["guests"]:
        n = g["name"]
        for k in ("max_bytes", "min_bytes", "target_bytes", "actual_bytes"):
            want.append((sel("balloond_guest_" + k, guest=n), g[k]))
        want.append((sel("balloond_guest_foreign_moves_total", guest=n), g["foreign_moves"]))
        want.append((sel("balloond_guest_link_up", guest=n), 1 if g["link"] == "up" else 0))
        want.append((sel("balloond_guest_pinned", guest=n), 1 if "pin_bytes" in g else 0))
        want.append((sel("balloond_guest_starving", guest=n), 1 if g.get("starving") else 0))
        role = "none" if g["role"] == "-" else g["role"]
        for r in ("none", "unknown", "leader", "replica"):
            want.append((sel("balloond_guest_role", guest=n, role=r), 1 if r == role else 0))
    h = st["host"]
    want.append((sel("balloond_host_mem_total_bytes"), h["mem_total_bytes"]))
    want.append((sel("balloond_host_mem_available_bytes"), h["mem_available_bytes"]))
    want.append((sel("balloond_host_reclaiming"), 1 if h.get("reclaiming") else 0))
    want.append((sel("balloond_build_info", version=st["daemon"]["version"]), 1))
    for name, c in st["clusters"].items():
        want.append((sel("balloond_cluster_reachable", cluster=name), 1 if c["reachable"] else 0))
    bad = [(e, val(e), v) for e, v in want if val(e) != float(v)]
    for b in bad:
        print("# %s: Prometheus %s, status %s" % b)
    sys.exit(1 if bad else 0)


def _cmd_prom_firing(a):
    """prom-firing PORT ALERT: Prometheus has ALERT firing."""
    import urllib.request
    r = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/v1/alerts" % a[0], timeout=5))
    sys.exit(0 if [x for x in r["data"]["alerts"]
                   if x["labels"]["alertname"] == a[1] and x["state"] == "firing"] else 1)


def _cmd_dashboard_queries(a):
    """dashboard-queries DASHBOARD_JSON PANELS VARIABLES: the dashboard's
    queries to PANELS, one "TITLE<TAB>EXPR" a line, with its variables as
    Grafana substitutes them for "All"; its template variables'
    label_values() to VARIABLES ("NAME<TAB>SELECTOR<TAB>LABEL")."""
    import re
    d = json.load(open(a[0]))

    def subst(e):
        return e.replace("$instance", ".*").replace("$guest", ".*")
    with open(a[1], "w") as f:
        for p in d["panels"]:
            for t in p["targets"]:
                f.write("%s\t%s\n" % (p["title"], subst(t["expr"])))
    with open(a[2], "w") as f:
        for v in d["templating"]["list"]:
            if v["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", v["definition"])
            f.write("%s\t%s\t%s\n" % (v["name"], subst(m.group(1)), m.group(2)))


def _cmd_prom_variables(a):
    """prom-variables PORT VARIABLES: each template variable of VARIABLES
    (dashboard-queries') has values in Prometheus' series."""
    import urllib.parse
    import urllib.request
    rc = 0
    for line in open(a[1]):
        name, match, label = line.rstrip("\n").split("\t")
        u = "http://127.0.0.1:%s/api/v1/series?%s" % (a[0], urllib.parse.urlencode({"match[]": match}))
        r = json.load(urllib.request.urlopen(u, timeout=5))
        vals = {x.get(label) for x in r["data"]} - {None}
        if r["status"] != "success" or not vals:
            print("# variable %s: no values (%s)" % (name, match))
            rc = 1
    sys.exit(rc)


def _cmd_http_get(a):
    """http-get URL FILE: GET URL (20 s, times TIME_SCALE) into FILE; exit
    1 unless the answer is 200."""
    import urllib.request
    r = urllib.request.urlopen(a[0], timeout=20 * TIME_SCALE)
    with open(a[1], "wb") as f:
        f.write(r.read())
    sys.exit(0 if r.status == 200 else 1)


def _cmd_rule_exprs(a):
    """rule-exprs RULES_YML: "ALERT<TAB>EXPR" per alerting rule, on one line."""
    import yaml
    for g in yaml.safe_load(open(a[0]))["groups"]:
        for r in g["rules"]:
            print(r["alert"] + "\t" + " ".join(r["expr"].split()))


# ---- a real Patroni cluster (tests/lib/patroni-lib.sh, tests/real/patroni-real.sh)

def _cmd_port_block(a):
    """port-block [N]: the first port of a block of N (default 10) ports,
    on a multiple of 10, free on 127.0.0.1 for TCP and UDP a moment ago."""
    import random
    n = int(a[0]) if a else 10
    rng = random.SystemRandom()
    for _ in range(200):
        base = rng.randrange(20000, 60000, 10)
        socks = []
        try:
            for p in range(base, base + n):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        print(base)
        return
    sys.exit(1)


def _cmd_http_ok(a):
    """http-ok URL: URL answers 200 within a second."""
    import urllib.request
    try:
        urllib.request.urlopen(a[0], timeout=1).read()
    except Exception:  # any failure is a no
        sys.exit(1)


def _cmd_patroni_members(a):
    """patroni-members REST_URL...: one line per member, "NAME ROLE STATE",
    from the first /cluster that answers, with STATE "streaming" for the
    replicas the leader's /patroni lists as streaming."""
    import urllib.request

    def get(url):
        return json.load(urllib.request.urlopen(url, timeout=1))
    cluster = None
    for base in a:
        try:
            cluster = get(base + "/cluster")
            break
        except Exception:  # the next URL then
            pass
    if cluster is None:
        sys.exit(1)
    streaming = set()
    for m in cluster.get("members", []):
        if m.get("role") == "leader":
            try:
                p = get(m["api_url"].rsplit("/", 1)[0] + "/patroni")
                for r in p.get("replication", []):
                    if r.get("state") == "streaming":
                        streaming.add(r.get("application_name"))
            except Exception:  # a leader that does not answer lists none
                pass
    for m in cluster.get("members", []):
        state = "streaming" if m["name"] in streaming else m.get("state", "?")
        print(m["name"], m.get("role", "?"), state)


def _cmd_descendants(a):
    """descendants PID...: PID and every descendant, from /proc's ppid links."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    todo = [int(p) for p in a]
    seen = []
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(children.get(p, []))
    print(" ".join(str(p) for p in seen))


def _events(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def _ev_no_early_shrink(path, dwell_ms):
    """No replica shrank sooner than DWELL_MS after its last role change
    (a shrink command's role_age_ms)."""
    bad = []
    for e in _events(path):
        d = e["data"]
        if e["event"] == "command" and d.get("direction") == "shrink":
            if d.get("role_age_ms", -1) < int(dwell_ms):
                bad.append((d["guest"], d.get("role_age_ms", -1)))
    for b in bad:
        print("# %s shrank %d ms after a role change" % b)
    return not bad


def _ev_grow_before(path, vm, first_write_us, start_us):
    """VM's grow (target above actual) was sent after START_US and before
    FIRST_WRITE_US."""
    fw, start = int(first_write_us), int(start_us)
    grows = [e["time_us"] for e in _events(path)
             if e["event"] == "command" and e["data"].get("guest") == vm and e["time_us"] >= start
             and e["data"].get("direction") == "grow"
             and e["data"]["target_bytes"] > e["data"]["actual_bytes"]]
    print("# grow commands for %s: %s; first write %d" % (vm, grows, fw))
    return bool(grows) and min(grows) < fw


def _ev_switchover(path, new, old, start_us):
    """After START_US: NEW's grow came before OLD's shrink, and the shrink
    after a "cluster" event said OLD streams."""
    start = int(start_us)
    grow = shrink = streaming = None
    for e in _events(path):
        t, d = e["time_us"], e["data"]
        if t < start:
            continue
        if e["event"] == "command" and d.get("guest") == new and d.get("direction") == "grow" \
                and d["target_bytes"] > d["actual_bytes"] and grow is None:
            grow = t
        if e["event"] == "command" and d.get("guest") == old and d.get("direction") == "shrink" \
                and shrink is None:
            shrink = t
        if e["event"] == "cluster" and streaming is None:
            for m in d.get("members", []):
                if m.get("name") == old and m.get("streaming"):
                    streaming = t
    print("# from the switchover: grow %s +%s ms, shrink %s +%s ms, %s streaming +%s ms" % (
        new, grow and (grow - start) // 1000, old, shrink and (shrink - start) // 1000,
        old, streaming and (streaming - start) // 1000))
    return bool(grow and shrink and streaming and grow < shrink and streaming < shrink)


def _ev_grown_at_push(path, vm, start_us):
    """After START_US, VM's grow was sent no later than 200 ms after its
    first leader push (it may come earlier: a cluster whose leader's API
    is gone fails open)."""
    start = int(start_us)
    push = grow = None
    for e in _events(path):
        t, d = e["time_us"], e["data"]
        if t < start:
            continue
        if e["event"] == "role" and vm in d.get("guests", []) and \
                d.get("role") in ("master", "primary", "leader", "promoted") and push is None:
            push = t
        if e["event"] == "command" and d.get("guest") == vm and d.get("direction") == "grow" \
                and grow is None:
            grow = t
    print("# after the kill: %s's first leader push +%s ms, first grow +%s ms" % (
        vm, push and (push - start) // 1000, grow and (grow - start) // 1000))
    return bool(push and grow and grow <= push + 200000)


_EVENT_CHECKS = {"no-early-shrink": _ev_no_early_shrink, "grow-before": _ev_grow_before,
                 "switchover": _ev_switchover, "grown-at-push": _ev_grown_at_push}


def _cmd_events_check(a):
    """events-check CHECK FILE ARGS...: a check over monitor --json events
    (no-early-shrink DWELL_MS, grow-before VM FIRST_WRITE_US START_US,
    switchover NEW OLD START_US, grown-at-push VM START_US); exit 1 if not."""
    sys.exit(0 if _EVENT_CHECKS[a[0]](a[1], *a[2:]) else 1)


# ---- right-sizing: daily peaks and doctor's findings (tests/daemon-peaks.sh) -----

def _cmd_newest_peak(a):
    """newest-peak GUEST: the newest day of GUEST's daily_used_peaks in
    status, "DATE USED STARVED" ("-" for what is not there), or "none"."""
    d = ((guest(status(), a[0]) or {}).get("daily_used_peaks") or [None])[0]
    if d is None:
        print("none")
    else:
        print(d["date"], d.get("used_bytes", "-"), "starved" if d.get("starved") else "-")


def _cmd_finding(a):
    """finding DOCTOR_JSON ID TITLE_START: the severity, evidence and fix
    of the finding ID whose title starts with TITLE_START (doctor --json),
    one a line; nothing if there is none."""
    for f in json.load(open(a[0]))["findings"]:
        if f["id"] == a[1] and f["title"].startswith(a[2]):
            print(f["severity"])
            print(f["evidence"])
            print(f["fix"])


COMMANDS = {name[5:].replace("_", "-"): f for name, f in list(globals().items())
            if name.startswith("_cmd_")}


def main(argv):
    if len(argv) < 1 or argv[0] not in COMMANDS:
        print("usage: /usr/bin/python3 -m bdtest COMMAND [ARGS...]\n", file=sys.stderr)
        for name, f in sorted(COMMANDS.items()):
            first = f.__doc__.split("\n\n")[0].split("\n")
            print("  " + "\n    ".join(line.strip() for line in first), file=sys.stderr)
        return 2
    try:
        COMMANDS[argv[0]](argv[1:])
    except (OSError, TimeoutError, ValueError, KeyError) as e:
        print(f"bdtest {argv[0]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
