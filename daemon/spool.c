/*
 * spool.c: requests made while the daemon was down. They wait in
 * STATE_DIR/spool/ as one JSON file each (proto/spool.h), and are
 * carried out in name order, through the same methods as the control
 * socket's, at start and whenever one appears. A file goes once the
 * change it made is on disk (a crash before that runs it again, which is
 * harmless). Role notifications from role_group's members wait in a
 * spool of their own, which they may write to but not read.
 */
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "proto/fileio.h"
#include "proto/proto.h"
#include "proto/spool.h"

struct spooled {
	uint64_t gen;
	LIST_ENTRY(spooled) entry;
	char path[];
};

struct bd_spool {
	uv_fs_event_t spool_watch; /* new files in the spool */
	uv_fs_event_t role_watch;  /* ... and in the role spool */
	/* Spool files carried out but not yet on disk: removed once their
	 * change is. */
	LIST_HEAD(, spooled) spooled;
};

void bd_spool_saved(struct bd *bd)
{
	if (!bd->spool)
		return;
	uint64_t saved = bd_state_saved(bd);
	struct spooled *x, *next;
	for (x = LIST_FIRST(&bd->spool->spooled); x; x = next) {
		next = LIST_NEXT(x, entry);
		if (x->gen <= saved) {
			unlink(x->path);
			LIST_REMOVE(x, entry);
			free(x);
		}
	}
}

static int spool_filter(const struct dirent *d)
{
	return bd_spool_name_ok(d->d_name);
}

/* Carry out one spool file. From the role spool (role_only), anything but
 * a role notification is refused: its writers may do nothing else. */
static void spool_one(struct bd *bd, const char *dir, const char *name,
		      bool role_only)
{
	char path[4400], msg[256];
	char *text = NULL;
	size_t len;
	enum bd_method m;
	json_object *params = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct spooled *x;
	LIST_FOREACH (x, &bd->spool->spooled, entry)
		if (strcmp(x->path, path) == 0)
			return; /* carried out, waiting for the disk */
	int rc = bd_read_file(path, BD_SPOOL_MAX_BYTES, &text, &len);
	if (rc) {
		if (rc != -ENOENT)
			bd_err("spool %s: %s", path, strerror(-rc));
		unlink(path);
		return;
	}
	if (bd_spool_parse(text, len, &m, &params, msg, sizeof(msg))) {
		bd_err("spool %s: %s", path, msg);
	} else if (role_only && m != BD_M_ROLE) {
		bd_err("spool %s: a %s request in the role spool (role_group "
		       "may only send role notifications): ignored",
		       path, bd_method_name(m));
		json_object_put(params);
	} else {
		bd_info("spool: %s from %s", bd_method_name(m), name);
		bd_method_dispatch(bd, (struct bd_reply_to){0, 0, (int)m}, -1,
				   (int)m, params);
		json_object_put(params);
		/* Removed only once its change is on disk, flushed. */
		uint64_t gen = bd_state_sync(bd);
		if (gen > bd_state_saved(bd)) {
			size_t plen = strlen(path) + 1;
			x = malloc(sizeof(*x) + plen);
			if (x) {
				x->gen = gen;
				memcpy(x->path, path, plen);
				LIST_INSERT_HEAD(&bd->spool->spooled, x, entry);
				free(text);
				return;
			}
		}
	}
	free(text);
	unlink(path);
}

static void scan_dir(struct bd *bd, const char *name, bool role_only)
{
	char dir[BD_FILE_PATH_MAX];
	struct dirent **list = NULL;
	if (bd_state_path(bd, name, dir, sizeof(dir)))
		return;
	int n = scandir(dir, &list, spool_filter, alphasort);
	if (n < 0)
		return;
	for (int i = 0; i < n; i++) {
		spool_one(bd, dir, list[i]->d_name, role_only);
		free(list[i]);
	}
	free(list);
}

static void spool_scan(struct bd *bd)
{
	scan_dir(bd, BD_SPOOL_DIR, false);
	if (bd->conf.role_group[0])
		scan_dir(bd, BD_ROLE_SPOOL_DIR, true);
}

static void spool_event_cb(uv_fs_event_t *h, const char *filename, int events,
			   int status)
{
	struct bd *bd = h->data;
	if (status == 0 && !bd->shutting_down)
		scan_dir(bd,
			 h == &bd->spool->role_watch ? BD_ROLE_SPOOL_DIR
						     : BD_SPOOL_DIR,
			 h == &bd->spool->role_watch);
}

static void watch_dir(struct bd *bd, uv_fs_event_t *h, const char *dir)
{
	int rc = uv_fs_event_start(h, spool_event_cb, dir, 0);
	if (rc)
		bd_warn("cannot watch %s (%s): spooled requests are read at "
			"start only",
			dir, uv_strerror(rc));
}

/* The role spool: role_group may create files in it, never list or read
 * them (01730, root's, the group's). Its mode and group are set each
 * start, so a changed role_group takes effect with a restart. */
static int role_spool_start(struct bd *bd)
{
	char dir[BD_FILE_PATH_MAX];
	struct group *gr = getgrnam(bd->conf.role_group);
	if (!gr) {
		bd_warn("role_group %s: no such group: no role spool",
			bd->conf.role_group);
		return 0;
	}
	int rc = bd_state_path(bd, BD_ROLE_SPOOL_DIR, dir, sizeof(dir));
	if (rc)
		return rc;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (chown(dir, 0, gr->gr_gid) < 0 || chmod(dir, 01730) < 0 ||
	    chmod(bd->conf.state_dir, 0711) < 0)
		bd_warn("role spool %s: %s", dir, strerror(errno));
	watch_dir(bd, &bd->spool->role_watch, dir);
	return 0;
}

int bd_spool_start(struct bd *bd)
{
	char dir[BD_FILE_PATH_MAX];
	struct bd_spool *sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	uv_fs_event_init(bd->loop, &sp->spool_watch);
	sp->spool_watch.data = bd;
	uv_fs_event_init(bd->loop, &sp->role_watch);
	sp->role_watch.data = bd;
	bd->spool = sp;
	int rc = bd_state_path(bd, BD_SPOOL_DIR, dir, sizeof(dir));
	if (rc)
		return rc;
	/* Root-only, like the control socket: a spool entry is a request. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	watch_dir(bd, &bd->spool->spool_watch, dir);
	if (bd->conf.role_group[0] && (rc = role_spool_start(bd)))
		bd_warn("role spool: %s", strerror(-rc));
	spool_scan(bd);
	return 0;
}

void bd_spool_close(struct bd *bd)
{
	struct bd_spool *sp = bd->spool;
	if (!sp || uv_is_closing((uv_handle_t *)&sp->spool_watch))
		return;
	uv_close((uv_handle_t *)&sp->spool_watch, NULL);
	uv_close((uv_handle_t *)&sp->role_watch, NULL);
}

void bd_spool_free(struct bd *bd)
{
	struct bd_spool *sp = bd->spool;
	if (!sp)
		return;
	/* Spool files whose changes never reached the disk stay, and run
	 * again at the next start. */
	struct spooled *x;
	while ((x = LIST_FIRST(&sp->spooled))) {
		LIST_REMOVE(x, entry);
		free(x);
	}
	free(sp);
	bd->spool = NULL;
}
