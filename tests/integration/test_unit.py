"""Run every unit test meson declares (TAP programs), as meson would: same
command, environment and timeout. Exit 77 is a skip."""

import json
import os
import subprocess

import pytest

from conftest import BUILD


def declared_tests():
    r = subprocess.run(["meson", "introspect", "--tests", str(BUILD)], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"meson introspect --tests {BUILD} failed:\n{r.stderr}")
    return json.loads(r.stdout)


TESTS = declared_tests()


def test_unit_tests_are_declared():
    names = {t["name"] for t in TESTS}
    assert {"test-parse", "test-config", "test-service", "test-util"} <= names, names


@pytest.mark.parametrize("t", TESTS, ids=[t["name"] for t in TESTS])
def test_unit(t):
    env = dict(os.environ, **t["env"])
    timeout = max(t["timeout"], 30) * 2  # sanitizers slow things down
    r = subprocess.run(t["cmd"], capture_output=True, text=True, timeout=timeout, env=env,
                       cwd=t.get("workdir") or str(BUILD))
    out = r.stdout + r.stderr
    if r.returncode == 77:
        pytest.skip(f"{t['name']} skipped itself:\n{out}")
    not_ok = [l for l in r.stdout.splitlines()
              if l.startswith("not ok") and "# TODO" not in l and "# SKIP" not in l]
    assert r.returncode == 0 and not not_ok, f"{t['name']} exited {r.returncode}:\n{out}"
    assert any(l.startswith("1..") for l in r.stdout.splitlines()), (
        f"{t['name']} printed no TAP plan:\n{out}")
