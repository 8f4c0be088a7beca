/*
 * events.c: the one internal event stream. Whatever happens (a plan, a
 * command, a link going down, a registration) is emitted once; monitors
 * on the control socket, the debug log and any later consumer are
 * subscribers, so a new consumer is one more subscriber.
 */
#include "daemon.h"

#include "log.h"
#include "proto/proto.h"

void bd_events_subscribe(struct bd *bd, struct bd_subscriber *sub)
{
	sub->next = bd->subscribers;
	bd->subscribers = sub;
}

void bd_events_unsubscribe(struct bd *bd, struct bd_subscriber *sub)
{
	for (struct bd_subscriber **p = &bd->subscribers; *p; p = &(*p)->next)
		if (*p == sub) {
			*p = sub->next;
			return;
		}
}

json_object *bd_event_json(const struct bd_event *ev)
{
	return bd_event_new(ev->name, ev->time_us, json_object_get(ev->data));
}

void bd_emit(struct bd *bd, const char *name, struct bd_guest *g,
	     json_object *data)
{
	if (!data)
		data = json_object_new_object();
	if (g && !json_object_object_get_ex(data, "guest", NULL))
		json_object_object_add(data, "guest",
				       json_object_new_string(g->spec.name));
	struct bd_event ev = {
	    .name = name,
	    .guest = g,
	    .data = data,
	    .time_us = bd_wall_us(bd),
	};
	struct bd_subscriber *s = bd->subscribers, *next;
	for (; s; s = next) {
		next = s->next; /* a subscriber may unsubscribe itself */
		if (!s->wants || s->wants(bd, s->arg))
			s->fn(bd, &ev, s->arg);
	}
	json_object_put(data);
}
