/* domxml.c: editing balloond's part of a libvirt domain's XML (libxml2) for
 * balloonctl enable and disable. Reading is hooks/domxml_read.c's (expat). */
#include "config.h"
#include "domxml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "proto/lazylib.h"

/* libxml2 is loaded when a domain is first edited, not when the program
 * starts: linked in, it brings ICU and libstdc++ with it (35 MB of
 * mappings), which every balloonctl command that edits no domain would
 * pay for. The hook never loads it (it reads with expat). The headers
 * still type every call. */
#define XML_FUNCS(X)                                                           \
	X(xmlAddChild)                                                         \
	X(xmlAddNextSibling)                                                   \
	X(xmlAddPrevSibling)                                                   \
	X(xmlDocDumpMemory)                                                    \
	X(xmlDocGetRootElement)                                                \
	X(xmlFreeDoc)                                                          \
	X(xmlFreeNode)                                                         \
	X(xmlFreeNs)                                                           \
	X(xmlGetNoNsProp)                                                      \
	X(xmlNewChild)                                                         \
	X(xmlNewNode)                                                          \
	X(xmlNewNs)                                                            \
	X(xmlNewProp)                                                          \
	X(xmlNodeGetContent)                                                   \
	X(xmlReadMemory)                                                       \
	X(xmlSearchNsByHref)                                                   \
	X(xmlSetNs)                                                            \
	X(xmlUnlinkNode)                                                       \
	X(xmlValidateNCName)

static struct {
	BD_LAZY_PTRS(XML_FUNCS)
	/* xmlFree is a variable holding libxml2's deallocator (a program may
	 * replace it with xmlMemSetup): this is its address. */
	xmlFreeFunc *free_fn;
	bool loaded;
} lx;
BD_LAZY_RESOLVER(resolve_libxml_funcs, lx, XML_FUNCS)

static const char *resolve_libxml(void *h)
{
	const char *missing = resolve_libxml_funcs(h);
	if (!missing && !(lx.free_fn = (xmlFreeFunc *)dlsym(h, "xmlFree")))
		missing = "xmlFree";
	return missing;
}

static int load_libxml(char *err, size_t err_len)
{
	return bd_lazy_load_once(&lx.loaded, BD_LIBXML2_PATH, BD_LIBXML2_SONAME,
				 resolve_libxml, err, err_len);
}

static void lx_free(void *p)
{
	(*lx.free_fn)(p);
}

static bool is(const xmlNode *n, const char *name, const char *ns)
{
	if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name))
		return false;
	if (!ns)
		return !n->ns;
	return n->ns && n->ns->href &&
	       strcmp((const char *)n->ns->href, ns) == 0;
}

/* An attribute's value (xmlFree it), or NULL. */
static char *attr(const xmlNode *n, const char *name)
{
	return (char *)lx.xmlGetNoNsProp(n, (const xmlChar *)name);
}

/* ---- editing: balloonctl enable / disable ---- */

static xmlDoc *read_doc(const char *xml, size_t len, char *err, size_t err_len)
{
	if (len > BD_DOMXML_MAX_BYTES) {
		snprintf(err, err_len, "domain XML longer than %d bytes",
			 BD_DOMXML_MAX_BYTES);
		return NULL;
	}
	if (load_libxml(err, err_len))
		return NULL;
	xmlDoc *doc = lx.xmlReadMemory(xml, (int)len, "domain.xml", NULL,
				       XML_PARSE_NONET | XML_PARSE_NOERROR |
					   XML_PARSE_NOWARNING);
	xmlNode *root = doc ? lx.xmlDocGetRootElement(doc) : NULL;
	if (!root || !is(root, "domain", NULL)) {
		snprintf(err, err_len,
			 doc ? "the root element is not <domain>"
			     : "domain XML is not well-formed");
		lx.xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static xmlNode *child(xmlNode *parent, const char *name, const char *ns)
{
	for (xmlNode *n = parent->children; n; n = n->next)
		if (is(n, name, ns))
			return n;
	return NULL;
}

static bool has_element_children(const xmlNode *n)
{
	for (const xmlNode *c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return true;
	return false;
}

static void drop(xmlNode *n)
{
	lx.xmlUnlinkNode(n);
	lx.xmlFreeNode(n);
}

/* Remove every balloond:guest; then a <metadata> left empty. */
static void remove_metadata(xmlNode *root)
{
	for (xmlNode *md = root->children, *next_md; md; md = next_md) {
		next_md = md->next;
		if (!is(md, "metadata", NULL))
			continue;
		for (xmlNode *n = md->children, *next; n; n = next) {
			next = n->next;
			if (is(n, "guest", BD_METADATA_NS))
				drop(n);
		}
		if (!has_element_children(md))
			drop(md);
	}
}

static bool arg_is(const xmlNode *n, const char *value, size_t prefix_len)
{
	if (!is(n, "arg", BD_QEMU_NS))
		return false;
	char *v = attr(n, "value");
	bool yes = v && (prefix_len ? strncmp(v, value, prefix_len) == 0
				    : strcmp(v, value) == 0);
	lx_free(v);
	return yes;
}

/* Remove each "-qmp unix:QMP_DIR/..." pair; then a <qemu:commandline>
 * left empty. */
static void remove_qmp(xmlNode *root, const char *qmp_dir)
{
	char prefix[BD_PATH_MAX + 8];
	snprintf(prefix, sizeof(prefix), "unix:%s/", qmp_dir);
	for (xmlNode *cl = root->children, *next_cl; cl; cl = next_cl) {
		next_cl = cl->next;
		if (!is(cl, "commandline", BD_QEMU_NS))
			continue;
		for (xmlNode *n = cl->children, *next; n; n = next) {
			next = n->next;
			if (!arg_is(n, "-qmp", 0))
				continue;
			/* The value is the next element (whitespace between).
			 */
			xmlNode *v = n->next;
			while (v && v->type != XML_ELEMENT_NODE)
				v = v->next;
			if (v && arg_is(v, prefix, strlen(prefix))) {
				next = v->next;
				drop(n);
				drop(v);
			}
		}
		if (!has_element_children(cl))
			drop(cl);
	}
}

static bool uses_ns(const xmlNode *n, const xmlNs *ns)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (n->ns == ns)
			return true;
		for (const xmlAttr *a = n->properties; a; a = a->next)
			if (a->ns == ns)
				return true;
		if (uses_ns(n->children, ns))
			return true;
	}
	return false;
}

/* Drop the root's declaration of libvirt's qemu namespace once nothing
 * uses it (enable declares it there when the domain had none). */
static void remove_unused_qemu_ns(xmlNode *root)
{
	for (xmlNs **p = &root->nsDef; *p; p = &(*p)->next) {
		xmlNs *ns = *p;
		if (!ns->href || strcmp((const char *)ns->href, BD_QEMU_NS))
			continue;
		if (uses_ns(root, ns))
			return;
		*p = ns->next;
		ns->next = NULL;
		lx.xmlFreeNs(ns);
		return;
	}
}

/* Drop each declaration of a prefix that is no name (xmlns:q:='...'),
 * under n, that nothing uses. libxml2 keeps one, and nothing can use it
 * (an element written <q::arg> reads in no namespace), but expat, which
 * the hook reads with, refuses the whole document: the edited domain
 * must read back there. */
static void remove_unusable_ns(xmlNode *root, xmlNode *n)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		for (xmlNs **p = &n->nsDef; *p;) {
			xmlNs *ns = *p;
			if (!ns->prefix ||
			    lx.xmlValidateNCName(ns->prefix, 0) == 0 ||
			    uses_ns(root, ns)) {
				p = &ns->next;
				continue;
			}
			*p = ns->next;
			ns->next = NULL;
			lx.xmlFreeNs(ns);
		}
		remove_unusable_ns(root, n->children);
	}
}

/* The exact size in the largest unit that holds it: "8GiB", "1536MiB". */
static void size_text(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};
	for (int i = 0; i < 4; i++) {
		uint64_t u = 1ULL << (10 * (4 - i));
		if (v >= u && v % u == 0) {
			snprintf(buf, len, "%llu%s",
				 (unsigned long long)(v / u), units[i]);
			return;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

static void set_size(xmlNode *n, const char *name, uint64_t v)
{
	char buf[32];
	if (!v)
		return;
	size_text(v, buf, sizeof(buf));
	lx.xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)buf);
}

static int add_metadata(xmlNode *root, const struct bd_domxml_opts *o)
{
	xmlNode *md = child(root, "metadata", NULL);
	if (!md && !(md = lx.xmlNewChild(root, NULL,
					 (const xmlChar *)"metadata", NULL)))
		return -ENOMEM;
	xmlNode *g = lx.xmlNewChild(md, NULL, (const xmlChar *)"guest", NULL);
	xmlNs *ns = g ? lx.xmlNewNs(g, (const xmlChar *)BD_METADATA_NS,
				    (const xmlChar *)"balloond")
		      : NULL;
	if (!ns)
		return -ENOMEM;
	lx.xmlSetNs(g, ns);
	if (o->min_bytes || o->max_bytes || o->replica_target_bytes ||
	    o->has_priority) {
		xmlNode *m =
		    lx.xmlNewChild(g, ns, (const xmlChar *)"memory", NULL);
		if (!m)
			return -ENOMEM;
		set_size(m, "min", o->min_bytes);
		set_size(m, "max", o->max_bytes);
		set_size(m, "replica-target", o->replica_target_bytes);
		if (o->has_priority) {
			char buf[16];
			snprintf(buf, sizeof(buf), "%d", o->priority);
			lx.xmlNewProp(m, (const xmlChar *)"priority",
				      (const xmlChar *)buf);
		}
	}
	if (o->cluster[0] || o->member[0]) {
		xmlNode *p =
		    lx.xmlNewChild(g, ns, (const xmlChar *)"patroni", NULL);
		if (!p)
			return -ENOMEM;
		lx.xmlNewProp(p, (const xmlChar *)"cluster",
			      (const xmlChar *)o->cluster);
		lx.xmlNewProp(p, (const xmlChar *)"member",
			      (const xmlChar *)o->member);
	}
	return 0;
}

/* "-qmp unix:QMP_DIR/NAME.sock,server=on,wait=off", first under
 * <qemu:commandline>: the hook takes the first -qmp unix: socket. */
static int add_qmp(xmlNode *root, const char *qmp_dir, char *err,
		   size_t err_len)
{
	xmlChar *name = NULL;
	xmlNode *nn = child(root, "name", NULL);
	if (nn)
		name = lx.xmlNodeGetContent(nn);
	if (!name || !*name || strchr((const char *)name, '/') ||
	    strchr((const char *)name, ',')) {
		snprintf(err, err_len,
			 "the domain's <name> cannot name a "
			 "socket file");
		lx_free(name);
		return -EINVAL;
	}
	char value[BD_PATH_MAX + 64];
	int n = snprintf(value, sizeof(value), "unix:%s/%s.sock", qmp_dir,
			 (const char *)name);
	lx_free(name);
	if (n < 0 || (size_t)n - 5 >= BD_PATH_MAX) {
		snprintf(err, err_len,
			 "the QMP socket path %s is longer than %d bytes",
			 value + 5, BD_PATH_MAX - 1);
		return -EINVAL;
	}
	snprintf(value + n, sizeof(value) - (size_t)n, ",server=on,wait=off");

	/* The domain's own prefix for libvirt's qemu namespace, unless it is
	 * no name: libxml2 keeps a declaration such as xmlns:q:='...', but
	 * an element written as <q::arg> reads back in no namespace. */
	xmlNs *ns =
	    lx.xmlSearchNsByHref(root->doc, root, (const xmlChar *)BD_QEMU_NS);
	if (ns && ns->prefix && lx.xmlValidateNCName(ns->prefix, 0) != 0)
		ns = NULL;
	if (!ns)
		ns = lx.xmlNewNs(root, (const xmlChar *)BD_QEMU_NS,
				 (const xmlChar *)"qemu");
	if (!ns) /* the prefix "qemu" is taken by another namespace */
		ns = lx.xmlNewNs(root, (const xmlChar *)BD_QEMU_NS,
				 (const xmlChar *)"balloond-qemu");
	if (!ns)
		return -ENOMEM;
	xmlNode *cl = child(root, "commandline", BD_QEMU_NS);
	if (!cl && !(cl = lx.xmlNewChild(root, ns,
					 (const xmlChar *)"commandline", NULL)))
		return -ENOMEM;
	xmlNode *a = lx.xmlNewNode(ns, (const xmlChar *)"arg");
	xmlNode *b = lx.xmlNewNode(ns, (const xmlChar *)"arg");
	if (!a || !b) {
		lx.xmlFreeNode(a);
		lx.xmlFreeNode(b);
		return -ENOMEM;
	}
	lx.xmlNewProp(a, (const xmlChar *)"value", (const xmlChar *)"-qmp");
	lx.xmlNewProp(b, (const xmlChar *)"value", (const xmlChar *)value);
	if (cl->children) {
		lx.xmlAddPrevSibling(cl->children, a);
	} else {
		lx.xmlAddChild(cl, a);
	}
	lx.xmlAddNextSibling(a, b);
	return 0;
}

static int dump(xmlDoc *doc, char **out, char *err, size_t err_len)
{
	xmlChar *text = NULL;
	int len = 0;
	lx.xmlDocDumpMemory(doc, &text, &len);
	if (!text || len <= 0 || !(*out = malloc((size_t)len + 1))) {
		lx_free(text);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	memcpy(*out, text, (size_t)len);
	(*out)[len] = '\0';
	lx_free(text);
	return 0;
}

/* The edited domain must read back as wanted: balloond's reader is the
 * judge of memory, memballoon and bounds. */
static int judge(const char *xml, bool want_managed, char *err, size_t err_len)
{
	struct bd_domxml d;
	int rc = bd_domxml_parse(xml, strlen(xml), &d, err, err_len);
	if (rc)
		return rc;
	if (!d.memory_bytes) {
		snprintf(err, err_len, "the domain has no <memory>");
		return -EINVAL;
	}
	if (!d.has_balloon) {
		snprintf(err, err_len,
			 "the domain has no virtio memballoon (<memballoon "
			 "model='virtio'/> under <devices>): balloond cannot "
			 "move its memory");
		return -EINVAL;
	}
	/* Enable also promises the socket: the hook must find it. */
	if (d.managed != want_managed || (want_managed && !d.has_qmp)) {
		snprintf(err, err_len, "internal error: the edit did not take");
		return -EINVAL;
	}
	return 0;
}

int bd_domxml_enable(const char *xml, size_t len,
		     const struct bd_domxml_opts *opts, const char *qmp_dir,
		     char **out, char *err, size_t err_len)
{
	*out = NULL;
	xmlDoc *doc = read_doc(xml, len, err, err_len);
	if (!doc)
		return -EINVAL;
	xmlNode *root = lx.xmlDocGetRootElement(doc);
	remove_unusable_ns(root, root);
	remove_metadata(root);
	remove_qmp(root, qmp_dir);
	int rc = add_metadata(root, opts);
	if (rc == -ENOMEM)
		snprintf(err, err_len, "out of memory");
	if (!rc)
		rc = add_qmp(root, qmp_dir, err, err_len);
	if (!rc)
		rc = dump(doc, out, err, err_len);
	lx.xmlFreeDoc(doc);
	if (!rc && (rc = judge(*out, true, err, err_len))) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

int bd_domxml_disable(const char *xml, size_t len, const char *qmp_dir,
		      char **out, char *err, size_t err_len)
{
	*out = NULL;
	xmlDoc *doc = read_doc(xml, len, err, err_len);
	if (!doc)
		return -EINVAL;
	xmlNode *root = lx.xmlDocGetRootElement(doc);
	remove_unusable_ns(root, root);
	remove_metadata(root);
	remove_qmp(root, qmp_dir);
	remove_unused_qemu_ns(root);
	int rc = dump(doc, out, err, err_len);
	lx.xmlFreeDoc(doc);
	if (!rc && (rc = judge(*out, false, err, err_len))) {
		free(*out);
		*out = NULL;
	}
	return rc;
}
