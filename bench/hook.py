#!/usr/bin/python3
"""hook.py: what the libvirt qemu hook (hooks/qemu) costs a domain event.

libvirtd runs the hook as a process for every domain event and waits for
it. This runs it as libvirtd does (argv NAME OPERATION SUBOP EXTRA, the
domain XML on stdin) against a balloond with one fake guest, one event
after another: `prepare begin` (ignored: the cost of the process alone),
`started begin` (register, answered once on disk) and `stopped end`
(unregister), and `started begin` of a domain without balloond's
metadata (expat not even loaded: not balloond's); /bin/true is the
machine's floor for a process. The register is answered once it is on
disk (an fdatasync of balloond's journal): `started begin, state on
tmpfs` runs the same hook against a second balloond whose state
directory is in /dev/shm, where that flush costs nothing, to show the
disk's share; `1,000 guests` against a third that manages 999 others
(--many), as on a crowded host, where whatever balloond does per guest
for an event shows. Prints wall and CPU (user+sys) time per event,
median and p99.

usage: bench/hook.py BUILD_DIR [--runs 200] [--many 1000]
"""
import argparse, os, resource, statistics, subprocess, sys, tempfile

from bdtest import percentile, start_fleet, stop_all
import time

XML = """<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>vm0</name><memory unit='KiB'>1048576</memory>
  <metadata><balloond:guest xmlns:balloond='urn:balloond:guest:1'>
    <balloond:memory min='512MiB'/><balloond:patroni cluster='pg' member='m0'/>
  </balloond:guest></metadata>
  <devices><memballoon model='virtio'/></devices>
  <qemu:commandline><qemu:arg value='-qmp'/>
    <qemu:arg value='unix:{d}/vm0.qmp,server=on,wait=off'/></qemu:commandline>
</domain>
"""
# The same domain without balloond's metadata: most domains on a host.
PLAIN = XML[:XML.index("  <metadata>")] + XML[XML.index("  <devices>"):]


def run(cmd, xml, env):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, input=xml, env=env, capture_output=True)
    wall = (time.perf_counter() - t) * 1000
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000
    if p.returncode != 0 or p.stderr:
        sys.exit(f"hook {cmd[1:]}: exit {p.returncode}: {p.stderr.decode()}")
    return wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--many", type=int, default=1000,
                    help="guests of the crowded host's balloond (0: none)")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="balloond-hook.")
    shm = tempfile.mkdtemp(prefix="balloond-hook.", dir="/dev/shm")
    many = tempfile.mkdtemp(prefix="balloond-hook.")
    procs, shm_procs, many_procs = [], [], []
    try:
        # One guest, which the fleet registers; the hook's is vm0 itself:
        # unregister it first so that started/stopped alternate cleanly.
        envs = {}
        for where, pl, n in ((d, procs, 1), (shm, shm_procs, 1),
                             (many, many_procs, a.many)):
            if n == 0:
                continue
            _, ctl, _ = start_fleet(a.build, where, n, pl, None, "")
            ctl.call("unregister", {"name": "vm0"})
            envs[where] = dict(os.environ, BALLOOND_SOCKET=f"{where}/control.sock",
                               BALLOOND_STATE_DIR=f"{where}/state")
        hook = f"{a.build}/hooks/qemu"
        crowd = f"{a.many:,} guests"
        keys = ["/bin/true", "prepare begin", "started begin", "stopped end",
                "started begin, no metadata", "started begin, state on tmpfs",
                "stopped end, state on tmpfs"]
        if a.many:
            keys += [f"started begin, {crowd}", f"stopped end, {crowd}"]
        res = {k: ([], []) for k in keys}
        for _ in range(a.runs):
            for k in res:
                where = shm if "tmpfs" in k else many if "guests" in k else d
                event = k.split(",")[0].split()
                cmd = ["/bin/true"] if k == "/bin/true" else [hook, "vm0", *event, "-"]
                xml = (PLAIN if "no metadata" in k else XML).format(d=where).encode()
                w, c = run(cmd, xml, envs[where])
                res[k][0].append(w)
                res[k][1].append(c)
        print(f"hooks/qemu, {a.runs} runs each (ms)        wall p50   p99    cpu p50   p99")
        for k, (w, c) in res.items():
            print(f"  {k:30s} {statistics.median(w):8.2f} {percentile(w, 99):6.2f}"
                  f"   {statistics.median(c):8.2f} {percentile(c, 99):6.2f}")
        print(f"load average during the run: {os.getloadavg()[0]:.1f}")
    finally:
        stop_all(many_procs, many)
        stop_all(shm_procs, shm)
        stop_all(procs, d)


if __name__ == "__main__":
    main()
