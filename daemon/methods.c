/*
 * methods.c: what each control request does. Requests from the spool
 * (conn_id 0) go through the same code; their replies are only logged.
 */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "actuator.h"
#include "log.h"
#include "metrics.h"
#include "proto/jsonprint.h"
#include "proto/proto.h"
#include "proto/units.h"

struct req {
	struct bd *bd;
	struct bd_reply_to to;
	int64_t id;
	int method;
	json_object *params;
	char msg[512];
};

/* Every reply to a request goes out here (the control socket counts it,
 * by to.method, once its result is final). */
static void send_reply(struct bd *bd, int method, struct bd_reply_to to,
		       json_object *msg, uint64_t persist_gen)
{
	to.method = method;
	bd_control_reply(bd, to, msg, persist_gen);
}

static void reply(struct req *r, json_object *result)
{
	send_reply(r->bd, r->method, r->to, bd_reply_new(r->id, result), 0);
}

/* A reply to a change goes out once the change (state generation gen)
 * is on disk. */
static void reply_persisted(struct req *r, json_object *result, uint64_t gen)
{
	send_reply(r->bd, r->method, r->to, bd_reply_new(r->id, result), gen);
}

/* A successful reply already printed (taken), once gen is on disk. */
static void send_reply_text(struct req *r, char *text, size_t len, uint64_t gen)
{
	struct bd_reply_to to = r->to;
	to.method = r->method;
	bd_control_reply_text(r->bd, to, text, len, gen);
}

static void fail(struct req *r, const char *code)
{
	send_reply(r->bd, r->method, r->to, bd_error_new(r->id, code, r->msg),
		   0);
}

/* The guest a request names, or NULL after replying not-found. */
static struct bd_guest *named_guest(struct req *r)
{
	const char *name = NULL;
	int rc =
	    bd_param_string(r->params, "name", &name, r->msg, sizeof(r->msg));
	if (rc) {
		if (rc == -ENOENT)
			snprintf(r->msg, sizeof(r->msg),
				 "\"name\" is required");
		fail(r, BD_E_PARAMS);
		return NULL;
	}
	struct bd_guest *g = bd_guest_find(r->bd, name);
	if (g && g->reg.registering && r->method != BD_M_UNREGISTER) {
		snprintf(r->msg, sizeof(r->msg),
			 "%s: its registration is still in progress",
			 g->spec.name);
		fail(r, BD_E_UNAVAILABLE);
		return NULL;
	}
	if (!g) {
		snprintf(r->msg, sizeof(r->msg),
			 "no guest named '%.64s' is "
			 "registered",
			 name);
		/* For an unregister, "not registered" is a state on disk: a
		 * removal of the same name may still be on its way there. */
		bd_control_reply(
		    r->bd, r->to, bd_error_new(r->id, BD_E_NOT_FOUND, r->msg),
		    r->method == BD_M_UNREGISTER ? bd_state_sync(r->bd) : 0);
	}
	return g;
}

static json_object *guest_ref(const struct bd_guest *g)
{
	json_object *o = json_object_new_object();
	bd_json_add_new(o, "guest", json_object_new_string(g->spec.name));
	return o;
}

/* ---- register / unregister ---- */

static void emit_registered(struct bd_guest *g)
{
	json_object *ev = bd_spec_to_json(&g->spec);
	json_object_object_add(ev, "max_bytes",
			       json_object_new_int64((int64_t)g->max_bytes));
	json_object_object_add(ev, "min_bytes",
			       json_object_new_int64((int64_t)g->min_bytes));
	bd_emit(g->bd, "register", g, ev);
	bd_notice("registered %s (QMP %s)", g->spec.name, g->spec.qmp_path);
}

/* A register request from a client, waiting for its guest's link: where
 * its reply goes. One per registering guest, on bd->registrations. */
struct bd_registration {
	struct bd_guest *g;
	struct bd_reply_to to;
	int64_t id;
	LIST_ENTRY(bd_registration) entry;
};

/* A register request from a client: its reply waits until QEMU told the
 * guest's RAM (it bounds max, and is max when none was given), or fails
 * at the deadline, and the guest is dropped. */
static void client_register_done(struct bd_guest *g, void *arg,
				 const char *code, const char *msg)
{
	struct bd *bd = g->bd;
	struct bd_registration *reg = arg;
	struct bd_reply_to to = reg->to;
	int64_t id = reg->id;
	LIST_REMOVE(reg, entry);
	free(reg);
	if (code) {
		bd_warn("register %s failed: %s", g->spec.name, msg);
		send_reply(bd, BD_M_REGISTER, to, bd_error_new(id, code, msg),
			   0);
		bd_guest_remove(g);
		return;
	}
	emit_registered(g);
	uint64_t gen = bd_state_put(bd, &g->spec);
	send_reply(bd, BD_M_REGISTER, to, bd_reply_new(id, bd_guest_status(g)),
		   gen);
}

/* A registration from the spool (a hook's, made while the daemon was
 * down), a hook's that does not wait ("wait": false), or one restored from
 * disk has nobody waiting for QEMU: it is kept and persisted at once, and
 * its link keeps trying with backoff for as long as it takes; status says
 * why it is not managed yet. */
static void kept_register_done(struct bd_guest *g, void *arg, const char *code,
			       const char *msg)
{
	if (code) {
		bd_guest_set_error(g, "%s", msg);
		bd_warn("%s: %s", g->spec.name, msg);
	}
}

/* Two registrations of one guest ask the same (a pin is not asked for). */
static bool same_spec(const struct bd_guest_spec *a,
		      const struct bd_guest_spec *b)
{
	return strcmp(a->name, b->name) == 0 &&
	       strcmp(a->qmp_path, b->qmp_path) == 0 &&
	       a->max_bytes == b->max_bytes && a->min_bytes == b->min_bytes &&
	       a->replica_target_bytes == b->replica_target_bytes &&
	       strcmp(a->cluster, b->cluster) == 0 &&
	       strcmp(a->member, b->member) == 0 && a->priority == b->priority;
}

/* A boolean param, *val if absent. */
static int bool_param(struct req *r, const char *key, bool *val)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(r->params, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		snprintf(r->msg, sizeof(r->msg), "\"%s\" must be a boolean",
			 key);
		return -EINVAL;
	}
	*val = json_object_get_boolean(v);
	return 0;
}

static void m_register(struct req *r)
{
	struct bd_guest_spec spec;
	const char *code;
	struct stat st;
	/* "wait": false, for hooks that must not wait for QEMU: the libvirt
	 * hook registers at "started" and again at "reconnect". "hook": true,
	 * what balloond's hooks send, says that the registration is of a
	 * guest that is starting, and made again at each of its starts (see
	 * bd_state_put_running). */
	bool wait = true, hook = false;

	if (bd_spec_parse(r->params, &spec, r->msg, sizeof(r->msg)) ||
	    bool_param(r, "wait", &wait) || bool_param(r, "hook", &hook)) {
		fail(r, BD_E_PARAMS);
		return;
	}
	spec.pin_bytes = 0; /* a pin comes from `set`, not from register */
	/* Kept at once: from the spool, or from a hook that does not wait.
	 * Such a registration of a guest already registered replaces it (a
	 * hook runs again at libvirtd's reconnect); the same one is a no-op. */
	bool kept = r->to.conn == 0 || !wait;
	bool hooks = kept && hook && r->to.conn; /* a hook's, not the spool's */
	struct bd_guest *old = kept ? bd_guest_find(r->bd, spec.name) : NULL;
	if (old && old->reg.registering)
		old =
		    NULL; /* a client is waiting on it: "already registered" */
	if ((code = bd_spec_check(r->bd, &spec, old, r->msg, sizeof(r->msg)))) {
		fail(r, code);
		return;
	}
	if (old && same_spec(&old->spec, &spec)) {
		/* Nothing changes, but the reply says the guest is registered:
		 * not before the first registration is saved (its write may
		 * still be under way), and flushed unless this one is a
		 * hook's too. */
		reply_persisted(r, bd_guest_status(old),
				hooks ? bd_state_pending(r->bd)
				      : bd_state_sync(r->bd));
		return;
	}
	/* A hook that does not wait runs while QEMU starts: its socket may
	 * not exist yet. */
	if (!kept && stat(spec.qmp_path, &st) < 0) {
		snprintf(r->msg, sizeof(r->msg), "QMP socket %s: %s%s",
			 spec.qmp_path, strerror(errno),
			 errno == ENOENT ? " (is QEMU running with -qmp "
					   "unix:PATH,server=on,wait=off?)"
					 : "");
		fail(r, BD_E_PARAMS);
		return;
	}
	if (!kept && !S_ISSOCK(st.st_mode)) {
		snprintf(r->msg, sizeof(r->msg), "%s is not a socket",
			 spec.qmp_path);
		fail(r, BD_E_PARAMS);
		return;
	}
	/* The same guest with other settings keeps its history. */
	struct bd_peaks peaks = old ? old->peaks : (struct bd_peaks){0};
	if (old) {
		bd_notice("%s: registered again with other settings: "
			  "replacing its registration",
			  spec.name);
		bd_guest_remove(old);
	}
	struct bd_guest *g = bd_guest_add(r->bd, &spec);
	if (g)
		g->peaks = peaks;
	if (!g) {
		snprintf(r->msg, sizeof(r->msg), "out of memory");
		fail(r, BD_E_INTERNAL);
		return;
	}
	int rc;
	uint64_t gen = 0;
	struct bd_registration *reg = NULL;
	if (kept) {
		emit_registered(g);
		gen = hooks ? bd_state_put_running(r->bd, &g->spec)
			    : bd_state_put(r->bd, &g->spec);
		rc = bd_guest_start(g, kept_register_done, NULL, 0);
	} else if (!(reg = calloc(1, sizeof(*reg)))) {
		rc = -ENOMEM;
	} else {
		*reg =
		    (struct bd_registration){.g = g, .to = r->to, .id = r->id};
		LIST_INSERT_HEAD(&r->bd->registrations, reg, entry);
		uint64_t wait_ms = r->bd->conf.qmp_greeting_timeout_ms +
				   2 * r->bd->conf.qmp_command_timeout_ms;
		rc = bd_guest_start(g, client_register_done, reg, wait_ms);
		if (rc) {
			LIST_REMOVE(reg, entry);
			free(reg);
		}
	}
	if (rc) {
		snprintf(r->msg, sizeof(r->msg), "QMP %s: %s", spec.qmp_path,
			 qmp_strerror(rc));
		if (kept)
			bd_state_del(r->bd, g->spec.name);
		bd_guest_remove(g);
		fail(r, BD_E_PARAMS);
		return;
	}
	if (kept)
		reply_persisted(r, bd_guest_status(g), gen);
}

static void m_unregister(struct req *r)
{
	uint64_t gen = 0;
	struct bd_guest *g = named_guest(r);
	if (!g)
		return;
	if (g->reg.registering) {
		bd_guest_ready(g, BD_E_NOT_FOUND,
			       "unregistered before its registration "
			       "completed");
		/* Never on disk itself; but the reply says the name is not
		 * registered, which an earlier removal still being written
		 * makes true on disk only once it is there. */
		gen = bd_state_sync(r->bd);
	} else {
		gen = bd_state_del(r->bd, g->spec.name);
		/* Give the memory back before letting go (best effort: the
		 * command is written at once, its answer is not awaited). */
		if (bd_link_up(g) && g->max_bytes && !r->bd->conf.dry_run &&
		    (g->link.set_bytes != g->max_bytes ||
		     g->link.actual_bytes != g->max_bytes)) {
			int rc = g->act.ops->set(g, g->max_bytes, NULL);
			if (rc)
				bd_warn("%s: could not give its memory back "
					"before letting go: %s",
					g->spec.name, g->act.ops->strerror(rc));
		}
		bd_emit(r->bd, "unregister", g, NULL);
		bd_notice("unregistered %s", g->spec.name);
		bd_guest_remove(g);
	}
	reply_persisted(r, NULL, gen);
}

/* ---- status ---- */

static void add_i64(json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

/* The host as the host-memory source and the policy see it. */
static json_object *host_status(const struct bd *bd)
{
	const struct policy_host *h = &bd->host;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "known", json_object_new_boolean(h->known));
	if (h->known) {
		add_i64(o, "mem_total_bytes", (int64_t)h->mem_total_bytes);
		add_i64(o, "mem_available_bytes",
			(int64_t)h->mem_available_bytes);
		add_i64(o, "headroom_bytes", bd->headroom_bytes);
		json_object_object_add(o, "reclaiming",
				       json_object_new_boolean(h->reclaiming));
		json_object_object_add(
		    o, "psi_some_avg10",
		    json_object_new_double(h->psi_some_avg10_x100 / 100.0));
		json_object_object_add(
		    o, "psi_full_avg10",
		    json_object_new_double(h->psi_full_avg10_x100 / 100.0));
		add_i64(o, "read_age_ms",
			(bd_mono_us(bd) - bd->host_read_us) / 1000);
	}
	json_object_object_add(o, "psi_trigger",
			       json_object_new_boolean(bd->psi_trigger_armed));
	if (h->arc_present) {
		json_object *arc = json_object_new_object();
		add_i64(arc, "size_bytes", (int64_t)h->arc_size_bytes);
		add_i64(arc, "c_min_bytes", (int64_t)h->arc_c_min_bytes);
		add_i64(arc, "c_max_bytes", (int64_t)h->arc_c_max_bytes);
		if (h->arc_max_set_bytes)
			add_i64(arc, "arc_max_set_bytes",
				(int64_t)h->arc_max_set_bytes);
		json_object_object_add(
		    arc, "managed",
		    json_object_new_boolean(bd->conf.arc_manage &&
					    !bd->arc_disabled));
		json_object_object_add(o, "arc", arc);
	}
	if (bd->host_error[0])
		json_object_object_add(o, "error",
				       json_object_new_string(bd->host_error));
	if (bd->arc_error[0])
		json_object_object_add(o, "arc_error",
				       json_object_new_string(bd->arc_error));
	return o;
}

static void m_status(struct req *r)
{
	struct bd *bd = r->bd;
	json_object *guests = json_object_new_array();
	unsigned up = 0;
	bd_guest_foreach (g, bd) {
		if (g->removed || g->reg.registering)
			continue;
		up += bd_link_up(g);
		json_object_array_add(guests, bd_guest_status(g));
	}
	json_object *d = json_object_new_object();
	json_object_object_add(d, "version",
			       json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(d, "pid", json_object_new_int(getpid()));
	json_object_object_add(d, "dry_run",
			       json_object_new_boolean(bd->conf.dry_run));
	json_object_object_add(
	    d, "guests",
	    json_object_new_int64((int64_t)json_object_array_length(guests)));
	json_object_object_add(d, "links_up", json_object_new_int64(up));
	json_object_object_add(d, "control_socket",
			       json_object_new_string(bd->conf.control_socket));
	json_object_object_add(d, "state_dir",
			       json_object_new_string(bd->conf.state_dir));
	json_object *res = json_object_new_object();
	json_object_object_add(res, "guests", guests);
	json_object_object_add(res, "daemon", d);
	json_object_object_add(res, "host", host_status(bd));
	json_object_object_add(res, "listener", bd_listener_status(bd));
	json_object_object_add(res, "clusters", bd_rest_status(bd));
	/* The policy's settings as balloond.conf gives them (0: derived from
	 * the host's size), for balloonctl doctor's sanity checks. */
	json_object *cf = json_object_new_object();
	add_i64(cf, "guest_reserve_bytes",
		(int64_t)bd->conf.guest_reserve_bytes);
	add_i64(cf, "guest_reserve_pct", (int64_t)bd->conf.guest_reserve_pct);
	add_i64(cf, "host_reserve_bytes", (int64_t)bd->conf.host_reserve_bytes);
	add_i64(cf, "low_watermark_bytes",
		(int64_t)bd->conf.low_watermark_bytes);
	add_i64(cf, "high_watermark_bytes",
		(int64_t)bd->conf.high_watermark_bytes);
	add_i64(cf, "critical_watermark_bytes",
		(int64_t)bd->conf.critical_watermark_bytes);
	json_object_object_add(res, "config", cf);
	reply(r, res);
}

/* ---- set / release ---- */

static void m_set(struct req *r)
{
	char a[32], b[32];
	uint64_t bytes;
	struct bd_guest *g = named_guest(r);
	if (!g)
		return;
	int rc =
	    bd_param_u64(r->params, "bytes", &bytes, r->msg, sizeof(r->msg));
	if (rc) {
		if (rc == -ENOENT)
			snprintf(r->msg, sizeof(r->msg),
				 "\"bytes\" is required");
		fail(r, BD_E_PARAMS);
		return;
	}
	if (!g->max_bytes) {
		snprintf(r->msg, sizeof(r->msg),
			 "%s: its bounds are not known "
			 "yet (no QMP link so far)",
			 g->spec.name);
		fail(r, BD_E_UNAVAILABLE);
		return;
	}
	if (bytes < g->min_bytes || bytes > g->max_bytes) {
		bool low = bytes < g->min_bytes;
		snprintf(r->msg, sizeof(r->msg), "%s is %s %s's %s %s",
			 bd_format_size(bytes, a, sizeof(a)),
			 low ? "below" : "above", g->spec.name,
			 low ? "min" : "max",
			 bd_format_size(low ? g->min_bytes : g->max_bytes, b,
					sizeof(b)));
		fail(r, BD_E_RANGE);
		return;
	}
	g->spec.pin_bytes = bytes;
	bd_guest_note_cat(g, "pinned to ", bd_format_size(bytes, a, sizeof(a)),
			  NULL);
	if (bd_event_wanted(r->bd, "pin")) {
		json_object *ev = guest_ref(g);
		json_object_object_add(ev, "pin_bytes",
				       json_object_new_int64((int64_t)bytes));
		bd_emit(r->bd, "pin", g, ev);
	}
	bd_replan(r->bd);
	/* Say so when the pin is stored but the policy will not follow it
	 * (a guest that may be the Patroni leader stays at max). */
	struct policy_decision d = bd_plan_decide(g);
	bool warn = d.target_bytes && d.target_bytes != bytes;
	uint64_t gen = bd_state_put(r->bd, &g->spec);
	size_t len;
	char *text =
	    warn ? NULL : bd_pin_reply_text(r->id, g->spec.name, bytes, &len);
	if (text) {
		send_reply_text(r, text, len, gen);
		return;
	}
	json_object *res = guest_ref(g);
	bd_json_add_new(res, "pin_bytes",
			json_object_new_int64((int64_t)bytes));
	if (warn) {
		char w[256], t[32];
		snprintf(
		    w, sizeof(w), "pin stored, but the target stays %s: %s",
		    bd_format_size(d.target_bytes, t, sizeof(t)), d.reason);
		json_object_object_add(res, "warning",
				       json_object_new_string(w));
	}
	reply_persisted(r, res, gen);
}

static void m_release(struct req *r)
{
	struct bd_guest *g = named_guest(r);
	if (!g)
		return;
	g->spec.pin_bytes = 0;
	bd_guest_note(g, "pin released");
	bd_emit(r->bd, "release", g, NULL);
	bd_replan(r->bd);
	reply_persisted(r, guest_ref(g), bd_state_put(r->bd, &g->spec));
}

/* ---- role ---- */

/* A role with "wait_ms" for a leader (Patroni's pre_promote): the reply
 * waits until the member's guests have their balloons' actual at max, or
 * the time is up. QEMU rate-limits BALLOON_CHANGE to one a second, so
 * actual is asked for on a short tick rather than awaited; the reply
 * goes as soon as an answer (or an event) shows max, and at once when
 * the guests are there already. */
#define ROLE_WAIT_TICK_MS 20
#define ROLE_WAIT_MAX_MS  60000

struct bd_role_wait {
	struct bd *bd;
	struct bd_reply_to to;
	int64_t id;
	uv_timer_t tick;
	int64_t start_us, deadline_us;
	json_object *result; /* the reply's, owned until sent */
	json_object *names;  /* the member's guests (borrowed from result) */
	LIST_ENTRY(bd_role_wait) entry;
};

static bool guest_at_max(const struct bd_guest *g)
{
	uint64_t tol = g->bd->conf.move_tolerance_bytes;
	return g->link.actual_known && g->max_bytes &&
	       g->link.actual_bytes + tol >= g->max_bytes;
}

/* Every guest still registered at max? With ask, asks the others for
 * actual. */
static bool role_wait_done(struct bd_role_wait *w, bool ask)
{
	bool done = true;
	size_t n = json_object_array_length(w->names);
	for (size_t i = 0; i < n; i++) {
		struct bd_guest *g = bd_guest_find(
		    w->bd, json_object_get_string(
			       json_object_array_get_idx(w->names, i)));
		if (!g || guest_at_max(g))
			continue;
		done = false;
		if (!ask)
			break;
		bd_link_query(g);
	}
	return done;
}

static void role_wait_closed(uv_handle_t *h)
{
	free(h->data);
}

static void role_wait_finish(struct bd_role_wait *w, bool at_max)
{
	struct bd *bd = w->bd;
	LIST_REMOVE(w, entry);
	int64_t waited_ms = (bd_mono_us(bd) - w->start_us) / 1000;
	json_object_object_add(w->result, "at_max",
			       json_object_new_boolean(at_max));
	json_object_object_add(w->result, "waited_ms",
			       json_object_new_int64(waited_ms));
	if (!at_max)
		bd_warn("role: %s not at max after %lld ms",
			json_object_to_json_string_ext(w->names,
						       JSON_C_TO_STRING_PLAIN),
			(long long)waited_ms);
	send_reply(bd, BD_M_ROLE, w->to, bd_reply_new(w->id, w->result), 0);
	uv_close((uv_handle_t *)&w->tick, role_wait_closed);
}

static void role_wait_tick(uv_timer_t *t)
{
	struct bd_role_wait *w = t->data;
	if (role_wait_done(w, true))
		role_wait_finish(w, true);
	else if (bd_mono_us(w->bd) >= w->deadline_us)
		role_wait_finish(w, false);
}

void bd_methods_moved(struct bd_guest *g)
{
	struct bd_role_wait *w, *next;
	if (!guest_at_max(g))
		return;
	for (w = LIST_FIRST(&g->bd->role_waits); w; w = next) {
		next = LIST_NEXT(w, entry);
		if (role_wait_done(w, false))
			role_wait_finish(w, true);
	}
}

void bd_methods_close(struct bd *bd)
{
	struct bd_role_wait *w;
	while ((w = LIST_FIRST(&bd->role_waits)))
		role_wait_finish(w, role_wait_done(w, false));
	/* A removed guest's registration never gets its outcome. */
	struct bd_registration *reg, *next;
	for (reg = LIST_FIRST(&bd->registrations); reg; reg = next) {
		next = LIST_NEXT(reg, entry);
		if (reg->g->removed) {
			LIST_REMOVE(reg, entry);
			free(reg);
		}
	}
}

static void m_role(struct req *r)
{
	const char *cluster = NULL, *member = NULL, *role = NULL;
	int64_t wait_ms = 0;
	if (bd_param_string(r->params, "cluster", &cluster, r->msg,
			    sizeof(r->msg)) ||
	    bd_param_string(r->params, "member", &member, r->msg,
			    sizeof(r->msg)) ||
	    bd_param_string(r->params, "role", &role, r->msg, sizeof(r->msg))) {
		snprintf(r->msg, sizeof(r->msg),
			 "\"cluster\", \"member\" and "
			 "\"role\" are required strings");
		fail(r, BD_E_PARAMS);
		return;
	}
	int rc = bd_param_i64(r->params, "wait_ms", &wait_ms, r->msg,
			      sizeof(r->msg));
	if ((rc && rc != -ENOENT) || wait_ms < 0 ||
	    wait_ms > ROLE_WAIT_MAX_MS) {
		snprintf(r->msg, sizeof(r->msg),
			 "\"wait_ms\" must be an integer within [0, %d]",
			 ROLE_WAIT_MAX_MS);
		fail(r, BD_E_PARAMS);
		return;
	}
	json_object *names = json_object_new_array();
	if (bd_role_push(r->bd, cluster, member, role, names) == 0) {
		json_object_put(names);
		snprintf(r->msg, sizeof(r->msg),
			 "no registered guest is member '%.64s' of cluster "
			 "'%.64s'",
			 member, cluster);
		fail(r, BD_E_NOT_FOUND);
		return;
	}
	enum policy_role pr = policy_role_parse(role);
	json_object *res = json_object_new_object();
	json_object_object_add(res, "guests", names);
	json_object_object_add(res, "role",
			       json_object_new_string(policy_role_name(pr)));
	struct bd_role_wait *w = NULL;
	if (wait_ms > 0 && pr == POLICY_ROLE_LEADER && r->to.conn &&
	    (w = calloc(1, sizeof(*w)))) {
		*w = (struct bd_role_wait){
		    .bd = r->bd,
		    .to = r->to,
		    .id = r->id,
		    .start_us = bd_mono_us(r->bd),
		    .deadline_us = bd_mono_us(r->bd) + wait_ms * 1000,
		    .result = res,
		    .names = names,
		};
		LIST_INSERT_HEAD(&r->bd->role_waits, w, entry);
		uv_timer_init(r->bd->loop, &w->tick);
		w->tick.data = w;
		uv_timer_start(&w->tick, role_wait_tick, ROLE_WAIT_TICK_MS,
			       ROLE_WAIT_TICK_MS);
		/* A new leader that is at max already (a push repeated, a
		 * leader restarting) is answered now. Else the grow is
		 * planned at the end of this loop turn, and the guest's
		 * reports or the ticks' questions tell when it is there. */
		if (role_wait_done(w, true))
			role_wait_finish(w, true);
		return;
	}
	reply(r, res);
}

/* ---- qmp passthrough ---- */

/* Through the daemon, anyone allowed on the control socket may look, not
 * touch: only commands that read. `quit`, `stop`, `system_reset`,
 * `qom-set`, `balloon` and the rest would change a guest behind
 * balloond's back. Exact names, plus every query-* (QEMU's queries only
 * read). */
static const char *const qmp_read_only[] = {
    "qom-get",
    "qom-list",
    "qom-list-properties",
    "qom-list-types",
    "device-list-properties",
};

static bool qmp_allowed(const char *command)
{
	if (strncmp(command, "query-", 6) == 0 && command[6])
		return true;
	for (size_t i = 0; i < sizeof(qmp_read_only) / sizeof(*qmp_read_only);
	     i++)
		if (strcmp(command, qmp_read_only[i]) == 0)
			return true;
	return false;
}

struct qmp_pass {
	struct bd *bd;
	struct bd_reply_to to;
	int64_t id;
};

static void qmp_pass_cb(qmp_client *c, const struct qmp_reply *rep, void *data)
{
	struct qmp_pass *p = data;
	json_object *msg;
	if (rep->err == QMP_ERR_COMMAND || rep->err == QMP_ERR_NO_BALLOON) {
		char text[512];
		snprintf(text, sizeof(text), "%s: %s", rep->error_class,
			 rep->error_desc);
		msg = bd_error_new(p->id, BD_E_QMP, text);
		json_object *e;
		json_object_object_get_ex(msg, "error", &e);
		json_object_object_add(
		    e, "qmp_class", json_object_new_string(rep->error_class));
		json_object_object_add(e, "qmp_desc",
				       json_object_new_string(rep->error_desc));
	} else if (rep->err) {
		msg = bd_error_new(p->id, BD_E_UNAVAILABLE,
				   qmp_strerror(rep->err));
	} else {
		json_object *res = json_object_new_object();
		json_object_object_add(res, "return",
				       json_object_get(rep->ret));
		msg = bd_reply_new(p->id, res);
	}
	send_reply(p->bd, BD_M_QMP, p->to, msg, 0);
	free(p);
}

static void m_qmp(struct req *r)
{
	const char *command = NULL;
	json_object *args = NULL;
	struct bd_guest *g = named_guest(r);
	if (!g)
		return;
	if (bd_param_string(r->params, "command", &command, r->msg,
			    sizeof(r->msg))) {
		snprintf(r->msg, sizeof(r->msg), "\"command\" is required");
		fail(r, BD_E_PARAMS);
		return;
	}
	json_object_object_get_ex(r->params, "arguments", &args);
	if (args && !json_object_is_type(args, json_type_object)) {
		snprintf(r->msg, sizeof(r->msg),
			 "\"arguments\" must be an object");
		fail(r, BD_E_PARAMS);
		return;
	}
	if (!qmp_allowed(command)) {
		snprintf(r->msg, sizeof(r->msg),
			 "'%.64s' is not passed through: through balloond "
			 "only read-only commands run (query-*, qom-get, "
			 "qom-list, qom-list-properties, qom-list-types, "
			 "device-list-properties); targets go through "
			 "balloonctl set/release. For full access use "
			 "balloonctl qmp --socket on a QMP socket nobody else "
			 "holds",
			 command);
		fail(r, BD_E_PERMISSION);
		return;
	}
	if (!g->link.qmp || !qmp_client_is_ready(g->link.qmp)) {
		snprintf(r->msg, sizeof(r->msg), "%s: QMP link is down (%s)",
			 g->spec.name,
			 bd_guest_error(g)[0] ? bd_guest_error(g)
					      : "not connected");
		fail(r, BD_E_UNAVAILABLE);
		return;
	}
	struct qmp_pass *p = malloc(sizeof(*p));
	if (!p) {
		snprintf(r->msg, sizeof(r->msg), "out of memory");
		fail(r, BD_E_INTERNAL);
		return;
	}
	*p = (struct qmp_pass){r->bd, r->to, r->id};
	int rc =
	    qmp_execute(g->link.qmp, command,
			args ? json_object_get(args) : NULL, 0, qmp_pass_cb, p);
	if (rc) {
		free(p);
		snprintf(r->msg, sizeof(r->msg), "%s", qmp_strerror(rc));
		fail(r, BD_E_UNAVAILABLE);
	}
}

/* ---- monitor / reload ---- */

static void m_monitor(struct req *r)
{
	if (!r->to.conn || bd_control_subscribe(r->bd, r->to.conn)) {
		snprintf(r->msg, sizeof(r->msg), "monitor needs a connection");
		fail(r, BD_E_PARAMS);
		return;
	}
	json_object *res = json_object_new_object();
	json_object_object_add(res, "subscribed", json_object_new_boolean(1));
	reply(r, res);
}

static void m_reload(struct req *r)
{
	if (bd_reload(r->bd, r->msg, sizeof(r->msg))) {
		fail(r, BD_E_PARAMS);
		return;
	}
	reply(r, NULL);
}

/* ---- metrics ---- */

static void m_metrics(struct req *r)
{
	struct bd_buf b = {0};
	if (bd_metrics_render(r->bd, &b)) {
		bd_buf_free(&b);
		snprintf(r->msg, sizeof(r->msg), "out of memory");
		fail(r, BD_E_INTERNAL);
		return;
	}
	json_object *res = json_object_new_object();
	json_object_object_add(res, "text",
			       json_object_new_string_len(b.p, (int)b.len));
	bd_buf_free(&b);
	reply(r, res);
}

static void (*const handlers[BD_M_COUNT])(struct req *) = {
    [BD_M_REGISTER] = m_register, [BD_M_UNREGISTER] = m_unregister,
    [BD_M_STATUS] = m_status,	  [BD_M_SET] = m_set,
    [BD_M_RELEASE] = m_release,	  [BD_M_ROLE] = m_role,
    [BD_M_QMP] = m_qmp,		  [BD_M_MONITOR] = m_monitor,
    [BD_M_RELOAD] = m_reload,	  [BD_M_METRICS] = m_metrics,
};

void bd_method_dispatch(struct bd *bd, struct bd_reply_to to, int64_t req_id,
			int method, json_object *params)
{
	to.method = method;
	struct req r = {bd, to, req_id, method, params, ""};
	if (bd->shutting_down) {
		snprintf(r.msg, sizeof(r.msg), "balloond is shutting down");
		fail(&r, BD_E_SHUTTING_DOWN);
		return;
	}
	if (method < 0 || method >= BD_M_COUNT) {
		snprintf(r.msg, sizeof(r.msg), "unknown method");
		fail(&r, BD_E_METHOD);
		return;
	}
	if (bd_log_enabled(LOG_DEBUG))
		bd_debug("request %s %s",
			 bd_method_name((enum bd_method)method),
			 json_object_to_json_string_ext(
			     params, JSON_C_TO_STRING_PLAIN));
	handlers[method](&r);
}
