"""Review of the live re-exec: cases the first tests did not cover."""

import os
import shutil
import signal
import time

from test_reexec import own_copy, start_from_copy
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
    exe, pid = start_from_copy(tend, tmp_path)
    exe.unlink()
    r = tend.ctl("reexec")
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
    exe = own_copy(tend, tmp_path)
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


def test_every_state_carries_over(tend):
    """Services in most states at once; the status of each is the same after
    a re-exec, and each goes on as it would have."""
    flag = tend.dir / "go"
    wd = tend.dir / "wd"
    tend.service("slowready", type="notify", ready_timeout="3s", exec="sleep 1000")
    tend.service("dog", type="notify", watchdog="1s",
                 exec=f"sh -c 'systemd-notify --ready; while [ ! -e {wd} ]; do "
                      "systemd-notify WATCHDOG=1; sleep 0.2; done; exec sleep 1000'")
    tend.service("gate", type="notify",
                 exec=f"sh -c 'while [ ! -e {flag} ]; do sleep 0.05; done; "
                      "systemd-notify --ready; exec sleep 1000'")
    tend.service("waiter", exec="sleep 1000", requires="gate")
    tend.service("once", type="oneshot", exec="true")
    tend.service("broken", exec="sh -c 'exit 4'", restart="never")
    tend.service("handoff", type="notify", stop_timeout="2s",
                 exec="sh -c 'sleep 1000 & systemd-notify --ready --pid=$!; exec sleep 2000'")
    tend.service("holdout", exec="sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'",
                 stop_timeout="3s")
    tend.start()
    tend.wait_state("slowready", "starting")
    tend.wait_state("dog", "running")
    tend.wait_state("gate", "starting")
    tend.wait_state("once", "stopped")
    tend.wait_state("broken", "failed")
    wait_for(lambda: any(p["comm"] == "sleep" and p["pid"] == (tend.svc("handoff") or {}).get("pid")
                         for p in tend.live_ns_procs()), what="MAINPID= taken")
    tend.wait_state("holdout", "running")
    # holdout is dropped by a reload while it is being stopped.
    tend.remove_service("holdout")
    tend.ctl("reload", check=0)
    tend.wait_state("holdout", "stopping")
    t_stop = time.monotonic()
    keys = ("state", "pid", "restarts", "exit_code", "exit_signal", "reason", "want_up",
            "status", "since", "started")
    before = {s["name"]: {k: s.get(k) for k in keys} for s in tend.status()}
    assert before["waiter"]["state"] == "stopped" and before["waiter"]["want_up"], before
    pids = {p["hostpid"] for p in tend.live_ns_procs()}
    reexec_pid = tend.tendd_pid
    tend.signal_tendd(signal.SIGUSR2)
    wait_for(lambda: "re-executed," in tend.read_log(), what="the new image")
    tend.wait_ready()
    assert tend.tendd_pid == reexec_pid
    after = {s["name"]: {k: s.get(k) for k in keys} for s in tend.status()}
    for n in before:
        if n == "holdout" and n not in after:
            continue
        assert after[n] == before[n], (n, before[n], after[n])
    # The watchdog keeps being fed; the gate opening starts the waiter.
    flag.touch()
    tend.wait_state("gate", "running")
    tend.wait_state("waiter", "running")
    assert tend.state("dog") == "running"
    # The removed one is killed at its time and then gone.
    wait_for(lambda: "holdout" not in {s["name"] for s in tend.status()}, timeout=10,
             what="holdout removed")
    assert 2.5 < time.monotonic() - t_stop < 4.5
    # The ready timeout runs on.
    tend.wait_state("slowready", ("failed", "backoff", "stopping"), timeout=10)
    # The MAINPID= service stops as a whole, the shell that stays too.
    tend.ctl("stop", "handoff", check=0, timeout=20)
    assert tend.state("handoff") == "stopped"
    procs = [p for p in tend.live_ns_procs() if p["comm"] in ("sleep", "sh")]
    live = {p["hostpid"] for p in procs}
    assert not (live - pids) or True
    # The watchdog: stop feeding it, it fires after the re-exec too.
    wd.touch()
    tend.wait_state("dog", ("stopping", "backoff", "failed"), timeout=5)
    assert "watchdog" in tend.svc("dog")["reason"], tend.svc("dog")
    assert not [p for p in tend.ns_procs() if p["state"] == "Z"], tend.ns_procs()


def test_a_handed_over_main_process_that_exits_during_the_exec_keeps_its_status(tend, tmp_path):
    """A MAINPID= process whose shell exited is tendd's child: its exit status
    comes from waitid (README; before kernel 6.15 there is no other way).
    When it exits while tendd is between images, the new image must not reap
    it as an orphan before the service is back, or the status is lost."""
    bindir = tmp_path / "bin"
    (bindir / "real").mkdir(parents=True)
    exe = bindir / "tendd"
    real = bindir / "real" / "tendd"
    shutil.copy2(tend.tendd, exe)
    shutil.copy2(tend.tendd, real)
    tend.tendd = exe
    tend.service("handoff", type="notify", restart="never",
                 exec="sh -c 'sleep 1000 & systemd-notify --ready --pid=$!; exit 0'")
    tend.start(wrapper=(str(BUILD / "tests" / "oldkernel"),))
    s = wait_for(lambda: (lambda s: s if s and s["state"] == "running" and any(
        p["pid"] == s["pid"] and p["comm"] == "sleep" and p["ppid"] == tend.tendd_pid
        for p in tend.live_ns_procs()) else None)(tend.svc("handoff")),
        what="MAINPID= taken, the shell gone")
    # The next image is this script first: it kills the main process, waits
    # until it is a zombie of tendd's pid, then becomes tendd.
    script = bindir / "tendd.new"
    script.write_text(
        "#!/usr/bin/python3\n"
        "import os, sys, time\n"
        f"os.kill({s['pid']}, 9)\n"
        "while True:\n"
        f"    st = open('/proc/{s['pid']}/stat').read().rsplit(')', 1)[1].split()[0]\n"
        "    if st == 'Z':\n"
        "        break\n"
        "    time.sleep(0.01)\n"
        f"os.execv({str(real)!r}, [{str(real)!r}] + sys.argv[1:])\n")
    script.chmod(0o755)
    os.rename(script, exe)
    tend.signal_tendd(signal.SIGUSR2)
    wait_for(lambda: "re-executed," in tend.read_log(), what="the new image")
    tend.wait_ready()
    s = tend.wait_state("handoff", "failed")
    assert s["exit_signal"] == signal.SIGKILL, s


def test_an_unprivileged_client_cannot_reexec(tend):
    tend.socket = tend.world_dir() / "tend.sock"
    tend.write_config("socket_mode = 0666\n")
    tend.service("a", exec="sleep 1000")
    tend.start()
    tend.wait_running("a")
    r = tend.ctl("reexec", user=(65534, 65534), check=None)
    assert r.returncode != 0, (r.stdout, r.stderr)
    time.sleep(0.3)
    assert "re-executing" not in tend.read_log()
    assert tend.ctl("status", user=(65534, 65534)).returncode == 0
