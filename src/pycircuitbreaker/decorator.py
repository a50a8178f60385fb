"""The ``circuit`` decorator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import make_config
from ._wrapping import require_callable

if TYPE_CHECKING:
    from ._core import CircuitBreaker
    from ._types import Circuit

# Distinguishes ``@circuit(...)`` (no function yet) from an explicit ``circuit(None)``.
_NO_FUNCTION = object()


def make_circuit(breaker_class: type[CircuitBreaker]) -> Circuit:
    """Return a ``circuit`` decorator that builds breakers of ``breaker_class``."""

    def circuit(func: Any = _NO_FUNCTION, /, **options: Any) -> Any:
        """Guard ``func`` with a new breaker built from ``options``.

        Use it bare (``@circuit``), with options (``@circuit(error_threshold=3)``) or
        as a call (``circuit(func, error_threshold=3)``). Each decorated function gets
        its own breaker, reachable as ``wrapper.breaker``.
        """
        if func is _NO_FUNCTION:
            # Fail on bad options where the decorator is written, not at first use.
            make_config((), options, owner="circuit")
            return lambda f: breaker_class(**options)(f)
        require_callable(func)
        return breaker_class(**options)(func)

    return circuit
