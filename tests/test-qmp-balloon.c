/*
 * test-qmp-balloon.c: the typed balloon commands (qmp/balloon.c) against
 * the fake: sizes in bytes, the balloon's QOM path wherever QEMU put it,
 * guest statistics before and after the guest reports, and "no balloon
 * device" as QMP_ERR_NO_BALLOON whichever way QEMU says it.
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

#include "tests/lib/fakeqmp.h"

#define MiB (1024ULL * 1024)

static void start_ready(struct fixture *f)
{
	struct qmp_config cfg = fixture_config(f->path);
	assert_int_equal(probe_start(&f->probe, &f->loop, &cfg), 0);
	assert_true(run_until(&f->loop, &f->probe.ready, 5000));
}

/* Wait for the one callback of a typed call and check it came once. */
static void wait_result(struct fixture *f, struct result *r)
{
	assert_true(run_until(&f->loop, &r->n, 5000));
	run_for(&f->loop, 5);
	assert_int_equal(r->n, 1);
}

static const char *last_args(struct fixture *f)
{
	size_t n = fakeqmp_ncommands(f->fake);
	assert_true(n > 0);
	const struct fakeqmp_cmd *c = fakeqmp_command(f->fake, n - 1);
	return c->arguments ? json_object_to_json_string_ext(
				  c->arguments, JSON_C_TO_STRING_PLAIN)
			    : "";
}

static void test_query(void **state)
{
	struct fixture *f = *state;
	struct result r = {0};

	start_ready(f);
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &r), 0);
	wait_result(f, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.bytes, 256 * MiB);
	assert_int_equal(fakeqmp_count(f->fake, "query-balloon"), 1);
}

static void test_set_moves_actual(void **state)
{
	struct fixture *f = *state;
	struct result set = {0}, q = {0};

	start_ready(f);
	assert_int_equal(
	    qmp_balloon_set(f->probe.c, 128 * MiB, status_cb, &set), 0);
	wait_result(f, &set);
	assert_int_equal(set.err, 0);
	assert_string_equal(last_args(f), "{\"value\":134217728}");
	assert_int_equal(fakeqmp_target(f->fake), 128 * MiB);
	/* The guest moves, then QEMU says so with BALLOON_CHANGE. */
	assert_true(run_until(&f->loop, &f->probe.balloon_changes, 5000));
	assert_int_equal(f->probe.last_actual, 128 * MiB);
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &q), 0);
	wait_result(f, &q);
	assert_int_equal(q.bytes, 128 * MiB);
	assert_true(fixture_healthy(f));
}

static void test_set_rejects_bad_targets(void **state)
{
	struct fixture *f = *state;
	struct result r = {0};

	start_ready(f);
	/* Refused before anything is sent: QEMU takes neither. */
	assert_int_equal(qmp_balloon_set(f->probe.c, 0, status_cb, &r),
			 -EINVAL);
	assert_int_equal(
	    qmp_balloon_set(f->probe.c, (uint64_t)INT64_MAX + 1, status_cb, &r),
	    -EINVAL);
	run_for(&f->loop, 10);
	assert_int_equal(r.n, 0);
	assert_int_equal(fakeqmp_count(f->fake, "balloon"), 0);

	/* What QEMU itself says to 0 (sent raw). */
	assert_int_equal(qmp_execute(f->probe.c, "balloon",
				     json_tokener_parse("{\"value\": 0}"), 0,
				     result_cb, &r),
			 0);
	wait_result(f, &r);
	assert_int_equal(r.err, QMP_ERR_COMMAND);
	assert_string_equal(r.error_class, "GenericError");
}

/* QEMU answers {} to a target above RAM and does nothing. */
static void test_set_above_ram(void **state)
{
	struct fixture *f = *state;
	struct result r = {0};

	start_ready(f);
	assert_int_equal(qmp_balloon_set(f->probe.c, 512 * MiB, status_cb, &r),
			 0);
	wait_result(f, &r);
	assert_int_equal(r.err, 0);
	run_for(&f->loop, 30);
	assert_int_equal(f->probe.balloon_changes, 0);
	assert_int_equal(fakeqmp_actual(f->fake), 256 * MiB);
}

/* No guest driver yet: the target is taken, actual stays. */
static void test_set_stuck(void **state)
{
	struct fixture *f = *state;
	struct result r = {0}, q = {0};

	start_ready(f);
	fakeqmp_set_mode(f->fake, "stuck");
	assert_int_equal(qmp_balloon_set(f->probe.c, 200 * MiB, status_cb, &r),
			 0);
	wait_result(f, &r);
	assert_int_equal(r.err, 0);
	run_for(&f->loop, 30);
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &q), 0);
	wait_result(f, &q);
	assert_int_equal(q.bytes, 256 * MiB);
	assert_int_equal(f->probe.balloon_changes, 0);
}

static void check_path(struct fixture *f, const char *mode, int err,
		       const char *path, size_t lists)
{
	struct result r = {0};
	assert_int_equal(fakeqmp_set_mode(f->fake, mode), 0);
	fakeqmp_clear_commands(f->fake);
	assert_int_equal(qmp_balloon_find_path(f->probe.c, path_cb, &r), 0);
	wait_result(f, &r);
	assert_int_equal(r.err, err);
	assert_string_equal(r.path, path);
	assert_int_equal(fakeqmp_count(f->fake, "qom-list"), lists);
	assert_string_equal(
	    json_object_to_json_string_ext(
		fakeqmp_command(f->fake, 0)->arguments, JSON_C_TO_STRING_PLAIN),
	    "{\"path\":\"\\/machine\\/peripheral\"}");
}

static void test_find_path(void **state)
{
	struct fixture *f = *state;

	start_ready(f);
	check_path(f, "normal", 0, "/machine/peripheral/balloon0", 1);
	check_path(f, "anon-balloon", 0, "/machine/peripheral-anon/device[0]",
		   2);
	check_path(f, "normal,no-balloon", QMP_ERR_NO_BALLOON, "", 2);
	/* Containers that exist only when they hold a device: a missing
	 * /machine/peripheral must not hide the anonymous balloon. */
	check_path(f, "normal,lazy-containers,anon-balloon", 0,
		   "/machine/peripheral-anon/device[0]", 2);
	check_path(f, "normal,lazy-containers,no-balloon", QMP_ERR_NO_BALLOON,
		   "", 2);
	assert_int_equal(f->probe.disconnects, 0);
	assert_true(fixture_healthy(f));
}

static void test_guest_stats(void **state)
{
	struct fixture *f = *state;
	struct result before = {0}, en = {0}, after = {0};
	const char *path = "/machine/peripheral/balloon0";

	start_ready(f);
	/* Until the guest reports, every figure is QEMU's -1. */
	assert_int_equal(
	    qmp_guest_stats_get(f->probe.c, path, stats_cb, &before), 0);
	wait_result(f, &before);
	assert_int_equal(before.err, 0);
	assert_true(before.has_stats);
	assert_int_equal(before.stats.free_bytes, UINT64_MAX);
	assert_int_equal(before.stats.available_bytes, UINT64_MAX);
	assert_int_equal(before.stats.caches_bytes, UINT64_MAX);
	assert_int_equal(before.stats.total_bytes, UINT64_MAX);
	assert_int_equal(before.stats.last_update, 0);
	assert_string_equal(last_args(f),
			    "{\"path\":\"\\/machine\\/peripheral\\/balloon0\","
			    "\"property\":\"guest-stats\"}");

	assert_int_equal(
	    qmp_guest_stats_enable(f->probe.c, path, 2, status_cb, &en), 0);
	wait_result(f, &en);
	assert_int_equal(en.err, 0);
	assert_int_equal(fakeqmp_stats_interval(f->fake), 2);
	assert_string_equal(last_args(f),
			    "{\"path\":\"\\/machine\\/peripheral\\/balloon0\","
			    "\"property\":\"guest-stats-polling-interval\","
			    "\"value\":2}");

	assert_int_equal(
	    qmp_guest_stats_get(f->probe.c, path, stats_cb, &after), 0);
	wait_result(f, &after);
	assert_int_equal(after.err, 0);
	uint64_t total = 256 * MiB - 16 * MiB;
	assert_int_equal(after.stats.total_bytes, total);
	assert_int_equal(after.stats.free_bytes, total / 4);
	assert_int_equal(after.stats.available_bytes, total / 2);
	assert_int_equal(after.stats.caches_bytes, total / 4);
	assert_true(after.stats.last_update > 1600000000);
}

static void test_no_balloon(void **state)
{
	struct fixture *f = *state;
	struct result set = {0}, q = {0}, en = {0}, get = {0};
	const char *path = "/machine/peripheral/balloon0";

	start_ready(f);
	fakeqmp_set_mode(f->fake, "no-balloon");
	/* DeviceNotActive from balloon and query-balloon... */
	assert_int_equal(
	    qmp_balloon_set(f->probe.c, 128 * MiB, status_cb, &set), 0);
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &q), 0);
	/* ...DeviceNotFound from qom-set and qom-get on its path. */
	assert_int_equal(
	    qmp_guest_stats_enable(f->probe.c, path, 2, status_cb, &en), 0);
	assert_int_equal(qmp_guest_stats_get(f->probe.c, path, stats_cb, &get),
			 0);
	wait_result(f, &get);
	assert_int_equal(set.n, 1);
	assert_int_equal(set.err, QMP_ERR_NO_BALLOON);
	assert_int_equal(q.n, 1);
	assert_int_equal(q.err, QMP_ERR_NO_BALLOON);
	assert_int_equal(q.bytes, 0);
	assert_int_equal(en.n, 1);
	assert_int_equal(en.err, QMP_ERR_NO_BALLOON);
	assert_int_equal(get.err, QMP_ERR_NO_BALLOON);
	assert_false(get.has_stats);
	/* A soft result: the connection stays. */
	assert_int_equal(f->probe.disconnects, 0);
	assert_true(fixture_healthy(f));
}

static void test_raw_error_classes(void **state)
{
	struct fixture *f = *state;
	struct result r = {0};

	start_ready(f);
	fakeqmp_set_mode(f->fake, "no-balloon");
	assert_int_equal(
	    qmp_execute(f->probe.c, "query-balloon", NULL, 0, result_cb, &r),
	    0);
	wait_result(f, &r);
	assert_int_equal(r.err, QMP_ERR_NO_BALLOON);
	assert_string_equal(r.error_class, "DeviceNotActive");
}

/* Replies of the wrong shape are protocol errors for the typed call, and
 * the connection survives (the reply itself was well-formed QMP). Each is
 * scripted: the fake hangs, the test answers with the command's id. */
struct seen {
	struct fakeqmp *fake;
	size_t n; /* commands it had received before */
};

static bool fake_got_more(void *arg)
{
	struct seen *w = arg;
	return fakeqmp_ncommands(w->fake) > w->n;
}

static void scripted(struct fixture *f, size_t before, const char *ret_json,
		     char *reply, size_t size)
{
	struct seen w = {f->fake, before};
	assert_true(run_until_fn(&f->loop, fake_got_more, &w, 5000));
	const struct fakeqmp_cmd *c = fakeqmp_command(f->fake, before);
	snprintf(reply, size, "{\"return\": %s, \"id\": %lld}", ret_json,
		 (long long)c->id);
	assert_int_equal(fakeqmp_send_raw(f->fake, reply), 0);
}

static void test_bad_shapes(void **state)
{
	struct fixture *f = *state;
	static const char *const bad_sizes[] = {"{}", "{\"actual\": \"lots\"}",
						"{\"actual\": 0}",
						"{\"actual\": -4096}", "[]"};
	struct result s1 = {0}, p1 = {0};
	char line[256];
	size_t n;

	start_ready(f);
	fakeqmp_set_mode(f->fake, "hang");
	for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		struct result q = {0};
		n = fakeqmp_ncommands(f->fake);
		assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &q), 0);
		scripted(f, n, bad_sizes[i], line, sizeof(line));
		wait_result(f, &q);
		assert_int_equal(q.err, QMP_ERR_PROTOCOL);
	}

	n = fakeqmp_ncommands(f->fake);
	assert_int_equal(qmp_guest_stats_get(f->probe.c, "/x", stats_cb, &s1),
			 0);
	scripted(f, n, "{\"stats\": []}", line, sizeof(line));
	wait_result(f, &s1);
	assert_int_equal(s1.err, QMP_ERR_PROTOCOL);
	assert_false(s1.has_stats);

	/* Entries without a name, or a name that is not a string, are
	 * skipped; a balloon after them is still found. */
	n = fakeqmp_ncommands(f->fake);
	assert_int_equal(qmp_balloon_find_path(f->probe.c, path_cb, &p1), 0);
	scripted(f, n,
		 "[{\"type\": \"child<virtio-balloon-pci>\"},"
		 " {\"name\": null, \"type\": \"child<virtio-balloon-pci>\"},"
		 " {\"name\": \"b\", \"type\": \"child<virtio-balloon-pci>\"}]",
		 line, sizeof(line));
	wait_result(f, &p1);
	assert_int_equal(p1.err, 0);
	assert_string_equal(p1.path, "/machine/peripheral/b");
	/* Well-formed replies of the wrong shape: the connection stays. */
	assert_int_equal(f->probe.disconnects, 0);
}

static void test_typed_before_ready(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r = {0};

	assert_int_equal(probe_start(&f->probe, &f->loop, &cfg), 0);
	assert_int_equal(qmp_balloon_set(f->probe.c, MiB, status_cb, &r),
			 -ENOTCONN);
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &r), -ENOTCONN);
	assert_int_equal(qmp_balloon_find_path(f->probe.c, path_cb, &r),
			 -ENOTCONN);
	assert_int_equal(
	    qmp_guest_stats_enable(f->probe.c, "/p", 1, status_cb, &r),
	    -ENOTCONN);
	assert_int_equal(qmp_guest_stats_get(f->probe.c, "/p", stats_cb, &r),
			 -ENOTCONN);
	assert_true(run_until(&f->loop, &f->probe.ready, 5000));
	run_for(&f->loop, 10);
	assert_int_equal(r.n, 0);
	assert_int_equal(fakeqmp_ncommands(f->fake), 1); /* capabilities */
}

/* A typed call in flight when the client closes reports -ECANCELED. */
static void test_typed_cancelled(void **state)
{
	struct fixture *f = *state;
	struct result p = {0}, s = {0};

	start_ready(f);
	fakeqmp_set_mode(f->fake, "hang");
	assert_int_equal(qmp_balloon_find_path(f->probe.c, path_cb, &p), 0);
	assert_int_equal(qmp_guest_stats_get(f->probe.c, "/p", stats_cb, &s),
			 0);
	probe_close(&f->probe);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.err, -ECANCELED);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.err, -ECANCELED);
	assert_false(s.has_stats);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn)                                                                  \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
	    T(test_query),
	    T(test_set_moves_actual),
	    T(test_set_rejects_bad_targets),
	    T(test_set_above_ram),
	    T(test_set_stuck),
	    T(test_find_path),
	    T(test_guest_stats),
	    T(test_no_balloon),
	    T(test_raw_error_classes),
	    T(test_bad_shapes),
	    T(test_typed_before_ready),
	    T(test_typed_cancelled),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
