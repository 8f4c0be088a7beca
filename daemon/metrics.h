/*
 * metrics.h: balloond's metrics in the Prometheus text exposition format
 * (0.0.4). One renderer, fed from struct bd (the registry, the host
 * snapshot and the counters the event stream keeps), and the outlets that
 * serve what it renders.
 */
#ifndef BALLOOND_METRICS_H
#define BALLOOND_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct bd;

/* A growing text buffer. oom is set once an append failed; the text is
 * then incomplete and must not be served. */
struct bd_buf {
	char *p;
	size_t len, cap;
	bool oom;
};
void bd_buf_printf(struct bd_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void bd_buf_free(struct bd_buf *b);
/* Append n bytes of s, or the string s. */
void bd_buf_put(struct bd_buf *b, const char *s, size_t n);
#define bd_buf_puts(b, s) bd_buf_put((b), (s), strlen(s))
/* Append s as a label value: backslash, double quote and newline escaped
 * as the format requires. */
void bd_buf_label(struct bd_buf *b, const char *s);

/* Render every metric family into b (appended). 0, or -ENOMEM. */
int bd_metrics_render(struct bd *bd, struct bd_buf *b);

/* Start counting from the event stream (once, at start: the counters live
 * across reloads), and stop. */
int bd_metrics_init(struct bd *bd);
void bd_metrics_close(struct bd *bd);

#endif
