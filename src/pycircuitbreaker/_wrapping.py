"""Turn a function into one guarded by a breaker, keeping its metadata."""

import functools


def decorate(breaker, func, make_wrapper):
    """Return ``func`` guarded by ``breaker``, using the core's ``make_wrapper``."""
    # Applied on top of @staticmethod/@classmethod: guard the function inside and keep
    # the descriptor outermost so binding still works (3.9 cannot call these objects).
    if isinstance(func, (staticmethod, classmethod)):
        return type(func)(decorate(breaker, func.__func__, make_wrapper))
    require_callable(func)
    wrapper = make_wrapper(breaker, func)
    functools.update_wrapper(wrapper, func)
    return wrapper


def require_callable(func):
    """Raise ValueError naming ``func`` unless it can be wrapped."""
    if not callable(func) and not isinstance(func, (staticmethod, classmethod)):
        raise ValueError(
            f"a circuit breaker can only wrap a callable, got {func!r} "
            f"({type(func).__name__})"
        )
