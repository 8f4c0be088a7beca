#!/usr/bin/python3
"""monitoring.py: the alerting rules in monitoring/ are valid Prometheus
rules, and their unit tests (promtool test rules) pass: each alert fires
on a made-up series and stays silent on a healthy one; every alert has
both tests, and the dashboard a query per panel and a guest variable."""
import json
import os
import shutil
import subprocess
import sys

import yaml

from bdtest import Tap

M = os.path.join(os.environ["top_srcdir"], "monitoring")
PROMTOOL = os.environ.get("PROMTOOL", "promtool")


def promtool(desc, args, cwd=None):
    """One test point from a promtool run; its output as comments."""
    r = subprocess.run([PROMTOOL] + args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    tap.check(desc, r.returncode == 0)
    tap.diag(r.stdout.rstrip("\n"))


def alerts_tested():
    """Every alert has a test that fires it and one that stays silent, a
    summary, a description and a severity."""
    rules = yaml.safe_load(open(os.path.join(M, "balloond.rules.yml")))
    tests = yaml.safe_load(open(os.path.join(M, "balloond.rules.test.yml")))
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    fired, silent = set(), set()
    for t in tests["tests"]:
        for a in t.get("alert_rule_test", []):
            (fired if a.get("exp_alerts") else silent).add(a["alertname"])
    good = True
    for name, r in alerts.items():
        for what, ok in (("firing test", name in fired), ("silent test", name in silent),
                         ("summary", "summary" in r.get("annotations", {})),
                         ("description", "description" in r.get("annotations", {})),
                         ("severity", "severity" in r.get("labels", {}))):
            if not ok:
                tap.diag("%s: no %s" % (name, what))
                good = False
    return good


def dashboard_complete():
    d = json.load(open(os.path.join(M, "balloond-dashboard.json")))
    names = [v["name"] for v in d["templating"]["list"]]
    good = "guest" in names
    for p in d["panels"]:
        if not p.get("targets") or not all(t.get("expr") for t in p["targets"]):
            tap.diag("panel without a query: %s" % p.get("title"))
            good = False
    titles = " ".join(p["title"] for p in d["panels"])
    for want in ("headroom", "MemAvailable", "ARC", "Target against actual", "Roles",
                 "commands per minute", "Reclaim", "reachability"):
        if want not in titles:
            tap.diag("no panel for %s" % want)
            good = False
    return good


tap = Tap()
if not shutil.which(PROMTOOL):
    tap.bail("no promtool (install-deps.sh installs prometheus)")
promtool("promtool check rules balloond.rules.yml",
         ["check", "rules", os.path.join(M, "balloond.rules.yml")])
# promtool resolves rule_files relative to the test file.
promtool("promtool test rules balloond.rules.test.yml",
         ["test", "rules", "balloond.rules.test.yml"], cwd=M)
tap.check("every alert has a test that fires it and one that stays silent", alerts_tested())
tap.check("the dashboard: every panel has a query, a guest variable", dashboard_complete())
sys.exit(tap.done())
