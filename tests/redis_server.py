"""A real redis-server of our own, for the tests and the benchmark alike.

Started on a unix socket in a folder of its own (plus a free loopback port when asked),
with persistence off, and stopped by its pid, never by name, so it touches no other
Redis on the machine. Never port 6379. The tests import this module from tests/; the
benchmark harness (benchmarks/pcbbench/redis_server.py) loads it from there too.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REQUIRE_ENV = "PYCIRCUITBREAKER_REQUIRE_REDIS"
INSTALL_HINT = "redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)"
DEFAULT_PORT = 6379
START_TIMEOUT = 10.0
# A free port is probed, then handed to the server: another process can take it in
# between, so a server that does not come up is started again on a new port.
ATTEMPTS = 3


def redis_server_binary():
    """Return the redis-server path; skip the test (or fail where CI requires it) if missing."""
    import pytest

    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{INSTALL_HINT}, and {REQUIRE_ENV} says these tests must run")
        pytest.skip(INSTALL_HINT)
    return path


def free_port():
    """Return a loopback TCP port nothing listens on now (never Redis's default port)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port != DEFAULT_PORT:
            return port


class RedisServer:
    """One redis-server process of our own; ``folder=None`` makes (and removes) a temporary one."""

    def __init__(self, folder=None, tcp=False, extra=(), binary=None):
        self.binary = binary or redis_server_binary()
        self._own_folder = folder is None
        self.folder = None if folder is None else str(folder)
        self.tcp = tcp
        self.port = 0
        self.extra = list(extra)
        self.process = None

    @property
    def socket(self):
        return os.path.join(self.folder, "redis.sock")

    @property
    def url(self):
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket}"

    def version(self):
        """Return the server's version, as ``redis-server --version`` prints it."""
        output = subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                                timeout=10).stdout
        for word in output.split():
            if word.startswith("v="):
                return word[2:]
        return "?"

    def start(self):
        """Start the server and wait until it answers, as this process (by its pid)."""
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="pycircuitbreaker-redis-")
        for attempt in range(ATTEMPTS):
            self.port = free_port() if self.tcp else 0
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--unixsocket", self.socket, "--unixsocketperm", "700",
                 "--save", "", "--appendonly", "no", "--dir", self.folder,
                 "--daemonize", "no", "--loglevel", "warning"] + self.extra,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                self._wait_until_it_answers()
                return self
            except RuntimeError:
                self._stop_process()
                if attempt == ATTEMPTS - 1:
                    self.stop()
                    raise
        return self

    def _wait_until_it_answers(self):
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer within {START_TIMEOUT:g} s")
            time.sleep(0.01)

    def _answers(self):
        """Return whether our server answers on its socket (and port): another process
        that raced us for the port is not ours."""
        probes = [(socket.AF_UNIX, self.socket)]
        if self.port:
            probes.append((socket.AF_INET, ("127.0.0.1", self.port)))
        for family, address in probes:
            try:
                with socket.socket(family) as probe:
                    probe.settimeout(0.5)
                    probe.connect(address)
                    probe.sendall(b"INFO server\r\n")
                    reply = b""
                    while not reply.endswith(b"\r\n\r\n") or len(reply) < 8:
                        chunk = probe.recv(65536)
                        if not chunk:
                            return False
                        reply += chunk
            except OSError:
                return False
            if f"process_id:{self.process.pid}\r\n".encode() not in reply:
                return False
        return True

    def signal(self, signum):
        os.kill(self.process.pid, signum)

    def kill(self):
        """kill -9 the server, and wait for it to be gone."""
        self.signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        """Stop the server by its pid (SIGTERM, then SIGKILL); remove a folder of its own."""
        self._stop_process()
        if self._own_folder and self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def _stop_process(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.signal(signal.SIGCONT)  # a stopped server cannot handle SIGTERM
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def make_storage(url, **options):
    """Return a RedisStorage for tests: the state read on every call, a short cool-off."""
    from pycircuitbreaker.redis_storage import RedisStorage

    options.setdefault("refresh_interval", 0)
    options.setdefault("cool_off", 0.2)
    return RedisStorage.from_url(url, socket_timeout=0.25, **options)
