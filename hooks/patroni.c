/*
 * patroni.c: balloond-patroni, Patroni's callback. Patroni runs the
 * configured command with ACTION ROLE SCOPE appended, one callback at a
 * time, and kills a running one when the next arrives: this sends one
 * role notification and exits 0 at once, within a hard timeout when
 * balloond does not answer, spooling the notification when it could not
 * be delivered (a late push does no harm: a push can only make things
 * safer).
 *
 * Transports: the control socket (local), or one signed UDP datagram to
 * balloond's network listener (--notify, for Patroni inside a guest).
 * --pre-promote is for Patroni's postgresql.pre_promote: push "leader"
 * and wait, bounded, until the guest's balloon is at its max; it always
 * exits 0, since a non-zero exit would cancel the failover.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "proto/fileio.h"
#include "proto/jsonout.h"
#include "proto/notify.h"
#include "proto/proto.h"
#include "proto/quickcall.h"
#include "proto/spool.h"
#include "proto/units.h"

#define PROG "balloond-patroni"
/* Over the daemon's own wait in --pre-promote: its reply's way back. */
#define PRE_PROMOTE_MARGIN_MS 500

struct opts {
	const char *member, *cluster;
	const char *socket, *state_dir;
	const char *notify, *key_file;
	uint64_t timeout_ms; /* the local transport's hard deadline */
	uint64_t wait_ms;    /* --pre-promote: the daemon's wait */
	bool pre_promote;
};

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: " PROG " --member NAME [OPTIONS] ACTION ROLE SCOPE\n"
	    "       " PROG " --pre-promote --cluster NAME --member NAME "
	    "[OPTIONS]\n"
	    "\n"
	    "Patroni's callback for balloond: tells balloond the member's "
	    "role.\n"
	    "Patroni appends ACTION ROLE SCOPE (on_start, on_stop, "
	    "on_restart,\n"
	    "on_reload, on_role_change; master, primary, promoted, "
	    "standby_leader,\n"
	    "replica, demoted); on_stop and demoted say \"unknown\", which "
	    "keeps\n"
	    "the guest at its max.\n"
	    "\n"
	    "  -m, --member NAME       this Patroni member (required)\n"
	    "  -c, --cluster NAME      balloond's cluster name (default: "
	    "SCOPE)\n"
	    "  -s, --socket PATH       control socket (default "
	    "$BALLOOND_SOCKET,\n"
	    "                          else %s)\n"
	    "  -d, --state-dir DIR     spool here when balloond is "
	    "unreachable\n"
	    "                          (default $BALLOOND_STATE_DIR, else "
	    "%s)\n"
	    "  -t, --timeout-ms MS     give up on the control socket after "
	    "MS\n"
	    "                          and spool (default 1000); with "
	    "--notify,\n"
	    "                          give up looking HOST up after MS\n"
	    "  -n, --notify HOST:PORT  send one signed UDP datagram to "
	    "balloond's\n"
	    "                          network listener instead ([::1]:PORT "
	    "for IPv6)\n"
	    "  -k, --key-file FILE     the cluster's key, for --notify\n"
	    "  -p, --pre-promote       Patroni's postgresql.pre_promote: "
	    "push leader\n"
	    "                          and wait until the guest is at its "
	    "max\n"
	    "  -w, --wait-ms MS        --pre-promote's wait, 0 to 60000 "
	    "(default 2000)\n"
	    "  -h, --help              show this help\n"
	    "  -V, --version           show the version\n"
	    "\n"
	    "Exit status: 0, also when balloond is down (the notification is "
	    "then\n"
	    "spooled) or refuses it; 2 on a usage error. With --pre-promote "
	    "always\n"
	    "0: balloond never blocks or cancels a promotion.\n",
	    BALLOOND_DEFAULT_SOCKET, BALLOOND_DEFAULT_STATE_DIR);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ACTION and ROLE to the word balloond's "role" takes (leader, replica,
 * unknown; policy_role_parse). Anything not known to be a leader or a
 * streaming replica is "unknown", which keeps the guest at its max. */
static const char *role_word(const char *action, const char *role, bool *known)
{
	static const char *const actions[] = {
	    "on_start", "on_stop", "on_restart", "on_reload", "on_role_change",
	};
	static const char *const leader[] = {"master", "primary", "promoted",
					     "standby_leader", "leader"};
	*known = false;
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		*known |= strcmp(action, actions[i]) == 0;
	/* PostgreSQL was stopped: whatever it was, it is nothing now, and it
	 * may come back as anything (a leader after a restart). */
	if (strcmp(action, "on_stop") == 0)
		return "unknown";
	bool known_role = false;
	const char *word = "unknown";
	for (size_t i = 0; i < sizeof(leader) / sizeof(leader[0]); i++)
		if (strcasecmp(role, leader[i]) == 0)
			word = "leader", known_role = true;
	if (strcasecmp(role, "replica") == 0 ||
	    strcasecmp(role, "sync_standby") == 0 ||
	    strcasecmp(role, "quorum_standby") == 0)
		word = "replica", known_role = true;
	/* demoted: after a failed primary's recovery; not yet a replica. */
	known_role |= strcasecmp(role, "demoted") == 0;
	/* An action of a newer Patroni: only a leader is taken at its word
	 * (it grows); anything else stays unknown (at max). */
	if (!*known && strcmp(word, "leader") != 0)
		word = "unknown";
	*known = *known && known_role;
	return word;
}

/* ---- network ---- */

/* HOST and PORT of --notify to an address, within timeout_ms. An address
 * never asks the resolver. A name is looked up on getaddrinfo_a's own
 * thread while this one waits for it at most timeout_ms: a resolver that
 * does not answer takes 5 s per try and tries twice (resolv.conf(5)'s
 * defaults), and a callback must not hold Patroni up that long. 0, or
 * -errno with the reason on stderr. */
static int resolve(const struct opts *o, const char *host, const char *port,
		   struct addrinfo **out)
{
	static struct addrinfo numeric = {.ai_socktype = SOCK_DGRAM,
					  .ai_flags = AI_NUMERICHOST};
	int rc = getaddrinfo(host, port, &numeric, out);
	if (rc == EAI_NONAME) {
		/* A lookup under way cannot be cancelled: its thread may
		 * outlive this call, so what it reads and writes is
		 * static. */
		static struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};
		static char name[256], service[64];
		static struct gaicb req;
		static struct gaicb *list[] = {&req};
		snprintf(name, sizeof(name), "%s", host);
		snprintf(service, sizeof(service), "%s", port);
		req = (struct gaicb){.ar_name = name,
				     .ar_service = service,
				     .ar_request = &hints};
		int64_t deadline = mono_ms() + (int64_t)o->timeout_ms;
		rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
		while (rc == 0 && (rc = gai_error(&req)) == EAI_INPROGRESS) {
			int64_t left = deadline - mono_ms();
			if (left <= 0) {
				fprintf(stderr,
					PROG
					": --notify %s: no answer from the "
					"resolver within %llu ms (give an "
					"address instead of a name)\n",
					o->notify,
					(unsigned long long)o->timeout_ms);
				return -ETIMEDOUT;
			}
			struct timespec ts = {left / 1000,
					      left % 1000 * 1000000};
			gai_suspend((const struct gaicb *const *)list, 1, &ts);
		}
		*out = req.ar_result;
	}
	if (rc) {
		fprintf(stderr, PROG ": --notify %s: %s\n", o->notify,
			gai_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

static int send_datagram(const struct opts *o, const char *cluster,
			 const char *word)
{
	struct bd_notify n = {.version = BD_NOTIFY_VERSION};
	uint8_t key[BD_NOTIFY_KEY_MAX_BYTES];
	size_t key_len;
	char err[512], buf[BD_NOTIFY_MAX_BYTES + 1];
	if (bd_notify_key_load(o->key_file, key, &key_len, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return -EINVAL;
	}
	if (strlen(cluster) >= sizeof(n.cluster) ||
	    strlen(o->member) >= sizeof(n.member)) {
		fprintf(stderr, PROG ": cluster and member names are at most "
				     "63 characters\n");
		return -EINVAL;
	}
	snprintf(n.cluster, sizeof(n.cluster), "%s", cluster);
	snprintf(n.member, sizeof(n.member), "%s", o->member);
	snprintf(n.role, sizeof(n.role), "%s", word);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	n.timestamp_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (getrandom(n.nonce, sizeof(n.nonce), 0) != sizeof(n.nonce)) {
		fprintf(stderr, PROG ": getrandom: %s\n", strerror(errno));
		return -EIO;
	}
	struct bd_notify_key k = {0};
	int rc = bd_notify_key_set(&k, key, key_len);
	explicit_bzero(key, sizeof(key));
	if (rc == 0)
		rc = bd_notify_sign(&n, &k);
	bd_notify_key_clear(&k);
	if (rc) {
		fprintf(stderr, PROG ": cannot sign the notification: %s\n",
			bd_notify_strerror(rc));
		return rc;
	}
	int len = bd_notify_encode(&n, buf, sizeof(buf));
	if (len < 0) {
		fprintf(stderr, PROG ": cannot encode the notification\n");
		return len;
	}

	/* HOST:PORT, or [V6]:PORT. */
	char host[256];
	const char *colon = strrchr(o->notify, ':');
	const char *h = o->notify;
	size_t hlen = colon ? (size_t)(colon - h) : 0;
	if (hlen && h[0] == '[' && h[hlen - 1] == ']')
		h++, hlen -= 2;
	if (!colon || !hlen || hlen >= sizeof(host) || !colon[1]) {
		fprintf(stderr, PROG ": --notify: '%s' is not HOST:PORT\n",
			o->notify);
		return -EINVAL;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	struct addrinfo *ai;
	rc = resolve(o, host, colon + 1, &ai);
	if (rc)
		return rc;
	int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ssize_t sent = fd < 0 ? -1
			      : sendto(fd, buf, (size_t)len, 0, ai->ai_addr,
				       ai->ai_addrlen);
	int e = errno;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	if (sent != len) {
		fprintf(stderr, PROG ": cannot send to %s: %s\n", o->notify,
			strerror(e));
		return -e;
	}
	return 0;
}

/* ---- local ---- */

/* The conversation goes through proto/quickcall.h: no json-c unless an
 * answer is out of the ordinary. */

/* The role request, or (request false) the same as a spool file's line,
 * into buf: its length, or 0 when it does not fit. */
static size_t role_line(char *buf, size_t size, bool request,
			const char *cluster, const char *member,
			const char *word, uint64_t wait_ms)
{
	struct bd_json_out j = bd_json_out_init(buf, size);
	bd_quickcall_begin(&j, BD_M_ROLE, request);
	bd_json_raw(&j, "{\"cluster\":");
	bd_json_string(&j, cluster);
	bd_json_raw(&j, ",\"member\":");
	bd_json_string(&j, member);
	bd_json_raw(&j, ",\"role\":");
	bd_json_string(&j, word);
	if (wait_ms) {
		char n[40];
		snprintf(n, sizeof(n), ",\"wait_ms\":%llu",
			 (unsigned long long)wait_ms);
		bd_json_raw(&j, n);
	}
	bd_json_raw(&j, "}}\n");
	return bd_json_whole(&j) ? j.len : 0;
}

/* The daemon could not be reached: the root spool if we may write it
 * (root), else the role spool (a member of role_group). */
static void spool(const struct opts *o, const char *cluster, const char *word)
{
	char err[600], err2[600], dir[BD_FILE_PATH_MAX];
	static char line[BD_SPOOL_MAX_BYTES + 1];
	alarm(0); /* the spool's writes and fsyncs are not to be cut short */
	size_t len =
	    role_line(line, sizeof(line), false, cluster, o->member, word, 0);
	int rc = -EMSGSIZE;
	snprintf(err, sizeof(err), "request too large to spool");
	if (len) {
		snprintf(dir, sizeof(dir), "%s/%s", o->state_dir, BD_SPOOL_DIR);
		rc = bd_spool_write_text(dir, line, len, err, sizeof(err));
	}
	if (rc == -EACCES || rc == -EPERM || rc == -ENOENT) {
		snprintf(dir, sizeof(dir), "%s/%s", o->state_dir,
			 BD_ROLE_SPOOL_DIR);
		if (bd_spool_write_text(dir, line, len, err2, sizeof(err2)) ==
		    0) {
			rc = 0;
		} else {
			size_t n = strlen(err);
			snprintf(err + n, sizeof(err) - n, "; %s", err2);
		}
	}
	if (rc)
		fprintf(stderr, PROG ": cannot spool %s/%s %s either: %s\n",
			cluster, o->member, word, err);
	else
		fprintf(stderr, PROG ": spooled %s/%s %s for balloond\n",
			cluster, o->member, word);
}

/* One role request over the control socket within timeout_ms: an enum
 * bd_quickcall_answer (the daemon answered, its refusal reported), or
 * -errno: it could not be reached in time. */
static int call_role(const struct opts *o, const char *cluster,
		     const char *word, uint64_t wait_ms, uint64_t timeout_ms,
		     struct bd_quickcall *c)
{
	char req[1024];
	size_t len = role_line(req, sizeof(req), true, cluster, o->member, word,
			       wait_ms);
	if (!len) {
		/* Member and cluster are Patroni's names: far shorter. */
		fprintf(stderr, PROG ": cluster and member names too long\n");
		return -ENAMETOOLONG;
	}
	c->timeout_ms = timeout_ms;
	int rc = bd_quickcall(c, o->socket, req, len);
	if (rc < 0)
		fprintf(stderr, PROG ": %s%s\n", c->error,
			rc == -ENOENT || rc == -ECONNREFUSED
			    ? " (is balloond running? see --socket and "
			      "BALLOOND_SOCKET)"
			    : "");
	if (rc == BD_QUICKCALL_ERROR) {
		fprintf(stderr, PROG ": balloond refused %s/%s %s: %s\n",
			cluster, o->member, word, c->message);
		/* A daemon on its way out takes it again after its restart. */
		if (strcmp(c->code, BD_E_SHUTTING_DOWN) == 0)
			rc = -ESHUTDOWN;
	}
	return rc;
}

/* A last resort: should anything block past every deadline (a connect
 * to a full backlog), exit 0 rather than hold Patroni up. */
static void alarm_cb(int sig)
{
	static const char msg[] = PROG ": hard timeout, giving up\n";
	ssize_t n = write(2, msg, sizeof(msg) - 1);
	(void)n;
	_exit(0);
}

static void arm_alarm(uint64_t ms)
{
	signal(SIGALRM, alarm_cb);
	alarm((unsigned)(ms / 1000 + 2));
}

static int run_callback(const struct opts *o, const char *action,
			const char *role, const char *scope)
{
	const char *cluster = o->cluster ? o->cluster : scope;
	bool known;
	const char *word = role_word(action, role, &known);
	if (!known)
		fprintf(stderr,
			PROG ": '%s %s' is new to this version: sending "
			     "'%s'\n",
			action, role, word);
	/* Armed first: it covers the name lookup of --notify too. */
	arm_alarm(o->timeout_ms);
	if (o->notify)
		return send_datagram(o, cluster, word), 0;
	struct bd_quickcall c = {0};
	if (call_role(o, cluster, word, 0, o->timeout_ms, &c) < 0)
		spool(o, cluster, word);
	return 0;
}

static int run_pre_promote(const struct opts *o)
{
	static const char word[] = "leader";
	if (o->notify) {
		/* No reply comes over UDP: the push only, within the same
		 * deadline as a callback's. */
		arm_alarm(o->timeout_ms);
		send_datagram(o, o->cluster, word);
		return 0;
	}
	uint64_t timeout = o->wait_ms + PRE_PROMOTE_MARGIN_MS;
	arm_alarm(timeout);
	int64_t t0 = mono_ms();
	struct bd_quickcall c = {.want_at_max = true};
	int rc = call_role(o, o->cluster, word, o->wait_ms, timeout, &c);
	if (rc < 0) {
		spool(o, o->cluster, word);
		return 0;
	}
	if (rc == BD_QUICKCALL_RESULT)
		printf(PROG ": %s/%s leader: %s after %lld ms\n", o->cluster,
		       o->member,
		       c.at_max < 0 ? "pushed"
		       : c.at_max   ? "at max"
				    : "NOT at max",
		       (long long)(mono_ms() - t0));
	return 0;
}

static int parse_ms(const char *opt, const char *v, uint64_t max, uint64_t *out)
{
	if (bd_parse_uint(v, 0, max, out)) {
		fprintf(stderr, PROG ": %s: '%s' is not 0 to %llu ms\n", opt, v,
			(unsigned long long)max);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"member", required_argument, NULL, 'm'},
	    {"cluster", required_argument, NULL, 'c'},
	    {"socket", required_argument, NULL, 's'},
	    {"state-dir", required_argument, NULL, 'd'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"notify", required_argument, NULL, 'n'},
	    {"key-file", required_argument, NULL, 'k'},
	    {"pre-promote", no_argument, NULL, 'p'},
	    {"wait-ms", required_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	struct opts o = {.timeout_ms = 1000, .wait_ms = 2000};
	bool bad = false;
	int c;

	/* Known before parsing: in pre-promote mode even a usage error
	 * exits 0. */
	for (int i = 1; i < argc; i++)
		o.pre_promote |= strcmp(argv[i], "--pre-promote") == 0 ||
				 strcmp(argv[i], "-p") == 0;
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "m:c:s:d:t:n:k:pw:hV", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'm':
			o.member = optarg;
			break;
		case 'c':
			o.cluster = optarg;
			break;
		case 's':
			o.socket = optarg;
			break;
		case 'd':
			o.state_dir = optarg;
			break;
		case 't':
			bad |= parse_ms("--timeout-ms", optarg, 60000,
					&o.timeout_ms) != 0;
			break;
		case 'n':
			o.notify = optarg;
			break;
		case 'k':
			o.key_file = optarg;
			break;
		case 'p':
			break;
		case 'w':
			bad |= parse_ms("--wait-ms", optarg, 60000,
					&o.wait_ms) != 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf(PROG " %s\n", PACKAGE_VERSION);
			return 0;
		default:
			bad = true;
		}
	}
	if (!o.socket)
		o.socket = getenv("BALLOOND_SOCKET");
	if (!o.socket || !*o.socket)
		o.socket = BALLOOND_DEFAULT_SOCKET;
	if (!o.state_dir)
		o.state_dir = getenv("BALLOOND_STATE_DIR");
	if (!o.state_dir || !*o.state_dir)
		o.state_dir = BALLOOND_DEFAULT_STATE_DIR;
	int want_args = o.pre_promote ? 0 : 3;
	if (!bad && argc - optind != want_args) {
		fprintf(stderr, PROG ": %s, not %d arguments (see --help)\n",
			o.pre_promote ? "--pre-promote takes no arguments"
				      : "expected ACTION ROLE SCOPE",
			argc - optind);
		bad = true;
	}
	if (!bad && (!o.member || (o.pre_promote && !o.cluster))) {
		fprintf(stderr, PROG ": %s required\n",
			o.pre_promote ? "--cluster and --member are"
				      : "--member is");
		bad = true;
	}
	if (!bad && o.notify && !o.key_file) {
		fprintf(stderr, PROG ": --notify needs --key-file\n");
		bad = true;
	}
	if (bad) {
		if (!o.pre_promote)
			usage(stderr);
		return o.pre_promote ? 0 : 2;
	}
	if (o.pre_promote)
		return run_pre_promote(&o);
	return run_callback(&o, argv[optind], argv[optind + 1],
			    argv[optind + 2]);
}
