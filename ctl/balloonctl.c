/*
 * balloonctl.c: the command-line client. Global options, then one
 * subcommand from a single declarative table.
 */
#include "ctl.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

void ctl_error(const char *fmt, ...)
{
	va_list ap;
	fputs("balloonctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "balloonctl %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'balloonctl --help'.\n");
	return CTL_EXIT_USAGE;
}

#ifndef HAVE_LIBVIRT
static int without_libvirt(const char *cmd)
{
	ctl_error("%s: this balloonctl was built without libvirt (configure "
		  "--with-libvirt)",
		  cmd);
	return CTL_EXIT_REFUSED;
}

int ctl_enable(const struct ctl_globals *g, int argc, char **argv)
{
	return without_libvirt("enable");
}

int ctl_disable(const struct ctl_globals *g, int argc, char **argv)
{
	return without_libvirt("disable");
}
#endif

static const struct ctl_command commands[] = {
    {"status", "[--json]",
     "show every guest: role, max, min, target, actual, QMP link, last action",
     ctl_status},
    {"register",
     "NAME --qmp PATH [--max SIZE] [--min SIZE] [--replica-target SIZE]\n"
     "           [--patroni CLUSTER/MEMBER] [--priority N] [--no-wait]",
     "manage a guest (max defaults to its RAM; min to the replica target, else "
     "max)",
     ctl_register},
    {"unregister", "NAME",
     "stop managing a guest (its target goes back to max)", ctl_unregister},
    {"set", "NAME SIZE", "pin a guest's target (within [min, max])", ctl_set},
    {"release", "NAME", "unpin a guest: the policy decides again", ctl_release},
    {"role", "CLUSTER MEMBER ROLE",
     "report a Patroni role change (what the on_role_change callback calls)",
     ctl_role},
    {"monitor", "[--json] [--count N]",
     "print balloond's events as they happen", ctl_monitor},
    {"reload", "", "re-read balloond's config file (like SIGHUP)", ctl_reload},
    {"metrics", "", "print balloond's metrics (Prometheus text format 0.0.4)",
     ctl_metrics},
    {"call", "METHOD [PARAMS-JSON]",
     "send one raw request (a method of the control protocol) and print\n"
     "      balloond's reply, {\"id\", \"result\"} or {\"id\", \"error\"}, as "
     "JSON",
     ctl_call},
    {"enable",
     "DOMAIN [--min SIZE] [--max SIZE] [--replica-target SIZE]\n"
     "           [--priority N] [--patroni CLUSTER/MEMBER] [--connect URI]",
     "mark a libvirt domain for balloond: metadata and an extra QMP socket "
     "in\n      its persistent definition (libvirt's API; from its next "
     "start)",
     ctl_enable_cmd},
    {"enable", "--proxmox VMID [--storage STORAGE]",
     "print the `qm set` commands that make a Proxmox VE VM balloond's "
     "(changes\n      nothing)",
     ctl_enable_cmd},
    {"disable", "DOMAIN [--connect URI]",
     "remove what enable added to a libvirt domain's definition", ctl_disable},
    {"qmp",
     "(--socket PATH | --vm NAME) [--timeout S] [--events S] COMMAND "
     "[ARGS-JSON]",
     "run one QMP command on a QEMU socket, or through balloond", ctl_qmp},
    {"doctor", "[--proc-root DIR] [--sys-root DIR] [--etc-root DIR] [--json]",
     "audit the host (ZFS ARC, swap, overcommit, GPU shrinker, PSI) and, "
     "when\n      balloond answers, its guests; each finding with its "
     "evidence and fix\n      (exit 1 when one is critical; 3 when the host "
     "cannot be read)",
     ctl_doctor},
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: balloonctl [--socket PATH] [--timeout S] COMMAND "
		"[ARGS...]\n"
		"\n"
		"Control balloond, the virtio-balloon memory daemon.\n"
		"\n"
		"Global options:\n"
		"  -s, --socket PATH  balloond's control socket (default: "
		"$BALLOOND_SOCKET,\n"
		"                     else %s)\n"
		"  -t, --timeout S    give up on a request after S seconds "
		"(default 5)\n"
		"  -h, --help         show this help\n"
		"  -V, --version      show the version\n"
		"\n"
		"Sizes take units: 512M, 8G, 8GiB (powers of 1024; a plain "
		"number is bytes).\n"
		"\n"
		"Commands:\n",
		BALLOOND_DEFAULT_SOCKET);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s %s\n      %s\n", commands[i].name,
			commands[i].usage, commands[i].help);
	fprintf(
	    out,
	    "\n"
	    "Exit status:\n"
	    "  0  success\n"
	    "  1  the request was refused: QEMU or balloond answered with an "
	    "error\n"
	    "     (a QMP error prints its class and description on stderr)\n"
	    "  2  usage error\n"
	    "  3  no answer: cannot connect, protocol error, oversized "
	    "message, timeout\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	struct ctl_globals g = {
	    .socket = getenv("BALLOOND_SOCKET"),
	    .timeout_s = 5,
	};
	char *end;
	int o;

	/* A peer that closes mid-write is an error to report, not a signal
	 * to die of (exit 3, not 141). */
	signal(SIGPIPE, SIG_IGN);
	if (!g.socket || !*g.socket)
		g.socket = BALLOOND_DEFAULT_SOCKET;
	while ((o = getopt_long(argc, argv, "+s:t:hV", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			g.socket = optarg;
			break;
		case 't':
			g.timeout_s = strtod(optarg, &end);
			if (*end || !(g.timeout_s > 0 && g.timeout_s <= 3600)) {
				ctl_error("--timeout takes seconds (0 < N <= "
					  "3600), not '%s'",
					  optarg);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("balloonctl %s\n", PACKAGE_VERSION);
			return CTL_EXIT_OK;
		default:
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	const char *name = argv[optind];
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return commands[i].run(&g, argc - optind,
					       argv + optind);
	ctl_error("unknown command '%s'", name);
	usage(stderr);
	return CTL_EXIT_USAGE;
}
