"""Shared breakers on a real 3-master Redis Cluster, started by the tests (issue 13).

A breaker's three keys share a hash tag, so its script runs in one slot whichever master
holds it; processes with clients of their own share one state; half-open leases hold
across clients; failure-rate windows work there too.
"""

import os

import pytest
from conftest import CORE_MODULES, Boom, fail, ok

from pycircuitbreaker import CircuitBreakerException, CircuitBreakerState, count_window, time_window
from pycircuitbreaker.redis_storage import RedisStorage

CLOSED, OPEN, HALF_OPEN = (CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN,
                           CircuitBreakerState.HALF_OPEN)


def storage_on(cluster, **options):
    """A storage on a client of its own, as another process would have."""
    client = cluster.client(socket_timeout=5, socket_connect_timeout=5)
    options.setdefault("refresh_interval", 0)
    return RedisStorage(client, **options)


def ids_on_every_master(cluster, prefix):
    """Return one breaker id whose keys live on each master."""
    client = cluster.client()
    found = {}
    for number in range(10_000):
        breaker_id = f"{prefix}-{number}"
        node = client.get_node_from_key(f"pycircuitbreaker:{{{breaker_id}}}:state")
        found.setdefault(node.name, breaker_id)
        if len(found) == len(cluster.nodes):
            return list(found.values())
    raise AssertionError(f"ids found on {len(found)} masters only")


@pytest.mark.parametrize("strategy", [None, count_window(4, minimum_calls=4),
                                      time_window(600, buckets=10, minimum_calls=4)],
                         ids=["counts", "count window", "time window"])
def test_every_master_holds_working_breakers(impl, redis_cluster, strategy):
    options = {"error_threshold": 4} if strategy is None else {"strategy": strategy}
    for breaker_id in ids_on_every_master(redis_cluster, f"m-{impl.name}-{strategy!r}"[:40]):
        first = impl.CircuitBreaker(breaker_id=breaker_id, storage=storage_on(redis_cluster),
                                    recovery_timeout=600, **options)
        second = impl.CircuitBreaker(breaker_id=breaker_id, storage=storage_on(redis_cluster),
                                     recovery_timeout=600, **options)
        for breaker in (first, second, first, second):  # errors of both count together
            with pytest.raises(Boom):
                breaker.call(fail())
        assert first.state is second.state is OPEN, breaker_id
        with pytest.raises(CircuitBreakerException):
            second.call(ok())
        second.reset()
        assert first.call(ok("again")) == "again"
        assert first.state is CLOSED
        for storage in (first, second):
            assert storage.metrics().state is CLOSED


def test_half_open_leases_hold_across_clients(impl, redis_cluster):
    [breaker_id] = ids_on_every_master(redis_cluster, f"lease-{impl.name}")[:1]
    first, second = (
        impl.CircuitBreaker(breaker_id=breaker_id, storage=storage_on(redis_cluster),
                            recovery_timeout=0, half_open_max_calls=1)
        for _ in range(2)
    )
    first.trip()
    with first:  # the one trial call, held
        assert second.half_open_calls == 1
        with pytest.raises(CircuitBreakerException) as info:
            second.call(ok())
        assert info.value.state is HALF_OPEN
    assert second.state is CLOSED  # the trial succeeded
    assert second.call(ok("shared")) == "shared"


def count_on_cluster_child(index, results, impl_name, url, breaker_id, errors):
    import importlib

    import redis

    core = importlib.import_module(CORE_MODULES[impl_name])
    storage = RedisStorage(redis.RedisCluster.from_url(url, socket_timeout=5,
                                                        socket_connect_timeout=5),
                           refresh_interval=0.05)
    opened = []
    breaker = core.CircuitBreaker(breaker_id=breaker_id, storage=storage,
                                  error_threshold=errors * 4, recovery_timeout=600,
                                  on_open=lambda breaker, cause: opened.append(cause))
    ran = 0
    for _ in range(errors * 2):
        try:
            breaker.call(fail())
        except Boom:
            ran += 1
        except CircuitBreakerException:
            break
    results.put(("done", index, ran, len(opened), storage.fallbacks, os.getpid()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() does not exist here")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")
def test_processes_share_one_breaker_on_the_cluster(impl, redis_cluster):
    from test_shared_processes import collect, processes

    errors = 100
    breakers = ids_on_every_master(redis_cluster, f"procs-{impl.name}")
    for breaker_id in breakers:
        with processes(count_on_cluster_child, impl.name, redis_cluster.url, breaker_id,
                       errors) as results:
            reports = collect(results, 4)
        ran = sum(report[2] for report in reports)
        # 4 x 100 errors open it for all; at most the calls in flight (one a process,
        # plus those admitted on a view up to 50 ms old) run past it.
        assert errors * 4 <= ran < errors * 4 + 4 * 40, reports
        assert sum(report[3] for report in reports) == 1  # one opening, one on_open
        assert [report[4] for report in reports] == [0] * 4  # no fallbacks
        assert len({report[5] for report in reports}) == 4
        checker = impl.CircuitBreaker(breaker_id=breaker_id, storage=storage_on(redis_cluster))
        assert checker.state is OPEN
        assert checker.error_count == errors * 4
