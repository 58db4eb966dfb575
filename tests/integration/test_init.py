"""tendd as a container's init: PID 1 of its own pid namespace (reaping every
orphan, stopping on TERM and QUIT sent from inside), exit_with /
--exit-with, and --console.

The Init harness runs
    unshare --pid --fork --mount-proc --kill-child -- tendd -c tend.ini ARGS
so tendd itself is PID 1 (the Tend fixture puts nsinit there). Teardown is
Tend's: SIGTERM, then SIGKILL through a pidfd of tendd, whose end takes the
namespace down with it.
"""

import os
import select
import signal
import subprocess
import time

import pytest

from conftest import (PR_SET_PDEATHSIG, TENDD, Tend, _children, _comm, _libc, _tend,
                      wait_for)

# Writes FILE when told to stop; says it is ready (ready_fd = 3) only once the
# trap is set, so a stop can never come before it.
def trapping(path):
    return (f"sh -c 'trap \"echo stopped > {path}; exit 0\" TERM; echo >&3; "
            f"sleep 1000 & wait'")


class Init(Tend):
    """A Tend whose tendd is PID 1 of a new pid namespace."""

    def start(self, wait=True, args=(), stdout=None):
        """wait=False: return as soon as tendd runs, or once it exited (a test
        that only waits for its exit status)."""
        assert self.proc is None
        cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--",
               str(self.tendd), "-c", str(self.config), *args]
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else self.logf,
            stderr=self.logf, start_new_session=True,
            preexec_fn=lambda: _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0))

        def tendd():
            if self.proc.poll() is not None:
                return "exited"
            kids = [c for c in _children(self.proc.pid) if _comm(c) == "tendd"]
            return kids[0] if kids else None
        found = wait_for(tendd, what="tendd as PID 1")
        if found == "exited":
            assert not wait, f"tendd exited with {self.proc.returncode}:\n{self.read_log()}"
            return self
        self.tendd_pid = found
        try:
            self.tendd_pidfd = os.pidfd_open(self.tendd_pid)
        except ProcessLookupError:
            assert not wait, f"tendd exited:\n{self.read_log()}"
            return self
        # nsenter's target and what teardown kills: tendd is the namespace's init.
        self.nsinit_pid = self.tendd_pid
        self.nsinit_pidfd = os.pidfd_open(self.tendd_pid)
        if wait:
            self.ns_inode = wait_for(self._ns_of_nsinit, what="pid namespace")
            assert self.proc_in_ns(1)["hostpid"] == self.tendd_pid
            self.wait_ready()
        return self

    def proc_in_ns(self, nspid):
        return next((p for p in self.ns_procs() if p["pid"] == nspid), None)

    def signal_from_inside(self, sig):
        """As a process of the container would: PID 1 ignores what it does not handle."""
        r = self.in_ns("kill", "-s", str(int(sig)), "1")
        assert r.returncode == 0, r.stderr


@pytest.fixture
def init(tmp_path, request):
    yield from _tend(tmp_path, request, harness=Init)


ORPHANS = """\
import os, sys
r, w = os.pipe()
for _ in range(int(sys.argv[1])):
    if os.fork() == 0:
        os.close(w)
        os.setsid()           # out of the service's group: not killed with it
        os.read(r, 1)         # EOF once the parent is gone: they exit as orphans
        os._exit(0)
os._exit(7)
"""


def test_pid1_reaps_1000_orphans_and_keeps_exit_status(init):
    script = init.dir / "orphans.py"
    script.write_text(ORPHANS)
    init.service("spawner", exec=f"/usr/bin/python3 {script} 1000", restart="never")
    init.start()
    s = init.wait_state("spawner", "failed", timeout=60)
    assert s["exit_code"] == 7 and s["exit_signal"] is None, s

    def only_tendd_left():
        procs = init.ns_procs()
        return [p["pid"] for p in procs] == [1] and procs
    procs = wait_for(only_tendd_left, timeout=60, what="every orphan reaped")
    assert procs[0]["state"] != "Z"
    assert init.svc("spawner")["exit_code"] == 7
    assert init.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGQUIT, signal.SIGINT])
def test_pid1_stops_everything_on_signal_and_exits_0(init, sig):
    for name in ("a", "b"):
        init.service(name, exec=trapping(init.dir / f"{name}.stopped"), ready_fd=3)
    init.start()
    init.wait_state("a", "running")
    init.wait_state("b", "running")
    init.signal_from_inside(sig)
    assert init.wait_exit() == 0
    for name in ("a", "b"):
        assert (init.dir / f"{name}.stopped").read_text() == "stopped\n"
    assert "all services stopped, exiting" in init.read_log()


def test_exit_with_code_after_stopping_the_others(init):
    init.write_config("exit_with = app\n")
    init.service("other", exec=trapping(init.dir / "other.stopped"), ready_fd=3)
    init.service("app", exec="sh -c 'exit 3'", restart="never", after="other")
    init.start(wait=False)
    assert init.wait_exit() == 3
    assert (init.dir / "other.stopped").read_text() == "stopped\n"
    log = init.read_log()
    assert "app: exit_with service ended (exited with code 3)" in log
    assert "all services stopped, exiting" in log


def test_exit_with_killed_by_signal_is_128_plus_n(init):
    init.write_config("exit_with = app\n")
    init.service("app", exec="sleep 1000", restart="never")
    init.service("other", exec="sleep 1000")
    init.start()
    s = init.wait_running("app")
    init.wait_running("other")
    fd = init.pidfd(s["pid"])
    try:
        signal.pidfd_send_signal(fd, signal.SIGKILL)
    finally:
        os.close(fd)
    assert init.wait_exit() == 128 + signal.SIGKILL


def test_exit_with_option_overrides_the_key(init):
    init.write_config("exit_with = forever\n")
    init.service("forever", exec="sleep 1000")
    init.service("job", exec="sh -c 'exit 5'", restart="never", after="forever")
    init.start(wait=False, args=("--exit-with", "job"))
    assert init.wait_exit() == 5


def test_exit_with_is_not_ended_by_an_operator_stop_or_a_restart(init):
    init.write_config("exit_with = app\n")
    init.service("app", exec="sleep 1000", restart="always")
    init.start()
    first = init.wait_running("app")
    init.ctl("restart", "app", check=0)
    init.wait_running("app", not_pid=first["pid"])
    init.ctl("stop", "app", check=0)
    assert init.state("app") == "stopped"
    init.ctl("status", check=0)  # tendd still answers
    assert init.tendd_alive()
    assert init.stop() == 0


def test_exit_with_restarted_service_does_not_end_tendd_until_it_gives_up(init):
    init.write_config("exit_with = app\n")
    init.service("app", exec="sh -c 'exit 4'", restart="on-failure", restart_delay="0",
                 start_limit_burst=3, start_limit_interval="1min")
    init.start(wait=False)
    assert init.wait_exit() == 4
    log = init.read_log()
    assert "start limit hit" in log and log.count("exited with code 4") >= 3


def test_exit_with_that_cannot_start_exits_1(init):
    init.write_config("exit_with = app\n")
    init.service("app", exec=str(init.dir / "no-such-program"), restart="never")
    init.start(wait=False)
    assert init.wait_exit() == 1


def test_bad_exit_with_is_a_config_error(tend):
    tend.write_config("exit_with = nope\n")
    tend.service("app", exec="sleep 1000")
    r = subprocess.run([str(TENDD), "--check", "-c", str(tend.config)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert f"{tend.config}:5: exit_with: no service 'nope'" in r.stderr, r.stderr
    tend.write_config("exit_with = bad/name\n")
    r = subprocess.run([str(TENDD), "--check", "-c", str(tend.config)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert f"{tend.config}:5: exit_with: invalid service name 'bad/name'" in r.stderr, r.stderr
    tend.write_config()
    r = subprocess.run([str(TENDD), "--check", "--exit-with", "nope", "-c", str(tend.config)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "--exit-with: no service 'nope'" in r.stderr, r.stderr


def test_reload_to_a_bad_exit_with_is_rejected(tend):
    tend.write_config("exit_with = app\n")
    tend.service("app", exec="sleep 1000")
    tend.start()
    tend.wait_running("app")
    tend.write_config("exit_with = gone\n")
    r = tend.ctl("reload", check=1)
    assert "exit_with: no service 'gone'" in r.stdout + r.stderr


def read_until(pipe, text, timeout=10):
    """Read a pipe until text appeared; return what was read."""
    got = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in got:
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} never appeared; got {got!r}"
        r, _, _ = select.select([pipe], [], [], left)
        if r:
            chunk = os.read(pipe.fileno(), 65536)
            assert chunk, f"EOF before {text!r}; got {got!r}"
            got += chunk
    return got.decode(errors="replace")


def read_until_eof(pipe, timeout=10):
    got = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no EOF; got {got!r}"
        r, _, _ = select.select([pipe], [], [], left)
        if r:
            chunk = os.read(pipe.fileno(), 65536)
            if not chunk:
                return got.decode(errors="replace")
            got += chunk


def test_console_option_prefixes_service_lines(tend):
    out = tend.dir / "stdout"
    tend.service("hello", exec="sh -c 'echo hi there; echo again'", restart="never")
    with open(out, "wb") as f:
        tend.start(args=("--console",), stdout=f)
    text = wait_for(lambda: "hello: again\n" in out.read_text() and out.read_text(),
                    what="the service's lines on stdout")
    assert "hello: hi there\nhello: again\n" in text
    assert not (tend.log_dir / "hello.log").exists()


def test_pid1_on_a_pipe_defaults_to_the_console(init):
    init.service("hello", exec="sh -c 'echo from hello; exec sleep 1000'")
    init.service("quiet", exec="sh -c 'echo to the file; exec sleep 1000'", output="file")
    r, w = os.pipe()
    with os.fdopen(r, "rb", buffering=0) as pipe:
        try:
            init.start(stdout=w)
        finally:
            os.close(w)
        assert "hello: from hello\n" in read_until(pipe, "hello: from hello\n")
        wait_for(lambda: (init.log_dir / "quiet.log").exists()
                 and "to the file" in (init.log_dir / "quiet.log").read_text(),
                 what="quiet's own output = file")
        assert init.stop() == 0
        rest = read_until_eof(pipe)
    assert "quiet" not in rest
