#!/bin/sh
# prometheus-metrics.sh: a real Prometheus (Debian's, on 127.0.0.1, its
# own storage in the test's directory) scrapes balloond's HTTP listener,
# with fake QMP guests and a --proc-root/--sys-root fixture host with a
# ZFS ARC. Every value Prometheus stored agrees with `balloonctl status`;
# every query of the dashboard and every alerting rule runs on it, and
# each dashboard panel and template variable returns data; an alert
# really fires from what balloond exported (its "for" shortened to 0s in
# the copy loaded here). tests/real/prometheus-real.sh does the same with
# real guests, and the textfile through node_exporter.
. "$top_srcdir/tests/daemon-lib.sh"
. "$top_srcdir/tests/prometheus-lib.sh"
trap 'stop_prometheus; cleanup' EXIT

HTTP_PORT=$(free_port)
prom_host "$T/proc" "$T/sys"
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
start_daemon --proc-root "$T/proc" --sys-root "$T/sys"
ctl register vm0 --qmp "$T/vm0.qmp" --min 128M >/dev/null || bail "register vm0"
ctl register vm1 --qmp "$T/vm1.qmp" --min 128M --patroni pg/m1 >/dev/null ||
	bail "register vm1"
ctl set vm0 200M >/dev/null || bail "set vm0"

start_prometheus "  - job_name: balloond
    static_configs:
      - targets: ['127.0.0.1:$HTTP_PORT']"

check "Prometheus scrapes balloond (up == 1)" wait_for 60 targets_up 1
check "vm0 reached its pin" wait_for 20 field_is vm0 actual_bytes $((200 * MiB))
check "several scrapes stored" wait_for 30 stored_at_least 5
check "every value Prometheus stored agrees with balloonctl status" wait_for 20 agree balloond
check "every dashboard query runs and every panel has data" wait_for 30 panels_ok
panels_without_data
check "every template variable of the dashboard has values" variables_ok
check "every alerting rule's expression runs" rules_run
check "Prometheus loaded every rule without error" sh -c "! grep -qi 'error' '$T/prometheus.log'"

# The cluster's REST API never answers: the alert really fires.
check "BalloondPatroniClusterUnreachable fires" wait_for 30 firing BalloondPatroniClusterUnreachable
if firing BalloondGuestStarving; then not_ok "no guest starving alert"; else ok "no guest starving alert"; fi
stop_prometheus
stop_daemon TERM
check "balloond exits 0" test "$STOP_RC" = 0
tap_done
