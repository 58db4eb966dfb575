"""Issue 15, policy: exit-code policy (success_exit_codes,
restart_prevent_exit_codes), several and optional environment files,
pass_environment, ${VAR} expansion (expand = yes) and wants, with real
services under a real tendd; each bad value rejected by tendd --check with
its file:line."""

import json
import re
import signal
import subprocess

from conftest import PROBE, TENDD, parse_kv, probe_env, wait_for
from test_readiness import NOTIFIER, events


def check(tend):
    return subprocess.run([str(TENDD), "--check", "-c", str(tend.config)],
                          capture_output=True, text=True, timeout=30)


def first(ev, name, what):
    for n, e, t in ev:
        if n == name and e == what:
            return t
    raise AssertionError(f"no '{name} {what}' in {ev}")


def read_probe(tend, out):
    wait_for(lambda: out.exists(), what=str(out))
    return parse_kv(out)


# ---- exit-code policy -------------------------------------------------------

def test_success_exit_codes_make_an_exit_clean_for_on_failure(tend):
    tend.service("listed", exec="sh -c 'exit 3'", success_exit_codes="0 3")
    tend.service("unlisted", exec="sh -c 'exit 3'", restart_delay="10s")
    tend.service("by_signal", exec="sh -c 'kill -TERM $$'", success_exit_codes="SIGTERM")
    tend.start()
    s = tend.wait_state("listed", "stopped")
    assert s["reason"] == "exited with code 3 (success_exit_codes)", s
    assert s["restarts"] == 0 and s["exit_code"] == 3, s
    s = tend.wait_state("by_signal", "stopped")
    assert s["reason"] == "killed by signal TERM (success_exit_codes)", s
    # Without the key, 3 is a failure that on-failure restarts.
    s = tend.wait_state("unlisted", "backoff")
    assert s["reason"].startswith("exited with code 3; restarting in"), s
    out = tend.ctl("status", "listed", check=3).stdout
    assert "exited with code 3 (success_exit_codes)" in out, out


def test_exec_stop_post_sees_a_listed_exit_as_success(tend):
    """success_exit_codes is what counts as a clean exit: exec_stop_post's
    TEND_RESULT says success for one, as for exit 0."""
    posts = {n: tend.dir / f"{n}.env" for n in ("code", "sig", "other")}
    for n, exec_ in (("code", "sh -c 'exit 3'"), ("sig", "sh -c 'kill -USR1 $$'"),
                     ("other", "sh -c 'exit 4'")):
        tend.service(n, exec=exec_, success_exit_codes="3 SIGUSR1", restart="never",
                     exec_stop_post=f"sh -c 'env > {posts[n]}.tmp; mv {posts[n]}.tmp {posts[n]}'")
    tend.start()
    for n in posts:
        wait_for(posts[n].exists, what=f"exec_stop_post of {n}")
    env = {n: dict(line.split("=", 1) for line in posts[n].read_text().splitlines()
                   if line.startswith("TEND_")) for n in posts}
    assert (env["code"]["TEND_EXIT_CODE"], env["code"]["TEND_RESULT"]) == ("3", "success"), env
    assert (env["sig"]["TEND_EXIT_SIGNAL"], env["sig"]["TEND_RESULT"]) == ("USR1", "success"), \
        env
    assert (env["other"]["TEND_EXIT_CODE"], env["other"]["TEND_RESULT"]) == \
        ("4", "exit-code"), env
    assert tend.wait_state("code", "stopped")["reason"] == \
        "exited with code 3 (success_exit_codes)"
    assert tend.wait_state("other", "failed")


def test_oneshot_success_exit_code_completes_and_releases_dependents(tend):
    tend.service("setup", type="oneshot", exec="sh -c 'exit 3'", success_exit_codes="3",
                 enabled="no")
    tend.service("app", exec="sleep 1000", after="setup", requires="setup", enabled="no")
    tend.start()
    tend.ctl("start", "app", check=0)
    s = tend.svc("setup")
    assert s["state"] == "stopped", s
    assert s["reason"] == "completed, exited with code 3 (success_exit_codes)", s
    tend.wait_state("app", "running")
    # The same oneshot without the key fails the start.
    tend.service("setup", type="oneshot", exec="sh -c 'exit 3'", enabled="no",
                 restart="never")
    tend.ctl("stop", "app", "setup", check=0)
    tend.ctl("reload", check=0)
    r = tend.ctl("start", "setup", check=1)
    assert "exited with code 3" in r.stderr, r.stderr


def test_restart_prevent_exit_code_stops_restart_always(tend):
    tend.service("cfg", exec="sh -c 'exit 78'", restart="always",
                 restart_prevent_exit_codes="78")
    tend.service("usr1", exec="sh -c 'kill -USR1 $$'", restart="always",
                 restart_prevent_exit_codes="SIGUSR1 SIGUSR2")
    tend.service("clean", exec="sh -c 'exit 0'", restart="always", success_exit_codes="",
                 restart_prevent_exit_codes="0")
    tend.start()
    s = tend.wait_state("cfg", "failed")
    assert s["reason"] == "exited with code 78 (restart_prevent_exit_codes)", s
    assert s["restarts"] == 0 and s["exit_code"] == 78, s
    s = tend.wait_state("usr1", "failed")
    assert s["reason"] == "killed by signal USR1 (restart_prevent_exit_codes)", s
    # A clean exit in the list: not restarted, and not a failure either.
    s = tend.wait_state("clean", "stopped")
    assert s["reason"] == "exited with code 0 (restart_prevent_exit_codes)", s
    out = tend.ctl("status", "cfg", check=3).stdout
    assert "failed" in out and "exited with code 78 (restart_prevent_exit_codes)" in out, out
    assert tend.ctl("is-failed", "cfg").returncode == 0


def test_prevent_code_before_ready_fails_the_start(tend):
    tend.service("n", type="notify", exec="sh -c 'exit 78'", restart="always",
                 restart_prevent_exit_codes="78", enabled="no")
    tend.start()
    r = tend.ctl("start", "n", check=1)
    s = tend.svc("n")
    assert s["state"] == "failed" and s["restarts"] == 0, s
    assert s["reason"] == ("exited with code 78 before it was ready "
                           "(restart_prevent_exit_codes)"), s
    assert "restart_prevent_exit_codes" in r.stderr, r.stderr


def test_operator_stop_is_clean_whatever_the_lists_say(tend):
    # The stop signal's exit after tendctl stop is never a failure: stopped.
    tend.service("s", exec="sleep 1000", restart="always",
                 restart_prevent_exit_codes="SIGTERM")
    tend.service("t", exec="sleep 1001", restart="always",
                 restart_prevent_exit_codes="SIGTERM")
    tend.start()
    tend.wait_running("s")
    t = tend.wait_running("t")
    tend.ctl("stop", "s", check=0)
    s = tend.svc("s")
    assert s["state"] == "stopped" and s["reason"] == "stopped, killed by signal TERM", s
    # The same signal from someone else is the service's own end: the list applies.
    tend.kill(t["pid"], signal.SIGTERM)
    s = tend.wait_state("t", "failed")
    assert s["reason"] == "killed by signal TERM (restart_prevent_exit_codes)", s


def test_exit_code_lists_accumulate_and_reset_in_drop_ins(tend):
    tend.service("d", exec="sh -c 'exit 4'", restart="always", restart_delay="10s",
                 restart_prevent_exit_codes="4")
    dropins = tend.services_dir / "d.ini.d"
    dropins.mkdir()
    (dropins / "10-reset.ini").write_text("[service]\nrestart_prevent_exit_codes =\n"
                                          "restart_prevent_exit_codes = 5\n")
    (dropins / "20-add.ini").write_text("[service]\nsuccess_exit_codes = 9\n"
                                        "success_exit_codes = 4\n")
    tend.start()
    # 4 was reset away from the prevent list; it is a success now, and
    # restart=always restarts it.
    s = tend.wait_state("d", "backoff")
    assert s["reason"].startswith("exited with code 4 (success_exit_codes); restarting"), s


def test_exit_policy_survives_reexec(tend):
    gate = tend.dir / "gate"
    tend.service("p", exec=f"sh -c 'while [ ! -e {gate} ]; do sleep 0.02; done; exit 78'",
                 restart="always", restart_prevent_exit_codes="78")
    tend.start()
    pid = tend.wait_running("p")["pid"]
    tend.ctl("reexec", check=0)
    assert tend.svc("p")["pid"] == pid
    gate.touch()
    s = tend.wait_state("p", "failed")
    assert s["reason"] == "exited with code 78 (restart_prevent_exit_codes)", s


def test_exit_code_errors_at_check(tend):
    tend.service("a", exec="true", success_exit_codes="0 256 SIGFOO 3x")
    tend.service("b", exec="true", restart_prevent_exit_codes="RTMIN+40 9999999999999999999")
    r = check(tend)
    assert r.returncode == 1, r
    errs = r.stdout + r.stderr
    for want in [
        "services.d/a.ini:3: success_exit_codes: exit status 256 is out of range (0 to 255)",
        "services.d/a.ini:3: success_exit_codes: invalid exit status or signal 'SIGFOO'",
        "services.d/a.ini:3: success_exit_codes: invalid exit status or signal '3x'",
        "services.d/b.ini:3: restart_prevent_exit_codes: invalid exit status or signal "
        "'RTMIN+40'",
        "services.d/b.ini:3: restart_prevent_exit_codes: exit status 9999999999999999999 is "
        "out of range (0 to 255)",
    ]:
        assert want in errs, errs


def test_bad_value_in_reload_leaves_services_untouched(tend):
    tend.service("r", exec="sleep 1000", success_exit_codes="3")
    tend.start()
    pid = tend.wait_running("r")["pid"]
    tend.service("r", exec="sleep 1000", success_exit_codes="300")
    r = tend.ctl("reload", check=1)
    assert "r.ini:3: success_exit_codes: exit status 300 is out of range" in r.stderr, r.stderr
    s = tend.svc("r")
    assert s["state"] == "running" and s["pid"] == pid, s
    # A policy-only change applies without a restart.
    tend.service("r", exec="sleep 1000", success_exit_codes="3 4")
    tend.ctl("reload", check=0)
    assert tend.svc("r")["pid"] == pid


# ---- environment files and pass_environment ---------------------------------

def test_several_environment_files_in_order_and_optional(tend):
    (tend.dir / "a.env").write_text("A=1\nB=1\nC=1\n")
    (tend.dir / "b.env").write_text("B=2\nC=2\n")
    out = tend.dir / "probe.out"
    tend.service("e", exec=f"{PROBE} {out} sleep",
                 environment_file=[str(tend.dir / "a.env"), f"-{tend.dir / 'missing.env'}",
                                   f"-{tend.dir / 'b.env'}"],
                 environment="C=3")
    tend.start()
    env = probe_env(read_probe(tend, out))
    assert (env["A"], env["B"], env["C"]) == ("1", "2", "3"), env
    # A reload reads the files again: a changed file restarts the service.
    pid = tend.svc("e")["pid"]
    (tend.dir / "b.env").write_text("B=22\n")
    out.unlink()
    tend.ctl("reload", check=0)
    tend.wait_running("e", not_pid=pid)
    env = probe_env(read_probe(tend, out))
    assert (env["A"], env["B"], env["C"]) == ("1", "22", "3"), env
    # The optional file appearing counts too.
    (tend.dir / "missing.env").write_text("B=from-missing\nD=4\n")
    pid = tend.svc("e")["pid"]
    out.unlink()
    tend.ctl("reload", check=0)
    tend.wait_running("e", not_pid=pid)
    env = probe_env(read_probe(tend, out))
    assert (env["B"], env["D"]) == ("22", "4"), env


def test_environment_file_errors_at_check(tend):
    (tend.dir / "adir").mkdir()
    tend.service("e", exec="true",
                 environment_file=[f"-{tend.dir / 'adir'}", str(tend.dir / "nope.env"), "-"])
    r = check(tend)
    assert r.returncode == 1, r
    errs = r.stdout + r.stderr
    for want in [
        f"services.d/e.ini:3: environment_file: '{tend.dir / 'adir'}': not a regular file "
        "(a directory)",
        f"services.d/e.ini:4: environment_file: '{tend.dir / 'nope.env'}': cannot open: No "
        "such file or directory",
        "services.d/e.ini:5: environment_file: '-' without a path",
    ]:
        assert want in errs, errs


def test_pass_environment_from_tendd(tend):
    (tend.dir / "p.env").write_text("OVER=file\n")
    out = tend.dir / "probe.out"
    tend.service("p", exec=f"{PROBE} {out} sleep",
                 pass_environment="TEND_T_PASSED TEND_T_UNSET OVER",
                 environment_file=str(tend.dir / "p.env"))
    tend.start(env={"TEND_T_PASSED": "from tendd", "TEND_T_OTHER": "secret", "OVER": "tendd",
                    "TEND_T_UNSET": None})
    env = probe_env(read_probe(tend, out))
    assert env["TEND_T_PASSED"] == "from tendd", env
    assert env["OVER"] == "file", env  # environment_file wins over pass_environment
    assert "TEND_T_UNSET" not in env and "TEND_T_OTHER" not in env, env


def test_pass_environment_errors_at_check(tend):
    tend.service("p", exec="true", pass_environment="GOOD 1BAD A-B NOTIFY_SOCKET")
    r = check(tend)
    assert r.returncode == 1
    errs = r.stdout + r.stderr
    assert ("services.d/p.ini:3: pass_environment: NOTIFY_SOCKET is tendd's own channel to its "
            "supervisor, never passed to a service") in errs, errs
    assert "services.d/p.ini:3: pass_environment: invalid variable name '1BAD'" in errs, errs
    assert "services.d/p.ini:3: pass_environment: invalid variable name 'A-B'" in errs, errs


# ---- expansion ---------------------------------------------------------------

def test_expand_in_exec_and_workdir(tend):
    (tend.dir / "work").mkdir()
    (tend.dir / "x.env").write_text(f"DIR={tend.dir / 'work'}\n")
    out = tend.dir / "args"
    tend.service("x", exec=("sh -c 'printf \"%s|\" \"$@\" > ${OUT}; exec sleep 1000' "
                            "x ${GREETING} \"$${LITERAL}\" $HOME pre${GREETING}post"),
                 expand="yes", environment=[f"OUT={out}", "GREETING=hello world"],
                 environment_file=str(tend.dir / "x.env"), workdir="${DIR}")
    pout = tend.dir / "probe.out"
    tend.service("y", exec=f"{PROBE} ${{P}} sleep", expand="yes", workdir="${DIR}",
                 environment=f"P={pout}", environment_file=str(tend.dir / "x.env"))
    tend.start()
    wait_for(lambda: out.exists() and out.read_text().endswith("|"), what="args")
    # One word each, spaces kept; $$ is a literal $; $HOME is not tend's.
    assert out.read_text() == "hello world|${LITERAL}|$HOME|prehello worldpost|", \
        out.read_text()
    kv = read_probe(tend, pout)
    assert kv["cwd"] == str(tend.dir / "work"), kv
    # The exec line is shown as written.
    r = tend.ctl("show", "y", "-p", "ExecStart", "--value", check=0)
    assert r.stdout.strip() == f"{PROBE} ${{P}} sleep", r.stdout


def test_expand_off_keeps_dollars(tend):
    out = tend.dir / "args"
    tend.service("x", exec=f"sh -c 'printf \"%s|\" \"$@\" > {out}' x ${{A}} $$",
                 environment="A=1")
    tend.start()
    wait_for(lambda: out.exists() and out.read_text().endswith("|"), what="args")
    assert out.read_text() == "${A}|$$|", out.read_text()


def test_expand_errors_at_check(tend):
    tend.service("u", exec="/bin/echo ${NOPE} ${OK}", expand="yes", environment="OK=1")
    tend.service("v", exec="/bin/echo ${BAD", expand="yes")
    tend.service("w", exec="sleep 1", workdir="${D}/x")
    tend.service("z", exec="${BIN}/prog", expand="yes", environment="BIN=rel")
    tend.service("ok", exec="${BIN}/prog", workdir="${D}", expand="yes",
                 environment=["BIN=/usr/bin", "D=/"])
    # What no execve takes is refused as it is expanded, not once made.
    (tend.dir / "big.env").write_text("BIG=" + "x" * 100000 + "\n")
    tend.service("huge", exec="/bin/echo" + " ${BIG}" * 11, expand="yes",
                 environment_file=str(tend.dir / "big.env"))
    r = check(tend)
    assert r.returncode == 1, r
    errs = r.stdout + r.stderr
    assert ("services.d/u.ini:2: exec: unknown variable ${NOPE} (not set by environment, "
            "environment_file or pass_environment; $$ is a literal $)") in errs, errs
    assert ("services.d/v.ini:2: exec: unterminated or invalid variable '${BAD' "
            "(expected ${NAME}; $$ is a literal $)") in errs, errs
    assert "services.d/w.ini:3: workdir: '${D}/x' is not an absolute path" in errs, errs
    assert ("services.d/z.ini:2: exec: program 'rel/prog' must be an absolute path or a bare "
            "name searched in PATH") in errs, errs
    assert ("services.d/huge.ini:2: exec: expands to more than 1024 KiB (more than execve "
            "takes, arguments and environment together)") in errs, errs
    assert "ok.ini" not in errs, errs


def test_expand_in_hooks_and_health_exec(tend):
    """expand = yes covers the hooks' command lines and health_exec as exec:
    word by word, each time one runs; what would not expand is an error of
    --check, with the key."""
    out, hout = tend.dir / "pre.args", tend.dir / "health.args"
    tend.service("x", exec="sleep 1000", expand="yes",
                 environment=[f"OUT={out}", f"HOUT={hout}", "MSG=a b"],
                 exec_start_pre="sh -c 'printf \"%s|\" \"$@\" > ${OUT}' pre ${MSG} $$1",
                 health_exec="sh -c 'printf \"%s|\" \"$@\" > ${HOUT}' h ${MSG}",
                 health_interval="100ms")
    tend.start()
    tend.wait_state("x", "running")
    assert out.read_text() == "a b|$1|", out.read_text()
    wait_for(lambda: hout.exists() and hout.read_text() == "a b|", what="health_exec's args")
    assert tend.svc("x")["health"] == "healthy"

    tend.service("e", exec="sleep 1", expand="yes", exec_stop="/bin/kill ${NOPE}")
    tend.service("f", exec="sleep 1", expand="yes", environment="B=rel",
                 health_exec="${B}/check")
    tend.service("g", exec="sleep 1", exec_stop_post="/bin/echo ${NOT_EXPANDED}")
    r = check(tend)
    assert r.returncode == 1, r
    errs = r.stdout + r.stderr
    assert re.search(r"services.d/e.ini:\d+: exec_stop: unknown variable \$\{NOPE\}", errs), errs
    assert re.search(r"services.d/f.ini:\d+: health_exec: program 'rel/check' must be an "
                     r"absolute path", errs), errs
    assert "g.ini" not in errs, errs


# ---- wants --------------------------------------------------------------------

def test_wants_versus_requires_when_the_wanted_one_fails(tend):
    tend.service("flaky", exec="sh -c 'exit 1'", restart="never")
    tend.service("wanter", exec="sleep 1000", wants="flaky")
    tend.service("requirer", exec="sleep 1001", requires="flaky")
    tend.service("looping", exec="sh -c 'exit 1'", restart="always", restart_delay="30s")
    tend.service("patient", exec="sleep 1002", wants="looping")
    tend.start()
    tend.wait_state("flaky", "failed")
    tend.wait_running("wanter")
    # A wanted service in backoff does not hold its dependent back either.
    tend.wait_state("looping", "backoff")
    tend.wait_running("patient")
    s = tend.wait_state("requirer", "stopped")
    assert s["reason"] == "requirement flaky failed", s
    r = tend.ctl("start", "requirer", check=1)
    assert "flaky" in r.stderr, r.stderr


def test_start_with_a_wanted_service_that_fails_again(tend):
    # The start pulls the failed service again; failing again (an exec error:
    # failed -> failed) must not leave this one waiting for it.
    tend.service("missing", exec="/nonexistent/program", restart="never")
    tend.service("late", exec="sleep 1000", wants="missing", enabled="no")
    tend.start()
    tend.wait_state("missing", "failed")
    tend.ctl("start", "late", check=0, timeout=15)
    tend.wait_running("late")
    assert tend.svc("missing")["state"] == "failed"


def test_wanted_service_stopping_leaves_this_one_running(tend):
    tend.service("db", exec="sleep 1000")
    tend.service("app", exec="sleep 1001", wants="db")
    tend.service("strict", exec="sleep 1002", requires="db")
    tend.start()
    app = tend.wait_running("app")
    tend.wait_running("strict")
    tend.ctl("stop", "db", check=0)
    tend.wait_state("strict", "stopped")
    s = tend.svc("app")
    assert s["state"] == "running" and s["pid"] == app["pid"], s
    # Killed and restarted by policy: app stays as it is too.
    tend.ctl("start", "db", check=0)
    db = tend.wait_running("db")
    tend.kill(db["pid"], signal.SIGKILL)
    tend.wait_running("db", not_pid=db["pid"])
    assert tend.svc("app")["pid"] == app["pid"]


def test_wants_orders_and_pulls(tend):
    log = tend.dir / "events"
    tend.service("b", type="notify", exec=f"{NOTIFIER} -r 300 -l {log} b", enabled="no")
    tend.service("a", type="notify", exec=f"{NOTIFIER} -r 10 -l {log} a", wants="b",
                 enabled="no")
    tend.service("c", exec="sleep 1000", after="a", enabled="no")
    tend.start()
    # Starting a pulls b up (it is not enabled) and waits for it to be ready.
    tend.ctl("start", "a", check=0)
    assert tend.svc("b")["state"] == "running"
    ev = events(log)
    assert first(ev, "b", "ready") <= first(ev, "a", "start"), ev
    # A dependent of the wanted chain is ordered after it.
    tend.ctl("start", "c", check=0)
    r = tend.ctl("list-dependencies", "a", "--no-legend", check=0)
    assert "b" in r.stdout and "wants" in r.stdout, r.stdout
    r = tend.ctl("list-dependencies", "--reverse", "b", "--no-legend", check=0)
    assert "a" in r.stdout and "wants" in r.stdout and "c" in r.stdout, r.stdout
    r = tend.ctl("show", "a", "-p", "Wants", "--value", check=0)
    assert r.stdout.strip() == "b", r.stdout
    tree = json.loads(tend.ctl("list-dependencies", "--json", "c", check=0).stdout)
    a = tree["dependencies"][0]
    assert (a["name"], a["kind"]) == ("a", "after"), tree
    assert [(d["name"], d["kind"], d["state"]) for d in a["dependencies"]] == \
        [("b", "wants", "running")], tree


def test_wants_survives_reexec(tend):
    tend.service("b", exec="sleep 1000")
    tend.service("a", exec="sleep 1001", wants="b")
    tend.start()
    a = tend.wait_running("a")
    tend.wait_running("b")
    tend.ctl("reexec", check=0)
    r = tend.ctl("show", "a", "-p", "Wants", "--value", check=0)
    assert r.stdout.strip() == "b", r.stdout
    tend.ctl("reload", check=0)
    tend.ctl("stop", "b", check=0)
    assert tend.svc("a")["pid"] == a["pid"]


def test_reload_changing_wants_restarts_nothing(tend):
    tend.service("b", exec="sleep 1000", enabled="no")
    tend.service("a", exec="sleep 1001")
    tend.start()
    a = tend.wait_running("a")
    tend.service("a", exec="sleep 1001", wants="b")
    tend.ctl("reload", check=0)
    r = tend.ctl("show", "a", "-p", "Wants", "--value", check=0)
    assert r.stdout.strip() == "b", r.stdout
    assert tend.svc("a")["pid"] == a["pid"]
    assert tend.svc("b")["state"] == "stopped"  # pulled by a start, not by a reload
    tend.ctl("stop", "a", check=0)
    tend.ctl("start", "a", check=0)
    tend.wait_running("b")


def test_wants_errors_at_check(tend):
    tend.service("a", exec="true", wants="nosuch a")
    tend.service("b", exec="true", wants="c")
    tend.service("c", exec="true", after="b")
    r = check(tend)
    assert r.returncode == 1, r
    errs = r.stdout + r.stderr
    assert "services.d/a.ini:3: wants: unknown service 'nosuch'" in errs, errs
    assert "services.d/a.ini:3: wants: a service cannot depend on itself" in errs, errs
    assert "dependency cycle" in errs and "services.d/b.ini:3 wants" in errs, errs
