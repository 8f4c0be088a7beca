/*
 * qemu.c: the libvirt qemu hook, installed as /etc/libvirt/hooks/qemu.d/
 * balloond. libvirtd runs it as
 *
 *   balloond NAME OPERATION SUBOP EXTRA     (the domain's XML on stdin)
 *
 * for every domain event. For a domain carrying balloond's metadata it
 * registers the guest on `started begin` and `reconnect begin` and
 * unregisters it on `stopped end` and `release end`; everything else is
 * read and ignored.
 *
 * A hook runs inside libvirtd's domain start: it must never block it,
 * never fail it, and never call libvirt (that can deadlock libvirtd). So
 * it always exits 0, gives the daemon about a second in all, and when the
 * daemon cannot be reached writes the request into balloond's spool,
 * which the daemon carries out when it runs again. Problems are one line
 * on stderr, which libvirtd logs.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks/domxml.h"
#include "hooks/hookio.h"
#include "proto/proto.h"

/* Read stdin whole, up to max bytes. Returns the length, or -EMSGSIZE
 * when there is more (the rest is left unread: libvirt ignores EPIPE on a
 * hook's stdin), or -errno. */
static ssize_t read_stdin(char *buf, size_t max)
{
	size_t len = 0;
	for (;;) {
		ssize_t n = read(0, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return (ssize_t)len;
		len += (size_t)n;
		if (len > max)
			return -EMSGSIZE;
	}
}

/* Discard stdin: operations we ignore still get their XML read, so that
 * libvirtd's write never meets a closed pipe. */
static void drain_stdin(void)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(0, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		;
}

static void handle(bool reg, const char *xml, size_t len)
{
	struct bd_domxml d;
	char err[512];
	/* Most domains are not balloond's: for them, not even expat. */
	if (!bd_domxml_maybe_managed(xml, len))
		return;
	if (bd_domxml_parse(xml, len, &d, err, sizeof(err))) {
		bd_hook_say("%s; balloond not told", err);
		return;
	}
	if (!d.managed)
		return;
	if (reg && !d.has_qmp) {
		bd_hook_say(
		    "balloond:guest metadata but no extra \"-qmp unix:PATH,"
		    "server=on,wait=off\" under <qemu:commandline> "
		    "(`balloonctl enable %s` adds it); not registered",
		    d.spec.name);
		return;
	}
	if (reg && !d.has_balloon) {
		bd_hook_say("balloond:guest metadata but no <memballoon "
			    "model='virtio'>; not registered");
		return;
	}
	if (reg)
		bd_hook_register(&d.spec);
	else
		bd_hook_unregister(d.spec.name);
}

int main(int argc, char **argv)
{
	/* A daemon that closes mid-write is an error to handle. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 3) {
		fprintf(stderr,
			"balloond hook: usage: %s NAME OPERATION "
			"SUBOP EXTRA (run by libvirtd, domain XML "
			"on stdin)\n",
			argv[0]);
		return 0;
	}
	bd_hook_init("balloond hook", argv[1]);
	const char *op = argv[2], *sub = argc > 3 ? argv[3] : "-";
	bool reg =
	    (strcmp(op, "started") == 0 || strcmp(op, "reconnect") == 0) &&
	    strcmp(sub, "begin") == 0;
	bool unreg =
	    (strcmp(op, "stopped") == 0 || strcmp(op, "release") == 0) &&
	    strcmp(sub, "end") == 0;
	if (!reg && !unreg) {
		drain_stdin();
		return 0;
	}
	/* Static: a megabyte from malloc is an mmap() and a munmap() on
	 * every event; here it is address space, touched as far as read. */
	static char buf[BD_DOMXML_MAX_BYTES + 1];
	ssize_t n = read_stdin(buf, BD_DOMXML_MAX_BYTES);
	if (n == -EMSGSIZE)
		bd_hook_say(
		    "domain XML on stdin is longer than %d bytes; balloond "
		    "not told",
		    BD_DOMXML_MAX_BYTES);
	else if (n < 0)
		bd_hook_say("reading the domain XML from stdin: %s",
			    strerror((int)-n));
	else
		handle(reg, buf, (size_t)n);
	return 0;
}
