"""Load the compiled core, or its pure-Python twin when asked or when it is missing."""

import os
from typing import TYPE_CHECKING

from ._constants import ENV_NO_EXTENSIONS, TRUTHY_ENV_VALUES

NO_EXTENSIONS = os.environ.get(ENV_NO_EXTENSIONS, "").strip().lower() in TRUTHY_ENV_VALUES

if TYPE_CHECKING:
    # One type for both twins: the compiled twin's stub is the pure twin's API, which
    # tests/test_typing.py holds the compiled twin to with stubtest.
    from . import _core_py as core
elif NO_EXTENSIONS:
    from . import _core_py as core
else:
    try:
        from . import _core_c as core
    except ImportError:  # not compiled (pure install): the twin does the same work
        from . import _core_py as core

IMPLEMENTATION = "python" if core.__name__.endswith("_py") else "cython"
CircuitBreaker = core.CircuitBreaker
make_wrapper = core.make_wrapper

__all__ = ["IMPLEMENTATION", "NO_EXTENSIONS", "CircuitBreaker", "core", "make_wrapper"]
