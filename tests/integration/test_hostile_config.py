"""Configuration that tries to hurt the daemon: files that are not regular
files, numbers out of any sane range, environments the kernel would refuse,
and inputs large enough to expose quadratic work. tendd --check and a reload
must answer promptly with FILE:LINE: key: reason, and a rejected reload
changes nothing."""

import os
import re
import resource
import subprocess
import time

import pytest

from conftest import TENDD, wait_for

# tendd built with AddressSanitizer reserves terabytes of address space, so
# RLIMIT_AS cannot guard a run that might allocate without bound; its own
# RSS limit can.
ASAN = b"__asan_init" in TENDD.read_bytes()


def check(tend, timeout=30):
    """tendd --check on the test's config, with a memory guard: a reader that
    grows without bound must fail the test, not the machine."""
    env = dict(os.environ)
    pre = None
    if ASAN:
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":hard_rss_limit_mb=1024"
    else:
        def pre():
            resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    return subprocess.run([str(TENDD), "--check", "-c", str(tend.config)],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          preexec_fn=pre)


def errors_of(r):
    return (r.stdout + r.stderr).splitlines()


def test_fifo_environment_file_fails_check_promptly(tend):
    fifo = tend.dir / "env.fifo"
    os.mkfifo(fifo)
    tend.service("a", exec="sleep 1000", environment_file=str(fifo))
    start = time.monotonic()
    r = check(tend, timeout=10)
    assert time.monotonic() - start < 5
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert re.search(r"a\.ini:3: environment_file: '.*env\.fifo': not a regular file "
                     r"\(a FIFO\)", r.stderr), r.stderr


def test_dev_zero_environment_file_is_rejected(tend):
    tend.service("a", exec="sleep 1000", environment_file="/dev/zero")
    r = check(tend, timeout=20)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert re.search(r"a\.ini:3: environment_file: '/dev/zero': not a regular file "
                     r"\(a character device\)", r.stderr), r.stderr


def test_oversized_files_are_rejected(tend):
    big = tend.dir / "big.env"
    with open(big, "w") as f:
        f.write(("X=" + "y" * 1000 + "\n") * 1100)  # 1.1 MB
    tend.service("a", exec="sleep 1000", environment_file=str(big))
    tend.service("b", text="[service]\nexec = sleep 1000\n" + "# padding\n" * 110000)
    r = check(tend)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert re.search(r"a\.ini:3: environment_file: '.*big\.env': larger than 1 MiB", r.stderr), \
        r.stderr
    assert re.search(r"b\.ini:0: larger than 1 MiB", r.stderr), r.stderr


def test_swapped_fifo_environment_file_rejects_reload(tend):
    env = tend.dir / "app.env"
    env.write_text("GREETING=hello\n")
    tend.service("keep", exec="sleep 1000")
    tend.service("app", exec="sleep 1000", environment_file=str(env))
    tend.start()
    keep = tend.wait_running("keep")
    app = tend.wait_running("app")
    # The service's user swaps its environment file for a FIFO.
    env.unlink()
    os.mkfifo(env)
    tend.service("app", exec="sleep 1001", environment_file=str(env))
    r = tend.ctl("reload", timeout=15)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "app.ini:3: environment_file:" in r.stderr and "not a regular file" in r.stderr, \
        r.stderr
    # Nothing changed and the daemon still answers.
    assert tend.svc("keep")["pid"] == keep["pid"]
    assert tend.svc("app")["pid"] == app["pid"]
    tend.ctl("restart", "keep", check=0)


OUT_OF_RANGE = [
    ("start_limit_burst", "4294967295", r"4294967295 is out of range \(at most 10000\)"),
    ("log_keep", "1000000", r"1000000 is out of range \(at most 1000\)"),
    ("log_max_size", "1", r"size '1' is out of range \(0, or 4K to 1T\)"),
    ("restart_delay", "1000h", r"duration '1000h' is out of range \(at most 24h\)"),
    ("stop_timeout", "infinity", r"duration 'infinity' is out of range \(at most 24h\)"),
    ("limit_nofile", "2147483647", r"2147483647 is above fs.nr_open"),
    ("exec", "sleep " + "1" * 140000, r"word 2 is longer than 128 KiB"),
]


@pytest.mark.parametrize("key,value,reason", OUT_OF_RANGE, ids=[k for k, _, _ in OUT_OF_RANGE])
def test_out_of_range_values_are_rejected(tend, key, value, reason):
    keys = {"exec": "sleep 1000", "restart": "always"}
    keys[key] = value
    tend.service("a", **keys)
    r = check(tend)
    assert r.returncode == 1, (r.stdout, r.stderr[:2000])
    line = 2 if key == "exec" else 4
    assert re.search(rf"a\.ini:{line}: {key}: .*{reason}", r.stderr), r.stderr[:2000]


def test_environment_the_kernel_would_refuse_is_a_config_error(tend):
    # limit_stack = 1M leaves execve 256 KiB for arguments and environment.
    env = tend.dir / "app.env"
    env.write_text("".join(f"V{i:05d}={'x' * 200}\n" for i in range(1500)))  # 310 KB
    tend.service("a", exec="sleep 1000", environment_file=str(env), limit_stack="1M")
    r = check(tend)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert re.search(r"a\.ini:3: environment_file: arguments and environment take \d+ bytes, "
                     r"more than execve allows with limit_stack = 1M \(\d+\)", r.stderr), \
        r.stderr


def test_out_of_range_reload_is_rejected(tend):
    tend.service("a", exec="sleep 1000")
    tend.service("b", exec="sleep 1000")
    tend.start()
    a = tend.wait_running("a")
    b = tend.wait_running("b")
    tend.service("b", exec="sleep 1000", start_limit_burst="4294967295")
    r = tend.ctl("reload")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "b.ini:3: start_limit_burst: 4294967295 is out of range" in r.stderr, r.stderr
    assert tend.svc("a")["pid"] == a["pid"] and tend.svc("b")["pid"] == b["pid"]


def test_30000_environment_entries_respawn_fast(tend):
    out = tend.dir / "seen"
    lines = ["[service]",
             f"exec = sh -c 'echo \"$K00000 $K29999 $N\" > {out}; exit 1'",
             "restart = always", "restart_delay = 0", "start_limit_burst = 0",
             "output = null", "environment = K00000=first"]
    lines += [f"environment = K{i:05d}=v{i}" for i in range(30000)]
    lines += ["environment = N=30000"]
    tend.service("many", text="\n".join(lines) + "\n")
    start = time.monotonic()
    r = check(tend)
    assert r.returncode == 0, r.stderr[:2000]
    check_time = time.monotonic() - start
    tend.start()
    # Each respawn took seconds (quadratic merging); now it is a copy.
    s = wait_for(lambda: (tend.svc("many") or {}).get("restarts", 0) >= 20 and tend.svc("many"),
                 timeout=30, what="20 respawns")
    assert s["state"] in ("running", "backoff", "starting"), s
    wait_for(lambda: out.exists() and out.read_text().strip(), what="the service's output")
    # The later entry wins, every entry arrives.
    assert out.read_text().split() == ["v0", "v29999", "30000"]
    assert check_time < 10, f"--check took {check_time:.1f}s"


def test_400000_error_lines_check_fast_and_bounded(tend):
    tend.service("bad", text="[service]\nexec = sleep 1000\n" + "x\n" * 400000)
    start = time.monotonic()
    r = check(tend, timeout=60)
    took = time.monotonic() - start
    assert r.returncode == 1
    errs = errors_of(r)
    assert len(errs) == 101, len(errs)
    assert errs[0] == f"{tend.services_dir}/bad.ini:3: syntax error: expected 'key = value', " \
        "'[section]' or a comment", errs[0]
    assert errs[-1] == "... and 399900 more errors", errs[-1]
    assert took < 10, f"--check took {took:.1f}s"


def test_400000_error_lines_reload_does_not_block(tend):
    tend.service("a", exec="sleep 1000")
    tend.start()
    a = tend.wait_running("a")
    tend.service("bad", text="[service]\nexec = sleep 1000\n" + "x\n" * 400000)
    start = time.monotonic()
    r = tend.ctl("reload", timeout=60)
    took = time.monotonic() - start
    assert r.returncode == 1
    assert "... and 399900 more errors" in r.stderr, r.stderr[-500:]
    assert len(r.stderr) < 64 * 1024
    assert took < 10, f"reload took {took:.1f}s"
    assert tend.svc("a")["pid"] == a["pid"]


def test_large_dependency_graph_checks_fast(tend):
    # A chain of 3000 services, each also after every one of the previous 20,
    # and one cycle through the whole chain.
    n = 3000
    for i in range(n):
        deps = " ".join(f"s{j:04d}" for j in range(max(0, i - 20), i))
        if i == 0:
            deps = f"s{n - 1:04d}"
        tend.service(f"s{i:04d}", text=f"[service]\nexec = sleep 1000\nafter = {deps}\n")
    start = time.monotonic()
    r = check(tend)
    took = time.monotonic() - start
    assert r.returncode == 1
    errs = errors_of(r)
    assert len(errs) <= 101
    assert re.search(r"after: dependency cycle s0000 -> s2999 -> .* -> \.\.\. \(\d+ more\) -> s0000 ", errs[0]), \
        errs[0][:300]
    assert len(errs[0]) < 4096
    assert took < 10, f"--check took {took:.1f}s"
