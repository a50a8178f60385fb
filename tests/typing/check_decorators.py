"""Type-checked by mypy in tests/test_typing.py, never run: guarded functions keep their types.

A line ending in ``# E: <code>`` must get exactly one mypy error, with that code; a line
ending in ``# N: <type>`` must reveal that type. Any other error fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pycircuitbreaker import (
    BreakerGroup,
    CircuitBreaker,
    CircuitBreakerRegistry,
    CircuitBreakerState,
    circuit,
)

if TYPE_CHECKING:
    from typing_extensions import reveal_type

registry = CircuitBreakerRegistry()
hosts = BreakerGroup("hosts", error_threshold=3, registry=registry)
db = CircuitBreaker(breaker_id="db", error_threshold=2, registry=registry)


class AuditedBreaker(CircuitBreaker):
    audit_log: list[str] = []


@AuditedBreaker()
def audited() -> None:
    pass


@db
def load_user(user_id: int, *, fresh: bool = False) -> str:
    return str(user_id)


@db
async def save_user(user_id: int, name: str) -> bool:
    return bool(name)


@circuit
def fetch_profile(user_id: int) -> dict[str, int]:
    return {"id": user_id}


@circuit(error_threshold=3, recovery_timeout=10)
async def fetch_orders(user_id: int, limit: int = 10) -> list[int]:
    return [user_id] * limit


@circuit(error_threshold=3)
def page_through(pages: int) -> Iterator[bytes]:
    yield from (b"page" for _ in range(pages))


def fetch_invoices(customer: str) -> tuple[str, ...]:
    return (customer,)


invoices = circuit(fetch_invoices, breaker_id="invoices")


class Client:
    @circuit
    def get(self, path: str) -> bytes:
        return path.encode()

    # Type checkers see through @classmethod only when it is outermost.
    @classmethod
    @circuit(error_threshold=2)
    def health(cls) -> bool:
        return True

    @staticmethod
    @circuit
    def ping(times: int) -> None:
        pass


async def right_calls() -> None:
    reveal_type(load_user(1, fresh=True))  # N: builtins.str
    reveal_type(await save_user(1, "ada"))  # N: builtins.bool
    reveal_type(fetch_profile(7))  # N: builtins.dict[builtins.str, builtins.int]
    reveal_type(await fetch_orders(1, limit=2))  # N: builtins.list[builtins.int]
    reveal_type(next(page_through(2)))  # N: builtins.bytes
    reveal_type(invoices("acme"))  # N: builtins.tuple[builtins.str, ...]
    reveal_type(Client().get("/"))  # N: builtins.bytes
    reveal_type(Client.health())  # N: builtins.bool
    reveal_type(Client.ping(2))  # N: None
    reveal_type(Client().health())  # N: builtins.bool
    reveal_type(db.call(load_user, 2))  # N: builtins.str
    reveal_type(await db.call_async(save_user, 2, name="bob"))  # N: builtins.bool
    # Every breaker a user is handed has the public type, not a twin's private one.
    reveal_type(load_user.breaker)  # N: pycircuitbreaker.breaker.CircuitBreaker
    reveal_type(fetch_orders.breaker)  # N: pycircuitbreaker.breaker.CircuitBreaker
    reveal_type(Client().get.breaker)  # N: pycircuitbreaker.breaker.CircuitBreaker
    reveal_type(Client.health.breaker)  # N: pycircuitbreaker.breaker.CircuitBreaker
    reveal_type(registry.get("db"))  # N: pycircuitbreaker.breaker.CircuitBreaker | None
    reveal_type(registry.get_open_circuits())  # N: builtins.list[pycircuitbreaker.breaker.CircuitBreaker]
    with db as guarded:
        reveal_type(guarded)  # N: pycircuitbreaker.breaker.CircuitBreaker
    reveal_type(hosts.get("https://a.example:443"))  # N: pycircuitbreaker.breaker.CircuitBreaker
    BreakerGroup("tenants", error_treshold=3)  # E: call-arg
    # A subclass's breaker keeps its own type.
    reveal_type(audited.breaker)  # N: check_decorators.AuditedBreaker
    found: CircuitBreaker | None = registry.get("db")
    print(found, audited.breaker.audit_log)
    reveal_type(db.metrics().calls)  # N: builtins.int
    state: CircuitBreakerState = fetch_orders.breaker.state
    print(state.name, Client().get.breaker.error_count)


async def wrong_calls() -> None:
    load_user("1")  # E: arg-type
    load_user(1, stale=True)  # E: call-arg
    await save_user(1)  # E: call-arg
    await fetch_orders(1, limit="all")  # E: arg-type
    page_through()  # E: call-arg
    Client().get(b"/")  # E: arg-type
    Client.ping("twice")  # E: arg-type
    Client.health(True)  # E: call-arg
    invoices(42)  # E: arg-type
    db.call(load_user, "2")  # E: arg-type
    await db.call_async(save_user, 2, nom="bob")  # E: call-arg


def wrong_options() -> None:
    # Every option is declared with its type: a misspelled or mistyped one is reported.
    circuit(error_treshold=3)  # E: call-overload
    CircuitBreaker(error_threshold="5")  # E: arg-type
    CircuitBreaker(recovery_timout=5)  # E: call-arg
    circuit(load_user, recovery_timeout="30")  # E: call-overload
    CircuitBreaker(breaker_id="db", storage="redis://cache")  # E: arg-type
