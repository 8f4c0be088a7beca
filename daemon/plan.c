/*
 * plan.c: planning. Snapshots every guest the policy may move, asks the
 * pure policy for targets and an ordered plan, tells the event stream,
 * and hands the plan to the executor. Replanning is coalesced: any number
 * of changes in one loop turn make one plan.
 */
#include "daemon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int64_t age_ms(int64_t now_us, int64_t then_us)
{
	return then_us ? (now_us - then_us) / 1000 : POLICY_NEVER;
}

/* What the policy is told about one guest. */
static void snapshot_guest(const struct bd *bd, const struct bd_guest *g,
			   int64_t now_us, int64_t wall_us,
			   struct policy_guest *pg)
{
	const struct bd_conf *c = &bd->conf;
	size_t cluster = POLICY_NO_CLUSTER;
	for (size_t k = 0; g->spec.cluster[0] && k < c->n_clusters; k++)
		if (strcmp(c->clusters[k].name, g->spec.cluster) == 0)
			cluster = k;
	/* Stats are fresh when the guest updated them, not long ago (three
	 * polling intervals), and after the balloon last moved: older ones
	 * describe a guest of another size (HACKING.md, "Guest stats lag
	 * behind": two seconds after a shrink they still showed the old
	 * total). */
	int64_t stats_us = g->stats.last.last_update * 1000000;
	bool recent = g->stats.known && g->stats.last.last_update > 0 &&
		      g->stats.last.available_bytes != UINT64_MAX &&
		      c->stats_interval_s &&
		      wall_us - stats_us <=
			  (int64_t)(3 * c->stats_interval_s + 1) * 1000000;
	bool fresh = recent && stats_us >= g->link.moved_wall_us;
	*pg = (struct policy_guest){
	    .name = g->spec.name,
	    .max_bytes = g->max_bytes,
	    .min_bytes = g->min_bytes,
	    .replica_target_bytes = g->spec.replica_target_bytes,
	    .pin_bytes = g->spec.pin_bytes,
	    .priority = g->spec.priority,
	    .actual_bytes = g->link.actual_bytes,
	    .set_bytes = g->link.set_bytes,
	    .actual_known = g->link.actual_known,
	    .link_up = bd_link_up(g) && g->act.state != BD_ACT_BACKOFF,
	    .role = g->spec.cluster[0] ? POLICY_ROLE_UNKNOWN : POLICY_ROLE_NONE,
	    .cluster = cluster,
	    .pushed_role = g->pushed_role,
	    .pushed_age_ms = age_ms(now_us, g->pushed_us),
	    .confirmed_role = g->confirmed_role,
	    .confirmed_streaming = g->confirmed_streaming,
	    .confirmed_age_ms = age_ms(now_us, g->confirmed_us),
	    .role_change_age_ms = age_ms(now_us, g->role_changed_us),
	    .stats_fresh = fresh,
	    .stats_settling = recent && !fresh,
	    .available_bytes = fresh ? g->stats.last.available_bytes : 0,
	    .free_bytes = fresh && g->stats.last.free_bytes != UINT64_MAX
			      ? g->stats.last.free_bytes
			      : 0,
	    .deflated = g->link.deflated,
	};
}

/* The clusters as the policy sees them: what the Patroni REST watcher
 * last found (a cluster it does not watch is unreachable: every member
 * at max, fail-open). */
static void snapshot_clusters(const struct bd *bd, struct policy_cluster *out)
{
	const struct bd_conf *c = &bd->conf;
	int64_t now = bd_mono_us(bd);
	for (size_t k = 0; k < c->n_clusters; k++) {
		out[k] = (struct policy_cluster){
		    .dwell_ms = c->clusters[k].dwell_ms == UINT64_MAX
				    ? c->dwell_ms
				    : c->clusters[k].dwell_ms,
		    .max_age_ms = c->clusters[k].max_age_ms,
		};
		bd_rest_cluster(bd, c->clusters[k].name, now, &out[k]);
	}
}

/* The host as the policy sees it. Once balloond wrote zfs_arc_max,
 * arcstats' c_max is that value: the ARC's own c_max is the one saved
 * before (arc.c), in this run or an earlier one. */
static struct policy_host snapshot_host(const struct bd *bd)
{
	struct policy_host h = bd->host;
	if (bd->arc_saved == BD_ARC_SAVED)
		h.arc_c_max_bytes = bd->arc_c_max_native;
	return h;
}

struct policy_config bd_plan_config(const struct bd *bd)
{
	const struct bd_conf *c = &bd->conf;
	struct policy_config pc = POLICY_CONFIG_DEFAULT;
	pc.shrink_step_bytes = c->shrink_step_bytes;
	pc.deadband_bytes = c->deadband_bytes;
	pc.guest_reserve_min_bytes = c->guest_reserve_bytes;
	pc.guest_reserve_pct = (unsigned)c->guest_reserve_pct;
	pc.host_reserve_bytes = c->host_reserve_bytes;
	pc.arc_reclaim_pct = (unsigned)c->arc_reclaim_pct;
	pc.low_watermark_bytes = c->low_watermark_bytes;
	pc.high_watermark_bytes = c->high_watermark_bytes;
	pc.critical_watermark_bytes = c->critical_watermark_bytes;
	pc.psi_some_limit_x100 = (uint32_t)c->psi_some_pct * 100;
	/* zfs_arc_max is written only once the ARC's own values are on disk
	 * (a dry run writes nothing). */
	pc.arc_manage = c->arc_manage && !bd->arc_disabled &&
			(bd->arc_saved == BD_ARC_SAVED || c->dry_run);
	pc.arc_min_bytes = c->arc_min_bytes;
	return policy_config_resolve(pc, bd->host.mem_total_bytes);
}

/* A policy input over the given arrays (n_guests entries each). */
static size_t snapshot(struct bd *bd, struct policy_guest *pgs,
		       struct bd_guest **guests, struct policy_cluster *pcs,
		       struct policy_input *in)
{
	size_t n = 0;
	uint64_t others = 0;
	bool unknown = false;
	int64_t now = bd_mono_us(bd), wall = bd_wall_us(bd);
	bd_guest_foreach (g, bd) {
		if (g->removed)
			continue;
		/* Guests without known bounds are not the policy's to move. */
		if (!g->max_bytes || !bd_link_up(g)) {
			uint64_t ram =
			    g->max_bytes ? g->max_bytes : g->link.ram_bytes;
			others += ram;
			unknown |= !ram;
			/* A link that retries its RAM query keeps its reason.
			 */
			if (g->link.state != BD_LINK_RAM_RETRY)
				g->why.reason = bd_link_up(g)
						    ? "bounds not known yet"
						    : "QMP link down";
			continue;
		}
		snapshot_guest(bd, g, now, wall, &pgs[n]);
		if (guests)
			guests[n] = g;
		n++;
	}
	snapshot_clusters(bd, pcs);
	*in = (struct policy_input){
	    .guests = pgs,
	    .n_guests = n,
	    .clusters = pcs,
	    .n_clusters = bd->conf.n_clusters,
	    .host = snapshot_host(bd),
	    .config = bd_plan_config(bd),
	    .other_guests_bytes = others,
	    .guest_sizes_unknown = unknown,
	};
	return n;
}

struct policy_decision bd_plan_decide(const struct bd_guest *g)
{
	struct bd *bd = g->bd;
	struct policy_guest pg;
	struct policy_cluster pcs[BD_MAX_CLUSTERS];
	if (!g->max_bytes)
		return (struct policy_decision){0};
	snapshot_guest(bd, g, bd_mono_us(bd), bd_wall_us(bd), &pg);
	snapshot_clusters(bd, pcs);
	struct policy_input in = {
	    .guests = &pg,
	    .n_guests = 1,
	    .clusters = pcs,
	    .n_clusters = bd->conf.n_clusters,
	    .host = snapshot_host(bd),
	    .config = bd_plan_config(bd),
	};
	return policy_decide_guest(&in, 0);
}

/* Returns whether it emitted the event. */
static bool emit_plan(struct bd *bd, const struct policy_plan *plan,
		      struct bd_guest *const *guests)
{
	/* A burst of 1,000 pins is a plan of 1,000 actions: its event is
	 * built only for someone who takes it (a monitor, the debug log). */
	if (!bd_event_wanted(bd, "plan"))
		return false;
	json_object *ev = json_object_new_object();
	json_object *acts = json_object_new_array();
	for (size_t s = 0; s < plan->n_steps; s++) {
		const struct policy_step *st = &plan->steps[s];
		for (size_t i = st->first; i < st->first + st->count; i++) {
			const struct policy_action *a = &plan->actions[i];
			const struct bd_guest *g = guests[a->guest];
			/* A dry run records nothing as set, so every plan
			 * moves every guest again: only what it has not said
			 * yet is news to a monitor. */
			if (bd->conf.dry_run &&
			    a->target_bytes == g->act.dry_run_bytes)
				continue;
			json_object *o = json_object_new_object();
			json_object_object_add(
			    o, "guest", json_object_new_string(g->spec.name));
			bd_json_add_u64(o, "target_bytes", a->target_bytes);
			bd_json_add_u64(o, "actual_bytes",
					g->link.actual_bytes);
			json_object_object_add(o, "step",
					       json_object_new_int((int)s));
			if (st->wait_moved)
				json_object_object_add(
				    o, "wait_moved",
				    json_object_new_boolean(true));
			json_object_object_add(
			    o, "reason", json_object_new_string(g->why.reason));
			json_object_array_add(acts, o);
		}
	}
	/* The executor numbers the plan it runs next. */
	json_object_object_add(ev, "plan",
			       json_object_new_int64(bd_exec_plan_gen(bd) + 1));
	json_object_object_add(ev, "actions", acts);
	if (json_object_array_length(acts) == 0) {
		json_object_put(ev);
		return false;
	}
	bd_emit(bd, "plan", NULL, ev);
	return true;
}

/* A change of the host's state: an event with the new value and the
 * headroom. */
static void emit_host_state(struct bd *bd, const char *event, const char *key,
			    bool value, const struct policy_plan *plan)
{
	json_object *ev = json_object_new_object();
	json_object_object_add(ev, key, json_object_new_boolean(value));
	json_object_object_add(ev, "headroom_bytes",
			       json_object_new_int64(plan->headroom_bytes));
	bd_emit(bd, event, NULL, ev);
}

static void plan_now(struct bd *bd)
{
	if (bd->shutting_down) {
		/* No more plans: what moved (a link that came back, a command
		 * due for its retry) may let a guest get its max back. */
		bd_exec_restore_pass(bd);
		if (bd->idle_cb)
			bd->idle_cb(bd);
		return;
	}
	uint64_t t0 = uv_hrtime();
	bd_arc_prepare(bd);
	size_t cap = bd->n_guests + 1;
	struct policy_guest *pgs = calloc(cap, sizeof(*pgs));
	struct policy_decision *dec = calloc(cap, sizeof(*dec));
	struct bd_guest **guests = calloc(cap, sizeof(*guests));
	struct policy_cluster *pcs =
	    calloc(bd->conf.n_clusters + 1, sizeof(*pcs));
	struct policy_plan plan = {.actions =
				       calloc(cap, sizeof(*plan.actions))};
	if (!pgs || !dec || !guests || !pcs || !plan.actions) {
		bd_err("out of memory planning for %zu guests", bd->n_guests);
		goto out;
	}
	struct policy_input in;
	size_t n = snapshot(bd, pgs, guests, pcs, &in);
	int rc = (bd->decide ? bd->decide : policy_decide)(&in, dec, &plan);
	if (rc) {
		bd_err("policy refused the snapshot: %s", strerror(-rc));
		plan.n_steps = plan.n_actions = 0;
		plan.arc_write = false;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		struct bd_guest *g = guests[i];
		g->why.reason = dec[i].reason;
		g->why.starving = dec[i].starving;
		g->why.may_be_leader = dec[i].may_be_leader;
		g->why.over_free = dec[i].over_free;
		if (g->act.state == BD_ACT_BACKOFF)
			g->why.reason = "waiting to retry a failed command";
	}
	if (!rc) {
		if (plan.reclaiming != bd->host.reclaiming) {
			emit_host_state(bd, "pressure", "reclaiming",
					plan.reclaiming, &plan);
			bd_notice("host %s (effective headroom %lld MiB)",
				  plan.reclaiming ? "under memory pressure: "
						    "reclaiming from guests"
						  : "pressure over: releasing",
				  (long long)(plan.headroom_bytes >> 20));
		}
		if (plan.critical != bd->host.critical) {
			/* The host's survival now outranks the guests'
			 * comfort (policy.h): say so, and when it is over. */
			emit_host_state(bd, "critical", "critical",
					plan.critical, &plan);
			bd_notice("host %s",
				  plan.critical
				      ? "below its critical watermark: taking "
					"from guests beyond their reserve, "
					"starving or not (never a leader)"
				      : "above its critical watermark again");
		}
		bd->host.critical = plan.critical;
		bd->host.reclaiming = plan.reclaiming;
		bd->headroom_bytes = plan.headroom_bytes;
	}
	/* A PSI event is acted on once. */
	bd->host.psi_event = false;
	uint64_t t1 = uv_hrtime();
	bool said = plan.n_actions && emit_plan(bd, &plan, guests);
	uint64_t t2 = uv_hrtime();
	bd_exec_run(bd, &plan, guests, n);
	if (said) {
		/* What a replan costs: snapshot and policy, then the first
		 * step's commands written (the event's own cost left out). */
		uint64_t t3 = uv_hrtime();
		json_object *ev = json_object_new_object();
		json_object_object_add(
		    ev, "plan", json_object_new_int64(bd_exec_plan_gen(bd)));
		json_object_object_add(ev, "guests",
				       json_object_new_int64((int64_t)n));
		json_object_object_add(
		    ev, "actions",
		    json_object_new_int64((int64_t)plan.n_actions));
		json_object_object_add(
		    ev, "decide_us",
		    json_object_new_int64((int64_t)(t1 - t0) / 1000));
		json_object_object_add(
		    ev, "dispatch_us",
		    json_object_new_int64((int64_t)(t3 - t2) / 1000));
		bd_emit(bd, "dispatched", NULL, ev);
	}
	bd_metrics_plan_done(bd, uv_hrtime() - t0);
out:
	free(pgs);
	free(dec);
	free(guests);
	free(pcs);
	free(plan.actions);
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
	/* A shutdown replans too (plan_now), until it closes the handle. */
	if (bd->replan_pending ||
	    uv_is_closing((uv_handle_t *)&bd->replan_idle))
		return;
	bd->replan_pending = true;
	uv_idle_start(&bd->replan_idle, replan_idle_cb);
}

void bd_plan_init(struct bd *bd)
{
	uv_idle_init(bd->loop, &bd->replan_idle);
	bd->replan_idle.data = bd;
}

void bd_plan_close(struct bd *bd)
{
	if (!uv_is_closing((uv_handle_t *)&bd->replan_idle))
		uv_close((uv_handle_t *)&bd->replan_idle, NULL);
}
