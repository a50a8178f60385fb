"""This project's rows: the compiled core and its pure-Python twin."""

import importlib

from pycircuitbreaker._version import __version__
from pycircuitbreaker.decorator import make_circuit
from pycircuitbreaker.exceptions import CircuitBreakerException
from pycircuitbreaker.strategies import CircuitBreakerStrategy

from ..cell import NO_ARG, Cell, Unavailable
from ..functions import never_error
from ..scenarios import CLOSED, DECORATOR
from .base import Row, breaker_options, caught, guarded, trip


class OurCore(Row):
    """A row built on one of this project's cores: ``circuit``, ``call`` or ``call_async``."""

    kind = "ours"
    module_name = ""

    def _load(self):
        try:
            return importlib.import_module(self.module_name)
        except ImportError as error:
            raise Unavailable(
                f"{self.module_name} cannot be imported ({error}); reinstall with a C "
                "compiler: PYCIRCUITBREAKER_REQUIRE_EXTENSIONS=1 pip install '.[bench]'"
            ) from None

    def version(self):
        return __version__

    def build(self, scenario, **extra_options):
        """Return a Cell; ``extra_options`` (e.g. ``registry``) go to the breaker as well."""
        options = breaker_options(scenario, CircuitBreakerStrategy, never_error)
        options.update(extra_options)
        target = guarded(scenario)
        if scenario.form == DECORATOR:
            # On an async def this is the async wrapper (_async.make_async_wrapper).
            func = make_circuit(self.module.CircuitBreaker)(target, **options)
            breaker, arg = func.breaker, NO_ARG
        else:
            breaker = self.module.CircuitBreaker(**options)
            func = breaker.call_async if scenario.awaited else breaker.call
            arg = target
        if scenario.state != CLOSED:
            trip(breaker.call)
        return Cell(
            row=self.key,
            scenario=scenario,
            func=func,
            arg=arg,
            catches=caught(scenario, CircuitBreakerException),
            state=lambda: breaker.state.name.lower(),
            errors=lambda: breaker.error_count,
            keep=breaker,
        )


class Compiled(OurCore):
    """This project's compiled core (``_core_c``)."""

    key = "compiled"
    label = "compiled (_core_c)"
    module_name = "pycircuitbreaker._core_c"


class Pure(OurCore):
    """This project's pure-Python twin (``_core_py``)."""

    key = "pure"
    label = "pure (_core_py)"
    module_name = "pycircuitbreaker._core_py"
