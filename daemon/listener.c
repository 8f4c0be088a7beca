/*
 * listener.c: the network listener, a source. For Patroni inside the
 * guests (balloond-patroni --notify): one UDP socket, off by default,
 * bound where [listener] says (loopback by default), that accepts only
 * role notifications signed with the cluster's key (proto/notify.h) and
 * hands each accepted one to bd_role_push, as the control socket's "role"
 * does.
 *
 * What a flood of bad datagrams can cost is bounded: one fixed receive
 * buffer (libuv reads one datagram at a time into it, and at most 32 per
 * loop turn), no state per sender, checks from the cheapest up (size,
 * JSON of at most 1 KiB and depth 2, cluster, key, clock window) so that
 * only a datagram inside the window pays for an HMAC, and only one with a
 * valid MAC reaches the replay cache. Each refusal is counted by reason
 * (status shows the counters) and logged, at most LOG_BURST lines per
 * LOG_PERIOD_US, the rest summed up in one line, so a flood cannot fill
 * the journal.
 */
#include "daemon.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define LOG_BURST     10
#define LOG_PERIOD_US (10 * 1000000)

/* What the listener knows of one [cluster NAME]: its key (read at start:
 * a reload reads it again) and its replay cache, kept across reloads so
 * that a reload never opens a window for replays. */
struct lcluster {
	char name[64];
	struct bd_notify_key key; /* no ctx: no key, notifications refused */
	struct bd_notify_replay *replay;
};

struct listener {
	struct bd_source src;
	uv_udp_t *udp; /* NULL while stopped */
	int64_t window_ms;
	struct lcluster *clusters[BD_MAX_CLUSTERS];
	size_t n_clusters;
	/* One datagram at a time; one byte more than a notification may be,
	 * so that libuv's UV_UDP_PARTIAL tells an oversized one. */
	char buf[BD_NOTIFY_MAX_BYTES + 1];
	/* Rate-limited logging. */
	int64_t log_period_us; /* monotonic: when this period began */
	unsigned log_lines;    /* lines logged in it */
	uint64_t log_dropped;  /* lines not logged in it */
	int handles_closing;
	bool closed; /* close was called: free once handles are closed */
	void (*done)(struct bd_source *);
};

static void note(struct listener *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(struct listener *l, int level, const char *fmt, ...)
{
	int64_t now = bd_mono_us(l->src.bd);
	if (now - l->log_period_us >= LOG_PERIOD_US) {
		if (l->log_dropped)
			bd_warn("listener: %llu more notifications not logged "
				"in the last %d s (balloonctl status --json "
				"counts them)",
				(unsigned long long)l->log_dropped,
				LOG_PERIOD_US / 1000000);
		l->log_period_us = now;
		l->log_lines = 0;
		l->log_dropped = 0;
	}
	if (l->log_lines >= LOG_BURST) {
		l->log_dropped++;
		return;
	}
	l->log_lines++;
	char text[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (level == LOG_INFO)
		bd_info("listener: %s", text);
	else
		bd_warn("listener: %s", text);
}

static const char *peer_name(const struct sockaddr *addr, char *out,
			     size_t size)
{
	out[0] = '\0';
	if (addr && addr->sa_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)addr, out, size);
	else if (addr && addr->sa_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)addr, out, size);
	return out[0] ? out : "?";
}

static struct lcluster *find_cluster(struct listener *l, const char *name)
{
	for (size_t i = 0; i < l->n_clusters; i++)
		if (strcmp(l->clusters[i]->name, name) == 0)
			return l->clusters[i];
	return NULL;
}

static void refuse(struct listener *l, enum bd_notify_reject r,
		   const struct sockaddr *addr, const char *what)
{
	char peer[64];
	l->src.bd->listener.counts[r]++;
	note(l, LOG_WARNING, "refused a datagram from %s: %s (%s)",
	     peer_name(addr, peer, sizeof(peer)), bd_notify_reject_name(r),
	     what);
}

/* One datagram, checked from the cheapest test up. */
static void handle(struct listener *l, size_t len, const struct sockaddr *addr)
{
	struct bd *bd = l->src.bd;
	struct bd_notify n;
	char msg[200];
	if (bd_notify_parse(l->buf, len, &n, msg, sizeof(msg))) {
		refuse(l, BD_NOTIFY_R_PARSE, addr, msg);
		return;
	}
	struct lcluster *c = find_cluster(l, n.cluster);
	if (!c) {
		refuse(l, BD_NOTIFY_R_CLUSTER, addr, n.cluster);
		return;
	}
	if (!c->key.ctx) {
		refuse(l, BD_NOTIFY_R_NO_KEY, addr, n.cluster);
		return;
	}
	int64_t now_ms = bd_wall_us(bd) / 1000;
	enum bd_notify_reject r =
	    bd_notify_verify(&n, &c->key, now_ms, l->window_ms);
	if (r == BD_NOTIFY_OK)
		r = bd_notify_replay_check(c->replay, &n, now_ms,
					   bd_mono_us(bd) / 1000);
	if (r != BD_NOTIFY_OK) {
		snprintf(msg, sizeof(msg), "%s/%s, %+lld ms", n.cluster,
			 n.member, (long long)(n.timestamp_ms - now_ms));
		refuse(l, r, addr, msg);
		return;
	}
	bd->listener.counts[BD_NOTIFY_OK]++;
	/* The same push, the same events, as the control socket's "role". */
	size_t guests = bd_role_push(bd, n.cluster, n.member, n.role, NULL);
	char peer[64];
	note(l, LOG_INFO, "role %s for %s/%s from %s (%zu guests)", n.role,
	     n.cluster, n.member, peer_name(addr, peer, sizeof(peer)), guests);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct listener *l = h->data;
	*buf = uv_buf_init(l->buf, sizeof(l->buf));
}

static void recv_cb(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
		    const struct sockaddr *addr, unsigned flags)
{
	struct listener *l = udp->data;
	if (nread == 0 && !addr)
		return; /* nothing more to read this turn */
	if (nread < 0) {
		note(l, LOG_WARNING, "receive: %s", uv_strerror((int)nread));
		return;
	}
	if (l->src.bd->shutting_down)
		return;
	if (flags & UV_UDP_PARTIAL) {
		refuse(l, BD_NOTIFY_R_PARSE, addr, "over 1024 bytes");
		return;
	}
	handle(l, (size_t)nread, addr);
}

/* ---- keys and clusters, at every start ---- */

static void load_key(struct listener *l, struct lcluster *c, const char *path)
{
	char err[300];
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & 0044))
		bd_warn("listener: %s can be read by others than its owner: "
			"anyone who reads it can send role notifications",
			path);
	uint8_t key[BD_NOTIFY_KEY_MAX_BYTES];
	size_t len = 0;
	int rc = bd_notify_key_load(path, key, &len, err, sizeof(err));
	if (rc == 0 && (rc = bd_notify_key_set(&c->key, key, len)))
		snprintf(err, sizeof(err), "%s: %s", path,
			 bd_notify_strerror(rc));
	explicit_bzero(key, sizeof(key));
	if (rc) {
		bd_err("listener: cluster %s: %s (its notifications are "
		       "refused)",
		       c->name, err);
		snprintf(l->src.bd->listener.error,
			 sizeof(l->src.bd->listener.error), "%s", err);
	}
}

static void free_cluster(struct lcluster *c)
{
	free(c->replay);
	bd_notify_key_clear(&c->key);
	free(c);
}

/* Match the clusters to the config: new ones get a replay cache made now
 * (what came before is refused: after a restart nothing remembers its
 * nonces), kept ones keep theirs, gone ones go. Then every key is read
 * again. */
static int sync_clusters(struct listener *l)
{
	const struct bd_conf *conf = &l->src.bd->conf;
	struct lcluster *next[BD_MAX_CLUSTERS];
	bool fresh[BD_MAX_CLUSTERS];
	size_t n = 0;
	for (size_t i = 0; i < conf->n_clusters; i++) {
		const struct bd_cluster *cc = &conf->clusters[i];
		struct lcluster *c = find_cluster(l, cc->name);
		fresh[n] = !c;
		if (!c && !(c = calloc(1, sizeof(*c))))
			goto nomem;
		snprintf(c->name, sizeof(c->name), "%s", cc->name);
		next[n++] = c;
		if (cc->notify_key_file[0] && !c->replay) {
			c->replay = malloc(sizeof(*c->replay));
			if (!c->replay)
				goto nomem;
			bd_notify_replay_init(c->replay,
					      bd_wall_us(l->src.bd) / 1000,
					      bd_mono_us(l->src.bd) / 1000);
		}
	}
	for (size_t j = 0; j < l->n_clusters; j++) {
		bool kept = false;
		for (size_t i = 0; i < n; i++)
			kept |= next[i] == l->clusters[j];
		if (!kept)
			free_cluster(l->clusters[j]);
	}
	memcpy(l->clusters, next, n * sizeof(next[0]));
	l->n_clusters = n;
	for (size_t i = 0; i < n; i++) {
		bd_notify_key_clear(&l->clusters[i]->key);
		if (conf->clusters[i].notify_key_file[0])
			load_key(l, l->clusters[i],
				 conf->clusters[i].notify_key_file);
	}
	return 0;
nomem:
	for (size_t i = 0; i < n; i++)
		if (fresh[i])
			free_cluster(next[i]);
	return -ENOMEM;
}

static void free_clusters(struct listener *l)
{
	for (size_t i = 0; i < l->n_clusters; i++)
		free_cluster(l->clusters[i]);
	l->n_clusters = 0;
}

/* ---- the source ---- */

static int bind_socket(struct listener *l, const struct bd_conf *conf)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} addr;
	int port = (int)conf->listener_port;
	int rc = strchr(conf->listener_address, ':')
		     ? uv_ip6_addr(conf->listener_address, port, &addr.in6)
		     : uv_ip4_addr(conf->listener_address, port, &addr.in);
	if (rc)
		return rc;
	uv_udp_t *udp = malloc(sizeof(*udp));
	if (!udp)
		return -ENOMEM;
	uv_udp_init(l->src.bd->loop, udp);
	udp->data = l;
	l->udp = udp;
	rc = uv_udp_bind(udp, &addr.sa, 0);
	if (rc == 0)
		rc = uv_udp_recv_start(udp, alloc_cb, recv_cb);
	return rc;
}

static void udp_closed_cb(uv_handle_t *h)
{
	struct listener *l = h->data;
	free(h);
	if (--l->handles_closing == 0 && l->closed) {
		if (l->done)
			l->done(&l->src);
		free(l);
	}
}

static void close_socket(struct listener *l)
{
	if (!l->udp)
		return;
	/* The descriptor is closed at once (a reload can bind the same port
	 * again); the memory goes in the close callback. */
	uv_udp_recv_stop(l->udp);
	l->handles_closing++;
	uv_close((uv_handle_t *)l->udp, udp_closed_cb);
	l->udp = NULL;
	l->src.bd->listener.up = false;
}

static int listener_start(struct bd_source *src)
{
	struct listener *l = src->state;
	struct bd *bd = src->bd;
	const struct bd_conf *conf = &bd->conf;
	bd->listener.error[0] = '\0';
	if (!conf->listener_enabled)
		return 0;
	l->window_ms = (int64_t)conf->listener_window_ms;
	int rc = sync_clusters(l);
	if (rc == 0)
		rc = bind_socket(l, conf);
	if (rc) {
		snprintf(
		    bd->listener.error, sizeof(bd->listener.error),
		    "cannot listen on %s port %llu: %s", conf->listener_address,
		    (unsigned long long)conf->listener_port, uv_strerror(rc));
		bd_err("listener: %s", bd->listener.error);
		close_socket(l);
		return rc;
	}
	bd->listener.up = true;
	size_t keyed = 0;
	for (size_t i = 0; i < l->n_clusters; i++)
		keyed += l->clusters[i]->key.ctx != NULL;
	bd_notice("listener: role notifications on udp %s port %llu (%zu of "
		  "%zu clusters with a key, window %lld ms)",
		  conf->listener_address,
		  (unsigned long long)conf->listener_port, keyed, l->n_clusters,
		  (long long)l->window_ms);
	return 0;
}

static void listener_stop(struct bd_source *src)
{
	close_socket(src->state);
}

static void listener_close(struct bd_source *src,
			   void (*done)(struct bd_source *))
{
	struct listener *l = src->state;
	close_socket(l);
	free_clusters(l);
	l->done = done;
	l->closed = true;
	if (l->handles_closing == 0) {
		if (done)
			done(src);
		free(l);
	}
}

static const struct bd_source_ops listener_ops = {
    .name = "listener",
    .start = listener_start,
    .stop = listener_stop,
    .close = listener_close,
};

int bd_listener_source_new(struct bd *bd, struct bd_source **out)
{
	struct listener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->src = (struct bd_source){.ops = &listener_ops, .bd = bd, .state = l};
	l->log_period_us = bd_mono_us(bd);
	*out = &l->src;
	return 0;
}

json_object *bd_listener_status(const struct bd *bd)
{
	const struct bd_conf *c = &bd->conf;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "enabled",
			       json_object_new_boolean(c->listener_enabled));
	json_object_object_add(o, "address",
			       json_object_new_string(c->listener_address));
	json_object_object_add(
	    o, "port", json_object_new_int64((int64_t)c->listener_port));
	json_object_object_add(o, "up",
			       json_object_new_boolean(bd->listener.up));
	json_object_object_add(
	    o, "accepted",
	    json_object_new_int64((int64_t)bd->listener.counts[BD_NOTIFY_OK]));
	json_object *refused = json_object_new_object();
	for (int r = 1; r < BD_NOTIFY_R_COUNT; r++)
		json_object_object_add(
		    refused, bd_notify_reject_name((enum bd_notify_reject)r),
		    json_object_new_int64((int64_t)bd->listener.counts[r]));
	json_object_object_add(o, "refused", refused);
	if (bd->listener.error[0])
		json_object_object_add(
		    o, "error", json_object_new_string(bd->listener.error));
	return o;
}
