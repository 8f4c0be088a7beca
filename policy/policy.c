/*
 * policy.c: balloond's brain, a pure function from a snapshot to targets
 * and an ordered plan (see policy.h for the rules it keeps).
 *
 * Three passes, each linear in the guests (the donors are sorted once):
 *  1. each guest alone: link and bounds, Patroni facts (leader or may be:
 *     max), pin, replica target, and its own demand (a starving guest grows
 *     back; a shrink takes only what the guest reports free);
 *  2. the host: the watermarks raised by the promotion reserve; under
 *     pressure, reclaim from donors (plain guests first, then replicas
 *     down to their replica target, the most free first) and hold back
 *     grows that are not needed; below the critical watermark, from every
 *     guest that is no leader, beyond its reserve; otherwise release,
 *     within the headroom above the high watermark;
 *  3. the plan: grows before shrinks when the headroom covers them, else
 *     the donors shrink first and the grows wait until they moved; a
 *     leader's grow before every other, a known leader's at once; shrinks
 *     in bounded steps; the ARC budget (leaving the high watermark and
 *     the reserve free) lowered before grows, raised after shrinks.
 */
#include "policy.h"

#include <errno.h>
#include <stdlib.h>
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

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

struct policy_config policy_config_resolve(struct policy_config c,
					   uint64_t total)
{
	if (!c.host_reserve_bytes)
		c.host_reserve_bytes = max_u64(512ULL << 20, total * 3 / 100);
	if (!c.low_watermark_bytes)
		c.low_watermark_bytes = total * 5 / 100;
	if (!c.high_watermark_bytes)
		c.high_watermark_bytes =
		    c.low_watermark_bytes + total * 5 / 100;
	if (c.high_watermark_bytes < c.low_watermark_bytes)
		c.high_watermark_bytes = c.low_watermark_bytes;
	if (!c.critical_watermark_bytes)
		c.critical_watermark_bytes = total * 2 / 100;
	if (c.critical_watermark_bytes > c.low_watermark_bytes)
		c.critical_watermark_bytes = c.low_watermark_bytes;
	return c;
}

uint64_t policy_guest_reserve(const struct policy_config *c,
			      const struct policy_guest *g)
{
	return max_u64(c->guest_reserve_min_bytes,
		       g->max_bytes * c->guest_reserve_pct / 100);
}

int64_t policy_headroom(const struct policy_host *h,
			const struct policy_config *c)
{
	if (!h->known)
		return 0;
	uint64_t arc = 0;
	if (h->arc_present && h->arc_size_bytes > h->arc_c_min_bytes)
		arc = (h->arc_size_bytes - h->arc_c_min_bytes) *
		      c->arc_reclaim_pct / 100;
	return (int64_t)(h->mem_available_bytes + arc) -
	       (int64_t)c->host_reserve_bytes;
}

int64_t policy_headroom_now(const struct policy_host *h,
			    const struct policy_config *c)
{
	if (!h->known)
		return 0;
	return (int64_t)h->mem_available_bytes - (int64_t)c->host_reserve_bytes;
}

/* ---- pass 1: one guest ---- */

static bool older(int64_t age_a, int64_t age_b)
{
	/* Is event a older than event b? NEVER is older than anything. */
	if (age_a == POLICY_NEVER)
		return true;
	if (age_b == POLICY_NEVER)
		return false;
	return age_a > age_b;
}

/* Is g, a Patroni member, the leader or possibly the leader? Fail-open:
 * anything short of a fresh confirmation of a healthy streaming replica,
 * past its dwell time, says yes, and *why says which. */
static bool may_be_leader(const struct policy_input *in,
			  const struct policy_guest *g, const char **why)
{
	if (g->role == POLICY_ROLE_NONE)
		return false;
	if (g->pushed_role == POLICY_ROLE_LEADER &&
	    !older(g->pushed_age_ms, g->confirmed_age_ms)) {
		*why = "Patroni leader (pushed): at max";
		return true;
	}
	if (g->confirmed_role == POLICY_ROLE_LEADER) {
		*why = "Patroni leader: at max";
		return true;
	}
	if (g->cluster == POLICY_NO_CLUSTER || g->cluster >= in->n_clusters) {
		*why = "Patroni cluster not defined in the config: kept at max";
		return true;
	}
	const struct policy_cluster *cl = &in->clusters[g->cluster];
	if (!cl->reachable || cl->facts_age_ms == POLICY_NEVER) {
		*why = "Patroni REST API unreachable: kept at max (fail-open)";
		return true;
	}
	if (!cl->has_leader) {
		*why = "Patroni cluster has no leader: kept at max (fail-open)";
		return true;
	}
	if ((uint64_t)cl->facts_age_ms > cl->max_age_ms) {
		*why = "Patroni facts are stale: kept at max (fail-open)";
		return true;
	}
	if (g->confirmed_role != POLICY_ROLE_REPLICA ||
	    g->confirmed_age_ms == POLICY_NEVER ||
	    (uint64_t)g->confirmed_age_ms > cl->max_age_ms) {
		*why = "not confirmed a replica by Patroni: kept at max";
		return true;
	}
	if (!g->confirmed_streaming) {
		*why = "replica not streaming: kept at max";
		return true;
	}
	if (g->pushed_age_ms != POLICY_NEVER &&
	    g->pushed_role != POLICY_ROLE_REPLICA &&
	    !older(g->pushed_age_ms, g->confirmed_age_ms)) {
		*why = "a role was pushed since Patroni's confirmation: kept "
		       "at max";
		return true;
	}
	if (g->role_change_age_ms != POLICY_NEVER &&
	    (uint64_t)g->role_change_age_ms < cl->dwell_ms) {
		*why = "confirmed replica, within its dwell time: kept at max";
		return true;
	}
	return false;
}

/* The most a shrink may take from g now: what it reports available above
 * its reserve (UINT64_MAX when its stats are not known). */
static uint64_t spare(const struct policy_config *c,
		      const struct policy_guest *g)
{
	if (!g->stats_fresh)
		return UINT64_MAX;
	uint64_t reserve = policy_guest_reserve(c, g);
	return g->available_bytes > reserve ? g->available_bytes - reserve : 0;
}

struct policy_decision policy_decide_guest(const struct policy_input *in,
					   size_t i)
{
	const struct policy_guest *g = &in->guests[i];
	const struct policy_config *c = &in->config;
	struct policy_decision d = {0};
	const char *why = NULL;

	if (g->min_bytes > g->max_bytes || g->max_bytes == 0) {
		d.reason = "not managed: bad bounds (min above max, or no max)";
		return d;
	}
	if (!g->link_up) {
		d.reason = "QMP link down";
		return d;
	}
	if (!g->actual_known) {
		d.reason = "waiting for the guest's actual size";
		return d;
	}
	if (may_be_leader(in, g, &why)) {
		d.may_be_leader = true;
		d.target_bytes = g->max_bytes;
		d.reason = why; /* a pin is shown by status, and ignored */
		return d;
	}

	uint64_t reserve = policy_guest_reserve(c, g);
	d.starving =
	    g->deflated || (g->stats_fresh && g->available_bytes < reserve / 2);
	if (g->pin_bytes) {
		/* The admin's explicit choice, within bounds; status warns
		 * when it takes more than the guest reports free. */
		d.target_bytes =
		    clamp(g->pin_bytes, g->min_bytes, g->max_bytes);
		d.reason = "pinned by balloonctl set";
		if (d.target_bytes < g->actual_bytes &&
		    g->actual_bytes - d.target_bytes > spare(c, g))
			d.over_free = true;
		if (d.starving && d.target_bytes < g->actual_bytes) {
			/* Not even a pin shrinks a starving guest further. */
			d.target_bytes =
			    clamp(g->actual_bytes, g->min_bytes, g->max_bytes);
			d.reason = "pinned, but starving: not shrunk";
		}
		return d;
	}
	if (g->role != POLICY_ROLE_NONE && g->replica_target_bytes) {
		d.target_bytes =
		    clamp(g->replica_target_bytes, g->min_bytes, g->max_bytes);
		d.reason = "confirmed streaming replica: its replica target";
	} else {
		d.target_bytes = g->max_bytes;
		d.reason = "at max";
	}
	if (d.starving) {
		/* It gets back what it needs to climb well above its
		 * watermark (one and a half reserves), at once, up to its
		 * max; never less than it has. */
		uint64_t high = reserve + reserve / 2;
		uint64_t need = g->stats_fresh && g->available_bytes < high
				    ? high - g->available_bytes
				    : reserve;
		uint64_t want = min_u64(g->max_bytes, g->actual_bytes + need);
		d.need_bytes = max_u64(want, g->min_bytes);
		/* The need is a floor, not a measure: a guest can report no
		 * less than nothing available, so how short it is stays
		 * unknown. It goes toward its max, as far as the host has
		 * room above the high watermark (the host pass). */
		d.target_bytes = g->max_bytes;
		d.reason = g->deflated ? "deflated by itself (it needed the "
					 "memory): not shrunk, grown back"
				       : "starving: grown back above its "
					 "watermark";
		return d;
	}
	if (d.target_bytes < g->actual_bytes && g->stats_settling) {
		/* Its stats describe the guest before the balloon moved: no
		 * further than the target QEMU has until new ones come. */
		uint64_t now = g->set_bytes && g->set_bytes < g->actual_bytes
				   ? g->set_bytes
				   : g->actual_bytes;
		if (d.target_bytes < now) {
			d.target_bytes = clamp(now, g->min_bytes, g->max_bytes);
			d.reason = "waiting for guest stats taken after its "
				   "balloon moved";
		}
	}
	if (d.target_bytes < g->actual_bytes) {
		uint64_t most = spare(c, g);
		if (g->actual_bytes - d.target_bytes > most) {
			/* A guest above a lowered max still goes to max. */
			d.target_bytes = clamp(g->actual_bytes - most,
					       g->min_bytes, g->max_bytes);
			d.reason = "shrinking only what the guest reports free";
		}
	}
	return d;
}

/* ---- pass 2: the host ---- */

struct donor {
	size_t i;
	bool member; /* a Patroni member: gives after plain guests */
	uint64_t available;
	int priority;
	uint64_t capacity; /* what it can give below its target */
};

static int donor_cmp(const void *a, const void *b)
{
	const struct donor *x = a, *y = b;
	if (x->member != y->member)
		return x->member ? 1 : -1;
	if (x->available != y->available)
		return x->available > y->available ? -1 : 1;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Reclaim's tiers, in order. TIER_SPARE: guests with memory to spare
 * above their reserve, plain guests before Patroni members, then the most
 * available, then the lowest priority; a replica never below its replica
 * target (what the pre_promote hook's wait is sized for: a promotion from
 * further down takes longer than the hook waits), never a starving guest.
 * Below the critical watermark the host's survival outranks a guest's
 * comfort: TIER_RESERVE takes from every guest that is no leader,
 * starving or not, beyond its reserve, down to its min but no replica
 * below its replica target; TIER_CRITICAL then takes replicas below it
 * too. Both the most available first. */
enum tier { TIER_SPARE, TIER_RESERVE, TIER_CRITICAL };

/* Take `need` from one tier's donors; what is left over. */
static uint64_t reclaim_tier(const struct policy_input *in,
			     struct policy_decision *d, uint64_t need,
			     enum tier tier)
{
	const struct policy_config *c = &in->config;
	struct donor *v = malloc((in->n_guests + 1) * sizeof(*v));
	size_t n = 0;
	if (!v)
		return need; /* nothing reclaimed: the safe side */
	for (size_t i = 0; i < in->n_guests; i++) {
		const struct policy_guest *g = &in->guests[i];
		/* Never a leader or a may-be-leader, never on the strength of
		 * unknown stats, never a pin; a starving guest only in the
		 * critical tier. */
		if (!d[i].target_bytes || d[i].may_be_leader ||
		    (d[i].starving && tier == TIER_SPARE) || !g->stats_fresh ||
		    g->pin_bytes)
			continue;
		uint64_t floor = g->min_bytes;
		uint64_t most = spare(c, g);
		if (tier == TIER_SPARE && g->actual_bytes > most)
			floor = max_u64(floor, g->actual_bytes - most);
		/* Beyond its reserve, but no further than what it reports
		 * available: the balloon cannot take what the guest uses,
		 * and a target it never reaches holds the plan's next steps
		 * until the executor gives up waiting. */
		if (tier != TIER_SPARE && g->actual_bytes > g->available_bytes)
			floor = max_u64(floor,
					g->actual_bytes - g->available_bytes);
		if (tier != TIER_CRITICAL && g->role != POLICY_ROLE_NONE &&
		    g->replica_target_bytes)
			floor = max_u64(floor, g->replica_target_bytes);
		uint64_t from = min_u64(d[i].target_bytes, g->actual_bytes);
		if (from <= floor)
			continue;
		v[n++] = (struct donor){
		    i, tier == TIER_SPARE && g->role != POLICY_ROLE_NONE,
		    g->available_bytes, g->priority, from - floor};
	}
	qsort(v, n, sizeof(*v), donor_cmp);
	for (size_t k = 0; k < n && need > 0; k++) {
		const struct policy_guest *g = &in->guests[v[k].i];
		uint64_t take = min_u64(v[k].capacity, need);
		uint64_t from =
		    min_u64(d[v[k].i].target_bytes, g->actual_bytes);
		d[v[k].i].target_bytes = from - take;
		d[v[k].i].reason =
		    tier != TIER_SPARE
			? "host critical (below its critical watermark): "
			  "taking beyond the guest's reserve"
			: "host under pressure: reclaiming free memory";
		need -= take;
	}
	free(v);
	return need;
}

static void reclaim(const struct policy_input *in, struct policy_decision *d,
		    uint64_t need, bool critical)
{
	need = reclaim_tier(in, d, need, TIER_SPARE);
	if (need && critical)
		need = reclaim_tier(in, d, need, TIER_RESERVE);
	if (need && critical)
		reclaim_tier(in, d, need, TIER_CRITICAL);
}

/* The promotion reserve: for each cluster, what its member that is no
 * leader and furthest below its max would take to grow to max; summed, so
 * that a promotion in every cluster at once finds the memory free. */
static uint64_t promotion_reserve(const struct policy_input *in,
				  const struct policy_decision *d)
{
	uint64_t sum = 0;
	for (size_t k = 0; k < in->n_clusters; k++) {
		uint64_t most = 0;
		for (size_t i = 0; i < in->n_guests; i++) {
			const struct policy_guest *g = &in->guests[i];
			if (g->role == POLICY_ROLE_NONE || g->cluster != k ||
			    !d[i].target_bytes || d[i].may_be_leader)
				continue;
			uint64_t at =
			    min_u64(g->actual_bytes, d[i].target_bytes);
			if (at < g->max_bytes)
				most = max_u64(most, g->max_bytes - at);
		}
		sum += most;
	}
	return sum;
}

/* ---- pass 3: the plan ---- */

/* What each guest's action is, for the steps. */
enum group {
	G_NONE,
	G_LEADER_NOW,	/* a leader's grow the headroom covers now */
	G_LEADER_LATER, /* a leader's grow that waits for the donors */
	G_GROW,		/* any other grow */
	G_SHRINK,
};

struct planner {
	const struct policy_input *in;
	const struct policy_decision *d;
	const unsigned char *group;
	struct policy_plan *plan;
};

/* A size the admin chose for g: its replica target or its pin. The
 * deadband skips small corrections of estimates (what a guest reports free,
 * a step), never the last move to a chosen size: a replica left at its
 * last spare-limited target, a deadband above its replica target, would
 * stay there. */
static bool chosen_size(const struct policy_guest *g, uint64_t t)
{
	return (g->role != POLICY_ROLE_NONE && g->replica_target_bytes &&
		t == clamp(g->replica_target_bytes, g->min_bytes,
			   g->max_bytes)) ||
	       (g->pin_bytes &&
		t == clamp(g->pin_bytes, g->min_bytes, g->max_bytes));
}

/* Add the actions of one group as a step. */
static void add_step(struct planner *p, enum group kind, bool wait_moved)
{
	const struct policy_input *in = p->in;
	const struct policy_config *c = &in->config;
	struct policy_plan *plan = p->plan;
	size_t first = plan->n_actions;
	if (plan->n_steps == POLICY_MAX_STEPS || kind == G_NONE)
		return;
	for (size_t i = 0; i < in->n_guests; i++) {
		const struct policy_guest *g = &in->guests[i];
		uint64_t t = p->d[i].target_bytes;
		if (p->group[i] != kind)
			continue;
		bool grow = kind != G_SHRINK;
		if (!grow && c->shrink_step_bytes &&
		    g->actual_bytes - t > c->shrink_step_bytes)
			t = g->actual_bytes - c->shrink_step_bytes;
		/* Nothing above max may ever be sent (a lowered max). */
		t = min_u64(t, g->max_bytes);
		/* Where the steps lead: the deadband weighs the whole move, so
		 * that a shrink_step below it still moves. */
		uint64_t goal = min_u64(p->d[i].target_bytes, g->max_bytes);
		bool same = t == g->set_bytes;
		uint64_t diff = g->set_bytes > goal ? g->set_bytes - goal
						    : goal - g->set_bytes;
		/* A donor still moving toward a target QEMU already has is
		 * listed all the same in a step that waits for it. */
		bool moving = wait_moved && !grow &&
			      g->actual_bytes - t > c->deadband_bytes;
		if (same && !moving)
			continue;
		if (!same && g->set_bytes && diff < c->deadband_bytes &&
		    goal != g->max_bytes && !chosen_size(g, goal) && !moving)
			continue;
		plan->actions[plan->n_actions++] =
		    (struct policy_action){.guest = i, .target_bytes = t};
	}
	if (plan->n_actions > first)
		plan->steps[plan->n_steps++] = (struct policy_step){
		    .first = first,
		    .count = plan->n_actions - first,
		    .wait_moved = wait_moved,
		};
}

uint64_t policy_arc_cap(const struct policy_host *h,
			const struct policy_config *c, uint64_t guests_bytes)
{
	uint64_t used = guests_bytes + c->host_reserve_bytes;
	uint64_t cap =
	    h->mem_total_bytes > used ? h->mem_total_bytes - used : 0;
	cap = max_u64(cap, c->arc_min_bytes);
	if (h->arc_c_max_bytes)
		cap =
		    min_u64(cap, max_u64(h->arc_c_max_bytes, c->arc_min_bytes));
	return cap;
}

static void arc_budget(const struct policy_input *in,
		       const struct policy_decision *d, uint64_t margin,
		       struct policy_plan *plan)
{
	const struct policy_host *h = &in->host;
	const struct policy_config *c = &in->config;
	if (!c->arc_manage || !h->known || !h->arc_present ||
	    in->guest_sizes_unknown)
		return;
	/* The ARC gives memory back slowly (tens of MiB/s): it gets what
	 * leaves the host its high watermark and the promotion reserve
	 * free besides, or a grow would find the memory in the ARC. */
	uint64_t guests = in->other_guests_bytes + margin;
	for (size_t i = 0; i < in->n_guests; i++)
		guests += d[i].target_bytes ? d[i].target_bytes
					    : in->guests[i].actual_bytes;
	uint64_t cap = policy_arc_cap(h, c, guests);
	uint64_t now = h->arc_max_set_bytes;
	uint64_t diff = now > cap ? now - cap : cap - now;
	if (now && diff <= c->arc_deadband_bytes)
		return;
	plan->arc_write = true;
	plan->arc_max_bytes = cap;
	/* Lowered before any guest grows; raised once the shrinks moved. */
	plan->arc_before = !now || cap < now;
}

/* Which step each guest's action goes in. Leaders' grows that the
 * headroom covers go now, pushed or confirmed leaders before members that
 * only may be one; the others wait for the donors. */
static void group_actions(const struct policy_input *in,
			  const struct policy_decision *d, int64_t headroom,
			  unsigned char *group)
{
	int64_t budget = headroom;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < in->n_guests; i++) {
			const struct policy_guest *g = &in->guests[i];
			uint64_t t = d[i].target_bytes;
			if (pass == 0)
				group[i] = !t			 ? G_NONE
					   : t < g->actual_bytes ? G_SHRINK
					   : d[i].may_be_leader ? G_LEADER_LATER
								: G_GROW;
			if (group[i] != G_LEADER_LATER)
				continue;
			bool sure = g->pushed_role == POLICY_ROLE_LEADER ||
				    g->confirmed_role == POLICY_ROLE_LEADER;
			if (pass == 0 && !sure)
				continue;
			uint64_t up = t - g->actual_bytes;
			if ((int64_t)up <= budget || sure) {
				group[i] = G_LEADER_NOW;
				budget -= (int64_t)up;
			}
		}
}

int policy_decide(const struct policy_input *in,
		  struct policy_decision *decisions, struct policy_plan *plan)
{
	if (!in || !plan || (in->n_guests && (!in->guests || !decisions)) ||
	    (in->n_clusters && !in->clusters))
		return -EINVAL;
	plan->n_actions = 0;
	plan->n_steps = 0;
	plan->reclaiming = false;
	plan->critical = false;
	plan->reserve_bytes = 0;
	plan->arc_write = plan->arc_before = false;
	plan->arc_max_bytes = 0;

	const struct policy_host *h = &in->host;
	const struct policy_config *c = &in->config;
	int64_t headroom = policy_headroom(h, c);
	/* When balloond caps the ARC it keeps the host's headroom in free
	 * memory (the cap leaves it): what the ARC holds comes back too
	 * slowly for a grow or a spike, so only MemAvailable counts. */
	bool arc_capped =
	    c->arc_manage && h->arc_present && !in->guest_sizes_unknown;
	int64_t avail = arc_capped ? policy_headroom_now(h, c) : headroom;
	/* What the watermarks are held against, for whoever watches them. */
	plan->headroom_bytes = avail;

	for (size_t i = 0; i < in->n_guests; i++)
		decisions[i] = policy_decide_guest(in, i);
	uint64_t reserve = promotion_reserve(in, decisions);
	plan->reserve_bytes = reserve;

	bool critical = false;
	if (h->known) {
		bool psi = h->psi_event ||
			   (c->psi_some_limit_x100 &&
			    h->psi_some_avg10_x100 >= c->psi_some_limit_x100);
		/* The watermarks stand above the promotion reserve: a
		 * promotion finds its memory free, whether or not donors
		 * move in time. */
		int64_t low = (int64_t)(c->low_watermark_bytes + reserve);
		int64_t high = (int64_t)(c->high_watermark_bytes + reserve);
		bool pressure =
		    avail < low || psi || (h->reclaiming && avail < high);
		critical = avail < (int64_t)c->critical_watermark_bytes;
		plan->reclaiming = pressure;
		plan->critical = critical;
		/* Grow-backs that are not needed wait for room above the high
		 * watermark (hysteresis); leaders and starving guests never
		 * wait (but a starving guest waits on a critical host). */
		int64_t room = pressure ? 0 : avail - high;
		for (size_t i = 0; i < in->n_guests; i++) {
			const struct policy_guest *g = &in->guests[i];
			struct policy_decision *d = &decisions[i];
			if (!d->target_bytes ||
			    d->target_bytes <= g->actual_bytes ||
			    d->may_be_leader)
				continue;
			/* Held where it is, or where QEMU is taking it: a
			 * shrink in progress is not undone, nor, while the
			 * guest's stats are settling, a grow; never below its
			 * min. */
			uint64_t at = g->actual_bytes;
			if (g->set_bytes && (g->set_bytes < g->actual_bytes ||
					     g->stats_settling))
				at = min_u64(g->set_bytes, d->target_bytes);
			uint64_t hold = max_u64(at, g->min_bytes);
			/* ... and never further than the guest reports free. */
			uint64_t most = spare(c, g);
			if (most < g->actual_bytes)
				hold = max_u64(hold, g->actual_bytes - most);
			if (d->starving && critical) {
				d->target_bytes =
				    max_u64(g->actual_bytes, g->min_bytes);
				d->reason =
				    "starving, but the host is critical "
				    "(below its critical watermark): "
				    "not grown";
				continue;
			}
			if (g->pin_bytes)
				continue;
			if (!critical && g->role != POLICY_ROLE_NONE &&
			    g->replica_target_bytes) {
				/* A replica the critical tier took below its
				 * replica target gets back to it at once, once
				 * the host is out of it: a promotion from
				 * further down takes longer than the
				 * pre_promote hook waits. */
				hold = max_u64(
				    hold,
				    min_u64(d->target_bytes,
					    clamp(g->replica_target_bytes,
						  g->min_bytes, g->max_bytes)));
				if (d->target_bytes <= hold)
					continue;
			}
			if (d->starving) {
				/* What it needs comes at once (from donors
				 * first: the plan orders it); more only as
				 * room allows. */
				hold = max_u64(hold, d->need_bytes);
				if (d->target_bytes <= hold)
					continue;
			}
			uint64_t up =
			    d->target_bytes - max_u64(g->actual_bytes, hold);
			if (room <= 0) {
				d->target_bytes = hold;
				if (!d->starving)
					d->reason =
					    pressure
						? "host under pressure: not "
						  "grown"
						: "waiting for host headroom "
						  "above the high watermark";
			} else if ((int64_t)up > room) {
				d->target_bytes = max_u64(
				    g->actual_bytes + (uint64_t)room, hold);
				if (!d->starving)
					d->reason = "grown back within the "
						    "host's headroom";
				room = 0;
			} else {
				room -= (int64_t)up;
			}
		}
		if (pressure) {
			/* Enough to bring the headroom back to high; a PSI
			 * trigger (at most one a window) takes at least 1 % of
			 * RAM more, as processes stall whatever MemAvailable
			 * says. */
			int64_t need = high - avail;
			int64_t spike = (int64_t)(h->mem_total_bytes / 100);
			if (h->psi_event && need < spike)
				need = spike;
			if (need > 0)
				reclaim(in, decisions, (uint64_t)need,
					critical);
		}
	}

	/* Grows first if the headroom covers them, else the donors shrink
	 * first and the grows wait until their balloons moved. */
	uint64_t grows = 0;
	for (size_t i = 0; i < in->n_guests; i++)
		if (decisions[i].target_bytes > in->guests[i].actual_bytes)
			grows += decisions[i].target_bytes -
				 in->guests[i].actual_bytes;
	/* Covered: the host has the memory now. Grows that leave it below
	 * its low watermark and reserve (or that it does not have) are paid
	 * for by donors, pressure or not: after the grows when covered,
	 * before them (and waited for) when not. Reclaim takes from targets
	 * already lowered, so this adds to what pressure took. */
	bool covered = !h->known || grows == 0 || avail >= (int64_t)grows;
	if (h->known && grows) {
		int64_t need = (int64_t)grows - avail +
			       (int64_t)(c->low_watermark_bytes + reserve);
		if (need > 0)
			reclaim(in, decisions, (uint64_t)need, critical);
	}
	unsigned char *group = malloc(in->n_guests + 1);
	if (!group)
		return -ENOMEM;
	group_actions(in, decisions, h->known ? avail : INT64_MAX, group);
	bool later = false;
	for (size_t i = 0; i < in->n_guests; i++)
		later |= group[i] == G_LEADER_LATER;
	/* A leader's grow that the headroom covers goes first even when the
	 * others' do not: the donors then shrink, are waited for, and the
	 * other grows follow. */
	struct planner p = {in, decisions, group, plan};
	if (covered) {
		add_step(&p, G_LEADER_NOW, false);
		add_step(&p, G_LEADER_LATER, false);
		add_step(&p, G_GROW, false);
		add_step(&p, G_SHRINK, false);
	} else {
		add_step(&p, G_LEADER_NOW, false);
		add_step(&p, G_SHRINK, true);
		add_step(&p, later ? G_LEADER_LATER : G_GROW, false);
		add_step(&p, later ? G_GROW : G_NONE, false);
	}
	free(group);
	arc_budget(in, decisions,
		   arc_capped ? c->high_watermark_bytes + reserve : 0, plan);
	return 0;
}
