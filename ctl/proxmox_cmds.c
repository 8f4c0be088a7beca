/*
 * proxmox_cmds.c: `balloonctl enable --proxmox VMID`, which prints the
 * `qm set` commands that make a Proxmox VE VM balloond's (a QMP monitor of
 * its own in args:, the hookscript, shares: 0; see balloond-proxmox(7)).
 * It changes nothing: Proxmox's config belongs to Proxmox's tools. The
 * VM's config is read, when it can be, to keep args: it already has.
 */
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/pveconf.h"
#include "proto/fileio.h"

#define PVE_DIR_DEFAULT "/etc/pve/qemu-server"
#define HOOKSCRIPT	"balloond-proxmox"

/* Print s single-quoted for a POSIX shell. */
static void put_quoted(const char *s)
{
	putchar('\'');
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	putchar('\'');
}

static bool all_of(const char *s, const char *set)
{
	return *s && strspn(s, set) == strlen(s);
}

/* The VM's config, parsed into *c; false when it cannot be read or
 * parsed (then args: is balloond's alone; a note says why). */
static bool read_vm(const char *vmid, struct bd_pveconf *c)
{
	const char *dir = getenv("BALLOOND_PVE_DIR");
	char path[BD_FILE_PATH_MAX], err[512];
	snprintf(path, sizeof(path), "%s/%s.conf",
		 dir && *dir ? dir : PVE_DIR_DEFAULT, vmid);
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno != ENOENT)
			printf("# (%s: %s: its args: are not kept)\n", path,
			       strerror(errno));
		return false;
	}
	char *text = malloc(BD_PVECONF_MAX_BYTES + 1);
	size_t n = text ? fread(text, 1, BD_PVECONF_MAX_BYTES + 1, f) : 0;
	fclose(f);
	int rc =
	    text ? bd_pveconf_parse(text, n, c, err, sizeof(err)) : -ENOMEM;
	free(text);
	if (rc) {
		printf("# (%s: %s: its args: are not kept)\n", path,
		       rc == -ENOMEM ? "out of memory" : err);
		return false;
	}
	return true;
}

static int enable_proxmox(const char *vmid, const char *storage)
{
	struct bd_pveconf *c = calloc(1, sizeof(*c));
	char mine[512], sock[BD_PATH_MAX];
	if (!c) {
		ctl_error("enable: out of memory");
		return CTL_EXIT_REFUSED;
	}
	snprintf(sock, sizeof(sock), "%s/%s.qmp", BD_PVE_QMP_DIR, vmid);
	snprintf(mine, sizeof(mine),
		 "-chardev socket,id=%s,path=%s,server=on,wait=off "
		 "-mon chardev=%s,mode=control",
		 BD_PVE_CHARDEV_ID, sock, BD_PVE_CHARDEV_ID);
	printf("# balloond for Proxmox VE VM %s (balloond-proxmox(7)). "
	       "Nothing was changed:\n# review and run these.\n",
	       vmid);
	bool known = read_vm(vmid, c);
	printf("qm set %s --args ", vmid);
	if (known && c->has_qmp) {
		/* A monitor the hookscript would use is there already:
		 * print args: as they are. */
		put_quoted(c->args);
		if (strcmp(c->spec.qmp_path, sock) != 0)
			printf("\n# (its args: already give QEMU a QMP monitor "
			       "on %s: balloond uses that one)",
			       c->spec.qmp_path);
	} else if (known && *c->args) {
		char *both = malloc(strlen(c->args) + strlen(mine) + 2);
		if (!both) {
			free(c);
			ctl_error("enable: out of memory");
			return CTL_EXIT_REFUSED;
		}
		sprintf(both, "%s %s", c->args, mine);
		put_quoted(both);
		free(both);
	} else {
		put_quoted(mine);
	}
	printf("\n# The hookscript must be in %s's snippets:\n"
	       "#   ln -s /usr/share/balloond/%s \"$(pvesm path "
	       "%s:snippets/%s)\"\n"
	       "qm set %s --hookscript %s:snippets/%s\n"
	       "qm set %s --shares 0\n",
	       storage, HOOKSCRIPT, storage, HOOKSCRIPT, vmid, storage,
	       HOOKSCRIPT, vmid);
	if (known && c->has_balloon && c->balloon_bytes == 0)
		printf("# balloon: 0 removes the virtio-balloon device that "
		       "balloond moves:\nqm set %s --delete balloon\n",
		       vmid);
	printf("# Per-guest settings go in a line of the VM's description "
	       "(Notes), e.g.\n"
	       "#   balloond: min=2G replica-target=4G priority=10 "
	       "cluster=pg member=pg1\n"
	       "# The monitor takes effect at the VM's next start.\n");
	free(c);
	return CTL_EXIT_OK;
}

static int ctl_enable_proxmox(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"proxmox", required_argument, NULL, 'x'},
	    {"storage", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *vmid = NULL, *storage = "local";
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "x:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'x':
			vmid = optarg;
			break;
		case 's':
			storage = optarg;
			break;
		case 'h':
			printf("usage: balloonctl enable --proxmox VMID "
			       "[--storage STORAGE]\n");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error(
			    "enable", "--proxmox takes --storage only (a VM's "
				      "settings go in its description, see "
				      "balloond-proxmox(7))");
		}
	}
	if (optind != argc)
		return ctl_usage_error("enable",
				       "--proxmox VMID takes no DOMAIN");
	/* Proxmox's VMIDs: 100 to 999999999. */
	if (!vmid || !all_of(vmid, "0123456789") || vmid[0] == '0' ||
	    strlen(vmid) > 9)
		return ctl_usage_error("enable",
				       "--proxmox takes a VMID, not "
				       "'%s'",
				       vmid ? vmid : "");
	/* Proxmox's storage IDs: letters, digits, '-', '_' and '.'. */
	if (!all_of(storage, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."))
		return ctl_usage_error("enable",
				       "--storage takes a storage ID, not '%s'",
				       storage);
	return enable_proxmox(vmid, storage);
}

int ctl_enable_cmd(const struct ctl_globals *g, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--proxmox") == 0 ||
		    strncmp(argv[i], "--proxmox=", 10) == 0)
			return ctl_enable_proxmox(argc, argv);
	return ctl_enable(g, argc, argv);
}
