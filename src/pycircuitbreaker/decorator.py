"""The ``circuit`` decorator."""

from ._config import make_config
from ._wrapping import require_callable


def make_circuit(breaker_class):
    """Return a ``circuit`` decorator that builds breakers of ``breaker_class``."""

    def circuit(func=None, /, **options):
        """Guard ``func`` with a new breaker built from ``options``.

        Use it bare (``@circuit``), with options (``@circuit(error_threshold=3)``) or
        as a call (``circuit(func, error_threshold=3)``). Each decorated function gets
        its own breaker, reachable as ``wrapper.breaker``.
        """
        if func is None:
            # Fail on bad options where the decorator is written, not at first use.
            make_config((), options, owner="circuit")
            return lambda f: breaker_class(**options)(f)
        require_callable(func)
        return breaker_class(**options)(func)

    return circuit
