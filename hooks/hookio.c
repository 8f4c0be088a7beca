/*
 * hookio.c: what the hooks share (see hookio.h): one request to balloond
 * within a second, spooled when the daemon cannot take it; without
 * json-c (proto/quickcall.h).
 */
#include "hooks/hookio.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "config.h"
#include "proto/fileio.h"
#include "proto/jsonout.h"
#include "proto/quickcall.h"
#include "proto/spool.h"

/* A spec's params, every byte of its names and path escaped (\u00XX):
 * 64 + 108 + 2 * 64 bytes at 6 each, and the rest. */
#define HOOK_PARAMS_MAX 2048

static const char *prefix = "balloond hook", *subject = "?";

void bd_hook_init(const char *prog, const char *what)
{
	prefix = prog;
	subject = what;
}

void bd_hook_say(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: %s: ", prefix, subject);
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

/* Spool the request for the daemon's next start: line is a spool file's
 * text. The state directory and its spool may not exist yet (balloond
 * never ran): make them as the daemon would, root only. */
static void spool(const char *method, const char *line, size_t len,
		  const char *why)
{
	const char *state =
	    env_or("BALLOOND_STATE_DIR", BALLOOND_DEFAULT_STATE_DIR);
	char dir[BD_FILE_PATH_MAX], err[512];
	snprintf(dir, sizeof(dir), "%s/%s", state, BD_SPOOL_DIR);
	(void)mkdir(state, 0700);
	(void)mkdir(dir, 0700);
	if (bd_spool_write_text(dir, line, len, err, sizeof(err)) == 0)
		bd_hook_say(
		    "%s not sent (%s); spooled in %s for balloond's next "
		    "start",
		    method, why, dir);
	else
		bd_hook_say("%s lost: balloond unreachable (%s), and the spool "
			    "failed: %s",
			    method, why, err);
}

/* Send one request, params the text of its params object; spool it when
 * the daemon cannot be reached or does not answer in time. A refusal is
 * reported, not spooled (it would be refused again). */
static void send_request(enum bd_method m, const char *params)
{
	const char *path = env_or("BALLOOND_SOCKET", BALLOOND_DEFAULT_SOCKET);
	const char *method = bd_method_name(m);
	/* Room for the params and the method around them. */
	char req[HOOK_PARAMS_MAX + 128], line[HOOK_PARAMS_MAX + 128];
	struct bd_json_out r = bd_json_out_init(req, sizeof(req));
	struct bd_json_out l = bd_json_out_init(line, sizeof(line));
	bd_quickcall_begin(&r, m, true);
	bd_quickcall_begin(&l, m, false);
	bd_json_raw(&r, params);
	bd_json_raw(&l, params);
	bd_json_raw(&r, "}\n");
	bd_json_raw(&l, "}\n");
	if (!bd_json_whole(&r) || !bd_json_whole(&l))
		return; /* not reached: the params fit */

	struct bd_quickcall call = {.timeout_ms = HOOK_TIMEOUT_MS};
	arm_deadline(HOOK_TIMEOUT_MS);
	int rc = bd_quickcall(&call, path, req, r.len);
	arm_deadline(0); /* disarmed: the spool's writes are not to be cut */
	if (rc < 0) {
		char why[700];
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
			snprintf(why, sizeof(why), "%s", call.error);
		spool(method, line, l.len, why);
		return;
	}
	if (rc == BD_QUICKCALL_ERROR) {
		/* A daemon on its way out carries the request out when it
		 * comes back. */
		if (strcmp(call.code, BD_E_SHUTTING_DOWN) == 0) {
			spool(method, line, l.len, "balloond is shutting down");
			return;
		}
		/* Unregistering what balloond does not know is done. */
		if (!(m == BD_M_UNREGISTER &&
		      strcmp(call.code, BD_E_NOT_FOUND) == 0))
			bd_hook_say("balloond refused %s: %s (%s)", method,
				    call.message, call.code);
	}
}

/* The params' text, or a complaint when it does not fit. */
static bool params_whole(const struct bd_json_out *p, const char *method)
{
	if (!bd_json_whole(p))
		bd_hook_say("%s request over %d bytes; balloond not told",
			    method, HOOK_PARAMS_MAX);
	return bd_json_whole(p);
}

void bd_hook_register(const struct bd_guest_spec *spec)
{
	char params[HOOK_PARAMS_MAX];
	struct bd_json_out p = bd_json_out_init(params, sizeof(params));
	bd_json_byte(&p, '{');
	bd_spec_write_members(&p, spec);
	/* Not waiting for QEMU, nor for the disk's flush: a hook registers
	 * a guest at each start (daemon/state.c). */
	bd_json_raw(&p, ",\"wait\":false,\"hook\":true}");
	if (params_whole(&p, "register"))
		send_request(BD_M_REGISTER, params);
}

void bd_hook_unregister(const char *name)
{
	char params[HOOK_PARAMS_MAX];
	struct bd_json_out p = bd_json_out_init(params, sizeof(params));
	bd_json_raw(&p, "{\"name\":");
	bd_json_string(&p, name);
	bd_json_byte(&p, '}');
	if (params_whole(&p, "unregister"))
		send_request(BD_M_UNREGISTER, params);
}
