"""Types that exist only for type checkers: what the decorators return."""

from collections.abc import Hashable, Iterable
from typing import Any, Callable, Protocol, TypedDict, overload

from typing_extensions import Concatenate, Unpack

from ._core_py import _Guarded as Guarded
from ._core_py import _GuardedClassMethod as GuardedClassMethod
from ._core_py import _Method as Method
from ._protocols import Registry
from ._typevars import B_co as B_co
from ._typevars import P as P
from ._typevars import R as R
from ._typevars import T as T
from .backoff import Backoff
from .storage import SharedStorage
from .strategies import CircuitBreakerStrategy, Strategy

class GroupOptions(TypedDict, total=False):
    """The options a BreakerGroup gives each of its breakers (it names them itself)."""

    detect_error: Callable[[Any], object] | None
    error_threshold: int
    exception_blacklist: Iterable[type[BaseException]] | None
    exception_whitelist: Iterable[type[BaseException]] | None
    on_close: Callable[..., object] | None
    on_open: Callable[..., object] | None
    recovery_threshold: int
    recovery_timeout: float | Backoff
    strategy: CircuitBreakerStrategy | Strategy | None
    clock: Callable[[], float] | None
    half_open_max_calls: int | None
    fallback: Callable[..., Any] | None
    on_half_open: Callable[..., object] | None
    on_state_change: Callable[..., object] | None
    exception_denylist: Iterable[type[BaseException]] | None
    exception_allowlist: Iterable[type[BaseException]] | None

class BreakerOptions(GroupOptions, total=False):
    """The options ``circuit`` takes by keyword: CircuitBreaker's (see there)."""

    breaker_id: Hashable | None
    registry: Registry | None
    storage: SharedStorage | None

class Decorator(Protocol[B_co]):
    """What ``circuit(**options)`` returns: a decorator guarding one function."""

    # A staticmethod is callable too (3.10+), but it is the descriptor that comes back.
    @overload
    def __call__(self, func: Method, /) -> Method: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, func: Callable[Concatenate[type[T], P], R], /) -> GuardedClassMethod[T, P, R, B_co]: ...
    @overload
    def __call__(self, func: Callable[P, R], /) -> Guarded[P, R, B_co]: ...

class Circuit(Protocol[B_co]):
    """The ``circuit`` decorator: ``@circuit``, ``@circuit(**options)``, ``circuit(f, **options)``."""

    @overload
    def __call__(self, func: Method, /, **options: Unpack[BreakerOptions]) -> Method: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(
        self, func: Callable[Concatenate[type[T], P], R], /, **options: Unpack[BreakerOptions]
    ) -> GuardedClassMethod[T, P, R, B_co]: ...
    @overload
    def __call__(self, func: Callable[P, R], /, **options: Unpack[BreakerOptions]) -> Guarded[P, R, B_co]: ...
    @overload
    def __call__(self, /, **options: Unpack[BreakerOptions]) -> Decorator[B_co]: ...
