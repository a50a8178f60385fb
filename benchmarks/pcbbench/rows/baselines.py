"""Rows with no breaker: what the same call costs bare, wrapped in Python, and in Cython.

The async table has its own two: a bare await, and an ``async def`` forwarder.
"""

from .. import floor
from ..cell import Cell, NotApplicable
from ..functions import (
    Boom,
    Rejected,
    aboom,
    anoop,
    areject,
    boom,
    make_async_forwarder,
    make_forwarder,
    noop,
    reject,
)
from ..scenarios import RAISES, REJECTS, canonical
from .base import Row

NEVER_REJECTS = "a forwarder never rejects (direct call's (c) is a Python-level raise)"
ASYNC_NEVER_REJECTS = "a forwarder never rejects (bare await's (c) is a Python-level raise)"


class Baseline(Row):
    """A stateless row: one measurement per outcome (returns, raises, rejects)."""

    kind = "baseline"

    def measured_as(self, scenario):
        return canonical(scenario)

    def build(self, scenario):
        func, catches = self._callable(scenario.outcome)
        return Cell(row=self.key, scenario=scenario, func=func, catches=catches)

    def _callable(self, outcome):
        """Return (callable, exception the loop catches) for ``outcome``."""
        raise NotImplementedError


class Direct(Baseline):
    """Call the function itself; its (c) is a Python function raising a new plain exception."""

    key = "direct"
    label = "direct call"

    def _load(self):
        return True

    def _callable(self, outcome):
        if outcome == RAISES:
            return boom, Boom
        if outcome == REJECTS:
            return reject, Rejected
        return noop, None


class Forwarder(Baseline):
    """Call through ``def fwd(*a, **k): return f(*a, **k)``, the plainest Python wrapper."""

    key = "forwarder"
    label = "Python forwarder"

    def _load(self):
        return True

    def not_applicable(self, scenario):
        return NEVER_REJECTS if scenario.outcome == REJECTS else None

    def _callable(self, outcome):
        if outcome == REJECTS:
            raise NotApplicable(NEVER_REJECTS)
        if outcome == RAISES:
            return make_forwarder(boom), Boom
        return make_forwarder(noop), None


class Floor(Baseline):
    """The Cython floor: a ``cdef class`` forwarder; for (c) one raising a new exception."""

    key = "floor"
    label = "floor (Cython fwd)"

    def _load(self):
        return floor.load()

    def _callable(self, outcome):
        if outcome == REJECTS:
            return self.module.Rejecter(Rejected), Rejected
        if outcome == RAISES:
            return self.module.Forwarder(boom), Boom
        return self.module.Forwarder(noop), None


class BareAwait(Baseline):
    """Await the ``async def`` itself: the least any awaited call costs."""

    key = "bare_await"
    label = "bare await"

    def _load(self):
        return True

    def _callable(self, outcome):
        if outcome == RAISES:
            return aboom, Boom
        if outcome == REJECTS:
            return areject, Rejected
        return anoop, None


class AsyncForwarder(Baseline):
    """Await through ``async def fwd(*a, **k): return await f(*a, **k)``: issue #5's reference."""

    key = "async_forwarder"
    label = "async forwarder"

    def _load(self):
        return True

    def not_applicable(self, scenario):
        return ASYNC_NEVER_REJECTS if scenario.outcome == REJECTS else None

    def _callable(self, outcome):
        if outcome == REJECTS:
            raise NotApplicable(ASYNC_NEVER_REJECTS)
        if outcome == RAISES:
            return make_async_forwarder(aboom), Boom
        return make_async_forwarder(anoop), None
