"""Describe the machine and interpreter the numbers were taken on."""

import os
import platform
import sys


def cpu_model():
    """Return the CPU model from /proc/cpuinfo, or the platform's best guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cores():
    """Return 'N cores' and, when fewer are usable by this process, how many are."""
    total = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = total
    return f"{total} cores" + (f" ({usable} usable)" if usable != total else "")


def describe():
    """Return (machine, python) description lines."""
    machine = f"{cpu_model()}, {cores()}, {platform.system()} {platform.machine()}"
    python = f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
    return machine, python
