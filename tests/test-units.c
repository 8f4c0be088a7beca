/* test-units.c: sizes as admins type them (bd_parse_size), as people read
 * them (bd_format_size), and bounded whole numbers (bd_parse_uint). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/units.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)

/* A value bd_parse_* never produce, to see that errors leave *out alone. */
#define UNTOUCHED UINT64_C(0xdeadbeef)

struct size_case {
	const char *text;
	int rc;
	uint64_t bytes; /* when rc == 0 */
};

static void check_sizes(const struct size_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = UNTOUCHED;
		int rc = bd_parse_size(cases[i].text, &v);
		if (rc != cases[i].rc)
			fail_msg(
			    "bd_parse_size(\"%s\") returned %d, expected %d",
			    cases[i].text, rc, cases[i].rc);
		if (rc == 0 && v != cases[i].bytes)
			fail_msg(
			    "bd_parse_size(\"%s\") gave %llu, expected %llu",
			    cases[i].text, (unsigned long long)v,
			    (unsigned long long)cases[i].bytes);
		if (rc != 0 && v != UNTOUCHED)
			fail_msg("bd_parse_size(\"%s\") failed but wrote %llu",
				 cases[i].text, (unsigned long long)v);
	}
}

static void test_size_units(void **state)
{
	static const struct size_case cases[] = {
	    {"512M", 0, 512 * MiB},  {"8G", 0, 8 * GiB},
	    {"8GiB", 0, 8 * GiB},    {"8gib", 0, 8 * GiB},
	    {"8GB", 0, 8 * GiB}, /* GB is 1024^3 too, as the header says */
	    {"8g", 0, 8 * GiB},	     {"1T", 0, TiB},
	    {"1TiB", 0, TiB},	     {"1tb", 0, TiB},
	    {"4k", 0, 4 * KiB},	     {"4KB", 0, 4 * KiB},
	    {"4KiB", 0, 4 * KiB},    {"256MiB", 0, 256 * MiB},
	    {"256mb", 0, 256 * MiB}, {"100B", 0, 100},
	    {"100b", 0, 100},
	};
	check_sizes(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_size_plain_bytes(void **state)
{
	static const struct size_case cases[] = {
	    {"0", 0, 0},       {"1", 0, 1},
	    {"4096", 0, 4096}, {"1073741824", 0, GiB},
	    {"007", 0, 7},
	};
	check_sizes(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_size_whitespace(void **state)
{
	static const struct size_case cases[] = {
	    {"  1G", 0, GiB}, /* leading blanks are skipped */
	    {"1 G", 0, GiB},  /* so are blanks before the unit */
	    {"\t2\tM", 0, 2 * MiB},
	    {"1 2G", -EINVAL, 0}, /* but not inside the number */
	};
	check_sizes(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_size_bad(void **state)
{
	static const struct size_case cases[] = {
	    {"", -EINVAL, 0},
	    {"   ", -EINVAL, 0},
	    {"M", -EINVAL, 0},
	    {"GiB", -EINVAL, 0},
	    {"-1G", -EINVAL, 0},
	    {"+1G", -EINVAL, 0},
	    {"1.5G", -EINVAL, 0},
	    {"1,5G", -EINVAL, 0},
	    {"1X", -EINVAL, 0},
	    {"1GG", -EINVAL, 0},
	    {"1Gi", -EINVAL, 0},
	    {"1P", -EINVAL, 0}, /* no peta: a guest that big is a typo */
	    {"0x10", -EINVAL, 0},
	    {"1e9", -EINVAL, 0},
	};
	check_sizes(cases, sizeof(cases) / sizeof(cases[0]));
	uint64_t v = UNTOUCHED;
	assert_int_equal(bd_parse_size(NULL, &v), -EINVAL);
	assert_true(v == UNTOUCHED);
}

static void test_size_overflow(void **state)
{
	static const struct size_case cases[] = {
	    {"99999999999T", -ERANGE, 0},
	    /* The largest number of TiB that fits in 64 bits, and one more. */
	    {"16777215T", 0, UINT64_C(16777215) * TiB},
	    {"16777216T", -ERANGE, 0},
	    {"17179869184G", -ERANGE, 0},
	    {"18014398509481984K", -ERANGE, 0},
	    /* 20 digits: UINT64_MAX fits, one more does not. */
	    {"18446744073709551615", 0, UINT64_MAX},
	    {"18446744073709551615B", 0, UINT64_MAX},
	    {"18446744073709551616", -ERANGE, 0},
	    {"99999999999999999999", -ERANGE, 0},
	    {"18446744073709551615K", -ERANGE, 0},
	    /* Far too many digits is a range error, not a crash. */
	    {"1234567890123456789012345678901234567890", -ERANGE, 0},
	};
	check_sizes(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_format_size(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
	    {0, "0 B"},
	    {1, "1 B"},
	    {900, "900 B"},
	    {1023, "1023 B"},
	    {1024, "1 KiB"},
	    {1536, "1.5 KiB"},
	    {512 * MiB, "512 MiB"},
	    {GiB, "1 GiB"},
	    {GiB + GiB / 2, "1.5 GiB"},
	    {8 * GiB, "8 GiB"},
	    {TiB, "1 TiB"},
	    {16 * TiB, "16 TiB"},
	    {1024 * TiB, "1 PiB"},
	    {UINT64_C(1) << 60, "1 EiB"},
	};
	char buf[32];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *s =
		    bd_format_size(cases[i].bytes, buf, sizeof(buf));
		assert_ptr_equal(s, buf);
		if (strcmp(s, cases[i].text) != 0)
			fail_msg(
			    "bd_format_size(%llu) gave \"%s\", expected \"%s\"",
			    (unsigned long long)cases[i].bytes, s,
			    cases[i].text);
	}
}

static void test_format_size_round_trip(void **state)
{
	/* What bd_format_size prints for whole units, bd_parse_size reads back
	 * ("3 GiB": the blank before the unit is allowed). */
	static const uint64_t values[] = {64 * MiB, 3 * GiB, 2 * TiB, 12 * KiB};
	char buf[32];
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint64_t back = 0;
		bd_format_size(values[i], buf, sizeof(buf));
		assert_int_equal(bd_parse_size(buf, &back), 0); /* "3 GiB" */
		assert_true(back == values[i]);
	}
}

static void test_format_size_small_buffer(void **state)
{
	/* Truncated, still terminated. */
	char buf[4];
	bd_format_size(512 * MiB, buf, sizeof(buf));
	assert_string_equal(buf, "512");
	bd_format_size(UINT64_MAX, buf, sizeof(buf));
	assert_int_equal(strlen(buf), 3);
}

static void test_parse_uint(void **state)
{
	static const struct {
		const char *text;
		uint64_t min, max;
		int rc;
		uint64_t value;
	} cases[] = {
	    {"0", 0, 10, 0, 0},
	    {"10", 0, 10, 0, 10},
	    {"11", 0, 10, -ERANGE, 0},
	    {"99", 100, 600000, -ERANGE, 0},
	    {"100", 100, 600000, 0, 100},
	    {"600000", 100, 600000, 0, 600000},
	    {"600001", 100, 600000, -ERANGE, 0},
	    {"18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX},
	    {"18446744073709551616", 0, UINT64_MAX, -ERANGE, 0},
	    {"99999999999999999999999", 0, UINT64_MAX, -ERANGE, 0},
	    {"", 0, 10, -EINVAL, 0},
	    {"-1", 0, 10, -EINVAL, 0},
	    {"+1", 0, 10, -EINVAL, 0},
	    {" 1", 0, 10, -EINVAL, 0}, /* no blanks: inih already trims */
	    {"1 ", 0, 10, -EINVAL, 0},
	    {"1.0", 0, 10, -EINVAL, 0},
	    {"5s", 0, 10, -EINVAL, 0},
	    {"1k", 0, 10000, -EINVAL, 0}, /* counts take no units */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = UNTOUCHED;
		int rc = bd_parse_uint(cases[i].text, cases[i].min,
				       cases[i].max, &v);
		if (rc != cases[i].rc)
			fail_msg(
			    "bd_parse_uint(\"%s\", %llu, %llu) returned %d, "
			    "expected %d",
			    cases[i].text, (unsigned long long)cases[i].min,
			    (unsigned long long)cases[i].max, rc, cases[i].rc);
		if (rc == 0 && v != cases[i].value)
			fail_msg("bd_parse_uint(\"%s\") gave %llu",
				 cases[i].text, (unsigned long long)v);
		if (rc != 0 && v != UNTOUCHED)
			fail_msg("bd_parse_uint(\"%s\") failed but wrote %llu",
				 cases[i].text, (unsigned long long)v);
	}
	uint64_t v = UNTOUCHED;
	assert_int_equal(bd_parse_uint(NULL, 0, 1, &v), -EINVAL);
	assert_true(v == UNTOUCHED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_size_units),
	    cmocka_unit_test(test_size_plain_bytes),
	    cmocka_unit_test(test_size_whitespace),
	    cmocka_unit_test(test_size_bad),
	    cmocka_unit_test(test_size_overflow),
	    cmocka_unit_test(test_format_size),
	    cmocka_unit_test(test_format_size_round_trip),
	    cmocka_unit_test(test_format_size_small_buffer),
	    cmocka_unit_test(test_parse_uint),
	};
	return cmocka_run_group_tests_name("units", tests, NULL, NULL);
}
