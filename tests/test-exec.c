/*
 * test-exec.c: the daemon's core without its control socket: registry,
 * links, planner and executor, linked alone (libballoond.a) and driven
 * against in-process fake QEMU monitors.
 *
 * The executor's wait_moved steps are the point: a step starts only once
 * the guests of the previous one actually moved, checked with
 * query-balloon; a guest that moves slowly is waited for, one that never
 * moves is given up on at the move deadline (said in a "moved" event),
 * and replans while waiting do not extend that deadline. Plans come from
 * a scripted policy (bd->decide), so each replan yields the same plan.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/daemon.h"
#include "daemon/log.h"
#include "tests/lib/fakeqmp.h"
#include "tests/lib/timescale.h"

#define MiB (UINT64_C(1) << 20)
#define NG  3

struct env {
	uv_loop_t loop;
	struct bd bd;
	char dir[64];
	struct fakeqmp *fake[NG];
	struct bd_guest *g[NG];
	struct bd_subscriber sub;
	int moved_events;
	int moved_timed_out; /* "moved" events with a timed_out list */
	char last_timed_out[128];
	int foreign_events;			 /* "foreign_move" events */
	uint64_t foreign_target, foreign_actual; /* the last one's data */
	/* The scripted plan: step 0 sets guest 0 (wait_moved as given),
	 * step 1 sets guest 1. */
	uint64_t t0, t1;
	bool wait;
};

static struct env *the_env; /* for the scripted policy */

static int scripted_decide(const struct policy_input *in,
			   struct policy_decision *d, struct policy_plan *plan)
{
	struct env *e = the_env;
	plan->n_actions = plan->n_steps = 0;
	for (size_t i = 0; i < in->n_guests; i++)
		d[i] = (struct policy_decision){.reason = "scripted"};
	if (!e->t0 || in->n_guests < 2)
		return 0;
	size_t i0 = SIZE_MAX, i1 = SIZE_MAX;
	for (size_t i = 0; i < in->n_guests; i++) {
		if (strcmp(in->guests[i].name, "g0") == 0)
			i0 = i;
		if (strcmp(in->guests[i].name, "g1") == 0)
			i1 = i;
	}
	if (i0 == SIZE_MAX || i1 == SIZE_MAX)
		return 0;
	plan->actions[0] = (struct policy_action){i0, e->t0};
	plan->actions[1] = (struct policy_action){i1, e->t1};
	plan->n_actions = 2;
	plan->steps[0] = (struct policy_step){0, 1, e->wait};
	plan->steps[1] = (struct policy_step){1, 1, false};
	plan->n_steps = 2;
	return 0;
}

static void on_event(struct bd *bd, const struct bd_event *ev, void *arg)
{
	struct env *e = arg;
	json_object *v;
	if (strcmp(ev->name, "foreign_move") == 0) {
		e->foreign_events++;
		if (json_object_object_get_ex(ev->data, "target_bytes", &v))
			e->foreign_target = (uint64_t)json_object_get_int64(v);
		if (json_object_object_get_ex(ev->data, "actual_bytes", &v))
			e->foreign_actual = (uint64_t)json_object_get_int64(v);
	}
	if (strcmp(ev->name, "moved") != 0)
		return;
	e->moved_events++;
	json_object *late;
	if (json_object_object_get_ex(ev->data, "timed_out", &late)) {
		e->moved_timed_out++;
		snprintf(e->last_timed_out, sizeof(e->last_timed_out), "%s",
			 json_object_to_json_string_ext(
			     late, JSON_C_TO_STRING_PLAIN));
	}
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	signal(SIGPIPE, SIG_IGN);
	alarm(60 * test_time_scale());
	strcpy(e->dir, "/tmp/exectest.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(uv_loop_init(&e->loop), 0);
	bd_log_setup(LOG_WARNING, true);

	struct bd *bd = &e->bd;
	bd->loop = &e->loop;
	bd->clock = bd_clock_real;
	bd_conf_defaults(&bd->conf);
	snprintf(bd->conf.state_dir, sizeof(bd->conf.state_dir), "%s", e->dir);
	bd->conf.stats_interval_s = 0;
	bd->conf.qmp_command_timeout_ms = 2000 * test_time_scale();
	bd->conf.move_poll_ms = 20;
	bd->conf.move_timeout_ms = 600;
	bd->decide = scripted_decide;
	the_env = e;
	bd_plan_init(bd);
	assert_int_equal(bd_exec_init(bd), 0);
	e->sub = (struct bd_subscriber){.fn = on_event, .arg = e};
	bd_events_subscribe(bd, &e->sub);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	bd_guest_foreach (g, bd)
		if (!g->removed)
			bd_guest_remove(g);
	bd_plan_close(bd);
	bd_exec_close(bd);
	for (int i = 0; i < NG; i++)
		if (e->fake[i])
			fakeqmp_close(e->fake[i]);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	int rc = uv_loop_close(&e->loop);
	free(bd->index);
	rmdir(e->dir);
	free(e);
	return rc == 0 ? 0 : -1;
}

/* Fake guest i (256 MiB), whose balloon takes move_ms to move. */
static void new_fake(struct env *e, int i, uint64_t move_ms)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/g%d.qmp", e->dir, i);
	struct fakeqmp_config fc = FAKEQMP_CONFIG_DEFAULT;
	fc.path = path;
	fc.move_ms = move_ms;
	assert_int_equal(fakeqmp_new(&e->loop, &fc, &e->fake[i]), 0);
}

/* Register guest i on its fake: a Patroni member of a cluster without a
 * section (so it may be the leader), or pinned, or neither. */
static void register_guest(struct env *e, int i, const char *cluster,
			   uint64_t pin_bytes)
{
	struct bd_guest_spec spec = {.min_bytes = 96 * MiB};
	snprintf(spec.name, sizeof(spec.name), "g%d", i);
	snprintf(spec.qmp_path, sizeof(spec.qmp_path), "%s",
		 fakeqmp_path(e->fake[i]));
	if (cluster) {
		snprintf(spec.cluster, sizeof(spec.cluster), "%s", cluster);
		snprintf(spec.member, sizeof(spec.member), "m%d", i);
	}
	spec.pin_bytes = pin_bytes;
	e->g[i] = bd_guest_add(&e->bd, &spec);
	assert_non_null(e->g[i]);
	assert_int_equal(bd_guest_start(e->g[i], NULL, NULL, 0), 0);
}

/* Fake guest i and its registration, up and running. */
static void add_guest(struct env *e, int i, uint64_t move_ms, bool stuck)
{
	new_fake(e, i, move_ms);
	if (stuck)
		assert_int_equal(fakeqmp_set_mode(e->fake[i], "stuck"), 0);
	register_guest(e, i, NULL, 0);
}

static bool all_up(void *arg)
{
	struct env *e = arg;
	for (int i = 0; i < NG; i++)
		if (e->g[i] && !bd_link_up(e->g[i]))
			return false;
	return true;
}

/* The time the first `balloon` with this value reached fake i, or 0. */
static uint64_t balloon_at(struct env *e, int i, uint64_t value)
{
	for (size_t k = 0; k < fakeqmp_ncommands(e->fake[i]); k++) {
		const struct fakeqmp_cmd *c = fakeqmp_command(e->fake[i], k);
		json_object *v;
		if (strcmp(c->execute, "balloon") == 0 && c->arguments &&
		    json_object_object_get_ex(c->arguments, "value", &v) &&
		    (uint64_t)json_object_get_int64(v) == value)
			return c->t_ns;
	}
	return 0;
}

struct sent {
	struct env *e;
	int i;
	uint64_t value;
};

static bool was_sent(void *arg)
{
	struct sent *s = arg;
	return balloon_at(s->e, s->i, s->value) != 0;
}

/* Run the scripted plan: g0 to t0 (waiting or not), then g1 to t1.
 * Returns the gap between g0's and g1's commands, in ms. */
static double run_plan(struct env *e, bool wait, uint64_t t0, uint64_t t1)
{
	assert_true(run_until_fn(&e->loop, all_up, e, 5000));
	e->wait = wait;
	e->t0 = t0;
	e->t1 = t1;
	bd_replan(&e->bd);
	struct sent s = {e, 1, t1};
	assert_true(run_until_fn(&e->loop, was_sent, &s, 10000));
	uint64_t a = balloon_at(e, 0, t0), b = balloon_at(e, 1, t1);
	assert_true(a != 0 && b >= a);
	return (double)(b - a) / 1e6;
}

static void test_no_wait_goes_on_at_the_ack(void **state)
{
	struct env *e = *state;
	add_guest(e, 0, 3000, false);
	add_guest(e, 1, 0, false);
	/* A wrong wait would end with the move, not at a deadline before
	 * it. */
	e->bd.conf.move_timeout_ms = 10000;
	double gap = run_plan(e, false, 128 * MiB, 200 * MiB);
	/* Without wait_moved the next step follows the ack, not the move:
	 * the 3 s move is not waited for (a bound that leaves a busy
	 * machine two seconds). */
	assert_true(gap < 1000);
	assert_int_equal(e->moved_events, 0);
}

static void test_waits_for_a_slow_guest(void **state)
{
	struct env *e = *state;
	add_guest(e, 0, 400, false); /* actual moves 400 ms after `balloon` */
	add_guest(e, 1, 0, false);
	/* A deadline far past the move: a busy machine may be slow to see
	 * it, and it is not what this test is about. */
	e->bd.conf.move_timeout_ms = 3000;
	double gap = run_plan(e, true, 128 * MiB, 200 * MiB);
	/* g1's command came only once g0's balloon had moved. */
	assert_true(gap >= 390);
	assert_int_equal(fakeqmp_actual(e->fake[0]), 128 * MiB);
	assert_true(fakeqmp_count(e->fake[0], "query-balloon") >= 2);
	assert_int_equal(e->moved_events, 1);
	assert_int_equal(e->moved_timed_out, 0);
}

/* How far apart two clocks may be in the move deadline's checks: the
 * deadline runs on the loop's time, cached when an iteration begins, and
 * the fake stamps a command when it reads it, an iteration later. On a
 * loaded machine (load 20 on 2 cores) they were once more than 20 ms
 * apart: a 580 ms bound failed. */
#define DEADLINE_SLACK_MS 100

static void test_gives_up_on_a_stuck_guest(void **state)
{
	struct env *e = *state;
	add_guest(e, 0, 0, true); /* no guest driver: actual never moves */
	add_guest(e, 1, 0, false);
	double gap = run_plan(e, true, 128 * MiB, 200 * MiB);
	/* Not before the 600 ms move deadline, and not never. */
	assert_true(gap >= 600 - DEADLINE_SLACK_MS);
	assert_int_equal(fakeqmp_actual(e->fake[0]), 256 * MiB);
	assert_int_equal(e->moved_timed_out, 1);
	assert_string_equal(e->last_timed_out, "[\"g0\"]");
}

static void test_replans_do_not_extend_the_deadline(void **state)
{
	struct env *e = *state;
	add_guest(e, 0, 0, true);
	add_guest(e, 1, 0, false);
	add_guest(e, 2, 0, false);
	assert_true(run_until_fn(&e->loop, all_up, e, 5000));
	/* Long enough for at least five replans on a busy machine too. */
	const unsigned deadline_ms = 1500;
	e->bd.conf.move_timeout_ms = deadline_ms;
	e->wait = true;
	e->t0 = 128 * MiB;
	e->t1 = 200 * MiB;
	bd_replan(&e->bd);
	/* While g0 is waited for, something else keeps changing: every
	 * 100 ms a BALLOON_CHANGE from g2 makes a replan, which yields the
	 * same plan; the deadline runs from g0's command all the same. */
	struct sent s = {e, 1, 200 * MiB};
	uint64_t start = uv_now(&e->loop);
	int replans = 0;
	while (!was_sent(&s) && uv_now(&e->loop) - start < 10000) {
		run_for(&e->loop, 100);
		char data[64];
		snprintf(data, sizeof(data), "{\"actual\": %llu}",
			 (unsigned long long)(256 - replans % 2) * MiB);
		fakeqmp_send_event(e->fake[2], "BALLOON_CHANGE", data);
		replans++;
	}
	assert_true(was_sent(&s));
	double gap = (double)(balloon_at(e, 1, 200 * MiB) -
			      balloon_at(e, 0, 128 * MiB)) /
		     1e6;
	assert_true(gap >= deadline_ms - DEADLINE_SLACK_MS);
	assert_true(gap < deadline_ms + 1400);
	assert_true(replans >= 5);
	assert_int_equal(e->moved_timed_out, 1);
}

static void test_a_removed_guest_is_not_waited_for(void **state)
{
	struct env *e = *state;
	add_guest(e, 0, 0, true);
	add_guest(e, 1, 0, false);
	assert_true(run_until_fn(&e->loop, all_up, e, 5000));
	/* A deadline that a held-off process cannot reach by accident. */
	e->bd.conf.move_timeout_ms = 5000;
	e->wait = true;
	e->t0 = 128 * MiB;
	e->t1 = 200 * MiB;
	bd_replan(&e->bd);
	struct sent s0 = {e, 0, 128 * MiB};
	assert_true(run_until_fn(&e->loop, was_sent, &s0, 5000));
	run_for(&e->loop, 50);
	assert_true(bd_exec_waiting(&e->bd));
	/* g0 goes away while its step waits: the plan goes on at once, long
	 * before g0's move deadline. */
	uint64_t t = uv_hrtime();
	bd_guest_remove(e->g[0]);
	e->g[0] = NULL;
	assert_false(bd_exec_waiting(&e->bd));
	struct sent s1 = {e, 1, 200 * MiB};
	assert_true(run_until_fn(&e->loop, was_sent, &s1, 5000));
	assert_true(balloon_at(e, 1, 200 * MiB) - t < 2000 * 1000000ULL);
	assert_int_equal(e->moved_timed_out, 0);
}

/* ---- the balloon moved behind balloond's back ---- */

/* How many `balloon` commands with this value reached fake i. */
static size_t balloons_of(struct env *e, int i, uint64_t value)
{
	size_t n = 0;
	for (size_t k = 0; k < fakeqmp_ncommands(e->fake[i]); k++) {
		const struct fakeqmp_cmd *c = fakeqmp_command(e->fake[i], k);
		json_object *v;
		n += strcmp(c->execute, "balloon") == 0 && c->arguments &&
		     json_object_object_get_ex(c->arguments, "value", &v) &&
		     (uint64_t)json_object_get_int64(v) == value;
	}
	return n;
}

struct guest_bytes {
	struct bd_guest *g;
	uint64_t bytes;
};

static bool is_acked(void *arg)
{
	struct guest_bytes *a = arg;
	return a->g->link.set_bytes == a->bytes && !a->g->act.inflight_bytes;
}

struct sent_n {
	struct env *e;
	int i;
	uint64_t value;
	size_t n;
};

static bool sent_n_times(void *arg)
{
	struct sent_n *s = arg;
	return balloons_of(s->e, s->i, s->value) >= s->n;
}

struct at {
	struct fakeqmp *fake;
	uint64_t bytes;
};

static bool fake_at(void *arg)
{
	struct at *a = arg;
	return fakeqmp_actual(a->fake) == a->bytes;
}

static bool seen_actual(void *arg)
{
	struct guest_bytes *a = arg;
	return a->g->link.actual_bytes == a->bytes;
}

/* A BALLOON_CHANGE from fake i, and the loop run until g saw it. */
static void report(struct env *e, int i, uint64_t actual)
{
	char data[64];
	snprintf(data, sizeof(data), "{\"actual\": %llu}",
		 (unsigned long long)actual);
	assert_int_equal(fakeqmp_send_event(e->fake[i], "BALLOON_CHANGE", data),
			 0);
	struct guest_bytes a = {e->g[i], actual};
	assert_true(run_until_fn(&e->loop, seen_actual, &a, 5000));
}

static int64_t status_foreign_moves(const struct bd_guest *g)
{
	json_object *st = bd_guest_status(g), *v;
	int64_t n = -1;
	if (json_object_object_get_ex(st, "foreign_moves", &v))
		n = json_object_get_int64(v);
	json_object_put(st);
	return n;
}

/* A may-be-leader at its max, acknowledged long ago; another monitor
 * lowers its balloon to 128 MiB. */
static void test_a_foreign_shrink_is_undone(void **state)
{
	struct env *e = *state;
	e->bd.decide = NULL; /* the real policy */
	new_fake(e, 0, 50);
	register_guest(e, 0, "pg", 0);
	struct guest_bytes max = {e->g[0], 256 * MiB};
	assert_true(run_until_fn(&e->loop, is_acked, &max, 5000));
	assert_int_equal(balloons_of(e, 0, 256 * MiB), 1);
	assert_int_equal(status_foreign_moves(e->g[0]), 0);

	assert_int_equal(fakeqmp_balloon(e->fake[0], 128 * MiB), 0);
	struct sent_n again = {e, 0, 256 * MiB, 2};
	assert_true(run_until_fn(&e->loop, sent_n_times, &again, 5000));
	assert_int_equal(e->foreign_events, 1);
	assert_int_equal(e->foreign_target, 256 * MiB);
	assert_int_equal(e->foreign_actual, 128 * MiB);
	assert_int_equal(status_foreign_moves(e->g[0]), 1);
	assert_int_equal(status_foreign_moves(e->g[0]), 1);
	/* Back at its max, and its way back up is balloond's own move. */
	struct at back = {e->fake[0], 256 * MiB};
	assert_true(run_until_fn(&e->loop, fake_at, &back, 5000));
	assert_true(run_until_fn(&e->loop, is_acked, &max, 5000));
	run_for(&e->loop, 200);
	assert_int_equal(e->foreign_events, 1);
	assert_int_equal(balloons_of(e, 0, 256 * MiB), 2);
}

/* A guest being grown from 128 to 256 MiB reports 128..256 on the way up:
 * balloond's own move. Lowered on the way up, it is not. */
static void test_a_grow_in_progress_is_not_foreign(void **state)
{
	struct env *e = *state;
	e->bd.decide = NULL;
	/* Another monitor left the guest at 128 MiB, and its driver is
	 * busy ("stuck"): the reports on the way up are sent by hand. */
	new_fake(e, 0, 0);
	assert_int_equal(fakeqmp_balloon(e->fake[0], 128 * MiB), 0);
	uv_run(&e->loop, UV_RUN_NOWAIT); /* its move timer (0 ms) */
	assert_int_equal(fakeqmp_actual(e->fake[0]), 128 * MiB);
	assert_int_equal(fakeqmp_set_mode(e->fake[0], "stuck"), 0);
	register_guest(e, 0, "pg", 0);
	struct guest_bytes max = {e->g[0], 256 * MiB};
	assert_true(run_until_fn(&e->loop, is_acked, &max, 5000));
	assert_int_equal(e->g[0]->link.actual_bytes, 128 * MiB);

	/* On the way up, at once (well within QEMU's two-second window). */
	report(e, 0, 150 * MiB);
	report(e, 0, 200 * MiB);
	report(e, 0, 240 * MiB);
	assert_int_equal(e->foreign_events, 0);
	/* Then another monitor lowers it on its way up. */
	report(e, 0, 180 * MiB);
	assert_int_equal(e->foreign_events, 1);
	assert_int_equal(e->foreign_actual, 180 * MiB);
	struct sent_n again = {e, 0, 256 * MiB, 2};
	assert_true(run_until_fn(&e->loop, sent_n_times, &again, 5000));
	assert_true(run_until_fn(&e->loop, is_acked, &max, 5000));
	/* QEMU's report held back by its rate limit: the balloon went on
	 * down a little before the guest saw the target again. That, and
	 * the way back up, are not another move. */
	report(e, 0, 170 * MiB);
	report(e, 0, 230 * MiB);
	report(e, 0, 256 * MiB);
	assert_int_equal(e->foreign_events, 1);
	assert_int_equal(status_foreign_moves(e->g[0]), 1);
}

/* Before the guest driver loads, QEMU reports the full RAM and keeps the
 * target for later: the driver carrying out balloond's target is
 * balloond's move; carrying out another monitor's lower one is not. */
static void test_a_late_driver_carries_out_the_last_target(void **state)
{
	struct env *e = *state;
	e->bd.decide = NULL;
	for (int i = 0; i < 2; i++) {
		new_fake(e, i, 50);
		assert_int_equal(fakeqmp_set_mode(e->fake[i], "stuck"), 0);
	}
	register_guest(e, 0, NULL, 128 * MiB); /* pinned */
	register_guest(e, 1, "pg", 0);	       /* may be the leader */
	struct guest_bytes pin = {e->g[0], 128 * MiB},
			   max = {e->g[1], 256 * MiB};
	assert_true(run_until_fn(&e->loop, is_acked, &pin, 5000));
	assert_true(run_until_fn(&e->loop, is_acked, &max, 5000));
	assert_int_equal(fakeqmp_balloon(e->fake[1], 128 * MiB), 0);

	assert_int_equal(fakeqmp_set_mode(e->fake[0], "stuck=0"), 0);
	struct at pinned = {e->fake[0], 128 * MiB};
	assert_true(run_until_fn(&e->loop, fake_at, &pinned, 5000));
	struct guest_bytes seen = {e->g[0], 128 * MiB};
	assert_true(run_until_fn(&e->loop, seen_actual, &seen, 5000));
	assert_int_equal(e->foreign_events, 0);

	assert_int_equal(fakeqmp_set_mode(e->fake[1], "stuck=0"), 0);
	struct sent_n again = {e, 1, 256 * MiB, 2};
	assert_true(run_until_fn(&e->loop, sent_n_times, &again, 5000));
	assert_int_equal(e->foreign_events, 1);
	assert_int_equal(status_foreign_moves(e->g[1]), 1);
	assert_int_equal(status_foreign_moves(e->g[0]), 0);
	struct at back = {e->fake[1], 256 * MiB};
	assert_true(run_until_fn(&e->loop, fake_at, &back, 5000));
}

/* ---- the registry: ages on the monotonic clock ---- */

static int64_t fake_wall, fake_mono;
static int64_t fake_wall_us(void)
{
	return fake_wall;
}
static int64_t fake_mono_us(void)
{
	return fake_mono;
}

static void test_role_age_is_monotonic(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	bd->clock = (struct bd_clock){fake_wall_us, fake_mono_us};
	fake_wall = INT64_C(1800000000) * 1000000;
	fake_mono = INT64_C(1000) * 1000000;
	struct bd_guest_spec spec = {.min_bytes = 96 * MiB};
	snprintf(spec.name, sizeof(spec.name), "pg1");
	snprintf(spec.qmp_path, sizeof(spec.qmp_path), "%s/none.qmp", e->dir);
	snprintf(spec.cluster, sizeof(spec.cluster), "pg");
	snprintf(spec.member, sizeof(spec.member), "pg1");
	struct bd_guest *g = bd_guest_add(bd, &spec);
	assert_non_null(g);
	assert_int_equal(bd_role_push(bd, "pg", "pg1", "master", NULL), 1);
	assert_int_equal(g->role, POLICY_ROLE_LEADER);

	/* Five seconds pass while the wall clock is stepped back a day
	 * (NTP, an admin's date): the role is five seconds old. */
	fake_mono += 5 * 1000000;
	fake_wall -= INT64_C(86400) * 1000000;
	json_object *st = bd_guest_status(g);
	json_object *age;
	assert_true(json_object_object_get_ex(st, "role_age_ms", &age));
	assert_int_equal(json_object_get_int64(age), 5000);
	json_object_put(st);

	/* And stepped forward two days: still five and a half. */
	fake_mono += 500000;
	fake_wall += INT64_C(2 * 86400) * 1000000;
	st = bd_guest_status(g);
	assert_true(json_object_object_get_ex(st, "role_age_ms", &age));
	assert_int_equal(json_object_get_int64(age), 5500);
	json_object_put(st);

	/* A new leader elsewhere makes the old one "unknown" (fail-open). */
	spec.member[2] = '2';
	spec.name[2] = '2';
	snprintf(spec.qmp_path, sizeof(spec.qmp_path), "%s/none2.qmp", e->dir);
	struct bd_guest *g2 = bd_guest_add(bd, &spec);
	assert_non_null(g2);
	assert_int_equal(bd_role_push(bd, "pg", "pg2", "primary", NULL), 1);
	assert_int_equal(g2->role, POLICY_ROLE_LEADER);
	assert_int_equal(g->role, POLICY_ROLE_UNKNOWN);
	assert_int_equal(bd_role_push(bd, "pg", "nobody", "replica", NULL), 0);
	bd->clock = bd_clock_real;
}

/* A guest added to the registry only: no link is started. */
static struct bd_guest *add_unlinked_guest(struct env *e, const char *name)
{
	struct bd_guest_spec spec = {.min_bytes = 96 * MiB};
	snprintf(spec.name, sizeof(spec.name), "%s", name);
	snprintf(spec.qmp_path, sizeof(spec.qmp_path), "%s/none.qmp", e->dir);
	struct bd_guest *g = bd_guest_add(&e->bd, &spec);
	assert_non_null(g);
	return g;
}

/* The last action and error are kept in the guest when short and
 * allocated when long: status says them exactly either way, up to
 * BD_GUEST_TEXT_MAX - 1 bytes. */
static void test_guest_texts(void **state)
{
	struct env *e = *state;
	struct bd_guest *g = add_unlinked_guest(e, "texts");
	char longest[BD_GUEST_TEXT_MAX + 40];
	memset(longest, 'x', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	/* Around the inline size, at the limit, and past it (truncated). */
	const size_t lens[] = {0,
			       1,
			       BD_GUEST_TEXT_INLINE - 1,
			       BD_GUEST_TEXT_INLINE,
			       BD_GUEST_TEXT_MAX - 1,
			       BD_GUEST_TEXT_MAX,
			       sizeof(longest) - 1,
			       5};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t want = lens[i] < BD_GUEST_TEXT_MAX
				  ? lens[i]
				  : BD_GUEST_TEXT_MAX - 1;
		bd_guest_note(g, "%.*s", (int)lens[i], longest);
		bd_guest_set_error(g, "%.*s", (int)lens[i], longest);
		json_object *st = bd_guest_status(g);
		json_object *v;
		assert_true(json_object_object_get_ex(st, "last_action", &v));
		assert_int_equal(json_object_get_string_len(v), want);
		assert_memory_equal(json_object_get_string(v), longest, want);
		assert_int_equal(strlen(bd_guest_error(g)), want);
		assert_memory_equal(bd_guest_error(g), longest, want);
		/* status leaves out an error that is not there */
		assert_int_equal(
		    json_object_object_get_ex(st, "last_error", &v), want > 0);
		/* Short texts take no allocation. */
		assert_int_equal(g->why.last_error.heap != NULL,
				 want >= BD_GUEST_TEXT_INLINE);
		json_object_put(st);
	}
	bd_guest_set_error(g, "%s", longest);
	bd_guest_clear_error(g);
	assert_string_equal(bd_guest_error(g), "");
	assert_null(g->why.last_error.heap);
	bd_guest_set_error(g, "QMP: %s", "not connected to QEMU");
	assert_string_equal(bd_guest_error(g), "QMP: not connected to QEMU");
	bd_guest_set_error(g, "%s", longest); /* freed with the guest */
}

static bool link_retried(void *arg)
{
	return ((struct bd_guest *)arg)->link.retry_due_ms == 0;
}
static bool act_retried(void *arg)
{
	return ((struct bd_guest *)arg)->act.state == BD_ACT_IDLE;
}

/* One timer serves both backoffs of a guest: each fires at its own time,
 * whichever was armed first, and a cancelled one not at all. */
static void test_one_timer_for_both_backoffs(void **state)
{
	struct env *e = *state;
	struct bd_guest *g = add_unlinked_guest(e, "timers");
	assert_false(uv_is_active((uv_handle_t *)&g->timer));
	/* The later one is far enough behind that a process held off the
	 * CPU between the two (a busy machine, valgrind) still sees them
	 * apart; a gap of 40 ms once did not. */
	const uint64_t link_ms = 20;
	const uint64_t act_ms = link_ms + 400 * test_time_scale();
	uv_update_time(&e->loop);
	uint64_t t0 = uv_now(&e->loop);
	g->act.state = BD_ACT_BACKOFF;
	bd_guest_wake(g, &g->act.retry_due_ms, act_ms);
	bd_guest_wake(g, &g->link.retry_due_ms, link_ms); /* the earlier */
	assert_true(uv_is_active((uv_handle_t *)&g->timer));
	assert_true(uv_timer_get_due_in(&g->timer) <= link_ms);

	assert_true(run_until_fn(&e->loop, link_retried, g, 5000));
	assert_true(uv_now(&e->loop) - t0 >= link_ms);
	assert_int_equal(g->act.state, BD_ACT_BACKOFF); /* not yet */
	assert_int_equal(g->act.retry_due_ms, t0 + act_ms);
	assert_true(uv_is_active((uv_handle_t *)&g->timer));

	assert_true(run_until_fn(&e->loop, act_retried, g, 5000));
	assert_true(uv_now(&e->loop) - t0 >= act_ms);
	assert_int_equal(g->act.retry_due_ms, 0);
	assert_false(uv_is_active((uv_handle_t *)&g->timer));

	/* Cancelled: the timer stops, or stays for the other only. */
	bd_guest_wake(g, &g->link.retry_due_ms, 30000);
	bd_guest_wake(g, &g->act.retry_due_ms, 10);
	bd_guest_wake(g, &g->act.retry_due_ms, 0);
	assert_true(uv_timer_get_due_in(&g->timer) > 10);
	bd_guest_wake(g, &g->link.retry_due_ms, 0);
	assert_false(uv_is_active((uv_handle_t *)&g->timer));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_no_wait_goes_on_at_the_ack,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_waits_for_a_slow_guest, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_gives_up_on_a_stuck_guest,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_replans_do_not_extend_the_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_removed_guest_is_not_waited_for, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_foreign_shrink_is_undone,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_grow_in_progress_is_not_foreign, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_late_driver_carries_out_the_last_target, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_role_age_is_monotonic, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_guest_texts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_timer_for_both_backoffs,
					    setup, teardown),
	};
	return cmocka_run_group_tests_name("exec", tests, NULL, NULL);
}
