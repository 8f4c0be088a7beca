/* fuzz-host.c: the host-memory source's parsers (meminfo, memory PSI, the
 * ZFS arcstats kstat) on arbitrary bytes, each over the same input. The
 * input is copied to a buffer of exactly its size, so that reading one
 * byte past it is caught (the parsers take a length, not a NUL). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	const char *why = NULL;

	uint64_t total, avail;
	if (bd_host_parse_meminfo(text, size, &total, &avail, &why) == 0) {
		if (!total || avail > total)
			abort();
	} else if (!why || total || avail) {
		abort();
	}

	uint32_t some, full;
	why = NULL;
	if (bd_host_parse_psi(text, size, &some, &full, &why) == 0) {
		if (some > 10000 || full > 10000)
			abort();
	} else if (!why || some || full) {
		abort();
	}

	uint64_t arc_size, c_min, c_max;
	why = NULL;
	if (bd_host_parse_arcstats(text, size, &arc_size, &c_min, &c_max,
				   &why) != 0 &&
	    (!why || arc_size || c_min || c_max))
		abort();
	free(text);
	return 0;
}
