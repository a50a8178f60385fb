"""The URLs of the Django app tests/test_servers.py serves through Django's test client."""

from django.http import HttpResponse
from django.urls import path

#: The breaker the views call through; each test sets its own.
GUARD = {}


def guarded(request):
    return HttpResponse(GUARD["breaker"].call(lambda: "served"))


async def guarded_async(request):
    async def served():
        return "served"

    return HttpResponse(await GUARD["breaker"].call_async(served))


def broken(request):
    raise LookupError("not a rejection")


urlpatterns = [
    path("guarded", guarded),
    path("guarded-async", guarded_async),
    path("broken", broken),
]
