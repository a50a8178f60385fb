"""Constants, defaults and messages shared by both twins of the core.

The compiled core copies these into C variables at import time, so the two twins can
never disagree on a number or a message.
"""

# State codes used inside the cores; ``state.CircuitBreakerState`` maps them to members.
CLOSED = 0
OPEN = 1
HALF_OPEN = 2
FORCED_OPEN = 3  # held open by force_open() until reset()
DISABLED = 4  # disable(): every call runs, outcomes are counted, nothing trips
# metrics_only(): every call runs and is counted; where the breaker would open, it
# counts a would-be opening instead, and starts counting afresh.
METRICS_ONLY = 5
# The states whose calls all run and are counted as when CLOSED (windows included).
COUNTING = (CLOSED, DISABLED, METRICS_ONLY)
# Not a state: the core of a breaker with a storage holds it, so that no call takes the
# CLOSED fast path: the shared route decides from the shared state's view instead.
SHARED = 6
# Not a state either: the compiled core of a breaker whose __init__ has not finished,
# which refuses every call.
UNINITIALISED = 7

# Strategy codes: how a success changes the error count while CLOSED.
SINGLE_RESET = 0
NET_ERROR = 1
COUNT_WINDOW = 2  # failure rate over the last N calls
TIME_WINDOW = 3  # failure rate over the calls of the last T seconds

DEFAULT_ERROR_THRESHOLD = 5
DEFAULT_RECOVERY_THRESHOLD = 1
DEFAULT_RECOVERY_TIMEOUT = 30

# The ranges of numeric options: what both twins accept, so that every value fits the
# compiled core's C fields and every date or index derived from it stays valid.
#: Thresholds, half_open_max_calls, minimum_calls: 1 .. 2**31 - 1, a C int anywhere.
MAX_COUNT = 2**31 - 1
#: count_window(size): the calls the window holds, one byte each.
MAX_WINDOW_CALLS = 1_000_000
#: time_window(buckets): the slices of a time window.
MAX_BUCKETS = 1_000
#: time_window(seconds) lower bound: with MAX_BUCKETS, a slice is at least 1 us.
MIN_WINDOW_SECONDS = 0.001
#: Any duration (recovery_timeout, a backoff's periods, slow_call_duration, a window's
#: seconds): about 31 years, so that the datetimes derived from it stay valid.
MAX_SECONDS = 1e9
#: What an injected clock may return: finite seconds within +-1e12 (about 31,700 years),
#: so that a time window's slice index fits a 64-bit integer.
MAX_CLOCK = 1e12

LOGGER_NAME = "pycircuitbreaker"

# Read at import time; setup.py keeps its own copy, since the build cannot import us.
ENV_NO_EXTENSIONS = "PYCIRCUITBREAKER_NO_EXTENSIONS"
TRUTHY_ENV_VALUES = frozenset({"1", "true", "yes", "on"})

MSG_BOOKKEEPING_FAILED = (
    "circuit breaker %r: recording a call's outcome failed; the call's own exception stands"
)
MSG_BACKOFF_FAILED = "circuit breaker %r: the backoff policy failed; keeping the last open period"
MSG_INVALID_STATE = (
    "circuit breaker %r: the state stored for it is not valid (%s); deciding locally, and "
    "overwriting it with the local state"
)
MSG_CALLBACK_FAILED = "circuit breaker %r: %s callback raised; ignoring it"
# Transitions, logged once each (never per call): opening at WARNING, the rest at INFO.
MSG_TRANSITION = "circuit breaker %r: %s -> %s"
MSG_TRANSITION_CAUSE = "circuit breaker %r: %s -> %s (%s)"
MSG_WOULD_OPEN = "circuit breaker %r: would open (metrics only, calls still run)"
MSG_GROUP_GROWS = (
    "breaker group %r keeps more than max_breakers=%d breakers (%d): every one is open, "
    "half-open, forced open or has errors counted, and dropping it would reset it"
)
MSG_OPEN = "Circuit {id} OPEN until {until} ({errors} errors, {remaining} sec remaining)"
MSG_FORCED_OPEN = "Circuit {id} FORCED_OPEN until reset() ({errors} errors)"
MSG_NO_PERMIT = "Circuit {id} HALF_OPEN with all {permits} trial calls in flight ({errors} errors)"
MSG_CLOCK_VALUE = (
    "clock must return a finite number of seconds between -{limit:g} and {limit:g}, got {value}"
)
MSG_REINIT = (
    "CircuitBreaker.__init__() called on a breaker that was already initialised; "
    "build a new breaker instead"
)
MSG_NOT_INITIALISED = (
    "circuit breaker used before its __init__() finished; use it once it is built"
)
MSG_EXIT_WITHOUT_ENTER = "circuit breaker {id!r}: __exit__ without a matching __enter__"
MSG_NOT_AWAITABLE = "call_async() needs a function that returns an awaitable; {func!r} returned {value}"
MSG_ASYNC_CALLBACK = (
    "{name} must be a plain function, got the async function {value!r}: the breaker "
    "calls it synchronously, so its coroutine would never run; schedule your coroutine "
    "from a plain function instead (e.g. asyncio.get_running_loop().create_task(...))"
)
