#!/usr/bin/python3
"""patroni-switch.py: run a Patroni switchover and time what the candidate
guest and its PostgreSQL do, for tests/real/patroni-real.sh, ./demo and
bench/run-patroni.sh.

usage: patroni-switch.py --socket SOCK --vm NAME --pg-port PORT
                         --max BYTES [--tolerance BYTES] [--timeout S]
                         -- SWITCHOVER-COMMAND...

While SWITCHOVER-COMMAND runs it
  - reads the balloon's actual of guest NAME from QEMU every few
    milliseconds (balloond's read-only QMP pass-through on SOCK: the QMP
    socket itself is balloond's), and
  - tries an INSERT into table w on the candidate's PostgreSQL (127.0.0.1
    PORT) in a loop, with a 1 s connect timeout; it fails while the
    candidate is a read-only replica;
and at the first INSERT that succeeds reads the actual once more, at once.
Prints one JSON object; times are wall-clock microseconds:
  start_us, command_done_us, command_rc, first_write_us,
  actual_at_first_write, read_after_write_us, at_max_us (the first read
  with actual >= max - tolerance; null if none), actual_before.
Exit status 0 when the command succeeded and a write went through.
"""
import argparse, json, subprocess, sys, threading, time

import psycopg2

from bdtest import Control


def now_us():
    return time.time_ns() // 1000


def actual(ctl, vm):
    """A guest's actual size, asked live through balloond's read-only QMP
    pass-through (None on an error)."""
    m = ctl.call("qmp", {"name": vm, "command": "query-balloon"})
    if "error" in m:
        return None
    r = m["result"]
    return r.get("return", r).get("actual")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--vm", required=True)
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--max", type=int, required=True)
    ap.add_argument("--tolerance", type=int, default=8 << 20)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("command", nargs="+")
    a = ap.parse_args()

    out = {"at_max_us": None, "first_write_us": None, "actual_at_first_write": None}
    stop = threading.Event()
    reader = Control(a.socket, timeout_s=None)
    out["actual_before"] = actual(reader, a.vm)

    def poll():
        ctl = Control(a.socket, timeout_s=None)
        while not stop.is_set():
            v = actual(ctl, a.vm)
            t = now_us()
            if v is not None and v >= a.max - a.tolerance and out["at_max_us"] is None:
                out["at_max_us"] = t
            time.sleep(0.002)

    def write():
        deadline = time.monotonic() + a.timeout
        conn = None
        while time.monotonic() < deadline and not stop.is_set():
            try:
                if conn is None:
                    conn = psycopg2.connect(host="127.0.0.1", port=a.pg_port, user="postgres",
                                            password="sup", dbname="postgres", connect_timeout=1)
                    conn.autocommit = True
                conn.cursor().execute("insert into w values (now())")
            except psycopg2.Error:
                if conn is not None and conn.closed:
                    conn = None
                time.sleep(0.002)
                continue
            out["first_write_us"] = now_us()
            out["actual_at_first_write"] = actual(reader, a.vm)
            out["read_after_write_us"] = now_us()
            return

    threads = [threading.Thread(target=poll, daemon=True), threading.Thread(target=write, daemon=True)]
    out["start_us"] = now_us()
    for t in threads:
        t.start()
    rc = subprocess.run(a.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        timeout=a.timeout).returncode
    out["command_done_us"] = now_us()
    out["command_rc"] = rc
    threads[1].join(a.timeout)
    # Keep polling until the guest is at max (or the timeout).
    deadline = time.monotonic() + a.timeout
    while out["at_max_us"] is None and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    threads[0].join(5)
    print(json.dumps(out))
    return 0 if rc == 0 and out["first_write_us"] else 1


if __name__ == "__main__":
    sys.exit(main())
