"""Bad configuration fails at construction with a message naming parameter and value."""

import math
from fractions import Fraction

import pytest

from pycircuitbreaker import CircuitBreakerStrategy
from pycircuitbreaker.strategies import consecutive_errors, count_window, net_errors, time_window


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
    raises(impl, ValueError, f"{name} must be an int from 1 to 2147483647, got {value}", **{name: value})


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
    raises(impl, ValueError, f"recovery_timeout must be a number of seconds >= 0 and <= 1e+09, got {value!r}",
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


# None is the default rule (see test_signatures).
@pytest.mark.parametrize("value", ["NET_ERROR", 1])
def test_unknown_strategy_is_a_value_error(impl, value):
    raises(impl, ValueError,
           f"strategy must be a CircuitBreakerStrategy member (SINGLE_RESET or NET_ERROR) "
           f"or a strategy object such as count_window(), got {value!r}",
           strategy=value)


def test_base_strategy_class_is_not_a_strategy(impl):
    # It has no rule of its own: the compiled twin once failed with a bare TypeError here
    # while the pure twin accepted it.
    from pycircuitbreaker import Strategy

    base = Strategy()
    raises(impl, ValueError,
           f"strategy must be a CircuitBreakerStrategy member (SINGLE_RESET or NET_ERROR) "
           f"or a strategy object such as count_window(), got {base!r}",
           strategy=base)


def test_known_strategies_are_accepted(impl):
    for strategy in CircuitBreakerStrategy:
        assert impl.CircuitBreaker(strategy=strategy).config.strategy is strategy


def test_unhashable_breaker_id(impl):
    raises(impl, TypeError, "breaker_id must be hashable, got [1] (list)", breaker_id=[1])


def test_registry_must_have_register(impl):
    raises(impl, TypeError, "registry must be a CircuitBreakerRegistry or None, got {} (dict)", registry={})


def test_unknown_option_is_a_type_error(impl):
    raises(impl, TypeError, "CircuitBreaker() got an unexpected option 'error_treshold'; "
           "did you mean 'error_threshold'?", error_treshold=3)


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
    raises(impl, ValueError, f"half_open_max_calls must be an int from 1 to 2147483647, got {value}",
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
        ({"half_open_max_calls": 0}, ValueError, "half_open_max_calls must be an int from 1 to 2147483647, got 0"),
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


# -- strategy objects (pycircuitbreaker.strategies) ----------------------------------------

def strategy_raises(factory, exc_type, message, **params):
    """The strategy object itself refuses bad parameters, before any breaker exists."""
    with pytest.raises(exc_type) as info:
        factory(**params)
    assert str(info.value) == message


WINDOW_FACTORIES = [count_window, time_window]
INT_PARAMS = [(count_window, "size"), (count_window, "minimum_calls"),
              (time_window, "buckets"), (time_window, "minimum_calls")]
# The documented upper bounds (docs/options.md).
INT_PARAM_MAXIMUM = {(count_window, "size"): 1_000_000, (count_window, "minimum_calls"): 2**31 - 1,
                     (time_window, "buckets"): 1_000, (time_window, "minimum_calls"): 2**31 - 1}


@pytest.mark.parametrize("factory, name", INT_PARAMS)
@pytest.mark.parametrize("value", [0, -1, "above"])
def test_window_int_params_out_of_range(factory, name, value):
    maximum = INT_PARAM_MAXIMUM[factory, name]
    if value == "above":
        value = maximum + 1
    strategy_raises(factory, ValueError, f"{name} must be an int from 1 to {maximum}, got {value}",
                    **{name: value})


@pytest.mark.parametrize("factory, name", INT_PARAMS)
@pytest.mark.parametrize(
    "value, shown",
    [(2.0, "2.0 (float)"), ("3", "'3' (str)"), (True, "True (bool)"), (Fraction(4), "Fraction(4, 1) (Fraction)")],
)
def test_window_int_params_wrong_type(factory, name, value, shown):
    strategy_raises(factory, TypeError, f"{name} must be an int, got {shown}", **{name: value})


def test_count_window_size_none_is_a_type_error():
    strategy_raises(count_window, TypeError, "size must be an int, got None (NoneType)", size=None)


@pytest.mark.parametrize("size, minimum_calls", [(10, 11), (1, 2), (100, 101)])
def test_count_window_minimum_calls_must_not_exceed_size(size, minimum_calls):
    strategy_raises(count_window, ValueError,
                    f"minimum_calls must be <= size ({size}), got {minimum_calls}",
                    size=size, minimum_calls=minimum_calls)


def test_count_window_minimum_calls_defaults_to_size_and_may_equal_it():
    assert count_window(size=7).minimum_calls == 7
    assert count_window().window_size == 100 and count_window().minimum_calls == 100
    assert count_window(size=10, minimum_calls=10).minimum_calls == 10
    assert count_window(size=10, minimum_calls=1).minimum_calls == 1


def test_time_window_minimum_calls_is_not_bounded_by_buckets():
    # A time window holds any number of calls: minimum_calls has no upper bound.
    assert time_window(buckets=2, minimum_calls=1000).minimum_calls == 1000


@pytest.mark.parametrize("factory", WINDOW_FACTORIES)
@pytest.mark.parametrize("name", ["failure_rate", "slow_call_rate"])
@pytest.mark.parametrize("value", [0, 0.0, -0.5, 1.0000001, 2, math.inf, -math.inf, math.nan])
def test_rates_out_of_range(factory, name, value):
    strategy_raises(factory, ValueError, f"{name} must be > 0 and <= 1, got {value!r}", **{name: value})


@pytest.mark.parametrize("factory", WINDOW_FACTORIES)
@pytest.mark.parametrize("name", ["failure_rate", "slow_call_rate"])
@pytest.mark.parametrize(
    "value, shown",
    [("0.5", "'0.5' (str)"), (True, "True (bool)"), (None, "None (NoneType)"), (0.5j, "0.5j (complex)")],
)
def test_rates_wrong_type(factory, name, value, shown):
    strategy_raises(factory, TypeError, f"{name} must be a real number, got {shown}", **{name: value})


@pytest.mark.parametrize("factory", WINDOW_FACTORIES)
@pytest.mark.parametrize("name", ["failure_rate", "slow_call_rate"])
@pytest.mark.parametrize("value, rate", [(1, 1.0), (1e-9, 1e-9), (0.5, 0.5), (Fraction(1, 4), 0.25)])
def test_rates_accept_reals_in_range(factory, name, value, rate):
    got = getattr(factory(**{name: value}), name)
    assert got == rate and type(got) is float


@pytest.mark.parametrize("factory", WINDOW_FACTORIES)
@pytest.mark.parametrize("value", [-0.5, -1, math.inf, math.nan])
def test_slow_call_duration_out_of_range(factory, value):
    strategy_raises(factory, ValueError,
                    f"slow_call_duration must be a number of seconds >= 0 and <= 1e+09, got {value!r}",
                    slow_call_duration=value)


@pytest.mark.parametrize("factory", WINDOW_FACTORIES)
@pytest.mark.parametrize("value, shown", [("1", "'1' (str)"), (True, "True (bool)"), (1j, "1j (complex)")])
def test_slow_call_duration_wrong_type(factory, value, shown):
    strategy_raises(factory, TypeError,
                    f"slow_call_duration must be a real number of seconds, got {shown}",
                    slow_call_duration=value)


@pytest.mark.parametrize("factory", WINDOW_FACTORIES)
@pytest.mark.parametrize("value, duration", [(None, None), (0, 0.0), (2, 2.0), (Fraction(1, 2), 0.5)])
def test_slow_call_duration_accepts_none_and_seconds(factory, value, duration):
    assert factory(slow_call_duration=value).slow_call_duration == duration
    assert factory().slow_call_duration is None


@pytest.mark.parametrize("value", [0, 0.0])
def test_time_window_seconds_zero(value):
    strategy_raises(time_window, ValueError,
                    f"seconds must be a number of seconds >= 0.001 and <= 1e+09, got {value!r}", seconds=value)


@pytest.mark.parametrize("value", [-1, -0.5, math.inf, math.nan])
def test_time_window_seconds_negative_or_not_finite_states_the_range(value):
    # Every refused value gets the same message, with the whole range: one saying
    # ">= 0" for -1 would send the user to 0, which is refused too.
    strategy_raises(time_window, ValueError,
                    f"seconds must be a number of seconds >= 0.001 and <= 1e+09, got {value!r}", seconds=value)


@pytest.mark.parametrize("value, shown", [("60", "'60' (str)"), (True, "True (bool)"), (None, "None (NoneType)")])
def test_time_window_seconds_wrong_type(value, shown):
    strategy_raises(time_window, TypeError, f"seconds must be a real number of seconds, got {shown}",
                    seconds=value)


@pytest.mark.parametrize("value, seconds", [(60, 60.0), (0.5, 0.5), (1e-3, 1e-3), (1e9, 1e9),
                                            (Fraction(3, 2), 1.5)])
def test_time_window_seconds_accepts_positive_reals(value, seconds):
    assert time_window(seconds=value).window_seconds == seconds


def test_window_defaults():
    window = count_window()
    assert (window.window_size, window.failure_rate, window.minimum_calls) == (100, 0.5, 100)
    assert (window.slow_call_duration, window.slow_call_rate) == (None, 1.0)
    window = time_window()
    assert (window.window_seconds, window.window_size, window.failure_rate) == (60.0, 10, 0.5)
    assert (window.minimum_calls, window.slow_call_duration, window.slow_call_rate) == (10, None, 1.0)


@pytest.mark.parametrize(
    "factory, params, exc_type, message",
    [
        (count_window, {"size": 0}, ValueError, "size must be an int from 1 to 1000000, got 0"),
        (count_window, {"size": 10, "minimum_calls": 11}, ValueError,
         "minimum_calls must be <= size (10), got 11"),
        (count_window, {"failure_rate": 0}, ValueError, "failure_rate must be > 0 and <= 1, got 0"),
        (count_window, {"failure_rate": "0.5"}, TypeError,
         "failure_rate must be a real number, got '0.5' (str)"),
        (time_window, {"seconds": 0}, ValueError, "seconds must be a number of seconds >= 0.001 and <= 1e+09, got 0"),
        (time_window, {"buckets": 0}, ValueError, "buckets must be an int from 1 to 1000, got 0"),
    ],
)
def test_strategy_errors_surface_where_the_breaker_is_written(impl, factory, params, exc_type, message):
    # Built inline, a bad strategy fails at the CircuitBreaker(...) / @circuit(...) line.
    for build in (lambda: impl.CircuitBreaker(strategy=factory(**params)),
                  lambda: impl.circuit(strategy=factory(**params))):
        with pytest.raises(exc_type) as info:
            build()
        assert str(info.value) == message


@pytest.mark.parametrize("factory", [count_window, time_window, consecutive_errors, net_errors])
def test_strategy_class_instead_of_an_instance_is_refused(impl, factory):
    raises(impl, ValueError,
           f"strategy must be a CircuitBreakerStrategy member (SINGLE_RESET or NET_ERROR) "
           f"or a strategy object such as count_window(), got {factory!r}",
           strategy=factory)


@pytest.mark.parametrize("factory", [count_window, time_window, consecutive_errors, net_errors])
def test_strategy_objects_are_accepted(impl, factory):
    strategy = factory()
    assert impl.CircuitBreaker(strategy=strategy).config.strategy is strategy
