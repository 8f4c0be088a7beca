/*
 * host.c: the host-memory source. Every host_interval_ms it reads, under
 * conf.proc_root, meminfo, pressure/memory and (with ZFS)
 * spl/kstat/zfs/arcstats into bd->host, and asks for a replan only when
 * something the policy reads moved enough to matter, so that an idle
 * host does not replan every second.
 *
 * Between two readings a PSI trigger catches a spike: "some STALL WINDOW"
 * written to pressure/memory makes the kernel raise POLLPRI on that file
 * descriptor when tasks stalled on memory for STALL us within WINDOW us
 * (Documentation/accounting/psi.rst). The kernel may refuse it (no
 * CAP_SYS_RESOURCE before Linux 6.4; since then a window that is not a
 * multiple of 2 s without it), and a test's fixture is no kernel file;
 * then the source says why, once, and lives on its periodic reads.
 *
 * The files are small and procfs answers from memory, so they are read
 * with plain blocking calls on the loop thread.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "host.h"
#include "log.h"

/* From linux/magic.h, not included for one constant. */
#define PROC_SUPER_MAGIC_ 0x9fa0

/* meminfo is about 1.5 KiB and arcstats about 7 KiB (ZFS 2.1); a larger
 * file is read in part, which the parsers take as it comes. */
#define READ_MAX (64 * 1024)

/* A change the policy cares about: MemAvailable or the ARC moving by
 * less than this is noise (the policy's own deadband is 16 MiB too). */
#define NOISE_BYTES (UINT64_C(16) << 20)

struct host_source;

/* The armed trigger: its own allocation, because a reload closes it
 * (uv_close is asynchronous) while a new one is armed in its place. */
struct psi_trigger {
	uv_poll_t poll;
	int fd;
	struct host_source *s;
};

struct host_source {
	uv_timer_t timer;
	struct psi_trigger *trigger; /* armed, or NULL */
	/* Copied from the config at start. */
	char proc_root[sizeof(((struct bd_conf *)0)->proc_root)];
	uint64_t interval_ms;
	uint64_t stall_us, window_us;

	char trigger_error[160]; /* why there is no trigger; "" when armed */
	bool trigger_noted;	 /* ... and that was logged (once) */
	bool unknown_noted;	 /* "host memory unknown" was logged */
	/* The host as of the last replan this source asked for: changes are
	 * measured from there, so that a slow drift adds up. */
	struct policy_host planned;

	int closes_pending; /* handles still closing */
	bool closing;
	void (*done)(struct bd_source *);
	char buf[READ_MAX];
	struct bd_source src;
};

static int make_path(char *out, size_t size, const char *root, const char *rel)
{
	int n = snprintf(out, size, "%s/%s", root, rel);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Read a whole small file into buf (NUL-terminated, for the logs'
 * sake; the parsers use the length). */
static int read_small(const char *path, char *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	while (n < cap - 1) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return 0;
}

static uint64_t diff_u64(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

/* Whether the policy would see the host differently now. MemAvailable
 * counts when it moved more than 1 % of MemTotal, and at least 16 MiB on a
 * small host: the watermarks sit 5 % of MemTotal apart, so a 1 % lag does
 * not move a decision by much, while the ordinary jitter of a busy host
 * (page cache, slab) stays below it. */
static bool host_moved(const struct policy_host *a, const struct policy_host *b)
{
	if (a->known != b->known)
		return true;
	if (b->known) {
		uint64_t noise = b->mem_total_bytes / 100;
		if (noise < NOISE_BYTES)
			noise = NOISE_BYTES;
		if (a->mem_total_bytes != b->mem_total_bytes ||
		    diff_u64(a->mem_available_bytes, b->mem_available_bytes) >
			noise)
			return true;
	}
	/* The kernel updates the averages every 2 s in steps of 0.01 %; an
	 * idle host stays at 0.00. */
	if (a->psi_some_avg10_x100 != b->psi_some_avg10_x100 ||
	    a->psi_full_avg10_x100 != b->psi_full_avg10_x100)
		return true;
	if (a->arc_present != b->arc_present)
		return true;
	return b->arc_present &&
	       (diff_u64(a->arc_size_bytes, b->arc_size_bytes) > NOISE_BYTES ||
		a->arc_c_min_bytes != b->arc_c_min_bytes ||
		a->arc_c_max_bytes != b->arc_c_max_bytes);
}

/* Read the three files into h (only the fields this source owns). Returns
 * why the host is unknown, or NULL. */
static const char *read_host(struct host_source *s, struct policy_host *h,
			     char *why, size_t why_len)
{
	char path[sizeof(s->proc_root) + 64];
	const char *what = NULL;
	size_t len;
	int rc;

	rc = make_path(path, sizeof(path), s->proc_root, "meminfo");
	if (!rc)
		rc = read_small(path, s->buf, sizeof(s->buf), &len);
	if (rc) {
		snprintf(why, why_len, "cannot read %s: %s", path,
			 strerror(-rc));
	} else {
		rc = bd_host_parse_meminfo(s->buf, len, &h->mem_total_bytes,
					   &h->mem_available_bytes, &what);
		if (rc)
			snprintf(why, why_len, "%s: %s", path, what);
	}
	h->known = rc == 0;
	if (!h->known)
		h->mem_total_bytes = h->mem_available_bytes = 0;

	/* No PSI (a kernel without it, or booted with psi=0) reads as no
	 * pressure; so does a file we cannot make sense of, said in the
	 * debug log only: MemAvailable is the reading that matters. */
	h->psi_some_avg10_x100 = h->psi_full_avg10_x100 = 0;
	rc = make_path(path, sizeof(path), s->proc_root, "pressure/memory");
	if (!rc)
		rc = read_small(path, s->buf, sizeof(s->buf), &len);
	if (!rc) {
		rc = bd_host_parse_psi(s->buf, len, &h->psi_some_avg10_x100,
				       &h->psi_full_avg10_x100, &what);
		if (rc)
			bd_debug("%s: %s", path, what);
	}

	/* No arcstats: no ZFS module loaded, the common case. */
	h->arc_present = false;
	h->arc_size_bytes = h->arc_c_min_bytes = h->arc_c_max_bytes = 0;
	rc = make_path(path, sizeof(path), s->proc_root,
		       "spl/kstat/zfs/arcstats");
	if (!rc)
		rc = read_small(path, s->buf, sizeof(s->buf), &len);
	if (!rc) {
		rc = bd_host_parse_arcstats(s->buf, len, &h->arc_size_bytes,
					    &h->arc_c_min_bytes,
					    &h->arc_c_max_bytes, &what);
		h->arc_present = rc == 0;
		if (rc)
			bd_debug("%s: %s", path, what);
	}
	return h->known ? NULL : why;
}

/* Read now and store into bd->host. force: replan whatever changed (a
 * PSI event). */
static void update(struct host_source *s, bool force)
{
	struct bd *bd = s->src.bd;
	char why[sizeof(bd->host_error)] = "";
	/* Start from bd->host: reclaiming, psi_event and arc_max_set_bytes
	 * belong to the planner and the ARC writer, and pass through. */
	struct policy_host h = bd->host;
	const char *unknown = read_host(s, &h, why, sizeof(why));

	bd->host = h;
	bd->host_read_us = bd_mono_us(bd);
	snprintf(bd->host_error, sizeof(bd->host_error), "%s",
		 unknown ? unknown : s->trigger_error);
	if (unknown && !s->unknown_noted) {
		bd_warn("host memory unknown: %s (no reclaim until it reads "
			"again)",
			unknown);
		s->unknown_noted = true;
	} else if (!unknown && s->unknown_noted) {
		bd_notice("host memory readable again");
		s->unknown_noted = false;
	}
	if (force || host_moved(&s->planned, &h)) {
		s->planned = h;
		bd_replan(bd);
	}
}

static void tick_cb(uv_timer_t *t)
{
	update(t->data, false);
}

/* ---- the PSI trigger ---- */

/* One of the source's handles closed: once all have, after close, the
 * source is freed. */
static void closed_one(struct host_source *s)
{
	if (--s->closes_pending == 0 && s->closing) {
		void (*done)(struct bd_source *) = s->done;
		if (done)
			done(&s->src);
		free(s);
	}
}

static void trigger_closed_cb(uv_handle_t *h)
{
	struct psi_trigger *t = h->data;
	struct host_source *s = t->s;
	/* The fd outlives the handle: libuv must not watch a closed fd. */
	close(t->fd);
	free(t);
	closed_one(s);
}

static void disarm(struct host_source *s)
{
	struct psi_trigger *t = s->trigger;
	if (!t)
		return;
	s->trigger = NULL;
	s->src.bd->psi_trigger_armed = false;
	s->closes_pending++;
	uv_close((uv_handle_t *)&t->poll, trigger_closed_cb);
}

/* No trigger: say why (hint: what to do about it, for the log only),
 * once per source: a reload does not repeat it. */
static void no_trigger(struct host_source *s, const char *hint, const char *fmt,
		       ...) __attribute__((format(printf, 3, 4)));
static void no_trigger(struct host_source *s, const char *hint, const char *fmt,
		       ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->trigger_error, sizeof(s->trigger_error), fmt, ap);
	va_end(ap);
	s->src.bd->psi_trigger_armed = false;
	if (!s->trigger_noted)
		bd_notice("no memory PSI trigger: %s%s; reading every %llu ms "
			  "instead",
			  s->trigger_error, hint,
			  (unsigned long long)s->interval_ms);
	else
		bd_debug("no memory PSI trigger: %s", s->trigger_error);
	s->trigger_noted = true;
}

static void psi_cb(uv_poll_t *p, int status, int events)
{
	struct psi_trigger *t = p->data;
	struct host_source *s = t->s;
	if (status < 0) {
		/* The kernel flags a trigger it gave up on as an error;
		 * polling it again would spin. */
		disarm(s);
		no_trigger(s, "", "polling it failed: %s", uv_strerror(status));
		return;
	}
	if (!(events & UV_PRIORITIZED))
		return;
	bd_debug("memory PSI trigger fired");
	s->src.bd->host.psi_event = true;
	/* On the event stream: how soon the reclaim follows shows there. */
	bd_emit(s->src.bd, "psi", NULL, NULL);
	update(s, true);
}

/* Why a refused trigger write was refused, for the notice. */
static const char *refusal_hint(int err)
{
	switch (err) {
	case EPERM:
		return " (before Linux 6.4 a trigger needs CAP_SYS_RESOURCE: "
		       "add it to the unit's CapabilityBoundingSet= in a "
		       "drop-in)";
	case EINVAL:
		return " (since Linux 6.4, without CAP_SYS_RESOURCE the "
		       "window must be a multiple of 2 s: see psi_window_us)";
	case EOPNOTSUPP:
		return " (PSI is off: psi=0 on the kernel command line)";
	default:
		return "";
	}
}

static void arm(struct host_source *s)
{
	struct bd *bd = s->src.bd;
	char path[sizeof(s->proc_root) + 64];
	if (make_path(path, sizeof(path), s->proc_root, "pressure/memory")) {
		no_trigger(s, "", "proc_root is too long");
		return;
	}
	/* Only procfs's file takes a trigger, and a fixture must never be
	 * written to, nor even opened for writing. procfs files look like
	 * regular files to stat (S_IFREG, size 0), so ask for the file
	 * system instead: before opening, and again on the open file in case
	 * the path changed in between. */
	struct statfs fs;
	if (statfs(path, &fs) == 0 && fs.f_type != PROC_SUPER_MAGIC_) {
		no_trigger(s, "", "%s is not the kernel's (not on procfs)",
			   path);
		return;
	}
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		no_trigger(s, refusal_hint(err),
			   "cannot open %s for writing: %s", path,
			   strerror(err));
		return;
	}
	if (fstatfs(fd, &fs) != 0 || fs.f_type != PROC_SUPER_MAGIC_) {
		close(fd);
		no_trigger(s, "", "%s is not the kernel's (not on procfs)",
			   path);
		return;
	}
	/* With the NUL, as Documentation/accounting/psi.rst writes it. */
	char cmd[64];
	int n = snprintf(cmd, sizeof(cmd), "some %llu %llu",
			 (unsigned long long)s->stall_us,
			 (unsigned long long)s->window_us);
	if (write(fd, cmd, (size_t)n + 1) != n + 1) {
		int err = errno;
		close(fd);
		no_trigger(s, refusal_hint(err),
			   "the kernel refused \"%s\" on %s: %s", cmd, path,
			   strerror(err));
		return;
	}
	struct psi_trigger *t = calloc(1, sizeof(*t));
	if (!t) {
		close(fd);
		no_trigger(s, "", "out of memory");
		return;
	}
	*t = (struct psi_trigger){.fd = fd, .s = s};
	int rc = uv_poll_init(bd->loop, &t->poll, fd);
	if (rc) {
		close(fd);
		free(t);
		no_trigger(s, "", "cannot poll %s: %s", path, uv_strerror(rc));
		return;
	}
	t->poll.data = t;
	s->trigger = t;
	rc = uv_poll_start(&t->poll, UV_PRIORITIZED, psi_cb);
	if (rc) {
		disarm(s);
		no_trigger(s, "", "cannot poll %s: %s", path, uv_strerror(rc));
		return;
	}
	s->trigger_error[0] = '\0';
	bd->psi_trigger_armed = true;
	bd_info("memory PSI trigger armed: %s", cmd);
}

/* ---- the source ---- */

static int host_start(struct bd_source *src)
{
	struct host_source *s = src->state;
	const struct bd_conf *c = &src->bd->conf;
	memcpy(s->proc_root, c->proc_root, sizeof(s->proc_root));
	s->interval_ms = c->host_interval_ms ? c->host_interval_ms : 1000;
	s->stall_us = c->psi_stall_us;
	s->window_us = c->psi_window_us;
	arm(s);
	/* The first reading on the next loop turn, not inside start: a
	 * reload's replan then sees it. */
	return uv_timer_start(&s->timer, tick_cb, 0, s->interval_ms);
}

static void host_stop(struct bd_source *src)
{
	struct host_source *s = src->state;
	uv_timer_stop(&s->timer);
	disarm(s);
}

static void timer_closed_cb(uv_handle_t *h)
{
	closed_one(h->data);
}

static void host_close(struct bd_source *src, void (*done)(struct bd_source *))
{
	struct host_source *s = src->state;
	s->done = done;
	s->closing = true;
	host_stop(src);
	s->closes_pending++;
	uv_close((uv_handle_t *)&s->timer, timer_closed_cb);
}

static const struct bd_source_ops host_ops = {
    .name = "host-memory",
    .start = host_start,
    .stop = host_stop,
    .close = host_close,
};

int bd_host_source_new(struct bd *bd, struct bd_source **out)
{
	struct host_source *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	uv_timer_init(bd->loop, &s->timer);
	s->timer.data = s;
	s->src = (struct bd_source){.ops = &host_ops, .bd = bd, .state = s};
	*out = &s->src;
	return 0;
}
