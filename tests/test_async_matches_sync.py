"""Every way of calling through a breaker judges outcomes alike, on both twins.

Hypothesis drives identical breakers through the same steps, one per calling form
(sync call, sync decorator, async decorator, call_async, async with, generator, async
generator), and checks after each step that all agree with the sync call.
"""

import asyncio
import dataclasses

import pytest
from conftest import Boom, FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerStrategy, count_window


class Ignored(Exception):
    """Whitelisted: never counted."""


OUTCOMES = ("ok", "bad", "boom", "ignored", "interrupt")


def act(outcome):
    """Return the result ``outcome`` names, or raise the exception it names."""
    if outcome == "boom":
        raise Boom()
    if outcome == "ignored":
        raise Ignored()
    if outcome == "interrupt":
        raise KeyboardInterrupt()
    return outcome


class Forms:
    """One breaker per calling form, each run to completion by ``run(form, outcome)``."""

    NAMES = ("call", "decorator", "async", "call_async", "async_with", "generator",
             "async_generator")

    def __init__(self, impl, options):
        self.clocks = {name: FakeClock() for name in self.NAMES}
        self.events = {name: [] for name in self.NAMES}
        self.breakers = {}
        for name in self.NAMES:
            log = self.events[name]
            self.breakers[name] = impl.CircuitBreaker(
                clock=self.clocks[name],
                on_state_change=lambda b, old, new, log=log: log.append((old, new)),
                **options,
            )
        self.loop = asyncio.new_event_loop()

    def close(self):
        self.loop.close()

    def run(self, name, outcome):
        """Return ("returned", value) / ("raised", type) for one call in form ``name``."""
        breaker = self.breakers[name]
        try:
            return ("returned", getattr(self, "_" + name)(breaker, outcome))
        except BaseException as error:  # noqa: B902 - KeyboardInterrupt is a step here
            return ("raised", type(error))

    def _call(self, breaker, outcome):
        return breaker.call(act, outcome)

    def _decorator(self, breaker, outcome):
        return breaker(act)(outcome)

    def _async(self, breaker, outcome):
        async def guarded(outcome):
            return act(outcome)

        return self.loop.run_until_complete(breaker(guarded)(outcome))

    def _call_async(self, breaker, outcome):
        async def unguarded(outcome):
            return act(outcome)

        return self.loop.run_until_complete(breaker.call_async(unguarded, outcome))

    def _async_with(self, breaker, outcome):
        async def block():
            async with breaker:
                # A block has no result to judge: compared only without detect_error.
                return act(outcome)

        return self.loop.run_until_complete(block())

    def _generator(self, breaker, outcome):
        def produce(outcome):
            yield act(outcome)

        return list(breaker(produce)(outcome))[0]

    def _async_generator(self, breaker, outcome):
        async def produce(outcome):
            yield act(outcome)

        async def first():
            return [value async for value in breaker(produce)(outcome)][0]

        return self.loop.run_until_complete(first())

    def snapshot(self, name):
        breaker = self.breakers[name]
        return (breaker.error_count, breaker.success_count, breaker.half_open_calls,
                breaker.state, list(self.events[name]),
                # Every form counts its calls alike too (ids differ: one breaker a form).
                dataclasses.replace(breaker.metrics(), breaker_id=None))


strategies = st.sampled_from([
    CircuitBreakerStrategy.SINGLE_RESET,
    CircuitBreakerStrategy.NET_ERROR,
    count_window(4, failure_rate=0.5, minimum_calls=2),
])
steps = st.lists(
    st.one_of(
        st.tuples(st.just("call"), st.sampled_from(OUTCOMES)),
        st.tuples(st.just("advance"), st.sampled_from([1, 5, 11])),
        st.tuples(st.just("control"), st.sampled_from(["trip", "reset", "force_open",
                                                       "disable"])),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(
    error_threshold=st.integers(1, 3),
    recovery_threshold=st.integers(1, 2),
    strategy=strategies,
    detect=st.booleans(),
    steps=steps,
)
def check_forms_agree(impl, error_threshold, recovery_threshold, strategy, detect, steps):
    options = dict(
        error_threshold=error_threshold,
        recovery_threshold=recovery_threshold,
        recovery_timeout=10,
        strategy=strategy,
        exception_whitelist=[Ignored],
        detect_error=(lambda result: result == "bad") if detect else None,
    )
    forms = Forms(impl, options)
    # Blocks and generators have no result for detect_error to judge: compare them only
    # without one.
    no_result = ("async_with", "generator", "async_generator")
    names = [n for n in Forms.NAMES if not (detect and n in no_result)]
    try:
        for number, (kind, arg) in enumerate(steps):
            outcomes = {}
            for name in names:
                if kind == "call":
                    outcomes[name] = forms.run(name, arg)
                elif kind == "advance":
                    forms.clocks[name].advance(arg)
                else:
                    getattr(forms.breakers[name], arg)()
            reference = forms.snapshot("call")
            for name in names:
                where = f"step {number} {kind} {arg}: {name} vs call"
                if kind == "call":
                    assert outcomes[name] == outcomes["call"], where
                assert forms.snapshot(name) == reference, where
    finally:
        forms.close()


def test_every_calling_form_judges_alike(impl):
    check_forms_agree(impl)


def test_rejections_agree_too(impl):
    # A sanity check of the harness itself: an open breaker rejects in every form.
    forms = Forms(impl, dict(error_threshold=1, recovery_timeout=10))
    try:
        for name in Forms.NAMES:
            forms.breakers[name].trip()
            assert forms.run(name, "ok") == ("raised", CircuitBreakerException), name
    finally:
        forms.close()


@pytest.mark.parametrize("name", Forms.NAMES)
def test_each_form_counts_an_error(impl, name):
    forms = Forms(impl, dict(error_threshold=5))
    try:
        assert forms.run(name, "boom") == ("raised", Boom)
        assert forms.breakers[name].error_count == 1
    finally:
        forms.close()
