"""Dependencies: after/requires ordering, a diamond, requirement loss and
return, stop order, and cycles rejected at --check and at reload."""

import signal
import subprocess

from conftest import BUILD, TENDD, wait_for
from test_readiness import NOTIFIER, events


def notify_service(tend, name, log, delay=200, **keys):
    tend.service(name, type="notify", exec=f"{NOTIFIER} -r {delay} -l {log} {name}", **keys)


def first(ev, name, what):
    for n, e, t in ev:
        if n == name and e == what:
            return t
    raise AssertionError(f"no '{name} {what}' in {ev}")


def test_chain_starts_in_order_and_stops_in_reverse(tend):
    log = tend.dir / "events"
    notify_service(tend, "a", log)
    notify_service(tend, "b", log, after="a")
    notify_service(tend, "c", log, after="b")
    tend.start()
    for n in "abc":
        tend.wait_state(n, "running")
    ev = events(log)
    # Each starts only once the previous one is ready.
    assert first(ev, "a", "ready") <= first(ev, "b", "start")
    assert first(ev, "b", "ready") <= first(ev, "c", "start")
    assert tend.stop() == 0
    ev = events(log)
    assert first(ev, "c", "stop") <= first(ev, "b", "stop") <= first(ev, "a", "stop"), ev


def test_waiting_service_shows_what_it_waits_for(tend):
    gate = tend.dir / "gate"
    tend.service("slow", type="notify",
                 exec=f"sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done; "
                      f"systemd-notify --ready; exec sleep 1000'")
    tend.service("web", exec="sleep 1000", after="slow")
    tend.start()
    s = tend.wait_state("slow", "starting")
    w = tend.svc("web")
    assert w["state"] == "stopped" and w["reason"] == "waiting for slow" and w["want_up"], w
    gate.touch()
    tend.wait_state("web", "running")


def test_diamond_starts_shared_dependency_once(tend):
    log = tend.dir / "events"
    notify_service(tend, "base", log)
    notify_service(tend, "left", log, requires="base")
    notify_service(tend, "right", log, requires="base")
    notify_service(tend, "top", log, requires="left right")
    tend.start()
    for n in ("base", "left", "right", "top"):
        tend.wait_state(n, "running")
    ev = events(log)
    assert [e for n, e, _ in ev if n == "base"].count("start") == 1, ev
    assert first(ev, "base", "ready") <= min(first(ev, "left", "start"),
                                             first(ev, "right", "start"))
    assert max(first(ev, "left", "ready"), first(ev, "right", "ready")) <= \
        first(ev, "top", "start")


def test_start_pulls_in_requirements(tend):
    log = tend.dir / "events"
    notify_service(tend, "db", log, enabled="no")
    tend.service("app", exec="sleep 1000", requires="db", enabled="no")
    tend.start()
    assert tend.state("db") == "stopped" and tend.state("app") == "stopped"
    tend.ctl("start", "app", check=0)
    assert tend.state("app") == "running" and tend.state("db") == "running"


def test_killed_requirement_stops_dependents_and_brings_them_back(tend):
    log = tend.dir / "events"
    notify_service(tend, "db", log, restart="always", restart_delay="300ms")
    tend.service("app", exec="sleep 1000", requires="db")
    tend.start()
    db = tend.wait_state("db", "running")
    app = tend.wait_running("app")
    tend.kill(db["pid"], signal.SIGKILL)
    s = tend.wait_state("app", ("stopping", "stopped"))
    s = tend.wait_state("app", "stopped")
    assert "db" in s["reason"] and s["want_up"], s
    new_db = tend.wait_running("db", not_pid=db["pid"])
    new_app = tend.wait_running("app", not_pid=app["pid"])
    assert new_db["restarts"] == 1 and new_app["pid"] != app["pid"]


def test_stopping_a_requirement_stops_dependents_first(tend):
    log = tend.dir / "events"
    notify_service(tend, "db", log)
    notify_service(tend, "app", log, requires="db")
    tend.start()
    tend.wait_state("app", "running")
    tend.ctl("stop", "db", check=0)
    assert tend.state("db") == "stopped" and tend.state("app") == "stopped"
    ev = events(log)
    assert first(ev, "app", "stop") <= first(ev, "db", "stop")
    assert "db" in tend.svc("app")["reason"]
    # Starting db again brings app back: it is still wanted up.
    tend.ctl("start", "db", check=0)
    tend.wait_state("app", "running")


def test_failed_requirement_fails_the_start(tend):
    tend.service("broken", exec="/nonexistent/program", enabled="no")
    tend.service("app", exec="sleep 1000", requires="broken", enabled="no")
    tend.start()
    r = tend.ctl("start", "app")
    assert r.returncode == 1 and "broken" in r.stderr, (r.returncode, r.stderr)
    s = tend.svc("app")
    assert s["state"] == "stopped" and "requirement broken failed" in s["reason"], s


def write_cycle(tend):
    tend.service("a", exec="sleep 1", after="c")
    tend.service("b", exec="sleep 1", requires="a")
    tend.service("c", exec="sleep 1", after="b")


def test_cycle_rejected_by_check(tend):
    write_cycle(tend)
    r = subprocess.run([str(TENDD), "--check", "-c", str(tend.config)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert "dependency cycle a -> c -> b -> a" in r.stderr, r.stderr
    for f in ("a.ini", "b.ini", "c.ini"):
        assert f in r.stderr


def test_cycle_rejected_at_reload(tend):
    tend.service("a", exec="sleep 1000")
    tend.service("b", exec="sleep 1000", requires="a")
    tend.start()
    before = {n: tend.wait_running(n)["pid"] for n in ("a", "b")}
    tend.service("a", exec="sleep 1000", after="b")
    r = tend.ctl("reload")
    assert r.returncode == 1 and "dependency cycle" in r.stderr, r.stderr
    assert {n: tend.svc(n)["pid"] for n in ("a", "b")} == before


def test_restart_of_requirement_restarts_dependents(tend):
    log = tend.dir / "events"
    notify_service(tend, "db", log)
    tend.service("app", exec="sleep 1000", requires="db")
    tend.start()
    db = tend.wait_state("db", "running")
    app = tend.wait_running("app")
    tend.ctl("restart", "db", check=0)
    tend.wait_running("db", not_pid=db["pid"])
    tend.wait_running("app", not_pid=app["pid"])



def test_a_dependent_starts_when_its_dependency_comes_up_after_another_fails(tend):
    """db spawned from the spawn queue in the loop's deferred work (bad's
    exit in the same iteration): app, queued by db's start, used to be left
    waiting for db for good. Timing decides whether db goes through the
    spawn queue here; test-manager's test_spawn_queue_wakes_dependents makes
    it happen every time."""
    tend.service("app", exec="sleep 1002", requires="db")
    tend.service("bad", exec="false", restart="never")
    tend.service("db", exec="sleep 1001")
    tend.start()
    tend.wait_state("bad", "failed")
    tend.wait_running("db")
    tend.wait_running("app")

