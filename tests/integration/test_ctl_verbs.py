"""tendctl's read verbs against a real tendd: show, is-active, is-failed,
list-dependencies, events, metrics; --json on each, colours on a terminal
only, --no-legend, per-verb --help."""

import json
import os
import pty
import queue
import re
import select
import signal
import subprocess
import threading
import time

import pytest

from conftest import SANITIZER_RE, STATES, TENDCTL, read_pty, status_service, wait_for

EVIL = "\x1b[2K\x1b[1A\rforged\x1b]0;owned\x07\x9b31m\u202eevil"
ESC = "\x1b"

RECORD_KEYS = ["Name", "State", "Pid", "Restarts", "Since", "SinceUSec", "HasExit", "ExitCode",
               "ExitSignal", "Reason", "Type", "WantUp", "Status", "NotifyErrno", "Output",
               "LogPath", "Started", "StartedUSec", "CPUUsageUSec", "MemoryCurrent", "After",
               "Requires", "ExecStart", "JournalMatch", "Health", "HealthResult", "HealthTime",
               "HealthTimeUSec", "Wants"]


def deps_services(tend, start=True):
    tend.service("db", exec="sleep 1001")
    tend.service("app", exec="sleep 1002", requires="db")
    tend.service("web", exec="sleep 1003", requires="db", after="app")
    tend.service("idle", exec="sleep 1004", enabled="no")
    tend.service("bad", exec="sh -c 'exit 7'", restart="never")
    if start:
        tend.start()
        tend.ctl("start", "db", "app", "web", check=0)
        tend.wait_state("bad", "failed")
    return tend


def parse_show(text):
    """show's blocks: one dict per service, keys in the order printed."""
    blocks = []
    for block in text.split("\n\n"):
        lines = [l for l in block.splitlines() if l]
        if lines:
            pairs = [l.split("=", 1) for l in lines]
            assert all(len(p) == 2 for p in pairs), block
            blocks.append(dict(pairs))
            assert list(blocks[-1]) == [p[0] for p in pairs], "a key printed twice"
    return blocks


# -- show ---------------------------------------------------------------------

def test_show_prints_every_property(tend):
    deps_services(tend)
    web = tend.svc("web")
    r = tend.ctl("show", "web", check=0)
    (props,) = parse_show(r.stdout)
    assert list(props) == RECORD_KEYS
    assert props["Name"] == "web" and props["State"] == "running"
    assert props["Pid"] == str(web["pid"])
    assert props["After"] == "app" and props["Requires"] == "db"
    assert props["ExecStart"] == "sleep 1003"
    assert props["Type"] == "simple" and props["WantUp"] == "yes" and props["HasExit"] == "no"
    assert props["Output"] == "file" and props["LogPath"].endswith("/web.log")
    assert props["JournalMatch"] == ""  # output is not the journal
    # Timestamps: a date as systemctl shows one, and the raw usec.
    assert abs(int(props["SinceUSec"]) / 1e6 - time.time()) < 120
    assert re.fullmatch(r"\w{3} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", props["Since"]), props
    assert re.fullmatch(r"\w{3} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", props["Started"]), props
    assert props["CPUUsageUSec"] == "[not set]" or props["CPUUsageUSec"].isdigit()
    assert props["MemoryCurrent"] == "[not set]" or props["MemoryCurrent"].isdigit()
    # Never started: the timestamp is empty, its raw form 0.
    (idle,) = parse_show(tend.ctl("show", "idle", check=0).stdout)
    assert idle["Started"] == "" and idle["StartedUSec"] == "0" and idle["Pid"] == "0"
    assert idle["After"] == "" and idle["Requires"] == ""
    (bad,) = parse_show(tend.ctl("show", "bad", check=0).stdout)
    assert bad["State"] == "failed" and bad["HasExit"] == "yes" and bad["ExitCode"] == "7"


def test_show_selects_and_prints_values(tend):
    deps_services(tend)
    r = tend.ctl("show", "-p", "State,Requires", "-p", "SinceUSec", "web", "app", check=0)
    blocks = parse_show(r.stdout)
    assert [list(b) for b in blocks] == [["State", "SinceUSec", "Requires"]] * 2
    assert blocks[1]["Requires"] == "db"
    assert r.stdout.count("\n\n") == 1  # one blank line between two services
    r = tend.ctl("show", "--value", "-p", "Name,State", "web", check=0)
    assert r.stdout == "web\nrunning\n"
    assert tend.ctl("show", "-P", "Requires", "app", check=0).stdout == "db\n"
    assert tend.ctl("show", "--property=Restarts", "db", check=0).stdout == "Restarts=0\n"
    # An unknown name: said, exit 1, the others still shown.
    r = tend.ctl("show", "-p", "Name", "nosuch", "db", check=1)
    assert r.stdout == "Name=db\n" and "nosuch: unknown service" in r.stderr
    # Usage errors, decided before connecting.
    r = tend.ctl("show", "-p", "Bogus", "db", socket_path="", check=2)
    assert "show: unknown property: Bogus" in r.stderr
    tend.ctl("show", "-p", "State,,Name", "db", socket_path="", check=2)
    tend.ctl("show", socket_path="", check=2)
    tend.ctl("show", "-p", socket_path="", check=2)


def test_show_json(tend):
    deps_services(tend)
    data = json.loads(tend.ctl("show", "--json", "web", "idle", check=0).stdout)
    assert [d["Name"] for d in data] == ["web", "idle"]
    web = data[0]
    assert list(web) == [k for k in RECORD_KEYS if not k.endswith("USec") or k == "CPUUsageUSec"]
    assert web["State"] == "running" and isinstance(web["Pid"], int) and web["Pid"] > 0
    assert web["HasExit"] is False and web["WantUp"] is True
    assert isinstance(web["Since"], int) and abs(web["Since"] / 1e6 - time.time()) < 120
    assert web["Requires"] == "db" and web["After"] == "app"
    for k in ("CPUUsageUSec", "MemoryCurrent"):
        assert web[k] is None or (isinstance(web[k], int) and web[k] < 2**64 - 1)
    sel = json.loads(tend.ctl("show", "--json", "-p", "State,SinceUSec", "db", check=0).stdout)
    assert list(sel[0]) == ["State", "Since"]
    r = tend.ctl("show", "--json", "nosuch", check=1)
    assert json.loads(r.stdout) == []


def test_show_escapes_what_a_service_sends(tend):
    status_service(tend, "evil", EVIL)
    tend.start()
    wait_for(lambda: tend.svc("evil")["status"] == EVIL, what="evil's STATUS=")
    out = tend.ctl("show", "-p", "Status", "evil", check=0).stdout
    assert out.count("\n") == 1 and out.startswith("Status=\\x1b[2K"), out
    for ch in out[:-1]:
        assert ord(ch) >= 0x20 and not 0x7f <= ord(ch) <= 0x9f and ch != "\u202e", repr(out)
    assert json.loads(tend.ctl("show", "--json", "evil", check=0).stdout)[0]["Status"] == EVIL


# -- is-active, is-failed -----------------------------------------------------

def test_is_active_and_is_failed(tend, tmp_path):
    deps_services(tend)
    r = tend.ctl("is-active", "web", check=0)
    assert r.stdout == "running\n" and r.stderr == ""
    assert tend.ctl("is-active", "idle", check=3).stdout == "stopped\n"
    # Any of them running is enough, as systemctl.
    assert tend.ctl("is-active", "idle", "web", check=0).stdout == "stopped\nrunning\n"
    r = tend.ctl("is-active", "nosuch", check=3)
    assert r.stdout == "unknown\n" and "nosuch: unknown service" in r.stderr
    r = tend.ctl("is-active", "-q", "idle", "nosuch", check=3)
    assert r.stdout == "" and r.stderr == ""
    assert tend.ctl("is-active", "--quiet", "db", check=0).stdout == ""
    assert tend.ctl("is-failed", "bad", check=0).stdout == "failed\n"
    assert tend.ctl("is-failed", "web", "idle", check=1).stdout == "running\nstopped\n"
    assert tend.ctl("is-failed", "-q", "web", "bad", check=0).stdout == ""
    r = tend.ctl("is-failed", "nosuch", check=1)
    assert r.stdout == "unknown\n"
    tend.ctl("is-active", socket_path="", check=2)
    tend.ctl("is-failed", "-x", "web", socket_path="", check=2)
    # No daemon: neither yes nor no.
    tend.ctl("is-active", "web", socket_path=tmp_path / "none.sock", check=4)
    tend.ctl("is-failed", "web", socket_path=tmp_path / "none.sock", check=4)


def test_is_active_counts_only_running(tend):
    """A oneshot that completed is stopped, not active; a service in backoff
    is on its way, not active."""
    tend.service("once", type="oneshot", exec="true", restart="never")
    tend.service("flap", exec="sh -c 'exit 1'", restart="always", restart_delay="30s")
    tend.start()
    tend.wait_state("once", "stopped")
    tend.wait_state("flap", "backoff")
    assert tend.ctl("is-active", "once", check=3).stdout == "stopped\n"
    assert tend.ctl("is-active", "flap", check=3).stdout == "backoff\n"
    tend.ctl("is-failed", "flap", check=1)


# -- list-dependencies ----------------------------------------------------------

def test_list_dependencies_tree(tend):
    deps_services(tend)
    out = tend.ctl("list-dependencies", "web", check=0).stdout
    assert ESC not in out
    rows = [l.split() for l in out.splitlines()]
    assert rows == [["NAME", "KIND", "STATE"],
                    ["web", "-", "running"],
                    ["├─db", "requires", "running"],
                    ["└─app", "after", "running"],
                    ["└─db", "requires", "running"]], out
    # The tree is indented: app's dependency sits under it.
    assert out.splitlines()[4].startswith("  └─db")
    # Columns are aligned.
    assert len({l.index("requires") if "requires" in l else l.index("after")
                for l in out.splitlines()[2:]}) == 1, out
    r = tend.ctl("list-dependencies", "--no-legend", "--reverse", "db", check=0)
    rows = [l.split() for l in r.stdout.splitlines()]
    assert rows == [["db", "-", "running"],
                    ["├─app", "requires", "running"],
                    ["│", "└─web", "after", "running"],
                    ["└─web", "requires", "running"]], r.stdout
    r = tend.ctl("list-dependencies", "idle", check=0)
    assert [l.split() for l in r.stdout.splitlines()] == [["NAME", "KIND", "STATE"],
                                                          ["idle", "-", "stopped"]]


def test_list_dependencies_json_and_errors(tend):
    deps_services(tend)
    tree = json.loads(tend.ctl("list-dependencies", "--json", "web", check=0).stdout)
    assert tree == {
        "name": "web", "kind": None, "state": "running", "dependencies": [
            {"name": "db", "kind": "requires", "state": "running", "dependencies": []},
            {"name": "app", "kind": "after", "state": "running", "dependencies": [
                {"name": "db", "kind": "requires", "state": "running", "dependencies": []}]}]}
    rev = json.loads(tend.ctl("list-dependencies", "--json", "--reverse", "app", check=0).stdout)
    assert rev == {"name": "app", "kind": None, "state": "running", "dependents": [
        {"name": "web", "kind": "after", "state": "running", "dependents": []}]}
    r = tend.ctl("list-dependencies", "nosuch", check=1)
    assert r.stdout == "" and "nosuch: unknown service" in r.stderr
    tend.ctl("list-dependencies", socket_path="", check=2)
    tend.ctl("list-dependencies", "a", "b", socket_path="", check=2)
    # A reload's new dependencies show at once.
    tend.service("idle", exec="sleep 1004", enabled="no", requires="web")
    tend.ctl("reload", check=0)
    out = tend.ctl("list-dependencies", "--no-legend", "idle", check=0).stdout
    assert out.splitlines()[1].split() == ["└─web", "requires", "running"], out


def test_list_dependencies_draws_each_subtree_once(tend):
    """A service reached again is named, its subtree not drawn twice: the
    tree stays as large as the graph, also for layers of diamonds (2^N paths)."""
    tend.service("root0", exec="sleep 1011", enabled="no")
    tend.service("base", exec="sleep 1012", requires="root0", enabled="no")
    tend.service("left", exec="sleep 1013", requires="base", enabled="no")
    tend.service("right", exec="sleep 1014", requires="base", enabled="no")
    tend.service("top", exec="sleep 1015", requires="left right", enabled="no")
    layers = 16
    for i in range(layers):
        below = f"a{i - 1} b{i - 1}" if i else "top"
        for x in "ab":
            tend.service(f"{x}{i}", exec="sleep 1016", requires=below, enabled="no")
    tend.start()
    out = tend.ctl("list-dependencies", "--no-legend", "top", check=0).stdout
    assert [l.split() for l in out.splitlines()] == [
        ["top", "-", "stopped"],
        ["├─left", "requires", "stopped"],
        ["│", "└─base", "requires", "stopped"],
        ["│", "└─root0", "requires", "stopped"],
        ["└─right", "requires", "stopped"],
        ["└─base", "requires", "stopped"],
        ["└─...", "", ""][:1]], out
    tree = json.loads(tend.ctl("list-dependencies", "--json", "top", check=0).stdout)
    right_base = tree["dependencies"][1]["dependencies"][0]
    assert right_base == {"name": "base", "kind": "requires", "state": "stopped",
                          "dependencies": None}
    top = f"a{layers - 1}"
    r = tend.ctl("list-dependencies", top, check=0, timeout=10)
    assert len(r.stdout.splitlines()) < 4 * (2 * layers + 5), r.stdout
    assert len(tend.ctl("list-dependencies", "--json", top, check=0).stdout) < 20000
    r = tend.ctl("list-dependencies", "--reverse", "root0", check=0, timeout=10)
    assert len(r.stdout.splitlines()) < 4 * (2 * layers + 5), r.stdout



def test_list_dependencies_reverse_of_10000_dependents_is_linear(tend_release):
    """--reverse of a service 10,000 others start after: every dependent once,
    in about the time of a status of them all (it was a scan of every record
    for each of them: 8 s)."""
    tend = tend_release
    n = 10000
    tend.service("base", exec="sleep 1000", enabled="no")
    for i in range(n):
        tend.service(f"s{i:05d}", exec="sleep 1000", enabled="no",
                     **({"requires": "base"} if i % 2 else {"after": "base"}))
    tend.start()
    t = time.monotonic()
    out = tend.ctl("list-dependencies", "--no-legend", "--reverse", "base", check=0,
                   timeout=120).stdout
    took = time.monotonic() - t
    rows = [l.split() for l in out.splitlines()]
    assert rows[0] == ["base", "-", "stopped"]
    assert [r[0] for r in rows[1:]] == [("└─" if i == n - 1 else "├─") + f"s{i:05d}"
                                        for i in range(n)]
    assert [r[1] for r in rows[1:]] == ["requires" if i % 2 else "after" for i in range(n)]
    t = time.monotonic()
    tree = json.loads(tend.ctl("list-dependencies", "--json", "--reverse", "base", check=0,
                               timeout=120).stdout)
    took_json = time.monotonic() - t
    assert len(tree["dependents"]) == n
    assert took < 2 and took_json < 2, f"{took:.1f} s, --json {took_json:.1f} s"



def test_list_dependencies_of_a_long_chain_is_drawn_whole(tend):
    """A chain deeper than 256 is drawn to its end: "..." and null mean a
    subtree given above, never one cut off unseen."""
    n = 400
    tend.service("c0", exec="sleep 1000", enabled="no")
    for i in range(1, n):
        tend.service(f"c{i}", exec="sleep 1000", enabled="no", after=f"c{i - 1}")
    tend.start()
    out = tend.ctl("list-dependencies", "--no-legend", f"c{n - 1}", check=0).stdout
    rows = out.splitlines()
    assert len(rows) == n and "..." not in out, out[-2000:]
    assert rows[-1].split()[-3:] == ["└─c0", "after", "stopped"], rows[-1]
    tree = json.loads(tend.ctl("list-dependencies", "--json", f"c{n - 1}", check=0).stdout)
    for i in range(n - 1, 0, -1):
        assert tree["name"] == f"c{i}"
        tree, = tree["dependencies"]
    assert tree == {"name": "c0", "kind": "after", "state": "stopped", "dependencies": []}
    out = tend.ctl("list-dependencies", "--no-legend", "--reverse", "c0", check=0).stdout
    assert len(out.splitlines()) == n and "..." not in out, out[-2000:]


# -- colours and legends ----------------------------------------------------------

def run_pty(tend, *args, env=None):
    """tendctl ARGS with a terminal on stdout: (exit code, output)."""
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm"}
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(str(TENDCTL), [str(TENDCTL), "-s", str(tend.socket), *args], e)
        finally:
            os._exit(127)
    out = read_pty(fd)
    _, status = os.waitpid(pid, 0)
    text = out.decode("utf-8", "replace")
    assert not SANITIZER_RE.search(text), text
    return os.waitstatus_to_exitcode(status), text


def test_colours_only_on_a_terminal(tend):
    deps_services(tend)
    code, out = run_pty(tend, "status")
    assert code == 0
    assert "\x1b[1;32mrunning" in out and "\x1b[1;31mfailed" in out, repr(out)
    # No colour in a pipe, with NO_COLOR of any value (even empty), or on a dumb
    # or unknown terminal.
    assert ESC not in tend.ctl("status", check=0).stdout
    for env in ({"NO_COLOR": "1"}, {"NO_COLOR": ""}, {"TERM": "dumb"}, {"TERM": None}):
        code, out = run_pty(tend, "status", env=env)
        assert code == 0 and ESC not in out and "running" in out, (env, repr(out))
    code, out = run_pty(tend, "list-dependencies", "web")
    assert code == 0 and "\x1b[1;32mrunning" in out and "\x1b[2m├─" in out, repr(out)
    code, out = run_pty(tend, "list-dependencies", "web", env={"NO_COLOR": "yes"})
    assert code == 0 and ESC not in out and "├─db" in out
    # A pipe gets plain text whatever TERM says.
    r = tend.ctl("list-dependencies", "web", env={"TERM": "xterm"}, check=0)
    assert ESC not in r.stdout


def test_no_legend(tend):
    deps_services(tend)
    lines = tend.ctl("status", check=0).stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "STATE"] and len(lines) == 6
    bare = tend.ctl("status", "--no-legend", check=0).stdout.splitlines()
    assert bare == lines[1:]
    assert tend.ctl("status", "--no-legend", "web", check=0).stdout.split()[:2] == \
        ["web", "running"]


def test_help_per_verb_and_version(tend):
    top = tend.ctl("--help", socket_path="", check=0).stdout
    for verb in ("show", "is-active", "is-failed", "list-dependencies", "events", "metrics",
                 "status"):
        assert re.search(rf"^  {verb}\b", top, re.M), verb
    assert "NO_COLOR" in top
    for verb, option in (("show", "--property"), ("is-active", "--quiet"),
                         ("list-dependencies", "--reverse"), ("events", "--json"),
                         ("status", "--no-legend"), ("logs", "--json"), ("metrics", "--help"),
                         ("reload", None)):
        r = tend.ctl(verb, "--help", socket_path="", check=0)
        assert r.stdout.startswith(f"Usage: tendctl [-s|--socket PATH] {verb}"), r.stdout
        if option:
            assert option in r.stdout, (verb, r.stdout)
        assert r.stdout != top
    assert re.fullmatch(r"tendctl \S+\n", tend.ctl("--version", socket_path="", check=0).stdout)


# -- events ---------------------------------------------------------------------

class Lines:
    """tendctl ARGS (from the test's namespace, on the same socket), its
    lines read by a thread into a queue: waited on with a timeout."""

    def __init__(self, tend, *args):
        self.p = subprocess.Popen([str(TENDCTL), "-s", str(tend.socket), *args],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        tend.aux.append(self.p)
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line)
        self.q.put(None)

    def next(self, timeout=15):
        line = self.q.get(timeout=timeout)
        assert line is not None, f"events ended: {self.p.wait()} {self.p.stderr.read()}"
        return line

    def until(self, pred, timeout=15):
        """Lines up to the first that pred accepts (inclusive)."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.next(max(0.01, deadline - time.monotonic()))
            got.append(line)
            if pred(line):
                return got


class Events(Lines):
    def __init__(self, tend, *args):
        super().__init__(tend, "events", *args)


def subscribed(tend, ev, parse):
    """Wait until ev sees changes: restart 'ping' until a line about it comes."""
    def seen():
        tend.ctl("restart", "ping", check=0)
        try:
            while True:
                if parse(ev.q.get(timeout=0.5))[1] == "ping":
                    return True
        except queue.Empty:
            return False
    wait_for(seen, timeout=20, interval=0, what="events to be subscribed")
    # Drain ping's remaining lines: its restart ends in running.
    while True:
        try:
            line = ev.q.get(timeout=0.3)
        except queue.Empty:
            return
        assert line is not None


def text_event(line):
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S+) (\S+) (.*)\n", line)
    assert m, repr(line)
    return m.group(1), m.group(2), m.group(3), m.group(4)


def json_event(line):
    d = json.loads(line)
    assert set(d) == {"time", "name", "state", "reason"}, d
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", d["time"])
    return d["time"], d["name"], d["state"], d["reason"]


@pytest.mark.parametrize("mode", ["text", "json"])
def test_events_follow_a_crash_in_order(tend, mode):
    tend.service("ping", exec="sleep 1005")
    tend.service("crash", exec="sleep 1006", restart="always", restart_delay="300ms")
    tend.start()
    pid = tend.wait_running("crash")["pid"]
    parse = json_event if mode == "json" else text_event
    ev = Events(tend, *(["--json"] if mode == "json" else []))
    subscribed(tend, ev, parse)
    tend.kill(pid, signal.SIGKILL)
    got = [parse(l) for l in ev.until(lambda l: parse(l)[1:3] == ("crash", "running"))]
    crash = [g for g in got if g[1] == "crash"]
    assert [g[2] for g in crash] == ["backoff", "running"], got
    assert "KILL" in crash[0][3], crash
    assert [g[0] for g in got] == sorted(g[0] for g in got)
    assert tend.wait_running("crash", not_pid=pid)["restarts"] == 1
    # tendd going away ends it: exit 4, said on stderr.
    tend.stop()
    assert ev.p.wait(timeout=30) == 4
    err = ev.p.stderr.read()
    assert "lost connection to tendd" in err and not SANITIZER_RE.search(err), err


def test_events_exits_cleanly_on_sigint_and_sigterm(tend):
    tend.service("ping", exec="sleep 1005")
    tend.start()
    tend.wait_running("ping")
    for sig in (signal.SIGINT, signal.SIGTERM):
        ev = Events(tend)
        subscribed(tend, ev, text_event)
        ev.p.send_signal(sig)
        assert ev.p.wait(timeout=10) == 0
        assert ev.p.stderr.read() == ""


def test_events_in_a_pipe_ends_with_its_reader(tend):
    tend.service("ping", exec="sleep 1005")
    tend.start()
    tend.wait_running("ping")
    sh = subprocess.Popen(["sh", "-c", '"$0" -s "$1" events | head -3', str(TENDCTL),
                           str(tend.socket)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    tend.aux.append(sh)
    # Each restart is two lines (stopping, running); head takes three and goes,
    # and the next line tendctl writes, or its poll on the pipe, ends it.
    def done():
        if sh.poll() is not None:
            return True
        tend.ctl("restart", "ping", check=0)
        return False
    wait_for(done, timeout=30, interval=0.05, what="events | head -3 to end")
    lines = sh.stdout.read().splitlines()
    err = sh.stderr.read()
    assert err == "", err
    assert len(lines) == 3 and all(text_event(l + "\n")[1] == "ping" for l in lines), lines


def test_events_usage(tend, tmp_path):
    tend.ctl("events", "web", socket_path="", check=2)
    tend.ctl("events", "--bogus", socket_path="", check=2)
    tend.ctl("events", socket_path=tmp_path / "none.sock", check=4)


# -- metrics ----------------------------------------------------------------------

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(rf"({METRIC_NAME})(?:\{{((?:{LABEL_NAME}={LABEL_VALUE})"
                    rf"(?:,{LABEL_NAME}={LABEL_VALUE})*)?\}})? (\S+)")


def unescape_label(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v[1:-1])


def parse_prometheus(text):
    """A strict reader of the text exposition format 0.0.4, as tendctl writes
    it: {family: {"type": T, "help": H, "samples": {labels tuple: value}}}."""
    assert text.endswith("\n"), "the last line ends with a newline"
    families, current, done = {}, None, set()
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {n}: {line!r}"
        assert line, f"{where}: empty line"
        if line.startswith("#"):
            m = re.fullmatch(rf"# (HELP|TYPE) ({METRIC_NAME}) (.+)", line)
            assert m, f"{where}: bad comment"
            kind, name, rest = m.groups()
            if name != current:
                assert name not in done and name not in families, f"{where}: family again"
                if current:
                    done.add(current)
                current = name
                families[name] = {"type": None, "help": None, "samples": {}}
            f = families[name]
            assert not f["samples"], f"{where}: {kind} after samples"
            if kind == "HELP":
                assert f["help"] is None, f"{where}: second HELP"
                f["help"] = rest
            else:
                assert f["type"] is None, f"{where}: second TYPE"
                assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), where
                f["type"] = rest
            continue
        m = SAMPLE.fullmatch(line)
        assert m, f"{where}: bad sample"
        name, labels, value = m.groups()
        assert name == current, f"{where}: sample outside its family {current}"
        f = families[name]
        assert f["type"] is not None, f"{where}: sample before TYPE"
        if f["type"] == "counter":
            assert name.endswith("_total"), f"{where}: a counter's name ends in _total"
        pairs = re.findall(rf"({LABEL_NAME})=({LABEL_VALUE})", labels or "")
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"{where}: label twice"
        key = tuple(sorted((k, unescape_label(v)) for k, v in pairs))
        assert key not in f["samples"], f"{where}: duplicate series"
        v = float(value)  # raises on anything that is not a number
        # NaN, infinities and 2^64-1 (what "not known" is on the wire) are no value.
        assert v == v and abs(v) != float("inf") and v < 2.0**64 - 4096, f"{where}: value"
        f["samples"][key] = v
    return families


def series(families, name, **labels):
    return families[name]["samples"].get(tuple(sorted(labels.items())))


def test_metrics_parse_strictly(tend):
    tend.service("up", exec="sleep 1007")
    tend.service("exits", exec="sh -c 'exit 3'", restart="never")
    tend.service("killed", exec="sleep 1008", restart="always", restart_delay="100ms")
    tend.service("idle", exec="sleep 1009", enabled="no")
    tend.start()
    tend.wait_state("exits", "failed")
    pid = tend.wait_running("killed")["pid"]
    tend.kill(pid, signal.SIGKILL)
    tend.wait_running("killed", not_pid=pid)
    r = tend.ctl("metrics", check=0)
    assert r.stderr == ""
    fam = parse_prometheus(r.stdout)
    assert set(fam) == {
        "tend_service_up", "tend_service_state", "tend_service_restarts_total",
        "tend_service_last_exit_code", "tend_service_last_exit_signal",
        "tend_service_start_time_seconds", "tend_service_state_change_time_seconds",
        "tend_service_cpu_seconds_total", "tend_service_memory_bytes", "tend_service_healthy"}
    assert fam["tend_service_restarts_total"]["type"] == "counter"
    assert fam["tend_service_cpu_seconds_total"]["type"] == "counter"
    assert all(f["help"] for f in fam.values())
    names = ["exits", "idle", "killed", "up"]
    for n in names:
        states = {s: series(fam, "tend_service_state", service=n, state=s) for s in STATES}
        assert sorted(states.values()) == [0] * (len(STATES) - 1) + [1], (n, states)
        assert series(fam, "tend_service_up", service=n) == (states["running"] == 1)
    assert series(fam, "tend_service_state", service="exits", state="failed") == 1
    assert series(fam, "tend_service_state", service="idle", state="stopped") == 1
    assert series(fam, "tend_service_up", service="up") == 1
    assert series(fam, "tend_service_restarts_total", service="killed") == 1
    assert series(fam, "tend_service_restarts_total", service="up") == 0
    # Last exit: a code or a signal, never both; absent when there was none.
    assert series(fam, "tend_service_last_exit_code", service="exits") == 3
    assert series(fam, "tend_service_last_exit_signal", service="exits") is None
    assert series(fam, "tend_service_last_exit_signal", service="killed") == signal.SIGKILL
    assert series(fam, "tend_service_last_exit_code", service="killed") is None
    assert series(fam, "tend_service_last_exit_code", service="up") is None
    started = series(fam, "tend_service_start_time_seconds", service="killed")
    assert abs(started - time.time()) < 60
    assert series(fam, "tend_service_start_time_seconds", service="idle") is None
    since = series(fam, "tend_service_state_change_time_seconds", service="idle")
    assert abs(since - time.time()) < 120
    # CPU and memory only where tendd knows them (a cgroup): no made-up samples.
    known = {s["name"]: s for s in tend.status()}
    for n in names:
        cpu = series(fam, "tend_service_cpu_seconds_total", service=n)
        assert (cpu is None) == (known[n]["cpu_usec"] is None), (n, cpu, known[n])
        mem = series(fam, "tend_service_memory_bytes", service=n)
        assert (mem is None) == (known[n]["memory_bytes"] is None), (n, mem, known[n])
    assert "18446744073709551615" not in r.stdout
    tend.ctl("metrics", "x", socket_path="", check=2)


def test_metrics_parser_is_strict():
    """The reader above refuses what Prometheus would."""
    good = ('# HELP a_total x\n# TYPE a_total counter\na_total{service="a\\"b\\\\c\\n"} 1\n')
    assert series(parse_prometheus(good), "a_total", service='a"b\\c\n') == 1
    for bad in ('a 1\n',                                                   # no TYPE
                '# TYPE a gauge\na 1\na 2\n',                              # duplicate
                '# TYPE a counter\na 1\n',                                 # counter name
                '# TYPE a gauge\na{x="1} 1\n',                             # bad label
                '# TYPE a gauge\na{x="\\t"} 1\n',                          # bad escape
                '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n',         # split family
                '# TYPE a gauge\na 18446744073709551615\n',
                '# TYPE a gauge\na 1'):
        with pytest.raises(AssertionError):
            parse_prometheus(bad)


# -- logs --json ----------------------------------------------------------------

def test_logs_json(tend):
    tend.service("talk", exec="sh -c 'printf \"one\\\\n\\\\033[31mtwo\\\\n\"; exec sleep 1010'",
                 log_max_size="0")
    tend.start()
    log = tend.log_dir / "talk.log"
    wait_for(lambda: log.exists() and log.read_text().count("\n") >= 2, what="talk's lines")
    r = tend.ctl("logs", "--json", "talk", check=0)
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert [l["message"] for l in lines] == ["one", "\x1b[31mtwo"], r.stdout
    assert ESC not in r.stdout  # escaped as JSON, exact once decoded
    for l in lines:
        assert l["file"] == str(log)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", l["time"])
    last = [json.loads(l) for l in tend.ctl("logs", "--json", "-n", "1", "talk",
                                            check=0).stdout.splitlines()]
    assert [l["message"] for l in last] == ["\x1b[31mtwo"]
    # Plain logs are unchanged.
    assert tend.ctl("logs", "talk", check=0).stdout == log.read_text()



def test_logs_json_line_whole_past_a_nul_byte(tend):
    """A NUL byte a service writes is part of its line, as in the log file:
    --json gives it as \\u0000 with the rest, not the line cut there."""
    tend.service("nul", exec="sh -c 'printf \"a\\\\000b\\\\n\"; exec sleep 1010'",
                 log_max_size="0")
    tend.start()
    log = tend.log_dir / "nul.log"
    wait_for(lambda: log.exists() and log.read_bytes().endswith(b"a\0b\n"), what="nul's line")
    r = tend.ctl("logs", "--json", "nul", check=0)
    assert [json.loads(l)["message"] for l in r.stdout.splitlines()] == ["a\0b"], r.stdout
    # The last lines (-n) too, in either form.
    r = tend.ctl("logs", "--json", "-n", "1", "nul", check=0)
    assert [json.loads(l)["message"] for l in r.stdout.splitlines()] == ["a\0b"], r.stdout
    assert tend.ctl("logs", "-n", "1", "nul", check=0).stdout == log.read_text()


def test_logs_follow_json(tend):
    flag = tend.dir / "flag"
    tend.service("slow", exec=f"sh -c 'echo early; while [ ! -e {flag} ]; do sleep 0.02; done; "
                 "printf \"late\\\\nunfinished\"; exec sleep 1011'")
    tend.start()
    log = tend.log_dir / "slow.log"
    wait_for(lambda: log.exists() and "early" in log.read_text(), what="slow's first line")
    f = Lines(tend, "logs", "-f", "--json", "slow")
    first = json.loads(f.next())
    assert first["message"] == "early" and first["file"] == str(log)
    flag.touch()
    # What is appended comes as whole lines; tendd writes the unfinished one
    # only when the pipe closes, so it is not there yet.
    late = json.loads(f.next())
    assert late["message"] == "late" and late["time"], late
    tend.ctl("stop", "slow", check=0)
    last = json.loads(f.next())
    assert last["message"] == "unfinished", last
    f.p.terminate()
    f.p.wait(timeout=10)
    assert not SANITIZER_RE.search(f.p.stderr.read())
