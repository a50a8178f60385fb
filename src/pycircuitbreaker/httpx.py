"""A breaker per host for httpx clients: a transport that wraps any other.

``pip install 'pycircuitbreaker[httpx]'``. A rejected request raises
:class:`RequestRejected`, both a CircuitBreakerException and an ``httpx.TransportError``,
so code that handles httpx's transport errors handles it too.
"""

from __future__ import annotations

from typing import Any, Callable

import httpx

from . import _http
from .exceptions import CircuitBreakerException
from .group import BreakerGroup

#: What counts as a host's failure besides the responses ``is_failure`` flags.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx.TransportError,)


class RequestRejected(CircuitBreakerException, httpx.TransportError):
    """Raised instead of sending a request whose host's breaker rejects it."""

    def __init__(self, rejection: CircuitBreakerException, request: httpx.Request) -> None:
        # The rejection's own args: breaker, state and retry_after read them.
        Exception.__init__(self, *rejection.args)
        self._request = request


def breaker_group(name: str = "httpx", *, is_failure: Callable[[httpx.Response], object]
                  | None = None, **options: Any) -> BreakerGroup:
    """Return a BreakerGroup for httpx transports to share, judging as theirs do.

    Transport errors count (connection errors, timeouts), and the responses
    ``is_failure`` flags: 5xx by default, never 4xx unless it says so.
    """
    return _http.breaker_group("httpx", TRANSPORT_ERRORS, _status, is_failure, name,
                               **options)


class BreakerTransport(httpx.BaseTransport):
    """Send each request through its host's breaker (``scheme://host:port``).

    Wraps ``transport`` (a new ``httpx.HTTPTransport()`` by default). Without ``group``,
    ``is_failure`` and ``options`` build the transport's own (see :func:`breaker_group`).
    """

    def __init__(self, transport: httpx.BaseTransport | None = None, *,
                 group: BreakerGroup | None = None,
                 is_failure: Callable[[httpx.Response], object] | None = None,
                 **options: Any) -> None:
        """Wrap ``transport`` (see the class's documentation)."""
        self.group = _http.client_group("httpx", TRANSPORT_ERRORS, _status, group,
                                        is_failure, options)
        self.transport = httpx.HTTPTransport() if transport is None else transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its host's breaker; raise RequestRejected if refused."""
        breaker = self.group.get(_host(request.url))
        try:
            response: httpx.Response = breaker.call(self.transport.handle_request, request)
        except CircuitBreakerException as rejection:
            if rejection.breaker is not breaker:
                raise  # a breaker inside the wrapped transport: its own rejection
            raise RequestRejected(rejection, request) from None
        return response

    def close(self) -> None:
        self.transport.close()


class AsyncBreakerTransport(httpx.AsyncBaseTransport):
    """Send each request through its host's breaker: BreakerTransport, for AsyncClient.

    Wraps ``transport`` (a new ``httpx.AsyncHTTPTransport()`` by default).
    """

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None, *,
                 group: BreakerGroup | None = None,
                 is_failure: Callable[[httpx.Response], object] | None = None,
                 **options: Any) -> None:
        """Wrap ``transport`` (see the class's documentation)."""
        self.group = _http.client_group("httpx", TRANSPORT_ERRORS, _status, group,
                                        is_failure, options)
        self.transport = httpx.AsyncHTTPTransport() if transport is None else transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through its host's breaker; raise RequestRejected if refused."""
        breaker = self.group.get(_host(request.url))
        try:
            response: httpx.Response = await breaker.call_async(
                self.transport.handle_async_request, request)
        except CircuitBreakerException as rejection:
            if rejection.breaker is not breaker:
                raise
            raise RequestRejected(rejection, request) from None
        return response

    async def aclose(self) -> None:
        await self.transport.aclose()


def host_of(url: httpx.URL | str) -> str:
    """Return the key of ``url``'s host: ``scheme://host:port``."""
    return _host(httpx.URL(url))


def _host(url: httpx.URL) -> str:
    return _http.origin(url.scheme, url.host, url.port)


def _status(response: httpx.Response) -> int:
    return response.status_code

