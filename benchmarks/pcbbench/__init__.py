"""Benchmark the breaker against baselines and peers: ``./dev bench``.

The same definitions drive the command's table and the pytest-benchmark suite in
``benchmarks/``: ``scenarios`` names what is measured, ``rows`` builds one ``Cell`` (a
callable in a verified state) per row and scenario, ``timing`` times cells.
``redis_bench`` measures breakers that share their state through a redis-server it
starts for the run (``redis_server``), counting the commands per call on the server.
"""
