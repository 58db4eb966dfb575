"""Each libFuzzer target (tests/fuzz) for a bounded time, under ASan and
UBSan, from its corpus (seeds and every crash found so far). tests/run builds
them with clang into $TEND_FUZZ_BUILD_DIR; skipped without it. What a run
finds stays in a temporary copy of the corpus: a crash fails the test, and
its input (printed) becomes a corpus entry once the bug is fixed."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

CORPUS = REPO / "tests" / "fuzz" / "corpus"
SECONDS = int(os.environ.get("TEND_FUZZ_SECONDS", "20"))
TARGETS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz(target, tmp_path):
    d = os.environ.get("TEND_FUZZ_BUILD_DIR")
    if not d:
        pytest.skip("TEND_FUZZ_BUILD_DIR is not set")
    exe = (Path(d) if Path(d).is_absolute() else REPO / d) / "tests" / target
    if not exe.exists():
        pytest.skip(f"{exe} was not built")
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / target, corpus)
    r = subprocess.run([str(exe), f"-max_total_time={SECONDS}", "-timeout=10",
                        "-rss_limit_mb=2048", f"-artifact_prefix={tmp_path}/", str(corpus)],
                       capture_output=True, text=True, timeout=SECONDS + 120,
                       env={**os.environ, "ASAN_OPTIONS": "detect_leaks=1",
                            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"})
    done = [l for l in r.stderr.splitlines() if l.startswith("Done ")]
    print(f"{target}: {done[-1] if done else 'no summary'}")
    assert r.returncode == 0, f"{target} exited {r.returncode}:\n{r.stderr[-6000:]}"
    assert done, r.stderr[-3000:]
