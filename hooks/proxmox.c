/*
 * proxmox.c: the Proxmox VE hookscript, balloond-proxmox. Proxmox runs a
 * VM's hookscript (qm set VMID --hookscript STORAGE:snippets/FILE) as
 *
 *   balloond-proxmox VMID PHASE     (pre-start, post-start, pre-stop,
 *                                    post-stop)
 *
 * For a VM whose args: gives QEMU a QMP monitor of balloond's (see
 * hooks/pveconf.h) it registers the guest on post-start and unregisters
 * it on post-stop; every other phase and VM is left alone. Proxmox's own
 * monitor (/var/run/qemu-server/VMID.qmp) is never touched: it serves one
 * client at a time and Proxmox's tools need it.
 *
 * The config is read from $BALLOOND_PVE_DIR/VMID.conf (default
 * /etc/pve/qemu-server). Like the libvirt hook it always exits 0 within
 * about a second and spools when balloond is down (hooks/hookio.h): a
 * hookscript that fails or hangs holds up or fails the VM's start.
 * Messages go to stderr, which Proxmox shows in the task log.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks/hookio.h"
#include "hooks/pveconf.h"
#include "proto/fileio.h"
#include "proto/proto.h"

#define PROG		"balloond-proxmox"
#define PVE_DIR_DEFAULT "/etc/pve/qemu-server"

/* Read the VM's config whole. Returns its length, or -errno (-EMSGSIZE
 * when larger than max). */
static ssize_t read_config(const char *path, char *buf, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = errno;
			close(fd);
			return n < 0 ? -e : (ssize_t)len;
		}
		len += (size_t)n;
		if (len > max) {
			close(fd);
			return -EMSGSIZE;
		}
	}
}

/* VMIDs are 100 to 999999999 in Proxmox; anything but digits is not one
 * (and must not become part of a path). */
static bool vmid_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 9 || s[0] == '0')
		return false;
	return strspn(s, "0123456789") == n;
}

static void handle(const char *vmid, bool reg, const struct bd_pveconf *c)
{
	if (!c->has_qmp) {
		if (reg && c->has_settings)
			bd_hook_say("a balloond: line in the description but "
				    "no QMP monitor of balloond's in args: "
				    "(`balloonctl enable --proxmox %s` prints "
				    "it); not registered",
				    vmid);
		return;
	}
	if (!reg) {
		bd_hook_unregister(vmid);
		return;
	}
	if (c->has_balloon && c->balloon_bytes == 0) {
		bd_hook_say("balloon: 0 removes the VM's virtio-balloon "
			    "device; not registered");
		return;
	}
	/* pvestatd moves a VM with balloon: set and shares: above 0 every
	 * 10 s: two controllers would fight over it. */
	if (bd_pveconf_autoballoon(c))
		bd_hook_say("Proxmox's auto-ballooning also moves this VM "
			    "(balloon: is set and shares: is not 0): set `qm "
			    "set %s --shares 0` so that balloond alone does",
			    vmid);
	struct bd_guest_spec spec = c->spec;
	snprintf(spec.name, sizeof(spec.name), "%s", vmid);
	bd_hook_register(&spec);
}

int main(int argc, char **argv)
{
	/* A daemon that closes mid-write is an error to handle. */
	signal(SIGPIPE, SIG_IGN);
	if (argc != 3) {
		fprintf(stderr,
			PROG ": usage: %s VMID PHASE (run by Proxmox VE as a "
			     "VM's hookscript)\n",
			argv[0]);
		return 0;
	}
	const char *vmid = argv[1], *phase = argv[2];
	bd_hook_init(PROG, vmid);
	bool reg = strcmp(phase, "post-start") == 0;
	bool unreg = strcmp(phase, "post-stop") == 0;
	if (!reg && !unreg)
		return 0;
	if (!vmid_ok(vmid)) {
		bd_hook_say("not a VMID; balloond not told");
		return 0;
	}
	const char *dir = getenv("BALLOOND_PVE_DIR");
	char path[BD_FILE_PATH_MAX], err[512];
	snprintf(path, sizeof(path), "%s/%s.conf",
		 dir && *dir ? dir : PVE_DIR_DEFAULT, vmid);
	char *buf = malloc(BD_PVECONF_MAX_BYTES + 1);
	struct bd_pveconf *c = malloc(sizeof(*c));
	if (!buf || !c) {
		bd_hook_say("out of memory");
		goto out;
	}
	ssize_t n = read_config(path, buf, BD_PVECONF_MAX_BYTES);
	int rc = n < 0 ? (int)n
		       : bd_pveconf_parse(buf, (size_t)n, c, err, sizeof(err));
	if (rc == 0) {
		handle(vmid, reg, c);
	} else if (reg) {
		bd_hook_say("%s: %s; balloond not told", path,
			    n < 0 ? strerror((int)-n) : err);
	} else {
		/* A stopped VM whose config is gone or broken may still be
		 * registered: unregistering one balloond does not know is
		 * a no-op. */
		bd_hook_unregister(vmid);
	}
out:
	free(buf);
	free(c);
	return 0;
}
