/* fuzz-domxml-edit.c: the libvirt domain XML editor (hooks/domxml.c,
 * libxml2) and the reader that judges its output (hooks/domxml_read.c,
 * expat): parse (a managed domain never escapes the byte scan that spares
 * the hook expat), then enable and disable, and the edited XML must read
 * back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "hooks/domxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct bd_domxml_opts opts = {
	    .min_bytes = 128 << 20,
	    .max_bytes = 256 << 20,
	    .has_priority = true,
	    .priority = 3,
	    .cluster = "pg",
	    .member = "pg1",
	};
	struct bd_domxml d;
	char err[256], *out = NULL;
	const char *xml = (const char *)data;
	/* What the byte scan rules out (the hook then skips libxml2) is
	 * never a managed domain. */
	if (bd_domxml_parse(xml, size, &d, err, sizeof(err)) == 0 &&
	    d.managed && !bd_domxml_maybe_managed(xml, size))
		abort();
	if (bd_domxml_enable(xml, size, &opts, BD_LIBVIRT_QMP_DIR, &out, err,
			     sizeof(err)) == 0) {
		/* What enable wrote is managed and disables cleanly. */
		if (bd_domxml_parse(out, strlen(out), &d, err, sizeof(err)) ||
		    !d.managed || !d.has_qmp)
			abort();
		char *off = NULL;
		if (bd_domxml_disable(out, strlen(out), BD_LIBVIRT_QMP_DIR,
				      &off, err, sizeof(err)) == 0 &&
		    (bd_domxml_parse(off, strlen(off), &d, err, sizeof(err)) ||
		     d.managed))
			abort();
		free(off);
		free(out);
	}
	if (bd_domxml_disable(xml, size, BD_LIBVIRT_QMP_DIR, &out, err,
			      sizeof(err)) == 0)
		free(out);
	/* libxml2 keeps the last error per thread: clear it, no leak. */
	xmlResetLastError();
	return 0;
}
