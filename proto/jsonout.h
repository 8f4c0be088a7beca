/*
 * jsonout.h: json-c trees as compact text (JSON_C_TO_STRING_PLAIN |
 * JSON_C_TO_STRING_NOSLASHESCAPE), the bytes json-c prints, at a fraction
 * of its cost: the control socket's replies and the journal's lines.
 */
#ifndef BD_JSONOUT_H
#define BD_JSONOUT_H

#include <json-c/json.h>
#include <stddef.h>

/* The text of o as json_object_to_json_string_ext(o, PLAIN |
 * NOSLASHESCAPE) gives it, NUL-terminated, in a malloc()ed buffer (free
 * it); its length in *len. NULL when out of memory. */
char *bd_json_plain(json_object *o, size_t *len);

#endif
