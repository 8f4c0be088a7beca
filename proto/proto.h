/*
 * proto.h: balloond's control protocol, shared by the daemon, balloonctl
 * and the hooks.
 *
 * Newline-delimited JSON over a unix socket. On connect the daemon sends
 *   {"balloond": {"version": "0.1.0", "protocol": 1}}
 * then answers requests in order:
 *   {"id": 7, "method": "set", "params": {"name": "db1", "bytes": 1073741824}}
 *   {"id": 7, "result": {...}}
 *   {"id": 7, "error": {"code": "out-of-range", "message": "..."}}
 * A request may carry "protocol": N; a daemon speaking another version
 * refuses it with code "protocol-version". After "monitor" the daemon also
 * sends events: {"event": "plan", "time_us": ..., "data": {...}}.
 */
#ifndef BALLOOND_PROTO_H
#define BALLOOND_PROTO_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define BD_PROTOCOL_VERSION 1
/* Cap on one control message, either way. A registration is ~300 bytes;
 * status of 1,000 guests is ~400 KiB, so replies get a larger cap. */
#define BD_MAX_REQUEST_BYTES (64 * 1024)
#define BD_MAX_REPLY_BYTES   (16 * 1024 * 1024)

/* The methods, one per control request. */
#define BD_METHODS(X)                                                          \
	X(REGISTER, "register")                                                \
	X(UNREGISTER, "unregister")                                            \
	X(STATUS, "status")                                                    \
	X(SET, "set")                                                          \
	X(RELEASE, "release")                                                  \
	X(ROLE, "role")                                                        \
	X(QMP, "qmp")                                                          \
	X(MONITOR, "monitor")                                                  \
	X(RELOAD, "reload")                                                    \
	X(METRICS, "metrics")

enum bd_method {
#define BD_METHOD_ENUM(id, name) BD_M_##id,
	BD_METHODS(BD_METHOD_ENUM)
#undef BD_METHOD_ENUM
	    BD_M_COUNT
};

const char *bd_method_name(enum bd_method m);

/* Error codes carried in {"error": {"code": ...}}. */
#define BD_E_INVALID	   "invalid-request" /* not JSON, not an object, no id */
#define BD_E_TOO_LONG	   "request-too-long" /* over BD_MAX_REQUEST_BYTES */
#define BD_E_VERSION	   "protocol-version" /* unsupported protocol */
#define BD_E_METHOD	   "unknown-method"
#define BD_E_PARAMS	   "invalid-params" /* missing or mistyped field */
#define BD_E_NOT_FOUND	   "not-found"	    /* no such guest */
#define BD_E_EXISTS	   "exists"	    /* duplicate name or socket */
#define BD_E_RANGE	   "out-of-range"   /* size outside its bounds */
#define BD_E_QMP	   "qmp-error"	    /* QEMU answered with an error */
#define BD_E_UNAVAILABLE   "unavailable"    /* QMP link down, timed out */
#define BD_E_SHUTTING_DOWN "shutting-down"
#define BD_E_PERMISSION	   "permission-denied" /* peer not root/group */
#define BD_E_INTERNAL	   "internal-error"

struct bd_request {
	json_object *root; /* owns everything below */
	int64_t id;
	enum bd_method method;
	json_object *params; /* an object (empty when absent) */
};

/* Parse one request line. On success req->root must be put by the caller.
 * On failure returns a BD_E_* code, fills msg, and sets *id_out to the
 * request's id when one could be read (else -1), so the reply can carry it. */
const char *bd_request_parse(const char *line, size_t len,
			     struct bd_request *req, int64_t *id_out, char *msg,
			     size_t msg_len);

/* Build messages (new references). */
json_object *bd_greeting_new(const char *version);
json_object *bd_reply_new(int64_t id, json_object *result);
json_object *bd_error_new(int64_t id, const char *code, const char *message);
/* The usual reply to a `set`, {"id":ID,"result":{"guest":NAME,"pin_bytes":
 * BYTES}}, as the text bd_json_plain prints for that tree, written
 * directly: a burst of 1,000 pins builds, prints and frees no tree for
 * them. A malloc()ed buffer (free it), its length in *len; NULL when out
 * of memory or when the name holds a byte below 0x20 (then build the
 * tree). */
char *bd_pin_reply_text(int64_t id, const char *name, uint64_t pin_bytes,
			size_t *len);
json_object *bd_event_new(const char *name, int64_t time_us, json_object *data);

/* Typed parameter access; each returns 0 or -ENOENT (absent) or -EINVAL
 * (wrong type or value), with a message naming the field. */
int bd_param_string(json_object *params, const char *key, const char **out,
		    char *msg, size_t msg_len);
int bd_param_u64(json_object *params, const char *key, uint64_t *out, char *msg,
		 size_t msg_len);
int bd_param_i64(json_object *params, const char *key, int64_t *out, char *msg,
		 size_t msg_len);

/* Check a greeting from the daemon: 0 or -EPROTO with a message. */
int bd_greeting_check(json_object *greeting, char *msg, size_t msg_len);

#endif
