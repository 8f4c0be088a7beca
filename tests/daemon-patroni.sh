#!/bin/sh
# daemon-patroni.sh: Patroni's callback (hooks/balloond-patroni) against a
# real balloond with fake QMP guests: every action and role word, the
# hard timeout and the spool when the daemon is down or hangs, the
# pre-promote mode, a peer in role_group with fewer rights, and the
# network listener: signed datagrams accepted, forged, altered, expired,
# future and replayed ones refused and counted, a flood of bad ones; a
# --notify host name the resolver never answers.
. "$top_srcdir/tests/lib/daemon-lib.sh"
CB="$top_builddir/hooks/balloond-patroni"
DRIVE="$top_builddir/tests/balloon-drive"
MON_PID=
# Sanitizers' leak check at exit costs a callback 0.3 s: the timing
# bounds are about hanging, not about that (bench/ measures the speed).
# ASan's quarantine keeps up to 256 MiB of freed memory: a small one, so
# that the flood's RSS measures balloond, not ASan.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"
export ASAN_OPTIONS
CB_ASAN="$ASAN_OPTIONS:detect_leaks=0"
cb() { ASAN_OPTIONS="$CB_ASAN" "$CB" "$@"; }
export BALLOOND_STATE_DIR="$STATE"

patroni_cleanup() {
	[ -n "$MON_PID" ] && kill "$MON_PID" 2>/dev/null
	[ -n "${DNS_PID:-}" ] && kill "$DNS_PID" 2>/dev/null
	[ -n "$DAEMON_PID" ] && kill -CONT "$DAEMON_PID" 2>/dev/null
	cleanup
}
trap patroni_cleanup EXIT

# A free UDP port on loopback for the listener.
PORT=$(bdtest free-port udp)
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/pg.key"
echo >>"$T/pg.key"
chmod 600 "$T/pg.key"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/wrong.key"

# nogroup is role_group: its members (the peer with fewer rights below,
# uid and gid 65534) may send role notifications and nothing else.
chmod 0755 "$T"
cat >"$T/patroni.conf" <<EOF
[daemon]
role_group = nogroup
[listener]
enabled = yes
address = 127.0.0.1
port = $PORT
window_ms = 30000
[cluster pg]
rest_urls = http://127.0.0.1:9
notify_key_file = $T/pg.key
[cluster nokey]
rest_urls = http://127.0.0.1:9
EOF
export BALLOOND_CONF="$T/patroni.conf"

# elapsed_ms COMMAND...: run it, its output in $T/out and $T/err, its exit
# status in RC, its wall time in ELAPSED (ms).
timed() {
	t0=$(date +%s%N)
	"$@" >"$T/out" 2>"$T/err"
	RC=$?
	ELAPSED=$((($(date +%s%N) - t0) / 1000000))
}

# The event stream, in $T/events (again after each restart).
start_monitor() {
	[ -n "$MON_PID" ] && kill "$MON_PID" 2>/dev/null
	ctl monitor --json >>"$T/events" 2>&1 &
	MON_PID=$!
}

start_fake 4 --move-ms 100
start_daemon
start_monitor
for i in 0 1 2 3; do
	ctl register vm$i --qmp "$T/vm$i.qmp" --patroni pg/pg$i --min 128M \
		--replica-target 128M >/dev/null || bail "cannot register vm$i"
done
wait_for 10 grep -q '"event": *"register"' "$T/events" || bail "monitor has no events"

# ---- the command line ----
expect 0 "--help" "$CB" --help
for o in --member --cluster --socket --state-dir --timeout-ms --notify \
	--key-file --pre-promote --wait-ms; do
	check "--help lists $o" grep -qF -- "$o" "$T/out"
done
expect 2 "no --member: usage error" "$CB" on_role_change master pg
expect 2 "missing arguments: usage error" "$CB" --member pg0 on_role_change master
expect 2 "--notify without --key-file: usage error" "$CB" --member pg0 \
	--notify 127.0.0.1:1 on_role_change master pg
expect 0 "--pre-promote: even a usage error exits 0" "$CB" --pre-promote --member pg0
err_has "--cluster and --member are required"
expect 0 "--pre-promote with a bad --wait-ms exits 0" "$CB" --pre-promote \
	--cluster pg --member pg0 --wait-ms lots

# ---- every action and role word ----
# ACTION ROLE -> the role balloond shows (and the word in its event).
role_events() { # MEMBER WORD: role events for MEMBER with WORD
	grep '"event": *"role"' "$T/events" | grep "\"member\": *\"$1\"" |
		grep -c "\"role\": *\"$2\""
}
n=0
while read -r action role want; do
	n=$((n + 1))
	before=$(role_events pg1 "$want")
	timed cb --member pg1 "$action" "$role" pg
	check "$action $role: exit 0" test "$RC" = 0
	check "$action $role: balloond shows '$want'" field_is vm1 role "$want"
	check "$action $role: one role event with '$want'" \
		wait_for 5 sh -c "test \$(grep '\"event\": *\"role\"' '$T/events' | grep '\"member\": *\"pg1\"' | grep -c '\"role\": *\"$want\"') -eq $((before + 1))"
	timely "$action $role: well within the hard timeout" "$ELAPSED" 1000
done <<'EOF'
on_start replica replica
on_start master leader
on_reload replica replica
on_role_change primary leader
on_restart replica replica
on_role_change promoted leader
on_role_change replica replica
on_restart standby_leader leader
on_stop master unknown
on_reload master leader
on_role_change demoted unknown
on_start primary leader
on_stop replica unknown
on_future_action replica unknown
on_future_action master leader
on_role_change uninitialized unknown
EOF
cb --member pg1 on_role_change master pg >/dev/null 2>&1
check "a new leader makes the old one unknown" field_is vm1 role leader
cb --member pg2 on_role_change master pg >/dev/null 2>&1
check "... vm2 leader" field_is vm2 role leader
check "... vm1 no longer leader" field_is vm1 role unknown
check "on_stop: the guest stays at its max" field_is vm1 target_bytes $((256 * MiB))
expect 0 "--cluster overrides SCOPE" cb --member pg3 --cluster pg on_start replica otherscope
check "... pushed to cluster pg" field_is vm3 role replica
expect 0 "a member balloond does not know: exit 0" cb --member nosuch on_role_change master pg
err_has "balloond refused pg/nosuch leader"
check "... and nothing spooled" test -z "$(ls "$STATE/spool")"
# The request is written without json-c: names with a quote, a backslash,
# a newline and a non-ASCII letter reach balloond as they were given (its
# refusal quotes them back).
odd=$(printf 'pg "x"\\y\nz\303\251')
expect 0 "an odd member name: exit 0" cb --member "$odd" on_role_change master pg
err_holds() { case "$(cat "$T/err")" in *"$1"*) return 0 ;; esac; return 1; }
check "... reaches balloond byte for byte" err_holds "member '$odd' of cluster 'pg'"

# ---- the daemon down: spool, picked up at start ----
stop_daemon TERM
timed cb --member pg0 on_role_change master pg
check "daemon down: exit 0" test "$RC" = 0
timely "daemon down: fast" "$ELAPSED" 1000
check "daemon down: the notification is spooled" test "$(ls "$STATE/spool" | wc -l)" = 1
grep -q '"role"' "$STATE/spool"/* && grep -q '"leader"' "$STATE/spool"/*
check "... as a role request for leader" test $? = 0
start_daemon
start_monitor
check "the spooled role is carried out at start" wait_field 10 vm0 role leader
check "... and the spool emptied" wait_for 10 sh -c "test -z \"\$(ls '$STATE/spool')\""

# ---- a daemon that accepts but never answers ----
kill -STOP "$DAEMON_PID"
timed cb --member pg0 on_role_change replica pg
check "hung daemon: exit 0" test "$RC" = 0
timely "hung daemon: within the hard timeout" "$ELAPSED" 1600
check "hung daemon: says so" grep -q "did not answer within 1000 ms" "$T/err"
check "hung daemon: spooled" test "$(ls "$STATE/spool" | wc -l)" = 1
timed cb --member pg0 --timeout-ms 200 on_role_change replica pg
timely "--timeout-ms 200: within it" "$ELAPSED" 800
kill -CONT "$DAEMON_PID"
check "resumed: the spool is carried out" wait_for 10 sh -c "test -z \"\$(ls '$STATE/spool')\""
check "... the role is replica" wait_field 10 vm0 role replica

# ---- pre-promote ----
# vm0's balloon is at 128M and stuck there, so that it grows only when
# the test lets it: the callback must wait for it, then say "at max".
ctl unregister vm0 >/dev/null
"$DRIVE" --socket "$T/vm0.qmp" set $((128 * MiB)) --wait >/dev/null ||
	bail "cannot shrink fake vm0"
fake mode vm0.qmp stuck >/dev/null
ctl register vm0 --qmp "$T/vm0.qmp" --patroni pg/pg0 --min 128M >/dev/null
check "vm0 stuck below its max" field_is vm0 actual_bytes $((128 * MiB))
reqs=$(grep -c "request role" "$T/daemon.log")
t0=$(date +%s%N)
cb --pre-promote --cluster pg --member pg0 --wait-ms 8000 >"$T/pp.out" 2>"$T/pp.err" &
PP_PID=$!
check "pre-promote: the callback pushed the role" \
	wait_for 10 sh -c "test \$(grep -c 'request role' '$T/daemon.log') -gt $reqs"
sleep 0.3 # the balloon stays stuck a while: the callback must be waiting
check "pre-promote: still waiting while the balloon is stuck" kill -0 "$PP_PID"
fake mode vm0.qmp stuck=0 >/dev/null
wait "$PP_PID"
RC=$?
ELAPSED=$((($(date +%s%N) - t0) / 1000000))
check "pre-promote: exit 0" test "$RC" = 0
check "pre-promote: at max once the guest moved" grep -q "pg/pg0 leader: at max" "$T/pp.out"
timely "pre-promote: before its wait ran out" "$ELAPSED" 8000
check "pre-promote: vm0 at its max" field_is vm0 actual_bytes $((256 * MiB))
# vm3 cannot reach its max: the callback gives up after its wait, exit 0.
ctl unregister vm3 >/dev/null
"$DRIVE" --socket "$T/vm3.qmp" set $((128 * MiB)) --wait >/dev/null
fake mode vm3.qmp stuck >/dev/null
ctl register vm3 --qmp "$T/vm3.qmp" --patroni pg/pg3 --min 128M >/dev/null
timed cb --pre-promote --cluster pg --member pg3 --wait-ms 1000
check "pre-promote, stuck guest: exit 0" test "$RC" = 0
check "pre-promote, stuck guest: says not at max" grep -q "NOT at max" "$T/out"
check "pre-promote, stuck guest: after its wait ($ELAPSED ms)" test "$ELAPSED" -ge 1000
timely "pre-promote, stuck guest: and not much later" "$ELAPSED" 2500
kill -STOP "$DAEMON_PID"
timed cb --pre-promote --cluster pg --member pg3 --wait-ms 500
kill -CONT "$DAEMON_PID"
check "pre-promote, hung daemon: exit 0" test "$RC" = 0
timely "pre-promote, hung daemon: after wait + margin" "$ELAPSED" 2000
check "pre-promote, hung daemon: leader spooled" wait_for 10 sh -c "test -z \"\$(ls '$STATE/spool')\""
fake mode vm3.qmp stuck=0 >/dev/null
stop_daemon TERM
timed cb --pre-promote --cluster pg --member pg3
check "pre-promote, daemon down: exit 0" test "$RC" = 0
timely "pre-promote, daemon down: at once" "$ELAPSED" 1000
start_daemon
start_monitor
check "pre-promote, daemon down: the spooled leader arrives" wait_field 10 vm3 role leader

# ---- the network listener ----
listener_up() { test "$(bdtest get listener.up)" = true; }
check "listener up" listener_up
# send [KEY-FILE] FIELD=VALUE...: one datagram, signed with KEY-FILE,
# fields overriding a fresh notification's; RAW=text sends text instead;
# TWICE=1 sends it twice; ALTER=role:leader changes a field after signing;
# SAVE=FILE keeps a copy (bdtest notify).
send() { bdtest notify "$PORT" "$@"; }
counter() { # NAME: accepted, or refused.NAME
	case $1 in
	accepted) bdtest get listener.accepted ;;
	*) bdtest get "listener.refused.$1" ;;
	esac
}
counter_is() { test "$(counter "$1")" = "$2"; }

# The notification's HMAC is nettle's, not libcrypto's: loading and
# initialising OpenSSL cost a signing run several times a process's own
# start. nettle is linked from its static library where configure found
# one (its symbols are in the callback), else loaded only to sign: its
# relocations alone cost more than a run without --notify's start. The dynamic linker's own
# trace says which libraries a run initialised (a notification to a port
# nobody reads); that the datagram is signed right, the listener's
# checks below say.
lib_inits() { # LIB ARGS...: how many times LIB was initialised
	lib=$1
	shift
	LD_DEBUG=libs cb "$@" 2>&1 >/dev/null | grep -c "calling init:.*/$lib"
}
check "callback without --notify: libcrypto never loaded" \
	test "$(lib_inits libcrypto --member pg2 on_role_change replica pg)" = 0
check "callback without --notify: nettle never loaded" \
	test "$(lib_inits libnettle --member pg2 on_role_change replica pg)" = 0
check "callback --notify: libcrypto never loaded" \
	test "$(lib_inits libcrypto --member pg2 --notify 127.0.0.1:9 --key-file "$T/pg.key" on_role_change replica pg)" = 0
if nm "$CB" | grep -q ' nettle_hmac_sha256_digest$'; then
	check "callback --notify: nettle linked in, no shared nettle loaded" \
		test "$(lib_inits libnettle --member pg2 --notify 127.0.0.1:9 --key-file "$T/pg.key" on_role_change replica pg)" = 0
	check "... and nettle's shared library is no dependency of the callback" \
		sh -c "! LD_TRACE_LOADED_OBJECTS=1 '$CB' | grep -q libnettle"
else
	check "callback --notify: signed with nettle" \
		test "$(lib_inits libnettle --member pg2 --notify 127.0.0.1:9 --key-file "$T/pg.key" on_role_change replica pg)" = 1
fi
# json-c neither: the callback writes its request and datagram itself,
# and reads balloond's usual greeting and result without it; json-c is
# loaded only for an answer out of the ordinary (a refusal).
check "callback, accepted: json-c never loaded" \
	test "$(lib_inits libjson-c --member pg2 on_role_change replica pg)" = 0
check "callback --notify: json-c never loaded" \
	test "$(lib_inits libjson-c --member pg2 --notify 127.0.0.1:9 --key-file "$T/pg.key" on_role_change replica pg)" = 0
check "callback, refused: json-c loaded to read why" \
	test "$(lib_inits libjson-c --member nosuch on_role_change replica pg)" = 1
cb --member pg2 on_role_change replica pg >/dev/null 2>&1
expect 0 "callback --notify: exit 0" cb --member pg2 --notify "127.0.0.1:$PORT" \
	--key-file "$T/pg.key" on_role_change master pg
check "a valid datagram is accepted" wait_for 5 counter_is accepted 1
check "... and its role pushed" field_is vm2 role leader
check "... with the same role event as the control socket's" \
	wait_for 5 sh -c "grep '\"event\": *\"role\"' '$T/events' | tail -n 1 | grep '\"member\": *\"pg2\"' | grep -q '\"role\": *\"leader\"'"
send "$T/pg.key" role=replica
check "a datagram signed by this test's own encoder is accepted" wait_for 5 counter_is accepted 2
check "... role replica" field_is vm2 role replica
send "$T/wrong.key" role=leader
check "forged (another key): refused as bad-mac" wait_for 5 counter_is bad-mac 1
send "$T/pg.key" ALTER=role:leader role=replica
check "altered role: refused as bad-mac" wait_for 5 counter_is bad-mac 2
send "$T/pg.key" ALTER=member:pg1
check "altered member: refused as bad-mac" wait_for 5 counter_is bad-mac 3
check "... vm2 still replica" field_is vm2 role replica
send "$T/pg.key" SKEW_MS=-60000
check "expired: refused" wait_for 5 counter_is expired 1
send "$T/pg.key" SKEW_MS=60000
check "from the future: refused" wait_for 5 counter_is future 1
send "$T/pg.key" TWICE=1 role=leader
check "replayed: the first accepted" wait_for 5 counter_is accepted 3
check "... the second refused as replayed" wait_for 5 counter_is replayed 1
send "$T/pg.key" cluster=nosuch
check "unknown cluster: refused" wait_for 5 counter_is unknown-cluster 1
send "$T/pg.key" cluster=nokey
check "cluster without a key: refused" wait_for 5 counter_is no-key 1
send "$T/pg.key" RAW='{"version": 1, "not": "ours"'
check "bad JSON: refused" wait_for 5 counter_is bad-message 1
check "refusals are logged with their reason" grep -q "refused a datagram from 127.0.0.1: bad-mac" "$T/daemon.log"

# A reload keeps the replay cache: the same datagram again is a replay.
send "$T/pg.key" SAVE="$T/dgram"
check "a fresh datagram is accepted" wait_for 5 counter_is accepted 4
ctl reload >/dev/null
send "$T/pg.key" RAW="$(cat "$T/dgram")"
check "replayed after a reload: still refused" wait_for 5 counter_is replayed 2

# ---- a flood of bad datagrams ----
pid=$DAEMON_PID
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
# Warm up the paths first, so that the measure is of the flood alone.
send "$T/wrong.key"
rss0=$(rss_kib)
seen0=$(bdtest sum listener.refused)
t0=$(date +%s%N)
bdtest notify-flood "$PORT" "$T/wrong.key" 100000
send_ms=$((($(date +%s%N) - t0) / 1000000))
check "flood: the daemon answers status at once" quiet ctl status
timed cb --member pg2 on_role_change replica pg
check "flood: a callback still goes through" test "$RC" = 0
timely "flood: ... in time" "$ELAPSED" 1000
check "... and is carried out" field_is vm2 role replica
rss1=$(rss_kib)
seen1=$(bdtest sum listener.refused)
diag "flood: 100000 datagrams sent in $send_ms ms; the daemon counted $((seen1 - seen0)) (the rest dropped by the kernel's socket buffer); RSS $rss0 -> $rss1 KiB"
# Under valgrind the daemon reads far fewer before the kernel drops them.
seen_min=1000
[ "${VALGRIND:-0}" = 1 ] && seen_min=200
check "flood: the daemon saw and refused at least $seen_min" test $((seen1 - seen0)) -ge $seen_min
# Under valgrind, memcheck's queue of freed blocks (20 MB) grows too.
rss_bound=8192
[ "${VALGRIND:-0}" = 1 ] && rss_bound=65536
check "flood: RSS grew by less than $rss_bound KiB ($rss0 -> $rss1 KiB)" test $((rss1 - rss0)) -lt $rss_bound
lines=$(grep -c "listener: refused a datagram" "$T/daemon.log")
check "flood: the log holds a bounded number of refusals ($lines)" test "$lines" -lt 100
check "flood: nothing accepted" counter_is accepted 4

# ---- --notify and a resolver that never answers ----
# In network and mount namespaces of their own, /etc/resolv.conf names
# 127.0.0.1, where a UDP socket takes the queries and never answers, and
# the resolver would wait 30 s for it. The callback must give up within
# its own deadline, in both modes, and exit 0.
cat >"$T/resolv.conf" <<'EOF'
nameserver 127.0.0.1
options timeout:30 attempts:1
EOF
unshare -mn sh -c 'ip link set lo up && mount --bind "$1" /etc/resolv.conf &&
	exec "$2" -m bdtest udp-sink 53 "$3"' - "$T/resolv.conf" "$PY" "$T/dns.ready" >/dev/null 2>&1 &
DNS_PID=$!
# in_dns COMMAND...: COMMAND in the silent resolver's namespaces.
in_dns() { nsenter -t "$DNS_PID" -m -n env ASAN_OPTIONS="$CB_ASAN" "$@"; }
if wait_for 10 test -e "$T/dns.ready"; then
	timed in_dns timeout 3 getent hosts balloond-test.invalid
	check "the silent resolver holds a lookup (getent cut off after 3 s)" test "$RC" = 124
	timed in_dns timeout 60 "$CB" --member pg2 --notify "balloond-test.invalid:$PORT" \
		--key-file "$T/pg.key" on_role_change master pg
	check "--notify, resolver silent: exit 0" test "$RC" = 0
	check "--notify, resolver silent: not waiting for it ($ELAPSED ms)" test "$ELAPSED" -lt 10000
	check "... says why" grep -q "balloond-test.invalid" "$T/err"
	timed in_dns timeout 60 "$CB" --pre-promote --cluster pg --member pg2 \
		--notify "balloond-test.invalid:$PORT" --key-file "$T/pg.key"
	check "--pre-promote --notify, resolver silent: exit 0" test "$RC" = 0
	check "--pre-promote --notify, resolver silent: not waiting for it ($ELAPSED ms)" \
		test "$ELAPSED" -lt 10000
	timed in_dns timeout 60 "$CB" --member pg2 --notify "127.0.0.1:$PORT" \
		--key-file "$T/pg.key" on_role_change master pg
	check "--notify to an address: the resolver is not asked ($ELAPSED ms)" \
		test "$RC" = 0 -a "$ELAPSED" -lt 3000
else
	skip "no private network and mount namespace (unshare -mn) for a silent resolver"
fi
kill "$DNS_PID" 2>/dev/null
wait "$DNS_PID" 2>/dev/null
DNS_PID=

# ---- a peer with fewer rights: a member of role_group ----
# Patroni runs as postgres, in role_group: its callback may push roles,
# and nothing else; it spools to the role spool, which it cannot read.
as_peer() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
peer_cb() { as_peer env ASAN_OPTIONS="$CB_ASAN" "$CB" "$@"; }
expect 0 "peer: role works" peer_cb --member pg1 on_role_change replica pg
check "peer: ... and is carried out" field_is vm1 role replica
check "peer: ... without a word on stderr" test ! -s "$T/err"
expect 1 "peer: set refused" as_peer "$BALLOONCTL" --timeout "$CTL_TIMEOUT" set vm1 200M
err_has "permission"
expect 1 "peer: unregister refused" as_peer "$BALLOONCTL" --timeout "$CTL_TIMEOUT" unregister vm1
err_has "permission"
expect 1 "peer: qmp refused" as_peer "$BALLOONCTL" --timeout "$CTL_TIMEOUT" qmp --vm vm1 query-balloon
err_has "permission"
expect 1 "peer: reload refused" as_peer "$BALLOONCTL" --timeout "$CTL_TIMEOUT" reload
check "peer: vm1 still registered" field_is vm1 link up
check "peer: --pre-promote works" sh -c "setpriv --reuid=65534 --regid=65534 --clear-groups env ASAN_OPTIONS='$CB_ASAN' '$CB' --pre-promote --cluster pg --member pg1 --wait-ms 2000 | grep -q 'pg/pg1 leader: at max'"
"$CB" --member pg1 on_role_change replica pg >/dev/null 2>&1
kill -STOP "$DAEMON_PID"
timed peer_cb --member pg1 --timeout-ms 300 on_role_change master pg
check "peer, hung daemon: exit 0" test "$RC" = 0
timely "peer, hung daemon: within its timeout" "$ELAPSED" 1500
check "peer: spooled" grep -q "spooled pg/pg1 leader" "$T/err"
check "peer: into the role spool, not the root one" test -z "$(ls "$STATE/spool")" -a -n "$(ls "$STATE/role-spool")"
check "peer: cannot list the role spool" quiet sh -c "! setpriv --reuid=65534 --regid=65534 --clear-groups ls '$STATE/role-spool'"
# Someone else's file there (a name the daemon skips) is out of reach.
printf '{"method": "role"}\n' >"$STATE/role-spool/other.json.tmp"
chmod 0600 "$STATE/role-spool/other.json.tmp"
check "peer: cannot read another's file in it" quiet sh -c "! setpriv --reuid=65534 --regid=65534 --clear-groups cat '$STATE/role-spool/other.json.tmp'"
rm -f "$STATE/role-spool/other.json.tmp"
kill -CONT "$DAEMON_PID"
check "peer: the role spool is carried out" wait_field 10 vm1 role leader
check "peer: ... and emptied" wait_for 10 sh -c "test -z \"\$(ls '$STATE/role-spool')\""

stop_daemon TERM
check "balloond exited cleanly" test "$STOP_RC" = 0
tap_done
