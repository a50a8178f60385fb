"""Turn a function into one guarded by a breaker, keeping its metadata."""

import functools
import inspect
from typing import Any, Callable

from ._async import make_async_wrapper
from ._generators import make_async_generator_wrapper, make_generator_wrapper


# The precise types are on CircuitBreaker.__call__; here a wrapper is a wrapper.
def decorate(breaker: Any, func: Any, make_wrapper: Callable[[Any, Any], Any]) -> Any:
    """Return ``func`` guarded by ``breaker``, using the core's ``make_wrapper``."""
    # Applied on top of @staticmethod/@classmethod: guard the function inside and keep
    # the descriptor outermost so binding still works (3.9 cannot call these objects).
    if isinstance(func, (staticmethod, classmethod)):
        return type(func)(decorate(breaker, func.__func__, make_wrapper))
    require_callable(func)
    # Each kind of function settles its calls at a different moment: a coroutine when
    # awaited, a generator when it ends, anything else when it returns.
    if inspect.iscoroutinefunction(func):
        wrapper = make_async_wrapper(breaker, func)
    elif inspect.isasyncgenfunction(func):
        wrapper = make_async_generator_wrapper(breaker, func)
    elif inspect.isgeneratorfunction(func):
        wrapper = make_generator_wrapper(breaker, func)
    else:
        wrapper = make_wrapper(breaker, func)
    functools.update_wrapper(wrapper, func)
    return wrapper


def require_callable(func: object) -> None:
    """Raise ValueError naming ``func`` unless it can be wrapped."""
    if not callable(func) and not isinstance(func, (staticmethod, classmethod)):
        raise ValueError(
            f"a circuit breaker can only wrap a callable, got {func!r} "
            f"({type(func).__name__})"
        )
