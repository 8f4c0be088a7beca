/*
 * libvirt_cmds.c: `balloonctl enable` and `disable`, which edit a libvirt
 * domain's persistent definition through libvirt's API: balloond's
 * metadata and the extra QMP socket (hooks/domxml.c does the editing).
 * Built only with --with-libvirt; the change takes effect at the domain's
 * next start, when the qemu hook registers it.
 */
#include "ctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "hooks/domxml.h"
#include "proto/lazylib.h"
#include "proto/units.h"

/* libvirt is loaded only when enable or disable runs: linked in, it costs
 * every balloonctl process (a `set` from a script, the Patroni callback's
 * fallback) about ten times the CPU of starting up without it (measured:
 * 60 ms against 7 ms of CPU per `balloonctl --version` on a loaded test
 * machine). The headers still type every call. */
#define VIR_FUNCS(X)                                                           \
	X(virSetErrorFunc)                                                     \
	X(virGetLastErrorMessage)                                              \
	X(virConnectOpen)                                                      \
	X(virConnectClose)                                                     \
	X(virDomainLookupByName)                                               \
	X(virDomainGetXMLDesc)                                                 \
	X(virDomainDefineXML)                                                  \
	X(virDomainIsActive)                                                   \
	X(virDomainFree)

static struct {
	BD_LAZY_PTRS(VIR_FUNCS)
} vir;
BD_LAZY_RESOLVER(resolve_libvirt, vir, VIR_FUNCS)

/* The soname of Debian's libvirt0 (and every distribution's). */
#define LIBVIRT_SONAME "libvirt.so.0"

static int load_libvirt(void)
{
	char err[512];
	void *h =
	    bd_lazy_open(LIBVIRT_SONAME, LIBVIRT_SONAME, err, sizeof(err));
	if (!h) {
		ctl_error("%s", err);
		return -1;
	}
	const char *missing = resolve_libvirt(h);
	if (missing) {
		ctl_error("%s lacks %s", LIBVIRT_SONAME, missing);
		return -1;
	}
	return 0;
}

/* libvirt prints every error on stderr by default: we print our own. */
static void quiet_cb(void *data, virErrorPtr e) {}

static const char *vir_error(void)
{
	const char *m = vir.virGetLastErrorMessage();
	return m ? m : "unknown libvirt error";
}

/* --connect, else LIBVIRT_DEFAULT_URI (libvirt reads it when given NULL),
 * else the system instance, where the hook runs. */
static virConnectPtr connect_libvirt(const char *uri)
{
	if (!uri && !getenv("LIBVIRT_DEFAULT_URI"))
		uri = "qemu:///system";
	vir.virSetErrorFunc(NULL, quiet_cb);
	virConnectPtr c = vir.virConnectOpen(uri);
	if (!c)
		ctl_error("cannot connect to libvirt%s%s: %s",
			  uri ? " at " : "", uri ? uri : "", vir_error());
	return c;
}

enum edit { EDIT_ENABLE, EDIT_DISABLE };

/* Read the domain's persistent XML, edit it, define it again. */
static int edit_domain(const char *cmd, const char *uri, const char *name,
		       enum edit what, const struct bd_domxml_opts *opts)
{
	int code = CTL_EXIT_REFUSED;
	char *xml = NULL, *out = NULL, err[512];
	if (load_libvirt())
		return CTL_EXIT_REFUSED;
	virConnectPtr c = connect_libvirt(uri);
	if (!c)
		return CTL_EXIT_UNREACHABLE;
	virDomainPtr d = vir.virDomainLookupByName(c, name);
	if (!d) {
		ctl_error("%s: %s: %s", cmd, name, vir_error());
		goto out;
	}
	/* The inactive (persistent) definition, secrets included: it is
	 * defined again as a whole, and must lose nothing. */
	xml = vir.virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE |
					     VIR_DOMAIN_XML_SECURE);
	if (!xml) {
		ctl_error("%s: %s: %s", cmd, name, vir_error());
		goto out;
	}
	int rc =
	    what == EDIT_ENABLE
		? bd_domxml_enable(xml, strlen(xml), opts, BD_LIBVIRT_QMP_DIR,
				   &out, err, sizeof(err))
		: bd_domxml_disable(xml, strlen(xml), BD_LIBVIRT_QMP_DIR, &out,
				    err, sizeof(err));
	if (rc) {
		ctl_error("%s: %s: %s", cmd, name, err);
		goto out;
	}
	/* Defined even when nothing changed: libvirt takes the same
	 * definition again, and the command stays one simple path. */
	virDomainPtr nd = vir.virDomainDefineXML(c, out);
	if (!nd) {
		ctl_error("%s: %s: libvirt refused the new definition: %s", cmd,
			  name, vir_error());
		goto out;
	}
	vir.virDomainFree(nd);
	int active = vir.virDomainIsActive(d);
	printf("%s: balloond %s%s\n", name,
	       what == EDIT_ENABLE ? "enabled" : "disabled",
	       active == 1 ? " (takes effect at the domain's next start)" : "");
	code = CTL_EXIT_OK;
out:
	free(out);
	free(xml);
	if (d)
		vir.virDomainFree(d);
	vir.virConnectClose(c);
	return code;
}

static int size_opt(const char *what, const char *s, uint64_t *out)
{
	if (bd_parse_size(s, out) == 0 && *out)
		return 0;
	return ctl_usage_error(
	    "enable", "%s: '%s' is not a size (e.g. 512M, 8G, 8GiB)", what, s);
}

int ctl_enable(const struct ctl_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"min", required_argument, NULL, 'm'},
	    {"max", required_argument, NULL, 'M'},
	    {"replica-target", required_argument, NULL, 'r'},
	    {"priority", required_argument, NULL, 'P'},
	    {"patroni", required_argument, NULL, 'p'},
	    {"connect", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct bd_domxml_opts o = {0};
	const char *uri = NULL, *slash;
	char *end;
	long v;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:M:r:P:p:c:h", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'm':
			if ((rc = size_opt("--min", optarg, &o.min_bytes)))
				return rc;
			break;
		case 'M':
			if ((rc = size_opt("--max", optarg, &o.max_bytes)))
				return rc;
			break;
		case 'r':
			if ((rc = size_opt("--replica-target", optarg,
					   &o.replica_target_bytes)))
				return rc;
			break;
		case 'P':
			v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < -1000 || v > 1000)
				return ctl_usage_error(
				    "enable",
				    "--priority takes a whole number in "
				    "[-1000, 1000], not '%s'",
				    optarg);
			o.has_priority = true;
			o.priority = (int)v;
			break;
		case 'p':
			slash = strchr(optarg, '/');
			if (!slash || slash == optarg || !slash[1] ||
			    (size_t)(slash - optarg) >= sizeof(o.cluster) ||
			    strlen(slash + 1) >= sizeof(o.member))
				return ctl_usage_error(
				    "enable",
				    "--patroni takes CLUSTER/MEMBER (each 1 to "
				    "%zu characters), not '%s'",
				    sizeof(o.cluster) - 1, optarg);
			memcpy(o.cluster, optarg, (size_t)(slash - optarg));
			snprintf(o.member, sizeof(o.member), "%s", slash + 1);
			break;
		case 'c':
			uri = optarg;
			break;
		case 'h':
			printf("usage: balloonctl enable DOMAIN [--min SIZE] "
			       "[--max SIZE] [--replica-target SIZE]\n"
			       "       [--priority N] [--patroni "
			       "CLUSTER/MEMBER] [--connect URI]\n");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("enable", "unknown option");
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error("enable", "expects one DOMAIN");
	return edit_domain("enable", uri, argv[optind], EDIT_ENABLE, &o);
}

int ctl_disable(const struct ctl_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"connect", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *uri = NULL;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			uri = optarg;
			break;
		case 'h':
			printf("usage: balloonctl disable DOMAIN [--connect "
			       "URI]\n");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("disable", "unknown option");
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error("disable", "expects one DOMAIN");
	return edit_domain("disable", uri, argv[optind], EDIT_DISABLE, NULL);
}
