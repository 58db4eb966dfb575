"""Run each unit-test binary (TAP) from the build directory."""

import os
import subprocess

import pytest

from conftest import BUILD, REPO

UNIT_TESTS = ["test-parse", "test-config", "test-service", "test-util"]


@pytest.mark.parametrize("name", UNIT_TESTS)
def test_unit(name):
    exe = BUILD / "tests" / name
    assert exe.exists(), f"{exe} was not built"
    env = dict(os.environ, TEND_TEST_DATA=str(REPO / "tests" / "unit" / "data"))
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120, env=env,
                       cwd=str(BUILD))
    out = r.stdout + r.stderr
    if r.returncode == 77:
        pytest.skip(f"{name} skipped itself:\n{out}")
    not_ok = [l for l in r.stdout.splitlines() if l.startswith("not ok")]
    assert r.returncode == 0 and not not_ok, f"{name} exited {r.returncode}:\n{out}"
    plan = [l for l in r.stdout.splitlines() if l.startswith("1..")]
    assert plan, f"{name} printed no TAP plan:\n{out}"
