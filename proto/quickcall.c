/*
 * quickcall.c: one request to balloond without json-c in the usual case
 * (see quickcall.h).
 */
#include "proto/quickcall.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "proto/fileio.h"
#include "proto/framer.h"
#include "proto/lazylib.h"

#define JSONC_FUNCS(X)                                                         \
	X(json_object_get_boolean)                                             \
	X(json_object_get_int64)                                               \
	X(json_object_get_string)                                              \
	X(json_object_is_type)                                                 \
	X(json_object_object_get_ex)                                           \
	X(json_object_put)                                                     \
	X(json_tokener_parse)

static struct {
	BD_LAZY_PTRS(JSONC_FUNCS)
	bool loaded;
} jc;
BD_LAZY_RESOLVER(resolve_jsonc, jc, JSONC_FUNCS)

#define STR_(x) #x
#define STR(x)	STR_(x)

void bd_quickcall_begin(struct bd_json_out *o, enum bd_method m, bool request)
{
	bd_json_raw(o, request ? "{\"id\":1,\"protocol\":" STR(
				     BD_PROTOCOL_VERSION) ",\"method\":"
			       : "{\"method\":");
	bd_json_string(o, bd_method_name(m));
	bd_json_raw(o, ",\"params\":");
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy_string(json_object *o, const char *key, char *out, size_t size)
{
	json_object *v = NULL;
	const char *s = jc.json_object_object_get_ex(o, key, &v)
			    ? jc.json_object_get_string(v)
			    : NULL;
	snprintf(out, size, "%s", s ? s : "?");
}

/* line as a JSON object, by json-c (loaded on first use). */
static int parse_slow(struct bd_quickcall *c, const char *line,
		      json_object **out)
{
	int rc =
	    bd_lazy_load_once(&jc.loaded, BD_LIBJSONC_PATH, BD_LIBJSONC_SONAME,
			      resolve_jsonc, c->error, sizeof(c->error));
	if (rc)
		return rc;
	*out = jc.json_tokener_parse(line);
	if (!*out || !jc.json_object_is_type(*out, json_type_object)) {
		jc.json_object_put(*out);
		snprintf(c->error, sizeof(c->error),
			 "balloond sent something that is not JSON");
		return -EPROTO;
	}
	return 0;
}

static bool greeting_usual(const char *line)
{
	static const char head[] = "{\"balloond\":{\"version\":\"";
	static const char tail[] =
	    "\",\"protocol\":" STR(BD_PROTOCOL_VERSION) "}}";
	if (strncmp(line, head, sizeof(head) - 1) != 0)
		return false;
	const char *v = line + sizeof(head) - 1;
	while ((unsigned char)*v >= 0x20 && *v != '"' && *v != '\\')
		v++;
	return strcmp(v, tail) == 0;
}

/* ctl_client_open's checks of the greeting. */
static int greeting_check(struct bd_quickcall *c, const char *line)
{
	json_object *g, *v, *proto;
	if (greeting_usual(line))
		return 0;
	int rc = parse_slow(c, line, &g);
	if (rc)
		return rc;
	if (jc.json_object_object_get_ex(g, "error", &v)) {
		copy_string(v, "message", c->message, sizeof(c->message));
		snprintf(c->error, sizeof(c->error), "balloond refused us: %s",
			 c->message);
		rc = -EACCES;
	} else if (!jc.json_object_object_get_ex(g, "balloond", &v) ||
		   !jc.json_object_object_get_ex(v, "protocol", &proto) ||
		   !jc.json_object_is_type(proto, json_type_int)) {
		snprintf(c->error, sizeof(c->error),
			 "the peer is not balloond (no greeting)");
		rc = -EPROTO;
	} else if (jc.json_object_get_int64(proto) != BD_PROTOCOL_VERSION) {
		snprintf(c->error, sizeof(c->error),
			 "balloond speaks control protocol %lld, this client "
			 "speaks %d: upgrade the older of the two",
			 (long long)jc.json_object_get_int64(proto),
			 BD_PROTOCOL_VERSION);
		rc = -EPROTO;
	}
	jc.json_object_put(g);
	return rc;
}

/* ctl_client_call's reading of one message: 0 when it is not the answer
 * (an event, another id), else an enum bd_quickcall_answer or -errno. */
static int reply_check(struct bd_quickcall *c, const char *line, size_t len)
{
	static const char result[] = "{\"id\":1,\"result\":";
	json_object *msg, *v, *id;
	if (!c->want_at_max && strncmp(line, result, sizeof(result) - 1) == 0 &&
	    line[len - 1] == '}')
		return BD_QUICKCALL_RESULT;
	int rc = parse_slow(c, line, &msg);
	if (rc)
		return rc;
	bool ours = jc.json_object_object_get_ex(msg, "id", &id) &&
		    jc.json_object_get_int64(id) == 1;
	bool id_null = !jc.json_object_object_get_ex(msg, "id", &id) ||
		       jc.json_object_is_type(id, json_type_null);
	if (jc.json_object_object_get_ex(msg, "error", &v) &&
	    (ours || id_null)) {
		copy_string(v, "code", c->code, sizeof(c->code));
		copy_string(v, "message", c->message, sizeof(c->message));
		rc = BD_QUICKCALL_ERROR;
	} else if (!ours) {
		rc = 0;
	} else if (jc.json_object_object_get_ex(msg, "result", &v)) {
		json_object *m;
		c->at_max = jc.json_object_object_get_ex(v, "at_max", &m)
				? jc.json_object_get_boolean(m)
				: -1;
		rc = BD_QUICKCALL_RESULT;
	} else {
		snprintf(c->error, sizeof(c->error),
			 "balloond's reply has neither result nor error");
		rc = -EPROTO;
	}
	jc.json_object_put(msg);
	return rc;
}

static int on_line(char *line, size_t len, void *data)
{
	struct bd_quickcall *c = data;
	if (c->greeted_)
		return reply_check(c, line, len);
	c->greeted_ = true;
	return greeting_check(c, line);
}

/* Read until the answer to the request or the deadline. */
static int converse(struct bd_quickcall *c, int fd, int64_t deadline)
{
	struct framer fr;
	char buf[65536];
	int rc = 0;
	framer_init(&fr, BD_MAX_REPLY_BYTES);
	while (rc == 0) {
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			snprintf(c->error, sizeof(c->error),
				 "balloond did not answer within %llu ms",
				 (unsigned long long)c->timeout_ms);
			rc = -ETIMEDOUT;
			break;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno != EINTR) {
			rc = -errno;
			snprintf(c->error, sizeof(c->error), "poll: %s",
				 strerror(errno));
		}
		if (n <= 0)
			continue;
		ssize_t got = read(fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc = got < 0 ? -errno : -ECONNRESET;
			snprintf(c->error, sizeof(c->error),
				 "balloond closed the connection");
			break;
		}
		rc = framer_feed(&fr, buf, (size_t)got, on_line, c);
		if (rc == -EMSGSIZE)
			snprintf(c->error, sizeof(c->error),
				 "balloond sent a message over %d bytes",
				 BD_MAX_REPLY_BYTES);
		else if (rc == -ENOMEM)
			snprintf(c->error, sizeof(c->error), "out of memory");
	}
	framer_free(&fr);
	return rc;
}

int bd_quickcall(struct bd_quickcall *c, const char *path, const char *req,
		 size_t len)
{
	int64_t deadline = mono_ms() + (int64_t)c->timeout_ms;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	c->at_max = -1;
	c->greeted_ = false;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(c->error, sizeof(c->error), "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		snprintf(c->error, sizeof(c->error), "cannot connect to %s: %s",
			 path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	int sent = bd_write_all(fd, req, len);
	int rc = converse(c, fd, deadline);
	/* A daemon that refuses a peer closes after its greeting: that
	 * refusal says more than the failed write. */
	if (sent && (rc >= 0 || rc == -ECONNRESET)) {
		snprintf(c->error, sizeof(c->error),
			 "cannot send to balloond: %s", strerror(-sent));
		rc = sent;
	}
	close(fd);
	return rc;
}
