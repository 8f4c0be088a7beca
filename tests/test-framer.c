/* test-framer.c: newline framing: split reads, several messages per read,
 * one byte at a time, CRLF and LF, empty lines, the size cap. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/framer.h"

struct lines {
	char *v[16];
	int n;
	int stop_after; /* return nonzero after this many (0: never) */
};

static int collect(char *line, size_t len, void *data)
{
	struct lines *l = data;
	assert_int_equal(strlen(line), len); /* NUL-terminated, no CR/LF */
	assert_true(l->n < 16);
	l->v[l->n++] = strdup(line);
	return l->stop_after && l->n >= l->stop_after ? 42 : 0;
}

static void lines_free(struct lines *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
}

static void feed_all(struct framer *f, const char *s, size_t chunk,
		     struct lines *l)
{
	size_t n = strlen(s);
	for (size_t off = 0; off < n; off += chunk) {
		size_t take = n - off < chunk ? n - off : chunk;
		assert_int_equal(framer_feed(f, s + off, take, collect, l), 0);
	}
}

static const char stream[] =
    "{\"QMP\": {}}\r\n{\"return\": {}, \"id\": 1}\r\n\r\n"
    "{\"event\": \"X\"}\n{\"return\": 3}\r\n";

static void check_stream(size_t chunk)
{
	struct framer f;
	struct lines l = {0};
	framer_init(&f, 1024);
	feed_all(&f, stream, chunk, &l);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0], "{\"QMP\": {}}");
	assert_string_equal(l.v[1], "{\"return\": {}, \"id\": 1}");
	assert_string_equal(l.v[2], "{\"event\": \"X\"}");
	assert_string_equal(l.v[3], "{\"return\": 3}");
	assert_int_equal(f.len, 0);
	lines_free(&l);
	framer_free(&f);
}

static void test_whole(void **state)
{
	check_stream(sizeof(stream));
}
static void test_byte_at_a_time(void **state)
{
	check_stream(1);
}
static void test_split_reads(void **state)
{
	for (size_t chunk = 2; chunk < 20; chunk++)
		check_stream(chunk);
}

static void test_partial_kept(void **state)
{
	struct framer f;
	struct lines l = {0};
	framer_init(&f, 1024);
	assert_int_equal(framer_feed(&f, "{\"ret", 5, collect, &l), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(framer_feed(&f, "urn\": 1}\n{", 10, collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0], "{\"return\": 1}");
	assert_int_equal(f.len, 1);
	framer_reset(&f);
	assert_int_equal(f.len, 0);
	lines_free(&l);
	framer_free(&f);
}

static void test_oversize_single_read(void **state)
{
	struct framer f;
	struct lines l = {0};
	char big[300];
	memset(big, 'x', sizeof(big));
	framer_init(&f, 100);
	assert_int_equal(framer_feed(&f, big, sizeof(big), collect, &l),
			 -EMSGSIZE);
	assert_int_equal(l.n, 0);
	assert_true(f.cap <= 101); /* memory stays bounded */
	framer_free(&f);
}

static void test_oversize_trickle(void **state)
{
	struct framer f;
	struct lines l = {0};
	framer_init(&f, 100);
	int rc = 0;
	for (int i = 0; i < 1000 && rc == 0; i++)
		rc = framer_feed(&f, "yyyyyyy", 7, collect, &l);
	assert_int_equal(rc, -EMSGSIZE);
	assert_true(f.cap <= 101);
	framer_free(&f);
}

static void test_exact_cap(void **state)
{
	/* A message of exactly max_bytes including its newline fits. */
	struct framer f;
	struct lines l = {0};
	char msg[10];
	memset(msg, 'a', 9);
	msg[9] = '\n';
	framer_init(&f, 10);
	assert_int_equal(framer_feed(&f, msg, 10, collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(strlen(l.v[0]), 9);
	/* One byte more does not. */
	char longer[11];
	memset(longer, 'b', 10);
	longer[10] = '\n';
	assert_int_equal(framer_feed(&f, longer, 11, collect, &l), -EMSGSIZE);
	lines_free(&l);
	framer_free(&f);
}

static void test_many_small_messages_with_cap(void **state)
{
	/* Many messages in one read, together far larger than the cap. */
	struct framer f;
	struct lines l = {0};
	char buf[16 * 8 + 1] = "";
	for (int i = 0; i < 16; i++)
		strcat(buf, "{\"a\":1}\n");
	framer_init(&f, 16);
	assert_int_equal(framer_feed(&f, buf, strlen(buf), collect, &l), 0);
	assert_int_equal(l.n, 16);
	lines_free(&l);
	framer_free(&f);
}

static void test_callback_stops(void **state)
{
	struct framer f;
	struct lines l = {.stop_after = 1};
	framer_init(&f, 1024);
	assert_int_equal(framer_feed(&f, "a\nb\nc\n", 6, collect, &l), 42);
	assert_int_equal(l.n, 1);
	lines_free(&l);
	framer_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole),
	    cmocka_unit_test(test_byte_at_a_time),
	    cmocka_unit_test(test_split_reads),
	    cmocka_unit_test(test_partial_kept),
	    cmocka_unit_test(test_oversize_single_read),
	    cmocka_unit_test(test_oversize_trickle),
	    cmocka_unit_test(test_exact_cap),
	    cmocka_unit_test(test_many_small_messages_with_cap),
	    cmocka_unit_test(test_callback_stops),
	};
	return cmocka_run_group_tests_name("framer", tests, NULL, NULL);
}
