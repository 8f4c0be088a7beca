/* test-proto.c: the control protocol's messages: parsing requests (and
 * which id an error carries back), the greeting check, the shapes the
 * daemon builds, typed parameter access, and JSON written without json-c
 * (proto/jsonout.h, a spec's members, the hooks' request and spool
 * lines). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/jsonout.h"
#include "proto/jsonprint.h"
#include "proto/jsontok.h"
#include "proto/proto.h"
#include "proto/quickcall.h"
#include "proto/spec.h"
#include "proto/spool.h"
#include "tests/lib/tokref.h"

/* One parse: the code returned (NULL on success), the id reported back,
 * and the message. */
struct parsed {
	const char *code;
	int64_t id;
	struct bd_request req;
	char msg[256];
};

static void parse_len(struct parsed *p, const char *line, size_t len)
{
	memset(p, 0, sizeof(*p));
	p->id = 12345; /* must be overwritten */
	p->code = bd_request_parse(line, len, &p->req, &p->id, p->msg,
				   sizeof(p->msg));
	if (p->code) {
		/* A failed parse owns nothing. */
		assert_null(p->req.root);
		assert_null(p->req.params);
		assert_true(p->msg[0] != '\0');
	}
}

static void parse(struct parsed *p, const char *line)
{
	parse_len(p, line, strlen(line));
}

static void expect_error(const char *line, const char *code, int64_t id)
{
	struct parsed p;
	parse(&p, line);
	if (!p.code || strcmp(p.code, code) != 0)
		fail_msg("%s: got %s, expected %s", line,
			 p.code ? p.code : "success", code);
	if (p.id != id)
		fail_msg("%s: id %lld reported, expected %lld", line,
			 (long long)p.id, (long long)id);
}

static void test_valid_request(void **state)
{
	struct parsed p;
	parse(&p, "{\"id\": 7, \"protocol\": 1, \"method\": \"set\", "
		  "\"params\": {\"name\": \"db1\", \"bytes\": 1073741824}}");
	assert_null(p.code);
	assert_int_equal(p.id, 7);
	assert_int_equal(p.req.id, 7);
	assert_int_equal(p.req.method, BD_M_SET);
	assert_non_null(p.req.root);
	assert_true(json_object_is_type(p.req.params, json_type_object));
	const char *name = NULL;
	uint64_t bytes = 0;
	char msg[64];
	assert_int_equal(
	    bd_param_string(p.req.params, "name", &name, msg, sizeof(msg)), 0);
	assert_string_equal(name, "db1");
	assert_int_equal(
	    bd_param_u64(p.req.params, "bytes", &bytes, msg, sizeof(msg)), 0);
	assert_true(bytes == UINT64_C(1073741824));
	json_object_put(p.req.root);
}

static void test_every_method(void **state)
{
	static const struct {
		const char *name;
		enum bd_method m;
	} methods[] = {
	    {"register", BD_M_REGISTER}, {"unregister", BD_M_UNREGISTER},
	    {"status", BD_M_STATUS},	 {"set", BD_M_SET},
	    {"release", BD_M_RELEASE},	 {"role", BD_M_ROLE},
	    {"qmp", BD_M_QMP},		 {"monitor", BD_M_MONITOR},
	    {"reload", BD_M_RELOAD},	 {"metrics", BD_M_METRICS},
	};
	assert_int_equal(sizeof(methods) / sizeof(methods[0]), BD_M_COUNT);
	for (size_t i = 0; i < BD_M_COUNT; i++) {
		char line[128];
		struct parsed p;
		snprintf(line, sizeof(line),
			 "{\"id\": %zu, \"method\": \"%s\"}", i,
			 methods[i].name);
		parse(&p, line);
		assert_null(p.code);
		assert_int_equal(p.req.method, methods[i].m);
		assert_string_equal(bd_method_name(methods[i].m),
				    methods[i].name);
		json_object_put(p.req.root);
	}
	assert_string_equal(bd_method_name(BD_M_COUNT), "?");
}

static void test_absent_params_is_empty_object(void **state)
{
	struct parsed p;
	parse(&p, "{\"id\": 0, \"method\": \"status\"}");
	assert_null(p.code);
	assert_int_equal(p.req.id, 0); /* 0 is a valid id */
	assert_non_null(p.req.params);
	assert_true(json_object_is_type(p.req.params, json_type_object));
	assert_int_equal(json_object_object_length(p.req.params), 0);
	json_object_put(p.req.root); /* frees the added params too */
}

static void test_surrounding_whitespace(void **state)
{
	struct parsed p;
	parse(&p, " \t{\"id\": 1, \"method\": \"status\"} \r\n");
	assert_null(p.code);
	json_object_put(p.req.root);
}

static void test_bad_id(void **state)
{
	expect_error("{\"method\": \"status\"}", BD_E_INVALID, -1);
	expect_error("{\"id\": -1, \"method\": \"status\"}", BD_E_INVALID, -1);
	expect_error("{\"id\": \"7\", \"method\": \"status\"}", BD_E_INVALID,
		     -1);
	expect_error("{\"id\": 1.5, \"method\": \"status\"}", BD_E_INVALID, -1);
	expect_error("{\"id\": null, \"method\": \"status\"}", BD_E_INVALID,
		     -1);
	expect_error("{\"id\": true, \"method\": \"status\"}", BD_E_INVALID,
		     -1);

	struct parsed p;
	parse(&p, "{\"method\": \"status\"}");
	assert_non_null(strstr(p.msg, "\"id\""));
}

static void test_not_an_object(void **state)
{
	expect_error("[1, 2]", BD_E_INVALID, -1);
	expect_error("42", BD_E_INVALID, -1);
	expect_error("\"status\"", BD_E_INVALID, -1);
	expect_error("null", BD_E_INVALID, -1);
	expect_error("", BD_E_INVALID, -1);
	expect_error("   ", BD_E_INVALID, -1);
	expect_error("status", BD_E_INVALID, -1);
	expect_error("{\"id\": 1, \"method\": ", BD_E_INVALID, -1); /* cut */
}

static void test_trailing_garbage(void **state)
{
	expect_error("{\"id\": 1, \"method\": \"status\"} x", BD_E_INVALID, -1);
	expect_error("{\"id\": 1, \"method\": \"status\"},", BD_E_INVALID, -1);
}

static void test_two_objects(void **state)
{
	expect_error("{\"id\": 1, \"method\": \"status\"}{\"id\": 2, "
		     "\"method\": \"status\"}",
		     BD_E_INVALID, -1);
	expect_error("{\"id\": 1, \"method\": \"status\"} {\"id\": 2, "
		     "\"method\": \"status\"}",
		     BD_E_INVALID, -1);
}

static void test_protocol_version(void **state)
{
	struct parsed p;
	parse(&p, "{\"id\": 3, \"protocol\": 2, \"method\": \"status\"}");
	assert_non_null(p.code);
	assert_string_equal(p.code, BD_E_VERSION);
	assert_int_equal(p.id, 3);
	/* The message says both versions. */
	assert_non_null(strstr(p.msg, "control protocol 1"));
	assert_non_null(strstr(p.msg, "2"));

	expect_error("{\"id\": 4, \"protocol\": \"1\", \"method\": \"status\"}",
		     BD_E_VERSION, 4);
	expect_error("{\"id\": 4, \"protocol\": 0, \"method\": \"status\"}",
		     BD_E_VERSION, 4);

	parse(&p, "{\"id\": 5, \"protocol\": 1, \"method\": \"status\"}");
	assert_null(p.code);
	json_object_put(p.req.root);
}

static void test_unknown_method(void **state)
{
	struct parsed p;
	parse(&p, "{\"id\": 9, \"method\": \"destroy\"}");
	assert_non_null(p.code);
	assert_string_equal(p.code, BD_E_METHOD);
	assert_int_equal(p.id, 9);
	assert_non_null(strstr(p.msg, "destroy"));

	/* Method names are exact. */
	expect_error("{\"id\": 9, \"method\": \"STATUS\"}", BD_E_METHOD, 9);
	expect_error("{\"id\": 9, \"method\": \"\"}", BD_E_METHOD, 9);
	/* A missing or non-string method is a malformed request. */
	expect_error("{\"id\": 10}", BD_E_INVALID, 10);
	expect_error("{\"id\": 10, \"method\": 1}", BD_E_INVALID, 10);
}

static void test_params_not_object(void **state)
{
	expect_error("{\"id\": 11, \"method\": \"set\", \"params\": [1]}",
		     BD_E_PARAMS, 11);
	expect_error("{\"id\": 11, \"method\": \"set\", \"params\": \"db1\"}",
		     BD_E_PARAMS, 11);
	expect_error("{\"id\": 11, \"method\": \"set\", \"params\": 5}",
		     BD_E_PARAMS, 11);
}

static void test_oversize(void **state)
{
	/* A valid request padded with blanks to exactly the cap fits... */
	size_t cap = BD_MAX_REQUEST_BYTES;
	char *buf = malloc(cap + 2);
	assert_non_null(buf);
	memset(buf, ' ', cap + 1);
	const char *req = "{\"id\": 1, \"method\": \"status\"}";
	memcpy(buf, req, strlen(req));
	buf[cap + 1] = '\0';
	struct parsed p;
	parse_len(&p, buf, cap);
	assert_null(p.code);
	json_object_put(p.req.root);
	/* ...one byte more does not, and nothing of it is read. */
	parse_len(&p, buf, cap + 1);
	assert_non_null(p.code);
	assert_string_equal(p.code, BD_E_TOO_LONG);
	assert_int_equal(p.id, -1);
	assert_non_null(strstr(p.msg, "65536"));
	free(buf);
}

static void test_greeting(void **state)
{
	char msg[256];
	json_object *g = bd_greeting_new("0.1.0");
	/* {"balloond": {"version": "0.1.0", "protocol": 1}} */
	json_object *inner = NULL, *v = NULL;
	assert_true(json_object_object_get_ex(g, "balloond", &inner));
	assert_true(json_object_object_get_ex(inner, "version", &v));
	assert_string_equal(json_object_get_string(v), "0.1.0");
	assert_true(json_object_object_get_ex(inner, "protocol", &v));
	assert_int_equal(json_object_get_int(v), BD_PROTOCOL_VERSION);
	assert_int_equal(bd_greeting_check(g, msg, sizeof(msg)), 0);

	/* Another version: refused, saying which and what to do. */
	json_object_object_add(inner, "protocol", json_object_new_int(2));
	assert_int_equal(bd_greeting_check(g, msg, sizeof(msg)), -EPROTO);
	assert_non_null(strstr(msg, "protocol 2"));
	assert_non_null(strstr(msg, "upgrade"));

	/* A protocol that is not a number is not a balloond greeting. */
	json_object_object_add(inner, "protocol", json_object_new_string("1"));
	assert_int_equal(bd_greeting_check(g, msg, sizeof(msg)), -EPROTO);
	assert_non_null(strstr(msg, "not balloond"));
	json_object_put(g);

	/* QEMU's greeting, or anything else, is not balloond. */
	g = json_tokener_parse(
	    "{\"QMP\": {\"version\": {}, \"capabilities\": []}}");
	assert_int_equal(bd_greeting_check(g, msg, sizeof(msg)), -EPROTO);
	assert_non_null(strstr(msg, "not balloond"));
	json_object_put(g);
	g = json_tokener_parse("{\"balloond\": 1}");
	assert_int_equal(bd_greeting_check(g, msg, sizeof(msg)), -EPROTO);
	json_object_put(g);
	assert_int_equal(bd_greeting_check(NULL, msg, sizeof(msg)), -EPROTO);
}

static const char *plain(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
}

static void test_error_shape(void **state)
{
	json_object *e = bd_error_new(-1, BD_E_TOO_LONG, "too long");
	json_object *id = (json_object *)1, *err = NULL, *v = NULL;
	/* The member is there, and it is JSON null. */
	assert_true(json_object_object_get_ex(e, "id", &id));
	assert_null(id);
	assert_string_equal(plain(e),
			    "{\"id\":null,\"error\":{\"code\":"
			    "\"request-too-long\",\"message\":\"too long\"}}");
	json_object_put(e);

	e = bd_error_new(42, BD_E_NOT_FOUND, "no guest named 'x'");
	assert_true(json_object_object_get_ex(e, "id", &id));
	assert_int_equal(json_object_get_int64(id), 42);
	assert_true(json_object_object_get_ex(e, "error", &err));
	assert_true(json_object_object_get_ex(err, "code", &v));
	assert_string_equal(json_object_get_string(v), "not-found");
	assert_true(json_object_object_get_ex(err, "message", &v));
	assert_string_equal(json_object_get_string(v), "no guest named 'x'");
	json_object_put(e);
}

static void test_reply_and_event_shapes(void **state)
{
	json_object *r = bd_reply_new(3, NULL);
	assert_string_equal(plain(r), "{\"id\":3,\"result\":{}}");
	json_object_put(r);

	json_object *res = json_object_new_object();
	json_object_object_add(res, "guest", json_object_new_string("db1"));
	r = bd_reply_new(4, res);
	assert_string_equal(plain(r),
			    "{\"id\":4,\"result\":{\"guest\":\"db1\"}}");
	json_object_put(r);

	json_object *ev = bd_event_new("reload", 1700000000000000, NULL);
	assert_string_equal(plain(ev), "{\"event\":\"reload\",\"time_us\":"
				       "1700000000000000,\"data\":{}}");
	json_object_put(ev);
}

/* A set's reply written directly is the text json-c prints for the tree
 * methods.c would build (bd_reply_new, "guest" then "pin_bytes"), for
 * every byte a name may hold from 0x20 up and for any id and size; a name
 * with a byte below 0x20 is left to the tree. */
static void assert_pin_reply(int64_t id, const char *name, uint64_t bytes)
{
	json_object *res = json_object_new_object();
	json_object_object_add(res, "guest", json_object_new_string(name));
	json_object_object_add(res, "pin_bytes",
			       json_object_new_int64((int64_t)bytes));
	json_object *r = bd_reply_new(id, res);
	size_t len = 0;
	char *text = bd_pin_reply_text(id, name, bytes, &len);
	assert_non_null(text);
	const char *want = json_object_to_json_string_ext(
	    r, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(text, want, len);
	free(text);
	json_object_put(r);
}

static void test_pin_reply_text(void **state)
{
	(void)state;
	static const int64_t ids[] = {0, 1, 9, 10, 4711, INT64_MAX};
	static const uint64_t sizes[] = {0,
					 1,
					 536870912,
					 (uint64_t)INT64_MAX,
					 (uint64_t)INT64_MAX + 1,
					 UINT64_MAX};
	for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++)
		for (size_t j = 0; j < sizeof(sizes) / sizeof(*sizes); j++)
			assert_pin_reply(ids[i], "vm0", sizes[j]);
	char name[4] = {'a', 0, 'z', '\0'};
	for (int c = 0x20; c < 256; c++) {
		name[1] = (char)c;
		assert_pin_reply(7, name, 1 << 30);
	}
	char all[256 - 0x20 + 1];
	for (int c = 0x20; c < 256; c++)
		all[c - 0x20] = (char)c;
	all[256 - 0x20] = '\0';
	assert_pin_reply(8, all, 1 << 30);
	assert_pin_reply(9, "", 1 << 30);
	assert_pin_reply(10, "a name/with \"quotes\" and \\", 1 << 30);
	size_t len;
	for (int c = 1; c < 0x20; c++) {
		name[1] = (char)c;
		assert_null(bd_pin_reply_text(7, name, 1 << 30, &len));
	}
}

static void test_param_types(void **state)
{
	char msg[128];
	const char *s = NULL;
	int64_t i = 0;
	uint64_t u = 0;
	json_object *p = json_tokener_parse(
	    "{\"name\": \"db1\", \"bytes\": 5, \"neg\": -5, \"num\": 7,"
	    " \"dbl\": 1.5, \"str\": \"8G\", \"nul\": null, \"obj\": {},"
	    " \"big\": 9223372036854775807}");
	assert_non_null(p);

	/* Absent and null are both "absent". */
	assert_int_equal(bd_param_string(p, "missing", &s, msg, sizeof(msg)),
			 -ENOENT);
	assert_int_equal(bd_param_string(p, "nul", &s, msg, sizeof(msg)),
			 -ENOENT);
	assert_int_equal(bd_param_i64(p, "missing", &i, msg, sizeof(msg)),
			 -ENOENT);
	assert_int_equal(bd_param_u64(p, "nul", &u, msg, sizeof(msg)), -ENOENT);

	/* Wrong types say which field. */
	msg[0] = '\0';
	assert_int_equal(bd_param_string(p, "num", &s, msg, sizeof(msg)),
			 -EINVAL);
	assert_non_null(strstr(msg, "\"num\""));
	assert_non_null(strstr(msg, "string"));
	msg[0] = '\0';
	assert_int_equal(bd_param_string(p, "obj", &s, msg, sizeof(msg)),
			 -EINVAL);
	assert_non_null(strstr(msg, "\"obj\""));
	msg[0] = '\0';
	assert_int_equal(bd_param_i64(p, "str", &i, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "\"str\""));
	assert_non_null(strstr(msg, "integer"));
	msg[0] = '\0';
	assert_int_equal(bd_param_i64(p, "dbl", &i, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "\"dbl\""));
	msg[0] = '\0';
	assert_int_equal(bd_param_u64(p, "str", &u, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "\"str\""));
	msg[0] = '\0';
	assert_int_equal(bd_param_u64(p, "neg", &u, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "\"neg\""));
	assert_non_null(strstr(msg, "negative"));

	/* And the right types give their values. */
	assert_int_equal(bd_param_string(p, "name", &s, msg, sizeof(msg)), 0);
	assert_string_equal(s, "db1");
	assert_int_equal(bd_param_i64(p, "neg", &i, msg, sizeof(msg)), 0);
	assert_int_equal(i, -5);
	assert_int_equal(bd_param_u64(p, "bytes", &u, msg, sizeof(msg)), 0);
	assert_true(u == 5);
	assert_int_equal(bd_param_u64(p, "big", &u, msg, sizeof(msg)), 0);
	assert_true(u == UINT64_C(9223372036854775807));
	json_object_put(p);
}

/* s through bd_json_string, then json-c: the same bytes come back. */
static void assert_round_trip(const char *s)
{
	char buf[2048];
	struct bd_json_out o = bd_json_out_init(buf, sizeof(buf));
	bd_json_string(&o, s);
	assert_true(bd_json_whole(&o));
	assert_int_equal(strlen(buf), o.len);
	json_object *v = json_tokener_parse(buf);
	assert_non_null(v);
	assert_true(json_object_is_type(v, json_type_string));
	assert_int_equal(json_object_get_string_len(v), strlen(s));
	assert_memory_equal(json_object_get_string(v), s, strlen(s));
	json_object_put(v);
}

static void test_json_out_every_byte(void **state)
{
	(void)state;
	char all[256];
	for (int c = 1; c < 256; c++) {
		char s[] = {'a', (char)c, 'z', '\0'};
		assert_round_trip(s);
		all[c - 1] = (char)c;
	}
	all[255] = '\0';
	assert_round_trip(all);
	assert_round_trip("");
	assert_round_trip("\"\\\"\\\\");
	assert_round_trip("caf\xc3\xa9 \xe2\x82\xac /x/");
}

/* Without control characters, the very text json-c writes (plain, no
 * escaped slashes): the datagram's known bytes depend on it. */
static void test_json_out_as_json_c(void **state)
{
	(void)state;
	static const char *const strings[] = {
	    "pg",  "a \"quoted\" name", "back\\slash",
	    "a/b", "caf\xc3\xa9",	"\x7f",
	};
	for (size_t i = 0; i < sizeof(strings) / sizeof(*strings); i++) {
		char buf[256];
		struct bd_json_out o = bd_json_out_init(buf, sizeof(buf));
		bd_json_string(&o, strings[i]);
		json_object *v = json_object_new_string(strings[i]);
		assert_string_equal(buf,
				    json_object_to_json_string_ext(
					v, JSON_C_TO_STRING_PLAIN |
					       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(v);
	}
}

static void test_json_out_too_small(void **state)
{
	(void)state;
	char buf[8];
	struct bd_json_out o = bd_json_out_init(buf, sizeof(buf));
	bd_json_raw(&o, "{\"k\":");
	bd_json_string(&o, "a\nb");
	assert_false(bd_json_whole(&o));
	assert_int_equal(o.len, strlen("{\"k\":\"a\\u000ab\""));
	assert_int_equal(strlen(buf), sizeof(buf) - 1); /* cut, terminated */
	assert_memory_equal(buf, "{\"k\":\"a\\", sizeof(buf) - 1);
	/* Counting only (the length a buffer needs). */
	o = bd_json_out_init(NULL, 0);
	bd_json_string(&o, "\"");
	assert_int_equal(o.len, 4);
	assert_false(bd_json_whole(&o));
}

/* The hooks and Patroni's callback read the greeting and a result without
 * json-c when they are exactly these texts (proto/quickcall.c): what the
 * daemon writes (plain, no escaped slashes) must stay so, or every
 * callback run loads json-c. */
static void test_usual_texts(void **state)
{
	(void)state;
	const int flags =
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
	json_object *g = bd_greeting_new("0.1.0");
	assert_string_equal(json_object_to_json_string_ext(g, flags),
			    "{\"balloond\":{\"version\":\"0.1.0\","
			    "\"protocol\":1}}");
	json_object_put(g);
	json_object *res = json_object_new_object();
	json_object_object_add(res, "role", json_object_new_string("leader"));
	json_object *r = bd_reply_new(1, res);
	const char *text = json_object_to_json_string_ext(r, flags);
	assert_int_equal(strncmp(text, "{\"id\":1,\"result\":", 17), 0);
	json_object_put(r);
}

/* ---- the hooks' lines, written without json-c ---- */

/* A random text of up to size - 1 bytes: any byte but NUL, often a
 * quote, a backslash, a control character or UTF-8. */
static void random_text(char *out, size_t size)
{
	static const char odd[] = "\"\\/\n\t\x01\x1f\x7f\xc3\xa9";
	size_t n = (size_t)rand() % size;
	for (size_t i = 0; i < n; i++)
		out[i] = rand() % 3 ? (char)(1 + rand() % 255)
				    : odd[rand() % (sizeof(odd) - 1)];
	out[n] = '\0';
}

static uint64_t random_size(void)
{
	switch (rand() % 4) {
	case 0:
		return 0; /* left out */
	case 1:
		return (uint64_t)(rand() % 4096) << 20;
	case 2:
		return (uint64_t)INT64_MAX;
	default:
		return ((uint64_t)rand() << 31 | (uint64_t)rand()) & INT64_MAX;
	}
}

static void random_spec(struct bd_guest_spec *s)
{
	memset(s, 0, sizeof(*s));
	random_text(s->name, sizeof(s->name));
	random_text(s->qmp_path, sizeof(s->qmp_path));
	s->max_bytes = random_size();
	s->min_bytes = random_size();
	s->replica_target_bytes = random_size();
	/* A member without its cluster is not written. */
	if (rand() % 2) {
		random_text(s->cluster, sizeof(s->cluster));
		random_text(s->member, sizeof(s->member));
		if (!s->cluster[0])
			snprintf(s->cluster, sizeof(s->cluster), "pg");
	}
	s->priority = rand() % 3 ? 0 : rand() % 2001 - 1000;
	s->pin_bytes = random_size();
}

/* The hooks write a spec's members themselves: between braces, JSON that
 * json-c reads as bd_spec_to_json, keys in the same order (json-c prints
 * the two alike); the same bytes unless a string needs escaping, which
 * json-c writes its own way (\n for \u000a, \/ for /). */
static void test_spec_members_as_json_c(void **state)
{
	(void)state;
	srand(19);
	for (int i = 0; i < 20000; i++) {
		struct bd_guest_spec s;
		random_spec(&s);
		char buf[4096];
		struct bd_json_out o = bd_json_out_init(buf, sizeof(buf));
		bd_json_byte(&o, '{');
		bd_spec_write_members(&o, &s);
		bd_json_byte(&o, '}');
		assert_true(bd_json_whole(&o));
		json_object *ref = bd_spec_to_json(&s);
		json_object *back = tokref_value(buf, o.len);
		if (!back || strcmp(plain(back), plain(ref)) != 0)
			fail_msg("spec %d written as %s, json-c prints %s", i,
				 buf, plain(ref));
		if (strpbrk(plain(ref), "\\") == NULL)
			assert_string_equal(buf, plain(ref));
		json_object_put(back);
		json_object_put(ref);
	}
}

/* A hook's request reads back as the register it means, and its spool
 * line as the same spool file bd_spool_write would have written. */
static void test_quickcall_lines(void **state)
{
	(void)state;
	srand(7);
	for (int i = 0; i < 2000; i++) {
		struct bd_guest_spec s, back;
		random_spec(&s);
		char req[4096], line[4096];
		struct bd_json_out r = bd_json_out_init(req, sizeof(req));
		struct bd_json_out l = bd_json_out_init(line, sizeof(line));
		bd_quickcall_begin(&r, BD_M_REGISTER, true);
		bd_quickcall_begin(&l, BD_M_REGISTER, false);
		bd_json_byte(&r, '{');
		bd_json_byte(&l, '{');
		bd_spec_write_members(&r, &s);
		bd_spec_write_members(&l, &s);
		bd_json_raw(&r, "}}\n");
		bd_json_raw(&l, "}}\n");
		assert_true(bd_json_whole(&r) && bd_json_whole(&l));

		struct parsed p;
		parse_len(&p, req, r.len - 1);
		if (p.code)
			fail_msg("%s: %s", req, p.msg);
		assert_int_equal(p.id, 1);
		assert_int_equal(p.req.method, BD_M_REGISTER);
		char msg[256];
		assert_int_equal(
		    bd_spec_parse(p.req.params, &back, msg, sizeof(msg)), 0);
		assert_memory_equal(&back, &s, sizeof(s));
		json_object_put(p.req.root);

		enum bd_method m;
		json_object *params = NULL;
		assert_int_equal(
		    bd_spool_parse(line, l.len, &m, &params, msg, sizeof(msg)),
		    0);
		assert_int_equal(m, BD_M_REGISTER);
		json_object *ref = bd_spec_to_json(&s);
		assert_true(json_object_equal(params, ref));
		json_object_put(ref);
		json_object_put(params);
	}
}

/* ---- the direct line parser against json-c's tokener ---- */

/* What the callers took from the tokener before: the line's object when
 * it is exactly one, with nothing but white space after it; else NULL.
 */
static json_object *tokener_object(const char *buf, size_t len)
{
	json_object *root = tokref_value(buf, len);
	if (root && !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return NULL;
	}
	return root;
}

/* Whatever bd_line_object reads, the tokener reads the same (the same
 * tree, the same types, the same text); returns whether it read it. */
static bool same_as_tokener(const char *buf, size_t len)
{
	json_object *fast = bd_line_object(buf, len);
	if (!fast)
		return false;
	json_object *ref = tokener_object(buf, len);
	if (!ref)
		fail_msg("read directly but not by json-c: '%.*s'", (int)len,
			 buf);
	if (!json_object_equal(fast, ref) ||
	    strcmp(plain(fast), plain(ref)) != 0)
		fail_msg("'%.*s': read as %s, json-c reads %s", (int)len, buf,
			 plain(fast), plain(ref));
	json_object_put(fast);
	json_object_put(ref);
	return true;
}

static void test_line_object(void **state)
{
	(void)state;
	/* The lines the burst carries are read directly. */
	static const char *const direct[] = {
	    "{\"id\":7,\"method\":\"set\",\"params\":{\"name\":\"vm1\","
	    "\"bytes\":536870912}}",
	    "{\"return\": {}, \"id\": 12}\r",
	    "{\"timestamp\": {\"seconds\": 1700000000, "
	    "\"microseconds\": "
	    "5}, \"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": "
	    "1073741824}}",
	    "  {\"a\":[1,-2,[],{},true,false,null,\"x\"],\"a\":-0} "
	    "\t\n",
	    "{\"n\":999999999999999999,\"m\":-999999999999999999}",
	    "{}",
	};
	for (size_t i = 0; i < sizeof(direct) / sizeof(*direct); i++)
		assert_true(same_as_tokener(direct[i], strlen(direct[i])));
	/* Anything else is left to the tokener. */
	static const char *const left[] = {
	    "{\"a\":1.5}",
	    "{\"a\":1.5}",
	    "{\"a\":1e3}",
	    "{\"a\":9223372036854775807}",
	    "{\"a\":01}",
	    "{\"a\":1,}",
	    "{\"a\":[1,]}",
	    "{\"a\":TRUE}",
	    "{\"a\":NaN}",
	    "{'a':1}",
	    "{\"a\":1} x",
	    "{\"a\":1}{}",
	    "[1]",
	    "{\"a\":\"\xc3\xa9\"}",
	    "{\"a\":1 /* c */}",
	    "{\"a\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}",
	    "{\"a\":1",
	    "",
	};
	for (size_t i = 0; i < sizeof(left) / sizeof(*left); i++)
		assert_false(same_as_tokener(left[i], strlen(left[i])));

	/* Mutations of the usual lines: one byte changed, dropped or
	 * added, or the line cut short. Whatever is read directly must
	 * be read the same by json-c. */
	static const char bytes[] =
	    "\"\\{}[],:01-9.eE+ \tnulltruefalse/\x01\x80";
	uint32_t rnd = 12345;
	char buf[256];
	size_t direct_n = 0;
	for (size_t i = 0; i < sizeof(direct) / sizeof(*direct); i++) {
		size_t n = strlen(direct[i]);
		for (int k = 0; k < 20000; k++) {
			memcpy(buf, direct[i], n);
			size_t len = n;
			for (int m = 0; m < 1 + k % 3; m++) {
				rnd = rnd * 1103515245 + 12345;
				size_t at = (rnd >> 8) % (len + 1);
				char c =
				    bytes[(rnd >> 20) % (sizeof(bytes) - 1)];
				switch ((rnd >> 28) % 4) {
				case 0:
					if (at < len)
						buf[at] = c;
					break;
				case 1:
					if (at < len) {
						memmove(buf + at, buf + at + 1,
							len - at - 1);
						len--;
					}
					break;
				case 2:
					if (len < sizeof(buf) - 1) {
						memmove(buf + at + 1, buf + at,
							len - at);
						buf[at] = c;
						len++;
					}
					break;
				default:
					len = at;
				}
			}
			direct_n += same_as_tokener(buf, len);
		}
	}
	/* Many mutants stay plain JSON: the comparison saw them. */
	assert_true(direct_n > 1000);
}

/* ---- compact and pretty text: the same bytes as json-c's ---- */

static void same_text(json_object *o)
{
	static const struct {
		char *(*print)(json_object *, size_t *);
		int flags;
	} forms[] = {
	    {bd_json_plain,
	     JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE},
	    {bd_json_pretty, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
				 JSON_C_TO_STRING_NOSLASHESCAPE},
	};
	for (size_t i = 0; i < sizeof(forms) / sizeof(*forms); i++) {
		size_t len;
		char *text = forms[i].print(o, &len);
		assert_non_null(text);
		size_t ref_len;
		const char *ref = json_object_to_json_string_length(
		    o, forms[i].flags, &ref_len);
		if (len != ref_len || strcmp(text, ref) != 0)
			fail_msg("printed\n%s\njson-c prints\n%s", text, ref);
		free(text);
	}
}

/* A random tree of every kind of value json-c prints. */
static json_object *random_tree(uint32_t *rnd, int depth)
{
	static const char *const strings[] = {
	    "",	     "vm1",  "a/b",	    "q\"uote", "back\\slash",
	    "tab\t", "\x01", "caf\xc3\xa9", "\x7f",    "pin stored, but",
	};
	*rnd = *rnd * 1103515245 + 12345;
	uint32_t r = *rnd >> 8;
	switch (r % (depth < 4 ? 10 : 7)) {
	case 0:
		return NULL;
	case 1:
		return json_object_new_boolean(r & 0x100);
	case 2: {
		static const int64_t ints[] = {
		    0, -1, 7, 536870912, INT64_MIN, INT64_MAX, -42};
		return json_object_new_int64(ints[(r >> 9) % 7]);
	}
	case 3:
		return json_object_new_uint64(
		    (r & 0x100) ? UINT64_MAX : 9223372036854775808u);
	case 4:
		return json_object_new_double((r & 0x100) ? 0.5 : -1e300);
	case 5:
	case 6:
		return json_object_new_string(
		    strings[(r >> 9) % (sizeof(strings) / sizeof(*strings))]);
	case 7:
	case 8: {
		json_object *o = json_object_new_object();
		for (uint32_t i = 0; i < (r >> 9) % 4; i++) {
			char key[16];
			snprintf(key, sizeof(key), "%s%u",
				 (r & 0x200) && i == 1 ? "k\"" : "k", i);
			json_object_object_add(o, key,
					       random_tree(rnd, depth + 1));
		}
		return o;
	}
	default: {
		json_object *a = json_object_new_array();
		for (uint32_t i = 0; i < (r >> 9) % 4; i++)
			json_object_array_add(a, random_tree(rnd, depth + 1));
		return a;
	}
	}
}

static void test_json_plain(void **state)
{
	(void)state;
	static const char *const lines[] = {
	    "{\"id\":3,\"result\":{\"guest\":\"vm1\",\"pin_bytes\":"
	    "536870912}}",
	    "{\"id\":1,\"error\":{\"code\":\"invalid-params\","
	    "\"message\":"
	    "\"\\\"bytes\\\" is required\"}}",
	    "{\"a\":[],\"b\":{},\"c\":[null,true,false,1.25,-0,"
	    "\"\\u00e9\"]}",
	    "{\"u\":18446744073709551615,\"i\":-9223372036854775808}",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(*lines); i++) {
		json_object *o = json_tokener_parse(lines[i]);
		assert_non_null(o);
		same_text(o);
		json_object_put(o);
	}
	uint32_t rnd = 4242;
	for (int i = 0; i < 20000; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "v", random_tree(&rnd, 0));
		same_text(o);
		json_object_put(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_request),
	    cmocka_unit_test(test_every_method),
	    cmocka_unit_test(test_absent_params_is_empty_object),
	    cmocka_unit_test(test_surrounding_whitespace),
	    cmocka_unit_test(test_bad_id),
	    cmocka_unit_test(test_not_an_object),
	    cmocka_unit_test(test_trailing_garbage),
	    cmocka_unit_test(test_two_objects),
	    cmocka_unit_test(test_protocol_version),
	    cmocka_unit_test(test_unknown_method),
	    cmocka_unit_test(test_params_not_object),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_greeting),
	    cmocka_unit_test(test_error_shape),
	    cmocka_unit_test(test_reply_and_event_shapes),
	    cmocka_unit_test(test_pin_reply_text),
	    cmocka_unit_test(test_param_types),
	    cmocka_unit_test(test_json_out_every_byte),
	    cmocka_unit_test(test_json_out_as_json_c),
	    cmocka_unit_test(test_json_out_too_small),
	    cmocka_unit_test(test_usual_texts),
	    cmocka_unit_test(test_spec_members_as_json_c),
	    cmocka_unit_test(test_quickcall_lines),
	    cmocka_unit_test(test_line_object),
	    cmocka_unit_test(test_json_plain),
	};
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
