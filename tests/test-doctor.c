/*
 * test-doctor.c: `balloonctl doctor`'s rules and parsers.
 *
 * The rules are pure: each case starts from a healthy host (62 GiB, the
 * ARC capped at 16 GiB, swap on zram, swappiness 10, PSI, no GPU driver)
 * seen by a balloond that answers with no guest, changes one thing, and
 * says whether a finding must then be there. Every finding has a case
 * that triggers it and one that does not. The parsers run on text in the
 * kernel's formats and on garbage; the status decoder on balloond's own
 * status JSON.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "ctl/doctor.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static struct doctor_snapshot *healthy(void)
{
	struct doctor_snapshot *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct doctor_host *h = &s->host;
	s->now_us = 1700000000LL * 1000000;
	h->mem_total_bytes = 62 * GiB;
	h->mem_available_bytes = 32 * GiB;
	h->swap_total_bytes = 8 * GiB;
	h->committed_as_bytes = 40 * GiB;
	h->arc_present = true;
	h->arc_c_max_bytes = 16 * GiB;
	h->arc_c_min_bytes = 2 * GiB;
	h->arc_size_bytes = 12 * GiB;
	h->arc_max_known = true;
	h->zfs_arc_max_bytes = 16 * GiB;
	h->swaps_known = true;
	h->n_swaps = 1;
	strcpy(h->swaps[0].device, "/dev/zram0");
	h->swaps[0].size_bytes = 8 * GiB;
	h->swappiness = 10;
	h->psi_present = true;
	s->daemon.answered = true;
	s->daemon.psi_trigger = true;
	return s;
}

/* A guest that raises no finding of its own. */
static struct doctor_guest *add_guest(struct doctor_snapshot *s,
				      const char *name, uint64_t max)
{
	struct doctor_guest *g = &s->daemon.guests[s->daemon.n_guests++];
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->max_bytes = max;
	g->min_bytes = max / 4;
	g->actual_known = true;
	g->actual_bytes = max / 2;
	g->target_bytes = max / 2;
	g->link_up = true;
	g->stats_known = true;
	return g;
}

static const struct doctor_finding *find(const struct doctor_report *r,
					 const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->findings[i].id, id) == 0)
			return &r->findings[i];
	return NULL;
}

/* ---- the table: one change to a healthy host, and what it must do ---- */

static void m_none(struct doctor_snapshot *s)
{
	(void)s;
}

static void m_arc_uncapped(struct doctor_snapshot *s)
{
	s->host.zfs_arc_max_bytes = 0;
	s->host.arc_c_max_bytes = 61700000000ULL;
}

/* ZFS's older default, half of RAM, is no "no cap". */
static void m_arc_default_half(struct doctor_snapshot *s)
{
	s->host.zfs_arc_max_bytes = 0;
	s->host.arc_c_max_bytes = 31 * GiB;
}

static void m_guests_48g(struct doctor_snapshot *s)
{
	add_guest(s, "db1", 24 * GiB);
	add_guest(s, "web", 24 * GiB);
}

static void m_guests_30g(struct doctor_snapshot *s)
{
	add_guest(s, "db1", 20 * GiB);
	add_guest(s, "web", 10 * GiB);
}

static void m_zvol(struct doctor_snapshot *s)
{
	strcpy(s->host.swaps[0].device, "/dev/zd0");
}

static void m_zvol_path(struct doctor_snapshot *s)
{
	strcpy(s->host.swaps[0].device, "/dev/zvol/rpool/swap");
}

static void m_zvol_swappy(struct doctor_snapshot *s)
{
	m_zvol(s);
	s->host.swappiness = 60;
}

static void m_zram_swappy(struct doctor_snapshot *s)
{
	s->host.swappiness = 60;
}

static void m_noswap_overcommit(struct doctor_snapshot *s)
{
	s->host.n_swaps = 0;
	m_guests_48g(s);
}

static void m_noswap_committed(struct doctor_snapshot *s)
{
	s->host.n_swaps = 0;
	s->host.committed_as_bytes = 70 * GiB;
}

static void m_noswap_fine(struct doctor_snapshot *s)
{
	s->host.n_swaps = 0;
	m_guests_30g(s);
}

static void m_warm(struct doctor_snapshot *s)
{
	m_guests_48g(s);
	s->host.mem_available_bytes = 1 * GiB;
	s->daemon.guests[0].actual_bytes = s->daemon.guests[0].max_bytes;
}

static void m_warm_host_fine(struct doctor_snapshot *s)
{
	m_warm(s);
	s->host.mem_available_bytes = 20 * GiB;
}

static void m_cold_host_short(struct doctor_snapshot *s)
{
	m_guests_48g(s);
	s->host.mem_available_bytes = 1 * GiB;
}

static void m_i915_headless(struct doctor_snapshot *s)
{
	strcpy(s->host.gpu_driver, "i915");
	s->host.drm_connectors = 2;
}

static void m_i915_display(struct doctor_snapshot *s)
{
	m_i915_headless(s);
	s->host.drm_connected = 1;
}

static void m_amdgpu_headless(struct doctor_snapshot *s)
{
	strcpy(s->host.gpu_driver, "amdgpu");
}

static void m_no_psi(struct doctor_snapshot *s)
{
	s->host.psi_present = false;
}

static void m_trigger_refused(struct doctor_snapshot *s)
{
	s->daemon.psi_trigger = false;
}

static void m_no_daemon(struct doctor_snapshot *s)
{
	s->daemon.answered = false;
	s->daemon.psi_trigger = false;
	snprintf(s->daemon.error, sizeof(s->daemon.error), "cannot connect");
}

static void m_arc_error(struct doctor_snapshot *s)
{
	snprintf(s->daemon.arc_error, sizeof(s->daemon.arc_error),
		 "zfs_arc_max: Read-only file system");
}

static void m_no_balloon(struct doctor_snapshot *s)
{
	struct doctor_guest *g = add_guest(s, "vm1", 4 * GiB);
	g->actual_known = false;
	snprintf(g->last_error, sizeof(g->last_error),
		 "query-balloon: DeviceNotActive: No balloon device has been "
		 "activated");
}

static void m_other_error(struct doctor_snapshot *s)
{
	struct doctor_guest *g = add_guest(s, "vm1", 4 * GiB);
	snprintf(g->last_error, sizeof(g->last_error), "timeout");
}

static void m_link_down(struct doctor_snapshot *s)
{
	add_guest(s, "vm1", 4 * GiB)->link_up = false;
}

static void m_no_stats(struct doctor_snapshot *s)
{
	add_guest(s, "vm1", 4 * GiB)->stats_known = false;
}

static void m_link_down_no_stats(struct doctor_snapshot *s)
{
	struct doctor_guest *g = add_guest(s, "vm1", 4 * GiB);
	g->link_up = false;
	g->stats_known = false;
}

static void m_foreign(struct doctor_snapshot *s)
{
	add_guest(s, "vm1", 4 * GiB)->foreign_moves = 3;
}

static void m_min_above_replica(struct doctor_snapshot *s)
{
	struct doctor_guest *g = add_guest(s, "pg1", 8 * GiB);
	g->min_bytes = 4 * GiB;
	g->replica_target_bytes = 2 * GiB;
}

static void m_min_below_replica(struct doctor_snapshot *s)
{
	struct doctor_guest *g = add_guest(s, "pg1", 8 * GiB);
	g->min_bytes = 2 * GiB;
	g->replica_target_bytes = 2 * GiB;
}

static struct doctor_guest *pve_guest(struct doctor_snapshot *s)
{
	struct doctor_guest *g = add_guest(s, "vm101", 4 * GiB);
	snprintf(g->qmp, sizeof(g->qmp), "/run/qemu-server/101.qmp");
	g->pve_vmid = 101;
	g->pve_conf_read = true;
	g->pve_autoballoon = true;
	g->pve_balloon_mib = 2048;
	return g;
}

static void m_pve_default_shares(struct doctor_snapshot *s)
{
	pve_guest(s);
}

static void m_pve_shares(struct doctor_snapshot *s)
{
	struct doctor_guest *g = pve_guest(s);
	g->pve_shares_set = true;
	g->pve_shares = 500;
}

/* balloon: 2048 with shares: 0 (hooks/pveconf.c's verdict). */
static void m_pve_shares_0(struct doctor_snapshot *s)
{
	struct doctor_guest *g = pve_guest(s);
	g->pve_shares_set = true;
	g->pve_shares = 0;
	g->pve_autoballoon = false;
}

static void m_pve_unreadable(struct doctor_snapshot *s)
{
	pve_guest(s)->pve_conf_read = false;
}

static void m_cluster_alone(struct doctor_snapshot *s)
{
	strcpy(s->daemon.clusters[s->daemon.n_clusters++], "pg1");
	add_guest(s, "web", 4 * GiB);
}

static void m_cluster_joined(struct doctor_snapshot *s)
{
	m_cluster_alone(s);
	strcpy(add_guest(s, "pg1-a", 4 * GiB)->cluster, "pg1");
}

static void m_cluster_no_section(struct doctor_snapshot *s)
{
	m_cluster_joined(s);
	strcpy(add_guest(s, "pg2-a", 4 * GiB)->cluster, "pg2");
}

static void m_hook_after_libvirtd(struct doctor_snapshot *s)
{
	s->libvirt.hook_present = true;
	s->libvirt.hook_executable = true;
	s->libvirt.libvirtd_start_s = 1700001000;
	s->libvirt.hook_mtime_s = 1700002000;
}

static void m_hook_before_libvirtd(struct doctor_snapshot *s)
{
	m_hook_after_libvirtd(s);
	s->libvirt.hook_mtime_s = 1700000500;
}

static void m_hook_no_libvirtd(struct doctor_snapshot *s)
{
	m_hook_after_libvirtd(s);
	s->libvirt.libvirtd_start_s = 0;
}

static void m_marked_no_hook(struct doctor_snapshot *s)
{
	s->libvirt.n_marked = 2;
	strcpy(s->libvirt.first_marked, "web");
}

static void m_marked_hook_not_exec(struct doctor_snapshot *s)
{
	m_hook_before_libvirtd(s);
	m_marked_no_hook(s);
	s->libvirt.hook_executable = false;
}

static void m_marked_hook_ok(struct doctor_snapshot *s)
{
	m_hook_before_libvirtd(s);
	m_marked_no_hook(s);
}

static void m_fpr_off(struct doctor_snapshot *s)
{
	add_guest(s, "vm1", 4 * GiB)->fpr_known = true;
}

static void m_fpr_on(struct doctor_snapshot *s)
{
	struct doctor_guest *g = add_guest(s, "vm1", 4 * GiB);
	g->fpr_known = true;
	g->free_page_reporting = true;
}

static void m_doom_on(struct doctor_snapshot *s)
{
	struct doctor_guest *g = add_guest(s, "vm1", 4 * GiB);
	g->doom_known = true;
	g->deflate_on_oom = true;
}

static void m_doom_off(struct doctor_snapshot *s)
{
	add_guest(s, "vm1", 4 * GiB)->doom_known = true;
}

/* Balloond set 1 GiB 90 s ago; the balloon stayed at 4 GiB. */
static void m_stuck(struct doctor_snapshot *s)
{
	struct doctor_guest *g = add_guest(s, "vm1", 4 * GiB);
	g->target_bytes = 1 * GiB;
	g->actual_bytes = 4 * GiB;
	g->last_action_us = s->now_us - 90 * 1000000LL;
}

static void m_stuck_recent(struct doctor_snapshot *s)
{
	m_stuck(s);
	s->daemon.guests[0].last_action_us = s->now_us - 10 * 1000000LL;
}

static void m_moved(struct doctor_snapshot *s)
{
	m_stuck(s);
	s->daemon.guests[0].actual_bytes = 1 * GiB + 16 * MiB;
}

static void m_reserve_above_max(struct doctor_snapshot *s)
{
	struct doctor_guest *g = add_guest(s, "tiny", 512 * MiB);
	g->reserve_known = true;
	g->reserve_bytes = 1 * GiB;
}

static void m_reserve_below_max(struct doctor_snapshot *s)
{
	struct doctor_guest *g = add_guest(s, "tiny", 512 * MiB);
	g->reserve_known = true;
	g->reserve_bytes = 64 * MiB;
}

static void m_low_above_high(struct doctor_snapshot *s)
{
	s->daemon.config_known = true;
	s->daemon.low_watermark_bytes = 4 * GiB;
	s->daemon.high_watermark_bytes = 2 * GiB;
}

static void m_low_below_high(struct doctor_snapshot *s)
{
	s->daemon.config_known = true;
	s->daemon.low_watermark_bytes = 2 * GiB;
	s->daemon.high_watermark_bytes = 4 * GiB;
}

static void m_high_below_default_low(struct doctor_snapshot *s)
{
	/* low 0: 5 % of MemTotal, 1.2 GiB of 24 GiB, above a high of
	 * 256 MiB, which balloond raises to it. */
	s->daemon.config_known = true;
	s->daemon.high_watermark_bytes = 256 * MiB;
	s->host.mem_total_bytes = 24 * GiB;
}

static void m_high_above_default_low(struct doctor_snapshot *s)
{
	s->daemon.config_known = true;
	s->daemon.high_watermark_bytes = 2 * GiB;
	s->host.mem_total_bytes = 24 * GiB;
}

static void m_high_default(struct doctor_snapshot *s)
{
	/* high 0: low plus 5 % of MemTotal, never below low. */
	s->daemon.config_known = true;
	s->daemon.low_watermark_bytes = 4 * GiB;
}

/* A 16 GiB web guest whose use peaked at 3 GiB over days of history. */
static struct doctor_guest *web(struct doctor_snapshot *s, unsigned days)
{
	struct doctor_guest *g = add_guest(s, "web", 16 * GiB);
	g->reserve_known = true;
	g->reserve_bytes = 800 * MiB;
	g->peak_days = days;
	g->used_peak_bytes = 3 * GiB;
	return g;
}

static void m_big_14_days(struct doctor_snapshot *s)
{
	web(s, 14);
}

static void m_big_7_days(struct doctor_snapshot *s)
{
	web(s, 7);
}

static void m_big_6_days(struct doctor_snapshot *s)
{
	web(s, 6);
}

static void m_half_used(struct doctor_snapshot *s)
{
	web(s, 14)->used_peak_bytes = 8 * GiB;
}

static void m_starved_3_days(struct doctor_snapshot *s)
{
	web(s, 14)->starved_days = 3;
}

static void m_starved_2_days(struct doctor_snapshot *s)
{
	web(s, 14)->starved_days = 2;
}

struct rule_case {
	const char *name;
	void (*mutate)(struct doctor_snapshot *s);
	const char *id;
	bool present;
	enum doctor_severity severity; /* when present */
};

static const struct rule_case cases[] = {
    {"healthy: no ARC finding", m_none, "arc_uncapped", false, 0},
    {"zfs_arc_max 0, c_max 61.7 GB of 62 GiB", m_arc_uncapped, "arc_uncapped",
     true, DOCTOR_CRITICAL},
    {"zfs_arc_max 0, c_max half of RAM", m_arc_default_half, "arc_uncapped",
     false, 0},
    {"ARC 16G + guests 48G + reserve > 62G", m_guests_48g, "arc_cap_high", true,
     DOCTOR_WARNING},
    {"ARC 16G + guests 30G + reserve < 62G", m_guests_30g, "arc_cap_high",
     false, 0},
    {"swap on /dev/zd0", m_zvol, "swap_on_zvol", true, DOCTOR_CRITICAL},
    {"swap on /dev/zvol/...", m_zvol_path, "swap_on_zvol", true,
     DOCTOR_CRITICAL},
    {"swap on zram", m_none, "swap_on_zvol", false, 0},
    {"zvol swap, swappiness 60", m_zvol_swappy, "swappiness_high", true,
     DOCTOR_WARNING},
    {"zvol swap, swappiness 10", m_zvol, "swappiness_high", false, 0},
    {"zram swap, swappiness 60", m_zram_swappy, "swappiness_high", false, 0},
    {"no swap, guests overcommit", m_noswap_overcommit, "no_swap", true,
     DOCTOR_WARNING},
    {"no swap, Committed_AS above MemTotal", m_noswap_committed, "no_swap",
     true, DOCTOR_WARNING},
    {"no swap, no overcommit", m_noswap_fine, "no_swap", false, 0},
    {"guests 48G + ARC 16G + reserve > 62G", m_guests_48g, "overcommit", true,
     DOCTOR_WARNING},
    {"guests 30G + ARC 16G + reserve < 62G", m_guests_30g, "overcommit", false,
     0},
    {"a guest at max, host short", m_warm, "guests_warm", true,
     DOCTOR_CRITICAL},
    {"a guest at max, host not short", m_warm_host_fine, "guests_warm", false,
     0},
    {"host short, guests at half", m_cold_host_short, "guests_warm", false, 0},
    {"i915, no connector connected", m_i915_headless, "gpu_shrinker_headless",
     true, DOCTOR_WARNING},
    {"amdgpu, no connector at all", m_amdgpu_headless, "gpu_shrinker_headless",
     true, DOCTOR_WARNING},
    {"i915 with a display", m_i915_display, "gpu_shrinker_headless", false, 0},
    {"no GPU driver", m_none, "gpu_shrinker_headless", false, 0},
    {"no /proc/pressure/memory", m_no_psi, "psi_unavailable", true,
     DOCTOR_WARNING},
    {"PSI there", m_none, "psi_unavailable", false, 0},
    {"balloond without a PSI trigger", m_trigger_refused, "psi_trigger_refused",
     true, DOCTOR_WARNING},
    {"balloond with its PSI trigger", m_none, "psi_trigger_refused", false, 0},
    {"no balloond: trigger not judged", m_no_daemon, "psi_trigger_refused",
     false, 0},
    {"no PSI: its trigger not judged", m_no_psi, "psi_trigger_refused", false,
     0},
    {"balloond not answering", m_no_daemon, "daemon_absent", true, DOCTOR_INFO},
    {"balloond answering", m_none, "daemon_absent", false, 0},
    {"balloond's ARC write refused", m_arc_error, "arc_write_refused", true,
     DOCTOR_WARNING},
    {"no ARC error", m_none, "arc_write_refused", false, 0},
    {"DeviceNotActive", m_no_balloon, "guest_no_balloon", true, DOCTOR_WARNING},
    {"another error", m_other_error, "guest_no_balloon", false, 0},
    {"link down", m_link_down, "guest_link_down", true, DOCTOR_WARNING},
    {"link up", m_foreign, "guest_link_down", false, 0},
    {"no guest stats", m_no_stats, "guest_no_stats", true, DOCTOR_WARNING},
    {"guest stats", m_foreign, "guest_no_stats", false, 0},
    {"link down: stats not judged", m_link_down_no_stats, "guest_no_stats",
     false, 0},
    {"foreign moves", m_foreign, "guest_foreign_moves", true, DOCTOR_WARNING},
    {"no foreign move", m_no_stats, "guest_foreign_moves", false, 0},
    {"min above replica target", m_min_above_replica, "guest_min_above_replica",
     true, DOCTOR_WARNING},
    {"min at replica target", m_min_below_replica, "guest_min_above_replica",
     false, 0},
    {"Proxmox VE: balloon, shares by default", m_pve_default_shares,
     "pve_autoballoon", true, DOCTOR_WARNING},
    {"Proxmox VE: balloon, shares 500", m_pve_shares, "pve_autoballoon", true,
     DOCTOR_WARNING},
    {"Proxmox VE: balloon, shares 0", m_pve_shares_0, "pve_autoballoon", false,
     0},
    {"Proxmox VE: config unreadable", m_pve_unreadable, "pve_autoballoon",
     false, 0},
    {"[cluster pg1], no guest joins", m_cluster_alone, "cluster_unused", true,
     DOCTOR_WARNING},
    {"[cluster pg1], a guest joins", m_cluster_joined, "cluster_unused", false,
     0},
    {"a guest in pg2, no section", m_cluster_no_section, "cluster_missing",
     true, DOCTOR_WARNING},
    {"a guest in pg1, its section", m_cluster_joined, "cluster_missing", false,
     0},
    {"hook newer than libvirtd", m_hook_after_libvirtd, "libvirt_hook_stale",
     true, DOCTOR_WARNING},
    {"hook older than libvirtd", m_hook_before_libvirtd, "libvirt_hook_stale",
     false, 0},
    {"hook, libvirtd not running", m_hook_no_libvirtd, "libvirt_hook_stale",
     false, 0},
    {"marked domains, no hook", m_marked_no_hook, "libvirt_hook_missing", true,
     DOCTOR_WARNING},
    {"marked domains, hook not executable", m_marked_hook_not_exec,
     "libvirt_hook_missing", true, DOCTOR_WARNING},
    {"marked domains, hook in place", m_marked_hook_ok, "libvirt_hook_missing",
     false, 0},
    {"no marked domain, no hook", m_none, "libvirt_hook_missing", false, 0},
    {"free-page-reporting off", m_fpr_off, "balloon_free_page_reporting_off",
     true, DOCTOR_WARNING},
    {"free-page-reporting on", m_fpr_on, "balloon_free_page_reporting_off",
     false, 0},
    {"free-page-reporting unknown (QEMU before 5.1)", m_foreign,
     "balloon_free_page_reporting_off", false, 0},
    {"deflate-on-oom on", m_doom_on, "balloon_deflate_on_oom", true,
     DOCTOR_INFO},
    {"deflate-on-oom off", m_doom_off, "balloon_deflate_on_oom", false, 0},
    {"target 1G, actual 4G, 90 s after", m_stuck, "guest_balloon_stuck", true,
     DOCTOR_WARNING},
    {"target 1G, actual 4G, 10 s after", m_stuck_recent, "guest_balloon_stuck",
     false, 0},
    {"target 1G, actual within 64 MiB", m_moved, "guest_balloon_stuck", false,
     0},
    {"reserve 1 GiB, max 512 MiB", m_reserve_above_max,
     "guest_reserve_above_max", true, DOCTOR_WARNING},
    {"reserve 64 MiB, max 512 MiB", m_reserve_below_max,
     "guest_reserve_above_max", false, 0},
    {"reserve unknown (an older balloond)", m_foreign,
     "guest_reserve_above_max", false, 0},
    {"low 4 GiB above high 2 GiB", m_low_above_high, "watermark_low_above_high",
     true, DOCTOR_WARNING},
    {"low 2 GiB below high 4 GiB", m_low_below_high, "watermark_low_above_high",
     false, 0},
    {"low 4 GiB, high by default", m_high_default, "watermark_low_above_high",
     false, 0},
    {"high 256 MiB, low by default (1.2 GiB of 24 GiB)",
     m_high_below_default_low, "watermark_low_above_high", true,
     DOCTOR_WARNING},
    {"high 2 GiB, low by default (1.2 GiB of 24 GiB)", m_high_above_default_low,
     "watermark_low_above_high", false, 0},
    {"peak 3 GiB of 16 GiB over 14 days", m_big_14_days, "guest_too_big", true,
     DOCTOR_INFO},
    {"peak 3 GiB of 16 GiB over 7 days", m_big_7_days, "guest_too_big", true,
     DOCTOR_INFO},
    {"peak 3 GiB of 16 GiB, only 6 days", m_big_6_days, "guest_too_big", false,
     0},
    {"peak 8 GiB of 16 GiB", m_half_used, "guest_too_big", false, 0},
    {"no history (an older balloond)", m_foreign, "guest_too_big", false, 0},
    {"starved on 3 days", m_starved_3_days, "guest_too_small", true,
     DOCTOR_WARNING},
    {"starved on 2 days", m_starved_2_days, "guest_too_small", false, 0},
};

static void test_rule_table(void **state)
{
	(void)state;
	struct doctor_report *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	int failed = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rule_case *c = &cases[i];
		struct doctor_snapshot *s = healthy();
		c->mutate(s);
		doctor_run_rules(s, r);
		const struct doctor_finding *f = find(r, c->id);
		bool ok = c->present
			      ? f && f->severity == c->severity &&
				    f->title[0] && f->evidence[0] && f->fix[0]
			      : !f;
		printf("# %s: %s %s%s\n", ok ? "ok" : "FAILED", c->name, c->id,
		       c->present ? "" : " (absent)");
		failed += !ok;
		free(s);
	}
	free(r);
	assert_int_equal(failed, 0);
}

/* The healthy host raises nothing at all; every finding id in the table
 * is triggered by some case (no rule is left untested). */
static void test_healthy_clean(void **state)
{
	(void)state;
	struct doctor_report *r = calloc(1, sizeof(*r));
	struct doctor_snapshot *s = healthy();
	doctor_run_rules(s, r);
	for (size_t i = 0; i < r->n; i++)
		printf("# unexpected: %s\n", r->findings[i].id);
	assert_int_equal(r->n, 0);
	assert_int_equal(doctor_worst(r), -1);
	free(s);
	free(r);
}

/* The incident host: findings worst first, the ARC's suggestion with its
 * arithmetic, and the three kinds of fix. */
static void test_incident_order_and_fix(void **state)
{
	(void)state;
	struct doctor_report *r = calloc(1, sizeof(*r));
	struct doctor_snapshot *s = healthy();
	m_no_daemon(s);
	m_arc_uncapped(s);
	m_zvol_swappy(s);
	m_i915_headless(s);
	doctor_run_rules(s, r);
	assert_int_equal(doctor_worst(r), DOCTOR_CRITICAL);
	for (size_t i = 1; i < r->n; i++)
		assert_true(r->findings[i - 1].severity >=
			    r->findings[i].severity);
	assert_string_equal(r->findings[r->n - 1].id, "daemon_absent");
	const struct doctor_finding *f = find(r, "arc_uncapped");
	assert_non_null(f);
	/* No guest known: a quarter of 62 GiB, 15.5 GiB, already a multiple
	 * of 256 MiB. */
	assert_non_null(strstr(f->evidence, "62.0 GiB / 4 = 15.5 GiB"));
	assert_non_null(strstr(
	    f->fix,
	    "echo 16642998272 > /sys/module/zfs/parameters/zfs_arc_max"));
	assert_non_null(strstr(f->fix, "/etc/modprobe.d/zfs.conf"));
	assert_non_null(strstr(f->fix, "boot.kernelParams"));
	f = find(r, "swappiness_high");
	assert_non_null(f);
	assert_non_null(strstr(f->fix, "sysctl -w vm.swappiness=10"));
	assert_non_null(strstr(f->fix, "/etc/sysctl.d/"));
	assert_non_null(strstr(f->fix, "boot.kernel.sysctl"));
	assert_non_null(find(r, "swap_on_zvol"));
	assert_non_null(find(r, "gpu_shrinker_headless"));
	free(s);
	free(r);
}

/* With guests, the suggested cap is what they and the reserve leave:
 * 62 GiB - 48 GiB - 1.86 GiB (3 %) = 12.14 GiB, rounded down to 256 MiB
 * (12 GiB), then at most half of RAM (31 GiB: not reached). */
static void test_arc_suggestion_with_guests(void **state)
{
	(void)state;
	struct doctor_report *r = calloc(1, sizeof(*r));
	struct doctor_snapshot *s = healthy();
	m_guests_48g(s);
	s->host.arc_c_max_bytes = 30 * GiB;
	doctor_run_rules(s, r);
	const struct doctor_finding *f = find(r, "arc_cap_high");
	assert_non_null(f);
	uint64_t reserve = doctor_host_reserve_bytes(62 * GiB);
	assert_int_equal(reserve, 62 * GiB * 3 / 100);
	uint64_t want = 62 * GiB - 48 * GiB - reserve;
	want -= want % (256 * MiB);
	char echo[128];
	snprintf(echo, sizeof(echo), "echo %llu > ", (unsigned long long)want);
	assert_non_null(strstr(f->fix, echo));
	assert_non_null(strstr(f->evidence, "MemTotal 62.0 GiB - guests' max "
					    "48.0 GiB - host reserve 1.9 GiB"));
	free(s);
	free(r);
}

/* Guests that leave less than c_min: the suggestion is c_min rounded up
 * to 256 MiB, since ZFS ignores a zfs_arc_max below c_min. */
static void test_arc_suggestion_above_c_min(void **state)
{
	(void)state;
	struct doctor_report *r = calloc(1, sizeof(*r));
	struct doctor_snapshot *s = healthy();
	add_guest(s, "big", 60 * GiB);
	s->host.arc_c_min_bytes = 2080374784; /* 1.94 GiB */
	doctor_run_rules(s, r);
	const struct doctor_finding *f = find(r, "arc_cap_high");
	assert_non_null(f);
	assert_non_null(
	    strstr(f->fix, "echo 2147483648 > /sys/module/zfs/parameters/"));
	assert_non_null(strstr(f->evidence, "at least c_min 1.9 GiB"));
	free(s);
	free(r);
}

/* ---- parsers ---- */

static const char meminfo[] = "MemTotal:       65011712 kB\n"
			      "MemFree:         1048576 kB\n"
			      "MemAvailable:    2097152 kB\n"
			      "SwapTotal:       8388604 kB\n"
			      "Committed_AS:   70254592 kB\n"
			      "HugePages_Total:       0\n";

static void test_parse_meminfo(void **state)
{
	(void)state;
	uint64_t v;
	size_t n = strlen(meminfo);
	assert_int_equal(doctor_parse_meminfo_field(meminfo, n, "MemTotal", &v),
			 0);
	assert_int_equal(v, 65011712ULL * 1024);
	assert_int_equal(
	    doctor_parse_meminfo_field(meminfo, n, "Committed_AS", &v), 0);
	assert_int_equal(v, 70254592ULL * 1024);
	/* A count without a unit is taken as it is. */
	assert_int_equal(
	    doctor_parse_meminfo_field(meminfo, n, "HugePages_Total", &v), 0);
	assert_int_equal(v, 0);
	/* "Mem" is a prefix of MemTotal, not a field. */
	assert_int_equal(doctor_parse_meminfo_field(meminfo, n, "Mem", &v),
			 -ENODATA);
	assert_int_equal(
	    doctor_parse_meminfo_field("MemTotal: x kB\n", 15, "MemTotal", &v),
	    -EINVAL);
	assert_int_equal(
	    doctor_parse_meminfo_field("MemTotal: 5 MB\n", 15, "MemTotal", &v),
	    -EINVAL);
	assert_int_equal(
	    doctor_parse_meminfo_field("MemTotal: 99999999999999999999 kB\n",
				       33, "MemTotal", &v),
	    -ERANGE);
	assert_int_equal(v, 0);
	/* The length bounds the read: the field cut off is not there. */
	assert_int_equal(doctor_parse_meminfo_field(meminfo, 5, "MemTotal", &v),
			 -ENODATA);
}

static void test_parse_kstat_and_number(void **state)
{
	(void)state;
	static const char arc[] = "13 1 0x01 123 33456 5029341722 1\n"
				  "name                            type data\n"
				  "c_min                           4    "
				  "2080374784\n"
				  "c_max                           4    "
				  "61696000000\n";
	uint64_t v;
	assert_int_equal(doctor_parse_kstat_row(arc, strlen(arc), "c_max", &v),
			 0);
	assert_int_equal(v, 61696000000ULL);
	assert_int_equal(doctor_parse_kstat_row(arc, strlen(arc), "c", &v),
			 -ENODATA);
	assert_int_equal(
	    doctor_parse_kstat_row("c_max 4 12x\n", 12, "c_max", &v), -EINVAL);
	assert_int_equal(doctor_parse_kstat_row("c_max\n", 6, "c_max", &v),
			 -EINVAL);
	assert_int_equal(doctor_parse_number("60\n", 3, &v), 0);
	assert_int_equal(v, 60);
	assert_int_equal(doctor_parse_number("0", 1, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(doctor_parse_number("", 0, &v), -EINVAL);
	assert_int_equal(doctor_parse_number("6 0\n", 4, &v), -EINVAL);
	assert_int_equal(doctor_parse_number("60\n\n", 4, &v), -EINVAL);
}

static void test_parse_swaps(void **state)
{
	(void)state;
	static const char swaps[] =
	    "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
	    "/dev/zd0                                partition\t8388604\t\t"
	    "6291452\t\t-2\n"
	    "/swapfile                               file\t\t1048572\t\t0\t\t"
	    "-3\n";
	struct doctor_swap sw[4];
	size_t n;
	assert_int_equal(doctor_parse_swaps(swaps, strlen(swaps), sw, 4, &n),
			 0);
	assert_int_equal(n, 2);
	assert_string_equal(sw[0].device, "/dev/zd0");
	assert_int_equal(sw[0].size_bytes, 8388604ULL * 1024);
	assert_string_equal(sw[1].device, "/swapfile");
	/* Only the header: no swap. */
	assert_int_equal(doctor_parse_swaps(swaps, 39, sw, 4, &n), 0);
	assert_int_equal(n, 0);
	/* More devices than room: the first ones kept. */
	assert_int_equal(doctor_parse_swaps(swaps, strlen(swaps), sw, 1, &n),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(doctor_parse_swaps("", 0, sw, 4, &n), -EINVAL);
	assert_int_equal(doctor_parse_swaps("garbage\n", 8, sw, 4, &n),
			 -EINVAL);
	static const char bad[] = "Filename Type Size\n/dev/sda2 partition x\n";
	assert_int_equal(doctor_parse_swaps(bad, strlen(bad), sw, 4, &n),
			 -EINVAL);
}

/* balloond's status as methods.c and registry.c write it. */
/* Too big: the suggestion's arithmetic and the commands, with the
 * Proxmox VE VMID when the guest is one; too small: a step up. */
static void test_right_sizing(void **state)
{
	(void)state;
	struct doctor_report *r = calloc(1, sizeof(*r));
	struct doctor_snapshot *s = healthy();
	struct doctor_guest *g = web(s, 14);
	doctor_run_rules(s, r);
	const struct doctor_finding *f = find(r, "guest_too_big");
	assert_non_null(f);
	/* 3 GiB + 800 MiB = 3872 MiB, up to 256 MiB: 4096 MiB. */
	assert_non_null(strstr(f->evidence, "on 14 of the last 14 days"));
	assert_non_null(strstr(f->evidence, "rounded up to 256 MiB: 4096 MiB"));
	assert_non_null(strstr(f->fix, "cold restart"));
	assert_non_null(
	    strstr(f->fix, "virsh setmaxmem web 4096MiB --config && virsh "
			   "setmem web 4096MiB --config, then virsh shutdown "
			   "web"));
	assert_non_null(strstr(f->fix, "virsh start web"));
	assert_non_null(strstr(f->fix, "qm set VMID --memory 4096, then"));
	strcpy(g->qmp, "/run/qemu-server/104.qmp");
	g->pve_vmid = 104;
	g->used_peak_bytes = 3 * GiB + 512 * MiB; /* 4.28 GiB: 4608 MiB */
	doctor_run_rules(s, r);
	f = find(r, "guest_too_big");
	assert_non_null(f);
	assert_non_null(strstr(f->fix, "qm set 104 --memory 4608, then qm "
				       "shutdown 104 && qm start 104"));
	/* Starved: peak 15 GiB + two reserves (16960 MiB), rounded up,
	 * above max + 256 MiB. */
	g->used_peak_bytes = 15 * GiB;
	g->starved_days = 4;
	doctor_run_rules(s, r);
	assert_null(find(r, "guest_too_big"));
	f = find(r, "guest_too_small");
	assert_non_null(f);
	assert_string_equal(f->title, "web starved on 4 of the last 14 days");
	assert_non_null(strstr(f->evidence, "above the max: 17152 MiB"));
	assert_non_null(
	    strstr(f->fix, "virsh setmaxmem web 17152MiB --config"));
	/* A low peak: at least 256 MiB more than the max. */
	g->used_peak_bytes = 1 * GiB;
	doctor_run_rules(s, r);
	f = find(r, "guest_too_small");
	assert_non_null(f);
	assert_non_null(strstr(f->evidence, "above the max: 16640 MiB"));
	free(s);
	free(r);
}

static void test_decode_status(void **state)
{
	(void)state;
	static const char status[] =
	    "{\"guests\": [{\"name\": \"db1\", \"qmp\": \"/run/q\", "
	    "\"max_bytes\": 8589934592, \"min_bytes\": 1073741824, "
	    "\"replica_target_bytes\": 2147483648, \"target_bytes\": "
	    "4294967296, \"actual_bytes\": 4294967296, \"role\": \"replica\", "
	    "\"priority\": 0, \"link\": \"up\", \"reason\": \"x\", "
	    "\"foreign_moves\": 2, \"last_action\": \"set\", "
	    "\"last_action_us\": 5, \"reserve_bytes\": 429496729, "
	    "\"used_peak_bytes\": 9, \"daily_used_peaks\": ["
	    "{\"date\": \"2026-12-06\", \"used_bytes\": 7, \"starved\": true},"
	    "{\"date\": \"2026-12-05\", \"starved\": true}, 5, "
	    "{\"date\": \"2026-12-04\", \"used_bytes\": 9}], "
	    "\"guest_stats\": {\"free_bytes\": 1, \"last_update\": 17}},"
	    "{\"name\": \"web\", \"max_bytes\": 4294967296, \"min_bytes\": 0, "
	    "\"target_bytes\": 0, \"actual_bytes\": null, \"link\": \"down\", "
	    "\"last_error\": \"DeviceNotActive\", \"foreign_moves\": 0}],"
	    "\"clusters\": {\"pg1\": {\"reachable\": false}}, "
	    "\"daemon\": {}, \"host\": {\"known\": true, \"psi_trigger\": "
	    "false, \"arc_error\": \"EROFS\"}, \"config\": "
	    "{\"low_watermark_bytes\": 3, \"high_watermark_bytes\": 2}}";
	json_object *o = json_tokener_parse(status);
	assert_non_null(o);
	struct doctor_daemon *d = calloc(1, sizeof(*d));
	doctor_decode_status(o, d);
	json_object_put(o);
	assert_true(d->answered);
	assert_false(d->psi_trigger);
	assert_string_equal(d->arc_error, "EROFS");
	assert_int_equal(d->n_guests, 2);
	assert_string_equal(d->guests[0].name, "db1");
	assert_string_equal(d->guests[0].qmp, "/run/q");
	assert_int_equal(d->guests[0].pve_vmid, 0);
	assert_int_equal(d->n_clusters, 1);
	assert_string_equal(d->clusters[0], "pg1");
	assert_int_equal(d->guests[0].max_bytes, 8 * GiB);
	assert_int_equal(d->guests[0].replica_target_bytes, 2 * GiB);
	assert_true(d->guests[0].actual_known);
	assert_int_equal(d->guests[0].actual_bytes, 4 * GiB);
	assert_true(d->guests[0].link_up);
	assert_true(d->guests[0].stats_known);
	assert_int_equal(d->guests[0].foreign_moves, 2);
	assert_int_equal(d->guests[0].last_action_us, 5);
	assert_false(d->guests[1].actual_known);
	assert_false(d->guests[1].link_up);
	assert_false(d->guests[1].stats_known);
	assert_string_equal(d->guests[1].last_error, "DeviceNotActive");
	assert_true(d->guests[0].reserve_known);
	assert_int_equal(d->guests[0].reserve_bytes, 429496729);
	assert_int_equal(d->guests[0].peak_days, 2);
	assert_int_equal(d->guests[0].starved_days, 2);
	assert_int_equal(d->guests[0].used_peak_bytes, 9);
	assert_false(d->guests[1].reserve_known);
	assert_int_equal(d->guests[1].peak_days, 0);
	assert_true(d->config_known);
	assert_int_equal(d->low_watermark_bytes, 3);
	assert_int_equal(d->high_watermark_bytes, 2);
	/* Not an object: answered, nothing else. */
	memset(d, 0, sizeof(*d));
	o = json_object_new_array();
	doctor_decode_status(o, d);
	json_object_put(o);
	assert_true(d->answered);
	assert_int_equal(d->n_guests, 0);
	free(d);
}

static void test_pve(void **state)
{
	(void)state;
	assert_int_equal(doctor_pve_vmid("/run/qemu-server/101.qmp"), 101);
	assert_int_equal(doctor_pve_vmid("/var/run/qemu-server/4242.qmp"),
			 4242);
	assert_int_equal(doctor_pve_vmid("/run/qemu-server/101.qmp.x"), 0);
	assert_int_equal(doctor_pve_vmid("/run/qemu-server/99.qmp"), 0);
	assert_int_equal(doctor_pve_vmid("/run/qemu-server/.qmp"), 0);
	assert_int_equal(doctor_pve_vmid("/run/balloond/qmp/web.sock"), 0);
	assert_int_equal(doctor_pve_vmid("/run/balloond/pve/100.qmp"), 100);
}

static void test_parse_proc_stat(void **state)
{
	(void)state;
	/* A comm with blanks and parentheses: fields count from the last
	 * ')'. starttime (22) is 337758. */
	static const char stat[] =
	    "22051 (a) b (c) S 22048 22051 22051 0 -1 4194560 27165 6806079 0 "
	    "77 11 20 18325 3126 20 0 1 0 337758 5378048 1030\n";
	uint64_t v;
	assert_int_equal(doctor_parse_stat_starttime(stat, strlen(stat), &v),
			 0);
	assert_int_equal(v, 337758);
	/* Cut before field 22. */
	const char *cut = strstr(stat, " 337758");
	assert_int_equal(
	    doctor_parse_stat_starttime(stat, (size_t)(cut - stat), &v),
	    -EINVAL);
	assert_int_equal(doctor_parse_stat_starttime("1 x S", 5, &v), -EINVAL);
	static const char pstat[] = "cpu  1 2 3\nintr 5\nbtime 1700000000\n"
				    "processes 9\n";
	assert_int_equal(doctor_parse_btime(pstat, strlen(pstat), &v), 0);
	assert_int_equal(v, 1700000000);
	assert_int_equal(doctor_parse_btime(pstat, 10, &v), -ENODATA);
	assert_int_equal(doctor_parse_btime("btime x\n", 8, &v), -EINVAL);
}

static void test_find_balloon(void **state)
{
	(void)state;
	json_object *l = json_tokener_parse(
	    "[{\"name\": \"type\", \"type\": \"string\"}, {\"name\": "
	    "\"net0\", \"type\": \"child<virtio-net-pci>\"}, {\"name\": "
	    "\"balloon0\", \"type\": \"child<virtio-balloon-pci>\"}]");
	char path[64];
	assert_true(
	    doctor_find_balloon(l, "/machine/peripheral", path, sizeof(path)));
	assert_string_equal(path, "/machine/peripheral/balloon0");
	/* Too long for the buffer: not a path. */
	assert_false(doctor_find_balloon(l, "/machine/peripheral", path, 20));
	json_object_put(l);
	l = json_tokener_parse("[{\"name\": \"net0\", \"type\": "
			       "\"child<virtio-net-pci>\"}, {\"name\": 1}]");
	assert_false(
	    doctor_find_balloon(l, "/machine/peripheral", path, sizeof(path)));
	json_object_put(l);
	assert_false(doctor_find_balloon(NULL, "/m", path, sizeof(path)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rule_table),
	    cmocka_unit_test(test_healthy_clean),
	    cmocka_unit_test(test_incident_order_and_fix),
	    cmocka_unit_test(test_arc_suggestion_with_guests),
	    cmocka_unit_test(test_arc_suggestion_above_c_min),
	    cmocka_unit_test(test_parse_meminfo),
	    cmocka_unit_test(test_parse_kstat_and_number),
	    cmocka_unit_test(test_parse_swaps),
	    cmocka_unit_test(test_right_sizing),
	    cmocka_unit_test(test_decode_status),
	    cmocka_unit_test(test_pve),
	    cmocka_unit_test(test_parse_proc_stat),
	    cmocka_unit_test(test_find_balloon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
