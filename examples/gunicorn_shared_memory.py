"""gunicorn workers sharing one circuit breaker through shared memory, with no server.

    python examples/gunicorn_shared_memory.py      (Linux; needs `pip install gunicorn`)

It starts a flaky dependency on loopback (it answers 20 requests, then fails every one),
then `gunicorn --preload --workers 4` serving this file's WSGI app, whose every request
calls the dependency through ``@circuit(storage=SharedMemoryStorage(...))``. The breaker
is built once, in gunicorn's master, before it forks the workers: all four decide on one
state in one shared memory segment. 100 requests later it prints what each worker
answered, how many calls reached the dependency, and who opened the breaker: one worker,
once, for the whole host.
"""

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

WORKERS = 4
REQUESTS = 100
THRESHOLD = 5
HEALTHY_FOR = 20  # requests the dependency answers before it fails every one

# -- the app gunicorn serves (this module, imported once in the master: --preload) ------

if "PCB_EXAMPLE_SEGMENT" in os.environ:
    from pycircuitbreaker import CircuitBreakerException, circuit
    from pycircuitbreaker.shared_memory import SharedMemoryStorage

    DEPENDENCY = os.environ["PCB_EXAMPLE_DEPENDENCY"]
    OPENINGS = Path(os.environ["PCB_EXAMPLE_OPENINGS"])

    def opened(breaker, error):
        # Fired in the worker whose call opened the breaker, and only there.
        with OPENINGS.open("a") as file:
            file.write(f"{os.getpid()}\n")

    @circuit(breaker_id="inventory", storage=SharedMemoryStorage(os.environ["PCB_EXAMPLE_SEGMENT"]),
             error_threshold=THRESHOLD, recovery_timeout=30, on_open=opened,
             exception_blacklist=[urllib.error.URLError])
    def check_stock():
        with urllib.request.urlopen(DEPENDENCY, timeout=5) as response:
            return response.read()

    def app(environ, start_response):
        """Answer 200 with the stock, 502 when the dependency failed, 503 when rejected."""
        try:
            body, status = check_stock(), "200 OK"
        except urllib.error.URLError:
            body, status = b"dependency failed", "502 Bad Gateway"
        except CircuitBreakerException:
            body, status = b"dependency unavailable", "503 Service Unavailable"
        start_response(status, [("X-Worker", str(os.getpid())),
                                ("Content-Length", str(len(body)))])
        return [body]


# -- the run -------------------------------------------------------------------------


class Dependency(http.server.BaseHTTPRequestHandler):
    """Answer HEALTHY_FOR requests with the stock, then 500 to every one."""

    hits = 0
    lock = threading.Lock()

    def do_GET(self):
        with Dependency.lock:
            Dependency.hits += 1
            healthy = Dependency.hits <= HEALTHY_FOR
        body = json.dumps({"stock": 42}).encode() if healthy else b"down"
        self.send_response(200 if healthy else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main():
    import pycircuitbreaker
    from pycircuitbreaker.shared_memory import SharedMemoryStorage

    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    if not Path(gunicorn).exists():
        sys.exit("gunicorn is not installed: pip install gunicorn")
    segment = f"gunicorn-example-{uuid.uuid4().hex[:8]}"
    openings = Path(f"/tmp/{segment}.openings")
    dependency = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Dependency)
    threading.Thread(target=dependency.serve_forever, daemon=True).start()
    port = free_port()
    env = dict(os.environ, PCB_EXAMPLE_SEGMENT=segment, PCB_EXAMPLE_OPENINGS=str(openings),
               PCB_EXAMPLE_DEPENDENCY=f"http://127.0.0.1:{dependency.server_port}/stock")
    print(f"pycircuitbreaker {pycircuitbreaker.__version__} "
          f"({pycircuitbreaker.IMPLEMENTATION} core), {WORKERS} gunicorn workers, "
          f"--preload, one shared memory segment")
    server = subprocess.Popen(
        [gunicorn, "--preload", "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}",
         "--chdir", str(Path(__file__).resolve().parent), "--log-level", "warning",
         "gunicorn_shared_memory:app"], env=env)
    answers = {}
    try:
        wait_for(f"http://127.0.0.1:{port}/")
        Dependency.hits = 0  # the wait's own request does not count
        for _ in range(REQUESTS):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as reply:
                    status, worker = reply.status, reply.headers["X-Worker"]
            except urllib.error.HTTPError as error:
                status, worker = error.code, error.headers["X-Worker"]
            answers.setdefault(worker, []).append(status)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        dependency.shutdown()
        SharedMemoryStorage(segment).unlink()
    opened_by = openings.read_text().split() if openings.exists() else []
    openings.unlink(missing_ok=True)

    for worker, statuses in sorted(answers.items()):
        print(f"worker {worker}: {statuses.count(200)} served, {statuses.count(502)} failed "
              f"at the dependency, {statuses.count(503)} rejected at once"
              + (" (opened the breaker here)" if worker in opened_by else ""))
    failed = sum(statuses.count(502) for statuses in answers.values())
    print(f"The dependency saw {Dependency.hits} calls for {REQUESTS} requests: "
          f"{HEALTHY_FOR} answered, {Dependency.hits - HEALTHY_FOR} failed.")
    if len(opened_by) != 1 or failed != THRESHOLD:
        sys.exit(f"expected one opening after {THRESHOLD} failures, got {len(opened_by)} "
                 f"opening(s) after {failed}")
    print(f"The breaker opened once, in worker {opened_by[0]}, for all {len(answers)} "
          f"workers that answered: {failed} failed calls, where a breaker per worker "
          f"would have let through up to {WORKERS * THRESHOLD}.")


if __name__ == "__main__":
    main()
