"""A breaker per host for requests sessions: a transport adapter to mount.

``pip install 'pycircuitbreaker[requests]'``. A rejected request raises
:class:`RequestRejected`, both a CircuitBreakerException and a
``requests.ConnectionError``, so code that handles requests' connection errors handles
it too.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import _http
from .exceptions import CircuitBreakerException
from .group import BreakerGroup

#: What counts as a host's failure besides the responses ``is_failure`` flags:
#: connection errors (refused, reset, TLS, proxy) and timeouts.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (requests.ConnectionError,
                                                     requests.Timeout)
#: HTTPAdapter's own parameters, which BreakerAdapter passes on.
ADAPTER_OPTIONS = ("pool_connections", "pool_maxsize", "max_retries", "pool_block")


class RequestRejected(CircuitBreakerException, requests.ConnectionError):
    """Raised instead of sending a request whose host's breaker rejects it."""

    def __init__(self, rejection: CircuitBreakerException,
                 request: requests.PreparedRequest) -> None:
        requests.ConnectionError.__init__(self, str(rejection), request=request)
        # The rejection's own args, which breaker, state and retry_after read (OSError
        # keeps only two of the arguments it is given).
        self.args = rejection.args


def breaker_group(name: str = "requests", *,
                  is_failure: Callable[[requests.Response], object] | None = None,
                  **options: Any) -> BreakerGroup:
    """Return a BreakerGroup for adapters to share, judging as theirs do.

    Connection errors and timeouts count, and the responses ``is_failure`` flags: 5xx
    by default, never 4xx unless it says so.
    """
    return _http.breaker_group("requests", TRANSPORT_ERRORS, _status, is_failure, name,
                               **options)


class BreakerAdapter(HTTPAdapter):
    """Send each request through its host's breaker (``scheme://host:port``).

    Mount it on a session for the URLs it should guard:
    ``session.mount("https://", BreakerAdapter(error_threshold=5))``. Without ``group``,
    ``is_failure`` and ``options`` build the adapter's own (see :func:`breaker_group`);
    HTTPAdapter's own parameters (``max_retries``, ``pool_maxsize``...) go to it. Its
    retries happen inside the breaker: a request retried three times counts once.
    """

    def __init__(self, *, group: BreakerGroup | None = None,
                 is_failure: Callable[[requests.Response], object] | None = None,
                 **options: Any) -> None:
        """Build the adapter (see the class's documentation)."""
        adapter = {name: options.pop(name) for name in ADAPTER_OPTIONS if name in options}
        self.group = _http.client_group("requests", TRANSPORT_ERRORS, _status, group,
                                        is_failure, options)
        super().__init__(**adapter)

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        """Send ``request`` through its host's breaker; raise RequestRejected if refused."""
        breaker = self.group.get(host_of(request.url or ""))
        try:
            response: requests.Response = breaker.call(super().send, request, *args,
                                                       **kwargs)
        except CircuitBreakerException as rejection:
            if rejection.breaker is not breaker:
                raise  # a breaker inside the adapter: its own rejection
            raise RequestRejected(rejection, request) from None
        return response


def host_of(url: str) -> str:
    """Return the key of ``url``'s host: ``scheme://host:port``."""
    parts = urlsplit(url)
    return _http.origin(parts.scheme, parts.hostname or "", parts.port)


def _status(response: requests.Response) -> int:
    return response.status_code
