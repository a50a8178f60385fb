"""A real 3-master Redis Cluster for tests: three redis-server processes in cluster mode on
free loopback ports, joined by ``redis-cli --cluster create``, stopped by their pids."""

import os
import shutil
import subprocess
import time

import pytest
from redis_server import REQUIRE_ENV, RedisServer, free_port

MASTERS = 3


def redis_cli_binary():
    """Return the redis-cli path; skip (or fail where CI requires it) if missing."""
    path = shutil.which("redis-cli")
    if path is None:
        hint = "redis-cli is not installed (Debian/Ubuntu: apt-get install redis-tools)"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{hint}, and {REQUIRE_ENV} says these tests must run")
        pytest.skip(hint)
    return path


class RedisCluster:
    """Three masters, every slot assigned, no replicas."""

    def __init__(self, folder):
        self.cli = redis_cli_binary()
        self.nodes = []
        for index in range(MASTERS):
            node_folder = os.path.join(str(folder), f"node{index}")
            os.makedirs(node_folder, exist_ok=True)
            self.nodes.append(RedisServer(node_folder, tcp=True, extra=[
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                # The bus port is given, not port + 10000, which may be taken.
                "--cluster-port", str(free_port()), "--cluster-node-timeout", "5000",
            ]))

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def start(self):
        """Start the nodes, join them, and wait until every node says the cluster is ok."""
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            subprocess.run([self.cli, "--cluster", "create", *addresses,
                            "--cluster-replicas", "0", "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            deadline = time.monotonic() + 60  # a few seconds at most when idle
            while not all(self._ok(node) for node in self.nodes):
                if time.monotonic() > deadline:
                    raise RuntimeError("the Redis Cluster did not come up within 60 s")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        return self

    def _ok(self, node):
        info = subprocess.run([self.cli, "-p", str(node.port), "cluster", "info"],
                              capture_output=True, text=True, timeout=10).stdout
        return "cluster_state:ok" in info

    def client(self, **options):
        """Return a new redis.RedisCluster client of this cluster."""
        import redis

        return redis.RedisCluster.from_url(self.url, **options)

    def stop(self):
        for node in self.nodes:
            node.stop()
