/*
 * fuzz-notify.c: the network listener's parser and verifier. Each input
 * is one datagram: parsed, verified against a fixed key (the clock set to
 * its own timestamp, so that the MAC check runs), put through a replay
 * cache, and a parsed one encoded again and parsed back the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bd_notify_replay replay;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[] = "fuzzing-key-0123456789";
	static struct bd_notify_key k;
	struct bd_notify n, back;
	if (!k.ctx && bd_notify_key_set(&k, key, sizeof(key) - 1))
		abort();
	char msg[256], buf[BD_NOTIFY_MAX_BYTES + 1];

	if (bd_notify_parse((const char *)data, size, &n, msg, sizeof(msg)))
		return 0;
	(void)bd_notify_verify(&n, &k, n.timestamp_ms, 30000);
	if (replay.used == 0)
		bd_notify_replay_init(&replay, 0, 0);
	(void)bd_notify_replay_check(&replay, &n, n.timestamp_ms, 0);
	int len = bd_notify_encode(&n, buf, sizeof(buf));
	if (len > 0) {
		if (bd_notify_parse(buf, (size_t)len, &back, msg, sizeof(msg)))
			abort();
		if (memcmp(&n, &back, sizeof(n)) != 0)
			abort();
	}
	return 0;
}
