/*
 * policy.h: balloond's decisions, as pure functions.
 *
 * Input: a snapshot of every guest (bounds, role, pin, what QEMU reports)
 * and of the host. Output: each guest's target with the reason for it, and
 * an ordered plan of steps the executor carries out one after another.
 * No I/O, no clock reads, no globals: the daemon gathers the snapshot,
 * calls policy_decide, and hands the plan to the executor.
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

struct policy_guest {
	const char *name;
	uint64_t max_bytes;	       /* never above (the guest's RAM) */
	uint64_t min_bytes;	       /* never below */
	uint64_t replica_target_bytes; /* 0: none */
	uint64_t pin_bytes;	       /* 0: not pinned (balloonctl set) */
	uint64_t actual_bytes;	       /* as QEMU last reported */
	uint64_t set_bytes;	       /* target QEMU last acknowledged on
					* this connection; 0: not known */
	bool actual_known;	       /* false until query-balloon answered */
	bool link_up;		       /* QMP connection ready */
	enum policy_role role;
	bool cluster_defined;	/* its Patroni cluster is configured */
	bool replica_confirmed; /* Patroni REST confirms a streaming
				 * replica past its dwell time */
	int priority;		/* higher keeps memory longer */
};

/* The host; filled by the host memory monitor (zero: unknown). */
struct policy_host {
	uint64_t mem_total_bytes;
	uint64_t mem_available_bytes;
};

struct policy_config {
	uint64_t shrink_step_bytes; /* largest single shrink; 0: no limit */
};

#define POLICY_CONFIG_DEFAULT ((struct policy_config){.shrink_step_bytes = 0})

struct policy_input {
	const struct policy_guest *guests;
	size_t n_guests;
	struct policy_host host;
	struct policy_config config;
};

/* A guest's decided target. reason is a static string. */
struct policy_decision {
	uint64_t
	    target_bytes; /* 0: leave alone (actual unknown or link down) */
	const char *reason;
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
};

/* One guest's target alone (what policy_decide gives it). */
struct policy_decision policy_decide_guest(const struct policy_guest *g);

/* Decide. decisions and plan->actions must each hold in->n_guests entries.
 * Returns 0 or -EINVAL. */
int policy_decide(const struct policy_input *in,
		  struct policy_decision *decisions, struct policy_plan *plan);

#endif
