"""A registry of breakers, for readiness probes and dashboards."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING, Any

from .exceptions import CircuitBreakerRegistryException
from .state import REJECTING_STATES, CircuitBreakerState

if TYPE_CHECKING:
    from .breaker import CircuitBreaker


class CircuitBreakerRegistry:
    """Keep breakers by id, in the order they were registered."""

    def __init__(self) -> None:
        self._breakers: dict[Hashable, CircuitBreaker] = {}

    def register(self, breaker: CircuitBreaker) -> None:
        """Add ``breaker``; raise CircuitBreakerRegistryException if its id is taken."""
        if breaker.id in self._breakers:
            raise CircuitBreakerRegistryException(
                f"a breaker with id {breaker.id!r} is already registered"
            )
        self._breakers[breaker.id] = breaker

    def unregister(self, breaker_id: Hashable) -> CircuitBreaker:
        """Remove and return the breaker with ``breaker_id``."""
        try:
            return self._breakers.pop(breaker_id)
        except KeyError:
            raise CircuitBreakerRegistryException(
                f"no breaker with id {breaker_id!r} is registered"
            ) from None

    def get(self, breaker_id: Hashable) -> CircuitBreaker | None:
        """Return the breaker with ``breaker_id``, or None."""
        return self._breakers.get(breaker_id)

    def get_circuits(self) -> list[CircuitBreaker]:
        """Return every registered breaker, in registration order."""
        return list(self._breakers.values())

    def get_open_circuits(self) -> list[CircuitBreaker]:
        """Return the breakers that reject calls: OPEN or FORCED_OPEN."""
        return [b for b in self._breakers.values() if b.state in REJECTING_STATES]

    def get_half_open_circuits(self) -> list[CircuitBreaker]:
        """Return the breakers that are HALF_OPEN (letting trial calls through)."""
        return self._in_state(CircuitBreakerState.HALF_OPEN)

    def get_closed_circuits(self) -> list[CircuitBreaker]:
        """Return the breakers that are CLOSED."""
        return self._in_state(CircuitBreakerState.CLOSED)

    def health(self) -> dict[str, Any]:
        """Return a JSON-ready report: ``ok`` (no breaker rejects calls) and each breaker.

        Each breaker, by ``str(id)``, gets its ``state`` name, ``error_count`` and, while
        OPEN, ``recovery_start_time`` (ISO 8601, UTC): a readiness route's whole body.
        """
        report: dict[str, dict[str, Any]] = {}
        ok = True
        for breaker in self._breakers.values():
            state = breaker.state
            ok = ok and state not in REJECTING_STATES
            entry: dict[str, Any] = {"state": state.name, "error_count": breaker.error_count}
            if state is CircuitBreakerState.OPEN:
                entry["recovery_start_time"] = breaker.recovery_start_time.isoformat()
            report[str(breaker.id)] = entry
        return {"ok": ok, "breakers": report}

    def _in_state(self, state: CircuitBreakerState) -> list[CircuitBreaker]:
        return [breaker for breaker in self._breakers.values() if breaker.state is state]

    def __len__(self) -> int:
        return len(self._breakers)

    def __contains__(self, breaker_id: object) -> bool:
        return breaker_id in self._breakers

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(list(self._breakers.values()))

    def __repr__(self) -> str:
        return f"<CircuitBreakerRegistry of {len(self._breakers)} breakers>"
