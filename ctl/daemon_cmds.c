/* daemon_cmds.c: subcommands that talk to balloond (placeholder). */
#include "ctl.h"

#include <json-c/json.h>

int ctl_qmp_via_daemon(const struct ctl_globals *g, const char *vm,
		       const char *command, json_object *args);

int ctl_qmp_via_daemon(const struct ctl_globals *g, const char *vm,
		       const char *command, json_object *args)
{
	json_object_put(args);
	ctl_error("qmp --vm: balloond is not part of this build yet");
	return CTL_EXIT_UNREACHABLE;
}
