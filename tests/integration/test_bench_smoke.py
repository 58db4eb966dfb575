"""Smoke run of the benchmark (tests/bench/run): tiny sizes, a 5 s idle, the
test build's tendd. Asserts only that it runs every step and prints one table
of numbers; the thresholds belong to the real run (README, Performance)."""

import re
import subprocess

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
    r"20 services idle 5 s: CPU ticks",
    r"20 services idle 5 s: wakeups",
    r"20 services: tendctl status --json median",
    r"20 services: tendctl restart median (10 sequential)",
    r"20 services: SIGTERM -> all gone",
]


def test_bench_smoke(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run([str(REPO / "tests" / "bench" / "run"), "--quick", "--sizes", "20",
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
