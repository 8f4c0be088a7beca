/* fuzz-peaks.c: a guest's peaks as the state file holds them
 * (daemon/peaks.c's parser), on whatever JSON the bytes make. What it
 * accepts must print and parse back to the same history, and merge (a
 * retired history given back) as the same. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/peaks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return 0;
	json_object *o = json_tokener_parse_ex(tok, (const char *)data,
					       (int)(size & 0xffffff));
	json_tokener_free(tok);
	struct bd_peaks p, q;
	if (bd_peaks_from_json(o, &p) == 0) {
		json_object *a = bd_peaks_to_json(&p, p.day);
		if (bd_peaks_from_json(a, &q) != 0 || q.day != p.day ||
		    q.known != p.known || q.starved != p.starved ||
		    memcmp(q.used_bytes, p.used_bytes, sizeof(p.used_bytes)))
			abort();
		struct bd_peaks_summary s = bd_peaks_summary(&p, p.day);
		if (s.days > BD_PEAKS_DAYS || s.starved_days > BD_PEAKS_DAYS)
			abort();
		/* A retired history given back: into an empty one it is
		 * the same, into itself it changes nothing. */
		struct bd_peaks m = {0};
		bd_peaks_merge(&m, &p);
		if ((p.known || p.starved) &&
		    (m.day != p.day || m.known != p.known ||
		     m.starved != p.starved ||
		     memcmp(m.used_bytes, p.used_bytes, sizeof(p.used_bytes))))
			abort();
		m.dirty = false;
		bd_peaks_merge(&m, &p);
		if (m.dirty)
			abort();
		json_object_put(a);
	} else if (p.known || p.starved || p.day) {
		abort();
	}
	json_object_put(o);
	return 0;
}
