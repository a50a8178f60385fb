"""What every row of the table provides."""

from ..functions import Boom, aboom, anoop, boom, noop
from ..scenarios import DETECT_ERROR, HALF_OPEN, NET_ERROR, NEVER, OPEN, RAISES, REJECTS
from ..windows import STRATEGIES as WINDOW_STRATEGIES


class Row:
    """One line of the table: a breaker (or baseline) that can be put in each scenario's state.

    Subclasses set the class attributes and implement ``_load`` and ``build``.
    """

    #: Short id, used in pytest ids and on the command line.
    key = ""
    #: Name printed in the table.
    label = ""
    #: "baseline", "ours" or "peer": decides which ratios and targets it takes part in.
    kind = ""
    #: Says what a row that cannot be measured in some state lacks (appended to WrongState).
    state_hints = {}

    def __init__(self):
        self.module = None

    def load(self):
        """Import what the row needs; raise Unavailable (saying how to install it) if missing."""
        if self.module is None:
            self.module = self._load()
        return self

    def _load(self):
        raise NotImplementedError

    def version(self):
        """Return the version measured, or None for a baseline."""
        return None

    def not_applicable(self, scenario):
        """Return why this row has no way to run ``scenario``, or None if it has."""
        return None

    def measured_as(self, scenario):
        """Return the scenario whose measurement this row shows under ``scenario``."""
        return scenario

    def build(self, scenario):
        """Return a Cell in the state ``scenario`` needs (call ``load`` first)."""
        raise NotImplementedError


def breaker_options(scenario, strategies, never_error):
    """Return pycircuitbreaker-style options (this project's and 0.5.0's) for ``scenario``."""
    options = {}
    if scenario.variant == NET_ERROR:
        options["strategy"] = strategies.NET_ERROR
    elif scenario.variant == DETECT_ERROR:
        options["detect_error"] = never_error
    elif scenario.variant in WINDOW_STRATEGIES:
        # Only this project has strategy objects; peers set their own windows or mark
        # these n/a.
        options["strategy"] = WINDOW_STRATEGIES[scenario.variant]()
    if scenario.state == OPEN:
        options.update(error_threshold=1, recovery_timeout=NEVER)
    elif scenario.state == HALF_OPEN:
        # Timeout 0: half-open as soon as tripped; it never closes with this threshold.
        options.update(error_threshold=1, recovery_timeout=0, recovery_threshold=NEVER)
    elif scenario.outcome == RAISES:
        options["error_threshold"] = NEVER
    return options


def guarded(scenario):
    """Return the function a breaker guards in ``scenario``: raising or not, async def or not."""
    if scenario.awaited:
        return aboom if scenario.outcome == RAISES else anoop
    return boom if scenario.outcome == RAISES else noop


def trip(call):
    """Open a breaker whose threshold is one error, through its ``call`` method."""
    try:
        call(boom)
    except Boom:
        pass


def no_windows(scenario, name):
    """Return why ``name`` cannot run a window ``scenario``, or None for other scenarios."""
    if scenario.variant in WINDOW_STRATEGIES:
        return f"{name} has no failure-rate window strategies"
    return None


def normalized(state_name):
    """Return a peer's state name spelled like ``scenarios.CLOSED`` / OPEN / HALF_OPEN."""
    return str(state_name).lower().replace("-", "_")


def caught(scenario, rejection):
    """Return the exception the timing loop catches: ``Boom``, the row's ``rejection``, or None."""
    if scenario.outcome == RAISES:
        return Boom
    if scenario.outcome == REJECTS:
        return rejection
    return None
