"""What is measured: each scenario is one kind of call on a breaker in one state."""

from dataclasses import dataclass

# What the caller sees.
RETURNS = "returns"
RAISES = "raises"
REJECTS = "rejects"

# The state the breaker must be in, as every row's probe reports it.
CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

# How the call reaches the breaker.
DECORATOR = "decorator"
CALL = "call"

# Which breaker options are in play.
PLAIN = "plain"
NET_ERROR = "net_error"
DETECT_ERROR = "detect_error"
# Failure-rate window strategies (``windows.STRATEGIES`` builds each); of the peers, only
# interlock has windows (set in its Config instead).
COUNT_WINDOW = "count_window"
LARGE_COUNT_WINDOW = "count_window_100000"
TIME_WINDOW = "time_window"
SLOW_CALLS = "slow_calls"
WINDOW_VARIANTS = (COUNT_WINDOW, LARGE_COUNT_WINDOW, TIME_WINDOW, SLOW_CALLS)

# Big enough that no benchmark run reaches it, so the breaker never changes state.
NEVER = 10**9


@dataclass(frozen=True)
class Scenario:
    """One column of the table: a state, an outcome, a calling form, an option set."""

    key: str
    column: str
    title: str
    state: str
    outcome: str
    form: str = DECORATOR
    variant: str = PLAIN
    #: Whether the guarded function is an ``async def`` whose calls are awaited.
    awaited: bool = False


SCENARIOS = (
    Scenario("a_closed_decorator", "a deco", "(a) closed, returns, decorator", CLOSED, RETURNS),
    Scenario("a_closed_call", "a call", "(a) closed, returns, breaker.call(f)", CLOSED, RETURNS,
             form=CALL),
    Scenario("b_closed_raises", "b raise", "(b) closed, raises (counted, never trips)", CLOSED,
             RAISES),
    Scenario("c_open_rejects", "c reject", "(c) open, rejects", OPEN, REJECTS),
    Scenario("d_half_open", "d half", "(d) half-open, trial call succeeds", HALF_OPEN, RETURNS),
    Scenario("a_net_error", "a NET", "(a) with NET_ERROR", CLOSED, RETURNS, variant=NET_ERROR),
    Scenario("b_net_error", "b NET", "(b) with NET_ERROR", CLOSED, RAISES, variant=NET_ERROR),
    Scenario("c_net_error", "c NET", "(c) with NET_ERROR", OPEN, REJECTS, variant=NET_ERROR),
    Scenario("a_detect_error", "a detect", "(a) with detect_error", CLOSED, RETURNS,
             variant=DETECT_ERROR),
    Scenario("b_detect_error", "b detect", "(b) with detect_error", CLOSED, RAISES,
             variant=DETECT_ERROR),
    Scenario("c_detect_error", "c detect", "(c) with detect_error", OPEN, REJECTS,
             variant=DETECT_ERROR),
    Scenario("a_count_window", "a count", "(a) closed, count window", CLOSED, RETURNS,
             variant=COUNT_WINDOW),
    Scenario("a_count_window_100000", "a 100k", "(a) closed, count window 100,000", CLOSED,
             RETURNS, variant=LARGE_COUNT_WINDOW),
    Scenario("a_time_window", "a time", "(a) closed, time window", CLOSED, RETURNS,
             variant=TIME_WINDOW),
    Scenario("a_slow_calls", "a slow", "(a) with slow-call detection", CLOSED, RETURNS,
             variant=SLOW_CALLS),
)
# Issue #5: the same calls on an ``async def``, awaited. Only these rows take part; the
# table and its rows are separate (rows.ASYNC_ROW_CLASSES).
ASYNC_SCENARIOS = (
    Scenario("async_a_closed_decorator", "a deco", "(a) async, closed, returns, decorator",
             CLOSED, RETURNS, awaited=True),
    Scenario("async_a_closed_call", "a call",
             "(a) async, closed, returns, await breaker.call_async(f)", CLOSED, RETURNS,
             form=CALL, awaited=True),
    Scenario("async_b_closed_raises", "b raise",
             "(b) async, closed, raises (counted, never trips)", CLOSED, RAISES, awaited=True),
    Scenario("async_c_open_rejects", "c reject", "(c) async, open, rejects", OPEN, REJECTS,
             awaited=True),
)
BY_KEY = {scenario.key: scenario for scenario in SCENARIOS + ASYNC_SCENARIOS}

# One scenario per outcome, with default options: baselines (which have no state or
# options) are measured only there, and the NET_ERROR, detect_error and window variants
# are compared with it. The async baselines likewise, among the async scenarios.
CANONICAL = {RETURNS: BY_KEY["a_closed_decorator"], RAISES: BY_KEY["b_closed_raises"],
             REJECTS: BY_KEY["c_open_rejects"]}
ASYNC_CANONICAL = {RETURNS: BY_KEY["async_a_closed_decorator"],
                   RAISES: BY_KEY["async_b_closed_raises"],
                   REJECTS: BY_KEY["async_c_open_rejects"]}


def canonical(scenario):
    """Return the default-options scenario with the outcome (and awaiting) of ``scenario``."""
    return (ASYNC_CANONICAL if scenario.awaited else CANONICAL)[scenario.outcome]
