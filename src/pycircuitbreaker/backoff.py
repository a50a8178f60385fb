"""Backoff policies: how long each successive open period lasts.

Pass one as ``recovery_timeout``. The first opening after the breaker was last CLOSED
(or created, reset, forced open or disabled) waits ``timeout(0)``; each re-opening from
HALF_OPEN waits the next one, ``timeout(1)``, ``timeout(2)``, and so on.
"""

import math
import random as _random
from typing import Any, Optional

from ._constants import MAX_SECONDS
from ._validate import describe, real, seconds

#: Longest open period any policy returns (about 31 years): keeps datetimes valid.
MAX_TIMEOUT = MAX_SECONDS


class Backoff:
    """Base class of backoff policies; subclasses define ``timeout(attempt)``."""

    def timeout(self, attempt: int) -> float:
        """Return the seconds the ``attempt``-th opening since the last close lasts."""
        raise NotImplementedError


class exponential_backoff(Backoff):
    """Open for ``initial * multiplier ** attempt`` seconds, capped at ``maximum``.

    ``jitter`` (0 <= jitter < 1) spreads each timeout uniformly over +-jitter of its
    value, so that many breakers tripped together do not all probe at once; ``random``
    is the source of that spread (any object with a ``random()`` method; default: a
    private ``random.Random()``).
    """

    def __init__(self, initial: float, multiplier: float = 2.0, maximum: Optional[float] = None,
                 jitter: float = 0.0, random: Any = None) -> None:
        self.initial = seconds("initial", initial)
        self.multiplier = real("multiplier", multiplier)
        if not math.isfinite(self.multiplier) or self.multiplier < 1:
            raise ValueError(f"multiplier must be finite and >= 1, got {multiplier!r}")
        if maximum is not None:
            maximum = seconds("maximum", maximum)
            if maximum < self.initial:
                raise ValueError(
                    f"maximum must be >= initial ({self.initial!r}), got {maximum!r}"
                )
        self.maximum: Optional[float] = maximum
        self.jitter = real("jitter", jitter)
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be >= 0 and < 1, got {jitter!r}")
        if random is not None and not callable(getattr(random, "random", None)):
            raise TypeError(
                f"random must have a random() method (e.g. random.Random), "
                f"got {describe(random)}"
            )
        self._random = random if random is not None else _random.Random()

    def timeout(self, attempt: int) -> float:
        """Return the seconds the ``attempt``-th opening since the last close lasts."""
        try:
            seconds = self.initial * self.multiplier**attempt
        except OverflowError:
            seconds = math.inf
        if self.maximum is not None:
            seconds = min(seconds, self.maximum)
        if self.jitter:
            seconds *= 1 + self.jitter * (2 * self._random.random() - 1)
        return min(seconds, MAX_TIMEOUT)

    def __repr__(self) -> str:
        return (
            f"exponential_backoff(initial={self.initial!r}, multiplier={self.multiplier!r}, "
            f"maximum={self.maximum!r}, jitter={self.jitter!r})"
        )
