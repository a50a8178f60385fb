"""A FastAPI app whose /ready route reports its circuit breakers.

    pip install fastapi uvicorn      # or, in a checkout: pip install --group examples
    uvicorn examples.fastapi_ready:app
"""

import asyncio

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from pycircuitbreaker import CircuitBreaker, CircuitBreakerException, CircuitBreakerRegistry

INVENTORY_DOWN = False  # set to True to make the inventory service fail
SEARCH_DOWN = False  # set to True to make the search service fail


def inventory_service(item):
    """Stand in for a blocking service client: fail while INVENTORY_DOWN is set."""
    if INVENTORY_DOWN:
        raise ConnectionError("inventory service unavailable")
    return {"item": item, "stock": 42}


async def search_service(query):
    """Stand in for an async service client: fail while SEARCH_DOWN is set."""
    await asyncio.sleep(0)
    if SEARCH_DOWN:
        raise ConnectionError("search service unavailable")
    return {"query": query, "hits": 3}


def create_app(breaker_class=CircuitBreaker):
    """Build the app, its registry and its breakers (tests pass each core's class)."""
    app = FastAPI()
    registry = app.state.registry = CircuitBreakerRegistry()
    inventory = breaker_class(breaker_id="inventory", error_threshold=3,
                              recovery_timeout=30, registry=registry)
    search = breaker_class(breaker_id="search", error_threshold=3,
                           recovery_timeout=30, registry=registry)

    # A plain def route runs in FastAPI's thread pool; one breaker serves all its threads.
    @app.get("/stock/{item}")
    def stock(item: str):
        return inventory.call(inventory_service, item)

    @app.get("/search")
    async def find(q: str):
        return await search.call_async(search_service, q)

    @app.exception_handler(ConnectionError)
    def service_failed(request, error):
        return JSONResponse({"error": str(error)}, status_code=502)

    @app.exception_handler(CircuitBreakerException)
    def rejected(request, error):
        # The breaker is open: answer at once instead of waiting on a service that is down.
        return JSONResponse({"error": str(error)}, status_code=503)

    @app.get("/ready")
    def ready():
        health = registry.health()
        return JSONResponse(health, status_code=200 if health["ok"] else 503)

    return app


app = create_app()
