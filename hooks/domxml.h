/*
 * domxml.h: what balloond needs from a libvirt domain's XML, read with
 * libxml2: its name, its RAM (<memory>), whether it has a virtio
 * memballoon, balloond's own metadata (namespace urn:balloond:guest:1)
 * and the extra QMP socket under <qemu:commandline>:
 *
 *   <metadata>
 *     <balloond:guest xmlns:balloond="urn:balloond:guest:1">
 *       <balloond:memory min="2GiB" max="8GiB" replica-target="4GiB"
 *                        priority="10"/>
 *       <balloond:patroni cluster="pg" member="pg1"/>
 *     </balloond:guest>
 *   </metadata>
 *   <qemu:commandline>
 *     <qemu:arg value="-qmp"/>
 *     <qemu:arg value="unix:/run/balloond/qmp/NAME.sock,server=on,wait=off"/>
 *   </qemu:commandline>
 *
 * Pure (libxml2 and the spec only): the qemu hook, balloonctl enable and
 * the fuzzer share it.
 */
#ifndef BALLOOND_HOOKS_DOMXML_H
#define BALLOOND_HOOKS_DOMXML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/spec.h"

#define BD_METADATA_NS "urn:balloond:guest:1"
#define BD_QEMU_NS     "http://libvirt.org/schemas/domain/qemu/1.0"
/* A domain's XML is a few KiB; anything this large is not one. */
#define BD_DOMXML_MAX_BYTES (1 << 20)

struct bd_domxml {
	bool managed;	       /* it carries balloond's metadata */
	bool has_balloon;      /* a <memballoon model="virtio"> */
	uint64_t memory_bytes; /* <memory>: the guest's RAM */
	/* The registration it asks for: name, the extra QMP socket, and the
	 * metadata's bounds, priority and Patroni identity. A max above
	 * <memory> is an error; without one the daemon reads the RAM. */
	struct bd_guest_spec spec;
	bool has_qmp; /* an extra -qmp unix: socket was found */
};

/* Parse len bytes of domain XML. Returns 0, or -EINVAL (-EMSGSIZE when too
 * large) with a message naming what is wrong. A domain without balloond's
 * metadata parses fine with managed false. */
int bd_domxml_parse(const char *xml, size_t len, struct bd_domxml *out,
		    char *err, size_t err_len);

/* A libvirt memory unit ("KiB", "M", "GB", "bytes", ...; "" is KiB) as a
 * multiplier, or 0 when unknown. libvirt's "KB", "MB", ... are powers of
 * 1000; "K", "KiB", "M", "MiB", ... powers of 1024. */
uint64_t bd_domxml_unit(const char *unit);

#endif
