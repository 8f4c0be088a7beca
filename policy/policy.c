/*
 * policy.c: balloond's brain, a pure function from a snapshot to targets
 * and an ordered plan (see policy.h for the rules it keeps).
 *
 * Three passes, each linear in the guests (the donors are sorted once):
 *  1. each guest alone: link and bounds, Patroni facts (leader or may be:
 *     max), pin, replica target, and its own demand (a starving guest grows
 *     back; a shrink takes only what the guest reports free);
 *  2. the host: under pressure, reclaim from donors (confirmed replicas
 *     first, then the most free, then the lowest priority) and hold back
 *     grows that are not needed; otherwise release, within the headroom
 *     above the high watermark;
 *  3. the plan: grows before shrinks when the headroom covers them, else
 *     the donors shrink first and the grows wait until they moved; a
 *     leader's grow before every other; shrinks in bounded steps; the ARC
 *     budget lowered before grows, raised after shrinks.
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
	bool replica; /* a confirmed replica: gives first */
	uint64_t available;
	int priority;
	uint64_t capacity; /* what it can give below its target */
};

static int donor_cmp(const void *a, const void *b)
{
	const struct donor *x = a, *y = b;
	if (x->replica != y->replica)
		return x->replica ? -1 : 1;
	if (x->available != y->available)
		return x->available > y->available ? -1 : 1;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Under pressure: take `need` from donors, lowest cost first. */
static void reclaim(const struct policy_input *in, struct policy_decision *d,
		    uint64_t need)
{
	const struct policy_config *c = &in->config;
	struct donor *v = malloc((in->n_guests + 1) * sizeof(*v));
	size_t n = 0;
	if (!v)
		return; /* nothing reclaimed: the safe side */
	for (size_t i = 0; i < in->n_guests; i++) {
		const struct policy_guest *g = &in->guests[i];
		/* Never a leader or a may-be-leader, never a starving guest,
		 * never on the strength of unknown stats, never a pin. */
		if (!d[i].target_bytes || d[i].may_be_leader || d[i].starving ||
		    !g->stats_fresh || g->pin_bytes)
			continue;
		uint64_t floor = g->min_bytes;
		uint64_t most = spare(c, g);
		if (g->actual_bytes > most)
			floor = max_u64(floor, g->actual_bytes - most);
		uint64_t from = min_u64(d[i].target_bytes, g->actual_bytes);
		if (from <= floor)
			continue;
		v[n++] = (struct donor){i, g->role != POLICY_ROLE_NONE,
					g->available_bytes, g->priority,
					from - floor};
	}
	qsort(v, n, sizeof(*v), donor_cmp);
	for (size_t k = 0; k < n && need > 0; k++) {
		const struct policy_guest *g = &in->guests[v[k].i];
		uint64_t take = min_u64(v[k].capacity, need);
		uint64_t from =
		    min_u64(d[v[k].i].target_bytes, g->actual_bytes);
		d[v[k].i].target_bytes = from - take;
		d[v[k].i].reason =
		    "host under pressure: reclaiming free memory";
		need -= take;
	}
	free(v);
}

/* ---- pass 3: the plan ---- */

struct planner {
	const struct policy_input *in;
	const struct policy_decision *d;
	struct policy_plan *plan;
};

/* Add the actions of one step: kind 0 leader grows, 1 other grows, 2
 * shrinks. */
static void add_step(struct planner *p, int kind, bool wait_moved)
{
	const struct policy_input *in = p->in;
	const struct policy_config *c = &in->config;
	struct policy_plan *plan = p->plan;
	size_t first = plan->n_actions;
	if (plan->n_steps == POLICY_MAX_STEPS)
		return;
	for (size_t i = 0; i < in->n_guests; i++) {
		const struct policy_guest *g = &in->guests[i];
		uint64_t t = p->d[i].target_bytes;
		if (!t)
			continue;
		bool grow = t >= g->actual_bytes;
		if (kind == 2 ? grow
			      : (!grow || (kind == 0) != p->d[i].may_be_leader))
			continue;
		if (!grow && c->shrink_step_bytes &&
		    g->actual_bytes - t > c->shrink_step_bytes)
			t = g->actual_bytes - c->shrink_step_bytes;
		/* Nothing above max may ever be sent (a lowered max). */
		t = min_u64(t, g->max_bytes);
		bool same = t == g->set_bytes;
		uint64_t diff =
		    g->set_bytes > t ? g->set_bytes - t : t - g->set_bytes;
		/* A donor still moving toward a target QEMU already has is
		 * listed all the same in a step that waits for it. */
		bool moving = wait_moved && !grow &&
			      g->actual_bytes - t > c->deadband_bytes;
		if (same && !moving)
			continue;
		if (!same && g->set_bytes && diff < c->deadband_bytes &&
		    t != g->max_bytes && !moving)
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
		       const struct policy_decision *d,
		       struct policy_plan *plan)
{
	const struct policy_host *h = &in->host;
	const struct policy_config *c = &in->config;
	if (!c->arc_manage || !h->known || !h->arc_present ||
	    in->guest_sizes_unknown)
		return;
	uint64_t guests = in->other_guests_bytes;
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

int policy_decide(const struct policy_input *in,
		  struct policy_decision *decisions, struct policy_plan *plan)
{
	if (!in || !plan || (in->n_guests && (!in->guests || !decisions)) ||
	    (in->n_clusters && !in->clusters))
		return -EINVAL;
	plan->n_actions = 0;
	plan->n_steps = 0;
	plan->reclaiming = false;
	plan->arc_write = plan->arc_before = false;
	plan->arc_max_bytes = 0;

	const struct policy_host *h = &in->host;
	const struct policy_config *c = &in->config;
	int64_t headroom = policy_headroom(h, c);
	plan->headroom_bytes = headroom;

	for (size_t i = 0; i < in->n_guests; i++)
		decisions[i] = policy_decide_guest(in, i);

	if (h->known) {
		bool psi = h->psi_event ||
			   (c->psi_some_limit_x100 &&
			    h->psi_some_avg10_x100 >= c->psi_some_limit_x100);
		bool pressure = headroom < (int64_t)c->low_watermark_bytes ||
				psi ||
				(h->reclaiming &&
				 headroom < (int64_t)c->high_watermark_bytes);
		bool critical = headroom <= 0;
		plan->reclaiming = pressure;
		/* Grow-backs that are not needed wait for room above the high
		 * watermark (hysteresis); leaders and starving guests never
		 * wait (but a starving guest waits on a critical host). */
		int64_t room =
		    pressure ? 0 : headroom - (int64_t)c->high_watermark_bytes;
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
				    "(no headroom): not grown";
				continue;
			}
			if (g->pin_bytes)
				continue;
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
			int64_t need =
			    (int64_t)c->high_watermark_bytes - headroom;
			int64_t spike = (int64_t)(h->mem_total_bytes / 100);
			if (h->psi_event && need < spike)
				need = spike;
			if (need > 0)
				reclaim(in, decisions, (uint64_t)need);
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
	 * its low watermark (or that it does not have) are paid for by
	 * donors, pressure or not: after the grows when covered, before them
	 * (and waited for) when not. Reclaim takes from targets already
	 * lowered, so this adds to what pressure took. */
	bool covered = !h->known || grows == 0 || headroom >= (int64_t)grows;
	if (h->known && grows) {
		int64_t need =
		    (int64_t)grows - headroom + (int64_t)c->low_watermark_bytes;
		if (need > 0)
			reclaim(in, decisions, (uint64_t)need);
	}
	/* A leader's grow that the headroom covers goes first even when the
	 * others' do not: the donors then shrink, are waited for, and the
	 * other grows follow. */
	uint64_t leader_grows = 0;
	for (size_t i = 0; i < in->n_guests; i++)
		if (decisions[i].may_be_leader &&
		    decisions[i].target_bytes > in->guests[i].actual_bytes)
			leader_grows += decisions[i].target_bytes -
					in->guests[i].actual_bytes;
	bool leader_covered = covered || headroom >= (int64_t)leader_grows;
	struct planner p = {in, decisions, plan};
	if (covered) {
		add_step(&p, 0, false);
		add_step(&p, 1, false);
		add_step(&p, 2, false);
	} else if (leader_covered) {
		add_step(&p, 0, false);
		add_step(&p, 2, true);
		add_step(&p, 1, false);
	} else {
		add_step(&p, 2, true);
		add_step(&p, 0, false);
		add_step(&p, 1, false);
	}
	arc_budget(in, decisions, plan);
	return 0;
}
