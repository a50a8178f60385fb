"""Servers answer a rejected call with 503 and Retry-After: Starlette, FastAPI, Flask, Django.

Each framework's own test client drives a real application, whose view calls through a
breaker of either twin; the clock is injected, so Retry-After is known to the second.
"""

import asyncio

import pytest
from conftest import Boom, fail

from pycircuitbreaker._http import REASON

SECRET_ID = "payments-db.internal:5432"


def breaker_in(impl, clock, state):
    """Return a breaker that is CLOSED, or OPEN 12.75 s into 30 s, or FORCED_OPEN."""
    breaker = impl.CircuitBreaker(breaker_id=SECRET_ID, clock=clock, error_threshold=1,
                                  recovery_timeout=30)
    if state == "open":
        with pytest.raises(Boom):
            breaker.call(fail())
        clock.advance(12.75)
    elif state == "forced_open":
        breaker.force_open()
    return breaker


# -- Starlette and FastAPI ------------------------------------------------------------


def starlette_app(kind, breaker):
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    import pycircuitbreaker.starlette

    def guarded(request):
        return PlainTextResponse(breaker.call(lambda: "served"))

    async def guarded_async(request):
        async def served():
            return "served"

        return PlainTextResponse(await breaker.call_async(served))

    def broken(request):
        raise LookupError("not a rejection")

    routes = [("/guarded", guarded), ("/guarded-async", guarded_async), ("/broken", broken)]
    if kind == "starlette":
        from starlette.applications import Starlette

        app = Starlette(routes=[Route(path, view) for path, view in routes])
    else:
        from fastapi import FastAPI

        app = FastAPI()
        for path, view in routes:
            app.add_route(path, view)
    pycircuitbreaker.starlette.install(app)
    from starlette.testclient import TestClient

    return TestClient(app, raise_server_exceptions=False)


def flask_client(breaker):
    from flask import Flask

    import pycircuitbreaker.flask

    app = Flask("servers")

    @app.route("/guarded")
    def guarded():
        return breaker.call(lambda: "served")

    @app.route("/guarded-async")
    async def guarded_async():
        async def served():
            return "served"

        return await breaker.call_async(served)

    @app.route("/broken")
    def broken():
        raise LookupError("not a rejection")

    pycircuitbreaker.flask.install(app)
    return app.test_client()


@pytest.fixture(scope="module")
def django_ready():
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="tests", ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF="django_urls",
            MIDDLEWARE=["pycircuitbreaker.django.CircuitBreakerMiddleware"],
        )
        django.setup()


class DjangoClient:
    """Django's test client (sync) or async client, answering like the others'."""

    def __init__(self, breaker, use_async):
        import django_urls
        from django.test import AsyncClient, Client

        django_urls.GUARD["breaker"] = breaker
        self.use_async = use_async
        self.client = (AsyncClient if use_async else Client)(raise_request_exception=False)

    def get(self, path):
        if self.use_async:
            return asyncio.run(self.client.get(path))
        return self.client.get(path)


FRAMEWORKS = ["starlette", "fastapi", "flask", "django", "django-async"]


@pytest.fixture(params=FRAMEWORKS)
def serve(request):
    """Return a function: breaker -> a test client of the framework's app around it."""
    kind = request.param
    if kind in ("starlette", "fastapi"):
        return lambda breaker: starlette_app(kind, breaker)
    if kind == "flask":
        return flask_client
    request.getfixturevalue("django_ready")
    return lambda breaker: DjangoClient(breaker, use_async=kind == "django-async")


def body(response):
    return response.content.decode() if hasattr(response, "content") else response.get_data(True)


@pytest.mark.parametrize("path", ["/guarded", "/guarded-async"])
def test_an_open_breaker_answers_503_with_the_seconds_left_rounded_up(impl, clock, serve, path):
    client = serve(breaker_in(impl, clock, "open"))
    response = client.get(path)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "18"  # 17.25 s left: rounded up, not off
    assert REASON in body(response)
    # Never the breaker's id: it may name an internal host.
    assert SECRET_ID not in body(response)


def test_a_whole_second_left_is_not_rounded_up(impl, clock, serve):
    breaker = breaker_in(impl, clock, "open")
    clock.advance(0.25)  # 17.0 s left
    assert serve(breaker).get("/guarded").headers["Retry-After"] == "17"


def test_no_known_time_means_no_retry_after(impl, clock, serve):
    response = serve(breaker_in(impl, clock, "forced_open")).get("/guarded")
    assert response.status_code == 503
    assert "Retry-After" not in response.headers


def test_served_calls_and_other_errors_are_left_alone(impl, clock, serve):
    client = serve(breaker_in(impl, clock, "closed"))
    served = client.get("/guarded")
    assert served.status_code == 200 and body(served) == "served"
    broken = client.get("/broken")
    assert broken.status_code == 500
    assert "Retry-After" not in broken.headers


def test_install_refuses_what_is_not_an_application():
    import pycircuitbreaker.flask
    import pycircuitbreaker.starlette

    with pytest.raises(TypeError, match="app must be a Starlette or FastAPI application, got "
                                        "'app' \\(str\\)"):
        pycircuitbreaker.starlette.install("app")
    with pytest.raises(TypeError, match="app must be a Flask application, got None"):
        pycircuitbreaker.flask.install(None)
