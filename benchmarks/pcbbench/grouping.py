"""What a BreakerGroup costs per call: ``group.get`` on a hot key beside a dict lookup."""

from pycircuitbreaker import BreakerGroup

from .cell import Cell
from .functions import noop
from .scenarios import BY_KEY

#: Keys in the group (and the dict) while the hot key is looked up: a full-sized group.
KEYS = 10_000
HOT = "https://api.example.com:443"


def group_cells(row):
    """Return four Cells for ``row``'s core, on the hot key of a full group: a dict's
    get, the group's get, a call through the breaker, and the same call looked up first."""
    group_class = type("Group", (BreakerGroup,), {"breaker_class": row.module.CircuitBreaker})
    group = group_class("hosts", max_breakers=KEYS)
    for index in range(KEYS - 1):
        group.get(f"https://host-{index}.example.com:443")
    hot = group.get(HOT)
    plain = dict(group.items())
    scenario = BY_KEY["a_closed_call"]
    lookup = Cell(row=row.key, scenario=None, func=plain.get, arg=HOT, keep=plain)
    grouped = Cell(row=row.key, scenario=None, func=group.get, arg=HOT, keep=group)
    probes = {"state": lambda: hot.state.name.lower(), "errors": lambda: hot.error_count}
    # Both calls in a lambda, so that the frame it adds is in both numbers.
    direct = Cell(row=row.key, scenario=scenario, func=lambda: hot.call(noop), keep=group,
                  **probes)
    looked_up = Cell(row=row.key, scenario=scenario,
                     func=lambda: group.get(HOT).call(noop), keep=group, **probes)
    return lookup, grouped, direct, looked_up
