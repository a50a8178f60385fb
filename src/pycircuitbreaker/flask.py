"""Answer 503 with Retry-After when a guarded call is rejected (Flask).

``pip install 'pycircuitbreaker[flask]'``.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.wrappers import Response

from ._http import retry_after_header
from ._validate import describe
from .exceptions import CircuitBreakerException


def install(app: Flask) -> None:
    """Answer every request whose guarded call was rejected with 503 and Retry-After.

    The body is Werkzeug's own 503 page, as ``abort(503)`` gives; it never names the
    breaker, whose id may be an internal host's.
    """
    if not isinstance(app, Flask):
        raise TypeError(f"app must be a Flask application, got {describe(app)}")
    app.register_error_handler(CircuitBreakerException, rejected)


def rejected(error: CircuitBreakerException) -> Response:
    """Return the 503 response for a rejection that reached the application."""
    response: Response = ServiceUnavailable().get_response()
    response.headers.update(retry_after_header(error))
    return response
