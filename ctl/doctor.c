/*
 * doctor.c: `balloonctl doctor`, the command: its options, balloond's
 * status when it answers, and the findings as text or JSON (see
 * doctor.h for the layers under it).
 */
#include "ctl.h"
#include "doctor.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/client.h"

/* One read-only QMP command on a guest through balloond's own link (the
 * `qmp` method, as `balloonctl qmp --vm`): its "return", or NULL. */
static json_object *guest_qmp(struct ctl_client *c, const char *vm,
			      const char *command, json_object *args)
{
	json_object *p = json_object_new_object(), *res = NULL, *err = NULL;
	json_object_object_add(p, "name", json_object_new_string(vm));
	json_object_object_add(p, "command", json_object_new_string(command));
	json_object_object_add(p, "arguments", args);
	int rc = ctl_client_call(c, "qmp", p, &res, &err);
	json_object *ret = NULL;
	if (rc == 0 && json_object_object_get_ex(res, "return", &ret))
		json_object_get(ret);
	json_object_put(res);
	json_object_put(err);
	return ret;
}

static bool qom_bool(struct ctl_client *c, const char *vm, const char *path,
		     const char *property, bool *value)
{
	json_object *a = json_object_new_object();
	json_object_object_add(a, "path", json_object_new_string(path));
	json_object_object_add(a, "property", json_object_new_string(property));
	json_object *r = guest_qmp(c, vm, "qom-get", a);
	bool ok = r && json_object_is_type(r, json_type_boolean);
	if (ok)
		*value = json_object_get_boolean(r);
	json_object_put(r);
	return ok;
}

/* The balloon's free-page-reporting and deflate-on-oom, with qom-get on
 * the device found under /machine/peripheral or peripheral-anon. */
static void read_balloon_options(struct ctl_client *c, struct doctor_guest *g)
{
	static const char *const containers[] = {"/machine/peripheral",
						 "/machine/peripheral-anon"};
	char path[512];
	bool found = false;
	for (size_t i = 0; i < 2 && !found; i++) {
		json_object *a = json_object_new_object();
		json_object_object_add(a, "path",
				       json_object_new_string(containers[i]));
		json_object *list = guest_qmp(c, g->name, "qom-list", a);
		found = doctor_find_balloon(list, containers[i], path,
					    sizeof(path));
		json_object_put(list);
	}
	if (!found)
		return;
	g->fpr_known = qom_bool(c, g->name, path, "free-page-reporting",
				&g->free_page_reporting);
	g->doom_known =
	    qom_bool(c, g->name, path, "deflate-on-oom", &g->deflate_on_oom);
}

/* balloond's status into d; a balloond that does not answer is a
 * finding (daemon_absent), never an error of doctor's. */
static void read_daemon(const struct ctl_globals *g, struct doctor_daemon *d)
{
	struct ctl_client c;
	json_object *res = NULL, *err = NULL;
	d->answered = false;
	int rc = ctl_client_open(&c, g->socket, (int)(g->timeout_s * 1000));
	if (rc == 0) {
		rc = ctl_client_call(&c, "status", NULL, &res, &err);
		if (rc == 0)
			doctor_decode_status(res, d);
		for (size_t i = 0; rc == 0 && i < d->n_guests; i++)
			if (d->guests[i].link_up)
				read_balloon_options(&c, &d->guests[i]);
			else if (rc == 1)
				snprintf(d->error, sizeof(d->error),
					 "balloond refused status: %s",
					 json_object_get_string(
					     json_object_object_get(
						 err, "message")));
	}
	if (!d->answered && !d->error[0])
		snprintf(d->error, sizeof(d->error), "%s", c.error);
	json_object_put(res);
	json_object_put(err);
	ctl_client_close(&c);
}

static void print_json(const struct doctor_report *r, bool daemon)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	unsigned count[3] = {0};
	for (size_t i = 0; i < r->n; i++) {
		const struct doctor_finding *f = &r->findings[i];
		json_object *j = json_object_new_object();
		json_object_object_add(j, "id", json_object_new_string(f->id));
		json_object_object_add(
		    j, "severity",
		    json_object_new_string(doctor_severity_name(f->severity)));
		json_object_object_add(j, "title",
				       json_object_new_string(f->title));
		json_object_object_add(j, "evidence",
				       json_object_new_string(f->evidence));
		json_object_object_add(j, "fix",
				       json_object_new_string(f->fix));
		json_object_array_add(a, j);
		count[f->severity]++;
	}
	json_object_object_add(o, "findings", a);
	json_object *sum = json_object_new_object();
	for (int s = DOCTOR_CRITICAL; s >= DOCTOR_INFO; s--)
		json_object_object_add(sum, doctor_severity_name(s),
				       json_object_new_int((int)count[s]));
	json_object_object_add(o, "summary", sum);
	json_object_object_add(o, "daemon", json_object_new_boolean(daemon));
	printf("%s\n",
	       json_object_to_json_string_ext(
		   o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void print_text(const struct doctor_report *r)
{
	/* Colour only for a person at a terminal (and not under NO_COLOR). */
	const char *nc = getenv("NO_COLOR");
	bool colour = isatty(STDOUT_FILENO) && !(nc && *nc);
	static const char *const col[3] = {"\033[36m", "\033[33m",
					   "\033[1;31m"};
	const char *reset = colour ? "\033[0m" : "";
	unsigned count[3] = {0};
	for (size_t i = 0; i < r->n; i++) {
		const struct doctor_finding *f = &r->findings[i];
		char sev[16];
		snprintf(sev, sizeof(sev), "%s",
			 doctor_severity_name(f->severity));
		for (char *p = sev; *p; p++)
			*p = (char)(*p - ('a' <= *p && *p <= 'z' ? 32 : 0));
		printf("%s%-8s%s %s: %s\n", colour ? col[f->severity] : "", sev,
		       reset, f->id, f->title);
		printf("  evidence: %s\n  fix:\n", f->evidence);
		const char *p = f->fix;
		while (*p) {
			const char *nl = strchr(p, '\n');
			int n = nl ? (int)(nl - p) : (int)strlen(p);
			printf("    %.*s\n", n, p);
			p += n + (nl ? 1 : 0);
		}
		count[f->severity]++;
	}
	printf("%s%u critical, %u warning%s, %u info%s\n", r->n ? "\n" : "",
	       count[DOCTOR_CRITICAL], count[DOCTOR_WARNING],
	       count[DOCTOR_WARNING] == 1 ? "" : "s", count[DOCTOR_INFO],
	       count[DOCTOR_CRITICAL] ? ": fix the critical ones first"
	       : r->n		      ? ""
				      : ": nothing found");
}

int ctl_doctor(const struct ctl_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"proc-root", required_argument, NULL, 'p'},
	    {"sys-root", required_argument, NULL, 'S'},
	    {"etc-root", required_argument, NULL, 'e'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *proc_root = "/proc", *sys_root = "/sys", *etc_root = "/etc";
	bool json = false;
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (o) {
		case 'p':
			proc_root = optarg;
			break;
		case 'S':
			sys_root = optarg;
			break;
		case 'e':
			etc_root = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			printf("usage: balloonctl doctor [--proc-root DIR] "
			       "[--sys-root DIR] [--etc-root DIR] [--json]\n");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("doctor", "bad option");
		}
	}
	if (optind < argc)
		return ctl_usage_error("doctor", "unknown argument '%s'",
				       argv[optind]);

	struct doctor_snapshot *s = calloc(1, sizeof(*s));
	struct doctor_report *r = calloc(1, sizeof(*r));
	int code = CTL_EXIT_UNREACHABLE;
	if (!s || !r) {
		ctl_error("doctor: out of memory");
		goto out;
	}
	int rc = doctor_read_host(proc_root, sys_root, &s->host);
	if (rc) {
		ctl_error("doctor: cannot read %s/meminfo: %s", proc_root,
			  strerror(-rc));
		goto out;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	doctor_read_libvirt(proc_root, etc_root, &s->libvirt);
	read_daemon(g, &s->daemon);
	doctor_read_pve(etc_root, &s->daemon);
	doctor_run_rules(s, r);
	if (json)
		print_json(r, s->daemon.answered);
	else
		print_text(r);
	code =
	    doctor_worst(r) == DOCTOR_CRITICAL ? CTL_EXIT_REFUSED : CTL_EXIT_OK;
out:
	free(s);
	free(r);
	return code;
}
