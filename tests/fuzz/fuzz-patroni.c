/* fuzz-patroni.c: the Patroni REST answers' parser (daemon/patroniparse.c)
 * on arbitrary bytes, as a /cluster and as a /patroni answer, then the
 * one applied to the other. The input is copied to a buffer of exactly
 * its size, so that reading one byte past it is caught. Checks what the
 * watcher relies on: an error describes nothing, a success has named,
 * distinct members and at most one leader, in range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/patroniparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pp_cluster cl;
static struct pp_patroni pa;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	const char *why = NULL;
	int rc = pp_parse_cluster(text, size, &cl, &why);
	if (rc) {
		if (!why || cl.n_members || cl.leader != -1)
			abort();
	} else {
		if (cl.n_members > PP_MAX_MEMBERS ||
		    cl.leader >= (int)cl.n_members || cl.leader < -1)
			abort();
		int leaders = 0;
		for (size_t i = 0; i < cl.n_members; i++) {
			const struct pp_member *m = &cl.members[i];
			if (!m->name[0] || pp_member_find(&cl, m->name) != m)
				abort();
			if (m->leader != ((int)i == cl.leader))
				abort();
			if (m->leader && m->streaming)
				abort();
			leaders += m->leader;
		}
		if (leaders > 1)
			abort();
	}
	why = NULL;
	int prc = pp_parse_patroni(text, size, &pa, &why);
	if (prc) {
		if (!why || pa.n_streaming || pa.leader)
			abort();
	} else if (pa.n_streaming > PP_MAX_SENDERS) {
		abort();
	}
	if (!rc && !prc) {
		size_t before = cl.n_members;
		if (pp_apply_replication(&cl, &pa) > before ||
		    (cl.leader >= 0 && cl.members[cl.leader].streaming))
			abort();
	}
	free(text);
	return 0;
}
