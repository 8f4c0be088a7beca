/*
 * test-patroniparse.c: Patroni's /cluster and /patroni answers as facts.
 *
 * The answers are real ones, captured from Patroni 3.0.2
 * (tests/patroni-answers/README says how), plus one written from newer
 * Patroni's sources; then everything that must not be trusted: garbage,
 * oversized bodies, wrong types, two leaders, duplicate names, a NUL.
 * Any doubt is an error, and an error describes nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/patroniparse.h"

/* A captured answer, read from $top_srcdir/tests/patroni-answers. */
static char *answer(const char *name, size_t *len)
{
	const char *top = getenv("top_srcdir");
	char path[4096];
	snprintf(path, sizeof(path), "%s/tests/patroni-answers/%s",
		 top ? top : ".", name);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	static char buf[64 * 1024];
	*len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static struct pp_cluster cl;
static struct pp_patroni pa;

static void parse_cluster_file(const char *name)
{
	size_t len;
	const char *body = answer(name, &len);
	const char *why = NULL;
	int rc = pp_parse_cluster(body, len, &cl, &why);
	if (rc)
		fail_msg("%s: %s", name, why);
}

static void parse_patroni_file(const char *name)
{
	size_t len;
	const char *body = answer(name, &len);
	const char *why = NULL;
	int rc = pp_parse_patroni(body, len, &pa, &why);
	if (rc)
		fail_msg("%s: %s", name, why);
}

static void test_real_cluster(void **state)
{
	parse_cluster_file("cluster-3.json");
	assert_int_equal(cl.n_members, 3);
	assert_int_equal(cl.leader, 1);
	assert_string_equal(cl.members[1].name, "pg1");
	assert_string_equal(cl.members[1].role, "leader");
	assert_true(cl.members[1].leader);
	assert_string_equal(cl.members[1].api_url,
			    "http://127.0.0.1:18009/patroni");
	assert_string_equal(cl.members[0].role, "replica");
	assert_false(cl.members[0].leader);
	/* 3.0.2 says "running": streaming comes from the leader. */
	assert_false(cl.members[0].streaming);
	assert_false(cl.paused);
	/* 3.0.2's /cluster gives no scope. */
	assert_string_equal(cl.scope, "");
	assert_non_null(pp_member_find(&cl, "pg2"));
	assert_null(pp_member_find(&cl, "pg3"));
}

static void test_real_replication(void **state)
{
	parse_cluster_file("cluster-3.json");
	parse_patroni_file("patroni-leader.json");
	assert_string_equal(pa.role, "master");
	assert_true(pa.leader);
	assert_false(pa.unlocked);
	/* 3.0.2's /patroni gives the scope, not the member's name. */
	assert_string_equal(pa.scope, "pgcap");
	assert_string_equal(pa.name, "");
	assert_int_equal(pa.n_streaming, 2);
	assert_int_equal(pp_apply_replication(&cl, &pa), 2);
	assert_true(pp_member_find(&cl, "pg0")->streaming);
	assert_true(pp_member_find(&cl, "pg2")->streaming);
	assert_false(pp_member_find(&cl, "pg1")->streaming);
}

/* pg2 killed: the DCS still lists it as a running replica, only the
 * leader's replication list shows it gone. */
static void test_real_one_gone(void **state)
{
	parse_cluster_file("cluster-one-gone.json");
	assert_string_equal(pp_member_find(&cl, "pg2")->role, "replica");
	assert_string_equal(pp_member_find(&cl, "pg2")->state, "running");
	parse_patroni_file("patroni-leader-one-gone.json");
	assert_int_equal(pa.n_streaming, 1);
	assert_int_equal(pp_apply_replication(&cl, &pa), 1);
	assert_true(pp_member_find(&cl, "pg0")->streaming);
	assert_false(pp_member_find(&cl, "pg2")->streaming);
}

/* The leader killed: /cluster names it until its key expires; its
 * /patroni cannot answer, so nobody is confirmed streaming. */
static void test_real_leader_killed(void **state)
{
	parse_cluster_file("cluster-leader-killed.json");
	assert_int_equal(cl.leader, 1);
	parse_cluster_file("cluster-after-failover.json");
	assert_string_equal(cl.members[cl.leader].state, "crashed");
	for (size_t i = 0; i < cl.n_members; i++)
		assert_false(cl.members[i].streaming);
}

static void test_real_replicas(void **state)
{
	/* A replica's /patroni: no leader, no list. */
	parse_patroni_file("patroni-replica.json");
	assert_string_equal(pa.role, "replica");
	assert_false(pa.leader);
	assert_int_equal(pa.n_streaming, 0);
	parse_patroni_file("patroni-new-leader-alone.json");
	assert_false(pa.leader);
	/* etcd stopped: "cluster_unlocked". */
	parse_patroni_file("patroni-etcd-down.json");
	assert_true(pa.unlocked);
}

/* Newer Patroni: a replica's /cluster state says streaming, but that is
 * its own record in the DCS, as the member asked sees it: not taken.
 * Streaming comes from the leader's list. sync_standby is a replica's
 * role; /cluster gives the scope, /patroni the scope and the name. */
static void test_newer_answers(void **state)
{
	parse_cluster_file("cluster-4x-streaming.json");
	assert_int_equal(cl.leader, 0);
	assert_string_equal(cl.scope, "demo");
	assert_string_equal(pp_member_find(&cl, "pg1")->state, "streaming");
	assert_false(pp_member_find(&cl, "pg1")->streaming);
	assert_string_equal(pp_member_find(&cl, "pg1")->role, "sync_standby");
	assert_false(pp_member_find(&cl, "pg1")->leader);
	assert_false(pp_member_find(&cl, "pg2")->streaming);
	parse_patroni_file("patroni-4x-leader.json");
	assert_string_equal(pa.role, "primary");
	assert_true(pa.leader);
	assert_string_equal(pa.scope, "demo");
	assert_string_equal(pa.name, "pg0");
	assert_int_equal(pp_apply_replication(&cl, &pa), 1);
	assert_true(pp_member_find(&cl, "pg1")->streaming);
	assert_false(pp_member_find(&cl, "pg2")->streaming);
}

/* A scope or a name that is not a string, or too long to be a section's
 * or a member's name, is an error: never taken as absent (which would
 * pass the check that it is this cluster's). */
static void test_scope_and_name(void **state)
{
	static const char *const bad_cluster[] = {
	    "{\"members\": [], \"scope\": 7}",
	    "{\"members\": [], \"scope\": [\"pg\"]}",
	    "{\"members\": [], \"scope\": \"0123456789012345678901234567890"
	    "123456789012345678901234567890123\"}",
	};
	static const char *const bad_patroni[] = {
	    "{\"role\": \"master\", \"patroni\": \"pg\"}",
	    "{\"role\": \"master\", \"patroni\": {\"scope\": 1}}",
	    "{\"role\": \"master\", \"patroni\": {\"name\": {}}}",
	    "{\"role\": \"master\", \"patroni\": {\"scope\": \"012345678901"
	    "2345678901234567890123456789012345678901234567890123\"}}",
	};
	const char *why;
	for (size_t i = 0; i < sizeof(bad_cluster) / sizeof(*bad_cluster);
	     i++) {
		why = NULL;
		assert_int_equal(pp_parse_cluster(bad_cluster[i],
						  strlen(bad_cluster[i]), &cl,
						  &why),
				 -EINVAL);
		assert_non_null(why);
		assert_string_equal(cl.scope, "");
	}
	for (size_t i = 0; i < sizeof(bad_patroni) / sizeof(*bad_patroni);
	     i++) {
		why = NULL;
		assert_int_equal(pp_parse_patroni(bad_patroni[i],
						  strlen(bad_patroni[i]), &pa,
						  &why),
				 -EINVAL);
		assert_non_null(why);
		assert_false(pa.leader);
	}
	/* Absent or null: "" (Patroni before 3.2 gives neither in places). */
	static const char ok[] = "{\"role\": \"master\", \"patroni\": "
				 "{\"version\": \"3.0.2\", \"name\": null}}";
	assert_int_equal(pp_parse_patroni(ok, strlen(ok), &pa, &why), 0);
	assert_string_equal(pa.scope, "");
	assert_string_equal(pa.name, "");
	assert_true(pa.leader);
}

static void test_roles(void **state)
{
	assert_true(pp_role_is_leader("leader"));
	assert_true(pp_role_is_leader("standby_leader"));
	assert_true(pp_role_is_leader("master"));
	assert_true(pp_role_is_leader("Primary"));
	assert_false(pp_role_is_leader("replica"));
	assert_false(pp_role_is_leader("sync_standby"));
	assert_false(pp_role_is_leader("demoted"));
	assert_false(pp_role_is_leader(""));
}

/* No leader, pause, a member with odd but harmless fields. */
static void test_cluster_shapes(void **state)
{
	const char *why = NULL;
	const char *none = "{\"members\": [{\"name\": \"a\", \"role\": "
			   "\"replica\"}, {\"name\": \"b\"}], \"pause\": true}";
	assert_int_equal(pp_parse_cluster(none, strlen(none), &cl, &why), 0);
	assert_int_equal(cl.leader, -1);
	assert_true(cl.paused);
	assert_string_equal(cl.members[1].role, "");
	const char *empty = " {\"members\": []}\n";
	assert_int_equal(pp_parse_cluster(empty, strlen(empty), &cl, &why), 0);
	assert_int_equal(cl.n_members, 0);
	/* A role too long to be a word Patroni uses: neither leader nor
	 * replica, kept as "". */
	const char *odd =
	    "{\"members\": [{\"name\": \"a\", \"role\": "
	    "\"leaderleaderleaderleaderleaderleader\", \"state\": null}]}";
	assert_int_equal(pp_parse_cluster(odd, strlen(odd), &cl, &why), 0);
	assert_false(cl.members[0].leader);
	assert_string_equal(cl.members[0].role, "");
}

/* More members than kept: the leader is kept whatever its place. */
static void test_many_members(void **state)
{
	char body[16384];
	size_t n = (size_t)snprintf(body, sizeof(body), "{\"members\": [");
	for (int i = 0; i < PP_MAX_MEMBERS + 8; i++)
		n += (size_t)snprintf(
		    body + n, sizeof(body) - n,
		    "%s{\"name\": \"m%d\", \"role\": \"%s\"}", i ? ", " : "", i,
		    i == PP_MAX_MEMBERS + 5 ? "leader" : "replica");
	n += (size_t)snprintf(body + n, sizeof(body) - n, "]}");
	const char *why = NULL;
	assert_int_equal(pp_parse_cluster(body, n, &cl, &why), 0);
	assert_int_equal(cl.n_members, PP_MAX_MEMBERS);
	assert_int_equal(cl.n_ignored, 8);
	assert_true(cl.leader >= 0);
	assert_string_equal(cl.members[cl.leader].name, "m37");
}

#define EXPECT_BAD_CLUSTER(text, rc_, frag)                                    \
	do {                                                                   \
		const char *w_ = NULL;                                         \
		assert_int_equal(                                              \
		    pp_parse_cluster(text, sizeof(text) - 1, &cl, &w_), rc_);  \
		assert_non_null(w_);                                           \
		assert_non_null(strstr(w_, frag));                             \
		assert_int_equal(cl.n_members, 0);                             \
		assert_int_equal(cl.leader, -1);                               \
	} while (0)

static void test_cluster_garbage(void **state)
{
	EXPECT_BAD_CLUSTER("", -EINVAL, "not JSON");
	EXPECT_BAD_CLUSTER("<html>502 Bad Gateway</html>", -EINVAL, "not JSON");
	EXPECT_BAD_CLUSTER("[1, 2]", -EINVAL, "not a JSON object");
	EXPECT_BAD_CLUSTER("{\"members\": [", -EINVAL, "not JSON");
	EXPECT_BAD_CLUSTER("{\"members\": []} trailing", -EINVAL, "not JSON");
	EXPECT_BAD_CLUSTER("{\"members\": []}{}", -EINVAL, "not JSON");
	EXPECT_BAD_CLUSTER("{\"members\": [\0]}", -EINVAL, "NUL");
	EXPECT_BAD_CLUSTER("{}", -EINVAL, "no members");
	EXPECT_BAD_CLUSTER("{\"members\": {}}", -EINVAL, "no members");
	EXPECT_BAD_CLUSTER("{\"members\": [1]}", -EINVAL, "not an object");
	EXPECT_BAD_CLUSTER("{\"members\": [{\"role\": \"leader\"}]}", -EINVAL,
			   "without a name");
	EXPECT_BAD_CLUSTER("{\"members\": [{\"name\": \"\"}]}", -EINVAL,
			   "without a name");
	EXPECT_BAD_CLUSTER("{\"members\": [{\"name\": 7}]}", -EINVAL,
			   "without a name");
	EXPECT_BAD_CLUSTER("{\"members\": [{\"name\": \"a\", \"role\": 1}]}",
			   -EINVAL, "not a string");
	/* Two leaders or two of one name: the answer is not trusted, even
	 * though one of them was already read. */
	EXPECT_BAD_CLUSTER("{\"members\": [{\"name\": \"a\", \"role\": "
			   "\"leader\"}, {\"name\": \"b\", \"role\": "
			   "\"master\"}]}",
			   -EINVAL, "two leaders");
	EXPECT_BAD_CLUSTER("{\"members\": [{\"name\": \"a\", \"role\": "
			   "\"leader\"}, {\"name\": \"a\", \"role\": "
			   "\"replica\"}]}",
			   -EINVAL, "two members of one name");
	/* Deeper than any answer. */
	EXPECT_BAD_CLUSTER("{\"members\": [{\"name\": \"a\", \"tags\": "
			   "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}]}",
			   -EINVAL, "not JSON");
}

static void test_oversized(void **state)
{
	size_t n = PP_MAX_BODY_BYTES + 1;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n);
	memcpy(big, "{\"members\": []}", 15);
	const char *why = NULL;
	assert_int_equal(pp_parse_cluster(big, n, &cl, &why), -EMSGSIZE);
	assert_non_null(strstr(why, "256 KiB"));
	assert_int_equal(pp_parse_patroni(big, n, &pa, &why), -EMSGSIZE);
	/* At the cap, whitespace and all, it is fine. */
	assert_int_equal(pp_parse_cluster(big, n - 1, &cl, &why), 0);
	free(big);
}

#define EXPECT_BAD_PATRONI(text, frag)                                         \
	do {                                                                   \
		const char *w_ = NULL;                                         \
		assert_int_equal(                                              \
		    pp_parse_patroni(text, sizeof(text) - 1, &pa, &w_),        \
		    -EINVAL);                                                  \
		assert_non_null(strstr(w_, frag));                             \
		assert_false(pa.leader);                                       \
		assert_int_equal(pa.n_streaming, 0);                           \
	} while (0)

static void test_patroni_shapes(void **state)
{
	const char *why = NULL;
	/* Senders that stream no member: catching up, a backup, no name. */
	const char *mixed =
	    "{\"role\": \"primary\", \"replication\": ["
	    "{\"application_name\": \"a\", \"state\": \"catchup\"},"
	    "{\"application_name\": \"pg_basebackup\", \"state\": "
	    "\"backup\"},"
	    "{\"state\": \"streaming\"},"
	    "{\"application_name\": \"b\", \"state\": \"streaming\"}]}";
	assert_int_equal(pp_parse_patroni(mixed, strlen(mixed), &pa, &why), 0);
	assert_true(pa.leader);
	assert_int_equal(pa.n_streaming, 1);
	assert_string_equal(pa.streaming[0], "b");
	/* The leader itself never counts as streaming. */
	const char *c = "{\"members\": [{\"name\": \"b\", \"role\": "
			"\"leader\"}, {\"name\": \"a\"}]}";
	assert_int_equal(pp_parse_cluster(c, strlen(c), &cl, &why), 0);
	assert_int_equal(pp_apply_replication(&cl, &pa), 0);
	assert_false(cl.members[0].streaming);

	EXPECT_BAD_PATRONI("", "not JSON");
	EXPECT_BAD_PATRONI("\"master\"", "not a JSON object");
	EXPECT_BAD_PATRONI("{\"role\": [\"master\"]}", "role");
	EXPECT_BAD_PATRONI("{\"role\": \"master\", \"replication\": {}}",
			   "not a list");
	EXPECT_BAD_PATRONI("{\"role\": \"master\", \"replication\": [7]}",
			   "replication entry");
	EXPECT_BAD_PATRONI("{\"role\": \"master\", \"replication\": "
			   "[{\"application_name\": 7}]}",
			   "replication entry");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_real_cluster),
	    cmocka_unit_test(test_real_replication),
	    cmocka_unit_test(test_real_one_gone),
	    cmocka_unit_test(test_real_leader_killed),
	    cmocka_unit_test(test_real_replicas),
	    cmocka_unit_test(test_newer_answers),
	    cmocka_unit_test(test_scope_and_name),
	    cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_cluster_shapes),
	    cmocka_unit_test(test_many_members),
	    cmocka_unit_test(test_cluster_garbage),
	    cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_patroni_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
