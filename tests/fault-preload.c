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
 *   BD_FAULT_SYNC_FAIL=FILE   fsync and fdatasync fail with EIO while FILE
 *                             exists (logged as "fsync failed" /
 *                             "fdatasync failed"), as on a disk whose
 *                             writeback failed
 *
 *   BD_FAULT_CLOCK_FILE=FILE  the wall clock (CLOCK_REALTIME through
 *                             clock_gettime, gettimeofday and time) runs
 *                             ahead by the number of seconds FILE holds,
 *                             read at each call (none, or not a number:
 *                             no shift): a test moves a daemon, and a
 *                             fake guest started the same way, days
 *                             ahead while the monotonic clock runs on
 *
 * With BD_FAULT_LOG set, each successful write to a file named zfs_arc_max
 * is logged as "zfs_arc_max VALUE": a test's model of the kernel sees each
 * value balloond wrote, not only the last one; and with
 *
 *   BD_FAULT_FOPEN=NAME       each fopen of a file named NAME is logged as
 *                             "fopen NAME" (how often a library reads it:
 *                             OpenSSL reads a CA bundle with fopen)
 *   BD_FAULT_DLOPEN=PREFIX    dlopen of a library whose file name starts
 *                             with PREFIX fails, by path and by soname
 *                             alike, as when it is not installed (dlerror
 *                             says so)
 *
 * Under AddressSanitizer the daemon needs verify_asan_link_order=0 in
 * ASAN_OPTIONS, since this library comes before ASan's runtime.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
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

static bool exists(const char *env)
{
	const char *path = getenv(env);
	struct stat st;
	return path && stat(path, &st) == 0;
}

/* 0, or -1 with errno EIO: the call is not to be made. */
static int sync_call(const char *name)
{
	char what[32];
	if (exists("BD_FAULT_SYNC_HOLD")) {
		snprintf(what, sizeof(what), "%s held", name);
		note(what);
		while (exists("BD_FAULT_SYNC_HOLD"))
			sleep_ms(5);
	}
	if (exists("BD_FAULT_SYNC_FAIL")) {
		snprintf(what, sizeof(what), "%s failed", name);
		note(what);
		errno = EIO;
		return -1;
	}
	return 0;
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
#define WRAP_SYNC(name)                                                        \
	int name(int fd)                                                       \
	{                                                                      \
		if (sync_call(#name) < 0)                                      \
			return -1;                                             \
		return ((int (*)(int))next(#name))(fd);                        \
	}
WRAP_SYNC(fsync)
WRAP_SYNC(fdatasync)

/* A write to zfs_arc_max: the value goes to the log once it is written. */
ssize_t write(int fd, const void *buf, size_t n)
{
	ssize_t w =
	    ((ssize_t(*)(int, const void *, size_t))next("write"))(fd, buf, n);
	if (w <= 0 || !getenv("BD_FAULT_LOG"))
		return w;
	int saved = errno;
	char link[32], target[4096];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t len = readlink(link, target, sizeof(target) - 1);
	static const char name[] = "/zfs_arc_max";
	if (len >= (ssize_t)sizeof(name) - 1 &&
	    memcmp(target + len - (sizeof(name) - 1), name, sizeof(name) - 1) ==
		0) {
		char line[64];
		const char *nl = memchr(buf, '\n', (size_t)w);
		size_t v = nl ? (size_t)(nl - (const char *)buf) : (size_t)w;
		if (v > 40)
			v = 40;
		memcpy(line, "zfs_arc_max ", 12);
		memcpy(line + 12, buf, v);
		line[12 + v] = '\0';
		note(line);
	}
	errno = saved;
	return w;
}

/* fopen (and its 64-bit-offset name) of the file BD_FAULT_FOPEN names. */
static void fopen_call(const char *path)
{
	const char *watch = getenv("BD_FAULT_FOPEN");
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (watch && strcmp(base, watch) == 0) {
		char line[64];
		snprintf(line, sizeof(line), "fopen %s", watch);
		note(line);
	}
}
WRAP(fopen_call(path), FILE *, fopen, (const char *path, const char *mode),
     (path, mode))
WRAP(fopen_call(path), FILE *, fopen64, (const char *path, const char *mode),
     (path, mode))

/* dlopen of the library BD_FAULT_DLOPEN names: refused, with a dlerror
 * message as the dynamic linker's for a missing file. */
static __thread char dl_refused[256];

void *dlopen(const char *file, int flags)
{
	const char *prefix = getenv("BD_FAULT_DLOPEN");
	const char *base = file ? strrchr(file, '/') : NULL;
	base = base ? base + 1 : file;
	if (prefix && *prefix && base &&
	    strncmp(base, prefix, strlen(prefix)) == 0) {
		snprintf(dl_refused, sizeof(dl_refused),
			 "%s: cannot open shared object file: No such file or "
			 "directory",
			 file);
		note("dlopen refused");
		return NULL;
	}
	return ((void *(*)(const char *, int))next("dlopen"))(file, flags);
}

char *dlerror(void)
{
	if (dl_refused[0]) {
		static __thread char msg[256];
		memcpy(msg, dl_refused, sizeof(msg));
		dl_refused[0] = '\0';
		return msg;
	}
	return ((char *(*)(void))next("dlerror"))();
}

/* ---- the wall clock ----
 * Raw system calls only: these run before the sanitizer's runtime is set
 * up, and must not call into its interceptors (or into themselves). */

static long clock_shift_s(void)
{
	const char *path = getenv("BD_FAULT_CLOCK_FILE");
	if (!path)
		return 0;
	int saved = errno;
	long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	char buf[32];
	long n = fd >= 0 ? syscall(SYS_read, fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		syscall(SYS_close, fd);
	errno = saved;
	long v = 0;
	bool neg = n > 0 && buf[0] == '-';
	for (long i = neg; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (buf[i] - '0');
	return neg ? -v : v;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	long rc = syscall(SYS_clock_gettime, id, ts);
	if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += clock_shift_s();
	return (int)rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	(void)tz;
	struct timespec ts;
	int rc = clock_gettime(CLOCK_REALTIME, &ts);
	if (rc == 0) {
		tv->tv_sec = ts.tv_sec;
		tv->tv_usec = ts.tv_nsec / 1000;
	}
	return rc;
}

time_t time(time_t *t)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
