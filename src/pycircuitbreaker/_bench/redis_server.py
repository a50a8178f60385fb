"""A throwaway redis-server for the benchmark: a free loopback port, a temporary folder.

Started with persistence off and stopped by its pid (never by name), so it touches
no other Redis on the machine; port 6379 is never used.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from .cell import Unavailable

INSTALL_SERVER = "redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)"
DEFAULT_PORT = 6379
START_TIMEOUT = 10.0
# The free port is probed, then handed to the server: another process can take it in
# between, so a server that exits at once is started again on a new port.
ATTEMPTS = 3


def server_binary():
    """Return the path of redis-server; raise Unavailable saying how to install it."""
    path = shutil.which("redis-server")
    if path is None:
        raise Unavailable(INSTALL_SERVER)
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
    """One redis-server process of the benchmark's own; use it as a context manager."""

    def __init__(self, binary=None):
        self.binary = binary or server_binary()
        self.folder = None
        self.port = None
        self.process = None

    @property
    def url(self):
        """Return the redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def version(self):
        """Return the server's version, as ``redis-server --version`` prints it."""
        output = subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                                timeout=10).stdout
        for word in output.split():
            if word.startswith("v="):
                return word[2:]
        return "?"

    def start(self):
        """Start the server and wait until it answers PING; return self."""
        self.folder = tempfile.mkdtemp(prefix="pycircuitbreaker-bench-redis-")
        for attempt in range(ATTEMPTS):
            self.port = free_port()
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", self.folder,
                 "--daemonize", "no", "--loglevel", "warning"],
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

    def _wait_until_it_answers(self):
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode} "
                                   f"(port {self.port})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer within {START_TIMEOUT:g} s")
            time.sleep(0.01)

    def _answers(self):
        """Return whether the server on the port answers and is this process (by its pid)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as probe:
                probe.sendall(b"INFO server\r\n")
                reply = b""
                while not reply.endswith(b"\r\n\r\n") or len(reply) < 8:
                    chunk = probe.recv(65536)
                    if not chunk:
                        return False
                    reply += chunk
        except OSError:
            return False
        # Anything else on this port (the probe raced another process for it) is not ours.
        return f"process_id:{self.process.pid}\r\n".encode() in reply

    def stop(self):
        """Stop the server by its pid (SIGTERM, then SIGKILL) and remove its folder."""
        self._stop_process()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def _stop_process(self):
        process = self.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
