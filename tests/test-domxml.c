/*
 * test-domxml.c: reading balloond's part of a libvirt domain's XML: the
 * metadata in urn:balloond:guest:1, <memory> in every libvirt unit, the
 * extra -qmp socket under <qemu:commandline>, a virtio memballoon, and a
 * clear error for everything malformed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hooks/domxml.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static int parse(const char *xml, struct bd_domxml *d, char *err)
{
	return bd_domxml_parse(xml, strlen(xml), d, err, 256);
}

#define QEMU_NS "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"

static void test_managed(void **state)
{
	static const char xml[] =
	    "<domain type='kvm' " QEMU_NS ">\n"
	    "  <name>pg1</name>\n"
	    "  <memory unit='KiB'>8388608</memory>\n"
	    "  <currentMemory unit='KiB'>4194304</currentMemory>\n"
	    "  <metadata>\n"
	    "    <other:thing xmlns:other='urn:someone:else'/>\n"
	    "    <balloond:guest xmlns:balloond='urn:balloond:guest:1'>\n"
	    "      <balloond:memory min='2GiB' max='8GiB' "
	    "replica-target='4GiB' priority='10'/>\n"
	    "      <balloond:patroni cluster='pg' member='pg1'/>\n"
	    "    </balloond:guest>\n"
	    "  </metadata>\n"
	    "  <devices><memballoon model='virtio'/></devices>\n"
	    "  <qemu:commandline>\n"
	    "    <qemu:arg value='-S'/>\n"
	    "    <qemu:arg value='-qmp'/>\n"
	    "    <qemu:arg value='unix:/run/balloond/qmp/pg1.sock,server=on,"
	    "wait=off'/>\n"
	    "  </qemu:commandline>\n"
	    "</domain>\n";
	struct bd_domxml d;
	char err[256] = "";
	assert_int_equal(parse(xml, &d, err), 0);
	assert_true(d.managed);
	assert_true(d.has_balloon);
	assert_true(d.has_qmp);
	assert_string_equal(d.spec.name, "pg1");
	assert_string_equal(d.spec.qmp_path, "/run/balloond/qmp/pg1.sock");
	assert_int_equal(d.memory_bytes, 8 * GiB);
	assert_int_equal(d.spec.min_bytes, 2 * GiB);
	assert_int_equal(d.spec.max_bytes, 8 * GiB);
	assert_int_equal(d.spec.replica_target_bytes, 4 * GiB);
	assert_int_equal(d.spec.priority, 10);
	assert_string_equal(d.spec.cluster, "pg");
	assert_string_equal(d.spec.member, "pg1");
}

static void test_unmanaged_and_defaults(void **state)
{
	struct bd_domxml d;
	char err[256] = "";
	/* No balloond:guest: parsed, not managed. */
	assert_int_equal(
	    parse("<domain><name>web</name><memory>1048576</memory>"
		  "</domain>",
		  &d, err),
	    0);
	assert_false(d.managed);
	assert_int_equal(d.memory_bytes, 1 * GiB); /* KiB by default */
	/* An empty metadata element: managed, every field at its default. */
	assert_int_equal(
	    parse("<domain><name>db</name><memory unit='GiB'>4</memory>"
		  "<metadata><b:guest xmlns:b='urn:balloond:guest:1'/>"
		  "</metadata></domain>",
		  &d, err),
	    0);
	assert_true(d.managed);
	assert_int_equal(d.spec.max_bytes, 0);
	assert_int_equal(d.spec.min_bytes, 0);
	assert_false(d.has_qmp);
	assert_false(d.has_balloon);
	/* The same local name in another namespace is not ours. */
	assert_int_equal(parse("<domain><name>x</name><metadata>"
			       "<guest xmlns='urn:balloond:guest:2'/>"
			       "</metadata></domain>",
			       &d, err),
			 0);
	assert_false(d.managed);
}

static void test_units(void **state)
{
	/* libvirt: KB is 1000, KiB and K 1024 (formatdomain.html). */
	assert_int_equal(bd_domxml_unit(""), 1024);
	assert_int_equal(bd_domxml_unit("b"), 1);
	assert_int_equal(bd_domxml_unit("bytes"), 1);
	assert_int_equal(bd_domxml_unit("KB"), 1000);
	assert_int_equal(bd_domxml_unit("KiB"), 1024);
	assert_int_equal(bd_domxml_unit("k"), 1024);
	assert_int_equal(bd_domxml_unit("MB"), 1000000);
	assert_int_equal(bd_domxml_unit("MiB"), MiB);
	assert_int_equal(bd_domxml_unit("G"), GiB);
	assert_int_equal(bd_domxml_unit("TB"), 1000000000000ULL);
	assert_int_equal(bd_domxml_unit("parsecs"), 0);
	struct bd_domxml d;
	char err[256] = "";
	assert_int_equal(parse("<domain><name>a</name>"
			       "<memory unit='MB'>2000</memory></domain>",
			       &d, err),
			 0);
	assert_int_equal(d.memory_bytes, 2000000000ULL);
}

/* Each malformed input: -EINVAL with a message holding `want`. */
static void expect_error(const char *xml, const char *want)
{
	struct bd_domxml d;
	char err[256] = "";
	int rc = parse(xml, &d, err);
	if (rc != -EINVAL || !strstr(err, want))
		fail_msg("rc %d, error \"%s\" lacks \"%s\" for: %s", rc, err,
			 want, xml);
}

#define META(x)                                                                \
	"<domain><name>a</name><memory unit='GiB'>8</memory><metadata>"        \
	"<b:guest xmlns:b='urn:balloond:guest:1'>" x "</b:guest>"              \
	"</metadata></domain>"

static void test_errors(void **state)
{
	expect_error("<domain><name>a</name>", "not well-formed");
	expect_error("", "not well-formed");
	expect_error("<notdomain/>", "not <domain>");
	expect_error("<domain><memory>1</memory></domain>", "no <name>");
	expect_error("<domain><name>a</name><memory unit='parsec'>1</memory>"
		     "</domain>",
		     "is not a size");
	expect_error("<domain><name>a</name><memory>lots</memory></domain>",
		     "is not a size");
	expect_error(META("<b:memory min='two gigs'/>"),
		     "min=\"two gigs\" is not a size");
	expect_error(META("<b:memory max='16GiB'/>"),
		     "max 16 GiB is above the domain's <memory> 8 GiB");
	expect_error(META("<b:memory priority='high'/>"), "priority");
	expect_error(META("<b:memory priority='5000'/>"), "[-1000, 1000]");
	expect_error(META("<b:patroni cluster='pg'/>"),
		     "needs both cluster and member");
	expect_error(META("<b:patroni cluster='' member='m'/>"),
		     "must be 1 to 63 characters");
	char name[200];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	char xml[400];
	snprintf(xml, sizeof(xml), "<domain><name>%s</name></domain>", name);
	expect_error(xml, "<name> must be 1 to 63 characters");
	/* An entity is never expanded (no billion laughs, no file reads). */
	struct bd_domxml d;
	char err[256] = "";
	assert_int_equal(
	    parse("<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
		  "<domain><name>&e;</name></domain>",
		  &d, err),
	    -EINVAL);
}

static void test_too_large(void **state)
{
	struct bd_domxml d;
	char err[256] = "";
	assert_int_equal(bd_domxml_parse("<domain/>", BD_DOMXML_MAX_BYTES + 1,
					 &d, err, sizeof(err)),
			 -EMSGSIZE);
	assert_non_null(strstr(err, "longer than"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_managed),
	    cmocka_unit_test(test_unmanaged_and_defaults),
	    cmocka_unit_test(test_units),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_too_large),
	};
	return cmocka_run_group_tests_name("domxml", tests, NULL, NULL);
}
