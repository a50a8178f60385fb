"""Locks that stay usable across ``os.fork()``: one mechanism for every owner of a lock.

A lock another thread holds at a fork stays held in the child, where no thread will ever
release it: every registered owner gets new locks in the child, then its
``after_fork_in_child()`` if it has one. Owners whose locks guard state a fork could copy
half-made (a breaker's counters) register them as *held*: every such lock is taken
before the fork (they are never held across user code, so this waits at most for a few
counter updates in other threads) and released after it in the parent. Other owners'
locks guard no data a fork can leave half-written; at worst the child makes again a read
the parent was making.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, NamedTuple


class _Locks(NamedTuple):
    names: tuple[str, ...]
    held: bool
    reentrant: bool


class ForkSafety:
    """The owners of locks to renew in a forked child, and to hold across the fork."""

    def __init__(self) -> None:
        # Keyed by id, so that an owner (a user's storage class, say) need not be hashable.
        self._owners: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        self._locks: dict[int, _Locks] = {}
        self._held: list[Any] = []

    def register(self, owner: object, *names: str, held: bool = False,
                 reentrant: bool = False) -> None:
        """Renew ``owner``'s locks ``names`` in every child; with ``held``, hold them across."""
        key = id(owner)
        self._owners[key] = owner
        self._locks[key] = _Locks(names, held, reentrant)
        weakref.finalize(owner, self._locks.pop, key, None)

    def _registered(self) -> list[tuple[Any, _Locks]]:
        return [(owner, self._locks[key]) for key, owner in list(self._owners.items())
                if key in self._locks]

    def before(self) -> None:
        """Take every held lock (called by os.fork, before it forks)."""
        for owner, locks in self._registered():
            if locks.held:
                for name in locks.names:
                    getattr(owner, name).acquire()
                self._held.append((owner, locks))

    def after_in_parent(self) -> None:
        """Release what ``before`` took."""
        held, self._held = self._held, []
        for owner, locks in held:
            for name in locks.names:
                getattr(owner, name).release()

    def after_in_child(self) -> None:
        """Give every owner new locks (every one, not only those held: one registered by
        another thread meanwhile may have been mid-update too), then let it forget."""
        self._held = []
        for owner, locks in self._registered():
            for name in locks.names:
                setattr(owner, name, threading.RLock() if locks.reentrant else threading.Lock())
            forget = getattr(owner, "after_fork_in_child", None)
            if forget is not None:
                forget()


FORK_SAFETY = ForkSafety()
if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(before=FORK_SAFETY.before, after_in_parent=FORK_SAFETY.after_in_parent,
                        after_in_child=FORK_SAFETY.after_in_child)
