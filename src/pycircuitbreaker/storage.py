"""The storage interface: where breakers built with ``storage=`` keep their shared state.

A leaf module, so that checking a ``storage=`` option imports no storage engine: the
shared-state engine (``_shared``) and a storage's client library load only when a
storage is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._options import BreakerConfig
    from ._protocols import Breaker, SharedRoute

__all__ = ["InvalidState", "SharedStorage", "StorageUnavailable"]


class StorageUnavailable(Exception):
    """The storage cannot be used now; the breaker falls back to its local state."""


class InvalidState(StorageUnavailable):
    """The storage holds a state for this breaker that it could not have written.

    An outage of that breaker's shared state alone: its call is decided locally, and its
    next round trip overwrites the stored state with the local stand-in's.
    """


class SharedStorage:
    """Where breakers keep state shared with other processes (the ``storage=`` option)."""

    def attach(self, breaker: Breaker, config: BreakerConfig) -> SharedRoute:
        """Return the shared route (a ``_shared.SharedState``) that decides for ``breaker``."""
        raise NotImplementedError

    def run(self, breaker_id: Any, args: tuple[Any, ...]) -> Any:
        """Run one script operation for ``breaker_id``; raise StorageUnavailable if down."""
        raise NotImplementedError

    async def arun(self, breaker_id: Any, args: tuple[Any, ...]) -> Any:
        """Run one script operation as ``run`` does, on an asyncio client."""
        raise NotImplementedError

    def available(self) -> bool:
        """Return whether the storage may be tried now (it is not cooling off)."""
        raise NotImplementedError

    def count_fallback(self) -> None:
        """Count one call (or control) decided on local state instead of the storage."""

    def recovered(self) -> None:
        """Note that a breaker went back from its local state to the storage."""
