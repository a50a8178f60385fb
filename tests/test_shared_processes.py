"""Breakers shared by real processes through a real Redis or a shared memory segment.

On both twins. Every child process builds its own storage and breaker after the fork,
from the server's URL (or the segment's name) and the twin's name, as separate
application processes would. Redis runs 4 processes, shared memory 8 (it is meant for
the workers of one host, and its rounds cost no network). Run with ``-s`` to see the
figures the tests print.
"""

import importlib
import math
import multiprocessing
import os
import queue
import re
import subprocess
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import CORE_MODULES, Boom, core_env, requires_shared_memory

from pycircuitbreaker import CircuitBreakerException

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() does not exist on this platform"),
    # 3.12+ warns about forking a process with threads; the children never use the
    # parent's threads or connections.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded"),
]

FORK = multiprocessing.get_context("fork") if hasattr(os, "fork") else None
PROCESSES, THREADS = 4, 2  # for the Redis-only tests
WAIT = 30  # seconds any one step may take before the test gives up on its children
DEFAULT_PREFIX = "pycircuitbreaker"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "shared_workers.py"
GUNICORN_EXAMPLE = EXAMPLE.with_name("gunicorn_shared_memory.py")


# -- where the state is shared --------------------------------------------------------------


class RedisBackend:
    """Storages on one Redis server; a prefix is a namespace of its own."""

    name = "redis"
    processes = 4
    refresh_interval = 0.01  # a view may be this stale: the bounds allow for it
    rounds = 50

    def __init__(self, url):
        self.url = url

    def storage(self, prefix=DEFAULT_PREFIX, refresh_interval=0.0):
        from pycircuitbreaker.redis_storage import RedisStorage

        # A generous socket timeout: a loaded test machine must not push calls onto the
        # local stand-in, which would test something else. Children report fallbacks.
        return RedisStorage.from_url(self.url, socket_timeout=5, prefix=prefix,
                                     refresh_interval=refresh_interval)

    def field(self, prefix, breaker_id, field):
        """Return one field of a breaker's stored state, as an int (None if missing)."""
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            value = client.hget(f"{prefix}:{{{breaker_id}}}:state", field)
            return None if value is None else int(value)
        finally:
            client.close()


class SharedMemoryBackend:
    """Storages on shared memory segments; a prefix names a segment of its own."""

    name = "shared_memory"
    processes = 8
    refresh_interval = 0.0  # every call reads the segment
    rounds = 100

    def __init__(self, base):
        self.base = base

    def storage(self, prefix=DEFAULT_PREFIX, refresh_interval=0.0):
        from pycircuitbreaker.shared_memory import SharedMemoryStorage

        return SharedMemoryStorage(f"{self.base}-{prefix}")  # it reads the slot every time

    def field(self, prefix, breaker_id, field):
        from pycircuitbreaker._shm_segment import FIELD_NAMES

        storage = self.storage(prefix)
        offset = storage.segment.slot_of(breaker_id, 0)
        return storage.segment.read_fields(offset)[FIELD_NAMES.index(field)]

    def unlink(self):
        """Remove every segment of the test's, the children's included."""
        from pycircuitbreaker._shm_segment import FOLDER, PREFIX, unlink

        mine = f"{PREFIX}{self.base}-"
        for file in os.listdir(FOLDER):
            if file.startswith(mine):
                unlink(file[len(PREFIX):])


@pytest.fixture(params=["redis", pytest.param("shared_memory", marks=requires_shared_memory)])
def backend(request):
    if request.param == "redis":
        yield RedisBackend(request.getfixturevalue("redis_url"))
        return
    made = SharedMemoryBackend(request.getfixturevalue("shm_name"))
    yield made
    made.unlink()


# -- running children -----------------------------------------------------------------------


def shared_breaker(impl_name, backend, prefix=DEFAULT_PREFIX, refresh_interval=0.01,
                   **options):
    """Build this process's own storage, and a breaker on it from the twin ``impl_name``."""
    core = importlib.import_module(CORE_MODULES[impl_name])
    storage = backend.storage(prefix, refresh_interval)
    return core.CircuitBreaker(storage=storage, **options), storage


def _child_main(target, index, results, *args):
    try:
        target(index, results, *args)
    except BaseException:
        results.put(("crashed", index, traceback.format_exc()))


@contextmanager
def processes(target, *args, count=PROCESSES):
    """Run ``target(index, results, *args)`` in forked children; yield the results queue.

    The children are always gone on the way out: killed at once if the test failed,
    else given a few seconds to exit by themselves and then killed, which fails the test.
    """
    results = FORK.Queue()
    children = []
    failed = False
    try:
        for index in range(count):
            child = FORK.Process(target=_child_main, args=(target, index, results) + args,
                                 daemon=True)
            child.start()
            children.append(child)
        yield results
    except BaseException:
        failed = True
        raise
    finally:
        if failed:
            for child in children:
                child.kill()
        deadline = time.monotonic() + 10
        for child in children:
            child.join(max(deadline - time.monotonic(), 0))
        hung = [child.pid for child in children if child.is_alive()]
        for child in children:
            if child.is_alive():
                child.kill()
                child.join()
        results.close()
        if not failed:
            assert not hung, f"children {hung} did not exit by themselves"
            codes = [child.exitcode for child in children]
            assert codes == [0] * count, f"children exited with {codes}"


def collect(results, count, wait=WAIT, progress=None):
    """Return the next ``count`` reports of the children; fail on a crash or a hang.

    A hang is ``wait`` seconds without a report or, when ``progress()`` is given (a
    figure that grows while the children work), without that figure growing: a long
    run is then given the time its work takes on however busy a machine, and only a
    stalled one fails.
    """
    reports = []
    deadline = time.monotonic() + wait
    last = progress() if progress is not None else None
    while len(reports) < count:
        try:
            report = results.get(timeout=min(max(deadline - time.monotonic(), 0.01), 1.0))
        except queue.Empty:
            if progress is not None:
                now = progress()
                if now != last:
                    last, deadline = now, time.monotonic() + wait
            if time.monotonic() >= deadline:
                pytest.fail(f"the children sent {len(reports)} of {count} reports and made "
                            f"no progress in {wait} s")
            continue
        if report[0] == "crashed":
            pytest.fail(f"child {report[1]} crashed:\n{report[2]}")
        reports.append(report)
    return reports


def storage_for_checks(url, prefix=DEFAULT_PREFIX):
    return RedisBackend(url).storage(prefix)


# -- 1. an opening reaches every process ----------------------------------------------------

THRESHOLD = 50
# The failing dependency takes this long, as a real one would, so that a thread's call
# rate (hence the allowance of one refresh interval) stays below what a breaker per
# process would cost: processes * THRESHOLD real calls.
DEPENDENCY_TIME = 0.002


def open_together_child(index, results, impl_name, backend, prefixes, start):
    opened = []
    breaker, storage = shared_breaker(
        impl_name, backend, prefixes[index], backend.refresh_interval, breaker_id="together",
        error_threshold=THRESHOLD, recovery_timeout=600,
        on_open=lambda breaker, cause: opened.append(cause),
    )
    ran = [0] * THREADS
    elapsed = [None] * THREADS  # until the thread's first rejection

    def dependency(thread):
        ran[thread] += 1
        time.sleep(DEPENDENCY_TIME)
        raise Boom()

    def caller(thread):
        start.wait(WAIT)
        began = time.perf_counter()
        while time.perf_counter() - began < WAIT:
            try:
                breaker.call(dependency, thread)
            except Boom:
                continue
            except CircuitBreakerException:
                elapsed[thread] = time.perf_counter() - began
                return

    _ = breaker.state  # connect before the start, so the rate measured is the calls' own
    threads = [threading.Thread(target=caller, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(("done", index, {
        "ran": ran, "elapsed": elapsed, "state": breaker.state.name,
        "on_open": len(opened), "fallbacks": storage.fallbacks,
    }))


def open_together(impl, backend, prefixes):
    """Run the backend's processes x 2 threads of failing calls until each thread is rejected."""
    count = backend.processes
    start = FORK.Barrier(count * THREADS)
    with processes(open_together_child, impl.name, backend, prefixes, start,
                   count=count) as results:
        reports = [report[2] for report in collect(results, count)]
    ran = sum(sum(report["ran"]) for report in reports)
    # After the N-th error, a call may still run if it was in flight then (one per
    # thread), or if it was admitted by a view that missed the opening: a view is at
    # most one refresh interval old, so each thread can start at most
    # rate * refresh_interval calls on it, at the call rate the thread really had.
    rates = [
        n / (t if t is not None else WAIT)
        for report in reports for n, t in zip(report["ran"], report["elapsed"])
    ]
    bound = count * THREADS + sum(math.ceil(rate * backend.refresh_interval) for rate in rates)
    return reports, ran - THRESHOLD, bound


def test_an_opening_reaches_every_process_within_a_refresh(impl, backend):
    count = backend.processes
    started = time.monotonic()
    reports, extra, bound = open_together(impl, backend, [DEFAULT_PREFIX] * count)
    print(f"\n[{impl.name}] extra calls after the threshold: {extra} (bound {bound}); "
          f"real calls per process: {[sum(r['ran']) for r in reports]}; "
          f"{time.monotonic() - started:.2f} s")
    assert [report["fallbacks"] for report in reports] == [0] * count
    # Every thread of every process ended on a rejection, and sees it OPEN.
    assert all(None not in report["elapsed"] for report in reports), reports
    assert [report["state"] for report in reports] == ["OPEN"] * count
    assert 0 <= extra <= bound
    # One opening, announced by exactly one process; errors past it were not counted.
    assert sum(report["on_open"] for report in reports) == 1
    assert backend.field(DEFAULT_PREFIX, "together", "n") == 1
    checker = impl.CircuitBreaker(breaker_id="together", storage=backend.storage())
    assert checker.error_count == THRESHOLD


def test_breakers_of_their_own_would_fail_those_checks(impl, backend):
    # The control: the same run with a prefix per process, i.e. nothing shared. It
    # shows the bound and the on_open count above can tell sharing from no sharing.
    prefixes = [f"alone{index}" for index in range(backend.processes)]
    reports, extra, bound = open_together(impl, backend, prefixes)
    print(f"\n[{impl.name}] without sharing: extra calls after the threshold: {extra} "
          f"(bound {bound})")
    assert extra > bound
    assert sum(report["on_open"] for report in reports) == backend.processes


# -- 2. exactly K trial calls, across every process ----------------------------------------

PERMITS = 2
RECOVERY = 0.05


def trial_child(index, results, impl_name, backend, prefixes, commands, start, finish):
    half_opened = []
    breaker, storage = shared_breaker(
        impl_name, backend, prefixes[index], breaker_id="trials", error_threshold=1,
        recovery_timeout=RECOVERY, half_open_max_calls=PERMITS,
        # Trial calls succeed, but it must stay HALF_OPEN from round to round.
        recovery_threshold=10**6, on_half_open=half_opened.append,
    )
    commands = commands[index]

    def trial(round_, thread):
        results.put(("ran", index, round_, thread))
        # Hold the permit until every process has tried.
        if not finish.wait(WAIT):
            raise TimeoutError("never told to finish")

    def attempt(round_, thread):
        try:
            start.wait(WAIT)
            breaker.call(trial, round_, thread)
        except CircuitBreakerException:
            results.put(("rejected", index, round_, thread))
        except BaseException:
            results.put(("crashed", index, traceback.format_exc()))

    while True:
        round_ = commands.get(timeout=WAIT)
        if round_ is None:
            return
        threads = [threading.Thread(target=attempt, args=(round_, t)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results.put(("joined", index, round_, storage.fallbacks, len(half_opened)))


def trial_rounds(impl, backend, prefixes, rounds):
    """Return, for each round, (calls run, permits held meanwhile, permits held after,
    on_half_open calls in all processes)."""
    trippers = {
        prefix: impl.CircuitBreaker(breaker_id="trials", storage=backend.storage(prefix),
                                    error_threshold=1, recovery_timeout=RECOVERY)
        for prefix in set(prefixes)
    }
    count = backend.processes
    commands = [FORK.Queue() for _ in range(count)]
    start, finish = FORK.Barrier(count * THREADS), FORK.Event()
    figures = []
    half_openings = 0
    with processes(trial_child, impl.name, backend, prefixes, commands, start, finish,
                   count=count) as results:
        try:
            for round_ in range(rounds):
                for tripper in trippers.values():
                    tripper.trip()
                time.sleep(RECOVERY + 0.015)  # the storage's clock decides: real time must pass
                finish.clear()
                for command in commands:
                    command.put(round_)
                # A process whose callers were all rejected is done before the others
                # have tried: its "joined" may come among the outcomes.
                reports = []
                while sum(r[0] != "joined" for r in reports) < count * THREADS:
                    reports += collect(results, 1)
                outcomes = [r for r in reports if r[0] != "joined"]
                assert {outcome[2] for outcome in outcomes} == {round_}, outcomes
                ran = sum(outcome[0] == "ran" for outcome in outcomes)
                held = sum(t.half_open_calls for t in trippers.values())
                finish.set()
                joined = [r for r in reports if r[0] == "joined"]
                joined += collect(results, count - len(joined))
                assert [j[:3] for j in sorted(joined)] == [
                    ("joined", index, round_) for index in range(count)
                ]
                assert [j[3] for j in sorted(joined)] == [0] * count  # no fallbacks
                after = sum(t.half_open_calls for t in trippers.values())
                so_far = sum(j[4] for j in joined)
                figures.append((ran, held, after, so_far - half_openings))
                half_openings = so_far
        finally:
            finish.set()
            start.abort()  # threads stuck at the barrier after a failure give up now
            for command in commands:
                command.put(None)
    for command in commands:
        command.close()
    return figures, trippers


def test_exactly_k_trial_calls_across_processes_every_round(impl, backend):
    started = time.monotonic()
    rounds, count = backend.rounds, backend.processes
    figures, trippers = trial_rounds(impl, backend, [DEFAULT_PREFIX] * count, rounds)
    print(f"\n[{impl.name}, {backend.name}] trial calls run per round: "
          f"{sorted({f[0] for f in figures})}, {rounds} rounds of {count}x{THREADS} callers, "
          f"{time.monotonic() - started:.2f} s")
    # Each round also moved it OPEN -> HALF_OPEN once, announced by one process only.
    assert figures == [(PERMITS, PERMITS, 0, 1)] * rounds
    tripper = trippers[DEFAULT_PREFIX]
    assert tripper.state.name == "HALF_OPEN"
    assert tripper.success_count == PERMITS


def test_permits_of_their_own_would_admit_more(impl, backend):
    # The control: one round with a prefix per process lets each process run
    # min(PERMITS, THREADS) trial calls of its own, and announce its own half-opening.
    count = backend.processes
    prefixes = [f"alone{index}" for index in range(count)]
    figures, _ = trial_rounds(impl, backend, prefixes, 1)
    permits = count * min(PERMITS, THREADS)
    assert figures == [(permits, permits, 0, count)]


# -- 3. no error is lost --------------------------------------------------------------------

ERRORS = 100_000
COUNTING_THREADS = 4


def count_errors_child(index, results, impl_name, backend, start):
    breaker, storage = shared_breaker(impl_name, backend, breaker_id="count",
                                      error_threshold=10**9, refresh_interval=0.1)
    per_thread = ERRORS // backend.processes // COUNTING_THREADS
    raised = [0] * COUNTING_THREADS

    def failing():
        raise Boom()

    def caller(thread):
        start.wait(WAIT)
        for _ in range(per_thread):
            try:
                breaker.call(failing)
            except Boom:
                raised[thread] += 1

    _ = breaker.state  # connect before the start
    threads = [threading.Thread(target=caller, args=(t,)) for t in range(COUNTING_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(("done", index, sum(raised), storage.fallbacks))


def test_errors_from_many_processes_are_all_counted(impl, backend):
    count = backend.processes
    assert ERRORS % (count * COUNTING_THREADS) == 0
    start = FORK.Barrier(count * COUNTING_THREADS + 1)
    with processes(count_errors_child, impl.name, backend, start, count=count) as results:
        start.wait(WAIT)
        started = time.monotonic()
        # 100,000 round trips took 23 s on an idle 2-core machine: no fixed budget, but
        # the stored count must keep growing.
        reports = collect(results, count, progress=lambda: backend.field(
            DEFAULT_PREFIX, "count", "e"))
        elapsed = time.monotonic() - started
    print(f"\n[{impl.name}, {backend.name}] {ERRORS} errors from {count} processes x "
          f"{COUNTING_THREADS} threads recorded in {elapsed:.2f} s ({ERRORS / elapsed:.0f}/s)")
    assert sorted(report[2:] for report in reports) == [(ERRORS // count, 0)] * count
    checker = impl.CircuitBreaker(breaker_id="count", storage=backend.storage())
    assert checker.error_count == ERRORS
    assert backend.field(DEFAULT_PREFIX, "count", "e") == ERRORS
    assert checker.state.name == "CLOSED"


# -- a breaker built before a fork ---------------------------------------------------------


@pytest.mark.parametrize("moment", ["refresh", "resync"])
def test_a_breaker_forked_mid_read_reads_again_in_the_child(impl, redis_url, moment):
    from pycircuitbreaker._shared import StorageUnavailable
    from pycircuitbreaker.redis_storage import RedisStorage

    storage = RedisStorage.from_url(redis_url, socket_timeout=5, refresh_interval=0.01)
    breaker = impl.CircuitBreaker(breaker_id="forked", storage=storage, error_threshold=1,
                                  recovery_timeout=600)
    assert breaker.state.name == "CLOSED"
    real_run, down = storage.run, [moment == "resync"]
    inside, release = threading.Event(), threading.Event()

    def run(breaker_id, args):
        if down[0]:
            down[0] = False
            raise StorageUnavailable("down for a moment")
        # The parent's other thread waits on its read (a slow network) at the fork.
        if threading.current_thread() is reader:
            inside.set()
            release.wait(WAIT)
        return real_run(breaker_id, args)

    storage.run = run
    time.sleep(0.02)  # past the refresh interval: the next look reads
    if moment == "resync":
        # Fall back to the local stand-in: the next look goes back to the shared state.
        assert breaker.state.name == "CLOSED" and not down[0]
    reader = threading.Thread(target=lambda: breaker.state)
    reader.start()

    def child(index, results):
        tripper = impl.CircuitBreaker(breaker_id="forked", storage=storage_for_checks(redis_url),
                                      recovery_timeout=600)
        tripper.trip()  # in another process, as far as the breaker knows
        time.sleep(0.05)  # five refresh intervals
        results.put(("done", index, breaker.state.name))

    try:
        assert inside.wait(WAIT)
        with processes(child, count=1) as results:
            [report] = collect(results, 1, wait=5)
    finally:
        release.set()
        reader.join(WAIT)
    assert report[2] == "OPEN"


# -- 4. the example -------------------------------------------------------------------------


def run_example(impl, example, *args, env=None, timeout=60):
    """Run ``example`` on the twin ``impl``; return its lines and those about workers."""
    run = subprocess.run([sys.executable, str(example), *args], env=env or core_env(impl),
                         capture_output=True, text=True, timeout=timeout)
    print(f"\n[{impl.name}] {example.name}:\n{run.stdout}{run.stderr}")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    core = {"c": "cython", "py": "python"}[impl.name]
    assert f"({core} core)" in lines[0]
    return lines, [line for line in lines if line.startswith("worker ")]


def test_shared_workers_example(impl, own_redis):
    lines, workers = run_example(impl, EXAMPLE, own_redis.url)
    assert len(workers) == 4
    # Each saw it open; one opened it; together they failed fewer times than one
    # breaker per worker would have let them.
    assert all(re.search(r"then [1-9]\d* rejected at once", line) for line in workers), workers
    assert sum("opened it here" in line for line in workers) == 1
    failed = [int(re.search(r"(\d+) failed at the service", line).group(1)) for line in workers]
    assert sum(failed) < 4 * 5  # WORKERS * THRESHOLD in the example
    assert lines[-1].startswith("The breaker opened once")


# -- 5. a process killed at any moment -------------------------------------------------------

KILLS = 1000


def ok():
    return "ok"


def fail_now():
    raise Boom()


@requires_shared_memory
def test_a_process_killed_mid_update_never_wedges_the_breaker(impl, shm_name):
    # A child makes calls in a loop, most of its time inside the slot's mutex; it is
    # SIGKILLed at a random moment, 1,000 times over. After each kill this process
    # decides its next calls on the segment at once: never waiting out the mutex, never
    # falling back to its local state.
    import random
    import signal

    from pycircuitbreaker.shared_memory import SharedMemoryStorage

    storage = SharedMemoryStorage(shm_name)
    breaker = impl.CircuitBreaker(breaker_id="killed", storage=storage, error_threshold=10**9,
                                  half_open_max_calls=1)
    random.seed(17)
    worst = 0.0
    started = time.monotonic()
    for _ in range(KILLS):
        ready, tell = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: errors, successes and controls, until killed
            try:
                os.close(ready)
                breaker.call(ok)
                os.write(tell, b"x")
                while True:
                    try:
                        breaker.call(fail_now)
                    except Boom:
                        pass
                    breaker.call(ok)
                    breaker.disable()
                    breaker.reset()
            finally:
                os._exit(1)
        os.close(tell)
        assert os.read(ready, 1) == b"x"
        os.close(ready)
        time.sleep(random.random() * 0.002)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        began = time.monotonic()
        with pytest.raises(Boom):
            breaker.call(fail_now)
        assert breaker.state.name in ("CLOSED", "DISABLED")
        worst = max(worst, time.monotonic() - began)
    elapsed = time.monotonic() - started
    print(f"\n[{impl.name}] {KILLS} kills in {elapsed:.2f} s; updates undone: "
          f"{storage.segment.recoveries}; slowest call after a kill: {worst * 1000:.2f} ms")
    assert storage.fallbacks == 0  # never a mutex held by the dead, never a damaged slot
    assert storage.segment.recoveries > 0  # kills did land inside updates
    assert worst < 5  # a wide margin: a call takes microseconds, the mutex wait 0.25 s
    breaker.reset()  # and it still works as a breaker
    tripping = impl.CircuitBreaker(breaker_id="killed", storage=SharedMemoryStorage(shm_name),
                                   error_threshold=2)
    for _ in range(2):
        with pytest.raises(Boom):
            tripping.call(fail_now)
    assert breaker.state.name == "OPEN"



# -- 6. gunicorn --preload, one breaker for the host ------------------------------------------


@requires_shared_memory
def test_gunicorn_preload_example(impl):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed (the test group installs it)")
    env = core_env(impl)
    env["PATH"] = f"{gunicorn.parent}{os.pathsep}{env.get('PATH', '')}"
    lines, workers = run_example(impl, GUNICORN_EXAMPLE, env=env, timeout=120)
    # One opening, in one worker, after exactly the threshold of failed calls: 5, where
    # four breakers of their own would have let through up to 20.
    assert sum("opened the breaker here" in line for line in workers) == 1
    failed = sum(int(re.search(r"(\d+) failed at the dependency", line).group(1))
                 for line in workers)
    assert failed == 5
    assert "The dependency saw 25 calls for 100 requests: 20 answered, 5 failed." in lines
    assert lines[-1].startswith("The breaker opened once")
