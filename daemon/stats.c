/*
 * stats.c: the guest-stats source. Every interval it asks each guest
 * whose balloon it knows for `guest-stats` (first setting QEMU's own
 * polling interval on that link), stores them on the guest and asks for
 * a replan when they changed. The first source on the seam that the host
 * memory monitor and the Patroni watcher use too.
 */
#include "daemon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct stats_source {
	uv_timer_t timer;
	unsigned interval_s; /* copied from the config at start */
	void (*done)(struct bd_source *);
	struct bd_source src;
};

/* The day's peak of used memory (actual minus available) and whether the
 * policy sees the guest starving. Stats taken before the balloon last
 * moved describe a guest of another size: no sample. A new day hands the
 * history to the state file (one journal line per guest and day, never
 * one per poll). */
static void note_peaks(struct bd_guest *g, const struct qmp_guest_stats *st)
{
	int64_t now = bd_wall_us(g->bd);
	bool rolled = g->why.starving && bd_peaks_starved(&g->peaks, now);
	if (g->link.actual_known && st->available_bytes != UINT64_MAX &&
	    st->last_update > 0 &&
	    st->last_update * 1000000 >= g->link.moved_wall_us)
		rolled |= bd_peaks_used(
		    &g->peaks, now,
		    g->link.actual_bytes > st->available_bytes
			? g->link.actual_bytes - st->available_bytes
			: 0);
	if (rolled && g->bd->peaks_cb)
		g->bd->peaks_cb(g);
}

static void stats_cb(qmp_client *c, int err, const struct qmp_guest_stats *st,
		     void *data)
{
	struct bd_guest *g = data;
	g->stats.inflight = false;
	if (g->removed || err)
		return;
	bool changed =
	    !g->stats.known || memcmp(&g->stats.last, st, sizeof(*st)) != 0;
	g->stats.last = *st;
	g->stats.known = true;
	note_peaks(g, st);
	/* A guest that deflated its balloon is no donor until stats taken
	 * after that show it above its watermark again (twice its reserve,
	 * the policy's). */
	if (g->link.deflated && st->last_update > 0 &&
	    st->available_bytes != UINT64_MAX &&
	    st->last_update * 1000000 >= g->link.moved_wall_us) {
		struct policy_config pc = POLICY_CONFIG_DEFAULT;
		pc.guest_reserve_min_bytes = g->bd->conf.guest_reserve_bytes;
		pc.guest_reserve_pct = (unsigned)g->bd->conf.guest_reserve_pct;
		struct policy_guest pg = {.max_bytes = g->max_bytes};
		if (st->available_bytes >= 2 * policy_guest_reserve(&pc, &pg)) {
			g->link.deflated = false;
			bd_info("%s: recovered after deflating its balloon",
				g->spec.name);
		}
	}
	if (changed)
		bd_replan(g->bd);
}

struct enable_req {
	struct bd_guest *g;
	unsigned interval_s;
};

static void enabled_cb(qmp_client *c, int err, void *data)
{
	struct enable_req *r = data;
	struct bd_guest *g = r->g;
	if (!g->removed && !err)
		g->stats.interval_set = r->interval_s;
	else if (!g->removed && err != -ECANCELED && err != -ECONNRESET)
		bd_debug("%s: cannot enable guest stats: %s", g->spec.name,
			 qmp_strerror(err));
	free(r);
}

static void tick_cb(uv_timer_t *t)
{
	struct stats_source *s = t->data;
	struct bd *bd = s->src.bd;
	bd_guest_foreach (g, bd) {
		if (g->removed || !bd_link_up(g) || !g->stats.path)
			continue;
		if (g->stats.interval_set != s->interval_s) {
			/* QEMU asks the guest driver for stats only when told
			 * an interval; once per link. */
			struct enable_req *r = malloc(sizeof(*r));
			if (!r)
				continue;
			*r = (struct enable_req){g, s->interval_s};
			if (qmp_guest_stats_enable(g->link.qmp, g->stats.path,
						   s->interval_s, enabled_cb,
						   r))
				free(r);
		}
		/* One request at a time: a QEMU that stops answering must not
		 * fill the link's queue with them. */
		if (!g->stats.inflight &&
		    qmp_guest_stats_get(g->link.qmp, g->stats.path, stats_cb,
					g) == 0)
			g->stats.inflight = true;
	}
}

static int stats_start(struct bd_source *src)
{
	struct stats_source *s = src->state;
	s->interval_s = (unsigned)src->bd->conf.stats_interval_s;
	if (!s->interval_s)
		return 0; /* off */
	uint64_t ms = (uint64_t)s->interval_s * 1000;
	/* The first tick at once: a reload's new interval reaches QEMU now,
	 * not one (maybe long) interval later. */
	return uv_timer_start(&s->timer, tick_cb, 0, ms);
}

static void stats_stop(struct bd_source *src)
{
	struct stats_source *s = src->state;
	uv_timer_stop(&s->timer);
}

static void closed_cb(uv_handle_t *h)
{
	struct stats_source *s = h->data;
	void (*done)(struct bd_source *) = s->done;
	struct bd_source *src = &s->src;
	if (done)
		done(src);
	free(s);
}

static void stats_close(struct bd_source *src, void (*done)(struct bd_source *))
{
	struct stats_source *s = src->state;
	s->done = done;
	uv_close((uv_handle_t *)&s->timer, closed_cb);
}

static const struct bd_source_ops stats_ops = {
    .name = "guest-stats",
    .start = stats_start,
    .stop = stats_stop,
    .close = stats_close,
};

int bd_stats_source_new(struct bd *bd, struct bd_source **out)
{
	struct stats_source *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	uv_timer_init(bd->loop, &s->timer);
	s->timer.data = s;
	s->src = (struct bd_source){.ops = &stats_ops, .bd = bd, .state = s};
	*out = &s->src;
	return 0;
}
