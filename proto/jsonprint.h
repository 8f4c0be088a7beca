/*
 * jsonprint.h: json-c trees as compact text (JSON_C_TO_STRING_PLAIN |
 * JSON_C_TO_STRING_NOSLASHESCAPE), the bytes json-c prints, at a fraction
 * of its cost: the control socket's replies. And a cheaper way to add a
 * member with a literal key.
 */
#ifndef BD_JSONPRINT_H
#define BD_JSONPRINT_H

#include <json-c/json.h>
#include <stddef.h>

/* The text of o as json_object_to_json_string_ext(o, PLAIN |
 * NOSLASHESCAPE) gives it, NUL-terminated, in a malloc()ed buffer (free
 * it); its length in *len. NULL when out of memory. */
char *bd_json_plain(json_object *o, size_t *len);
/* The same for JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
 * JSON_C_TO_STRING_NOSLASHESCAPE: the state file's form. */
char *bd_json_pretty(json_object *o, size_t *len);

/* Add a member to o whose key is a string literal that o does not hold
 * yet: json-c then neither looks the key up nor copies it (and frees no
 * copy), about half the cost of json_object_object_add. For the objects
 * built once per guest in a burst: specs, replies, events. */
static inline void bd_json_add_new(json_object *o, const char *literal_key,
				   json_object *v)
{
	json_object_object_add_ex(o, literal_key, v,
				  JSON_C_OBJECT_ADD_KEY_IS_NEW |
				      JSON_C_OBJECT_ADD_CONSTANT_KEY);
}

#endif
