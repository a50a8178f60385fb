"""What the httpx transport costs per request: a loopback GET with and without it.

The server is the tests' (tests/http_server.py): a WSGI app on a free loopback port.
"""

import importlib.util
from pathlib import Path

from .cell import Cell, Unavailable

_SERVER = Path(__file__).resolve().parents[2] / "tests" / "http_server.py"


def _server_module():
    spec = importlib.util.spec_from_file_location("_pcbbench_http_server", _SERVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ClientCells:
    """A bare httpx transport and it wrapped: on a loopback server, and on no network.

    The loopback GETs say what a real request pays; the in-memory transport (httpx's
    MockTransport, answering 200 at once) isolates the wrapper's own cost, which the
    loopback's own variation would hide.
    """

    def __init__(self):
        try:
            import httpx

            import pycircuitbreaker.httpx as guarded
        except ImportError as error:
            raise Unavailable(f"httpx is not installed ({error}); pip install httpx") from None
        self.server = _server_module().HttpServer().start()
        self.url = f"{self.server.url}/status/200"
        self.bare = httpx.Client(transport=httpx.HTTPTransport())
        self.guarded = httpx.Client(transport=guarded.BreakerTransport())
        mock = httpx.MockTransport(lambda request: httpx.Response(200))
        self.in_memory = (mock, guarded.BreakerTransport(mock))
        self.request = httpx.Request("GET", "https://api.example.com/status")

    def cells(self):
        """Return the loopback GETs (bare, guarded), then the in-memory ones, all checked."""
        made = []
        for name, client in (("bare", self.bare), ("guarded", self.guarded)):
            def get(client=client):
                return client.get(self.url).status_code

            made.append(Cell(row=f"httpx {name}", scenario=None, func=get))
        for name, transport in zip(("bare", "guarded"), self.in_memory):
            def handle(transport=transport):
                return transport.handle_request(self.request).status_code

            made.append(Cell(row=f"httpx {name}, in memory", scenario=None, func=handle))
        for cell in made:
            if cell.func() != 200:
                raise AssertionError(f"{cell.row}: the request did not get 200")
        return made

    def close(self):
        self.bare.close()
        self.guarded.close()
        self.server.stop()

