"""Draw the run as a chart a person reads in five seconds, when matplotlib is installed.

One panel per question a reader asks (a guarded call, a counted error, a rejection, the
same on an ``async def``, the state shared through Redis); in each, one horizontal bar per
library on a linear axis, labelled with its ns per call. A bar far longer than the rest is
cut (drawn to the axis' cap with a break, its value printed) so the fast rows stay
readable. The baselines, which have no breaker, are dashed reference lines, not bars; a
row with no number says "n/a". ``panels`` prepares all of it without matplotlib.
"""

import importlib.util
import textwrap
from dataclasses import dataclass
from typing import Optional

from .grid import FAILED, MEASURED, UNAVAILABLE
from .redis_route import LOCAL, SHARED, route_ns
from .report import row_label
from .scenarios import BY_KEY

# What the text of a bar with no number says, by the entry's status.
NA = "n/a"
NOT_INSTALLED = "n/a (not installed)"
NOT_MEASURED = "not measured in this run"

# The panels from the grids: (title, Results attribute, scenario key).
GRID_PANELS = (
    ("guarded call (decorator)", "grid", "a_closed_decorator"),
    ("counted error (the guarded call raises)", "grid", "b_closed_raises"),
    ("rejected while OPEN", "grid", "c_open_rejects"),
    ("async def, guarded call (decorator, awaited)", "async_grid", "async_a_closed_decorator"),
)
REDIS_TITLE = "state shared through Redis: guarded call (decorator)"
REDIS_SCENARIO = BY_KEY["a_closed_decorator"]

# Plain names for this project's rows and the baselines (others keep their table label).
NAMES = {"compiled": "ours: compiled core", "pure": "ours: pure-Python core",
         "floor": "Cython forwarder"}
# This project in one strong colour family, everyone else in neutral grey.
OURS_COLOURS = {"compiled": "#0b4f9c", "pure": "#4c93e0"}
OURS_DEFAULT = "#2a6fc0"
PEER_COLOUR = "#a3a3a3"
REFERENCE_COLOUR = "#b5402a"
# A bar is cut when it is over CUT_RATIO times the next shorter one (at most half the
# bars are); the axis then ends at CAP_MARGIN times the longest bar drawn to scale.
CUT_RATIO = 2.5
# Printed values sit on white, so a reference line passing behind them does not strike
# them through.
LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.9}
CAP_MARGIN = 1.3


@dataclass(frozen=True)
class Bar:
    """One library in one panel: its ns per call, or None and the text said instead."""

    label: str
    ns: Optional[float]
    ours: bool
    key: str = ""
    #: What to print where a bar with no number would be ("n/a", "FAILED", ...).
    missing: str = ""
    #: A comparison bar (ours without Redis, in the Redis panel): drawn paler.
    secondary: bool = False


@dataclass(frozen=True)
class Reference:
    """A baseline with no breaker, drawn as a dashed vertical line."""

    label: str
    ns: float


@dataclass(frozen=True)
class Panel:
    """One subplot: a title, its bars top to bottom, its reference lines, or a note."""

    title: str
    bars: tuple
    references: tuple = ()
    #: Said in the panel instead of (or beside) the bars, e.g. why nothing was measured.
    note: str = ""


def available():
    """Return whether matplotlib is installed."""
    return importlib.util.find_spec("matplotlib") is not None


def name(row):
    """Return the plain name the chart gives ``row``."""
    return NAMES.get(row.key) or row_label(row)


def panels(results):
    """Return the chart's panels from ``results``: pure data, no drawing."""
    found = []
    for title, attribute, scenario_key in GRID_PANELS:
        grid = getattr(results, attribute, None)
        found.append(grid_panel(title, grid, BY_KEY[scenario_key]))
    found.append(redis_panel(results))
    return found


def grid_panel(title, grid, scenario):
    """Return the panel of ``scenario``: a bar per breaker, a line per baseline."""
    if grid is None or not grid.rows:
        return Panel(title, (), note=NOT_MEASURED)
    bars, references = [], []
    for row in grid.rows:
        entry = grid.entry(row.key, scenario)
        ns = entry.ns if entry is not None and entry.status == MEASURED else None
        if row.kind == "baseline":
            # No breaker: a yardstick, not a competitor (and none where it cannot run).
            if ns is not None:
                references.append(Reference(name(row), ns))
            continue
        bars.append(Bar(name(row), ns, row.kind == "ours", row.key,
                        "" if ns is not None else missing_text(entry)))
    # Ours first, so the eye finds them at the top of every panel.
    bars.sort(key=lambda bar: not bar.ours)
    return Panel(title, tuple(bars), tuple(references))


def missing_text(entry):
    """Return what a row with no number in a scenario shows instead."""
    if entry is None:
        return NA
    if entry.status == UNAVAILABLE:
        return NOT_INSTALLED
    if entry.status == FAILED:
        return FAILED
    return NA


def redis_panel(results):
    """Return the Redis panel: each of ours shared vs local, and the shared peers."""
    run = getattr(results, "redis", None)
    if run is None:
        return Panel(REDIS_TITLE, (), note=f"{NOT_MEASURED} (--no-redis)")
    if not run.measured:
        return Panel(REDIS_TITLE, (), note=f"{NOT_MEASURED}: {run.reason}")
    grid = getattr(results, "grid", None)
    bars = []
    for key, shared_row in run.rows.items():
        label = name(shared_row.row)
        ours = shared_row.kind == "ours"
        if key in run.unavailable or key in run.failed:
            text = FAILED if key in run.failed else NOT_INSTALLED
            bars.append(Bar(f"{label}, Redis", None, ours, key, text))
            continue
        if ours:
            # Timed side by side in the same rounds (redis_route) when it ran; else the
            # full-speed stretch and the main table's number.
            shared = route_ns(run, key, REDIS_SCENARIO, SHARED) or run.ns(key)
            local = route_ns(run, key, REDIS_SCENARIO, LOCAL)
            if local is None and grid is not None:
                local = grid.ns(key, REDIS_SCENARIO)
            bars.append(Bar(f"{label}, Redis", shared, True, key,
                            "" if shared is not None else NA))
            bars.append(Bar(f"{label}, in-process", local, True, key,
                            "" if local is not None else NA, secondary=True))
        else:
            shared = run.ns(key)
            bars.append(Bar(f"{label}, Redis", shared, False, key,
                            "" if shared is not None else NA))
    bars.sort(key=lambda bar: not bar.ours)
    if not bars:
        return Panel(REDIS_TITLE, (), note=f"{NOT_MEASURED}: no row could share its state")
    return Panel(REDIS_TITLE, tuple(bars))


def scale(panel):
    """Return (cap, cut): where the panel's axis ends and the bar values drawn cut at it."""
    values = sorted({bar.ns for bar in panel.bars if bar.ns is not None}, reverse=True)
    lines = [reference.ns for reference in panel.references]
    cut = []
    # Cut the longest bars while each is far longer than the next (at most half of them).
    while len(cut) < len(values) // 2 and values[0] > CUT_RATIO * values[1]:
        cut.append(values.pop(0))
    longest = max(values + lines, default=1.0)
    cap = longest * CAP_MARGIN if cut else longest * 1.02
    return cap, set(cut)


def draw(results, path, subtitle):
    """Write the chart of ``results`` to ``path`` (PNG); ``subtitle`` names the machine."""
    render(panels(results), path, subtitle)


def render(panel_list, path, subtitle):
    """Draw ``panel_list`` (from ``panels``) in a grid of subplots, plus a key, to ``path``."""
    import matplotlib

    # No display is needed or wanted: the chart only goes to a file.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    columns = 2
    slots = len(panel_list) + 1  # the last slot holds the key
    rows = (slots + columns - 1) // columns
    figure, grid = plt.subplots(rows, columns, figsize=(14, 10), squeeze=False)
    axes_list = [axes for line in grid for axes in line]
    for axes, panel in zip(axes_list, panel_list):
        _draw_panel(axes, panel)
    key_axes = axes_list[len(panel_list)]
    key_axes.axis("off")
    handles = [
        Patch(color=OURS_COLOURS["compiled"], label="ours: pycircuitbreaker, compiled core"),
        Patch(color=OURS_COLOURS["pure"], label="ours: pycircuitbreaker, pure-Python core"),
        Patch(color=PEER_COLOUR, label="other circuit breakers (and the original 0.5.0)"),
        Line2D([], [], color=REFERENCE_COLOUR, linestyle="--",
               label="baseline with no breaker (reference line)"),
        Patch(facecolor="white", edgecolor="#555555", hatch="///",
              label="cut bar: too long to draw to scale"),
    ]
    key_axes.legend(handles=handles, loc="upper left", fontsize=11, frameon=False,
                    title="how to read it", title_fontsize=12)
    key_axes.text(0.0, 0.22, "Each bar: median ns per call of a no-op guarded function,\n"
                  "loop overhead included. Shorter is faster. n/a: the library\n"
                  "cannot do this call (see the text report for why).",
                  transform=key_axes.transAxes, fontsize=10, color="#333333", va="top")
    for axes in axes_list[len(panel_list) + 1:]:
        axes.axis("off")
    figure.suptitle("pycircuitbreaker vs other Python circuit breakers: "
                    "time per call in ns (lower is better)",
                    fontsize=16, fontweight="bold", y=0.985)
    figure.text(0.5, 0.945, subtitle, ha="center", fontsize=11, color="#444444")
    figure.tight_layout(rect=(0, 0, 1, 0.94), h_pad=2.0, w_pad=3.0)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _colour(bar):
    if not bar.ours:
        return PEER_COLOUR
    return OURS_COLOURS.get(bar.key, OURS_DEFAULT)


def _draw_panel(axes, panel):
    axes.set_title(panel.title, fontsize=12, fontweight="bold", loc="left")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if not panel.bars:
        axes.set_xticks([])
        axes.set_yticks([])
        axes.spines["left"].set_visible(False)
        axes.spines["bottom"].set_visible(False)
        axes.text(0.5, 0.5, textwrap.fill(panel.note or NOT_MEASURED, 60),
                  transform=axes.transAxes, ha="center", va="center", fontsize=11,
                  color="#666666", style="italic")
        return
    cap, cut = scale(panel)
    positions = range(len(panel.bars))
    # Room to the right of the cap for the value printed after a bar.
    right = cap * 1.22
    for y, bar in zip(positions, panel.bars):
        if bar.ns is None:
            axes.text(right * 0.01, y, bar.missing or NA, va="center", fontsize=10,
                      color="#666666", style="italic", zorder=5, bbox=LABEL_BOX)
            continue
        clipped = bar.ns in cut
        width = cap if clipped else bar.ns
        axes.barh(y, width, height=0.7, color=_colour(bar),
                  alpha=0.45 if bar.secondary else 1.0,
                  hatch="///" if clipped else None, edgecolor="white" if clipped else None,
                  linewidth=0)
        if clipped:
            # The break: a white gap with slanted edges just before the cap.
            axes.plot([cap * 0.90, cap * 0.92], [y + 0.38, y - 0.38], color="white",
                      linewidth=5)
        text = f"{bar.ns:,.0f}" if bar.ns >= 100 else f"{bar.ns:.1f}"
        axes.text(width + right * 0.01, y, text + (" (cut)" if clipped else ""),
                  va="center", fontsize=10, fontweight="bold" if bar.ours else "normal",
                  color="#111111", zorder=5, bbox=LABEL_BOX)
    labels = [bar.label for bar in panel.bars]
    axes.set_yticks(list(positions))
    axes.set_yticklabels(labels, fontsize=10)
    for tick, bar in zip(axes.get_yticklabels(), panel.bars):
        if bar.ours:
            tick.set_fontweight("bold")
            tick.set_color(OURS_COLOURS["compiled"])
    # Below the bars, one line of text per reference so their labels never overlap.
    bottom = len(panel.bars) - 0.4
    for index, reference in enumerate(sorted(panel.references, key=lambda r: r.ns)):
        axes.axvline(reference.ns, color=REFERENCE_COLOUR, linestyle="--", linewidth=1.3,
                     zorder=3)
        y = bottom + 0.55 * (index + 0.6)
        left_side = reference.ns > right * 0.6
        axes.text(reference.ns + (-1 if left_side else 1) * right * 0.008, y,
                  f"{reference.label} {reference.ns:,.0f}", fontsize=9,
                  color=REFERENCE_COLOUR, va="center", ha="right" if left_side else "left",
                  zorder=5, bbox=LABEL_BOX)
    extra = 0.55 * len(panel.references)
    axes.set_ylim(bottom + extra + 0.1, -0.6)
    axes.set_xlim(0, right)
    axes.tick_params(axis="x", labelsize=9)
    axes.xaxis.set_major_formatter(_thousands())
    axes.set_xlabel("ns per call (linear)", fontsize=9, color="#555555")
    axes.grid(axis="x", alpha=0.25)
    axes.set_axisbelow(True)
    if panel.note:
        axes.text(0.99, 0.02, panel.note, transform=axes.transAxes, ha="right",
                  fontsize=9, color="#666666", style="italic")


def _thousands():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:,.0f}")
