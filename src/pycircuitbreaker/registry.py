"""A registry of breakers, for readiness probes and dashboards."""

from .exceptions import CircuitBreakerRegistryException
from .state import REJECTING_STATES, CircuitBreakerState


class CircuitBreakerRegistry:
    """Keep breakers by id, in the order they were registered."""

    def __init__(self):
        self._breakers = {}

    def register(self, breaker):
        """Add ``breaker``; raise CircuitBreakerRegistryException if its id is taken."""
        if breaker.id in self._breakers:
            raise CircuitBreakerRegistryException(
                f"a breaker with id {breaker.id!r} is already registered"
            )
        self._breakers[breaker.id] = breaker

    def unregister(self, breaker_id):
        """Remove and return the breaker with ``breaker_id``."""
        try:
            return self._breakers.pop(breaker_id)
        except KeyError:
            raise CircuitBreakerRegistryException(
                f"no breaker with id {breaker_id!r} is registered"
            ) from None

    def get(self, breaker_id):
        """Return the breaker with ``breaker_id``, or None."""
        return self._breakers.get(breaker_id)

    def get_circuits(self):
        """Return every registered breaker, in registration order."""
        return list(self._breakers.values())

    def get_open_circuits(self):
        """Return the breakers that reject calls: OPEN or FORCED_OPEN."""
        return [b for b in self._breakers.values() if b.state in REJECTING_STATES]

    def get_half_open_circuits(self):
        """Return the breakers that are HALF_OPEN (letting trial calls through)."""
        return self._in_state(CircuitBreakerState.HALF_OPEN)

    def get_closed_circuits(self):
        """Return the breakers that are CLOSED."""
        return self._in_state(CircuitBreakerState.CLOSED)

    def _in_state(self, state):
        return [breaker for breaker in self._breakers.values() if breaker.state is state]

    def __len__(self):
        return len(self._breakers)

    def __contains__(self, breaker_id):
        return breaker_id in self._breakers

    def __iter__(self):
        return iter(list(self._breakers.values()))

    def __repr__(self):
        return f"<CircuitBreakerRegistry of {len(self._breakers)} breakers>"
