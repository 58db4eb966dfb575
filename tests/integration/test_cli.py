"""tendctl and tendd command lines, the D-Bus API, misbehaving clients."""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import STATES, TENDCTL, TENDD, _Wire, dbus_auth, dbus_call, wait_for

SLOW_STOP = "sh -c 'trap \"\" TERM; while :; do sleep 0.05; done'"


def two_services(tend):
    tend.service("up", exec="sleep 1000")
    tend.service("down", exec="sleep 1000", enabled="no")
    tend.start()
    tend.wait_running("up")
    return tend


def test_exit_codes(tend, tmp_path):
    two_services(tend)
    assert tend.ctl(check=2).stderr
    tend.ctl("frobnicate", check=2)
    tend.ctl("start", check=2)
    tend.ctl("status", "--bogus-option", check=2)
    tend.ctl("status", "up", check=0)
    r = tend.ctl("status", "down", check=3)
    assert "down" in r.stdout + r.stderr
    tend.ctl("status", "up", "down", check=3)
    r = tend.ctl("start", "nosuch")
    assert r.returncode == 1 and "nosuch" in r.stderr, (r.returncode, r.stderr)
    r = tend.ctl("stop", "nosuch")
    assert r.returncode == 1 and "nosuch" in r.stderr
    r = tend.ctl("status", "nosuch")
    assert r.returncode in (1, 3) and "nosuch" in r.stderr, (r.returncode, r.stderr)
    # No daemon on that socket.
    r = tend.ctl("status", socket_path=tmp_path / "nothing-here.sock", check=4)
    assert "nothing-here.sock" in r.stderr
    # TEND_SOCKET is honoured when -s is absent.
    tend.ctl("status", "up", socket_path="", env={"TEND_SOCKET": str(tend.socket)}, check=0)
    tend.ctl("status", socket_path="", env={"TEND_SOCKET": str(tmp_path / "no.sock")},
             check=4)


def test_help_and_version(tend):
    r = tend.ctl("--help", check=0)
    assert "status" in r.stdout and "reload" in r.stdout
    r = subprocess.run([str(TENDD), "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and re.search(r"\d+\.\d+", r.stdout + r.stderr)
    r = subprocess.run([str(TENDD), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "--check" in r.stdout + r.stderr
    r = subprocess.run([str(TENDD), "--no-such-option"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode != 0


@pytest.mark.parametrize("args, message", [
    (["logs", "-xf", "w"], "logs: invalid option -x"),
    (["logs", "-fx", "w"], "logs: invalid option -x"),
    (["logs", "-fn"], "logs: option -n needs a value"),
    (["logs", "--lines"], "logs: option --lines needs a value"),
    (["kill", "-s"], "kill: option -s needs a value"),
    (["kill", "--signal"], "kill: option --signal needs a value"),
    (["status", "--bogus=1"], "status: invalid option --bogus"),
    (["status", "--json=1"], "status: option --json takes no value"),
    (["status", "-s", "x"], "status: invalid option -s"),
    (["-x", "status"], "invalid option -x"),
    (["--bogus", "status"], "invalid option --bogus"),
    (["-s"], "option -s needs a value"),
    # Commands without options of their own refuse one too (never a name).
    (["disable", "--bogus", "b"], "disable: invalid option --bogus"),
    (["cat", "b", "-x"], "cat: invalid option -x"),
    (["reload", "--json"], "reload: invalid option --json"),
])
def test_usage_errors_name_the_option(tend, args, message):
    # Decided before connecting: no tendd needed.
    r = tend.ctl(*args, socket_path="", check=2)
    assert r.stderr.splitlines()[0] == "tendctl: " + message, r.stderr


def test_status_table_and_json(tend):
    two_services(tend)
    tend.service("gone", exec="/nonexistent/x")
    tend.ctl("reload", check=0)
    tend.wait_state("gone", "failed")
    r = tend.ctl("status", check=0)
    lines = r.stdout.splitlines()
    for name, state in (("up", "running"), ("down", "stopped"), ("gone", "failed")):
        row = [l for l in lines if re.match(rf"\s*{name}\b", l)]
        assert len(row) == 1 and state in row[0], f"no row for {name} {state}:\n{r.stdout}"
    data = json.loads(tend.ctl("status", "--json", check=0).stdout)
    assert [s["name"] for s in data] == ["down", "gone", "up"]
    keys = {"name", "state", "pid", "restarts", "since", "exit_code", "exit_signal", "reason",
            "type", "want_up"}
    for s in data:
        assert keys <= set(s), f"missing {keys - set(s)}"
        assert s["state"] in STATES
        assert s["pid"] is None or (isinstance(s["pid"], int) and s["pid"] > 0)
        assert isinstance(s["restarts"], int)
        assert isinstance(s["since"], int) and abs(s["since"] - time.time()) < 120
        assert s["exit_code"] is None or isinstance(s["exit_code"], int)
        assert s["exit_signal"] is None or isinstance(s["exit_signal"], int)
        assert isinstance(s["reason"], str)
        assert s["type"] == "simple"
        assert isinstance(s["want_up"], bool)
    by = {s["name"]: s for s in data}
    assert by["up"]["pid"] and by["up"]["want_up"] is True
    assert by["down"]["pid"] is None and by["down"]["want_up"] is False
    assert by["down"]["exit_code"] is None and by["down"]["exit_signal"] is None
    # Named status filters.
    one = json.loads(tend.ctl("status", "--json", "up", check=0).stdout)
    assert [s["name"] for s in one] == ["up"]


def test_kill_sends_signals(tend):
    got = tend.dir / "got"
    ready = tend.dir / "trap-set"
    tend.service("trapper", exec=f"sh -c 'trap \"echo USR1 >> {got}\" USR1; touch {ready}; "
                                 f"while :; do sleep 0.05; done'")
    tend.start()
    first = tend.wait_running("trapper")
    wait_for(ready.exists, what="the trap to be set")
    tend.ctl("kill", "-s", "USR1", "trapper", check=0)
    wait_for(lambda: got.exists() and "USR1" in got.read_text(), what="USR1 delivered")
    assert tend.svc("trapper")["pid"] == first["pid"]
    tend.ctl("kill", "-s", "KILL", "trapper", check=0)
    s = tend.wait_running("trapper", not_pid=first["pid"])
    assert s["restarts"] == 1 and s["exit_signal"] == 9
    r = tend.ctl("kill", "-s", "NOSUCHSIG", "trapper")
    assert r.returncode in (1, 2) and "NOSUCHSIG" in r.stderr, (r.returncode, r.stderr)
    assert tend.svc("trapper")["pid"] == s["pid"]
    r = tend.ctl("kill", "nosuch")
    assert r.returncode == 1 and "nosuch" in r.stderr


def test_no_block(tend):
    tend.service("slow", exec=SLOW_STOP, stop_timeout="1500ms")
    tend.start()
    tend.wait_running("slow")
    t0 = time.monotonic()
    tend.ctl("stop", "--no-block", "slow", check=0)
    assert time.monotonic() - t0 < 1.0, "--no-block waited"
    assert tend.state("slow") == "stopping"
    tend.wait_state("slow", "stopped", timeout=10)
    # Blocking start then returns with the service running.
    tend.ctl("start", "slow", check=0)
    assert tend.state("slow") == "running"


def test_restart_command(tend):
    tend.service("a", exec="sleep 1000")
    tend.start()
    s = tend.wait_running("a")
    tend.ctl("restart", "a", check=0)
    after = tend.svc("a")
    assert after["state"] == "running" and after["pid"] != s["pid"]
    # Restart of a stopped service starts it.
    tend.ctl("stop", "a", check=0)
    tend.ctl("restart", "a", check=0)
    assert tend.state("a") == "running"


def test_check_good_and_bad_config(tend):
    tend.service("a", exec="sleep 1000", restart="always", restart_delay="1s")
    r = subprocess.run([str(TENDD), "--check", "-c", str(tend.config)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    tend.service("bad", text="[service]\n"
                             "exec = sleep 1000\n"
                             "frobnicate = yes\n"
                             "restart_delay = soon\n"
                             "restart = sometimes\n")
    tend.service("noexec", text="[service]\nrestart = always\n")
    r = subprocess.run([str(TENDD), "--check", "-c", str(tend.config)], capture_output=True,
                       text=True, timeout=30)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    for line in (3, 4, 5):
        assert re.search(rf"bad\.ini:{line}: ", out), f"no bad.ini:{line} in:\n{out}"
    assert "frobnicate" in out and "restart_delay" in out
    assert re.search(r"noexec\.ini:\d+: .*exec", out), out


def test_tendd_refuses_to_start_on_bad_config(tend):
    tend.service("bad", text="[service]\nexec = sleep 1000\nfrobnicate = yes\n")
    tend.start(wait=False)
    rc = tend.wait_exit(timeout=15)
    assert rc != 0
    assert "bad.ini:3" in tend.read_log()


def test_dbus_send(tend):
    if not shutil.which("dbus-send"):
        pytest.skip("dbus-send is not installed")
    two_services(tend)
    base = tend.in_ns_prefix() + ["dbus-send", f"--peer=unix:path={tend.socket}",
                                  "--print-reply", "/org/tend/Manager"]
    r = subprocess.run(base + ["org.tend.Manager1.ListServices"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert '"up"' in r.stdout and '"down"' in r.stdout and '"running"' in r.stdout
    r = subprocess.run(base + ["org.tend.Manager1.GetService", "string:up"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and '"Pid"' in r.stdout, r.stdout + r.stderr
    r = subprocess.run(base + ["org.tend.Manager1.StartService", "string:down"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert tend.state("down") == "running"
    r = subprocess.run(base + ["org.tend.Manager1.GetService", "string:nosuch"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "org.tend.Error.NoSuchService" in r.stderr, r.stderr
    r = subprocess.run(base + ["org.freedesktop.DBus.Introspectable.Introspect"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "org.tend.Manager1" in r.stdout and "KillService" in r.stdout
    # The compact listing carries the same facts as fixed structs.
    r = subprocess.run(base + ["org.tend.Manager1.ListServicesCompact"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("struct {") == 2 and '"up"' in r.stdout and '"running"' in r.stdout


def test_junk_clients_do_not_hurt(tend):
    two_services(tend)
    for junk in (os.urandom(4096), b"\0" * 100, b"\0AUTH EXTERNAL 30\r\nBEGIN\r\n" +
                 os.urandom(512), b"GET / HTTP/1.0\r\n\r\n"):
        with tend.connect() as s:
            s.sendall(junk)
        tend.ctl("status", "up", check=0)
    # A junk client that stays connected does not block others either.
    s = tend.connect()
    s.sendall(os.urandom(1000))
    tend.ctl("status", "up", check=0)
    tend.ctl("stop", "up", check=0)
    tend.ctl("start", "up", check=0)
    s.close()
    tend.ctl("status", "up", check=0)


def test_client_that_never_reads(tend):
    two_services(tend)
    # One connection that never says anything, one that floods calls and never
    # reads a reply.
    idle = tend.connect()
    flood = tend.connect()
    flood.setblocking(False)
    msg = dbus_auth()
    sent = 0
    deadline = time.monotonic() + 5
    serial = 1
    data = bytearray(msg)
    while time.monotonic() < deadline:
        while len(data) < 65536:
            data += dbus_call(serial, "ListServices")
            serial += 1
        try:
            n = flood.send(data)
        except BlockingIOError:
            break
        sent += n
        del data[:n]
    assert sent > 0
    try:
        for _ in range(3):
            t0 = time.monotonic()
            tend.ctl("status", check=0, timeout=10)
            assert time.monotonic() - t0 < 3, "status stalled behind a client that never reads"
        tend.ctl("stop", "up", check=0, timeout=10)
        tend.ctl("start", "up", check=0, timeout=10)
        # tendd is not stuck inside a write either: signals are handled.
        tend.service("late", exec="sleep 1000")
        tend.ctl("reload", check=0, timeout=10)
        tend.wait_running("late")
    finally:
        idle.close()
        flood.close()
    tend.ctl("status", check=0)
    assert tend.stop() == 0


def test_client_disconnecting_mid_call(tend):
    tend.service("slow", exec=SLOW_STOP, stop_timeout="500ms")
    tend.service("other", exec="sleep 1000")
    tend.start()
    tend.wait_running("slow")
    # The call is accepted, then the caller vanishes before the reply.
    with tend.connect() as s:
        s.sendall(dbus_auth() + dbus_call(1, "StopService", "s", ["slow"]))
        wait_for(lambda: tend.state("slow") == "stopping", what="stop to begin")
    tend.wait_state("slow", "stopped", timeout=10)
    tend.ctl("status", "other", check=0)
    # Half a message, then gone.
    with tend.connect() as s:
        m = dbus_call(2, "StartService", "s", ["slow"])
        s.sendall(dbus_auth() + m[: len(m) // 2])
    tend.ctl("start", "slow", check=0)
    tend.ctl("status", "slow", "other", check=0)
    # A reset connection (RST, not FIN) mid-call.
    s = tend.connect()
    s.sendall(dbus_auth() + dbus_call(3, "RestartService", "s", ["other"]))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    s.close()
    wait_for(lambda: tend.state("other") == "running", what="other running again")
    assert tend.stop() == 0


def test_state_changes_need_privilege(tend):
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")
    tend.open_socket_dir()
    two_services(tend)
    # Whoever can open the socket may read; only root or tendd's uid may change
    # state, whatever the socket's mode.
    os.chmod(tend.socket, 0o666)

    def as_nobody(*args):
        return tend.ctl(*args, user=(65534, 65534))
    r = as_nobody("status", "up")
    assert r.returncode == 0, r.stderr
    r = as_nobody("stop", "up")
    assert r.returncode == 1 and "up" in r.stderr, (r.returncode, r.stderr)
    assert tend.state("up") == "running"
    r = as_nobody("reload")
    assert r.returncode == 1, (r.returncode, r.stderr)


def test_clients_outside_tendds_pid_namespace(tend):
    # A client in another pid namespace (the host looking into a container, or
    # a container looking at the host's socket) gets no peer pid from the
    # kernel (SO_PEERCRED pid 0). Reading is open to whoever can open the
    # socket, and uid 0 may change state: both must work from outside too.
    two_services(tend)
    r = tend.ctl("status", "up", outside=True)
    assert r.returncode == 0, (r.returncode, r.stderr)
    tend.ctl("start", "down", outside=True, check=0)
    assert tend.state("down") == "running"
    if shutil.which("dbus-send"):
        r = subprocess.run(["dbus-send", f"--peer=unix:path={tend.socket}", "--print-reply",
                            "/org/tend/Manager", "org.tend.Manager1.ListServices"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and '"up"' in r.stdout, r.stderr


def test_status_json_escapes(tend):
    # STATUS= text with what JSON must escape comes back exactly.
    text = 'say "hi" \\ tab\there \x01 bell\x07 del\x7f é'
    script = tend.dir / "status.py"
    script.write_text("import os, socket, time\n"
                      "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                      f"s.sendto(('READY=1\\nSTATUS=' + {text!r}).encode(), "
                      "os.environ['NOTIFY_SOCKET'])\n"
                      "time.sleep(1000)\n")
    tend.service("talker", type="notify", exec=f"/usr/bin/python3 {script}")
    tend.start()
    tend.wait_state("talker", "running")
    wait_for(lambda: tend.svc("talker")["status"], what="the status")
    data = json.loads(tend.ctl("status", "--json", "talker", check=0).stdout)
    assert data[0]["status"] == text, data


def test_status_json_notify_errno_and_started(tend):
    # ERRNO= and the time of the last spawn come back in status --json: the
    # service writes its own clock at start, which the spawn precedes.
    clock = tend.dir / "clock"
    script = tend.dir / "errno.py"
    script.write_text("import os, socket, time\n"
                      f"open({str(clock)!r}, 'w').write(repr(time.time()))\n"
                      "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                      "s.sendto(b'READY=1\\nERRNO=5', os.environ['NOTIFY_SOCKET'])\n"
                      "time.sleep(1000)\n")
    tend.service("talker", type="notify", exec=f"/usr/bin/python3 {script}")
    tend.service("idle", exec="sleep 1000", enabled="no")
    tend.start()
    tend.wait_state("talker", "running")
    s = wait_for(lambda: (lambda s: s["notify_errno"] and s)(tend.svc("talker")),
                 what="ERRNO= in status")
    assert s["notify_errno"] == 5, s
    own = float(clock.read_text())
    assert isinstance(s["started"], int) and own - 2 < s["started"] <= own, (s, own)
    assert s["started"] <= s["since"], s
    idle = tend.svc("idle")
    assert idle["started"] is None and idle["notify_errno"] is None, idle
    up = json.loads(tend.ctl("status", "--json", "talker", check=0).stdout)[0]
    assert up["notify_errno"] == 5 and up["started"] == s["started"], up
    # A new spawn is a new start time, the new process's.
    tend.ctl("restart", "talker", check=0)
    again = tend.svc("talker")
    own = float(wait_for(lambda: clock.read_text() != repr(own) and clock.read_text(),
                         what="the new process's clock"))
    assert again["pid"] != s["pid"], (s, again)
    assert s["started"] <= again["started"] and own - 2 < again["started"] <= own, (again, own)


def _record(w, sig, values):
    """Marshal one struct of signature sig (little endian) onto _Wire w."""
    w.pad(8)
    for t, v in zip(sig, values, strict=True):
        if t == "s":
            w.string(v)
        elif t in "ub":
            w.u32(v)
        elif t == "i":
            w.i32(v)
        else:
            w.pad(8)
            w.b += struct.pack("<Q" if t == "t" else "<q", v)


def serve_listing(path, sig, records):
    """A tendd of another version on the unix socket at path: answers one call
    with an array of structs of signature sig. Returns the serving thread."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)
    srv.settimeout(10)

    def run():
        conn, _ = srv.accept()
        conn.settimeout(10)
        buf = b""

        def need(pred):
            nonlocal buf
            while not pred(buf):
                chunk = conn.recv(65536)
                assert chunk, "tendctl hung up"
                buf += chunk

        with srv, conn:
            # sd-bus sends AUTH EXTERNAL, DATA and BEGIN at once.
            need(lambda b: b"BEGIN\r\n" in b)
            conn.sendall(b"DATA\r\nOK " + b"0" * 32 + b"\r\n")
            buf = buf[buf.index(b"BEGIN\r\n") + 7:]
            need(lambda b: len(b) >= 16)
            body_len, serial, fields_len = struct.unpack_from("<III", buf, 4)
            need(lambda b: len(b) >= 16 + (fields_len + 7) // 8 * 8 + body_len)
            body = _Wire()
            body.u32(0)  # the array's length, patched below
            body.pad(8)
            for r in records:
                _record(body, sig, r)
            struct.pack_into("<I", body.b, 0, len(body.b) - 8)
            w = _Wire()
            w.b += b"l" + bytes([2, 1, 1])  # a method return, no reply expected
            w.u32(len(body.b))
            w.u32(1)
            w.u32(0)  # header field array length, patched below
            for code, t, v in ((5, "u", serial), (8, "g", f"a({sig})")):
                w.pad(8)
                w.byte(code)
                w.sig(t)
                if t == "u":
                    w.u32(v)
                else:
                    w.sig(v)
            struct.pack_into("<I", w.b, 12, len(w.b) - 16)
            w.pad(8)
            conn.sendall(bytes(w.b + body.b))
            conn.recv(1)  # until tendctl hangs up

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


OLDER = "ssuutbiissbsisst"  # the record before CPUUsageUSec and MemoryCurrent
OLDER_WEB = ("web", "running", 42, 1, 1700000000_000000, 0, 0, 0, "started", "simple", 1, "",
             0, "file", "/l/web.log", 1700000000_500000)
WEB_JSON = {"name": "web", "state": "running", "pid": 42, "restarts": 1, "since": 1700000000,
            "exit_code": None, "exit_signal": None, "reason": "started", "type": "simple",
            "want_up": True, "status": None, "notify_errno": None, "started": 1700000000,
            "cpu_usec": None, "memory_bytes": None, "health": None, "health_result": None,
            "health_time": None}


@pytest.mark.parametrize("sig, values, extra", [
    (OLDER, OLDER_WEB, {}),
    (OLDER + "tt", OLDER_WEB + (5, 6), {"cpu_usec": 5, "memory_bytes": 6}),
    (OLDER + "tt" + "ssss", OLDER_WEB + (5, 6, "a", "b", "sleep 1", ""),
     {"cpu_usec": 5, "memory_bytes": 6}),  # the record before Health
    (OLDER + "tt" + "ssss" + "sst",
     OLDER_WEB + (5, 6, "a", "b", "sleep 1", "", "healthy", "ok", 1700000001_000000),
     {"cpu_usec": 5, "memory_bytes": 6, "health": "healthy", "health_result": "ok",
      "health_time": 1700000001}),  # the record before Wants
    (OLDER + "tt" + "ssss" + "sst" + "s" + "xsu",
     OLDER_WEB + (5, 6, "a", "b", "sleep 1", "", "healthy", "ok", 1700000001_000000, "c", -1,
                  "later", 7),
     {"cpu_usec": 5, "memory_bytes": 6, "health": "healthy", "health_result": "ok",
      "health_time": 1700000001}),
])
def test_status_reads_another_versions_listing(tmp_path, sig, values, extra):
    # An older tendd sends fewer fields (the rest are not known), a newer one
    # more at the end (skipped).
    for args in (["status", "--json"], ["status"]):
        path = tmp_path / f"tend{len(args)}.sock"
        t = serve_listing(path, sig, [values, values[:1] + ("db",) + values[2:]])
        r = subprocess.run([str(TENDCTL), "-s", str(path)] + args, capture_output=True,
                           text=True, timeout=20)
        t.join(20)
        assert r.returncode == 0, r.stderr
        if "--json" in args:
            assert json.loads(r.stdout) == [WEB_JSON | extra, WEB_JSON | extra | {"state": "db"}]
        else:
            rows = [l.split()[:3] for l in r.stdout.splitlines()[1:]]
            assert rows == [["web", "running", "42"], ["web", "db", "42"]], r.stdout


def test_status_refuses_a_listing_of_something_else(tmp_path):
    t = serve_listing(tmp_path / "tend.sock", "ssx", [("web", "running", 42)])
    r = subprocess.run([str(TENDCTL), "-s", str(tmp_path / "tend.sock"), "status"],
                       capture_output=True, text=True, timeout=20)
    t.join(20)
    assert r.returncode == 1 and "bad reply from tendd" in r.stderr, (r.returncode, r.stderr)


def test_tendctl_links_only_what_it_uses():
    """Each shared object is mapped and relocated at every start of tendctl:
    none of tendd's (inih for the config, libev for the loop) may come back
    through a module of the library that tendctl does not need (paths.h)."""
    if shutil.which("readelf") is None:
        pytest.skip("no readelf")
    r = subprocess.run(["readelf", "-d", str(TENDCTL)], capture_output=True, text=True,
                       check=True)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)
    assert any(n.startswith("libsystemd.so") for n in needed), needed
    assert not [n for n in needed if n.startswith(("libev.", "libinih."))], needed
