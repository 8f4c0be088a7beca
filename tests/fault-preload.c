/*
 * fault-preload.so: an LD_PRELOAD library for the daemon's shell tests. It
 * wraps a few C library calls so that a test can see whether balloond
 * makes them and can make them slow, with no test code in balloond.
 *
 *   BD_FAULT_LOG=FILE         every wrapped call appends its name and a
 *                             newline to FILE ("getgrnam", "fdatasync
 *                             held", ...)
 *   BD_FAULT_NSS_DELAY_MS=MS  the name-service lookups (getgrnam, getgrgid,
 *                             getpwnam, getpwuid, their _r forms,
 *                             getgrouplist) sleep MS first, as with a slow
 *                             LDAP or sssd
 *   BD_FAULT_SYNC_HOLD=FILE   fsync and fdatasync wait while FILE exists
 *                             (logged as "fsync held" / "fdatasync held"
 *                             when they start waiting), as on a stalled
 *                             disk
 *
 * Under AddressSanitizer the daemon needs verify_asan_link_order=0 in
 * ASAN_OPTIONS, since this library comes before ASan's runtime.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void note(const char *what)
{
	const char *path = getenv("BD_FAULT_LOG");
	if (!path)
		return;
	int saved = errno;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		/* One write per line: lines from several threads never mix. */
		char line[64];
		size_t n = strlen(what);
		if (n > sizeof(line) - 1)
			n = sizeof(line) - 1;
		memcpy(line, what, n);
		line[n] = '\n';
		if (write(fd, line, n + 1) < 0) {
			/* Nothing to do: the test then sees no line. */
		}
		close(fd);
	}
	errno = saved;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void nss_call(const char *name)
{
	note(name);
	const char *ms = getenv("BD_FAULT_NSS_DELAY_MS");
	if (ms)
		sleep_ms(atol(ms));
}

static void sync_call(const char *held)
{
	const char *path = getenv("BD_FAULT_SYNC_HOLD");
	struct stat st;
	if (!path || stat(path, &st) < 0)
		return;
	note(held);
	while (stat(path, &st) == 0)
		sleep_ms(5);
}

/* The next definition of a symbol: the C library's, or a sanitizer's
 * interceptor in front of it. */
static void *next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);
	if (!f)
		abort();
	return f;
}

/* Each wrapper does its part, then calls the next definition with the
 * same arguments. */
#define WRAP(before, ret, name, params, args)                                  \
	ret name params                                                        \
	{                                                                      \
		before;                                                        \
		return ((ret(*) params)next(#name))args;                       \
	}

WRAP(nss_call("getgrnam"), struct group *, getgrnam, (const char *name), (name))
WRAP(nss_call("getgrnam_r"), int, getgrnam_r,
     (const char *name, struct group *grp, char *buf, size_t len,
      struct group **result),
     (name, grp, buf, len, result))
WRAP(nss_call("getgrgid"), struct group *, getgrgid, (gid_t gid), (gid))
WRAP(nss_call("getgrgid_r"), int, getgrgid_r,
     (gid_t gid, struct group *grp, char *buf, size_t len,
      struct group **result),
     (gid, grp, buf, len, result))
WRAP(nss_call("getpwnam"), struct passwd *, getpwnam, (const char *name),
     (name))
WRAP(nss_call("getpwnam_r"), int, getpwnam_r,
     (const char *name, struct passwd *pw, char *buf, size_t len,
      struct passwd **result),
     (name, pw, buf, len, result))
WRAP(nss_call("getpwuid"), struct passwd *, getpwuid, (uid_t uid), (uid))
WRAP(nss_call("getpwuid_r"), int, getpwuid_r,
     (uid_t uid, struct passwd *pw, char *buf, size_t len,
      struct passwd **result),
     (uid, pw, buf, len, result))
WRAP(nss_call("getgrouplist"), int, getgrouplist,
     (const char *user, gid_t group, gid_t *groups, int *ngroups),
     (user, group, groups, ngroups))
WRAP(sync_call("fsync held"), int, fsync, (int fd), (fd))
WRAP(sync_call("fdatasync held"), int, fdatasync, (int fd), (fd))
