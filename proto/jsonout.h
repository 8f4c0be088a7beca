/*
 * jsonout.h: writing a short JSON text without json-c, for the two
 * messages of fixed shape that Patroni's callback sends on every run: its
 * role request (and the same as a spool file) and its signed datagram.
 * The callback loads json-c only when an answer is unusual, and a run
 * that never loads it starts about a tenth faster.
 *
 * A string is quoted as RFC 8259 (section 7) allows: '"' and '\' are
 * escaped, and every byte below 0x20 as \u00XX; every other byte is
 * copied as it is, as json-c copies it (json-c also escapes '/' unless
 * told not to, which means the same). Whatever the bytes, the text
 * parses back to exactly them (tests/test-proto.c checks every byte
 * through json-c). Header-only: a hook and the notify library share no
 * object.
 */
#ifndef BALLOOND_PROTO_JSONOUT_H
#define BALLOOND_PROTO_JSONOUT_H

#include <stdbool.h>
#include <stddef.h>

/* A text being written into buf (cap bytes, NUL-terminated whenever cap
 * is not 0). len counts every byte written, also those that did not fit:
 * the text is whole when len < cap. */
struct bd_json_out {
	char *buf;
	size_t cap;
	size_t len;
};

static inline struct bd_json_out bd_json_out_init(char *buf, size_t cap)
{
	if (cap)
		buf[0] = '\0';
	return (struct bd_json_out){.buf = buf, .cap = cap};
}

static inline void bd_json_byte(struct bd_json_out *o, char c)
{
	if (o->len + 1 < o->cap) {
		o->buf[o->len] = c;
		o->buf[o->len + 1] = '\0';
	}
	o->len++;
}

/* Text that is JSON already (punctuation, keys, numbers). */
static inline void bd_json_raw(struct bd_json_out *o, const char *s)
{
	for (; *s; s++)
		bd_json_byte(o, *s);
}

/* s as a JSON string, quotes included. */
static inline void bd_json_string(struct bd_json_out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	bd_json_byte(o, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			bd_json_byte(o, '\\');
			bd_json_byte(o, (char)c);
		} else if (c < 0x20) {
			bd_json_raw(o, "\\u00");
			bd_json_byte(o, hex[c >> 4]);
			bd_json_byte(o, hex[c & 0xf]);
		} else {
			bd_json_byte(o, (char)c);
		}
	}
	bd_json_byte(o, '"');
}

static inline bool bd_json_whole(const struct bd_json_out *o)
{
	return o->len < o->cap;
}

#endif
