"""Templates and instances: services.d/NAME@.ini defines NAME@X for any X,
with %i, %n and %% substituted in its values; instances = makes some at
load, tendctl start NAME@X makes one at runtime; reload, re-exec, cat, show
and the checks of tendd --check."""

import json
import os
import subprocess

from conftest import wait_for
from test_recover import crashable, kill_keeper, procs_running  # noqa: F401 (fixture)
from test_reexec import reexec


def names(tend):
    return {s["name"] for s in tend.status()}


def cmdline(tend, pid):
    for p in tend.live_ns_procs():
        if p["pid"] == pid:
            return p["cmdline"]
    return None


def worker(tend, instances="a b", exec_="sleep 1000", extra=""):
    """services.d/worker@.ini: writes %i, %n and its environment to a file
    named after the instance, then runs exec_."""
    out = tend.dir / "out"
    out.mkdir(exist_ok=True)
    text = ("[service]\n"
            f"exec = sh -c 'echo \"%i %n 100%% $INST $FULL\" > {out}/%i; exec {exec_}'\n"
            "environment = INST=%i\n"
            "environment = FULL=%n\n")
    if instances is not None:
        text += f"instances = {instances}\n"
    return tend.service("worker@", text + extra)


def out_of(tend, inst):
    p = tend.dir / "out" / inst
    return wait_for(lambda: p.exists() and p.read_text(), what=f"{p}")


def check(tend):
    r = subprocess.run([str(tend.tendd), "--check", "-c", str(tend.config)],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def test_instances_run_with_specifiers_substituted(tend):
    worker(tend)
    tend.start()
    a = tend.wait_running("worker@a")
    b = tend.wait_running("worker@b")
    assert names(tend) == {"worker@a", "worker@b"}, "the template itself is no service"
    assert out_of(tend, "a") == "a worker@a 100% a worker@a\n"
    assert out_of(tend, "b") == "b worker@b 100% b worker@b\n"
    assert a["pid"] != b["pid"]


def test_a_template_alone_starts_nothing(tend):
    worker(tend, instances=None)
    tend.service("other", exec="sleep 1000")
    tend.start()
    tend.wait_running("other")
    assert names(tend) == {"other"}
    tend.ctl("status", "worker@", check=1)


def test_dependencies_name_instances_and_other_at_i(tend):
    tend.service("db@", "[service]\nexec = sleep 1000\ninstances = a b\n")
    worker(tend, extra="requires = db@%i\n")
    tend.service("web", exec="sleep 1000", after="worker@a worker@b")
    tend.start()
    for n in ("db@a", "db@b", "worker@a", "worker@b", "web"):
        tend.wait_running(n)
    r = tend.ctl("list-dependencies", "worker@a", check=0)
    assert "db@a" in r.stdout and "db@b" not in r.stdout, r.stdout
    # requires= holds for instances too: db@a stopping stops worker@a only.
    tend.ctl("stop", "db@a", check=0)
    tend.wait_state("worker@a", "stopped")
    assert tend.state("worker@b") == "running"


def test_start_makes_an_instance_at_runtime(tend):
    worker(tend, instances="a")
    tend.start()
    tend.wait_running("worker@a")
    tend.ctl("status", "worker@d", check=1)
    tend.ctl("start", "worker@d", check=0)
    d = tend.wait_running("worker@d")
    assert out_of(tend, "d") == "d worker@d 100% d worker@d\n"
    assert "worker@d" in names(tend)
    r = tend.ctl("show", "worker@d", check=0)
    assert "State=running" in r.stdout, r.stdout
    r = tend.ctl("cat", "worker@d", check=0)
    assert "worker@.ini" in r.stdout and "instances = a" in r.stdout, r.stdout
    # Stopped, it stays listed (how it ended can be seen) until a reload.
    tend.ctl("stop", "worker@d", check=0)
    assert tend.state("worker@d") == "stopped"
    assert d["pid"] not in [p["pid"] for p in tend.live_ns_procs()]
    tend.ctl("reload", check=0)
    wait_for(lambda: "worker@d" not in names(tend), what="worker@d dropped by the reload")
    assert tend.state("worker@a") == "running"
    assert "worker@d: instance made from " in tend.read_log()
    # restart makes one too; --no-block returns at once.
    tend.ctl("restart", "worker@r", check=0)
    tend.wait_running("worker@r")
    tend.ctl("start", "--no-block", "worker@s", check=0)
    tend.wait_running("worker@s")


def test_start_of_names_that_make_no_instance(tend):
    worker(tend, instances="a")
    tend.service("plain", exec="sleep 1000")
    tend.start()
    tend.wait_running("worker@a")
    for bad in ("nosuch@d", "plain@d", "worker@", "worker@a@b", "worker@a b"):
        r = tend.ctl("start", bad)
        assert r.returncode != 0, bad
        assert "unknown service" in r.stderr or "invalid" in r.stderr, (bad, r.stderr)
    assert names(tend) == {"worker@a", "plain"}
    # One unknown name: nothing done, no instance made either.
    r = tend.ctl("start", "worker@x", "nosuch", check=1)
    assert "nosuch: unknown service" in r.stderr, r.stderr
    assert names(tend) == {"worker@a", "plain"}
    # A name given twice is made once.
    tend.ctl("start", "worker@y", "worker@y", "plain", check=0)
    tend.wait_running("worker@y")


def test_a_runtime_instance_with_an_error_is_not_made(tend):
    tend.service("u@", "[service]\nexec = sleep 1000\nuser = %i\n")
    tend.start()
    r = tend.ctl("start", "u@nosuchuser")
    assert r.returncode == 1, r
    assert "services.d/u@.ini:3: user: for u@nosuchuser: unknown user 'nosuchuser'" \
        in r.stderr, r.stderr
    assert "u@nosuchuser" not in names(tend)
    tend.ctl("start", "u@nobody", check=0)
    tend.wait_running("u@nobody")


def test_a_start_of_several_instances_makes_all_or_none(tend):
    tend.service("u@", "[service]\nexec = sleep 1000\nuser = %i\n")
    tend.service("db@", "[service]\nexec = sleep 1000\n")
    tend.service("w@", "[service]\nexec = sleep 1000\nrequires = db@%i\n")
    tend.start()
    r = tend.ctl("start", "u@nobody", "u@nosuchuser", "u@nosuchuser2")
    assert r.returncode == 1, r
    assert "services.d/u@.ini:3: user: for u@nosuchuser: unknown user 'nosuchuser'" \
        in r.stderr, r.stderr
    assert "for u@nosuchuser2: unknown user 'nosuchuser2'" in r.stderr, r.stderr
    assert names(tend) == set(), "one instance with errors: none is made"
    # Instances started together may name each other, in any order.
    tend.ctl("start", "w@x", "db@x", check=0)
    assert tend.state("w@x") == "running" and tend.state("db@x") == "running"
    r = tend.ctl("list-dependencies", "w@x", check=0)
    assert "db@x" in r.stdout, r.stdout
    # Alone, the one named must be there first.
    r = tend.ctl("start", "w@y", check=1)
    assert "for w@y: unknown service 'db@y'" in r.stderr, r.stderr
    assert names(tend) == {"w@x", "db@x"}
    # Two that name each other make a cycle: neither is made.
    tend.service("c@", "[service]\nexec = sleep 1000\nafter = d@%i\n")
    tend.service("d@", "[service]\nexec = sleep 1000\nafter = c@%i\n")
    tend.ctl("reload", check=0)
    r = tend.ctl("start", "c@x", "d@x", check=1)
    assert "it names another that names it" in r.stderr, r.stderr
    assert names(tend) == {"w@x", "db@x"}


def test_an_unprivileged_caller_makes_no_instance(tend):
    tend.open_socket_dir("socket_mode = 0666\n")
    worker(tend, instances=None)
    tend.start()
    r = tend.ctl("start", "worker@d", user=(65534, 65534))
    assert r.returncode == 1 and "denied" in r.stderr.lower(), r
    assert names(tend) == set()
    # Reading is allowed: status of an instance not made makes none.
    r = tend.ctl("status", "worker@d", user=(65534, 65534))
    assert r.returncode == 1 and "unknown service" in r.stderr, r
    assert names(tend) == set()


def test_reload_unchanged_template_keeps_the_instances(tend):
    worker(tend)
    tend.service("x", exec="sleep 1000")
    tend.start()
    tend.ctl("start", "worker@d", check=0)
    before = {n: tend.wait_running(n) for n in ("worker@a", "worker@b", "worker@d")}
    x = tend.wait_running("x")["pid"]
    tend.service("x", exec="sleep 1001")
    tend.ctl("reload", check=0)
    tend.wait_running("x", not_pid=x)
    for n, s in before.items():
        now = tend.svc(n)
        assert now["pid"] == s["pid"] and now["since"] == s["since"], n


def test_reload_changed_template_restarts_its_instances(tend):
    worker(tend)
    tend.start()
    tend.ctl("start", "worker@d", check=0)
    before = {n: tend.wait_running(n)["pid"] for n in ("worker@a", "worker@b", "worker@d")}
    worker(tend, exec_="sleep 1001")
    tend.ctl("reload", check=0)
    for n, pid in before.items():
        s = tend.wait_running(n, not_pid=pid)
        assert cmdline(tend, s["pid"]) == "sleep 1001", n


def test_reload_policy_change_of_a_template_applies_live(tend):
    worker(tend)
    tend.start()
    before = {n: tend.wait_running(n)["pid"] for n in ("worker@a", "worker@b")}
    worker(tend, extra="stop_timeout = 3s\n")
    tend.ctl("reload", check=0)
    for n, pid in before.items():
        assert tend.svc(n)["pid"] == pid, n


def test_reload_instances_changed_adds_and_removes(tend):
    worker(tend, instances="a b")
    tend.start()
    a = tend.wait_running("worker@a")["pid"]
    b = tend.wait_running("worker@b")["pid"]
    bfd = tend.pidfd(b)
    try:
        worker(tend, instances="a c")
        tend.ctl("reload", check=0)
        tend.wait_running("worker@c")
        wait_for(lambda: "worker@b" not in names(tend), what="worker@b removed")
        from conftest import pidfd_alive
        wait_for(lambda: not pidfd_alive(bfd), what="worker@b's process to end")
    finally:
        os.close(bfd)
    assert tend.svc("worker@a")["pid"] == a


def test_reload_drop_in_accumulates_and_empty_resets_instances(tend):
    worker(tend, instances="a")
    tend.start()
    tend.wait_running("worker@a")
    dropins = tend.services_dir / "worker@.ini.d"
    dropins.mkdir()
    (dropins / "10-more.ini").write_text("[service]\ninstances = b\n")
    tend.ctl("reload", check=0)
    tend.wait_running("worker@b")
    assert names(tend) == {"worker@a", "worker@b"}
    (dropins / "20-reset.ini").write_text("[service]\ninstances =\ninstances = c\n")
    r = tend.ctl("reload")
    # One file, one instances= line: a second one is a duplicate key.
    assert r.returncode == 1 and "duplicate key" in r.stderr, r
    (dropins / "20-reset.ini").write_text("[service]\ninstances =\n")
    (dropins / "30-c.ini").write_text("[service]\ninstances = c\n")
    tend.ctl("reload", check=0)
    tend.wait_running("worker@c")
    wait_for(lambda: names(tend) == {"worker@c"}, what="only worker@c left")
    r = tend.ctl("cat", "worker@c", check=0)
    for f in ("worker@.ini", "10-more.ini", "20-reset.ini", "30-c.ini"):
        assert f in r.stdout, r.stdout


def test_reload_removed_template_stops_every_instance(tend):
    p = worker(tend)
    tend.service("x", exec="sleep 1000")
    tend.start()
    tend.ctl("start", "worker@d", check=0)
    for n in ("worker@a", "worker@b", "worker@d"):
        tend.wait_running(n)
    p.unlink()
    tend.ctl("reload", check=0)
    wait_for(lambda: names(tend) == {"x"}, what="every instance removed")
    assert not [p for p in tend.live_ns_procs() if p["cmdline"] == "sleep 1000"
                and p["pid"] != tend.svc("x")["pid"]]
    # Its instances can no longer be made.
    r = tend.ctl("start", "worker@e", check=1)
    assert "worker@e: unknown service" in r.stderr, r.stderr
    assert "worker@e" not in names(tend)


def test_reload_with_a_bad_template_changes_nothing(tend):
    worker(tend)
    tend.start()
    tend.ctl("start", "worker@d", check=0)
    before = {n: tend.wait_running(n)["pid"] for n in ("worker@a", "worker@b", "worker@d")}
    worker(tend, extra="user = %x\n")
    r = tend.ctl("reload")
    assert r.returncode == 1 and "worker@.ini:6: user: unknown specifier '%x'" in r.stderr, r
    # A template that is fine on its own but not for a runtime instance.
    worker(tend, extra="user = %i\n", instances="root")
    r = tend.ctl("reload")
    assert r.returncode == 1 and "user: for worker@d: unknown user 'd'" in r.stderr, r
    for n, pid in before.items():
        assert tend.svc(n)["pid"] == pid, n


def test_a_runtime_instance_survives_reexec(tend):
    worker(tend, instances="a")
    tend.start()
    tend.ctl("start", "worker@d", check=0)
    d = tend.wait_running("worker@d")["pid"]
    a = tend.wait_running("worker@a")["pid"]
    reexec(tend)
    assert tend.svc("worker@d")["pid"] == d
    assert tend.svc("worker@a")["pid"] == a
    # The template came across too: another instance, and a reload keeps d.
    tend.ctl("start", "worker@e", check=0)
    tend.wait_running("worker@e")
    tend.ctl("reload", check=0)
    assert tend.svc("worker@d")["pid"] == d
    tend.wait_running("worker@e")


def test_status_json_lists_instances(tend):
    worker(tend, instances="a")
    tend.start()
    tend.wait_running("worker@a")
    r = tend.ctl("status", "--json", "worker@a", check=0)
    data = json.loads(r.stdout)
    assert data[0]["name"] == "worker@a" and data[0]["state"] == "running"


def test_own_file_replaces_the_template_for_one_instance(tend):
    worker(tend, instances="a b")
    tend.service("worker@b", "[service]\nexec = sleep 1002\nenvironment = X=%i-%n\n")
    tend.start()
    tend.wait_running("worker@a")
    b = tend.wait_running("worker@b")
    assert cmdline(tend, b["pid"]) == "sleep 1002"
    r = tend.ctl("cat", "worker@b", check=0)
    assert "worker@b.ini" in r.stdout and "worker@.ini" not in r.stdout, r.stdout


# tendd --check


def test_check_reports_a_template_with_an_error_with_no_instance(tend):
    tend.service("t@", "[service]\nexec = sleep %x\nbogus = 1\n")
    rc, out = check(tend)
    assert rc == 1
    assert "services.d/t@.ini:2: exec: unknown specifier '%x'" in out, out
    assert "services.d/t@.ini:3: bogus: unknown key" in out, out
    tend.service("t@", "[service]\nexec = sleep 1\nrestart = sometimes\n")
    rc, out = check(tend)
    assert rc == 1 and "services.d/t@.ini:3: restart: invalid" in out, out
    tend.service("t@", "[service]\nrestart = always\n")
    rc, out = check(tend)
    assert rc == 1 and "services.d/t@.ini:0: exec: required key is missing" in out, out
    tend.service("t@", "[service]\nexec = echo 100%\n")
    rc, out = check(tend)
    assert rc == 1 and "services.d/t@.ini:2: exec: '%' at the end" in out, out
    tend.service("t@", "[service]\nexec = echo 100%% %i\n")
    rc, out = check(tend)
    assert rc == 0 and out.endswith(": ok, 0 services, 1 template\n"), out


def test_check_reports_a_bad_instance_name(tend):
    tend.service("t@", "[service]\nexec = sleep 1\ninstances = ok a@b .x\n")
    rc, out = check(tend)
    assert rc == 1
    assert "services.d/t@.ini:3: instances: invalid instance name 'a@b'" in out, out
    tend.service("t@", "[service]\nexec = sleep 1\ninstances = " + "x" * 70 + "\n")
    rc, out = check(tend)
    assert rc == 1 and "services.d/t@.ini:3: instances: invalid instance name" in out, out


def test_check_instances_only_in_a_template(tend):
    tend.service("plain", "[service]\nexec = sleep 1\ninstances = a\n")
    rc, out = check(tend)
    assert rc == 1
    assert "services.d/plain.ini:3: instances: only a template (NAME@.ini) has instances" \
        in out, out


def test_check_at_in_names(tend):
    tend.service("t@", "[service]\nexec = sleep 1\n")
    tend.service("t@a@b", "[service]\nexec = sleep 1\n")
    rc, out = check(tend)
    assert rc == 1 and "services.d/t@a@b.ini:0: invalid instance name 'a@b'" in out, out
    (tend.services_dir / "t@a@b.ini").unlink()
    # A dependency on a template (not an instance) names no service.
    tend.service("x", "[service]\nexec = sleep 1\nafter = t@\n")
    rc, out = check(tend)
    assert rc == 1 and "services.d/x.ini:3: after: unknown service 't@'" in out, out
    tend.service("x", "[service]\nexec = sleep 1\nafter = t@q\n")
    rc, out = check(tend)
    assert rc == 1 and "services.d/x.ini:3: after: unknown service 't@q'" in out, out
    # A name with @ and no template is an ordinary service, % literal.
    (tend.services_dir / "t@.ini").unlink()
    tend.service("x", "[service]\nexec = date +%s\n")
    tend.service("y@z", "[service]\nexec = date +%s\n")
    rc, out = check(tend)
    assert rc == 0, out


def test_check_instance_errors_name_the_instance(tend):
    tend.service("t@", "[service]\nexec = sleep 1\nuser = %i\ninstances = root nosuchuser\n")
    rc, out = check(tend)
    assert rc == 1
    assert "services.d/t@.ini:3: user: for t@nosuchuser: unknown user 'nosuchuser'" in out, out
    assert "t@root" not in out, out


def test_instance_drop_ins_apply_to_that_instance_only(tend):
    worker(tend, instances="a b")
    d = tend.services_dir / "worker@b.ini.d"
    d.mkdir()
    (d / "10-exec.ini").write_text(
        f"[service]\nexec = sh -c 'echo %n > {tend.dir}/out/%i.dropin; exec sleep 1003'\n")
    tend.start()
    a = tend.wait_running("worker@a")
    b = tend.wait_running("worker@b")
    assert wait_for(lambda: cmdline(tend, b["pid"]) == "sleep 1003")
    assert (tend.dir / "out" / "b.dropin").read_text() == "worker@b\n"
    assert cmdline(tend, a["pid"]) == "sleep 1000"
    r = tend.ctl("cat", "worker@b", check=0)
    assert "worker@.ini" in r.stdout and "worker@b.ini.d/10-exec.ini" in r.stdout, r.stdout
    r = tend.ctl("cat", "worker@a", check=0)
    assert "10-exec.ini" not in r.stdout, r.stdout


def test_enable_and_disable_an_instance(tend):
    worker(tend, instances="a b")
    tend.start()
    tend.ctl("start", "worker@d", check=0)
    tend.wait_running("worker@d")
    a = tend.wait_running("worker@a")["pid"]
    tend.ctl("disable", "worker@a", check=0)
    assert (tend.services_dir / "worker@a.ini.d" / "50-enable.ini").exists()
    r = tend.ctl("cat", "worker@a", check=0)
    assert "50-enable.ini" in r.stdout and "enabled = no" in r.stdout, r.stdout
    r = tend.ctl("show", "worker@a", check=0)
    # Policy only: the running instance is left as it is.
    assert tend.svc("worker@a")["pid"] == a
    # The runtime instance outlived the reload that disable made.
    tend.wait_running("worker@d")
    tend.ctl("disable", "worker@d", check=0)
    r = tend.ctl("cat", "worker@d", check=0)
    assert "worker@d.ini.d/50-enable.ini" in r.stdout, r.stdout


def test_reload_that_closes_a_cycle_among_runtime_instances_is_rejected(tend):
    tend.service("u@", "[service]\nexec = sleep 1000\n")
    tend.service("v@", "[service]\nexec = sleep 1000\nafter = u@%i\n")
    tend.start()
    tend.ctl("start", "u@x", "v@x", check=0)
    before = {n: tend.wait_running(n)["pid"] for n in ("u@x", "v@x")}
    tend.service("u@", "[service]\nexec = sleep 1000\nafter = v@%i\n")
    r = tend.ctl("reload")
    assert r.returncode == 1 and "dependency cycle" in r.stderr and "u@x" in r.stderr, r
    for n, pid in before.items():
        assert tend.svc(n)["pid"] == pid, n
    # Without the cycle, the same reload goes through.
    tend.service("v@", "[service]\nexec = sleep 1000\n")
    tend.ctl("reload", check=0)
    r = tend.ctl("list-dependencies", "u@x", check=0)
    assert "v@x" in r.stdout, r.stdout


def test_a_runtime_instance_is_taken_over_after_a_crash(tend, crashable):
    tend.service("w@", "[service]\nexec = sleep 1004\ninstances = a\n")
    crashable.start()
    a = tend.wait_running("w@a")["pid"]
    tend.ctl("start", "w@d", check=0)
    d = tend.wait_running("w@d")["pid"]
    wait_for(lambda: crashable.state.exists() and "w@d" in crashable.state.read_text(),
             what="w@d in the state file")
    crashable.crash()
    crashable.restart()
    for name, pid in (("w@a", a), ("w@d", d)):
        s = tend.svc(name)
        assert s["state"] == "running" and s["pid"] == pid, s
    assert len(procs_running(tend, "sleep 1004")) == 2, "no second copy"
    # Still one made at runtime: stopped, a reload drops it.
    tend.ctl("stop", "w@d", check=0)
    tend.ctl("reload", check=0)
    wait_for(lambda: "w@d" not in names(tend), what="w@d dropped")


def test_a_runtime_instance_is_taken_over_from_the_state_file(tend, crashable):
    tend.service("w@", "[service]\nexec = sleep 1005\n")
    crashable.start()
    tend.ctl("start", "w@d", check=0)
    d = tend.wait_running("w@d")["pid"]
    wait_for(lambda: crashable.state.exists() and "w@d" in crashable.state.read_text(),
             what="w@d in the state file")
    kill_keeper(tend)
    crashable.crash()
    crashable.restart()
    s = tend.svc("w@d")
    assert s and s["state"] == "running" and s["pid"] == d, s
    assert len(procs_running(tend, "sleep 1005")) == 1


def test_check_a_template_with_a_drop_in_that_cannot_be_read(tend):
    tend.service("t@", "[service]\nexec = sleep 1\ninstances = a\n")
    d = tend.services_dir / "t@.ini.d"
    d.mkdir()
    os.mkfifo(d / "10-fifo.ini")
    (d / "20-ok.ini").write_text("[service]\nrestart = always\n")
    i = tend.services_dir / "t@b.ini.d"
    i.mkdir()
    (i / "10-dir.ini").mkdir()
    rc, out = check(tend)
    assert rc == 1, out
    assert "services.d/t@.ini.d/10-fifo.ini:0: not a regular file (a FIFO)" in out, out
    assert "services.d/t@b.ini.d/10-dir.ini:0: not a regular file (a directory)" in out, out
    assert "sanitizer" not in out.lower() and "runtime error" not in out, out


def test_a_masked_instance_is_not_made(tend):
    worker(tend, instances="a b")
    os.symlink("/dev/null", tend.services_dir / "worker@b.ini")
    d = tend.services_dir / "worker@b.ini.d"
    d.mkdir()
    (d / "10.ini").write_text("[service]\nbogus = 1\n")
    tend.service("x", exec="sleep 1000", after="worker@b")
    rc, out = check(tend)
    assert rc == 1 and "services.d/x.ini:3: after: service 'worker@b' is masked" in out, out
    tend.service("x", exec="sleep 1000", after="worker@a")
    tend.start()
    tend.wait_running("worker@a")
    tend.wait_running("x")
    assert names(tend) == {"worker@a", "x"}
    r = tend.ctl("start", "worker@b", check=1)
    assert "worker@b: unknown service" in r.stderr, r.stderr
    assert names(tend) == {"worker@a", "x"}
    # Across a re-exec too (the template's masks are part of it).
    reexec(tend)
    tend.ctl("start", "worker@b", check=1)
    tend.ctl("start", "worker@c", check=0)
    tend.wait_running("worker@c")


def test_expand_in_a_template(tend):
    """expand = yes in a template: ${VAR} in exec and workdir of each
    instance, made at load or at runtime, from that instance's environment;
    its errors are the instance's."""
    out = tend.dir / "out"
    out.mkdir()
    (out / "w").mkdir()
    tend.service("e@", "[service]\nexpand = yes\n"
                 f"environment = OUT={out}/%i\n"
                 f"environment = DIR={out}/w\n"
                 "exec = sh -c 'pwd > ${OUT}; echo \"$$1\" >> ${OUT}; exec sleep 1000' "
                 "x ${OUT}\n"
                 "workdir = ${DIR}\n"
                 "instances = a\n")
    tend.start()
    tend.wait_running("e@a")
    p = out / "a"
    wait_for(lambda: p.exists() and p.read_text().count("\n") == 2, what=f"{p}")
    assert p.read_text() == f"{out}/w\n{out}/a\n", p.read_text()
    tend.ctl("start", "e@b", check=0)
    tend.wait_running("e@b")
    p = out / "b"
    wait_for(lambda: p.exists() and p.read_text().count("\n") == 2, what=f"{p}")
    assert p.read_text() == f"{out}/w\n{out}/b\n", p.read_text()
    # An unknown variable is an error of the instance, at --check too.
    tend.service("f@", "[service]\nexpand = yes\nexec = ${BIN}/prog\ninstances = a\n")
    rc, out_ = check(tend)
    assert rc == 1, out_
    assert "services.d/f@.ini:3: exec: for f@a: unknown variable ${BIN}" in out_, out_
