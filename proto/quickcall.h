/*
 * quickcall.h: one request to balloond over its control socket, from a
 * program that runs for a moment and exits: the libvirt hook, the
 * Proxmox hookscript and Patroni's callback. libvirtd waits for its hook
 * on every domain event and Patroni for its callback, and such a run is
 * mostly its own start; so this loads no json-c in the usual case
 * (its mapping and relocation are about a tenth of a run).
 *
 * The caller writes the request with proto/jsonout.h, starting it with
 * bd_quickcall_begin. It goes out at once, not after the greeting:
 * balloond reads it once it has greeted (requests may be pipelined,
 * balloond(8)), and both lines come back in one of its wake-ups, not
 * two. What comes back is read only as far as the caller needs, and
 * only when it is balloond's usual text: the greeting bd_greeting_new
 * writes ({"balloond":{"version":"V","protocol":1}}) and a reply that
 * starts {"id":1,"result": (bd_reply_new: the id, then exactly one of
 * result and error). Anything else, a refusal among them, is read by
 * json-c, loaded then, with the checks and messages of proto/client.c.
 */
#ifndef BALLOOND_PROTO_QUICKCALL_H
#define BALLOOND_PROTO_QUICKCALL_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/jsonout.h"
#include "proto/proto.h"

enum bd_quickcall_answer {
	BD_QUICKCALL_RESULT = 1, /* balloond did it */
	BD_QUICKCALL_ERROR = 2,	 /* balloond refused: code and message */
};

struct bd_quickcall {
	/* In. */
	uint64_t timeout_ms; /* connect to answer */
	bool want_at_max;    /* read the result's at_max (json-c) */
	/* Out. */
	int at_max;	    /* -1: the result does not say */
	char code[64];	    /* a refusal's code and message */
	char message[1024]; /* ... */
	char error[600];    /* why the call failed (-errno) */
	/* The reader's own. */
	bool greeted_;
};

/* {"id":1,"protocol":P,"method":"M","params": into o: the caller goes on
 * with the params object, then "}\n". With request false, the same line
 * as a spool file holds: {"method":"M","params": (bd_spool_write_text). */
void bd_quickcall_begin(struct bd_json_out *o, enum bd_method m, bool request);

/* Connect to the socket at path, send the request line req (len bytes,
 * its newline included) and read until its answer or timeout_ms. Returns
 * an enum bd_quickcall_answer, or -errno with c->error set: -ENOENT or
 * -ECONNREFUSED when nobody listens, -ETIMEDOUT, -EACCES when balloond
 * greets with a refusal, -EPROTO. The connect blocks: a caller that
 * must not wait for a full listen backlog arms an alarm around it
 * (SIGALRM without SA_RESTART makes it fail with -EINTR). SIGPIPE must
 * be ignored. */
int bd_quickcall(struct bd_quickcall *c, const char *path, const char *req,
		 size_t len);

#endif
