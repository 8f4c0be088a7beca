/*
 * state.c: what survives a restart. Registrations live in
 * STATE_DIR/guests.json, written atomically (temporary file, fsync, rename,
 * fsync of the directory) on libuv's thread pool, never on the loop.
 * Every save that finishes is told to bd->persisted_cb (the replies that
 * wait for it, and the spool files it covers).
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "proto/fileio.h"
#include "proto/jsonprint.h"
#include "proto/proto.h"

#define STATE_FILE    "guests.json"
#define JOURNAL_FILE  "guests.journal"
#define STATE_VERSION 1
/* Retired histories kept at most: unique names coming and going must not
 * grow the state without bound. */
#define RETIRED_MAX 4096
/* A running guest's registration, written, is flushed this soon. */
#define FLUSH_LATER_MS 1000

int bd_state_path(const struct bd *bd, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", bd->conf.state_dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void open_journal(struct bd *bd, size_t good_len);
static void retire(struct bd *bd, const char *name, const struct bd_peaks *p);

/* ---- loading: the snapshot, then the journal over it ---- */

struct spec_list {
	struct bd_guest_spec *v;
	size_t n, cap;
	json_object *peaks;   /* name -> its peaks (peaks.h's array) */
	json_object *retired; /* name -> an unregistered guest's peaks */
};

static struct bd_guest_spec *list_find(struct spec_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

static int list_put(struct spec_list *l, const struct bd_guest_spec *spec)
{
	struct bd_guest_spec *old = list_find(l, spec->name);
	json_object *days;
	/* Registered again: its history comes back (as it did when the
	 * registration was made). */
	if (json_object_object_get_ex(l->retired, spec->name, &days)) {
		if (!json_object_object_get_ex(l->peaks, spec->name, NULL))
			json_object_object_add(l->peaks, spec->name,
					       json_object_get(days));
		json_object_object_del(l->retired, spec->name);
	}
	if (old) {
		*old = *spec;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void *v = realloc(l->v, cap * sizeof(*l->v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *spec;
	return 0;
}

/* Keep days (a new reference, or NULL) as the retired history of name,
 * the newest retirement last. */
static void retired_put(struct spec_list *l, const char *name,
			json_object *days)
{
	json_object_object_del(l->retired, name);
	if (days)
		json_object_object_add(l->retired, name, days);
}

/* A removal: the days it carries (a balloond older than retirement wrote
 * none: then those of the guest's last peaks entry) are retired. */
static void list_del(struct spec_list *l, const char *name, json_object *days)
{
	struct bd_guest_spec *g = list_find(l, name);
	if (g) {
		size_t i = (size_t)(g - l->v);
		memmove(g, g + 1, (l->n - i - 1) * sizeof(*g));
		l->n--;
	}
	if (days || json_object_object_get_ex(l->peaks, name, &days))
		retired_put(l, name, json_object_get(days));
	json_object_object_del(l->peaks, name);
}

/* {"name": NAME, "days": [...]}: a guest's peaks, kept by name in map. */
static void peaks_put(json_object *map, json_object *v)
{
	json_object *name, *days;
	if (json_object_object_get_ex(v, "name", &name) &&
	    json_object_is_type(name, json_type_string) &&
	    json_object_object_get_ex(v, "days", &days)) {
		/* The newest last: the retired that go first when there are
		 * too many are the oldest. */
		json_object_object_del(map, json_object_get_string(name));
		json_object_object_add(map, json_object_get_string(name),
				       json_object_get(days));
	}
}

static void move_aside(struct bd *bd, const char *path, const char *why)
{
	/* Keep it for the admin: the next save would overwrite it. */
	char aside[4300];
	snprintf(aside, sizeof(aside), "%s.bad-%lld", path,
		 (long long)(bd_wall_us(bd) / 1000000));
	rename(path, aside);
	bd_err("%s: %s; moved to %s", path, why, aside);
}

/* A state file's text: 0 with *text NULL when it does not exist. */
static int read_state_file(const char *path, char **text, size_t *len)
{
	*text = NULL;
	int rc = bd_read_file(path, 256 << 20, text, len);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		bd_err("%s: %s", path, strerror(-rc));
	return rc;
}

static int load_snapshot(struct bd *bd, const char *path, struct spec_list *l)
{
	char msg[256];
	char *text;
	size_t len;
	int rc = read_state_file(path, &text, &len);
	if (rc || !text)
		return rc;
	json_object *root = json_tokener_parse(text);
	free(text);
	json_object *version = NULL, *guests = NULL, *peaks = NULL,
		    *retired = NULL;
	if (!root || !json_object_object_get_ex(root, "version", &version) ||
	    json_object_get_int(version) != STATE_VERSION ||
	    !json_object_object_get_ex(root, "guests", &guests) ||
	    !json_object_is_type(guests, json_type_array)) {
		move_aside(bd, path,
			   "not a balloond state file (version 1); starting "
			   "without its registrations");
		json_object_put(root);
		return -EINVAL;
	}
	size_t n = json_object_array_length(guests);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct bd_guest_spec spec;
		if (bd_spec_parse(json_object_array_get_idx(guests, i), &spec,
				  msg, sizeof(msg)))
			bd_err("%s: guest %zu skipped: %s", path, i, msg);
		else
			rc = list_put(l, &spec);
	}
	if (json_object_object_get_ex(root, "peaks", &peaks) &&
	    json_object_is_type(peaks, json_type_array))
		for (size_t i = 0; i < json_object_array_length(peaks); i++)
			peaks_put(l->peaks,
				  json_object_array_get_idx(peaks, i));
	if (json_object_object_get_ex(root, "retired", &retired) &&
	    json_object_is_type(retired, json_type_array))
		for (size_t i = 0; i < json_object_array_length(retired); i++)
			peaks_put(l->retired,
				  json_object_array_get_idx(retired, i));
	json_object_put(root);
	return rc;
}

/* Journal lines: {"put": SPEC}, {"del": NAME} (with "days": [...], the
 * guest's peaks, when it had any: they are retired) or {"peaks": {"name":
 * NAME, "days": [...]}}, each a whole change. A
 * crash can leave the last line torn: it and anything after it are
 * dropped (they were never acknowledged). */
static int load_journal(struct bd *bd, const char *path, struct spec_list *l,
			size_t *entries, size_t *good_len, size_t *file_len)
{
	char msg[256];
	char *text;
	size_t len;
	int rc = read_state_file(path, &text, &len);
	if (rc || !text)
		return rc;
	char *line = text, *end = text + len;
	unsigned lineno = 0;
	*file_len = len;
	while (line < end && rc == 0) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		lineno++;
		if (!nl) {
			bd_warn("%s:%u: torn last entry dropped", path, lineno);
			break;
		}
		*nl = '\0';
		json_object *e = json_tokener_parse(line), *v;
		struct bd_guest_spec spec;
		if (e && json_object_object_get_ex(e, "put", &v) &&
		    bd_spec_parse(v, &spec, msg, sizeof(msg)) == 0) {
			rc = list_put(l, &spec);
		} else if (e && json_object_object_get_ex(e, "del", &v) &&
			   json_object_is_type(v, json_type_string)) {
			json_object *days = NULL;
			json_object_object_get_ex(e, "days", &days);
			list_del(l, json_object_get_string(v), days);
		} else if (e && json_object_object_get_ex(e, "peaks", &v)) {
			peaks_put(l->peaks, v);
		} else {
			bd_err("%s:%u: not a journal entry; it and the rest "
			       "are dropped",
			       path, lineno);
			json_object_put(e);
			break;
		}
		json_object_put(e);
		(*entries)++;
		line = nl + 1;
		*good_len = (size_t)(line - text);
	}
	free(text);
	return rc;
}

int bd_state_load(struct bd *bd)
{
	char path[BD_FILE_PATH_MAX], jpath[BD_FILE_PATH_MAX], msg[256];
	struct spec_list l = {.peaks = json_object_new_object(),
			      .retired = json_object_new_object()};
	size_t entries = 0, good_len = 0, file_len = 0;
	if (bd_state_path(bd, STATE_FILE, path, sizeof(path)) ||
	    bd_state_path(bd, JOURNAL_FILE, jpath, sizeof(jpath)))
		return -ENAMETOOLONG;
	int rc = load_snapshot(bd, path, &l);
	int jrc = rc && rc != -EINVAL ? 0
				      : load_journal(bd, jpath, &l, &entries,
						     &good_len, &file_len);
	if ((rc && rc != -EINVAL) || jrc) {
		free(l.v);
		json_object_put(l.peaks);
		json_object_put(l.retired);
		return rc && rc != -EINVAL ? rc : jrc;
	}
	int64_t today = bd_peaks_day(bd_wall_us(bd));
	size_t n_retired = 0, n_expired = 0;
	json_object_object_foreach(l.retired, rname, rdays)
	{
		struct bd_peaks p;
		if (bd_peaks_from_json(rdays, &p)) {
			bd_warn("%s: the retired memory peaks of %s are not "
				"readable; dropped",
				path, rname);
			n_expired++;
		} else if (bd_peaks_expired(&p, today)) {
			n_expired++;
		} else if (strlen(rname) < BD_NAME_MAX) {
			retire(bd, rname, &p);
			n_retired++;
		}
	}
	json_object_put(l.retired);
	for (size_t i = 0; i < l.n; i++) {
		json_object *days;
		if (bd_spec_check(bd, &l.v[i], NULL, msg, sizeof(msg))) {
			bd_err("%s: guest %s skipped: %s", path, l.v[i].name,
			       msg);
			/* Its history stays, retired as at an unregister,
			 * for when it is registered again. */
			struct bd_peaks p;
			if (!bd_guest_find(bd, l.v[i].name) &&
			    json_object_object_get_ex(l.peaks, l.v[i].name,
						      &days) &&
			    !bd_peaks_from_json(days, &p) &&
			    !bd_peaks_expired(&p, today))
				retire(bd, l.v[i].name, &p);
			continue;
		}
		struct bd_guest *g = bd_guest_add(bd, &l.v[i]);
		if (!g) {
			free(l.v);
			json_object_put(l.peaks);
			return -ENOMEM;
		}
		if (json_object_object_get_ex(l.peaks, g->spec.name, &days) &&
		    bd_peaks_from_json(days, &g->peaks))
			bd_warn("%s: guest %s: its memory peaks are not "
				"readable; they start anew",
				path, g->spec.name);
	}
	free(l.v);
	json_object_put(l.peaks);
	bd_info("restored %zu guest registrations from %s (and %zu journal "
		"entries), and the memory peaks of %zu unregistered guests",
		bd->n_guests, path, entries, n_retired);
	if (bd->persist) {
		/* Appends go after the last whole entry: a torn one (a crash
		 * while appending, never acknowledged) is cut off first, or
		 * the next entry would be glued to it and lost. */
		open_journal(bd, good_len);
		/* Start with a fresh snapshot and an empty journal (and
		 * without the retired peaks that expired). */
		if (file_len || n_expired)
			bd_state_dirty_all(bd);
	}
	return rc;
}

/* ---- saving, off the loop thread ----
 *
 * A change is acknowledged once it is on disk, and costs O(1): it becomes
 * one line of a journal (guests.journal), appended and fsynced on libuv's
 * thread pool, never on the loop. Changes that arrive while a write is
 * running go together in the next one (group commit). Once the journal
 * holds more entries than there are guests (at least 256), the next write
 * is a compaction instead: a new snapshot (guests.json: temporary file,
 * fsync, rename, fsync of the directory), then an empty journal. A crash
 * between the two leaves a journal whose entries the snapshot already
 * holds; replaying them again gives the same state, since every entry is
 * a whole spec or a removal.
 *
 * One kind of change is acknowledged once written, before the flush: a
 * hook's registration of a guest that is starting (bd_state_put_running).
 * Written, it survives a crash of balloond; only a crash of the host could
 * lose it, and that ends the guest too, whose next start registers it
 * again. The flush is the disk's cache flush, half of a process's own
 * start, and the libvirt hook waits for the reply inside every VM start.
 * Such lines are flushed within FLUSH_LATER_MS, or sooner with any other
 * change; a compaction flushes the journal before it writes the snapshot,
 * so that the entries a crash could replay over it are all there. */

enum save_kind { SAVE_APPEND, SAVE_COMPACT };

/* A journal entry not yet written. A put is kept as the spec itself and
 * becomes {"put": SPEC} on the save's thread: a burst of pins that ends in
 * a compaction (the snapshot holds them all) never builds its entries. */
struct entry {
	json_object *obj; /* NULL: a put of spec */
	struct bd_guest_spec spec;
};

/* The history of a guest that was unregistered (a hook unregisters a
 * guest each time its VM stops, and at a host shutdown): kept by name
 * while its newest day is in the window, for a later registration of the
 * same name to get back. */
struct retired {
	char name[BD_NAME_MAX];
	struct bd_peaks peaks;
};

struct save_job {
	uv_work_t work;
	struct bd *bd;
	enum save_kind kind;
	uint64_t gen;
	struct entry *lines; /* SAVE_APPEND: the journal entries (owned) */
	size_t n_lines;
	struct bd_guest_spec *specs; /* SAVE_COMPACT: every guest */
	struct bd_peaks *peaks;	     /* ... and its peaks */
	size_t n;
	struct retired *retired; /* SAVE_COMPACT: the retired peaks */
	size_t n_retired;
	int journal_fd;
	char path[BD_FILE_PATH_MAX], journal_path[BD_FILE_PATH_MAX];
	size_t entries;	   /* SAVE_COMPACT: journal entries it replaces */
	bool sync;	   /* SAVE_APPEND: flush what it wrote */
	bool sync_journal; /* SAVE_COMPACT: flush the journal first */
	int rc;
};

struct bd_persist {
	uint64_t dirty_gen; /* bumped by every change */
	uint64_t saved_gen; /* written (flushed unless unsynced) */
	/* Journal entries not yet written. They become text in the save's
	 * thread, not when queued: a burst of 1,000 pins sends its balloon
	 * commands without first formatting 1,000 lines on the loop. */
	struct entry *pending;
	size_t n_pending, pending_cap;
	size_t journal_entries; /* in the journal file */
	bool compact_due;	/* the next write is a snapshot */
	bool sync_due; /* the next save flushes (a change waits for it) */
	bool unsynced; /* the journal holds lines not yet flushed */
	int journal_fd;
	bool running;		/* a save_job is in the pool */
	bool closing;		/* shutdown: no retry timer any more */
	unsigned retry_ms;	/* backoff after a failed save */
	uv_check_t check;	/* starts a save at the end of a loop turn */
	uv_timer_t retry;	/* the next attempt after a failure */
	uv_timer_t flush_later; /* flushes the running puts written */
	int closes_pending;
	struct retired *retired; /* the oldest retirement first */
	size_t n_retired, retired_cap;
};

/* A save finished (or could not start): whoever waits for the disk hears
 * it through the callback, so that persistence knows nothing of the
 * control socket or the spool. */
static void persisted(struct bd *bd, uint64_t gen, int err)
{
	if (bd->persisted_cb)
		bd->persisted_cb(bd, gen, err);
}

/* {"name": NAME, "days": [...]}: a guest's peaks in the state files. */
static json_object *peaks_json(const char *name, const struct bd_peaks *p)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "days", bd_peaks_to_json(p, p->day));
	return o;
}

static int save_specs(const char *path, const struct bd_guest_spec *specs,
		      const struct bd_peaks *peaks, size_t n,
		      const struct retired *retired, size_t n_retired)
{
	json_object *root = json_object_new_object();
	json_object *arr = json_object_new_array_ext((int)n);
	json_object_object_add(root, "version",
			       json_object_new_int(STATE_VERSION));
	json_object_object_add(root, "guests", arr);
	json_object *parr = json_object_new_array();
	json_object_object_add(root, "peaks", parr);
	for (size_t i = 0; i < n; i++) {
		json_object_array_add(arr, bd_spec_to_json(&specs[i]));
		if (peaks[i].known || peaks[i].starved)
			json_object_array_add(
			    parr, peaks_json(specs[i].name, &peaks[i]));
	}
	/* A key of its own, which a balloond older than retirement does
	 * not read. */
	if (n_retired) {
		json_object *rarr = json_object_new_array();
		json_object_object_add(root, "retired", rarr);
		for (size_t i = 0; i < n_retired; i++)
			json_object_array_add(
			    rarr,
			    peaks_json(retired[i].name, &retired[i].peaks));
	}
	/* json-c's PRETTY | SPACED form, as json-c prints it (jsonprint.c: a
	 * third of the cost); the NUL's room takes the newline. */
	size_t len;
	char *buf = bd_json_pretty(root, &len);
	int rc = -ENOMEM;
	if (buf) {
		buf[len] = '\n';
		rc = bd_replace_file(path, buf, len + 1, 0600);
		free(buf);
	}
	json_object_put(root);
	return rc;
}

/* The journal lines of a SAVE_APPEND, one write. The entries are the
 * job's alone, so that the thread may format them. */
static int append_entries(const struct save_job *j)
{
	size_t len = 0, cap = 0;
	char *lines = NULL;
	int rc = 0;
	for (size_t i = 0; i < j->n_lines; i++) {
		size_t n;
		json_object *o = j->lines[i].obj;
		if (!o) {
			o = json_object_new_object();
			json_object_object_add(
			    o, "put", bd_spec_to_json(&j->lines[i].spec));
		}
		const char *s = json_object_to_json_string_length(
		    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		    &n);
		if (len + n + 1 > cap) {
			size_t c = (len + n + 1) * 2;
			char *b = realloc(lines, c);
			if (!b) {
				if (o != j->lines[i].obj)
					json_object_put(o);
				free(lines);
				return -ENOMEM;
			}
			lines = b;
			cap = c;
		}
		memcpy(lines + len, s, n);
		lines[len + n] = '\n';
		len += n + 1;
		if (o != j->lines[i].obj)
			json_object_put(o);
	}
	if (len)
		rc = bd_write_all(j->journal_fd, lines, len);
	free(lines);
	return rc;
}

/* The thread pool: nothing here touches the loop or the daemon. */
static int run_job(struct save_job *j)
{
	int rc;
	if (j->kind == SAVE_APPEND) {
		rc = append_entries(j);
		if (rc == 0 && j->sync && fdatasync(j->journal_fd) < 0)
			rc = -errno;
		return rc;
	}
	/* Else a crash after the rename could leave a journal whose
	 * unflushed end is lost, and replaying the rest over the snapshot
	 * would bring back what that end removed. */
	if (j->sync_journal && fdatasync(j->journal_fd) < 0)
		return -errno;
	rc = save_specs(j->path, j->specs, j->peaks, j->n, j->retired,
			j->n_retired);
	if (rc == 0 && j->journal_fd < 0) {
		/* No journal (it could not be opened): the snapshot is all,
		 * and an old journal must not be replayed over it. */
		if (unlink(j->journal_path) < 0 && errno != ENOENT)
			rc = -errno;
		return rc;
	}
	if (rc == 0 &&
	    (ftruncate(j->journal_fd, 0) < 0 || fdatasync(j->journal_fd) < 0))
		rc = -errno;
	return rc;
}

static void save_work_cb(uv_work_t *w)
{
	struct save_job *j = w->data;
	j->rc = run_job(j);
}

static void start_save(struct bd *bd);
static void close_persist(struct bd *bd);

static void retry_cb(uv_timer_t *t)
{
	start_save(t->data);
}

static void put_entries(struct entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_object_put(entries[i].obj);
}

static void job_free(struct save_job *j)
{
	if (j) {
		put_entries(j->lines, j->n_lines);
		free(j->lines);
		free(j->specs);
		free(j->peaks);
		free(j->retired);
	}
	free(j);
}

/* A save reached the disk, in the pool or at shutdown: its generation is
 * saved, and a compaction replaced the journal entries it covered. */
static void saved(struct bd_persist *p, const struct save_job *j)
{
	p->saved_gen = j->gen;
	if (j->kind == SAVE_COMPACT)
		p->journal_entries = p->journal_entries > j->entries
					 ? p->journal_entries - j->entries
					 : 0;
	if (j->kind == SAVE_COMPACT || j->sync)
		p->unsynced = false;
	else if (j->n_lines)
		p->unsynced = true;
}

/* What was written unflushed, flushed: by a save of its own, which has
 * nothing else to write unless a change came meanwhile. It is no change:
 * a reply that waits for the newest one does not wait for it. */
static void flush_later_cb(uv_timer_t *t)
{
	struct bd *bd = t->data;
	struct bd_persist *p = bd->persist;
	if (!p->unsynced)
		return;
	p->sync_due = true;
	start_save(bd);
}

static void save_done_cb(uv_work_t *w, int status)
{
	struct save_job *j = w->data;
	struct bd *bd = j->bd;
	struct bd_persist *p = bd->persist;
	int rc = status ? status : j->rc;
	p->running = false;
	if (rc == 0) {
		if (p->retry_ms)
			bd_notice("registrations saved to %s again",
				  bd->conf.state_dir);
		p->retry_ms = 0;
		saved(p, j);
		persisted(bd, j->gen, 0);
		if (!p->unsynced)
			uv_timer_stop(&p->flush_later);
		else if (!uv_is_active((uv_handle_t *)&p->flush_later) &&
			 !p->closing)
			uv_timer_start(&p->flush_later, flush_later_cb,
				       FLUSH_LATER_MS, 0);
		if ((p->dirty_gen > p->saved_gen || p->sync_due) && !p->closing)
			start_save(bd);
	} else {
		/* The replies it covers say so; the changes stay in effect
		 * and are saved again, whole, by a compaction with backoff
		 * (what of an append reached the file is unknown). */
		p->compact_due = true;
		p->sync_due = true; /* the retry, even of a flush alone */
		p->retry_ms = p->retry_ms ? p->retry_ms * 2 : 100;
		if (p->retry_ms > 10000)
			p->retry_ms = 10000;
		bd_err("cannot save registrations to %s: %s; retrying in %u ms",
		       bd->conf.state_dir, strerror(-rc), p->retry_ms);
		persisted(bd, j->gen, rc);
		if (!p->closing)
			uv_timer_start(&p->retry, retry_cb, p->retry_ms, 0);
	}
	job_free(j);
	if (p->closing)
		close_persist(bd);
}

/* The retired record of name, or NULL. */
static struct retired *retired_find(struct bd_persist *p, const char *name)
{
	for (size_t i = 0; i < p->n_retired; i++)
		if (strcmp(p->retired[i].name, name) == 0)
			return &p->retired[i];
	return NULL;
}

static void retired_drop(struct bd_persist *p, struct retired *r)
{
	size_t i = (size_t)(r - p->retired);
	memmove(r, r + 1, (p->n_retired - i - 1) * sizeof(*r));
	p->n_retired--;
}

/* Those whose newest day left the window are of no use any more. */
static void retired_expire(struct bd_persist *p, int64_t today)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n_retired; i++)
		if (!bd_peaks_expired(&p->retired[i].peaks, today))
			p->retired[k++] = p->retired[i];
	p->n_retired = k;
}

/* Keep a guest's history under its name (with what an earlier retirement
 * of the name kept), the newest last; past RETIRED_MAX, the oldest go. */
static void retire(struct bd *bd, const char *name,
		   const struct bd_peaks *peaks)
{
	struct bd_persist *p = bd->persist;
	if (!p || (!peaks->known && !peaks->starved))
		return;
	struct retired r = {.peaks = *peaks};
	snprintf(r.name, sizeof(r.name), "%s", name);
	struct retired *old = retired_find(p, name);
	if (old) {
		bd_peaks_merge(&r.peaks, &old->peaks);
		retired_drop(p, old);
	}
	r.peaks.dirty = false;
	if (p->n_retired == RETIRED_MAX)
		retired_drop(p, p->retired);
	if (p->n_retired == p->retired_cap) {
		size_t cap = p->retired_cap ? p->retired_cap * 2 : 16;
		void *v = realloc(p->retired, cap * sizeof(*p->retired));
		if (!v) {
			bd_warn("%s: out of memory: its memory peaks are "
				"dropped",
				name);
			return;
		}
		p->retired = v;
		p->retired_cap = cap;
	}
	p->retired[p->n_retired++] = r;
}

/* The next write: the pending journal lines, or a whole snapshot. */
static struct save_job *next_job(struct bd *bd)
{
	struct bd_persist *p = bd->persist;
	struct save_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->bd = bd;
	j->gen = p->dirty_gen;
	j->journal_fd = p->journal_fd;
	j->work.data = j;
	size_t limit = bd->n_guests > 256 ? bd->n_guests : 256;
	if (p->journal_fd < 0 || p->compact_due ||
	    p->journal_entries >= limit) {
		j->kind = SAVE_COMPACT;
		retired_expire(p, bd_peaks_day(bd_wall_us(bd)));
		j->specs = calloc(bd->n_guests + 1, sizeof(*j->specs));
		j->peaks = calloc(bd->n_guests + 1, sizeof(*j->peaks));
		j->retired = calloc(p->n_retired + 1, sizeof(*j->retired));
		if (!j->specs || !j->peaks || !j->retired ||
		    bd_state_path(bd, STATE_FILE, j->path, sizeof(j->path)) ||
		    bd_state_path(bd, JOURNAL_FILE, j->journal_path,
				  sizeof(j->journal_path))) {
			job_free(j);
			return NULL;
		}
		bd_guest_foreach (g, bd)
			if (!g->removed && !g->reg.registering) {
				g->peaks.dirty = false;
				j->peaks[j->n] = g->peaks;
				j->specs[j->n++] = g->spec;
			}
		if (p->n_retired)
			memcpy(j->retired, p->retired,
			       p->n_retired * sizeof(*j->retired));
		j->n_retired = p->n_retired;
		/* The snapshot holds every pending change. */
		j->entries = p->journal_entries;
		j->sync_journal = p->unsynced && p->journal_fd >= 0;
		put_entries(p->pending, p->n_pending);
		p->n_pending = 0;
		p->compact_due = false;
	} else {
		j->kind = SAVE_APPEND;
		j->sync = p->sync_due;
		j->lines = p->pending;
		j->n_lines = p->n_pending;
		p->pending = NULL;
		p->n_pending = p->pending_cap = 0;
	}
	p->sync_due = false;
	return j;
}

static void start_save(struct bd *bd)
{
	struct bd_persist *p = bd->persist;
	if (p->running || (p->dirty_gen == p->saved_gen && !p->sync_due) ||
	    uv_is_active((uv_handle_t *)&p->retry))
		return;
	struct save_job *j = next_job(bd);
	if (!j ||
	    uv_queue_work(bd->loop, &j->work, save_work_cb, save_done_cb)) {
		job_free(j);
		bd_err("cannot start saving registrations");
		p->compact_due = true;
		p->sync_due = true;
		persisted(bd, p->dirty_gen, -ENOMEM);
		if (!p->closing)
			uv_timer_start(&p->retry, retry_cb, 1000, 0);
		return;
	}
	p->running = true;
}

static void persist_check_cb(uv_check_t *h)
{
	struct bd *bd = h->data;
	uv_check_stop(h);
	/* Commands first: a pin's balloon command need not wait for the
	 * state file. */
	bd_replan_now(bd);
	start_save(bd);
}

static uint64_t changed(struct bd *bd)
{
	struct bd_persist *p = bd->persist;
	p->dirty_gen++;
	if (!p->running && !uv_is_active((uv_handle_t *)&p->check))
		uv_check_start(&p->check, persist_check_cb);
	return p->dirty_gen;
}

/* Queue one journal entry, obj (taken) or else a put of spec: the save
 * writes it as one line, and flushes it unless !sync. */
static uint64_t journal(struct bd *bd, json_object *obj,
			const struct bd_guest_spec *spec, bool sync)
{
	struct bd_persist *p = bd->persist;
	p->sync_due |= sync;
	if (p->n_pending == p->pending_cap) {
		size_t cap = p->pending_cap ? p->pending_cap * 2 : 64;
		struct entry *v = realloc(p->pending, cap * sizeof(*v));
		if (!v) {
			/* Saved whole by the next write instead. */
			p->compact_due = true;
			json_object_put(obj);
			return changed(bd);
		}
		p->pending = v;
		p->pending_cap = cap;
	}
	struct entry *e = &p->pending[p->n_pending++];
	e->obj = obj;
	if (!obj)
		e->spec = *spec;
	p->journal_entries++;
	return changed(bd);
}

static uint64_t put(struct bd *bd, const struct bd_guest_spec *spec, bool sync)
{
	if (!bd->persist)
		return 0;
	/* Registered again: the history it had is back (the days between
	 * are simply missing). */
	struct retired *r = retired_find(bd->persist, spec->name);
	if (r) {
		struct bd_guest *g = bd_guest_find(bd, spec->name);
		if (g)
			bd_peaks_merge(&g->peaks, &r->peaks);
		retired_drop(bd->persist, r);
	}
	return journal(bd, NULL, spec, sync);
}

uint64_t bd_state_put(struct bd *bd, const struct bd_guest_spec *spec)
{
	return put(bd, spec, true);
}

uint64_t bd_state_put_running(struct bd *bd, const struct bd_guest_spec *spec)
{
	return put(bd, spec, false);
}

uint64_t bd_state_peaks(struct bd *bd, struct bd_guest *g)
{
	if (!bd->persist || g->removed || g->reg.registering)
		return 0;
	g->peaks.dirty = false;
	json_object *e = json_object_new_object();
	json_object_object_add(e, "peaks", peaks_json(g->spec.name, &g->peaks));
	return journal(bd, e, NULL, true);
}

uint64_t bd_state_del(struct bd *bd, const char *name)
{
	if (!bd->persist)
		return 0;
	json_object *e = json_object_new_object();
	json_object_object_add(e, "del", json_object_new_string(name));
	/* Its history is retired, with today's peaks so far: a key that a
	 * balloond older than retirement skips. */
	struct bd_guest *g = bd_guest_find(bd, name);
	if (g && (g->peaks.known || g->peaks.starved)) {
		json_object_object_add(
		    e, "days", bd_peaks_to_json(&g->peaks, g->peaks.day));
		retire(bd, name, &g->peaks);
	}
	return journal(bd, e, NULL, true);
}

uint64_t bd_state_dirty_all(struct bd *bd)
{
	if (!bd->persist)
		return 0;
	bd->persist->compact_due = true;
	return changed(bd);
}

uint64_t bd_state_saved(const struct bd *bd)
{
	return bd->persist ? bd->persist->saved_gen : UINT64_MAX;
}

uint64_t bd_state_pending(const struct bd *bd)
{
	return bd->persist ? bd->persist->dirty_gen : 0;
}

uint64_t bd_state_sync(struct bd *bd)
{
	struct bd_persist *p = bd->persist;
	if (!p)
		return 0;
	if (p->dirty_gen == p->saved_gen && !p->unsynced)
		return p->saved_gen;
	p->sync_due = true;
	return changed(bd);
}

void bd_state_flush(struct bd *bd)
{
	struct bd_persist *p = bd->persist;
	/* Today's peaks so far, which only a new day would save. */
	struct bd_guest *g;
	TAILQ_FOREACH (g, &bd->guests, entry)
		if (p && g->peaks.dirty)
			bd_state_peaks(bd, g);
	/* A save in the pool finishes on its own (the loop runs until it
	 * has); one that has not started is done here and now, flushed. */
	if (!p || p->running)
		return;
	if (p->dirty_gen == p->saved_gen && !p->compact_due) {
		if (!p->unsynced || fdatasync(p->journal_fd) == 0) {
			p->unsynced = false;
			return;
		}
		/* What the journal holds is unknown: a snapshot, from
		 * memory, like a failed save's retry. */
		bd_err("cannot flush the journal: %s", strerror(errno));
		p->compact_due = true;
	}
	uv_check_stop(&p->check);
	uv_timer_stop(&p->retry);
	p->sync_due = true;
	struct save_job *j = next_job(bd);
	int rc = j ? run_job(j) : -ENOMEM;
	if (rc) {
		p->compact_due = true;
		bd_err("cannot save registrations: %s", strerror(-rc));
	} else {
		saved(p, j);
	}
	persisted(bd, j ? j->gen : p->dirty_gen, rc);
	job_free(j);
}

int bd_state_init(struct bd *bd)
{
	char jpath[BD_FILE_PATH_MAX];
	struct bd_persist *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->journal_fd = -1;
	uv_check_init(bd->loop, &p->check);
	p->check.data = bd;
	uv_timer_init(bd->loop, &p->retry);
	p->retry.data = bd;
	uv_timer_init(bd->loop, &p->flush_later);
	p->flush_later.data = bd;
	bd->persist = p;
	return bd_state_path(bd, JOURNAL_FILE, jpath, sizeof(jpath));
}

/* After loading: the journal is appended to from now on. Without it every
 * change is a whole snapshot (slower, as safe). */
static void open_journal(struct bd *bd, size_t good_len)
{
	char jpath[BD_FILE_PATH_MAX];
	struct bd_persist *p = bd->persist;
	if (bd_state_path(bd, JOURNAL_FILE, jpath, sizeof(jpath)))
		return;
	p->journal_fd =
	    open(jpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (p->journal_fd < 0) {
		bd_warn("cannot open %s: %s; saving whole snapshots instead",
			jpath, strerror(errno));
		return;
	}
	struct stat st;
	if (fstat(p->journal_fd, &st) == 0 && (size_t)st.st_size > good_len &&
	    ftruncate(p->journal_fd, (off_t)good_len) < 0)
		bd_warn("cannot cut the torn end off %s: %s", jpath,
			strerror(errno));
	/* Its directory entry must be on disk before anything relies on
	 * it. */
	int dfd = open(bd->conf.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

static void persist_closed_cb(uv_handle_t *h)
{
	struct bd *bd = h->data;
	if (--bd->persist->closes_pending == 0) {
		struct bd_persist *p = bd->persist;
		if (p->journal_fd >= 0)
			close(p->journal_fd);
		put_entries(p->pending, p->n_pending);
		free(p->pending);
		free(p->retired);
		free(p);
		bd->persist = NULL;
	}
}

/* Whatever is still dirty is written now; then the handles close. */
static void close_persist(struct bd *bd)
{
	struct bd_persist *p = bd->persist;
	bd_state_flush(bd);
	p->closes_pending = 3;
	uv_close((uv_handle_t *)&p->check, persist_closed_cb);
	uv_close((uv_handle_t *)&p->retry, persist_closed_cb);
	uv_close((uv_handle_t *)&p->flush_later, persist_closed_cb);
}

void bd_state_close(struct bd *bd)
{
	struct bd_persist *p = bd->persist;
	if (!p || p->closing)
		return;
	p->closing = true;
	if (!p->running) /* else when the save in the pool is done */
		close_persist(bd);
}
