/*
 * jsontok.h: the json-c tokener that the control protocol's and QMP's
 * line parsers reuse. json_tokener_new's allocation (over a kilobyte,
 * which also makes malloc consolidate its free lists) cost about half as
 * much as parsing a short line, so each thread keeps one, in each file
 * that includes this, reset for every line and kept until the thread
 * ends. Header-only: the two protocols' libraries share no code.
 */
#ifndef BD_JSONTOK_H
#define BD_JSONTOK_H

#include <json-c/json.h>

/* The tokener, ready for a new text; NULL when out of memory. */
static inline json_tokener *bd_line_tokener(void)
{
	static _Thread_local json_tokener *tok;
	if (!tok)
		tok = json_tokener_new();
	else
		json_tokener_reset(tok);
	return tok;
}

#endif
