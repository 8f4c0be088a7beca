/*
 * rest.c: the Patroni REST watcher, a source. For each [cluster NAME] it
 * polls, every poll_interval_ms and at once after a pushed role:
 *
 *   1. GET /cluster from the members' rest_urls in turn, starting with the
 *      one that answered last; the first good answer gives the roles;
 *   2. GET the leader's /patroni (its api_url from /cluster, else each
 *      rest_url until one answers as a leader) for replication[]: which
 *      members stream from it. Only that list says streaming: /cluster's
 *      lag and state come from the DCS as the member asked sees it, and
 *      can be stale (patroniparse.h). An answer of another scope, or a
 *      /patroni naming another member than /cluster's leader, confirms
 *      nothing.
 *
 * It sets each member guest's confirmed role and streaming, and keeps per
 * cluster what the policy reads (reachable, has a leader, the facts' age)
 * and what status shows. Fail-open: a cluster whose API cannot be reached,
 * answers garbage, an oversized body or no leader, or whose facts are
 * older than max_age_ms, keeps every member at max (policy.c).
 *
 * libcurl's multi-socket interface runs on the loop: curl tells which
 * sockets to watch (socket_cb: a uv_poll each) and when to call it back
 * (timer_cb: one uv_timer); no thread, no blocking call. Facts are dated
 * by when their poll started, so that a role pushed while a poll was in
 * flight is newer than what that poll tells.
 */
#include "daemon.h"

/* Calls go through pointers (lazylib.h): curl's type-checking macros
 * would expand the member names. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "patroniparse.h"
#include "proto/lazylib.h"

/* libcurl is loaded, and its multi handle made, when the first [cluster]
 * is configured: a host without Patroni maps none of libcurl and the 31
 * libraries it brings. The headers still type every call. */
#define CURL_FUNCS(X)                                                          \
	X(curl_easy_cleanup)                                                   \
	X(curl_easy_getinfo)                                                   \
	X(curl_easy_init)                                                      \
	X(curl_easy_setopt)                                                    \
	X(curl_easy_strerror)                                                  \
	X(curl_free)                                                           \
	X(curl_global_cleanup)                                                 \
	X(curl_global_init)                                                    \
	X(curl_multi_add_handle)                                               \
	X(curl_multi_assign)                                                   \
	X(curl_multi_cleanup)                                                  \
	X(curl_multi_info_read)                                                \
	X(curl_multi_init)                                                     \
	X(curl_multi_remove_handle)                                            \
	X(curl_multi_setopt)                                                   \
	X(curl_multi_socket_action)                                            \
	X(curl_url)                                                            \
	X(curl_url_cleanup)                                                    \
	X(curl_url_get)                                                        \
	X(curl_url_set)

static struct {
	BD_LAZY_PTRS(CURL_FUNCS)
	bool loaded;
} lcu;
BD_LAZY_RESOLVER(resolve_libcurl, lcu, CURL_FUNCS)

/* How long libcurl keeps a parsed CA bundle (see req_start): an admin's
 * new bundle is in use within five minutes, and a poll every second
 * parses it once in 300 polls. */
#define CA_CACHE_SECONDS 300

struct bd_rest;

/* A socket curl asked to watch. */
struct rest_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	int events; /* what curl asked to watch (UV_READABLE, UV_WRITABLE) */
	bool closing;
	struct bd_rest *s;
	TAILQ_ENTRY(rest_sock) entry;
};

enum req_kind { REQ_CLUSTER, REQ_PATRONI };

/* One transfer in flight. */
struct rest_req {
	CURL *easy;
	struct rest_cluster *cl;
	enum req_kind kind;
	char url[320];
	char *body;
	size_t len, cap;
	bool oversized;
	char errbuf[CURL_ERROR_SIZE];
};

/* Where a URL points: the leader's api_url is asked (with the cluster's
 * credentials) only where the admin pointed balloond. */
struct rest_origin {
	char scheme[8]; /* "": any (a rest_hosts entry) */
	char host[256]; /* without an IPv6 address's brackets */
	unsigned port;	/* 0: any (a rest_hosts entry without one) */
};

struct rest_cluster {
	struct bd_rest *s;
	TAILQ_ENTRY(rest_cluster) entry;
	bool configured; /* in the running config (start marks them) */

	/* Copied from the config at start. */
	char name[64];
	char urls[BD_REST_MAX_URLS][256];
	size_t n_urls;
	uint64_t poll_interval_ms, timeout_ms, max_age_ms;
	char ca[256], cert[256], key[256];
	char username[64];
	char password[256];
	char setup_error[160]; /* why it cannot poll ("" when it can) */
	/* The rest_urls' origins, then the rest_hosts'. */
	struct rest_origin origins[BD_REST_MAX_URLS + BD_REST_MAX_HOSTS];
	size_t n_origins;
	bool https;	       /* a rest_url is https: an api_url must be too */
	char refused_api[256]; /* the api_url last refused (warned once) */

	uv_timer_t poll_timer;	/* the next poll */
	uv_timer_t stale_timer; /* the facts turn stale */

	/* The poll in flight. */
	struct rest_req *req; /* NULL: none */
	bool again;	      /* a role was pushed meanwhile: poll again */
	int64_t started_us;   /* monotonic */
	size_t url_i;	      /* the rest_url being asked */
	size_t tried;	      /* rest_urls asked in this step */
	char errors[320];     /* what each failed rest_url said */
	struct pp_cluster next_facts;
	size_t answered;	/* the rest_url that answered /cluster */
	char leader_error[320]; /* why streaming is not known: each /patroni
				 * asked, and what was wrong with it */

	/* What the last poll found. */
	bool polled;		 /* a poll ended since start */
	bool reachable;		 /* /cluster answered, well */
	int64_t good_us;	 /* that answer's poll start; 0: never */
	int64_t checked_us;	 /* the last poll's end */
	size_t good_url;	 /* the rest_url that answered last */
	struct pp_cluster facts; /* valid while reachable */
	char error[320];	 /* the last poll's trouble; "" none */
	bool stale;		 /* the stale timer fired */
	uint64_t polls, failures;
	char *summary;	    /* the facts as last emitted (JSON); NULL: none */
	int closes_pending; /* its timers still closing */
};

struct bd_rest {
	struct bd_source src;
	CURLM *multi;
	uv_timer_t curl_timer;
	TAILQ_HEAD(, rest_cluster) clusters;
	TAILQ_HEAD(, rest_sock) socks;
	struct bd_subscriber sub;
	bool closing;
	int closes_pending;
	void (*done)(struct bd_source *);
	bool curl_inited; /* curl_global_init done (see curl_ready) */
};

static void poll_start(struct rest_cluster *cl);
static void check_done(struct bd_rest *s);

/* ---- curl on the loop ---- */

static void closed_one(struct bd_rest *s)
{
	if (--s->closes_pending > 0 || !s->closing)
		return;
	void (*done)(struct bd_source *) = s->done;
	if (s->curl_inited)
		lcu.curl_global_cleanup();
	if (done)
		done(&s->src);
	free(s);
}

static void sock_closed_cb(uv_handle_t *h)
{
	struct rest_sock *k = h->data;
	struct bd_rest *s = k->s;
	free(k);
	closed_one(s);
}

static void sock_close(struct rest_sock *k)
{
	struct bd_rest *s = k->s;
	TAILQ_REMOVE(&s->socks, k, entry);
	k->closing = true;
	s->closes_pending++;
	uv_close((uv_handle_t *)&k->poll, sock_closed_cb);
}

static void sock_poll_cb(uv_poll_t *h, int status, int events)
{
	struct rest_sock *k = h->data;
	struct bd_rest *s = k->s;
	int flags = 0, running;
	/* On POLLERR (a reset, a refused connection) libuv says UV_EBADF,
	 * with no events, and stops watching. curl is told the socket is
	 * ready for what it waits for, so that its own read or write meets
	 * the real error (a reset, a TLS alert) and ends the transfer with
	 * it; were it told only CURL_CSELECT_ERR it might wait on, unwatched,
	 * until its timeout. */
	if (status < 0)
		events = k->events;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	/* k may be closed from socket_cb in here (its memory stays until
	 * the close callback): fd is read first. */
	curl_socket_t fd = k->fd;
	lcu.curl_multi_socket_action(s->multi, fd, flags, &running);
	if (status < 0 && !k->closing && k->events)
		uv_poll_start(&k->poll, k->events, sock_poll_cb);
	check_done(s);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
		     void *socketp)
{
	struct bd_rest *s = userp;
	struct rest_sock *k = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (k) {
			uv_poll_stop(&k->poll);
			if (!s->closing)
				lcu.curl_multi_assign(s->multi, fd, NULL);
			sock_close(k);
		}
		return 0;
	}
	if (!k) {
		k = calloc(1, sizeof(*k));
		if (!k)
			return -1;
		if (uv_poll_init_socket(s->src.bd->loop, &k->poll, fd)) {
			free(k);
			return -1;
		}
		k->fd = fd;
		k->s = s;
		k->poll.data = k;
		TAILQ_INSERT_HEAD(&s->socks, k, entry);
		lcu.curl_multi_assign(s->multi, fd, k);
	}
	int ev = 0;
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	k->events = ev;
	return uv_poll_start(&k->poll, ev, sock_poll_cb) ? -1 : 0;
}

static void curl_timeout_cb(uv_timer_t *t)
{
	struct bd_rest *s = t->data;
	int running;
	lcu.curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0,
				     &running);
	check_done(s);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct bd_rest *s = userp;
	if (timeout_ms < 0)
		uv_timer_stop(&s->curl_timer);
	else
		uv_timer_start(&s->curl_timer, curl_timeout_cb,
			       (uint64_t)timeout_ms, 0);
	return 0;
}

/* ---- one request ---- */

static size_t write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct rest_req *r = arg;
	size_t add = size * n;
	if (r->len + add > PP_MAX_BODY_BYTES) {
		r->oversized = true;
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	}
	if (r->len + add + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + add + 1)
			cap *= 2;
		char *b = realloc(r->body, cap);
		if (!b)
			return 0;
		r->body = b;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, add);
	r->len += add;
	r->body[r->len] = '\0';
	return add;
}

static void req_free(struct rest_req *r)
{
	if (!r)
		return;
	if (r->easy) {
		lcu.curl_multi_remove_handle(r->cl->s->multi, r->easy);
		lcu.curl_easy_cleanup(r->easy);
	}
	free(r->body);
	free(r);
}

/* Start GET url for cl; 0 or -errno (then nothing is in flight). */
static int req_start(struct rest_cluster *cl, enum req_kind kind,
		     const char *url)
{
	struct rest_req *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cl = cl;
	r->kind = kind;
	snprintf(r->url, sizeof(r->url), "%s", url);
	CURL *e = r->easy = lcu.curl_easy_init();
	if (!e) {
		free(r);
		return -ENOMEM;
	}
	lcu.curl_easy_setopt(e, CURLOPT_URL, r->url);
	lcu.curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	lcu.curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	lcu.curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	lcu.curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	lcu.curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	lcu.curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cl->timeout_ms);
	lcu.curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			     (long)cl->timeout_ms);
	/* api_url comes from the DCS: plain HTTP(S) only, no redirect. */
	lcu.curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	lcu.curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	lcu.curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
			     (curl_off_t)PP_MAX_BODY_BYTES);
	lcu.curl_easy_setopt(e, CURLOPT_USERAGENT, "balloond/" PACKAGE_VERSION);
	if (cl->ca[0])
		lcu.curl_easy_setopt(e, CURLOPT_CAINFO, cl->ca);
	/* The CA bundle alone (tls_ca_file, else the system's), never also
	 * the directory Debian's libcurl adds by default (/etc/ssl/certs):
	 * with a CA directory set, libcurl does not cache the parsed store,
	 * and Patroni's API (HTTP/1.0) closes the connection after every
	 * answer, so each poll parsed the whole bundle again on the loop
	 * thread (bench/rest-poll.py --tls). A changed bundle is read again
	 * within CA_CACHE_SECONDS. */
	lcu.curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	lcu.curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT,
			     (long)CA_CACHE_SECONDS);
	if (cl->cert[0])
		lcu.curl_easy_setopt(e, CURLOPT_SSLCERT, cl->cert);
	if (cl->key[0])
		lcu.curl_easy_setopt(e, CURLOPT_SSLKEY, cl->key);
	if (cl->username[0]) {
		lcu.curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		lcu.curl_easy_setopt(e, CURLOPT_USERNAME, cl->username);
		lcu.curl_easy_setopt(e, CURLOPT_PASSWORD, cl->password);
	}
	if (lcu.curl_multi_add_handle(cl->s->multi, e) != CURLM_OK) {
		lcu.curl_easy_cleanup(e);
		free(r);
		return -ENOMEM;
	}
	cl->req = r;
	return 0;
}

/* What went wrong with a finished transfer, or NULL when it answered
 * 200 with a body. */
static const char *req_trouble(struct rest_req *r, CURLcode rc, char *buf,
			       size_t len)
{
	long code = 0;
	if (r->oversized || rc == CURLE_FILESIZE_EXCEEDED)
		return "answer larger than 256 KiB";
	if (rc != CURLE_OK) {
		snprintf(buf, len, "%s",
			 r->errbuf[0] ? r->errbuf : lcu.curl_easy_strerror(rc));
		return buf;
	}
	lcu.curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		snprintf(buf, len, "HTTP status %ld", code);
		return buf;
	}
	return NULL;
}

/* ---- one poll ---- */

static void add_error(char *errors, size_t size, const char *url,
		      const char *what)
{
	size_t n = strlen(errors);
	if (n + 1 < size)
		snprintf(errors + n, size - n, "%s%s: %s", n ? "; " : "", url,
			 what);
}

static void url_of(const struct rest_cluster *cl, size_t i, const char *path,
		   char *out, size_t size)
{
	const char *base = cl->urls[i];
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	snprintf(out, size, "%.*s%s", (int)n, base, path);
}

static void poll_end(struct rest_cluster *cl, bool good);

/* Ask the next rest_url for /cluster; false when every one was tried. */
static bool ask_cluster(struct rest_cluster *cl)
{
	while (cl->tried < cl->n_urls) {
		size_t i = (cl->good_url + cl->tried) % cl->n_urls;
		cl->tried++;
		cl->url_i = i;
		char url[320];
		url_of(cl, i, "/cluster", url, sizeof(url));
		int rc = req_start(cl, REQ_CLUSTER, url);
		if (rc == 0)
			return true;
		add_error(cl->errors, sizeof(cl->errors), cl->urls[i],
			  strerror(-rc));
	}
	return false;
}

/* The scheme, host and port (the scheme's default when it has none) of
 * url, as curl reads it; 0 or -EINVAL. */
static int url_origin(const char *url, struct rest_origin *o)
{
	CURLU *u = lcu.curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = -EINVAL;
	if (u && lcu.curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    lcu.curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    lcu.curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    lcu.curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
		CURLUE_OK) {
		const char *h = host;
		size_t n = strlen(h);
		if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
			h++, n -= 2;
		if (n < sizeof(o->host) && strlen(scheme) < sizeof(o->scheme)) {
			snprintf(o->scheme, sizeof(o->scheme), "%s", scheme);
			snprintf(o->host, sizeof(o->host), "%.*s", (int)n, h);
			o->port = (unsigned)strtoul(port, NULL, 10);
			rc = 0;
		}
	}
	lcu.curl_free(scheme);
	lcu.curl_free(host);
	lcu.curl_free(port);
	lcu.curl_url_cleanup(u);
	return rc;
}

/* May the leader's api_url, which comes from the DCS, be asked? Whoever
 * can write the DCS chooses it: only where rest_urls or rest_hosts point
 * (and over https when a rest_url is) do the cluster's password and
 * client certificate go, and does balloond fetch anything. */
static bool api_url_allowed(const struct rest_cluster *cl, const char *url)
{
	struct rest_origin a;
	if (url_origin(url, &a) ||
	    (cl->https && strcasecmp(a.scheme, "https") != 0))
		return false;
	for (size_t i = 0; i < cl->n_origins; i++) {
		const struct rest_origin *o = &cl->origins[i];
		if (strcasecmp(o->host, a.host) == 0 &&
		    (!o->port || o->port == a.port) &&
		    (!o->scheme[0] || strcasecmp(o->scheme, a.scheme) == 0))
			return true;
	}
	return false;
}

/* Ask for the leader's /patroni: its api_url, else the rest_urls in turn
 * (an answer counts only when it is a leader's). false: nothing asked. */
static bool ask_leader(struct rest_cluster *cl)
{
	const struct pp_member *l =
	    &cl->next_facts.members[cl->next_facts.leader];
	/* Step 0 is the leader's api_url, steps 1 to n the rest_urls. */
	while (cl->tried <= cl->n_urls) {
		size_t step = cl->tried++;
		char url[320];
		if (step == 0 && !l->api_url[0])
			continue;
		if (step == 0 && !api_url_allowed(cl, l->api_url)) {
			add_error(cl->leader_error, sizeof(cl->leader_error),
				  l->api_url,
				  "not asked (its host is in neither "
				  "rest_urls nor rest_hosts)");
			if (strcmp(cl->refused_api, l->api_url) != 0)
				bd_warn("cluster %s: the leader's api_url %s "
					"is not asked: its host is in neither "
					"rest_urls nor rest_hosts",
					cl->name, l->api_url);
			snprintf(cl->refused_api, sizeof(cl->refused_api), "%s",
				 l->api_url);
			continue;
		}
		if (step == 0)
			snprintf(url, sizeof(url), "%s", l->api_url);
		else
			url_of(cl, step - 1, "/patroni", url, sizeof(url));
		if (req_start(cl, REQ_PATRONI, url) == 0)
			return true;
	}
	return false;
}

/* An answer naming another scope (Patroni 3.2 on in /cluster, 3.0 on in
 * /patroni) is another cluster's: a rest_url or api_url pointing at the
 * wrong cluster confirms nothing. NULL, or why not (in buf). */
static const char *scope_trouble(const struct rest_cluster *cl,
				 const char *what, const char *scope, char *buf,
				 size_t len)
{
	if (!scope[0] || strcmp(scope, cl->name) == 0)
		return NULL;
	snprintf(buf, len, "%s: scope '%s', not this section's '%s'", what,
		 scope, cl->name);
	return buf;
}

static void cluster_done(struct rest_cluster *cl, struct rest_req *r,
			 CURLcode rc)
{
	char buf[CURL_ERROR_SIZE + 32];
	const char *trouble = req_trouble(r, rc, buf, sizeof(buf));
	if (!trouble) {
		const char *why = NULL;
		if (pp_parse_cluster(r->body ? r->body : "", r->len,
				     &cl->next_facts, &why) == 0 &&
		    !(why = scope_trouble(cl, "/cluster", cl->next_facts.scope,
					  buf, sizeof(buf)))) {
			cl->answered = cl->url_i;
			if (cl->next_facts.leader < 0) {
				poll_end(cl, true);
				return;
			}
			cl->tried = 0;
			cl->leader_error[0] = '\0';
			if (!ask_leader(cl)) {
				snprintf(cl->leader_error,
					 sizeof(cl->leader_error), "%s",
					 "cannot ask the leader's /patroni");
				poll_end(cl, true);
			}
			return;
		}
		trouble = why;
	}
	add_error(cl->errors, sizeof(cl->errors), cl->urls[cl->url_i], trouble);
	if (!ask_cluster(cl))
		poll_end(cl, false);
}

static void patroni_done(struct rest_cluster *cl, struct rest_req *r,
			 CURLcode rc)
{
	char buf[CURL_ERROR_SIZE + 32];
	const char *trouble = req_trouble(r, rc, buf, sizeof(buf));
	struct pp_patroni p;
	const char *leader = cl->next_facts.members[cl->next_facts.leader].name;
	if (!trouble) {
		const char *why = NULL;
		if (pp_parse_patroni(r->body ? r->body : "", r->len, &p, &why))
			trouble = why;
		else if (!p.leader || p.unlocked)
			trouble = p.unlocked ? "it holds no leader lock"
					     : "it does not answer as the "
					       "leader";
		else if (!(trouble = scope_trouble(cl, "/patroni", p.scope, buf,
						   sizeof(buf))) &&
			 p.name[0] && strcmp(p.name, leader) != 0) {
			/* Another member than /cluster's leader: the two
			 * views disagree, and its list confirms nothing. */
			snprintf(buf, sizeof(buf),
				 "it is %s, not the leader %s", p.name, leader);
			trouble = buf;
		}
	}
	if (!trouble) {
		pp_apply_replication(&cl->next_facts, &p);
		cl->leader_error[0] = '\0';
		poll_end(cl, true);
		return;
	}
	add_error(cl->leader_error, sizeof(cl->leader_error), r->url, trouble);
	if (!ask_leader(cl))
		poll_end(cl, true);
}

static void check_done(struct bd_rest *s)
{
	CURLMsg *m;
	int left;
	while ((m = lcu.curl_multi_info_read(s->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct rest_req *r = NULL;
		CURLcode rc = m->data.result;
		lcu.curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
				      (char **)&r);
		if (!r)
			continue;
		struct rest_cluster *cl = r->cl;
		cl->req = NULL;
		/* The next request may start from here; this one is freed
		 * after (its url and error buffer are read first). */
		if (r->kind == REQ_CLUSTER)
			cluster_done(cl, r, rc);
		else
			patroni_done(cl, r, rc);
		req_free(r);
	}
}

/* ---- facts ---- */

/* One member guest from its cluster's last good answer. */
static void set_guest(const struct rest_cluster *cl, struct bd_guest *g,
		      int64_t now)
{
	const struct pp_member *m = pp_member_find(&cl->facts, g->spec.member);
	enum policy_role role = !m	    ? POLICY_ROLE_UNKNOWN
				: m->leader ? POLICY_ROLE_LEADER
					    : policy_role_parse(m->role);
	g->confirmed_role = role;
	g->confirmed_streaming = m && !m->leader && m->streaming;
	g->confirmed_us = cl->good_us;
	/* What status shows is the newest fact: a role pushed since this
	 * poll started stays. */
	if (g->pushed_us > cl->good_us || g->role == role)
		return;
	g->role = role;
	g->role_changed_us = now;
	bd_guest_note(g, "Patroni REST: %s",
		      m ? m->role : "not a member of /cluster");
}

static void set_guests(struct rest_cluster *cl)
{
	struct bd *bd = cl->s->src.bd;
	int64_t now = bd_mono_us(bd);
	bd_guest_foreach (g, bd)
		if (!g->removed && strcmp(g->spec.cluster, cl->name) == 0)
			set_guest(cl, g, now);
}

/* The facts as JSON: for the "cluster" event (changes only) and status. */
static json_object *facts_json(const struct rest_cluster *cl)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "cluster", json_object_new_string(cl->name));
	json_object_object_add(o, "reachable",
			       json_object_new_boolean(cl->reachable));
	if (cl->reachable) {
		const struct pp_cluster *f = &cl->facts;
		json_object_object_add(
		    o, "leader",
		    f->leader >= 0
			? json_object_new_string(f->members[f->leader].name)
			: NULL);
		json_object_object_add(
		    o, "url", json_object_new_string(cl->urls[cl->good_url]));
		json_object *ms = json_object_new_array();
		for (size_t i = 0; i < f->n_members; i++) {
			const struct pp_member *m = &f->members[i];
			json_object *jm = json_object_new_object();
			json_object_object_add(jm, "name",
					       json_object_new_string(m->name));
			json_object_object_add(jm, "role",
					       json_object_new_string(m->role));
			json_object_object_add(
			    jm, "state", json_object_new_string(m->state));
			json_object_object_add(
			    jm, "streaming",
			    json_object_new_boolean(m->streaming));
			json_object_array_add(ms, jm);
		}
		json_object_object_add(o, "members", ms);
		if (f->paused)
			json_object_object_add(o, "paused",
					       json_object_new_boolean(true));
	}
	json_object_object_add(o, "stale", json_object_new_boolean(cl->stale));
	if (cl->error[0])
		json_object_object_add(o, "error",
				       json_object_new_string(cl->error));
	return o;
}

/* Tell the event stream when the facts changed; true if they did. An
 * error that differs only in its numbers ("after 3 ms", "after 0 ms") is
 * the same error: each poll would be a change otherwise. */
static bool emit_if_changed(struct rest_cluster *cl)
{
	json_object *o = facts_json(cl);
	json_object *bare = facts_json(cl);
	json_object_object_del(bare, "error");
	const char *text = json_object_to_json_string(bare);
	size_t n = strlen(text);
	char *sig = malloc(n + sizeof(cl->error) + 2);
	if (!sig) {
		json_object_put(bare);
		json_object_put(o);
		return false;
	}
	memcpy(sig, text, n);
	sig[n++] = '|';
	for (const char *e = cl->error; *e; e++)
		if (*e < '0' || *e > '9')
			sig[n++] = *e;
	sig[n] = '\0';
	json_object_put(bare);
	if (cl->summary && strcmp(sig, cl->summary) == 0) {
		free(sig);
		json_object_put(o);
		return false;
	}
	free(cl->summary);
	cl->summary = sig;
	bd_emit(cl->s->src.bd, "cluster", NULL, o);
	return true;
}

/* Is a member of cl waiting for its dwell time to end soon? Then the
 * polls replan, so that it shrinks when that time is up. */
static bool dwell_pending(const struct rest_cluster *cl)
{
	struct bd *bd = cl->s->src.bd;
	const struct bd_cluster *c = bd_conf_cluster(&bd->conf, cl->name);
	uint64_t dwell_ms =
	    !c || c->dwell_ms == UINT64_MAX ? bd->conf.dwell_ms : c->dwell_ms;
	int64_t now = bd_mono_us(bd);
	bd_guest_foreach (g, bd)
		if (!g->removed && g->role_changed_us &&
		    strcmp(g->spec.cluster, cl->name) == 0 &&
		    (uint64_t)(now - g->role_changed_us) / 1000 <
			dwell_ms + 2 * cl->poll_interval_ms)
			return true;
	return false;
}

static void stale_cb(uv_timer_t *t)
{
	struct rest_cluster *cl = t->data;
	cl->stale = true;
	bd_warn("cluster %s: no fresh facts for %llu ms: members at max",
		cl->name, (unsigned long long)cl->max_age_ms);
	emit_if_changed(cl);
	bd_replan(cl->s->src.bd);
}

/* (Re)arm the stale timer: the facts of the poll that began at good_us
 * turn stale max_age_ms after that, as the policy counts them. */
static void stale_arm(struct rest_cluster *cl)
{
	int64_t age_ms = (bd_mono_us(cl->s->src.bd) - cl->good_us) / 1000;
	uint64_t left = (uint64_t)age_ms < cl->max_age_ms
			    ? cl->max_age_ms - (uint64_t)age_ms + 1
			    : 0;
	uv_timer_start(&cl->stale_timer, stale_cb, left, 0);
}

static void poll_timer_cb(uv_timer_t *t)
{
	poll_start(t->data);
}

/* A pushed role polls at once, but no sooner than this after the last
 * poll started (or the cluster's poll_interval_ms, when shorter): any
 * member of role_group may push for any cluster, and a flood of pushes
 * would otherwise poll Patroni's REST API back to back. A push takes
 * effect without the poll; the poll only confirms. */
#define PUSH_POLL_GAP_MS 1000

/* How long a push-triggered poll must wait. */
static uint64_t push_wait_ms(const struct rest_cluster *cl)
{
	uint64_t gap = cl->poll_interval_ms < PUSH_POLL_GAP_MS
			   ? cl->poll_interval_ms
			   : PUSH_POLL_GAP_MS;
	if (!cl->started_us)
		return 0;
	uint64_t since_ms =
	    (uint64_t)(bd_mono_us(cl->s->src.bd) - cl->started_us) / 1000;
	return since_ms >= gap ? 0 : gap - since_ms;
}

static void poll_end(struct rest_cluster *cl, bool good)
{
	struct bd *bd = cl->s->src.bd;
	int64_t now = bd_mono_us(bd);
	bool was = cl->reachable;
	cl->polled = true;
	cl->checked_us = now;
	cl->polls++;
	cl->reachable = good;
	if (good) {
		cl->facts = cl->next_facts;
		cl->good_us = cl->started_us;
		cl->good_url = cl->answered;
		cl->stale = false;
		stale_arm(cl);
		snprintf(cl->error, sizeof(cl->error), "%s",
			 cl->facts.leader < 0 ? "no leader" : cl->leader_error);
		set_guests(cl);
		if (!was && cl->failures)
			bd_notice("cluster %s: REST API answers again (%s)",
				  cl->name, cl->urls[cl->good_url]);
	} else {
		cl->failures++;
		snprintf(cl->error, sizeof(cl->error), "%s", cl->errors);
		uv_timer_stop(&cl->stale_timer);
		if (was || cl->polls == 1)
			bd_warn(
			    "cluster %s: REST API unreachable (%s): members "
			    "at max",
			    cl->name, cl->errors);
	}
	bool changed = emit_if_changed(cl);
	if (changed || (good && dwell_pending(cl)))
		bd_replan(bd);
	uint64_t elapsed_ms = (uint64_t)(now - cl->started_us) / 1000;
	uint64_t next = elapsed_ms >= cl->poll_interval_ms
			    ? 0
			    : cl->poll_interval_ms - elapsed_ms;
	if (cl->again)
		next = push_wait_ms(cl);
	cl->again = false;
	uv_timer_start(&cl->poll_timer, poll_timer_cb, next, 0);
}

static void poll_start(struct rest_cluster *cl)
{
	if (cl->req || !cl->configured || cl->s->closing)
		return;
	cl->started_us = bd_mono_us(cl->s->src.bd);
	cl->tried = 0;
	cl->errors[0] = '\0';
	cl->leader_error[0] = '\0';
	if (cl->setup_error[0] || !cl->n_urls) {
		snprintf(cl->errors, sizeof(cl->errors), "%s",
			 cl->setup_error[0] ? cl->setup_error
					    : "no rest_urls configured");
		poll_end(cl, false);
		return;
	}
	if (!ask_cluster(cl))
		poll_end(cl, false);
}

/* Poll now, or right after the poll in flight: a burst of pushes makes
 * one poll, and a flood of them one poll a second (push_wait_ms). */
static void poll_soon(struct rest_cluster *cl)
{
	if (cl->req) {
		cl->again = true;
		return;
	}
	if (!cl->configured || cl->s->closing)
		return;
	uint64_t wait_ms = push_wait_ms(cl);
	/* The next poll may be due sooner already. */
	if (!uv_is_active((uv_handle_t *)&cl->poll_timer) ||
	    uv_timer_get_due_in(&cl->poll_timer) > wait_ms)
		uv_timer_start(&cl->poll_timer, poll_timer_cb, wait_ms, 0);
}

/* A guest (re)registered: its confirmed facts are its cluster's as they
 * stand, not those of the cluster or member it had before (a spec that
 * names another member must not keep a replica's confirmation). */
static void registered(struct bd_rest *s, struct bd_guest *g)
{
	struct rest_cluster *cl = TAILQ_FIRST(&s->clusters);
	while (cl && (!cl->configured || strcmp(cl->name, g->spec.cluster)))
		cl = TAILQ_NEXT(cl, entry);
	if (cl && cl->reachable) {
		set_guest(cl, g, bd_mono_us(s->src.bd));
		return;
	}
	g->confirmed_role = POLICY_ROLE_UNKNOWN;
	g->confirmed_streaming = false;
	g->confirmed_us = 0;
}

/* The events event_cb looks at. */
static const char *const rest_events[] = {"register", "role", NULL};

static void event_cb(struct bd *bd, const struct bd_event *ev, void *arg)
{
	struct bd_rest *s = arg;
	json_object *c;
	if (strcmp(ev->name, "register") == 0 && ev->guest) {
		registered(s, ev->guest);
		return;
	}
	if (strcmp(ev->name, "role") != 0 || !s->src.running ||
	    !json_object_object_get_ex(ev->data, "cluster", &c))
		return;
	struct rest_cluster *cl;
	TAILQ_FOREACH (cl, &s->clusters, entry)
		if (cl->configured &&
		    strcmp(cl->name, json_object_get_string(c)) == 0)
			poll_soon(cl);
}

/* ---- the source ---- */

/* The first line of a root-only file (a secret), or an error. */
static int read_password(const char *path, char *out, size_t size, char *why,
			 size_t why_len)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(why, why_len, "password_file %s: %s", path,
			 strerror(errno));
		return -errno;
	}
	if (!fgets(out, (int)size, f))
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static void cluster_config(struct rest_cluster *cl, const struct bd_cluster *c)
{
	cl->configured = true;
	cl->n_urls = 0;
	for (const char *u = c->rest_urls; *u;) {
		size_t w = strcspn(u, " \t");
		if (w && w < sizeof(cl->urls[0]) &&
		    cl->n_urls < BD_REST_MAX_URLS)
			snprintf(cl->urls[cl->n_urls++], sizeof(cl->urls[0]),
				 "%.*s", (int)w, u);
		u += w;
		u += strspn(u, " \t");
	}
	if (cl->good_url >= cl->n_urls)
		cl->good_url = 0;
	cl->n_origins = 0;
	cl->https = false;
	for (size_t i = 0; i < cl->n_urls; i++) {
		struct rest_origin *o = &cl->origins[cl->n_origins];
		if (url_origin(cl->urls[i], o) == 0) {
			cl->n_origins++;
			cl->https |= strcasecmp(o->scheme, "https") == 0;
		}
	}
	for (const char *h = c->rest_hosts; *h;) {
		size_t w = strcspn(h, " \t");
		size_t max = sizeof(cl->origins) / sizeof(cl->origins[0]);
		struct rest_origin *o = &cl->origins[cl->n_origins];
		if (w && cl->n_origins < max) {
			memset(o, 0, sizeof(*o));
			cl->n_origins +=
			    bd_conf_rest_host(h, w, o->host, sizeof(o->host),
					      &o->port) == 0;
		}
		h += w;
		h += strspn(h, " \t");
	}
	cl->poll_interval_ms = c->poll_interval_ms;
	cl->timeout_ms = c->timeout_ms;
	cl->max_age_ms = c->max_age_ms;
	snprintf(cl->ca, sizeof(cl->ca), "%s", c->tls_ca_file);
	snprintf(cl->cert, sizeof(cl->cert), "%s", c->tls_cert_file);
	snprintf(cl->key, sizeof(cl->key), "%s", c->tls_key_file);
	snprintf(cl->username, sizeof(cl->username), "%s", c->username);
	cl->setup_error[0] = cl->password[0] = '\0';
	if (c->password_file[0] &&
	    read_password(c->password_file, cl->password, sizeof(cl->password),
			  cl->setup_error, sizeof(cl->setup_error)))
		bd_err("cluster %s: %s", cl->name, cl->setup_error);
}

static void cluster_closed_cb(uv_handle_t *h)
{
	struct rest_cluster *cl = h->data;
	struct bd_rest *s = cl->s;
	if (--cl->closes_pending == 0) {
		explicit_bzero(cl->password, sizeof(cl->password));
		free(cl->summary);
		free(cl);
	}
	closed_one(s);
}

static void cluster_close(struct rest_cluster *cl)
{
	req_free(cl->req);
	cl->req = NULL;
	cl->s->closes_pending += 2;
	cl->closes_pending = 2;
	uv_close((uv_handle_t *)&cl->poll_timer, cluster_closed_cb);
	uv_close((uv_handle_t *)&cl->stale_timer, cluster_closed_cb);
}

/* libcurl loaded and initialised, the multi handle made: 0 or -errno
 * (logged; the clusters then stay unwatched, their members at max). */
static int curl_ready(struct bd_rest *s)
{
	if (s->multi)
		return 0;
	char err[256];
	int rc =
	    bd_lazy_load_once(&lcu.loaded, BD_LIBCURL_PATH, BD_LIBCURL_SONAME,
			      resolve_libcurl, err, sizeof(err));
	if (rc) {
		bd_err("Patroni REST watcher: %s (the members of every "
		       "[cluster] stay at max)",
		       err);
		return rc;
	}
	if (!s->curl_inited) {
		if (lcu.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -ENOMEM;
		s->curl_inited = true;
	}
	if (!(s->multi = lcu.curl_multi_init()))
		return -ENOMEM;
	lcu.curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	lcu.curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
	lcu.curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	lcu.curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
	return 0;
}

static int rest_start(struct bd_source *src)
{
	struct bd_rest *s = src->state;
	const struct bd_conf *c = &src->bd->conf;
	struct rest_cluster *cl, *next;
	if (c->n_clusters) {
		int rc = curl_ready(s);
		if (rc)
			return rc;
	}
	TAILQ_FOREACH (cl, &s->clusters, entry)
		cl->configured = false;
	/* Facts outlive a reload for the clusters it keeps: members do not
	 * swing to max and back because the config was read again. */
	for (size_t i = 0; i < c->n_clusters; i++) {
		cl = TAILQ_FIRST(&s->clusters);
		while (cl && strcmp(cl->name, c->clusters[i].name) != 0)
			cl = TAILQ_NEXT(cl, entry);
		if (!cl) {
			cl = calloc(1, sizeof(*cl));
			if (!cl)
				return -ENOMEM;
			cl->s = s;
			snprintf(cl->name, sizeof(cl->name), "%s",
				 c->clusters[i].name);
			cl->facts.leader = cl->next_facts.leader = -1;
			uv_timer_init(src->bd->loop, &cl->poll_timer);
			uv_timer_init(src->bd->loop, &cl->stale_timer);
			cl->poll_timer.data = cl->stale_timer.data = cl;
			TAILQ_INSERT_HEAD(&s->clusters, cl, entry);
		}
		cluster_config(cl, &c->clusters[i]);
		/* Facts kept across the reload turn stale at its max_age_ms,
		 * not the old one: the poll that would re-arm the timer can
		 * take up to timeout_ms per rest_url. */
		if (cl->reachable && !cl->stale)
			stale_arm(cl);
		uv_timer_start(&cl->poll_timer, poll_timer_cb, 0, 0);
	}
	for (cl = TAILQ_FIRST(&s->clusters); cl; cl = next) {
		next = TAILQ_NEXT(cl, entry);
		if (cl->configured)
			continue;
		TAILQ_REMOVE(&s->clusters, cl, entry);
		cluster_close(cl);
	}
	return 0;
}

static void rest_stop(struct bd_source *src)
{
	struct bd_rest *s = src->state;
	struct rest_cluster *cl;
	TAILQ_FOREACH (cl, &s->clusters, entry) {
		req_free(cl->req);
		cl->req = NULL;
		cl->again = false;
		uv_timer_stop(&cl->poll_timer);
		/* The facts keep aging while stopped; start polls at once. */
	}
}

static void curl_timer_closed_cb(uv_handle_t *h)
{
	closed_one(h->data);
}

static void rest_close(struct bd_source *src, void (*done)(struct bd_source *))
{
	struct bd_rest *s = src->state;
	struct bd *bd = src->bd;
	rest_stop(src);
	bd_events_unsubscribe(bd, &s->sub);
	if (bd->rest == s)
		bd->rest = NULL;
	s->done = done;
	s->closing = true;
	s->closes_pending++; /* held until everything below was started */
	struct rest_cluster *cl;
	while ((cl = TAILQ_FIRST(&s->clusters))) {
		TAILQ_REMOVE(&s->clusters, cl, entry);
		cluster_close(cl);
	}
	/* Cached connections are closed here; curl says REMOVE for their
	 * sockets, and any it did not are closed after. */
	if (s->multi)
		lcu.curl_multi_cleanup(s->multi);
	s->multi = NULL;
	while (!TAILQ_EMPTY(&s->socks))
		sock_close(TAILQ_FIRST(&s->socks));
	s->closes_pending++;
	uv_close((uv_handle_t *)&s->curl_timer, curl_timer_closed_cb);
	closed_one(s);
}

static const struct bd_source_ops rest_ops = {
    .name = "patroni-rest",
    .start = rest_start,
    .stop = rest_stop,
    .close = rest_close,
};

int bd_rest_source_new(struct bd *bd, struct bd_source **out)
{
	struct bd_rest *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	TAILQ_INIT(&s->clusters);
	TAILQ_INIT(&s->socks);
	uv_timer_init(bd->loop, &s->curl_timer);
	s->curl_timer.data = s;
	s->src = (struct bd_source){.ops = &rest_ops, .bd = bd, .state = s};
	s->sub = (struct bd_subscriber){
	    .fn = event_cb, .arg = s, .names = rest_events};
	bd_events_subscribe(bd, &s->sub);
	bd->rest = s;
	*out = &s->src;
	return 0;
}

/* ---- what plan.c and status read ---- */

static const struct rest_cluster *find(const struct bd *bd, const char *name)
{
	if (!bd->rest)
		return NULL;
	const struct rest_cluster *cl;
	TAILQ_FOREACH (cl, &bd->rest->clusters, entry)
		if (cl->configured && strcmp(cl->name, name) == 0)
			return cl;
	return NULL;
}

void bd_rest_cluster(const struct bd *bd, const char *name, int64_t now_us,
		     struct policy_cluster *pc)
{
	const struct rest_cluster *cl = find(bd, name);
	pc->reachable = cl && cl->reachable;
	pc->has_leader = pc->reachable && cl->facts.leader >= 0;
	pc->facts_age_ms =
	    cl && cl->good_us ? (now_us - cl->good_us) / 1000 : POLICY_NEVER;
	/* The stale timer runs on the loop's clock, which lags the monotonic
	 * clock by as much as the loop iteration before it took: it can fire
	 * (and replan) while the facts are, by the monotonic clock, a few
	 * milliseconds short of max_age_ms. Once it fired they are stale: a
	 * plan that saw them fresh would keep a replica shrunk with nothing
	 * left to replan it (patroni-trust.sh, on a loaded machine). */
	if (cl && cl->stale && pc->facts_age_ms != POLICY_NEVER &&
	    (uint64_t)pc->facts_age_ms <= cl->max_age_ms)
		pc->facts_age_ms = (int64_t)cl->max_age_ms + 1;
}

void bd_rest_polls(const struct bd *bd, const char *name, uint64_t *polls,
		   uint64_t *failures)
{
	const struct rest_cluster *cl = find(bd, name);
	*polls = cl ? cl->polls : 0;
	*failures = cl ? cl->failures : 0;
}

json_object *bd_rest_status(const struct bd *bd)
{
	json_object *all = json_object_new_object();
	int64_t now = bd_mono_us(bd);
	for (size_t i = 0; i < bd->conf.n_clusters; i++) {
		const char *name = bd->conf.clusters[i].name;
		const struct rest_cluster *cl = find(bd, name);
		json_object *o;
		if (!cl) {
			o = json_object_new_object();
			json_object_object_add(o, "reachable",
					       json_object_new_boolean(false));
			json_object_object_add(
			    o, "error",
			    json_object_new_string("not polled (no REST "
						   "watcher)"));
		} else {
			o = facts_json(cl);
			json_object_object_del(o, "cluster");
			if (cl->good_us)
				json_object_object_add(
				    o, "facts_age_ms",
				    json_object_new_int64((now - cl->good_us) /
							  1000));
			if (cl->checked_us)
				json_object_object_add(
				    o, "checked_age_ms",
				    json_object_new_int64(
					(now - cl->checked_us) / 1000));
			json_object_object_add(
			    o, "polls",
			    json_object_new_int64((int64_t)cl->polls));
			json_object_object_add(
			    o, "failures",
			    json_object_new_int64((int64_t)cl->failures));
		}
		json_object_object_add(all, name, o);
	}
	return all;
}
