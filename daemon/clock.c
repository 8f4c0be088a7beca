/* clock.c: the wall clock for people, the monotonic one for ages. */
#include "daemon.h"

#include <time.h>

static int64_t read_clock(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t real_wall_us(void)
{
	return read_clock(CLOCK_REALTIME);
}

static int64_t real_mono_us(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

const struct bd_clock bd_clock_real = {
    .wall_us = real_wall_us,
    .mono_us = real_mono_us,
};

int64_t bd_wall_us(const struct bd *bd)
{
	return bd->clock.wall_us ? bd->clock.wall_us() : real_wall_us();
}

int64_t bd_mono_us(const struct bd *bd)
{
	return bd->clock.mono_us ? bd->clock.mono_us() : real_mono_us();
}
