"""doctor-json.py FILE: check `balloonctl doctor --json`'s output and list
its findings, one "SEVERITY ID" line each, in the order given.

Exits 1 (saying why on stderr) unless FILE holds one JSON object whose
"findings" is an array of objects, each with non-empty string "id",
"title", "evidence" and "fix" and a "severity" of critical, warning or
info, sorted worst first, and whose "summary" counts them."""
import json
import sys

RANK = {"critical": 2, "warning": 1, "info": 0}


def fail(why):
    sys.stderr.write("doctor-json.py: %s\n" % why)
    sys.exit(1)


def main():
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        fail("no findings array")
    counts = {k: 0 for k in RANK}
    last = 3
    for f in doc["findings"]:
        for key in ("id", "title", "evidence", "fix", "severity"):
            if not isinstance(f.get(key), str) or not f[key]:
                fail("a finding without %s: %r" % (key, f))
        if f["severity"] not in RANK:
            fail("unknown severity %r" % f["severity"])
        if RANK[f["severity"]] > last:
            fail("%s is not sorted worst first" % f["id"])
        last = RANK[f["severity"]]
        counts[f["severity"]] += 1
        print(f["severity"], f["id"])
    if doc.get("summary") != counts:
        fail("summary %r, counted %r" % (doc.get("summary"), counts))
    if not isinstance(doc.get("daemon"), bool):
        fail("no daemon boolean")


main()
