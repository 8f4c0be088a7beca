#!/usr/bin/python3
"""peer-flood.py: many connections to balloond's control socket from one
peer (run it under setpriv to be a peer with fewer rights).

    peer-flood.py SOCKET N [--wait-closed SECONDS] [--hold]
                  [--push CLUSTER MEMBER ROLE SECONDS]

Opens N connections at once (prints "connected K" when every connect()
returned, K of them connected), then reads the first message of each: a
greeting (the connection is served) or an error (refused). Then it waits
for balloond to close the refused ones, and prints one line:

    done greeting=G refused=R closed=C eof=E timeout=T failed=F codes=CODE:N,...

greeting: served; refused: an error came first (its codes listed), and
closed of those were then closed by balloond; eof: closed with no message
at all (balloond out of descriptors); timeout: nothing within 10 s;
failed: connect() itself failed.

With --wait-closed, it then waits up to SECONDS for balloond to close the
served connections (its idle deadline) and prints

    idle closed=K of=G min_ms=A max_ms=B

(the times from just before each connect(), so never more than balloond
saw them idle). With --push, it then sends
role notifications on the first served connection, one after the other
(each waits for its reply), for SECONDS, and prints

    pushed K ok=J

With --hold it then keeps every connection open until it is killed, and
prints "holding" first.

    peer-flood.py SOCKET --fill SECONDS

A peer that does not read: on one connection it sends requests one at a
time (each with a reply of the same size) until a reply no longer
arrives, which counts K, the replies that fill balloond's socket buffer.
A second connection then sends K requests at once and reads nothing:
balloond has written every reply, and the buffer is full. It prints

    full k=K closed=0|1 ms=A

closed: whether balloond closed the second connection within SECONDS
(a hangup seen without reading), A the time it took from the requests.
"""
import argparse
import array
import fcntl
import json
import select
import signal
import socket
import sys
import termios
import time

# Generous: the machine is shared, and balloond may run under valgrind.
READ_TIMEOUT_S = 10.0


def first_message(s):
    """The first line balloond sends, or "" at EOF, or None on timeout."""
    buf = b""
    deadline = time.monotonic() + READ_TIMEOUT_S
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            return None
        try:
            chunk = s.recv(4096)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return ""
        buf += chunk
    return buf.split(b"\n", 1)[0].decode()


def closed_by_peer(s, timeout):
    """Whether balloond closes s within timeout seconds: not only shuts
    down its side (EOF here) but lets go of the descriptor, which a write
    then finds (EPIPE or a reset)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            return False
        try:
            if not s.recv(4096):
                break
        except ConnectionResetError:
            return True
    while True:
        try:
            s.send(b"\n")
        except (BrokenPipeError, ConnectionResetError):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.02, left))


def queued(s):
    """The bytes in s's receive queue."""
    n = array.array("i", [0])
    fcntl.ioctl(s, termios.FIONREAD, n)
    return n[0]


def fill(path, seconds):
    # An unknown method: a short error of the same size each time.
    req = json.dumps({"id": 1, "method": "no-such-method"}).encode() + b"\n"
    probe = socket.socket(socket.AF_UNIX)
    probe.connect(path)
    if first_message(probe) is None:
        sys.exit("no greeting")
    k = 0
    while True:
        before = queued(probe)
        probe.sendall(req)
        deadline = time.monotonic() + 1.0
        while queued(probe) == before and time.monotonic() < deadline:
            time.sleep(0.002)
        if queued(probe) == before:
            break
        k += 1
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    # The greeting is read, as on the probe: then K replies fill it.
    if first_message(s) is None:
        sys.exit("no greeting")
    s.sendall(req * k)
    t0 = time.monotonic()
    p = select.poll()
    p.register(s, select.POLLRDHUP)
    closed = False
    # Data is always waiting: poll the hangup, not readability.
    while time.monotonic() < t0 + seconds:
        if any(ev & (select.POLLHUP | select.POLLRDHUP)
               for _, ev in p.poll(0)):
            closed = True
            break
        time.sleep(0.02)
    print("full k=%d closed=%d ms=%d" %
          (k, closed, (time.monotonic() - t0) * 1000), flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[2] == "--fill":
        fill(sys.argv[1], float(sys.argv[3]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("n", type=int)
    ap.add_argument("--wait-closed", type=float, default=0)
    ap.add_argument("--hold", action="store_true")
    ap.add_argument("--push", nargs=4,
                    metavar=("CLUSTER", "MEMBER", "ROLE", "SECONDS"))
    a = ap.parse_args()

    count = {"greeting": 0, "refused": 0, "closed": 0, "eof": 0,
             "timeout": 0, "failed": 0}
    codes = {}
    served = []  # (socket, when it was connected)
    refused = []
    keep = []  # (socket, when it was connected)
    for _ in range(a.n):
        s = socket.socket(socket.AF_UNIX)
        t0 = time.monotonic()
        try:
            s.connect(a.socket)
        except OSError:
            count["failed"] += 1
            s.close()
            continue
        keep.append((s, t0))
    print("connected %d" % len(keep), flush=True)
    for s, t0 in keep:
        line = first_message(s)
        if line is None:
            count["timeout"] += 1
        elif line == "":
            count["eof"] += 1
        else:
            msg = json.loads(line)
            if "error" in msg:
                count["refused"] += 1
                code = msg["error"]["code"]
                codes[code] = codes.get(code, 0) + 1
                refused.append(s)
            else:
                count["greeting"] += 1
                served.append((s, t0))
    # The refused ones, all within one deadline.
    deadline = time.monotonic() + READ_TIMEOUT_S
    for s in refused:
        if closed_by_peer(s, max(0, deadline - time.monotonic())):
            count["closed"] += 1
    print("done " + " ".join("%s=%d" % kv for kv in count.items()) +
          " codes=" + ",".join("%s:%d" % kv for kv in sorted(codes.items())),
          flush=True)

    if a.wait_closed > 0:
        deadline = time.monotonic() + a.wait_closed
        times = []
        pending = list(served)
        while pending and time.monotonic() < deadline:
            r = select.select([s for s, _ in pending], [], [],
                              deadline - time.monotonic())[0]
            for s, t0 in list(pending):
                if s in r and closed_by_peer(s, 0.5):
                    times.append((time.monotonic() - t0) * 1000)
                    pending.remove((s, t0))
        print("idle closed=%d of=%d min_ms=%d max_ms=%d" %
              (len(times), len(served), min(times, default=0),
               max(times, default=0)), flush=True)

    if a.push and served:
        s = served[0][0]
        f = s.makefile("rb")
        cluster, member, role, seconds = a.push
        end = time.monotonic() + float(seconds)
        sent = ok = 0
        while time.monotonic() < end:
            sent += 1
            s.sendall(json.dumps({"id": sent, "method": "role", "params": {
                "cluster": cluster, "member": member,
                "role": role}}).encode() + b"\n")
            ok += "result" in json.loads(f.readline())
        print("pushed %d ok=%d" % (sent, ok), flush=True)

    if a.hold:
        print("holding", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            signal.pause()


if __name__ == "__main__":
    main()
