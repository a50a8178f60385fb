"""Build the "floor": the least a compiled wrapper can cost, compiled here at run time.

``Forwarder.__call__`` only calls the wrapped function; ``Rejecter.__call__`` only raises
a new plain exception. Both are compiled with the same Cython and compiler flags as the
project's core, into a cache directory keyed by everything that affects the build, so
only the first run pays for compiling.
"""

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from .cell import Unavailable

ENV_CACHE = "PYCIRCUITBREAKER_BENCH_CACHE"
MODULE = "_pcb_bench_floor"

SOURCE = '''\
# cython: language_level=3
"""The floor: a compiled forwarder and a compiled rejecter, nothing else."""


cdef class Forwarder:
    """Call the wrapped function with the arguments given; nothing more."""

    cdef object f

    def __init__(self, f):
        self.f = f

    def __call__(self, *args, **kwargs):
        return self.f(*args, **kwargs)


cdef class Rejecter:
    """Raise a new instance of the given exception class on every call."""

    cdef object error_class

    def __init__(self, error_class):
        self.error_class = error_class

    def __call__(self, *args, **kwargs):
        raise self.error_class()
'''

# Run in a child process: compiler chatter stays out of the report and a crash in the
# toolchain cannot take the benchmark down with it.
BUILD_SCRIPT = '''\
import sys
from Cython.Build import cythonize
from setuptools import Distribution, Extension

source, out_dir, temp_dir = sys.argv[1:4]
modules = cythonize([Extension({module!r}, [source])], build_dir=temp_dir, quiet=True)
dist = Distribution({{"ext_modules": modules, "script_name": "floor"}})
command = dist.get_command_obj("build_ext")
command.build_lib = out_dir
command.build_temp = temp_dir
command.ensure_finalized()
command.run()
'''.format(module=MODULE)

_loaded = None


def load():
    """Return the compiled floor module, building it first if needed; raise Unavailable."""
    global _loaded
    if _loaded is None:
        _loaded = _import(_built_extension())
    return _loaded


def cache_dir():
    """Return the directory where built floors are kept (``$PYCIRCUITBREAKER_BENCH_CACHE``)."""
    configured = os.environ.get(ENV_CACHE)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pycircuitbreaker-bench"


def _build_key():
    try:
        import Cython
    except ImportError as error:
        raise Unavailable(f"Cython is not installed ({error}); pip install Cython setuptools"
                          " (or this project's [bench] extra: pip install '.[bench]')") from None
    parts = [SOURCE, Cython.__version__, sys.version, sysconfig.get_platform(),
             sysconfig.get_config_var("EXT_SUFFIX") or ""]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _built_extension():
    """Return the path of a built floor, compiling it into the cache if it is not there."""
    target_dir = cache_dir() / _build_key()
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = target_dir / (MODULE + suffix)
    if target.exists():
        return target
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=target_dir))
    except OSError as error:
        raise Unavailable(f"cannot write the floor's build cache {target_dir}: {error}; "
                          f"set {ENV_CACHE} to a writable directory") from None
    source = work / (MODULE + ".pyx")
    source.write_text(SOURCE)
    result = subprocess.run(
        [sys.executable, "-c", BUILD_SCRIPT, str(source), str(work), str(work / "temp")],
        capture_output=True, text=True,
    )
    built = work / (MODULE + suffix)
    try:
        if result.returncode != 0 or not built.exists():
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
            raise Unavailable(
                "the Cython floor could not be compiled (needs Cython, setuptools and a C "
                f"compiler; pip install Cython setuptools):\n{tail}"
            )
        # Atomic, so a concurrent run sees either no floor or a whole one.
        os.replace(built, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _import(path):
    spec = importlib.util.spec_from_file_location(MODULE, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
