"""Type variables the helpers annotate with; for type checkers only (a leaf)."""

from typing import TypeVar

from typing_extensions import ParamSpec

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
# A guarded function's breaker: the class that decorated it.
B_co = TypeVar("B_co", covariant=True)
