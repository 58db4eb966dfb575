"""tendd as a Type=notify service: a fake NOTIFY_SOCKET listener records
what tendd tells systemd (READY, STATUS, RELOADING, STOPPING, WATCHDOG)."""

import os
import signal
import socket
import threading
import time

import pytest

from conftest import wait_for


class Listener:
    """A datagram socket like systemd's notify socket; records (time, fields)."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.msgs = []
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            fields = dict(l.split("=", 1) for l in data.decode().splitlines() if "=" in l)
            with self.lock:
                self.msgs.append((time.monotonic(), fields))

    def snapshot(self):
        with self.lock:
            return list(self.msgs)

    def events(self):
        """The messages other than plain STATUS= and WATCHDOG=1, in order, as
        the set of their keys."""
        out = []
        for _, f in self.snapshot():
            keys = set(f) - {"STATUS", "MONOTONIC_USEC"}
            if keys and keys != {"WATCHDOG"}:
                out.append(keys)
        return out

    def watchdogs(self):
        return [t for t, f in self.snapshot() if f.get("WATCHDOG") == "1"]

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener(tmp_path):
    l = Listener(tmp_path / "systemd-notify.sock")  # notify.sock is tendd's own
    yield l
    l.close()


def test_sequence(tend, listener):
    slow_done = tend.dir / "slow.done"
    tend.service("slow", exec=f"sh -c 'sleep 1; touch {slow_done}'", type="oneshot",
                 restart="never")
    tend.service("web", exec="sleep 1000")
    tend.service("bad", exec="false", restart="never")
    tend.service("off", exec="sleep 1000", enabled="no")
    t0 = time.monotonic()
    tend.start(env={"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "400000"})

    # READY=1 only once every enabled service settled: the oneshot has
    # completed, web runs, bad failed; off is not waited for.
    ready = wait_for(lambda: [(t, f) for t, f in listener.snapshot() if f.get("READY") == "1"],
                     timeout=15, what="READY=1")
    t_ready, f_ready = ready[0]
    assert slow_done.exists(), "READY=1 before the oneshot completed"
    assert t_ready - t0 >= 1.0
    assert "1 running" in f_ready["STATUS"] and "1 failed" in f_ready["STATUS"], f_ready
    assert "0 starting" in f_ready["STATUS"], f_ready

    # STATUS follows state changes.
    tend.ctl("start", "off", check=0)
    wait_for(lambda: any("2 running" in f.get("STATUS", "") for _, f in listener.snapshot()),
             what="STATUS with 2 running")

    # Reload: RELOADING=1 with MONOTONIC_USEC, then READY=1.
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    tend.ctl("reload", check=0)
    wait_for(lambda: listener.events()[-1:] == [{"READY"}] and len(listener.events()) >= 3,
             what="READY=1 after the reload")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    rel = [f for _, f in listener.snapshot() if f.get("RELOADING") == "1"]
    assert len(rel) == 1
    assert before <= int(rel[0]["MONOTONIC_USEC"]) <= after

    # A rejected reload still ends in READY=1 (the old config keeps running).
    tend.service("broken", text="[service]\nbogus = 1\n")
    tend.ctl("reload", check=1)
    wait_for(lambda: len(listener.events()) >= 5, what="second reload")
    tend.remove_service("broken")

    # Watchdog: every half WATCHDOG_USEC (0.2s) from the loop.
    wd = wait_for(lambda: len(listener.watchdogs()) >= 10 and listener.watchdogs(), timeout=10)
    gaps = [b - a for a, b in zip(wd, wd[1:])]
    assert all(0.1 < g < 0.45 for g in gaps), gaps
    # A stopped loop does not ping: SIGSTOP tendd, no WATCHDOG=1 arrives.
    tend.signal_tendd(signal.SIGSTOP)
    try:
        time.sleep(0.3)
        n = len(listener.watchdogs())
        time.sleep(0.8)
        assert len(listener.watchdogs()) == n, "WATCHDOG=1 while tendd was stopped"
    finally:
        tend.signal_tendd(signal.SIGCONT)
    wait_for(lambda: len(listener.watchdogs()) > n, what="watchdog after SIGCONT")

    # Shutdown: STOPPING=1, no READY=1 after it.
    assert tend.stop() == 0
    ev = listener.events()
    assert ev == [{"READY"}, {"RELOADING"}, {"READY"}, {"RELOADING"}, {"READY"}, {"STOPPING"}], ev
    last_status = [f["STATUS"] for _, f in listener.snapshot() if "STATUS" in f][-1]
    assert "shutting down" in last_status


def test_ready_waits_for_a_slow_start_and_not_for_a_crash_loop(tend, listener):
    # A service that keeps crashing is settled once started (backoff); a
    # oneshot that takes its time is not settled until it completes.
    done = tend.dir / "done"
    tend.service("loop", exec="false", restart="always", restart_delay="200ms",
                 start_limit_burst="0")
    tend.service("slow", exec=f"sh -c 'sleep 0.7; touch {done}'", type="oneshot",
                 restart="never")
    tend.start(env={"NOTIFY_SOCKET": listener.path})
    wait_for(lambda: any(f.get("READY") == "1" for _, f in listener.snapshot()), timeout=15,
             what="READY=1")
    assert done.exists()
    assert listener.watchdogs() == [], "WATCHDOG=1 without WATCHDOG_USEC"


def test_no_notify_socket_no_messages(tend, listener):
    tend.service("web", exec="sleep 1000")
    tend.start(env={"NOTIFY_SOCKET": None, "WATCHDOG_USEC": "100000"})
    tend.wait_running("web")
    tend.ctl("reload", check=0)
    assert tend.stop() == 0
    assert listener.snapshot() == []
