/* domxml_read.c: reading balloond's part of a libvirt domain's XML
 * (expat): what the qemu hook needs, and what balloonctl's edits are
 * judged by. Editing is hooks/domxml.c's (libxml2). */
#include "config.h"
#include "domxml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <expat.h>

#include "proto/lazylib.h"
#include "proto/units.h"

/* The hook reads a domain's XML with expat, loaded when a domain's XML is
 * first read: libxml2 brings ICU and libstdc++ (3,300 symbolic
 * relocations), and loading it was most of what the hook cost on the
 * events it acts on; expat is one small library with no dependencies
 * beyond libc. Loaded lazily still, so that the events the hook ignores,
 * which are most of them, map nothing more. */
#define EXPAT_FUNCS(X)                                                         \
	X(XML_ErrorString)                                                     \
	X(XML_GetCurrentLineNumber)                                            \
	X(XML_GetErrorCode)                                                    \
	X(XML_Parse)                                                           \
	X(XML_ParserCreateNS)                                                  \
	X(XML_ParserFree)                                                      \
	X(XML_SetCharacterDataHandler)                                         \
	X(XML_SetElementHandler)                                               \
	X(XML_SetExternalEntityRefHandler)                                     \
	X(XML_SetParamEntityParsing)                                           \
	X(XML_SetUserData)

static struct {
	BD_LAZY_PTRS(EXPAT_FUNCS)
	bool loaded;
} ex;
BD_LAZY_RESOLVER(resolve_expat, ex, EXPAT_FUNCS)

static int load_expat(char *err, size_t err_len)
{
	return bd_lazy_load_once(&ex.loaded, BD_LIBEXPAT_PATH,
				 BD_LIBEXPAT_SONAME, resolve_expat, err,
				 err_len);
}

/* expat names an element or attribute in a namespace "URI<SEP>LOCAL", and
 * one in none "LOCAL". SEP is a character no namespace name can hold:
 * XML 1.0 allows no U+0001 in a document, not even as a reference. */
#define NS_SEP	       '\x01'
#define BD_NS(local)   BD_METADATA_NS "\x01" local
#define QEMU_NS(local) BD_QEMU_NS "\x01" local

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

bool bd_domxml_maybe_managed(const char *xml, size_t len)
{
	/* libvirt hands a hook the domain as it formats it: UTF-8, no XML
	 * declaration, <domain> first. Such a document declares balloond's
	 * namespace as those very bytes, since a namespace name is an
	 * attribute's value and only a reference (&...;) could spell it
	 * otherwise. Anything else may hide it: a reference, a NUL byte (a
	 * UTF-16 or UTF-32 document), or anything before <domain> (an XML
	 * declaration naming another encoding, a byte order mark, a DOCTYPE
	 * declaring entities). Those are parsed. */
	static const char root[] = "<domain";
	size_t i = 0;
	while (i < len && (xml[i] == ' ' || xml[i] == '\t' || xml[i] == '\n' ||
			   xml[i] == '\r'))
		i++;
	if (len - i < sizeof(root) - 1 ||
	    memcmp(xml + i, root, sizeof(root) - 1) != 0 ||
	    memchr(xml, '&', len) || memchr(xml, '\0', len))
		return true;
	return memmem(xml, len, BD_METADATA_NS, strlen(BD_METADATA_NS)) != NULL;
}

/* The element at depth 2 (a child of <domain>) being read. */
enum top {
	TOP_OTHER,
	TOP_NAME,
	TOP_MEMORY,
	TOP_METADATA,
	TOP_COMMANDLINE,
	TOP_DEVICES,
};

/* What is read of <name> or <memory>: all the text inside, as libxml2's
 * xmlNodeGetContent gave it (CDATA, references and the text of child
 * elements included), <memory>'s without leading whitespace. A valid value
 * is far shorter than the buffer (only a number padded with hundreds of
 * zeros is not); text_len counts what did not fit too. */
#define TEXT_MAX 256

struct reader {
	struct bd_domxml *d;
	char *err;
	size_t err_len;
	/* The first error in what was read. A document that is not
	 * well-formed is reported as such instead, whatever came first. */
	int rc;
	unsigned depth; /* of the element open: <domain> is 1 */
	enum top top;
	bool in_guest;	  /* inside a balloond:guest under <metadata> */
	bool next_is_qmp; /* the last qemu:arg's value was "-qmp" */
	char text[TEXT_MAX];
	size_t text_len;
	/* <memory>'s unit attribute ("" when none); unit_long when it did
	 * not fit, which no unit does. */
	char unit[16];
	bool unit_long;
};

/* An attribute in no namespace, from expat's NULL-terminated name/value
 * list, or NULL. */
static const char *attr(const char **atts, const char *name)
{
	for (; atts[0]; atts += 2)
		if (strcmp(atts[0], name) == 0)
			return atts[1];
	return NULL;
}

static void fail(struct reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct reader *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, r->err_len, fmt, ap);
	va_end(ap);
	r->rc = -EINVAL;
}

static void size_attr(struct reader *r, const char **atts, const char *name,
		      uint64_t *out)
{
	const char *v = attr(atts, name);
	if (!r->rc && v && bd_parse_size(v, out))
		fail(r,
		     "balloond:memory %s=\"%.40s\" is not a size (e.g. 2GiB, "
		     "512M)",
		     name, v);
}

static void copy_attr(struct reader *r, const char **atts, const char *elem,
		      const char *name, char *dst, size_t size)
{
	const char *v = attr(atts, name);
	if (r->rc || !v)
		return;
	if (!*v || strlen(v) >= size)
		fail(r, "balloond:%s %s=\"%.40s\" must be 1 to %zu characters",
		     elem, name, v, size - 1);
	else
		memcpy(dst, v, strlen(v) + 1);
}

/* A child of balloond:guest. */
static void read_metadata(struct reader *r, const char *name, const char **atts)
{
	struct bd_guest_spec *s = &r->d->spec;
	if (strcmp(name, BD_NS("memory")) == 0) {
		size_attr(r, atts, "min", &s->min_bytes);
		size_attr(r, atts, "max", &s->max_bytes);
		size_attr(r, atts, "replica-target", &s->replica_target_bytes);
		const char *p = attr(atts, "priority");
		char *end = NULL;
		if (r->rc || !p)
			return;
		long v = strtol(p, &end, 10);
		if (!*p || *end || v < -1000 || v > 1000)
			fail(r,
			     "balloond:memory priority=\"%.20s\" is not a "
			     "whole number in [-1000, 1000]",
			     p);
		else
			s->priority = (int)v;
	} else if (strcmp(name, BD_NS("patroni")) == 0) {
		copy_attr(r, atts, "patroni", "cluster", s->cluster,
			  sizeof(s->cluster));
		copy_attr(r, atts, "patroni", "member", s->member,
			  sizeof(s->member));
		if (!r->rc && !s->cluster[0] != !s->member[0])
			fail(r, "balloond:patroni needs both cluster and "
				"member");
	}
}

/* A <qemu:arg> under <qemu:commandline>: the first "-qmp unix:PATH[,...]"
 * pair names the extra QMP socket. */
static void read_arg(struct reader *r, const char **atts)
{
	struct bd_domxml *d = r->d;
	const char *v = attr(atts, "value");
	if (!v)
		return;
	if (r->next_is_qmp && strncmp(v, "unix:", 5) == 0 && !d->has_qmp) {
		const char *path = v + 5;
		size_t len = strcspn(path, ",");
		if (len == 0 || len >= sizeof(d->spec.qmp_path)) {
			fail(r,
			     "the extra -qmp socket path must be 1 to %zu "
			     "characters",
			     sizeof(d->spec.qmp_path) - 1);
			return;
		}
		memcpy(d->spec.qmp_path, path, len);
		d->spec.qmp_path[len] = '\0';
		d->has_qmp = true;
	}
	r->next_is_qmp = strcmp(v, "-qmp") == 0;
}

static void start_top(struct reader *r, const char *name, const char **atts)
{
	r->top = TOP_OTHER;
	if (strcmp(name, "name") == 0) {
		r->top = TOP_NAME;
	} else if (strcmp(name, "memory") == 0) {
		r->top = TOP_MEMORY;
		const char *unit = attr(atts, "unit");
		r->unit_long = unit && strlen(unit) >= sizeof(r->unit);
		snprintf(r->unit, sizeof(r->unit), "%s", unit ? unit : "");
	} else if (strcmp(name, "metadata") == 0) {
		r->top = TOP_METADATA;
	} else if (strcmp(name, QEMU_NS("commandline")) == 0) {
		r->top = TOP_COMMANDLINE;
		r->next_is_qmp = false;
	} else if (strcmp(name, "devices") == 0) {
		r->top = TOP_DEVICES;
	}
	r->text_len = 0;
}

static void XMLCALL start_cb(void *data, const char *name, const char **atts)
{
	struct reader *r = data;
	unsigned depth = ++r->depth;
	/* After an error only well-formedness is still checked. */
	if (r->rc)
		return;
	if (depth == 1) {
		if (strcmp(name, "domain") != 0)
			fail(r, "the root element is not <domain>");
	} else if (depth == 2) {
		start_top(r, name, atts);
	} else if (depth == 3 && r->top == TOP_METADATA) {
		r->in_guest = strcmp(name, BD_NS("guest")) == 0;
		r->d->managed |= r->in_guest;
	} else if (depth == 3 && r->top == TOP_COMMANDLINE) {
		if (strcmp(name, QEMU_NS("arg")) == 0)
			read_arg(r, atts);
	} else if (depth == 3 && r->top == TOP_DEVICES) {
		const char *model = attr(atts, "model");
		if (strcmp(name, "memballoon") == 0 && model &&
		    strncmp(model, "virtio", 6) == 0)
			r->d->has_balloon = true;
	} else if (depth == 4 && r->top == TOP_METADATA && r->in_guest) {
		read_metadata(r, name, atts);
	}
}

static void XMLCALL text_cb(void *data, const char *s, int len)
{
	struct reader *r = data;
	if (r->depth < 2 || (r->top != TOP_NAME && r->top != TOP_MEMORY))
		return;
	/* libxml2's reader skipped <memory>'s leading whitespace: so
	 * does this, before it could fill the buffer. */
	if (r->top == TOP_MEMORY && r->text_len == 0)
		while (len > 0 && (*s == ' ' || *s == '\n' || *s == '\t'))
			s++, len--;
	size_t n = (size_t)len;
	if (r->text_len < sizeof(r->text))
		memcpy(r->text + r->text_len, s,
		       n < sizeof(r->text) - r->text_len
			   ? n
			   : sizeof(r->text) - r->text_len);
	r->text_len += n;
}

/* The text read, NUL-terminated; NULL when it did not fit. */
static const char *text(struct reader *r)
{
	if (r->text_len >= sizeof(r->text))
		return NULL;
	r->text[r->text_len] = '\0';
	return r->text;
}

static void end_name(struct reader *r)
{
	struct bd_domxml *d = r->d;
	const char *s = text(r);
	if (!s || !*s || strlen(s) >= sizeof(d->spec.name))
		fail(r, "<name> must be 1 to %zu characters",
		     sizeof(d->spec.name) - 1);
	else
		memcpy(d->spec.name, s, strlen(s) + 1);
}

static void end_memory(struct reader *r)
{
	uint64_t mult = r->unit_long ? 0 : bd_domxml_unit(r->unit), v = 0;
	const char *t = text(r);
	if (!mult || !t || bd_parse_uint(t, 1, UINT64_MAX / mult, &v))
		fail(r, "<memory unit=\"%.10s\">%.30s</memory> is not a size",
		     r->unit, t ? t : r->text);
	else
		r->d->memory_bytes = v * mult;
}

static void XMLCALL end_cb(void *data, const char *name)
{
	struct reader *r = data;
	unsigned depth = r->depth--;
	if (r->rc || depth != 2)
		return;
	if (r->top == TOP_NAME)
		end_name(r);
	else if (r->top == TOP_MEMORY)
		end_memory(r);
	r->top = TOP_OTHER;
}

/* No external entity is ever read: refusing the reference makes the
 * document an error rather than one with a silent hole. */
static int XMLCALL external_entity_cb(XML_Parser p, const char *context,
				      const char *base, const char *system_id,
				      const char *public_id)
{
	return XML_STATUS_ERROR;
}

/* A managed domain's bounds against each other and its RAM: max never
 * above <memory>, min and the replica target never above max (which
 * defaults to <memory>). The daemon checks again; this names the XML. */
static int check_bounds(const struct bd_domxml *d, char *err, size_t err_len)
{
	const struct bd_guest_spec *s = &d->spec;
	char a[32], b[32];
	if (!d->memory_bytes) {
		snprintf(err, err_len, "the domain has no <memory>");
		return -EINVAL;
	}
	if (s->max_bytes > d->memory_bytes) {
		snprintf(
		    err, err_len,
		    "balloond:memory max %s is above the domain's <memory> "
		    "%s",
		    bd_format_size(s->max_bytes, a, sizeof(a)),
		    bd_format_size(d->memory_bytes, b, sizeof(b)));
		return -EINVAL;
	}
	uint64_t max = s->max_bytes ? s->max_bytes : d->memory_bytes;
	const char *what = s->min_bytes > max		   ? "min"
			   : s->replica_target_bytes > max ? "replica-target"
							   : NULL;
	if (what) {
		snprintf(err, err_len,
			 "balloond:memory %s %s is above max %s%s", what,
			 bd_format_size(s->min_bytes > max
					    ? s->min_bytes
					    : s->replica_target_bytes,
					a, sizeof(a)),
			 bd_format_size(max, b, sizeof(b)),
			 s->max_bytes ? "" : " (the domain's <memory>)");
		return -EINVAL;
	}
	return 0;
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
	int rc = load_expat(err, err_len);
	if (rc)
		return rc;
	XML_Parser p = ex.XML_ParserCreateNS(NULL, NS_SEP);
	if (!p) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	struct reader r = {.d = d, .err = err, .err_len = err_len};
	ex.XML_SetUserData(p, &r);
	ex.XML_SetElementHandler(p, start_cb, end_cb);
	ex.XML_SetCharacterDataHandler(p, text_cb);
	/* No external DTD subset or parameter entity is read (expat's
	 * default, said here), nor any external entity. Internal entities
	 * are expanded, within expat's limit on amplification (billion
	 * laughs). */
	ex.XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
	ex.XML_SetExternalEntityRefHandler(p, external_entity_cb);
	if (ex.XML_Parse(p, xml, (int)len, 1) != XML_STATUS_OK) {
		enum XML_Error e = ex.XML_GetErrorCode(p);
		const XML_LChar *what = ex.XML_ErrorString(e);
		snprintf(err, err_len,
			 "domain XML is not well-formed: line %lu: %s",
			 (unsigned long)ex.XML_GetCurrentLineNumber(p),
			 what ? what : "unknown error");
		ex.XML_ParserFree(p);
		memset(d, 0, sizeof(*d));
		return -EINVAL;
	}
	ex.XML_ParserFree(p);
	rc = r.rc;
	if (!rc && !d->spec.name[0]) {
		snprintf(err, err_len, "the domain has no <name>");
		rc = -EINVAL;
	}
	if (!rc && d->managed)
		rc = check_bounds(d, err, err_len);
	return rc;
}
