/*
 * peaks.h: a guest's daily peaks of used memory (its actual size minus
 * what it reports available) and the days it starved, over the last
 * BD_PEAKS_DAYS days, for right-sizing advice (balloonctl doctor), the
 * metrics and status. Days are UTC days of the daemon's wall clock.
 * Pure functions: no daemon, no loop, no I/O.
 */
#ifndef BALLOOND_PEAKS_H
#define BALLOOND_PEAKS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#define BD_PEAKS_DAYS 14

struct bd_peaks {
	int64_t day; /* UTC day (since the epoch) of slot 0; 0: none yet */
	/* Slot i is day - i: its peak, whether it has one, whether the
	 * guest starved that day. */
	uint64_t used_bytes[BD_PEAKS_DAYS];
	uint16_t known;	  /* bit i: slot i has a peak */
	uint16_t starved; /* bit i: the guest starved on slot i's day */
	bool dirty;	  /* changed since it was last handed to be saved */
};

/* The UTC day of a wall-clock time in microseconds since the epoch. */
int64_t bd_peaks_day(int64_t wall_us);
/* Make slot 0 the day `day` (older slots shift, those beyond the window
 * fall out). A day before slot 0's (the clock stepped back) changes
 * nothing: its samples go to slot 0. Returns true when a new day began
 * over a history that had something in it (the moment to save it). */
bool bd_peaks_roll(struct bd_peaks *p, int64_t day);
/* A sample of used memory at wall_us: the day's peak rises to it. The
 * return is bd_peaks_roll's. */
bool bd_peaks_used(struct bd_peaks *p, int64_t wall_us, uint64_t used_bytes);
/* The guest starved at wall_us. The return is bd_peaks_roll's. */
bool bd_peaks_starved(struct bd_peaks *p, int64_t wall_us);

/* Fold the history `from` into p, day by day (a day in both keeps the
 * higher peak and starved if either starved): a guest registered again
 * gets back the history it had when it was unregistered, over what it
 * gathered meanwhile. Slot 0 becomes the newer of the two days; days
 * that fall out of the window of that day are left out. */
void bd_peaks_merge(struct bd_peaks *p, const struct bd_peaks *from);
/* Whether p holds nothing that the window ending on `today` shows: no
 * day at all, or its newest day BD_PEAKS_DAYS or more days before
 * today. */
bool bd_peaks_expired(const struct bd_peaks *p, int64_t today);

/* Over the window that ends on day `today` (slots older than
 * BD_PEAKS_DAYS days before it left out): the highest peak (0 when
 * none), how many days have a peak and how many days starved. */
struct bd_peaks_summary {
	uint64_t max_bytes;
	unsigned days;
	unsigned starved_days;
};
struct bd_peaks_summary bd_peaks_summary(const struct bd_peaks *p,
					 int64_t today);

/* The window ending on `today` as a JSON array, newest first, one
 * object per day with something in it:
 *   {"date": "2026-12-06", "used_bytes": N, "starved": true}
 * (used_bytes absent without a peak, starved absent unless true). The
 * state file and status carry this form. A new reference. */
json_object *bd_peaks_to_json(const struct bd_peaks *p, int64_t today);
/* Parse that array (from the state file: untrusted) into p, keeping the
 * days within BD_PEAKS_DAYS of its newest. 0, or -EINVAL (p is then
 * empty). */
int bd_peaks_from_json(json_object *arr, struct bd_peaks *p);

#endif
