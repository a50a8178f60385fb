"""OpenTelemetry for breakers (``pycircuitbreaker[opentelemetry]``): metrics, span events.

Every instrument is observable: its callback reads each breaker's ``metrics()`` when the
SDK collects, so calls through the breakers pay nothing for it. Span events, once
enabled, mark rejections and transitions on the span active where they happen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.metrics import (
    CallbackOptions,
    Instrument,
    MeterProvider,
    Observation,
    get_meter,
)

from . import _events
from ._export import DESCRIPTIONS, OUTCOMES, STATES, SnapshotReader, state_label
from ._validate import describe
from ._version import __version__
from .registry import CircuitBreakerRegistry

if TYPE_CHECKING:
    from ._metrics import BreakerMetrics
    from ._protocols import Breaker
    from .exceptions import CircuitBreakerException
    from .state import CircuitBreakerState

# A measure: the (value, attributes) of one breaker's points for one instrument.
Points = Iterator[tuple[float, dict[str, str]]]

PREFIX = "pycircuitbreaker"
#: The names of the span events, and the prefix of their attributes.
REJECTED_EVENT = f"{PREFIX}.rejected"
TRANSITION_EVENT = f"{PREFIX}.transition"


def enable_span_events() -> None:
    """Add a span event to the active span for each rejection and each transition.

    A rejection adds ``pycircuitbreaker.rejected`` (the breaker's id, the state that
    rejected, and ``retry_after`` when known), a transition
    ``pycircuitbreaker.transition`` (the id, the old and new states, and what tripped
    it). Every breaker of the process, either core; nothing is added where no span is
    recording. Off until called: a rejection then pays one comparison for it.
    """
    _events.set_hooks(_rejected, _transition)


def disable_span_events() -> None:
    """Stop adding span events (see enable_span_events)."""
    _events.set_hooks(None, None)


def _rejected(rejection: CircuitBreakerException) -> None:
    span = trace.get_current_span()
    if not span.is_recording():
        return
    state = rejection.state
    attributes: dict[str, str | float] = {
        f"{PREFIX}.breaker_id": str(getattr(rejection.breaker, "id", None)),
        f"{PREFIX}.state": "" if state is None else state.name,
    }
    if rejection.retry_after is not None:
        attributes[f"{PREFIX}.retry_after"] = rejection.retry_after
    span.add_event(REJECTED_EVENT, attributes)


def _transition(breaker: Breaker, old: CircuitBreakerState, new: CircuitBreakerState,
                cause: object) -> None:
    span = trace.get_current_span()
    if not span.is_recording():
        return
    attributes = {f"{PREFIX}.breaker_id": str(breaker.id),
                  f"{PREFIX}.old_state": old.name, f"{PREFIX}.new_state": new.name}
    if cause is not None:
        attributes[f"{PREFIX}.cause"] = _events.describe(cause)
    span.add_event(TRANSITION_EVENT, attributes)


def instrument(
    registry: CircuitBreakerRegistry, meter_provider: MeterProvider | None = None
) -> tuple[Instrument, ...]:
    """Publish the breakers of ``registry`` as observable instruments; return them.

    The meter comes from ``meter_provider`` (default: the global one). Call this once per
    registry and provider: a second call would report every breaker twice.
    """
    if meter_provider is not None and not isinstance(meter_provider, MeterProvider):
        raise TypeError(
            "meter_provider must be an opentelemetry MeterProvider or None,"
            f" got {describe(meter_provider)}"
        )
    reader = SnapshotReader(registry)
    meter = get_meter(PREFIX, __version__, meter_provider)

    def observing(
        measure: Callable[[str, BreakerMetrics], Points],
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        """Return a callback observing ``measure(label, snapshot)`` for each breaker."""

        def callback(options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(value, attributes)
                for label, snap in reader.read()
                for value, attributes in measure(label, snap)
            ]

        return callback

    # (instrument kind, name after the prefix, measure, unit); the description is the
    # name's in DESCRIPTIONS. The state gauge has no unit: it is a 0/1 flag per state,
    # and "1" would make the Prometheus exporter call it a ratio.
    table = (
        (meter.create_observable_gauge, "state", _state, ""),
        (meter.create_observable_counter, "calls", _calls, "{call}"),
        (meter.create_observable_counter, "slow_calls", _slow_calls, "{call}"),
        (meter.create_observable_counter, "transitions", _transitions, "{transition}"),
        (meter.create_observable_gauge, "failure_rate", _failure_rate, "1"),
        (meter.create_observable_gauge, "slow_call_rate", _slow_call_rate, "1"),
        (meter.create_observable_gauge, "time_in_state", _time_in_state, "s"),
    )
    return tuple(
        create(f"{PREFIX}.{name}", [observing(measure)], unit=unit,
               description=DESCRIPTIONS[name])
        for create, name, measure, unit in table
    )


def _state(label: str, snap: BreakerMetrics) -> Points:
    for state in STATES:
        yield (1 if snap.state is state else 0), {"breaker": label, "state": state_label(state)}


def _calls(label: str, snap: BreakerMetrics) -> Points:
    for outcome, attribute in OUTCOMES:
        yield getattr(snap, attribute), {"breaker": label, "outcome": outcome}


def _slow_calls(label: str, snap: BreakerMetrics) -> Points:
    yield snap.slow_calls, {"breaker": label}


def _transitions(label: str, snap: BreakerMetrics) -> Points:
    for state in STATES:
        yield snap.transitions_to[state], {"breaker": label, "state": state_label(state)}


def _failure_rate(label: str, snap: BreakerMetrics) -> Points:
    # A breaker without a window has no rate: no point beats a made-up 0.
    if snap.failure_rate is not None:
        yield snap.failure_rate, {"breaker": label}


def _slow_call_rate(label: str, snap: BreakerMetrics) -> Points:
    if snap.slow_call_rate is not None:
        yield snap.slow_call_rate, {"breaker": label}


def _time_in_state(label: str, snap: BreakerMetrics) -> Points:
    yield snap.time_in_state, {"breaker": label}
