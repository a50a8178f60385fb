"""The compiled twin's public API is the pure twin's: same names, same signatures.

tests/test_typing.py runs stubtest on the compiled module against this stub, so a
public name or parameter that one twin has and the other lacks fails the suite.
"""

from ._core_py import *  # noqa: F403 (a stub re-exports every public name this way)
