/*
 * memtrim.c: the heap's free pages back to the kernel once the loop has
 * done a burst of work.
 *
 * A burst (a thousand registrations, status of a thousand guests, a
 * round of guest stats) allocates and frees many small blocks; glibc
 * keeps the freed ones, and only the top of the heap is given back by
 * itself, so the pages of the holes below a block that stays stay
 * resident. malloc_trim gives those back. It is called once the loop has
 * done some work since the last trim (its time outside of poll, as libuv
 * measures it) and then gone quiet, so that a burst is not slowed by
 * trims in its middle and an idle daemon never wakes up for one.
 */
#include "server.h"

#include <malloc.h>

/* The loop's work since the last trim that makes another worth it. */
#define TRIM_WORK_MS 25
/* The trim waits until the loop spent at most a tenth of this working... */
#define TRIM_QUIET_MS 100
/* ... but no longer than this after the work. */
#define TRIM_MAX_DELAY_MS 2000

/* One loop per daemon, so one trimmer per process. */
static struct {
	uv_loop_t *loop;
	uv_check_t check;
	uv_timer_t timer;
	uint64_t start_ns;	 /* uv_hrtime() when started */
	uint64_t trimmed_ns;	 /* work_ns() after the last trim */
	uint64_t armed_ns;	 /* work_ns() when the timer was last armed */
	uint64_t first_armed_ms; /* loop time it was armed for this burst */
} trim;

/* The loop's time outside of poll since bd_memtrim_start. */
static uint64_t work_ns(void)
{
	return uv_hrtime() - trim.start_ns - uv_metrics_idle_time(trim.loop);
}

static void timer_cb(uv_timer_t *t)
{
	uint64_t w = work_ns();
	if (w - trim.armed_ns > (uint64_t)TRIM_QUIET_MS * 1000000 / 10 &&
	    uv_now(trim.loop) - trim.first_armed_ms < TRIM_MAX_DELAY_MS) {
		/* Still busy: once it is over. */
		trim.armed_ns = w;
		uv_timer_start(&trim.timer, timer_cb, TRIM_QUIET_MS, 0);
		return;
	}
	malloc_trim(0);
	trim.trimmed_ns = work_ns();
}

/* After every loop iteration that had something to do (the loop only
 * gets here when it woke up anyway). */
static void check_cb(uv_check_t *h)
{
	if (uv_is_active((uv_handle_t *)&trim.timer))
		return;
	uint64_t w = work_ns();
	if (w - trim.trimmed_ns < (uint64_t)TRIM_WORK_MS * 1000000)
		return;
	trim.armed_ns = w;
	trim.first_armed_ms = uv_now(trim.loop);
	uv_timer_start(&trim.timer, timer_cb, TRIM_QUIET_MS, 0);
}

int bd_memtrim_start(struct bd *bd)
{
	int rc = uv_loop_configure(bd->loop, UV_METRICS_IDLE_TIME);
	if (rc)
		return rc;
	trim.loop = bd->loop;
	trim.start_ns = uv_hrtime();
	trim.trimmed_ns = work_ns();
	uv_check_init(bd->loop, &trim.check);
	uv_timer_init(bd->loop, &trim.timer);
	/* Neither keeps the loop running at shutdown. */
	uv_unref((uv_handle_t *)&trim.check);
	uv_unref((uv_handle_t *)&trim.timer);
	return uv_check_start(&trim.check, check_cb);
}

void bd_memtrim_close(struct bd *bd)
{
	if (trim.loop != bd->loop)
		return;
	trim.loop = NULL;
	uv_close((uv_handle_t *)&trim.check, NULL);
	uv_close((uv_handle_t *)&trim.timer, NULL);
}
