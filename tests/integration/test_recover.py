"""Services outlive a crash of tendd, and the next tendd takes them over.

tendd is killed with SIGKILL and started again in the same pid namespace:
the services still running are adopted with the same pids (no second copy)
from the pidfds the keeper held, with their output pipes (nothing they wrote
meanwhile is lost); a service that died meanwhile has its real exit status
recorded and is restarted by policy. Without the keeper (killed), tendd.state
is what is left: a pid now held by an unrelated process is refused and that
process left alone, a service's output pipe died with tendd.

nsinit (PID 1 of the test's namespace) exits when its command does, which
would tear the namespace down with tendd; here its command is a small shell
loop that runs tendd, and after tendd was killed by a signal waits for a
line on a FIFO before running it again (a clean exit ends the loop, so the
harness's teardown works as for any test)."""

import os
import re
import signal
import stat

import pytest

from conftest import BUILD, pidfd_alive, wait_for
from test_pidreuse import plant_unrelated

LOOP = ('while :; do "$@"; rc=$?; [ "$rc" -lt 128 ] && exit "$rc"; '
        'read -r _ < "$0" || exit 1; done')


class Crashable:
    def __init__(self, tend):
        self.tend = tend
        self.fifo = tend.dir / "restart.fifo"
        os.mkfifo(self.fifo)
        self.state = tend.dir / "tendd.state"

    def start(self):
        self.tend.start(wrapper=["/bin/sh", "-c", LOOP, str(self.fifo)])

    def crash(self):
        """SIGKILL tendd; returns once it is gone (the services are not)."""
        t = self.tend
        t.signal_tendd(signal.SIGKILL)
        wait_for(lambda: not t.tendd_alive(), what="tendd to die")
        os.close(t.tendd_pidfd)
        t.tendd_pidfd = None
        self.dead = t.tendd_pid

    def restart(self):
        """Let the loop start tendd again; wait until it answers."""
        t = self.tend

        def poke():
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                return False  # the loop is not reading yet
            with os.fdopen(fd, "w") as f:
                f.write("go\n")
            return True
        wait_for(poke, what="the loop to wait for its restart")
        t.tendd_pid = wait_for(lambda: (lambda p: p if p and p != self.dead else None)(
            t._find_tendd()), what="a new tendd")
        t.tendd_pidfd = os.pidfd_open(t.tendd_pid)
        t.wait_ready()


def procs_running(tend, cmdline):
    return [p for p in tend.live_ns_procs() if p["cmdline"] == cmdline]


def kill_keeper(tend):
    """SIGKILL the keeper: what it held is gone, tendd.state is what is left."""
    ks = wait_for(lambda: tend.keepers(), what="the keeper")
    assert len(ks) == 1, ks
    tend.kill(ks[0]["pid"], signal.SIGKILL)
    wait_for(lambda: not tend.keepers(), what="the keeper to die")


@pytest.fixture
def crashable(tend):
    return Crashable(tend)


def test_survivors_adopted_with_same_pids(tend, crashable):
    tend.service("a", exec="sleep 1001")
    tend.service("b", exec="sleep 1002", kill_mode="process")
    crashable.start()
    a = tend.wait_running("a")["pid"]
    b = tend.wait_running("b")["pid"]
    wait_for(lambda: crashable.state.exists(), what="the state file")
    st = os.stat(crashable.state)
    assert stat.S_IMODE(st.st_mode) == 0o600

    crashable.crash()
    assert len(procs_running(tend, "sleep 1001")) == 1
    crashable.restart()

    for name, pid in (("a", a), ("b", b)):
        s = tend.svc(name)
        assert s["state"] == "running" and s["pid"] == pid, s
        assert s["reason"] == f"adopted after a restart of tendd, pid {pid}", s
    # No second copy, now or a moment later (a start would have been at once).
    tend.ctl("status", check=0)
    assert len(procs_running(tend, "sleep 1001")) == 1
    assert len(procs_running(tend, "sleep 1002")) == 1

    # The adopted process is tendd's to stop, through its pidfd, and its exit
    # status is read through the pidfd although it is not tendd's child.
    tend.ctl("stop", "a", check=0)
    s = tend.wait_state("a", "stopped")
    assert s["exit_signal"] == signal.SIGTERM, s
    assert not procs_running(tend, "sleep 1001")

    # One that dies on its own is restarted by policy, with its exit recorded.
    tend.kill(b, signal.SIGKILL)
    s = tend.wait_running("b", not_pid=b)
    assert s["restarts"] == 1, s
    assert "killed by signal KILL" in tend.read_log()
    assert len(procs_running(tend, "sleep 1002")) == 1

    # A clean exit removes the file.
    assert tend.stop() == 0
    assert not crashable.state.exists()


def test_exit_while_tendd_was_down_is_recorded(tend, crashable):
    """The keeper held b's pidfd while b died: the next tendd reads b's real
    exit status through it, records it, and restarts b by policy."""
    tend.service("a", exec="sleep 1001")
    tend.service("b", exec="sh -c 'trap \"exit 7\" USR1; sleep 1002 & wait'")
    tend.service("c", exec="sleep 1003", restart="on-failure")
    crashable.start()
    a = tend.wait_running("a")["pid"]
    b = tend.wait_running("b")["pid"]
    c = tend.wait_running("c")["pid"]
    crashable.crash()
    tend.kill(b, signal.SIGUSR1)
    tend.kill(c, signal.SIGKILL)
    wait_for(lambda: not [p for p in tend.live_ns_procs() if p["pid"] in (b, c)],
             what="b and c to be gone")
    crashable.restart()

    assert tend.svc("a")["pid"] == a
    s = tend.wait_running("b", not_pid=b)
    assert s["exit_code"] == 7 and s["exit_signal"] is None, s
    assert s["restarts"] == 1, s
    s = tend.wait_running("c", not_pid=c)
    assert s["exit_signal"] == signal.SIGKILL, s
    assert s["restarts"] == 1, s
    log = tend.read_log()
    assert re.search(r"b: .*adopted after a restart of tendd: it had ended meanwhile", log)
    assert re.search(r"c: .*killed by signal KILL", log)
    assert len(procs_running(tend, "sleep 1003")) == 1


def test_service_dead_while_tendd_and_keeper_were_down_is_started_again(tend, crashable):
    tend.service("a", exec="sleep 1001")
    tend.service("b", exec="sleep 1002")
    crashable.start()
    a = tend.wait_running("a")["pid"]
    b = tend.wait_running("b")["pid"]
    wait_for(lambda: f"+ b {b} " in crashable.state.read_text(), what="b in the state file")
    crashable.crash()
    kill_keeper(tend)
    tend.kill(b, signal.SIGKILL)
    wait_for(lambda: not procs_running(tend, "sleep 1002"), what="b to be gone")
    crashable.restart()

    assert tend.svc("a")["pid"] == a
    s = tend.wait_running("b")
    assert s["pid"] != b
    assert "adopted" not in s["reason"]
    # Nobody held a pidfd for it while it died: its exit status is lost
    # (reaped by the namespace's init), and nothing claims to know it.
    assert s["exit_code"] is None and s["exit_signal"] is None, s
    assert s["restarts"] == 0, s
    assert re.search(rf"b: not taken over: pid {b}: it is gone", tend.read_log())
    assert len(procs_running(tend, "sleep 1002")) == 1


def test_reused_pid_is_refused_and_left_alone(tend, crashable):
    tend.service("a", exec="sleep 1001", restart="never")
    crashable.start()
    a = tend.wait_running("a")["pid"]
    wait_for(lambda: f"+ a {a} " in crashable.state.read_text(), what="a in the state file")
    crashable.crash()
    kill_keeper(tend)
    tend.kill(a, signal.SIGKILL)
    wait_for(lambda: not procs_running(tend, "sleep 1001"), what="a to be gone")
    fd = plant_unrelated(tend, a)  # `sleep 1000` as pid a
    try:
        crashable.restart()
        s = tend.wait_running("a")
        assert s["pid"] != a
        assert re.search(rf"a: not taken over: pid {a}: it is another process now",
                         tend.read_log())
        assert pidfd_alive(fd), "the unrelated process died"
        tend.ctl("stop", "a", check=0)
        tend.ctl("kill", "-s", "KILL", "a")
        assert pidfd_alive(fd), "the unrelated process died"
        assert tend.stop() == 0
        survivors, lines = tend.report()
        assert any(re.match(rf"pid={a} .*cmdline=sleep 1000$", l) for l in lines), lines
    finally:
        os.close(fd)


def test_forged_state_file_names_an_unrelated_process(tend, crashable):
    """The file names a live process that is not the service's (the same pid,
    another identity), one process for two services, a service not in the
    config, garbage: only the true first claim is adopted, nothing else is
    touched."""
    tend.service("a", exec="sleep 1001")
    tend.service("b", exec="sleep 1002")
    tend.service("c", exec="sleep 1003")
    crashable.start()
    a = tend.wait_running("a")["pid"]
    tend.wait_running("b")
    tend.wait_running("c")
    wait_for(lambda: f"+ a {a} " in crashable.state.read_text(), what="a in the state file")
    ino, dev, start = [l for l in crashable.state.read_text().splitlines()
                       if l.startswith(f"+ a {a} ")][0].split()[3:6]
    p = tend.popen_in_ns("sleep", "1000")
    other = wait_for(lambda: [x["pid"] for x in procs_running(tend, "sleep 1000")],
                     what="the unrelated process")[0]
    fd = tend.pidfd(other)
    try:
        crashable.crash()
        kill_keeper(tend)
        crashable.state.write_text(
            "tendd-recover 1\n"
            f"+ a {a} {ino} {dev} {start} 0 0 0 0\n"
            f"+ b {a} {ino} {dev} {start} 0 0 0 0\n"
            f"+ c {other} 1 2 3 0 0 0 0\n"
            f"+ ghost {other} 1 2 3 0 0 0 0\n"
            "garbage line\n")
        crashable.restart()
        assert tend.svc("a")["pid"] == a
        b = tend.wait_running("b")
        c = tend.wait_running("c")
        assert b["pid"] != a and c["pid"] != other
        log = tend.read_log()
        assert re.search(rf"b: not taken over: pid {a} is a's, taken over already", log)
        assert re.search(rf"c: not taken over: pid {other}: it is another process now", log)
        assert re.search(rf"names service ghost \(pid {other}\), which is not in the config",
                         log)
        assert "1 malformed line skipped" in log
        # The old b and c were not adopted: they run on, unsupervised, untouched.
        assert len(procs_running(tend, "sleep 1001")) == 1
        assert len(procs_running(tend, "sleep 1002")) == 2
        assert len(procs_running(tend, "sleep 1003")) == 2
        assert pidfd_alive(fd)
    finally:
        os.close(fd)
        p.kill()


def test_output_written_while_tendd_was_down_is_kept(tend, crashable):
    """The keeper held the read end of w's output pipe: what w wrote while
    no tendd ran waits in the pipe, and the next tendd reads it into w's log,
    every line once and in order; w never sees EPIPE."""
    feed = tend.dir / "feed.fifo"
    os.mkfifo(feed)
    # Read and write: the shell is a writer of its own FIFO, so a read never
    # meets the end of the test's writes.
    tend.service("w", exec=f"sh -c 'exec 3<>{feed}; while read -r n <&3; do "
                           f"i=0; while [ $i -lt $n ]; do i=$((i+1)); echo line $i of $n; done; "
                           f"done'")
    crashable.start()
    w = tend.wait_running("w")["pid"]
    log = tend.log_dir / "w.log"

    def lines():
        return [l.split(" ", 1)[1] for l in log.read_text().splitlines()] if log.exists() else []

    def burst(n):
        with open(feed, "w") as f:  # blocks until w opens it to read
            f.write(f"{n}\n")
    burst(100)
    wait_for(lambda: "line 100 of 100" in lines(), what="the first burst")
    crashable.crash()
    burst(500)  # about 10 KiB: the pipe holds it while no tendd reads
    crashable.restart()
    s = tend.svc("w")
    assert s["pid"] == w and s["restarts"] == 0, s
    wait_for(lambda: "line 500 of 500" in lines(), what="the burst written while tendd was down")
    assert lines() == [f"line {i} of 100" for i in range(1, 101)] + \
        [f"line {i} of 500" for i in range(1, 501)]
    assert "1 output pipe taken over" in tend.read_log()
    burst(3)
    wait_for(lambda: "line 3 of 3" in lines(), what="a line after the restart")
    assert tend.svc("w")["pid"] == w


def test_adopted_writer_dies_of_sigpipe_without_the_keeper(tend, crashable):
    """The keeper is gone too: w's stdout was a pipe to the dead tendd, and
    the next write gets SIGPIPE (EPIPE where it is ignored). tendd sees that
    exit, with its status, and restarts it by policy; the new instance has a
    pipe of its own."""
    feed = tend.dir / "feed.fifo"
    os.mkfifo(feed)
    tend.service("w", exec=f"sh -c 'echo hello; while read -r l < {feed}; do echo \"$l\"; done'",
                 restart_delay="0")
    crashable.start()
    w = tend.wait_running("w")["pid"]
    log = tend.log_dir / "w.log"
    wait_for(lambda: log.exists() and "hello" in log.read_text(), what="w's first line")
    crashable.crash()
    kill_keeper(tend)
    crashable.restart()
    assert tend.svc("w")["pid"] == w

    with open(feed, "w") as f:  # blocks until w opens it to read
        f.write("after the crash\n")
    s = tend.wait_running("w", not_pid=w)
    assert s["exit_signal"] == signal.SIGPIPE, s
    assert s["restarts"] == 1, s
    assert "killed by signal PIPE" in tend.read_log()
    with open(feed, "w") as f:
        f.write("from the new one\n")
    wait_for(lambda: "from the new one" in log.read_text(), what="the new instance's line")
    assert "after the crash" not in log.read_text()


def test_keeper_killed_while_tendd_runs_is_replaced(tend, crashable):
    """tendd starts another keeper at the next change and parks everything
    there again; a clean exit ends the keeper and removes its socket."""
    tend.service("a", exec="sleep 1001")
    tend.service("b", exec="sleep 1002")
    crashable.start()
    a = tend.wait_running("a")["pid"]
    b = tend.wait_running("b")["pid"]
    kill_keeper(tend)
    tend.kill(b, signal.SIGKILL)
    b = tend.wait_running("b", not_pid=b)["pid"]
    wait_for(lambda: "starting another" in tend.read_log(), what="a new keeper")
    assert len(wait_for(lambda: tend.keepers(), what="the new keeper")) == 1
    crashable.crash()
    crashable.restart()
    for name, pid in (("a", a), ("b", b)):
        s = tend.svc(name)
        assert s["pid"] == pid and "adopted" in s["reason"], s
    assert re.search(r"2 services and 2 output pipes taken over from the fd store",
                     tend.read_log())
    assert tend.stop() == 0
    assert not tend.keepers()
    assert not (tend.dir / "tendd.keeper").exists()


def test_not_ready_yet_is_adopted_starting(tend, crashable):
    """n (type = notify) had not sent READY=1 when tendd died, and sends it
    while no tendd runs: the notify socket was parked with the pidfds, so the
    datagram waits in it; n is adopted starting, the waiting READY=1 makes it
    running, and only then does d (after = n) start. A oneshot still running
    at the crash is adopted starting too: its dependent starts when it
    finishes, not before."""
    notifier = BUILD / "tests" / "notifier"
    go_n, go_o = tend.dir / "n.fifo", tend.dir / "o.fifo"
    os.mkfifo(go_n)
    os.mkfifo(go_o)
    tend.service("n", type="notify", exec=f"sh -c 'read -r _ < {go_n}; exec {notifier} -r 0 n'")
    tend.service("d", exec="sleep 1005", after="n")
    tend.service("o", type="oneshot", exec=f"sh -c 'read -r _ < {go_o}; exit 0'")
    tend.service("d2", exec="sleep 1006", after="o")
    crashable.start()
    n = wait_for(lambda: (lambda s: s if s["state"] == "starting" else None)(tend.svc("n")),
                 what="n starting")["pid"]
    o = wait_for(lambda: (lambda s: s if s["state"] == "starting" else None)(tend.svc("o")),
                 what="o running")["pid"]
    assert tend.state("d") == "stopped" and tend.state("d2") == "stopped"
    crashable.crash()
    with open(go_n, "w") as f:  # n sends READY=1 now, into the parked socket
        f.write("go\n")
    wait_for(lambda: not [p for p in tend.live_ns_procs() if p["pid"] == n and
                          p["cmdline"].startswith("sh ")], what="n to exec the notifier")
    crashable.restart()
    s = tend.wait_running("n")
    assert s["pid"] == n and s["reason"] == "ready", s
    assert re.search(rf"n: stopped -> starting \(adopted after a restart of tendd, pid {n}, "
                     r"waiting for READY=1\)", tend.read_log())
    tend.wait_running("d")
    s = tend.svc("o")
    assert s["state"] == "starting" and s["pid"] == o, s
    assert "waiting for it to finish" in s["reason"], s
    assert tend.state("d2") == "stopped"
    with open(go_o, "w") as f:
        f.write("go\n")
    tend.wait_running("d2")
    s = tend.svc("o")
    assert s["exit_code"] == 0 and s["restarts"] == 0, s


def test_after_a_reexec_and_a_crash(tend, crashable):
    """A re-exec keeps the file going: a crash after it is recovered from, and
    a service restarted by policy since is recorded with its new pid."""
    tend.service("a", exec="sleep 1001")
    crashable.start()
    a = tend.wait_running("a")["pid"]
    tend.ctl("reexec", check=0)
    tend.kill(a, signal.SIGKILL)
    a2 = tend.wait_running("a", not_pid=a)["pid"]
    wait_for(lambda: f"+ a {a2} " in crashable.state.read_text(), what="a's new pid recorded")
    crashable.crash()
    crashable.restart()
    s = tend.svc("a")
    assert s["pid"] == a2 and "adopted" in s["reason"], s
    assert len(procs_running(tend, "sleep 1001")) == 1
