"""A circuit breaker with a compiled hot path and an identical pure-Python twin."""

from ._core import IMPLEMENTATION, CircuitBreaker
from ._version import __version__
from .backoff import Backoff, exponential_backoff
from .decorator import make_circuit
from .exceptions import CircuitBreakerException, CircuitBreakerRegistryException
from .registry import CircuitBreakerRegistry
from .state import CircuitBreakerState
from .strategies import CircuitBreakerStrategy

circuit = make_circuit(CircuitBreaker)

__all__ = [
    "IMPLEMENTATION",
    "Backoff",
    "CircuitBreaker",
    "CircuitBreakerException",
    "CircuitBreakerRegistry",
    "CircuitBreakerRegistryException",
    "CircuitBreakerState",
    "CircuitBreakerStrategy",
    "__version__",
    "circuit",
    "exponential_backoff",
]
