/*
 * policy-bench.c: policy_decide's cost per call at 100, 1,000 and 10,000
 * guests, on snapshots like a busy host's (Patroni members, stats, a host
 * under pressure so that donors are sorted and reclaimed). The cost must
 * grow linearly: the time per guest is printed, and its ratio between
 * 10,000 and 100 guests.
 *
 * usage: bench/policy-bench [CALLS_AT_1000]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static uint64_t rng = 42;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* p50 and p99 of `calls` calls on n guests, in microseconds. */
static void run(size_t n, int calls, double *p50, double *p99)
{
	struct policy_guest *g = calloc(n, sizeof(*g));
	struct policy_decision *d = calloc(n, sizeof(*d));
	struct policy_action *a = calloc(n, sizeof(*a));
	struct policy_cluster cl[16];
	double *t = calloc((size_t)calls, sizeof(*t));
	char(*names)[16] = calloc(n, sizeof(*names));
	if (!g || !d || !a || !t || !names)
		exit(1);
	for (size_t k = 0; k < 16; k++)
		cl[k] = (struct policy_cluster){.reachable = true,
						.has_leader = true,
						.facts_age_ms = 1000,
						.dwell_ms = 60000,
						.max_age_ms = 30000};
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "vm%zu", i);
		bool member = i % 3 == 0;
		uint64_t max = (4 + rnd() % 28) * GiB;
		g[i] = (struct policy_guest){
		    .name = names[i],
		    .max_bytes = max,
		    .min_bytes = max / 4,
		    .replica_target_bytes = member ? max / 2 : 0,
		    .priority = (int)(rnd() % 3),
		    .actual_bytes = max - (rnd() % 4) * GiB,
		    .set_bytes = max,
		    .actual_known = true,
		    .link_up = true,
		    .role = member ? POLICY_ROLE_REPLICA : POLICY_ROLE_NONE,
		    .cluster = member ? i % 16 : POLICY_NO_CLUSTER,
		    .pushed_role = POLICY_ROLE_UNKNOWN,
		    .pushed_age_ms = POLICY_NEVER,
		    .confirmed_role =
			i % 9 == 0 ? POLICY_ROLE_LEADER : POLICY_ROLE_REPLICA,
		    .confirmed_streaming = true,
		    .confirmed_age_ms = 1000,
		    .role_change_age_ms = 600000,
		    .stats_fresh = true,
		    .available_bytes = (rnd() % 8) * GiB,
		};
	}
	uint64_t total = (uint64_t)n * 20 * GiB;
	struct policy_input in = {
	    .guests = g,
	    .n_guests = n,
	    .clusters = cl,
	    .n_clusters = 16,
	    .host = {.known = true,
		     .mem_total_bytes = total,
		     .mem_available_bytes = total / 50,
		     .arc_present = true,
		     .arc_size_bytes = total / 10,
		     .arc_c_min_bytes = GiB,
		     .arc_c_max_bytes = total},
	};
	struct policy_config c = POLICY_CONFIG_DEFAULT;
	c.arc_manage = true;
	c.shrink_step_bytes = GiB;
	in.config = policy_config_resolve(c, total);
	struct policy_plan plan = {.actions = a};
	for (int k = 0; k < calls; k++) {
		double t0 = now_s();
		if (policy_decide(&in, d, &plan))
			exit(1);
		t[k] = (now_s() - t0) * 1e6;
	}
	qsort(t, (size_t)calls, sizeof(*t), cmp_d);
	*p50 = t[calls / 2];
	*p99 = t[(size_t)((calls - 1) * 0.99)];
	free(g);
	free(d);
	free(a);
	free(t);
	free(names);
}

int main(int argc, char **argv)
{
	int calls = argc > 1 ? atoi(argv[1]) : 2000;
	static const size_t sizes[] = {100, 1000, 10000};
	double per_guest[3];
	printf("policy_decide, under pressure (donors sorted and reclaimed), "
	       "ARC managed\n");
	printf("  %7s %8s %10s %10s %14s\n", "guests", "calls", "p50 us",
	       "p99 us", "p50 ns/guest");
	for (int k = 0; k < 3; k++) {
		double p50, p99;
		/* The same total work at every size. */
		int c = (int)((double)calls * 1000 / (double)sizes[k]);
		if (c < 20)
			c = 20;
		run(sizes[k], c, &p50, &p99);
		per_guest[k] = p50 * 1000 / (double)sizes[k];
		printf("  %7zu %8d %10.1f %10.1f %14.1f\n", sizes[k], c, p50,
		       p99, per_guest[k]);
	}
	printf("  per-guest cost, 10000 vs 100 guests: %.2fx (1.0 is "
	       "linear; the donor sort adds a log factor)\n",
	       per_guest[2] / per_guest[0]);
	return 0;
}
