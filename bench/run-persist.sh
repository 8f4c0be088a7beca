#!/bin/sh
# run-persist.sh [REQUESTS]: the persistence benchmark (bench/persist.py)
# on an optimised, sanitizer-free build (build-bench/), with 10 and with
# 1,000 guests registered.
set -eu
. "$(dirname "$0")/build.sh"
/usr/bin/python3 "$top/bench/persist.py" "$b" --guests 10,1000 --requests "${1:-1000}"
