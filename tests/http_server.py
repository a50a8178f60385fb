"""A real HTTP server on loopback for the client integrations' tests, with faults on ask.

A WSGI app served by the standard library's server, one thread per request, on a free
port: ``/status/N`` answers N, ``/slow/S`` answers 200 after S seconds (past a client's
timeout), anything else 200. ``hits`` counts the requests that reached it, so a test can
tell a rejected request (never sent) from a failed one.
"""

import socket
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    # stop() waits for the requests still being served (a slow one), so that no
    # thread of this server outlives the test: a later test that forks needs none.
    daemon_threads = False
    block_on_close = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


class HttpServer:
    """Serve the fault app on 127.0.0.1 until ``stop()``; ``url`` is its origin."""

    def __init__(self):
        self.hits = 0
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, server_class=_Server,
                                   handler_class=_QuietHandler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # A short poll: stop() waits for the loop to notice (0.5 s by default).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _app(self, environ, start_response):
        with self._lock:
            self.hits += 1
        parts = environ["PATH_INFO"].strip("/").split("/")
        status = 200
        if parts[0] == "status":
            status = int(parts[1])
        elif parts[0] == "slow":
            time.sleep(float(parts[1]))
        start_response(f"{status} Status", [("Content-Type", "text/plain")])
        return [f"{status} {environ['PATH_INFO']}".encode()]


def refused_url():
    """Return the origin of a loopback port nothing listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
