"""What only the compiled core promises: nothing of the breaker in a traceback."""

import traceback

import pytest
from conftest import Boom, fail, load_impl

from pycircuitbreaker import CircuitBreakerException

pytestmark = pytest.mark.compiled


@pytest.fixture(scope="module")
def compiled():
    return load_impl("c")


def frame_names(exc):
    return [frame.name for frame in traceback.extract_tb(exc.__traceback__)]


def test_guarded_function_exception_has_no_breaker_frame(compiled):
    wrapped = compiled.circuit(fail())
    with pytest.raises(Boom) as info:
        wrapped()
    assert frame_names(info.value) == ["test_guarded_function_exception_has_no_breaker_frame", "failing"]


def test_rejection_has_no_breaker_frame(compiled):
    breaker = compiled.CircuitBreaker(error_threshold=1)
    with pytest.raises(Boom):
        breaker.call(fail())
    with pytest.raises(CircuitBreakerException) as info:
        breaker.call(fail())
    assert frame_names(info.value) == ["test_rejection_has_no_breaker_frame"]
