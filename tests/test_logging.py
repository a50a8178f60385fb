"""Transitions are logged once each on the pycircuitbreaker logger; calls never are."""

import logging
import subprocess
import sys

import pytest
from conftest import Boom, core_env, fail, ok

LOGGER = "pycircuitbreaker"


def records(caplog):
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_full_cycle_is_logged_with_levels_and_the_id(impl, clock, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    breaker = impl.CircuitBreaker(breaker_id="payments", error_threshold=2, recovery_timeout=10,
                                  clock=clock)
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail(Boom("down")))
    clock.advance(11)
    breaker.call(ok())
    assert records(caplog) == [
        (logging.WARNING, "circuit breaker 'payments': CLOSED -> OPEN (Boom: down)"),
        (logging.INFO, "circuit breaker 'payments': OPEN -> HALF_OPEN"),
        (logging.INFO, "circuit breaker 'payments': HALF_OPEN -> CLOSED"),
    ]


def test_manual_control_and_detected_results_are_logged(impl, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    breaker = impl.CircuitBreaker(breaker_id="db", error_threshold=1,
                                  detect_error=lambda result: result == "bad")
    breaker.call(lambda: "bad")
    breaker.force_open()
    breaker.disable()
    breaker.reset()
    assert records(caplog) == [
        (logging.WARNING, "circuit breaker 'db': CLOSED -> OPEN (result 'bad')"),
        (logging.WARNING, "circuit breaker 'db': OPEN -> FORCED_OPEN"),
        (logging.INFO, "circuit breaker 'db': FORCED_OPEN -> DISABLED"),
        (logging.INFO, "circuit breaker 'db': DISABLED -> CLOSED"),
    ]


def test_calls_are_never_logged(impl, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    breaker = impl.CircuitBreaker(error_threshold=10**6)
    wrapped = breaker(ok())
    for _ in range(1000):
        wrapped()
        with pytest.raises(Boom):
            breaker.call(fail())
    assert records(caplog) == []


def test_nothing_is_formatted_when_the_level_is_off(impl, caplog):
    caplog.set_level(logging.ERROR, logger=LOGGER)

    class Loud(Exception):
        def __str__(self):
            raise AssertionError("formatted although nobody logs it")

    breaker = impl.CircuitBreaker(error_threshold=1)
    with pytest.raises(Loud):
        breaker.call(fail(Loud()))
    assert records(caplog) == []


def test_a_cause_that_cannot_be_shown_does_not_replace_the_callers_error(impl, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    class Unshowable(Exception):
        def __str__(self):
            raise RuntimeError("no str for you")

    breaker = impl.CircuitBreaker(breaker_id="odd", error_threshold=1)
    error = Unshowable()
    with pytest.raises(Unshowable) as raised:
        breaker.call(fail(error))
    assert raised.value is error
    assert records(caplog) == [
        (logging.WARNING,
         "circuit breaker 'odd': CLOSED -> OPEN (a Unshowable that cannot be shown)"),
    ]


def test_transition_records_carry_structured_fields(impl, clock, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    breaker = impl.CircuitBreaker(breaker_id="payments", error_threshold=1, recovery_timeout=10,
                                  clock=clock)
    error = Boom("down")
    with pytest.raises(Boom):
        breaker.call(fail(error))
    breaker.reset()
    fields = [(r.breaker_id, r.old_state, r.new_state, r.cause)
              for r in caplog.records if r.name == LOGGER]
    assert fields == [("payments", "CLOSED", "OPEN", error), ("payments", "OPEN", "CLOSED", None)]


def test_a_failing_callback_names_breaker_and_callback_as_fields(impl, caplog):
    caplog.set_level(logging.ERROR, logger=LOGGER)

    def broken(breaker, error):
        raise ValueError("bug in a callback")

    breaker = impl.CircuitBreaker(breaker_id="db", error_threshold=1, on_open=broken)
    with pytest.raises(Boom):
        breaker.call(fail())
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert (record.breaker_id, record.callback) == ("db", "on_open")


QUIET_SCRIPT = """
import sys
import pycircuitbreaker
assert pycircuitbreaker.IMPLEMENTATION == sys.argv[1], pycircuitbreaker.IMPLEMENTATION
breaker = pycircuitbreaker.CircuitBreaker(error_threshold=1,
                                          on_open=lambda breaker, error: 1 / 0)
try:
    breaker.call(lambda: 1 / 0)
except ZeroDivisionError:
    pass
print(breaker.state.name)
"""


def test_nothing_reaches_stderr_when_logging_is_not_configured(impl, tmp_path):
    # An opening (WARNING) and a failing callback (ERROR): with no handler configured,
    # Python's last-resort handler would print both; the library's NullHandler keeps
    # them for the user's own logging configuration.
    script = tmp_path / "quiet.py"
    script.write_text(QUIET_SCRIPT)
    env = core_env(impl)
    expected = "python" if impl.name == "py" else "cython"
    result = subprocess.run([sys.executable, str(script), expected], env=env,
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "OPEN\n", "")
