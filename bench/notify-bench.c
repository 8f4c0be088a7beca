/*
 * notify-bench: what the network listener's checks cost per datagram,
 * in-process (no socket): bd_notify_parse, then bd_notify_verify and the
 * replay cache as the listener runs them, for each kind of datagram a
 * flood may bring. Prints ns per datagram; bench/run-patroni.sh adds the
 * whole daemon's CPU per datagram received over UDP.
 *
 *   notify-bench [ITERATIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/notify.h"

static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
#define KEY_LEN 32

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The receiver's monotonic clock (ms) at every check. */
#define MONO_MS 1000000
static struct bd_notify_replay replay;
static struct bd_notify_key K;

/* The listener's path for one datagram, minus the socket and the log. */
static enum bd_notify_reject check(const char *buf, size_t len, int64_t now)
{
	struct bd_notify n;
	char msg[200];
	if (bd_notify_parse(buf, len, &n, msg, sizeof(msg)))
		return BD_NOTIFY_R_PARSE;
	enum bd_notify_reject r = bd_notify_verify(&n, &K, now, 30000);
	if (r == BD_NOTIFY_OK)
		r = bd_notify_replay_check(&replay, &n, now, MONO_MS);
	return r;
}

static void run(const char *what, const char *buf, size_t len, long iters,
		int64_t now, enum bd_notify_reject want)
{
	enum bd_notify_reject got = check(buf, len, now);
	if (got != want) {
		fprintf(stderr, "%s: %s, expected %s\n", what,
			bd_notify_reject_name(got),
			bd_notify_reject_name(want));
		exit(1);
	}
	double t0 = now_ns();
	for (long i = 0; i < iters; i++)
		(void)check(buf, len, now);
	double ns = (now_ns() - t0) / (double)iters;
	printf("  %-44s %8.0f ns  (%s)\n", what, ns,
	       bd_notify_reject_name(want));
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 200000;
	int64_t now = 1764680000000LL;
	char good[BD_NOTIFY_MAX_BYTES + 1], text[BD_NOTIFY_MAX_BYTES + 1];
	struct bd_notify n = {.version = 1, .timestamp_ms = now};
	snprintf(n.cluster, sizeof(n.cluster), "pg");
	snprintf(n.member, sizeof(n.member), "pg1");
	snprintf(n.role, sizeof(n.role), "leader");
	memset(n.nonce, 0x5a, sizeof(n.nonce));
	if (bd_notify_key_set(&K, key, KEY_LEN) || bd_notify_sign(&n, &K))
		return 1;
	int len = bd_notify_encode(&n, good, sizeof(good));
	bd_notify_replay_init(&replay, now - 60000, MONO_MS - 60000);

	printf("per datagram, %ld iterations each:\n", iters);
	run("garbage (not JSON)", "\x01\x02garbage", 9, iters, now,
	    BD_NOTIFY_R_PARSE);
	memset(text, ' ', sizeof(text));
	run("oversized (1025 bytes)", text, sizeof(text), iters, now,
	    BD_NOTIFY_R_PARSE);
	memset(text, '{', 900);
	run("900 x '{' (depth bomb)", text, 900, iters, now, BD_NOTIFY_R_PARSE);
	/* A captured valid notification replayed, against a full cache:
	 * the dearest path (MAC, then a scan of every slot). */
	for (unsigned i = 0; i < BD_NOTIFY_REPLAY_SLOTS; i++) {
		struct bd_notify m = n;
		memcpy(m.nonce, &i, sizeof(i));
		m.timestamp_ms = now - 1000;
		bd_notify_replay_check(&replay, &m, now, MONO_MS);
	}
	if (check(good, (size_t)len, now) != BD_NOTIFY_OK) {
		fprintf(stderr, "the valid notification was refused\n");
		return 1;
	}
	run("valid, replayed (cache of 1,024 full)", good, (size_t)len, iters,
	    now, BD_NOTIFY_R_REPLAY);
	struct bd_notify f = n;
	f.mac[0] ^= 1;
	len = bd_notify_encode(&f, text, sizeof(text));
	run("forged (bad MAC)", text, (size_t)len, iters, now, BD_NOTIFY_R_MAC);
	run("expired (outside the window)", text, (size_t)len, iters,
	    now + 60000, BD_NOTIFY_R_EXPIRED);
	return 0;
}
