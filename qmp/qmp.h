/*
 * qmp.h: an asynchronous QMP client on a libuv loop.
 *
 * One qmp_client owns one QEMU monitor socket. It reads the greeting,
 * negotiates capabilities, then runs commands one reply at a time (QEMU
 * answers in order) and dispatches events. Nothing here blocks and nothing
 * here knows about balloon policy.
 *
 * Conventions: functions return 0 or a negative errno. When a function that
 * takes a callback fails, the callback is never called; when it succeeds, the
 * callback is called exactly once (with an error if the connection dies or
 * the client is closed first).
 */
#ifndef BALLOOND_QMP_H
#define BALLOOND_QMP_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto/framer.h"

typedef struct qmp_client qmp_client;

/* Errors beyond plain errno values, all negative. */
enum {
	QMP_ERR_BASE = -10000,
	/* QEMU answered with {"error": ...}; see qmp_reply.error_class. */
	QMP_ERR_COMMAND = QMP_ERR_BASE - 1,
	/* The guest has no balloon device (QEMU's DeviceNotActive or
	 * DeviceNotFound for the balloon). A soft result, not a failure. */
	QMP_ERR_NO_BALLOON = QMP_ERR_BASE - 2,
	/* The peer broke the protocol: bad JSON, an unexpected id, a reply
	 * with nothing pending, a message that is not an object. */
	QMP_ERR_PROTOCOL = QMP_ERR_BASE - 3,
	/* A message was longer than qmp_config.max_message_bytes. */
	QMP_ERR_TOO_LONG = QMP_ERR_BASE - 4,
	/* No greeting before the deadline (the socket may be in use by
	 * another client: QEMU serves one client per socket). */
	QMP_ERR_NO_GREETING = QMP_ERR_BASE - 5,
};

/* A human-readable text for 0, a negative errno or a QMP_ERR_* value. */
const char *qmp_strerror(int err);

/* Connection settings. Fill from QMP_CONFIG_DEFAULT, then change fields. */
struct qmp_config {
	const char *socket_path;  /* copied by qmp_client_new */
	size_t max_message_bytes; /* hard cap on one message, incl. newline */
	uint64_t greeting_timeout_ms; /* connect until capabilities accepted */
	uint64_t command_timeout_ms;  /* default per-command timeout */
	unsigned max_pending;	      /* commands in flight before -EAGAIN */
	bool reconnect;		      /* reconnect after any disconnect */
	uint64_t reconnect_min_ms;    /* first backoff delay */
	uint64_t reconnect_max_ms;    /* backoff cap (delay doubles up to it) */
};

/* 1 MiB: far above any reply balloond asks for (query-balloon is ~30 bytes,
 * guest-stats ~400), small enough that a hostile peer cannot grow us. */
#define QMP_DEFAULT_MAX_MESSAGE (1024 * 1024)

#define QMP_CONFIG_DEFAULT                                                     \
	((struct qmp_config){                                                  \
	    .socket_path = NULL,                                               \
	    .max_message_bytes = QMP_DEFAULT_MAX_MESSAGE,                      \
	    .greeting_timeout_ms = 5000,                                       \
	    .command_timeout_ms = 5000,                                        \
	    .max_pending = 64,                                                 \
	    .reconnect = false,                                                \
	    .reconnect_min_ms = 100,                                           \
	    .reconnect_max_ms = 30000,                                         \
	})

/* The capabilities a greeting may offer that the client knows by name
 * (QEMU's QMPCapability); others are left out. */
enum qmp_capability {
	QMP_CAP_OOB = 1 << 0, /* "oob": out-of-band commands */
};

/* What QEMU said about itself in its greeting. A daemon keeps one per
 * guest, so the capabilities are bits, not QEMU's JSON array. */
struct qmp_greeting {
	int major, minor, micro;
	char package[64];
	unsigned capabilities; /* enum qmp_capability bits it offered */
};

/* Life-cycle and event callbacks; any may be NULL. */
struct qmp_callbacks {
	/* Greeting read and qmp_capabilities accepted: commands may run. */
	void (*ready_cb)(qmp_client *c, void *data);
	/* The connection is gone (or a connect attempt failed). err says why.
	 * With reconnect on, another attempt follows. */
	void (*disconnect_cb)(qmp_client *c, int err, void *data);
	/* BALLOON_CHANGE: the guest's current size in bytes. */
	void (*balloon_change_cb)(qmp_client *c, uint64_t actual_bytes,
				  void *data);
	/* RESET: the guest rebooted (QEMU may keep a stale actual). */
	void (*reset_cb)(qmp_client *c, void *data);
	/* Every event, typed or not, with its name, its "data" member (may be
	 * NULL) and its timestamp in microseconds since the epoch. */
	void (*event_cb)(qmp_client *c, const char *name, json_object *data,
			 int64_t timestamp_us, void *data_);
};

/* A command's outcome. Valid only during the reply callback. */
struct qmp_reply {
	int err;		 /* 0, -errno or QMP_ERR_* */
	json_object *ret;	 /* the "return" value when err == 0 */
	const char *error_class; /* with QMP_ERR_COMMAND/NO_BALLOON */
	const char *error_desc;	 /* with QMP_ERR_COMMAND/NO_BALLOON */
};

typedef void (*qmp_reply_cb)(qmp_client *c, const struct qmp_reply *reply,
			     void *data);
typedef void (*qmp_close_cb)(qmp_client *c, void *data);

/* Allocate a client for cfg->socket_path. Does not connect. */
int qmp_client_new(uv_loop_t *loop, const struct qmp_config *cfg,
		   const struct qmp_callbacks *cbs, void *data,
		   qmp_client **out);

/* Start connecting (and, with reconnect on, keep doing so). */
int qmp_client_start(qmp_client *c);

/* Change the settings of a client that exists (socket_path and reconnect
 * stay as they are): command_timeout_ms applies to the commands queued
 * from now on, greeting_timeout_ms and max_message_bytes from the next
 * connection attempt, reconnect_max_ms to the backoff at once (a retry
 * already waiting longer is brought forward), the rest at once.
 * Returns 0, or -EINVAL (as qmp_client_new) and changes nothing. */
int qmp_client_set_config(qmp_client *c, const struct qmp_config *cfg);

/* Drop the current connection now (pending commands fail with -ECONNRESET)
 * and, with reconnect on, schedule the next attempt. */
void qmp_client_reset(qmp_client *c);

/* Fail pending commands with -ECANCELED, close every handle, then call
 * close_cb (may be NULL) and free the client. The client must not be used
 * after this call. Safe to call from any callback of this client. */
void qmp_client_close(qmp_client *c, qmp_close_cb close_cb, void *data);

bool qmp_client_is_ready(const qmp_client *c);
/* The class and description of the last {"error": ...} QEMU answered on
 * this client ("" before any), for typed commands whose callbacks only get
 * QMP_ERR_COMMAND. */
const char *qmp_client_last_error(const qmp_client *c);
const struct qmp_greeting *qmp_client_greeting(const qmp_client *c);
const char *qmp_client_socket_path(const qmp_client *c);
void *qmp_client_data(const qmp_client *c);

/* Queue a command. args (may be NULL) is taken over: the client puts it
 * when done, also on failure. timeout_ms 0 means the configured default.
 * Fails with -ENOTCONN before ready, -EAGAIN past max_pending. */
int qmp_execute(qmp_client *c, const char *command, json_object *args,
		uint64_t timeout_ms, qmp_reply_cb cb, void *data);
/* The same with the arguments as JSON text, an object the caller wrote
 * (NULL: none), and a command name of letters, digits, '-' and '_' only
 * (-EINVAL otherwise): no json-c tree is built for a command sent a
 * thousand times in a burst. */
int qmp_execute_text(qmp_client *c, const char *command, const char *args,
		     uint64_t timeout_ms, qmp_reply_cb cb, void *data);

/* ---- Typed balloon commands (balloon.c) ---- */

typedef void (*qmp_status_cb)(qmp_client *c, int err, void *data);
typedef void (*qmp_size_cb)(qmp_client *c, int err, uint64_t bytes, void *data);
typedef void (*qmp_path_cb)(qmp_client *c, int err, const char *path,
			    void *data);

/* Guest memory statistics from the balloon driver. UINT64_MAX (QEMU's -1)
 * means the guest did not report that figure. */
struct qmp_guest_stats {
	uint64_t free_bytes;	  /* stat-free-memory */
	uint64_t available_bytes; /* stat-available-memory */
	uint64_t caches_bytes;	  /* stat-disk-caches */
	uint64_t total_bytes;	  /* stat-total-memory */
	int64_t last_update;	  /* unix time of the guest's report; 0: none */
};

typedef void (*qmp_stats_cb)(qmp_client *c, int err,
			     const struct qmp_guest_stats *stats, void *data);

/* `balloon`: ask the guest to be target_bytes in size (must be > 0). */
int qmp_balloon_set(qmp_client *c, uint64_t target_bytes, qmp_status_cb cb,
		    void *data);
/* `query-balloon`: the guest's current size (actual) in bytes. */
int qmp_balloon_query(qmp_client *c, qmp_size_cb cb, void *data);
/* Find the QOM path of the balloon device (under /machine/peripheral or
 * /machine/peripheral-anon). QMP_ERR_NO_BALLOON when there is none. */
int qmp_balloon_find_path(qmp_client *c, qmp_path_cb cb, void *data);
/* qom-set PATH guest-stats-polling-interval interval_s. */
int qmp_guest_stats_enable(qmp_client *c, const char *path, unsigned interval_s,
			   qmp_status_cb cb, void *data);
/* qom-get PATH guest-stats. */
int qmp_guest_stats_get(qmp_client *c, const char *path, qmp_stats_cb cb,
			void *data);

/* ---- Message sorting (message.c); pure, exposed for tests/fuzzing ---- */

enum qmp_message_kind {
	QMP_MSG_GREETING,
	QMP_MSG_RETURN,
	QMP_MSG_ERROR,
	QMP_MSG_EVENT,
};

struct qmp_message {
	enum qmp_message_kind kind;
	json_object *root;	 /* the whole message (for a command's
				  * empty answer, the empty object it
				  * returns); owned by caller */
	bool has_id;		 /* replies: whether an integer id came */
	int64_t id;		 /* replies: the id echoed by QEMU */
	json_object *ret;	 /* RETURN: the "return" member */
	const char *error_class; /* ERROR */
	const char *error_desc;	 /* ERROR */
	const char *event;	 /* EVENT: its name */
	json_object *event_data; /* EVENT: "data" or NULL */
	int64_t timestamp_us;	 /* EVENT: timestamp, or 0 */
	json_object *greeting;	 /* GREETING: the "QMP" member */
};

/* Parse one message (no newline needed). On success out->root holds a
 * reference the caller must put. Returns 0 or QMP_ERR_PROTOCOL. */
int qmp_message_parse(const char *buf, size_t len, struct qmp_message *out);

/* Fill a greeting from a GREETING message's "QMP" member. */
int qmp_greeting_parse(json_object *qmp, struct qmp_greeting *out);

/* Fill stats from qom-get guest-stats' return value. */
int qmp_guest_stats_parse(json_object *ret, struct qmp_guest_stats *out);

#endif
