"""Run user callbacks so that a failing one never changes the caller's outcome."""

import logging

from ._constants import CLOSED, HALF_OPEN, LOGGER_NAME, MSG_CALLBACK_FAILED, OPEN
from .state import STATE_BY_CODE

logger = logging.getLogger(LOGGER_NAME)


def fire(callback, name, breaker, *args):
    """Call ``callback(breaker, *args)``; log and swallow any Exception it raises."""
    try:
        callback(breaker, *args)
    except Exception:
        logger.exception(MSG_CALLBACK_FAILED, breaker.id, name)


def announce(breaker, old, new, cause):
    """Fire the callbacks for a transition from state code ``old`` to ``new``.

    on_state_change comes first, then the callback of the state entered: on_open
    (with the exception or result that tripped it, None when tripped by hand),
    on_half_open or on_close. Called after the transition, outside any lock.
    """
    config = breaker.config
    if config.on_state_change is not None:
        fire(config.on_state_change, "on_state_change", breaker,
             STATE_BY_CODE[old], STATE_BY_CODE[new])
    if new == OPEN:
        if config.on_open is not None:
            fire(config.on_open, "on_open", breaker, cause)
    elif new == HALF_OPEN:
        if config.on_half_open is not None:
            fire(config.on_half_open, "on_half_open", breaker)
    elif new == CLOSED:
        if config.on_close is not None:
            fire(config.on_close, "on_close", breaker)
