"""A pytest plugin for scripts/build_wheels.sh: what the test session ran against.

build_wheels.sh loads it with ``-p wheel_test_report`` and reads the JSON it writes to
``$WHEEL_TEST_REPORT`` when the session ends. The record is taken inside the pytest process
itself, after the tests ran, so it names the package the tests really imported (not what
a separate interpreter would have found) and the counts pytest really made.
"""

import importlib
import json
import os
import sys

# terminalreporter.stats keys worth reporting, in the order the summary prints them.
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "deselected")


def _imported():
    """Return where pycircuitbreaker and its compiled core came from, as imported now."""
    package = sys.modules.get("pycircuitbreaker")
    if package is None:  # only when no test ran at all; say so rather than import it here
        return {"package_file": None, "implementation": None, "core_c_file": None,
                "core_c_error": "pycircuitbreaker was never imported"}
    record = {
        "package_file": package.__file__,
        "implementation": getattr(package, "IMPLEMENTATION", None),
        "core_c_file": None,
        "core_c_error": None,
    }
    try:
        record["core_c_file"] = importlib.import_module("pycircuitbreaker._core_c").__file__
    except ImportError as error:
        record["core_c_error"] = f"{type(error).__name__}: {error}"
    return record


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("WHEEL_TEST_REPORT")
    if not path:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = reporter.stats if reporter is not None else {}
    # The same tallies as pytest's closing line: "passed" holds call phases only, "error"
    # setup/teardown and collection errors.
    counts = {name: len(stats.get(name, ())) for name in OUTCOMES}
    record = {"exitstatus": int(exitstatus), "prefix": sys.prefix,
              "python": sys.version.split()[0], "counts": counts, **_imported()}
    with open(path, "w", encoding="utf-8") as out:
        json.dump(record, out, indent=2)


# -- judging the record: `python wheel_test_report.py check REPORT VENV` ------------------

def _inside(path, directory):
    """True if ``path`` lies inside ``directory`` (both resolved, so symlinks cannot fool it)."""
    if not path:
        return False
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([path, directory]) == directory


def check(report_path, venv):
    """Print "tests<TAB>core<TAB>problems" on stdout, the paths on stderr; return 0 if fine."""
    with open(report_path, encoding="utf-8") as source:
        record = json.load(source)
    counts = record["counts"]
    problems = []
    if not _inside(record["prefix"], venv):
        problems.append(f"pytest ran in {record['prefix']}, not in the venv")
    if not _inside(record["package_file"], venv):
        problems.append(f"pycircuitbreaker came from {record['package_file']}, not the venv")
    if record["implementation"] != "cython":
        problems.append(f"IMPLEMENTATION is {record['implementation']!r}, not 'cython'")
    if record["core_c_file"] is None:
        problems.append(f"the compiled core cannot be imported: {record['core_c_error']}")
    elif not _inside(record["core_c_file"], venv):
        problems.append(f"the compiled core came from {record['core_c_file']}, not the venv")
    if counts["failed"] or counts["error"]:
        problems.append(f"{counts['failed']} failed, {counts['error']} errors")
    if counts["passed"] == 0:  # a run that tested nothing proves nothing
        problems.append("no test passed")

    tests = f"{counts['passed']} passed, {counts['failed']} failed"
    tests += "".join(f", {counts[name]} {name}" for name in OUTCOMES[2:] if counts[name])
    if record["core_c_file"] and record["implementation"] == "cython":
        core = f"cython: {os.path.basename(record['core_c_file'])}"
    else:
        core = str(record["implementation"])
    print(f"  imported: {record['package_file']}", file=sys.stderr)
    print(f"  compiled core: {record['core_c_file'] or record['core_c_error']}", file=sys.stderr)
    print(f"  IMPLEMENTATION: {record['implementation']}", file=sys.stderr)
    print(f"{tests}\t{core}\t{'; '.join(problems)}")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "check":
        sys.exit(f"usage: python {sys.argv[0]} check REPORT_JSON VENV")
    sys.exit(check(sys.argv[2], sys.argv[3]))
