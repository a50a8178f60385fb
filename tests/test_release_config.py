"""The release configuration: the wheel matrix cibuildwheel reads from pyproject.toml, and
the workflow that builds the sdist, the pure wheel and the compiled wheels."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "wheels.yml"
CIBW = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["cibuildwheel"]
PYTHONS = ["cp39", "cp310", "cp311", "cp312", "cp313", "cp314", "cp315"]
# The intended matrix: CPython 3.9-3.15, no PyPy, no free-threaded build.
PLATFORM_TAGS = {
    "linux": [f"{libc}_{arch}" for libc in ("manylinux", "musllinux")
              for arch in ("x86_64", "aarch64")],
    "macos": ["macosx_x86_64", "macosx_arm64"],
    "windows": ["win_amd64"],
}
# The architecture each runner label of the workflow runs on.
RUNNER_ARCH = {
    "ubuntu-latest": ("linux", "x86_64"), "ubuntu-24.04": ("linux", "x86_64"),
    "ubuntu-24.04-arm": ("linux", "aarch64"),
    "macos-13": ("macos", "x86_64"), "macos-15-intel": ("macos", "x86_64"),
    "macos-14": ("macos", "arm64"), "macos-15": ("macos", "arm64"),
    "windows-latest": ("windows", "AMD64"), "windows-2022": ("windows", "AMD64"),
}


@pytest.mark.parametrize("platform", sorted(PLATFORM_TAGS))
def test_cibuildwheel_builds_the_intended_matrix(platform, tmp_path):
    if sys.version_info < (3, 11):
        pytest.skip("cibuildwheel 3 and later run on Python 3.11+ only")
    # Set CIBW_* variables (a developer's, or a CI job's) would override the configuration.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CIBW_") and k != "CIBUILDWHEEL"}
    result = subprocess.run(
        [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers",
         "--platform", platform, str(ROOT)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    identifiers = result.stdout.split()
    expected = [f"{py}-{tag}" for py in PYTHONS for tag in PLATFORM_TAGS[platform]]
    assert sorted(identifiers) == sorted(expected)


# -- the workflow ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def jobs():
    yaml = pytest.importorskip("yaml", reason="PyYAML is in the test group")
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return workflow["jobs"]


def commands(job):
    return "\n".join(step.get("run", "") for step in job["steps"])


def step_env(job):
    env = dict(job.get("env", {}))
    for step in job["steps"]:
        env.update(step.get("env", {}))
    return env


def uploads(job):
    return [step["with"] for step in job["steps"] if step.get("uses", "").startswith(
        "actions/upload-artifact@")]


def downloads(job):
    return [step["with"]["name"] for step in job["steps"] if step.get("uses", "").startswith(
        "actions/download-artifact@")]


def needs(job):
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else value


def job_running(jobs, text):
    found = [name for name, job in jobs.items() if text in commands(job)]
    assert len(found) == 1, f"expected one job running {text!r}, found {found}"
    return found[0], jobs[found[0]]


def test_workflow_builds_and_checks_the_sdist(jobs):
    name, job = job_running(jobs, "build --sdist")
    assert "twine check" in commands(job)
    (upload,) = uploads(job)
    assert upload["path"].endswith(".tar.gz")


def test_workflow_builds_the_pure_wheel_from_the_sdist_and_tests_it(jobs):
    sdist_job, sdist = job_running(jobs, "build --sdist")
    sdist_artifact = uploads(sdist)[0]["name"]
    name, job = job_running(jobs, "build --wheel")
    assert sdist_job in needs(job) and downloads(job) == [sdist_artifact]
    assert step_env(job).get("PYCIRCUITBREAKER_NO_EXTENSIONS") == "1"
    assert "py3-none-any.whl" in commands(job)
    (upload,) = uploads(job)
    # Tested on the oldest and newest Python, with the pure twin asked for at run time.
    test_name, test = job_running(jobs, "--pure-install")
    assert name in needs(test) and upload["name"] in downloads(test)
    pythons = test["strategy"]["matrix"]["python"]
    assert "3.9" in pythons and "3.15" in pythons
    assert step_env(test).get("PYCIRCUITBREAKER_NO_EXTENSIONS") == "1"
    assert "IMPLEMENTATION == 'python'" in commands(test)


def test_workflow_builds_the_compiled_wheels_from_the_sdist_on_each_os(jobs):
    sdist_job, sdist = job_running(jobs, "build --sdist")
    name, job = job_running(jobs, "cibuildwheel")
    assert sdist_job in needs(job) and downloads(job) == [uploads(sdist)[0]["name"]]
    (run,) = [line for line in commands(job).splitlines() if "-m cibuildwheel " in line]
    assert run.split()[-1].endswith(".tar.gz"), "cibuildwheel must be given the sdist"
    # The matrix is pyproject.toml's alone: no CIBW_BUILD or CIBW_SKIP here, and no
    # PYCIRCUITBREAKER_REQUIRE_REDIS (no redis-server in there: those tests skip).
    env = step_env(job)
    assert set(env) == {"CIBW_ARCHS"} and env["CIBW_ARCHS"] == "${{ matrix.archs }}"
    assert job["runs-on"] == "${{ matrix.os }}"
    covered = set()
    for entry in job["strategy"]["matrix"]["include"]:
        assert entry["os"] in RUNNER_ARCH, f"add {entry['os']}'s architecture to RUNNER_ARCH"
        platform, native = RUNNER_ARCH[entry["os"]]
        assert entry["archs"] == native, f"{entry} would build for another architecture"
        covered.add((platform, native))
    intended = {(platform, arch) for platform in ("linux", "macos", "windows")
                for arch in CIBW[platform]["archs"]}
    assert covered == intended
    (upload,) = uploads(job)
    assert "matrix.os" in upload["name"] and "matrix.archs" in upload["name"]
