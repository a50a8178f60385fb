"""Exceptions raised by breakers and registries."""

from datetime import datetime, timezone

from ._constants import MSG_OPEN


class CircuitBreakerException(Exception):
    """Raised instead of running a call while the breaker is OPEN.

    The cores build a fresh instance for every rejection as
    ``CircuitBreakerException(breaker, error_count, recovery_at, remaining)`` (the last
    three are a snapshot taken at rejection: the error count, the recovery time as a
    POSIX timestamp and the seconds left). Everything lives in ``args`` so raising one
    runs no Python-level ``__init__``. ``CircuitBreakerException(breaker)`` as in
    0.5.0 still works and reads the breaker's live values.
    """

    @property
    def breaker(self):
        """Return the breaker that rejected the call."""
        return self.args[0] if self.args else None

    # 0.5.0 kept the breaker in a private attribute; some users reached for it.
    _breaker = breaker

    def __str__(self):
        breaker = self.breaker
        if breaker is None:
            return "Circuit OPEN"
        if len(self.args) >= 4:
            errors, recovery_at, remaining = self.args[1:4]
            until = datetime.fromtimestamp(recovery_at, timezone.utc)
        else:
            errors = breaker.error_count
            until = breaker.recovery_start_time
            remaining = (until - datetime.now(timezone.utc)).total_seconds()
        return MSG_OPEN.format(
            id=breaker.id,
            until=until.isoformat(),
            errors=errors,
            remaining=f"{max(remaining, 0.0):.3f}",
        )


class CircuitBreakerRegistryException(Exception):
    """Raised for a duplicate or unknown breaker id in a registry."""
