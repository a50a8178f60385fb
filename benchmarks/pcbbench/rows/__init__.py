"""The rows of the table, in the order they are printed."""

from .baselines import AsyncForwarder, BareAwait, Direct, Floor, Forwarder
from .original import Original
from .ours import Compiled, Pure
from .peers import FabfuelCircuitBreaker, Interlock, Purgatory, PyBreaker

ROW_CLASSES = (Direct, Forwarder, Floor, Compiled, Pure, PyBreaker, FabfuelCircuitBreaker,
               Interlock, Purgatory, Original)
# The async table (scenarios.ASYNC_SCENARIOS): its own baselines, then the same breakers.
ASYNC_ROW_CLASSES = (BareAwait, AsyncForwarder, Compiled, Pure, PyBreaker,
                     FabfuelCircuitBreaker, Interlock, Purgatory, Original)
BY_KEY = {cls.key: cls for cls in ROW_CLASSES + ASYNC_ROW_CLASSES}


def all_rows():
    """Return a fresh instance of every row, in table order."""
    return [cls() for cls in ROW_CLASSES]


def async_rows():
    """Return a fresh instance of every row of the async table, in table order."""
    return [cls() for cls in ASYNC_ROW_CLASSES]
