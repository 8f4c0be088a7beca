/* framer.c: newline framing with a hard size cap. */
#include "framer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation for a partial message; it doubles from there. */
#define FRAMER_MIN_CAP 256

void framer_init(struct framer *f, size_t max_bytes)
{
	*f = (struct framer){.max_bytes = max_bytes};
}

void framer_free(struct framer *f)
{
	free(f->buf);
	framer_init(f, f->max_bytes);
}

void framer_reset(struct framer *f)
{
	/* The buffer may hold the line a callback is reading (a callback
	 * resets the framer of a connection it drops): the next feed frees
	 * it. */
	f->len = 0;
}

/* Make room for n more bytes plus a NUL, doubling, never past the cap. */
static int reserve(struct framer *f, size_t n)
{
	size_t need = f->len + n + 1;
	if (need <= f->cap)
		return 0;
	size_t cap = f->cap ? f->cap : FRAMER_MIN_CAP;
	while (cap < need)
		cap *= 2;
	if (cap > f->max_bytes + 1)
		cap = f->max_bytes + 1;
	char *buf = realloc(f->buf, cap);
	if (!buf)
		return -ENOMEM;
	f->buf = buf;
	f->cap = cap;
	return 0;
}

int framer_feed(struct framer *f, char *data, size_t n, framer_line_cb cb,
		void *cb_data)
{
	/* Nothing is held between messages: a link that idles keeps no
	 * buffer (no callback is running here, so none reads it). */
	if (f->len == 0 && f->buf)
		framer_free(f);
	while (n > 0) {
		char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) + 1 : n;
		char *line;
		size_t len;
		if (f->len == 0 && nl) {
			/* A whole message in the read: handed out where it
			 * is, not copied. */
			if (take > f->max_bytes)
				return -EMSGSIZE;
			line = data;
			len = take - 1;
		} else {
			/* Part of a message: kept until its newline comes,
			 * and no more than the cap (newline included). */
			if (take > f->max_bytes - f->len ||
			    (!nl && f->len + take == f->max_bytes))
				return -EMSGSIZE;
			int rc = reserve(f, take);
			if (rc)
				return rc;
			memcpy(f->buf + f->len, data, take);
			f->len += take;
			if (!nl)
				return 0;
			line = f->buf;
			len = f->len - 1;
			f->len = 0;
		}
		data += take;
		n -= take;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		if (len == 0)
			continue;
		int rc = cb(line, len, cb_data);
		if (rc)
			return rc; /* f may be reset or freed: touch nothing */
	}
	if (f->len == 0 && f->buf)
		framer_free(f);
	return 0;
}
