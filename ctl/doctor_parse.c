/*
 * doctor_parse.c: doctor's parsers (see doctor.h). Pure: no I/O and no
 * globals, so that the fuzzer runs them on any bytes. Every parser walks
 * [text, text + len) line by line and never reads past it, since a
 * fixture or a truncated read need not end in a newline or a NUL.
 */
#include "doctor.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "hooks/pveconf.h"
#include "proto/textscan.h"

/* Blanks, then a decimal number (see bd_text_parse_u64). */
static int blank_u64(const char **p, const char *end, uint64_t *v)
{
	*p = bd_text_skip_blanks(*p, end);
	return bd_text_parse_u64(p, end, v);
}

int doctor_parse_meminfo_field(const char *text, size_t len, const char *key,
			       uint64_t *bytes)
{
	const char *p = text, *end = text + len, *line;
	size_t line_len, klen = strlen(key);
	*bytes = 0;
	while (bd_text_next_line(&p, end, &line, &line_len)) {
		const char *le = line + line_len;
		if (line_len <= klen || memcmp(line, key, klen) != 0 ||
		    line[klen] != ':')
			continue;
		const char *q = line + klen + 1;
		uint64_t v;
		int rc = blank_u64(&q, le, &v);
		if (rc)
			return rc;
		const char *unit;
		size_t unit_len;
		if (bd_text_next_token(&q, le, &unit, &unit_len)) {
			if (!bd_text_token_is(unit, unit_len, "kB"))
				return -EINVAL;
			if (v > UINT64_MAX / 1024)
				return -ERANGE;
			v *= 1024;
		}
		*bytes = v;
		return 0;
	}
	return -ENODATA;
}

/* The first line of [text, text + len) whose first token is name: *q
 * just after that token, *le the line's end. */
static bool find_row(const char *text, size_t len, const char *name,
		     const char **q, const char **le)
{
	const char *p = text, *end = text + len, *line, *tok;
	size_t line_len, tok_len;
	while (bd_text_next_line(&p, end, &line, &line_len)) {
		*q = line;
		*le = line + line_len;
		if (bd_text_next_token(q, *le, &tok, &tok_len) &&
		    bd_text_token_is(tok, tok_len, name))
			return true;
	}
	return false;
}

int doctor_parse_kstat_row(const char *text, size_t len, const char *name,
			   uint64_t *value)
{
	const char *q, *le, *tok;
	size_t tok_len;
	uint64_t v;
	*value = 0;
	if (!find_row(text, len, name, &q, &le))
		return -ENODATA;
	if (!bd_text_next_token(&q, le, &tok, &tok_len))
		return -EINVAL; /* no TYPE */
	int rc = blank_u64(&q, le, &v);
	if (rc)
		return rc;
	if (bd_text_skip_blanks(q, le) != le)
		return -EINVAL;
	*value = v;
	return 0;
}

int doctor_parse_number(const char *text, size_t len, uint64_t *value)
{
	const char *end = text + len;
	*value = 0;
	if (len && end[-1] == '\n')
		end--;
	const char *q = text;
	uint64_t v;
	int rc = blank_u64(&q, end, &v);
	if (rc)
		return rc;
	if (bd_text_skip_blanks(q, end) != end)
		return -EINVAL;
	*value = v;
	return 0;
}

int doctor_parse_swaps(const char *text, size_t len, struct doctor_swap *swaps,
		       size_t max, size_t *n)
{
	const char *p = text, *end = text + len, *line;
	size_t line_len;
	bool header = true;
	*n = 0;
	while (bd_text_next_line(&p, end, &line, &line_len)) {
		const char *q = line, *le = line + line_len, *dev, *type;
		size_t dev_len, type_len;
		if (header) {
			/* "Filename Type Size Used Priority" */
			if (!bd_text_next_token(&q, le, &dev, &dev_len) ||
			    !bd_text_token_is(dev, dev_len, "Filename"))
				return -EINVAL;
			header = false;
			continue;
		}
		if (!bd_text_next_token(&q, le, &dev, &dev_len))
			continue; /* a blank line */
		if (!bd_text_next_token(&q, le, &type, &type_len))
			return -EINVAL;
		uint64_t kib;
		int rc = blank_u64(&q, le, &kib);
		if (rc)
			return rc;
		if (kib > UINT64_MAX / 1024)
			return -ERANGE;
		if (*n == max)
			continue;
		struct doctor_swap *s = &swaps[(*n)++];
		size_t copy = dev_len < sizeof(s->device) - 1
				  ? dev_len
				  : sizeof(s->device) - 1;
		memcpy(s->device, dev, copy);
		s->device[copy] = '\0';
		s->size_bytes = kib * 1024;
	}
	return header ? -EINVAL : 0;
}

/* ---- Proxmox VE ---- */

unsigned doctor_pve_vmid(const char *qmp)
{
	/* Where `balloonctl enable --proxmox` puts the monitor, and
	 * Proxmox's own (which serves one client at a time). */
	static const char *const dirs[] = {
	    BD_PVE_QMP_DIR "/", "/run/qemu-server/", "/var/run/qemu-server/"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		size_t n = strlen(dirs[i]);
		if (strncmp(qmp, dirs[i], n) != 0)
			continue;
		const char *p = qmp + n, *end = p + strlen(p);
		uint64_t v;
		/* VMIDs run from 100 to 999999999. */
		if (bd_text_parse_u64(&p, end, &v) == 0 && v >= 100 &&
		    v <= 999999999 && strcmp(p, ".qmp") == 0)
			return (unsigned)v;
	}
	return 0;
}

/* ---- processes ---- */

int doctor_parse_stat_starttime(const char *text, size_t len, uint64_t *ticks)
{
	*ticks = 0;
	/* The comm ends at the last ')': it may hold blanks and parentheses. */
	const char *end = text + len, *p = NULL;
	for (const char *q = text; q < end; q++)
		if (*q == ')')
			p = q + 1;
	if (!p)
		return -EINVAL;
	/* Then field 3 (state) on: starttime is the 20th after the comm. */
	const char *tok;
	size_t tok_len;
	for (int field = 3; field < 22; field++)
		if (!bd_text_next_token(&p, end, &tok, &tok_len))
			return -EINVAL;
	uint64_t v;
	int rc = blank_u64(&p, end, &v);
	if (rc)
		return rc;
	*ticks = v;
	return 0;
}

int doctor_parse_btime(const char *text, size_t len, uint64_t *btime_s)
{
	const char *q, *le;
	uint64_t v;
	*btime_s = 0;
	if (!find_row(text, len, "btime", &q, &le))
		return -ENODATA;
	int rc = blank_u64(&q, le, &v);
	if (rc)
		return rc;
	*btime_s = v;
	return 0;
}

/* ---- balloond's status ---- */

static uint64_t get_u64(json_object *o, const char *key, bool *known)
{
	json_object *v;
	bool ok = json_object_object_get_ex(o, key, &v) &&
		  json_object_is_type(v, json_type_int) &&
		  json_object_get_int64(v) >= 0;
	if (known)
		*known = ok;
	return ok ? (uint64_t)json_object_get_int64(v) : 0;
}

static bool get_bool(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) &&
	       json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

static void get_str(json_object *o, const char *key, char *buf, size_t len)
{
	json_object *v;
	buf[0] = '\0';
	if (json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(buf, len, "%s", json_object_get_string(v));
}

/* daily_used_peaks: [{"date", "used_bytes", "starved"}...], the last 14
 * days balloond kept (a daemon before them has none). */
static void decode_peaks(json_object *o, struct doctor_guest *g)
{
	json_object *days;
	if (!json_object_object_get_ex(o, "daily_used_peaks", &days) ||
	    !json_object_is_type(days, json_type_array))
		return;
	size_t n = json_object_array_length(days);
	for (size_t i = 0; i < n && i < 64; i++) {
		json_object *d = json_object_array_get_idx(days, i);
		bool known;
		uint64_t used = get_u64(d, "used_bytes", &known);
		if (known) {
			g->peak_days++;
			if (used > g->used_peak_bytes)
				g->used_peak_bytes = used;
		}
		g->starved_days += get_bool(d, "starved");
	}
}

static void decode_guest(json_object *o, struct doctor_guest *g)
{
	json_object *st;
	memset(g, 0, sizeof(*g));
	get_str(o, "name", g->name, sizeof(g->name));
	g->max_bytes = get_u64(o, "max_bytes", NULL);
	g->min_bytes = get_u64(o, "min_bytes", NULL);
	g->replica_target_bytes = get_u64(o, "replica_target_bytes", NULL);
	g->target_bytes = get_u64(o, "target_bytes", NULL);
	g->actual_bytes = get_u64(o, "actual_bytes", &g->actual_known);
	g->foreign_moves = get_u64(o, "foreign_moves", NULL);
	g->last_action_us = (int64_t)get_u64(o, "last_action_us", NULL);
	g->starving = get_bool(o, "starving");
	g->deflated = get_bool(o, "deflated");
	char link[16];
	get_str(o, "link", link, sizeof(link));
	g->link_up = strcmp(link, "up") == 0;
	get_str(o, "last_error", g->last_error, sizeof(g->last_error));
	get_str(o, "qmp", g->qmp, sizeof(g->qmp));
	get_str(o, "cluster", g->cluster, sizeof(g->cluster));
	g->pve_vmid = doctor_pve_vmid(g->qmp);
	g->stats_known = json_object_object_get_ex(o, "guest_stats", &st) &&
			 json_object_is_type(st, json_type_object) &&
			 get_u64(st, "last_update", NULL) > 0;
	g->reserve_bytes = get_u64(o, "reserve_bytes", &g->reserve_known);
	decode_peaks(o, g);
}

bool doctor_find_balloon(json_object *list, const char *container, char *path,
			 size_t size)
{
	if (!json_object_is_type(list, json_type_array))
		return false;
	size_t n = json_object_array_length(list);
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(list, i), *name,
			    *type;
		if (!json_object_object_get_ex(o, "name", &name) ||
		    !json_object_object_get_ex(o, "type", &type) ||
		    !json_object_is_type(name, json_type_string) ||
		    !json_object_is_type(type, json_type_string) ||
		    strncmp(json_object_get_string(type),
			    "child<virtio-balloon", 20) != 0)
			continue;
		int len = snprintf(path, size, "%s/%s", container,
				   json_object_get_string(name));
		return len > 0 && (size_t)len < size;
	}
	return false;
}

void doctor_decode_status(json_object *res, struct doctor_daemon *d)
{
	json_object *host, *guests, *clusters;
	d->answered = true;
	d->n_guests = 0;
	d->n_clusters = 0;
	d->config_known = false;
	d->low_watermark_bytes = d->high_watermark_bytes = 0;
	if (!json_object_is_type(res, json_type_object))
		return;
	if (json_object_object_get_ex(res, "host", &host) &&
	    json_object_is_type(host, json_type_object)) {
		d->psi_trigger = get_bool(host, "psi_trigger");
		get_str(host, "arc_error", d->arc_error, sizeof(d->arc_error));
		get_str(host, "error", d->host_error, sizeof(d->host_error));
	}
	json_object *config;
	if (json_object_object_get_ex(res, "config", &config) &&
	    json_object_is_type(config, json_type_object)) {
		d->config_known = true;
		d->low_watermark_bytes =
		    get_u64(config, "low_watermark_bytes", NULL);
		d->high_watermark_bytes =
		    get_u64(config, "high_watermark_bytes", NULL);
	}
	if (json_object_object_get_ex(res, "clusters", &clusters) &&
	    json_object_is_type(clusters, json_type_object)) {
		json_object_object_foreach(clusters, name, v)
		{
			(void)v;
			if (d->n_clusters < DOCTOR_MAX_CLUSTERS)
				snprintf(d->clusters[d->n_clusters++],
					 sizeof(d->clusters[0]), "%s", name);
		}
	}
	if (!json_object_object_get_ex(res, "guests", &guests) ||
	    !json_object_is_type(guests, json_type_array))
		return;
	size_t n = json_object_array_length(guests);
	for (size_t i = 0; i < n && d->n_guests < DOCTOR_MAX_GUESTS; i++) {
		json_object *o = json_object_array_get_idx(guests, i);
		if (json_object_is_type(o, json_type_object))
			decode_guest(o, &d->guests[d->n_guests++]);
	}
}
