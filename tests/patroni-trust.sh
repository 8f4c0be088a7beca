#!/bin/sh
# patroni-trust.sh: what balloond's Patroni REST watcher believes, against
# a fake Patroni REST API (tests/lib/fake-patroni.py) and fake QMP guests, with
# dwell_ms 0 (no dwell time covers a mistake). A role pushed while a poll
# was in flight wins over that poll's answer; a view of the DCS that
# still calls the member being promoted a streaming replica does not
# shrink it; answers of another scope, or a /patroni of another member
# than the leader /cluster names, confirm nothing; the cluster's
# credentials go only to rest_urls and rest_hosts (a leader's api_url
# elsewhere is not asked); a reload that lowers max_age_ms makes old
# facts stale at the new age.
. "$top_srcdir/tests/lib/daemon-lib.sh"
. "$top_srcdir/tests/lib/fake-patroni-lib.sh"
start_patroni api 3
read -r A B C <"$T/api.ports"
# Cluster cr's API asks for basic auth, as Patroni's
# restapi.authentication. Its /cluster gives the leader's api_url on port
# H, which balloond cannot tell from another host; the leader answers on
# its rest_url, F, as well.
start_patroni cred 2 --auth 'balloond:s3cret'
read -r F H <"$T/cred.ports"
bdtest patroni-state cred "$T/cred.json" "$F" "$H"
umask 077
printf 's3cret\n' >"$T/password"
umask 022

# state KIND [ST_MODE]: the answers of ports A and B (cluster pg: pg0 on
# A, pg1 on B) and C (cluster st: st0 leader, st1 its streaming replica;
# fake-patroni's mode ST_MODE, default ok). KIND:
#   healthy   pg0 leads, pg1 streams from it (Patroni 3.0.2's answers)
#   slow      the same, pg1's /cluster state "streaming" (newer Patroni),
#             every answer 2 s late
#   promoted  pg1 leads, pg0 streams from it
#   stale     /cluster as in slow, from a member whose view of the DCS
#             lags: pg1 still a streaming replica of pg0, while pg0 no
#             longer leads (its /patroni: stopped) and pg1's PostgreSQL
#             is not promoted yet
#   cluster-scope, patroni-scope, patroni-name: healthy, but /cluster
#             says scope "other", or pg0's /patroni says scope "other",
#             or names member pg1 (Patroni 3.2 adds scope and name)
state() { bdtest patroni-state trust "$T/api.json" "$A" "$B" "$C" "$@"; }

# asked_since_state PORT PATH: the fake API answers a request from the
# last state (its generation, in the fake's .seen log).
asked_since_state() {
	awk -v g="$(cat "$T/api.json.switched")" -v p="$1" -v path="$2" \
		'$4 == g && $2 == p && $3 == path { f = 1 } END { exit !f }' "$T/api.log.seen" 2>/dev/null
}
not() { ! "$@"; }
at() { field_is "$1" actual_bytes $(($2 * MiB)); }
# polled_since CLUSTER N: the cluster's poll count passed N.
polled_since() { test "$(cluster "$1" polls)" -gt "$2"; }
# shrunk_since GUEST N: a balloon command below its max (256 MiB) among
# those fake-qmp got for GUEST after its first N.
shrunk_since() { balloons "$1.qmp" | tail -n +"$(($2 + 1))" | grep -qv "^$((256 * MiB))\$"; }

state healthy
start_fake 5
cat >"$T/conf" <<EOF
[qmp]
stats_interval_s = 0
[cluster pg]
rest_urls = http://127.0.0.1:$A http://127.0.0.1:$B
poll_interval_ms = 300
timeout_ms = 5000
dwell_ms = 0
max_age_ms = 10000
[cluster st]
rest_urls = http://127.0.0.1:$C
poll_interval_ms = 300
timeout_ms = 60000
dwell_ms = 0
max_age_ms = 30000
[cluster cr]
rest_urls = http://127.0.0.1:$F
poll_interval_ms = 300
timeout_ms = 5000
dwell_ms = 0
username = balloond
password_file = $T/password
EOF
BALLOOND_CONF="$T/conf" start_daemon
reg() {
	ctl register "$1" --qmp "$T/$1.qmp" --replica-target 128M --patroni "$2" >/dev/null ||
		bail "register $1"
}
reg vm0 pg/pg0
reg vm1 pg/pg1
reg vm2 cr/cr1
reg vm3 st/st0
reg vm4 st/st1

check "healthy: replica pg1 shrinks" wait_for 20 at vm1 128
check "healthy: the leader pg0 stays at max" at vm0 256

# ---- a push while a poll is in flight wins over that poll's answer ----
# The poll began before the push; its answer (pg1 a streaming replica)
# comes after it. The poll after the push sees pg1 lead.
state slow
check "a slow poll is in flight" wait_for 10 asked_since_state "$A" /cluster
nb=$(balloons vm1.qmp | wc -l)
ctl role pg pg1 master >/dev/null
state promoted
check "pushed leader pg1: grown at once" wait_for 10 at vm1 256
check "... the polls after it see pg1 lead" wait_for 20 cluster_is pg leader pg1
check "... pg1 never shrunk by the answer begun before the push" not shrunk_since vm1 "$nb"
check "... and pg0 streams from it: shrinks" wait_for 20 at vm0 128

# ---- a lagging view of the DCS after a pushed leader ----
# pg1 is being promoted (pushed leader by pre_promote); the member that
# answers /cluster still sees pg0 lead and pg1 stream (Patroni's own
# record of pg1, "streaming"), while pg0 no longer leads.
state healthy
check "healthy again: pg1 shrinks" wait_for 20 at vm1 128
check "... pg0 back to max" wait_for 20 at vm0 256
state stale
nb=$(balloons vm1.qmp | wc -l)
ctl role pg pg1 master >/dev/null
p=$(cluster pg polls)
check "pushed leader pg1: grown" wait_for 10 at vm1 256
check "... five polls of the lagging view" wait_for 20 polled_since pg $((p + 5))
check "... pg1 never shrunk on that view" not shrunk_since vm1 "$nb"
check "... pg1 at max" at vm1 256

# ---- another scope, another member ----
# shrink_back DESC KIND ERROR: from healthy (pg1 shrunk), answers of KIND
# put pg1 back at max, status saying ERROR.
shrink_back() {
	state healthy
	check "$1: healthy first, pg1 shrunk" wait_for 20 at vm1 128
	state "$2"
	check "$1: pg1 back to max" wait_for 20 at vm1 256
	check "$1: status says '$3'" wait_for 10 cluster_has pg error "$3"
}
shrink_back "/cluster of another scope" cluster-scope "scope 'other'"
check "... members at max: unreachable" cluster_is pg reachable false
shrink_back "the leader's /patroni of another scope" patroni-scope "scope 'other'"
shrink_back "a /patroni naming another member than /cluster's leader" patroni-name "pg1, not the leader pg0"
state healthy
check "healthy again: pg1 shrinks" wait_for 20 at vm1 128

# ---- the cluster's credentials go to rest_urls and rest_hosts only ----
check "cr: replica cr1 shrinks (its leader's /patroni from rest_urls)" wait_for 20 at vm2 128
p=$(cluster cr polls)
check "cr: five polls" wait_for 20 polled_since cr $((p + 5))
check "cr: the api_url on a host:port not configured was never asked" \
	test "$(requests cred "$H" /patroni)" -eq 0
# rest_hosts: the host, with another port or with none.
sed -i "/^password_file = /a rest_hosts = 127.0.0.1:$((H == 65535 ? H - 1 : H + 1)) localhost" "$T/conf"
expect 0 "reload: rest_hosts with another port and another name" ctl reload
p=$(cluster cr polls)
check "... five polls" wait_for 20 polled_since cr $((p + 5))
check "... the api_url still never asked" test "$(requests cred "$H" /patroni)" -eq 0
sed -i "s/^rest_hosts = .*/rest_hosts = [::1] 127.0.0.1:$H/" "$T/conf"
expect 0 "reload: rest_hosts names its host and port" ctl reload
check "... now the api_url is asked (with the credentials: it answers)" \
	wait_for 20 sh -c "grep -q ' $H /patroni\$' '$T/cred.log'"
check "... cr1 stays shrunk" at vm2 128
sed -i "s/^rest_hosts = .*/rest_hosts = 127.0.0.1/" "$T/conf"
expect 0 "reload: rest_hosts names its host, any port" ctl reload
n=$(requests cred "$H" /patroni)
check "... the api_url is asked" \
	wait_for 20 sh -c "test \$(grep -c ' $H /patroni\$' '$T/cred.log') -gt $n"

# ---- a reload that lowers max_age_ms ----
# st's facts are good, then its API answers only after 50 s (within
# timeout_ms): the facts age from the last good poll. A reload lowers
# max_age_ms from 30 s to 1.5 s: they are stale within seconds, not when
# the old age (30 s) or the slow answer (50 s) comes.
check "st: replica st1 shrinks" wait_for 20 at vm4 128
state healthy slow:50000
check "st: a slow poll is in flight" wait_for 10 asked_since_state "$C" /cluster ||
	diag "state $(cat "$T/api.json.switched"); last answers: $(tail -n 4 "$T/api.log.seen" | tr '\n' ';'); cluster st: $(bdtest get clusters.st)"
sed -i 's/^max_age_ms = 30000$/max_age_ms = 1500/' "$T/conf"
expect 0 "reload: st's max_age_ms 1500" ctl reload
check "st: stale within 20 s of the reload: st1 back to max" wait_for 20 at vm4 256
check "... status says stale" cluster_is st stale true
check "... the reason too" wait_for 10 sh -c "'$BALLOONCTL' status --json | grep -q 'Patroni facts are stale'"

stop_daemon
check "balloond stopped cleanly" test "$STOP_RC" -eq 0
tap_done
