"""Review of the live re-exec: cases the first tests did not cover."""

import os
import shutil
import signal
import time

from conftest import BUILD, wait_for


def stopped(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def with_tendd_stopped(tend, *actions):
    """Run actions while tendd is SIGSTOPped, so that everything they cause
    reaches tendd in one loop iteration once it goes on."""
    tend.signal_tendd(signal.SIGSTOP)
    wait_for(lambda: stopped(tend.tendd_pid), what="tendd stopped")
    for a in actions:
        a()
    time.sleep(0.2)
    tend.signal_tendd(signal.SIGCONT)


def test_sigint_with_a_reexec_still_stops_tendd(tend):
    """SIGINT (a container runtime's or a terminal's stop) and a re-exec in the
    same loop iteration: the stop must win; tendd must not re-execute in the
    middle of stopping and then run on with nothing told to stop."""
    tend.service("a", exec="sleep 1000")
    tend.start()
    tend.wait_running("a")
    with_tendd_stopped(tend,
                       lambda: tend.signal_tendd(signal.SIGINT),
                       lambda: tend.signal_tendd(signal.SIGUSR2))
    try:
        rc = tend.wait_exit(timeout=10)
    except Exception:
        raise AssertionError("tendd did not exit after SIGINT; log:\n" + tend.read_log())
    assert rc == 0, rc


def test_exit_with_service_ending_with_a_reexec_still_ends_tendd(tend):
    """The exit_with service ends in the same loop iteration as a re-exec:
    tendd must still stop everything and exit with the service's code."""
    tend.service("main", exec="sleep 1000", restart="never")
    tend.service("other", exec="sleep 1000")
    tend.start(args=("--exit-with", "main"))
    pid = tend.wait_running("main")["pid"]
    tend.wait_running("other")
    with_tendd_stopped(tend,
                       lambda: tend.kill(pid, signal.SIGKILL),
                       lambda: tend.signal_tendd(signal.SIGUSR2))
    try:
        rc = tend.wait_exit(timeout=10)
    except Exception:
        raise AssertionError("tendd did not exit with its exit_with service; log:\n"
                             + tend.read_log())
    assert rc == 128 + signal.SIGKILL, rc


def test_reexec_that_cannot_exec_is_an_error_for_tendctl(tend, tmp_path):
    """The binary at tendd's path is gone (removed, not replaced): execve
    fails, tendd goes on as it was, and tendctl reexec says it failed instead
    of 'tendd re-executed'."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "tendd"
    shutil.copy2(tend.tendd, exe)
    tend.tendd = exe
    tend.service("a", exec="sleep 1000")
    tend.start()
    pid = tend.wait_running("a")["pid"]
    fds0 = sorted(os.listdir(f"/proc/{tend.tendd_pid}/fd"))
    exe.unlink()
    r = tend.ctl("reexec", check=0)
    log = tend.read_log()
    assert "re-exec of" in log and "failed" in log, log
    assert tend.tendd_alive()
    assert tend.svc("a")["pid"] == pid and tend.state("a") == "running"
    assert r.returncode != 0, (r.returncode, r.stdout, r.stderr)
    assert "re-executed" not in r.stdout, r.stdout


def test_a_failed_reexec_ends_the_reload_it_told_systemd_of(tend, tmp_path):
    """Under systemd the re-exec sends RELOADING=1 first; when the execve
    fails tendd goes on in the old image and must say READY=1 again, or the
    unit stays 'reloading' until systemd's timeout."""
    import socket
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "tendd"
    shutil.copy2(tend.tendd, exe)
    tend.tendd = exe
    path = str(tmp_path / "systemd-notify")
    sd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sd.bind(path)
    sd.settimeout(10)
    tend.service("a", exec="sleep 1000")
    tend.start(env={"NOTIFY_SOCKET": path})
    tend.wait_running("a")

    def until(word):
        while True:
            msg = sd.recv(4096).decode()
            if word in msg.split("\n"):
                return msg
    until("READY=1")
    exe.unlink()
    tend.signal_tendd(signal.SIGUSR2)
    until("RELOADING=1")
    wait_for(lambda: "failed; going on" in tend.read_log(), what="the failed re-exec")
    sd.settimeout(3)
    try:
        until("READY=1")
    except socket.timeout:
        raise AssertionError("no READY=1 after the failed re-exec's RELOADING=1")
    finally:
        sd.close()
