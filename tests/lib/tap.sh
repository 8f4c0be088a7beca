# tap.sh: TAP output for shell tests (tests/lib/: the helpers shared by
# tests and benchmarks). Source it, call tap_plan N (or
# tap_done at the end), then ok/not_ok or check. POSIX sh.
TAP_N=0
TAP_FAILED=0
TAP_PLANNED=

tap_plan() { TAP_PLANNED=$1; echo "1..$1"; }

ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }

not_ok() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $*"
}

skip() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - # SKIP $*"; }

# check DESCRIPTION COMMAND...: one test point from a command's status,
# which it returns (so that `check ... || diag ...` explains a failure).
check() {
	d=$1
	shift
	if "$@"; then
		ok "$d"
	else
		not_ok "$d"
		return 1
	fi
}

# loaded: the machine runs more than it has CPUs (its 1-minute load
# average is at least its CPU count): a run time measured now says more
# about the machine than about the code.
loaded() {
	awk -v n="$(nproc)" '{ exit !($1 >= n) }' /proc/loadavg
}

# timely DESC MS LIMIT_MS: a test point for a bound on a run time (a
# process that must not wait for a timeout it has no reason to reach).
# Over the limit on a loaded machine, a skip that says so, not a pass;
# over it on a machine that is not loaded, a failure.
timely() {
	if [ "$2" -lt "$3" ]; then
		ok "$1 ($2 ms)"
	elif loaded; then
		skip "$1: $2 ms, not under $3 ms, on a loaded machine (load $(cut -d' ' -f1 /proc/loadavg), $(nproc) CPUs)"
	else
		not_ok "$1 ($2 ms, not under $3 ms)"
	fi
}

# diag TEXT: a comment line, shown in the test's log.
diag() { echo "# $*"; }

# bail TEXT: abort the whole test file.
bail() { echo "Bail out! $*"; exit 1; }

tap_done() {
	[ -n "$TAP_PLANNED" ] || echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}

# TIME_SCALE: the one factor by which every test's deadlines grow where
# the code under test runs slower: 3 under ASan (the harness sets
# BD_SANITIZERS), 10 under valgrind (VALGRIND=1), else 1; BD_TIME_SCALE
# in the environment overrides it. The C tests apply the same rule
# (tests/lib/timescale.h). Deadlines catch hangs: they only ever grow.
if [ -n "${BD_TIME_SCALE:-}" ]; then
	TIME_SCALE=$BD_TIME_SCALE
elif [ "${VALGRIND:-0}" = 1 ]; then
	TIME_SCALE=10
elif [ -n "${BD_SANITIZERS:-}" ]; then
	TIME_SCALE=3
else
	TIME_SCALE=1
fi

# Helpers run with Debian's python3, the project's dependency: a python3
# earlier on PATH may be a version manager's shim, a second to start on a
# loaded machine. PYTHON3 (configure's, from the harness) overrides it.
# The Python helpers are one module, tests/lib/bdtest.py: PYTHONPATH
# finds it, for the tests' Python and `bdtest` alike.
PY=${PYTHON3:-/usr/bin/python3}
# (top_srcdir: the harness's; top: the demo's and the benchmarks'.)
if [ -n "${top_srcdir:-${top:-}}" ]; then
	PYTHONPATH="${top_srcdir:-${top:-}}/tests/lib${PYTHONPATH:+:$PYTHONPATH}"
	export PYTHONPATH
fi
# Its bytecode is cached in tests/lib/__pycache__ (git-ignored; nothing is
# written where the source is read-only, as under distcheck): compiling
# bdtest.py anew would double the cost of every status poll.
unset PYTHONDONTWRITEBYTECODE

# bdtest COMMAND [ARGS...]: tests/lib/bdtest.py's command line (the
# control socket, status fields, fake-qmp's socket and log, ...; run
# `bdtest` alone for the list). A process to kill later is started as
# `"$PY" -m bdtest ... &`: $! of a function run in the background is
# the subshell's, not python's.
bdtest() { "$PY" -m bdtest "$@"; }

# wait_for DEADLINE_S COMMAND...: poll COMMAND every 0.1 s until it
# succeeds or the deadline (DEADLINE_S times TIME_SCALE) passes; a
# deadline that catches hangs, not a timing assertion. Its status says
# which: every caller checks it.
wait_for() {
	wf_deadline=$(($(date +%s) + $1 * TIME_SCALE))
	shift
	while ! "$@" 2>/dev/null; do
		[ "$(date +%s)" -lt "$wf_deadline" ] || return 1
		sleep 0.1
	done
}

# exited PID: the process is gone, or a zombie (a child not yet waited for).
exited() {
	! kill -0 "$1" 2>/dev/null ||
		[ "$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# wait_exit DEADLINE_S PID: wait for the child PID to end, within the
# deadline (scaled as wait_for's); its exit status, or 124 once it has
# been killed for not ending in time.
wait_exit() {
	if ! wait_for "$1" exited "$2"; then
		kill -KILL "$2" 2>/dev/null
		wait "$2" 2>/dev/null
		return 124
	fi
	wait "$2"
}

# expect RC DESC COMMAND...: COMMAND exits with RC; its output goes to
# $T/out and $T/err (T: the test's own directory) for further checks.
expect() {
	want=$1 desc=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" -eq "$want" ]; then
		ok "$desc"
	else
		not_ok "$desc (exit $got, wanted $want)"
		sed 's/^/#   /' "$T/out" "$T/err"
	fi
}

# err_has TEXT: the last expect's stderr contains TEXT.
err_has() { check "stderr says '$1'" grep -qF -- "$1" "$T/err"; }
out_has() { check "stdout says '$1'" grep -qF -- "$1" "$T/out"; }
