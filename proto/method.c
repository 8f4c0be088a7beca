/* method.c: the methods' names, apart from proto.c's messages: the hooks
 * and Patroni's callback, which link no json-c (quickcall.h), name them
 * too. */
#include "proto.h"

static const char *const method_names[BD_M_COUNT] = {
#define BD_METHOD_NAME(id, name) [BD_M_##id] = name,
    BD_METHODS(BD_METHOD_NAME)
#undef BD_METHOD_NAME
};

const char *bd_method_name(enum bd_method m)
{
	return m < BD_M_COUNT ? method_names[m] : "?";
}
