/*
 * doctor_read.c: doctor's I/O. The files of /proc and /sys are read
 * under the roots given (fixture trees in the tests), each into the
 * snapshot through the pure parsers of doctor_parse.c. A file that is
 * missing leaves its fields unknown: only /proc/meminfo is required.
 */
#include "doctor.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hooks/pveconf.h"
#include "proto/fileio.h"

/* /proc and /sys files are small; a fixture larger than this is wrong. */
#define DOCTOR_FILE_MAX (1 << 20)

/* Read ROOT/REL into *text (malloc'd). 0 or -errno. */
static int read_under(const char *root, const char *rel, char **text,
		      size_t *len)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	return bd_read_file(path, DOCTOR_FILE_MAX, text, len);
}

/* opendir ROOT/REL, or NULL. */
static DIR *opendir_under(const char *root, const char *rel)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >=
	    sizeof(path))
		return NULL;
	return opendir(path);
}

static bool exists_under(const char *root, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >=
	    sizeof(path))
		return false;
	return stat(path, &st) == 0;
}

static void read_arc(const char *proc_root, const char *sys_root,
		     struct doctor_host *h)
{
	char *t;
	size_t n;
	uint64_t v;
	if (read_under(proc_root, "spl/kstat/zfs/arcstats", &t, &n) == 0) {
		h->arc_present =
		    doctor_parse_kstat_row(t, n, "c_max",
					   &h->arc_c_max_bytes) == 0 &&
		    doctor_parse_kstat_row(t, n, "c_min",
					   &h->arc_c_min_bytes) == 0 &&
		    doctor_parse_kstat_row(t, n, "size", &h->arc_size_bytes) ==
			0;
		free(t);
	}
	if (read_under(sys_root, "module/zfs/parameters/zfs_arc_max", &t, &n) ==
	    0) {
		h->arc_max_known = doctor_parse_number(t, n, &v) == 0;
		h->zfs_arc_max_bytes = h->arc_max_known ? v : 0;
		free(t);
	}
}

static void read_swap(const char *proc_root, struct doctor_host *h)
{
	char *t;
	size_t n;
	uint64_t v;
	if (read_under(proc_root, "swaps", &t, &n) == 0) {
		h->swaps_known =
		    doctor_parse_swaps(t, n, h->swaps, DOCTOR_MAX_SWAPS,
				       &h->n_swaps) == 0;
		free(t);
	}
	h->swappiness = -1;
	if (read_under(proc_root, "sys/vm/swappiness", &t, &n) == 0) {
		if (doctor_parse_number(t, n, &v) == 0 && v <= 200)
			h->swappiness = (int)v;
		free(t);
	}
}

/* A GPU driver whose shrinker runs in the host's reclaim, and whether a
 * display is connected: /sys/class/drm/cardN-CONNECTOR/status says
 * "connected" for each plugged connector. */
static void read_gpu(const char *sys_root, struct doctor_host *h)
{
	static const char *const drivers[] = {"i915", "amdgpu", "nouveau"};
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "module/%s", drivers[i]);
		if (exists_under(sys_root, rel)) {
			snprintf(h->gpu_driver, sizeof(h->gpu_driver), "%s",
				 drivers[i]);
			break;
		}
	}
	DIR *d = opendir_under(sys_root, "class/drm");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "card", 4) != 0 ||
		    !strchr(e->d_name, '-'))
			continue;
		char rel[PATH_MAX], *t;
		size_t n;
		if ((size_t)snprintf(rel, sizeof(rel), "class/drm/%s/status",
				     e->d_name) >= sizeof(rel) ||
		    read_under(sys_root, rel, &t, &n))
			continue;
		h->drm_connectors++;
		if (n >= 9 && memcmp(t, "connected", 9) == 0)
			h->drm_connected++;
		free(t);
	}
	closedir(d);
}

int doctor_read_host(const char *proc_root, const char *sys_root,
		     struct doctor_host *h)
{
	char *t;
	size_t n;
	memset(h, 0, sizeof(*h));
	int rc = read_under(proc_root, "meminfo", &t, &n);
	if (rc)
		return rc;
	rc = doctor_parse_meminfo_field(t, n, "MemTotal", &h->mem_total_bytes);
	if (rc == 0 && !h->mem_total_bytes)
		rc = -EINVAL;
	if (rc == 0)
		rc = doctor_parse_meminfo_field(t, n, "MemAvailable",
						&h->mem_available_bytes);
	/* Optional: 0 when absent. */
	doctor_parse_meminfo_field(t, n, "SwapTotal", &h->swap_total_bytes);
	doctor_parse_meminfo_field(t, n, "Committed_AS",
				   &h->committed_as_bytes);
	free(t);
	if (rc)
		return rc;
	read_arc(proc_root, sys_root, h);
	read_swap(proc_root, h);
	/* Under psi=0 the file exists but reading it fails (EOPNOTSUPP). */
	if (read_under(proc_root, "pressure/memory", &t, &n) == 0) {
		h->psi_present = true;
		free(t);
	}
	read_gpu(sys_root, h);
	return 0;
}

void doctor_read_pve(const char *etc_root, struct doctor_daemon *d)
{
	/* Large (args: is kept whole): on the heap, once. */
	struct bd_pveconf *c = NULL;
	for (size_t i = 0; i < d->n_guests; i++) {
		struct doctor_guest *g = &d->guests[i];
		char rel[64], *t, err[256];
		size_t n;
		if (!g->pve_vmid)
			continue;
		if (!c && !(c = malloc(sizeof(*c))))
			return;
		snprintf(rel, sizeof(rel), "pve/qemu-server/%u.conf",
			 g->pve_vmid);
		if (read_under(etc_root, rel, &t, &n))
			continue;
		int rc = bd_pveconf_parse(t, n, c, err, sizeof(err));
		free(t);
		if (rc)
			continue;
		g->pve_conf_read = true;
		g->pve_autoballoon = bd_pveconf_autoballoon(c);
		g->pve_balloon_mib =
		    c->has_balloon ? c->balloon_bytes >> 20 : 0;
		g->pve_shares_set = c->has_shares;
		g->pve_shares = c->shares;
	}
	free(c);
}

/* libvirtd (or the modular virtqemud, which runs the qemu hooks) among the
 * processes under proc_root: its start in seconds since the epoch. */
static void read_libvirtd(const char *proc_root, struct doctor_libvirt *l)
{
	char *t;
	size_t n;
	uint64_t btime, ticks;
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0 || read_under(proc_root, "stat", &t, &n))
		return;
	int rc = doctor_parse_btime(t, n, &btime);
	free(t);
	if (rc)
		return;
	DIR *d = opendir(proc_root);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char rel[300], comm[32] = "";
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(rel, sizeof(rel), "%s/comm", e->d_name);
		if (read_under(proc_root, rel, &t, &n))
			continue;
		snprintf(comm, sizeof(comm), "%.*s", (int)strcspn(t, "\n"), t);
		free(t);
		if (strcmp(comm, "libvirtd") != 0 &&
		    strcmp(comm, "virtqemud") != 0)
			continue;
		snprintf(rel, sizeof(rel), "%s/stat", e->d_name);
		if (read_under(proc_root, rel, &t, &n))
			continue;
		rc = doctor_parse_stat_starttime(t, n, &ticks);
		free(t);
		if (rc)
			continue;
		l->libvirtd_start_s = (int64_t)(btime + ticks / (uint64_t)hz);
		snprintf(l->libvirtd_name, sizeof(l->libvirtd_name), "%s",
			 comm);
		break;
	}
	closedir(d);
}

/* The persistent domains whose XML carries balloond's metadata (its
 * namespace is enough: `balloonctl enable` writes it, disable removes
 * it). */
static void read_marked_domains(const char *etc_root, struct doctor_libvirt *l)
{
	DIR *d = opendir_under(etc_root, "libvirt/qemu");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char rel[PATH_MAX], *t;
		size_t n;
		if (len < 5 || strcmp(e->d_name + len - 4, ".xml") != 0)
			continue;
		snprintf(rel, sizeof(rel), "libvirt/qemu/%s", e->d_name);
		if (read_under(etc_root, rel, &t, &n))
			continue;
		if (strstr(t, "urn:balloond:guest:1")) {
			if (!l->n_marked++)
				snprintf(l->first_marked,
					 sizeof(l->first_marked), "%.*s",
					 (int)(len - 4), e->d_name);
		}
		free(t);
	}
	closedir(d);
}

void doctor_read_libvirt(const char *proc_root, const char *etc_root,
			 struct doctor_libvirt *l)
{
	char path[PATH_MAX];
	struct stat st;
	memset(l, 0, sizeof(*l));
	if ((size_t)snprintf(path, sizeof(path),
			     "%s/libvirt/hooks/qemu.d/balloond",
			     etc_root) < sizeof(path) &&
	    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		l->hook_present = true;
		l->hook_executable = (st.st_mode & 0111) != 0;
		l->hook_mtime_s = (int64_t)st.st_mtime;
	}
	read_libvirtd(proc_root, l);
	read_marked_domains(etc_root, l);
}
