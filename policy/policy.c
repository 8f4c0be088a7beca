/*
 * policy.c: the first policy: every guest at its max unless an admin pinned
 * it with `balloonctl set`, and never a pin that could starve a Patroni
 * leader. Grows go first, in one step each; shrinks follow.
 */
#include "policy.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

const char *policy_role_name(enum policy_role role)
{
	switch (role) {
	case POLICY_ROLE_NONE:
		return "-";
	case POLICY_ROLE_UNKNOWN:
		return "unknown";
	case POLICY_ROLE_LEADER:
		return "leader";
	case POLICY_ROLE_REPLICA:
		return "replica";
	}
	return "?";
}

enum policy_role policy_role_parse(const char *word)
{
	/* Patroni 3.x says master, 4.x primary, /cluster leader; promoted
	 * maps to primary since 3.0.1. demoted, stopped and anything unknown
	 * may still be the leader (fail-open). */
	static const char *const leader[] = {"master", "primary", "promoted",
					     "standby_leader", "leader"};
	static const char *const replica[] = {"replica", "sync_standby",
					      "quorum_standby"};
	for (size_t i = 0; i < sizeof(leader) / sizeof(leader[0]); i++)
		if (strcasecmp(word, leader[i]) == 0)
			return POLICY_ROLE_LEADER;
	for (size_t i = 0; i < sizeof(replica) / sizeof(replica[0]); i++)
		if (strcasecmp(word, replica[i]) == 0)
			return POLICY_ROLE_REPLICA;
	return POLICY_ROLE_UNKNOWN;
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* A Patroni member whose role is not a confirmed replica may be the leader
 * (fail-open): it stays at its max whatever else is asked. */
static bool may_be_leader(const struct policy_guest *g)
{
	if (g->role == POLICY_ROLE_NONE)
		return false;
	return !(g->role == POLICY_ROLE_REPLICA && g->replica_confirmed &&
		 g->cluster_defined);
}

struct policy_decision policy_decide_guest(const struct policy_guest *g)
{
	struct policy_decision d = {0};

	if (!g->link_up) {
		d.reason = "QMP link down";
		return d;
	}
	if (!g->actual_known) {
		d.reason = "waiting for the guest's actual size";
		return d;
	}
	if (g->role != POLICY_ROLE_NONE && !g->cluster_defined) {
		d.target_bytes = g->max_bytes;
		d.reason =
		    "Patroni cluster not defined in the config: kept at max";
		return d;
	}
	if (g->pin_bytes && may_be_leader(g) && g->pin_bytes < g->max_bytes) {
		d.target_bytes = g->max_bytes;
		d.reason = "pinned, but may be the Patroni leader: kept at max";
		return d;
	}
	if (g->pin_bytes) {
		d.target_bytes =
		    clamp(g->pin_bytes, g->min_bytes, g->max_bytes);
		d.reason = "pinned by balloonctl set";
		return d;
	}
	d.target_bytes = g->max_bytes;
	d.reason = "at max (no policy shrinks it)";
	return d;
}

int policy_decide(const struct policy_input *in,
		  struct policy_decision *decisions, struct policy_plan *plan)
{
	if (!in || !plan || (in->n_guests && (!in->guests || !decisions)))
		return -EINVAL;
	plan->n_actions = 0;
	plan->n_steps = 0;

	for (size_t i = 0; i < in->n_guests; i++) {
		const struct policy_guest *g = &in->guests[i];
		/* One guest's bad bounds are its own trouble: it is left
		 * alone, with the reason, and the others are planned. */
		if (g->min_bytes > g->max_bytes || g->max_bytes == 0) {
			decisions[i] = (struct policy_decision){
			    .target_bytes = 0,
			    .reason = "not managed: bad bounds (min above "
				      "max, or no max)"};
			continue;
		}
		decisions[i] = policy_decide_guest(g);
	}

	/* Grows first (one step each, all in one plan step), then shrinks,
	 * each bounded by shrink_step_bytes. */
	for (int pass = 0; pass < 2; pass++) {
		size_t first = plan->n_actions;
		for (size_t i = 0; i < in->n_guests; i++) {
			const struct policy_guest *g = &in->guests[i];
			uint64_t t = decisions[i].target_bytes;
			if (!t)
				continue;
			/* A grow or a shrink by where the guest is now. */
			bool grow = t >= g->actual_bytes;
			if (grow != (pass == 0))
				continue;
			uint64_t step = in->config.shrink_step_bytes;
			if (!grow && step && g->actual_bytes - t > step)
				t = g->actual_bytes - step;
			/* A guest above its max (max lowered) goes straight to
			 * it: nothing above max may ever be sent. */
			if (t > g->max_bytes)
				t = g->max_bytes;
			/* QEMU already has this target: nothing to send. */
			if (t == g->set_bytes)
				continue;
			plan->actions[plan->n_actions++] =
			    (struct policy_action){.guest = i,
						   .target_bytes = t};
		}
		if (plan->n_actions > first)
			plan->steps[plan->n_steps++] = (struct policy_step){
			    .first = first,
			    .count = plan->n_actions - first,
			};
	}
	return 0;
}
