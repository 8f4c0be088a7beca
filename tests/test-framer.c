/* test-framer.c: newline framing: split reads, several messages per read,
 * one byte at a time, CRLF and LF, empty lines, the size cap, no memory
 * held between messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* framer_feed on a copy of s (the framer writes into what it is fed),
 * freed on return: under ASan, a framer that kept a pointer into a read
 * past the feed would be caught. */
static int feed(struct framer *f, const char *s, size_t n, struct lines *l)
{
	char *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, s, n);
	int rc = framer_feed(f, copy, n, collect, l);
	free(copy);
	return rc;
}

static void feed_all(struct framer *f, const char *s, size_t chunk,
		     struct lines *l)
{
	size_t n = strlen(s);
	for (size_t off = 0; off < n; off += chunk) {
		size_t take = n - off < chunk ? n - off : chunk;
		assert_int_equal(feed(f, s + off, take, l), 0);
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
	assert_int_equal(feed(&f, "{\"ret", 5, &l), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(feed(&f, "urn\": 1}\n{", 10, &l), 0);
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
	assert_int_equal(feed(&f, big, sizeof(big), &l), -EMSGSIZE);
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
		rc = feed(&f, "yyyyyyy", 7, &l);
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
	assert_int_equal(feed(&f, msg, 10, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(strlen(l.v[0]), 9);
	/* One byte more does not. */
	char longer[11];
	memset(longer, 'b', 10);
	longer[10] = '\n';
	assert_int_equal(feed(&f, longer, 11, &l), -EMSGSIZE);
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
	assert_int_equal(feed(&f, buf, strlen(buf), &l), 0);
	assert_int_equal(l.n, 16);
	lines_free(&l);
	framer_free(&f);
}

static void test_callback_stops(void **state)
{
	struct framer f;
	struct lines l = {.stop_after = 1};
	framer_init(&f, 1024);
	assert_int_equal(feed(&f, "a\nb\nc\n", 6, &l), 42);
	assert_int_equal(l.n, 1);
	lines_free(&l);
	framer_free(&f);
}

static void test_no_memory_between_messages(void **state)
{
	struct framer f;
	struct lines l = {0};
	framer_init(&f, 1024);
	/* Whole messages: nothing kept. */
	assert_int_equal(feed(&f, "{\"a\":1}\r\n{\"b\":2}\r\n", 18, &l), 0);
	assert_int_equal(l.n, 2);
	assert_null(f.buf);
	/* A partial one is kept until its newline, then let go. */
	assert_int_equal(feed(&f, "{\"c\":", 5, &l), 0);
	assert_non_null(f.buf);
	assert_int_equal(feed(&f, "3}\r\n", 4, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[2], "{\"c\":3}");
	assert_null(f.buf);
	assert_int_equal(f.len, 0);
	lines_free(&l);
	framer_free(&f);
}

/* After idling with no buffer, a reply far larger than any before, split
 * over reads of every size and surrounded by small ones that arrive in the
 * same reads: every message whole, in order, none lost. */
static void test_large_after_idle(void **state)
{
	enum { BIG = 50000 };
	char *big = malloc(BIG + 64);
	assert_non_null(big);
	int off = snprintf(big, 64, "{\"return\": \"");
	memset(big + off, 'x', BIG);
	snprintf(big + off + BIG, 64, "\", \"id\": 2}");
	char *all = malloc(BIG + 256);
	assert_non_null(all);
	snprintf(all, BIG + 256,
		 "{\"return\": {}, \"id\": 1}\r\n%s\r\n"
		 "{\"event\": \"E\"}\r\n{\"return\": {}, \"id\": 3}\r\n",
		 big);
	size_t chunks[] = {1, 7, 100, 4096, 4097, 65536, BIG + 256};
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct framer f;
		struct lines l = {0};
		framer_init(&f, 2 * BIG);
		assert_int_equal(feed(&f, "{\"QMP\": {}}\r\n", 13, &l), 0);
		assert_null(f.buf); /* idle: nothing held */
		feed_all(&f, all, chunks[i], &l);
		assert_int_equal(l.n, 5);
		assert_string_equal(l.v[0], "{\"QMP\": {}}");
		assert_string_equal(l.v[1], "{\"return\": {}, \"id\": 1}");
		assert_string_equal(l.v[2], big);
		assert_string_equal(l.v[3], "{\"event\": \"E\"}");
		assert_string_equal(l.v[4], "{\"return\": {}, \"id\": 3}");
		assert_null(f.buf); /* and nothing held after it */
		lines_free(&l);
		framer_free(&f);
	}
	free(all);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole),
	    cmocka_unit_test(test_no_memory_between_messages),
	    cmocka_unit_test(test_large_after_idle),
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
