"""Everything one benchmark run measured, handed from the runner to the report."""

from dataclasses import dataclass, field
from typing import Optional

from .grid import Grid
from .leaks import LeakReport
from .redis_results import RedisRun
from .timing import Budget
from .windows import WindowMemory


@dataclass
class Results:
    """The grids plus the side measurements the targets need."""

    grid: Grid
    budget: Budget
    loop_ns: float
    #: The async table (issue #5), timed in the same rounds as ``grid``.
    async_grid: Optional[Grid] = None
    #: One empty iteration of the async timing loop, in ns.
    async_loop_ns: Optional[float] = None
    detector_ns: Optional[float] = None
    #: row key -> (ns/call with 1 breaker registered, with ``crowd`` registered)
    registry: dict[str, tuple[float, float]] = field(default_factory=dict)
    crowd: int = 0
    #: row key -> ns/call of the 1-breaker registry cell while a scraper read its metrics
    scraped: dict[str, float] = field(default_factory=dict)
    scrapes: int = 0
    #: row key -> ns of (dict.get, group.get, breaker.call(f), group.get(key).call(f)),
    #: on the hot key of a full BreakerGroup
    group: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    #: row key -> {(place, outcome): ns/call} (see host_sharing), timed side by side
    sharing: dict[str, dict[tuple[str, str], float]] = field(default_factory=dict)
    sharing_problem: Optional[str] = None  # why Redis (or shared memory) was left out
    #: ns per GET through a bare httpx transport and through BreakerTransport (the
    #: default core): on loopback, then in memory; or None, with why in ``http_problem``
    http: Optional[tuple[float, float, float, float]] = None
    http_problem: Optional[str] = None
    #: row key -> what 100,000 rejections left behind
    leaks: dict[str, LeakReport] = field(default_factory=dict)
    #: row key -> what many calls through each windowed breaker left behind
    window_memory: dict[str, list[WindowMemory]] = field(default_factory=dict)
    #: The Redis section (shared state), or None when skipped (--no-redis)
    redis: Optional[RedisRun] = None
