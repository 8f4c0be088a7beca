/*
 * pveconf.h: what balloond needs from a Proxmox VE VM config
 * (/etc/pve/qemu-server/VMID.conf), read as text:
 *
 *   #Web server.
 *   #balloond%3A min=2G replica-target=4G cluster=pg member=pg1 priority=10
 *   args: -chardev
 * socket,id=balloond,path=/run/balloond/pve/100.qmp,server=on,wait=off -mon
 * chardev=balloond,mode=control balloon: 2048 memory: 8192 shares: 0
 *   [snapshot1]
 *   ...
 *
 * The VM's own lines come before the first [section] (snapshots, pending
 * changes). Its description is the leading '#' lines, which Proxmox
 * stores percent-encoded (':' becomes %3A). The VM is balloond's when
 * args: gives QEMU a QMP monitor on a unix server socket of its own,
 * either "-chardev socket,id=ID,path=PATH,server=on,wait=off -mon
 * chardev=ID,mode=control" or "-qmp unix:PATH,server=on,wait=off":
 * Proxmox's own monitor serves one client at a time. A "balloond:" line
 * in the description carries the per-guest settings.
 *
 * Pure (no I/O): the Proxmox hookscript, balloonctl and the fuzzer share
 * it.
 */
#ifndef BALLOOND_HOOKS_PVECONF_H
#define BALLOOND_HOOKS_PVECONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/spec.h"

/* A VM config is a few KiB, snapshots included. */
#define BD_PVECONF_MAX_BYTES (1 << 20)
/* The longest args: kept whole (for balloonctl enable --proxmox). */
#define BD_PVECONF_ARGS_MAX 4096
/* Where `balloonctl enable --proxmox` puts a VM's monitor socket
 * (tmpfiles.d: d /run/balloond/pve 0700 root root; QEMU runs as root
 * under Proxmox). */
#define BD_PVE_QMP_DIR "/run/balloond/pve"
/* The -chardev id `balloonctl enable --proxmox` gives the monitor. */
#define BD_PVE_CHARDEV_ID "balloond"

struct bd_pveconf {
	bool has_qmp;	   /* args: carries a QMP monitor on a unix socket */
	bool has_settings; /* a balloond: line in the description */
	uint64_t memory_bytes; /* memory: (MiB in the file); 0: unset */
	bool has_balloon;      /* a balloon: line (0 disables the device) */
	uint64_t balloon_bytes;
	bool has_shares; /* a shares: line (unset: Proxmox's 1000) */
	uint64_t shares;
	char args[BD_PVECONF_ARGS_MAX]; /* args: as written, "" if none */
	/* The registration it asks for (the name is the caller's: the
	 * VMID): the monitor's socket, max (the settings' max, else
	 * memory:), min, replica target, priority, Patroni identity. */
	struct bd_guest_spec spec;
};

/* Parse len bytes of a VM config. Returns 0, or -EINVAL (-EMSGSIZE when
 * too large) with a message naming the line. A VM without a monitor of
 * balloond's parses fine with has_qmp false. */
int bd_pveconf_parse(const char *text, size_t len, struct bd_pveconf *out,
		     char *err, size_t err_len);

/* Whether Proxmox's own auto-ballooning (pvestatd) would move this VM too:
 * balloon: set (and not 0, which removes the device) with shares: not 0. */
bool bd_pveconf_autoballoon(const struct bd_pveconf *c);

#endif
