"""The benchmark's redis-server: the tests' launcher (tests/redis_server.py), one for both.

Loaded from the checkout's tests/ folder, beside benchmarks/, where the harness runs.
"""

import importlib.util
import shutil
from pathlib import Path

from .cell import Unavailable

_LAUNCHER = Path(__file__).resolve().parents[2] / "tests" / "redis_server.py"
_spec = importlib.util.spec_from_file_location("_pcbbench_redis_launcher", _LAUNCHER)
_launcher = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_launcher)

DEFAULT_PORT = _launcher.DEFAULT_PORT
INSTALL_SERVER = _launcher.INSTALL_HINT


def server_binary():
    """Return the path of redis-server; raise Unavailable saying how to install it."""
    path = shutil.which("redis-server")
    if path is None:
        raise Unavailable(INSTALL_SERVER)
    return path


class RedisServer(_launcher.RedisServer):
    """A server on a free loopback port, in a temporary folder of its own."""

    def __init__(self, binary=None):
        super().__init__(tcp=True, binary=binary or server_binary())
