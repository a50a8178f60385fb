"""The speed targets of issues #3-#5, judged from one run's numbers: MET / NOT MET / UNKNOWN.

Issue #3: the breaker against the floor and the peers. Issue #4: the failure-rate windows
(strategy objects), against the floor, against each other and in memory. Issue #5: the
async decorator against an ``async def`` forwarder. The Redis issue: shared state that
costs next to no round trips on the healthy path, far faster than pybreaker's.
"""

from dataclasses import dataclass
from typing import Optional

from .leaks import REJECTIONS
from .redis_report import per_call
from .redis_results import TARGET_RATE
from .redis_route import LOCAL, ROUTE_SCENARIOS, SHARED, route_ns
from .scaling import CROWD
from .scenarios import BY_KEY, DETECT_ERROR, NET_ERROR, SCENARIOS, canonical
from .scraping import SCRAPE_INTERVAL
from .timing import number, plural
from .windows import CALLS as WINDOW_CALLS
from .windows import RETAINED_LIMIT as WINDOW_RETAINED_LIMIT

MET, NOT_MET, UNKNOWN = "MET", "NOT MET", "UNKNOWN"
OURS = ("compiled", "pure")
# "Does not grow" still has to survive timing noise; a real per-breaker cost would be
# far larger than this.
REGISTRY_NOISE = 1.10
# The Redis issue's targets.
REDIS_COMMANDS_PER_CALL = 0.01
REDIS_TIMES_PYBREAKER = 50


@dataclass
class Verdict:
    """One target: what it asks, whether the run meets it, and the numbers behind that."""

    target: str
    met: Optional[bool]
    detail: str

    @property
    def status(self):
        """Return MET, NOT MET or UNKNOWN."""
        return UNKNOWN if self.met is None else MET if self.met else NOT_MET


def evaluate(results):
    """Return a Verdict for every target, in the issue's order."""
    grid = results.grid
    a_deco, a_call = BY_KEY["a_closed_decorator"], BY_KEY["a_closed_call"]
    b, c = BY_KEY["b_closed_raises"], BY_KEY["c_open_rejects"]
    verdicts = [
        _ratio("(a) compiled, decorator: at most 1.0x the Cython floor",
               grid.ns("compiled", a_deco), grid.ns("floor", a_deco), 1.0, "floor"),
        _ratio("(a) compiled, breaker.call(f): at most 1.0x the Cython floor",
               grid.ns("compiled", a_call), grid.ns("floor", a_call), 1.0, "floor"),
        _ratio("(b) compiled: at most 1.3x the floor's (b)",
               grid.ns("compiled", b), grid.ns("floor", b), 1.3, "floor (b)"),
        _ratio("(c) compiled: at most 1.25x the floor's (c)",
               grid.ns("compiled", c), grid.ns("floor", c), 1.25, "floor (c)"),
    ]
    verdicts += [_leaks(key, results.leaks.get(key)) for key in OURS]
    peer, peer_ns = grid.fastest_peer(a_deco)
    verdicts.append(_ratio(
        "pure twin, (a) decorator: at most half the fastest peer's decorator",
        grid.ns("pure", a_deco), peer_ns, 0.5, peer.label if peer else "fastest peer",
    ))
    verdicts += [_net_error(grid, key) for key in OURS]
    verdicts += [_detect_error(results, key) for key in OURS]
    verdicts += [_registry(results, key) for key in OURS]
    verdicts += [_scraped(results, key) for key in OURS]
    verdicts += _windows(results)
    verdicts += _async(results)
    verdicts += _redis(results)
    verdicts += _route(results)
    return verdicts


# The shared route's targets: (row, scenario index in ROUTE_SCENARIOS, most shared/local).
ROUTE_TARGETS = (
    ("compiled", 0, 1.5, "compiled, shared CLOSED success"),
    ("compiled", 1, 1.5, "compiled, shared OPEN rejection"),
    ("compiled", 2, 2.0, "compiled, shared windowed CLOSED success"),
    ("pure", 0, 2.5, "pure, shared CLOSED success"),
    ("pure", 1, 2.5, "pure, shared OPEN rejection"),
    ("pure", 2, 2.5, "pure, shared windowed CLOSED success"),
)


def _route(results):
    """Return the shared route's verdicts: shared over local, timed in the same rounds."""
    run = results.redis
    verdicts = []
    for key, index, limit, what in ROUTE_TARGETS:
        scenario = ROUTE_SCENARIOS[index]
        target = f"{what}: at most {limit:g}x the same breaker without storage"
        if run is None or not run.measured:
            reason = "--no-redis" if run is None else run.reason
            verdicts.append(Verdict(target, None, f"not measured: {reason}"))
            continue
        verdicts.append(_ratio(target, route_ns(run, key, scenario, SHARED),
                               route_ns(run, key, scenario, LOCAL), limit,
                               f"local {scenario.column}"))
    return verdicts


def _redis(results):
    """Return the Redis issue's verdicts: commands per call, and throughput over pybreaker."""
    run = results.redis
    commands = (f"Redis, compiled and pure: at most {REDIS_COMMANDS_PER_CALL:g} Redis commands "
                f"per call on the healthy CLOSED path at {TARGET_RATE:,}+ calls/s")
    speed = (f"Redis, compiled and pure: at least {REDIS_TIMES_PYBREAKER}x pybreaker "
             "CircuitRedisStorage's throughput")
    if run is None or not run.measured:
        reason = "--no-redis" if run is None else run.reason
        return [Verdict(commands, None, f"not measured: {reason}"),
                Verdict(speed, None, f"not measured: {reason}")]
    return [_all(commands, [_redis_commands(run, key) for key in OURS]),
            _all(speed, [_redis_speed(run, key) for key in OURS])]


def _all(target, parts):
    """Return one Verdict over (met, detail) parts: UNKNOWN if any part is."""
    met = None if any(m is None for m, _ in parts) else all(m for m, _ in parts)
    return Verdict(target, met, "; ".join(detail for _, detail in parts))


def _redis_commands(run, key):
    missing = _redis_missing(run, key)
    if missing:
        return None, missing
    qualifying = run.qualifying(key)
    if not qualifying:
        return None, f"{key}: no stretch on Redis reached {TARGET_RATE:,} calls/s"
    worst = max(qualifying, key=lambda stretch: stretch.sent_per_call)
    detail = (f"{key}: at most {per_call(worst.sent_per_call)} ({worst.commands.total_sent:,} "
              f"in {worst.calls:,} calls, {worst.kind} at {worst.rate:,.0f} calls/s); "
              f"{per_call(run.per_call(key))} at full speed, {run.rate(key):,.0f} calls/s")
    return worst.sent_per_call <= REDIS_COMMANDS_PER_CALL, detail + _fell_back(run, key)


def _fell_back(run, key):
    count = len(run.fell_back(key))
    return f" ({plural(count, 'stretch')} that fell back to local state left out)" if count else ""


def _redis_speed(run, key):
    missing = _redis_missing(run, key) or _redis_missing(run, "pybreaker")
    if missing:
        return None, missing
    ours, theirs = run.rate(key), run.rate("pybreaker")
    return (ours >= REDIS_TIMES_PYBREAKER * theirs,
            f"{key} {ours:,.0f} vs pybreaker {theirs:,.0f} calls/s = {ours / theirs:,.1f}x"
            + _fell_back(run, key))


def _redis_missing(run, key):
    """Return why ``key`` has no healthy full-speed numbers in the Redis run, or ''."""
    if key in run.failed:
        return f"{key} FAILED: {run.failed[key]}"
    if run.rate(key) is None:
        if run.fell_back(key):
            return f"{key}: every stretch fell back to local state (Redis did not answer)"
        return f"{key} not measured: {run.unavailable.get(key, 'not chosen')}"
    return ""


def _async(results):
    """Return issue #5's verdicts: each core's async decorator against the async forwarder."""
    grid = results.async_grid
    deco = BY_KEY["async_a_closed_decorator"]

    def ns(row_key):
        return grid.ns(row_key, deco) if grid is not None else None

    return [_ratio(f"async (a) {key}, decorator: at most 1.3x the async forwarder",
                   ns(key), ns("async_forwarder"), 1.3, "async forwarder")
            for key in OURS]


def _windows(results):
    """Return issue #4's verdicts: windows against the floor, by size, and in memory."""
    grid = results.grid
    count, large = BY_KEY["a_count_window"], BY_KEY["a_count_window_100000"]
    timed = BY_KEY["a_time_window"]
    verdicts = [
        _ratio("(a) compiled, count window: at most 1.3x the Cython floor",
               grid.ns("compiled", count), grid.ns("floor", count), 1.3, "floor"),
        _ratio("(a) compiled, time window: at most 1.5x the Cython floor",
               grid.ns("compiled", timed), grid.ns("floor", timed), 1.5, "floor"),
    ]
    for key in OURS:
        target = (f"count window, {key}: (a) cost per call the same for size 100 and "
                  "100,000")
        small, big = grid.ns(key, count), grid.ns(key, large)
        if small is None or big is None:
            verdicts.append(Verdict(target, None, "not measured"))
            continue
        # Either way round: a window of 100 that costs more is no better a sign.
        ratio = max(big / small, small / big)
        verdicts.append(Verdict(target, ratio <= REGISTRY_NOISE,
                                f"{number(small)} vs {number(big)} ns = {big / small:.2f}x "
                                f"(allowing {REGISTRY_NOISE:.2f}x either way for noise)"))
    verdicts += [_window_memory(results, key) for key in OURS]
    return verdicts


def _window_memory(results, row_key):
    target = (f"windows, {row_key}: memory fixed at construction ({WINDOW_CALLS:,} calls "
              f"through each windowed breaker retain < {WINDOW_RETAINED_LIMIT // 1024} KB)")
    reports = results.window_memory.get(row_key)
    if not reports:
        return Verdict(target, None, "not measured")
    met = all(report.clean for report in reports)
    detail = "; ".join(report.summary() for report in reports)
    closed = [report for report in reports if report.state_after != "closed"]
    if closed:
        detail += "; NOT CLOSED after: " + ", ".join(report.scenario for report in closed)
    return Verdict(target, met, detail)


def _ratio(target, ns, reference, limit, reference_name):
    if ns is None or reference is None:
        return Verdict(target, None, f"not measured (needs this row and {reference_name})")
    ratio = ns / reference
    return Verdict(target, ratio <= limit,
                   f"{number(ns)} ns vs {reference_name} {number(reference)} ns = {ratio:.2f}x")


def _leaks(row_key, report):
    target = f"(c) {row_key}: {REJECTIONS:,} rejections grow neither memory nor the traceback"
    if report is None:
        return Verdict(target, None, "not measured")
    return Verdict(target, report.clean, report.summary())


def _net_error(grid, row_key):
    target = f"NET_ERROR, {row_key}: (a)-(c) within 1.1x of its SINGLE_RESET row"
    parts, met = [], True
    for scenario in (s for s in SCENARIOS if s.variant == NET_ERROR):
        ns, plain = grid.ns(row_key, scenario), grid.ns(row_key, canonical(scenario))
        if ns is None or plain is None:
            return Verdict(target, None, f"{scenario.column} not measured")
        ratio = ns / plain
        met &= ratio <= 1.1
        parts.append(f"{scenario.key[0]} {number(ns)}/{number(plain)} ns = {ratio:.2f}x")
    return Verdict(target, met, "; ".join(parts))


def _detect_error(results, row_key):
    target = (f"detect_error, {row_key}: (a)-(c) at most its SINGLE_RESET row + one "
              "detector call")
    if results.detector_ns is None:
        return Verdict(target, None, "detector call not measured")
    # Raw, like every number here: the detector's timing includes one empty loop
    # iteration too, which makes this allowance that much more generous (shown below).
    detector = results.detector_ns
    grid, parts, met = results.grid, [], True
    for scenario in (s for s in SCENARIOS if s.variant == DETECT_ERROR):
        ns, plain = grid.ns(row_key, scenario), grid.ns(row_key, canonical(scenario))
        if ns is None or plain is None:
            return Verdict(target, None, f"{scenario.column} not measured")
        met &= ns <= plain + detector
        parts.append(f"{scenario.key[0]} {number(ns)} vs {number(plain)} + {number(detector)} ns")
    detail = "; ".join(parts) + (f" (the detector call's {number(detector)} ns includes a "
                                 f"{number(results.loop_ns)} ns empty loop iteration)")
    return Verdict(target, met, detail)


def _scraped(results, row_key):
    target = (f"metrics, {row_key}: (a) cost unchanged while a scraper reads metrics() "
              f"every {SCRAPE_INTERVAL * 1000:g} ms")
    if row_key not in results.scraped:
        return Verdict(target, None, "not measured")
    alone, scraped = results.registry[row_key][0], results.scraped[row_key]
    ratio = scraped / alone
    return Verdict(target, ratio <= REGISTRY_NOISE,
                   f"{number(alone)} -> {number(scraped)} ns = {ratio:.2f}x "
                   f"(allowing {REGISTRY_NOISE:.2f}x for noise)")


def _registry(results, row_key):
    target = (f"registry, {row_key}: (a) cost does not grow from 1 to "
              f"{results.crowd or CROWD:,} breakers registered")
    if row_key not in results.registry:
        return Verdict(target, None, "not measured")
    alone, crowded = results.registry[row_key]
    ratio = crowded / alone
    return Verdict(target, ratio <= REGISTRY_NOISE,
                   f"{number(alone)} -> {number(crowded)} ns = {ratio:.2f}x "
                   f"(allowing {REGISTRY_NOISE:.2f}x for noise)")
