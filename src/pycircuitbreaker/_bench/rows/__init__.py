"""The rows of the table, in the order they are printed."""

from .baselines import Direct, Floor, Forwarder
from .ours import Compiled, Pure
from .original import Original
from .peers import FabfuelCircuitBreaker, PyBreaker

ROW_CLASSES = (Direct, Forwarder, Floor, Compiled, Pure, PyBreaker, FabfuelCircuitBreaker,
               Original)
BY_KEY = {cls.key: cls for cls in ROW_CLASSES}


def all_rows():
    """Return a fresh instance of every row, in table order."""
    return [cls() for cls in ROW_CLASSES]
