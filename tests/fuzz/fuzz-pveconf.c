/* fuzz-pveconf.c: the Proxmox VE VM config reader (hooks/pveconf.c). A
 * config that parses gives a spec within its own bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/pveconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bd_pveconf c;
	char err[256];
	if (bd_pveconf_parse((const char *)data, size, &c, err, sizeof(err)))
		return 0;
	if (c.has_qmp && (!c.spec.qmp_path[0] ||
			  strlen(c.spec.qmp_path) >= sizeof(c.spec.qmp_path)))
		abort();
	if (c.spec.max_bytes &&
	    (c.spec.min_bytes > c.spec.max_bytes ||
	     c.spec.replica_target_bytes > c.spec.max_bytes))
		abort();
	if (!c.spec.cluster[0] != !c.spec.member[0])
		abort();
	(void)bd_pveconf_autoballoon(&c);
	return 0;
}
