/*
 * exec.c: the executor. Carries out the policy's plan as `balloon`
 * commands, one step after another: a step starts when every command of
 * the previous one was answered, and, for a wait_moved step, when those
 * guests' balloons actually moved to within a tolerance of their targets
 * (checked with query-balloon), or when the move deadline passed, which
 * it says. One command is in flight per guest; a newer target waits
 * behind it. A failed command is retried with backoff.
 *
 * One guest's trouble stays its own: each guest has its own QMP client,
 * timeouts and retry timer; a step waits for a guest only until that
 * guest's command times out or its move deadline passes.
 */
#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto/proto.h"
#include "proto/units.h"

#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 30000
/* During a shutdown, a link that is down is tried this often, rather than
 * after its reconnect backoff (up to reconnect_max_ms, 30 s by default,
 * longer than the whole restore_timeout_ms). A failed connect to a unix
 * socket costs microseconds. */
#define RESTORE_RECONNECT_MS 250

static void start_step(struct bd *bd);

static json_object *guest_data(const struct bd_guest *g)
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

static bool in_current_step(const struct bd_guest *g)
{
	const struct bd *bd = g->bd;
	return g->action_plan && g->action_plan == bd->plan_gen &&
	       g->action_step == bd->plan_step;
}

/* ---- waiting for balloons to move ---- */

/* Has g reached target, or stopped mattering, or run out of time? */
static bool settled(const struct bd_guest *g, uint64_t target, int64_t now,
		    bool *timed_out)
{
	*timed_out = false;
	/* A dry run moves nothing: nothing to wait for. */
	if (g->removed || !g->link_up || !g->actual_known ||
	    g->bd->conf.dry_run)
		return true;
	const struct bd *bd = g->bd;
	uint64_t diff = g->actual_bytes > target ? g->actual_bytes - target
						 : target - g->actual_bytes;
	if (diff <= bd->conf.move_tolerance_bytes)
		return true;
	/* The deadline runs from when this target was sent, not from when
	 * this plan began: replans do not extend it. */
	if (now - g->set_at_us >= (int64_t)bd->conf.move_timeout_ms * 1000) {
		*timed_out = true;
		return true;
	}
	return false;
}

/* The current wait_moved step: go on once every guest settled. */
static void check_wait(struct bd *bd)
{
	if (!bd->plan_waiting)
		return;
	const struct policy_step *st = &bd->plan.steps[bd->plan_step];
	int64_t now = bd_mono_us(bd);
	json_object *late = NULL;
	for (size_t i = st->first; i < st->first + st->count; i++) {
		const struct policy_action *a = &bd->plan.actions[i];
		struct bd_guest *g = bd->plan_guests[a->guest];
		bool timed_out;
		if (!g)
			continue;
		if (!settled(g, a->target_bytes, now, &timed_out)) {
			json_object_put(late);
			bd->wait_blocked = true;
			return;
		}
		if (timed_out && !g->move_late) {
			g->move_late = true; /* said once per target */
			if (!late)
				late = json_object_new_array();
			json_object_array_add(
			    late, json_object_new_string(g->spec.name));
		}
	}
	bd->plan_waiting = false;
	uv_timer_stop(&bd->move_timer);
	if (!bd->wait_blocked && !late) {
		/* Everyone was there already (a replan): nothing to say. */
		bd->plan_step++;
		start_step(bd);
		return;
	}
	json_object *ev = json_object_new_object();
	json_object_object_add(ev, "plan", json_object_new_int64(bd->plan_gen));
	json_object_object_add(ev, "step",
			       json_object_new_int((int)bd->plan_step));
	if (late) {
		bd_warn("plan %u step %u: %s did not reach their targets "
			"within %llu ms; going on",
			bd->plan_gen, bd->plan_step,
			json_object_to_json_string_ext(late,
						       JSON_C_TO_STRING_PLAIN),
			(unsigned long long)bd->conf.move_timeout_ms);
		json_object_object_add(ev, "timed_out", late);
	}
	bd_emit(bd, "moved", NULL, ev);
	bd->plan_step++;
	start_step(bd);
}

static void move_timer_cb(uv_timer_t *t)
{
	struct bd *bd = t->data;
	if (!bd->plan_waiting)
		return;
	/* BALLOON_CHANGE comes at most once a second (QEMU rate-limits it
	 * globally: HACKING.md, "BALLOON_CHANGE is rate-limited"): poll
	 * actual instead. */
	const struct policy_step *st = &bd->plan.steps[bd->plan_step];
	for (size_t i = st->first; i < st->first + st->count; i++) {
		struct bd_guest *g = bd->plan_guests[bd->plan.actions[i].guest];
		if (g && !g->removed)
			bd_link_query(g);
	}
	check_wait(bd);
}

static void begin_wait(struct bd *bd)
{
	bd->plan_waiting = true;
	bd->wait_blocked = false;
	uv_timer_start(&bd->move_timer, move_timer_cb, bd->conf.move_poll_ms,
		       bd->conf.move_poll_ms);
	check_wait(bd);
}

void bd_exec_moved(struct bd_guest *g)
{
	if (g->bd->plan_waiting && in_current_step(g))
		check_wait(g->bd);
}

/* ---- plan steps ---- */

/* A guest's part in the current step is over (acknowledged, failed, or the
 * guest went away). */
static void action_done(struct bd_guest *g, uint64_t target)
{
	struct bd *bd = g->bd;
	if (!in_current_step(g) || !g->action_pending ||
	    g->action_bytes != target)
		return;
	g->action_pending = false;
	if (bd->plan_outstanding > 0 && --bd->plan_outstanding == 0) {
		if (bd->plan.steps[bd->plan_step].wait_moved) {
			begin_wait(bd);
			return;
		}
		bd->plan_step++;
		start_step(bd);
	}
}

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

	json_object *ev = guest_data(g);
	add_u64(ev, "target_bytes", target);
	json_object_object_add(
	    ev, "latency_us",
	    json_object_new_int64(
		(int64_t)(uv_hrtime() - g->inflight_since_ns) / 1000));
	if (err) {
		if (err == QMP_ERR_NO_BALLOON)
			g->no_balloon = true;
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
		bd_link_acked(g, target);
		g->retry_ms = 0;
		g->last_error[0] = '\0';
		if (bd->shutting_down && target == g->max_bytes)
			g->restored = true;
	}
	bd_emit(bd, "command_done", g, ev);
	action_done(g, target);
	if (g->want_bytes && !g->removed) {
		uint64_t next = g->want_bytes;
		g->want_bytes = 0;
		bd_exec_send(g, next);
	}
	if (bd->shutting_down && bd->idle_cb)
		bd->idle_cb(bd);
}

void bd_exec_send(struct bd_guest *g, uint64_t target)
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
	if (target == g->set_bytes) {
		/* QEMU has it already (a wait on a guest still moving). */
		g->want_bytes = 0;
		action_done(g, target);
		return;
	}
	if (bd->conf.dry_run) {
		/* Nothing is recorded as sent: once the dry run ends, the
		 * policy sends what QEMU really lacks. Said once per target,
		 * though every replan decides it again. */
		if (target != g->dry_run_bytes) {
			g->dry_run_bytes = target;
			bd_notice(
			    "%s: dry run: would set target %s (actual %s)",
			    g->spec.name, bd_format_size(target, a, sizeof(a)),
			    bd_format_size(g->actual_bytes, b, sizeof(b)));
			bd_guest_note(g, "dry run: would set %s", a);
		}
		action_done(g, target);
		return;
	}
	g->dry_run_bytes = 0;

	int rc = qmp_balloon_set(g->qmp, target, balloon_done, g);
	json_object *ev = guest_data(g);
	add_u64(ev, "target_bytes", target);
	add_u64(ev, "actual_bytes", g->actual_bytes);
	json_object_object_add(ev, "direction",
			       json_object_new_string(target >= g->actual_bytes
							  ? "grow"
							  : "shrink"));
	/* A Patroni member's time in its role, as the policy saw it: what
	 * the dwell time is checked against. */
	if (g->spec.cluster[0] && g->role_changed_us)
		json_object_object_add(
		    ev, "role_age_ms",
		    json_object_new_int64(
			(bd_mono_us(bd) - g->role_changed_us) / 1000));
	if (rc) {
		json_object_object_add(
		    ev, "error", json_object_new_string(qmp_strerror(rc)));
		bd_emit(bd, "command_failed", g, ev);
		snprintf(g->last_error, sizeof(g->last_error), "balloon: %s",
			 qmp_strerror(rc));
		action_done(g, target);
		return;
	}
	g->inflight_bytes = target;
	g->inflight_since_ns = uv_hrtime();
	g->set_at_us = bd_mono_us(bd);
	g->move_late = false;
	bd_emit(bd, "command", g, ev);
	bd_guest_note(g, "set target %s (was %s)",
		      bd_format_size(target, a, sizeof(a)),
		      bd_format_size(g->actual_bytes, b, sizeof(b)));
	bd_info("%s: balloon target %s (actual %s)", g->spec.name, a, b);
}

/* The ARC budget (policy.h): a lower cap goes before the plan's first
 * step, ahead of any grow; a higher one after its last, once the shrinks
 * moved. A refused write is said once (arc.c) and the plan goes on. */
static void write_arc(struct bd *bd)
{
	char a[32];
	if (bd->conf.dry_run) {
		/* Nothing is written, so every plan decides the write again:
		 * said once per value, as for guests. */
		if (bd->plan.arc_max_bytes != bd->arc_dry_run_bytes) {
			bd->arc_dry_run_bytes = bd->plan.arc_max_bytes;
			bd_notice("dry run: would set zfs_arc_max to %s",
				  bd_format_size(bd->plan.arc_max_bytes, a,
						 sizeof(a)));
		}
		return;
	}
	bd->arc_dry_run_bytes = 0;
	if (bd_arc_write(bd, bd->plan.arc_max_bytes) == 0) {
		json_object *ev = json_object_new_object();
		add_u64(ev, "arc_max_bytes", bd->plan.arc_max_bytes);
		bd_emit(bd, "arc", NULL, ev);
	}
}

static void start_step(struct bd *bd)
{
	if (bd->plan_step >= bd->plan.n_steps && bd->plan_arc_after) {
		bd->plan_arc_after = false;
		write_arc(bd);
	}
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
			g->action_pending = true;
			bd->plan_outstanding++;
		}
		if (bd->plan_outstanding == 0) {
			bd->plan_step++;
			if (bd->plan_step == bd->plan.n_steps &&
			    bd->plan_arc_after) {
				bd->plan_arc_after = false;
				write_arc(bd);
			}
			continue;
		}
		/* Count first, send after: a send may complete at once. */
		unsigned gen = bd->plan_gen, step = (unsigned)bd->plan_step;
		for (size_t i = st->first; i < st->first + st->count; i++) {
			const struct policy_action *a = &bd->plan.actions[i];
			struct bd_guest *g = bd->plan_guests[a->guest];
			if (g && g->action_plan == gen &&
			    g->action_step == step && g->action_pending)
				bd_exec_send(g, a->target_bytes);
			if (bd->plan_gen != gen || bd->plan_step != step ||
			    bd->plan_waiting)
				return; /* finished, waiting, or replaced */
		}
		return;
	}
}

int bd_exec_run(struct bd *bd, const struct policy_plan *plan,
		struct bd_guest *const *guests, size_t n)
{
	if (plan->n_steps > POLICY_MAX_STEPS)
		return -EINVAL;
	size_t need = n > plan->n_actions ? n : plan->n_actions;
	if (bd->plan_cap < need) {
		size_t cap = need * 2;
		void *pg =
		    realloc(bd->plan_guests, cap * sizeof(*bd->plan_guests));
		if (pg)
			bd->plan_guests = pg;
		void *pa = pg ? realloc(bd->plan.actions,
					cap * sizeof(*bd->plan.actions))
			      : NULL;
		if (pa)
			bd->plan.actions = pa;
		if (!pg || !pa) {
			bd_err("out of memory planning for %zu guests", n);
			return -ENOMEM;
		}
		bd->plan_cap = cap;
	}
	for (size_t i = 0; i < plan->n_actions; i++)
		if (plan->actions[i].guest >= n)
			return -EINVAL;
	if (n)
		memcpy(bd->plan_guests, guests, n * sizeof(*guests));
	if (plan->n_actions)
		memcpy(bd->plan.actions, plan->actions,
		       plan->n_actions * sizeof(*plan->actions));
	bd->plan.n_actions = plan->n_actions;
	memcpy(bd->plan.steps, plan->steps, sizeof(plan->steps));
	bd->plan.n_steps = plan->n_steps;
	bd->plan.arc_write = plan->arc_write;
	bd->plan.arc_before = plan->arc_before;
	bd->plan.arc_max_bytes = plan->arc_max_bytes;
	bd->plan_n = n;

	bd->plan_gen++;
	if (bd->plan_gen == 0)
		bd->plan_gen = 1; /* 0 means "no plan" in guests */
	bd->plan_step = 0;
	bd->plan_outstanding = 0;
	bd->plan_waiting = false;
	uv_timer_stop(&bd->move_timer);
	bd->plan_arc_after = plan->arc_write && !plan->arc_before;
	if (plan->arc_write && plan->arc_before)
		write_arc(bd);
	start_step(bd);
	return 0;
}

void bd_exec_forget(struct bd_guest *g)
{
	struct bd *bd = g->bd;
	bool current = in_current_step(g), pending = g->action_pending;
	for (size_t i = 0; i < bd->plan_n; i++)
		if (bd->plan_guests[i] == g)
			bd->plan_guests[i] = NULL;
	g->action_bytes = 0;
	g->action_plan = 0;
	g->action_pending = false;
	if (!current)
		return;
	if (bd->plan_waiting) {
		check_wait(bd);
	} else if (pending && bd->plan_outstanding > 0 &&
		   --bd->plan_outstanding == 0) {
		if (bd->plan.steps[bd->plan_step].wait_moved) {
			begin_wait(bd);
			return;
		}
		bd->plan_step++;
		start_step(bd);
	}
}

void bd_exec_init(struct bd *bd)
{
	uv_timer_init(bd->loop, &bd->move_timer);
	bd->move_timer.data = bd;
	uv_timer_init(bd->loop, &bd->restore_timer);
	bd->restore_timer.data = bd;
}

void bd_exec_close(struct bd *bd)
{
	if (!uv_is_closing((uv_handle_t *)&bd->move_timer))
		uv_close((uv_handle_t *)&bd->move_timer, NULL);
	if (!uv_is_closing((uv_handle_t *)&bd->restore_timer))
		uv_close((uv_handle_t *)&bd->restore_timer, NULL);
}

/* ---- shutdown ----
 * Every guest gets its max back. A guest whose link is down is reconnected
 * and restored once its QEMU answers; a refused command is retried with
 * the usual backoff (its retry timer asks for a replan, and a replan during
 * the shutdown is one more restore pass). A guest is restored once QEMU
 * acknowledged its max; the shutdown waits for that, within
 * restore_timeout_ms (main.c). */

static void restore_one(struct bd_guest *g)
{
	if (g->removed || g->restored || !g->link_up || !g->max_bytes ||
	    uv_is_active((uv_handle_t *)&g->retry_timer))
		return;
	if (!g->inflight_bytes && g->set_bytes == g->max_bytes) {
		if (g->actual_bytes == g->max_bytes) {
			g->restored = true;
			return;
		}
		/* Send even when QEMU already has max as its target: actual
		 * says the guest is not there. */
		g->set_bytes = 0;
	}
	bd_exec_send(g, g->max_bytes);
}

static void restore_reconnect_cb(uv_timer_t *t)
{
	struct bd *bd = t->data;
	/* qmp_client_start connects at once a client that waits for its
	 * backoff, and leaves any other alone. */
	for (struct bd_guest *g = bd->guests; g; g = g->next)
		if (!g->removed && !g->restored && !g->no_balloon &&
		    !g->link_up && g->qmp)
			qmp_client_start(g->qmp);
}

void bd_exec_restore_pass(struct bd *bd)
{
	for (struct bd_guest *g = bd->guests; g; g = g->next)
		restore_one(g);
}

void bd_exec_restore_all(struct bd *bd)
{
	bd->plan_gen++; /* forget the running plan */
	bd->plan_waiting = false;
	uv_timer_stop(&bd->move_timer);
	uv_timer_start(&bd->restore_timer, restore_reconnect_cb,
		       RESTORE_RECONNECT_MS, RESTORE_RECONNECT_MS);
	/* A command waiting out a long backoff is sent now; from here on a
	 * refused restore backs off from the start. */
	for (struct bd_guest *g = bd->guests; g; g = g->next) {
		if (!g->removed && g->link_up) {
			uv_timer_stop(&g->retry_timer);
			g->retry_ms = 0;
		}
	}
	bd_exec_restore_pass(bd);
}

size_t bd_exec_unrestored(const struct bd *bd, char *names, size_t len)
{
	size_t n = 0, used = 0;
	if (names && len)
		names[0] = '\0';
	for (const struct bd_guest *g = bd->guests; g; g = g->next) {
		if (g->removed || g->restored || g->no_balloon)
			continue;
		n++;
		if (!names || used >= len)
			continue;
		const char *why = g->link_up && g->inflight_bytes
				      ? "no answer yet"
				  : g->last_error[0] ? g->last_error
						     : "QMP link down";
		int w = snprintf(names + used, len - used, "%s%s (%s)",
				 used ? ", " : "", g->spec.name, why);
		used = w < 0 ? len : used + (size_t)w;
	}
	/* Cut short: say so rather than end mid-name. */
	if (names && used >= len && len > 4)
		memcpy(names + len - 4, "...", 4);
	return n;
}
