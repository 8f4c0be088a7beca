/* test-listener.c: balloond's network listener (daemon/listener.c) in
 * process, on clocks the test sets (daemon/clock.c), with real datagrams
 * on loopback. Its replay cache refuses what came before it was made; a
 * step back of the wall clock (NTP correcting a clock that ran ahead when
 * balloond started) must not make it refuse every notification until the
 * clock has caught up again, and still nothing is accepted twice. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/daemon.h"
#include "daemon/log.h"

static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
#define KEY_LEN 32
#define HOUR_MS (INT64_C(3600) * 1000)

static int64_t fake_wall_us, fake_mono_us;
static int64_t wall_us(void)
{
	return fake_wall_us;
}
static int64_t mono_us(void)
{
	return fake_mono_us;
}

struct env {
	uv_loop_t loop;
	struct bd bd;
	struct bd_source *src;
	char dir[64];
	int fd;			/* the sender's socket */
	struct sockaddr_in to;	/* the listener's address */
	struct bd_notify_key k; /* the cluster's key, for signing */
	uint8_t nonce;		/* the next datagram's nonce byte */
};

/* A UDP port free on loopback now (bound, then closed). */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	alarm(60);
	strcpy(e->dir, "/tmp/listenertest.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(uv_loop_init(&e->loop), 0);
	bd_log_setup(LOG_WARNING, true);

	char path[128];
	snprintf(path, sizeof(path), "%s/pg.key", e->dir);
	int kfd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(kfd >= 0);
	assert_int_equal(write(kfd, key, KEY_LEN), KEY_LEN);
	close(kfd);
	assert_int_equal(bd_notify_key_set(&e->k, key, KEY_LEN), 0);

	/* balloond starts with its wall clock an hour ahead. */
	fake_wall_us = (INT64_C(1800000000) * 1000 + HOUR_MS) * 1000;
	fake_mono_us = INT64_C(1000) * 1000000;
	struct bd *bd = &e->bd;
	bd->loop = &e->loop;
	bd->clock = (struct bd_clock){wall_us, mono_us};
	bd_conf_defaults(&bd->conf);
	bd->conf.listener_enabled = true;
	bd->conf.listener_port = (uint64_t)free_port();
	bd->conf.n_clusters = 1;
	snprintf(bd->conf.clusters[0].name, sizeof(bd->conf.clusters[0].name),
		 "pg");
	snprintf(bd->conf.clusters[0].notify_key_file,
		 sizeof(bd->conf.clusters[0].notify_key_file), "%s", path);
	assert_int_equal(bd_listener_source_new(bd, &e->src), 0);
	assert_int_equal(e->src->ops->start(e->src), 0);
	assert_true(bd->listener.up);

	e->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(e->fd >= 0);
	e->to = (struct sockaddr_in){
	    .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)bd->conf.listener_port)};
	e->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	e->src->ops->close(e->src, NULL);
	assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	bd_notify_key_clear(&e->k);
	close(e->fd);
	char path[128];
	snprintf(path, sizeof(path), "%s/pg.key", e->dir);
	unlink(path);
	rmdir(e->dir);
	free(e);
	return 0;
}

/* Sign a notification stamped ts_ms with a fresh nonce; send it; run the
 * loop until the listener counted one more datagram (5 s at most). The
 * counter that moved, or -1. n gets what was sent. */
static int deliver(struct env *e, int64_t ts_ms, struct bd_notify *n)
{
	if (ts_ms) {
		*n = (struct bd_notify){.version = BD_NOTIFY_VERSION,
					.timestamp_ms = ts_ms};
		snprintf(n->cluster, sizeof(n->cluster), "pg");
		snprintf(n->member, sizeof(n->member), "pg1");
		snprintf(n->role, sizeof(n->role), "leader");
		memset(n->nonce, ++e->nonce, sizeof(n->nonce));
		assert_int_equal(bd_notify_sign(n, &e->k), 0);
	}
	char buf[BD_NOTIFY_MAX_BYTES + 1];
	int len = bd_notify_encode(n, buf, sizeof(buf));
	assert_true(len > 0);
	uint64_t before[BD_NOTIFY_R_COUNT];
	memcpy(before, e->bd.listener.counts, sizeof(before));
	assert_int_equal(sendto(e->fd, buf, (size_t)len, 0,
				(struct sockaddr *)&e->to, sizeof(e->to)),
			 len);
	uint64_t deadline = uv_hrtime() + 5000 * UINT64_C(1000000);
	while (uv_hrtime() < deadline) {
		uv_run(&e->loop, UV_RUN_NOWAIT);
		for (int r = 0; r < BD_NOTIFY_R_COUNT; r++)
			if (e->bd.listener.counts[r] != before[r])
				return r;
		usleep(1000);
	}
	return -1;
}

/* Advance both clocks by ms (time passes). */
static void pass_ms(int64_t ms)
{
	fake_wall_us += ms * 1000;
	fake_mono_us += ms * 1000;
}

static void test_wall_clock_step_back(void **state)
{
	struct env *e = *state;
	struct bd_notify before, n;
	int64_t now_ms;

	/* Signed on the clock that runs ahead: accepted. */
	pass_ms(1000);
	now_ms = fake_wall_us / 1000;
	assert_int_equal(deliver(e, now_ms, &before), BD_NOTIFY_OK);

	/* NTP steps the wall clock back an hour, and a second passes: a
	 * notification signed on the right time is accepted. */
	fake_wall_us -= HOUR_MS * 1000;
	pass_ms(1000);
	now_ms = fake_wall_us / 1000;
	assert_int_equal(deliver(e, now_ms, &n), BD_NOTIFY_OK);
	/* ... and so is the next one, while the one before stays refused:
	 * it is an hour ahead now. */
	pass_ms(10);
	assert_int_equal(deliver(e, now_ms + 10, &n), BD_NOTIFY_OK);
	assert_int_equal(deliver(e, 0, &n), BD_NOTIFY_R_REPLAY);
	assert_int_equal(deliver(e, 0, &before), BD_NOTIFY_R_FUTURE);

	/* What was signed before the cache was made (2 s before the first
	 * of these two, on the clock as it reads now) is still refused: the
	 * floor moved back with the clock, not below the start. */
	int64_t start_ms = now_ms - 2000;
	assert_int_equal(deliver(e, start_ms - 5, &n), BD_NOTIFY_R_STALE);
	assert_int_equal(deliver(e, start_ms, &n), BD_NOTIFY_R_STALE);
	assert_int_equal(e->bd.listener.counts[BD_NOTIFY_OK], 3);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_wall_clock_step_back, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
