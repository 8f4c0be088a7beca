/*
 * registry.c: the guests balloond manages: their specs, validation,
 * bounds, Patroni roles, registration and how status shows them.
 */
#include "daemon.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "actuator.h"
#include "log.h"
#include "proto/proto.h"
#include "proto/units.h"

/* Below this a guest cannot run: QEMU accepts tiny targets and the guest
 * inflates until its kernel panics, in a loop, and a 64 MiB guest does
 * not even boot (HACKING.md, "Targets QEMU accepts"). */
#define MIN_GUEST_BYTES (64ULL << 20)
/* Above this a size is a typo, not a guest. */
#define MAX_GUEST_BYTES (16ULL << 40)

static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._-+:@", *s)))
			return false;
	return true;
}

static const char *check_size(const char *what, uint64_t v, char *msg,
			      size_t msg_len)
{
	char a[32], b[32];
	if (v == 0 || (v >= MIN_GUEST_BYTES && v <= MAX_GUEST_BYTES))
		return NULL;
	snprintf(msg, msg_len, "%s %s is outside [%s, %s]", what,
		 bd_format_size(v, a, sizeof(a)),
		 bd_format_size(MIN_GUEST_BYTES, b, sizeof(b)), "16 TiB");
	return BD_E_RANGE;
}

/* "min 2 GiB is above max 1 GiB": one wording for every bound. */
static const char *bound_error(char *msg, size_t msg_len, const char *what,
			       uint64_t v, const char *relation,
			       const char *bound_what, uint64_t bound)
{
	char a[32], b[32];
	snprintf(msg, msg_len, "%s %s is %s %s %s", what,
		 bd_format_size(v, a, sizeof(a)), relation, bound_what,
		 bd_format_size(bound, b, sizeof(b)));
	return BD_E_RANGE;
}

const char *bd_spec_check(struct bd *bd, const struct bd_guest_spec *s,
			  const struct bd_guest *replacing, char *msg,
			  size_t msg_len)
{
	const char *code;

	if (!valid_name(s->name)) {
		snprintf(msg, msg_len,
			 "guest name '%s' may only hold letters, "
			 "digits and . _ - + : @",
			 s->name);
		return BD_E_PARAMS;
	}
	if (s->qmp_path[0] != '/') {
		snprintf(msg, msg_len,
			 "QMP socket '%s' must be an absolute path",
			 s->qmp_path);
		return BD_E_PARAMS;
	}
	if ((code = check_size("max", s->max_bytes, msg, msg_len)) ||
	    (code = check_size("min", s->min_bytes, msg, msg_len)) ||
	    (code = check_size("replica target", s->replica_target_bytes, msg,
			       msg_len)))
		return code;
	if (s->max_bytes && s->min_bytes > s->max_bytes)
		return bound_error(msg, msg_len, "min", s->min_bytes, "above",
				   "max", s->max_bytes);
	if (s->max_bytes && s->replica_target_bytes > s->max_bytes)
		return bound_error(msg, msg_len, "replica target",
				   s->replica_target_bytes, "above", "max",
				   s->max_bytes);
	if (s->replica_target_bytes && s->replica_target_bytes < s->min_bytes)
		return bound_error(msg, msg_len, "replica target",
				   s->replica_target_bytes, "below", "min",
				   s->min_bytes);
	if (!s->cluster[0] != !s->member[0]) {
		snprintf(msg, msg_len,
			 "a Patroni guest needs both cluster and "
			 "member (--patroni CLUSTER/MEMBER)");
		return BD_E_PARAMS;
	}
	/* "[cluster NAME]": Debian's inih keeps 49 characters of a section
	 * name, so a longer cluster could never be configured. */
	if (strlen(s->cluster) > 41) {
		snprintf(msg, msg_len,
			 "Patroni cluster name '%s' is longer than 41 "
			 "characters, the most a [cluster NAME] section can "
			 "hold",
			 s->cluster);
		return BD_E_PARAMS;
	}
	if (s->cluster[0] &&
	    (!valid_name(s->cluster) || !valid_name(s->member))) {
		snprintf(msg, msg_len,
			 "Patroni cluster and member names may only "
			 "hold letters, digits and . _ - + : @");
		return BD_E_PARAMS;
	}
	bd_guest_foreach (g, bd) {
		if (g->removed || g == replacing)
			continue;
		if (strcmp(g->spec.name, s->name) == 0) {
			snprintf(msg, msg_len,
				 "a guest named '%s' is already "
				 "registered",
				 s->name);
			return BD_E_EXISTS;
		}
		if (strcmp(g->spec.qmp_path, s->qmp_path) == 0) {
			snprintf(msg, msg_len,
				 "QMP socket %s is already used by "
				 "guest '%s'",
				 s->qmp_path, g->spec.name);
			return BD_E_EXISTS;
		}
	}
	return NULL;
}

const char *bd_guest_set_bounds(struct bd_guest *g, uint64_t ram_bytes,
				char *msg, size_t msg_len)
{
	char a[32], b[32];
	const struct bd_guest_spec *s = &g->spec;
	uint64_t max = s->max_bytes ? s->max_bytes : ram_bytes;

	g->link.ram_bytes = ram_bytes;
	if (ram_bytes && max > ram_bytes) {
		/* QEMU ignores a target above RAM, so max cannot be above it.
		 */
		snprintf(msg, msg_len, "max %s is above the guest's RAM %s",
			 bd_format_size(max, a, sizeof(a)),
			 bd_format_size(ram_bytes, b, sizeof(b)));
		return BD_E_RANGE;
	}
	if (max && max < MIN_GUEST_BYTES) {
		snprintf(msg, msg_len, "the guest's RAM %s is below %s",
			 bd_format_size(max, a, sizeof(a)),
			 bd_format_size(MIN_GUEST_BYTES, b, sizeof(b)));
		return BD_E_RANGE;
	}
	uint64_t min = s->min_bytes		 ? s->min_bytes
		       : s->replica_target_bytes ? s->replica_target_bytes
						 : max;
	if (max && (min > max || s->replica_target_bytes > max)) {
		snprintf(msg, msg_len,
			 "min or replica target is above the "
			 "guest's max %s",
			 bd_format_size(max, a, sizeof(a)));
		return BD_E_RANGE;
	}
	g->max_bytes = max;
	g->min_bytes = min;
	return NULL;
}

/* ---- the name index: chained buckets, FNV-1a ---- */

static size_t name_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)h;
}

static void index_insert(struct bd *bd, struct bd_guest *g)
{
	size_t b = name_hash(g->spec.name) & (bd->index_size - 1);
	g->hnext = bd->index[b];
	bd->index[b] = g;
}

/* Room for one more guest: at most one per bucket on average. */
static int index_grow(struct bd *bd)
{
	if (bd->n_guests + 1 <= bd->index_size)
		return 0;
	size_t size = bd->index_size ? bd->index_size * 2 : 64;
	struct bd_guest **v = calloc(size, sizeof(*v));
	if (!v)
		return -ENOMEM;
	free(bd->index);
	bd->index = v;
	bd->index_size = size;
	bd_guest_foreach (g, bd)
		if (!g->removed)
			index_insert(bd, g);
	return 0;
}

static void index_remove(struct bd *bd, struct bd_guest *g)
{
	if (!bd->index_size)
		return;
	struct bd_guest **p =
	    &bd->index[name_hash(g->spec.name) & (bd->index_size - 1)];
	for (; *p; p = &(*p)->hnext)
		if (*p == g) {
			*p = g->hnext;
			return;
		}
}

struct bd_guest *bd_guest_find(struct bd *bd, const char *name)
{
	if (!bd->index_size)
		return NULL;
	struct bd_guest *g = bd->index[name_hash(name) & (bd->index_size - 1)];
	for (; g; g = g->hnext)
		if (!g->removed && strcmp(g->spec.name, name) == 0)
			return g;
	return NULL;
}

static void text_clear(struct bd_guest_text *t)
{
	free(t->heap);
	t->heap = NULL;
	t->buf[0] = '\0';
}

/* Out of memory for a long text, the previous text stays: a stale
 * explanation, never a missing guest. */
static void text_store(struct bd_guest_text *t, const char *buf, size_t n)
{
	if (n < sizeof(t->buf)) {
		text_clear(t);
		memcpy(t->buf, buf, n + 1);
		return;
	}
	char *h = realloc(t->heap, n + 1);
	if (!h)
		return;
	memcpy(h, buf, n + 1);
	t->heap = h;
}

static void text_set(struct bd_guest_text *t, const char *fmt, va_list ap)
{
	char buf[BD_GUEST_TEXT_MAX];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	text_store(t, buf, strlen(buf));
}

/* ---- the guest's timer ---- */

static void timer_cb(uv_timer_t *t);

static void timer_arm(struct bd_guest *g)
{
	uint64_t due = 0;
	if (g->link.retry_due_ms)
		due = g->link.retry_due_ms;
	if (g->act.retry_due_ms && (!due || g->act.retry_due_ms < due))
		due = g->act.retry_due_ms;
	if (!due) {
		uv_timer_stop(&g->timer);
		return;
	}
	uint64_t now = uv_now(g->bd->loop);
	uv_timer_start(&g->timer, timer_cb, due > now ? due - now : 0, 0);
}

static void timer_cb(uv_timer_t *t)
{
	struct bd_guest *g = t->data;
	uint64_t now = uv_now(g->bd->loop);
	if (g->link.retry_due_ms && g->link.retry_due_ms <= now) {
		g->link.retry_due_ms = 0;
		bd_link_retry_due(g);
	}
	if (g->act.retry_due_ms && g->act.retry_due_ms <= now) {
		g->act.retry_due_ms = 0;
		bd_exec_retry_due(g);
	}
	if (!g->removed)
		timer_arm(g);
}

void bd_guest_wake(struct bd_guest *g, uint64_t *due_ms, uint64_t delay_ms)
{
	/* The loop's time is never 0 (libuv counts from boot), so 0 stays
	 * "none". */
	*due_ms = delay_ms ? uv_now(g->bd->loop) + delay_ms : 0;
	if (!g->removed)
		timer_arm(g);
}

struct bd_guest *bd_guest_add(struct bd *bd, const struct bd_guest_spec *spec)
{
	if (index_grow(bd))
		return NULL;
	struct bd_guest *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->bd = bd;
	g->spec = *spec;
	g->role = spec->cluster[0] ? POLICY_ROLE_UNKNOWN : POLICY_ROLE_NONE;
	g->pushed_role = g->confirmed_role = POLICY_ROLE_UNKNOWN;
	g->why.reason = "waiting for the QMP link";
	g->act.ops = bd->actuator ? bd->actuator : bd_actuators[0];
	char msg[64];
	/* Bounds from the spec alone; refined when QEMU reports its RAM. */
	bd_guest_set_bounds(g, 0, msg, sizeof(msg));
	uv_timer_init(bd->loop, &g->timer);
	g->act.set_at_us = 0;
	g->timer.data = g;

	/* struct bd starts zeroed: the list is set up with its first guest. */
	if (!bd->guests.tqh_last)
		TAILQ_INIT(&bd->guests);
	TAILQ_INSERT_TAIL(&bd->guests, g, entry);
	bd->n_guests++;
	index_insert(bd, g);
	return g;
}

static void guest_free_if_closed(struct bd_guest *g)
{
	if (--g->closes_pending > 0)
		return;
	TAILQ_REMOVE(&g->bd->guests, g, entry);
	text_clear(&g->why.last_action);
	text_clear(&g->why.last_error);
	bd_link_drop_path(g);
	free(g);
}

static void guest_handle_closed(uv_handle_t *h)
{
	guest_free_if_closed(h->data);
}

static void guest_qmp_closed(qmp_client *c, void *data)
{
	guest_free_if_closed(data);
}

static void reg_timer_closed(uv_handle_t *h)
{
	free(h);
}

/* The deadline's timer exists only while a registration waits: a
 * thousand guests that are registered need none. Its close callback does
 * not touch the guest, so the guest need not wait for it. */
static void reg_timer_drop(struct bd_guest *g)
{
	if (!g->reg.timer)
		return;
	uv_close((uv_handle_t *)g->reg.timer, reg_timer_closed);
	g->reg.timer = NULL;
}

void bd_guest_remove(struct bd_guest *g)
{
	if (g->removed)
		return;
	g->removed = true;
	g->reg.ready_fn = NULL; /* its registration never completes */
	g->bd->n_guests--;
	index_remove(g->bd, g);
	bd_exec_forget(g);
	/* What it held is no longer the guests': the ARC cap (and the
	 * headroom the others share) may change. */
	bd_replan(g->bd);
	/* The struct stays on the list until every handle closed, so that
	 * callbacks still find it, but lookups skip it. */
	g->closes_pending = 2;
	uv_close((uv_handle_t *)&g->timer, guest_handle_closed);
	reg_timer_drop(g);
	if (g->link.qmp) {
		qmp_client *c = g->link.qmp;
		g->link.qmp = NULL;
		g->link.state = BD_LINK_DOWN;
		qmp_client_close(c, guest_qmp_closed, g);
	} else {
		guest_free_if_closed(g);
	}
}

/* ---- registration ---- */

static void registered(struct bd_guest *g, const char *code, const char *msg)
{
	bd_ready_fn fn = g->reg.ready_fn;
	g->reg.ready_fn = NULL;
	g->reg.registering = false;
	reg_timer_drop(g);
	if (fn)
		fn(g, g->reg.ready_arg, code, msg);
}

static void pending_timeout_cb(uv_timer_t *t)
{
	struct bd_guest *g = t->data;
	char msg[300];
	snprintf(msg, sizeof(msg),
		 "could not read the guest's RAM from %s in time (%s); is "
		 "QEMU running, and is the socket free?",
		 g->spec.qmp_path,
		 bd_guest_error(g)[0] ? bd_guest_error(g) : "no answer");
	registered(g, BD_E_UNAVAILABLE, msg);
}

void bd_guest_ready(struct bd_guest *g, const char *code, const char *msg)
{
	if (g->reg.ready_fn)
		registered(g, code, msg);
}

int bd_guest_start(struct bd_guest *g, bd_ready_fn ready_fn, void *arg,
		   uint64_t deadline_ms)
{
	if (deadline_ms && !g->reg.timer) {
		g->reg.timer = malloc(sizeof(*g->reg.timer));
		if (!g->reg.timer)
			return -ENOMEM;
		uv_timer_init(g->bd->loop, g->reg.timer);
		g->reg.timer->data = g;
	}
	g->reg.ready_fn = ready_fn;
	g->reg.ready_arg = arg;
	if (deadline_ms) {
		g->reg.registering = true;
		uv_timer_start(g->reg.timer, pending_timeout_cb, deadline_ms,
			       0);
	}
	int rc = bd_link_start(g);
	if (rc) {
		g->reg.ready_fn = NULL;
		g->reg.registering = false;
		reg_timer_drop(g);
	}
	return rc;
}

/* ---- Patroni roles ---- */

size_t bd_role_push(struct bd *bd, const char *cluster, const char *member,
		    const char *role_word, json_object *names)
{
	enum policy_role pr = policy_role_parse(role_word);
	int64_t now = bd_mono_us(bd);
	size_t n = 0;
	json_object *list = json_object_new_array();
	bd_guest_foreach (g, bd) {
		if (g->removed || strcmp(g->spec.cluster, cluster) != 0)
			continue;
		if (strcmp(g->spec.member, member) == 0) {
			if (g->role != pr)
				g->role_changed_us = now;
			g->role = pr;
			g->pushed_role = pr;
			g->pushed_us = now;
			bd_guest_note(g, "Patroni role: %s", role_word);
			json_object_array_add(
			    list, json_object_new_string(g->spec.name));
			if (names)
				json_object_array_add(
				    names,
				    json_object_new_string(g->spec.name));
			n++;
		} else if (pr == POLICY_ROLE_LEADER &&
			   g->role == POLICY_ROLE_LEADER) {
			/* One leader per cluster: the old one is no longer
			 * known to be anything (it stays at max until Patroni
			 * confirms it a replica). */
			g->role = POLICY_ROLE_UNKNOWN;
			g->role_changed_us = now;
			if (g->pushed_role == POLICY_ROLE_LEADER) {
				g->pushed_role = POLICY_ROLE_UNKNOWN;
				g->pushed_us = now;
			}
		}
	}
	json_object *ev = json_object_new_object();
	json_object_object_add(ev, "cluster", json_object_new_string(cluster));
	json_object_object_add(ev, "member", json_object_new_string(member));
	json_object_object_add(ev, "role", json_object_new_string(role_word));
	json_object_object_add(ev, "guests", list);
	bd_emit(bd, "role", NULL, ev);
	if (n)
		bd_replan(bd);
	return n;
}

void bd_guest_note(struct bd_guest *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	text_set(&g->why.last_action, fmt, ap);
	va_end(ap);
	g->why.last_action_us = bd_wall_us(g->bd);
}

void bd_guest_note_cat(struct bd_guest *g, const char *piece, ...)
{
	char buf[BD_GUEST_TEXT_MAX];
	size_t n = 0;
	va_list ap;
	va_start(ap, piece);
	for (const char *p = piece; p; p = va_arg(ap, const char *)) {
		size_t k = strlen(p);
		if (k > sizeof(buf) - 1 - n)
			k = sizeof(buf) - 1 - n; /* truncated, as vsnprintf */
		memcpy(buf + n, p, k);
		n += k;
	}
	va_end(ap);
	buf[n] = '\0';
	text_store(&g->why.last_action, buf, n);
	g->why.last_action_us = bd_wall_us(g->bd);
}

void bd_guest_set_error(struct bd_guest *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	text_set(&g->why.last_error, fmt, ap);
	va_end(ap);
}

void bd_guest_clear_error(struct bd_guest *g)
{
	text_clear(&g->why.last_error);
}

json_object *bd_guest_status(const struct bd_guest *g)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(g->spec.name));
	json_object_object_add(o, "qmp",
			       json_object_new_string(g->spec.qmp_path));
	bd_json_add_u64(o, "max_bytes", g->max_bytes);
	bd_json_add_u64(o, "min_bytes", g->min_bytes);
	if (g->spec.replica_target_bytes)
		bd_json_add_u64(o, "replica_target_bytes",
				g->spec.replica_target_bytes);
	bd_json_add_u64(o, "target_bytes",
			g->act.want_bytes	? g->act.want_bytes
			: g->act.inflight_bytes ? g->act.inflight_bytes
						: g->link.set_bytes);
	json_object_object_add(
	    o, "actual_bytes",
	    g->link.actual_known
		? json_object_new_int64((int64_t)g->link.actual_bytes)
		: NULL);
	if (g->link.ram_bytes)
		bd_json_add_u64(o, "ram_bytes", g->link.ram_bytes);
	if (g->spec.pin_bytes)
		bd_json_add_u64(o, "pin_bytes", g->spec.pin_bytes);
	json_object_object_add(
	    o, "role", json_object_new_string(policy_role_name(g->role)));
	if (g->role_changed_us)
		json_object_object_add(
		    o, "role_age_ms",
		    json_object_new_int64(
			(bd_mono_us(g->bd) - g->role_changed_us) / 1000));
	if (g->spec.cluster[0]) {
		json_object_object_add(o, "cluster",
				       json_object_new_string(g->spec.cluster));
		json_object_object_add(o, "member",
				       json_object_new_string(g->spec.member));
	}
	json_object_object_add(o, "priority",
			       json_object_new_int(g->spec.priority));
	json_object_object_add(
	    o, "link", json_object_new_string(bd_link_up(g) ? "up" : "down"));
	json_object_object_add(o, "reason",
			       json_object_new_string(g->why.reason));
	if (g->why.starving)
		json_object_object_add(o, "starving",
				       json_object_new_boolean(true));
	if (g->link.deflated)
		json_object_object_add(o, "deflated",
				       json_object_new_boolean(true));
	bd_json_add_u64(o, "foreign_moves", g->link.foreign_moves);
	if (g->why.over_free)
		json_object_object_add(
		    o, "warning",
		    json_object_new_string("the pin takes more than the guest "
					   "reports available"));
	json_object_object_add(
	    o, "last_action",
	    json_object_new_string(bd_guest_text(&g->why.last_action)));
	if (g->why.last_action_us)
		json_object_object_add(
		    o, "last_action_us",
		    json_object_new_int64(g->why.last_action_us));
	if (bd_guest_error(g)[0])
		json_object_object_add(
		    o, "last_error", json_object_new_string(bd_guest_error(g)));
	if (g->stats.known && g->stats.last.last_update > 0) {
		json_object *st = json_object_new_object();
		if (g->stats.last.free_bytes != UINT64_MAX)
			bd_json_add_u64(st, "free_bytes",
					g->stats.last.free_bytes);
		if (g->stats.last.available_bytes != UINT64_MAX)
			bd_json_add_u64(st, "available_bytes",
					g->stats.last.available_bytes);
		if (g->stats.last.caches_bytes != UINT64_MAX)
			bd_json_add_u64(st, "caches_bytes",
					g->stats.last.caches_bytes);
		if (g->stats.last.total_bytes != UINT64_MAX)
			bd_json_add_u64(st, "total_bytes",
					g->stats.last.total_bytes);
		json_object_object_add(
		    st, "last_update",
		    json_object_new_int64(g->stats.last.last_update));
		json_object_object_add(o, "guest_stats", st);
	}
	/* Its reserve as the policy takes it, and its right-sizing history
	 * (peaks.h), for balloonctl doctor and people. */
	struct policy_config pc = bd_plan_config(g->bd);
	struct policy_guest pg = {.max_bytes = g->max_bytes};
	bd_json_add_u64(o, "reserve_bytes", policy_guest_reserve(&pc, &pg));
	int64_t today = bd_peaks_day(bd_wall_us(g->bd));
	struct bd_peaks_summary ps = bd_peaks_summary(&g->peaks, today);
	if (ps.days)
		bd_json_add_u64(o, "used_peak_bytes", ps.max_bytes);
	json_object_object_add(o, "daily_used_peaks",
			       bd_peaks_to_json(&g->peaks, today));
	return o;
}
