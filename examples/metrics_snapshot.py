"""Read a breaker's metrics: what a dashboard or an exporter sees."""

from pycircuitbreaker import CircuitBreaker, CircuitBreakerException

breaker = CircuitBreaker(breaker_id="payments", error_threshold=2, recovery_timeout=30)


def charge(amount):
    if amount < 0:
        raise ValueError(f"cannot charge {amount}")
    return f"charged {amount}"


for amount in (10, 20, -1, -2, 30):
    try:
        breaker.call(charge, amount)
    except (ValueError, CircuitBreakerException):
        pass

snapshot = breaker.metrics()
print(snapshot.state.name, snapshot.calls, snapshot.successes, snapshot.errors,
      snapshot.rejections, snapshot.transitions)  # OPEN 4 2 2 1 1
