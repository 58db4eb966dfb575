"""tendd under a real systemd 252: booted as PID 1 of fresh namespaces over an
overlay of / (tmpfs upper layer, private /run, /tmp and /dev, cgroup2 mounted
in a new cgroup namespace rooted in a cgroup of its own, pivot_root), never
on the real root: systemd-tmpfiles would empty the host's /tmp.

The container cannot touch the host: its own mount, pid, uts, ipc, net and
cgroup namespaces; /proc/sys and /sys read-only; CAP_SYS_MODULE, CAP_SYS_TIME,
CAP_SYS_BOOT, CAP_SYS_RAWIO dropped from the bounding set; units that would
act on the kernel or hardware masked. Teardown SIGKILLs its PID 1, which
ends every process in it, and removes its cgroup.

tendd and the unit are installed in it with `meson install`, then driven with
systemctl and journalctl through nsenter."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUILD, REPO, proc_status, wait_for

SYSTEMD = "/lib/systemd/systemd"


def _etc_tend():
    """Where meson installs tend.ini for BUILD and the unit reads it:
    SYSCONFDIR/tend (/etc/tend unless the build sets another sysconfdir)."""
    r = subprocess.run(["meson", "introspect", "--buildoptions", str(BUILD)],
                       capture_output=True, text=True, timeout=60, check=True)
    opts = {o["name"]: o["value"] for o in json.loads(r.stdout)}
    return os.path.join(opts["prefix"], opts["sysconfdir"], "tend")


ETC_TEND = _etc_tend()
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MASK = [
    "systemd-timesyncd.service", "systemd-modules-load.service", "systemd-sysctl.service",
    "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount", "systemd-pstore.service", "kmod-static-nodes.service",
    "systemd-random-seed.service", "systemd-firstboot.service", "systemd-repart.service",
    "systemd-udevd.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service", "systemd-udev-settle.service", "systemd-hwdb-update.service",
    "sys-kernel-debug.mount", "sys-kernel-tracing.mount", "sys-kernel-config.mount",
    "sys-fs-fuse-connections.mount", "dev-hugepages.mount", "dev-mqueue.mount",
    "systemd-pcrphase-sysinit.service", "systemd-pcrphase.service",
    "systemd-machine-id-commit.service", "apt-daily.timer", "apt-daily-upgrade.timer",
    "e2scrub_all.timer", "fstrim.timer", "man-db.timer", "dpkg-db-backup.timer",
    "postgresql.service", "getty.target", "console-getty.service",
]

BOOT_SH = r"""
set -eu
L="$1"; B="$2"; S="$3"; shift 3
mount -t tmpfs -o mode=0755,size=512m tend-sd-layers "$L"
mkdir "$L/upper" "$L/work" "$L/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$L/upper,workdir=$L/work" "$L/root"
R="$L/root"
mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
if [ -e "$R/proc/sysrq-trigger" ]; then mount --bind /dev/null "$R/proc/sysrq-trigger"; fi
mount -t sysfs -o ro sysfs "$R/sys"
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup"
mount -t tmpfs -o mode=0755 tend-sd-dev "$R/dev"
for d in null zero full random urandom tty; do
        touch "$R/dev/$d"
        mount --bind "/dev/$d" "$R/dev/$d"
done
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
mount -t tmpfs -o mode=0755 tend-sd-run "$R/run"
mount -t tmpfs -o mode=1777 tend-sd-tmp "$R/tmp"
# The source and build directories at the same paths: through the overlay they
# may be hidden (a checkout under /tmp is under the private /tmp now) or on
# another filesystem.
for d in "$S" "$B"; do
        mkdir -p "$R$d"
        mount --bind "$d" "$R$d"
done
mkdir -p "$R/etc/systemd/system"
for u in "$@"; do ln -sf /dev/null "$R/etc/systemd/system/$u"; done
cat > "$R/etc/systemd/system/tend-test.target" <<EOF
[Unit]
Description=tend test boot target
Wants=systemd-journald.socket systemd-journald.service
After=systemd-journald.socket systemd-journald.service
AllowIsolate=yes
EOF
cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
exec /lib/systemd/systemd --unit=tend-test.target --log-target=console
"""


def cgroup2_root():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            if parts[sep + 1] == "cgroup2":
                return Path(parts[4])
    return None


def own_cgroup2():
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line.strip()[3:]
    return None


class Container:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.proc = None
        self.pid = None
        self.pidfd = None
        self.cgroup = None

    def boot(self):
        root = cgroup2_root()
        own = own_cgroup2()
        if root is None or own is None:
            pytest.skip("no cgroup2 hierarchy")
        self.cgroup = root / own.lstrip("/") / f"tend-systemd-test-{os.getpid()}-{id(self)}"
        self.cgroup.mkdir()
        layers = self.dir / "layers"
        layers.mkdir()
        boot = self.dir / "boot.sh"
        boot.write_text(BOOT_SH)
        self.log = open(self.dir / "boot.log", "wb")
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "container": "tend-test",
               "LANG": "C.UTF-8"}
        cmd = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.cgroup),
               "unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--uts",
               "--ipc", "--net", "--cgroup", "--kill-child", "--",
               "setpriv", "--bounding-set", "-sys_module,-sys_time,-sys_boot,-sys_rawio", "--",
               "bash", str(boot), str(layers), str(BUILD.resolve()), str(REPO.resolve()), *MASK]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)

        def systemd_pid():
            # PID 1 of the new pid namespace, once it is systemd.
            if self.proc.poll() is not None:
                raise AssertionError(f"boot failed ({self.proc.returncode}):\n{self.boot_log()}")
            for procs in self.cgroup.rglob("cgroup.procs"):
                for p in procs.read_text().split():
                    try:
                        st = proc_status(p)
                        if (st and st["NSpid"].split()[-1] == "1" and
                                os.readlink(f"/proc/{p}/exe").endswith("/systemd")):
                            return int(p)
                    except OSError:
                        pass
            return None
        self.pid = wait_for(systemd_pid, timeout=30, what="systemd as PID 1")
        self.pidfd = os.pidfd_open(self.pid)

        def booted():
            r = self.run("systemctl", "is-system-running", check=False)
            return r.stdout.strip() in ("running", "degraded") and r.stdout.strip()
        state = wait_for(booted, timeout=90, interval=0.3, what="systemd to finish booting")
        if state == "degraded":
            print(self.run("systemctl", "--failed", "--no-legend", check=False).stdout)

    def boot_log(self):
        return (self.dir / "boot.log").read_text(errors="replace")

    def run(self, *cmd, check=True, timeout=60, input=None):
        r = subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-u", "-i", "-n", "-p", "-C",
                            "--", *map(str, cmd)], capture_output=True, text=True,
                           timeout=timeout, input=input,
                           env={"PATH": PATH, "LANG": "C.UTF-8", "SYSTEMD_PAGER": "",
                                "SYSTEMD_COLORS": "0"})
        if check:
            shown = " ".join(map(str, cmd))
            assert r.returncode == 0, f"{shown}: {r.returncode}\n{r.stdout}{r.stderr}"
        return r

    def write(self, path, text):
        self.run("sh", "-c", f'mkdir -p "$(dirname "$0")" && cat > "$0"', path, input=text)

    def show(self, unit, prop):
        return self.run("systemctl", "show", "-P", prop, unit).stdout.strip()

    def journal(self, *args):
        return self.run("journalctl", "--no-pager", "-o", "cat", *args, check=False).stdout

    def close(self):
        if self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.close(self.pidfd)
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=30)
            self.log.close()
        if self.cgroup is not None and self.cgroup.exists():
            def empty():
                return all(not p.read_text().strip() for p in self.cgroup.rglob("cgroup.procs"))
            wait_for(empty, timeout=30, what="the container's cgroup to empty")
            for d in sorted((p for p in self.cgroup.rglob("*") if p.is_dir()),
                            key=lambda p: len(p.parts), reverse=True):
                d.rmdir()
            self.cgroup.rmdir()


def can_boot():
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.exists(SYSTEMD) or not shutil.which("systemctl"):
        return "systemd is not installed"
    for tool in ("unshare", "nsenter", "setpriv"):
        if not shutil.which(tool):
            return f"{tool} is missing"
    if cgroup2_root() is None:
        return "no cgroup2 hierarchy"
    probe = ("d=$(mktemp -d) && mount -t tmpfs t $d && mkdir $d/u $d/w $d/m && "
             "mount -t overlay o -o lowerdir=/,upperdir=$d/u,workdir=$d/w $d/m && "
             "test -x $d/m/bin/sh")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                        "--cgroup", "--net", "sh", "-c", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"namespaces or overlayfs not permitted: {r.stderr.strip()}"
    return None


@pytest.fixture
def container(tmp_path, request):
    why = can_boot()
    if why:
        pytest.skip(why)
    c = Container(tmp_path)
    try:
        c.boot()
        yield c
    finally:
        failed = getattr(request.node, "rep_call", None)
        if c.pid is not None and failed is not None and failed.failed:
            print("---- journal ----")
            print(c.run("journalctl", "--no-pager", "-n", "150", check=False).stdout)
            # systemd itself logs to the container's console, not to the
            # journal: how tend.service last ended, from its properties.
            print("---- tend.service ----")
            print(c.run("systemctl", "show", "tend.service", "-p", "Result,ExecMainCode,"
                        "ExecMainStatus,NRestarts,WatchdogTimestampMonotonic,"
                        "ActiveState,SubState", check=False).stdout)
        c.close()


WEB_V1 = ("[service]\n"
          "exec = sh -c 'echo hello-from-web; echo warn-from-web >&2; exec sleep 1000001'\n")
WEB_V2 = "[service]\nexec = sh -c 'echo hello-v2; exec sleep 1000002'\n"
ESCAPE = "[service]\nexec = sh -c 'setsid sleep 1000003 & exec sleep 1000004'\n"
SLOW = ("[service]\ntype = oneshot\nrestart = never\n"
        "exec = sh -c 'sleep 2; date +%s%N > /run/slow.done'\n")


def tend_status(c):
    return {s["name"]: s for s in json.loads(c.run("tendctl", "status", "--json").stdout)}


def test_tend_service_under_systemd(container):
    c = container
    # The real install: binaries and the unit where meson puts them.
    c.run("meson", "install", "-C", BUILD, "--no-rebuild", "--quiet", timeout=120)
    unit = c.run("systemctl", "cat", "tend.service").stdout
    assert "Type=notify" in unit and "Delegate=yes" in unit
    r = c.run("systemd-analyze", "verify", "tend.service", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # A short watchdog, to see it kept alive by the loop.
    c.write("/etc/systemd/system/tend.service.d/test.conf", "[Service]\nWatchdogSec=1s\n")
    c.write(f"{ETC_TEND}/tend.ini", "[tend]\nservices = services.d\n")
    c.write(f"{ETC_TEND}/services.d/web.ini", WEB_V1)
    c.write(f"{ETC_TEND}/services.d/slow.ini", SLOW)
    c.write(f"{ETC_TEND}/services.d/esc.ini", ESCAPE)
    c.write("/etc/systemd/system/hostlog.service",
            "[Service]\nType=oneshot\nExecStart=logger -t web host-line-unit\n")
    c.run("systemctl", "daemon-reload")

    # Active only once every service has been started: the oneshot has run.
    c.run("systemctl", "start", "tend.service", timeout=60)
    assert c.run("cat", "/run/slow.done", check=False).returncode == 0, \
        "tend.service became active before its oneshot completed"
    started = int(c.show("tend.service", "ExecMainStartTimestampMonotonic"))
    active = int(c.show("tend.service", "ActiveEnterTimestampMonotonic"))
    assert active - started >= 2_000_000, (started, active)
    assert c.show("tend.service", "ActiveState") == "active"
    st = tend_status(c)
    assert st["web"]["state"] == "running" and st["slow"]["state"] == "stopped"
    assert "running" in c.show("tend.service", "StatusText")

    # Delegate=yes: tendd moved itself into a leaf of its cgroup, each service
    # runs in a cgroup of its own below it, and a stop takes all of it, the
    # process that left with setsid too.
    cg = "/sys/fs/cgroup" + c.show("tend.service", "ControlGroup")
    tendd_pid = c.show("tend.service", "MainPID")
    assert c.run("cat", f"{cg}/supervisor/cgroup.procs").stdout.split() == [tendd_pid]
    assert str(st["web"]["pid"]) in c.run("cat", f"{cg}/web.service/cgroup.procs").stdout.split()
    wait_for(lambda: len(c.run("cat", f"{cg}/esc.service/cgroup.procs").stdout.split()) == 2,
             what="esc and the process it left with setsid")
    c.run("tendctl", "stop", "esc")
    assert c.run("pgrep", "-f", "sleep 100000[34]", check=False).returncode == 1
    assert c.run("test", "-e", f"{cg}/esc.service", check=False).returncode != 0

    # Service output is in the journal under the service's name; stderr at
    # warning, stdout below.
    wait_for(lambda: "hello-from-web" in c.journal("-t", "web"), what="web's stdout in the journal")
    warn = wait_for(lambda: "warn-from-web" in c.journal("-t", "web", "-p", "warning") and
                    c.journal("-t", "web", "-p", "warning"), what="web's stderr in the journal")
    assert "hello-from-web" not in warn
    # tendd's own log: structured, with the service's name as a field.
    wait_for(lambda: "stopped -> running" in c.journal("TEND_SERVICE=web"),
             what="tendd's log with TEND_SERVICE=web")
    assert "hello-from-web" in c.run("tendctl", "logs", "web").stdout
    # A program of the host logging under the same identifier, from a unit of
    # its own or from no unit, is never shown as web's: tendctl logs matches
    # tendd's unit too (the record's JournalMatch).
    c.run("logger", "-t", "web", "host-line-no-unit")
    c.run("systemctl", "start", "hostlog.service")
    wait_for(lambda: "host-line-no-unit" in c.journal("-t", "web") and
             "host-line-unit" in c.journal("-t", "web"), what="the host's lines as web")
    assert (c.run("tendctl", "show", "-P", "JournalMatch", "web").stdout ==
            "SYSLOG_IDENTIFIER=web _SYSTEMD_UNIT=tend.service\n")
    logs = c.run("tendctl", "logs", "web").stdout
    assert "hello-from-web" in logs and "warn-from-web" in logs, logs
    assert "host-line" not in logs, logs
    entries = [json.loads(l) for l in c.run("tendctl", "logs", "--json", "web").stdout.split("\n")
               if l]
    assert {e["MESSAGE"] for e in entries} == {"hello-from-web", "warn-from-web"}, entries
    assert all(e["_SYSTEMD_UNIT"] == "tend.service" for e in entries)
    assert "hello-from-web" in c.run("tendctl", "logs", "-n", "2", "web").stdout

    # systemctl reload applies a changed service file.
    pid1 = st["web"]["pid"]
    c.write(f"{ETC_TEND}/services.d/web.ini", WEB_V2)
    c.run("systemctl", "reload", "tend.service", timeout=60)
    wait_for(lambda: "hello-v2" in c.journal("-t", "web"), what="the reloaded web's output")
    st = tend_status(c)
    assert st["web"]["state"] == "running" and st["web"]["pid"] != pid1
    assert c.show("tend.service", "ActiveState") == "active"

    # The upgrade path: tendctl reexec, and SIGUSR2 through systemctl kill.
    # The main pid stays, every service keeps its pid, the unit stays active
    # (RELOADING=1, then READY=1) and the cgroups are found again.
    pids = {n: s["pid"] for n, s in tend_status(c).items() if s["pid"]}
    assert pids
    c.run("tendctl", "reexec", timeout=60)
    c.run("systemctl", "kill", "-s", "USR2", "--kill-who=main", "tend.service")
    wait_for(lambda: c.journal("-u", "tend.service").count("re-executed,") == 2,
             what="two re-execs in the journal")
    wait_for(lambda: c.run("tendctl", "status", check=False).returncode == 0,
             what="the control socket after the re-exec")
    assert c.show("tend.service", "MainPID") == tendd_pid
    wait_for(lambda: c.show("tend.service", "ActiveState") == "active", what="active again")
    st = tend_status(c)
    assert {n: st[n]["pid"] for n in pids} == pids, (pids, st)
    assert c.run("cat", f"/sys/fs/cgroup{c.show('tend.service', 'ControlGroup')}"
                 "/supervisor/cgroup.procs").stdout.split() == [tendd_pid]

    # The watchdog (1s) is fed: after several intervals the unit is up, never
    # restarted, and the last ping is recent.
    time.sleep(3)
    assert c.show("tend.service", "ActiveState") == "active"
    assert c.show("tend.service", "NRestarts") == "0"
    assert c.show("tend.service", "WatchdogUSec") == "1s"
    t1 = int(c.show("tend.service", "WatchdogTimestampMonotonic"))
    wait_for(lambda: int(c.show("tend.service", "WatchdogTimestampMonotonic")) > t1,
             timeout=5, what="a newer watchdog ping")
    assert "watchdog" not in c.journal("-u", "tend.service", "-p", "warning").lower()

    # systemctl stop leaves no service process behind.
    cg = c.show("tend.service", "ControlGroup")
    c.run("systemctl", "stop", "tend.service", timeout=120)
    assert c.show("tend.service", "ActiveState") == "inactive"
    assert c.show("tend.service", "Result") == "success"
    left = c.run("pgrep", "-f", "sleep 100000", check=False)
    assert left.returncode == 1, f"left behind: {left.stdout}"
    procs = c.run("sh", "-c", f'cat /sys/fs/cgroup{cg}/cgroup.procs 2>/dev/null', check=False)
    assert procs.stdout.strip() == ""


def test_tend_service_survives_a_crash_of_tendd(container):
    """kill -9 of tendd under systemd: systemd restarts it (Restart=on-failure),
    the services run on (KillMode=process) and the new tendd takes every one
    over with the same pid from the pidfds parked in systemd's fd store, with
    the output pipe of a service that logs to a file (no line lost) and the
    real exit status of one that died while tendd was down. A stop still
    leaves nothing, even when tendd hangs and is killed at TimeoutStopSec."""
    c = container
    c.run("meson", "install", "-C", BUILD, "--no-rebuild", "--quiet", timeout=120)
    c.write("/etc/systemd/system/tend.service.d/test.conf",
            "[Service]\nRestartSec=100ms\nTimeoutStopSec=3s\n")
    c.write(f"{ETC_TEND}/tend.ini", "[tend]\nservices = services.d\n")
    c.write(f"{ETC_TEND}/services.d/web.ini", WEB_V1)
    c.write(f"{ETC_TEND}/services.d/esc.ini", ESCAPE)
    c.write(f"{ETC_TEND}/services.d/other.ini",
            "[service]\nrestart = always\nexec = sleep 1000005\n")
    c.write(f"{ETC_TEND}/services.d/chat.ini",
            "[service]\noutput = file\n"
            "exec = sh -c 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.01; done'\n")
    c.write(f"{ETC_TEND}/services.d/jchat.ini",
            "[service]\nexec = sh -c 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.01; done'\n")
    c.write(f"{ETC_TEND}/services.d/dies.ini",
            "[service]\nexec = sh -c 'trap \"exit 9\" USR1; sleep 1000008 & wait'\n")
    c.run("systemctl", "daemon-reload")
    c.run("systemctl", "start", "tend.service", timeout=60)
    pids = {n: s["pid"] for n, s in tend_status(c).items()}
    assert all(pids.values()), pids
    cg = "/sys/fs/cgroup" + c.show("tend.service", "ControlGroup")
    wait_for(lambda: c.show("tend.service", "NFileDescriptorStore") == "8",
             what="six pidfds, one pipe and the notify socket in the fd store")

    def chat_lines():
        r = c.run("cat", "/var/log/tend/chat.log", check=False)
        return [int(l.split()[1]) for l in r.stdout.splitlines() if len(l.split()) == 2]
    wait_for(lambda: len(chat_lines()) > 20, what="chat's first lines")

    old_main = c.show("tend.service", "MainPID")
    c.run("kill", "-9", old_main)
    c.run("kill", "-USR1", str(pids["dies"]))  # while no tendd runs (RestartSec=100ms)
    wait_for(lambda: c.show("tend.service", "NRestarts") == "1", what="systemd restarting tendd")
    wait_for(lambda: c.show("tend.service", "ActiveState") == "active", what="tend active again")
    new_main = c.show("tend.service", "MainPID")
    assert new_main != old_main
    dies = wait_for(lambda: (lambda d: d if d["state"] == "running" and d["pid"] != pids["dies"]
                             else None)(tend_status(c)["dies"]), what="dies restarted")
    assert dies["exit_code"] == 9 and dies["restarts"] == 1, dies
    del pids["dies"]
    st = tend_status(c)
    assert {n: st[n]["pid"] for n in pids} == pids, (pids, st)
    assert all(s["state"] == "running" for s in st.values()), st
    assert "fd store" in c.journal("-u", "tend.service")
    assert c.run("cat", f"{cg}/supervisor/cgroup.procs").stdout.split() == [new_main]
    assert len(c.run("cat", f"{cg}/esc.service/cgroup.procs").stdout.split()) == 2
    assert c.show("tend.service", "NFileDescriptorStore") == "8"
    # chat wrote on while tendd was down: every line is in its log, once, in
    # order; jchat (journal output, straight to journald) too, in the journal.
    n = chat_lines()[-1]
    wait_for(lambda: chat_lines()[-1] > n + 20, what="chat's lines after the crash")
    got = chat_lines()
    assert got == list(range(got[0], got[0] + len(got))), got
    got = [int(l) for l in c.journal("-t", "jchat").split()]
    assert len(got) > 20 and got == list(range(1, len(got) + 1)), got
    # tendctl logs shows them too: the streams opened by the tendd that crashed
    # are still tend.service's.
    out = c.run("tendctl", "logs", "jchat").stdout
    shown = [int(l.rsplit(": ", 1)[1]) for l in out.splitlines() if re.search(r": \d+$", l)]
    assert len(shown) >= len(got) and shown == list(range(1, len(shown) + 1)), out[-2000:]

    # The adopted service is supervised: its end is seen and it is restarted,
    # and the store follows (the new pidfd replaces the old one).
    c.run("kill", "-9", str(pids["other"]))
    wait_for(lambda: tend_status(c)["other"]["pid"] not in (None, pids["other"]) and
             tend_status(c)["other"]["state"] == "running", what="other restarted")
    assert c.show("tend.service", "NFileDescriptorStore") == "8"

    # A second crash: the new pid of other comes back too.
    pids = {n: s["pid"] for n, s in tend_status(c).items()}
    c.run("kill", "-9", new_main)
    wait_for(lambda: c.show("tend.service", "NRestarts") == "2", what="a second restart")
    wait_for(lambda: c.show("tend.service", "ActiveState") == "active", what="active again")
    wait_for(lambda: c.run("tendctl", "status", check=False).returncode == 0, what="tendctl")
    st = tend_status(c)
    assert {n: st[n]["pid"] for n in pids} == pids, (pids, st)

    # A tendd still stopping when TimeoutStopSec runs out (a service that
    # ignores SIGTERM, stop_timeout longer than that) is killed, and
    # ExecStopPost= takes what it left.
    c.write(f"{ETC_TEND}/services.d/holdout.ini",
            "[service]\nstop_timeout = 60s\nexec = sh -c 'trap \"\" TERM; exec sleep 1000006'\n")
    c.run("systemctl", "reload", "tend.service", timeout=60)
    wait_for(lambda: tend_status(c).get("holdout", {}).get("state") == "running",
             what="holdout running")
    c.run("systemctl", "stop", "tend.service", check=False, timeout=60)
    assert c.show("tend.service", "ActiveState") in ("inactive", "failed")
    assert c.show("tend.service", "Result") == "timeout"
    left = c.run("pgrep", "-f", "sleep 100000", check=False)
    assert left.returncode == 1, f"left behind: {left.stdout}"
    assert c.show("tend.service", "NFileDescriptorStore") == "0"

    # A clean start and stop afterwards: nothing adopted, nothing left.
    c.run("rm", f"{ETC_TEND}/services.d/holdout.ini")
    c.run("systemctl", "reset-failed", "tend.service", check=False)
    c.run("systemctl", "start", "tend.service", timeout=60)
    assert c.journal("-u", "tend.service").count("taken over from the fd store") == 2
    assert all(s["state"] == "running" and "adopted" not in s.get("reason", "")
               for s in tend_status(c).values())
    c.run("systemctl", "stop", "tend.service", timeout=60)
    assert c.show("tend.service", "Result") == "success"
    assert c.run("pgrep", "-f", "sleep 100000", check=False).returncode == 1
