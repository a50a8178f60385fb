"""What the HTTP integrations share: a host's key, what counts as its failure, 503."""

from __future__ import annotations

import math
from typing import Any, Callable

from ._validate import describe
from .exceptions import CircuitBreakerException
from .group import BreakerGroup

#: The status a server answers when a call its request needs was rejected.
SERVICE_UNAVAILABLE = 503
REASON = "Service Unavailable"


def retry_after_header(rejection: CircuitBreakerException) -> dict[str, str]:
    """Return the ``Retry-After`` header for ``rejection``: whole seconds, rounded up.

    Empty when the time is not known (FORCED_OPEN, or HALF_OPEN with every trial
    permit taken): a client told nothing retries at its own pace.
    """
    seconds = rejection.retry_after
    if seconds is None:
        return {}
    return {"Retry-After": str(math.ceil(seconds))}


#: The ports a URL leaves out, by scheme: a host's key names its port either way.
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin(scheme: str, host: str, port: int | None) -> str:
    """Return the key of a host's breaker: ``scheme://host:port``, the port always given."""
    scheme = scheme.lower()
    if port is None:
        port = DEFAULT_PORTS.get(scheme)
    host = host.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address, bracketed as in a URL
    return f"{scheme}://{host}" if port is None else f"{scheme}://{host}:{port}"


def client_group(client: str, transport_errors: tuple[type[BaseException], ...],
                 status_of: Callable[[Any], int], group: BreakerGroup | None,
                 is_failure: Callable[[Any], object] | None,
                 options: dict[str, Any]) -> BreakerGroup:
    """Return the BreakerGroup a client integration decides with: ``group``, or its own.

    Its own counts the client's transport errors (connection errors, timeouts) and the
    responses ``is_failure`` flags, 5xx by default, never 4xx; ``options`` are the rest
    of its breakers' options. A given group is used as it is: it was built for this.
    """
    if group is not None:
        given = sorted(options) + (["is_failure"] if is_failure is not None else [])
        if given:
            raise TypeError(
                f"{client}: with group=, the group's options decide; "
                f"{', '.join(given)} cannot be given too (build the group with "
                f"pycircuitbreaker.{client}.breaker_group(...) instead)"
            )
        if not isinstance(group, BreakerGroup):
            raise TypeError(f"group must be a BreakerGroup or None, got {describe(group)}")
        return group
    return breaker_group(client, transport_errors, status_of, is_failure, **options)


def breaker_group(client: str, transport_errors: tuple[type[BaseException], ...],
                  status_of: Callable[[Any], int], is_failure: Callable[[Any], object] | None,
                  name: str | None = None, **options: Any) -> BreakerGroup:
    """Return a BreakerGroup that judges a client's calls: transport errors and failures."""
    if is_failure is None:
        def is_failure(response: Any) -> bool:
            """Return whether ``response`` is a server error (5xx)."""
            return status_of(response) >= 500
    elif not callable(is_failure):
        raise TypeError(f"is_failure must be callable or None, got {describe(is_failure)}")
    if "detect_error" in options:
        raise TypeError(f"{client}: is_failure is what judges a response; "
                        f"detect_error cannot be given")
    if not {"exception_blacklist", "exception_denylist"} & set(options):
        # Only what says the host is unwell counts: not a bug in the caller's code.
        options["exception_blacklist"] = transport_errors
    return BreakerGroup(client if name is None else name, detect_error=is_failure, **options)
