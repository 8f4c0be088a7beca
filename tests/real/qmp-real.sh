#!/bin/sh
# qmp-real.sh: the QMP client library (through tests/qmp-real) and
# `balloonctl qmp --socket` against real QEMU: TCG, no guest kernel, one
# QEMU with a balloon device (id=balloon0), one with an anonymous balloon,
# one without. Without a guest the balloon never moves, guest stats stay
# -1, and QEMU still answers every command as it would for a booted guest.
# Needs $QEMU (skipped without it); every QEMU started is killed by pid.
. "$top_srcdir/tests/lib/tap.sh"

QEMU=${QEMU:-$(command -v qemu-system-x86_64)}
if [ -z "$QEMU" ] || [ ! -x "$QEMU" ]; then
	echo "1..0 # SKIP qemu-system-x86_64 not found"
	exit 0
fi
CTL=$top_builddir/balloonctl
HELPER=$top_builddir/tests/qmp-real
for p in "$CTL" "$HELPER"; do
	[ -x "$p" ] || bail "$p not built (run make check-real)"
done

DIR=$(mktemp -d /tmp/qmp-real.XXXXXX) || bail "mktemp failed"
BG_PID=

# Kill what we started: QEMUs by their pid files (only if the pid is still
# a QEMU of ours: pids get reused), then wait for them to go.
cleanup() {
	[ -n "$BG_PID" ] && kill "$BG_PID" 2>/dev/null
	for pf in "$DIR"/*.pid; do
		[ -f "$pf" ] || continue
		pid=$(cat "$pf")
		if grep -q "$DIR" "/proc/$pid/cmdline" 2>/dev/null; then
			kill "$pid" 2>/dev/null
			i=0
			while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
				sleep 0.1
				i=$((i + 1))
			done
			kill -9 "$pid" 2>/dev/null
		fi
	done
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_qemu NAME DEVICE-ARGS...: daemonized QEMU serving $DIR/NAME.sock.
start_qemu() {
	name=$1
	shift
	"$QEMU" -nodefaults -display none -machine accel=tcg -m 256 "$@" \
		-qmp "unix:$DIR/$name.sock,server=on,wait=off" \
		-daemonize -pidfile "$DIR/$name.pid" 2>"$DIR/$name.err" &&
		wait_for 10 test -S "$DIR/$name.sock"
}

# ctl ARGS...: run balloonctl qmp, keeping stdout, stderr, exit status.
ctl() {
	"$CTL" qmp "$@" >"$DIR/out" 2>"$DIR/err"
	rc=$?
}

# has FILE TEXT: FILE contains TEXT (fixed string).
has() { grep -qF -- "$2" "$1"; }

tap_plan 29
B=$DIR/b.sock
A=$DIR/a.sock
N=$DIR/n.sock

check "QEMU with balloon0 started" start_qemu b -device virtio-balloon-pci,id=balloon0
check "QEMU with an anonymous balloon started" start_qemu a -device virtio-balloon-pci
check "QEMU without a balloon started" start_qemu n

# ---- the library ----
"$HELPER" "$B" greeting query set=134217728 path stats-get stats-enable=2 \
	stats-get >"$DIR/lib" 2>&1
check "library: all steps ran" test $? -eq 0
diag "$(tr '\n' ';' <"$DIR/lib")"
check "library: greeting parsed (QEMU $(sed -n 's/^greeting //p' "$DIR/lib"))" \
	grep -qE '^greeting [1-9][0-9]*\.[0-9]+\.[0-9]+$' "$DIR/lib"
check "library: query-balloon gives the boot size" has "$DIR/lib" "query 268435456"
check "library: balloon accepted" has "$DIR/lib" "set ok"
check "library: find_path finds balloon0" has "$DIR/lib" "path /machine/peripheral/balloon0"
check "library: guest stats all -1 before the guest answers" \
	has "$DIR/lib" "stats-get free=-1 available=-1 caches=-1 total=-1 last_update=0"
check "library: guest stats polling enabled (qom-set)" has "$DIR/lib" "stats-enable ok"

"$HELPER" "$A" path >"$DIR/lib" 2>&1
check "library: find_path finds the anonymous balloon" \
	has "$DIR/lib" "path /machine/peripheral-anon/device[0]"

"$HELPER" "$N" query set=134217728 path stats-get >"$DIR/lib" 2>&1
check "library: no balloon: all steps ran" test $? -eq 0
diag "$(tr '\n' ';' <"$DIR/lib")"
check "library: no balloon: query-balloon -> QMP_ERR_NO_BALLOON" has "$DIR/lib" "query error no-balloon"
check "library: no balloon: balloon -> QMP_ERR_NO_BALLOON" has "$DIR/lib" "set error no-balloon"
check "library: no balloon: find_path -> QMP_ERR_NO_BALLOON" has "$DIR/lib" "path error no-balloon"
check "library: no balloon: qom-get (DeviceNotFound) -> QMP_ERR_NO_BALLOON" \
	has "$DIR/lib" "stats-get error no-balloon"

# ---- balloonctl qmp --socket ----
ctl --socket "$B" query-balloon
check "balloonctl: query-balloon exits 0 with the size" \
	eval '[ $rc -eq 0 ] && has "$DIR/out" "{\"actual\":268435456}"'
ctl --socket "$B" balloon '{"value": 134217728}'
check "balloonctl: balloon exits 0 and prints {}" \
	eval '[ $rc -eq 0 ] && [ "$(cat "$DIR/out")" = "{}" ]'
ctl --socket "$B" balloon '{"value": 0}'
check "balloonctl: balloon 0 exits 1 with GenericError on stderr" \
	eval '[ $rc -eq 1 ] && has "$DIR/err" "GenericError" && has "$DIR/err" "expects a size"'
ctl --socket "$B" qom-list '{"path": "/machine/peripheral"}'
check "balloonctl: qom-list shows balloon0" \
	eval '[ $rc -eq 0 ] && has "$DIR/out" "\"name\":\"balloon0\""'
ctl --socket "$B" qom-set '{"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval", "value": 2}'
check "balloonctl: qom-set guest-stats-polling-interval exits 0" test $rc -eq 0
ctl --socket "$B" qom-get '{"path": "/machine/peripheral/balloon0", "property": "guest-stats"}'
check "balloonctl: qom-get guest-stats prints stats" \
	eval '[ $rc -eq 0 ] && has "$DIR/out" "stat-total-memory" && has "$DIR/out" "last-update"'
ctl --socket "$N" query-balloon
check "balloonctl: no balloon: exit 1 with DeviceNotActive on stderr" \
	eval '[ $rc -eq 1 ] && has "$DIR/err" "DeviceNotActive"'
ctl --socket "$DIR/nonexistent.sock" query-balloon
check "balloonctl: nonexistent socket exits 3" test $rc -eq 3
ctl --socket "$B" --events 1 system_reset
check "balloonctl: --events 1 prints the RESET events" \
	eval '[ $rc -eq 0 ] && has "$DIR/out" "\"event\":\"RESET\""'

# A client that keeps the socket busy (QEMU serves one at a time): the
# second one connects but gets no greeting.
"$CTL" qmp --socket "$B" --events 20 query-status >"$DIR/bg" 2>&1 &
BG_PID=$!
wait_for 10 test -s "$DIR/bg" || diag "first client did not answer"
start=$(date +%s)
ctl --socket "$B" --timeout 1 query-status
check "balloonctl: second client on a busy socket exits 3 after --timeout 1" \
	eval '[ $rc -eq 3 ] && [ $(($(date +%s) - start)) -le 5 ]'
diag "$(cat "$DIR/err")"
"$HELPER" --timeout-ms 500 "$B" query >"$DIR/lib" 2>&1
st=$?
check "library: second client on a busy socket -> QMP_ERR_NO_GREETING" \
	eval '[ $st -eq 3 ] && has "$DIR/lib" "connection error no-greeting"'
kill "$BG_PID"
wait "$BG_PID" 2>/dev/null
BG_PID=
ctl --socket "$B" query-balloon
check "balloonctl: the socket serves again once the first client left" test $rc -eq 0

# A greeting really is QEMU's: the library and QEMU agree on the version.
ver=$("$QEMU" --version | sed -n 's/^QEMU emulator version \([0-9.]*\).*/\1/p')
"$HELPER" "$B" greeting >"$DIR/lib" 2>&1
check "library: greeting version matches qemu --version ($ver)" \
	has "$DIR/lib" "greeting $ver"

tap_done
