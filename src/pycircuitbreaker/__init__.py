"""A circuit breaker with a compiled hot path and an identical pure-Python twin."""

from ._core import IMPLEMENTATION
from ._metrics import BreakerMetrics
from ._version import __version__
from .backoff import Backoff, exponential_backoff
from .breaker import CircuitBreaker
from .decorator import make_circuit
from .exceptions import CircuitBreakerException, CircuitBreakerRegistryException
from .group import BreakerGroup
from .registry import CircuitBreakerRegistry
from .state import CircuitBreakerState
from .strategies import (
    CircuitBreakerStrategy,
    Strategy,
    consecutive_errors,
    count_window,
    net_errors,
    time_window,
)

circuit = make_circuit(CircuitBreaker)

__all__ = [
    "IMPLEMENTATION",
    "Backoff",
    "BreakerGroup",
    "BreakerMetrics",
    "CircuitBreaker",
    "CircuitBreakerException",
    "CircuitBreakerRegistry",
    "CircuitBreakerRegistryException",
    "CircuitBreakerState",
    "CircuitBreakerStrategy",
    "Strategy",
    "__version__",
    "circuit",
    "consecutive_errors",
    "count_window",
    "exponential_backoff",
    "net_errors",
    "time_window",
]
