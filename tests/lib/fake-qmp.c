/*
 * fake-qmp: many fake QEMU monitors in one process, for scripts and
 * benchmarks. The cmocka tests run the same fake (tests/lib/fakeqmp.c) inside
 * their own loop instead.
 *
 *   fake-qmp --dir DIR --count N [--prefix NAME] [--socket PATH]...
 *            [--mem BYTES] [--move-ms MS] [--log FILE] [--control PATH]
 *            [--mode MODE]
 *
 * serves DIR/NAME0.qmp ... DIR/NAME<N-1>.qmp (NAME defaults to "vm") and
 * every --socket PATH, each one a pretend QEMU 7.2 guest with a balloon
 * device and BYTES of RAM. It is ready once the control socket exists (or,
 * without --control, the last QMP socket): they are created in that order.
 * Each command received is logged to FILE as one JSON line,
 *   {"t_ns": N, "socket": "vm3.qmp", "execute": "balloon",
 *    "arguments": {"value": 268435456}}
 * where t_ns is CLOCK_MONOTONIC in nanoseconds (comparable across
 * processes on the host). SIGTERM or SIGINT closes everything and removes
 * the sockets.
 *
 * The control socket takes one command per line and answers one line,
 * "ok" (maybe followed by data) or "error MESSAGE". SOCKET is a socket's
 * file name (vm3.qmp), its path, or * for all of them.
 *   mode SOCKET MODE       change behaviour from the next command on; MODE
 *                          is normal | delay=MS | hang | garbage |
 *                          disconnect | endless | wrong-id, or a flag:
 *                          no-greeting, refuse-caps, no-balloon,
 *                          anon-balloon, lazy-containers, stuck, chatty,
 *                          balloon-error (once), memsize-error,
 *                          free-page-reporting, deflate-on-oom (the
 *                          balloon's options for qom-get), used=BYTES
 *                          (guest stats: what the guest uses)
 *                          (FLAG=0 clears it); several joined by commas;
 *                          "normal" resets everything
 *   disconnect SOCKET      drop the connected client now
 *   event SOCKET NAME [DATA-JSON]
 *                          send an event (RESET, BALLOON_CHANGE get QEMU's
 *                          data by default)
 *   balloon SOCKET SIZE    what another monitor's `balloon` does: the
 *                          target changes and actual follows (--move-ms)
 *   show SOCKET            ok {"name": ..., "actual": ..., "mode": ...}
 *   quit                   exit as on SIGTERM
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "proto/units.h"
#include "proto/framer.h"
#include "proto/jsontok.h"
#include "tests/lib/fakeqmp.h"

#define CONTROL_MAX_LINE 4096

struct app {
	uv_loop_t *loop;
	struct fakeqmp **srv;
	size_t n;
	FILE *log;
	bool log_dirty;	      /* written since the last flush */
	uv_check_t log_flush; /* flushes the log after each loop turn */
	bool log_flush_open;
	const char *control_path;
	uv_pipe_t control;
	bool control_open;
	struct ctl_conn *conns;
	uv_signal_t sigterm, sigint;
	bool quitting;
};

struct ctl_conn {
	struct app *app;
	struct ctl_conn *next;
	uv_pipe_t pipe;
	struct framer framer;
	bool closing;
};

struct ctl_write {
	uv_write_t req;
	struct ctl_conn *conn;
	bool quit_after; /* "quit": shut down once "ok" is out */
	char bytes[];
};

static void usage(FILE *out)
{
	fputs("usage: fake-qmp --dir DIR --count N [--prefix NAME] "
	      "[--socket PATH]...\n"
	      "                [--mem BYTES] [--move-ms MS] [--log FILE]\n"
	      "                [--control PATH] [--mode MODE]\n"
	      "\n"
	      "Serve fake QEMU monitors (QMP) on DIR/NAME0.qmp .. "
	      "DIR/NAME<N-1>.qmp and on\n"
	      "every --socket PATH, in one process, for tests and "
	      "benchmarks.\n"
	      "\n"
	      "  --dir DIR        where to create the numbered sockets\n"
	      "  --count N        how many numbered sockets (default 0)\n"
	      "  --prefix NAME    their name prefix (default vm)\n"
	      "  --socket PATH    one more socket (repeatable)\n"
	      "  --mem BYTES      guest RAM, suffix K, M or G allowed "
	      "(default 1G)\n"
	      "  --move-ms MS     time for actual to reach a balloon target "
	      "(default 100)\n"
	      "  --log FILE       log every command as a JSON line\n"
	      "  --control PATH   control socket (line commands, see below)\n"
	      "  --mode MODE      initial mode of every socket\n"
	      "\n"
	      "Control commands (one per line; answer \"ok ...\" or \"error "
	      "...\"; SOCKET is\n"
	      "a socket's file name, its path, or * for all):\n"
	      "  mode SOCKET MODE   normal | delay=MS | hang | garbage | "
	      "disconnect |\n"
	      "                     endless | wrong-id | no-greeting | "
	      "refuse-caps |\n"
	      "                     no-balloon | anon-balloon | "
	      "lazy-containers | stuck |\n"
	      "                     chatty, balloon-error (the next balloon "
	      "fails, once),\n"
	      "                     memsize-error, free-page-reporting, "
	      "deflate-on-oom,\n"
	      "                     used=BYTES (guest stats: what it uses)\n"
	      "                     (FLAG=0 clears a "
	      "flag; join with "
	      "commas)\n"
	      "  disconnect SOCKET  drop its client now\n"
	      "  event SOCKET NAME [DATA-JSON]   send an event, e.g. RESET\n"
	      "  balloon SOCKET SIZE  set its target as another monitor "
	      "would\n"
	      "  show SOCKET        its state as JSON\n"
	      "  quit               exit (as on SIGTERM)\n"
	      "\n"
	      "Ready once the control socket (else the last QMP socket) "
	      "exists.\n",
	      out);
}

/* ---- logging ---- */

/* len bytes of JSON text as a tree (NULL if they are not JSON). */
static json_object *parse_text(const char *text, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o =
	    tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
	json_tokener_free(tok);
	return o;
}

/* The log is written through stdio's buffer and flushed once the loop has
 * handled what it read (log_flush_cb), not after every command: a burst to
 * 1,000 guests is one write instead of 1,000. Each line is whole and
 * carries the time its command arrived (t_ns, taken on arrival), so what
 * a reader sees once the fake is idle is the same log, line for line.
 * The line is printed directly rather than built as a json-c tree and
 * formatted: only the arguments are formatted by json-c, and the bytes
 * are the same as before. */
static void log_command(struct fakeqmp *s, const struct fakeqmp_cmd *cmd,
			void *data)
{
	struct app *app = data;
	if (!app->log)
		return;
	const char *name = fakeqmp_name(s);
	/* The arguments as json-c prints them, or their text as it came (a
	 * `balloon` read by its text: the same bytes). */
	size_t args_len = 2;
	const char *args = "{}";
	if (cmd->arguments_text) {
		args = cmd->arguments_text;
		args_len = cmd->arguments_len;
	} else if (cmd->arguments) {
		args = json_object_to_json_string_length(
		    cmd->arguments,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		    &args_len);
	}
	if (fakeqmp_json_plain(name) && fakeqmp_json_plain(cmd->execute)) {
		/* The bytes fprintf's "{\"t_ns\":%" PRIu64 ",\"socket\":\"%s\",
		 * \"execute\":\"%s\",\"arguments\":%s}\n" gave, in pieces
		 * (fprintf's format was most of a burst's logging). */
		char num[24],
		    *d = bd_decimal(num + sizeof(num) - 1, (int64_t)cmd->t_ns);
		num[sizeof(num) - 1] = '\0';
		fputs("{\"t_ns\":", app->log);
		fputs(d, app->log);
		fputs(",\"socket\":\"", app->log);
		fputs(name, app->log);
		fputs("\",\"execute\":\"", app->log);
		fputs(cmd->execute, app->log);
		fputs("\",\"arguments\":", app->log);
		fwrite(args, 1, args_len, app->log);
		fputs("}\n", app->log);
	} else {
		json_object *o = json_object_new_object();
		json_object_object_add(
		    o, "t_ns", json_object_new_int64((int64_t)cmd->t_ns));
		json_object_object_add(o, "socket",
				       json_object_new_string(name));
		json_object_object_add(o, "execute",
				       json_object_new_string(cmd->execute));
		json_object_object_add(o, "arguments",
				       cmd->arguments
					   ? json_object_get(cmd->arguments)
					   : parse_text(args, args_len));
		fprintf(app->log, "%s\n",
			json_object_to_json_string_ext(
			    o, JSON_C_TO_STRING_PLAIN |
				   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	}
	app->log_dirty = true;
}

static void log_flush_cb(uv_check_t *h)
{
	struct app *app = h->data;
	if (app->log_dirty) {
		fflush(app->log);
		app->log_dirty = false;
	}
}

/* ---- shutdown ---- */

static void ctl_conn_closed(uv_handle_t *h)
{
	struct ctl_conn *cc = h->data;
	struct app *app = cc->app;
	for (struct ctl_conn **pp = &app->conns; *pp; pp = &(*pp)->next) {
		if (*pp == cc) {
			*pp = cc->next;
			break;
		}
	}
	framer_free(&cc->framer);
	free(cc);
}

static void ctl_conn_close(struct ctl_conn *cc)
{
	if (cc->closing)
		return;
	cc->closing = true;
	uv_close((uv_handle_t *)&cc->pipe, ctl_conn_closed);
}

static void app_quit(struct app *app)
{
	if (app->quitting)
		return;
	app->quitting = true;
	for (size_t i = 0; i < app->n; i++)
		fakeqmp_close(app->srv[i]);
	if (app->control_open) {
		uv_close((uv_handle_t *)&app->control, NULL);
		unlink(app->control_path);
	}
	for (struct ctl_conn *cc = app->conns; cc; cc = cc->next)
		ctl_conn_close(cc);
	uv_close((uv_handle_t *)&app->sigterm, NULL);
	uv_close((uv_handle_t *)&app->sigint, NULL);
	if (app->log_flush_open) {
		log_flush_cb(&app->log_flush);
		uv_close((uv_handle_t *)&app->log_flush, NULL);
		app->log_flush_open = false;
	}
}

static void signal_cb(uv_signal_t *h, int signum)
{
	app_quit(h->data);
}

/* ---- control protocol ---- */

static void ctl_write_cb(uv_write_t *req, int status)
{
	struct ctl_write *w = (struct ctl_write *)req;
	struct app *app = w->conn->app;
	bool quit = w->quit_after;
	free(w);
	if (quit)
		app_quit(app);
}

static void ctl_reply(struct ctl_conn *cc, bool quit_after, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));

static void ctl_reply(struct ctl_conn *cc, bool quit_after, const char *fmt,
		      ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = NULL;
	int len = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	struct ctl_write *w = malloc(sizeof(*w) + (size_t)len + 1);
	if (!w) {
		free(text);
		return;
	}
	w->conn = cc;
	w->quit_after = quit_after;
	memcpy(w->bytes, text, (size_t)len);
	w->bytes[len] = '\n';
	free(text);
	uv_buf_t buf = uv_buf_init(w->bytes, (unsigned)len + 1);
	if (cc->closing || uv_write(&w->req, (uv_stream_t *)&cc->pipe, &buf, 1,
				    ctl_write_cb)) {
		free(w);
		if (quit_after)
			app_quit(cc->app);
	}
}

/* Does server s answer to the name given on the control socket? */
static bool matches(struct fakeqmp *s, const char *name)
{
	return strcmp(name, "*") == 0 || strcmp(name, fakeqmp_name(s)) == 0 ||
	       strcmp(name, fakeqmp_path(s)) == 0;
}

static int ctl_mode(struct app *app, const char *name, const char *mode)
{
	/* Whether a mode parses does not depend on the socket, so the first
	 * match fails before anything changed: all or nothing. */
	size_t hits = 0;
	for (size_t i = 0; i < app->n; i++) {
		if (!matches(app->srv[i], name))
			continue;
		if (fakeqmp_set_mode(app->srv[i], mode))
			return -EINVAL;
		hits++;
	}
	return hits ? 0 : -ENOENT;
}

static void ctl_command(struct ctl_conn *cc, char *line)
{
	struct app *app = cc->app;
	char *save = NULL;
	char *verb = strtok_r(line, " \t", &save);
	char *name = verb ? strtok_r(NULL, " \t", &save) : NULL;
	size_t hits = 0;

	if (!verb) {
		ctl_reply(cc, false, "error empty command");
		return;
	}
	if (strcmp(verb, "quit") == 0) {
		ctl_reply(cc, true, "ok");
		return;
	}
	if (!name) {
		ctl_reply(cc, false, "error usage: %s SOCKET ...", verb);
		return;
	}
	if (strcmp(verb, "mode") == 0) {
		char *mode = strtok_r(NULL, " \t", &save);
		int rc = mode ? ctl_mode(app, name, mode) : -EINVAL;
		if (rc == -ENOENT)
			ctl_reply(cc, false, "error no socket %s", name);
		else if (rc)
			ctl_reply(cc, false, "error bad mode '%s'",
				  mode ? mode : "");
		else
			ctl_reply(cc, false, "ok");
		return;
	}
	if (strcmp(verb, "disconnect") == 0) {
		for (size_t i = 0; i < app->n; i++) {
			if (matches(app->srv[i], name)) {
				fakeqmp_disconnect(app->srv[i]);
				hits++;
			}
		}
		if (hits)
			ctl_reply(cc, false, "ok");
		else
			ctl_reply(cc, false, "error no socket %s", name);
		return;
	}
	if (strcmp(verb, "event") == 0) {
		char *ev = strtok_r(NULL, " \t", &save);
		char *data = save && *save ? save : NULL;
		int rc = 0, sent = 0;
		if (!ev) {
			ctl_reply(cc, false,
				  "error usage: event SOCKET NAME [DATA-JSON]");
			return;
		}
		for (size_t i = 0; i < app->n; i++) {
			if (!matches(app->srv[i], name))
				continue;
			hits++;
			int r = fakeqmp_send_event(app->srv[i], ev, data);
			if (r == 0)
				sent++;
			else if (r != -ENOTCONN || !rc)
				rc = r;
		}
		if (!hits)
			ctl_reply(cc, false, "error no socket %s", name);
		else if (rc == -EINVAL)
			ctl_reply(cc, false,
				  "error DATA-JSON must be an object");
		else if (!sent)
			ctl_reply(cc, false,
				  "error no client has negotiated on %s", name);
		else
			ctl_reply(cc, false, "ok %d", sent);
		return;
	}
	if (strcmp(verb, "balloon") == 0) {
		char *arg = strtok_r(NULL, " \t", &save);
		uint64_t bytes = 0;
		if (!arg || bd_parse_size(arg, &bytes)) {
			ctl_reply(cc, false,
				  "error usage: balloon SOCKET SIZE");
			return;
		}
		int rc = 0;
		for (size_t i = 0; i < app->n; i++) {
			if (!matches(app->srv[i], name))
				continue;
			hits++;
			if (fakeqmp_balloon(app->srv[i], bytes))
				rc = -EINVAL;
		}
		if (!hits)
			ctl_reply(cc, false, "error no socket %s", name);
		else if (rc)
			ctl_reply(cc, false, "error %s is 0 or above RAM", arg);
		else
			ctl_reply(cc, false, "ok");
		return;
	}
	if (strcmp(verb, "show") == 0) {
		json_object *all = json_object_new_array();
		for (size_t i = 0; i < app->n; i++)
			if (matches(app->srv[i], name))
				json_object_array_add(
				    all, fakeqmp_status(app->srv[i]));
		size_t n = json_object_array_length(all);
		if (n == 0)
			ctl_reply(cc, false, "error no socket %s", name);
		else
			ctl_reply(cc, false, "ok %s",
				  json_object_to_json_string_ext(
				      n == 1 && strcmp(name, "*")
					  ? json_object_array_get_idx(all, 0)
					  : all,
				      JSON_C_TO_STRING_PLAIN |
					  JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(all);
		return;
	}
	ctl_reply(cc, false, "error unknown command '%s'", verb);
}

static int ctl_line(char *line, size_t len, void *data)
{
	struct ctl_conn *cc = data;
	ctl_command(cc, line);
	return cc->closing || cc->app->quitting ? 1 : 0;
}

static char ctl_buf[CONTROL_MAX_LINE];

static void ctl_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	*buf = uv_buf_init(ctl_buf, sizeof(ctl_buf));
}

static void ctl_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct ctl_conn *cc = st->data;
	if (n == 0 || cc->closing)
		return;
	if (n < 0) {
		ctl_conn_close(cc);
		return;
	}
	int rc = framer_feed(&cc->framer, buf->base, (size_t)n, ctl_line, cc);
	if (rc == -EMSGSIZE) {
		ctl_reply(cc, false, "error line too long");
		ctl_conn_close(cc);
	} else if (rc < 0) {
		ctl_conn_close(cc);
	}
}

static void ctl_connection_cb(uv_stream_t *listener, int status)
{
	struct app *app = listener->data;
	if (status < 0 || app->quitting)
		return;
	struct ctl_conn *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return;
	cc->app = app;
	framer_init(&cc->framer, CONTROL_MAX_LINE);
	uv_pipe_init(app->loop, &cc->pipe, 0);
	cc->pipe.data = cc;
	cc->next = app->conns;
	app->conns = cc;
	if (uv_accept(listener, (uv_stream_t *)&cc->pipe) ||
	    uv_read_start((uv_stream_t *)&cc->pipe, ctl_alloc_cb, ctl_read_cb))
		ctl_conn_close(cc);
}

/* ---- setup ---- */

/* Each socket needs a descriptor for listening and one per client: ask
 * for as many as the hard limit allows. */
static void raise_fd_limit(size_t sockets)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < 2 * sockets + 32)
		fprintf(stderr,
			"fake-qmp: warning: %zu sockets but only %llu file "
			"descriptors\n",
			sockets, (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"count", required_argument, NULL, 'n'},
	    {"prefix", required_argument, NULL, 'p'},
	    {"socket", required_argument, NULL, 's'},
	    {"mem", required_argument, NULL, 'm'},
	    {"move-ms", required_argument, NULL, 'M'},
	    {"log", required_argument, NULL, 'l'},
	    {"control", required_argument, NULL, 'c'},
	    {"mode", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *dir = NULL, *prefix = "vm", *log_path = NULL, *mode = NULL;
	unsigned long count = 0;
	const char **extra = calloc((size_t)argc, sizeof(*extra));
	size_t n_extra = 0;
	struct fakeqmp_config cfg = FAKEQMP_CONFIG_DEFAULT;
	struct app app = {0};
	uv_loop_t loop;
	char *end;
	int o, rc = 1;

	cfg.ram_bytes = 1 << 30;
	cfg.move_ms = 100;
	cfg.record = false; /* a long run must not grow */
	if (!extra)
		return 1;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			count = strtoul(optarg, &end, 10);
			if (*end || *optarg == '-' || count > 100000) {
				fprintf(stderr, "fake-qmp: bad --count '%s'\n",
					optarg);
				goto out;
			}
			break;
		case 'p':
			prefix = optarg;
			break;
		case 's':
			extra[n_extra++] = optarg;
			break;
		case 'm':
			if (bd_parse_size(optarg, &cfg.ram_bytes)) {
				fprintf(stderr, "fake-qmp: bad --mem '%s'\n",
					optarg);
				goto out;
			}
			break;
		case 'M':
			cfg.move_ms = strtoull(optarg, &end, 10);
			if (*end || *optarg == '-') {
				fprintf(stderr,
					"fake-qmp: bad --move-ms '%s'\n",
					optarg);
				goto out;
			}
			break;
		case 'l':
			log_path = optarg;
			break;
		case 'c':
			app.control_path = optarg;
			break;
		case 'o':
			mode = optarg;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			rc = 2;
			goto out;
		}
	}
	if (optind < argc || (count && !dir) || count + n_extra == 0) {
		usage(stderr);
		rc = 2;
		goto out;
	}

	/* A client that vanishes mid-write must not kill every fake. */
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(count + n_extra);
	if (log_path) {
		app.log = fopen(log_path, "a");
		if (!app.log) {
			perror(log_path);
			goto out;
		}
	}
	uv_loop_init(&loop);
	app.loop = &loop;
	app.srv = calloc(count + n_extra, sizeof(*app.srv));
	if (!app.srv)
		goto out;
	cfg.command_cb = log_command;
	cfg.data = &app;
	for (size_t i = 0; i < count + n_extra; i++) {
		char path[4096];
		if (i < count)
			snprintf(path, sizeof(path), "%s/%s%zu.qmp", dir,
				 prefix, i);
		else
			snprintf(path, sizeof(path), "%s", extra[i - count]);
		cfg.path = path;
		int r = fakeqmp_new(&loop, &cfg, &app.srv[app.n]);
		if (r) {
			fprintf(stderr, "fake-qmp: %s: %s\n", path,
				uv_strerror(r));
			break;
		}
		if (mode && fakeqmp_set_mode(app.srv[app.n], mode)) {
			fprintf(stderr, "fake-qmp: bad --mode '%s'\n", mode);
			app.n++;
			break;
		}
		app.n++;
	}
	if (app.log) {
		uv_check_init(&loop, &app.log_flush);
		app.log_flush.data = &app;
		uv_check_start(&app.log_flush, log_flush_cb);
		app.log_flush_open = true;
	}
	uv_signal_init(&loop, &app.sigterm);
	uv_signal_init(&loop, &app.sigint);
	app.sigterm.data = app.sigint.data = &app;
	uv_signal_start(&app.sigterm, signal_cb, SIGTERM);
	uv_signal_start(&app.sigint, signal_cb, SIGINT);

	bool ok = app.n == count + n_extra;
	if (ok && app.control_path) {
		uv_pipe_init(&loop, &app.control, 0);
		app.control.data = &app;
		app.control_open = true;
		unlink(app.control_path);
		int r = uv_pipe_bind(&app.control, app.control_path);
		if (r == 0)
			r = uv_listen((uv_stream_t *)&app.control, 16,
				      ctl_connection_cb);
		if (r) {
			fprintf(stderr, "fake-qmp: %s: %s\n", app.control_path,
				uv_strerror(r));
			ok = false;
		}
	}
	if (ok)
		rc = 0;
	else
		app_quit(&app);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop)) {
		fprintf(stderr, "fake-qmp: handles left open at exit\n");
		rc = 1;
	}
out:
	if (app.log)
		fclose(app.log);
	free(app.srv);
	free(extra);
	return rc;
}
