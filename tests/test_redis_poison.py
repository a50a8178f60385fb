"""A shared breaker never trusts what Redis holds or answers (issue 13, item 7).

Every field of the stored state is poisoned with every class of bad value, on a real
redis-server: the breaker's calls, reads and metrics never raise anything but their own
outcomes; the poisoned state is an outage of that breaker alone (decided locally, logged
once, counted in ``storage.fallbacks``); and the next round trip overwrites it with a
valid state, keeping an OPEN breaker open.
"""

import logging
import re
import struct
import time

import pytest
from conftest import Boom, fail, ok
from redis_server import make_storage

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState, count_window, time_window

CLOSED, OPEN = CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN
FIELDS = ["s", "e", "c", "r", "o", "g", "n", "wc", "wf", "ws", "wh", "wn"]
# Not an integer as the script writes one, whatever the field.
NOT_INTEGERS = ["nan", "inf", "-inf", "1e300", "2.5", "abc", "", "0x10", " 1", "9" * 30]
# Integers out of the field's range.
OUT_OF_RANGE = {"s": ["99", "-1", "6", "7"], "e": ["-1"], "c": ["-1"], "r": ["-1", "9" * 16],
                "o": ["-1", "9" * 16], "n": ["-1"], "wc": ["-1"], "wf": ["-1", "999"],
                "ws": ["-1", "999"], "wh": ["-1"], "g": ["9" * 17], "wn": ["9" * 17]}
POISONS = [(field, value) for field in FIELDS for value in NOT_INTEGERS + OUT_OF_RANGE[field]]
VALID = re.compile(rb"^-?\d{1,16}$")


def client_for(url):
    import redis

    return redis.Redis.from_url(url)


def stored(client, storage, breaker_id):
    return client.hgetall(storage.keys(breaker_id)[0])


def assert_valid(client, storage, breaker_id):
    state = stored(client, storage, breaker_id)
    assert state and state[b"s"] in (b"0", b"1", b"2", b"3", b"4", b"5"), state
    for field, value in state.items():
        assert VALID.match(value), (field, value)


@pytest.mark.parametrize("field, value", POISONS)
def test_a_poisoned_closed_breaker_decides_locally_once_then_is_repaired(
        impl, redis_url, caplog, field, value):
    storage = make_storage(redis_url)
    client = client_for(redis_url)
    breaker = impl.CircuitBreaker(breaker_id="poisoned", storage=storage, error_threshold=3,
                                  strategy=count_window(4, minimum_calls=4))
    for _ in range(5):
        breaker.call(ok())  # the window full and rolling: every field written
    client.hset(storage.keys("poisoned")[0], field, value)
    with caplog.at_level(logging.WARNING, logger="pycircuitbreaker"):
        assert breaker.call(ok("first")) == "first"
        assert breaker.state is CLOSED
        assert breaker.metrics().state is CLOSED
        assert breaker.call(ok("second")) == "second"
    assert storage.fallbacks == 1
    assert caplog.text.count("the state stored for it is not valid") == 1
    assert_valid(client, storage, "poisoned")
    # And it is shared again: what another process does reaches it.
    other = impl.CircuitBreaker(breaker_id="poisoned", storage=make_storage(redis_url),
                                error_threshold=3, strategy=count_window(4, minimum_calls=4))
    other.trip()
    with pytest.raises(CircuitBreakerException):
        breaker.call(ok())


@pytest.mark.parametrize("field, value", [(f, v) for f, v in POISONS if f in ("s", "r", "o", "e")])
def test_a_poisoned_open_breaker_stays_open(impl, redis_url, field, value):
    storage = make_storage(redis_url)
    client = client_for(redis_url)
    breaker = impl.CircuitBreaker(breaker_id="open", storage=storage, recovery_timeout=600)
    breaker.trip()
    client.hset(storage.keys("open")[0], field, value)
    for _ in range(3):
        with pytest.raises(CircuitBreakerException) as info:
            breaker.call(ok())
        assert str(info.value).startswith("Circuit open OPEN until")
        assert breaker.state is OPEN
        assert breaker.open_time < breaker.recovery_start_time
    assert storage.fallbacks == 1
    assert_valid(client, storage, "open")
    assert stored(client, storage, "open")[b"s"] == b"1"


@pytest.mark.parametrize("poison", ["x", "9", "\xff"])
def test_a_poisoned_count_window_entry_is_repaired(impl, redis_url, poison):
    storage = make_storage(redis_url)
    client = client_for(redis_url)
    breaker = impl.CircuitBreaker(breaker_id="cw", storage=storage,
                                  strategy=count_window(3, minimum_calls=3))
    for _ in range(3):
        breaker.call(ok())
    client.setrange(storage.keys("cw")[2], 0, poison)
    for _ in range(4):
        assert breaker.call(ok("fine")) == "fine"
    assert storage.fallbacks == 1
    assert breaker.state is CLOSED


# A slice of a time window: 12 bytes, its calls, failures and slow calls as uint32.
BAD_SLICES = [struct.pack("<III", 1, 5, 0), struct.pack("<III", 0, 0, 7)]


@pytest.mark.parametrize("poison", BAD_SLICES)
def test_a_poisoned_time_window_slice_is_repaired(impl, redis_url, poison):
    storage = make_storage(redis_url)
    client = client_for(redis_url)
    # Slices of 12 s: the next call lands in the slice the first one did, poisoned. (With
    # short slices a busy machine could sleep past the whole window between two calls,
    # which drops it unread: nothing poisoned would ever be met.)
    breaker = impl.CircuitBreaker(breaker_id="tw", storage=storage,
                                  strategy=time_window(60, buckets=5, minimum_calls=1000))
    breaker.call(ok())
    window = storage.keys("tw")[2]
    client.set(window, poison * 5)
    deadline = time.monotonic() + 10  # a few calls at most, unless the slice turns over
    while storage.fallbacks == 0 and time.monotonic() < deadline:
        assert breaker.call(ok("fine")) == "fine"
        time.sleep(0.005)
    assert storage.fallbacks == 1
    assert breaker.call(ok("fine")) == "fine"
    assert breaker.state is CLOSED


@pytest.mark.parametrize("length", [7, 5 * 12 + 1, 6 * 12, 10**6])
def test_a_time_window_string_of_another_length_starts_over(impl, redis_url, length):
    storage = make_storage(redis_url)
    client = client_for(redis_url)
    breaker = impl.CircuitBreaker(breaker_id="twl", storage=storage,
                                  strategy=time_window(600, buckets=5, minimum_calls=2))
    breaker.call(ok())
    client.set(storage.keys("twl")[2], b"\xff" * length)
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail())
    assert breaker.state is OPEN  # judged on a window begun again
    assert client.strlen(storage.keys("twl")[2]) <= 5 * 12
    assert storage.fallbacks == 0


def test_a_huge_stored_window_position_allocates_nothing(impl, redis_url):
    storage = make_storage(redis_url)
    client = client_for(redis_url)
    breaker = impl.CircuitBreaker(breaker_id="wh", storage=storage,
                                  strategy=count_window(10, minimum_calls=10))
    breaker.call(ok())
    client.hset(storage.keys("wh")[0], "wh", 50_000_000)
    used = client.info("memory")["used_memory"]
    for _ in range(3):
        breaker.call(ok())
    assert client.strlen(storage.keys("wh")[2]) <= 10
    assert client.info("memory")["used_memory"] < used + 1_000_000
    assert_valid(client, storage, "wh")


MALFORMED = [None, b"garbage", [], [1, 2, 3], [b"x"] * 12, [0] * 11 + [7], [9] + [0] * 11,
             [0, -1] + [0] * 10, [0] * 4 + [2**60] + [0] * 7, [0.5] * 12, [True] * 12]


@pytest.mark.parametrize("reply", MALFORMED)
def test_a_malformed_reply_is_an_outage(impl, redis_url, reply, caplog):
    storage = make_storage(redis_url, cool_off=600)
    breaker = impl.CircuitBreaker(breaker_id="garbage", storage=storage, error_threshold=1)
    real = storage._script

    def answer(*args, **kwargs):  # a server (or proxy) answering garbage
        real(*args, **kwargs)
        return reply

    storage._script = answer
    with caplog.at_level(logging.WARNING, logger="pycircuitbreaker.redis"):
        assert breaker.call(ok("fine")) == "fine"
        with pytest.raises(Boom):
            breaker.call(fail())
        assert breaker.state is OPEN  # the local stand-in decides
        assert breaker.metrics().state is OPEN
    assert storage.fallbacks >= 2
    assert "malformed reply" in caplog.text or "out of range" in caplog.text


@pytest.mark.parametrize("which", [0, 1])
def test_a_state_or_lease_key_of_another_type_is_repaired(impl, redis_url, which):
    storage = make_storage(redis_url)
    client = client_for(redis_url)
    breaker = impl.CircuitBreaker(breaker_id="typed", storage=storage, half_open_max_calls=1)
    breaker.call(ok())
    key = storage.keys("typed")[which]
    client.delete(key)
    client.rpush(key, "a list")
    for _ in range(3):
        assert breaker.call(ok("fine")) == "fine"
    assert storage.fallbacks == 1
    assert_valid(client, storage, "typed")


def test_a_window_key_of_another_type_starts_the_window_over(impl, redis_url):
    storage = make_storage(redis_url)
    client = client_for(redis_url)
    breaker = impl.CircuitBreaker(breaker_id="wtype", storage=storage,
                                  strategy=count_window(2, minimum_calls=2))
    breaker.call(ok())
    client.delete(storage.keys("wtype")[2])
    client.rpush(storage.keys("wtype")[2], "a list")
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail())
    assert breaker.state is OPEN  # two failures in a window begun again
    assert storage.fallbacks == 0


def test_the_newest_time_slice_poisoned_is_an_outage_of_this_breaker_only(impl, redis_url):
    storage = make_storage(redis_url)
    client = client_for(redis_url)
    breaker = impl.CircuitBreaker(breaker_id="newest", storage=storage,
                                  strategy=time_window(600, buckets=2, minimum_calls=1000))
    bystander = impl.CircuitBreaker(breaker_id="bystander", storage=storage)
    breaker.call(ok())
    client.set(storage.keys("newest")[2], BAD_SLICES[0] * 2)
    assert breaker.call(ok("fine")) == "fine"  # adding to the newest slice meets the poison
    assert bystander.call(ok("shared")) == "shared"
    assert storage.fallbacks == 1  # this breaker's call only: Redis is not "down"
    assert breaker.call(ok("fine")) == "fine"
    assert storage.fallbacks == 1


def test_a_time_window_holds_more_calls_than_slices(impl, redis_url):
    # A regression found while writing these tests: a window check meant for count
    # windows emptied time windows holding more calls than they have slices.
    breaker = impl.CircuitBreaker(breaker_id="many", storage=make_storage(redis_url),
                                  strategy=time_window(600, buckets=2, minimum_calls=5))
    for _ in range(4):
        with pytest.raises(Boom):
            breaker.call(fail())
    assert breaker.state is CLOSED
    with pytest.raises(Boom):
        breaker.call(fail())
    assert breaker.state is OPEN


# -- ids (issue 13, item 10) ---------------------------------------------------------------


@pytest.mark.parametrize("breaker_id, exc_type, message", [
    ("\ud800", ValueError, "must encode as UTF-8"),
    ("", ValueError, "must be a non-empty str without braces"),
    ("a{b", ValueError, "must be a non-empty str without braces"),
    (1, TypeError, "must be a str, the name every process shares, got 1 (int)"),
    (b"db", TypeError, "got b'db' (bytes)"),
])
def test_ids_a_shared_breaker_cannot_use_are_refused_when_it_is_built(
        impl, redis_url, breaker_id, exc_type, message):
    with pytest.raises(exc_type, match=re.escape(message)):
        impl.CircuitBreaker(breaker_id=breaker_id, storage=make_storage(redis_url))


def test_a_uuid_and_its_text_are_not_silently_one_breaker(impl, redis_url):
    import uuid

    ident = uuid.uuid4()
    with pytest.raises(TypeError, match="pass str"):
        impl.CircuitBreaker(breaker_id=ident, storage=make_storage(redis_url))
    # Its text is a name like any other: every process passing it shares one state.
    first = impl.CircuitBreaker(breaker_id=str(ident), storage=make_storage(redis_url))
    second = impl.CircuitBreaker(breaker_id=str(ident), storage=make_storage(redis_url))
    first.trip()
    assert second.state is OPEN


def test_keys_of_one_breaker_share_a_cluster_slot(redis_url):
    from redis.crc import key_slot

    storage = make_storage(redis_url)
    for breaker_id in ("db", "ü", "a:b", " "):
        slots = {key_slot(key.encode()) for key in storage.keys(breaker_id)}
        assert len(slots) == 1, (breaker_id, slots)
