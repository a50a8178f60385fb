"""Show the breaker at work on a flaky dependency, then time its per-call cost."""

import timeit
from types import ModuleType
from typing import Callable

from . import (
    IMPLEMENTATION,
    CircuitBreaker,
    CircuitBreakerException,
    CircuitBreakerRegistry,
    _core_py,
    circuit,
)
from .decorator import make_circuit

RECOVERY_TIMEOUT = 30
ERROR_THRESHOLD = 3

# Calls per timing run and runs per measurement: about a second in total even for the
# pure twin, and the best of five runs shrugs off a scheduler hiccup.
TIMING_NUMBER = 200_000
TIMING_REPEAT = 5


class FakeClock:
    """Stand in for the monotonic clock so the demo can skip ahead instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        self.now += seconds


class FlakyInventory:
    """Simulate a remote stock service that can be switched up or down."""

    def __init__(self) -> None:
        self.up = True
        self.requests = 0

    def stock(self, item: str) -> int:
        """Return a stock level, or raise ConnectionError while the service is down."""
        self.requests += 1
        if not self.up:
            raise ConnectionError("inventory service unreachable")
        return len(item) * 4


def run() -> int:
    """Run the demonstration and return the process exit status."""
    print()
    behaviour()
    print()
    speed()
    return 0


def behaviour() -> None:
    """Walk one breaker through CLOSED, OPEN, HALF_OPEN and back to CLOSED."""
    clock = FakeClock()
    service = FlakyInventory()
    registry = CircuitBreakerRegistry()

    def announce_open(breaker: CircuitBreaker, error: object) -> None:
        print(f"      on_open:  breaker {breaker.id!r} opened because of {error!r}")

    def announce_close(breaker: CircuitBreaker) -> None:
        print(f"      on_close: breaker {breaker.id!r} closed again")

    @circuit(
        breaker_id="inventory",
        error_threshold=ERROR_THRESHOLD,
        recovery_timeout=RECOVERY_TIMEOUT,
        exception_blacklist=[ConnectionError],
        on_open=announce_open,
        on_close=announce_close,
        clock=clock,
        registry=registry,
    )
    def fetch_stock(item: str) -> int:
        return service.stock(item)

    # A second, healthy dependency so the readiness summary has something to compare.
    @circuit(breaker_id="pricing", clock=clock, registry=registry)
    def fetch_price(item: str) -> float:
        return 9.99

    breaker = fetch_stock.breaker
    fetch_price("apple")

    def attempt(item: str) -> None:
        before = service.requests
        try:
            outcome = f"-> {fetch_stock(item)}"
        except CircuitBreakerException as error:
            outcome = f"rejected: {error}"
        except ConnectionError as error:
            outcome = f"raised {type(error).__name__}: {error}"
        ran = "ran" if service.requests > before else "not run"
        print(
            f"  t={clock.now:>4.0f}s  fetch_stock({item!r}) {outcome}\n"
            f"           [{ran}; state={breaker.state.name}, "
            f"errors={breaker.error_count}, successes={breaker.success_count}]"
        )

    print(f"Behaviour (core: {IMPLEMENTATION}; simulated clock, nothing sleeps)")
    print(
        f"  breaker {breaker.id!r}: error_threshold={ERROR_THRESHOLD}, "
        f"recovery_timeout={RECOVERY_TIMEOUT}s, counts ConnectionError only"
    )

    print("\n1. The service is healthy.")
    attempt("apple")

    print(f"\n2. The service goes down: {ERROR_THRESHOLD} errors in a row open it.")
    service.up = False
    for item in ("apple", "pear", "plum"):
        clock.advance(1)
        attempt(item)

    print("\n3. While OPEN, calls fail fast without reaching the service.")
    # The message mixes two clocks on purpose: "until" is real UTC for people to read,
    # while the seconds remaining come from the (here simulated) monotonic clock.
    print("   (the 'until' time is real UTC; 'sec remaining' follows the simulated clock)")
    for _ in range(2):
        clock.advance(10)
        attempt("apple")
    readiness(registry)

    print(f"\n4. {RECOVERY_TIMEOUT}s after opening, it reads HALF_OPEN on its own.")
    clock.now = 3 + RECOVERY_TIMEOUT
    print(f"  t={clock.now:>4.0f}s  state={breaker.state.name} (no call made)")
    readiness(registry)

    print("\n5. The service is back: one trial call succeeds and closes the breaker.")
    service.up = True
    attempt("apple")
    readiness(registry)


def readiness(registry: CircuitBreakerRegistry) -> None:
    """Print what a readiness probe built on the registry would answer."""
    circuits = {b.id: b.state.name for b in registry.get_circuits()}
    open_ids = [b.id for b in registry.get_open_circuits()]
    status = 503 if open_ids else 200
    print(f"  readiness: HTTP {status} {circuits}")


def speed() -> None:
    """Time a no-op called directly and through each core's decorator, side by side."""
    print(f"Speed: best of {TIMING_REPEAT} runs of {TIMING_NUMBER:,} calls to a no-op")

    def noop() -> None:
        return None

    cores: list[tuple[str, ModuleType]] = []
    try:
        from . import _core_c
    except ImportError as error:
        print(f"  compiled core not importable ({error}); timing the pure twin only")
    else:
        cores.append(("compiled core (_core_c)", _core_c))
    cores.append(("pure twin (_core_py)", _core_py))

    direct = per_call_ns(noop)
    rows = [("direct call", direct)]
    for label, core in cores:
        wrapped = make_circuit(core.CircuitBreaker)(noop)
        rows.append((label, per_call_ns(wrapped)))

    width = max(len(label) for label, _ in rows)
    for label, ns in rows:
        extra = "" if label == "direct call" else f"   breaker adds {ns - direct:6.1f} ns"
        print(f"  {label:<{width}}  {ns:7.1f} ns/call{extra}")
    if len(rows) == 3:
        compiled, pure = rows[1][1] - direct, rows[2][1] - direct
        if compiled > 0:
            ratio = pure / compiled
            print(f"  the pure twin's overhead is {ratio:.1f}x the compiled core's")


def per_call_ns(func: Callable[[], object]) -> float:
    """Return the best observed cost of one call to ``func``, in nanoseconds."""
    runs = timeit.repeat(func, number=TIMING_NUMBER, repeat=TIMING_REPEAT)
    return min(runs) / TIMING_NUMBER * 1e9
