/*
 * notify.h: authenticated role notifications over the network, for
 * Patroni running inside the guests (balloond-patroni --notify) and
 * balloond's UDP listener. The pure part: encoding, parsing, verifying
 * and the replay cache; no sockets, no clock reads, no globals.
 *
 * One datagram is one small JSON object:
 *   {"version": 1, "cluster": "pg", "member": "pg1", "role": "leader",
 *    "timestamp_ms": 1764680000123, "nonce": "<32 hex digits>",
 *    "hmac": "<64 hex digits>"}
 * hmac is HMAC-SHA256, keyed with the cluster's key, over the canonical
 * encoding
 *   "balloond-notify 1\n" cluster "\n" member "\n" role "\n"
 *   timestamp_ms (decimal) "\n" nonce "\n"
 * which is unambiguous because no field may hold a control character.
 * The receiver accepts a notification only when the MAC matches, the
 * timestamp is within its window of its own clock, and the nonce was not
 * seen before (struct bd_notify_replay).
 */
#ifndef BALLOOND_PROTO_NOTIFY_H
#define BALLOOND_PROTO_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BD_NOTIFY_VERSION 1
/* A notification is about 250 bytes; a datagram over this is not one. */
#define BD_NOTIFY_MAX_BYTES   1024
#define BD_NOTIFY_NONCE_BYTES 16
#define BD_NOTIFY_MAC_BYTES   32
/* Keys: the key file's bytes, trailing blanks and newlines dropped.
 * 16 bytes at the least (`openssl rand -hex 32` gives 64). */
#define BD_NOTIFY_KEY_MIN_BYTES 16
#define BD_NOTIFY_KEY_MAX_BYTES 1024

struct bd_notify {
	unsigned version;
	char cluster[64];
	char member[64];
	char role[32];
	int64_t timestamp_ms; /* unix time of the sender */
	uint8_t nonce[BD_NOTIFY_NONCE_BYTES];
	uint8_t mac[BD_NOTIFY_MAC_BYTES];
};

/* Why a datagram was not accepted, in the order the checks run: each
 * check is cheaper than the next, and only a notification with a valid
 * MAC reaches the replay cache. */
#define BD_NOTIFY_REJECTS(X)                                                   \
	X(PARSE, "bad-message")	      /* not our JSON, or a bad field */       \
	X(CLUSTER, "unknown-cluster") /* no [cluster] section by that name */  \
	X(NO_KEY, "no-key")	      /* the cluster has no key */             \
	X(EXPIRED, "expired")	      /* timestamp older than the window */    \
	X(FUTURE, "future")	      /* timestamp newer than the window */    \
	X(MAC, "bad-mac")	      /* forged, altered or another key */     \
	X(REPLAY, "replayed")	      /* nonce already seen */                 \
	X(STALE, "before-cache")      /* older than the replay cache covers */

enum bd_notify_reject {
	BD_NOTIFY_OK = 0,
#define BD_NOTIFY_REJECT_ENUM(id, name) BD_NOTIFY_R_##id,
	BD_NOTIFY_REJECTS(BD_NOTIFY_REJECT_ENUM)
#undef BD_NOTIFY_REJECT_ENUM
	    BD_NOTIFY_R_COUNT
};
/* "accepted" for BD_NOTIFY_OK, else the reason's name above. */
const char *bd_notify_reject_name(enum bd_notify_reject r);

/* Read a key file. 0, or -errno with a message. */
int bd_notify_key_load(const char *path, uint8_t *key, size_t *key_len,
		       char *err, size_t err_len);

/* A key made ready for HMAC-SHA256 once: nettle's HMAC context, which
 * holds the key's inner and outer hashes, copied for each message. */
struct bd_notify_key {
	void *ctx; /* struct hmac_sha256_ctx *; NULL: no key */
};
/* 0, or -EINVAL (empty key) / -ENOMEM / -ELIBACC or -ELIBBAD (nettle,
 * loaded at the first call, could not be). Replaces any key k held. */
int bd_notify_key_set(struct bd_notify_key *k, const uint8_t *key,
		      size_t key_len);
/* Forgets the key, its copy wiped. */
void bd_notify_key_clear(struct bd_notify_key *k);
/* What an error from bd_notify_key_set means: for -ELIBACC or -ELIBBAD,
 * why nettle could not be loaded. */
const char *bd_notify_strerror(int rc);
/* HMAC-SHA256 of any len bytes with k's key (what sign and verify
 * compute over the canonical encoding). 0, or -EINVAL (no key). */
int bd_notify_hmac(const struct bd_notify_key *k, const void *data, size_t len,
		   uint8_t mac[BD_NOTIFY_MAC_BYTES]);

/* Fill n's MAC from its other fields. 0, or -EINVAL (a field unfit, no
 * key). */
int bd_notify_sign(struct bd_notify *n, const struct bd_notify_key *k);

/* The datagram for a signed n, NUL-terminated in buf. Returns its length,
 * or -EINVAL (a field unfit) / -EMSGSIZE (buf too small). */
int bd_notify_encode(const struct bd_notify *n, char *buf, size_t buf_len);

/* A field of the canonical encoding: 1 to size-1 bytes, no control
 * character (they separate the fields), no NUL. */
bool bd_notify_field_ok(const char *s, size_t len, size_t size);

/* Parse a datagram (any bytes, not NUL-terminated). Exactly the fields
 * above, each of its type and size; the MAC is not checked here. 0, or
 * -EINVAL with a message. */
int bd_notify_parse(const char *buf, size_t len, struct bd_notify *n, char *msg,
		    size_t msg_len);

/* The timestamp against the receiver's clock (now_ms, unix ms) and its
 * window, then the MAC (compared in constant time): BD_NOTIFY_OK,
 * BD_NOTIFY_R_EXPIRED, _FUTURE or _MAC. */
enum bd_notify_reject bd_notify_verify(const struct bd_notify *n,
				       const struct bd_notify_key *k,
				       int64_t now_ms, int64_t window_ms);

/*
 * The replay cache of one cluster: the nonces of the last
 * BD_NOTIFY_REPLAY_SLOTS accepted notifications, in a fixed table, the
 * oldest evicted first. A nonce enters only after its MAC was verified,
 * so only a key holder can fill it: a flood of forged datagrams never
 * reaches it. So that eviction can never let a replay through, the cache
 * keeps a floor, the newest timestamp it ever evicted, and refuses any
 * notification not newer than the floor (BD_NOTIFY_R_STALE). What a key
 * holder who floods valid notifications gains is only that: the floor
 * rises to near now, and honest notifications sent before the flood, or
 * from a guest whose clock is behind, are refused until theirs passes
 * it. Nothing is accepted twice, and memory stays fixed.
 *
 * What is not newer than the moment the cache was made is refused the
 * same way: that covers a restart of the daemon, whose new cache knows
 * no nonce from before. The moment is kept on both of the receiver's
 * clocks and read on its wall clock as that reads now: a step back of
 * the wall clock (NTP correcting a clock that ran ahead at boot) moves
 * it back as far, or every notification would be refused until the
 * clock had caught up again; a step forward leaves it. The price of a
 * step back S is that a notification a previous daemon accepted in the
 * S before it stopped may be accepted once more, within the window: it
 * can only repeat a role that was pushed, and no replica shrinks before
 * the REST API confirms it.
 */
#define BD_NOTIFY_REPLAY_SLOTS 1024
struct bd_notify_replay {
	int64_t floor_ms;     /* the newest timestamp evicted; 0: none */
	int64_t made_wall_ms; /* the receiver's clocks when it was made */
	int64_t made_mono_ms;
	size_t next; /* the slot written next (the oldest once full) */
	size_t used;
	struct {
		uint8_t nonce[BD_NOTIFY_NONCE_BYTES];
		int64_t timestamp_ms;
	} slot[BD_NOTIFY_REPLAY_SLOTS];
};
/* A new cache, made at wall_ms (unix ms) and mono_ms (the receiver's
 * monotonic clock, ms). */
void bd_notify_replay_init(struct bd_notify_replay *r, int64_t wall_ms,
			   int64_t mono_ms);
/* Check n's nonce and, when new, remember it, with the receiver's clocks
 * as they read now: BD_NOTIFY_OK, BD_NOTIFY_R_REPLAY or
 * BD_NOTIFY_R_STALE. */
enum bd_notify_reject bd_notify_replay_check(struct bd_notify_replay *r,
					     const struct bd_notify *n,
					     int64_t wall_ms, int64_t mono_ms);

/* Hex helpers (lower case): out gets 2*len digits and a NUL. */
void bd_notify_hex(const uint8_t *in, size_t len, char *out);

#endif
