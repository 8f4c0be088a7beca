#!/bin/sh
# run-patroni.sh [RUNS] [FLOOD]: the Patroni callback's run time (RUNS
# runs, default 200) and the network listener's cost per bad datagram
# (FLOOD of each kind, default 100000), on an optimised, sanitizer-free
# build (build-bench/, or $BENCH_BUILD) with one fake guest; then the
# listener's checks alone, in-process (bench/notify-bench). With
# BENCH_ALSO=DIR, DIR's callback (another build) runs in the same rounds.
set -eu
. "$(dirname "$0")/build.sh"
/usr/bin/python3 "$top/bench/patroni-bench.py" "$b" --runs "${1:-200}" --flood "${2:-100000}" \
	${BENCH_ALSO:+--also "$BENCH_ALSO"}
echo
"$b/bench/notify-bench" 200000
