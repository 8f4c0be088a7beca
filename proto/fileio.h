/*
 * fileio.h: the few file operations the daemon's state and the spool
 * share: read a whole small file, write everything, and replace a file
 * atomically and durably.
 */
#ifndef BALLOOND_PROTO_FILEIO_H
#define BALLOOND_PROTO_FILEIO_H

#include <stddef.h>

/* Room for a path under a configured directory (state_dir holds up to
 * 4095 characters) and a file name: the one size of such buffers. */
#define BD_FILE_PATH_MAX 4200

/* Read a whole file of at most max bytes, NUL-terminated (*out is
 * malloc'd). Does not follow a symlink at the last component, and reads
 * regular files only (-EINVAL for a FIFO, a device, ...), without ever
 * blocking on open. 0, -errno, or -EFBIG. */
int bd_read_file(const char *path, size_t max, char **out, size_t *len);

/* write(2) until everything is written. 0 or -errno. */
int bd_write_all(int fd, const void *buf, size_t len);

/* Replace path with data: PATH.tmp is written (mode), fsynced and renamed
 * over path, and the directory is fsynced, so that after a crash path
 * holds either the old or the new contents, and the new ones once this
 * returned 0. -errno on failure (the temporary file is removed). */
int bd_replace_file(const char *path, const void *data, size_t len,
		    unsigned mode);

#endif
