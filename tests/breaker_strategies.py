"""Hypothesis strategies of the differential test: configurations, options and steps."""

import math

from breaker_model import (
    BLACKLISTS,
    CALLBACKS,
    DETECTORS,
    EXCEPTION_POOL,
    LANES,
    NET_ERROR,
    SINGLE_RESET,
    WHITELISTS,
    BackoffSpec,
    window_spec,
)
from hypothesis import strategies as st

from pycircuitbreaker import (
    consecutive_errors,
    net_errors,
)

fixed_timeouts = st.one_of(
    # 0: HALF_OPEN as soon as anyone looks, so runs go through many half-open periods.
    st.just(0),
    st.integers(0, 5),
    st.sampled_from([0.0, 1e-9, 0.1, 0.25, 0.5, 1.5, 2.75]),
    st.floats(0, 10, allow_nan=False, allow_infinity=False),
)


@st.composite
def backoff_specs(draw):
    # initial 0: every period is 0, however many re-openings (jitter or not).
    initial = draw(st.sampled_from([0, 1, 2.5]))
    # A maximum equal to initial, or one reached after a few re-openings, or none.
    above = st.sampled_from([0, 0.5, 3, 10]).map(lambda extra: initial + extra)
    return BackoffSpec(
        initial=initial,
        multiplier=draw(st.sampled_from([1, 2, 3])),
        maximum=draw(st.one_of(st.none(), above)),
        jitter=draw(st.sampled_from([0, 0.25])),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@st.composite
def recovery_timeouts(draw):
    """A number (every open period) half the time, else an exponential backoff policy."""
    if draw(st.booleans()):
        return draw(backoff_specs())
    return draw(fixed_timeouts)


RATES = st.sampled_from([0.25, 0.5, 1.0, 1 / 3])
SLOW_CALL_DURATIONS = st.sampled_from([None, None, 0, 0.5, 1])
SLOW_CALL_RATES = st.sampled_from([0.5, 1.0])


@st.composite
def count_windows(draw):
    size = draw(st.integers(1, 6))
    return window_spec(
        "count",
        size=size,
        failure_rate=draw(RATES),
        # None: count_window's default, the size.
        minimum_calls=draw(st.one_of(st.none(), st.integers(1, size))),
        slow_call_duration=draw(SLOW_CALL_DURATIONS),
        slow_call_rate=draw(SLOW_CALL_RATES),
    )


@st.composite
def time_windows(draw):
    return window_spec(
        "time",
        # 2.5 s in 3 slices: a slice width that is no binary fraction.
        seconds=draw(st.sampled_from([1, 2.5, 10])),
        buckets=draw(st.integers(1, 5)),
        failure_rate=draw(RATES),
        minimum_calls=draw(st.integers(1, 4)),
        slow_call_duration=draw(SLOW_CALL_DURATIONS),
        slow_call_rate=draw(SLOW_CALL_RATES),
    )


STRATEGY_KINDS = {
    "SINGLE_RESET": st.just(SINGLE_RESET),
    "NET_ERROR": st.just(NET_ERROR),
    "object": st.sampled_from([consecutive_errors, net_errors]).map(lambda cls: cls()),
    "count": count_windows(),
    "time": time_windows(),
}
# Each counting rule an eighth of the time, their objects an eighth, each window 5/16.
# (A kind drawn first: one_of would favour its first branches.)
breaker_strategies = st.sampled_from(
    ["SINGLE_RESET"] * 2 + ["NET_ERROR"] * 2 + ["object"] * 2 + ["count"] * 5 + ["time"] * 5
).flatmap(STRATEGY_KINDS.__getitem__)

configs = st.fixed_dictionaries(
    {
        "error_threshold": st.integers(1, 6),
        "recovery_threshold": st.integers(1, 4),
        "recovery_timeout": recovery_timeouts(),
        "strategy": breaker_strategies,
        "detect_error": st.sampled_from(DETECTORS),
        "exception_whitelist": st.sampled_from(WHITELISTS),
        "exception_blacklist": st.sampled_from(BLACKLISTS),
        "half_open_max_calls": st.sampled_from([None, 1, 1, 2, 3]),
    }
)

# Which of the test's hooks the breakers get: mostly all of them.
mostly = st.sampled_from([True, True, True, False])
# Which hooks interrupt (raise Interrupt once they ran): mostly none.
interrupting = st.one_of(
    st.just(()), st.just(()), st.just(()),
    st.sets(st.sampled_from(CALLBACKS), min_size=1).map(tuple),
)
option_sets = st.fixed_dictionaries(
    {"fallback": st.booleans(), **{name: mostly for name in CALLBACKS},
     "interrupting": interrupting}
)

advances = st.one_of(
    st.integers(0, 3),
    st.sampled_from([0.0, 1e-9, 0.1, 0.25, 0.5, 1.5]),
    st.floats(0, 6, allow_nan=False, allow_infinity=False),
)

# What a block or a `with` statement ends with: normally (None) or raising.
block_endings = st.one_of(st.none(), st.sampled_from(EXCEPTION_POOL))

# How far a guarded function (or a `with` body) moves the clock: mostly not at all; else
# often exactly a slow_call_duration (0, 0.5, 1) or just short of one.
durations = st.one_of(
    st.just(0),
    st.sampled_from(
        [0, 1e-9, 0.25, 0.5, 1, 1.5, math.nextafter(0.5, 0), math.nextafter(1.0, 0)]
    ),
    st.floats(0, 3, allow_nan=False, allow_infinity=False),
)

STEP_PARAMETERS = {
    # (value returned, call through the decorator rather than .call, seconds it takes)
    "return": st.tuples(st.integers(-2, 3), st.booleans(), durations),
    # (exception class raised, call through the decorator rather than .call, seconds)
    "raise": st.tuples(st.sampled_from(EXCEPTION_POOL), st.booleans(), durations),
    # Open (1 to 3) `with` blocks in a lane and keep them open; exit the innermost block
    # open in a lane.
    "enter": st.tuples(st.sampled_from([1, 1, 2, 3]), st.sampled_from(LANES)),
    "exit": st.tuples(block_endings, st.sampled_from(LANES)),
    # A whole `with` statement, its body taking some seconds.
    "with": st.tuples(block_endings, durations),
    "trip": st.just(()),
    "reset": st.just(()),
    "force_open": st.just(()),
    "disable": st.just(()),
    "metrics_only": st.just(()),
    "advance": st.tuples(advances),
    # Land exactly on the recovery moment of the latest opening, or just before it.
    "to_recovery": st.tuples(st.sampled_from(["at", "just_before"])),
    # Right after an opening this is an exact hit on the boundary as well.
    "advance_timeout": st.just(()),
    # Land on the start of the time window's slice 1 to 5 after the current one (of
    # 1-second slices without a time window), exactly ("at", the first moment the spec's
    # floor(t / width) gives that slice; "naive": index * width, which may round either
    # way), or just before it.
    "slice": st.tuples(st.integers(0, 4), st.sampled_from(["at", "at", "just_before", "naive"])),
    # Land on the first moment the oldest slice the time window holds is out of it
    # (start of slice oldest + buckets), or just before; else like ("slice", 0, ...).
    "edge": st.tuples(st.sampled_from(["at", "just_before"])),
    "state": st.just(()),
    # __init__ again, with other options: refused, and nothing changes.
    "reinit": st.just(()),
}
# Relative weights: calls most often; force_open / disable / metrics_only rarely, as they
# stick.
STEP_KINDS = (
    ("return",) * 6
    + ("raise",) * 6
    + ("enter",) * 6
    + ("exit",) * 5
    + ("with",) * 2
    + ("trip",) * 3
    + ("reset",) * 2
    + ("force_open", "disable", "metrics_only", "reinit")
    + ("advance", "to_recovery", "advance_timeout", "state") * 2
    # Re-openings from HALF_OPEN walk up the backoff sequence: one recovery moment each.
    + ("to_recovery",) * 2
    + ("slice", "slice", "edge", "edge")
)


# Long runs of calls while CLOSED, so that windows fill up and roll over (and so that,
# while DISABLED, error_count shows all they hold), with time moving on between them.
CALL_HEAVY_STEP_KINDS = (
    ("return",) * 8
    + ("raise",) * 6
    + ("enter",) * 3
    + ("exit",) * 3
    + ("with",) * 2
    + ("advance",) * 2
    + ("slice", "edge") * 3
    + ("disable",) * 2
    + ("metrics_only",) * 2
    # Out of OPEN soon, to record again.
    + ("to_recovery",) * 3
    + ("reset",) * 2
    + ("trip", "state")
)


@st.composite
def step_lists(draw, max_steps=100):
    """A list of steps whose length is drawn first, so runs are long but still shrink.

    Half the lists draw from the mix of every kind of step, half mostly make calls.
    """
    kinds = st.sampled_from(draw(st.sampled_from([STEP_KINDS, CALL_HEAVY_STEP_KINDS])))
    steps = []
    for _ in range(draw(st.integers(0, max_steps))):
        kind = draw(kinds)
        steps.append((kind,) + draw(STEP_PARAMETERS[kind]))
    return steps


steps = step_lists()
