"""Closed-path cost of a breaker whose metrics are read while it is called (issue #7).

The counts are kept on every call whether anyone reads them or not; what a reader adds
is the reading. A scraper thread reads ``metrics()`` of every breaker of a registry far
more often than a Prometheus server would, while the same closed-path cell is timed
with and without its breaker in that registry.
"""

import threading

from pycircuitbreaker.registry import CircuitBreakerRegistry

from .scenarios import BY_KEY

# Reads per second: 20, where a Prometheus scrape interval is typically 15-60 seconds.
SCRAPE_INTERVAL = 0.05


def scraped_cell(row):
    """Return ``row``'s closed-decorator Cell and the registry its breaker is read through."""
    registry = CircuitBreakerRegistry()
    cell = row.build(BY_KEY["a_closed_decorator"], registry=registry)
    cell.keep = (cell.keep, registry)
    return cell, registry


class Scraper:
    """Read the metrics of every breaker in some registries every SCRAPE_INTERVAL seconds."""

    def __init__(self, registries):
        self._registries = registries
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics scraper", daemon=True)
        self.scrapes = 0

    def _run(self):
        while not self._stop.wait(SCRAPE_INTERVAL):
            for registry in self._registries:
                for breaker in registry:
                    breaker.metrics()
            self.scrapes += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        return False
