/*
 * peaks.c: a guest's daily peaks of used memory and its starved days
 * (peaks.h). The daemon records a sample on each guest-stats answer and
 * hands the history to the state file when a day begins; doctor reads it
 * from status to tell a guest that is far larger than it ever needed
 * from one that keeps starving.
 */
#include "peaks.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DAY_US (86400LL * 1000000)

int64_t bd_peaks_day(int64_t wall_us)
{
	/* Floor division: a clock before the epoch is nonsense, but it must
	 * not land on day 0 (which means "none"). */
	int64_t d = wall_us / DAY_US;
	if (wall_us % DAY_US < 0)
		d--;
	return d;
}

bool bd_peaks_roll(struct bd_peaks *p, int64_t day)
{
	if (p->day == 0 || (p->known == 0 && p->starved == 0)) {
		/* Nothing kept yet: start the window here. */
		p->day = day;
		return false;
	}
	if (day <= p->day)
		return false;
	int64_t shift = day - p->day;
	if (shift >= BD_PEAKS_DAYS) {
		memset(p->used_bytes, 0, sizeof(p->used_bytes));
		p->known = p->starved = 0;
	} else {
		int s = (int)shift;
		memmove(p->used_bytes + s, p->used_bytes,
			(size_t)(BD_PEAKS_DAYS - s) * sizeof(p->used_bytes[0]));
		memset(p->used_bytes, 0, (size_t)s * sizeof(p->used_bytes[0]));
		uint16_t mask = (uint16_t)((1u << BD_PEAKS_DAYS) - 1);
		p->known = (uint16_t)((p->known << s) & mask);
		p->starved = (uint16_t)((p->starved << s) & mask);
	}
	p->day = day;
	p->dirty = true;
	return true;
}

bool bd_peaks_used(struct bd_peaks *p, int64_t wall_us, uint64_t used_bytes)
{
	bool rolled = bd_peaks_roll(p, bd_peaks_day(wall_us));
	if (!(p->known & 1) || used_bytes > p->used_bytes[0]) {
		p->used_bytes[0] = used_bytes;
		p->known |= 1;
		p->dirty = true;
	}
	return rolled;
}

bool bd_peaks_starved(struct bd_peaks *p, int64_t wall_us)
{
	bool rolled = bd_peaks_roll(p, bd_peaks_day(wall_us));
	if (!(p->starved & 1)) {
		p->starved |= 1;
		p->dirty = true;
	}
	return rolled;
}

void bd_peaks_merge(struct bd_peaks *p, const struct bd_peaks *from)
{
	if (!from->known && !from->starved)
		return;
	/* Now p->day is from->day or a later one. */
	bd_peaks_roll(p, from->day);
	for (unsigned i = 0; i < BD_PEAKS_DAYS; i++) {
		int64_t slot = p->day - (from->day - (int64_t)i);
		if (slot < 0 || slot >= BD_PEAKS_DAYS)
			continue;
		uint16_t in = (uint16_t)(1u << i), out = (uint16_t)(1u << slot);
		if ((from->known & in) &&
		    (!(p->known & out) ||
		     from->used_bytes[i] > p->used_bytes[slot])) {
			p->used_bytes[slot] = from->used_bytes[i];
			p->known |= out;
			p->dirty = true;
		}
		if ((from->starved & in) && !(p->starved & out)) {
			p->starved |= out;
			p->dirty = true;
		}
	}
}

bool bd_peaks_expired(const struct bd_peaks *p, int64_t today)
{
	return (!p->known && !p->starved) || today - p->day >= BD_PEAKS_DAYS;
}

/* Whether slot i lies in the window that ends on today. */
static bool in_window(const struct bd_peaks *p, unsigned i, int64_t today)
{
	int64_t day = p->day - (int64_t)i;
	return day <= today && today - day < BD_PEAKS_DAYS;
}

struct bd_peaks_summary bd_peaks_summary(const struct bd_peaks *p,
					 int64_t today)
{
	struct bd_peaks_summary s = {0};
	for (unsigned i = 0; i < BD_PEAKS_DAYS; i++) {
		if (!in_window(p, i, today))
			continue;
		if (p->known & (1u << i)) {
			s.days++;
			if (p->used_bytes[i] > s.max_bytes)
				s.max_bytes = p->used_bytes[i];
		}
		if (p->starved & (1u << i))
			s.starved_days++;
	}
	return s;
}

/* ---- dates: days since 1970-01-01 and back (proleptic Gregorian) ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void format_date(int64_t day, char out[16])
{
	int64_t y;
	unsigned m, d;
	civil_from_days(day, &y, &m, &d);
	snprintf(out, 16, "%04lld-%02u-%02u", (long long)y, m, d);
}

/* "YYYY-MM-DD" exactly, a real date from 1970 to 9999: 0, or -EINVAL. */
static int parse_date(const char *s, int64_t *day)
{
	unsigned v[8];
	static const int pos[8] = {0, 1, 2, 3, 5, 6, 8, 9};
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -EINVAL;
	for (int i = 0; i < 8; i++) {
		if (s[pos[i]] < '0' || s[pos[i]] > '9')
			return -EINVAL;
		v[i] = (unsigned)(s[pos[i]] - '0');
	}
	int64_t y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
	unsigned m = v[4] * 10 + v[5], d = v[6] * 10 + v[7];
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
		return -EINVAL;
	*day = days_from_civil(y, m, d);
	/* A day past its month's end (02-30) does not come back the same. */
	int64_t yy;
	unsigned mm, dd;
	civil_from_days(*day, &yy, &mm, &dd);
	return yy == y && mm == m && dd == d && *day > 0 ? 0 : -EINVAL;
}

json_object *bd_peaks_to_json(const struct bd_peaks *p, int64_t today)
{
	json_object *arr = json_object_new_array();
	for (unsigned i = 0; i < BD_PEAKS_DAYS; i++) {
		bool known = p->known & (1u << i);
		bool starved = p->starved & (1u << i);
		if ((!known && !starved) || !in_window(p, i, today))
			continue;
		char date[16];
		format_date(p->day - (int64_t)i, date);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "date", json_object_new_string(date));
		if (known)
			json_object_object_add(
			    o, "used_bytes",
			    json_object_new_int64((int64_t)p->used_bytes[i]));
		if (starved)
			json_object_object_add(o, "starved",
					       json_object_new_boolean(true));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* One day's entry into *day, *used (UINT64_MAX: none) and *starved. */
static int parse_entry(json_object *o, int64_t *day, uint64_t *used,
		       bool *starved)
{
	json_object *v;
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "date", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    parse_date(json_object_get_string(v), day))
		return -EINVAL;
	*used = UINT64_MAX;
	if (json_object_object_get_ex(o, "used_bytes", &v)) {
		if (!json_object_is_type(v, json_type_int) ||
		    json_object_get_int64(v) < 0)
			return -EINVAL;
		*used = (uint64_t)json_object_get_int64(v);
	}
	*starved = false;
	if (json_object_object_get_ex(o, "starved", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return -EINVAL;
		*starved = json_object_get_boolean(v);
	}
	return 0;
}

int bd_peaks_from_json(json_object *arr, struct bd_peaks *p)
{
	memset(p, 0, sizeof(*p));
	if (!json_object_is_type(arr, json_type_array))
		return -EINVAL;
	size_t n = json_object_array_length(arr);
	int64_t newest = 0;
	/* First pass: validate every entry and find the newest day. */
	for (size_t i = 0; i < n; i++) {
		int64_t day;
		uint64_t used;
		bool starved;
		if (parse_entry(json_object_array_get_idx(arr, i), &day, &used,
				&starved))
			return -EINVAL;
		/* A day with nothing in it (unknown keys only) is no day. */
		if ((used != UINT64_MAX || starved) && day > newest)
			newest = day;
	}
	if (!newest)
		return 0;
	p->day = newest;
	for (size_t i = 0; i < n; i++) {
		int64_t day;
		uint64_t used;
		bool starved;
		parse_entry(json_object_array_get_idx(arr, i), &day, &used,
			    &starved);
		if (day > newest || newest - day >= BD_PEAKS_DAYS)
			continue;
		unsigned slot = (unsigned)(newest - day);
		if (used != UINT64_MAX && (!(p->known & (1u << slot)) ||
					   used > p->used_bytes[slot])) {
			p->used_bytes[slot] = used;
			p->known |= (uint16_t)(1u << slot);
		}
		if (starved)
			p->starved |= (uint16_t)(1u << slot);
	}
	return 0;
}
