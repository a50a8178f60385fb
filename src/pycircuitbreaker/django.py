"""Answer 503 with Retry-After when a guarded call is rejected (Django).

``pip install 'pycircuitbreaker[django]'``, then add
``"pycircuitbreaker.django.CircuitBreakerMiddleware"`` to ``MIDDLEWARE``.
"""

from __future__ import annotations

from typing import Any, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from ._http import REASON, SERVICE_UNAVAILABLE, retry_after_header
from .exceptions import CircuitBreakerException


class CircuitBreakerMiddleware:
    """Turn a rejection a view let through into 503 Service Unavailable with Retry-After.

    Works in sync and async deployments (WSGI and ASGI). The body is plain text; it never
    names the breaker, whose id may be an internal host's. Other exceptions are left to
    the middleware after it and to Django.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await self.get_response(request)
        return response

    def process_exception(self, request: HttpRequest,
                          exception: Exception) -> HttpResponse | None:
        """Return the 503 response for a rejection, None for any other exception."""
        if not isinstance(exception, CircuitBreakerException):
            return None
        response = HttpResponse(REASON, status=SERVICE_UNAVAILABLE,
                                content_type="text/plain; charset=utf-8")
        for name, value in retry_after_header(exception).items():
            response[name] = value
        return response
