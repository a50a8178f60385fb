"""The package's layers point one way: helpers know breakers by their Protocol, not by a twin."""

import ast
import re
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


# class X: / def x( / cdef class X: / cdef [type...] x(: the name each one defines.
DEFINITION = re.compile(r"(?:cdef\s+class|class|c?def(?:\s+[\w*]+)*?)\s+(\w+)\s*[(:]")


def places_reading_shared(path):
    """Return the enclosing (class, function) names of each line of ``path`` reading ``._shared``.

    A scan by indentation, so that it reads the Cython twin as well as the pure one.
    """
    places = set()
    enclosing = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        indent = len(line) - len(line.lstrip())
        definition = DEFINITION.match(line.lstrip())
        if definition:
            enclosing = {level: name for level, name in enclosing.items() if level < indent}
            enclosing[indent] = definition.group(1)
        elif re.search(r"\._shared\b", line):
            places.add(tuple(enclosing[level] for level in sorted(enclosing) if level < indent))
    return places


def test_shared_mode_is_routed_in_one_place():
    # A breaker with a storage gets a _StorageRoute when it is built; no other method
    # of either twin asks whether it is shared. The compiled twin's hot path routes
    # calls in C, and its callbacks for a shared view (_shared_*) settle them.
    for twin in ("_core_py.py", "_core_c.pyx"):
        places = {place for place in places_reading_shared(PACKAGE / twin)
                  if place[:1] != ("_StorageRoute",) and not place[0].startswith("_shared_")}
        assert places == {("CircuitBreaker", "__init__")}, twin
