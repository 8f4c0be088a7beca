/*
 * qmp-rtt: round-trip time of query-balloon through the QMP client
 * library, one command at a time on one connection (what balloond does
 * when it polls a guest).
 *
 *   qmp-rtt [--count N] [--warmup N] SOCKET
 *
 * Prints one line: calls=N p50_us=.. p99_us=.. max_us=.. calls_per_s=..
 * cpu_us_per_call=.. (this process's user+system time over the timed calls:
 * the client's own cost, whatever the scheduler does) maxrss_kib=.. (the
 * process's peak RSS, getrusage). bench/run-qmp-rtt.sh
 * compares it with bench/qmp_rtt.py against tests/fake-qmp and real QEMU.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "qmp/qmp.h"

struct bench {
	uv_loop_t *loop;
	qmp_client *c;
	unsigned long warmup, count, done;
	uint64_t *rtt_ns;
	uint64_t sent_ns, start_ns, end_ns;
	uint64_t cpu_start_us, cpu_end_us;
	int err;
};

static void send_one(struct bench *b);

static uint64_t cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void size_cb(qmp_client *c, int err, uint64_t bytes, void *data)
{
	struct bench *b = data;
	uint64_t now = uv_hrtime();
	if (err) {
		fprintf(stderr, "qmp-rtt: query-balloon: %s\n",
			qmp_strerror(err));
		b->err = err;
		uv_stop(b->loop);
		return;
	}
	if (b->done >= b->warmup)
		b->rtt_ns[b->done - b->warmup] = now - b->sent_ns;
	if (++b->done == b->warmup) {
		b->start_ns = now;
		b->cpu_start_us = cpu_us();
	}
	if (b->done == b->warmup + b->count) {
		b->end_ns = now;
		b->cpu_end_us = cpu_us();
		uv_stop(b->loop);
		return;
	}
	send_one(b);
}

static void send_one(struct bench *b)
{
	b->sent_ns = uv_hrtime();
	int rc = qmp_balloon_query(b->c, size_cb, b);
	if (rc) {
		fprintf(stderr, "qmp-rtt: %s\n", qmp_strerror(rc));
		b->err = rc;
		uv_stop(b->loop);
	}
}

static void ready_cb(qmp_client *c, void *data)
{
	struct bench *b = data;
	b->start_ns = uv_hrtime();
	b->cpu_start_us = cpu_us();
	send_one(b);
}

static void disconnect_cb(qmp_client *c, int err, void *data)
{
	struct bench *b = data;
	fprintf(stderr, "qmp-rtt: %s: %s\n", qmp_client_socket_path(c),
		qmp_strerror(err));
	b->err = err ? err : -ECONNRESET;
	uv_stop(b->loop);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
static uint64_t percentile(const uint64_t *v, unsigned long n, unsigned p)
{
	unsigned long rank = (n * p + 99) / 100;
	return v[rank ? rank - 1 : 0];
}

int main(int argc, char **argv)
{
	struct bench b = {.count = 20000, .warmup = 100};
	struct qmp_config cfg = QMP_CONFIG_DEFAULT;
	const struct qmp_callbacks cbs = {
	    .ready_cb = ready_cb,
	    .disconnect_cb = disconnect_cb,
	};
	uv_loop_t loop;
	int i = 1;

	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		char *end;
		unsigned long v = strtoul(argv[i + 1], &end, 10);
		if (*end || *argv[i + 1] == '-') {
			fprintf(stderr, "qmp-rtt: bad number '%s'\n",
				argv[i + 1]);
			return 2;
		}
		if (strcmp(argv[i], "--count") == 0 && v > 0)
			b.count = v;
		else if (strcmp(argv[i], "--warmup") == 0)
			b.warmup = v;
		else
			break;
	}
	if (i != argc - 1) {
		fprintf(stderr,
			"usage: qmp-rtt [--count N] [--warmup N] SOCKET\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	b.rtt_ns = calloc(b.count, sizeof(*b.rtt_ns));
	if (!b.rtt_ns)
		return 1;
	cfg.socket_path = argv[i];
	uv_loop_init(&loop);
	b.loop = &loop;
	int rc = qmp_client_new(&loop, &cfg, &cbs, &b, &b.c);
	if (rc == 0)
		rc = qmp_client_start(b.c);
	if (rc) {
		fprintf(stderr, "qmp-rtt: %s: %s\n", argv[i], qmp_strerror(rc));
		return 3;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	qmp_client_close(b.c, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (b.err || b.done < b.warmup + b.count) {
		free(b.rtt_ns);
		return 3;
	}

	qsort(b.rtt_ns, b.count, sizeof(*b.rtt_ns), cmp_u64);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double secs = (double)(b.end_ns - b.start_ns) / 1e9;
	printf("calls=%lu p50_us=%.1f p99_us=%.1f max_us=%.1f "
	       "calls_per_s=%.0f cpu_us_per_call=%.2f maxrss_kib=%ld\n",
	       b.count, percentile(b.rtt_ns, b.count, 50) / 1e3,
	       percentile(b.rtt_ns, b.count, 99) / 1e3,
	       b.rtt_ns[b.count - 1] / 1e3, b.count / secs,
	       (double)(b.cpu_end_us - b.cpu_start_us) / b.count, ru.ru_maxrss);
	free(b.rtt_ns);
	return 0;
}
