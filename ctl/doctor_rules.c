/*
 * doctor_rules.c: from what doctor read to findings. Pure: no I/O, so
 * that each rule is tested on a snapshot built by hand and on fixture
 * trees alike. Each finding carries the numbers it judged and where they
 * were read, and the fix as commands for a live host, for Debian and for
 * NixOS (the host whose freeze these rules describe ran NixOS).
 */
#include "doctor.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MiB (1024ULL * 1024)
#define GiB (1024 * MiB)

const char *doctor_severity_name(enum doctor_severity s)
{
	return s == DOCTOR_CRITICAL  ? "critical"
	       : s == DOCTOR_WARNING ? "warning"
				     : "info";
}

uint64_t doctor_host_reserve_bytes(uint64_t total)
{
	/* balloond's own default for [host] reserve (policy.c). */
	uint64_t pct = total * 3 / 100;
	return pct > 512 * MiB ? pct : 512 * MiB;
}

/* Append to a NUL-terminated buffer; what does not fit is cut. */
static void app(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void app(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strlen(buf);
	if (used + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}

/* A size for people: "61.7 GiB" or "512 MiB". */
struct size_str {
	char s[32];
};

static struct size_str hs(uint64_t b)
{
	struct size_str r;
	if (b >= GiB)
		snprintf(r.s, sizeof(r.s), "%.1f GiB", (double)b / (double)GiB);
	else
		snprintf(r.s, sizeof(r.s), "%llu MiB",
			 (unsigned long long)(b / MiB));
	return r;
}

static struct doctor_finding *add(struct doctor_report *r, const char *id,
				  enum doctor_severity sev, const char *fmt,
				  ...) __attribute__((format(printf, 4, 5)));
static struct doctor_finding *add(struct doctor_report *r, const char *id,
				  enum doctor_severity sev, const char *fmt,
				  ...)
{
	/* Past the table's end the last slot is reused: a host with more
	 * than DOCTOR_MAX_FINDINGS findings has been told enough. */
	struct doctor_finding *f =
	    &r->findings[r->n < DOCTOR_MAX_FINDINGS ? r->n++ : r->n - 1];
	memset(f, 0, sizeof(*f));
	snprintf(f->id, sizeof(f->id), "%s", id);
	f->severity = sev;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->title, sizeof(f->title), fmt, ap);
	va_end(ap);
	return f;
}

/* ---- what several rules share ---- */

struct sums {
	bool guests_known; /* balloond answered */
	size_t n_guests;
	uint64_t guests_max_bytes;
	uint64_t arc_cap_bytes; /* what the ARC may grow to: 0 without ZFS */
	uint64_t reserve_bytes;
	uint64_t need_bytes; /* guests + ARC + reserve */
	bool overcommitted;
};

static struct sums sums_of(const struct doctor_snapshot *s)
{
	const struct doctor_host *h = &s->host;
	struct sums m = {0};
	m.guests_known = s->daemon.answered;
	m.n_guests = s->daemon.n_guests;
	for (size_t i = 0; i < s->daemon.n_guests; i++)
		m.guests_max_bytes += s->daemon.guests[i].max_bytes;
	if (h->arc_present)
		m.arc_cap_bytes = h->arc_c_max_bytes;
	m.reserve_bytes = doctor_host_reserve_bytes(h->mem_total_bytes);
	m.need_bytes = m.guests_max_bytes + m.arc_cap_bytes + m.reserve_bytes;
	m.overcommitted = m.n_guests && m.need_bytes > h->mem_total_bytes;
	return m;
}

static void app_sums(char *buf, size_t size, const struct doctor_host *h,
		     const struct sums *m)
{
	app(buf, size,
	    "guests' max %s (%zu guests, from balloond's status) + ARC c_max "
	    "%s (/proc/spl/kstat/zfs/arcstats) + host reserve %s = %s, "
	    "against MemTotal %s (/proc/meminfo)",
	    hs(m->guests_max_bytes).s, m->n_guests, hs(m->arc_cap_bytes).s,
	    hs(m->reserve_bytes).s, hs(m->need_bytes).s,
	    hs(h->mem_total_bytes).s);
}

/* ---- ZFS ARC ---- */

/* The cap to suggest, and the arithmetic behind it in why. */
static uint64_t suggest_arc_max(const struct doctor_host *h,
				const struct sums *m, char *why, size_t size)
{
	uint64_t total = h->mem_total_bytes, v;
	if (m->n_guests) {
		uint64_t used = m->guests_max_bytes + m->reserve_bytes;
		v = total > used ? total - used : 0;
		app(why, size,
		    "MemTotal %s - guests' max %s - host reserve %s = %s",
		    hs(total).s, hs(m->guests_max_bytes).s,
		    hs(m->reserve_bytes).s, hs(v).s);
	} else {
		v = total / 4;
		app(why, size,
		    "no guest known (balloond not answering or managing none): "
		    "a "
		    "quarter of MemTotal, %s / 4 = %s",
		    hs(total).s, hs(v).s);
	}
	uint64_t lo = 1 * GiB, hi = total / 2;
	if (v > hi) {
		v = hi;
		app(why, size, ", at most half of MemTotal (%s)", hs(hi).s);
	}
	if (v < lo) {
		v = lo;
		app(why, size,
		    ", at least 1 GiB (less than that, the guests alone "
		    "overcommit the host)");
	}
	v -= v % (256 * MiB);
	/* ZFS ignores a zfs_arc_max below the ARC's c_min. */
	if (v < h->arc_c_min_bytes) {
		v = h->arc_c_min_bytes + 256 * MiB - 1;
		v -= v % (256 * MiB);
		app(why, size,
		    ", at least c_min %s (ZFS ignores a zfs_arc_max below it), "
		    "rounded up to 256 MiB: %llu bytes (%s)",
		    hs(h->arc_c_min_bytes).s, (unsigned long long)v, hs(v).s);
		return v;
	}
	app(why, size, ", rounded down to 256 MiB: %llu bytes (%s)",
	    (unsigned long long)v, hs(v).s);
	return v;
}

static void app_arc_fix(char *fix, size_t size, uint64_t v)
{
	unsigned long long b = (unsigned long long)v;
	app(fix, size,
	    "live: echo %llu > /sys/module/zfs/parameters/zfs_arc_max\n"
	    "Debian: echo 'options zfs zfs_arc_max=%llu' > "
	    "/etc/modprobe.d/zfs.conf && update-initramfs -u\n"
	    "NixOS: boot.kernelParams = [ \"zfs.zfs_arc_max=%llu\" ];",
	    b, b, b);
}

static void rule_arc(const struct doctor_snapshot *s, const struct sums *m,
		     struct doctor_report *r)
{
	const struct doctor_host *h = &s->host;
	if (!h->arc_present)
		return;
	bool uncapped = h->arc_max_known && h->zfs_arc_max_bytes == 0 &&
			h->arc_c_max_bytes >= h->mem_total_bytes / 4 * 3;
	bool too_high =
	    !uncapped && m->n_guests &&
	    h->arc_c_max_bytes + m->guests_max_bytes + m->reserve_bytes >
		h->mem_total_bytes;
	if (!uncapped && !too_high)
		return;
	struct doctor_finding *f =
	    uncapped ? add(r, "arc_uncapped", DOCTOR_CRITICAL,
			   "The ZFS ARC has no cap: zfs_arc_max is 0 and the "
			   "ARC may take nearly all RAM")
		     : add(r, "arc_cap_high", DOCTOR_WARNING,
			   "The ZFS ARC's cap leaves the guests too little");
	app(f->evidence, sizeof(f->evidence),
	    "zfs_arc_max %llu (/sys/module/zfs/parameters/zfs_arc_max); ARC "
	    "c_max %llu bytes (%s), size %s (/proc/spl/kstat/zfs/arcstats); "
	    "MemTotal %s (/proc/meminfo)",
	    (unsigned long long)h->zfs_arc_max_bytes,
	    (unsigned long long)h->arc_c_max_bytes, hs(h->arc_c_max_bytes).s,
	    hs(h->arc_size_bytes).s, hs(h->mem_total_bytes).s);
	if (too_high) {
		app(f->evidence, sizeof(f->evidence), "; ");
		app_sums(f->evidence, sizeof(f->evidence), h, m);
	}
	app(f->evidence, sizeof(f->evidence), ". Suggested zfs_arc_max: ");
	uint64_t v = suggest_arc_max(h, m, f->evidence, sizeof(f->evidence));
	app_arc_fix(f->fix, sizeof(f->fix), v);
}

/* ---- swap ---- */

static bool is_zvol(const char *dev)
{
	return strncmp(dev, "/dev/zd", 7) == 0 ||
	       strncmp(dev, "/dev/zvol/", 10) == 0;
}

static void rule_swap(const struct doctor_snapshot *s, const struct sums *m,
		      struct doctor_report *r)
{
	const struct doctor_host *h = &s->host;
	if (!h->swaps_known)
		return;
	const struct doctor_swap *zvol = NULL;
	for (size_t i = 0; i < h->n_swaps && !zvol; i++)
		if (is_zvol(h->swaps[i].device))
			zvol = &h->swaps[i];
	if (zvol) {
		struct doctor_finding *f =
		    add(r, "swap_on_zvol", DOCTOR_CRITICAL,
			"Swap on a ZFS zvol (%s): reclaim can livelock",
			zvol->device);
		app(f->evidence, sizeof(f->evidence),
		    "%s, %s of swap (/proc/swaps). Writing a page out to a "
		    "zvol needs memory (ZFS allocates for the write), so under "
		    "memory pressure swapping out waits on the memory it "
		    "should free: reclaim livelocks and the host freezes",
		    zvol->device, hs(zvol->size_bytes).s);
		app(f->fix, sizeof(f->fix),
		    "Move swap off ZFS, to zram or a plain partition.\n"
		    "live: zramctl --find --size 8G && mkswap /dev/zram0 && "
		    "swapon --priority 100 /dev/zram0 && swapoff %s\n"
		    "Debian: apt install systemd-zram-generator, remove %s "
		    "from /etc/fstab\n"
		    "NixOS: zramSwap.enable = true; and remove the zvol from "
		    "swapDevices",
		    zvol->device, zvol->device);
		if (h->swappiness > 10) {
			f = add(r, "swappiness_high", DOCTOR_WARNING,
				"vm.swappiness is %d with swap on a zvol",
				h->swappiness);
			app(f->evidence, sizeof(f->evidence),
			    "vm.swappiness %d (/proc/sys/vm/swappiness), swap "
			    "on %s (/proc/swaps): the kernel swaps early, "
			    "into the zvol that needs memory to write",
			    h->swappiness, zvol->device);
			app(f->fix, sizeof(f->fix),
			    "live: sysctl -w vm.swappiness=10\n"
			    "Debian: echo 'vm.swappiness = 10' > "
			    "/etc/sysctl.d/90-swappiness.conf\n"
			    "NixOS: boot.kernel.sysctl.\"vm.swappiness\" = "
			    "10;");
		}
	}
	bool commits_over = h->committed_as_bytes > h->mem_total_bytes;
	if (h->n_swaps == 0 && (m->overcommitted || commits_over)) {
		struct doctor_finding *f =
		    add(r, "no_swap", DOCTOR_WARNING,
			"No swap on a host that overcommits its memory");
		app(f->evidence, sizeof(f->evidence),
		    "no swap device (/proc/swaps); Committed_AS %s, MemTotal "
		    "%s (/proc/meminfo)",
		    hs(h->committed_as_bytes).s, hs(h->mem_total_bytes).s);
		if (m->overcommitted) {
			app(f->evidence, sizeof(f->evidence), "; ");
			app_sums(f->evidence, sizeof(f->evidence), h, m);
		}
		app(f->fix, sizeof(f->fix),
		    "Add compressed swap in RAM (zram): it gives reclaim "
		    "somewhere to go without disk I/O.\n"
		    "live: zramctl --find --size 8G && mkswap /dev/zram0 && "
		    "swapon --priority 100 /dev/zram0\n"
		    "Debian: apt install systemd-zram-generator\n"
		    "NixOS: zramSwap.enable = true;");
	}
}

/* ---- overcommit ---- */

static void rule_overcommit(const struct doctor_snapshot *s,
			    const struct sums *m, struct doctor_report *r)
{
	const struct doctor_host *h = &s->host;
	if (!m->overcommitted)
		return;
	struct doctor_finding *f =
	    add(r, "overcommit", DOCTOR_WARNING,
		"The guests, the ARC and the host reserve add up to more than "
		"the host's RAM");
	app_sums(f->evidence, sizeof(f->evidence), h, m);
	app(f->evidence, sizeof(f->evidence),
	    ". Committed_AS %s (/proc/meminfo): watch committed memory, not "
	    "current free memory, which shrinks only as the guests warm up",
	    hs(h->committed_as_bytes).s);
	app(f->fix, sizeof(f->fix),
	    "Lower the guests' max (see guest_too_big), cap the ARC (see "
	    "arc_cap_high), or move a guest to another host.\n"
	    "libvirt: virsh setmaxmem DOMAIN SIZE --config, then virsh "
	    "shutdown DOMAIN and virsh start DOMAIN\n"
	    "Proxmox VE: qm set VMID --memory MiB");

	/* The guests whose actual has warmed up to their max while the host
	 * is short: the memory the sum promised is being taken. */
	uint64_t short_below = h->mem_total_bytes / 10;
	if (m->reserve_bytes > short_below)
		short_below = m->reserve_bytes;
	if (h->mem_available_bytes >= short_below)
		return;
	char names[512] = "";
	unsigned warm = 0;
	for (size_t i = 0; i < s->daemon.n_guests; i++) {
		const struct doctor_guest *g = &s->daemon.guests[i];
		if (!g->actual_known || !g->max_bytes ||
		    g->actual_bytes < g->max_bytes / 100 * 95)
			continue;
		app(names, sizeof(names), "%s%s (%s of %s)", warm ? ", " : "",
		    g->name, hs(g->actual_bytes).s, hs(g->max_bytes).s);
		warm++;
	}
	if (!warm)
		return;
	f = add(r, "guests_warm", DOCTOR_CRITICAL,
		"%u guest(s) at their max while the host is short of memory",
		warm);
	app(f->evidence, sizeof(f->evidence),
	    "MemAvailable %s (/proc/meminfo), under %s; at 95 %% or more of "
	    "their max (balloond's status): %s",
	    hs(h->mem_available_bytes).s, hs(short_below).s, names);
	app(f->fix, sizeof(f->fix),
	    "Give the host room now: cap the ARC lower (echo BYTES > "
	    "/sys/module/zfs/parameters/zfs_arc_max), lower a guest "
	    "(balloonctl set NAME SIZE), or migrate a guest; then lower the "
	    "guests' max (virsh setmaxmem DOMAIN SIZE --config; Proxmox VE: qm "
	    "set VMID --memory MiB)");
}

/* ---- the GPU shrinker ---- */

static void rule_gpu(const struct doctor_snapshot *s, struct doctor_report *r)
{
	const struct doctor_host *h = &s->host;
	if (!h->gpu_driver[0] || h->drm_connected)
		return;
	const char *d = h->gpu_driver;
	struct doctor_finding *f =
	    add(r, "gpu_shrinker_headless", DOCTOR_WARNING,
		"The %s GPU driver is loaded on a headless host: its shrinker "
		"can spin in reclaim",
		d);
	app(f->evidence, sizeof(f->evidence),
	    "/sys/module/%s exists; %u connector(s) under "
	    "/sys/class/drm/card*-*/status, none connected. Under memory "
	    "pressure the kernel calls the driver's shrinker on every reclaim "
	    "pass, and it can spin there without freeing anything",
	    d, h->drm_connectors);
	app(f->fix, sizeof(f->fix),
	    "Keep the driver from loading on a host that shows no display.\n"
	    "live: modprobe -r %s (fails while a console uses it: then "
	    "reboot with the change below)\n"
	    "Debian: echo 'blacklist %s' > /etc/modprobe.d/blacklist-%s.conf "
	    "&& update-initramfs -u\n"
	    "NixOS: boot.blacklistedKernelModules = [ \"%s\" ];",
	    d, d, d, d);
}

/* ---- PSI ---- */

static void rule_psi(const struct doctor_snapshot *s, struct doctor_report *r)
{
	const struct doctor_host *h = &s->host;
	struct doctor_finding *f;
	if (!h->psi_present) {
		f = add(r, "psi_unavailable", DOCTOR_WARNING,
			"Memory pressure stall information (PSI) is not "
			"available");
		app(f->evidence, sizeof(f->evidence),
		    "/proc/pressure/memory cannot be read (a kernel without "
		    "CONFIG_PSI, or booted with psi=0). balloond then sees "
		    "pressure only from MemAvailable, read every [host] "
		    "interval_ms: it reacts at the next read instead of at "
		    "once on a PSI trigger");
		app(f->fix, sizeof(f->fix),
		    "Boot with PSI on (remove psi=0; psi=1 where the kernel "
		    "has it off by default).\n"
		    "Debian: add psi=1 to GRUB_CMDLINE_LINUX in "
		    "/etc/default/grub && update-grub\n"
		    "NixOS: boot.kernelParams = [ \"psi=1\" ];");
		return;
	}
	if (s->daemon.answered && !s->daemon.psi_trigger) {
		f = add(r, "psi_trigger_refused", DOCTOR_WARNING,
			"balloond has no PSI trigger on memory pressure");
		app(f->evidence, sizeof(f->evidence),
		    "/proc/pressure/memory is readable, but balloond's status "
		    "says psi_trigger false (the kernel refused its trigger). "
		    "balloond then polls MemAvailable and the PSI averages "
		    "every [host] interval_ms instead of waking at once on a "
		    "stall");
		app(f->fix, sizeof(f->fix),
		    "Run balloond as root, or give it CAP_SYS_RESOURCE "
		    "(AmbientCapabilities=CAP_SYS_RESOURCE in a systemctl edit "
		    "balloond drop-in), then systemctl restart balloond; see "
		    "journalctl -u balloond for the kernel's refusal");
	}
}

/* ---- balloond ---- */

static void rule_daemon(const struct doctor_snapshot *s,
			struct doctor_report *r)
{
	const struct doctor_daemon *d = &s->daemon;
	struct doctor_finding *f;
	if (!d->answered) {
		f = add(r, "daemon_absent", DOCTOR_INFO,
			"balloond is not answering: the host alone was "
			"audited");
		app(f->evidence, sizeof(f->evidence), "%s",
		    d->error[0] ? d->error : "no answer");
		app(f->fix, sizeof(f->fix),
		    "systemctl start balloond (or balloonctl --socket PATH "
		    "doctor) for the guest findings");
		return;
	}
	if (d->arc_error[0]) {
		f = add(r, "arc_write_refused", DOCTOR_WARNING,
			"balloond cannot write zfs_arc_max");
		app(f->evidence, sizeof(f->evidence),
		    "balloond's status: arc_error \"%s\"", d->arc_error);
		app(f->fix, sizeof(f->fix),
		    "Let the unit write it: systemctl edit balloond, add\n"
		    "[Service]\n"
		    "ReadWritePaths=/sys/module/zfs/parameters/zfs_arc_max\n"
		    "then systemctl restart balloond");
	}
}

/* ---- each guest ---- */

/* A balloon that has not followed its target for this long after
 * balloond's last action on the guest: its driver does not move it. */
#define DOCTOR_STUCK_AFTER_US  (60 * 1000000LL)
#define DOCTOR_STUCK_GAP_BYTES (64 * MiB)

static void rule_stuck(const struct doctor_guest *g, int64_t now_us,
		       struct doctor_report *r)
{
	if (!g->link_up || !g->actual_known || !g->target_bytes ||
	    !g->last_action_us ||
	    now_us - g->last_action_us < DOCTOR_STUCK_AFTER_US)
		return;
	uint64_t gap = g->actual_bytes > g->target_bytes
			   ? g->actual_bytes - g->target_bytes
			   : g->target_bytes - g->actual_bytes;
	if (gap <= DOCTOR_STUCK_GAP_BYTES)
		return;
	struct doctor_finding *f =
	    add(r, "guest_balloon_stuck", DOCTOR_WARNING,
		"%s: its balloon does not follow the target", g->name);
	app(f->evidence, sizeof(f->evidence),
	    "balloond's status for %s: target %s, actual %s, %lld s after "
	    "balloond's last action: the guest's balloon driver does not "
	    "move it (not loaded, or a guest still booting)",
	    g->name, hs(g->target_bytes).s, hs(g->actual_bytes).s,
	    (long long)((now_us - g->last_action_us) / 1000000));
	app(f->fix, sizeof(f->fix),
	    "In the guest: lsmod | grep virtio_balloon, else modprobe "
	    "virtio_balloon (and add it to the initramfs or "
	    "/etc/modules-load.d/); Windows guests need the virtio-win "
	    "balloon driver and service");
}

static void rule_guest(const struct doctor_guest *g, struct doctor_report *r)
{
	struct doctor_finding *f;
	if (strstr(g->last_error, "DeviceNotActive") ||
	    strstr(g->last_error, "No balloon device")) {
		f = add(r, "guest_no_balloon", DOCTOR_WARNING,
			"%s has no balloon device", g->name);
		app(f->evidence, sizeof(f->evidence),
		    "balloond's status for %s: last_error \"%s\"", g->name,
		    g->last_error);
		app(f->fix, sizeof(f->fix),
		    "Give the guest a virtio-balloon device and restart it "
		    "cold.\n"
		    "libvirt: virsh edit %s, add <memballoon "
		    "model='virtio'><stats period='5'/></memballoon> in "
		    "<devices>, then virsh shutdown %s && virsh start %s\n"
		    "QEMU: -device virtio-balloon-pci,id=balloon0",
		    g->name, g->name, g->name);
		return;
	}
	if (!g->link_up) {
		f = add(r, "guest_link_down", DOCTOR_WARNING,
			"%s: balloond has no QMP link to it", g->name);
		app(f->evidence, sizeof(f->evidence),
		    "balloond's status for %s: link down%s%s", g->name,
		    g->last_error[0] ? "; last_error " : "", g->last_error);
		app(f->fix, sizeof(f->fix),
		    "Check that the guest runs and that its QMP socket is the "
		    "one registered: balloonctl status; journalctl -u "
		    "balloond");
		return;
	}
	if (!g->stats_known) {
		f = add(r, "guest_no_stats", DOCTOR_WARNING,
			"%s reports no memory statistics", g->name);
		app(f->evidence, sizeof(f->evidence),
		    "balloond's status for %s: no guest_stats (stats polling "
		    "off, or the guest's balloon driver returns nothing). "
		    "Without them balloond cannot tell what the guest uses and "
		    "will not shrink it",
		    g->name);
		app(f->fix, sizeof(f->fix),
		    "balloond.conf: [qmp] stats_interval_s = 5 (then "
		    "balloonctl reload); in the guest: modprobe "
		    "virtio_balloon");
	}
	if (g->foreign_moves) {
		f = add(r, "guest_foreign_moves", DOCTOR_WARNING,
			"%s's balloon was moved behind balloond's back",
			g->name);
		app(f->evidence, sizeof(f->evidence),
		    "balloond's status for %s: foreign_moves %llu", g->name,
		    (unsigned long long)g->foreign_moves);
		app(f->fix, sizeof(f->fix),
		    "Find what else sets its balloon (virsh setmem, Proxmox "
		    "VE's auto-ballooning, another QMP client) and stop it; "
		    "Proxmox VE: qm set VMID --shares 0");
	}
	if (g->replica_target_bytes && g->min_bytes > g->replica_target_bytes) {
		f = add(r, "guest_min_above_replica", DOCTOR_WARNING,
			"%s: min is above its replica target", g->name);
		app(f->evidence, sizeof(f->evidence),
		    "balloond's status for %s: min %s, replica_target %s: as a "
		    "replica it can never shrink to its target",
		    g->name, hs(g->min_bytes).s, hs(g->replica_target_bytes).s);
		app(f->fix, sizeof(f->fix),
		    "balloonctl register %s --qmp PATH --min SIZE "
		    "--replica-target SIZE with min at or below the replica "
		    "target (libvirt: balloonctl enable %s --min SIZE)",
		    g->name, g->name);
	}
}

/* A guest's reserve (what the policy leaves it available) at or above its
 * max: it can never lend anything, and reports itself starving. */
static void rule_reserve(const struct doctor_guest *g, struct doctor_report *r)
{
	if (!g->reserve_known || !g->max_bytes ||
	    g->reserve_bytes < g->max_bytes)
		return;
	struct doctor_finding *f =
	    add(r, "guest_reserve_above_max", DOCTOR_WARNING,
		"%s: its reserve is as large as the guest", g->name);
	app(f->evidence, sizeof(f->evidence),
	    "balloond's status for %s: reserve_bytes %llu (%s), max_bytes "
	    "%llu (%s). The reserve is what balloond leaves the guest "
	    "available, the larger of [policy] guest_reserve and "
	    "guest_reserve_pct of its max: one as large as the guest means "
	    "balloond never shrinks it, and sees it starving whenever it "
	    "uses more than half of it",
	    g->name, (unsigned long long)g->reserve_bytes,
	    hs(g->reserve_bytes).s, (unsigned long long)g->max_bytes,
	    hs(g->max_bytes).s);
	app(f->fix, sizeof(f->fix),
	    "balloond.conf: [policy] guest_reserve = SIZE well below the "
	    "smallest guest's max (the default is 64M, with "
	    "guest_reserve_pct = 5), then balloonctl reload");
}

/* Right-sizing from the guest's own history: peaks on at least this many
 * of the last 14 days before doctor calls a guest too big (a week holds
 * a weekly batch job's peak), and starved on at least this many days
 * before it calls one too small. */
#define DOCTOR_SIZE_MIN_DAYS	7
#define DOCTOR_STARVED_MIN_DAYS 3

static uint64_t round_up_256m(uint64_t v)
{
	return (v + 256 * MiB - 1) / (256 * MiB) * (256 * MiB);
}

/* The commands that change a guest's memory size: the size is fixed when
 * QEMU starts, so each ends in a cold restart. */
static void app_resize_fix(char *fix, size_t size, const struct doctor_guest *g,
			   uint64_t bytes)
{
	unsigned long long mib = (unsigned long long)(bytes / MiB);
	char vmid[16];
	if (g->pve_vmid)
		snprintf(vmid, sizeof(vmid), "%u", g->pve_vmid);
	else
		snprintf(vmid, sizeof(vmid), "VMID");
	app(fix, size,
	    "The size is fixed when QEMU starts: the change takes a cold "
	    "restart (shut down and start; a reboot inside the guest is not "
	    "enough).\n"
	    "libvirt: virsh setmaxmem %s %lluMiB --config && virsh setmem %s "
	    "%lluMiB --config, then virsh shutdown %s, wait until virsh "
	    "domstate %s says shut off, and virsh start %s\n"
	    "Proxmox VE: qm set %s --memory %llu, then qm shutdown %s && qm "
	    "start %s\n"
	    "A registration with --max: balloonctl register %s --qmp PATH "
	    "--max %lluM",
	    g->name, mib, g->name, mib, g->name, g->name, g->name, vmid, mib,
	    vmid, vmid, g->name, mib);
}

static void rule_size(const struct doctor_guest *g, struct doctor_report *r)
{
	struct doctor_finding *f;
	uint64_t reserve = g->reserve_known ? g->reserve_bytes : 64 * MiB;
	if (g->peak_days >= DOCTOR_SIZE_MIN_DAYS && g->max_bytes &&
	    g->used_peak_bytes < g->max_bytes / 2) {
		uint64_t v = round_up_256m(g->used_peak_bytes + reserve);
		if (v < g->max_bytes) {
			f = add(r, "guest_too_big", DOCTOR_INFO,
				"%s is more than twice as large as it ever "
				"needed in %u days",
				g->name, g->peak_days);
			app(f->evidence, sizeof(f->evidence),
			    "balloond's status for %s: daily_used_peaks (used "
			    "= actual minus available, from guest stats) on "
			    "%u of the last 14 days, the highest %llu bytes "
			    "(%s), under half of its max %s. Suggested max: "
			    "peak %s + reserve %s (reserve_bytes%s), rounded "
			    "up to 256 MiB: %llu MiB",
			    g->name, g->peak_days,
			    (unsigned long long)g->used_peak_bytes,
			    hs(g->used_peak_bytes).s, hs(g->max_bytes).s,
			    hs(g->used_peak_bytes).s, hs(reserve).s,
			    g->reserve_known ? "" : " unknown: the default",
			    (unsigned long long)(v / MiB));
			app_resize_fix(f->fix, sizeof(f->fix), g, v);
		}
	}
	if (g->starved_days >= DOCTOR_STARVED_MIN_DAYS) {
		/* Back above the policy's grow-back mark (one and a half
		 * reserves available) at its peak, and at least a step up. */
		uint64_t v = round_up_256m(g->used_peak_bytes + reserve * 2);
		if (v < round_up_256m(g->max_bytes + 256 * MiB))
			v = round_up_256m(g->max_bytes + 256 * MiB);
		f = add(r, "guest_too_small", DOCTOR_WARNING,
			"%s starved on %u of the last 14 days", g->name,
			g->starved_days);
		app(f->evidence, sizeof(f->evidence),
		    "balloond's status for %s: daily_used_peaks marks %u days "
		    "starved (the guest reported less than half its reserve "
		    "%s available, or took memory back by deflate-on-oom); "
		    "highest daily peak of used memory %s, max %s. Suggested "
		    "max: peak + two reserves, rounded up to 256 MiB, at "
		    "least 256 MiB above the max: %llu MiB. If it starved "
		    "while balloond held it below its max (the host was "
		    "short: see the overcommit findings), the host needs the "
		    "memory, not the guest",
		    g->name, g->starved_days, hs(reserve).s,
		    hs(g->used_peak_bytes).s, hs(g->max_bytes).s,
		    (unsigned long long)(v / MiB));
		app_resize_fix(f->fix, sizeof(f->fix), g, v);
	}
}

/* Low above high watermark: balloond raises high to low, so reclaiming
 * and releasing have no gap between them and the host flaps. A low left
 * to its default is 5 % of MemTotal (the policy's), so a high set below
 * that is the same mistake. */
static void rule_watermarks(const struct doctor_daemon *d,
			    const struct doctor_host *h,
			    struct doctor_report *r)
{
	uint64_t low = d->low_watermark_bytes;
	bool low_default = !low;
	if (low_default)
		low = h->mem_total_bytes * 5 / 100;
	if (!d->config_known || !low || !d->high_watermark_bytes ||
	    low <= d->high_watermark_bytes)
		return;
	struct doctor_finding *f =
	    add(r, "watermark_low_above_high", DOCTOR_WARNING,
		"balloond's low watermark is above its high watermark");
	app(f->evidence, sizeof(f->evidence),
	    "balloond's status, config: low_watermark_bytes %llu (%s%s), "
	    "high_watermark_bytes %llu (%s) ([host] low_watermark and "
	    "high_watermark in balloond.conf). balloond reclaims below low "
	    "and releases above high; it raises high to low, which leaves no "
	    "gap: the guests are shrunk and grown back as the host's free "
	    "memory moves around that one mark",
	    (unsigned long long)low, hs(low).s,
	    low_default ? ", the default: 5 % of MemTotal" : "",
	    (unsigned long long)d->high_watermark_bytes,
	    hs(d->high_watermark_bytes).s);
	app(f->fix, sizeof(f->fix),
	    "balloond.conf: [host] high_watermark above low_watermark (for "
	    "example low + 5 %% of MemTotal), or both removed for their "
	    "defaults (5 %% and 10 %% of MemTotal), then balloonctl reload");
}

/* The balloon device's options. */
static void rule_balloon_options(const struct doctor_guest *g,
				 struct doctor_report *r)
{
	struct doctor_finding *f;
	if (g->fpr_known && !g->free_page_reporting) {
		f = add(r, "balloon_free_page_reporting_off", DOCTOR_WARNING,
			"%s: the balloon's free-page-reporting is off",
			g->name);
		app(f->evidence, sizeof(f->evidence),
		    "qom-get free-page-reporting on %s's balloon device "
		    "(through balloond): false. With it on, the guest hands "
		    "the pages it frees back to the host as it frees them, "
		    "without any target change (QEMU 5.1 and later, guest "
		    "Linux 5.7 and later)",
		    g->name);
		app(f->fix, sizeof(f->fix),
		    "libvirt: virsh edit %s, set <memballoon model='virtio' "
		    "freePageReporting='on'>, then virsh shutdown %s && virsh "
		    "start %s\n"
		    "QEMU: -device virtio-balloon-pci,free-page-reporting=on\n"
		    "(a device option: it takes a cold restart)",
		    g->name, g->name, g->name);
	}
	if (g->doom_known && g->deflate_on_oom) {
		f = add(r, "balloon_deflate_on_oom", DOCTOR_INFO,
			"%s: the balloon deflates on the guest's OOM", g->name);
		app(f->evidence, sizeof(f->evidence),
		    "qom-get deflate-on-oom on %s's balloon device (through "
		    "balloond): true. Before its OOM killer runs, the guest "
		    "takes pages back out of the balloon by itself: it is not "
		    "killed for a target set too low, but it grows without "
		    "asking, and balloond sees its balloon move without a "
		    "command of its own. balloond's starvation rule (available "
		    "under half the guest reserve: grown back to one and a "
		    "half reserves) then acts only after the guest has "
		    "already helped itself",
		    g->name);
		app(f->fix, sizeof(f->fix),
		    "Nothing to do if that is wanted; to leave the guest's "
		    "growth to balloond: virsh edit %s, set <memballoon "
		    "model='virtio' deflateOnOOM='off'> (QEMU: "
		    "deflate-on-oom=off), then a cold restart",
		    g->name);
	}
}

/* Proxmox VE's own auto-ballooning (pvestatd moves the balloon between
 * the "balloon" minimum and the memory size by "shares") fights balloond
 * unless shares is 0. */
static void rule_pve(const struct doctor_guest *g, struct doctor_report *r)
{
	if (!g->pve_conf_read || !g->pve_autoballoon)
		return;
	struct doctor_finding *f = add(
	    r, "pve_autoballoon", DOCTOR_WARNING,
	    "%s: Proxmox VE's auto-ballooning will fight balloond", g->name);
	app(f->evidence, sizeof(f->evidence),
	    "/etc/pve/qemu-server/%u.conf: balloon: %llu, shares: %llu%s "
	    "(QMP socket %s). pvestatd then sets the balloon itself, between "
	    "balloon and memory, and balloond sees its targets moved",
	    g->pve_vmid, (unsigned long long)g->pve_balloon_mib,
	    (unsigned long long)(g->pve_shares_set ? g->pve_shares : 1000),
	    g->pve_shares_set ? "" : " (the default)", g->qmp);
	app(f->fix, sizeof(f->fix), "qm set %u --shares 0", g->pve_vmid);
}

/* A [cluster] section no guest joins, and a guest naming a cluster that
 * has no section. */
static void rule_clusters(const struct doctor_daemon *d,
			  struct doctor_report *r)
{
	struct doctor_finding *f;
	for (size_t c = 0; c < d->n_clusters; c++) {
		bool joined = false;
		for (size_t i = 0; i < d->n_guests && !joined; i++)
			joined =
			    strcmp(d->guests[i].cluster, d->clusters[c]) == 0;
		if (joined)
			continue;
		f = add(r, "cluster_unused", DOCTOR_WARNING,
			"[cluster] %s: no guest joins it", d->clusters[c]);
		app(f->evidence, sizeof(f->evidence),
		    "balloond's status lists cluster %s, and no registered "
		    "guest names it (--patroni %s/MEMBER): a misspelt name on "
		    "one side or the other",
		    d->clusters[c], d->clusters[c]);
		app(f->fix, sizeof(f->fix),
		    "Register the members with --patroni %s/MEMBER (libvirt: "
		    "balloonctl enable DOMAIN --patroni %s/MEMBER), or remove "
		    "the section from balloond.conf and balloonctl reload",
		    d->clusters[c], d->clusters[c]);
	}
	for (size_t i = 0; i < d->n_guests; i++) {
		const struct doctor_guest *g = &d->guests[i];
		bool known = !g->cluster[0];
		for (size_t c = 0; c < d->n_clusters && !known; c++)
			known = strcmp(g->cluster, d->clusters[c]) == 0;
		if (known)
			continue;
		f = add(r, "cluster_missing", DOCTOR_WARNING,
			"%s names cluster %s, which has no [cluster] section",
			g->name, g->cluster);
		app(f->evidence, sizeof(f->evidence),
		    "balloond's status: guest %s in cluster %s; no cluster of "
		    "that name among balloond's [cluster] sections: balloond "
		    "keeps a Patroni guest whose cluster has no section at its "
		    "max, so this guest never lends memory",
		    g->name, g->cluster);
		app(f->fix, sizeof(f->fix),
		    "Add to balloond.conf (the name is the cluster's Patroni "
		    "scope):\n[cluster %s]\nrest_urls = http://HOST:8008\n"
		    "then balloonctl reload (see balloond.conf(5))",
		    g->cluster);
	}
}

/* ---- libvirt's hook ---- */

static void rule_libvirt(const struct doctor_libvirt *l,
			 struct doctor_report *r)
{
	static const char hook[] = "/etc/libvirt/hooks/qemu.d/balloond";
	struct doctor_finding *f;
	const char *daemon =
	    l->libvirtd_name[0] ? l->libvirtd_name : "libvirtd";
	if (l->hook_present && l->libvirtd_start_s &&
	    l->hook_mtime_s > l->libvirtd_start_s) {
		f = add(r, "libvirt_hook_stale", DOCTOR_WARNING,
			"balloond's libvirt hook is newer than %s: ignored "
			"until it restarts",
			daemon);
		app(f->evidence, sizeof(f->evidence),
		    "%s modified at %lld (stat), %s started at %lld "
		    "(/proc/PID/stat starttime after /proc/stat btime): "
		    "libvirt looks for its hooks when it starts",
		    hook, (long long)l->hook_mtime_s, daemon,
		    (long long)l->libvirtd_start_s);
		app(f->fix, sizeof(f->fix),
		    "systemctl restart %s (running guests keep running)",
		    daemon);
	}
	if (l->n_marked && (!l->hook_present || !l->hook_executable)) {
		f = add(r, "libvirt_hook_missing", DOCTOR_WARNING,
			"%u libvirt domain(s) marked for balloond, and its "
			"hook is %s",
			l->n_marked,
			l->hook_present ? "not executable" : "missing");
		app(f->evidence, sizeof(f->evidence),
		    "%u persistent domain(s) in /etc/libvirt/qemu/ carry "
		    "balloond's metadata (urn:balloond:guest:1), the first %s; "
		    "%s is %s: they start without being registered",
		    l->n_marked, l->first_marked, hook,
		    l->hook_present ? "not executable" : "missing");
		app(f->fix, sizeof(f->fix), "%s, then systemctl restart %s",
		    l->hook_present
			? "chmod 0755 /etc/libvirt/hooks/qemu.d/balloond"
			: "install balloond's hook (make install puts it in "
			  "/etc/libvirt/hooks/qemu.d/balloond, mode 0755)",
		    daemon);
	}
}

/* ---- all of them ---- */

void doctor_run_rules(const struct doctor_snapshot *s, struct doctor_report *r)
{
	struct sums m = sums_of(s);
	r->n = 0;
	rule_arc(s, &m, r);
	rule_swap(s, &m, r);
	rule_overcommit(s, &m, r);
	rule_gpu(s, r);
	rule_psi(s, r);
	rule_libvirt(&s->libvirt, r);
	rule_daemon(s, r);
	for (size_t i = 0; i < s->daemon.n_guests; i++) {
		rule_guest(&s->daemon.guests[i], r);
		rule_stuck(&s->daemon.guests[i], s->now_us, r);
		rule_pve(&s->daemon.guests[i], r);
		rule_balloon_options(&s->daemon.guests[i], r);
		rule_reserve(&s->daemon.guests[i], r);
		rule_size(&s->daemon.guests[i], r);
	}
	rule_clusters(&s->daemon, r);
	rule_watermarks(&s->daemon, &s->host, r);
	/* Worst first, in rule order within a severity (an insertion sort:
	 * stable, and the table is short). */
	for (size_t i = 1; i < r->n; i++) {
		struct doctor_finding t = r->findings[i];
		size_t j = i;
		while (j > 0 && r->findings[j - 1].severity < t.severity) {
			r->findings[j] = r->findings[j - 1];
			j--;
		}
		r->findings[j] = t;
	}
}

int doctor_worst(const struct doctor_report *r)
{
	int w = -1;
	for (size_t i = 0; i < r->n; i++)
		if ((int)r->findings[i].severity > w)
			w = (int)r->findings[i].severity;
	return w;
}
