/* client.h: a small blocking client for balloond's control socket. */
#ifndef BALLOOND_CTL_CLIENT_H
#define BALLOOND_CTL_CLIENT_H

#include <json-c/json.h>
#include <stdint.h>

#include "qmp/framer.h"

struct ctl_client {
	int fd;
	int timeout_ms; /* per read; -1: wait for ever (monitor) */
	int64_t next_id;
	struct qmp_framer framer;
	json_object *queue[64]; /* messages read but not yet taken */
	int queued;
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
