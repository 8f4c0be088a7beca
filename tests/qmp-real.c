/*
 * qmp-real: drive the QMP client library against a real QEMU, one step at
 * a time, for tests/real/qmp-real.sh.
 *
 *   qmp-real [--timeout-ms MS] SOCKET STEP...
 *
 * Steps, run in order on one connection, each printing one line:
 *   greeting            "greeting MAJOR.MINOR.MICRO"
 *   query               "query BYTES"
 *   set=BYTES           "set ok"
 *   path                "path QOM-PATH"
 *   stats-enable=S      "stats-enable ok" (on the path found by `path`)
 *   stats-get           "stats-get free=N available=N caches=N total=N
 *                        last_update=T" (-1: not reported)
 * A step that fails prints "STEP error NAME" (NAME: no-balloon, command
 * CLASS, or the error text) and the next step runs. Exit status: 0 when
 * every step ran, 3 when the connection failed (as balloonctl), 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/qmp.h"

struct run {
	uv_loop_t *loop;
	qmp_client *c;
	char **steps;
	int n_steps, next;
	char path[256];
	int exit_code;
};

static void step(struct run *r);

static void print_err(const char *name, int err)
{
	if (err == QMP_ERR_NO_BALLOON)
		printf("%s error no-balloon\n", name);
	else
		printf("%s error %s\n", name, qmp_strerror(err));
	fflush(stdout);
}

static void done(struct run *r)
{
	r->next++;
	step(r);
}

static void status_cb(qmp_client *c, int err, void *data)
{
	struct run *r = data;
	const char *name = r->steps[r->next];
	char word[32];
	snprintf(word, sizeof(word), "%.*s", (int)strcspn(name, "="), name);
	if (err)
		print_err(word, err);
	else
		printf("%s ok\n", word);
	done(r);
}

static void size_cb(qmp_client *c, int err, uint64_t bytes, void *data)
{
	struct run *r = data;
	if (err)
		print_err("query", err);
	else
		printf("query %" PRIu64 "\n", bytes);
	done(r);
}

static void path_cb(qmp_client *c, int err, const char *path, void *data)
{
	struct run *r = data;
	if (err) {
		print_err("path", err);
	} else {
		snprintf(r->path, sizeof(r->path), "%s", path);
		printf("path %s\n", path);
	}
	done(r);
}

static long long figure(uint64_t v)
{
	return v == UINT64_MAX ? -1 : (long long)v;
}

static void stats_cb(qmp_client *c, int err, const struct qmp_guest_stats *st,
		     void *data)
{
	struct run *r = data;
	if (err)
		print_err("stats-get", err);
	else
		printf("stats-get free=%lld available=%lld caches=%lld "
		       "total=%lld last_update=%" PRId64 "\n",
		       figure(st->free_bytes), figure(st->available_bytes),
		       figure(st->caches_bytes), figure(st->total_bytes),
		       st->last_update);
	done(r);
}

static void finish(struct run *r, int code)
{
	r->exit_code = code;
	fflush(stdout);
	uv_stop(r->loop);
}

/* Start the next step; print a failure to start it and move on. */
static void step(struct run *r)
{
	if (r->next >= r->n_steps) {
		finish(r, 0);
		return;
	}
	const char *s = r->steps[r->next];
	/* The balloon's path, or the usual one when `path` did not run. */
	const char *path =
	    r->path[0] ? r->path : "/machine/peripheral/balloon0";
	int rc;
	if (strcmp(s, "greeting") == 0) {
		const struct qmp_greeting *g = qmp_client_greeting(r->c);
		printf("greeting %d.%d.%d\n", g->major, g->minor, g->micro);
		done(r);
		return;
	} else if (strcmp(s, "query") == 0) {
		rc = qmp_balloon_query(r->c, size_cb, r);
	} else if (strncmp(s, "set=", 4) == 0) {
		rc = qmp_balloon_set(r->c, strtoull(s + 4, NULL, 10), status_cb,
				     r);
	} else if (strcmp(s, "path") == 0) {
		rc = qmp_balloon_find_path(r->c, path_cb, r);
	} else if (strncmp(s, "stats-enable=", 13) == 0) {
		rc = qmp_guest_stats_enable(r->c, path,
					    (unsigned)strtoul(s + 13, NULL, 10),
					    status_cb, r);
	} else if (strcmp(s, "stats-get") == 0) {
		rc = qmp_guest_stats_get(r->c, path, stats_cb, r);
	} else {
		fprintf(stderr, "qmp-real: unknown step '%s'\n", s);
		finish(r, 2);
		return;
	}
	if (rc) {
		print_err(s, rc);
		done(r);
	}
}

static void ready_cb(qmp_client *c, void *data)
{
	step(data);
}

static void disconnect_cb(qmp_client *c, int err, void *data)
{
	struct run *r = data;
	printf("connection error %s\n",
	       err == QMP_ERR_NO_GREETING ? "no-greeting" : qmp_strerror(err));
	finish(r, 3);
}

int main(int argc, char **argv)
{
	struct qmp_config cfg = QMP_CONFIG_DEFAULT;
	const struct qmp_callbacks cbs = {
	    .ready_cb = ready_cb,
	    .disconnect_cb = disconnect_cb,
	};
	uv_loop_t loop;
	struct run r = {.loop = &loop, .exit_code = 3};
	int i = 1;

	if (argc > 2 && strcmp(argv[1], "--timeout-ms") == 0) {
		cfg.greeting_timeout_ms = strtoull(argv[2], NULL, 10);
		cfg.command_timeout_ms = cfg.greeting_timeout_ms;
		i = 3;
	}
	if (argc - i < 1) {
		fprintf(stderr, "usage: qmp-real [--timeout-ms MS] SOCKET "
				"STEP...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	cfg.socket_path = argv[i];
	r.steps = argv + i + 1;
	r.n_steps = argc - i - 1;
	uv_loop_init(&loop);
	int rc = qmp_client_new(&loop, &cfg, &cbs, &r, &r.c);
	if (rc == 0)
		rc = qmp_client_start(r.c);
	if (rc)
		printf("connection error %s\n", qmp_strerror(rc));
	else
		uv_run(&loop, UV_RUN_DEFAULT);
	if (r.c)
		qmp_client_close(r.c, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop))
		return 4;
	return r.exit_code;
}
