"""Health checks: health_tcp and health_http probed inside tendd's loop, as
readiness (a simple service is starting until its check first passes) and as
liveness (health_retries failures in a row restart it), shown in status, kept
across a re-exec, costing nothing where unused."""

import json
import os
import select
import socket
import subprocess
import sys
import time

from conftest import BUILD, TENDD, wait_for
from test_hostile_control import in_epoll_wait, wakeups
from test_reexec import reexec

PY = sys.executable
NOTIFIER = BUILD / "tests" / "notifier"

# An HTTP/1.0 server on 127.0.0.1:PORT that answers GET with 200, until the
# file SICK exists: then it answers 503 (mode 503) or never answers at all
# (mode hang: it keeps the connection open and reads nothing more). Before
# binding it waits DELAY seconds. Every request it takes is one line in LOG.
SERVER = r'''
import os, socket, sys, time
port, sick, mode, delay, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
time.sleep(delay)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(64)
held = []
while True:
    c, _ = srv.accept()
    req = b""
    while b"\r\n\r\n" not in req:
        d = c.recv(4096)
        if not d:
            break
        req += d
    with open(log, "a") as f:
        f.write("%.6f %s\n" % (time.monotonic(), req.split(b"\r\n")[0].decode()))
    if os.path.exists(sick):
        if mode == "hang":
            held.append(c)
            continue
        c.sendall(b"HTTP/1.0 503 Service Unavailable\r\n\r\n")
    else:
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n")
    c.close()
'''

# Listens on 127.0.0.1:PORT and never accepts (the kernel completes the
# handshake from the backlog): a probe connects and hears nothing. With
# "flood", it accepts and sends an endless line. Each accept is a line in LOG.
MUTE = r'''
import socket, sys, time
port, mode, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(64)
held = []
while True:
    c, _ = srv.accept()
    with open(log, "a") as f:
        f.write("%.6f accepted\n" % time.monotonic())
    if mode == "flood":
        try:
            c.sendall(b"HTTP/1.0 200 " + b"x" * 100000)
        except OSError:
            pass
        c.close()
    else:
        held.append(c)
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scripts(tend):
    (tend.dir / "server.py").write_text(SERVER)
    (tend.dir / "mute.py").write_text(MUTE)


def web(tend, name, port, mode="hang", delay=0, **keys):
    """A service running SERVER on port; its sick file and request log."""
    scripts(tend)
    sick, log = tend.dir / f"{name}.sick", tend.dir / f"{name}.requests"
    keys.setdefault("health_http", f"http://127.0.0.1:{port}/healthz")
    tend.service(name, exec=f"{PY} {tend.dir}/server.py {port} {sick} {mode} {delay} {log}",
                 **keys)
    return sick, log


def requests(log):
    if not log.exists():
        return []
    return [line.split(" ", 1) for line in log.read_text().splitlines()]


def check(tend):
    return subprocess.run([str(TENDD), "--check", "-c", str(tend.config)], capture_output=True,
                          text=True, timeout=30)


def test_http_check_restarts_a_server_that_stops_answering(tend):
    port = free_port()
    sick, log = web(tend, "web", port, health_interval="200ms", health_timeout="300ms",
                    health_retries=2, restart_delay="3s", restart_max_delay="3s")
    tend.start()
    first = tend.wait_running("web")
    assert first["health"] == "healthy", first
    assert first["health_result"] == "ok" and first["health_time"], first
    # The probe is a GET of the URL's path.
    assert requests(log)[0][1] == "GET /healthz HTTP/1.0"
    table = tend.ctl("status", "web", check=0).stdout
    assert "| health: healthy, last check" in table, table
    sick.touch()
    s = tend.wait_state("web", "backoff", timeout=10)
    assert s["reason"].startswith(
        f"health check failed: http://127.0.0.1:{port}/healthz: no status line within 300ms, "
        "killed by signal TERM; restarting in 3s"), s
    assert s["health"] == "inactive" and "no status line" in s["health_result"], s
    log_text = tend.read_log()
    assert "health check failed (1/2)" in log_text and "health check failed (2/2)" in log_text
    assert "health check failed 2 times in a row" in log_text
    # It comes back once the server answers again: a failure counted for the
    # restart policy (on-failure restarts it), with a new process.
    sick.unlink()
    again = tend.wait_running("web", not_pid=first["pid"], timeout=15)
    assert again["restarts"] == 1 and again["health"] == "healthy", again


def test_503_counts_as_a_failure_and_a_pass_resets_the_count(tend):
    port = free_port()
    sick, log = web(tend, "web", port, mode="503", health_interval="100ms",
                    health_retries=1000)
    tend.start()
    pid = tend.wait_running("web")["pid"]
    sick.touch()
    s = wait_for(lambda: (lambda x: x if x["health"].startswith("unhealthy") and
                          int(x["health"].split()[1].split("/")[0]) >= 3 else None)(
                              tend.svc("web")), timeout=10)
    assert s["health"].endswith("/1000"), s
    assert s["health_result"] == (f"http://127.0.0.1:{port}/healthz: "
                                  "HTTP/1.0 503 Service Unavailable"), s
    table = tend.ctl("status", "web", check=0).stdout
    assert "| health: unhealthy " in table and "503 Service Unavailable" in table, table
    sick.unlink()
    s = wait_for(lambda: (lambda x: x if x["health"] == "healthy" else None)(tend.svc("web")),
                 timeout=10)
    assert s["pid"] == pid and s["state"] == "running" and s["health_result"] == "ok", s
    assert "health check passed again" in tend.read_log()


def test_readiness_gates_a_dependent_until_the_port_answers(tend):
    port = free_port()
    web(tend, "web", port, delay=1.5, health_interval="100ms")
    # The dependent checks, as it starts, that web answers.
    probe = tend.dir / "probe.out"
    tend.service("client", after="web",
                 exec=f"{PY} -c \"import urllib.request,sys; "
                      f"open('{probe}','w').write(urllib.request.urlopen("
                      f"'http://127.0.0.1:{port}/').read().decode()); "
                      f"import time; time.sleep(1000)\"")
    t0 = time.monotonic()
    tend.start(wait=False)
    tend.wait_ready()
    s = tend.wait_state("web", "starting")
    assert s["reason"].endswith("waiting for its health check to pass"), s
    assert s["health"] == "starting", s
    assert tend.state("client") == "stopped"
    assert "waiting for web" in tend.svc("client")["reason"]
    tend.wait_running("web", timeout=10)
    assert time.monotonic() - t0 >= 1.5
    tend.wait_running("client", timeout=10)
    wait_for(lambda: probe.exists() and probe.read_text() == "ok\n", timeout=10,
             what="the dependent reached web")
    log = tend.read_log()
    assert log.index("web: starting -> running (ready)") < log.index("client: stopped -> running")


def test_tcp_check_on_a_closed_port_keeps_it_starting_until_ready_timeout(tend):
    port = free_port()
    tend.service("lonely", exec="sleep 1000", health_tcp=f"127.0.0.1:{port}",
                 health_interval="100ms", ready_timeout="2s", restart="never")
    tend.start()
    s = tend.wait_state("lonely", "starting")
    t0 = time.monotonic()
    wait_for(lambda: tend.svc("lonely")["health_result"], timeout=5)
    s = tend.svc("lonely")
    assert s["state"] == "starting" and s["health"] == "starting", s
    assert s["health_result"] == f"connect 127.0.0.1:{port}: Connection refused", s
    s = tend.wait_state("lonely", "failed", timeout=10)
    assert time.monotonic() - t0 >= 1.0
    assert s["reason"] == (f"not ready within the ready timeout, killed by signal TERM"), s
    assert (f"not ready within 2s (health check: connect 127.0.0.1:{port}: Connection "
            "refused), sent TERM") in tend.read_log()
    # While starting, failures are not counted: ready_timeout alone decides.
    assert "health check failed (" not in tend.read_log()


def test_no_timer_and_no_wakeup_without_a_check(tend):
    tend.service("plain", exec="sleep 1000")
    tend.start()
    tend.wait_running("plain")
    assert tend.svc("plain")["health"] is None
    wait_for(lambda: in_epoll_wait(tend.tendd_pid), timeout=10, interval=0.01,
             what="tendd asleep in its loop")
    before = wakeups(tend.tendd_pid)
    select.select([], [], [], 1.5)
    assert wakeups(tend.tendd_pid) == before, "tendd woke up with no health check configured"
    # The same measure sees a check's timer: the test can fail.
    port = free_port()
    web(tend, "web", port, health_interval="100ms")
    tend.ctl("reload", check=0)
    tend.wait_running("web")
    before = wakeups(tend.tendd_pid)
    select.select([], [], [], 1.0)
    assert wakeups(tend.tendd_pid) >= before + 5


def test_a_probe_that_hangs_is_timed_out_counted_and_never_piles_up(tend):
    scripts(tend)
    port, fport = free_port(), free_port()
    mlog, flog = tend.dir / "mute.log", tend.dir / "flood.log"
    tend.service("mute", exec=f"{PY} {tend.dir}/mute.py {port} accept {mlog}")
    tend.service("flood", exec=f"{PY} {tend.dir}/mute.py {fport} flood {flog}")
    # Its check: the mute server, which accepts and never answers. A notify
    # service: the check is liveness only, from READY=1 on.
    nlog = tend.dir / "notifier.log"
    tend.service("app", exec=f"{NOTIFIER} -r 1000 -l {nlog} app", type="notify",
                 after="mute flood", health_http=f"http://127.0.0.1:{port}/",
                 health_interval="300ms", health_timeout="200ms", health_retries=1000)
    tend.service("app2", exec="sleep 1000", after="flood",
                 health_http=f"http://127.0.0.1:{fport}/", health_interval="100ms",
                 health_timeout="1s", health_retries=1000, ready_timeout="0")
    tend.start()
    s = wait_for(lambda: (lambda x: x if x["health"].startswith("unhealthy") and
                          int(x["health"].split()[1].split("/")[0]) >= 4 else None)(
                              tend.svc("app")), timeout=15)
    assert s["state"] == "running"
    assert s["health_result"] == f"http://127.0.0.1:{port}/: no status line within 200ms", s
    # One probe at a time: each begins an interval after the last one ended
    # (its timeout), never sooner.
    times = [float(t) for t, _ in requests(mlog)]
    assert len(times) >= 4
    ready = [int(t) / 1e9 for n, e, t in (l.split() for l in nlog.read_text().splitlines())
             if e == "ready"]
    assert len(ready) == 1 and times[0] > ready[0], "probed before READY=1"
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.45, gaps
    # An endless status line is cut at a bound and fails at once.
    s = wait_for(lambda: (lambda x: x if "longer" in (x["health_result"] or "") else None)(
        tend.svc("app2")), timeout=10)
    assert s["health_result"] == f"http://127.0.0.1:{fport}/: status line longer than 255 bytes", s
    assert s["state"] == "starting"
    assert tend.tendd_alive()


def test_reexec_keeps_the_counters(tend):
    port = free_port()
    sick, log = web(tend, "web", port, mode="503", health_interval="150ms",
                    health_retries=1000)
    tend.start()
    pid = tend.wait_running("web")["pid"]
    sick.touch()

    def failures():
        h = tend.svc("web")["health"]
        return int(h.split()[1].split("/")[0]) if h.startswith("unhealthy") else 0
    wait_for(lambda: failures() >= 3, timeout=10)
    before = failures()
    reexec(tend)
    s = tend.svc("web")
    assert s["pid"] == pid and s["state"] == "running", s
    assert failures() >= before, (before, s)
    wait_for(lambda: failures() > before + 2, timeout=10, what="counting on after the re-exec")
    assert "503" in tend.svc("web")["health_result"]
    # A service still waiting for its first pass stays starting across it.
    sick.unlink()
    wait_for(lambda: tend.svc("web")["health"] == "healthy", timeout=10)


def test_reexec_while_starting_keeps_waiting_for_the_check(tend):
    port = free_port()
    web(tend, "web", port, delay=3, health_interval="100ms", ready_timeout="30s")
    tend.start(wait=False)
    tend.wait_ready()
    tend.wait_state("web", "starting")
    reexec(tend)
    s = tend.svc("web")
    assert s["state"] == "starting" and s["health"] == "starting", s
    s = tend.wait_running("web", timeout=15)
    assert s["health"] == "healthy"


def test_reload_of_health_keys_only_applies_live(tend):
    port = free_port()
    sick, log = web(tend, "web", port, health_interval="5s")
    tend.start()
    pid = tend.wait_running("web")["pid"]
    n = len(requests(log))
    web(tend, "web", port, health_interval="100ms", health_retries=7)
    tend.ctl("reload", check=0)
    wait_for(lambda: len(requests(log)) >= n + 3, timeout=5, what="the new interval")
    s = tend.svc("web")
    assert s["pid"] == pid and s["state"] == "running" and s["health"] == "healthy", s
    # A bad value in a reload changes nothing.
    web(tend, "web", port, health_interval="100ms", health_tcp="127.0.0.1:99999")
    r = tend.ctl("reload")
    assert r.returncode != 0
    assert "health_tcp: invalid address '127.0.0.1:99999'" in r.stderr + r.stdout
    # Removing the check stops its probes at once; the service runs on.
    tend.service("web", exec=f"{PY} {tend.dir}/server.py {port} {sick} hang 0 {log}")
    tend.ctl("reload", check=0)
    s = tend.svc("web")
    assert s["pid"] == pid and s["health"] is None, s
    n = len(requests(log))
    time.sleep(0.5)
    assert len(requests(log)) == n


def test_check_names_file_line_and_key(tend):
    bad = {
        "a": ("health_tcp = 127.0.0.1:0", "health_tcp: invalid address '127.0.0.1:0': invalid "
              "port (expected 1 to 65535)"),
        "b": ("health_tcp = ::1:80", "health_tcp: invalid address '::1:80': an IPv6 address "
              "must be written in brackets, as [::1]:80"),
        "c": ("health_tcp = example.com:80", "health_tcp: invalid address 'example.com:80': host "
              "is not a numeric address or localhost (no name is looked up)"),
        "d": ("health_http = https://127.0.0.1/", "health_http: invalid URL "
              "'https://127.0.0.1/': https is not supported (plain http:// only)"),
        "e": ("health_http = ftp://127.0.0.1/", "health_http: invalid URL "
              "'ftp://127.0.0.1/': not an http:// URL"),
        "f": ("health_http = http://[::1:80/", "health_http: invalid URL 'http://[::1:80/': "
              "unterminated '[' of an IPv6 address"),
        "g": ("health_http = http://127.0.0.1/a b", "health_http: invalid URL "
              "'http://127.0.0.1/a b': the path has a blank"),
        "h": ("health_interval = soon", "health_interval: invalid duration 'soon'"),
        "i": ("health_interval = 0", "health_interval: must be more than 0"),
        "j": ("health_retries = 0", "health_retries: must be more than 0"),
        "k": ("health_retries = 1001", "health_retries: 1001 is out of range (at most 1000)"),
        "l": ("health_timeout = 25h", "health_timeout: duration '25h' is out of range"),
        "m": ("health_start_period = -1", "health_start_period: invalid duration '-1'"),
        "n": ("health_tcp = 127.0.0.1:80\nhealth_http = http://127.0.0.1/",
              "health_http: a service has one health check: health_tcp is set too"),
        "o": ("type = oneshot\nhealth_tcp = 127.0.0.1:80",
              "health_tcp: type=oneshot has no health check (it is done when it exits)"),
        "p": ("health_exec = 'unterminated",
              "health_exec: unterminated quote or trailing backslash in command line"),
        "q": ("health_exec = bin/probe", "health_exec: program 'bin/probe' must be an absolute "
              "path or a bare name searched in PATH"),
        "r": ("health_http = http://127.0.0.1/\nhealth_exec = true",
              "health_exec: a service has one health check: health_http is set too"),
    }
    for name, (text, _) in bad.items():
        tend.service(name, f"[service]\nexec = sleep 1\n{text}\n")
    r = check(tend)
    assert r.returncode == 1, r
    for name, (text, msg) in bad.items():
        line = 2 + len(text.splitlines())
        want = f"services.d/{name}.ini:{line}: {msg}"
        assert want in r.stderr, (want, r.stderr)
    for name in bad:
        tend.remove_service(name)
    good = ["health_tcp = [::1]:8080", "health_tcp = localhost:1", "health_exec = pg_isready -q",
            "health_http = http://[::1]/x?y=1", "health_http = http://localhost:8080",
            "health_http = HTTP://10.0.0.1:65535/a/b%20c"]
    for i, text in enumerate(good):
        tend.service(f"ok{i}", f"[service]\nexec = sleep 1\n{text}\nhealth_start_period = 5s\n")
    r = check(tend)
    assert r.returncode == 0, r.stderr


def test_json_and_show_carry_the_health_fields(tend):
    port = free_port()
    web(tend, "web", port, health_interval="100ms")
    tend.service("plain", exec="sleep 1000")
    tend.service("idle", exec="sleep 1000", health_tcp="127.0.0.1:1", enabled="no")
    tend.start()
    tend.wait_running("web")
    wait_for(lambda: tend.svc("web")["health"] == "healthy", timeout=5)
    idle = tend.svc("idle")
    assert idle["health"] == "inactive" and idle["health_result"] is None, idle
    data = {s["name"]: s for s in json.loads(tend.ctl("status", "--json", check=0).stdout)}
    assert data["plain"]["health"] is None and data["plain"]["health_result"] is None
    assert data["plain"]["health_time"] is None
    assert abs(data["web"]["health_time"] - time.time()) < 10
    show = tend.ctl("show", "web", check=0).stdout
    assert "Health=healthy\n" in show and "HealthResult=ok\n" in show, show
    metrics = tend.ctl("metrics", check=0).stdout
    assert 'tend_service_healthy{service="web"} 1\n' in metrics, metrics
    assert 'tend_service_healthy{service="plain"}' not in metrics
    assert 'tend_service_healthy{service="idle"}' not in metrics


PROBE = r'''#!/bin/sh
# A health_exec probe: each run counts itself in COUNT and passes, except
# runs FROM to TO, which fail with a line of output.
dir=$(dirname "$0")
n=$(cat "$dir/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$dir/count"
echo "$n $TEND_SERVICE $MAINPID $FOO $(id -u)" >> "$dir/probe-env"
echo "checking run $n"
if [ "$n" -ge FROM ] && [ "$n" -le TO ]; then
        echo "backend unreachable (run $n)" >&2
        exit 3
fi
exit 0
'''


def probe_script(tend, first_fail, last_fail):
    p = tend.dir / "probe.sh"
    p.write_text(PROBE.replace("FROM", str(first_fail)).replace("TO", str(last_fail)))
    p.chmod(0o755)
    return p


def test_health_exec_fails_n_times_and_restarts_with_its_last_line(tend):
    probe = probe_script(tend, 2, 4)
    results = tend.dir / "results"
    tend.service("app", exec="sleep 1000", environment="FOO=bar", health_exec=str(probe),
                 health_interval="100ms", health_retries=3, restart_delay="3s",
                 restart_max_delay="3s",
                 exec_stop_post=f"sh -c 'echo $TEND_RESULT $TEND_EXIT_SIGNAL >> {results}'")
    tend.start()
    first = tend.wait_running("app")
    s = tend.wait_state("app", "backoff", timeout=10)
    assert s["reason"] == ("health check failed: backend unreachable (run 4) (exited with code "
                           "3), killed by signal TERM; restarting in 3s"), s
    log = tend.read_log()
    for n in (1, 2, 3):
        assert f"health check failed ({n}/3): backend unreachable (run {n + 1})" in log
    # exec_stop_post hears why it went.
    wait_for(lambda: results.exists(), timeout=5)
    assert results.read_text() == "health TERM\n"
    # Run 5 passes: running again, a new process, healthy.
    again = tend.wait_running("app", not_pid=first["pid"], timeout=10)
    wait_for(lambda: tend.svc("app")["health"] == "healthy", timeout=10)
    assert again["restarts"] == 1
    # Each run was the service's: its environment, its name, its main process.
    runs = [line.split() for line in (tend.dir / "probe-env").read_text().splitlines()]
    assert runs[0] == ["1", "app", str(first["pid"]), "bar", str(os.getuid())], runs[0]
    assert [r[0] for r in runs[:5]] == ["1", "2", "3", "4", "5"]
    # Its output went to the check, not to the service's log.
    logs = tend.ctl("logs", "app", check=0).stdout
    assert "checking run" not in logs and "backend unreachable" not in logs, logs


def test_health_exec_probe_survives_a_reexec_and_never_overlaps(tend):
    slow = tend.dir / "slow.sh"
    spans = tend.dir / "spans"
    slow.write_text(f"#!/bin/sh\necho \"start $(date +%s.%N)\" >> {spans}\n"
                    f"sleep 1.5\necho \"end $(date +%s.%N)\" >> {spans}\n"
                    "echo 'slow failure'\nexit 1\n")
    slow.chmod(0o755)
    tend.service("app", exec=f"{NOTIFIER} app", type="notify", health_exec=str(slow),
                 health_interval="100ms", health_timeout="10s", health_retries=1000)
    tend.start()
    pid = tend.wait_running("app")["pid"]
    wait_for(lambda: spans.exists() and spans.read_text().count("start") == 1, timeout=10)
    reexec(tend)
    # The probe under way ran on across the exec and its end was seen.
    s = wait_for(lambda: (lambda x: x if x["health"] == "unhealthy 1/1000" else None)(
        tend.svc("app")), timeout=10)
    assert s["pid"] == pid and s["health_result"] == "slow failure (exited with code 1)", s
    wait_for(lambda: spans.read_text().count("end") >= 2, timeout=10)
    lines = spans.read_text().split("\n")
    marks = [(w, float(t)) for w, t in (l.split() for l in lines if l)]
    # start, end, start, end...: one probe at a time, the next after the end.
    assert [w for w, _ in marks[:4]] == ["start", "end", "start", "end"], marks
    assert marks[2][1] >= marks[1][1]


def test_no_probe_before_the_main_process(tend):
    # exec_start_pre runs first: the check waits for the main process.
    marks = tend.dir / "marks"
    tend.service("app", exec="sleep 1000", health_interval="100ms",
                 exec_start_pre=f"sh -c 'sleep 1; echo pre >> {marks}'",
                 health_exec=f"sh -c 'echo probe >> {marks}'")
    tend.start()
    tend.wait_running("app", timeout=10)
    lines = marks.read_text().split()
    assert lines[0] == "pre" and set(lines[1:]) == {"probe"}, lines
