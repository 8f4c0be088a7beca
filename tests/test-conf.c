/* test-conf.c: balloond.conf: defaults, every key, the errors an admin
 * sees (file, line, section, key), [cluster NAME] sections, and files that
 * are missing or empty. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "daemon/conf.h"
#include "proto/fileio.h"

#define MiB (UINT64_C(1) << 20)

/* Parse text over the defaults, as balloond does. */
static int parse(struct bd_conf *c, const char *text, char *err, size_t len)
{
	bd_conf_defaults(c);
	return bd_conf_parse_string(c, "test.conf", text, err, len);
}

/* The error names all of these. */
static void expect_error(const char *text, const char *const *parts)
{
	struct bd_conf c;
	char err[512] = "";
	int rc = parse(&c, text, err, sizeof(err));
	if (rc != -EINVAL)
		fail_msg("parsing \"%s\" returned %d, expected -EINVAL", text,
			 rc);
	for (; *parts; parts++)
		if (!strstr(err, *parts))
			fail_msg("error \"%s\" does not mention \"%s\"", err,
				 *parts);
}

#define EXPECT_ERROR(text, ...)                                                \
	expect_error(text, (const char *const[]){__VA_ARGS__, NULL})

/* Field by field: the struct has padding, which need not match. */
static void assert_conf_equal(const struct bd_conf *a, const struct bd_conf *b)
{
	assert_string_equal(a->control_socket, b->control_socket);
	assert_string_equal(a->control_group, b->control_group);
	assert_string_equal(a->state_dir, b->state_dir);
	assert_string_equal(a->proc_root, b->proc_root);
	assert_string_equal(a->sys_root, b->sys_root);
	assert_int_equal(a->log_level, b->log_level);
	assert_int_equal(a->dry_run, b->dry_run);
	assert_int_equal(a->restore_on_exit, b->restore_on_exit);
	assert_int_equal(a->restore_timeout_ms, b->restore_timeout_ms);
	assert_int_equal(a->qmp_command_timeout_ms, b->qmp_command_timeout_ms);
	assert_int_equal(a->qmp_greeting_timeout_ms,
			 b->qmp_greeting_timeout_ms);
	assert_int_equal(a->qmp_reconnect_max_ms, b->qmp_reconnect_max_ms);
	assert_int_equal(a->qmp_max_message_bytes, b->qmp_max_message_bytes);
	assert_int_equal(a->stats_interval_s, b->stats_interval_s);
	assert_int_equal(a->shrink_step_bytes, b->shrink_step_bytes);
	assert_int_equal(a->n_clusters, b->n_clusters);
	for (size_t i = 0; i < a->n_clusters; i++) {
		assert_string_equal(a->clusters[i].name, b->clusters[i].name);
		assert_string_equal(a->clusters[i].rest_urls,
				    b->clusters[i].rest_urls);
	}
}

static void test_defaults(void **state)
{
	struct bd_conf c;
	memset(&c, 0xa5, sizeof(c));
	bd_conf_defaults(&c);
	assert_string_equal(c.control_socket, BALLOOND_DEFAULT_SOCKET);
	assert_string_equal(c.control_socket, "/run/balloond/control.sock");
	assert_string_equal(c.control_group, "");
	assert_string_equal(c.state_dir, BALLOOND_DEFAULT_STATE_DIR);
	assert_string_equal(c.state_dir, "/var/lib/balloond");
	assert_string_equal(c.proc_root, "/proc");
	assert_string_equal(c.sys_root, "/sys");
	assert_int_equal(c.log_level, LOG_INFO);
	assert_false(c.dry_run);
	assert_true(c.restore_on_exit);
	assert_int_equal(c.restore_timeout_ms, 10000);
	assert_int_equal(c.idle_timeout_ms, 60000);
	assert_int_equal(c.max_conns_per_uid, 32);
	assert_int_equal(c.root_reserve_fds, 64);
	assert_int_equal(c.qmp_command_timeout_ms, 5000);
	assert_int_equal(c.qmp_greeting_timeout_ms, 5000);
	assert_int_equal(c.qmp_reconnect_max_ms, 30000);
	assert_int_equal(c.qmp_max_message_bytes, 1 * MiB);
	assert_int_equal(c.stats_interval_s, 5);
	assert_int_equal(c.shrink_step_bytes, 0);
	assert_int_equal(c.n_clusters, 0);
	assert_null(bd_conf_cluster(&c, "pg1"));
}

static void test_empty_text(void **state)
{
	struct bd_conf c, d;
	char err[256] = "stale";
	bd_conf_defaults(&d);
	assert_int_equal(parse(&c, "", err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_conf_equal(&c, &d);
	/* Comments and blank lines only. */
	assert_int_equal(parse(&c,
			       "# balloond.conf\n\n; nothing set\n[daemon]\n",
			       err, sizeof(err)),
			 0);
	assert_conf_equal(&c, &d);
}

static const char every_key[] =
    "# every key balloond knows\n"
    "[daemon]\n"
    "control_socket = /tmp/balloond-test/control.sock\n"
    "control_group = kvm\n"
    "state_dir = /srv/balloond\n"
    "proc_root = /fixtures/proc\n"
    "sys_root = /fixtures/sys\n"
    "log_level = debug\n"
    "dry_run = yes\n"
    "restore_on_exit = off\n"
    "restore_timeout_ms = 2500\n"
    "idle_timeout_ms = 5000\n"
    "max_conns_per_uid = 4\n"
    "root_reserve_fds = 16\n"
    "\n"
    "[qmp]\n"
    "command_timeout_ms = 1000\n"
    "greeting_timeout_ms = 2000\n"
    "reconnect_max_ms = 60000\n"
    "max_message_bytes = 2M\n"
    "stats_interval_s = 0\n"
    "\n"
    "[policy]\n"
    "shrink_step = 512M\n"
    "\n"
    "[cluster pg1]\n"
    "rest_urls = http://10.0.0.1:8008 http://10.0.0.2:8008\n"
    "[cluster pg2]\n"
    "rest_urls = https://pg2.example:8008\n";

static void test_every_key(void **state)
{
	struct bd_conf c;
	char err[256];
	int rc = parse(&c, every_key, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	assert_string_equal(c.control_socket,
			    "/tmp/balloond-test/control.sock");
	assert_string_equal(c.control_group, "kvm");
	assert_string_equal(c.state_dir, "/srv/balloond");
	assert_string_equal(c.proc_root, "/fixtures/proc");
	assert_string_equal(c.sys_root, "/fixtures/sys");
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_true(c.dry_run);
	assert_false(c.restore_on_exit);
	assert_int_equal(c.restore_timeout_ms, 2500);
	assert_int_equal(c.idle_timeout_ms, 5000);
	assert_int_equal(c.max_conns_per_uid, 4);
	assert_int_equal(c.root_reserve_fds, 16);
	assert_int_equal(c.qmp_command_timeout_ms, 1000);
	assert_int_equal(c.qmp_greeting_timeout_ms, 2000);
	assert_int_equal(c.qmp_reconnect_max_ms, 60000);
	assert_int_equal(c.qmp_max_message_bytes, 2 * MiB);
	assert_int_equal(c.stats_interval_s, 0);
	assert_int_equal(c.shrink_step_bytes, 512 * MiB);
	assert_int_equal(c.n_clusters, 2);
	const struct bd_cluster *cl = bd_conf_cluster(&c, "pg1");
	assert_non_null(cl);
	assert_string_equal(cl->rest_urls,
			    "http://10.0.0.1:8008 http://10.0.0.2:8008");
	cl = bd_conf_cluster(&c, "pg2");
	assert_non_null(cl);
	assert_string_equal(cl->rest_urls, "https://pg2.example:8008");
	assert_null(bd_conf_cluster(&c, "pg3"));
}

static void test_ini_syntax(void **state)
{
	/* inih: ';' or '#' starts a comment line, " ;" an inline comment,
	 * "key: value" works like "key = value", blanks are trimmed. */
	struct bd_conf c;
	char err[256];
	int rc = parse(&c,
		       "; comment\n"
		       "# comment\n"
		       "[daemon]\n"
		       "   \n"
		       "dry_run: true\n"
		       "log_level=notice ; inline comment\n"
		       "[qmp]\n"
		       "command_timeout_ms   =   750   \n",
		       err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	assert_true(c.dry_run);
	assert_int_equal(c.log_level, LOG_NOTICE);
	assert_int_equal(c.qmp_command_timeout_ms, 750);
}

static void test_overlays_current_values(void **state)
{
	/* A parse changes only the keys it sets. */
	struct bd_conf c;
	char err[256];
	assert_int_equal(
	    parse(&c, "[daemon]\ndry_run = yes\n", err, sizeof(err)), 0);
	assert_int_equal(bd_conf_parse_string(&c, "second.conf",
					      "[qmp]\nstats_interval_s = 60\n",
					      err, sizeof(err)),
			 0);
	assert_true(c.dry_run);
	assert_int_equal(c.stats_interval_s, 60);
	/* The last of two settings wins. */
	assert_int_equal(parse(&c, "[daemon]\ndry_run = yes\ndry_run = no\n",
			       err, sizeof(err)),
			 0);
	assert_false(c.dry_run);
}

static void test_unknown_key(void **state)
{
	EXPECT_ERROR("[daemon]\ndry_run = yes\nfoo = 1\n", "test.conf",
		     ":3:", "[daemon]", "foo", "unknown key");
	/* A key in the wrong section is unknown there. */
	EXPECT_ERROR("[daemon]\ncommand_timeout_ms = 100\n",
		     "test.conf:2:", "[daemon]", "command_timeout_ms",
		     "unknown key");
	/* Names are case-sensitive. */
	EXPECT_ERROR("[daemon]\nDry_Run = yes\n", "test.conf:2:", "Dry_Run");
	/* Unknown sections, and keys before any section. */
	EXPECT_ERROR("[bogus]\nkey = 1\n", "test.conf:2:", "[bogus]", "key",
		     "unknown key");
	EXPECT_ERROR("dry_run = yes\n", "test.conf:1:", "dry_run",
		     "unknown key");
	/* [cluster] without a name is not a cluster section. */
	EXPECT_ERROR("[cluster]\nrest_urls = http://a:8008\n",
		     "test.conf:2:", "[cluster]", "rest_urls", "unknown key");
	/* Only the first error is reported. */
	EXPECT_ERROR("[daemon]\nfoo = 1\nbar = 2\n", "test.conf:2:", "foo");
}

static void test_bool(void **state)
{
	static const struct {
		const char *text;
		bool value;
	} ok[] = {
	    {"1", true},      {"yes", true},  {"true", true}, {"on", true},
	    {"YES", true},    {"True", true}, {"0", false},   {"no", false},
	    {"false", false}, {"off", false}, {"OFF", false}, {"No", false},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct bd_conf c;
		char text[64], err[256];
		snprintf(text, sizeof(text), "[daemon]\ndry_run = %s\n",
			 ok[i].text);
		assert_int_equal(parse(&c, text, err, sizeof(err)), 0);
		assert_int_equal(c.dry_run, ok[i].value);
	}
	EXPECT_ERROR("[daemon]\ndry_run = maybe\n", "test.conf:2:", "[daemon]",
		     "dry_run", "'maybe' is not a boolean");
	EXPECT_ERROR("[daemon]\nrestore_on_exit = 2\n", "restore_on_exit",
		     "not a boolean");
	EXPECT_ERROR("[daemon]\nrestore_on_exit =\n", "restore_on_exit",
		     "not a boolean");
}

static void test_log_level(void **state)
{
	static const struct {
		const char *text;
		int level;
	} ok[] = {
	    {"error", LOG_ERR},	      {"err", LOG_ERR},
	    {"warning", LOG_WARNING}, {"warn", LOG_WARNING},
	    {"notice", LOG_NOTICE},   {"info", LOG_INFO},
	    {"debug", LOG_DEBUG},     {"7", LOG_DEBUG},
	    {"3", LOG_ERR},	      {"crit", LOG_CRIT},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct bd_conf c;
		char text[64], err[256];
		snprintf(text, sizeof(text), "[daemon]\nlog_level = %s\n",
			 ok[i].text);
		assert_int_equal(parse(&c, text, err, sizeof(err)), 0);
		assert_int_equal(c.log_level, ok[i].level);
	}
	EXPECT_ERROR("[daemon]\nlog_level = verbose\n",
		     "test.conf:2:", "log_level", "not a log level");
	EXPECT_ERROR("[daemon]\nlog_level = 8\n", "log_level",
		     "not a log level");
}

static void test_ms_ranges(void **state)
{
	static const struct {
		const char *text;
		int rc;
	} cases[] = {
	    {"[daemon]\nrestore_timeout_ms = 100\n", 0},
	    {"[daemon]\nrestore_timeout_ms = 600000\n", 0},
	    {"[daemon]\nrestore_timeout_ms = 99\n", -EINVAL},
	    {"[daemon]\nrestore_timeout_ms = 600001\n", -EINVAL},
	    {"[daemon]\nidle_timeout_ms = 100\n", 0},
	    {"[daemon]\nidle_timeout_ms = 99\n", -EINVAL},
	    {"[daemon]\nidle_timeout_ms = 86400001\n", -EINVAL},
	    {"[daemon]\nmax_conns_per_uid = 0\n", -EINVAL},
	    {"[daemon]\nmax_conns_per_uid = 1\n", 0},
	    {"[daemon]\nroot_reserve_fds = 0\n", 0},
	    {"[daemon]\nroot_reserve_fds = 1000001\n", -EINVAL},
	    {"[qmp]\ncommand_timeout_ms = 10\n", 0},
	    {"[qmp]\ncommand_timeout_ms = 9\n", -EINVAL},
	    {"[qmp]\ncommand_timeout_ms = 600001\n", -EINVAL},
	    {"[qmp]\ngreeting_timeout_ms = 10\n", 0},
	    {"[qmp]\ngreeting_timeout_ms = 0\n", -EINVAL},
	    {"[qmp]\nreconnect_max_ms = 100\n", 0},
	    {"[qmp]\nreconnect_max_ms = 3600000\n", 0},
	    {"[qmp]\nreconnect_max_ms = 3600001\n", -EINVAL},
	    {"[qmp]\nstats_interval_s = 3600\n", 0},
	    {"[qmp]\nstats_interval_s = 3601\n", -EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bd_conf c;
		char err[256] = "";
		int rc = parse(&c, cases[i].text, err, sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("%s: rc %d (%s)", cases[i].text, rc, err);
		if (rc)
			assert_non_null(strstr(err, "out of range"));
	}
	EXPECT_ERROR("[daemon]\nrestore_timeout_ms = 99\n",
		     "test.conf:2:", "[daemon]", "restore_timeout_ms",
		     "'99' is out of range");
	/* Milliseconds take no unit, and are whole numbers. */
	EXPECT_ERROR("[daemon]\nrestore_timeout_ms = 10s\n",
		     "restore_timeout_ms", "not a whole number");
	EXPECT_ERROR("[daemon]\nrestore_timeout_ms = -5\n",
		     "not a whole number");
	EXPECT_ERROR("[qmp]\ncommand_timeout_ms = 1.5\n", "not a whole number");
	EXPECT_ERROR("[qmp]\nstats_interval_s = 99999999999999999999999\n",
		     "stats_interval_s", "out of range");
}

static void test_paths(void **state)
{
	EXPECT_ERROR("[daemon]\nstate_dir = var/lib/balloond\n",
		     "test.conf:2:", "[daemon]", "state_dir",
		     "'var/lib/balloond' is not an absolute path");
	EXPECT_ERROR("[daemon]\ncontrol_socket = control.sock\n",
		     "control_socket", "not an absolute path");
	EXPECT_ERROR("[daemon]\nproc_root = ./proc\n", "proc_root",
		     "not an absolute path");
	EXPECT_ERROR("[daemon]\nsys_root =\n", "sys_root",
		     "not an absolute path");

	/* A socket path must fit in sun_path (107 characters and the NUL). */
	char text[256], path[120];
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[107] = '\0';
	snprintf(text, sizeof(text), "[daemon]\ncontrol_socket = %s\n", path);
	struct bd_conf c;
	char err[256];
	assert_int_equal(parse(&c, text, err, sizeof(err)), 0);
	assert_string_equal(c.control_socket, path);
	path[107] = 'a';
	path[108] = '\0';
	snprintf(text, sizeof(text), "[daemon]\ncontrol_socket = %s\n", path);
	expect_error(text,
		     (const char *const[]){"control_socket", "too long", NULL});

	/* control_group is a plain string of at most 63 characters. */
	char group[80];
	memset(group, 'g', 64);
	group[64] = '\0';
	snprintf(text, sizeof(text), "[daemon]\ncontrol_group = %s\n", group);
	expect_error(text,
		     (const char *const[]){"control_group", "too long", NULL});
	group[63] = '\0';
	snprintf(text, sizeof(text), "[daemon]\ncontrol_group = %s\n", group);
	assert_int_equal(parse(&c, text, err, sizeof(err)), 0);
	assert_string_equal(c.control_group, group);
}

static void test_sizes(void **state)
{
	struct bd_conf c;
	char err[256];
	assert_int_equal(
	    parse(&c, "[qmp]\nmax_message_bytes = 4096\n", err, sizeof(err)),
	    0);
	assert_int_equal(c.qmp_max_message_bytes, 4096);
	assert_int_equal(
	    parse(&c, "[qmp]\nmax_message_bytes = 64MiB\n", err, sizeof(err)),
	    0);
	assert_int_equal(c.qmp_max_message_bytes, 64 * MiB);
	assert_int_equal(
	    parse(&c, "[policy]\nshrink_step = 0\n", err, sizeof(err)), 0);
	assert_int_equal(c.shrink_step_bytes, 0);
	assert_int_equal(
	    parse(&c, "[policy]\nshrink_step = 1 G\n", err, sizeof(err)), 0);
	assert_int_equal(c.shrink_step_bytes, 1024 * MiB);

	EXPECT_ERROR("[qmp]\nmax_message_bytes = 12Q\n",
		     "test.conf:2:", "[qmp]", "max_message_bytes",
		     "'12Q' is not a size");
	EXPECT_ERROR("[policy]\nshrink_step = 1.5G\n", "[policy]",
		     "shrink_step", "not a size");
	EXPECT_ERROR("[policy]\nshrink_step = -1G\n", "shrink_step",
		     "not a size");
	EXPECT_ERROR("[qmp]\nmax_message_bytes = 4095\n", "max_message_bytes",
		     "out of range");
	EXPECT_ERROR("[qmp]\nmax_message_bytes = 65M\n", "max_message_bytes",
		     "out of range");
	EXPECT_ERROR("[policy]\nshrink_step = 99999999999T\n", "shrink_step",
		     "out of range");
}

static void test_clusters(void **state)
{
	struct bd_conf c;
	char err[256];
	int rc =
	    parse(&c,
		  "[cluster pg1]\n"
		  "rest_urls = http://127.0.0.1:8008 http://127.0.0.1:8009\n"
		  "[cluster   spaced]\n"
		  "rest_urls = http://127.0.0.1:8010\n"
		  "[cluster pg1]\n" /* the same section again: same cluster */
		  "rest_urls = http://127.0.0.1:8011\n",
		  err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	assert_int_equal(c.n_clusters, 2);
	assert_string_equal(c.clusters[0].name, "pg1");
	assert_string_equal(bd_conf_cluster(&c, "pg1")->rest_urls,
			    "http://127.0.0.1:8011");
	assert_non_null(bd_conf_cluster(&c, "spaced"));

	EXPECT_ERROR("[cluster pg1]\nrest_urls = http://a:8008\nurl = x\n",
		     "test.conf:3:", "[cluster pg1]", "url", "unknown key");
	EXPECT_ERROR("[cluster ]\nrest_urls = http://a:8008\n",
		     "test.conf:2:", "cluster name must be 1 to 63 characters");

	/* inih keeps 49 characters of a section name (MAX_SECTION 50), so
	 * "cluster " leaves 41 for the name: the longest that works. */
	char text[256], name[80];
	memset(name, 'n', 41);
	name[41] = '\0';
	snprintf(text, sizeof(text), "[cluster %s]\nrest_urls = http://x\n",
		 name);
	assert_int_equal(parse(&c, text, err, sizeof(err)), 0);
	assert_non_null(bd_conf_cluster(&c, name));
	assert_string_equal(bd_conf_cluster(&c, name)->rest_urls, "http://x");
}

/* The REST watcher's keys: defaults, every key, and what goes together. */
/* rest_hosts: HOST, HOST:PORT, [V6], [V6]:PORT, blank-separated. */
static void test_cluster_rest_hosts(void **state)
{
	struct bd_conf c;
	char err[256], host[64];
	unsigned port;
	int rc = parse(&c,
		       "[cluster pg]\n"
		       "rest_hosts = 10.0.1.11 pg2.example:8008 [fd00::3] "
		       "[::1]:8009\n",
		       err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	assert_string_equal(bd_conf_cluster(&c, "pg")->rest_hosts,
			    "10.0.1.11 pg2.example:8008 [fd00::3] [::1]:8009");
	assert_int_equal(bd_conf_rest_host("pg2.example:8008", 16, host,
					   sizeof(host), &port),
			 0);
	assert_string_equal(host, "pg2.example");
	assert_int_equal(port, 8008);
	assert_int_equal(
	    bd_conf_rest_host("10.0.1.11 x", 9, host, sizeof(host), &port), 0);
	assert_string_equal(host, "10.0.1.11");
	assert_int_equal(port, 0);
	assert_int_equal(
	    bd_conf_rest_host("[::1]:8009", 10, host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 8009);
	assert_int_equal(
	    bd_conf_rest_host("[fd00::3]", 9, host, sizeof(host), &port), 0);
	assert_string_equal(host, "fd00::3");
	assert_int_equal(port, 0);
	static const char *const bad[] = {
	    "::1",    "[::1",	"[::1]x",  "[]",	  ":8008",
	    "a:",     "a:0",	"a:65536", "a:8008:1",	  "a/b",
	    "user@a", "[g::1]", "a:80x",   "http://a:80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];
		if (bd_conf_rest_host(bad[i], strlen(bad[i]), host,
				      sizeof(host), &port) != -EINVAL)
			fail_msg("'%s' was taken", bad[i]);
		snprintf(text, sizeof(text), "[cluster pg]\nrest_hosts = %s\n",
			 bad[i]);
		EXPECT_ERROR(text, "[cluster pg]", "rest_hosts",
			     "is not HOST, HOST:PORT");
	}
	EXPECT_ERROR("[cluster pg]\nrest_hosts = a b c d e f g h i j k l m n o "
		     "p q\n",
		     "[cluster pg]", "rest_hosts: more than 16 hosts");
}

static void test_cluster_rest(void **state)
{
	struct bd_conf c;
	char err[256];
	int rc = parse(&c, "[cluster d]\nrest_urls = http://a:8008\n", err,
		       sizeof(err));
	if (rc)
		fail_msg("%s", err);
	const struct bd_cluster *cl = bd_conf_cluster(&c, "d");
	assert_int_equal(cl->poll_interval_ms, 2000);
	assert_int_equal(cl->timeout_ms, 1000);
	assert_int_equal(cl->max_age_ms, 30000);
	assert_string_equal(cl->tls_ca_file, "");
	assert_string_equal(cl->username, "");

	rc = parse(&c,
		   "[cluster pg]\n"
		   "rest_urls = https://10.0.0.1:8008  http://10.0.0.2:8008/ "
		   "\n"
		   "poll_interval_ms = 500\n"
		   "timeout_ms = 250\n"
		   "max_age_ms = 5000\n"
		   "tls_ca_file = /etc/patroni/ca.pem\n"
		   "tls_cert_file = /etc/patroni/client.pem\n"
		   "tls_key_file = /etc/patroni/client.key\n"
		   "username = balloond\n"
		   "password_file = /etc/balloond/patroni.password\n",
		   err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	cl = bd_conf_cluster(&c, "pg");
	assert_int_equal(cl->poll_interval_ms, 500);
	assert_int_equal(cl->timeout_ms, 250);
	assert_int_equal(cl->max_age_ms, 5000);
	assert_string_equal(cl->tls_ca_file, "/etc/patroni/ca.pem");
	assert_string_equal(cl->tls_cert_file, "/etc/patroni/client.pem");
	assert_string_equal(cl->tls_key_file, "/etc/patroni/client.key");
	assert_string_equal(cl->username, "balloond");
	assert_string_equal(cl->password_file,
			    "/etc/balloond/patroni.password");

	EXPECT_ERROR("[cluster pg]\npoll_interval_ms = 99\n",
		     "test.conf:2:", "[cluster pg]", "poll_interval_ms",
		     "out of range");
	EXPECT_ERROR("[cluster pg]\ntimeout_ms = 9\n", "timeout_ms",
		     "out of range");
	EXPECT_ERROR("[cluster pg]\ntimeout_ms = 1s\n", "timeout_ms",
		     "not a whole number");
	EXPECT_ERROR("[cluster pg]\ntls_ca_file = ca.pem\n", "tls_ca_file",
		     "not an absolute path");
	EXPECT_ERROR("[cluster pg]\npassword_file = pw\n", "password_file",
		     "not an absolute path");
	EXPECT_ERROR("[cluster pg]\nusername = a:b\n", "username",
		     "without ':'");
	EXPECT_ERROR("[cluster pg]\npassword = secret\n", "password",
		     "unknown key");
	/* Keys that only make sense together: the whole file is read, so
	 * the message names the cluster, not a line. */
	EXPECT_ERROR("[cluster pg]\nrest_urls = 10.0.0.1:8008\n",
		     "[cluster pg]", "'10.0.0.1:8008' is not an http");
	EXPECT_ERROR("[cluster pg]\nrest_urls = http://a ftp://b\n",
		     "'ftp://b'");
	EXPECT_ERROR("[cluster pg]\nrest_urls = http://1 http://2 http://3 "
		     "http://4 http://5 http://6 http://7 http://8 http://9\n",
		     "more than 8 URLs");
	EXPECT_ERROR("[cluster pg]\ntls_key_file = /k\n",
		     "tls_key_file needs tls_cert_file");
	EXPECT_ERROR("[cluster pg]\nusername = u\n",
		     "username and password_file go together");
	EXPECT_ERROR("[cluster pg]\npassword_file = /p\n",
		     "username and password_file go together");
	EXPECT_ERROR("[cluster pg]\npoll_interval_ms = 5000\n"
		     "max_age_ms = 5000\n",
		     "poll_interval_ms (5000) must be below max_age_ms (5000)");
}

/* [listener] and the clusters' notify_key_file (the network listener). */
static void test_listener(void **state)
{
	struct bd_conf c;
	char err[256];
	bd_conf_defaults(&c);
	assert_false(c.listener_enabled);
	assert_string_equal(c.listener_address, "127.0.0.1");
	assert_int_equal(c.listener_port, 7420);
	assert_int_equal(c.listener_window_ms, 30000);
	int rc = parse(&c,
		       "[listener]\n"
		       "enabled = yes\n"
		       "address = ::1\n"
		       "port = 9000\n"
		       "window_ms = 5000\n"
		       "[cluster pg]\n"
		       "rest_urls = http://127.0.0.1:8008\n"
		       "notify_key_file = /etc/balloond/pg.key\n"
		       "[cluster other]\n"
		       "rest_urls = http://127.0.0.1:8009\n",
		       err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	assert_true(c.listener_enabled);
	assert_string_equal(c.listener_address, "::1");
	assert_int_equal(c.listener_port, 9000);
	assert_int_equal(c.listener_window_ms, 5000);
	assert_string_equal(bd_conf_cluster(&c, "pg")->notify_key_file,
			    "/etc/balloond/pg.key");
	assert_string_equal(bd_conf_cluster(&c, "other")->notify_key_file, "");
	assert_int_equal(
	    parse(&c, "[listener]\naddress = 0.0.0.0\n", err, sizeof(err)), 0);
	assert_string_equal(c.listener_address, "0.0.0.0");

	EXPECT_ERROR("[listener]\naddress = localhost\n",
		     "test.conf:2:", "[listener] address",
		     "not an IPv4 or IPv6 address");
	EXPECT_ERROR("[listener]\naddress = 10.0.0.300\n", "address",
		     "not an IPv4 or IPv6 address");
	EXPECT_ERROR("[listener]\nport = 0\n", "[listener] port",
		     "out of range");
	EXPECT_ERROR("[listener]\nport = 65536\n", "port", "out of range");
	EXPECT_ERROR("[listener]\nwindow_ms = 999\n", "window_ms",
		     "out of range");
	EXPECT_ERROR("[listener]\nenabled = maybe\n", "enabled",
		     "not a boolean");
	EXPECT_ERROR("[listener]\nkey_file = /k\n", "[listener] key_file",
		     "unknown key");
	EXPECT_ERROR("[cluster pg]\nnotify_key_file = pg.key\n",
		     "test.conf:2:", "[cluster pg] notify_key_file",
		     "not an absolute path");
	char text[512], path[121];
	memset(path, 'k', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(text, sizeof(text), "[cluster pg]\nnotify_key_file = %s\n",
		 path);
	EXPECT_ERROR(text, "notify_key_file", "shorter than 108");
}

/* [metrics]: the textfile and the HTTP listener, both off by default. */
static void test_metrics(void **state)
{
	struct bd_conf c;
	char err[256], addr[64];
	unsigned port = 0;
	bd_conf_defaults(&c);
	assert_string_equal(c.metrics_textfile, "");
	assert_string_equal(c.metrics_listen, "");
	assert_int_equal(c.metrics_textfile_interval_ms, 15000);
	int rc = parse(&c,
		       "[metrics]\n"
		       "textfile = /var/lib/prometheus/node-exporter/"
		       "balloond.prom\n"
		       "textfile_interval_ms = 5000\n"
		       "listen = 127.0.0.1:9742\n",
		       err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	assert_string_equal(c.metrics_textfile,
			    "/var/lib/prometheus/node-exporter/balloond.prom");
	assert_int_equal(c.metrics_textfile_interval_ms, 5000);
	assert_string_equal(c.metrics_listen, "127.0.0.1:9742");
	assert_int_equal(
	    parse(&c, "[metrics]\nlisten = [::1]:80\n", err, sizeof(err)), 0);
	assert_int_equal(
	    bd_conf_split_listen(c.metrics_listen, addr, sizeof(addr), &port),
	    0);
	assert_string_equal(addr, "::1");
	assert_int_equal(port, 80);
	assert_int_equal(
	    bd_conf_split_listen("0.0.0.0:65535", addr, sizeof(addr), &port),
	    0);
	assert_string_equal(addr, "0.0.0.0");
	assert_int_equal(port, 65535);

	static const char *const bad[] = {
	    "127.0.0.1",       "127.0.0.1:",	 "127.0.0.1:0",
	    "127.0.0.1:65536", "localhost:9742", "::1:9742",
	    "[::1]9742",       "[127.0.0.1]:80", ":9742",
	    "127.0.0.1:+80",   "127.0.0.1:80x",	 "[]:80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!bd_conf_split_listen(bad[i], addr, sizeof(addr), &port))
			fail_msg("'%s' taken", bad[i]);
	}
	EXPECT_ERROR("[metrics]\nlisten = localhost:9742\n",
		     "test.conf:2:", "[metrics] listen", "not ADDRESS:PORT");
	EXPECT_ERROR("[metrics]\ntextfile = balloond.prom\n", "textfile",
		     "not an absolute path");
	EXPECT_ERROR("[metrics]\ntextfile_interval_ms = 999\n",
		     "textfile_interval_ms", "out of range");
}

static void test_too_many_clusters(void **state)
{
	size_t size = (BD_MAX_CLUSTERS + 1) * 64;
	char *text = malloc(size);
	assert_non_null(text);
	size_t off = 0;
	for (int i = 0; i < BD_MAX_CLUSTERS; i++)
		off += (size_t)snprintf(
		    text + off, size - off,
		    "[cluster c%d]\nrest_urls = http://h%d:8008\n", i, i);
	struct bd_conf c;
	char err[256];
	assert_int_equal(parse(&c, text, err, sizeof(err)), 0);
	assert_int_equal(c.n_clusters, BD_MAX_CLUSTERS);
	snprintf(text + off, size - off,
		 "[cluster one-too-many]\nrest_urls = x\n");
	expect_error(
	    text, (const char *const[]){"too many [cluster] sections", NULL});
	free(text);
}

static void test_syntax_error(void **state)
{
	EXPECT_ERROR("[daemon]\ndry_run = yes\nthis is not ini\n",
		     "test.conf:3:", "syntax error");
	EXPECT_ERROR("[daemon\n", "test.conf:1:", "syntax error");
}

static void test_psi_pair(void **state)
{
	/* A stall as long as its window can never be met: refused at load
	 * rather than by the kernel with a misleading EINVAL. */
	char err[256] = "";
	struct bd_conf c;
	assert_int_equal(parse(&c,
			       "[host]\npsi_stall_us = 2000000\n"
			       "psi_window_us = 2000000\n",
			       err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "psi_stall_us (2000000) must be below"));
	assert_int_equal(parse(&c,
			       "[host]\npsi_stall_us = 100000\n"
			       "psi_window_us = 1000000\n",
			       err, sizeof(err)),
			 0);
	assert_int_equal(c.psi_window_us, 1000000);
	/* The [host] and [policy] keys of the policy engine. */
	assert_int_equal(parse(&c,
			       "[host]\nreserve = 2G\narc_manage = yes\n"
			       "arc_min = 4G\nlow_watermark = 1G\n"
			       "[policy]\ndeadband = 8M\ndwell_ms = 5000\n"
			       "[cluster pg]\ndwell_ms = 1000\n"
			       "max_age_ms = 9000\n",
			       err, sizeof(err)),
			 0);
	assert_int_equal(c.host_reserve_bytes, 2ULL << 30);
	assert_true(c.arc_manage);
	assert_int_equal(c.arc_min_bytes, 4ULL << 30);
	assert_int_equal(c.deadband_bytes, 8 << 20);
	assert_int_equal(c.dwell_ms, 5000);
	assert_int_equal(c.clusters[0].dwell_ms, 1000);
	assert_int_equal(c.clusters[0].max_age_ms, 9000);
	assert_int_equal(
	    parse(&c, "[cluster pg]\nmax_age_ms = soon\n", err, sizeof(err)),
	    -EINVAL);
	assert_non_null(
	    strstr(err, "max_age_ms: 'soon' is not a whole number"));
}

static void test_long_line_not_truncated(void **state)
{
	/* inih reads lines of at most INI_MAX_LINE (200 in Debian's build)
	 * and splits longer ones. Whatever the limit, a long value must be
	 * taken whole or refused, never silently cut. */
	char value[300], text[400], err[256] = "";
	memset(value, 'd', sizeof(value));
	value[0] = '/';
	value[250] = '\0';
	snprintf(text, sizeof(text), "[daemon]\nstate_dir = %s\n", value);
	struct bd_conf c;
	int rc = parse(&c, text, err, sizeof(err));
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(err, "test.conf:2: line too long"));
	/* 198 characters still fit. */
	value[198 - strlen("state_dir = ")] = '\0';
	snprintf(text, sizeof(text), "[daemon]\nstate_dir = %s\n", value);
	rc = parse(&c, text, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	assert_string_equal(c.state_dir, value);
}

static void test_indented_line_is_a_key(void **state)
{
	/* inih would read an indented line as the continuation of the value
	 * above it, silently; balloond reads it as a line of its own. */
	struct bd_conf c;
	char err[256] = "";
	int rc = parse(&c, "[daemon]\ncontrol_group = kvm\n  dry_run = yes\n",
		       err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	assert_string_equal(c.control_group, "kvm");
	assert_true(c.dry_run);
	EXPECT_ERROR("[daemon]\ncontrol_group = kvm\n   nonsense\n",
		     "test.conf:3:", "syntax error");
}

/* A private directory for files. */
static int make_dir(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = malloc(4096);
	if (!dir)
		return -1;
	snprintf(dir, 4096, "%s/test-conf.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int remove_dir(void **state)
{
	char *dir = *state;
	char path[BD_FILE_PATH_MAX];
	snprintf(path, sizeof(path), "%s/balloond.conf", dir);
	unlink(path);
	rmdir(dir);
	free(dir);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_load_missing(void **state)
{
	const char *dir = *state;
	char path[BD_FILE_PATH_MAX], err[512] = "stale";
	struct bd_conf c, d;
	snprintf(path, sizeof(path), "%s/no-such.conf", dir);
	bd_conf_defaults(&c);
	bd_conf_defaults(&d);
	/* The default file may be missing... */
	assert_int_equal(bd_conf_load(&c, path, false, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_conf_equal(&c, &d);
	/* ...one named with --config may not. */
	assert_int_equal(bd_conf_load(&c, path, true, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file"));
}

static void test_load_empty_file(void **state)
{
	const char *dir = *state;
	char path[BD_FILE_PATH_MAX], err[512];
	struct bd_conf c, d;
	snprintf(path, sizeof(path), "%s/balloond.conf", dir);
	write_file(path, "");
	bd_conf_defaults(&c);
	bd_conf_defaults(&d);
	assert_int_equal(bd_conf_load(&c, path, true, err, sizeof(err)), 0);
	assert_conf_equal(&c, &d);
}

static void test_load_file(void **state)
{
	const char *dir = *state;
	char path[BD_FILE_PATH_MAX], err[512];
	struct bd_conf c;
	snprintf(path, sizeof(path), "%s/balloond.conf", dir);
	write_file(path, every_key);
	bd_conf_defaults(&c);
	assert_int_equal(bd_conf_load(&c, path, true, err, sizeof(err)), 0);
	assert_true(c.dry_run);
	assert_int_equal(c.n_clusters, 2);

	/* Errors name the real file and line. */
	write_file(path, "[qmp]\n\nstats_interval_s = often\n");
	bd_conf_defaults(&c);
	assert_int_equal(bd_conf_load(&c, path, false, err, sizeof(err)),
			 -EINVAL);
	char want[4300];
	snprintf(want, sizeof(want), "%s:3: [qmp] stats_interval_s:", path);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not start with \"%s\"", err, want);
}

/* A NUL byte in the file: inih and C strings would end the file there,
 * silently dropping every line after it. It is an error with its line,
 * like any other malformed line. */
static void test_load_nul_byte(void **state)
{
	const char *dir = *state;
	char path[BD_FILE_PATH_MAX], err[512], want[4300];
	struct bd_conf c;
	snprintf(path, sizeof(path), "%s/balloond.conf", dir);
	static const struct {
		const char *text;
		size_t len;
		int line;
	} cases[] = {
#define C(text, line) {text, sizeof(text) - 1, line}
	    /* Inside a value: "no" would be taken and the rest lost. */
	    C("[daemon]\ndry_run = no\0junk\nrestore_on_exit = no\n", 2),
	    /* Alone at the start of a line. */
	    C("[daemon]\n\n\0\nrestore_on_exit = no\n", 3),
	    /* On the last line, without a newline. */
	    C("[daemon]\nrestore_on_exit = no\n\0", 3),
#undef C
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(cases[i].text, 1, cases[i].len, f),
				 cases[i].len);
		assert_int_equal(fclose(f), 0);
		bd_conf_defaults(&c);
		err[0] = '\0';
		int rc = bd_conf_load(&c, path, true, err, sizeof(err));
		if (rc != -EINVAL)
			fail_msg("case %zu: returned %d (\"%s\"), expected "
				 "-EINVAL",
				 i, rc, err);
		snprintf(want, sizeof(want), "%s:%d: ", path, cases[i].line);
		if (!strstr(err, want) || !strstr(err, "NUL"))
			fail_msg("case %zu: error \"%s\" does not name \"%s\" "
				 "and the NUL byte",
				 i, err, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_empty_text),
	    cmocka_unit_test(test_every_key),
	    cmocka_unit_test(test_ini_syntax),
	    cmocka_unit_test(test_overlays_current_values),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_log_level),
	    cmocka_unit_test(test_ms_ranges),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_clusters),
	    cmocka_unit_test(test_listener),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_cluster_rest),
	    cmocka_unit_test(test_cluster_rest_hosts),
	    cmocka_unit_test(test_too_many_clusters),
	    cmocka_unit_test(test_syntax_error),
	    cmocka_unit_test(test_long_line_not_truncated),
	    cmocka_unit_test(test_psi_pair),
	    cmocka_unit_test(test_indented_line_is_a_key),
	    cmocka_unit_test_setup_teardown(test_load_missing, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(test_load_empty_file, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(test_load_file, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(test_load_nul_byte, make_dir,
					    remove_dir),
	};
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
