/*
 * test-qmp-faults.c: the QMP client against a misbehaving QEMU: wrong
 * ids, slow and missing replies, a connection cut mid-message, garbage, an
 * endless line, no greeting, refused capabilities, stray messages. After
 * each fault, a second client on the same loop must still work.
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
#include "tests/lib/timescale.h"

static void start_ready(struct fixture *f, struct qmp_config *cfg)
{
	assert_int_equal(probe_start(&f->probe, &f->loop, cfg), 0);
	assert_true(run_until(&f->loop, &f->probe.ready, 5000));
}

/* Queue n query-balloon commands on the client under test. */
static void queue(struct fixture *f, struct result *r, int n)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(qmp_execute(f->probe.c, "query-balloon", NULL,
					     0, result_cb, &r[i]),
				 0);
}

/* Every pending command failed exactly once with err, the connection
 * dropped exactly once with err, and the other client is fine. */
static void assert_dropped(struct fixture *f, struct result *r, int n, int err)
{
	run_for(&f->loop, 20); /* nothing more may come */
	for (int i = 0; i < n; i++) {
		assert_int_equal(r[i].n, 1);
		assert_int_equal(r[i].err, err);
	}
	assert_int_equal(f->probe.disconnects, 1);
	assert_int_equal(f->probe.disconnect_err[0], err);
	assert_false(qmp_client_is_ready(f->probe.c));
	assert_true(fixture_healthy(f));
}

static void test_wrong_id(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r[3] = {{0}};

	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "wrong-id");
	queue(f, r, 3);
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	assert_dropped(f, r, 3, QMP_ERR_PROTOCOL);
}

static void test_unsolicited_reply(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);

	start_ready(f, &cfg);
	fakeqmp_send_raw(f->fake, "{\"return\": {}, \"id\": 1}");
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	assert_dropped(f, NULL, 0, QMP_ERR_PROTOCOL);
}

/* A reply without an id, while one is expected, is a protocol error. */
static void test_reply_without_id(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r[1] = {{0}};

	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "hang");
	queue(f, r, 1);
	run_for(&f->loop, 10);
	fakeqmp_send_raw(f->fake, "{\"return\": {\"actual\": 1}}");
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	assert_dropped(f, r, 1, QMP_ERR_PROTOCOL);
}

static void test_greeting_twice(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);

	start_ready(f, &cfg);
	fakeqmp_send_raw(f->fake, "{\"QMP\": {\"version\": {\"qemu\": {}}}}");
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	assert_dropped(f, NULL, 0, QMP_ERR_PROTOCOL);
}

static void test_not_an_object(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r[2] = {{0}};

	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "hang");
	queue(f, r, 2);
	run_for(&f->loop, 10);
	fakeqmp_send_raw(f->fake, "[1, 2, 3]");
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	assert_dropped(f, r, 2, QMP_ERR_PROTOCOL);
}

static void test_delayed_reply(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r[1] = {{0}};

	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "delay=100");
	uv_update_time(&f->loop);
	uint64_t t0 = uv_now(&f->loop);
	assert_int_equal(qmp_execute(f->probe.c, "query-balloon", NULL, 1000,
				     result_cb, &r[0]),
			 0);
	assert_true(run_until(&f->loop, &r[0].n, 5000));
	assert_true(uv_now(&f->loop) - t0 >= 100); /* it really waited */
	assert_int_equal(r[0].err, 0);
	assert_string_equal(r[0].ret, "{\"actual\":268435456}");
	assert_int_equal(f->probe.disconnects, 0);
	assert_true(fixture_healthy(f));
}

/* A reply that comes after its command timed out is recognised by its id
 * and dropped; the connection and later commands are fine. */
static void test_late_reply_discarded(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result late = {0}, next = {0};

	start_ready(f, &cfg);
	/* The reply comes well after the timeout, also to a process held
	 * off the CPU for a while: it must not arrive in the same wake. */
	const unsigned delay_ms = 50 + 400 * test_time_scale();
	char mode[32];
	snprintf(mode, sizeof(mode), "delay=%u", delay_ms);
	fakeqmp_set_mode(f->fake, mode);
	uv_update_time(&f->loop);
	uint64_t t0 = uv_now(&f->loop);
	assert_int_equal(qmp_execute(f->probe.c, "query-balloon", NULL, 50,
				     result_cb, &late),
			 0);
	assert_true(run_until(&f->loop, &late.n, 5000));
	uint64_t waited = uv_now(&f->loop) - t0;
	assert_int_equal(late.err, -ETIMEDOUT);
	assert_true(waited >= 50 && waited < delay_ms);

	fakeqmp_set_mode(f->fake, "normal");
	assert_int_equal(
	    qmp_execute(f->probe.c, "query-status", NULL, 0, result_cb, &next),
	    0);
	assert_true(run_until(&f->loop, &next.n, 5000));
	assert_int_equal(next.err, 0);
	assert_non_null(strstr(next.ret, "running"));
	assert_int_equal(late.n, 1);
	assert_int_equal(f->probe.disconnects, 0);
	assert_true(fixture_healthy(f));
}

/* A command that is never answered times out; closing the client later
 * does not call its callback a second time. */
static void test_never_reply(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r[2] = {{0}};

	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "hang");
	assert_int_equal(qmp_execute(f->probe.c, "query-balloon", NULL, 50,
				     result_cb, &r[0]),
			 0);
	/* The second times out long after the first, on a busy machine
	 * too. */
	assert_int_equal(qmp_execute(f->probe.c, "query-balloon", NULL,
				     50 + 400 * test_time_scale(), result_cb,
				     &r[1]),
			 0);
	assert_true(run_until(&f->loop, &r[0].n, 5000));
	assert_int_equal(r[0].err, -ETIMEDOUT);
	assert_int_equal(r[1].n, 0);
	assert_true(run_until(&f->loop, &r[1].n, 5000));
	assert_int_equal(r[1].err, -ETIMEDOUT);
	run_for(&f->loop, 50);
	assert_int_equal(f->probe.disconnects, 0);
	assert_true(qmp_client_is_ready(f->probe.c));
	probe_close(&f->probe);
	run_for(&f->loop, 10);
	assert_int_equal(f->probe.closed, 1);
	assert_int_equal(r[0].n, 1);
	assert_int_equal(r[1].n, 1);
	assert_true(fixture_healthy(f));
}

static void test_disconnect_mid_message(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r[3] = {{0}};

	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "disconnect");
	queue(f, r, 3);
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	assert_dropped(f, r, 3, -ECONNRESET);
}

static void test_garbage(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r[2] = {{0}};

	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "garbage");
	queue(f, r, 2);
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	assert_dropped(f, r, 2, QMP_ERR_PROTOCOL);
}

static void test_endless_line(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r[1] = {{0}};

	/* A client without a cap would read forever and the deadline would
	 * fail the test; with a 4 KiB cap it gives up within 4 KiB. */
	cfg.max_message_bytes = 4096;
	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "endless");
	queue(f, r, 1);
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	assert_dropped(f, r, 1, QMP_ERR_TOO_LONG);
	/* The fake stopped writing when the client left. */
	run_for(&f->loop, 20);
	assert_false(fakeqmp_connected(f->fake));
}

/* The fake itself holds at most one chunk of the endless line, however
 * slowly the client reads (here: not at all). */
struct raw_client {
	uv_pipe_t pipe;
	uv_connect_t connect;
	uv_write_t write;
	int connected;
};

static void raw_connect_cb(uv_connect_t *req, int status)
{
	struct raw_client *rc = req->data;
	rc->connected = status == 0 ? 1 : -1;
}

static void test_endless_bounded_in_fake(void **state)
{
	struct fixture *f = *state;
	static struct raw_client rc; /* outlives a failed assertion */
	static char cmd[] = "{\"execute\": \"qmp_capabilities\"}\n";
	uv_buf_t buf = uv_buf_init(cmd, sizeof(cmd) - 1);

	memset(&rc, 0, sizeof(rc));
	fakeqmp_set_mode(f->fake, "endless");
	uv_pipe_init(&f->loop, &rc.pipe, 0);
	rc.connect.data = &rc;
	uv_pipe_connect(&rc.connect, &rc.pipe, f->path, raw_connect_cb);
	assert_true(run_until(&f->loop, &rc.connected, 5000));
	assert_int_equal(rc.connected, 1);
	assert_int_equal(
	    uv_write(&rc.write, (uv_stream_t *)&rc.pipe, &buf, 1, NULL), 0);
	size_t most = 0;
	for (int i = 0; i < 20; i++) {
		run_for(&f->loop, 10);
		size_t q = fakeqmp_write_queue_bytes(f->fake);
		if (q > most)
			most = q;
	}
	assert_int_equal(fakeqmp_count(f->fake, "qmp_capabilities"), 1);
	assert_true(most > 0); /* it is writing, the socket is full */
	assert_true(most <= 64 * 1024);
	uv_close((uv_handle_t *)&rc.pipe, NULL);
	run_for(&f->loop, 5);
	assert_true(fixture_healthy(f));
}

static bool fake_connected(void *arg)
{
	return fakeqmp_connected(arg);
}

static void test_no_greeting(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);

	cfg.greeting_timeout_ms = 150;
	fakeqmp_set_mode(f->fake, "no-greeting");
	uv_update_time(&f->loop);
	uint64_t t0 = uv_now(&f->loop);
	assert_int_equal(probe_start(&f->probe, &f->loop, &cfg), 0);
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	assert_true(uv_now(&f->loop) - t0 >= 150);
	assert_int_equal(f->probe.ready, 0);
	assert_int_equal(fakeqmp_connections(f->fake), 1);
	assert_dropped(f, NULL, 0, QMP_ERR_NO_GREETING);
}

/* Capabilities never answered: the greeting deadline covers them too. */
static void test_capabilities_hang(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);

	cfg.greeting_timeout_ms = 150;
	fakeqmp_set_mode(f->fake, "hang");
	assert_int_equal(probe_start(&f->probe, &f->loop, &cfg), 0);
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	assert_int_equal(f->probe.ready, 0);
	assert_int_equal(fakeqmp_count(f->fake, "qmp_capabilities"), 1);
	assert_dropped(f, NULL, 0, QMP_ERR_NO_GREETING);
}

static void test_refused_capabilities(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);

	fakeqmp_set_mode(f->fake, "refuse-caps");
	assert_int_equal(probe_start(&f->probe, &f->loop, &cfg), 0);
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	assert_int_equal(f->probe.ready, 0);
	assert_int_equal(fakeqmp_count(f->fake, "qmp_capabilities"), 1);
	assert_dropped(f, NULL, 0, QMP_ERR_COMMAND);
}

static void test_garbage_greeting(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);

	/* A greeting without a version is not QEMU. */
	fakeqmp_set_mode(f->fake, "no-greeting");
	assert_int_equal(probe_start(&f->probe, &f->loop, &cfg), 0);
	assert_true(run_until_fn(&f->loop, fake_connected, f->fake, 5000));
	fakeqmp_send_raw(f->fake, "{\"QMP\": {\"capabilities\": []}}");
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	assert_int_equal(f->probe.ready, 0);
	assert_dropped(f, NULL, 0, QMP_ERR_PROTOCOL);
}

static bool four_disconnects(void *arg)
{
	return ((const struct probe *)arg)->disconnects >= 4;
}

/* With reconnect on, a faulty guest is retried with backoff, and never
 * drags the healthy one along. */
static void test_faulty_guest_retried(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);

	cfg.reconnect = true;
	cfg.reconnect_min_ms = 10;
	cfg.reconnect_max_ms = 40;
	fakeqmp_set_mode(f->fake, "garbage");
	assert_int_equal(probe_start(&f->probe, &f->loop, &cfg), 0);
	assert_true(run_until_fn(&f->loop, four_disconnects, &f->probe, 5000));
	assert_int_equal(f->probe.ready, 0);
	/* Each retry waited its backoff, 10, 20, then 40 ms, at least: a
	 * busy machine only makes the gaps longer. */
	int n = f->probe.disconnects < PROBE_MAX_DISCONNECTS
		    ? f->probe.disconnects
		    : PROBE_MAX_DISCONNECTS;
	for (int i = 1; i < n; i++) {
		uint64_t backoff = i >= 3 ? 40 : 10u << (i - 1);
		assert_true(f->probe.disconnect_ms[i] -
				f->probe.disconnect_ms[i - 1] >=
			    backoff);
	}
	/* ... and not ten times that: 70 ms for the first three, with
	 * half a second to spare for a slow machine. */
	assert_true(f->probe.disconnect_ms[3] - f->probe.disconnect_ms[0] <
		    600);
	for (int i = 0; i < n; i++)
		assert_int_equal(f->probe.disconnect_err[i], QMP_ERR_PROTOCOL);
	assert_true(fixture_healthy(f));

	fakeqmp_set_mode(f->fake, "normal");
	assert_true(run_until(&f->loop, &f->probe.ready, 5000));
	struct result r = {0};
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &r), 0);
	assert_true(run_until(&f->loop, &r.n, 5000));
	assert_int_equal(r.err, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn)                                                                  \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
	    T(test_wrong_id),
	    T(test_unsolicited_reply),
	    T(test_reply_without_id),
	    T(test_greeting_twice),
	    T(test_not_an_object),
	    T(test_delayed_reply),
	    T(test_late_reply_discarded),
	    T(test_never_reply),
	    T(test_disconnect_mid_message),
	    T(test_garbage),
	    T(test_endless_line),
	    T(test_endless_bounded_in_fake),
	    T(test_no_greeting),
	    T(test_capabilities_hang),
	    T(test_refused_capabilities),
	    T(test_garbage_greeting),
	    T(test_faulty_guest_retried),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
