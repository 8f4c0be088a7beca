/* fileio.c: whole-file reads and durable replacement. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bd_read_file(const char *path, size_t max, char **out, size_t *len)
{
	/* Regular files only, opened without blocking: a FIFO or a device
	 * left in a spool by a less trusted writer must not stall the
	 * daemon's loop, nor a symbolic link make it read another file. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = fstat(fd, &st) < 0	    ? -errno
		 : !S_ISREG(st.st_mode)	    ? -EINVAL
		 : (size_t)st.st_size > max ? -EFBIG
					    : 0;
	if (rc) {
		close(fd);
		return rc;
	}
	/* The size is a hint (the file may grow meanwhile): read to EOF, up
	 * to max. */
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *buf = malloc(cap + 1);
	rc = buf ? 0 : -ENOMEM;
	while (rc == 0) {
		if (n == cap) {
			if (cap > max) {
				rc = -EFBIG;
				break;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *b = realloc(buf, cap + 1);
			if (!b) {
				rc = -ENOMEM;
				break;
			}
			buf = b;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = -errno;
		else if (r == 0)
			break;
		else
			n += (size_t)r;
	}
	close(fd);
	if (rc == 0 && n > max)
		rc = -EFBIG;
	if (rc) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int bd_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int bd_replace_file(const char *path, const void *data, size_t len,
		    unsigned mode)
{
	char tmp[4400], dir[4400];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int rc = bd_write_all(fd, data, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	/* The rename itself must reach the disk. A writer that may not read
	 * the directory (the role spool's group, mode 01730) cannot open it
	 * to sync it: the rename is then as durable as the file system makes
	 * it on its own. */
	snprintf(dir, sizeof(dir), "%s", path);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if ((dfd < 0 && errno != EACCES) || (dfd >= 0 && fsync(dfd) < 0))
		rc = -errno;
	if (dfd >= 0)
		close(dfd);
	return rc;
}
