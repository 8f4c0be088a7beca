/*
 * fakeqmp.h: a fake QEMU monitor for tests and benchmarks.
 *
 * One struct fakeqmp is one QMP socket of one pretend guest, served on a
 * libuv loop. It answers like QEMU 7.2 with a virtio-balloon device (as
 * recorded from Debian 12's QEMU; see tests/fuzz/corpus/qmp-stream/), and
 * can be told, at any time, to misbehave: delay or drop replies, send
 * garbage, an endless line, a wrong id, no greeting, cut a reply in half, or
 * act as a guest without a balloon device. Every command it receives is
 * recorded (name, arguments, id, arrival time) so tests can check what went
 * over the wire and in which order.
 *
 * Like QEMU, it serves one client per socket: a second client is accepted
 * but gets no greeting (and nothing is read from it) until the first leaves.
 *
 * The same code serves many sockets in tests/lib/fake-qmp.c, the standalone
 * fake used by scripts and benchmarks. The end of this header has what the
 * cmocka tests share: loop helpers (run_until), a "probe" (a qmp_client
 * whose callbacks only count what happened) and a fixture (a loop, the
 * fake under test, and a healthy fake with its own client).
 */
#ifndef BALLOOND_FAKEQMP_H
#define BALLOOND_FAKEQMP_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "qmp/qmp.h"

struct fakeqmp;

/* How commands (qmp_capabilities included) are answered. */
enum fakeqmp_reply {
	FAKEQMP_NORMAL,	    /* at once, like QEMU */
	FAKEQMP_DELAY,	    /* like QEMU, delay_ms later (order is kept) */
	FAKEQMP_HANG,	    /* never */
	FAKEQMP_GARBAGE,    /* with a line that is not JSON */
	FAKEQMP_DISCONNECT, /* with half a reply, then the connection closes */
	FAKEQMP_ENDLESS,    /* with a line that never ends, written for as
			     * long as the client reads (one chunk in flight,
			     * so the fake's memory stays bounded) */
	FAKEQMP_WRONG_ID,   /* with the right answer under another id */
};

/* What the fake does; change it at any time (fakeqmp_behaviour), it applies
 * from the next connection or command on. Zero is "like QEMU". */
struct fakeqmp_behaviour {
	enum fakeqmp_reply reply;
	uint64_t delay_ms;	  /* FAKEQMP_DELAY */
	bool no_greeting;	  /* accept connections, then say nothing */
	bool refuse_capabilities; /* qmp_capabilities gets a GenericError */
	bool no_balloon;	  /* no balloon device: DeviceNotActive from
				   * balloon/query-balloon, DeviceNotFound
				   * from qom-get/qom-set on its path */
	bool anon_balloon;	  /* the device has no id: it is
				   * /machine/peripheral-anon/device[0] */
	bool lazy_containers;	  /* a peripheral container with no device
				   * does not exist (qom-list answers
				   * DeviceNotFound); QEMU 7.2 always has
				   * both, other versions need not */
	bool stuck;		  /* no guest driver: actual never moves and
				   * guest stats stay -1 (QEMU with a guest
				   * that has not booted yet); cleared, it
				   * moves to its last target */
	bool chatty;		  /* an event right before and right after
				   * every reply */
	bool balloon_error;	  /* the next `balloon` answers a
				   * GenericError, once: the flag then
				   * clears itself */
	bool memsize_error;	  /* query-memory-size-summary answers a
				   * GenericError */
	/* The balloon device's options, as qom-get reads them (QEMU's
	 * default: both off). */
	bool free_page_reporting, deflate_on_oom;
	/* Guest stats: what the guest uses; it reports its actual size less
	 * this as available (0: about half of it, as by default). */
	uint64_t used_bytes;
};

/* One command as received. */
struct fakeqmp_cmd {
	char execute[64];	/* "" when the message had none */
	json_object *arguments; /* "arguments", or NULL; owned by the fake */
	/* Or, for a `balloon` read by its text (fakeqmp.c, quick_balloon),
	 * with arguments NULL: the arguments' text as json-c prints them
	 * (plain), arguments_len bytes. Never while recording. */
	const char *arguments_text;
	size_t arguments_len;
	bool has_id; /* an integer "id" came with it */
	int64_t id;
	uint64_t t_ns; /* uv_hrtime() at arrival (monotonic) */
};

/* Called for every command as it arrives, before it is answered. */
typedef void (*fakeqmp_command_cb)(struct fakeqmp *s,
				   const struct fakeqmp_cmd *cmd, void *data);

struct fakeqmp_config {
	const char *path;   /* socket to create; a stale one is removed */
	const char *name;   /* for logs and lookups; default: basename */
	uint64_t ram_bytes; /* guest RAM: the initial and maximum actual */
	uint64_t move_ms;   /* after `balloon`, actual reaches the target
			     * and BALLOON_CHANGE is sent this much later */
	bool record;	    /* keep every command (fakeqmp_command) */
	fakeqmp_command_cb command_cb; /* may be NULL */
	void *data;
};

#define FAKEQMP_CONFIG_DEFAULT                                                 \
	((struct fakeqmp_config){                                              \
	    .path = NULL,                                                      \
	    .name = NULL,                                                      \
	    .ram_bytes = 256 << 20,                                            \
	    .move_ms = 0,                                                      \
	    .record = true,                                                    \
	    .command_cb = NULL,                                                \
	    .data = NULL,                                                      \
	})

/* Bind and listen on cfg->path. Returns 0 or -errno. */
int fakeqmp_new(uv_loop_t *loop, const struct fakeqmp_config *cfg,
		struct fakeqmp **out);
/* Close the clients and the socket, remove the socket file, free
 * everything once libuv has closed the handles (run the loop). */
void fakeqmp_close(struct fakeqmp *s);

struct fakeqmp_behaviour *fakeqmp_behaviour(struct fakeqmp *s);
/* Change behaviour by name, as fake-qmp's control socket does:
 * "normal" (everything back to default), "delay=MS", "hang", "garbage",
 * "disconnect", "endless", "wrong-id", and the flags "no-greeting",
 * "refuse-caps", "no-balloon", "anon-balloon", "lazy-containers", "stuck",
 * "chatty", "balloon-error", "memsize-error" (each also as FLAG=0 or FLAG=1),
 * and "used=BYTES" (guest stats: what the guest uses; 0: the default).
 * Returns 0 or -EINVAL. */
int fakeqmp_set_mode(struct fakeqmp *s, const char *mode);
/* Describe the behaviour the way fakeqmp_set_mode takes it, e.g.
 * "delay=100,no-balloon". */
void fakeqmp_mode_string(const struct fakeqmp *s, char *buf, size_t size);

/* Drop the client being served, at once (the next waiting one, if any,
 * is greeted). */
void fakeqmp_disconnect(struct fakeqmp *s);
/* Send an event to the client being served, if it has negotiated
 * capabilities (QEMU sends none before). data_json NULL means: RESET
 * {"guest": true, "reason": "guest-reset"}, BALLOON_CHANGE {"actual": N},
 * anything else no data. Returns 0, -ENOTCONN or -EINVAL (bad JSON). */
int fakeqmp_send_event(struct fakeqmp *s, const char *name,
		       const char *data_json);

/* Send text as is (CRLF added) to the client being served, greeted or
 * not: scripted replies, malformed messages. Returns 0 or -ENOTCONN. */
int fakeqmp_send_raw(struct fakeqmp *s, const char *text);
/* Bytes queued for writing to the client being served (0 if none): how
 * much the fake itself is holding, e.g. while it writes an endless line. */
size_t fakeqmp_write_queue_bytes(const struct fakeqmp *s);

/* Another monitor's `balloon` (libvirt's, an admin's): the target changes
 * and actual follows as after a `balloon` on this socket (move_ms later,
 * with BALLOON_CHANGE to the client being served). Not recorded as a
 * command. Returns 0, or -EINVAL for 0 or a target above RAM. */
int fakeqmp_balloon(struct fakeqmp *s, uint64_t target_bytes);

/* The pretend guest. */
uint64_t fakeqmp_actual(const struct fakeqmp *s);
uint64_t fakeqmp_target(const struct fakeqmp *s);
unsigned fakeqmp_stats_interval(const struct fakeqmp *s);
const char *fakeqmp_name(const struct fakeqmp *s);
/* Whether json-c prints s as it is between quotes (PLAIN, NOSLASHESCAPE):
 * nothing in it to escape. The fake prints its hot lines directly then. */
bool fakeqmp_json_plain(const char *s);
const char *fakeqmp_path(const struct fakeqmp *s);
/* Connections accepted so far, and whether one is being served. */
unsigned fakeqmp_connections(const struct fakeqmp *s);
bool fakeqmp_connected(const struct fakeqmp *s);
/* A JSON summary for scripts: name, actual, target, mode, connections... */
json_object *fakeqmp_status(const struct fakeqmp *s);

/* The commands received (with cfg.record), oldest first. */
size_t fakeqmp_ncommands(const struct fakeqmp *s);
const struct fakeqmp_cmd *fakeqmp_command(const struct fakeqmp *s, size_t i);
/* How many of them were `execute`. */
size_t fakeqmp_count(const struct fakeqmp *s, const char *execute);
void fakeqmp_clear_commands(struct fakeqmp *s);

/* ---- Loop helpers for tests ---- */

/* Run the loop until *flag is nonzero or deadline_ms (times
 * test_time_scale(), tests/lib/timescale.h) have passed (a uv timer ends the
 * wait, so nothing sleeps). True when the flag was set. */
bool run_until(uv_loop_t *loop, const int *flag, uint64_t deadline_ms);
/* The same with a condition function. */
bool run_until_fn(uv_loop_t *loop, bool (*cond)(void *arg), void *arg,
		  uint64_t deadline_ms);
/* Run the loop for ms, whatever happens (to check that nothing does);
 * not scaled. */
void run_for(uv_loop_t *loop, uint64_t ms);

/* ---- The probe: a qmp_client that counts what its callbacks see ---- */

#define PROBE_MAX_DISCONNECTS 32

struct probe {
	qmp_client *c; /* NULL once closed */
	uv_loop_t *loop;
	int ready;				       /* ready_cb calls */
	int disconnects;			       /* disconnect_cb calls */
	int disconnect_err[PROBE_MAX_DISCONNECTS];     /* err of each */
	uint64_t disconnect_ms[PROBE_MAX_DISCONNECTS]; /* uv_now at each */
	int balloon_changes;	   /* balloon_change_cb calls */
	uint64_t last_actual;	   /* its bytes */
	int resets;		   /* reset_cb calls */
	int events;		   /* event_cb calls */
	char last_event[64];	   /* the last event's name */
	int64_t last_event_ts_us;  /* and its timestamp */
	char last_event_data[256]; /* and its data as JSON ("" if none) */
	int closed;		   /* close callback calls */
	/* Set to make a callback close the client from inside itself. */
	bool close_in_ready, close_in_disconnect, close_in_reset;
};

/* Create and start a client on cfg (whose socket_path must be set).
 * Returns 0 or what qmp_client_new/start returned. */
int probe_start(struct probe *p, uv_loop_t *loop, const struct qmp_config *cfg);
/* qmp_client_close unless already closed from a callback. */
void probe_close(struct probe *p);

/* One command's outcome, filled by result_cb. */
struct result {
	int n; /* calls: must end up exactly 1 */
	int err;
	char error_class[64];
	char ret[512];	/* the return value as JSON text */
	uint64_t bytes; /* typed size callbacks */
	char path[256]; /* find_path */
	struct qmp_guest_stats stats;
	bool has_stats; /* stats_cb got a non-NULL pointer */
	/* With probe set: its event count when the reply came (to check
	 * that events before the reply were dispatched before it). */
	struct probe *probe;
	int events_at_reply;
	/* Close the probe's client from inside this callback. */
	bool close_client;
};

void result_cb(qmp_client *c, const struct qmp_reply *r, void *data);
void status_cb(qmp_client *c, int err, void *data);
void size_cb(qmp_client *c, int err, uint64_t bytes, void *data);
void path_cb(qmp_client *c, int err, const char *path, void *data);
void stats_cb(qmp_client *c, int err, const struct qmp_guest_stats *st,
	      void *data);

/* ---- A cmocka fixture: a loop, a temp dir, two fakes, two probes ----
 *
 * `fake` (at `path`) is the server under test, `probe` its client, which
 * each test starts with its own settings. `good` is a healthy fake whose
 * client `healthy` is ready when the test begins: after each fault, the
 * test checks that it still works (a misbehaving guest affects only
 * itself). The functions return 0 / true on success, so cmocka can use
 * them as setup and teardown. */
struct fixture {
	uv_loop_t loop;
	char dir[64];
	char path[128], good_path[128];
	struct fakeqmp *fake, *good;
	struct probe probe, healthy;
};

/* Also ignores SIGPIPE (as balloond does) and arms a 30 s alarm (times
 * test_time_scale()) that kills a hung test. */
int fixture_setup(void **state);
/* Closes every client and fake, runs the loop dry, fails unless
 * uv_loop_close returns 0. */
int fixture_teardown(void **state);
/* Short timeouts suited to tests, for the socket at path (the greeting
 * and command timeouts times test_time_scale()). */
struct qmp_config fixture_config(const char *path);
/* The healthy client answers a query-balloon and never disconnected. */
bool fixture_healthy(struct fixture *f);

#endif
