# prometheus-lib.sh: a private Prometheus (Debian's, on 127.0.0.1, its
# storage in the test's directory) for the tests that check balloond's
# metrics as Prometheus stores them: tests/prometheus-metrics.sh (fake
# guests) and tests/real/prometheus-real.sh (test-vm guests). Source it
# after daemon-lib.sh.
PROMETHEUS=${PROMETHEUS:-prometheus}
PROMTOOL=${PROMTOOL:-promtool}
command -v "$PROMETHEUS" >/dev/null || bail "no prometheus (install-deps.sh installs it)"
command -v "$PROMTOOL" >/dev/null || bail "no promtool (install-deps.sh installs prometheus)"
PROM_PID=
stop_prometheus() {
	[ -n "$PROM_PID" ] && kill -TERM "$PROM_PID" 2>/dev/null
	[ -n "$PROM_PID" ] && wait "$PROM_PID" 2>/dev/null
	PROM_PID=
}

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PROM_PORT=$(free_port)

# prom_host P S: a --proc-root P and --sys-root S fixture of a 4 GiB host
# with a ZFS ARC that balloond may cap; prom_host_available MIB sets its
# MemAvailable.
prom_host() {
	mkdir -p "$1/spl/kstat/zfs" "$1/pressure" "$2/module/zfs/parameters"
	PROM_PROC=$1
	prom_host_available 3072
	cat >"$1/spl/kstat/zfs/arcstats" <<EOF2
13 1 0x01 123 33456 5029341722 1234567890123
name                            type data
c                               4    1073741824
c_min                           4    268435456
c_max                           4    3221225472
size                            4    1073741824
EOF2
	printf 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n' \
		>"$1/pressure/memory"
	echo 0 >"$2/module/zfs/parameters/zfs_arc_max"
}
prom_host_available() {
	cat >"$PROM_PROC/meminfo.tmp" <<EOF2
MemTotal:        4194304 kB
MemFree:         $(($1 * 1024)) kB
MemAvailable:    $(($1 * 1024)) kB
EOF2
	mv "$PROM_PROC/meminfo.tmp" "$PROM_PROC/meminfo"
}

# start_prometheus SCRAPE_CONFIGS: Prometheus with the rules as shipped
# but every alert due at once (each "for" shortened to 0s in the copy it
# loads), scraping and evaluating every second.
start_prometheus() {
	sed 's/^\( *\)for: .*/\1for: 0s/' "$top_srcdir/monitoring/balloond.rules.yml" >"$T/rules.yml"
	cat >"$T/prometheus.yml" <<EOF2
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $T/rules.yml
scrape_configs:
$1
EOF2
	"$PROMETHEUS" --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
		--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
		>"$T/prometheus.log" 2>&1 &
	PROM_PID=$!
}

# q EXPR: the instant query's result as JSON lines (one per series); exit
# 1 on an error, 2 on an empty result.
q() {
	"$PY" - "$PROM_PORT" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
url = "http://127.0.0.1:%s/api/v1/query?%s" % (
    sys.argv[1], urllib.parse.urlencode({"query": sys.argv[2]}))
try:
    r = json.load(urllib.request.urlopen(url, timeout=10))
except Exception as e:
    print("# %s: %s" % (sys.argv[2], e))
    sys.exit(1)
if r.get("status") != "success":
    print("# %s: %s" % (sys.argv[2], r))
    sys.exit(1)
for s in r["data"]["result"]:
    print(json.dumps(s))
sys.exit(0 if r["data"]["result"] else 2)
PY
}

# up_count: how many targets Prometheus scrapes successfully.
up_count() { q 'count(up == 1)' | sed -n 's/.*"value": \[[^,]*, "\([0-9]*\)"\].*/\1/p'; }
targets_up() { test "$(up_count)" = "$1"; }
# stored_at_least N: balloond_build_info has N samples in the last minute
# (rate() and increase() need two).
stored_at_least() {
	n=$(q 'min(count_over_time(balloond_build_info[1m]))' |
		sed -n 's/.*"value": \[[^,]*, "\([0-9]*\)"\].*/\1/p')
	test "${n:-0}" -ge "$1"
}

# agree JOB: what Prometheus stored from JOB agrees with `balloonctl
# status` (polled: the latest scrape may be a second old).
agree() {
	ctl status --json >"$T/status.json" || return 1
	"$PY" - "$PROM_PORT" "$T/status.json" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
port, st, job = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
def sel(name, **labels):
    labels["job"] = job
    return name + "{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}"
def val(expr):
    u = "http://127.0.0.1:%s/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": expr}))
    r = json.load(urllib.request.urlopen(u, timeout=5))["data"]["result"]
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
PY
}

# The dashboard's queries, one line each (title TAB expression), with
# its variables as Grafana substitutes them for "All"; and its template
# variables' label_values() queries (name TAB metric selector TAB label).
"$PY" - "$top_srcdir/monitoring/balloond-dashboard.json" "$T/panels" "$T/variables" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
def subst(e):
    return e.replace("$instance", ".*").replace("$guest", ".*")
with open(sys.argv[2], "w") as f:
    for p in d["panels"]:
        for t in p["targets"]:
            f.write("%s\t%s\n" % (p["title"], subst(t["expr"])))
with open(sys.argv[3], "w") as f:
    for v in d["templating"]["list"]:
        if v["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", v["definition"])
        f.write("%s\t%s\t%s\n" % (v["name"], subst(m.group(1)), m.group(2)))
PY
# panels_ok: every dashboard query runs and every panel returns data.
panels_ok() {
	rc=0
	: >"$T/panel-data"
	while IFS='	' read -r title expr; do
		q "$expr" >/dev/null
		case $? in
		0) echo "$title" >>"$T/panel-data" ;;
		2) ;;
		*) echo "# the query of panel '$title' fails: $expr"; rc=1 ;;
		esac
	done <"$T/panels"
	cut -f1 "$T/panels" | sort -u | while read -r title; do
		grep -qxF "$title" "$T/panel-data" || { echo "# panel '$title' has no data"; exit 1; }
	done || rc=1
	return $rc
}
# panels_without_data: the queries with nothing to show, for the log.
panels_without_data() {
	while IFS='	' read -r title expr; do
		q "$expr" >/dev/null
		[ $? -ne 2 ] || diag "no data here: $title: $expr"
	done <"$T/panels"
}
# variables_ok: each template variable's label_values() has values.
variables_ok() {
	"$PY" - "$PROM_PORT" "$T/variables" <<'PY'
import json, sys, urllib.parse, urllib.request
rc = 0
for line in open(sys.argv[2]):
    name, match, label = line.rstrip("\n").split("\t")
    u = "http://127.0.0.1:%s/api/v1/series?%s" % (sys.argv[1], urllib.parse.urlencode({"match[]": match}))
    r = json.load(urllib.request.urlopen(u, timeout=5))
    vals = {s.get(label) for s in r["data"]} - {None}
    if r["status"] != "success" or not vals:
        print("# variable %s: no values (%s)" % (name, match))
        rc = 1
sys.exit(rc)
PY
}

# The alerting rules' expressions, one line each (alert TAB expression).
"$PY" - "$top_srcdir/monitoring/balloond.rules.yml" >"$T/exprs" <<'PY'
import sys, yaml
for g in yaml.safe_load(open(sys.argv[1]))["groups"]:
    for r in g["rules"]:
        print(r["alert"] + "\t" + " ".join(r["expr"].split()))
PY
# rules_run: every alerting rule's expression runs (most have nothing to
# say on a healthy host).
rules_run() {
	rc=0
	while IFS='	' read -r alert expr; do
		q "$expr" >/dev/null
		[ $? -ne 1 ] || { echo "# $alert: the expression fails"; rc=1; }
	done <"$T/exprs"
	return $rc
}

# firing ALERT: Prometheus says the alert is firing.
firing() {
	"$PY" - "$PROM_PORT" "$1" <<'PY'
import json, sys, urllib.request
r = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/v1/alerts" % sys.argv[1], timeout=5))
sys.exit(0 if [a for a in r["data"]["alerts"]
               if a["labels"]["alertname"] == sys.argv[2] and a["state"] == "firing"] else 1)
PY
}
