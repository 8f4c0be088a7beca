/*
 * metrics.c: the Prometheus text exposition of balloond's state. The
 * renderer reads struct bd only (the registry, the host snapshot, the
 * REST watcher's and the listener's state, and the counters); the
 * counters that no other part keeps are counted here, as one more
 * subscriber of the event stream, so that every outlet renders the same
 * state that `balloonctl status` shows.
 */
#include "daemon.h"
#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

const double bd_replan_bucket_s[BD_REPLAN_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01,   0.025,   0.05,   0.1,   0.25,   1.0,
};

struct bd_metrics {
	struct bd_subscriber sub;
};

/* ---- the buffer ---- */

static bool buf_reserve(struct bd_buf *b, size_t more)
{
	if (b->oom)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void bd_buf_printf(struct bd_buf *b, const char *fmt, ...)
{
	va_list ap;
	if (!buf_reserve(b, 128))
		return;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (!buf_reserve(b, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void bd_buf_put(struct bd_buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void bd_buf_label(struct bd_buf *b, const char *s)
{
	size_t n = strlen(s);
	/* Most names need no escape: one copy. */
	if (!strpbrk(s, "\\\"\n")) {
		bd_buf_put(b, s, n);
		return;
	}
	if (!buf_reserve(b, 2 * n))
		return;
	for (; *s; s++) {
		switch (*s) {
		case '\\':
			b->p[b->len++] = '\\';
			b->p[b->len++] = '\\';
			break;
		case '"':
			b->p[b->len++] = '\\';
			b->p[b->len++] = '"';
			break;
		case '\n':
			b->p[b->len++] = '\\';
			b->p[b->len++] = 'n';
			break;
		default:
			b->p[b->len++] = *s;
		}
	}
	b->p[b->len] = '\0';
}

void bd_buf_free(struct bd_buf *b)
{
	free(b->p);
	*b = (struct bd_buf){0};
}

/* ---- the renderer ---- */

static void family(struct bd_buf *b, const char *name, const char *type,
		   const char *help)
{
	bd_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
		      type);
}

/* The start of a sample, name{label="value" with the value escaped; the
 * caller adds any further labels and the closing brace. */
static void sample_open(struct bd_buf *b, const char *name, const char *label,
			const char *value)
{
	/* Copies rather than printf: with 1,000 guests a render writes tens
	 * of thousands of samples, on the loop. */
	bd_buf_puts(b, name);
	bd_buf_put(b, "{", 1);
	bd_buf_puts(b, label);
	bd_buf_put(b, "=\"", 2);
	bd_buf_label(b, value);
	bd_buf_put(b, "\"", 1);
}

/* name{guest="..."} value, with the value already formatted. */
static void guest_sample(struct bd_buf *b, const char *name,
			 const struct bd_guest *g, const char *value)
{
	sample_open(b, name, "guest", g->spec.name);
	bd_buf_put(b, "} ", 2);
	bd_buf_puts(b, value);
	bd_buf_put(b, "\n", 1);
}

/* v in decimal into out (at least 21 bytes). */
static void fmt_u64(char *out, uint64_t v)
{
	char tmp[21];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
}

static bool shown(const struct bd_guest *g)
{
	/* As status: a registration still waiting for its link is not a
	 * guest yet. */
	return !g->removed && !g->reg.registering;
}

static uint64_t guest_target(const struct bd_guest *g)
{
	/* As status reports it. */
	return g->act.want_bytes       ? g->act.want_bytes
	       : g->act.inflight_bytes ? g->act.inflight_bytes
				       : g->link.set_bytes;
}

enum gfield {
	G_MAX,
	G_MIN,
	G_TARGET,
	G_ACTUAL,
	G_LINK,
	G_CMDS,
	G_ERRS,
	G_PINNED,
	G_STARVING,
	G_MAY_BE_LEADER,
	G_FREE,
	G_AVAIL,
	G_STATS_AGE,
	G_RECONNECTS,
	G_LATENCY,
	G_FOREIGN,
	G_USED_PEAK,
	G_COUNT
};

static const struct {
	const char *name, *type, *help;
} gfields[G_COUNT] = {
    [G_MAX] = {"balloond_guest_max_bytes", "gauge",
	       "The guest's effective maximum size."},
    [G_MIN] = {"balloond_guest_min_bytes", "gauge",
	       "The guest's effective minimum size."},
    [G_TARGET] = {"balloond_guest_target_bytes", "gauge",
		  "The balloon target balloond set or is setting."},
    [G_ACTUAL] = {"balloond_guest_actual_bytes", "gauge",
		  "The guest's size as QEMU last reported it."},
    [G_LINK] = {"balloond_guest_link_up", "gauge",
		"1 if the guest's QMP link is up, else 0."},
    [G_CMDS] = {"balloond_guest_balloon_commands_total", "counter",
		"Balloon commands balloond sent to the guest."},
    [G_ERRS] = {"balloond_guest_balloon_command_errors_total", "counter",
		"Balloon commands that failed, were refused or timed out."},
    [G_PINNED] = {"balloond_guest_pinned", "gauge",
		  "1 if an admin pinned the guest's target, else 0."},
    [G_STARVING] = {"balloond_guest_starving", "gauge",
		    "1 if the policy sees the guest starving, else 0."},
    [G_MAY_BE_LEADER] = {"balloond_guest_may_be_leader", "gauge",
			 "1 if the policy holds the guest at its max as a "
			 "possible Patroni leader, else 0."},
    [G_FREE] = {"balloond_guest_free_bytes", "gauge",
		"Free memory the guest last reported."},
    [G_AVAIL] = {"balloond_guest_available_bytes", "gauge",
		 "Available memory the guest last reported."},
    [G_STATS_AGE] = {"balloond_guest_stats_age_seconds", "gauge",
		     "Age of the guest's last memory statistics."},
    [G_RECONNECTS] = {"balloond_guest_qmp_reconnects_total", "counter",
		      "Times the guest's QMP link came up again."},
    [G_LATENCY] = {"balloond_guest_last_command_latency_seconds", "gauge",
		   "Round trip of the guest's last answered balloon command."},
    [G_FOREIGN] = {"balloond_guest_foreign_moves_total", "counter",
		   "Times something other than balloond lowered the balloon."},
    [G_USED_PEAK] = {"balloond_guest_used_peak_bytes", "gauge",
		     "The guest's highest daily peak of used memory (actual "
		     "minus available) over the last 14 days."},
};

/* The value of field f for g into v; false: no sample. */
static bool guest_value(const struct bd_guest *g, enum gfield f,
			int64_t now_wall_s, char *v, size_t len)
{
	const struct bd_guest_counters *c = &g->counters;
	bool stats = g->stats.known && g->stats.last.last_update > 0;
	switch (f) {
	case G_MAX:
		fmt_u64(v, g->max_bytes);
		return true;
	case G_MIN:
		fmt_u64(v, g->min_bytes);
		return true;
	case G_TARGET:
		fmt_u64(v, guest_target(g));
		return true;
	case G_ACTUAL:
		fmt_u64(v, g->link.actual_bytes);
		return g->link.actual_known;
	case G_LINK:
		fmt_u64(v, bd_link_up(g));
		return true;
	case G_CMDS:
		fmt_u64(v, c->balloon_commands);
		return true;
	case G_ERRS:
		fmt_u64(v, c->balloon_command_errors);
		return true;
	case G_PINNED:
		fmt_u64(v, g->spec.pin_bytes != 0);
		return true;
	case G_STARVING:
		fmt_u64(v, g->why.starving);
		return true;
	case G_MAY_BE_LEADER:
		fmt_u64(v, g->why.may_be_leader);
		return true;
	case G_FREE:
		fmt_u64(v, g->stats.last.free_bytes);
		return stats && g->stats.last.free_bytes != UINT64_MAX;
	case G_AVAIL:
		fmt_u64(v, g->stats.last.available_bytes);
		return stats && g->stats.last.available_bytes != UINT64_MAX;
	case G_STATS_AGE:
		snprintf(
		    v, len, "%lld",
		    (long long)(now_wall_s > g->stats.last.last_update
				    ? now_wall_s - g->stats.last.last_update
				    : 0));
		return stats;
	case G_RECONNECTS:
		snprintf(
		    v, len, "%llu",
		    (unsigned long long)(c->link_ups ? c->link_ups - 1 : 0));
		return true;
	case G_LATENCY:
		snprintf(v, len, "%.6f", (double)c->last_latency_us / 1e6);
		return c->latency_known;
	case G_FOREIGN:
		fmt_u64(v, g->link.foreign_moves);
		return true;
	case G_USED_PEAK: {
		struct bd_peaks_summary ps = bd_peaks_summary(
		    &g->peaks, bd_peaks_day(now_wall_s * 1000000));
		fmt_u64(v, ps.max_bytes);
		return ps.days > 0;
	}
	case G_COUNT:
		break;
	}
	return false;
}

static void render_guests(struct bd *bd, struct bd_buf *b)
{
	int64_t now_s = bd_wall_us(bd) / 1000000;
	char v[64];
	for (int f = 0; f < G_COUNT; f++) {
		family(b, gfields[f].name, gfields[f].type, gfields[f].help);
		bd_guest_foreach (g, bd)
			if (shown(g) &&
			    guest_value(g, (enum gfield)f, now_s, v, sizeof(v)))
				guest_sample(b, gfields[f].name, g, v);
	}

	/* The role as a state set: one sample per role, 1 for the current. */
	/* status shows "-" for a guest outside Patroni: a label says
	 * "none". */
	static const struct {
		enum policy_role role;
		const char *name;
	} roles[] = {
	    {POLICY_ROLE_NONE, "none"},
	    {POLICY_ROLE_UNKNOWN, "unknown"},
	    {POLICY_ROLE_LEADER, "leader"},
	    {POLICY_ROLE_REPLICA, "replica"},
	};
	family(b, "balloond_guest_role", "gauge",
	       "The guest's Patroni role as balloond sees it (a state set).");
	bd_guest_foreach (g, bd) {
		if (!shown(g))
			continue;
		for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
			sample_open(b, "balloond_guest_role", "guest",
				    g->spec.name);
			bd_buf_printf(b, ",role=\"%s\"} %d\n", roles[i].name,
				      g->role == roles[i].role);
		}
	}
	family(b, "balloond_guest_info", "gauge",
	       "The guest's Patroni cluster and member (always 1).");
	bd_guest_foreach (g, bd) {
		if (!shown(g))
			continue;
		sample_open(b, "balloond_guest_info", "guest", g->spec.name);
		bd_buf_printf(b, ",cluster=\"");
		bd_buf_label(b, g->spec.cluster);
		bd_buf_printf(b, "\",member=\"");
		bd_buf_label(b, g->spec.member);
		bd_buf_printf(b, "\"} 1\n");
	}
}

static void gauge_u64(struct bd_buf *b, const char *name, const char *help,
		      uint64_t v)
{
	family(b, name, "gauge", help);
	bd_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void counter_u64(struct bd_buf *b, const char *name, const char *help,
			uint64_t v)
{
	family(b, name, "counter", help);
	bd_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void render_host(struct bd *bd, struct bd_buf *b)
{
	const struct policy_host *h = &bd->host;
	family(b, "balloond_host_mem_total_bytes", "gauge",
	       "The host's MemTotal.");
	if (h->known)
		bd_buf_printf(b, "balloond_host_mem_total_bytes %llu\n",
			      (unsigned long long)h->mem_total_bytes);
	family(b, "balloond_host_mem_available_bytes", "gauge",
	       "The host's MemAvailable.");
	if (h->known)
		bd_buf_printf(b, "balloond_host_mem_available_bytes %llu\n",
			      (unsigned long long)h->mem_available_bytes);
	family(b, "balloond_host_headroom_bytes", "gauge",
	       "The headroom the policy held against its watermarks at the "
	       "last plan.");
	bd_buf_printf(b, "balloond_host_headroom_bytes %lld\n",
		      (long long)bd->headroom_bytes);
	/* The watermarks as the policy resolves them for this host. */
	struct policy_config pc = bd_plan_config(bd);
	family(b, "balloond_host_low_watermark_bytes", "gauge",
	       "Headroom below which balloond reclaims from guests.");
	if (h->known)
		bd_buf_printf(b, "balloond_host_low_watermark_bytes %llu\n",
			      (unsigned long long)pc.low_watermark_bytes);
	family(b, "balloond_host_high_watermark_bytes", "gauge",
	       "Headroom above which balloond gives memory back.");
	if (h->known)
		bd_buf_printf(b, "balloond_host_high_watermark_bytes %llu\n",
			      (unsigned long long)pc.high_watermark_bytes);
	gauge_u64(b, "balloond_host_reclaiming",
		  "1 while the host is under memory pressure and balloond "
		  "reclaims from guests, else 0.",
		  h->reclaiming);
	family(b, "balloond_host_psi_some_avg10_ratio", "gauge",
	       "Memory PSI some, averaged over 10 s, as a ratio.");
	if (h->known)
		bd_buf_printf(b, "balloond_host_psi_some_avg10_ratio %.4f\n",
			      h->psi_some_avg10_x100 / 10000.0);
	family(b, "balloond_host_psi_full_avg10_ratio", "gauge",
	       "Memory PSI full, averaged over 10 s, as a ratio.");
	if (h->known)
		bd_buf_printf(b, "balloond_host_psi_full_avg10_ratio %.4f\n",
			      h->psi_full_avg10_x100 / 10000.0);
	counter_u64(b, "balloond_host_psi_trigger_events_total",
		    "Memory PSI trigger events.", bd->counters.psi_events);
	counter_u64(b, "balloond_host_reclaim_episodes_total",
		    "Times the host came under pressure and balloond began "
		    "reclaiming.",
		    bd->counters.reclaim_episodes);
	gauge_u64(b, "balloond_host_arc_cap_refused",
		  "1 if a write of zfs_arc_max was refused, else 0.",
		  bd->arc_disabled);
	static const struct {
		const char *name, *help;
		size_t off;
	} arc[] = {
	    {"balloond_host_arc_size_bytes", "The ZFS ARC's size.",
	     offsetof(struct policy_host, arc_size_bytes)},
	    {"balloond_host_arc_c_min_bytes", "The ZFS ARC's c_min.",
	     offsetof(struct policy_host, arc_c_min_bytes)},
	    {"balloond_host_arc_c_max_bytes",
	     "The ZFS ARC's own c_max (before balloond's cap).",
	     offsetof(struct policy_host, arc_c_max_bytes)},
	    {"balloond_host_arc_cap_bytes",
	     "The zfs_arc_max balloond last wrote.",
	     offsetof(struct policy_host, arc_max_set_bytes)},
	};
	for (size_t i = 0; i < sizeof(arc) / sizeof(arc[0]); i++) {
		family(b, arc[i].name, "gauge", arc[i].help);
		uint64_t v = *(const uint64_t *)((const char *)h + arc[i].off);
		if (h->known && h->arc_present &&
		    (v || arc[i].off !=
			      offsetof(struct policy_host, arc_max_set_bytes)))
			bd_buf_printf(b, "%s %llu\n", arc[i].name,
				      (unsigned long long)v);
	}
}

static void render_daemon(struct bd *bd, struct bd_buf *b)
{
	const struct bd_counters *c = &bd->counters;
	/* method "unknown": a request that could not be read, or a peer
	 * refused before any request was read. */
	static const char *const results[BD_REQ_RESULTS] = {
	    [BD_REQ_OK] = "ok",
	    [BD_REQ_ERROR] = "error",
	    [BD_REQ_REFUSED] = "refused",
	};
	family(b, "balloond_control_requests_total", "counter",
	       "Control requests, by method and result (ok, error, "
	       "refused).");
	for (int m = 0; m <= BD_M_COUNT; m++)
		for (int r = 0; r < BD_REQ_RESULTS; r++)
			bd_buf_printf(
			    b,
			    "balloond_control_requests_total{method="
			    "\"%s\",result=\"%s\"} %llu\n",
			    m == BD_M_COUNT ? "unknown"
					    : bd_method_name((enum bd_method)m),
			    results[r], (unsigned long long)c->requests[m][r]);

	int64_t now = bd_mono_us(bd);
	family(b, "balloond_patroni_polls_total", "counter",
	       "Patroni REST polls, by cluster and result.");
	for (size_t i = 0; i < bd->conf.n_clusters; i++) {
		uint64_t polls, failures;
		const char *name = bd->conf.clusters[i].name;
		bd_rest_polls(bd, name, &polls, &failures);
		for (int e = 0; e < 2; e++) {
			sample_open(b, "balloond_patroni_polls_total",
				    "cluster", name);
			bd_buf_printf(
			    b, ",result=\"%s\"} %llu\n", e ? "error" : "ok",
			    (unsigned long long)(e ? failures
						   : polls - failures));
		}
	}
	/* What the policy reads of each cluster, read once for both
	 * families. */
	struct policy_cluster pcs[BD_MAX_CLUSTERS];
	for (size_t i = 0; i < bd->conf.n_clusters; i++)
		bd_rest_cluster(bd, bd->conf.clusters[i].name, now, &pcs[i]);
	family(b, "balloond_cluster_reachable", "gauge",
	       "1 if the cluster's Patroni REST API answered the last poll.");
	for (size_t i = 0; i < bd->conf.n_clusters; i++) {
		sample_open(b, "balloond_cluster_reachable", "cluster",
			    bd->conf.clusters[i].name);
		bd_buf_printf(b, "} %d\n", pcs[i].reachable);
	}
	family(b, "balloond_cluster_facts_age_seconds", "gauge",
	       "Age of the cluster's last good facts from Patroni.");
	for (size_t i = 0; i < bd->conf.n_clusters; i++) {
		if (pcs[i].facts_age_ms == POLICY_NEVER)
			continue;
		sample_open(b, "balloond_cluster_facts_age_seconds", "cluster",
			    bd->conf.clusters[i].name);
		bd_buf_printf(b, "} %.3f\n", pcs[i].facts_age_ms / 1000.0);
	}

	family(b, "balloond_cluster_facts_max_age_seconds", "gauge",
	       "Age at which the cluster's facts are stale (max_age_ms).");
	for (size_t i = 0; i < bd->conf.n_clusters; i++) {
		sample_open(b, "balloond_cluster_facts_max_age_seconds",
			    "cluster", bd->conf.clusters[i].name);
		bd_buf_printf(b, "} %.3f\n",
			      bd->conf.clusters[i].max_age_ms / 1000.0);
	}

	family(b, "balloond_listener_datagrams_total", "counter",
	       "Role notification datagrams the listener received, by "
	       "result.");
	for (int r = 0; r < BD_NOTIFY_R_COUNT; r++)
		bd_buf_printf(
		    b,
		    "balloond_listener_datagrams_total{result=\"%s\"} %llu\n",
		    bd_notify_reject_name((enum bd_notify_reject)r),
		    (unsigned long long)bd->listener.counts[r]);

	counter_u64(b, "balloond_plans_total", "Plans computed.", c->plans);
	family(b, "balloond_replan_duration_seconds", "histogram",
	       "Time to snapshot, decide and dispatch a plan.");
	uint64_t cum = 0;
	for (int i = 0; i < BD_REPLAN_BUCKETS; i++) {
		cum += c->replan_buckets[i];
		bd_buf_printf(
		    b,
		    "balloond_replan_duration_seconds_bucket{le=\"%g\"}"
		    " %llu\n",
		    bd_replan_bucket_s[i], (unsigned long long)cum);
	}
	bd_buf_printf(b,
		      "balloond_replan_duration_seconds_bucket{le=\"+Inf\"} "
		      "%llu\n",
		      (unsigned long long)c->plans);
	bd_buf_printf(b, "balloond_replan_duration_seconds_sum %.9f\n",
		      c->replan_sum_ns / 1e9);
	bd_buf_printf(b, "balloond_replan_duration_seconds_count %llu\n",
		      (unsigned long long)c->plans);

	family(b, "balloond_build_info", "gauge",
	       "balloond's version (always 1).");
	sample_open(b, "balloond_build_info", "version", PACKAGE_VERSION);
	bd_buf_printf(b, "} 1\n");
	family(b, "balloond_start_time_seconds", "gauge",
	       "When balloond started, in seconds since the epoch.");
	bd_buf_printf(b, "balloond_start_time_seconds %.3f\n",
		      c->start_wall_us / 1e6);
}

int bd_metrics_render(struct bd *bd, struct bd_buf *b)
{
	render_guests(bd, b);
	render_host(bd, b);
	render_daemon(bd, b);
	return b->oom ? -ENOMEM : 0;
}

/* ---- the counters ---- */

void bd_metrics_plan_done(struct bd *bd, uint64_t ns)
{
	struct bd_counters *c = &bd->counters;
	c->plans++;
	c->replan_sum_ns += ns;
	for (int i = 0; i < BD_REPLAN_BUCKETS; i++)
		if ((double)ns / 1e9 <= bd_replan_bucket_s[i]) {
			c->replan_buckets[i]++;
			break;
		}
}

void bd_metrics_request(struct bd *bd, int method, enum bd_req_result result)
{
	if (method < 0 || method > BD_M_COUNT)
		method = BD_M_COUNT;
	if (result < BD_REQ_RESULTS)
		bd->counters.requests[method][result]++;
}

void bd_metrics_command_done(struct bd_guest *g, bool failed,
			     int64_t latency_us)
{
	if (failed)
		g->counters.balloon_command_errors++;
	g->counters.latency_known = true;
	g->counters.last_latency_us = latency_us;
}

/* What the event stream tells that no other part counts. */
static void event_cb(struct bd *bd, const struct bd_event *ev, void *arg)
{
	(void)arg;
	struct bd_guest *g = ev->guest;
	json_object *v;
	if (g && strcmp(ev->name, "command") == 0) {
		g->counters.balloon_commands++;
	} else if (g && strcmp(ev->name, "command_failed") == 0) {
		/* Not sent: the QMP client refused it. */
		g->counters.balloon_commands++;
		g->counters.balloon_command_errors++;
	} else if (g && strcmp(ev->name, "link") == 0) {
		if (json_object_object_get_ex(ev->data, "link", &v) &&
		    strcmp(json_object_get_string(v), "up") == 0)
			g->counters.link_ups++;
	} else if (strcmp(ev->name, "psi") == 0) {
		bd->counters.psi_events++;
	} else if (strcmp(ev->name, "pressure") == 0) {
		if (json_object_object_get_ex(ev->data, "reclaiming", &v) &&
		    json_object_get_boolean(v))
			bd->counters.reclaim_episodes++;
	}
}

/* The events event_cb counts. */
static const char *const counted_events[] = {
    "command", "command_failed", "link", "psi", "pressure", NULL};
/* Those it counts by their name alone: a burst's 1,000 commands need no
 * data built for the metrics. */
static const char *const dataless_events[] = {"command", NULL};

int bd_metrics_init(struct bd *bd)
{
	struct bd_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->sub.fn = event_cb;
	m->sub.names = counted_events;
	m->sub.dataless = dataless_events;
	bd->metrics = m;
	bd->counters.start_wall_us = bd_wall_us(bd);
	bd_events_subscribe(bd, &m->sub);
	return 0;
}

void bd_metrics_close(struct bd *bd)
{
	if (!bd->metrics)
		return;
	bd_events_unsubscribe(bd, &bd->metrics->sub);
	free(bd->metrics);
	bd->metrics = NULL;
}
