"""The ``CircuitBreaker`` class: the compiled core's, or its pure-Python twin's."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._core import CircuitBreaker as _Twin

    # Type checkers see the pure twin's class (see _core), which lives in a private
    # module; this subclass, which adds nothing, gives the type users see a public name.
    class CircuitBreaker(_Twin):
        """Guard calls to a dependency: count its failures, and fail fast while it is down."""

else:
    from ._core import CircuitBreaker

__all__ = ["CircuitBreaker"]
