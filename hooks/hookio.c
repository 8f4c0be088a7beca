/*
 * hookio.c: what the hooks share (see hookio.h): one request to balloond
 * within a second, spooled when the daemon cannot take it.
 */
#include "hooks/hookio.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "config.h"
#include "proto/client.h"
#include "proto/fileio.h"
#include "proto/spool.h"

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

/* Spool the request for the daemon's next start. The state directory
 * and its spool may not exist yet (balloond never ran): make them as the
 * daemon would, root only. Takes params. */
static void spool(enum bd_method m, json_object *params, const char *why)
{
	const char *state =
	    env_or("BALLOOND_STATE_DIR", BALLOOND_DEFAULT_STATE_DIR);
	char dir[BD_FILE_PATH_MAX], err[512];
	snprintf(dir, sizeof(dir), "%s/%s", state, BD_SPOOL_DIR);
	(void)mkdir(state, 0700);
	(void)mkdir(dir, 0700);
	if (bd_spool_write(state, m, params, err, sizeof(err)) == 0)
		bd_hook_say(
		    "%s not sent (%s); spooled in %s for balloond's next "
		    "start",
		    bd_method_name(m), why, dir);
	else
		bd_hook_say("%s lost: balloond unreachable (%s), and the spool "
			    "failed: %s",
			    bd_method_name(m), why, err);
	json_object_put(params);
}

/* Send one request; spool it when the daemon cannot be reached or does
 * not answer in time. A refusal is reported, not spooled (it would be
 * refused again). Takes params. */
void bd_hook_send(enum bd_method m, json_object *params)
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
			bd_hook_say("balloond refused %s: %s (%s)",
				    bd_method_name(m),
				    json_object_get_string(msg), cs ? cs : "?");
	}
	json_object_put(res);
	json_object_put(error);
	json_object_put(params);
}
