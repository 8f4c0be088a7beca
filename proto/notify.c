/* notify.c: network role notifications: sign, encode, parse, verify. */
#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fileio.h"
#include "lazylib.h"

/* libcrypto is loaded when a key is first set: only signed notifications
 * need it, and linked in it cost every run of Patroni's callback the
 * mapping and relocation of 4.5 MB, notifying or not. The headers still
 * type every call. */
#define CRYPTO_FUNCS(X)                                                        \
	X(CRYPTO_memcmp)                                                       \
	X(EVP_MAC_CTX_free)                                                    \
	X(EVP_MAC_CTX_new)                                                     \
	X(EVP_MAC_fetch)                                                       \
	X(EVP_MAC_final)                                                       \
	X(EVP_MAC_free)                                                        \
	X(EVP_MAC_init)                                                        \
	X(EVP_MAC_update)                                                      \
	X(OPENSSL_init_crypto)                                                 \
	X(OSSL_PARAM_construct_end)                                            \
	X(OSSL_PARAM_construct_utf8_string)

static struct {
	BD_LAZY_PTRS(CRYPTO_FUNCS)
	bool loaded;
	char error[256]; /* why it could not be loaded */
} lc;
BD_LAZY_RESOLVER(resolve_libcrypto, lc, CRYPTO_FUNCS)

static int load_libcrypto(void)
{
	if (lc.loaded)
		return 0;
	int rc = bd_lazy_load(BD_LIBCRYPTO_PATH, BD_LIBCRYPTO_SONAME,
			      resolve_libcrypto, lc.error, sizeof(lc.error));
	lc.loaded = rc == 0;
	return rc;
}

int bd_notify_load_lean(void)
{
	int rc = load_libcrypto();
	if (rc)
		return rc;
	/* OpenSSL's first use otherwise fills its tables of every cipher
	 * and digest by name (EVP_get_cipherbyname's), for programs written
	 * before 3.0's fetching: a third of balloond-patroni --notify's
	 * instructions, though EVP_MAC_fetch never reads them. */
	if (!lc.OPENSSL_init_crypto(OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
					OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
				    NULL))
		return -ENOMEM;
	return 0;
}

const char *bd_notify_strerror(int rc)
{
	if ((rc == -ELIBACC || rc == -ELIBBAD) && lc.error[0])
		return lc.error;
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

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 2*len lower-case hex digits. */
static int unhex(const char *s, size_t slen, uint8_t *out, size_t len)
{
	if (slen != 2 * len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* A field of the canonical encoding: 1 to size-1 bytes, no control
 * character (they separate the fields), no NUL. */
static bool field_ok(const char *s, size_t len, size_t size)
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
	       field_ok(n->cluster, strnlen(n->cluster, sizeof(n->cluster)),
			sizeof(n->cluster)) &&
	       field_ok(n->member, strnlen(n->member, sizeof(n->member)),
			sizeof(n->member)) &&
	       field_ok(n->role, strnlen(n->role, sizeof(n->role)),
			sizeof(n->role)) &&
	       n->timestamp_ms > 0;
}

int bd_notify_key_set(struct bd_notify_key *k, const uint8_t *key,
		      size_t key_len)
{
	bd_notify_key_clear(k);
	if (key_len == 0)
		return -EINVAL;
	int rc = load_libcrypto();
	if (rc)
		return rc;
	EVP_MAC *mac = lc.EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? lc.EVP_MAC_CTX_new(mac) : NULL;
	lc.EVP_MAC_free(mac); /* the context holds its own reference */
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
	    lc.OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest,
						0),
	    lc.OSSL_PARAM_construct_end(),
	};
	if (!ctx || !lc.EVP_MAC_init(ctx, key, key_len, params)) {
		lc.EVP_MAC_CTX_free(ctx);
		return -ENOMEM;
	}
	k->ctx = ctx;
	return 0;
}

void bd_notify_key_clear(struct bd_notify_key *k)
{
	if (k->ctx) /* held only once libcrypto is loaded */
		lc.EVP_MAC_CTX_free(k->ctx);
	k->ctx = NULL;
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
	/* A NULL key re-initialises the context with the key it holds. */
	size_t mac_len = 0;
	if (!lc.EVP_MAC_init(k->ctx, NULL, 0, NULL) ||
	    !lc.EVP_MAC_update(k->ctx, (const uint8_t *)text, (size_t)len) ||
	    !lc.EVP_MAC_final(k->ctx, mac, &mac_len, BD_NOTIFY_MAC_BYTES) ||
	    mac_len != BD_NOTIFY_MAC_BYTES)
		return -EIO;
	return 0;
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
	if (!fields_ok(n))
		return -EINVAL;
	bd_notify_hex(n->nonce, sizeof(n->nonce), nonce);
	bd_notify_hex(n->mac, sizeof(n->mac), mac);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "cluster",
			       json_object_new_string(n->cluster));
	json_object_object_add(o, "member", json_object_new_string(n->member));
	json_object_object_add(o, "role", json_object_new_string(n->role));
	json_object_object_add(o, "timestamp_ms",
			       json_object_new_int64(n->timestamp_ms));
	json_object_object_add(o, "nonce", json_object_new_string(nonce));
	json_object_object_add(o, "hmac", json_object_new_string(mac));
	size_t len;
	const char *s = json_object_to_json_string_length(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	int rc = (int)len;
	if (len + 1 > buf_len || len > BD_NOTIFY_MAX_BYTES)
		rc = -EMSGSIZE;
	else
		memcpy(buf, s, len + 1);
	json_object_put(o);
	return rc;
}

/* A string field that fits the canonical encoding, copied into out. */
static int get_field(json_object *root, const char *key, char *out, size_t size,
		     char *msg, size_t msg_len)
{
	json_object *v;
	if (!json_object_object_get_ex(root, key, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		snprintf(msg, msg_len, "\"%s\" must be a string", key);
		return -EINVAL;
	}
	const char *s = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	if (!field_ok(s, len, size) || strlen(s) != len) {
		snprintf(msg, msg_len,
			 "\"%s\" must be 1 to %zu characters, none a control "
			 "character",
			 key, size - 1);
		return -EINVAL;
	}
	memcpy(out, s, len + 1);
	return 0;
}

static int get_hex(json_object *root, const char *key, uint8_t *out, size_t len,
		   char *msg, size_t msg_len)
{
	json_object *v;
	if (!json_object_object_get_ex(root, key, &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    unhex(json_object_get_string(v),
		  (size_t)json_object_get_string_len(v), out, len)) {
		snprintf(msg, msg_len,
			 "\"%s\" must be %zu lower-case hex digits", key,
			 2 * len);
		return -EINVAL;
	}
	return 0;
}

static int parse_object(json_object *root, struct bd_notify *n, char *msg,
			size_t msg_len)
{
	json_object *v;
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(msg, msg_len, "not a JSON object");
		return -EINVAL;
	}
	if (!json_object_object_get_ex(root, "version", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) != BD_NOTIFY_VERSION) {
		snprintf(msg, msg_len, "\"version\" must be %d",
			 BD_NOTIFY_VERSION);
		return -EINVAL;
	}
	n->version = BD_NOTIFY_VERSION;
	if (get_field(root, "cluster", n->cluster, sizeof(n->cluster), msg,
		      msg_len) ||
	    get_field(root, "member", n->member, sizeof(n->member), msg,
		      msg_len) ||
	    get_field(root, "role", n->role, sizeof(n->role), msg, msg_len) ||
	    get_hex(root, "nonce", n->nonce, sizeof(n->nonce), msg, msg_len) ||
	    get_hex(root, "hmac", n->mac, sizeof(n->mac), msg, msg_len))
		return -EINVAL;
	if (!json_object_object_get_ex(root, "timestamp_ms", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    (n->timestamp_ms = json_object_get_int64(v)) <= 0 ||
	    n->timestamp_ms == INT64_MAX) {
		snprintf(msg, msg_len,
			 "\"timestamp_ms\" must be a positive integer");
		return -EINVAL;
	}
	/* Nothing the MAC does not cover. */
	if (json_object_object_length(root) != 7) {
		snprintf(msg, msg_len, "unknown fields");
		return -EINVAL;
	}
	return 0;
}

int bd_notify_parse(const char *buf, size_t len, struct bd_notify *n, char *msg,
		    size_t msg_len)
{
	memset(n, 0, sizeof(*n));
	if (len == 0 || len > BD_NOTIFY_MAX_BYTES) {
		snprintf(msg, msg_len, "%zu bytes (1 to %d expected)", len,
			 BD_NOTIFY_MAX_BYTES);
		return -EINVAL;
	}
	/* Depth 2: the object and its scalar members; nothing nests. */
	json_tokener *tok = json_tokener_new_ex(2);
	if (!tok) {
		snprintf(msg, msg_len, "out of memory");
		return -ENOMEM;
	}
	json_object *root = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	/* The whole datagram is the one object: nothing may follow it. */
	bool whole = root && jerr == json_tokener_success &&
		     json_tokener_get_parse_end(tok) == len;
	json_tokener_free(tok);
	int rc;
	if (!whole) {
		snprintf(msg, msg_len, "not one JSON object%s%s",
			 root || jerr == json_tokener_success ? "" : ": ",
			 root || jerr == json_tokener_success
			     ? ""
			     : json_tokener_error_desc(jerr));
		rc = -EINVAL;
	} else {
		rc = parse_object(root, n, msg, msg_len);
	}
	json_object_put(root);
	if (rc)
		memset(n, 0, sizeof(*n));
	return rc;
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
	if (lc.CRYPTO_memcmp(mac, n->mac, sizeof(mac)) != 0)
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
