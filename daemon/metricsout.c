/*
 * metricsout.c: the outlets of the metrics ([metrics] in balloond.conf).
 * The exposition is always rendered on the loop, from struct bd, by
 * bd_metrics_render; the outlets only carry the text out.
 *
 *   textfile  for node_exporter's textfile collector: every
 *             textfile_interval_ms, the text is written on the thread
 *             pool to a temporary file in the same directory and renamed
 *             over the textfile, so that the collector never reads half a
 *             file and a slow disk never stalls the loop.
 *   listen    an HTTP listener (libmicrohttpd) on a thread of its own,
 *             which serves GET /metrics from a snapshot: a request asks
 *             the loop (uv_async) for a fresh one and waits for it, at
 *             most a second, under a lock. The thread never reads struct
 *             bd; the loop renders only when scraped. Connections are
 *             bounded in number and time, and the library's one polling
 *             thread serves them all without blocking, so a client that
 *             sends nothing or reads slowly delays neither the loop nor
 *             the other clients. A connection is kept alive
 *             between scrapes (Prometheus keeps its own open), within
 *             the same bound and idle timeout.
 *
 * The outlets have a source's life cycle (start copies the config, a
 * reload stops and starts them again), though they feed nothing to the
 * policy.
 */
#include "daemon.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proto/fileio.h"
#include "proto/lazylib.h"

/* libmicrohttpd is loaded when a listener is first configured, as libcurl
 * is for the first [cluster] (rest.c): a daemon without [metrics] listen
 * maps none of it and the GnuTLS, nettle, GMP, p11-kit, ... it brings. A
 * library that cannot be loaded is said at each start or reload that
 * wants a listener; the textfile goes on. The headers still type every
 * call. */
#define MHD_FUNCS(X)                                                           \
	X(MHD_add_response_header)                                             \
	X(MHD_create_response_from_buffer)                                     \
	X(MHD_destroy_response)                                                \
	X(MHD_queue_response)                                                  \
	X(MHD_start_daemon)                                                    \
	X(MHD_stop_daemon)

static struct {
	BD_LAZY_PTRS(MHD_FUNCS)
	bool loaded;
} lmhd;
BD_LAZY_RESOLVER(resolve_libmicrohttpd, lmhd, MHD_FUNCS)

/* 0, or -errno with the reason in err. */
static int load_libmicrohttpd(char *err, size_t err_len)
{
	return bd_lazy_load_once(&lmhd.loaded, BD_LIBMICROHTTPD_PATH,
				 BD_LIBMICROHTTPD_SONAME, resolve_libmicrohttpd,
				 err, err_len);
}

struct metrics_out;

/* One textfile write, handed to the thread pool. */
struct tf_work {
	uv_work_t req;
	struct metrics_out *m;
	char path[BD_PATH_MAX];
	struct bd_buf text;
	int err;       /* 0, or -errno of the step that failed */
	char what[32]; /* that step */
};

struct metrics_out {
	struct bd_source src;
	uv_timer_t tf_timer;
	char tf_path[BD_PATH_MAX]; /* "": off */
	uint64_t tf_interval_ms;
	struct tf_work *tf_work; /* the write in flight; NULL: none */
	bool tf_failing;	 /* the last write failed (said once) */

	/* The HTTP listener. The lock guards the snapshot and the request
	 * counters below; the loop renders outside it. */
	struct MHD_Daemon *httpd; /* NULL: off */
	uv_async_t h_async;	  /* a scrape wants a fresh snapshot */
	uv_mutex_t h_lock;
	uv_cond_t h_cond;
	char *h_text; /* the snapshot; NULL: none yet */
	size_t h_len;
	uint64_t h_wanted, h_built; /* snapshots asked for, and built */
	bool h_stopping;	    /* the listener is being stopped */
	bool closing;
	int closes_pending;
	void (*done)(struct bd_source *);
};

/* ---- the textfile ---- */

/* On the thread pool: the temporary file is named after the textfile but
 * hidden and without the .prom suffix, so that the collector never reads
 * it; it is removed whatever fails. Not bd_replace_file: the collector
 * may run as another user (hence fchmod, whatever the umask), and a
 * crash needs no durability (the next interval writes the file anew), so
 * no fsync. */
static void tf_work_cb(uv_work_t *req)
{
	struct tf_work *w = req->data;
	char dir_buf[BD_PATH_MAX], base_buf[BD_PATH_MAX];
	char tmp[2 * BD_PATH_MAX + 16];
	snprintf(dir_buf, sizeof(dir_buf), "%s", w->path);
	snprintf(base_buf, sizeof(base_buf), "%s", w->path);
	snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(dir_buf),
		 basename(base_buf));
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		w->err = -errno;
		snprintf(w->what, sizeof(w->what), "creating a temporary file");
		return;
	}
	int rc = bd_write_all(fd, w->text.p, w->text.len);
	snprintf(w->what, sizeof(w->what), "writing");
	/* mkstemp makes it 0600: the collector may run as another user. */
	if (!rc && fchmod(fd, 0644))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc) {
		snprintf(w->what, sizeof(w->what), "renaming");
		if (rename(tmp, w->path))
			rc = -errno;
	}
	if (rc)
		unlink(tmp);
	w->err = rc;
}

static void maybe_closed(struct metrics_out *m)
{
	if (--m->closes_pending > 0)
		return;
	if (m->done)
		m->done(&m->src);
	uv_cond_destroy(&m->h_cond);
	uv_mutex_destroy(&m->h_lock);
	free(m->h_text);
	free(m);
}

static void tf_after_cb(uv_work_t *req, int status)
{
	struct tf_work *w = req->data;
	struct metrics_out *m = w->m;
	m->tf_work = NULL;
	if (status == UV_ECANCELED)
		w->err = -ECANCELED;
	if (w->err && !m->tf_failing)
		bd_warn("metrics textfile %s: %s: %s (said once until it "
			"works)",
			w->path, w->what, strerror(-w->err));
	else if (!w->err && m->tf_failing)
		bd_notice("metrics textfile %s: written again", w->path);
	m->tf_failing = w->err != 0;
	bd_buf_free(&w->text);
	free(w);
	if (m->closing)
		maybe_closed(m);
}

static void tf_tick_cb(uv_timer_t *t)
{
	struct metrics_out *m = t->data;
	/* A write still on its way (a slow disk): skip this tick rather than
	 * queue writes behind it. */
	if (m->tf_work)
		return;
	struct tf_work *w = calloc(1, sizeof(*w));
	if (!w)
		return;
	if (bd_metrics_render(m->src.bd, &w->text)) {
		bd_buf_free(&w->text);
		free(w);
		return;
	}
	w->m = m;
	w->req.data = w;
	snprintf(w->path, sizeof(w->path), "%s", m->tf_path);
	if (uv_queue_work(m->src.bd->loop, &w->req, tf_work_cb, tf_after_cb)) {
		bd_buf_free(&w->text);
		free(w);
		return;
	}
	m->tf_work = w;
}

/* ---- the HTTP listener ---- */

/* How long a scrape waits for the loop's snapshot, and how long an idle
 * or slow connection may last (a scrape takes milliseconds). */
#define HTTP_WAIT_NS	 (1000ULL * 1000 * 1000)
#define HTTP_TIMEOUT_S	 10
#define HTTP_CONNECTIONS 16

/* On the loop: render the snapshot the scrapes are waiting for. */
static void h_async_cb(uv_async_t *a)
{
	struct metrics_out *m = a->data;
	uv_mutex_lock(&m->h_lock);
	uint64_t wanted = m->h_wanted;
	uv_mutex_unlock(&m->h_lock);
	struct bd_buf b = {0};
	if (bd_metrics_render(m->src.bd, &b)) {
		bd_buf_free(&b);
		return;
	}
	uv_mutex_lock(&m->h_lock);
	free(m->h_text);
	m->h_text = b.p;
	m->h_len = b.len;
	m->h_built = wanted;
	uv_cond_broadcast(&m->h_cond);
	uv_mutex_unlock(&m->h_lock);
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status,
			       const char *body, size_t len, const char *type)
{
	struct MHD_Response *r = lmhd.MHD_create_response_from_buffer(
	    len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	lmhd.MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		lmhd.MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
					     "GET, HEAD");
	enum MHD_Result ret = lmhd.MHD_queue_response(conn, status, r);
	lmhd.MHD_destroy_response(r);
	return ret;
}

#define TEXT_PLAIN "text/plain; charset=utf-8"

/* On the listener's thread. */
static enum MHD_Result h_request_cb(void *cls, struct MHD_Connection *conn,
				    const char *url, const char *method,
				    const char *version, const char *upload,
				    size_t *upload_len, void **con_cls)
{
	struct metrics_out *m = cls;
	(void)version;
	(void)upload;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		/* Answered at once, before any body is read: libmicrohttpd
		 * then closes the connection, so a body never has to be
		 * read and thrown away. */
		static const char msg[] = "only GET and HEAD\n";
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, msg,
			       sizeof(msg) - 1, TEXT_PLAIN);
	}
	/* Keep-alive. Prometheus keeps its scrape connection open from one
	 * scrape to the next. libmicrohttpd keeps a connection alive only
	 * when the answer is queued after the request was read whole: on
	 * the first call (the headers) it could not know whether a body
	 * follows, and it would close the connection ("Connection:
	 * close"). So the first call only takes note, any body of a GET is
	 * dropped, and the last call (no more body) answers. Keeping a
	 * connection alive costs nothing that a silent client could not
	 * take anyway: an idle kept-alive connection holds one of the
	 * HTTP_CONNECTIONS slots, and is closed after HTTP_TIMEOUT_S idle,
	 * exactly as a client that connects and sends nothing; and a
	 * Prometheus holds one connection per target. */
	static int request_seen;
	if (!*con_cls) {
		*con_cls = &request_seen;
		return MHD_YES;
	}
	if (*upload_len) {
		*upload_len = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0) {
		static const char msg[] =
		    "not found: balloond serves /metrics\n";
		return respond(conn, MHD_HTTP_NOT_FOUND, msg, sizeof(msg) - 1,
			       TEXT_PLAIN);
	}
	uv_mutex_lock(&m->h_lock);
	uint64_t mine = ++m->h_wanted;
	bool stopping = m->h_stopping;
	uv_mutex_unlock(&m->h_lock);
	if (!stopping)
		uv_async_send(&m->h_async);
	uv_mutex_lock(&m->h_lock);
	uint64_t start = uv_hrtime();
	while (m->h_built < mine && !m->h_stopping) {
		uint64_t spent = uv_hrtime() - start;
		if (spent >= HTTP_WAIT_NS ||
		    uv_cond_timedwait(&m->h_cond, &m->h_lock,
				      HTTP_WAIT_NS - spent) == UV_ETIMEDOUT)
			break;
	}
	/* A loop too busy to answer within the wait: the last snapshot. */
	enum MHD_Result ret;
	if (m->h_text)
		ret = respond(conn, MHD_HTTP_OK, m->h_text, m->h_len,
			      "text/plain; version=0.0.4; charset=utf-8");
	else {
		static const char msg[] = "no metrics yet\n";
		ret = respond(conn, MHD_HTTP_SERVICE_UNAVAILABLE, msg,
			      sizeof(msg) - 1, TEXT_PLAIN);
	}
	uv_mutex_unlock(&m->h_lock);
	return ret;
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)
				  ->sin_addr.s_addr) >>
			24) == 127;
	return IN6_IS_ADDR_LOOPBACK(
	    &((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static void http_start(struct metrics_out *m, const char *listen)
{
	char addr[64];
	unsigned port;
	struct sockaddr_storage ss = {0};
	if (bd_conf_split_listen(listen, addr, sizeof(addr), &port))
		return; /* the config was checked */
	bool v6 = strchr(addr, ':') != NULL;
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &s4->sin_addr);
	}
	if (!is_loopback((struct sockaddr *)&ss))
		bd_warn("metrics: listening on %s, not a loopback address: "
			"anyone who reaches it reads the guests' names and "
			"sizes",
			listen);
	char err[256];
	if (load_libmicrohttpd(err, sizeof(err))) {
		bd_err("metrics: cannot listen on %s: %s", listen, err);
		return;
	}
	uv_mutex_lock(&m->h_lock);
	m->h_stopping = false;
	uv_mutex_unlock(&m->h_lock);
	m->httpd = lmhd.MHD_start_daemon(
	    MHD_USE_POLL_INTERNAL_THREAD | (v6 ? MHD_USE_IPv6 : 0), 0, NULL,
	    NULL, h_request_cb, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
	if (!m->httpd)
		bd_err("metrics: cannot listen on %s (libmicrohttpd refused: "
		       "the address taken or not local?)",
		       listen);
	else
		bd_info("metrics: serving http://%s/metrics", listen);
}

static void http_stop(struct metrics_out *m)
{
	if (!m->httpd)
		return;
	/* A scrape waiting for the loop must not wait for this thread. */
	uv_mutex_lock(&m->h_lock);
	m->h_stopping = true;
	uv_cond_broadcast(&m->h_cond);
	uv_mutex_unlock(&m->h_lock);
	lmhd.MHD_stop_daemon(m->httpd);
	m->httpd = NULL;
}

/* ---- the source's life cycle ---- */

static int out_start(struct bd_source *src)
{
	struct metrics_out *m = src->state;
	const struct bd_conf *c = &src->bd->conf;
	snprintf(m->tf_path, sizeof(m->tf_path), "%s", c->metrics_textfile);
	m->tf_interval_ms = c->metrics_textfile_interval_ms;
	/* A listener that cannot start is said; the textfile goes on. */
	if (c->metrics_listen[0])
		http_start(m, c->metrics_listen);
	if (m->tf_path[0])
		return uv_timer_start(&m->tf_timer, tf_tick_cb, 0,
				      m->tf_interval_ms);
	return 0;
}

static void out_stop(struct bd_source *src)
{
	struct metrics_out *m = src->state;
	uv_timer_stop(&m->tf_timer);
	http_stop(m);
}

static void handle_closed_cb(uv_handle_t *h)
{
	maybe_closed(h->data);
}

static void out_close(struct bd_source *src, void (*done)(struct bd_source *))
{
	struct metrics_out *m = src->state;
	m->done = done;
	m->closing = true;
	/* The timer, and a write in flight (it cannot be called back; its
	 * temporary file is renamed or removed before it ends). */
	http_stop(m);
	m->closes_pending = 2 + (m->tf_work != NULL);
	uv_close((uv_handle_t *)&m->tf_timer, handle_closed_cb);
	uv_close((uv_handle_t *)&m->h_async, handle_closed_cb);
}

static const struct bd_source_ops out_ops = {
    .name = "metrics",
    .start = out_start,
    .stop = out_stop,
    .close = out_close,
};

int bd_metrics_source_new(struct bd *bd, struct bd_source **out)
{
	struct metrics_out *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (uv_mutex_init(&m->h_lock)) {
		free(m);
		return -ENOMEM;
	}
	if (uv_cond_init(&m->h_cond)) {
		uv_mutex_destroy(&m->h_lock);
		free(m);
		return -ENOMEM;
	}
	uv_timer_init(bd->loop, &m->tf_timer);
	m->tf_timer.data = m;
	uv_async_init(bd->loop, &m->h_async, h_async_cb);
	m->h_async.data = m;
	m->src = (struct bd_source){.ops = &out_ops, .bd = bd, .state = m};
	*out = &m->src;
	return 0;
}
