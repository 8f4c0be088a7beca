/*
 * patroniparse.c: Patroni's /cluster and /patroni answers as facts (see
 * patroniparse.h). A file of its own, json-c only, so that the fuzzer
 * links it alone.
 */
#include "patroniparse.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>
#include <strings.h>

/* Nesting deeper than this is no Patroni answer (json-c's default is 32;
 * /cluster's deepest value, a member's tags, sits at depth 4). */
#define MAX_DEPTH 16

bool pp_role_is_leader(const char *role)
{
	static const char *const words[] = {"leader", "standby_leader",
					    "master", "primary"};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(role, words[i]) == 0)
			return true;
	return false;
}

/* The whole of [body, body + len) as one JSON object, or NULL. */
static json_object *parse_object(const char *body, size_t len, const char **why)
{
	if (len > PP_MAX_BODY_BYTES) {
		*why = "answer larger than 256 KiB";
		return NULL;
	}
	/* json-c stops at a NUL as at the end of its input; Patroni never
	 * sends one, so a NUL is garbage, not an end. */
	if (memchr(body, '\0', len)) {
		*why = "answer is not JSON (a NUL byte)";
		return NULL;
	}
	json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
	if (!tok) {
		*why = "out of memory";
		return NULL;
	}
	json_object *o = json_tokener_parse_ex(tok, body, (int)len);
	size_t end = json_tokener_get_parse_end(tok);
	bool ok = o && json_tokener_get_error(tok) == json_tokener_success;
	json_tokener_free(tok);
	/* Whitespace may follow the value; anything else is garbage. */
	for (; ok && end < len; end++)
		ok = strchr(" \t\r\n", body[end]) != NULL;
	if (!ok || !json_object_is_type(o, json_type_object)) {
		*why =
		    ok ? "answer is not a JSON object" : "answer is not JSON";
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* An optional string member of o: "" when absent or null; false when of
 * another type. Too long for out: false, unless trunc_ok (then ""). */
static bool get_string(json_object *o, const char *key, char *out, size_t size,
		       bool too_long_ok)
{
	json_object *v;
	out[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return true;
	if (!json_object_is_type(v, json_type_string))
		return false;
	size_t n = (size_t)json_object_get_string_len(v);
	if (n >= size || memchr(json_object_get_string(v), '\0', n))
		return too_long_ok;
	memcpy(out, json_object_get_string(v), n + 1);
	return true;
}

static int parse_member(json_object *m, struct pp_member *out, const char **why)
{
	*out = (struct pp_member){0};
	if (!json_object_is_type(m, json_type_object)) {
		*why = "/cluster: a member is not an object";
		return -EINVAL;
	}
	if (!get_string(m, "name", out->name, sizeof(out->name), false) ||
	    !out->name[0]) {
		*why = "/cluster: a member without a name (or one over 63 "
		       "bytes)";
		return -EINVAL;
	}
	/* A role or state too long for its field is no word Patroni knows:
	 * kept as "" (neither leader nor streaming). */
	if (!get_string(m, "role", out->role, sizeof(out->role), true) ||
	    !get_string(m, "state", out->state, sizeof(out->state), true) ||
	    !get_string(m, "api_url", out->api_url, sizeof(out->api_url),
			true)) {
		*why = "/cluster: a member's role, state or api_url is not a "
		       "string";
		return -EINVAL;
	}
	out->leader = pp_role_is_leader(out->role);
	return 0;
}

int pp_parse_cluster(const char *body, size_t len, struct pp_cluster *out,
		     const char **why)
{
	*out = (struct pp_cluster){.leader = -1};
	json_object *o = parse_object(body, len, why);
	if (!o)
		return len > PP_MAX_BODY_BYTES ? -EMSGSIZE : -EINVAL;
	int rc = -EINVAL;
	json_object *members, *pause;
	if (!json_object_object_get_ex(o, "members", &members) ||
	    !json_object_is_type(members, json_type_array)) {
		*why = "/cluster: no members list";
		goto fail;
	}
	if (json_object_object_get_ex(o, "pause", &pause))
		out->paused = json_object_get_boolean(pause);
	/* A scope too long to keep is no section's name: an error, not an
	 * absent scope (which passes). */
	if (!get_string(o, "scope", out->scope, sizeof(out->scope), false)) {
		*why = "/cluster: scope is not a string (or over 63 bytes)";
		goto fail;
	}
	size_t n = json_object_array_length(members);
	int leaders = 0;
	for (size_t i = 0; i < n; i++) {
		struct pp_member m;
		rc = parse_member(json_object_array_get_idx(members, i), &m,
				  why);
		if (rc)
			goto fail;
		rc = -EINVAL;
		if (pp_member_find(out, m.name)) {
			*why = "/cluster: two members of one name";
			goto fail;
		}
		leaders += m.leader;
		if (leaders > 1) {
			/* One lock, one leader: two means the answer is not
			 * to be trusted. */
			*why = "/cluster: two leaders";
			goto fail;
		}
		if (out->n_members == PP_MAX_MEMBERS) {
			/* Too many to keep: the leader still must be, so it
			 * takes the last place (the member there goes). */
			out->n_ignored++;
			if (!m.leader)
				continue;
			out->members[PP_MAX_MEMBERS - 1] = m;
			out->leader = PP_MAX_MEMBERS - 1;
			continue;
		}
		if (m.leader)
			out->leader = (int)out->n_members;
		out->members[out->n_members++] = m;
	}
	json_object_put(o);
	return 0;
fail:
	json_object_put(o);
	*out = (struct pp_cluster){.leader = -1};
	return rc;
}

int pp_parse_patroni(const char *body, size_t len, struct pp_patroni *out,
		     const char **why)
{
	*out = (struct pp_patroni){0};
	json_object *o = parse_object(body, len, why);
	if (!o)
		return len > PP_MAX_BODY_BYTES ? -EMSGSIZE : -EINVAL;
	json_object *repl, *unlocked, *patroni;
	if (!get_string(o, "role", out->role, sizeof(out->role), true)) {
		*why = "/patroni: role is not a string";
		goto fail;
	}
	if (json_object_object_get_ex(o, "patroni", &patroni) && patroni &&
	    (!json_object_is_type(patroni, json_type_object) ||
	     !get_string(patroni, "scope", out->scope, sizeof(out->scope),
			 false) ||
	     !get_string(patroni, "name", out->name, sizeof(out->name),
			 false))) {
		*why = "/patroni: patroni is not an object of a scope and a "
		       "name (strings of at most 63 bytes)";
		goto fail;
	}
	out->leader = pp_role_is_leader(out->role);
	if (json_object_object_get_ex(o, "cluster_unlocked", &unlocked))
		out->unlocked = json_object_get_boolean(unlocked);
	/* No list: no WAL sender (Patroni leaves it out then). */
	if (!json_object_object_get_ex(o, "replication", &repl) || !repl) {
		json_object_put(o);
		return 0;
	}
	if (!json_object_is_type(repl, json_type_array)) {
		*why = "/patroni: replication is not a list";
		goto fail;
	}
	size_t n = json_object_array_length(repl);
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(repl, i);
		char name[64], state[24];
		if (!json_object_is_type(s, json_type_object) ||
		    !get_string(s, "application_name", name, sizeof(name),
				true) ||
		    !get_string(s, "state", state, sizeof(state), true)) {
			*why = "/patroni: a replication entry is not an object "
			       "of strings";
			goto fail;
		}
		/* Other senders (a pg_basebackup, a name too long to be a
		 * member's) stream no member. */
		if (!name[0] || strcasecmp(state, "streaming") != 0 ||
		    out->n_streaming == PP_MAX_SENDERS)
			continue;
		memcpy(out->streaming[out->n_streaming++], name, sizeof(name));
	}
	json_object_put(o);
	return 0;
fail:
	json_object_put(o);
	*out = (struct pp_patroni){0};
	return -EINVAL;
}

const struct pp_member *pp_member_find(const struct pp_cluster *c,
				       const char *name)
{
	for (size_t i = 0; i < c->n_members; i++)
		if (strcmp(c->members[i].name, name) == 0)
			return &c->members[i];
	return NULL;
}

size_t pp_apply_replication(struct pp_cluster *c, const struct pp_patroni *p)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n_members; i++) {
		struct pp_member *m = &c->members[i];
		if (m->leader)
			continue;
		for (size_t k = 0; k < p->n_streaming; k++)
			if (strcmp(m->name, p->streaming[k]) == 0) {
				n += !m->streaming;
				m->streaming = true;
				break;
			}
	}
	return n;
}
