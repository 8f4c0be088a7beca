/*
 * qemu.c: the libvirt qemu hook, installed as /etc/libvirt/hooks/qemu.d/
 * balloond. libvirtd runs it as
 *
 *   balloond NAME OPERATION SUBOP EXTRA     (the domain's XML on stdin)
 *
 * for every domain event. For a domain carrying balloond's metadata it
 * registers the guest on `started begin` and `reconnect begin` and
 * unregisters it on `stopped end` and `release end`; everything else is
 * read and ignored.
 *
 * A hook runs inside libvirtd's domain start: it must never block it,
 * never fail it, and never call libvirt (that can deadlock libvirtd). So
 * it always exits 0, gives the daemon about a second in all, and when the
 * daemon cannot be reached writes the request into balloond's spool,
 * which the daemon carries out when it runs again. Problems are one line
 * on stderr, which libvirtd logs.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hooks/domxml.h"
#include "proto/client.h"
#include "proto/proto.h"
#include "proto/spool.h"

/* The whole conversation with the daemon, connect to reply. The daemon
 * answers a "wait": false register once it is on disk: a few ms. */
#define HOOK_TIMEOUT_MS 1000

static const char *domain = "?";

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "balloond hook: %s: ", domain);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

/* Read stdin whole, up to max bytes. Returns the length, or -EMSGSIZE
 * when there is more (the rest is left unread: libvirt ignores EPIPE on a
 * hook's stdin), or -errno. */
static ssize_t read_stdin(char *buf, size_t max)
{
	size_t len = 0;
	for (;;) {
		ssize_t n = read(0, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return (ssize_t)len;
		len += (size_t)n;
		if (len > max)
			return -EMSGSIZE;
	}
}

/* Discard stdin: operations we ignore still get their XML read, so that
 * libvirtd's write never meets a closed pipe. */
static void drain_stdin(void)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(0, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		;
}

/* The backstop for the one call without a deadline of its own: a
 * blocking connect(2) to a daemon whose listen backlog is full (it is
 * stopped, or swamped). SIGALRM without SA_RESTART makes it fail with
 * EINTR; the client's reads poll with deadlines. */
static void alarm_cb(int sig)
{
	(void)sig;
}

static void arm_deadline(int ms)
{
	struct sigaction sa = {.sa_handler = alarm_cb};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {.it_value = {ms / 1000, (ms % 1000) * 1000}};
	setitimer(ITIMER_REAL, &it, NULL);
}

/* Spool the request for the daemon's next start. The state directory
 * and its spool may not exist yet (balloond never ran): make them as the
 * daemon would, root only. Takes params. */
static void spool(enum bd_method m, json_object *params, const char *why)
{
	const char *state =
	    env_or("BALLOOND_STATE_DIR", BALLOOND_DEFAULT_STATE_DIR);
	char dir[4200], err[512];
	snprintf(dir, sizeof(dir), "%s/%s", state, BD_SPOOL_DIR);
	(void)mkdir(state, 0700);
	(void)mkdir(dir, 0700);
	if (bd_spool_write(state, m, params, err, sizeof(err)) == 0)
		say("%s not sent (%s); spooled in %s for balloond's next "
		    "start",
		    bd_method_name(m), why, dir);
	else
		say("%s lost: balloond unreachable (%s), and the spool "
		    "failed: %s",
		    bd_method_name(m), why, err);
	json_object_put(params);
}

/* Send one request; spool it when the daemon cannot be reached or does
 * not answer in time. A refusal is reported, not spooled (it would be
 * refused again). Takes params. */
static void send_request(enum bd_method m, json_object *params)
{
	const char *path = env_or("BALLOOND_SOCKET", BALLOOND_DEFAULT_SOCKET);
	struct ctl_client c;
	json_object *res = NULL, *error = NULL;

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	arm_deadline(HOOK_TIMEOUT_MS);
	int rc = ctl_client_open(&c, path, HOOK_TIMEOUT_MS);
	if (rc == 0) {
		/* The client's deadline is per read: give the reply what is
		 * left of the whole budget. */
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long spent = (t1.tv_sec - t0.tv_sec) * 1000 +
			     (t1.tv_nsec - t0.tv_nsec) / 1000000;
		c.timeout_ms =
		    spent < HOOK_TIMEOUT_MS ? HOOK_TIMEOUT_MS - (int)spent : 1;
	}
	if (rc == 0)
		rc = ctl_client_call(&c, bd_method_name(m),
				     json_object_get(params), &res, &error);
	arm_deadline(0); /* disarmed: the spool's writes are not to be cut */
	if (rc < 0) {
		char why[600];
		if (rc == -ENOENT)
			snprintf(why, sizeof(why), "no balloond socket %s",
				 path);
		else if (rc == -ECONNREFUSED)
			snprintf(why, sizeof(why), "nobody listens on %s",
				 path);
		else if (rc == -EINTR)
			snprintf(why, sizeof(why),
				 "balloond did not accept within %d ms",
				 HOOK_TIMEOUT_MS);
		else
			snprintf(why, sizeof(why), "%s", c.error);
		ctl_client_close(&c);
		spool(m, params, why);
		return;
	}
	ctl_client_close(&c);
	if (rc == 1) {
		json_object *code = NULL, *msg = NULL;
		json_object_object_get_ex(error, "code", &code);
		json_object_object_get_ex(error, "message", &msg);
		const char *cs = json_object_get_string(code);
		/* A daemon on its way out carries the request out when it
		 * comes back. */
		if (cs && strcmp(cs, BD_E_SHUTTING_DOWN) == 0) {
			json_object_put(error);
			spool(m, params, "balloond is shutting down");
			return;
		}
		/* Unregistering what balloond does not know is done. */
		if (!(m == BD_M_UNREGISTER && cs &&
		      strcmp(cs, BD_E_NOT_FOUND) == 0))
			say("balloond refused %s: %s (%s)", bd_method_name(m),
			    json_object_get_string(msg), cs ? cs : "?");
	}
	json_object_put(res);
	json_object_put(error);
	json_object_put(params);
}

static void handle(bool reg, const char *xml, size_t len)
{
	struct bd_domxml d;
	char err[512];
	if (bd_domxml_parse(xml, len, &d, err, sizeof(err))) {
		say("%s; balloond not told", err);
		return;
	}
	if (!d.managed)
		return;
	if (reg && !d.has_qmp) {
		say("balloond:guest metadata but no extra \"-qmp unix:PATH,"
		    "server=on,wait=off\" under <qemu:commandline> "
		    "(`balloonctl enable %s` adds it); not registered",
		    d.spec.name);
		return;
	}
	if (reg && !d.has_balloon) {
		say("balloond:guest metadata but no <memballoon "
		    "model='virtio'>; not registered");
		return;
	}
	json_object *p;
	if (reg) {
		p = bd_spec_to_json(&d.spec);
		/* Kept at once and answered once on disk: never wait for
		 * QEMU inside libvirtd's start (contract C1). */
		json_object_object_add(p, "wait", json_object_new_boolean(0));
	} else {
		p = json_object_new_object();
		json_object_object_add(p, "name",
				       json_object_new_string(d.spec.name));
	}
	send_request(reg ? BD_M_REGISTER : BD_M_UNREGISTER, p);
}

int main(int argc, char **argv)
{
	/* A daemon that closes mid-write is an error to handle. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 3) {
		fprintf(stderr,
			"balloond hook: usage: %s NAME OPERATION "
			"SUBOP EXTRA (run by libvirtd, domain XML "
			"on stdin)\n",
			argv[0]);
		return 0;
	}
	domain = argv[1];
	const char *op = argv[2], *sub = argc > 3 ? argv[3] : "-";
	bool reg =
	    (strcmp(op, "started") == 0 || strcmp(op, "reconnect") == 0) &&
	    strcmp(sub, "begin") == 0;
	bool unreg =
	    (strcmp(op, "stopped") == 0 || strcmp(op, "release") == 0) &&
	    strcmp(sub, "end") == 0;
	if (!reg && !unreg) {
		drain_stdin();
		return 0;
	}
	char *buf = malloc(BD_DOMXML_MAX_BYTES + 1);
	if (!buf) {
		say("out of memory");
		return 0;
	}
	ssize_t n = read_stdin(buf, BD_DOMXML_MAX_BYTES);
	if (n == -EMSGSIZE)
		say("domain XML on stdin is longer than %d bytes; balloond "
		    "not told",
		    BD_DOMXML_MAX_BYTES);
	else if (n < 0)
		say("reading the domain XML from stdin: %s", strerror((int)-n));
	else
		handle(reg, buf, (size_t)n);
	free(buf);
	return 0;
}
