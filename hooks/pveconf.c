/*
 * pveconf.c: reading a Proxmox VE VM config (see pveconf.h). Pure: text
 * in, a struct out.
 */
#include "hooks/pveconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/units.h"

#define MiB (UINT64_C(1) << 20)
/* Proxmox's own limit on memory: is 4 TiB in MiB; anything above is a
 * typo, and multiplying it must not overflow. */
#define PVE_MEMORY_MAX_MIB (UINT64_C(1) << 30)
/* More words than any args: line has; the rest is not looked at. */
#define ARGS_MAX_WORDS 256
/* Chardevs remembered for -mon to refer to. */
#define CHARDEVS_MAX 32

static int fail(char *err, size_t err_len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t err_len, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Proxmox writes description lines with every control character, byte
 * above 0x7e and ':' as %XX: decode them (a '%' not followed by two hex
 * digits is kept as it is). out holds at least len + 1 bytes. */
static void percent_decode(const char *s, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < len &&
		    (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* ---- the description's balloond: line ---------------------------------------
 */

static int size_field(const char *key, const char *v, uint64_t *out, char *err,
		      size_t err_len)
{
	if (bd_parse_size(v, out) || *out == 0)
		return fail(err, err_len, -EINVAL,
			    "balloond: line: %s=%s is not a size (e.g. 512M, "
			    "8G)",
			    key, v);
	return 0;
}

static int name_field(const char *key, const char *v, char *out, char *err,
		      size_t err_len)
{
	if (!*v || strlen(v) >= BD_NAME_MAX)
		return fail(err, err_len, -EINVAL,
			    "balloond: line: %s= takes 1 to %d characters", key,
			    BD_NAME_MAX - 1);
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/* "min=2G replica-target=4G cluster=pg member=pg1 priority=10 max=6G":
 * words separated by blanks or commas. */
static int parse_settings(char *s, struct bd_pveconf *c, uint64_t *max,
			  char *err, size_t err_len)
{
	int rc;
	for (char *save = NULL, *w = strtok_r(s, " \t,", &save); w;
	     w = strtok_r(NULL, " \t,", &save)) {
		char *v = strchr(w, '=');
		if (!v)
			return fail(err, err_len, -EINVAL,
				    "balloond: line: '%s' is not KEY=VALUE", w);
		*v++ = '\0';
		if (strcmp(w, "min") == 0)
			rc = size_field(w, v, &c->spec.min_bytes, err, err_len);
		else if (strcmp(w, "max") == 0)
			rc = size_field(w, v, max, err, err_len);
		else if (strcmp(w, "replica-target") == 0)
			rc = size_field(w, v, &c->spec.replica_target_bytes,
					err, err_len);
		else if (strcmp(w, "cluster") == 0)
			rc = name_field(w, v, c->spec.cluster, err, err_len);
		else if (strcmp(w, "member") == 0)
			rc = name_field(w, v, c->spec.member, err, err_len);
		else if (strcmp(w, "priority") == 0) {
			char *end;
			long p = strtol(v, &end, 10);
			rc = 0;
			if (!*v || *end || p < -1000 || p > 1000)
				rc = fail(err, err_len, -EINVAL,
					  "balloond: line: priority=%s is not "
					  "a whole number in [-1000, 1000]",
					  v);
			c->spec.priority = (int)p;
		} else
			rc = fail(err, err_len, -EINVAL,
				  "balloond: line: unknown key '%s' (min, max, "
				  "replica-target, priority, cluster, member)",
				  w);
		if (rc)
			return rc;
	}
	if (!*c->spec.cluster != !*c->spec.member)
		return fail(err, err_len, -EINVAL,
			    "balloond: line: cluster= and member= go together");
	return 0;
}

/* ---- args: QEMU's words -----------------------------------------------------
 */

/* Split like Proxmox's split_args (shell words: blanks separate; '...',
 * "..." and backslash quote). Words are written NUL-separated into buf
 * (as long as s); returns their number, or -1 for an open quote. */
static int split_words(const char *s, char *buf, char **words, int max)
{
	int n = 0;
	char *o = buf;
	while (*s) {
		while (is_space(*s))
			s++;
		if (!*s)
			break;
		if (n == max)
			return n;
		words[n++] = o;
		while (*s && !is_space(*s)) {
			if (*s == '\'') {
				for (s++; *s && *s != '\''; s++)
					*o++ = *s;
				if (!*s)
					return -1;
				s++;
			} else if (*s == '"') {
				for (s++; *s && *s != '"'; s++) {
					if (*s == '\\' && s[1])
						s++;
					*o++ = *s;
				}
				if (!*s)
					return -1;
				s++;
			} else if (*s == '\\' && s[1]) {
				*o++ = s[1];
				s += 2;
			} else {
				*o++ = *s++;
			}
		}
		*o++ = '\0';
	}
	return n;
}

/* QEMU's option syntax: comma-separated items, ",," for a comma. Copies
 * the item at *p into item (at most len - 1 bytes) and advances *p past
 * it; false at the end. */
static bool next_item(const char **p, char *item, size_t len)
{
	const char *s = *p;
	size_t o = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s == ',') {
			if (s[1] != ',')
				break;
			s++;
		}
		if (o + 1 < len)
			item[o++] = *s;
	}
	item[o] = '\0';
	*p = *s ? s + 1 : s;
	return true;
}

/* QEMU's booleans: on/yes/true, or the key alone. */
static bool qemu_true(const char *v)
{
	return !v || strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 ||
	       strcmp(v, "true") == 0;
}

struct chardev {
	char id[BD_NAME_MAX];
	char path[BD_PATH_MAX + 1]; /* one more: too long is an error */
	bool server;
};

/* A -chardev value: a unix socket (socket with path=) is remembered. */
static void read_chardev(const char *v, struct chardev *cd, bool *is_socket)
{
	char item[BD_PATH_MAX + 16];
	*is_socket = false;
	memset(cd, 0, sizeof(*cd));
	if (!next_item(&v, item, sizeof(item)) || strcmp(item, "socket"))
		return;
	*is_socket = true;
	while (next_item(&v, item, sizeof(item))) {
		char *eq = strchr(item, '=');
		const char *val = eq ? eq + 1 : NULL;
		if (eq)
			*eq = '\0';
		if (strcmp(item, "id") == 0 && val)
			snprintf(cd->id, sizeof(cd->id), "%s", val);
		else if (strcmp(item, "path") == 0 && val)
			snprintf(cd->path, sizeof(cd->path), "%s", val);
		else if (strcmp(item, "server") == 0)
			cd->server = qemu_true(val);
	}
}

/* A -mon value: the chardev it runs QMP on, or "" (readline monitor). */
static void read_mon(const char *v, char *chardev, size_t len)
{
	char item[BD_NAME_MAX + 16];
	bool control = false;
	*chardev = '\0';
	while (next_item(&v, item, sizeof(item))) {
		if (strncmp(item, "chardev=", 8) == 0)
			snprintf(chardev, len, "%s", item + 8);
		else if (strcmp(item, "mode=control") == 0)
			control = true;
	}
	if (!control)
		*chardev = '\0';
}

/* A -qmp value: "unix:PATH,server=on,wait=off" (or the older
 * "unix:PATH,server,nowait"); anything else is not a socket to reach. */
static bool read_qmp(const char *v, char *path, size_t len)
{
	char item[BD_PATH_MAX + 16];
	bool server = false;
	if (strncmp(v, "unix:", 5) != 0)
		return false;
	v += 5;
	if (!next_item(&v, item, sizeof(item)) || !*item)
		return false;
	snprintf(path, len, "%s", item);
	while (next_item(&v, item, sizeof(item))) {
		char *eq = strchr(item, '=');
		if (eq)
			*eq = '\0';
		if (strcmp(item, "server") == 0)
			server = qemu_true(eq ? eq + 1 : NULL);
	}
	return server;
}

/* QEMU takes "-opt" and "--opt" alike. */
static bool is_opt(const char *w, const char *name)
{
	if (w[0] != '-')
		return false;
	w += w[1] == '-' ? 2 : 1;
	return strcmp(w, name) == 0;
}

/* The first QMP monitor on a unix server socket, in the order of args. */
static int parse_args(const char *args, struct bd_pveconf *c, char *err,
		      size_t err_len)
{
	size_t len = strlen(args);
	char *buf = malloc(len + 1);
	char **words = malloc(ARGS_MAX_WORDS * sizeof(*words));
	struct chardev *cds = calloc(CHARDEVS_MAX, sizeof(*cds));
	char(*mons)[BD_NAME_MAX] = calloc(ARGS_MAX_WORDS, BD_NAME_MAX);
	int rc = 0, n, ncd = 0;
	if (!buf || !words || !cds || !mons) {
		rc = fail(err, err_len, -ENOMEM, "out of memory");
		goto out;
	}
	n = split_words(args, buf, words, ARGS_MAX_WORDS);
	if (n < 0) {
		rc = fail(err, err_len, -EINVAL, "args: an open quote");
		goto out;
	}
	char path[BD_PATH_MAX + 1] = "";
	for (int i = 0; i + 1 < n && !*path; i++) {
		const char *w = words[i], *v = words[i + 1];
		bool is_socket;
		if (is_opt(w, "chardev")) {
			if (ncd < CHARDEVS_MAX) {
				read_chardev(v, &cds[ncd], &is_socket);
				if (is_socket && *cds[ncd].id)
					ncd++;
			}
			i++;
		} else if (is_opt(w, "mon")) {
			char id[BD_NAME_MAX];
			read_mon(v, id, sizeof(id));
			/* The chardev may come later in args: resolved
			 * below, in -mon's order. */
			if (*id)
				snprintf(mons[i], BD_NAME_MAX, "%s", id);
			i++;
		} else if (is_opt(w, "qmp") || is_opt(w, "qmp-pretty")) {
			char p[BD_PATH_MAX + 1];
			if (read_qmp(v, p, sizeof(p)))
				memcpy(path, p, sizeof(p));
			i++;
		}
	}
	/* A -mon before the -qmp that was found wins: args order. */
	for (int i = 0; i < n; i++) {
		if (!*mons[i])
			continue;
		for (int k = 0; k < ncd; k++)
			if (strcmp(cds[k].id, mons[i]) == 0 && cds[k].server &&
			    *cds[k].path) {
				memcpy(path, cds[k].path, sizeof(path));
				i = n;
				break;
			}
	}
	if (*path) {
		if (strlen(path) >= BD_PATH_MAX) {
			rc = fail(err, err_len, -EINVAL,
				  "args: the monitor socket's path is longer "
				  "than %d bytes",
				  BD_PATH_MAX - 1);
			goto out;
		}
		memcpy(c->spec.qmp_path, path, strlen(path) + 1);
		c->has_qmp = true;
	}
out:
	free(buf);
	free(words);
	free(cds);
	free(mons);
	return rc;
}

/* ---- the config's lines -----------------------------------------------------
 */

/* memory: N, or the property string "current=N[,...]" of newer Proxmox. */
static int parse_memory(const char *v, uint64_t *bytes, char *err,
			size_t err_len)
{
	char item[64];
	uint64_t mib;
	while (next_item(&v, item, sizeof(item))) {
		const char *num = item;
		if (strncmp(item, "current=", 8) == 0)
			num = item + 8;
		else if (strchr(item, '='))
			continue;
		if (bd_parse_uint(num, 1, PVE_MEMORY_MAX_MIB, &mib))
			return fail(err, err_len, -EINVAL,
				    "memory: '%s' is not a size in MiB", num);
		*bytes = mib * MiB;
		return 0;
	}
	return fail(err, err_len, -EINVAL, "memory: no size");
}

static int parse_number(const char *key, const char *v, uint64_t max,
			uint64_t *out, char *err, size_t err_len)
{
	if (bd_parse_uint(v, 0, max, out))
		return fail(err, err_len, -EINVAL,
			    "%s: '%s' is not a whole number", key, v);
	return 0;
}

int bd_pveconf_parse(const char *text, size_t len, struct bd_pveconf *out,
		     char *err, size_t err_len)
{
	memset(out, 0, sizeof(*out));
	if (len > BD_PVECONF_MAX_BYTES)
		return fail(err, err_len, -EMSGSIZE,
			    "the config is larger than %d bytes",
			    BD_PVECONF_MAX_BYTES);
	char *line = malloc(len + 1);
	if (!line)
		return fail(err, err_len, -ENOMEM, "out of memory");
	uint64_t max = 0, balloon_mib = 0;
	int rc = 0, lineno = 0;
	bool in_description = true;
	const char *p = text, *end = text + len;
	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		lineno++;
		if (memchr(p, '\0', n)) {
			rc = fail(err, err_len, -EINVAL,
				  "line %d: a NUL byte: not a VM config",
				  lineno);
			break;
		}
		if (n && p[0] == '[')
			break; /* a snapshot or pending changes */
		if (n && p[0] == '#') {
			percent_decode(p + 1, n - 1, line);
			char *s = line;
			while (is_space(*s))
				s++;
			if (in_description && strncmp(s, "balloond:", 9) == 0) {
				if (out->has_settings)
					rc = fail(err, err_len, -EINVAL,
						  "a second balloond: line");
				else
					rc = parse_settings(s + 9, out, &max,
							    err, err_len);
				out->has_settings = true;
			}
			goto next;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		while (n && is_space(line[n - 1]))
			line[--n] = '\0';
		if (!n)
			goto next;
		in_description = false;
		char *colon = strchr(line, ':');
		if (!colon)
			goto next; /* not key: value; not ours to judge */
		*colon = '\0';
		char *v = colon + 1;
		while (is_space(*v))
			v++;
		if (strcmp(line, "memory") == 0) {
			rc = parse_memory(v, &out->memory_bytes, err, err_len);
		} else if (strcmp(line, "balloon") == 0) {
			rc = parse_number("balloon", v, PVE_MEMORY_MAX_MIB,
					  &balloon_mib, err, err_len);
			out->has_balloon = true;
			out->balloon_bytes = balloon_mib * MiB;
		} else if (strcmp(line, "shares") == 0) {
			rc = parse_number("shares", v, 50000, &out->shares, err,
					  err_len);
			out->has_shares = true;
		} else if (strcmp(line, "args") == 0) {
			if (strlen(v) >= sizeof(out->args))
				rc = fail(err, err_len, -EINVAL,
					  "args: longer than %d bytes",
					  BD_PVECONF_ARGS_MAX - 1);
			else {
				memcpy(out->args, v, strlen(v) + 1);
				rc = parse_args(v, out, err, err_len);
			}
		}
	next:
		if (rc) {
			/* Name the line in the message. */
			char m[256];
			snprintf(m, sizeof(m), "%s", err);
			fail(err, err_len, rc, "line %d: %s", lineno, m);
		}
		p = nl ? nl + 1 : end;
	}
	free(line);
	if (rc)
		return rc;
	if (max && out->memory_bytes && max > out->memory_bytes)
		return fail(err, err_len, -EINVAL,
			    "balloond: line: max is above memory: (%llu MiB)",
			    (unsigned long long)(out->memory_bytes / MiB));
	out->spec.max_bytes = max ? max : out->memory_bytes;
	const uint64_t top = out->spec.max_bytes;
	if (top &&
	    (out->spec.min_bytes > top || out->spec.replica_target_bytes > top))
		return fail(err, err_len, -EINVAL,
			    "balloond: line: min and replica-target must not "
			    "be above the max (%llu MiB)",
			    (unsigned long long)(top / MiB));
	return 0;
}

bool bd_pveconf_autoballoon(const struct bd_pveconf *c)
{
	return c->has_balloon && c->balloon_bytes &&
	       !(c->has_shares && c->shares == 0);
}
