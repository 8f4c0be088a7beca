/*
 * policy.h: balloond's decisions, as pure functions.
 *
 * Input: a snapshot of every guest (bounds, pin, what QEMU reports, what
 * the guest says about its own memory, its Patroni role facts), of every
 * Patroni cluster, and of the host (MemAvailable, PSI, the ZFS ARC).
 * Output: each guest's target with the reason for it, and an ordered plan
 * of steps the executor carries out one after another.
 *
 * No I/O, no clock reads, no globals: the caller passes ages, not times,
 * so tables, property tests and the simulator drive the same code.
 *
 * The rules, each a safety invariant with its tests (tests/test-policy.c):
 *  1. Role words: master, primary, promoted, standby_leader, leader mean
 *     leader; replica, sync_standby, quorum_standby mean replica; demoted,
 *     stopped, unknown or missing mean "may be leader".
 *  2. Fail-open: a guest that is or may be a leader gets its max; so does
 *     every member of a cluster that is unreachable, has no leader, or whose
 *     facts are older than its max_age_ms.
 *  3. A pushed leader role grows at once; a guest shrinks to its replica
 *     target only when Patroni's REST API confirms a streaming replica, and
 *     only dwell_ms after its last role change.
 *  4. No target below min or above max.
 *  5. Grow before shrink when the host's headroom covers the grows; else the
 *     donors shrink first and the grows wait until they moved. A leader's
 *     grow comes before every other grow; a pushed or confirmed leader's
 *     goes at once whatever the headroom (the leader outranks the host),
 *     a may-be-leader's as far as the headroom covers it.
 *  6. Shrinks go in bounded steps, grows in one; changes within the
 *     deadband are skipped, except a move to a size the admin chose (max,
 *     the replica target, a pin): an estimate is not worth a command, the
 *     size the guest is meant to have is.
 * The host: the watermarks stand above the promotion reserve (each
 * cluster's furthest-below-max member that is no leader, grown to max),
 * so that a promotion finds its memory free without waiting for donors.
 * When balloond caps the ARC, the host is judged by MemAvailable alone
 * (the ARC gives memory back at tens of MiB/s), and the cap leaves the
 * high watermark and the reserve free.
 * And from the guest's side: a shrink never takes more than the guest
 * reports available minus its reserve; a starving guest is no donor and
 * gets back what it needs; stale stats never justify a shrink. Below the
 * critical watermark the host's survival outranks a guest's comfort:
 * every guest that is no leader gives beyond its reserve (starving or
 * not, and replicas below their replica target last), never more than it
 * reports available, and no starving guest grows.
 */
#ifndef BALLOOND_POLICY_H
#define BALLOOND_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What balloond believes a guest is in its Patroni cluster. */
enum policy_role {
	POLICY_ROLE_NONE,    /* not a Patroni member */
	POLICY_ROLE_UNKNOWN, /* a member, role not known: may be leader */
	POLICY_ROLE_LEADER,  /* leader (Patroni's master/primary) */
	POLICY_ROLE_REPLICA, /* a replica as last reported */
};

const char *policy_role_name(enum policy_role role);
/* A Patroni role word (callback argument or /cluster's "role"), any case:
 * master, primary, promoted, standby_leader, leader: LEADER; replica,
 * sync_standby, quorum_standby: REPLICA; anything else (demoted, stopped,
 * unknown): UNKNOWN, which means "may be the leader". */
enum policy_role policy_role_parse(const char *word);

#define POLICY_NO_CLUSTER ((size_t)-1)
#define POLICY_NEVER	  ((int64_t)-1) /* an age: it never happened */

/* What is known of one Patroni cluster. */
struct policy_cluster {
	bool reachable;	      /* its REST API answered the last poll */
	bool has_leader;      /* ... and named a leader */
	int64_t facts_age_ms; /* since that answer; POLICY_NEVER: none */
	uint64_t dwell_ms;    /* no shrink sooner after a role change */
	uint64_t max_age_ms;  /* facts older than this are stale */
};

struct policy_guest {
	const char *name;
	uint64_t max_bytes;	       /* never above (the guest's RAM) */
	uint64_t min_bytes;	       /* never below */
	uint64_t replica_target_bytes; /* 0: none */
	uint64_t pin_bytes;	       /* 0: not pinned (balloonctl set) */
	int priority;		       /* higher keeps memory longer */

	uint64_t actual_bytes; /* as QEMU last reported */
	uint64_t set_bytes;    /* target QEMU last acknowledged on this
				* connection; 0: not known */
	bool actual_known;     /* false until query-balloon answered */
	bool link_up;	       /* QMP connection ready */

	/* Patroni. role is NONE for a guest that is no member; cluster is
	 * the index of its cluster in policy_input.clusters, or
	 * POLICY_NO_CLUSTER when the config has no section for it. */
	enum policy_role role; /* NONE, or any other value: a member */
	size_t cluster;
	enum policy_role pushed_role;	 /* last on_role_change, else UNKNOWN */
	int64_t pushed_age_ms;		 /* POLICY_NEVER: none */
	enum policy_role confirmed_role; /* from the REST API, else UNKNOWN */
	bool confirmed_streaming;	 /* ... and replicating (streaming) */
	int64_t confirmed_age_ms;	 /* POLICY_NEVER: never confirmed */
	int64_t role_change_age_ms;	 /* since its role last changed, pushed
					  * or confirmed; POLICY_NEVER: never */

	/* What the guest says (virtio-balloon stats). The caller sets
	 * stats_fresh only for stats the guest updated (last-update > 0),
	 * younger than a few polling intervals, and taken after the balloon
	 * last moved. stats_settling: the guest has such stats, but they
	 * predate the balloon's last move: no further shrink than the target
	 * QEMU has until new ones come (a shrink in progress is not undone
	 * either). Neither: unknown, never a reason to shrink beyond the
	 * guest's role or pin target. */
	bool stats_fresh;
	bool stats_settling;
	uint64_t available_bytes; /* stat-available-memory */
	uint64_t free_bytes;	  /* stat-free-memory */
	/* The balloon deflated by itself (actual rose above the target:
	 * deflate-on-oom): the guest needed that memory. The caller keeps it
	 * until fresh stats show the guest above its watermark again. */
	bool deflated;
};

/* The host; filled by the host-memory source. known false: no reading
 * yet, so no reclaim (and grows are not held back). */
struct policy_host {
	bool known;
	uint64_t mem_total_bytes;
	uint64_t mem_available_bytes;
	/* Memory PSI averages over 10 s, in hundredths of a percent. */
	uint32_t psi_some_avg10_x100, psi_full_avg10_x100;
	bool psi_event; /* a PSI trigger fired since the last plan */
	/* The ZFS ARC, when present. MemAvailable does not count it. */
	bool arc_present;
	uint64_t arc_size_bytes, arc_c_min_bytes;
	uint64_t arc_c_max_bytes;   /* the ARC's own c_max, as it was before
				     * balloond wrote zfs_arc_max (which
				     * becomes arcstats' c_max) */
	uint64_t arc_max_set_bytes; /* zfs_arc_max as last written; 0: not
				     * written by balloond (unknown) */
	bool reclaiming;	    /* the last plan's state (hysteresis) */
	bool critical;		    /* the last plan's critical (not read by
				     * the policy: the caller's, for events) */
};

struct policy_config {
	uint64_t shrink_step_bytes; /* largest single shrink; 0: no limit */
	uint64_t deadband_bytes;    /* smaller changes are skipped */
	/* A guest keeps at least its reserve, max(guest_reserve_min, pct of
	 * its max), available: a shrink never takes it below. Under half of
	 * it the guest is starving (its low watermark) and is grown back to
	 * one and a half times it: the gap keeps a guest that hovers near
	 * its reserve from swinging between shrink and grow. */
	uint64_t guest_reserve_min_bytes;
	unsigned guest_reserve_pct;
	/* The host keeps this much for itself (headroom counts it out). */
	uint64_t host_reserve_bytes;
	unsigned arc_reclaim_pct; /* of the ARC above c_min, as headroom */
	/* Reclaim below low, release above high (effective headroom, plus
	 * the promotion reserve). Below critical, the host's survival
	 * outranks a guest's comfort: starving guests that are no leader
	 * give too, down to their min (never above low). */
	uint64_t low_watermark_bytes, high_watermark_bytes;
	uint64_t critical_watermark_bytes;
	/* Memory PSI some avg10 at or above this means pressure (x100 %);
	 * 0: PSI averages are not used (the trigger still is). */
	uint32_t psi_some_limit_x100;
	/* The ZFS ARC budget (zfs_arc_max), when arc_manage. */
	bool arc_manage;
	uint64_t arc_min_bytes;
	uint64_t arc_deadband_bytes;
};

/* Defaults that need the host's size (reserve, watermarks): filled by
 * policy_config_resolve. */
#define POLICY_CONFIG_DEFAULT                                                  \
	((struct policy_config){                                               \
	    .shrink_step_bytes = 0,                                            \
	    .deadband_bytes = 16ULL << 20,                                     \
	    .guest_reserve_min_bytes = 64ULL << 20,                            \
	    .guest_reserve_pct = 5,                                            \
	    .host_reserve_bytes = 0,                                           \
	    .arc_reclaim_pct = 50,                                             \
	    .low_watermark_bytes = 0,                                          \
	    .high_watermark_bytes = 0,                                         \
	    .critical_watermark_bytes = 0,                                     \
	    .psi_some_limit_x100 = 1000,                                       \
	    .arc_manage = false,                                               \
	    .arc_min_bytes = 1ULL << 30,                                       \
	    .arc_deadband_bytes = 64ULL << 20,                                 \
	})

/* Fill what is 0 and depends on the host: host_reserve_bytes (the larger
 * of 512 MiB and 3 % of MemTotal), low_watermark_bytes (5 % of MemTotal),
 * high_watermark_bytes (low + 5 % of MemTotal), critical_watermark_bytes
 * (2 % of MemTotal; never above low). */
struct policy_config policy_config_resolve(struct policy_config c,
					   uint64_t mem_total_bytes);

struct policy_input {
	const struct policy_guest *guests;
	size_t n_guests;
	const struct policy_cluster *clusters;
	size_t n_clusters;
	struct policy_host host;
	struct policy_config config; /* resolved */
	/* Guests left out of `guests` (link down, bounds not known) still
	 * hold memory: their RAM as far as known, for the ARC budget; with
	 * guest_sizes_unknown (some RAM not known at all) no cap is written. */
	uint64_t other_guests_bytes;
	bool guest_sizes_unknown;
};

/* A guest's decided target. reason is a static string. */
struct policy_decision {
	uint64_t target_bytes; /* 0: leave alone (actual unknown, link down,
				* bad bounds) */
	const char *reason;
	bool may_be_leader;  /* kept at max by rules 1-3 */
	bool starving;	     /* below its watermark, or deflated */
	uint64_t need_bytes; /* starving: what it gets at once, even under
			      * pressure (the rest waits for room) */
	bool over_free;	     /* a pin takes more than the guest reports
			      * available (status warns) */
};

/* One command of the plan: set guests[guest] to target_bytes. */
struct policy_action {
	size_t guest;
	uint64_t target_bytes;
};

/* Steps run in order; a step starts when every command of the previous one
 * was acknowledged (or failed), and, with wait_moved, when those guests'
 * actual sizes reached their targets. */
struct policy_step {
	size_t first, count; /* a range of policy_plan.actions */
	bool wait_moved;
};

#define POLICY_MAX_STEPS 4

struct policy_plan {
	struct policy_action *actions; /* n_guests entries, caller-allocated */
	size_t n_actions;
	struct policy_step steps[POLICY_MAX_STEPS];
	size_t n_steps;
	/* The host as the policy saw it. */
	bool reclaiming; /* under pressure: reclaiming from donors */
	bool critical;	 /* below the critical watermark: starving
			  * guests that are no leader give too */
	/* The headroom the host was judged by: the effective headroom, or
	 * the headroom now while balloond caps the ARC (0 if host unknown). */
	int64_t headroom_bytes;
	uint64_t reserve_bytes; /* the promotion reserve kept free */
	/* The ARC budget: write arc_max_bytes to zfs_arc_max, before the
	 * first step (a lower cap, ahead of grows) or after the last (a
	 * higher one, once the shrinks moved). */
	bool arc_write;
	bool arc_before;
	uint64_t arc_max_bytes;
};

/* One guest's target alone, without host pressure or ordering (what a pin
 * would give it now). */
struct policy_decision policy_decide_guest(const struct policy_input *in,
					   size_t i);

/* A guest's reserve: max(guest_reserve_min, guest_reserve_pct of max). */
uint64_t policy_guest_reserve(const struct policy_config *c,
			      const struct policy_guest *g);

/* Effective headroom: MemAvailable + arc_reclaim_pct of the ARC above
 * c_min - host_reserve. 0 when the host is unknown. */
int64_t policy_headroom(const struct policy_host *h,
			const struct policy_config *c);

/* Headroom now: MemAvailable - host_reserve, the ARC not counted (it
 * gives memory back at tens of MiB/s). When balloond caps the ARC
 * (arc_manage), the policy judges the host by this, not by the effective
 * headroom: the cap leaves the watermarks and the promotion reserve in
 * free memory. 0 when the host is unknown. */
int64_t policy_headroom_now(const struct policy_host *h,
			    const struct policy_config *c);

/* The ARC budget for guests taking guests_bytes: MemTotal - guests -
 * host_reserve, never below arc_min, never above c_max. Never 0. */
uint64_t policy_arc_cap(const struct policy_host *h,
			const struct policy_config *c, uint64_t guests_bytes);

/* Decide. decisions and plan->actions must each hold in->n_guests entries.
 * Returns 0, -EINVAL (bad arguments; a guest with bad bounds is skipped
 * with a reason, never an error) or -ENOMEM. Linear in the number of guests,
 * but for sorting the donors. */
int policy_decide(const struct policy_input *in,
		  struct policy_decision *decisions, struct policy_plan *plan);

#endif
