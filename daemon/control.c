/*
 * control.c: the control socket. Accepts clients (root, the daemon's own
 * user, or members of control_group: checked from the peer's credentials;
 * members of role_group may send Patroni role notifications only), frames their
 * newline-delimited JSON requests, and answers them in the order they came,
 * whatever order their answers are ready in (a `set` waits for the disk, a
 * `register` for QEMU): each request takes a slot in its connection's queue,
 * and a slot leaves only when it and every slot before it are filled. A client
 * that half-closes after its requests still gets every reply. Output is queued
 * without ever blocking the loop: a client (a monitor) that stops reading is
 * dropped once more than client_max_queued is waiting for it, with the reason
 * logged.
 *
 * With role_group the socket is open to anyone, so no peer with fewer rights
 * may take what root needs: a refused peer is closed once its error is
 * written; a uid other than root's has at most max_conns_per_uid connections
 * and never one of the last root_reserve_fds descriptors; a connection that
 * asks nothing for idle_timeout_ms is closed (monitors excepted); and a peer
 * is judged from its credentials and the group ids resolved at start and on
 * reload, with no name-service lookup on the loop.
 */
#include "server.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proto/framer.h"
#include "proto/jsonprint.h"
#include "proto/proto.h"
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* Requests taken before their replies are written: past this a client's
 * reading is paused (backpressure), so a pipelining client cannot grow
 * the queue without bound while one reply waits for QEMU. */
#define CONN_MAX_SLOTS 1024

/* One request's place in its connection's order. */
struct slot {
	uint64_t seq;
	int64_t id; /* the request's id, for an error in its place */
	char *msg;  /* the reply's text; NULL until it is ready
		     * (text, not a json-c tree: 1,000 pipelined
		     * registrations hold 1,000 replies) */
	size_t len;
	uint64_t persist_gen; /* wait for this state generation; 0: none */
	/* A reply that waits for the disk is counted once it is final:
	 * written as it is, or turned into an error (its method and the
	 * result it has until then). */
	bool uncounted;
	int method;
	enum bd_req_result result;
	TAILQ_ENTRY(slot) entry;
};

/* What a peer may ask for, from its credentials. */
enum peer_rights {
	PEER_NONE,
	PEER_ROLE, /* role_group: Patroni role notifications only */
	PEER_ALL,
};

struct conn {
	uv_pipe_t pipe;
	struct bd *bd;
	enum peer_rights rights;
	uid_t uid; /* the peer's, from its credentials */
	uint64_t id;
	int64_t active_us; /* monotonic: accepted, or its last request or
			    * reply; idle_timeout_ms counts from here */
	struct framer framer;
	TAILQ_HEAD(slot_list, slot) slots; /* requests in arrival order */
	size_t n_slots;
	uint64_t next_seq;
	bool reading_paused; /* CONN_MAX_SLOTS reached */
	bool monitor;	     /* subscribed to events */
	bool eof;	     /* the client shut down its write side */
	bool draining;	     /* after a final error: discard input */
	bool ending;	     /* shutdown requested */
	bool closing;
	bool reading; /* in read_cb: its replies are flushed at its end */
	TAILQ_ENTRY(conn) entry;
	char rbuf[16384];
};

/* A configured group, resolved to its id at start and on reload. */
struct group_id {
	gid_t gid;
	bool known; /* "" or no such group: nobody is its member */
};

struct bd_control {
	uv_pipe_t server;
	bool server_open;
	bool bound; /* we created the socket file (so we remove it) */
	TAILQ_HEAD(, conn) conns;
	uint64_t next_id;
	size_t n_monitors;
	struct bd_subscriber events; /* feeds the monitors */
	struct group_id control_gid, role_gid;
	bool peergroups_failed; /* SO_PEERGROUPS refused (said once) */
	uv_timer_t idle_timer;	/* the next idle deadline */
	int closes_pending;	/* the server and the timer */
	/* Refusals are logged at most once a second (a flood of them must
	 * not flood the journal), with how many went unsaid. */
	int64_t refused_said_us;
	unsigned refused_unsaid;
};

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static struct conn *conn_find(struct bd *bd, uint64_t id)
{
	if (!bd->control)
		return NULL;
	struct conn *c;
	TAILQ_FOREACH (c, &bd->control->conns, entry)
		if (c->id == id && !c->closing)
			return c;
	return NULL;
}

/* The result the metrics count a reply as. */
static enum bd_req_result reply_result(json_object *msg)
{
	json_object *err, *code;
	if (!json_object_object_get_ex(msg, "error", &err))
		return BD_REQ_OK;
	if (json_object_object_get_ex(err, "code", &code) &&
	    strcmp(json_object_get_string(code), BD_E_PERMISSION) == 0)
		return BD_REQ_REFUSED;
	return BD_REQ_ERROR;
}

static void slot_count(struct bd *bd, struct slot *sl)
{
	if (!sl->uncounted)
		return;
	sl->uncounted = false;
	bd_metrics_request(bd, sl->method, sl->result);
}

static void conn_closed_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	framer_free(&c->framer);
	struct slot *sl;
	while ((sl = TAILQ_FIRST(&c->slots))) {
		TAILQ_REMOVE(&c->slots, sl, entry);
		/* The client left before its reply was final: counted as it
		 * stands. */
		slot_count(c->bd, sl);
		free(sl->msg);
		free(sl);
	}
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	struct bd_control *ctl = c->bd->control;
	if (c->monitor)
		ctl->n_monitors--;
	c->monitor = false;
	TAILQ_REMOVE(&ctl->conns, c, entry);
	uv_close((uv_handle_t *)&c->pipe, conn_closed_cb);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	free(req);
	/* After the client's EOF, or on error: done. After a final error
	 * reply: wait for the client's EOF (read_cb), so that what it still
	 * sends cannot turn our close into a reset that loses the reply. */
	if (status < 0 || c->eof)
		conn_close(c);
}

/* Write what is queued, then shut down our write side. */
static void conn_end(struct conn *c)
{
	if (c->ending || c->closing)
		return;
	c->ending = true;
	if (c->monitor)
		c->bd->control->n_monitors--;
	c->monitor = false;
	uv_shutdown_t *req = malloc(sizeof(*req));
	if (!req || uv_shutdown(req, (uv_stream_t *)&c->pipe, shutdown_cb)) {
		free(req);
		conn_close(c);
		return;
	}
	req->data = c;
}

/* End a connection after a final error: what is queued is written, and
 * whatever else the client sends is read and dropped until it closes. */
static void conn_close_after_flush(struct conn *c)
{
	c->draining = true;
	/* Else once the replies still owed are written. */
	if (TAILQ_EMPTY(&c->slots))
		conn_end(c);
}

struct wreq {
	uv_write_t req;
	char bytes[];
};

static void write_cb(uv_write_t *req, int status)
{
	free(req);
}

static void conn_write(struct conn *c, const char *s, size_t len)
{
	if (c->closing || c->ending)
		return;
	size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
	if (queued + len > c->bd->conf.client_max_queued_bytes) {
		bd_warn(
		    "control client %llu%s is not reading: %zu bytes "
		    "queued for it (client_max_queued %llu); dropping it",
		    (unsigned long long)c->id, c->monitor ? " (a monitor)" : "",
		    queued,
		    (unsigned long long)c->bd->conf.client_max_queued_bytes);
		conn_close(c);
		return;
	}
	struct wreq *w = malloc(sizeof(*w) + len + 1);
	if (!w) {
		conn_close(c);
		return;
	}
	memcpy(w->bytes, s, len);
	w->bytes[len] = '\n';
	uv_buf_t buf = uv_buf_init(w->bytes, (unsigned)len + 1);
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, write_cb)) {
		free(w);
		conn_close(c);
	}
}

static void conn_send(struct conn *c, json_object *msg)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
	    msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	conn_write(c, s, len);
	json_object_put(msg);
}

/* ---- replies, in request order ---- */

static struct slot *slot_new(struct conn *c, int64_t id)
{
	struct slot *sl = calloc(1, sizeof(*sl));
	if (!sl)
		return NULL;
	sl->seq = ++c->next_seq;
	sl->id = id;
	TAILQ_INSERT_TAIL(&c->slots, sl, entry);
	c->n_slots++;
	if (c->n_slots >= CONN_MAX_SLOTS && !c->reading_paused) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading_paused = true;
	}
	return sl;
}

/* Keep a reply as text. Takes msg. False when out of memory (the
 * connection cannot keep its order then, and is dropped). */
static bool slot_fill(struct slot *sl, json_object *msg)
{
	sl->msg = bd_json_plain(msg, &sl->len);
	json_object_put(msg);
	return sl->msg != NULL;
}

static void idle_arm(struct bd *bd);

static bool slot_ready(const struct slot *sl, uint64_t saved)
{
	return sl->msg && (!sl->persist_gen || sl->persist_gen <= saved);
}

/* Write every reply at the head of the queue that is ready, in order. When
 * several are (a pipelined burst whose replies waited for the same save),
 * they go out as one write: 1,000 replies are one write() instead of
 * 1,000. Should they not fit under client_max_queued, each goes on its
 * own as before, so that the client gets those that fit before it is
 * dropped. */
static void conn_flush(struct conn *c)
{
	uint64_t saved = bd_state_saved(c->bd);
	bool wrote = false;
	struct slot *sl;
	size_t n = 0, total = 0;
	TAILQ_FOREACH (sl, &c->slots, entry) {
		if (!slot_ready(sl, saved))
			break;
		n++;
		total += sl->len + 1;
	}
	struct wreq *w = NULL;
	if (n > 1 && !c->closing && !c->ending && total <= UINT_MAX &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) + total <=
		c->bd->conf.client_max_queued_bytes)
		w = malloc(sizeof(*w) + total);
	size_t off = 0;
	for (; n > 0 && !c->closing && (sl = TAILQ_FIRST(&c->slots)); n--) {
		TAILQ_REMOVE(&c->slots, sl, entry);
		c->n_slots--;
		slot_count(c->bd, sl);
		if (w) {
			memcpy(w->bytes + off, sl->msg, sl->len);
			off += sl->len;
			w->bytes[off++] = '\n';
		} else {
			conn_write(c, sl->msg, sl->len);
		}
		free(sl->msg);
		free(sl);
		wrote = true;
	}
	if (w) {
		uv_buf_t buf = uv_buf_init(w->bytes, (unsigned)off);
		if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1,
			     write_cb)) {
			free(w);
			conn_close(c);
		}
	}
	if (c->closing)
		return;
	if (wrote && TAILQ_EMPTY(&c->slots)) {
		/* Nothing owed any more: its idle time starts now. */
		c->active_us = bd_mono_us(c->bd);
		idle_arm(c->bd);
	}
	if (c->reading_paused && c->n_slots < CONN_MAX_SLOTS / 2 && !c->eof) {
		c->reading_paused = false;
		uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
	}
	if ((c->eof || c->draining) && TAILQ_EMPTY(&c->slots))
		conn_end(c);
}

static void log_spool_reply(json_object *msg)
{
	json_object *err;
	if (json_object_object_get_ex(msg, "error", &err))
		bd_warn("spooled request failed: %s",
			json_object_to_json_string(err));
}

/* The slot of the request a reply is for, or NULL (after saying so
 * when the request has its reply already). */
static struct slot *reply_slot(struct conn *c, struct bd_reply_to to)
{
	/* Most replies are for the request just dispatched, the newest: the
	 * search starts at the tail, so that a pipelined burst whose replies
	 * wait for the disk is not a walk of every earlier slot each. */
	struct slot *sl = TAILQ_LAST(&c->slots, slot_list);
	while (sl && sl->seq > to.seq)
		sl = TAILQ_PREV(sl, slot_list, entry);
	if (sl && sl->seq != to.seq)
		sl = NULL;
	if (!sl || sl->msg) {
		bd_err("internal: a second reply for request %llu of client "
		       "%llu",
		       (unsigned long long)to.seq, (unsigned long long)to.conn);
		return NULL;
	}
	return sl;
}

/* A slot's reply is in sl->msg (NULL: out of memory, and the connection
 * is dropped, as it cannot keep its order). */
static void reply_filled(struct bd *bd, struct conn *c, struct slot *sl,
			 struct bd_reply_to to, enum bd_req_result result,
			 uint64_t persist_gen)
{
	/* Final now, or once on disk (bd_control_persisted may still turn
	 * it into an error). */
	sl->method = to.method;
	sl->result = result;
	sl->uncounted = true;
	if (!persist_gen)
		slot_count(bd, sl);
	if (!sl->msg) {
		conn_close(c);
		return;
	}
	sl->persist_gen = persist_gen;
	/* The replies to the requests of one read go out together, once it
	 * is taken (read_cb). Not a monitor's: events are written to it as
	 * they come, and none may overtake the reply to its subscription. */
	if (!c->reading || c->monitor)
		conn_flush(c);
}

void bd_control_reply(struct bd *bd, struct bd_reply_to to, json_object *msg,
		      uint64_t persist_gen)
{
	struct conn *c = to.conn ? conn_find(bd, to.conn) : NULL;
	enum bd_req_result result = reply_result(msg);
	if (!c) {
		/* A spool request, or the client left. */
		bd_metrics_request(bd, to.method, result);
		if (!to.conn)
			log_spool_reply(msg);
		json_object_put(msg);
		return;
	}
	struct slot *sl = reply_slot(c, to);
	if (!sl) {
		json_object_put(msg);
		return;
	}
	slot_fill(sl, msg);
	reply_filled(bd, c, sl, to, result, persist_gen);
}

void bd_control_reply_text(struct bd *bd, struct bd_reply_to to, char *text,
			   size_t len, uint64_t persist_gen)
{
	struct conn *c = to.conn ? conn_find(bd, to.conn) : NULL;
	struct slot *sl = c ? reply_slot(c, to) : NULL;
	if (!sl) {
		/* A spool request (a result is not logged), the client
		 * left, or a second reply. */
		if (!c)
			bd_metrics_request(bd, to.method, BD_REQ_OK);
		free(text);
		return;
	}
	sl->msg = text;
	sl->len = len;
	reply_filled(bd, c, sl, to, BD_REQ_OK, persist_gen);
}

void bd_control_persisted(struct bd *bd, uint64_t gen, int err)
{
	struct bd_control *ctl = bd->control;
	if (!ctl)
		return;
	char text[256];
	snprintf(text, sizeof(text),
		 "the change is in effect but could not be saved to disk (%s); "
		 "balloond keeps trying",
		 strerror(-err));
	struct conn *c = TAILQ_FIRST(&ctl->conns), *next;
	for (; c; c = next) {
		next = TAILQ_NEXT(c, entry); /* flushing may drop c */
		bool ok = true;
		/* Never say "done" for what is not on disk. */
		for (struct slot *sl = TAILQ_FIRST(&c->slots); err && sl && ok;
		     sl = TAILQ_NEXT(sl, entry)) {
			if (!sl->msg || !sl->persist_gen ||
			    sl->persist_gen > gen)
				continue;
			free(sl->msg);
			sl->msg = NULL;
			sl->persist_gen = 0;
			sl->result = BD_REQ_ERROR;
			slot_count(c->bd, sl);
			ok = slot_fill(
			    sl, bd_error_new(sl->id, BD_E_INTERNAL, text));
		}
		if (ok)
			conn_flush(c);
		else
			conn_close(c);
	}
}

/* ---- monitors: one subscriber of the event stream ---- */

static bool monitors_wanted(struct bd *bd, void *arg)
{
	return bd->control && bd->control->n_monitors > 0;
}

static void monitor_event(struct bd *bd, const struct bd_event *ev, void *arg)
{
	json_object *msg = bd_event_json(ev);
	size_t len;
	const char *s = json_object_to_json_string_length(
	    msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	struct conn *c = TAILQ_FIRST(&bd->control->conns), *next;
	for (; c; c = next) {
		next = TAILQ_NEXT(c, entry); /* conn_write may drop c */
		if (c->monitor)
			conn_write(c, s, len);
	}
	json_object_put(msg);
}

int bd_control_subscribe(struct bd *bd, uint64_t conn_id)
{
	struct conn *c = conn_find(bd, conn_id);
	if (!c)
		return -ENOENT;
	if (!c->monitor)
		bd->control->n_monitors++;
	c->monitor = true;
	return 0;
}

/* ---- reading requests ---- */

static int on_line(char *line, size_t len, void *data)
{
	struct conn *c = data;
	struct bd_request req;
	int64_t id;
	char msg[256];
	uint64_t conn_id = c->id;
	const char *code =
	    bd_request_parse(line, len, &req, &id, msg, sizeof(msg));
	struct slot *sl = slot_new(c, id);
	if (!sl) {
		json_object_put(req.root);
		conn_close(c);
		return 1;
	}
	/* A request that could not be read has no method. */
	struct bd_reply_to to = {conn_id, sl->seq,
				 code ? BD_M_COUNT : req.method};
	c->active_us = bd_mono_us(c->bd);
	if (!code && c->rights == PEER_ROLE && req.method != BD_M_ROLE) {
		code = BD_E_PERMISSION;
		snprintf(msg, sizeof(msg),
			 "%s: members of role_group '%s' may send role "
			 "notifications only",
			 bd_method_name(req.method), c->bd->conf.role_group);
		json_object_put(req.root);
	}
	if (code) {
		bd_control_reply(c->bd, to, bd_error_new(id, code, msg), 0);
	} else {
		bd_method_dispatch(c->bd, to, req.id, req.method, req.params);
		json_object_put(req.root);
	}
	/* The dispatch may have dropped this connection. Reaching
	 * CONN_MAX_SLOTS pauses reading from the next read on: the rest of
	 * this chunk (16 KiB, a few hundred requests at most) is taken. */
	return conn_find(c->bd, conn_id) ? 0 : 1;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	if (n == 0 || c->closing)
		return;
	if (n == UV_EOF) {
		/* A half-close: the replies still owed go out first. */
		c->eof = true;
		uv_read_stop(s);
		if (c->draining)
			conn_close(c);
		else
			conn_flush(c);
		return;
	}
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (c->draining)
		return;
	c->reading = true;
	int rc = framer_feed(&c->framer, buf->base, (size_t)n, on_line, c);
	c->reading = false;
	/* A read that filled the buffer is part of a pipelined burst, whose
	 * rest libuv reads in this same turn (up to 32 reads): what this
	 * part changed goes to QEMU now, not once the last request of 1,000
	 * sets is parsed, while the other core could be carrying the first
	 * guests' commands out (bench/burst.py). Requests that come a few to
	 * a read, from many clients at once (hooks at a host's shutdown),
	 * still share one replan at the end of the turn. */
	if ((size_t)n == sizeof(c->rbuf))
		bd_replan_now(c->bd);
	/* c is still allocated: a connection closed meanwhile is freed only
	 * in the loop's closing phase. */
	if (!c->closing)
		conn_flush(c);
	if (rc == -EMSGSIZE) {
		char msg[96];
		snprintf(msg, sizeof(msg),
			 "request longer than %d bytes; "
			 "closing the connection",
			 BD_MAX_REQUEST_BYTES);
		struct slot *sl = slot_new(c, -1);
		if (sl)
			bd_control_reply(
			    c->bd,
			    (struct bd_reply_to){c->id, sl->seq, BD_M_COUNT},
			    bd_error_new(-1, BD_E_TOO_LONG, msg), 0);
		if (!c->closing)
			conn_close_after_flush(c);
	} else if (rc < 0) {
		conn_close(c);
	}
}

/* ---- refusing, and closing idle connections ---- */

/* Refusals, at most one log line a second. */
static void say_refused(struct bd *bd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say_refused(struct bd *bd, const char *fmt, ...)
{
	struct bd_control *ctl = bd->control;
	int64_t now = bd_mono_us(bd);
	if (ctl->refused_said_us && now - ctl->refused_said_us < 1000000) {
		ctl->refused_unsaid++;
		return;
	}
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (ctl->refused_unsaid)
		bd_warn("control socket: %s (and %u more refused since the "
			"last such line)",
			text, ctl->refused_unsaid);
	else
		bd_warn("control socket: %s", text);
	ctl->refused_said_us = now;
	ctl->refused_unsaid = 0;
}

/* A peer that is not served gets one error and is closed: none of its
 * requests is read, and none of its descriptors kept waiting for it to
 * hang up. The error is written at once if it can be (a short line into
 * an empty socket buffer) and the descriptor closed at once: libuv accepts
 * a whole burst of connections in one go, and refused ones left to a
 * later loop turn would use up the descriptors meanwhile. An idle peer
 * whose socket buffer is full (it does not read) gets no error: queued,
 * the error would wait for a read that never comes, and keep the
 * descriptor with no idle deadline left to close it. */
static void conn_refuse(struct conn *c, const char *code, const char *text)
{
	json_object *msg = bd_error_new(-1, code, text);
	size_t len;
	const char *s = json_object_to_json_string_length(
	    msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	char line[512];
	if (len < sizeof(line)) {
		memcpy(line, s, len);
		line[len] = '\n';
		uv_buf_t buf = uv_buf_init(line, (unsigned)len + 1);
		/* Whole, cut (never seen), or not written: closed alike. */
		uv_try_write((uv_stream_t *)&c->pipe, &buf, 1);
	}
	conn_close(c);
	json_object_put(msg);
}

/* Asking nothing, owed nothing, and not a monitor (which waits for events
 * by design). A connection whose replies are still being written but
 * which asks nothing more is idle too: it is the peer that does not read. */
static bool conn_idle(const struct conn *c)
{
	return !c->monitor && TAILQ_EMPTY(&c->slots) && !c->closing;
}

static void conn_expire(struct conn *c)
{
	struct bd *bd = c->bd;
	bd_debug("control client %llu (uid %u): idle for %llu ms "
		 "(idle_timeout_ms): closing it",
		 (unsigned long long)c->id, (unsigned)c->uid,
		 (unsigned long long)bd->conf.idle_timeout_ms);
	if (c->ending ||
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > 0) {
		conn_close(c);
		return;
	}
	char msg[128];
	snprintf(msg, sizeof(msg),
		 "idle for %llu ms (idle_timeout_ms): balloond closes the "
		 "connection",
		 (unsigned long long)bd->conf.idle_timeout_ms);
	conn_refuse(c, BD_E_UNAVAILABLE, msg);
}

/* One timer for every connection: it fires at the earliest deadline,
 * closes what is due and sets itself for the next. */
static void idle_cb(uv_timer_t *t)
{
	struct bd *bd = t->data;
	struct bd_control *ctl = bd->control;
	int64_t now = bd_mono_us(bd);
	int64_t timeout_us = (int64_t)bd->conf.idle_timeout_ms * 1000;
	int64_t next = INT64_MAX;
	struct conn *c = TAILQ_FIRST(&ctl->conns), *after;
	for (; c; c = after) {
		after = TAILQ_NEXT(c, entry); /* expiring may drop c */
		if (!conn_idle(c))
			continue;
		int64_t due = c->active_us + timeout_us;
		if (due <= now)
			conn_expire(c);
		else if (due < next)
			next = due;
	}
	if (next != INT64_MAX)
		uv_timer_start(t, idle_cb, (uint64_t)(next - now + 999) / 1000,
			       0);
}

/* A connection just became idle: its deadline is idle_timeout_ms away, no
 * sooner than the timer's (which is never set further out than that). */
static void idle_arm(struct bd *bd)
{
	struct bd_control *ctl = bd->control;
	if (!uv_is_active((uv_handle_t *)&ctl->idle_timer))
		uv_timer_start(&ctl->idle_timer, idle_cb,
			       bd->conf.idle_timeout_ms, 0);
}

/* ---- accepting ---- */

static void resolve_group(const char *key, const char *name,
			  struct group_id *out)
{
	out->known = false;
	if (!name[0])
		return;
	struct group *gr = getgrnam(name);
	if (!gr) {
		bd_warn("%s %s: no such group: nobody is let in as its "
			"member",
			key, name);
		return;
	}
	out->gid = gr->gr_gid;
	out->known = true;
}

/* The only name-service lookups of the control socket: at start and on
 * reload, on the loop (once), never per connection. */
static void resolve_groups(struct bd *bd)
{
	struct bd_control *ctl = bd->control;
	resolve_group("control_group", bd->conf.control_group,
		      &ctl->control_gid);
	resolve_group("role_group", bd->conf.role_group, &ctl->role_gid);
}

void bd_control_reload(struct bd *bd)
{
	if (bd->control)
		resolve_groups(bd);
}

/* The peer's supplementary groups as the kernel recorded them at its
 * connect() (SO_PEERGROUPS, Linux 4.13): no name service, and no race with
 * a process that changes its groups or exits meanwhile. Into buf (cap
 * entries), or a malloc()ed array when they do not fit. -errno. */
static int peer_groups(int fd, gid_t *buf, size_t cap, gid_t **groups,
		       size_t *n)
{
	gid_t *g = buf;
	socklen_t len = (socklen_t)(cap * sizeof(gid_t));
	for (;;) {
		socklen_t got = len;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &got) == 0) {
			*groups = g;
			*n = got / sizeof(gid_t);
			return 0;
		}
		int err = errno;
		if (g != buf)
			free(g);
		/* ERANGE tells the size needed in got. */
		if (err != ERANGE || got <= len)
			return -err;
		len = got;
		if (!(g = malloc(len)))
			return -ENOMEM;
	}
}

static bool holds(const struct group_id *want, gid_t primary,
		  const gid_t *groups, size_t n)
{
	if (!want->known)
		return false;
	if (primary == want->gid)
		return true;
	for (size_t i = 0; i < n; i++)
		if (groups[i] == want->gid)
			return true;
	return false;
}

static bool is_root(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* What a peer may do: everything (root, balloond's own user and
 * control_group), push roles only (role_group), or nothing. */
static enum peer_rights peer_rights(struct bd *bd, int fd, struct ucred *cred)
{
	struct bd_control *ctl = bd->control;
	socklen_t len = sizeof(*cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
		return PEER_NONE;
	if (is_root(cred->uid))
		return PEER_ALL;
	if (!ctl->control_gid.known && !ctl->role_gid.known)
		return PEER_NONE;
	gid_t buf[64], *groups = buf;
	size_t n = 0;
	int rc = peer_groups(fd, buf, sizeof(buf) / sizeof(*buf), &groups, &n);
	if (rc < 0) {
		if (!ctl->peergroups_failed)
			bd_warn("control socket: a peer's supplementary groups "
				"cannot be read (SO_PEERGROUPS: %s): only "
				"peers' primary groups count",
				strerror(-rc));
		ctl->peergroups_failed = true;
		groups = buf;
		n = 0;
	}
	enum peer_rights rights =
	    holds(&ctl->control_gid, cred->gid, groups, n) ? PEER_ALL
	    : holds(&ctl->role_gid, cred->gid, groups, n)  ? PEER_ROLE
							   : PEER_NONE;
	if (groups != buf)
		free(groups);
	return rights;
}

static size_t conns_of(const struct bd_control *ctl, uid_t uid)
{
	size_t n = 0;
	const struct conn *c;
	TAILQ_FOREACH (c, &ctl->conns, entry)
		n += c->uid == uid && c->rights != PEER_NONE;
	return n;
}

/* accept() gives the lowest free descriptor, so when fd is among the last
 * root_reserve_fds below RLIMIT_NOFILE every one below it is taken: a
 * peer other than root must leave the rest to root. (A peer's connection
 * may still land in a hole lower down: it never holds one of the last.) */
static bool in_root_reserve(const struct bd *bd, int fd)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return false;
	return (uint64_t)fd + bd->conf.root_reserve_fds >= rl.rlim_cur;
}

/* Whether a peer that may connect gets one more connection; else refused
 * with a message saying why. */
static bool within_limits(struct bd *bd, struct conn *c, int fd)
{
	char msg[200];
	if (is_root(c->uid))
		return true;
	if (conns_of(bd->control, c->uid) > bd->conf.max_conns_per_uid) {
		say_refused(bd,
			    "too many connections from uid %u "
			    "(max_conns_per_uid %llu)",
			    (unsigned)c->uid,
			    (unsigned long long)bd->conf.max_conns_per_uid);
		snprintf(msg, sizeof(msg),
			 "too many connections from uid %u (max_conns_per_uid "
			 "%llu): close one first",
			 (unsigned)c->uid,
			 (unsigned long long)bd->conf.max_conns_per_uid);
		conn_refuse(c, BD_E_UNAVAILABLE, msg);
		return false;
	}
	if (in_root_reserve(bd, fd)) {
		say_refused(bd,
			    "uid %u refused: the last %llu descriptors are "
			    "kept for root (root_reserve_fds)",
			    (unsigned)c->uid,
			    (unsigned long long)bd->conf.root_reserve_fds);
		conn_refuse(c, BD_E_UNAVAILABLE,
			    "balloond has too many connections: the "
			    "descriptors left are kept for root");
		return false;
	}
	return true;
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct bd *bd = server->data;
	struct bd_control *ctl = bd->control;
	if (status < 0) {
		/* libuv keeps a spare descriptor to shed a connection on
		 * EMFILE, so this does not spin; just say it. */
		bd_warn("control socket: %s", uv_strerror(status));
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	uv_pipe_init(bd->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->bd = bd;
	c->id = ++ctl->next_id;
	TAILQ_INIT(&c->slots);
	c->active_us = bd_mono_us(bd);
	framer_init(&c->framer, BD_MAX_REQUEST_BYTES);
	TAILQ_INSERT_HEAD(&ctl->conns, c, entry);
	if (uv_accept(server, (uv_stream_t *)&c->pipe)) {
		conn_close(c);
		return;
	}
	idle_arm(bd);

	uv_os_fd_t fd;
	struct ucred cred = {0};
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) ||
	    (c->rights = peer_rights(bd, fd, &cred)) == PEER_NONE) {
		c->rights = PEER_NONE;
		say_refused(bd, "refused uid %u gid %u (root%s%s only)",
			    cred.uid, cred.gid,
			    bd->conf.control_group[0] ? " or group " : "",
			    bd->conf.control_group);
		conn_refuse(c, BD_E_PERMISSION,
			    "balloond's control socket is for root and its "
			    "control group only");
		/* Refused before any request is read: method unknown. */
		bd_metrics_request(bd, BD_M_COUNT, BD_REQ_REFUSED);
		return;
	}
	c->uid = cred.uid;
	if (!within_limits(bd, c, fd)) {
		c->rights = PEER_NONE; /* counts no more */
		bd_metrics_request(bd, BD_M_COUNT, BD_REQ_REFUSED);
		return;
	}
	conn_send(c, bd_greeting_new(PACKAGE_VERSION));
	if (!c->closing)
		uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
}

/* Is a daemon answering on this socket? */
static bool socket_live(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	bool live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return live;
}

static int bind_socket(struct bd *bd, uv_pipe_t *server)
{
	const char *path = bd->conf.control_socket;
	struct stat st;
	/* A stale socket from a previous run is removed; a live one means
	 * another balloond, and anything else at that path is left alone. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			bd_err("%s exists and is not a socket", path);
			return UV_EEXIST;
		}
		if (socket_live(path)) {
			bd_err("another balloond is already running on %s",
			       path);
			return UV_EADDRINUSE;
		}
		unlink(path);
	}
	/* Nobody but root and the group may ever see it open. */
	mode_t old = umask(0117);
	int rc = uv_pipe_bind(server, path);
	umask(old);
	if (rc)
		return rc;
	if (bd->conf.control_group[0]) {
		if (!bd->control->control_gid.known ||
		    chown(path, (uid_t)-1, bd->control->control_gid.gid) < 0)
			bd_warn("cannot give %s to group %s", path,
				bd->conf.control_group);
	} else {
		chmod(path, 0600);
	}
	/* Two groups cannot share one socket file's mode bits: with a role
	 * group anyone may connect, and the credentials decide (peer_rights:
	 * a stranger is refused before a single request is read). */
	if (bd->conf.role_group[0] && chmod(path, 0666) < 0)
		bd_warn("cannot open %s to role_group %s: %s", path,
			bd->conf.role_group, strerror(errno));
	return 0;
}

int bd_control_start(struct bd *bd)
{
	struct bd_control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	TAILQ_INIT(&ctl->conns);
	bd->control = ctl;
	ctl->events = (struct bd_subscriber){.fn = monitor_event,
					     .wants = monitors_wanted};
	bd_events_subscribe(bd, &ctl->events);
	uv_pipe_init(bd->loop, &ctl->server, 0);
	ctl->server.data = bd;
	ctl->server_open = true;
	uv_timer_init(bd->loop, &ctl->idle_timer);
	ctl->idle_timer.data = bd;
	resolve_groups(bd);

	int rc;
	bool activated = false;
#ifdef HAVE_SYSTEMD
	/* systemd socket activation, when a balloond.socket unit passes one. */
	if (sd_listen_fds(1) == 1 &&
	    sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) >
		0) {
		rc = uv_pipe_open(&ctl->server, SD_LISTEN_FDS_START);
		if (rc)
			return rc;
		activated = true;
		bd_info("socket activation: listening on fd %d",
			SD_LISTEN_FDS_START);
	}
#endif
	if (!activated) {
		rc = bind_socket(bd, &ctl->server);
		if (rc) {
			bd_err("cannot bind %s: %s", bd->conf.control_socket,
			       uv_strerror(rc));
			return rc;
		}
	}
	ctl->bound = !activated;
	rc = uv_listen((uv_stream_t *)&ctl->server, 128, connection_cb);
	if (rc) {
		bd_err("cannot listen on %s: %s", bd->conf.control_socket,
		       uv_strerror(rc));
		return rc;
	}
	return 0;
}

static void ctl_closed_cb(uv_handle_t *h)
{
	struct bd *bd = h->data;
	if (--bd->control->closes_pending == 0) {
		free(bd->control);
		bd->control = NULL;
	}
}

void bd_control_stop(struct bd *bd)
{
	struct bd_control *ctl = bd->control;
	if (!ctl)
		return;
	bd_events_unsubscribe(bd, &ctl->events);
	while (!TAILQ_EMPTY(&ctl->conns))
		conn_close(TAILQ_FIRST(&ctl->conns));
	if (ctl->server_open) {
		ctl->server_open = false;
		if (ctl->bound)
			unlink(bd->conf.control_socket);
		ctl->closes_pending = 2;
		uv_close((uv_handle_t *)&ctl->server, ctl_closed_cb);
		uv_close((uv_handle_t *)&ctl->idle_timer, ctl_closed_cb);
	}
}
