"""The table's contents: one entry per row and scenario, measured or explained."""

from dataclasses import dataclass, field
from typing import Optional

from .cell import Cell, NotApplicable, Unavailable, WrongState
from .scenarios import SCENARIOS, Scenario
from .timing import median

MEASURED = "measured"
NOT_APPLICABLE = "n/a"
UNAVAILABLE = "unavailable"
# One of this project's rows or a baseline not behaving as its scenario says: a bug.
FAILED = "FAILED"


@dataclass
class Entry:
    """One row in one scenario: a cell to time and its samples, or why there is none."""

    row: object
    scenario: Scenario
    status: str
    cell: Optional[Cell] = None
    note: str = ""
    samples: list[float] = field(default_factory=list)

    @property
    def ns(self):
        """Return the median ns per call, or None if not measured."""
        return median(self.samples) if self.status == MEASURED else None


def explain_setup_error(row, scenario, error):
    """Return why ``row`` could not be set up for ``scenario``, with the row's hint if any."""
    text = str(error) if isinstance(error, WrongState) else f"{type(error).__name__}: {error}"
    hint = row.state_hints.get(scenario.state)
    return text + (f" ({hint})" if hint else "")


class Grid:
    """Entries for the rows x scenarios that each row measures itself."""

    def __init__(self, rows, scenarios=SCENARIOS):
        self.rows = list(rows)
        self._by_key = {row.key: row for row in self.rows}
        self.scenarios = list(scenarios)
        self.unavailable = {}
        self.entries = {}
        for row in self.rows:
            try:
                row.load()
            except Unavailable as error:
                self.unavailable[row.key] = str(error)
        for row in self.rows:
            for scenario in self.scenarios:
                if row.measured_as(scenario) is scenario:
                    self.entries[row.key, scenario.key] = self._prepare(row, scenario)

    def _prepare(self, row, scenario):
        if row.key in self.unavailable:
            return Entry(row, scenario, UNAVAILABLE, note=self.unavailable[row.key])
        reason = row.not_applicable(scenario)
        if reason:
            return Entry(row, scenario, NOT_APPLICABLE, note=reason)
        try:
            cell = row.build(scenario)
            cell.verify()
        except NotApplicable as error:
            return Entry(row, scenario, NOT_APPLICABLE, note=str(error))
        except Exception as error:
            if row.kind == "peer":
                # A peer that cannot be put in this state (or whose API moved) loses a
                # cell, not the whole run.
                note = explain_setup_error(row, scenario, error)
                return Entry(row, scenario, NOT_APPLICABLE, note=note)
            return Entry(row, scenario, FAILED, note=f"{type(error).__name__}: {error}")
        return Entry(row, scenario, MEASURED, cell=cell)

    def measured(self):
        """Return the entries that have a cell to time, in table order."""
        return [entry for entry in self.entries.values() if entry.status == MEASURED]

    def reverify(self):
        """Check every timed cell is still in its state; mark any that drifted as FAILED."""
        for entry in self.measured():
            try:
                entry.cell.verify()
            except WrongState as error:
                entry.status, entry.note = FAILED, f"after timing: {error}"

    def entry(self, row_key, scenario):
        """Return the entry shown for ``row_key`` under ``scenario`` (baselines: its outcome's)."""
        row = self._by_key.get(row_key)
        if row is None:
            return None
        return self.entries.get((row_key, row.measured_as(scenario).key))

    def ns(self, row_key, scenario):
        """Return the median ns per call shown for ``row_key`` under ``scenario``, or None."""
        entry = self.entry(row_key, scenario)
        return entry.ns if entry is not None else None

    def fastest_peer(self, scenario):
        """Return (row, ns) of the fastest measured peer in ``scenario``, or (None, None)."""
        best = (None, None)
        for row in self.rows:
            if row.kind != "peer":
                continue
            ns = self.ns(row.key, scenario)
            if ns is not None and (best[1] is None or ns < best[1]):
                best = (row, ns)
        return best
