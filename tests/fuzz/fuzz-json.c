/* fuzz-json.c: balloond's own fast paths around json-c, held against
 * json-c itself on whatever the bytes make.
 * - bd_line_object (proto/jsontok.h) reads a request or QMP line
 *   directly: whatever it reads, json-c's tokener must read as the same
 *   tree (same types, same printed text).
 * - bd_json_plain and bd_json_pretty (proto/jsonprint.c) print a tree:
 *   their bytes must be json-c's for every tree json-c parses.
 * - bd_line_empty_return (proto/jsontok.h) knows a command's empty QMP
 *   answer by its text: json-c must read that text as an object of two
 *   members, "return" an empty object and "id" the same integer. */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jsonprint.h"
#include "proto/jsontok.h"
#include "tests/lib/tokref.h"

#define PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define PRETTY                                                                 \
	(JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |                   \
	 JSON_C_TO_STRING_NOSLASHESCAPE)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Both printers against json-c's for the same tree. */
static void same_print(json_object *o)
{
	size_t len;
	char *mine = bd_json_plain(o, &len);
	if (!mine)
		return; /* out of memory: nothing to compare */
	const char *ref = json_object_to_json_string_ext(o, PLAIN);
	if (strlen(ref) != len || strcmp(mine, ref) != 0)
		abort();
	free(mine);
	mine = bd_json_pretty(o, &len);
	if (!mine)
		return;
	ref = json_object_to_json_string_ext(o, PRETTY);
	if (strlen(ref) != len || strcmp(mine, ref) != 0)
		abort();
	free(mine);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	const char *buf = (const char *)data;
	json_object *ref = tokref_value(buf, size);
	json_object *fast = bd_line_object(buf, size);
	if (fast) {
		/* Read directly: json-c reads the same object. */
		if (!ref || !json_object_is_type(ref, json_type_object) ||
		    !json_object_equal(fast, ref))
			abort();
		char *a = strdup(json_object_to_json_string_ext(fast, PLAIN));
		if (!a)
			abort();
		if (strcmp(a, json_object_to_json_string_ext(ref, PLAIN)) != 0)
			abort();
		free(a);
		same_print(fast);
		json_object_put(fast);
	}
	int64_t id;
	if (bd_line_empty_return(buf, size, &id)) {
		json_object *r, *i;
		if (!ref || !json_object_is_type(ref, json_type_object) ||
		    json_object_object_length(ref) != 2 ||
		    !json_object_object_get_ex(ref, "return", &r) ||
		    !json_object_is_type(r, json_type_object) ||
		    json_object_object_length(r) != 0 ||
		    !json_object_object_get_ex(ref, "id", &i) ||
		    !json_object_is_type(i, json_type_int) ||
		    json_object_get_int64(i) != id)
			abort();
	}
	if (ref)
		same_print(ref);
	json_object_put(ref);
	return 0;
}
