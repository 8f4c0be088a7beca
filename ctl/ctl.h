/* ctl.h: what balloonctl's subcommands share. */
#ifndef BALLOOND_CTL_H
#define BALLOOND_CTL_H

#include <stdbool.h>

/* Exit codes, documented in balloonctl(8) and --help. */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_REFUSED = 1,	  /* QEMU or balloond answered with an error */
	CTL_EXIT_USAGE = 2,	  /* bad command line */
	CTL_EXIT_UNREACHABLE = 3, /* no connection, protocol error, timeout */
};

/* Options that come before the subcommand. */
struct ctl_globals {
	const char *socket; /* balloond's control socket */
	double timeout_s;   /* for every request */
};

struct ctl_command {
	const char *name;
	const char *usage; /* arguments after the name */
	const char *help;  /* one line */
	int (*run)(const struct ctl_globals *g, int argc, char **argv);
};

/* The subcommands: argv[0] is the subcommand's name. */
int ctl_qmp(const struct ctl_globals *g, int argc, char **argv);
int ctl_status(const struct ctl_globals *g, int argc, char **argv);
int ctl_register(const struct ctl_globals *g, int argc, char **argv);
int ctl_unregister(const struct ctl_globals *g, int argc, char **argv);
int ctl_set(const struct ctl_globals *g, int argc, char **argv);
int ctl_release(const struct ctl_globals *g, int argc, char **argv);
int ctl_role(const struct ctl_globals *g, int argc, char **argv);
int ctl_monitor(const struct ctl_globals *g, int argc, char **argv);
int ctl_metrics(const struct ctl_globals *g, int argc, char **argv);
int ctl_reload(const struct ctl_globals *g, int argc, char **argv);
/* One raw request: prints balloond's reply as JSON. */
int ctl_call(const struct ctl_globals *g, int argc, char **argv);
/* Audit the host (and balloond's guests) for known risks (ctl/doctor.c). */
int ctl_doctor(const struct ctl_globals *g, int argc, char **argv);
/* Through libvirt's API (ctl/libvirt_cmds.c); without --with-libvirt they
 * only say so. */
int ctl_enable(const struct ctl_globals *g, int argc, char **argv);
int ctl_disable(const struct ctl_globals *g, int argc, char **argv);
/* enable: --proxmox VMID prints `qm set` commands (ctl/proxmox_cmds.c),
 * anything else is ctl_enable. */
int ctl_enable_cmd(const struct ctl_globals *g, int argc, char **argv);

/* `qmp --vm`: through balloond's own connection (QEMU serves one client
 * per socket). Takes args. */
struct json_object;
int ctl_qmp_via_daemon(const struct ctl_globals *g, const char *vm,
		       const char *command, struct json_object *args);

/* Print "balloonctl: <msg>" on stderr. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report a usage error for a subcommand and return CTL_EXIT_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
