"""The original pycircuitbreaker 0.5.0, loaded from its own directory under another name.

It shares this project's import name, so it is installed apart
(``pip install --no-deps --target DIR pycircuitbreaker==0.5.0``) and imported from DIR as
``pycircuitbreaker_050``. DIR is ``$PYCIRCUITBREAKER_BENCH_050``, or
``<sys.prefix>/pycircuitbreaker-0.5.0`` (inside the venv, where ``./dev bench`` puts it).
"""

import importlib.util
import inspect
import os
import sys
from pathlib import Path

from ..cell import NO_ARG, Cell, Unavailable
from ..functions import never_error
from ..scenarios import CLOSED, DECORATOR, NET_ERROR
from .base import Row, breaker_options, caught, guarded, no_windows, trip

ENV_DIR = "PYCIRCUITBREAKER_BENCH_050"
VERSION = "0.5.0"
MODULE = "pycircuitbreaker_050"


def install_dir():
    """Return the directory 0.5.0 is (to be) installed in."""
    configured = os.environ.get(ENV_DIR)
    return Path(configured) if configured else Path(sys.prefix) / f"pycircuitbreaker-{VERSION}"


def load_original():
    """Import 0.5.0 from ``install_dir()`` as ``pycircuitbreaker_050``; raise Unavailable."""
    if MODULE in sys.modules:
        return sys.modules[MODULE]
    directory = install_dir()
    package = directory / "pycircuitbreaker"
    how = (f"pip install --no-deps --target {directory} pycircuitbreaker=={VERSION} "
           f"(./dev bench does this), or set {ENV_DIR} to such a directory")
    if not (package / "__init__.py").exists():
        raise Unavailable(f"pycircuitbreaker {VERSION} is not installed in {directory}; {how}")
    found = (package / "VERSION").read_text().strip() if (package / "VERSION").exists() else "?"
    if found != VERSION:
        raise Unavailable(f"{directory} holds pycircuitbreaker {found}, not {VERSION}; {how}")
    # submodule_search_locations makes it a package, so its relative imports resolve
    # inside DIR instead of reaching this project.
    spec = importlib.util.spec_from_file_location(
        MODULE, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[MODULE]
        raise
    return module


class Original(Row):
    """pycircuitbreaker 0.5.0: ``circuit(func, **options)`` and ``CircuitBreaker().call``."""

    key = "pycircuitbreaker050"
    label = f"pycircuitbreaker {VERSION}"
    kind = "peer"

    def _load(self):
        return load_original()

    def version(self):
        return VERSION

    def not_applicable(self, scenario):
        if scenario.awaited:
            return "no async support"
        return no_windows(scenario, f"pycircuitbreaker {VERSION}")

    def build(self, scenario):
        original = self.module
        options = breaker_options(scenario, original.CircuitBreakerStrategy, never_error)
        target = guarded(scenario)
        if scenario.form == DECORATOR:
            func, arg = original.circuit(target, **options), NO_ARG
            # Its wrapper does not expose the breaker; the closure holds it.
            breaker = inspect.getclosurevars(func).nonlocals["breaker"]
        else:
            breaker = original.CircuitBreaker(**options)
            func, arg = breaker.call, target
        if scenario.state != CLOSED:
            trip(breaker.call)
        if scenario.variant == NET_ERROR:
            # Its error_count under NET_ERROR only shows errors beyond the threshold.
            errors = lambda: breaker._strategy._net_error_count  # noqa: E731
        else:
            errors = lambda: breaker.error_count  # noqa: E731
        return Cell(
            row=self.key,
            scenario=scenario,
            func=func,
            arg=arg,
            catches=caught(scenario, original.CircuitBreakerException),
            state=lambda: breaker.state.name.lower(),
            errors=errors,
            keep=breaker,
        )
