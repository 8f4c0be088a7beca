/*
 * framer.h: splits a byte stream into newline-terminated messages.
 *
 * Used for QMP (QEMU ends messages with CRLF) and for balloond's own
 * control protocol (LF). A read may carry part of a message or several;
 * one message may not exceed a hard cap, so a peer that never sends a
 * newline cannot make us allocate without bound.
 */
#ifndef BALLOOND_PROTO_FRAMER_H
#define BALLOOND_PROTO_FRAMER_H

#include <stddef.h>

struct framer {
	char *buf;	  /* the message not yet complete; NULL when none
			   * (allocated only while one is) */
	size_t len;	  /* bytes held in buf */
	size_t cap;	  /* allocated size of buf */
	size_t max_bytes; /* cap on one message, newline included */
};

/* Called with each complete message, without its LF or CRLF and with a NUL
 * after it. A nonzero return stops feeding at once and is returned by the
 * feed; the framer must then be reset (or freed) before it is fed again,
 * which lets the callback reset or free it. */
typedef int (*framer_line_cb)(char *line, size_t len, void *data);

void framer_init(struct framer *f, size_t max_bytes);
void framer_free(struct framer *f);
/* Drop any partial message (after a reconnect). */
void framer_reset(struct framer *f);

/* Feed n bytes. Returns 0, the callback's nonzero return, -EMSGSIZE when a
 * message outgrows max_bytes (the framer is then unusable until reset), or
 * -ENOMEM. Empty lines are skipped. A message that arrives whole in data
 * is handed to the callback in place: data is scratch, and each such
 * message's LF (or CR) is overwritten with its NUL. Only the part of a
 * message still waiting for its newline is copied, so the framer holds no
 * memory between messages. */
int framer_feed(struct framer *f, char *data, size_t n, framer_line_cb cb,
		void *cb_data);

#endif
