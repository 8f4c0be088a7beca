# fake-patroni-lib.sh: fake Patroni REST APIs (tests/lib/fake-patroni.py)
# for the shell tests of balloond's Patroni REST watcher. Source it after
# tests/lib/daemon-lib.sh: it replaces the EXIT trap with one that stops
# the fakes, then the daemon and the guests.
FAKE_PATRONI="$top_srcdir/tests/lib/fake-patroni.py"
PAT_PIDS=

stop_patroni() {
	for p in $PAT_PIDS; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	PAT_PIDS=
}
trap 'stop_patroni; cleanup' EXIT

# start_patroni NAME N [ARGS...]: a fake API on N free ports (and on
# those ARGS name with --port), state in $T/NAME.json, requests logged
# to $T/NAME.log, the ports in $T/NAME.ports.
start_patroni() {
	name=$1 n=$2
	shift 2
	"$PY" "$FAKE_PATRONI" --state "$T/$name.json" --log "$T/$name.log" \
		$(seq "$n" | sed 's/.*/--port 0/') "$@" >"$T/$name.out" 2>&1 &
	PAT_PIDS="$PAT_PIDS $!"
	wait_for 20 grep -q '^ready' "$T/$name.out" || bail "fake-patroni did not start: $(cat "$T/$name.out")"
	sed -n 's/^ready //p' "$T/$name.out" >"$T/$name.ports"
}

# requests NAME PORT PATH: how many requests for PATH fake API NAME got on
# PORT.
requests() { grep -c " $2 $3\$" "$T/$1.log" 2>/dev/null || true; }

# cluster NAME KEY: one field of a cluster in status (empty if none).
cluster() { bdtest get "clusters.$1.$2"; }
cluster_is() { test "$(cluster "$1" "$2")" = "$3"; }
cluster_has() { cluster "$1" "$2" | grep -qF -- "$3"; }
