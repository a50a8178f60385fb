"""A Flask app whose /ready route reports its circuit breakers.

    flask --app examples/flask_ready run
"""

from flask import Flask

from pycircuitbreaker import CircuitBreaker, CircuitBreakerException, CircuitBreakerRegistry

INVENTORY_DOWN = False  # set to True to make the inventory service fail


def inventory_service(item):
    """Stand in for a remote service: fail while INVENTORY_DOWN is set."""
    if INVENTORY_DOWN:
        raise ConnectionError("inventory service unavailable")
    return {"item": item, "stock": 42}


def create_app(breaker_class=CircuitBreaker):
    """Build the app, its registry and its breakers (tests pass each core's class)."""
    app = Flask(__name__)
    registry = app.extensions["circuitbreakers"] = CircuitBreakerRegistry()
    inventory = breaker_class(breaker_id="inventory", error_threshold=3,
                              recovery_timeout=30, registry=registry)

    @app.get("/stock/<item>")
    def stock(item):
        return inventory.call(inventory_service, item)

    @app.errorhandler(ConnectionError)
    def service_failed(error):
        return {"error": str(error)}, 502

    @app.errorhandler(CircuitBreakerException)
    def rejected(error):
        # The breaker is open: answer at once instead of waiting on a service that is down.
        return {"error": str(error)}, 503

    @app.get("/ready")
    def ready():
        health = registry.health()
        return health, 200 if health["ok"] else 503

    return app


app = create_app()
