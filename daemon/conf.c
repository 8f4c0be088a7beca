/* conf.c: reading balloond.conf with inih. Every key is in one table. */
#include "conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>

#include "config.h"
#include "log.h"
#include "proto/units.h"

void bd_conf_defaults(struct bd_conf *c)
{
	*c = (struct bd_conf){
	    .control_socket = BALLOOND_DEFAULT_SOCKET,
	    .control_group = "",
	    .role_group = "",
	    .state_dir = BALLOOND_DEFAULT_STATE_DIR,
	    .proc_root = "/proc",
	    .sys_root = "/sys",
	    .log_level = LOG_INFO,
	    .dry_run = false,
	    .restore_on_exit = true,
	    .restore_timeout_ms = 10000,
	    .client_max_queued_bytes = 8 << 20,
	    /* Every client asks at once and waits for its answers (a request
	     * in flight is not idle); a minute is generous, and 250 idle
	     * connections from one peer are what exhausted a 200-descriptor
	     * limit. */
	    .idle_timeout_ms = 60000,
	    /* A uid's clients (a hook run per guest, Patroni's callback) come
	     * one or a few at a time. */
	    .max_conns_per_uid = 32,
	    /* Root's own clients: a monitor, balloonctl, the hooks of guests
	     * starting together. */
	    .root_reserve_fds = 64,
	    .qmp_command_timeout_ms = 5000,
	    .qmp_greeting_timeout_ms = 5000,
	    .qmp_reconnect_max_ms = 30000,
	    .qmp_max_message_bytes = 1024 * 1024,
	    .stats_interval_s = 5,
	    .shrink_step_bytes = 0,
	    /* A 512 MiB TCG guest shrinks by 384 MiB in about 0.8 s
	     * (HACKING.md, "Balloon moves take time"); 10 s covers several
	     * GiB per step. */
	    .move_timeout_ms = 10000,
	    .move_poll_ms = 200,
	    .move_tolerance_bytes = 8 << 20,
	    .deadband_bytes = 16 << 20,
	    .guest_reserve_bytes = 64 << 20,
	    .guest_reserve_pct = 5,
	    /* Longer than a switchover takes end to end (about 11 s with
	     * Patroni's defaults shortened: HACKING.md, "Switchover and
	     * failover timings"), so that a flapping cluster does not swing
	     * balloons. */
	    .dwell_ms = 60000,
	    .host_interval_ms = 1000,
	    .host_reserve_bytes = 0,
	    .low_watermark_bytes = 0,
	    .high_watermark_bytes = 0,
	    .arc_reclaim_pct = 50,
	    .psi_some_pct = 10,
	    /* 150 ms of stall within 2 s: kernels since 6.4 let a writer
	     * without CAP_SYS_RESOURCE use only windows that are multiples
	     * of 2 s, and the unit has no such capability. */
	    .psi_stall_us = 150000,
	    .psi_window_us = 2000000,
	    .arc_manage = false,
	    .arc_min_bytes = 1 << 30,
	    .listener_enabled = false,
	    .listener_address = "127.0.0.1",
	    .listener_port = 7420,
	    /* Patroni's default loop_wait is 10 s; 30 s tolerates clocks that
	     * NTP keeps within seconds, and bounds how long a captured
	     * datagram is worth replaying at all. */
	    .listener_window_ms = 30000,
	    /* node_exporter's textfile collector reads on every scrape
	     * (Prometheus's default interval is 15 s). */
	    .metrics_textfile_interval_ms = 15000,
	};
}

enum kind {
	K_PATH,
	K_STRING,
	K_BOOL,
	K_MS,
	K_COUNT,
	K_SIZE,
	K_LEVEL,
	K_IP,
	K_LISTEN
};

static const struct key {
	const char *section, *name;
	enum kind kind;
	size_t offset, size; /* of the field in struct bd_conf */
	uint64_t min, max;   /* for numbers */
} keys[] = {
#define F(field)                                                               \
	offsetof(struct bd_conf, field), sizeof(((struct bd_conf *)0)->field)
    {"daemon", "control_socket", K_PATH, F(control_socket), 0, 0},
    {"daemon", "control_group", K_STRING, F(control_group), 0, 0},
    {"daemon", "role_group", K_STRING, F(role_group), 0, 0},
    {"daemon", "state_dir", K_PATH, F(state_dir), 0, 0},
    {"daemon", "proc_root", K_PATH, F(proc_root), 0, 0},
    {"daemon", "sys_root", K_PATH, F(sys_root), 0, 0},
    {"daemon", "log_level", K_LEVEL, F(log_level), 0, 0},
    {"daemon", "dry_run", K_BOOL, F(dry_run), 0, 0},
    {"daemon", "restore_on_exit", K_BOOL, F(restore_on_exit), 0, 0},
    {"daemon", "restore_timeout_ms", K_MS, F(restore_timeout_ms), 100, 600000},
    {"daemon", "client_max_queued", K_SIZE, F(client_max_queued_bytes),
     64 << 10, 1 << 30},
    {"daemon", "idle_timeout_ms", K_MS, F(idle_timeout_ms), 100, 86400000},
    {"daemon", "max_conns_per_uid", K_COUNT, F(max_conns_per_uid), 1, 1000000},
    {"daemon", "root_reserve_fds", K_COUNT, F(root_reserve_fds), 0, 1000000},
    {"qmp", "command_timeout_ms", K_MS, F(qmp_command_timeout_ms), 10, 600000},
    {"qmp", "greeting_timeout_ms", K_MS, F(qmp_greeting_timeout_ms), 10,
     600000},
    {"qmp", "reconnect_max_ms", K_MS, F(qmp_reconnect_max_ms), 100, 3600000},
    {"qmp", "max_message_bytes", K_SIZE, F(qmp_max_message_bytes), 4096,
     64 << 20},
    {"qmp", "stats_interval_s", K_COUNT, F(stats_interval_s), 0, 3600},
    {"policy", "shrink_step", K_SIZE, F(shrink_step_bytes), 0, UINT64_MAX},
    {"policy", "move_timeout_ms", K_MS, F(move_timeout_ms), 100, 600000},
    {"policy", "move_poll_ms", K_MS, F(move_poll_ms), 10, 60000},
    {"policy", "move_tolerance", K_SIZE, F(move_tolerance_bytes), 0,
     1ULL << 40},
    {"policy", "deadband", K_SIZE, F(deadband_bytes), 0, 1ULL << 40},
    {"policy", "guest_reserve", K_SIZE, F(guest_reserve_bytes), 0, 1ULL << 40},
    {"policy", "guest_reserve_pct", K_COUNT, F(guest_reserve_pct), 0, 50},
    {"policy", "dwell_ms", K_MS, F(dwell_ms), 0, 86400000},
    {"host", "interval_ms", K_MS, F(host_interval_ms), 100, 600000},
    {"host", "reserve", K_SIZE, F(host_reserve_bytes), 0, 1ULL << 50},
    {"host", "low_watermark", K_SIZE, F(low_watermark_bytes), 0, 1ULL << 50},
    {"host", "high_watermark", K_SIZE, F(high_watermark_bytes), 0, 1ULL << 50},
    {"host", "critical_watermark", K_SIZE, F(critical_watermark_bytes), 0,
     1ULL << 50},
    {"host", "arc_reclaim_pct", K_COUNT, F(arc_reclaim_pct), 0, 100},
    {"host", "psi_some_pct", K_COUNT, F(psi_some_pct), 0, 100},
    {"host", "psi_stall_us", K_COUNT, F(psi_stall_us), 1000, 10000000},
    {"host", "psi_window_us", K_COUNT, F(psi_window_us), 500000, 10000000},
    {"host", "arc_manage", K_BOOL, F(arc_manage), 0, 0},
    {"host", "arc_min", K_SIZE, F(arc_min_bytes), 0, 1ULL << 50},
    {"listener", "enabled", K_BOOL, F(listener_enabled), 0, 0},
    {"listener", "address", K_IP, F(listener_address), 0, 0},
    {"listener", "port", K_COUNT, F(listener_port), 1, 65535},
    {"listener", "window_ms", K_MS, F(listener_window_ms), 1000, 600000},
    {"metrics", "textfile", K_PATH, F(metrics_textfile), 0, 0},
    {"metrics", "textfile_interval_ms", K_MS, F(metrics_textfile_interval_ms),
     1000, 3600000},
    {"metrics", "listen", K_LISTEN, F(metrics_listen), 0, 0},
#undef F
};

struct parse_ctx {
	struct bd_conf *conf;
	const char *file;
	char msg[512];	  /* the first error's text; inih gives its line */
	const char *next; /* the reader's position in the text */
	const char *end;  /* the end of the text */
	int line;	  /* lines handed to inih so far */
	int long_line;	  /* the first line too long for inih, or 0 */
	int nul_line;	  /* the first line with a NUL byte, or 0 */
};

/* Lines go to inih through this reader, for two reasons. Debian's inih
 * splits lines longer than its 200-byte buffer into pieces, which would
 * give confusing errors or silently cut a value: such a line is an error
 * of its own. And inih reads an indented line as the continuation of the
 * previous value, so "  dry_run = yes" would quietly become part of the
 * key above it: leading blanks are dropped instead. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_ctx *p = stream;
	if (p->next == p->end || p->long_line || p->nul_line)
		return NULL;
	const char *s = p->next;
	const char *nl = memchr(s, '\n', (size_t)(p->end - s));
	size_t len = nl ? (size_t)(nl - s) + 1 : (size_t)(p->end - s);
	p->next = s + len;
	p->line++;
	/* A NUL byte would end the line, and the file, for inih: what
	 * follows would be dropped without a word. */
	if (memchr(s, '\0', len)) {
		p->nul_line = p->line;
		return NULL;
	}
	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	if (len + 1 > (size_t)num) {
		p->long_line = p->line;
		return NULL;
	}
	memcpy(str, s, len);
	str[len] = '\0';
	return str;
}

static int fail(struct parse_ctx *p, const char *section, const char *key,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(struct parse_ctx *p, const char *section, const char *key,
		const char *fmt, ...)
{
	char what[256];
	va_list ap;
	if (p->msg[0])
		return 0; /* keep the first error: inih reports its line */
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(p->msg, sizeof(p->msg), "[%s] %s: %s", section, key, what);
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"1", "yes", "true", "on"};
	static const char *const no[] = {"0", "no", "false", "off"};
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = false, 0;
	}
	return -EINVAL;
}

/* The REST watcher's and the listener's keys of a [cluster NAME] section:
 * the handler's result, or -1 when key is none of them. */
static int set_rest_key(struct parse_ctx *p, const char *section,
			struct bd_cluster *cl, const char *key,
			const char *value)
{
	static const struct {
		const char *name;
		size_t offset, size;
	} paths[] = {
#define P(field)                                                               \
	{#field, offsetof(struct bd_cluster, field),                           \
	 sizeof(((struct bd_cluster *)0)->field)}
	    P(tls_ca_file),   P(tls_cert_file),	  P(tls_key_file),
	    P(password_file), P(notify_key_file),
#undef P
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (strcmp(key, paths[i].name) != 0)
			continue;
		if (value[0] != '/')
			return fail(p, section, key,
				    "'%s' is not an absolute path", value);
		if (strlen(value) >= paths[i].size)
			return fail(p, section, key,
				    "'%.200s' is not shorter than %zu "
				    "characters",
				    value, paths[i].size);
		memcpy((char *)cl + paths[i].offset, value, strlen(value) + 1);
		return 1;
	}
	if (strcmp(key, "username") == 0) {
		/* Basic auth joins it to the password with a colon. */
		if (strlen(value) >= sizeof(cl->username) || strchr(value, ':'))
			return fail(p, section, key, "%s",
				    "must be under 64 bytes, without ':'");
		snprintf(cl->username, sizeof(cl->username), "%s", value);
		return 1;
	}
	uint64_t *ms = strcmp(key, "poll_interval_ms") == 0
			   ? &cl->poll_interval_ms
		       : strcmp(key, "timeout_ms") == 0 ? &cl->timeout_ms
							: NULL;
	if (!ms)
		return -1;
	int rc =
	    bd_parse_uint(value, ms == &cl->timeout_ms ? 10 : 100, 3600000, ms);
	if (rc)
		return fail(p, section, key, "'%s' is %s", value,
			    rc == -ERANGE ? "out of range"
					  : "not a whole number");
	return 1;
}

static int set_cluster(struct parse_ctx *p, const char *section,
		       const char *name, const char *key, const char *value)
{
	struct bd_conf *c = p->conf;
	struct bd_cluster *cl = (struct bd_cluster *)bd_conf_cluster(c, name);
	if (!*name || strlen(name) >= sizeof(cl->name))
		return fail(p, section, key, "%s",
			    "cluster name must be 1 to 63 characters");
	if (!cl) {
		if (c->n_clusters == BD_MAX_CLUSTERS)
			return fail(p, section, key, "%s",
				    "too many [cluster] sections");
		cl = &c->clusters[c->n_clusters++];
		snprintf(cl->name, sizeof(cl->name), "%s", name);
		cl->dwell_ms = UINT64_MAX;
		/* Three of Patroni's loop_wait (10 s by default). */
		cl->max_age_ms = 30000;
		cl->poll_interval_ms = 2000;
		cl->timeout_ms = 1000;
	}
	if (strcmp(key, "rest_urls") == 0) {
		if (strlen(value) >= sizeof(cl->rest_urls))
			return fail(p, section, key, "%s", "value too long");
		snprintf(cl->rest_urls, sizeof(cl->rest_urls), "%s", value);
		return 1;
	}
	if (strcmp(key, "rest_hosts") == 0) {
		if (strlen(value) >= sizeof(cl->rest_hosts))
			return fail(p, section, key, "%s", "value too long");
		snprintf(cl->rest_hosts, sizeof(cl->rest_hosts), "%s", value);
		return 1;
	}
	int rest = set_rest_key(p, section, cl, key, value);
	if (rest >= 0)
		return rest;
	uint64_t *ms = strcmp(key, "dwell_ms") == 0	? &cl->dwell_ms
		       : strcmp(key, "max_age_ms") == 0 ? &cl->max_age_ms
							: NULL;
	if (!ms)
		return fail(p, section, key, "unknown key");
	int rc = bd_parse_uint(value, 0, 86400000, ms);
	if (rc)
		return fail(p, section, key, "'%s' is %s", value,
			    rc == -ERANGE ? "out of range"
					  : "not a whole number");
	return 1;
}

int bd_conf_split_listen(const char *s, char *addr, size_t addr_len,
			 unsigned *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -EINVAL;
	const char *a = s;
	size_t n = (size_t)(colon - s);
	if (s[0] == '[') {
		if (colon[-1] != ']' || n < 3)
			return -EINVAL;
		a = s + 1;
		n -= 2;
	}
	if (n >= addr_len)
		return -EINVAL;
	memcpy(addr, a, n);
	addr[n] = '\0';
	unsigned char bin[16];
	bool v6 = s[0] == '[';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) != 1)
		return -EINVAL;
	const char *p = colon + 1;
	if (!*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p))
		return -EINVAL;
	unsigned long v = strtoul(p, NULL, 10);
	if (v < 1 || v > 65535)
		return -EINVAL;
	*port = (unsigned)v;
	return 0;
}

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct parse_ctx *p = user;

	if (strncmp(section, "cluster ", 8) == 0) {
		char cname[64];
		const char *b = section + 8;
		while (*b == ' ')
			b++;
		size_t n = strlen(b);
		while (n > 0 && b[n - 1] == ' ')
			n--;
		if (n >= sizeof(cname))
			return fail(p, section, name,
				    "cluster name must be 1 to 63 characters");
		memcpy(cname, b, n);
		cname[n] = '\0';
		return set_cluster(p, section, cname, name, value);
	}

	const struct key *k = NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].name, name) == 0)
			k = &keys[i];
	if (!k)
		return fail(p, section, name, "unknown key");

	char *field = (char *)p->conf + k->offset;
	uint64_t v;
	int rc;
	switch (k->kind) {
	case K_PATH:
		if (value[0] != '/')
			return fail(p, section, name,
				    "'%s' is not an absolute path", value);
		/* fallthrough */
	case K_STRING:
		if (strlen(value) >= k->size)
			return fail(p, section, name, "'%.200s' is too long",
				    value);
		memcpy(field, value, strlen(value) + 1);
		return 1;
	case K_IP: {
		unsigned char addr[16];
		if (strlen(value) >= k->size ||
		    (inet_pton(AF_INET, value, addr) != 1 &&
		     inet_pton(AF_INET6, value, addr) != 1))
			return fail(p, section, name,
				    "'%.200s' is not an IPv4 or IPv6 address",
				    value);
		memcpy(field, value, strlen(value) + 1);
		return 1;
	}
	case K_LISTEN: {
		char addr[64];
		unsigned port;
		if (strlen(value) >= k->size ||
		    bd_conf_split_listen(value, addr, sizeof(addr), &port))
			return fail(
			    p, section, name,
			    "'%.200s' is not ADDRESS:PORT (an IPv4 "
			    "address, or an IPv6 one in brackets, and a "
			    "port from 1 to 65535)",
			    value);
		memcpy(field, value, strlen(value) + 1);
		return 1;
	}
	case K_BOOL:
		if (parse_bool(value, (bool *)field))
			return fail(p, section, name,
				    "'%s' is not a boolean (yes/no, "
				    "true/false, on/off, 1/0)",
				    value);
		return 1;
	case K_LEVEL:
		if (bd_log_parse_level(value, (int *)field))
			return fail(p, section, name,
				    "'%s' is not a log level (error, warning, "
				    "notice, info, debug)",
				    value);
		return 1;
	case K_MS:
	case K_COUNT:
		rc = bd_parse_uint(value, k->min, k->max, &v);
		if (rc)
			return fail(p, section, name, "'%s' is %s", value,
				    rc == -ERANGE ? "out of range"
						  : "not a whole number");
		memcpy(field, &v, sizeof(v));
		return 1;
	case K_SIZE:
		rc = bd_parse_size(value, &v);
		if (rc == 0 && (v < k->min || v > k->max))
			rc = -ERANGE;
		if (rc)
			return fail(p, section, name, "'%s' is %s", value,
				    rc == -ERANGE
					? "out of range"
					: "not a size (e.g. 512M, 8G)");
		memcpy(field, &v, sizeof(v));
		return 1;
	}
	return 1;
}

int bd_conf_rest_host(const char *entry, size_t len, char *host,
		      size_t host_len, unsigned *port)
{
	/* A name or an IPv4 address; in brackets, an IPv6 address. */
	const char *chars = "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";
	const char *h = entry, *end = entry + len;
	if (len && entry[0] == '[') {
		h++;
		end = memchr(entry, ']', len);
		chars = "0123456789abcdefABCDEF:.";
	} else if (memchr(entry, ':', len)) {
		end = memchr(entry, ':', len);
	}
	size_t n = end ? (size_t)(end - h) : 0;
	if (!n || n >= host_len || strspn(h, chars) < n)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	const char *rest = end + (entry[0] == '[');
	uint64_t v = 0;
	if (rest < entry + len) {
		char digits[8];
		size_t dn = (size_t)(entry + len - rest) - 1;
		if (*rest != ':' || !dn || dn >= sizeof(digits))
			return -EINVAL;
		memcpy(digits, rest + 1, dn);
		digits[dn] = '\0';
		if (bd_parse_uint(digits, 1, 65535, &v))
			return -EINVAL;
	}
	*port = (unsigned)v;
	return 0;
}

/* A [cluster] section's keys that only make sense together. */
static int check_cluster(const struct bd_cluster *cl, char *why, size_t len)
{
	size_t n = 0;
	for (const char *u = cl->rest_urls; *u;) {
		size_t w = strcspn(u, " \t");
		if (w && strncmp(u, "http://", 7) != 0 &&
		    strncmp(u, "https://", 8) != 0) {
			snprintf(why, len,
				 "rest_urls: '%.*s' is not an http:// or "
				 "https:// URL",
				 (int)(w < 100 ? w : 100), u);
			return -EINVAL;
		}
		n += w > 0;
		u += w;
		u += strspn(u, " \t");
	}
	size_t hosts = 0;
	for (const char *u = cl->rest_hosts; *u;) {
		size_t w = strcspn(u, " \t");
		char host[256];
		unsigned port;
		if (w && bd_conf_rest_host(u, w, host, sizeof(host), &port)) {
			snprintf(why, len,
				 "rest_hosts: '%.*s' is not HOST, HOST:PORT, "
				 "[V6] or [V6]:PORT",
				 (int)(w < 100 ? w : 100), u);
			return -EINVAL;
		}
		hosts += w > 0;
		u += w;
		u += strspn(u, " \t");
	}
	if (n > BD_REST_MAX_URLS)
		snprintf(why, len, "rest_urls: more than %d URLs",
			 BD_REST_MAX_URLS);
	else if (hosts > BD_REST_MAX_HOSTS)
		snprintf(why, len, "rest_hosts: more than %d hosts",
			 BD_REST_MAX_HOSTS);
	else if (cl->tls_key_file[0] && !cl->tls_cert_file[0])
		snprintf(why, len, "tls_key_file needs tls_cert_file");
	else if (!cl->username[0] != !cl->password_file[0])
		snprintf(why, len, "username and password_file go together");
	else if (cl->poll_interval_ms >= cl->max_age_ms)
		snprintf(why, len,
			 "poll_interval_ms (%llu) must be below max_age_ms "
			 "(%llu): facts would go stale between polls",
			 (unsigned long long)cl->poll_interval_ms,
			 (unsigned long long)cl->max_age_ms);
	else
		return 0;
	return -EINVAL;
}

static int check_clusters(struct parse_ctx *p, char *err, size_t err_len)
{
	char why[256];
	for (size_t i = 0; i < p->conf->n_clusters; i++) {
		const struct bd_cluster *cl = &p->conf->clusters[i];
		if (check_cluster(cl, why, sizeof(why)) == 0)
			continue;
		snprintf(err, err_len, "%s: [cluster %s] %s", p->file, cl->name,
			 why);
		return -EINVAL;
	}
	return 0;
}

/* inih returns 0, the line of the first error, or -1/-2 (open, memory). */
static int finish(struct parse_ctx *p, int rc, char *err, size_t err_len)
{
	if (p->long_line) {
		snprintf(err, err_len,
			 "%s:%d: line too long (at most 198 "
			 "characters)",
			 p->file, p->long_line);
		return -EINVAL;
	}
	if (p->nul_line) {
		snprintf(err, err_len, "%s:%d: a NUL byte (not a text file?)",
			 p->file, p->nul_line);
		return -EINVAL;
	}
	if (rc == 0) {
		/* Keys that only make sense together. */
		const struct bd_conf *c = p->conf;
		if (c->psi_stall_us >= c->psi_window_us) {
			snprintf(err, err_len,
				 "%s: [host] psi_stall_us (%llu) must be below "
				 "psi_window_us (%llu)",
				 p->file, (unsigned long long)c->psi_stall_us,
				 (unsigned long long)c->psi_window_us);
			return -EINVAL;
		}
		return check_clusters(p, err, err_len);
	}
	if (rc < 0) {
		snprintf(err, err_len, "%s: cannot read", p->file);
		return -EIO;
	}
	snprintf(err, err_len, "%s:%d: %s", p->file, rc,
		 p->msg[0]
		     ? p->msg
		     : "syntax error (expected [section] or key = value)");
	return -EINVAL;
}

int bd_conf_parse_string(struct bd_conf *c, const char *name, const char *text,
			 char *err, size_t err_len)
{
	struct parse_ctx p = {.conf = c, .file = name};
	err[0] = '\0';
	p.next = text;
	p.end = text + strlen(text);
	return finish(&p, ini_parse_stream(read_line, &p, handler, &p), err,
		      err_len);
}

int bd_conf_load(struct bd_conf *c, const char *path, bool must_exist,
		 char *err, size_t err_len)
{
	struct parse_ctx p = {.conf = c, .file = path};
	err[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		if (e == ENOENT && !must_exist)
			return 0;
		snprintf(err, err_len, "%s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode) &&
	    !S_ISCHR(st.st_mode)) { /* /dev/null is a fine empty config */
		fclose(f);
		snprintf(err, err_len, "%s: not a regular file", path);
		return -EINVAL;
	}
	/* Small by nature; a config over 1 MiB is not one. */
	char *text = malloc(1 << 20);
	size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
	bool too_big = text && !feof(f);
	fclose(f);
	if (!text || too_big) {
		free(text);
		snprintf(err, err_len, "%s: %s", path,
			 text ? "larger than 1 MiB" : strerror(ENOMEM));
		return text ? -EFBIG : -ENOMEM;
	}
	text[n] = '\0';
	p.next = text;
	p.end = text + n;
	int rc = ini_parse_stream(read_line, &p, handler, &p);
	free(text);
	return finish(&p, rc, err, err_len);
}

const struct bd_cluster *bd_conf_cluster(const struct bd_conf *c,
					 const char *name)
{
	for (size_t i = 0; i < c->n_clusters; i++)
		if (strcmp(c->clusters[i].name, name) == 0)
			return &c->clusters[i];
	return NULL;
}
