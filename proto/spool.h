/*
 * spool.h: requests that wait on disk for the daemon.
 *
 * A hook that cannot reach balloond (it is stopped, restarting, or slow)
 * must neither block nor lose its request: it writes it to STATE_DIR/spool/
 * as one file, {"method": M, "params": {...}}, and the daemon carries the
 * files out in name order at start and whenever one appears. Names start
 * with the wall-clock time in nanoseconds, zero-padded, so name order is
 * the order they were written in.
 */
#ifndef BALLOOND_PROTO_SPOOL_H
#define BALLOOND_PROTO_SPOOL_H

#include <json-c/json.h>
#include <stddef.h>

#include "proto.h"

#define BD_SPOOL_DIR "spool" /* under the state directory */
/* Role notifications from role_group (Patroni's callback as postgres):
 * that group may create files here (mode 01730) but not list or read
 * them, and the daemon takes nothing but role requests from it. */
#define BD_ROLE_SPOOL_DIR "role-spool"
/* A spool file is one request; anything bigger is not ours. */
#define BD_SPOOL_MAX_BYTES BD_MAX_REQUEST_BYTES

/* Write one request atomically (temporary file, fsync, rename, fsync of
 * the directory) into STATE_DIR/spool/. Does not take params. Returns 0,
 * or -errno with a message in err. */
int bd_spool_write(const char *state_dir, enum bd_method method,
		   json_object *params, char *err, size_t err_len);
/* The same into a given spool directory (STATE_DIR/role-spool for the
 * role group). The directory's fsync is skipped when the writer may not
 * read it. */
int bd_spool_write_dir(const char *dir, enum bd_method method,
		       json_object *params, char *err, size_t err_len);

/* The same for a request already written as one line of JSON, its
 * newline included ({"method": M, "params": {...}}); the caller vouches
 * for the method. Declared here, defined apart from the rest (no json-c):
 * Patroni's callback writes its line itself. */
int bd_spool_write_text(const char *dir, const char *text, size_t len,
			char *err, size_t err_len);

/* Parse a spool file's text. Only methods a hook may spool are accepted
 * (register, unregister, role). On success *params is a new reference the
 * caller puts. Returns 0 or -EINVAL with a message. */
int bd_spool_parse(const char *text, size_t len, enum bd_method *method,
		   json_object **params, char *msg, size_t msg_len);

/* Whether a directory entry's name is a finished spool file (not a
 * temporary one, not hidden). */
int bd_spool_name_ok(const char *name);

#endif
