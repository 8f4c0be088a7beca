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
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define ARC_MAX_PARAM "module/zfs/parameters/zfs_arc_max"

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

int bd_arc_write(struct bd *bd, uint64_t bytes)
{
	char path[sizeof(bd->conf.sys_root) + sizeof(ARC_MAX_PARAM) + 1];
	char msg[sizeof(bd->arc_error)];

	/* 0 means "no limit" to ZFS (back to its default of most of RAM):
	 * the opposite of a cap, never what a plan means. */
	if (!bytes)
		return -EINVAL;
	int n = snprintf(path, sizeof(path), "%s/%s", bd->conf.sys_root,
			 ARC_MAX_PARAM);
	int err = n < 0 || (size_t)n >= sizeof(path) ? -ENAMETOOLONG
						     : write_value(path, bytes);
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
