"""Checks shared by every place that validates user input; messages name the value."""

import inspect
import math
from numbers import Real
from typing import Any, TypeVar

from ._constants import MAX_CLOCK, MAX_COUNT, MAX_SECONDS, MSG_ASYNC_CALLBACK, MSG_CLOCK_VALUE

T = TypeVar("T")


def describe(value: object) -> str:
    """Return ``value`` as error messages show it: its repr and its type."""
    return f"{value!r} ({type(value).__name__})"


def positive_int(name: str, value: Any, maximum: int = MAX_COUNT) -> int:
    """Return ``value`` if it is an int from 1 to ``maximum``, else raise naming ``name``."""
    # bool is an int subclass, but True as a threshold is always a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    # The value an int subclass holds, whatever its __int__ or __index__ say: what is
    # checked is what the core stores.
    number = int.__index__(value)
    if not 1 <= number <= maximum:
        raise ValueError(f"{name} must be an int from 1 to {maximum}, got {value!r}")
    return number


def seconds(name: str, value: Any, above_zero: bool = False, minimum: float = 0.0,
            maximum: float = MAX_SECONDS) -> float:
    """Return ``value`` as float seconds if it is within range, else raise naming ``name``.

    The range is ``minimum`` (excluded with ``above_zero``) to ``maximum``; NaN and
    infinities never are in it.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number of seconds, got {describe(value)}")
    result = _to_float(value)
    low_ok = result > minimum if above_zero else result >= minimum
    if not (low_ok and result <= maximum):  # False for NaN too
        low = f"> {minimum:g}" if above_zero else f">= {minimum:g}"
        raise ValueError(
            f"{name} must be a number of seconds {low} and <= {maximum:g}, got {value!r}"
        )
    return result


def clock_value(value: Any) -> float:
    """Return what a clock returned as float seconds, or raise if no clock could return it."""
    if isinstance(value, float):
        result = value
    elif isinstance(value, Real) and not isinstance(value, bool):
        result = _to_float(value)
    else:
        raise TypeError(MSG_CLOCK_VALUE.format(limit=MAX_CLOCK, value=describe(value)))
    # Also False for NaN.
    if not -MAX_CLOCK <= result <= MAX_CLOCK:
        raise ValueError(MSG_CLOCK_VALUE.format(limit=MAX_CLOCK, value=repr(value)))
    return result


def real(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a real number (not bool), else raise."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    return _to_float(value)


def _to_float(value: Any) -> float:
    """Return ``value`` as a float: infinite when it is too large for one."""
    try:
        return float(value)
    except (OverflowError, ValueError):  # e.g. an int of 400 digits
        return math.inf if value > 0 else -math.inf


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
