# prometheus-lib.sh: a private Prometheus (Debian's, on 127.0.0.1, its
# storage in the test's directory) for the tests that check balloond's
# metrics as Prometheus stores them: tests/prometheus-metrics.sh (fake
# guests) and tests/real/prometheus-real.sh (test-vm guests). Source it
# after daemon-lib.sh.
PROMETHEUS=${PROMETHEUS:-prometheus}
PROMTOOL=${PROMTOOL:-promtool}
command -v "$PROMETHEUS" >/dev/null || bail "no prometheus (install-deps.sh installs it)"
command -v "$PROMTOOL" >/dev/null || bail "no promtool (install-deps.sh installs prometheus)"
PROM_PID=
stop_prometheus() {
	[ -n "$PROM_PID" ] && kill -TERM "$PROM_PID" 2>/dev/null
	[ -n "$PROM_PID" ] && wait "$PROM_PID" 2>/dev/null
	PROM_PID=
}

free_port() { bdtest free-port; }
PROM_PORT=$(free_port)

# prom_host P S: a --proc-root P and --sys-root S fixture of a 4 GiB host
# with a ZFS ARC that balloond may cap; prom_host_available MIB sets its
# MemAvailable.
prom_host() {
	mkdir -p "$1/spl/kstat/zfs" "$1/pressure" "$2/module/zfs/parameters"
	PROM_PROC=$1
	prom_host_available 3072
	cat >"$1/spl/kstat/zfs/arcstats" <<EOF2
13 1 0x01 123 33456 5029341722 1234567890123
name                            type data
c                               4    1073741824
c_min                           4    268435456
c_max                           4    3221225472
size                            4    1073741824
EOF2
	printf 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n' \
		>"$1/pressure/memory"
	echo 0 >"$2/module/zfs/parameters/zfs_arc_max"
}
prom_host_available() {
	cat >"$PROM_PROC/meminfo.tmp" <<EOF2
MemTotal:        4194304 kB
MemFree:         $(($1 * 1024)) kB
MemAvailable:    $(($1 * 1024)) kB
EOF2
	mv "$PROM_PROC/meminfo.tmp" "$PROM_PROC/meminfo"
}

# start_prometheus SCRAPE_CONFIGS: Prometheus with the rules as shipped
# but every alert due at once (each "for" shortened to 0s in the copy it
# loads), scraping and evaluating every second.
start_prometheus() {
	sed 's/^\( *\)for: .*/\1for: 0s/' "$top_srcdir/monitoring/balloond.rules.yml" >"$T/rules.yml"
	cat >"$T/prometheus.yml" <<EOF2
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $T/rules.yml
scrape_configs:
$1
EOF2
	"$PROMETHEUS" --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
		--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
		>"$T/prometheus.log" 2>&1 &
	PROM_PID=$!
}

# q EXPR: the instant query's result as JSON lines (one per series); exit
# 1 on an error, 2 on an empty result.
q() { bdtest prom-query "$PROM_PORT" "$1"; }

# up_count: how many targets Prometheus scrapes successfully.
up_count() { q 'count(up == 1)' | sed -n 's/.*"value": \[[^,]*, "\([0-9]*\)"\].*/\1/p'; }
targets_up() { test "$(up_count)" = "$1"; }
# stored_at_least N: balloond_build_info has N samples in the last minute
# (rate() and increase() need two).
stored_at_least() {
	n=$(q 'min(count_over_time(balloond_build_info[1m]))' |
		sed -n 's/.*"value": \[[^,]*, "\([0-9]*\)"\].*/\1/p')
	test "${n:-0}" -ge "$1"
}

# agree JOB: what Prometheus stored from JOB agrees with `balloonctl
# status` (polled: the latest scrape may be a second old).
agree() {
	ctl status --json >"$T/status.json" || return 1
	bdtest prom-agree "$PROM_PORT" "$T/status.json" "$1"
}

# The dashboard's queries, one line each (title TAB expression), with
# its variables as Grafana substitutes them for "All"; and its template
# variables' label_values() queries (name TAB metric selector TAB label).
bdtest dashboard-queries "$top_srcdir/monitoring/balloond-dashboard.json" "$T/panels" "$T/variables"
# panels_ok: every dashboard query runs and every panel returns data.
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
# panels_without_data: the queries with nothing to show, for the log.
panels_without_data() {
	while IFS='	' read -r title expr; do
		q "$expr" >/dev/null
		[ $? -ne 2 ] || diag "no data here: $title: $expr"
	done <"$T/panels"
}
# variables_ok: each template variable's label_values() has values.
variables_ok() {
	bdtest prom-variables "$PROM_PORT" "$T/variables"
}

# The alerting rules' expressions, one line each (alert TAB expression).
bdtest rule-exprs "$top_srcdir/monitoring/balloond.rules.yml" >"$T/exprs"
# rules_run: every alerting rule's expression runs (most have nothing to
# say on a healthy host).
rules_run() {
	rc=0
	while IFS='	' read -r alert expr; do
		q "$expr" >/dev/null
		[ $? -ne 1 ] || { echo "# $alert: the expression fails"; rc=1; }
	done <"$T/exprs"
	return $rc
}

# firing ALERT: Prometheus says the alert is firing.
firing() { bdtest prom-firing "$PROM_PORT" "$1"; }
