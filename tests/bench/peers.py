"""tend beside its peers (bench.py --peers): runit, s6, daemontools and
supervisor run the same steps as tendd, each step round-robin over tendd and
every peer for --rounds rounds, so that a noisy machine treats them alike; the
table shows the medians.

Every supervisor runs the bench probe (probe.c) directly: tendd and
supervisord with arguments, runit, s6 and daemontools as the service's
./run (a symlink to the probe, which then reads $PROBE_FILE and $PROBE_SLEEP,
passed down from the scanner), so no shell is part of any start. Each run is
PID 1 of its own pid namespace (bench.py --inner), services under its temp
dir; the namespace's end takes every process with it.

Steps ("--inner peer-STEP --what SUPERVISOR"):
  crash       K sleeping services; the longest-running probe (up 1.1 s at
              least: runsv, supervise and s6-supervise hold back a restart of
              a service that ran less than 1 s) is SIGKILLed, until the new
              probe's first instruction; one at a time.
  throughput  one service whose probe exits at once: starts per second.
  scale       N sleeping services: supervisor started -> every probe ran; Pss
              of the supervisor's own processes; with --full, idle CPU ticks
              and wakeups of those processes and one service's status through
              the CLI; then the CLI stops every service, until every probe
              has exited.
"""

import os
import select
import shutil
import signal
import subprocess
import time
from collections import deque
from pathlib import Path

import bench
from bench import StartsFifo, count_lines, median, now_ns, p95, read_starts, wait_until

PEERS = ("runit", "s6", "daemontools", "supervisor")
SUPERVISORS = ("tendd",) + PEERS
# The programs each peer needs, to tell a usable install.
PEER_BINARIES = {"runit": ("runsvdir", "runsv", "sv"),
                 "s6": ("s6-svscan", "s6-supervise", "s6-svc", "s6-svstat"),
                 "daemontools": ("svscan", "supervise", "svc", "svstat"),
                 "supervisor": ("supervisord", "supervisorctl")}
MIN_UP_S = 1.1  # a crash is of a service up longer than the peers' 1 s throttle


# -- one supervisor in this namespace ----------------------------------------

class Supervisor:
    """What the steps need of a supervisor: services, start, its own
    processes, and its CLI's stop and status."""

    own = ()  # comm of the supervisor's processes below the one started

    def __init__(self, args, work, starts, stay):
        self.args, self.dir, self.starts, self.stay = args, Path(work), Path(starts), stay
        self.names = []
        self.proc = None

    def env(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PROBE_FILE": str(self.starts)}
        if self.stay:
            env["PROBE_SLEEP"] = "1"
        return env

    def add(self, name):
        self.names.append(name)

    def launch(self, argv, **kw):
        self.log = open(self.dir / "supervisor.log", "ab")
        t0 = now_ns()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, **kw)
        return t0

    def pids(self):
        """The supervisor's own processes: the one started and, below it,
        those named in self.own (one per service for runit, s6, daemontools)."""
        out = [self.proc.pid]
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            return out
        for k in kids:
            try:
                if Path(f"/proc/{k}/comm").read_text().strip() in self.own:
                    out.append(k)
            except OSError:
                pass
        return out

    def ready(self):
        """Wait until the CLI answers (after every probe ran)."""

    def run_cli(self, argv):
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)


class TenddSup(Supervisor):
    own = ("tend-keeper",)

    def __init__(self, args, work, starts, stay):
        super().__init__(args, work, starts, stay)
        self.t = bench.Tendd(args, work)

    def add(self, name):
        super().add(name)
        self.t.service(name, f"{self.args.probe} {self.starts}" + (" sleep" if self.stay else ""),
                       restart="always", restart_delay="0", start_limit_burst="0")

    def start(self):
        t0 = self.t.start()
        self.proc = self.t.proc
        return t0

    def ready(self):
        self.t.wait_socket()

    def stop_argvs(self):
        return [[self.args.tendctl, "-s", str(self.t.socket), "stop", *self.names]]

    def status_argv(self, name):
        return [self.args.tendctl, "-s", str(self.t.socket), "status", name]


class ScanDirSup(Supervisor):
    """runit, s6, daemontools: a scanner over a directory of service
    directories, each with ./run the probe; one supervise process each."""

    scanner = None

    def __init__(self, args, work, starts, stay):
        super().__init__(args, work, starts, stay)
        self.scan = self.dir / "service"
        self.scan.mkdir()

    def add(self, name):
        super().add(name)
        d = self.scan / name
        d.mkdir()
        (d / "run").symlink_to(self.args.probe)

    def scanner_argv(self):
        return [self.scanner, str(self.scan)]

    def start(self):
        # As a scan directory made before boot: runsvdir waits a second before
        # it reads a directory changed in the current second.
        past = time.time() - 10
        os.utime(self.scan, (past, past))
        return self.launch(self.scanner_argv(), env=self.env())

    def svdirs(self):
        return [str(self.scan / n) for n in self.names]


class RunitSup(ScanDirSup):
    scanner = "runsvdir"
    own = ("runsv",)

    def stop_argvs(self):
        return [["sv", "down", *self.svdirs()]]

    def status_argv(self, name):
        return ["sv", "status", str(self.scan / name)]


class S6Sup(ScanDirSup):
    scanner = "s6-svscan"
    own = ("s6-supervise",)

    def scanner_argv(self):
        # s6-svscan runs 500 services unless told more (-c).
        return [self.scanner, "-c", str(max(500, len(self.names))), str(self.scan)]

    def stop_argvs(self):
        # s6-svc takes one service directory: one call each.
        return [["s6-svc", "-d", d] for d in self.svdirs()]

    def status_argv(self, name):
        return ["s6-svstat", str(self.scan / name)]


class DaemontoolsSup(ScanDirSup):
    scanner = "svscan"
    own = ("supervise",)

    def stop_argvs(self):
        return [["svc", "-d", *self.svdirs()]]

    def status_argv(self, name):
        return ["svstat", str(self.scan / name)]


class SupervisordSup(Supervisor):
    def __init__(self, args, work, starts, stay):
        super().__init__(args, work, starts, stay)
        self.conf = self.dir / "supervisord.conf"
        self.sock = self.dir / "supervisor.sock"
        self.programs = []

    def add(self, name):
        super().add(name)
        cmd = f"{self.args.probe} {self.starts}" + (" sleep" if self.stay else "")
        # startsecs = 0: running at once, so a probe that exits at once is
        # restarted (autorestart) rather than retried and given up (FATAL).
        self.programs.append(f"[program:{name}]\ncommand = {cmd}\nautorestart = true\n"
                             "startsecs = 0\nstdout_logfile = NONE\nstderr_logfile = NONE\n")

    def start(self):
        self.conf.write_text(
            "[supervisord]\nnodaemon = true\n"
            f"logfile = {self.dir / 'supervisord.log'}\npidfile = {self.dir / 'supervisord.pid'}\n"
            f"childlogdir = {self.dir}\n"
            f"[unix_http_server]\nfile = {self.sock}\n"
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
            f"[supervisorctl]\nserverurl = unix://{self.sock}\n\n" + "\n".join(self.programs))
        return self.launch(["supervisord", "-n", "-c", str(self.conf)], env=self.env())

    def ready(self):
        wait_until(lambda: self.run_cli(self.ctl("status")).returncode in (0, 3), 30,
                   interval=0.05, what="supervisorctl", proc=self.proc)

    def ctl(self, *argv):
        return ["supervisorctl", "-c", str(self.conf), *argv]

    def stop_argvs(self):
        # supervisorctl stops names one after the other, waiting for each;
        # "stop all" stops them together: the natural way for all of them.
        return [self.ctl("stop", "all")]

    def status_argv(self, name):
        return self.ctl("status", name)


CLASSES = {"tendd": TenddSup, "runit": RunitSup, "s6": S6Sup, "daemontools": DaemontoolsSup,
           "supervisor": SupervisordSup}


def make(args, work, starts, stay):
    if os.getpid() != 1:  # finish() kills every process of the namespace
        raise RuntimeError("peer steps run as PID 1 of their own pid namespace")
    return CLASSES[args.what](args, work, starts, stay)


# -- inner steps ---------------------------------------------------------------

def finish(s):
    """End the step: tendd stopped as usual, then every process left in this
    namespace killed and reaped, so that the temp dir can go."""
    if s.args.what == "tendd":
        s.t.stop()
    assert os.getpid() == 1  # kill(-1) only as PID 1 of a private namespace (make())
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break


def step_crash(args, work):
    """SIGKILL the probe up longest (at least MIN_UP_S), until the new probe's
    first instruction; K services so that one is always due. Stops after
    --restarts crashes or --peer-crash-seconds (s6 and supervisord take about
    a second for each), whichever comes first."""
    s = make(args, work, Path(work) / "starts", stay=True)
    fifo = StartsFifo(s.starts)
    k = args.peer_crash_services
    for i in range(k):
        s.add(f"svc-{i:05d}")
    s.start()
    fifo.wait(k, 30, f"{k} probes", s.proc)
    up = deque(sorted(fifo.starts))
    lat = []
    end = time.monotonic() + args.peer_crash_seconds
    while len(lat) < args.restarts and (len(lat) < 5 or time.monotonic() < end):
        n = len(fifo.starts)
        start, pid = up.popleft()
        due = start / 1e9 + MIN_UP_S - time.monotonic()
        time.sleep(max(due, 0.003))
        t0 = now_ns()
        os.kill(pid, signal.SIGKILL)
        fifo.wait(n + 1, 10, "the restarted probe", s.proc)
        lat.append(fifo.starts[n][0] - t0)
        up.append(fifo.starts[n])
    finish(s)
    return {"median_ns": median(lat), "p95_ns": p95(lat), "n": len(lat)}


def step_throughput(args, work):
    """One service whose probe exits at once: starts per second."""
    s = make(args, work, Path(work) / "starts", stay=False)
    s.add("flap")
    s.start()
    wait_until(lambda: count_lines(s.starts) >= 1, 30, what="the first probe", proc=s.proc)
    time.sleep(args.peer_throughput_seconds)
    finish(s)
    ts = sorted(t for t, _ in read_starts(s.starts))
    ts = ts[len(ts) // 10:]  # as bench.py: the rate after start-up
    if len(ts) < 2:
        return {"per_second": 0.0, "n": len(ts)}
    return {"per_second": (len(ts) - 1) * 1e9 / (ts[-1] - ts[0]), "n": len(ts)}


def proc_sum(pids, fn):
    total = 0
    for p in pids:
        try:
            total += fn(p)
        except (OSError, TypeError):
            pass
    return total


def pidfds(pids):
    """pidfds of the pids, to wait on with wait_exits()."""
    fds = []
    for p in pids:
        try:
            fds.append(os.pidfd_open(p))
        except ProcessLookupError:
            pass
    return fds


def wait_exits(fds, timeout):
    """Block until every pidfd's process has exited (it turns readable), or
    time out; closes the fds."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    left = len(fds)
    try:
        while left:
            ms = (deadline - time.monotonic()) * 1000
            if ms <= 0:
                raise RuntimeError(f"timed out: {left} probes still running")
            for fd, _ in poller.poll(ms):
                poller.unregister(fd)
                left -= 1
    finally:
        for fd in fds:
            os.close(fd)


def step_scale(args, work):
    n = args.n
    why = bench.limits_for(2 * n)  # a supervise process per service for three peers
    if why:
        return {"skipped": why}
    s = make(args, work, Path(work) / "starts", stay=True)
    for i in range(n):
        s.add(f"svc-{i:05d}")
    t0 = s.start()
    wait_until(lambda: count_lines(s.starts) >= n, max(60, n * 0.05), interval=0.005,
               what=f"{n} probes", proc=s.proc)
    res = bench.start_times(read_starts(s.starts), t0)
    s.ready()
    time.sleep(0.5)
    pids = s.pids()
    res["procs"] = len(pids)
    res["pss_kib"] = proc_sum(pids, bench.proc_pss_kib)
    if args.full:
        c0 = proc_sum(pids, bench.proc_cpu_ticks)
        v0 = proc_sum(pids, lambda p: bench.proc_status_field(p, "voluntary_ctxt_switches"))
        time.sleep(args.idle_seconds)
        res["idle_seconds"] = args.idle_seconds
        res["idle_ticks"] = proc_sum(pids, bench.proc_cpu_ticks) - c0
        res["idle_wakeups"] = proc_sum(
            pids, lambda p: bench.proc_status_field(p, "voluntary_ctxt_switches")) - v0
        lat = []
        for i in range(args.peer_status_runs):
            argv = s.status_argv(s.names[(i * 7919) % n])
            a = now_ns()
            r = s.run_cli(argv)
            lat.append(now_ns() - a)
            if r.returncode != 0 or not r.stdout:
                raise RuntimeError(f"{argv[0]} status failed ({r.returncode}): "
                                   f"{(r.stderr or r.stdout).decode()[-200:]}")
        res["status_ns"] = median(lat)
    # Stop: the CLI issued -> every probe has exited.
    probes = pidfds([pid for _, pid in read_starts(s.starts)])
    a = now_ns()
    for argv in s.stop_argvs():
        r = s.run_cli(argv)
        if r.returncode != 0:
            raise RuntimeError(f"{argv[0]} stop failed ({r.returncode}): "
                               f"{(r.stderr or r.stdout).decode()[-200:]}")
    cli = now_ns()
    wait_exits(probes, 60)
    res["stop_s"] = (now_ns() - a) / 1e9
    res["stop_cli_s"] = (cli - a) / 1e9
    finish(s)
    return res


STEPS = {"peer-crash": step_crash, "peer-throughput": step_throughput,
         "peer-scale": step_scale}


# -- installing the peers ----------------------------------------------------

def versions():
    """{package: version} of the peers dpkg has installed."""
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\t"
                            "${Version}\n", *PEERS], capture_output=True, text=True)
    except FileNotFoundError:
        return {}
    out = {}
    for line in r.stdout.splitlines():
        f = line.split("\t")
        if len(f) == 3 and f[1].startswith("ii"):
            out[f[0]] = f[2]
    return out


def usable(peer):
    return all(shutil.which(b) for b in PEER_BINARIES[peer])


def install(missing):
    """apt-get install the missing peers, no daemon started: policy-rc.d
    (exit 101) for the install if there is none, no Recommends (runit's is
    runit-run, which makes runit the init). Returns None or why not."""
    if os.geteuid() != 0:
        return "needs root to install"
    if not shutil.which("apt-get"):
        return "no apt-get"
    policy = Path("/usr/sbin/policy-rc.d")
    made = not os.path.lexists(policy)
    if made:
        policy.write_text("#!/bin/sh\n# tests/bench --peers: no daemon starts while it installs\n"
                          "exit 101\n")
        policy.chmod(0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    try:
        r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if r.returncode != 0:  # a fresh machine may have no package lists yet
            subprocess.run(["apt-get", "update"], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True)
            r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True)
    finally:
        if made:
            policy.unlink()
    if r.returncode != 0:
        return f"apt-get install failed: {(r.stderr or r.stdout).strip()[-200:]}"
    return None


def prepare(args):
    """{peer: version} for the peers that can run, {peer: why} for the rest;
    installs the missing ones unless --no-install."""
    have = versions()
    missing = [p for p in PEERS if p not in have or not usable(p)]
    why = None
    if missing and not args.no_install:
        why = install(missing)
        have = versions()
    ready, absent = {}, {}
    for p in PEERS:
        if p in have and usable(p):
            ready[p] = have[p]
        else:
            absent[p] = "not installed" + (f" ({why})" if why else "")
    return ready, absent


# -- outer: the rounds and the table ------------------------------------------

def run(args, sizes, run_inner):
    ready, absent = prepare(args)
    whats = ["tendd", *ready]
    big = sizes[0]
    small = min(100, big)
    plan = [("crash", "peer-crash", ()), ("throughput", "peer-throughput", ()),
            (f"scale-{big}", "peer-scale", ("--n", str(big)))]
    if small != big:
        plan.append((f"scale-{small}", "peer-scale", ("--n", str(small))))
    res = {"versions": ready, "absent": absent, "big": big, "small": small}
    for key, step, extra in plan:
        runs = {w: [] for w in whats}
        for i in range(args.rounds):
            # idle and status once (the first round), as bench.py's full step
            full = ("--full",) if key == f"scale-{small}" and i == 0 else ()
            for w in whats:
                runs[w].append(run_inner(args, step, *extra, *full, "--what", w))
        res[key] = {w: bench.median_of(r) for w, r in runs.items()}
    return res


def fmt_rate(v):
    return f"{v:.1f} /s" if v < 10 else f"{v:.0f} /s"


def fmt_kib(v):
    return f"{v / 1024:.2f} MiB"


def table(args, res):
    big, small = res["big"], res["small"]
    idle = f"{args.idle_seconds:g}"
    count = lambda v: f"{v:.0f}"  # noqa: E731
    rows = [  # (label, result key, field, format, lower is better; None: not a measure)
        ("crash -> new instance running: median", "crash", "median_ns", bench.fmt_ms, True),
        ("crash -> new instance running: p95", "crash", "p95_ns", bench.fmt_ms, True),
        ("crash -> new instance running: crashes", "crash", "n", count, None),
        ("restart throughput (crash loop)", "throughput", "per_second", fmt_rate, False),
        (f"{big} services: start all", f"scale-{big}", "start_s", bench.fmt_s, True),
        (f"{big} services: start all: first probe after", f"scale-{big}", "first_s",
         bench.fmt_s, True),
        (f"{big} services: supervisor Pss", f"scale-{big}", "pss_kib", fmt_kib, True),
        (f"{big} services: supervisor processes", f"scale-{big}", "procs", count, None),
        (f"{big} services: stop all (CLI -> probes exited)", f"scale-{big}", "stop_s",
         bench.fmt_s, True),
    ]
    if small != big:
        rows += [
            (f"{small} services: start all", f"scale-{small}", "start_s", bench.fmt_s, True),
            (f"{small} services: supervisor Pss", f"scale-{small}", "pss_kib", fmt_kib, True),
        ]
    rows += [
        (f"{small} services idle {idle} s: CPU ticks", f"scale-{small}", "idle_ticks",
         count, True),
        (f"{small} services idle {idle} s: wakeups", f"scale-{small}", "idle_wakeups",
         count, True),
        ("one service's status via the CLI: median", f"scale-{small}", "status_ns",
         bench.fmt_ms, True),
    ]
    if small != big:
        rows.append((f"{small} services: stop all (CLI -> probes exited)", f"scale-{small}",
                     "stop_s", bench.fmt_s, True))
    head = ("measure", *SUPERVISORS, "best peer (tend / it)", "best")
    out = []
    for label, key, field, fmt, lower in rows:
        cells, vals = [], {}
        for w in SUPERVISORS:
            if w in res["absent"]:
                cells.append(res["absent"][w].split(" (")[0])
                continue
            r = res[key].get(w, {})
            if "error" in r or "skipped" in r:
                cells.append("error" if "error" in r else "not run")
                continue
            v = r.get(field)
            if v is None:
                cells.append("-")
                continue
            vals[w] = v
            cells.append(fmt(v))
        if lower is None:  # a count, not a measure
            out.append((label, *cells, "", ""))
            continue
        pick = min if lower else max
        peers = {w: v for w, v in vals.items() if w != "tendd"}
        bp = pick(peers, key=peers.get) if peers else None
        best = pick(vals, key=vals.get) if vals else None
        if bp and "tendd" in vals and peers[bp] and vals["tendd"]:
            ratio = vals["tendd"] / peers[bp]
            bp_txt = f"{bp} ({ratio:.2f}x)"
        else:
            bp_txt = bp or "-"
        if best and sum(1 for v in vals.values() if v == vals[best]) > 1:
            best = "tie: " + ", ".join(w for w, v in vals.items() if v == vals[best])
        out.append((label, *cells, bp_txt, best or "-"))
    w = [max(len(str(r[i])) for r in out + [head]) for i in range(len(head))]
    line = "  ".join(f"{{:<{x}}}" for x in w)
    print()
    print("tend and its peers, each step round-robin over them, "
          f"{args.rounds} round{'s' if args.rounds != 1 else ''}, medians")
    print("versions: " + ", ".join([f"{p} {v}" for p, v in res["versions"].items()]
                                   + [f"{p} {why}" for p, why in res["absent"].items()]))
    print(line.format(*head).rstrip())
    print("  ".join("-" * x for x in w))
    for r in out:
        print(line.format(*r).rstrip())
    errors = [(k, wh, r["error"]) for k, v in res.items() if isinstance(v, dict)
              for wh, r in v.items() if isinstance(r, dict) and "error" in r]
    for k, wh, e in errors:
        print(f"error: {k}, {wh}: {e}")
    return 1 if errors else 0
