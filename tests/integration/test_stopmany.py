"""Many services in one call: tendctl start|stop|restart NAME... and --all use
StartServices/StopServices/RestartServices, one call for every name; unknown
names refuse the whole call; the dependency order holds inside the set."""

import os
import re
import socket
import time

from conftest import dbus_auth, dbus_call, pidfd_alive, wait_for
from test_deps import first, notify_service
from test_readiness import events

SLOW_STOP = "sh -c 'trap \"\" TERM; while :; do sleep 0.05; done'"


def sleepers(tend, *names):
    for n in names:
        tend.service(n, exec="sleep 1000")
    tend.start()
    return {n: tend.wait_running(n) for n in names}


def requested(tend, verb):
    """tendd's log lines for operator requests of verb: one per call."""
    return [l for l in tend.read_log().splitlines() if f"{verb} " in l and "requested by" in l]


def test_stop_names_in_one_call(tend):
    before = sleepers(tend, "a", "b", "c", "d")
    fds = {n: tend.pidfd(s["pid"]) for n, s in before.items()}
    try:
        tend.ctl("stop", "a", "b", "c", check=0)
        # Blocking: every one is gone when tendctl returns.
        for n in "abc":
            assert not pidfd_alive(fds[n]), n
            s = tend.svc(n)
            assert s["state"] == "stopped" and not s["want_up"], s
        assert pidfd_alive(fds["d"]) and tend.state("d") == "running"
    finally:
        for fd in fds.values():
            os.close(fd)
    # One call: one line in the log, not one per service.
    lines = requested(tend, "stop")
    assert len(lines) == 1 and "stop of 3 services requested" in lines[0], lines
    # A name given twice is one service.
    tend.ctl("start", "a", "b", "a", check=0)
    assert tend.state("a") == "running" and tend.state("b") == "running"
    assert "start of 2 services requested" in requested(tend, "start")[-1]


def test_stop_all_start_all_restart_all(tend):
    before = sleepers(tend, "a", "b", "c")
    tend.ctl("stop", "--all", check=0)
    assert {s["name"]: s["state"] for s in tend.status()} == dict.fromkeys("abc", "stopped")
    assert "stop of all 3 services requested" in requested(tend, "stop")[-1]
    tend.ctl("start", "--all", check=0)
    mid = {s["name"]: s for s in tend.status()}
    assert all(s["state"] == "running" for s in mid.values()), mid
    tend.ctl("restart", "--all", check=0)
    after = {s["name"]: s for s in tend.status()}
    for n in "abc":
        assert after[n]["state"] == "running" and after[n]["pid"] != mid[n]["pid"], after[n]
        assert mid[n]["pid"] != before[n]["pid"]
    # --all and names together is a usage error; so is nothing at all.
    r = tend.ctl("stop", "--all", "a", check=2)
    assert "--all" in r.stderr
    tend.ctl("stop", check=2)
    assert tend.state("a") == "running"


def test_unknown_name_refuses_the_whole_call(tend):
    before = sleepers(tend, "a", "b")
    r = tend.ctl("stop", "a", "nosuch", "b", "other", check=1)
    assert "nosuch: unknown service" in r.stderr and "other: unknown service" in r.stderr, r.stderr
    # Nothing was stopped, not even the names before the unknown one.
    for n in "ab":
        s = tend.svc(n)
        assert s["state"] == "running" and s["pid"] == before[n]["pid"] and s["want_up"], s
    assert requested(tend, "stop") == []
    # The same with --no-block: checked before anything is done.
    r = tend.ctl("stop", "--no-block", "a", "nosuch", check=1)
    assert "nosuch: unknown service" in r.stderr
    assert tend.state("a") == "running"


def test_failures_are_reported_together(tend):
    tend.service("ok", exec="sleep 1000")
    tend.service("bad1", exec="/nonexistent/one", restart="never")
    tend.service("bad2", exec="/nonexistent/two", restart="never")
    tend.start()
    tend.wait_running("ok")
    tend.wait_state("bad1", "failed")
    tend.wait_state("bad2", "failed")
    r = tend.ctl("start", "ok", "bad1", "bad2", check=1)
    lines = [l for l in r.stderr.splitlines() if l.startswith("tendctl: ")]
    assert any(l.startswith("tendctl: bad1: ") for l in lines), r.stderr
    assert any(l.startswith("tendctl: bad2: ") for l in lines), r.stderr
    assert not any("ok" in l for l in lines), r.stderr
    assert tend.state("ok") == "running"


def test_stop_many_keeps_dependency_order(tend):
    # c requires b, b runs after a: whatever order they are named in, c
    # stops first, then b, then a.
    log = tend.dir / "events"
    notify_service(tend, "a", log)
    notify_service(tend, "b", log, after="a")
    notify_service(tend, "c", log, requires="b")
    notify_service(tend, "x", log)
    tend.start()
    for n in "abcx":
        tend.wait_state(n, "running")
    tend.ctl("stop", "a", "b", "c", check=0)
    ev = events(log)
    assert first(ev, "c", "stop") <= first(ev, "b", "stop") <= first(ev, "a", "stop"), ev
    assert tend.state("x") == "running"
    for n in "abc":
        assert tend.state(n) == "stopped"
    # Back up in dependency order, in one call, named backwards.
    tend.ctl("start", "c", "b", "a", check=0)
    for n in "abc":
        assert tend.state(n) == "running"
    # Stopping only the dependency: it waits for what requires it.
    log.write_text("")
    tend.ctl("stop", "b", check=0)
    ev = events(log)
    assert first(ev, "c", "stop") <= first(ev, "b", "stop"), ev
    assert tend.state("a") == "running"


def test_no_block(tend):
    tend.service("s1", exec=SLOW_STOP, stop_timeout="1500ms")
    tend.service("s2", exec=SLOW_STOP, stop_timeout="1500ms")
    tend.start()
    tend.wait_running("s1")
    tend.wait_running("s2")
    t0 = time.monotonic()
    tend.ctl("stop", "--no-block", "s1", "s2", check=0)
    assert time.monotonic() - t0 < 1.0, "--no-block waited"
    assert tend.state("s1") == "stopping" and tend.state("s2") == "stopping"
    tend.wait_state("s1", "stopped", timeout=10)
    tend.wait_state("s2", "stopped", timeout=10)
    tend.ctl("start", "--no-block", "--all", check=0)
    tend.wait_running("s1")
    tend.wait_running("s2")


def test_client_disconnecting_mid_call(tend):
    tend.service("slow", exec=SLOW_STOP, stop_timeout="500ms")
    tend.service("slow2", exec=SLOW_STOP, stop_timeout="500ms")
    tend.service("other", exec="sleep 1000")
    tend.start()
    tend.wait_running("slow")
    tend.wait_running("slow2")
    with tend.connect() as s:
        s.sendall(dbus_auth() + dbus_call(1, "StopServices", "ast", [["slow", "slow2"], 0]))
        wait_for(lambda: tend.state("slow2") == "stopping", what="stop to begin")
    tend.wait_state("slow", "stopped", timeout=10)
    tend.wait_state("slow2", "stopped", timeout=10)
    # Reset mid-call (RST), on a call that waits for several.
    tend.ctl("start", "slow", check=0)
    other = tend.svc("other")["pid"]
    s = tend.connect()
    s.sendall(dbus_auth() + dbus_call(2, "RestartServices", "ast", [["slow", "other"], 0]))
    wait_for(lambda: tend.state("slow") == "stopping", what="the restart to begin")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    s.close()
    tend.wait_running("slow")
    tend.wait_running("other", not_pid=other)
    # Flags it does not know, and names with --all, are refused.
    for flags, names in ((0x100, []), (1, ["slow"])):
        with tend.connect() as s:
            s.sendall(dbus_auth() + dbus_call(3, "StopServices", "ast", [names, flags]))
            s.settimeout(10)
            data = b""
            while b"InvalidArgs" not in data:
                chunk = s.recv(4096)
                assert chunk, data
                data += chunk
    tend.ctl("status", "slow", "other", check=0)
    assert tend.stop() == 0


def test_thousand_names_in_one_call(tend):
    # More names than one message holds: tendctl sends two calls at once.
    names = [f"service-number-{i:04d}" for i in range(1200)]
    for n in names:
        tend.service(n, exec="sleep 1000", enabled="false")
    tend.start()
    tend.ctl("start", *names, check=0, timeout=120)
    st = tend.status()
    assert sum(s["state"] == "running" for s in st) == len(names)
    assert len(requested(tend, "start")) == 2
    tend.ctl("stop", "--all", check=0, timeout=120)
    st = tend.status()
    assert all(s["state"] == "stopped" for s in st)
    lines = requested(tend, "stop")
    assert len(lines) == 1 and re.search(r"stop of all 1200 services", lines[0]), lines
