/*
 * doctor.h: `balloonctl doctor`, an audit of a host for the risks that
 * freeze a host running ballooned guests. Three layers, so that fixture
 * trees and plain structs test every finding:
 *
 *   doctor_parse.c  pure parsers over the text of /proc and /sys files and
 *                   over balloond's status JSON (no I/O: the fuzzer's);
 *   doctor_read.c   the I/O: files under a proc root and a sys root, and
 *                   balloond's status when it answers, into a snapshot;
 *   doctor_rules.c  pure rules from a snapshot to findings;
 *   doctor.c        the command: options, text and JSON rendering.
 *
 * ctl/ does not include daemon/: the few /proc fields doctor reads are
 * read by its own small parsers here, which also read fields the daemon
 * never needs (SwapTotal, Committed_AS, /proc/swaps, swappiness).
 */
#ifndef BALLOOND_CTL_DOCTOR_H
#define BALLOOND_CTL_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

enum doctor_severity {
	DOCTOR_INFO = 0,
	DOCTOR_WARNING = 1,
	DOCTOR_CRITICAL = 2,
};

#define DOCTOR_MAX_SWAPS    16
#define DOCTOR_MAX_GUESTS   256
#define DOCTOR_MAX_FINDINGS 128
#define DOCTOR_MAX_CLUSTERS 64

struct doctor_swap {
	char device[128];
	uint64_t size_bytes;
};

/* What was read from /proc and /sys. A field whose file could not be read
 * is marked unknown and no rule judges it. */
struct doctor_host {
	/* /proc/meminfo */
	uint64_t mem_total_bytes, mem_available_bytes;
	uint64_t swap_total_bytes, committed_as_bytes;
	/* /proc/spl/kstat/zfs/arcstats */
	bool arc_present;
	uint64_t arc_size_bytes, arc_c_min_bytes, arc_c_max_bytes;
	/* /sys/module/zfs/parameters/zfs_arc_max */
	bool arc_max_known;
	uint64_t zfs_arc_max_bytes;
	/* /proc/swaps */
	bool swaps_known;
	size_t n_swaps;
	struct doctor_swap swaps[DOCTOR_MAX_SWAPS];
	/* /proc/sys/vm/swappiness; -1 unknown */
	int swappiness;
	/* /proc/pressure/memory readable */
	bool psi_present;
	/* A GPU driver with a shrinker under /sys/module ("" none) and the
	 * connectors under /sys/class/drm/card*-* and how many say
	 * "connected". */
	char gpu_driver[16];
	unsigned drm_connectors, drm_connected;
};

struct doctor_guest {
	char name[128];
	uint64_t max_bytes, min_bytes, replica_target_bytes;
	bool actual_known;
	uint64_t actual_bytes, target_bytes;
	bool link_up;
	bool stats_known; /* guest_stats with a last_update */
	bool starving, deflated;
	uint64_t foreign_moves;
	char last_error[256];
	char qmp[256];	   /* its QMP socket, as registered */
	char cluster[128]; /* the Patroni cluster it names, "" none */
	/* Proxmox VE: the VMID of its QMP socket (0: not a Proxmox VE
	 * guest), and what its config ETC/pve/qemu-server/VMID.conf says
	 * (hooks/pveconf.c) when it could be read. */
	unsigned pve_vmid;
	bool pve_conf_read;
	bool pve_autoballoon;	  /* bd_pveconf_autoballoon */
	uint64_t pve_balloon_mib; /* "balloon:" (0: absent or off) */
	bool pve_shares_set;	  /* "shares:" given (default 1000) */
	uint64_t pve_shares;
	/* The balloon device's options, read with qom-get through balloond
	 * (unknown on a QEMU without them, before 5.1, or a link down). */
	int64_t last_action_us; /* wall clock; 0 unknown */
	bool fpr_known, free_page_reporting;
	bool doom_known, deflate_on_oom;
	/* Its reserve as balloond's policy takes it (reserve_bytes). */
	bool reserve_known;
	uint64_t reserve_bytes;
	/* Its history over the last 14 days (daily_used_peaks): the days with
	 * a peak of used memory, the highest of them, the days it starved. */
	unsigned peak_days, starved_days;
	uint64_t used_peak_bytes;
};

/* What balloond said in its status, when it answered. */
struct doctor_daemon {
	bool answered;
	char error[256]; /* why not, when it did not */
	bool psi_trigger;
	char arc_error[256];
	char host_error[256];
	/* The policy's settings as balloond.conf gives them (status'
	 * "config"; 0: derived from the host's size). */
	bool config_known;
	uint64_t low_watermark_bytes, high_watermark_bytes;
	size_t n_clusters; /* the [cluster] sections balloond has */
	char clusters[DOCTOR_MAX_CLUSTERS][128];
	size_t n_guests;
	struct doctor_guest guests[DOCTOR_MAX_GUESTS];
};

/* libvirt, read under the etc root (ETC/libvirt/...) and the proc root. */
struct doctor_libvirt {
	/* ETC/libvirt/hooks/qemu.d/balloond */
	bool hook_present, hook_executable;
	int64_t hook_mtime_s;
	/* libvirtd's (or virtqemud's) start, in seconds since the epoch, from
	 * PROC/PID/stat's starttime and PROC/stat's btime; 0 not running. */
	int64_t libvirtd_start_s;
	char libvirtd_name[16];
	/* Persistent domains (ETC/libvirt/qemu/NAME.xml) that carry
	 * balloond's metadata; the first one's name. */
	unsigned n_marked;
	char first_marked[128];
};

struct doctor_snapshot {
	int64_t now_us; /* the wall clock when read (the tests set it) */
	struct doctor_host host;
	struct doctor_libvirt libvirt;
	struct doctor_daemon daemon;
};

struct doctor_finding {
	char id[40];
	enum doctor_severity severity;
	char title[160];
	char evidence[1024];
	char fix[2048];
};

struct doctor_report {
	size_t n;
	struct doctor_finding findings[DOCTOR_MAX_FINDINGS];
};

/* ---- doctor_parse.c: pure parsers (text need not end in a NUL) ---- */

/* The value of a "KEY:   N kB" line of /proc/meminfo, in bytes. 0 or
 * -ENODATA (no such line), -EINVAL (not a number), -ERANGE. */
int doctor_parse_meminfo_field(const char *text, size_t len, const char *key,
			       uint64_t *bytes);
/* The DATA of a kstat row "NAME TYPE DATA". 0 or -errno as above. */
int doctor_parse_kstat_row(const char *text, size_t len, const char *name,
			   uint64_t *value);
/* A decimal number alone on its line (a sysctl or module parameter).
 * Leading and trailing blanks and one newline are allowed. */
int doctor_parse_number(const char *text, size_t len, uint64_t *value);
/* /proc/swaps: its header, then "DEVICE TYPE SIZE-KiB USED PRIO" lines.
 * Fills at most max entries; *n is how many. 0 or -EINVAL. */
int doctor_parse_swaps(const char *text, size_t len, struct doctor_swap *swaps,
		       size_t max, size_t *n);
/* The VMID of a Proxmox VE QMP socket path (/run/balloond/pve/VMID.qmp,
 * where `balloonctl enable --proxmox` puts it, or Proxmox's own
 * /run/qemu-server/VMID.qmp), or 0. */
unsigned doctor_pve_vmid(const char *qmp_path);
/* The start of a process in clock ticks after boot: field 22 of
 * /proc/PID/stat (after the parenthesised comm, which may hold anything).
 * 0 or -EINVAL. */
int doctor_parse_stat_starttime(const char *text, size_t len, uint64_t *ticks);
/* The "btime N" line of /proc/stat. 0, -ENODATA or -EINVAL. */
int doctor_parse_btime(const char *text, size_t len, uint64_t *btime_s);
/* The QOM path of the balloon device in a qom-list answer (an array of
 * {name, type}) of container, into path; false when none is there. */
bool doctor_find_balloon(struct json_object *list, const char *container,
			 char *path, size_t size);
/* balloond's status result (an object) into d (answered set). */
void doctor_decode_status(struct json_object *res, struct doctor_daemon *d);

/* ---- doctor_read.c: the I/O ---- */

/* Read the host under proc_root and sys_root into h. Returns 0, or -errno
 * when not even /proc/meminfo could be read (the host cannot be audited). */
int doctor_read_host(const char *proc_root, const char *sys_root,
		     struct doctor_host *h);

/* For each Proxmox VE guest in d, read ETC_ROOT/pve/qemu-server/VMID.conf
 * where readable (the cluster file system is readable by root only). */
void doctor_read_pve(const char *etc_root, struct doctor_daemon *d);

/* libvirt's hook and daemon, and the domains marked for balloond. */
void doctor_read_libvirt(const char *proc_root, const char *etc_root,
			 struct doctor_libvirt *l);

/* ---- doctor_rules.c: the pure rules ---- */

/* The host reserve doctor assumes (balloond's default: the larger of
 * 512 MiB and 3 % of MemTotal). */
uint64_t doctor_host_reserve_bytes(uint64_t mem_total_bytes);
/* Every finding for s, worst first (stable within a severity). */
void doctor_run_rules(const struct doctor_snapshot *s, struct doctor_report *r);
/* The worst severity in r; -1 when r is empty. */
int doctor_worst(const struct doctor_report *r);
const char *doctor_severity_name(enum doctor_severity s);

#endif
