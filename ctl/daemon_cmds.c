/*
 * daemon_cmds.c: the subcommands that talk to balloond's control socket.
 */
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/client.h"
#include "proto/proto.h"
#include "proto/units.h"

/* Open the socket or print why not. */
static int open_client(const struct ctl_globals *g, struct ctl_client *c,
		       int timeout_ms)
{
	int rc = ctl_client_open(c, g->socket, timeout_ms);
	if (rc) {
		ctl_error("%s", c->error);
		ctl_client_close(c);
		/* Refused by balloond (permissions): 1; no balloond, or one
		 * speaking another protocol: 3. */
		return rc == -EACCES ? CTL_EXIT_REFUSED : CTL_EXIT_UNREACHABLE;
	}
	return 0;
}

static void print_error(const char *method, json_object *error)
{
	json_object *code = NULL, *msg = NULL;
	json_object_object_get_ex(error, "code", &code);
	json_object_object_get_ex(error, "message", &msg);
	ctl_error("%s: %s (%s)", method, json_object_get_string(msg),
		  json_object_get_string(code));
}

/* One request, one reply. On success *result is set (may be ignored by
 * passing NULL); on an error reply, which is printed, *error is (when not
 * NULL). *id, when not NULL, is the request's id. Returns an exit code.
 * Takes params. */
static int call_reply(const struct ctl_globals *g, const char *method,
		      json_object *params, json_object **result,
		      json_object **error, int64_t *id)
{
	struct ctl_client c;
	int code = open_client(g, &c, (int)(g->timeout_s * 1000));
	if (code) {
		json_object_put(params);
		return code;
	}
	json_object *res = NULL, *err = NULL;
	int rc = ctl_client_call(&c, method, params, &res, &err);
	if (id)
		*id = c.next_id - 1;
	if (rc < 0) {
		ctl_error("%s: %s", method, c.error);
		code = CTL_EXIT_UNREACHABLE;
	} else if (rc == 1) {
		print_error(method, err);
		if (error)
			*error = err;
		else
			json_object_put(err);
		code = CTL_EXIT_REFUSED;
	} else if (result) {
		*result = res;
	} else {
		json_object_put(res);
	}
	ctl_client_close(&c);
	return code;
}

static int call(const struct ctl_globals *g, const char *method,
		json_object *params, json_object **result)
{
	return call_reply(g, method, params, result, NULL, NULL);
}

static int parse_size_arg(const char *cmd, const char *what, const char *s,
			  uint64_t *out)
{
	int rc = bd_parse_size(s, out);
	if (rc)
		return ctl_usage_error(
		    cmd, "%s: '%s' is not a size (e.g. 512M, 8G, 8GiB)", what,
		    s);
	return 0;
}

static json_object *name_params(const char *name)
{
	json_object *p = json_object_new_object();
	json_object_object_add(p, "name", json_object_new_string(name));
	return p;
}

/* Subcommands without options take exactly n_args words. */
static int want_args(const char *cmd, int argc, char **argv, int n,
		     const char *usage)
{
	if (argc > 1 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: balloonctl %s %s\n", cmd, usage);
		return -1;
	}
	if (argc - 1 != n)
		return ctl_usage_error(cmd, "expects %s", usage);
	return 0;
}

/* ---- register ---- */

int ctl_register(const struct ctl_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"qmp", required_argument, NULL, 'q'},
	    {"max", required_argument, NULL, 'M'},
	    {"min", required_argument, NULL, 'm'},
	    {"replica-target", required_argument, NULL, 'r'},
	    {"patroni", required_argument, NULL, 'p'},
	    {"priority", required_argument, NULL, 'P'},
	    {"no-wait", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *qmp = NULL, *patroni = NULL;
	uint64_t max = 0, min = 0, replica = 0;
	int64_t prio = 0;
	bool have_prio = false, no_wait = false;
	char *end;
	int o, rc;

	optind = 0; /* glibc: 0 also resets getopt's internal state */
	while ((o = getopt_long(argc, argv, "q:M:m:r:p:P:nh", opts, NULL)) !=
	       -1) {
		switch (o) {
		case 'q':
			qmp = optarg;
			break;
		case 'M':
			if ((rc = parse_size_arg("register", "--max", optarg,
						 &max)))
				return rc;
			break;
		case 'm':
			if ((rc = parse_size_arg("register", "--min", optarg,
						 &min)))
				return rc;
			break;
		case 'r':
			if ((rc = parse_size_arg("register", "--replica-target",
						 optarg, &replica)))
				return rc;
			break;
		case 'p':
			patroni = optarg;
			break;
		case 'P':
			prio = strtoll(optarg, &end, 10);
			if (*end || !*optarg)
				return ctl_usage_error(
				    "register",
				    "--priority takes a whole number, not '%s'",
				    optarg);
			have_prio = true;
			break;
		case 'n':
			no_wait = true;
			break;
		case 'h':
			printf("usage: balloonctl register NAME --qmp PATH "
			       "[--max SIZE] [--min SIZE]\n"
			       "       [--replica-target SIZE] [--patroni "
			       "CLUSTER/MEMBER] [--priority N] [--no-wait]\n");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("register", "unknown option");
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error("register", "expects one guest NAME");
	if (!qmp)
		return ctl_usage_error("register", "--qmp PATH is required");

	json_object *p = name_params(argv[optind]);
	json_object_object_add(p, "qmp", json_object_new_string(qmp));
	if (max)
		json_object_object_add(p, "max_bytes",
				       json_object_new_int64((int64_t)max));
	if (min)
		json_object_object_add(p, "min_bytes",
				       json_object_new_int64((int64_t)min));
	if (replica)
		json_object_object_add(p, "replica_target_bytes",
				       json_object_new_int64((int64_t)replica));
	if (have_prio)
		json_object_object_add(p, "priority",
				       json_object_new_int64(prio));
	if (no_wait)
		json_object_object_add(p, "wait", json_object_new_boolean(0));
	if (patroni) {
		const char *slash = strchr(patroni, '/');
		if (!slash || slash == patroni || !slash[1]) {
			json_object_put(p);
			return ctl_usage_error(
			    "register",
			    "--patroni takes CLUSTER/MEMBER, not '%s'",
			    patroni);
		}
		json_object_object_add(p, "cluster",
				       json_object_new_string_len(
					   patroni, (int)(slash - patroni)));
		json_object_object_add(p, "member",
				       json_object_new_string(slash + 1));
	}
	json_object *res = NULL;
	/* The daemon answers once QEMU told it the guest's RAM, and gives
	 * QEMU up to its greeting timeout plus two command timeouts (15 s by
	 * default): wait longer than that. */
	struct ctl_globals slow = *g;
	slow.timeout_s += 20;
	int code = call(&slow, "register", p, &res);
	if (code == 0) {
		json_object *v;
		char a[32], b[32];
		json_object_object_get_ex(res, "max_bytes", &v);
		uint64_t mx = (uint64_t)json_object_get_int64(v);
		json_object_object_get_ex(res, "min_bytes", &v);
		uint64_t mn = (uint64_t)json_object_get_int64(v);
		printf("registered %s: max %s, min %s\n", argv[optind],
		       bd_format_size(mx, a, sizeof(a)),
		       bd_format_size(mn, b, sizeof(b)));
	}
	json_object_put(res);
	return code;
}

/* ---- simple ones ---- */

int ctl_unregister(const struct ctl_globals *g, int argc, char **argv)
{
	int rc = want_args("unregister", argc, argv, 1, "NAME");
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	return call(g, "unregister", name_params(argv[1]), NULL);
}

int ctl_set(const struct ctl_globals *g, int argc, char **argv)
{
	uint64_t bytes;
	int rc = want_args("set", argc, argv, 2, "NAME SIZE");
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	if ((rc = parse_size_arg("set", "SIZE", argv[2], &bytes)))
		return rc;
	json_object *p = name_params(argv[1]);
	json_object_object_add(p, "bytes",
			       json_object_new_int64((int64_t)bytes));
	json_object *res = NULL;
	int code = call(g, "set", p, &res);
	json_object *w;
	if (code == 0 && json_object_object_get_ex(res, "warning", &w))
		ctl_error("warning: %s: %s", argv[1],
			  json_object_get_string(w));
	json_object_put(res);
	return code;
}

int ctl_release(const struct ctl_globals *g, int argc, char **argv)
{
	int rc = want_args("release", argc, argv, 1, "NAME");
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	return call(g, "release", name_params(argv[1]), NULL);
}

int ctl_role(const struct ctl_globals *g, int argc, char **argv)
{
	int rc = want_args("role", argc, argv, 3, "CLUSTER MEMBER ROLE");
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	json_object *p = json_object_new_object();
	json_object_object_add(p, "cluster", json_object_new_string(argv[1]));
	json_object_object_add(p, "member", json_object_new_string(argv[2]));
	json_object_object_add(p, "role", json_object_new_string(argv[3]));
	return call(g, "role", p, NULL);
}

int ctl_reload(const struct ctl_globals *g, int argc, char **argv)
{
	int rc = want_args("reload", argc, argv, 0, "(no arguments)");
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	return call(g, "reload", NULL, NULL);
}

/* ---- metrics ---- */

int ctl_metrics(const struct ctl_globals *g, int argc, char **argv)
{
	int rc = want_args("metrics", argc, argv, 0, "(no arguments)");
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	json_object *res = NULL, *text;
	int code = call(g, "metrics", NULL, &res);
	if (code)
		return code;
	if (!json_object_object_get_ex(res, "text", &text) ||
	    !json_object_is_type(text, json_type_string)) {
		ctl_error("metrics: balloond's reply has no text");
		json_object_put(res);
		return CTL_EXIT_UNREACHABLE;
	}
	fwrite(json_object_get_string(text), 1,
	       (size_t)json_object_get_string_len(text), stdout);
	json_object_put(res);
	return fflush(stdout) ? CTL_EXIT_UNREACHABLE : CTL_EXIT_OK;
}

/* ---- status ---- */

static const char *str_member(json_object *o, const char *key, const char *dflt)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return dflt;
	return json_object_get_string(v);
}

static const char *size_member(json_object *o, const char *key, char *buf,
			       size_t len)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return "-";
	uint64_t b = (uint64_t)json_object_get_int64(v);
	if (b % (1024 * 1024) == 0)
		snprintf(buf, len, "%lluM", (unsigned long long)(b >> 20));
	else
		snprintf(buf, len, "%.1fM", (double)b / (1024.0 * 1024.0));
	return buf;
}

/* One line per Patroni cluster: what its REST API last said. */
static void print_clusters(json_object *clusters)
{
	if (!clusters || !json_object_is_type(clusters, json_type_object))
		return;
	json_object_object_foreach(clusters, name, o)
	{
		bool up = json_object_get_boolean(
		    json_object_object_get(o, "reachable"));
		const char *err = str_member(o, "error", "");
		char age[32] = "never";
		json_object *v;
		if (json_object_object_get_ex(o, "facts_age_ms", &v))
			snprintf(age, sizeof(age), "%.1f s ago",
				 (double)json_object_get_int64(v) / 1000.0);
		printf(
		    "cluster %s: %s, leader %s, facts %s%s%s%s%s%s\n", name,
		    up ? "reachable" : "UNREACHABLE (members at max)",
		    str_member(o, "leader", "none"), age,
		    json_object_get_boolean(json_object_object_get(o, "stale"))
			? " (stale: members at max)"
			: "",
		    up ? ", via " : "", up ? str_member(o, "url", "?") : "",
		    *err ? "; " : "", err);
	}
}

int ctl_status(const struct ctl_globals *g, int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--help") == 0 ||
			 strcmp(argv[i], "-h") == 0) {
			printf("usage: balloonctl status [--json]\n");
			return CTL_EXIT_OK;
		} else
			return ctl_usage_error(
			    "status", "unknown argument '%s'", argv[i]);
	}
	json_object *res = NULL;
	int code = call(g, "status", NULL, &res);
	if (code)
		return code;
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(
				   res, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_SPACED));
		json_object_put(res);
		return CTL_EXIT_OK;
	}
	json_object *guests = json_object_object_get(res, "guests");
	size_t n = json_object_array_length(guests);
	printf("%-16s %-8s %8s %8s %8s %8s %-5s %s\n", "NAME", "ROLE", "MAX",
	       "MIN", "TARGET", "ACTUAL", "LINK", "LAST ACTION / REASON");
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(guests, i);
		char a[32], b[32], c[32], d[32];
		const char *err = str_member(o, "last_error", "");
		printf("%-16s %-8s %8s %8s %8s %8s %-5s %s; %s%s%s\n",
		       str_member(o, "name", "?"), str_member(o, "role", "-"),
		       size_member(o, "max_bytes", a, sizeof(a)),
		       size_member(o, "min_bytes", b, sizeof(b)),
		       size_member(o, "target_bytes", c, sizeof(c)),
		       size_member(o, "actual_bytes", d, sizeof(d)),
		       str_member(o, "link", "?"),
		       str_member(o, "last_action", ""),
		       str_member(o, "reason", ""), *err ? "; error: " : "",
		       err);
	}
	print_clusters(json_object_object_get(res, "clusters"));
	json_object *d = json_object_object_get(res, "daemon");
	printf("%zu guests, %s links up%s\n", n, str_member(d, "links_up", "?"),
	       json_object_get_boolean(json_object_object_get(d, "dry_run"))
		   ? " (dry run: no commands sent)"
		   : "");
	json_object_put(res);
	return CTL_EXIT_OK;
}

/* ---- monitor ---- */

static void print_event(json_object *ev)
{
	json_object *data = json_object_object_get(ev, "data");
	int64_t us =
	    json_object_get_int64(json_object_object_get(ev, "time_us"));
	time_t sec = (time_t)(us / 1000000);
	struct tm tm;
	char when[16];
	localtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	printf("%s.%03d %-14s", when, (int)(us % 1000000 / 1000),
	       str_member(ev, "event", "?"));
	json_object_object_foreach(data, key, val)
	{
		if (json_object_is_type(val, json_type_array) ||
		    json_object_is_type(val, json_type_object))
			printf(" %s=%s", key,
			       json_object_to_json_string_ext(
				   val, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
		else
			printf(" %s=%s", key, json_object_get_string(val));
	}
	printf("\n");
}

int ctl_monitor(const struct ctl_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"count", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool json = false;
	long count = -1;
	char *end;
	int o;
	optind = 0; /* glibc: 0 also resets getopt's internal state */
	while ((o = getopt_long(argc, argv, "jn:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j':
			json = true;
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count < 1)
				return ctl_usage_error(
				    "monitor",
				    "--count takes a positive number");
			break;
		case 'h':
			printf(
			    "usage: balloonctl monitor [--json] [--count N]\n");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("monitor", "unknown option");
		}
	}
	if (optind != argc)
		return ctl_usage_error("monitor", "takes no arguments");

	struct ctl_client c;
	int code = open_client(g, &c, (int)(g->timeout_s * 1000));
	if (code)
		return code;
	json_object *res = NULL, *err = NULL;
	int rc = ctl_client_call(&c, "monitor", NULL, &res, &err);
	if (rc) {
		if (rc == 1)
			print_error("monitor", err);
		else
			ctl_error("monitor: %s", c.error);
		json_object_put(err);
		ctl_client_close(&c);
		return rc == 1 ? CTL_EXIT_REFUSED : CTL_EXIT_UNREACHABLE;
	}
	json_object_put(res);
	printf(json ? "" : "monitoring balloond events (Ctrl-C to stop)\n");
	fflush(stdout);
	c.timeout_ms = -1;
	while (count != 0) {
		json_object *ev;
		rc = ctl_client_next(&c, &ev);
		if (rc) {
			ctl_error("monitor: %s", c.error);
			code = CTL_EXIT_UNREACHABLE;
			break;
		}
		if (!json_object_object_get_ex(ev, "event", NULL)) {
			json_object_put(ev);
			continue;
		}
		if (json)
			printf("%s\n",
			       json_object_to_json_string_ext(
				   ev, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE));
		else
			print_event(ev);
		fflush(stdout);
		json_object_put(ev);
		if (count > 0)
			count--;
	}
	ctl_client_close(&c);
	return code;
}

/* ---- qmp --vm ---- */

int ctl_qmp_via_daemon(const struct ctl_globals *g, const char *vm,
		       const char *command, json_object *args)
{
	struct ctl_client c;
	int code = open_client(g, &c, (int)(g->timeout_s * 1000));
	if (code) {
		json_object_put(args);
		return code;
	}
	json_object *p = name_params(vm);
	json_object_object_add(p, "command", json_object_new_string(command));
	if (args)
		json_object_object_add(p, "arguments", args);
	json_object *res = NULL, *err = NULL;
	int rc = ctl_client_call(&c, "qmp", p, &res, &err);
	if (rc < 0) {
		ctl_error("qmp: %s", c.error);
		code = CTL_EXIT_UNREACHABLE;
	} else if (rc == 1) {
		json_object *cls = NULL, *desc = NULL, *code_o = NULL;
		json_object_object_get_ex(err, "code", &code_o);
		if (json_object_object_get_ex(err, "qmp_class", &cls) &&
		    json_object_object_get_ex(err, "qmp_desc", &desc)) {
			/* The same shape as a direct --socket error. */
			fprintf(stderr, "%s: %s\n", json_object_get_string(cls),
				json_object_get_string(desc));
			code = CTL_EXIT_REFUSED;
		} else {
			print_error("qmp", err);
			code = strcmp(json_object_get_string(code_o),
				      BD_E_UNAVAILABLE) == 0
				   ? CTL_EXIT_UNREACHABLE
				   : CTL_EXIT_REFUSED;
		}
		json_object_put(err);
	} else {
		printf("%s\n", json_object_to_json_string_ext(
				   json_object_object_get(res, "return"),
				   JSON_C_TO_STRING_PLAIN |
				       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(res);
	}
	ctl_client_close(&c);
	return code;
}

/* ---- call: one raw request ---- */

/* The reply as balloond sent it, {"id", "result"} or {"id", "error"}, on
 * one line: for scripts and for debugging the protocol. ctl_client_call
 * hands the two halves over separately; the id is the one it sent. */
static void print_reply(int64_t id, const char *key, json_object *value)
{
	json_object *reply = json_object_new_object();
	json_object_object_add(reply, "id", json_object_new_int64(id));
	json_object_object_add(reply, key, value);
	printf("%s\n", json_object_to_json_string_ext(
			   reply, JSON_C_TO_STRING_PLAIN |
				      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(reply);
}

int ctl_call(const struct ctl_globals *g, int argc, char **argv)
{
	static const char usage[] = "METHOD [PARAMS-JSON]";
	if (argc > 1 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: balloonctl call %s\n", usage);
		return CTL_EXIT_OK;
	}
	if (argc < 2 || argc > 3)
		return ctl_usage_error("call", "expects %s", usage);
	json_object *params = NULL;
	if (argc == 3) {
		/* The whole argument, not a JSON object and anything after
		 * it (json_tokener_parse stops at the object's end). */
		json_tokener *tok = json_tokener_new();
		size_t len = strlen(argv[2]);
		params =
		    tok ? json_tokener_parse_ex(tok, argv[2], (int)len) : NULL;
		size_t end = params ? json_tokener_get_parse_end(tok) : 0;
		if (params && argv[2][end + strspn(argv[2] + end, " \t\n")]) {
			json_object_put(params);
			params = NULL;
		}
		json_tokener_free(tok);
		if (!json_object_is_type(params, json_type_object)) {
			json_object_put(params);
			return ctl_usage_error(
			    "call",
			    "the params must be a JSON object, not '%s'",
			    argv[2]);
		}
	}
	json_object *res = NULL, *err = NULL;
	int64_t id = 0;
	int code = call_reply(g, argv[1], params, &res, &err, &id);
	if (code == CTL_EXIT_OK)
		print_reply(id, "result", res);
	else if (err)
		print_reply(id, "error", err);
	if (fflush(stdout) && !code)
		code = CTL_EXIT_UNREACHABLE;
	return code;
}
