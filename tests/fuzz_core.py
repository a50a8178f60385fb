"""Fuzz target: option values and call sequences, on the compiled core and the pure twin.

Each input is read as a breaker's options (numbers from every class a C field can choke
on: huge and negative ints, NaN, infinities, tiny and huge floats, non-numbers) and a
sequence of operations (calls that succeed, fail, are malformed or flagged; callbacks
that raise KeyboardInterrupt or call the breaker back; manual control; clock moves,
including to values no clock should return; re-initialisation; every read). Both
cores run the same input; the target fails if either crashes, hangs (libFuzzer's
-timeout) or the two disagree on any outcome, read or snapshot.

By hand, as long as you like (atheris from PyPI)::

    python tests/fuzz_core.py -atheris_runs=200000
    python tests/fuzz_core.py some/corpus/dir -max_total_time=600

``tests/test_fuzz.py`` runs it briefly in the test suite.
"""

import asyncio
import dataclasses
import logging
import math
import os
import sys

import atheris

with atheris.instrument_imports(include=["pycircuitbreaker"]):
    from pycircuitbreaker import (
        CircuitBreakerException,
        CircuitBreakerRegistry,
        _core_c,
        _core_py,
        count_window,
        exponential_backoff,
        time_window,
    )

CORES = (_core_c, _core_py)
CANARY = os.environ.get("PYCIRCUITBREAKER_FUZZ_CANARY") == "1"
# Callbacks that fail are logged by design; thousands of tracebacks would drown the fuzzer.
logging.getLogger("pycircuitbreaker").disabled = True

NUMBERS = (0, 1, 2, 3, 5, -1, 2**31 - 1, 2**31, 2**63, 2**64 + 1, -(2**63), 10**400,
           0.0, 0.5, 1e-3, 1e-9, 5e-324, 1e-300, 1e9, 1e9 + 1, 2.6e11, 1e300, math.inf,
           -math.inf, math.nan, -0.0, True, None, "5", 1j)


class Hostile(BaseException):
    """Stands in for KeyboardInterrupt: a BaseException from a callback."""


def number(data):
    """Return a number from the classes above, or a fuzzed float or int."""
    kind = data.ConsumeIntInRange(0, 3)
    if kind == 0:
        return data.ConsumeFloat()
    if kind == 1:
        return data.ConsumeInt(9)
    return NUMBERS[data.ConsumeIntInRange(0, len(NUMBERS) - 1)]


def outcome(action):
    """Return what ``action()`` did, in terms both cores must agree on."""
    try:
        result = action()
    except CircuitBreakerException as error:
        return ("rejected", error.state)
    except BaseException as error:  # Hostile and KeyboardInterrupt included, on purpose
        return ("raised", type(error).__name__, str(error) if _comparable(error) else None)
    if dataclasses.is_dataclass(result):
        return ("returned", dataclasses.replace(result, breaker_id=None))
    return ("returned", result)


def _comparable(error):
    # Messages of rejections carry wall-clock times; every other message must agree.
    return not isinstance(error, CircuitBreakerException)


class World:
    """One core's breaker, its clock and what its callbacks saw."""

    def __init__(self, core, options, hooks):
        self.core = core
        self.now = 1000.0
        self.events = []
        self.hooks = hooks
        self.registry = CircuitBreakerRegistry()
        callbacks = {name: self._callback(name) for name in hooks}
        self.built = outcome(lambda: core.CircuitBreaker(
            breaker_id="fuzz", clock=self.clock, registry=self.registry, **callbacks,
            **options))
        self.breaker = self.built[1] if self.built[0] == "returned" else None

    def clock(self):
        return self.now

    def _callback(self, name):
        def callback(breaker, *args):
            self.events.append((name, tuple(str(arg) for arg in args)))
            action = self.hooks[name]
            if action == "interrupt":
                raise Hostile(name)
            if action == "reenter":
                # A callback that calls its own breaker back: must neither crash nor wedge.
                self.events.append(("reentered", outcome(lambda: breaker.call(int, 7))))
            if action == "fail":
                raise ValueError(name)

        return callback


def operations(breaker, data):
    """Return the operation the input picks next, as a zero-argument callable and a label."""
    choice = data.ConsumeIntInRange(0, 18)
    if choice == 0:
        return lambda: breaker.call(int, 3)
    if choice == 1:
        return lambda: breaker.call(int, "x")  # ValueError inside the callee: counted
    if choice == 2:
        return lambda: breaker.call(None)  # malformed: not counted
    if choice == 3:
        return lambda: breaker.call(divmod, 1)  # malformed arguments
    if choice == 4:
        return lambda: breaker(lambda: -1)()
    if choice == 5:
        return breaker.trip
    if choice == 6:
        return breaker.reset
    if choice == 7:
        return breaker.force_open
    if choice == 8:
        return breaker.disable
    if choice == 9:
        return lambda: breaker.state
    if choice == 10:
        return breaker.metrics
    if choice == 11:
        return lambda: (breaker.error_count, breaker.success_count, breaker.half_open_calls)
    if choice == 12:
        return lambda: (breaker.open_time, breaker.recovery_start_time) and None
    if choice == 13:
        return lambda: breaker.__enter__() and None
    if choice == 14:
        return lambda: breaker.__exit__(None, None, None)
    if choice == 15:
        return lambda: breaker.__init__(error_threshold=1)  # refused, once built
    if choice == 16:
        async def awaited():
            return await breaker.call_async(asyncio.sleep, 0, 5)

        return lambda: asyncio.run(awaited())
    if choice == 17:
        return breaker.metrics_only
    return lambda: breaker.call(len, "abc", "d")  # malformed call of a builtin


def options_from(data):
    options = {}
    for name in ("error_threshold", "recovery_threshold", "recovery_timeout",
                 "half_open_max_calls"):
        if data.ConsumeBool():
            options[name] = number(data)
    kind = data.ConsumeIntInRange(0, 3)
    try:
        if kind == 1:
            options["strategy"] = count_window(number(data), minimum_calls=number(data))
        elif kind == 2:
            options["strategy"] = time_window(number(data), buckets=number(data),
                                              minimum_calls=number(data))
        elif kind == 3:
            options["recovery_timeout"] = exponential_backoff(number(data), number(data))
    except (TypeError, ValueError):
        pass  # refused where it was made: the strategies' own tests check how
    if data.ConsumeBool():
        options["detect_error"] = lambda result: result == -1
    return options


def one_input(raw):
    data = atheris.FuzzedDataProvider(raw)
    options = options_from(data)
    hooks = {}
    for name in ("on_open", "on_close", "on_half_open", "on_state_change"):
        action = data.ConsumeIntInRange(0, 4)
        if action:
            hooks[name] = ("record", "interrupt", "reenter", "fail")[action - 1]
    worlds = [World(core, options, hooks) for core in CORES]
    built = [world.built for world in worlds]
    assert [b[0] for b in built] == [built[0][0]] * 2, built
    if built[0][0] != "returned":
        assert built[0] == built[1], built  # the same error, the same message
        return
    if CANARY:
        # A planted difference, to show that the target can fail (tests/test_fuzz.py).
        outcome(lambda: worlds[1].breaker.call(int, 1))
    for step in range(data.ConsumeIntInRange(0, 40)):
        if data.ConsumeIntInRange(0, 4) == 0:
            move = number(data)
            for world in worlds:
                try:
                    world.now = world.now + move
                except (TypeError, OverflowError):
                    world.now = move  # a value no clock may return, maybe
            continue
        picks = data.ConsumeBytes(2)
        results = []
        for world in worlds:
            again = atheris.FuzzedDataProvider(picks)
            results.append(outcome(operations(world.breaker, again)))
        assert results[0] == results[1], (step, results)
        views = [outcome(world.breaker.metrics) for world in worlds]
        assert views[0] == views[1], (step, views)
        assert worlds[0].events == worlds[1].events, (step, worlds[0].events, worlds[1].events)
    health = [outcome(world.registry.health) for world in worlds]
    assert health[0][0] == health[1][0], health


def main():
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
