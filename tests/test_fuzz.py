"""A brief run of the fuzz target, tests/fuzz_core.py; longer runs are made by hand.

atheris comes from PyPI, not from the test group (it has no wheels for every platform
the wheels are tested on): .ci/run installs it and sets PYCIRCUITBREAKER_REQUIRE_FUZZ,
so that there these tests run, never skip.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TARGET = Path(__file__).with_name("fuzz_core.py")
REQUIRE_ENV = "PYCIRCUITBREAKER_REQUIRE_FUZZ"
RUNS = 20_000
# 20,000 inputs take about 20 s on an idle 2-core machine; a busy one gets 45 times that.
BUDGET = 900

pytestmark = pytest.mark.compiled  # it compares the compiled core with the pure twin


def fuzz(tmp_path, runs, **env):
    try:
        import atheris  # noqa: F401
    except ImportError:
        hint = "atheris is not installed (pip install atheris)"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{hint}, and {REQUIRE_ENV} says the fuzz tests must run")
        pytest.skip(hint)
    return subprocess.run(
        [sys.executable, str(TARGET), f"-atheris_runs={runs}", "-max_len=1024",
         "-len_control=0", "-seed=13", "-timeout=60", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=BUDGET, cwd=tmp_path,
        env={**os.environ, **env},
    )


def test_a_brief_fuzz_finds_no_crash_hang_or_disagreement(tmp_path):
    run = fuzz(tmp_path, RUNS)
    assert run.returncode == 0, run.stderr[-6000:]
    assert f"Done {RUNS} " in run.stderr, run.stderr[-2000:]


def test_the_fuzz_target_reports_a_disagreement(tmp_path):
    # The canary plants one extra call in the pure twin: the target must notice.
    run = fuzz(tmp_path, RUNS, PYCIRCUITBREAKER_FUZZ_CANARY="1")
    assert run.returncode != 0
    assert "AssertionError" in run.stdout + run.stderr, run.stderr[-2000:]
    assert list(tmp_path.glob("crash-*")), "no reproducer was written"
