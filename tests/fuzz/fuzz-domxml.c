/* fuzz-domxml.c: the libvirt domain XML reader (hooks/domxml_read.c,
 * expat), as the qemu hook runs it: a managed domain never escapes the
 * byte scan that spares the hook expat, and what reads as managed holds
 * what the hook sends the daemon. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/domxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bd_domxml d;
	char err[256];
	const char *xml = (const char *)data;
	err[0] = '\0';
	int rc = bd_domxml_parse(xml, size, &d, err, sizeof(err));
	/* An error always says what is wrong. */
	if (rc && !err[0])
		abort();
	if (rc)
		return 0;
	/* What the byte scan rules out (the hook then reads nothing) is
	 * never a managed domain. */
	if (d.managed && !bd_domxml_maybe_managed(xml, size))
		abort();
	/* Every string is terminated within its field, a name is never
	 * empty, and a managed domain's bounds fit its RAM. */
	if (!memchr(d.spec.name, '\0', sizeof(d.spec.name)) ||
	    !d.spec.name[0] ||
	    !memchr(d.spec.qmp_path, '\0', sizeof(d.spec.qmp_path)) ||
	    !memchr(d.spec.cluster, '\0', sizeof(d.spec.cluster)) ||
	    !memchr(d.spec.member, '\0', sizeof(d.spec.member)) ||
	    d.has_qmp != (d.spec.qmp_path[0] != '\0'))
		abort();
	if (d.managed && (!d.memory_bytes || d.spec.max_bytes > d.memory_bytes))
		abort();
	return 0;
}
