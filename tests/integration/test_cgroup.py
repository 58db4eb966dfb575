"""Containment with cgroup v2: each service in a cgroup of its own, spawned
straight into it, stopped as a whole, and what happens without one. Each test
makes its own directory under the cgroup2 mount (the machine's v1 trees are
never touched) and removes it."""
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Tend, wait_for


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                return Path(left.split()[4])
    return None


def cgroup_procs(d):
    try:
        return [int(p) for p in (d / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


def populated(d):
    return "populated 1" in (d / "cgroup.events").read_text()


def remove_tree(d):
    """rmdir d and what is below it, deepest first; kills what is left."""
    if not d.exists():
        return
    for sub in sorted((p for p in d.iterdir() if p.is_dir()), reverse=True):
        remove_tree(sub)
    if populated(d):
        (d / "cgroup.kill").write_text("1")
        wait_for(lambda: not populated(d), what=f"{d} emptied")
    os.rmdir(d)


@pytest.fixture
def cgroot():
    mnt = cgroup2_mount()
    if mnt is None or not os.access(mnt / "cgroup.procs", os.W_OK):
        pytest.skip("no writable cgroup2 mount")
    d = mnt / f"tend-test-{os.getpid()}-{time.monotonic_ns()}"
    d.mkdir()
    yield d
    remove_tree(d)


@pytest.fixture
def ctend(tmp_path, cgroot):
    t = Tend(tmp_path)
    t.write_config(f"cgroup = {cgroot}\n")
    t.cgroot = cgroot
    yield t
    problems = t.close()
    assert not problems, problems


def alive(pid, ns=None):
    """Running, not a zombie and not gone; pid as tendd's namespace (ns, a
    Tend) sees it, or as ours."""
    proc = f"/proc/{ns.nsinit_pid}/root/proc" if ns else "/proc"
    try:
        with open(f"{proc}/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


ESCAPES = ("sh -c 'setsid sleep 1000 & (setsid sh -c \"sleep 1000 &\") ; "
           "exec sleep 1000'")


def test_setsid_and_double_fork_are_stopped_with_the_service(ctend):
    ctend.service("esc", exec=ESCAPES, output="null")
    ctend.start()
    unit = ctend.cgroot / "esc.service"
    wait_for(lambda: len(cgroup_procs(unit)) == 3, what="main, setsid child, double-forked one")
    pids = cgroup_procs(unit)
    assert all(alive(p) for p in pids)
    # tendd moved itself into a leaf of its subtree, before it started its keeper.
    keepers = [k["hostpid"] for k in ctend.keepers()]
    assert len(keepers) == 1
    assert sorted(cgroup_procs(ctend.cgroot / "supervisor")) == sorted([ctend.tendd_pid] + keepers)
    ctend.ctl("stop", "esc", check=0)
    assert not any(alive(p) for p in pids), [p for p in pids if alive(p)]
    assert not unit.exists(), "the stopped service's cgroup is removed"
    assert ctend.svc("esc")["state"] == "stopped"


def test_group_mode_is_still_there_and_makes_no_cgroup(ctend):
    ctend.service("grp", exec="sleep 1000", output="null", kill_mode="group")
    ctend.start()
    wait_for(lambda: ctend.svc("grp")["state"] == "running")
    assert not (ctend.cgroot / "grp.service").exists(), "group mode makes no cgroup"
    ctend.ctl("stop", "grp", check=0)


def test_first_action_is_already_in_its_cgroup(ctend, tmp_path):
    out = ctend.world_dir() / "cg"
    ctend.service("first", exec=f"sh -c 'cat /proc/self/cgroup > {out}; exec sleep 1000'",
                  output="null")
    ctend.start()
    wait_for(lambda: out.exists() and out.read_text().endswith("\n"), what="cgroup written")
    rel = "/" + str(ctend.cgroot.relative_to(cgroup2_mount()))
    assert f"0::{rel}/first.service\n" in out.read_text(), out.read_text()


def script(t, name, text):
    """A shell script anyone may read, for a service's exec."""
    p = t.world_dir() / name
    p.write_text(text)
    return f"/bin/sh {p}"


# A child that answers TERM by working 0.5 s more, then exits; the main
# process (sleep) goes at once.
LINGER = """
sh -c 'trap "sleep 0.5; echo old-gone >> {trace}; exit 0" TERM; sleep 1000 & wait' &
echo start >> {trace}
exec sleep 1000
"""


def test_stop_completes_when_the_cgroup_empties(ctend):
    """The stop is complete when the cgroup is empty (populated 0): not before
    the lingering child is gone, not at the stop timeout."""
    trace = ctend.world_dir() / "trace"
    ctend.service("slow", output="null", stop_timeout="20s",
                  exec=script(ctend, "slow.sh", LINGER.format(trace=trace)))
    ctend.start()
    unit = ctend.cgroot / "slow.service"
    wait_for(lambda: len(cgroup_procs(unit)) >= 3, what="the service and its children")
    t0 = time.monotonic()
    ctend.ctl("stop", "slow", check=0)
    took = time.monotonic() - t0
    assert "old-gone" in trace.read_text(), "stopped only after the child left"
    assert 0.4 <= took < 10, took
    s = ctend.svc("slow")
    assert s["state"] == "stopped" and "timed out" not in s["reason"], s
    assert "waiting for the rest of its cgroup" in ctend.read_log()
    assert not unit.exists()


def test_restart_waits_for_the_old_tree(ctend):
    """A restart spawns the new instance only once the old one's last
    process is gone."""
    trace = ctend.world_dir() / "trace"
    ctend.service("rs", output="null", stop_timeout="20s",
                  exec=script(ctend, "rs.sh", LINGER.format(trace=trace)))
    ctend.start()
    unit = ctend.cgroot / "rs.service"
    wait_for(lambda: len(cgroup_procs(unit)) >= 3, what="the service and its children")
    ctend.ctl("restart", "rs", check=0)
    wait_for(lambda: trace.read_text().count("start") == 2, what="second start")
    assert trace.read_text() == "start\nold-gone\nstart\n", trace.read_text()


def test_crash_kills_what_the_main_process_left(ctend):
    """A main process that exits on its own takes its cgroup with it (SIGKILL
    through cgroup.kill) before the restart."""
    trace = ctend.world_dir() / "pids"
    ctend.service("crash", output="null", restart="always", restart_delay="100ms",
                  exec=f"sh -c 'setsid sleep 1000 & echo $! >> {trace}; sleep 0.2; exit 1'")
    ctend.start()
    wait_for(lambda: trace.exists() and len(trace.read_text().split()) >= 2,
             what="a restart")
    first = int(trace.read_text().split()[0])  # a pid of tendd's namespace
    assert not alive(first, ctend), "the first instance's setsid child is gone"


def test_reload_removing_a_service_removes_its_cgroup(ctend):
    ctend.service("gone", exec="sleep 1000", output="null")
    ctend.service("stays", exec="sleep 1000", output="null")
    ctend.start()
    wait_for(lambda: (ctend.cgroot / "gone.service").exists(), what="cgroup made")
    ctend.remove_service("gone")
    ctend.ctl("reload", check=0)
    wait_for(lambda: not (ctend.cgroot / "gone.service").exists(), what="cgroup removed")
    assert (ctend.cgroot / "stays.service").exists()


def test_start_right_after_a_stop_gets_a_fresh_cgroup(ctend):
    """A start that follows a stop at once makes the cgroup anew: the new
    process is alone in a cgroup that is not the old one."""
    ctend.service("again", exec="sleep 1000", output="null")
    ctend.start()
    unit = ctend.cgroot / "again.service"
    for _ in range(5):
        wait_for(lambda: ctend.svc("again")["state"] == "running" and cgroup_procs(unit),
                 what="running in its cgroup")
        ino, pids = unit.stat().st_ino, cgroup_procs(unit)
        ctend.ctl("stop", "again", check=0)
        ctend.ctl("start", "again", check=0)
        s = ctend.svc("again")
        assert s["state"] == "running", s
        assert unit.stat().st_ino != ino, "a cgroup made anew"
        now = cgroup_procs(unit)
        assert len(now) == 1 and now[0] not in pids, (now, pids)
    assert "cannot" not in ctend.read_log()


def test_without_cgroup_group_is_the_default_and_cgroup_fails_clearly(tmp_path):
    """tendd in the root cgroup, nothing configured: no cgroup, said once;
    kill_mode = cgroup asked explicitly fails with the reason."""
    with open("/proc/self/cgroup") as f:
        own = [l.strip()[3:] for l in f if l.startswith("0::")]
    if own != ["/"]:
        pytest.skip("tendd would not start in the root cgroup here")
    t = Tend(tmp_path)
    try:
        t.service("plain", exec="sleep 1000", output="null")
        t.service("wants", exec="sleep 1000", output="null", kill_mode="cgroup")
        t.start()
        wait_for(lambda: t.svc("plain")["state"] == "running")
        wait_for(lambda: t.svc("wants")["state"] == "failed")
        assert "kill_mode = cgroup, but tend has no cgroup" in t.svc("wants")["reason"]
        assert t.read_log().count("no cgroup for services") == 1
        assert "not delegated to it" in t.read_log()
    finally:
        assert not t.close()


def test_configured_but_unusable_cgroup_is_an_error(tmp_path):
    t = Tend(tmp_path)
    t.write_config(f"cgroup = {tmp_path}/not-a-cgroup\n")
    try:
        t.start(wait=False)
        assert t.wait_exit() == 1
        assert "not under a cgroup2 mount" in t.read_log()
    finally:
        t.close()


def test_limit_without_its_controller_fails_clearly(ctend):
    """The memory controller is not there: the service does not start, and
    the reason names the key and the controller; --check warns."""
    ctend.service("mem", exec="sleep 1000", output="null", memory_max="64M")
    ctend.service("ok", exec="sleep 1000", output="null")
    r = subprocess.run([str(ctend.tendd), "--check", "-c", str(ctend.config)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ctend.start()
    wait_for(lambda: ctend.svc("mem")["state"] == "failed")
    reason = ctend.svc("mem")["reason"]
    if "memory" in (ctend.cgroot / "cgroup.controllers").read_text().split():
        pytest.skip("this machine's cgroup2 has the memory controller")
    assert reason.startswith("memory_max: the memory controller is not"), reason
    assert "mem.ini: warning: memory_max: the memory controller" in r.stderr, r.stderr
    assert ctend.svc("ok")["state"] == "running"


def test_limits_need_the_cgroup(ctend):
    ctend.service("grp", exec="sleep 1000", output="null", kill_mode="group", tasks_max="10")
    ctend.start()
    wait_for(lambda: ctend.svc("grp")["state"] == "failed")
    assert ctend.svc("grp")["reason"] == \
        "resource limits need the service's cgroup: kill_mode = group"


def test_cpu_usage_is_shown(ctend):
    """cpu.stat works without the cpu controller: the CPU a service used
    shows in status; memory shows only with the memory controller."""
    ctend.service("busy", output="null",
                  exec="sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 1000'")
    ctend.service("grp", exec="sleep 1000", output="null", kill_mode="group")
    ctend.start()
    wait_for(lambda: (ctend.svc("busy")["cpu_usec"] or 0) > 1000, what="CPU used")
    g = ctend.svc("grp")
    assert g["cpu_usec"] is None and g["memory_bytes"] is None, g


def test_waiting_for_the_cgroup_to_empty_takes_no_wakeups(ctend):
    """While a stop waits 1 s for the last process of a cgroup, tendd sleeps:
    the end comes through inotify on cgroup.events, not from polling."""
    trace = ctend.world_dir() / "trace"
    linger = LINGER.replace("sleep 0.5", "sleep 1")
    ctend.service("slow", output="null", stop_timeout="20s",
                  exec=script(ctend, "slow.sh", linger.format(trace=trace)))
    log = ctend.dir / "strace.log"
    ctend.start(wrapper=("strace", "-qq", "-ttt", "-e", "trace=epoll_wait", "-o", str(log)))
    unit = ctend.cgroot / "slow.service"
    wait_for(lambda: len(cgroup_procs(unit)) >= 3, what="the service and its children")
    t0 = time.time()
    ctend.ctl("stop", "slow", check=0)
    t1 = time.time()
    assert t1 - t0 >= 0.9 and "old-gone" in trace.read_text()
    waits = [float(l.split()[0]) for l in log.read_text().splitlines() if "epoll_wait" in l]
    during = [t for t in waits if t0 <= t <= t1]
    # The stop request, its reply, the main process's exit, the cgroup's
    # events: a handful, whatever the wait lasts.
    print(f"{len(during)} wakeups in {t1 - t0:.2f} s")
    assert len(during) < 30, f"{len(during)} wakeups in {t1 - t0:.2f} s"


def test_stop_signal_reaches_a_cgroup_of_1500_processes(ctend):
    """cgroup.procs longer than a page (1500 pids) is read whole: every
    process gets stop_signal at once, none waits for the KILL at
    stop_timeout."""
    ctend.service("many", output="null", stop_timeout="30s",
                  exec=script(ctend, "many.sh", "i=0\nwhile [ $i -lt 1500 ]; do sleep 1000 & "
                                                "i=$((i+1)); done\nexec sleep 1000\n"))
    ctend.start()
    unit = ctend.cgroot / "many.service"
    wait_for(lambda: len(cgroup_procs(unit)) >= 1501, timeout=60, what="1501 processes")
    t0 = time.monotonic()
    ctend.ctl("stop", "many", check=0, timeout=60)
    took = time.monotonic() - t0
    assert took < 15, f"the stop took {took:.1f} s: some processes waited for the KILL"
    assert "timed out" not in ctend.svc("many")["reason"]
