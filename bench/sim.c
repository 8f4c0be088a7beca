/*
 * sim.c: balloon-sim, a discrete-time simulator that runs balloond's pure
 * policy (policy_decide) and four tools admins use today against the same
 * seeded scenario, and prints what each did to the host and the guests.
 *
 *   balloon-sim [--seed N] [--days D] [--plain N] [--grow-gibps X]
 *               [--promote-wait S] [--baselines-see-arc]
 *               [--check | --check-policy] [--plot FILE]
 *               [--trace POLICY] [--log GUEST]
 *   balloon-sim --sweep [--seeds LO-HI] [--plains N,...] [--jobs N] ...
 *
 * It prints one row per policy: the lowest effective headroom of the host,
 * seconds in danger, seconds a Patroni leader ran below its max, guest-
 * seconds of starvation, the memory reclaimed on average (the mean over
 * time of sum(max - actual)) and balloon commands sent; then a second
 * table of diagnostics. --check exits 1 unless balloond wins on every
 * criterion (judge(): no leader<max second; no more danger than the best
 * of the others; fewer starved guest-seconds than every policy that
 * reclaims; at least 90 % of what cron reclaims), printing each;
 * --check-policy asks only what the policy itself can be held to.
 * --sweep runs a matrix of overcommit (--plain 0 to 12) by seeds (1 to
 * 10), one line a scenario and totals; with a check it counts the
 * scenarios won and exits 1 unless balloond won them all.
 * bench/run-sim.sh runs it on an optimised build.
 *
 * Every number of the model, and where it comes from:
 *
 * The scenario: the incident behind the project (HACKING.md, "The problem"):
 * an unbounded ZFS ARC, guests whose memory use warms up toward their
 * allocations, swap on a zvol, an overcommitted host. With no policy the
 * host gets into danger within hours (an ARC that gives memory back slower
 * than a guest takes it) and swaps from the first day on (every guest's
 * cache full: more memory touched than the host has).
 *
 * The host
 *  - MemTotal 256 GiB. The host itself (kernel, slab, QEMU and libvirt
 *    processes' own memory) 4 GiB; its page cache 1 GiB, reclaimable, so in
 *    MemAvailable (a ZFS host caches files in the ARC, not the page cache).
 *  - ZFS ARC, unbounded: c_min 1 GiB, c_max = max(RAM - 1 GiB, 5/8 RAM)
 *    (OpenZFS >= 2.3 arc_default_max) = 255 GiB. It grows at 256 MiB/s (the
 *    guests' zvols always do some I/O) while free memory minus arc_sys_free
 *    exceeds arc_c >> 5 (arc_no_grow_shift = 5), and shrinks at 50 MiB/s
 *    while free memory is under arc_sys_free = 3 * 160 MiB + RAM/32 =
 *    8.47 GiB (arc_set_sys_free on Linux >= 5.7: the kernel's high
 *    watermark with boost, times three, plus 1/32 of RAM). "Tens of MiB/s":
 *    zfs_arc_shrinker_limit is 10000 pages (39 MiB) per shrinker call.
 *    The ARC is not in MemAvailable (HACKING.md, "The problem": that is
 *    the incident).
 *  - zfs_arc_max, when balloond writes it (arc_manage), caps the ARC: it
 *    shrinks toward the cap at the same 50 MiB/s and never grows above it
 *    (real OpenZFS evicts to a lowered cap faster: this is pessimistic).
 *    balloond is told the ARC's own c_max (255 GiB), never the cap it
 *    wrote (policy.h: arc_c_max_bytes), so its cap can rise again.
 *  - free = MemTotal - host - host page cache - sum(guest RSS) - ARC;
 *    MemAvailable = free + host page cache. Negative free is memory the
 *    host swapped out to its zvol ("swap" seconds; the host keeps its own
 *    page cache, its binaries, hot).
 *  - What the host swaps out comes from the guests in proportion to their
 *    resident memory (RSS): libvirt puts each guest in its own memory
 *    cgroup, and the kernel's global reclaim scans each cgroup's LRU by
 *    its size (get_scan_count). Within a guest the coldest pages go
 *    first, so a guest starves by the host's swapping only when its share
 *    exceeds what it holds beyond its demand (cache, freed pages). A
 *    guest's resident memory is its RSS minus its share.
 *  - Danger: the effective headroom, MemAvailable + what the ARC above
 *    c_min can give back in the next 10 s (10 s * 50 MiB/s, at most) -
 *    512 MiB (the kernel's watermarks), is under 2 % of RAM (5.12 GiB).
 *    This is the simulator's own yardstick, not policy_headroom().
 *  - PSI (only balloond reads it): tasks stall once free memory falls under
 *    1 GiB (kswapd and direct reclaim; the ARC shrinker runs in them), all
 *    of the time at 0: stall = (1 GiB - free) / 1 GiB, clamped to 0..1.
 *    some avg10 is its 10 s exponential average (as the kernel's is); full
 *    is half of some; the trigger ("some 150000 2000000", balloond's
 *    default) fires when the last 2 s stalled 150 ms or more.
 *
 * The guests (HACKING.md, "The problem": a dozen guests, Patroni
 * clusters)
 *  - 12 guests of 24 GiB (min 6 GiB): three Patroni clusters of three
 *    (one leader, two streaming replicas) and three plain guests. Their
 *    sum, 288 GiB, is 1.15 times what the host has for guests (256 GiB -
 *    5 GiB of its own): overcommitted as the incident's host was, by about
 *    what a dozen guests sized for their peaks add up to, while their
 *    working sets (about 115 GiB on average) fit with room to spare. So
 *    it is the warm-up that overcommits the host, not the demand: a
 *    policy that reclaims what guests cache can keep every guest whole.
 *    --plain N changes the number of plain guests (0 to 12: 0 is 216 GiB,
 *    no overcommit; 5 is 336 GiB, 1.34 times); the members and the events
 *    stay the same.
 *  - A guest's demand ("used": what it must have, or it swaps or OOMs) is
 *    768 MiB of OS, plus for PostgreSQL 6 GiB of shared_buffers (25 % of
 *    RAM, PostgreSQL's advice) touched with a time constant of 6 h, plus
 *    what its role needs: a leader's connections and work_mem 4.5 to 7.5
 *    GiB, a replica's hot-standby reads 0.75 to 2.25 GiB (it follows a
 *    role change with a time constant of 5 min up, 20 min down); for a
 *    plain guest an application that warms up to 4.5 to 12 GiB (time
 *    constant 6 h). Never above max, even with a spike.
 *  - On top, allocation spikes: per guest a Poisson process with a mean
 *    interval of 6 h, 3 to 9 GiB, ramped up linearly over 10 to 60 s, held
 *    2 to 8 min, released over 10 s.
 *  - Warm-up: the guest's page cache fills its free memory at 8 to 16 GiB
 *    a day, so that every guest has touched its whole allocation by the
 *    second or third simulated day. On the incident's host
 *    this took weeks; compressed, the warm-up still runs far slower than
 *    any policy reacts (seconds, or an hour for cron), so the policies
 *    meet the same states in the same order, sooner. Cache is dropped
 *    first when demand or a balloon needs the room.
 *    stat-available-memory = actual - used (cache counts as available);
 *    stat-free-memory = actual - used - cache.
 *  - Host RSS of a guest: every page it ever touched, up to its actual
 *    size; freed memory stays resident (touched), except under Proxmox,
 *    which turns on free-page-reporting (HACKING.md, "Proxmox's
 *    auto-balloon"): there a
 *    guest's RSS is what it uses plus its cache.
 *  - Guest starved, in a second: its resident memory is below its demand,
 *    for whatever reason: its balloon left it less than it uses (demand
 *    above actual), or the host swapped out its share ("by swap").
 *    Counted in guest-seconds (one second of one starved guest is one);
 *    "starv any" counts seconds in which at least one guest starved.
 *
 * The balloon (HACKING.md, "Balloon moves take time")
 *  - actual moves toward the last target at 512 MiB/s down (TCG: 256 MiB
 *    in 0.45 s) and 2.5 GiB/s up (TCG: 256 MiB in about 0.1 s). KVM is
 *    faster; --grow-gibps sets the speed up, as the leader<max column
 *    hinges on it: a replica at its target (12 GiB) takes 4.8 s to reach
 *    max at 2.5 GiB/s. A shrink stops 64 MiB above the guest's used
 *    memory: the balloon takes free memory and cache, never what the
 *    guest is using (HACKING.md, "The balloon stops short of used
 *    memory": a guest holding 150M stops short). No
 *    deflate-on-oom. A grown guest at once uses what it lacked.
 *
 * Patroni (HACKING.md, "Switchover and failover timings", Patroni
 * 3.0.2)
 *  - Per cluster, events with a mean interval of 12 h (at least 30 min
 *    apart, none in the first hour), one in four a failover.
 *  - Switchover at T: the old leader gets on_stop demoted at T and
 *    on_role_change replica at T + 3 s, and streams from T + 5 s; the
 *    candidate (a streaming replica) takes the leader key at T.
 *  - Failover at T: the leader's PostgreSQL is killed (its memory freed in
 *    the guest, shared_buffers cold again); no leader for 10 s (about the
 *    ttl); a streaming replica takes the leader key at T + 10 s; the old
 *    leader rejoins as a streaming replica at T + 60 s (on_start).
 *  - Promotion, once the candidate has the key: under balloond, Patroni's
 *    pre_promote hook (issue "Full memory before promotion") pushes
 *    "leader" at once and returns when the balloon is at max, or after
 *    6 s (the hook's bounded wait, sized to cover a grow from the replica
 *    target to max), whichever comes first; then Patroni
 *    promotes PostgreSQL and calls on_role_change master (pushed too).
 *    --promote-wait sets the hook's wait (0 to 60 s).
 *    Meanwhile the REST API names it leader; it needs what a replica
 *    needs. The other policies have no such hook: promoted at once.
 *  - A leader below its max, from the moment of its promotion, counts as a
 *    "leader<max" second (sampled at the end of each second); of those,
 *    seconds in which its requested target was also below max (the
 *    policy, not the balloon's speed, kept it short) are "ldr wait".
 *
 * The policies, one command per balloon request sent
 *  - none: every guest at its max; nothing moves.
 *  - cron: the hourly role-only job (HACKING.md, "The problem"): on the
 *    hour, from
 *    Patroni's REST API, the leader at max and each replica at 50 % of max
 *    (12 GiB); members that are neither (down) and plain guests untouched.
 *    Commands only for changed targets (kinder than `virsh setmem` for
 *    every member every hour).
 *  - proxmox: pvestatd's auto-balloon (PVE::AutoBalloon::compute_alg1, a
 *    port): every 10 s, goal = 80 % of MemTotal - memused, memused =
 *    MemTotal - (MemFree + Buffers + Cached) (PVE::ProcFSTools::
 *    read_meminfo): the ARC is in none of those, so it counts as used, and
 *    Proxmox never sees it as reclaimable. At most 100 MiB per VM per
 *    cycle, equal shares, toward min (6 GiB) or max, guests with
 *    stat-free-memory above 25 % of min shrunk first.
 *  - mom: oVirt MoM's balloon policy (mom-balloon.policy), every 15 s: host
 *    free % = (MemFree + Buffers + Cached) / MemTotal (the ARC again as
 *    used). Under 20 %: shrink every guest by 5 % of its size, not below
 *    its used memory (actual - stat-free-memory, so cache counts as used)
 *    plus host free % of its size (under 5 % host free, host free % - 5 %:
 *    MoM forces guests to swap), nor below min; else grow each guest by
 *    5 %, at least to used + 20 % of max, at most to max. Changes under
 *    0.25 % of the guest's size are skipped.
 *    --baselines-see-arc: proxmox and mom count the ARC above c_min as
 *    free, as if they knew it is a cache (what neither does).
 *  - balloond: policy_decide every second on a struct policy_input built
 *    as daemon/plan.c builds it: guest stats sampled every 5 s (the
 *    default stats_interval_s), recent when younger than 16 s; recent
 *    stats taken after the balloon last moved are fresh, recent ones taken
 *    before it are settling (stats_settling; neither: unknown); pushes at
 *    once (bootstrap on_start at 0, pre_promote, on_role_change); the REST
 *    API polled every 10 s (confirmed role and streaming, has_leader,
 *    facts_age); dwell 60 s, max_age 30 s; replica target 12 GiB; config
 *    policy_config_resolve(POLICY_CONFIG_DEFAULT + arc_manage, MemTotal).
 *    The plan is carried out as daemon/exec.c does: steps in order, a
 *    wait_moved step holds the rest until its guests are within 8 MiB of
 *    their targets or 10 s passed since the target was sent; a new plan
 *    every second replaces the old; the ARC write before the first step,
 *    or after the last.
 *
 * Every policy runs the same scenario (the seed: one random stream per
 * guest and per cluster) from a cold host: all guests just booted at
 * their max, the ARC at c_min. The simulator also checks every action of
 * balloond's plans against policy.h's invariants and prints each kind it
 * saw, with the first case: no target below min or above max; and for a
 * new or deeper shrink (below both actual and the last target), none of
 * a guest the policy says may be the leader, none on stale or settling
 * stats, none taking more than the guest's fresh stat-available-memory
 * minus its reserve (policy_guest_reserve; below the critical watermark,
 * when the plan says critical, the reserve may go too).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy/policy.h"

#define MiB (INT64_C(1) << 20)
#define GiB (INT64_C(1) << 30)

/* ---- the model's constants (see the comment above) ---- */

#define HOST_TOTAL   (256 * GiB)
#define HOST_BASE    (4 * GiB)
#define HOST_CACHE   (1 * GiB)
#define ARC_C_MIN    (1 * GiB)
#define ARC_GROW     (256 * MiB)
#define ARC_SHRINK   (50 * MiB)
#define ARC_SOON_S   10
#define KERNEL_RESV  (512 * MiB)
#define DANGER_PCT   2
#define PSI_FREE     (1 * GiB)
#define PSI_STALL_MS 150

#define N_CLUSTERS     3
#define MEMBERS	       3
#define MAX_PLAIN      12
#define MAX_GUESTS     (N_CLUSTERS * MEMBERS + MAX_PLAIN)
#define GUEST_MAX      (24 * GiB)
#define GUEST_MIN      (6 * GiB)
#define REPLICA_TARGET (12 * GiB)
#define OS_BASE	       (768 * MiB)
#define SHARED_BUFFERS (6 * GiB)
#define TAU_SB	       (6 * 3600.0)
#define TAU_ROLE_UP    300.0
#define TAU_ROLE_DOWN  1200.0
#define TAU_APP	       (6 * 3600.0)
#define CACHE_DAY_LO   8.0 /* GiB a day */
#define CACHE_DAY_HI   16.0

#define SPIKE_MEAN_S  (6 * 3600.0)
#define SPIKE_FALL_S  10
#define BALLOON_DOWN  (512 * MiB)
#define BALLOON_FLOOR (64 * MiB)

#define EVENT_MEAN_S	 (12 * 3600.0)
#define EVENT_GAP_S	 1800
#define EVENT_FIRST_S	 3600
#define FAILOVER_PCT	 25
#define DEMOTE_REPLICA_S 3
#define DEMOTE_STREAM_S	 5
#define FAILOVER_GAP_S	 10
#define REJOIN_S	 60

#define STATS_EVERY_S 5
#define STATS_FRESH_S (3 * STATS_EVERY_S + 1)
#define REST_EVERY_S  10
#define REST_PHASE_S  3
#define DWELL_MS      60000
#define MAX_AGE_MS    30000
#define MOVE_TOL      (8 * MiB)
#define MOVE_TIMEOUT  10

#define CRON_EVERY_S  3600
#define PVE_EVERY_S   10
#define PVE_TARGET    80
#define PVE_MAXCHANGE (100 * MiB)
#define MOM_EVERY_S   15

#define MAX_SPIKES 256
#define MAX_EVENTS 256

/* The host's shape, from the command line: plain guests (the Patroni
 * members are always 3 x 3) and how fast a balloon deflates (2.5 GiB/s:
 * HACKING.md, "Balloon moves take time": 256 MiB in 0.1 s). */
static int n_guests = N_CLUSTERS * MEMBERS + 3;
static int64_t balloon_up = 5 * GiB / 2;
/* The pre_promote hook's bounded wait, in seconds. */
/* The hook's wait, sized to the guests: (max - replica target) at the
 * grow speed, 12 GiB at 2.5 GiB/s = 4.8 s, and a second to spare. The
 * hook's own default is 2 s; an admin whose replica targets are far below
 * max raises it (issue "Full memory before promotion": configurable). */
static int64_t promote_wait = 6;

/* ---- a seeded random number generator (splitmix64) ---- */

static uint64_t rng_state;

/* One independent stream per guest and per cluster, so that adding plain
 * guests (--plain) leaves the others' draws and the events alone. */
static void rng_seed(uint64_t seed, uint64_t stream)
{
	rng_state = seed * UINT64_C(0x100000001b3) ^
		    (stream + 1) * UINT64_C(0x9e3779b97f4a7c15);
}

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_u01(void)
{
	return (double)(rng_next() >> 11) / 9007199254740992.0;
}

static double rng_range(double lo, double hi)
{
	return lo + (hi - lo) * rng_u01();
}

/* An exponential interval with this mean (a Poisson process). */
static double rng_exp(double mean)
{
	return -mean * log(1.0 - rng_u01());
}

/* ---- the scenario: drawn once from the seed, the same for every policy */

struct spike {
	int64_t start, ramp, hold; /* seconds */
	int64_t bytes;
};

struct gspec {
	char name[16];
	int cluster;			   /* -1: a plain guest */
	int64_t role_leader, role_replica; /* a member's extra demand */
	int64_t app;			   /* a plain guest's plateau */
	int64_t cache_rate;		   /* bytes per second */
	struct spike spikes[MAX_SPIKES];
	size_t n_spikes;
};

struct pg_event {
	int64_t t;
	int cluster;
	bool failover;
	double pick; /* which streaming replica is promoted, in [0, 1) */
};

struct scenario {
	uint64_t seed;
	int64_t duration;
	struct gspec g[MAX_GUESTS];
	struct pg_event ev[MAX_EVENTS];
	size_t n_ev, n_switchovers, n_failovers, n_spikes;
};

static int event_cmp(const void *a, const void *b)
{
	const struct pg_event *x = a, *y = b;
	return (x->t > y->t) - (x->t < y->t);
}

static void scenario_build(struct scenario *sc, uint64_t seed, int64_t days)
{
	memset(sc, 0, sizeof(*sc));
	sc->seed = seed;
	sc->duration = days * 86400;
	for (int i = 0; i < n_guests; i++) {
		struct gspec *s = &sc->g[i];
		rng_seed(seed, (uint64_t)i);
		s->cluster = i < N_CLUSTERS * MEMBERS ? i / MEMBERS : -1;
		if (s->cluster >= 0)
			snprintf(s->name, sizeof(s->name), "pg-%c%d",
				 'a' + s->cluster, i % MEMBERS + 1);
		else
			snprintf(s->name, sizeof(s->name), "app-%d",
				 i - N_CLUSTERS * MEMBERS + 1);
		s->role_leader = (int64_t)(rng_range(4.5, 7.5) * (double)GiB);
		s->role_replica =
		    (int64_t)(rng_range(0.75, 2.25) * (double)GiB);
		s->app = (int64_t)(rng_range(4.5, 12) * (double)GiB);
		s->cache_rate =
		    (int64_t)(rng_range(CACHE_DAY_LO, CACHE_DAY_HI) *
			      (double)GiB / 86400.0);
		double t = rng_exp(SPIKE_MEAN_S);
		while (t < (double)sc->duration && s->n_spikes < MAX_SPIKES) {
			struct spike *k = &s->spikes[s->n_spikes++];
			k->start = (int64_t)t;
			k->ramp = (int64_t)rng_range(10, 60);
			k->hold = (int64_t)rng_range(120, 480);
			k->bytes = (int64_t)(rng_range(3, 9) * (double)GiB);
			t += (double)(k->ramp + k->hold + SPIKE_FALL_S) +
			     rng_exp(SPIKE_MEAN_S);
		}
		sc->n_spikes += s->n_spikes;
	}
	for (int c = 0; c < N_CLUSTERS; c++) {
		rng_seed(seed, 1000 + (uint64_t)c);
		double t = EVENT_FIRST_S + rng_exp(EVENT_MEAN_S);
		while (t < (double)sc->duration && sc->n_ev < MAX_EVENTS) {
			struct pg_event *e = &sc->ev[sc->n_ev++];
			e->t = (int64_t)t;
			e->cluster = c;
			e->failover = rng_u01() * 100 < FAILOVER_PCT;
			e->pick = rng_u01();
			if (e->failover)
				sc->n_failovers++;
			else
				sc->n_switchovers++;
			t += EVENT_GAP_S + rng_exp(EVENT_MEAN_S);
		}
	}
	qsort(sc->ev, sc->n_ev, sizeof(sc->ev[0]), event_cmp);
}

/* ---- the world: the truth, and what each policy can observe ---- */

/* T_PROMOTING: it holds the leader key (the REST API names it leader),
 * but balloond's pre_promote hook is still waiting for its balloon, so
 * PostgreSQL is not promoted yet (it needs what a replica needs). */
enum truth { T_LEADER, T_PROMOTING, T_REPLICA, T_DOWN };

struct member {
	enum truth role;
	bool streaming;
	/* Scheduled: -1 none. promote_by: the pre_promote hook's deadline. */
	int64_t at_push_replica, at_stream, at_promote, at_rejoin, promote_by;
	/* What balloond was told (hooks/patroni) and read (REST). */
	enum policy_role pushed, confirmed, believed;
	int64_t pushed_t, confirmed_t, changed_t;
	bool confirmed_streaming;
};

struct guest {
	/* The guest. */
	double sb_warm, role_extra, app; /* warm-up states, bytes */
	int64_t ws, cache, touched;
	/* Its balloon. */
	int64_t actual, set, set_t, last_move_t;
	bool set_known;
	/* Its last stats sample. */
	int64_t stats_t, stats_avail, stats_free;
	size_t spike_first; /* spikes before this one are over */
	struct member m;    /* a Patroni member's facts */
};

struct cluster {
	bool has_leader; /* as the last REST poll saw it */
	int64_t poll_t;
};

struct world {
	const struct scenario *sc;
	struct guest g[MAX_GUESTS];
	struct cluster c[N_CLUSTERS];
	size_t next_ev;
	int64_t arc, arc_cap, arc_max_set;
	int64_t free; /* may be negative: swapped out */
	double psi_avg10, psi_prev_stall, psi_stall;
	bool reclaiming;
	bool hook; /* balloond's pre_promote hook is configured */
	struct policy_config cfg;
};

/* What balloond's plans must never do (policy.h). */
enum viol { V_BELOW_MIN, V_ABOVE_MAX, V_LEADER, V_STALE, V_OVER_FREE, N_VIOL };
static const char *const viol_name[N_VIOL] = {
    "a target below min",
    "a target above max",
    "a shrink of a guest that may be the leader",
    "a shrink on stale or settling stats",
    "a shrink beyond what the guest reports available minus its reserve "
    "(below the critical watermark: beyond what it reports available)",
};

enum pol { P_NONE, P_CRON, P_PROXMOX, P_MOM, P_BALLOOND, N_POL };
static const char *const pol_name[N_POL] = {"none", "cron", "proxmox", "mom",
					    "balloond"};

struct result {
	int64_t duration; /* s */
	int64_t min_headroom;
	int64_t danger_s, swap_s;
	int64_t leader_below_s, leader_wait_s;
	int64_t starved_gs, starved_any_s;
	int64_t starved_swap_gs; /* of starved_gs: by the host's swapping */
	double reclaimed_sum, arc_sum, avail_sum;
	int64_t commands, redundant, arc_writes;
	int64_t reclaiming_s;	      /* balloond's plan said "reclaiming" */
	int64_t violations;	      /* of every kind */
	int64_t n_viol[N_VIOL];	      /* per kind */
	char first_viol[N_VIOL][160]; /* the first of each kind */
	/* Per guest, for --trace. */
	int64_t g_starved[MAX_GUESTS], g_commands[MAX_GUESTS];
};

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static double gib(int64_t b)
{
	return (double)b / (double)GiB;
}

static int64_t arc_default_max(void)
{
	return max64(HOST_TOTAL - GiB, HOST_TOTAL / 8 * 5);
}

/* arc_set_sys_free (OpenZFS, Linux >= 5.7). */
static int64_t arc_sys_free(void)
{
	int64_t wmark = 64 * MiB; /* int_sqrt(256 GiB / 1 KiB * 16) KiB */
	wmark += wmark * 150 / 100;
	return wmark * 3 + HOST_TOTAL / 32;
}

static void world_init(struct world *w, const struct scenario *sc)
{
	memset(w, 0, sizeof(*w));
	w->sc = sc;
	w->arc = ARC_C_MIN;
	w->arc_cap = arc_default_max();
	for (int i = 0; i < n_guests; i++) {
		struct guest *g = &w->g[i];
		g->ws = OS_BASE;
		g->touched = OS_BASE;
		g->actual = GUEST_MAX;
		g->set = GUEST_MAX;
		g->set_t = -MOVE_TIMEOUT;
		g->last_move_t = -1;
		g->stats_t = -1000;
		struct member *m = &g->m;
		m->at_push_replica = m->at_stream = m->at_promote =
		    m->at_rejoin = m->promote_by = -1;
		m->pushed = m->confirmed = m->believed = POLICY_ROLE_UNKNOWN;
		m->pushed_t = m->confirmed_t = m->changed_t = -1;
		if (sc->g[i].cluster >= 0) {
			m->role = i % MEMBERS == 0 ? T_LEADER : T_REPLICA;
			m->streaming = m->role == T_REPLICA;
		}
	}
	for (int c = 0; c < N_CLUSTERS; c++)
		w->c[c].poll_t = -1;
	struct policy_config cfg = POLICY_CONFIG_DEFAULT;
	cfg.arc_manage = true;
	w->cfg = policy_config_resolve(cfg, (uint64_t)HOST_TOTAL);
}

/* ---- Patroni: the truth, the pushes and the REST API ---- */

static void believe(struct member *m, enum policy_role r, int64_t t)
{
	if (r != m->believed)
		m->changed_t = t;
	m->believed = r;
}

static void push(struct member *m, enum policy_role r, int64_t t)
{
	m->pushed = r;
	m->pushed_t = t;
	believe(m, r, t);
}

static struct guest *member_of(struct world *w, int c, int k)
{
	return &w->g[c * MEMBERS + k];
}

/* PostgreSQL is promoted; Patroni then calls on_role_change master. */
static void promote(struct member *m, int64_t t)
{
	m->role = T_LEADER;
	m->streaming = false;
	m->promote_by = -1;
	push(m, POLICY_ROLE_LEADER, t);
}

/* The candidate took the leader key. With balloond's pre_promote hook,
 * the hook pushes "leader" now and returns once the balloon is at max, or
 * promote_wait later; Patroni promotes when it returns. Without, it is
 * promoted at once. */
static void promote_begin(struct world *w, struct guest *g, int64_t t)
{
	struct member *m = &g->m;
	if (!w->hook || g->actual >= GUEST_MAX) {
		promote(m, t);
		return;
	}
	m->role = T_PROMOTING;
	m->streaming = false;
	m->promote_by = t + promote_wait;
	push(m, POLICY_ROLE_LEADER, t);
}

static void patroni_event(struct world *w, const struct pg_event *e, int64_t t)
{
	int leader = -1, cand[MEMBERS], n = 0;
	for (int k = 0; k < MEMBERS; k++) {
		struct member *m = &member_of(w, e->cluster, k)->m;
		if (m->role == T_LEADER || m->role == T_PROMOTING)
			leader = k;
		else if (m->role == T_REPLICA && m->streaming)
			cand[n++] = k;
	}
	/* Events are EVENT_GAP_S apart, far more than a recovery takes
	 * (REJOIN_S): this only guards the arrays. */
	if (leader < 0 || n == 0)
		return;
	int next = cand[(int)(e->pick * n)];
	struct member *old = &member_of(w, e->cluster, leader)->m;
	struct guest *gneu = member_of(w, e->cluster, next);
	struct member *neu = &gneu->m;
	if (!e->failover) {
		old->role = T_REPLICA;
		old->streaming = false;
		old->at_push_replica = t + DEMOTE_REPLICA_S;
		old->at_stream = t + DEMOTE_STREAM_S;
		old->promote_by = -1;
		push(old, POLICY_ROLE_UNKNOWN, t); /* on_stop demoted */
		promote_begin(w, gneu, t);
		return;
	}
	old->role = T_DOWN;
	old->streaming = false;
	old->at_rejoin = t + REJOIN_S;
	old->promote_by = -1;
	neu->at_promote = t + FAILOVER_GAP_S;
	/* The other replicas lost their upstream until the promotion. */
	for (int k = 0; k < MEMBERS; k++) {
		struct member *m = &member_of(w, e->cluster, k)->m;
		if (m->role == T_REPLICA) {
			m->streaming = false;
			if (m != neu)
				m->at_stream = t + FAILOVER_GAP_S + 2;
		}
	}
}

static void patroni_step(struct world *w, int64_t t)
{
	const struct scenario *sc = w->sc;
	if (t == 0)
		for (int i = 0; i < N_CLUSTERS * MEMBERS; i++) {
			struct member *m = &w->g[i].m;
			push(m,
			     m->role == T_LEADER ? POLICY_ROLE_LEADER
						 : POLICY_ROLE_REPLICA,
			     t); /* bootstrap: on_start */
		}
	while (w->next_ev < sc->n_ev && sc->ev[w->next_ev].t <= t)
		patroni_event(w, &sc->ev[w->next_ev++], t);
	for (int i = 0; i < N_CLUSTERS * MEMBERS; i++) {
		struct guest *g = &w->g[i];
		struct member *m = &g->m;
		/* The hook sees the balloon at max (it polls far more often
		 * than once a second), or gives up waiting. */
		if (m->role == T_PROMOTING &&
		    (g->actual >= GUEST_MAX || t >= m->promote_by))
			promote(m, t);
		if (m->at_push_replica == t) {
			push(m, POLICY_ROLE_REPLICA, t);
			m->at_push_replica = -1;
		}
		if (m->at_stream == t) {
			m->streaming = m->role == T_REPLICA;
			m->at_stream = -1;
		}
		if (m->at_promote == t) {
			m->at_promote = -1;
			promote_begin(w, g, t);
		}
		if (m->at_rejoin == t) {
			m->role = T_REPLICA;
			m->streaming = true;
			push(m, POLICY_ROLE_REPLICA, t); /* on_start replica */
			m->at_rejoin = -1;
		}
	}
	if (t % REST_EVERY_S != REST_PHASE_S)
		return;
	for (int c = 0; c < N_CLUSTERS; c++) {
		w->c[c].poll_t = t;
		w->c[c].has_leader = false;
		for (int k = 0; k < MEMBERS; k++) {
			struct member *m = &member_of(w, c, k)->m;
			bool lead =
			    m->role == T_LEADER || m->role == T_PROMOTING;
			m->confirmed = lead ? POLICY_ROLE_LEADER
				       : m->role == T_REPLICA
					   ? POLICY_ROLE_REPLICA
					   : POLICY_ROLE_UNKNOWN;
			m->confirmed_streaming =
			    m->role == T_REPLICA && m->streaming;
			m->confirmed_t = t;
			believe(m, m->confirmed, t);
			if (lead)
				w->c[c].has_leader = true;
		}
	}
}

/* ---- the guests ---- */

static int64_t spike_demand(struct guest *g, const struct gspec *s, int64_t t)
{
	int64_t sum = 0;
	while (g->spike_first < s->n_spikes) {
		const struct spike *k = &s->spikes[g->spike_first];
		if (k->start + k->ramp + k->hold + SPIKE_FALL_S > t)
			break;
		g->spike_first++;
	}
	for (size_t j = g->spike_first; j < s->n_spikes; j++) {
		const struct spike *k = &s->spikes[j];
		int64_t dt = t - k->start;
		if (dt < 0)
			break;
		if (dt < k->ramp)
			sum += k->bytes * dt / k->ramp;
		else if (dt < k->ramp + k->hold)
			sum += k->bytes;
		else if (dt < k->ramp + k->hold + SPIKE_FALL_S)
			sum += k->bytes *
			       (k->ramp + k->hold + SPIKE_FALL_S - dt) /
			       SPIKE_FALL_S;
	}
	return sum;
}

static void guest_demand(struct world *w, int i, int64_t t, bool fpr)
{
	struct guest *g = &w->g[i];
	const struct gspec *s = &w->sc->g[i];
	double ws = OS_BASE;
	if (s->cluster >= 0) {
		const struct member *m = &g->m;
		if (m->role == T_DOWN) {
			g->sb_warm = 0;
			g->role_extra = 0;
		} else {
			g->sb_warm += (1.0 - g->sb_warm) / TAU_SB;
			double want =
			    (double)(m->role == T_LEADER ? s->role_leader
							 : s->role_replica);
			g->role_extra += (want - g->role_extra) /
					 (want > g->role_extra ? TAU_ROLE_UP
							       : TAU_ROLE_DOWN);
		}
		ws += g->sb_warm * (double)SHARED_BUFFERS + g->role_extra;
	} else {
		g->app += ((double)s->app - g->app) / TAU_APP;
		ws += g->app;
	}
	g->ws = (int64_t)ws + spike_demand(g, s, t);
	/* Demand takes the guest's free memory first, then its cache. */
	int64_t held = min64(g->ws, g->actual);
	g->cache = max64(0, min64(g->cache, g->actual - held));
	g->cache += min64(g->actual - held - g->cache, s->cache_rate);
	int64_t used = held + g->cache;
	g->touched = fpr ? used : max64(g->touched, used);
	g->touched = min64(g->touched, g->actual);
}

static void balloon_move(struct guest *g, int64_t t)
{
	int64_t before = g->actual;
	if (g->set > g->actual) {
		g->actual = min64(g->set, g->actual + balloon_up);
	} else if (g->set < g->actual) {
		int64_t goal = max64(g->set, g->ws + BALLOON_FLOOR);
		if (goal < g->actual)
			g->actual = max64(goal, g->actual - BALLOON_DOWN);
	}
	if (g->actual == before)
		return;
	g->last_move_t = t;
	/* A grown guest at once uses what it lacked (it had swapped it). */
	int64_t held = min64(g->ws, g->actual);
	g->cache = max64(0, min64(g->cache, g->actual - held));
	g->touched = min64(max64(g->touched, held + g->cache), g->actual);
}

/* ---- the host ---- */

static void host_free(struct world *w)
{
	int64_t rss = 0;
	for (int i = 0; i < n_guests; i++)
		rss += w->g[i].touched;
	w->free = HOST_TOTAL - HOST_BASE - HOST_CACHE - rss - w->arc;
}

static int64_t mem_available(const struct world *w)
{
	return w->free + HOST_CACHE;
}

static void arc_step(struct world *w)
{
	host_free(w);
	int64_t sys_free = arc_sys_free();
	if (w->arc > w->arc_cap) {
		w->arc -= min64(ARC_SHRINK, w->arc - w->arc_cap);
	} else if (w->free < sys_free) {
		w->arc -= min64(ARC_SHRINK, max64(0, w->arc - ARC_C_MIN));
	} else {
		int64_t room = w->free - sys_free - (w->arc >> 5);
		if (room > 0)
			w->arc += min64(min64(ARC_GROW, room),
					max64(0, w->arc_cap - w->arc));
	}
	host_free(w);
}

static int64_t headroom(const struct world *w)
{
	int64_t soon =
	    min64(max64(0, w->arc - ARC_C_MIN), ARC_SOON_S * ARC_SHRINK);
	return mem_available(w) + soon - KERNEL_RESV;
}

/* The stall fraction of this second, and the PSI averages from it. */
static void psi_step(struct world *w)
{
	double s = (double)(PSI_FREE - w->free) / (double)PSI_FREE;
	s = s < 0 ? 0 : s > 1 ? 1 : s;
	w->psi_prev_stall = w->psi_stall;
	w->psi_stall = s;
	w->psi_avg10 += (s - w->psi_avg10) * (1.0 - exp(-1.0 / 10.0));
}

/* ---- sending a balloon command ---- */

static void balloon_cmd(struct world *w, int i, int64_t target, int64_t t,
			struct result *r)
{
	struct guest *g = &w->g[i];
	r->commands++;
	r->g_commands[i]++;
	if (g->set_known && target == g->set) {
		/* The move deadline runs from the first time this target
		 * was sent (daemon/exec.c): a repeat does not extend it. */
		r->redundant++;
		return;
	}
	g->set = target;
	g->set_t = t;
	g->set_known = true;
}

/* ---- policy 2: the hourly role-only cron job ---- */

static void decide_cron(struct world *w, int64_t t, struct result *r)
{
	if (t % CRON_EVERY_S)
		return;
	for (int i = 0; i < N_CLUSTERS * MEMBERS; i++) {
		struct guest *g = &w->g[i];
		int64_t target = g->m.role == T_LEADER	  ? GUEST_MAX
				 : g->m.role == T_REPLICA ? GUEST_MAX / 2
							  : 0;
		if (g->m.role == T_PROMOTING) /* never: cron has no hook */
			target = GUEST_MAX;
		if (target && target != g->set)
			balloon_cmd(w, i, target, t, r);
	}
}

/* ---- policy 3: Proxmox's auto-balloon (PVE::AutoBalloon, a port) ---- */

struct pve_vm {
	int64_t balloon, min, max, freemem;
	int64_t res;
	bool has_res;
};

/* compute_alg1's change_func: spread bytes over idlist by shares (all
 * 1000 here), each VM moving at most maxchange from where it is. */
static int64_t pve_change(struct pve_vm *vm, const int *ids, int n,
			  int64_t bytes)
{
	int64_t rest = bytes, progress = 1;
	bool repeat = true, done[MAX_GUESTS] = {false};
	while (rest && repeat && progress) {
		repeat = false;
		progress = 0;
		int64_t shares_total = 0, alloc_old = 0;
		for (int j = 0; j < n; j++) {
			const struct pve_vm *d = &vm[ids[j]];
			if (done[ids[j]])
				continue;
			alloc_old +=
			    (d->has_res ? d->res : d->balloon) - d->min;
			shares_total += 1000;
		}
		int64_t changes = 0, alloc_new = alloc_old + rest;
		for (int j = 0; j < n; j++) {
			struct pve_vm *d = &vm[ids[j]];
			if (done[ids[j]])
				continue;
			int64_t desired =
			    d->min + (int64_t)((double)alloc_new /
					       (double)shares_total * 1000.0);
			if (desired > d->max) {
				desired = d->max;
				repeat = true;
			} else if (desired < d->min) {
				desired = d->min;
				repeat = true;
			}
			int64_t b;
			if (bytes > 0 && desired > d->balloon) {
				b = min64(d->balloon + PVE_MAXCHANGE, desired);
			} else if (desired < d->balloon) {
				b = max64(d->balloon - PVE_MAXCHANGE, desired);
			} else {
				done[ids[j]] = true;
				continue;
			}
			int64_t diff = b - d->balloon;
			if (diff) {
				int64_t old = d->has_res ? d->res : d->balloon;
				d->res = b;
				d->has_res = true;
				if (b != old) {
					changes += b - old;
					progress += diff < 0 ? -diff : diff;
					repeat = true;
				}
			}
		}
		rest -= changes;
	}
	return rest;
}

static void decide_proxmox(struct world *w, int64_t t, struct result *r,
			   bool see_arc)
{
	if (t % PVE_EVERY_S)
		return;
	int64_t memfree = mem_available(w);
	if (see_arc)
		memfree += max64(0, w->arc - ARC_C_MIN);
	int64_t memused = HOST_TOTAL - memfree;
	int64_t goal = HOST_TOTAL / 100 * PVE_TARGET - memused;
	struct pve_vm vm[MAX_GUESTS];
	int all[MAX_GUESTS], press[MAX_GUESTS], spare[MAX_GUESTS];
	int n_all = 0, n_press = 0, n_spare = 0;
	for (int i = 0; i < n_guests; i++) {
		const struct guest *g = &w->g[i];
		vm[i] = (struct pve_vm){
		    .balloon = g->actual,
		    .min = GUEST_MIN,
		    .max = GUEST_MAX,
		    .freemem = max64(0, g->actual - g->ws - g->cache),
		};
		all[n_all++] = i;
		if (vm[i].freemem > GUEST_MIN / 4 && g->actual >= GUEST_MIN)
			spare[n_spare++] = i;
		else
			press[n_press++] = i;
	}
	if (goal > 10 * MiB) {
		int64_t rest = pve_change(vm, press, n_press, goal);
		if (rest >= goal)
			pve_change(vm, all, n_all, rest);
	} else if (goal < -10 * MiB) {
		int64_t rest = pve_change(vm, spare, n_spare, goal);
		if (rest <= goal)
			pve_change(vm, all, n_all, rest);
	}
	for (int i = 0; i < n_guests; i++)
		if (vm[i].has_res && vm[i].res != vm[i].balloon)
			balloon_cmd(w, i, vm[i].res, t, r);
}

/* ---- policy 4: oVirt MoM's balloon policy ---- */

static void decide_mom(struct world *w, int64_t t, struct result *r,
		       bool see_arc)
{
	if (t % MOM_EVERY_S)
		return;
	int64_t memfree = mem_available(w);
	if (see_arc)
		memfree += max64(0, w->arc - ARC_C_MIN);
	double host_free = (double)memfree / (double)HOST_TOTAL;
	for (int i = 0; i < n_guests; i++) {
		struct guest *g = &w->g[i];
		double cur = (double)g->actual;
		double unused = (double)max64(0, g->actual - g->ws - g->cache);
		double used = cur - unused, size;
		if (host_free < 0.20) {
			double gfp = host_free <= 0.05
					 ? host_free - 0.05
					 : 0.20 * host_free / 0.20;
			double floor = used + gfp * cur;
			size = cur * 0.95;
			if (size < floor)
				size = floor;
			if (size < (double)GUEST_MIN)
				size = (double)GUEST_MIN;
			if (size > cur)
				continue;
		} else {
			if (g->actual >= GUEST_MAX)
				continue;
			double floor = used + 0.20 * (double)GUEST_MAX;
			size = cur * 1.05;
			if (size > (double)GUEST_MAX)
				size = (double)GUEST_MAX;
			if (size < floor)
				size = floor;
			if (size > (double)GUEST_MAX)
				size = (double)GUEST_MAX;
		}
		if (fabs(size - cur) > 0.0025 * cur)
			balloon_cmd(w, i, (int64_t)size, t, r);
	}
}

/* ---- policy 5: balloond's policy_decide ---- */

/* --log: the guest whose balloond commands are printed, or -1. */
static int log_guest = -1;

static int64_t age_ms(int64_t now, int64_t then)
{
	return then < 0 ? POLICY_NEVER : (now - then) * 1000;
}

static bool settled(const struct guest *g, int64_t t)
{
	int64_t d =
	    g->actual > g->set ? g->actual - g->set : g->set - g->actual;
	return d <= MOVE_TOL || t - g->set_t >= MOVE_TIMEOUT;
}

static void violation(struct result *r, int64_t t, enum viol v,
		      const char *guest, const struct guest *g, int64_t target)
{
	r->violations++;
	if (!r->n_viol[v]++)
		snprintf(r->first_viol[v], sizeof(r->first_viol[v]),
			 "t=%" PRId64 " s %s: %.2f -> %.2f GiB, used %.2f GiB",
			 t, guest, gib(g->actual), gib(target), gib(g->ws));
}

static void decide_balloond(struct world *w, int64_t t, struct result *r)
{
	struct policy_guest pg[MAX_GUESTS];
	struct policy_cluster pc[N_CLUSTERS];
	struct policy_decision dec[MAX_GUESTS];
	struct policy_action act[MAX_GUESTS];
	struct policy_plan plan = {.actions = act};

	for (int c = 0; c < N_CLUSTERS; c++)
		pc[c] = (struct policy_cluster){
		    .reachable = w->c[c].poll_t >= 0,
		    .has_leader = w->c[c].has_leader,
		    .facts_age_ms = age_ms(t, w->c[c].poll_t),
		    .dwell_ms = DWELL_MS,
		    .max_age_ms = MAX_AGE_MS,
		};
	for (int i = 0; i < n_guests; i++) {
		const struct guest *g = &w->g[i];
		const struct gspec *s = &w->sc->g[i];
		const struct member *m = &g->m;
		bool member = s->cluster >= 0;
		/* As daemon/plan.c: recent stats taken after the balloon
		 * last moved are fresh; recent ones taken before, settling. */
		bool recent =
		    g->stats_t >= 0 && t - g->stats_t <= STATS_FRESH_S;
		bool fresh = recent && g->stats_t > g->last_move_t;
		pg[i] = (struct policy_guest){
		    .name = s->name,
		    .max_bytes = GUEST_MAX,
		    .min_bytes = GUEST_MIN,
		    .replica_target_bytes = member ? REPLICA_TARGET : 0,
		    .actual_bytes = (uint64_t)g->actual,
		    .set_bytes = g->set_known ? (uint64_t)g->set : 0,
		    .actual_known = true,
		    .link_up = true,
		    .role = member ? POLICY_ROLE_UNKNOWN : POLICY_ROLE_NONE,
		    .cluster = member ? (size_t)s->cluster : POLICY_NO_CLUSTER,
		    .pushed_role = member ? m->pushed : POLICY_ROLE_UNKNOWN,
		    .pushed_age_ms =
			member ? age_ms(t, m->pushed_t) : POLICY_NEVER,
		    .confirmed_role =
			member ? m->confirmed : POLICY_ROLE_UNKNOWN,
		    .confirmed_streaming = member && m->confirmed_streaming,
		    .confirmed_age_ms =
			member ? age_ms(t, m->confirmed_t) : POLICY_NEVER,
		    .role_change_age_ms =
			member ? age_ms(t, m->changed_t) : POLICY_NEVER,
		    .stats_fresh = fresh,
		    .stats_settling = recent && !fresh,
		    .available_bytes = fresh ? (uint64_t)g->stats_avail : 0,
		    .free_bytes = fresh ? (uint64_t)g->stats_free : 0,
		};
	}
	int64_t avail = mem_available(w);
	struct policy_input in = {
	    .guests = pg,
	    .n_guests = (size_t)n_guests,
	    .clusters = pc,
	    .n_clusters = N_CLUSTERS,
	    .host =
		{
		    .known = true,
		    .mem_total_bytes = (uint64_t)HOST_TOTAL,
		    .mem_available_bytes = (uint64_t)max64(0, avail),
		    .psi_some_avg10_x100 =
			(uint32_t)(w->psi_avg10 * 10000.0 + 0.5),
		    .psi_full_avg10_x100 =
			(uint32_t)(w->psi_avg10 * 5000.0 + 0.5),
		    /* The trigger's window: the last 2 s stalled enough. */
		    .psi_event = (w->psi_stall + w->psi_prev_stall) * 1000.0 >=
				 PSI_STALL_MS,
		    .arc_present = true,
		    .arc_size_bytes = (uint64_t)w->arc,
		    .arc_c_min_bytes = (uint64_t)ARC_C_MIN,
		    /* The ARC's own c_max, not the cap balloond wrote. */
		    .arc_c_max_bytes = (uint64_t)arc_default_max(),
		    .arc_max_set_bytes = (uint64_t)w->arc_max_set,
		    .reclaiming = w->reclaiming,
		},
	    .config = w->cfg,
	};
	int rc = policy_decide(&in, dec, &plan);
	if (rc) {
		fprintf(stderr,
			"balloon-sim: policy_decide: %s at t=%" PRId64 "\n",
			strerror(-rc), t);
		exit(2);
	}
	w->reclaiming = plan.reclaiming;
	r->reclaiming_s += plan.reclaiming;
	if (plan.n_steps > POLICY_MAX_STEPS ||
	    plan.n_actions > (size_t)n_guests) {
		fprintf(stderr,
			"balloon-sim: a plan out of bounds at t=%" PRId64 "\n",
			t);
		exit(2);
	}
	for (size_t k = 0; k < plan.n_actions; k++) {
		size_t i = act[k].guest;
		int64_t target = (int64_t)act[k].target_bytes;
		if (i >= (size_t)n_guests) {
			fprintf(stderr, "balloon-sim: guest index %zu\n", i);
			exit(2);
		}
		const char *name = w->sc->g[i].name;
		const struct guest *g = &w->g[i];
		if (target < GUEST_MIN)
			violation(r, t, V_BELOW_MIN, name, g, target);
		if (target > GUEST_MAX)
			violation(r, t, V_ABOVE_MAX, name, g, target);
		/* A new or deeper shrink (not a repeat of a target the
		 * balloon is still moving to) must be justified by fresh
		 * stats and stay within what they report spare. */
		if (target >= g->actual || (g->set_known && target >= g->set))
			continue;
		if (dec[i].may_be_leader)
			violation(r, t, V_LEADER, name, g, target);
		if (!pg[i].stats_fresh) {
			violation(r, t, V_STALE, name, g, target);
			continue;
		}
		/* Below the critical watermark, beyond the reserve but never
		 * beyond what the guest reports available. */
		int64_t reserve =
		    plan.critical
			? 0
			: (int64_t)policy_guest_reserve(&w->cfg, &pg[i]);
		int64_t spare = max64(0, g->stats_avail - reserve);
		if (g->actual - target > spare + MiB)
			violation(r, t, V_OVER_FREE, name, g, target);
	}
	if (plan.arc_write && plan.arc_before) {
		w->arc_max_set = (int64_t)plan.arc_max_bytes;
		r->arc_writes++;
	}
	bool blocked = false;
	for (size_t s = 0; s < plan.n_steps && !blocked; s++) {
		const struct policy_step *st = &plan.steps[s];
		if (st->first + st->count > plan.n_actions) {
			fprintf(stderr, "balloon-sim: a step out of bounds\n");
			exit(2);
		}
		for (size_t k = st->first; k < st->first + st->count; k++) {
			int i = (int)act[k].guest;
			if (i == log_guest)
				printf("%8" PRId64 " s %s: step %zu%s %5.2f -> "
				       "%5.2f GiB, used %5.2f, stats %s "
				       "%5.2f avail: %s\n",
				       t, w->sc->g[i].name, s,
				       st->wait_moved ? " (wait)" : "",
				       gib(w->g[i].actual),
				       gib((int64_t)act[k].target_bytes),
				       gib(w->g[i].ws),
				       pg[i].stats_fresh ? "fresh" : "stale",
				       gib((int64_t)pg[i].available_bytes),
				       dec[i].reason ? dec[i].reason : "-");
			balloon_cmd(w, i, (int64_t)act[k].target_bytes, t, r);
		}
		if (!st->wait_moved)
			continue;
		for (size_t k = st->first; k < st->first + st->count; k++)
			if (!settled(&w->g[act[k].guest], t))
				blocked = true;
	}
	if (plan.arc_write && !plan.arc_before && !blocked) {
		w->arc_max_set = (int64_t)plan.arc_max_bytes;
		r->arc_writes++;
	}
	/* zfs_arc_max below c_min is ignored by ZFS; 0 is "the default". */
	w->arc_cap =
	    w->arc_max_set >= ARC_C_MIN ? w->arc_max_set : arc_default_max();
}

/* ---- one run ---- */

enum { CHECK_BRIEF = 1, CHECK_POLICY = 2 };

struct opts {
	uint64_t seed;
	int64_t days;
	int check; /* 0, CHECK_BRIEF or CHECK_POLICY */
	bool see_arc;
	int trace;	  /* a policy, or -1 */
	const char *log;  /* a guest, or NULL */
	const char *plot; /* --plot FILE, or NULL */
	/* --sweep: every --plains value by every seed in --seeds. */
	bool sweep;
	int plains[MAX_PLAIN + 1], n_plains;
	uint64_t seed_lo, seed_hi;
	int jobs;
};

static void trace_line(const struct world *w, int64_t t)
{
	printf("%7.2f h free %6.1f arc %6.1f cap %6.1f hr %6.1f |", t / 3600.0,
	       gib(w->free), gib(w->arc), gib(w->arc_cap), gib(headroom(w)));
	for (int i = 0; i < n_guests; i++)
		printf(" %4.1f/%4.1f", gib(w->g[i].actual), gib(w->g[i].ws));
	printf("\n");
}

/* --plot: each policy's lowest headroom in each simulated minute, in GiB
 * (NULL: not plotting). */
#define PLOT_EVERY_S 60
static float *plot_hr[N_POL];

static void run(const struct scenario *sc, enum pol p, const struct opts *o,
		struct result *r)
{
	static struct world w;
	world_init(&w, sc);
	w.hook = p == P_BALLOOND;
	memset(r, 0, sizeof(*r));
	r->duration = sc->duration;
	r->min_headroom = INT64_MAX;
	host_free(&w);
	for (int64_t t = 0; t < sc->duration; t++) {
		patroni_step(&w, t);
		for (int i = 0; i < n_guests; i++)
			guest_demand(&w, i, t, p == P_PROXMOX);
		host_free(&w);
		psi_step(&w);
		if (t % STATS_EVERY_S == 0)
			for (int i = 0; i < n_guests; i++) {
				struct guest *g = &w.g[i];
				g->stats_t = t;
				g->stats_avail = max64(0, g->actual - g->ws);
				g->stats_free =
				    max64(0, g->actual - g->ws - g->cache);
			}
		switch (p) {
		case P_NONE:
			break;
		case P_CRON:
			decide_cron(&w, t, r);
			break;
		case P_PROXMOX:
			decide_proxmox(&w, t, r, o->see_arc);
			break;
		case P_MOM:
			decide_mom(&w, t, r, o->see_arc);
			break;
		case P_BALLOOND:
		case N_POL:
			decide_balloond(&w, t, r);
			break;
		}
		for (int i = 0; i < n_guests; i++)
			balloon_move(&w.g[i], t);
		arc_step(&w);

		int64_t hr = headroom(&w);
		r->min_headroom = min64(r->min_headroom, hr);
		if (plot_hr[p]) {
			float *v = &plot_hr[p][t / PLOT_EVERY_S];
			if (t % PLOT_EVERY_S == 0 || gib(hr) < *v)
				*v = (float)gib(hr);
		}
		if (hr < HOST_TOTAL / 100 * DANGER_PCT)
			r->danger_s++;
		if (w.free < 0)
			r->swap_s++;
		/* What the host swapped out (-free) comes from the guests in
		 * proportion to their resident memory. */
		int64_t out = max64(0, -w.free), rss = 0;
		for (int i = 0; i < n_guests; i++)
			rss += w.g[i].touched;
		bool any = false;
		int64_t reclaimed = 0;
		for (int i = 0; i < n_guests; i++) {
			const struct guest *g = &w.g[i];
			reclaimed += GUEST_MAX - g->actual;
			int64_t resident =
			    g->touched -
			    (out && rss
				 ? (int64_t)((double)out * (double)g->touched /
					     (double)rss)
				 : 0);
			bool small = g->ws > g->actual;
			bool swapped = !small && g->ws > resident;
			bool below = g->m.role == T_LEADER &&
				     w.sc->g[i].cluster >= 0 &&
				     g->actual < GUEST_MAX;
			if (small || swapped) {
				r->starved_gs++;
				r->starved_swap_gs += swapped;
				r->g_starved[i]++;
				any = true;
			}
			if (below) {
				r->leader_below_s++;
				if (g->set < GUEST_MAX)
					r->leader_wait_s++;
			}
			if (i == log_guest && p == P_BALLOOND &&
			    (small || swapped || below))
				printf("%8" PRId64 " s %s: %s, actual %5.2f "
				       "GiB, target %5.2f, used %5.2f, "
				       "resident %5.2f\n",
				       t, sc->g[i].name,
				       below	 ? "leader below max"
				       : swapped ? "starved (host swap)"
						 : "starved (balloon)",
				       gib(g->actual), gib(g->set), gib(g->ws),
				       gib(resident));
		}
		r->starved_any_s += any;
		r->reclaimed_sum += gib(reclaimed);
		r->arc_sum += gib(w.arc);
		r->avail_sum += gib(mem_available(&w));
		if (o->trace == (int)p &&
		    (t % 60 == 0 || hr < HOST_TOTAL / 100 * DANGER_PCT))
			trace_line(&w, t);
	}
	if (o->trace == (int)p)
		for (int i = 0; i < n_guests; i++)
			printf("%-8s starved %6" PRId64 " s, %6" PRId64
			       " commands\n",
			       sc->g[i].name, r->g_starved[i],
			       r->g_commands[i]);
}

/* ---- --check and --check-policy ---- */

/* The criteria for balloond, judged on one scenario. leader: no second
 * with a Patroni leader below its max (--check-policy: no second with a
 * leader's target below max; the balloon's speed is not the policy's);
 * invariants: its plans broke none of policy.h's (--check-policy only);
 * danger: no more seconds in danger than the best of the other policies;
 * starved: strictly fewer starved guest-seconds than every policy that
 * reclaims memory (cron, proxmox, mom: none reclaims nothing, so it
 * starves a guest only by the host's swapping); reclaimed: at least 90 %
 * of what the hourly cron job reclaims on average. */
enum crit { C_LEADER, C_INVARIANTS, C_DANGER, C_STARVED, C_RECLAIMED, N_CRIT };
static const char *const crit_name[N_CRIT] = {"leader<max", "invariants",
					      "danger", "starved", "reclaimed"};

#define RECLAIM_PCT 90

static int64_t best_danger(const struct result *res)
{
	int64_t best = INT64_MAX;
	for (int p = 0; p < P_BALLOOND; p++)
		best = min64(best, res[p].danger_s);
	return best;
}

static void judge(const struct result *res, int mode, bool won[N_CRIT])
{
	const struct result *b = &res[P_BALLOOND];
	won[C_LEADER] =
	    (mode == CHECK_POLICY ? b->leader_wait_s : b->leader_below_s) == 0;
	won[C_INVARIANTS] = mode != CHECK_POLICY || b->violations == 0;
	won[C_DANGER] = b->danger_s <= best_danger(res);
	won[C_STARVED] = true;
	for (int p = P_CRON; p < P_BALLOOND; p++)
		won[C_STARVED] &= b->starved_gs < res[p].starved_gs;
	won[C_RECLAIMED] =
	    b->reclaimed_sum * 100 >= res[P_CRON].reclaimed_sum * RECLAIM_PCT;
}

static bool criterion(bool ok, const char *what)
{
	printf("check: %-4s %s\n", ok ? "ok" : "FAIL", what);
	return ok;
}

/* --check and --check-policy on one scenario: every criterion is printed,
 * so that a failing test says which. */
static bool check(const struct result *res, int mode)
{
	const struct result *b = &res[P_BALLOOND];
	bool won[N_CRIT], ok = true;
	char what[200];
	judge(res, mode, won);
	printf("\n");
	if (mode == CHECK_POLICY)
		snprintf(what, sizeof(what),
			 "ldr wait (a leader's target below max): balloond "
			 "%" PRId64 " s == 0",
			 b->leader_wait_s);
	else
		snprintf(what, sizeof(what),
			 "leader<max: balloond %" PRId64 " s == 0",
			 b->leader_below_s);
	ok &= criterion(won[C_LEADER], what);
	if (mode == CHECK_POLICY)
		ok &= criterion(won[C_INVARIANTS],
				"invariants: balloond broke none");
	snprintf(what, sizeof(what),
		 "danger: balloond %" PRId64 " s <= the best of none, cron, "
		 "proxmox, mom (%" PRId64 " s)",
		 b->danger_s, best_danger(res));
	ok &= criterion(won[C_DANGER], what);
	for (int p = P_CRON; p < P_BALLOOND; p++) {
		snprintf(what, sizeof(what),
			 "starved: balloond %" PRId64 " guest-s < %s %" PRId64
			 " guest-s",
			 b->starved_gs, pol_name[p], res[p].starved_gs);
		ok &= criterion(b->starved_gs < res[p].starved_gs, what);
	}
	snprintf(what, sizeof(what),
		 "reclaimed: balloond %.2f GiB avg >= %d %% of cron's %.2f",
		 b->reclaimed_sum / (double)b->duration, RECLAIM_PCT,
		 res[P_CRON].reclaimed_sum / (double)b->duration);
	ok &= criterion(won[C_RECLAIMED], what);
	printf("check: %s\n", ok ? "ok" : "FAILED");
	return ok;
}

/* ---- --sweep: a matrix of overcommit by seeds ---- */

/* One scenario of the sweep, computed by a worker process into memory
 * shared with the parent. */
struct cell {
	int plain;
	uint64_t seed;
	bool done;
	struct result res[N_POL];
};

static double overcommit(int guests)
{
	return (double)(guests * GUEST_MAX) /
	       (double)(HOST_TOTAL - HOST_BASE - HOST_CACHE);
}

static void sweep_cell(struct cell *c, const struct opts *o)
{
	static struct scenario sc;
	n_guests = N_CLUSTERS * MEMBERS + c->plain;
	scenario_build(&sc, c->seed, o->days);
	for (int p = 0; p < N_POL; p++)
		run(&sc, (enum pol)p, o, &c->res[p]);
	c->done = true;
}

static void sweep_row(const struct cell *c, int mode, bool won[N_CRIT])
{
	const struct result *r = c->res;
	const struct result *b = &r[P_BALLOOND];
	double d = (double)b->duration;
	judge(r, mode, won);
	char miss[64] = "";
	for (int k = 0; k < N_CRIT; k++)
		if (!won[k])
			snprintf(miss + strlen(miss),
				 sizeof(miss) - strlen(miss), "%s%s",
				 *miss ? "," : "", crit_name[k]);
	printf("%5d %4" PRIu64 " %5.2f | %6" PRId64 " %6" PRId64 " %6" PRId64
	       " %6" PRId64 " %6" PRId64 " | %6" PRId64 " %6" PRId64
	       " | %8" PRId64 " %8" PRId64 " %8" PRId64 " %6" PRId64
	       " | %6.1f %6.1f | %s\n",
	       c->plain, c->seed, overcommit(N_CLUSTERS * MEMBERS + c->plain),
	       r[P_NONE].danger_s, r[P_CRON].danger_s, r[P_PROXMOX].danger_s,
	       r[P_MOM].danger_s, b->danger_s, b->leader_below_s,
	       b->leader_wait_s, r[P_CRON].starved_gs, r[P_PROXMOX].starved_gs,
	       r[P_MOM].starved_gs, b->starved_gs, r[P_CRON].reclaimed_sum / d,
	       b->reclaimed_sum / d, *miss ? miss : "won");
}

static int sweep(const struct opts *o)
{
	size_t n = 0;
	for (int k = 0; k < o->n_plains; k++)
		n += (size_t)(o->seed_hi - o->seed_lo + 1);
	struct cell *cells =
	    mmap(NULL, n * sizeof(*cells), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cells == MAP_FAILED) {
		perror("balloon-sim: mmap");
		return 2;
	}
	size_t j = 0;
	for (int k = 0; k < o->n_plains; k++)
		for (uint64_t s = o->seed_lo; s <= o->seed_hi; s++)
			cells[j++] =
			    (struct cell){.plain = o->plains[k], .seed = s};
	/* Each worker takes every jobs-th scenario; the parent waits. */
	fflush(stdout);
	for (int w = 0; w < o->jobs; w++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("balloon-sim: fork");
			return 2;
		}
		if (pid == 0) {
			for (size_t c = (size_t)w; c < n; c += (size_t)o->jobs)
				sweep_cell(&cells[c], o);
			_exit(0);
		}
	}
	int status, failed = 0;
	while (wait(&status) > 0)
		failed |= !WIFEXITED(status) || WEXITSTATUS(status);
	if (failed) {
		fprintf(stderr, "balloon-sim: a sweep worker failed\n");
		return 2;
	}
	printf("balloon-sim --sweep: %zu scenarios of %" PRId64
	       " days; danger and leader<max in s, starved in guest-s, "
	       "reclaimed in GiB avg\n\n",
	       n, o->days);
	printf("%16s | %-34s | %-13s | %-33s | %-13s |\n", "", "danger s",
	       "leader<max s", "starved guest-s", "reclaimed GiB");
	printf("%5s %4s %5s | %6s %6s %6s %6s %6s | %6s %6s | %8s %8s %8s %6s "
	       "| %6s %6s |\n",
	       "plain", "seed", "over", "none", "cron", "pve", "mom", "bd",
	       "bd", "wait", "cron", "pve", "mom", "bd", "cron", "bd");
	int64_t won_n[N_CRIT] = {0}, all = 0;
	struct result tot[N_POL] = {0};
	for (size_t c = 0; c < n; c++) {
		bool won[N_CRIT], every = true;
		sweep_row(&cells[c], o->check ? o->check : CHECK_BRIEF, won);
		for (int k = 0; k < N_CRIT; k++) {
			won_n[k] += won[k];
			every &= won[k];
		}
		all += every;
		for (int p = 0; p < N_POL; p++) {
			const struct result *r = &cells[c].res[p];
			tot[p].danger_s += r->danger_s;
			tot[p].leader_below_s += r->leader_below_s;
			tot[p].leader_wait_s += r->leader_wait_s;
			tot[p].starved_gs += r->starved_gs;
			tot[p].reclaimed_sum +=
			    r->reclaimed_sum / (double)r->duration;
		}
	}
	printf("\n%-16s | %6" PRId64 " %6" PRId64 " %6" PRId64 " %6" PRId64
	       " %6" PRId64 " | %6" PRId64 " %6" PRId64 " | %8" PRId64
	       " %8" PRId64 " %8" PRId64 " %6" PRId64 " | %6.0f %6.0f |\n",
	       "totals", tot[P_NONE].danger_s, tot[P_CRON].danger_s,
	       tot[P_PROXMOX].danger_s, tot[P_MOM].danger_s,
	       tot[P_BALLOOND].danger_s, tot[P_BALLOOND].leader_below_s,
	       tot[P_BALLOOND].leader_wait_s, tot[P_CRON].starved_gs,
	       tot[P_PROXMOX].starved_gs, tot[P_MOM].starved_gs,
	       tot[P_BALLOOND].starved_gs, tot[P_CRON].reclaimed_sum,
	       tot[P_BALLOOND].reclaimed_sum);
	printf("\nscenarios won by balloond, of %zu:", n);
	for (int k = 0; k < N_CRIT; k++)
		if (k != C_INVARIANTS || o->check == CHECK_POLICY)
			printf(" %s %" PRId64 ",", crit_name[k], won_n[k]);
	printf(" every criterion %" PRId64 "\n", all);
	munmap(cells, n * sizeof(*cells));
	if (!o->check)
		return 0;
	printf("check: %s\n", all == (int64_t)n ? "ok" : "FAILED");
	return all == (int64_t)n ? 0 : 1;
}

/* ---- --plot: the host's headroom over time, drawn by gnuplot ---- */

/* Writes the data next to FILE (FILE.dat) and has gnuplot draw it: one
 * line per policy, the danger line, and a mark at every promotion (a
 * switchover's at once, a failover's once the leader key is taken). */
static int plot(const struct scenario *sc, const char *file)
{
	const char *ext = strrchr(file, '.');
	const char *term = NULL;
	if (ext && strcmp(ext, ".svg") == 0)
		term = "svg size 1400,700 dynamic background '#ffffff'";
	else if (ext && strcmp(ext, ".png") == 0)
		term = "pngcairo size 1400,700";
	if (!term) {
		fprintf(stderr, "balloon-sim: --plot wants a .svg or .png\n");
		return 2;
	}
	char dat[4096];
	snprintf(dat, sizeof(dat), "%s.dat", file);
	FILE *d = fopen(dat, "w");
	if (!d) {
		perror(dat);
		return 2;
	}
	int64_t n = sc->duration / PLOT_EVERY_S;
	for (int64_t k = 0; k < n; k++) {
		fprintf(d, "%.4f", (double)(k * PLOT_EVERY_S) / 3600.0);
		for (int p = 0; p < N_POL; p++)
			fprintf(d, " %.3f", plot_hr[p][k]);
		fprintf(d, "\n");
	}
	if (fclose(d)) {
		perror(dat);
		return 2;
	}
	FILE *g = popen("gnuplot", "w");
	if (!g) {
		perror("balloon-sim: gnuplot");
		return 2;
	}
	fprintf(g, "set terminal %s\nset output '%s'\n", term, file);
	fprintf(g,
		"set title \"balloon-sim: seed %" PRIu64 ", %d guests of %.0f "
		"GiB on %.0f GiB (%.2fx): the host's lowest headroom each "
		"minute\"\n",
		sc->seed, n_guests, gib(GUEST_MAX), gib(HOST_TOTAL),
		overcommit(n_guests));
	fputs("set xlabel 'hours'\nset ylabel 'headroom, GiB'\n"
	      "set key outside right top\nset grid\n"
	      "set yrange [-10:*]\n",
	      g);
	for (size_t e = 0; e < sc->n_ev; e++) {
		const struct pg_event *ev = &sc->ev[e];
		double h =
		    (double)(ev->t + (ev->failover ? FAILOVER_GAP_S : 0)) /
		    3600.0;
		fprintf(g,
			"set arrow from %.4f, graph 0 to %.4f, graph 1 nohead "
			"lc rgb '%s' dt 3\n",
			h, h, ev->failover ? "#cc0000" : "#888888");
	}
	fprintf(g,
		"plot %.3f title 'danger (under %d %% of RAM)' lw 2 "
		"lc rgb 'red'",
		gib(HOST_TOTAL / 100 * DANGER_PCT), DANGER_PCT);
	for (int p = 0; p < N_POL; p++)
		fprintf(g, ", '%s' using 1:%d with lines title '%s' lw %d", dat,
			p + 2, pol_name[p], p == P_BALLOOND ? 2 : 1);
	fputs("\n# promotions: grey dotted lines (switchovers), red "
	      "(failovers)\n",
	      g);
	int rc = pclose(g);
	if (rc) {
		fprintf(stderr, "balloon-sim: gnuplot failed (%d)\n", rc);
		return 2;
	}
	printf("\nplot: %s (data %s); promotions marked, grey a "
	       "switchover, red a failover\n",
	       file, dat);
	return 0;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fputs("usage: balloon-sim [--seed N] [--days D] [--plain N] "
	      "[--grow-gibps X]\n"
	      "         [--promote-wait S] [--baselines-see-arc]\n"
	      "         [--check | --check-policy] [--plot FILE]\n"
	      "         [--trace POLICY] [--log GUEST]\n"
	      "       balloon-sim --sweep [--seeds LO-HI] [--plains N,N,...] "
	      "[--jobs N]\n"
	      "         [--check | --check-policy] [other options]\n"
	      "Runs none, cron, proxmox, mom and balloond on one seeded "
	      "scenario and\n"
	      "prints a table (defaults: seed 1, 3 days, 3 plain guests "
	      "besides the 9\n"
	      "Patroni members, balloons grow at 2.5 GiB/s, the pre_promote "
	      "hook\n"
	      "waits 6 s at most).\n"
	      "  --check         exit 1 unless balloond wins on every "
	      "criterion: 0\n"
	      "                  leader<max seconds; danger no higher than "
	      "the best of\n"
	      "                  none, cron, proxmox and mom; fewer starved "
	      "guest-seconds\n"
	      "                  than cron, proxmox and mom; reclaimed at "
	      "least 90 % of\n"
	      "                  cron's\n"
	      "  --check-policy  the same, but for leader<max: no second "
	      "with a leader's\n"
	      "                  target below max (ldr wait 0), and no "
	      "invariant broken\n"
	      "  --sweep         every --plains value (default 0 to 12) by "
	      "every seed\n"
	      "                  (--seeds, default 1-10), one line a "
	      "scenario and totals,\n"
	      "                  on --jobs processes (default: the CPUs); "
	      "with a check,\n"
	      "                  exit 1 unless every scenario is won\n"
	      "  --plot FILE     draw the host's headroom over time under each "
	      "policy,\n"
	      "                  the danger line and the promotions, with "
	      "gnuplot (.svg or\n"
	      "                  .png)\n"
	      "  --trace POLICY  one line a simulated minute: host, then "
	      "each guest's\n"
	      "                  actual/used GiB; per-guest totals at the "
	      "end\n"
	      "  --log GUEST     every balloond command to GUEST "
	      "(pg-a1..pg-c3, app-N)\n"
	      "                  with the policy's reason, and each second "
	      "it starved\n"
	      "                  or, as leader, ran below its max\n",
	      f);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){
	    .seed = 1, .days = 3, .trace = -1, .seed_lo = 1, .seed_hi = 10};
	for (int k = 0; k <= MAX_PLAIN; k++)
		o->plains[o->n_plains++] = k;
	long jobs = sysconf(_SC_NPROCESSORS_ONLN);
	o->jobs = jobs < 1 ? 1 : jobs > 64 ? 64 : (int)jobs;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;
		if (strcmp(a, "--check") == 0) {
			o->check = CHECK_BRIEF;
		} else if (strcmp(a, "--check-policy") == 0) {
			o->check = CHECK_POLICY;
		} else if (strcmp(a, "--sweep") == 0) {
			o->sweep = true;
		} else if (strcmp(a, "--seeds") == 0 && v) {
			/* LO-HI */
			errno = 0;
			o->seed_lo = strtoull(v, &end, 10);
			if (errno || end == v || *end != '-')
				return -1;
			const char *hi = end + 1;
			o->seed_hi = strtoull(hi, &end, 10);
			if (errno || end == hi || *end ||
			    o->seed_hi < o->seed_lo ||
			    o->seed_hi - o->seed_lo >= 1000)
				return -1;
			i++;
		} else if (strcmp(a, "--plains") == 0 && v) {
			/* A comma-separated list. */
			o->n_plains = 0;
			const char *q = v;
			do {
				errno = 0;
				long n = strtol(q, &end, 10);
				if (errno || end == q || n < 0 ||
				    n > MAX_PLAIN || o->n_plains > MAX_PLAIN ||
				    (*end && *end != ','))
					return -1;
				o->plains[o->n_plains++] = (int)n;
				q = end + 1;
			} while (*end);
			i++;
		} else if (strcmp(a, "--jobs") == 0 && v) {
			errno = 0;
			long n = strtol(v, &end, 10);
			if (errno || *end || !*v || n < 1 || n > 64)
				return -1;
			o->jobs = (int)n;
			i++;
		} else if (strcmp(a, "--plain") == 0 && v) {
			errno = 0;
			long n = strtol(v, &end, 10);
			if (errno || *end || !*v || n < 0 || n > MAX_PLAIN)
				return -1;
			n_guests = N_CLUSTERS * MEMBERS + (int)n;
			i++;
		} else if (strcmp(a, "--grow-gibps") == 0 && v) {
			errno = 0;
			double x = strtod(v, &end);
			if (errno || *end || !*v || !(x >= 0.1 && x <= 1000))
				return -1;
			balloon_up = (int64_t)(x * (double)GiB);
			i++;
		} else if (strcmp(a, "--promote-wait") == 0 && v) {
			errno = 0;
			long w = strtol(v, &end, 10);
			if (errno || *end || !*v || w < 0 || w > 60)
				return -1;
			promote_wait = w;
			i++;
		} else if (strcmp(a, "--baselines-see-arc") == 0) {
			o->see_arc = true;
		} else if (strcmp(a, "--seed") == 0 && v) {
			errno = 0;
			o->seed = strtoull(v, &end, 0);
			if (errno || *end || !*v)
				return -1;
			i++;
		} else if (strcmp(a, "--days") == 0 && v) {
			errno = 0;
			long d = strtol(v, &end, 10);
			if (errno || *end || d < 1 || d > 60)
				return -1;
			o->days = d;
			i++;
		} else if (strcmp(a, "--trace") == 0 && v) {
			for (int p = 0; p < N_POL; p++)
				if (strcmp(v, pol_name[p]) == 0)
					o->trace = p;
			if (o->trace < 0)
				return -1;
			i++;
		} else if (strcmp(a, "--plot") == 0 && v) {
			o->plot = v;
			i++;
		} else if (strcmp(a, "--log") == 0 && v) {
			o->log = v;
			i++;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		} else {
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (o.sweep)
		return sweep(&o);
	static struct scenario sc;
	scenario_build(&sc, o.seed, o.days);
	for (int i = 0; o.log && i < n_guests; i++)
		if (strcmp(o.log, sc.g[i].name) == 0)
			log_guest = i;
	if (o.log && log_guest < 0) {
		fprintf(stderr,
			"balloon-sim: no guest %s (pg-a1..pg-c3, "
			"app-1..app-N)\n",
			o.log);
		return 2;
	}
	struct result res[N_POL];
	for (int p = 0; o.plot && p < N_POL; p++) {
		plot_hr[p] = calloc((size_t)(sc.duration / PLOT_EVERY_S + 1),
				    sizeof(float));
		if (!plot_hr[p]) {
			perror("balloon-sim");
			return 2;
		}
	}
	for (int p = 0; p < N_POL; p++)
		run(&sc, (enum pol)p, &o, &res[p]);

	printf("balloon-sim: seed %" PRIu64 ", %" PRId64 " days (%" PRId64
	       " s, step 1 s), host %.0f GiB with an "
	       "unbounded ZFS ARC\n",
	       sc.seed, o.days, sc.duration, gib(HOST_TOTAL));
	printf("guests: %d of %.0f GiB (%d Patroni clusters x %d, %d plain); "
	       "events: %zu switchovers, %zu failovers, %zu spikes%s\n",
	       n_guests, gib(GUEST_MAX), N_CLUSTERS, MEMBERS,
	       n_guests - N_CLUSTERS * MEMBERS, sc.n_switchovers,
	       sc.n_failovers, sc.n_spikes,
	       o.see_arc ? "; baselines see the ARC" : "");
	printf("danger: headroom under %d %% of RAM (%.2f GiB); starved in "
	       "guest-seconds\n\n",
	       DANGER_PCT, gib(HOST_TOTAL / 100 * DANGER_PCT));
	printf("%-9s %9s %8s %10s %9s %9s %9s\n", "policy", "min hdrm",
	       "danger", "leader<max", "starved", "reclaimed", "balloon");
	printf("%-9s %9s %8s %10s %9s %9s %9s\n", "", "GiB", "s", "s",
	       "guest-s", "GiB avg", "commands");
	for (int p = 0; p < N_POL; p++) {
		const struct result *r = &res[p];
		printf("%-9s %9.2f %8" PRId64 " %10" PRId64 " %9" PRId64
		       " %9.2f %9" PRId64 "\n",
		       pol_name[p], gib(r->min_headroom), r->danger_s,
		       r->leader_below_s, r->starved_gs,
		       r->reclaimed_sum / (double)sc.duration, r->commands);
	}
	printf("\n%-9s %8s %8s %9s %9s %9s %9s %9s %7s %9s\n", "more",
	       "ldr wait", "swap", "starv any", "by swap", "ARC avg",
	       "MemAvail", "redundant", "ARC wr", "reclaim");
	printf("%-9s %8s %8s %9s %9s %9s %9s %9s %7s %9s\n", "", "s", "s", "s",
	       "guest-s", "GiB", "GiB avg", "commands", "", "s");
	for (int p = 0; p < N_POL; p++) {
		const struct result *r = &res[p];
		printf("%-9s %8" PRId64 " %8" PRId64 " %9" PRId64 " %9" PRId64
		       " %9.2f %9.2f %9" PRId64 " %7" PRId64 " %9" PRId64 "\n",
		       pol_name[p], r->leader_wait_s, r->swap_s,
		       r->starved_any_s, r->starved_swap_gs,
		       r->arc_sum / (double)sc.duration,
		       r->avail_sum / (double)sc.duration, r->redundant,
		       r->arc_writes, r->reclaiming_s);
	}
	const struct result *b = &res[P_BALLOOND];
	if (b->violations)
		printf("\nballoond's plans broke policy.h's invariants:\n");
	for (int v = 0; v < N_VIOL; v++)
		if (b->n_viol[v])
			printf("  %" PRId64 " x %s; the first: %s\n",
			       b->n_viol[v], viol_name[v], b->first_viol[v]);
	if (o.plot && plot(&sc, o.plot))
		return 2;
	if (!o.check)
		return 0;
	return check(res, o.check) ? 0 : 1;
}
