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

#include "log.h"
#include "proto/proto.h"
#include "proto/units.h"

/* The same backoff as a failed balloon command (exec.c). */
#define RAM_RETRY_MIN_MS 250
#define RAM_RETRY_MAX_MS 30000

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

static void link_up(struct bd_guest *g)
{
	char a[32];
	g->link_up = true;
	g->retry_ms = 0;
	json_object *ev = json_object_new_object();
	json_object_object_add(ev, "guest",
			       json_object_new_string(g->spec.name));
	add_u64(ev, "actual_bytes", g->actual_bytes);
	add_u64(ev, "max_bytes", g->max_bytes);
	json_object_object_add(ev, "link", json_object_new_string("up"));
	bd_emit(g->bd, "link", g, ev);
	bd_info("%s: QMP link up, actual %s", g->spec.name,
		bd_format_size(g->actual_bytes, a, sizeof(a)));
	bd_guest_note(g, "connected; actual %s", a);
	bd_guest_ready(g, NULL, NULL);
	if (!g->removed)
		bd_replan(g->bd);
}

static void path_cb(qmp_client *c, int err, const char *path, void *data)
{
	struct bd_guest *g = data;
	if (g->removed || err) {
		if (!g->removed && err == QMP_ERR_NO_BALLOON)
			snprintf(g->last_error, sizeof(g->last_error),
				 "the guest has no balloon device");
		return;
	}
	snprintf(g->stats_path, sizeof(g->stats_path), "%s", path);
}

static void first_query_cb(qmp_client *c, int err, uint64_t bytes, void *data)
{
	struct bd_guest *g = data;
	if (g->removed)
		return;
	if (err && err != QMP_ERR_NO_BALLOON) {
		snprintf(g->last_error, sizeof(g->last_error),
			 "query-balloon: %s", qmp_strerror(err));
		if (err != -ECANCELED && err != -ECONNRESET && g->qmp)
			qmp_client_reset(c);
		return;
	}
	g->no_balloon = err == QMP_ERR_NO_BALLOON;
	if (err == QMP_ERR_NO_BALLOON) {
		/* Still connected, but there is nothing to steer. */
		snprintf(g->last_error, sizeof(g->last_error),
			 "the guest has no balloon device");
		bd_guest_ready(g, BD_E_UNAVAILABLE,
			       "the guest has no active balloon device "
			       "(add -device virtio-balloon-pci)");
		return;
	}
	g->actual_bytes = bytes;
	g->actual_known = true;
	g->moved_wall_us = bd_wall_us(g->bd);
	link_up(g);
	if (g->qmp && !g->removed)
		qmp_balloon_find_path(g->qmp, path_cb, g);
}

static void ask_ram(struct bd_guest *g);

static void ram_retry_cb(uv_timer_t *t)
{
	struct bd_guest *g = t->data;
	if (!g->removed && g->qmp && qmp_client_is_ready(g->qmp))
		ask_ram(g);
}

/* The RAM query failed with the link still up: say why, and ask again
 * with backoff. A guest whose registration is waiting gets the error at
 * its deadline; a restored or spooled one stays and keeps trying. */
static void ram_failed(struct bd_guest *g, const char *why)
{
	g->retry_ms = g->retry_ms ? g->retry_ms * 2 : RAM_RETRY_MIN_MS;
	if (g->retry_ms > RAM_RETRY_MAX_MS)
		g->retry_ms = RAM_RETRY_MAX_MS;
	snprintf(g->last_error, sizeof(g->last_error),
		 "cannot read the guest's RAM (%s); retrying in %u ms", why,
		 g->retry_ms);
	g->reason = "not managed yet: RAM size unknown";
	bd_warn("%s: %s", g->spec.name, g->last_error);
	uv_timer_start(&g->retry_timer, ram_retry_cb, g->retry_ms, 0);
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
		uv_timer_stop(&g->retry_timer);
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
		snprintf(g->last_error, sizeof(g->last_error), "%s", msg);
		g->reason = "not managed: bad bounds";
		bd_err("%s: %s", g->spec.name, msg);
		bd_guest_ready(g, code, msg);
		return;
	}
	g->retry_ms = 0;
	if (qmp_balloon_query(c, first_query_cb, g))
		qmp_client_reset(c);
}

static void ask_ram(struct bd_guest *g)
{
	if (qmp_execute(g->qmp, "query-memory-size-summary", NULL, 0,
			memsize_cb, g))
		qmp_client_reset(g->qmp);
}

static void ready_cb(qmp_client *c, void *data)
{
	struct bd_guest *g = data;
	g->actual_known = false;
	g->set_bytes = 0;
	g->stats_interval_set = 0;
	uv_timer_stop(&g->retry_timer);
	ask_ram(g);
}

static void disconnect_cb(qmp_client *c, int err, void *data)
{
	struct bd_guest *g = data;
	bool was_up = g->link_up;
	g->link_up = false;
	g->no_balloon = err == -ENOENT || err == -ECONNREFUSED;
	g->actual_known = false;
	g->set_bytes = 0;
	g->want_bytes = 0;
	g->stats_path[0] = '\0';
	g->stats_interval_set = 0;
	snprintf(g->last_error, sizeof(g->last_error), "QMP: %s",
		 qmp_strerror(err));
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
	bool quiet = !g->change_at_us ||
		     bd_mono_us(g->bd) - g->change_at_us >= DEFLATE_SETTLE_US;
	g->floor_bytes = !quiet			    ? 0
			 : g->actual_bytes < target ? g->actual_bytes
						    : target;
	g->set_bytes = target;
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
	if (!g->actual_known || !g->set_bytes || g->inflight_bytes)
		return false;
	uint64_t slack = c->deadband_bytes > c->move_tolerance_bytes
			     ? c->deadband_bytes
			     : c->move_tolerance_bytes;
	if (!g->floor_bytes || actual + slack >= g->floor_bytes) {
		if (actual > g->floor_bytes)
			g->floor_bytes =
			    actual < g->set_bytes ? actual : g->set_bytes;
		return false;
	}
	g->foreign_moves++;
	bd_warn("%s: the balloon moved to %s, below its target %s: another "
		"monitor changed the target; setting it again",
		g->spec.name, bd_format_size(actual, a, sizeof(a)),
		bd_format_size(g->set_bytes, t, sizeof(t)));
	bd_guest_note(g, "moved to %s by another monitor (target was %s)", a,
		      t);
	json_object *ev = json_object_new_object();
	json_object_object_add(ev, "guest",
			       json_object_new_string(g->spec.name));
	add_u64(ev, "target_bytes", g->set_bytes);
	add_u64(ev, "actual_bytes", actual);
	add_u64(ev, "previous_actual_bytes", g->actual_bytes);
	add_u64(ev, "count", g->foreign_moves);
	bd_emit(g->bd, "foreign_move", g, ev);
	g->set_bytes = 0;
	g->floor_bytes = 0;
	return true;
}

/* QEMU reported actual; true when that changes anything. Rising above
 * the target QEMU has, by itself, well after that target was sent, is the
 * driver deflating under OOM (deflate-on-oom): the guest needed it.
 * Falling below it is someone else's doing (moved_behind). */
static bool actual_moved(struct bd_guest *g, uint64_t actual)
{
	bool behind = moved_behind(g, actual);
	if (actual == g->actual_bytes)
		return behind;
	if (g->actual_known && g->set_bytes && !g->inflight_bytes &&
	    actual > g->actual_bytes &&
	    actual > g->set_bytes + g->bd->conf.move_tolerance_bytes &&
	    bd_mono_us(g->bd) - g->set_at_us >= DEFLATE_SETTLE_US &&
	    !g->deflated) {
		g->deflated = true;
		bd_warn("%s: the balloon deflated by itself (actual %llu MiB "
			"above its target %llu MiB): the guest needed memory",
			g->spec.name, (unsigned long long)(actual >> 20),
			(unsigned long long)(g->set_bytes >> 20));
		bd_emit(g->bd, "deflated", g, NULL);
	}
	g->actual_bytes = actual;
	g->moved_wall_us = bd_wall_us(g->bd);
	return true;
}

static void balloon_change_cb(qmp_client *c, uint64_t actual, void *data)
{
	struct bd_guest *g = data;
	actual_moved(g, actual);
	g->change_at_us = bd_mono_us(g->bd);
	if (!g->actual_known)
		return; /* not yet read on this link: query-balloon decides */
	json_object *ev = json_object_new_object();
	json_object_object_add(ev, "guest",
			       json_object_new_string(g->spec.name));
	add_u64(ev, "actual_bytes", actual);
	bd_emit(g->bd, "balloon_change", g, ev);
	bd_exec_moved(g);
	bd_replan(g->bd);
}

static void reset_cb(qmp_client *c, void *data)
{
	struct bd_guest *g = data;
	/* QEMU keeps the target across a reset, but actual can stay stale
	 * until the target changes: send it again. */
	g->set_bytes = 0;
	bd_guest_note(g, "guest reset; re-applying its target");
	bd_emit(g->bd, "reset", g, NULL);
	bd_replan(g->bd);
}

static void query_cb(qmp_client *c, int err, uint64_t bytes, void *data)
{
	struct bd_guest *g = data;
	g->query_inflight = false;
	if (g->removed || err || !g->actual_known)
		return;
	if (actual_moved(g, bytes))
		bd_replan(g->bd);
	bd_exec_moved(g);
}

void bd_link_query(struct bd_guest *g)
{
	if (g->query_inflight || !g->link_up || !g->qmp)
		return;
	if (qmp_balloon_query(g->qmp, query_cb, g) == 0)
		g->query_inflight = true;
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
	for (struct bd_guest *g = bd->guests; g; g = g->next) {
		if (g->removed || !g->qmp)
			continue;
		struct qmp_config cfg = link_config(g);
		int rc = qmp_client_set_config(g->qmp, &cfg);
		if (rc)
			bd_err("%s: cannot apply the [qmp] settings: %s",
			       g->spec.name, qmp_strerror(rc));
	}
}

int bd_link_start(struct bd_guest *g)
{
	struct bd *bd = g->bd;
	struct qmp_config cfg = link_config(g);
	static const struct qmp_callbacks cbs = {
	    .ready_cb = ready_cb,
	    .disconnect_cb = disconnect_cb,
	    .balloon_change_cb = balloon_change_cb,
	    .reset_cb = reset_cb,
	};
	int rc = qmp_client_new(bd->loop, &cfg, &cbs, g, &g->qmp);
	if (rc == 0)
		rc = qmp_client_start(g->qmp);
	return rc;
}
