"""A ``Cell`` is one row's callable for one scenario, checked to be in the right state."""

import functools
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .awaiting import BATCH, AsyncTimer, run
from .functions import Boom
from .scenarios import RAISES, REJECTS, RETURNS, Scenario

# Marks a cell whose callable takes no argument (decorator form, baselines).
NO_ARG = object()


class NotApplicable(Exception):
    """This row cannot run this scenario; the message says why."""


class Unavailable(Exception):
    """This row cannot run here (not installed, not built); the message says how to fix it."""


class WrongState(AssertionError):
    """A cell is not in the state or behaviour its scenario needs; timing it would mislead."""


@dataclass
class Cell:
    """What the timing loop calls: ``func()`` or ``func(arg)``, catching ``catches``.

    In an async scenario the loop awaits that call instead (``awaiting`` runs it).
    ``state`` and ``errors`` probe the breaker behind it (None for baselines, which have
    neither); ``keep`` holds anything that must stay alive while the cell is timed.
    """

    row: str
    scenario: Optional[Scenario]
    func: Callable[..., Any]
    catches: Optional[type] = None
    arg: Any = NO_ARG
    state: Optional[Callable[[], str]] = None
    errors: Optional[Callable[[], int]] = None
    keep: Any = field(default=None, repr=False)

    @property
    def awaited(self):
        """Return whether each call is awaited (an async scenario)."""
        return self.scenario is not None and self.scenario.awaited

    def statement(self):
        """Return (source, globals) of one iteration of the timing loop."""
        call = "f()" if self.arg is NO_ARG else "f(x)"
        if self.awaited:
            call = "await " + call
        if self.catches is not None:
            call = f"try:\n    {call}\nexcept E:\n    pass"
        return call, {"f": self.func, "x": self.arg, "E": self.catches}

    def once(self):
        """Return a function that runs one iteration of the timing loop (for pytest-benchmark)."""
        source, namespace = self.statement()
        namespace = dict(namespace)
        # Compiled from the same statement the timing loop runs, so both time the same code.
        exec("def once():\n" + textwrap.indent(source, "    "), namespace)
        return namespace["once"]

    def benchmark_target(self):
        """Return (callable, args) for pytest-benchmark: ``func`` unless it must be caught.

        An async cell gives a run of ``awaiting.BATCH`` awaits in one coroutine instead,
        timed as the bench command times it.
        """
        if self.awaited:
            return functools.partial(AsyncTimer(*self.statement()).timeit, BATCH), ()
        if self.catches is None:
            return self.func, (() if self.arg is NO_ARG else (self.arg,))
        return self.once(), ()

    def verify(self):
        """Raise WrongState unless one call behaves as the scenario says, state unchanged."""
        where = f"{self.row} in {self.scenario.key}"
        self._expect_state(where, "before the call")
        errors_before = self.errors() if self.errors is not None else None
        outcome, error = self._call_once()
        if outcome != self.scenario.outcome:
            raise WrongState(
                f"{where}: a call should end as {self.scenario.outcome!r}, it {outcome!r}"
                + (f" ({type(error).__name__}: {error})" if error is not None else "")
            )
        if self.scenario.outcome == RAISES and errors_before is not None:
            counted = self.errors() - errors_before
            if counted != 1:
                raise WrongState(f"{where}: the error was counted {counted} times, not once")
        self._expect_state(where, "after the call")

    def _expect_state(self, where, when):
        if self.state is None:
            return
        state = self.state()
        if state != self.scenario.state:
            raise WrongState(f"{where}: {when} the breaker is {state}, not {self.scenario.state}")

    def _call_once(self):
        try:
            result = self.func() if self.arg is NO_ARG else self.func(self.arg)
            if self.awaited:
                run(result)
        except Boom as error:
            return RAISES, error
        except Exception as error:
            if self.catches is not None and isinstance(error, self.catches):
                return REJECTS, error
            return "raised another exception", error
        return RETURNS, None
