/* notify.c: network role notifications: sign, encode, verify (the
 * parser, which needs json-c, is notifyparse.c). */
#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fileio.h"
#include "jsonout.h"
#include "lazylib.h"

/* nettle's HMAC rather than libcrypto's: Patroni's callback signs one
 * message per run, and loading and initialising OpenSSL cost it several
 * times a process's own start, where nettle has nothing to initialise.
 * balloond loads it when a key is first set, not linked: built with
 * BIND_NOW, its 550 symbol relocations would cost every program that
 * links this 360,000 instructions at start (three times what /bin/true
 * executes in all), though only a run with --notify, or a listener with
 * a key, signs. Loaded, the system's nettle is the one the daemon uses,
 * which checks what comes from the network: a security update of nettle
 * reaches it with no rebuild.
 *
 * The callback links nettle's static library instead, when there is one
 * (BD_NETTLE_STATIC, see configure's --disable-static-nettle): it only
 * signs, and its own message, and a dlopen() costs a fifth of its floor,
 * where the few objects it takes (SHA-256 and HMAC) cost nothing at start.
 *
 * The headers type every call; the names are nettle's own (the headers
 * #define the short ones to them). */
#define NETTLE_FUNCS(X)                                                        \
	X(nettle_hmac_sha256_digest)                                           \
	X(nettle_hmac_sha256_set_key)                                          \
	X(nettle_hmac_sha256_update)                                           \
	X(nettle_memeql_sec)

#ifdef BD_NETTLE_STATIC
#define NETTLE_LINKED(f) .f = f,
static const struct {
	BD_LAZY_PTRS(NETTLE_FUNCS)
	char error[1];
} nt = {NETTLE_FUNCS(NETTLE_LINKED)};

static int load_nettle(void)
{
	return 0;
}
#else
static struct {
	BD_LAZY_PTRS(NETTLE_FUNCS)
	bool loaded;
	char error[256]; /* why it could not be loaded */
} nt;
BD_LAZY_RESOLVER(resolve_nettle, nt, NETTLE_FUNCS)

static int load_nettle(void)
{
	return bd_lazy_load_once(&nt.loaded, BD_LIBNETTLE_PATH,
				 BD_LIBNETTLE_SONAME, resolve_nettle, nt.error,
				 sizeof(nt.error));
}
#endif

const char *bd_notify_strerror(int rc)
{
	if ((rc == -ELIBACC || rc == -ELIBBAD) && nt.error[0])
		return nt.error;
	return strerror(rc < 0 ? -rc : rc);
}

static const char *const reject_names[] = {
    "accepted",
#define BD_NOTIFY_REJECT_NAME(id, name) name,
    BD_NOTIFY_REJECTS(BD_NOTIFY_REJECT_NAME)
#undef BD_NOTIFY_REJECT_NAME
};

const char *bd_notify_reject_name(enum bd_notify_reject r)
{
	return (unsigned)r < BD_NOTIFY_R_COUNT ? reject_names[r] : "?";
}

void bd_notify_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

bool bd_notify_field_ok(const char *s, size_t len, size_t size)
{
	if (len == 0 || len >= size)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool fields_ok(const struct bd_notify *n)
{
	return n->version == BD_NOTIFY_VERSION &&
	       bd_notify_field_ok(n->cluster,
				  strnlen(n->cluster, sizeof(n->cluster)),
				  sizeof(n->cluster)) &&
	       bd_notify_field_ok(n->member,
				  strnlen(n->member, sizeof(n->member)),
				  sizeof(n->member)) &&
	       bd_notify_field_ok(n->role, strnlen(n->role, sizeof(n->role)),
				  sizeof(n->role)) &&
	       n->timestamp_ms > 0;
}

/* The context holds the key's inner and outer hashes, done once. */
int bd_notify_key_set(struct bd_notify_key *k, const uint8_t *key,
		      size_t key_len)
{
	bd_notify_key_clear(k);
	if (key_len == 0)
		return -EINVAL;
	int rc = load_nettle();
	if (rc)
		return rc;
	struct hmac_sha256_ctx *ctx = malloc(sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	nt.nettle_hmac_sha256_set_key(ctx, key_len, key);
	k->ctx = ctx;
	return 0;
}

void bd_notify_key_clear(struct bd_notify_key *k)
{
	if (k->ctx) {
		/* The key's hashes are as good as the key. */
		explicit_bzero(k->ctx, sizeof(struct hmac_sha256_ctx));
		free(k->ctx);
	}
	k->ctx = NULL;
}

int bd_notify_hmac(const struct bd_notify_key *k, const void *data, size_t len,
		   uint8_t mac[BD_NOTIFY_MAC_BYTES])
{
	if (!k->ctx)
		return -EINVAL;
	/* On a copy, so that the key's context is only read (a receiver
	 * verifies with a const key). */
	struct hmac_sha256_ctx ctx = *(const struct hmac_sha256_ctx *)k->ctx;
	nt.nettle_hmac_sha256_update(&ctx, len, data);
	nt.nettle_hmac_sha256_digest(&ctx, BD_NOTIFY_MAC_BYTES, mac);
	explicit_bzero(&ctx, sizeof(ctx));
	return 0;
}

static int compute_mac(const struct bd_notify *n, const struct bd_notify_key *k,
		       uint8_t mac[BD_NOTIFY_MAC_BYTES])
{
	char nonce[2 * BD_NOTIFY_NONCE_BYTES + 1];
	char text[256];
	if (!k->ctx)
		return -EINVAL;
	bd_notify_hex(n->nonce, sizeof(n->nonce), nonce);
	/* The fields' sizes bound this well below sizeof(text). */
	int len = snprintf(text, sizeof(text),
			   "balloond-notify %u\n%s\n%s\n%s\n%" PRId64 "\n%s\n",
			   n->version, n->cluster, n->member, n->role,
			   n->timestamp_ms, nonce);
	if (len < 0 || (size_t)len >= sizeof(text))
		return -EINVAL;
	return bd_notify_hmac(k, text, (size_t)len, mac);
}

int bd_notify_sign(struct bd_notify *n, const struct bd_notify_key *k)
{
	if (!fields_ok(n))
		return -EINVAL;
	return compute_mac(n, k, n->mac);
}

int bd_notify_encode(const struct bd_notify *n, char *buf, size_t buf_len)
{
	char nonce[2 * BD_NOTIFY_NONCE_BYTES + 1];
	char mac[2 * BD_NOTIFY_MAC_BYTES + 1];
	char ts[24];
	if (!fields_ok(n))
		return -EINVAL;
	bd_notify_hex(n->nonce, sizeof(n->nonce), nonce);
	bd_notify_hex(n->mac, sizeof(n->mac), mac);
	snprintf(ts, sizeof(ts), "%" PRId64, n->timestamp_ms);
	/* Byte for byte what json-c wrote for the same object (plain, no
	 * escaped slashes; tests/test-notify.c's known datagram): the
	 * callback that sends it loads no json-c. */
	struct bd_json_out o = bd_json_out_init(buf, buf_len);
	bd_json_raw(&o, "{\"version\":1,\"cluster\":");
	bd_json_string(&o, n->cluster);
	bd_json_raw(&o, ",\"member\":");
	bd_json_string(&o, n->member);
	bd_json_raw(&o, ",\"role\":");
	bd_json_string(&o, n->role);
	bd_json_raw(&o, ",\"timestamp_ms\":");
	bd_json_raw(&o, ts);
	bd_json_raw(&o, ",\"nonce\":\"");
	bd_json_raw(&o, nonce);
	bd_json_raw(&o, "\",\"hmac\":\"");
	bd_json_raw(&o, mac);
	bd_json_raw(&o, "\"}");
	if (!bd_json_whole(&o) || o.len > BD_NOTIFY_MAX_BYTES)
		return -EMSGSIZE;
	return (int)o.len;
}

enum bd_notify_reject bd_notify_verify(const struct bd_notify *n,
				       const struct bd_notify_key *k,
				       int64_t now_ms, int64_t window_ms)
{
	if (n->timestamp_ms < now_ms - window_ms)
		return BD_NOTIFY_R_EXPIRED;
	if (n->timestamp_ms > now_ms + window_ms)
		return BD_NOTIFY_R_FUTURE;
	uint8_t mac[BD_NOTIFY_MAC_BYTES];
	if (!fields_ok(n) || compute_mac(n, k, mac))
		return BD_NOTIFY_R_MAC;
	/* Constant time: how far a guess matches must not show in timing. */
	if (!nt.nettle_memeql_sec(mac, n->mac, sizeof(mac)))
		return BD_NOTIFY_R_MAC;
	return BD_NOTIFY_OK;
}

void bd_notify_replay_init(struct bd_notify_replay *r, int64_t wall_ms,
			   int64_t mono_ms)
{
	r->floor_ms = 0;
	r->made_wall_ms = wall_ms;
	r->made_mono_ms = mono_ms;
	r->next = 0;
	r->used = 0;
}

enum bd_notify_reject bd_notify_replay_check(struct bd_notify_replay *r,
					     const struct bd_notify *n,
					     int64_t wall_ms, int64_t mono_ms)
{
	/* The moment the cache was made, on the wall clock as it reads now:
	 * the time that really passed since is the monotonic clock's, so
	 * what the wall clock lost beyond it was a step back (notify.h). */
	int64_t made_ms = wall_ms - (mono_ms - r->made_mono_ms);
	if (made_ms > r->made_wall_ms)
		made_ms = r->made_wall_ms;
	if (n->timestamp_ms <= made_ms || n->timestamp_ms <= r->floor_ms)
		return BD_NOTIFY_R_STALE;
	/* A linear scan: 1,024 slots of 16 bytes, reached only by
	 * notifications whose MAC is valid. */
	for (size_t i = 0; i < r->used; i++)
		if (memcmp(r->slot[i].nonce, n->nonce, sizeof(n->nonce)) == 0)
			return BD_NOTIFY_R_REPLAY;
	if (r->used == BD_NOTIFY_REPLAY_SLOTS &&
	    r->slot[r->next].timestamp_ms > r->floor_ms)
		r->floor_ms = r->slot[r->next].timestamp_ms;
	memcpy(r->slot[r->next].nonce, n->nonce, sizeof(n->nonce));
	r->slot[r->next].timestamp_ms = n->timestamp_ms;
	r->next = (r->next + 1) % BD_NOTIFY_REPLAY_SLOTS;
	if (r->used < BD_NOTIFY_REPLAY_SLOTS)
		r->used++;
	return BD_NOTIFY_OK;
}

int bd_notify_key_load(const char *path, uint8_t *key, size_t *key_len,
		       char *err, size_t err_len)
{
	char *text = NULL;
	size_t len = 0;
	int rc = bd_read_file(path, BD_NOTIFY_KEY_MAX_BYTES + 64, &text, &len);
	if (rc) {
		snprintf(err, err_len, "%s: %s", path,
			 rc == -EFBIG ? "larger than a key" : strerror(-rc));
		return rc;
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
			   text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	if (len < BD_NOTIFY_KEY_MIN_BYTES || len > BD_NOTIFY_KEY_MAX_BYTES) {
		snprintf(err, err_len,
			 "%s: a key is %d to %d bytes, this one %zu (make one "
			 "with `openssl rand -hex 32`)",
			 path, BD_NOTIFY_KEY_MIN_BYTES, BD_NOTIFY_KEY_MAX_BYTES,
			 len);
		explicit_bzero(text, len);
		free(text);
		return -EINVAL;
	}
	memcpy(key, text, len);
	*key_len = len;
	explicit_bzero(text, len);
	free(text);
	return 0;
}
