# daemon-lib.sh: start balloond and fake QMP guests on private sockets for
# shell tests; everything started is stopped by pid when the test exits.
# Needs top_srcdir and top_builddir (the harness exports them).
. "$top_srcdir/tests/lib/tap.sh"

BALLOOND="$top_builddir/balloond"
BALLOONCTL="$top_builddir/balloonctl"
FAKE_QMP="$top_builddir/tests/fake-qmp"
T=$(mktemp -d "${TMPDIR:-/tmp}/balloond-test.XXXXXX")
SOCK="$T/control.sock"
STATE="$T/state"
DAEMON_PID=
FAKE_PID=
export BALLOOND_SOCKET="$SOCK"

cleanup() {
	[ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null
	[ -n "$DAEMON_PID" ] && wait "$DAEMON_PID" 2>/dev/null
	# A test may mount a small tmpfs under $T (a disk that fills up).
	for m in "$T"/mnt-*; do
		mountpoint -q "$m" 2>/dev/null && umount "$m"
	done
	[ -n "$FAKE_PID" ] && kill -TERM "$FAKE_PID" 2>/dev/null
	[ -n "$FAKE_PID" ] && wait "$FAKE_PID" 2>/dev/null
	if [ "${KEEP_TEST_DIR:-0}" = 1 ]; then
		echo "# kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# balloonctl's timeout in the tests: 10 s, scaled (the default 5 s is a
# deadline a daemon under valgrind on a loaded machine can miss).
CTL_TIMEOUT=$((10 * TIME_SCALE))
ctl() { "$BALLOONCTL" --timeout "$CTL_TIMEOUT" "$@"; }

# start_fake N [ARGS...]: N fake guests $T/vm0.qmp... (256 MiB each),
# commands logged to $T/fake.log, control socket $T/fake.ctl.
start_fake() {
	n=$1
	shift
	"$FAKE_QMP" --dir "$T" --count "$n" --mem 268435456 --log "$T/fake.log" \
		--control "$T/fake.ctl" "$@" >"$T/fake.out" 2>&1 &
	FAKE_PID=$!
	wait_for 20 test -S "$T/fake.ctl" || bail "fake-qmp did not start: $(cat "$T/fake.out")"
}

# fake CMD...: one line to fake-qmp's control socket; prints its answer.
fake() { bdtest fake "$T/fake.ctl" "$*"; }

# fake_actual SOCKET: the fake guest's balloon size (fake-qmp's show).
fake_actual() { fake show "$1" | sed -n 's/.*"actual": *\([0-9]*\).*/\1/p'; }

# With VALGRIND=1 (make check VALGRIND=1) the daemon runs under memcheck:
# any error or leak makes it exit 99, which stop_daemon's callers check.
DAEMON_WRAP=
if [ "${VALGRIND:-0}" = 1 ]; then
	DAEMON_WRAP="valgrind -q --error-exitcode=99 --leak-check=full
		--errors-for-leak-kinds=definite,indirect --track-fds=no"
	echo "# balloond runs under valgrind memcheck"
fi

# start_daemon [ARGS...]: balloond in the foreground on $SOCK, $STATE.
start_daemon() {
	# shellcheck disable=SC2086
	$DAEMON_WRAP "$BALLOOND" --foreground --log-level debug --control-socket "$SOCK" \
		--state-dir "$STATE" --config "${BALLOOND_CONF:-/dev/null}" "$@" \
		>>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_for 20 ctl status >/dev/null || {
		tail -n 30 "$T/daemon.log" >&2
		bail "balloond did not start"
	}
}

# start_daemon_with_faults BD_FAULT_VAR=VALUE...: start_daemon with
# tests/fault-preload.so preloaded and these settings (see
# tests/fault-preload.c: slow name-service lookups, held fsyncs, a log).
start_daemon_with_faults() {
	saved_wrap=$DAEMON_WRAP
	DAEMON_WRAP="env LD_PRELOAD=$top_builddir/tests/fault-preload.so $*
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
		$DAEMON_WRAP"
	start_daemon
	DAEMON_WRAP=$saved_wrap
}

# stop_daemon [SIGNAL]: signal balloond (TERM) and wait for it; its exit
# status goes to STOP_RC. One that does not exit in 30 s is a hang.
stop_daemon() {
	kill -"${1:-TERM}" "$DAEMON_PID" 2>/dev/null
	wait_exit 30 "$DAEMON_PID"
	STOP_RC=$?
	DAEMON_PID=
	if [ "$STOP_RC" = 124 ]; then
		tail -n 30 "$T/daemon.log" >&2
		bail "balloond did not exit within $((30 * TIME_SCALE)) s of SIG${1:-TERM}"
	fi
}

# field GUEST KEY: one field of a guest from status (empty if none;
# booleans true or false).
field() { bdtest field "$1" "$2"; }
field_is() { test "$(field "$1" "$2")" = "$3"; }

# wait_field DEADLINE_S GUEST KEY VALUE: wait until GUEST's KEY is VALUE
# (wait_for's deadline, scaled alike); one process polls over the
# socket, where wait_for field_is would start two a poll.
wait_field() { bdtest wait-field "$@"; }

# balloons SOCKET [SINCE_LINE]: the balloon values fake-qmp received on
# SOCKET (after line SINCE_LINE of its log), in order.
balloons() { bdtest balloons "$T/fake.log" "$1" ${2:+"$2"} | cut -d' ' -f1; }

MiB=1048576

# status_lacks TEXT: balloond answers status --json, without TEXT in it.
status_lacks() { st=$(ctl status --json) && ! printf '%s\n' "$st" | grep -qF -- "$1"; }

# quiet COMMAND...: run COMMAND without output (for check).
quiet() { "$@" >/dev/null 2>&1; }

# on_disk NAME [KEY VALUE]: the registration of NAME as balloond would load
# it from $STATE (the snapshot guests.json, then the journal over it)
# exists, and, with KEY, has that value.
on_disk() { bdtest on-disk "$STATE" "$@"; }
not_on_disk() { ! on_disk "$@"; }
# disk_settled: every save so far is through, flushed (the start's rewrite
# of the state, say): the reply to an unregister of a name never
# registered waits for that.
disk_settled() { ctl unregister no-such-guest >/dev/null 2>&1 || :; }
