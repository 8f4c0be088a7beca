#!/bin/sh
# policy-sim.sh: the simulator's criteria as a test (tests/lib/sim.c, judge()).
# On the incident's host (an unbounded ARC, warmed-up guests,
# overcommitted 1.15 times), seeds 1 and 3; then one scenario per
# overcommit of the sweep (--plain 0 to 12, none to 2 times), each on
# another seed (1 to 10, then 1 to 3 again), so that every row and every
# column of bench/run-sim.sh --sweep is met. In each, balloond must keep
# every Patroni leader at its max from its promotion, spend no more time
# in danger than the best of none, cron, Proxmox and MoM, starve guests
# less than every policy that reclaims, reclaim at least 90 % of what the
# cron job does, and break none of policy.h's invariants (checked on every
# action of its plans). The whole matrix (130 scenarios, about a minute of CPU on
# an optimised build) is bench/run-sim.sh --sweep --check.
. "$top_srcdir/tests/lib/tap.sh"
SIM="$top_builddir/bench/balloon-sim"
out="${TMPDIR:-/tmp}/sim.$$"
trap 'rm -f "$out"' EXIT
run() { # DESCRIPTION ARGS...
	what=$1
	shift
	if "$SIM" "$@" --check >"$out" 2>&1 &&
		! grep -q "broke policy.h's invariants" "$out"; then
		ok "$what: balloond wins on every criterion"
	else
		not_ok "$what: $(grep "check: FAIL\|broke" "$out" | head -n 3 | tr '\n' ';')"
		sed 's/^/# /' "$out" | head -n 12
	fi
}
for seed in 1 3; do
	run "seed $seed" --seed "$seed"
done
for plain in 0 1 2 3 4 5 6 7 8 9 10 11 12; do
	seed=$((plain % 10 + 1))
	run "--plain $plain --seed $seed" --plain "$plain" --seed "$seed"
done
tap_done
