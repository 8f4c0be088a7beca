/*
 * test-policy.c: policy_decide as a table, and as a property.
 *
 * The table: snapshots in, each guest's target and reason and the ordered
 * plan out, at least one case per rule of policy.h, per role word, per
 * fail-open path, for the headroom-short ordering, steps and deadband,
 * pressure entry and exit, the ARC budget, starving guests and stale stats.
 * The property: thousands of random snapshots (seeded, reproducible); in
 * every plan the invariants hold, checked by code written apart from the
 * policy's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"

/* The table's guests start from a macro (PLAIN, MEMBER, ...) and override
 * some of its fields: that is the point, not a mistake. */
#pragma GCC diagnostic ignored "-Woverride-init"

#define MiB	   (UINT64_C(1) << 20)
#define GiB	   (UINT64_C(1) << 30)
#define MAX_GUESTS 5
#define NEVER	   POLICY_NEVER

/* A guest whose QMP link is up and whose actual size QEMU reported. */
#define UP .link_up = true, .actual_known = true
/* A plain guest (no Patroni member). */
#define PLAIN UP, .role = POLICY_ROLE_NONE, .cluster = POLICY_NO_CLUSTER
/* A Patroni member of cluster 0 with no facts at all. */
#define MEMBER                                                                 \
	UP, .role = POLICY_ROLE_UNKNOWN, .cluster = 0,                         \
	    .pushed_role = POLICY_ROLE_UNKNOWN, .pushed_age_ms = NEVER,        \
	    .confirmed_role = POLICY_ROLE_UNKNOWN, .confirmed_age_ms = NEVER,  \
	    .role_change_age_ms = NEVER
/* ... confirmed a streaming replica a second ago, role unchanged for two
 * minutes (past the 60 s dwell). */
#define CONFIRMED_REPLICA                                                      \
	UP, .role = POLICY_ROLE_REPLICA, .cluster = 0,                         \
	    .pushed_role = POLICY_ROLE_UNKNOWN, .pushed_age_ms = NEVER,        \
	    .confirmed_role = POLICY_ROLE_REPLICA, .confirmed_age_ms = 1000,   \
	    .confirmed_streaming = true, .role_change_age_ms = 120000
/* A healthy cluster: its REST API answered a second ago, with a leader. */
#define HEALTHY                                                                \
	{                                                                      \
		.reachable = true, .has_leader = true, .facts_age_ms = 1000,   \
		.dwell_ms = 60000, .max_age_ms = 30000                         \
	}
/* Fresh stats: the guest reports `avail` available. */
#define STATS(avail) .stats_fresh = true, .available_bytes = (avail)
/* A 64 GiB host with `avail` available, no ARC. */
#define HOST(avail)                                                            \
	{                                                                      \
		.known = true, .mem_total_bytes = 64 * GiB,                    \
		.mem_available_bytes = (avail)                                 \
	}

/* In the pressure case: the need on a 64 GiB host with 4 GiB available
 * (high watermark minus headroom), and what a 16 GiB guest reporting
 * 3 GiB available can spare above its reserve. */
#define NEED_4G	 (64 * GiB * 5 / 100 * 2 - (4 * GiB - 64 * GiB * 3 / 100))
#define SPARE_3G (3 * GiB - 16 * GiB * 5 / 100)

/* The high watermark of a 64 GiB host, which the ARC budget leaves free. */
#define ARC_HIGH (64 * GiB * 5 / 100 * 2)

struct want_decision {
	uint64_t target_bytes;
	const char *reason; /* a substring of the reason */
};

struct want_step {
	bool wait_moved;
	size_t n;
	struct policy_action a[MAX_GUESTS];
};

struct policy_case {
	const char *name;
	size_t n;
	struct policy_guest guests[MAX_GUESTS];
	size_t n_clusters;
	struct policy_cluster clusters[2];
	struct policy_host host;
	/* Changes to POLICY_CONFIG_DEFAULT (resolved with the host's RAM). */
	uint64_t shrink_step_bytes;
	bool arc_manage;
	int rc;
	struct want_decision decisions[MAX_GUESTS];
	size_t n_steps;
	struct want_step steps[POLICY_MAX_STEPS];
	int reclaiming; /* 0 or 1; 2: not checked */
	bool arc_write, arc_before;
	uint64_t arc_max_bytes;
};

#define STEP(...)                                                              \
	{                                                                      \
		.n = sizeof((struct policy_action[]){__VA_ARGS__}) /           \
		     sizeof(struct policy_action),                             \
		.a = { __VA_ARGS__ }                                           \
	}
#define WAIT_STEP(...)                                                         \
	{                                                                      \
		.wait_moved = true,                                            \
		.n = sizeof((struct policy_action[]){__VA_ARGS__}) /           \
		     sizeof(struct policy_action),                             \
		.a = { __VA_ARGS__ }                                           \
	}

static const struct policy_case cases[] = {
    /* ---- bounds, links, pins ---- */
    {
	.name = "unpinned guest goes to max",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .actual_bytes = 6 * GiB,
		    .set_bytes = 6 * GiB,
		    PLAIN}},
	.decisions = {{8 * GiB, "at max"}},
	.n_steps = 1,
	.steps = {STEP({0, 8 * GiB})},
    },
    {
	.name = "at max and acknowledged: nothing to send",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 8 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    PLAIN}},
	.decisions = {{8 * GiB, "at max"}},
    },
    {
	.name = "target not known on this link: sent again",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 8 * GiB,
		    .actual_bytes = 8 * GiB,
		    PLAIN}},
	.decisions = {{8 * GiB, "at max"}},
	.n_steps = 1,
	.steps = {STEP({0, 8 * GiB})},
    },
    {
	.name = "pinned within bounds: the pin",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .pin_bytes = 4 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    PLAIN}},
	.decisions = {{4 * GiB, "pinned by balloonctl set"}},
	.n_steps = 1,
	.steps = {STEP({0, 4 * GiB})},
    },
    {
	.name = "pin below min is clamped to min (rule 4)",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .pin_bytes = 1 * GiB,
		    .actual_bytes = 2 * GiB,
		    .set_bytes = 2 * GiB,
		    PLAIN}},
	.decisions = {{2 * GiB, "pinned"}},
    },
    {
	.name = "pin above max is clamped to max (rule 4)",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .pin_bytes = 16 * GiB,
		    .actual_bytes = 4 * GiB,
		    .set_bytes = 4 * GiB,
		    PLAIN}},
	.decisions = {{8 * GiB, "pinned"}},
	.n_steps = 1,
	.steps = {STEP({0, 8 * GiB})},
    },
    {
	.name = "a pin that takes more than the guest reports free: the pin, "
		"warned",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .pin_bytes = 4 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    PLAIN,
		    STATS(1 * GiB)}},
	.decisions = {{4 * GiB, "pinned"}},
	.n_steps = 1,
	.steps = {STEP({0, 4 * GiB})},
    },
    {
	.name = "link down: left alone",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .actual_bytes = 4 * GiB,
		    .actual_known = true,
		    .cluster = POLICY_NO_CLUSTER}},
	.decisions = {{0, "link down"}},
    },
    {
	.name = "actual unknown: left alone",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .link_up = true,
		    .cluster = POLICY_NO_CLUSTER}},
	.decisions = {{0, "actual"}},
    },
    {
	.name = "a guest with min above max is skipped, the rest planned",
	.n = 2,
	.guests = {{.name = "bad",
		    .max_bytes = 2 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 2 * GiB,
		    PLAIN},
		   {.name = "ok",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .actual_bytes = 6 * GiB,
		    .set_bytes = 6 * GiB,
		    PLAIN}},
	.decisions = {{0, "bad bounds"}, {8 * GiB, "at max"}},
	.n_steps = 1,
	.steps = {STEP({1, 8 * GiB})},
    },
    {
	.name = "a guest with no max is skipped, the rest planned",
	.n = 2,
	.guests = {{.name = "bad", PLAIN},
		   {.name = "ok",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .actual_bytes = 6 * GiB,
		    .set_bytes = 6 * GiB,
		    PLAIN}},
	.decisions = {{0, "bad bounds"}, {8 * GiB, "at max"}},
	.n_steps = 1,
	.steps = {STEP({1, 8 * GiB})},
    },

    /* ---- Patroni: rules 1-3, fail-open ---- */
    {
	.name = "confirmed streaming replica past its dwell: replica target",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    CONFIRMED_REPLICA}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{8 * GiB, "replica target"}},
	.n_steps = 1,
	.steps = {STEP({0, 8 * GiB})},
    },
    {
	.name = "member with no facts: may be leader, max (fail-open)",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    MEMBER}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{16 * GiB, "kept at max"}},
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB})},
    },
    {
	.name = "cluster not in the config: max",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    CONFIRMED_REPLICA,
		    .cluster = POLICY_NO_CLUSTER}},
	.decisions = {{16 * GiB, "not defined in the config"}},
    },
    {
	.name = "REST API unreachable: every member at max",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    CONFIRMED_REPLICA}},
	.n_clusters = 1,
	.clusters = {{.reachable = false,
		      .has_leader = true,
		      .facts_age_ms = 1000,
		      .dwell_ms = 60000,
		      .max_age_ms = 30000}},
	.decisions = {{16 * GiB, "unreachable"}},
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB})},
    },
    {
	.name = "cluster without a leader: every member at max",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    CONFIRMED_REPLICA}},
	.n_clusters = 1,
	.clusters = {{.reachable = true,
		      .has_leader = false,
		      .facts_age_ms = 1000,
		      .dwell_ms = 60000,
		      .max_age_ms = 30000}},
	.decisions = {{16 * GiB, "no leader"}},
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB})},
    },
    {
	.name = "cluster facts older than max_age_ms: max",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    CONFIRMED_REPLICA}},
	.n_clusters = 1,
	.clusters = {{.reachable = true,
		      .has_leader = true,
		      .facts_age_ms = 31000,
		      .dwell_ms = 60000,
		      .max_age_ms = 30000}},
	.decisions = {{16 * GiB, "stale"}},
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB})},
    },
    {
	.name = "the member's own confirmation is stale: max",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    CONFIRMED_REPLICA,
		    .confirmed_age_ms = 40000}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{16 * GiB, "not confirmed"}},
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB})},
    },
    {
	.name = "confirmed replica, not streaming: max",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    CONFIRMED_REPLICA,
		    .confirmed_streaming = false}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{16 * GiB, "not streaming"}},
    },
    {
	.name = "confirmed replica within its dwell time: max (rule 3)",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    CONFIRMED_REPLICA,
		    .role_change_age_ms = 59000}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{16 * GiB, "dwell"}},
    },
    {
	.name = "pushed leader grows at once, even against an older "
		"confirmation (rule 3)",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    CONFIRMED_REPLICA,
		    .pushed_role = POLICY_ROLE_LEADER,
		    .pushed_age_ms = 10,
		    .role_change_age_ms = 10}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{16 * GiB, "leader (pushed)"}},
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB})},
    },
    {
	.name = "a pushed demoted after the confirmation: may be leader, max",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    CONFIRMED_REPLICA,
		    .pushed_role = POLICY_ROLE_UNKNOWN,
		    .pushed_age_ms = 100}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{16 * GiB, "pushed since"}},
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB})},
    },
    {
	.name = "a pushed replica never shrinks without confirmation",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    MEMBER,
		    .pushed_role = POLICY_ROLE_REPLICA,
		    .pushed_age_ms = 120000}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{16 * GiB, "not confirmed"}},
    },
    {
	.name = "confirmed leader: max, even pinned",
	.n = 1,
	.guests = {{.name = "pg1",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .pin_bytes = 6 * GiB,
		    .actual_bytes = 6 * GiB,
		    .set_bytes = 6 * GiB,
		    MEMBER,
		    .confirmed_role = POLICY_ROLE_LEADER,
		    .confirmed_age_ms = 1000}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{16 * GiB, "Patroni leader: at max"}},
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB})},
    },

    /* ---- guest demand ---- */
    {
	.name = "a replica's shrink takes only what it reports free",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    CONFIRMED_REPLICA,
		    STATS(5 * GiB)}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	/* reserve = 5 % of 16 GiB = 819.2 MiB: 5 GiB - 819.2 MiB. */
	.decisions = {{16 * GiB - (5 * GiB - 16 * GiB * 5 / 100),
		       "reports free"}},
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB - (5 * GiB - 16 * GiB * 5 / 100)})},
    },
    {
	.name = "starving guest (below its reserve) grows back above its "
		"watermark",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .pin_bytes = 0,
		    .actual_bytes = 4 * GiB,
		    .set_bytes = 4 * GiB,
		    PLAIN,
		    STATS(32 * MiB)}},
	/* max(64 MiB, 5 % of 8 GiB = 409.6 MiB) = 409.6 MiB; twice that,
	 * less what it has: 819.2 - 32 MiB more. */
	.decisions = {{8 * GiB, "starving"}},
	.n_steps = 1,
	.steps = {STEP({0, 8 * GiB})},
    },
    {
	.name = "a starving confirmed replica is no donor and grows",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    CONFIRMED_REPLICA,
		    STATS(100 * MiB)}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	/* The host is unknown: no room to wait for, straight to max. */
	.decisions = {{16 * GiB, "starving"}},
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB})},
    },
    {
	.name = "deflated by itself: treated as starving, grown back",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 9 * GiB,
		    .set_bytes = 8 * GiB,
		    CONFIRMED_REPLICA,
		    .deflated = true}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{16 * GiB, "deflated"}},
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB})},
    },
    {
	.name = "stale stats: shrunk toward its role target only, not "
		"reclaimed",
	.n = 2,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 12 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    CONFIRMED_REPLICA},
		   {.name = "plain",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    PLAIN}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	/* The host is under pressure, but neither reports stats. */
	.host = HOST(1 * GiB),
	.decisions = {{12 * GiB, "replica target"}, {16 * GiB, "at max"}},
	.n_steps = 1,
	.steps = {STEP({0, 12 * GiB})},
	.reclaiming = 1,
    },

    {
	.name = "between half and one reserve available: not starving, but no "
		"donor either (hysteresis)",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 10 * GiB,
		    .set_bytes = 10 * GiB,
		    CONFIRMED_REPLICA,
		    STATS(600 * MiB)}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{10 * GiB, "reports free"}},
    },
    {
	.name = "stats taken before the balloon moved: no further than QEMU's "
		"target until new ones come",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 14 * GiB,
		    .set_bytes = 12 * GiB,
		    CONFIRMED_REPLICA,
		    .stats_settling = true}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{12 * GiB, "after its balloon moved"}},
    },
    {
	.name = "under pressure, a shrink in progress on settling stats is "
		"kept, not undone",
	.n = 1,
	.guests = {{.name = "plain",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 14 * GiB,
		    .set_bytes = 6 * GiB,
		    PLAIN,
		    .stats_settling = true}},
	.host = HOST(1 * GiB),
	.decisions = {{6 * GiB, "pressure"}},
	.reclaiming = 1,
    },

    /* ---- host pressure ---- */
    {
	.name = "pressure: reclaim from plain guests first, then replicas; "
		"never a leader, never a starving guest",
	.n = 4,
	.guests = {{.name = "leader",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    MEMBER,
		    .pushed_role = POLICY_ROLE_LEADER,
		    .pushed_age_ms = 5000,
		    STATS(10 * GiB)},
		   {.name = "replica",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    CONFIRMED_REPLICA,
		    STATS(8 * GiB)},
		   {.name = "plain",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    PLAIN,
		    STATS(3 * GiB)},
		   {.name = "starving",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    PLAIN,
		    STATS(100 * MiB)}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	/* 64 GiB host: reserve 1.92 GiB, low 3.2 GiB, high 6.4 GiB,
	 * critical 1.28 GiB; 4 GiB available: headroom 2.08 GiB (under low,
	 * not critical), need 6.4 - 2.08 GiB. The plain guest gives 3 GiB -
	 * 819.2 MiB, the replica the rest; the starving guest nothing. */
	.host = HOST(4 * GiB),
	.decisions = {{16 * GiB, "leader"},
		      {16 * GiB - (NEED_4G - SPARE_3G), "pressure"},
		      {16 * GiB - SPARE_3G, "pressure"},
		      {16 * GiB, "starving"}},
	.reclaiming = 1,
	.n_steps = 1,
	.steps = {STEP({1, 16 * GiB - (NEED_4G - SPARE_3G)},
		       {2, 16 * GiB - SPARE_3G})},
    },
    {
	.name = "critical: below the critical watermark a starving guest "
		"that is no leader gives too, the most available first; "
		"never the leader",
	.n = 3,
	.guests = {{.name = "leader",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    MEMBER,
		    .pushed_role = POLICY_ROLE_LEADER,
		    .pushed_age_ms = 5000,
		    STATS(10 * GiB)},
		   {.name = "starving",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    PLAIN,
		    STATS(300 * MiB)},
		   {.name = "hungrier",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    PLAIN,
		    STATS(100 * MiB)}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	/* 2 GiB available: headroom 0.08 GiB, under the critical watermark
	 * (1.28 GiB). No guest has anything above its reserve: the critical
	 * tier takes what the starving guests report available, the most
	 * available first, and grows neither back. */
	.host = HOST(2 * GiB),
	.decisions = {{16 * GiB, "leader"},
		      {16 * GiB - 300 * MiB, "critical"},
		      {16 * GiB - 100 * MiB, "critical"}},
	.reclaiming = 1,
	.n_steps = 1,
	.steps = {STEP({1, 16 * GiB - 300 * MiB}, {2, 16 * GiB - 100 * MiB})},
    },
    {
	.name = "pressure exit needs headroom above the high watermark "
		"(hysteresis)",
	.n = 1,
	.guests = {{.name = "plain",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 10 * GiB,
		    .set_bytes = 10 * GiB,
		    PLAIN,
		    STATS(4 * GiB)}},
	/* Headroom 6 - 1.92 GiB: above low (3.2), below high (6.4): still
	 * reclaiming, as last time; not grown back. */
	.host = {.known = true,
		 .mem_total_bytes = 64 * GiB,
		 .mem_available_bytes = 6 * GiB,
		 .reclaiming = true},
	/* It gives what brings the headroom back to high, no more. */
	.decisions = {{10 * GiB - (64 * GiB * 5 / 100 * 2 -
				   (6 * GiB - 64 * GiB * 3 / 100)),
		       "pressure"}},
	.reclaiming = 1,
	.n_steps = 1,
	.steps = {STEP({0, 10 * GiB - (64 * GiB * 5 / 100 * 2 -
				       (6 * GiB - 64 * GiB * 3 / 100))})},
    },
    {
	.name = "between the watermarks without prior pressure: no reclaim, "
		"no grow-back",
	.n = 1,
	.guests = {{.name = "plain",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 10 * GiB,
		    .set_bytes = 10 * GiB,
		    PLAIN,
		    STATS(4 * GiB)}},
	.host = HOST(6 * GiB),
	.decisions = {{10 * GiB, "high watermark"}},
	.reclaiming = 0,
    },
    {
	.name = "release: grow back within the headroom above high",
	.n = 1,
	.guests = {{.name = "plain",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 10 * GiB,
		    .set_bytes = 10 * GiB,
		    PLAIN,
		    STATS(4 * GiB)}},
	/* Headroom 10 - 1.92 = 8.08 GiB; 1.68 GiB above high. */
	.host = {.known = true,
		 .mem_total_bytes = 64 * GiB,
		 .mem_available_bytes = 10 * GiB,
		 .reclaiming = true},
	.decisions = {{10 * GiB + (10 * GiB - 64 * GiB * 3 / 100) -
			   (64 * GiB * 5 / 100 * 2),
		       "within the host's headroom"}},
	.reclaiming = 0,
	.n_steps = 1,
	.steps = {STEP({0, 10 * GiB + (10 * GiB - 64 * GiB * 3 / 100) -
			       (64 * GiB * 5 / 100 * 2)})},
    },
    {
	.name = "a PSI event means pressure whatever MemAvailable says",
	.n = 1,
	.guests = {{.name = "plain",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    PLAIN,
		    STATS(2 * GiB)}},
	.host = {.known = true,
		 .mem_total_bytes = 64 * GiB,
		 .mem_available_bytes = 30 * GiB,
		 .psi_event = true},
	/* Headroom is plenty: the trigger alone takes 1 % of RAM. */
	.decisions = {{16 * GiB - 64 * GiB / 100, "pressure"}},
	.reclaiming = 1,
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB - 64 * GiB / 100})},
    },
    {
	.name = "the ARC above c_min counts as headroom (half of it)",
	.n = 1,
	.guests = {{.name = "plain",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    PLAIN,
		    STATS(8 * GiB)}},
	/* 2 GiB available alone would be pressure; plus half of 21 GiB
	 * of ARC above c_min it is not. */
	.host = {.known = true,
		 .mem_total_bytes = 64 * GiB,
		 .mem_available_bytes = 2 * GiB,
		 .arc_present = true,
		 .arc_size_bytes = 22 * GiB,
		 .arc_c_min_bytes = 1 * GiB,
		 .arc_c_max_bytes = 63 * GiB},
	.decisions = {{16 * GiB, "at max"}},
	.reclaiming = 0,
    },
    {
	.name = "with room above the high watermark a starving replica grows "
		"past its need, within the room",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .replica_target_bytes = 8 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    CONFIRMED_REPLICA,
		    STATS(100 * MiB)}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	/* Headroom 18 - 1.92 GiB; the watermarks stand 8 GiB higher for
	 * the promotion reserve (this replica's grow to max): 1.68 GiB above
	 * high. */
	.host = HOST(18 * GiB),
	.decisions = {{8 * GiB + (18 * GiB - 64 * GiB * 3 / 100) -
			   64 * GiB * 5 / 100 * 2 - 8 * GiB,
		       "starving"}},
	.reclaiming = 0,
	.n_steps = 1,
	.steps = {STEP({0, 8 * GiB + (18 * GiB - 64 * GiB * 3 / 100) -
			       64 * GiB * 5 / 100 * 2 - 8 * GiB})},
    },
    {
	.name = "under pressure a starving guest gets what it needs at once, "
		"not its max",
	.n = 1,
	.guests = {{.name = "starving",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    PLAIN,
		    STATS(100 * MiB)}},
	/* Headroom 3.5 - 1.92 GiB: pressure, not critical (1.28 GiB). */
	.host = HOST(7 * GiB / 2),
	.decisions = {{8 * GiB + 16 * GiB * 5 / 100 + 16 * GiB * 5 / 100 / 2 -
			   100 * MiB,
		       "starving"}},
	.reclaiming = 1,
	.n_steps = 1,
	.steps = {STEP({0, 8 * GiB + 16 * GiB * 5 / 100 +
			       16 * GiB * 5 / 100 / 2 - 100 * MiB})},
    },
    {
	.name = "critical host: a starving guest is not grown, and gives "
		"what it reports available (the host's survival first)",
	.n = 1,
	.guests = {{.name = "starving",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    PLAIN,
		    STATS(100 * MiB)}},
	.host = HOST(1 * GiB),
	.decisions = {{8 * GiB - 100 * MiB, "critical"}},
	.reclaiming = 1,
	.n_steps = 1,
	.steps = {STEP({0, 8 * GiB - 100 * MiB})},
    },

    /* ---- ordering (rule 5) ---- */
    {
	.name = "headroom covers the grows: leader grows, other grows, then "
		"shrinks",
	.n = 3,
	.guests = {{.name = "donor",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .pin_bytes = 2 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    PLAIN},
		   {.name = "plain",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .actual_bytes = 4 * GiB,
		    .set_bytes = 4 * GiB,
		    PLAIN},
		   {.name = "leader",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .actual_bytes = 4 * GiB,
		    .set_bytes = 4 * GiB,
		    MEMBER,
		    .pushed_role = POLICY_ROLE_LEADER,
		    .pushed_age_ms = 10}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.host = HOST(40 * GiB),
	.decisions = {{2 * GiB, "pinned"},
		      {8 * GiB, "at max"},
		      {8 * GiB, "leader"}},
	.reclaiming = 0,
	.n_steps = 3,
	.steps = {STEP({2, 8 * GiB}), STEP({1, 8 * GiB}), STEP({0, 2 * GiB})},
    },
    {
	.name = "headroom short: donors shrink first and are waited for, then "
		"a member that may be the leader grows",
	.n = 2,
	.guests = {{.name = "donor",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .pin_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    PLAIN},
		   {.name = "leader",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    MEMBER}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	/* Headroom 14 - 1.92 GiB < the 8 GiB grow? No: 12.08 covers 8;
	 * make it 8 GiB available: 6.08 < 8. */
	.host = HOST(8 * GiB),
	.decisions = {{4 * GiB, "pinned"}, {16 * GiB, "not confirmed"}},
	.n_steps = 2,
	.steps = {WAIT_STEP({0, 4 * GiB}), STEP({1, 16 * GiB})},
	.reclaiming = 2,
    },
    {
	.name = "headroom short: a pushed leader grows at once, before the "
		"donors shrink (rule 1 outranks the host's headroom)",
	.n = 2,
	.guests = {{.name = "donor",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .pin_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    PLAIN},
		   {.name = "leader",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    MEMBER,
		    .pushed_role = POLICY_ROLE_LEADER,
		    .pushed_age_ms = 10}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	/* Headroom 14 - 1.92 GiB < the 8 GiB grow? No: 12.08 covers 8;
	 * make it 8 GiB available: 6.08 < 8. */
	.host = HOST(8 * GiB),
	.decisions = {{4 * GiB, "pinned"}, {16 * GiB, "leader"}},
	.n_steps = 2,
	.steps = {STEP({1, 16 * GiB}), WAIT_STEP({0, 4 * GiB})},
	.reclaiming = 2,
    },
    {
	.name = "headroom short: a donor still moving is waited for, though "
		"QEMU has its target",
	.n = 2,
	.guests = {{.name = "donor",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .pin_bytes = 4 * GiB,
		    .actual_bytes = 12 * GiB,
		    .set_bytes = 4 * GiB,
		    PLAIN},
		   {.name = "leader",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    MEMBER}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.host = HOST(8 * GiB),
	.decisions = {{4 * GiB, "pinned"}, {16 * GiB, "not confirmed"}},
	.n_steps = 2,
	.steps = {WAIT_STEP({0, 4 * GiB}), STEP({1, 16 * GiB})},
	.reclaiming = 2,
    },

    {
	.name = "a grow that would leave the host below its low watermark: "
		"donors pay for it, after it (the host has the memory now)",
	.n = 2,
	.guests = {{.name = "donor",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    PLAIN,
		    STATS(12 * GiB)},
		   {.name = "leader",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    MEMBER,
		    .pushed_role = POLICY_ROLE_LEADER,
		    .pushed_age_ms = 10}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	/* Headroom 10 - 1.92 = 8.08 GiB: above high (6.4), no pressure, but
	 * short of the 8 GiB grow plus the 3.2 GiB low watermark. */
	.host = HOST(10 * GiB),
	.decisions = {{16 * GiB - (8 * GiB - (10 * GiB - 64 * GiB * 3 / 100) +
				   64 * GiB * 5 / 100),
		       "reclaiming"},
		      {16 * GiB, "leader"}},
	.reclaiming = 0,
	.n_steps = 2,
	.steps = {STEP({1, 16 * GiB}), STEP({0, 0})},
    },

    /* ---- steps and deadband (rule 6) ---- */
    {
	.name = "shrink_step bounds a shrink",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .pin_bytes = 2 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    PLAIN}},
	.shrink_step_bytes = 1 * GiB,
	.decisions = {{2 * GiB, "pinned"}},
	.n_steps = 1,
	.steps = {STEP({0, 7 * GiB})},
    },
    {
	.name = "shrink_step never bounds a grow",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .actual_bytes = 2 * GiB,
		    .set_bytes = 2 * GiB,
		    PLAIN}},
	.shrink_step_bytes = 1 * GiB,
	.decisions = {{8 * GiB, "at max"}},
	.n_steps = 1,
	.steps = {STEP({0, 8 * GiB})},
    },
    {
	/* 2 GiB to spare (its reserve is 5 % of 8 GiB): it may go to
	 * 6 GiB, an estimate, in steps each smaller than the deadband. */
	.name = "a shrink_step below the deadband still moves",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .replica_target_bytes = 2 * GiB,
		    .actual_bytes = 8 * GiB,
		    .set_bytes = 8 * GiB,
		    CONFIRMED_REPLICA,
		    STATS(8 * GiB * 5 / 100 + 2 * GiB)}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.shrink_step_bytes = 8 * MiB,
	.decisions = {{6 * GiB, "reports free"}},
	.n_steps = 1,
	.steps = {STEP({0, 8 * GiB - 8 * MiB})},
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
		    PLAIN}},
	.shrink_step_bytes = 1 * GiB,
	.decisions = {{2 * GiB, "pinned"}},
    },
    {
	/* Its reserve is 5 % of 8 GiB: it reports 8 MiB more free. */
	.name = "an estimate within the deadband is skipped",
	.n = 1,
	.guests = {{.name = "pg2",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .replica_target_bytes = 2 * GiB,
		    .actual_bytes = 4 * GiB,
		    .set_bytes = 4 * GiB,
		    CONFIRMED_REPLICA,
		    STATS(8 * GiB * 5 / 100 + 8 * MiB)}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{4 * GiB - 8 * MiB, "reports free"}},
    },
    {
	/* A shrink the guest's free memory held back earlier left it
	 * 15 MiB above its replica target; now it has room. */
	.name = "the replica target is reached whatever the deadband",
	.n = 1,
	.guests = {{.name = "pg1",
		    .max_bytes = 256 * MiB,
		    .min_bytes = 160 * MiB,
		    .replica_target_bytes = 160 * MiB,
		    .actual_bytes = 175 * MiB,
		    .set_bytes = 175 * MiB,
		    CONFIRMED_REPLICA,
		    STATS(100 * MiB)}},
	.n_clusters = 1,
	.clusters = {HEALTHY},
	.decisions = {{160 * MiB, "replica target"}},
	.n_steps = 1,
	.steps = {STEP({0, 160 * MiB})},
    },
    {
	.name = "a pin is reached whatever the deadband",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .pin_bytes = 4 * GiB,
		    .actual_bytes = 4 * GiB + 8 * MiB,
		    .set_bytes = 4 * GiB + 8 * MiB,
		    PLAIN}},
	.decisions = {{4 * GiB, "pinned"}},
	.n_steps = 1,
	.steps = {STEP({0, 4 * GiB})},
    },
    {
	.name = "a pin QEMU already has is not sent again",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .pin_bytes = 4 * GiB,
		    .actual_bytes = 4 * GiB + 8 * MiB,
		    .set_bytes = 4 * GiB,
		    PLAIN}},
	.decisions = {{4 * GiB, "pinned"}},
    },
    {
	.name = "a grow to max is never skipped by the deadband",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 8 * GiB,
		    .min_bytes = 2 * GiB,
		    .actual_bytes = 8 * GiB - 8 * MiB,
		    .set_bytes = 8 * GiB - 8 * MiB,
		    PLAIN}},
	.decisions = {{8 * GiB, "at max"}},
	.n_steps = 1,
	.steps = {STEP({0, 8 * GiB})},
    },

    /* ---- the ARC budget ---- */
    {
	.name = "ARC: the incident's unbounded ARC gets a cap, lowered "
		"before grows",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 12 * GiB,
		    .set_bytes = 12 * GiB,
		    PLAIN}},
	.host = {.known = true,
		 .mem_total_bytes = 64 * GiB,
		 .mem_available_bytes = 30 * GiB,
		 .arc_present = true,
		 .arc_size_bytes = 20 * GiB,
		 .arc_c_min_bytes = 1 * GiB,
		 .arc_c_max_bytes = 63 * GiB},
	.arc_manage = true,
	/* 64 - 16 - 1.92 GiB, less the high watermark (6.4 GiB) that the
	 * cap leaves free: the ARC gives memory back too slowly for a grow. */
	.decisions = {{16 * GiB, "at max"}},
	.reclaiming = 0,
	.n_steps = 1,
	.steps = {STEP({0, 16 * GiB})},
	.arc_write = true,
	.arc_before = true,
	.arc_max_bytes = 64 * GiB - 16 * GiB - 64 * GiB * 3 / 100 - ARC_HIGH,
    },
    {
	.name = "ARC: raised after shrinks, never below arc_min",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 60 * GiB,
		    .min_bytes = 4 * GiB,
		    .pin_bytes = 30 * GiB,
		    .actual_bytes = 60 * GiB,
		    .set_bytes = 60 * GiB,
		    PLAIN}},
	.host = {.known = true,
		 .mem_total_bytes = 64 * GiB,
		 .mem_available_bytes = 20 * GiB,
		 .arc_present = true,
		 .arc_size_bytes = 2 * GiB,
		 .arc_c_min_bytes = 1 * GiB,
		 .arc_c_max_bytes = 63 * GiB,
		 .arc_max_set_bytes = 1 * GiB},
	.arc_manage = true,
	.decisions = {{30 * GiB, "pinned"}},
	.reclaiming = 0,
	.n_steps = 1,
	.steps = {STEP({0, 30 * GiB})},
	.arc_write = true,
	.arc_before = false,
	.arc_max_bytes = 64 * GiB - 30 * GiB - 64 * GiB * 3 / 100 - ARC_HIGH,
    },
    {
	.name = "ARC: within its deadband, not rewritten",
	.n = 1,
	.guests = {{.name = "a",
		    .max_bytes = 16 * GiB,
		    .min_bytes = 4 * GiB,
		    .actual_bytes = 16 * GiB,
		    .set_bytes = 16 * GiB,
		    PLAIN}},
	.host = {.known = true,
		 .mem_total_bytes = 64 * GiB,
		 .mem_available_bytes = 30 * GiB,
		 .arc_present = true,
		 .arc_size_bytes = 20 * GiB,
		 .arc_c_min_bytes = 1 * GiB,
		 .arc_c_max_bytes = 63 * GiB,
		 .arc_max_set_bytes = 64 * GiB - 16 * GiB - 64 * GiB * 3 / 100 -
				      ARC_HIGH + 32 * MiB},
	.arc_manage = true,
	.decisions = {{16 * GiB, "at max"}},
	.reclaiming = 0,
    },
    {
	.name = "empty input",
	.n = 0,
    },
};

/* ---- the invariants, written apart from the policy ---- */

static uint64_t reserve_of(const struct policy_config *c,
			   const struct policy_guest *g)
{
	uint64_t pct = g->max_bytes / 100 * c->guest_reserve_pct;
	return pct > c->guest_reserve_min_bytes ? pct
						: c->guest_reserve_min_bytes;
}

/* Fail-open, from the rules' text: only a fresh confirmation of a
 * streaming replica of a healthy cluster, past its dwell, with no newer
 * push of anything but replica, lets a member below max. */
static bool may_be_leader(const struct policy_input *in,
			  const struct policy_guest *g)
{
	if (g->role == POLICY_ROLE_NONE)
		return false;
	if (g->cluster >= in->n_clusters)
		return true;
	const struct policy_cluster *cl = &in->clusters[g->cluster];
	bool pushed_newer = g->pushed_age_ms != NEVER &&
			    (g->confirmed_age_ms == NEVER ||
			     g->pushed_age_ms <= g->confirmed_age_ms);
	return !(cl->reachable && cl->has_leader && cl->facts_age_ms != NEVER &&
		 (uint64_t)cl->facts_age_ms <= cl->max_age_ms &&
		 g->confirmed_role == POLICY_ROLE_REPLICA &&
		 g->confirmed_streaming && g->confirmed_age_ms != NEVER &&
		 (uint64_t)g->confirmed_age_ms <= cl->max_age_ms &&
		 !(pushed_newer && g->pushed_role != POLICY_ROLE_REPLICA) &&
		 (g->role_change_age_ms == NEVER ||
		  (uint64_t)g->role_change_age_ms >= cl->dwell_ms));
}

/* The headroom the policy judges the host by: MemAvailable less the
 * host's reserve, plus a share of the ARC above c_min unless balloond
 * caps the ARC (then the ARC comes back too slowly to count). */
static int64_t judged_headroom(const struct policy_input *in)
{
	const struct policy_host *h = &in->host;
	const struct policy_config *c = &in->config;
	int64_t v =
	    (int64_t)h->mem_available_bytes - (int64_t)c->host_reserve_bytes;
	bool capped =
	    c->arc_manage && h->arc_present && !in->guest_sizes_unknown;
	if (!capped && h->arc_present && h->arc_size_bytes > h->arc_c_min_bytes)
		v += (int64_t)((h->arc_size_bytes - h->arc_c_min_bytes) *
			       c->arc_reclaim_pct / 100);
	return v;
}

/* A leader the policy knows as one: pushed or confirmed. */
static bool sure_leader(const struct policy_guest *g)
{
	return g->role != POLICY_ROLE_NONE &&
	       (g->pushed_role == POLICY_ROLE_LEADER ||
		g->confirmed_role == POLICY_ROLE_LEADER);
}

static void check_invariants(const struct policy_input *in,
			     const struct policy_decision *d,
			     const struct policy_plan *plan, const char *name)
{
	const struct policy_config *c = &in->config;
	/* The critical tier: below the critical watermark, and only then. */
	bool critical =
	    in->host.known &&
	    judged_headroom(in) < (int64_t)c->critical_watermark_bytes;
	if (plan->critical != critical)
		fail_msg("%s: critical %d, expected %d", name, plan->critical,
			 critical);
	/* No leader below max at any step when the headroom allowed it:
	 * when it covers every may-be-leader's grow, they all go in the
	 * first step, which waits for nothing; a pushed or confirmed
	 * leader's grow always does. */
	uint64_t leader_grows = 0;
	for (size_t i = 0; i < in->n_guests; i++)
		if (d[i].may_be_leader &&
		    d[i].target_bytes > in->guests[i].actual_bytes)
			leader_grows +=
			    d[i].target_bytes - in->guests[i].actual_bytes;
	bool allowed =
	    !in->host.known || judged_headroom(in) >= (int64_t)leader_grows;
	for (size_t i = 0; i < in->n_guests; i++) {
		const struct policy_guest *g = &in->guests[i];
		if (!d[i].may_be_leader || !d[i].target_bytes ||
		    d[i].target_bytes <= g->actual_bytes ||
		    (!allowed && !sure_leader(g)))
			continue;
		bool first = false;
		if (plan->n_steps && !plan->steps[0].wait_moved)
			for (size_t k = plan->steps[0].first;
			     k < plan->steps[0].first + plan->steps[0].count;
			     k++)
				first |= plan->actions[k].guest == i;
		/* (Unless nothing is sent: QEMU already has max.) */
		if (!first && g->set_bytes != g->max_bytes)
			fail_msg("%s: leader %s's grow is not in the first "
				 "step, though %s",
				 name, g->name,
				 allowed ? "the headroom covers it"
					 : "it is a known leader");
	}
	for (size_t i = 0; i < in->n_guests; i++) {
		const struct policy_guest *g = &in->guests[i];
		uint64_t t = d[i].target_bytes;
		if (!t)
			continue;
		if (t < g->min_bytes || t > g->max_bytes)
			fail_msg("%s: %s's target %llu outside [%llu, %llu]",
				 name, g->name, (unsigned long long)t,
				 (unsigned long long)g->min_bytes,
				 (unsigned long long)g->max_bytes);
		if (may_be_leader(in, g) && t != g->max_bytes)
			fail_msg("%s: %s may be the leader, target %llu < max",
				 name, g->name, (unsigned long long)t);
	}
	bool seen_grow = false, seen_other_grow = false;
	for (size_t s = 0; s < plan->n_steps; s++) {
		const struct policy_step *st = &plan->steps[s];
		if (st->wait_moved && s > 1)
			fail_msg("%s: a waiting step after step 1", name);
		bool step_grows = false, step_shrinks = false;
		for (size_t k = st->first; k < st->first + st->count; k++) {
			const struct policy_action *a = &plan->actions[k];
			const struct policy_guest *g = &in->guests[a->guest];
			uint64_t t = a->target_bytes;
			if (t < g->min_bytes || t > g->max_bytes || !t)
				fail_msg("%s: action for %s outside bounds",
					 name, g->name);
			if (may_be_leader(in, g) && t < g->max_bytes)
				fail_msg("%s: %s may be leader, sent %llu",
					 name, g->name, (unsigned long long)t);
			if (t >= g->actual_bytes) {
				step_grows = true;
				if (may_be_leader(in, g) && seen_other_grow)
					fail_msg("%s: a leader grows after "
						 "another guest",
						 name);
				if (!may_be_leader(in, g))
					seen_other_grow = true;
				seen_grow = true;
				continue;
			}
			step_shrinks = true;
			if (d[a->guest].starving && t < g->max_bytes &&
			    !critical)
				fail_msg(
				    "%s: starving %s shrinks (%llu -> %llu: "
				    "%s)",
				    name, g->name,
				    (unsigned long long)g->actual_bytes,
				    (unsigned long long)t, d[a->guest].reason);
			/* No shrink takes more than the guest reports free
			 * above its reserve (a pin excepted: warned). */
			uint64_t free_above =
			    g->available_bytes > reserve_of(c, g)
				? g->available_bytes - reserve_of(c, g)
				: 0;
			/* (Measured from max for a guest above a lowered
			 * max: going to max is never optional.) */
			uint64_t from = g->actual_bytes < g->max_bytes
					    ? g->actual_bytes
					    : g->max_bytes;
			/* Below the critical watermark, beyond its reserve
			 * but never beyond what it reports available. */
			if (critical)
				free_above = g->available_bytes;
			if (g->stats_fresh && !g->pin_bytes && t < from &&
			    from - t > free_above)
				fail_msg(
				    "%s: %s shrinks by %llu, reports only "
				    "%llu free (actual %llu set %llu -> "
				    "%llu: %s)",
				    name, g->name,
				    (unsigned long long)(g->actual_bytes - t),
				    (unsigned long long)free_above,
				    (unsigned long long)g->actual_bytes,
				    (unsigned long long)g->set_bytes,
				    (unsigned long long)t, d[a->guest].reason);
			/* Stale stats: never below the role/pin target. */
			if (!g->stats_fresh && !g->pin_bytes &&
			    t < (g->role != POLICY_ROLE_NONE &&
					 g->replica_target_bytes
				     ? g->replica_target_bytes
				     : g->max_bytes) &&
			    t < g->actual_bytes && t < g->min_bytes)
				fail_msg("%s: %s shrunk on stale stats", name,
					 g->name);
			/* Settling stats: no further than QEMU's target. */
			uint64_t qemu = g->set_bytes && g->set_bytes < from
					    ? g->set_bytes
					    : from;
			if (g->stats_settling && !g->pin_bytes && t < qemu &&
			    t > g->min_bytes)
				fail_msg("%s: %s shrinks past QEMU's target on "
					 "settling stats",
					 name, g->name);
			if (c->shrink_step_bytes && t < from &&
			    from - t > c->shrink_step_bytes)
				fail_msg("%s: %s shrinks past shrink_step",
					 name, g->name);
		}
		if (step_grows && step_shrinks)
			fail_msg("%s: step %zu mixes grows and shrinks", name,
				 s);
		if (step_shrinks && !st->wait_moved && !seen_grow) {
			/* Shrinks without a wait come after every grow. */
			for (size_t s2 = s + 1; s2 < plan->n_steps; s2++)
				for (size_t k = plan->steps[s2].first;
				     k < plan->steps[s2].first +
					     plan->steps[s2].count;
				     k++)
					if (plan->actions[k].target_bytes >=
					    in->guests[plan->actions[k].guest]
						.actual_bytes)
						fail_msg("%s: a grow after an "
							 "unwaited shrink",
							 name);
		}
	}
}

static void run_case(const struct policy_case *c)
{
	struct policy_decision d[MAX_GUESTS + 1];
	struct policy_action actions[MAX_GUESTS * 2 + 1];
	/* Stale contents must not leak into the result. */
	memset(d, 0, sizeof(d));
	memset(actions, 0xff, sizeof(actions));
	struct policy_plan plan = {
	    .actions = actions, .n_actions = 99, .n_steps = 3};
	struct policy_config cfg = POLICY_CONFIG_DEFAULT;
	cfg.shrink_step_bytes = c->shrink_step_bytes;
	cfg.arc_manage = c->arc_manage;
	struct policy_input in = {
	    .guests = c->guests,
	    .n_guests = c->n,
	    .clusters = c->clusters,
	    .n_clusters = c->n_clusters,
	    .host = c->host,
	    .config = policy_config_resolve(cfg, c->host.mem_total_bytes),
	};

	int rc = policy_decide(&in, d, &plan);
	if (rc != c->rc)
		fail_msg("%s: returned %d, expected %d", c->name, rc, c->rc);
	if (rc)
		return;

	for (size_t i = 0; i < c->n; i++) {
		const struct want_decision *w = &c->decisions[i];
		if (w->target_bytes && d[i].target_bytes != w->target_bytes)
			fail_msg("%s: %s's target %llu, expected %llu", c->name,
				 c->guests[i].name,
				 (unsigned long long)d[i].target_bytes,
				 (unsigned long long)w->target_bytes);
		if (w->reason &&
		    (!d[i].reason || !strstr(d[i].reason, w->reason)))
			fail_msg("%s: %s's reason \"%s\" lacks \"%s\"", c->name,
				 c->guests[i].name,
				 d[i].reason ? d[i].reason : "(null)",
				 w->reason);
	}
	if (plan.n_steps != c->n_steps)
		fail_msg("%s: %zu steps, expected %zu", c->name, plan.n_steps,
			 c->n_steps);
	for (size_t s = 0; s < c->n_steps; s++) {
		const struct want_step *w = &c->steps[s];
		const struct policy_step *st = &plan.steps[s];
		if (st->count != w->n || st->wait_moved != w->wait_moved)
			fail_msg("%s: step %zu has %zu actions (wait %d), "
				 "expected %zu (wait %d)",
				 c->name, s, st->count, st->wait_moved, w->n,
				 w->wait_moved);
		for (size_t k = 0; k < w->n; k++) {
			const struct policy_action *a =
			    &plan.actions[st->first + k];
			if (a->guest != w->a[k].guest ||
			    (w->a[k].target_bytes &&
			     a->target_bytes != w->a[k].target_bytes))
				fail_msg(
				    "%s: step %zu action %zu is guest %zu "
				    "-> %llu, expected guest %zu -> %llu",
				    c->name, s, k, a->guest,
				    (unsigned long long)a->target_bytes,
				    w->a[k].guest,
				    (unsigned long long)w->a[k].target_bytes);
		}
	}
	if (c->reclaiming != 2 && plan.reclaiming != (c->reclaiming == 1))
		fail_msg("%s: reclaiming %d, expected %d", c->name,
			 plan.reclaiming, c->reclaiming);
	if (plan.arc_write != c->arc_write ||
	    (c->arc_write && (plan.arc_before != c->arc_before ||
			      plan.arc_max_bytes != c->arc_max_bytes)))
		fail_msg("%s: ARC write %d before %d %llu, expected %d %d %llu",
			 c->name, plan.arc_write, plan.arc_before,
			 (unsigned long long)plan.arc_max_bytes, c->arc_write,
			 c->arc_before, (unsigned long long)c->arc_max_bytes);
	check_invariants(&in, d, &plan, c->name);
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
		if (cases[i].n == 4)
			c = &cases[i];
	assert_non_null(c);
	struct policy_input in = {
	    .guests = c->guests,
	    .n_guests = c->n,
	    .clusters = c->clusters,
	    .n_clusters = c->n_clusters,
	    .host = c->host,
	    .config = policy_config_resolve(POLICY_CONFIG_DEFAULT,
					    c->host.mem_total_bytes)};
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

/* ---- the property test ---- */

static uint64_t rng_state;
static uint64_t rnd(void)
{
	/* splitmix64: seeded, reproducible, no libc state. */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int64_t rand_age(void)
{
	switch (below(4)) {
	case 0:
		return NEVER;
	case 1:
		return (int64_t)below(2000);
	case 2:
		return (int64_t)below(120000);
	default:
		return (int64_t)below(600000);
	}
}

static enum policy_role rand_role(void)
{
	return (enum policy_role)(1 + below(3));
}

static void test_property(void **state)
{
	enum { N = 24, RUNS = 5000 };
	const char *seed_env = getenv("POLICY_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 20261202;
	struct policy_guest g[N];
	struct policy_cluster cl[3];
	struct policy_decision d[N];
	struct policy_action a[N];
	char names[N][8];
	for (int run = 0; run < RUNS; run++) {
		rng_state = seed + (uint64_t)run;
		size_t n = 1 + below(N);
		for (size_t k = 0; k < 3; k++)
			cl[k] = (struct policy_cluster){
			    .reachable = below(5) != 0,
			    .has_leader = below(5) != 0,
			    .facts_age_ms = rand_age(),
			    .dwell_ms = below(120000),
			    .max_age_ms = 1000 + below(60000)};
		for (size_t i = 0; i < n; i++) {
			snprintf(names[i], sizeof(names[i]), "g%zu", i);
			/* (settling only without fresh stats, as the daemon
			 * fills it; set below.) */
			uint64_t max = (1 + below(64)) * GiB;
			uint64_t min = 64 * MiB + below(max - 64 * MiB);
			uint64_t actual = min / 2 + below(max + max / 8);
			if (actual < 64 * MiB)
				actual = 64 * MiB;
			bool member = below(2);
			g[i] = (struct policy_guest){
			    .name = names[i],
			    .max_bytes = max,
			    .min_bytes = below(20) ? min : max + GiB,
			    .replica_target_bytes =
				below(2) ? min + below(max - min + 1) : 0,
			    .pin_bytes = below(6) ? 0 : below(max + GiB),
			    .priority = (int)below(3) - 1,
			    .actual_bytes = actual,
			    .set_bytes = below(3) ? actual : below(max + 1),
			    .actual_known = below(10) != 0,
			    .link_up = below(10) != 0,
			    .role = member ? rand_role() : POLICY_ROLE_NONE,
			    .cluster = member ? (below(6) ? below(3)
							  : POLICY_NO_CLUSTER)
					      : POLICY_NO_CLUSTER,
			    .pushed_role = rand_role(),
			    .pushed_age_ms = rand_age(),
			    .confirmed_role = rand_role(),
			    .confirmed_streaming = below(4) != 0,
			    .confirmed_age_ms = rand_age(),
			    .role_change_age_ms = rand_age(),
			    .stats_fresh = below(3) != 0,
			    .stats_settling = below(2) != 0,
			    .available_bytes = below(actual + 1),
			    .deflated = below(12) == 0,
			};
		}
		for (size_t i = 0; i < n; i++)
			if (g[i].stats_fresh)
				g[i].stats_settling = false;
		uint64_t total = (64 + below(448)) * GiB;
		struct policy_host h = {
		    .known = below(6) != 0,
		    .mem_total_bytes = total,
		    .mem_available_bytes = below(total / 3),
		    .psi_some_avg10_x100 = (uint32_t)below(3000),
		    .psi_event = below(8) == 0,
		    .arc_present = below(2),
		    .arc_size_bytes = below(total / 2),
		    .arc_c_min_bytes = GiB,
		    .arc_c_max_bytes = total - GiB,
		    .arc_max_set_bytes = below(2) ? 0 : below(total),
		    .reclaiming = below(2),
		};
		struct policy_config cfg = POLICY_CONFIG_DEFAULT;
		cfg.shrink_step_bytes = below(2) ? 0 : (1 + below(4)) * GiB;
		cfg.arc_manage = below(2);
		struct policy_input in = {
		    .guests = g,
		    .n_guests = n,
		    .clusters = cl,
		    .n_clusters = 3,
		    .host = h,
		    .config = policy_config_resolve(cfg, total)};
		struct policy_plan plan = {.actions = a};
		char name[64];
		snprintf(name, sizeof(name), "seed %llu run %d",
			 (unsigned long long)seed, run);
		if (policy_decide(&in, d, &plan))
			fail_msg("%s: policy_decide failed", name);
		if (plan.n_actions > n || plan.n_steps > POLICY_MAX_STEPS)
			fail_msg("%s: %zu actions, %zu steps", name,
				 plan.n_actions, plan.n_steps);
		check_invariants(&in, d, &plan, name);
		if (plan.arc_write &&
		    (!plan.arc_max_bytes ||
		     plan.arc_max_bytes < in.config.arc_min_bytes ||
		     (h.arc_c_max_bytes > in.config.arc_min_bytes &&
		      plan.arc_max_bytes > h.arc_c_max_bytes)))
			fail_msg("%s: ARC cap %llu outside [arc_min, c_max]",
				 name, (unsigned long long)plan.arc_max_bytes);
	}
}

static void test_bad_arguments(void **state)
{
	struct policy_guest g = {
	    .name = "a", .max_bytes = GiB, .min_bytes = GiB, PLAIN};
	struct policy_decision d[1];
	struct policy_action a[1];
	struct policy_plan plan = {.actions = a};
	struct policy_input in = {.guests = &g, .n_guests = 1};

	assert_int_equal(policy_decide(NULL, d, &plan), -EINVAL);
	assert_int_equal(policy_decide(&in, NULL, &plan), -EINVAL);
	assert_int_equal(policy_decide(&in, d, NULL), -EINVAL);
	in.n_clusters = 1;
	assert_int_equal(policy_decide(&in, d, &plan), -EINVAL);
	in.n_clusters = 0;
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

static void test_config_resolve(void **state)
{
	struct policy_config c =
	    policy_config_resolve(POLICY_CONFIG_DEFAULT, 64 * GiB);
	assert_int_equal(c.host_reserve_bytes, 64 * GiB * 3 / 100);
	assert_int_equal(c.low_watermark_bytes, 64 * GiB * 5 / 100);
	assert_int_equal(c.high_watermark_bytes, 64 * GiB * 5 / 100 * 2);
	/* A small host keeps at least 512 MiB. */
	c = policy_config_resolve(POLICY_CONFIG_DEFAULT, 4 * GiB);
	assert_int_equal(c.host_reserve_bytes, 512 * MiB);
	/* Given values stay; a high below low is raised to low. */
	struct policy_config g = POLICY_CONFIG_DEFAULT;
	g.host_reserve_bytes = 3 * GiB;
	g.low_watermark_bytes = 4 * GiB;
	g.high_watermark_bytes = 2 * GiB;
	c = policy_config_resolve(g, 64 * GiB);
	assert_int_equal(c.host_reserve_bytes, 3 * GiB);
	assert_int_equal(c.high_watermark_bytes, 4 * GiB);
	struct policy_host h = HOST(10 * GiB);
	h.arc_present = true;
	h.arc_size_bytes = 11 * GiB;
	h.arc_c_min_bytes = 1 * GiB;
	c = policy_config_resolve(POLICY_CONFIG_DEFAULT, 64 * GiB);
	assert_int_equal(policy_headroom(&h, &c),
			 (int64_t)(10 * GiB + 5 * GiB) -
			     (int64_t)(64 * GiB * 3 / 100));
	h.known = false;
	assert_int_equal(policy_headroom(&h, &c), 0);
}

/* The plan reports the headroom the host was judged by (status, the
 * metric and its alert read it): with the ARC capped by balloond, that is
 * MemAvailable less the reserve alone, not the effective headroom. */
static void test_headroom_judged(void **state)
{
	struct policy_guest g = {.name = "a",
				 .max_bytes = 16 * GiB,
				 .min_bytes = 4 * GiB,
				 .actual_bytes = 16 * GiB,
				 .set_bytes = 16 * GiB,
				 PLAIN};
	struct policy_host h = HOST(10 * GiB);
	h.arc_present = true;
	h.arc_size_bytes = 20 * GiB;
	h.arc_c_min_bytes = 1 * GiB;
	h.arc_c_max_bytes = 63 * GiB;
	struct policy_input in = {
	    .guests = &g,
	    .n_guests = 1,
	    .host = h,
	    .config = policy_config_resolve(POLICY_CONFIG_DEFAULT, 64 * GiB)};
	struct policy_decision d[1];
	struct policy_action a[1];
	struct policy_plan p = {.actions = a};
	in.config.arc_manage = true;
	assert_int_equal(policy_decide(&in, d, &p), 0);
	assert_int_equal(p.headroom_bytes, policy_headroom_now(&h, &in.config));
	assert_true(p.headroom_bytes < policy_headroom(&h, &in.config));
	in.config.arc_manage = false;
	assert_int_equal(policy_decide(&in, d, &p), 0);
	assert_int_equal(p.headroom_bytes, policy_headroom(&h, &in.config));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_property),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_role_names),
	    cmocka_unit_test(test_config_resolve),
	    cmocka_unit_test(test_headroom_judged),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
