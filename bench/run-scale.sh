#!/bin/sh
# run-scale.sh [GUESTS] [IDLE_SECONDS]: the scale benchmark on an optimised,
# sanitizer-free build (build-bench/), once with guest-stats polling at its
# default (every 5 s) and once with it off, so the idle figure shows what
# the polling costs and that nothing else runs.
set -eu
. "$(dirname "$0")/build.sh"
/usr/bin/python3 "$top/bench/scale.py" "$b" --guests "${1:-1000}" --idle "${2:-30}"
echo
/usr/bin/python3 "$top/bench/scale.py" "$b" --guests "${1:-1000}" --idle "${2:-30}" --stats-interval 0 |
	grep -E 'idle|RSS'
