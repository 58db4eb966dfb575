"""meson install: what a prefix=/usr build installs (into a DESTDIR under the
test's directory) is exactly the tree README's "Installing" lists; the
installed default tend.ini names every [tend] key the parser knows, each
commented out with its default, and passes tendd --check; the examples pass
it too; the units name the installed paths."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

README = REPO / "README.md"
MAN_SOURCES = sorted((REPO / "doc").glob("*.scd"))


def readme_tree():
    """The paths README's "Installing" section lists (a directory ends with /)."""
    text = README.read_text()
    start = text.index("\n## Installing\n")
    end = text.index("\n## ", start + 1)
    paths = re.findall(r"^    (/\S+)", text[start:end], re.M)
    assert "/usr/sbin/tendd" in paths, text[start:end]
    return paths


def unit_dirs():
    """Where this system's systemd wants units ((system, user)), as meson asks it."""
    def var(name, fallback):
        r = subprocess.run(["pkg-config", f"--variable={name}", "systemd"],
                           capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else fallback
    return (var("systemdsystemunitdir", "/usr/lib/systemd/system"),
            var("systemduserunitdir", "/usr/lib/systemd/user"))


def expected_tree(man_suffix=""):
    """README's list with this system's unit directory, without the manual
    pages when the tree has none yet; man_suffix: what the package appends
    (.gz)."""
    system_dir, user_dir = unit_dirs()
    out = set()
    for p in readme_tree():
        if p.startswith("/lib/systemd/system/"):
            p = system_dir + p[len("/lib/systemd/system"):]
        if p.startswith("/usr/lib/systemd/user/"):
            p = user_dir + p[len("/usr/lib/systemd/user"):]
        if p.startswith("/usr/share/man/"):
            if not MAN_SOURCES:
                continue
            p += man_suffix
        out.add(p)
    return out


def tree_of(root):
    """Every file (and symlink) under root, and every empty directory with a /."""
    root = Path(root)
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = "/" + os.path.relpath(dirpath, root)
        rel = "" if rel == "/." else rel
        for f in filenames:
            found.add(f"{rel}/{f}")
        for d in dirnames:
            full = Path(dirpath) / d
            if full.is_symlink():
                found.add(f"{rel}/{d}")
            elif not any(full.iterdir()):
                found.add(f"{rel}/{d}/")
    return found


def tend_keys():
    """[tend]'s keys and their defaults from config_keys_tend[] in
    src/config-keys.c (the parser's own table)."""
    src = (REPO / "src" / "config-keys.c").read_text()
    m = re.search(r"config_keys_tend\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    assert m, "config_keys_tend[] not found in src/config-keys.c"
    keys = re.findall(r'\{\s*"(\w+)",\s*\w+,\s*C\(\w+\),\s*(NULL|"[^"]*")', m.group(1))
    assert len(keys) >= 7, keys
    return {k: None if d == "NULL" else d.strip('"') for k, d in keys}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A prefix=/usr build of what is installed, installed into a DESTDIR."""
    tmp = tmp_path_factory.mktemp("install")
    build, dest = tmp / "build", tmp / "dest"
    r = subprocess.run(["meson", "setup", str(build), str(REPO), "--prefix=/usr",
                        "-Dzshcompletiondir=/usr/share/zsh/vendor-completions",
                        "-Db_sanitize=none", "-Dwerror=false"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    # Only the targets that are installed (not the tests).
    r = subprocess.run(["meson", "introspect", "--targets", str(build)],
                       capture_output=True, text=True, timeout=60, check=True)
    targets = [t["name"] for t in json.loads(r.stdout) if t["installed"]]
    assert {"tendd", "tendctl", "tend-keeper"} <= set(targets), targets
    r = subprocess.run(["nice", "-n", "10", "meson", "compile", "-C", str(build), *targets],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["meson", "install", "-C", str(build), "--no-rebuild",
                        "--destdir", str(dest)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    yield dest
    shutil.rmtree(tmp, ignore_errors=True)


def test_installed_tree_is_the_readme_list(installed):
    got, want = tree_of(installed), expected_tree()
    assert got - want == set(), f"installed but not in README's list: {sorted(got - want)}"
    assert want - got == set(), f"in README's list but not installed: {sorted(want - got)}"


def test_manual_pages_installed(installed):
    if not MAN_SOURCES:
        pytest.skip("no manual pages in this tree yet (doc/*.scd)")
    pages = sorted(p for p in tree_of(installed) if p.startswith("/usr/share/man/"))
    assert pages, "doc/*.scd exist but meson installed no manual page"
    for p in pages:
        r = subprocess.run(["man", "-l", str(installed) + p], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, MANPAGER="cat", PAGER="cat",
                                                MANWIDTH="80"))
        assert r.returncode == 0 and r.stdout.strip(), f"man -l {p}: {r.stderr}"


def test_default_config_names_every_tend_key_with_its_default(installed):
    ini = (installed / "etc/tend/tend.ini").read_text()
    assert ini == (REPO / "dist/tend.ini").read_text()
    lines = ini.splitlines()
    # Nothing set: every key commented out.
    assert [l for l in lines if re.match(r"^\s*\w+\s*=", l)] == []
    assert "[tend]" in lines
    for key, default in tend_keys().items():
        commented = [l for l in lines if re.match(rf"^;{key} = \S", l)]
        assert commented, f"{key} is not in dist/tend.ini as ';{key} = VALUE'"
        if default is not None:
            assert commented[0] == f";{key} = {default}", (
                f"dist/tend.ini shows {commented[0]!r}, the parser's default is {default!r}")
        # Its explanation: the comment lines just above it.
        i = lines.index(commented[0])
        assert lines[i - 1].startswith("; ") and len(lines[i - 1]) > 10, (
            f"{key}: no explanation above it")


def test_default_config_and_examples_pass_check(installed, tmp_path):
    tendd = installed / "usr/sbin/tendd"
    r = subprocess.run([str(tendd), "--check", "-c", str(installed / "etc/tend/tend.ini")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 services" in r.stdout + r.stderr, r.stdout + r.stderr
    # Without -c it is the file it reads.
    r = subprocess.run([str(tendd), "--help"], capture_output=True, text=True, timeout=60)
    assert "(default /etc/tend/tend.ini)" in r.stdout, r.stdout
    # The examples as written, and with their commented-out keys set.
    examples = sorted((installed / "usr/share/doc/tend/examples").glob("*.ini"))
    assert len(examples) >= 3, examples
    for variant in ("as-is", "uncommented"):
        d = tmp_path / variant
        (d / "services.d").mkdir(parents=True)
        (d / "tend.ini").write_text("[tend]\n")
        for e in examples:
            text = e.read_text()
            if variant == "uncommented":
                text = re.sub(r"^;(\w+ = )", r"\1", text, flags=re.M)
            (d / "services.d" / e.name).write_text(text)
        r = subprocess.run([str(tendd), "--check", "-c", str(d / "tend.ini")],
                           capture_output=True, text=True, timeout=60)
        out = r.stdout + r.stderr
        assert r.returncode == 0, f"{variant}: {out}"
        assert f"{len(examples)} services" in out, out


def test_units_name_the_installed_paths(installed):
    system_dir, user_dir = unit_dirs()
    system = (installed / system_dir.lstrip("/") / "tend.service").read_text()
    user = (installed / user_dir.lstrip("/") / "tend.service").read_text()
    for unit in (system, user):
        assert not re.search(r"@\w+@", unit), unit
        assert "Documentation=man:tendd(8) man:tendctl(1) man:tend.ini(5)" in unit
        assert "ExecStart=/usr/sbin/tendd -c " in unit
        assert "ExecReload=/usr/bin/tendctl reload" in unit
        assert "http" not in unit
    assert "ExecStart=/usr/sbin/tendd -c /etc/tend/tend.ini\n" in system
    assert "ExecStart=/usr/sbin/tendd -c %E/tend/tend.ini\n" in user
    assert "ConditionPathExists=%E/tend/tend.ini\n" in user
