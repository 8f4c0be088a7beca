/*
 * exec.c: the executor. Carries out the policy's plan as the guests'
 * actuators' commands (actuator.h: `balloon` for the virtio-balloon), one
 * step after another: a step starts when every command of
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

#include "actuator.h"
#include "log.h"
#include "proto/jsonprint.h"
#include "proto/proto.h"
#include "proto/units.h"

/* During a shutdown, a link that is down is tried this often, rather than
 * after its reconnect backoff (up to reconnect_max_ms, 30 s by default,
 * longer than the whole restore_timeout_ms). A failed connect to a unix
 * socket costs microseconds. */
#define RESTORE_RECONNECT_MS 250

/* The executor's state: only exec.c reads it (struct bd holds a
 * pointer). */
struct bd_exec {
	struct bd *bd;
	unsigned plan_gen;
	unsigned plan_step;	       /* the step being carried out */
	size_t plan_outstanding;       /* its commands not yet answered */
	bool plan_waiting;	       /* its guests not yet moved */
	bool plan_arc_after;	       /* write plan.arc_max_bytes at its end */
	bool wait_blocked;	       /* ... and the wait really waited */
	struct policy_plan plan;       /* the plan being carried out */
	struct bd_guest **plan_guests; /* guests[i] of that plan's snapshot */
	size_t plan_n, plan_cap;
	uv_timer_t move_timer;	  /* polls and bounds a wait_moved step */
	uv_timer_t restore_timer; /* shutdown: reconnects links that are down */
	int closes_pending;	  /* its timers still closing */
	/* The zfs_arc_max a dry run last said it would set (said once). */
	uint64_t arc_dry_run_bytes;
};

static void start_step(struct bd_exec *x);

static json_object *guest_data(const struct bd_guest *g)
{
	json_object *d = json_object_new_object();
	bd_json_add_new(d, "guest", json_object_new_string(g->spec.name));
	return d;
}

static bool in_current_step(const struct bd_guest *g)
{
	const struct bd_exec *x = g->bd->exec;
	return x && g->act.plan && g->act.plan == x->plan_gen &&
	       g->act.step == x->plan_step;
}

/* ---- waiting for balloons to move ---- */

/* Has g reached target, or stopped mattering, or run out of time? */
static bool settled(const struct bd_guest *g, uint64_t target, int64_t now,
		    bool *timed_out)
{
	*timed_out = false;
	/* A dry run moves nothing: nothing to wait for. */
	if (g->removed || !bd_link_up(g) || g->bd->conf.dry_run)
		return true;
	const struct bd *bd = g->bd;
	if (g->act.ops->moved(g, target, bd->conf.move_tolerance_bytes))
		return true;
	/* The deadline runs from when this target was sent, not from when
	 * this plan began: replans do not extend it. */
	if (now - g->act.set_at_us >=
	    (int64_t)bd->conf.move_timeout_ms * 1000) {
		*timed_out = true;
		return true;
	}
	return false;
}

/* The current wait_moved step: go on once every guest settled. */
static void check_wait(struct bd_exec *x)
{
	struct bd *bd = x->bd;
	if (!x->plan_waiting)
		return;
	const struct policy_step *st = &x->plan.steps[x->plan_step];
	int64_t now = bd_mono_us(bd);
	json_object *late = NULL;
	for (size_t i = st->first; i < st->first + st->count; i++) {
		const struct policy_action *a = &x->plan.actions[i];
		struct bd_guest *g = x->plan_guests[a->guest];
		bool timed_out;
		if (!g)
			continue;
		if (!settled(g, a->target_bytes, now, &timed_out)) {
			json_object_put(late);
			x->wait_blocked = true;
			return;
		}
		if (timed_out && !g->act.move_late) {
			g->act.move_late = true; /* said once per target */
			if (!late)
				late = json_object_new_array();
			json_object_array_add(
			    late, json_object_new_string(g->spec.name));
		}
	}
	x->plan_waiting = false;
	uv_timer_stop(&x->move_timer);
	if (!x->wait_blocked && !late) {
		/* Everyone was there already (a replan): nothing to say. */
		x->plan_step++;
		start_step(x);
		return;
	}
	json_object *ev = json_object_new_object();
	json_object_object_add(ev, "plan", json_object_new_int64(x->plan_gen));
	json_object_object_add(ev, "step",
			       json_object_new_int((int)x->plan_step));
	if (late) {
		bd_warn("plan %u step %u: %s did not reach their targets "
			"within %llu ms; going on",
			x->plan_gen, x->plan_step,
			json_object_to_json_string_ext(late,
						       JSON_C_TO_STRING_PLAIN),
			(unsigned long long)bd->conf.move_timeout_ms);
		json_object_object_add(ev, "timed_out", late);
	}
	bd_emit(bd, "moved", NULL, ev);
	x->plan_step++;
	start_step(x);
}

static void move_timer_cb(uv_timer_t *t)
{
	struct bd_exec *x = t->data;
	if (!x->plan_waiting)
		return;
	/* BALLOON_CHANGE comes at most once a second (QEMU rate-limits it
	 * globally: HACKING.md, "BALLOON_CHANGE is rate-limited"): poll
	 * actual instead. */
	const struct policy_step *st = &x->plan.steps[x->plan_step];
	for (size_t i = st->first; i < st->first + st->count; i++) {
		struct bd_guest *g = x->plan_guests[x->plan.actions[i].guest];
		if (g && !g->removed)
			bd_link_query(g);
	}
	check_wait(x);
}

static void begin_wait(struct bd_exec *x)
{
	x->plan_waiting = true;
	x->wait_blocked = false;
	uv_timer_start(&x->move_timer, move_timer_cb, x->bd->conf.move_poll_ms,
		       x->bd->conf.move_poll_ms);
	check_wait(x);
}

void bd_exec_moved(struct bd_guest *g)
{
	if (in_current_step(g) && g->bd->exec->plan_waiting)
		check_wait(g->bd->exec);
}

/* ---- plan steps ---- */

/* The current step's commands were all answered: wait for its guests to
 * move, or go on. */
static void step_answered(struct bd_exec *x)
{
	if (x->plan.steps[x->plan_step].wait_moved) {
		begin_wait(x);
		return;
	}
	x->plan_step++;
	start_step(x);
}

/* A guest's part in the current step is over (acknowledged, failed, or the
 * guest went away). */
static void action_done(struct bd_guest *g, uint64_t target)
{
	struct bd_exec *x = g->bd->exec;
	if (!in_current_step(g) || !g->act.pending ||
	    g->act.action_bytes != target)
		return;
	g->act.pending = false;
	if (x->plan_outstanding > 0 && --x->plan_outstanding == 0)
		step_answered(x);
}

void bd_exec_retry_due(struct bd_guest *g)
{
	if (g->act.state == BD_ACT_BACKOFF)
		g->act.state = BD_ACT_IDLE;
	bd_replan(g->bd);
}

static void command_done(struct bd_guest *g, uint64_t target,
			 const struct bd_act_result *r)
{
	struct bd *bd = g->bd;
	char sz[32];

	g->act.inflight_bytes = 0;
	if (g->act.state == BD_ACT_SENT)
		g->act.state = BD_ACT_IDLE;
	if (g->removed)
		return;

	int64_t latency_us =
	    (int64_t)(uv_hrtime() - g->act.inflight_since_ns) / 1000;
	bd_metrics_command_done(g, r->err != 0, latency_us);
	/* The event's data only for a subscriber that reads it (a monitor,
	 * the debug log): a burst's 1,000 answers need none. */
	json_object *ev = NULL;
	if (bd_event_data_wanted(bd, "command_done")) {
		ev = guest_data(g);
		bd_json_add_new(ev, "target_bytes",
				json_object_new_int64((int64_t)target));
		bd_json_add_new(ev, "latency_us",
				json_object_new_int64(latency_us));
		if (r->err)
			bd_json_add_new(ev, "error",
					json_object_new_string(r->error));
	}
	if (r->err) {
		bd_guest_set_error(g, "%s %s: %s", g->act.ops->command,
				   bd_format_size(target, sz, sizeof(sz)),
				   r->detail);
		bd_warn("%s: %s", g->spec.name, bd_guest_error(g));
		if (r->retry && bd_link_up(g)) {
			g->act.state = BD_ACT_BACKOFF;
			bd_guest_wake(g, &g->act.retry_due_ms,
				      bd_backoff_next(&g->act.retry_ms));
		}
	} else {
		bd_link_acked(g, target);
		g->act.retry_ms = 0;
		bd_guest_clear_error(g);
		if (bd->shutting_down && target == g->max_bytes)
			g->act.restored = true;
	}
	bd_emit(bd, "command_done", g, ev);
	action_done(g, target);
	if (g->act.want_bytes && !g->removed) {
		uint64_t next = g->act.want_bytes;
		g->act.want_bytes = 0;
		bd_exec_send(g, next);
	}
	if (bd->shutting_down && bd->idle_cb)
		bd->idle_cb(bd);
}

void bd_exec_link_reset(struct bd_guest *g)
{
	bd_guest_wake(g, &g->act.retry_due_ms, 0);
	if (g->act.state == BD_ACT_BACKOFF)
		g->act.state = BD_ACT_IDLE;
	g->act.retry_ms = 0;
}

/* The data of a command's event: the guest, its target and actual. */
static json_object *command_data(const struct bd_guest *g, uint64_t target)
{
	json_object *ev = guest_data(g);
	bd_json_add_u64(ev, "target_bytes", target);
	bd_json_add_u64(ev, "actual_bytes", g->link.actual_bytes);
	json_object_object_add(
	    ev, "direction",
	    json_object_new_string(target >= g->link.actual_bytes ? "grow"
								  : "shrink"));
	/* A Patroni member's time in its role, as the policy saw it: what
	 * the dwell time is checked against. */
	if (g->spec.cluster[0] && g->role_changed_us)
		json_object_object_add(
		    ev, "role_age_ms",
		    json_object_new_int64(
			(bd_mono_us(g->bd) - g->role_changed_us) / 1000));
	return ev;
}

void bd_exec_send(struct bd_guest *g, uint64_t target)
{
	struct bd *bd = g->bd;
	const struct bd_actuator_ops *ops = g->act.ops;
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
	if (target == g->act.inflight_bytes) {
		g->act.want_bytes = 0;
		return; /* already on its way; its reply completes the action */
	}
	if (g->act.inflight_bytes) {
		g->act.want_bytes = target;
		return;
	}
	if (target == g->link.set_bytes) {
		/* QEMU has it already (a wait on a guest still moving). */
		g->act.want_bytes = 0;
		action_done(g, target);
		return;
	}
	if (bd->conf.dry_run) {
		/* Nothing is recorded as sent: once the dry run ends, the
		 * policy sends what QEMU really lacks. Said once per target,
		 * though every replan decides it again. */
		if (target != g->act.dry_run_bytes) {
			g->act.dry_run_bytes = target;
			bd_notice(
			    "%s: dry run: would set target %s (actual %s)",
			    g->spec.name, bd_format_size(target, a, sizeof(a)),
			    bd_format_size(g->link.actual_bytes, b, sizeof(b)));
			bd_guest_note(g, "dry run: would set %s", a);
		}
		action_done(g, target);
		return;
	}
	g->act.dry_run_bytes = 0;

	int rc = ops->set(g, target, command_done);
	/* The metrics count a command by its name: its data is built only
	 * for a subscriber that reads it (a monitor, the debug log). */
	json_object *ev = rc || bd_event_data_wanted(bd, "command")
			      ? command_data(g, target)
			      : NULL;
	if (rc) {
		json_object_object_add(
		    ev, "error", json_object_new_string(ops->strerror(rc)));
		bd_emit(bd, "command_failed", g, ev);
		bd_guest_set_error(g, "%s: %s", ops->command,
				   ops->strerror(rc));
		action_done(g, target);
		return;
	}
	g->act.state = BD_ACT_SENT;
	g->act.inflight_bytes = target;
	g->act.inflight_since_ns = uv_hrtime();
	g->act.set_at_us = bd_mono_us(bd);
	g->act.move_late = false;
	bd_emit(bd, "command", g, ev);
	bd_guest_note_cat(
	    g, "set target ", bd_format_size(target, a, sizeof(a)), " (was ",
	    bd_format_size(g->link.actual_bytes, b, sizeof(b)), ")", NULL);
	bd_info("%s: %s target %s (actual %s)", g->spec.name, ops->command, a,
		b);
}

/* The ARC budget (policy.h): a lower cap goes before the plan's first
 * step, ahead of any grow; a higher one after its last, once the shrinks
 * moved. A refused write is said once (arc.c) and the plan goes on. */
static void write_arc(struct bd_exec *x)
{
	struct bd *bd = x->bd;
	char a[32];
	if (bd->conf.dry_run) {
		/* Nothing is written, so every plan decides the write again:
		 * said once per value, as for guests. */
		if (x->plan.arc_max_bytes != x->arc_dry_run_bytes) {
			x->arc_dry_run_bytes = x->plan.arc_max_bytes;
			bd_notice("dry run: would set zfs_arc_max to %s",
				  bd_format_size(x->plan.arc_max_bytes, a,
						 sizeof(a)));
		}
		return;
	}
	x->arc_dry_run_bytes = 0;
	if (bd_arc_write(bd, x->plan.arc_max_bytes) == 0) {
		json_object *ev = json_object_new_object();
		bd_json_add_u64(ev, "arc_max_bytes", x->plan.arc_max_bytes);
		bd_emit(bd, "arc", NULL, ev);
	}
}

static void start_step(struct bd_exec *x)
{
	if (x->plan_step >= x->plan.n_steps && x->plan_arc_after) {
		x->plan_arc_after = false;
		write_arc(x);
	}
	while (x->plan_step < x->plan.n_steps) {
		const struct policy_step *st = &x->plan.steps[x->plan_step];
		x->plan_outstanding = 0;
		for (size_t i = st->first; i < st->first + st->count; i++) {
			const struct policy_action *a = &x->plan.actions[i];
			struct bd_guest *g = x->plan_guests[a->guest];
			if (!g || g->removed || !bd_link_up(g))
				continue;
			g->act.plan = x->plan_gen;
			g->act.step = (unsigned)x->plan_step;
			g->act.action_bytes = a->target_bytes;
			g->act.pending = true;
			x->plan_outstanding++;
		}
		if (x->plan_outstanding == 0) {
			x->plan_step++;
			if (x->plan_step == x->plan.n_steps &&
			    x->plan_arc_after) {
				x->plan_arc_after = false;
				write_arc(x);
			}
			continue;
		}
		/* Count first, send after: a send may complete at once. */
		unsigned gen = x->plan_gen, step = (unsigned)x->plan_step;
		for (size_t i = st->first; i < st->first + st->count; i++) {
			const struct policy_action *a = &x->plan.actions[i];
			struct bd_guest *g = x->plan_guests[a->guest];
			if (g && g->act.plan == gen && g->act.step == step &&
			    g->act.pending)
				bd_exec_send(g, a->target_bytes);
			if (x->plan_gen != gen || x->plan_step != step ||
			    x->plan_waiting)
				return; /* finished, waiting, or replaced */
		}
		return;
	}
}

int bd_exec_run(struct bd *bd, const struct policy_plan *plan,
		struct bd_guest *const *guests, size_t n)
{
	struct bd_exec *x = bd->exec;
	if (plan->n_steps > POLICY_MAX_STEPS)
		return -EINVAL;
	size_t need = n > plan->n_actions ? n : plan->n_actions;
	if (x->plan_cap < need) {
		size_t cap = need * 2;
		void *pg =
		    realloc(x->plan_guests, cap * sizeof(*x->plan_guests));
		if (pg)
			x->plan_guests = pg;
		void *pa = pg ? realloc(x->plan.actions,
					cap * sizeof(*x->plan.actions))
			      : NULL;
		if (pa)
			x->plan.actions = pa;
		if (!pg || !pa) {
			bd_err("out of memory planning for %zu guests", n);
			return -ENOMEM;
		}
		x->plan_cap = cap;
	}
	for (size_t i = 0; i < plan->n_actions; i++)
		if (plan->actions[i].guest >= n)
			return -EINVAL;
	if (n)
		memcpy(x->plan_guests, guests, n * sizeof(*guests));
	if (plan->n_actions)
		memcpy(x->plan.actions, plan->actions,
		       plan->n_actions * sizeof(*plan->actions));
	x->plan.n_actions = plan->n_actions;
	memcpy(x->plan.steps, plan->steps, sizeof(plan->steps));
	x->plan.n_steps = plan->n_steps;
	x->plan.arc_write = plan->arc_write;
	x->plan.arc_before = plan->arc_before;
	x->plan.arc_max_bytes = plan->arc_max_bytes;
	x->plan_n = n;

	x->plan_gen++;
	if (x->plan_gen == 0)
		x->plan_gen = 1; /* 0 means "no plan" in guests */
	x->plan_step = 0;
	x->plan_outstanding = 0;
	x->plan_waiting = false;
	uv_timer_stop(&x->move_timer);
	x->plan_arc_after = plan->arc_write && !plan->arc_before;
	if (plan->arc_write && plan->arc_before)
		write_arc(x);
	start_step(x);
	return 0;
}

unsigned bd_exec_plan_gen(const struct bd *bd)
{
	return bd->exec->plan_gen;
}

bool bd_exec_waiting(const struct bd *bd)
{
	return bd->exec->plan_waiting;
}

void bd_exec_forget(struct bd_guest *g)
{
	struct bd_exec *x = g->bd->exec;
	if (!x)
		return;
	bool current = in_current_step(g), pending = g->act.pending;
	for (size_t i = 0; i < x->plan_n; i++)
		if (x->plan_guests[i] == g)
			x->plan_guests[i] = NULL;
	g->act.action_bytes = 0;
	g->act.plan = 0;
	g->act.pending = false;
	if (!current)
		return;
	if (x->plan_waiting)
		check_wait(x);
	else if (pending && x->plan_outstanding > 0 &&
		 --x->plan_outstanding == 0)
		step_answered(x);
}

int bd_exec_init(struct bd *bd)
{
	struct bd_exec *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->bd = bd;
	uv_timer_init(bd->loop, &x->move_timer);
	x->move_timer.data = x;
	uv_timer_init(bd->loop, &x->restore_timer);
	x->restore_timer.data = x;
	bd->exec = x;
	return 0;
}

static void exec_timer_closed(uv_handle_t *h)
{
	struct bd_exec *x = h->data;
	if (--x->closes_pending > 0)
		return;
	free(x->plan_guests);
	free(x->plan.actions);
	free(x);
}

void bd_exec_close(struct bd *bd)
{
	struct bd_exec *x = bd->exec;
	if (!x)
		return;
	bd->exec = NULL;
	x->closes_pending = 2;
	uv_close((uv_handle_t *)&x->move_timer, exec_timer_closed);
	uv_close((uv_handle_t *)&x->restore_timer, exec_timer_closed);
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
	if (g->removed || g->act.restored || !bd_link_up(g) || !g->max_bytes ||
	    g->act.state == BD_ACT_BACKOFF)
		return;
	if (!g->act.inflight_bytes && g->link.set_bytes == g->max_bytes) {
		if (g->link.actual_bytes == g->max_bytes) {
			g->act.restored = true;
			return;
		}
		/* Send even when QEMU already has max as its target: actual
		 * says the guest is not there. */
		g->link.set_bytes = 0;
	}
	bd_exec_send(g, g->max_bytes);
}

static void restore_reconnect_cb(uv_timer_t *t)
{
	struct bd_exec *x = t->data;
	bd_guest_foreach (g, x->bd)
		if (!g->act.restored && !g->link.no_balloon)
			bd_link_reconnect(g);
}

void bd_exec_restore_pass(struct bd *bd)
{
	bd_guest_foreach (g, bd)
		restore_one(g);
}

void bd_exec_restore_all(struct bd *bd)
{
	struct bd_exec *x = bd->exec;
	x->plan_gen++; /* forget the running plan */
	x->plan_waiting = false;
	uv_timer_stop(&x->move_timer);
	uv_timer_start(&x->restore_timer, restore_reconnect_cb,
		       RESTORE_RECONNECT_MS, RESTORE_RECONNECT_MS);
	/* A command waiting out a long backoff is sent now; from here on a
	 * refused restore backs off from the start. */
	bd_guest_foreach (g, bd)
		if (bd_link_up(g))
			bd_exec_link_reset(g);
	bd_exec_restore_pass(bd);
}

size_t bd_exec_unrestored(const struct bd *bd, char *names, size_t len)
{
	size_t n = 0, used = 0;
	if (names && len)
		names[0] = '\0';
	bd_guest_foreach (g, bd) {
		if (g->act.restored || g->link.no_balloon)
			continue;
		n++;
		if (!names || used >= len)
			continue;
		const char *why = bd_link_up(g) && g->act.inflight_bytes
				      ? "no answer yet"
				  : bd_guest_error(g)[0] ? bd_guest_error(g)
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
