/*
 * hookio.h: what the hooks run by libvirtd and Proxmox share. A hook runs
 * inside a VM's start or stop: it must never block it, never fail it. So
 * a request gets about a second in all, connect to reply; when balloond
 * cannot be reached (stopped, restarting, swamped) it goes into
 * balloond's spool, which the daemon carries out when it runs again.
 * Problems are one line on stderr, which libvirtd logs and Proxmox shows
 * in the task log. The socket and state directory are balloond's
 * defaults, or $BALLOOND_SOCKET and $BALLOOND_STATE_DIR.
 */
#ifndef BALLOOND_HOOKS_HOOKIO_H
#define BALLOOND_HOOKS_HOOKIO_H

#include <json-c/json.h>

#include "proto/proto.h"

/* The whole conversation with the daemon, connect to reply. The daemon
 * answers a "wait": false register once it is on disk: a few ms. */
#define HOOK_TIMEOUT_MS 1000

/* Messages read "PROG: SUBJECT: ..." (the hook, the guest). */
void bd_hook_init(const char *prog, const char *subject);
void bd_hook_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Send one request; spool it when the daemon cannot be reached or does
 * not answer in time. A refusal is reported, not spooled (it would be
 * refused again); unregistering a guest balloond does not know is done.
 * Takes params. */
void bd_hook_send(enum bd_method m, json_object *params);

#endif
