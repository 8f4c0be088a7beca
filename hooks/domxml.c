/* domxml.c: reading balloond's part of a libvirt domain's XML (libxml2). */
#include "domxml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "proto/units.h"

uint64_t bd_domxml_unit(const char *unit)
{
	static const struct {
		const char *name;
		uint64_t mult;
	} units[] = {
	    {"", 1024}, /* libvirt's default for <memory> is KiB */
	    {"b", 1},	       {"bytes", 1},	    {"KB", 1000ULL},
	    {"k", 1ULL << 10}, {"KiB", 1ULL << 10}, {"MB", 1000000ULL},
	    {"M", 1ULL << 20}, {"MiB", 1ULL << 20}, {"GB", 1000000000ULL},
	    {"G", 1ULL << 30}, {"GiB", 1ULL << 30}, {"TB", 1000000000000ULL},
	    {"T", 1ULL << 40}, {"TiB", 1ULL << 40},
	};
	/* libvirt takes the units without regard to case, except that the
	 * "iB"/"B" forms differ in base: compare exactly first. */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(unit, units[i].name) == 0)
			return units[i].mult;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(unit, units[i].name) == 0)
			return units[i].mult;
	return 0;
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
	return (char *)xmlGetNoNsProp(n, (const xmlChar *)name);
}

static int size_attr(const xmlNode *n, const char *name, uint64_t *out,
		     char *err, size_t err_len)
{
	char *v = attr(n, name);
	if (!v)
		return 0;
	int rc = bd_parse_size(v, out);
	if (rc)
		snprintf(err, err_len,
			 "balloond:memory %s=\"%.40s\" is not a size (e.g. "
			 "2GiB, 512M)",
			 name, v);
	xmlFree(v);
	return rc ? -EINVAL : 0;
}

static int copy_attr(const xmlNode *n, const char *name, char *dst, size_t size,
		     char *err, size_t err_len)
{
	char *v = attr(n, name);
	if (!v)
		return 0;
	int rc = 0;
	if (!*v || strlen(v) >= size) {
		snprintf(err, err_len,
			 "balloond:%s %s=\"%.40s\" must be 1 to "
			 "%zu characters",
			 (const char *)n->name, name, v, size - 1);
		rc = -EINVAL;
	} else {
		memcpy(dst, v, strlen(v) + 1);
	}
	xmlFree(v);
	return rc;
}

static int read_metadata(const xmlNode *guest, struct bd_domxml *d, char *err,
			 size_t err_len)
{
	for (const xmlNode *n = guest->children; n; n = n->next) {
		if (is(n, "memory", BD_METADATA_NS)) {
			if (size_attr(n, "min", &d->spec.min_bytes, err,
				      err_len) ||
			    size_attr(n, "max", &d->spec.max_bytes, err,
				      err_len) ||
			    size_attr(n, "replica-target",
				      &d->spec.replica_target_bytes, err,
				      err_len))
				return -EINVAL;
			char *p = attr(n, "priority"), *end = NULL;
			if (p) {
				long v = strtol(p, &end, 10);
				bool bad = !*p || *end || v < -1000 || v > 1000;
				if (bad)
					snprintf(
					    err, err_len,
					    "balloond:memory priority=\"%.20s"
					    "\" is not a whole number in "
					    "[-1000, 1000]",
					    p);
				else
					d->spec.priority = (int)v;
				xmlFree(p);
				if (bad)
					return -EINVAL;
			}
		} else if (is(n, "patroni", BD_METADATA_NS)) {
			if (copy_attr(n, "cluster", d->spec.cluster,
				      sizeof(d->spec.cluster), err, err_len) ||
			    copy_attr(n, "member", d->spec.member,
				      sizeof(d->spec.member), err, err_len))
				return -EINVAL;
			if (!d->spec.cluster[0] != !d->spec.member[0]) {
				snprintf(err, err_len,
					 "balloond:patroni needs both cluster "
					 "and member");
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* -qmp unix:PATH[,options] among the <qemu:arg> values. */
static int read_commandline(const xmlNode *cl, struct bd_domxml *d, char *err,
			    size_t err_len)
{
	bool next_is_qmp = false;
	for (const xmlNode *n = cl->children; n; n = n->next) {
		if (!is(n, "arg", BD_QEMU_NS))
			continue;
		char *v = attr(n, "value");
		if (!v)
			continue;
		if (next_is_qmp && strncmp(v, "unix:", 5) == 0 && !d->has_qmp) {
			const char *path = v + 5;
			size_t len = strcspn(path, ",");
			if (len == 0 || len >= sizeof(d->spec.qmp_path)) {
				snprintf(err, err_len,
					 "the extra -qmp socket path must be 1 "
					 "to %zu characters",
					 sizeof(d->spec.qmp_path) - 1);
				xmlFree(v);
				return -EINVAL;
			}
			memcpy(d->spec.qmp_path, path, len);
			d->spec.qmp_path[len] = '\0';
			d->has_qmp = true;
		}
		next_is_qmp = strcmp(v, "-qmp") == 0;
		xmlFree(v);
	}
	return 0;
}

static int read_memory(const xmlNode *n, struct bd_domxml *d, char *err,
		       size_t err_len)
{
	char *unit = attr(n, "unit");
	xmlChar *text = xmlNodeGetContent(n);
	uint64_t mult = bd_domxml_unit(unit ? unit : ""), v = 0;
	int rc = 0;
	const char *t = (const char *)text;
	while (t && (*t == ' ' || *t == '\n' || *t == '\t'))
		t++;
	if (!mult || !t || bd_parse_uint(t, 1, UINT64_MAX / mult, &v)) {
		snprintf(err, err_len,
			 "<memory unit=\"%.10s\">%.30s</memory> is not a size",
			 unit ? unit : "", t ? t : "");
		rc = -EINVAL;
	} else {
		d->memory_bytes = v * mult;
	}
	xmlFree(unit);
	xmlFree(text);
	return rc;
}

int bd_domxml_parse(const char *xml, size_t len, struct bd_domxml *d, char *err,
		    size_t err_len)
{
	memset(d, 0, sizeof(*d));
	if (len > BD_DOMXML_MAX_BYTES) {
		snprintf(err, err_len, "domain XML longer than %d bytes",
			 BD_DOMXML_MAX_BYTES);
		return -EMSGSIZE;
	}
	/* No network, no entity expansion, no DTD loading: the XML comes
	 * from libvirt, but a parser must not trust its input. */
	xmlDoc *doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR |
					XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlGetLastError();
		snprintf(err, err_len, "domain XML is not well-formed%s%.100s",
			 e && e->message ? ": " : "",
			 e && e->message ? e->message : "");
		/* libxml2's messages end with a newline. */
		size_t n = strlen(err);
		if (n && err[n - 1] == '\n')
			err[n - 1] = '\0';
		return -EINVAL;
	}
	int rc = 0;
	xmlNode *root = xmlDocGetRootElement(doc);
	if (!root || !is(root, "domain", NULL)) {
		snprintf(err, err_len, "the root element is not <domain>");
		rc = -EINVAL;
		goto out;
	}
	for (xmlNode *n = root->children; n && !rc; n = n->next) {
		if (is(n, "name", NULL)) {
			xmlChar *name = xmlNodeGetContent(n);
			const char *s = (const char *)name;
			if (!s || !*s || strlen(s) >= sizeof(d->spec.name)) {
				snprintf(err, err_len,
					 "<name> must be 1 to %zu characters",
					 sizeof(d->spec.name) - 1);
				rc = -EINVAL;
			} else {
				memcpy(d->spec.name, s, strlen(s) + 1);
			}
			xmlFree(name);
		} else if (is(n, "memory", NULL)) {
			rc = read_memory(n, d, err, err_len);
		} else if (is(n, "metadata", NULL)) {
			for (xmlNode *m = n->children; m && !rc; m = m->next)
				if (is(m, "guest", BD_METADATA_NS)) {
					d->managed = true;
					rc = read_metadata(m, d, err, err_len);
				}
		} else if (is(n, "commandline", BD_QEMU_NS)) {
			rc = read_commandline(n, d, err, err_len);
		} else if (is(n, "devices", NULL)) {
			for (xmlNode *m = n->children; m; m = m->next) {
				if (!is(m, "memballoon", NULL))
					continue;
				char *model = attr(m, "model");
				d->has_balloon |=
				    model && strncmp(model, "virtio", 6) == 0;
				xmlFree(model);
			}
		}
	}
	if (!rc && !d->spec.name[0]) {
		snprintf(err, err_len, "the domain has no <name>");
		rc = -EINVAL;
	}
	if (!rc && d->managed && d->spec.max_bytes && d->memory_bytes &&
	    d->spec.max_bytes > d->memory_bytes) {
		char a[32], b[32];
		snprintf(
		    err, err_len,
		    "balloond:memory max %s is above the domain's <memory> "
		    "%s",
		    bd_format_size(d->spec.max_bytes, a, sizeof(a)),
		    bd_format_size(d->memory_bytes, b, sizeof(b)));
		rc = -EINVAL;
	}
out:
	xmlFreeDoc(doc);
	return rc;
}
