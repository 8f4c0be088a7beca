#!/bin/sh
# patroni-ca-cache.sh: the Patroni REST watcher parses its CA bundle once,
# not for every connection. Patroni 3.0's API speaks HTTP/1.0 and closes
# the connection after every answer, so each poll is a new TLS handshake;
# parsing the system's bundle (about 140 certificates) for each cost tens
# of milliseconds of the loop thread per poll. The fake API here does the
# same (--http10), and OpenSSL's reads of the bundle are counted through
# tests/fault-preload.so.
. "$top_srcdir/tests/lib/daemon-lib.sh"
. "$top_srcdir/tests/lib/fake-patroni-lib.sh"

command -v openssl >/dev/null || {
	echo "1..0 # SKIP no openssl command"
	exit 0
}
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$T/server.key" \
	-out "$T/server.pem" >/dev/null 2>&1 || bail "openssl req"
# The bundle an admin with a certificate from a public CA would name: the
# system's, with the server's own appended.
cat /etc/ssl/certs/ca-certificates.crt "$T/server.pem" >"$T/bundle.pem" 2>/dev/null ||
	cp "$T/server.pem" "$T/bundle.pem"

printf '{"PORT": {"mode": "ok", "cluster": {"members": [{"name": "pg0", "role": "leader", "state": "running"}]}, "patroni": {"role": "master", "state": "running"}}}\n' >"$T/api.json"
start_patroni api 1 --tls-cert "$T/server.pem" --tls-key "$T/server.key" --http10
read -r P <"$T/api.ports"
sed -i "s/\"PORT\"/\"$P\"/" "$T/api.json"

# First no [cluster]: libcurl is not loaded until one is configured.
printf '[qmp]\nstats_interval_s = 0\n' >"$T/conf"
curl_mapped() { grep -q '/libcurl\.so' "/proc/$DAEMON_PID/maps"; }
no_curl() { ! curl_mapped; }
BALLOOND_CONF="$T/conf" start_daemon_with_faults BD_FAULT_LOG="$T/faults" \
	BD_FAULT_FOPEN=bundle.pem
check "no [cluster]: libcurl is not mapped" no_curl

cat >"$T/conf" <<CONF
[qmp]
stats_interval_s = 0
[cluster pg]
rest_urls = https://127.0.0.1:$P
poll_interval_ms = 100
timeout_ms = $((2000 * TIME_SCALE))
max_age_ms = $((5000 * TIME_SCALE))
tls_ca_file = $T/bundle.pem
CONF

polls() { grep -c ' /cluster$' "$T/api.log" 2>/dev/null || echo 0; }
polls_at_least() { test "$(polls)" -ge "$1"; }
reads() { grep -c '^fopen bundle.pem$' "$T/faults" 2>/dev/null || echo 0; }

expect 0 "reload: a [cluster]" ctl reload
check "... libcurl is mapped now" curl_mapped
check "the watcher polls over HTTPS, a connection per request" wait_for 60 polls_at_least 12
check "status: the cluster reachable" wait_for 20 sh -c "'$BALLOONCTL' --timeout $CTL_TIMEOUT status --json | grep -q '\"reachable\": true'"
n=$(polls) r=$(reads)
diag "$n polls, the CA bundle read $r times"
check "the bundle was read at all (the count works)" test "$r" -ge 1
check "... and not once per connection: at most twice for $n polls" test "$r" -le 2

stop_daemon
check "balloond stopped cleanly" test "$STOP_RC" -eq 0
tap_done
