/* notifyparse.c: a received datagram to a struct bd_notify (json-c).
 * Apart from notify.c, so that Patroni's callback, which only signs and
 * encodes, links no json-c. */
#include "notify.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

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
	if (!bd_notify_field_ok(s, len, size) || strlen(s) != len) {
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
