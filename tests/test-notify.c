/* test-notify.c: network role notifications (proto/notify.c): a signed
 * one round-trips and is accepted; forged, altered, expired, future,
 * replayed and malformed ones are refused with their reason; the replay
 * cache stays sound when it overflows; key files; the MAC is standard
 * HMAC-SHA256 (RFC 4231) and a known datagram is reproduced byte for
 * byte. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/notify.h"

static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
#define KEY_LEN 32
static struct bd_notify_key K;

static int setup(void **state)
{
	return bd_notify_key_set(&K, key, KEY_LEN);
}

static int teardown(void **state)
{
	bd_notify_key_clear(&K);
	return 0;
}
#define NOW    1764680000000LL
#define WINDOW 30000
/* The receiver's monotonic clock at NOW. */
#define MONO 5000000LL

static struct bd_notify make(const char *role, int64_t ts, uint8_t nonce_byte)
{
	struct bd_notify n = {.version = 1, .timestamp_ms = ts};
	snprintf(n.cluster, sizeof(n.cluster), "pg");
	snprintf(n.member, sizeof(n.member), "pg1");
	snprintf(n.role, sizeof(n.role), "%s", role);
	memset(n.nonce, nonce_byte, sizeof(n.nonce));
	assert_int_equal(bd_notify_sign(&n, &K), 0);
	return n;
}

/* Encode n, parse it back: the datagram's text in buf. */
static void roundtrip(const struct bd_notify *n, char *buf, size_t size,
		      struct bd_notify *back)
{
	char msg[256];
	int len = bd_notify_encode(n, buf, size);
	assert_true(len > 0);
	assert_int_equal(
	    bd_notify_parse(buf, (size_t)len, back, msg, sizeof(msg)), 0);
}

static enum bd_notify_reject verify_text(const char *text)
{
	struct bd_notify n;
	char msg[256];
	if (bd_notify_parse(text, strlen(text), &n, msg, sizeof(msg)))
		return BD_NOTIFY_R_PARSE;
	return bd_notify_verify(&n, &K, NOW, WINDOW);
}

static void test_valid_accepted(void **state)
{
	struct bd_notify n = make("leader", NOW - 5, 0x11), back;
	char buf[BD_NOTIFY_MAX_BYTES + 1];
	roundtrip(&n, buf, sizeof(buf), &back);
	assert_true(strlen(buf) < 300);
	assert_string_equal(back.cluster, "pg");
	assert_string_equal(back.member, "pg1");
	assert_string_equal(back.role, "leader");
	assert_int_equal(back.timestamp_ms, NOW - 5);
	assert_memory_equal(back.mac, n.mac, sizeof(n.mac));
	assert_int_equal(bd_notify_verify(&back, &K, NOW, WINDOW),
			 BD_NOTIFY_OK);
	/* Within the window either side. */
	assert_int_equal(bd_notify_verify(&back, &K, NOW - 5 + WINDOW, WINDOW),
			 BD_NOTIFY_OK);
	assert_int_equal(bd_notify_verify(&back, &K, NOW - 5 - WINDOW, WINDOW),
			 BD_NOTIFY_OK);
	assert_string_equal(bd_notify_reject_name(BD_NOTIFY_OK), "accepted");
	assert_string_equal(bd_notify_reject_name(BD_NOTIFY_R_MAC), "bad-mac");
}

/* The datagram, byte for byte, for fixed fields: its MAC is Python's
 * hmac.new(key, text, hashlib.sha256) over the canonical encoding, so a
 * sender and a receiver built on other HMAC code still agree. */
static void test_known_datagram(void **state)
{
	struct bd_notify n = make("leader", NOW, 0xab);
	char buf[BD_NOTIFY_MAX_BYTES + 1];
	int len = bd_notify_encode(&n, buf, sizeof(buf));
	static const char want[] =
	    "{\"version\":1,\"cluster\":\"pg\",\"member\":\"pg1\","
	    "\"role\":\"leader\",\"timestamp_ms\":1764680000000,"
	    "\"nonce\":\"abababababababababababababababab\","
	    "\"hmac\":\"026b58b51250aeb1dfd953158977d6076149e31686d6993be24f0c6"
	    "14a0ac959\"}";
	assert_int_equal(len, (int)strlen(want));
	assert_string_equal(buf, want);
	assert_int_equal(verify_text(want), BD_NOTIFY_OK);
}

static void expect_hmac(const uint8_t *k, size_t k_len, const char *data,
			const char *want_hex)
{
	struct bd_notify_key key_ = {0};
	uint8_t mac[BD_NOTIFY_MAC_BYTES];
	char hex[2 * BD_NOTIFY_MAC_BYTES + 1];
	assert_int_equal(bd_notify_key_set(&key_, k, k_len), 0);
	assert_int_equal(bd_notify_hmac(&key_, data, strlen(data), mac), 0);
	bd_notify_hex(mac, sizeof(mac), hex);
	assert_string_equal(hex, want_hex);
	/* The key is only read: the same message gives the same MAC. */
	memset(mac, 0, sizeof(mac));
	assert_int_equal(bd_notify_hmac(&key_, data, strlen(data), mac), 0);
	bd_notify_hex(mac, sizeof(mac), hex);
	assert_string_equal(hex, want_hex);
	bd_notify_key_clear(&key_);
	assert_int_equal(bd_notify_hmac(&key_, data, strlen(data), mac),
			 -EINVAL);
}

/* HMAC-SHA256 is the standard one: RFC 4231's test cases 2 (a key shorter
 * than the hash) and 6 (a key longer than SHA-256's block, hashed first;
 * key files may hold up to 1,024 bytes). */
static void test_rfc4231(void **state)
{
	expect_hmac((const uint8_t *)"Jefe", 4, "what do ya want for nothing?",
		    "5bdcc146bf60754e6a042426089575c7"
		    "5a003f089d2739839dec58b964ec3843");
	uint8_t long_key[131];
	memset(long_key, 0xaa, sizeof(long_key));
	expect_hmac(long_key, sizeof(long_key),
		    "Test Using Larger Than Block-Size Key - Hash Key First",
		    "60e431591ee0b67f0d8a26aacbf5b77f"
		    "8e0bc6213728c5140546040f0ee37f54");
}

static void test_forged_key(void **state)
{
	struct bd_notify n = make("leader", NOW, 0x22);
	static const uint8_t other[] = "0123456789abcdef0123456789abcdeF";
	struct bd_notify_key o = {0};
	assert_int_equal(bd_notify_key_set(&o, other, KEY_LEN), 0);
	assert_int_equal(bd_notify_verify(&n, &o, NOW, WINDOW),
			 BD_NOTIFY_R_MAC);
	/* A key that is a prefix of the right one is another key. */
	assert_int_equal(bd_notify_key_set(&o, key, KEY_LEN - 1), 0);
	assert_int_equal(bd_notify_verify(&n, &o, NOW, WINDOW),
			 BD_NOTIFY_R_MAC);
	/* Verifying with another key leaves the right one working. */
	assert_int_equal(bd_notify_verify(&n, &K, NOW, WINDOW), BD_NOTIFY_OK);
	bd_notify_key_clear(&o);
	assert_int_equal(bd_notify_verify(&n, &o, NOW, WINDOW),
			 BD_NOTIFY_R_MAC);
	assert_int_equal(bd_notify_sign(&n, &o), -EINVAL);
	assert_int_equal(bd_notify_key_set(&o, key, 0), -EINVAL);
}

static void test_altered_fields(void **state)
{
	struct bd_notify n = make("replica", NOW, 0x33), m;
	m = n;
	snprintf(m.role, sizeof(m.role), "leader");
	assert_int_equal(bd_notify_verify(&m, &K, NOW, WINDOW),
			 BD_NOTIFY_R_MAC);
	m = n;
	snprintf(m.member, sizeof(m.member), "pg2");
	assert_int_equal(bd_notify_verify(&m, &K, NOW, WINDOW),
			 BD_NOTIFY_R_MAC);
	m = n;
	snprintf(m.cluster, sizeof(m.cluster), "pgx");
	assert_int_equal(bd_notify_verify(&m, &K, NOW, WINDOW),
			 BD_NOTIFY_R_MAC);
	m = n;
	m.timestamp_ms++;
	assert_int_equal(bd_notify_verify(&m, &K, NOW, WINDOW),
			 BD_NOTIFY_R_MAC);
	m = n;
	m.nonce[7] ^= 1;
	assert_int_equal(bd_notify_verify(&m, &K, NOW, WINDOW),
			 BD_NOTIFY_R_MAC);
	m = n;
	m.mac[31] ^= 0x80;
	assert_int_equal(bd_notify_verify(&m, &K, NOW, WINDOW),
			 BD_NOTIFY_R_MAC);
	/* Moving a separator between fields changes the MAC: "pg"/"1x" is
	 * not "pg1"/"x". */
	struct bd_notify a = make("leader", NOW, 0x34), b = a;
	snprintf(b.cluster, sizeof(b.cluster), "pgp");
	snprintf(b.member, sizeof(b.member), "g1");
	b.mac[0] = 0;
	assert_int_equal(bd_notify_sign(&b, &K), 0);
	assert_memory_not_equal(a.mac, b.mac, sizeof(a.mac));

	/* Altered in the datagram's text. */
	char buf[BD_NOTIFY_MAX_BYTES + 1];
	assert_true(bd_notify_encode(&n, buf, sizeof(buf)) > 0);
	assert_int_equal(verify_text(buf), BD_NOTIFY_OK);
	char *p = strstr(buf, "\"replica\"");
	assert_non_null(p);
	memcpy(p, "\"leader\" ", 9);
	assert_int_equal(verify_text(buf), BD_NOTIFY_R_MAC);
}

static void test_expired_and_future(void **state)
{
	struct bd_notify old = make("leader", NOW - WINDOW - 1, 0x44);
	assert_int_equal(bd_notify_verify(&old, &K, NOW, WINDOW),
			 BD_NOTIFY_R_EXPIRED);
	struct bd_notify fut = make("leader", NOW + WINDOW + 1, 0x45);
	assert_int_equal(bd_notify_verify(&fut, &K, NOW, WINDOW),
			 BD_NOTIFY_R_FUTURE);
	/* The clock checks come first: an expired forgery is "expired". */
	old.mac[0] ^= 1;
	assert_int_equal(bd_notify_verify(&old, &K, NOW, WINDOW),
			 BD_NOTIFY_R_EXPIRED);
}

static void test_replayed(void **state)
{
	static struct bd_notify_replay r;
	bd_notify_replay_init(&r, NOW - WINDOW, MONO - WINDOW);
	struct bd_notify n = make("leader", NOW, 0x55);
	assert_int_equal(bd_notify_replay_check(&r, &n, NOW, MONO),
			 BD_NOTIFY_OK);
	assert_int_equal(bd_notify_replay_check(&r, &n, NOW, MONO),
			 BD_NOTIFY_R_REPLAY);
	/* The same nonce with another (validly signed) body is a replay
	 * too: nonces are never reused. */
	struct bd_notify m = make("replica", NOW + 1, 0x55);
	assert_int_equal(bd_notify_replay_check(&r, &m, NOW, MONO),
			 BD_NOTIFY_R_REPLAY);
	struct bd_notify o = make("replica", NOW + 1, 0x56);
	assert_int_equal(bd_notify_replay_check(&r, &o, NOW, MONO),
			 BD_NOTIFY_OK);
	/* Older than the cache was made (a restarted daemon). */
	struct bd_notify before = make("leader", NOW - WINDOW, 0x57);
	assert_int_equal(bd_notify_replay_check(&r, &before, NOW, MONO),
			 BD_NOTIFY_R_STALE);
}

/* A key holder floods the cache: eviction never lets a replay in, the
 * floor rises instead. */
static void test_replay_overflow(void **state)
{
	static struct bd_notify_replay r;
	bd_notify_replay_init(&r, NOW - WINDOW, MONO - WINDOW);
	struct bd_notify first = make("leader", NOW - 6000, 0);
	first.nonce[0] = 0xff;
	assert_int_equal(bd_notify_replay_check(&r, &first, NOW, MONO),
			 BD_NOTIFY_OK);
	for (unsigned i = 0; i < 3 * BD_NOTIFY_REPLAY_SLOTS; i++) {
		struct bd_notify n = first;
		memcpy(n.nonce, &i, sizeof(i));
		n.nonce[15] = 1;
		n.timestamp_ms = NOW - 5000 + (int64_t)i;
		assert_int_equal(bd_notify_replay_check(&r, &n, NOW, MONO),
				 BD_NOTIFY_OK);
	}
	assert_int_equal(r.used, BD_NOTIFY_REPLAY_SLOTS);
	/* first was evicted: refused all the same, now as too old. */
	assert_int_equal(bd_notify_replay_check(&r, &first, NOW, MONO),
			 BD_NOTIFY_R_STALE);
	/* The floor is the newest evicted: the cache holds the last SLOTS
	 * of the flood, so 2 * SLOTS - 1 was the last one evicted. */
	assert_int_equal(r.floor_ms,
			 NOW - 5000 + 2 * BD_NOTIFY_REPLAY_SLOTS - 1);
	/* Ones still cached are replays; one older than them is stale. */
	struct bd_notify last = first;
	unsigned i = 3 * BD_NOTIFY_REPLAY_SLOTS - 1;
	memcpy(last.nonce, &i, sizeof(i));
	last.nonce[15] = 1;
	last.timestamp_ms = NOW - 5000 + (int64_t)i;
	assert_int_equal(bd_notify_replay_check(&r, &last, NOW, MONO),
			 BD_NOTIFY_R_REPLAY);
	/* A fresh one still gets in. */
	struct bd_notify fresh = make("leader", NOW, 0x66);
	assert_int_equal(bd_notify_replay_check(&r, &fresh, NOW, MONO),
			 BD_NOTIFY_OK);
}

/* The receiver's wall clock steps back an hour (NTP correcting a clock
 * that ran ahead when the cache was made): the moment the cache was made
 * moves back with it, or nothing would be accepted for an hour. A step
 * forward leaves it. */
static void test_replay_clock_steps(void **state)
{
	static struct bd_notify_replay r;
	const int64_t hour = 3600000;
	bd_notify_replay_init(&r, NOW, MONO);
	/* A second later, and an hour back. */
	int64_t wall = NOW - hour + 1000, mono = MONO + 1000;
	struct bd_notify n = make("leader", wall, 0x71);
	assert_int_equal(bd_notify_replay_check(&r, &n, wall, mono),
			 BD_NOTIFY_OK);
	assert_int_equal(bd_notify_replay_check(&r, &n, wall, mono),
			 BD_NOTIFY_R_REPLAY);
	/* Before the cache was made, on the clock as it reads now. */
	struct bd_notify b = make("leader", NOW - hour, 0x72);
	assert_int_equal(bd_notify_replay_check(&r, &b, wall, mono),
			 BD_NOTIFY_R_STALE);
	struct bd_notify c = make("leader", NOW - hour + 1, 0x73);
	assert_int_equal(bd_notify_replay_check(&r, &c, wall, mono),
			 BD_NOTIFY_OK);
	/* Then a day forward: the start stays where it was made. */
	wall = NOW + 24 * hour, mono = MONO + 2000;
	struct bd_notify d = make("leader", NOW, 0x74);
	assert_int_equal(bd_notify_replay_check(&r, &d, wall, mono),
			 BD_NOTIFY_R_STALE);
	struct bd_notify e = make("leader", NOW + 1, 0x75);
	assert_int_equal(bd_notify_replay_check(&r, &e, wall, mono),
			 BD_NOTIFY_OK);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "[]",
	    "null",
	    "{}",
	    "{\"version\": 2}",
	    /* good but for one field each (hmac is checked later) */
	    "{\"version\":1,\"cluster\":\"\",\"member\":\"a\",\"role\":\"r\","
	    "\"timestamp_ms\":1,\"nonce\":\"00000000000000000000000000000000\","
	    "\"hmac\":\"0000000000000000000000000000000000000000000000000000000"
	    "000000000\"}",
	    "{\"version\":1,\"cluster\":\"c\",\"member\":\"a\\nb\",\"role\":"
	    "\"r\",\"timestamp_ms\":1,\"nonce\":"
	    "\"00000000000000000000000000000000\",\"hmac\":"
	    "\"0000000000000000000000000000000000000000000000000000000000000000"
	    "\"}",
	    "{\"version\":1,\"cluster\":\"c\",\"member\":\"a\\u0000b\","
	    "\"role\":"
	    "\"r\",\"timestamp_ms\":1,\"nonce\":"
	    "\"00000000000000000000000000000000\",\"hmac\":"
	    "\"0000000000000000000000000000000000000000000000000000000000000000"
	    "\"}",
	    "{\"version\":1,\"cluster\":\"c\",\"member\":\"a\",\"role\":\"r\","
	    "\"timestamp_ms\":-1,\"nonce\":"
	    "\"00000000000000000000000000000000\","
	    "\"hmac\":\"0000000000000000000000000000000000000000000000000000000"
	    "000000000\"}",
	    "{\"version\":1,\"cluster\":\"c\",\"member\":\"a\",\"role\":\"r\","
	    "\"timestamp_ms\":\"1\",\"nonce\":"
	    "\"00000000000000000000000000000000"
	    "\",\"hmac\":"
	    "\"000000000000000000000000000000000000000000000000000000"
	    "0000000000\"}",
	    "{\"version\":1,\"cluster\":\"c\",\"member\":\"a\",\"role\":\"r\","
	    "\"timestamp_ms\":1,\"nonce\":\"0000000000000000000000000000000G\","
	    "\"hmac\":\"0000000000000000000000000000000000000000000000000000000"
	    "000000000\"}",
	    "{\"version\":1,\"cluster\":\"c\",\"member\":\"a\",\"role\":\"r\","
	    "\"timestamp_ms\":1,\"nonce\":\"00000000000000000000000000000000\","
	    "\"hmac\":\"00\"}",
	    /* an extra field the MAC would not cover */
	    "{\"version\":1,\"cluster\":\"c\",\"member\":\"a\",\"role\":\"r\","
	    "\"timestamp_ms\":1,\"nonce\":\"00000000000000000000000000000000\","
	    "\"hmac\":\"0000000000000000000000000000000000000000000000000000000"
	    "000000000\",\"x\":1}",
	    /* nesting, trailing garbage */
	    "{\"version\":1,\"cluster\":{\"a\":[1]}}",
	    "{\"version\":1,\"cluster\":\"c\",\"member\":\"a\",\"role\":\"r\","
	    "\"timestamp_ms\":1,\"nonce\":\"00000000000000000000000000000000\","
	    "\"hmac\":\"0000000000000000000000000000000000000000000000000000000"
	    "000000000\"} x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bd_notify n;
		char msg[256] = "";
		if (bd_notify_parse(bad[i], strlen(bad[i]), &n, msg,
				    sizeof(msg)) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(msg[0] != '\0');
	}
	/* Oversized: refused before any parsing. */
	char big[BD_NOTIFY_MAX_BYTES + 2];
	memset(big, ' ', sizeof(big));
	struct bd_notify n;
	char msg[256];
	assert_int_equal(
	    bd_notify_parse(big, sizeof(big), &n, msg, sizeof(msg)), -EINVAL);
	/* Unsignable fields. */
	struct bd_notify u = make("leader", NOW, 1);
	snprintf(u.member, sizeof(u.member), "a\tb");
	assert_int_equal(bd_notify_sign(&u, &K), -EINVAL);
	char buf[16];
	struct bd_notify v = make("leader", NOW, 1);
	assert_int_equal(bd_notify_encode(&v, buf, sizeof(buf)), -EMSGSIZE);
}

static void test_key_file(void **state)
{
	char path[] = "/tmp/test-notify-key.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	uint8_t k[BD_NOTIFY_KEY_MAX_BYTES];
	size_t len = 0;
	char err[256];
	assert_int_equal(write(fd, "short\n", 6), 6);
	assert_int_equal(bd_notify_key_load(path, k, &len, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "openssl rand"));
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(
	    pwrite(fd, "0123456789abcdef0123456789abcdef\n", 33, 0), 33);
	assert_int_equal(bd_notify_key_load(path, k, &len, err, sizeof(err)),
			 0);
	assert_int_equal(len, 32);
	assert_memory_equal(k, key, 32);
	close(fd);
	unlink(path);
	assert_int_equal(bd_notify_key_load(path, k, &len, err, sizeof(err)),
			 -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_accepted),
	    cmocka_unit_test(test_known_datagram),
	    cmocka_unit_test(test_rfc4231),
	    cmocka_unit_test(test_forged_key),
	    cmocka_unit_test(test_altered_fields),
	    cmocka_unit_test(test_expired_and_future),
	    cmocka_unit_test(test_replayed),
	    cmocka_unit_test(test_replay_overflow),
	    cmocka_unit_test(test_replay_clock_steps),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_key_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
