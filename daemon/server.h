/*
 * server.h: the server side of balloond, the control layer over the core
 * (daemon.h): the control socket (control.c), the requests (methods.c),
 * persistence (state.c), the spool (spool.c), the heap's trimming
 * (memtrim.c), and start, reload and shutdown (main.c). Only these files
 * include it: the core never calls into them (tests/boundary.sh checks the
 * objects), and hears back through callbacks instead.
 */
#ifndef BALLOOND_SERVER_H
#define BALLOOND_SERVER_H

#include "daemon.h"

/* ---- state.c: persistence ---- */
int bd_state_init(struct bd *bd);
/* Restore the registrations (snapshot and journal) and open the journal. */
int bd_state_load(struct bd *bd);
/* A guest's spec changed (or it was registered), or it was removed. Each
 * returns the state generation that must reach the disk before a reply to
 * the change may go out. Every save that finishes is told to
 * bd->persisted_cb. */
uint64_t bd_state_put(struct bd *bd, const struct bd_guest_spec *spec);
uint64_t bd_state_del(struct bd *bd, const char *name);
/* A hook's registration of a guest that is starting (the libvirt hook's,
 * the Proxmox hookscript's): its generation counts once written, before
 * the flush, which follows within a second. A crash of balloond cannot
 * lose it; a crash of the host ends the guest as well, and the hook
 * registers it again when it starts. */
uint64_t bd_state_put_running(struct bd *bd, const struct bd_guest_spec *spec);
/* A guest's peaks (a new day began): one journal line. */
uint64_t bd_state_peaks(struct bd *bd, struct bd_guest *g);
/* Save everything anew (a whole snapshot). */
uint64_t bd_state_dirty_all(struct bd *bd);
/* Generations saved so far: on disk, but for running registrations
 * (bd_state_put_running) not yet flushed. */
uint64_t bd_state_saved(const struct bd *bd);
/* The newest generation, saved or not: a hook's repeated registration,
 * which confirms a state an earlier one made, waits for it. */
uint64_t bd_state_pending(const struct bd *bd);
/* A generation whose save leaves every change so far flushed: a reply
 * that confirms a state on disk without changing it waits for it (an
 * unregister of a name a removal not yet saved removed, a spool file
 * removed once what it asked for is on disk). */
uint64_t bd_state_sync(struct bd *bd);
/* Save what is dirty now, synchronously (shutdown). */
void bd_state_flush(struct bd *bd);
void bd_state_close(struct bd *bd);
/* STATE_DIR/name into buf: 0, or -ENAMETOOLONG. */
int bd_state_path(const struct bd *bd, const char *name, char *buf, size_t len);

/* ---- memtrim.c: the heap's free pages back to the kernel ---- */
/* After a burst of work, once the loop is quiet again: malloc_trim. Its
 * handles keep no loop running; bd_memtrim_close closes them. */
int bd_memtrim_start(struct bd *bd);
void bd_memtrim_close(struct bd *bd);

/* ---- spool.c: requests made while the daemon was down ---- */
/* Create and watch the spool (and the role spool), and carry out what
 * waits in them. */
int bd_spool_start(struct bd *bd);
/* A save finished: the spool files whose changes are on disk go. */
void bd_spool_saved(struct bd *bd);
/* Shutdown: stop watching. */
void bd_spool_close(struct bd *bd);
/* Once the loop has ended: let go of what is left. */
void bd_spool_free(struct bd *bd);

/* ---- control.c ---- */
/* Where a reply goes: a connection and the request's place in its order.
 * conn 0 is the spool: replies are logged only. */
struct bd_reply_to {
	uint64_t conn;
	uint64_t seq;
	int method; /* the request's, for the metrics; BD_M_COUNT: unknown
		     * (it could not be read) */
};
int bd_control_start(struct bd *bd);
void bd_control_stop(struct bd *bd);
/* The config was reloaded: resolve control_group and role_group anew. */
void bd_control_reload(struct bd *bd);
/* Fill a request's reply slot; replies leave in request order. Takes msg.
 * With persist_gen, the reply waits until that state generation is on
 * disk (and becomes an error if saving it fails). */
void bd_control_reply(struct bd *bd, struct bd_reply_to to, json_object *msg,
		      uint64_t persist_gen);
/* The same for a successful reply already printed as json-c would print
 * it (text, len bytes, malloc()ed: taken). */
void bd_control_reply_text(struct bd *bd, struct bd_reply_to to, char *text,
			   size_t len, uint64_t persist_gen);
/* A save finished: release the replies it covers, or turn them into
 * errors (err < 0). */
void bd_control_persisted(struct bd *bd, uint64_t gen, int err);
/* Make a connection a monitor: it receives every event. */
int bd_control_subscribe(struct bd *bd, uint64_t conn_id);

/* ---- methods.c: the control requests ---- */
/* Handle one request; the reply goes to `to`. Spool files come here too
 * (to.conn 0). */
void bd_method_dispatch(struct bd *bd, struct bd_reply_to to, int64_t req_id,
			int method, json_object *params);
/* Shutdown: answer the requests still waiting (a role's wait_ms) now, and
 * let go of the registrations whose guest was removed. Called as the
 * shutdown begins and again once the guests are removed. */
void bd_methods_close(struct bd *bd);
/* A guest's balloon moved (bd->moved_cb): the role waits for it look. */
void bd_methods_moved(struct bd_guest *g);

/* ---- main.c ---- */
/* SIGHUP and `balloonctl reload`: 0, or -errno with a message. */
int bd_reload(struct bd *bd, char *msg, size_t msg_len);

#endif
