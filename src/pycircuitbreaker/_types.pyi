"""Types that exist only for type checkers: what the decorators return."""

from typing import Any, Callable, Protocol, TypeVar, overload

from typing_extensions import Concatenate, ParamSpec, Self

from ._core import CircuitBreaker

P = ParamSpec("P")
Q = ParamSpec("Q")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
S = TypeVar("S")
T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
# Decorated under @staticmethod/@classmethod: the descriptor comes back, its function guarded.
Method = TypeVar("Method", bound=staticmethod[..., Any] | classmethod[Any, ..., Any])

class Guarded(Protocol[P, R_co]):
    """A function guarded by a breaker: same parameters and result, plus ``breaker``."""

    breaker: CircuitBreaker
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...
    # Bound like a function, so a guarded method takes its arguments without ``self``.
    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> Self: ...
    @overload
    def __get__(
        self: Guarded[Concatenate[S, Q], R_co], instance: S, owner: type[Any] | None = None
    ) -> Guarded[Q, R_co]: ...

class GuardedClassMethod(Protocol[T_contra, P, R_co]):
    """A guarded function whose first parameter is a class: a classmethod, once in a class.

    Type checkers see a classmethod (either side of @classmethod) as the plain function;
    this type binds it to the class it is reached through, on the class or an instance.
    """

    breaker: CircuitBreaker
    def __call__(self, cls: type[T_contra], /, *args: P.args, **kwargs: P.kwargs) -> R_co: ...
    def __get__(self, instance: object, owner: type[T_contra]) -> Guarded[P, R_co]: ...

class Decorator(Protocol):
    """What ``circuit(**options)`` returns: a decorator guarding one function."""

    # A staticmethod is callable too (3.10+), but it is the descriptor that comes back.
    @overload
    def __call__(self, func: Method, /) -> Method: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, func: Callable[Concatenate[type[T], P], R], /) -> GuardedClassMethod[T, P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R], /) -> Guarded[P, R]: ...

class Circuit(Protocol):
    """The ``circuit`` decorator: ``@circuit``, ``@circuit(**options)``, ``circuit(f, **options)``."""

    @overload
    def __call__(self, func: Method, /, **options: Any) -> Method: ...
    @overload
    def __call__(
        self, func: Callable[Concatenate[type[T], P], R], /, **options: Any
    ) -> GuardedClassMethod[T, P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R], /, **options: Any) -> Guarded[P, R]: ...
    @overload
    def __call__(self, /, **options: Any) -> Decorator: ...
