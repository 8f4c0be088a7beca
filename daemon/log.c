/* log.c: where balloond's messages go. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#ifdef HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

static int max_level = LOG_INFO;
static bool use_stderr = true;

static const char *const level_names[] = {
    "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

int bd_log_parse_level(const char *s, int *out)
{
	for (int i = 0; i < 8; i++) {
		if (strcmp(s, level_names[i]) == 0 ||
		    (s[0] == '0' + i && s[1] == '\0')) {
			*out = i;
			return 0;
		}
	}
	if (strcmp(s, "err") == 0 || strcmp(s, "warn") == 0) {
		*out = s[0] == 'e' ? LOG_ERR : LOG_WARNING;
		return 0;
	}
	return -EINVAL;
}

const char *bd_log_level_name(int level)
{
	return level >= 0 && level < 8 ? level_names[level] : "?";
}

void bd_log_setup(int level, bool to_stderr)
{
	max_level = level;
	use_stderr = to_stderr;
#ifndef HAVE_SYSTEMD
	if (!to_stderr)
		openlog("balloond", LOG_PID, LOG_DAEMON);
#endif
}

bool bd_log_enabled(int priority)
{
	return priority <= max_level;
}

void bd_log(int priority, const char *fmt, ...)
{
	if (priority > max_level)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (use_stderr) {
		struct timespec ts;
		struct tm tm;
		char when[32];
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld balloond[%s]: %s\n", when,
			ts.tv_nsec / 1000000, bd_log_level_name(priority), msg);
		return;
	}
#ifdef HAVE_SYSTEMD
	sd_journal_print(priority, "%s", msg);
#else
	syslog(priority, "%s", msg);
#endif
}
