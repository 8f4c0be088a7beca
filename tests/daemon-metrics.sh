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
chmod 0755 "$T" # the peers below (setpriv) must reach the socket
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
[daemon]
role_group = nogroup
max_conns_per_uid = 1
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

# libmicrohttpd is loaded when a listener is configured: a daemon without
# one maps none of it (nor libcurl without a [cluster], nor libcrypto
# without a key), and a reload that adds one loads it.
mapped() { grep -q "/$1\.so" "/proc/$DAEMON_PID/maps"; }
unmapped() { ! mapped "$1"; }
printf '[qmp]\nstats_interval_s = 0\n' >"$T/bare.conf"
BALLOOND_CONF="$T/bare.conf" start_daemon
check "no listener: libmicrohttpd not mapped" unmapped libmicrohttpd
check "no [cluster]: libcurl not mapped" unmapped libcurl
check "no key: libcrypto not mapped" unmapped libcrypto
diag "shared libraries mapped without a listener: $(bdtest maps-libs "$DAEMON_PID")"
printf '[metrics]\nlisten = 127.0.0.1:%s\n' "$HTTP_PORT" >>"$T/bare.conf"
expect 0 "reload: a listener" ctl reload
check "with listener: libmicrohttpd mapped" mapped libmicrohttpd
check "and it serves" test "$(http GET /metrics | cut -d' ' -f1)" = 200
diag "shared libraries mapped with a listener: $(bdtest maps-libs "$DAEMON_PID")"
stop_daemon TERM

# A listener whose library cannot be loaded: said at start, naming the
# library; the daemon runs on without it.
BALLOOND_CONF="$T/bare.conf" start_daemon_with_faults BD_FAULT_DLOPEN=libmicrohttpd
check "libmicrohttpd missing: the start says so" wait_for 20 \
	grep -q "error.*metrics: cannot listen on 127.0.0.1:$HTTP_PORT: cannot load libmicrohttpd.so.12: .*No such file" "$T/daemon.log"
expect 0 "... and balloond runs on" ctl status
stop_daemon TERM

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

# Requests refused before or outside their method count too: a guest
# that is not registered, a method that does not exist, a role peer
# asking for more than roles, a peer with no rights, a peer over its
# connection bound. raw USER LINE...: as USER (role_group is nogroup:
# nobody/nogroup is a role peer, daemon/daemon a stranger), one
# connection per LINE, all held open; prints each connection's first
# answer after the greeting (a refused peer gets its error instead).
raw() {
	user=$1
	shift
	setpriv --reuid="$user" --regid="$(id -gn "$user")" --clear-groups \
		"$PY" -m bdtest first-answers "$SOCK" "$@"
}
count() { value "balloond_control_requests_total{method=\"$1\",result=\"$2\"}"; }
metrics
for k in set:error unknown:error status:refused unknown:refused; do
	eval "c_${k%%:*}_${k#*:}=$(count "${k%%:*}" "${k#*:}")"
done
expect 1 "set on a guest that is not registered" ctl set nosuch 200M
check "... answers not-found" grep -q "no guest named" "$T/err"
check "an unknown method is answered unknown-method" \
	test "$(raw root '{"id": 1, "method": "frobnicate"}')" = '"unknown-method"'
check "a role peer asking for status is refused" \
	test "$(raw nobody '{"id": 1, "method": "status"}')" = '"permission-denied"'
check "a peer with no rights is refused" \
	test "$(raw daemon '{"id": 1, "method": "status"}')" = '"permission-denied"'
check "a role peer's second connection is over max_conns_per_uid" \
	test "$(raw nobody '{"id": 1, "method": "role", "params": {"cluster": "other", "member": "x", "role": "replica"}}' \
		'{"id": 2, "method": "status"}' | tail -n 1)" = '"unavailable"'
metrics
check "the not-found set counted as a set error" \
	test "$(count set error)" = $((c_set_error + 1))
check "the unknown method counted as method unknown, error" \
	test "$(count unknown error)" = $((c_unknown_error + 1))
check "the role peer's status counted as refused" \
	test "$(count status refused)" = $((c_status_refused + 1))
check "the stranger and the connection over the bound counted as refused (method unknown)" \
	test "$(count unknown refused)" = $((c_unknown_refused + 2))
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

# Prometheus keeps its scrape connections alive: two scrapes on one
# connection, without "Connection: close"; and the listener closes an idle
# kept-alive connection at its timeout (10 s), as it does a silent one.
check "two scrapes on one kept-alive connection" bdtest http-keepalive "$HTTP_PORT"

# eof_within PORT SECONDS [SEND]: a connection that sends SEND (nothing by
# default) and then nothing more is closed by the listener (EOF) within
# SECONDS; prints after how long.
eof_within() { bdtest eof-within "$@"; }
check "an idle kept-alive connection is closed at the timeout" \
	eof_within "$HTTP_PORT" $((40 * TIME_SCALE)) 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'

# Clients that connect and send nothing, send half a request, or ask and
# then read slowly (a receive buffer of 4 KiB, 256 bytes every 100 ms)
# hold connections: neither the loop (a control request) nor another
# scraper waits for them, and each is closed at the timeout.
"$PY" -m bdtest http-idle-clients "$HTTP_PORT" "$T/silent.ready" "$T/silent.closed" &
SILENT_PID=$!
wait_for 20 test -e "$T/silent.ready" || bail "the silent clients did not connect"
ms() { echo $(($(date +%s%N) / 1000000)); }
t0=$(ms)
check "with silent and slow clients connected, GET /metrics answers" test "$(http GET /metrics | cut -d' ' -f1)" = 200
t1=$(ms)
timely "at once (not after their 10 s timeout)" $((t1 - t0)) $((3000 * TIME_SCALE))
t0=$(ms)
check "and a control request (status) answers" quiet ctl status
t1=$(ms)
timely "at once too" $((t1 - t0)) $((3000 * TIME_SCALE))
check "the silent clients are closed at the timeout" wait_for 60 test -s "$T/silent.closed"
diag "closed after $(cat "$T/silent.closed" 2>/dev/null) s (timeout 10 s)"
kill "$SILENT_PID" 2>/dev/null
wait "$SILENT_PID" 2>/dev/null

# The bound: 16 idle connections take every connection the listener
# allows: a 17th client waits (in the kernel's backlog) rather than being
# served; the loop does not wait; once the idle ones time out, scrapes
# get in again.
"$PY" -m bdtest hold-tcp "$HTTP_PORT" "$T/flood.ready" 16 &
FLOOD_PID=$!
wait_for 20 test -e "$T/flood.ready" || bail "the flood did not connect"
# scrape_status SECONDS: one scrape's status, 0 for none within SECONDS.
scrape_status() { bdtest http --timeout "$1" "$HTTP_PORT" GET /metrics | cut -d' ' -f1; }
check "16 idle connections reach the bound: a 17th is not served (3 s)" \
	test "$(scrape_status 3)" = 0
t0=$(ms)
check "16 idle connections do not stall the loop" quiet ctl status
t1=$(ms)
timely "status at once" $((t1 - t0)) $((3000 * TIME_SCALE))
scrape_ok() { test "$(scrape_status 3)" = 200; }
check "once the idle ones time out (10 s), a scrape gets through" \
	wait_for 40 scrape_ok
kill "$FLOOD_PID" 2>/dev/null
wait "$FLOOD_PID" 2>/dev/null
check "no warning for a loopback listener" sh -c "! grep -q 'not a loopback address' '$T/daemon.log'"

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

# Any address but loopback: said as a warning, and served all the same.
ANY_PORT=$(bdtest free-port tcp 0.0.0.0)
sed "s|^listen = .*|listen = 0.0.0.0:$ANY_PORT|" "$T/m.conf" >"$T/m2.conf"
cp "$T/m2.conf" "$T/m.conf"
expect 0 "reload to listen on 0.0.0.0" ctl reload
check "a non-loopback listener is logged as a warning" wait_for 20 \
	grep -q "warning.*metrics: listening on 0.0.0.0:$ANY_PORT, not a loopback address" "$T/daemon.log"
HTTP_PORT=$ANY_PORT
check "and serves" wait_for 20 scrape_ok

stop_daemon TERM
check "balloond exits 0" test "$STOP_RC" = 0
check "nothing left behind at exit" only_textfile "$T/later"
tap_done
