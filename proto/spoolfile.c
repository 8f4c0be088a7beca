/* spoolfile.c: a spool file's name and its atomic write; no json-c, so
 * that Patroni's callback, which writes its one request line itself,
 * links none (spool.h). */
#include "spool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"

int bd_spool_write_text(const char *dir, const char *text, size_t len,
			char *err, size_t err_len)
{
	static unsigned counter;
	char path[4400];
	struct timespec ts;

	if (strlen(dir) > BD_FILE_PATH_MAX) {
		snprintf(err, err_len, "spool directory path too long");
		return -ENAMETOOLONG;
	}
	if (len > BD_SPOOL_MAX_BYTES) {
		snprintf(err, err_len, "request too large to spool");
		return -EMSGSIZE;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned long long ns = (unsigned long long)ts.tv_sec * 1000000000ULL +
				(unsigned)ts.tv_nsec;
	snprintf(path, sizeof(path), "%s/%020llu-%d-%u.json", dir, ns,
		 (int)getpid(), counter++);
	/* Only the daemon's user reads the spool: a request is a request.
	 * The ".tmp" name is invisible to the daemon until the rename. */
	int rc = bd_replace_file(path, text, len, 0600);
	if (rc)
		snprintf(err, err_len, "cannot write %s: %s", path,
			 strerror(-rc));
	return rc;
}

int bd_spool_name_ok(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}
