"""Service output: file (timestamped, rotated), console, null, tendctl logs,
and what a flood, a full disk or a deleted log directory do to tendd."""

import os
import re
import resource
import subprocess
import time
from pathlib import Path

import pytest

from conftest import TENDCTL, pss_kb, wait_for

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z "
TS_RE = re.compile("^(" + TS + ")(.*)$")


def log_lines(path):
    """(timestamp, text) per line of a log file."""
    out = []
    for line in Path(path).read_text().splitlines():
        m = TS_RE.match(line)
        assert m, f"line without timestamp in {path}: {line!r}"
        out.append((m.group(1), m.group(2)))
    return out


def test_file_lines_complete_ordered_timestamped(tend):
    # stdout and stderr interleaved, a last line without newline, and a line
    # written by a descendant after the main process exited.
    script = ("i=0; while [ $i -lt 500 ]; do i=$((i+1)); echo out $i; echo err $i >&2; done; "
              "(sleep 0.3; echo after exit; printf \"no newline\") &")
    tend.service("w", exec=f"sh -c '{script}'", restart="never", kill_mode="process")
    tend.start()
    tend.wait_state("w", "stopped")
    log = tend.log_dir / "w.log"
    wait_for(lambda: log.exists() and "no newline" in log.read_text(), what="late lines")
    lines = log_lines(log)
    texts = [t for _, t in lines]
    want = []
    for i in range(1, 501):
        want += [f"out {i}", f"err {i}"]
    assert texts[:1000] == want
    # Written after the main process exited; the last one is flushed at EOF.
    assert texts[1000:] == ["after exit", "no newline"]
    stamps = [ts for ts, _ in lines]
    assert stamps == sorted(stamps), "timestamps go backwards"
    # tendctl logs reads the same lines back.
    r = tend.ctl("logs", "w", "-n", "3", check=0)
    assert [TS_RE.match(l).group(2) for l in r.stdout.splitlines()] == texts[-3:]
    # Around the sizes the kept lines grow through, and beyond the file.
    for n in (64, 65, 129, 1001, 1002, 5000):
        r = tend.ctl("logs", "w", "-n", n, check=0)
        assert [TS_RE.match(l).group(2) for l in r.stdout.splitlines()] == texts[-n:], n


def test_long_line_is_split_not_lost(tend):
    tend.service("long", exec="sh -c 'head -c 100000 /dev/zero | tr \"\\\\0\" x; echo; echo next'",
                 restart="never")
    tend.start()
    tend.wait_state("long", "stopped")
    log = tend.log_dir / "long.log"
    wait_for(lambda: log.exists() and "next" in log.read_text(), what="log")
    texts = [t for _, t in log_lines(log)]
    assert texts[-1] == "next"
    assert "".join(texts[:-1]) == "x" * 100000
    assert max(len(t) for t in texts) <= 16 * 1024


def test_rotation_keeps_log_keep_files(tend):
    n = 6000
    tend.service("rot", exec=f"sh -c 'i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo line $i; "
                 "done; exec sleep 1000'", log_max_size="32K", log_keep="3")
    tend.start()
    log = tend.log_dir / "rot.log"
    wait_for(lambda: log.exists() and f"line {n}\n" in log.read_text(), what="last line")
    files = sorted(p.name for p in tend.log_dir.iterdir() if p.name.startswith("rot.log"))
    assert files == ["rot.log", "rot.log.1", "rot.log.2", "rot.log.3"], files
    numbers = []
    for name in ["rot.log.3", "rot.log.2", "rot.log.1", "rot.log"]:
        p = tend.log_dir / name
        assert p.stat().st_size <= 32 * 1024, f"{name} is {p.stat().st_size} bytes"
        numbers += [int(t.split()[1]) for _, t in log_lines(p)]
    # The retained span is contiguous and ends at the last line.
    assert numbers == list(range(numbers[0], n + 1))
    assert numbers[0] > 1, "nothing was rotated away"
    # tendctl logs reads oldest first across the rotated files.
    r = tend.ctl("logs", "rot", check=0)
    got = [int(TS_RE.match(l).group(2).split()[1]) for l in r.stdout.splitlines()]
    assert got == numbers
    # Lowering log_keep applies live (no restart) and removes the extra files
    # at the next rotation.
    tend.service("rot", exec=f"sh -c 'i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo line $i; "
                 "done; exec sleep 1000'", log_max_size="32K", log_keep="1")
    pid = tend.svc("rot")["pid"]
    tend.ctl("reload", check=0)
    assert tend.svc("rot")["pid"] == pid


def test_logs_follow_across_rotation(tend):
    tend.service("tick", exec="sh -c 'i=0; while :; do i=$((i+1)); echo tick $i; "
                 "sleep 0.01; done'", log_max_size="4K", log_keep="1")
    tend.start()
    tend.wait_running("tick")
    # Run where a user would: inside tendd's namespaces (see conftest.Tend.ctl).
    p = subprocess.Popen(tend.in_ns_prefix(None) + [str(TENDCTL), "-s", str(tend.socket), "logs",
                                                     "-f", "tick", "-n", "1"],
                         stdout=subprocess.PIPE, text=True)
    try:
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            m = TS_RE.match(line)
            assert m, line
            seen.append(int(m.group(2).split()[1]))
            # 4K holds ~100 lines: 400 lines means several rotations.
            if seen[-1] - seen[0] >= 400:
                break
        assert seen == list(range(seen[0], seen[0] + len(seen))), "gap or repeat across rotation"
        assert seen[-1] - seen[0] >= 400
    finally:
        p.kill()
        p.wait()


def test_logs_line_count_out_of_range_says_the_range(tend):
    for n in ("1000000001", "99999999999999999999999", "-1", "x"):
        r = tend.ctl("logs", "-n", n, "w", socket_path="", check=2)
        assert r.stderr.splitlines()[0] == (
            f"tendctl: logs: invalid line count: {n} (0 to 1000000000; 0: all)"), r.stderr


def test_logs_largest_line_count_costs_no_memory_of_its_own(tend_release):
    # -n 1000000000 in 1 GiB of address space: what is kept costs the lines
    # the files hold, not a slot for each of N (8 GB).
    tend = tend_release
    tend.service("w", exec="sh -c 'echo one; echo two; echo three'", restart="never")
    tend.start()
    tend.wait_state("w", "stopped")
    log = tend.log_dir / "w.log"
    wait_for(lambda: log.exists() and "three" in log.read_text(), what="log")

    def small():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    r = subprocess.run(tend.in_ns_prefix(None) + [str(tend.tendctl), "-s", str(tend.socket),
                                                   "logs", "-n", "1000000000", "w"],
                       capture_output=True, text=True, timeout=30, preexec_fn=small)
    assert r.returncode == 0, r.stderr
    assert [TS_RE.match(l).group(2) for l in r.stdout.splitlines()] == ["one", "two", "three"]
    r = tend.ctl("logs", "-n", "2", "w", check=0)
    assert [TS_RE.match(l).group(2) for l in r.stdout.splitlines()] == ["two", "three"]


def test_console_prefixes_name(tend):
    out = tend.dir / "stdout.txt"
    with open(out, "wb") as f:
        tend.service("c1", exec="sh -c 'echo hello; echo oops >&2'", output="console",
                     restart="never")
        tend.start(stdout=f)
        tend.wait_state("c1", "stopped")
        wait_for(lambda: "c1: oops" in out.read_text(), what="console lines")
    assert out.read_text().splitlines() == ["c1: hello", "c1: oops"]
    assert not (tend.log_dir / "c1.log").exists()
    r = tend.ctl("logs", "c1", check=1)
    assert "stdout" in r.stderr


def test_null_discards(tend):
    out = tend.dir / "stdout.txt"
    with open(out, "wb") as f:
        tend.service("n1", exec="sh -c 'echo hello; echo oops >&2'", output="null",
                     restart="never")
        tend.start(stdout=f)
        tend.wait_state("n1", "stopped")
    assert out.read_text() == ""
    assert not (tend.log_dir / "n1.log").exists()
    assert "n1" not in tend.read_log().replace("n1:", "")  # no output leaked into tendd's log


def test_flood_keeps_memory_bounded_and_others_responsive(tend):
    tend.service("flood", exec="yes", log_max_size="4M", log_keep="1")
    tend.service("tick", exec="sh -c 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done'")
    tend.start()
    tend.wait_running("flood")
    tick = tend.log_dir / "tick.log"
    wait_for(lambda: tick.exists() and tick.stat().st_size > 0, what="tick output")
    time.sleep(1)  # let the flood reach its steady state before the baseline
    base = pss_kb(tend.tendd_pid)
    worst_status = 0.0
    last_tick = 0
    for _ in range(8):
        t0 = time.monotonic()
        tend.status()
        worst_status = max(worst_status, time.monotonic() - t0)
        n = int(log_lines(tick)[-1][1].split()[1])
        assert n > last_tick, "tick's output stalled during the flood"
        last_tick = n
        time.sleep(0.5)
    grown = pss_kb(tend.tendd_pid) - base
    flood_bytes = sum(p.stat().st_size for p in tend.log_dir.glob("flood.log*"))
    print(f"flood: Pss {base} KiB -> +{grown} KiB, status worst {worst_status * 1000:.0f} ms, "
          f"flood log {flood_bytes} bytes")
    assert grown < 8 * 1024, f"tendd grew by {grown} KiB under a flood"
    assert worst_status < 2.0, f"control API took {worst_status:.2f}s under a flood"
    assert tend.svc("flood")["state"] == "running"
    # A rotation renames flood.log, then creates it again: look between two.
    files = lambda: sorted(p.name for p in tend.log_dir.glob("flood.log*"))
    wait_for(lambda: files() == ["flood.log", "flood.log.1"], what="flood.log and flood.log.1 only")


def test_full_disk_is_reported_once_and_survived(tend):
    # The log directory is a 256K tmpfs inside tendd's own mount namespace.
    tend.log_dir.mkdir()
    mnt = f"mount -t tmpfs -o size=256k tend-test-full \"$0\" && exec \"$@\""
    tend.service("fill", exec="sh -c 'i=0; while :; do i=$((i+1)); echo line $i; "
                 "[ $((i % 200)) = 0 ] && sleep 0.01; done'", log_max_size="10M")
    tend.start(wrapper=("sh", "-c", mnt, str(tend.log_dir)))
    s = tend.wait_running("fill")
    root = Path(f"/proc/{tend.tendd_pid}/root")
    full = re.compile(r"fill: output: writing .*No space left on device")
    wait_for(lambda: full.search(tend.read_log()), timeout=20, what="the full-disk report")
    time.sleep(2)  # stays full: still one report
    assert len(full.findall(tend.read_log())) == 1, tend.read_log()
    assert tend.svc("fill")["pid"] == s["pid"], "the service was restarted"
    assert tend.svc("fill")["state"] == "running"
    # Room again: writing resumes and the dropped lines are counted.
    subprocess.run(["truncate", "-s", "0", str(root / str(tend.log_dir).lstrip("/") / "fill.log")],
                   check=True)
    m = wait_for(lambda: re.search(r"fill: output: .* works again; (\d+) lines dropped",
                                   tend.read_log()), timeout=10, what="recovery report")
    assert int(m.group(1)) > 0
    assert tend.svc("fill")["pid"] == s["pid"]


def test_file_size_limit_is_reported_and_survived(tend):
    # tendd under RLIMIT_FSIZE: a log write past it fails with EFBIG; the
    # default action of SIGXFSZ would kill tendd (and with it every service).
    tend.service("fill", exec="sh -c 'i=0; while :; do i=$((i+1)); echo line $i; "
                 "[ $((i % 200)) = 0 ] && sleep 0.01; done'", log_max_size="10M")
    tend.start(wrapper=("prlimit", "--fsize=200000", "--"))
    s = tend.wait_running("fill")
    big = re.compile(r"fill: output: writing .*File too large")
    wait_for(lambda: big.search(tend.read_log()), timeout=20, what="the EFBIG report")
    assert tend.svc("fill")["pid"] == s["pid"] and tend.svc("fill")["state"] == "running"
    assert tend.proc.poll() is None, "tendd died"


def test_deleted_log_dir_is_recreated(tend):
    tend.service("tick", exec="sh -c 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done'")
    tend.start()
    log = tend.log_dir / "tick.log"
    wait_for(lambda: log.exists() and log.stat().st_size > 0, what="tick output")
    subprocess.run(["rm", "-rf", str(tend.log_dir)], check=True)
    wait_for(lambda: log.exists() and log.stat().st_size > 0, timeout=10,
             what="the log file to come back")
    assert tend.svc("tick")["state"] == "running"


def test_children_get_no_systemd_environment(tend):
    out = tend.dir / "env.txt"
    tend.service("e", exec=f"sh -c 'env > {out}'", type="oneshot", restart="never")
    tend.start(env={"NOTIFY_SOCKET": str(tend.dir / "systemd-notify"), "WATCHDOG_USEC": "1000000",
                    "WATCHDOG_PID": "1", "INVOCATION_ID": "0123456789abcdef0123456789abcdef",
                    "LISTEN_FDS": "1", "LISTEN_PID": "1", "LISTEN_FDNAMES": "x",
                    "JOURNAL_STREAM": "1:2"})
    tend.wait_state("e", "stopped")
    env = dict(l.split("=", 1) for l in out.read_text().splitlines() if "=" in l)
    for k in ("WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID", "LISTEN_FDS", "LISTEN_PID",
              "LISTEN_FDNAMES", "JOURNAL_STREAM"):
        assert k not in env, f"{k} leaked into the service"
    # tend's own notify socket may be given to services; systemd's never.
    assert env.get("NOTIFY_SOCKET") != str(tend.dir / "systemd-notify")


def test_journal_unreachable_falls_back_to_file(tend):
    # No journald on the test host (or in this namespace): the lines must not
    # be lost; they go to the service's file, and tendd says so once.
    if os.path.exists("/run/systemd/journal/stdout"):
        pytest.skip("journald is reachable here")
    tend.service("j", exec="sh -c 'echo to-the-journal; exec sleep 1000'", output="journal",
                 restart="always")
    tend.start()
    tend.wait_running("j")
    log = tend.log_dir / "j.log"
    wait_for(lambda: log.exists() and "to-the-journal" in log.read_text(), what="fallback file")
    pid = tend.svc("j")["pid"]
    tend.ctl("restart", "j", check=0)
    tend.wait_running("j", not_pid=pid)
    wait_for(lambda: log.read_text().count("to-the-journal") == 2, what="second run's line")
    assert tend.read_log().count("journal unreachable") == 1, tend.read_log()
    assert tend.svc("j")["state"] == "running"
    # tendctl logs reads the file the lines really went to.
    assert "to-the-journal" in tend.ctl("logs", "j", check=0).stdout
