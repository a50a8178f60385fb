"""Static checks: the package passes mypy --strict and ruff, guarded functions keep their
signatures for mypy, and the compiled twin has exactly the pure twin's public API.

mypy and ruff run as subprocesses of this interpreter, on the package as installed (the
typing test file and stubtest) or on the source tree (mypy --strict, ruff).
"""

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TYPING = ROOT / "tests" / "typing"
CHECK_FILE = TYPING / "check_decorators.py"
ALLOWLIST = TYPING / "stubtest_allowlist.txt"

# A marker at the end of a line of CHECK_FILE: "# E: <error code>" or "# N: <revealed type>".
MARKER = re.compile(r"(?<!`)#\s*([EN]):\s*(.+?)\s*$")  # not the ``# E: `` of the docstring
# One line of mypy's output: path:line: error|note: message  [code]
MYPY_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<kind>error|note): (?P<message>.*?)"
                       r"(?:  \[(?P<code>[a-z-]+)\])?$")
REVEALED = re.compile(r'^Revealed type is "(.*)"$')


def run(*args, cwd=ROOT, env=None):
    """Run ``python -m <args>`` and return the completed process (never raises)."""
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def report(process):
    return f"exit status {process.returncode}\n{process.stdout}{process.stderr}"


def plain(type_name):
    """Return a revealed type without the ``builtins.`` prefix older mypy versions print."""
    return type_name.replace("builtins.", "")


# -- the package ----------------------------------------------------------------------------

def test_package_passes_mypy_strict():
    # Files, strictness and what is left out come from [tool.mypy] in pyproject.toml.
    process = run("mypy")
    assert process.returncode == 0, report(process)


def test_ruff_finds_nothing():
    process = run("ruff", "check", "src", "tests")
    assert process.returncode == 0, report(process)


# -- guarded functions keep their signatures ----------------------------------------------------

def expected_markers():
    """Return {line: ("E", code) or ("N", type)} from the markers in CHECK_FILE."""
    markers = {}
    for number, text in enumerate(CHECK_FILE.read_text().splitlines(), start=1):
        match = MARKER.search(text)
        if match:
            kind, value = match.groups()
            markers[number] = (kind, plain(value) if kind == "N" else value)
    return markers


def test_typing_file_has_wrong_calls_to_report():
    # Without deliberately wrong calls the test below could not fail on a lost signature.
    kinds = [kind for kind, _ in expected_markers().values()]
    assert kinds.count("E") >= 5 and kinds.count("N") >= 5


def test_mypy_reports_exactly_the_marked_wrong_calls(tmp_path):
    # The installed package is what mypy sees here (py.typed and the stubs included),
    # as in a project that depends on it. A cache of its own: the shared .mypy_cache holds
    # the package as test_package_passes_mypy_strict read it from src/, and mypy 1.19
    # (the newest for Python 3.9) reuses that instead of reading the installed files.
    process = run("mypy", "--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"),
                  str(CHECK_FILE.relative_to(ROOT)))
    found = {}
    errors = []
    for text in process.stdout.splitlines():
        match = MYPY_LINE.match(text)
        if match is None:
            errors.append(text)  # not a line about the file: a crash or a config problem
            continue
        line, kind, message = int(match["line"]), match["kind"], match["message"]
        revealed = REVEALED.match(message)
        if kind == "error":
            found.setdefault(line, []).append(("E", match["code"]))
        elif revealed:
            found.setdefault(line, []).append(("N", plain(revealed.group(1))))
        # Other notes only explain an error on the same line.
    expected = {line: [marker] for line, marker in expected_markers().items()}
    assert not errors and process.returncode in (0, 1), report(process)
    assert found == expected, report(process)


# -- the twins' public APIs ----------------------------------------------------------------------

def stubtest_compiled_against(tmp_path, pure_source):
    """Run stubtest on the compiled twin, with ``pure_source`` as its stub; return the process.

    The stub tree is a copy of the installed package in which ``_core_c.pyi`` holds the
    pure twin's source: every public name, parameter and default of one twin is compared
    with the other's. Only runtime signatures are compared, not annotations.
    """
    try:
        importlib.import_module("pycircuitbreaker._core_c")
    except ImportError as error:
        pytest.fail(f"the compiled core cannot be imported: {error}")
    package = Path(importlib.import_module("pycircuitbreaker").__file__).parent
    stubs = tmp_path / "stubs"
    (stubs / "pycircuitbreaker").mkdir(parents=True)
    for path in package.iterdir():
        if path.suffix in (".py", ".pyi") or path.name == "py.typed":
            shutil.copy(path, stubs / "pycircuitbreaker")
    (stubs / "pycircuitbreaker" / "_core_c.pyi").write_text(pure_source)
    # The copied modules only have to load; mypy --strict judges them above.
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n[mypy-pycircuitbreaker.*]\nignore_errors = True\n")
    env = dict(os.environ, MYPYPATH=str(stubs))
    # Run from the repository root, where no pycircuitbreaker directory shadows the
    # installed package: the runtime side must be the compiled module.
    return run("mypy.stubtest", "--concise", "--mypy-config-file", str(config),
               "--allowlist", str(ALLOWLIST), "pycircuitbreaker._core_c", env=env)


def pure_source():
    return importlib.import_module("pycircuitbreaker._core_py").__loader__.get_source(
        "pycircuitbreaker._core_py")


@pytest.mark.compiled
def test_compiled_twin_has_the_pure_twins_public_api(tmp_path):
    process = stubtest_compiled_against(tmp_path, pure_source())
    assert process.returncode == 0, report(process)


def edit(source, pattern, replacement):
    """Return ``source`` with the one match of ``pattern`` replaced; fail if not exactly one."""
    result, count = re.subn(pattern, replacement, source, flags=re.MULTILINE)
    assert count == 1, f"{pattern!r} matched {count} times in _core_py.py"
    return result


@pytest.mark.compiled
def test_a_public_name_or_parameter_in_one_twin_only_is_reported(tmp_path):
    # The pure source edited as if each twin had gained something the other lacks.
    source = pure_source()
    # Pure only: a new method and a new parameter.
    source = edit(source, r"^    def reset\(self\)", "    def drain(self):\n        pass\n\n"
                  "    def reset(self, hard=False)")
    # Compiled only: a method the pure twin lacks (made private there) and a parameter
    # the pure twin lacks.
    source = edit(source, r"^    def trip\(self\)", "    def _trip(self)")
    source = edit(source, r"^(    def __exit__\(self, exc_type[^,]*, error[^,]*),\s*traceback[^)]*\)",
                  r"\1)")
    process = stubtest_compiled_against(tmp_path, source)
    output = process.stdout
    assert process.returncode == 1, report(process)
    for name in ("drain", "reset", "trip", "__exit__"):
        assert f"pycircuitbreaker._core_c.CircuitBreaker.{name} " in output, report(process)
    assert len(re.findall(r"^pycircuitbreaker\._core_c\.", output, re.MULTILINE)) == 4, \
        report(process)
