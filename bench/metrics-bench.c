/*
 * metrics-bench: the cost of rendering balloond's Prometheus exposition
 * (bd_metrics_render) with N registered guests (default 1,000), on the
 * thread that would be balloond's loop: the time per render (median, 99th
 * percentile and longest, over many renders: each scrape and each
 * textfile write costs one), the bytes rendered, and the memory the
 * metrics add (the per-guest counters, the snapshot the HTTP listener
 * keeps and the buffer being rendered, measured as VmRSS growth).
 *
 *   bench/metrics-bench [GUESTS] [RENDERS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/metrics.h"

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* This thread's CPU time: on a loaded machine the wall time also counts
 * the time other processes had the CPU. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	size_t renders = argc > 2 ? strtoul(argv[2], NULL, 10) : 500;
	uv_loop_t loop;
	struct bd bd = {0};
	uv_loop_init(&loop);
	bd_log_setup(LOG_WARNING, true);
	bd.loop = &loop;
	bd.clock = bd_clock_real;
	bd_conf_defaults(&bd.conf);
	bd_plan_init(&bd);
	if (bd_exec_init(&bd))
		return 1;
	/* Guests as a busy host has them: Patroni members, links up, stats
	 * known, commands counted. */
	for (size_t i = 0; i < n; i++) {
		struct bd_guest_spec spec = {.min_bytes = 1ULL << 30,
					     .max_bytes = 8ULL << 30};
		snprintf(spec.name, sizeof(spec.name), "guest-%05zu", i);
		snprintf(spec.qmp_path, sizeof(spec.qmp_path),
			 "/run/balloond/qmp/guest-%05zu.sock", i);
		snprintf(spec.cluster, sizeof(spec.cluster), "pg%zu", i / 3);
		snprintf(spec.member, sizeof(spec.member), "node%zu", i % 3);
		struct bd_guest *g = bd_guest_add(&bd, &spec);
		if (!g)
			return 1;
		g->link.state = BD_LINK_UP;
		g->link.actual_known = true;
		g->link.actual_bytes = g->link.set_bytes = 6ULL << 30;
		g->stats.known = true;
		g->stats.last.last_update = 1;
		g->stats.last.free_bytes = 1ULL << 30;
		g->stats.last.available_bytes = 2ULL << 30;
		g->counters.balloon_commands = 1000 + i;
		g->counters.latency_known = true;
		g->counters.last_latency_us = 1500;
	}
	bd.host.known = true;
	bd.host.mem_total_bytes = 512ULL << 30;
	bd.host.mem_available_bytes = 64ULL << 30;
	if (bd_metrics_init(&bd))
		return 1;

	long rss0 = rss_kib();
	/* What the HTTP listener holds: the last snapshot, while the next
	 * one is rendered. */
	struct bd_buf held = {0};
	if (bd_metrics_render(&bd, &held))
		return 1;
	uint64_t *ns = calloc(renders, sizeof(*ns));
	uint64_t *cpu = calloc(renders, sizeof(*cpu));
	size_t bytes = 0;
	for (size_t r = 0; r < renders; r++) {
		struct bd_buf b = {0};
		uint64_t t0 = uv_hrtime(), c0 = cpu_ns();
		if (bd_metrics_render(&bd, &b))
			return 1;
		ns[r] = uv_hrtime() - t0;
		cpu[r] = cpu_ns() - c0;
		bytes = b.len;
		bd_buf_free(&b);
	}
	struct bd_buf b = {0};
	bd_metrics_render(&bd, &b);
	long rss1 = rss_kib();
	qsort(ns, renders, sizeof(*ns), cmp_u64);
	qsort(cpu, renders, sizeof(*cpu), cmp_u64);
	printf("guests %zu, renders %zu\n", n, renders);
	printf("exposition: %zu bytes (%.1f per guest)\n", bytes,
	       (double)bytes / (double)(n ? n : 1));
	printf("loop time per render: median %.3f ms, p99 %.3f ms, longest "
	       "%.3f ms\n",
	       ns[renders / 2] / 1e6, ns[renders * 99 / 100] / 1e6,
	       ns[renders - 1] / 1e6);
	printf("CPU time per render: median %.3f ms, p99 %.3f ms, longest "
	       "%.3f ms\n",
	       cpu[renders / 2] / 1e6, cpu[renders * 99 / 100] / 1e6,
	       cpu[renders - 1] / 1e6);
	printf("memory: counters %zu bytes per guest (%zu KiB in all); "
	       "two renders held (snapshot and next): VmRSS +%ld KiB\n",
	       sizeof(struct bd_guest_counters),
	       sizeof(struct bd_guest_counters) * n / 1024, rss1 - rss0);
	bd_buf_free(&b);
	bd_buf_free(&held);
	free(ns);
	free(cpu);
	bd_metrics_close(&bd);
	bd_guest_foreach (g, &bd)
		bd_guest_remove(g);
	bd_plan_close(&bd);
	bd_exec_close(&bd);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(bd.index);
	return 0;
}
