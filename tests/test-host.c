/*
 * test-host.c: the host-memory source and the ZFS ARC writer.
 *
 * The parsers run on text in the kernel's own formats (Linux 6.1's
 * /proc/meminfo and /proc/pressure/memory, OpenZFS 2.1's arcstats kstat)
 * and on garbage. The source runs on the loop against fixture trees given
 * as proc_root: readings land in bd->host, a change replans and an
 * unchanged host does not (plans counted through a scripted bd->decide),
 * and a fixture is never written to. The PSI trigger is armed for real on
 * /proc when the kernel lets us (a skip, not a failure, when it does
 * not). The ARC writer runs against a fixture sys_root.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/daemon.h"
#include "daemon/host.h"
#include "daemon/log.h"
#include "tests/lib/timescale.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* ---- fixtures in the kernel's formats ---- */

/* /proc/meminfo as Linux 6.1 prints it (fs/proc/meminfo.c: the name
 * padded to 16 columns, the value right-aligned in 8, " kB"). */
static void format_meminfo(char *buf, size_t size, uint64_t total_kib,
			   uint64_t avail_kib)
{
	snprintf(buf, size,
		 "MemTotal:       %8llu kB\n"
		 "MemFree:         1843212 kB\n"
		 "MemAvailable:   %8llu kB\n"
		 "Buffers:           52340 kB\n"
		 "Cached:          3218840 kB\n"
		 "SwapCached:            0 kB\n"
		 "Active:         11843620 kB\n"
		 "Inactive:        4123456 kB\n"
		 "Active(anon):   10235412 kB\n"
		 "Inactive(anon):   812344 kB\n"
		 "Active(file):    1608208 kB\n"
		 "Inactive(file):  3311112 kB\n"
		 "Unevictable:       23456 kB\n"
		 "Mlocked:           23456 kB\n"
		 "SwapTotal:       8388604 kB\n"
		 "SwapFree:        8388604 kB\n"
		 "Zswap:                 0 kB\n"
		 "Zswapped:              0 kB\n"
		 "Dirty:               412 kB\n"
		 "Writeback:             0 kB\n"
		 "AnonPages:      11012345 kB\n"
		 "Mapped:           412340 kB\n"
		 "Shmem:             35412 kB\n"
		 "KReclaimable:     412312 kB\n"
		 "Slab:            1823412 kB\n"
		 "SReclaimable:     412312 kB\n"
		 "SUnreclaim:      1411100 kB\n"
		 "KernelStack:       23456 kB\n"
		 "PageTables:        61234 kB\n"
		 "SecPageTables:         0 kB\n"
		 "NFS_Unstable:          0 kB\n"
		 "Bounce:                0 kB\n"
		 "WritebackTmp:          0 kB\n"
		 "CommitLimit:    41943036 kB\n"
		 "Committed_AS:   18234512 kB\n"
		 "VmallocTotal:   34359738367 kB\n"
		 "VmallocUsed:      234512 kB\n"
		 "VmallocChunk:          0 kB\n"
		 "Percpu:            34560 kB\n"
		 "HardwareCorrupted:     0 kB\n"
		 "AnonHugePages:   8192000 kB\n"
		 "ShmemHugePages:        0 kB\n"
		 "ShmemPmdMapped:        0 kB\n"
		 "FileHugePages:         0 kB\n"
		 "FilePmdMapped:         0 kB\n"
		 "HugePages_Total:       0\n"
		 "HugePages_Free:        0\n"
		 "HugePages_Rsvd:        0\n"
		 "HugePages_Surp:        0\n"
		 "Hugepagesize:       2048 kB\n"
		 "Hugetlb:               0 kB\n"
		 "DirectMap4k:      612340 kB\n"
		 "DirectMap2M:    25567232 kB\n"
		 "DirectMap1G:    42991616 kB\n",
		 (unsigned long long)total_kib, (unsigned long long)avail_kib);
}

/* /proc/pressure/memory (kernel/sched/psi.c, psi_show). */
static void format_psi(char *buf, size_t size, const char *some_avg10,
		       const char *full_avg10)
{
	snprintf(buf, size,
		 "some avg10=%s avg60=0.87 avg300=0.21 total=12345678\n"
		 "full avg10=%s avg60=0.30 avg300=0.07 total=4567890\n",
		 some_avg10, full_avg10);
}

/* OpenZFS 2.1's /proc/spl/kstat/zfs/arcstats: the kstat header, the
 * column names, then NAME TYPE DATA rows (type 4: uint64, 3: int64). */
static void format_arcstats(char *buf, size_t size, uint64_t arc_size,
			    uint64_t c_min, uint64_t c_max)
{
	snprintf(buf, size,
		 "13 1 0x01 123 33456 5029341722 1234567890123\n"
		 "name                            type data\n"
		 "hits                            4    981234567\n"
		 "misses                          4    1234567\n"
		 "demand_data_hits                4    712345678\n"
		 "demand_data_misses              4    234567\n"
		 "mru_hits                        4    123456789\n"
		 "mfu_hits                        4    834567890\n"
		 "hash_elements                   4    2345678\n"
		 "p                               4    33822867456\n"
		 "c                               4    %llu\n"
		 "c_min                           4    %llu\n"
		 "c_max                           4    %llu\n"
		 "size                            4    %llu\n"
		 "compressed_size                 4    39728447488\n"
		 "uncompressed_size               4    52613349376\n"
		 "overhead_size                   4    1234567890\n"
		 "data_size                       4    40802189312\n"
		 "l2_size                         4    0\n"
		 "memory_all_bytes                4    68719476736\n"
		 "memory_free_bytes               4    1887436800\n"
		 "memory_available_bytes          3    -1073741824\n"
		 "arc_no_grow                     4    0\n"
		 "arc_meta_used                   4    2476824464\n"
		 "arc_meta_limit                  4    50734301184\n"
		 "arc_sys_free                    4    2147483648\n"
		 "arc_raw_size                    4    0\n",
		 (unsigned long long)c_max, (unsigned long long)c_min,
		 (unsigned long long)c_max, (unsigned long long)arc_size);
}

/* ---- the parsers ---- */

static void test_meminfo_real(void **state)
{
	char buf[4096];
	uint64_t total = 1, avail = 1;
	const char *why = NULL;
	format_meminfo(buf, sizeof(buf), 67108864, 6291456);
	assert_int_equal(
	    bd_host_parse_meminfo(buf, strlen(buf), &total, &avail, &why), 0);
	assert_int_equal(total, 64 * GiB);
	assert_int_equal(avail, 6 * GiB);

	/* Only the named fields count, wherever they are, and a file without
	 * its final newline is whole. */
	const char *t = "MemFree: 1 kB\nMemAvailable:\t2048 kB\nMemTotal: "
			"4096 kB";
	assert_int_equal(
	    bd_host_parse_meminfo(t, strlen(t), &total, &avail, &why), 0);
	assert_int_equal(total, 4 * MiB);
	assert_int_equal(avail, 2 * MiB);
}

static void expect_meminfo_error(const char *text, size_t len, int err)
{
	uint64_t total = 7, avail = 7;
	const char *why = NULL;
	assert_int_equal(bd_host_parse_meminfo(text, len, &total, &avail, &why),
			 err);
	assert_non_null(why);
	assert_int_equal(total, 0);
	assert_int_equal(avail, 0);
}

static void test_meminfo_garbage(void **state)
{
	static const struct {
		const char *text;
		int err;
	} cases[] = {
	    {"", -ENODATA},
	    {"\n\n\n", -ENODATA},
	    {"MemTotal: 1024 kB\n", -ENODATA},
	    {"MemAvailable: 1024 kB\n", -ENODATA},
	    {"MemTotal: abc kB\nMemAvailable: 1 kB\n", -EINVAL},
	    {"MemTotal: 1024\nMemAvailable: 1 kB\n", -EINVAL},
	    {"MemTotal: 1024 MB\nMemAvailable: 1 kB\n", -EINVAL},
	    {"MemTotal: 1024 kB junk\nMemAvailable: 1 kB\n", -EINVAL},
	    {"MemTotal: -1024 kB\nMemAvailable: 1 kB\n", -EINVAL},
	    {"MemTotal: 0 kB\nMemAvailable: 0 kB\n", -ERANGE},
	    {"MemTotal: 1024 kB\nMemAvailable: 2048 kB\n", -ERANGE},
	    /* Beyond 64 bits, and beyond 64 bits once in bytes. */
	    {"MemTotal: 99999999999999999999999 kB\nMemAvailable: 1 kB\n",
	     -ERANGE},
	    {"MemTotal: 18014398509481984 kB\nMemAvailable: 1 kB\n", -ERANGE},
	    {"MemTotal 1024 kB\nMemAvailable 1024 kB\n", -ENODATA},
	    {"memtotal: 1024 kB\nmemavailable: 1024 kB\n", -ENODATA},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_meminfo_error(cases[i].text, strlen(cases[i].text),
				     cases[i].err);

	/* A length that cuts the text short is obeyed: cut inside
	 * MemAvailable's number, the "512 kB" past the end is not read. */
	const char *t = "MemTotal: 1024 kB\nMemAvailable: 512 kB\n";
	expect_meminfo_error(t, strlen("MemTotal: 1024 kB\nMemAvailable: 51"),
			     -EINVAL);
	expect_meminfo_error(t, strlen("MemTotal: 1024 kB\nMemAvail"),
			     -ENODATA);
	/* NUL bytes inside are just bytes. */
	char nul[] = "MemTotal: 1024 kB\n\0MemAvailable: 512 kB\n";
	expect_meminfo_error(nul, sizeof(nul) - 1, -ENODATA);
}

static void test_psi_real(void **state)
{
	char buf[256];
	uint32_t some = 1, full = 1;
	const char *why = NULL;
	format_psi(buf, sizeof(buf), "1.23", "0.45");
	assert_int_equal(
	    bd_host_parse_psi(buf, strlen(buf), &some, &full, &why), 0);
	assert_int_equal(some, 123);
	assert_int_equal(full, 45);

	format_psi(buf, sizeof(buf), "100.00", "0.00");
	assert_int_equal(
	    bd_host_parse_psi(buf, strlen(buf), &some, &full, &why), 0);
	assert_int_equal(some, 10000);
	assert_int_equal(full, 0);

	/* Only "some" is required; one fraction digit is tenths. */
	const char *t = "some avg10=7.5 avg60=0.00 avg300=0.00 total=0";
	assert_int_equal(bd_host_parse_psi(t, strlen(t), &some, &full, &why),
			 0);
	assert_int_equal(some, 750);
	assert_int_equal(full, 0);
}

static void test_psi_garbage(void **state)
{
	static const struct {
		const char *text;
		int err;
	} cases[] = {
	    {"", -ENODATA},
	    {"full avg10=1.00 avg60=0.00 avg300=0.00 total=0\n", -ENODATA},
	    {"some avg60=1.00 avg300=0.00 total=0\n", -EINVAL},
	    {"some avg10=abc avg60=0.00\n", -EINVAL},
	    {"some avg10= avg60=0.00\n", -EINVAL},
	    {"some avg10=.5\n", -EINVAL},
	    {"some avg10=1.23x\n", -EINVAL},
	    {"some avg10=100.01\n", -ERANGE},
	    {"some avg10=101\n", -ERANGE},
	    {"some avg10=99999999999999999999999\n", -ERANGE},
	    {"some avg10=1.00\nfull avg10=nope\n", -EINVAL},
	    {"somebody avg10=1.00\n", -ENODATA},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t some = 7, full = 7;
		const char *why = NULL;
		assert_int_equal(bd_host_parse_psi(cases[i].text,
						   strlen(cases[i].text), &some,
						   &full, &why),
				 cases[i].err);
		assert_non_null(why);
		assert_int_equal(some, 0);
		assert_int_equal(full, 0);
	}
	/* Cut after "avg10=1.2": 120, not the 123 past the end. */
	const char *t = "some avg10=1.23 avg60=0.00\n";
	uint32_t some, full;
	assert_int_equal(
	    bd_host_parse_psi(t, strlen("some avg10=1.2"), &some, &full, NULL),
	    0);
	assert_int_equal(some, 120);
}

static void test_arcstats_real(void **state)
{
	char buf[4096];
	uint64_t size = 1, c_min = 1, c_max = 1;
	const char *why = NULL;
	/* The incident's ARC: allowed nearly all of a 64 GiB host. */
	format_arcstats(buf, sizeof(buf), 40 * GiB, 2 * GiB, 63 * GiB);
	assert_int_equal(bd_host_parse_arcstats(buf, strlen(buf), &size, &c_min,
						&c_max, &why),
			 0);
	assert_int_equal(size, 40 * GiB);
	assert_int_equal(c_min, 2 * GiB);
	assert_int_equal(c_max, 63 * GiB);

	/* Rows that end in "size" are other rows. */
	const char *t = "compressed_size 4 5\nl2_size 4 6\nsize 4 7\n"
			"c_min 4 8\nc_max 4 9\n";
	assert_int_equal(
	    bd_host_parse_arcstats(t, strlen(t), &size, &c_min, &c_max, &why),
	    0);
	assert_int_equal(size, 7);
	assert_int_equal(c_min, 8);
	assert_int_equal(c_max, 9);
}

static void test_arcstats_garbage(void **state)
{
	static const struct {
		const char *text;
		int err;
	} cases[] = {
	    {"", -ENODATA},
	    {"13 1 0x01 123 33456 5029341722 1234567890123\n"
	     "name                            type data\n",
	     -ENODATA},
	    {"size 4 1\nc_min 4 2\n", -ENODATA},
	    {"size 4 1\nc_max 4 2\n", -ENODATA},
	    {"size 4 abc\nc_min 4 2\nc_max 4 3\n", -EINVAL},
	    {"size 4 -1\nc_min 4 2\nc_max 4 3\n", -EINVAL},
	    {"size 4\nc_min 4 2\nc_max 4 3\n", -EINVAL},
	    {"size 4 1 extra\nc_min 4 2\nc_max 4 3\n", -EINVAL},
	    {"size 4 12ab\nc_min 4 2\nc_max 4 3\n", -EINVAL},
	    {"size 4 99999999999999999999999\nc_min 4 2\nc_max 4 3\n", -EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t size = 7, c_min = 7, c_max = 7;
		const char *why = NULL;
		assert_int_equal(
		    bd_host_parse_arcstats(cases[i].text, strlen(cases[i].text),
					   &size, &c_min, &c_max, &why),
		    cases[i].err);
		assert_non_null(why);
		assert_int_equal(size + c_min + c_max, 0);
	}
}

/* Random bytes, and real text with random bytes changed or cut short:
 * no crash, no read past the length (ASan builds catch that), and the
 * outputs keep their promises. Deterministic (a fixed xorshift seed). */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void check_all_parsers(const char *buf, size_t len)
{
	/* An exact-size copy, so that a read past len is a heap overflow. */
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, buf, len);
	uint64_t a, b, c;
	uint32_t x, y;
	const char *why = NULL;
	if (bd_host_parse_meminfo(copy, len, &a, &b, &why) == 0)
		assert_true(a > 0 && b <= a);
	else
		assert_true(why && a == 0 && b == 0);
	why = NULL;
	if (bd_host_parse_psi(copy, len, &x, &y, &why) == 0)
		assert_true(x <= 10000 && y <= 10000);
	else
		assert_true(why && x == 0 && y == 0);
	why = NULL;
	if (bd_host_parse_arcstats(copy, len, &a, &b, &c, &why) != 0)
		assert_true(why && a == 0 && b == 0 && c == 0);
	free(copy);
}

static void test_parsers_survive_noise(void **state)
{
	static const char alphabet[] = "MemTotalAvailable: kB\n\t 0123456789.="
				       "someavg10fullsizec_minc_max";
	char real[3][4096], buf[4096];
	format_meminfo(real[0], sizeof(real[0]), 67108864, 6291456);
	format_psi(real[1], sizeof(real[1]), "1.23", "0.45");
	format_arcstats(real[2], sizeof(real[2]), 40 * GiB, 2 * GiB, 63 * GiB);
	for (int round = 0; round < 20000; round++) {
		size_t len;
		if (round % 2) {
			const char *src = real[round % 3];
			len = strlen(src);
			memcpy(buf, src, len);
			for (int k = next_rand() % 8; k >= 0; k--)
				buf[next_rand() % len] = (char)next_rand();
			len = next_rand() % (len + 1);
		} else {
			len = next_rand() % 200;
			for (size_t i = 0; i < len; i++)
				buf[i] = round % 4
					     ? alphabet[next_rand() %
							(sizeof(alphabet) - 1)]
					     : (char)next_rand();
		}
		check_all_parsers(buf, len);
	}
}

/* ---- the source on a fixture tree ---- */

struct env {
	uv_loop_t loop;
	struct bd bd;
	char dir[64];
	struct bd_source *src;
	int plans;		 /* calls of the scripted policy */
	struct policy_host seen; /* the host as the last plan was told */
	int closed;		 /* the source's done callback */
};

static struct env *the_env;

static int counting_decide(const struct policy_input *in,
			   struct policy_decision *d, struct policy_plan *plan)
{
	the_env->plans++;
	the_env->seen = in->host;
	plan->n_actions = plan->n_steps = 0;
	/* The planner keeps the policy's reclaiming state in bd->host: hand
	 * back what came in, so that it passes through unchanged. */
	plan->reclaiming = in->host.reclaiming;
	for (size_t i = 0; i < in->n_guests; i++)
		d[i] = (struct policy_decision){.reason = "scripted"};
	return 0;
}

static void write_file(const char *dir, const char *rel, const char *text)
{
	char path[256], tmp[272];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	/* Replace whole (rename), as the kernel's files change at once. */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static void put_meminfo(struct env *e, uint64_t total, uint64_t avail)
{
	char buf[4096];
	format_meminfo(buf, sizeof(buf), total / KiB, avail / KiB);
	write_file(e->dir, "meminfo", buf);
}

static void put_psi(struct env *e, const char *some, const char *full)
{
	char buf[256];
	format_psi(buf, sizeof(buf), some, full);
	write_file(e->dir, "pressure/memory", buf);
}

static void put_arc(struct env *e, uint64_t size, uint64_t c_min,
		    uint64_t c_max)
{
	char buf[4096];
	format_arcstats(buf, sizeof(buf), size, c_min, c_max);
	write_file(e->dir, "spl/kstat/zfs/arcstats", buf);
}

static void make_dir(const char *dir, const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void rm_tree(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void expire_cb(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Run the loop until cond holds or ms (a deadline: times test_time_scale())
 * passed; whether it held. Without cond, for ms exactly. */
static bool run_until(struct env *e, bool (*cond)(struct env *), uint64_t ms)
{
	bool expired = false, met;
	uv_timer_t t;
	uv_update_time(&e->loop);
	uv_timer_init(&e->loop, &t);
	t.data = &expired;
	uv_timer_start(&t, expire_cb, cond ? ms * test_time_scale() : ms, 0);
	while (!(met = cond && cond(e)) && !expired)
		uv_run(&e->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&e->loop, UV_RUN_NOWAIT);
	return met;
}

static void run_for(struct env *e, uint64_t ms)
{
	run_until(e, NULL, ms);
}

static bool was_read(struct env *e)
{
	return e->bd.host_read_us != 0;
}

/* Read the fixture again: a few intervals, so that any replan it asks
 * for has run. */
static void some_ticks(struct env *e)
{
	int64_t before = e->bd.host_read_us;
	run_for(e, 5 * e->bd.conf.host_interval_ms);
	/* The source did read meanwhile, so that a plan count that stayed
	 * put means something. */
	assert_true(e->bd.host_read_us > before);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	alarm(60 * test_time_scale());
	strcpy(e->dir, "/tmp/hosttest.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	make_dir(e->dir, "pressure");
	make_dir(e->dir, "spl");
	make_dir(e->dir, "spl/kstat");
	make_dir(e->dir, "spl/kstat/zfs");
	assert_int_equal(uv_loop_init(&e->loop), 0);
	bd_log_setup(LOG_WARNING, true);

	struct bd *bd = &e->bd;
	bd->loop = &e->loop;
	bd->clock = bd_clock_real;
	bd_conf_defaults(&bd->conf);
	snprintf(bd->conf.state_dir, sizeof(bd->conf.state_dir), "%s", e->dir);
	snprintf(bd->conf.proc_root, sizeof(bd->conf.proc_root), "%s", e->dir);
	snprintf(bd->conf.sys_root, sizeof(bd->conf.sys_root), "%s/sys",
		 e->dir);
	bd->conf.stats_interval_s = 0;
	bd->conf.host_interval_ms = 20;
	bd->decide = counting_decide;
	the_env = e;
	bd_plan_init(bd);
	assert_int_equal(bd_exec_init(bd), 0);
	*state = e;
	return 0;
}

static void source_done(struct bd_source *s)
{
	the_env->closed++;
}

static int teardown(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	if (e->src) {
		if (e->src->running)
			e->src->ops->stop(e->src);
		e->src->ops->close(e->src, source_done);
	}
	bd_plan_close(bd);
	bd_exec_close(bd);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	/* Every handle closed: the loop closes, and done came once. */
	int rc = uv_loop_close(&e->loop);
	int closed = e->closed;
	bool had_src = e->src != NULL;
	free(bd->index);
	rm_tree(e->dir);
	free(e);
	alarm(0);
	return rc == 0 && closed == (had_src ? 1 : 0) ? 0 : -1;
}

static void start_source(struct env *e)
{
	assert_int_equal(bd_host_source_new(&e->bd, &e->src), 0);
	assert_string_equal(e->src->ops->name, "host-memory");
	assert_int_equal(e->src->ops->start(e->src), 0);
	e->src->running = true;
}

static void test_source_reads_the_incident(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	/* The incident: a 64 GiB host whose ARC may take 63 GiB and holds 40,
	 * leaving MemAvailable at 6 GiB. */
	put_meminfo(e, 64 * GiB, 6 * GiB);
	put_psi(e, "1.23", "0.45");
	put_arc(e, 40 * GiB, 2 * GiB, 63 * GiB);
	/* Fields that are not the source's pass through. */
	bd->host.reclaiming = true;
	bd->host.arc_max_set_bytes = 12 * GiB;

	start_source(e);
	assert_true(run_until(e, was_read, 2000));
	assert_true(bd->host.known);
	assert_int_equal(bd->host.mem_total_bytes, 64 * GiB);
	assert_int_equal(bd->host.mem_available_bytes, 6 * GiB);
	assert_int_equal(bd->host.psi_some_avg10_x100, 123);
	assert_int_equal(bd->host.psi_full_avg10_x100, 45);
	assert_true(bd->host.arc_present);
	assert_int_equal(bd->host.arc_size_bytes, 40 * GiB);
	assert_int_equal(bd->host.arc_c_min_bytes, 2 * GiB);
	assert_int_equal(bd->host.arc_c_max_bytes, 63 * GiB);
	assert_true(bd->host.reclaiming);
	assert_int_equal(bd->host.arc_max_set_bytes, 12 * GiB);
	assert_false(bd->host.psi_event);
	/* No trigger on a fixture, and status says why. */
	assert_false(bd->psi_trigger_armed);
	assert_non_null(strstr(bd->host_error, "not the kernel's"));
	/* The first reading is news to the policy, and reaches it. */
	run_for(e, 50);
	assert_int_equal(e->plans, 1);
	assert_true(e->seen.known);
	assert_int_equal(e->seen.mem_available_bytes, 6 * GiB);
	assert_int_equal(e->seen.arc_c_max_bytes, 63 * GiB);
	assert_int_equal(e->seen.psi_some_avg10_x100, 123);
}

static void test_missing_psi_and_arc_are_fine(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	put_meminfo(e, 8 * GiB, 5 * GiB);
	bd->host.arc_present = true; /* stale: the source must clear it */
	bd->host.psi_some_avg10_x100 = 99;
	start_source(e);
	assert_true(run_until(e, was_read, 2000));
	assert_true(bd->host.known);
	assert_int_equal(bd->host.mem_available_bytes, 5 * GiB);
	assert_int_equal(bd->host.psi_some_avg10_x100, 0);
	assert_false(bd->host.arc_present);
	assert_int_equal(bd->host.arc_c_max_bytes, 0);
	assert_false(bd->psi_trigger_armed);
	/* No pressure file, so the trigger could not even be opened. */
	assert_non_null(strstr(bd->host_error, "pressure/memory"));
}

static bool plans_is_2(struct env *e)
{
	return e->plans >= 2;
}

static void test_changes_replan_and_quiet_does_not(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	/* A 1 GiB host: 1 % is below 16 MiB, so 16 MiB is the threshold. */
	put_meminfo(e, 1 * GiB, 512 * MiB);
	put_psi(e, "0.00", "0.00");
	put_arc(e, 100 * MiB, 32 * MiB, 512 * MiB);
	start_source(e);
	assert_true(run_until(e, was_read, 2000));
	run_for(e, 50);
	assert_int_equal(e->plans, 1);

	/* Unchanged: no replan, tick after tick. */
	some_ticks(e);
	assert_int_equal(e->plans, 1);

	/* MemAvailable drifts by 8 MiB at a time: noise, until it adds up
	 * to more than 16 MiB since the last plan. */
	put_meminfo(e, 1 * GiB, 504 * MiB);
	some_ticks(e);
	assert_int_equal(e->plans, 1);
	assert_int_equal(bd->host.mem_available_bytes, 504 * MiB);
	put_meminfo(e, 1 * GiB, 496 * MiB);
	some_ticks(e);
	assert_int_equal(e->plans, 1);
	put_meminfo(e, 1 * GiB, 488 * MiB);
	some_ticks(e);
	assert_int_equal(e->plans, 2);

	/* PSI's average moves: a replan; then quiet again. */
	put_psi(e, "5.00", "0.00");
	some_ticks(e);
	assert_int_equal(e->plans, 3);
	assert_int_equal(bd->host.psi_some_avg10_x100, 500);
	some_ticks(e);
	assert_int_equal(e->plans, 3);

	/* The ARC grows by 8 MiB (noise), then by 64 MiB. */
	put_arc(e, 108 * MiB, 32 * MiB, 512 * MiB);
	some_ticks(e);
	assert_int_equal(e->plans, 3);
	put_arc(e, 172 * MiB, 32 * MiB, 512 * MiB);
	some_ticks(e);
	assert_int_equal(e->plans, 4);
	/* Its cap changes (zfs_arc_max written): a replan. */
	put_arc(e, 172 * MiB, 32 * MiB, 256 * MiB);
	some_ticks(e);
	assert_int_equal(e->plans, 5);

	/* meminfo garbled: the host becomes unknown (a replan), and status
	 * says why; readable again: known, and a replan. */
	write_file(e->dir, "meminfo", "MemTotal: lots\n");
	some_ticks(e);
	assert_int_equal(e->plans, 6);
	assert_false(bd->host.known);
	assert_int_equal(bd->host.mem_total_bytes, 0);
	assert_non_null(strstr(bd->host_error, "meminfo"));
	assert_non_null(strstr(bd->host_error, "MemTotal"));
	some_ticks(e);
	assert_int_equal(e->plans, 6);
	put_meminfo(e, 1 * GiB, 488 * MiB);
	some_ticks(e);
	assert_int_equal(e->plans, 7);
	assert_true(bd->host.known);
	assert_null(strstr(bd->host_error, "meminfo"));
}

static void test_large_host_threshold_is_one_percent(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	/* 64 GiB: 1 % is about 655 MiB. */
	put_meminfo(e, 64 * GiB, 16 * GiB);
	start_source(e);
	assert_true(run_until(e, was_read, 2000));
	run_for(e, 50);
	assert_int_equal(e->plans, 1);
	put_meminfo(e, 64 * GiB, 16 * GiB - 600 * MiB);
	some_ticks(e);
	assert_int_equal(e->plans, 1);
	assert_int_equal(bd->host.mem_available_bytes, 16 * GiB - 600 * MiB);
	put_meminfo(e, 64 * GiB, 16 * GiB - 700 * MiB);
	assert_true(run_until(e, plans_is_2, 2000));
}

static void test_missing_meminfo_is_unknown(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	bd->host.known = true; /* stale: must turn false */
	start_source(e);
	assert_true(run_until(e, was_read, 2000));
	assert_false(bd->host.known);
	assert_non_null(strstr(bd->host_error, "meminfo"));
	assert_non_null(strstr(bd->host_error, "No such file"));
}

static void test_fixture_is_never_written(void **state)
{
	struct env *e = *state;
	put_meminfo(e, 8 * GiB, 5 * GiB);
	put_psi(e, "1.23", "0.45");
	char path[256], before[256], after[256];
	snprintf(path, sizeof(path), "%s/pressure/memory", e->dir);
	/* Back-date it, so that any write shows in mtime even within the
	 * file system's timestamp granularity. */
	struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	struct stat st0, st1;
	assert_int_equal(stat(path, &st0), 0);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n0 = fread(before, 1, sizeof(before) - 1, f);
	fclose(f);
	before[n0] = '\0';

	start_source(e);
	some_ticks(e);
	/* A reload re-arms: still nothing written. */
	e->src->ops->stop(e->src);
	assert_int_equal(e->src->ops->start(e->src), 0);
	some_ticks(e);

	assert_int_equal(stat(path, &st1), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	size_t n1 = fread(after, 1, sizeof(after) - 1, f);
	fclose(f);
	after[n1] = '\0';
	assert_string_equal(before, after);
	assert_int_equal(st0.st_size, st1.st_size);
	assert_int_equal(st0.st_mtim.tv_sec, st1.st_mtim.tv_sec);
	assert_int_equal(st0.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
	assert_int_equal(st1.st_mtim.tv_sec, 1000000000);
	assert_false(e->bd.psi_trigger_armed);
}

/* ---- the PSI trigger on the real kernel ---- */

static void test_psi_trigger_on_proc(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	if (access("/proc/pressure/memory", R_OK) != 0) {
		print_message("# /proc/pressure/memory: %s\n", strerror(errno));
		skip();
	}
	snprintf(bd->conf.proc_root, sizeof(bd->conf.proc_root), "/proc");
	start_source(e);
	assert_true(run_until(e, was_read, 2000));
	/* The real files read too. */
	assert_true(bd->host.known);
	assert_true(bd->host.mem_total_bytes > 0);
	/* Whether this kernel takes the trigger from us, asked directly: if
	 * it does, the source must have armed one; if not, the source must
	 * say why, and the test is skipped. */
	char cmd[64];
	int n = snprintf(cmd, sizeof(cmd), "some %llu %llu",
			 (unsigned long long)bd->conf.psi_stall_us,
			 (unsigned long long)bd->conf.psi_window_us);
	int fd = open("/proc/pressure/memory", O_RDWR | O_NONBLOCK);
	bool accepted = fd >= 0 && write(fd, cmd, (size_t)n + 1) == n + 1;
	int err = errno;
	if (fd >= 0)
		close(fd);
	if (!accepted) {
		assert_false(bd->psi_trigger_armed);
		assert_non_null(strstr(bd->host_error, "pressure/memory"));
		print_message("# the kernel refuses \"%s\" (%s); the source "
			      "said: %s\n",
			      cmd, strerror(err), bd->host_error);
		skip();
	}
	assert_true(bd->psi_trigger_armed);
	print_message("# memory PSI trigger \"%s\" armed on /proc\n", cmd);
	assert_string_equal(bd->host_error, "");
	/* A reload closes the trigger and arms a new one. */
	e->src->ops->stop(e->src);
	assert_false(bd->psi_trigger_armed);
	assert_int_equal(e->src->ops->start(e->src), 0);
	assert_true(bd->psi_trigger_armed);
	some_ticks(e);
	assert_true(bd->psi_trigger_armed);
}

/* ---- the ARC writer ---- */

/* What bd_log writes to stderr while fn runs. */
static char captured[8192];
static void capture(void (*fn)(struct env *), struct env *e)
{
	char path[] = "/tmp/hosttest-log.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	fn(e);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	ssize_t n = pread(fd, captured, sizeof(captured) - 1, 0);
	close(fd);
	unlink(path);
	captured[n > 0 ? n : 0] = '\0';
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void read_param(struct env *e, char *buf, size_t size)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/sys/module/zfs/parameters/zfs_arc_max",
		 e->dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
}

static void make_param_dirs(struct env *e)
{
	make_dir(e->dir, "sys");
	make_dir(e->dir, "sys/module");
	make_dir(e->dir, "sys/module/zfs");
	make_dir(e->dir, "sys/module/zfs/parameters");
}

static void test_arc_write(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	char buf[64];
	make_param_dirs(e);
	write_file(e->dir, "sys/module/zfs/parameters/zfs_arc_max", "0\n");

	assert_int_equal(bd_arc_write(bd, 16 * GiB), 0);
	read_param(e, buf, sizeof(buf));
	assert_string_equal(buf, "17179869184\n");
	assert_int_equal(bd->host.arc_max_set_bytes, 16 * GiB);
	assert_false(bd->arc_disabled);
	assert_string_equal(bd->arc_error, "");

	/* A shorter number replaces the longer one whole. */
	assert_int_equal(bd_arc_write(bd, 4 * GiB), 0);
	read_param(e, buf, sizeof(buf));
	assert_string_equal(buf, "4294967296\n");
	assert_int_equal(bd->host.arc_max_set_bytes, 4 * GiB);

	/* 0 would lift the cap: never written. */
	assert_int_equal(bd_arc_write(bd, 0), -EINVAL);
	read_param(e, buf, sizeof(buf));
	assert_string_equal(buf, "4294967296\n");
	assert_int_equal(bd->host.arc_max_set_bytes, 4 * GiB);
}

static void write_twice(struct env *e)
{
	e->bd.host.arc_max_set_bytes = 0;
	(void)bd_arc_write(&e->bd, 8 * GiB);
	assert_int_equal(bd_arc_write(&e->bd, 8 * GiB) < 0, 1);
}

static void test_arc_write_no_zfs(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	bd_log_setup(LOG_INFO, true);
	capture(write_twice, e);
	assert_int_equal(bd_arc_write(bd, 8 * GiB), -ENOENT);
	assert_int_equal(bd->host.arc_max_set_bytes, 0);
	assert_false(bd->arc_disabled);
	assert_non_null(strstr(bd->arc_error, "no ZFS ARC here"));
	/* Said once, at notice level, for both calls. */
	assert_int_equal(count_of(captured, "no ZFS ARC here"), 1);
	assert_int_equal(count_of(captured, "[notice]"), 1);
	assert_non_null(strstr(captured, "arc_manage ignored"));
}

static void test_arc_write_refused(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	/* Root writes through any mode bits, so refuse the write another way:
	 * the parameter is a directory (EISDIR). */
	make_param_dirs(e);
	make_dir(e->dir, "sys/module/zfs/parameters/zfs_arc_max");
	bd_log_setup(LOG_INFO, true);
	capture(write_twice, e);
	assert_int_equal(bd_arc_write(bd, 8 * GiB), -EISDIR);
	assert_true(bd->arc_disabled);
	assert_non_null(strstr(bd->arc_error, "zfs_arc_max"));
	assert_non_null(strstr(bd->arc_error, strerror(EISDIR)));
	assert_int_equal(bd->host.arc_max_set_bytes, 0);
	assert_int_equal(count_of(captured, "cannot write"), 1);
	assert_int_equal(count_of(captured, "[warning]"), 1);

	/* Fixed (a file again): the next write lands and clears it. */
	char path[256];
	snprintf(path, sizeof(path), "%s/sys/module/zfs/parameters/zfs_arc_max",
		 e->dir);
	assert_int_equal(rmdir(path), 0);
	write_file(e->dir, "sys/module/zfs/parameters/zfs_arc_max", "0\n");
	assert_int_equal(bd_arc_write(bd, 8 * GiB), 0);
	assert_false(bd->arc_disabled);
	assert_string_equal(bd->arc_error, "");
	assert_int_equal(bd->host.arc_max_set_bytes, 8 * GiB);
}

static void test_arc_write_not_a_dir(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	/* sys/module is a regular file: ENOTDIR, a refusal too (this is no
	 * ZFS that is merely absent). */
	make_dir(e->dir, "sys");
	write_file(e->dir, "sys/module", "");
	assert_int_equal(bd_arc_write(bd, 8 * GiB), -ENOTDIR);
	assert_true(bd->arc_disabled);
	assert_non_null(strstr(bd->arc_error, strerror(ENOTDIR)));
}

/* ---- the ARC before balloond (STATE_DIR/arc.json) ---- */

static bool arc_saved(struct env *e)
{
	return e->bd.arc_saved == BD_ARC_SAVED;
}

static bool arc_not_saving(struct env *e)
{
	return e->bd.arc_saved != BD_ARC_SAVING;
}

static void read_state(struct env *e, char *buf, size_t size)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/arc.json", e->dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
}

/* zfs_arc_max as the admin left it. */
static void put_param(struct env *e, const char *text)
{
	make_param_dirs(e);
	write_file(e->dir, "sys/module/zfs/parameters/zfs_arc_max", text);
}

/* A host with ZFS whose ARC may grow to c_max, as the source read it. */
static void arc_host(struct bd *bd, uint64_t c_max)
{
	bd->host.known = true;
	bd->host.mem_total_bytes = 64 * GiB;
	bd->host.arc_present = true;
	bd->host.arc_c_min_bytes = 1 * GiB;
	bd->host.arc_c_max_bytes = c_max;
	bd->conf.arc_manage = true;
}

static void test_arc_saved_before_first_write(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	char buf[256];
	put_param(e, "34359738368\n");
	arc_host(bd, 32 * GiB);
	/* Nothing on disk yet: the planner may not write zfs_arc_max. */
	assert_int_equal(bd_arc_load(bd), 0);
	assert_int_equal(bd->arc_saved, BD_ARC_UNSAVED);
	assert_false(bd_plan_config(bd).arc_manage);
	bd_arc_prepare(bd);
	assert_int_equal(bd->arc_saved, BD_ARC_SAVING);
	assert_false(bd_plan_config(bd).arc_manage);
	bd_arc_prepare(bd); /* one save at a time */
	assert_true(run_until(e, arc_saved, 5000));
	assert_true(bd_plan_config(bd).arc_manage);
	assert_int_equal(bd->arc_c_max_native, 32 * GiB);
	assert_int_equal(bd->arc_admin_max_bytes, 32 * GiB);
	read_state(e, buf, sizeof(buf));
	assert_string_equal(buf, "{\"version\": 1, \"c_max_bytes\": "
				 "34359738368, \"zfs_arc_max_bytes\": "
				 "34359738368}\n");
	/* Once written, c_max is balloond's cap; the policy still sees the
	 * ARC's own, and so does the next balloond. */
	assert_int_equal(bd_arc_write(bd, 8 * GiB), 0);
	bd->host.arc_c_max_bytes = 8 * GiB;
	bd_arc_prepare(bd);
	assert_int_equal(bd->arc_saved, BD_ARC_SAVED);
	read_state(e, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"c_max_bytes\": 34359738368,"));
	bd->arc_saved = BD_ARC_UNSAVED;
	bd->arc_c_max_native = bd->arc_admin_max_bytes = 0;
	assert_int_equal(bd_arc_load(bd), 0);
	assert_int_equal(bd->arc_saved, BD_ARC_SAVED);
	assert_int_equal(bd->arc_c_max_native, 32 * GiB);
	assert_int_equal(bd->arc_admin_max_bytes, 32 * GiB);
	/* With 40 GiB of guests the cap may rise above the 8 GiB that
	 * c_max says now (bounded by the ARC's own 32 GiB). */
	struct policy_config pc = bd_plan_config(bd);
	struct policy_host h = bd->host;
	h.arc_c_max_bytes = bd->arc_c_max_native;
	uint64_t cap = policy_arc_cap(&h, &pc, 40 * GiB);
	assert_int_equal(cap, 64 * GiB - 40 * GiB - pc.host_reserve_bytes);
	assert_true(cap > 8 * GiB && cap < 32 * GiB);
}

static void test_arc_save_fails(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	/* No zfs_arc_max to read: nothing saved, nothing written. */
	arc_host(bd, 32 * GiB);
	bd_log_setup(LOG_INFO, true);
	bd_arc_prepare(bd);
	assert_int_equal(bd->arc_saved, BD_ARC_SAVING);
	assert_true(run_until(e, arc_not_saving, 5000));
	assert_int_equal(bd->arc_saved, BD_ARC_UNSAVED);
	assert_false(bd_plan_config(bd).arc_manage);
	assert_non_null(strstr(bd->arc_error, "zfs_arc_max"));
	assert_non_null(strstr(bd->arc_error, strerror(ENOENT)));
	char path[256];
	snprintf(path, sizeof(path), "%s/arc.json", e->dir);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_arc_state_bad(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	static const char *const bad[] = {
	    "not json",
	    "{\"version\": 2, \"c_max_bytes\": 1, \"zfs_arc_max_bytes\": 0}",
	    "{\"version\": 1, \"c_max_bytes\": 0, \"zfs_arc_max_bytes\": 0}",
	    "{\"version\": 1, \"c_max_bytes\": 5, \"zfs_arc_max_bytes\": -1}",
	    "{\"version\": 1, \"c_max_bytes\": \"5\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(e->dir, "arc.json", bad[i]);
		bd->arc_error[0] = '\0';
		assert_int_equal(bd_arc_load(bd), -EINVAL);
		assert_int_equal(bd->arc_saved, BD_ARC_UNSAVED);
		assert_non_null(strstr(bd->arc_error, "arc.json"));
	}
}

static void test_arc_given_back(void **state)
{
	struct env *e = *state;
	struct bd *bd = &e->bd;
	char buf[64];
	put_param(e, "8589934592\n");
	write_file(e->dir, "arc.json",
		   "{\"version\": 1, \"c_max_bytes\": 34359738368, "
		   "\"zfs_arc_max_bytes\": 0}\n");
	assert_int_equal(bd_arc_load(bd), 0);
	bd->host.arc_max_set_bytes = 8 * GiB;
	/* arc_manage on: nothing to give back. */
	bd->conf.arc_manage = true;
	bd_arc_prepare(bd);
	read_param(e, buf, sizeof(buf));
	assert_string_equal(buf, "8589934592\n");
	/* A dry run writes nothing. */
	bd->conf.arc_manage = false;
	bd->conf.dry_run = true;
	bd_arc_prepare(bd);
	read_param(e, buf, sizeof(buf));
	assert_string_equal(buf, "8589934592\n");
	/* Off: the admin's value (0, ZFS's default) goes back, once. */
	bd->conf.dry_run = false;
	bd_arc_prepare(bd);
	read_param(e, buf, sizeof(buf));
	assert_string_equal(buf, "0\n");
	assert_int_equal(bd->arc_saved, BD_ARC_UNSAVED);
	assert_int_equal(bd->host.arc_max_set_bytes, 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/arc.json", e->dir);
	assert_int_equal(access(path, F_OK), -1);
	write_file(e->dir, "sys/module/zfs/parameters/zfs_arc_max", "123\n");
	bd_arc_prepare(bd);
	read_param(e, buf, sizeof(buf));
	assert_string_equal(buf, "123\n");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_meminfo_real),
	    cmocka_unit_test(test_meminfo_garbage),
	    cmocka_unit_test(test_psi_real),
	    cmocka_unit_test(test_psi_garbage),
	    cmocka_unit_test(test_arcstats_real),
	    cmocka_unit_test(test_arcstats_garbage),
	    cmocka_unit_test(test_parsers_survive_noise),
	    T(test_source_reads_the_incident),
	    T(test_missing_psi_and_arc_are_fine),
	    T(test_changes_replan_and_quiet_does_not),
	    T(test_large_host_threshold_is_one_percent),
	    T(test_missing_meminfo_is_unknown),
	    T(test_fixture_is_never_written),
	    T(test_psi_trigger_on_proc),
	    T(test_arc_write),
	    T(test_arc_write_no_zfs),
	    T(test_arc_write_refused),
	    T(test_arc_write_not_a_dir),
	    T(test_arc_saved_before_first_write),
	    T(test_arc_save_fails),
	    T(test_arc_state_bad),
	    T(test_arc_given_back),
	};
#undef T
	return cmocka_run_group_tests_name("host", tests, NULL, NULL);
}
