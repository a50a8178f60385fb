"""``python -m pycircuitbreaker``: report the build, run the demonstration or the benchmark."""

import sys
from typing import Optional

from . import IMPLEMENTATION, __version__
from ._core import core


def report() -> None:
    """Print the version and which core loaded."""
    print(f"version: {__version__}")
    print(f"implementation: {IMPLEMENTATION}")
    print(f"core: {core.__file__}")


def main(argv: Optional[list[str]] = None) -> int:
    """Dispatch the command line."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        report()
        return 0
    if args[0] == "demo":
        from .demo import run

        report()
        return run()
    if args[0] == "bench":
        # The harness is not installed with the library (it needs the peers, Cython and a
        # redis-server): it runs from a checkout of the repository.
        print("the benchmark is not part of the installed package: in a checkout of the "
              "repository, run ./dev bench", file=sys.stderr)
        return 2
    print(f"usage: python -m pycircuitbreaker [demo]; "
          f"unknown command {args[0]!r}",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
