"""Run user callbacks so that a failing one never changes the caller's outcome.

An Exception from a callback is logged and swallowed. Any other BaseException
(KeyboardInterrupt, SystemExit, ...) is the user's wish to stop, so it reaches the
caller, but only once the transition is complete: its other callbacks have run, and
the core has finished its own bookkeeping (permits given back, the rejection counted).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from ._constants import (
    CLOSED,
    FORCED_OPEN,
    HALF_OPEN,
    LOGGER_NAME,
    MSG_CALLBACK_FAILED,
    MSG_TRANSITION,
    MSG_TRANSITION_CAUSE,
    MSG_WOULD_OPEN,
    OPEN,
)
from .state import STATE_BY_CODE

if TYPE_CHECKING:
    from ._protocols import Breaker
    from .exceptions import CircuitBreakerException
    from .state import CircuitBreakerState

logger = logging.getLogger(LOGGER_NAME)
# A library's records are its user's to show: with no logging configured they go
# nowhere, rather than to Python's last-resort handler on stderr.
logger.addHandler(logging.NullHandler())


#: Told of every rejection, and of every transition, when something asked to be (the
#: OpenTelemetry span events); None otherwise, which costs the cores one comparison.
rejection_hook: Callable[[CircuitBreakerException], object] | None = None
transition_hook: Callable[[Breaker, CircuitBreakerState, CircuitBreakerState, object],
                          object] | None = None
# The compiled core keeps the rejection hook in a C global of its own: how to set it.
_hook_setters: list[Callable[[Any], None]] = []


def register_hook_setter(setter: Callable[[Any], None]) -> None:
    """Have ``setter(hook)`` called with the rejection hook now and whenever it changes."""
    _hook_setters.append(setter)
    setter(rejection_hook)


def set_hooks(rejection: Callable[[CircuitBreakerException], object] | None,
              transition: Callable[[Breaker, CircuitBreakerState, CircuitBreakerState,
                                    object], object] | None) -> None:
    """Tell ``rejection`` of every rejection and ``transition`` of every transition."""
    global rejection_hook, transition_hook
    rejection_hook, transition_hook = rejection, transition
    for setter in _hook_setters:
        setter(rejection)


def notify_rejection(rejection: CircuitBreakerException) -> None:
    """Tell the rejection hook of ``rejection``; log and swallow any Exception it raises."""
    hook = rejection_hook
    if hook is None:
        return
    try:
        hook(rejection)
    except Exception:
        breaker_id = getattr(rejection.breaker, "id", None)
        logger.exception(MSG_CALLBACK_FAILED, breaker_id, "rejection hook",
                         extra={"breaker_id": breaker_id, "callback": "rejection hook"})


def log_would_open(breaker_id: Any) -> None:
    """Log that a METRICS_ONLY breaker would have opened here (see metrics_only())."""
    logger.warning(MSG_WOULD_OPEN, breaker_id, extra={"breaker_id": breaker_id})


def fire(callback: Callable[..., Any], name: str, breaker: Breaker,
         *args: Any) -> BaseException | None:
    """Call ``callback(breaker, *args)``; log and swallow any Exception it raises.

    Return any other BaseException it raised, for the caller to raise when done.
    """
    try:
        callback(breaker, *args)
    except Exception:
        logger.exception(MSG_CALLBACK_FAILED, breaker.id, name,
                         extra={"breaker_id": breaker.id, "callback": name})
    except BaseException as interrupt:
        return interrupt
    return None


def _log(breaker: Breaker, old: int, new: int, cause: object) -> None:
    """Log a transition: WARNING when the breaker starts rejecting, INFO otherwise."""
    level = logging.WARNING if new == OPEN or new == FORCED_OPEN else logging.INFO
    if not logger.isEnabledFor(level):
        return
    old_name, new_name = STATE_BY_CODE[old].name, STATE_BY_CODE[new].name
    # The same facts as fields, for structured (JSON, structlog) handlers.
    fields = {"breaker_id": breaker.id, "old_state": old_name, "new_state": new_name,
              "cause": cause}
    if cause is None:
        logger.log(level, MSG_TRANSITION, breaker.id, old_name, new_name, extra=fields)
    else:
        logger.log(level, MSG_TRANSITION_CAUSE, breaker.id, old_name, new_name,
                   describe(cause), extra=fields)


def describe(cause: object) -> str:
    """Name what tripped a breaker: an exception by its type and message, else a result."""
    try:
        if isinstance(cause, BaseException):
            return f"{type(cause).__name__}: {cause}"
        return f"result {cause!r}"
    except Exception:
        # A log line must never replace the caller's outcome.
        return f"a {type(cause).__name__} that cannot be shown"


def announce(breaker: Breaker, old: int, new: int, cause: object) -> None:
    """Fire the callbacks for a transition from state code ``old`` to ``new``.

    on_state_change comes first, then the callback of the state entered: on_open
    (with the exception or result that tripped it, None when tripped by hand),
    on_half_open or on_close. Called after the transition, outside any lock. Every
    callback runs; then the first BaseException one raised, if any, is raised.
    """
    _log(breaker, old, new, cause)
    config = breaker.config
    interrupt = None
    if transition_hook is not None:
        interrupt = fire(transition_hook, "transition hook", breaker, STATE_BY_CODE[old],
                         STATE_BY_CODE[new], cause)
    raised = None
    if config.on_state_change is not None:
        raised = fire(config.on_state_change, "on_state_change", breaker,
                      STATE_BY_CODE[old], STATE_BY_CODE[new])
    if interrupt is None:
        interrupt = raised
    raised = None
    if new == OPEN:
        if config.on_open is not None:
            raised = fire(config.on_open, "on_open", breaker, cause)
    elif new == HALF_OPEN:
        if config.on_half_open is not None:
            raised = fire(config.on_half_open, "on_half_open", breaker)
    elif new == CLOSED:
        if config.on_close is not None:
            raised = fire(config.on_close, "on_close", breaker)
    if interrupt is None:
        interrupt = raised
    if interrupt is not None:
        try:
            raise interrupt
        finally:
            # Break the frame -> exception cycle, as the cores do for rejections.
            interrupt = raised = None
