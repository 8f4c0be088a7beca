/* proto.c: parsing and building control protocol messages. Pure. */
#include "proto.h"
#include "proto/jsonout.h"
#include "proto/jsonprint.h"
#include "proto/jsontok.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

const char *bd_request_parse(const char *line, size_t len,
			     struct bd_request *req, int64_t *id_out, char *msg,
			     size_t msg_len)
{
	memset(req, 0, sizeof(*req));
	*id_out = -1;
	if (len > BD_MAX_REQUEST_BYTES) {
		snprintf(msg, msg_len, "request longer than %d bytes",
			 BD_MAX_REQUEST_BYTES);
		return BD_E_TOO_LONG;
	}

	/* The usual request is read directly; any other goes to json-c's
	 * tokener (jsontok.h). */
	json_object *root = bd_line_object(line, len);
	if (!root) {
		json_tokener *tok = bd_line_tokener();
		if (!tok) {
			snprintf(msg, msg_len, "out of memory");
			return BD_E_INTERNAL;
		}
		root = json_tokener_parse_ex(tok, line, (int)len);
		bool ok =
		    root && json_tokener_get_error(tok) == json_tokener_success;
		for (size_t i = ok ? json_tokener_get_parse_end(tok) : len;
		     i < len; i++)
			if (!strchr(" \t\r\n", line[i]))
				ok = false;
		if (!ok || !json_object_is_type(root, json_type_object)) {
			json_object_put(root);
			snprintf(msg, msg_len, "request is not a JSON object");
			return BD_E_INVALID;
		}
	}

	const char *code = BD_E_INVALID;
	json_object *id = member(root, "id");
	if (!id || !json_object_is_type(id, json_type_int) ||
	    json_object_get_int64(id) < 0) {
		snprintf(msg, msg_len,
			 "request needs a non-negative integer \"id\"");
		goto fail;
	}
	req->id = *id_out = json_object_get_int64(id);

	json_object *proto = member(root, "protocol");
	if (proto && (!json_object_is_type(proto, json_type_int) ||
		      json_object_get_int64(proto) != BD_PROTOCOL_VERSION)) {
		snprintf(msg, msg_len,
			 "this balloond speaks control protocol %d, the client "
			 "asked for %s",
			 BD_PROTOCOL_VERSION, json_object_get_string(proto));
		code = BD_E_VERSION;
		goto fail;
	}

	json_object *method = member(root, "method");
	if (!method || !json_object_is_type(method, json_type_string)) {
		snprintf(msg, msg_len, "request needs a string \"method\"");
		goto fail;
	}
	const char *name = json_object_get_string(method);
	req->method = BD_M_COUNT;
	for (int m = 0; m < BD_M_COUNT; m++)
		if (strcmp(name, bd_method_name((enum bd_method)m)) == 0)
			req->method = (enum bd_method)m;
	if (req->method == BD_M_COUNT) {
		snprintf(msg, msg_len, "unknown method \"%.64s\"", name);
		code = BD_E_METHOD;
		goto fail;
	}

	json_object *params = member(root, "params");
	if (params && !json_object_is_type(params, json_type_object)) {
		snprintf(msg, msg_len, "\"params\" must be an object");
		code = BD_E_PARAMS;
		goto fail;
	}
	if (!params) {
		params = json_object_new_object();
		json_object_object_add(root, "params", params);
	}
	req->params = params;
	req->root = root;
	return NULL;
fail:
	json_object_put(root);
	memset(req, 0, sizeof(*req));
	return code;
}

json_object *bd_greeting_new(const char *version)
{
	json_object *inner = json_object_new_object();
	json_object_object_add(inner, "version",
			       json_object_new_string(version));
	json_object_object_add(inner, "protocol",
			       json_object_new_int(BD_PROTOCOL_VERSION));
	json_object *g = json_object_new_object();
	json_object_object_add(g, "balloond", inner);
	return g;
}

json_object *bd_reply_new(int64_t id, json_object *result)
{
	json_object *r = json_object_new_object();
	bd_json_add_new(r, "id", json_object_new_int64(id));
	bd_json_add_new(r, "result",
			result ? result : json_object_new_object());
	return r;
}

char *bd_pin_reply_text(int64_t id, const char *name, uint64_t pin_bytes,
			size_t *len)
{
	/* jsonout.h quotes a string as json-c does, but for the bytes below
	 * 0x20 (json-c writes \n, \t and the like for some). */
	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20)
			return NULL;
	/* At most two bytes for each of the name's, and two decimals. */
	size_t cap = 2 * strlen(name) + 2 * 21 + 64;
	char *buf = malloc(cap), num[24];
	if (!buf)
		return NULL;
	struct bd_json_out o = bd_json_out_init(buf, cap);
	num[sizeof(num) - 1] = '\0';
	bd_json_raw(&o, "{\"id\":");
	bd_json_raw(&o, bd_decimal(num + sizeof(num) - 1, id));
	bd_json_raw(&o, ",\"result\":{\"guest\":");
	bd_json_string(&o, name);
	bd_json_raw(&o, ",\"pin_bytes\":");
	/* The tree holds it as json_object_new_int64((int64_t)pin_bytes). */
	bd_json_raw(&o, bd_decimal(num + sizeof(num) - 1, (int64_t)pin_bytes));
	bd_json_raw(&o, "}}");
	*len = o.len;
	return buf;
}

json_object *bd_error_new(int64_t id, const char *code, const char *message)
{
	json_object *e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object *r = json_object_new_object();
	json_object_object_add(r, "id",
			       id >= 0 ? json_object_new_int64(id) : NULL);
	json_object_object_add(r, "error", e);
	return r;
}

json_object *bd_event_new(const char *name, int64_t time_us, json_object *data)
{
	json_object *e = json_object_new_object();
	json_object_object_add(e, "event", json_object_new_string(name));
	json_object_object_add(e, "time_us", json_object_new_int64(time_us));
	json_object_object_add(e, "data",
			       data ? data : json_object_new_object());
	return e;
}

int bd_param_string(json_object *params, const char *key, const char **out,
		    char *msg, size_t msg_len)
{
	json_object *v = member(params, key);
	if (!v || json_object_is_type(v, json_type_null))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(msg, msg_len, "\"%s\" must be a string", key);
		return -EINVAL;
	}
	*out = json_object_get_string(v);
	return 0;
}

int bd_param_i64(json_object *params, const char *key, int64_t *out, char *msg,
		 size_t msg_len)
{
	json_object *v = member(params, key);
	if (!v || json_object_is_type(v, json_type_null))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_int)) {
		snprintf(msg, msg_len, "\"%s\" must be an integer", key);
		return -EINVAL;
	}
	*out = json_object_get_int64(v);
	return 0;
}

int bd_param_u64(json_object *params, const char *key, uint64_t *out, char *msg,
		 size_t msg_len)
{
	int64_t v;
	int rc = bd_param_i64(params, key, &v, msg, msg_len);
	if (rc)
		return rc;
	if (v < 0) {
		snprintf(msg, msg_len, "\"%s\" must not be negative", key);
		return -EINVAL;
	}
	*out = (uint64_t)v;
	return 0;
}

int bd_greeting_check(json_object *greeting, char *msg, size_t msg_len)
{
	json_object *inner = member(greeting, "balloond");
	json_object *proto = inner ? member(inner, "protocol") : NULL;
	if (!proto || !json_object_is_type(proto, json_type_int)) {
		snprintf(msg, msg_len,
			 "the peer is not balloond (no greeting)");
		return -EPROTO;
	}
	if (json_object_get_int64(proto) != BD_PROTOCOL_VERSION) {
		snprintf(msg, msg_len,
			 "balloond speaks control protocol %lld, this client "
			 "speaks %d: upgrade the older of the two",
			 (long long)json_object_get_int64(proto),
			 BD_PROTOCOL_VERSION);
		return -EPROTO;
	}
	return 0;
}
