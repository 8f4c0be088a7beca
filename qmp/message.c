/*
 * message.c: sort one QMP message into greeting, return, error or event.
 * Pure: no I/O, so the fuzzer and the unit tests drive it directly.
 */
#include "qmp.h"
#include "proto/jsontok.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *string_member(json_object *o, const char *key)
{
	json_object *v = member(o, key);
	return v && json_object_is_type(v, json_type_string)
		   ? json_object_get_string(v)
		   : NULL;
}

static void parse_id(json_object *root, struct qmp_message *out)
{
	json_object *id = member(root, "id");
	if (id && json_object_is_type(id, json_type_int)) {
		out->has_id = true;
		out->id = json_object_get_int64(id);
	}
}

static int64_t parse_timestamp(json_object *ts)
{
	json_object *s = member(ts, "seconds");
	json_object *us = member(ts, "microseconds");
	if (!s || !us || !json_object_is_type(s, json_type_int) ||
	    !json_object_is_type(us, json_type_int))
		return 0;
	int64_t sec = json_object_get_int64(s);
	int64_t usec = json_object_get_int64(us);
	if (sec < 0 || sec > INT64_MAX / 1000000 - 1 || usec < 0 ||
	    usec >= 1000000)
		return 0;
	return sec * 1000000 + usec;
}

static int classify(json_object *root, struct qmp_message *out)
{
	json_object *v;

	if ((v = member(root, "return"))) {
		out->kind = QMP_MSG_RETURN;
		out->ret = v;
		parse_id(root, out);
		return 0;
	}
	if ((v = member(root, "error"))) {
		if (!json_object_is_type(v, json_type_object))
			return QMP_ERR_PROTOCOL;
		out->kind = QMP_MSG_ERROR;
		out->error_class = string_member(v, "class");
		out->error_desc = string_member(v, "desc");
		if (!out->error_class)
			out->error_class = "GenericError";
		if (!out->error_desc)
			out->error_desc = "(no description)";
		parse_id(root, out);
		return 0;
	}
	if ((out->event = string_member(root, "event"))) {
		out->kind = QMP_MSG_EVENT;
		out->event_data = member(root, "data");
		out->timestamp_us = parse_timestamp(member(root, "timestamp"));
		return 0;
	}
	if ((v = member(root, "QMP")) &&
	    json_object_is_type(v, json_type_object)) {
		out->kind = QMP_MSG_GREETING;
		out->greeting = v;
		return 0;
	}
	return QMP_ERR_PROTOCOL;
}

int qmp_message_parse(const char *buf, size_t len, struct qmp_message *out)
{
	memset(out, 0, sizeof(*out));
	if (len > INT_MAX)
		return QMP_ERR_PROTOCOL;

	/* A command's empty answer is known by its text: only the empty
	 * object it returns is built (it stands for the whole message, which
	 * holds nothing else to keep). */
	int64_t id;
	if (bd_line_empty_return(buf, len, &id)) {
		json_object *ret = json_object_new_object();
		if (ret) {
			out->kind = QMP_MSG_RETURN;
			out->root = out->ret = ret;
			out->has_id = true;
			out->id = id;
			return 0;
		}
	}
	/* The usual message is read directly; any other goes to json-c's
	 * tokener (jsontok.h). */
	json_object *root = bd_line_object(buf, len);
	if (!root) {
		json_tokener *tok = bd_line_tokener();
		if (!tok)
			return QMP_ERR_PROTOCOL;
		root = json_tokener_parse_ex(tok, buf, (int)len);
		enum json_tokener_error jerr = json_tokener_get_error(tok);
		/* Exactly one complete object, nothing but white space after
		 * it. */
		bool trailing = false;
		if (root && jerr == json_tokener_success) {
			for (size_t i = json_tokener_get_parse_end(tok);
			     i < len; i++)
				if (!strchr(" \t\r\n", buf[i]))
					trailing = true;
		}
		if (!root || jerr != json_tokener_success || trailing ||
		    !json_object_is_type(root, json_type_object)) {
			json_object_put(root);
			return QMP_ERR_PROTOCOL;
		}
	}
	int rc = classify(root, out);
	if (rc) {
		json_object_put(root);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	out->root = root;
	return 0;
}

int qmp_greeting_parse(json_object *qmp, struct qmp_greeting *out)
{
	memset(out, 0, sizeof(*out));
	json_object *version = member(qmp, "version");
	json_object *qemu = version ? member(version, "qemu") : NULL;
	if (!qemu || !json_object_is_type(qemu, json_type_object))
		return QMP_ERR_PROTOCOL;
	out->major = json_object_get_int(member(qemu, "major"));
	out->minor = json_object_get_int(member(qemu, "minor"));
	out->micro = json_object_get_int(member(qemu, "micro"));
	const char *pkg = string_member(version, "package");
	if (pkg)
		snprintf(out->package, sizeof(out->package), "%s", pkg);
	json_object *caps = member(qmp, "capabilities");
	size_t n = caps && json_object_is_type(caps, json_type_array)
		       ? json_object_array_length(caps)
		       : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *cap = json_object_array_get_idx(caps, i);
		if (json_object_is_type(cap, json_type_string) &&
		    strcmp(json_object_get_string(cap), "oob") == 0)
			out->capabilities |= QMP_CAP_OOB;
	}
	return 0;
}

/* QEMU reports unsupported figures as -1, which json-c reads as a uint64
 * of all ones or an int64 of -1 depending on how it was printed. */
static uint64_t stat_member(json_object *stats, const char *key)
{
	json_object *v = member(stats, key);
	if (!v || !json_object_is_type(v, json_type_int))
		return UINT64_MAX;
	if (json_object_get_int64(v) < 0)
		return UINT64_MAX;
	return json_object_get_uint64(v);
}

int qmp_guest_stats_parse(json_object *ret, struct qmp_guest_stats *out)
{
	json_object *stats = ret ? member(ret, "stats") : NULL;
	json_object *lu = ret ? member(ret, "last-update") : NULL;
	if (!stats || !json_object_is_type(stats, json_type_object) || !lu ||
	    !json_object_is_type(lu, json_type_int))
		return QMP_ERR_PROTOCOL;
	out->free_bytes = stat_member(stats, "stat-free-memory");
	out->available_bytes = stat_member(stats, "stat-available-memory");
	out->caches_bytes = stat_member(stats, "stat-disk-caches");
	out->total_bytes = stat_member(stats, "stat-total-memory");
	out->last_update = json_object_get_int64(lu);
	return 0;
}
