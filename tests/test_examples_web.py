"""The readiness examples under examples/, driven by Flask's and FastAPI's own test clients.

Each app is built by the example's ``create_app`` with the breaker class of one twin, so
both cores serve real requests in one run.
"""

import importlib.util
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest
from fastapi.testclient import TestClient

from pycircuitbreaker import CircuitBreakerRegistry

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
THRESHOLD = 3  # the examples' error_threshold


def load_example(name):
    """Import examples/<name>.py as the module ``name``."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    # Flask finds the app's root folder through sys.modules, so the module must be there.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


flask_ready = load_example("flask_ready")
fastapi_ready = load_example("fastapi_ready")


@dataclass
class Site:
    """One example app built on one twin, with a way to GET from it."""

    module: ModuleType
    registry: CircuitBreakerRegistry
    get: Callable[[str], Any]  # path -> (status, content type, JSON body)


@dataclass
class Route:
    """A route of an example that calls its dependency through a breaker."""

    framework: str
    path: str
    breaker_id: str
    down_flag: str  # the example's module-level switch that makes the dependency fail
    answer: dict


ROUTES = [
    Route("flask", "/stock/widget", "inventory", "INVENTORY_DOWN",
          {"item": "widget", "stock": 42}),
    Route("fastapi", "/stock/widget", "inventory", "INVENTORY_DOWN",
          {"item": "widget", "stock": 42}),
    Route("fastapi", "/search?q=widget", "search", "SEARCH_DOWN",
          {"query": "widget", "hits": 3}),
]
BREAKER_IDS = {"flask": ["inventory"], "fastapi": ["inventory", "search"]}


def flask_site(impl):
    """Build the Flask example on ``impl``'s twin, with Flask's test client."""
    app = flask_ready.create_app(impl.CircuitBreaker)
    client = app.test_client()

    def get(path):
        response = client.get(path)
        return response.status_code, response.mimetype, response.get_json()

    return Site(flask_ready, app.extensions["circuitbreakers"], get)


def fastapi_site(impl, stack):
    """Build the FastAPI example on ``impl``'s twin; ``stack`` closes its TestClient."""
    app = fastapi_ready.create_app(impl.CircuitBreaker)
    client = stack.enter_context(TestClient(app))

    def get(path):
        response = client.get(path)
        return response.status_code, response.headers["content-type"], response.json()

    return Site(fastapi_ready, app.state.registry, get)


@pytest.fixture
def build_site(impl):
    """Return a function that builds the named framework's example on ``impl``'s twin."""
    with ExitStack() as stack:
        yield lambda framework: (flask_site(impl) if framework == "flask"
                                 else fastapi_site(impl, stack))


@pytest.fixture(params=ROUTES, ids=lambda r: f"{r.framework}{r.path.split('?')[0]}")
def route(request):
    return request.param


def ready(site):
    """GET /ready; return its status and body after checking that the body is JSON."""
    status, content_type, body = site.get("/ready")
    assert content_type.startswith("application/json")
    return status, body


@pytest.mark.parametrize("framework", sorted(BREAKER_IDS))
def test_ready_while_every_breaker_is_closed(impl, build_site, framework):
    site = build_site(framework)
    # The factory must build its breakers from the class it was given, or one twin
    # would silently go untested.
    assert [type(b) for b in site.registry] == [impl.CircuitBreaker] * len(site.registry)
    assert ready(site) == (200, {
        "ok": True,
        "breakers": {breaker_id: {"state": "CLOSED", "error_count": 0}
                     for breaker_id in BREAKER_IDS[framework]},
    })


def test_route_answers_through_its_breaker(build_site, route):
    site = build_site(route.framework)
    status, _, body = site.get(route.path)
    assert (status, body) == (200, route.answer)
    assert site.registry.get(route.breaker_id).state.name == "CLOSED"


def assert_not_ready_because_open(site, route, error_count):
    """Check that /ready is 503 and reports only ``route``'s breaker as OPEN."""
    breaker = site.registry.get(route.breaker_id)
    status, body = ready(site)
    assert status == 503 and body["ok"] is False
    entry = body["breakers"][route.breaker_id]
    assert entry == {
        "state": "OPEN",
        "error_count": error_count,
        "recovery_start_time": breaker.recovery_start_time.isoformat(),
    }
    # The examples wait 30 s before trial calls: the report must point into the future.
    assert datetime.fromisoformat(entry["recovery_start_time"]) > datetime.now(timezone.utc)
    others = [other for key, other in body["breakers"].items() if key != route.breaker_id]
    assert all(other["state"] == "CLOSED" for other in others)


def test_tripped_breaker_makes_the_app_not_ready_until_reset(build_site, route):
    site = build_site(route.framework)
    breaker = site.registry.get(route.breaker_id)

    breaker.trip()
    assert_not_ready_because_open(site, route, error_count=0)
    status, _, body = site.get(route.path)
    assert status == 503 and "OPEN" in body["error"]

    breaker.reset()
    assert ready(site)[0] == 200
    assert site.get(route.path)[0] == 200


def test_failing_dependency_opens_the_breaker_through_the_route(build_site, route,
                                                                monkeypatch):
    site = build_site(route.framework)
    monkeypatch.setattr(site.module, route.down_flag, True)

    for count in range(1, THRESHOLD):
        status, _, body = site.get(route.path)
        assert status == 502 and "unavailable" in body["error"]
        # Below the threshold the app stays ready and the report shows the errors so far.
        status, report = ready(site)
        assert status == 200 and report["breakers"][route.breaker_id] == {
            "state": "CLOSED", "error_count": count}

    assert site.get(route.path)[0] == 502
    assert_not_ready_because_open(site, route, error_count=THRESHOLD)

    # With the service back, the open breaker still answers for it: the call is not made.
    monkeypatch.setattr(site.module, route.down_flag, False)
    status, _, body = site.get(route.path)
    assert status == 503 and "OPEN" in body["error"]

    site.registry.get(route.breaker_id).reset()
    assert ready(site) == (200, {"ok": True, "breakers": {
        breaker_id: {"state": "CLOSED", "error_count": 0}
        for breaker_id in BREAKER_IDS[route.framework]}})
    status, _, body = site.get(route.path)
    assert (status, body) == (200, route.answer)
