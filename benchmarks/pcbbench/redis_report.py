"""Format the Redis section: throughput and commands per call, every stretch, error calls."""

import textwrap

from .redis_results import ERRORS, PACED_RATE, TARGET_RATE
from .redis_route import LOCAL, ROUTE_SCENARIOS, SHARED, route_ns
from .report import row_label
from .scenarios import BY_KEY
from .timing import number, plural

LABEL = 20
IN_PROCESS = BY_KEY["a_closed_decorator"]


def section(results):
    """Return the lines of the Redis section, or of why it was not measured."""
    run = results.redis
    if run is None:
        return []
    lines = ["", "Shared state in Redis (healthy CLOSED path; a no-op guarded through the "
                 "decorator)"]
    if not run.measured:
        return lines + [f"  not measured: {run.reason}"]
    lines += _method(run)
    lines += _summary(results, run)
    lines += _route(run)
    lines += _stretches(run)
    lines += _errors(run)
    lines += _notes(run)
    return lines


def _method(run):
    budget = run.budget
    uses = [f"{row_label(row.row)}: {row.storage}" for key, row in run.rows.items()
            if key not in run.unavailable]
    text = (
        f"{run.server}, started for this run (persistence off) and stopped by its pid. "
        f"{plural(budget.rounds, 'full-speed stretch')} of ~{budget.seconds:g} s per row, "
        "interleaved, timed as the main table is; then, for this project's rows, "
        f"{budget.paced_calls:,} calls paced at {PACED_RATE:,} calls/s, the slowest rate "
        "the target covers. Commands are the server's own count (INFO commandstats read "
        "before and after each stretch, those readings left out): sent = what the client "
        "sent, a script run (EVALSHA) counting once; run = that plus the commands run "
        "inside the Lua script. Uses: " + "; ".join(uses) + "."
    )
    return textwrap.wrap(text, width=88, initial_indent="  ", subsequent_indent="  ")


def _summary(results, run):
    lines = ["", f"Redis, healthy CLOSED at full speed (median of "
                 f"{plural(run.budget.rounds, 'stretch')} per row)",
             _line("", ["calls/s", "ns/call", "sent/call", "run/call", "x pybreaker",
                        "x local"])]
    reference = run.rate("pybreaker")
    for key, row in run.rows.items():
        ns, rate = run.ns(key), run.rate(key)
        if ns is None:
            continue
        local = results.grid.ns(key, IN_PROCESS) if results.grid is not None else None
        lines.append(_line(row_label(row.row)[:LABEL - 1], [
            f"{rate:,.0f}", number(ns), per_call(run.per_call(key)),
            per_call(run.per_call(key, run=True)),
            f"{rate / reference:,.1f}x" if reference else "-",
            f"{ns / local:,.1f}x" if local else "-",
        ]))
    lines.append("  x pybreaker: calls/s over pybreaker's; x local: ns/call over the same "
                 "row's (a) decorator without storage (main table)")
    return lines


def _route(run):
    """Return the table of the shared route beside the local breaker, timed in the same rounds."""
    if not run.route:
        return []
    lines = ["", "The shared route beside the same breaker without storage (ns/call, median "
                 "of rounds timed together)",
             _line("", [heading for scenario in ROUTE_SCENARIOS
                        for heading in (scenario.column, "shared", "x")])]
    for key, row in run.rows.items():
        cells = []
        for scenario in ROUTE_SCENARIOS:
            local, shared = (route_ns(run, key, scenario, where) for where in (LOCAL, SHARED))
            if local is None or shared is None:
                cells += ["-", "-", "-"]
                continue
            cells += [number(local), number(shared), f"{shared / local:.2f}x"]
        if any(cell != "-" for cell in cells):
            lines.append(_line(row_label(row.row)[:LABEL - 1], cells))
    lines.append("  local: the scenario's breaker without storage; shared: the same with "
                 "RedisStorage; x: shared over local")
    return lines


def _stretches(run):
    lines = ["", f"Redis, every stretch (the commands target applies at {TARGET_RATE:,} "
                 "calls/s or more)",
             f"{'':<{LABEL}}{'stretch':<12}{'calls':>10}{'s':>7}{'calls/s':>11}"
             f"{'sent/call':>11}  commands"]
    for stretch in run.stretches:
        if stretch.kind == ERRORS:
            continue
        label = row_label(run.rows[stretch.row].row)[:LABEL - 1]
        lines.append(f"{label:<{LABEL}}{stretch.kind:<12}{stretch.calls:>10,}"
                     f"{stretch.seconds:>7.2f}{stretch.rate:>11,.0f}"
                     f"{per_call(stretch.sent_per_call):>11}  {_commands(stretch)}")
    return lines


def _errors(run):
    stretches = [s for s in run.stretches if s.kind == ERRORS]
    if not stretches:
        return []
    reference = run.rate("pybreaker", ERRORS)
    lines = ["", "Redis, a call that raises and is counted (informational; never trips)",
             _line("", ["calls/s", "ns/call", "sent/call", "run/call", "x pybreaker"])]
    for stretch in stretches:
        rate = stretch.rate
        lines.append(_line(row_label(run.rows[stretch.row].row)[:LABEL - 1], [
            f"{rate:,.0f}", number(stretch.ns), per_call(stretch.sent_per_call),
            per_call(stretch.run_per_call),
            f"{rate / reference:,.2f}x" if reference else "-",
        ]))
    lines += [f"  {s.row} commands: {_commands(s)}" for s in stretches]
    return lines


def _notes(run):
    lines = [f"  FAILED {key}: {note}" for key, note in run.failed.items()]
    lines += [f"  -      {key}: not measured: {note}" for key, note in run.unavailable.items()]
    if any(stretch.fallbacks for stretch in run.stretches):
        lines.append("  a stretch marked FELL BACK had a Redis command time out (the client's "
                     "socket timeout); its breaker went on with local state, so it is left "
                     "out of the medians and the targets")
    return ["", "Redis, notes:"] + lines if lines else []


def _commands(stretch):
    """Return what the client sent, by name, and how many commands ran inside scripts."""
    commands = stretch.commands
    text = ", ".join(f"{name} {count:,}" for name, count in sorted(commands.sent.items()))
    inside = commands.total_run - commands.total_sent
    text = (text or "none") + (f" (+ {inside:,} inside the script)" if inside else "")
    if stretch.fallbacks:
        text += f"; FELL BACK to local state {stretch.fallbacks:,} time(s), left out"
    return text


def _line(label, cells, width=12):
    return f"{label:<{LABEL}}" + "".join(f"{cell:>{width}}" for cell in cells)


def per_call(value):
    """Return commands per call for a column: 4 decimals, or 2 significant digits if tiny."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if value < 0.001:
        return f"{value:.1e}"
    return f"{value:.4f}" if value < 1 else f"{value:.2f}"
