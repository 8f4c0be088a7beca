#!/bin/sh
# daemon-peers.sh: a peer with fewer rights cannot take what root needs.
# With role_group the control socket is open to anyone (0666): hundreds
# of idle connections from nobody, refused or served, leave root's
# requests working under a low descriptor limit (refused connections are
# closed at once, connections are capped per uid with a reserve only root
# may use, idle ones are closed, monitors excepted); and no connection
# costs a name-service lookup on the loop (the groups are resolved at
# start and on reload, membership comes from the peer's credentials).
. "$top_srcdir/tests/lib/daemon-lib.sh"
# (tap.sh's PY is /usr/bin/python3: the less trusted peers cannot see a
# pyenv under /root.)
FLOOD="$top_srcdir/tests/lib/peer-flood.py"
NOFILE=200
FLOOD_PID=
chmod 0755 "$T" # the peers below must reach the socket

# Deadlines scale under valgrind (several times slower).
SLOW=1
[ "${VALGRIND:-0}" = 1 ] && SLOW=4

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# flood WHO N [ARGS...]: tests/lib/peer-flood.py as WHO (nobody in nogroup,
# or root) in the background; its output goes to $T/flood.out, and
# FLOOD_PID is its own pid (setpriv execs it).
flood() {
	if [ "$1" = nobody ]; then
		shift
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$PY" "$FLOOD" "$SOCK" "$@" >"$T/flood.out" 2>&1 &
	else
		shift
		"$PY" "$FLOOD" "$SOCK" "$@" >"$T/flood.out" 2>&1 &
	fi
	FLOOD_PID=$!
}
stop_flood() {
	[ -n "$FLOOD_PID" ] && kill "$FLOOD_PID" 2>/dev/null
	[ -n "$FLOOD_PID" ] && wait "$FLOOD_PID" 2>/dev/null
	FLOOD_PID=
}
trap 'stop_flood; cleanup' EXIT
# flooded: its connections are all open and classified.
flooded() { grep -q '^done' "$T/flood.out"; }
# flood_is KEY VALUE: a count in its "done" line.
flood_is() { grep -q "^done.* $1=$2\( \|$\)" "$T/flood.out"; }
flood_line() { grep '^done' "$T/flood.out"; }

# start_limited CONF: balloond with at most $NOFILE descriptors.
start_limited() {
	saved_wrap=$DAEMON_WRAP
	DAEMON_WRAP="prlimit --nofile=$NOFILE $DAEMON_WRAP"
	BALLOOND_CONF=$1 start_daemon
	DAEMON_WRAP=$saved_wrap
}

# ---- refused peers: closed once their error is written ----
# nobody is not in role_group (daemon), so every one of its connections
# is refused; 250 of them would hold more descriptors than balloond has.
printf '[daemon]\nrole_group = daemon\n' >"$T/stranger.conf"
start_limited "$T/stranger.conf"
flood nobody 250 --hold
check "250 connections from nobody opened" wait_for $((120 * SLOW)) flooded
diag "$(flood_line)"
check "each was refused with permission-denied" flood_is refused 250
check "and closed by balloond, not left waiting for nobody" flood_is closed 250
expect 0 "root's status works while nobody holds them" ctl status
stop_flood
stop_daemon TERM

# ---- the role group: capped per uid, a reserve for root ----
cat >"$T/cap.conf" <<EOF
[daemon]
role_group = nogroup
max_conns_per_uid = 20
EOF
start_limited "$T/cap.conf"
# A guest for the role group's pushes (kept, restored at each restart).
ctl register g1 --qmp "$T/g1.qmp" --patroni pg/pg1 --no-wait >/dev/null || bail "register g1"
flood nobody 250 --hold
check "250 connections from the role group opened" wait_for $((120 * SLOW)) flooded
diag "$(flood_line)"
check "max_conns_per_uid (20) of them are served" flood_is greeting 20
check "the rest refused" flood_is refused 230
check "and closed at once" flood_is closed 230
check "as unavailable (too many connections)" grep -q "codes=unavailable:230" "$T/flood.out"
check "the refusals are logged" grep -q "too many connections from uid 65534" "$T/daemon.log"
expect 0 "root's status works meanwhile" ctl status
expect 1 "one more from the role group is refused meanwhile" as_nobody "$BALLOONCTL" role pg pg1 replica
err_has "too many connections from uid 65534"
stop_flood
check "once they are closed, the role group is served again" \
	wait_for $((10 * SLOW)) quiet as_nobody "$BALLOONCTL" role pg pg1 replica
# The role group may push for any member of any cluster: a leader is the
# safe side (its guests stay at max), as balloond.conf(5) says; what a
# flood of pushes costs is bounded in tests/patroni-watch.sh.
expect 0 "the role group pushes a leader for a cluster of its choice" \
	as_nobody "$BALLOONCTL" role pg pg1 master
check "and it takes effect" field_is g1 role leader
stop_daemon TERM

# Without a per-uid cap worth the name, the reserve alone keeps root's
# descriptors: the role group gets those below NOFILE - root_reserve_fds.
cat >"$T/reserve.conf" <<EOF
[daemon]
role_group = nogroup
max_conns_per_uid = 1000
root_reserve_fds = 40
EOF
start_limited "$T/reserve.conf"
flood nobody 250 --hold
check "250 connections from the role group opened" wait_for $((120 * SLOW)) flooded
diag "$(flood_line)"
served=$(flood_line | sed 's/.* greeting=\([0-9]*\) .*/\1/')
check "most are served (those below the reserve)" test "$served" -ge 100
check "none of the reserve's 40 descriptors" test "$served" -le $((NOFILE - 40))
check "the rest are refused and closed" flood_is closed $((250 - served))
check "the refusals say why" grep -q "descriptors are kept for root" "$T/daemon.log"
expect 0 "root's status works" ctl status
nobody_pid=$FLOOD_PID
FLOOD_PID=
flood root 30 --hold
check "root opens 30 more connections meanwhile" wait_for $((60 * SLOW)) flooded
check "every one of them is served" flood_is greeting 30
stop_flood
FLOOD_PID=$nobody_pid
stop_flood
stop_daemon TERM

# ---- idle connections are closed; monitors and requests in flight not ----
start_fake 1 --mode hang
cat >"$T/idle.conf" <<EOF
[daemon]
role_group = nogroup
idle_timeout_ms = 1000
[qmp]
greeting_timeout_ms = 1500
command_timeout_ms = 1500
EOF
BALLOOND_CONF="$T/idle.conf" start_daemon
"$BALLOONCTL" monitor --json >"$T/monitor.out" 2>&1 &
MON_PID=$!
trap 'kill $MON_PID 2>/dev/null; stop_flood; cleanup' EXIT
check "a monitor is connected" wait_for $((10 * SLOW)) grep -q "request monitor" "$T/daemon.log"
flood nobody 5 --wait-closed $((30 * SLOW))
check "five idle connections from the role group" wait_for $((60 * SLOW)) grep -q '^idle' "$T/flood.out"
diag "$(grep '^idle' "$T/flood.out")"
check "are all closed by balloond" grep -q '^idle closed=5 of=5' "$T/flood.out"
check "after idle_timeout_ms (1000), not before" \
	test "$(sed -n 's/^idle .* min_ms=\([0-9]*\) .*/\1/p' "$T/flood.out")" -ge 1000
FLOOD_PID=
flood root 1 --wait-closed $((30 * SLOW))
check "an idle connection of root's is closed too" wait_for $((60 * SLOW)) grep -q '^idle closed=1 of=1' "$T/flood.out"
FLOOD_PID=
# A peer that does not read, whose socket buffer balloond filled with
# replies all written, then asks nothing: its idle deadline closes it
# too (the error cannot be written, so it is not waited for).
as_nobody "$PY" "$FLOOD" "$SOCK" --fill $((10 * SLOW)) >"$T/fill.out" 2>&1
diag "$(cat "$T/fill.out")"
check "a peer whose socket buffer is full is closed when idle" \
	grep -q '^full k=[1-9][0-9]* closed=1 ' "$T/fill.out"
# The monitor connected before those and is idle for longer: had it a
# deadline, it would be closed by now. It still gets events.
ctl register late --qmp "$T/late.qmp" --no-wait >/dev/null
check "the monitor is still served past the idle deadline" \
	wait_for $((10 * SLOW)) grep -q '"late"' "$T/monitor.out"
check "still running" kill -0 "$MON_PID"
# A request that waits (here for a QEMU that never answers, 4.5 s) is not
# idle: its reply comes, on the same connection.
expect 1 "a register that waits past idle_timeout_ms gets its answer" \
	ctl register slow --qmp "$T/vm0.qmp"
check "an error from QEMU's side, not a closed connection" \
	sh -c "! grep -q 'closed the connection' '$T/err' && test -s '$T/err'"
diag "$(cat "$T/err")"
kill "$MON_PID" 2>/dev/null
wait "$MON_PID" 2>/dev/null
stop_daemon TERM
check "balloond exits 0" test "$STOP_RC" = 0

# ---- no name-service lookup per connection ----
# Every lookup takes a second (a slow LDAP or sssd), and is logged.
NSS_LOG="$T/nss.log"
: >"$NSS_LOG"
printf '[daemon]\nrole_group = nogroup\n' >"$T/nss.conf"
BALLOOND_CONF="$T/nss.conf" start_daemon_with_faults \
	BD_FAULT_LOG="$NSS_LOG" BD_FAULT_NSS_DELAY_MS=1000
check "the groups were looked up at start" grep -q getgrnam "$NSS_LOG"
ctl register g1 --qmp "$T/g1.qmp" --patroni pg/pg1 --no-wait >/dev/null || bail "register g1"
before=$(wc -l <"$NSS_LOG")
# Ten role-group peers and ten strangers (uid daemon) connect; root asks
# right after them.
flood nobody 10 --hold
setpriv --reuid=daemon --regid=daemon --clear-groups "$PY" "$FLOOD" "$SOCK" 10 >"$T/stranger.out" 2>&1 &
STRANGER_PID=$!
wait_for $((20 * SLOW)) grep -q '^connected 10' "$T/flood.out" || bail "the role group did not connect"
wait_for $((20 * SLOW)) grep -q '^connected 10' "$T/stranger.out" || bail "the strangers did not connect"
t0=$(date +%s%N)
expect 0 "root's status, right behind 20 peers" ctl status
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
diag "root's status took $ms ms"
check "answered promptly (within $((3 * SLOW)) s; a lookup per peer: 20 s and more)" \
	test $ms -lt $((3000 * SLOW))
check "the peers were served" wait_for $((60 * SLOW)) flooded
check "the role group's ten" flood_is greeting 10
wait "$STRANGER_PID"
check "the strangers' ten refused" grep -q "^done.* refused=10 " "$T/stranger.out"
check "no name-service lookup for any of them" test "$(wc -l <"$NSS_LOG")" -eq "$before"
stop_flood
# Membership comes from the peer's own groups: a supplementary one counts,
# a group the peer process does not hold does not.
expect 0 "a peer with role_group as a supplementary group is served" \
	setpriv --reuid=nobody --regid=daemon --groups=nogroup "$BALLOONCTL" role pg pg1 replica
expect 1 "a peer that dropped its groups is not, whatever /etc/group says" \
	setpriv --reuid=nobody --regid=daemon --clear-groups "$BALLOONCTL" role pg pg1 replica
err_has "root and its control group only"
check "still no lookup" test "$(wc -l <"$NSS_LOG")" -eq "$before"
# A reload resolves the groups anew: role_group daemon now.
printf '[daemon]\nrole_group = daemon\n' >"$T/nss.conf"
expect 0 "reload with role_group = daemon" ctl reload
check "the new group was looked up, once" test "$(sed -n "$((before + 1)),\$p" "$NSS_LOG" | grep -c getgrnam)" -eq 1
expect 0 "a peer of the new group is served" \
	setpriv --reuid=nobody --regid=daemon --clear-groups "$BALLOONCTL" role pg pg1 replica
expect 1 "one of the old group is refused" as_nobody "$BALLOONCTL" role pg pg1 replica
stop_daemon TERM
check "balloond exits 0" test "$STOP_RC" = 0
check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
tap_done
