"""A breaker per host for aiohttp client sessions: a client middleware (aiohttp 3.12+).

``pip install 'pycircuitbreaker[aiohttp]'``. A rejected request raises
:class:`RequestRejected`, both a CircuitBreakerException and an
``aiohttp.ClientConnectionError``, so code that handles aiohttp's client errors handles
it too.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
from yarl import URL

from . import _http
from .exceptions import CircuitBreakerException
from .group import BreakerGroup

#: What counts as a host's failure besides the responses ``is_failure`` flags:
#: connection errors (refused, reset, TLS, server disconnected) and socket timeouts.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientConnectionError,
                                                     asyncio.TimeoutError)


class RequestRejected(CircuitBreakerException, aiohttp.ClientConnectionError):
    """Raised instead of sending a request whose host's breaker rejects it."""

    def __init__(self, rejection: CircuitBreakerException, request: ClientRequest) -> None:
        # The rejection's own args: breaker, state and retry_after read them.
        Exception.__init__(self, *rejection.args)
        self.request = request


def breaker_group(name: str = "aiohttp", *,
                  is_failure: Callable[[ClientResponse], object] | None = None,
                  **options: Any) -> BreakerGroup:
    """Return a BreakerGroup for middlewares to share, judging as theirs do.

    Connection errors and timeouts count, and the responses ``is_failure`` flags: 5xx
    by default, never 4xx unless it says so.
    """
    return _http.breaker_group("aiohttp", TRANSPORT_ERRORS, _status, is_failure, name,
                               **options)


class BreakerMiddleware:
    """Send each request of a session through its host's breaker (``scheme://host:port``).

    ``aiohttp.ClientSession(middlewares=(BreakerMiddleware(error_threshold=5),))``.
    Without ``group``, ``is_failure`` and ``options`` build the middleware's own (see
    :func:`breaker_group`). Timeouts count, the session's total one and its socket ones.
    """

    def __init__(self, *, group: BreakerGroup | None = None,
                 is_failure: Callable[[ClientResponse], object] | None = None,
                 **options: Any) -> None:
        """Build the middleware (see the class's documentation)."""
        self.group = _http.client_group("aiohttp", TRANSPORT_ERRORS, _status, group,
                                        is_failure, options)

    async def __call__(self, request: ClientRequest,
                       handler: ClientHandlerType) -> ClientResponse:
        """Send ``request`` through its host's breaker; raise RequestRejected if refused."""
        breaker = self.group.get(_host(request.url))
        try:
            response: ClientResponse = await breaker.call_async(handler, request)
        except CircuitBreakerException as rejection:
            if rejection.breaker is not breaker:
                raise  # a breaker in a middleware after this one: its own rejection
            raise RequestRejected(rejection, request) from None
        return response


def host_of(url: URL | str) -> str:
    """Return the key of ``url``'s host: ``scheme://host:port``."""
    return _host(URL(url))


def _host(url: URL) -> str:
    return _http.origin(url.scheme, url.host or "", url.port)


def _status(response: ClientResponse) -> int:
    return response.status
