/*
 * actuator.c: the table of actuators (actuator.h). A new actuator is its
 * own file and one line here.
 */
#include "actuator.h"

#include <stddef.h>
#include <string.h>

const struct bd_actuator_ops *const bd_actuators[] = {
    &bd_balloon_ops,
    NULL,
};

const struct bd_actuator_ops *bd_actuator_find(const char *name)
{
	for (size_t i = 0; bd_actuators[i]; i++)
		if (strcmp(bd_actuators[i]->name, name) == 0)
			return bd_actuators[i];
	return NULL;
}
