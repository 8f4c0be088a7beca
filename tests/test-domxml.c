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
#include <stdlib.h>
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

/* ---- balloonctl enable / disable ---- */

#define QMPDIR "/run/balloond/qmp"
/* A persistent definition as virsh dumpxml --inactive gives it, with
 * someone else's metadata and qemu:commandline arguments. */
static const char base_xml[] =
    "<domain type='kvm' " QEMU_NS ">\n"
    "  <name>pg1</name>\n"
    "  <memory unit='KiB'>8388608</memory>\n"
    "  <currentMemory unit='KiB'>4194304</currentMemory>\n"
    "  <metadata>\n"
    "    <other:thing xmlns:other='urn:someone:else' a='1'/>\n"
    "  </metadata>\n"
    "  <devices>\n"
    "    <memballoon model='virtio'/>\n"
    "  </devices>\n"
    "  <qemu:commandline>\n"
    "    <qemu:arg value='-msg'/>\n"
    "    <qemu:arg value='timestamp=on'/>\n"
    "  </qemu:commandline>\n"
    "</domain>\n";

static char *enable(const char *xml, const struct bd_domxml_opts *o)
{
	char *out = NULL, err[256] = "";
	int rc = bd_domxml_enable(xml, strlen(xml), o, QMPDIR, &out, err,
				  sizeof(err));
	if (rc)
		fail_msg("enable: %d %s", rc, err);
	return out;
}

static char *disable(const char *xml)
{
	char *out = NULL, err[256] = "";
	int rc =
	    bd_domxml_disable(xml, strlen(xml), QMPDIR, &out, err, sizeof(err));
	if (rc)
		fail_msg("disable: %d %s", rc, err);
	return out;
}

static const struct bd_domxml_opts full_opts = {
    .min_bytes = 2 * GiB,
    .max_bytes = 6 * GiB,
    .replica_target_bytes = 3 * GiB + 512 * MiB,
    .has_priority = true,
    .priority = -5,
    .cluster = "pg",
    .member = "pg1",
};

static void test_enable_round_trip(void **state)
{
	char *x = enable(base_xml, &full_opts);
	struct bd_domxml d;
	char err[256] = "";
	assert_int_equal(parse(x, &d, err), 0);
	assert_true(d.managed);
	assert_true(d.has_qmp);
	assert_string_equal(d.spec.qmp_path, QMPDIR "/pg1.sock");
	assert_int_equal(d.spec.min_bytes, 2 * GiB);
	assert_int_equal(d.spec.max_bytes, 6 * GiB);
	assert_int_equal(d.spec.replica_target_bytes, 3 * GiB + 512 * MiB);
	assert_int_equal(d.spec.priority, -5);
	assert_string_equal(d.spec.cluster, "pg");
	assert_string_equal(d.spec.member, "pg1");
	/* Exactly the names of the man page, and sizes a person reads. */
	assert_non_null(strstr(x, "<balloond:guest "
				  "xmlns:balloond=\"urn:balloond:guest:1\">"));
	assert_non_null(strstr(x, "min=\"2GiB\""));
	assert_non_null(strstr(x, "replica-target=\"3584MiB\""));
	assert_non_null(strstr(x, "<balloond:patroni cluster=\"pg\" "
				  "member=\"pg1\"/>"));
	assert_non_null(
	    strstr(x, "<qemu:arg value=\"-qmp\"/><qemu:arg value=\"unix:" QMPDIR
		      "/pg1.sock,server=on,wait=off\"/>"));
	/* Others' metadata and arguments stay. */
	assert_non_null(strstr(x, "<other:thing"));
	assert_non_null(strstr(x, "timestamp=on"));

	/* No options: an empty balloond:guest, every default. */
	struct bd_domxml_opts none = {0};
	char *y = enable(base_xml, &none);
	assert_int_equal(parse(y, &d, err), 0);
	assert_true(d.managed);
	assert_int_equal(d.spec.max_bytes, 0);
	assert_null(strstr(y, "balloond:memory"));
	assert_null(strstr(y, "balloond:patroni"));
	free(x);
	free(y);
}

static void test_enable_idempotent(void **state)
{
	char *once = enable(base_xml, &full_opts);
	char *twice = enable(once, &full_opts);
	assert_string_equal(once, twice);
	/* Enabling again with other options replaces, never adds. */
	struct bd_domxml_opts o = {.max_bytes = 4 * GiB};
	char *other = enable(twice, &o);
	struct bd_domxml d;
	char err[256] = "";
	assert_int_equal(parse(other, &d, err), 0);
	assert_int_equal(d.spec.max_bytes, 4 * GiB);
	assert_int_equal(d.spec.min_bytes, 0);
	assert_string_equal(d.spec.cluster, "");
	const char *p = other;
	int guests = 0, qmps = 0;
	while ((p = strstr(p, "<balloond:guest")))
		guests++, p++;
	for (p = other; (p = strstr(p, "value=\"-qmp\"")); p++)
		qmps++;
	assert_int_equal(guests, 1);
	assert_int_equal(qmps, 1);
	free(once);
	free(twice);
	free(other);
}

static void test_disable(void **state)
{
	char *on = enable(base_xml, &full_opts);
	char *off = disable(on);
	/* Exactly what enable added is gone; the rest is as it was. */
	char *plain = disable(base_xml); /* the same text, re-serialised */
	assert_string_equal(off, plain);
	free(plain);
	struct bd_domxml d;
	char err[256] = "";
	assert_int_equal(parse(off, &d, err), 0);
	assert_false(d.managed);
	assert_false(d.has_qmp);
	assert_null(strstr(off, "balloond"));
	assert_non_null(strstr(off, "<other:thing"));
	assert_non_null(strstr(off, "<qemu:arg value=\"-msg\"/>"));
	assert_non_null(strstr(off, "timestamp=on"));
	char *again = disable(off);
	assert_string_equal(again, off);
	free(on);
	free(off);
	free(again);

	/* A domain with nothing else there: <metadata> and
	 * <qemu:commandline> made by enable go again. */
	static const char bare[] = "<domain type='kvm'><name>a</name>"
				   "<memory>8388608</memory><devices>"
				   "<memballoon model='virtio'/></devices>"
				   "</domain>";
	on = enable(bare, &full_opts);
	assert_non_null(strstr(on, "<metadata>"));
	assert_non_null(strstr(on, "commandline"));
	off = disable(on);
	char *bare_plain = disable(bare);
	assert_string_equal(off, bare_plain); /* xmlns:qemu too is gone */
	free(bare_plain);
	assert_null(strstr(off, "<metadata"));
	assert_null(strstr(off, "commandline>"));
	assert_null(strstr(off, "-qmp"));
	/* A -qmp socket of the admin's own, elsewhere, is not ours. */
	static const char own[] =
	    "<domain " QEMU_NS "><name>a</name><memory>1048576</memory>"
	    "<devices><memballoon model='virtio'/></devices>"
	    "<qemu:commandline><qemu:arg value='-qmp'/>"
	    "<qemu:arg value='unix:/var/lib/x.sock,server=on,wait=off'/>"
	    "</qemu:commandline></domain>";
	char *o2 = disable(own);
	assert_non_null(strstr(o2, "/var/lib/x.sock"));
	free(on);
	free(off);
	free(o2);
}

/* libxml2 keeps a namespace declaration whose prefix is no name
 * (xmlns:q:='...'), and a prefix written with it does not read back: enable
 * declares its own prefix rather than borrow that one, and the socket it
 * adds is found again (the reader, expat, refuses such a declaration:
 * enable and disable drop it). */
static void test_enable_bad_qemu_prefix(void **state)
{
	static const char xml[] =
	    "<domain xmlns:q:='http://libvirt.org/schemas/domain/qemu/1.0'>"
	    "<name>a</name><memory>838608</memory><devices>"
	    "<memballoon model='virtio'/></devices></domain>";
	struct bd_domxml_opts none = {0};
	char *x = enable(xml, &none);
	struct bd_domxml d;
	char err[256] = "";
	assert_int_equal(parse(x, &d, err), 0);
	assert_true(d.managed);
	assert_true(d.has_qmp);
	assert_string_equal(d.spec.qmp_path, QMPDIR "/a.sock");
	char *off = disable(x);
	assert_int_equal(parse(off, &d, err), 0);
	assert_false(d.managed);
	assert_false(d.has_qmp);
	free(x);
	free(off);
}

static void expect_edit_error(const char *xml, const struct bd_domxml_opts *o,
			      const char *want)
{
	char *out = (char *)"unset", err[256] = "";
	int rc = o ? bd_domxml_enable(xml, strlen(xml), o, QMPDIR, &out, err,
				      sizeof(err))
		   : bd_domxml_disable(xml, strlen(xml), QMPDIR, &out, err,
				       sizeof(err));
	if (rc != -EINVAL || out || !strstr(err, want))
		fail_msg("rc %d, out %p, error \"%s\" lacks \"%s\" for: %s", rc,
			 (void *)out, err, want, xml);
}

static void test_edit_refusals(void **state)
{
	struct bd_domxml_opts none = {0}, big = {.max_bytes = 16 * GiB},
			      lowmax = {.max_bytes = 1 * GiB,
					.min_bytes = 2 * GiB};
	static const char noballoon[] =
	    "<domain><name>a</name><memory unit='GiB'>8</memory>"
	    "<devices><memballoon model='none'/></devices></domain>";
	static const char nomem[] =
	    "<domain><name>a</name><devices><memballoon model='virtio'/>"
	    "</devices></domain>";
	expect_edit_error(noballoon, &none, "no virtio memballoon");
	expect_edit_error(noballoon, NULL, "no virtio memballoon");
	expect_edit_error(nomem, &none, "no <memory>");
	expect_edit_error(nomem, NULL, "no <memory>");
	expect_edit_error(base_xml, &big,
			  "max 16 GiB is above the domain's <memory> 8 GiB");
	expect_edit_error(base_xml, &lowmax, "min 2 GiB is above max 1 GiB");
	expect_edit_error("<domain", &none, "not well-formed");
	expect_edit_error("<domain", NULL, "not well-formed");
	expect_edit_error("<x/>", &none, "not <domain>");
	expect_edit_error("<domain><name>a/b</name><memory>1048576</memory>"
			  "<devices><memballoon model='virtio'/></devices>"
			  "</domain>",
			  &none, "cannot name a socket file");
}

/* The byte scan that spares the hook expat: false only for a domain
 * that is certainly not managed; whatever could hide the namespace says
 * true (and, where it matters, parses as managed). */
static void test_maybe_managed(void **state)
{
	static const struct {
		const char *xml;
		size_t len; /* 0: strlen */
		bool maybe, managed;
	} cases[] = {
	    /* As libvirt writes them. */
	    {"<domain><name>web</name><memory>1</memory></domain>", 0, false,
	     false},
	    {"\n <domain type='kvm'><name>web</name></domain>", 0, false,
	     false},
	    {"<domain><name>db</name><memory>1</memory><metadata>"
	     "<b:guest xmlns:b='urn:balloond:guest:1'/></metadata></domain>",
	     0, true, true},
	    /* Another version's namespace is not ours. */
	    {"<domain><name>x</name><metadata><guest "
	     "xmlns='urn:balloond:guest:2'/></metadata></domain>",
	     0, false, false},
	    /* The namespace spelt with a character reference. */
	    {"<domain><name>db</name><memory>1</memory><metadata>"
	     "<b:guest xmlns:b='urn:balloond:guest&#58;1'/></metadata>"
	     "</domain>",
	     0, true, true},
	    /* An XML declaration, a byte order mark, a comment first. */
	    {"<?xml version='1.0'?><domain><name>x</name></domain>", 0, true,
	     false},
	    {"\xef\xbb\xbf<domain><name>x</name></domain>", 0, true, false},
	    {"<!-- x --><domain><name>x</name></domain>", 0, true, false},
	    /* A NUL byte (UTF-16 would have them), and what is no XML. */
	    {"<domain>\0<name>x</name></domain>", 32, true, false},
	    {"not xml at all <<<", 0, true, false},
	    {"", 0, true, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *xml = cases[i].xml;
		size_t len = cases[i].len ? cases[i].len : strlen(xml);
		struct bd_domxml d;
		char err[256];
		if (bd_domxml_maybe_managed(xml, len) != cases[i].maybe)
			fail_msg("case %zu: maybe_managed should be %d", i,
				 cases[i].maybe);
		int rc = bd_domxml_parse(xml, len, &d, err, sizeof(err));
		if ((rc == 0 && d.managed) != cases[i].managed)
			fail_msg("case %zu: managed should be %d (rc %d)", i,
				 cases[i].managed, rc);
	}
}

/* ---- what an XML reader could get wrong ---- */

/* A domain that parses: 0, or fail with the message. */
static void expect_ok(const char *xml, struct bd_domxml *d)
{
	char err[256] = "";
	int rc = parse(xml, d, err);
	if (rc)
		fail_msg("rc %d (%s) for: %s", rc, err, xml);
}

#define DOM(x)                                                                 \
	"<domain><name>a</name><memory unit='GiB'>8</memory>" x "</domain>"

/* Namespaces are matched by their name, whatever the prefix, and a
 * prefix is nothing without its namespace. */
static void test_namespaces(void **state)
{
	struct bd_domxml d;
	/* balloond's metadata under other prefixes, or as the default
	 * namespace, or declared on <domain>. */
	expect_ok(DOM("<metadata><bd:guest xmlns:bd='urn:balloond:guest:1'>"
		      "<bd:memory max='4GiB'/></bd:guest></metadata>"),
		  &d);
	assert_true(d.managed);
	assert_int_equal(d.spec.max_bytes, 4 * GiB);
	expect_ok(DOM("<metadata><guest xmlns='urn:balloond:guest:1'>"
		      "<memory max='3GiB'/><patroni cluster='c' member='m'/>"
		      "</guest></metadata>"),
		  &d);
	assert_true(d.managed);
	assert_int_equal(d.spec.max_bytes, 3 * GiB);
	assert_string_equal(d.spec.member, "m");
	expect_ok("<domain xmlns:x='urn:balloond:guest:1'><name>a</name>"
		  "<memory unit='GiB'>8</memory><metadata><x:guest>"
		  "<x:memory min='1GiB'/></x:guest></metadata></domain>",
		  &d);
	assert_true(d.managed);
	assert_int_equal(d.spec.min_bytes, 1 * GiB);
	/* libvirt's qemu namespace under another prefix. */
	expect_ok(DOM("<q:commandline "
		      "xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'>"
		      "<q:arg value='-qmp'/><q:arg value='unix:/q.sock'/>"
		      "</q:commandline>"),
		  &d);
	assert_true(d.has_qmp);
	assert_string_equal(d.spec.qmp_path, "/q.sock");

	/* The same local names in other namespaces, or in none, are not
	 * ours: neither the guest, nor its children, nor their attributes,
	 * nor libvirt's own elements, nor the qemu arguments. */
	expect_ok(DOM("<metadata><b:guest xmlns:b='urn:someone:else'>"
		      "<b:memory max='99GiB'/></b:guest><guest/></metadata>"),
		  &d);
	assert_false(d.managed);
	expect_ok(DOM("<metadata><b:guest xmlns:b='urn:balloond:guest:1'>"
		      "<o:memory xmlns:o='urn:other' max='99GiB'/>"
		      "<memory max='98GiB'/>"
		      "<b:memory xmlns:b='urn:other' max='97GiB'/>"
		      "<b:memory b:min='1GiB' xmlns:p='urn:balloond:guest:1' "
		      "p:priority='9'/>"
		      "</b:guest></metadata>"),
		  &d);
	assert_true(d.managed);
	assert_int_equal(d.spec.max_bytes, 0);
	assert_int_equal(d.spec.min_bytes, 0);
	assert_int_equal(d.spec.priority, 0);
	expect_ok("<domain><name>a</name><o:name xmlns:o='urn:o'>b</o:name>"
		  "<memory unit='GiB'>8</memory>"
		  "<o:memory xmlns:o='urn:o'>1</o:memory></domain>",
		  &d);
	assert_string_equal(d.spec.name, "a");
	assert_int_equal(d.memory_bytes, 8 * GiB);
	expect_ok(DOM("<commandline><arg value='-qmp'/>"
		      "<arg value='unix:/a.sock'/></commandline>"
		      "<q:commandline xmlns:q='urn:not-qemu'><q:arg "
		      "value='-qmp'/><q:arg value='unix:/b.sock'/>"
		      "</q:commandline>"),
		  &d);
	assert_false(d.has_qmp);
	/* Only where libvirt puts it: a guest elsewhere is not ours. */
	expect_ok(DOM("<b:guest xmlns:b='urn:balloond:guest:1'/><metadata>"
		      "<x><b:guest xmlns:b='urn:balloond:guest:1'/></x>"
		      "</metadata>"),
		  &d);
	assert_false(d.managed);
	/* <domain> in a namespace is not libvirt's. */
	expect_error("<domain xmlns='urn:x'><name>a</name></domain>",
		     "not <domain>");
	/* A prefix never declared: the document is not namespace
	 * well-formed. */
	expect_error(DOM("<metadata><b:guest/></metadata>"), "unbound prefix");
}

/* Values as XML may spell them: CDATA, references, entities from an
 * internal DTD, text split by comments or child elements. */
static void test_text_forms(void **state)
{
	struct bd_domxml d;
	expect_ok("<domain><name><![CDATA[pg]]>&#49;</name>"
		  "<memory unit='G&#105;B'> 8</memory></domain>",
		  &d);
	assert_string_equal(d.spec.name, "pg1");
	assert_int_equal(d.memory_bytes, 8 * GiB);
	expect_ok("<domain><name>a&amp;b&lt;c<!-- not text -->d</name>"
		  "<memory>83<![CDATA[88]]>6<x>08</x></memory></domain>",
		  &d);
	assert_string_equal(d.spec.name, "a&b<cd");
	assert_int_equal(d.memory_bytes, 8388608 * 1024ULL);
	expect_ok("<!DOCTYPE domain [<!ENTITY gib 'GiB'>"
		  "<!ENTITY n 'db&#50;'>]>"
		  "<domain><name>&n;</name><memory unit='&gib;'>8</memory>"
		  "<metadata><b:guest xmlns:b='urn:balloond:guest:1'>"
		  "<b:memory max='4&gib;'/><b:patroni cluster='&n;' "
		  "member='m&amp;1'/></b:guest></metadata></domain>",
		  &d);
	assert_string_equal(d.spec.name, "db2");
	assert_int_equal(d.spec.max_bytes, 4 * GiB);
	assert_string_equal(d.spec.cluster, "db2");
	assert_string_equal(d.spec.member, "m&1");
	/* A default from the DTD counts as written (as libxml2 read it). */
	expect_ok("<!DOCTYPE domain [<!ATTLIST memory unit CDATA 'MiB'>]>"
		  "<domain><name>a</name><memory>512</memory></domain>",
		  &d);
	assert_int_equal(d.memory_bytes, 512 * MiB);
	expect_ok(DOM("<qemu:commandline " QEMU_NS
		      "><qemu:arg value='-q&#109;p'/>"
		      "<qemu:arg value='unix:/run/a&#46;sock,server=on'/>"
		      "</qemu:commandline>"),
		  &d);
	assert_string_equal(d.spec.qmp_path, "/run/a.sock");
	/* Leading whitespace past any buffer, then the number. */
	char xml[2048];
	int n = snprintf(xml, sizeof(xml), "<domain><name>a</name><memory>");
	memset(xml + n, ' ', 1000);
	snprintf(xml + n + 1000, sizeof(xml) - (size_t)n - 1000,
		 "1024</memory></domain>");
	expect_ok(xml, &d);
	assert_int_equal(d.memory_bytes, 1024 * 1024);

	/* Billion laughs: expat's amplification limit stops it. */
	static const char lol[] =
	    "<!DOCTYPE domain [<!ENTITY a 'lollollollollollollollollollol'>"
	    "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
	    "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>"
	    "<!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>"
	    "<!ENTITY e '&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;'>"
	    "<!ENTITY f '&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;'>"
	    "<!ENTITY g '&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;'>"
	    "<!ENTITY h '&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;'>"
	    "<!ENTITY i '&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;'>]>"
	    "<domain><name>&i;</name></domain>";
	expect_error(lol, "amplification");
	/* No external entity is read, in content or as the DTD's. */
	expect_error("<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/hostname'>]>"
		     "<domain><name>a</name><memory>1</memory>"
		     "<x>&e;</x></domain>",
		     "external entity");
	expect_error("<!DOCTYPE d [<!ENTITY % p SYSTEM 'file:///etc/hostname'>"
		     "%p;]><domain><memory>1</memory></domain>",
		     "no <name>");
}

/* A document cut short anywhere is an error naming the line, and never
 * a crash (the cut copy is exactly as long as it says, for ASan). */
static void test_cut_short(void **state)
{
	static const char xml[] =
	    "<domain type='kvm' " QEMU_NS ">\n"
	    "  <name>pg1</name>\n"
	    "  <memory unit='KiB'>8388608</memory>\n"
	    "  <metadata>\n"
	    "    <b:guest xmlns:b='urn:balloond:guest:1'>\n"
	    "      <b:memory min='2GiB' max='8GiB'/>\n"
	    "    </b:guest>\n"
	    "  </metadata>\n"
	    "  <devices><memballoon model='virtio'/></devices>\n"
	    "  <qemu:commandline>\n"
	    "    <qemu:arg value='-qmp'/>\n"
	    "    <qemu:arg value='unix:/run/balloond/qmp/pg1.sock'/>\n"
	    "  </qemu:commandline>\n"
	    "</domain>";
	size_t len = strlen(xml);
	for (size_t n = 0; n < len; n++) {
		char *cut = malloc(n ? n : 1);
		assert_non_null(cut);
		memcpy(cut, xml, n);
		struct bd_domxml d;
		char err[256] = "";
		int rc = bd_domxml_parse(cut, n, &d, err, sizeof(err));
		free(cut);
		if (rc != -EINVAL || !strstr(err, "not well-formed: line "))
			fail_msg("cut at %zu: rc %d, \"%s\"", n, rc, err);
	}
	struct bd_domxml d;
	char err[256] = "";
	assert_int_equal(bd_domxml_parse(xml, len, &d, err, sizeof(err)), 0);
	assert_true(d.managed && d.has_qmp);
	/* The line is where the document stops. */
	const char *at = strstr(xml, "8388608</me") + 11;
	assert_int_equal(
	    bd_domxml_parse(xml, (size_t)(at - xml), &d, err, sizeof(err)),
	    -EINVAL);
	if (!strstr(err, "line 3:"))
		fail_msg("\"%s\" does not name line 3", err);
	expect_error("<domain><name>a</name>\n<memory>1</memory>\n<x></y>"
		     "</domain>",
		     "line 3: mismatched tag");
}

#define QCL(x)	   "<qemu:commandline " QEMU_NS ">" x "</qemu:commandline>"
#define CMDLINE(x) DOM(QCL(x))
#define ARG(v)	   "<qemu:arg value='" v "'/>"

/* The extra QMP socket: the first "-qmp unix:PATH" pair in one
 * <qemu:commandline>, whatever else is there. */
static void test_qmp_pair(void **state)
{
	static const struct {
		const char *xml;
		const char *path; /* NULL: none found */
	} cases[] = {
	    {CMDLINE(ARG("-qmp") ARG("unix:/a.sock,server=on,wait=off")),
	     "/a.sock"},
	    {CMDLINE(ARG("-qmp") ARG("tcp:localhost:4444") ARG("-qmp")
			 ARG("unix:/b.sock")),
	     "/b.sock"},
	    {CMDLINE(ARG("-qmp") ARG("unix:/first") ARG("-qmp")
			 ARG("unix:/second")),
	     "/first"},
	    /* An argument alone is no pair, nor one across elements. */
	    {CMDLINE(ARG("unix:/x.sock")), NULL},
	    {CMDLINE(ARG("-S") ARG("-qmp")), NULL},
	    {DOM(QCL(ARG("-qmp")) "<x/>" QCL(ARG("unix:/y.sock"))), NULL},
	    {CMDLINE(ARG("-qmp") ARG("-S") ARG("unix:/z.sock")), NULL},
	    /* A <qemu:env>, or an arg without a value, in between is
	     * skipped, as it always was. */
	    {CMDLINE(ARG("-qmp") "<qemu:env name='A' value='-S'/>"
				 "<qemu:arg/>" ARG("unix:/e.sock")),
	     "/e.sock"},
	    /* Arguments outside <qemu:commandline> are not QEMU's. */
	    {DOM("<qemu:arg " QEMU_NS " value='-qmp'/><qemu:arg " QEMU_NS
		 " value='unix:/o.sock'/>"),
	     NULL},
	    /* A second commandline is read as well. */
	    {DOM(QCL(ARG("-S")) QCL(ARG("-qmp") ARG("unix:/2.sock"))),
	     "/2.sock"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bd_domxml d;
		expect_ok(cases[i].xml, &d);
		if (d.has_qmp != (cases[i].path != NULL) ||
		    (cases[i].path &&
		     strcmp(d.spec.qmp_path, cases[i].path) != 0))
			fail_msg("case %zu: has_qmp %d path \"%s\"", i,
				 d.has_qmp, d.spec.qmp_path);
	}
	expect_error(CMDLINE(ARG("-qmp") ARG("unix:,server=on")),
		     "socket path must be 1 to 107 characters");
	char xml[1024], path[200];
	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	snprintf(xml, sizeof(xml),
		 CMDLINE(ARG("-qmp") "<qemu:arg value='unix:/%s'/>"), path);
	expect_error(xml, "socket path must be 1 to 107 characters");
}

static void test_memory_units(void **state)
{
	static const struct {
		const char *unit; /* NULL: no attribute */
		const char *text;
		uint64_t bytes; /* 0: an error */
	} cases[] = {
	    {NULL, "1048576", 1 * GiB},
	    {"", "1024", 1 * MiB},
	    {"b", "4096", 4096},
	    {"bytes", "1073741824", 1 * GiB},
	    {"KB", "1000", 1000000},
	    {"k", "2", 2048},
	    {"KiB", "2", 2048},
	    {"MB", "3", 3000000},
	    {"M", "3", 3 * MiB},
	    {"MiB", "1536", 1536 * MiB},
	    {"GB", "2", 2000000000ULL},
	    {"G", "2", 2 * GiB},
	    {"gib", "2", 2 * GiB},
	    {"TB", "1", 1000000000000ULL},
	    {"T", "1", 1024 * GiB},
	    {"TiB", "2", 2048 * GiB},
	    {"EiB", "1", 0},
	    {"KiB", "0", 0},
	    {"KiB", "-1", 0},
	    {"KiB", "12 ", 0},
	    {"KiB", "1.5", 0},
	    {"TiB", "99999999", 0},
	    {"b", "18446744073709551616", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char xml[256], unit[64] = "";
		if (cases[i].unit)
			snprintf(unit, sizeof(unit), " unit='%s'",
				 cases[i].unit);
		snprintf(xml, sizeof(xml),
			 "<domain><name>a</name><memory%s>%s</memory>"
			 "</domain>",
			 unit, cases[i].text);
		struct bd_domxml d;
		char err[256] = "";
		int rc = parse(xml, &d, err);
		if (cases[i].bytes
			? rc != 0 || d.memory_bytes != cases[i].bytes
			: rc != -EINVAL || !strstr(err, "not a size"))
			fail_msg("case %zu (%s): rc %d, %llu bytes, \"%s\"", i,
				 xml, rc, (unsigned long long)d.memory_bytes,
				 err);
	}
	/* balloond's own sizes take balloond's units. */
	struct bd_domxml d;
	expect_ok(DOM("<metadata><b:guest xmlns:b='urn:balloond:guest:1'>"
		      "<b:memory min='512M' max='3G' replica-target='2048m'/>"
		      "</b:guest></metadata>"),
		  &d);
	assert_int_equal(d.spec.min_bytes, 512 * MiB);
	assert_int_equal(d.spec.max_bytes, 3 * GiB);
	assert_int_equal(d.spec.replica_target_bytes, 2 * GiB);
}

/* What enable writes reads back, field for field, for several option sets
 * and domains (the qemu namespace under another prefix, someone's own
 * -qmp socket first). */
static void test_enable_read_back(void **state)
{
	static const struct bd_domxml_opts sets[] = {
	    {0},
	    {.min_bytes = 1 * GiB},
	    {.max_bytes = 8 * GiB}, /* exactly <memory> */
	    {.replica_target_bytes = 1536 * MiB},
	    {.min_bytes = 12345, .max_bytes = 7 * GiB + 4096},
	    {.has_priority = true, .priority = 0},
	    {.has_priority = true, .priority = -1000},
	    {.has_priority = true, .priority = 1000},
	    {.cluster = "c", .member = "m"},
	    {.min_bytes = 1 * GiB,
	     .max_bytes = 6 * GiB,
	     .replica_target_bytes = 2 * GiB,
	     .has_priority = true,
	     .priority = 42,
	     .cluster = "pg-cluster_1",
	     .member = "member.2"},
	};
	static const char *const doms[] = {
	    base_xml,
	    "<domain xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'>"
	    "<name>vm-2</name><memory unit='GiB'>8</memory><devices>"
	    "<memballoon model='virtio'/></devices><q:commandline>"
	    "<q:arg value='-qmp'/><q:arg value='unix:/var/own.sock'/>"
	    "</q:commandline></domain>",
	};
	for (size_t j = 0; j < sizeof(doms) / sizeof(doms[0]); j++)
		for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
			const struct bd_domxml_opts *o = &sets[i];
			char *x = enable(doms[j], o);
			struct bd_domxml d;
			expect_ok(x, &d);
			const struct bd_guest_spec *s = &d.spec;
			char want_path[64];
			snprintf(want_path, sizeof(want_path),
				 QMPDIR "/%s.sock", j ? "vm-2" : "pg1");
			if (!d.managed || !d.has_qmp || !d.has_balloon ||
			    d.memory_bytes != 8 * GiB ||
			    strcmp(s->qmp_path, want_path) ||
			    s->min_bytes != o->min_bytes ||
			    s->max_bytes != o->max_bytes ||
			    s->replica_target_bytes !=
				o->replica_target_bytes ||
			    s->priority !=
				(o->has_priority ? o->priority : 0) ||
			    strcmp(s->cluster, o->cluster) ||
			    strcmp(s->member, o->member))
				fail_msg(
				    "domain %zu, set %zu reads back wrong: "
				    "%s",
				    j, i, x);
			char *off = disable(x);
			expect_ok(off, &d);
			assert_false(d.managed);
			/* The admin's own socket is what is left. */
			assert_int_equal(d.has_qmp, j == 1);
			free(off);
			free(x);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_managed),
	    cmocka_unit_test(test_unmanaged_and_defaults),
	    cmocka_unit_test(test_maybe_managed),
	    cmocka_unit_test(test_units),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_too_large),
	    cmocka_unit_test(test_enable_round_trip),
	    cmocka_unit_test(test_enable_idempotent),
	    cmocka_unit_test(test_disable),
	    cmocka_unit_test(test_enable_bad_qemu_prefix),
	    cmocka_unit_test(test_edit_refusals),
	    cmocka_unit_test(test_namespaces),
	    cmocka_unit_test(test_text_forms),
	    cmocka_unit_test(test_cut_short),
	    cmocka_unit_test(test_qmp_pair),
	    cmocka_unit_test(test_memory_units),
	    cmocka_unit_test(test_enable_read_back),
	};
	return cmocka_run_group_tests_name("domxml", tests, NULL, NULL);
}
