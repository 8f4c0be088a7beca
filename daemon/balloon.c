/*
 * balloon.c: the virtio-balloon actuator (actuator.h). A target is a
 * `balloon` command on the guest's QMP link, actual is query-balloon's
 * answer, and BALLOON_CHANGE reports it by itself.
 */
#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actuator.h"

/* One command or query in flight: the QMP library hands back one
 * pointer, and the guest alone does not say who waits. */
struct balloon_req {
	struct bd_guest *g;
	uint64_t target;
	bd_act_done_fn done;
	bd_act_query_fn query_done;
};

static void set_cb(qmp_client *c, int err, void *data)
{
	struct balloon_req *req = data;
	struct bd_guest *g = req->g;
	bd_act_done_fn done = req->done;
	uint64_t target = req->target;
	free(req);
	if (!done)
		return;
	struct bd_act_result r = {.err = err};
	if (err) {
		if (err == QMP_ERR_NO_BALLOON && !g->removed)
			g->link.no_balloon = true;
		r.error = qmp_strerror(err);
		r.detail = err == QMP_ERR_COMMAND ? qmp_client_last_error(c)
						  : qmp_strerror(err);
		/* A QEMU that stops answering keeps our link "ready" while
		 * every command times out: drop it; the reconnect (with
		 * backoff) then shows whether QEMU is alive. */
		if (err == -ETIMEDOUT && g->link.qmp && !g->removed)
			qmp_client_reset(g->link.qmp);
		/* No balloon device: nothing to retry until it reconnects. */
		r.retry = err != QMP_ERR_NO_BALLOON && err != -ECANCELED;
	}
	done(g, target, &r);
}

static int balloon_set(struct bd_guest *g, uint64_t target, bd_act_done_fn done)
{
	if (!g->link.qmp)
		return -ENOTCONN;
	struct balloon_req *req = malloc(sizeof(*req));
	if (!req)
		return -ENOMEM;
	*req = (struct balloon_req){.g = g, .target = target, .done = done};
	int rc = qmp_balloon_set(g->link.qmp, target, set_cb, req);
	if (rc)
		free(req);
	return rc;
}

static void query_cb(qmp_client *c, int err, uint64_t bytes, void *data)
{
	struct balloon_req *req = data;
	struct bd_guest *g = req->g;
	bd_act_query_fn done = req->query_done;
	free(req);
	done(g, err == QMP_ERR_NO_BALLOON ? -ENODEV : err, bytes);
}

static int balloon_query(struct bd_guest *g, bd_act_query_fn done)
{
	if (!g->link.qmp)
		return -ENOTCONN;
	struct balloon_req *req = malloc(sizeof(*req));
	if (!req)
		return -ENOMEM;
	*req = (struct balloon_req){.g = g, .query_done = done};
	int rc = qmp_balloon_query(g->link.qmp, query_cb, req);
	if (rc)
		free(req);
	return rc;
}

static bool balloon_moved(const struct bd_guest *g, uint64_t target,
			  uint64_t tolerance_bytes)
{
	if (!g->link.actual_known)
		return true;
	uint64_t actual = g->link.actual_bytes;
	uint64_t diff = actual > target ? actual - target : target - actual;
	return diff <= tolerance_bytes;
}

/* BALLOON_CHANGE: {"actual": bytes}. QEMU sends it at most once a
 * second, globally (rate-limited), so a wait polls with query. */
static bool balloon_event(const char *name, json_object *data, uint64_t *bytes)
{
	json_object *actual;
	if (strcmp(name, "BALLOON_CHANGE") != 0 || !data ||
	    !json_object_object_get_ex(data, "actual", &actual) ||
	    !json_object_is_type(actual, json_type_int) ||
	    json_object_get_int64(actual) < 0)
		return false;
	*bytes = json_object_get_uint64(actual);
	return true;
}

static const char *balloon_strerror(int err)
{
	return err == -ENODEV ? qmp_strerror(QMP_ERR_NO_BALLOON)
			      : qmp_strerror(err);
}

const struct bd_actuator_ops bd_balloon_ops = {
    .name = "virtio-balloon",
    .command = "balloon",
    .unit = "bytes",
    /* The driver moves whole pages: 4 KiB on x86. */
    .granularity_bytes = 4096,
    .set = balloon_set,
    .query = balloon_query,
    .moved = balloon_moved,
    .event = balloon_event,
    .strerror = balloon_strerror,
};
