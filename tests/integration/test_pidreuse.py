"""Pid reuse cannot hit the wrong process.

In the test's pid namespace a service dies, its pid is handed to an unrelated
process (setpid: clone3 set_tid, or ns_last_pid), and every command aimed at
the dead service is sent: the unrelated process must survive all of them,
including tendd's own shutdown. Under strace, tendd must signal only through
pidfd_send_signal, never kill/tkill/tgkill by number."""

import os
import re
import shutil
import signal

import pytest

from conftest import SETPID, pidfd_alive, wait_for

STUBBORN = "sh -c 'trap \"\" TERM; sleep 1000 & sleep 1000 & wait'"


def plant_unrelated(tend, pid):
    """Run `sleep 1000` as pid `pid` in the namespace; returns its host pidfd."""
    wait_for(lambda: tend.host_pid(pid) is None, what=f"pid {pid} to be free")
    p = tend.popen_in_ns(SETPID, pid, "sleep", "1000")

    def planted():
        if p.poll() is not None:
            raise AssertionError(f"setpid failed ({p.returncode}): {p.stderr.read()}")
        return any(x["pid"] == pid and x["comm"] == "sleep" for x in tend.live_ns_procs())
    wait_for(planted, what=f"unrelated process as pid {pid}")
    return tend.pidfd(pid)


def kill_and_reuse(tend, name):
    """Let the (restart=never) service die and give its pid away."""
    s = tend.wait_running(name)
    old = s["pid"]
    tend.kill(old, signal.SIGKILL)
    s = tend.wait_state(name, "failed")
    assert s["pid"] is None
    return old, plant_unrelated(tend, old)


def every_command(tend, name, fd, old):
    def survives(what):
        assert pidfd_alive(fd), f"the unrelated process (pid {old}) died after {what}"

    for sig in ("KILL", "TERM", "INT"):
        tend.ctl("kill", "-s", sig, name)  # no process: may fail, must not hit pid old
        survives(f"kill -s {sig}")
    tend.ctl("stop", name, check=0)
    survives("stop")
    tend.ctl("kill", "-s", "KILL", name)
    survives("kill of a stopped service")
    tend.ctl("start", name, check=0)
    s = tend.wait_running(name)
    assert s["pid"] != old
    survives("start")
    tend.ctl("restart", name, check=0)
    tend.wait_running(name, not_pid=s["pid"])
    survives("restart")
    tend.ctl("stop", name, check=0)
    survives("stop of the new process")
    tend.ctl("reload", check=0)
    survives("reload")
    tend.signal_tendd(signal.SIGHUP)
    tend.ctl("status", check=0)
    survives("SIGHUP")
    tend.ctl("start", name, check=0)
    tend.wait_running(name)
    survives("start again")


def assert_only_survivor(tend, pid):
    """tendd has exited: nsinit's report (taken before the namespace ended)
    must list the unrelated process, and nothing else, still alive."""
    survivors, lines = tend.report()
    lines = [l for l in lines if "comm=setpid " not in l]  # its parent, waiting
    assert len(lines) == 1, "expected only the unrelated process left:\n" + "\n".join(lines)
    assert re.match(rf"pid={pid} .*comm=sleep cmdline=sleep 1000", lines[0]), (
        f"the unrelated process (pid {pid}) died with tendd's shutdown: {lines}")


def test_unrelated_process_with_a_dead_services_pid_survives(tend):
    tend.service("victim", exec="sleep 1000", restart="never")
    tend.service("bystander", exec="sleep 1000")
    tend.start()
    old, fd = kill_and_reuse(tend, "victim")
    try:
        every_command(tend, "victim", fd, old)
        assert tend.stop() == 0
        assert_only_survivor(tend, old)
    finally:
        os.close(fd)


def test_strace_shows_no_signal_by_pid_number(tend):
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    trace = tend.dir / "strace.out"
    tend.service("victim", exec="sleep 1000", restart="never")
    tend.service("stubborn", exec=STUBBORN, stop_timeout="300ms")
    tend.service("crasher", exec="sleep 1000")
    # LeakSanitizer cannot attach to a traced process: no leak check here.
    asan = os.environ.get("ASAN_OPTIONS", "")
    tend.start(wrapper=["strace", "-f", "-qq", "-o", str(trace), "-e",
                        "trace=kill,tkill,tgkill,pidfd_send_signal,rt_sigqueueinfo,"
                        "rt_tgsigqueueinfo"],
               env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "detect_leaks=0"})
    old, fd = kill_and_reuse(tend, "victim")
    try:
        every_command(tend, "victim", fd, old)
        c = tend.wait_running("crasher")
        tend.ctl("kill", "-s", "KILL", "crasher", check=0)
        tend.wait_running("crasher", not_pid=c["pid"])
        tend.wait_running("stubborn")
        tend.ctl("stop", "stubborn", check=0)
        assert tend.stop() == 0
        assert_only_survivor(tend, old)
    finally:
        os.close(fd)
    text = trace.read_text()
    calls = [l for l in text.splitlines() if re.search(r"\b(kill|tkill|tgkill|rt_sigqueueinfo|"
                                                       r"rt_tgsigqueueinfo)\(", l)]
    assert calls == [], "signals sent by pid number:\n" + "\n".join(calls)
    sent = [l for l in text.splitlines() if "pidfd_send_signal(" in l]
    assert any("SIGKILL" in l for l in sent), "no SIGKILL via pidfd seen:\n" + text[-3000:]
    assert any("SIGTERM" in l for l in sent), "no SIGTERM via pidfd seen:\n" + text[-3000:]
