"""Count the commands a Redis server ran between two readings of ``INFO commandstats``.

The server counts every command it runs, those a Lua script runs with ``redis.call``
included, and no client can hide one from it. A script run is one command the client
sent (one round trip); the commands inside it are counted apart, recognised by name
among those the script's source calls. The counter's own INFO commands are left out.
"""

import re
from dataclasses import dataclass, field

from pycircuitbreaker._redis_script import SCRIPT

# The commands that run a script: what a client sends to have one run.
SCRIPT_RUNNERS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})
PROBE = "info"
CALLED = re.compile(r"""redis\.p?call\(\s*['"]([A-Za-z]+)['"]""")


def script_commands(source=SCRIPT):
    """Return the names (lower case) of the commands a Lua script's source calls."""
    return frozenset(name.lower() for name in CALLED.findall(source))


@dataclass
class Commands:
    """The commands run during one stretch, by name: sent by clients, and run by scripts."""

    sent: dict[str, int] = field(default_factory=dict)
    in_scripts: dict[str, int] = field(default_factory=dict)

    @property
    def total_sent(self):
        """Return how many commands clients sent (a script run counts once)."""
        return sum(self.sent.values())

    @property
    def total_run(self):
        """Return how many commands the server ran, those inside scripts included."""
        return self.total_sent + sum(self.in_scripts.values())

    def describe(self):
        """Return e.g. ``evalsha 10 (+ inside the script: hmget 10, time 10)``."""
        sent = ", ".join(f"{name} {count:,}" for name, count in sorted(self.sent.items()))
        text = sent or "none"
        if self.in_scripts:
            inside = ", ".join(f"{name} {count:,}"
                               for name, count in sorted(self.in_scripts.items()))
            text += f" (+ inside the script: {inside})"
        return text


class CommandCounter:
    """Read a server's command counts through its own client, and tell two readings apart."""

    def __init__(self, client, in_script_names=None):
        self.client = client
        self.in_script_names = (script_commands() if in_script_names is None
                                else frozenset(in_script_names))

    def reading(self):
        """Return the commands run so far, by name (calls plus calls rejected before running)."""
        stats = self.client.info("commandstats")
        counts = {}
        for key, value in stats.items():
            name = key[len("cmdstat_"):] if key.startswith("cmdstat_") else key
            if name != PROBE:
                counts[name] = value.get("calls", 0) + value.get("rejected_calls", 0)
        return counts

    def between(self, before, after):
        """Return the Commands run from reading ``before`` to reading ``after``."""
        delta = {name: count - before.get(name, 0) for name, count in after.items()}
        delta = {name: count for name, count in delta.items() if count}
        scripts_ran = any(name in SCRIPT_RUNNERS for name in delta)
        commands = Commands()
        for name, count in delta.items():
            # Without a script run, every command was a client's; with one, the commands
            # the script calls are taken as its own (no client here sends those apart).
            inside = scripts_ran and name in self.in_script_names
            (commands.in_scripts if inside else commands.sent)[name] = count
        return commands
