/*
 * balloon.c: typed balloon commands on top of qmp_execute. Each one turns
 * QEMU's JSON into plain numbers in bytes, and "no balloon device" into
 * QMP_ERR_NO_BALLOON whichever way QEMU says it.
 */
#include "qmp.h"
#include "proto/jsontok.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One typed call in flight: the caller's callback and its data. */
struct call {
	union {
		qmp_status_cb status;
		qmp_size_cb size;
		qmp_path_cb path;
		qmp_stats_cb stats;
	} cb;
	void *data;
	int step; /* find_path: which container is being listed */
};

static struct call *call_new(void *data)
{
	struct call *k = calloc(1, sizeof(*k));
	if (k)
		k->data = data;
	return k;
}

/* qom-get/qom-set on a missing device path say DeviceNotFound. */
static int reply_err(const struct qmp_reply *r)
{
	if (r->err == QMP_ERR_COMMAND && r->error_class &&
	    strcmp(r->error_class, "DeviceNotFound") == 0)
		return QMP_ERR_NO_BALLOON;
	return r->err;
}

static int run(qmp_client *c, const char *cmd, json_object *args,
	       qmp_reply_cb done, struct call *k)
{
	if (!k) {
		json_object_put(args);
		return -ENOMEM;
	}
	int rc = qmp_execute(c, cmd, args, 0, done, k);
	if (rc)
		free(k);
	return rc;
}

static void status_done(qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct call *k = data;
	k->cb.status(c, reply_err(r), k->data);
	free(k);
}

int qmp_balloon_set(qmp_client *c, uint64_t target_bytes, qmp_status_cb cb,
		    void *data)
{
	/* QEMU rejects 0 and takes an int64; anything else is our bug. */
	if (target_bytes == 0 || target_bytes > INT64_MAX)
		return -EINVAL;
	/* Written as text: a burst sends a thousand of these at once. */
	char digits[24],
	    *d = bd_decimal(digits + sizeof(digits), (int64_t)target_bytes);
	char args[48];
	size_t n = (size_t)(digits + sizeof(digits) - d);
	memcpy(args, "{\"value\":", 9);
	memcpy(args + 9, d, n);
	memcpy(args + 9 + n, "}", 2);
	struct call *k = call_new(data);
	if (!k)
		return -ENOMEM;
	k->cb.status = cb;
	int rc = qmp_execute_text(c, "balloon", args, 0, status_done, k);
	if (rc)
		free(k);
	return rc;
}

static void size_done(qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct call *k = data;
	int err = reply_err(r);
	uint64_t actual = 0;
	json_object *v = NULL;
	if (!err) {
		if (json_object_object_get_ex(r->ret, "actual", &v) &&
		    json_object_is_type(v, json_type_int) &&
		    json_object_get_int64(v) > 0)
			actual = json_object_get_uint64(v);
		else
			err = QMP_ERR_PROTOCOL;
	}
	k->cb.size(c, err, actual, k->data);
	free(k);
}

int qmp_balloon_query(qmp_client *c, qmp_size_cb cb, void *data)
{
	struct call *k = call_new(data);
	if (k)
		k->cb.size = cb;
	return run(c, "query-balloon", NULL, size_done, k);
}

/* Where QEMU puts devices: with an id under peripheral, else under
 * peripheral-anon. The balloon's QOM type starts with "virtio-balloon"
 * (-pci, -pci-transitional, -ccw, -device). */
static const char *const containers[] = {
    "/machine/peripheral",
    "/machine/peripheral-anon",
};

static int list_container(qmp_client *c, struct call *k);

static void path_done(qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct call *k = data;
	/* Not reply_err(): it turns the DeviceNotFound of a missing
	 * container into QMP_ERR_NO_BALLOON, which would end the search. */
	int err = r->err;
	if (err && err != QMP_ERR_COMMAND) {
		k->cb.path(c, err, NULL, k->data);
		free(k);
		return;
	}
	/* A missing container (no devices of that kind) is a command error:
	 * just look in the next one. */
	size_t n = !err && json_object_is_type(r->ret, json_type_array)
		       ? json_object_array_length(r->ret)
		       : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(r->ret, i);
		json_object *name = NULL, *type = NULL;
		if (!json_object_object_get_ex(e, "name", &name) ||
		    !json_object_object_get_ex(e, "type", &type) ||
		    !json_object_is_type(name, json_type_string))
			continue;
		const char *t = json_object_get_string(type);
		if (!t || strncmp(t, "child<virtio-balloon", 20) != 0)
			continue;
		char path[256];
		int len =
		    snprintf(path, sizeof(path), "%s/%s", containers[k->step],
			     json_object_get_string(name));
		if (len < 0 || (size_t)len >= sizeof(path))
			continue;
		k->cb.path(c, 0, path, k->data);
		free(k);
		return;
	}
	if (++k->step < (int)(sizeof(containers) / sizeof(containers[0]))) {
		int rc = list_container(c, k);
		if (rc == 0)
			return;
		err = rc;
	} else {
		err = QMP_ERR_NO_BALLOON;
	}
	k->cb.path(c, err, NULL, k->data);
	free(k);
}

static int list_container(qmp_client *c, struct call *k)
{
	json_object *args = json_object_new_object();
	if (!args)
		return -ENOMEM;
	json_object_object_add(args, "path",
			       json_object_new_string(containers[k->step]));
	return qmp_execute(c, "qom-list", args, 0, path_done, k);
}

int qmp_balloon_find_path(qmp_client *c, qmp_path_cb cb, void *data)
{
	struct call *k = call_new(data);
	if (!k)
		return -ENOMEM;
	k->cb.path = cb;
	int rc = list_container(c, k);
	if (rc)
		free(k);
	return rc;
}

static json_object *qom_args(const char *path, const char *property)
{
	json_object *args = json_object_new_object();
	if (args) {
		json_object_object_add(args, "path",
				       json_object_new_string(path));
		json_object_object_add(args, "property",
				       json_object_new_string(property));
	}
	return args;
}

int qmp_guest_stats_enable(qmp_client *c, const char *path, unsigned interval_s,
			   qmp_status_cb cb, void *data)
{
	json_object *args = qom_args(path, "guest-stats-polling-interval");
	if (!args)
		return -ENOMEM;
	json_object_object_add(args, "value",
			       json_object_new_int64(interval_s));
	struct call *k = call_new(data);
	if (k)
		k->cb.status = cb;
	return run(c, "qom-set", args, status_done, k);
}

static void stats_done(qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct call *k = data;
	struct qmp_guest_stats st = {0};
	int err = reply_err(r);
	if (!err)
		err = qmp_guest_stats_parse(r->ret, &st);
	k->cb.stats(c, err, err ? NULL : &st, k->data);
	free(k);
}

int qmp_guest_stats_get(qmp_client *c, const char *path, qmp_stats_cb cb,
			void *data)
{
	json_object *args = qom_args(path, "guest-stats");
	if (!args)
		return -ENOMEM;
	struct call *k = call_new(data);
	if (k)
		k->cb.stats = cb;
	return run(c, "qom-get", args, stats_done, k);
}
