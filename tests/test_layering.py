"""The package's layers point one way: helpers know breakers by their Protocol, not by a twin."""

import ast
from pathlib import Path

import pycircuitbreaker

PACKAGE = Path(pycircuitbreaker.__file__).parent
TWINS = {"_core_py", "_core_c"}
# The loader chooses a twin; the demonstration shows both, side by side.
MAY_IMPORT_A_TWIN = {"_core.py", "demo.py"}


def imported_modules(path):
    """Return the package-relative modules ``path`` imports, TYPE_CHECKING blocks included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module is None:
                found.update(alias.name for alias in node.names)
            else:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pycircuitbreaker."):
            found.add(node.module.split(".")[1])
    return found


def test_the_scan_sees_imports_of_a_twin():
    # The loader does import both: a scan that saw nothing would prove nothing.
    assert imported_modules(PACKAGE / "_core.py") >= TWINS


def test_only_the_loader_imports_a_twin():
    offenders = {
        path.name: sorted(imported_modules(path) & TWINS)
        for path in sorted(PACKAGE.glob("*.py"))
        if path.name not in MAY_IMPORT_A_TWIN and imported_modules(path) & TWINS
    }
    assert offenders == {}


def test_the_protocols_module_is_a_leaf():
    # Every helper imports it: it may import only modules below every helper.
    allowed = {"_misuse", "_metrics", "_options", "state"}
    assert imported_modules(PACKAGE / "_protocols.py") <= allowed
