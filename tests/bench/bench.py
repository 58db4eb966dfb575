#!/usr/bin/python3
"""tend benchmark driver (stdlib only). Run it through tests/bench/run, which
builds an optimized tendd and the two bench programs and passes their paths.

Each tendd measurement runs in a private pid namespace
(unshare --pid --fork --mount-proc --kill-child), with this script as its PID 1
("--inner STEP"): when a step ends, the kernel kills whatever is left, so
cleanup is certain. Results come back as one JSON line; the outer run prints
one table, each result next to its target as a ratio to the raw spawn floor
measured in the same run (tests/bench/floor.c).

Services run the static bench probe (tests/bench/probe.c), which appends
"START_NS PID" (CLOCK_MONOTONIC at its first instruction) to a file, with
output = null so that log files are not part of what is measured.

Each tendd step also runs with tests/bench/floor.c in tendd's place
("--what floor"), once before and once after it (the table uses the mean): a
supervisor of the same services that does nothing but
clone3, epoll on the pidfds, waitid(P_PIDFD) and respawn. Its numbers are the
like-for-like floor: everything the kernel and this harness spend on the same
path (signal delivery, the victim's exit, waking the supervisor, the probes'
own work, scheduling on this machine) without tendd's own work.

With root, crash -> restart is also traced with ftrace (a few sched and
signal events, and the probe's clock_gettime) for tendd and the floor
supervisor alike, and split into phases: SIGKILL -> the victim exits -> the
supervisor runs -> clone3 returns in it -> exec is done -> the probe's first
instruction (medians). It shows where the time goes and which part is
tendd's own. --no-phases skips it; every ftrace setting is restored after.

The client step times tendctl's own start-up (--version, and status NAME
with 100 services) next to its floors: the exec of a static no-op, of a
dynamically linked libc no-op, of a no-op linked with libsystemd, and one GetService call from a libsystemd
client (tests/bench/client.c, which also times all of them in turn).

The crash -> restart step does not poll: the starts "file" is a FIFO the
driver holds open and blocks on, so the driver sleeps while the kill, the
restart and the new probe run and does not compete for the CPUs; the end
point is still the probe's own first-instruction timestamp.

--peers also runs runit, s6, daemontools and supervisor through the same
crash, throughput, start, memory, idle, status and stop steps, round-robin
with tendd, and prints a second table with tend beside them (peers.py).
"""

import argparse
import datetime
import json
import os
import re
import resource
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 1024 * 1024


# -- helpers -----------------------------------------------------------------

def now_ns():
    return time.monotonic_ns()


def median(xs):
    return statistics.median(xs) if xs else None


def p95(xs):
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, (len(s) * 95) // 100)]


def read_starts(path):
    """[(start_ns, pid)] appended by the probes, in file order."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in data.split(b"\n"):
        f = line.split()
        if len(f) == 2:
            out.append((int(f[0]), int(f[1])))
    return out


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


class StartsFifo:
    """The probes' starts file as a FIFO that this process holds open (so a
    probe's open never blocks) and waits on without polling."""

    def __init__(self, path):
        self.path = Path(path)
        os.mkfifo(self.path)
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self.buf = b""
        self.starts = []

    def _drain(self):
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            f = line.split()
            if len(f) == 2:
                self.starts.append((int(f[0]), int(f[1])))

    def wait(self, n, timeout, what, proc=None):
        """Block until at least n starts have been read."""
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            if len(self.starts) >= n:
                return self.starts
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited ({proc.returncode}) "
                                   f"while waiting for {what}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
            select.select([self.fd], [], [], min(left, 1.0))


def wait_until(pred, timeout, interval=0.001, what="condition", proc=None):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"tendd exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def proc_pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return None


def keeper_pid(pid):
    """tendd's keeper (its child tend-keeper), or None."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        return None
    for k in kids:
        try:
            with open(f"/proc/{k}/comm") as f:
                if f.read().strip() == "tend-keeper":
                    return k
        except OSError:
            pass
    return None


def proc_oncpu_ns(*pids):
    """Time the processes have run on a CPU, together (schedstat, ns): what a
    step cost the supervisor itself, whatever else ran on the machine."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def proc_status_field(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def reap_orphans():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def other_processes():
    """Processes in this pid namespace other than ourselves (zombies count)."""
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me]


def all_reaped():
    """Reap what has exited; true once nothing else is left."""
    reap_orphans()
    return not other_processes()


# -- one tendd in this namespace --------------------------------------------

class Tendd:
    def __init__(self, args, workdir):
        self.args = args
        self.dir = Path(workdir)
        self.socket = self.dir / "tend.sock"
        self.starts = self.dir / "starts"
        self.proc = None
        (self.dir / "services.d").mkdir(parents=True, exist_ok=True)
        (self.dir / "tend.ini").write_text(
            "[tend]\nservices = services.d\n"
            f"socket = {self.socket}\nlog_dir = {self.dir / 'log'}\n"
            + (f"cgroup = {args.cgroup}\n" if getattr(args, "cgroup", None) else ""))

    def service(self, name, exec_line, output="null", **keys):
        lines = ["[service]", f"exec = {exec_line}", f"output = {output}"]
        lines += [f"{k} = {v}" for k, v in keys.items()]
        (self.dir / "services.d" / f"{name}.ini").write_text("\n".join(lines) + "\n")

    def start(self):
        self.log = open(self.dir / "tendd.log", "ab")
        t0 = now_ns()
        self.proc = subprocess.Popen([self.args.tendd, "-c", str(self.dir / "tend.ini")],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log)
        return t0

    def ctl(self, *argv):
        return subprocess.run([self.args.tendctl, "-s", str(self.socket), *argv],
                              stdin=subprocess.DEVNULL, capture_output=True)

    def wait_socket(self):
        wait_until(lambda: self.socket.exists() and self.ctl("status").returncode == 0,
                   timeout=30, interval=0.01, what="the control socket", proc=self.proc)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        reap_orphans()


# -- inner steps (PID 1 of a private pid namespace) --------------------------

class FloorSupervisor:
    """tests/bench/floor.c in tendd's place (--what floor), same interface."""

    def __init__(self, args, workdir):
        self.args = args
        self.dir = Path(workdir)
        self.starts = self.dir / "starts"
        self.proc = None

    def start(self, mode, *argv):
        self.log = open(self.dir / "floor.log", "ab")
        t0 = now_ns()
        self.proc = subprocess.Popen([self.args.floor, mode, self.args.probe, *argv],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log)
        return t0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        reap_orphans()


def step_restart(args, work):
    """crash -> restart: SIGKILL the probe, read the replacement's first
    instruction. With --beside N, N other services run beside it (tendd only):
    what a crash costs a supervisor of many."""
    if args.beside:
        why = limits_for(args.beside)
        if why:
            return {"skipped": why}
    if args.what == "floor":
        t = FloorSupervisor(args, work)
        fifo = StartsFifo(t.starts)
        t.start("respawn", str(t.starts), "sleep")
    else:
        t = Tendd(args, work)
        fifo = StartsFifo(t.starts)
        t.service("crash", f"{args.probe} {t.starts} sleep", restart="always",
                  restart_delay="0", start_limit_burst="0")
        others = t.dir / "others"
        for i in range(args.beside or 0):
            t.service(f"other-{i:05d}", f"{args.probe} {others} sleep")
        t.start()
        if args.beside:
            wait_until(lambda: count_lines(others) >= args.beside, max(60, args.beside * 0.02),
                       interval=0.01, what=f"{args.beside} other probes", proc=t.proc)
    fifo.wait(1, 30, "the first probe", t.proc)
    lat = []
    cpu0 = proc_oncpu_ns(t.proc.pid)
    for _ in range(args.restarts):
        n = len(fifo.starts)
        time.sleep(0.003)  # let the supervisor finish the previous transition
        t0 = now_ns()
        os.kill(fifo.starts[-1][1], signal.SIGKILL)
        fifo.wait(n + 1, 10, "the restarted probe", t.proc)
        lat.append(fifo.starts[n][0] - t0)
        reap_orphans()
    # The supervisor's own CPU time per crash: what the machine's load moves
    # less than the latency.
    cpu = (proc_oncpu_ns(t.proc.pid) - cpu0) / len(lat)
    t.stop()
    return {"median_ns": median(lat), "p95_ns": p95(lat), "n": len(lat), "cpu_ns": cpu}


def step_throughput(args, work):
    """A service that exits at once, restart_delay = 0, no start limit."""
    if args.what == "floor":
        t = FloorSupervisor(args, work)
        t.start("respawn", str(t.starts))
    else:
        t = Tendd(args, work)
        t.service("flap", f"{args.probe} {t.starts}", restart="always", restart_delay="0",
                  start_limit_burst="0")
        t.start()
    wait_until(lambda: count_lines(t.starts) >= 1, 30, what="the first probe", proc=t.proc)
    time.sleep(args.throughput_seconds)
    t.stop()
    ts = sorted(s for s, _ in read_starts(t.starts))
    # Skip the first 10% (tendd starting up); rate over the rest.
    ts = ts[len(ts) // 10:]
    if len(ts) < 2:
        return {"per_second": None}
    return {"per_second": (len(ts) - 1) * 1e9 / (ts[-1] - ts[0]), "n": len(ts)}


def limits_for(n):
    """None if n services can run here, else what prevents it."""
    need_fds = n + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need_fds:
        return f"RLIMIT_NOFILE hard limit {hard} < {need_fds} needed"
    if soft != resource.RLIM_INFINITY and soft < need_fds:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for path, what in (("/proc/sys/kernel/pid_max", "pid_max"),
                       ("/proc/sys/kernel/threads-max", "threads-max")):
        try:
            v = int(Path(path).read_text())
        except OSError:
            continue
        if v < n + 256:
            return f"{what} {v} < {n + 256} needed"
    return None


def start_times(starts, t0):
    """Start all: until the last probe ran (start_s), split into until the
    first one (first_s: exec, config, setup) and the spawns after it."""
    ts = sorted(s for s, _ in starts)
    return {"start_s": (ts[-1] - t0) / 1e9, "first_s": (ts[0] - t0) / 1e9}


def step_scale(args, work):
    """n sleeping probes: start time, memory, fds; on the base size also idle,
    control and stop."""
    n = args.n
    why = limits_for(n)
    if why:
        return {"skipped": why}
    if args.what == "floor":
        t = FloorSupervisor(args, work)
        t0 = t.start("start", str(t.starts), str(n), *([args.cgroup] if args.cgroup else []))
        wait_until(lambda: count_lines(t.starts) >= n, max(60, n * 0.02), interval=0.005,
                   what=f"{n} probes", proc=t.proc)
        res = start_times(read_starts(t.starts), t0)
        res["start_cpu_ns"] = proc_oncpu_ns(t.proc.pid)
        if args.stop:
            time.sleep(0.5)
            res.update(stop_all(t.proc, {pid for _, pid in read_starts(t.starts)}))
        t.stop()
        return res
    t = Tendd(args, work)
    for i in range(n):
        t.service(f"svc-{i:05d}", f"{args.probe} {t.starts} sleep", restart="always")
    t0 = t.start()
    wait_until(lambda: count_lines(t.starts) >= n, max(60, n * 0.02), interval=0.005,
               what=f"{n} probes", proc=t.proc)
    res = start_times(read_starts(t.starts), t0)
    # tendd and its keeper on a CPU until the last probe ran (the keeper
    # is there by then: tendd spawns it before any service).
    kpid = keeper_pid(t.proc.pid)
    res["start_cpu_ns"] = proc_oncpu_ns(t.proc.pid, *([kpid] if kpid else []))
    t.wait_socket()
    time.sleep(0.5)
    pid = t.proc.pid
    res["pss_kib"] = proc_pss_kib(pid)
    res["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    if kpid:
        res["keeper_pss_kib"] = proc_pss_kib(kpid)
        res["keeper_fds"] = len(os.listdir(f"/proc/{kpid}/fd"))

    if args.full:
        # Idle: nothing happens; tendd must not wake.
        c0, v0 = proc_cpu_ticks(pid), proc_status_field(pid, "voluntary_ctxt_switches")
        k0 = proc_status_field(kpid, "voluntary_ctxt_switches") if kpid else 0
        time.sleep(args.idle_seconds)
        c1, v1 = proc_cpu_ticks(pid), proc_status_field(pid, "voluntary_ctxt_switches")
        k1 = proc_status_field(kpid, "voluntary_ctxt_switches") if kpid else 0
        res["idle_seconds"] = args.idle_seconds
        res["idle_ticks"] = c1 - c0
        res["idle_wakeups"] = v1 - v0 + k1 - k0

    # Control: status --json at every size (how it grows), then on the base
    # size sequential restarts and re-execs.
    lat = []
    for i in range(args.status_runs):
        a = now_ns()
        r = t.ctl("status", "--json")
        lat.append(now_ns() - a)
        if r.returncode != 0 or (i == 0 and len(json.loads(r.stdout)) != n):
            raise RuntimeError(f"tendctl status --json failed: {r.stderr.decode()}")
    res["status_ns"] = median(lat)
    if args.full:
        lat = []
        for i in range(args.ctl_restarts):
            a = now_ns()
            r = t.ctl("restart", f"svc-{(i * 7919) % n:05d}")
            lat.append(now_ns() - a)
            if r.returncode != 0:
                raise RuntimeError(f"tendctl restart failed: {r.stderr.decode()}")
        res["restart_ns"] = median(lat)
        # Re-exec: tendctl reexec returns once the new image answers on the
        # control socket; every service must keep its pid.
        before = {x["name"]: x["pid"] for x in json.loads(t.ctl("status", "--json").stdout)}
        lat = []
        for i in range(args.reexecs):
            a = now_ns()
            r = t.ctl("reexec")
            lat.append(now_ns() - a)
            if r.returncode != 0:
                raise RuntimeError(f"tendctl reexec failed: {r.stderr.decode()}")
        after = {x["name"]: x["pid"] for x in json.loads(t.ctl("status", "--json").stdout)}
        if after != before:
            raise RuntimeError("a re-exec changed a service's pid")
        res["reexec_ns"] = median(lat)

    if args.full or args.stop:
        # Every probe ever started: those gone are skipped.
        probes = {pid for _, pid in read_starts(t.starts)}
        res.update(stop_all(t.proc, [*probes, *([kpid] if kpid else [])]))
    t.stop()
    return res


def stop_all(proc, pids):
    """SIGTERM to the supervisor, until it and every process of pids (its
    probes, its keeper) have exited. The exits are seen through pidfds taken
    before, in an epoll set, so the harness does the same work per process at
    any size (a scan of /proc per turn grew with the number of processes and
    competed with the stop for the CPUs). Then every zombie is reaped, and
    nothing else may be left."""
    exits = Exits([proc.pid, *pids])
    a = now_ns()
    proc.send_signal(signal.SIGTERM)
    exits.wait_all(30, "after SIGTERM")
    took = now_ns() - a
    proc.wait()
    wait_until(all_reaped, 30, interval=0.01, what="every process gone after SIGTERM")
    return {"stop_s": took / 1e9, "tendd_exit": proc.returncode}


class Exits:
    """A pidfd for each of pids still there, in an epoll set: each becomes
    readable once its process has exited. wait_all() costs one epoll_wait per
    batch of exits and nothing per process still running."""

    def __init__(self, pids):
        self.ep = select.epoll()
        self.fds = {}
        for pid in pids:
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                continue
            self.fds[fd] = pid
            self.ep.register(fd, select.EPOLLIN)

    def wait_all(self, quiet_s, what):
        """Until every process has exited; fails once none exited for quiet_s
        (never waits forever)."""
        try:
            while self.fds:
                ready = self.ep.poll(quiet_s, maxevents=4096)
                if not ready:
                    raise RuntimeError(f"{len(self.fds)} processes still running "
                                       f"{quiet_s} s after the last exit {what}")
                for fd, _ in ready:
                    self.ep.unregister(fd)
                    os.close(fd)
                    del self.fds[fd]
        finally:
            self.close()

    def close(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = {}
        self.ep.close()


def step_ctlstop(args, work):
    """n sleeping probes; `tendctl stop NAME...` of all of them, from the CLI
    issued until every probe has exited (seen through pidfds taken before),
    then `tendctl start NAME...` again; --stop-rounds times in one tendd."""
    n = args.n
    why = limits_for(n)
    if why:
        return {"skipped": why}
    t = Tendd(args, work)
    names = [f"svc-{i:05d}" for i in range(n)]
    for name in names:
        t.service(name, f"{args.probe} {t.starts} sleep", restart="always")
    t.start()
    wait_until(lambda: count_lines(t.starts) >= n, max(60, n * 0.02), interval=0.005,
               what=f"{n} probes", proc=t.proc)
    t.wait_socket()
    kpid = keeper_pid(t.proc.pid)
    sup = [t.proc.pid, *([kpid] if kpid else [])]
    lat, cpu = [], []
    for rnd in range(args.stop_rounds):
        time.sleep(0.2)  # let tendd settle after the starts
        pids = [pid for _, pid in read_starts(t.starts)[-n:]]
        exits = Exits(pids)
        missing = n - len(exits.fds)
        if missing:
            exits.close()
            raise RuntimeError(f"{missing} probes gone before the stop")
        c0 = proc_oncpu_ns(*sup)
        a = now_ns()
        ctl = subprocess.Popen([args.tendctl, "-s", str(t.socket), "stop", *names],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        try:
            exits.wait_all(30, "of tendctl stop")
        except RuntimeError as e:
            ctl.kill()
            raise RuntimeError(f"{e}; tendctl stop: {ctl.communicate()[1].decode()[-300:]}")
        lat.append(now_ns() - a)
        if ctl.wait(timeout=60) != 0:
            raise RuntimeError(f"tendctl stop failed: {ctl.stderr.read().decode()}")
        # After the answer: tendd's work for the call is done.
        cpu.append(proc_oncpu_ns(*sup) - c0)
        ctl.stderr.close()
        before = count_lines(t.starts)
        r = t.ctl("start", *names)
        if r.returncode != 0:
            raise RuntimeError(f"tendctl start failed: {r.stderr.decode()}")
        wait_until(lambda: count_lines(t.starts) >= before + n, 60, interval=0.005,
                   what=f"{n} probes again", proc=t.proc)
    t.stop()
    return {"ctl_stop_ns": median(lat), "ctl_stop_min_ns": min(lat),
            "ctl_stop_max_ns": max(lat), "ctl_stop_all_ns": lat, "ctl_stop_cpu_ns": median(cpu)}



def step_memfile(args, work):
    """n sleeping probes with output = file (a standalone tendd's default: a
    pipe per service, read into NAME.log): the supervisor's Pss, tendd's and
    its keeper's (which holds each pidfd and each pipe's read end)."""
    n = args.n
    why = limits_for(n)
    if why:
        return {"skipped": why}
    t = Tendd(args, work)
    for i in range(n):
        t.service(f"svc-{i:05d}", f"{args.probe} {t.starts} sleep", output="file",
                  restart="always")
    t.start()
    wait_until(lambda: count_lines(t.starts) >= n, max(60, n * 0.02), interval=0.005,
               what=f"{n} probes", proc=t.proc)
    t.wait_socket()
    time.sleep(0.5)
    kpid = keeper_pid(t.proc.pid)
    res = {"pss_kib": proc_pss_kib(t.proc.pid),
           "keeper_pss_kib": proc_pss_kib(kpid) if kpid else 0}
    t.stop()
    return res


# tendctl's start-up: this many services behind the status call.
CLIENT_N = 100
# What the client step times, in this order (tests/bench/client.c "time").
CLIENT_KEYS = ("static", "libc", "libsystemd", "call", "version", "status")


def step_client(args, work):
    """tendctl --version and tendctl status NAME (CLIENT_N services) against
    their floors: the exec of a static no-op (the probe), of a dynamically
    linked no-op of libc alone (noop.c), of one linked with libsystemd, and
    one GetService call from a libsystemd client;
    timed in turn by client.c, so that the machine's drift treats all alike."""
    t = Tendd(args, work)
    for i in range(CLIENT_N):
        t.service(f"svc-{i:05d}", f"{args.probe} {t.starts} sleep", restart="always")
    t.start()
    wait_until(lambda: count_lines(t.starts) >= CLIENT_N, 60, interval=0.005,
               what=f"{CLIENT_N} probes", proc=t.proc)
    t.wait_socket()
    name = f"svc-{CLIENT_N // 2:05d}"
    cmds = ([args.probe], [args.noop], [args.client, "noop"], [args.client, "call", str(t.socket), name],
            [args.tendctl, "--version"], [args.tendctl, "-s", str(t.socket), "status", name])
    argv = [args.client, "time", str(args.client_runs)]
    for i, c in enumerate(cmds):
        argv += [":::", *c] if i else c
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    t.stop()
    if r.returncode != 0:
        raise RuntimeError(f"client time: {r.stderr.strip()[-300:]}")
    lines = [l.split() for l in r.stdout.splitlines() if l.strip()]
    return {k: {"min_ns": int(v[0]), "median_ns": int(v[1]), "max_ns": int(v[2])}
            for k, v in zip(CLIENT_KEYS, lines)}


STEPS = {"restart": step_restart, "throughput": step_throughput, "scale": step_scale,
         "ctlstop": step_ctlstop, "client": step_client, "memfile": step_memfile}


def inner(args):
    steps = STEPS
    if args.inner.startswith("peer-"):
        steps = peers_module().STEPS
    with tempfile.TemporaryDirectory(prefix="tend-bench-") as work:
        try:
            res = steps[args.inner](args, work)
        except Exception as e:  # reported, the table shows the step failed
            res = {"error": str(e)}
    print(json.dumps(res), flush=True)


# -- outer: run the steps, print the table -----------------------------------

def run_inner(args, step, *extra):
    cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--",
           sys.executable, os.path.abspath(__file__), "--inner", step,
           "--tendd", args.tendd, "--tendctl", args.tendctl, "--probe", args.probe,
           "--floor", args.floor, "--client", args.client, "--noop", args.noop,
           "--client-runs", str(args.client_runs),
           "--restarts", str(args.restarts), "--throughput-seconds", str(args.throughput_seconds),
           "--idle-seconds", str(args.idle_seconds), "--status-runs", str(args.status_runs),
           "--ctl-restarts", str(args.ctl_restarts), "--reexecs", str(args.reexecs),
           "--stop-rounds", str(args.stop_rounds),
           "--peer-crash-services", str(args.peer_crash_services),
           "--peer-crash-seconds", str(args.peer_crash_seconds),
           "--peer-throughput-seconds", str(args.peer_throughput_seconds),
           "--peer-status-runs", str(args.peer_status_runs), *extra]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode != 0 or not lines:
        return {"error": f"step {step} exited {r.returncode}: {r.stderr.strip()[-300:]}"}
    return json.loads(lines[-1])


def cgroup2_mount():
    """A cgroup2 mount tendd may make cgroups under, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                mnt = Path(left.split()[4])
                return mnt if os.access(mnt / "cgroup.procs", os.W_OK) else None
    return None


def remove_cgroup(d):
    """rmdir d and the cgroups below it (tendd has exited: they are empty)."""
    for sub in sorted((p for p in d.iterdir() if p.is_dir()), reverse=True):
        remove_cgroup(sub)
    for _ in range(1000):
        try:
            os.rmdir(d)
            return
        except OSError:
            time.sleep(0.001)  # the last exits are still being accounted
    os.rmdir(d)


def run_cgroup_pairs(args, n):
    """restart, throughput and start/stop of n services, each run in the
    default (group) mode and then with a cgroup subtree (kill_mode = cgroup),
    pair by pair, so that a noisy machine treats both alike."""
    mnt = cgroup2_mount()
    if mnt is None:
        return {"skipped": "no writable cgroup2 mount"}
    out = {}
    for step, extra in (("restart", ()), ("throughput", ()),
                        ("scale", ("--n", str(n), "--stop"))):
        # The stop is also run with floor.c in tendd's place, in both modes:
        # what any supervisor pays for the cgroups (see floor_start).
        whats = ("tendd", "floor") if step == "scale" else ("tendd",)
        runs = {(what, mode): [] for what in whats for mode in ("group", "cgroup")}
        for i in range(args.rounds):
            for what in whats:
                runs[what, "group"].append(run_inner(args, step, *extra, "--what", what))
                d = mnt / f"tend-bench-{os.getpid()}-{step}-{what}-{i}"
                d.mkdir()
                try:
                    runs[what, "cgroup"].append(run_inner(args, step, *extra, "--what", what,
                                                          "--cgroup", str(d)))
                finally:
                    remove_cgroup(d)
        out[step] = {"group": median_of(runs["tendd", "group"]),
                     "cgroup": median_of(runs["tendd", "cgroup"])}
        if "floor" in whats:
            out[step]["floor_group"] = median_of(runs["floor", "group"])
            out[step]["floor_cgroup"] = median_of(runs["floor", "cgroup"])
    return out


def run_floor(args, mode):
    with tempfile.TemporaryDirectory(prefix="tend-bench-floor-") as d:
        r = subprocess.run([args.floor, mode, args.probe, os.path.join(d, "starts"),
                            str(args.floor_n)], capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip()}
    med, p, rate = r.stdout.split()
    return {"median_ns": int(med), "p95_ns": int(p), "per_second": float(rate)}


# -- crash -> restart, phase by phase (ftrace) -----------------------------------

TRACEFS = Path("/sys/kernel/tracing")
PHASE_EVENTS = ("sched:sched_switch", "sched:sched_process_exit", "sched:sched_process_exec",
                "sched:sched_process_fork", "signal:signal_generate", "raw_syscalls:sys_enter")
PHASES = (("kill", "exit", "SIGKILL -> the victim exits"),
          ("exit", "wake", "its exit -> the supervisor runs"),
          ("wake", "fork", "the supervisor runs -> clone3 done"),
          ("fork", "exec", "clone3 done -> exec done"),
          ("exec", "first", "exec done -> the probe's first instruction"),
          ("kill", "first", "SIGKILL -> the probe's first instruction"))
CLOCK_GETTIME_NR = {"x86_64": 228, "aarch64": 113}.get(os.uname().machine)
_TRACE_LINE = re.compile(r"^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+): (\w+): (.*)$")


class Ftrace:
    """The few events the phases need, recorded while a step runs; every
    setting touched is put back afterwards (and tracefs unmounted if this
    mounted it)."""

    FILES = ("tracing_on", "trace_clock", "buffer_size_kb", "set_event",
             "events/raw_syscalls/sys_enter/filter")

    def __init__(self):
        self.mounted = False
        self.saved = {}

    def __enter__(self):
        if not (TRACEFS / "trace").exists():
            r = subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"tracefs: {r.stderr.strip() or 'cannot mount'}")
            self.mounted = True
        for f in self.FILES:
            text = (TRACEFS / f).read_text()
            if f == "trace_clock":
                text = re.search(r"\[(\w+)\]", text).group(1)
            elif f == "buffer_size_kb":
                text = text.split()[0]  # "7 (expanded: 1408)" before first use
            self.saved[f] = text
        self.write("tracing_on", "0")
        self.write("trace", "")
        self.write("trace_clock", "mono")
        self.write("buffer_size_kb", "16384")
        self.write("set_event", "\n".join(PHASE_EVENTS) + "\n")
        # The probe's first instruction is its clock_gettime system call.
        self.write("events/raw_syscalls/sys_enter/filter", f"id == {CLOCK_GETTIME_NR}")
        self.write("tracing_on", "1")
        return self

    def write(self, f, text):
        with open(TRACEFS / f, "w") as fh:
            fh.write(text)

    def read(self):
        self.write("tracing_on", "0")
        return (TRACEFS / "trace").read_text()

    def __exit__(self, *exc):
        self.write("tracing_on", "0")
        self.write("set_event", "")
        filt = self.saved.get("events/raw_syscalls/sys_enter/filter", "none").strip()
        self.write("events/raw_syscalls/sys_enter/filter", "0" if filt == "none" else filt)
        self.write("trace", "")
        for f in ("trace_clock", "buffer_size_kb"):
            self.write(f, self.saved[f].strip())
        if self.saved["set_event"].strip():
            with open(TRACEFS / "set_event", "a") as fh:
                fh.write(self.saved["set_event"])
        self.write("tracing_on", self.saved["tracing_on"].strip())
        if self.mounted:
            subprocess.run(["umount", str(TRACEFS)], capture_output=True)
        return False


def parse_phases(text, supervisor):
    """Per SIGKILL of a probe: the time of each phase boundary, from the trace."""
    out, cur = [], None
    for line in text.splitlines():
        m = _TRACE_LINE.match(line)
        if not m:
            continue
        pid, t, name, rest = int(m.group(2)), float(m.group(4)), m.group(5), m.group(6)
        if name == "signal_generate":
            if "sig=9 " in rest and "comm=probe " in rest:
                cur = {"kill": t, "victim": int(re.search(r" pid=(\d+)", rest).group(1))}
            continue
        if cur is None:
            continue
        if name == "sched_process_exit" and pid == cur["victim"] and "exit" not in cur:
            cur["exit"] = t
        elif (name == "sched_switch" and "exit" in cur and "wake" not in cur
              and "fork" not in cur and f"next_comm={supervisor} " in rest):
            cur["wake"] = t  # no switch-in when it was on a CPU already: no wake
        elif name == "sched_process_fork" and "exit" in cur and "fork" not in cur:
            cur["fork"] = t
            cur["child"] = int(re.search(r"child_pid=(\d+)", rest).group(1))
        elif name == "sched_process_exec" and pid == cur.get("child") and "exec" not in cur:
            cur["exec"] = t
        elif name == "sys_enter" and "exec" in cur and pid == cur["child"]:
            cur["first"] = t
            out.append(cur)
            cur = None
    res = {"n": len(out)}
    for a, b, _ in PHASES:
        res[f"{a}-{b}"] = median([(r[b] - r[a]) * 1e9 for r in out if a in r and b in r])
    return res


def run_phases(args):
    """crash -> restart traced, tendd and the floor supervisor alike."""
    if os.geteuid() != 0:
        return {"skipped": "needs root (ftrace)"}
    if CLOCK_GETTIME_NR is None:
        return {"skipped": f"no clock_gettime number for {os.uname().machine}"}
    res = {}
    try:
        for what, comm in (("floor", Path(args.floor).name[:15]), ("tendd", "tendd")):
            with Ftrace() as ft:
                r = run_inner(args, "restart", "--what", what, "--restarts", "200")
                text = ft.read()
            if "error" in r:
                return {"error": r["error"]}
            res[what] = parse_phases(text, comm)
    except (OSError, RuntimeError) as e:
        return {"skipped": f"ftrace: {e}"}
    return res


def median_of(runs):
    """Runs of one step as one: the median of each number over the runs that
    have it (idle, control and stop run in the first only), or an error."""
    for x in runs:
        if "error" in x:
            return x
    keys = {k for x in runs for k, v in x.items() if isinstance(v, (int, float))}
    out = {k: median([x[k] for x in runs if isinstance(x.get(k), (int, float))])
           for k in keys}
    out["runs"] = runs
    return out


def fmt_ms(ns):
    return "-" if ns is None else f"{ns / 1e6:.3f} ms"


def fmt_s(s):
    return "-" if s is None else f"{s:.3f} s"


class Table:
    def __init__(self):
        self.rows = []

    def add(self, what, result, target="", ratio="", met=None, like=""):
        self.rows.append((what, result, target, ratio,
                          "" if met is None else ("met" if met else "MISSED"), like))

    def print(self):
        head = ("measurement", "result", "target", "vs floor", "met", "vs like-for-like floor")
        w = [max(len(str(r[i])) for r in self.rows + [head]) for i in range(6)]
        line = "  ".join(f"{{:<{x}}}" for x in w)
        print(line.format(*head).rstrip())
        print("  ".join("-" * x for x in w))
        for r in self.rows:
            print(line.format(*r).rstrip())


def client_rows(t, c):
    """tendctl's start-up and its floors (step_client): medians, the spread
    beside them."""
    if "error" in c:
        t.add("client start-up", "error: " + c["error"])
        return
    spread = {k: f"min {fmt_ms(v['min_ns'])}, max {fmt_ms(v['max_ns'])}" for k, v in c.items()}
    lib, call = c["libsystemd"]["median_ns"], c["call"]["median_ns"]
    t.add("exec of a static no-op: median", fmt_ms(c["static"]["median_ns"]),
          like=spread["static"])
    t.add("exec of a dynamically linked libc no-op: median", fmt_ms(c["libc"]["median_ns"]),
          like=spread["libc"])
    t.add("exec of a program linked with libsystemd: median",
          fmt_ms(lib), like=spread["libsystemd"])
    t.add("one GetService call from a libsystemd client: median", fmt_ms(call),
          "", f"{call / lib:.2f}x of the libsystemd exec", like=spread["call"])
    v = c["version"]["median_ns"]
    t.add("tendctl --version: median", fmt_ms(v), "",
          f"{v / lib:.2f}x of the libsystemd exec", like=spread["version"])
    st = c["status"]["median_ns"]
    t.add(f"tendctl status NAME at {CLIENT_N} services: median", fmt_ms(st), "<= 1.0 ms",
          f"{st / call:.2f}x of the call floor", st <= 1e6, spread["status"])


def cgroup_rows(t, cg, n):
    """kill_mode = cgroup against the default group mode, run in pairs."""
    if "skipped" in cg:
        t.add("cgroup mode", "not run: " + cg["skipped"])
        return
    rows = (("restart", "crash -> restart: median", "median_ns", fmt_ms, 1.1, False),
            ("throughput", "restart throughput", "per_second", lambda v: f"{v:.0f} /s", None,
             True),
            ("scale", f"{n} services: start all", "start_s", fmt_s, 1.5, False),
            ("scale", f"{n} services: SIGTERM -> all gone", "stop_s", fmt_s, 1.0, False))
    for step, what, key, fmt, limit, higher in rows:
        g, c = cg[step]["group"], cg[step]["cgroup"]
        if "error" in g or "error" in c:
            t.add(f"cgroup mode: {what}", "error: " + (c.get("error") or g.get("error")))
            continue
        if not g.get(key) or not c.get(key):
            t.add(f"cgroup mode: {what}", "error: no result")
            continue
        ratio = c[key] / g[key]
        target = f"{'>=' if higher else '<='} {limit}x group mode" if limit else ""
        met = (ratio >= limit if higher else ratio <= limit) if limit else None
        t.add(f"cgroup mode: {what}", fmt(c[key]), target,
              f"{ratio:.2f}x of group: {fmt(g[key])}", met)
        fg, fc = cg[step].get("floor_group", {}), cg[step].get("floor_cgroup", {})
        if key == "stop_s" and fg.get(key) and fc.get(key):
            t.add(f"cgroup mode: {what}, floor", fmt(fc[key]), "",
                  f"{fc[key] / fg[key]:.2f}x of group: {fmt(fg[key])}", None)


def growth_rows(t, a, b, na, nb):
    """How the per-size rows grow from na to nb services: each cost's ratio
    against the ratio of the sizes (linear: at most nb / na)."""
    lin = nb / na
    for key, what in (("start_s", "start all"),
                      ("start_cpu_ns", "start all, supervisor on a CPU"),
                      ("status_ns", "tendctl status --json"),
                      ("stop_s", "SIGTERM -> all gone")):
        if key in a and key in b and a[key]:
            r = b[key] / a[key]
            t.add(f"{nb} services: {what}, growth from {na}", f"{r:.2f}x",
                  f"<= {lin:g}x (linear)", "", r <= lin)
    ta = a["pss_kib"] + a.get("keeper_pss_kib", 0)
    tb = b["pss_kib"] + b.get("keeper_pss_kib", 0)
    r = tb / ta
    t.add(f"{nb} services: supervisor Pss, growth from {na}", f"{r:.2f}x",
          f"<= {lin:g}x (linear)", "", r <= lin)


def peers_module():
    """peers.py, which imports this module by name: the same one when this
    runs as a script."""
    sys.modules.setdefault("bench", sys.modules[__name__])
    import peers
    return peers


def outer(args):
    sizes = [int(x) for x in args.sizes.split(",") if x]
    if args.peers_only:
        p = peers_module()
        peer_res = p.run(args, sizes, run_inner)
        if args.json:
            Path(args.json).write_text(json.dumps({"peers": peer_res}, indent=1) + "\n")
        return p.table(args, peer_res)
    res = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
           "nproc": os.cpu_count(), "kernel": os.uname().release, "sizes": sizes}
    # This machine is noisy: the floor is measured again right before each
    # tendd step, and each step is compared with the floor next to it.
    res["floor_vfork"] = run_floor(args, "vfork")
    res["floor_fork"] = run_floor(args, "fork")
    # Each tendd step runs --rounds times, each run between two runs of the
    # same step with floor.c in tendd's place ("like": the like-for-like
    # floor); both sides are the medians of their runs.
    def with_like(step, *extra, full=()):
        floors, runs = [], []
        for i in range(args.rounds):
            floors.append(run_inner(args, step, *extra, "--what", "floor"))
            r = run_inner(args, step, *extra, *(full if i == 0 else ()))
            if "skipped" in r:
                return r
            runs.append(r)
        floors.append(run_inner(args, step, *extra, "--what", "floor"))
        r = median_of(runs)
        r["like"] = median_of(floors)
        return r

    res["restart"] = with_like("restart")
    res["restart"]["floor"] = run_floor(args, "vfork")
    # The same crash beside each size of running services, tendd only, right
    # after one alone: it must not cost more with more services.
    res["beside"] = {}
    for n in sizes:
        alone = run_inner(args, "restart", "--restarts", "100")
        beside = run_inner(args, "restart", "--restarts", "100", "--beside", str(n))
        res["beside"][n] = {"alone": alone, "beside": beside}
    res["throughput"] = with_like("throughput")
    res["throughput"]["floor"] = run_floor(args, "vfork")
    res["phases"] = {"skipped": "--no-phases"} if args.no_phases else run_phases(args)
    res["scale"] = {}
    for i, n in enumerate(sizes):
        floor_before = run_floor(args, "vfork")
        # The base size runs idle, control and stop once (--full); the others
        # time status --json and a stop in every round (how they grow).
        res["scale"][n] = with_like("scale", "--n", str(n), *(() if i == 0 else ("--stop",)),
                                    full=["--full"] if i == 0 else [])
        res["scale"][n]["floor"] = floor_before
    res["ctlstop"] = {}
    stop_sizes = args.stop_sizes or ",".join(map(str, [*sizes, 100]))
    for n in [int(x) for x in stop_sizes.split(",") if x]:
        runs = []
        for _ in range(args.rounds):
            runs.append(run_inner(args, "ctlstop", "--n", str(n)))
            if "skipped" in runs[-1]:
                break
        res["ctlstop"][n] = runs[-1] if "skipped" in runs[-1] else median_of(runs)
    runs = [run_inner(args, "memfile", "--n", str(sizes[0])) for _ in range(args.rounds)]
    res["memfile"] = runs[0] if "skipped" in runs[0] else median_of(runs)
    res["client"] = run_inner(args, "client")
    res["cgroup"] = ({"skipped": "--no-cgroup"} if args.no_cgroup
                     else run_cgroup_pairs(args, sizes[0]))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")

    fv, ff = res["floor_vfork"], res["floor_fork"]

    def near(step):
        """The vfork-style floor measured next to step (median over both)."""
        f = [x for x in (fv, step.get("floor", {})) if x.get("median_ns")]
        if not f:
            return None, None, None
        return (statistics.median(x["median_ns"] for x in f),
                statistics.median(x["p95_ns"] for x in f),
                statistics.median(x["per_second"] for x in f))
    t = Table()
    print(f"tend benchmark, {res['date']}, nproc {res['nproc']}, kernel {res['kernel']}"
          f"{', quick' if args.quick else ''}")
    print(f"tendd: {args.tendd}")
    for name, f in (("vfork-style", fv), ("fork-like", ff)):
        if "error" in f:
            t.add(f"raw spawn floor, {name}", "error: " + f["error"])
            continue
        t.add(f"raw spawn->exec, {name}: median", fmt_ms(f["median_ns"]))
        t.add(f"raw spawn->exec, {name}: p95", fmt_ms(f["p95_ns"]))
        t.add(f"raw spawn+reap loop, {name}", f"{f['per_second']:.0f} /s")

    r = res["restart"]
    if "error" in r:
        t.add("crash -> restart", "error: " + r["error"])
    else:
        floor, floor95, _ = near(r)
        like = r.get("like", {})
        ratio = r["median_ns"] / floor if floor else None
        t.add("crash -> restart: median", fmt_ms(r["median_ns"]), "<= 1.3x floor",
              f"{ratio:.2f}x of {fmt_ms(floor)}" if ratio else "",
              ratio is not None and ratio <= 1.3,
              f"{r['median_ns'] / like['median_ns']:.2f}x of {fmt_ms(like['median_ns'])}"
              if like.get("median_ns") else "")
        t.add("crash -> restart: p95", fmt_ms(r["p95_ns"]), "",
              f"{r['p95_ns'] / floor95:.2f}x of {fmt_ms(floor95)}" if floor95 else "",
              like=f"{r['p95_ns'] / like['p95_ns']:.2f}x of {fmt_ms(like['p95_ns'])}"
              if like.get("p95_ns") else "")
        if "error" in like:
            t.add("crash -> respawn, like-for-like floor", "error: " + like["error"])
        elif like:
            t.add("crash -> respawn, like-for-like floor: median", fmt_ms(like["median_ns"]),
                  "", f"{like['median_ns'] / floor:.2f}x of {fmt_ms(floor)}" if floor else "")
            t.add("crash -> respawn, like-for-like floor: p95", fmt_ms(like["p95_ns"]))

    r = res["throughput"]
    if "error" in r or not r.get("per_second"):
        t.add("restart throughput", "error: " + r.get("error", "no restarts"))
    else:
        _, _, rate = near(r)
        like = r.get("like", {})
        ratio = r["per_second"] / rate if rate else None
        t.add("restart throughput", f"{r['per_second']:.0f} /s", ">= 80% of floor loop",
              f"{ratio * 100:.0f}% of {rate:.0f} /s" if ratio else "",
              ratio is not None and ratio >= 0.8,
              f"{r['per_second'] / like['per_second'] * 100:.0f}% of "
              f"{like['per_second']:.0f} /s" if like.get("per_second") else "")
        if like and not like.get("per_second"):
            t.add("restart throughput, like-for-like floor",
                  "error: " + like.get("error", "no restarts"))
        elif like:
            t.add("restart throughput, like-for-like floor", f"{like['per_second']:.0f} /s", "",
                  f"{like['per_second'] / rate * 100:.0f}% of {rate:.0f} /s" if rate else "")

    for n, b in res.get("beside", {}).items():
        what = f"crash -> restart beside {n} running services: median"
        alone, beside = b["alone"], b["beside"]
        bad = next((x for x in (beside, alone) if "error" in x or "skipped" in x), None)
        if bad:
            t.add(what, ("not run: " + bad["skipped"]) if "skipped" in bad
                  else "error: " + bad["error"])
            continue
        ratio = beside["median_ns"] / alone["median_ns"]
        t.add(what, fmt_ms(beside["median_ns"]), "<= 1.5x alone",
              f"{ratio:.2f}x of {fmt_ms(alone['median_ns'])} alone", ratio <= 1.5,
              f"p95 {fmt_ms(beside['p95_ns'])}, alone {fmt_ms(alone['p95_ns'])}")
        t.add(f"crash -> restart beside {n} running services: supervisor on a CPU",
              f"{beside['cpu_ns'] / 1e3:.1f} µs per crash", "",
              f"alone {alone['cpu_ns'] / 1e3:.1f} µs")

    ph = res["phases"]
    if "skipped" in ph or "error" in ph:
        t.add("crash -> restart phases (ftrace)",
              ("not run: " + ph["skipped"]) if "skipped" in ph else "error: " + ph["error"])
    else:
        for a, b, what in PHASES:
            k = f"{a}-{b}"
            td, fl = ph["tendd"].get(k), ph["floor"].get(k)
            t.add(f"phase: {what}", "-" if td is None else f"{td / 1e3:.0f} us", "",
                  "", None, "" if fl is None else f"floor: {fl / 1e3:.0f} us")
        t.add("phase: restarts traced", f"{ph['tendd']['n']}", "", "", None,
              f"floor: {ph['floor']['n']}")

    pss_target = {1000: 4 * 1024, 10000: 24 * 1024}
    base = None
    for i, n in enumerate(sizes):
        s = res["scale"][n]
        if "skipped" in s:
            t.add(f"{n} services", "not run: " + s["skipped"])
            continue
        if "error" in s:
            t.add(f"{n} services", "error: " + s["error"])
            continue
        k = 1.3 if i == 0 else 1.5
        floor = near(s)[0]
        like = s.get("like", {})
        like_txt = (f"{s['start_s'] / like['start_s']:.2f}x of {fmt_s(like['start_s'])}"
                    if like.get("start_s") else "")
        if floor:
            budget = k * n * floor / 1e9
            ratio = s["start_s"] / (n * floor / 1e9)
            t.add(f"{n} services: start all", fmt_s(s["start_s"]),
                  f"<= {k}x n*floor = {budget:.3f} s", f"{ratio:.2f}x of {fmt_ms(floor)}",
                  ratio <= k, like_txt)
        else:
            t.add(f"{n} services: start all", fmt_s(s["start_s"]), like=like_txt)
        if "first_s" in s:
            t.add(f"{n} services: start all: first probe after", fmt_s(s["first_s"]),
                  "", "", None, f"floor: {fmt_s(like['first_s'])}" if "first_s" in like else "")
        if "error" in like:
            t.add(f"{n} services: start all, like-for-like floor", "error: " + like["error"])
        elif like:
            t.add(f"{n} services: start all, like-for-like floor", fmt_s(like["start_s"]), "",
                  f"{like['start_s'] / (n * floor / 1e9):.2f}x of {fmt_ms(floor)}"
                  if floor else "")
        if "start_cpu_ns" in s:
            t.add(f"{n} services: start all, supervisor on a CPU", fmt_ms(s["start_cpu_ns"]), "",
                  f"{s['start_cpu_ns'] / n / 1e3:.1f} µs per service", None,
                  f"floor: {like['start_cpu_ns'] / n / 1e3:.1f} µs per service"
                  if like.get("start_cpu_ns") else "")
        tgt = pss_target.get(n)
        # The keeper shares tendd's binary and libraries, so Pss splits those
        # pages between the two: the supervisor is their sum.
        total = s["pss_kib"] + s.get("keeper_pss_kib", 0)
        t.add(f"{n} services: tendd Pss", f"{s['pss_kib'] / 1024:.2f} MiB")
        t.add(f"{n} services: tendd fds", str(round(s["fds"])))
        if "keeper_pss_kib" in s:
            t.add(f"{n} services: keeper Pss", f"{s['keeper_pss_kib'] / 1024:.2f} MiB", "",
                  f"holds {round(s['keeper_fds'])} fds")
        t.add(f"{n} services: supervisor Pss (tendd + keeper)", f"{total / 1024:.2f} MiB",
              f"<= {tgt // 1024} MiB" if tgt else "", "", total <= tgt if tgt else None)
        t.add(f"{n} services: bytes per service (supervisor Pss / n)",
              f"{total * 1024 / n:.0f} B")
        if base is not None and n > base[0]:
            marginal = (total - base[1]) * 1024 / (n - base[0])
            t.add(f"{n} services: bytes per extra service", f"{marginal:.0f} B",
                  "", f"vs {base[0]}")
        if base is None:
            base = (n, total)
        if "idle_ticks" in s:
            t.add(f"{n} services idle {s['idle_seconds']:g} s: CPU ticks", str(round(s["idle_ticks"])),
                  "0", "", s["idle_ticks"] == 0)
            t.add(f"{n} services idle {s['idle_seconds']:g} s: wakeups",
                  f"{round(s['idle_wakeups'])} voluntary ctx switches, tendd and keeper", "0", "",
                  s["idle_wakeups"] == 0)
        if "status_ns" in s:
            st_tgt = 25e6 * n / 1000
            t.add(f"{n} services: tendctl status --json median", fmt_ms(s["status_ns"]),
                  f"<= {fmt_ms(st_tgt)}", "", s["status_ns"] <= st_tgt)
        if "restart_ns" in s:
            t.add(f"{n} services: tendctl restart median ({args.ctl_restarts} sequential)",
                  fmt_ms(s["restart_ns"]))
            t.add(f"{n} services: tendctl reexec median ({args.reexecs}, until the new image "
                  "answers)", fmt_ms(s["reexec_ns"]))
        if "stop_s" in s:
            t.add(f"{n} services: SIGTERM -> all gone", fmt_s(s["stop_s"]),
                  "", f"tendd exit {round(s['tendd_exit'])}", None,
                  f"{s['stop_s'] / like['stop_s']:.2f}x of {fmt_s(like['stop_s'])}"
                  if like.get("stop_s") else "")
        if i > 0:
            growth_rows(t, res["scale"][sizes[0]], s, sizes[0], n)
    # The best peer measured on this machine (daemontools' svc -d of every
    # service), from the issue "Performance, round two".
    peer = {1000: 103e6, 100: 11.5e6}
    for n, s in res["ctlstop"].items():
        what = f"{n} services: tendctl stop (CLI issued -> all exited)"
        if "skipped" in s or "error" in s:
            t.add(what, ("not run: " + s["skipped"]) if "skipped" in s else "error: " + s["error"])
            continue
        all_ns = sorted(x for r in s["runs"] for x in r["ctl_stop_all_ns"])
        tgt = peer.get(n)
        t.add(what, fmt_ms(s["ctl_stop_ns"]),
              f"<= {fmt_ms(tgt)} (best peer)" if tgt else "", "",
              s["ctl_stop_ns"] <= tgt if tgt else None,
              f"min {fmt_ms(all_ns[0])}, max {fmt_ms(all_ns[-1])} over {len(all_ns)}")
        if "ctl_stop_cpu_ns" in s:
            t.add(f"{n} services: tendctl stop, supervisor on a CPU", fmt_ms(s["ctl_stop_cpu_ns"]),
                  "", f"{s['ctl_stop_cpu_ns'] / n / 1e3:.1f} µs per service")
    # How the stop grows from the first size (both the time and the
    # supervisor's own CPU time, which the machine's load moves less).
    stops = {n: s for n, s in res["ctlstop"].items() if "ctl_stop_ns" in s}
    if sizes[0] in stops:
        a = stops[sizes[0]]
        for n in sizes[1:]:
            if n not in stops:
                continue
            for key, what in (("ctl_stop_ns", "tendctl stop"),
                              ("ctl_stop_cpu_ns", "tendctl stop, supervisor on a CPU")):
                if a.get(key) and stops[n].get(key):
                    r, lin = stops[n][key] / a[key], n / sizes[0]
                    t.add(f"{n} services: {what}, growth from {sizes[0]}", f"{r:.2f}x",
                          f"<= {lin:g}x (linear)", "", r <= lin)
    s = res["memfile"]
    what = f"{sizes[0]} services, output = file: supervisor Pss (tendd + keeper)"
    if "skipped" in s or "error" in s:
        t.add(what, ("not run: " + s["skipped"]) if "skipped" in s else "error: " + s["error"])
    else:
        total, tgt = s["pss_kib"] + s["keeper_pss_kib"], pss_target.get(sizes[0])
        t.add(what, f"{total / 1024:.2f} MiB", f"<= {tgt // 1024} MiB" if tgt else "", "",
              total <= tgt if tgt else None,
              f"tendd {s['pss_kib'] / 1024:.2f} MiB, keeper {s['keeper_pss_kib'] / 1024:.2f} MiB, "
              f"{total * 1024 / sizes[0]:.0f} B per service")
    client_rows(t, res["client"])
    cgroup_rows(t, res["cgroup"], sizes[0])
    t.print()
    steps = [res["restart"], res["throughput"], *res["scale"].values(),
             *res["ctlstop"].values()]
    failed = any("error" in v for v in (fv, ff, *steps, res["client"], res["memfile"])) or any(
        "error" in v.get("like", {}) for v in steps)
    if args.peers:
        p = peers_module()
        peer_res = p.run(args, sizes, run_inner)
        if args.json:
            res["peers"] = peer_res
            Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
        failed = p.table(args, peer_res) != 0 or failed
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tendd", required=True)
    ap.add_argument("--tendctl", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--floor")
    ap.add_argument("--client")
    ap.add_argument("--noop")
    ap.add_argument("--quick", action="store_true",
                    help="short idle (5 s) and fewer repetitions, for a smoke run")
    ap.add_argument("--sizes", default="1000,10000",
                    help="service counts for the scale step; the first one also runs "
                         "idle, control and stop (default 1000,10000)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--stop-sizes",
                    help="service counts for tendctl stop of every service by name "
                         "(default: the --sizes and 100)")
    ap.add_argument("--no-cgroup", action="store_true",
                    help="skip the steps run again with a cgroup subtree (kill_mode = cgroup)")
    ap.add_argument("--rounds", type=int,
                    help="runs of each tendd step, each between floor runs; the table "
                         "shows medians (default 3, 1 with --quick)")
    ap.add_argument("--no-phases", action="store_true",
                    help="skip the ftrace breakdown of crash -> restart")
    ap.add_argument("--peers", action="store_true",
                    help="also run runit, s6, daemontools and supervisor through the same "
                         "steps, round-robin with tendd (installs the missing ones with "
                         "apt-get) and print them beside tend")
    ap.add_argument("--peers-only", action="store_true",
                    help="--peers, without tend's own table and floors")
    ap.add_argument("--no-install", action="store_true",
                    help="with --peers: install nothing; missing peers show as not installed")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=1000, help=argparse.SUPPRESS)
    ap.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--stop", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cgroup", help=argparse.SUPPRESS)
    ap.add_argument("--what", choices=("tendd", "floor", "runit", "s6", "daemontools",
                                       "supervisor"), default="tendd", help=argparse.SUPPRESS)
    ap.add_argument("--restarts", type=int)
    ap.add_argument("--beside", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--throughput-seconds", type=float)
    ap.add_argument("--idle-seconds", type=float)
    ap.add_argument("--status-runs", type=int)
    ap.add_argument("--ctl-restarts", type=int)
    ap.add_argument("--reexecs", type=int)
    ap.add_argument("--stop-rounds", type=int)
    ap.add_argument("--floor-n", type=int)
    ap.add_argument("--client-runs", type=int)
    ap.add_argument("--peer-crash-services", type=int, default=40, help=argparse.SUPPRESS)
    ap.add_argument("--peer-crash-seconds", type=float)
    ap.add_argument("--peer-throughput-seconds", type=float)
    ap.add_argument("--peer-status-runs", type=int)
    args = ap.parse_args()
    q = args.quick
    for k, full, quick in (("restarts", 300, 30), ("throughput_seconds", 3.0, 1.0),
                           ("idle_seconds", 60.0, 5.0), ("status_runs", 21, 5),
                           ("ctl_restarts", 100, 10), ("reexecs", 11, 3),
                           ("stop_rounds", 7, 2),
                           ("floor_n", 1000, 200), ("client_runs", 300, 50),
                           ("peer_throughput_seconds", 5.0, 3.0),
                           ("peer_crash_seconds", 30.0, 6.0),
                           ("peer_status_runs", 200, 20),
                           ("rounds", 3, 1)):
        if getattr(args, k) is None:
            setattr(args, k, quick if q else full)
    if args.inner:
        inner(args)
        return 0
    if not args.floor or not args.client or not args.noop:
        ap.error("--floor, --client and --noop are required")
    return outer(args)


if __name__ == "__main__":
    sys.exit(main())
