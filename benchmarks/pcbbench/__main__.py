"""``python -m pcbbench`` (with ``benchmarks/`` on the path; ``./dev bench`` sets it up)."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
