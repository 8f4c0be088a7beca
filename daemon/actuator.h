/*
 * actuator.h: the seam between the executor and what moves a guest's
 * memory. The executor (exec.c) and the link's queries of actual
 * (link.c) go through these operations only; an actuator knows its
 * device and its protocol, the executor knows plans, steps, retries and
 * events. The virtio-balloon (balloon.c) is the first; a new one is a
 * file of its own and one line in bd_actuators[] (actuator.c).
 *
 * Every operation runs on the loop thread. A guest's actuator is
 * g->act.ops, taken from bd->actuator (NULL: the balloon) when the guest
 * is added.
 */
#ifndef BALLOOND_ACTUATOR_H
#define BALLOOND_ACTUATOR_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

struct bd_guest;

/* The outcome of a set. */
struct bd_act_result {
	int err;	    /* 0, or the actuator's error */
	const char *error;  /* why, short: the event's "error" */
	const char *detail; /* why, for the guest's last_error */
	bool retry;	    /* worth sending again after a backoff */
};
/* A set was answered (or failed, or was cancelled). */
typedef void (*bd_act_done_fn)(struct bd_guest *g, uint64_t target,
			       const struct bd_act_result *r);
/* A query was answered: err 0 and the guest's memory in bytes, -ENODEV
 * when the guest has no such device, or another error. */
typedef void (*bd_act_query_fn)(struct bd_guest *g, int err, uint64_t bytes);

struct bd_actuator_ops {
	const char *name;    /* "virtio-balloon" */
	const char *command; /* the command as logs and errors name it */
	const char *unit;    /* what a target counts: "bytes" */
	/* The smallest step it can make (a target is rounded to it by the
	 * device; the policy's tolerances are above it). */
	uint64_t granularity_bytes;
	/* Ask the device for target bytes. 0: done is called once, later,
	 * with the outcome (done may be NULL: nobody waits); else an
	 * error (nothing was sent) that strerror explains. */
	int (*set)(struct bd_guest *g, uint64_t target, bd_act_done_fn done);
	/* Ask for the guest's memory now. 0: done is called once. */
	int (*query)(struct bd_guest *g, bd_act_query_fn done);
	/* Nothing left to wait for: the guest is within tolerance_bytes of
	 * target, or the actuator cannot tell (its size not read yet). */
	bool (*moved)(const struct bd_guest *g, uint64_t target,
		      uint64_t tolerance_bytes);
	/* An event on the guest's QMP link (name, its data, may be NULL):
	 * true when it reports the guest's memory, then in *bytes. NULL:
	 * the device reports nothing by itself. */
	bool (*event)(const char *name, json_object *data, uint64_t *bytes);
	const char *(*strerror)(int err);
};

/* balloon.c: the virtio-balloon, over the guest's QMP link. */
extern const struct bd_actuator_ops bd_balloon_ops;

/* actuator.c: every actuator, NULL-terminated; the first is the
 * default. */
extern const struct bd_actuator_ops *const bd_actuators[];
/* By name; NULL: none. */
const struct bd_actuator_ops *bd_actuator_find(const char *name);

#endif
