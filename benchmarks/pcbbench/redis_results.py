"""What the Redis section measured: stretches of calls, each with the commands they cost."""

from dataclasses import dataclass, field
from typing import Optional

from .redis_commands import Commands
from .timing import median

# Kinds of stretch.
FULL_SPEED = "full speed"  # healthy CLOSED, calls back to back: the throughput
PACED = "paced"  # healthy CLOSED at PACED_RATE: the slowest rate the target covers
ERRORS = "errors"  # every call raises and is counted (informational)

# The target: at most this many commands per call at this many calls per second
# or more (RedisStorage's refresh interval of 0.1 s makes 10 reads a second at most).
TARGET_RATE = 1000
PACED_RATE = TARGET_RATE


@dataclass(frozen=True)
class RedisBudget:
    """How long to measure: full-speed rounds, calls paced at PACED_RATE, error calls."""

    rounds: int
    seconds: float
    paced_calls: int
    error_seconds: float


# The paced stretch is a whole number of refresh intervals long (PACED_RATE calls a
# second, 0.1 s each), so the reads it may take are no fraction of one more.
FULL = RedisBudget(rounds=3, seconds=1.0, paced_calls=1000, error_seconds=0.5)
FAST = RedisBudget(rounds=1, seconds=0.2, paced_calls=200, error_seconds=0.05)


@dataclass
class Stretch:
    """One measured run of calls: how many, how long, and what Redis ran meanwhile."""

    row: str
    kind: str
    calls: int
    seconds: float
    commands: Commands
    #: Operations that fell back to the breaker's local state (Redis did not answer in
    #: time): the stretch then partly measured the local stand-in, not the shared state.
    fallbacks: int = 0

    @property
    def rate(self):
        """Return the effective calls per second of the stretch."""
        return self.calls / self.seconds

    @property
    def ns(self):
        """Return the ns per call (the loop's own overhead included, as everywhere)."""
        return self.seconds / self.calls * 1e9

    @property
    def sent_per_call(self):
        """Return the commands the client sent per call (a script run counts once)."""
        return self.commands.total_sent / self.calls

    @property
    def run_per_call(self):
        """Return the commands Redis ran per call, those inside scripts included."""
        return self.commands.total_run / self.calls


@dataclass
class RedisRun:
    """The Redis section of one run, or why it was not measured."""

    budget: Optional[RedisBudget] = None
    #: Why nothing was measured; empty when the section ran.
    reason: str = ""
    #: Something of ours broke the section: the run fails, as a misbehaving row does.
    crashed: bool = False
    server: str = ""
    #: row key -> the row, for the labels and kinds of the rows measured
    rows: dict[str, object] = field(default_factory=dict)
    #: row key -> why that row was not measured
    unavailable: dict[str, str] = field(default_factory=dict)
    #: row key -> how one of our rows misbehaved
    failed: dict[str, str] = field(default_factory=dict)
    stretches: list[Stretch] = field(default_factory=list)
    #: (row key, scenario key, "local"/"shared") -> ns per call of each round (redis_route)
    route: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)

    @property
    def measured(self):
        """Return whether the section ran."""
        return not self.reason

    def of(self, row_key, kind):
        """Return the stretches of ``row_key`` of ``kind`` that ran on Redis throughout."""
        return [s for s in self.stretches
                if s.row == row_key and s.kind == kind and not s.fallbacks]

    def ns(self, row_key, kind=FULL_SPEED):
        """Return the median ns per call over those stretches, or None."""
        return median([s.ns for s in self.of(row_key, kind)])

    def rate(self, row_key, kind=FULL_SPEED):
        """Return calls per second at the median ns per call, or None."""
        ns = self.ns(row_key, kind)
        return 1e9 / ns if ns else None

    def per_call(self, row_key, kind=FULL_SPEED, run=False):
        """Return commands sent (or, with ``run``, run) per call over those stretches."""
        stretches = self.of(row_key, kind)
        calls = sum(s.calls for s in stretches)
        if not calls:
            return None
        count = sum(s.commands.total_run if run else s.commands.total_sent for s in stretches)
        return count / calls

    def qualifying(self, row_key):
        """Return the healthy stretches of ``row_key`` at TARGET_RATE+ calls/s, all on Redis."""
        return [s for kind in (FULL_SPEED, PACED) for s in self.of(row_key, kind)
                if s.rate >= TARGET_RATE]

    def fell_back(self, row_key):
        """Return the stretches of ``row_key`` that partly ran on the local stand-in."""
        return [s for s in self.stretches if s.row == row_key and s.fallbacks]
