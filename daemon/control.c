/*
 * control.c: the control socket. Accepts clients (root, the daemon's own
 * user, or members of control_group: checked from the peer's credentials),
 * frames their newline-delimited JSON requests, and queues replies and
 * monitor events without ever blocking the loop: a client that stops
 * reading is dropped once too much is queued for it.
 */
#include "daemon.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proto.h"
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* Queued output beyond this means the client is not reading: a status of
 * 1,000 guests is ~400 KiB, so this leaves room for a few of them. */
#define CONN_MAX_QUEUED (8u << 20)

struct conn {
	uv_pipe_t pipe;
	struct bd *bd;
	uint64_t id;
	struct qmp_framer framer;
	bool monitor;  /* subscribed to events */
	bool draining; /* after a final error: discard input until EOF */
	bool closing;
	struct conn *next;
	char rbuf[16384];
};

struct held {
	uint64_t conn_id;
	json_object *msg;
	struct held *next;
};

struct bd_control {
	uv_pipe_t server;
	bool server_open;
	bool bound; /* we created the socket file (so we remove it) */
	struct conn *conns;
	uint64_t next_id;
	struct held *held, **held_tail;
};

static struct conn *conn_find(struct bd *bd, uint64_t id)
{
	if (!bd->control)
		return NULL;
	for (struct conn *c = bd->control->conns; c; c = c->next)
		if (c->id == id && !c->closing)
			return c;
	return NULL;
}

static void conn_closed_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	qmp_framer_free(&c->framer);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	struct bd_control *ctl = c->bd->control;
	for (struct conn **p = &ctl->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	uv_close((uv_handle_t *)&c->pipe, conn_closed_cb);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	free(req);
	if (status < 0)
		conn_close(c);
	/* else: wait for the client's EOF (read_cb), so that what it still
	 * sends cannot turn our close into a reset that loses the reply. */
}

/* End a connection after a final error: what is queued is written, the
 * write side is shut down, and whatever else the client sends is read
 * and dropped until it closes its end. */
static void conn_close_after_flush(struct conn *c)
{
	uv_shutdown_t *req = malloc(sizeof(*req));
	c->draining = true;
	c->monitor = false;
	if (!req || uv_shutdown(req, (uv_stream_t *)&c->pipe, shutdown_cb)) {
		free(req);
		conn_close(c);
		return;
	}
	req->data = c;
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
	if (c->closing)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) + len >
	    CONN_MAX_QUEUED) {
		bd_warn("control client %llu is not reading its replies; "
			"dropping it",
			(unsigned long long)c->id);
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

void bd_control_send(struct bd *bd, uint64_t conn_id, json_object *msg)
{
	struct conn *c = conn_id ? conn_find(bd, conn_id) : NULL;
	if (!c) {
		/* A spool request, or the client left: log errors only. */
		json_object *err;
		if (json_object_object_get_ex(msg, "error", &err))
			bd_warn("request failed: %s",
				json_object_to_json_string(err));
		json_object_put(msg);
		return;
	}
	conn_send(c, msg);
}

void bd_control_send_persisted(struct bd *bd, uint64_t conn_id,
			       json_object *msg)
{
	struct bd_control *ctl = bd->control;
	if (!bd->persist_dirty || !ctl) {
		bd_control_send(bd, conn_id, msg);
		return;
	}
	struct held *h = malloc(sizeof(*h));
	if (!h) {
		bd_control_send(bd, conn_id, msg);
		return;
	}
	*h = (struct held){.conn_id = conn_id, .msg = msg};
	*ctl->held_tail = h;
	ctl->held_tail = &h->next;
}

void bd_control_flush_held(struct bd *bd)
{
	struct bd_control *ctl = bd->control;
	if (!ctl)
		return;
	struct held *h = ctl->held;
	ctl->held = NULL;
	ctl->held_tail = &ctl->held;
	while (h) {
		struct held *next = h->next;
		bd_control_send(bd, h->conn_id, h->msg);
		free(h);
		h = next;
	}
}

void bd_emit(struct bd *bd, const char *event, json_object *data)
{
	bool monitors = false;
	if (bd->control)
		for (struct conn *c = bd->control->conns; c && !monitors;
		     c = c->next)
			monitors = c->monitor;
	/* Nobody to tell: skip building the text. */
	if (!monitors && !bd_log_enabled(LOG_DEBUG)) {
		json_object_put(data);
		return;
	}
	json_object *ev = bd_event_new(event, bd_now_us(), data);
	size_t len;
	const char *s = json_object_to_json_string_length(
	    ev, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	bd_debug("event %s", s);
	if (monitors) {
		struct conn *c = bd->control->conns, *next;
		for (; c; c = next) {
			next = c->next; /* conn_write may drop c */
			if (c->monitor)
				conn_write(c, s, len);
		}
	}
	json_object_put(ev);
}

int bd_control_subscribe(struct bd *bd, uint64_t conn_id)
{
	struct conn *c = conn_find(bd, conn_id);
	if (!c)
		return -ENOENT;
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
	const char *code =
	    bd_request_parse(line, len, &req, &id, msg, sizeof(msg));
	if (code) {
		conn_send(c, bd_error_new(id, code, msg));
		return c->closing;
	}
	uint64_t conn_id = c->id;
	bd_method_dispatch(c->bd, conn_id, req.id, req.method, req.params);
	json_object_put(req.root);
	/* The dispatch may have dropped this connection. */
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
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (c->draining)
		return;
	int rc = qmp_framer_feed(&c->framer, buf->base, (size_t)n, on_line, c);
	if (rc == -EMSGSIZE) {
		char msg[96];
		snprintf(msg, sizeof(msg),
			 "request longer than %d bytes; "
			 "closing the connection",
			 BD_MAX_REQUEST_BYTES);
		conn_send(c, bd_error_new(-1, BD_E_TOO_LONG, msg));
		conn_close_after_flush(c);
	} else if (rc < 0) {
		conn_close(c);
	}
}

/* ---- accepting ---- */

static bool peer_allowed(struct bd *bd, int fd, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
		return false;
	if (cred->uid == 0 || cred->uid == geteuid())
		return true;
	if (!bd->conf.control_group[0])
		return false;
	struct group *gr = getgrnam(bd->conf.control_group);
	if (!gr)
		return false;
	if (cred->gid == gr->gr_gid)
		return true;
	/* Supplementary groups are not in the credentials: ask NSS. */
	struct passwd *pw = getpwuid(cred->uid);
	if (!pw)
		return false;
	gid_t groups[256];
	int n = 256;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == gr->gr_gid)
			return true;
	return false;
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
	qmp_framer_init(&c->framer, BD_MAX_REQUEST_BYTES);
	c->next = ctl->conns;
	ctl->conns = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe)) {
		conn_close(c);
		return;
	}

	uv_os_fd_t fd;
	struct ucred cred = {0};
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) ||
	    !peer_allowed(bd, fd, &cred)) {
		bd_warn("control socket: refused uid %u gid %u (root%s%s only)",
			cred.uid, cred.gid,
			bd->conf.control_group[0] ? " or group " : "",
			bd->conf.control_group);
		conn_send(c,
			  bd_error_new(-1, BD_E_PERMISSION,
				       "balloond's control socket is for root "
				       "and its control group only"));
		uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
		conn_close_after_flush(c);
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
		struct group *gr = getgrnam(bd->conf.control_group);
		if (!gr || chown(path, (uid_t)-1, gr->gr_gid) < 0)
			bd_warn("cannot give %s to group %s", path,
				bd->conf.control_group);
	} else {
		chmod(path, 0600);
	}
	return 0;
}

int bd_control_start(struct bd *bd)
{
	struct bd_control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->held_tail = &ctl->held;
	bd->control = ctl;
	uv_pipe_init(bd->loop, &ctl->server, 0);
	ctl->server.data = bd;
	ctl->server_open = true;

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

static void ctl_free_cb(uv_handle_t *h)
{
	struct bd *bd = h->data;
	free(bd->control);
	bd->control = NULL;
}

void bd_control_stop(struct bd *bd)
{
	struct bd_control *ctl = bd->control;
	if (!ctl)
		return;
	bd_control_flush_held(bd);
	while (ctl->conns)
		conn_close(ctl->conns);
	if (ctl->server_open) {
		ctl->server_open = false;
		if (ctl->bound)
			unlink(bd->conf.control_socket);
		uv_close((uv_handle_t *)&ctl->server, ctl_free_cb);
	}
}
