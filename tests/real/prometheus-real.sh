#!/bin/sh
# prometheus-real.sh: balloond with two real QEMU guests (test-vm, 256 MiB
# each, TCG will do), and a private Prometheus on 127.0.0.1 that scrapes
# balloond's HTTP listener (job balloond) and, through node_exporter's
# textfile collector, the textfile (job node). promtool accepts all three
# outputs (balloonctl metrics, the listener, the textfile); every value
# Prometheus stored from either job agrees with `balloonctl status`;
# every query of the dashboard and of the alerting rules runs on it, and
# each panel and template variable returns data; and an alert really
# fires: a --proc-root fixture host loses its headroom, balloond reclaims
# from the real guests, and BalloondHostHeadroomLow fires (the rules are
# loaded with every "for" shortened to 0s, so that it fires within the
# test's seconds rather than after its 10 minutes), then resolves.
. "$top_srcdir/tests/daemon-lib.sh"
. "$top_srcdir/tests/prometheus-lib.sh"
NODE_EXPORTER=${NODE_EXPORTER:-prometheus-node-exporter}
command -v "$NODE_EXPORTER" >/dev/null ||
	bail "no node_exporter (install-deps.sh installs prometheus-node-exporter)"

G="$T/guests"
near() { # near GUEST BYTES: actual within 1 % of BYTES
	a=$(field "$1" actual_bytes)
	[ -n "$a" ] && [ $((a > $2 ? a - $2 : $2 - a)) -le $(($2 / 100)) ]
}
has_data() { q "$1" >/dev/null; }
not_firing() { ! firing "$1"; }
mkdir -p "$G" "$T/collector"
NE_PID=
stop_all() {
	stop_prometheus
	[ -n "$NE_PID" ] && kill -TERM "$NE_PID" 2>/dev/null
	[ -n "$NE_PID" ] && wait "$NE_PID" 2>/dev/null
	"$top_srcdir/test-vm/stop" --dir "$G" >/dev/null 2>&1
}
trap 'stop_all; cleanup' EXIT

for g in g1 g2; do
	"$top_srcdir/test-vm/start" --dir "$G" --name $g --mem 256M --interval 0 >"$T/$g.path" 2>"$T/$g.err" &
	eval "p_$g=\$!"
done
wait "$p_g1" || bail "guest g1 did not boot: $(tail -n 5 "$T/g1.err")"
wait "$p_g2" || bail "guest g2 did not boot: $(tail -n 5 "$T/g2.err")"
diag "guests booted under $(cat "$G/g1.accel")"

HTTP_PORT=$(free_port)
NE_PORT=$(free_port)
TF="$T/collector/balloond.prom"
prom_host "$T/proc" "$T/sys"
cat >"$T/m.conf" <<EOF2
[qmp]
stats_interval_s = 1
[host]
interval_ms = 200
reserve = 1G
[metrics]
listen = 127.0.0.1:$HTTP_PORT
textfile = $TF
textfile_interval_ms = 1000
[cluster pg]
rest_urls = http://127.0.0.1:9
poll_interval_ms = 500
EOF2
export BALLOOND_CONF="$T/m.conf"
start_daemon --proc-root "$T/proc" --sys-root "$T/sys"
expect 0 "register g1" ctl register g1 --qmp "$G/g1.qmp" --min 128M
expect 0 "register g2, a Patroni member" ctl register g2 --qmp "$G/g2.qmp" --min 128M --patroni pg/m1
expect 0 "pin g1 at 200M" ctl set g1 200M
check "g1's real balloon reaches 200 MiB (within 1 %)" wait_for 60 near g1 $((200 * MiB))
check "the guests' memory statistics arrive" wait_for 30 sh -c "'$BALLOONCTL' status --json | grep -q available_bytes"

# node_exporter with its textfile collector only (and its own metrics).
"$NODE_EXPORTER" --web.listen-address="127.0.0.1:$NE_PORT" --collector.disable-defaults \
	--collector.textfile --collector.textfile.directory="$T/collector" \
	>"$T/node_exporter.log" 2>&1 &
NE_PID=$!

start_prometheus "  - job_name: balloond
    static_configs:
      - targets: ['127.0.0.1:$HTTP_PORT']
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']"

# ---- the three outputs ----
expect 0 "balloonctl metrics" ctl metrics
check "promtool check metrics: balloonctl metrics" sh -c "'$PROMTOOL' check metrics <'$T/out'"
check "the listener answers" "$PY" - "$HTTP_PORT" "$T/http.txt" <<'PY'
import sys, urllib.request
r = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=20)
open(sys.argv[2], "wb").write(r.read())
sys.exit(0 if r.status == 200 else 1)
PY
check "promtool check metrics: the listener" sh -c "'$PROMTOOL' check metrics <'$T/http.txt'"
check "the textfile is written" wait_for 20 test -s "$TF"
check "promtool check metrics: the textfile" sh -c "'$PROMTOOL' check metrics <'$TF'"
check "all three show the real guests" sh -c \
	"for f in '$T/out' '$T/http.txt' '$TF'; do grep -q '^balloond_guest_max_bytes{guest=\"g2\"} $((256 * MiB))\$' \"\$f\" || exit 1; done"

# ---- what Prometheus stored ----
check "Prometheus scrapes both jobs (balloond, node)" wait_for 60 targets_up 2
check "node_exporter read the textfile without error" wait_for 20 has_data 'node_textfile_scrape_error == 0'
check "several scrapes stored from both" wait_for 30 stored_at_least 5
check "every value from the listener agrees with balloonctl status" wait_for 20 agree balloond
# The textfile is written every second and read by the next scrape: a
# value may be two seconds behind.
check "every value from the textfile agrees with balloonctl status" wait_for 30 agree node
check "every dashboard query runs and every panel has data" wait_for 30 panels_ok
panels_without_data
check "every template variable of the dashboard has values" variables_ok
check "every alerting rule's expression runs" rules_run
check "Prometheus loaded every rule without error" sh -c "! grep -qi 'error' '$T/prometheus.log'"
check "BalloondDown is silent (balloond up, the textfile fresh)" not_firing BalloondDown

# ---- an alert fires: the host's headroom goes ----
check "BalloondHostHeadroomLow is silent" not_firing BalloondHostHeadroomLow
# g1 free to give again (a pinned guest never gives); g2, a Patroni member
# whose cluster does not answer, may be the leader: held at its max.
expect 0 "release g1" ctl release g1
check "g1 grows back to its max" wait_for 60 near g1 $((256 * MiB))
# 800 MiB available of 4 GiB: effective headroom 160 MiB (MemAvailable,
# plus half the ARC above c_min, 384 MiB, less the 1 GiB reserve), under
# the low watermark (5 % of MemTotal, 204.8 MiB), above the critical one
# (2 %, 81.9 MiB). (Without arc_manage: with it the policy, and
# balloond_host_headroom_bytes, judge by MemAvailable less the reserve.)
prom_host_available 800
check "balloond sees the pressure" wait_for 20 sh -c "'$BALLOONCTL' status --json | grep -q '\"reclaiming\": true'"
check "BalloondHostHeadroomLow fires in Prometheus" wait_for 30 firing BalloondHostHeadroomLow
check "Prometheus sees the real g1 shrink under its max" wait_for 90 has_data "balloond_guest_actual_bytes{job=\"balloond\",guest=\"g1\"} < $((250 * MiB))"
check "and g2, a possible leader, stays at its max" has_data "balloond_guest_actual_bytes{job=\"balloond\",guest=\"g2\"} == $((256 * MiB))"
check "BalloondPossibleLeaderBelowMax is silent" not_firing BalloondPossibleLeaderBelowMax
check "the reclaim episode is counted in Prometheus" wait_for 20 has_data 'balloond_host_reclaim_episodes_total{job="balloond"} >= 1'
check "Prometheus still agrees with status (listener)" wait_for 20 agree balloond
prom_host_available 3072
check "the pressure ends" wait_for 20 sh -c "'$BALLOONCTL' status --json | grep -q '\"reclaiming\": false'"
check "and the alert resolves" wait_for 30 not_firing BalloondHostHeadroomLow

stop_prometheus
stop_daemon TERM
check "balloond exits 0" test "$STOP_RC" = 0
check "nothing left in the collector directory but the textfile" test "$(ls -A "$T/collector")" = balloond.prom
check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
tap_done
