/*
 * link.c: one guest's QMP link. Connects (the QMP library reconnects with
 * backoff), reads the guest's RAM (its max) and its actual size before
 * anything is sent, finds the balloon's QOM path for guest stats, and
 * follows BALLOON_CHANGE and RESET. Nothing is sent to a guest before
 * query-balloon answered on this link.
 */
#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "actuator.h"
#include "log.h"
#include "proto/proto.h"
#include "proto/units.h"

/* The device's report of the guest's memory changed: whoever waits on
 * it (a pre-promote's wait for at max) looks at once, not at its next
 * tick. */
static void moved(struct bd_guest *g)
{
	if (g->bd->moved_cb)
		g->bd->moved_cb(g);
}

static void link_up(struct bd_guest *g)
{
	char a[32];
	g->link.state = BD_LINK_UP;
	g->link.retry_ms = 0;
	json_object *ev = json_object_new_object();
	json_object_object_add(ev, "guest",
			       json_object_new_string(g->spec.name));
	bd_json_add_u64(ev, "actual_bytes", g->link.actual_bytes);
	bd_json_add_u64(ev, "max_bytes", g->max_bytes);
	json_object_object_add(ev, "link", json_object_new_string("up"));
	bd_emit(g->bd, "link", g, ev);
	bd_info("%s: QMP link up, actual %s", g->spec.name,
		bd_format_size(g->link.actual_bytes, a, sizeof(a)));
	bd_guest_note(g, "connected; actual %s", a);
	bd_guest_ready(g, NULL, NULL);
	if (!g->removed)
		bd_replan(g->bd);
}

/* A balloon's QOM path, shared by the guests it was found for: a
 * thousand copies, allocated one by one as the links come up, would land
 * all over the heap and each keep a page resident. */
struct bd_qom_path {
	struct bd_qom_path *next;
	unsigned refs;
	char path[];
};

/* The shared copy of path (NULL: out of memory). There are as many as
 * distinct paths, a handful: a list serves. */
static const char *path_hold(struct bd *bd, const char *path)
{
	struct bd_qom_path *p;
	for (p = bd->qom_paths; p; p = p->next) {
		if (strcmp(p->path, path) == 0) {
			p->refs++;
			return p->path;
		}
	}
	size_t n = strlen(path) + 1;
	if (!(p = malloc(sizeof(*p) + n)))
		return NULL;
	p->refs = 1;
	memcpy(p->path, path, n);
	p->next = bd->qom_paths;
	bd->qom_paths = p;
	return p->path;
}

void bd_link_drop_path(struct bd_guest *g)
{
	struct bd_qom_path **pp = &g->bd->qom_paths;
	if (!g->stats.path)
		return;
	while (*pp && (*pp)->path != g->stats.path)
		pp = &(*pp)->next;
	g->stats.path = NULL;
	struct bd_qom_path *p = *pp;
	if (p && --p->refs == 0) {
		*pp = p->next;
		free(p);
	}
}

static void path_cb(qmp_client *c, int err, const char *path, void *data)
{
	struct bd_guest *g = data;
	if (g->removed || err) {
		if (!g->removed && err == QMP_ERR_NO_BALLOON)
			bd_guest_set_error(g,
					   "the guest has no balloon device");
		return;
	}
	/* Out of memory, the guest goes without stats until its next link. */
	bd_link_drop_path(g);
	if (path[0])
		g->stats.path = path_hold(g->bd, path);
}

static void first_query_cb(struct bd_guest *g, int err, uint64_t bytes)
{
	if (g->removed)
		return;
	if (err && err != -ENODEV) {
		bd_guest_set_error(g, "query-balloon: %s",
				   g->act.ops->strerror(err));
		if (err != -ECANCELED && err != -ECONNRESET && g->link.qmp)
			qmp_client_reset(g->link.qmp);
		return;
	}
	g->link.no_balloon = err == -ENODEV;
	if (err == -ENODEV) {
		/* Still connected, but there is nothing to steer. */
		bd_guest_set_error(g, "the guest has no balloon device");
		bd_guest_ready(g, BD_E_UNAVAILABLE,
			       "the guest has no active balloon device "
			       "(add -device virtio-balloon-pci)");
		return;
	}
	g->link.actual_bytes = bytes;
	g->link.actual_known = true;
	g->link.moved_wall_us = bd_wall_us(g->bd);
	link_up(g);
	moved(g);
	if (g->link.qmp && !g->removed)
		qmp_balloon_find_path(g->link.qmp, path_cb, g);
}

static void ask_ram(struct bd_guest *g);

void bd_link_retry_due(struct bd_guest *g)
{
	if (!g->removed && g->link.qmp && qmp_client_is_ready(g->link.qmp)) {
		g->link.state = BD_LINK_READING;
		ask_ram(g);
	}
}

/* The RAM query failed with the link still up: say why, and ask again
 * with backoff. A guest whose registration is waiting gets the error at
 * its deadline; a restored or spooled one stays and keeps trying. */
static void ram_failed(struct bd_guest *g, const char *why)
{
	bd_backoff_next(&g->link.retry_ms);
	g->link.state = BD_LINK_RAM_RETRY;
	bd_guest_set_error(
	    g, "cannot read the guest's RAM (%s); retrying in %u ms", why,
	    g->link.retry_ms);
	g->why.reason = "not managed yet: RAM size unknown";
	bd_warn("%s: %s", g->spec.name, bd_guest_error(g));
	bd_guest_wake(g, &g->link.retry_due_ms, g->link.retry_ms);
}

static void memsize_cb(qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct bd_guest *g = data;
	char msg[200];
	if (g->removed || r->err == -ECANCELED || r->err == -ECONNRESET)
		return;
	if (r->err == -ETIMEDOUT) {
		/* A QEMU that stops answering: drop the link; the library
		 * reconnects with backoff and the next link asks again. */
		ram_failed(g, qmp_strerror(r->err));
		bd_guest_wake(g, &g->link.retry_due_ms, 0);
		g->link.state = BD_LINK_READING;
		qmp_client_reset(c);
		return;
	}
	if (r->err) {
		ram_failed(g, r->err == QMP_ERR_COMMAND
				  ? qmp_client_last_error(c)
				  : qmp_strerror(r->err));
		return;
	}
	uint64_t ram = 0;
	json_object *v;
	if (json_object_object_get_ex(r->ret, "base-memory", &v))
		ram = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(r->ret, "plugged-memory", &v))
		ram += (uint64_t)json_object_get_int64(v);
	if (!ram && !g->spec.max_bytes) {
		ram_failed(g, "QEMU reported no size");
		return;
	}
	const char *code = bd_guest_set_bounds(g, ram, msg, sizeof(msg));
	if (code) {
		/* Wrong bounds do not heal by asking again. */
		bd_guest_set_error(g, "%s", msg);
		g->why.reason = "not managed: bad bounds";
		bd_err("%s: %s", g->spec.name, msg);
		bd_guest_ready(g, code, msg);
		return;
	}
	g->link.retry_ms = 0;
	if (g->act.ops->query(g, first_query_cb))
		qmp_client_reset(c);
}

static void ask_ram(struct bd_guest *g)
{
	if (qmp_execute(g->link.qmp, "query-memory-size-summary", NULL, 0,
			memsize_cb, g))
		qmp_client_reset(g->link.qmp);
}

static void ready_cb(qmp_client *c, void *data)
{
	struct bd_guest *g = data;
	g->link.actual_known = false;
	g->link.set_bytes = 0;
	g->stats.interval_set = 0;
	bd_guest_wake(g, &g->link.retry_due_ms, 0);
	g->link.state = BD_LINK_READING;
	bd_exec_link_reset(g);
	ask_ram(g);
}

static void disconnect_cb(qmp_client *c, int err, void *data)
{
	struct bd_guest *g = data;
	bool was_up = bd_link_up(g);
	g->link.state = BD_LINK_DOWN;
	g->link.no_balloon = err == -ENOENT || err == -ECONNREFUSED;
	g->link.actual_known = false;
	g->link.set_bytes = 0;
	g->act.want_bytes = 0;
	bd_link_drop_path(g);
	g->stats.interval_set = 0;
	bd_guest_set_error(g, "QMP: %s", qmp_strerror(err));
	if (was_up) {
		json_object *ev = json_object_new_object();
		json_object_object_add(ev, "guest",
				       json_object_new_string(g->spec.name));
		json_object_object_add(ev, "link",
				       json_object_new_string("down"));
		json_object_object_add(
		    ev, "error", json_object_new_string(qmp_strerror(err)));
		bd_emit(g->bd, "link", g, ev);
		bd_warn("%s: QMP link down: %s", g->spec.name,
			qmp_strerror(err));
		bd_guest_note(g, "lost QMP link");
		bd_exec_moved(g); /* a step waiting for it waits no more */
		bd_replan(g->bd);
	} else {
		bd_debug("%s: cannot connect to %s: %s", g->spec.name,
			 g->spec.qmp_path, qmp_strerror(err));
	}
}

/* QEMU sends BALLOON_CHANGE at most once a second, globally (HACKING.md,
 * "BALLOON_CHANGE is rate-limited"):
 * the last report of a grow can arrive after the next, lower target was
 * sent. A rise within this long of a new target is not the guest's doing.
 * What the rate limit holds back is the newest report, sent at the end of
 * that second: once none came for this long, the last one says where the
 * balloon is. */
#define DEFLATE_SETTLE_US (2 * 1000 * 1000)

void bd_link_acked(struct bd_guest *g, uint64_t target)
{
	/* From here on actual moves from where it is toward target: below
	 * both is not balloond's doing. Where it is is known unless a report
	 * came lately (another may be held back): then the next one says. */
	bool quiet =
	    !g->link.change_at_us ||
	    bd_mono_us(g->bd) - g->link.change_at_us >= DEFLATE_SETTLE_US;
	g->link.floor_bytes = !quiet ? 0
			      : g->link.actual_bytes < target
				  ? g->link.actual_bytes
				  : target;
	g->link.set_bytes = target;
}

/* actual fell below what balloond's own moves explain, by more than the
 * deadband: another monitor (libvirt's, an admin's, Proxmox's) lowered
 * the target. QEMU no longer has set_bytes: forget it, so that the policy
 * sends its target again. Otherwise actual may raise the floor: a grow in
 * progress only rises, a shrink stops at its target. */
static bool moved_behind(struct bd_guest *g, uint64_t actual)
{
	const struct bd_conf *c = &g->bd->conf;
	char a[32], t[32];
	if (!g->link.actual_known || !g->link.set_bytes ||
	    g->act.inflight_bytes)
		return false;
	uint64_t slack = c->deadband_bytes > c->move_tolerance_bytes
			     ? c->deadband_bytes
			     : c->move_tolerance_bytes;
	if (!g->link.floor_bytes || actual + slack >= g->link.floor_bytes) {
		if (actual > g->link.floor_bytes)
			g->link.floor_bytes = actual < g->link.set_bytes
						  ? actual
						  : g->link.set_bytes;
		return false;
	}
	g->link.foreign_moves++;
	bd_warn("%s: the balloon moved to %s, below its target %s: another "
		"monitor changed the target; setting it again",
		g->spec.name, bd_format_size(actual, a, sizeof(a)),
		bd_format_size(g->link.set_bytes, t, sizeof(t)));
	bd_guest_note(g, "moved to %s by another monitor (target was %s)", a,
		      t);
	json_object *ev = json_object_new_object();
	json_object_object_add(ev, "guest",
			       json_object_new_string(g->spec.name));
	bd_json_add_u64(ev, "target_bytes", g->link.set_bytes);
	bd_json_add_u64(ev, "actual_bytes", actual);
	bd_json_add_u64(ev, "previous_actual_bytes", g->link.actual_bytes);
	bd_json_add_u64(ev, "count", g->link.foreign_moves);
	bd_emit(g->bd, "foreign_move", g, ev);
	g->link.set_bytes = 0;
	g->link.floor_bytes = 0;
	return true;
}

/* QEMU reported actual; true when that changes anything. Rising above
 * the target QEMU has, by itself, well after that target was sent, is the
 * driver deflating under OOM (deflate-on-oom): the guest needed it.
 * Falling below it is someone else's doing (moved_behind). */
static bool actual_moved(struct bd_guest *g, uint64_t actual)
{
	bool behind = moved_behind(g, actual);
	if (actual == g->link.actual_bytes)
		return behind;
	if (g->link.actual_known && g->link.set_bytes &&
	    !g->act.inflight_bytes && actual > g->link.actual_bytes &&
	    actual > g->link.set_bytes + g->bd->conf.move_tolerance_bytes &&
	    bd_mono_us(g->bd) - g->act.set_at_us >= DEFLATE_SETTLE_US &&
	    !g->link.deflated) {
		g->link.deflated = true;
		bd_warn("%s: the balloon deflated by itself (actual %llu MiB "
			"above its target %llu MiB): the guest needed memory",
			g->spec.name, (unsigned long long)(actual >> 20),
			(unsigned long long)(g->link.set_bytes >> 20));
		bd_emit(g->bd, "deflated", g, NULL);
	}
	g->link.actual_bytes = actual;
	g->link.moved_wall_us = bd_wall_us(g->bd);
	moved(g);
	return true;
}

/* The actuator's device reported the guest's memory by itself
 * (BALLOON_CHANGE for the balloon). */
static void memory_changed(struct bd_guest *g, uint64_t actual)
{
	actual_moved(g, actual);
	g->link.change_at_us = bd_mono_us(g->bd);
	if (!g->link.actual_known)
		return; /* not yet read on this link: query-balloon decides */
	/* Taken by monitors and the debug log only: built when one is
	 * there (1,000 guests report their moves after a burst). */
	if (bd_event_wanted(g->bd, "balloon_change")) {
		json_object *ev = json_object_new_object();
		json_object_object_add(ev, "guest",
				       json_object_new_string(g->spec.name));
		bd_json_add_u64(ev, "actual_bytes", actual);
		bd_emit(g->bd, "balloon_change", g, ev);
	}
	bd_exec_moved(g);
	bd_replan(g->bd);
}

static void event_cb(qmp_client *c, const char *name, json_object *data,
		     int64_t timestamp_us, void *arg)
{
	struct bd_guest *g = arg;
	uint64_t bytes;
	if (g->act.ops->event && g->act.ops->event(name, data, &bytes))
		memory_changed(g, bytes);
}

static void reset_cb(qmp_client *c, void *data)
{
	struct bd_guest *g = data;
	/* QEMU keeps the target across a reset, but actual can stay stale
	 * until the target changes: send it again. */
	g->link.set_bytes = 0;
	bd_guest_note(g, "guest reset; re-applying its target");
	bd_emit(g->bd, "reset", g, NULL);
	bd_replan(g->bd);
}

static void query_cb(struct bd_guest *g, int err, uint64_t bytes)
{
	g->link.query_inflight = false;
	if (g->removed || err || !g->link.actual_known)
		return;
	if (actual_moved(g, bytes))
		bd_replan(g->bd);
	bd_exec_moved(g);
}

void bd_link_query(struct bd_guest *g)
{
	if (g->link.query_inflight || !bd_link_up(g))
		return;
	if (g->act.ops->query(g, query_cb) == 0)
		g->link.query_inflight = true;
}

/* The client's settings from balloond.conf's [qmp]. */
static struct qmp_config link_config(const struct bd_guest *g)
{
	const struct bd_conf *c = &g->bd->conf;
	struct qmp_config cfg = QMP_CONFIG_DEFAULT;
	cfg.socket_path = g->spec.qmp_path;
	cfg.reconnect = true;
	cfg.greeting_timeout_ms = c->qmp_greeting_timeout_ms;
	cfg.command_timeout_ms = c->qmp_command_timeout_ms;
	cfg.reconnect_max_ms = c->qmp_reconnect_max_ms;
	cfg.max_message_bytes = c->qmp_max_message_bytes;
	return cfg;
}

void bd_link_reload(struct bd *bd)
{
	bd_guest_foreach (g, bd) {
		if (!g->link.qmp)
			continue;
		struct qmp_config cfg = link_config(g);
		int rc = qmp_client_set_config(g->link.qmp, &cfg);
		if (rc)
			bd_err("%s: cannot apply the [qmp] settings: %s",
			       g->spec.name, qmp_strerror(rc));
	}
}

void bd_link_reconnect(struct bd_guest *g)
{
	/* qmp_client_start connects at once a client that waits for its
	 * backoff, and leaves any other alone. */
	if (!g->removed && !bd_link_up(g) && g->link.qmp)
		qmp_client_start(g->link.qmp);
}

int bd_link_start(struct bd_guest *g)
{
	struct bd *bd = g->bd;
	struct qmp_config cfg = link_config(g);
	static const struct qmp_callbacks cbs = {
	    .ready_cb = ready_cb,
	    .disconnect_cb = disconnect_cb,
	    .reset_cb = reset_cb,
	    .event_cb = event_cb,
	};
	int rc = qmp_client_new(bd->loop, &cfg, &cbs, g, &g->link.qmp);
	if (rc == 0)
		rc = qmp_client_start(g->link.qmp);
	return rc;
}
