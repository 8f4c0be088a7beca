#!/bin/sh
# monitoring.sh: the alerting rules in monitoring/ are valid Prometheus
# rules, and their unit tests (promtool test rules) pass: each alert fires
# on a made-up series and stays silent on a healthy one.
. "$top_srcdir/tests/tap.sh"
PROMTOOL=${PROMTOOL:-promtool}
command -v "$PROMTOOL" >/dev/null || bail "no promtool (install-deps.sh installs prometheus)"
M="$top_srcdir/monitoring"
T=$(mktemp -d "${TMPDIR:-/tmp}/balloond-monitoring.XXXXXX")
trap 'rm -rf "$T"' EXIT

check "promtool check rules balloond.rules.yml" \
	sh -c "'$PROMTOOL' check rules '$M/balloond.rules.yml' >'$T/check' 2>&1"
sed 's/^/# /' "$T/check"
# promtool resolves rule_files relative to the test file.
check "promtool test rules balloond.rules.test.yml" \
	sh -c "cd '$M' && '$PROMTOOL' test rules balloond.rules.test.yml >'$T/test' 2>&1"
sed 's/^/# /' "$T/test"
check "every alert has a test that fires it and one that stays silent" \
	/usr/bin/python3 - "$M/balloond.rules.yml" "$M/balloond.rules.test.yml" <<'PY'
import sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
tests = yaml.safe_load(open(sys.argv[2]))
alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
fired, silent = set(), set()
for t in tests["tests"]:
    for a in t.get("alert_rule_test", []):
        (fired if a.get("exp_alerts") else silent).add(a["alertname"])
bad = False
for name, r in alerts.items():
    for what, ok in (("firing test", name in fired), ("silent test", name in silent),
                     ("summary", "summary" in r.get("annotations", {})),
                     ("description", "description" in r.get("annotations", {})),
                     ("severity", "severity" in r.get("labels", {}))):
        if not ok:
            print("# %s: no %s" % (name, what))
            bad = True
sys.exit(1 if bad else 0)
PY
check "the dashboard: every panel has a query, a guest variable" \
	/usr/bin/python3 - "$M/balloond-dashboard.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
names = [v["name"] for v in d["templating"]["list"]]
bad = "guest" not in names
for p in d["panels"]:
    if not p.get("targets") or not all(t.get("expr") for t in p["targets"]):
        print("# panel without a query:", p.get("title"))
        bad = True
titles = " ".join(p["title"] for p in d["panels"])
for want in ("headroom", "MemAvailable", "ARC", "Target against actual", "Roles",
             "commands per minute", "Reclaim", "reachability"):
    if want not in titles:
        print("# no panel for", want)
        bad = True
sys.exit(1 if bad else 0)
PY
tap_done
