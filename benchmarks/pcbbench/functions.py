"""The guarded functions, exceptions and detector that every row uses alike.

Each guarded function has an ``async def`` twin for the async scenarios; none of the
twins ever suspends, so an await of one runs it to the end at once.
"""


class Boom(Exception):
    """Raised afresh by ``boom`` on every call: an error the breaker counts."""


class Rejected(Exception):
    """A plain exception: what the baselines raise where a breaker would reject."""


def noop():
    """Do nothing; the function every scenario guards when it should return."""
    return None


def boom():
    """Raise a new ``Boom``; the function guarded where a scenario raises."""
    raise Boom()


def reject():
    """Raise a new ``Rejected``; a Python-level stand-in for a rejection."""
    raise Rejected()


def never_error(result):
    """Flag no result as an error; the ``detect_error`` of the detector scenarios."""
    return False


def make_forwarder(func):
    """Return the simplest pure-Python wrapper around ``func``."""

    def fwd(*args, **kwargs):
        return func(*args, **kwargs)

    return fwd


async def anoop():
    """Do nothing; the coroutine function every async scenario guards when it should return."""
    return None


async def aboom():
    """Raise a new ``Boom``; the coroutine function guarded where an async scenario raises."""
    raise Boom()


async def areject():
    """Raise a new ``Rejected``; the bare await's stand-in for a rejection."""
    raise Rejected()


def make_async_forwarder(func):
    """Return the simplest ``async def`` wrapper around the coroutine function ``func``."""

    async def fwd(*args, **kwargs):
        return await func(*args, **kwargs)

    return fwd
