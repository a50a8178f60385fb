"""Differential test: compiled core, pure twin and an independent reference model.

Hypothesis draws a breaker configuration (thresholds, timeout, strategy, detect_error,
exception lists, ``half_open_max_calls``, an optional ``fallback``, which of the four
callbacks are set) and a sequence of steps. The timeout is a number or an
``exponential_backoff`` policy (initial, multiplier, maximum, jitter); every breaker
builds its own policy, with its own ``random.Random`` seeded alike, and the model draws
from a Random of its own exactly when the cores consult their policy, so the jittered
periods match too. The strategy is ``SINGLE_RESET`` / ``NET_ERROR``, their objects
``consecutive_errors()`` / ``net_errors()``, or a small failure-rate window (``WindowSpec``):
``count_window`` or ``time_window`` (2.5 s in 3 slices among them: slice edges that are no
binary fractions), with or without slow calls; one strategy object is shared by all the
breakers of an example. The steps (half the step lists mostly make calls, so that windows
fill up and roll over):

* calls that succeed, raise counted / ignored / non-Exception errors, or return results
  flagged or not by ``detect_error``, through ``.call`` or through the decorator; the
  guarded function moves the clock on by a drawn time (0, often exactly a
  ``slow_call_duration`` or just short of it), so calls may be slow;
* ``with breaker:`` blocks held open across steps: a step *enters* some (``__enter__``
  admits like a call, and may reject), a later step *exits* the innermost open block
  normally or with an exception of any kind (``__exit__`` must return False); blocks are
  held in two *lanes*, contexts of their own like two threads, so they may end out of
  order; plus whole ``with`` statements in one step, whose body takes a drawn time. Open
  blocks are how half-open permits are held, how outcomes admitted before a transition
  arrive late, and how slow blocks are timed from ``__enter__`` to ``__exit__``;
* manual control: ``trip()``, ``reset()``, ``force_open()``, ``disable()``,
  ``metrics_only()`` (whose would-be openings ``metrics().would_open`` counts); and
  ``__init__`` called again with other options, which must be refused and change nothing;
* clock advances, including exact hits on the recovery boundary (of whichever backoff
  period is in force), on the start of a time window's slice (the first moment
  ``floor(t / width)`` gives it, or ``index * width`` as rounded) and on the moment the
  oldest slice held drops out, or just before those; and reads of ``.state``.

Some of the callbacks may *interrupt*: raise a BaseException (``Interrupt``) once they
ran, as KeyboardInterrupt would. The model's rule: the change they announce stands, the
transition's other callbacks run, then the interrupt reaches whoever made the change (a
call, a block's exit, ``trip()``, a read of ``.state``); a call it stops as it is admitted
gives its permit back and does not run. Observed and lazy breakers meet such an interrupt
in different steps, so with interrupts each pair follows its own model.

Every step is applied to

* ``Model`` (tests/breaker_model.py), written from the specification alone (it imports
  no core), twice:
  an *observed* model whose state is read after every step and a *lazy* one read only
  on explicit ``state`` steps (and at the end);
* the compiled ``_core_c.CircuitBreaker`` and the pure ``_core_py.CircuitBreaker``, each
  twice, every breaker with its own ``FakeClock``: an *observed* copy whose ``.state`` is
  read after every step, and a *lazy* copy read like the lazy model, so the OPEN ->
  HALF_OPEN move made on admission (and its on_half_open event) is exercised too, not
  only the one made by reading ``.state``.

After every step each breaker must agree with its model on the step's outcome (value or
exception identity; rejection type, ``.state`` and snapshot; fallback result identity),
``error_count`` (with a window: the failures it holds), ``success_count``,
``half_open_calls``, the open period in force (``recovery_start_time - open_time``; a
rejection's remaining seconds exactly), the ordered log of on_state_change / on_open /
on_half_open / on_close events (arguments by identity, and the counters each callback
saw) and, when read, ``state``.
"""

import contextvars
import dataclasses
import functools
import math

import pytest
from breaker_model import (
    ARGS,
    CALLBACKS,
    CLOSED,
    CONTROLS,
    KWARGS,
    LANES,
    NET_ERROR,
    OPEN,
    Allowed,
    BackoffSpec,
    Counted,
    CountedAllowed,
    Fallback,
    Halt,
    Interrupt,
    Model,
    Other,
    Result,
    WindowSpec,
    negative,
    slice_start,
    window_spec,
)
from breaker_strategies import (
    configs,
    option_sets,
    steps,
)
from conftest import FakeClock, load_impl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pycircuitbreaker import CircuitBreakerException

# -- the implementations under test -------------------------------------------------------


class Subject:
    """One real breaker with its own clock, event log, run and fallback counters."""

    def __init__(self, label, cls, config, options, start, observed):
        self.label = label
        self.observed = observed
        self.clock = FakeClock(start)
        self.events = []
        self.runs = []
        self.fallbacks = []
        # Each lane is a context of its own, like a thread or an asyncio task: `with`
        # blocks stack per context, so blocks in different lanes end in any order.
        self.lanes = {lane: contextvars.Context() for lane in LANES}
        callbacks = {name: getattr(self, name) for name in CALLBACKS if options[name]}
        self.interrupting = frozenset(options.get("interrupting", ()))
        fallback = self.fallback if options["fallback"] else None
        if isinstance(config["recovery_timeout"], BackoffSpec):
            # A policy of its own, with a Random of its own: no copy draws for another.
            config = {**config, "recovery_timeout": config["recovery_timeout"].build()}
        if isinstance(config["strategy"], WindowSpec):
            config = {**config, "strategy": config["strategy"].build()}
        self.breaker = cls(clock=self.clock, fallback=fallback, **callbacks, **config)

    def __repr__(self):
        return f"<Subject {self.label} now={self.clock.now!r}>"

    def log(self, kind, breaker, *args):
        counts = (breaker.error_count, breaker.success_count, breaker.half_open_calls)
        self.events.append((kind, breaker, args, counts))
        if "on_" + kind in self.interrupting:
            raise Interrupt(kind)

    def on_state_change(self, breaker, old, new):
        self.log("state_change", breaker, old, new)

    def on_open(self, breaker, cause):
        self.log("open", breaker, cause)

    def on_half_open(self, breaker):
        self.log("half_open", breaker)

    def on_close(self, breaker):
        self.log("close", breaker)

    def fallback(self, *args, **kwargs):
        result = Fallback(args, kwargs)
        self.fallbacks.append(result)
        return result

    def call(self, raises, returns, decorated, duration):
        def guarded(*args, **kwargs):
            self.runs.append((args, kwargs))
            self.clock.now += duration  # the call takes its time
            if raises is not None:
                raise raises
            return returns

        target = self.breaker(guarded) if decorated else functools.partial(self.breaker.call, guarded)
        try:
            result = target(*ARGS, **KWARGS)
        except BaseException as error:  # KeyboardInterrupt and Halt included, on purpose
            return ("raised", error)
        return ("returned", result)

    def enter(self, lane):
        try:
            entered = self.lanes[lane].run(self.breaker.__enter__)
        except BaseException as error:
            return ("raised", error)
        return ("entered", entered)

    def exit(self, raises, lane):
        return self.lanes[lane].run(self._exit, raises)

    def _exit(self, raises):
        try:
            if raises is None:
                suppress = self.breaker.__exit__(None, None, None)
            else:
                try:
                    raise raises
                except BaseException as error:
                    suppress = self.breaker.__exit__(type(error), error, error.__traceback__)
        except BaseException as error:
            return ("raised", error)
        return ("exited", suppress)

    def with_block(self, raises, duration):
        try:
            with self.breaker as entered:
                # What check_outcome expects of a body that ran: `as` gave the breaker.
                self.runs.append((ARGS, KWARGS) if entered is self.breaker else entered)
                self.clock.now += duration
                if raises is not None:
                    raise raises
        except BaseException as error:
            return ("raised", error)
        return ("completed", None)


IMPLS = {}


def implementations():
    if not IMPLS:
        for key in ("c", "py"):
            IMPLS[key] = load_impl(key).CircuitBreaker
        # The compiled twin must really be the extension module, not the pure twin.
        assert IMPLS["c"].__module__ == "pycircuitbreaker._core_c"
        assert IMPLS["py"].__module__ == "pycircuitbreaker._core_py"
        assert IMPLS["c"] is not IMPLS["py"]
    return IMPLS


# -- comparing --------------------------------------------------------------------------


def check_rejection(subject, expected, got):
    where = f"[{subject.label}]"
    assert got[0] == "raised", f"{where} expected {expected!r}, got {got!r}"
    error = got[1]
    assert type(error) is CircuitBreakerException, f"{where} expected {expected!r}, got {error!r}"
    assert error.breaker is subject.breaker, f"{where} rejection names another breaker"
    _, state, error_count, remaining, period = expected
    assert error.state is state, f"{where} rejected in {error.state}, expected {state}"
    assert len(error.args) == 5 and error.args[4] is state, f"{where} rejection args {error.args!r}"
    # Documented snapshot: (breaker, error_count, recovery_at, remaining seconds, state).
    assert error.args[1] == error_count, f"{where} rejection snapshot error_count"
    if state is OPEN:
        assert isinstance(error.args[2], float), f"{where} rejection recovery_at"
        assert error.args[3] == remaining, f"{where} rejection remaining"
        assert error.args[3] > 0, f"{where} rejected although recovery time has come"
        # recovery_at is wall-clock: the opening's wall time plus the period in force.
        opened = subject.breaker.open_time.timestamp()
        assert abs(error.args[2] - opened - period) < 1e-5, f"{where} rejection recovery_at"
    else:
        assert error.args[2:4] == (None, None), f"{where} {state} rejection has a recovery time"
    str(error)  # every kind of rejection renders


def check_outcome(subject, expected, got, before, ran):
    """Compare one step's outcome; ``ran``: whether an admitted step runs user code."""
    where = f"[{subject.label}]"
    runs_before, fallbacks_before = before
    kind = expected[0]
    if kind == "fallback":
        assert len(subject.runs) == runs_before, f"{where} rejected call ran the function"
        assert len(subject.fallbacks) == fallbacks_before + 1, f"{where} fallback not run once"
        assert got[0] == "returned", f"{where} expected the fallback's result, got {got!r}"
        assert got[1] is subject.fallbacks[-1], f"{where} expected the fallback's result"
        assert got[1].args == ARGS and got[1].kwargs == KWARGS, f"{where} fallback arguments"
        return
    assert len(subject.fallbacks) == fallbacks_before, f"{where} fallback ran: {got!r}"
    if kind == "interrupted":
        assert got[0] == "raised" and type(got[1]) is Interrupt, f"{where} expected an interrupt, got {got!r}"
        ran_too = 1 if expected[1] else 0
        assert len(subject.runs) == runs_before + ran_too, f"{where} ran {expected!r}"
        return
    if kind == "rejected":
        check_rejection(subject, expected, got)
        assert len(subject.runs) == runs_before, f"{where} rejected call ran the function"
        return
    if ran:
        assert len(subject.runs) == runs_before + 1, f"{where} did not run exactly once"
        assert subject.runs[-1] == (ARGS, KWARGS), f"{where} arguments not forwarded"
    else:
        assert len(subject.runs) == runs_before, f"{where} ran user code"
    if kind == "entered":
        assert got == ("entered", subject.breaker), f"{where} __enter__ gave {got!r}"
    elif kind == "exited":
        # False, not merely falsy: __exit__ must never suppress.
        assert got[0] == "exited" and got[1] is False, f"{where} __exit__ gave {got!r}"
    elif kind == "no_block":
        assert got[0] == "raised" and type(got[1]) is RuntimeError, f"{where} {got!r}"
    elif kind == "completed":
        assert got == ("completed", None), f"{where} expected the block to complete, got {got!r}"
    else:
        assert got[0] == kind, f"{where} expected {expected!r}, got {got!r}"
        assert got[1] is expected[1], f"{where} expected the very {expected[1]!r}, got {got[1]!r}"


def check_agreement(subject, model, step_no, read_state):
    where = f"[{subject.label}] after step {step_no}"
    breaker = subject.breaker
    assert subject.clock.now == model.now, f"{where} test clocks diverged"
    # Counters first: reading them never moves OPEN to HALF_OPEN.
    assert breaker.error_count == model.error_count, f"{where} error_count {model!r}"
    assert breaker.success_count == model.success_count, f"{where} success_count {model!r}"
    assert breaker.half_open_calls == model.permits, f"{where} half_open_calls {model!r}"
    # The open period in force (before the first opening: the one planned); reading
    # these never moves OPEN to HALF_OPEN either. Wall-clock datetimes: to the microsecond.
    period = (breaker.recovery_start_time - breaker.open_time).total_seconds()
    assert abs(period - model.open_period) <= 1e-6, f"{where} open period {period!r} {model!r}"
    # The view async wrappers read instead of admitting: quiet exactly while CLOSED with
    # nothing counted and no window.
    quiet = model.mode is CLOSED and model.error_count == 0 and model.window is None
    assert (breaker._quiet.token is not None) == quiet, f"{where} quiet view {model!r}"
    if read_state:
        want, want_interrupted = model.read_once()
        try:
            state = breaker.state
            interrupted = False
        except Interrupt:
            # Announcing HALF_OPEN was interrupted: the move stands.
            state, interrupted = breaker.state, True
        assert interrupted == want_interrupted, f"{where} reading state: interrupted {interrupted}"
        assert state is want, f"{where} state {state} != {model.mode} {model!r}"
        # Reading the state may have announced HALF_OPEN, and changes no counter.
        assert breaker.half_open_calls == model.permits, f"{where} half_open_calls {model!r}"
        # metrics() reads the state too: only once it was read, so it announces nothing.
        would_open = breaker.metrics().would_open
        assert would_open == model.would_open, f"{where} would_open {would_open} {model!r}"
    events = subject.events
    # Built only on failure; never repr() a breaker in it: that reads .state, which may
    # announce HALF_OPEN.
    def log(what=""):
        shown = [(kind, args, counts) for kind, _, args, counts in events]
        return f"{where} events{what} {shown!r} != {model.events!r}"

    assert len(events) == len(model.events), log()
    for got, want in zip(events, model.events):
        kind, breaker_seen, args, counts = got
        assert breaker_seen is breaker, f"{where} callback got another breaker"
        assert kind == want[0] and len(args) == len(want[1]), log()
        assert all(a is b for a, b in zip(args, want[1])), log(": arguments by identity")
        assert counts == want[2], log(f": counts seen by {kind}")


# -- running a case ------------------------------------------------------------------------


def note_coverage(kind, model, expected):
    """Hypothesis statistics (``--hypothesis-show-statistics``): what the run reached."""
    if expected[0] == "rejected":
        model.note(f"{kind} rejected in {expected[1].name}")
    elif expected[0] == "fallback":
        model.note("fallback")
    if model.permits:
        model.note(f"{model.permits} permits held")


def duration_of(step):
    """Seconds a call or `with` body takes: its last parameter (explicit examples may
    leave it out, for 0)."""
    given_at = 2 if step[0] == "with" else 3
    return step[given_at] if len(step) > given_at else 0


def model_step(model, step, raises, returns):
    model.interrupted = False
    kind = step[0]
    if kind == "enter":
        return model.enter(step[2])
    if kind == "exit":
        return model.exit(raises, step[2])
    if kind == "with":
        return model.with_block(raises, duration_of(step))
    return model.call(raises, returns, duration_of(step))


def subject_step(subject, step, raises, returns):
    kind = step[0]
    if kind == "enter":
        return subject.enter(step[2])
    if kind == "exit":
        return subject.exit(raises, step[2])
    if kind == "with":
        return subject.with_block(raises, duration_of(step))
    return subject.call(raises, returns, step[2], duration_of(step))


def strategy_name(strategy):
    if isinstance(strategy, WindowSpec):
        slow = "" if strategy.slow_call_duration is None else ", slow calls"
        return f"{strategy.kind}_window{slow}"
    return repr(strategy)


def run(config, options, start, steps, keys=("c", "py")):
    impls = implementations() if "c" in keys else {"py": load_impl("py").CircuitBreaker}
    models = {
        "observed": Model("observed", config, options, start),
        "lazy": Model("lazy", config, options, start),
    }
    subjects = [
        Subject(f"{key}/{mode}", impls[key], config, options, start, observed=(mode == "observed"))
        for key in keys
        for mode in ("observed", "lazy")
    ]

    def model_of(subject):
        return models["observed" if subject.observed else "lazy"]

    # With an interrupting callback, the lazy breakers meet an interrupt in the step that
    # notices recovery, where the observed ones met it reading the state: from then on
    # each pair follows its own model.
    interrupts = bool(models["observed"].interrupting)

    models["observed"].note(f"strategy: {strategy_name(config['strategy'])}")

    def set_clocks(now):
        for model in models.values():
            model.now = now
        for subject in subjects:
            subject.clock.now = now

    for model in models.values():
        model.checked()
    for subject in subjects:
        check_agreement(subject, model_of(subject), 0, read_state=subject.observed)
    for step_no, step in enumerate(steps, 1):
        kind = step[0]
        read_lazy_state = False
        now = models["observed"].now
        if kind in ("return", "raise", "enter", "exit", "with"):
            # One object per step, shared by all, so identity can be checked.
            raises = returns = None
            if kind == "return":
                returns = Result(step[1])
            elif kind != "enter" and step[1] is not None:
                raises = step[1](f"step {step_no}")
            for _ in range(step[1] if kind == "enter" else 1):
                expected = {
                    label: model_step(model, step, raises, returns)
                    for label, model in models.items()
                }
                # Noticing HALF_OPEN early or late changes when it is announced, no outcome
                # (but for where an interrupting callback stops a call).
                if not interrupts:
                    assert expected["observed"] == expected["lazy"], f"models disagree: {expected!r}"
                note_coverage(kind, models["observed"], expected["observed"])
                for subject in subjects:
                    before = (len(subject.runs), len(subject.fallbacks))
                    got = subject_step(subject, step, raises, returns)
                    want = expected[model_of(subject).label]
                    check_outcome(subject, want, got, before, ran=kind not in ("enter", "exit"))
        elif kind in ("trip",) + tuple(CONTROLS):
            forced = CONTROLS.get(kind)
            for model in models.values():
                model.interrupted = False
                if forced is None:
                    model.trip()
                else:
                    model.force(forced)
            for subject in subjects:
                try:
                    got = getattr(subject.breaker, kind)()
                except Interrupt:
                    got = "interrupted"
                want = "interrupted" if model_of(subject).interrupted else None
                assert got == want, f"[{subject.label}] {kind}() gave {got!r}, not {want!r}"
        elif kind == "advance":
            set_clocks(now + step[1])
        elif kind in ("slice", "edge"):
            window = config["strategy"]
            by_time = getattr(window, "kind", None) == "time"
            width = window.width if by_time else 1.0
            index = math.floor(now / width) + 1
            records = models["observed"].records
            if kind == "slice":
                index += step[1]
            elif by_time and records:
                index = records[0][0] + window.buckets
            how = step[-1]
            moment = index * width if how == "naive" else slice_start(index, width)
            if how == "just_before":
                moment = math.nextafter(moment, -math.inf)
            if moment > now:
                set_clocks(moment)
        elif kind == "advance_timeout":
            # The period of the latest opening (backoff included): right after it opened,
            # an exact hit on its recovery moment.
            set_clocks(now + models["observed"].open_period)
        elif kind == "to_recovery":
            recover_at = models["observed"].recover_at
            if recover_at is not None:
                moment = recover_at
                if step[1] == "just_before":
                    moment = math.nextafter(moment, -math.inf)
                if moment > now:
                    set_clocks(moment)
        elif kind == "reinit":
            for subject in subjects:
                with pytest.raises(RuntimeError, match="already initialised"):
                    subject.breaker.__init__(error_threshold=1, recovery_timeout=0,
                                             fallback=None)
        else:
            assert kind == "state"
            read_lazy_state = True
        for model in models.values():
            model.checked()
        for subject in subjects:
            read_state = subject.observed or read_lazy_state
            check_agreement(subject, model_of(subject), step_no, read_state)
        observed, lazy = models["observed"], models["lazy"]
        if not interrupts:
            assert observed.counters() == lazy.counters(), f"models disagree: {observed!r} {lazy!r}"
    for model in models.values():
        model.checked()
    for subject in subjects:
        check_agreement(subject, model_of(subject), "end", read_state=True)
    # The twins count alike: every call, outcome, transition and time in state.
    for mode in ("observed", "lazy") if "c" in keys else ():
        compiled, pure = (
            dataclasses.replace(
                next(s for s in subjects if s.label == f"{key}/{mode}").breaker.metrics(),
                breaker_id=None,  # each subject has an id of its own
            )
            for key in ("c", "py")
        )
        assert compiled == pure, f"[{mode}] twins' metrics differ"


CONFIG_EXAMPLE = {
    "error_threshold": 2,
    "recovery_threshold": 2,
    "recovery_timeout": 0.1,
    "strategy": NET_ERROR,
    "detect_error": negative,
    "exception_whitelist": (Allowed,),
    "exception_blacklist": (Counted,),
    "half_open_max_calls": None,
}
ALL_HOOKS = {"fallback": False, **{name: True for name in CALLBACKS}}


# Every test below draws its cases alike.
drawn_cases = given(
    config=configs,
    options=option_sets,
    start=st.sampled_from([0, 0.0, 1000.0, 1e6 + 0.3]),
    steps=steps,
)


@pytest.mark.compiled
@settings(max_examples=300, deadline=None)
@drawn_cases
# NET_ERROR arithmetic, flagged results, lazy OPEN -> HALF_OPEN exactly at the boundary.
@example(
    config=CONFIG_EXAMPLE,
    options=ALL_HOOKS,
    start=1000.3,
    steps=[
        ("raise", Counted, False),
        ("return", 1, True),
        ("raise", Other, False),
        ("raise", Halt, False),
        ("return", -1, False),
        ("return", -2, False),
        ("return", 1, False),
        ("to_recovery", "just_before"),
        ("return", 1, False),
        ("to_recovery", "at"),
        ("return", 1, True),
        ("raise", CountedAllowed, False),
        ("return", -1, False),
        ("advance_timeout",),
        ("state",),
        ("return", 2, False),
        ("return", 2, False),
        ("state",),
    ],
)
# Half-open permits held by open blocks: exhausted (fallback for calls, rejection for
# `with`), given back by every kind of exit, taken back by a transition; a block from an
# older generation counts nothing; trip() from HALF_OPEN / FORCED_OPEN / DISABLED.
@example(
    config={**CONFIG_EXAMPLE, "recovery_threshold": 3, "half_open_max_calls": 2},
    options={**ALL_HOOKS, "fallback": True},
    start=0.0,
    steps=[
        ("enter", 1, 0),
        ("trip",),
        ("exit", Counted, 0),  # admitted while CLOSED: late, not counted
        ("advance_timeout",),
        ("enter", 1, 0),
        ("enter", 1, 0),
        ("return", 1, False),  # no permit left: fallback
        ("raise", Counted, True),  # likewise
        ("enter", 1, 0),  # `with` ignores the fallback: rejected in HALF_OPEN
        ("with", None),  # rejected too
        ("exit", Halt, 0),  # a BaseException gives its permit back, counts nothing
        ("return", 1, True),  # takes and gives back the free permit: one success
        ("exit", None, 0),  # second success
        ("enter", 1, 0),
        ("enter", 1, 0),
        ("exit", Allowed, 0),  # ignored exception: permit back, nothing counted
        ("exit", None, 0),  # third success closes
        ("exit", None, 0),  # nothing open any more: RuntimeError
        ("trip",),
        ("advance_timeout",),
        ("enter", 1, 0),
        ("force_open",),  # takes the permit back
        ("exit", Counted, 0),  # late
        ("return", 1, False),  # FORCED_OPEN: fallback
        ("trip",),
        ("disable",),
        ("raise", Counted, False),
        ("raise", Counted, False),
        ("raise", Counted, False),  # DISABLED never trips
        ("return", 1, False),  # NET_ERROR: one off
        ("with", Counted),
        ("trip",),
        ("state",),
        ("reset",),
        ("reset",),
    ],
)
# Blocks in two lanes end out of order: a block holding a permit from an earlier half-open
# period ends while the current one's permits are in use, and must give back none of them.
@example(
    config={**CONFIG_EXAMPLE, "recovery_threshold": 2, "half_open_max_calls": 2},
    options={**ALL_HOOKS, "fallback": True},
    start=0,
    steps=[
        ("trip",),
        ("advance_timeout",),
        ("enter", 1, 0),  # noticed by the lazy copies' admission
        ("trip",),
        ("to_recovery", "at"),
        ("enter", 1, 1),
        ("exit", None, 0),  # late: keeps lane 1's permit, counts no success
        ("enter", 1, 1),
        ("return", 1, True),  # both permits in use: fallback
        ("exit", Halt, 1),
        ("exit", Counted, 1),  # a trial error opens again
        ("exit", None, 1),  # nothing open in lane 1
    ],
)
# Backoff: open periods 1, 2, 3, 3 (capped) over an error from CLOSED, an error from
# HALF_OPEN, trip() from HALF_OPEN noticed by trip() itself and by an admission; every
# way out (a trial success, force_open(), disable(), reset() from OPEN) starts over at 1.
@example(
    config={
        **CONFIG_EXAMPLE,
        "error_threshold": 1,
        "recovery_threshold": 1,
        "recovery_timeout": BackoffSpec(1, 2, 3, 0, 0),
        "half_open_max_calls": 1,
    },
    options=ALL_HOOKS,
    start=0,
    steps=[
        ("raise", Counted, False),  # opening #0: 1 s
        ("to_recovery", "at"),
        ("raise", Counted, True),  # a trial error: #1, 2 s
        ("to_recovery", "just_before"),
        ("return", 1, False),  # rejected, the least time remaining
        ("to_recovery", "at"),
        ("trip",),  # the lazy copies' trip() notices HALF_OPEN first: #2, 4 s capped to 3
        ("advance_timeout",),  # exactly on the boundary
        ("enter", 1, 0),  # the trial permit
        ("trip",),  # from HALF_OPEN: #3, capped
        ("exit", None, 0),  # late
        ("to_recovery", "at"),
        ("return", 1, False),  # the trial succeeds: CLOSED, the backoff starts over
        ("trip",),  # #0 again: 1 s
        ("advance_timeout",),
        ("raise", Counted, False),  # #1: 2 s
        ("to_recovery", "at"),
        ("state",),
        ("force_open",),  # starts over
        ("trip",),  # 1 s
        ("to_recovery", "at"),
        ("trip",),  # 2 s
        ("disable",),  # starts over
        ("trip",),  # 1 s
        ("reset",),  # from OPEN: starts over
        ("trip",),  # 1 s
        ("to_recovery", "just_before"),
        ("with", None),  # rejected in OPEN
    ],
)
# Jitter: every copy draws from its own Random(seed), at construction and after every
# transition into anything but HALF_OPEN (closing and forcing included), never on the
# move to HALF_OPEN; periods 2.5 * 3**n, spread +-25%, uncapped.
@example(
    config={
        **CONFIG_EXAMPLE,
        "error_threshold": 1,
        "recovery_threshold": 2,
        "recovery_timeout": BackoffSpec(2.5, 3, None, 0.25, 2024),
    },
    options={**ALL_HOOKS, "fallback": True},
    start=1e6 + 0.3,
    steps=[
        ("trip",),
        ("to_recovery", "just_before"),
        ("raise", Counted, False),  # fallback
        ("to_recovery", "at"),
        ("return", -1, True),  # flagged: #1
        ("advance_timeout",),
        ("state",),
        ("return", 1, False),
        ("raise", Counted, False),  # #2
        ("to_recovery", "at"),
        ("trip",),  # #3
        ("to_recovery", "at"),
        ("with", None),
        ("with", None),  # closes
        ("raise", Counted, False),  # #0
        ("to_recovery", "at"),
        ("reset",),  # from HALF_OPEN, unnoticed by the lazy copies
        ("trip",),
        ("advance_timeout",),
        ("state",),
        ("trip",),  # #1
        ("force_open",),
        ("reset",),
        ("raise", Counted, False),
    ],
)
# A count window of 3 with slow calls (1 s, half of them): ignored exceptions are not
# recorded, however slow; blocks are timed each from its own __enter__, and one lasting
# exactly slow_call_duration is slow; a slow success opens it with no cause; HALF_OPEN
# records nothing and closing empties it; reset() and disable() empty it whatever the
# state (CLOSED / DISABLED included); DISABLED records but never opens; late blocks are
# not recorded.
@example(
    config={
        **CONFIG_EXAMPLE,
        "error_threshold": 1,  # ignored by windows
        "recovery_threshold": 1,
        "recovery_timeout": 1,
        "strategy": window_spec(
            "count", size=3, failure_rate=1.0, slow_call_duration=1, slow_call_rate=0.5
        ),
        "exception_blacklist": None,
    },
    options=ALL_HOOKS,
    start=0,
    steps=[
        ("return", 1, False, 0),  # [S]
        ("raise", Allowed, True, 5),  # ignored
        ("raise", Halt, False, 0),  # ignored
        ("return", -1, False, 0),  # [S F]
        ("enter", 1, 0),  # block A at 5
        ("enter", 1, 1),  # block B at 5
        ("advance", 0.5),
        ("enter", 1, 0),  # block C at 5.5
        ("advance", 0.5),
        ("exit", None, 0),  # C: 0.5 s, not slow: [S F S]
        ("exit", Counted, 1),  # B: exactly 1 s, slow: [F S E*], 1 slow of 3
        ("exit", None, 0),  # A: slow: [S E* S*], 2 slow: opens, no cause
        ("to_recovery", "at"),
        ("return", 1, False, 3),  # a slow trial: closes; nothing recorded
        ("return", -1, False, 0),  # [F]
        ("reset",),  # CLOSED to CLOSED: empty
        ("return", -1, False, 0),  # [F]
        ("disable",),  # empty
        ("raise", Counted, False, 0),
        ("raise", Counted, True, 0),
        ("with", Counted, 1),  # [E E E*]: DISABLED never opens
        ("disable",),  # DISABLED to DISABLED: empty
        ("return", 1, False, 0),  # [S]
        ("enter", 1, 0),
        ("reset",),
        ("exit", Counted, 0),  # late: not recorded
        ("return", -1, False, 0),  # [F]
        ("trip",),
        ("force_open",),  # empty
        ("disable",),
        ("return", -1, False, 0),  # [F]
        ("force_open",),
        ("reset",),
        ("with", None, 2),  # [S*]
        ("return", 1, True, 0),  # [S* S]
        ("return", -1, True, 0),  # [S* S F]: 1 slow of 3, 1 failure: stays CLOSED
        ("return", 1, False, 0),  # [S F S]
    ],
)
# A time window of 2.5 s in 3 slices of 0.8333... s (no binary fraction), far from 0,
# watched through error_count while DISABLED: a slice starts exactly where floor(t /
# width) says; the oldest slice drops out exactly at the start of slice oldest + 3, not
# just before; a jump of the whole window drops everything. Then CLOSED: at least
# minimum_calls, a third of them failing, opens.
@example(
    config={
        **CONFIG_EXAMPLE,
        "recovery_timeout": 0,
        "strategy": window_spec(
            "time", seconds=2.5, buckets=3, failure_rate=1 / 3, minimum_calls=3,
            slow_call_duration=0.5, slow_call_rate=1.0,
        ),
    },
    options=ALL_HOOKS,
    start=1e6 + 0.3,
    steps=[
        ("disable",),
        ("raise", Counted, False, 0),  # slice k
        ("slice", 0, "just_before"),
        ("raise", Counted, True, 0),  # still slice k: 2
        ("slice", 0, "at"),
        ("return", -1, False, 0),  # slice k + 1: 3
        ("edge", "just_before"),
        ("return", 1, False, 0),  # slice k + 2: 3
        ("edge", "at"),
        ("return", 1, False, 0),  # slice k + 3: k is out, 1
        ("edge", "at"),
        ("with", None, 0),  # slice k + 4: k + 1 is out, 0
        ("raise", Counted, False, 0),  # 1
        ("slice", 1, "naive"),
        ("raise", Counted, False, 0),  # 2
        ("advance", 2.5),
        ("return", 1, False, 0),  # all out: 0
        ("reset",),
        ("return", 1, False, 0.5),  # slow
        ("raise", Counted, False, 0),  # 1 failing of 2: below minimum_calls
        ("slice", 0, "at"),
        ("return", 1, False, 0.25),  # 1 failing of 3: opens, no cause
        ("state",),
        ("return", 1, False, 0),  # trials, not recorded, however slow
        ("return", 1, False, 0.5),  # closes: empty
        ("return", 1, False, 0.5),
        ("return", 1, False, 0.5),
        ("slice", 0, "at"),
        ("return", 1, False, 0.5),  # 3 slow of 3: opens, no cause
    ],
)
def test_cores_agree_with_model(config, options, start, steps):
    run(config, options, start, steps)


# The pure twin alone against the model: not marked compiled, so it runs wherever the
# compiled core is absent too (a pure install, the pure wheel's CI leg), and the pure
# twin is never left without its model there.
@settings(max_examples=300, deadline=None)
@drawn_cases
def test_pure_twin_agrees_with_model(config, options, start, steps):
    run(config, options, start, steps, keys=("py",))
