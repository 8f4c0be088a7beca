#!/usr/bin/python3
"""switchover_table.py WITHOUT.jsonl WITH.jsonl: bench/run-switchover.sh's
table, from tests/lib/patroni-switch.py's measurements (one JSON object
a switchover) without and with the pre_promote hook: the medians from
patronictl to the new leader's balloon at max, to its first write and to
patronictl's end, and how many first writes found a small guest."""
import json, statistics, sys
def load(p):
    return [json.loads(l) for l in open(p)]
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")
rows = {}
for name, path in (("without pre_promote", sys.argv[1]), ("with pre_promote", sys.argv[2])):
    runs = load(path)
    at_max = med([(r["at_max_us"] - r["start_us"]) / 1000 if r["at_max_us"] else None for r in runs])
    write = med([(r["first_write_us"] - r["start_us"]) / 1000 for r in runs])
    done = med([(r["command_done_us"] - r["start_us"]) / 1000 for r in runs])
    # Below max minus balloond's move tolerance (8 MiB) at the first write.
    small = sum(1 for r in runs if (r["actual_at_first_write"] or 0) < 248 * 1048576)
    rows[name] = (at_max, write, done, small, len(runs))
print("real Patroni cluster, switchover to a shrunk replica (medians; 256 MiB guests, replica target 160 MiB, TCG):")
print("  %-20s %22s %22s %18s %s" % ("", "patronictl -> at max", "-> first write", "-> patronictl", "first writes on a small guest"))
for name, (m, w, d, s, n) in rows.items():
    print("  %-20s %19.0f ms %19.0f ms %15.0f ms %d of %d" % (name, m, w, d, s, n))
print("  delay the hook adds to the switchover (first write as leader): %+.0f ms"
      % (rows["with pre_promote"][1] - rows["without pre_promote"][1]))
