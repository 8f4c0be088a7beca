/*
 * test-metrics.c: the Prometheus exposition renderer (daemon/metrics.c)
 * against a struct bd built by hand: label values escaped as the format
 * requires, every family with its HELP and TYPE before its samples and
 * never split, the contract's names present, and the counters the event
 * stream keeps counting.
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

#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/metrics.h"

#define MiB (UINT64_C(1) << 20)

struct env {
	uv_loop_t loop;
	struct bd bd;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	assert_int_equal(uv_loop_init(&e->loop), 0);
	bd_log_setup(LOG_WARNING, true);
	e->bd.loop = &e->loop;
	e->bd.clock = bd_clock_real;
	bd_conf_defaults(&e->bd.conf);
	/* Removing a guest asks the planner and the executor. */
	bd_plan_init(&e->bd);
	assert_int_equal(bd_exec_init(&e->bd), 0);
	assert_int_equal(bd_metrics_init(&e->bd), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	bd_guest_foreach (g, bd)
		if (!g->removed)
			bd_guest_remove(g);
	bd_metrics_close(bd);
	bd_plan_close(bd);
	bd_exec_close(bd);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	int rc = uv_loop_close(&e->loop);
	free(bd->index);
	free(e);
	return rc == 0 ? 0 : -1;
}

static struct bd_guest *add(struct env *e, const char *name,
			    const char *cluster, const char *member)
{
	struct bd_guest_spec spec = {.min_bytes = 128 * MiB,
				     .max_bytes = 512 * MiB};
	snprintf(spec.name, sizeof(spec.name), "%s", name);
	snprintf(spec.qmp_path, sizeof(spec.qmp_path), "/nonexistent/%s", name);
	snprintf(spec.cluster, sizeof(spec.cluster), "%s", cluster);
	snprintf(spec.member, sizeof(spec.member), "%s", member);
	struct bd_guest *g = bd_guest_add(&e->bd, &spec);
	assert_non_null(g);
	return g;
}

/* The exposition as a NUL-terminated string (caller frees). */
static char *render(struct env *e)
{
	struct bd_buf b = {0};
	assert_int_equal(bd_metrics_render(&e->bd, &b), 0);
	assert_non_null(b.p);
	assert_int_equal(strlen(b.p), b.len);
	return b.p;
}

/* The value of the sample whose line starts with prefix (name and labels,
 * exactly); fails when there is none or more than one. */
static double sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *found = NULL;
	for (const char *l = text; *l;) {
		const char *eol = strchr(l, '\n');
		assert_non_null(eol);
		if ((size_t)(eol - l) > n && strncmp(l, prefix, n) == 0 &&
		    l[n] == ' ') {
			if (found)
				fail_msg("two samples %s", prefix);
			found = l + n + 1;
		}
		l = eol + 1;
	}
	if (!found)
		fail_msg("no sample %s in:\n%s", prefix, text);
	return strtod(found, NULL);
}

static bool has_sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *l = text; *l; l = strchr(l, '\n') + 1)
		if (strncmp(l, prefix, n) == 0 && l[n] == ' ')
			return true;
	return false;
}

/* ---- escaping ---- */

static void test_label_escaping(void **state)
{
	(void)state;
	struct bd_buf b = {0};
	bd_buf_label(&b, "a\"b\\c\nd");
	assert_false(b.oom);
	assert_string_equal(b.p, "a\\\"b\\\\c\\nd");
	bd_buf_free(&b);
}

static void test_guest_name_escaped(void **state)
{
	struct env *e = *state;
	/* libvirt allows quotes and backslashes in a domain's name. */
	add(e, "db\"1\\x", "clu\"ster", "m\\1");
	char *t = render(e);
	assert_int_equal(
	    sample(t, "balloond_guest_max_bytes{guest=\"db\\\"1\\\\x\"}"),
	    512.0 * MiB);
	assert_int_equal(sample(t,
				"balloond_guest_info{guest=\"db\\\"1\\\\x\","
				"cluster=\"clu\\\"ster\",member=\"m\\\\1\"}"),
			 1);
	/* No raw quote inside a label value anywhere: every line with
	 * labels has an even number of unescaped quotes. */
	for (const char *l = t; *l; l = strchr(l, '\n') + 1) {
		int quotes = 0;
		for (const char *c = l; *c != '\n'; c++) {
			if (*c == '\\') {
				c++;
				continue;
			}
			quotes += *c == '"';
		}
		assert_int_equal(quotes % 2, 0);
	}
	free(t);
}

/* ---- HELP and TYPE ---- */

/* The family a sample belongs to: its name, less a histogram's
 * suffixes. */
static void family_of(const char *line, char *out, size_t len,
		      const char *histograms)
{
	size_t n = strcspn(line, "{ ");
	snprintf(out, len, "%.*s", (int)n, line);
	static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
	for (size_t i = 0; i < 3; i++) {
		size_t sl = strlen(suffixes[i]), ol = strlen(out);
		if (ol > sl && strcmp(out + ol - sl, suffixes[i]) == 0) {
			char base[128];
			snprintf(base, sizeof(base), " %.*s ", (int)(ol - sl),
				 out);
			if (strstr(histograms, base))
				out[ol - sl] = '\0';
		}
	}
}

static void test_every_family_has_help_and_type(void **state)
{
	struct env *e = *state;
	add(e, "a", "", "");
	struct bd_guest *g = add(e, "b", "c1", "m1");
	g->link.actual_known = true;
	g->stats.known = true;
	g->stats.last.last_update = 1;
	g->stats.last.free_bytes = 1;
	g->stats.last.available_bytes = 2;
	g->counters.latency_known = true;
	e->bd.host.known = true;
	e->bd.host.arc_present = true;
	e->bd.host.arc_max_set_bytes = 1;
	char *t = render(e);

	char helped[8192] = " ", typed[8192] = " ", done[8192] = " ";
	char histograms[1024] = " ";
	char current[128] = "";
	for (const char *l = t; *l; l = strchr(l, '\n') + 1) {
		char name[128], word[16];
		if (sscanf(l, "# HELP %127s", name) == 1) {
			/* A family is never split nor repeated. */
			char key[140];
			snprintf(key, sizeof(key), " %s ", name);
			if (strstr(helped, key))
				fail_msg("family %s twice", name);
			strcat(helped, name);
			strcat(helped, " ");
			if (current[0]) {
				strcat(done, current);
				strcat(done, " ");
			}
			snprintf(current, sizeof(current), "%s", name);
			continue;
		}
		if (sscanf(l, "# TYPE %127s %15s", name, word) == 2) {
			assert_string_equal(name, current);
			assert_true(strcmp(word, "gauge") == 0 ||
				    strcmp(word, "counter") == 0 ||
				    strcmp(word, "histogram") == 0);
			/* Counters end in _total, as the conventions say. */
			if (strcmp(word, "counter") == 0)
				assert_non_null(strstr(name, "_total"));
			if (strcmp(word, "histogram") == 0) {
				strcat(histograms, name);
				strcat(histograms, " ");
			}
			strcat(typed, name);
			strcat(typed, " ");
			continue;
		}
		assert_true(l[0] != '#');
		family_of(l, name, sizeof(name), histograms);
		/* Every sample belongs to the family whose header is the
		 * last one, which has both HELP and TYPE. */
		if (strcmp(name, current) != 0)
			fail_msg("sample of %s under %s", name, current);
		char key[140];
		snprintf(key, sizeof(key), " %s ", name);
		assert_non_null(strstr(typed, key));
		assert_non_null(strstr(name, "balloond_") == name ? name
								  : NULL);
	}
	/* The contract's names, each a family. */
	static const char *const contract[] = {
	    "balloond_guest_max_bytes",
	    "balloond_guest_min_bytes",
	    "balloond_guest_target_bytes",
	    "balloond_guest_actual_bytes",
	    "balloond_guest_link_up",
	    "balloond_guest_balloon_commands_total",
	    "balloond_guest_balloon_command_errors_total",
	    "balloond_guest_pinned",
	    "balloond_guest_starving",
	    "balloond_guest_role",
	    "balloond_host_mem_total_bytes",
	    "balloond_host_mem_available_bytes",
	    "balloond_host_headroom_bytes",
	    "balloond_cluster_reachable",
	    "balloond_build_info",
	};
	for (size_t i = 0; i < sizeof(contract) / sizeof(contract[0]); i++) {
		char key[140];
		snprintf(key, sizeof(key), " %s ", contract[i]);
		if (!strstr(helped, key) || !strstr(typed, key))
			fail_msg("no family %s", contract[i]);
	}
	free(t);
}

/* ---- the role state set ---- */

static void test_role_state_set(void **state)
{
	struct env *e = *state;
	struct bd_guest *g = add(e, "pg", "c1", "m1");
	g->role = POLICY_ROLE_LEADER;
	add(e, "web", "", "");
	char *t = render(e);
	assert_int_equal(
	    sample(t, "balloond_guest_role{guest=\"pg\",role=\"leader\"}"), 1);
	assert_int_equal(
	    sample(t, "balloond_guest_role{guest=\"pg\",role=\"replica\"}"), 0);
	assert_int_equal(
	    sample(t, "balloond_guest_role{guest=\"pg\",role=\"unknown\"}"), 0);
	assert_int_equal(
	    sample(t, "balloond_guest_role{guest=\"web\",role=\"none\"}"), 1);
	assert_int_equal(
	    sample(t, "balloond_guest_role{guest=\"web\",role=\"leader\"}"), 0);
	free(t);
}

/* ---- the counters ---- */

static json_object *obj(const char *key, json_object *v)
{
	json_object *o = json_object_new_object();
	if (key)
		json_object_object_add(o, key, v);
	return o;
}

static void test_counters_count(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	struct bd_guest *g = add(e, "g", "", "");
	char *t = render(e);
	assert_int_equal(
	    sample(t, "balloond_guest_balloon_commands_total{guest=\"g\"}"), 0);
	assert_int_equal(
	    sample(t,
		   "balloond_guest_balloon_command_errors_total{guest=\"g\"}"),
	    0);
	assert_int_equal(
	    sample(t, "balloond_guest_qmp_reconnects_total{guest=\"g\"}"), 0);
	assert_false(has_sample(
	    t, "balloond_guest_last_command_latency_seconds{guest=\"g\"}"));
	assert_int_equal(sample(t, "balloond_plans_total"), 0);
	free(t);

	bd_emit(bd, "command", g, NULL);
	bd_metrics_command_done(g, false, 1000);
	bd_emit(bd, "command", g, NULL);
	/* A failed one counts as an error; its latency is the last. */
	bd_metrics_command_done(g, true, 2500);
	bd_emit(bd, "command_failed", g, NULL);
	bd_emit(bd, "link", g, obj("link", json_object_new_string("up")));
	bd_emit(bd, "link", g, obj("link", json_object_new_string("down")));
	bd_emit(bd, "link", g, obj("link", json_object_new_string("up")));
	bd_emit(bd, "psi", NULL, NULL);
	bd_emit(bd, "pressure", NULL,
		obj("reclaiming", json_object_new_boolean(true)));
	bd_emit(bd, "pressure", NULL,
		obj("reclaiming", json_object_new_boolean(false)));
	bd_metrics_request(bd, BD_M_STATUS, BD_REQ_OK);
	bd_metrics_request(bd, BD_M_STATUS, BD_REQ_OK);
	bd_metrics_request(bd, BD_M_SET, BD_REQ_ERROR);
	bd_metrics_request(bd, BD_M_SET, BD_REQ_REFUSED);
	/* No method read (a refused peer, a line that is not a request),
	 * and a method out of range: both unknown. */
	bd_metrics_request(bd, BD_M_COUNT, BD_REQ_REFUSED);
	bd_metrics_request(bd, -1, BD_REQ_ERROR);
	bd_metrics_plan_done(bd, 200 * 1000);	   /* 0.2 ms */
	bd_metrics_plan_done(bd, 3 * 1000 * 1000); /* 3 ms */
	bd_metrics_plan_done(bd, 5000000000ULL);   /* 5 s */
	g->link.foreign_moves = 2;

	t = render(e);
	assert_int_equal(
	    sample(t, "balloond_guest_balloon_commands_total{guest=\"g\"}"), 3);
	assert_int_equal(
	    sample(t,
		   "balloond_guest_balloon_command_errors_total{guest=\"g\"}"),
	    2);
	assert_int_equal(
	    sample(t, "balloond_guest_qmp_reconnects_total{guest=\"g\"}"), 1);
	assert_true(
	    sample(
		t,
		"balloond_guest_last_command_latency_seconds{guest=\"g\"}") ==
	    0.0025);
	assert_int_equal(
	    sample(t, "balloond_guest_foreign_moves_total{guest=\"g\"}"), 2);
	assert_int_equal(sample(t, "balloond_host_psi_trigger_events_total"),
			 1);
	assert_int_equal(sample(t, "balloond_host_reclaim_episodes_total"), 1);
	assert_int_equal(
	    sample(t, "balloond_control_requests_total{method=\"status\","
		      "result=\"ok\"}"),
	    2);
	assert_int_equal(
	    sample(t, "balloond_control_requests_total{method=\"set\","
		      "result=\"error\"}"),
	    1);
	assert_int_equal(
	    sample(t, "balloond_control_requests_total{method=\"set\","
		      "result=\"ok\"}"),
	    0);
	assert_int_equal(
	    sample(t, "balloond_control_requests_total{method=\"set\","
		      "result=\"refused\"}"),
	    1);
	assert_int_equal(
	    sample(t, "balloond_control_requests_total{method=\"unknown\","
		      "result=\"refused\"}"),
	    1);
	assert_int_equal(
	    sample(t, "balloond_control_requests_total{method=\"unknown\","
		      "result=\"error\"}"),
	    1);
	assert_int_equal(sample(t, "balloond_plans_total"), 3);
	/* The histogram's buckets are cumulative; +Inf is the count. */
	assert_int_equal(
	    sample(t, "balloond_replan_duration_seconds_bucket{le=\"0.0001\"}"),
	    0);
	assert_int_equal(
	    sample(t,
		   "balloond_replan_duration_seconds_bucket{le=\"0.00025\"}"),
	    1);
	assert_int_equal(
	    sample(t, "balloond_replan_duration_seconds_bucket{le=\"0.005\"}"),
	    2);
	assert_int_equal(
	    sample(t, "balloond_replan_duration_seconds_bucket{le=\"1\"}"), 2);
	assert_int_equal(
	    sample(t, "balloond_replan_duration_seconds_bucket{le=\"+Inf\"}"),
	    3);
	assert_int_equal(sample(t, "balloond_replan_duration_seconds_count"),
			 3);
	assert_true(sample(t, "balloond_replan_duration_seconds_sum") > 5.003);
	free(t);
}

/* A guest still waiting for its registration's link is not shown, as in
 * status; the host's samples wait for the first reading. */
static void test_hidden_until_known(void **state)
{
	struct env *e = *state;
	struct bd_guest *g = add(e, "pending", "", "");
	g->reg.registering = true;
	char *t = render(e);
	assert_false(
	    has_sample(t, "balloond_guest_max_bytes{guest=\"pending\"}"));
	assert_false(has_sample(t, "balloond_host_mem_total_bytes"));
	assert_non_null(
	    strstr(t, "# TYPE balloond_host_mem_total_bytes gauge"));
	free(t);
	g->reg.registering = false;
	e->bd.host.known = true;
	e->bd.host.mem_total_bytes = 4096 * MiB;
	e->bd.host.psi_some_avg10_x100 = 1234; /* 12.34 % */
	t = render(e);
	assert_int_equal(
	    sample(t, "balloond_guest_max_bytes{guest=\"pending\"}"),
	    512.0 * MiB);
	assert_int_equal(sample(t, "balloond_host_mem_total_bytes"),
			 4096.0 * MiB);
	assert_true(sample(t, "balloond_host_psi_some_avg10_ratio") == 0.1234);
	/* The watermarks as the policy resolves them: 5 % of MemTotal, and
	 * 5 % more. */
	assert_int_equal(sample(t, "balloond_host_low_watermark_bytes"),
			 (double)(4096 * MiB / 20));
	assert_int_equal(sample(t, "balloond_host_high_watermark_bytes"),
			 (double)(4096 * MiB / 20 * 2));
	/* No peak of used memory yet: no sample. */
	assert_false(
	    has_sample(t, "balloond_guest_used_peak_bytes{guest=\"pending\"}"));
	free(t);
	/* The highest of the window's daily peaks, yesterday's here; one
	 * from 20 days ago is out of it. */
	int64_t day_us = 86400LL * 1000000, now = bd_wall_us(&e->bd);
	bd_peaks_used(&g->peaks, now - 20 * day_us, 900 * MiB);
	bd_peaks_used(&g->peaks, now - day_us, 300 * MiB);
	bd_peaks_used(&g->peaks, now, 100 * MiB);
	t = render(e);
	assert_int_equal(
	    sample(t, "balloond_guest_used_peak_bytes{guest=\"pending\"}"),
	    300.0 * MiB);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_label_escaping),
	    cmocka_unit_test_setup_teardown(test_guest_name_escaped, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_every_family_has_help_and_type,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_role_state_set, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_counters_count, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_hidden_until_known, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
