"""Where shared memory segments cannot work, building one says so: on every platform."""

import sys

import pytest

from pycircuitbreaker import _shm_segment
from pycircuitbreaker.shared_memory import SegmentError, SharedMemoryStorage


@pytest.fixture
def platform(monkeypatch):
    """Pretend to be another platform: the mutex functions are looked up afresh."""
    monkeypatch.setattr(_shm_segment, "_PTHREAD", None)

    def become(name):
        monkeypatch.setattr(sys, "platform", name)

    return become


@pytest.mark.parametrize("name", ["darwin", "win32"])
def test_a_platform_without_robust_mutexes_is_a_clear_error(platform, name):
    platform(name)
    with pytest.raises(SegmentError, match=f"robust process-shared mutexes, which this "
                                           f"platform \\({name}\\) does not have; use "
                                           f"RedisStorage"):
        SharedMemoryStorage("never-made")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux C library")
def test_a_c_library_without_them_is_a_clear_error(platform, monkeypatch):
    import ctypes

    class Lacking:
        def __init__(self, *args, **kwargs):
            pass

        def __getattr__(self, name):
            raise AttributeError(name)

    monkeypatch.setattr(ctypes, "CDLL", Lacking)
    with pytest.raises(SegmentError, match="needs pthread_mutexattr_init\\(\\), which this C "
                                           "library lacks"):
        SharedMemoryStorage("never-made")
