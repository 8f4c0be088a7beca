/*
 * test-peaks.c: a guest's daily peaks of used memory (daemon/peaks.c):
 * the peak within a day, the day rolling over, the 14-day window, a
 * clock stepping back, starved days, the state file's form both ways,
 * and what a damaged state file may hold.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/peaks.h"

#define DAY_US (86400LL * 1000000)
#define GiB    (1ULL << 30)
/* 2026-12-06, 00:00 UTC, in days since the epoch. */
#define D0 20793

/* Noon of day d plus some hours. */
static int64_t at(int64_t d, int hours)
{
	return d * DAY_US + (12LL + hours) * 3600 * 1000000;
}

static void test_day(void **state)
{
	(void)state;
	assert_int_equal(bd_peaks_day(D0 * DAY_US), D0);
	assert_int_equal(bd_peaks_day(D0 * DAY_US - 1), D0 - 1);
	assert_int_equal(bd_peaks_day((D0 + 1) * DAY_US - 1), D0);
	assert_int_equal(bd_peaks_day(-1), -1);
	/* The date the window prints for it. */
	struct bd_peaks p = {0};
	bd_peaks_used(&p, at(D0, 0), 1);
	json_object *a = bd_peaks_to_json(&p, D0);
	assert_string_equal(
	    json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
	    "[{\"date\":\"2026-12-06\",\"used_bytes\":1}]");
	json_object_put(a);
}

static void test_peak_within_a_day(void **state)
{
	(void)state;
	struct bd_peaks p = {0};
	assert_false(bd_peaks_used(&p, at(D0, -11), 1 * GiB));
	assert_false(bd_peaks_used(&p, at(D0, 0), 3 * GiB));
	assert_false(bd_peaks_used(&p, at(D0, 11), 2 * GiB));
	struct bd_peaks_summary s = bd_peaks_summary(&p, D0);
	assert_int_equal(s.max_bytes, 3 * GiB);
	assert_int_equal(s.days, 1);
	assert_int_equal(s.starved_days, 0);
	assert_true(p.dirty);
	/* A sample of 0 (all of it available) is a peak too. */
	struct bd_peaks q = {0};
	bd_peaks_used(&q, at(D0, 0), 0);
	assert_int_equal(bd_peaks_summary(&q, D0).days, 1);
}

static void test_rollover(void **state)
{
	(void)state;
	struct bd_peaks p = {0};
	bd_peaks_used(&p, at(D0, 0), 5 * GiB);
	p.dirty = false;
	/* The first sample of the next day rolls, and says so once. */
	assert_true(bd_peaks_used(&p, at(D0 + 1, -12), 1 * GiB));
	assert_true(p.dirty);
	assert_false(bd_peaks_used(&p, at(D0 + 1, 0), 2 * GiB));
	assert_int_equal(p.day, D0 + 1);
	assert_int_equal(p.used_bytes[0], 2 * GiB);
	assert_int_equal(p.used_bytes[1], 5 * GiB);
	/* Two days without a sample leave a gap. */
	assert_true(bd_peaks_used(&p, at(D0 + 4, 0), 1 * GiB));
	assert_int_equal(p.known, 1u | 1u << 3 | 1u << 4);
	struct bd_peaks_summary s = bd_peaks_summary(&p, D0 + 4);
	assert_int_equal(s.max_bytes, 5 * GiB);
	assert_int_equal(s.days, 3);
}

static void test_window(void **state)
{
	(void)state;
	struct bd_peaks p = {0};
	/* Twenty days, the older ones the larger: only the last 14 count. */
	for (int i = 0; i < 20; i++)
		bd_peaks_used(&p, at(D0 + i, 0), (uint64_t)(100 - i) * GiB);
	struct bd_peaks_summary s = bd_peaks_summary(&p, D0 + 19);
	assert_int_equal(s.days, BD_PEAKS_DAYS);
	assert_int_equal(s.max_bytes, (uint64_t)(100 - 6) * GiB);
	/* Five days later, with no sample since, nine of them are left. */
	s = bd_peaks_summary(&p, D0 + 24);
	assert_int_equal(s.days, 9);
	assert_int_equal(s.max_bytes, (uint64_t)(100 - 11) * GiB);
	json_object *a = bd_peaks_to_json(&p, D0 + 24);
	assert_int_equal(json_object_array_length(a), 9);
	json_object_put(a);
	/* A month without a sample: the next one starts anew. */
	assert_true(bd_peaks_used(&p, at(D0 + 50, 0), 1 * GiB));
	s = bd_peaks_summary(&p, D0 + 50);
	assert_int_equal(s.days, 1);
	assert_int_equal(s.max_bytes, 1 * GiB);
	/* A window that ends before the newest slot leaves it out. */
	assert_int_equal(bd_peaks_summary(&p, D0 + 49).days, 0);
}

static void test_clock_back(void **state)
{
	(void)state;
	struct bd_peaks p = {0};
	bd_peaks_used(&p, at(D0 + 10, 0), 1 * GiB);
	/* The clock stepped back two days: history is not rewritten, the
	 * sample counts for the newest day. */
	assert_false(bd_peaks_used(&p, at(D0 + 8, 0), 4 * GiB));
	assert_int_equal(p.day, D0 + 10);
	assert_int_equal(p.known, 1);
	assert_int_equal(p.used_bytes[0], 4 * GiB);
}

static void test_starved(void **state)
{
	(void)state;
	struct bd_peaks p = {0};
	assert_false(bd_peaks_starved(&p, at(D0, 0)));
	bd_peaks_used(&p, at(D0, 0), 2 * GiB);
	assert_true(bd_peaks_starved(&p, at(D0 + 1, 0)));
	bd_peaks_starved(&p, at(D0 + 1, 3));
	bd_peaks_used(&p, at(D0 + 2, 0), 1 * GiB);
	bd_peaks_starved(&p, at(D0 + 3, 0));
	struct bd_peaks_summary s = bd_peaks_summary(&p, D0 + 3);
	assert_int_equal(s.starved_days, 3);
	assert_int_equal(s.days, 2);
	assert_int_equal(s.max_bytes, 2 * GiB);
	json_object *a = bd_peaks_to_json(&p, D0 + 3);
	assert_string_equal(
	    json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
	    "[{\"date\":\"2026-12-09\",\"starved\":true},"
	    "{\"date\":\"2026-12-08\",\"used_bytes\":1073741824},"
	    "{\"date\":\"2026-12-07\",\"starved\":true},"
	    "{\"date\":\"2026-12-06\",\"used_bytes\":2147483648,"
	    "\"starved\":true}]");
	json_object_put(a);
}

/* A guest registered again gets back the history it had when it was
 * unregistered: the days in between are simply missing. */
static void test_merge(void **state)
{
	(void)state;
	struct bd_peaks old = {0}, now = {0}, empty = {0};
	for (int i = 0; i < 5; i++)
		bd_peaks_used(&old, at(D0 + i, 0), (uint64_t)(i + 1) * GiB);
	bd_peaks_starved(&old, at(D0 + 4, 1));
	/* Registered again on day 7, its first sample already in. */
	bd_peaks_used(&now, at(D0 + 7, 0), 3 * GiB);
	now.dirty = false;
	bd_peaks_merge(&now, &old);
	assert_true(now.dirty);
	assert_int_equal(now.day, D0 + 7);
	assert_int_equal(now.known, 1u | 0x1fu << 3);
	assert_int_equal(now.starved, 1u << 3);
	assert_int_equal(now.used_bytes[0], 3 * GiB);
	assert_int_equal(now.used_bytes[3], 5 * GiB);
	assert_int_equal(now.used_bytes[7], 1 * GiB);
	struct bd_peaks_summary s = bd_peaks_summary(&now, D0 + 7);
	assert_int_equal(s.days, 6);
	assert_int_equal(s.starved_days, 1);
	/* Into an empty history: the same history. */
	bd_peaks_merge(&empty, &old);
	assert_int_equal(empty.day, old.day);
	assert_int_equal(empty.known, old.known);
	assert_int_equal(empty.starved, old.starved);
	assert_memory_equal(empty.used_bytes, old.used_bytes,
			    sizeof(old.used_bytes));
	/* Nothing from nothing; the same history twice changes nothing. */
	struct bd_peaks none = {0};
	empty.dirty = false;
	bd_peaks_merge(&empty, &none);
	bd_peaks_merge(&empty, &old);
	assert_false(empty.dirty);
	/* A day in both keeps the higher peak, whichever side it is on. */
	struct bd_peaks a = {0}, b = {0};
	bd_peaks_used(&a, at(D0, 0), 2 * GiB);
	bd_peaks_used(&b, at(D0, 0), 1 * GiB);
	bd_peaks_used(&b, at(D0 + 1, 0), 1 * GiB);
	bd_peaks_merge(&a, &b);
	assert_int_equal(a.day, D0 + 1);
	assert_int_equal(a.used_bytes[1], 2 * GiB);
	/* A history newer than p's moves p's days back; days that leave
	 * the newer window are dropped. */
	struct bd_peaks late = {0};
	bd_peaks_used(&late, at(D0 + 20, 0), 1 * GiB);
	bd_peaks_merge(&old, &late);
	assert_int_equal(old.day, D0 + 20);
	assert_int_equal(old.known, 1u);
	assert_int_equal(old.starved, 0);
}

static void test_expired(void **state)
{
	(void)state;
	struct bd_peaks p = {0};
	assert_true(bd_peaks_expired(&p, D0));
	bd_peaks_used(&p, at(D0, 0), 1 * GiB);
	assert_false(bd_peaks_expired(&p, D0));
	assert_false(bd_peaks_expired(&p, D0 + BD_PEAKS_DAYS - 1));
	assert_true(bd_peaks_expired(&p, D0 + BD_PEAKS_DAYS));
	/* A starved day alone is history too. */
	struct bd_peaks q = {0};
	bd_peaks_starved(&q, at(D0, 0));
	assert_false(bd_peaks_expired(&q, D0 + 1));
}

static void test_round_trip(void **state)
{
	(void)state;
	struct bd_peaks p = {0}, q;
	static const int days[] = {0, 1, 2, 5, 6, 9, 13};
	for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
		bd_peaks_used(&p, at(D0 + days[i], 0),
			      (uint64_t)(i + 1) * 300 * 1000 * 1000 + 7);
		if (i % 2)
			bd_peaks_starved(&p, at(D0 + days[i], 1));
	}
	/* Through text, as the state file holds it. */
	json_object *a = bd_peaks_to_json(&p, p.day);
	json_object *b = json_tokener_parse(json_object_to_json_string(a));
	assert_non_null(b);
	assert_int_equal(bd_peaks_from_json(b, &q), 0);
	assert_int_equal(q.day, p.day);
	assert_int_equal(q.known, p.known);
	assert_int_equal(q.starved, p.starved);
	assert_memory_equal(q.used_bytes, p.used_bytes, sizeof(p.used_bytes));
	assert_false(q.dirty);
	json_object_put(a);
	json_object_put(b);
	/* The year's turn and a leap day. */
	struct bd_peaks r = {0};
	json_object *c =
	    json_tokener_parse("[{\"date\":\"2028-03-01\",\"used_bytes\":3},"
			       "{\"date\":\"2028-02-29\",\"used_bytes\":2},"
			       "{\"date\":\"2028-02-28\",\"starved\":true}]");
	assert_int_equal(bd_peaks_from_json(c, &r), 0);
	assert_int_equal(r.known, 3);
	assert_int_equal(r.starved, 4);
	json_object *d = bd_peaks_to_json(&r, r.day);
	assert_string_equal(
	    json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN),
	    json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN));
	json_object_put(c);
	json_object_put(d);
}

static void test_parse_keeps_the_window(void **state)
{
	(void)state;
	struct bd_peaks p;
	/* Out of order, a duplicate date (its larger peak wins), and a day
	 * outside the window of the newest (dropped). */
	json_object *a =
	    json_tokener_parse("[{\"date\":\"2026-12-01\",\"used_bytes\":5},"
			       "{\"date\":\"2026-12-14\",\"used_bytes\":1},"
			       "{\"date\":\"2026-12-01\",\"used_bytes\":9},"
			       "{\"date\":\"2026-11-30\",\"used_bytes\":99}]");
	assert_int_equal(bd_peaks_from_json(a, &p), 0);
	assert_int_equal(p.day, D0 + 8);
	assert_int_equal(p.known, 1u | 1u << 13);
	assert_int_equal(p.used_bytes[13], 9);
	assert_int_equal(bd_peaks_summary(&p, p.day).max_bytes, 9);
	json_object_put(a);
	/* A date with nothing else (a key of a later version only) is no
	 * day: it does not move the window. */
	a = json_tokener_parse("[{\"date\":\"2026-12-20\",\"x\":1},"
			       "{\"date\":\"2026-12-06\",\"used_bytes\":1}]");
	assert_int_equal(bd_peaks_from_json(a, &p), 0);
	assert_int_equal(p.day, D0);
	assert_int_equal(p.known, 1);
	json_object_put(a);
	/* Empty is fine. */
	a = json_object_new_array();
	assert_int_equal(bd_peaks_from_json(a, &p), 0);
	assert_int_equal(p.known, 0);
	assert_int_equal(p.day, 0);
	json_object_put(a);
}

static void test_garbage(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "{}",
	    "\"2026-12-06\"",
	    "[1]",
	    "[{}]",
	    "[{\"used_bytes\":1}]",
	    "[{\"date\":20793,\"used_bytes\":1}]",
	    "[{\"date\":\"2026-02-30\",\"used_bytes\":1}]",
	    "[{\"date\":\"2026-13-01\",\"used_bytes\":1}]",
	    "[{\"date\":\"2026-00-10\",\"used_bytes\":1}]",
	    "[{\"date\":\"1969-12-31\",\"used_bytes\":1}]",
	    "[{\"date\":\"2026-1-01\",\"used_bytes\":1}]",
	    "[{\"date\":\"2026-12-06 \",\"used_bytes\":1}]",
	    "[{\"date\":\"2026/12/06\",\"used_bytes\":1}]",
	    "[{\"date\":\"+026-12-06\",\"used_bytes\":1}]",
	    "[{\"date\":\"2026-12-06\",\"used_bytes\":-1}]",
	    "[{\"date\":\"2026-12-06\",\"used_bytes\":\"1\"}]",
	    "[{\"date\":\"2026-12-06\",\"used_bytes\":1.5}]",
	    "[{\"date\":\"2026-12-06\",\"starved\":1}]",
	    /* One bad entry spoils the rest: nothing half-read is kept. */
	    "[{\"date\":\"2026-12-06\",\"used_bytes\":1},"
	    "{\"date\":\"2026-12-07\",\"used_bytes\":null}]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bd_peaks p;
		memset(&p, 0xa5, sizeof(p));
		json_object *a = json_tokener_parse(bad[i]);
		assert_non_null(a);
		if (bd_peaks_from_json(a, &p) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(p.known, 0);
		assert_int_equal(p.starved, 0);
		assert_int_equal(p.day, 0);
		json_object_put(a);
	}
	struct bd_peaks p;
	assert_int_equal(bd_peaks_from_json(NULL, &p), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_day),
	    cmocka_unit_test(test_peak_within_a_day),
	    cmocka_unit_test(test_rollover),
	    cmocka_unit_test(test_window),
	    cmocka_unit_test(test_clock_back),
	    cmocka_unit_test(test_starved),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_expired),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_parse_keeps_the_window),
	    cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
