/* log.h: logging with syslog priorities: stderr in the foreground, the
 * journal otherwise. */
#ifndef BALLOOND_LOG_H
#define BALLOOND_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Parse "error", "warning", "notice", "info", "debug" (or 0-7). */
int bd_log_parse_level(const char *s, int *out);
const char *bd_log_level_name(int level);
void bd_log_setup(int max_level, bool to_stderr);

/* Whether a message of this priority would be logged (to skip building
 * expensive arguments). */
bool bd_log_enabled(int priority);

void bd_log(int priority, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define bd_err(...)    bd_log(LOG_ERR, __VA_ARGS__)
#define bd_warn(...)   bd_log(LOG_WARNING, __VA_ARGS__)
#define bd_notice(...) bd_log(LOG_NOTICE, __VA_ARGS__)
#define bd_info(...)   bd_log(LOG_INFO, __VA_ARGS__)
#define bd_debug(...)  bd_log(LOG_DEBUG, __VA_ARGS__)

#endif
