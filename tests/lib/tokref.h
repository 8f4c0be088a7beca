/*
 * tokref.h: the reference the fast JSON paths are held against, json-c's
 * own tokener (tests/test-proto.c and tests/fuzz/fuzz-json.c).
 */
#ifndef BALLOOND_TESTS_TOKREF_H
#define BALLOOND_TESTS_TOKREF_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* json-c's reading of the whole text: one value with nothing but white
 * space after it, else NULL (what the daemon took from the tokener before
 * it read lines itself). */
static inline json_object *tokref_value(const char *buf, size_t len)
{
	json_tokener *tok = json_tokener_new();
	if (!tok)
		abort();
	json_object *root = json_tokener_parse_ex(tok, buf, (int)len);
	bool ok = root && json_tokener_get_error(tok) == json_tokener_success;
	for (size_t i = ok ? json_tokener_get_parse_end(tok) : len; i < len;
	     i++)
		if (!strchr(" \t\r\n", buf[i]))
			ok = false;
	json_tokener_free(tok);
	if (!ok) {
		json_object_put(root);
		return NULL;
	}
	return root;
}

#endif
