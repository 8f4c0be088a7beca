/*
 * daemon.h: balloond's wiring. One struct bd holds the loop, the config,
 * the guest registry, the control server and the executor's state; each
 * file in daemon/ owns one concern and the functions declared here.
 */
#ifndef BALLOOND_DAEMON_H
#define BALLOOND_DAEMON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "conf.h"
#include "policy/policy.h"
#include "qmp/qmp.h"

struct bd;

/* What a registration says about a guest (register request, spool file
 * and the persisted state all carry the same fields). */
struct bd_guest_spec {
	char name[64];
	char qmp_path[BD_PATH_MAX];
	uint64_t max_bytes;	       /* 0: the guest's RAM, read from QEMU */
	uint64_t min_bytes;	       /* 0: replica target, else max */
	uint64_t replica_target_bytes; /* 0: none */
	char cluster[64];	       /* Patroni cluster, "" for none */
	char member[64];	       /* Patroni member name */
	int priority;
	uint64_t pin_bytes; /* persisted pin from balloonctl set; 0: none */
};

struct bd_guest {
	struct bd *bd;
	struct bd_guest_spec spec;
	uint64_t max_bytes; /* effective: spec, else the guest's RAM */
	uint64_t min_bytes; /* effective */
	uint64_t ram_bytes; /* QEMU's base memory; 0 until read */

	enum policy_role role;
	int64_t role_changed_us;

	/* The QMP link. */
	qmp_client *qmp;
	bool link_up;	   /* ready and memory size read */
	bool actual_known; /* query-balloon answered on this link */
	uint64_t actual_bytes;
	uint64_t set_bytes;	    /* target QEMU acknowledged on this link */
	uint64_t inflight_bytes;    /* balloon command in flight; 0: none */
	uint64_t inflight_since_ns; /* when it was sent (uv_hrtime) */
	uint64_t want_bytes;	    /* next target to send; 0: none */
	unsigned retry_ms;	    /* backoff after a failed balloon command */
	uv_timer_t retry_timer;
	char stats_path[128]; /* QOM path of the balloon; "" unknown */
	struct qmp_guest_stats stats;
	bool stats_known;

	/* The executor's bookkeeping for the plan step it belongs to. */
	unsigned action_plan; /* plan generation; 0: none */
	unsigned action_step;
	uint64_t action_bytes; /* the target of that action */

	/* Explanations for status. */
	const char *reason; /* the policy's, static */
	char last_action[160];
	int64_t last_action_us;
	char last_error[160];

	/* A register request waiting for QEMU to tell the RAM size. */
	uint64_t pending_conn; /* control connection id; 0: none */
	int64_t pending_req;
	uv_timer_t pending_timer;

	bool removed;	    /* unregistered; freed once its handles closed */
	int closes_pending; /* handles (and the QMP client) still closing */
	struct bd_guest *next;
};

struct bd_control; /* control.c */

struct bd {
	uv_loop_t *loop;
	struct bd_conf conf;
	const char *conf_path;
	bool conf_must_exist;
	bool foreground;

	struct bd_guest *guests; /* singly linked, in registration order */
	size_t n_guests;

	struct bd_control *control;

	/* Replanning is coalesced: many changes in one loop turn, one plan. */
	uv_idle_t replan_idle;
	bool replan_pending;
	unsigned plan_gen;
	unsigned plan_step;	       /* the step being carried out */
	size_t plan_outstanding;       /* its commands not yet answered */
	struct policy_plan plan;       /* the plan being carried out */
	struct bd_guest **plan_guests; /* guests[i] of that plan's snapshot */
	size_t plan_n, plan_cap;

	/* Persistence is coalesced too: one write per loop turn, and replies
	 * to changes are held until it is on disk. */
	uv_check_t persist_check;
	bool persist_dirty;

	uv_timer_t stats_timer;
	uv_timer_t watchdog_timer;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_fs_event_t spool_watch;
	bool spool_watching;

	bool shutting_down;
	uv_timer_t shutdown_timer;
	int exit_code;
};

/* ---- registry.c ---- */
/* Parse a spec from request params / spool / state. 0 or -EINVAL + msg. */
int bd_spec_parse(json_object *params, struct bd_guest_spec *spec, char *msg,
		  size_t msg_len);
json_object *bd_spec_to_json(const struct bd_guest_spec *spec);
/* Validate a spec against the bounds and the other guests; returns NULL or
 * a BD_E_* code with a message. max_known: the spec's max is final. */
const char *bd_spec_check(struct bd *bd, const struct bd_guest_spec *spec,
			  char *msg, size_t msg_len);
/* Effective bounds once max is known; a BD_E_* code on error. */
const char *bd_guest_set_bounds(struct bd_guest *g, uint64_t ram_bytes,
				char *msg, size_t msg_len);
struct bd_guest *bd_guest_find(struct bd *bd, const char *name);
struct bd_guest *bd_guest_add(struct bd *bd, const struct bd_guest_spec *spec);
void bd_guest_remove(struct bd_guest *g);
json_object *bd_guest_status(const struct bd_guest *g);
void bd_guest_note(struct bd_guest *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum policy_role bd_role_parse(const char *s);

/* ---- exec.c: links and balloon commands ---- */
int bd_link_start(struct bd_guest *g);
/* Drop a guest that is being removed from the running plan. */
void bd_exec_forget(struct bd_guest *g);
/* Plan now (coalesced to the end of this loop turn). */
void bd_replan(struct bd *bd);
/* The policy's target for one guest as things stand (0: none). */
struct policy_decision bd_exec_decide(const struct bd_guest *g);
/* Run a pending replan now rather than on the next loop turn. */
void bd_replan_now(struct bd *bd);
void bd_exec_init(struct bd *bd);
/* After a reload: timers follow the new config ([qmp] timeouts apply to
 * links opened from now on). */
void bd_exec_reconfigure(struct bd *bd);
/* Restore every guest to its max (shutdown); done when nothing in flight. */
void bd_exec_restore_all(struct bd *bd);
bool bd_exec_idle(const struct bd *bd);

/* ---- state.c ---- */
int bd_state_load(struct bd *bd);
int bd_state_save(struct bd *bd);
void bd_state_dirty(struct bd *bd);
int bd_spool_start(struct bd *bd);
void bd_spool_scan(struct bd *bd);

/* ---- control.c ---- */
int bd_control_start(struct bd *bd);
void bd_control_stop(struct bd *bd);
/* Send a message to a connection, if it still exists. Takes msg. */
void bd_control_send(struct bd *bd, uint64_t conn_id, json_object *msg);
/* Send after the state is on disk (replies to changes). Takes msg. */
void bd_control_send_persisted(struct bd *bd, uint64_t conn_id,
			       json_object *msg);
void bd_control_flush_held(struct bd *bd);
/* Make a connection a monitor: it receives every event. */
int bd_control_subscribe(struct bd *bd, uint64_t conn_id);
/* A monitor event to every subscriber (and the debug log). Takes data. */
void bd_emit(struct bd *bd, const char *event, json_object *data);

/* ---- methods.c: the control requests ---- */
/* Handle one request; the reply goes through bd_control_send*. Also used
 * for spool files (conn_id 0: replies are logged only). */
void bd_method_dispatch(struct bd *bd, uint64_t conn_id, int64_t req_id,
			int method, json_object *params);
/* A pending register got its answer (or failed). */
void bd_register_finish(struct bd_guest *g, const char *code, const char *msg);

int64_t bd_now_us(void);

/* ---- main.c ---- */
/* During shutdown: exit once every restore was answered. */
void bd_shutdown_progress(struct bd *bd);

#endif
