#!/bin/sh
# prometheus-metrics.sh: a real Prometheus (Debian's, on 127.0.0.1, its own
# storage in the test's directory) scrapes balloond's HTTP listener, with
# fake QMP guests and a --proc-root/--sys-root fixture host with a ZFS ARC.
# Every value Prometheus stored agrees with `balloonctl status`; every
# query of the dashboard and every alerting rule runs on it, and each
# dashboard panel returns data; an alert really fires from what balloond
# exported (its "for" shortened to 0s in the copy loaded here).
. "$top_srcdir/tests/lib/daemon-lib.sh"
PROMETHEUS=${PROMETHEUS:-prometheus}
command -v "$PROMETHEUS" >/dev/null || bail "no prometheus (install-deps.sh installs it)"
PROM_PID=
stop_prometheus() {
	[ -n "$PROM_PID" ] && kill -TERM "$PROM_PID" 2>/dev/null
	[ -n "$PROM_PID" ] && wait "$PROM_PID" 2>/dev/null
	PROM_PID=
}
trap 'stop_prometheus; cleanup' EXIT

free_port() { bdtest free-port; }
HTTP_PORT=$(free_port)
PROM_PORT=$(free_port)

# The host: 4 GiB, a ZFS ARC, balloond may cap it.
P="$T/proc"
S="$T/sys"
mkdir -p "$P/spl/kstat/zfs" "$S/module/zfs/parameters"
cat >"$P/meminfo" <<EOF2
MemTotal:        4194304 kB
MemFree:         3145728 kB
MemAvailable:    3145728 kB
EOF2
cat >"$P/spl/kstat/zfs/arcstats" <<EOF2
13 1 0x01 123 33456 5029341722 1234567890123
name                            type data
c                               4    1073741824
c_min                           4    268435456
c_max                           4    3221225472
size                            4    1073741824
EOF2
echo 0 >"$S/module/zfs/parameters/zfs_arc_max"
cat >"$T/m.conf" <<EOF2
[qmp]
stats_interval_s = 0
[host]
interval_ms = 200
reserve = 1G
arc_manage = yes
arc_min = 512M
[metrics]
listen = 127.0.0.1:$HTTP_PORT
[cluster pg]
rest_urls = http://127.0.0.1:9
poll_interval_ms = 500
EOF2
export BALLOOND_CONF="$T/m.conf"

start_fake 2
start_daemon --proc-root "$P" --sys-root "$S"
ctl register vm0 --qmp "$T/vm0.qmp" --min 128M >/dev/null || bail "register vm0"
ctl register vm1 --qmp "$T/vm1.qmp" --min 128M --patroni pg/m1 >/dev/null ||
	bail "register vm1"
ctl set vm0 200M >/dev/null || bail "set vm0"

# The rules as shipped, but every alert due at once.
sed 's/^\( *\)for: .*/\1for: 0s/' "$top_srcdir/monitoring/balloond.rules.yml" >"$T/rules.yml"
cat >"$T/prometheus.yml" <<EOF2
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $T/rules.yml
scrape_configs:
  - job_name: balloond
    static_configs:
      - targets: ['127.0.0.1:$HTTP_PORT']
EOF2
"$PROMETHEUS" --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
	>"$T/prometheus.log" 2>&1 &
PROM_PID=$!

# q EXPR: the instant query's result as JSON lines (one per series); exit
# 1 on an error, 2 on an empty result.
q() { bdtest prom-query "$PROM_PORT" "$1"; }

scraped() { q 'up == 1' >/dev/null; }
check "Prometheus scrapes balloond (up == 1)" wait_for 60 scraped
check "vm0 reached its pin" wait_field 20 vm0 actual_bytes $((200 * MiB))
# A few scrapes, so that rate() and increase() have two samples.
stored() { test "$(bdtest prom-value "$PROM_PORT" 'count_over_time(balloond_build_info[1m])')" -ge 5; }
check "several scrapes stored" wait_for 30 stored

# What Prometheus stored agrees with status (polled: the latest scrape
# may be a second old).
agree() {
	ctl status --json >"$T/status.json" || return 1
	bdtest prom-agree "$PROM_PORT" "$T/status.json"
}
check "every value Prometheus stored agrees with balloonctl status" wait_for 20 agree

# Every query of the dashboard runs; every panel returns data.
bdtest dashboard-queries "$top_srcdir/monitoring/balloond-dashboard.json" >"$T/panels"
panels_ok() {
	rc=0
	: >"$T/panel-data"
	while IFS='	' read -r title expr; do
		q "$expr" >/dev/null
		case $? in
		0) echo "$title" >>"$T/panel-data" ;;
		2) ;;
		*) echo "# the query of panel '$title' fails: $expr"; rc=1 ;;
		esac
	done <"$T/panels"
	cut -f1 "$T/panels" | sort -u | while read -r title; do
		grep -qxF "$title" "$T/panel-data" || { echo "# panel '$title' has no data"; exit 1; }
	done || rc=1
	return $rc
}
check "every dashboard query runs and every panel has data" wait_for 30 panels_ok
# The queries with nothing to show on this host, for the log.
while IFS='	' read -r title expr; do
	q "$expr" >/dev/null
	[ $? -ne 2 ] || diag "no data here: $title: $expr"
done <"$T/panels"

# Every alerting rule's expression runs (most have nothing to say here).
bdtest rule-exprs "$top_srcdir/monitoring/balloond.rules.yml" >"$T/exprs"
rules_run() {
	rc=0
	while IFS='	' read -r alert expr; do
		q "$expr" >/dev/null
		[ $? -ne 1 ] || { echo "# $alert: the expression fails"; rc=1; }
	done <"$T/exprs"
	return $rc
}
check "every alerting rule's expression runs" rules_run
check "Prometheus loaded every rule without error" sh -c "! grep -qi 'error' '$T/prometheus.log'"

# The cluster's REST API never answers: the alert really fires.
firing() { bdtest prom-firing "$PROM_PORT" "$1"; }
check "BalloondPatroniClusterUnreachable fires" wait_for 30 firing BalloondPatroniClusterUnreachable
if firing BalloondGuestStarving; then not_ok "no guest starving alert"; else ok "no guest starving alert"; fi
stop_prometheus
stop_daemon TERM
check "balloond exits 0" test "$STOP_RC" = 0
tap_done
