/*
 * jsontok.h: the json-c tokener that the control protocol's and QMP's
 * line parsers reuse, a direct parser for the lines they read most, and
 * decimal numbers without snprintf.
 * json_tokener_new's allocation (over a kilobyte, which also makes malloc
 * consolidate its free lists) cost about half as much as parsing a short
 * line, so each thread keeps one, in each file that includes this, reset
 * for every line and kept until the thread ends. Header-only: the two
 * protocols' libraries share no code.
 */
#ifndef BD_JSONTOK_H
#define BD_JSONTOK_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* The tokener, ready for a new text; NULL when out of memory. */
static inline json_tokener *bd_line_tokener(void)
{
	static _Thread_local json_tokener *tok;
	if (!tok)
		tok = json_tokener_new();
	else
		json_tokener_reset(tok);
	return tok;
}

/* Write v in decimal so that it ends just before end (the end of a
 * buffer of 21 bytes or more); returns where it starts. The digits
 * snprintf's PRId64 gives, for the lines written once per guest in a
 * burst, where snprintf cost more than the rest of the line. */
static inline char *bd_decimal(char *end, int64_t v)
{
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	char *d = end;
	do
		*--d = (char)('0' + u % 10);
	while ((u /= 10));
	if (v < 0)
		*--d = '-';
	return d;
}

/*
 * json_tokener_parse_ex sets up a locale of its own for every text
 * (duplocale, newlocale, uselocale, freelocale: about 2,000 instructions)
 * and reads it one character at a time through a state machine: parsing
 * a request or a QMP reply cost about 10,000 instructions, the largest
 * part of a burst of 1,000 pipelined requests and their 2,000 QMP
 * answers. The lines these protocols carry are plain: objects, arrays,
 * strings with nothing escaped, small integers, true, false and null.
 * bd_line_object reads those directly into the same json-c tree that the
 * tokener builds (the same constructors, json_object_object_add for
 * members, so a repeated key keeps its last value as with the tokener).
 * Anything else (an escape, a byte outside printable ASCII, a fraction,
 * an exponent, an integer of more than 18 digits, a leading zero, deep
 * nesting, a trailing comma, an error of any kind) makes it give up, and
 * the caller asks the tokener, so what is accepted, and how it is read,
 * stays json-c's.
 */
#define BD_LINE_MAX_DEPTH 16
#define BD_LINE_MAX_KEY	  128

struct bd_line_scan {
	const char *p, *end;
};

static inline void bd_line_ws(struct bd_line_scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
				 *s->p == '\r' || *s->p == '\n'))
		s->p++;
}

/* At a '"': the string's bytes, unescaped, or false. */
static inline bool bd_line_string(struct bd_line_scan *s, const char **str,
				  size_t *len)
{
	const char *q = ++s->p;
	for (; q < s->end && *q != '"'; q++) {
		unsigned char c = (unsigned char)*q;
		if (c < 0x20 || c >= 0x7f || c == '\\')
			return false;
	}
	if (q >= s->end)
		return false;
	*str = s->p;
	*len = (size_t)(q - s->p);
	s->p = q + 1;
	return true;
}

static inline bool bd_line_number(struct bd_line_scan *s, json_object **out)
{
	const char *q = s->p;
	bool neg = *q == '-';
	if (neg)
		q++;
	const char *digits = q;
	while (q < s->end && *q >= '0' && *q <= '9')
		q++;
	size_t n = (size_t)(q - digits);
	/* 18 digits never overflow an int64. */
	if (n == 0 || n > 18 || (n > 1 && *digits == '0'))
		return false;
	int64_t v = 0;
	for (const char *d = digits; d < q; d++)
		v = v * 10 + (*d - '0');
	if (q < s->end &&
	    (*q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-'))
		return false;
	s->p = q;
	*out = json_object_new_int64(neg ? -v : v);
	return *out != NULL;
}

static inline bool bd_line_literal(struct bd_line_scan *s, const char *word,
				   size_t len)
{
	if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0)
		return false;
	s->p += len;
	return true;
}

static inline bool bd_line_value(struct bd_line_scan *s, int depth,
				 json_object **out);

static inline bool bd_line_members(struct bd_line_scan *s, int depth,
				   json_object *o)
{
	char key[BD_LINE_MAX_KEY];
	bd_line_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return true;
	}
	for (;;) {
		const char *k;
		size_t klen;
		bd_line_ws(s);
		if (s->p >= s->end || *s->p != '"' ||
		    !bd_line_string(s, &k, &klen) || klen >= sizeof(key))
			return false;
		memcpy(key, k, klen);
		key[klen] = '\0';
		bd_line_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return false;
		s->p++;
		bd_line_ws(s);
		json_object *v;
		if (!bd_line_value(s, depth + 1, &v))
			return false;
		if (json_object_object_add(o, key, v) != 0) {
			json_object_put(v);
			return false;
		}
		bd_line_ws(s);
		if (s->p >= s->end)
			return false;
		if (*s->p == '}') {
			s->p++;
			return true;
		}
		if (*s->p != ',')
			return false;
		s->p++;
	}
}

static inline bool bd_line_elements(struct bd_line_scan *s, int depth,
				    json_object *a)
{
	bd_line_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return true;
	}
	for (;;) {
		json_object *v;
		bd_line_ws(s);
		if (!bd_line_value(s, depth + 1, &v))
			return false;
		if (json_object_array_add(a, v) != 0) {
			json_object_put(v);
			return false;
		}
		bd_line_ws(s);
		if (s->p >= s->end)
			return false;
		if (*s->p == ']') {
			s->p++;
			return true;
		}
		if (*s->p != ',')
			return false;
		s->p++;
	}
}

/* One value at s->p, into *out (NULL for null); false to give up. */
static inline bool bd_line_value(struct bd_line_scan *s, int depth,
				 json_object **out)
{
	*out = NULL;
	if (s->p >= s->end || depth > BD_LINE_MAX_DEPTH)
		return false;
	const char *str;
	size_t len;
	bool ok;
	switch (*s->p) {
	case '{':
		s->p++;
		if (!(*out = json_object_new_object()))
			return false;
		ok = bd_line_members(s, depth, *out);
		break;
	case '[':
		s->p++;
		if (!(*out = json_object_new_array()))
			return false;
		ok = bd_line_elements(s, depth, *out);
		break;
	case '"':
		if (!bd_line_string(s, &str, &len))
			return false;
		*out = json_object_new_string_len(str, (int)len);
		return *out != NULL;
	case 't':
		if (!bd_line_literal(s, "true", 4))
			return false;
		return (*out = json_object_new_boolean(1)) != NULL;
	case 'f':
		if (!bd_line_literal(s, "false", 5))
			return false;
		return (*out = json_object_new_boolean(0)) != NULL;
	case 'n':
		return bd_line_literal(s, "null", 4);
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return bd_line_number(s, out);
		return false;
	}
	if (!ok) {
		json_object_put(*out);
		*out = NULL;
	}
	return ok;
}

/* The line's JSON object, when the line is one plain object and nothing
 * but white space after it; NULL when it is not of that kind (then ask the
 * tokener, which reads it as before). */
static inline json_object *bd_line_object(const char *buf, size_t len)
{
	struct bd_line_scan s = {buf, buf + len};
	json_object *root;
	bd_line_ws(&s);
	if (s.p >= s.end || *s.p != '{' || !bd_line_value(&s, 1, &root))
		return NULL;
	bd_line_ws(&s);
	if (s.p != s.end) {
		json_object_put(root);
		return NULL;
	}
	return root;
}

/* QEMU's answer to a command that returns nothing, as QEMU spaces it,
 * {"return": {}, "id": N}, or as json-c prints it, {"return":{},"id":N}:
 * half of a burst's QMP lines (a balloon command's answer). Recognised by
 * its text, with N a non-negative integer of at most 18 digits and no
 * leading zero, and nothing after the '}' (the framer strips the line's
 * end); then nothing needs reading but N. Any other text, another spacing
 * included, is not this, and is read as before. */
static inline bool bd_line_empty_return(const char *buf, size_t len,
					int64_t *id)
{
	static const char *const heads[] = {"{\"return\": {}, \"id\": ",
					    "{\"return\":{},\"id\":"};
	for (size_t h = 0; h < sizeof(heads) / sizeof(*heads); h++) {
		size_t n = strlen(heads[h]);
		if (len < n + 2 || memcmp(buf, heads[h], n) != 0)
			continue;
		const char *d = buf + n, *end = buf + len - 1;
		if (*end != '}' || end - d > 18 || (*d == '0' && end - d > 1))
			return false;
		int64_t v = 0;
		for (; d < end; d++) {
			if (*d < '0' || *d > '9')
				return false;
			v = v * 10 + (*d - '0');
		}
		*id = v;
		return true;
	}
	return false;
}

#endif
