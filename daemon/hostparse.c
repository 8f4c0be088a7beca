/*
 * hostparse.c: parsers for the host-memory source (see host.h). A file
 * of its own, with no libuv and no daemon state, so that the fuzzer links
 * this file alone.
 *
 * Every parser walks [text, text + len) line by line and never reads past
 * it: the kernel's files end in a newline, but a truncated read, a test
 * fixture or the fuzzer's input need not.
 */
#include "host.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "proto/textscan.h"

static void set_why(const char **why, const char *s)
{
	if (why)
		*why = s;
}

/* ---- /proc/meminfo ---- */

/* "   65843212 kB" after the colon, in bytes. Only kB is accepted: the
 * kernel prints every size field of meminfo in kB (show_val_kb), and a
 * field without it is not the one we think. */
static int meminfo_value(const char *p, const char *end, uint64_t *bytes)
{
	uint64_t kib;
	p = bd_text_skip_blanks(p, end);
	int rc = bd_text_parse_u64(&p, end, &kib);
	if (rc)
		return rc;
	p = bd_text_skip_blanks(p, end);
	if (end - p < 2 || memcmp(p, "kB", 2) != 0)
		return -EINVAL;
	p = bd_text_skip_blanks(p + 2, end);
	if (p != end)
		return -EINVAL;
	if (kib > UINT64_MAX / 1024)
		return -ERANGE;
	*bytes = kib * 1024;
	return 0;
}

int bd_host_parse_meminfo(const char *text, size_t len, uint64_t *total_bytes,
			  uint64_t *available_bytes, const char **why)
{
	static const char *const names[2] = {"MemTotal", "MemAvailable"};
	uint64_t val[2] = {0, 0};
	bool seen[2] = {false, false};
	const char *p = text, *end = text + len, *line;
	size_t line_len;
	int rc = 0;

	*total_bytes = *available_bytes = 0;
	while (!rc && bd_text_next_line(&p, end, &line, &line_len)) {
		const char *colon = memchr(line, ':', line_len);
		if (!colon)
			continue;
		for (int i = 0; i < 2; i++) {
			/* The first line of a name counts; meminfo has one. */
			if (seen[i] ||
			    !bd_text_token_is(line, (size_t)(colon - line),
					      names[i]))
				continue;
			rc = meminfo_value(colon + 1, line + line_len, &val[i]);
			if (rc) {
				set_why(why,
					rc == -ERANGE
					    ? (i ? "MemAvailable is too large"
						 : "MemTotal is too large")
					    : (i ? "MemAvailable is not a "
						   "number of kB"
						 : "MemTotal is not a number "
						   "of kB"));
				break;
			}
			seen[i] = true;
		}
	}
	if (rc)
		return rc;
	if (!seen[0] || !seen[1]) {
		set_why(why, !seen[0] ? "no MemTotal line"
				      : "no MemAvailable line (Linux < 3.14?)");
		return -ENODATA;
	}
	if (val[0] == 0) {
		set_why(why, "MemTotal is 0");
		return -ERANGE;
	}
	/* MemAvailable is an estimate, but the kernel never makes it more
	 * than the whole memory: a larger value is not a reading. */
	if (val[1] > val[0]) {
		set_why(why, "MemAvailable is above MemTotal");
		return -ERANGE;
	}
	*total_bytes = val[0];
	*available_bytes = val[1];
	return 0;
}

/* ---- /proc/pressure/memory ---- */

/* "1.23" as 123. The kernel prints "%lu.%02lu" (psi_show, LOAD_INT and
 * LOAD_FRAC); one fraction digit is read as tenths, digits after the
 * second are dropped. A share of time is at most 100 %. */
static int psi_percent_x100(const char *s, const char *end, uint32_t *out)
{
	uint64_t whole;
	int rc = bd_text_parse_u64(&s, end, &whole);
	if (rc)
		return rc;
	if (whole > 100)
		return -ERANGE;
	uint64_t frac = 0;
	if (s < end && *s == '.') {
		s++;
		for (int i = 0; s < end && *s >= '0' && *s <= '9'; i++, s++)
			if (i < 2)
				frac += (uint64_t)(*s - '0') * (i ? 1 : 10);
	}
	if (s != end)
		return -EINVAL;
	uint64_t v = whole * 100 + frac;
	if (v > 10000)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int bd_host_parse_psi(const char *text, size_t len, uint32_t *some_avg10_x100,
		      uint32_t *full_avg10_x100, const char **why)
{
	uint32_t val[2] = {0, 0};
	bool seen[2] = {false, false};
	const char *p = text, *end = text + len, *line;
	size_t line_len;

	*some_avg10_x100 = *full_avg10_x100 = 0;
	while (bd_text_next_line(&p, end, &line, &line_len)) {
		const char *q = line, *lend = line + line_len, *tok;
		size_t tok_len;
		if (!bd_text_next_token(&q, lend, &tok, &tok_len))
			continue;
		int i = bd_text_token_is(tok, tok_len, "some")	 ? 0
			: bd_text_token_is(tok, tok_len, "full") ? 1
								 : -1;
		if (i < 0 || seen[i])
			continue;
		bool found = false;
		while (!found && bd_text_next_token(&q, lend, &tok, &tok_len)) {
			if (tok_len < 6 || memcmp(tok, "avg10=", 6) != 0)
				continue;
			int rc =
			    psi_percent_x100(tok + 6, tok + tok_len, &val[i]);
			if (rc) {
				set_why(why, rc == -ERANGE
						 ? "avg10 is above 100 %"
						 : "avg10 is not a percentage");
				return rc;
			}
			found = true;
		}
		if (!found) {
			set_why(why, i ? "no avg10 on the full line"
				       : "no avg10 on the some line");
			return -EINVAL;
		}
		seen[i] = true;
	}
	/* Before Linux 5.13 cpu had no "full" line; memory always has both,
	 * but only "some" is required (a missing "full" reads as 0). */
	if (!seen[0]) {
		set_why(why, "no \"some\" line");
		return -ENODATA;
	}
	*some_avg10_x100 = val[0];
	*full_avg10_x100 = val[1];
	return 0;
}

/* ---- spl/kstat/zfs/arcstats ---- */

int bd_host_parse_arcstats(const char *text, size_t len, uint64_t *size_bytes,
			   uint64_t *c_min_bytes, uint64_t *c_max_bytes,
			   const char **why)
{
	static const char *const names[3] = {"size", "c_min", "c_max"};
	static const char *const bad[3] = {"size is not a number",
					   "c_min is not a number",
					   "c_max is not a number"};
	uint64_t val[3] = {0, 0, 0};
	bool seen[3] = {false, false, false};
	const char *p = text, *end = text + len, *line;
	size_t line_len;

	*size_bytes = *c_min_bytes = *c_max_bytes = 0;
	/* The kstat's two header lines ("13 1 0x01 ..." and "name type
	 * data") name nothing we look for, so every line is read alike:
	 * NAME TYPE DATA, DATA a decimal number for type 4 (uint64). */
	while (bd_text_next_line(&p, end, &line, &line_len)) {
		const char *q = line, *lend = line + line_len, *tok;
		size_t tok_len;
		if (!bd_text_next_token(&q, lend, &tok, &tok_len))
			continue;
		for (int i = 0; i < 3; i++) {
			if (seen[i] ||
			    !bd_text_token_is(tok, tok_len, names[i]))
				continue;
			const char *type, *data;
			size_t type_len, data_len;
			uint64_t v;
			if (!bd_text_next_token(&q, lend, &type, &type_len) ||
			    !bd_text_next_token(&q, lend, &data, &data_len) ||
			    bd_text_parse_u64(&data, data + data_len, &v) !=
				0 ||
			    bd_text_skip_blanks(q, lend) != lend) {
				set_why(why, bad[i]);
				return -EINVAL;
			}
			/* parse_u64 stopped early: not all digits. */
			if (data != q) {
				set_why(why, bad[i]);
				return -EINVAL;
			}
			val[i] = v;
			seen[i] = true;
		}
	}
	for (int i = 0; i < 3; i++) {
		if (!seen[i]) {
			set_why(why, i == 0   ? "no size row"
				     : i == 1 ? "no c_min row"
					      : "no c_max row");
			return -ENODATA;
		}
	}
	*size_bytes = val[0];
	*c_min_bytes = val[1];
	*c_max_bytes = val[2];
	return 0;
}
