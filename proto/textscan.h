/*
 * textscan.h: the line and token scanner that the parsers of /proc and
 * /sys text share (the daemon's host source in daemon/hostparse.c and
 * balloonctl doctor's in ctl/doctor_parse.c). Inline functions in a
 * header, so that a fuzzer that compiles one parser alone needs no other
 * source. Each walks [*p, end) and never reads past end: the kernel's
 * files end in a newline, but a truncated read, a fixture or a fuzzer's
 * input need not.
 */
#ifndef BALLOOND_PROTO_TEXTSCAN_H
#define BALLOOND_PROTO_TEXTSCAN_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One line of [*p, end): its start and length; *p moves past its
 * newline. false once the text is used up. */
static inline bool bd_text_next_line(const char **p, const char *end,
				     const char **line, size_t *line_len)
{
	if (*p >= end)
		return false;
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	const char *stop = nl ? nl : end;
	*line = *p;
	*line_len = (size_t)(stop - *p);
	*p = nl ? nl + 1 : end;
	return true;
}

static inline bool bd_text_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static inline const char *bd_text_skip_blanks(const char *p, const char *end)
{
	while (p < end && bd_text_is_blank(*p))
		p++;
	return p;
}

/* The next blank-separated token of [*p, end), or false. */
static inline bool bd_text_next_token(const char **p, const char *end,
				      const char **tok, size_t *tok_len)
{
	const char *s = bd_text_skip_blanks(*p, end);
	const char *e = s;
	while (e < end && !bd_text_is_blank(*e))
		e++;
	*p = e;
	*tok = s;
	*tok_len = (size_t)(e - s);
	return e > s;
}

/* Decimal digits at *p (at least one): -EINVAL without any, -ERANGE
 * beyond 64 bits. *p moves past them. */
static inline int bd_text_parse_u64(const char **p, const char *end,
				    uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	while (s < end && *s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
		s++;
	}
	if (s == *p)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

static inline bool bd_text_token_is(const char *tok, size_t tok_len,
				    const char *word)
{
	size_t n = strlen(word);
	return tok_len == n && memcmp(tok, word, n) == 0;
}

#endif
