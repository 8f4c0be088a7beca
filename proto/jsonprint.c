/*
 * jsonprint.c: json-c trees as compact text. json-c's printer appends
 * through a printbuf, formats every integer with snprintf and examines
 * every byte of every string for escapes: a reply to a set request cost
 * about 3,000 instructions, paid 1,000 times in a burst. This one writes
 * the plain cases directly (objects, arrays, strings and keys with
 * nothing to escape, integers, booleans, null) and hands anything else
 * (a double, a string or key with a byte to escape or outside printable
 * ASCII, an integer that may be an unsigned one above INT64_MAX) to
 * json-c, whose text for a value is the same alone as inside its parent
 * in this form. The bytes are json-c's either way.
 */
#include "jsonprint.h"
#include "jsontok.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PLAIN_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define PRETTY_FLAGS                                                           \
	(JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |                   \
	 JSON_C_TO_STRING_NOSLASHESCAPE)

struct out {
	char *buf;
	size_t len, cap;
	int flags; /* PLAIN_FLAGS or PRETTY_FLAGS */
	bool failed;
};

static bool reserve(struct out *o, size_t more)
{
	if (o->failed)
		return false;
	if (o->len + more + 1 <= o->cap)
		return true;
	size_t cap = o->cap ? o->cap : 256;
	while (cap < o->len + more + 1)
		cap *= 2;
	char *b = realloc(o->buf, cap);
	if (!b) {
		o->failed = true;
		return false;
	}
	o->buf = b;
	o->cap = cap;
	return true;
}

static void put(struct out *o, const char *s, size_t n)
{
	if (!reserve(o, n))
		return;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* Nothing in it that json-c would escape ('/' is not, with
 * NOSLASHESCAPE), and printable ASCII only. */
static bool plain_bytes(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return false;
	}
	return true;
}

/* json-c's text for a value that is not a container: the same at any
 * depth. */
static void put_json_c(struct out *o, json_object *v)
{
	size_t n;
	const char *s = json_object_to_json_string_length(v, o->flags, &n);
	if (!s) {
		o->failed = true;
		return;
	}
	put(o, s, n);
}

static void put_int(struct out *o, int64_t v)
{
	char digits[24], *d = bd_decimal(digits + sizeof(digits), v);
	put(o, d, (size_t)(digits + sizeof(digits) - d));
}

/* A string or key between quotes; json-c escapes one with anything to
 * escape. */
static void put_string(struct out *o, const char *s, size_t n)
{
	if (!plain_bytes(s, n)) {
		json_object *tmp = json_object_new_string_len(s, (int)n);
		if (!tmp) {
			o->failed = true;
			return;
		}
		put_json_c(o, tmp);
		json_object_put(tmp);
		return;
	}
	if (!reserve(o, n + 2))
		return;
	o->buf[o->len++] = '"';
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len++] = '"';
}

/* A new line indented for depth level (PRETTY: two spaces a level). */
static void put_line(struct out *o, int level)
{
	if (!(o->flags & JSON_C_TO_STRING_PRETTY) ||
	    !reserve(o, 1 + 2 * (size_t)level))
		return;
	o->buf[o->len++] = '\n';
	memset(o->buf + o->len, ' ', 2 * (size_t)level);
	o->len += 2 * (size_t)level;
}

static void put_value(struct out *o, json_object *v, int level)
{
	bool pretty = o->flags & JSON_C_TO_STRING_PRETTY;
	if (!v) {
		put(o, "null", 4);
		return;
	}
	switch (json_object_get_type(v)) {
	case json_type_null:
		put(o, "null", 4);
		return;
	case json_type_boolean:
		if (json_object_get_boolean(v))
			put(o, "true", 4);
		else
			put(o, "false", 5);
		return;
	case json_type_int: {
		/* An unsigned value above INT64_MAX reads as INT64_MAX. */
		int64_t i = json_object_get_int64(v);
		if (i == INT64_MAX)
			put_json_c(o, v);
		else
			put_int(o, i);
		return;
	}
	case json_type_string:
		put_string(o, json_object_get_string(v),
			   (size_t)json_object_get_string_len(v));
		return;
	case json_type_object: {
		bool first = true;
		put(o, "{", 1);
		json_object_object_foreach(v, key, val)
		{
			if (!first)
				put(o, ",", 1);
			first = false;
			put_line(o, level + 1);
			put_string(o, key, strlen(key));
			if (pretty)
				put(o, ": ", 2);
			else
				put(o, ":", 1);
			put_value(o, val, level + 1);
		}
		/* json-c closes an empty one on a line of its own too. */
		put_line(o, level);
		put(o, "}", 1);
		return;
	}
	case json_type_array: {
		size_t n = json_object_array_length(v);
		put(o, "[", 1);
		for (size_t i = 0; i < n; i++) {
			if (i)
				put(o, ",", 1);
			put_line(o, level + 1);
			put_value(o, json_object_array_get_idx(v, i),
				  level + 1);
		}
		put_line(o, level);
		put(o, "]", 1);
		return;
	}
	default: /* a double */
		put_json_c(o, v);
		return;
	}
}

static char *text(json_object *v, int flags, size_t *len)
{
	struct out o = {.flags = flags};
	put_value(&o, v, 0);
	if (!reserve(&o, 0)) {
		free(o.buf);
		return NULL;
	}
	o.buf[o.len] = '\0';
	*len = o.len;
	return o.buf;
}

char *bd_json_plain(json_object *v, size_t *len)
{
	return text(v, PLAIN_FLAGS, len);
}

char *bd_json_pretty(json_object *v, size_t *len)
{
	return text(v, PRETTY_FLAGS, len);
}
