/*
 * events.c: the one internal event stream. Whatever happens (a plan, a
 * command, a link going down, a registration) is emitted once; monitors
 * on the control socket, the debug log and any later consumer are
 * subscribers, so a new consumer is one more subscriber.
 */
#include "daemon.h"

#include <string.h>

#include "log.h"
#include "proto/jsonprint.h"
#include "proto/proto.h"

void bd_events_subscribe(struct bd *bd, struct bd_subscriber *sub)
{
	/* struct bd starts zeroed: the list is set up with its first. */
	if (!bd->subscribers.tqh_last)
		TAILQ_INIT(&bd->subscribers);
	TAILQ_INSERT_HEAD(&bd->subscribers, sub, entry);
}

void bd_events_unsubscribe(struct bd *bd, struct bd_subscriber *sub)
{
	/* One that never subscribed (a start that failed early) is no
	 * error. */
	struct bd_subscriber *s;
	TAILQ_FOREACH (s, &bd->subscribers, entry) {
		if (s == sub) {
			TAILQ_REMOVE(&bd->subscribers, sub, entry);
			return;
		}
	}
}

static bool listed(const char *const *names, const char *name)
{
	/* Names are literals, most unlike from the first byte: strcmp only
	 * for those that may match (a burst asks for each guest). */
	for (const char *const *n = names; n && *n; n++)
		if (*n == name || (**n == *name && strcmp(*n, name) == 0))
			return true;
	return false;
}

static bool takes(struct bd *bd, struct bd_subscriber *s, const char *name)
{
	if (s->wants && !s->wants(bd, s->arg))
		return false;
	return !s->names || listed(s->names, name);
}

bool bd_event_wanted(struct bd *bd, const char *name)
{
	struct bd_subscriber *s;
	TAILQ_FOREACH (s, &bd->subscribers, entry)
		if (takes(bd, s, name))
			return true;
	return false;
}

bool bd_event_data_wanted(struct bd *bd, const char *name)
{
	struct bd_subscriber *s;
	TAILQ_FOREACH (s, &bd->subscribers, entry)
		if (takes(bd, s, name) && !listed(s->dataless, name))
			return true;
	return false;
}

json_object *bd_event_json(const struct bd_event *ev)
{
	return bd_event_new(ev->name, ev->time_us, json_object_get(ev->data));
}

void bd_emit(struct bd *bd, const char *name, struct bd_guest *g,
	     json_object *data)
{
	if (!data && bd_event_data_wanted(bd, name))
		data = json_object_new_object();
	if (data && g && !json_object_object_get_ex(data, "guest", NULL))
		bd_json_add_new(data, "guest",
				json_object_new_string(g->spec.name));
	struct bd_event ev = {
	    .name = name,
	    .guest = g,
	    .data = data,
	    .time_us = bd_wall_us(bd),
	};
	struct bd_subscriber *s = TAILQ_FIRST(&bd->subscribers), *next;
	for (; s; s = next) {
		/* A subscriber may unsubscribe itself. */
		next = TAILQ_NEXT(s, entry);
		if (takes(bd, s, name))
			s->fn(bd, &ev, s->arg);
	}
	json_object_put(data);
}
