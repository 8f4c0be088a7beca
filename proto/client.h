/*
 * client.h: a small blocking client for balloond's control socket, for
 * balloonctl and the hooks. Every read has a deadline (poll), and any
 * number of messages may arrive ahead of the one asked for (a monitor
 * during a burst): they wait in a queue that grows as needed.
 */
#ifndef BALLOOND_PROTO_CLIENT_H
#define BALLOOND_PROTO_CLIENT_H

#include <json-c/json.h>
#include <stdint.h>

#include "proto/framer.h"

struct ctl_client {
	int fd;
	int timeout_ms; /* per read; -1: wait for ever (monitor) */
	int64_t next_id;
	struct framer framer;
	json_object **queue; /* messages read but not yet taken: a ring */
	size_t q_head, q_len, q_cap;
	char error[512];
};

/* Connect, read and check the greeting. 0 or -errno with c->error set. */
int ctl_client_open(struct ctl_client *c, const char *path, int timeout_ms);
void ctl_client_close(struct ctl_client *c);

/* Send a request and wait for its reply (other messages are skipped).
 * Returns 0 with *result, 1 with *error (the {code, message} object), or
 * -errno with c->error set. Takes params. */
int ctl_client_call(struct ctl_client *c, const char *method,
		    json_object *params, json_object **result,
		    json_object **error);

/* The next message of any kind (monitor events). 0, or -errno. */
int ctl_client_next(struct ctl_client *c, json_object **msg);

#endif
