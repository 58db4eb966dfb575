"""Reload: apply only what changed; a bad config changes nothing."""

import os
import re
import signal

import pytest

from conftest import pidfd_alive, wait_for


def snapshot(tend):
    return {s["name"]: s for s in tend.status()}


def start_four(tend):
    tend.service("keep", exec="sleep 1000")
    tend.service("change", exec="sleep 1000")
    tend.service("remove", exec="sleep 1000")
    tend.service("policy", exec="sleep 1000", stop_timeout="10s")
    tend.start()
    for n in ("keep", "change", "remove", "policy"):
        tend.wait_running(n)
    return snapshot(tend)


def test_reload_touches_only_changed_added_removed(tend):
    before = start_four(tend)
    remove_fd = tend.pidfd(before["remove"]["pid"])
    try:
        tend.service("change", exec="sleep 1001")
        tend.remove_service("remove")
        tend.service("added", exec="sleep 1000")
        tend.ctl("reload", check=0)

        tend.wait_running("change", not_pid=before["change"]["pid"])
        tend.wait_running("added")
        wait_for(lambda: "remove" not in snapshot(tend), what="remove to disappear")
        wait_for(lambda: not pidfd_alive(remove_fd), timeout=5, what="remove's process to end")
    finally:
        os.close(remove_fd)
    after = snapshot(tend)
    assert set(after) == {"keep", "change", "added", "policy"}
    for n in ("keep", "policy"):
        assert after[n]["pid"] == before[n]["pid"], f"{n} was restarted"
        assert after[n]["since"] == before[n]["since"], f"{n} changed state"
        assert after[n]["state"] == "running"
    procs = {p["pid"]: p for p in tend.live_ns_procs()}
    assert procs[after["change"]["pid"]]["cmdline"] == "sleep 1001"
    assert before["change"]["pid"] not in procs


def test_reload_policy_only_change_keeps_the_process(tend):
    before = start_four(tend)
    # stop_timeout is policy: applied live, no restart.
    tend.service("policy", exec="sleep 1000", stop_timeout="2s", restart="always")
    tend.ctl("reload", check=0)
    after = snapshot(tend)
    for n in before:
        assert after[n]["pid"] == before[n]["pid"], f"{n} was restarted"
        assert after[n]["state"] == "running"


@pytest.mark.parametrize("bad", [
    ("syntax", "[service]\nexec = sleep 1000\nthis line is not ini\n", 3),
    ("unknown-key", "[service]\nexec = sleep 1000\nfrobnicate = yes\n", 3),
    ("bad-value", "[service]\nexec = sleep 1000\n\nrestart_delay = soon\n", 4),
])
def test_bad_reload_changes_nothing(tend, bad):
    kind, text, line = bad
    before = start_four(tend)
    # Valid changes next to the bad file must not be applied either.
    tend.service("change", exec="sleep 1001")
    tend.remove_service("remove")
    tend.service("added", exec="sleep 1000")
    tend.service("broken", text=text)
    r = tend.ctl("reload")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert re.search(rf"broken\.ini:{line}\b", r.stdout + r.stderr), (r.stdout, r.stderr)
    after = snapshot(tend)
    assert set(after) == set(before)
    for n in before:
        assert after[n]["pid"] == before[n]["pid"], f"{n} changed"
        assert after[n]["state"] == "running"
    # tendd logged it too, and still works.
    assert "broken.ini" in tend.read_log()
    tend.ctl("stop", "keep", check=0)


def test_sighup_reloads(tend):
    before = start_four(tend)
    tend.service("change", exec="sleep 1001")
    tend.service("added", exec="sleep 1000")
    tend.signal_tendd(signal.SIGHUP)
    tend.wait_running("change", not_pid=before["change"]["pid"])
    tend.wait_running("added")
    after = snapshot(tend)
    assert after["keep"]["pid"] == before["keep"]["pid"]
    assert after["remove"]["pid"] == before["remove"]["pid"]


def test_bad_sighup_reload_changes_nothing(tend):
    before = start_four(tend)
    tend.service("change", exec="sleep 1001")
    tend.service("broken", text="[service]\nexec = 'unterminated\n")
    size = len(tend.read_log())
    tend.signal_tendd(signal.SIGHUP)
    wait_for(lambda: "broken.ini:2" in tend.read_log()[size:], what="the error in tendd's log")
    after = snapshot(tend)
    assert {n: s["pid"] for n, s in after.items()} == {n: s["pid"] for n, s in before.items()}


def test_reload_of_stopped_service_keeps_it_stopped(tend):
    before = start_four(tend)
    tend.ctl("stop", "change", check=0)
    tend.service("change", exec="sleep 1001")
    tend.ctl("reload", check=0)
    # The operator stopped it: a config change must not start it again.
    assert tend.state("change") == "stopped"
    assert snapshot(tend)["keep"]["pid"] == before["keep"]["pid"]
