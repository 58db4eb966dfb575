"""The Debian package: built with dpkg-buildpackage from a clean copy of the
tree (the files git knows; the repository is not written to), checked with
lintian (no error), then installed with dpkg -i into a throwaway root: an
overlay of / (upper layer on a tmpfs) in private mount and pid namespaces,
entered with chroot; never the real root. In there: the installed files
against README's list, the conffile, tendd --check on the installed default
configuration, the manual pages (man -l), the units (systemd-analyze
verify), and the completions from where they were installed, found by each
shell's own loader and completing the services of an installed tendd
running in that root."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, wait_for
from test_install import MAN_SOURCES, expected_tree
from test_systemd import container, tend_status  # noqa: F401 (a fixture)

# What the package has beside what meson installs.
DEBIAN_EXTRAS = {"/usr/share/doc/tend/copyright", "/usr/share/doc/tend/changelog.gz",
                 "/usr/share/lintian/overrides/tend"}

INSTALL_SH = r"""
set -eu
L="$1"; SHARE="$2"
mount -t tmpfs -o mode=0755,size=1g tend-pkg-layers "$L"
mkdir "$L/upper" "$L/work" "$L/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$L/upper,workdir=$L/work" "$L/root"
R="$L/root"
mount -t proc proc "$R/proc"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t tmpfs -o mode=0755 tend-pkg-dev "$R/dev"
for d in null zero full random urandom tty; do
        touch "$R/dev/$d"
        mount --bind "/dev/$d" "$R/dev/$d"
done
ln -s /proc/self/fd "$R/dev/fd"
# No /run/systemd/system: the maintainer scripts see no running systemd.
mount -t tmpfs -o mode=0755 tend-pkg-run "$R/run"
mount -t tmpfs -o mode=1777 tend-pkg-tmp "$R/tmp"
mkdir -p "$R/mnt/tend-test"
mount --bind "$SHARE" "$R/mnt/tend-test"
exec chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8 \
        TERM=dumb /bin/sh /mnt/tend-test/inside.sh
"""

INSIDE_SH = r"""
set -u
O=/mnt/tend-test
dpkg -i $O/tend.deb > $O/dpkg-i.log 2>&1; echo $? > $O/dpkg-i.rc
dpkg -L tend > $O/list
while read -r p; do
        # A directory of the system reached through a symlink (/lib on
        # merged-/usr) is not the package's.
        if [ -L "$p" ] && [ -d "$p" ]; then echo "l $p"
        elif [ -d "$p" ]; then echo "d $p"
        else echo "f $p"; fi
done < $O/list > $O/kinds
dpkg-query -W -f='${Conffiles}\n' tend > $O/conffiles
tendd --check > $O/check.log 2>&1; echo $? > $O/check.rc
for m in $(grep '^/usr/share/man/' $O/list); do
        [ -d "$m" ] && continue
        if MANPAGER=cat MANWIDTH=80 man -l "$m" > $O/man.out 2>&1 && [ -s $O/man.out ]; then
                echo "ok $m"
        else
                echo "failed $m: $(cat $O/man.out)"
        fi
done > $O/man.log
systemd-analyze verify --man=$MAN $(dpkg -L tend | grep '/systemd/system/tend.service$') \
        > $O/verify.log 2>&1; echo $? > $O/verify.rc
mkdir -p /tmp/xdg && chmod 700 /tmp/xdg
XDG_RUNTIME_DIR=/tmp/xdg systemd-analyze --user verify --man=$MAN \
        /usr/lib/systemd/user/tend.service > $O/verify-user.log 2>&1; echo $? > $O/verify-user.rc

# The installed tendd with two services; each shell completes their names.
mkdir -p /tmp/t/services.d
printf '[tend]\nsocket = /tmp/t/tend.sock\nlog_dir = /tmp/t/log\n' > /tmp/t/tend.ini
printf '[service]\nexec = sleep infinity\n' > /tmp/t/services.d/web.ini
printf '[service]\nexec = sleep infinity\nenabled = no\n' > /tmp/t/services.d/db.ini
tendd -c /tmp/t/tend.ini > $O/tendd.log 2>&1 &
pid=$!
i=0
until tendctl -s /tmp/t/tend.sock status > $O/status.out 2>&1; do
        i=$((i + 1))
        [ $i -lt 400 ] || break
        sleep 0.025
done
bash --norc --noprofile -c '
        . /usr/share/bash-completion/bash_completion
        _completion_loader tendctl
        complete -p tendctl
        COMP_LINE="tendctl -s /tmp/t/tend.sock start "; COMP_POINT=${#COMP_LINE}
        COMP_WORDS=(tendctl -s /tmp/t/tend.sock start ""); COMP_CWORD=4
        _tendctl tendctl "" start
        printf "%s\n" "${COMPREPLY[@]}"' > $O/bash.out 2>&1
fish -c 'complete -C "tendctl -s /tmp/t/tend.sock start "' > $O/fish.out 2>&1
zsh -f -c 'autoload -Uz compinit && compinit -u -d /tmp/zcompdump
        print -r -- "tendctl: $_comps[tendctl]"
        autoload +X _tendctl && print -r -- loaded' > $O/zsh.out 2>&1
kill $pid
wait $pid
echo $? > $O/tendd.rc
"""


def _missing_tools():
    need = ["dpkg-buildpackage", "dh", "lintian", "fakeroot", "bash", "zsh", "fish", "chroot",
            "unshare"]
    return [t for t in need if not shutil.which(t)]


def _clean_copy(dest):
    """The files of the tree as a clone has them (tracked, plus new ones git
    does not ignore); without git, the tree less build directories."""
    if (REPO / ".git").exists() and shutil.which("git"):
        r = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], capture_output=True, check=True, timeout=60)
        for rel in r.stdout.decode().split("\0"):
            if not rel or not (REPO / rel).exists():
                continue
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel, follow_symlinks=False)
    else:
        shutil.copytree(REPO, dest, symlinks=True, ignore=shutil.ignore_patterns(
            "build*", "obj-*", "__pycache__", ".git"))


def _repo_state():
    if not (REPO / ".git").exists():
        return None
    r = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--ignored"],
                       capture_output=True, text=True, timeout=60)
    return r.stdout


@pytest.fixture(scope="module")
def pkg(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root (mount namespaces, overlay, chroot)")
    missing = _missing_tools()
    if missing:
        pytest.skip(f"missing {' '.join(missing)} (tests/run installs them)")
    tmp = tmp_path_factory.mktemp("package")
    version = re.search(r"version\s*:\s*'([^']+)'", (REPO / "meson.build").read_text()).group(1)
    src = tmp / "src" / f"tend-{version}"
    src.mkdir(parents=True)
    before = _repo_state()
    t0 = time.monotonic()
    _clean_copy(src)
    r = subprocess.run(["nice", "-n", "10", "dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src,
                       capture_output=True, text=True, timeout=900)
    build_log = r.stdout + r.stderr
    assert r.returncode == 0, f"dpkg-buildpackage failed:\n{build_log[-6000:]}"
    debs = sorted((tmp / "src").glob("tend_*.deb"))
    changes = sorted((tmp / "src").glob("tend_*.changes"))
    assert len(debs) == 1 and len(changes) == 1, sorted(p.name for p in (tmp / "src").iterdir())
    built = time.monotonic()
    lint = subprocess.run(["lintian", "--display-info", "--pedantic",
                           str(changes[0])], capture_output=True, text=True, timeout=300)
    share = tmp / "share"
    share.mkdir()
    shutil.copy(debs[0], share / "tend.deb")
    (share / "inside.sh").write_text(
        INSIDE_SH.replace("$MAN", "yes" if MAN_SOURCES else "no"))
    layers = tmp / "layers"
    layers.mkdir()
    (tmp / "install.sh").write_text(INSTALL_SH)
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                        "--kill-child", "--", "sh", str(tmp / "install.sh"), str(layers),
                        str(share)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"install in the overlay failed:\n{r.stdout}{r.stderr}"
    done = time.monotonic()
    print(f"package: built in {built - t0:.0f}s, lintian and install in {done - built:.0f}s")
    yield {"deb": debs[0], "lintian": lint, "out": share, "build_log": build_log,
           "repo_before": before}
    shutil.rmtree(tmp, ignore_errors=True)


def read(pkg, name):
    return (pkg["out"] / name).read_text()


def test_build_leaves_the_repository_alone(pkg):
    assert _repo_state() == pkg["repo_before"]


def test_package_build_runs_without_werror_and_runs_the_unit_tests(pkg):
    log = pkg["build_log"]
    assert re.search(r"werror\s*:\s*false", log), "the package build must set werror=false"
    m = re.search(r"^Ok:\s+(\d+)", log, re.M)
    assert m and int(m.group(1)) > 10, "dh_auto_test ran no unit tests"
    assert re.search(r"^Fail:\s+0", log, re.M), log[-3000:]


def test_lintian_reports_no_error(pkg):
    lint = pkg["lintian"]
    out = lint.stdout + lint.stderr
    errors = [l for l in out.splitlines() if l.startswith("E:")]
    assert not errors, out
    assert lint.returncode == 0, f"lintian exited {lint.returncode}:\n{out}"
    print(out)


def test_installed_files_are_the_readme_list(pkg):
    assert read(pkg, "dpkg-i.rc").strip() == "0", read(pkg, "dpkg-i.log")
    kinds = [l.split(" ", 1) for l in read(pkg, "kinds").splitlines()]
    files = {p for k, p in kinds if k == "f"}
    dirs = {p for k, p in kinds if k == "d" and p != "/."}
    empty = {d + "/" for d in dirs if not any(p.startswith(d + "/") for p in files | dirs)}
    got = files | empty
    want = expected_tree(man_suffix=".gz") | DEBIAN_EXTRAS
    if not (REPO / "debian" / "tend.lintian-overrides").exists():
        want.discard("/usr/share/lintian/overrides/tend")
    assert got - want == set(), f"installed but not in README's list: {sorted(got - want)}"
    assert want - got == set(), f"in README's list but not installed: {sorted(want - got)}"
    assert read(pkg, "conffiles").split()[0:1] == ["/etc/tend/tend.ini"], read(pkg, "conffiles")


def test_installed_default_config_passes_check(pkg):
    assert read(pkg, "check.rc").strip() == "0", read(pkg, "check.log")
    assert "/etc/tend/tend.ini: ok, 0 services" in read(pkg, "check.log")


def test_installed_manual_pages_render(pkg):
    if not MAN_SOURCES:
        pytest.skip("no manual pages in this tree yet (doc/*.scd)")
    log = read(pkg, "man.log")
    assert log.strip(), "no manual page installed"
    assert "failed" not in log, log


def test_installed_units_verify(pkg):
    # No warning either (an unknown key is only a warning to systemd).
    for name in ("verify", "verify-user"):
        assert read(pkg, f"{name}.rc").strip() == "0", read(pkg, f"{name}.log")
        assert read(pkg, f"{name}.log").strip() == "", read(pkg, f"{name}.log")


def test_installed_completions_complete_live_service_names(pkg):
    assert "db" in read(pkg, "status.out") and "web" in read(pkg, "status.out"), (
        read(pkg, "status.out") + read(pkg, "tendd.log"))
    bash = read(pkg, "bash.out").splitlines()
    assert bash[0] == "complete -F _tendctl tendctl", bash
    assert sorted(bash[1:]) == ["db", "web"], bash
    fish = sorted(l.split("\t")[0] for l in read(pkg, "fish.out").splitlines())
    assert fish == ["db", "web"], read(pkg, "fish.out")
    assert read(pkg, "zsh.out").splitlines() == ["tendctl: _tendctl", "loaded"], (
        read(pkg, "zsh.out"))
    assert read(pkg, "tendd.rc").strip() == "0", read(pkg, "tendd.log")


def test_upgrade_reexecutes_tendd_in_place(pkg, container):
    """Under a real systemd (test_systemd.py's container, an overlay of /):
    installing the package starts tend.service; upgrading it (dpkg -i again)
    neither stops nor restarts the unit, and re-executes the running tendd in
    place: same main pid, every service keeps its pid. With a policy-rc.d
    that forbids acting on services (as in an image build) nothing is done."""
    c = container
    shutil.copy(pkg["deb"], f"/proc/{c.pid}/root/root/tend.deb")
    c.run("mv", "/usr/sbin/policy-rc.d", "/root/policy-rc.d", check=False)
    r = c.run("dpkg", "-i", "/root/tend.deb", timeout=120)
    assert "re-executing" not in r.stdout, r.stdout
    wait_for(lambda: c.show("tend.service", "ActiveState") == "active",
             what="tend.service started by the package")
    c.write("/etc/tend/services.d/web.ini", "[service]\nexec = sleep 1000011\n")
    c.run("systemctl", "reload", "tend.service", timeout=60)
    before = tend_status(c)
    assert before["web"]["state"] == "running", before
    main = c.show("tend.service", "MainPID")

    r = c.run("dpkg", "-i", "/root/tend.deb", timeout=120)
    assert "tend: re-executing tendd in place" in r.stdout, r.stdout + r.stderr
    wait_for(lambda: "re-executed," in c.journal("-u", "tend.service"),
             what="the re-exec in tend.service's journal")
    wait_for(lambda: c.show("tend.service", "ActiveState") == "active", what="active again")
    wait_for(lambda: c.run("tendctl", "status", check=False).returncode == 0,
             what="the control socket after the re-exec")
    assert c.show("tend.service", "MainPID") == main
    assert c.show("tend.service", "NRestarts") == "0"
    after = tend_status(c)
    assert after["web"]["pid"] == before["web"]["pid"] and after["web"]["state"] == "running"

    # A policy-rc.d that says no: the upgrade leaves tendd alone.
    c.run("mv", "/root/policy-rc.d", "/usr/sbin/policy-rc.d", check=False)
    c.write("/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n")
    c.run("chmod", "755", "/usr/sbin/policy-rc.d")
    r = c.run("dpkg", "-i", "/root/tend.deb", timeout=120)
    assert "re-executing" not in r.stdout, r.stdout
    assert c.journal("-u", "tend.service").count("re-executed,") == 1
    assert c.show("tend.service", "MainPID") == main


def test_user_unit_runs_tendd_for_a_user(pkg, container):
    """The user unit under a real user manager (user@UID.service in the
    container): inert without ~/.config/tend/tend.ini, then tendd as the user
    on that configuration, reached by the user's tendctl at its default
    socket, its service in a cgroup of its own below the user's tend.service,
    and nothing left after a stop."""
    c = container
    shutil.copy(pkg["deb"], f"/proc/{c.pid}/root/root/tend.deb")
    c.run("rm", "-f", "/usr/sbin/policy-rc.d")
    c.run("dpkg", "-i", "/root/tend.deb", timeout=120)
    c.run("useradd", "-m", "-u", "4242", "-s", "/bin/sh", "tenduser")
    # user@.service's runtime directory comes from logind, over the system bus.
    c.run("systemctl", "start", "dbus.service", "systemd-logind.service", timeout=60)
    c.run("systemctl", "start", "user@4242.service", timeout=60)

    def user(*cmd, check=True, timeout=60):
        return c.run("runuser", "-u", "tenduser", "--", "env", "XDG_RUNTIME_DIR=/run/user/4242",
                     *cmd, check=check, timeout=timeout)

    # Not enabled by the package; without a configuration, a start does nothing.
    assert user("systemctl", "--user", "is-enabled", "tend.service",
                check=False).stdout.strip() == "disabled"
    user("systemctl", "--user", "start", "tend.service")
    assert user("systemctl", "--user", "show", "-P", "ConditionResult",
                "tend.service").stdout.strip() == "no"

    user("mkdir", "-p", "/home/tenduser/.config/tend/services.d")
    user("sh", "-c", "printf '[tend]\\n' > ~/.config/tend/tend.ini && "
         "printf '[service]\\nexec = sleep 1000021\\n' > ~/.config/tend/services.d/hello.ini")
    user("systemctl", "--user", "enable", "--now", "tend.service")
    assert user("systemctl", "--user", "show", "-P", "ActiveState",
                "tend.service").stdout.strip() == "active"
    st = json.loads(user("tendctl", "status", "--json").stdout)
    assert [(s["name"], s["state"]) for s in st] == [("hello", "running")], st
    pid = st[0]["pid"]
    assert c.run("ps", "-o", "user=", "-p", str(pid)).stdout.strip() == "tenduser"
    cg = c.run("cat", f"/proc/{pid}/cgroup").stdout
    assert "/user@4242.service/app.slice/tend.service/hello" in cg, cg
    assert user("test", "-S", "/run/user/4242/tend/tend.sock", check=False).returncode == 0

    user("systemctl", "--user", "stop", "tend.service", timeout=120)
    assert user("systemctl", "--user", "show", "-P", "Result",
                "tend.service").stdout.strip() == "success"
    assert c.run("pgrep", "-f", "sleep 1000021", check=False).returncode == 1
