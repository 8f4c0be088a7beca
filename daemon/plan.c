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

struct policy_decision bd_plan_decide(const struct bd_guest *g)
{
	struct policy_guest pg;
	if (!g->max_bytes)
		return (struct policy_decision){0};
	snapshot_guest(g->bd, g, &pg);
	return policy_decide_guest(&pg);
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

static void emit_plan(struct bd *bd, const struct policy_plan *plan,
		      struct bd_guest *const *guests)
{
	json_object *ev = json_object_new_object();
	json_object *acts = json_object_new_array();
	for (size_t s = 0; s < plan->n_steps; s++) {
		const struct policy_step *st = &plan->steps[s];
		for (size_t i = st->first; i < st->first + st->count; i++) {
			const struct policy_action *a = &plan->actions[i];
			const struct bd_guest *g = guests[a->guest];
			json_object *o = json_object_new_object();
			json_object_object_add(
			    o, "guest", json_object_new_string(g->spec.name));
			add_u64(o, "target_bytes", a->target_bytes);
			add_u64(o, "actual_bytes", g->actual_bytes);
			json_object_object_add(o, "step",
					       json_object_new_int((int)s));
			if (st->wait_moved)
				json_object_object_add(
				    o, "wait_moved",
				    json_object_new_boolean(true));
			json_object_object_add(
			    o, "reason", json_object_new_string(g->reason));
			json_object_array_add(acts, o);
		}
	}
	/* The executor numbers the plan it runs next. */
	json_object_object_add(ev, "plan",
			       json_object_new_int64(bd->plan_gen + 1));
	json_object_object_add(ev, "actions", acts);
	bd_emit(bd, "plan", NULL, ev);
}

static void plan_now(struct bd *bd)
{
	size_t n = 0;
	if (bd->shutting_down)
		return;
	struct policy_guest *pgs = calloc(bd->n_guests + 1, sizeof(*pgs));
	struct policy_decision *dec = calloc(bd->n_guests + 1, sizeof(*dec));
	struct bd_guest **guests = calloc(bd->n_guests + 1, sizeof(*guests));
	struct policy_plan plan = {
	    .actions = calloc(bd->n_guests + 1, sizeof(*plan.actions))};
	if (!pgs || !dec || !guests || !plan.actions) {
		bd_err("out of memory planning for %zu guests", bd->n_guests);
		goto out;
	}
	for (struct bd_guest *g = bd->guests; g; g = g->next) {
		if (g->removed)
			continue;
		/* Guests without known bounds are not the policy's to move. */
		if (!g->max_bytes || !g->link_up) {
			/* A link that retries its RAM query keeps its reason.
			 */
			if (!uv_is_active((uv_handle_t *)&g->retry_timer))
				g->reason = g->link_up ? "bounds not known yet"
						       : "QMP link down";
			continue;
		}
		snapshot_guest(bd, g, &pgs[n]);
		guests[n++] = g;
	}

	struct policy_input in = {
	    .guests = pgs,
	    .n_guests = n,
	    .config = {.shrink_step_bytes = bd->conf.shrink_step_bytes},
	};
	int rc = (bd->decide ? bd->decide : policy_decide)(&in, dec, &plan);
	if (rc) {
		bd_err("policy refused the snapshot: %s", strerror(-rc));
		plan.n_steps = plan.n_actions = 0;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		struct bd_guest *g = guests[i];
		g->reason = dec[i].reason;
		if (uv_is_active((uv_handle_t *)&g->retry_timer))
			g->reason = "waiting to retry a failed command";
	}
	if (plan.n_actions)
		emit_plan(bd, &plan, guests);
	bd_exec_run(bd, &plan, guests, n);
out:
	free(pgs);
	free(dec);
	free(guests);
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
	if (bd->replan_pending || bd->shutting_down)
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
