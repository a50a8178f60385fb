"""HTTP clients with a breaker per host, on both twins: httpx (sync, async), requests, aiohttp.

A real server on loopback (tests/http_server.py) answers, fails or is slow; a port
nothing listens on refuses connections. Each client is driven through a small adapter
(``Kind``) so that every behaviour is asserted once for all of them.
"""

import asyncio

import aiohttp
import httpx
import pytest
import requests
from http_server import HttpServer, refused_url

import pycircuitbreaker.aiohttp
import pycircuitbreaker.httpx
import pycircuitbreaker.requests
from pycircuitbreaker import BreakerGroup, CircuitBreakerException, CircuitBreakerState

OPEN, CLOSED = CircuitBreakerState.OPEN, CircuitBreakerState.CLOSED


class HttpxSync:
    status = staticmethod(lambda response: response.status_code)
    module = pycircuitbreaker.httpx
    transport_error, connect_error, timeout_error = (httpx.TransportError, httpx.ConnectError,
                                                     httpx.ReadTimeout)

    def __init__(self, **options):
        self.transport = self.module.BreakerTransport(**options)
        self.group = self.transport.group
        self.client = httpx.Client(transport=self.transport, timeout=5)

    def get(self, url, timeout=5):
        return self.client.get(url, timeout=timeout).status_code

    def close(self):
        self.client.close()


class HttpxAsync(HttpxSync):
    def __init__(self, **options):
        self.transport = self.module.AsyncBreakerTransport(**options)
        self.group = self.transport.group

    def get(self, url, timeout=5):
        async def get():
            async with httpx.AsyncClient(transport=self.transport) as client:
                return (await client.get(url, timeout=timeout)).status_code

        return asyncio.run(get())

    def close(self):
        pass


class Requests:
    status = staticmethod(lambda response: response.status_code)
    module = pycircuitbreaker.requests
    transport_error, connect_error, timeout_error = (requests.ConnectionError,
                                                     requests.ConnectionError,
                                                     requests.ReadTimeout)

    def __init__(self, **options):
        self.adapter = self.module.BreakerAdapter(**options)
        self.group = self.adapter.group
        self.session = requests.Session()
        self.session.mount("http://", self.adapter)

    def get(self, url, timeout=5):
        return self.session.get(url, timeout=timeout).status_code

    def close(self):
        self.session.close()


class Aiohttp:
    status = staticmethod(lambda response: response.status)
    module = pycircuitbreaker.aiohttp
    transport_error, connect_error, timeout_error = (aiohttp.ClientError,
                                                     aiohttp.ClientConnectorError,
                                                     aiohttp.ServerTimeoutError)

    def __init__(self, **options):
        self.middleware = self.module.BreakerMiddleware(**options)
        self.group = self.middleware.group

    def get(self, url, timeout=5):
        async def get():
            # A socket timeout, which fails the request inside the middleware.
            limits = aiohttp.ClientTimeout(sock_read=timeout, sock_connect=timeout)
            async with aiohttp.ClientSession(middlewares=(self.middleware,),
                                             timeout=limits) as session:
                async with session.get(url) as response:
                    return response.status

        return asyncio.run(get())

    def close(self):
        pass


KINDS = {"httpx": HttpxSync, "httpx-async": HttpxAsync, "requests": Requests,
         "aiohttp": Aiohttp}


@pytest.fixture(autouse=True)
def twin(impl, monkeypatch):
    """Every group built in the test builds ``impl``'s breakers."""
    monkeypatch.setattr(BreakerGroup, "breaker_class", impl.CircuitBreaker)
    return impl


@pytest.fixture(params=sorted(KINDS))
def kind(request):
    return KINDS[request.param]


@pytest.fixture
def make_client(kind):
    made = []

    def make(**options):
        made.append(kind(**options))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def server():
    running = HttpServer().start()
    yield running
    running.stop()


@pytest.fixture
def other_server():
    running = HttpServer().start()
    yield running
    running.stop()


def test_a_failing_host_opens_its_breaker_and_the_others_are_still_served(
        twin, kind, make_client, server, other_server):
    client = make_client(error_threshold=3, recovery_timeout=60)
    for _ in range(3):
        assert client.get(f"{server.url}/status/500") == 500
    breaker = client.group.get(kind.module.host_of(server.url))
    assert isinstance(breaker, twin.CircuitBreaker)
    assert breaker.state is OPEN
    hits = server.hits
    # The client's own except clause catches the rejection; nothing reached the server.
    with pytest.raises(kind.transport_error) as caught:
        client.get(f"{server.url}/status/200")
    assert isinstance(caught.value, kind.module.RequestRejected)
    assert isinstance(caught.value, CircuitBreakerException)
    assert caught.value.breaker is breaker and caught.value.state is OPEN
    assert 59 < caught.value.retry_after <= 60
    assert f"{caught.value.retry_after:.3f} sec remaining" in str(caught.value)
    assert str(caught.value.request.url) == f"{server.url}/status/200"
    assert server.hits == hits
    # Another host: its own breaker, closed, serving.
    assert client.get(f"{other_server.url}/status/200") == 200


def test_refused_connections_count(kind, make_client):
    client = make_client(error_threshold=2, recovery_timeout=60)
    url = refused_url()
    for _ in range(2):
        with pytest.raises(kind.connect_error) as caught:
            client.get(url)
        assert not isinstance(caught.value, CircuitBreakerException)
    with pytest.raises(kind.module.RequestRejected):
        client.get(url)


def test_timeouts_count(kind, make_client, server):
    client = make_client(error_threshold=1, recovery_timeout=60)
    with pytest.raises(kind.timeout_error):
        client.get(f"{server.url}/slow/0.5", timeout=0.1)
    with pytest.raises(kind.module.RequestRejected):
        client.get(f"{server.url}/status/200")


def test_client_errors_never_count(kind, make_client, server):
    client = make_client(error_threshold=1)
    for status in (400, 404, 429, 499):
        assert client.get(f"{server.url}/status/{status}") == status
    assert client.group.get(kind.module.host_of(server.url)).state is CLOSED


def test_is_failure_says_which_responses_count(kind, make_client, server):
    client = make_client(error_threshold=1,
                         is_failure=lambda response: kind.status(response) == 429)
    assert client.get(f"{server.url}/status/500") == 500
    assert client.get(f"{server.url}/status/429") == 429  # counted, and returned
    with pytest.raises(kind.module.RequestRejected):
        client.get(f"{server.url}/status/200")


def test_one_group_shared_by_two_clients(kind, make_client, server):
    group = kind.module.breaker_group("api", error_threshold=2, recovery_timeout=60)
    first, second = make_client(group=group), make_client(group=group)
    assert first.get(f"{server.url}/status/500") == 500
    assert second.get(f"{server.url}/status/500") == 500
    with pytest.raises(kind.module.RequestRejected) as caught:
        first.get(f"{server.url}/")
    assert caught.value.breaker.id == f"api['{server.url}']"


@pytest.mark.parametrize(("url", "key"), [
    ("https://API.example.com/v1?x=1", "https://api.example.com:443"),
    ("https://api.example.com:443/", "https://api.example.com:443"),
    ("http://api.example.com/", "http://api.example.com:80"),
    ("http://[::1]:8080/", "http://[::1]:8080"),
])
def test_a_host_is_its_scheme_host_and_port(kind, url, key):
    assert kind.module.host_of(url) == key


@pytest.mark.parametrize(("options", "words"), [
    ({"group": BreakerGroup("g"), "error_threshold": 3},
     "with group=, the group's options decide; error_threshold cannot be given too"),
    ({"group": BreakerGroup("g"), "is_failure": bool}, "is_failure cannot be given too"),
    ({"group": "hosts"}, "group must be a BreakerGroup or None, got 'hosts' (str)"),
    ({"is_failure": 500}, "is_failure must be callable or None, got 500 (int)"),
    ({"detect_error": bool}, "detect_error cannot be given"),
    ({"error_treshold": 3}, "did you mean 'error_threshold'?"),
])
def test_bad_options_are_refused(kind, options, words):
    with pytest.raises(TypeError) as caught:
        kind(**options)
    assert words in str(caught.value)


# -- what one client alone does -------------------------------------------------------


def test_other_exceptions_of_a_wrapped_httpx_transport_never_count():
    def handler(request):
        raise ValueError("a bug in the caller's transport, not the host")

    transport = pycircuitbreaker.httpx.BreakerTransport(httpx.MockTransport(handler),
                                                        error_threshold=1)
    with httpx.Client(transport=transport) as client:
        for _ in range(3):
            with pytest.raises(ValueError):
                client.get("https://api.example.com/")
    assert transport.group.get("https://api.example.com:443").state is CLOSED


def test_the_requests_adapter_passes_its_own_parameters_on(server):
    adapter = pycircuitbreaker.requests.BreakerAdapter(max_retries=2, pool_maxsize=3,
                                                       error_threshold=1)
    assert adapter.max_retries.total == 2 and adapter._pool_maxsize == 3
    assert adapter.group.get("http://x:80").config.error_threshold == 1


def test_an_aiohttp_sessions_total_timeout_counts(server):
    middleware = pycircuitbreaker.aiohttp.BreakerMiddleware(error_threshold=1)

    async def get(path):
        async with aiohttp.ClientSession(middlewares=(middleware,),
                                         timeout=aiohttp.ClientTimeout(total=0.1)) as session:
            async with session.get(f"{server.url}{path}") as response:
                return response.status

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(get("/slow/0.5"))
    with pytest.raises(pycircuitbreaker.aiohttp.RequestRejected):
        asyncio.run(get("/status/200"))
