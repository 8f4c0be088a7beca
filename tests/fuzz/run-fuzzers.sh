#!/bin/sh
# run-fuzzers.sh [SECONDS]: run every fuzzer that `make fuzz` built
# (fuzz/fuzz-* under $top_builddir, default: the current directory) for
# SECONDS each (default 60), two at a time, each on a scratch copy of its
# seed corpus (tests/fuzz/corpus/NAME-without-fuzz-/), so nothing is
# written to the source tree. Prints TAP; exits nonzero if any crashed.
# A crashing input is kept in fuzz-artifacts/ in the current directory.
set -u

SECONDS_EACH=${1:-60}
case $SECONDS_EACH in
'' | *[!0-9]*)
	echo "usage: run-fuzzers.sh [SECONDS]" >&2
	exit 2
	;;
esac
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib/tap.sh"

targets=
for bin in "$top_builddir"/fuzz/fuzz-*; do
	[ -x "$bin" ] && [ -f "$bin" ] && targets="$targets $bin"
done
if [ -z "$targets" ]; then
	echo "1..0 # SKIP no fuzzers built (run make fuzz)"
	exit 0
fi

WORK=$(mktemp -d /tmp/run-fuzzers.XXXXXX) || exit 1
trap 'rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM

# run_one BIN: fuzz it for SECONDS_EACH; its log and status go to $WORK.
run_one() {
	name=$(basename "$1")
	dir=$WORK/$name
	mkdir -p "$dir/corpus"
	seeds=$top_srcdir/tests/fuzz/corpus/${name#fuzz-}
	[ -d "$seeds" ] && cp "$seeds"/* "$dir/corpus/" 2>/dev/null
	"$1" -max_total_time="$SECONDS_EACH" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$dir/" "$dir/corpus" >"$dir/log" 2>&1
	echo $? >"$dir/status"
}

# Two at a time (the machines have two cores).
set -- $targets
while [ $# -gt 0 ]; do
	run_one "$1" &
	if [ $# -gt 1 ]; then
		run_one "$2" &
		shift
	fi
	shift
	wait
done

n=0
for bin in $targets; do
	n=$((n + 1))
done
tap_plan $n
for bin in $targets; do
	name=$(basename "$bin")
	dir=$WORK/$name
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log")
	status=$(cat "$dir/status")
	crashes=$(ls "$dir" | grep -E '^(crash|leak|timeout|oom)-' || true)
	if [ "$status" -eq 0 ] && [ -z "$crashes" ]; then
		ok "$name: ${runs:-?} runs (${speed:-?} exec/s), no crash"
	else
		not_ok "$name: exit $status after ${runs:-?} runs"
		mkdir -p fuzz-artifacts
		for c in $crashes; do
			cp "$dir/$c" "fuzz-artifacts/$name-$c"
			diag "input kept: fuzz-artifacts/$name-$c"
		done
		grep -A12 -E '^==[0-9]+==|runtime error|deadly signal' "$dir/log" |
			head -40 | while IFS= read -r line; do diag "$line"; done
	fi
done
tap_done
