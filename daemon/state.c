/*
 * state.c: what survives a restart. Registrations live in
 * STATE_DIR/guests.json, written atomically (temporary file, fsync, rename,
 * fsync of the directory). Requests made while the daemon was down wait in
 * STATE_DIR/spool/ as one JSON file each, {"method": ..., "params": ...},
 * and are carried out in name order at start and whenever one appears.
 */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"

#define STATE_FILE    "guests.json"
#define SPOOL_DIR     "spool"
#define STATE_VERSION 1
/* A spool file is one request; anything bigger is not ours. */
#define SPOOL_MAX_BYTES BD_MAX_REQUEST_BYTES

static int path_in(const struct bd *bd, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", bd->conf.state_dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Read a whole small file; NUL-terminated. */
static int read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	char *buf = malloc(max + 1);
	size_t n = 0;
	int rc = buf ? 0 : -ENOMEM;
	while (rc == 0) {
		ssize_t r = read(fd, buf + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = -errno;
		else if (r == 0)
			break;
		else if ((n += (size_t)r) > max)
			rc = -EFBIG;
	}
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int bd_state_load(struct bd *bd)
{
	char path[4200], msg[256];
	char *text = NULL;
	size_t len;
	int rc = path_in(bd, STATE_FILE, path, sizeof(path));
	if (rc)
		return rc;
	rc = read_file(path, 256 << 20, &text, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		bd_err("%s: %s", path, strerror(-rc));
		return rc;
	}
	json_object *root = json_tokener_parse(text);
	free(text);
	json_object *version = NULL, *guests = NULL;
	if (!root || !json_object_object_get_ex(root, "version", &version) ||
	    json_object_get_int(version) != STATE_VERSION ||
	    !json_object_object_get_ex(root, "guests", &guests) ||
	    !json_object_is_type(guests, json_type_array)) {
		/* Keep it for the admin: the next save would overwrite it. */
		char aside[4300];
		snprintf(aside, sizeof(aside), "%s.bad-%lld", path,
			 (long long)(bd_now_us() / 1000000));
		rename(path, aside);
		bd_err(
		    "%s: not a balloond state file (version %d); moved to %s, "
		    "starting without registrations",
		    path, STATE_VERSION, aside);
		json_object_put(root);
		return -EINVAL;
	}
	size_t n = json_object_array_length(guests);
	for (size_t i = 0; i < n; i++) {
		struct bd_guest_spec spec;
		const char *code = NULL;
		if (bd_spec_parse(json_object_array_get_idx(guests, i), &spec,
				  msg, sizeof(msg)) ||
		    (code = bd_spec_check(bd, &spec, msg, sizeof(msg)))) {
			bd_err("%s: guest %zu skipped: %s", path, i, msg);
			continue;
		}
		if (!bd_guest_add(bd, &spec)) {
			json_object_put(root);
			return -ENOMEM;
		}
	}
	json_object_put(root);
	bd_info("restored %zu guest registrations from %s", bd->n_guests, path);
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int bd_state_save(struct bd *bd)
{
	char path[4200], tmp[4210];
	int rc = path_in(bd, STATE_FILE, path, sizeof(path));
	if (rc)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	json_object *root = json_object_new_object();
	json_object *arr = json_object_new_array();
	json_object_object_add(root, "version",
			       json_object_new_int(STATE_VERSION));
	json_object_object_add(root, "guests", arr);
	for (struct bd_guest *g = bd->guests; g; g = g->next)
		if (!g->removed && !g->pending_conn)
			json_object_array_add(arr, bd_spec_to_json(&g->spec));
	size_t len;
	const char *text = json_object_to_json_string_length(
	    root,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		JSON_C_TO_STRING_NOSLASHESCAPE,
	    &len);

	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = write_all(fd, text, len);
	if (rc == 0)
		rc = write_all(fd, "\n", 1);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0) {
		/* The rename itself must reach the disk. */
		int dfd = open(bd->conf.state_dir,
			       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	} else {
		unlink(tmp);
	}
out:
	json_object_put(root);
	if (rc)
		bd_err("cannot save registrations to %s: %s", path,
		       strerror(-rc));
	return rc;
}

static void persist_check_cb(uv_check_t *h)
{
	struct bd *bd = h->data;
	uv_check_stop(h);
	/* Commands first: a pin's balloon command need not wait for the
	 * fsync of the state file. */
	bd_replan_now(bd);
	if (bd->persist_dirty) {
		bd->persist_dirty = false;
		bd_state_save(bd);
	}
	bd_control_flush_held(bd);
}

void bd_state_dirty(struct bd *bd)
{
	if (!uv_is_active((uv_handle_t *)&bd->persist_check))
		uv_check_start(&bd->persist_check, persist_check_cb);
	bd->persist_dirty = true;
}

/* ---- the spool ---- */

static int spool_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 5 &&
	       strcmp(d->d_name + n - 5, ".json") == 0;
}

static void spool_one(struct bd *bd, const char *dir, const char *name)
{
	char path[4400];
	char *text = NULL;
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int rc = read_file(path, SPOOL_MAX_BYTES, &text, &len);
	if (rc) {
		if (rc != -ENOENT)
			bd_err("spool %s: %s", path, strerror(-rc));
		unlink(path);
		return;
	}
	/* The same shape as a control request, minus the id. */
	json_object *req = json_tokener_parse(text);
	json_object *method = NULL, *params = NULL;
	int m = BD_M_COUNT;
	if (req && json_object_object_get_ex(req, "method", &method) &&
	    json_object_is_type(method, json_type_string)) {
		for (int i = 0; i < BD_M_COUNT; i++)
			if (strcmp(json_object_get_string(method),
				   bd_method_name((enum bd_method)i)) == 0)
				m = i;
	}
	json_object_object_get_ex(req, "params", &params);
	if (m != BD_M_REGISTER && m != BD_M_UNREGISTER && m != BD_M_ROLE) {
		bd_err("spool %s: not a register, unregister or role request",
		       path);
	} else if (params && json_object_is_type(params, json_type_object)) {
		bd_info("spool: %s from %s", bd_method_name((enum bd_method)m),
			name);
		bd_method_dispatch(bd, 0, -1, m, params);
	} else {
		bd_err("spool %s: \"params\" must be an object", path);
	}
	json_object_put(req);
	free(text);
	unlink(path);
}

void bd_spool_scan(struct bd *bd)
{
	char dir[4200];
	struct dirent **list = NULL;
	if (path_in(bd, SPOOL_DIR, dir, sizeof(dir)))
		return;
	int n = scandir(dir, &list, spool_filter, alphasort);
	if (n < 0)
		return;
	for (int i = 0; i < n; i++) {
		spool_one(bd, dir, list[i]->d_name);
		free(list[i]);
	}
	free(list);
}

static void spool_event_cb(uv_fs_event_t *h, const char *filename, int events,
			   int status)
{
	struct bd *bd = h->data;
	if (status == 0 && !bd->shutting_down)
		bd_spool_scan(bd);
}

int bd_spool_start(struct bd *bd)
{
	char dir[4200];
	int rc = path_in(bd, SPOOL_DIR, dir, sizeof(dir));
	if (rc)
		return rc;
	/* Root-only, like the control socket: a spool entry is a request. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	uv_fs_event_init(bd->loop, &bd->spool_watch);
	bd->spool_watch.data = bd;
	rc = uv_fs_event_start(&bd->spool_watch, spool_event_cb, dir, 0);
	if (rc)
		bd_warn("cannot watch %s (%s): spooled requests are read at "
			"start only",
			dir, uv_strerror(rc));
	bd->spool_watching = true;
	bd_spool_scan(bd);
	return 0;
}
