/* spec.c: a guest's registration as JSON. Pure. */
#include "spec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "jsonprint.h"
#include "proto.h"

static int copy_string(json_object *params, const char *key, char *dst,
		       size_t size, bool required, char *msg, size_t msg_len)
{
	const char *v = NULL;
	int rc = bd_param_string(params, key, &v, msg, msg_len);
	if (rc == -ENOENT) {
		if (required)
			snprintf(msg, msg_len, "\"%s\" is required", key);
		return required ? -EINVAL : 0;
	}
	if (rc)
		return rc;
	if (strlen(v) >= size) {
		snprintf(msg, msg_len, "\"%s\" is longer than %zu characters",
			 key, size - 1);
		return -EINVAL;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int copy_size(json_object *params, const char *key, uint64_t *dst,
		     char *msg, size_t msg_len)
{
	int rc = bd_param_u64(params, key, dst, msg, msg_len);
	return rc == -ENOENT ? 0 : rc;
}

int bd_spec_parse(json_object *params, struct bd_guest_spec *spec, char *msg,
		  size_t msg_len)
{
	int64_t prio = 0;
	memset(spec, 0, sizeof(*spec));
	if (copy_string(params, "name", spec->name, sizeof(spec->name), true,
			msg, msg_len) ||
	    copy_string(params, "qmp", spec->qmp_path, sizeof(spec->qmp_path),
			true, msg, msg_len) ||
	    copy_string(params, "cluster", spec->cluster, sizeof(spec->cluster),
			false, msg, msg_len) ||
	    copy_string(params, "member", spec->member, sizeof(spec->member),
			false, msg, msg_len) ||
	    copy_size(params, "max_bytes", &spec->max_bytes, msg, msg_len) ||
	    copy_size(params, "min_bytes", &spec->min_bytes, msg, msg_len) ||
	    copy_size(params, "replica_target_bytes",
		      &spec->replica_target_bytes, msg, msg_len) ||
	    copy_size(params, "pin_bytes", &spec->pin_bytes, msg, msg_len))
		return -EINVAL;
	int rc = bd_param_i64(params, "priority", &prio, msg, msg_len);
	if (rc && rc != -ENOENT)
		return rc;
	if (prio < -1000 || prio > 1000) {
		snprintf(msg, msg_len,
			 "\"priority\" must be within [-1000, 1000]");
		return -EINVAL;
	}
	spec->priority = (int)prio;
	return 0;
}

json_object *bd_spec_to_json(const struct bd_guest_spec *s)
{
	json_object *o = json_object_new_object();
	bd_json_add_new(o, "name", json_object_new_string(s->name));
	bd_json_add_new(o, "qmp", json_object_new_string(s->qmp_path));
	if (s->max_bytes)
		bd_json_add_new(o, "max_bytes",
				json_object_new_int64((int64_t)s->max_bytes));
	if (s->min_bytes)
		bd_json_add_new(o, "min_bytes",
				json_object_new_int64((int64_t)s->min_bytes));
	if (s->replica_target_bytes)
		bd_json_add_new(
		    o, "replica_target_bytes",
		    json_object_new_int64((int64_t)s->replica_target_bytes));
	if (s->cluster[0]) {
		bd_json_add_new(o, "cluster",
				json_object_new_string(s->cluster));
		bd_json_add_new(o, "member", json_object_new_string(s->member));
	}
	if (s->priority)
		bd_json_add_new(o, "priority",
				json_object_new_int(s->priority));
	if (s->pin_bytes)
		bd_json_add_new(o, "pin_bytes",
				json_object_new_int64((int64_t)s->pin_bytes));
	return o;
}
