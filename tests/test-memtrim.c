/*
 * test-memtrim.c: when balloond gives the heap's free pages back
 * (daemon/memtrim.c): once after a burst of work, when the loop is quiet
 * again; not while it stays busy (but at the latest 2 s after the work
 * began); never while it idles. malloc_trim is this file's own, which
 * counts the calls (the executable's definition wins over glibc's).
 */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "daemon/server.h"
#include "tests/lib/timescale.h"

static uv_loop_t loop;
static struct bd bd;
static int trims;
static uint64_t trim_ms; /* loop time of the last trim */

int malloc_trim(size_t pad)
{
	trims++;
	trim_ms = uv_now(&loop);
	return 0;
}

/* Work, as the loop measures it: time spent outside of poll. */
static void spin_ms(unsigned ms)
{
	uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000;
	while (uv_hrtime() < end)
		;
	uv_update_time(&loop);
}

static int setup(void **state)
{
	trims = 0;
	if (uv_loop_init(&loop))
		return -1;
	bd.loop = &loop;
	return bd_memtrim_start(&bd);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Whatever a test left open (one that failed half-way), closed. */
static int teardown(void **state)
{
	bd_memtrim_close(&bd);
	uv_walk(&loop, close_walk_cb, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	return uv_loop_close(&loop);
}

/* Run the loop until *flag or ms of loop time passed (the trimmer's
 * handles keep no loop running: this timer does). */
static void stop_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* The test's handles are static: a failed assertion leaves the test
 * without closing them, and teardown closes them. */
static uv_timer_t deadline, burst, tick;
static uv_idle_t busy;

static void run_until_trims(int n, uint64_t ms)
{
	uv_timer_init(&loop, &deadline);
	uv_timer_start(&deadline, stop_cb, ms, 0);
	while (trims < n && uv_is_active((uv_handle_t *)&deadline))
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&deadline, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static uint64_t work_end_ms;

static void burst_cb(uv_timer_t *t)
{
	spin_ms(60);
	work_end_ms = uv_now(&loop);
	uv_close((uv_handle_t *)t, NULL);
}

static void test_once_quiet_after_a_burst(void **state)
{
	uv_timer_init(&loop, &burst);
	uv_timer_start(&burst, burst_cb, 10, 0);
	run_until_trims(1, 5000 * test_time_scale());
	assert_int_equal(trims, 1);
	/* It waited for the loop to be quiet (100 ms), less a margin for
	 * the loop clock's millisecond. */
	assert_true(trim_ms >= work_end_ms + 90);
	/* Nothing more to do, nothing more to trim. */
	run_until_trims(2, 400);
	assert_int_equal(trims, 1);
}

static void tick_cb(uv_timer_t *t) {}

/* The loop's time outside of poll so far, as the trimmer measures it. */
static uint64_t loop_work_ms(void)
{
	return (uv_hrtime() - uv_metrics_idle_time(&loop)) / 1000000;
}

/* Woken up every 20 ms, with nothing to do. */
static void test_never_while_idle(void **state)
{
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, tick_cb, 20, 20);
	uint64_t work0 = loop_work_ms();
	run_until_trims(1, 600);
	uint64_t work = loop_work_ms() - work0;
	/* A process held off the CPU outside of poll did work, as far as
	 * the trimmer can tell (25 ms of it make a trim worth it): only a
	 * loop that was really idle must not trim. */
	if (work < 20)
		assert_int_equal(trims, 0);
	else
		print_message("held off the CPU for %llu ms of the loop's "
			      "time outside poll: not idle, not checked\n",
			      (unsigned long long)work);
	uv_close((uv_handle_t *)&tick, NULL);
}

/* Busy all the time: every loop turn works 5 ms. */
static void busy_cb(uv_idle_t *h)
{
	spin_ms(5);
}

static void test_busy_waits_at_most_2_s(void **state)
{
	uv_idle_init(&loop, &busy);
	uv_idle_start(&busy, busy_cb);
	uint64_t start_ms = uv_now(&loop);
	run_until_trims(1, 1000);
	assert_int_equal(trims, 0); /* not in the middle of the work */
	run_until_trims(1, 5000 * test_time_scale());
	assert_int_equal(trims, 1); /* but not never either */
	assert_true(trim_ms >= start_ms + 2000);
	uv_close((uv_handle_t *)&busy, NULL);
}

int main(void)
{
	/* Valgrind replaces malloc_trim, this one included: nothing to
	 * count then. (Called through a pointer, as memtrim.c calls it,
	 * not inlined.) */
	int (*volatile trim_fn)(size_t) = malloc_trim;
	trim_fn(0);
	if (trims != 1) {
		printf(
		    "1..0 # SKIP malloc_trim is not this test's (valgrind)\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_once_quiet_after_a_burst,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_never_while_idle, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_busy_waits_at_most_2_s, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
