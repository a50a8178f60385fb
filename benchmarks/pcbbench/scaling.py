"""Closed-path cost of a breaker that shares its registry with many others."""

from pycircuitbreaker.registry import CircuitBreakerRegistry

from .scenarios import BY_KEY

CROWD = 100_000


def registry_cell(row, registered):
    """Return ``row``'s closed-decorator Cell, its breaker one of ``registered`` in a registry."""
    registry = CircuitBreakerRegistry()
    cell = row.build(BY_KEY["a_closed_decorator"], registry=registry)
    for index in range(registered - 1):
        row.module.CircuitBreaker(breaker_id=f"service-{index}", registry=registry)
    # The registry must outlive the timing, or the crowd is gone before it is measured.
    cell.keep = (cell.keep, registry)
    return cell
