"""0.5.0 import path: ``from pycircuitbreaker.pycircuitbreaker import circuit``."""

from . import CircuitBreaker, CircuitBreakerRegistry, circuit
from .exceptions import CircuitBreakerException, CircuitBreakerRegistryException
from .state import CircuitBreakerState
from .strategies import CircuitBreakerStrategy

__all__ = [
    "CircuitBreaker",
    "CircuitBreakerException",
    "CircuitBreakerRegistry",
    "CircuitBreakerRegistryException",
    "CircuitBreakerState",
    "CircuitBreakerStrategy",
    "circuit",
]
