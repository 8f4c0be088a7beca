/*
 * test-qmp-client.c: the QMP client against the in-process fake on one
 * loop: greeting and negotiation, commands in order with increasing ids,
 * events, reconnect with backoff, the limits of qmp_execute, and closing
 * the client from inside its own callbacks.
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

/* Start f->probe on the fake under test and wait until it is ready. */
static void start_ready(struct fixture *f, struct qmp_config *cfg)
{
	assert_int_equal(probe_start(&f->probe, &f->loop, cfg), 0);
	assert_true(run_until(&f->loop, &f->probe.ready, 5000));
}

static void test_greeting(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);

	assert_int_equal(probe_start(&f->probe, &f->loop, &cfg), 0);
	assert_false(qmp_client_is_ready(f->probe.c));
	assert_null(qmp_client_greeting(f->probe.c));
	assert_true(run_until(&f->loop, &f->probe.ready, 5000));

	assert_int_equal(f->probe.ready, 1);
	assert_int_equal(f->probe.disconnects, 0);
	assert_true(qmp_client_is_ready(f->probe.c));
	const struct qmp_greeting *g = qmp_client_greeting(f->probe.c);
	assert_non_null(g);
	assert_int_equal(g->major, 7);
	assert_int_equal(g->minor, 2);
	assert_int_equal(g->micro, 22);
	assert_string_equal(g->package, "Debian 1:7.2+dfsg-7+deb12u18+b3");
	/* The fake offers ["oob"]. */
	assert_int_equal(g->capabilities, QMP_CAP_OOB);
	assert_string_equal(qmp_client_socket_path(f->probe.c), f->path);
	assert_ptr_equal(qmp_client_data(f->probe.c), &f->probe);

	/* Negotiation is exactly one qmp_capabilities, with an id. */
	assert_int_equal(fakeqmp_ncommands(f->fake), 1);
	const struct fakeqmp_cmd *cmd = fakeqmp_command(f->fake, 0);
	assert_string_equal(cmd->execute, "qmp_capabilities");
	assert_null(cmd->arguments);
	assert_true(cmd->has_id);
	assert_true(fixture_healthy(f));
}

/* Each reply callback appends its index here. */
struct order {
	int seen[32];
	int n;
};

struct order_call {
	struct order *o;
	int index;
	int err;
	char ret[128];
};

static void order_cb(qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct order_call *k = data;
	k->err = r->err;
	snprintf(k->ret, sizeof(k->ret), "%s",
		 r->ret ? json_object_to_json_string_ext(r->ret,
							 JSON_C_TO_STRING_PLAIN)
			: "");
	k->o->seen[k->o->n++] = k->index;
}

static bool all_seen(void *arg)
{
	struct order *o = arg;
	return o->n == 12;
}

static void test_order_and_ids(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	static const char *const cmds[] = {"query-balloon", "query-status",
					   "query-version"};
	struct order o = {0};
	struct order_call calls[12];

	start_ready(f, &cfg);
	for (int i = 0; i < 12; i++) {
		calls[i] = (struct order_call){.o = &o, .index = i};
		assert_int_equal(qmp_execute(f->probe.c, cmds[i % 3], NULL, 0,
					     order_cb, &calls[i]),
				 0);
	}
	assert_true(run_until_fn(&f->loop, all_seen, &o, 5000));
	for (int i = 0; i < 12; i++) {
		assert_int_equal(o.seen[i], i);
		assert_int_equal(calls[i].err, 0);
	}
	assert_string_equal(calls[0].ret, "{\"actual\":268435456}");
	assert_string_equal(
	    calls[1].ret,
	    "{\"status\":\"running\",\"singlestep\":false,\"running\":true}");
	assert_non_null(strstr(calls[2].ret, "\"major\":7"));

	/* On the wire: capabilities first, then the commands in the order
	 * queued, every id larger than the one before. */
	assert_int_equal(fakeqmp_ncommands(f->fake), 13);
	int64_t last = fakeqmp_command(f->fake, 0)->id;
	for (int i = 1; i < 13; i++) {
		const struct fakeqmp_cmd *cmd = fakeqmp_command(f->fake, i);
		assert_string_equal(cmd->execute, cmds[(i - 1) % 3]);
		assert_true(cmd->has_id);
		assert_true(cmd->id > last);
		assert_true(cmd->t_ns >= fakeqmp_command(f->fake, i - 1)->t_ns);
		last = cmd->id;
	}
	assert_int_equal(f->probe.disconnects, 0);
}

static void test_arguments_and_errors(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result bad = {0}, zero = {0}, good = {0};

	start_ready(f, &cfg);
	assert_int_equal(qmp_execute(f->probe.c, "no-such-command", NULL, 0,
				     result_cb, &bad),
			 0);
	assert_int_equal(qmp_execute(f->probe.c, "balloon",
				     json_tokener_parse("{\"value\": 0}"), 0,
				     result_cb, &zero),
			 0);
	assert_int_equal(
	    qmp_execute(f->probe.c, "query-balloon", NULL, 0, result_cb, &good),
	    0);
	assert_true(run_until(&f->loop, &good.n, 5000));

	assert_int_equal(bad.n, 1);
	assert_int_equal(bad.err, QMP_ERR_COMMAND);
	assert_string_equal(bad.error_class, "CommandNotFound");
	assert_int_equal(zero.n, 1);
	assert_int_equal(zero.err, QMP_ERR_COMMAND);
	assert_string_equal(zero.error_class, "GenericError");
	assert_int_equal(good.err, 0);
	/* An error reply is an answer, not a broken connection. */
	assert_int_equal(f->probe.disconnects, 0);
	const struct fakeqmp_cmd *cmd = fakeqmp_command(f->fake, 2);
	assert_string_equal(cmd->execute, "balloon");
	assert_string_equal(json_object_to_json_string_ext(
				cmd->arguments, JSON_C_TO_STRING_PLAIN),
			    "{\"value\":0}");
}

/* The text form: the same command on the wire as qmp_execute's, ids in
 * the same sequence, and a name that JSON would have to escape refused. */
static void test_execute_text(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result set = {0}, plain = {0}, tree = {0};

	start_ready(f, &cfg);
	assert_int_equal(qmp_execute_text(f->probe.c, "balloon",
					  "{\"value\":134217728}", 0, result_cb,
					  &set),
			 0);
	assert_int_equal(qmp_execute_text(f->probe.c, "query-balloon", NULL, 0,
					  result_cb, &plain),
			 0);
	assert_int_equal(
	    qmp_execute(f->probe.c, "query-balloon", NULL, 0, result_cb, &tree),
	    0);
	assert_int_equal(
	    qmp_execute_text(f->probe.c, "bal\"loon", "{}", 0, result_cb, &set),
	    -EINVAL);
	assert_int_equal(
	    qmp_execute_text(f->probe.c, "", NULL, 0, result_cb, &set),
	    -EINVAL);
	assert_true(run_until(&f->loop, &tree.n, 5000));

	assert_int_equal(set.n, 1);
	assert_int_equal(set.err, 0);
	assert_int_equal(plain.n, 1);
	assert_int_equal(plain.err, 0);
	assert_int_equal(tree.err, 0);
	/* Capabilities, then the three commands, ids rising by one. */
	assert_int_equal(fakeqmp_ncommands(f->fake), 4);
	const struct fakeqmp_cmd *cmd = fakeqmp_command(f->fake, 1);
	assert_string_equal(cmd->execute, "balloon");
	assert_string_equal(json_object_to_json_string_ext(
				cmd->arguments, JSON_C_TO_STRING_PLAIN),
			    "{\"value\":134217728}");
	assert_null(fakeqmp_command(f->fake, 2)->arguments);
	for (int i = 2; i < 4; i++) {
		assert_true(fakeqmp_command(f->fake, i)->has_id);
		assert_int_equal(fakeqmp_command(f->fake, i)->id,
				 fakeqmp_command(f->fake, i - 1)->id + 1);
	}
	assert_int_equal(f->probe.disconnects, 0);
}

static void test_events(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r1 = {.probe = &f->probe}, r2 = {.probe = &f->probe};

	start_ready(f, &cfg);

	/* Chatty: an event right before and after each reply. The one
	 * before must be dispatched before the reply's callback. */
	fakeqmp_set_mode(f->fake, "chatty");
	assert_int_equal(
	    qmp_execute(f->probe.c, "query-status", NULL, 0, result_cb, &r1),
	    0);
	assert_true(run_until(&f->loop, &f->probe.events, 5000) &&
		    run_until(&f->loop, &r1.n, 5000));
	assert_int_equal(r1.err, 0);
	assert_int_equal(r1.events_at_reply, 1);
	assert_string_equal(f->probe.last_event, "RTC_CHANGE");

	/* Events between a command and its (delayed) reply. */
	fakeqmp_set_mode(f->fake, "normal,delay=150");
	f->probe.events = 0;
	assert_int_equal(
	    qmp_execute(f->probe.c, "query-balloon", NULL, 0, result_cb, &r2),
	    0);
	assert_int_equal(fakeqmp_send_event(f->fake, "BALLOON_CHANGE",
					    "{\"actual\": 123456789}"),
			 0);
	assert_int_equal(
	    fakeqmp_send_event(f->fake, "SHUTDOWN", "{\"guest\": false}"), 0);
	assert_int_equal(fakeqmp_send_event(f->fake, "RESET", NULL), 0);
	assert_true(run_until(&f->loop, &r2.n, 5000));
	assert_int_equal(r2.err, 0);
	assert_int_equal(r2.events_at_reply, 3);
	assert_int_equal(f->probe.balloon_changes, 1);
	assert_int_equal(f->probe.last_actual, 123456789);
	assert_int_equal(f->probe.resets, 1);
	assert_string_equal(f->probe.last_event, "RESET");
	assert_string_equal(f->probe.last_event_data,
			    "{\"guest\":true,\"reason\":\"guest-reset\"}");
	/* QEMU's timestamp (now, in microseconds since the epoch). */
	uv_timeval64_t tv;
	uv_gettimeofday(&tv);
	int64_t now_us = tv.tv_sec * 1000000 + tv.tv_usec;
	assert_true(f->probe.last_event_ts_us > now_us - 60 * 1000000LL);
	assert_true(f->probe.last_event_ts_us <= now_us);
	assert_int_equal(f->probe.disconnects, 0);
	assert_true(fixture_healthy(f));
}

/* A BALLOON_CHANGE without a usable "actual" reaches only event_cb. */
static void test_event_bad_data(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);

	start_ready(f, &cfg);
	fakeqmp_send_event(f->fake, "BALLOON_CHANGE", "{\"actual\": -1}");
	fakeqmp_send_event(f->fake, "BALLOON_CHANGE", "{\"actual\": \"x\"}");
	fakeqmp_send_event(f->fake, "BALLOON_CHANGE", "{}");
	fakeqmp_send_raw(f->fake, "{\"event\": \"BALLOON_CHANGE\"}");
	fakeqmp_send_event(f->fake, "BALLOON_CHANGE", "{\"actual\": 4096}");
	assert_true(run_until(&f->loop, &f->probe.balloon_changes, 5000));
	assert_int_equal(f->probe.events, 5);
	assert_int_equal(f->probe.balloon_changes, 1);
	assert_int_equal(f->probe.last_actual, 4096);
	assert_int_equal(f->probe.last_event_ts_us > 0, 1);
	assert_int_equal(f->probe.disconnects, 0);
}

static void test_execute_before_ready(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r = {0};

	assert_int_equal(probe_start(&f->probe, &f->loop, &cfg), 0);
	/* args is taken over even on failure: ASan/valgrind see a leak
	 * otherwise. */
	assert_int_equal(qmp_execute(f->probe.c, "balloon",
				     json_tokener_parse("{\"value\": 1}"), 0,
				     result_cb, &r),
			 -ENOTCONN);
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &r), -ENOTCONN);
	assert_true(run_until(&f->loop, &f->probe.ready, 5000));
	run_for(&f->loop, 20);
	assert_int_equal(r.n, 0); /* a failed call never calls back */
	assert_int_equal(fakeqmp_count(f->fake, "balloon"), 0);
	assert_int_equal(fakeqmp_count(f->fake, "query-balloon"), 0);
}

static void test_max_pending(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r[4] = {{0}};

	cfg.max_pending = 3;
	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "hang");
	for (int i = 0; i < 3; i++)
		assert_int_equal(qmp_execute(f->probe.c, "query-balloon", NULL,
					     0, result_cb, &r[i]),
				 0);
	assert_int_equal(qmp_execute(f->probe.c, "query-balloon",
				     json_object_new_object(), 0, result_cb,
				     &r[3]),
			 -EAGAIN);
	run_for(&f->loop, 20);
	assert_int_equal(fakeqmp_count(f->fake, "query-balloon"), 3);
	for (int i = 0; i < 4; i++)
		assert_int_equal(r[i].n, 0);

	/* Closing fails the pending ones, each exactly once. */
	probe_close(&f->probe);
	run_for(&f->loop, 20);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].n, 1);
		assert_int_equal(r[i].err, -ECANCELED);
	}
	assert_int_equal(r[3].n, 0);
	assert_int_equal(f->probe.closed, 1);
	assert_int_equal(f->probe.disconnects, 0);
	assert_true(fixture_healthy(f));
}

static bool ready_twice(void *arg)
{
	return ((struct probe *)arg)->ready >= 2;
}

static bool is_ready(void *arg)
{
	struct probe *p = arg;
	return p->c && qmp_client_is_ready(p->c);
}

static bool fake_saw_query(void *arg)
{
	return fakeqmp_count(arg, "query-balloon") > 0;
}

static bool disconnects_2(void *arg)
{
	return ((struct probe *)arg)->disconnects >= 2;
}

static bool disconnects_6(void *arg)
{
	return ((struct probe *)arg)->disconnects >= 6;
}

static void test_reconnect_backoff(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);

	/* Nothing listens yet: attempts fail with ENOENT, spaced by
	 * 20, 40, 80, 160, 320 ms (doubling up to the cap of 1 s). */
	fakeqmp_close(f->fake);
	f->fake = NULL;
	run_for(&f->loop, 1);
	cfg.reconnect = true;
	cfg.reconnect_min_ms = 20;
	cfg.reconnect_max_ms = 1000;
	assert_int_equal(probe_start(&f->probe, &f->loop, &cfg), 0);
	assert_true(run_until_fn(&f->loop, disconnects_6, &f->probe, 5000));
	for (int i = 0; i < 6; i++)
		assert_int_equal(f->probe.disconnect_err[i], -ENOENT);
	uint64_t delay = 20;
	for (int i = 1; i < 6; i++, delay *= 2) {
		uint64_t gap =
		    f->probe.disconnect_ms[i] - f->probe.disconnect_ms[i - 1];
		assert_true(gap >= delay);
	}
	assert_int_equal(f->probe.ready, 0);

	/* The server appears: the next attempt (at most 640 ms away)
	 * succeeds. */
	struct fakeqmp_config fc = FAKEQMP_CONFIG_DEFAULT;
	fc.path = f->path;
	assert_int_equal(fakeqmp_new(&f->loop, &fc, &f->fake), 0);
	assert_true(run_until(&f->loop, &f->probe.ready, 5000));
	assert_int_equal(f->probe.ready, 1);
	int failures = f->probe.disconnects;

	/* A server-side disconnect: after a success the backoff starts
	 * again from 20 ms, not from where it stopped (640 ms). */
	struct result r = {0};
	fakeqmp_set_mode(f->fake, "hang");
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &r), 0);
	assert_true(run_until_fn(&f->loop, fake_saw_query, f->fake, 5000));
	fakeqmp_set_mode(f->fake, "normal");
	uv_update_time(&f->loop);
	uint64_t t0 = uv_now(&f->loop);
	fakeqmp_disconnect(f->fake);
	assert_true(run_until_fn(&f->loop, ready_twice, &f->probe, 5000));
	assert_true(uv_now(&f->loop) - t0 < 600);
	assert_int_equal(f->probe.disconnects, failures + 1);
	assert_int_equal(f->probe.disconnect_err[failures], -ECONNRESET);
	/* The command in flight failed once, with the disconnect. */
	assert_int_equal(r.n, 1);
	assert_int_equal(r.err, -ECONNRESET);
	assert_int_equal(fakeqmp_connections(f->fake), 2);

	/* And the new session works. */
	struct result q = {0};
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &q), 0);
	assert_true(run_until(&f->loop, &q.n, 5000));
	assert_int_equal(q.err, 0);
	assert_int_equal(q.bytes, 256 << 20);
	assert_true(fixture_healthy(f));
}

static bool disconnected(void *arg)
{
	return ((struct probe *)arg)->disconnects >= 1;
}

/* New settings for a client that exists: commands queued from then on
 * get the new timeout (one pending keeps its own), the next connection the
 * new size cap; a bad config changes nothing. */
static void test_set_config(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	cfg.command_timeout_ms = 5000;
	cfg.reconnect = true;
	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "delay=1000");
	struct result before = {0}, after = {0};
	assert_int_equal(qmp_execute(f->probe.c, "query-balloon", NULL, 0,
				     result_cb, &before),
			 0);

	struct qmp_config bad = cfg;
	bad.max_pending = 0;
	assert_int_equal(qmp_client_set_config(f->probe.c, &bad), -EINVAL);
	cfg.command_timeout_ms = 100;
	/* Below the greeting's size: only a new connection feels it. */
	cfg.max_message_bytes = 64;
	assert_int_equal(qmp_client_set_config(f->probe.c, &cfg), 0);
	uv_update_time(&f->loop);
	uint64_t t0 = uv_now(&f->loop);
	assert_int_equal(qmp_execute(f->probe.c, "query-balloon", NULL, 0,
				     result_cb, &after),
			 0);
	assert_true(run_until(&f->loop, &after.n, 3000));
	assert_int_equal(after.err, -ETIMEDOUT);
	assert_true(uv_now(&f->loop) - t0 >= 100);
	/* The one sent before kept its 5 s: its reply, 1 s late, counts. */
	assert_int_equal(before.n, 0);
	assert_true(run_until(&f->loop, &before.n, 3000));
	assert_int_equal(before.err, 0);

	/* The session goes on under the old cap: a reply of about 200 bytes
	 * arrives whole. */
	fakeqmp_set_mode(f->fake, "normal");
	struct result list = {0};
	json_object *args = json_object_new_object();
	json_object_object_add(args, "path",
			       json_object_new_string("/machine/peripheral"));
	assert_int_equal(
	    qmp_execute(f->probe.c, "qom-list", args, 0, result_cb, &list), 0);
	assert_true(run_until(&f->loop, &list.n, 3000));
	assert_int_equal(list.err, 0);
	assert_true(strlen(list.ret) > 64);
	assert_int_equal(f->probe.disconnects, 0);

	/* The next connection has the new cap: its greeting is too long. */
	fakeqmp_disconnect(f->fake);
	assert_true(run_until_fn(&f->loop, disconnected, &f->probe, 3000));
	assert_true(run_until_fn(&f->loop, disconnects_2, &f->probe, 3000));
	assert_int_equal(f->probe.disconnect_err[1], QMP_ERR_TOO_LONG);
	assert_int_equal(f->probe.ready, 1);
	probe_close(&f->probe);
	run_for(&f->loop, 20);
	assert_true(fixture_healthy(f));
}

static void test_no_reconnect_by_default(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);

	start_ready(f, &cfg);
	fakeqmp_disconnect(f->fake);
	assert_true(run_until(&f->loop, &f->probe.disconnects, 5000));
	run_for(&f->loop, 100);
	assert_int_equal(f->probe.disconnects, 1);
	assert_int_equal(f->probe.disconnect_err[0], -ECONNRESET);
	assert_int_equal(fakeqmp_connections(f->fake), 1);
	assert_false(qmp_client_is_ready(f->probe.c));
	struct result r = {0};
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &r), -ENOTCONN);

	/* qmp_client_start connects again. */
	assert_int_equal(qmp_client_start(f->probe.c), 0);
	assert_true(run_until_fn(&f->loop, is_ready, &f->probe, 5000));
	assert_int_equal(f->probe.ready, 2);
}

static void test_client_reset(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r = {0};

	cfg.reconnect = true;
	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "delay=500");
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &r), 0);
	qmp_client_reset(f->probe.c);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.err, -ECONNRESET);
	assert_int_equal(f->probe.disconnects, 1);
	fakeqmp_set_mode(f->fake, "normal");
	assert_true(run_until_fn(&f->loop, ready_twice, &f->probe, 5000));
	assert_true(qmp_client_is_ready(f->probe.c));
	assert_int_equal(f->probe.disconnect_err[0], -ECONNRESET);
	assert_int_equal(r.n, 1); /* not again when the late reply... */
	run_for(&f->loop, 20);
	assert_int_equal(r.n, 1); /* ...would have come */
}

/* A second client on a socket in use gets no greeting, as with QEMU. */
static void test_second_client_no_greeting(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->good_path);
	struct probe second = {0};

	cfg.greeting_timeout_ms = 150;
	assert_int_equal(probe_start(&second, &f->loop, &cfg), 0);
	assert_true(run_until(&f->loop, &second.disconnects, 5000));
	assert_int_equal(second.disconnect_err[0], QMP_ERR_NO_GREETING);
	assert_int_equal(second.ready, 0);
	probe_close(&second);
	run_for(&f->loop, 5);
	assert_int_equal(second.closed, 1);
	assert_true(fixture_healthy(f));
}

/* ---- closing from inside callbacks ---- */

static void test_close_in_reply(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r[3] = {{0}};

	start_ready(f, &cfg);
	r[0].close_client = true;
	r[0].probe = &f->probe;
	for (int i = 0; i < 3; i++)
		assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &r[i]),
				 0);
	assert_true(run_until(&f->loop, &f->probe.closed, 5000));
	assert_int_equal(r[0].n, 1);
	assert_int_equal(r[0].err, 0);
	for (int i = 1; i < 3; i++) {
		assert_int_equal(r[i].n, 1);
		assert_int_equal(r[i].err, -ECANCELED);
	}
	run_for(&f->loop, 20);
	assert_int_equal(f->probe.closed, 1);
	assert_int_equal(f->probe.disconnects, 0);
	assert_true(fixture_healthy(f));
}

static void test_close_in_ready(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);

	f->probe.close_in_ready = true;
	assert_int_equal(probe_start(&f->probe, &f->loop, &cfg), 0);
	assert_true(run_until(&f->loop, &f->probe.closed, 5000));
	assert_int_equal(f->probe.ready, 1);
	assert_int_equal(f->probe.disconnects, 0);
	assert_true(fixture_healthy(f));
}

static void test_close_in_disconnect(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r = {0};

	cfg.reconnect = true;
	f->probe.close_in_disconnect = true;
	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "hang");
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &r), 0);
	run_for(&f->loop, 10);
	fakeqmp_disconnect(f->fake);
	assert_true(run_until(&f->loop, &f->probe.closed, 5000));
	assert_int_equal(f->probe.disconnects, 1);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.err, -ECONNRESET);
	run_for(&f->loop, 50); /* no reconnect after close */
	assert_int_equal(fakeqmp_connections(f->fake), 1);
	assert_true(fixture_healthy(f));
}

static void test_close_in_reset_event(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	struct result r = {0};

	f->probe.close_in_reset = true;
	start_ready(f, &cfg);
	fakeqmp_set_mode(f->fake, "delay=100");
	assert_int_equal(qmp_balloon_query(f->probe.c, size_cb, &r), 0);
	/* RESET then another event in the same read: the second must not
	 * reach a closed client. */
	fakeqmp_send_event(f->fake, "RESET", NULL);
	fakeqmp_send_event(f->fake, "STOP", NULL);
	assert_true(run_until(&f->loop, &f->probe.closed, 5000));
	assert_int_equal(f->probe.resets, 1);
	/* event_cb runs after the typed handler only if still open. */
	assert_int_equal(f->probe.events, 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.err, -ECANCELED);
	run_for(&f->loop, 150);
	assert_int_equal(r.n, 1);
	assert_true(fixture_healthy(f));
}

/* Replies of very different sizes, the large ones split over many reads,
 * arriving after the link has idled with no read buffer of its own (a
 * small reply first), several in one write with an event between them:
 * each reaches its own command, whole and in order. */
struct sized_call {
	struct order *o;
	int index;
	int err;
	size_t ret_len; /* the returned string's length */
	char ret0;	/* and its first character */
};

static void sized_cb(qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct sized_call *k = data;
	k->err = r->err;
	if (r->ret && json_object_is_type(r->ret, json_type_string)) {
		k->ret_len = (size_t)json_object_get_string_len(r->ret);
		k->ret0 = json_object_get_string(r->ret)[0];
	}
	k->o->seen[k->o->n++] = k->index;
}

static bool seen_1(void *arg)
{
	return ((struct order *)arg)->n == 1;
}

static bool seen_4(void *arg)
{
	return ((struct order *)arg)->n == 4;
}

static bool fake_has_5(void *arg)
{
	return fakeqmp_ncommands(arg) == 5;
}

static void test_large_reply_after_idle(void **state)
{
	struct fixture *f = *state;
	struct qmp_config cfg = fixture_config(f->path);
	enum { BIG1 = 300000, BIG2 = 70000 };
	struct order o = {0};
	struct sized_call calls[4];

	start_ready(f, &cfg);
	for (int i = 0; i < 4; i++)
		calls[i] = (struct sized_call){.o = &o, .index = i};
	assert_int_equal(qmp_execute(f->probe.c, "query-balloon", NULL, 0,
				     sized_cb, &calls[0]),
			 0);
	assert_true(run_until_fn(&f->loop, seen_1, &o, 5000));
	assert_int_equal(calls[0].err, 0);

	/* Three more, answered by hand below. */
	fakeqmp_behaviour(f->fake)->reply = FAKEQMP_HANG;
	for (int i = 1; i < 4; i++)
		assert_int_equal(qmp_execute(f->probe.c, "query-x", NULL, 0,
					     sized_cb, &calls[i]),
				 0);
	assert_true(run_until_fn(&f->loop, fake_has_5, f->fake, 5000));
	int64_t id[4];
	for (int i = 1; i < 4; i++)
		id[i] = fakeqmp_command(f->fake, i + 1)->id;

	size_t size = BIG1 + BIG2 + 512;
	char *text = malloc(size);
	assert_non_null(text);
	size_t off = (size_t)snprintf(text, size, "{\"return\": \"");
	memset(text + off, 'a', BIG1);
	off += BIG1;
	off += (size_t)snprintf(
	    text + off, size - off,
	    "\", \"id\": %lld}\r\n{\"event\": \"STOP\"}\r\n"
	    "{\"return\": \"b\", \"id\": %lld}\r\n{\"return\": \"",
	    (long long)id[1], (long long)id[2]);
	memset(text + off, 'c', BIG2);
	off += BIG2;
	snprintf(text + off, size - off, "\", \"id\": %lld}", (long long)id[3]);
	int events = f->probe.events;
	assert_int_equal(fakeqmp_send_raw(f->fake, text), 0);
	free(text);
	assert_true(run_until_fn(&f->loop, seen_4, &o, 5000));

	for (int i = 0; i < 4; i++) {
		assert_int_equal(o.seen[i], i);
		assert_int_equal(calls[i].err, 0);
	}
	assert_int_equal(calls[1].ret_len, BIG1);
	assert_int_equal(calls[1].ret0, 'a');
	assert_int_equal(calls[2].ret_len, 1);
	assert_int_equal(calls[2].ret0, 'b');
	assert_int_equal(calls[3].ret_len, BIG2);
	assert_int_equal(calls[3].ret0, 'c');
	assert_int_equal(f->probe.events, events + 1);
	assert_int_equal(f->probe.disconnects, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn)                                                                  \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
	    T(test_greeting),
	    T(test_order_and_ids),
	    T(test_large_reply_after_idle),
	    T(test_arguments_and_errors),
	    T(test_execute_text),
	    T(test_events),
	    T(test_event_bad_data),
	    T(test_execute_before_ready),
	    T(test_max_pending),
	    T(test_reconnect_backoff),
	    T(test_set_config),
	    T(test_no_reconnect_by_default),
	    T(test_client_reset),
	    T(test_second_client_no_greeting),
	    T(test_close_in_reply),
	    T(test_close_in_ready),
	    T(test_close_in_disconnect),
	    T(test_close_in_reset_event),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
