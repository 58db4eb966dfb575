"""Child hygiene: a service gets a clean process, whatever tendd inherited.

tendd is started hostile: SIGINT, SIGPIPE, SIGQUIT and SIGUSR2 ignored,
SIGUSR1 and SIGALRM blocked, umask 0, an inheritable fd and an O_NONBLOCK
stdout, extra environment (TEND_LEAK, NOTIFY_SOCKET). The probe service
records what it got; each test checks one user-visible promise."""

import fcntl
import os
import pwd
import grp
import signal
import sys

import pytest

from conftest import PROBE, int_list, parse_kv, probe_env, proc_status, sigset_from_mask, wait_for

IGNORED = (signal.SIGINT, signal.SIGPIPE, signal.SIGQUIT, signal.SIGUSR2)
BLOCKED = (signal.SIGUSR1, signal.SIGALRM)
LONG = "x" * 300


def hostile():
    for s in IGNORED:
        signal.signal(s, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, set(BLOCKED))
    os.umask(0)


def start_hostile(tend, **kw):
    leak_r, leak_w = os.pipe()
    os.set_inheritable(leak_w, True)
    try:
        tend.start(preexec_fn=hostile, pass_fds=(leak_w,),
                   env={"TEND_LEAK": "1", "NOTIFY_SOCKET": "/nonexistent/notify",
                        "LD_PRELOAD": None}, **kw)
    finally:
        os.close(leak_r)
        os.close(leak_w)
    # The hostile start reached tendd: otherwise these tests prove nothing.
    # tendd ignores nothing itself: what it inherited ignored it blocks.
    st = proc_status(tend.tendd_pid)
    blk = sigset_from_mask(st["SigBlk"])
    assert set(IGNORED) | set(BLOCKED) <= blk, f"precondition: tendd SigBlk {blk}"
    assert sigset_from_mask(st["SigIgn"]) == set(), f"tendd SigIgn {st['SigIgn']}"
    env = open(f"/proc/{tend.tendd_pid}/environ", "rb").read()
    assert b"TEND_LEAK=1" in env


def run_probe(tend, name="probe", outdir=None, **keys):
    outdir = outdir or tend.dir
    out = outdir / f"{name}.out"
    tend.service(name, exec=f"{PROBE} {out} sleep", **keys)
    return out


def read_probe(tend, name, out):
    s = tend.wait_running(name)
    wait_for(out.exists, what=f"{out}")
    kv = parse_kv(out)
    assert kv.get("done") == "1", kv
    assert int(kv["pid"]) == s["pid"], "probe output is from another process"
    return kv


ENV_KEYS = {
    "environment": ["FOO=bar with spaces", "BAZ=qux=1", "SEMI=a ;b # not a comment",
                    f"LONG={LONG}"],
}
ENV_EXPECTED = {"FOO": "bar with spaces", "BAZ": "qux=1", "SEMI": "a ;b # not a comment",
                "LONG": LONG}
BASE = {"PATH", "HOME", "USER", "LOGNAME", "SHELL"}


def check_clean(kv, tend):
    fds = int_list(kv["fds"])
    assert fds == [0, 1, 2], f"open fds {fds}: " + ", ".join(
        f"{fd}={kv.get(f'fd.{fd}')}" for fd in fds)
    assert kv["fd.0"] == "/dev/null"
    for fd in (0, 1, 2):
        assert kv[f"fd.{fd}.nonblock"] == "0", f"fd {fd} is O_NONBLOCK"
    assert int_list(kv["sigmask"]) == [], f"blocked signals {kv['sigmask']}"
    assert int_list(kv["sigign"]) == [], f"ignored signals {kv['sigign']}"
    pid = int(kv["pid"])
    assert int(kv["sid"]) == pid, "not a session leader"
    assert int(kv["pgid"]) == pid, "not a process group leader"


@pytest.fixture
def nobody():
    if os.getuid() != 0:
        pytest.skip("needs root to run a service as another user")
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    return pw


def test_probe_as_nobody(tend, nobody):
    outdir = tend.world_dir()
    out = run_probe(tend, outdir=outdir, user="nobody", umask="027", limit_nofile=1234,
                    **ENV_KEYS)
    start_hostile(tend)
    kv = read_probe(tend, "probe", out)
    check_clean(kv, tend)

    # Output goes to the log: a file under log_dir, or a pipe tendd copies to it.
    assert kv["fd.1"] == kv["fd.2"], (kv["fd.1"], kv["fd.2"])
    assert kv["fd.1"].startswith((str(tend.log_dir), "pipe:")), kv["fd.1"]

    assert (kv["uid"], kv["euid"]) == (str(nobody.pw_uid),) * 2
    assert (kv["gid"], kv["egid"]) == (str(nobody.pw_gid),) * 2
    allowed = {nobody.pw_gid} | {g.gr_gid for g in grp.getgrall() if "nobody" in g.gr_mem}
    groups = set(int_list(kv["groups"]))
    assert groups <= allowed, f"groups {groups}, nobody's are {allowed}"
    assert 0 not in groups, "root's group kept"

    env = probe_env(kv)
    assert set(env) == set(ENV_EXPECTED) | BASE, f"environment keys {sorted(env)}"
    for k, v in ENV_EXPECTED.items():
        assert env[k] == v, f"{k}={env[k]!r}, configured {v!r}"
    assert env["HOME"] == nobody.pw_dir
    assert env["USER"] == env["LOGNAME"] == "nobody"
    assert env["SHELL"] == nobody.pw_shell
    assert "/usr/bin" in env["PATH"].split(":")

    assert kv["umask"] == "0027"
    assert kv["rlimit.nofile"] == "1234:1234"
    assert kv["cwd"] == "/"


def test_probe_as_tendds_own_user(tend):
    me = pwd.getpwuid(os.getuid())
    workdir = tend.dir / "work"
    workdir.mkdir()
    out = run_probe(tend, umask="077", workdir=str(workdir), limit_core=0,
                    environment=["FOO=bar with spaces"])
    start_hostile(tend)
    kv = read_probe(tend, "probe", out)
    check_clean(kv, tend)
    env = probe_env(kv)
    assert set(env) == {"FOO"} | BASE, f"environment keys {sorted(env)}"
    assert env["FOO"] == "bar with spaces"
    assert env["USER"] == env["LOGNAME"] == me.pw_name
    assert env["HOME"] == me.pw_dir
    assert env["SHELL"] == me.pw_shell
    assert kv["uid"] == kv["euid"] == str(os.getuid())
    assert kv["umask"] == "0077"
    assert kv["cwd"] == str(workdir)
    assert kv["rlimit.core"] == "0:0"


def test_console_output_is_blocking(tend):
    # tendd's stdout is a pipe in O_NONBLOCK mode; a console service shares it
    # and must see it blocking (O_NONBLOCK lives on the open file description).
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
    out = run_probe(tend, output="console")
    try:
        start_hostile(tend, stdout=w)
        kv = read_probe(tend, "probe", out)
    finally:
        os.close(w)
        os.close(r)
    check_clean(kv, tend)
    assert kv["fd.1"].startswith("pipe:"), kv["fd.1"]


def test_output_null(tend):
    out = run_probe(tend, output="null")
    start_hostile(tend)
    kv = read_probe(tend, "probe", out)
    check_clean(kv, tend)
    assert kv["fd.1"] == kv["fd.2"] == "/dev/null"


def test_oneshot_probe_sees_the_same(tend):
    out = tend.dir / "once.out"
    tend.service("once", exec=f"{PROBE} {out}", type="oneshot")
    start_hostile(tend)
    tend.wait_state("once", "stopped")
    kv = parse_kv(out)
    check_clean(kv, tend)
    assert tend.svc("once")["exit_code"] == 0


def test_numeric_user_and_group(tend, nobody):
    # user= and group= take numbers too; they are resolved again at each spawn.
    outdir = tend.world_dir()
    out = run_probe(tend, outdir=outdir, user=str(nobody.pw_uid), group="0")
    tend.start()
    kv = read_probe(tend, "probe", out)
    assert kv["uid"] == str(nobody.pw_uid) and kv["gid"] == "0", kv
    assert probe_env(kv)["USER"] == "nobody"


def test_inherited_sigchld_ignore_keeps_exit_statuses(tend):
    # Started with SIGCHLD ignored, tendd would have its children reaped by the
    # kernel and lose their exit statuses; it blocks SIGCHLD instead.
    tend.service("a", exec="sh -c 'exit 3'", restart="never")
    tend.service("b", exec="sleep 1000")
    out = run_probe(tend)
    # Set right before tendd: unshare --fork resets SIGCHLD, dash will not ignore it.
    tend.start(wrapper=(sys.executable, "-c", "import os, signal, sys; "
                        "signal.signal(signal.SIGCHLD, signal.SIG_IGN); "
                        "os.execv(sys.argv[1], sys.argv[1:])"))
    st = proc_status(tend.tendd_pid)
    assert signal.SIGCHLD in sigset_from_mask(st["SigBlk"]), st["SigBlk"]
    assert sigset_from_mask(st["SigIgn"]) == set(), st["SigIgn"]
    s = tend.wait_state("a", "failed")
    assert s["exit_code"] == 3 and "exited with code 3" in s["reason"], s
    b = tend.wait_running("b")
    tend.kill(b["pid"], signal.SIGKILL)
    b2 = tend.wait_running("b", not_pid=b["pid"])
    assert b2["exit_signal"] == signal.SIGKILL and b2["restarts"] == 1, b2
    # ... and its services start with SIGCHLD at its default, like every signal.
    kv = read_probe(tend, "probe", out)
    assert int_list(kv["sigign"]) == [] and int_list(kv["sigmask"]) == [], kv
