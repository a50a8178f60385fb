"""Checks shared by every place that validates user input; messages name the value."""

import inspect
import math
from numbers import Real
from typing import Any, TypeVar

from ._constants import MSG_ASYNC_CALLBACK

T = TypeVar("T")


def describe(value: object) -> str:
    """Return ``value`` as error messages show it: its repr and its type."""
    return f"{value!r} ({type(value).__name__})"


def positive_int(name: str, value: Any) -> int:
    """Return ``value`` if it is an int >= 1, else raise naming ``name``."""
    # bool is an int subclass, but True as a threshold is always a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def seconds(name: str, value: Any, above_zero: bool = False) -> float:
    """Return ``value`` as float seconds if it is finite and >= 0 (or > 0), else raise."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number of seconds, got {describe(value)}")
    result = float(value)
    if above_zero:
        if not math.isfinite(result) or result <= 0:
            raise ValueError(f"{name} must be finite and > 0 seconds, got {value!r}")
    elif not math.isfinite(result) or result < 0:
        raise ValueError(f"{name} must be finite and >= 0 seconds, got {value!r}")
    return result


def real(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a real number (not bool), else raise."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    return float(value)


def callable_or_none(name: str, value: T, sync: bool = True) -> T:
    """Return ``value`` if it is callable or None, else raise naming ``name``.

    With ``sync``, a coroutine function is refused too: the breaker calls it without
    awaiting, so its body would never run.
    """
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, got {describe(value)}")
    if sync and (inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value)):
        raise TypeError(MSG_ASYNC_CALLBACK.format(name=name, value=value))
    return value
