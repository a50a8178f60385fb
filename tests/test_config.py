"""Bad configuration fails at construction with a message naming parameter and value."""

import math
from fractions import Fraction

import pytest

from pycircuitbreaker import CircuitBreakerStrategy


def raises(impl, exc_type, message, **options):
    with pytest.raises(exc_type) as info:
        impl.CircuitBreaker(**options)
    assert str(info.value) == message


@pytest.mark.parametrize("name", ["error_threshold", "recovery_threshold"])
@pytest.mark.parametrize(
    "value, shown",
    [(2.0, "2.0 (float)"), ("3", "'3' (str)"), (True, "True (bool)"), (None, "None (NoneType)")],
)
def test_threshold_wrong_type(impl, name, value, shown):
    raises(impl, TypeError, f"{name} must be an int, got {shown}", **{name: value})


@pytest.mark.parametrize("name", ["error_threshold", "recovery_threshold"])
@pytest.mark.parametrize("value", [0, -1])
def test_threshold_out_of_range(impl, name, value):
    raises(impl, ValueError, f"{name} must be an int >= 1, got {value}", **{name: value})


@pytest.mark.parametrize("name", ["error_threshold", "recovery_threshold"])
def test_threshold_accepts_one(impl, name):
    assert getattr(impl.CircuitBreaker(**{name: 1}).config, name) == 1


@pytest.mark.parametrize(
    "value, shown", [("30", "'30' (str)"), (True, "True (bool)"), (None, "None (NoneType)"), (1j, "1j (complex)")]
)
def test_recovery_timeout_wrong_type(impl, value, shown):
    raises(impl, TypeError, f"recovery_timeout must be a real number of seconds, got {shown}",
           recovery_timeout=value)


@pytest.mark.parametrize("value", [-0.5, -1, math.inf, math.nan])
def test_recovery_timeout_out_of_range(impl, value):
    raises(impl, ValueError, f"recovery_timeout must be finite and >= 0 seconds, got {value!r}",
           recovery_timeout=value)


@pytest.mark.parametrize("value, seconds", [(0, 0.0), (2, 2.0), (0.25, 0.25), (Fraction(1, 2), 0.5)])
def test_recovery_timeout_accepts_real_numbers(impl, value, seconds):
    assert impl.CircuitBreaker(recovery_timeout=value).config.recovery_timeout == seconds


@pytest.mark.parametrize("name", ["detect_error", "on_open", "on_close", "clock"])
def test_callables_must_be_callable(impl, name):
    raises(impl, TypeError, f"{name} must be callable or None, got 42 (int)", **{name: 42})


@pytest.mark.parametrize("name", ["exception_blacklist", "exception_whitelist",
                                  "exception_denylist", "exception_allowlist"])
@pytest.mark.parametrize(
    "value, shown",
    [
        (ValueError, "<class 'ValueError'> (type)"),
        ("ValueError", "'ValueError' (str)"),
        (3, "3 (int)"),
    ],
)
def test_exception_list_must_be_an_iterable(impl, name, value, shown):
    canonical = name.replace("denylist", "blacklist").replace("allowlist", "whitelist")
    raises(impl, TypeError, f"{canonical} must be an iterable of exception classes, got {shown}",
           **{name: value})


@pytest.mark.parametrize("name", ["exception_blacklist", "exception_whitelist"])
@pytest.mark.parametrize("item, shown", [(ValueError(), "ValueError() (ValueError)"), (int, "<class 'int'> (type)")])
def test_exception_list_items_must_be_exception_classes(impl, name, item, shown):
    raises(impl, TypeError, f"{name} must contain only exception classes, got {shown}",
           **{name: [KeyError, item]})


@pytest.mark.parametrize("name", ["exception_blacklist", "exception_whitelist"])
def test_exception_list_accepts_any_iterable(impl, name):
    breaker = impl.CircuitBreaker(**{name: (c for c in [KeyError, OSError])})
    assert getattr(breaker.config, name) == (KeyError, OSError)


@pytest.mark.parametrize(
    "canonical, alias",
    [("exception_blacklist", "exception_denylist"), ("exception_whitelist", "exception_allowlist")],
)
def test_alias_is_accepted_and_both_spellings_rejected(impl, canonical, alias):
    assert getattr(impl.CircuitBreaker(**{alias: [KeyError]}).config, canonical) == (KeyError,)
    raises(impl, TypeError, f"CircuitBreaker() got both {canonical!r} and its alias {alias!r}; pass only one",
           **{canonical: [KeyError], alias: [KeyError]})


@pytest.mark.parametrize("value", ["NET_ERROR", 1, None])
def test_unknown_strategy_is_a_value_error(impl, value):
    raises(impl, ValueError,
           f"strategy must be a CircuitBreakerStrategy member (SINGLE_RESET or NET_ERROR) "
           f"or a strategy object such as count_window(), got {value!r}",
           strategy=value)


def test_known_strategies_are_accepted(impl):
    for strategy in CircuitBreakerStrategy:
        assert impl.CircuitBreaker(strategy=strategy).config.strategy is strategy


def test_unhashable_breaker_id(impl):
    raises(impl, TypeError, "breaker_id must be hashable, got [1] (list)", breaker_id=[1])


def test_registry_must_have_register(impl):
    raises(impl, TypeError, "registry must be a CircuitBreakerRegistry or None, got {} (dict)", registry={})


def test_unknown_option_is_a_type_error(impl):
    raises(impl, TypeError, "CircuitBreaker() got an unexpected option 'error_treshold'", error_treshold=3)


def test_too_many_positional_options(impl):
    with pytest.raises(TypeError, match=r"takes at most 10 positional options, got 11"):
        impl.CircuitBreaker(*[None] * 11)


def test_positional_and_keyword_for_one_option(impl):
    with pytest.raises(TypeError, match=r"multiple values for option 'breaker_id'"):
        impl.CircuitBreaker("a", breaker_id="b")


def test_defaults_match_050(impl):
    config = impl.CircuitBreaker().config
    assert config.error_threshold == 5
    assert config.recovery_threshold == 1
    assert config.recovery_timeout == 30
    assert config.strategy is CircuitBreakerStrategy.SINGLE_RESET
    assert config.exception_blacklist == () and config.exception_whitelist == ()
    assert config.detect_error is None and config.on_open is None and config.on_close is None


# -- options added after 0.5.0 ----------------------------------------------------------


@pytest.mark.parametrize(
    "value, shown",
    [(2.0, "2.0 (float)"), ("3", "'3' (str)"), (True, "True (bool)"), (False, "False (bool)"),
     ([1], "[1] (list)")],
)
def test_half_open_max_calls_wrong_type(impl, value, shown):
    raises(impl, TypeError, f"half_open_max_calls must be an int, got {shown}", half_open_max_calls=value)


@pytest.mark.parametrize("value", [0, -1])
def test_half_open_max_calls_out_of_range(impl, value):
    raises(impl, ValueError, f"half_open_max_calls must be an int >= 1, got {value}",
           half_open_max_calls=value)


@pytest.mark.parametrize("value", [None, 1, 3, 10**6])
def test_half_open_max_calls_accepts_none_and_positive_ints(impl, value):
    assert impl.CircuitBreaker(half_open_max_calls=value).config.half_open_max_calls == value


@pytest.mark.parametrize("name", ["fallback", "on_half_open", "on_state_change"])
def test_new_callables_must_be_callable(impl, name):
    raises(impl, TypeError, f"{name} must be callable or None, got 42 (int)", **{name: 42})
    raises(impl, TypeError, f"{name} must be callable or None, got 'f' (str)", **{name: "f"})


@pytest.mark.parametrize("name", ["fallback", "on_half_open", "on_state_change"])
def test_new_callables_accept_callables_and_none(impl, name):
    def callback(*args, **kwargs):
        pass

    assert getattr(impl.CircuitBreaker(**{name: callback}).config, name) is callback
    assert getattr(impl.CircuitBreaker(**{name: None}).config, name) is None


def test_new_options_default_to_none(impl):
    config = impl.CircuitBreaker().config
    assert config.half_open_max_calls is None
    assert config.fallback is None and config.on_half_open is None and config.on_state_change is None


@pytest.mark.parametrize(
    "option, exc_type, message",
    [
        ({"half_open_max_calls": 0}, ValueError, "half_open_max_calls must be an int >= 1, got 0"),
        ({"half_open_max_calls": 1.5}, TypeError, "half_open_max_calls must be an int, got 1.5 (float)"),
        ({"fallback": 42}, TypeError, "fallback must be callable or None, got 42 (int)"),
        ({"on_half_open": 42}, TypeError, "on_half_open must be callable or None, got 42 (int)"),
        ({"on_state_change": 42}, TypeError, "on_state_change must be callable or None, got 42 (int)"),
    ],
)
def test_new_options_fail_where_the_decorator_is_written(impl, option, exc_type, message):
    with pytest.raises(exc_type) as info:
        impl.circuit(**option)
    assert str(info.value) == message


def test_new_options_are_keyword_only(impl):
    # The ten 0.5.0 options fill every positional slot; an eleventh positional value
    # cannot reach half_open_max_calls (or any later option).
    with pytest.raises(TypeError, match=r"takes at most 10 positional options, got 11"):
        impl.CircuitBreaker("db", None, 3, None, None, None, None, 1, 30,
                            CircuitBreakerStrategy.SINGLE_RESET, 2)
    breaker = impl.CircuitBreaker("db", None, 3, None, None, None, None, 1, 30,
                                  CircuitBreakerStrategy.SINGLE_RESET, half_open_max_calls=2)
    assert breaker.config.half_open_max_calls == 2 and breaker.config.error_threshold == 3
