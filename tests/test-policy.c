/* test-policy.c: policy_decide as a table: guests in, targets with their
 * reasons and the ordered plan out. Every case is also checked against the
 * safety invariants: no target outside [min, max], and a Patroni member
 * that is not a confirmed replica is never below its max. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"

#define GiB	   (UINT64_C(1) << 30)
#define MAX_GUESTS 4

/* A guest whose QMP link is up and whose actual size QEMU reported; a
 * non-Patroni guest counts as having its (absent) cluster defined, as the
 * daemon fills it. */
#define UP .link_up = true, .actual_known = true, .cluster_defined = true

struct want_decision {
	uint64_t target_bytes;
	const char *reason; /* a substring of the reason */
};

struct want_step {
	size_t first, count;
};

struct policy_case {
	const char *name;
	size_t n;
	struct policy_guest guests[MAX_GUESTS];
	uint64_t shrink_step_bytes;
	int rc;
	struct want_decision decisions[MAX_GUESTS];
	size_t n_actions;
	struct policy_action actions[MAX_GUESTS];
	size_t n_steps;
	struct want_step steps[POLICY_MAX_STEPS];
};

static const struct policy_case cases[] =
    {
	{
	    .name = "unpinned guest goes to max",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.actual_bytes = 6 * GiB,
			.set_bytes = 6 * GiB,
			UP}},
	    .decisions = {{8 * GiB, "at max"}},
	    .n_actions = 1,
	    .actions = {{0, 8 * GiB}},
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    .name = "at max and acknowledged: nothing to send",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 8 * GiB,
			.actual_bytes = 8 * GiB,
			.set_bytes = 8 * GiB,
			UP}},
	    .decisions = {{8 * GiB, "at max"}},
	},
	{
	    .name = "target not known on this link: sent again",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 8 * GiB,
			.actual_bytes = 8 * GiB,
			.set_bytes = 0,
			UP}},
	    .decisions = {{8 * GiB, "at max"}},
	    .n_actions = 1,
	    .actions = {{0, 8 * GiB}},
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    .name = "pinned within bounds: the pin (a shrink alone is step 0)",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.pin_bytes = 4 * GiB,
			.actual_bytes = 8 * GiB,
			.set_bytes = 8 * GiB,
			UP}},
	    .decisions = {{4 * GiB, "pinned by balloonctl set"}},
	    .n_actions = 1,
	    .actions = {{0, 4 * GiB}},
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    .name = "pin below min is clamped to min",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.pin_bytes = 1 * GiB,
			.actual_bytes = 2 * GiB,
			.set_bytes = 2 * GiB,
			UP}},
	    .decisions = {{2 * GiB, "pinned"}},
	},
	{
	    .name = "pin above max is clamped to max",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.pin_bytes = 16 * GiB,
			.actual_bytes = 4 * GiB,
			.set_bytes = 4 * GiB,
			UP}},
	    .decisions = {{8 * GiB, "pinned"}},
	    .n_actions = 1,
	    .actions = {{0, 8 * GiB}},
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    .name = "link down: left alone",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.pin_bytes = 4 * GiB,
			.actual_bytes = 8 * GiB,
			.actual_known = true,
			.link_up = false}},
	    .decisions = {{0, "QMP link down"}},
	},
	{
	    .name = "actual unknown: left alone",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.actual_bytes = 0,
			.link_up = true,
			.actual_known = false}},
	    .decisions = {{0, "actual size"}},
	},
	{
	    .name = "pinned Patroni member with unknown role: max",
	    .n = 1,
	    .guests = {{.name = "pg-a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.pin_bytes = 4 * GiB,
			.actual_bytes = 8 * GiB,
			.set_bytes = 8 * GiB,
			.role = POLICY_ROLE_UNKNOWN,
			UP}},
	    .decisions = {{8 * GiB, "may be the Patroni leader"}},
	},
	{
	    .name = "pinned leader grows back to max",
	    .n = 1,
	    .guests = {{.name = "pg-a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.pin_bytes = 4 * GiB,
			.actual_bytes = 4 * GiB,
			.set_bytes = 4 * GiB,
			.role = POLICY_ROLE_LEADER,
			UP}},
	    .decisions = {{8 * GiB, "may be the Patroni leader"}},
	    .n_actions = 1,
	    .actions = {{0, 8 * GiB}},
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    .name = "replica not confirmed by Patroni REST: max",
	    .n = 1,
	    .guests = {{.name = "pg-b",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.pin_bytes = 4 * GiB,
			.actual_bytes = 8 * GiB,
			.set_bytes = 8 * GiB,
			.role = POLICY_ROLE_REPLICA,
			.replica_confirmed = false,
			UP}},
	    .decisions = {{8 * GiB, "may be the Patroni leader"}},
	},
	{
	    .name = "cluster not defined in the config: max, with that reason",
	    .n = 1,
	    .guests = {{.name = "pg-b",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.pin_bytes = 4 * GiB,
			.actual_bytes = 4 * GiB,
			.set_bytes = 4 * GiB,
			.role = POLICY_ROLE_REPLICA,
			.replica_confirmed = true,
			.link_up = true,
			.actual_known = true,
			.cluster_defined = false}},
	    .decisions = {{8 * GiB, "cluster not defined"}},
	    .n_actions = 1,
	    .actions = {{0, 8 * GiB}},
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    .name = "confirmed replica pinned below max: the pin",
	    .n = 1,
	    .guests = {{.name = "pg-b",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.pin_bytes = 4 * GiB,
			.actual_bytes = 8 * GiB,
			.set_bytes = 8 * GiB,
			.role = POLICY_ROLE_REPLICA,
			.replica_confirmed = true,
			UP}},
	    .decisions = {{4 * GiB, "pinned by balloonctl set"}},
	    .n_actions = 1,
	    .actions = {{0, 4 * GiB}},
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    .name = "unpinned Patroni member: max",
	    .n = 1,
	    .guests = {{.name = "pg-c",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.actual_bytes = 8 * GiB,
			.set_bytes = 8 * GiB,
			.role = POLICY_ROLE_UNKNOWN,
			UP}},
	    .decisions = {{8 * GiB, "at max"}},
	},
	{
	    .name = "grows come in step 0, before shrinks in step 1",
	    .n = 3,
	    .guests =
		{
		    /* listed first, yet planned last */
		    {.name = "donor",
		     .max_bytes = 8 * GiB,
		     .min_bytes = 2 * GiB,
		     .pin_bytes = 2 * GiB,
		     .actual_bytes = 8 * GiB,
		     .set_bytes = 8 * GiB,
		     UP},
		    {.name = "plain",
		     .max_bytes = 8 * GiB,
		     .min_bytes = 2 * GiB,
		     .actual_bytes = 4 * GiB,
		     .set_bytes = 4 * GiB,
		     UP},
		    {.name = "leader",
		     .max_bytes = 16 * GiB,
		     .min_bytes = 4 * GiB,
		     .pin_bytes = 4 * GiB,
		     .actual_bytes = 4 * GiB,
		     .set_bytes = 4 * GiB,
		     .role = POLICY_ROLE_LEADER,
		     UP},
		},
	    .decisions = {{2 * GiB, "pinned"},
			  {8 * GiB, "at max"},
			  {16 * GiB, "may be the Patroni leader"}},
	    .n_actions = 3,
	    .actions = {{1, 8 * GiB}, {2, 16 * GiB}, {0, 2 * GiB}},
	    .n_steps = 2,
	    .steps = {{0, 2}, {2, 1}},
	},
	{
	    .name = "set_bytes equal to the decided target: no action",
	    .n = 2,
	    .guests =
		{
		    {.name = "a",
		     .max_bytes = 8 * GiB,
		     .min_bytes = 2 * GiB,
		     .pin_bytes = 3 * GiB,
		     .actual_bytes = 5 * GiB, /* moving */
		     .set_bytes = 3 * GiB,
		     UP},
		    {.name = "b",
		     .max_bytes = 8 * GiB,
		     .min_bytes = 2 * GiB,
		     .actual_bytes = 7 * GiB,
		     .set_bytes = 8 * GiB,
		     UP},
		},
	    .decisions = {{3 * GiB, "pinned"}, {8 * GiB, "at max"}},
	},
	{
	    .name = "shrink_step bounds a shrink",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.pin_bytes = 2 * GiB,
			.actual_bytes = 8 * GiB,
			.set_bytes = 8 * GiB,
			UP}},
	    .shrink_step_bytes = 1 * GiB,
	    .decisions = {{2 * GiB, "pinned"}}, /* the goal... */
	    .n_actions = 1,
	    .actions = {{0, 7 * GiB}}, /* ...one step at a time */
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    .name = "shrink_step larger than the shrink: one step",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.pin_bytes = 6 * GiB,
			.actual_bytes = 8 * GiB,
			.set_bytes = 8 * GiB,
			UP}},
	    .shrink_step_bytes = 4 * GiB,
	    .decisions = {{6 * GiB, "pinned"}},
	    .n_actions = 1,
	    .actions = {{0, 6 * GiB}},
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    .name = "bounded step already acknowledged: wait for actual",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.pin_bytes = 2 * GiB,
			.actual_bytes = 8 * GiB,
			.set_bytes = 7 * GiB,
			UP}},
	    .shrink_step_bytes = 1 * GiB,
	    .decisions = {{2 * GiB, "pinned"}},
	},
	{
	    .name = "above a lowered max: straight to max, whatever the step",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.actual_bytes = 16 * GiB,
			.set_bytes = 0,
			UP}},
	    .shrink_step_bytes = 1 * GiB,
	    .decisions = {{8 * GiB, "at max"}},
	    .n_actions = 1,
	    .actions = {{0, 8 * GiB}},
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    .name = "shrink_step never bounds a grow",
	    .n = 1,
	    .guests = {{.name = "a",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.actual_bytes = 2 * GiB,
			.set_bytes = 2 * GiB,
			UP}},
	    .shrink_step_bytes = 1 * GiB,
	    .decisions = {{8 * GiB, "at max"}},
	    .n_actions = 1,
	    .actions = {{0, 8 * GiB}},
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    .name = "guests left alone do not disturb the others",
	    .n = 3,
	    .guests =
		{
		    {.name = "down",
		     .max_bytes = 8 * GiB,
		     .min_bytes = 2 * GiB,
		     .actual_bytes = 2 * GiB,
		     .actual_known = true},
		    {.name = "up",
		     .max_bytes = 8 * GiB,
		     .min_bytes = 2 * GiB,
		     .actual_bytes = 2 * GiB,
		     .set_bytes = 2 * GiB,
		     UP},
		    {.name = "new",
		     .max_bytes = 8 * GiB,
		     .min_bytes = 2 * GiB,
		     .link_up = true},
		},
	    .decisions = {{0, "link down"}, {8 * GiB, "at max"}, {0, "actual"}},
	    .n_actions = 1,
	    .actions = {{1, 8 * GiB}},
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    /* One bad guest used to make policy_decide fail for everyone. */
	    .name = "a guest with min above max is skipped, the rest planned",
	    .n = 3,
	    .guests =
		{
		    {.name = "ok",
		     .max_bytes = 8 * GiB,
		     .min_bytes = 2 * GiB,
		     .actual_bytes = 6 * GiB,
		     .set_bytes = 6 * GiB,
		     UP},
		    {.name = "bad",
		     .max_bytes = 2 * GiB,
		     .min_bytes = 4 * GiB,
		     .actual_bytes = 2 * GiB,
		     UP},
		    {.name = "pinned",
		     .max_bytes = 8 * GiB,
		     .min_bytes = 2 * GiB,
		     .pin_bytes = 4 * GiB,
		     .actual_bytes = 8 * GiB,
		     .set_bytes = 8 * GiB,
		     UP},
		},
	    .decisions = {{8 * GiB, "at max"},
			  {0, "bad bounds"},
			  {4 * GiB, "pinned"}},
	    .n_actions = 2,
	    .actions = {{0, 8 * GiB}, {2, 4 * GiB}},
	    .n_steps = 2,
	    .steps = {{0, 1}, {1, 1}},
	},
	{
	    .name = "a guest with no max is skipped, the rest planned",
	    .n = 2,
	    .guests = {{.name = "bad", .max_bytes = 0, .min_bytes = 0, UP},
		       {.name = "ok",
			.max_bytes = 8 * GiB,
			.min_bytes = 2 * GiB,
			.actual_bytes = 6 * GiB,
			.set_bytes = 6 * GiB,
			UP}},
	    .decisions = {{0, "bad bounds"}, {8 * GiB, "at max"}},
	    .n_actions = 1,
	    .actions = {{1, 8 * GiB}},
	    .n_steps = 1,
	    .steps = {{0, 1}},
	},
	{
	    .name = "empty input",
	    .n = 0,
	},
};

static bool may_be_leader(const struct policy_guest *g)
{
	return g->role != POLICY_ROLE_NONE &&
	       !(g->role == POLICY_ROLE_REPLICA && g->replica_confirmed &&
		 g->cluster_defined);
}

static void check_invariants(const struct policy_case *c,
			     const struct policy_decision *d,
			     const struct policy_plan *plan)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct policy_guest *g = &c->guests[i];
		uint64_t t = d[i].target_bytes;
		if (!t)
			continue;
		if (t < g->min_bytes || t > g->max_bytes)
			fail_msg("%s: %s's target outside [min, max]", c->name,
				 g->name);
		if (may_be_leader(g) && t != g->max_bytes)
			fail_msg("%s: %s may be leader but is not at max",
				 c->name, g->name);
	}
	size_t next = 0;
	for (size_t s = 0; s < plan->n_steps; s++) {
		/* Steps cover the actions in order, none empty. */
		if (plan->steps[s].first != next || plan->steps[s].count == 0)
			fail_msg("%s: step %zu does not follow on", c->name, s);
		next += plan->steps[s].count;
		assert_false(plan->steps[s].wait_moved);
	}
	assert_int_equal(next, plan->n_actions);
	for (size_t a = 0; a < plan->n_actions; a++) {
		const struct policy_action *act = &plan->actions[a];
		assert_true(act->guest < c->n);
		const struct policy_guest *g = &c->guests[act->guest];
		if (act->target_bytes < g->min_bytes ||
		    act->target_bytes > g->max_bytes)
			fail_msg("%s: action for %s outside [min, max]",
				 c->name, g->name);
		if (act->target_bytes == g->set_bytes)
			fail_msg("%s: action repeats what QEMU has", c->name);
		/* Bounded steps, except down to max from above it. */
		if (c->shrink_step_bytes &&
		    act->target_bytes < g->actual_bytes &&
		    act->target_bytes != g->max_bytes &&
		    g->actual_bytes - act->target_bytes > c->shrink_step_bytes)
			fail_msg("%s: shrink of %s larger than shrink_step",
				 c->name, g->name);
	}
}

static void run_case(const struct policy_case *c)
{
	struct policy_decision d[MAX_GUESTS + 1];
	struct policy_action actions[MAX_GUESTS + 1];
	/* Stale contents must not leak into the result. */
	memset(d, 0, sizeof(d));
	memset(actions, 0xff, sizeof(actions));
	struct policy_plan plan = {
	    .actions = actions, .n_actions = 99, .n_steps = 3};
	struct policy_input in = {
	    .guests = c->guests,
	    .n_guests = c->n,
	    .config = {.shrink_step_bytes = c->shrink_step_bytes},
	};

	int rc = policy_decide(&in, d, &plan);
	if (rc != c->rc)
		fail_msg("%s: returned %d, expected %d", c->name, rc, c->rc);
	if (rc)
		return;

	for (size_t i = 0; i < c->n; i++) {
		const struct want_decision *w = &c->decisions[i];
		if (d[i].target_bytes != w->target_bytes)
			fail_msg("%s: %s's target %llu, expected %llu", c->name,
				 c->guests[i].name,
				 (unsigned long long)d[i].target_bytes,
				 (unsigned long long)w->target_bytes);
		if (!d[i].reason || !strstr(d[i].reason, w->reason))
			fail_msg("%s: %s's reason \"%s\" lacks \"%s\"", c->name,
				 c->guests[i].name,
				 d[i].reason ? d[i].reason : "(null)",
				 w->reason);
	}
	if (plan.n_actions != c->n_actions)
		fail_msg("%s: %zu actions, expected %zu", c->name,
			 plan.n_actions, c->n_actions);
	for (size_t a = 0; a < c->n_actions; a++)
		if (plan.actions[a].guest != c->actions[a].guest ||
		    plan.actions[a].target_bytes != c->actions[a].target_bytes)
			fail_msg(
			    "%s: action %zu is guest %zu -> %llu, expected "
			    "guest %zu -> %llu",
			    c->name, a, plan.actions[a].guest,
			    (unsigned long long)plan.actions[a].target_bytes,
			    c->actions[a].guest,
			    (unsigned long long)c->actions[a].target_bytes);
	if (plan.n_steps != c->n_steps)
		fail_msg("%s: %zu steps, expected %zu", c->name, plan.n_steps,
			 c->n_steps);
	for (size_t s = 0; s < c->n_steps; s++)
		if (plan.steps[s].first != c->steps[s].first ||
		    plan.steps[s].count != c->steps[s].count)
			fail_msg(
			    "%s: step %zu is [%zu, +%zu), expected [%zu, +%zu)",
			    c->name, s, plan.steps[s].first,
			    plan.steps[s].count, c->steps[s].first,
			    c->steps[s].count);
	check_invariants(c, d, &plan);
}

static void test_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

static void test_deterministic(void **state)
{
	/* Pure: the same snapshot gives the same plan, every time. */
	const struct policy_case *c = NULL;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cases[i].n == 3 && cases[i].rc == 0 &&
		    cases[i].n_steps == 2 && !c)
			c = &cases[i];
	assert_non_null(c);
	struct policy_input in = {.guests = c->guests, .n_guests = c->n};
	struct policy_decision d1[MAX_GUESTS], d2[MAX_GUESTS];
	struct policy_action a1[MAX_GUESTS], a2[MAX_GUESTS];
	struct policy_plan p1 = {.actions = a1}, p2 = {.actions = a2};
	assert_int_equal(policy_decide(&in, d1, &p1), 0);
	assert_int_equal(policy_decide(&in, d2, &p2), 0);
	assert_int_equal(p1.n_actions, p2.n_actions);
	assert_int_equal(p1.n_steps, p2.n_steps);
	for (size_t i = 0; i < p1.n_actions; i++) {
		assert_int_equal(a1[i].guest, a2[i].guest);
		assert_int_equal(a1[i].target_bytes, a2[i].target_bytes);
	}
	for (size_t i = 0; i < c->n; i++) {
		assert_int_equal(d1[i].target_bytes, d2[i].target_bytes);
		assert_ptr_equal(d1[i].reason, d2[i].reason);
	}
}

static void test_bad_arguments(void **state)
{
	struct policy_guest g = {
	    .name = "a", .max_bytes = GiB, .min_bytes = GiB, UP};
	struct policy_decision d[1];
	struct policy_action a[1];
	struct policy_plan plan = {.actions = a};
	struct policy_input in = {.guests = &g, .n_guests = 1};

	assert_int_equal(policy_decide(NULL, d, &plan), -EINVAL);
	assert_int_equal(policy_decide(&in, NULL, &plan), -EINVAL);
	assert_int_equal(policy_decide(&in, d, NULL), -EINVAL);
	in.guests = NULL;
	assert_int_equal(policy_decide(&in, d, &plan), -EINVAL);
	/* No guests: no decisions array is needed. */
	in.n_guests = 0;
	assert_int_equal(policy_decide(&in, NULL, &plan), 0);
	assert_int_equal(plan.n_actions, 0);
	assert_int_equal(plan.n_steps, 0);
	/* ... but a plan always is. */
	assert_int_equal(policy_decide(&in, NULL, NULL), -EINVAL);
}

static void test_role_names(void **state)
{
	assert_string_equal(policy_role_name(POLICY_ROLE_NONE), "-");
	assert_string_equal(policy_role_name(POLICY_ROLE_UNKNOWN), "unknown");
	assert_string_equal(policy_role_name(POLICY_ROLE_LEADER), "leader");
	assert_string_equal(policy_role_name(POLICY_ROLE_REPLICA), "replica");
	assert_string_equal(policy_role_name((enum policy_role)42), "?");

	/* Patroni's words: 3.x master, 4.x primary, /cluster leader. */
	static const char *const leaders[] = {"master",	  "primary",
					      "promoted", "standby_leader",
					      "leader",	  "MASTER"};
	static const char *const replicas[] = {"replica", "sync_standby",
					       "quorum_standby", "Replica"};
	static const char *const unknown[] = {"demoted", "stopped", "",
					      "standby", "uninitialized"};
	for (size_t i = 0; i < sizeof(leaders) / sizeof(*leaders); i++)
		assert_int_equal(policy_role_parse(leaders[i]),
				 POLICY_ROLE_LEADER);
	for (size_t i = 0; i < sizeof(replicas) / sizeof(*replicas); i++)
		assert_int_equal(policy_role_parse(replicas[i]),
				 POLICY_ROLE_REPLICA);
	for (size_t i = 0; i < sizeof(unknown) / sizeof(*unknown); i++)
		assert_int_equal(policy_role_parse(unknown[i]),
				 POLICY_ROLE_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_role_names),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
