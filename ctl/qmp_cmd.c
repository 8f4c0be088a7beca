/*
 * qmp_cmd.c: `balloonctl qmp`: run one QMP command, either straight on a
 * QEMU monitor socket (--socket, no daemon needed) or through balloond's
 * own connection to a registered guest (--vm).
 */
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../qmp/qmp.h"

struct qmp_run {
	uv_loop_t *loop;
	qmp_client *client;
	const char *command;
	json_object *args;
	uv_timer_t events_timer; /* --events: how long to keep listening */
	double events_s;
	bool replied;
	int exit_code;
};

static void finish(struct qmp_run *r, int code)
{
	r->exit_code = code;
	uv_timer_stop(&r->events_timer);
	uv_stop(r->loop);
}

static void events_done_cb(uv_timer_t *t)
{
	finish(t->data, CTL_EXIT_OK);
}

static void reply_cb(qmp_client *c, const struct qmp_reply *reply, void *data)
{
	struct qmp_run *r = data;
	r->replied = true;
	if (reply->err == QMP_ERR_COMMAND || reply->err == QMP_ERR_NO_BALLOON) {
		fprintf(stderr, "%s: %s\n", reply->error_class,
			reply->error_desc);
		finish(r, CTL_EXIT_REFUSED);
		return;
	}
	if (reply->err) {
		ctl_error("%s: %s", r->command, qmp_strerror(reply->err));
		finish(r, CTL_EXIT_UNREACHABLE);
		return;
	}
	printf("%s\n", json_object_to_json_string_ext(
			   reply->ret, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	if (r->events_s > 0)
		uv_timer_start(&r->events_timer, events_done_cb,
			       (uint64_t)(r->events_s * 1000), 0);
	else
		finish(r, CTL_EXIT_OK);
}

static void ready_cb(qmp_client *c, void *data)
{
	struct qmp_run *r = data;
	json_object *args = r->args;
	r->args = NULL;
	int rc = qmp_execute(c, r->command, args, 0, reply_cb, r);
	if (rc) {
		ctl_error("%s: %s", r->command, qmp_strerror(rc));
		finish(r, CTL_EXIT_UNREACHABLE);
	}
}

static void disconnect_cb(qmp_client *c, int err, void *data)
{
	struct qmp_run *r = data;
	/* After the reply, a disconnect only ends the --events wait. */
	if (r->replied) {
		finish(r, r->exit_code);
		return;
	}
	ctl_error("%s: %s", qmp_client_socket_path(c), qmp_strerror(err));
	finish(r, CTL_EXIT_UNREACHABLE);
}

static void event_cb(qmp_client *c, const char *name, json_object *data,
		     int64_t timestamp_us, void *data_)
{
	struct qmp_run *r = data_;
	if (r->events_s <= 0)
		return;
	json_object *ev = json_object_new_object();
	json_object_object_add(ev, "event", json_object_new_string(name));
	if (data)
		json_object_object_add(ev, "data", json_object_get(data));
	json_object_object_add(ev, "timestamp_us",
			       json_object_new_int64(timestamp_us));
	printf("%s\n", json_object_to_json_string_ext(
			   ev, JSON_C_TO_STRING_PLAIN |
				   JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(ev);
}

static int run_direct(const char *socket, double timeout_s, double events_s,
		      const char *command, json_object *args)
{
	uv_loop_t loop;
	struct qmp_run r = {
	    .loop = &loop,
	    .command = command,
	    .args = args,
	    .events_s = events_s,
	    .exit_code = CTL_EXIT_UNREACHABLE,
	};
	struct qmp_config cfg = QMP_CONFIG_DEFAULT;
	cfg.socket_path = socket;
	cfg.greeting_timeout_ms = (uint64_t)(timeout_s * 1000);
	cfg.command_timeout_ms = (uint64_t)(timeout_s * 1000);
	const struct qmp_callbacks cbs = {
	    .ready_cb = ready_cb,
	    .disconnect_cb = disconnect_cb,
	    .event_cb = event_cb,
	};

	uv_loop_init(&loop);
	uv_timer_init(&loop, &r.events_timer);
	r.events_timer.data = &r;
	int rc = qmp_client_new(&loop, &cfg, &cbs, &r, &r.client);
	if (rc == 0)
		rc = qmp_client_start(r.client);
	if (rc) {
		ctl_error("%s: %s", socket, qmp_strerror(rc));
	} else {
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	if (r.client)
		qmp_client_close(r.client, NULL, NULL);
	uv_close((uv_handle_t *)&r.events_timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	json_object_put(r.args);
	return r.exit_code;
}

int ctl_qmp(const struct ctl_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"vm", required_argument, NULL, 'v'},
	    {"timeout", required_argument, NULL, 't'},
	    {"events", required_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *socket = NULL, *vm = NULL;
	double timeout_s = g->timeout_s, events_s = 0;
	char *end;
	int o;

	optind = 0; /* glibc: 0 also resets getopt's internal state */
	while ((o = getopt_long(argc, argv, "+s:v:t:e:h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			socket = optarg;
			break;
		case 'v':
			vm = optarg;
			break;
		case 't':
			timeout_s = strtod(optarg, &end);
			if (*end || !(timeout_s > 0 && timeout_s <= 3600))
				return ctl_usage_error(
				    "qmp",
				    "--timeout takes seconds (0 < N <= 3600), "
				    "not '%s'",
				    optarg);
			break;
		case 'e':
			events_s = strtod(optarg, &end);
			if (*end || !(events_s > 0 && events_s <= 86400))
				return ctl_usage_error(
				    "qmp",
				    "--events takes seconds (0 < N <= 86400), "
				    "not '%s'",
				    optarg);
			break;
		case 'h':
			printf(
			    "usage: balloonctl qmp (--socket PATH | --vm NAME) "
			    "[--timeout S] [--events S] COMMAND [ARGS-JSON]\n");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("qmp", "unknown option");
		}
	}
	if (!socket == !vm)
		return ctl_usage_error(
		    "qmp", "give exactly one of --socket PATH and --vm NAME");
	if (optind >= argc)
		return ctl_usage_error("qmp", "missing COMMAND");
	if (argc - optind > 2)
		return ctl_usage_error(
		    "qmp", "too many arguments (quote ARGS-JSON as one word)");
	const char *command = argv[optind];
	json_object *args = NULL;
	if (optind + 1 < argc) {
		enum json_tokener_error jerr;
		args = json_tokener_parse_verbose(argv[optind + 1], &jerr);
		if (!args || !json_object_is_type(args, json_type_object)) {
			json_object_put(args);
			return ctl_usage_error(
			    "qmp", "ARGS-JSON must be a JSON object, e.g. "
				   "'{\"value\": 268435456}'");
		}
	}
	if (vm) {
		if (events_s > 0) {
			json_object_put(args);
			return ctl_usage_error(
			    "qmp",
			    "--events works with --socket only "
			    "(balloonctl monitor shows balloond's events)");
		}
		struct ctl_globals vg = *g;
		vg.timeout_s = timeout_s;
		return ctl_qmp_via_daemon(&vg, vm, command, args);
	}
	return run_direct(socket, timeout_s, events_s, command, args);
}
