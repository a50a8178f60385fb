"""The benchmark harness's command line (``./dev bench``), parsed only: nothing is timed.

The harness lives in benchmarks/pcbbench, outside the package and the sdist, so these
tests skip where it is missing (the suite run from an unpacked sdist).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import harness as checkout
import pytest

ROOT = Path(__file__).resolve().parent.parent

if not checkout.present():
    pytest.skip("the benchmark harness (benchmarks/pcbbench) is not here",
                allow_module_level=True)

ISSUE_NUMBER = re.compile(r"issue|#\d", re.IGNORECASE)


def load_cli():
    """Import pcbbench.cli from the checkout without putting benchmarks/ on sys.path."""
    return checkout.load("cli")


@pytest.fixture(scope="module")
def cli():
    return load_cli()


def harness(*args):
    """Run ``python -m pcbbench ARGS`` as ./dev bench does; return the finished process."""
    path = os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT / "src")])
    env = dict(os.environ, PYTHONPATH=path)
    return subprocess.run([sys.executable, "-m", "pcbbench", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def refused(cli, capsys, *args):
    """Parse ARGS, which must be refused with status 2; return argparse's message."""
    with pytest.raises(SystemExit) as exit_info:
        cli.parse(list(args))
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_help_exits_0_and_names_no_issue_numbers():
    result = harness("--help")
    assert result.returncode == 0, result.stderr
    assert "--rounds" in result.stdout and "--verbose" in result.stdout
    assert not ISSUE_NUMBER.search(result.stdout), result.stdout


def test_report_headings_name_no_issue_numbers(cli):
    from pcbbench import report

    for fast in (False, True):
        lines = report.verdicts([], fast=fast)
        assert any(line.startswith("Speed targets") for line in lines), lines
        assert not ISSUE_NUMBER.search("\n".join(lines)), lines


@pytest.mark.parametrize(("option", "value"), [
    ("--rounds", "0"), ("--rounds", "-3"), ("--rounds", "2.5"), ("--rounds", "many"),
    ("--seconds", "0"), ("--seconds", "-0.5"), ("--seconds", "nan"), ("--seconds", "inf"),
    ("--seconds", "soon"),
])
def test_a_bad_number_is_refused_naming_the_option(cli, capsys, option, value):
    message = refused(cli, capsys, option, value)
    assert f"argument {option}: must be a positive" in message, message
    assert repr(value) in message, message


def test_good_numbers_are_taken(cli):
    args = cli.parse(["--rounds", "7", "--seconds", "0.25"])
    assert (args.rounds, args.seconds) == (7, 0.25)
    defaults = cli.parse([])
    assert (defaults.rounds, defaults.seconds, defaults.rows) == (None, None, None)
    assert not defaults.verbose


@pytest.mark.parametrize("rows", ["nosuchrow", "compiled,nosuchrow", ","])
def test_an_unknown_row_is_refused_with_the_valid_ones(cli, capsys, rows):
    message = refused(cli, capsys, "--rows", rows)
    assert "argument --rows:" in message, message
    assert "compiled, pure" in message, message
    if "nosuchrow" in rows:
        assert "'nosuchrow'" in message, message


def test_known_rows_are_taken(cli):
    assert cli.parse(["--rows", "compiled, pure"]).rows == ["compiled", "pure"]


def test_the_command_line_refuses_with_status_2():
    # The same refusal end to end, as ./dev bench shows it.
    result = harness("--rounds", "0")
    assert result.returncode == 2
    assert "argument --rounds: must be a positive whole number, got '0'" in result.stderr


PROBE = """
import logging, pkgutil, importlib, sys
import pcbbench
for info in pkgutil.walk_packages(pcbbench.__path__, "pcbbench."):
    if not info.name.endswith(".__main__"):
        importlib.import_module(info.name)
from pcbbench import cli
cli.prepare(sys.argv[1:])
logging.getLogger("pycircuitbreaker").info("probe info")
logging.getLogger("pycircuitbreaker.redis").warning("probe warning")
"""


def probe_logs(*args):
    path = os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT / "src")])
    env = dict(os.environ, PYTHONPATH=path)
    result = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_library_logs_stay_quiet_without_verbose():
    # Every harness module imported, as a run does: none of them configures logging.
    assert probe_logs() == ""


@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_verbose_shows_the_library_logs_on_stderr(flag):
    stderr = probe_logs(flag)
    assert "INFO pycircuitbreaker: probe info" in stderr, stderr
    assert "WARNING pycircuitbreaker.redis: probe warning" in stderr, stderr
