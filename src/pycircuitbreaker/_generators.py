"""Guard generator and async generator functions; shared by both twins of the core.

A generator call is admitted when the generator is created, so an open breaker
rejects it there and then, not at the first ``next()``. Its outcome is settled when
it ends: exhausted is a success, an error raised while iterating is counted, and
closing it early (GeneratorExit) counts as nothing. A half-open permit taken at
creation is given back when it ends, when it is closed, or when it is
garbage-collected without ever being started.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Generator
from types import MethodType
from typing import Any, Callable

from ._protocols import NOT_COUNTED, Breaker, outcome_of


class _Admission:
    """One admitted generator call, settled exactly once."""

    __slots__ = ("_breaker", "_token")

    def __init__(self, breaker: Breaker, token: Any) -> None:
        self._breaker = breaker
        self._token = token

    def settle(self, error: BaseException | None) -> None:
        """Give the permit back and count ``error`` (None: success), once."""
        token, self._token = self._token, None
        if token is not None:
            self._breaker._end(token, error)

    def __del__(self) -> None:
        # Reached with the token still held only when the generator was dropped
        # before it ever ran: free its permit, count nothing.
        self.settle(NOT_COUNTED)


def _admit(breaker: Breaker, func: Callable[..., Any], args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> tuple[_Admission | None, Any]:
    """Admit a call to ``func``: return (admission, its generator) or (None, fallback's)."""
    fallback = breaker.config.fallback
    token = breaker._begin(fallback is not None)
    if token is None:
        return None, fallback(*args, **kwargs)
    admission = _Admission(breaker, token)
    try:
        generator = func(*args, **kwargs)
    except BaseException as error:
        admission.settle(outcome_of(error))
        raise
    return admission, generator


def _guard(admission: _Admission, generator: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """Yield from ``generator``, settling ``admission`` with how it ends."""
    try:
        result = yield from generator
    except BaseException as error:
        admission.settle(error)
        raise
    admission.settle(None)
    return result


async def _guard_async(admission: _Admission,
                       generator: AsyncGenerator[Any, Any]) -> AsyncGenerator[Any, Any]:
    """Yield from the async ``generator``, settling ``admission`` with how it ends."""
    try:
        step = generator.asend(None)
        while True:
            try:
                value = await step
            except StopAsyncIteration:
                break
            # Forward what the caller sends or throws in, as ``yield from`` would.
            try:
                sent = yield value
            except GeneratorExit:
                await generator.aclose()
                raise
            except BaseException as thrown:
                step = generator.athrow(thrown)
            else:
                step = generator.asend(sent)
    except BaseException as error:
        admission.settle(error)
        raise
    admission.settle(None)


class _GuardedFunction(functools.partial[Any]):
    """A (async) generator function guarded by a breaker.

    A functools.partial because ``inspect.isgeneratorfunction`` and
    ``inspect.isasyncgenfunction`` look through a partial to the function inside (on
    3.9 they accept nothing else but a real function), while a real generator
    function could not admit the call before its first ``next()``.
    """

    breaker: Breaker
    __qualname__: str  # set by functools.update_wrapper, as on the function

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        """Bind like a function, so the wrapper works as a method."""
        if instance is None:
            return self
        return MethodType(self, instance)

    def __reduce__(self) -> str:
        # Pickle by qualified name, as plain functions are.
        return self.__qualname__

    def __repr__(self) -> str:
        return f"<circuit wrapper of {self.func!r}>"


class GeneratorWrapper(_GuardedFunction):
    """A generator function whose calls go through ``self.breaker``."""

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        admission, generator = _admit(self.breaker, self.func, args, kwargs)
        if admission is None:
            return generator
        return _guard(admission, generator)


class AsyncGeneratorWrapper(_GuardedFunction):
    """An async generator function whose calls go through ``self.breaker``."""

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        admission, generator = _admit(self.breaker, self.func, args, kwargs)
        if admission is None:
            return generator
        return _guard_async(admission, generator)


def make_generator_wrapper(breaker: Breaker, func: Callable[..., Any]) -> GeneratorWrapper:
    """Return a generator function that calls ``func`` through ``breaker``."""
    wrapper = GeneratorWrapper(func)
    wrapper.breaker = breaker
    return wrapper


def make_async_generator_wrapper(
    breaker: Breaker, func: Callable[..., Any]
) -> AsyncGeneratorWrapper:
    """Return an async generator function that calls ``func`` through ``breaker``."""
    wrapper = AsyncGeneratorWrapper(func)
    wrapper.breaker = breaker
    return wrapper
