"""Stopping: stop signal, escalation to SIGKILL, exec errors, daemon shutdown."""

import os
import signal
import time

from conftest import pidfd_alive, wait_for

# Ignores SIGTERM, and so do its two grandchildren (ignored signals are inherited).
STUBBORN = "sh -c 'trap \"\" TERM; sleep 1000 & sleep 1000 & wait'"
# Plain sh with two grandchildren that die on SIGTERM.
FAMILY = "sh -c 'sleep 1000 & sleep 1000 & wait'"


def family(tend, name, n_children=2):
    """Wait until name runs with n_children children; return (main, [children])
    as namespace process dicts."""
    s = tend.wait_running(name)

    def found():
        procs = tend.live_ns_procs()
        main = [p for p in procs if p["pid"] == s["pid"]]
        if not main:
            return None
        kids = [p for p in procs if p["ppid"] == main[0]["hostpid"] and p["comm"] == "sleep"]
        return (main[0], kids) if len(kids) == n_children else None
    return wait_for(found, what=f"{name} and its {n_children} children")


def group_members(tend, pgid):
    return [p for p in tend.live_ns_procs() if p["pgid"] == pgid]


def test_term_ignoring_service_is_killed_with_grandchildren(tend):
    tend.service("stubborn", exec=STUBBORN, stop_timeout="300ms")
    tend.start()
    main, kids = family(tend, "stubborn")
    # The service leads its own process group (and session).
    assert main["pgid"] == main["hostpid"] and main["sid"] == main["hostpid"]
    assert all(k["pgid"] == main["hostpid"] for k in kids)
    fds = [os.pidfd_open(p["hostpid"]) for p in [main] + kids]
    try:
        t0 = time.monotonic()
        tend.ctl("stop", "stubborn", check=0)
        elapsed = time.monotonic() - t0
        assert elapsed >= 0.28, f"stop returned after {elapsed:.3f}s, before stop_timeout"
        assert elapsed < 5, f"stop took {elapsed:.3f}s"
        s = tend.svc("stubborn")
        assert s["state"] == "stopped"
        assert s["exit_signal"] == signal.SIGKILL
        assert not pidfd_alive(fds[0]), "main process still alive after stop returned"
        wait_for(lambda: not any(pidfd_alive(fd) for fd in fds), timeout=3,
                 what="grandchildren to die")
        assert group_members(tend, main["hostpid"]) == []
    finally:
        for fd in fds:
            os.close(fd)


def test_stop_waits_and_returns_0(tend):
    tend.service("a", exec="sleep 1000")
    tend.start()
    s = tend.wait_running("a")
    fd = tend.pidfd(s["pid"])
    try:
        tend.ctl("stop", "a", check=0)
        # No polling: stop returned only once the process was gone.
        s = tend.svc("a")
        assert s["state"] == "stopped"
        assert s["pid"] is None
        assert s["want_up"] is False
        assert s["exit_signal"] == signal.SIGTERM
        assert not pidfd_alive(fd)
    finally:
        os.close(fd)
    tend.ctl("status", "a", check=3)
    # Stopping a stopped service is fine.
    tend.ctl("stop", "a", check=0)


def test_stop_during_backoff_goes_to_stopped(tend):
    log = tend.dir / "starts"
    tend.service("a", exec=f"sh -c 'echo x >> {log}; exit 1'", restart_delay="5s")
    tend.start()
    tend.wait_state("a", "backoff")
    n = len(log.read_text().split())
    t0 = time.monotonic()
    tend.ctl("stop", "a", check=0)
    assert time.monotonic() - t0 < 2
    assert tend.state("a") == "stopped"
    assert len(log.read_text().split()) == n


def test_missing_binary_is_failed_with_reason(tend):
    tend.service("ghost", exec="/nonexistent/tend-test-binary --flag")
    tend.start()
    s = tend.wait_state("ghost", "failed")
    assert "No such file or directory" in s["reason"], s
    # An exec error is not a crash of the program: no restarts were spent on it.
    assert s["restarts"] == 0, s
    assert s["pid"] is None
    r = tend.ctl("start", "ghost")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "ghost" in r.stderr and "No such file or directory" in r.stderr, r.stderr
    assert tend.state("ghost") == "failed"


def test_sigterm_to_tendd_stops_everything_in_parallel(tend):
    tend.service("plain", exec="sleep 1000")
    tend.service("family", exec=FAMILY)
    tend.service("stubborn1", exec=STUBBORN, stop_timeout="1s")
    tend.service("stubborn2", exec=STUBBORN, stop_timeout="1s")
    tend.service("crashing", exec="sh -c 'exit 1'", restart_delay="10s")
    tend.start()
    for name in ("family", "stubborn1", "stubborn2"):
        family(tend, name)
    tend.wait_running("plain")
    tend.wait_state("crashing", "backoff")
    t0 = time.monotonic()
    tend.signal_tendd(signal.SIGTERM)
    wait_for(lambda: not tend.tendd_alive(), timeout=10, what="tendd to exit")
    elapsed = time.monotonic() - t0
    rc = tend.wait_exit()
    assert rc == 0, f"tendd exited {rc}"
    # Two services each needing their 1s stop timeout: stopped in parallel.
    assert 0.9 <= elapsed < 1.9, f"shutdown took {elapsed:.3f}s"
    survivors, lines = tend.report()
    assert survivors == 0, "processes left after tendd exited:\n" + "\n".join(lines)


def test_sigint_to_tendd_also_stops_everything(tend):
    tend.service("family", exec=FAMILY)
    tend.start()
    family(tend, "family")
    assert tend.stop(signal.SIGINT) == 0
    survivors, lines = tend.report()
    assert survivors == 0, "\n".join(lines)


def test_stop_signal_int_is_used(tend):
    out = tend.dir / "got"
    ready = tend.dir / "traps-set"
    tend.service("a", exec=f"sh -c 'trap \"echo INT >> {out}; exit 0\" INT; "
                           f"trap \"echo TERM >> {out}; exit 0\" TERM; touch {ready}; "
                           f"while :; do sleep 0.05; done'",
                 stop_signal="INT", stop_timeout="5s")
    tend.start()
    tend.wait_running("a")
    wait_for(ready.exists, what="the traps to be set")
    t0 = time.monotonic()
    tend.ctl("stop", "a", check=0)
    assert time.monotonic() - t0 < 3, "stop needed the timeout: INT was not delivered"
    assert out.read_text() == "INT\n"
    s = tend.svc("a")
    assert s["state"] == "stopped"
    assert s["exit_code"] == 0
