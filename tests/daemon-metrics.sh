#!/bin/sh
# daemon-metrics.sh: `balloonctl metrics` from a running balloond with fake
# guests: promtool accepts the exposition, its values agree with
# `balloonctl status`, and the counters count what happened (balloon
# commands, control requests, failed REST polls).
. "$top_srcdir/tests/daemon-lib.sh"
PY=${PYTHON3:-/usr/bin/python3}
PROMTOOL=${PROMTOOL:-promtool}
command -v "$PROMTOOL" >/dev/null || bail "no promtool (install-deps.sh installs prometheus)"

P="$T/proc"
mkdir -p "$P"
cat >"$P/meminfo" <<EOF2
MemTotal:        4194304 kB
MemFree:         3145728 kB
MemAvailable:    3145728 kB
EOF2
# A cluster whose REST API never answers: its polls fail.
cat >"$T/m.conf" <<EOF2
[qmp]
stats_interval_s = 0
[host]
interval_ms = 100
[cluster pg]
rest_urls = http://127.0.0.1:9
poll_interval_ms = 200
EOF2
export BALLOOND_CONF="$T/m.conf"

# value NAME{LABELS}: one sample's value from $T/m.txt.
value() {
	"$PY" - "$T/m.txt" "$1" <<'PY'
import sys
want = sys.argv[2]
for line in open(sys.argv[1]):
    name, _, v = line.rstrip("\n").rpartition(" ")
    if name == want:
        print(v)
        sys.exit(0)
sys.exit(1)
PY
}
metrics() { ctl metrics >"$T/m.txt"; }

start_fake 2
start_daemon --proc-root "$P"
ctl register vm0 --qmp "$T/vm0.qmp" --min 128M >/dev/null || bail "register vm0"
ctl register vm1 --qmp "$T/vm1.qmp" --min 128M --patroni pg/m1 >/dev/null ||
	bail "register vm1"

expect 0 "balloonctl metrics exits 0" ctl metrics
cp "$T/out" "$T/m.txt"
check "promtool check metrics accepts it" sh -c "'$PROMTOOL' check metrics <'$T/m.txt'"
check "every family has HELP and TYPE" "$PY" - "$T/m.txt" <<'PY'
import sys
helped, typed = set(), {}
for line in open(sys.argv[1]):
    w = line.split()
    if line.startswith("# HELP"):
        helped.add(w[2])
    elif line.startswith("# TYPE"):
        typed[w[2]] = w[3]
    else:
        name = w[0].split("{")[0]
        fam = name
        for s in ("_bucket", "_sum", "_count"):
            if name.endswith(s) and typed.get(name[: -len(s)]) == "histogram":
                fam = name[: -len(s)]
        if fam not in helped or fam not in typed:
            print("# no HELP/TYPE for", fam)
            sys.exit(1)
PY

# A pin moves vm0: one more balloon command, one more set request.
metrics
cmds0=$(value 'balloond_guest_balloon_commands_total{guest="vm0"}')
sets0=$(value 'balloond_control_requests_total{method="set",result="ok"}')
expect 0 "pin vm0 at 200M" ctl set vm0 200M
check "vm0 reaches 200M" wait_for 20 field_is vm0 actual_bytes $((200 * MiB))
metrics
check "the pin counted one balloon command" \
	test "$(value 'balloond_guest_balloon_commands_total{guest="vm0"}')" = $((cmds0 + 1))
check "and one set request" \
	test "$(value 'balloond_control_requests_total{method="set",result="ok"}')" = $((sets0 + 1))
expect 1 "a set out of range is refused" ctl set vm0 64M
metrics
check "the refusal counted as an error" \
	test "$(value 'balloond_control_requests_total{method="set",result="error"}')" = 1
check "vm0 is pinned" test "$(value 'balloond_guest_pinned{guest="vm0"}')" = 1
check "vm1 may be the leader: role unknown" \
	test "$(value 'balloond_guest_role{guest="vm1",role="unknown"}')" = 1
check "vm1's cluster and member" \
	test "$(value 'balloond_guest_info{guest="vm1",cluster="pg",member="m1"}')" = 1
check "the cluster is unreachable" \
	test "$(value 'balloond_cluster_reachable{cluster="pg"}')" = 0
check "its failed polls are counted" wait_for 20 sh -c \
	"'$BALLOONCTL' metrics | grep -q '^balloond_patroni_polls_total{cluster=\"pg\",result=\"error\"} [1-9]'"
check "the host's MemTotal from the fixture" \
	test "$(value balloond_host_mem_total_bytes)" = $((4194304 * 1024))

# Everything status shows agrees with the metrics, read back to back
# while nothing moves.
ctl status --json >"$T/status.json"
metrics
check "metrics agree with status" "$PY" - "$T/status.json" "$T/m.txt" <<'PY'
import json, re, sys
st = json.load(open(sys.argv[1]))
m = {}
for line in open(sys.argv[2]):
    if line.startswith("#"):
        continue
    k, _, v = line.rstrip("\n").rpartition(" ")
    m[k] = float(v)
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
    want('balloond_cluster_reachable{cluster="%s"}' % name,
         1 if c["reachable"] else 0)
for b in bad:
    print("#", b)
sys.exit(1 if bad else 0)
PY

stop_daemon TERM
check "balloond exits 0" test "$STOP_RC" = 0
tap_done
