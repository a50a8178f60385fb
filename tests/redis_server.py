"""A real redis-server for tests: started on a unix socket in a temporary folder (plus a
free loopback port when asked), stopped by its pid. Never port 6379."""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

REQUIRE_ENV = "PYCIRCUITBREAKER_REQUIRE_REDIS"
INSTALL_HINT = "redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)"


def redis_server_binary():
    """Return the redis-server path; skip (or fail where CI requires it) if missing."""
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{INSTALL_HINT}, and {REQUIRE_ENV} says these tests must run")
        pytest.skip(INSTALL_HINT)
    return path


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """One redis-server process of the test's own."""

    def __init__(self, folder, tcp=False, extra=()):
        self.binary = redis_server_binary()
        self.folder = str(folder)
        self.socket = os.path.join(self.folder, "redis.sock")
        self.port = free_port() if tcp else 0
        self.extra = list(extra)
        self.process = None

    @property
    def url(self):
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket}"

    def start(self):
        """Start the server and wait until it answers."""
        args = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--unixsocket", self.socket, "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--dir", self.folder,
            "--daemonize", "no", "--loglevel", "warning",
        ] + self.extra
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer within 10 s")
            time.sleep(0.01)
        return self

    def _answers(self):
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(0.5)
                probe.connect(self.socket)
                probe.sendall(b"PING\r\n")
                return probe.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def signal(self, signum):
        os.kill(self.process.pid, signum)

    def kill(self):
        """kill -9 the server, and wait for it to be gone."""
        self.signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.signal(signal.SIGCONT)  # a stopped server cannot handle SIGTERM
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()


def make_storage(url, **options):
    """Return a RedisStorage for tests: the state read on every call, a short cool-off."""
    from pycircuitbreaker.redis_storage import RedisStorage

    options.setdefault("refresh_interval", 0)
    options.setdefault("cool_off", 0.2)
    return RedisStorage.from_url(url, socket_timeout=0.25, **options)
