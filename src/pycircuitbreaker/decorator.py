"""The ``circuit`` decorator."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ._config import make_config
from ._wrapping import require_callable

if TYPE_CHECKING:
    from typing import TypeVar

    from ._core import CircuitBreaker
    from ._types import Circuit

    _B = TypeVar("_B", bound=CircuitBreaker)

class _NoFunction:
    """Distinguishes ``@circuit(...)`` (no function yet) from an explicit ``circuit(None)``."""

    def __repr__(self) -> str:
        # What help(circuit) shows as the default of ``func``.
        return "<no function>"


_NO_FUNCTION = _NoFunction()


def _signature(breaker_class: type[CircuitBreaker]) -> inspect.Signature | None:
    """Return circuit's signature: a positional function, then every option by keyword.

    None if the class's own cannot be read (a subclass's __init__ inspect cannot see):
    circuit then shows its plain (func, /, **options).
    """
    try:
        options = inspect.signature(breaker_class).parameters.values()
    except (TypeError, ValueError):
        return None
    return inspect.Signature(
        [inspect.Parameter("func", inspect.Parameter.POSITIONAL_ONLY, default=_NO_FUNCTION)]
        + [option.replace(kind=inspect.Parameter.KEYWORD_ONLY) for option in options]
    )


def make_circuit(breaker_class: type[_B]) -> Circuit[_B]:
    """Return a ``circuit`` decorator that builds breakers of ``breaker_class``."""

    def circuit(func: Any = _NO_FUNCTION, /, **options: Any) -> Any:
        """Guard ``func`` with a new breaker built from ``options``.

        Use it bare (``@circuit``), with options (``@circuit(error_threshold=3)``) or
        as a call (``circuit(func, error_threshold=3)``). Each decorated function gets
        its own breaker, reachable as ``wrapper.breaker``. The options are
        CircuitBreaker's, by keyword: see help(CircuitBreaker).
        """
        if func is _NO_FUNCTION:
            # Fail on bad options where the decorator is written, not at first use.
            make_config((), options, owner="circuit")
            return lambda f: breaker_class(**options)(f)
        require_callable(func)
        return breaker_class(**options)(func)

    signature = _signature(breaker_class)
    if signature is not None:
        circuit.__signature__ = signature  # type: ignore[attr-defined]  # read by inspect
    return circuit
