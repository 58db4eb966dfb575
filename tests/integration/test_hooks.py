"""Lifecycle hooks: exec_start_pre, exec_start_post, exec_stop, exec_reload /
reload_signal (tendctl reload NAME), exec_stop_post; run as the service's
own commands (its environment, its output), timed out, shown in status,
kept across a re-exec, and costing nothing to services without them."""

import os
import select
import signal
import subprocess

from conftest import TENDD, fd_count, wait_for
from test_hostile_control import in_epoll_wait, wakeups
from test_cgroup import cgroot, ctend  # noqa: F401 (fixtures)
from test_reexec import reexec


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


def env_of(path):
    """KEY=VALUE lines written by `env` into path, as a dict."""
    out = {}
    for line in lines(path):
        k, _, v = line.partition("=")
        out[k] = v
    return out


def check(tend):
    r = subprocess.run([str(TENDD), "--check", "-c", str(tend.config)], capture_output=True,
                       text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def test_check_names_file_line_and_key_of_every_bad_hook(tend):
    tend.service("a", text="[service]\n"
                           "exec = sleep 1\n"
                           "type = oneshot\n"
                           "exec_start_pre = 'unterminated\n"
                           "exec_start_post = true\n"
                           "exec_stop = bin/relative\n"
                           "exec_stop_post = \"\" x\n"
                           "hook_timeout = 25h\n")
    rc, out = check(tend)
    assert rc == 1
    for line in (
            "a.ini:4: exec_start_pre: unterminated quote or trailing backslash in command line",
            "a.ini:5: exec_start_post: not for type=oneshot",
            "a.ini:6: exec_stop: program 'bin/relative' must be an absolute path",
            "a.ini:7: exec_stop_post: empty program name",
            "a.ini:8: hook_timeout: duration '25h' is out of range (at most 24h)"):
        assert line in out, f"{line!r} not in:\n{out}"
    # A bad hook in a reload leaves the running service untouched.
    tend.service("a", exec="sleep 1000")
    tend.start()
    pid = tend.wait_running("a")["pid"]
    tend.service("a", exec="sleep 1000", exec_stop="'")
    tend.ctl("reload", check=1)
    assert tend.svc("a")["pid"] == pid
    # A good one applies without a restart, at its next use.
    mark = tend.dir / "stopped-by-hook"
    tend.service("a", exec="sleep 1000", exec_stop=f"sh -c 'touch {mark}; kill $MAINPID'")
    tend.ctl("reload", check=0)
    assert tend.svc("a")["pid"] == pid
    tend.ctl("stop", "a", check=0)
    assert mark.exists()


def test_hooks_run_in_order_with_environment_and_output(tend):
    order = tend.dir / "order"
    post_env = tend.dir / "post.env"
    tend.service("a", exec=f"sh -c 'echo main >> {order}; exec sleep 1000'",
                 environment="GREETING=hello",
                 exec_start_pre=[f"sh -c 'echo pre1 $GREETING $TEND_HOOK >> {order}; "
                                 "echo pre1-output'",
                                 f"sh -c 'echo pre2 >> {order}; echo pre2-error >&2'"],
                 # A simple service is ready once spawned: its exec_start_post
                 # may run before its first line; it waits for it here.
                 exec_start_post=f"sh -c 'until grep -q main {order}; do sleep 0.01; done; "
                                 f"echo post >> {order}; env > {post_env}; echo post-output'")
    tend.start()
    s = wait_for(lambda: (x := tend.svc("a"))["state"] == "running" and post_env.exists()
                 and x, what="a running after exec_start_post")
    assert lines(order) == ["pre1 hello exec_start_pre", "pre2", "main", "post"]
    env = env_of(post_env)
    assert env["TEND_SERVICE"] == "a"
    assert env["TEND_HOOK"] == "exec_start_post"
    assert env["GREETING"] == "hello"
    assert env["MAINPID"] == str(s["pid"])
    assert "NOTIFY_SOCKET" not in env
    assert s["reason"] == "ready"
    # Their output is the service's: tendctl logs shows it.
    out = wait_for(lambda: (r := tend.ctl("logs", "a", check=0).stdout) and "post-output" in r
                   and r, what="hook output in the log")
    for word in ("pre1-output", "pre2-error", "post-output"):
        assert word in out


def test_a_failing_exec_start_pre_fails_the_start_with_its_exit(tend):
    ran = tend.dir / "main-ran"
    tend.service("a", exec=f"sh -c 'touch {ran}; exec sleep 1000'",
                 exec_start_pre=["true", "sh -c 'exit 3'", "true"], restart="never")
    tend.start()
    s = tend.wait_state("a", "failed")
    assert s["reason"] == "exec_start_pre 2/3 exited with code 3"
    assert s["exit_code"] == 3
    assert not ran.exists()
    # The restart policy applies: on-failure backs off and tries again.
    tend.service("a", exec=f"sh -c 'touch {ran}; exec sleep 1000'",
                 exec_start_pre="sh -c 'exit 4'", restart="on-failure", restart_delay="50ms")
    tend.ctl("reload", check=0)
    tend.ctl("start", "--no-block", "a", check=0)
    wait_for(lambda: tend.svc("a")["restarts"] >= 2, what="restarts after exec_start_pre")
    assert "exec_start_pre 1/1 exited with code 4; restarting in" in tend.read_log()
    assert not ran.exists()


def test_a_failing_exec_start_post_stops_the_service(tend):
    tend.service("a", exec="sleep 1000", exec_start_post="sh -c 'exit 5'", restart="never")
    tend.start()
    s = tend.wait_state("a", "failed")
    assert s["reason"].startswith("exec_start_post exited with code 5, then killed by signal TERM")
    assert not [p for p in tend.live_ns_procs() if p["cmdline"] == "sleep 1000"]


def test_status_shows_the_hook_and_a_stop_kills_it(tend):
    gate = tend.dir / "gate"
    tend.service("a", exec="sleep 1000",
                 exec_start_pre=["true", f"sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done'"])
    tend.start()
    s = wait_for(lambda: (x := tend.svc("a"))["reason"] == "running exec_start_pre 2/2" and x,
                 what="exec_start_pre 2/2 in status")
    assert s["state"] == "starting" and s["pid"] is None
    assert [p for p in tend.live_ns_procs() if "while" in p["cmdline"]]
    tend.ctl("stop", "a", check=0)
    assert tend.state("a") == "stopped"
    assert not [p for p in tend.live_ns_procs() if "while" in p["cmdline"]]
    # And it starts through its hooks again.
    gate.touch()
    tend.ctl("start", "a", check=0)
    assert tend.svc("a")["pid"]


def test_a_hook_is_killed_at_hook_timeout(tend):
    tend.service("a", exec="sleep 1000", exec_start_pre="sleep 1000", hook_timeout="300ms",
                 restart="never")
    tend.start()
    s = tend.wait_state("a", "failed")
    assert s["reason"] == "exec_start_pre 1/1 killed by signal TERM (timed out)"
    assert not [p for p in tend.live_ns_procs() if p["cmdline"].startswith("sleep")]


def test_exec_stop_is_used_instead_of_the_stop_signal(tend):
    got = tend.dir / "got"
    hook = tend.dir / "hook.env"
    tend.service("a", exec=f"sh -c \"trap 'echo TERM >> {got}; exit 0' TERM; "
                           f"trap 'echo USR1 >> {got}; exit 0' USR1; "
                           "while :; do sleep 0.05; done\"",
                 exec_stop=f"sh -c 'env > {hook}; kill -USR1 $MAINPID'")
    tend.start()
    pid = tend.wait_running("a")["pid"]
    tend.ctl("stop", "a", check=0)
    s = tend.svc("a")
    assert s["state"] == "stopped"
    assert lines(got) == ["USR1"]
    env = env_of(hook)
    assert env["MAINPID"] == str(pid) and env["TEND_HOOK"] == "exec_stop"
    assert "a: running -> stopping (stop requested, running exec_stop)" in tend.read_log()


def test_exec_stop_then_the_stop_signal_to_what_is_left(tend):
    got = tend.dir / "got"
    tend.service("a", exec=f"sh -c \"trap 'echo TERM >> {got}; exit 0' TERM; "
                           "while :; do sleep 0.05; done\"",
                 exec_stop="true")
    tend.start()
    tend.wait_running("a")
    tend.ctl("stop", "a", check=0)
    assert lines(got) == ["TERM"]
    assert "exec_stop exited with code 0, sent TERM" in tend.read_log()


def test_a_hanging_exec_stop_is_killed_at_stop_timeout(tend):
    post = tend.dir / "post.env"
    tend.service("a", exec="sh -c \"trap '' TERM; while :; do sleep 0.05; done\"",
                 exec_stop="sleep 1000", stop_timeout="500ms",
                 exec_stop_post=f"sh -c 'env > {post}'")
    tend.start()
    tend.wait_running("a")
    tend.ctl("stop", "a", check=0)
    s = tend.svc("a")
    assert s["state"] == "stopped" and s["exit_signal"] == signal.SIGKILL
    assert "stop timed out, exec_stop killed, sent KILL" in tend.read_log()
    assert not [p for p in tend.live_ns_procs() if p["cmdline"] == "sleep 1000"]
    env = env_of(post)
    assert (env["TEND_EXIT_SIGNAL"], env["TEND_RESULT"]) == ("KILL", "timeout")


def test_exec_stop_post_after_a_crash_with_the_exit(tend):
    post = tend.dir / "post.env"
    order = tend.dir / "order"
    tend.service("a", exec=f"sh -c 'echo start >> {order}; exec sleep 1000'",
                 exec_stop_post=f"sh -c 'env > {post}.tmp; sleep 0.3; echo post >> {order}; "
                                f"mv {post}.tmp {post}'",
                 restart_delay="0")
    tend.start()
    first = tend.wait_running("a")
    tend.kill(first["pid"], signal.SIGKILL)
    wait_for(post.exists, what="exec_stop_post")
    env = env_of(post)
    assert env["TEND_EXIT_CODE"] == ""
    assert env["TEND_EXIT_SIGNAL"] == "KILL"
    assert env["TEND_RESULT"] == "signal"
    assert env["TEND_HOOK"] == "exec_stop_post"
    assert "MAINPID" not in env
    tend.wait_running("a", not_pid=first["pid"])
    # The restart waited for it.
    assert lines(order) == ["start", "post", "start"]


def test_exec_stop_post_values(tend):
    post = tend.dir / "post.env"
    tend.service("a", exec="sh -c 'exit 4'", restart="never",
                 exec_stop_post=f"sh -c 'env > {post}'")
    tend.service("b", exec="sleep 1000", exec_stop_post=f"sh -c 'env > {post}.b'")
    tend.service("c", exec="sleep 1000", exec_start_pre="false", restart="never",
                 exec_stop_post=f"sh -c 'env > {post}.c'")
    tend.start()
    tend.wait_state("a", "failed")
    env = env_of(post)
    assert (env["TEND_EXIT_CODE"], env["TEND_EXIT_SIGNAL"], env["TEND_RESULT"]) == \
        ("4", "", "exit-code")
    tend.wait_running("b")
    tend.ctl("stop", "b", check=0)
    env = env_of(post.with_name("post.env.b"))
    assert (env["TEND_EXIT_CODE"], env["TEND_EXIT_SIGNAL"], env["TEND_RESULT"]) == \
        ("", "TERM", "success")
    s = tend.wait_state("c", "failed")
    env = env_of(post.with_name("post.env.c"))
    assert (env["TEND_EXIT_CODE"], env["TEND_RESULT"]) == ("1", "start-pre")
    assert s["reason"] == "exec_start_pre 1/1 exited with code 1"


def test_exec_stop_post_result_of_an_exit_in_success_exit_codes_is_success(tend):
    post = tend.dir / "post.env"
    tend.service("a", exec="sh -c 'exit 3'", restart="never", success_exit_codes="3 SIGUSR1",
                 exec_stop_post=f"sh -c 'env > {post}.a'")
    tend.service("b", exec="sh -c 'kill -USR1 $$'", restart="never",
                 success_exit_codes="3 SIGUSR1", exec_stop_post=f"sh -c 'env > {post}.b'")
    tend.start()
    for name, code, sig, reason in (("a", "3", "", "exited with code 3"),
                                    ("b", "", "USR1", "killed by signal USR1")):
        wait_for(lambda: tend.svc(name)["reason"] == f"{reason} (success_exit_codes)",
                 what=f"{name} stopped as a success")
        assert tend.svc(name)["state"] == "stopped"
        env = env_of(post.with_name(f"post.env.{name}"))
        assert (env["TEND_EXIT_CODE"], env["TEND_EXIT_SIGNAL"], env["TEND_RESULT"]) == \
            (code, sig, "success")


def test_exec_stop_post_after_a_stop_during_exec_start_pre_has_no_exit(tend):
    """The main process never ran in this start: exec_stop_post must not be
    told the previous run's exit."""
    post, block = tend.dir / "post", tend.dir / "block"
    tend.service("a", exec="sh -c 'exit 5'", restart="never",
                 exec_start_pre=f"sh -c 'test -e {block} && exec sleep 1000; true'",
                 exec_stop_post=f"sh -c 'echo \"$TEND_EXIT_CODE|$TEND_EXIT_SIGNAL|$TEND_RESULT\" "
                                f">> {post}'")
    tend.start()
    tend.wait_state("a", "failed")
    wait_for(lambda: lines(post) == ["5||exit-code"], what="the first exec_stop_post")
    block.touch()
    tend.ctl("start", "--no-block", "a", check=0)
    wait_for(lambda: tend.svc("a")["reason"] == "running exec_start_pre 1/1",
             what="exec_start_pre running")
    tend.ctl("stop", "a", check=0)
    wait_for(lambda: len(lines(post)) == 2, what="the second exec_stop_post")
    assert lines(post)[1] == "||success", lines(post)


def test_a_reexec_while_a_hook_runs(tend):
    gate = tend.dir / "gate"
    order = tend.dir / "order"
    tend.service("a", exec=f"sh -c 'echo main >> {order}; exec sleep 1000'",
                 exec_start_pre=[f"sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done; "
                                 f"echo pre1 >> {order}'", f"sh -c 'echo pre2 >> {order}'"])
    tend.start()
    wait_for(lambda: tend.svc("a")["reason"] == "running exec_start_pre 1/2",
             what="exec_start_pre running")
    reexec(tend)
    s = tend.svc("a")
    assert (s["state"], s["reason"]) == ("starting", "running exec_start_pre 1/2")
    gate.touch()
    tend.wait_running("a")
    assert lines(order) == ["pre1", "pre2", "main"]
    # A hook's timeout survives it too.
    tend.service("b", exec="sleep 1000", exec_start_pre="sleep 1000", hook_timeout="1500ms",
                 restart="never")
    tend.ctl("reload", check=0)
    wait_for(lambda: tend.svc("b")["reason"] == "running exec_start_pre 1/1")
    reexec(tend)
    s = tend.wait_state("b", "failed")
    assert s["reason"] == "exec_start_pre 1/1 killed by signal TERM (timed out)"


def test_a_service_without_hooks_costs_no_fd_and_no_wakeup(tend):
    tend.service("plain", exec="sleep 1000")
    tend.service("hooked", exec="sleep 1000", enabled="no",
                 exec_start_pre="true", exec_start_post="true", exec_stop_post="true")
    tend.start()
    tend.wait_running("plain")
    wait_for(lambda: in_epoll_wait(tend.tendd_pid), timeout=10, interval=0.01,
             what="tendd asleep in its loop")
    fds = fd_count(tend.tendd_pid)
    # A service with hooks, after they ran, holds nothing more either.
    tend.ctl("start", "hooked", check=0)
    wait_for(lambda: tend.svc("hooked")["reason"] == "ready")
    tend.ctl("stop", "hooked", check=0)
    wait_for(lambda: in_epoll_wait(tend.tendd_pid) and fd_count(tend.tendd_pid) <= fds + 1,
             timeout=10, interval=0.01, what="tendd back to its fds, asleep")

    def quiet():
        # The last state change's signal to clients is sent in a batch a
        # moment later: settled once a short while passes without a wakeup.
        n = wakeups(tend.tendd_pid)
        select.select([], [], [], 0.3)
        return in_epoll_wait(tend.tendd_pid) and wakeups(tend.tendd_pid) == n
    wait_for(quiet, timeout=10, what="tendd settled")
    before = wakeups(tend.tendd_pid)
    select.select([], [], [], 1.5)
    assert wakeups(tend.tendd_pid) == before, "tendd woke up with idle services"
    assert fd_count(tend.tendd_pid) <= fds + 1  # hooked's output pipe, kept for its next start


def test_reload_name_runs_exec_reload_or_sends_reload_signal(tend):
    got = tend.dir / "got"
    gate = tend.dir / "gate"
    hook_env = tend.dir / "reload.env"
    tend.service("cmd", exec="sleep 1000",
                 exec_reload=f"sh -c 'env > {hook_env}; while [ ! -e {gate} ]; do sleep 0.02; "
                             "done; echo reload-output'")
    tend.service("sig", exec=f"sh -c \"trap 'echo HUP >> {got}' HUP; "
                             "while :; do sleep 0.05; done\"",
                 reload_signal="HUP")
    tend.service("none", exec="sleep 1000")
    tend.service("down", exec="sleep 1000", reload_signal="HUP", enabled="no")
    tend.start()
    pid = tend.wait_running("cmd")["pid"]
    sig_pid = tend.wait_running("sig")["pid"]
    tend.wait_running("none")
    tend.ctl("reload", "cmd", "sig", check=0)
    s = tend.svc("cmd")
    assert (s["state"], s["reason"], s["pid"]) == ("running", "reloading (exec_reload)", pid)
    wait_for(lambda: lines(got) == ["HUP"], what="HUP to sig")
    assert tend.svc("sig")["pid"] == sig_pid
    # One reload at a time.
    r = tend.ctl("reload", "cmd", check=1)
    assert "cmd is running exec_reload" in r.stderr
    gate.touch()
    wait_for(lambda: tend.svc("cmd")["reason"] == "reloaded (exec_reload)", what="reloaded")
    assert env_of(hook_env)["MAINPID"] == str(pid)
    assert "reload-output" in tend.ctl("logs", "cmd", check=0).stdout
    # Neither key, not running: errors naming the service; the others are done.
    r = tend.ctl("reload", "none", "sig", "down", check=1)
    assert "none has neither exec_reload nor reload_signal" in r.stderr
    assert "down is not running (stopped)" in r.stderr
    wait_for(lambda: lines(got) == ["HUP", "HUP"], what="the second HUP")
    # A failed reload stops nothing.
    tend.service("cmd", exec="sleep 1000", exec_reload="sh -c 'exit 7'")
    tend.ctl("reload", check=0)
    tend.ctl("reload", "cmd", check=0)
    wait_for(lambda: tend.svc("cmd")["reason"] == "exec_reload exited with code 7")
    assert tend.svc("cmd")["pid"] == pid and tend.state("cmd") == "running"
    # Plain reload still reloads the configuration.
    tend.service("new", exec="sleep 1000")
    tend.ctl("reload", check=0)
    tend.wait_running("new")


def test_hooks_that_leave_writers_behind_never_cut_the_main_processs_output(tend):
    # Each reload leaves a process holding its output pipe open; tendd reads
    # a few pipes per service at most, and the main process's must stay.
    tend.service("a", exec="sh -c 'i=0; while :; do i=$((i+1)); echo tick $i; "
                           "sleep 0.05; done'",
                 exec_reload="sh -c 'sleep 1000 &'", restart="never")
    tend.start()
    pid = tend.wait_running("a")["pid"]

    def ticks():
        out = tend.ctl("logs", "a", "-n", "5", check=0).stdout
        return [int(w) for w in out.split() if w.isdigit()]
    for i in range(6):
        tend.ctl("reload", "a", check=0)
        wait_for(lambda: tend.svc("a")["reason"] == "reloaded (exec_reload)",
                 what=f"reload {i + 1} done")
    wait_for(ticks, what="ticks in the log")
    last = max(ticks())
    wait_for(lambda: max(ticks()) > last + 3, what="the main process writing on")
    s = tend.svc("a")
    assert (s["state"], s["pid"]) == ("running", pid), s


def test_reload_name_needs_the_right_to_change_state(tend):
    tend.open_socket_dir()
    tend.service("a", exec="sleep 1000", reload_signal="HUP")
    tend.start()
    tend.wait_running("a")
    os.chmod(tend.socket, 0o666)  # nobody may connect, and read, not change state
    r = tend.ctl("reload", "a", user=(65534, 65534))
    assert r.returncode == 1 and "a" in r.stderr, (r.returncode, r.stderr)
    assert tend.svc("a")["reason"].startswith("started")


def test_on_failure_starts_services_with_the_exit_and_the_last_output(tend):
    alert = tend.dir / "alert.env"
    tend.service("app", exec="sh -c 'for i in $(seq 1 15); do echo line $i; done; "
                              "echo last words >&2; exit 3'",
                 restart="never", on_failure="alert other", after="other")
    tend.service("alert", type="oneshot", enabled="no",
                 exec=f"sh -c 'env > {alert}.tmp; printf \"%s\" \"$TEND_FAILED_OUTPUT\" "
                      f"> {alert}.out; mv {alert}.tmp {alert}'")
    tend.service("other", exec="sleep 1000")
    tend.start()
    other = tend.wait_running("other")["pid"]
    tend.wait_state("app", "failed")
    wait_for(alert.exists, what="the on_failure service ran")
    env = env_of(alert)
    assert env["TEND_FAILED_SERVICE"] == "app"
    assert env["TEND_EXIT_CODE"] == "3" and env["TEND_EXIT_SIGNAL"] == ""
    assert env["TEND_FAILED_REASON"] == "exited with code 3"
    out = alert.with_name("alert.env.out").read_text().split("\n")
    assert out == [f"line {i}" for i in range(7, 16)] + ["last words"]
    assert tend.wait_state("alert", "stopped")["reason"] == "completed"
    # A service running already is left alone.
    assert tend.svc("other")["pid"] == other
    assert "other: on_failure of app: running already" in tend.read_log()
    # Only when it enters failed: not for a stop, nor for a restart.
    alert.unlink()
    tend.service("app", exec="sleep 1000", on_failure="alert")
    tend.ctl("reload", check=0)
    tend.ctl("restart", "app", check=0)
    tend.ctl("stop", "app", check=0)
    tend.ctl("start", "app", check=0)
    pid = tend.svc("app")["pid"]
    tend.kill(pid, signal.SIGKILL)  # restart = on-failure: back off, not failed
    tend.wait_running("app", not_pid=pid)
    assert not alert.exists()
    # The next spawn of alert has none of it.
    tend.ctl("start", "alert", check=0)
    wait_for(alert.exists)
    assert "TEND_FAILED_SERVICE" not in env_of(alert)


def test_on_failure_after_the_start_limit_and_across_a_reexec(tend):
    alert = tend.dir / "alert.env"
    gate = tend.dir / "gate"
    tend.service("app", exec="sh -c 'echo crashing; kill -9 $$'", restart_delay="0",
                 start_limit_burst="3", on_failure="alert")
    tend.service("alert", type="oneshot", enabled="no",
                 exec=f"sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done; env > {alert}'")
    tend.start()
    s = tend.wait_state("app", "failed")
    assert "start limit hit" in s["reason"]
    wait_for(lambda: tend.state("alert") == "starting", what="alert started")
    reexec(tend)
    gate.touch()
    wait_for(alert.exists, what="alert ran")
    env = env_of(alert)
    assert env["TEND_EXIT_SIGNAL"] == "KILL" and env["TEND_EXIT_CODE"] == ""
    assert env["TEND_FAILED_OUTPUT"].split("\n")[-1] == "crashing"


def test_on_failure_names_must_exist(tend):
    tend.service("a", exec="sleep 1", on_failure="nope a")
    rc, out = check(tend)
    assert rc == 1
    assert "a.ini:3: on_failure: unknown service 'nope'" in out, out
    assert "a.ini:3: on_failure: a service cannot name itself" in out, out


def test_hooks_run_in_the_services_cgroup(ctend):
    cg = ctend.dir / "cgroups"
    d = ctend.cgroot / "a.service"
    ctend.service("a", exec="sh -c 'setsid sleep 1000 & exec sleep 1000'",
                  exec_start_pre=f"sh -c 'cat /proc/self/cgroup > {cg}.pre'",
                  exec_stop_post=f"sh -c 'cat /proc/self/cgroup > {cg}.post; "
                                 f"env > {cg}.env'",
                  restart="never")
    ctend.start()
    pid = ctend.wait_running("a")["pid"]
    assert (cg.with_name("cgroups.pre")).read_text().strip().endswith("/a.service")
    ctend.kill(pid, signal.SIGKILL)
    s = ctend.wait_state("a", "failed")
    # exec_stop_post ran after what the crash left was killed, in a cgroup
    # of the service's name made anew, which is gone with the instance.
    assert (cg.with_name("cgroups.post")).read_text().strip().endswith("/a.service")
    assert env_of(cg.with_name("cgroups.env"))["TEND_RESULT"] == "signal"
    assert s["exit_signal"] == signal.SIGKILL
    wait_for(lambda: not d.exists(), what="its cgroup removed")
    assert not [p for p in ctend.live_ns_procs() if p["cmdline"] == "sleep 1000"]
