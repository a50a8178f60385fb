"""Where the state lives: in-process, in a shared memory segment, in Redis, side by side.

For each of this project's cores, one breaker of each kind guards a function that
returns (a CLOSED success) and one guards a function that raises (a counted error that
opens nothing: ``error_threshold`` is out of reach), all timed in the same shuffled
rounds. Redis runs on a redis-server started for the measurement, with RedisStorage's
default refresh interval: a success is decided from the process's view, an error is a
round trip.
"""

import uuid

from pycircuitbreaker._constants import MAX_COUNT
from pycircuitbreaker.shared_memory import SegmentError

from .cell import Cell, Unavailable
from .functions import Boom, boom, noop
from .scenarios import BY_KEY

__all__ = ["OUTCOMES", "PLACES", "Places", "SegmentError", "sharing_cells"]

PLACES = ("local", "shared memory", "Redis")
OUTCOMES = ("success", "counted error")


class Places:
    """The storages of one measurement: a segment of its own, and a Redis server if any."""

    def __init__(self):
        from pycircuitbreaker.shared_memory import SharedMemoryStorage

        self.segment = SharedMemoryStorage(f"pcbbench-{uuid.uuid4().hex[:12]}")
        self.server = None
        self.redis_problem = None
        try:
            from .redis_server import RedisServer

            self.server = RedisServer().start()
        except (Unavailable, OSError, RuntimeError) as error:
            self.redis_problem = str(error)

    def storages(self):
        """Return the storage option of each place (None: not measured there)."""
        redis = None
        if self.server is not None:
            from pycircuitbreaker.redis_storage import RedisStorage

            redis = RedisStorage.from_url(self.server.url)
        return {"local": None, "shared memory": self.segment, "Redis": redis}

    def close(self):
        self.segment.unlink()
        if self.server is not None:
            self.server.stop()


def sharing_cells(row, places):
    """Return {(place, outcome): Cell} for ``row``'s core, at every place measured."""
    cells = {}
    for place, storage in places.storages().items():
        if place != "local" and storage is None:
            continue
        options = {} if storage is None else {
            "storage": storage, "breaker_id": f"bench-{row.key}-{uuid.uuid4().hex[:8]}"}
        breaker = row.module.CircuitBreaker(error_threshold=MAX_COUNT, **options)
        probes = {"state": lambda b=breaker: b.state.name.lower(),
                  "errors": lambda b=breaker: b.error_count}
        cells[place, "success"] = Cell(row=row.key, scenario=BY_KEY["a_closed_decorator"],
                                       func=breaker(noop), keep=storage, **probes)
        cells[place, "counted error"] = Cell(row=row.key, scenario=BY_KEY["b_closed_raises"],
                                             func=breaker(boom), catches=Boom, keep=storage,
                                             **probes)
    return cells
