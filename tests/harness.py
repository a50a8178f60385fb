"""Load the benchmark harness (benchmarks/pcbbench) for its tests, from the checkout.

The harness lives outside the package and the sdist: its tests skip where it is missing
(the suite run from an unpacked sdist).
"""

import importlib
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "benchmarks" / "pcbbench"


def present():
    """Return whether the harness is in this tree."""
    return (HARNESS / "__init__.py").exists()


def load(module):
    """Import pcbbench.MODULE without putting benchmarks/ on sys.path."""
    if "pcbbench" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "pcbbench", HARNESS / "__init__.py", submodule_search_locations=[str(HARNESS)])
        package = importlib.util.module_from_spec(spec)
        sys.modules["pcbbench"] = package
        try:
            spec.loader.exec_module(package)
        except BaseException:
            del sys.modules["pcbbench"]
            raise
    return importlib.import_module(f"pcbbench.{module}")
