/*
 * patroniparse.h: Patroni's REST answers as facts, pure functions over
 * the bytes of a body (json-c only: no libuv, no curl, no daemon state),
 * so that the tests and the fuzzer call them on anything.
 *
 *   GET /cluster   {"members": [{"name", "role", "state", "api_url", ...}]}
 *                  role: leader, standby_leader, sync_standby, replica
 *                  (Patroni 3.0.2's cluster_as_json); newer Patroni says
 *                  "state": "streaming" for a replica that streams, and
 *                  (3.2 on) gives the cluster's "scope".
 *   GET /patroni   the member's own view; on the leader "role" is master
 *                  (3.x) or primary (4.x) and "replication" lists the WAL
 *                  senders: [{"application_name", "state", ...}], where
 *                  application_name is the replica's member name;
 *                  "patroni": {"scope", and (3.2 on) "name"}.
 *
 * /cluster's roles come from the DCS, as seen by the member asked, which
 * can lag; so do its lag and its "state", which each member writes there
 * for itself once per loop_wait. While a replica is being promoted, a
 * lagging view still calls it a streaming replica. So streaming is taken
 * from the leader's own replication list only: the WAL senders of a
 * PostgreSQL that runs as the primary now.
 *
 * Each parser returns 0, or a negative errno with a static explanation in
 * *why: -EMSGSIZE for a body over PP_MAX_BODY_BYTES, -EINVAL for anything
 * that is not the answer expected (not JSON, wrong types, a member without
 * a name, two members of one name, two leaders). On error the output
 * describes nothing (no members, no leader).
 */
#ifndef BALLOOND_PATRONIPARSE_H
#define BALLOOND_PATRONIPARSE_H

#include <stdbool.h>
#include <stddef.h>

/* Patroni's answers are a few hundred bytes per member; anything larger
 * than this is not one (fail-open, and no memory spent on it). */
#define PP_MAX_BODY_BYTES (256 * 1024)
/* Members kept per cluster. A member beyond them is not described, so its
 * guest stays at max (never a shrink on missing facts). */
#define PP_MAX_MEMBERS 32
/* WAL senders kept from the leader's replication list. */
#define PP_MAX_SENDERS 64

struct pp_member {
	char name[64];
	char role[24];	   /* as /cluster says it; "" when absent */
	char state[24];	   /* ditto */
	char api_url[256]; /* ditto; "" when absent or too long */
	bool leader;	   /* role leader, standby_leader (master, primary) */
	bool streaming;	   /* in the leader's list (pp_apply_replication) */
};

struct pp_cluster {
	char scope[64]; /* "" when absent (Patroni before 3.2) */
	struct pp_member members[PP_MAX_MEMBERS];
	size_t n_members;
	size_t n_ignored; /* members beyond PP_MAX_MEMBERS */
	int leader;	  /* index into members; -1: no leader */
	bool paused;	  /* "pause": true (maintenance mode) */
};

/* The leader's GET /patroni. */
struct pp_patroni {
	char role[24];	/* "" when absent */
	char scope[64]; /* patroni.scope; "" when absent */
	char name[64];	/* patroni.name, the member's; "" when absent */
	bool leader;	/* role master, primary or standby_leader */
	bool unlocked;	/* "cluster_unlocked": true: it holds no lock */
	char streaming[PP_MAX_SENDERS][64]; /* senders in state streaming */
	size_t n_streaming;
};

/* Is this Patroni role word (any case) a leader's? master, primary,
 * leader, standby_leader. */
bool pp_role_is_leader(const char *role);

int pp_parse_cluster(const char *body, size_t len, struct pp_cluster *out,
		     const char **why);
int pp_parse_patroni(const char *body, size_t len, struct pp_patroni *out,
		     const char **why);

/* Mark the members the leader streams to (by application_name). Returns
 * how many members it marked. */
size_t pp_apply_replication(struct pp_cluster *c, const struct pp_patroni *p);

/* A member by name, or NULL. */
const struct pp_member *pp_member_find(const struct pp_cluster *c,
				       const char *name);

#endif
