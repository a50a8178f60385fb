"""Worker processes of one app sharing a circuit breaker through Redis.

    python examples/shared_workers.py redis://host:port/0    (or set REDIS_URL)

Four worker processes serve requests that need an inventory service. A moment in, the
service goes down. Each worker calls it through ``@circuit(breaker_id="inventory",
storage=RedisStorage.from_url(url))``, so the errors of all workers count towards one
breaker: once it opens, every worker rejects at once, without each having to fail
``THRESHOLD`` times on its own first. Needs ``pip install 'pycircuitbreaker[redis]'``.
"""

import multiprocessing
import os
import sys
import time

import pycircuitbreaker
from pycircuitbreaker import CircuitBreaker, CircuitBreakerException, circuit
from pycircuitbreaker.redis_storage import RedisStorage

BREAKER_ID = "inventory"
WORKERS = 4
REQUESTS = 30  # per worker
THRESHOLD = 5
OUTAGE_AFTER = 0.1  # seconds until the inventory service goes down


def inventory_service(outage, item):
    """Stand in for a remote service: 5 ms per call, and an error once the outage began."""
    time.sleep(0.005)
    if outage.is_set():
        raise ConnectionError("inventory service unavailable")
    return 42


def worker(number, url, ready, outage, results):
    """Serve REQUESTS requests, each checking the stock through the shared breaker."""
    opened_here = []

    @circuit(
        breaker_id=BREAKER_ID,
        storage=RedisStorage.from_url(url, refresh_interval=0.05),
        error_threshold=THRESHOLD,
        recovery_timeout=30,
        on_open=lambda breaker, error: opened_here.append(error),
    )
    def check_stock(item):
        return inventory_service(outage, item)

    served = failed = rejected = 0
    ready.wait()  # all workers up: the app starts taking requests
    for request in range(REQUESTS):
        try:
            check_stock(request)
            served += 1
        except ConnectionError:
            failed += 1
        except CircuitBreakerException:
            rejected += 1  # answered at once, without calling the service
        time.sleep(0.01)  # until the next request comes in
    results.put((number, served, failed, rejected, bool(opened_here),
                 check_stock.breaker.state.name))


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("REDIS_URL")
    if not url:
        sys.exit(__doc__)
    # The breaker's state outlives the processes in Redis: start this run from CLOSED.
    CircuitBreaker(breaker_id=BREAKER_ID, storage=RedisStorage.from_url(url)).reset()
    print(f"pycircuitbreaker {pycircuitbreaker.__version__} "
          f"({pycircuitbreaker.IMPLEMENTATION} core), Redis at {url}")

    ready = multiprocessing.Barrier(WORKERS + 1)
    outage, results = multiprocessing.Event(), multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=worker, args=(number, url, ready, outage, results))
        for number in range(1, WORKERS + 1)
    ]
    for process in workers:
        process.start()
    ready.wait(timeout=60)
    time.sleep(OUTAGE_AFTER)
    outage.set()
    print(f"the inventory service went down after {OUTAGE_AFTER} s")
    reports = sorted(results.get(timeout=60) for _ in workers)
    for process in workers:
        process.join()

    for number, served, failed, rejected, opened, state in reports:
        how = "opened it here" if opened else "another worker opened it"
        print(f"worker {number}: {served} served, {failed} failed at the service, "
              f"then {rejected} rejected at once ({how}; it is {state} for this worker)")
    openers = sum(report[4] for report in reports)
    failed = sum(report[2] for report in reports)
    if openers != 1 or any(report[3] == 0 for report in reports):
        sys.exit("the breaker did not open once for every worker: is Redis reachable?")
    print(f"The breaker opened once: {failed} failed calls in all, where a breaker per "
          f"worker would have let through at least {WORKERS * THRESHOLD}.")


if __name__ == "__main__":
    main()
