/*
 * spec.h: a guest's registration. The register request, a spool file and
 * the daemon's state file carry the same JSON fields, parsed and written
 * here. Pure (json-c only): the daemon, balloonctl and the hooks share it,
 * and the fuzzer drives it directly.
 */
#ifndef BALLOOND_PROTO_SPEC_H
#define BALLOOND_PROTO_SPEC_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define BD_PATH_MAX 108 /* sun_path: every socket path must fit */
#define BD_NAME_MAX 64	/* guest, cluster and member names, with the NUL */

struct bd_guest_spec {
	char name[BD_NAME_MAX];
	char qmp_path[BD_PATH_MAX];
	uint64_t max_bytes;	       /* 0: the guest's RAM, read from QEMU */
	uint64_t min_bytes;	       /* 0: replica target, else max */
	uint64_t replica_target_bytes; /* 0: none */
	char cluster[BD_NAME_MAX];     /* Patroni cluster, "" for none */
	char member[BD_NAME_MAX];      /* Patroni member name */
	int priority;		       /* [-1000, 1000]; higher keeps memory */
	uint64_t pin_bytes; /* persisted pin from balloonctl set; 0: none */
};

/* Parse a spec from request params, a spool file or the state file.
 * Returns 0, or -EINVAL with a message naming the field. Checks types and
 * lengths only; bounds are the daemon's to check. */
int bd_spec_parse(json_object *params, struct bd_guest_spec *spec, char *msg,
		  size_t msg_len);
/* The spec as JSON (a new object); fields at their defaults are left out. */
json_object *bd_spec_to_json(const struct bd_guest_spec *spec);

struct bd_json_out;
/* The same object's members as text ("name":N,"qmp":P,...: between
 * braces, as json-c prints it plain), into o (proto/jsonout.h), so that
 * a request may add its own; no json-c (specout.c): for the hooks. */
void bd_spec_write_members(struct bd_json_out *o,
			   const struct bd_guest_spec *spec);

#endif
