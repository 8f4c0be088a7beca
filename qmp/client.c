/*
 * client.c: the QMP connection: socket, greeting, capabilities, the queue
 * of pending commands, timeouts, reconnect with backoff, event dispatch.
 *
 * Handle ownership: the client owns one timer for its whole life; each
 * connection attempt gets its own struct conn (a uv_pipe_t) that is freed
 * in its close callback, so a reconnect never waits for the old pipe.
 *
 * A daemon holds one client per guest, a thousand or more, nearly all of
 * them idle: what only a moment needs (the connect request, QEMU's last
 * error) is allocated for that moment, not kept in every client.
 */
#include "qmp.h"
#include "proto/jsontok.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/un.h>

enum state {
	ST_IDLE,	/* not connected; maybe waiting to retry */
	ST_CONNECTING,	/* uv_pipe_connect under way */
	ST_GREETING,	/* connected, waiting for {"QMP": ...} */
	ST_NEGOTIATING, /* qmp_capabilities sent */
	ST_READY,	/* commands may run */
	ST_CLOSING,	/* qmp_client_close called */
};

struct pending {
	TAILQ_ENTRY(pending) entry;
	int64_t id;
	uint64_t deadline_ms; /* loop time at which it times out */
	bool timed_out;	      /* callback already called; reply discarded */
	qmp_reply_cb cb;
	void *data;
};
TAILQ_HEAD(pending_list, pending);

struct conn {
	uv_pipe_t pipe;
	qmp_client *client; /* NULL once detached from the client */
};

/* libuv hands each read to read_cb right after alloc_cb, and the framer
 * copies what it keeps, so one buffer per thread serves every connection
 * (1,000 guests would otherwise hold 64 MiB of idle read buffers). It is
 * allocated with the thread's first client and freed with its last: a
 * _Thread_local array would be zeroed in every thread the process starts
 * (libuv's thread pool, which never reads QMP, would dirty 64 KiB each),
 * and allocated, only the pages a read reaches are touched. */
#define READ_BUF_BYTES 65536
static _Thread_local char *read_buf;
static _Thread_local unsigned read_buf_clients;

static int read_buf_hold(void)
{
	if (!read_buf && !(read_buf = malloc(READ_BUF_BYTES)))
		return -ENOMEM;
	read_buf_clients++;
	return 0;
}

static void client_free(qmp_client *c)
{
	if (--read_buf_clients == 0) {
		free(read_buf);
		read_buf = NULL;
	}
	free(c);
}

struct write_req {
	uv_write_t req;
	char bytes[]; /* the serialized command */
};

struct qmp_client {
	uv_loop_t *loop;
	struct qmp_config cfg;
	char *path;
	struct qmp_callbacks cbs;
	void *data;

	enum state state;
	struct conn *conn;
	struct framer framer;
	struct qmp_greeting greeting;

	struct pending_list pending; /* in the order sent */
	unsigned n_pending;
	int64_t next_id;

	/* While connecting or connected (deadline_cb): the greeting's or the
	 * earliest command's deadline; while idle (retry_cb): the reconnect
	 * backoff. */
	uv_timer_t timer;
	uint64_t greeting_deadline_ms;
	uint64_t backoff_ms;
	bool started;

	char *last_error; /* "Class: description" of QEMU's last error;
			   * NULL: none yet */

	int closes_pending; /* handles still closing after qmp_client_close */
	qmp_close_cb close_cb;
	void *close_data;
};

const char *qmp_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case QMP_ERR_COMMAND:
		return "QEMU returned an error";
	case QMP_ERR_NO_BALLOON:
		return "the guest has no active balloon device";
	case QMP_ERR_PROTOCOL:
		return "QMP protocol error (malformed or unexpected message)";
	case QMP_ERR_TOO_LONG:
		return "QMP message exceeds the size limit";
	case QMP_ERR_NO_GREETING:
		return "no QMP greeting (is another client using the socket?)";
	case -ETIMEDOUT:
		return "timed out waiting for QEMU";
	case -ECONNRESET:
		return "connection to QEMU lost";
	case -ECANCELED:
		return "cancelled (client closed)";
	case -ENOTCONN:
		return "not connected to QEMU";
	case -EAGAIN:
		return "too many QMP commands in flight";
	default:
		if (err < 0 && err > -4096)
			return uv_strerror(err); /* libuv errors are -errno */
		return "unknown error";
	}
}

static void conn_drop(qmp_client *c, int err);
static void arm_deadline(qmp_client *c);

/* ---- queue ---- */

static void pending_push(qmp_client *c, struct pending *p)
{
	TAILQ_INSERT_TAIL(&c->pending, p, entry);
	c->n_pending++;
}

static struct pending *pending_pop(qmp_client *c)
{
	struct pending *p = TAILQ_FIRST(&c->pending);
	if (p) {
		TAILQ_REMOVE(&c->pending, p, entry);
		c->n_pending--;
	}
	return p;
}

static void reply_error(qmp_client *c, struct pending *p, int err)
{
	struct qmp_reply r = {.err = err};
	p->cb(c, &r, p->data);
}

/* Fail every pending command with err, each exactly once. The list is
 * detached first: callbacks may queue or close. */
static void fail_all(qmp_client *c, int err)
{
	struct pending_list list;
	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &c->pending, entry);
	c->n_pending = 0;
	struct pending *p;
	while ((p = TAILQ_FIRST(&list))) {
		TAILQ_REMOVE(&list, p, entry);
		if (!p->timed_out)
			reply_error(c, p, err);
		free(p);
	}
}

/* ---- writing ---- */

static void write_cb(uv_write_t *req, int status)
{
	/* A failed write also shows up as EOF or a read error; the reader
	 * tears the connection down, so nothing more to do here. */
	free(req);
}

static int send_text(qmp_client *c, const char *s, size_t len)
{
	uv_stream_t *stream = (uv_stream_t *)&c->conn->pipe;
	size_t done = 0;

	/* A command nearly always fits the socket buffer: write it at once
	 * when nothing is queued before it, which spares libuv a round of
	 * epoll_ctl per command, and queue only what did not fit. */
	if (uv_stream_get_write_queue_size(stream) == 0) {
		uv_buf_t bufs[2] = {uv_buf_init((char *)s, (unsigned)len),
				    uv_buf_init("\n", 1)};
		int n = uv_try_write(stream, bufs, 2);
		if (n >= 0 && (size_t)n == len + 1)
			return 0;
		if (n < 0 && n != UV_EAGAIN)
			return n;
		done = n > 0 ? (size_t)n : 0;
	}
	size_t left = len + 1 - done;
	struct write_req *w = malloc(sizeof(*w) + left);
	if (!w)
		return -ENOMEM;
	if (done < len)
		memcpy(w->bytes, s + done, len - done);
	w->bytes[left - 1] = '\n';
	uv_buf_t buf = uv_buf_init(w->bytes, (unsigned)left);
	int rc = uv_write(&w->req, stream, &buf, 1, write_cb);
	if (rc) {
		free(w);
		return rc;
	}
	return 0;
}

static int send_json(qmp_client *c, json_object *msg)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
	    msg, JSON_C_TO_STRING_PLAIN, &len);
	return send_text(c, s, len);
}

/* A command's place in the queue once it was written. */
static struct pending *pending_new(qmp_client *c, uint64_t deadline_ms,
				   qmp_reply_cb cb, void *data)
{
	struct pending *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->id = c->next_id++;
	p->deadline_ms = deadline_ms;
	p->cb = cb;
	p->data = data;
	return p;
}

static int enqueue(qmp_client *c, const char *command, json_object *args,
		   uint64_t deadline_ms, qmp_reply_cb cb, void *data)
{
	int rc = -ENOMEM;
	struct pending *p = pending_new(c, deadline_ms, cb, data);
	json_object *msg = json_object_new_object();
	if (!p || !msg)
		goto fail;

	json_object_object_add(msg, "execute", json_object_new_string(command));
	if (args) {
		json_object_object_add(msg, "arguments", args);
		args = NULL;
	}
	json_object_object_add(msg, "id", json_object_new_int64(p->id));
	rc = send_json(c, msg);
	if (rc)
		goto fail;
	json_object_put(msg);
	pending_push(c, p);
	arm_deadline(c);
	return 0;
fail:
	json_object_put(args);
	json_object_put(msg);
	free(p);
	return rc;
}

/* Whether a command name can be written into JSON text as it is. */
static bool plain_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

int qmp_execute_text(qmp_client *c, const char *command, const char *args,
		     uint64_t timeout_ms, qmp_reply_cb cb, void *data)
{
	if (!plain_name(command))
		return -EINVAL;
	if (c->state != ST_READY)
		return -ENOTCONN;
	if (c->n_pending >= c->cfg.max_pending)
		return -EAGAIN;
	if (timeout_ms == 0)
		timeout_ms = c->cfg.command_timeout_ms;
	struct pending *p =
	    pending_new(c, uv_now(c->loop) + timeout_ms, cb, data);
	if (!p)
		return -ENOMEM;
	/* The same members, in the same order, as enqueue's. Written
	 * directly: snprintf cost more than the rest of a command, and a
	 * burst sends a thousand. */
	char id[24], *d = bd_decimal(id + sizeof(id), p->id);
	size_t n_id = (size_t)(id + sizeof(id) - d);
	size_t n_cmd = strlen(command), n_args = args ? strlen(args) : 0;
	static const char head[] = "{\"execute\":\"",
			  mid[] = ",\"arguments\":", tail[] = ",\"id\":";
	size_t n = sizeof(head) - 1 + n_cmd + 1 +
		   (args ? sizeof(mid) - 1 + n_args : 0) + sizeof(tail) - 1 +
		   n_id + 1;
	char stack[256], *msg = n <= sizeof(stack) ? stack : malloc(n);
	int rc = -ENOMEM;
	if (msg) {
		char *w = msg;
		memcpy(w, head, sizeof(head) - 1);
		w += sizeof(head) - 1;
		memcpy(w, command, n_cmd);
		w += n_cmd;
		*w++ = '"';
		if (args) {
			memcpy(w, mid, sizeof(mid) - 1);
			w += sizeof(mid) - 1;
			memcpy(w, args, n_args);
			w += n_args;
		}
		memcpy(w, tail, sizeof(tail) - 1);
		w += sizeof(tail) - 1;
		memcpy(w, d, n_id);
		w += n_id;
		*w++ = '}';
		rc = send_text(c, msg, (size_t)(w - msg));
	}
	if (msg != stack)
		free(msg);
	if (rc) {
		free(p);
		return rc;
	}
	pending_push(c, p);
	arm_deadline(c);
	return 0;
}

int qmp_execute(qmp_client *c, const char *command, json_object *args,
		uint64_t timeout_ms, qmp_reply_cb cb, void *data)
{
	if (c->state != ST_READY) {
		json_object_put(args);
		return -ENOTCONN;
	}
	if (c->n_pending >= c->cfg.max_pending) {
		json_object_put(args);
		return -EAGAIN;
	}
	if (timeout_ms == 0)
		timeout_ms = c->cfg.command_timeout_ms;
	return enqueue(c, command, args, uv_now(c->loop) + timeout_ms, cb,
		       data);
}

/* ---- timers ---- */

static void deadline_cb(uv_timer_t *t)
{
	qmp_client *c = t->data;
	uint64_t now = uv_now(c->loop);

	if (c->state == ST_CONNECTING || c->state == ST_GREETING) {
		conn_drop(c, c->state == ST_CONNECTING ? -ETIMEDOUT
						       : QMP_ERR_NO_GREETING);
		return;
	}
	/* Time out due commands but keep them queued: QEMU still answers in
	 * order, and their late replies must be recognised and discarded. */
	struct conn *conn = c->conn;
	struct pending *p;
	TAILQ_FOREACH (p, &c->pending, entry) {
		if (p->timed_out || p->deadline_ms > now)
			continue;
		p->timed_out = true;
		reply_error(c, p, -ETIMEDOUT);
		if (c->conn != conn || c->state == ST_CLOSING)
			return; /* the callback closed or reset us */
	}
	arm_deadline(c);
}

static void arm_deadline(qmp_client *c)
{
	uint64_t next = UINT64_MAX;
	if (c->state == ST_CONNECTING || c->state == ST_GREETING)
		next = c->greeting_deadline_ms;
	struct pending *p;
	TAILQ_FOREACH (p, &c->pending, entry)
		if (!p->timed_out && p->deadline_ms < next)
			next = p->deadline_ms;
	if (next == UINT64_MAX) {
		uv_timer_stop(&c->timer);
		return;
	}
	uint64_t now = uv_now(c->loop);
	uv_timer_start(&c->timer, deadline_cb, next > now ? next - now : 0, 0);
}

/* ---- connection ---- */

static void conn_close_cb(uv_handle_t *h)
{
	struct conn *conn = h->data;
	qmp_client *c = conn->client;
	free(conn);
	if (c && c->state == ST_CLOSING && --c->closes_pending == 0) {
		if (c->close_cb)
			c->close_cb(c, c->close_data);
		client_free(c);
	}
}

static void conn_detach(qmp_client *c)
{
	struct conn *conn = c->conn;
	if (!conn)
		return;
	c->conn = NULL;
	/* The client only waits for this close when it is itself closing. */
	conn->client = c->state == ST_CLOSING ? c : NULL;
	if (conn->client)
		c->closes_pending++;
	uv_close((uv_handle_t *)&conn->pipe, conn_close_cb);
}

static void retry_cb(uv_timer_t *t);

static void schedule_retry(qmp_client *c)
{
	uint64_t delay = c->backoff_ms;
	c->backoff_ms = delay * 2 > c->cfg.reconnect_max_ms
			    ? c->cfg.reconnect_max_ms
			    : delay * 2;
	uv_timer_start(&c->timer, retry_cb, delay, 0);
}

/* Tear down the current connection attempt or session. */
static void conn_drop(qmp_client *c, int err)
{
	enum state was = c->state;
	if (was == ST_CLOSING || was == ST_IDLE)
		return;
	c->state = ST_IDLE;
	conn_detach(c);
	uv_timer_stop(&c->timer);
	framer_reset(&c->framer);
	memset(&c->greeting, 0, sizeof(c->greeting));

	fail_all(c, err ? err : -ECONNRESET);
	if (c->state != ST_IDLE)
		return; /* a callback closed or restarted us */
	if (c->cbs.disconnect_cb)
		c->cbs.disconnect_cb(c, err, c->data);
	if (c->state == ST_IDLE && c->cfg.reconnect && c->started)
		schedule_retry(c);
}

static void capabilities_cb(qmp_client *c, const struct qmp_reply *r,
			    void *data)
{
	if (r->err) {
		/* The reply's own error (or timeout) ends this attempt. */
		if (c->state == ST_NEGOTIATING)
			conn_drop(c, r->err == -ETIMEDOUT ? QMP_ERR_NO_GREETING
							  : r->err);
		return;
	}
	c->state = ST_READY;
	c->backoff_ms = c->cfg.reconnect_min_ms;
	if (c->cbs.ready_cb)
		c->cbs.ready_cb(c, c->data);
}

static int handle_greeting(qmp_client *c, const struct qmp_message *m)
{
	if (m->kind != QMP_MSG_GREETING)
		return QMP_ERR_PROTOCOL;
	int rc = qmp_greeting_parse(m->greeting, &c->greeting);
	if (rc)
		return rc;
	c->state = ST_NEGOTIATING;
	return enqueue(c, "qmp_capabilities", NULL, c->greeting_deadline_ms,
		       capabilities_cb, NULL);
}

static void set_last_error(qmp_client *c, const struct qmp_message *m)
{
	char text[256];
	snprintf(text, sizeof(text), "%s: %s", m->error_class, m->error_desc);
	char *copy = strdup(text);
	if (!copy)
		return; /* the previous one stays */
	free(c->last_error);
	c->last_error = copy;
}

static int handle_reply(qmp_client *c, const struct qmp_message *m)
{
	struct pending *p = TAILQ_FIRST(&c->pending);
	if (!p || !m->has_id || m->id != p->id)
		return QMP_ERR_PROTOCOL;
	pending_pop(c);
	arm_deadline(c);
	if (!p->timed_out) {
		struct qmp_reply r = {0};
		if (m->kind == QMP_MSG_RETURN) {
			r.ret = m->ret;
		} else {
			r.err = QMP_ERR_COMMAND;
			if (strcmp(m->error_class, "DeviceNotActive") == 0)
				r.err = QMP_ERR_NO_BALLOON;
			r.error_class = m->error_class;
			r.error_desc = m->error_desc;
			set_last_error(c, m);
		}
		p->cb(c, &r, p->data);
	}
	free(p);
	return 0;
}

/* Events: a sorted name table; the typed handlers convert units. */
static void ev_balloon_change(qmp_client *c, const struct qmp_message *m)
{
	json_object *actual = NULL;
	if (c->cbs.balloon_change_cb && m->event_data &&
	    json_object_object_get_ex(m->event_data, "actual", &actual) &&
	    json_object_is_type(actual, json_type_int) &&
	    json_object_get_int64(actual) >= 0)
		c->cbs.balloon_change_cb(c, json_object_get_uint64(actual),
					 c->data);
}

static void ev_reset(qmp_client *c, const struct qmp_message *m)
{
	if (c->cbs.reset_cb)
		c->cbs.reset_cb(c, c->data);
}

static const struct event_handler {
	const char *name;
	void (*handle)(qmp_client *c, const struct qmp_message *m);
} event_table[] = {
    /* Keep sorted by name: looked up with bsearch. */
    {"BALLOON_CHANGE", ev_balloon_change},
    {"RESET", ev_reset},
};

static int event_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct event_handler *)elem)->name);
}

static void handle_event(qmp_client *c, const struct qmp_message *m)
{
	const struct event_handler *h = bsearch(
	    m->event, event_table, sizeof(event_table) / sizeof(event_table[0]),
	    sizeof(event_table[0]), event_cmp);
	if (h)
		h->handle(c, m);
	if (c->state != ST_CLOSING && c->state != ST_IDLE && c->cbs.event_cb)
		c->cbs.event_cb(c, m->event, m->event_data, m->timestamp_us,
				c->data);
}

/* One complete message from the framer. Nonzero stops the feed. */
static int on_line(char *line, size_t len, void *data)
{
	qmp_client *c = data;
	struct qmp_message m;
	int rc = qmp_message_parse(line, len, &m);
	if (rc == 0) {
		switch (c->state) {
		case ST_GREETING:
			rc = handle_greeting(c, &m);
			break;
		case ST_NEGOTIATING:
		case ST_READY:
			if (m.kind == QMP_MSG_EVENT)
				handle_event(c, &m);
			else if (m.kind == QMP_MSG_GREETING)
				rc = QMP_ERR_PROTOCOL;
			else
				rc = handle_reply(c, &m);
			break;
		default:
			break;
		}
		json_object_put(m.root);
	}
	if (rc) {
		conn_drop(c, rc);
		return rc;
	}
	/* A callback may have closed or reset the client (which resets or
	 * frees the framer): stop feeding at once. */
	return c->state < ST_GREETING || c->state == ST_CLOSING ? 1 : 0;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	*buf = uv_buf_init(read_buf, READ_BUF_BYTES);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *conn = s->data;
	qmp_client *c = conn->client;
	if (!c || c->conn != conn || n == 0)
		return;
	if (n < 0) {
		conn_drop(c, n == UV_EOF ? -ECONNRESET : (int)n);
		return;
	}
	int rc = framer_feed(&c->framer, buf->base, (size_t)n, on_line, c);
	if (rc == -EMSGSIZE)
		conn_drop(c, QMP_ERR_TOO_LONG);
	else if (rc < 0 && rc != QMP_ERR_PROTOCOL && rc > QMP_ERR_BASE)
		conn_drop(c, rc); /* -ENOMEM */
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct conn *conn = req->data;
	free(req);
	qmp_client *c = conn->client;
	if (!c || c->conn != conn)
		return; /* abandoned: closing or reset meanwhile */
	if (status) {
		conn_drop(c, status);
		return;
	}
	int rc = uv_read_start((uv_stream_t *)&conn->pipe, alloc_cb, read_cb);
	if (rc) {
		conn_drop(c, rc);
		return;
	}
	c->state = ST_GREETING;
	arm_deadline(c);
}

static int conn_open(qmp_client *c)
{
	struct conn *conn = calloc(1, sizeof(*conn));
	/* Freed by connect_cb, which libuv calls in any case (with
	 * UV_ECANCELED if the pipe is closed first, before its close
	 * callback). */
	uv_connect_t *req = malloc(sizeof(*req));
	if (!conn || !req) {
		free(conn);
		free(req);
		return -ENOMEM;
	}
	int rc = uv_pipe_init(c->loop, &conn->pipe, 0);
	if (rc) {
		free(conn);
		free(req);
		return rc;
	}
	conn->pipe.data = conn;
	req->data = conn;
	conn->client = c;
	c->conn = conn;
	c->state = ST_CONNECTING;
	/* The framer is empty here: a new cap is safe (set_config). */
	c->framer.max_bytes = c->cfg.max_message_bytes;
	c->greeting_deadline_ms = uv_now(c->loop) + c->cfg.greeting_timeout_ms;
	/* The greeting deadline covers connect, greeting and negotiation. */
	uv_pipe_connect(req, &conn->pipe, c->path, connect_cb);
	arm_deadline(c);
	return 0;
}

static void retry_cb(uv_timer_t *t)
{
	qmp_client *c = t->data;
	if (c->state != ST_IDLE)
		return;
	int rc = conn_open(c);
	if (rc) {
		if (c->cbs.disconnect_cb)
			c->cbs.disconnect_cb(c, rc, c->data);
		if (c->state == ST_IDLE && c->cfg.reconnect)
			schedule_retry(c);
	}
}

/* ---- public life cycle ---- */

static bool config_ok(const struct qmp_config *cfg)
{
	return cfg->max_message_bytes >= 64 && cfg->max_pending > 0 &&
	       cfg->reconnect_min_ms > 0 &&
	       cfg->reconnect_max_ms >= cfg->reconnect_min_ms;
}

int qmp_client_new(uv_loop_t *loop, const struct qmp_config *cfg,
		   const struct qmp_callbacks *cbs, void *data,
		   qmp_client **out)
{
	if (!cfg->socket_path || !*cfg->socket_path)
		return -EINVAL;
	if (strlen(cfg->socket_path) >=
	    sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	if (!config_ok(cfg))
		return -EINVAL;

	qmp_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->path = strdup(cfg->socket_path);
	if (!c->path || read_buf_hold()) {
		free(c->path);
		free(c);
		return -ENOMEM;
	}
	c->loop = loop;
	c->cfg = *cfg;
	c->cfg.socket_path = c->path;
	if (cbs)
		c->cbs = *cbs;
	c->data = data;
	c->next_id = 1;
	TAILQ_INIT(&c->pending);
	c->backoff_ms = cfg->reconnect_min_ms;
	framer_init(&c->framer, cfg->max_message_bytes);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	*out = c;
	return 0;
}

int qmp_client_start(qmp_client *c)
{
	if (c->state != ST_IDLE)
		return c->state == ST_CLOSING ? -EINVAL : 0;
	c->started = true;
	uv_timer_stop(&c->timer); /* idle: a reconnect's backoff */
	int rc = conn_open(c);
	if (rc && c->cfg.reconnect) {
		schedule_retry(c);
		return 0;
	}
	return rc;
}

int qmp_client_set_config(qmp_client *c, const struct qmp_config *cfg)
{
	if (!config_ok(cfg) || c->state == ST_CLOSING)
		return -EINVAL;
	struct qmp_config keep = c->cfg;
	c->cfg = *cfg;
	c->cfg.socket_path = keep.socket_path;
	c->cfg.reconnect = keep.reconnect;
	if (c->backoff_ms > cfg->reconnect_max_ms)
		c->backoff_ms = cfg->reconnect_max_ms;
	if (c->state == ST_IDLE && uv_is_active((uv_handle_t *)&c->timer) &&
	    uv_timer_get_due_in(&c->timer) > cfg->reconnect_max_ms)
		uv_timer_start(&c->timer, retry_cb, cfg->reconnect_max_ms, 0);
	return 0;
}

void qmp_client_reset(qmp_client *c)
{
	conn_drop(c, -ECONNRESET);
}

static void timer_close_cb(uv_handle_t *h)
{
	qmp_client *c = h->data;
	if (--c->closes_pending == 0) {
		if (c->close_cb)
			c->close_cb(c, c->close_data);
		client_free(c);
	}
}

void qmp_client_close(qmp_client *c, qmp_close_cb close_cb, void *data)
{
	if (c->state == ST_CLOSING)
		return;
	c->state = ST_CLOSING;
	c->close_cb = close_cb;
	c->close_data = data;
	/* Freed when the timer and the pipe have closed; close callbacks
	 * run on a later loop turn, never inside this call. */
	c->closes_pending = 1;
	uv_close((uv_handle_t *)&c->timer, timer_close_cb);
	conn_detach(c);
	fail_all(c, -ECANCELED);
	framer_free(&c->framer);
	free(c->path);
	c->path = NULL;
	free(c->last_error);
	c->last_error = NULL;
}

bool qmp_client_is_ready(const qmp_client *c)
{
	return c->state == ST_READY;
}

const struct qmp_greeting *qmp_client_greeting(const qmp_client *c)
{
	return c->state == ST_READY || c->state == ST_NEGOTIATING ? &c->greeting
								  : NULL;
}

const char *qmp_client_last_error(const qmp_client *c)
{
	return c->last_error ? c->last_error : "";
}

const char *qmp_client_socket_path(const qmp_client *c)
{
	return c->path;
}

void *qmp_client_data(const qmp_client *c)
{
	return c->data;
}
