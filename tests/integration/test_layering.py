"""Vendor and admin layers, masks and drop-ins, as a package and an admin use
them: services from the vendor directory, an admin file replacing one, a link
to /dev/null masking one (a reload stops it), NAME.ini.d drop-ins applied in
order with errors naming their file and line; `tendctl cat`; `tendctl
enable`/`disable` writing only their drop-in, for root only, never through a
link."""
import json
import os
import subprocess

import pytest

from conftest import pidfd_alive, wait_for


def layered(tend):
    """tend with vendor/ as its vendor directory."""
    vendor = tend.dir / "vendor"
    vendor.mkdir()
    tend.write_config("vendor_services = vendor\n")
    return vendor


def cmdline(tend, name):
    pid = tend.host_pid(tend.wait_running(name)["pid"])
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")[:-1]


def environ(tend, name):
    pid = tend.host_pid(tend.wait_running(name)["pid"])
    with open(f"/proc/{pid}/environ", "rb") as f:
        return [e.decode() for e in f.read().split(b"\0")[:-1]]


def names(tend):
    return sorted(s["name"] for s in tend.status())


def test_vendor_services_and_admin_replacing(tend):
    vendor = layered(tend)
    (vendor / "pkg.ini").write_text("[service]\nexec = sleep 1001\n")
    (vendor / "over.ini").write_text("[service]\nexec = sleep 1002\nenabled = no\n")
    tend.service("over", exec="sleep 1003")
    tend.service("own", exec="sleep 1004")
    tend.start()
    assert names(tend) == ["over", "own", "pkg"]
    assert cmdline(tend, "pkg") == [b"sleep", b"1001"]
    # The admin's over.ini replaces the vendor's whole: its enabled = no is gone.
    assert cmdline(tend, "over") == [b"sleep", b"1003"]
    cat = tend.ctl("cat", "over", check=0).stdout
    assert cat == f"# {tend.services_dir}/over.ini\n[service]\nexec = sleep 1003\n"
    # Removing the admin's file brings the vendor's back on reload: a changed
    # exec, so a restart (enabled only decides what starts with tendd).
    old = tend.svc("over")["pid"]
    tend.remove_service("over")
    tend.ctl("reload", check=0)
    tend.wait_running("over", not_pid=old)
    assert cmdline(tend, "over") == [b"sleep", b"1002"]
    assert tend.ctl("cat", "over", check=0).stdout.startswith(f"# {vendor}/over.ini\n")


def test_no_vendor_directory_is_none(tend):
    tend.write_config("vendor_services = nowhere\n")
    tend.service("a", exec="sleep 1000")
    tend.start()
    assert names(tend) == ["a"]


def test_mask_stops_a_running_vendor_service(tend):
    vendor = layered(tend)
    (vendor / "m.ini").write_text("[service]\nexec = sleep 1005\n")
    (vendor / "m.ini.d").mkdir()
    (vendor / "m.ini.d" / "x.ini").write_text("[service]\nrestart = always\n")
    (vendor / "keep.ini").write_text("[service]\nexec = sleep 1006\n")
    tend.start()
    pidfd = tend.pidfd(tend.wait_running("m")["pid"])
    try:
        os.symlink("/dev/null", tend.services_dir / "m.ini")
        tend.ctl("reload", check=0)
        wait_for(lambda: "m" not in names(tend), what="m gone from status")
        wait_for(lambda: not pidfd_alive(pidfd), what="m's process ended")
    finally:
        os.close(pidfd)
    assert names(tend) == ["keep"]
    r = tend.ctl("cat", "m", check=1)
    assert "m: unknown service" in r.stderr
    r = tend.ctl("enable", "m", check=1)
    assert "m: unknown service" in r.stderr
    # Removing the mask brings it back.
    (tend.services_dir / "m.ini").unlink()
    tend.ctl("reload", check=0)
    tend.wait_running("m")


def test_dropins_in_order_replace_and_accumulate(tend):
    vendor = layered(tend)
    (vendor / "w.ini").write_text("[service]\nexec = sleep 1010\nenvironment = A=1\n"
                                  "environment = KEEP=main\n")
    vd, ad = vendor / "w.ini.d", tend.services_dir / "w.ini.d"
    vd.mkdir()
    ad.mkdir()
    (vd / "10-env.ini").write_text("[service]\nenvironment = B=2\n")
    (vd / "20-exec.ini").write_text("[service]\nexec = sleep 1011\n")
    (ad / "20-exec.ini").write_text("[service]\nexec = sleep 1012\n")  # replaces the vendor's
    (ad / "30-env.ini").write_text("[service]\nenvironment = A=3\n")
    (vd / "40-masked.ini").write_text("[service]\nexec = sleep 1013\n")
    os.symlink("/dev/null", ad / "40-masked.ini")
    (ad / "50-ignored.conf").write_text("[service]\nexec = sleep 1014\n")
    # An empty value resets a list: r gets only C=3.
    (vendor / "r.ini").write_text("[service]\nexec = sleep 1015\nenvironment = A=1\n")
    (tend.services_dir / "r.ini.d").mkdir()
    (tend.services_dir / "r.ini.d" / "reset.ini").write_text(
        "[service]\nenvironment =\nenvironment = C=3\n")
    tend.start()
    assert cmdline(tend, "w") == [b"sleep", b"1012"]
    env = environ(tend, "w")
    assert "A=3" in env and "B=2" in env and "KEEP=main" in env and "A=1" not in env, env
    env = environ(tend, "r")
    assert "C=3" in env and not any(e.startswith("A=") for e in env), env
    cat = tend.ctl("cat", "w", check=0).stdout
    heads = [l[2:] for l in cat.splitlines() if l.startswith("# /")]
    assert heads == [f"{vendor}/w.ini", f"{vd}/10-env.ini", f"{ad}/20-exec.ini",
                     f"{ad}/30-env.ini"], cat
    assert ("# %s/20-exec.ini\n[service]\nexec = sleep 1012\n\n# %s/30-env.ini\n" % (ad, ad)
            in cat), cat
    # Both services in one call, in the order named.
    cat = tend.ctl("cat", "r", "w", check=0).stdout
    heads = [l[2:] for l in cat.splitlines() if l.startswith("# /")]
    assert heads[:2] == [f"{vendor}/r.ini", f"{tend.services_dir}/r.ini.d/reset.ini"], cat
    # A change of a drop-in restarts the service; a reload with none keeps it,
    # and so does a re-execution, which keeps the list of files.
    pid = tend.svc("w")["pid"]
    tend.ctl("reload", check=0)
    assert tend.svc("w")["pid"] == pid
    cat = tend.ctl("cat", "w", check=0).stdout
    tend.ctl("reexec", check=0)
    assert tend.ctl("cat", "w", check=0).stdout == cat
    assert tend.svc("w")["pid"] == pid
    # The same values moved from one file to another: nothing restarts.
    (ad / "30-env.ini").unlink()
    (ad / "35-env.ini").write_text("[service]\nenvironment = A=3\n")
    tend.ctl("reload", check=0)
    assert f"# {ad}/35-env.ini\n" in tend.ctl("cat", "w", check=0).stdout
    assert tend.svc("w")["pid"] == pid
    (ad / "60-exec.ini").write_text("[service]\nexec = sleep 1016\n")
    tend.ctl("reload", check=0)
    tend.wait_running("w", not_pid=pid)
    assert cmdline(tend, "w") == [b"sleep", b"1016"]


def test_dropin_errors_name_file_line_and_key(tend):
    vendor = layered(tend)
    (vendor / "e.ini").write_text("[service]\nexec = sleep 1020\n")
    tend.start()
    pid = tend.wait_running("e")["pid"]
    (tend.services_dir / "e.ini.d").mkdir()
    bad = tend.services_dir / "e.ini.d" / "10-bad.ini"
    bad.write_text("[service]\n\nrestart = sometimes\n")
    (vendor / "e.ini.d").mkdir()
    (vendor / "e.ini.d" / "20-wd.ini").write_text("[service]\nwatchdog = 1s\n")
    want = [f"{bad}:3: restart: invalid value 'sometimes' (expected always, on-failure or never)",
            f"{vendor}/e.ini.d/20-wd.ini:2: watchdog: needs type=notify (pings arrive as "
            "WATCHDOG=1)"]
    r = subprocess.run([str(tend.tendd), "--check", "-c", str(tend.config)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and r.stderr.splitlines() == want, r.stderr
    # As tendd --check -c with a relative path shows them: relative.
    r = subprocess.run([str(tend.tendd), "--check", "-c", "tend.ini"], cwd=tend.dir,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and r.stderr.splitlines()[0].startswith(
        "services.d/e.ini.d/10-bad.ini:3: restart: "), r.stderr
    # A reload is rejected whole, with the same lines; e keeps running.
    r = tend.ctl("reload", check=1)
    for w in want:
        assert w in r.stderr, r.stderr
    assert tend.svc("e")["pid"] == pid
    bad.unlink()
    (vendor / "e.ini.d" / "20-wd.ini").unlink()
    r = subprocess.run([str(tend.tendd), "--check", "-c", str(tend.config)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_cat_reports_files_it_cannot_read(tend):
    tend.service("c", exec="sleep 1030")
    d = tend.services_dir / "c.ini.d"
    d.mkdir()
    (d / "a.ini").write_text("[service]\nrestart = always")  # no final newline
    (d / "b.ini").write_text("[service]\nstop_timeout = 3s\n")
    tend.start()
    r = tend.ctl("cat", "c", check=0)
    assert r.stdout == (f"# {tend.services_dir}/c.ini\n[service]\nexec = sleep 1030\n\n"
                        f"# {d}/a.ini\n[service]\nrestart = always\n\n"
                        f"# {d}/b.ini\n[service]\nstop_timeout = 3s\n"), r.stdout
    (d / "a.ini").unlink()
    r = tend.ctl("cat", "c", check=1)
    assert f"tendctl: c: cannot read {d}/a.ini: No such file or directory" in r.stderr
    assert f"# {d}/b.ini\n" in r.stdout
    r = tend.ctl("cat", "c", "nosuch", check=1)
    assert "nosuch: unknown service" in r.stderr
    tend.ctl("cat", check=2)
    # --json: the same files and text, a file that cannot be read with its error.
    r = tend.ctl("cat", "--json", "c", check=1)
    assert json.loads(r.stdout) == [{"name": "c", "files": [
        {"path": f"{tend.services_dir}/c.ini", "text": "[service]\nexec = sleep 1030\n"},
        {"path": f"{d}/a.ini", "text": None, "error": "No such file or directory"},
        {"path": f"{d}/b.ini", "text": "[service]\nstop_timeout = 3s\n"}]}], r.stdout
    assert f"tendctl: c: cannot read {d}/a.ini: No such file or directory" in r.stderr
    (d / "a.ini").write_text("[service]\nenvironment = A=\"x\\ty\"\n")
    r = tend.ctl("cat", "--json", "c", "nosuch", check=1)
    files = json.loads(r.stdout)[0]["files"]
    assert files[1]["text"] == "[service]\nenvironment = A=\"x\\ty\"\n"
    assert "nosuch: unknown service" in r.stderr



def test_cat_json_gives_a_file_whole_past_a_nul_byte(tend):
    """--json gives the same bytes as the text form: a file changed since the
    load to hold a NUL byte is not cut short there."""
    p = tend.service("z", exec="sleep 1031")
    tend.start()
    p.write_bytes(b"[service]\nexec = sleep 1031\n\0after = the NUL\n")
    assert tend.ctl("cat", "z", check=0).stdout.endswith("\0after = the NUL\n")
    r = tend.ctl("cat", "--json", "z", check=0)
    assert json.loads(r.stdout)[0]["files"][0]["text"] == \
        "[service]\nexec = sleep 1031\n\0after = the NUL\n", r.stdout


def test_enable_disable_write_only_their_dropin(tend):
    tend.service("x", exec="sleep 1040")
    main = (tend.services_dir / "x.ini").read_bytes()
    tend.start()
    pid = tend.wait_running("x")["pid"]
    r = tend.ctl("disable", "x", check=0)
    dropin = tend.services_dir / "x.ini.d" / "50-enable.ini"
    assert str(dropin) in r.stdout
    assert "enabled = no\n" in dropin.read_text()
    assert (tend.services_dir / "x.ini").read_bytes() == main
    assert sorted(os.listdir(dropin.parent)) == ["50-enable.ini"]  # no temporary left
    # Neither started nor stopped; cat shows it at once.
    assert tend.svc("x")["pid"] == pid
    cat = tend.ctl("cat", "x", check=0).stdout
    assert f"# {dropin}\n" in cat and "enabled = no" in cat
    tend.ctl("reload", check=0)
    assert "enabled = no" in tend.ctl("cat", "x", check=0).stdout
    # In effect: a new tendd does not start x.
    assert tend.stop() == 0
    tend.proc = None
    tend.start()
    assert tend.state("x") == "stopped"
    tend.ctl("enable", "x", check=0)
    assert "enabled = yes\n" in dropin.read_text()
    assert tend.state("x") == "stopped"  # enable starts nothing
    assert tend.stop() == 0
    tend.proc = None
    tend.start()
    tend.wait_running("x")
    assert (tend.services_dir / "x.ini").read_bytes() == main


def test_disable_a_vendor_service_in_the_admin_directory(tend):
    vendor = layered(tend)
    (vendor / "pkg.ini").write_text("[service]\nexec = sleep 1045\n")
    tend.start()
    tend.wait_running("pkg")
    tend.ctl("disable", "pkg", check=0)
    dropin = tend.services_dir / "pkg.ini.d" / "50-enable.ini"
    assert "enabled = no" in dropin.read_text()
    assert os.listdir(vendor) == ["pkg.ini"]
    heads = [l[2:] for l in tend.ctl("cat", "pkg", check=0).stdout.splitlines()
             if l.startswith("# /")]
    assert heads == [f"{vendor}/pkg.ini", str(dropin)]
    tend.wait_running("pkg")


def test_enable_says_when_a_later_file_overrides(tend):
    tend.service("x", exec="sleep 1041")
    d = tend.services_dir / "x.ini.d"
    d.mkdir()
    (d / "60-local.ini").write_text("[service]\nenabled = no\n")
    tend.start()
    r = tend.ctl("enable", "x", check=1)
    assert "a file applied after it sets enabled again" in r.stderr, r.stderr
    assert f"{d}/60-local.ini" in r.stderr, r.stderr


def test_enable_with_a_broken_configuration_changes_nothing(tend):
    tend.service("x", exec="sleep 1042")
    tend.start()
    tend.service("broken", exec="sleep 1", restart="sometimes")
    r = tend.ctl("disable", "x", check=1)
    assert "nothing changed" in r.stderr and "broken.ini:3: restart: invalid value" in r.stderr, \
        r.stderr
    assert not (tend.services_dir / "x.ini.d" / "50-enable.ini").exists()
    # An earlier drop-in is put back as it was.
    tend.remove_service("broken")
    tend.ctl("disable", "x", check=0)
    before = (tend.services_dir / "x.ini.d" / "50-enable.ini").read_bytes()
    tend.service("broken", exec="sleep 1", restart="sometimes")
    tend.ctl("enable", "x", check=1)
    assert (tend.services_dir / "x.ini.d" / "50-enable.ini").read_bytes() == before


def test_enable_refused_for_other_users_bad_names_and_links(tend):
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")
    tend.open_socket_dir()
    tend.service("x", exec="sleep 1043")
    tend.service("y", exec="sleep 1044")
    elsewhere = tend.dir / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, tend.services_dir / "y.ini.d")
    tend.start()
    os.chmod(tend.socket, 0o666)
    r = tend.ctl("disable", "x", user=(65534, 65534))
    assert r.returncode == 1 and "x: permission denied" in r.stderr, (r.returncode, r.stderr)
    r = tend.ctl("enable", "x", user=(65534, 65534))
    assert r.returncode == 1 and "permission denied" in r.stderr
    assert not (tend.services_dir / "x.ini.d").exists()
    for bad in ("../x", "x/../../y", "nosuch", ".hidden", ""):
        r = tend.ctl("disable", bad, check=1)
        assert "unknown service" in r.stderr, (bad, r.stderr)
    assert sorted(os.listdir(tend.services_dir)) == ["x.ini", "y.ini", "y.ini.d"]
    # y.ini.d is a link: tendd reads through it, but never writes through it.
    r = tend.ctl("disable", "y", check=1)
    assert "y.ini.d: is a symbolic link" in r.stderr, r.stderr
    assert os.listdir(elsewhere) == []
    tend.wait_running("y")
