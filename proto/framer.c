/* framer.c: newline framing with a hard size cap. */
#include "framer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	f->len = 0;
	f->scanned = 0;
}

/* Make room for n more bytes plus a NUL, doubling, never past the cap. */
static int reserve(struct framer *f, size_t n)
{
	size_t need = f->len + n + 1;
	if (need <= f->cap)
		return 0;
	size_t cap = f->cap ? f->cap : 4096;
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

/* Hand out every complete message in buf, then keep the tail. */
static int drain(struct framer *f, framer_line_cb cb, void *cb_data)
{
	size_t start = 0;

	for (;;) {
		char *nl =
		    memchr(f->buf + f->scanned, '\n', f->len - f->scanned);
		if (!nl)
			break;
		size_t end = (size_t)(nl - f->buf);
		size_t len = end - start;
		f->scanned = end + 1;
		if (len > 0 && f->buf[start + len - 1] == '\r')
			len--;
		f->buf[start + len] = '\0';
		char *line = f->buf + start;
		start = end + 1;
		if (len == 0)
			continue;
		int rc = cb(line, len, cb_data);
		if (rc)
			return rc; /* f may be reset or freed: touch nothing */
	}
	memmove(f->buf, f->buf + start, f->len - start);
	f->len -= start;
	f->scanned -= start;
	return 0;
}

int framer_feed(struct framer *f, const char *data, size_t n, framer_line_cb cb,
		void *cb_data)
{
	while (n > 0) {
		/* Take at most what still fits under the cap; if a whole cap's
		 * worth holds no newline, the message is too long. */
		size_t room = f->max_bytes - f->len;
		if (room == 0)
			return -EMSGSIZE;
		size_t take = n < room ? n : room;
		int rc = reserve(f, take);
		if (rc)
			return rc;
		memcpy(f->buf + f->len, data, take);
		f->len += take;
		data += take;
		n -= take;
		rc = drain(f, cb, cb_data);
		if (rc)
			return rc;
		if (f->len >= f->max_bytes)
			return -EMSGSIZE;
	}
	return 0;
}
