/* test-qmp-message.c: sorting QMP messages; greeting variants, errors,
 * events, guest stats, and input that must be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/jsontok.h"
#include "qmp/qmp.h"
#include "tests/lib/tokref.h"

static int parse(const char *s, struct qmp_message *m)
{
	return qmp_message_parse(s, strlen(s), m);
}

/* A command's empty answer, known by its text (bd_line_empty_return),
 * must be exactly what json-c's tokener reads as an object of two
 * members, "return" an empty object and "id" that integer; every text
 * it does not know is sorted as before, from json-c's reading. */
static void assert_empty_return(const char *s, bool known, int64_t want_id)
{
	int64_t id = -1;
	assert_int_equal(bd_line_empty_return(s, strlen(s), &id), known);
	json_object *ref = tokref_value(s, strlen(s)), *r = NULL, *i = NULL;
	if (known) {
		assert_int_equal(id, want_id);
		assert_non_null(ref);
		assert_int_equal(json_object_object_length(ref), 2);
		assert_true(json_object_object_get_ex(ref, "return", &r));
		assert_true(json_object_is_type(r, json_type_object));
		assert_int_equal(json_object_object_length(r), 0);
		assert_true(json_object_object_get_ex(ref, "id", &i));
		assert_true(json_object_is_type(i, json_type_int));
		assert_int_equal(json_object_get_int64(i), want_id);
	}
	struct qmp_message m;
	int rc = parse(s, &m);
	if (known || (ref && json_object_is_type(ref, json_type_object) &&
		      json_object_object_get_ex(ref, "return", &r))) {
		assert_int_equal(rc, 0);
		assert_int_equal(m.kind, QMP_MSG_RETURN);
		assert_non_null(m.ret);
		assert_true(json_object_equal(m.ret, r));
		bool has_id = json_object_object_get_ex(ref, "id", &i) &&
			      json_object_is_type(i, json_type_int);
		assert_int_equal(m.has_id, has_id);
		if (has_id)
			assert_int_equal(m.id, json_object_get_int64(i));
		json_object_put(m.root);
	}
	json_object_put(ref);
}

static void test_empty_return_text(void **state)
{
	assert_empty_return("{\"return\": {}, \"id\": 5}", true, 5);
	assert_empty_return("{\"return\":{},\"id\":0}", true, 0);
	assert_empty_return("{\"return\":{},\"id\":4711}", true, 4711);
	assert_empty_return("{\"return\": {}, \"id\": 999999999999999999}",
			    true, 999999999999999999);
	/* Read as before: the same answers in other forms, and others. */
	static const char *const other[] = {
	    "{\"return\": {}, \"id\": 1000000000000000000}",
	    "{\"return\": {}, \"id\": 05}",
	    "{\"return\": {}, \"id\": -5}",
	    "{\"return\": {}, \"id\": 5.0}",
	    "{\"return\": {}, \"id\": 5e0}",
	    "{\"return\": {}, \"id\": \"5\"}",
	    "{\"return\": {}, \"id\": }",
	    "{\"return\": {}, \"id\": 5} ",
	    "{\"return\": {}, \"id\": 5 }",
	    "{\"return\": {},  \"id\": 5}",
	    "{\"return\":{}, \"id\":5}",
	    "{\"return\": {}, \"id\": 5}}",
	    "{\"return\": {}, \"id\": 5, \"x\": 1}",
	    "{\"return\": {\"actual\": 1}, \"id\": 5}",
	    "{\"id\": 5, \"return\": {}}",
	    "{\"return\": {}}",
	    "{\"return\": {}, \"id\": 5",
	};
	for (size_t k = 0; k < sizeof(other) / sizeof(*other); k++)
		assert_empty_return(other[k], false, 0);
}

static void test_greeting_qemu72(void **state)
{
	struct qmp_message m;
	struct qmp_greeting g;
	assert_int_equal(
	    parse("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, "
		  "\"minor\": 2, \"major\": 7}, \"package\": \"Debian "
		  "1:7.2+dfsg-7+deb12u18\"}, \"capabilities\": [\"oob\"]}}",
		  &m),
	    0);
	assert_int_equal(m.kind, QMP_MSG_GREETING);
	assert_int_equal(qmp_greeting_parse(m.greeting, &g), 0);
	assert_int_equal(g.major, 7);
	assert_int_equal(g.minor, 2);
	assert_string_equal(g.package, "Debian 1:7.2+dfsg-7+deb12u18");
	assert_int_equal(g.capabilities, QMP_CAP_OOB);
	json_object_put(m.root);
}

static void test_greeting_unknown_capabilities(void **state)
{
	/* Capabilities it does not know by name (a later QEMU's, or not a
	 * string) are left out; those it knows are still read. */
	struct qmp_message m;
	struct qmp_greeting g;
	assert_int_equal(
	    parse("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, "
		  "\"minor\": 0, \"major\": 10}}, \"capabilities\": "
		  "[\"later\", 3, \"oob\"]}}",
		  &m),
	    0);
	assert_int_equal(qmp_greeting_parse(m.greeting, &g), 0);
	assert_int_equal(g.capabilities, QMP_CAP_OOB);
	json_object_put(m.root);
	assert_int_equal(parse("{\"QMP\": {\"version\": {\"qemu\": {\"major\": "
			       "9}}, \"capabilities\": [\"later\"]}}",
			       &m),
			 0);
	assert_int_equal(qmp_greeting_parse(m.greeting, &g), 0);
	assert_int_equal(g.capabilities, 0);
	json_object_put(m.root);
}

static void test_greeting_minimal(void **state)
{
	/* No package, no capabilities: still a greeting. */
	struct qmp_message m;
	struct qmp_greeting g;
	assert_int_equal(parse("{\"QMP\": {\"version\": {\"qemu\": {\"major\": "
			       "9, \"minor\": 1, \"micro\": 2}}}}",
			       &m),
			 0);
	assert_int_equal(qmp_greeting_parse(m.greeting, &g), 0);
	assert_int_equal(g.major, 9);
	assert_string_equal(g.package, "");
	assert_int_equal(g.capabilities, 0);
	json_object_put(m.root);
}

static void test_greeting_without_version(void **state)
{
	struct qmp_message m;
	struct qmp_greeting g;
	assert_int_equal(parse("{\"QMP\": {}}", &m), 0);
	assert_int_equal(m.kind, QMP_MSG_GREETING);
	assert_int_equal(qmp_greeting_parse(m.greeting, &g), QMP_ERR_PROTOCOL);
	json_object_put(m.root);
}

static void test_return_with_id(void **state)
{
	struct qmp_message m;
	assert_int_equal(
	    parse("{\"return\": {\"actual\": 268435456}, \"id\": 7}", &m), 0);
	assert_int_equal(m.kind, QMP_MSG_RETURN);
	assert_true(m.has_id);
	assert_int_equal(m.id, 7);
	assert_non_null(m.ret);
	json_object_put(m.root);
}

static void test_return_without_id(void **state)
{
	struct qmp_message m;
	assert_int_equal(parse("{\"return\": {}}", &m), 0);
	assert_false(m.has_id);
	json_object_put(m.root);
	/* A string id is not ours. */
	assert_int_equal(parse("{\"return\": {}, \"id\": \"7\"}", &m), 0);
	assert_false(m.has_id);
	json_object_put(m.root);
}

static void test_error_reply(void **state)
{
	struct qmp_message m;
	assert_int_equal(
	    parse("{\"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No "
		  "balloon device has been activated\"}, \"id\": 3}",
		  &m),
	    0);
	assert_int_equal(m.kind, QMP_MSG_ERROR);
	assert_string_equal(m.error_class, "DeviceNotActive");
	assert_string_equal(m.error_desc,
			    "No balloon device has been activated");
	assert_int_equal(m.id, 3);
	json_object_put(m.root);
}

static void test_error_reply_sparse(void **state)
{
	struct qmp_message m;
	assert_int_equal(parse("{\"error\": {}, \"id\": 1}", &m), 0);
	assert_string_equal(m.error_class, "GenericError");
	json_object_put(m.root);
	assert_int_equal(parse("{\"error\": \"boom\", \"id\": 1}", &m),
			 QMP_ERR_PROTOCOL);
}

static void test_event(void **state)
{
	struct qmp_message m;
	assert_int_equal(
	    parse("{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": "
		  "123456}, \"event\": \"BALLOON_CHANGE\", \"data\": "
		  "{\"actual\": 134217728}}",
		  &m),
	    0);
	assert_int_equal(m.kind, QMP_MSG_EVENT);
	assert_string_equal(m.event, "BALLOON_CHANGE");
	assert_int_equal(m.timestamp_us, 1700000000123456LL);
	assert_non_null(m.event_data);
	json_object_put(m.root);
}

static void test_event_bad_timestamp(void **state)
{
	struct qmp_message m;
	assert_int_equal(
	    parse("{\"timestamp\": {\"seconds\": -5, \"microseconds\": "
		  "99999999}, \"event\": \"RESET\"}",
		  &m),
	    0);
	assert_int_equal(m.timestamp_us, 0);
	assert_null(m.event_data);
	json_object_put(m.root);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
	    "",
	    "not json",
	    "[1, 2, 3]",
	    "42",
	    "\"string\"",
	    "{\"return\": {}",			 /* truncated */
	    "{\"return\": {}} {\"return\": {}}", /* two in one line */
	    "{\"something\": 1}",
	    "{\"QMP\": 5}",
	    "{\"event\": 5}",
	    "\xff\xfe",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct qmp_message m;
		assert_int_equal(parse(bad[i], &m), QMP_ERR_PROTOCOL);
		assert_null(m.root);
	}
}

static void test_trailing_space_ok(void **state)
{
	struct qmp_message m;
	assert_int_equal(parse("{\"return\": {}, \"id\": 1}  \t", &m), 0);
	json_object_put(m.root);
}

static void test_guest_stats(void **state)
{
	json_object *ret = json_tokener_parse(
	    "{\"stats\": {\"stat-free-memory\": 100, "
	    "\"stat-available-memory\": 200,"
	    " \"stat-disk-caches\": 18446744073709551615, "
	    "\"stat-total-memory\": 400,"
	    " \"stat-swap-in\": -1}, \"last-update\": 1700000000}");
	struct qmp_guest_stats st;
	assert_int_equal(qmp_guest_stats_parse(ret, &st), 0);
	assert_int_equal(st.free_bytes, 100);
	assert_int_equal(st.available_bytes, 200);
	assert_true(st.caches_bytes == UINT64_MAX);
	assert_int_equal(st.total_bytes, 400);
	assert_int_equal(st.last_update, 1700000000);
	json_object_put(ret);

	/* Before the guest answers: all -1, last-update 0. */
	ret = json_tokener_parse(
	    "{\"stats\": {\"stat-free-memory\": -1}, \"last-update\": 0}");
	assert_int_equal(qmp_guest_stats_parse(ret, &st), 0);
	assert_true(st.free_bytes == UINT64_MAX);
	assert_true(st.total_bytes == UINT64_MAX);
	assert_int_equal(st.last_update, 0);
	json_object_put(ret);

	ret = json_tokener_parse("{\"stats\": 3}");
	assert_int_equal(qmp_guest_stats_parse(ret, &st), QMP_ERR_PROTOCOL);
	json_object_put(ret);
}

static void test_strerror(void **state)
{
	assert_string_equal(qmp_strerror(0), "success");
	assert_non_null(strstr(qmp_strerror(QMP_ERR_NO_BALLOON), "balloon"));
	assert_non_null(strstr(qmp_strerror(QMP_ERR_TOO_LONG), "size limit"));
	assert_non_null(qmp_strerror(-2));
	assert_string_equal(qmp_strerror(-99999), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_greeting_qemu72),
	    cmocka_unit_test(test_greeting_unknown_capabilities),
	    cmocka_unit_test(test_greeting_minimal),
	    cmocka_unit_test(test_greeting_without_version),
	    cmocka_unit_test(test_return_with_id),
	    cmocka_unit_test(test_empty_return_text),
	    cmocka_unit_test(test_return_without_id),
	    cmocka_unit_test(test_error_reply),
	    cmocka_unit_test(test_error_reply_sparse),
	    cmocka_unit_test(test_event),
	    cmocka_unit_test(test_event_bad_timestamp),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_trailing_space_ok),
	    cmocka_unit_test(test_guest_stats),
	    cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests_name("qmp-message", tests, NULL, NULL);
}
