/* conf.h: balloond.conf(5): one struct, defaults in one initializer. */
#ifndef BALLOOND_CONF_H
#define BALLOOND_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/spec.h" /* BD_PATH_MAX */

#define BD_MAX_CLUSTERS 64

/* A Patroni cluster the daemon may ask about ([cluster NAME]). */
struct bd_cluster {
	char name[64];
	char rest_urls[1024]; /* space-separated Patroni REST endpoints */
	char rest_hosts[256]; /* hosts (HOST[:PORT]) that may be asked for the
			       * leader's api_url besides rest_urls' */
	uint64_t dwell_ms;    /* no shrink sooner after a role change;
			       * UINT64_MAX: [policy] dwell_ms */
	uint64_t max_age_ms;  /* facts older than this are stale */
	/* The network listener's HMAC key for this cluster; "": none, its
	 * notifications are refused. */
	char notify_key_file[BD_PATH_MAX];
	/* The REST watcher (rest.c). */
	uint64_t poll_interval_ms; /* GET /cluster this often */
	uint64_t timeout_ms;	   /* per REST request, connect included */
	char tls_ca_file[256];	   /* CA bundle for https; "": system's */
	char tls_cert_file[256];   /* client certificate; "": none */
	char tls_key_file[256];	   /* its key; "": in the cert file */
	char username[64];	   /* basic auth; "": none */
	char password_file[256];   /* its password (first line) */
};

/* At most this many rest_urls per cluster. */
#define BD_REST_MAX_URLS 8
/* At most this many rest_hosts per cluster. */
#define BD_REST_MAX_HOSTS 16

/* One rest_hosts entry of len bytes: HOST, HOST:PORT, [V6] or [V6]:PORT.
 * The host (without brackets) goes to host, the port to *port (0: any).
 * 0, or -EINVAL. */
int bd_conf_rest_host(const char *entry, size_t len, char *host,
		      size_t host_len, unsigned *port);

struct bd_conf {
	/* [daemon] */
	char control_socket[BD_PATH_MAX]; /* where balloonctl connects */
	char control_group[64]; /* group allowed besides root; "" = none */
	char role_group[64];	/* group that may push roles only; "" = none */
	char state_dir[4096];	/* registrations and the hooks' spool */
	char proc_root[4096];	/* read in place of /proc */
	char sys_root[4096];	/* read in place of /sys */
	int log_level;		/* syslog priority, LOG_INFO by default */
	bool dry_run;		/* decide and log, send no balloon command */
	bool restore_on_exit;	/* on SIGTERM, set every guest to its max */
	uint64_t restore_timeout_ms; /* how long to wait for those replies */
	uint64_t client_max_queued_bytes; /* output queued for one control
					   * client (a monitor) before it is
					   * dropped as not reading */
	uint64_t idle_timeout_ms;   /* a control connection that asks nothing
				     * (and is no monitor) is closed */
	uint64_t max_conns_per_uid; /* control connections of one uid but
				     * root's */
	uint64_t root_reserve_fds;  /* descriptors only root's connections
				     * may take */
	/* [qmp] */
	uint64_t qmp_command_timeout_ms;  /* per QMP command */
	uint64_t qmp_greeting_timeout_ms; /* connect to capabilities */
	uint64_t qmp_reconnect_max_ms;	  /* backoff cap */
	uint64_t qmp_max_message_bytes;	  /* cap on one QMP message */
	uint64_t stats_interval_s;	  /* guest-stats polling; 0 = off */
	/* [policy] */
	uint64_t shrink_step_bytes; /* largest single shrink; 0 = unbounded */
	uint64_t move_timeout_ms;   /* a wait for balloons to move gives up */
	uint64_t move_poll_ms;	    /* query-balloon while waiting */
	uint64_t move_tolerance_bytes; /* "moved": actual this close */
	uint64_t deadband_bytes;       /* smaller changes are not sent */
	uint64_t guest_reserve_bytes;  /* a guest keeps this much available */
	uint64_t guest_reserve_pct;    /* ... or this share of its max */
	uint64_t dwell_ms;	       /* default of [cluster] dwell_ms */
	/* [host] */
	uint64_t host_interval_ms;     /* read meminfo, PSI, arcstats */
	uint64_t host_reserve_bytes;   /* the host's own; 0: 3 %, >= 512M */
	uint64_t low_watermark_bytes;  /* reclaim below; 0: 5 % of RAM */
	uint64_t high_watermark_bytes; /* release above; 0: low + 5 % */
	uint64_t arc_reclaim_pct;      /* ARC above c_min counted as free */
	uint64_t psi_some_pct;	       /* some avg10 at or above: pressure;
					* 0: averages not used */
	uint64_t psi_stall_us;	       /* PSI trigger: stall ... */
	uint64_t psi_window_us;	       /* ... within this window */
	bool arc_manage;	       /* write zfs_arc_max */
	uint64_t arc_min_bytes;	       /* never a lower cap */
	/* [host] critical_watermark: below it, guests that are no leader give
	 * beyond their reserve, starving or not; 0: 2 % of RAM. */
	uint64_t critical_watermark_bytes;
	/* [listener]: role notifications over UDP (listener.c) */
	bool listener_enabled;
	char listener_address[64];   /* an IPv4 or IPv6 address to bind */
	uint64_t listener_port;	     /* UDP */
	uint64_t listener_window_ms; /* timestamps this far off are refused */
	/* [cluster NAME] */
	struct bd_cluster clusters[BD_MAX_CLUSTERS];
	size_t n_clusters;
};

/* Every default, in one place. */
void bd_conf_defaults(struct bd_conf *c);

/* Read an INI file over the current values. A missing file is an error
 * only when must_exist. On error returns -errno/-EINVAL and writes a
 * message naming file, line and key into err. */
int bd_conf_load(struct bd_conf *c, const char *path, bool must_exist,
		 char *err, size_t err_len);

/* Parse INI text from memory (for tests and the fuzzer). */
int bd_conf_parse_string(struct bd_conf *c, const char *name, const char *text,
			 char *err, size_t err_len);

const struct bd_cluster *bd_conf_cluster(const struct bd_conf *c,
					 const char *name);

#endif
