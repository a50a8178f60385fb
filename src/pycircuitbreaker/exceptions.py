"""Exceptions raised by breakers and registries."""

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Optional

from ._constants import MSG_FORCED_OPEN, MSG_NO_PERMIT, MSG_OPEN
from .state import CircuitBreakerState

if TYPE_CHECKING:
    from ._protocols import Breaker


class CircuitBreakerException(Exception):
    """Raised instead of running a call the breaker rejects.

    The cores build a fresh instance for every rejection as
    ``CircuitBreakerException(breaker, error_count, recovery_at, remaining, state)``: a
    snapshot taken at rejection of the error count, the recovery time as a POSIX
    timestamp and the seconds left (both None unless OPEN), and the state that
    rejected (OPEN, FORCED_OPEN, or HALF_OPEN with every trial permit taken).
    Everything lives in ``args`` so raising one runs no Python-level ``__init__``.
    ``CircuitBreakerException(breaker)`` as in 0.5.0 still works and reads the
    breaker's live values.
    """

    @property
    def breaker(self) -> Optional["Breaker"]:
        """Return the breaker that rejected the call."""
        breaker: Optional[Breaker] = self.args[0] if self.args else None
        return breaker

    # 0.5.0 kept the breaker in a private attribute; some users reached for it.
    _breaker = breaker

    @property
    def state(self) -> Optional[CircuitBreakerState]:
        """Return the state that rejected the call."""
        if len(self.args) >= 5:
            state: CircuitBreakerState = self.args[4]
            return state
        return self.breaker.state if self.breaker is not None else None

    @property
    def retry_after(self) -> Optional[float]:
        """Return the seconds until the breaker admits a trial call, as the message says.

        0.0 once that time has passed; None when no time is known: FORCED_OPEN (until
        ``reset()``) and HALF_OPEN with every trial permit taken (until one returns).
        """
        return self._snapshot()[3]

    def _snapshot(self) -> tuple[int, Optional[datetime], CircuitBreakerState, Optional[float]]:
        """Return the error count, recovery time, state and seconds left of the rejection."""
        breaker = self.breaker
        until: Optional[datetime]
        if len(self.args) < 5:
            # 0.5.0's form, built by user code: the breaker's live values, as OPEN.
            if breaker is None:
                return 0, None, CircuitBreakerState.OPEN, None
            recovers = breaker.recovery_start_time
            remaining: Optional[float] = (recovers - datetime.now(timezone.utc)).total_seconds()
            errors, until, state = breaker.error_count, recovers, CircuitBreakerState.OPEN
        else:
            errors, recovery_at, remaining, state = self.args[1:5]
            until = None if recovery_at is None else datetime.fromtimestamp(recovery_at, timezone.utc)
        return errors, until, state, None if remaining is None else max(remaining, 0.0)

    def __str__(self) -> str:
        breaker = self.breaker
        if breaker is None:
            return "Circuit OPEN"
        errors, until, state, remaining = self._snapshot()
        if state is CircuitBreakerState.FORCED_OPEN:
            return MSG_FORCED_OPEN.format(id=breaker.id, errors=errors)
        if state is CircuitBreakerState.HALF_OPEN:
            return MSG_NO_PERMIT.format(
                id=breaker.id, errors=errors, permits=breaker.config.half_open_max_calls
            )
        return MSG_OPEN.format(
            id=breaker.id,
            until=until.isoformat(),  # type: ignore[union-attr]  # OPEN: it has a recovery time
            errors=errors,
            remaining=f"{remaining:.3f}",
        )


class CircuitBreakerRegistryException(Exception):
    """Raised for a duplicate or unknown breaker id in a registry."""
