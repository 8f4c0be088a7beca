/* timescale.h: the factor by which the C tests' deadlines and alarms
 * grow where the code runs slower, by the same rule as tests/lib/tap.sh's
 * TIME_SCALE: BD_TIME_SCALE if set, else 10 under valgrind (VALGRIND=1,
 * which `make check VALGRIND=1` exports), 3 under ASan, else 1. A
 * deadline catches a hang: it only ever grows, and a test that checks
 * that nothing happens for a while (run_for) keeps its own time. */
#ifndef BD_TESTS_TIMESCALE_H
#define BD_TESTS_TIMESCALE_H

#include <stdlib.h>
#include <string.h>

static inline unsigned test_time_scale(void)
{
	const char *s = getenv("BD_TIME_SCALE");
	if (s && *s) {
		long v = strtol(s, NULL, 10);
		if (v >= 1 && v <= 1000)
			return (unsigned)v;
	}
	s = getenv("VALGRIND");
	if (s && strcmp(s, "1") == 0)
		return 10;
#if defined(__SANITIZE_ADDRESS__)
	return 3;
#else
	s = getenv("BD_SANITIZERS");
	return s && *s ? 3 : 1;
#endif
}

#endif
