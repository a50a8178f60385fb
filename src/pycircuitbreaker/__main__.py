"""``python -m pycircuitbreaker``: report the build, run the demonstration, find the benchmark."""

from __future__ import annotations

import argparse
import logging
import sys

from . import IMPLEMENTATION, __version__
from ._constants import LOGGER_NAME
from ._core import core


def report() -> None:
    """Print the version and which core loaded."""
    print(f"version: {__version__}")
    print(f"implementation: {IMPLEMENTATION}")
    print(f"core: {core.__file__}")


def show_library_logs() -> None:
    """Print the library's own log records (transitions, failures) on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def parser() -> argparse.ArgumentParser:
    """Return the command line's parser."""
    top = argparse.ArgumentParser(
        prog="python -m pycircuitbreaker",
        description="A circuit breaker with a compiled hot path. With no command, "
                    "show the version and which core (compiled or pure Python) loaded.",
    )
    top.add_argument("--version", action="version",
                     version=f"pycircuitbreaker {__version__} ({IMPLEMENTATION} core)")
    commands = top.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    commands.add_parser("info", help="show the version and which core loaded (the default)",
                        description="Show the version and which core loaded.")
    demo = commands.add_parser(
        "demo", help="walk a breaker through an outage, then time its per-call cost",
        description="Walk a breaker through an outage of a simulated dependency (on a "
                    "simulated clock, so nothing sleeps), then time a guarded call "
                    "against a bare one, for the compiled and the pure-Python core.")
    demo.add_argument("-v", "--verbose", action="store_true",
                      help="also print the library's log records (each transition)")
    commands.add_parser(
        "bench", help="where the benchmark is: it runs from a checkout of the repository",
        description="The benchmark compares this library with its peers and needs them, "
                    "Cython and a redis-server, none of which an install brings: in a "
                    "checkout of the repository, run ./dev bench.")
    return top


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = parser().parse_args(argv)
    if args.command in (None, "info"):
        report()
        return 0
    if args.command == "demo":
        from .demo import run

        if args.verbose:
            show_library_logs()
        report()
        return run()
    # bench: the harness is not installed with the library.
    print("the benchmark is not part of the installed package: in a checkout of the "
          "repository, run ./dev bench", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
