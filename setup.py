"""Build the compiled core when possible; fall back to the pure twin otherwise.

``PYCIRCUITBREAKER_NO_EXTENSIONS=1`` skips compiling. A failed compile only warns,
unless ``PYCIRCUITBREAKER_REQUIRE_EXTENSIONS=1`` or ``CIBUILDWHEEL=1`` (release wheels),
which make it fatal.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

TRUTHY = {"1", "true", "yes", "on"}


def env_flag(name):
    return os.environ.get(name, "").strip().lower() in TRUTHY


NO_EXTENSIONS = env_flag("PYCIRCUITBREAKER_NO_EXTENSIONS")
REQUIRE_EXTENSIONS = env_flag("PYCIRCUITBREAKER_REQUIRE_EXTENSIONS") or env_flag("CIBUILDWHEEL")

WARNING = """
********************************************************************************
WARNING: pycircuitbreaker's compiled core could not be built ({reason}).
Installing the pure-Python twin instead: same behaviour, slower calls.
Set PYCIRCUITBREAKER_REQUIRE_EXTENSIONS=1 to make this an error.
********************************************************************************
"""


class OptionalBuildExt(build_ext):
    """Build extensions, degrading to pure Python when compiling fails."""

    def run(self):
        try:
            super().run()
        except Exception as error:  # no compiler at all shows up here
            self._give_up(error)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as error:
            self._give_up(error)

    def _give_up(self, error):
        if REQUIRE_EXTENSIONS:
            raise
        sys.stderr.write(WARNING.format(reason=f"{type(error).__name__}: {error}"))


def extensions():
    if NO_EXTENSIONS:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError as error:
        if REQUIRE_EXTENSIONS:
            raise
        sys.stderr.write(WARNING.format(reason=f"Cython is not installed: {error}"))
        return []
    return cythonize(
        [
            Extension(
                "pycircuitbreaker._core_c",
                ["src/pycircuitbreaker/_core_c.pyx"],
                include_dirs=["src/pycircuitbreaker"],
                depends=["src/pycircuitbreaker/_hot_path.h", "src/pycircuitbreaker/_shm_slot.h"],
            )
        ],
        compiler_directives={"language_level": 3},
    )


# A pure build (PYCIRCUITBREAKER_NO_EXTENSIONS) has no compiled core, so it leaves out
# the core's build inputs and its stub: the stub would let a type checker accept
# `import pycircuitbreaker._core_c`, which fails in that install. The sdist still carries
# all three (MANIFEST.in names them).
PURE_LEAVES_OUT = {"pycircuitbreaker": ["_core_c.pyx", "_hot_path.h", "_shm_slot.h",
                                        "_core_c.pyi"]}

setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
    exclude_package_data=PURE_LEAVES_OUT if NO_EXTENSIONS else {},
)
