# patroni-lib.sh: one etcd and three Patroni 3 / PostgreSQL 15 nodes on
# 127.0.0.1, for the real tiers, the demo and the benchmark. Source it after
# tests/lib/daemon-lib.sh (it needs $T, tap.sh's diag and bail, wait_for).
#
# The test runs as root; etcd, Patroni and PostgreSQL run as user postgres
# (with /usr/bin/python3: a python3 earlier on PATH may lack psutil). Their
# files live in $PG_TOP (owned by postgres); the ports are a free block
# chosen at start. Everything is stopped by pid at the end (pg_stop_all,
# added to the EXIT trap), also on failure, and the PostgreSQL processes'
# descendants with it.
#
# Before pg_start_all a test may set:
#   PG_CALLBACK    command for every Patroni callback (on_start, on_stop,
#                  on_restart, on_reload, on_role_change); " --member pgN" is
#                  appended per node, Patroni appends ACTION ROLE SCOPE
#   PG_PRE_PROMOTE command for postgresql.pre_promote; " --member pgN" is
#                  appended per node
#   PG_ENV         "VAR=VALUE ..." exported to Patroni, and so to the
#                  callbacks (Patroni passes its own environment on)
# Members are pg1 pg2 pg3 of cluster (scope) $PG_SCOPE.

PG_SCOPE=${PG_SCOPE:-pg}
PG_MEMBERS="pg1 pg2 pg3"
PG_TOP="$T/pg"
PG_USER=postgres
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PY=/usr/bin/python3
PG_ETCD_PID=
PG_BASE=
PG_CALLBACK=${PG_CALLBACK:-}
PG_PRE_PROMOTE=${PG_PRE_PROMOTE:-}
PG_ENV=${PG_ENV:-}

# The test's files must be reachable by postgres: $T (mktemp, 0700) gets
# o+x, nothing more.
chmod 0711 "$T"
mkdir -p "$PG_TOP/run"
chown -R "$PG_USER:" "$PG_TOP"
chmod 0700 "$PG_TOP/run"

# as_pg COMMAND...: run COMMAND as postgres.
as_pg() {
	setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups -- "$@"
}

# pg_pick_ports: a block of 10 consecutive ports free on 127.0.0.1 (TCP and
# UDP): etcd client and peer, three REST APIs, three PostgreSQL ports, and
# two for the test ($PG_SPARE_PORT, +1: a listener, a fake).
pg_pick_ports() {
	PG_BASE=$("$PG_PY" -m bdtest port-block 10) || bail "no free port block"
	[ -n "$PG_BASE" ] || bail "no free port block"
	PG_ETCD_PORT=$PG_BASE
	PG_SPARE_PORT=$((PG_BASE + 8))
}

# pg_n pgN: the node's number N.
pg_n() { echo "${1#pg}"; }
pg_rest_port() { echo $((PG_BASE + 1 + $(pg_n "$1"))); }
pg_port() { echo $((PG_BASE + 4 + $(pg_n "$1"))); }
pg_conf() { echo "$PG_TOP/$1.yml"; }
pg_url() { echo "http://127.0.0.1:$(pg_rest_port "$1")"; }
# pg_rest_urls: the three REST base URLs, space-separated (rest_urls).
pg_rest_urls() {
	for m in $PG_MEMBERS; do printf '%s ' "$(pg_url "$m")"; done | sed 's/ $//'
}

# pg_start_etcd: etcd 3.4 on $PG_ETCD_PORT (data in $PG_TOP/etcd); waits
# until it answers.
pg_start_etcd() {
	# Not through as_pg: a function in the background is a subshell, and
	# $! must be etcd's own pid (setpriv execs).
	setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups -- etcd --name e0 --data-dir "$PG_TOP/etcd" \
		--listen-client-urls "http://127.0.0.1:$PG_ETCD_PORT" \
		--advertise-client-urls "http://127.0.0.1:$PG_ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$((PG_ETCD_PORT + 1))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((PG_ETCD_PORT + 1))" \
		--initial-cluster "e0=http://127.0.0.1:$((PG_ETCD_PORT + 1))" \
		>>"$PG_TOP/etcd.log" 2>&1 &
	PG_ETCD_PID=$!
	wait_for 30 pg_http_ok "http://127.0.0.1:$PG_ETCD_PORT/health" ||
		bail "etcd did not start: $(tail -n 5 "$PG_TOP/etcd.log")"
}

# pg_stop_etcd: SIGKILL etcd (the DCS is gone at once).
pg_stop_etcd() {
	[ -n "$PG_ETCD_PID" ] || return 0
	kill -KILL "$PG_ETCD_PID" 2>/dev/null
	wait "$PG_ETCD_PID" 2>/dev/null
	PG_ETCD_PID=
}

# pg_write_conf pgN: the node's Patroni YAML.
pg_write_conf() {
	m=$1
	{
		cat <<EOF
scope: $PG_SCOPE
name: $m
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$(pg_rest_port "$m")
  connect_address: 127.0.0.1:$(pg_rest_port "$m")
etcd3:
  hosts: 127.0.0.1:$PG_ETCD_PORT
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 4
    postgresql:
      parameters:
        wal_retrieve_retry_interval: 500ms
        fsync: "off"
        shared_buffers: 16MB
  initdb:
  - encoding: UTF8
postgresql:
  listen: 127.0.0.1:$(pg_port "$m")
  connect_address: 127.0.0.1:$(pg_port "$m")
  data_dir: $PG_TOP/data-$m
  bin_dir: $PG_BIN
  pgpass: $PG_TOP/pgpass-$m
  authentication:
    replication: {username: replicator, password: rep}
    superuser: {username: postgres, password: sup}
  parameters:
    unix_socket_directories: '$PG_TOP/run'
  pg_hba:
  - local all all trust
  - host replication replicator 127.0.0.1/32 md5
  - host all all 127.0.0.1/32 md5
EOF
		if [ -n "$PG_PRE_PROMOTE" ]; then
			echo "  pre_promote: '$PG_PRE_PROMOTE --member $m'"
		fi
		if [ -n "$PG_CALLBACK" ]; then
			echo "  callbacks:"
			for a in on_start on_stop on_restart on_reload on_role_change; do
				echo "    $a: '$PG_CALLBACK --member $m'"
			done
		fi
	} >"$(pg_conf "$m")"
	chown "$PG_USER:" "$(pg_conf "$m")"
}

# pg_start_node pgN: starts the node's Patroni (it starts PostgreSQL).
pg_start_node() {
	m=$1
	pg_write_conf "$m"
	# shellcheck disable=SC2086
	(cd "$PG_TOP" && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME="$PG_TOP" LANG=C.UTF-8 $PG_ENV \
		setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups -- \
		"$PG_PY" /usr/bin/patroni "$(pg_conf "$m")") >>"$PG_TOP/$m.log" 2>&1 &
	eval "PG_PID_$(pg_n "$m")=\$!"
}

# pg_patroni_pid pgN: the node's Patroni pid (empty once stopped).
pg_patroni_pid() { eval "echo \${PG_PID_$(pg_n "$1"):-}"; }

# pg_postmaster_pid pgN: the node's running postmaster, from postmaster.pid
# (checked against /proc: the pid must be a postgres of that data dir).
pg_postmaster_pid() {
	d="$PG_TOP/data-$1"
	p=$(head -n 1 "$d/postmaster.pid" 2>/dev/null) || return 1
	case $p in '' | *[!0-9]*) return 1 ;; esac
	tr '\0' '\n' 2>/dev/null <"/proc/$p/cmdline" | grep -qxF "$d" || return 1
	echo "$p"
}

# pg_start_all: etcd and the three nodes (does not wait for them). The
# ports are picked here unless pg_pick_ports ran already.
pg_start_all() {
	[ -n "${PG_BASE:-}" ] || pg_pick_ports
	pg_start_etcd
	for m in $PG_MEMBERS; do pg_start_node "$m"; done
	diag "etcd :$PG_ETCD_PORT, REST :$(pg_rest_port pg1)-$(pg_rest_port pg3), PostgreSQL :$(pg_port pg1)-$(pg_port pg3), files in $PG_TOP"
}

# pg_http_ok URL: URL answers 200 within a second.
pg_http_ok() {
	"$PG_PY" -m bdtest http-ok "$1"
}

# pg_state: one line per member, "NAME ROLE STATE", from the first /cluster
# that answers, with STATE "streaming" for replicas the leader's /patroni
# lists as streaming.
pg_state() {
	# shellcheck disable=SC2046
	"$PG_PY" -m bdtest patroni-members $(pg_rest_urls)
}

# pg_leader: the member whose role is leader (fails when there is none).
pg_leader() {
	pg_state 2>/dev/null | awk '$2 == "leader" && $3 == "running" { print $1; f = 1 } END { exit !f }'
}

# pg_healthy [LEADER]: a running leader (LEADER, when given) and two
# streaming replicas.
pg_healthy() {
	pg_state 2>/dev/null | awk -v want="${1:-}" '
		$2 == "leader" && $3 == "running" && (want == "" || $1 == want) { l++ }
		$2 == "replica" && $3 == "streaming" { r++ }
		END { exit !(l == 1 && r == 2) }'
}

# pg_wait_healthy SECS [LEADER]: wait for pg_healthy.
pg_wait_healthy() {
	s=$1
	shift
	wait_for "$s" pg_healthy "$@"
}

# pg_replicas: the members that are not the leader, one per line.
pg_replicas() {
	l=$(pg_leader) || return 1
	for m in $PG_MEMBERS; do [ "$m" = "$l" ] || echo "$m"; done
}

# pg_switchover FROM TO: patronictl switchover (its output in
# $PG_TOP/switchover.out).
pg_switchover() {
	patronictl -c "$(pg_conf "$1")" switchover --leader "$1" --candidate "$2" \
		--force "$PG_SCOPE" >"$PG_TOP/switchover.out" 2>&1
}

# pg_descendants PID...: PID and every descendant, from /proc's ppid links.
pg_descendants() {
	"$PG_PY" -m bdtest descendants "$@"
}

# pg_alive PID: PID exists and is not a zombie.
pg_alive() {
	s=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$s" ] && [ "$s" != Z ]
}

# pg_none_alive PID...: none of them is alive.
pg_none_alive() {
	for p in "$@"; do ! pg_alive "$p" || return 1; done
}

# pg_kill_node pgN: SIGKILL the node's Patroni, its postmaster and all
# their descendants (backends, a running callback) at once.
pg_kill_node() {
	pat=$(pg_patroni_pid "$1")
	pm=$(pg_postmaster_pid "$1") || pm=
	# shellcheck disable=SC2086
	victims=$(pg_descendants $pat $pm)
	# shellcheck disable=SC2086
	[ -z "$victims" ] || kill -KILL $victims 2>/dev/null
	[ -z "$pat" ] || wait "$pat" 2>/dev/null
	eval "PG_PID_$(pg_n "$1")="
	# shellcheck disable=SC2086
	wait_for 20 pg_none_alive $victims || diag "$1: processes still alive: $victims"
}

# pg_stop_all: everything pg_start_all started, by pid, then the files
# stay in $T for daemon-lib's cleanup. Safe to call twice.
pg_stop_all() {
	for m in $PG_MEMBERS; do
		if [ -n "$(pg_patroni_pid "$m")" ] || pg_postmaster_pid "$m" >/dev/null; then
			pg_kill_node "$m"
		fi
	done
	pg_stop_etcd
}

# pg_leftovers: pids of processes still running as postgres with this
# test's files in their command line or environment-free name (postmaster
# children carry the cluster name only, so they are found through their
# parents by pg_kill_node; this is a final check).
pg_leftovers() {
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" != $$ ] || continue
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$PG_TOP" &&
			pg_alive "${p#/proc/}" && echo "${p#/proc/}"
	done
}

# pg_psql pgN SQL: run SQL on the node as postgres over TCP (1 s connect
# timeout); the output unaligned, tuples only.
pg_psql() {
	PGPASSWORD=sup PGCONNECT_TIMEOUT=1 psql -X -q -At -h 127.0.0.1 -p "$(pg_port "$1")" \
		-U postgres -d postgres -c "$2"
}

# ---- the guests and balloond around the cluster ----

# pg_balloond_conf FILE [EXTRA]: a balloond.conf for this cluster:
# role_group postgres (the callbacks run as postgres), guest stats every
# second, [cluster $PG_SCOPE] reading the three REST APIs every 500 ms with
# dwell_ms $PG_DWELL_MS (default 3000), then the EXTRA text.
pg_balloond_conf() {
	cat >"$1" <<EOF
[daemon]
role_group = $PG_USER
[qmp]
stats_interval_s = 1
[cluster $PG_SCOPE]
rest_urls = $(pg_rest_urls)
poll_interval_ms = 500
timeout_ms = 500
dwell_ms = ${PG_DWELL_MS:-3000}
max_age_ms = 3000
${2:-}
EOF
}

# pg_guests_boot DIR SIZE: boots test guests pg1..pg3 of SIZE in DIR in the
# background (their pids in PG_BOOT_PIDS, messages in DIR/NAME.boot).
pg_guests_boot() {
	mkdir -p "$1"
	PG_BOOT_PIDS=
	for m in $PG_MEMBERS; do
		"$top_srcdir/test-vm/start" --dir "$1" --name "$m" --mem "$2" --interval 0 \
			>/dev/null 2>"$1/$m.boot" &
		PG_BOOT_PIDS="$PG_BOOT_PIDS $!"
	done
}

# pg_guests_wait DIR: waits for pg_guests_boot; fails when a guest did not
# boot (its messages on stderr).
pg_guests_wait() {
	pgw_rc=0
	for p in $PG_BOOT_PIDS; do wait "$p" || pgw_rc=1; done
	for m in $PG_MEMBERS; do
		test -S "$1/$m.qmp" || { tail -n 5 "$1/$m.boot" >&2; pgw_rc=1; }
	done
	return $pgw_rc
}

# pg_guests_stop DIR: stops them (by the pids in their pid files).
pg_guests_stop() { "$top_srcdir/test-vm/stop" --dir "$1" >/dev/null 2>&1; }

# pg_register BALLOONCTL DIR TARGET MAX: registers guest pgN as member pgN
# of $PG_SCOPE with replica target TARGET and max MAX (its RAM), without
# waiting for its QMP socket (--no-wait: the guests may still be booting;
# balloond connects when they are up), so that no callback is missed.
pg_register() {
	for m in $PG_MEMBERS; do
		"$1" register "$m" --qmp "$2/$m.qmp" --patroni "$PG_SCOPE/$m" \
			--replica-target "$3" --max "$4" --no-wait >/dev/null || return 1
	done
}

trap 'pg_stop_all; cleanup' EXIT
