"""Smoke run of the benchmark (tests/bench/run): tiny sizes, a 5 s idle, the
test build's tendd. Asserts only that it runs every step and prints one table
of numbers; the thresholds belong to the real run (README, Performance).
The ftrace breakdown is left out (--no-phases): ftrace is the whole machine's,
not the test's; its parser is checked on a canned trace instead."""

import re
import shutil
import subprocess

import pytest

from conftest import BUILD, REPO

ROWS = [
    r"raw spawn->exec, vfork-style: median",
    r"raw spawn->exec, fork-like: median",
    r"crash -> restart: median",
    r"crash -> restart: p95",
    r"crash -> respawn, like-for-like floor: median",
    r"restart throughput",
    r"restart throughput, like-for-like floor",
    r"20 services: start all",
    r"20 services: start all: first probe after",
    r"20 services: start all, like-for-like floor",
    r"20 services: tendd Pss",
    r"20 services: tendd fds",
    r"20 services: keeper Pss",
    r"20 services: supervisor Pss (tendd + keeper)",
    r"20 services idle 5 s: CPU ticks",
    r"20 services idle 5 s: wakeups",
    r"20 services: tendctl status --json median",
    r"20 services: tendctl restart median (10 sequential)",
    r"20 services: SIGTERM -> all gone",
    r"20 services: tendctl stop (CLI issued -> all exited)",
    r"20 services, output = file: supervisor Pss (tendd + keeper)",
    r"exec of a static no-op: median",
    r"exec of a dynamically linked libc no-op: median",
    r"exec of a program linked with libsystemd: median",
    r"one GetService call from a libsystemd client: median",
    r"tendctl --version: median",
    r"tendctl status NAME at 100 services: median",
]


def test_bench_smoke(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run([str(REPO / "tests" / "bench" / "run"), "--quick", "--sizes", "20", "--stop-sizes", "20",
                        "--no-phases",
                        "--json", str(out)],
                       env={"PATH": "/usr/bin:/bin", "TEND_BENCH_BUILD": str(BUILD),
                            "TMPDIR": str(tmp_path)},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    lines = r.stdout.splitlines()
    assert lines[0].startswith("tend benchmark,"), r.stdout
    assert re.match(r"measurement +result +target", lines[2]), r.stdout
    for row in ROWS:
        line = next((l for l in lines if l.startswith(row)), None)
        assert line is not None, f"no row {row!r}:\n{r.stdout}"
        result = line[len(row):].split()[0]
        assert re.match(r"^\d+(\.\d+)?$", result), f"row {row!r} has no number:\n{line}"
    assert "error" not in r.stdout and out.exists()


# One crash -> restart of tendd as ftrace prints it (trace_clock mono), trimmed
# to the events the phases use, and one where tendd was on a CPU already.
TRACE = """\
         python3-29573   [000] dN.1.  8459.756493: signal_generate: sig=9 errno=0 code=0 comm=probe pid=29615 grp=1 res=0
           probe-29615   [000] .....  8459.756506: sched_process_exit: comm=probe pid=29615 prio=120 group_dead=true
          <idle>-0       [001] d..2.  8459.756600: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=tendd next_pid=29614 next_prio=120
           tendd-29614   [001] .....  8459.756650: sched_process_fork: comm=tendd pid=29614 child_comm=tendd child_pid=29616
           tendd-29614   [001] d..2.  8459.756660: sched_switch: prev_comm=tendd prev_pid=29614 prev_prio=120 prev_state=D ==> next_comm=tendd next_pid=29616 next_prio=120
           probe-29616   [001] .....  8459.757000: sched_process_exec: filename=/tmp/probe pid=29616 old_pid=29616
           probe-29616   [001] .....  8459.757100: sys_enter: NR 228 (1, 7ffe2956eeb0, 0, 0, 0, 7ffe2956ef10)
         python3-29573   [000] dN.1.  8459.800000: signal_generate: sig=9 errno=0 code=0 comm=probe pid=29616 grp=1 res=0
           probe-29616   [001] .....  8459.800019: sched_process_exit: comm=probe pid=29616 prio=120 group_dead=true
           tendd-29614   [000] .....  8459.800200: sched_process_fork: comm=tendd pid=29614 child_comm=tendd child_pid=29617
           probe-29617   [000] .....  8459.800500: sched_process_exec: filename=/tmp/probe pid=29617 old_pid=29617
           probe-29617   [000] .....  8459.800600: sys_enter: NR 228 (1, 7ffe2956eeb0, 0, 0, 0, 7ffe2956ef10)
"""


def test_bench_phases_parse():
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench", REPO / "tests" / "bench" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ph = bench.parse_phases(TRACE, "tendd")
    us = {k: round(v / 1e3) for k, v in ph.items() if k != "n"}
    assert ph["n"] == 2
    assert us["kill-exit"] == 16        # median of 13 and 19
    assert us["exit-wake"] == 94        # the first cycle only: the second had no switch-in
    assert us["wake-fork"] == 50
    assert us["fork-exec"] == 325       # median of 350 and 300
    assert us["exec-first"] == 100
    assert us["kill-first"] == 604      # median of 607 and 600


# The peers' programs (tests/bench/peers.py, PEER_BINARIES).
PEER_BINARIES = ("runsvdir", "runsv", "sv", "s6-svscan", "s6-supervise", "s6-svc", "s6-svstat",
                 "svscan", "supervise", "svc", "svstat", "supervisord", "supervisorctl")
PEER_ROWS = [
    r"crash -> new instance running: median",
    r"crash -> new instance running: p95",
    r"restart throughput (crash loop)",
    r"20 services: start all",
    r"20 services: supervisor Pss",
    r"20 services idle 5 s: CPU ticks",
    r"20 services idle 5 s: wakeups",
    r"one service's status via the CLI: median",
    r"20 services: stop all (CLI -> probes exited)",
]


def test_bench_peers_smoke(tmp_path):
    """--peers-only at the smoke's sizes, only where runit, s6, daemontools
    and supervisor are installed already (--no-install: the smoke installs
    nothing). Every supervisor's column must hold a number."""
    missing = [b for b in PEER_BINARIES if not shutil.which(b, path="/usr/bin:/bin:/usr/sbin")]
    if missing:
        pytest.skip(f"peers not installed (no {', '.join(missing)})")
    out = tmp_path / "peers.json"
    r = subprocess.run([str(REPO / "tests" / "bench" / "run"), "--peers-only", "--no-install",
                        "--quick", "--sizes", "20", "--json", str(out)],
                       env={"PATH": "/usr/bin:/bin", "TEND_BENCH_BUILD": str(BUILD),
                            "TMPDIR": str(tmp_path)},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    lines = r.stdout.splitlines()
    head = next((l for l in lines if l.startswith("measure ")), None)
    assert head is not None and re.split(r"\s{2,}", head)[1:6] == [
        "tendd", "runit", "s6", "daemontools", "supervisor"], r.stdout
    for row in PEER_ROWS:
        line = next((l for l in lines if l.startswith(row)), None)
        assert line is not None, f"no row {row!r}:\n{r.stdout}"
        cells = re.split(r"\s{2,}", line[len(row):].strip())[:5]
        for cell in cells:
            assert re.match(r"^\d+(\.\d+)?( ms| s| /s| MiB)?$", cell), \
                f"row {row!r} has a cell without a number:\n{line}"
    assert "error" not in r.stdout and out.exists()
