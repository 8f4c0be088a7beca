/*
 * test-pveconf.c: reading a Proxmox VE VM config (hooks/pveconf.c): the
 * fixture configs of tests/pve/, both monitor syntaxes in args: and the
 * shapes QEMU accepts, the description's balloond: line, memory: in both
 * spellings, the auto-balloon conflict, snapshots and pending changes
 * left alone, and a message naming the line for everything malformed.
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

#include "hooks/pveconf.h"

#define MiB (UINT64_C(1) << 20)

static int parse(const char *text, struct bd_pveconf *c, char *err)
{
	return bd_pveconf_parse(text, strlen(text), c, err, 256);
}

/* tests/pve/NAME with @DIR@ replaced by /t, parsed into *c. */
static int parse_fixture(const char *name, struct bd_pveconf *c, char *err)
{
	const char *top = getenv("top_srcdir");
	char path[4096], raw[8192], text[16384];
	snprintf(path, sizeof(path), "%s/tests/pve/%s", top ? top : ".", name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(raw, 1, sizeof(raw) - 1, f);
	fclose(f);
	raw[n] = '\0';
	size_t o = 0;
	for (const char *s = raw; *s;) {
		if (strncmp(s, "@DIR@", 5) == 0) {
			memcpy(text + o, "/t", 2);
			o += 2;
			s += 5;
		} else {
			text[o++] = *s++;
		}
	}
	text[o] = '\0';
	return parse(text, c, err);
}

static void test_fixture_chardev_full(void **state)
{
	struct bd_pveconf c;
	char err[256] = "";
	assert_int_equal(parse_fixture("100.conf", &c, err), 0);
	assert_true(c.has_qmp);
	assert_string_equal(c.spec.qmp_path, "/t/vm0.qmp");
	assert_true(c.has_settings);
	assert_int_equal(c.memory_bytes, 256 * MiB);
	assert_int_equal(c.spec.max_bytes, 224 * MiB);
	assert_int_equal(c.spec.min_bytes, 128 * MiB);
	assert_int_equal(c.spec.replica_target_bytes, 160 * MiB);
	assert_int_equal(c.spec.priority, 7);
	assert_string_equal(c.spec.cluster, "nosuchcluster");
	assert_string_equal(c.spec.member, "m0");
	assert_string_equal(c.spec.name, "");
	assert_true(c.has_balloon);
	assert_int_equal(c.balloon_bytes, 128 * MiB);
	assert_true(c.has_shares);
	assert_false(bd_pveconf_autoballoon(&c));
	assert_non_null(strstr(c.args, "-mon chardev=balloond,mode=control"));
}

static void test_fixture_qmp_current(void **state)
{
	struct bd_pveconf c;
	char err[256] = "";
	assert_int_equal(parse_fixture("101.conf", &c, err), 0);
	assert_true(c.has_qmp);
	assert_string_equal(c.spec.qmp_path, "/t/vm1.qmp");
	assert_false(c.has_settings);
	assert_int_equal(c.spec.max_bytes, 224 * MiB);
	assert_int_equal(c.spec.min_bytes, 0);
	assert_false(c.has_balloon);
	assert_false(bd_pveconf_autoballoon(&c));
}

static void test_fixture_unmarked(void **state)
{
	struct bd_pveconf c;
	char err[256] = "";
	assert_int_equal(parse_fixture("102.conf", &c, err), 0);
	assert_false(c.has_qmp);
	assert_false(c.has_settings);
	assert_true(bd_pveconf_autoballoon(&c));
	assert_string_equal(c.args, "-cpu host,+kvm_pv_unhalt");
}

static void test_fixture_autoballoon(void **state)
{
	struct bd_pveconf c;
	char err[256] = "";
	assert_int_equal(parse_fixture("103.conf", &c, err), 0);
	assert_true(c.has_qmp);
	assert_string_equal(c.spec.qmp_path, "/t/vm3.qmp");
	assert_true(bd_pveconf_autoballoon(&c));
	/* balloon: 0 removes the device: nothing for pvestatd to move. */
	assert_int_equal(parse_fixture("104.conf", &c, err), 0);
	assert_true(c.has_balloon);
	assert_int_equal(c.balloon_bytes, 0);
	assert_false(bd_pveconf_autoballoon(&c));
	/* Without balloon: pvestatd leaves the VM alone. */
	assert_int_equal(parse("memory: 512\nshares: 500\n", &c, err), 0);
	assert_false(bd_pveconf_autoballoon(&c));
	assert_int_equal(parse("balloon: 256\nshares: 500\n", &c, err), 0);
	assert_true(bd_pveconf_autoballoon(&c));
	assert_int_equal(parse("balloon: 256\nshares: 0\n", &c, err), 0);
	assert_false(bd_pveconf_autoballoon(&c));
}

static void test_fixture_bad_key(void **state)
{
	struct bd_pveconf c;
	char err[256] = "";
	assert_int_equal(parse_fixture("105.conf", &c, err), -EINVAL);
	assert_non_null(strstr(err, "line 1"));
	assert_non_null(strstr(err, "unknown key 'lowest'"));
}

static void test_fixture_sections(void **state)
{
	struct bd_pveconf c;
	char err[256] = "";
	assert_int_equal(parse_fixture("106.conf", &c, err), 0);
	assert_string_equal(c.spec.qmp_path, "/t/vm6.qmp");
	assert_int_equal(c.spec.min_bytes, 100 * MiB);
	assert_int_equal(c.memory_bytes, 256 * MiB);
}

/* args: shapes; path is the monitor expected, or NULL for none. */
static void test_args_shapes(void **state)
{
	static const struct {
		const char *args, *path;
	} cases[] = {
	    {"-qmp unix:/a.sock,server=on,wait=off", "/a.sock"},
	    {"-qmp unix:/a.sock,server,nowait", "/a.sock"},
	    {"-qmp-pretty unix:/a.sock,server=on", "/a.sock"},
	    {"--qmp unix:/a.sock,server=yes", "/a.sock"},
	    {"-qmp unix:/a.sock", NULL}, /* a client socket */
	    {"-qmp unix:/a.sock,server=off", NULL},
	    {"-qmp tcp:127.0.0.1:4444,server=on", NULL},
	    {"-mon chardev=m,mode=control -chardev socket,id=m,path=/b,"
	     "server=on,wait=off",
	     "/b"}, /* -mon before its -chardev */
	    {"--chardev socket,id=m,path=/b,server=on --mon chardev=m,"
	     "mode=control",
	     "/b"},
	    {"-chardev socket,id=m,path=/b,server=on -mon chardev=m", NULL},
	    {"-chardev socket,id=m,path=/b,server=on -mon chardev=m,"
	     "mode=readline",
	     NULL},
	    {"-chardev socket,id=m,path=/b -mon chardev=m,mode=control", NULL},
	    {"-chardev socket,id=m,host=127.0.0.1,port=4444,server=on "
	     "-mon chardev=m,mode=control",
	     NULL},
	    {"-chardev file,id=m,path=/b -mon chardev=m,mode=control", NULL},
	    {"-chardev socket,id=x,path=/b,server=on -mon chardev=y,"
	     "mode=control",
	     NULL},
	    {"-mon chardev=m,mode=control", NULL},
	    {"-chardev socket,id=m,path='/with space/q.sock',server=on "
	     "-mon chardev=m,mode=control",
	     "/with space/q.sock"},
	    {"-qmp \"unix:/d q/a.sock,server=on\"", "/d q/a.sock"},
	    {"-qmp unix:/a,,b.sock,server=on", "/a,b.sock"},
	    {"-qmp unix:/first,server=on -qmp unix:/second,server=on",
	     "/first"},
	    {"-chardev socket,id=m,path=/mon,server=on -mon chardev=m,"
	     "mode=control -qmp unix:/qmp,server=on",
	     "/mon"},
	    {"-cpu host -smp 4 -qmp", NULL}, /* no value */
	    {"", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024], err[256] = "";
		struct bd_pveconf c;
		snprintf(text, sizeof(text), "memory: 512\nargs: %s\n",
			 cases[i].args);
		int rc = parse(text, &c, err);
		if (rc)
			fail_msg("case %zu (%s): %s", i, cases[i].args, err);
		if (cases[i].path) {
			if (!c.has_qmp)
				fail_msg("case %zu (%s): no monitor found", i,
					 cases[i].args);
			assert_string_equal(c.spec.qmp_path, cases[i].path);
		} else if (c.has_qmp) {
			fail_msg("case %zu (%s): found %s", i, cases[i].args,
				 c.spec.qmp_path);
		}
	}
}

static void test_description(void **state)
{
	struct bd_pveconf c;
	char err[256] = "";
	/* Written by hand, ':' not encoded; commas separate too. */
	assert_int_equal(
	    parse("#balloond: min=1G,priority=-3\nmemory: 4096\n", &c, err), 0);
	assert_true(c.has_settings);
	assert_int_equal(c.spec.min_bytes, 1024 * MiB);
	assert_int_equal(c.spec.priority, -3);
	assert_int_equal(c.spec.max_bytes, 4096 * MiB);
	/* Other description lines, encoded characters in them. */
	assert_int_equal(parse("#caf%C3%A9 %25 100%\n#  balloond%3A  "
			       "max=2G  \nmemory: 4096\n",
			       &c, err),
			 0);
	assert_int_equal(c.spec.max_bytes, 2048 * MiB);
	/* Only the description counts: a comment among the keys is not
	 * one, and "balloond:" elsewhere in a line is text. */
	assert_int_equal(parse("memory: 4096\n#balloond%3A min=9G\n", &c, err),
			 0);
	assert_false(c.has_settings);
	assert_int_equal(
	    parse("#see balloond: min=9G\nmemory: 4096\n", &c, err), 0);
	assert_false(c.has_settings);
	/* Without memory: the max is the daemon's to read from QEMU. */
	assert_int_equal(parse("#balloond%3A min=1G\n", &c, err), 0);
	assert_int_equal(c.spec.max_bytes, 0);
	/* CRLF line ends and an empty file. */
	assert_int_equal(parse("memory: 512\r\nshares: 0\r\n", &c, err), 0);
	assert_int_equal(c.memory_bytes, 512 * MiB);
	assert_true(c.has_shares);
	assert_int_equal(parse("", &c, err), 0);
	assert_false(c.has_qmp);
}

static void test_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
	    {"#balloond%3A min=lots\n", "line 1: balloond: line: min=lots"},
	    {"#balloond%3A min=0\n", "min=0 is not a size"},
	    {"#balloond%3A priority=1001\n", "priority=1001"},
	    {"#balloond%3A priority=\n", "priority="},
	    {"#balloond%3A cluster=pg\n", "go together"},
	    {"#balloond%3A member=pg1\n", "go together"},
	    {"#balloond%3A min\n", "'min' is not KEY=VALUE"},
	    {"#balloond%3A cluster=0123456789012345678901234567890123456789"
	     "012345678901234567890123456789 member=a\n",
	     "1 to 63 characters"},
	    {"#balloond%3A min=1G\n#balloond%3A max=2G\n",
	     "line 2: a second balloond: line"},
	    {"#balloond%3A max=1G\nmemory: 512\n",
	     "max is above memory: (512 MiB)"},
	    {"#balloond%3A min=1G\nmemory: 512\n", "above the max (512 MiB)"},
	    {"#balloond%3A replica-target=600M max=512M\n", "above the max"},
	    {"name: x\nmemory: lots\n", "line 2: memory: 'lots'"},
	    {"memory: current=\n", "memory: ''"},
	    {"memory: hotplug=1\n", "memory: no size"},
	    {"memory: 99999999999\n", "not a size in MiB"},
	    {"balloon: -1\n", "balloon: '-1'"},
	    {"shares: many\n", "shares: 'many'"},
	    {"args: -qmp 'unix:/a.sock\n", "line 1: args: an open quote"},
	    {"args: -qmp unix:/0123456789012345678901234567890123456789012345"
	     "6789012345678901234567890123456789012345678901234567890123456789"
	     ",server=on\n",
	     "longer than 107 bytes"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bd_pveconf c;
		char err[256] = "";
		if (parse(cases[i].text, &c, err) != -EINVAL)
			fail_msg("case %zu (%s): accepted", i, cases[i].text);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: '%s' does not say '%s'", i, err,
				 cases[i].msg);
	}
	struct bd_pveconf c;
	char err[256] = "";
	assert_int_equal(bd_pveconf_parse("memory: 5\0\n", 11, &c, err, 256),
			 -EINVAL);
	assert_non_null(strstr(err, "NUL"));
	size_t big = BD_PVECONF_MAX_BYTES + 1;
	char *text = malloc(big);
	assert_non_null(text);
	memset(text, '#', big);
	assert_int_equal(bd_pveconf_parse(text, big, &c, err, 256), -EMSGSIZE);
	free(text);
	/* args: too long to keep. */
	char longargs[BD_PVECONF_ARGS_MAX + 16] = "args: ";
	memset(longargs + 6, 'x', BD_PVECONF_ARGS_MAX);
	longargs[6 + BD_PVECONF_ARGS_MAX] = '\0';
	assert_int_equal(parse(longargs, &c, err), -EINVAL);
	assert_non_null(strstr(err, "args: longer than"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixture_chardev_full),
	    cmocka_unit_test(test_fixture_qmp_current),
	    cmocka_unit_test(test_fixture_unmarked),
	    cmocka_unit_test(test_fixture_autoballoon),
	    cmocka_unit_test(test_fixture_bad_key),
	    cmocka_unit_test(test_fixture_sections),
	    cmocka_unit_test(test_args_shapes),
	    cmocka_unit_test(test_description),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
