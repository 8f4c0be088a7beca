/* client.c: blocking control-socket client with deadlines (poll). */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int on_line(char *line, size_t len, void *data)
{
	struct ctl_client *c = data;
	json_object *msg = json_tokener_parse(line);
	if (!msg || !json_object_is_type(msg, json_type_object)) {
		json_object_put(msg);
		snprintf(c->error, sizeof(c->error),
			 "balloond sent something that is not JSON");
		return -EPROTO;
	}
	if (c->q_len == c->q_cap) {
		size_t cap = c->q_cap ? c->q_cap * 2 : 16;
		json_object **q = malloc(cap * sizeof(*q));
		if (!q) {
			json_object_put(msg);
			snprintf(c->error, sizeof(c->error), "out of memory");
			return -ENOMEM;
		}
		for (size_t i = 0; i < c->q_len; i++)
			q[i] = c->queue[(c->q_head + i) % c->q_cap];
		free(c->queue);
		c->queue = q;
		c->q_cap = cap;
		c->q_head = 0;
	}
	c->queue[(c->q_head + c->q_len++) % c->q_cap] = msg;
	return 0;
}

/* Read until at least one message is queued or the deadline passes. */
static int fill(struct ctl_client *c)
{
	int64_t deadline = c->timeout_ms >= 0 ? now_ms() + c->timeout_ms : -1;
	char buf[65536];
	while (c->q_len == 0) {
		int wait = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				snprintf(c->error, sizeof(c->error),
					 "balloond did not answer within %d ms",
					 c->timeout_ms);
				return -ETIMEDOUT;
			}
			wait = (int)left;
		}
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int rc = poll(&p, 1, wait);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			continue;
		ssize_t n = read(c->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(c->error, sizeof(c->error),
				 "balloond closed the connection");
			return n < 0 ? -errno : -ECONNRESET;
		}
		rc = framer_feed(&c->framer, buf, (size_t)n, on_line, c);
		if (rc == -EMSGSIZE)
			snprintf(c->error, sizeof(c->error),
				 "balloond sent a message over %d bytes",
				 BD_MAX_REPLY_BYTES);
		if (rc)
			return rc;
	}
	return 0;
}

int ctl_client_next(struct ctl_client *c, json_object **msg)
{
	int rc = fill(c);
	if (rc)
		return rc;
	*msg = c->queue[c->q_head];
	c->q_head = (c->q_head + 1) % c->q_cap;
	c->q_len--;
	return 0;
}

int ctl_client_open(struct ctl_client *c, const char *path, int timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memset(c, 0, sizeof(*c));
	c->timeout_ms = timeout_ms;
	c->next_id = 1;
	framer_init(&c->framer, BD_MAX_REPLY_BYTES);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(c->error, sizeof(c->error), "%s: path too long", path);
		c->fd = -1;
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		snprintf(c->error, sizeof(c->error),
			 "cannot connect to %s: %s%s", path, strerror(e),
			 e == ENOENT || e == ECONNREFUSED
			     ? " (is balloond running? see --socket and "
			       "BALLOOND_SOCKET)"
			     : "");
		return -e;
	}
	json_object *greeting;
	int rc = ctl_client_next(c, &greeting);
	if (rc)
		return rc;
	json_object *err;
	if (json_object_object_get_ex(greeting, "error", &err)) {
		json_object *m;
		json_object_object_get_ex(err, "message", &m);
		snprintf(c->error, sizeof(c->error), "balloond refused us: %s",
			 json_object_get_string(m));
		json_object_put(greeting);
		return -EACCES;
	}
	rc = bd_greeting_check(greeting, c->error, sizeof(c->error));
	json_object_put(greeting);
	return rc;
}

void ctl_client_close(struct ctl_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	for (size_t i = 0; i < c->q_len; i++)
		json_object_put(c->queue[(c->q_head + i) % c->q_cap]);
	free(c->queue);
	c->queue = NULL;
	c->q_head = c->q_len = c->q_cap = 0;
	framer_free(&c->framer);
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

int ctl_client_call(struct ctl_client *c, const char *method,
		    json_object *params, json_object **result,
		    json_object **error)
{
	int64_t id = c->next_id++;
	json_object *req = json_object_new_object();
	json_object_object_add(req, "id", json_object_new_int64(id));
	json_object_object_add(req, "protocol",
			       json_object_new_int(BD_PROTOCOL_VERSION));
	json_object_object_add(req, "method", json_object_new_string(method));
	json_object_object_add(req, "params",
			       params ? params : json_object_new_object());
	size_t len;
	const char *s = json_object_to_json_string_length(
	    req, JSON_C_TO_STRING_PLAIN, &len);
	/* The line and its newline in one send: sent apart, the daemon
	 * wakes for the first part and reads it, only to wait for the
	 * rest. */
	char *line = malloc(len + 1);
	int rc = line ? 0 : -ENOMEM;
	if (line) {
		memcpy(line, s, len);
		line[len] = '\n';
		rc = write_all(c->fd, line, len + 1);
		free(line);
	}
	json_object_put(req);
	if (rc) {
		snprintf(c->error, sizeof(c->error),
			 "cannot send to balloond: %s", strerror(-rc));
		return rc;
	}
	for (;;) {
		json_object *msg, *v;
		rc = ctl_client_next(c, &msg);
		if (rc)
			return rc;
		/* Skip events and replies to other requests. */
		if (!json_object_object_get_ex(msg, "id", &v) ||
		    json_object_get_int64(v) != id) {
			if (json_object_object_get_ex(msg, "error", &v) &&
			    json_object_is_type(
				json_object_object_get(msg, "id"),
				json_type_null)) {
				*error = json_object_get(v);
				json_object_put(msg);
				return 1;
			}
			json_object_put(msg);
			continue;
		}
		if (json_object_object_get_ex(msg, "error", &v)) {
			*error = json_object_get(v);
			json_object_put(msg);
			return 1;
		}
		if (!json_object_object_get_ex(msg, "result", &v)) {
			snprintf(
			    c->error, sizeof(c->error),
			    "balloond's reply has neither result nor error");
			json_object_put(msg);
			return -EPROTO;
		}
		*result = json_object_get(v);
		json_object_put(msg);
		return 0;
	}
}
