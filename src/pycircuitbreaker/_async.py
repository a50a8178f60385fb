"""Guard coroutine functions and ``async with`` blocks; shared by both twins of the core.

Both cores give this module the same few primitives:

- ``breaker._begin(with_fallback)``: admit a call and return its token, return None when
  it is rejected and ``with_fallback`` says the fallback runs instead, or raise the
  rejection;
- ``breaker._end(token, error)``: give back the call's permit, then count ``error``
  (None for a success; a BaseException that is not an Exception is never counted);
- ``breaker._end_result(token, result)``: the same for a call that returned ``result``,
  judged by ``detect_error``;
- ``breaker._quiet``: a :class:`QuietView`.

An ``await`` cannot be expressed in the compiled hot path, so the async wrapper is a
plain ``async def``; what keeps it within a few attribute reads of a bare forwarding
coroutine is the quiet view, which says in one read that a call needs no admission.
"""

import inspect

from ._constants import MSG_NOT_AWAITABLE
from ._validate import describe


class QuietView:
    """The token of a breaker's current quiet spell, or None when it is not quiet.

    A breaker is quiet while it is CLOSED with no error counted and no window to
    record calls in: then a call needs no admission and a plain success changes
    nothing. The core replaces ``token`` whenever that stops being true or the
    generation moves on, so a wrapper that finds the same token after its await
    knows that nothing happened meanwhile.
    """

    __slots__ = ("token",)

    def __init__(self):
        self.token = None


async def call_async(self, func, /, *args, **kwargs):
    """Await ``func(*args, **kwargs)`` through the breaker and return its result."""
    fallback = self.config.fallback
    token = self._begin(fallback is not None)
    if token is None:
        return await _maybe_await(fallback(*args, **kwargs))
    try:
        awaitable = func(*args, **kwargs)
    except BaseException as error:
        self._end(token, error)
        raise
    if not inspect.isawaitable(awaitable):
        # A misuse, not an outcome of the dependency: give the permit back, count nothing.
        self._end(token, NOT_COUNTED)
        raise TypeError(MSG_NOT_AWAITABLE.format(func=func, value=describe(awaitable)))
    try:
        result = await awaitable
    except BaseException as error:
        self._end(token, error)
        raise
    self._end_result(token, result)
    return result


async def aenter(self):
    """Guard an ``async with`` block as ``with`` does: rejected, counted and permitted alike."""
    return self.__enter__()


async def aexit(self, exc_type, error, traceback):
    """Settle the ``async with`` block; CancelledError frees the permit and counts nothing."""
    return self.__exit__(exc_type, error, traceback)


def make_async_wrapper(breaker, func):
    """Return a coroutine function that awaits ``func`` through ``breaker``."""
    quiet = breaker._quiet
    config = breaker.config
    detect_error = config.detect_error
    fallback = config.fallback
    begin, end, end_result = breaker._begin, breaker._end, breaker._end_result

    async def circuit_wrapper(*args, **kwargs):
        token = quiet.token
        if token is not None:
            # Quiet: admitted without asking.
            try:
                result = await func(*args, **kwargs)
            except BaseException as error:
                end(token, error)
                raise
            if detect_error is not None:
                end_result(token, result)
            elif quiet.token is not token:
                # Errors were counted or the state moved meanwhile: settle as a
                # success (the core drops it if the generation moved on).
                end(token, None)
            return result
        # Admission is decided here rather than in call_async, so that a rejection
        # makes no coroutine of its own.
        token = begin(fallback is not None)
        if token is None:
            return await _maybe_await(fallback(*args, **kwargs))
        try:
            result = await func(*args, **kwargs)
        except BaseException as error:
            end(token, error)
            raise
        end_result(token, result)
        return result

    circuit_wrapper.breaker = breaker
    return circuit_wrapper


async def _maybe_await(value):
    """Return ``value``, awaited first if it is awaitable (an async fallback)."""
    if inspect.isawaitable(value):
        return await value
    return value


# Settles a call without counting it: not an Exception, so never classified, and never
# raised, so it gathers no traceback.
NOT_COUNTED = GeneratorExit()
