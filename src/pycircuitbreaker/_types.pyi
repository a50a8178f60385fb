"""Types that exist only for type checkers: what the decorators return."""

from typing import Any, Callable, Protocol, overload

from typing_extensions import Concatenate

from ._core_py import _Guarded as Guarded
from ._core_py import _GuardedClassMethod as GuardedClassMethod
from ._core_py import _Method as Method
from ._typevars import P as P
from ._typevars import R as R
from ._typevars import T as T

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
