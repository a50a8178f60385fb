"""The validated options of one breaker: a leaf the helpers can be typed against.

``_config`` builds it from what the user gave; the cores, the shared state and the
storages read it.
"""

from typing import Any, Callable, NamedTuple, Optional, Union

from .backoff import Backoff
from .strategies import CircuitBreakerStrategy, Strategy, WindowRule

__all__ = ["BreakerConfig"]


class BreakerConfig(NamedTuple):
    """Validated settings of one breaker; the cores copy them into their own fields."""

    breaker_id: Any
    detect_error: Optional[Callable[[Any], Any]]
    error_threshold: int
    exception_blacklist: tuple[type[BaseException], ...]
    exception_whitelist: tuple[type[BaseException], ...]
    on_close: Optional[Callable[..., Any]]
    on_open: Optional[Callable[..., Any]]
    recovery_threshold: int
    recovery_timeout: Union[float, Backoff]
    strategy: Union[CircuitBreakerStrategy, Strategy]
    strategy_code: int
    #: The window strategy's checked parameters; None for the counting rules.
    rule: Optional[WindowRule]
    clock: Optional[Callable[[], float]]
    registry: Any
    half_open_max_calls: Optional[int]
    # Any: called only when given (a rejection raises otherwise), its result standing in
    # for the guarded function's, whatever that is.
    fallback: Any
    on_half_open: Optional[Callable[..., Any]]
    on_state_change: Optional[Callable[..., Any]]
    storage: Any
