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

#include "proto/spec.h"

/* The whole conversation with the daemon, connect to reply. The daemon
 * answers a hook's register ("wait": false, "hook": true) once it is in
 * its journal: a few ms. */
#define HOOK_TIMEOUT_MS 1000

/* Messages read "PROG: SUBJECT: ..." (the hook, the guest). */
void bd_hook_init(const char *prog, const char *subject);
void bd_hook_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Register a guest, or unregister one by name: sent, or spooled when the
 * daemon cannot be reached or does not answer in time. A refusal is
 * reported, not spooled (it would be refused again); unregistering a
 * guest balloond does not know is done. A hook links no json-c
 * (proto/quickcall.h): a register is "wait": false and "hook": true, kept
 * at once and answered once written, never waiting for QEMU or for the disk's
 * flush inside a VM's start; an unregister once on disk. */
void bd_hook_register(const struct bd_guest_spec *spec);
void bd_hook_unregister(const char *name);

#endif
