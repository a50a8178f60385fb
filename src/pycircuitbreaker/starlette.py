"""Answer 503 with Retry-After when a guarded call is rejected (Starlette and FastAPI).

``pip install 'pycircuitbreaker[starlette]'``; FastAPI brings Starlette with it.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._http import REASON, SERVICE_UNAVAILABLE, retry_after_header
from ._validate import describe
from .exceptions import CircuitBreakerException


def install(app: Starlette) -> None:
    """Answer every request whose guarded call was rejected with 503 and Retry-After.

    The body is ``{"detail": "Service Unavailable"}``, as FastAPI's own errors are; it
    never names the breaker, whose id may be an internal host's.
    """
    if not callable(getattr(app, "add_exception_handler", None)):
        raise TypeError(f"app must be a Starlette or FastAPI application, got {describe(app)}")
    app.add_exception_handler(CircuitBreakerException, rejected)


async def rejected(request: Request, error: Exception) -> Response:
    """Return the 503 response for a rejection that reached the application."""
    assert isinstance(error, CircuitBreakerException)  # registered for it alone
    return JSONResponse({"detail": REASON}, status_code=SERVICE_UNAVAILABLE,
                        headers=retry_after_header(error))
