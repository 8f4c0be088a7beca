/*
 * main.c: balloond's command line, start-up, signals, systemd and shutdown.
 */
#include "server.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "proto/fileio.h"
#include "proto/proto.h"
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* Command-line values, applied over the config file at start and after
 * every reload. */
struct overrides {
	const char *control_socket, *state_dir, *proc_root, *sys_root;
	const char *log_level;
	bool dry_run;
};
static struct overrides ov;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: balloond [OPTIONS]\n"
	    "\n"
	    "Sets virtio-balloon targets of QEMU/KVM guests over QMP.\n"
	    "\n"
	    "  -c, --config FILE          config file (default %s;\n"
	    "                             a missing default file is fine)\n"
	    "  -s, --control-socket PATH  control socket (default %s)\n"
	    "  -d, --state-dir DIR        registrations and spool (default "
	    "%s)\n"
	    "      --proc-root DIR        read DIR in place of /proc\n"
	    "      --sys-root DIR         read DIR in place of /sys\n"
	    "  -n, --dry-run              decide and log, send no balloon "
	    "command\n"
	    "  -f, --foreground           log to stderr instead of the "
	    "journal\n"
	    "  -l, --log-level LEVEL      error, warning, notice, info "
	    "(default), debug\n"
	    "  -h, --help                 show this help\n"
	    "  -V, --version              show the version\n"
	    "\n"
	    "balloond never forks; run it under systemd (Type=notify) or a\n"
	    "supervisor. Command-line options override the config file.\n"
	    "\n"
	    "Exit status: 0 after SIGTERM/SIGINT, 1 on a start-up error\n"
	    "(bad config, socket in use), 2 on a usage error, 3 after\n"
	    "SIGTERM/SIGINT when some guests did not get their max back\n"
	    "within restore_timeout_ms (the log names them).\n",
	    BALLOOND_DEFAULT_CONFIG, BALLOOND_DEFAULT_SOCKET,
	    BALLOOND_DEFAULT_STATE_DIR);
}

static int set_path(char *dst, size_t size, const char *opt, const char *v)
{
	if (v[0] != '/' || strlen(v) >= size) {
		fprintf(stderr,
			"balloond: %s needs an absolute path shorter "
			"than %zu characters, not '%s'\n",
			opt, size, v);
		return -EINVAL;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int apply_overrides(struct bd_conf *c)
{
	if ((ov.control_socket &&
	     set_path(c->control_socket, sizeof(c->control_socket),
		      "--control-socket", ov.control_socket)) ||
	    (ov.state_dir && set_path(c->state_dir, sizeof(c->state_dir),
				      "--state-dir", ov.state_dir)) ||
	    (ov.proc_root && set_path(c->proc_root, sizeof(c->proc_root),
				      "--proc-root", ov.proc_root)) ||
	    (ov.sys_root && set_path(c->sys_root, sizeof(c->sys_root),
				     "--sys-root", ov.sys_root)))
		return -EINVAL;
	if (ov.log_level && bd_log_parse_level(ov.log_level, &c->log_level)) {
		fprintf(stderr,
			"balloond: --log-level: '%s' is not one of "
			"error, warning, notice, info, debug\n",
			ov.log_level);
		return -EINVAL;
	}
	if (ov.dry_run)
		c->dry_run = true;
	return 0;
}

static int load_conf(struct bd *bd, struct bd_conf *c, char *msg, size_t len)
{
	bd_conf_defaults(c);
	int rc = bd_conf_load(c, bd->conf_path, bd->conf_must_exist, msg, len);
	if (rc)
		return rc;
	if (apply_overrides(c)) {
		snprintf(msg, len, "bad command-line option");
		return -EINVAL;
	}
	return 0;
}

/* ---- sources ---- */

static void sources_start(struct bd *bd)
{
	for (size_t i = 0; i < bd->n_sources; i++) {
		struct bd_source *s = bd->sources[i];
		int rc = s->ops->start(s);
		s->running = rc == 0;
		if (rc)
			bd_err("source %s: %s", s->ops->name, strerror(-rc));
	}
}

static void sources_stop(struct bd *bd)
{
	for (size_t i = 0; i < bd->n_sources; i++) {
		struct bd_source *s = bd->sources[i];
		if (s->running)
			s->ops->stop(s);
		s->running = false;
	}
}

static void sources_close(struct bd *bd)
{
	sources_stop(bd);
	for (size_t i = 0; i < bd->n_sources; i++)
		bd->sources[i]->ops->close(bd->sources[i], NULL);
	bd->n_sources = 0;
}

/* SIGHUP and `balloonctl reload`. Paths that need a restart to change
 * (socket, state dir) keep their old values, with a warning. */
int bd_reload(struct bd *bd, char *msg, size_t msg_len)
{
	struct bd_conf c;
	int rc = load_conf(bd, &c, msg, msg_len);
	if (rc) {
		bd_err("reload: %s (keeping the old config)", msg);
		return rc;
	}
	if (strcmp(c.control_socket, bd->conf.control_socket) ||
	    strcmp(c.state_dir, bd->conf.state_dir))
		bd_warn("reload: control_socket and state_dir change only on "
			"restart");
	memcpy(c.control_socket, bd->conf.control_socket,
	       sizeof(c.control_socket));
	memcpy(c.state_dir, bd->conf.state_dir, sizeof(c.state_dir));
	/* Sources copy what they need from the config when they start: stop
	 * them, swap the config, start them again. */
	sources_stop(bd);
	bd->conf = c;
	bd_log_setup(c.log_level, bd->foreground);
	bd_link_reload(bd);
	bd_control_reload(bd);
	sources_start(bd);
	bd_notice("configuration reloaded from %s", bd->conf_path);
	bd_emit(bd, "reload", NULL, NULL);
	bd_replan(bd);
	return 0;
}

/* ---- shutdown ---- */

static void close_if_active(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void finish_shutdown(struct bd *bd)
{
	uv_timer_stop(&bd->shutdown_timer);
	bd->idle_cb = NULL;
	bd_guest_foreach (g, bd)
		if (!g->removed)
			bd_guest_remove(g);
	bd_methods_close(bd);
	sources_close(bd);
	bd_control_stop(bd);
	bd_spool_close(bd);
	bd_state_close(bd);
	bd_plan_close(bd);
	bd_exec_close(bd);
	bd_metrics_close(bd);
	bd_memtrim_close(bd);
	close_if_active((uv_handle_t *)&bd->watchdog_timer);
	close_if_active((uv_handle_t *)&bd->shutdown_timer);
	close_if_active((uv_handle_t *)&bd->sig_term);
	close_if_active((uv_handle_t *)&bd->sig_int);
	close_if_active((uv_handle_t *)&bd->sig_hup);
}

/* The exit status of a stop that left guests below their max (balloond(8),
 * EXIT STATUS). */
#define EXIT_NOT_RESTORED 3

/* During shutdown: exit once every guest got its max back. */
static void shutdown_progress(struct bd *bd)
{
	if (bd->shutting_down && bd_exec_unrestored(bd, NULL, 0) == 0) {
		bd_notice("every guest restored; exiting");
		finish_shutdown(bd);
	}
}

static void shutdown_timeout_cb(uv_timer_t *t)
{
	struct bd *bd = t->data;
	char names[2048];
	size_t n = bd_exec_unrestored(bd, names, sizeof(names));
	if (n) {
		bd_err("restore to max did not finish within %llu ms; %zu "
		       "guest%s not restored: %s; exiting with status %d",
		       (unsigned long long)bd->conf.restore_timeout_ms, n,
		       n == 1 ? "" : "s", names, EXIT_NOT_RESTORED);
		bd->exit_code = EXIT_NOT_RESTORED;
	} else {
		bd_notice("every guest restored; exiting");
	}
	finish_shutdown(bd);
}

static void begin_shutdown(struct bd *bd, const char *why)
{
	if (bd->shutting_down)
		return;
#ifdef HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1\nSTATUS=restoring guests to max");
#endif
	bd_notice("%s: shutting down", why);
	/* Anything changed in this turn reaches the disk, and its replies
	 * their clients, first. */
	bd_state_flush(bd);
	bd->shutting_down = true;
	bd_methods_close(bd);
	bd_control_stop(bd);
	if (!bd->conf.restore_on_exit || bd->conf.dry_run) {
		finish_shutdown(bd);
		return;
	}
	bd->idle_cb = shutdown_progress;
	/* The ARC cap for every guest at its max, written before they grow
	 * (never 0: that is unbounded). Like the running policy's, it leaves
	 * the high watermark free besides: the ARC gives memory back too
	 * slowly for a grow to wait on it. */
	struct policy_config pc = bd_plan_config(bd);
	if (pc.arc_manage && bd->host.known && bd->host.arc_present) {
		uint64_t guests = pc.high_watermark_bytes;
		bd_guest_foreach (g, bd)
			if (!g->removed)
				guests += g->max_bytes ? g->max_bytes
						       : g->link.actual_bytes;
		struct policy_host h = bd->host;
		/* pc.arc_manage: the ARC's own c_max is saved (arc.c). */
		h.arc_c_max_bytes = bd->arc_c_max_native;
		bd_arc_write(bd, policy_arc_cap(&h, &pc, guests));
	}
	bd_exec_restore_all(bd);
	uv_timer_start(&bd->shutdown_timer, shutdown_timeout_cb,
		       bd->conf.restore_timeout_ms, 0);
	shutdown_progress(bd);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct bd *bd = s->data;
	if (signum == SIGHUP) {
		char msg[512];
		bd_reload(bd, msg, sizeof(msg));
		return;
	}
	begin_shutdown(bd, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- systemd ---- */

static void notify_status(struct bd *bd)
{
#ifdef HAVE_SYSTEMD
	unsigned up = 0;
	bd_guest_foreach (g, bd)
		up += !g->removed && bd_link_up(g);
	sd_notifyf(0, "STATUS=%zu guests, %u QMP links up", bd->n_guests, up);
#endif
}

static void watchdog_cb(uv_timer_t *t)
{
	struct bd *bd = t->data;
#ifdef HAVE_SYSTEMD
	sd_notify(0, "WATCHDOG=1");
#endif
	notify_status(bd);
}

static void start_watchdog(struct bd *bd)
{
	uint64_t interval_ms = 0;
#ifdef HAVE_SYSTEMD
	uint64_t usec = 0;
	/* Ping at half the period systemd expects. */
	if (sd_watchdog_enabled(0, &usec) > 0)
		interval_ms = usec / 2000;
	else if (getenv("NOTIFY_SOCKET"))
		interval_ms = 10000; /* STATUS= only */
#endif
	if (interval_ms)
		uv_timer_start(&bd->watchdog_timer, watchdog_cb, interval_ms,
			       interval_ms);
}

/* ---- start ---- */

static int make_dirs(struct bd *bd)
{
	if (mkdir(bd->conf.state_dir, 0700) < 0 && errno != EEXIST) {
		bd_err("cannot create state dir %s: %s", bd->conf.state_dir,
		       strerror(errno));
		return -errno;
	}
	char sock[BD_PATH_MAX];
	memcpy(sock, bd->conf.control_socket, sizeof(sock));
	const char *dir = dirname(sock);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		bd_err("cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

/* One balloond per state directory: a second one (another instance
 * started by hand, say) must not read or rewrite the first one's journal.
 * The lock lives as long as the process. */
static int lock_state_dir(struct bd *bd)
{
	char path[BD_FILE_PATH_MAX];
	snprintf(path, sizeof(path), "%s/lock", bd->conf.state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		bd_err("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		bd_err("%s: %s", path,
		       e == EWOULDBLOCK ? "another balloond uses this state "
					  "directory"
					: strerror(e));
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	return 0;
}

/* The debug log is one more subscriber of the event stream. */
static bool log_wanted(struct bd *bd, void *arg)
{
	return bd_log_enabled(LOG_DEBUG);
}

static void log_event(struct bd *bd, const struct bd_event *ev, void *arg)
{
	bd_debug("event %s %s", ev->name,
		 json_object_to_json_string_ext(
		     ev->data,
		     JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static struct bd_subscriber log_subscriber = {
    .fn = log_event,
    .wants = log_wanted,
};

/* A save finished: the spool files whose changes it holds go first, then
 * the replies waiting for it leave (or become errors). */
static void persisted_cb(struct bd *bd, uint64_t gen, int err)
{
	bd_spool_saved(bd);
	bd_control_persisted(bd, gen, err);
}

/* A guest's day of peaks is complete: into the journal. */
static void peaks_cb(struct bd_guest *g)
{
	bd_state_peaks(g->bd, g);
}

static int run(struct bd *bd)
{
	int rc;

	/* Every handle exists before anything can fail, so that the error
	 * path can close them all. */
	uv_timer_init(bd->loop, &bd->watchdog_timer);
	bd->watchdog_timer.data = bd;
	uv_timer_init(bd->loop, &bd->shutdown_timer);
	bd->shutdown_timer.data = bd;
	uv_signal_init(bd->loop, &bd->sig_term);
	uv_signal_init(bd->loop, &bd->sig_int);
	uv_signal_init(bd->loop, &bd->sig_hup);
	bd->sig_term.data = bd->sig_int.data = bd->sig_hup.data = bd;
	uv_signal_start(&bd->sig_term, signal_cb, SIGTERM);
	uv_signal_start(&bd->sig_int, signal_cb, SIGINT);
	uv_signal_start(&bd->sig_hup, signal_cb, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	rc = bd_memtrim_start(bd);
	if (rc)
		bd_warn("memory is not trimmed after bursts: %s",
			uv_strerror(rc));
	bd_plan_init(bd);
	bd->persisted_cb = persisted_cb;
	bd->peaks_cb = peaks_cb;
	bd->moved_cb = bd_methods_moved;
	rc = bd_exec_init(bd);
	if (rc)
		return rc;
	rc = bd_state_init(bd);
	if (rc)
		return rc;
	/* The inputs the policy reads, started in this order. */
	static int (*const source_new[])(struct bd *, struct bd_source **) = {
	    bd_stats_source_new,
	    bd_host_source_new,
	    bd_listener_source_new,
	    bd_rest_source_new,
	    /* Not an input: the metrics' outlets, started and reloaded
	     * like one. */
	    bd_metrics_source_new,
	};
	_Static_assert(sizeof(source_new) / sizeof(source_new[0]) <=
			   BD_MAX_SOURCES,
		       "more sources than BD_MAX_SOURCES");
	for (size_t i = 0; i < sizeof(source_new) / sizeof(source_new[0]);
	     i++) {
		rc = source_new[i](bd, &bd->sources[bd->n_sources]);
		if (rc)
			return rc;
		bd->n_sources++;
	}
	bd_events_subscribe(bd, &log_subscriber);
	rc = bd_metrics_init(bd);
	if (rc)
		return rc;

	rc = make_dirs(bd);
	if (rc)
		return rc;
	rc = lock_state_dir(bd);
	if (rc)
		return rc;

	/* Registrations first: the view is rebuilt from disk and from QEMU
	 * itself; nothing is sent to a guest before its actual is read. */
	rc = bd_state_load(bd);
	if (rc && rc != -EINVAL)
		return rc;
	bd_arc_load(bd);
	rc = bd_control_start(bd);
	if (rc)
		return rc;
	bd_guest_foreach (g, bd) {
		int lrc = bd_guest_start(g, NULL, NULL, 0);
		if (lrc)
			bd_err("%s: %s", g->spec.name, qmp_strerror(lrc));
	}
	rc = bd_spool_start(bd);
	if (rc)
		bd_warn("spool: %s", strerror(-rc));
	sources_start(bd);
	start_watchdog(bd);
#ifdef HAVE_SYSTEMD
	sd_notify(0, "READY=1");
#endif
	notify_status(bd);
	bd_notice("balloond %s ready on %s (%zu guests%s)", PACKAGE_VERSION,
		  bd->conf.control_socket, bd->n_guests,
		  bd->conf.dry_run ? ", dry run" : "");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"control-socket", required_argument, NULL, 's'},
	    {"state-dir", required_argument, NULL, 'd'},
	    {"proc-root", required_argument, NULL, 'P'},
	    {"sys-root", required_argument, NULL, 'S'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	static struct bd bd;
	char msg[1024];
	bd.clock = bd_clock_real;
	/* One malloc arena: libuv's worker thread (which saves the state)
	 * would otherwise get one of its own, kept as RSS for good. */
	mallopt(M_ARENA_MAX, 1);
	int o;

	bd.conf_path = BALLOOND_DEFAULT_CONFIG;
	while ((o = getopt_long(argc, argv, "c:s:d:nfl:hV", opts, NULL)) !=
	       -1) {
		switch (o) {
		case 'c':
			bd.conf_path = optarg;
			bd.conf_must_exist = true;
			break;
		case 's':
			ov.control_socket = optarg;
			break;
		case 'd':
			ov.state_dir = optarg;
			break;
		case 'P':
			ov.proc_root = optarg;
			break;
		case 'S':
			ov.sys_root = optarg;
			break;
		case 'n':
			ov.dry_run = true;
			break;
		case 'f':
			bd.foreground = true;
			break;
		case 'l':
			ov.log_level = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("balloond %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "balloond: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	/* One QMP socket per guest: a host with many guests needs more than
	 * the default soft limit of 1024 descriptors. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	if (load_conf(&bd, &bd.conf, msg, sizeof(msg))) {
		fprintf(stderr, "balloond: %s\n", msg);
		return 1;
	}
	bd_log_setup(bd.conf.log_level, bd.foreground);

	uv_loop_t loop;
	uv_loop_init(&loop);
	bd.loop = &loop;
	int rc = run(&bd);
	if (rc) {
		bd_err("start-up failed: %s",
		       rc < 0 && rc > -4096 ? strerror(-rc) : "error");
		bd.exit_code = 1;
		bd.shutting_down = true;
		finish_shutdown(&bd);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	bd_spool_free(&bd);
	free(bd.index);
	if (uv_loop_close(&loop))
		bd_warn("event loop closed with handles still open");
	return bd.exit_code;
}
