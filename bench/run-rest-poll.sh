#!/bin/sh
# run-rest-poll.sh [CLUSTERS] [INTERVAL_MS] [SECONDS]: the Patroni REST
# watcher's cost (bench/rest-poll.py) on an optimised, sanitizer-free build
# (build-bench/, or $BENCH_BUILD): default 50 clusters every 200 ms.
set -eu
. "$(dirname "$0")/build.sh"
/usr/bin/python3 "$top/bench/rest-poll.py" "$b" --clusters "${1:-50}" --interval-ms "${2:-200}" --seconds "${3:-20}"
