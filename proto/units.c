/* units.c: parsing and printing sizes. */
#include "units.h"
#include "jsontok.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int bd_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int bd_parse_size(const char *s, uint64_t *out_bytes)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = {
	    {"", 0},	 {"b", 0},   {"k", 10},	  {"kb", 10},  {"kib", 10},
	    {"m", 20},	 {"mb", 20}, {"mib", 20}, {"g", 30},   {"gb", 30},
	    {"gib", 30}, {"t", 40},  {"tb", 40},  {"tib", 40},
	};
	char digits[32];
	size_t n = 0;

	if (!s)
		return -EINVAL;
	while (isspace((unsigned char)*s))
		s++;
	while (isdigit((unsigned char)s[n]))
		n++;
	if (n == 0 || n >= sizeof(digits))
		return n == 0 ? -EINVAL : -ERANGE;
	memcpy(digits, s, n);
	digits[n] = '\0';
	const char *suffix = s + n;
	while (isspace((unsigned char)*suffix))
		suffix++;

	uint64_t v;
	int rc = bd_parse_uint(digits, 0, UINT64_MAX, &v);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(suffix, units[i].suffix) != 0)
			continue;
		if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
			return -ERANGE;
		*out_bytes = v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}

const char *bd_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const names[] = {"B",   "KiB", "MiB", "GiB",
					    "TiB", "PiB", "EiB"};
	unsigned i = 0;
	uint64_t unit = 1;
	while (i + 1 < sizeof(names) / sizeof(names[0]) &&
	       bytes / unit >= 1024) {
		unit *= 1024;
		i++;
	}
	if (bytes % unit != 0) {
		snprintf(buf, len, "%.1f %s", (double)bytes / (double)unit,
			 names[i]);
		return buf;
	}
	/* The usual case (a whole number of MiB) is written directly:
	 * snprintf cost a thousand instructions, and a burst of 1,000 set
	 * requests formats three sizes each. */
	char digits[24],
	    *d = bd_decimal(digits + sizeof(digits), (int64_t)(bytes / unit));
	size_t dn = (size_t)(digits + sizeof(digits) - d);
	size_t nn = strlen(names[i]);
	if (dn + 1 + nn < len) {
		memcpy(buf, d, dn);
		buf[dn] = ' ';
		memcpy(buf + dn + 1, names[i], nn + 1);
	} else {
		snprintf(buf, len, "%llu %s",
			 (unsigned long long)(bytes / unit), names[i]);
	}
	return buf;
}
