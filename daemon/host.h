/*
 * host.h: the host-memory source's parsers (hostparse.c), pure functions
 * over the text of /proc/meminfo, /proc/pressure/memory and ZFS's
 * spl/kstat/zfs/arcstats. No I/O and no globals, so that the tests and
 * the fuzzer call them on any bytes: text need not end in a NUL (len
 * bytes are read, never more), and no input makes them crash.
 *
 * Each returns 0, or a negative errno with a static explanation in *why
 * (why may be NULL): -ENODATA when a field is missing, -EINVAL when one
 * is not a number, -ERANGE when it is out of range. On error the outputs
 * are 0.
 */
#ifndef BALLOOND_HOST_H
#define BALLOOND_HOST_H

#include <stddef.h>
#include <stdint.h>

/* MemTotal and MemAvailable ("NAME:   N kB" lines), in bytes. MemTotal
 * must be above 0 and MemAvailable not above it. */
int bd_host_parse_meminfo(const char *text, size_t len, uint64_t *total_bytes,
			  uint64_t *available_bytes, const char **why);

/* The avg10 of the "some" line (required) and of the "full" line (0 when
 * absent), in hundredths of a percent (0 to 10000): "avg10=1.23" is 123. */
int bd_host_parse_psi(const char *text, size_t len, uint32_t *some_avg10_x100,
		      uint32_t *full_avg10_x100, const char **why);

/* The kstat table's "size", "c_min" and "c_max" rows (NAME TYPE DATA),
 * in bytes; all three are required. */
int bd_host_parse_arcstats(const char *text, size_t len, uint64_t *size_bytes,
			   uint64_t *c_min_bytes, uint64_t *c_max_bytes,
			   const char **why);

#endif
