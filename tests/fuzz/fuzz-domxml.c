/* fuzz-domxml.c: the libvirt domain XML reader (hooks/domxml.c). */
#include <stdint.h>
#include <stdlib.h>

#include <libxml/parser.h>

#include "hooks/domxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bd_domxml d;
	char err[256];
	(void)bd_domxml_parse((const char *)data, size, &d, err, sizeof(err));
	/* libxml2 keeps the last error per thread: clear it, no leak. */
	xmlResetLastError();
	return 0;
}
