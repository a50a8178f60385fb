"""The circuit decorator and breakers used as decorators, on both twins."""

import functools
import inspect

import pytest
from conftest import Boom, fail

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState


def sample(a, b=2):
    """Add two numbers."""
    return a + b


sample.custom = "kept"


def test_bare_form(impl):
    wrapped = impl.circuit(sample)
    assert wrapped(1) == 3
    assert isinstance(wrapped.breaker, impl.CircuitBreaker)


def test_bare_decorator_syntax(impl):
    @impl.circuit
    def f(x):
        return x * 2

    assert f(4) == 8
    assert f.breaker.config.error_threshold == 5


def test_options_form(impl):
    @impl.circuit(error_threshold=2, breaker_id="opts")
    def f():
        raise Boom()

    for _ in range(2):
        with pytest.raises(Boom):
            f()
    assert f.breaker.id == "opts"
    with pytest.raises(CircuitBreakerException):
        f()


def test_empty_parentheses(impl):
    @impl.circuit()
    def f():
        return 1

    assert f() == 1


def test_call_form(impl):
    wrapped = impl.circuit(sample, error_threshold=3)
    assert wrapped(1, b=5) == 6
    assert wrapped.breaker.config.error_threshold == 3


def test_each_decorated_function_gets_its_own_breaker(impl):
    decorate = impl.circuit(error_threshold=1)
    f = decorate(fail())
    g = decorate(lambda: "g")
    with pytest.raises(Boom):
        f()
    assert f.breaker is not g.breaker
    assert g() == "g"


@pytest.mark.parametrize("bad", [None, 42, "name"])
def test_non_callable_is_a_value_error(impl, bad):
    with pytest.raises(ValueError, match=rf"can only wrap a callable, got {bad!r}"):
        impl.circuit(bad, error_threshold=1)


def test_non_callable_in_decorator_syntax(impl):
    with pytest.raises(ValueError, match="can only wrap a callable, got 42 \\(int\\)"):
        impl.circuit(42)


def test_unknown_option_is_a_type_error_where_written(impl):
    with pytest.raises(TypeError, match="circuit\\(\\) got an unexpected option 'eror_threshold'"):
        impl.circuit(eror_threshold=3)
    with pytest.raises(TypeError, match="unexpected option 'eror_threshold'"):
        impl.circuit(sample, eror_threshold=3)


def test_bad_option_value_fails_where_written(impl):
    with pytest.raises(ValueError, match="error_threshold must be an int from 1 to 2147483647, got 0"):
        impl.circuit(error_threshold=0)


def test_metadata_is_kept(impl):
    wrapped = impl.circuit(sample)
    assert wrapped.__wrapped__ is sample
    assert wrapped.__name__ == "sample"
    assert wrapped.__qualname__ == "sample"
    assert wrapped.__doc__ == "Add two numbers."
    assert wrapped.__module__ == __name__
    assert wrapped.custom == "kept"
    assert inspect.signature(wrapped) == inspect.signature(sample)


class Service:
    factor = 10

    def __init__(self):
        self.calls = 0

    @staticmethod
    def helper():
        return "helper"


def test_instance_method(impl):
    class S(Service):
        @impl.circuit
        def run(self, x):
            self.calls += 1
            return x * self.factor

    s = S()
    assert s.run(2) == 20 and s.calls == 1
    assert S.run(s, 3) == 30
    assert s.run.breaker is S.run.breaker


def test_static_and_class_methods_either_order(impl):
    class S(Service):
        @staticmethod
        @impl.circuit
        def below_static(x):
            return x

        @impl.circuit
        @staticmethod
        def above_static(x):
            return -x

        @classmethod
        @impl.circuit
        def below_class(cls, x):
            return cls.factor + x

        @impl.circuit
        @classmethod
        def above_class(cls, x):
            return cls.factor - x

    s = S()
    assert S.below_static(1) == s.below_static(1) == 1
    assert S.above_static(1) == s.above_static(1) == -1
    assert S.below_class(1) == s.below_class(1) == 11
    assert S.above_class(1) == s.above_class(1) == 9
    assert isinstance(S.__dict__["above_static"].__func__.breaker, impl.CircuitBreaker)


def test_method_errors_are_counted(impl):
    class S(Service):
        @impl.circuit(error_threshold=2)
        def broken(self):
            raise Boom()

    s = S()
    for _ in range(2):
        with pytest.raises(Boom):
            s.broken()
    assert S.broken.breaker.state is CircuitBreakerState.OPEN


def test_breaker_as_decorator_shares_one_breaker(impl):
    db = impl.CircuitBreaker(breaker_id="db", error_threshold=2)

    @db
    def query():
        raise Boom()

    @db
    def other_query():
        return "rows"

    assert query.breaker is db and other_query.breaker is db
    assert other_query.__name__ == "other_query"
    for _ in range(2):
        with pytest.raises(Boom):
            query()
    with pytest.raises(CircuitBreakerException) as info:
        other_query()
    assert info.value.breaker is db


def test_breaker_as_decorator_rejects_non_callable(impl):
    with pytest.raises(ValueError, match="can only wrap a callable"):
        impl.CircuitBreaker()(None)


def test_wrapper_can_be_wrapped_again_by_functools(impl):
    @impl.circuit
    def f():
        return 1

    @functools.wraps(f)
    def outer():
        return f() + 1

    assert outer() == 2 and outer.breaker is f.breaker


def module_level(x):
    return x + 1


@pytest.fixture
def pickled_module_function(impl):
    """Decorate ``module_level`` in place, as a decorator at module level would."""
    global module_level
    original = module_level
    module_level = impl.circuit(original)
    yield module_level
    module_level = original


def test_decorated_function_pickles_by_name(pickled_module_function):
    import pickle

    assert pickle.loads(pickle.dumps(pickled_module_function)) is pickled_module_function


def test_wrapper_called_through_dunder_call(impl):
    wrapped = impl.circuit(sample)
    assert wrapped.__call__(1, b=1) == 2


def test_call_passes_a_keyword_named_func_through(impl):
    breaker = impl.CircuitBreaker()
    assert breaker.call(lambda func, self=None: (func, self), func=1, self=2) == (1, 2)


def test_call_without_a_function_is_a_type_error(impl):
    with pytest.raises(TypeError, match="func"):
        impl.CircuitBreaker().call()
