#!/bin/sh
# run-rest-poll.sh [--tls] [CLUSTERS] [INTERVAL_MS] [SECONDS]: the Patroni
# REST watcher's cost (bench/rest-poll.py) on an optimised, sanitizer-free
# build (build-bench/, or $BENCH_BUILD): default 50 clusters every 200 ms.
# --tls: members that speak HTTPS and close every connection (HTTP/1.0),
# as Patroni 3.0's API does.
set -eu
. "$(dirname "$0")/build.sh"
tls=
if [ "${1:-}" = --tls ]; then
	tls=--tls
	shift
fi
/usr/bin/python3 "$top/bench/rest-poll.py" "$b" --clusters "${1:-50}" --interval-ms "${2:-200}" --seconds "${3:-20}" $tls
