"""Run user callbacks so that a failing one never changes the caller's outcome."""

import logging

from ._constants import LOGGER_NAME, MSG_CALLBACK_FAILED

logger = logging.getLogger(LOGGER_NAME)


def fire(callback, name, breaker, *args):
    """Call ``callback(breaker, *args)``; log and swallow any Exception it raises."""
    try:
        callback(breaker, *args)
    except Exception:
        logger.exception(MSG_CALLBACK_FAILED, breaker.id, name)
