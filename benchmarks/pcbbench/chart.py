"""Draw the ns/call table as a grouped bar chart, when matplotlib is installed."""

import importlib.util

from .grid import MEASURED
from .report import row_label
from .scenarios import SCENARIOS


def available():
    """Return whether matplotlib is installed."""
    return importlib.util.find_spec("matplotlib") is not None


def draw(results, path, subtitle):
    """Write a bar chart of every measured row x scenario to ``path`` (PNG)."""
    import matplotlib

    # No display is needed or wanted: the chart only goes to a file.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = results.grid
    rows = [row for row in grid.rows if row.key not in grid.unavailable]
    width = 0.8 / max(len(rows), 1)
    figure, axes = plt.subplots(figsize=(15, 6.5))
    for index, row in enumerate(rows):
        xs, heights = [], []
        for position, scenario in enumerate(SCENARIOS):
            entry = grid.entry(row.key, scenario)
            if entry is not None and entry.status == MEASURED:
                xs.append(position - 0.4 + width * (index + 0.5))
                heights.append(entry.ns)
        axes.bar(xs, heights, width, label=row_label(row))
    axes.set_yscale("log")
    axes.set_ylabel("ns per call (log scale; lower is better)")
    axes.set_xticks(range(len(SCENARIOS)))
    axes.set_xticklabels([s.column for s in SCENARIOS])
    axes.set_title("pycircuitbreaker benchmark: median ns per call on a no-op function\n"
                   + subtitle, fontsize=10)
    axes.grid(axis="y", which="both", alpha=0.3)
    # Below the plot: inside it, the legend would hide the tallest bars.
    axes.legend(fontsize=8, ncol=len(rows), loc="upper center", bbox_to_anchor=(0.5, -0.07),
                frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
