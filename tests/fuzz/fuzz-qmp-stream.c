/*
 * fuzz-qmp-stream.c: libFuzzer target for everything that reads bytes
 * coming from QEMU: the framer, message sorting, greeting and guest-stats
 * parsing, and (for about half the inputs) a whole qmp_client reading the
 * input from a unix socket.
 *
 * The input is a QMP stream as QEMU would send it, so the seed corpus is
 * plain transcripts. Its first two bytes and its size also choose the
 * parameters: the framer's cap (8 KiB for a stream starting with `{"`,
 * down to 65 bytes), how the stream is cut into reads, and whether a live
 * client reads it. The client answers its greeting with
 * qmp_capabilities (id 1) and, once ready, sends query-balloon (2),
 * qom-list (3, and 4 for peripheral-anon), qom-get guest-stats, balloon and
 * query-status, so replies with small ids reach the typed callbacks.
 *
 * Build: make fuzz (clang, -fsanitize=fuzzer,address,undefined).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/framer.h"
#include "qmp/qmp.h"

/* A violated invariant is a crash libFuzzer reports. */
#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			__builtin_trap();                                      \
	} while (0)

static void use_message(const struct qmp_message *m)
{
	struct qmp_greeting g;
	struct qmp_guest_stats st;

	switch (m->kind) {
	case QMP_MSG_GREETING:
		if (qmp_greeting_parse(m->greeting, &g) == 0) {
			CHECK(strlen(g.package) < sizeof(g.package));
			CHECK((g.capabilities & ~QMP_CAP_OOB) == 0);
		}
		break;
	case QMP_MSG_RETURN:
		if (qmp_guest_stats_parse(m->ret, &st) == 0)
			CHECK(st.last_update == st.last_update);
		break;
	case QMP_MSG_ERROR:
		CHECK(m->error_class && m->error_desc);
		CHECK(strlen(m->error_class) < SIZE_MAX);
		break;
	case QMP_MSG_EVENT:
		CHECK(m->event);
		CHECK(m->timestamp_us >= 0);
		break;
	}
}

struct lines {
	size_t cap;
	size_t n;
};

static int on_line(char *line, size_t len, void *data)
{
	struct lines *l = data;
	struct qmp_message m;

	/* The framer's promises: no newline, NUL-terminated, under the cap,
	 * never empty. */
	CHECK(len > 0 && len < l->cap);
	CHECK(line[len] == '\0');
	CHECK(memchr(line, '\n', len) == NULL);
	l->n++;
	if (qmp_message_parse(line, len, &m) == 0) {
		CHECK(m.root != NULL);
		use_message(&m);
		json_object_put(m.root);
	}
	return 0;
}

/* xorshift32: chunk sizes from the input's first bytes. */
static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void feed_framer(const uint8_t *data, size_t size, size_t cap,
			uint32_t seed)
{
	struct framer f;
	struct lines l = {.cap = cap};
	size_t max_chunk = 1 + seed % 300;

	framer_init(&f, cap);
	for (size_t off = 0; off < size;) {
		size_t n = 1 + next_rand(&seed) % max_chunk;
		if (n > size - off)
			n = size - off;
		/* The framer writes into what it is fed: a copy, freed at
		 * once, so that a framer keeping a pointer into it shows. */
		char *chunk = malloc(n);
		CHECK(chunk);
		memcpy(chunk, data + off, n);
		int rc = framer_feed(&f, chunk, n, on_line, &l);
		free(chunk);
		CHECK(rc == 0 || rc == -EMSGSIZE);
		CHECK(f.len <= cap);
		/* A client drops the connection here; keep going to test
		 * that reset makes the framer usable again. */
		if (rc == -EMSGSIZE)
			framer_reset(&f);
		off += n;
	}
	framer_free(&f);
}

/* ---- a live client on a unix socket ---- */

static uv_loop_t loop;
static uv_pipe_t listener;
static char sock_path[108];

struct session {
	const uint8_t *data;
	size_t size;
	uv_pipe_t server_side;
	bool accepted, server_closed;
	uv_write_t write;
	uv_shutdown_t shutdown;
	qmp_client *c;
	bool gone; /* disconnect_cb ran, or the client closed itself */
	bool close_in_reply;
	int replies;
};

static struct session *cur;

static void server_closed_cb(uv_handle_t *h)
{
	cur->server_closed = true;
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	uv_close((uv_handle_t *)&cur->server_side, server_closed_cb);
}

static void write_cb(uv_write_t *req, int status)
{
	if (status == 0 &&
	    uv_shutdown(&cur->shutdown, (uv_stream_t *)&cur->server_side,
			shutdown_cb) == 0)
		return;
	uv_close((uv_handle_t *)&cur->server_side, server_closed_cb);
}

static void connection_cb(uv_stream_t *l, int status)
{
	struct session *s = cur;
	if (status < 0 || !s || s->accepted)
		return;
	uv_pipe_init(&loop, &s->server_side, 0);
	s->accepted = true;
	if (uv_accept(l, (uv_stream_t *)&s->server_side)) {
		uv_close((uv_handle_t *)&s->server_side, server_closed_cb);
		return;
	}
	/* The whole input at once: QEMU's writes and the client's reads
	 * need not line up, and the framer above tests chunking. */
	uv_buf_t buf = uv_buf_init((char *)s->data, (unsigned)s->size);
	if (uv_write(&s->write, (uv_stream_t *)&s->server_side, &buf, 1,
		     write_cb))
		uv_close((uv_handle_t *)&s->server_side, server_closed_cb);
}

static void client_closed_cb(qmp_client *c, void *data)
{
	cur->gone = true;
}

static void any_reply(struct session *s)
{
	if (++s->replies == 1 && s->close_in_reply && s->c) {
		qmp_client *c = s->c;
		s->c = NULL;
		qmp_client_close(c, client_closed_cb, NULL);
	}
}

static void reply_cb(qmp_client *c, const struct qmp_reply *r, void *data)
{
	if (r->err == 0 && r->ret)
		CHECK(json_object_to_json_string(r->ret) != NULL);
	if (r->err == QMP_ERR_COMMAND || r->err == QMP_ERR_NO_BALLOON)
		CHECK(r->error_class && r->error_desc);
	any_reply(cur);
}

static void status_cb(qmp_client *c, int err, void *data)
{
	any_reply(cur);
}

static void size_cb(qmp_client *c, int err, uint64_t bytes, void *data)
{
	CHECK(err != 0 || bytes > 0);
	any_reply(cur);
}

static void path_cb(qmp_client *c, int err, const char *path, void *data)
{
	CHECK((err == 0) == (path != NULL));
	if (path)
		CHECK(strncmp(path, "/machine/peripheral", 19) == 0);
	any_reply(cur);
}

static void stats_cb(qmp_client *c, int err, const struct qmp_guest_stats *st,
		     void *data)
{
	CHECK((err == 0) == (st != NULL));
	any_reply(cur);
}

static void ready_cb(qmp_client *c, void *data)
{
	const struct qmp_greeting *g = qmp_client_greeting(c);
	CHECK(g != NULL);
	qmp_balloon_query(c, size_cb, NULL);
	qmp_balloon_find_path(c, path_cb, NULL);
	qmp_guest_stats_get(c, "/machine/peripheral/balloon0", stats_cb, NULL);
	qmp_balloon_set(c, 1 << 30, status_cb, NULL);
	qmp_execute(c, "query-status", NULL, 0, reply_cb, NULL);
}

static void disconnect_cb(qmp_client *c, int err, void *data)
{
	CHECK(err != 0);
	cur->gone = true;
	/* Only a failed connect can end a run before the server side
	 * accepted; otherwise that connection must be drained first, or
	 * the next run would accept it instead of its own. */
	if (!cur->accepted)
		CHECK(err == UV_ECONNREFUSED || err == UV_EAGAIN ||
		      err == UV_ENOENT);
}

static void event_cb(qmp_client *c, const char *name, json_object *data,
		     int64_t timestamp_us, void *data_)
{
	CHECK(name != NULL);
	if (data)
		CHECK(json_object_to_json_string(data) != NULL);
}

static void balloon_change_cb(qmp_client *c, uint64_t actual, void *data)
{
	CHECK(cur != NULL);
}

static void remove_socket(void)
{
	unlink(sock_path);
}

static int setup_listener(void)
{
	/* The server side writes to clients that may have given up; like
	 * balloond, take EPIPE rather than die of SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(sock_path, sizeof(sock_path), "/tmp/fuzz-qmp-stream.%ld.sock",
		 (long)getpid());
	unlink(sock_path);
	uv_loop_init(&loop);
	uv_pipe_init(&loop, &listener, 0);
	if (uv_pipe_bind(&listener, sock_path) ||
	    uv_listen((uv_stream_t *)&listener, 8, connection_cb))
		return -1;
	atexit(remove_socket);
	return 0;
}

static void run_client(const uint8_t *data, size_t size, size_t cap,
		       bool close_in_reply)
{
	static const struct qmp_callbacks cbs = {
	    .ready_cb = ready_cb,
	    .disconnect_cb = disconnect_cb,
	    .balloon_change_cb = balloon_change_cb,
	    .event_cb = event_cb,
	};
	static int ready = 0;
	struct session s = {
	    .data = data, .size = size, .close_in_reply = close_in_reply};
	struct qmp_config cfg = QMP_CONFIG_DEFAULT;

	if (!ready)
		ready = setup_listener() == 0 ? 1 : -1;
	CHECK(ready == 1);
	/* Timeouts far beyond a run: the input's end (EOF) ends it. */
	cfg.socket_path = sock_path;
	cfg.max_message_bytes = cap;
	cfg.greeting_timeout_ms = 60000;
	cfg.command_timeout_ms = 60000;
	cur = &s;
	CHECK(qmp_client_new(&loop, &cfg, &cbs, NULL, &s.c) == 0);
	CHECK(qmp_client_start(s.c) == 0);
	while (!s.gone || (s.accepted && !s.server_closed))
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(s.accepted || s.gone);
	if (s.c) {
		qmp_client_close(s.c, client_closed_cb, NULL);
		s.c = NULL;
	}
	/* Until every handle of this run has closed. */
	while (uv_loop_alive(&loop) && loop.active_handles > 1)
		uv_run(&loop, UV_RUN_ONCE);
	uv_run(&loop, UV_RUN_NOWAIT);
	cur = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t h = size >= 2 ? (uint32_t)data[0] | (uint32_t)data[1] << 8 : 0;
	/* `{"` (0x227b) gives 8 KiB, enough for any real reply. */
	size_t cap = 8192 - (h ^ 0x227b) % 8128;
	uint32_t seed = (h * 2654435761u) ^ (uint32_t)size;

	if (!seed)
		seed = 1;
	feed_framer(data, size, cap, seed);
	if (size > 0 && size % 2 == 1 && size <= 256 * 1024)
		run_client(data, size, cap, (h >> 8) & 1);
	return 0;
}
