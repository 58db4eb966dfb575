"""Integration test harness: a real tendd in a private pid namespace per test.

tendd runs as
    unshare --pid --fork --mount-proc --kill-child -- nsinit -r REPORT tendd -c tend.ini
with tend.ini, services.d/, the control socket and log_dir inside the test's
tmp_path. nsinit is PID 1 of the namespace: when tendd exits, nsinit writes
REPORT (the processes still alive in the namespace) and exits with tendd's
status, which tears the namespace down. Teardown always kills nsinit through
a pidfd, so no process outlives a test.

Tests wait on events (a state reached, a file appearing) with wait_for(), a
poll loop with a deadline; never on a fixed sleep.
"""

import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _build_dir():
    d = Path(os.environ.get("TEND_BUILD_DIR", "build-test"))
    return d if d.is_absolute() else REPO / d


BUILD = _build_dir()
TENDD = BUILD / "tendd"
TENDCTL = BUILD / "tendctl"
NSINIT = BUILD / "tests" / "nsinit"
PROBE = BUILD / "tests" / "probe"
SETPID = BUILD / "tests" / "setpid"

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1

STATES = {"stopped", "starting", "running", "stopping", "backoff", "failed"}

# Sanitizer reports in a log or a tool's stderr fail the test.
SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined)")


def pytest_configure(config):
    for p in (TENDD, TENDCTL, NSINIT, PROBE, SETPID):
        if not p.exists():
            raise pytest.UsageError(
                f"{p} is missing: build first (tests/run does), or set TEND_BUILD_DIR")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def wait_for(pred, timeout=10.0, interval=0.015, what=None):
    """Poll pred() until it returns something truthy; return that value.
    Raises AssertionError naming what (or pred) after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or getattr(pred, '__name__', pred)}")
        time.sleep(interval)


def _children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


def proc_status(pid):
    """Fields of /proc/PID/status as a dict of strings, or None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return {k: v.strip() for k, _, v in (l.partition(":") for l in f)}
    except (FileNotFoundError, ProcessLookupError):
        return None


def _proc_kb(path, field):
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in {path}")


def pss_kb(pid):
    """Proportional set size of a process, in kB."""
    return _proc_kb(f"/proc/{pid}/smaps_rollup", "Pss")


def anon_kb(pid):
    """Anonymous memory of a process (heap, anonymous maps, written library
    pages), in kB: what it allocated itself, whatever else maps its libraries."""
    return _proc_kb(f"/proc/{pid}/smaps_rollup", "Anonymous")


def rss_kb(pid):
    """Resident set size of a process, in kB."""
    return _proc_kb(f"/proc/{pid}/status", "VmRSS")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def sigset_from_mask(hexmask):
    m = int(hexmask, 16)
    return {i + 1 for i in range(64) if m >> i & 1}


def status_service(tend, name, text):
    """A notify service NAME that sends READY=1 with STATUS=text (any
    characters), then sleeps."""
    script = tend.dir / f"{name}-status.py"
    script.write_text("import os, socket, time\n"
                      "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                      f"s.sendto(('READY=1\\nSTATUS=' + {text!r}).encode(), "
                      "os.environ['NOTIFY_SOCKET'])\n"
                      "time.sleep(1000)\n")
    tend.service(name, type="notify", exec=f"/usr/bin/python3 {script}")


def read_pty(fd):
    """Everything written to the pty whose master is fd until the other side
    closes it; fd is closed."""
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(fd)
    return out


def pidfd_alive(pidfd):
    """A pidfd polls readable once its process has exited."""
    r, _, _ = select.select([pidfd], [], [], 0)
    return not r


def parse_kv(path):
    """Read a probe output file: key=value lines into a dict."""
    d = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep:
                d[k] = v
    return d


def probe_env(kv):
    def unescape(s):
        return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), s)
    return {k[4:]: unescape(v) for k, v in kv.items() if k.startswith("env.")}


def int_list(s):
    return [int(x) for x in s.split(",") if x]


# -- A minimal D-Bus client, for clients that misbehave on purpose ----------

class _Wire:
    def __init__(self):
        self.b = bytearray()

    def pad(self, n):
        while len(self.b) % n:
            self.b.append(0)

    def byte(self, v):
        self.b.append(v)

    def u32(self, v):
        self.pad(4)
        self.b += struct.pack("<I", v)

    def i32(self, v):
        self.pad(4)
        self.b += struct.pack("<i", v)

    def string(self, s):
        s = s.encode()
        self.u32(len(s))
        self.b += s + b"\0"

    def sig(self, s):
        s = s.encode()
        self.b.append(len(s))
        self.b += s + b"\0"


def dbus_auth(uid=None):
    """The SASL EXTERNAL handshake, pipelined, as the first bytes on a connection."""
    uid = os.getuid() if uid is None else uid
    return b"\0AUTH EXTERNAL " + str(uid).encode().hex().encode() + b"\r\nBEGIN\r\n"


def dbus_call(serial, member, signature="", args=(), no_reply=False,
              path="/org/tend/Manager", interface="org.tend.Manager1"):
    """Marshal one method call (little endian); args are strings ('s'), ints
    ('i'), uint64s ('t') or lists of strings ('as')."""
    body = _Wire()
    types = re.findall(r"as|[sit]", signature)
    assert "".join(types) == signature, signature
    for t, a in zip(types, args):
        if t == "s":
            body.string(a)
        elif t == "i":
            body.i32(a)
        elif t == "t":
            body.pad(8)
            body.b += struct.pack("<Q", a)
        else:
            elems = _Wire()
            for x in a:
                elems.string(x)
            body.u32(len(elems.b))
            body.b += elems.b
    w = _Wire()
    w.b += b"l" + bytes([1, 1 if no_reply else 0, 1])
    w.u32(len(body.b))
    w.u32(serial)
    w.u32(0)  # header field array length, patched below
    start = len(w.b)
    fields = [(1, "o", path), (2, "s", interface), (3, "s", member)]
    if signature:
        fields.append((8, "g", signature))
    for code, t, v in fields:
        w.pad(8)
        w.byte(code)
        w.sig(t)
        if t == "g":
            w.sig(v)
        else:
            w.string(v)
    struct.pack_into("<I", w.b, 12, len(w.b) - start)
    w.pad(8)
    return bytes(w.b + body.b)


# -- The harness ------------------------------------------------------------

class Tend:
    def __init__(self, tmp_path, build=None):
        self.build = BUILD if build is None else Path(build)
        self.tendd = self.build / "tendd"
        self.tendctl = self.build / "tendctl"
        self.dir = Path(tmp_path)
        self.services_dir = self.dir / "services.d"
        self.services_dir.mkdir(exist_ok=True)
        self.config = self.dir / "tend.ini"
        self.socket = self.dir / "tend.sock"
        self.log_dir = self.dir / "log"
        self.log = self.dir / "tendd.log"
        self.report_path = self.dir / "nsinit.report"
        self.proc = None
        self.nsinit_pid = None
        self.nsinit_pidfd = None
        self.tendd_pid = None
        self.tendd_pidfd = None
        self.ns_inode = None
        self.aux = []
        self.tempdirs = []
        self.history = []
        self.write_config()

    # configuration
    def write_config(self, extra=""):
        self.config.write_text(
            "[tend]\n"
            "services = services.d\n"
            f"socket = {self.socket}\n"
            f"log_dir = {self.log_dir}\n" + extra)

    def service(self, name, text=None, **keys):
        """Write services.d/NAME.ini, from raw text or key=value pairs (a list
        value repeats the key). Returns the path."""
        if text is None:
            lines = ["[service]"]
            for k, v in keys.items():
                for one in v if isinstance(v, (list, tuple)) else [v]:
                    lines.append(f"{k} = {one}")
            text = "\n".join(lines) + "\n"
        p = self.services_dir / f"{name}.ini"
        p.write_text(text)
        return p

    def remove_service(self, name):
        (self.services_dir / f"{name}.ini").unlink()

    def world_dir(self):
        """A fresh directory anyone may write (for services run as nobody)."""
        d = tempfile.mkdtemp(prefix="tend-test-")
        os.chmod(d, 0o777)
        self.tempdirs.append(d)
        return Path(d)

    def open_socket_dir(self, extra=""):
        """The control socket in a directory everyone may enter (for clients
        run as other users); tend.ini written again with extra."""
        d = self.world_dir()
        os.chmod(d, 0o755)
        self.socket = d / "tend.sock"
        self.write_config(extra)

    # lifecycle
    def start(self, wait=True, env=None, preexec_fn=None, wrapper=(), pass_fds=(),
              stdout=None, args=()):
        """Start tendd in a new pid namespace. env entries are added to (or, with
        value None, removed from) the inherited environment."""
        assert self.proc is None
        e = dict(os.environ)
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--",
               str(NSINIT), "-r", str(self.report_path), *wrapper,
               str(self.tendd), "-c", str(self.config), *args]
        self.logf = open(self.log, "ab")

        def preexec():
            # If pytest itself is killed, unshare dies too (and with --kill-child
            # takes the namespace down).
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if preexec_fn:
                preexec_fn()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else self.logf,
            stderr=self.logf, env=e, preexec_fn=preexec, pass_fds=pass_fds,
            start_new_session=True)
        self.nsinit_pid = wait_for(lambda: (_children(self.proc.pid) or [None])[0]
                                   or self._check_alive(), timeout=10, what="nsinit")
        self.nsinit_pidfd = os.pidfd_open(self.nsinit_pid)
        self.ns_inode = wait_for(self._ns_of_nsinit, timeout=10, what="pid namespace")
        if not wait:
            # tendd may exit at once (a bad config): that is for the test to see.
            found = wait_for(lambda: self._find_tendd() or self.proc.poll() is not None,
                             timeout=10, what="tendd process or its exit")
            if found is True:
                return self
        self.tendd_pid = wait_for(lambda: self._find_tendd() or self._check_alive(),
                                  timeout=10, what="tendd process")
        self.tendd_pidfd = os.pidfd_open(self.tendd_pid)
        if wait:
            self.wait_ready()
        return self

    def _ns_of_nsinit(self):
        try:
            own = os.readlink("/proc/self/ns/pid")
            ns = os.readlink(f"/proc/{self.nsinit_pid}/ns/pid")
        except FileNotFoundError:
            return None
        return ns if ns != own else None

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(
                f"tendd exited with {self.proc.returncode}; log:\n{self.read_log()}")
        return None

    def _find_tendd(self):
        todo = [self.nsinit_pid]
        while todo:
            nxt = []
            for p in todo:
                for c in _children(p):
                    if _comm(c) == "tendd":
                        return c
                    nxt.append(c)
            todo = nxt
        return None

    def wait_ready(self, timeout=15):
        def ready():
            self._check_alive()
            if not self.socket.exists():
                return False
            r = self.ctl("status", "--json")
            return r.returncode == 0
        wait_for(ready, timeout=timeout, what="tendd control socket")

    def tendd_alive(self):
        return self.tendd_pidfd is not None and pidfd_alive(self.tendd_pidfd)

    def signal_tendd(self, sig):
        signal.pidfd_send_signal(self.tendd_pidfd, sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signal tendd and wait for the namespace to end; returns tendd's exit
        status (as nsinit and unshare pass it on)."""
        if self.proc.poll() is None and self.tendd_alive():
            self.signal_tendd(sig)
        return self.proc.wait(timeout=timeout)

    def wait_exit(self, timeout=30):
        return self.proc.wait(timeout=timeout)

    def report(self):
        """nsinit's report after tendd exited: (survivor count, lines)."""
        text = wait_for(lambda: self.report_path.exists() and self.report_path.read_text(),
                        timeout=5, what="nsinit report")
        kv = dict(l.split("=", 1) for l in text.splitlines() if l.startswith(("survivors", "waited")))
        lines = [l for l in text.splitlines() if l.startswith("pid=")]
        return int(kv["survivors"]), lines

    def read_log(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def close(self):
        """Tear everything down: tendd gets SIGTERM and a few seconds, then the
        namespace is killed through nsinit's pidfd. Returns a list of problems."""
        problems = []
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    if self.tendd_alive():
                        self.signal_tendd(signal.SIGTERM)
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    problems.append("tendd did not exit within 15s of SIGTERM")
                except ProcessLookupError:
                    pass
            if self.nsinit_pidfd is not None and pidfd_alive(self.nsinit_pidfd):
                signal.pidfd_send_signal(self.nsinit_pidfd, signal.SIGKILL)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=10)
            self.logf.close()
        for p in self.aux:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
        for fd in (self.nsinit_pidfd, self.tendd_pidfd):
            if fd is not None:
                os.close(fd)
        self.nsinit_pidfd = self.tendd_pidfd = None
        for d in self.tempdirs:
            shutil.rmtree(d, ignore_errors=True)
        m = SANITIZER_RE.search(self.read_log())
        if m:
            problems.append("sanitizer report in tendd's log")
        return problems

    # tendctl
    def in_ns_prefix(self, user=None):
        """nsenter into tendd's pid and mount namespaces (optionally as uid:gid)."""
        cmd = ["nsenter", "-t", str(self.nsinit_pid), "-p", "-m"]
        if user is not None:
            cmd += ["-S", str(user[0]), "-G", str(user[1])]
        return cmd + ["--"]

    def ctl(self, *args, check=None, timeout=30, env=None, socket_path=None, outside=False,
            user=None):
        """Run tendctl -s SOCKET ARGS, inside tendd's namespaces where a user
        would run it (outside=True: from the test's own namespace); check=N
        asserts the exit code; user=(uid, gid) runs it as that user."""
        e = dict(os.environ)
        e.update(env or {})
        sock = self.socket if socket_path is None else socket_path
        cmd = [str(self.tendctl)] + (["-s", str(sock)] if sock else []) + [str(a) for a in args]
        shown = " ".join(cmd[3:] if sock else cmd[1:])
        if self.nsinit_pid is not None and not outside:
            cmd = self.in_ns_prefix(user) + cmd
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, env=e)
        self.history.append((shown, r.returncode, r.stdout, r.stderr))
        assert not SANITIZER_RE.search(r.stderr), f"sanitizer report from tendctl:\n{r.stderr}"
        if check is not None:
            assert r.returncode == check, (
                f"tendctl {shown}: exit {r.returncode}, expected {check}\n"
                f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def status(self):
        r = self.ctl("status", "--json", check=0)
        data = json.loads(r.stdout)
        assert isinstance(data, list), r.stdout
        return data

    def svc(self, name):
        for s in self.status():
            if s["name"] == name:
                return s
        return None

    def state(self, name):
        s = self.svc(name)
        return s and s["state"]

    def wait_state(self, name, state, timeout=10):
        states = {state} if isinstance(state, str) else set(state)

        def check():
            s = self.svc(name)
            return s if s and s["state"] in states else None
        try:
            return wait_for(check, timeout=timeout)
        except AssertionError:
            raise AssertionError(f"{name} never reached {states}; last: {self.svc(name)}")

    def wait_running(self, name, not_pid=None, timeout=10):
        """Wait until name is running with a pid (other than not_pid)."""
        def check():
            s = self.svc(name)
            if s and s["state"] == "running" and s["pid"] and s["pid"] != not_pid:
                return s
            return None
        try:
            return wait_for(check, timeout=timeout)
        except AssertionError:
            raise AssertionError(f"{name} never running (not pid {not_pid}); "
                                 f"last: {self.svc(name)}")

    # the namespace
    def ns_procs(self):
        """Processes in the namespace: dicts with hostpid, pid (namespace pid),
        ppid/pgid/sid (host numbers), comm, state, cmdline."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{d}/ns/pid") != self.ns_inode:
                    continue
                st = proc_status(d)
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmdline = f.read().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            if st is None:
                continue
            rest = stat[stat.rindex(")") + 2:].split()
            out.append({
                "hostpid": int(d),
                "pid": int(st["NSpid"].split()[-1]),
                "state": rest[0],
                "ppid": int(rest[1]),
                "pgid": int(rest[2]),
                "sid": int(rest[3]),
                "comm": st["Name"],
                "cmdline": cmdline,
            })
        return out

    def live_ns_procs(self):
        return [p for p in self.ns_procs() if p["state"] not in ("Z", "X")]

    def keepers(self):
        """The keeper processes (tend-keeper) in the namespace."""
        return [p for p in self.live_ns_procs() if p["cmdline"].endswith(" --keeper")]

    def host_pid(self, nspid):
        for p in self.ns_procs():
            if p["pid"] == nspid:
                return p["hostpid"]
        return None

    def pidfd(self, nspid):
        """A pidfd (host side) for a namespace pid; caller closes it."""
        hp = self.host_pid(nspid)
        assert hp is not None, f"no process {nspid} in the namespace"
        fd = os.pidfd_open(hp)
        # Make sure the number was not recycled between lookup and open.
        st = proc_status(hp)
        assert st and int(st["NSpid"].split()[-1]) == nspid
        return fd

    def kill(self, nspid, sig):
        """Signal a namespace pid from inside the namespace."""
        r = self.in_ns("kill", "-s", str(int(sig)), str(nspid))
        assert r.returncode == 0, r.stderr

    def in_ns(self, *cmd, timeout=30, **kw):
        """Run a command inside the namespace (pid and mount)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(["nsenter", "-t", str(self.nsinit_pid), "-p", "-m", "--",
                               *map(str, cmd)], timeout=timeout, **kw)

    def popen_in_ns(self, *cmd, **kw):
        """Start a long-running command in the namespace; killed at teardown."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(["nsenter", "-t", str(self.nsinit_pid), "-p", "-m", "--",
                              *map(str, cmd)], **kw)
        self.aux.append(p)
        return p

    def connect(self, outside=False):
        """A raw connection to the control socket. By default it is connected
        from inside tendd's pid namespace (a helper connects and hands the fd
        back), so the daemon sees a peer pid as for any local client."""
        if outside:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(self.socket))
            return s
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        code = ("import socket, sys\n"
                "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                "s.connect(sys.argv[1])\n"
                f"socket.send_fds(socket.socket(fileno={b.fileno()}), [b'x'], [s.fileno()])\n")
        with a, b:
            r = subprocess.run(self.in_ns_prefix() + ["/usr/bin/python3", "-c", code,
                                                      str(self.socket)],
                               pass_fds=(b.fileno(),), capture_output=True, text=True,
                               timeout=30)
            assert r.returncode == 0, r.stderr
            _, fds, _, _ = socket.recv_fds(a, 16, 1)
        return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=fds[0])


def _tend(tmp_path, request, build=None, harness=None):
    t = (harness or Tend)(tmp_path, build)
    yield t
    problems = t.close()
    failed = getattr(request.node, "rep_call", None)
    if (failed is not None and failed.failed) or problems:
        print(f"---- tendd log ({t.log}) ----")
        print(t.read_log()[-20000:])
        print("---- tendctl calls ----")
        for shown, rc, out, err in t.history[-15:]:
            print(f"$ tendctl {shown} -> {rc}\n{out}{err}")
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def tend(tmp_path, request):
    yield from _tend(tmp_path, request)


@pytest.fixture
def tend_release(tmp_path, request):
    """tendd of an optimized build without sanitizers, for the tests that
    measure memory or hold a load for a while ($TEND_RELEASE_BUILD_DIR,
    which tests/run builds; skipped without it)."""
    d = os.environ.get("TEND_RELEASE_BUILD_DIR")
    if not d:
        pytest.skip("TEND_RELEASE_BUILD_DIR is not set")
    d = Path(d) if Path(d).is_absolute() else REPO / d
    yield from _tend(tmp_path, request, build=d)


@pytest.fixture
def build():
    return BUILD
