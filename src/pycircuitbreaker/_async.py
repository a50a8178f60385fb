"""Guard coroutine functions and ``async with`` blocks; shared by both twins of the core.

Both cores give this module the same few primitives:

- ``breaker._begin(with_fallback)``: admit a call and return its token, return None when
  it is rejected and ``with_fallback`` says the fallback runs instead, or raise the
  rejection;
- ``breaker._end(token, error)``: give back the call's permit, then count ``error``
  (None for a success; a BaseException that is not an Exception is never counted);
- ``breaker._end_result(token, result)``: the same for a call that returned ``result``,
  judged by ``detect_error``;
- ``breaker._quiet``: a :class:`QuietView`;
- ``breaker._shared``: None, or the shared route of a breaker with a storage, whose
  ``abegin``, ``aend`` and ``aend_result`` await the storage instead.

An ``await`` cannot be expressed in the compiled hot path, so the async wrapper is a
plain ``async def``; what keeps it within a few attribute reads of a bare forwarding
coroutine is the quiet view, which says in one read that a call needs no admission.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ._constants import MSG_EXIT_WITHOUT_ENTER, MSG_NOT_AWAITABLE
from ._metrics import new_tally
from ._protocols import NOT_COUNTED, Breaker, SharedRoute, outcome_of
from ._validate import describe

if TYPE_CHECKING:
    from ._typevars import P, R

B = TypeVar("B", bound=Breaker)


class QuietView:
    """The token of a breaker's current quiet spell, or None when it is not quiet.

    A breaker is quiet while it is CLOSED with no error counted and no window to
    record calls in: then a call needs no admission and a plain success changes
    nothing. The core replaces ``token`` whenever that stops being true or the
    generation moves on, so a wrapper that finds the same token after its await
    knows that nothing happened meanwhile.
    """

    __slots__ = ("token", "successes")

    def __init__(self) -> None:
        # A core's admission token: (generation, state, permit, start).
        self.token: tuple[Any, ...] | None = None
        # The quiet successes of async wrappers, which settle them without the core:
        # part of the breaker's metrics (see _metrics).
        self.successes = new_tally()


async def call_async(
    self: Breaker, func: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
) -> R:
    """Await ``func(*args, **kwargs)`` through the breaker and return its result."""
    fallback = self.config.fallback
    if self._shared is not None:
        return await _call_shared(self._shared, fallback, func, args, kwargs)
    token = self._begin(fallback is not None)
    if token is None:
        return await _maybe_await(fallback(*args, **kwargs))  # type: ignore[no-any-return]
    try:
        awaitable = func(*args, **kwargs)
    except BaseException as error:
        self._end(token, outcome_of(error))
        raise
    if not inspect.isawaitable(awaitable):
        # A misuse, not an outcome of the dependency: give the permit back, count nothing.
        self._end(token, NOT_COUNTED)
        raise TypeError(MSG_NOT_AWAITABLE.format(func=func, value=describe(awaitable)))
    try:
        result = await awaitable
    except BaseException as error:
        # A breaker's own coroutine (one nested in this) may make the malformed call.
        self._end(token, outcome_of(error))
        raise
    self._end_result(token, result)
    return result


async def _call_shared(shared: SharedRoute, fallback: Callable[..., Any] | None,
                       func: Callable[..., Awaitable[R]], args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> R:
    """Await ``func(*args, **kwargs)`` through a shared breaker's state."""
    token = await shared.abegin(fallback is not None)
    if token is None:
        # The fallback's result stands in for func's.
        return await _maybe_await(fallback(*args, **kwargs))  # type: ignore[no-any-return, misc]
    try:
        awaitable = func(*args, **kwargs)
    except BaseException as error:
        await shared.aend(token, outcome_of(error))
        raise
    if not inspect.isawaitable(awaitable):
        # A misuse, not an outcome of the dependency: give the lease back, count nothing.
        await shared.aend(token, NOT_COUNTED)
        raise TypeError(MSG_NOT_AWAITABLE.format(func=func, value=describe(awaitable)))
    try:
        result = await awaitable
    except BaseException as error:
        await shared.aend(token, outcome_of(error))
        raise
    await shared.aend_result(token, result)
    return result


# The tokens of the ``async with`` blocks of shared breakers open in this context, as
# (breaker, token) pairs; other breakers keep theirs in their own ContextVar.
_SHARED_ENTRIES: ContextVar[tuple[tuple[Breaker, Any], ...]] = ContextVar(
    "pycircuitbreaker_shared_entries", default=())


async def aenter(self: B) -> B:
    """Guard an ``async with`` block as ``with`` does: rejected, counted and permitted alike."""
    if self._shared is None:
        return self.__enter__()
    token = await self._shared.abegin(False)
    _SHARED_ENTRIES.set(_SHARED_ENTRIES.get() + ((self, token),))
    return self


async def aexit(self: Breaker, exc_type: type[BaseException] | None,
                error: BaseException | None, traceback: TracebackType | None) -> bool:
    """Settle the ``async with`` block; CancelledError frees the permit and counts nothing."""
    if self._shared is None:
        return self.__exit__(exc_type, error, traceback)
    entries = _SHARED_ENTRIES.get()
    for index in range(len(entries) - 1, -1, -1):
        if entries[index][0] is self:
            break
    else:
        raise RuntimeError(MSG_EXIT_WITHOUT_ENTER.format(id=self.id))
    _SHARED_ENTRIES.set(entries[:index] + entries[index + 1:])
    await self._shared.aend(entries[index][1], error)
    return False


def make_async_wrapper(
    breaker: Breaker, func: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    """Return a coroutine function that awaits ``func`` through ``breaker``."""
    if breaker._shared is not None:
        return _make_shared_async_wrapper(breaker, func)
    quiet = breaker._quiet
    successes = quiet.successes
    config = breaker.config
    detect_error = config.detect_error
    fallback = config.fallback
    begin, end, end_result = breaker._begin, breaker._end, breaker._end_result

    async def circuit_wrapper(*args: Any, **kwargs: Any) -> Any:
        token = quiet.token
        if token is not None:
            # Quiet: admitted without asking.
            try:
                result = await func(*args, **kwargs)
            except BaseException as error:
                end(token, outcome_of(error))
                raise
            if detect_error is not None:
                end_result(token, result)
            elif quiet.token is not token:
                # Errors were counted or the state moved meanwhile: settle as a
                # success (the core drops it if the generation moved on).
                end(token, None)
            else:
                next(successes)
            return result
        # Admission is decided here rather than in call_async, so that a rejection
        # makes no coroutine of its own.
        token = begin(fallback is not None)
        if token is None:
            return await _maybe_await(fallback(*args, **kwargs))
        try:
            result = await func(*args, **kwargs)
        except BaseException as error:
            end(token, outcome_of(error))
            raise
        end_result(token, result)
        return result

    circuit_wrapper.breaker = breaker  # type: ignore[attr-defined]  # a function takes attributes
    return circuit_wrapper


def _make_shared_async_wrapper(
    breaker: Breaker, func: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    """Return a coroutine function that awaits ``func`` through a shared breaker."""
    shared, fallback = breaker._shared, breaker.config.fallback

    async def circuit_wrapper(*args: Any, **kwargs: Any) -> Any:
        return await _call_shared(shared, fallback, func, args, kwargs)  # type: ignore[arg-type]

    circuit_wrapper.breaker = breaker  # type: ignore[attr-defined]  # a function takes attributes
    return circuit_wrapper


async def _maybe_await(value: Any) -> Any:
    """Return ``value``, awaited first if it is awaitable (an async fallback)."""
    if inspect.isawaitable(value):
        return await value
    return value

