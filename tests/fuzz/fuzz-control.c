/*
 * fuzz-control.c: balloond's control protocol parser. Each input is split
 * into lines as the daemon's framer would; every line goes through
 * bd_request_parse, a parsed request's params through the registration
 * parser (also used for spool and state files), the line through the
 * spool file parser, and through the client's greeting check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "proto/proto.h"
#include "proto/spec.h"
#include "proto/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line(const char *line, size_t len)
{
	struct bd_request req;
	struct bd_guest_spec spec;
	int64_t id;
	char msg[256];

	const char *code =
	    bd_request_parse(line, len, &req, &id, msg, sizeof(msg));
	if (!code) {
		if (bd_spec_parse(req.params, &spec, msg, sizeof(msg)) == 0) {
			json_object *back = bd_spec_to_json(&spec);
			json_object_put(back);
		}
		const char *s = NULL;
		if (bd_param_string(req.params, "role", &s, msg, sizeof(msg)) ==
		    0)
			(void)policy_role_parse(s);
		uint64_t u;
		(void)bd_param_u64(req.params, "bytes", &u, msg, sizeof(msg));
		json_object_put(req.root);
	} else {
		json_object_put(bd_error_new(id, code, msg));
	}
	enum bd_method m;
	json_object *params = NULL;
	if (bd_spool_parse(line, len, &m, &params, msg, sizeof(msg)) == 0)
		json_object_put(params);
	json_object *g = json_tokener_parse(line);
	if (g) {
		(void)bd_greeting_check(g, msg, sizeof(msg));
		json_object_put(g);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *p = buf;
	while (p < buf + size) {
		char *nl = memchr(p, '\n', (size_t)(buf + size - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(buf + size - p);
		p[len] = '\0';
		one_line(p, len);
		p += len + 1;
	}
	free(buf);
	return 0;
}
