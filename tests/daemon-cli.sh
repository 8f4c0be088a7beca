#!/bin/sh
# daemon-cli.sh: balloond and balloonctl as an admin uses them, on a
# private socket and state dir with fake QMP guests: every subcommand,
# every validation error, exit codes, persistence and the spool.
. "$top_srcdir/tests/lib/daemon-lib.sh"

# ---- without a daemon ----
expect 0 "balloonctl --help" "$BALLOONCTL" --help
for c in status register unregister set release role monitor reload qmp; do
	check "--help lists $c" grep -q "^  $c " "$T/out"
done
out_has "Exit status"
expect 2 "unknown subcommand is a usage error" "$BALLOONCTL" frobnicate
expect 2 "bad --timeout is a usage error" "$BALLOONCTL" --timeout x status
expect 3 "no daemon: exit 3" "$BALLOONCTL" --socket "$T/nothing.sock" status
err_has "is balloond running"
expect 0 "balloond --help" "$BALLOOND" --help
out_has "--proc-root"
expect 2 "balloond: unknown option" "$BALLOOND" --bogus
printf '[daemon]\nfoo = 1\n' >"$T/bad.conf"
expect 1 "balloond: unknown config key stops start-up" "$BALLOOND" -f --config "$T/bad.conf"
err_has "bad.conf:2: [daemon] foo: unknown key"
printf '[qmp]\ncommand_timeout_ms = soon\n' >"$T/bad2.conf"
expect 1 "balloond: bad value stops start-up" "$BALLOOND" -f --config "$T/bad2.conf"
err_has "bad2.conf:2: [qmp] command_timeout_ms: 'soon' is not a whole number"
expect 1 "balloond: missing --config file" "$BALLOOND" -f --config "$T/none.conf"

reason_has() { field "$1" reason | grep -qF -- "$2"; }
not_registered() { ! ctl status --json | grep -qF "\"name\": \"$1\""; }

start_fake 4
printf '[cluster pg]\nrest_urls = http://127.0.0.1:9\n' >"$T/base.conf"
BALLOOND_CONF="$T/base.conf" start_daemon

# ---- register ----
expect 0 "register with max from QEMU" ctl register vm0 --qmp "$T/vm0.qmp"
out_has "max 256 MiB, min 256 MiB"
check "status --json: max_bytes is the guest's RAM" test "$(field vm0 max_bytes)" = $((256 * MiB))
check "status --json: min defaults to max" test "$(field vm0 min_bytes)" = $((256 * MiB))
check "status --json: link up" test "$(field vm0 link)" = up
check "status --json: actual read from QEMU" test "$(field vm0 actual_bytes)" = $((256 * MiB))
expect 1 "duplicate name refused" ctl register vm0 --qmp "$T/vm1.qmp"
err_has "already registered"
expect 1 "duplicate socket refused" ctl register other --qmp "$T/vm0.qmp"
err_has "already used by guest 'vm0'"
expect 1 "min above max refused" ctl register vm1 --qmp "$T/vm1.qmp" --min 200M --max 128M
err_has "min 200 MiB is above max 128 MiB"
expect 1 "replica target above max refused" ctl register vm1 --qmp "$T/vm1.qmp" --max 200M --replica-target 220M
err_has "replica target 220 MiB is above max 200 MiB"
expect 1 "replica target below min refused" ctl register vm1 --qmp "$T/vm1.qmp" --min 150M --replica-target 100M
err_has "replica target 100 MiB is below min 150 MiB"
expect 1 "absurdly small max refused" ctl register vm1 --qmp "$T/vm1.qmp" --max 1M
err_has "outside [64 MiB, 16 TiB]"
expect 1 "absurdly large max refused" ctl register vm1 --qmp "$T/vm1.qmp" --max 100T
expect 1 "max above the guest's RAM refused" ctl register vm1 --qmp "$T/vm1.qmp" --max 1G
err_has "above the guest's RAM 256 MiB"
expect 1 "missing socket refused" ctl register vm1 --qmp "$T/missing.qmp"
err_has "No such file or directory"
expect 1 "relative socket path refused" ctl register vm1 --qmp vm1.qmp
expect 1 "bad guest name refused" ctl register "vm 1" --qmp "$T/vm1.qmp"
expect 2 "bad size is a usage error" ctl register vm1 --qmp "$T/vm1.qmp" --max 12X
expect 2 "--qmp is required" ctl register vm1
expect 2 "--patroni needs CLUSTER/MEMBER" ctl register vm1 --qmp "$T/vm1.qmp" --patroni pg
check "refused registrations left nothing behind" test "$(ctl status --json | grep -c '"name"')" = 1

# ---- set / release ----
expect 0 "register with min (shrinking opted in)" ctl register vm1 --qmp "$T/vm1.qmp" --min 128M
expect 1 "set below min refused" ctl set vm1 64M
err_has "64 MiB is below vm1's min 128 MiB"
expect 1 "set above max refused" ctl set vm1 512M
err_has "512 MiB is above vm1's max 256 MiB"
expect 1 "set on unknown guest" ctl set nosuch 200M
err_has "no guest named 'nosuch'"
expect 2 "set with a bad size" ctl set vm1 lots
expect 2 "set with missing size" ctl set vm1
expect 0 "set within bounds" ctl set vm1 192M
check "no warning when the pin is followed" test ! -s "$T/err"
check "actual reaches the pinned size" wait_field 10 vm1 actual_bytes $((192 * MiB))
check "QEMU got exactly one balloon to 192 MiB" test "$(balloons vm1.qmp | grep -c "^$((192 * MiB))$")" = 1
expect 0 "release" ctl release vm1
check "released guest goes back to max" wait_field 10 vm1 actual_bytes $((256 * MiB))
check "status says why it is at max again" reason_has vm1 "at max"
expect 1 "release unknown guest" ctl release nosuch

# ---- roles ----
expect 0 "register a Patroni member" ctl register vm2 --qmp "$T/vm2.qmp" --min 128M --patroni pg/node2
check "role starts unknown (may be leader)" field_is vm2 role unknown
expect 1 "a cluster name too long for a [cluster NAME] section is refused" \
	ctl register vm3 --qmp "$T/vm3.qmp" --patroni abcdefghijabcdefghijabcdefghijabcdefghijab/node3
err_has "longer than 41 characters"
expect 0 "register a member of a cluster the config lacks" ctl register vm3 --qmp "$T/vm3.qmp" --min 128M --patroni nope/node3
check "undefined cluster: kept at max and status says why" reason_has vm3 "not defined in the config"
expect 0 "and its pin is stored" ctl set vm3 128M
check "but it stays at max" reason_has vm3 "not defined in the config"
expect 0 "unregister it" ctl unregister vm3

# ---- names and the socket path at their limits ----
# A guest name and a member name of 63 bytes (BD_NAME_MAX with the NUL)
# and a QMP socket path of 107 (sun_path's 108 with the NUL), a symlink
# to vm3's socket.
name63=$(printf 'n%.0s' $(seq 62))L
member63=$(printf 'm%.0s' $(seq 62))L
pad=$((107 - ${#T} - 1 - 6))
[ "$pad" -ge 1 ] || bail "the test dir $T is too long for a 107-byte socket path"
mkdir "$T/$(printf 'd%.0s' $(seq $pad))"
qmp107="$T/$(printf 'd%.0s' $(seq $pad))/l.qmp"
ln -s "$T/vm3.qmp" "$qmp107"
check "the names are 63 bytes and the path 107" test "${#name63}:${#member63}:${#qmp107}" = 63:63:107
expect 1 "a 64-byte guest name is refused" ctl register "${name63}x" --qmp "$qmp107"
expect 1 "a 108-byte socket path is refused" ctl register vm3 --qmp "${qmp107}x"
expect 0 "register a guest with every name at its limit" \
	ctl register "$name63" --qmp "$qmp107" --min 128M --patroni "pg/$member63"
check "its link comes up" wait_field 10 "$name63" link up
check "status shows its socket path whole" field_is "$name63" qmp "$qmp107"
check "and its member name" field_is "$name63" member "$member63"
expect 0 "a role for the 63-byte member" ctl role pg "$member63" replica
check "names it" field_is "$name63" role replica
expect 0 "unregister it" ctl unregister "$name63"
# Out of a cluster (whose REST API is unreachable here: kept at max), so
# that it moves.
expect 0 "register it again, no Patroni member" ctl register "$name63" --qmp "$qmp107" --min 128M
expect 0 "set it" ctl set "$name63" 160M
check "its target lands" wait_field 10 "$name63" actual_bytes $((160 * MiB))
check "its last action says so" field_is "$name63" last_action "set target 160 MiB (was 256 MiB)"
expect 0 "unregister it" ctl unregister "$name63"
expect 0 "role change reported" ctl role pg node2 master
check "role is leader" field_is vm2 role leader
expect 0 "pin on a leader is stored" ctl set vm2 128M
err_has "warning: vm2: pin stored, but the target stays 256 MiB: Patroni leader (pushed): at max"
check "but a leader is kept at max, and status says why" reason_has vm2 "Patroni leader"
check "its target stays at max" field_is vm2 target_bytes $((256 * MiB))
expect 1 "role for an unknown member" ctl role pg nobody replica
err_has "no registered guest is member 'nobody'"
expect 2 "role needs three words" ctl role pg node2

balloons vm2.qmp >"$T/vm2.targets"
check "QEMU never got a target below max for the leader" sh -c "! grep -qv '^$((256 * MiB))\$' '$T/vm2.targets'"
# ---- qmp passthrough ----
expect 0 "qmp --vm runs a command on the daemon's link" ctl qmp --vm vm0 query-balloon
out_has "\"actual\":$((256 * MiB))"
expect 1 "qmp --vm refuses balloon (bounds)" ctl qmp --vm vm0 balloon '{"value": 1}'
expect 1 "qmp --vm: QEMU error is exit 1" ctl qmp --vm vm0 query-no-such-thing
err_has "CommandNotFound"
expect 1 "qmp --vm on an unknown guest" ctl qmp --vm nosuch query-balloon
expect 2 "qmp needs --socket or --vm" ctl qmp query-balloon
expect 2 "qmp ARGS must be an object" ctl qmp --vm vm0 query-balloon '[1]'

# ---- call: one raw request ----
expect 0 "call status: exit 0" ctl call status
check "... prints the reply, its result and the request's id" \
	test "$(bdtest json result.guests.0.name <"$T/out")" = vm0 -a "$(bdtest json id <"$T/out")" = 1
expect 0 "call set with params" ctl call set '{"name": "vm1", "bytes": 167772160}'
check "... took effect" wait_field 10 vm1 pin_bytes $((160 * MiB))
expect 0 "call release" ctl call release '{"name": "vm1"}'
check "... took effect" wait_field 10 vm1 pin_bytes ""
expect 1 "call: an error reply is exit 1" ctl call set '{"name": "nosuch", "bytes": 167772160}'
check "... the reply, with its error, on stdout" test "$(bdtest json error.code <"$T/out")" = not-found
err_has "nosuch"
expect 1 "call: an unknown method is exit 1" ctl call explode
check "... unknown-method" test "$(bdtest json error.code <"$T/out")" = unknown-method
expect 2 "call: params that are not an object" ctl call set '[1]'
expect 2 "call: params that are not JSON" ctl call set '{"name":'
expect 2 "call: an object with more after it" ctl call status '{} junk'
expect 0 "call: an object with spaces after it" ctl call status '{} '
check "call: the reply on one line" test "$(wc -l <"$T/out")" = 1
check "... compact, its slashes as balloond sent them" grep -qF "\"control_socket\":\"$SOCK\"" "$T/out"
expect 2 "call: no method" ctl call
expect 3 "call: no daemon is exit 3" "$BALLOONCTL" --socket "$T/nothing.sock" call status
expect 0 "call --help" ctl call --help
out_has "balloonctl call METHOD [PARAMS-JSON]"

# ---- monitor ----
ctl monitor --json --count 2 >"$T/monitor.out" 2>&1 &
mon=$!
check "monitor subscribed" wait_for 10 grep -q "request monitor" "$T/daemon.log"
ctl set vm1 160M >/dev/null
check "monitor prints events as JSON lines" wait_for 10 grep -q '"event":"pin"' "$T/monitor.out"
wait_exit 30 "$mon"
check "monitor --count exits after N events" test $? -eq 0

# ---- reload ----
expect 0 "reload" ctl reload
kill -HUP "$DAEMON_PID"
check "SIGHUP reloads the config" wait_for 10 sh -c "test \$(grep -c 'configuration reloaded' '$T/daemon.log') -ge 2"
cp "$T/bad.conf" "$T/live.conf"
# A running daemon with a config that goes bad keeps its old config.
stop_daemon
cp "$T/base.conf" "$T/live.conf"
BALLOOND_CONF="$T/live.conf" start_daemon
printf '[daemon]\nbogus = 1\n' >"$T/live.conf"
expect 1 "reload of a broken config is refused" ctl reload
err_has "live.conf:2"
expect 0 "and the daemon still answers" ctl status
expect 1 "a second balloond on the same socket refuses to start" "$BALLOOND" -f --control-socket "$SOCK" --state-dir "$T/state2" --config /dev/null
check "the first one still answers" quiet ctl status

# ---- persistence ----
check "registrations are on disk" on_disk vm2
check "pins are on disk" on_disk vm1 pin_bytes $((160 * MiB))
check "control socket is owner-only" test "$(stat -c %a "$SOCK")" = 600
# Peer credentials: even on a socket anyone may open, only root (and the
# configured group) is served.
chmod 755 "$T"
chmod 666 "$SOCK"
expect 1 "a non-root caller is refused by its credentials" runuser -u nobody -- "$BALLOONCTL" --timeout "$CTL_TIMEOUT" --socket "$SOCK" status
err_has "for root and its control group only"
expect 0 "root still is served" ctl status
stop_daemon TERM
check "SIGTERM exits 0" test "$STOP_RC" = 0
check "control socket removed on exit" test ! -e "$SOCK"
start_daemon
check "registrations restored after restart" test "$(ctl status --json | grep -c '"name"')" = 3
stop_daemon TERM
printf '[daemon]\ncontrol_group = nogroup\n' >>"$T/live.conf"
sed -i '/bogus/d' "$T/live.conf"
BALLOOND_CONF="$T/live.conf" start_daemon
check "control_group: the socket belongs to the group" test "$(stat -c %G:%a "$SOCK")" = nogroup:660
expect 0 "control_group: a member is served" runuser -u nobody -- "$BALLOONCTL" --timeout "$CTL_TIMEOUT" --socket "$SOCK" status
check "pin restored after restart" field_is vm1 pin_bytes $((160 * MiB))
expect 0 "unregister" ctl unregister vm0
expect 1 "unregister twice" ctl unregister vm0
check "unregistered guest is gone from disk" not_on_disk vm0

# ---- systemd socket activation: the listening socket comes as fd 3 ----
stop_daemon TERM
bdtest activate "$T/act.sock" "$T/act.log" "$BALLOOND" --foreground \
	--config /dev/null --control-socket "$T/act.sock" --state-dir "$STATE" >"$T/act.pid"
act=$(cat "$T/act.pid")
check "a socket-activated balloond serves the socket it was given" wait_for 20 quiet "$BALLOONCTL" --timeout "$CTL_TIMEOUT" --socket "$T/act.sock" status
check "it listens on the inherited fd 3, not a socket of its own" grep -q "socket activation: listening on fd 3" "$T/act.log"
check "its registrations are there" sh -c "'$BALLOONCTL' --timeout $CTL_TIMEOUT --socket '$T/act.sock' status --json | grep -q '\"vm1\"'"
kill -TERM "$act"
# Gone, or a zombie waiting for PID 1 (its parent, python, is gone).
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }
check "it exits on SIGTERM" wait_for 20 gone "$act"
check "and leaves systemd's socket file in place" test -S "$T/act.sock"
start_daemon

# ---- one balloond per state directory ----
cp "$STATE/guests.journal" "$T/journal.before" 2>/dev/null || : >"$T/journal.before"
expect 1 "a second balloond on the same state dir refuses to start" \
	"$BALLOOND" --foreground --config /dev/null --control-socket "$T/second.sock" --state-dir "$STATE"
err_has "another balloond uses this state directory"
check "and left the first one's journal alone" cmp -s "$T/journal.before" "$STATE/guests.journal"
expect 0 "the first one is still served" ctl status

# ---- the spool: registrations made while the daemon is down ----
stop_daemon
printf '{"method": "register", "params": {"name": "vm3", "qmp": "%s", "min_bytes": %d}}\n' \
	"$T/vm3.qmp" $((128 * MiB)) >"$STATE/spool/0001-test.json.tmp"
mv "$STATE/spool/0001-test.json.tmp" "$STATE/spool/0001-test.json"
printf '{"method": "unregister", "params": {"name": "vm2"}}\n' >"$STATE/spool/0002-test.json"
printf 'garbage' >"$STATE/spool/0003-bad.json"
start_daemon
check "spooled register picked up at start" wait_field 10 vm3 link up
check "spooled unregister applied in order" not_registered vm2
check "spool emptied" test -z "$(ls "$STATE/spool")"
check "spooled registration persisted" wait_for 10 on_disk vm3
printf '{"method": "unregister", "params": {"name": "vm3"}}\n' >"$STATE/spool/0004.json.tmp"
mv "$STATE/spool/0004.json.tmp" "$STATE/spool/0004.json"
check "spool files dropped while running are picked up" wait_for 10 not_registered vm3
check "bad spool file logged, not fatal" grep -q "0003-bad.json" "$T/daemon.log"

check "daemon still healthy" quiet ctl status
stop_daemon TERM
check "final SIGTERM exits 0" test "$STOP_RC" = 0
check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
tap_done
