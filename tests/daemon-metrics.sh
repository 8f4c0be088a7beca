#!/bin/sh
# daemon-metrics.sh: `balloonctl metrics` from a running balloond with fake
# guests: promtool accepts the exposition, its values agree with
# `balloonctl status`, and the counters count what happened (balloon
# commands, control requests, failed REST polls). The same exposition from
# the HTTP listener ([metrics] listen: 200, 404, 405, HEAD, clients that
# send nothing) and the textfile ([metrics] textfile: atomic, nothing left
# behind, a failure said once).
. "$top_srcdir/tests/lib/daemon-lib.sh"
PROMTOOL=${PROMTOOL:-promtool}
command -v "$PROMTOOL" >/dev/null || bail "no promtool (install-deps.sh installs prometheus)"

P="$T/proc"
mkdir -p "$P"
cat >"$P/meminfo" <<EOF2
MemTotal:        4194304 kB
MemFree:         3145728 kB
MemAvailable:    3145728 kB
EOF2
# A free port for the HTTP listener (the kernel's pick, released).
HTTP_PORT=$(bdtest free-port)
# http METHOD PATH: one request to the listener; prints the status and the
# Content-Type, the body goes to $T/body.
http() { bdtest http "$HTTP_PORT" "$1" "$2" "$T/body"; }

# A cluster whose REST API never answers: its polls fail. The textfile
# goes to a collector directory of its own.
TF="$T/collector/balloond.prom"
mkdir -p "$T/collector"
cat >"$T/m.conf" <<EOF2
[metrics]
textfile = $TF
textfile_interval_ms = 1000
listen = 127.0.0.1:$HTTP_PORT
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
value() { bdtest metric "$T/m.txt" "$1"; }
metrics() { ctl metrics >"$T/m.txt"; }

start_fake 2
start_daemon --proc-root "$P"
ctl register vm0 --qmp "$T/vm0.qmp" --min 128M >/dev/null || bail "register vm0"
ctl register vm1 --qmp "$T/vm1.qmp" --min 128M --patroni pg/m1 >/dev/null ||
	bail "register vm1"

expect 0 "balloonctl metrics exits 0" ctl metrics
cp "$T/out" "$T/m.txt"
check "promtool check metrics accepts it" sh -c "'$PROMTOOL' check metrics <'$T/m.txt'"
check "every family has HELP and TYPE" bdtest metrics-typed "$T/m.txt"

check "every balloond_ metric the alerting rules and the dashboard use exists" \
	bdtest metrics-cover "$T/m.txt" "$top_srcdir/monitoring/balloond.rules.yml" \
	"$top_srcdir/monitoring/balloond-dashboard.json"

# A pin moves vm0: one more balloon command, one more set request.
metrics
cmds0=$(value 'balloond_guest_balloon_commands_total{guest="vm0"}')
sets0=$(value 'balloond_control_requests_total{method="set",result="ok"}')
expect 0 "pin vm0 at 200M" ctl set vm0 200M
check "vm0 reaches 200M" wait_field 20 vm0 actual_bytes $((200 * MiB))
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
check "vm1, its cluster unreachable, is held at max as a possible leader" \
	test "$(value 'balloond_guest_may_be_leader{guest="vm1"}')" = 1
check "vm0, outside Patroni, is not" \
	test "$(value 'balloond_guest_may_be_leader{guest="vm0"}')" = 0
check "the cluster's facts turn stale at max_age_ms (30 s)" \
	test "$(value 'balloond_cluster_facts_max_age_seconds{cluster="pg"}')" = 30.000
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
check "metrics agree with status" bdtest metrics-match-status "$T/status.json" "$T/m.txt"

# ---- the HTTP listener ----
check "GET /metrics: 200, text/plain; version=0.0.4" \
	test "$(http GET /metrics)" = "200 text/plain; version=0.0.4; charset=utf-8 "
check "promtool check metrics accepts the HTTP answer" sh -c "'$PROMTOOL' check metrics <'$T/body'"
check "the HTTP answer has the guests" grep -q '^balloond_guest_max_bytes{guest="vm1"} ' "$T/body"
check "HEAD /metrics: 200 without a body" \
	sh -c "test \"\$1\" = '200 text/plain; version=0.0.4; charset=utf-8 ' && ! test -s '$T/body'" _ "$(http HEAD /metrics)"
check "GET / is 404" test "$(http GET /)" = "404 text/plain; charset=utf-8 "
check "GET /metricsx is 404" test "$(http GET /metricsx)" = "404 text/plain; charset=utf-8 "
check "POST /metrics is 405, Allow: GET, HEAD" \
	test "$(http POST /metrics)" = "405 text/plain; charset=utf-8 GET, HEAD"
check "DELETE /metrics is 405" test "$(http DELETE /metrics | cut -d' ' -f1)" = 405

# Clients that connect and send nothing, or half a request, hold
# connections: neither the loop (status) nor another scraper waits for
# them; and once they hold every connection the listener allows, they are
# dropped at its timeout rather than lock scrapers out for ever.
"$PY" -m bdtest hold-tcp "$HTTP_PORT" "$T/silent.ready" 3 "GET /metr" &
SILENT_PID=$!
wait_for 20 test -e "$T/silent.ready" || bail "the silent clients did not connect"
t0=$(date +%s%N)
check "with silent clients connected, GET /metrics answers" test "$(http GET /metrics | cut -d' ' -f1)" = 200
t1=$(date +%s%N)
check "at once (under 5 s, not after their 10 s timeout)" test $(((t1 - t0) / 1000000)) -lt 5000
check "and status answers" quiet ctl status
kill "$SILENT_PID" 2>/dev/null
wait "$SILENT_PID" 2>/dev/null
"$PY" -m bdtest hold-tcp "$HTTP_PORT" "$T/flood.ready" 40 &
FLOOD_PID=$!
wait_for 20 test -e "$T/flood.ready" || bail "the flood did not connect"
check "40 idle connections do not stall the loop" quiet ctl status
scraped() { test "$(bdtest http --timeout 3 "$HTTP_PORT" GET /metrics | cut -d' ' -f1)" = 200; }
check "once the idle ones time out (10 s), a scrape gets through" wait_for 40 scraped
kill "$FLOOD_PID" 2>/dev/null
wait "$FLOOD_PID" 2>/dev/null

# ---- the textfile ----
# only_textfile DIR: DIR holds the textfile and nothing else (no temporary
# file left behind).
only_textfile() { test "$(ls -A "$1")" = balloond.prom; }
check "the textfile is written" wait_for 20 test -s "$TF"
check "promtool check metrics accepts the textfile" sh -c "'$PROMTOOL' check metrics <'$TF'"
check "it shows the pin" wait_for 20 grep -q '^balloond_guest_pinned{guest="vm0"} 1$' "$TF"
check "nothing but the textfile in the collector directory" only_textfile "$T/collector"
check "readable by the collector (mode 0644)" test "$(stat -c %a "$TF")" = 644
expect 0 "release vm0" ctl release vm0
check "the textfile follows: vm0 unpinned" \
	wait_for 20 grep -q '^balloond_guest_pinned{guest="vm0"} 0$' "$TF"

# A directory that does not exist: said once, nothing written; once it
# exists, the file comes.
sed "s|^textfile = .*|textfile = $T/later/balloond.prom|" "$T/m.conf" >"$T/m2.conf"
cp "$T/m2.conf" "$T/m.conf"
expect 0 "reload to a textfile in a missing directory" ctl reload
check "the failure is logged" wait_for 20 grep -q "metrics textfile $T/later/balloond.prom: creating a temporary file" "$T/daemon.log"
mkdir "$T/later"
check "once the directory exists the textfile comes" wait_for 20 test -s "$T/later/balloond.prom"
check "the listener serves again after the reload" \
	test "$(http GET /metrics | cut -d' ' -f1)" = 200
check "and its recovery is logged" grep -q "metrics textfile .*: written again" "$T/daemon.log"
check "the failure was said once" \
	test "$(grep -c "metrics textfile $T/later/balloond.prom: creating" "$T/daemon.log")" = 1

stop_daemon TERM
check "balloond exits 0" test "$STOP_RC" = 0
check "nothing left behind at exit" only_textfile "$T/later"
tap_done
