/* units.h: sizes with units, as admins type them ("512M", "8GiB"). */
#ifndef BALLOOND_UNITS_H
#define BALLOOND_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Parse a size: digits, optionally followed by K, M, G or T (powers of
 * 1024; "KiB", "KB", "k" and "MiB" likewise) or B. A plain number is bytes.
 * Returns 0, -EINVAL (not a size) or -ERANGE (overflows 64 bits). */
int bd_parse_size(const char *s, uint64_t *out_bytes);

/* Format bytes for people: "512 MiB", "1.5 GiB", "900 B". */
const char *bd_format_size(uint64_t bytes, char *buf, size_t len);

/* Parse a whole decimal number in [min, max]. Returns 0, -EINVAL or
 * -ERANGE. */
int bd_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
