/*
 * domxml.h: what balloond needs from a libvirt domain's XML, read with
 * expat (hooks/domxml_read.c): its name, its RAM (<memory>), whether it
 * has a virtio memballoon, balloond's own metadata (namespace
 * urn:balloond:guest:1) and the extra QMP socket under <qemu:commandline>:
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
 * Pure (the spec only, and expat or libxml2, each dlopen()ed when first
 * used): the qemu hook reads with expat alone; balloonctl enable and
 * disable edit with libxml2 (hooks/domxml.c) and judge the result with the
 * same reader; the fuzzers link both.
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

/* Whether len bytes of domain XML may carry balloond's metadata, from
 * the bytes alone (no XML library): false only when they certainly do
 * not, so that the hook need not load expat for a domain that is not
 * balloond's. When false,
 * bd_domxml_parse finds the domain not managed, or fails. */
bool bd_domxml_maybe_managed(const char *xml, size_t len);

/* Parse len bytes of domain XML (expat, namespace-aware; no external
 * entity is read; internal ones are expanded within expat's limit on
 * amplification). Returns 0, or -EINVAL (-EMSGSIZE when too large) with a
 * message naming what is wrong (for a document that is not well-formed,
 * the line and expat's reason). A domain without balloond's metadata
 * parses fine with managed false. */
int bd_domxml_parse(const char *xml, size_t len, struct bd_domxml *out,
		    char *err, size_t err_len);

/* Where `balloonctl enable` puts a domain's extra QMP socket: a runtime
 * directory of balloond's that QEMU's user (libvirt-qemu) may write
 * (tmpfiles.d: d /run/balloond/qmp 0770 libvirt-qemu libvirt-qemu). */
#define BD_LIBVIRT_QMP_DIR "/run/balloond/qmp"

/* What `balloonctl enable` writes into balloond:guest; 0 / "" / false
 * leave an attribute out (the daemon's default applies). */
struct bd_domxml_opts {
	uint64_t min_bytes;
	uint64_t max_bytes; /* never above <memory> */
	uint64_t replica_target_bytes;
	bool has_priority;
	int priority;
	char cluster[BD_NAME_MAX]; /* both or neither */
	char member[BD_NAME_MAX];
};

/* Add balloond's metadata (replacing any there was) and the extra
 * "-qmp unix:QMP_DIR/NAME.sock,server=on,wait=off" (first under
 * <qemu:commandline>, replacing any under QMP_DIR) to a domain's XML.
 * Everything else is kept. *out is the new XML (free() it). Refused with
 * -EINVAL and a message when the result would not be managed: no virtio
 * memballoon, no usable <memory>, bounds above <memory> or each other.
 * Applying it twice gives what applying it once does. */
int bd_domxml_enable(const char *xml, size_t len,
		     const struct bd_domxml_opts *opts, const char *qmp_dir,
		     char **out, char *err, size_t err_len);

/* Remove what bd_domxml_enable adds: every balloond:guest and each
 * "-qmp unix:QMP_DIR/..." pair, and <metadata> or <qemu:commandline>
 * when that leaves them empty. Other metadata and arguments stay. Same
 * refusals for a domain without a virtio memballoon or <memory>. */
int bd_domxml_disable(const char *xml, size_t len, const char *qmp_dir,
		      char **out, char *err, size_t err_len);

/* A libvirt memory unit ("KiB", "M", "GB", "bytes", ...; "" is KiB) as a
 * multiplier, or 0 when unknown. libvirt's "KB", "MB", ... are powers of
 * 1000; "K", "KiB", "M", "MiB", ... powers of 1024. */
uint64_t bd_domxml_unit(const char *unit);

#endif
