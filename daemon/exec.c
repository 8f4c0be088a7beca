/*
 * exec.c: the executor. Owns every guest's QMP link, turns the policy's
 * plan into `balloon` commands (grows before shrinks, one command in
 * flight per guest), tracks what QEMU reports, retries with backoff and
 * re-applies targets after a reconnect or a guest reset.
 *
 * One guest's trouble stays its own: each guest has its own QMP client,
 * timeouts and retry timer; a step of the plan waits for a guest's answer
 * only until that guest's command times out.
 */
#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto.h"
#include "units.h"

#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 30000

static void start_step(struct bd *bd);

static json_object *guest_event(const struct bd_guest *g)
{
	json_object *d = json_object_new_object();
	json_object_object_add(d, "guest",
			       json_object_new_string(g->spec.name));
	return d;
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

/* ---- plan steps ---- */

/* A guest's part in the current step is over (acknowledged, failed, or the
 * guest went away). */
static void action_done(struct bd_guest *g, uint64_t target)
{
	struct bd *bd = g->bd;
	if (g->action_plan != bd->plan_gen || g->action_step != bd->plan_step ||
	    g->action_bytes != target)
		return;
	g->action_plan = 0;
	if (bd->plan_outstanding > 0 && --bd->plan_outstanding == 0) {
		bd->plan_step++;
		start_step(bd);
	}
}

static void send_target(struct bd_guest *g, uint64_t target);

static void retry_cb(uv_timer_t *t)
{
	struct bd_guest *g = t->data;
	bd_replan(g->bd);
}

static void balloon_done(qmp_client *c, int err, void *data)
{
	struct bd_guest *g = data;
	struct bd *bd = g->bd;
	uint64_t target = g->inflight_bytes;
	char sz[32];

	g->inflight_bytes = 0;
	if (g->removed)
		return;

	json_object *ev = guest_event(g);
	add_u64(ev, "target_bytes", target);
	json_object_object_add(
	    ev, "latency_us",
	    json_object_new_int64(
		(int64_t)(uv_hrtime() - g->inflight_since_ns) / 1000));
	if (err) {
		json_object_object_add(
		    ev, "error", json_object_new_string(qmp_strerror(err)));
		snprintf(g->last_error, sizeof(g->last_error), "balloon %s: %s",
			 bd_format_size(target, sz, sizeof(sz)),
			 err == QMP_ERR_COMMAND ? qmp_client_last_error(c)
						: qmp_strerror(err));
		bd_warn("%s: %s", g->spec.name, g->last_error);
		/* A QEMU that stops answering keeps our link "ready" while
		 * every command times out: drop it; the reconnect (with
		 * backoff) then shows whether QEMU is alive. */
		if (err == -ETIMEDOUT && g->qmp)
			qmp_client_reset(g->qmp);
		/* No balloon device: nothing to retry until it reconnects. */
		if (err != QMP_ERR_NO_BALLOON && err != -ECANCELED &&
		    g->link_up) {
			g->retry_ms =
			    g->retry_ms ? g->retry_ms * 2 : RETRY_MIN_MS;
			if (g->retry_ms > RETRY_MAX_MS)
				g->retry_ms = RETRY_MAX_MS;
			uv_timer_start(&g->retry_timer, retry_cb, g->retry_ms,
				       0);
		}
	} else {
		g->set_bytes = target;
		g->retry_ms = 0;
		g->last_error[0] = '\0';
	}
	bd_emit(bd, "command_done", ev);
	action_done(g, target);
	if (g->want_bytes && !g->removed) {
		uint64_t next = g->want_bytes;
		g->want_bytes = 0;
		send_target(g, next);
	}
	if (bd->shutting_down)
		bd_shutdown_progress(bd);
}

/* Send one `balloon` command, or queue it behind the one in flight. */
static void send_target(struct bd_guest *g, uint64_t target)
{
	struct bd *bd = g->bd;
	char a[32], b[32], c[32];

	/* The last line of defence: QEMU ignores a target above RAM, and a
	 * tiny one makes the guest inflate until its kernel panics. */
	if (target < g->min_bytes || target > g->max_bytes || target == 0) {
		bd_err("%s: refusing target %s outside [%s, %s]", g->spec.name,
		       bd_format_size(target, a, sizeof(a)),
		       bd_format_size(g->min_bytes, b, sizeof(b)),
		       bd_format_size(g->max_bytes, c, sizeof(c)));
		action_done(g, target);
		return;
	}
	if (target == g->inflight_bytes) {
		g->want_bytes = 0;
		return; /* already on its way; its reply completes the action */
	}
	if (g->inflight_bytes) {
		g->want_bytes = target;
		return;
	}
	if (bd->conf.dry_run) {
		bd_notice("%s: dry run: would set target %s (actual %s)",
			  g->spec.name, bd_format_size(target, a, sizeof(a)),
			  bd_format_size(g->actual_bytes, b, sizeof(b)));
		bd_guest_note(g, "dry run: would set %s", a);
		g->set_bytes = target;
		action_done(g, target);
		return;
	}

	int rc = qmp_balloon_set(g->qmp, target, balloon_done, g);
	json_object *ev = guest_event(g);
	add_u64(ev, "target_bytes", target);
	add_u64(ev, "actual_bytes", g->actual_bytes);
	json_object_object_add(ev, "direction",
			       json_object_new_string(target >= g->actual_bytes
							  ? "grow"
							  : "shrink"));
	if (rc) {
		json_object_object_add(
		    ev, "error", json_object_new_string(qmp_strerror(rc)));
		bd_emit(bd, "command_failed", ev);
		snprintf(g->last_error, sizeof(g->last_error), "balloon: %s",
			 qmp_strerror(rc));
		action_done(g, target);
		return;
	}
	g->inflight_bytes = target;
	g->inflight_since_ns = uv_hrtime();
	bd_emit(bd, "command", ev);
	bd_guest_note(g, "set target %s (was %s)",
		      bd_format_size(target, a, sizeof(a)),
		      bd_format_size(g->actual_bytes, b, sizeof(b)));
	bd_info("%s: balloon target %s (actual %s)", g->spec.name, a, b);
}

static void start_step(struct bd *bd)
{
	while (bd->plan_step < bd->plan.n_steps) {
		const struct policy_step *st = &bd->plan.steps[bd->plan_step];
		bd->plan_outstanding = 0;
		for (size_t i = st->first; i < st->first + st->count; i++) {
			const struct policy_action *a = &bd->plan.actions[i];
			struct bd_guest *g = bd->plan_guests[a->guest];
			if (!g || g->removed || !g->link_up)
				continue;
			g->action_plan = bd->plan_gen;
			g->action_step = (unsigned)bd->plan_step;
			g->action_bytes = a->target_bytes;
			bd->plan_outstanding++;
		}
		if (bd->plan_outstanding == 0) {
			bd->plan_step++;
			continue;
		}
		/* Count first, send after: a send may complete at once. */
		unsigned gen = bd->plan_gen, step = (unsigned)bd->plan_step;
		for (size_t i = st->first; i < st->first + st->count; i++) {
			const struct policy_action *a = &bd->plan.actions[i];
			struct bd_guest *g = bd->plan_guests[a->guest];
			if (g && g->action_plan == gen &&
			    g->action_step == step)
				send_target(g, a->target_bytes);
			if (bd->plan_gen != gen || bd->plan_step != step)
				return; /* the step finished or was replaced */
		}
		return;
	}
}

/* ---- planning ---- */

/* What the policy is told about one guest. */
static void snapshot_guest(const struct bd *bd, const struct bd_guest *g,
			   struct policy_guest *pg)
{
	*pg = (struct policy_guest){
	    .name = g->spec.name,
	    .max_bytes = g->max_bytes,
	    .min_bytes = g->min_bytes,
	    .replica_target_bytes = g->spec.replica_target_bytes,
	    .pin_bytes = g->spec.pin_bytes,
	    .actual_bytes = g->actual_bytes,
	    .set_bytes = g->set_bytes,
	    .actual_known = g->actual_known,
	    .link_up =
		g->link_up && !uv_is_active((uv_handle_t *)&g->retry_timer),
	    .role = g->role,
	    .cluster_defined = !g->spec.cluster[0] ||
			       bd_conf_cluster(&bd->conf, g->spec.cluster),
	    /* Until the Patroni REST watcher exists, nothing confirms a
	     * replica: every member stays at max (fail-open). */
	    .replica_confirmed = false,
	    .priority = g->spec.priority,
	};
}

struct policy_decision bd_exec_decide(const struct bd_guest *g)
{
	struct policy_guest pg;
	if (!g->max_bytes)
		return (struct policy_decision){0};
	snapshot_guest(g->bd, g, &pg);
	return policy_decide_guest(&pg);
}

static void plan_now(struct bd *bd)
{
	size_t n = 0;
	if (bd->shutting_down)
		return;
	if (bd->plan_cap < bd->n_guests) {
		size_t cap = bd->n_guests * 2;
		void *pg =
		    realloc(bd->plan_guests, cap * sizeof(*bd->plan_guests));
		void *pa = pg ? realloc(bd->plan.actions,
					cap * sizeof(*bd->plan.actions))
			      : NULL;
		if (pg)
			bd->plan_guests = pg;
		if (pa)
			bd->plan.actions = pa;
		if (!pg || !pa) {
			bd_err("out of memory planning for %zu guests",
			       bd->n_guests);
			return;
		}
		bd->plan_cap = cap;
	}

	struct policy_guest *pgs = calloc(bd->n_guests + 1, sizeof(*pgs));
	struct policy_decision *dec = calloc(bd->n_guests + 1, sizeof(*dec));
	if (!pgs || !dec) {
		free(pgs);
		free(dec);
		return;
	}
	for (struct bd_guest *g = bd->guests; g; g = g->next) {
		if (g->removed)
			continue;
		/* Guests without known bounds are not the policy's to move. */
		if (!g->max_bytes || !g->link_up) {
			g->reason = !g->link_up ? "QMP link down"
						: "bounds not known yet";
			continue;
		}
		snapshot_guest(bd, g, &pgs[n]);
		bd->plan_guests[n++] = g;
	}
	bd->plan_n = n;

	struct policy_input in = {
	    .guests = pgs,
	    .n_guests = n,
	    .config = {.shrink_step_bytes = bd->conf.shrink_step_bytes},
	};
	int rc = policy_decide(&in, dec, &bd->plan);
	if (rc) {
		bd_err("policy refused the snapshot: %s", strerror(-rc));
		bd->plan.n_steps = 0;
	} else {
		for (size_t i = 0; i < n; i++) {
			struct bd_guest *g = bd->plan_guests[i];
			g->reason = dec[i].reason;
			if (uv_is_active((uv_handle_t *)&g->retry_timer))
				g->reason = "waiting to retry a failed command";
		}
	}
	free(pgs);
	free(dec);

	bd->plan_gen++;
	if (bd->plan_gen == 0)
		bd->plan_gen = 1; /* 0 means "no plan" in guests */
	bd->plan_step = 0;
	bd->plan_outstanding = 0;
	if (bd->plan.n_actions) {
		json_object *ev = json_object_new_object();
		json_object *acts = json_object_new_array();
		for (size_t s = 0; s < bd->plan.n_steps; s++) {
			const struct policy_step *st = &bd->plan.steps[s];
			for (size_t i = st->first; i < st->first + st->count;
			     i++) {
				const struct policy_action *a =
				    &bd->plan.actions[i];
				const struct bd_guest *g =
				    bd->plan_guests[a->guest];
				json_object *o = guest_event(g);
				add_u64(o, "target_bytes", a->target_bytes);
				add_u64(o, "actual_bytes", g->actual_bytes);
				json_object_object_add(
				    o, "step", json_object_new_int((int)s));
				json_object_object_add(
				    o, "reason",
				    json_object_new_string(g->reason));
				json_object_array_add(acts, o);
			}
		}
		json_object_object_add(ev, "plan",
				       json_object_new_int64(bd->plan_gen));
		json_object_object_add(ev, "actions", acts);
		bd_emit(bd, "plan", ev);
	}
	start_step(bd);
}

static void replan_idle_cb(uv_idle_t *h)
{
	struct bd *bd = h->data;
	uv_idle_stop(h);
	bd->replan_pending = false;
	plan_now(bd);
}

void bd_replan_now(struct bd *bd)
{
	if (!bd->replan_pending)
		return;
	uv_idle_stop(&bd->replan_idle);
	bd->replan_pending = false;
	plan_now(bd);
}

void bd_replan(struct bd *bd)
{
	if (bd->replan_pending || bd->shutting_down)
		return;
	bd->replan_pending = true;
	uv_idle_start(&bd->replan_idle, replan_idle_cb);
}

/* ---- the QMP link ---- */

static void stats_cb(qmp_client *c, int err, const struct qmp_guest_stats *st,
		     void *data)
{
	struct bd_guest *g = data;
	if (g->removed || err)
		return;
	g->stats = *st;
	g->stats_known = true;
}

static void stats_enabled_cb(qmp_client *c, int err, void *data)
{
	struct bd_guest *g = data;
	if (!g->removed && err && err != -ECANCELED)
		bd_debug("%s: cannot enable guest stats: %s", g->spec.name,
			 qmp_strerror(err));
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
	if (g->bd->conf.stats_interval_s)
		qmp_guest_stats_enable(c, path,
				       (unsigned)g->bd->conf.stats_interval_s,
				       stats_enabled_cb, g);
}

static void link_up(struct bd_guest *g)
{
	char a[32];
	g->link_up = true;
	json_object *ev = guest_event(g);
	add_u64(ev, "actual_bytes", g->actual_bytes);
	add_u64(ev, "max_bytes", g->max_bytes);
	json_object_object_add(ev, "link", json_object_new_string("up"));
	bd_emit(g->bd, "link", ev);
	bd_info("%s: QMP link up, actual %s", g->spec.name,
		bd_format_size(g->actual_bytes, a, sizeof(a)));
	bd_guest_note(g, "connected; actual %s", a);
	if (g->pending_conn)
		bd_register_finish(g, NULL, NULL);
	if (!g->removed)
		bd_replan(g->bd);
}

static void query_cb(qmp_client *c, int err, uint64_t bytes, void *data)
{
	struct bd_guest *g = data;
	if (g->removed)
		return;
	if (err && err != QMP_ERR_NO_BALLOON) {
		snprintf(g->last_error, sizeof(g->last_error),
			 "query-balloon: %s", qmp_strerror(err));
		if (err != -ECANCELED && g->qmp)
			qmp_client_reset(c);
		return;
	}
	if (err == QMP_ERR_NO_BALLOON) {
		/* Still connected, but there is nothing to steer. */
		snprintf(g->last_error, sizeof(g->last_error),
			 "the guest has no balloon device");
		if (g->pending_conn)
			bd_register_finish(
			    g, BD_E_UNAVAILABLE,
			    "the guest has no active balloon "
			    "device (add -device virtio-balloon-pci)");
		return;
	}
	g->actual_bytes = bytes;
	g->actual_known = true;
	link_up(g);
	if (g->qmp && !g->removed)
		qmp_balloon_find_path(g->qmp, path_cb, g);
}

static void memsize_cb(qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct bd_guest *g = data;
	char msg[200];
	if (g->removed)
		return;
	uint64_t ram = 0;
	json_object *v;
	if (!r->err && json_object_object_get_ex(r->ret, "base-memory", &v))
		ram = (uint64_t)json_object_get_int64(v);
	if (!r->err && json_object_object_get_ex(r->ret, "plugged-memory", &v))
		ram += (uint64_t)json_object_get_int64(v);
	if (r->err == -ECANCELED || r->err == -ECONNRESET)
		return;

	const char *code = bd_guest_set_bounds(g, ram, msg, sizeof(msg));
	if (!code && !g->max_bytes) {
		code = BD_E_UNAVAILABLE;
		snprintf(msg, sizeof(msg),
			 "QEMU did not report the guest's RAM "
			 "(%s); give --max",
			 r->err ? qmp_strerror(r->err) : "no size");
	}
	if (code) {
		snprintf(g->last_error, sizeof(g->last_error), "%s", msg);
		g->reason = "not managed: bad bounds";
		bd_err("%s: %s", g->spec.name, msg);
		if (g->pending_conn)
			bd_register_finish(g, code, msg);
		return;
	}
	int rc = qmp_balloon_query(c, query_cb, g);
	if (rc)
		qmp_client_reset(c);
}

static void ready_cb(qmp_client *c, void *data)
{
	struct bd_guest *g = data;
	g->actual_known = false;
	g->set_bytes = 0;
	int rc =
	    qmp_execute(c, "query-memory-size-summary", NULL, 0, memsize_cb, g);
	if (rc)
		qmp_client_reset(c);
}

static void disconnect_cb(qmp_client *c, int err, void *data)
{
	struct bd_guest *g = data;
	bool was_up = g->link_up;
	g->link_up = false;
	g->actual_known = false;
	g->set_bytes = 0;
	g->want_bytes = 0;
	g->stats_path[0] = '\0';
	snprintf(g->last_error, sizeof(g->last_error), "QMP: %s",
		 qmp_strerror(err));
	if (was_up) {
		json_object *ev = guest_event(g);
		json_object_object_add(ev, "link",
				       json_object_new_string("down"));
		json_object_object_add(
		    ev, "error", json_object_new_string(qmp_strerror(err)));
		bd_emit(g->bd, "link", ev);
		bd_warn("%s: QMP link down: %s", g->spec.name,
			qmp_strerror(err));
		bd_guest_note(g, "lost QMP link");
		bd_replan(g->bd);
		if (g->bd->shutting_down)
			bd_shutdown_progress(g->bd);
	} else {
		bd_debug("%s: cannot connect to %s: %s", g->spec.name,
			 g->spec.qmp_path, qmp_strerror(err));
	}
}

static void balloon_change_cb(qmp_client *c, uint64_t actual, void *data)
{
	struct bd_guest *g = data;
	g->actual_bytes = actual;
	if (!g->actual_known)
		return; /* not yet read on this link: query-balloon decides */
	json_object *ev = guest_event(g);
	add_u64(ev, "actual_bytes", actual);
	bd_emit(g->bd, "balloon_change", ev);
	bd_replan(g->bd);
}

static void reset_cb(qmp_client *c, void *data)
{
	struct bd_guest *g = data;
	/* QEMU keeps the target across a reset, but actual can stay stale
	 * until the target changes: send it again. */
	g->set_bytes = 0;
	bd_guest_note(g, "guest reset; re-applying its target");
	bd_emit(g->bd, "reset", guest_event(g));
	bd_replan(g->bd);
}

int bd_link_start(struct bd_guest *g)
{
	struct bd *bd = g->bd;
	struct qmp_config cfg = QMP_CONFIG_DEFAULT;
	cfg.socket_path = g->spec.qmp_path;
	cfg.reconnect = true;
	cfg.greeting_timeout_ms = bd->conf.qmp_greeting_timeout_ms;
	cfg.command_timeout_ms = bd->conf.qmp_command_timeout_ms;
	cfg.reconnect_max_ms = bd->conf.qmp_reconnect_max_ms;
	cfg.max_message_bytes = bd->conf.qmp_max_message_bytes;
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

void bd_exec_forget(struct bd_guest *g)
{
	struct bd *bd = g->bd;
	for (size_t i = 0; i < bd->plan_n; i++)
		if (bd->plan_guests[i] == g)
			bd->plan_guests[i] = NULL;
	g->action_bytes = 0;
	if (g->action_plan == bd->plan_gen && g->action_step == bd->plan_step &&
	    g->action_plan && bd->plan_outstanding > 0) {
		g->action_plan = 0;
		if (--bd->plan_outstanding == 0) {
			bd->plan_step++;
			start_step(bd);
		}
	}
}

/* ---- periodic guest stats ---- */

static void stats_timer_cb(uv_timer_t *t)
{
	struct bd *bd = t->data;
	for (struct bd_guest *g = bd->guests; g; g = g->next)
		if (!g->removed && g->link_up && g->stats_path[0])
			qmp_guest_stats_get(g->qmp, g->stats_path, stats_cb, g);
}

void bd_exec_reconfigure(struct bd *bd)
{
	uv_timer_stop(&bd->stats_timer);
	if (bd->conf.stats_interval_s)
		uv_timer_start(&bd->stats_timer, stats_timer_cb,
			       bd->conf.stats_interval_s * 1000,
			       bd->conf.stats_interval_s * 1000);
}

void bd_exec_init(struct bd *bd)
{
	uv_idle_init(bd->loop, &bd->replan_idle);
	bd->replan_idle.data = bd;
	uv_timer_init(bd->loop, &bd->stats_timer);
	bd->stats_timer.data = bd;
	bd_exec_reconfigure(bd);
}

/* ---- shutdown ---- */

void bd_exec_restore_all(struct bd *bd)
{
	bd->plan_gen++; /* forget the running plan */
	for (struct bd_guest *g = bd->guests; g; g = g->next) {
		if (g->removed || !g->link_up || !g->max_bytes)
			continue;
		uv_timer_stop(&g->retry_timer);
		if (g->set_bytes == g->max_bytes && !g->inflight_bytes &&
		    g->actual_bytes == g->max_bytes)
			continue;
		send_target(g, g->max_bytes);
		/* dry run: nothing was sent */
	}
}

bool bd_exec_idle(const struct bd *bd)
{
	for (const struct bd_guest *g = bd->guests; g; g = g->next)
		if (!g->removed && g->link_up &&
		    (g->inflight_bytes || g->want_bytes))
			return false;
	return true;
}
