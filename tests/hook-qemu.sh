#!/bin/sh
# hook-qemu.sh: the libvirt qemu hook (hooks/qemu) as libvirtd runs it,
# argv NAME OPERATION SUBOP EXTRA and the domain XML on stdin, against a
# private balloond (BALLOOND_SOCKET, BALLOOND_STATE_DIR) and fake QMP
# guests; no libvirtd needed. Registration per operation, silence for
# other domains and operations, a clear line and exit 0 for bad input,
# the spool when the daemon is down or hung, and a burst of 200 starts.
. "$top_srcdir/tests/lib/daemon-lib.sh"

HOOK="$top_builddir/hooks/qemu"
export BALLOOND_STATE_DIR="$STATE"
EXTRA_PIDS=
trap 'for p in $EXTRA_PIDS; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; cleanup' EXIT

# domxml NAME [METADATA [QEMU-ARGS]]: a domain as libvirtd hands it to a
# hook (256 MiB, a virtio memballoon), into $T/NAME.xml. METADATA is the
# inside of <balloond:guest> ("-" for no balloond:guest at all); QEMU-ARGS
# defaults to the extra -qmp socket $T/NAME.qmp.
domxml() {
	meta=${2-}
	args=${3-"<qemu:arg value='-qmp'/><qemu:arg value='unix:$T/$1.qmp,server=on,wait=off'/>"}
	{
		echo "<domain type='kvm' id='7' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
		echo "  <name>$1</name>"
		echo "  <uuid>2f1c0a5e-8d4b-4c1e-9a55-0b1c2d3e4f50</uuid>"
		echo "  <memory unit='KiB'>262144</memory>"
		echo "  <currentMemory unit='KiB'>262144</currentMemory>"
		if [ "$meta" != - ]; then
			echo "  <metadata>"
			echo "    <libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'/>"
			echo "    <balloond:guest xmlns:balloond='urn:balloond:guest:1'>$meta</balloond:guest>"
			echo "  </metadata>"
		fi
		echo "  <devices><memballoon model='virtio'><alias name='balloon0'/></memballoon></devices>"
		echo "  <qemu:commandline>$args</qemu:commandline>"
		echo "</domain>"
	} >"$T/$1.xml"
}

# hook NAME OP SUBOP [XML-FILE]: run the hook as libvirtd does; output in
# $T/out and $T/err, exit status in HOOK_RC, run time in HOOK_MS.
hook() {
	t0=$(date +%s%N)
	"$HOOK" "$1" "$2" "$3" - <"${4:-$T/$1.xml}" >"$T/out" 2>"$T/err"
	HOOK_RC=$?
	HOOK_MS=$((($(date +%s%N) - t0) / 1000000))
}
hook_ok() { check "$1: exit 0" test "$HOOK_RC" = 0; }
silent() { check "$1: no output" test ! -s "$T/out" -a ! -s "$T/err"; }
registered() { ctl status --json | grep -qF "\"name\": \"$1\""; }
not_registered() { ! registered "$1"; }
n_registered() { ctl status --json | grep -c '"name"'; }
spooled() { ls "$STATE/spool" 2>/dev/null | grep -c '\.json$'; }
# (For wait_for, which must run them again at each poll.)
n_registered_is() { test "$(n_registered)" = "$1"; }
spooled_is() { test "$(spooled)" = "$1"; }

FULL="<balloond:memory min='128MiB' max='224MiB' replica-target='160MiB' priority='7'/><balloond:patroni cluster='nosuchcluster' member='m0'/>"
start_fake 204

# ---- the daemon down, before it ever ran: the spool ----
domxml vm2 "<balloond:memory min='96MiB'/>"
hook vm2 prepare begin
BASE_MS=$HOOK_MS # a hook that does nothing: this machine's process start
hook vm2 started begin
hook_ok "daemon never started"
check "says the request was spooled" grep -q "register not sent.*spooled in $STATE/spool" "$T/err"
check "a spool file (the state dir made for it)" test "$(spooled)" = 1
check "one line on stderr" test "$(wc -l <"$T/err")" = 1
timely "no daemon: no wait for the hard timeout (${HOOK_MS} ms against ${BASE_MS} ms doing nothing): the difference" $((HOOK_MS - BASE_MS)) 700

start_daemon
check "a daemon started later carries the spooled register out" wait_for 20 registered vm2
check "its bounds come from the metadata" test "$(field vm2 min_bytes)" = $((96 * MiB))
check "the spool file is removed once on disk" wait_for 20 spooled_is 0

# ---- started / reconnect / stopped / release ----
domxml vm0 "$FULL"
for op in "prepare begin" "start begin"; do
	# shellcheck disable=SC2086
	hook vm0 $op
	check "$op: exit 0, silent, nothing registered" test "$HOOK_RC" = 0 -a ! -s "$T/err" -a ! -s "$T/out"
	check "$op: not registered" not_registered vm0
done
# expat is loaded only for an event the hook acts on, and libxml2 (with
# the ICU and libstdc++ it brings) never: the dynamic linker's own trace
# says which libraries a run opened.
# libs_opened LIB OP SUBOP [NAME XML-FILE] (vm0 by default)
libs_opened() { LD_DEBUG=libs "$HOOK" "${4:-vm0}" "$2" "$3" - <"${5:-$T/vm0.xml}" 2>&1 >/dev/null | grep -c "calling init:.*$1"; }
check "prepare begin: expat never loaded" test "$(libs_opened libexpat prepare begin)" = 0
check "started begin: expat loaded to read the domain" test "$(libs_opened libexpat started begin)" = 1
check "started begin: libxml2 never loaded" test "$(libs_opened libxml2 started begin)" = 0
# json-c neither, while balloond answers as usual (proto/quickcall.h).
check "started begin, answered: json-c never loaded" test "$(libs_opened libjson-c started begin)" = 0
check "stopped end, answered: json-c never loaded" test "$(libs_opened libjson-c stopped end)" = 0
hook vm0 stopped end
hook vm0 started begin
hook_ok "started begin"
silent "started begin"
diag "started begin: ${HOOK_MS} ms"
check "registered" registered vm0
check "max from the metadata" field_is vm0 max_bytes $((224 * MiB))
check "min from the metadata" field_is vm0 min_bytes $((128 * MiB))
check "replica target from the metadata" field_is vm0 replica_target_bytes $((160 * MiB))
check "priority from the metadata" field_is vm0 priority 7
check "Patroni cluster from the metadata" field_is vm0 cluster nosuchcluster
check "Patroni member from the metadata" field_is vm0 member m0
check "QMP socket from <qemu:commandline>" field_is vm0 qmp "$T/vm0.qmp"
check "on disk when the hook returns" on_disk vm0 max_bytes $((224 * MiB))
check "a cluster balloond does not know: kept at max" wait_field 10 vm0 actual_bytes $((224 * MiB))
check "QEMU was told max" test "$(balloons vm0.qmp | tail -n 1)" = $((224 * MiB))

hook vm0 reconnect begin
hook_ok "reconnect begin (already registered)"
silent "reconnect begin: idempotent"
check "still one vm0" test "$(ctl status --json | grep -c '"name": "vm0"')" = 1
domxml vm0 "<balloond:memory min='128MiB' max='224MiB' priority='9'/><balloond:patroni cluster='nosuchcluster' member='m0'/>"
hook vm0 reconnect begin
hook_ok "reconnect with edited metadata"
check "reconnect replaces the spec (priority 9)" field_is vm0 priority 9

hook vm0 stopped end
hook_ok "stopped end"
silent "stopped end"
check "unregistered" not_registered vm0
check "gone from disk" not_on_disk vm0
hook vm0 release end
hook_ok "release end after stopped end"
silent "release end of an unknown guest"
hook vm0 started begin
check "started again: registered" registered vm0
hook vm0 release end
check "release end alone unregisters" not_registered vm0
hook vm0 reconnect begin
check "reconnect of a guest balloond forgot registers it" registered vm0
hook vm0 stopped end

# ---- other domains and operations ----
domxml vm1 -
for op in "started begin" "reconnect begin" "stopped end" "release end"; do
	# shellcheck disable=SC2086
	hook vm1 $op
	check "no metadata, $op: exit 0 and silent" test "$HOOK_RC" = 0 -a ! -s "$T/err" -a ! -s "$T/out"
done
check "no metadata: nothing registered" not_registered vm1
# Nor for a domain that is certainly not balloond's (no metadata).
for op in "started begin" "stopped end"; do
	# shellcheck disable=SC2086
	check "no metadata, $op: expat never loaded" test "$(libs_opened libexpat $op vm1 "$T/vm1.xml")" = 0
done
printf 'not xml at all <<<' >"$T/junk.xml"
for op in "migrate begin" "restore begin" "attach begin" "started end"; do
	# shellcheck disable=SC2086
	hook vm0 $op "$T/junk.xml"
	check "$op: not ours, stdin read, exit 0, silent" test "$HOOK_RC" = 0 -a ! -s "$T/err" -a ! -s "$T/out"
done
"$HOOK" </dev/null >/dev/null 2>"$T/err"
check "no arguments: exit 0" test $? = 0
check "no arguments: a usage line" grep -q usage "$T/err"

# ---- bad input: one clear line, exit 0, nothing registered ----
bad() { # DESC EXPECTED-TEXT FILE
	hook vm3 started begin "$3"
	hook_ok "$1"
	check "$1: stderr says '$2'" grep -qF -- "$2" "$T/err"
	check "$1: one line, naming the domain" test "$(wc -l <"$T/err")" = 1 -a "$(grep -c '^balloond hook: vm3: ' "$T/err")" = 1
	check "$1: nothing registered" not_registered vm3
}
bad "malformed XML" "not well-formed" "$T/junk.xml"
domxml vm3 "$FULL"
# A managed domain cut short inside line 8's balloond:memory: the line and
# the parser's reason.
head -c $(($(head -n 7 "$T/vm3.xml" | wc -c) + 70)) "$T/vm3.xml" >"$T/cut.xml"
bad "a managed domain cut short" "not well-formed: line 8: unclosed token" "$T/cut.xml"
# expat not installed: the hook says so, naming it, and exits 0.
cat >"$T/hook-noexpat" <<EOF
#!/bin/sh
LD_PRELOAD=$top_builddir/tests/fault-preload.so BD_FAULT_DLOPEN=libexpat \
ASAN_OPTIONS=\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0 \
	exec "$HOOK" "\$@"
EOF
chmod +x "$T/hook-noexpat"
HOOK_SAVED=$HOOK HOOK=$T/hook-noexpat
bad "expat cannot be loaded" "cannot load libexpat.so.1: " "$T/vm3.xml"
HOOK=$HOOK_SAVED
sed '/<memory /d' "$T/vm3.xml" >"$T/nomem.xml"
bad "no <memory>" "no <memory>" "$T/nomem.xml"
{
	cat "$T/vm3.xml"
	head -c 1100000 /dev/zero | tr '\0' ' '
} >"$T/huge.xml"
bad "oversized input" "longer than 1048576 bytes" "$T/huge.xml"
domxml vm3 "<balloond:memory max='1TiB'/>"
bad "max above <memory>" "above the domain's <memory>" "$T/vm3.xml"
domxml vm3 "<balloond:memory min='lots'/>"
bad "a size that is not one" "min=\"lots\" is not a size" "$T/vm3.xml"
domxml vm3 "<balloond:patroni cluster='pg'/>"
bad "patroni without member" "needs both cluster and member" "$T/vm3.xml"
domxml vm3 "$FULL" ""
bad "no extra -qmp socket" "balloonctl enable vm3" "$T/vm3.xml"
sed "s|<memballoon model='virtio'>|<memballoon model='none'>|" "$T/vm0.xml" | sed 's/vm0/vm3/g' >"$T/noballoon.xml"
bad "no virtio memballoon" "no <memballoon model='virtio'>" "$T/noballoon.xml"
domxml vm3 "<balloond:memory min='200MiB' max='128MiB'/>"
bad "min above max" "min 200 MiB is above max 128 MiB" "$T/vm3.xml"
domxml vm3 "<balloond:memory min='300MiB'/>"
bad "min above <memory>" "min 300 MiB is above max 256 MiB" "$T/vm3.xml"
domxml vm3 "<balloond:memory min='32MiB'/>"
bad "refused by the daemon" "balloond refused register: min 32 MiB is outside" "$T/vm3.xml"
check "refused by the daemon: json-c loaded to read why" test "$(libs_opened libjson-c started begin vm3 "$T/vm3.xml")" = 1

# ---- a daemon that accepts but never answers ----
"$PY" -m bdtest silent-listener "$T/hang.sock" &
EXTRA_PIDS="$EXTRA_PIDS $!"
wait_for 10 test -S "$T/hang.sock" || bail "the silent listener did not start"
domxml vm4 "$FULL"
BALLOOND_SOCKET="$T/hang.sock" hook vm4 started begin
hook_ok "a silent daemon"
check "a silent daemon: waited for its answer until the hard timeout (${HOOK_MS} ms)" test "$HOOK_MS" -ge 900
timely "a silent daemon: back within the hard timeout" "$HOOK_MS" 2500
check "a silent daemon: spooled" grep -q "did not answer.*spooled" "$T/err"
check "the running daemon picks the spool file up" wait_for 20 registered vm4
hook vm4 stopped end

domxml vm5 "$FULL"
kill -STOP "$DAEMON_PID"
hook vm5 started begin
kill -CONT "$DAEMON_PID"
hook_ok "a stopped (SIGSTOP) daemon"
timely "a stopped daemon: back within the hard timeout" "$HOOK_MS" 2500
check "a stopped daemon: spooled" grep -q "spooled" "$T/err"
check "once it runs again the guest is registered" wait_for 20 registered vm5
check "and the spool is empty" wait_for 20 spooled_is 0
hook vm5 stopped end

# ---- the daemon stopped: unregister spooled too ----
hook vm2 stopped end
check "stopped end: unregistered" not_registered vm2
hook vm2 started begin
stop_daemon
hook vm2 stopped end
check "daemon down: unregister spooled" grep -q "unregister not sent.*spooled" "$T/err"
start_daemon
check "the spooled unregister is carried out at start" wait_for 20 not_registered vm2

# ---- a stalled disk does not hold a start up ----
# balloond answers a hook's registration once it has written it, and
# flushes it after (daemon/state.c): with every flush held
# (tests/fault-preload.so), a start is still answered, and not spooled.
stop_daemon
start_daemon_with_faults BD_FAULT_SYNC_HOLD="$T/hold"
journal_empty() { test ! -s "$STATE/guests.journal"; }
wait_for 20 journal_empty || bail "the start's rewrite of the state did not end"
disk_settled
touch "$T/hold"
hook vm2 started begin
hook_ok "the disk's flush held"
check "the disk's flush held: answered, not spooled" test ! -s "$T/err"
check "the disk's flush held: registered" registered vm2
rm -f "$T/hold"
hook vm2 stopped end
check "the disk back: unregistered" not_registered vm2
stop_daemon
start_daemon

# ---- a burst: 200 domains started at once ----
i=4
pids=
t0=$(date +%s%N)
while [ $i -lt 204 ]; do
	domxml "vm$i" "<balloond:memory max='192MiB'/>"
	i=$((i + 1))
done
i=4
while [ $i -lt 204 ]; do
	"$HOOK" "vm$i" started begin - <"$T/vm$i.xml" >"$T/burst-$i.out" 2>&1 &
	pids="$pids $!"
	i=$((i + 1))
done
fails=0
for p in $pids; do wait "$p" || fails=$((fails + 1)); done
diag "200 parallel started hooks: $((($(date +%s%N) - t0) / 1000000)) ms in all; $(cat "$T"/burst-*.out | grep -c spooled) spooled"
check "burst: every hook exited 0" test "$fails" = 0
check "burst: all 200 registered" wait_for 60 n_registered_is 200
check "burst: all on disk" on_disk vm203 max_bytes $((192 * MiB))
pids=
i=4
while [ $i -lt 204 ]; do
	"$HOOK" "vm$i" stopped end - <"$T/vm$i.xml" >/dev/null 2>&1 &
	pids="$pids $!"
	i=$((i + 1))
done
for p in $pids; do wait "$p"; done
check "burst of stops: all unregistered" wait_for 60 n_registered_is 0

# ---- the hook's own run time, sequentially ----
domxml vm0 "$FULL"
times=
for i in 1 2 3 4 5 6 7 8 9 10; do
	hook vm0 started begin
	a=$HOOK_MS
	hook vm0 stopped end
	times="$times $a/$HOOK_MS"
done
diag "hook run time, started/stopped pairs (ms):$times"

stop_daemon
check "balloond exits cleanly" test "$STOP_RC" = 0
tap_done
