/*
 * test-actuator.c: the actuator seam (daemon/actuator.h). A test
 * actuator stands in for the virtio-balloon: no QEMU and no QMP link,
 * only the operations the executor may use. A plan goes in (a scripted
 * policy), and the test checks that the executor carries it out through
 * the seam alone: set for each action, in step order; query and moved
 * while a wait_moved step waits for a device that moves slowly; the
 * answers taken as the guest's state; the events that report it; and a
 * refused command retried after its backoff, the planner seeing that
 * backoff as an explicit state.
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

#include "daemon/actuator.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "tests/lib/fakeqmp.h"
#include "tests/lib/timescale.h"

#define MiB    (UINT64_C(1) << 20)
#define NG     2
#define RAM    (1024 * MiB)
#define STEP   (128 * MiB) /* how far the test device moves per query */
#define MAXLOG 64

/* The test device: what it was told and where it is. */
struct dev {
	uint64_t target; /* 0: never set */
	uint64_t actual;
	int refuse;	/* answer this many sets with an error */
	int refuse_now; /* fail this many sets before sending */
	/* After answering a set with an error, stop the whole process this
	 * long, as a busy machine may between two loop phases. */
	unsigned stall_ms;
};

struct pending {
	struct bd_guest *g;
	uint64_t target;
	bd_act_done_fn done;
	bd_act_query_fn query_done;
};

struct env {
	uv_loop_t loop;
	struct bd bd;
	char dir[64];
	struct bd_guest *g[NG];
	struct dev dev[NG];
	struct bd_subscriber sub;
	/* Answers are given on a later loop turn, as a device's are. */
	uv_idle_t answer;
	struct pending queue[MAXLOG];
	size_t n_queue;
	/* What the actuator was asked, in order. */
	int sets, queries, moved_calls;
	int set_guest[MAXLOG];
	uint64_t set_target[MAXLOG];
	/* Events. */
	int commands, commands_ok, commands_failed_sync, command_errors;
	int moved_events, moved_timed_out;
	char last_error[128];
	/* The scripted plan: step 0 moves g0 to t0 and waits for it, step 1
	 * moves g1 to t1. */
	uint64_t t0, t1;
	/* What the policy was told of g0 at the last plan. */
	bool g0_link_up_seen;
	int plans;
};

static struct env *the_env; /* for the actuator and the policy */

static int dev_index(const struct bd_guest *g)
{
	for (int i = 0; i < NG; i++)
		if (the_env->g[i] == g)
			return i;
	fail_msg("a guest the test did not add");
	return -1;
}

static void answer_cb(uv_idle_t *h)
{
	struct env *e = h->data;
	struct pending q[MAXLOG];
	size_t n = e->n_queue;
	memcpy(q, e->queue, n * sizeof(*q));
	e->n_queue = 0;
	uv_idle_stop(&e->answer);
	for (size_t i = 0; i < n; i++) {
		struct dev *d = &e->dev[dev_index(q[i].g)];
		if (q[i].query_done) {
			/* Each query finds the device a step nearer. */
			if (d->target && d->actual > d->target)
				d->actual = d->actual - d->target > STEP
						? d->actual - STEP
						: d->target;
			else if (d->target && d->actual < d->target)
				d->actual = d->target - d->actual > STEP
						? d->actual + STEP
						: d->target;
			q[i].query_done(q[i].g, 0, d->actual);
			continue;
		}
		struct bd_act_result r = {0};
		if (d->refuse > 0) {
			d->refuse--;
			r = (struct bd_act_result){.err = -EBUSY,
						   .error = "busy",
						   .detail =
						       "the device is busy",
						   .retry = true};
		} else {
			d->target = q[i].target;
		}
		q[i].done(q[i].g, q[i].target, &r);
		if (r.err && d->stall_ms)
			usleep(d->stall_ms * 1000);
	}
}

static void enqueue(struct env *e, struct pending p)
{
	assert_true(e->n_queue < MAXLOG);
	e->queue[e->n_queue++] = p;
	uv_idle_start(&e->answer, answer_cb);
}

static int test_set(struct bd_guest *g, uint64_t target, bd_act_done_fn done)
{
	struct env *e = the_env;
	int i = dev_index(g);
	if (e->dev[i].refuse_now > 0) {
		e->dev[i].refuse_now--;
		return -EIO;
	}
	assert_true(e->sets < MAXLOG);
	e->set_guest[e->sets] = i;
	e->set_target[e->sets] = target;
	e->sets++;
	enqueue(e, (struct pending){.g = g, .target = target, .done = done});
	return 0;
}

static int test_query(struct bd_guest *g, bd_act_query_fn done)
{
	the_env->queries++;
	enqueue(the_env, (struct pending){.g = g, .query_done = done});
	return 0;
}

static bool test_moved(const struct bd_guest *g, uint64_t target,
		       uint64_t tolerance_bytes)
{
	the_env->moved_calls++;
	/* The executor judges by what the link last heard: the answers of
	 * this actuator's queries. */
	uint64_t a = g->link.actual_bytes;
	return (a > target ? a - target : target - a) <= tolerance_bytes;
}

static const char *test_strerror(int err)
{
	return err == -EIO ? "test device: I/O error" : strerror(-err);
}

static const struct bd_actuator_ops test_ops = {
    .name = "test",
    .command = "testset",
    .unit = "bytes",
    .granularity_bytes = 4096,
    .set = test_set,
    .query = test_query,
    .moved = test_moved,
    .strerror = test_strerror,
};

static int scripted_decide(const struct policy_input *in,
			   struct policy_decision *d, struct policy_plan *plan)
{
	struct env *e = the_env;
	plan->n_actions = plan->n_steps = 0;
	e->plans++;
	size_t i0 = SIZE_MAX, i1 = SIZE_MAX;
	for (size_t i = 0; i < in->n_guests; i++) {
		d[i] = (struct policy_decision){.reason = "scripted"};
		if (strcmp(in->guests[i].name, "g0") == 0)
			i0 = i;
		if (strcmp(in->guests[i].name, "g1") == 0)
			i1 = i;
	}
	if (i0 != SIZE_MAX)
		e->g0_link_up_seen = in->guests[i0].link_up;
	/* As the policy does: a guest that cannot be moved now gets no
	 * action. */
	if (!e->t0 || i0 == SIZE_MAX || i1 == SIZE_MAX ||
	    !in->guests[i0].link_up)
		return 0;
	plan->actions[0] = (struct policy_action){i0, e->t0};
	plan->actions[1] = (struct policy_action){i1, e->t1};
	plan->n_actions = 2;
	plan->steps[0] = (struct policy_step){0, 1, true};
	plan->steps[1] = (struct policy_step){1, 1, false};
	plan->n_steps = 2;
	return 0;
}

static void on_event(struct bd *bd, const struct bd_event *ev, void *arg)
{
	struct env *e = arg;
	json_object *v;
	if (strcmp(ev->name, "command") == 0)
		e->commands++;
	if (strcmp(ev->name, "command_failed") == 0) {
		e->commands_failed_sync++;
		if (json_object_object_get_ex(ev->data, "error", &v))
			snprintf(e->last_error, sizeof(e->last_error), "%s",
				 json_object_get_string(v));
	}
	if (strcmp(ev->name, "command_done") == 0) {
		if (json_object_object_get_ex(ev->data, "error", &v)) {
			e->command_errors++;
			snprintf(e->last_error, sizeof(e->last_error), "%s",
				 json_object_get_string(v));
		} else {
			e->commands_ok++;
		}
	}
	if (strcmp(ev->name, "moved") == 0) {
		e->moved_events++;
		if (json_object_object_get_ex(ev->data, "timed_out", &v))
			e->moved_timed_out++;
	}
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	alarm(60 * test_time_scale());
	strcpy(e->dir, "/tmp/acttest.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(uv_loop_init(&e->loop), 0);
	bd_log_setup(LOG_WARNING, true);
	uv_idle_init(&e->loop, &e->answer);
	e->answer.data = e;

	struct bd *bd = &e->bd;
	bd->loop = &e->loop;
	bd->clock = bd_clock_real;
	bd_conf_defaults(&bd->conf);
	snprintf(bd->conf.state_dir, sizeof(bd->conf.state_dir), "%s", e->dir);
	bd->conf.stats_interval_s = 0;
	bd->conf.move_poll_ms = 10;
	bd->conf.move_timeout_ms = 10000 * test_time_scale();
	bd->conf.move_tolerance_bytes = 4 * MiB;
	bd->decide = scripted_decide;
	bd->actuator = &test_ops;
	the_env = e;
	bd_plan_init(bd);
	assert_int_equal(bd_exec_init(bd), 0);
	e->sub = (struct bd_subscriber){.fn = on_event, .arg = e};
	bd_events_subscribe(bd, &e->sub);

	/* Two guests whose links the test declares up: the actuator's
	 * queries are the only source of their sizes. */
	for (int i = 0; i < NG; i++) {
		struct bd_guest_spec spec = {.min_bytes = 256 * MiB};
		snprintf(spec.name, sizeof(spec.name), "g%d", i);
		snprintf(spec.qmp_path, sizeof(spec.qmp_path), "%s/g%d", e->dir,
			 i);
		struct bd_guest *g = bd_guest_add(bd, &spec);
		assert_non_null(g);
		assert_ptr_equal(g->act.ops, &test_ops);
		char msg[200];
		assert_null(bd_guest_set_bounds(g, RAM, msg, sizeof(msg)));
		g->link.state = BD_LINK_UP;
		g->link.actual_known = true;
		g->link.actual_bytes = RAM;
		e->dev[i].actual = RAM;
		e->g[i] = g;
	}
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	bd_guest_foreach (g, bd)
		bd_guest_remove(g);
	bd_plan_close(bd);
	bd_exec_close(bd);
	uv_close((uv_handle_t *)&e->answer, NULL);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	int rc = uv_loop_close(&e->loop);
	free(bd->index);
	rmdir(e->dir);
	free(e);
	return rc == 0 ? 0 : -1;
}

static bool plan_done(void *arg)
{
	struct env *e = arg;
	return e->g[0]->link.set_bytes == e->t0 &&
	       e->g[1]->link.set_bytes == e->t1 && e->moved_events > 0 &&
	       !bd_exec_waiting(&e->bd) && e->n_queue == 0;
}

/* A plan goes in; the executor sets g0, waits (querying) until the test
 * device reached it, says so, then sets g1. */
static void test_a_plan_through_the_seam(void **state)
{
	struct env *e = *state;
	e->t0 = 512 * MiB;
	e->t1 = 768 * MiB;
	bd_replan(&e->bd);
	assert_true(run_until_fn(&e->loop, plan_done, e, 5000));

	/* set: g0 first, g1 only after g0 moved. */
	assert_int_equal(e->sets, 2);
	assert_int_equal(e->set_guest[0], 0);
	assert_int_equal(e->set_target[0], 512 * MiB);
	assert_int_equal(e->set_guest[1], 1);
	assert_int_equal(e->set_target[1], 768 * MiB);
	/* query and moved: 1024 to 512 MiB is four steps of the device. */
	assert_true(e->queries >= 4);
	assert_true(e->moved_calls >= 4);
	assert_int_equal(e->dev[0].actual, 512 * MiB);
	assert_int_equal(e->g[0]->link.actual_bytes, 512 * MiB);
	/* The executor reported: each command, each answer, the move. */
	assert_int_equal(e->commands, 2);
	assert_int_equal(e->commands_ok, 2);
	assert_int_equal(e->command_errors, 0);
	assert_int_equal(e->moved_timed_out, 0);
	assert_true(e->moved_events >= 1);
	assert_int_equal(e->g[0]->act.state, BD_ACT_IDLE);
	assert_int_equal(e->g[0]->act.inflight_bytes, 0);
	assert_string_equal(bd_guest_text(&e->g[1]->why.last_action),
			    "set target 768 MiB (was 1 GiB)");
}

static bool set_again(void *arg)
{
	struct env *e = arg;
	return e->sets >= 2 && e->g[0]->link.set_bytes == e->t0;
}

static bool in_backoff(void *arg)
{
	struct env *e = arg;
	return e->g[0]->act.state == BD_ACT_BACKOFF;
}

/* A refused command: said, backed off (the planner sees the guest as not
 * movable meanwhile), then sent again. */
static void refused_set_retried(struct env *e, unsigned stall_ms)
{
	e->dev[0].refuse = 1;
	e->dev[0].stall_ms = stall_ms;
	e->t0 = 640 * MiB;
	e->t1 = 768 * MiB;
	bd_replan(&e->bd);
	assert_true(run_until_fn(&e->loop, in_backoff, e, 5000));
	assert_int_equal(e->command_errors, 1);
	assert_string_equal(e->last_error, "busy");
	assert_string_equal(bd_guest_error(e->g[0]),
			    "testset 640 MiB: the device is busy");
	assert_int_equal(e->g[0]->act.retry_ms, BD_RETRY_MIN_MS);
	/* A replan during the backoff: the policy is told the guest cannot
	 * be moved now, and status says why. */
	int plans = e->plans;
	bd_replan(&e->bd);
	bd_replan_now(&e->bd);
	assert_int_equal(e->plans, plans + 1);
	assert_false(e->g0_link_up_seen);
	assert_string_equal(e->g[0]->why.reason,
			    "waiting to retry a failed command");
	/* The retry timer replans and the command goes again. */
	assert_true(run_until_fn(&e->loop, set_again, e, 5000));
	assert_int_equal(e->set_target[1], 640 * MiB);
	assert_true(run_until_fn(&e->loop, plan_done, e, 5000));
	assert_true(e->g0_link_up_seen);
	assert_int_equal(e->g[0]->act.retry_ms, 0);
	assert_string_equal(bd_guest_error(e->g[0]), "");
}

static void test_a_refused_set_is_retried(void **state)
{
	refused_set_retried(*state, 0);
}

/* The same when the process stalls for longer than the backoff right
 * after the refusal (the retry is due before the loop runs again): the
 * test still sees the backoff, which once made it fail under valgrind on
 * a busy machine. */
static void test_a_refused_set_is_retried_after_a_stall(void **state)
{
	refused_set_retried(*state, 2 * BD_RETRY_MIN_MS);
}

static bool g1_set(void *arg)
{
	struct env *e = arg;
	return e->g[1]->link.set_bytes == e->t1 && e->n_queue == 0;
}

/* A set the actuator cannot even send: command_failed, with the
 * actuator's own words; the step does not wait for a guest that was never
 * told (its move is late at once, and said), and the next goes on. */
static void test_a_set_not_sent_is_said(void **state)
{
	struct env *e = *state;
	e->dev[0].refuse_now = 1;
	e->t0 = 512 * MiB;
	e->t1 = 768 * MiB;
	bd_replan(&e->bd);
	assert_true(run_until_fn(&e->loop, g1_set, e, 5000));
	assert_int_equal(e->commands_failed_sync, 1);
	assert_string_equal(e->last_error, "test device: I/O error");
	assert_string_equal(bd_guest_error(e->g[0]),
			    "testset: test device: I/O error");
	assert_int_equal(e->sets, 1);
	assert_int_equal(e->set_guest[0], 1);
	assert_int_equal(e->moved_timed_out, 1);
	assert_int_equal(e->g[0]->link.set_bytes, 0);
}

/* The table: the balloon is the first (the default), found by name. */
static void test_the_table(void **state)
{
	assert_ptr_equal(bd_actuators[0], &bd_balloon_ops);
	assert_ptr_equal(bd_actuator_find("virtio-balloon"), &bd_balloon_ops);
	assert_null(bd_actuator_find("test"));
	for (size_t i = 0; bd_actuators[i]; i++) {
		const struct bd_actuator_ops *o = bd_actuators[i];
		assert_non_null(o->set);
		assert_non_null(o->query);
		assert_non_null(o->moved);
		assert_non_null(o->strerror);
		assert_string_equal(o->unit, "bytes");
		assert_true(o->granularity_bytes > 0);
	}
	/* A guest added without a choice gets the default. */
	struct env *e = *state;
	e->bd.actuator = NULL;
	struct bd_guest_spec spec = {.min_bytes = 256 * MiB};
	snprintf(spec.name, sizeof(spec.name), "dflt");
	snprintf(spec.qmp_path, sizeof(spec.qmp_path), "%s/dflt", e->dir);
	struct bd_guest *g = bd_guest_add(&e->bd, &spec);
	assert_non_null(g);
	assert_ptr_equal(g->act.ops, &bd_balloon_ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_the_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_plan_through_the_seam, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_a_refused_set_is_retried,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_refused_set_is_retried_after_a_stall, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_set_not_sent_is_said, setup,
					    teardown),
	};
	return cmocka_run_group_tests_name("actuator", tests, NULL, NULL);
}
