"""Live re-exec (tendctl reexec, SIGUSR2): tendd replaces its own image and
takes every service over, pids, output, timers and counters included."""

import os
import re
import shutil
import signal
import time

from conftest import BUILD, fd_count, pss_kb, wait_for
from test_cgroup import cgroot, cgroup_procs, ctend  # noqa: F401,F811 (fixtures)

CHATTER = BUILD / "tests" / "chatter"
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (.*)$")


def reexec_log_count(tend):
    return tend.read_log().count("re-executed,")


def reexec(tend, how="ctl"):
    """Re-exec tendd and wait until the new image answers."""
    before = reexec_log_count(tend)
    pid = tend.tendd_pid
    if how == "ctl":
        r = tend.ctl("reexec", check=0)
        assert "re-executed" in r.stdout or r.stdout == "", r.stdout
    else:
        tend.signal_tendd(signal.SIGUSR2)
    wait_for(lambda: reexec_log_count(tend) > before, timeout=20, what="the new image")
    tend.wait_ready()
    assert tend.tendd_alive() and tend.tendd_pid == pid


def own_copy(tend, tmp_path):
    """Run tendd from a copy of its own (tmp_path/bin/tendd), which a test
    may replace or remove as an upgrade would; its path."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "tendd"
    shutil.copy2(tend.tendd, exe)
    tend.tendd = exe
    return exe


def start_from_copy(tend, tmp_path):
    """own_copy(), and tendd started from it with one service a; the copy's
    path and a's pid."""
    exe = own_copy(tend, tmp_path)
    tend.service("a", exec="sleep 1000")
    tend.start()
    return exe, tend.wait_running("a")["pid"]


def numbers(path, name):
    """The N of each "NAME N" line of a log file, in order."""
    out = []
    for line in path.read_text().splitlines():
        m = TS.match(line)
        assert m, f"line without timestamp in {path}: {line!r}"
        word, n = m.group(1).split(" ")
        assert word == name, line
        out.append(int(n))
    return out


def test_reexec_keeps_every_service_and_every_line(tend):
    """50 services writing lines (each in two halves) all the time: after a
    re-exec every one keeps its pid, and every log has each line once, in
    order."""
    names = [f"c{i:02d}" for i in range(50)]
    for name in names:
        tend.service(name, exec=f"{CHATTER} {name} 2000")
    tend.start()
    before = {n: tend.wait_running(n)["pid"] for n in names}
    wait_for(lambda: all((tend.log_dir / f"{n}.log").exists() for n in names),
             what="every log")
    reexec(tend, "ctl")
    after = {s["name"]: s for s in tend.status()}
    for n in names:
        assert after[n]["state"] == "running" and after[n]["pid"] == before[n], after[n]
        assert after[n]["restarts"] == 0
    # More lines after the re-exec, then a stop: the last line is whole.
    mark = {n: len(numbers(tend.log_dir / f"{n}.log", n)) for n in names}
    wait_for(lambda: all(len(numbers(tend.log_dir / f"{n}.log", n)) > mark[n] + 20
                         for n in names), what="lines after the re-exec")
    tend.ctl("stop", *names, check=0)
    for n in names:
        got = numbers(tend.log_dir / f"{n}.log", n)
        assert got == list(range(1, len(got) + 1)), (n, [x for i, x in enumerate(got)
                                                          if x != i + 1][:5])


def test_state_timers_and_counters_survive(tend):
    """Restart counters, the last exit, STATUS= text, readiness and a backoff
    in progress are what they were; the backoff's remaining time is kept."""
    tend.service("crashy", exec="sh -c 'exit 3'", restart="always", restart_delay="3s",
                 start_limit_burst="0")
    tend.service("ready", exec="sh -c 'systemd-notify --ready --status=serving; exec sleep 1000'",
                 type="notify")
    tend.start()
    tend.wait_state("crashy", "backoff")
    tend.wait_state("ready", "running")
    wait_for(lambda: tend.svc("ready").get("status") == "serving", what="STATUS=")
    b0 = tend.svc("crashy")
    t0 = time.monotonic()
    reexec(tend, "signal")
    b1 = tend.svc("crashy")
    r1 = tend.svc("ready")
    assert b1["state"] == "backoff" and b1["exit_code"] == 3, b1
    assert b1["restarts"] == b0["restarts"] and b1["reason"] == b0["reason"], (b0, b1)
    assert r1["state"] == "running" and r1["status"] == "serving", r1
    # The backoff's 3 s run on from where they were, not from the re-exec.
    wait_for(lambda: tend.svc("crashy")["restarts"] > b0["restarts"], timeout=10,
             what="the restart after the backoff")
    assert time.monotonic() - t0 < 3.5


def test_a_crash_during_the_reexec_is_seen_and_restarted(tend):
    tend.service("victim", exec="sleep 1000", restart="always", restart_delay="0")
    tend.start()
    first = tend.wait_running("victim")
    tend.signal_tendd(signal.SIGUSR2)
    tend.kill(first["pid"], signal.SIGKILL)
    wait_for(lambda: "re-executed," in tend.read_log(), timeout=20, what="the new image")
    tend.wait_ready()
    second = tend.wait_running("victim", not_pid=first["pid"])
    assert second["restarts"] == 1 and second["exit_signal"] == signal.SIGKILL, second


def test_a_stop_in_progress_completes(tend):
    """A service that ignores SIGTERM is being stopped: after the re-exec its
    stop timeout runs on and the KILL still comes, at the same time."""
    tend.service("holdout", exec="sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'",
                 stop_timeout="2s")
    tend.start()
    tend.wait_running("holdout")
    t0 = time.monotonic()
    tend.ctl("stop", "--no-block", "holdout", check=0)
    tend.wait_state("holdout", "stopping")
    reexec(tend, "ctl")
    assert tend.state("holdout") == "stopping"
    tend.wait_state("holdout", "stopped", timeout=10)
    took = time.monotonic() - t0
    assert 1.8 < took < 3.5, took
    assert "stop timed out" in tend.read_log()


def test_twenty_reexecs_leak_nothing(tend):
    for i in range(10):
        tend.service(f"s{i}", exec=f"{CHATTER} s{i} 20000")
    tend.start()
    for i in range(10):
        tend.wait_running(f"s{i}")
    reexec(tend, "ctl")  # the first one settles what a fresh image holds
    fds0, pss0 = fd_count(tend.tendd_pid), pss_kb(tend.tendd_pid)
    for _ in range(20):
        reexec(tend, "signal")
    fds1, pss1 = fd_count(tend.tendd_pid), pss_kb(tend.tendd_pid)
    assert fds1 == fds0, (fds0, fds1)
    assert pss1 - pss0 < 512, (pss0, pss1)
    assert all(s["state"] == "running" and s["restarts"] == 0 for s in tend.status())


def test_a_binary_that_cannot_read_the_state_hands_it_back(tend, tmp_path):
    """The binary at tendd's path is replaced by one whose state format is
    another version: the re-exec lands in the previous binary again, with
    every service kept."""
    exe, pid = start_from_copy(tend, tmp_path)
    bindir = exe.parent
    other = bindir / "tendd.new"
    shutil.copy2(BUILD / "tests" / "tendd-other-state", other)
    os.rename(other, exe)  # as a package upgrade does
    reexec(tend, "signal")
    log = tend.read_log()
    assert "handing it back to the previous binary" in log, log
    assert tend.svc("a")["pid"] == pid and tend.state("a") == "running"


def test_reexec_in_cgroup_mode(ctend):
    """The cgroups are found again: a stop after the re-exec still reaches a
    process that left the group, and removes the cgroup."""
    ctend.service("esc", exec="sh -c 'setsid sleep 1000 & exec sleep 1000'")
    ctend.start()
    unit = ctend.cgroot / "esc.service"
    wait_for(lambda: len(cgroup_procs(unit)) == 2, what="both processes")
    pids = cgroup_procs(unit)
    reexec(ctend, "ctl")
    assert cgroup_procs(unit) == pids
    ctend.ctl("stop", "esc", check=0)
    assert ctend.state("esc") == "stopped"
    assert not unit.exists()


def test_a_restore_that_fails_starts_afresh_and_takes_the_services_over(tend, tmp_path):
    """The new image reads the state but cannot restore it (here every fd
    it names is gone): it starts over as after a crash, and the services
    still running are taken over, not started a second time."""
    exe, pid = start_from_copy(tend, tmp_path)
    bindir = exe.parent
    wrapper = bindir / "tendd.new"
    wrapper.write_text(
        "#!/bin/bash\n"
        "# Every inherited fd but the state's goes: the restore cannot find them.\n"
        'state=${1#--state-fd=}\n'
        "for f in /proc/self/fd/*; do n=${f##*/}\n"
        '  [ "$n" -gt 2 ] && [ "$n" != "$state" ] && eval "exec $n>&-" 2>/dev/null\n'
        "done\n"
        f'exec {BUILD / "tendd"} "$@"\n')
    wrapper.chmod(0o755)
    os.rename(wrapper, exe)
    tend.signal_tendd(signal.SIGUSR2)
    wait_for(lambda: "started, 1 service" in tend.read_log().split("starting afresh", 1)[-1]
             and "starting afresh" in tend.read_log(), timeout=20, what="a fresh start")
    tend.wait_ready()
    s = tend.svc("a")
    assert s["state"] == "running" and s["pid"] == pid, (s, tend.read_log())
    assert "adopted" in s["reason"], s
    sleeps = [p for p in tend.live_ns_procs() if p["cmdline"] == "sleep 1000"]
    assert len(sleeps) == 1, sleeps
