/* specout.c: a spec as JSON text without json-c, for the hooks, which
 * link none (proto/quickcall.h). Between braces, the same text as
 * bd_spec_to_json printed plain: the same keys in the same order, the
 * same defaults left out (tests/test-proto.c holds the two together). */
#include "proto/spec.h"

#include <stdio.h>

#include "proto/jsonout.h"

/* ,"key":N as json-c prints an int64. */
static void number(struct bd_json_out *o, const char *key, uint64_t v)
{
	char n[64];
	snprintf(n, sizeof(n), ",\"%s\":%lld", key, (long long)(int64_t)v);
	bd_json_raw(o, n);
}

void bd_spec_write_members(struct bd_json_out *o, const struct bd_guest_spec *s)
{
	bd_json_raw(o, "\"name\":");
	bd_json_string(o, s->name);
	bd_json_raw(o, ",\"qmp\":");
	bd_json_string(o, s->qmp_path);
	if (s->max_bytes)
		number(o, "max_bytes", s->max_bytes);
	if (s->min_bytes)
		number(o, "min_bytes", s->min_bytes);
	if (s->replica_target_bytes)
		number(o, "replica_target_bytes", s->replica_target_bytes);
	if (s->cluster[0]) {
		bd_json_raw(o, ",\"cluster\":");
		bd_json_string(o, s->cluster);
		bd_json_raw(o, ",\"member\":");
		bd_json_string(o, s->member);
	}
	if (s->priority) {
		char n[32];
		snprintf(n, sizeof(n), ",\"priority\":%d", s->priority);
		bd_json_raw(o, n);
	}
	if (s->pin_bytes)
		number(o, "pin_bytes", s->pin_bytes);
}
