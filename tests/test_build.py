"""Which core loads, and how the build falls back: checked in fresh interpreters."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import pycircuitbreaker

ROOT = Path(__file__).resolve().parent.parent
ENV_NO_EXTENSIONS = "PYCIRCUITBREAKER_NO_EXTENSIONS"


def run_python(code, **env_changes):
    env = {k: v for k, v in os.environ.items() if k != ENV_NO_EXTENSIONS}
    env.update(env_changes)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=os.path.dirname(sys.executable),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.compiled
def test_compiled_core_is_preferred_by_default():
    # Fails if a normal build silently ends up running the pure twin.
    out = run_python(
        "import pycircuitbreaker as p, pycircuitbreaker._core_c as c;"
        "print(p.IMPLEMENTATION, p.CircuitBreaker is c.CircuitBreaker,"
        " type(p.circuit(len).breaker).__module__)"
    )
    assert out == "cython True pycircuitbreaker._core_c"


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_env_var_forces_the_pure_twin(value):
    out = run_python(
        "import pycircuitbreaker as p, pycircuitbreaker._core_py as py;"
        "print(p.IMPLEMENTATION, p.CircuitBreaker is py.CircuitBreaker,"
        " type(p.circuit(len).breaker).__module__)",
        **{ENV_NO_EXTENSIONS: value},
    )
    assert out == "python True pycircuitbreaker._core_py"


@pytest.mark.compiled
@pytest.mark.parametrize("value", ["0", "", "no"])
def test_other_env_values_keep_the_compiled_core(value):
    assert run_python("import pycircuitbreaker as p; print(p.IMPLEMENTATION)",
                      **{ENV_NO_EXTENSIONS: value}) == "cython"


@pytest.mark.compiled
def test_in_process_implementation_matches_environment():
    forced = os.environ.get(ENV_NO_EXTENSIONS, "").lower() in {"1", "true", "yes", "on"}
    assert pycircuitbreaker.IMPLEMENTATION == ("python" if forced else "cython")


@pytest.mark.compiled
def test_main_reports_version_implementation_and_core():
    env = {k: v for k, v in os.environ.items() if k != ENV_NO_EXTENSIONS}
    out = subprocess.run([sys.executable, "-m", "pycircuitbreaker"], env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    import pycircuitbreaker._core_c as compiled

    assert out.splitlines() == [
        f"version: {pycircuitbreaker.__version__}",
        "implementation: cython",
        f"core: {compiled.__file__}",
    ]


# -- building from source ------------------------------------------------------------
# Marked packaging: they hide the compiler with CC, which MSVC ignores, so the cibuildwheel
# test command leaves them out (the workflow's own jobs build from source).


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory):
    """Copy the project's build inputs, so builds never write into the checkout."""
    tree = tmp_path_factory.mktemp("source")
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "__pycache__", "*.egg-info"))
    return tree


def build_wheel(tree, out, **env_changes):
    env = {k: v for k, v in os.environ.items()
           if k not in (ENV_NO_EXTENSIONS, "PYCIRCUITBREAKER_REQUIRE_EXTENSIONS", "CIBUILDWHEEL")}
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", "-w", str(out), str(tree)],
        env=env, capture_output=True, text=True, timeout=300,
    )


def wheel_members(out):
    (wheel,) = out.glob("*.whl")
    return wheel.name, zipfile.ZipFile(wheel).namelist()


@pytest.mark.packaging
def test_build_time_env_var_skips_compiling(source_tree, tmp_path):
    result = build_wheel(source_tree, tmp_path, **{ENV_NO_EXTENSIONS: "1"})
    assert result.returncode == 0, result.stderr
    name, members = wheel_members(tmp_path)
    assert name.endswith("-py3-none-any.whl")
    assert not [m for m in members if m.endswith((".so", ".pyd"))]
    assert "pycircuitbreaker/_core_py.py" in members


@pytest.mark.packaging
def test_failed_compile_installs_pure_twin_with_warning(source_tree, tmp_path):
    result = build_wheel(source_tree, tmp_path, CC="false", **{"PYCIRCUITBREAKER_REQUIRE_EXTENSIONS": ""})
    assert result.returncode == 0, result.stderr
    assert "compiled core could not be built" in result.stderr + result.stdout
    _, members = wheel_members(tmp_path)
    assert not [m for m in members if m.endswith((".so", ".pyd"))]


@pytest.mark.packaging
@pytest.mark.parametrize("flag", ["PYCIRCUITBREAKER_REQUIRE_EXTENSIONS", "CIBUILDWHEEL"])
def test_failed_compile_is_fatal_when_required(source_tree, tmp_path, flag):
    result = build_wheel(source_tree, tmp_path, CC="false", **{flag: "1"})
    assert result.returncode != 0
    assert not list(tmp_path.glob("*.whl"))


def test_importing_the_package_loads_no_storage_engine():
    # A breaker without storage= must not pay for Redis: neither the client library nor
    # the shared-state engine nor its Lua script is imported until a storage is built.
    out = run_python(
        "import sys, pycircuitbreaker;"
        "print(sorted(m for m in ('redis', 'pycircuitbreaker._shared',"
        " 'pycircuitbreaker._redis_script', 'pycircuitbreaker.redis_storage')"
        " if m in sys.modules))"
    )
    assert out == "[]"
    out = run_python(
        "import sys, pycircuitbreaker.redis_storage;"
        "print(all(m in sys.modules for m in ('redis', 'pycircuitbreaker._shared')))"
    )
    assert out == "True"


def run_main(*args):
    return subprocess.run([sys.executable, "-m", "pycircuitbreaker", *args],
                          cwd=os.path.dirname(sys.executable), capture_output=True,
                          text=True, timeout=60)


def test_help_lists_every_command_and_exits_0():
    result = run_main("--help")
    assert result.returncode == 0, result.stderr
    assert "usage: python -m pycircuitbreaker" in result.stdout
    for command in ("info", "demo", "bench"):
        assert command in result.stdout


def test_version_prints_version_and_core():
    result = run_main("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"pycircuitbreaker {pycircuitbreaker.__version__} "
                             f"({pycircuitbreaker.IMPLEMENTATION} core)\n")


def test_demo_help_explains_the_demo_without_running_it():
    result = run_main("demo", "--help")
    assert result.returncode == 0, result.stderr
    assert "--verbose" in result.stdout
    # The demo itself prints the report and its walk-through: neither ran.
    assert "implementation:" not in result.stdout


def test_an_unknown_command_is_refused_with_the_choices():
    result = run_main("benchmark")
    assert result.returncode == 2
    assert "invalid choice: 'benchmark'" in result.stderr
    assert "'bench'" in result.stderr


def test_no_text_a_user_reads_cites_an_internal_issue():
    # Issue numbers mean nothing outside the team.
    texts = [run_main(*args).stdout for args in
             (("--help",), ("info", "--help"), ("demo", "--help"), ("bench", "--help"))]
    assert all(texts)
    assert not [text for text in texts if re.search(r"issue|#\d", text, re.IGNORECASE)]


def test_bench_command_says_where_the_benchmark_lives():
    # The harness is not installed with the library; the command says how to run it.
    result = subprocess.run([sys.executable, "-m", "pycircuitbreaker", "bench"],
                            cwd=os.path.dirname(sys.executable), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "./dev bench" in result.stderr
