"""Readiness: sd_notify (libsystemd and systemd-notify), forged messages,
STATUS=, the watchdog, ready_timeout and ready_fd."""

import os
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import BUILD, wait_for

NOTIFIER = BUILD / "tests" / "notifier"


def events(path):
    """Lines "NAME EVENT MONO_NS" as a list of (name, event, seconds)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        n, e, t = line.split()
        out.append((n, e, int(t) / 1e9))
    return out


def test_notify_service_is_running_only_after_ready(tend):
    log = tend.dir / "events"
    tend.service("db", type="notify", exec=f"{NOTIFIER} -r 400 -s 'accepting connections' "
                                           f"-l {log} db", enabled="no")
    tend.start()
    assert tend.state("db") == "stopped"
    r = tend.ctl("start", "db", check=0)
    # tendctl start returned: READY=1 was sent before, and the state says so.
    ev = [e for _, e, _ in events(log)]
    assert ev[:2] == ["start", "ready"], (ev, r.stdout)
    s = tend.svc("db")
    assert s["state"] == "running" and s["status"] == "accepting connections"
    table = tend.ctl("status", check=0).stdout
    assert "accepting connections" in table


def test_starting_until_ready(tend):
    gate = tend.dir / "gate"
    tend.service("slow", type="notify",
                 exec=f"sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done; "
                      f"systemd-notify --ready --status=up; exec sleep 1000'")
    tend.start()
    s = tend.wait_state("slow", "starting")
    assert "READY=1" in s["reason"]
    gate.touch()
    s = tend.wait_state("slow", "running")
    assert s["status"] == "up"


@pytest.mark.skipif(not shutil.which("systemd-notify"), reason="systemd-notify not installed")
def test_systemd_notify_tool(tend):
    tend.service("sh", type="notify", enabled="no",
                 exec="sh -c 'sleep 0.2; systemd-notify --ready --status=\"from a script\"; "
                      "exec sleep 1000'")
    tend.start()
    tend.ctl("start", "sh", check=0)
    s = tend.svc("sh")
    assert s["state"] == "running" and s["status"] == "from a script"


FORGER = r"""
import os, socket, struct, sys
path, target_pid = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1\nSTATUS=forged", path)
# Claiming to be the service's main process: the kernel refuses that to an
# unprivileged sender (only CAP_SYS_ADMIN may put another pid in SCM_CREDENTIALS,
# as with systemd, such a sender can impersonate anything).
creds = struct.pack("iII", target_pid, os.getuid(), os.getgid())
try:
    if os.getuid() == 0:
        raise PermissionError  # root could: that is impersonation, not forgery
    s.sendmsg([b"READY=1\nSTATUS=forged"],
              [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)], 0, path)
    print("impersonation allowed")
except PermissionError:
    print("impersonation refused")
# A barrier: tendd closes the passed fd once it handled everything before it.
r, w = os.pipe()
s.sendmsg([b"BARRIER=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", w))], 0, path)
os.close(w)
os.read(r, 1)   # returns (EOF) when tendd closed its copy
print("barrier passed")
"""


def test_forged_ready_is_ignored(tend):
    # Sockets where the unprivileged forger can reach them.
    tend.socket = tend.world_dir() / "tend.sock"
    tend.write_config()
    notify_sock = tend.socket.parent / "notify.sock"
    tend.service("waits", type="notify", exec="sleep 1000", ready_timeout="60s")
    tend.start()
    s = tend.wait_state("waits", "starting")
    # An unrelated process as root, then one as nobody trying to pass as the service.
    for user in (None, (65534, 65534)):
        r = subprocess.run(tend.in_ns_prefix(user) + ["/usr/bin/python3", "-c", FORGER,
                                                      str(notify_sock),
                                                      str(s["pid"])],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "barrier passed" in r.stdout, r.stderr
        assert "impersonation refused" in r.stdout
        s = tend.svc("waits")
        assert s["state"] == "starting", s
        assert s["status"] is None
    # The same message from inside the service counts.
    pid = s["pid"]
    script = tend.dir / "genuine.py"
    script.write_text("import os, socket, time\n"
                      "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                      "s.sendto(b'READY=1\\nSTATUS=genuine', os.environ['NOTIFY_SOCKET'])\n"
                      "time.sleep(1000)\n")
    tend.service("waits", type="notify", ready_timeout="60s",
                 exec=f"/usr/bin/python3 {script}")
    tend.ctl("reload", check=0)
    s = tend.wait_state("waits", "running")
    assert s["pid"] != pid and s["status"] == "genuine"


def test_watchdog_restarts_a_hung_service(tend):
    log = tend.dir / "events"
    tend.service("hb", type="notify", watchdog="300ms", restart="on-failure",
                 restart_delay="100ms", exec=f"{NOTIFIER} -p 4 -l {log} hb")
    tend.start()
    first = tend.wait_state("hb", "running")
    # sd_watchdog_enabled() accepted WATCHDOG_USEC and WATCHDOG_PID (its own pid).
    wait_for(lambda: "watchdog" in [e for _, e, _ in events(log)], what="watchdog enabled")
    s = wait_for(lambda: (x := tend.svc("hb"))["restarts"] >= 1 and x, timeout=10,
                 what="a restart after the missed ping")
    assert s["exit_signal"] == signal.SIGABRT, s
    hang = [t for _, e, t in events(log) if e == "hang"][0]
    starts = [t for _, e, t in events(log) if e == "start"]
    assert len(starts) >= 2 and starts[1] - hang >= 0.25, (hang, starts)
    tend.wait_running("hb", not_pid=first["pid"])


def test_watchdog_reason_shows(tend):
    tend.service("hb", type="notify", watchdog="200ms", restart="never",
                 exec=f"{NOTIFIER} -p 0 hb")
    tend.start()
    s = tend.wait_state("hb", "failed")
    assert "watchdog" in s["reason"] and s["exit_signal"] == signal.SIGABRT, s


def test_ready_timeout_is_a_failed_start(tend):
    tend.service("mute", type="notify", exec="sleep 1000", ready_timeout="300ms",
                 restart="never", enabled="no")
    tend.start()
    r = tend.ctl("start", "mute")
    assert r.returncode == 1 and "mute" in r.stderr, (r.returncode, r.stderr)
    s = tend.svc("mute")
    assert s["state"] == "failed" and "not ready within" in s["reason"], s


def test_ready_timeout_then_policy_restarts(tend):
    tend.service("mute", type="notify", exec="sleep 1000", ready_timeout="200ms",
                 restart="on-failure", restart_delay="100ms", start_limit_burst=2,
                 start_limit_interval="1min")
    tend.start()
    s = tend.wait_state("mute", "failed", timeout=10)
    assert "start limit" in s["reason"] and s["restarts"] == 1, s


def test_ready_fd(tend):
    gate = tend.dir / "gate"
    tend.service("s6", ready_fd=3,
                 exec=f"sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done; echo >&3; "
                      f"exec sleep 1000'")
    tend.start()
    s = tend.wait_state("s6", "starting")
    assert "ready fd" in s["reason"]
    gate.touch()
    tend.wait_state("s6", "running")


def test_ready_fd_closed_without_newline_is_not_ready(tend):
    tend.service("s6", ready_fd=4, ready_timeout="400ms", restart="never",
                 exec="sh -c 'exec 4>&-; exec sleep 1000'")
    tend.start()
    s = tend.wait_state("s6", "failed")
    assert "not ready" in s["reason"], s


def test_mainpid_inside_the_service_is_followed(tend):
    # The shell starts the real daemon, hands it over with MAINPID= and exits.
    tend.service("handoff", type="notify", restart="never",
                 exec="sh -c 'sleep 1000 & systemd-notify --ready --pid=$! --status=handed; "
                      "exit 0'")
    tend.start()
    s = tend.wait_state("handoff", "running")
    shell_gone = wait_for(lambda: not any(p["comm"] == "sh" for p in tend.live_ns_procs()),
                          what="the shell to exit")
    assert shell_gone
    s = tend.svc("handoff")
    assert s["state"] == "running" and s["status"] == "handed"
    sleeper = [p for p in tend.live_ns_procs() if p["comm"] == "sleep"]
    assert len(sleeper) == 1 and s["pid"] == sleeper[0]["pid"], (s, sleeper)
    # tendd is a subreaper: with the shell gone, the daemon is tendd's child,
    # so its exit status comes from waitid (no PIDFD_INFO_EXIT, kernel 6.15).
    assert sleeper[0]["ppid"] == tend.tendd_pid, (sleeper, tend.tendd_pid)
    tend.kill(s["pid"], signal.SIGKILL)
    s = tend.wait_state("handoff", "failed")
    assert s["exit_signal"] == signal.SIGKILL, s
    assert not [p for p in tend.ns_procs() if p["state"] == "Z"], tend.ns_procs()


def test_orphans_are_adopted_and_reaped(tend):
    # A service leaves a process behind (its parent exits): tendd adopts it and
    # reaps it when it exits, so no zombie is left, here or anywhere else.
    flag = tend.dir / "go"
    tend.service("leaver", exec=f"sh -c '(sh -c \"while [ ! -e {flag} ]; do sleep 0.05; "
                                f"done; exit 5\" &); exec sleep 1000'")
    tend.start()
    tend.wait_running("leaver")
    left = wait_for(lambda: [p for p in tend.live_ns_procs()
                             if p["comm"] == "sh" and p["ppid"] == tend.tendd_pid],
                    what="the orphan, adopted by tendd")
    flag.touch()
    wait_for(lambda: not any(p["hostpid"] == left[0]["hostpid"] for p in tend.ns_procs()),
             what="the orphan to be reaped")
    assert not [p for p in tend.ns_procs() if p["state"] == "Z"], tend.ns_procs()
    assert tend.svc("leaver")["state"] == "running"


def test_mainpid_outside_the_service_is_rejected(tend):
    script = tend.dir / "liar.py"
    script.write_text("import os, socket, time\n"
                      "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                      "s.sendto(b'MAINPID=1\\nREADY=1', os.environ['NOTIFY_SOCKET'])\n"
                      "time.sleep(1000)\n")
    tend.service("liar", type="notify", exec=f"/usr/bin/python3 {script}")
    tend.start()
    s = tend.wait_state("liar", "running")
    assert s["pid"] != 1
    assert "MAINPID=1 rejected" in tend.read_log()


def test_errno_and_reloading_show_in_status(tend):
    script = tend.dir / "reloader.py"
    gate = tend.dir / "gate"
    script.write_text(
        "import os, socket, time\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "say = lambda m: s.sendto(m, os.environ['NOTIFY_SOCKET'])\n"
        "say(b'READY=1')\n"
        "say(b'RELOADING=1\\nMONOTONIC_USEC=1')\n"
        f"while not os.path.exists('{gate}'): time.sleep(0.02)\n"
        "say(b'READY=1')\n"
        f"while not os.path.exists('{gate}2'): time.sleep(0.02)\n"
        "say(b'ERRNO=2\\nSTATUS=config file missing')\n"
        "time.sleep(0.1)\n"
        "raise SystemExit(1)\n")
    tend.service("r", type="notify", restart="never", exec=f"/usr/bin/python3 {script}")
    tend.start()
    wait_for(lambda: "reloading" in tend.svc("r")["reason"], what="RELOADING=1 shown")
    gate.touch()
    wait_for(lambda: tend.svc("r")["reason"] == "reloaded", what="READY=1 after reload")
    (tend.dir / "gate2").touch()
    s = tend.wait_state("r", "failed")
    assert "ERRNO=2: No such file or directory" in s["reason"], s
    assert s["status"] == "config file missing"
