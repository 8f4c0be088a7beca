#!/bin/sh
# run-sim.sh [OPTIONS]: the policy simulator (tests/lib/sim.c: balloond's
# policy against none, the hourly cron job, Proxmox's and MoM's
# auto-balloon) on an optimised, sanitizer-free build (build-bench/), on
# the incident's host (12 guests of 24 GiB on 256 GiB, an unbounded ZFS
# ARC). With --sweep: the whole matrix, --plain 0 to 12 by seeds 1 to 10
# (130 scenarios, about a minute of CPU, on every core), one line a
# scenario and totals; add --check to count the scenarios won (exit 1
# unless all are). Otherwise seed 1 and then seed 2, OPTIONS going to both
# runs, for example --days 7, --plain 0 (no overcommit) or --plain 12
# (2 times), --grow-gibps 8 (a faster balloon), --baselines-see-arc,
# --check or --check-policy (then the exit status is the worst of the
# two), or --plot FILE.svg (gnuplot: the host's headroom over time under
# each policy, the danger line and the promotions; seed 2's overwrites
# seed 1's, so give --seed-less runs one at a time by hand:
# build-bench/bench/balloon-sim --seed 3 --plain 8 --plot h.svg).
set -eu
. "$(dirname "$0")/build.sh"
(cd "$b" && make bench/balloon-sim >/dev/null)
for a in "$@"; do
	[ "$a" = --sweep ] && exec "$b/bench/balloon-sim" "$@"
done
status=0
for seed in 1 2; do
	"$b/bench/balloon-sim" --seed "$seed" "$@" || status=$?
	echo
done
exit "$status"
