#!/bin/sh
# daemon-roles.sh: what hooks rely on. A registration that does not wait
# for QEMU (the libvirt hook's) and runs again at reconnect; a role that
# waits for the leader's balloon to reach max (Patroni's pre_promote); and
# role_group, a peer with fewer rights, on the socket and in its spool.
. "$top_srcdir/tests/lib/daemon-lib.sh"

# rpc METHOD PARAMS: one raw request (balloonctl call, with a timeout
# longer than any wait_ms below); prints the reply line.
rpc() { "$BALLOONCTL" --timeout $((60 * TIME_SCALE)) call "$@" 2>/dev/null; }
# jget REPLY PATH: a member of a reply (error.code, result.at_max).
jget() { printf '%s' "$1" | bdtest json "$2"; }
actual_is() { test "$(fake_actual "$1")" = "$2"; }

# Guests start shrunk to 128 MiB (set straight over their own QMP socket,
# before balloond knows them), and every move takes 1.5 s.
start_fake 3 --move-ms 1500
for i in 0 1 2; do
	quiet ctl qmp --socket "$T/vm$i.qmp" balloon '{"value": 134217728}' ||
		bail "cannot shrink vm$i"
done
for i in 0 1 2; do
	wait_for 20 actual_is vm$i.qmp $((128 * MiB)) || bail "vm$i did not shrink"
done
chmod 0755 "$T" # the less trusted peers below must reach the socket
printf '[daemon]\nrole_group = nogroup\n[cluster pg]\n' >"$T/roles.conf"
BALLOOND_CONF="$T/roles.conf" start_daemon

# ---- register without waiting (the libvirt hook) ----
expect 0 "register --no-wait of a socket that does not exist yet" \
	ctl register late --qmp "$T/late.qmp" --max 256M --no-wait
check "kept at once, and on disk before the reply" on_disk late max_bytes $((256 * MiB))
check "its link is down, and says why" field_is late link down
expect 0 "the same registration again is a no-op" \
	ctl register late --qmp "$T/late.qmp" --max 256M --no-wait
check "still one guest named late" test "$(ctl status --json | grep -o '"name": *"late"' | wc -l)" = 1
expect 0 "again with other settings replaces it" \
	ctl register late --qmp "$T/late.qmp" --max 192M --no-wait
check "the new max is in effect and on disk" on_disk late max_bytes $((192 * MiB))
check "status shows the new max" field_is late max_bytes $((192 * MiB))
expect 1 "without --no-wait a registered name is still refused" \
	ctl register late --qmp "$T/late.qmp"
err_has "already registered"
expect 1 "--no-wait does not take another guest's QMP socket" \
	ctl register other --qmp "$T/late.qmp" --no-wait
err_has "already used by guest 'late'"
check "a non-boolean wait is refused" test "$(jget "$(rpc register '{"name":"x","qmp":"/x","wait":1}')" error.code)" = invalid-params
check "a non-boolean hook is refused" test "$(jget "$(rpc register '{"name":"x","qmp":"/x","wait":false,"hook":"yes"}')" error.code)" = invalid-params
# The socket appears later (QEMU started): the link comes up by itself,
# past the register deadline a waiting client would have had.
"$FAKE_QMP" --dir "$T" --count 0 --socket "$T/late.qmp" --mem 268435456 >"$T/late.out" 2>&1 &
LATE_PID=$!
trap 'kill $LATE_PID 2>/dev/null; cleanup' EXIT
check "the kept registration connects once QEMU is there" wait_field 30 late link up
kill $LATE_PID 2>/dev/null
wait $LATE_PID 2>/dev/null

# ---- role with wait_ms (pre_promote) ----
expect 0 "register vm0 as pg/pg1" ctl register vm0 --qmp "$T/vm0.qmp" --patroni pg/pg1 --min 64M
# The cluster's facts are unknown: balloond grows vm0 to max, which takes
# the fake 1.5 s. A leader push with wait_ms answers once it is there.
reply=$(rpc role '{"cluster":"pg","member":"pg1","role":"primary","wait_ms":10000}')
after=$(fake_actual vm0.qmp)
check "the reply says at_max" test "$(jget "$reply" result.at_max)" = true
check "when it came, QEMU's actual was max already" test "$after" = $((256 * MiB))
check "it did wait (waited_ms > 0)" test "$(jget "$reply" result.waited_ms)" -gt 0
# The push again (a leader restarting): vm0 is at max already, so the
# reply goes at once, not at the wait's first tick (every 20 ms,
# methods.c), as it did before. (Fails with neither the at-once answer
# nor the answer on the guest's own report.)
reply=$(rpc role '{"cluster":"pg","member":"pg1","role":"primary","wait_ms":10000}')
check "at max already: at_max" test "$(jget "$reply" result.at_max)" = true
check "at max already: answered before the wait's first tick" \
	test "$(jget "$reply" result.waited_ms)" -lt 20
# A guest whose balloon cannot move: the wait ends at its deadline with
# at_max false, and balloond stays responsive meanwhile.
fake mode vm1.qmp stuck >/dev/null
expect 0 "register vm1 (stuck at 128 MiB) as pg/pg2" ctl register vm1 --qmp "$T/vm1.qmp" --patroni pg/pg2 --min 64M
reply=$(rpc role '{"cluster":"pg","member":"pg2","role":"master","wait_ms":700}')
check "past the deadline: at_max false" test "$(jget "$reply" result.at_max)" = false
check "after waiting the whole wait_ms" test "$(jget "$reply" result.waited_ms)" -ge 700
reply=$(rpc role '{"cluster":"pg","member":"pg2","role":"replica","wait_ms":5000}')
check "a replica push does not wait" test -n "$reply" -a -z "$(jget "$reply" result.at_max)"
check "wait_ms out of range is refused" test "$(jget "$(rpc role '{"cluster":"pg","member":"pg2","role":"master","wait_ms":-1}')" error.code)" = invalid-params
# Waits in flight at SIGTERM are answered, not dropped (checked below at
# the end of the test).

# ---- role_group: a peer that may push roles and nothing else ----
as_role() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
as_stranger() { setpriv --reuid=1 --regid=1 --clear-groups "$@"; } # daemon: no nogroup
check "the socket is open to connect (0666) with a role group" \
	test "$(stat -c %a "$SOCK")" = 666
expect 0 "role_group: role works" as_role "$BALLOONCTL" --timeout "$CTL_TIMEOUT" role pg pg1 replica
check "and took effect" field_is vm0 role replica
for cmd in "set vm0 200M" "unregister vm0" "release vm0" "reload" "status" \
	"qmp --vm vm0 query-balloon" "register x --qmp /x --no-wait"; do
	# shellcheck disable=SC2086
	expect 1 "role_group: $cmd is refused" as_role "$BALLOONCTL" --timeout "$CTL_TIMEOUT" $cmd
	err_has "role notifications only"
done
check "vm0 is still registered after the refused unregister" field_is vm0 name vm0
expect 1 "a stranger may not even push a role" as_stranger "$BALLOONCTL" --timeout "$CTL_TIMEOUT" role pg pg1 replica
err_has "root and its control group only"

# ---- the role spool ----
RS="$STATE/role-spool"
check "the role spool is 01730, root's, the role group's" \
	test "$(stat -c '%a %U %G' "$RS")" = "1730 root nogroup"
check "the state directory lets the group through, no more (0711)" \
	test "$(stat -c %a "$STATE")" = 711
check "the role group cannot list the role spool" quiet sh -c "! setpriv --reuid=65534 --regid=65534 --clear-groups ls '$RS'"
check "nor read the state" quiet sh -c "! setpriv --reuid=65534 --regid=65534 --clear-groups cat '$STATE/guests.json'"
# spool_as METHOD PARAMS: write a request into the role spool as the role
# group, the way a hook does (temporary name, then rename).
spool_as() {
	# /usr/bin/python3 (tap.sh's PY): the less trusted user cannot see a
	# pyenv under /root.
	setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" -m bdtest spool "$RS" "$1" "$2"
}
check "the role group can spool a role" spool_as role '{"cluster":"pg","member":"pg1","role":"master"}'
check "balloond carries it out" wait_field 10 vm0 role leader
check "a register in the role spool is refused" spool_as register '{"name":"sneaky","qmp":"/tmp/x.qmp","wait":false}'
check "and logged" wait_for 10 grep -q "role_group may only send role notifications" "$T/daemon.log"
check "nothing was registered from it" test -z "$(field sneaky name)"
# A FIFO or a symbolic link left there must neither stall balloond nor
# make it read another file.
setpriv --reuid=65534 --regid=65534 --clear-groups mkfifo "$RS/00000000000000000001-fifo.json"
setpriv --reuid=65534 --regid=65534 --clear-groups ln -s /etc/shadow "$RS/00000000000000000002-link.json"
ctl register probe --qmp "$T/vm2.qmp" --no-wait >/dev/null # any change wakes the watcher too
check "a FIFO in the role spool does not stall balloond" wait_for 10 quiet ctl status
check "the FIFO and the link are removed" wait_for 10 sh -c "! ls '$RS'/*fifo* '$RS'/*link* 2>/dev/null"
check "they are logged as errors" grep -q "role-spool/00000000000000000001-fifo.json" "$T/daemon.log"
check "the role spool is empty" test -z "$(ls "$RS")"

# ---- shutdown with a wait in flight ----
# vm1 (pg2) is stuck below max: a leader push for it waits 30 s.
seen=$(grep -c 'request role' "$T/daemon.log")
rpc role '{"cluster":"pg","member":"pg2","role":"master","wait_ms":30000}' >"$T/wait.out" &
WAITER=$!
check "the waiting role request is in" \
	wait_for 10 sh -c "test \$(grep -c 'request role' '$T/daemon.log') -gt $seen"
stop_daemon TERM
wait $WAITER
check "SIGTERM answers a role still waiting (at_max false)" grep -q '"at_max": *false' "$T/wait.out"
check "balloond exits 0" test "$STOP_RC" = 0
tap_done
