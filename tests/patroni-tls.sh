#!/bin/sh
# patroni-tls.sh: the Patroni REST watcher over HTTPS with basic auth and a
# client certificate, as Patroni's restapi.certfile, restapi.verify_client
# and restapi.authentication make it: confirmed with the right CA, client
# certificate and password; every member at max, with the reason, when
# any one of them is wrong or missing (reload switches them).
. "$top_srcdir/tests/lib/daemon-lib.sh"
. "$top_srcdir/tests/lib/fake-patroni-lib.sh"

command -v openssl >/dev/null || {
	echo "1..0 # SKIP no openssl command"
	exit 0
}
cert() { # cert NAME SUBJECT [EXTRA...]: a self-signed certificate
	n=$1 subj=$2
	shift 2
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "$subj" "$@" \
		-keyout "$T/$n.key" -out "$T/$n.pem" >/dev/null 2>&1 || bail "openssl: $n"
}
cert server /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1
cert client /CN=balloond
cert other /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1

bdtest patroni-state tls "$T/api.json" PORT
start_patroni api 1 --tls-cert "$T/server.pem" --tls-key "$T/server.key" \
	--tls-client-ca "$T/client.pem" --auth 'balloond:s3cret pass'
read -r P <"$T/api.ports"
sed -i "s/\"PORT\"/\"$P\"/" "$T/api.json"

umask 077
printf 's3cret pass\n' >"$T/password"
printf 'wrong\n' >"$T/wrong"
umask 022
# conf [KEY=VALUE...]: the cluster section with these keys changed ("KEY="
# leaves a key out). The timeouts and the facts' age scale with TIME_SCALE:
# a TLS handshake under valgrind is slow, and each failed poll with the
# system's CA store loads its whole bundle on balloond's loop (seconds under
# valgrind), which the QMP timeouts must outlast.
conf() {
	{
		printf '[qmp]\nstats_interval_s = 0\ncommand_timeout_ms = %d\n' $((5000 * TIME_SCALE))
		printf 'greeting_timeout_ms = %d\n[cluster pg]\n' $((5000 * TIME_SCALE))
		# The defaults, then the changes: a later KEY=VALUE replaces an
		# earlier one in its place.
		for kv in "rest_urls=https://127.0.0.1:$P" poll_interval_ms=300 \
			"timeout_ms=$((2000 * TIME_SCALE))" dwell_ms=0 \
			"max_age_ms=$((5000 * TIME_SCALE))" "tls_ca_file=$T/server.pem" \
			"tls_cert_file=$T/client.pem" "tls_key_file=$T/client.key" \
			username=balloond "password_file=$T/password" "$@"; do
			printf '%s\n' "$kv"
		done | awk '{
			k = $0; sub(/=.*/, "", k); v = substr($0, length(k) + 2)
			if (!(k in val)) order[n++] = k
			val[k] = v
		} END { for (i = 0; i < n; i++) if (val[order[i]] != "") print order[i] " = " val[order[i]] }'
	} >"$T/conf"
}
# cluster KEY: one field of cluster pg in status (empty if none).
cluster() { bdtest get "clusters.pg.$1"; }
cluster_has() { cluster "$1" | grep -qF -- "$2"; }
at() { field_is "$1" actual_bytes $(($2 * MiB)); }

conf
start_fake 2
BALLOOND_CONF="$T/conf" start_daemon
ctl register vm0 --qmp "$T/vm0.qmp" --replica-target 128M --patroni pg/pg0 >/dev/null || bail "register vm0"
ctl register vm1 --qmp "$T/vm1.qmp" --replica-target 128M --patroni pg/pg1 >/dev/null || bail "register vm1"

check "HTTPS, client certificate and basic auth: the replica shrinks" wait_for 20 at vm1 128
check "... the leader stays at max" at vm0 256
check "... status: reachable" test "$(cluster reachable)" = true

# broken DESC ERROR KEY=VALUE...: reload with one thing wrong; the replica
# goes back to max and status says ERROR; then reload the good config.
broken() {
	what=$1 err=$2
	shift 2
	conf "$@"
	expect 0 "$what: reload" ctl reload
	check "$what: the replica back to max" wait_for 15 at vm1 256
	check "$what: reason in its status" sh -c "'$BALLOONCTL' --timeout $CTL_TIMEOUT status --json | grep -q 'unreachable: kept at max'"
	check "$what: status says '$err'" wait_for 15 cluster_has error "$err"
	cluster_has error "$err" || diag "error: $(cluster error)"
	conf
	expect 0 "$what: reload the good config" ctl reload
	check "$what fixed: the replica shrinks again" wait_for 15 at vm1 128
}
broken "a wrong password" "HTTP status 401" "password_file=$T/wrong"
broken "no credentials" "HTTP status 401" username= password_file=
broken "an unreadable password file" "$T/nosuch" "password_file=$T/nosuch"
broken "the system's CA only" "certificate" tls_ca_file=
broken "a CA that did not sign the server" "certificate" "tls_ca_file=$T/other.pem"
broken "no client certificate" "127.0.0.1" tls_cert_file= tls_key_file=
broken "plain HTTP to an HTTPS port" "127.0.0.1" "rest_urls=http://127.0.0.1:$P"

check "the password never shows in status" status_lacks s3cret
check "... nor in the log" sh -c "! grep -q s3cret '$T/daemon.log'"

stop_daemon
check "balloond stopped cleanly" test "$STOP_RC" -eq 0
tap_done
