"""Hostile log directories and stalled log readers (issue 9): tendd runs as root
and must never write through a link planted in log_dir, must refuse a log_dir
others may write to, must let go of a deleted log file at once, and must keep
answering when nobody reads its own stderr."""

import os
import re
import select
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import wait_for

NOBODY = 65534

TICK = "sh -c 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done'"


def secret_file(tend):
    """A root-owned file outside log_dir, as /etc/shadow would be."""
    p = tend.dir / "secret"
    p.write_text("secret\n")
    os.chmod(p, 0o600)
    return p


def refused(tend, name, what, harm=lambda: False):
    """Wait until tendd's log says why NAME's log file was refused, or harm()
    happened (the test then fails on what was done, not on a missing report)."""
    pat = re.compile(rf"{name}: output: .*{what}")
    wait_for(lambda: harm() or pat.search(tend.read_log()), timeout=10, what=f"report: {what}")
    assert not harm(), "tendd wrote where it must not"
    return pat.search(tend.read_log())


# -- 1. links and foreign files in log_dir --------------------------------------

def test_symlink_to_root_file_is_not_written_through(tend):
    secret = secret_file(tend)
    tend.log_dir.mkdir(mode=0o755)
    (tend.log_dir / "w.log").symlink_to(secret)
    tend.service("w", exec=TICK)
    tend.start()
    tend.wait_running("w")
    refused(tend, "w", "symbolic link", lambda: secret.read_text() != "secret\n")
    # The service keeps running and keeps writing; nothing reaches the target.
    time.sleep(0.5)  # several lines written (and dropped) meanwhile
    assert secret.read_text() == "secret\n"
    assert (tend.log_dir / "w.log").is_symlink(), "tendd must not touch the planted link"
    assert tend.svc("w")["state"] == "running"
    reports = re.findall(r"w: output: .*symbolic link", tend.read_log())
    assert len(reports) == 1, "once, not per line"
    # The admin removes the link: logging resumes into a file of tendd's own.
    (tend.log_dir / "w.log").unlink()
    log = tend.log_dir / "w.log"
    wait_for(lambda: log.exists() and "tick" in log.read_text(), timeout=10, what="a real log")
    st = log.lstat()
    assert stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid()
    assert stat.S_IMODE(st.st_mode) & 0o027 == 0, oct(st.st_mode)
    wait_for(lambda: re.search(r"w: output: .* works again; \d+ lines? dropped", tend.read_log()),
             what="recovery report")


def test_dangling_symlink_does_not_create_its_target(tend):
    target = tend.dir / "created-by-root"
    tend.log_dir.mkdir(mode=0o755)
    (tend.log_dir / "d.log").symlink_to(target)
    tend.service("d", exec=TICK)
    tend.start()
    tend.wait_running("d")
    refused(tend, "d", "symbolic link", lambda: os.path.lexists(target))
    time.sleep(0.3)
    assert not target.exists() and not os.path.lexists(target)


def test_hard_link_to_root_file_is_not_written(tend):
    secret = secret_file(tend)
    tend.log_dir.mkdir(mode=0o755)
    os.link(secret, tend.log_dir / "h.log")
    tend.service("h", exec=TICK)
    tend.start()
    tend.wait_running("h")
    refused(tend, "h", "2 links", lambda: secret.read_text() != "secret\n")
    time.sleep(0.3)
    assert secret.read_text() == "secret\n"


def test_file_owned_by_another_user_is_not_written(tend):
    tend.log_dir.mkdir(mode=0o755)
    theirs = tend.log_dir / "o.log"
    theirs.write_text("")
    os.chown(theirs, NOBODY, NOBODY)
    tend.service("o", exec=TICK)
    tend.start()
    tend.wait_running("o")
    refused(tend, "o", f"owned by uid {NOBODY}", lambda: theirs.read_text() != "")
    time.sleep(0.3)
    assert theirs.read_text() == ""


def test_planted_rotation_link_is_not_followed(tend):
    secret = secret_file(tend)
    tend.log_dir.mkdir(mode=0o755)
    for k in (1, 2):
        (tend.log_dir / f"rot.log.{k}").symlink_to(secret)
    tend.service("rot", exec="sh -c 'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo line $i; "
                 "done; exec sleep 1000'", log_max_size="8K", log_keep="2")
    tend.start()
    log = tend.log_dir / "rot.log"
    wait_for(lambda: log.exists() and "line 3000\n" in log.read_text(), what="last line")
    assert secret.read_text() == "secret\n"
    # The links were rotated away (renamed, then replaced), never opened.
    for name in ("rot.log", "rot.log.1", "rot.log.2"):
        st = (tend.log_dir / name).lstat()
        assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1, name
    assert not (tend.log_dir / "rot.log.3").exists()


# -- 1. a log_dir others may write to is refused --------------------------------

@pytest.mark.parametrize("mode,owner,what", [
    (0o777, 0, "writable by group and others"),
    (0o775, 0, "writable by group"),
    (0o755, NOBODY, f"owned by uid {NOBODY}"),
])
def test_unsafe_log_dir_is_refused(tend, mode, owner, what):
    tend.log_dir.mkdir()
    os.chmod(tend.log_dir, mode)
    os.chown(tend.log_dir, owner, 0)
    tend.service("u", exec=TICK)
    tend.start()
    tend.wait_running("u")
    m = refused(tend, "u", "log_dir", lambda: list(tend.log_dir.iterdir()))
    line = tend.read_log()[m.start():].splitlines()[0]
    assert str(tend.log_dir) in line and what in line, line
    time.sleep(0.3)
    assert list(tend.log_dir.iterdir()) == [], "nothing may be created in an unsafe log_dir"
    assert tend.svc("u")["state"] == "running"


def test_unsafe_parent_of_log_dir_is_refused(tend):
    parent = tend.dir / "shared"
    parent.mkdir()
    os.chmod(parent, 0o777)
    tend.log_dir = parent / "log"
    tend.write_config()
    tend.service("u", exec=TICK)
    tend.start()
    tend.wait_running("u")
    m = refused(tend, "u", "log_dir", lambda: (tend.log_dir / "u.log").exists())
    line = tend.read_log()[m.start():].splitlines()[0]
    assert f"{parent} is writable by group and others" in line, line
    assert not (tend.log_dir / "u.log").exists()


def test_sticky_log_dir_is_accepted(tend):
    # A sticky directory (as /tmp) lets services write there too; nobody but
    # its owner may rename or remove tendd's files in it.
    tend.log_dir.mkdir()
    os.chmod(tend.log_dir, 0o1777)
    tend.service("s", exec=TICK)
    tend.start()
    log = tend.log_dir / "s.log"
    wait_for(lambda: log.exists() and "tick" in log.read_text(), what="log in a sticky dir")
    assert "output:" not in tend.read_log()


# -- 2. a deleted log file is let go at once ------------------------------------

def test_deleted_full_log_gives_space_back_without_a_write(tend):
    # A 256K tmpfs in tendd's mount namespace; the service fills it, then
    # stays silent.
    tend.log_dir.mkdir()
    mnt = "mount -t tmpfs -o size=256k,mode=0750 tend-test-del \"$0\" && exec \"$@\""
    tend.service("fill", exec="sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); "
                 "echo line $i; done; exec sleep 1000'", log_max_size="10M")
    tend.start(wrapper=("sh", "-c", mnt, str(tend.log_dir)))
    tend.wait_running("fill")
    wait_for(lambda: re.search(r"fill: output: writing .*No space left", tend.read_log()),
             timeout=20, what="the full-disk report")
    inside = Path(f"/proc/{tend.tendd_pid}/root") / str(tend.log_dir).lstrip("/")
    free = lambda: os.statvfs(inside).f_bavail * os.statvfs(inside).f_frsize
    assert free() < 16 * 1024
    (inside / "fill.log").unlink()
    wait_for(lambda: free() > 200 * 1024, timeout=5, what="the space to come back")
    assert tend.svc("fill")["state"] == "running"


# -- 4. nobody reads tendd's stderr ---------------------------------------------

def test_stalled_stderr_does_not_freeze_tendd(tend):
    r, w = os.pipe2(os.O_CLOEXEC)
    os.set_inheritable(w, True)
    try:
        tend.service("crash", exec="sh -c 'exit 3'", restart="always", restart_delay="0",
                     restart_max_delay="0", start_limit_burst="0")
        tend.service("steady", exec="sleep 1000")
        tend.start(wrapper=("sh", "-c", f'exec "$@" 2>/proc/self/fd/{w}', "sh"), pass_fds=(w,))
        os.close(w)
        w = -1
        # tendd's own log fills the pipe (64 KiB) and keeps going.
        first = tend.svc("crash")["restarts"]
        wait_for(lambda: tend.svc("crash")["restarts"] > first + 2000, timeout=30,
                 what="2000 more restarts (several pipes' worth of log lines)")
        for _ in range(5):
            t0 = time.monotonic()
            s = tend.ctl("status", "--json", check=0, timeout=5)
            took = time.monotonic() - t0
            assert took < 2.0, f"status took {took:.2f}s"
            assert s.returncode == 0
        before = tend.svc("crash")["restarts"]
        wait_for(lambda: tend.svc("crash")["restarts"] > before, what="more restarts")
        pid = tend.svc("steady")["pid"]
        tend.ctl("restart", "steady", check=0, timeout=10)
        tend.wait_running("steady", not_pid=pid)
        # Reading the pipe makes room: the next line that gets through says how
        # many were dropped.
        got = b""
        deadline = time.monotonic() + 15
        pat = re.compile(rb"tendd: (\d+) log lines? dropped")
        while time.monotonic() < deadline and not pat.search(got):
            ready, _, _ = select.select([r], [], [], 0.5)
            if ready:
                got += os.read(r, 1 << 16)
                got = got[-(1 << 20):]
        m = pat.search(got)
        assert m, got[-2000:]
        assert int(m.group(1)) > 0
    finally:
        if w >= 0:
            os.close(w)
        os.close(r)  # an old tendd blocked on the pipe gets EPIPE and can stop


def test_stalled_journal_does_not_freeze_tendd(tend):
    # tendd logs to the journal when its stderr is the stream $JOURNAL_STREAM
    # names; here a journald that never reads: a datagram socket at the
    # journal's path, on a tmpfs /run private to tendd's mount namespace,
    # held open by tendd itself (inherited) and never read.
    bind = ("import os, socket, sys\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
            "s.bind('/run/systemd/journal/socket')\n"
            "os.set_inheritable(s.fileno(), True)\n"
            "os.execv(sys.argv[1], sys.argv[1:])\n")
    wrap = ("mount -t tmpfs tend-test-run /run && mkdir -p /run/systemd/journal && "
            "exec /usr/bin/python3 -c \"$0\" \"$@\"")
    tend.log.touch()
    st = tend.log.stat()
    tend.service("crash", exec="sh -c 'exit 3'", restart="always", restart_delay="0",
                 restart_max_delay="0", start_limit_burst="0")
    tend.start(wrapper=("sh", "-c", wrap, bind),
               env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    first = tend.svc("crash")["restarts"]
    wait_for(lambda: tend.svc("crash")["restarts"] > first + 500, timeout=30,
             what="500 more restarts (far more lines than the journal's queue holds)")
    for _ in range(5):
        t0 = time.monotonic()
        tend.ctl("status", "--json", check=0, timeout=5)
        took = time.monotonic() - t0
        assert took < 2.0, f"status took {took:.2f}s"
    assert "crash" not in tend.read_log(), "lines went to stderr, not to the journal"
