"""A breaker created before os.fork() keeps working in the child, on both twins."""

import os
import signal
import threading
import time

import pytest
from conftest import Boom, fail, ok

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() does not exist on this platform"),
    # 3.12+ warns about forking a multi-threaded process: that is the situation tested.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded"),
]


def run_in_child(work):
    """Fork, run ``work()`` in the child and return its exit code; fail if it hangs."""
    pid = os.fork()
    if pid == 0:
        try:
            code = work()
        except BaseException:
            code = 99
        os._exit(code)
    deadline = time.monotonic() + 5
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the child process hung on the breaker")
        time.sleep(0.005)


def child_calls(breaker):
    """Return 0 if the child's calls through ``breaker`` work and finish within 1 s."""
    start = time.monotonic()
    for _ in range(2):
        try:
            breaker.call(fail())
        except Boom:
            pass
    if breaker.error_count != 2 or breaker.call(ok("child")) != "child":
        return 1
    return 0 if time.monotonic() - start < 1 else 2


def test_fork_while_another_thread_holds_the_breaker(impl):
    breaker = impl.CircuitBreaker(error_threshold=1000)
    inside, release = threading.Event(), threading.Event()

    def blocked_call():
        inside.set()
        release.wait(5)

    caller = threading.Thread(target=breaker.call, args=(blocked_call,))
    caller.start()
    assert inside.wait(5)
    holder = None
    if impl.name == "py":
        # The pure twin has a lock: fork while another thread is holding it.
        held = threading.Event()

        def hold():
            with breaker._lock:
                held.set()
                time.sleep(0.05)

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(5)
    try:
        assert run_in_child(lambda: child_calls(breaker)) == 0
    finally:
        release.set()
        caller.join(5)
        if holder is not None:
            holder.join(5)
    # The parent's breaker is untouched by the child's calls.
    assert breaker.error_count == 0


def test_child_state_is_its_own(impl, clock):
    breaker = impl.CircuitBreaker(error_threshold=2, clock=clock)
    with pytest.raises(Boom):
        breaker.call(fail())

    def work():
        with pytest.raises(Boom):
            breaker.call(fail())
        return 0 if breaker.state.name == "OPEN" else 1

    assert run_in_child(work) == 0
    assert breaker.state.name == "CLOSED" and breaker.error_count == 1


def test_every_registered_owner_gets_new_locks_and_forgets_in_the_child():
    # One mechanism for every lock owner (breakers, shared states, storages): a lock
    # held at the fork is new in the child, and the owner is told to forget.
    from pycircuitbreaker._fork import FORK_SAFETY

    class Owner:
        def __init__(self):
            self.lock = threading.Lock()
            self.forgotten = False

        def after_fork_in_child(self):
            self.forgotten = True

    owner = Owner()
    FORK_SAFETY.register(owner, "lock")
    owner.lock.acquire()  # as another thread would hold it when the fork comes
    try:
        code = run_in_child(lambda: 0 if owner.lock.acquire(timeout=1) and owner.forgotten else 1)
    finally:
        owner.lock.release()
    assert code == 0
    assert not owner.forgotten  # the parent's owner is untouched
