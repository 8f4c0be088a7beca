/*
 * balloon-drive: a small command line over the QMP client library, for the
 * real-guest tests (tests/real/tvm-balloon.sh) and the balloon benchmark
 * (bench/balloon-move.sh).
 *
 *   balloon-drive --socket PATH [--timeout S] COMMAND [ARGS]
 *
 * Commands, each printing one JSON line on stdout:
 *   query                  {"actual":N}
 *   find-path              {"path":"/machine/peripheral/balloon0"}
 *   set SIZE [--wait] [--tolerance-pct P] [--deadline S] [--allow-short]
 *            [--settle-ms MS] [--poll-ms MS]
 *       Sends `balloon`. Without --wait prints {"target":N} once QEMU has
 *       accepted it. With --wait, polls query-balloon every --poll-ms
 *       (default 20) and counts BALLOON_CHANGE events until `actual` is
 *       within P % (default 1) of the target, or --deadline seconds
 *       (default 30) pass, or, with --allow-short, `actual` has not changed
 *       for --settle-ms (default 2000); then prints
 *       {"target":N,"actual":N,"reached":B,"stopped":"reached|settled|
 *        deadline|disconnected","elapsed_ms":X,"events":N,
 *        "event_actuals":[...],"event_ms":[...]}
 *       elapsed_ms runs from just before `balloon` is sent to the reply of
 *       the query that decided; event_ms are the events' arrival times on
 *       the same clock.
 *   stats [--enable S] [--deadline S]
 *       Finds the balloon's QOM path, with --enable sets its
 *       guest-stats-polling-interval to S seconds, then polls qom-get
 *       guest-stats every 100 ms until there is a report (last-update > 0;
 *       with --enable, a report from the second of the qom-set or later:
 *       the guest also reports once when its driver loads, so without this
 *       the first answer can be minutes old) or the deadline (default
 *       30 s) passes, and prints {"path":..,"free_bytes":..,
 *       "available_bytes":..,"caches_bytes":..,"total_bytes":..,
 *       "last_update":T,"now":T} (-1: the guest did not report that figure).
 *
 * SIZE is bytes, or a number with a K, M or G suffix (powers of 1024).
 * --timeout S (default 5) bounds the greeting and each command.
 *
 * Exit status: 0 ok; 1 QEMU answered with an error (or there is no balloon
 * device); 2 usage; 3 connection or protocol failure; 4 target (or stats)
 * not reached before the deadline, or stopped short (--allow-short).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/units.h"
#include "qmp/qmp.h"

enum {
	EXIT_OK = 0,
	EXIT_QMP = 1,
	EXIT_USAGE = 2,
	EXIT_CONN = 3,
	EXIT_NOT_REACHED = 4,
};

/* How often `stats` asks for guest stats while waiting for a report. */
#define STATS_POLL_MS 100

struct drive;

/* One subcommand: its name, the usage of its arguments, how it parses
 * them and what it does once the client is ready. */
struct command {
	const char *name;
	const char *usage;
	int (*parse)(struct drive *d, int argc, char **argv);
	void (*run)(struct drive *d);
};

struct drive {
	uv_loop_t *loop;
	qmp_client *c;
	const struct command *cmd;
	/* Options. */
	uint64_t target_bytes;
	bool wait;
	double tolerance_pct;
	double deadline_s;
	bool allow_short;
	uint64_t settle_ms;
	uint64_t poll_ms;
	bool enable;
	unsigned enable_s;
	/* State of a set --wait or a stats poll. */
	uv_timer_t poll_timer, deadline_timer;
	bool timers_on;
	bool query_busy;
	bool sent;	/* `balloon` has gone out: events count from now */
	uint64_t t0_ns; /* just before `balloon` was sent */
	uint64_t actual_bytes;
	bool have_actual;
	uint64_t last_change_ns;
	json_object *event_actuals, *event_ms;
	char path[256];
	int64_t stats_since; /* stats: a report at least this new (unix s) */
	/* The end. */
	bool done;
	int exit_code;
};

static void finish(struct drive *d, int code);

static const char *prog = "balloon-drive";

/* The exit status for a failed command: QEMU's refusal or our link. */
static int exit_for(int err)
{
	return err == QMP_ERR_COMMAND || err == QMP_ERR_NO_BALLOON ? EXIT_QMP
								   : EXIT_CONN;
}

static void fail(struct drive *d, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, qmp_strerror(err));
	finish(d, exit_for(err));
}

static void print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(o);
}

static double ms_since(const struct drive *d, uint64_t now_ns)
{
	return (double)(now_ns - d->t0_ns) / 1e6;
}

/* A double with one decimal, printed as such (json-c would print %.17g). */
static json_object *new_ms(double ms)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%.1f", ms);
	return json_object_new_double_s(ms, buf);
}

/* A guest figure: QEMU's -1 (UINT64_MAX) stays -1. */
static json_object *new_figure(uint64_t v)
{
	return json_object_new_int64(v == UINT64_MAX ? -1 : (int64_t)v);
}

static void timer_closed_cb(uv_handle_t *h) {}

static void close_timers(struct drive *d)
{
	if (!d->timers_on)
		return;
	d->timers_on = false;
	uv_close((uv_handle_t *)&d->poll_timer, timer_closed_cb);
	uv_close((uv_handle_t *)&d->deadline_timer, timer_closed_cb);
}

/* Stop everything: timers, then the client (pending commands call back
 * with -ECANCELED, ignored since done is set). The loop then runs dry. */
static void finish(struct drive *d, int code)
{
	if (d->done)
		return;
	d->done = true;
	d->exit_code = code;
	close_timers(d);
	if (d->c) {
		qmp_client *c = d->c;
		d->c = NULL;
		qmp_client_close(c, NULL, NULL);
	}
}

static int start_timers(struct drive *d, uv_timer_cb poll_cb,
			uv_timer_cb deadline_cb)
{
	uv_timer_init(d->loop, &d->poll_timer);
	uv_timer_init(d->loop, &d->deadline_timer);
	d->poll_timer.data = d;
	d->deadline_timer.data = d;
	d->timers_on = true;
	int rc =
	    uv_timer_start(&d->poll_timer, poll_cb, d->poll_ms, d->poll_ms);
	if (rc == 0)
		rc = uv_timer_start(&d->deadline_timer, deadline_cb,
				    (uint64_t)(d->deadline_s * 1000.0), 0);
	return rc;
}

/* ---- option parsing ---- */

static int parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 1e9)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

/* The value of option argv[*i], moving *i past it; NULL when missing. */
static const char *opt_value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "%s: %s needs a value\n", prog, argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

static int bad_value(const char *opt, const char *v)
{
	fprintf(stderr, "%s: bad value for %s: '%s'\n", prog, opt, v);
	return -EINVAL;
}

static int parse_none(struct drive *d, int argc, char **argv)
{
	if (argc > 0) {
		fprintf(stderr, "%s: %s takes no arguments\n", prog,
			d->cmd->name);
		return -EINVAL;
	}
	return 0;
}

static int parse_set(struct drive *d, int argc, char **argv)
{
	bool have_target = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		int rc = 0;
		if (strcmp(a, "--wait") == 0) {
			d->wait = true;
		} else if (strcmp(a, "--allow-short") == 0) {
			d->allow_short = true;
		} else if (strcmp(a, "--tolerance-pct") == 0) {
			if (!(v = opt_value(argc, argv, &i)))
				return -EINVAL;
			rc = parse_double(v, &d->tolerance_pct);
		} else if (strcmp(a, "--deadline") == 0) {
			if (!(v = opt_value(argc, argv, &i)))
				return -EINVAL;
			rc = parse_double(v, &d->deadline_s);
		} else if (strcmp(a, "--settle-ms") == 0) {
			if (!(v = opt_value(argc, argv, &i)))
				return -EINVAL;
			rc = parse_u64(v, &d->settle_ms);
		} else if (strcmp(a, "--poll-ms") == 0) {
			if (!(v = opt_value(argc, argv, &i)))
				return -EINVAL;
			rc = parse_u64(v, &d->poll_ms);
			if (rc == 0 && d->poll_ms == 0)
				rc = -EINVAL;
		} else if (a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "%s: set: unknown option %s\n", prog,
				a);
			return -EINVAL;
		} else if (!have_target) {
			v = a;
			a = "SIZE";
			rc = bd_parse_size(v, &d->target_bytes);
			/* QEMU refuses 0 ("expects a size"). */
			if (rc == 0 && d->target_bytes == 0)
				rc = -EINVAL;
			have_target = true;
		} else {
			fprintf(stderr, "%s: set: extra argument '%s'\n", prog,
				a);
			return -EINVAL;
		}
		if (rc)
			return bad_value(a, v);
	}
	if (!have_target) {
		fprintf(stderr, "%s: set needs a SIZE\n", prog);
		return -EINVAL;
	}
	return 0;
}

static int parse_stats(struct drive *d, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		int rc;
		uint64_t s;
		if (strcmp(a, "--enable") == 0) {
			if (!(v = opt_value(argc, argv, &i)))
				return -EINVAL;
			rc = parse_u64(v, &s);
			if (rc == 0 && (s == 0 || s > UINT32_MAX))
				rc = -EINVAL;
			d->enable = true;
			d->enable_s = (unsigned)s;
		} else if (strcmp(a, "--deadline") == 0) {
			if (!(v = opt_value(argc, argv, &i)))
				return -EINVAL;
			rc = parse_double(v, &d->deadline_s);
		} else {
			fprintf(stderr, "%s: stats: unknown argument '%s'\n",
				prog, a);
			return -EINVAL;
		}
		if (rc)
			return bad_value(a, v);
	}
	return 0;
}

/* ---- query, find-path ---- */

static void query_cb(qmp_client *c, int err, uint64_t bytes, void *data)
{
	struct drive *d = data;
	if (d->done)
		return;
	if (err) {
		fail(d, "query-balloon", err);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "actual", json_object_new_int64(bytes));
	print_json(o);
	finish(d, EXIT_OK);
}

static void run_query(struct drive *d)
{
	int rc = qmp_balloon_query(d->c, query_cb, d);
	if (rc)
		fail(d, "query-balloon", rc);
}

static void find_path_cb(qmp_client *c, int err, const char *path, void *data)
{
	struct drive *d = data;
	if (d->done)
		return;
	if (err) {
		fail(d, "find-path", err);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string(path));
	print_json(o);
	finish(d, EXIT_OK);
}

static void run_find_path(struct drive *d)
{
	int rc = qmp_balloon_find_path(d->c, find_path_cb, d);
	if (rc)
		fail(d, "find-path", rc);
}

/* ---- set [--wait] ---- */

static bool within_tolerance(const struct drive *d, uint64_t actual)
{
	uint64_t t = d->target_bytes;
	double diff = (double)(actual > t ? actual - t : t - actual);
	return diff <= (double)d->target_bytes * d->tolerance_pct / 100.0;
}

/* Print the outcome of a wait and finish with its exit status. */
static void report_wait(struct drive *d, const char *stopped, uint64_t now_ns)
{
	bool reached = d->have_actual && within_tolerance(d, d->actual_bytes);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "target",
			       json_object_new_int64(d->target_bytes));
	json_object_object_add(
	    o, "actual",
	    d->have_actual ? json_object_new_int64(d->actual_bytes) : NULL);
	json_object_object_add(o, "reached", json_object_new_boolean(reached));
	json_object_object_add(o, "stopped", json_object_new_string(stopped));
	json_object_object_add(o, "elapsed_ms", new_ms(ms_since(d, now_ns)));
	json_object_object_add(
	    o, "events",
	    json_object_new_int(
		(int)json_object_array_length(d->event_actuals)));
	json_object_object_add(o, "event_actuals",
			       json_object_get(d->event_actuals));
	json_object_object_add(o, "event_ms", json_object_get(d->event_ms));
	print_json(o);
	finish(d, strcmp(stopped, "disconnected") == 0 ? EXIT_CONN
		  : reached			       ? EXIT_OK
						       : EXIT_NOT_REACHED);
}

static void wait_query_cb(qmp_client *c, int err, uint64_t bytes, void *data)
{
	struct drive *d = data;
	uint64_t now = uv_hrtime();
	d->query_busy = false;
	if (d->done)
		return;
	if (err) {
		fail(d, "query-balloon", err);
		return;
	}
	if (!d->have_actual || bytes != d->actual_bytes)
		d->last_change_ns = now;
	d->actual_bytes = bytes;
	d->have_actual = true;
	if (within_tolerance(d, bytes))
		report_wait(d, "reached", now);
	else if (d->allow_short &&
		 now - d->last_change_ns >= d->settle_ms * 1000000)
		report_wait(d, "settled", now);
}

static void wait_poll(struct drive *d)
{
	/* One query at a time: a slow answer delays the next poll. */
	if (d->query_busy || d->done)
		return;
	int rc = qmp_balloon_query(d->c, wait_query_cb, d);
	if (rc) {
		fail(d, "query-balloon", rc);
		return;
	}
	d->query_busy = true;
}

static void wait_poll_cb(uv_timer_t *t)
{
	wait_poll(t->data);
}

static void wait_deadline_cb(uv_timer_t *t)
{
	report_wait(t->data, "deadline", uv_hrtime());
}

static void set_cb(qmp_client *c, int err, void *data)
{
	struct drive *d = data;
	if (d->done)
		return;
	if (err) {
		fail(d, "balloon", err);
		return;
	}
	if (!d->wait) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "target",
				       json_object_new_int64(d->target_bytes));
		print_json(o);
		finish(d, EXIT_OK);
		return;
	}
	/* The deadline counts from the send, not from this reply. */
	double left_s = d->deadline_s - ms_since(d, uv_hrtime()) / 1000.0;
	d->deadline_s = left_s > 0 ? left_s : 0;
	int rc = start_timers(d, wait_poll_cb, wait_deadline_cb);
	if (rc) {
		fail(d, "timer", rc);
		return;
	}
	d->last_change_ns = d->t0_ns;
	wait_poll(d);
}

static void run_set(struct drive *d)
{
	d->event_actuals = json_object_new_array();
	d->event_ms = json_object_new_array();
	d->t0_ns = uv_hrtime();
	d->sent = true;
	int rc = qmp_balloon_set(d->c, d->target_bytes, set_cb, d);
	if (rc)
		fail(d, "balloon", rc);
}

static void balloon_change_cb(qmp_client *c, uint64_t actual_bytes, void *data)
{
	struct drive *d = data;
	if (d->done || !d->sent)
		return;
	json_object_array_add(d->event_actuals,
			      json_object_new_int64(actual_bytes));
	json_object_array_add(d->event_ms, new_ms(ms_since(d, uv_hrtime())));
}

/* ---- stats ---- */

static bool fresh(const struct drive *d, const struct qmp_guest_stats *st)
{
	return st->last_update > 0 && st->last_update >= d->stats_since;
}

static void report_stats(struct drive *d, const struct qmp_guest_stats *st)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string(d->path));
	json_object_object_add(o, "free_bytes", new_figure(st->free_bytes));
	json_object_object_add(o, "available_bytes",
			       new_figure(st->available_bytes));
	json_object_object_add(o, "caches_bytes", new_figure(st->caches_bytes));
	json_object_object_add(o, "total_bytes", new_figure(st->total_bytes));
	json_object_object_add(o, "last_update",
			       json_object_new_int64(st->last_update));
	json_object_object_add(o, "now",
			       json_object_new_int64((int64_t)time(NULL)));
	print_json(o);
	finish(d, fresh(d, st) ? EXIT_OK : EXIT_NOT_REACHED);
}

static void stats_cb(qmp_client *c, int err, const struct qmp_guest_stats *st,
		     void *data)
{
	struct drive *d = data;
	d->query_busy = false;
	if (d->done)
		return;
	if (err) {
		fail(d, "qom-get guest-stats", err);
		return;
	}
	if (fresh(d, st))
		report_stats(d, st);
}

static void stats_poll(struct drive *d)
{
	if (d->query_busy || d->done)
		return;
	int rc = qmp_guest_stats_get(d->c, d->path, stats_cb, d);
	if (rc) {
		fail(d, "qom-get guest-stats", rc);
		return;
	}
	d->query_busy = true;
}

static void stats_poll_cb(uv_timer_t *t)
{
	stats_poll(t->data);
}

/* The deadline passed without a report: one last look, then give up. */
static void stats_last_cb(qmp_client *c, int err,
			  const struct qmp_guest_stats *st, void *data)
{
	struct drive *d = data;
	if (d->done)
		return;
	if (err)
		fail(d, "qom-get guest-stats", err);
	else
		report_stats(d, st);
}

static void stats_deadline_cb(uv_timer_t *t)
{
	struct drive *d = t->data;
	fprintf(stderr, "%s: stats: no report from the guest in time\n", prog);
	uv_timer_stop(&d->poll_timer);
	int rc = qmp_guest_stats_get(d->c, d->path, stats_last_cb, d);
	if (rc)
		fail(d, "qom-get guest-stats", rc);
}

static void stats_start(struct drive *d)
{
	d->poll_ms = STATS_POLL_MS;
	int rc = start_timers(d, stats_poll_cb, stats_deadline_cb);
	if (rc) {
		fail(d, "timer", rc);
		return;
	}
	stats_poll(d);
}

static void stats_enabled_cb(qmp_client *c, int err, void *data)
{
	struct drive *d = data;
	if (d->done)
		return;
	if (err) {
		fail(d, "qom-set guest-stats-polling-interval", err);
		return;
	}
	d->stats_since = (int64_t)time(NULL);
	stats_start(d);
}

static void stats_path_cb(qmp_client *c, int err, const char *path, void *data)
{
	struct drive *d = data;
	if (d->done)
		return;
	if (err) {
		fail(d, "find-path", err);
		return;
	}
	snprintf(d->path, sizeof(d->path), "%s", path);
	if (!d->enable) {
		stats_start(d);
		return;
	}
	int rc = qmp_guest_stats_enable(c, d->path, d->enable_s,
					stats_enabled_cb, d);
	if (rc)
		fail(d, "qom-set guest-stats-polling-interval", rc);
}

static void run_stats(struct drive *d)
{
	int rc = qmp_balloon_find_path(d->c, stats_path_cb, d);
	if (rc)
		fail(d, "find-path", rc);
}

/* ---- main ---- */

static const struct command commands[] = {
    {"query", "", parse_none, run_query},
    {"find-path", "", parse_none, run_find_path},
    {"set",
     "SIZE [--wait] [--tolerance-pct P] [--deadline S] [--allow-short] "
     "[--settle-ms MS] [--poll-ms MS]",
     parse_set, run_set},
    {"stats", "[--enable S] [--deadline S]", parse_stats, run_stats},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static int usage(void)
{
	fprintf(stderr, "usage: %s --socket PATH [--timeout S] COMMAND\n",
		prog);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(stderr, "  %s %s\n", commands[i].name,
			commands[i].usage);
	return EXIT_USAGE;
}

static void ready_cb(qmp_client *c, void *data)
{
	struct drive *d = data;
	d->cmd->run(d);
}

static void disconnect_cb(qmp_client *c, int err, void *data)
{
	struct drive *d = data;
	if (d->done)
		return;
	if (!err)
		err = -ECONNRESET;
	fprintf(stderr, "%s: %s: %s\n", prog, qmp_client_socket_path(c),
		qmp_strerror(err));
	/* A wait cut short still says how far the balloon got. */
	if (d->wait && d->timers_on)
		report_wait(d, "disconnected", uv_hrtime());
	else
		finish(d, EXIT_CONN);
}

int main(int argc, char **argv)
{
	struct drive d = {
	    .tolerance_pct = 1.0,
	    .deadline_s = 30.0,
	    .settle_ms = 2000,
	    .poll_ms = 20,
	    .exit_code = EXIT_CONN,
	};
	struct qmp_config cfg = QMP_CONFIG_DEFAULT;
	const struct qmp_callbacks cbs = {
	    .ready_cb = ready_cb,
	    .disconnect_cb = disconnect_cb,
	    .balloon_change_cb = balloon_change_cb,
	};
	const char *socket_path = NULL;
	double timeout_s = 5.0;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (strcmp(a, "--socket") == 0) {
			if (!(socket_path = opt_value(argc, argv, &i)))
				return usage();
		} else if (strcmp(a, "--timeout") == 0) {
			if (!(v = opt_value(argc, argv, &i)))
				return usage();
			if (parse_double(v, &timeout_s) || timeout_s <= 0) {
				bad_value(a, v);
				return usage();
			}
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage();
			return EXIT_OK;
		} else {
			break;
		}
	}
	if (i >= argc || !socket_path)
		return usage();
	for (size_t k = 0; k < N_COMMANDS; k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			d.cmd = &commands[k];
	if (!d.cmd) {
		fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[i]);
		return usage();
	}
	if (d.cmd->parse(&d, argc - i - 1, argv + i + 1))
		return usage();

	signal(SIGPIPE, SIG_IGN);
	cfg.socket_path = socket_path;
	cfg.greeting_timeout_ms = (uint64_t)(timeout_s * 1000.0);
	cfg.command_timeout_ms = cfg.greeting_timeout_ms;
	uv_loop_t loop;
	uv_loop_init(&loop);
	d.loop = &loop;
	int rc = qmp_client_new(&loop, &cfg, &cbs, &d, &d.c);
	if (rc == 0)
		rc = qmp_client_start(d.c);
	if (rc) {
		fprintf(stderr, "%s: %s: %s\n", prog, socket_path,
			qmp_strerror(rc));
		finish(&d, EXIT_CONN);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	/* Everything is closed by finish(); a client that is still there
	 * means the loop ran dry without an outcome. */
	if (!d.done) {
		fprintf(stderr, "%s: stopped without an outcome\n", prog);
		finish(&d, EXIT_CONN);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	json_object_put(d.event_actuals);
	json_object_put(d.event_ms);
	if (uv_loop_close(&loop)) {
		fprintf(stderr, "%s: handles left open\n", prog);
		return EXIT_CONN;
	}
	return d.exit_code;
}
