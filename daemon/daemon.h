/*
 * daemon.h: balloond's wiring, and the core's header. One struct bd holds
 * the loop, the config, the guest registry, the event stream, the
 * sources, the executor's and persistence's state. Each file in daemon/
 * owns one concern:
 *
 *   The core (libballoond.a; it includes daemon.h and its own headers):
 *   daemon.h      this header: struct bd, the guests, the core's functions
 *   conf.h        balloond.conf(5): one struct, the defaults
 *   conf.c        reading balloond.conf: every key in one table
 *   log.h         logging with syslog priorities
 *   log.c         where the messages go: stderr or the journal
 *   clock.c       the wall clock for people, the monotonic one for ages
 *   registry.c    the guests: specs, bounds, roles, status
 *   link.c        one guest's QMP link: connect, RAM, actual, events
 *   plan.c        snapshot the guests, ask the policy, hand the plan on
 *   exec.c        carry a plan out: the actuators' commands, steps, waits
 *   actuator.h    the actuator seam: set, query, moved, a step's unit
 *   actuator.c    the table of actuators
 *   balloon.c     the virtio-balloon actuator, over the QMP link
 *   events.c      the one internal event stream and its subscribers
 *   stats.c       a source: guest-stats polling
 *   peaks.h       a guest's daily used peaks and starved days (pure)
 *   peaks.c       keeping them, 14 days, and their saved form
 *   host.h        the host-memory source's parsers (pure)
 *   host.c        a source: host memory, PSI and its trigger, the ARC
 *   hostparse.c   parsing meminfo, pressure/memory and arcstats
 *   arc.c         the ZFS ARC's cap (zfs_arc_max) and what it was before
 *   rest.c        a source: Patroni's REST API, confirmed roles
 *   patroniparse.h  Patroni's REST answers as facts (pure)
 *   patroniparse.c  parsing them
 *   listener.c    a source: signed role notifications over UDP
 *   metrics.h     the Prometheus exposition and its outlets
 *   metrics.c     the exposition: the renderer, and the counters the
 *                 event stream keeps
 *   metricsout.c  the metrics' outlets: the textfile, the HTTP listener
 *
 *   The server side (libbdserver.a and main.c; they include server.h):
 *   server.h      the control layer's functions
 *   control.c     the control socket: clients, ordered replies, monitors
 *   methods.c     one handler per control request
 *   state.c       persistence, off the loop thread
 *   spool.c       requests made while the daemon was down, and roles
 *   memtrim.c     the heap's free pages back to the kernel after a burst
 *   main.c        options, signals, systemd, reload, start and shutdown
 *
 * Dependencies run one way: the core never calls into control, methods,
 * state, spool or main (tests/boundary.sh checks the objects); those
 * that need to hear back from the core (a registration waiting for its
 * link, shutdown waiting for the executor, a finished save) leave a
 * callback in struct bd or in the guest.
 */
#ifndef BALLOOND_DAEMON_H
#define BALLOOND_DAEMON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "conf.h"
#include "peaks.h"
#include "policy/policy.h"
#include "proto/notify.h"
#include "proto/proto.h"
#include "proto/spec.h"
#include "qmp/qmp.h"

struct bd;
struct bd_guest;

/* Per-guest counters for the metrics (metrics.c counts them from the
 * event stream). Grouped so that the guest's layout can change around
 * them. */
struct bd_guest_counters {
	uint64_t balloon_commands;	 /* balloon commands sent */
	uint64_t balloon_command_errors; /* refused, failed or timed out */
	uint64_t link_ups;		 /* times its QMP link came up */
	bool latency_known;
	int64_t last_latency_us; /* the last answered command's round trip */
};

/* ---- clock.c ---- */
/* Two clocks: the wall clock for what people read (event times, "last
 * action at"), the monotonic clock for every age and deadline, so that a
 * wall-clock step (NTP, an admin's date) never makes a role change look
 * older or younger than it is. Tests replace them. */
struct bd_clock {
	int64_t (*wall_us)(void);
	int64_t (*mono_us)(void);
};
extern const struct bd_clock bd_clock_real;
int64_t bd_wall_us(const struct bd *bd);
int64_t bd_mono_us(const struct bd *bd);

/* A failed command, or a failed RAM query, is tried again after a
 * backoff that doubles from BD_RETRY_MIN_MS to BD_RETRY_MAX_MS: *ms is
 * the backoff so far (0: none), and the next one is returned. */
#define BD_RETRY_MIN_MS 250
#define BD_RETRY_MAX_MS 30000
static inline unsigned bd_backoff_next(unsigned *ms)
{
	*ms = *ms ? *ms * 2 : BD_RETRY_MIN_MS;
	if (*ms > BD_RETRY_MAX_MS)
		*ms = BD_RETRY_MAX_MS;
	return *ms;
}

struct bd_actuator_ops; /* actuator.h */

/* A uint64_t member of a JSON object (the sizes in events and status). */
static inline void bd_json_add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

/* Called when a guest's registration completed (code NULL) or failed; arg
 * is the one given to bd_guest_start. */
typedef void (*bd_ready_fn)(struct bd_guest *g, void *arg, const char *code,
			    const char *msg);

/* ---- the guest, by owner ----
 * Each part of a guest is written by one file; the others read it. */

/* The QMP link's state (link.c). Only UP lets commands through. */
enum bd_link_state {
	BD_LINK_DOWN,	   /* not connected (the library reconnects) */
	BD_LINK_READING,   /* connected: reading the RAM size and actual */
	BD_LINK_RAM_RETRY, /* connected, the RAM query failed: asking again
			    * after a backoff (the reason says why) */
	BD_LINK_UP,	   /* ready, RAM and actual read */
};

/* link.c: the QMP link, and what QEMU said of the guest's memory. */
struct bd_guest_link {
	qmp_client *qmp;
	enum bd_link_state state;
	uint64_t ram_bytes; /* QEMU's base memory; 0 until read */
	bool actual_known;  /* query-balloon answered on this link */
	uint64_t actual_bytes;
	uint64_t set_bytes;	/* target QEMU acknowledged on this link */
	bool query_inflight;	/* a query of actual is on its way */
	bool no_balloon;	/* nothing to restore: QEMU said, on this
				 * connection, that the guest has no balloon
				 * device, or no QEMU listens on the socket (a
				 * new one starts with all its RAM) */
	uint64_t floor_bytes;	/* the lowest actual balloond's own moves
				 * explain since set_bytes; 0: unknown */
	int64_t change_at_us;	/* monotonic: the last BALLOON_CHANGE */
	uint64_t foreign_moves; /* times another monitor lowered it */
	int64_t moved_wall_us;	/* wall clock: actual last changed; stats
				 * older than this describe another guest */
	bool deflated;		/* actual rose above its target by itself
				 * (deflate-on-oom), until stats recover */
	unsigned retry_ms;	/* the RAM query's backoff */
	uint64_t retry_due_ms;	/* loop time it asks for the RAM again
				 * (the guest's timer); 0: not waiting */
};

/* exec.c: the actuator's command for this guest, and its part in the
 * plan being carried out. */
enum bd_act_state {
	BD_ACT_IDLE,	/* nothing in flight */
	BD_ACT_SENT,	/* a command in flight (inflight_bytes) */
	BD_ACT_BACKOFF, /* a command failed: waiting to send again */
};
struct bd_guest_act {
	const struct bd_actuator_ops *ops; /* actuator.h */
	enum bd_act_state state;
	uint64_t inflight_bytes;    /* the command in flight; 0: none */
	uint64_t inflight_since_ns; /* when it was sent (uv_hrtime) */
	int64_t set_at_us;	    /* monotonic: when the last was sent */
	uint64_t want_bytes;	    /* next target to send; 0: none */
	unsigned retry_ms;	    /* backoff after a failed command */
	uint64_t retry_due_ms;	    /* loop time it replans (the guest's
				     * timer); 0: not waiting */
	/* The plan step it belongs to. */
	unsigned plan; /* plan generation; 0: none */
	unsigned step;
	uint64_t action_bytes; /* the target of that action */
	bool pending;	       /* its command not yet answered */
	bool move_late;	       /* its move deadline passed (said once) */
	bool restored;	       /* shutdown: QEMU acknowledged its max */
	/* The target a dry run last said it would set (said once). */
	uint64_t dry_run_bytes;
};

/* stats.c: the guest-stats source's view of the guest. */
struct bd_guest_stats {
	struct qmp_guest_stats last;
	bool known;
	unsigned interval_set; /* QEMU's polling interval as set */
	bool inflight;	       /* a guest-stats request is on its way */
	const char *path;      /* QOM path of the balloon, shared
				* (link.c finds it); NULL: unknown */
};

/* A text a guest keeps for status (its last action, its last error): in
 * the guest when it is short, as nearly all are, else allocated to its
 * size (registry.c). A thousand small blocks allocated at different
 * times land all over the heap and each keeps a page resident; in the
 * guest they cost only their bytes. */
#define BD_GUEST_TEXT_MAX    160 /* the longest kept, with the NUL */
#define BD_GUEST_TEXT_INLINE 48	 /* kept in the guest, with the NUL */
struct bd_guest_text {
	char *heap;			/* the text when it is longer; NULL */
	char buf[BD_GUEST_TEXT_INLINE]; /* else the text; "": none */
};
static inline const char *bd_guest_text(const struct bd_guest_text *t)
{
	return t->heap ? t->heap : t->buf;
}

/* Explanations, for status and the metrics: plan.c fills the policy's,
 * link.c and exec.c the last error, bd_guest_note the last action. */
struct bd_guest_why {
	const char *reason; /* the policy's, static */
	bool starving;	    /* the policy's view */
	bool may_be_leader; /* the policy keeps it at max as a possible
			     * Patroni leader */
	bool over_free;	    /* its pin takes more than it reports free */
	struct bd_guest_text last_action; /* "": none yet */
	int64_t last_action_us;		  /* wall clock */
	struct bd_guest_text last_error;  /* "": none (bd_guest_error) */
};

/* registry.c: a registration waiting for QEMU to tell the RAM size:
 * ready_fn is called once, when it is known or when the deadline passed
 * (never once the guest is removed). While one with a deadline waits,
 * the guest is registering: not a guest yet for status, the metrics or
 * the saved state. */
struct bd_guest_reg {
	bd_ready_fn ready_fn;
	void *ready_arg;
	bool registering;
	uv_timer_t *timer; /* its deadline; NULL while none waits */
};

struct bd_guest {
	struct bd *bd;
	struct bd_guest_spec spec;
	uint64_t max_bytes; /* effective: spec, else the guest's RAM */
	uint64_t min_bytes; /* effective */

	/* Patroni: role is what status shows (the newest of the facts);
	 * the policy reads the facts themselves. Times are monotonic; 0:
	 * never. The REST watcher fills the confirmed ones. */
	enum policy_role role;
	int64_t role_changed_us;
	enum policy_role pushed_role;
	int64_t pushed_us;
	enum policy_role confirmed_role;
	bool confirmed_streaming;
	int64_t confirmed_us;

	struct bd_guest_link link;
	struct bd_guest_act act;
	struct bd_guest_stats stats;
	struct bd_guest_why why;
	struct bd_guest_counters counters;
	struct bd_guest_reg reg;
	struct bd_peaks peaks; /* daily used peaks and starved days
				* (peaks.c), saved with the registration */

	/* registry.c: one timer serves the backoffs of the guest's parts,
	 * link.retry_due_ms and act.retry_due_ms: it is armed for the
	 * earliest (bd_guest_wake). A thousand guests need not hold a timer
	 * (152 bytes) for each. */
	uv_timer_t timer;

	struct bd_guest *hnext; /* the next in its name-index bucket */
	bool removed;	    /* unregistered; freed once its handles closed */
	int closes_pending; /* handles (and the QMP client) still closing */
	TAILQ_ENTRY(bd_guest) entry; /* bd->guests */
};
TAILQ_HEAD(bd_guest_list, bd_guest);

/* for each registered guest (declares g), in registration order: those
 * unregistered but not yet freed (their handles still closing) are
 * skipped. */
#define bd_guest_foreach(g, bd)                                                \
	for (struct bd_guest *g = TAILQ_FIRST(&(bd)->guests); g;               \
	     g = TAILQ_NEXT(g, entry))                                         \
		if (g->removed) {                                              \
		} else

static inline bool bd_link_up(const struct bd_guest *g)
{
	return g->link.state == BD_LINK_UP;
}

/* ---- events.c: the one internal event stream ----
 * Every consumer (control-socket monitors, the debug log, the metrics'
 * counters) is one subscriber. An event has a name, the guest it is about (or
 * NULL), its data and its wall-clock time. */
struct bd_event {
	const char *name;
	struct bd_guest *guest;
	json_object *data; /* borrowed for the call */
	int64_t time_us;   /* wall clock */
};
typedef void (*bd_event_fn)(struct bd *bd, const struct bd_event *ev,
			    void *arg);
struct bd_subscriber {
	bd_event_fn fn;
	void *arg;
	bool (*wants)(struct bd *bd, void *arg); /* NULL: always */
	/* The names of the events it takes, NULL-terminated; NULL: all. */
	const char *const *names;
	/* Of those, the ones whose data it never reads (NULL-terminated;
	 * NULL: none): when only such subscribers take an event, it is
	 * emitted without data (bd_event_data_wanted). */
	const char *const *dataless;
	TAILQ_ENTRY(bd_subscriber) entry;
};
TAILQ_HEAD(bd_subscriber_list, bd_subscriber);
/* Subscribe with a caller-owned struct (fn, arg, wants filled in). */
void bd_events_subscribe(struct bd *bd, struct bd_subscriber *sub);
void bd_events_unsubscribe(struct bd *bd, struct bd_subscriber *sub);
/* Whether any subscriber takes an event of that name now: an event that
 * costs something to build (a plan's 1,000 actions) is built only then. */
bool bd_event_wanted(struct bd *bd, const char *name);
/* Whether any subscriber that reads an event's data takes one of that name
 * now. An event emitted once per guest in a burst (a command sent) builds
 * its data only then: the metrics count it by its name alone. */
bool bd_event_data_wanted(struct bd *bd, const char *name);
/* Emit to every subscriber. Takes data. With data NULL, subscribers get an
 * object holding the guest's name, or NULL data when none of them reads
 * it. */
void bd_emit(struct bd *bd, const char *name, struct bd_guest *g,
	     json_object *data);
/* The event as one JSON message, the control protocol's shape (a new
 * reference). */
json_object *bd_event_json(const struct bd_event *ev);

/* ---- sources ----
 * An input the policy reads: guest stats (stats.c), host memory (host.c),
 * Patroni's REST API (rest.c) and role notifications (listener.c); the
 * metrics' outlets (metricsout.c) share the life cycle. Each keeps its
 * own state, copies what it needs from the config in start (a reload
 * stops and starts it again: nothing may point into an old config),
 * updates the guests or the host snapshot, and asks for a replan. close
 * frees it; done is called once its handles are closed. */
struct bd_source;
struct bd_source_ops {
	const char *name;
	int (*start)(struct bd_source *s);
	void (*stop)(struct bd_source *s);
	void (*close)(struct bd_source *s, void (*done)(struct bd_source *));
};
struct bd_source {
	const struct bd_source_ops *ops;
	struct bd *bd;
	void *state;
	bool running;
};
#define BD_MAX_SOURCES 8
/* stats.c */
int bd_stats_source_new(struct bd *bd, struct bd_source **out);
/* host.c: the host-memory source. Reads, under conf.proc_root, meminfo
 * (MemTotal, MemAvailable), pressure/memory (PSI some/full avg10) and
 * spl/kstat/zfs/arcstats (size, c_min, c_max) every host_interval_ms into
 * bd->host, and asks for a replan when something the policy reads moved.
 * It also arms a PSI trigger (psi_stall_us within psi_window_us, written
 * to pressure/memory, POLLPRI on the loop): a spike sets
 * bd->host.psi_event and replans at once. Where triggers are refused, or
 * the file is not the kernel's (a test fixture: never written), it says
 * so once and relies on the periodic read. */
int bd_host_source_new(struct bd *bd, struct bd_source **out);
/* arc.c: write zfs_arc_max (bytes) under conf.sys_root
 * (module/zfs/parameters/zfs_arc_max). 0, or -errno: a refusal is logged
 * once and bd->arc_disabled set (status says why); no ZFS is logged once
 * too. */
int bd_arc_write(struct bd *bd, uint64_t bytes);
/* At start: read what STATE_DIR/arc.json says the ARC was before balloond
 * first wrote zfs_arc_max. 0 (also when there is none), or -errno (said
 * once; the values are then taken anew). */
int bd_arc_load(struct bd *bd);
/* Before a plan: with arc_manage, save the ARC's own c_max and the
 * admin's zfs_arc_max (on the thread pool; bd->arc_saved says when they
 * are on disk, and a replan follows); without, give the admin's value
 * back once. */
void bd_arc_prepare(struct bd *bd);
/* rest.c: the Patroni REST watcher. Polls each [cluster NAME]'s
 * rest_urls (GET /cluster, then the leader's /patroni) every
 * poll_interval_ms and at once after a pushed role ("role" events), on
 * the loop (libcurl multi-socket), sets the member guests' confirmed
 * role and streaming, emits "cluster" when a cluster's facts change and
 * asks for a replan. */
int bd_rest_source_new(struct bd *bd, struct bd_source **out);
/* What the watcher knows of a cluster, for the policy: reachable,
 * has_leader and facts_age_ms of pc (unreachable when not watched). */
void bd_rest_cluster(const struct bd *bd, const char *name, int64_t now_us,
		     struct policy_cluster *pc);
/* The polls of a cluster since the watcher started, and how many failed
 * (0 when it is not watched). */
void bd_rest_polls(const struct bd *bd, const char *name, uint64_t *polls,
		   uint64_t *failures);
/* Per configured cluster, by name: reachable, leader, the facts' age, the
 * URL that answered, the members as Patroni told, the last error. */
json_object *bd_rest_status(const struct bd *bd);

/* listener.c: the network listener (UDP, [listener]): role
 * notifications signed with a cluster's key (proto/notify.h) for Patroni
 * inside the guests; accepted ones go to bd_role_push. Off by default. */
int bd_listener_source_new(struct bd *bd, struct bd_source **out);
/* Its config, whether it is listening, and its counters (status). */
json_object *bd_listener_status(const struct bd *bd);
/* Kept in struct bd, across reloads and while it is off. */
struct bd_listener_stats {
	bool up;			    /* bound and reading */
	uint64_t counts[BD_NOTIFY_R_COUNT]; /* [BD_NOTIFY_OK]: accepted, else
					     * refused, by reason */
	char error[300];		    /* why it is not listening, or
					     * a key that could not be read */
};

/* metrics.c: the daemon's own counters, for the metrics. */
#define BD_REPLAN_BUCKETS 12
/* A control request's result, as the metrics count it: answered, answered
 * with an error, or refused (the peer may not ask it, or is over a
 * connection bound: permission-denied, or no request read at all). */
enum bd_req_result { BD_REQ_OK, BD_REQ_ERROR, BD_REQ_REFUSED, BD_REQ_RESULTS };
struct bd_counters {
	/* By method ([BD_M_COUNT]: unknown) and result. */
	uint64_t requests[BD_M_COUNT + 1][BD_REQ_RESULTS];
	uint64_t plans;				    /* plans computed */
	uint64_t replan_buckets[BD_REPLAN_BUCKETS]; /* not cumulative */
	uint64_t replan_sum_ns;
	uint64_t psi_events;	   /* PSI trigger events */
	uint64_t reclaim_episodes; /* times the host started reclaiming */
	int64_t start_wall_us;	   /* when balloond started */
};
/* Upper bounds of the replan histogram's buckets, in seconds. */
extern const double bd_replan_bucket_s[BD_REPLAN_BUCKETS];
/* A plan was computed and dispatched in ns. */
void bd_metrics_plan_done(struct bd *bd, uint64_t ns);
/* A control request got its final reply (control.c): method BD_M_COUNT
 * or out of range counts as unknown. */
void bd_metrics_request(struct bd *bd, int method, enum bd_req_result result);
/* g's balloon command was answered (exec.c), failed or not, latency_us
 * after it was sent: counted here rather than from the command_done
 * event, whose data a burst then builds only for a subscriber. */
void bd_metrics_command_done(struct bd_guest *g, bool failed,
			     int64_t latency_us);

struct bd_metrics; /* metrics.c */
/* metricsout.c: the metrics' outlets ([metrics]): the textfile for
 * node_exporter, written off the loop. A source in its life cycle only. */
int bd_metrics_source_new(struct bd *bd, struct bd_source **out);

struct bd_qom_path;	/* link.c */
struct bd_rest;		/* rest.c */
struct bd_exec;		/* exec.c */
struct bd_control;	/* control.c */
struct bd_persist;	/* state.c */
struct bd_spool;	/* spool.c */
struct bd_registration; /* methods.c */

struct bd {
	uv_loop_t *loop;
	struct bd_clock clock;
	struct bd_conf conf;
	const char *conf_path;
	bool conf_must_exist;
	bool foreground;

	struct bd_guest_list guests; /* in registration order */
	size_t n_guests;
	/* Registered guests by name (a request names one: no list walk). */
	struct bd_guest **index;
	size_t index_size; /* buckets, a power of two; 0: none yet */
	/* link.c: the balloons' QOM paths, one copy of each (nearly every
	 * guest's is the same) for the guests whose links found it. */
	struct bd_qom_path *qom_paths;

	struct bd_subscriber_list subscribers; /* the newest first */
	struct bd_source *sources[BD_MAX_SOURCES];
	size_t n_sources;
	struct bd_rest *rest; /* the Patroni REST watcher; NULL: none */

	struct bd_control *control;
	struct bd_persist *persist;
	struct bd_spool *spool;
	/* methods.c: pre-promote waits */
	LIST_HEAD(, bd_role_wait) role_waits;
	/* methods.c: clients' registrations waiting for their guest's link */
	LIST_HEAD(, bd_registration) registrations;
	/* state.c: a save finished (err < 0: it failed); the generations up
	 * to gen are on disk. NULL: nobody listens. */
	void (*persisted_cb)(struct bd *bd, uint64_t gen, int err);
	/* stats.c: a guest's day of peaks is complete (a new day began), for
	 * the state file. NULL: nobody keeps them. */
	void (*peaks_cb)(struct bd_guest *g);
	/* link.c: what a guest's device reports of its memory (the balloon's
	 * actual) changed or became known. NULL: nobody waits for it. */
	void (*moved_cb)(struct bd_guest *g);

	/* The host as the host-memory source last read it (known false until
	 * then), and what the policy said of it. */
	struct policy_host host;
	int64_t host_read_us;	   /* monotonic; 0: never */
	char host_error[160];	   /* why a reading or the trigger failed */
	bool psi_trigger_armed;	   /* the kernel accepted our trigger */
	int64_t headroom_bytes;	   /* the last plan's effective headroom */
	bool arc_disabled;	   /* a write of zfs_arc_max was refused */
	uint64_t arc_c_max_native; /* arcstats' c_max before balloond wrote
				    * zfs_arc_max (then it is that value) */
	char arc_error[160];	   /* ... and why */

	/* arc.c: the ARC before balloond first wrote zfs_arc_max, its
	 * arc_c_max_native and arc_admin_max_bytes, kept in
	 * STATE_DIR/arc.json; zfs_arc_max is not written before they are on
	 * disk. */
	enum {
		BD_ARC_UNSAVED,
		BD_ARC_SAVING,
		BD_ARC_SAVED,
	} arc_saved;
	uint64_t arc_admin_max_bytes; /* zfs_arc_max then (0: ZFS's default) */
	struct bd_listener_stats listener;
	struct bd_counters counters;
	struct bd_metrics *metrics; /* NULL: not started */

	/* The policy: policy_decide, or a test's scripted plans. */
	int (*decide)(const struct policy_input *in,
		      struct policy_decision *decisions,
		      struct policy_plan *plan);

	/* Replanning is coalesced: many changes in one loop turn, one plan. */
	uv_idle_t replan_idle;
	bool replan_pending;
	struct bd_exec *exec; /* the executor's own state (exec.c) */
	/* The actuator new guests get (actuator.h); NULL: the first of
	 * bd_actuators, the virtio-balloon. Tests set their own. */
	const struct bd_actuator_ops *actuator;

	/* Called whenever the executor may have become idle (shutdown waits
	 * for the restores to be answered). NULL: nobody waits. */
	void (*idle_cb)(struct bd *bd);

	uv_timer_t watchdog_timer;
	uv_signal_t sig_term, sig_int, sig_hup;

	bool shutting_down;
	uv_timer_t shutdown_timer;
	int exit_code;
};

/* ---- registry.c ---- */
/* Validate a spec against the bounds and the other guests (but replacing,
 * the guest it is to replace, if any); returns NULL or a BD_E_* code with
 * a message. */
const char *bd_spec_check(struct bd *bd, const struct bd_guest_spec *spec,
			  const struct bd_guest *replacing, char *msg,
			  size_t msg_len);
/* Effective bounds once max is known; a BD_E_* code on error. */
const char *bd_guest_set_bounds(struct bd_guest *g, uint64_t ram_bytes,
				char *msg, size_t msg_len);
struct bd_guest *bd_guest_find(struct bd *bd, const char *name);
struct bd_guest *bd_guest_add(struct bd *bd, const struct bd_guest_spec *spec);
void bd_guest_remove(struct bd_guest *g);
json_object *bd_guest_status(const struct bd_guest *g);
void bd_guest_note(struct bd_guest *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* bd_guest_note of the pieces one after another (NULL ends them), without
 * vsnprintf: what a burst notes for each of its guests, twice. */
void bd_guest_note_cat(struct bd_guest *g, const char *piece, ...)
    __attribute__((sentinel));
/* The last error, as status and the messages that quote it say it
 * (truncated to BD_GUEST_TEXT_MAX - 1 bytes); "" clears it. */
void bd_guest_set_error(struct bd_guest *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void bd_guest_clear_error(struct bd_guest *g);
/* Set *due_ms, one of the guest's retry_due_ms, to delay_ms from now
 * (0: cancel it) and arm the guest's timer for the earliest: when it is
 * due, bd_link_retry_due or bd_exec_retry_due is called. */
void bd_guest_wake(struct bd_guest *g, uint64_t *due_ms, uint64_t delay_ms);
/* The last error; "" when there is none. */
static inline const char *bd_guest_error(const struct bd_guest *g)
{
	return bd_guest_text(&g->why.last_error);
}
/* A pushed Patroni role for cluster/member: sets it on the member's
 * guests (a new leader makes any other leader "unknown"), emits "role",
 * and returns how many guests it named (their names appended to names,
 * if not NULL). */
size_t bd_role_push(struct bd *bd, const char *cluster, const char *member,
		    const char *role_word, json_object *names);
/* Start a guest's registration: the link is started and ready_fn (if not
 * NULL) gets the outcome, with arg; with deadline_ms 0 the guest waits for
 * its link for ever (a restored or spooled registration), else it is
 * registering until the outcome, which comes by then. */
int bd_guest_start(struct bd_guest *g, bd_ready_fn ready_fn, void *arg,
		   uint64_t deadline_ms);
/* A registration's outcome: the link is up and the guest's bounds are
 * known (code NULL), or they are wrong, it has no balloon, or it was
 * unregistered first (a BD_E_* code and why). The ready_fn waiting for it,
 * if any, gets it now (once). */
void bd_guest_ready(struct bd_guest *g, const char *code, const char *msg);

/* ---- link.c: one guest's QMP link ---- */
int bd_link_start(struct bd_guest *g);
/* link.retry_due_ms passed: ask for the RAM again. */
void bd_link_retry_due(struct bd_guest *g);
/* The guest no longer needs its balloon's QOM path (stats.path). */
void bd_link_drop_path(struct bd_guest *g);
/* Ask QEMU for actual now (coalesced with one in flight). */
void bd_link_query(struct bd_guest *g);
/* QEMU acknowledged target (the executor's `balloon`): it is set_bytes. */
void bd_link_acked(struct bd_guest *g, uint64_t target);
/* A reload: every guest's QMP client takes the new [qmp] settings. */
void bd_link_reload(struct bd *bd);
/* Shutdown: a link that is down tries to connect now, not after its
 * backoff. */
void bd_link_reconnect(struct bd_guest *g);

/* ---- plan.c ---- */
/* Plan now (coalesced to the end of this loop turn). */
void bd_replan(struct bd *bd);
/* Run a pending replan now rather than on the next loop turn. */
void bd_replan_now(struct bd *bd);
/* The policy's target for one guest as things stand (0: none). */
struct policy_decision bd_plan_decide(const struct bd_guest *g);
/* The policy's config from balloond.conf, resolved for this host. */
struct policy_config bd_plan_config(const struct bd *bd);
void bd_plan_init(struct bd *bd);
void bd_plan_close(struct bd *bd);

/* ---- exec.c: the executor ---- */
int bd_exec_init(struct bd *bd);
/* Frees the executor's state once its timers closed. */
void bd_exec_close(struct bd *bd);
/* The generation of the plan it runs (plans are numbered from 1). */
unsigned bd_exec_plan_gen(const struct bd *bd);
/* Is it waiting for a wait_moved step's guests to move? */
bool bd_exec_waiting(const struct bd *bd);
/* A new QMP link: a failed command's backoff starts over (link.c). */
void bd_exec_link_reset(struct bd_guest *g);
/* act.retry_due_ms passed: the failed command's backoff is over. */
void bd_exec_retry_due(struct bd_guest *g);
/* Carry out a plan over guests[0..n) (the plan's guest indices); it
 * replaces the one running. The plan is copied. */
int bd_exec_run(struct bd *bd, const struct policy_plan *plan,
		struct bd_guest *const *guests, size_t n);
/* Send a guest's target (or queue it behind the one in flight). */
void bd_exec_send(struct bd_guest *g, uint64_t target);
/* A balloon command's outcome or a move: the executor re-checks. */
void bd_exec_moved(struct bd_guest *g);
/* Drop a guest that is being removed from the running plan. */
void bd_exec_forget(struct bd_guest *g);
/* Shutdown: forget the plan and give every guest its max, now for those
 * whose link is up, and keep reconnecting those whose link is down;
 * idle_cb whenever a restore was answered. */
void bd_exec_restore_all(struct bd *bd);
/* One more pass, for the guests whose link came back or whose refused
 * command is due again (a replan during the shutdown comes here). */
void bd_exec_restore_pass(struct bd *bd);
/* How many guests have not got their max back yet (a guest without a
 * balloon device has nothing to get back); with names, "NAME (why)" for
 * each, comma-separated and cut to len. */
size_t bd_exec_unrestored(const struct bd *bd, char *names, size_t len);

#endif
