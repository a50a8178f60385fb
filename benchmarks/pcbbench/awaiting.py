"""Await without an event loop: one call to check a cell, or a timed loop of awaits.

An async cell is timed with timeit's own loop moved inside one coroutine,
``for _i in repeat(None, number): await f()``, and that coroutine is driven by a single
``send(None)``: no target ever suspends, so it runs to its end at once. Each iteration
then pays for what ``await f()`` costs inside a running coroutine (creating ``f``'s
coroutine, running it, finishing it) plus the loop, and nothing else. Driving every
call's coroutine from outside would add a ``send`` and a raised StopIteration to each
call, and running the loop under an event loop would only add a fixed cost per sample:
a coroutine that never suspends never reaches the event loop.
"""

import itertools
import textwrap
import time

# pytest-benchmark times one batch per round: its microseconds per batch are then
# nanoseconds per await, and the cost of driving the batch is spread over 1,000 calls.
BATCH = 1000

# timeit's template with ``async`` in front: the statement's names are globals of the
# loop in both, so a sync and an async cell look their callable up the same way.
LOOP = """
async def inner(_it, _timer):
    _t0 = _timer()
    for _i in _it:
{body}
        pass
    _t1 = _timer()
    return _t1 - _t0
"""


class Suspended(RuntimeError):
    """An awaited target yielded to an event loop, and the benchmark runs none."""


def run(awaitable):
    """Run ``awaitable`` to its end without an event loop; return its result or raise."""
    steps = awaitable.__await__()
    try:
        steps.send(None)
    except StopIteration as done:
        return done.value
    steps.close()
    raise Suspended(f"{awaitable!r} suspended: the benchmark's async targets must never "
                    "wait, since no event loop runs them")


class AsyncTimer:
    """Like timeit.Timer, but its loop runs in one coroutine and may ``await``."""

    def __init__(self, stmt, globals):
        namespace = dict(globals)
        exec(LOOP.format(body=textwrap.indent(stmt, " " * 8)), namespace)
        self._inner = namespace["inner"]

    def timeit(self, number):
        """Return the seconds ``number`` iterations take; the gc is left as it is (enabled)."""
        return run(self._inner(itertools.repeat(None, number), time.perf_counter))
