/*
 * fakeqmp.c: a fake QEMU monitor on a libuv loop (see fakeqmp.h).
 *
 * Replies are modelled on transcripts of QEMU 7.2 (Debian 12) with
 * `-device virtio-balloon-pci,id=balloon0`, with and without the device,
 * and with the device but no id. The fake never polls: it only reacts to
 * sockets and timers, so a thousand idle fakes cost no CPU.
 */
#include "fakeqmp.h"
#include "tests/lib/timescale.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/framer.h"
#include "proto/jsontok.h"
#include "proto/textscan.h"

/* Commands are tiny; a client that sends a 64 KiB line is broken. */
#define FAKE_MAX_LINE (64 * 1024)
/* The endless line is written in chunks of this size, one at a time. */
#define ENDLESS_CHUNK (64 * 1024)

#define QEMU_PACKAGE "Debian 1:7.2+dfsg-7+deb12u18+b3"

/* A reply held back by FAKEQMP_DELAY. */
struct outmsg {
	struct outmsg *next;
	uint64_t due_ms; /* loop time at which it goes out */
	size_t len;
	char bytes[];
};

/* One client connection. */
struct session {
	struct fakeqmp *srv;
	struct session *next; /* all sessions of srv, oldest first */
	uv_pipe_t pipe;
	uv_timer_t timer; /* sends delayed replies */
	struct framer framer;
	struct outmsg *out_head, *out_tail;
	bool serving;	 /* greeted and read (else waiting its turn) */
	bool negotiated; /* qmp_capabilities accepted */
	bool endless;	 /* writing the endless line */
	bool closing;
	int handles; /* open handles; freed at 0 */
};

struct fakeqmp {
	uv_loop_t *loop;
	struct fakeqmp_config cfg;
	char *path, *name;
	struct fakeqmp_behaviour b;
	uv_pipe_t listener;
	uv_timer_t move_timer; /* actual follows target */
	struct session *sessions;
	struct session *active; /* the one being served, or NULL */
	uint64_t actual, target;
	unsigned stats_interval;
	unsigned connections;
	unsigned event_seq;
	struct fakeqmp_cmd *cmds;
	size_t ncmds, cmds_cap;
	bool closing;
	int refs; /* open handles plus live sessions; freed at 0 */
};

struct wreq {
	uv_write_t req;
	struct session *ss;
	bool close_after; /* close the session once written */
	bool endless;	  /* a chunk of the endless line */
	char bytes[];
};

static char endless_chunk[ENDLESS_CHUNK];

static void session_close(struct session *ss);
static void session_activate(struct session *ss);

/* ---- freeing ---- */

static void srv_unref(struct fakeqmp *s)
{
	if (--s->refs > 0)
		return;
	fakeqmp_clear_commands(s);
	free(s->cmds);
	free(s->path);
	free(s->name);
	free(s);
}

static void srv_handle_closed(uv_handle_t *h)
{
	srv_unref(h->data);
}

static void session_handle_closed(uv_handle_t *h)
{
	struct session *ss = h->data;
	if (--ss->handles > 0)
		return;
	struct fakeqmp *s = ss->srv;
	for (struct session **pp = &s->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == ss) {
			*pp = ss->next;
			break;
		}
	}
	while (ss->out_head) {
		struct outmsg *m = ss->out_head;
		ss->out_head = m->next;
		free(m);
	}
	framer_free(&ss->framer);
	free(ss);
	srv_unref(s);
}

/* ---- writing ---- */

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct session *ss = w->ss;
	bool again = w->endless && status == 0 && ss->endless && !ss->closing;
	bool close_after = w->close_after || status != 0;
	free(w);
	if (again) {
		struct wreq *n = calloc(1, sizeof(*n));
		if (n) {
			n->ss = ss;
			n->endless = true;
			uv_buf_t buf =
			    uv_buf_init(endless_chunk, ENDLESS_CHUNK);
			if (uv_write(&n->req, (uv_stream_t *)&ss->pipe, &buf, 1,
				     write_cb) == 0)
				return;
			free(n);
		}
		close_after = true;
	}
	if (close_after)
		session_close(ss);
}

static int session_write(struct session *ss, const char *bytes, size_t len,
			 bool close_after)
{
	if (ss->closing)
		return -ECONNRESET;
	/* An answer nearly always fits the socket buffer: written at once
	 * when nothing is queued before it, as balloond writes its commands,
	 * with no request, no callback and no epoll_ctl for libuv's next
	 * turn (a burst to 1,000 guests is 1,000 answers); only what did
	 * not fit is queued. A write error closes the session, as write_cb
	 * does. */
	if (!close_after &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&ss->pipe) == 0) {
		uv_buf_t whole = uv_buf_init((char *)bytes, (unsigned)len);
		int n = uv_try_write((uv_stream_t *)&ss->pipe, &whole, 1);
		if (n >= 0 && (size_t)n == len)
			return 0;
		if (n < 0 && n != UV_EAGAIN) {
			session_close(ss);
			return n;
		}
		if (n > 0) {
			bytes += n;
			len -= (size_t)n;
		}
	}
	struct wreq *w = malloc(sizeof(*w) + len);
	if (!w)
		return -ENOMEM;
	w->ss = ss;
	w->close_after = close_after;
	w->endless = false;
	memcpy(w->bytes, bytes, len);
	uv_buf_t buf = uv_buf_init(w->bytes, (unsigned)len);
	int rc = uv_write(&w->req, (uv_stream_t *)&ss->pipe, &buf, 1, write_cb);
	if (rc) {
		free(w);
		session_close(ss);
	}
	return rc;
}

/* QEMU ends every message with CRLF. */
static int session_send_json(struct session *ss, json_object *msg)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
	    msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	char *line = malloc(len + 2);
	if (!line)
		return -ENOMEM;
	memcpy(line, s, len);
	memcpy(line + len, "\r\n", 2);
	int rc = session_write(ss, line, len + 2, false);
	free(line);
	return rc;
}

static json_object *make_event(const char *name, json_object *data)
{
	uv_timeval64_t tv;
	uv_gettimeofday(&tv);
	json_object *ts = json_object_new_object();
	json_object_object_add(ts, "seconds", json_object_new_int64(tv.tv_sec));
	json_object_object_add(ts, "microseconds",
			       json_object_new_int64(tv.tv_usec));
	json_object *ev = json_object_new_object();
	json_object_object_add(ev, "timestamp", ts);
	json_object_object_add(ev, "event", json_object_new_string(name));
	if (data)
		json_object_object_add(ev, "data", data);
	return ev;
}

bool fakeqmp_json_plain(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' ||
		    (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* Send an event to the client being served: name (nothing in it to
 * escape) and its data as JSON text (NULL: none). The line is printed
 * directly, in json-c's PLAIN form as make_event's tree would give: a
 * burst's BALLOON_CHANGE events to 1,000 guests then cost the fake far
 * less than building and formatting a tree each. */
static int srv_event_text(struct fakeqmp *s, const char *name, const char *data)
{
	struct session *ss = s->active;
	if (!ss || !ss->negotiated || ss->closing)
		return -ENOTCONN;
	uv_timeval64_t tv;
	uv_gettimeofday(&tv);
	char buf[512], *line = buf;
	size_t size = sizeof(buf);
	for (;;) {
		int n = snprintf(line, size,
				 "{\"timestamp\":{\"seconds\":%" PRId64
				 ",\"microseconds\":%" PRId64
				 "},\"event\":\"%s\"%s%s}\r\n",
				 (int64_t)tv.tv_sec, (int64_t)tv.tv_usec, name,
				 data ? ",\"data\":" : "", data ? data : "");
		if (n < 0)
			return -EINVAL;
		if ((size_t)n < size) {
			int rc = session_write(ss, line, (size_t)n, false);
			if (line != buf)
				free(line);
			return rc;
		}
		if (line != buf)
			return -EINVAL;
		size = (size_t)n + 1;
		if (!(line = malloc(size)))
			return -ENOMEM;
	}
}

/* Send an event to the client being served; data is taken over. */
static int srv_event(struct fakeqmp *s, const char *name, json_object *data)
{
	int rc;
	if (fakeqmp_json_plain(name)) {
		rc = srv_event_text(
		    s, name,
		    data ? json_object_to_json_string_ext(
			       data, JSON_C_TO_STRING_PLAIN |
					 JSON_C_TO_STRING_NOSLASHESCAPE)
			 : NULL);
	} else {
		struct session *ss = s->active;
		if (!ss || !ss->negotiated || ss->closing) {
			json_object_put(data);
			return -ENOTCONN;
		}
		json_object *ev = make_event(name, json_object_get(data));
		rc = session_send_json(ss, ev);
		json_object_put(ev);
	}
	json_object_put(data);
	return rc;
}

/* The noise of FAKEQMP_CHATTY: an event QEMU could well send at any time. */
static void chatty_event(struct fakeqmp *s)
{
	json_object *data = json_object_new_object();
	json_object_object_add(data, "offset",
			       json_object_new_int64(s->event_seq++));
	srv_event(s, "RTC_CHANGE", data);
}

static void send_reply_now(struct session *ss, const char *bytes, size_t len)
{
	struct fakeqmp *s = ss->srv;
	bool chatty = s->b.chatty && ss == s->active;
	if (chatty)
		chatty_event(s);
	if (session_write(ss, bytes, len, false) == 0 && chatty)
		chatty_event(s);
}

static void delay_cb(uv_timer_t *t)
{
	struct session *ss = t->data;
	uint64_t now = uv_now(ss->srv->loop);
	while (ss->out_head && ss->out_head->due_ms <= now && !ss->closing) {
		struct outmsg *m = ss->out_head;
		ss->out_head = m->next;
		if (!ss->out_head)
			ss->out_tail = NULL;
		send_reply_now(ss, m->bytes, m->len);
		free(m);
	}
	if (ss->out_head && !ss->closing)
		uv_timer_start(&ss->timer, delay_cb, ss->out_head->due_ms - now,
			       0);
}

/* {"return":{},"id":N}, NUL-terminated, into buf (64 bytes or more). */
static const char *empty_return(int64_t n, char *buf, size_t *len)
{
	static const char head[] = "{\"return\":{},\"id\":";
	char num[24], *d = bd_decimal(num + sizeof(num), n);
	size_t n_num = (size_t)(num + sizeof(num) - d);
	memcpy(buf, head, sizeof(head) - 1);
	memcpy(buf + sizeof(head) - 1, d, n_num);
	*len = sizeof(head) - 1 + n_num;
	buf[(*len)++] = '}';
	buf[*len] = '\0';
	return buf;
}

/* A command's empty answer, {"return":{},"id":N} with an integer id,
 * written into buf (64 bytes or more) as json-c prints that tree, but
 * without json-c's print buffer: half of what a burst to 1,000 guests
 * sends. NULL for any other reply. */
static const char *empty_return_text(json_object *reply, char *buf, size_t *len)
{
	json_object *r, *id;
	if (json_object_object_length(reply) != 2 ||
	    !json_object_object_get_ex(reply, "return", &r) ||
	    !json_object_is_type(r, json_type_object) ||
	    json_object_object_length(r) != 0 ||
	    !json_object_object_get_ex(reply, "id", &id) ||
	    !json_object_is_type(id, json_type_int))
		return NULL;
	/* json-c prints the members in the order they were added, and an
	 * id above INT64_MAX as the uint64 it holds (get_int64 clamps it). */
	json_object_object_foreach(reply, first, v)
	{
		(void)v;
		if (strcmp(first, "return") != 0)
			return NULL;
		break;
	}
	int64_t n = json_object_get_int64(id);
	if (n == INT64_MAX)
		return NULL;
	return empty_return(n, buf, len);
}

/* Send a reply now or, with a delay or replies still held back, later:
 * replies keep their order whatever the delays. */
static void session_reply(struct session *ss, json_object *reply)
{
	struct fakeqmp *s = ss->srv;
	size_t len;
	char quick[64];
	const char *text = empty_return_text(reply, quick, &len);
	if (!text)
		text = json_object_to_json_string_length(
		    reply,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		    &len);
	uint64_t delay = s->b.reply == FAKEQMP_DELAY ? s->b.delay_ms : 0;

	if (delay == 0 && !ss->out_head) {
		char stack[256];
		char *line = len + 2 <= sizeof(stack) ? stack : malloc(len + 2);
		if (!line)
			return;
		memcpy(line, text, len);
		memcpy(line + len, "\r\n", 2);
		send_reply_now(ss, line, len + 2);
		if (line != stack)
			free(line);
		return;
	}
	struct outmsg *m = malloc(sizeof(*m) + len + 2);
	if (!m)
		return;
	uint64_t now = uv_now(s->loop);
	m->next = NULL;
	m->due_ms = now + delay;
	if (ss->out_tail && ss->out_tail->due_ms > m->due_ms)
		m->due_ms = ss->out_tail->due_ms;
	m->len = len + 2;
	memcpy(m->bytes, text, len);
	memcpy(m->bytes + len, "\r\n", 2);
	if (ss->out_tail)
		ss->out_tail->next = m;
	else
		ss->out_head = m;
	ss->out_tail = m;
	if (ss->out_head == m)
		uv_timer_start(&ss->timer, delay_cb, m->due_ms - now, 0);
}

/* ---- answers, as QEMU 7.2 gives them ---- */

static json_object *ret(json_object *v)
{
	json_object *r = json_object_new_object();
	json_object_object_add(r, "return", v ? v : json_object_new_object());
	return r;
}

static json_object *err(const char *class, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static json_object *err(const char *class, const char *fmt, ...)
{
	char desc[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	json_object *e = json_object_new_object();
	json_object_object_add(e, "class", json_object_new_string(class));
	json_object_object_add(e, "desc", json_object_new_string(desc));
	json_object *r = json_object_new_object();
	json_object_object_add(r, "error", e);
	return r;
}

static json_object *no_balloon_err(void)
{
	return err("DeviceNotActive", "No balloon device has been activated");
}

static json_object *arg(json_object *args, const char *key)
{
	json_object *v = NULL;
	return args && json_object_object_get_ex(args, key, &v) ? v : NULL;
}

static const char *balloon_path(const struct fakeqmp *s)
{
	return s->b.anon_balloon ? "/machine/peripheral-anon/device[0]"
				 : "/machine/peripheral/balloon0";
}

static json_object *prop(const char *name, const char *type)
{
	json_object *p = json_object_new_object();
	json_object_object_add(p, "name", json_object_new_string(name));
	json_object_object_add(p, "type", json_object_new_string(type));
	return p;
}

static void move_cb(uv_timer_t *t)
{
	struct fakeqmp *s = t->data;
	s->actual = s->target;
	char data[48];
	snprintf(data, sizeof(data), "{\"actual\":%" PRId64 "}",
		 (int64_t)s->actual);
	srv_event_text(s, "BALLOON_CHANGE", data);
}

/* actual follows the target move_ms from now. From now, not from the
 * loop's cached time: a loop iteration that began long before (a busy
 * machine, a shared loop in the cmocka tests) would move the balloon that
 * much sooner than a client can expect. */
static void start_move(struct fakeqmp *s)
{
	uv_update_time(s->loop);
	uv_timer_start(&s->move_timer, move_cb, s->cfg.move_ms, 0);
}

int fakeqmp_balloon(struct fakeqmp *s, uint64_t target_bytes)
{
	if (target_bytes == 0 || target_bytes > s->cfg.ram_bytes)
		return -EINVAL;
	s->target = target_bytes;
	if (!s->b.stuck)
		start_move(s);
	return 0;
}

static json_object *do_balloon(struct fakeqmp *s, json_object *args)
{
	if (s->b.no_balloon)
		return no_balloon_err();
	if (s->b.balloon_error) {
		s->b.balloon_error = false; /* once */
		return err("GenericError", "fakeqmp balloon-error: %s",
			   "refused once");
	}
	json_object *v = arg(args, "value");
	if (!v)
		return err("GenericError", "Parameter 'value' is missing");
	if (!json_object_is_type(v, json_type_int))
		return err("GenericError",
			   "Invalid parameter type for 'value', expected: %s",
			   "integer");
	int64_t value = json_object_get_int64(v);
	if (value <= 0)
		return err("GenericError", "Parameter 'target' expects a size");
	/* QEMU answers {} to a target above RAM and does nothing. */
	fakeqmp_balloon(s, (uint64_t)value);
	return ret(NULL);
}

static json_object *do_qom_list(struct fakeqmp *s, json_object *args)
{
	json_object *pv = arg(args, "path");
	if (!pv || !json_object_is_type(pv, json_type_string))
		return err("GenericError", "Parameter 'path' is missing");
	const char *path = json_object_get_string(pv);
	bool periph = strcmp(path, "/machine/peripheral") == 0;
	bool anon = strcmp(path, "/machine/peripheral-anon") == 0;
	json_object *list = json_object_new_array();

	if (periph || anon) {
		bool here = !s->b.no_balloon && s->b.anon_balloon == anon;
		if (!here && s->b.lazy_containers) {
			json_object_put(list);
			return err("DeviceNotFound", "Device '%s' not found",
				   path);
		}
		json_object_array_add(list, prop("type", "string"));
		if (here)
			json_object_array_add(
			    list, prop(anon ? "device[0]" : "balloon0",
				       "child<virtio-balloon-pci>"));
	} else if (strcmp(path, "/machine") == 0) {
		json_object_array_add(list, prop("type", "string"));
		json_object_array_add(list,
				      prop("peripheral", "child<container>"));
		json_object_array_add(
		    list, prop("peripheral-anon", "child<container>"));
		json_object_array_add(list,
				      prop("unattached", "child<container>"));
	} else if (!s->b.no_balloon && strcmp(path, balloon_path(s)) == 0) {
		json_object_array_add(list, prop("type", "string"));
		json_object_array_add(list, prop("guest-stats", "guest-stats"));
		json_object_array_add(
		    list, prop("guest-stats-polling-interval", "int"));
		json_object_array_add(
		    list,
		    prop("virtio-backend", "child<virtio-balloon-device>"));
	} else {
		json_object_put(list);
		return err("DeviceNotFound", "Device '%s' not found", path);
	}
	return ret(list);
}

/* Plausible figures for a guest of `actual` bytes: the kernel keeps some
 * for itself, and about half is page cache. */
static json_object *guest_stats(const struct fakeqmp *s)
{
	static const char *const keys[] = {
	    "stat-swap-in",	     "stat-swap-out",	 "stat-major-faults",
	    "stat-minor-faults",     "stat-free-memory", "stat-total-memory",
	    "stat-available-memory", "stat-disk-caches", "stat-htlb-pgalloc",
	    "stat-htlb-pgfail",
	};
	bool reported = s->stats_interval > 0 && !s->b.stuck;
	uint64_t total = s->actual - s->actual / 16;
	uint64_t vals[] = {0,	  0,	     120,	48000, total / 4,
			   total, total / 2, total / 4, 0,     0};
	if (s->b.used_bytes) {
		/* What the guest uses stays; the rest of its size is
		 * available, half of it free and half cache. */
		uint64_t avail = s->actual > s->b.used_bytes
				     ? s->actual - s->b.used_bytes
				     : 0;
		vals[4] = avail / 2;
		vals[6] = avail;
		vals[7] = avail - avail / 2;
	}
	json_object *stats = json_object_new_object();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		json_object_object_add(
		    stats, keys[i],
		    json_object_new_uint64(reported ? vals[i] : UINT64_MAX));
	uv_timeval64_t tv;
	uv_gettimeofday(&tv);
	json_object *r = json_object_new_object();
	json_object_object_add(r, "stats", stats);
	json_object_object_add(r, "last-update",
			       json_object_new_int64(reported ? tv.tv_sec : 0));
	return r;
}

static json_object *do_qom(struct fakeqmp *s, json_object *args, bool set)
{
	json_object *pv = arg(args, "path"), *nv = arg(args, "property");
	if (!pv || !json_object_is_type(pv, json_type_string))
		return err("GenericError", "Parameter 'path' is missing");
	if (!nv || !json_object_is_type(nv, json_type_string))
		return err("GenericError", "Parameter 'property' is missing");
	const char *path = json_object_get_string(pv);
	const char *name = json_object_get_string(nv);
	if (s->b.no_balloon || strcmp(path, balloon_path(s)) != 0)
		return err("DeviceNotFound", "Device '%s' not found", path);
	bool interval = strcmp(name, "guest-stats-polling-interval") == 0;
	if (set) {
		json_object *v = arg(args, "value");
		if (!interval)
			return err("GenericError",
				   "Property 'virtio-balloon-pci.%s' not found",
				   name);
		if (!v || !json_object_is_type(v, json_type_int) ||
		    json_object_get_int64(v) < 0 ||
		    json_object_get_int64(v) > UINT32_MAX)
			return err("GenericError",
				   "Parameter 'value' expects %s", "uint32");
		s->stats_interval = (unsigned)json_object_get_int64(v);
		return ret(NULL);
	}
	if (interval)
		return ret(json_object_new_int64(s->stats_interval));
	if (strcmp(name, "guest-stats") == 0)
		return ret(guest_stats(s));
	if (strcmp(name, "free-page-reporting") == 0)
		return ret(json_object_new_boolean(s->b.free_page_reporting));
	if (strcmp(name, "deflate-on-oom") == 0)
		return ret(json_object_new_boolean(s->b.deflate_on_oom));
	return err("GenericError", "Property 'virtio-balloon-pci.%s' not found",
		   name);
}

static json_object *qemu_version(void)
{
	json_object *q = json_object_new_object();
	json_object_object_add(q, "micro", json_object_new_int(22));
	json_object_object_add(q, "minor", json_object_new_int(2));
	json_object_object_add(q, "major", json_object_new_int(7));
	json_object *v = json_object_new_object();
	json_object_object_add(v, "qemu", q);
	json_object_object_add(v, "package",
			       json_object_new_string(QEMU_PACKAGE));
	return v;
}

static json_object *answer(struct session *ss, const char *cmd,
			   json_object *args)
{
	struct fakeqmp *s = ss->srv;

	if (!ss->negotiated) {
		if (strcmp(cmd, "qmp_capabilities") != 0)
			return err("CommandNotFound",
				   "Expecting capabilities negotiation with "
				   "'%s'",
				   "qmp_capabilities");
		if (s->b.refuse_capabilities)
			return err("GenericError",
				   "Capabilities negotiation refused (fakeqmp "
				   "refuse-caps)");
		ss->negotiated = true;
		return ret(NULL);
	}
	if (strcmp(cmd, "qmp_capabilities") == 0)
		return err("CommandNotFound",
			   "Capabilities negotiation is already complete, "
			   "command ignored");
	if (strcmp(cmd, "query-balloon") == 0) {
		if (s->b.no_balloon)
			return no_balloon_err();
		json_object *r = json_object_new_object();
		json_object_object_add(
		    r, "actual", json_object_new_int64((int64_t)s->actual));
		return ret(r);
	}
	if (strcmp(cmd, "balloon") == 0)
		return do_balloon(s, args);
	if (strcmp(cmd, "qom-list") == 0)
		return do_qom_list(s, args);
	if (strcmp(cmd, "qom-get") == 0)
		return do_qom(s, args, false);
	if (strcmp(cmd, "qom-set") == 0)
		return do_qom(s, args, true);
	if (strcmp(cmd, "query-status") == 0) {
		json_object *r = json_object_new_object();
		json_object_object_add(r, "status",
				       json_object_new_string("running"));
		json_object_object_add(r, "singlestep",
				       json_object_new_boolean(0));
		json_object_object_add(r, "running",
				       json_object_new_boolean(1));
		return ret(r);
	}
	if (strcmp(cmd, "query-version") == 0)
		return ret(qemu_version());
	if (strcmp(cmd, "query-memory-size-summary") == 0) {
		if (s->b.memsize_error)
			return err("GenericError", "fakeqmp memsize-error: %s",
				   "no size");
		/* balloond reads the guest's RAM from here (its max). */
		json_object *r = json_object_new_object();
		json_object_object_add(
		    r, "base-memory",
		    json_object_new_int64((int64_t)s->cfg.ram_bytes));
		json_object_object_add(r, "plugged-memory",
				       json_object_new_int64(0));
		return ret(r);
	}
	if (strcmp(cmd, "system_reset") == 0) {
		json_object *data = json_object_new_object();
		json_object_object_add(data, "guest",
				       json_object_new_boolean(0));
		json_object_object_add(
		    data, "reason",
		    json_object_new_string("host-qmp-system-reset"));
		srv_event(s, "RESET", data);
		return ret(NULL);
	}
	return err("CommandNotFound", "The command %s has not been found", cmd);
}

/* ---- reading ---- */

static void record(struct fakeqmp *s, const char *cmd, json_object *args,
		   json_object *id)
{
	struct fakeqmp_cmd c = {.t_ns = uv_hrtime()};
	snprintf(c.execute, sizeof(c.execute), "%s", cmd);
	c.arguments = args;
	if (id && json_object_is_type(id, json_type_int)) {
		c.has_id = true;
		c.id = json_object_get_int64(id);
	}
	if (s->cfg.command_cb)
		s->cfg.command_cb(s, &c, s->cfg.data);
	if (!s->cfg.record)
		return;
	if (s->ncmds == s->cmds_cap) {
		size_t cap = s->cmds_cap ? s->cmds_cap * 2 : 16;
		struct fakeqmp_cmd *v = realloc(s->cmds, cap * sizeof(*v));
		if (!v)
			return;
		s->cmds = v;
		s->cmds_cap = cap;
	}
	c.arguments = json_object_get(args);
	s->cmds[s->ncmds++] = c;
}

static void start_endless(struct session *ss)
{
	static const char head[] = "{\"return\": \"";
	if (ss->endless)
		return;
	ss->endless = true;
	if (session_write(ss, head, sizeof(head) - 1, false))
		return;
	struct wreq *w = calloc(1, sizeof(*w));
	if (!w) {
		session_close(ss);
		return;
	}
	w->ss = ss;
	w->endless = true;
	uv_buf_t buf = uv_buf_init(endless_chunk, ENDLESS_CHUNK);
	if (uv_write(&w->req, (uv_stream_t *)&ss->pipe, &buf, 1, write_cb)) {
		free(w);
		session_close(ss);
	}
}

static void handle_command(struct session *ss, json_object *msg)
{
	struct fakeqmp *s = ss->srv;
	json_object *ev = NULL, *args = NULL, *id = NULL;
	json_object_object_get_ex(msg, "execute", &ev);
	json_object_object_get_ex(msg, "arguments", &args);
	json_object_object_get_ex(msg, "id", &id);
	const char *cmd = ev && json_object_is_type(ev, json_type_string)
			      ? json_object_get_string(ev)
			      : NULL;
	record(s, cmd ? cmd : "", args, id);

	json_object *reply;
	switch (s->b.reply) {
	case FAKEQMP_HANG:
		return;
	case FAKEQMP_GARBAGE: {
		static const char junk[] = "}{ this is not JSON \x7f\r\n";
		session_write(ss, junk, sizeof(junk) - 1, false);
		return;
	}
	case FAKEQMP_DISCONNECT: {
		static const char half[] = "{\"return\": {\"actual\": 2684";
		session_write(ss, half, sizeof(half) - 1, true);
		return;
	}
	case FAKEQMP_ENDLESS:
		start_endless(ss);
		return;
	default:
		break;
	}
	if (!cmd)
		reply = err("GenericError", "QMP input lacks member '%s'",
			    "execute");
	else if (args && !json_object_is_type(args, json_type_object))
		reply =
		    err("GenericError",
			"QMP input member 'arguments' must be an %s", "object");
	else
		reply = answer(ss, cmd, args);
	if (s->b.reply == FAKEQMP_WRONG_ID) {
		int64_t bad = id && json_object_is_type(id, json_type_int)
				  ? json_object_get_int64(id) + 1000
				  : 999999;
		json_object_object_add(reply, "id", json_object_new_int64(bad));
	} else if (id) {
		json_object_object_add(reply, "id", json_object_get(id));
	}
	session_reply(ss, reply);
	json_object_put(reply);
}

/* A JSON integer at *p as balloond writes one: 1 to 18 digits, no leading
 * zero; *p moves past it. */
static bool scan_int(const char **p, const char *end, int64_t *v)
{
	const char *d = *p;
	uint64_t u;
	if (bd_text_parse_u64(p, end, &u) || *p - d > 18 ||
	    (*d == '0' && *p - d > 1))
		return false;
	*v = (int64_t)u;
	return true;
}

/* balloond's `balloon`, exactly as qmp/client.c writes it,
 * {"execute":"balloon","arguments":{"value":N},"id":M}, read by its text
 * and answered {"return":{},"id":M} as handle_command would, with the
 * same log line: a burst to 1,000 guests is 1,000 of them, and json-c
 * trees for each were most of what this one-threaded fake spent on it
 * (it is what bench/burst.py's figure waits for). Anything else, another
 * spacing included, or a behaviour that changes the answer, goes the
 * usual way. */
static bool quick_balloon(struct session *ss, const char *line, size_t len)
{
	static const char head[] = "{\"execute\":\"balloon\",\"arguments\":",
			  value[] = "{\"value\":", mid[] = "},\"id\":";
	struct fakeqmp *s = ss->srv;
	const struct fakeqmp_behaviour *b = &s->b;
	if (!ss->negotiated || ss->out_head || s->cfg.record ||
	    b->reply != FAKEQMP_NORMAL || b->no_balloon || b->balloon_error ||
	    b->chatty || len < sizeof(head) - 1 ||
	    memcmp(line, head, sizeof(head) - 1) != 0)
		return false;
	const char *args = line + sizeof(head) - 1, *end = line + len, *p;
	int64_t v, id;
	p = args + sizeof(value) - 1;
	if (end - args < (ptrdiff_t)sizeof(value) - 1 ||
	    memcmp(args, value, sizeof(value) - 1) != 0 ||
	    !scan_int(&p, end, &v) || v == 0 ||
	    end - p < (ptrdiff_t)sizeof(mid) - 1 ||
	    memcmp(p, mid, sizeof(mid) - 1) != 0)
		return false;
	size_t args_len = (size_t)(p + 1 - args);
	p += sizeof(mid) - 1;
	if (!scan_int(&p, end, &id) || end - p != 1 || *p != '}')
		return false;
	struct fakeqmp_cmd c = {.t_ns = uv_hrtime(),
				.execute = "balloon",
				.has_id = true,
				.id = id,
				.arguments_text = args,
				.arguments_len = args_len};
	if (s->cfg.command_cb)
		s->cfg.command_cb(s, &c, s->cfg.data);
	/* QEMU answers {} to a target above RAM and does nothing. */
	fakeqmp_balloon(s, (uint64_t)v);
	char out[64];
	size_t n;
	empty_return(id, out, &n);
	memcpy(out + n, "\r\n", 2);
	send_reply_now(ss, out, n + 2);
	return true;
}

static int on_line(char *line, size_t len, void *data)
{
	struct session *ss = data;
	if (quick_balloon(ss, line, len))
		return ss->closing ? 1 : 0;
	/* A plain object is read directly (jsontok.h); anything else as
	 * json_tokener_parse(line) reads it (the terminating NUL ends the
	 * text), with the thread's tokener instead of a new one per line. */
	json_object *msg = bd_line_object(line, len);
	json_tokener *tok = msg ? NULL : bd_line_tokener();
	if (tok && (msg = json_tokener_parse_ex(tok, line, -1)) &&
	    json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(msg);
		msg = NULL;
	}
	if (!msg) {
		json_object *e = err("GenericError", "JSON parse error");
		session_reply(ss, e);
		json_object_put(e);
	} else if (!json_object_is_type(msg, json_type_object)) {
		json_object *e =
		    err("GenericError", "QMP input must be a JSON object");
		session_reply(ss, e);
		json_object_put(e);
	} else {
		handle_command(ss, msg);
	}
	json_object_put(msg);
	/* Stop at once when a reply mode closed the session. */
	return ss->closing ? 1 : 0;
}

/* libuv calls alloc_cb and read_cb back to back for one read, so one
 * buffer serves every session of the process. */
static char read_buf[65536];

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	*buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct session *ss = st->data;
	if (n == 0 || ss->closing)
		return;
	if (n < 0) {
		session_close(ss);
		return;
	}
	int rc = framer_feed(&ss->framer, buf->base, (size_t)n, on_line, ss);
	if (rc < 0)
		session_close(ss);
}

/* ---- sessions ---- */

static void session_close(struct session *ss)
{
	if (ss->closing)
		return;
	ss->closing = true;
	ss->endless = false;
	uv_close((uv_handle_t *)&ss->pipe, session_handle_closed);
	uv_close((uv_handle_t *)&ss->timer, session_handle_closed);
	struct fakeqmp *s = ss->srv;
	if (s->active != ss)
		return;
	s->active = NULL;
	if (s->closing)
		return;
	/* Like QEMU: the next client waiting on the socket gets its turn. */
	for (struct session *n = s->sessions; n; n = n->next) {
		if (!n->closing && !n->serving) {
			session_activate(n);
			break;
		}
	}
}

static void session_activate(struct session *ss)
{
	struct fakeqmp *s = ss->srv;
	s->active = ss;
	ss->serving = true;
	if (uv_read_start((uv_stream_t *)&ss->pipe, alloc_cb, read_cb)) {
		session_close(ss);
		return;
	}
	if (s->b.no_greeting)
		return;
	json_object *caps = json_object_new_array();
	json_object_array_add(caps, json_object_new_string("oob"));
	json_object *qmp = json_object_new_object();
	json_object_object_add(qmp, "version", qemu_version());
	json_object_object_add(qmp, "capabilities", caps);
	json_object *greeting = json_object_new_object();
	json_object_object_add(greeting, "QMP", qmp);
	session_send_json(ss, greeting);
	json_object_put(greeting);
}

static void connection_cb(uv_stream_t *listener, int status)
{
	struct fakeqmp *s = listener->data;
	if (status < 0 || s->closing)
		return;
	struct session *ss = calloc(1, sizeof(*ss));
	if (!ss)
		return;
	ss->srv = s;
	framer_init(&ss->framer, FAKE_MAX_LINE);
	uv_pipe_init(s->loop, &ss->pipe, 0);
	uv_timer_init(s->loop, &ss->timer);
	ss->pipe.data = ss;
	ss->timer.data = ss;
	ss->handles = 2;
	s->refs++;
	/* Oldest first: waiting clients are served in arrival order. */
	struct session **pp = &s->sessions;
	while (*pp)
		pp = &(*pp)->next;
	*pp = ss;
	if (uv_accept(listener, (uv_stream_t *)&ss->pipe)) {
		session_close(ss);
		return;
	}
	s->connections++;
	if (!s->active)
		session_activate(ss);
}

/* ---- public ---- */

int fakeqmp_new(uv_loop_t *loop, const struct fakeqmp_config *cfg,
		struct fakeqmp **out)
{
	if (!cfg->path || !*cfg->path || cfg->ram_bytes == 0 ||
	    cfg->ram_bytes > INT64_MAX)
		return -EINVAL;
	if (strlen(cfg->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	struct fakeqmp *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	const char *base = strrchr(cfg->path, '/');
	s->path = strdup(cfg->path);
	s->name = strdup(cfg->name ? cfg->name : base ? base + 1 : cfg->path);
	if (!s->path || !s->name) {
		free(s->path);
		free(s->name);
		free(s);
		return -ENOMEM;
	}
	if (!endless_chunk[0])
		memset(endless_chunk, 'x', sizeof(endless_chunk));
	s->loop = loop;
	s->cfg = *cfg;
	s->cfg.path = s->path;
	s->cfg.name = s->name;
	s->actual = s->target = cfg->ram_bytes;
	uv_pipe_init(loop, &s->listener, 0);
	uv_timer_init(loop, &s->move_timer);
	s->listener.data = s;
	s->move_timer.data = s;
	s->refs = 2;

	unlink(s->path); /* a stale socket from an earlier run */
	int rc = uv_pipe_bind(&s->listener, s->path);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, 64, connection_cb);
	if (rc) {
		/* Freed by the close callbacks on the next loop turn. */
		s->closing = true;
		uv_close((uv_handle_t *)&s->listener, srv_handle_closed);
		uv_close((uv_handle_t *)&s->move_timer, srv_handle_closed);
		return rc;
	}
	*out = s;
	return 0;
}

void fakeqmp_close(struct fakeqmp *s)
{
	if (s->closing)
		return;
	s->closing = true;
	unlink(s->path);
	for (struct session *ss = s->sessions; ss; ss = ss->next)
		session_close(ss);
	uv_close((uv_handle_t *)&s->listener, srv_handle_closed);
	uv_close((uv_handle_t *)&s->move_timer, srv_handle_closed);
}

struct fakeqmp_behaviour *fakeqmp_behaviour(struct fakeqmp *s)
{
	return &s->b;
}

static const struct {
	const char *name;
	enum fakeqmp_reply reply;
} reply_modes[] = {
    {"normal", FAKEQMP_NORMAL},
    {"delay", FAKEQMP_DELAY},
    {"hang", FAKEQMP_HANG},
    {"garbage", FAKEQMP_GARBAGE},
    {"disconnect", FAKEQMP_DISCONNECT},
    {"endless", FAKEQMP_ENDLESS},
    {"wrong-id", FAKEQMP_WRONG_ID},
};

/* The flags of struct fakeqmp_behaviour by their names in mode strings. */
static const struct {
	const char *name;
	size_t offset;
} flags[] = {
    {"no-greeting", offsetof(struct fakeqmp_behaviour, no_greeting)},
    {"refuse-caps", offsetof(struct fakeqmp_behaviour, refuse_capabilities)},
    {"no-balloon", offsetof(struct fakeqmp_behaviour, no_balloon)},
    {"anon-balloon", offsetof(struct fakeqmp_behaviour, anon_balloon)},
    {"lazy-containers", offsetof(struct fakeqmp_behaviour, lazy_containers)},
    {"stuck", offsetof(struct fakeqmp_behaviour, stuck)},
    {"chatty", offsetof(struct fakeqmp_behaviour, chatty)},
    {"balloon-error", offsetof(struct fakeqmp_behaviour, balloon_error)},
    {"memsize-error", offsetof(struct fakeqmp_behaviour, memsize_error)},
    {"free-page-reporting",
     offsetof(struct fakeqmp_behaviour, free_page_reporting)},
    {"deflate-on-oom", offsetof(struct fakeqmp_behaviour, deflate_on_oom)},
};

static bool *flag_at(struct fakeqmp_behaviour *b, size_t i)
{
	return (bool *)((char *)b + flags[i].offset);
}

static bool *flag_field(struct fakeqmp_behaviour *b, const char *name)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strcmp(flags[i].name, name) == 0)
			return flag_at(b, i);
	return NULL;
}

/* One word of a mode string: NAME or NAME=VALUE. */
static int apply_word(struct fakeqmp_behaviour *b, char *word)
{
	char *value = strchr(word, '=');
	char *end;
	if (value)
		*value++ = '\0';
	if (strcmp(word, "normal") == 0 && !value) {
		*b = (struct fakeqmp_behaviour){0};
		return 0;
	}
	if (strcmp(word, "delay") == 0) {
		if (!value || !*value)
			return -EINVAL;
		unsigned long long ms = strtoull(value, &end, 10);
		if (*end || ms > 3600 * 1000)
			return -EINVAL;
		b->reply = FAKEQMP_DELAY;
		b->delay_ms = ms;
		return 0;
	}
	if (strcmp(word, "used") == 0) {
		if (!value || !*value)
			return -EINVAL;
		unsigned long long v = strtoull(value, &end, 10);
		if (*end)
			return -EINVAL;
		b->used_bytes = v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(reply_modes) / sizeof(reply_modes[0]);
	     i++) {
		if (strcmp(word, reply_modes[i].name) == 0 && !value) {
			b->reply = reply_modes[i].reply;
			return 0;
		}
	}
	bool *flag = flag_field(b, word);
	if (!flag)
		return -EINVAL;
	if (!value || strcmp(value, "1") == 0)
		*flag = true;
	else if (strcmp(value, "0") == 0)
		*flag = false;
	else
		return -EINVAL;
	return 0;
}

int fakeqmp_set_mode(struct fakeqmp *s, const char *mode)
{
	/* Words apply in order to a copy, so a bad one changes nothing. */
	struct fakeqmp_behaviour b = s->b;
	char buf[256];
	if (!mode || !*mode || strlen(mode) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, mode);
	char *save = NULL;
	for (char *w = strtok_r(buf, ",", &save); w;
	     w = strtok_r(NULL, ",", &save)) {
		int rc = apply_word(&b, w);
		if (rc)
			return rc;
	}
	/* A balloon let go of moves to the target it was given, as a guest
	 * whose driver was busy would. */
	bool released = s->b.stuck && !b.stuck && s->target != s->actual;
	s->b = b;
	if (released)
		start_move(s);
	return 0;
}

void fakeqmp_mode_string(const struct fakeqmp *s, char *buf, size_t size)
{
	struct fakeqmp_behaviour b = s->b;
	size_t n = 0;
	const char *name = "normal";
	for (size_t i = 0; i < sizeof(reply_modes) / sizeof(reply_modes[0]);
	     i++)
		if (reply_modes[i].reply == b.reply)
			name = reply_modes[i].name;
	if (b.reply == FAKEQMP_DELAY)
		n = (size_t)snprintf(buf, size, "delay=%" PRIu64, b.delay_ms);
	else
		n = (size_t)snprintf(buf, size, "%s", name);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]) && n < size;
	     i++)
		if (*flag_at(&b, i))
			n += (size_t)snprintf(buf + n, size - n, ",%s",
					      flags[i].name);
	if (b.used_bytes && n < size)
		snprintf(buf + n, size - n, ",used=%" PRIu64, b.used_bytes);
}

void fakeqmp_disconnect(struct fakeqmp *s)
{
	if (s->active)
		session_close(s->active);
}

int fakeqmp_send_event(struct fakeqmp *s, const char *name,
		       const char *data_json)
{
	json_object *data = NULL;
	if (!name || !*name)
		return -EINVAL;
	if (data_json) {
		data = json_tokener_parse(data_json);
		if (!data || !json_object_is_type(data, json_type_object)) {
			json_object_put(data);
			return -EINVAL;
		}
	} else if (strcmp(name, "RESET") == 0) {
		data = json_object_new_object();
		json_object_object_add(data, "guest",
				       json_object_new_boolean(1));
		json_object_object_add(data, "reason",
				       json_object_new_string("guest-reset"));
	} else if (strcmp(name, "BALLOON_CHANGE") == 0) {
		data = json_object_new_object();
		json_object_object_add(
		    data, "actual", json_object_new_int64((int64_t)s->actual));
	}
	return srv_event(s, name, data);
}

int fakeqmp_send_raw(struct fakeqmp *s, const char *text)
{
	struct session *ss = s->active;
	if (!ss || ss->closing)
		return -ENOTCONN;
	size_t len = strlen(text);
	char *line = malloc(len + 2);
	if (!line)
		return -ENOMEM;
	memcpy(line, text, len);
	memcpy(line + len, "\r\n", 2);
	int rc = session_write(ss, line, len + 2, false);
	free(line);
	return rc;
}

size_t fakeqmp_write_queue_bytes(const struct fakeqmp *s)
{
	if (!s->active)
		return 0;
	return uv_stream_get_write_queue_size(
	    (const uv_stream_t *)&s->active->pipe);
}

uint64_t fakeqmp_actual(const struct fakeqmp *s)
{
	return s->actual;
}

uint64_t fakeqmp_target(const struct fakeqmp *s)
{
	return s->target;
}

unsigned fakeqmp_stats_interval(const struct fakeqmp *s)
{
	return s->stats_interval;
}

const char *fakeqmp_name(const struct fakeqmp *s)
{
	return s->name;
}

const char *fakeqmp_path(const struct fakeqmp *s)
{
	return s->path;
}

unsigned fakeqmp_connections(const struct fakeqmp *s)
{
	return s->connections;
}

bool fakeqmp_connected(const struct fakeqmp *s)
{
	return s->active != NULL;
}

json_object *fakeqmp_status(const struct fakeqmp *s)
{
	char mode[256];
	fakeqmp_mode_string(s, mode, sizeof(mode));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "path", json_object_new_string(s->path));
	json_object_object_add(o, "mode", json_object_new_string(mode));
	json_object_object_add(
	    o, "ram", json_object_new_int64((int64_t)s->cfg.ram_bytes));
	json_object_object_add(o, "actual",
			       json_object_new_int64((int64_t)s->actual));
	json_object_object_add(o, "target",
			       json_object_new_int64((int64_t)s->target));
	json_object_object_add(o, "stats_interval",
			       json_object_new_int64(s->stats_interval));
	json_object_object_add(o, "connections",
			       json_object_new_int64(s->connections));
	json_object_object_add(o, "connected",
			       json_object_new_boolean(s->active != NULL));
	return o;
}

size_t fakeqmp_ncommands(const struct fakeqmp *s)
{
	return s->ncmds;
}

const struct fakeqmp_cmd *fakeqmp_command(const struct fakeqmp *s, size_t i)
{
	return i < s->ncmds ? &s->cmds[i] : NULL;
}

size_t fakeqmp_count(const struct fakeqmp *s, const char *execute)
{
	size_t n = 0;
	for (size_t i = 0; i < s->ncmds; i++)
		if (strcmp(s->cmds[i].execute, execute) == 0)
			n++;
	return n;
}

void fakeqmp_clear_commands(struct fakeqmp *s)
{
	for (size_t i = 0; i < s->ncmds; i++)
		json_object_put(s->cmds[i].arguments);
	s->ncmds = 0;
}

/* ---- loop helpers ---- */

/* What run_loop_until watches with: its handles close after it returns,
 * on the caller's next loop run, and free this with the last. */
struct until {
	uv_timer_t timer;
	uv_prepare_t prepare;
	uv_check_t check;
	bool (*cond)(void *arg);
	void *arg;
	bool met, expired;
	int open;
};

static void expire_cb(uv_timer_t *t)
{
	struct until *u = t->data;
	u->expired = true;
}

/* Before the loop polls and right after: the loop stops as soon as cond
 * holds, before any later timer may undo it. */
static void until_check(struct until *u, uv_loop_t *loop)
{
	u->met = u->cond(u->arg);
	if (u->met || u->expired)
		uv_stop(loop);
}

static void until_prepare_cb(uv_prepare_t *h)
{
	until_check(h->data, h->loop);
}

static void until_check_cb(uv_check_t *h)
{
	until_check(h->data, h->loop);
}

static void until_closed_cb(uv_handle_t *h)
{
	struct until *u = h->data;
	if (--u->open == 0)
		free(u);
}

/* The loop until cond holds or ms have passed, unscaled. cond is checked
 * before and after each poll, in UV_RUN_DEFAULT, which (unlike
 * UV_RUN_ONCE) runs no timer after the poll, and nothing runs after it
 * holds: a state that a timer ends (a backoff) is seen, and still holds
 * at the return, even when the process stalled for longer than the timer,
 * as on a busy machine. */
static bool run_loop_until(uv_loop_t *loop, bool (*cond)(void *arg), void *arg,
			   uint64_t ms)
{
	struct until *u = calloc(1, sizeof(*u));
	if (!u)
		abort();
	*u = (struct until){.cond = cond, .arg = arg, .open = 3};
	u->timer.data = u->prepare.data = u->check.data = u;
	uv_update_time(loop);
	uv_timer_init(loop, &u->timer);
	uv_prepare_init(loop, &u->prepare);
	uv_check_init(loop, &u->check);
	uv_timer_start(&u->timer, expire_cb, ms, 0);
	uv_prepare_start(&u->prepare, until_prepare_cb);
	uv_check_start(&u->check, until_check_cb);
	u->met = cond(arg);
	while (!u->met && !u->expired)
		uv_run(loop, UV_RUN_DEFAULT);
	bool met = u->met;
	uv_close((uv_handle_t *)&u->timer, until_closed_cb);
	uv_close((uv_handle_t *)&u->prepare, until_closed_cb);
	uv_close((uv_handle_t *)&u->check, until_closed_cb);
	return met;
}

bool run_until_fn(uv_loop_t *loop, bool (*cond)(void *arg), void *arg,
		  uint64_t deadline_ms)
{
	return run_loop_until(loop, cond, arg, deadline_ms * test_time_scale());
}

static bool flag_set(void *arg)
{
	return *(const int *)arg != 0;
}

bool run_until(uv_loop_t *loop, const int *flag, uint64_t deadline_ms)
{
	return run_until_fn(loop, flag_set, (void *)flag, deadline_ms);
}

static bool never(void *arg)
{
	return false;
}

void run_for(uv_loop_t *loop, uint64_t ms)
{
	run_loop_until(loop, never, NULL, ms);
}

/* ---- the probe ---- */

static void probe_closed_cb(qmp_client *c, void *data)
{
	struct probe *p = data;
	p->closed++;
}

void probe_close(struct probe *p)
{
	if (!p->c)
		return;
	qmp_client *c = p->c;
	p->c = NULL;
	qmp_client_close(c, probe_closed_cb, p);
}

static void probe_ready_cb(qmp_client *c, void *data)
{
	struct probe *p = data;
	p->ready++;
	if (p->close_in_ready)
		probe_close(p);
}

static void probe_disconnect_cb(qmp_client *c, int err, void *data)
{
	struct probe *p = data;
	if (p->disconnects < PROBE_MAX_DISCONNECTS) {
		p->disconnect_err[p->disconnects] = err;
		p->disconnect_ms[p->disconnects] = uv_now(p->loop);
	}
	p->disconnects++;
	if (p->close_in_disconnect)
		probe_close(p);
}

static void probe_balloon_change_cb(qmp_client *c, uint64_t actual_bytes,
				    void *data)
{
	struct probe *p = data;
	p->balloon_changes++;
	p->last_actual = actual_bytes;
}

static void probe_reset_cb(qmp_client *c, void *data)
{
	struct probe *p = data;
	p->resets++;
	if (p->close_in_reset)
		probe_close(p);
}

static void probe_event_cb(qmp_client *c, const char *name, json_object *data,
			   int64_t timestamp_us, void *data_)
{
	struct probe *p = data_;
	p->events++;
	p->last_event_ts_us = timestamp_us;
	snprintf(p->last_event, sizeof(p->last_event), "%s", name);
	snprintf(
	    p->last_event_data, sizeof(p->last_event_data), "%s",
	    data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN)
		 : "");
}

int probe_start(struct probe *p, uv_loop_t *loop, const struct qmp_config *cfg)
{
	static const struct qmp_callbacks cbs = {
	    .ready_cb = probe_ready_cb,
	    .disconnect_cb = probe_disconnect_cb,
	    .balloon_change_cb = probe_balloon_change_cb,
	    .reset_cb = probe_reset_cb,
	    .event_cb = probe_event_cb,
	};
	p->loop = loop;
	int rc = qmp_client_new(loop, cfg, &cbs, p, &p->c);
	if (rc)
		return rc;
	rc = qmp_client_start(p->c);
	if (rc)
		probe_close(p);
	return rc;
}

/* ---- reply recorders ---- */

static void result_done(struct result *res, int err, const char *class)
{
	res->n++;
	res->err = err;
	if (res->probe)
		res->events_at_reply = res->probe->events;
	snprintf(res->error_class, sizeof(res->error_class), "%s",
		 class ? class : "");
	if (res->close_client && res->probe)
		probe_close(res->probe);
}

void result_cb(qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct result *res = data;
	snprintf(res->ret, sizeof(res->ret), "%s",
		 r->err == 0 && r->ret ? json_object_to_json_string_ext(
					     r->ret, JSON_C_TO_STRING_PLAIN)
				       : "");
	result_done(res, r->err, r->error_class);
}

void status_cb(qmp_client *c, int err, void *data)
{
	result_done(data, err, NULL);
}

void size_cb(qmp_client *c, int err, uint64_t bytes, void *data)
{
	struct result *res = data;
	res->bytes = bytes;
	result_done(res, err, NULL);
}

void path_cb(qmp_client *c, int err, const char *path, void *data)
{
	struct result *res = data;
	snprintf(res->path, sizeof(res->path), "%s", path ? path : "");
	result_done(res, err, NULL);
}

void stats_cb(qmp_client *c, int err, const struct qmp_guest_stats *st,
	      void *data)
{
	struct result *res = data;
	if (st)
		res->stats = *st;
	res->has_stats = st != NULL;
	result_done(res, err, NULL);
}

/* ---- the fixture ---- */

struct qmp_config fixture_config(const char *path)
{
	struct qmp_config cfg = QMP_CONFIG_DEFAULT;
	cfg.socket_path = path;
	/* Deadlines that only catch a hang: scaled like the tests' waits. */
	cfg.greeting_timeout_ms = 2000 * test_time_scale();
	cfg.command_timeout_ms = 2000 * test_time_scale();
	cfg.reconnect_min_ms = 10;
	cfg.reconnect_max_ms = 100;
	return cfg;
}

int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	alarm(30 * test_time_scale());
	strcpy(f->dir, "/tmp/qmptest.XXXXXX");
	if (uv_loop_init(&f->loop) || !mkdtemp(f->dir))
		return -1;
	*state = f;
	snprintf(f->path, sizeof(f->path), "%s/uut.qmp", f->dir);
	snprintf(f->good_path, sizeof(f->good_path), "%s/good.qmp", f->dir);
	struct fakeqmp_config fc = FAKEQMP_CONFIG_DEFAULT;
	fc.path = f->path;
	if (fakeqmp_new(&f->loop, &fc, &f->fake))
		return -1;
	fc.path = f->good_path;
	if (fakeqmp_new(&f->loop, &fc, &f->good))
		return -1;
	struct qmp_config cfg = fixture_config(f->good_path);
	if (probe_start(&f->healthy, &f->loop, &cfg))
		return -1;
	return run_until(&f->loop, &f->healthy.ready, 5000) ? 0 : -1;
}

int fixture_teardown(void **state)
{
	struct fixture *f = *state;
	if (!f)
		return 0;
	probe_close(&f->probe);
	probe_close(&f->healthy);
	if (f->fake)
		fakeqmp_close(f->fake);
	if (f->good)
		fakeqmp_close(f->good);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	int rc = uv_loop_close(&f->loop);
	if (rc)
		uv_print_all_handles(&f->loop, stderr);
	rmdir(f->dir);
	free(f);
	alarm(0);
	return rc ? -1 : 0;
}

bool fixture_healthy(struct fixture *f)
{
	struct result r = {0};
	if (!f->healthy.c || qmp_balloon_query(f->healthy.c, size_cb, &r))
		return false;
	run_until(&f->loop, &r.n, 5000);
	return r.n == 1 && r.err == 0 && r.bytes == fakeqmp_actual(f->good) &&
	       f->healthy.disconnects == 0 && f->healthy.ready == 1;
}
