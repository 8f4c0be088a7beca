/*
 * arc.c: the ZFS ARC budget. balloond caps the ARC by writing
 * zfs_arc_max, the module parameter OpenZFS rereads at once (its
 * arc_tuning_update), so that memory the ARC would otherwise grow into is
 * left for the guests. MemAvailable does not count the ARC as free, and an
 * uncapped ARC grows to nearly all of RAM.
 *
 * Each problem is logged once (when its message changes) and kept in
 * bd->arc_error for status; a refusal also sets bd->arc_disabled so that
 * status and the planner know writes do not land.
 *
 * Once balloond wrote zfs_arc_max, the kernel reports that value as
 * arcstats' c_max: the ARC's own c_max, and the admin's own zfs_arc_max,
 * are what they were before. Both are saved in STATE_DIR/arc.json, on the
 * thread pool, before the first write (the planner writes nothing until
 * then), and read at start: a restarted balloond, after SIGTERM or
 * kill -9, still caps the ARC below its own c_max and can raise the cap
 * again. When arc_manage is off, the admin's value goes back and the file
 * goes away.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto/fileio.h"
#include "proto/units.h"

#define ARC_MAX_PARAM	  "module/zfs/parameters/zfs_arc_max"
#define ARC_STATE_FILE	  "arc.json"
#define ARC_STATE_VERSION 1
/* Room for sys_root or state_dir and the name under it. */
#define CONF_PATH_MAX  sizeof(((struct bd_conf *)0)->state_dir)
#define PARAM_PATH_MAX (CONF_PATH_MAX + sizeof(ARC_MAX_PARAM) + 1)
#define STATE_PATH_MAX (CONF_PATH_MAX + sizeof(ARC_STATE_FILE) + 1)

static int write_value(const char *path, uint64_t bytes)
{
	char val[32];
	int n = snprintf(val, sizeof(val), "%llu\n", (unsigned long long)bytes);
	/* sysfs ignores O_TRUNC; a test's regular file needs it. */
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, val, (size_t)n);
	/* sysfs takes a store in one write or rejects it whole. */
	int err = w == n ? 0 : w < 0 ? -errno : -EIO;
	if (close(fd) != 0 && !err)
		err = -errno;
	return err;
}

static int param_path(const struct bd *bd, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", bd->conf.sys_root, ARC_MAX_PARAM);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int state_path(const struct bd *bd, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", bd->conf.state_dir, ARC_STATE_FILE);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int bd_arc_write(struct bd *bd, uint64_t bytes)
{
	char path[PARAM_PATH_MAX];
	char msg[sizeof(bd->arc_error)];

	/* 0 means "no limit" to ZFS (back to its default of most of RAM):
	 * the opposite of a cap, never what a plan means. */
	if (!bytes)
		return -EINVAL;
	int err = param_path(bd, path, sizeof(path));
	if (!err)
		err = write_value(path, bytes);
	if (!err) {
		bd->host.arc_max_set_bytes = bytes;
		bd->arc_disabled = false;
		bd->arc_error[0] = '\0';
		bd_info("zfs_arc_max set to %llu bytes (%.1f GiB)",
			(unsigned long long)bytes,
			(double)bytes / (double)(UINT64_C(1) << 30));
		return 0;
	}
	if (err == -ENOENT) {
		/* No ZFS module loaded: nothing to cap, and no fault. */
		snprintf(msg, sizeof(msg), "no ZFS ARC here (%s: %s)", path,
			 strerror(-err));
		if (strcmp(msg, bd->arc_error) != 0)
			bd_notice("%s; arc_manage ignored", msg);
		memcpy(bd->arc_error, msg, sizeof(msg));
		return err;
	}
	snprintf(msg, sizeof(msg), "cannot write %s: %s", path, strerror(-err));
	if (!bd->arc_disabled || strcmp(msg, bd->arc_error) != 0)
		bd_warn("%s; the ZFS ARC is left alone%s", msg,
			err == -EROFS || err == -EACCES || err == -EPERM
			    ? " (balloond.service's ProtectKernelTunables=yes "
			      "makes /sys read-only: lift it for this file in "
			      "a drop-in, ReadWritePaths=-/sys/" ARC_MAX_PARAM
			      ", or set ProtectKernelTunables=no)"
			    : "");
	bd->arc_disabled = true;
	memcpy(bd->arc_error, msg, sizeof(msg));
	return err;
}

/* ---- the ARC before balloond: STATE_DIR/arc.json ---- */

/* A problem with the saved state: logged once, kept for status. */
static void arc_problem(struct bd *bd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void arc_problem(struct bd *bd, const char *fmt, ...)
{
	char msg[sizeof(bd->arc_error)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, bd->arc_error) != 0)
		bd_err("%s", msg);
	memcpy(bd->arc_error, msg, sizeof(msg));
}

int bd_arc_load(struct bd *bd)
{
	char path[STATE_PATH_MAX];
	char *text = NULL;
	size_t len;
	int rc = state_path(bd, path, sizeof(path));
	if (rc == 0)
		rc = bd_read_file(path, 4096, &text, &len);
	if (rc == -ENOENT)
		return 0; /* balloond never capped this ARC, or gave it back */
	json_object *root = rc ? NULL : json_tokener_parse(text);
	free(text);
	json_object *v, *c_max, *admin;
	if (!root || !json_object_object_get_ex(root, "version", &v) ||
	    json_object_get_int(v) != ARC_STATE_VERSION ||
	    !json_object_object_get_ex(root, "c_max_bytes", &c_max) ||
	    !json_object_is_type(c_max, json_type_int) ||
	    json_object_get_int64(c_max) <= 0 ||
	    !json_object_object_get_ex(root, "zfs_arc_max_bytes", &admin) ||
	    !json_object_is_type(admin, json_type_int) ||
	    json_object_get_int64(admin) < 0) {
		/* The values are lost: the next save takes c_max as it is
		 * then, which may be an old cap of ours. Say so. */
		arc_problem(bd,
			    "%s: %s; the ZFS ARC's own c_max is taken from "
			    "arcstats again",
			    path,
			    rc ? strerror(-rc) : "not a balloond ARC state");
		json_object_put(root);
		return rc ? rc : -EINVAL;
	}
	bd->arc_c_max_native = (uint64_t)json_object_get_int64(c_max);
	bd->arc_admin_max_bytes = (uint64_t)json_object_get_int64(admin);
	bd->arc_saved = BD_ARC_SAVED;
	json_object_put(root);
	bd_info("%s: the ZFS ARC's own c_max is %llu bytes, zfs_arc_max was "
		"%llu before balloond",
		path, (unsigned long long)bd->arc_c_max_native,
		(unsigned long long)bd->arc_admin_max_bytes);
	return 0;
}

struct arc_save {
	uv_work_t work;
	struct bd *bd;
	char param[PARAM_PATH_MAX];
	char path[STATE_PATH_MAX];
	uint64_t c_max_bytes;
	uint64_t admin_bytes; /* read on the thread pool */
	int rc;
	const char *what; /* the file that failed */
};

/* The thread pool: read the admin's zfs_arc_max, write arc.json. */
static void save_work_cb(uv_work_t *w)
{
	struct arc_save *s = w->data;
	char *text = NULL, num[32], json[200];
	size_t len;
	s->what = s->param;
	/* sysfs says every attribute is a page long. */
	s->rc = bd_read_file(s->param, 4096, &text, &len);
	if (s->rc == 0) {
		size_t n = strcspn(text, "\n");
		s->rc = n < sizeof(num) ? 0 : -EINVAL;
		if (s->rc == 0) {
			memcpy(num, text, n);
			num[n] = '\0';
			s->rc =
			    bd_parse_uint(num, 0, UINT64_MAX, &s->admin_bytes);
		}
	}
	free(text);
	if (s->rc)
		return;
	s->what = s->path;
	int n = snprintf(json, sizeof(json),
			 "{\"version\": %d, \"c_max_bytes\": %llu, "
			 "\"zfs_arc_max_bytes\": %llu}\n",
			 ARC_STATE_VERSION, (unsigned long long)s->c_max_bytes,
			 (unsigned long long)s->admin_bytes);
	s->rc = bd_replace_file(s->path, json, (size_t)n, 0600);
}

static void save_done_cb(uv_work_t *w, int status)
{
	struct arc_save *s = w->data;
	struct bd *bd = s->bd;
	int rc = status ? status : s->rc;
	bd->arc_saved = rc ? BD_ARC_UNSAVED : BD_ARC_SAVED;
	if (rc) {
		arc_problem(bd,
			    "cannot save the ZFS ARC's own c_max (%s: %s); "
			    "zfs_arc_max is left alone",
			    s->what, strerror(-rc));
	} else {
		bd->arc_c_max_native = s->c_max_bytes;
		bd->arc_admin_max_bytes = s->admin_bytes;
		bd->arc_error[0] = '\0';
		bd_info("saved the ZFS ARC's own c_max (%llu bytes) and "
			"zfs_arc_max (%llu) in %s",
			(unsigned long long)s->c_max_bytes,
			(unsigned long long)s->admin_bytes, s->path);
		bd_replan(bd);
	}
	free(s);
}

/* Before the first write: save c_max and zfs_arc_max as they are. */
static void arc_save(struct bd *bd)
{
	struct arc_save *s = calloc(1, sizeof(*s));
	if (!s) {
		arc_problem(bd, "cannot save the ZFS ARC's own c_max: %s",
			    strerror(ENOMEM));
		return;
	}
	s->bd = bd;
	s->work.data = s;
	s->c_max_bytes = bd->host.arc_c_max_bytes;
	int rc = param_path(bd, s->param, sizeof(s->param));
	if (rc == 0)
		rc = state_path(bd, s->path, sizeof(s->path));
	if (rc == 0)
		rc = uv_queue_work(bd->loop, &s->work, save_work_cb,
				   save_done_cb);
	if (rc) {
		arc_problem(bd, "cannot save the ZFS ARC's own c_max: %s",
			    strerror(-rc));
		free(s);
		return;
	}
	bd->arc_saved = BD_ARC_SAVING;
}

/* arc_manage is off: the admin's zfs_arc_max goes back, then the file. */
static void arc_release(struct bd *bd)
{
	char param[PARAM_PATH_MAX];
	char path[STATE_PATH_MAX];
	int rc = param_path(bd, param, sizeof(param));
	if (rc == 0)
		rc = state_path(bd, path, sizeof(path));
	/* OpenZFS ignores a 0 written at run time, and any value out of its
	 * range: its arc_tuning_update changes c_max only for a zfs_arc_max
	 * that is not 0, at least MIN_ARC_MAX, below all of memory and above
	 * c_min. Such an admin's value alone would leave our last cap in
	 * c_max until a reboot, and the next save, with arc.json gone, would
	 * take that cap for the ARC's own c_max. So the native c_max (a
	 * value OpenZFS took) goes in first, then the admin's, which
	 * zfs_arc_max then reads as before; a value OpenZFS takes replaces
	 * the native one in c_max, as it did before balloond. */
	if (rc == 0)
		rc = write_value(param, bd->arc_c_max_native);
	if (rc == 0)
		rc = write_value(param, bd->arc_admin_max_bytes);
	if (rc) {
		arc_problem(bd,
			    "arc_manage is off, but zfs_arc_max cannot be set "
			    "back to %llu (%s: %s)",
			    (unsigned long long)bd->arc_admin_max_bytes, param,
			    strerror(-rc));
		return;
	}
	bd_notice("arc_manage is off: zfs_arc_max set back to %llu, its value "
		  "before balloond",
		  (unsigned long long)bd->arc_admin_max_bytes);
	/* Should the removal not reach the disk, the file still holds the
	 * right values. */
	if (unlink(path) < 0 && errno != ENOENT)
		bd_warn("%s: %s", path, strerror(errno));
	bd->arc_saved = BD_ARC_UNSAVED;
	bd->arc_c_max_native = 0;
	bd->arc_admin_max_bytes = 0;
	bd->host.arc_max_set_bytes = 0;
	bd->arc_error[0] = '\0';
}

void bd_arc_prepare(struct bd *bd)
{
	/* A dry run writes nothing, not even this. */
	if (bd->conf.dry_run || bd->arc_saved == BD_ARC_SAVING)
		return;
	if (!bd->conf.arc_manage) {
		if (bd->arc_saved == BD_ARC_SAVED)
			arc_release(bd);
		return;
	}
	if (bd->arc_saved == BD_ARC_UNSAVED && !bd->arc_disabled &&
	    bd->host.known && bd->host.arc_present && bd->host.arc_c_max_bytes)
		arc_save(bd);
}
