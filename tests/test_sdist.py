"""The release artifacts, built the way the wheels workflow builds them: the sdist from a
clean copy of the checkout, the pure wheel from that sdist; each installed into a fresh
virtual environment, with and without a C compiler. Also their metadata, and the version
they carry.

One sdist and one pure wheel serve the whole session. Builds use build isolation, as pip
and the workflow do, so the build requirements in pyproject.toml are under test too.
Installs from the sdist pass --no-cache-dir: pip caches the wheel it builds from an sdist,
and each install here must build its own, never be handed the other's (a pure wheel built
without the compiler, say).
"""

import email.parser
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import pycircuitbreaker

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
WARNING = "pycircuitbreaker's compiled core could not be built"
# What a build or install here must not inherit from the developer's shell.
BUILD_FLAGS = ("PYCIRCUITBREAKER_NO_EXTENSIONS", "PYCIRCUITBREAKER_REQUIRE_EXTENSIONS",
               "CIBUILDWHEEL")


def run(args, cwd=None, **env_changes):
    env = {k: v for k, v in os.environ.items() if k not in BUILD_FLAGS and k != "PYTHONPATH"}
    env.update(env_changes)
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def check(result):
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited with {result.returncode}\n"
        f"--- stdout (end) ---\n{result.stdout[-5000:]}\n--- stderr (end) ---\n{result.stderr[-5000:]}"
    )
    return result


def unpack(sdist, into):
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):  # refuse links and paths that leave `into`
            archive.extractall(into, filter="data")
        else:
            archive.extractall(into)
    (tree,) = Path(into).iterdir()
    return tree


class Venv:
    """A fresh virtual environment with nothing installed, not even pip: the test's own pip
    installs into it (pip --python), which is quicker than seeding pip in every one."""

    def __init__(self, folder):
        check(run([sys.executable, "-m", "venv", "--without-pip", folder]))
        bindir = "Scripts" if os.name == "nt" else "bin"
        self.python = Path(folder) / bindir / ("python.exe" if os.name == "nt" else "python")

    def pip_install(self, *args, **env_changes):
        return run([sys.executable, "-m", "pip", "--python", self.python, "install", "-v",
                    "--no-deps", *args], **env_changes)

    def python_says(self, code, **env_changes):
        # Run from the venv's own folder: the checkout's tree must not be importable.
        return check(run([self.python, "-c", code], cwd=self.python.parent,
                         **env_changes)).stdout.strip()

    def package_files(self):
        folder = self.python_says("import os, pycircuitbreaker as p;"
                                  " print(os.path.dirname(p.__file__))")
        return sorted(p.name for p in Path(folder).iterdir())


IMPLEMENTATION = "import pycircuitbreaker as p; print(p.IMPLEMENTATION)"
# A breaker doing its job in the installed package: two errors open it, the next call is
# rejected without reaching the function.
WORKS = """
from pycircuitbreaker import CircuitBreakerException, circuit
calls = []
@circuit(error_threshold=2, recovery_timeout=60)
def flaky():
    calls.append(1)
    raise OSError("down")
for _ in range(2):
    try:
        flaky()
    except OSError:
        pass
try:
    flaky()
except CircuitBreakerException:
    print(flaky.breaker.state.name, len(calls))
"""


# -- the artifacts, once per session ---------------------------------------------------


def checkout_files():
    """The files a clean clone would have once the work in progress is committed: tracked
    and untracked, less the ignored (and less a tracked file deleted but not committed)."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=ROOT, capture_output=True)
    if listing.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout: {listing.stderr.decode().strip()}")
    return [name for name in listing.stdout.decode().split("\0")
            if name and (ROOT / name).is_file()]


@pytest.fixture(scope="session")
def checkout(tmp_path_factory):
    """A copy of checkout_files(). Builds never run in the checkout itself, where they
    would leave the generated _core_c.c and an egg-info whose stale SOURCES.txt later
    sdists would include."""
    copy = tmp_path_factory.mktemp("checkout")
    for name in checkout_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((ROOT / name).read_bytes())
    return copy


@pytest.fixture(scope="session")
def sdist(checkout, tmp_path_factory):
    out = tmp_path_factory.mktemp("sdist")
    check(run([sys.executable, "-m", "build", "--sdist", "--outdir", out, checkout]))
    (archive,) = out.glob("*.tar.gz")
    return archive


@pytest.fixture(scope="session")
def sdist_members(sdist):
    with tarfile.open(sdist) as archive:
        # Relative to the sdist's top folder (pycircuitbreaker-VERSION/).
        return {name.partition("/")[2] for name in archive.getnames()}


@pytest.fixture(scope="session")
def pure_wheel(sdist, tmp_path_factory):
    """The pure wheel as the workflow makes it: built from the unpacked sdist."""
    tree = unpack(sdist, tmp_path_factory.mktemp("unpacked"))
    out = tmp_path_factory.mktemp("pure-wheel")
    check(run([sys.executable, "-m", "build", "--wheel", "--outdir", out, tree],
              PYCIRCUITBREAKER_NO_EXTENSIONS="1"))
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="session")
def compiled_install(sdist, tmp_path_factory):
    """The sdist installed by a plain `pip install`, compiler available."""
    venv = Venv(tmp_path_factory.mktemp("compiled-venv"))
    result = check(venv.pip_install("--no-cache-dir", sdist))
    return venv, result


# -- the sdist -------------------------------------------------------------------------


def test_sdist_carries_what_the_wheels_are_built_and_tested_from(sdist_members):
    # cibuildwheel builds every release wheel from the sdist and runs this suite from it.
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE", "PKG-INFO",
                 "src/pycircuitbreaker/_core_c.pyx", "src/pycircuitbreaker/_hot_path.h",
                 "src/pycircuitbreaker/_shm_slot.h",
                 "src/pycircuitbreaker/_core_c.pyi", "src/pycircuitbreaker/_core_py.py",
                 "src/pycircuitbreaker/py.typed", "tests/conftest.py", "tests/test_sdist.py",
                 "tests/typing/check_decorators.py", "examples/metrics_snapshot.py",
                 "docs/index.md", "CONTRIBUTING.md"):
        assert name in sdist_members, f"{name} is missing from the sdist"
    tracked_tests = {f"tests/{p.relative_to(ROOT / 'tests').as_posix()}"
                     for p in (ROOT / "tests").rglob("*.py") if "__pycache__" not in p.parts}
    assert tracked_tests <= sdist_members, sorted(tracked_tests - sdist_members)


def test_sdist_leaves_out_generated_and_binary_files(sdist_members):
    unwanted = [name for name in sdist_members
                if name.endswith((".c", ".so", ".pyd", ".pyc", ".html"))
                or "__pycache__" in name or ".hypothesis" in name]
    assert unwanted == []


def test_sdist_without_a_compiler_installs_the_pure_twin_and_says_so(sdist, tmp_path):
    venv = Venv(tmp_path / "venv")
    # CC is the compiler setuptools calls on Linux and macOS; `false` fails every compile.
    result = check(venv.pip_install("--no-cache-dir", sdist, CC="false"))
    output = result.stdout + result.stderr
    assert WARNING in output
    assert "Installing the pure-Python twin instead" in output
    # The compile was really attempted with CC, and that is what failed (not, say, a
    # missing Cython): the error names the command, as "command 'false' failed" or, in
    # newer setuptools, "Command '['false', ...]' returned non-zero exit status".
    assert re.search(r"CompileError: [Cc]ommand '\[?'?([^' ]*/)?false'", output), output[-3000:]
    assert venv.python_says(IMPLEMENTATION) == "python"
    assert venv.python_says(WORKS) == "OPEN 2"
    assert not [n for n in venv.package_files() if n.endswith((".so", ".pyd"))]


def test_sdist_with_a_compiler_installs_the_compiled_core(compiled_install):
    venv, result = compiled_install
    assert WARNING not in result.stdout + result.stderr
    assert venv.python_says(IMPLEMENTATION) == "cython"
    assert venv.python_says(WORKS) == "OPEN 2"
    core = venv.python_says("import pycircuitbreaker._core_c as c; print(c.__file__)")
    assert Path(core).is_relative_to(venv.python.parent.parent)
    files = venv.package_files()
    assert [n for n in files if n.startswith("_core_c.") and n.endswith((".so", ".pyd"))]
    # The generated C never ships (MANIFEST.in); the .pyx stays beside the module it made.
    assert "_core_c.c" not in files
    assert "_core_c.pyx" in files


# -- the pure wheel --------------------------------------------------------------------


def test_pure_wheel_is_tagged_for_any_python_and_platform(pure_wheel):
    assert pure_wheel.name == f"pycircuitbreaker-{pycircuitbreaker.__version__}-py3-none-any.whl"
    wheel_file = dist_info_file(pure_wheel, "WHEEL")
    assert "Root-Is-Purelib: true" in wheel_file.splitlines()
    assert [line for line in wheel_file.splitlines() if line.startswith("Tag:")] == [
        "Tag: py3-none-any"]


def test_pure_wheel_holds_no_compiled_core_nor_its_build_inputs(pure_wheel):
    members = zipfile.ZipFile(pure_wheel).namelist()
    # The .pyx and .h only build a core this wheel does not have; the _core_c stub would
    # describe a module that is not there.
    unwanted = [m for m in members
                if m.endswith((".so", ".pyd", ".c", ".pyx", ".h")) or "_core_c" in m]
    assert unwanted == []
    for needed in ("pycircuitbreaker/_core_py.py", "pycircuitbreaker/py.typed",
                   "pycircuitbreaker/_types.pyi"):
        assert needed in members


def test_wheel_holds_the_library_alone(pure_wheel):
    # The benchmark harness (benchmarks/pcbbench), the tests and the examples stay in the
    # repository and the sdist: the wheel is the package's own modules and its metadata.
    members = zipfile.ZipFile(pure_wheel).namelist()
    package = {m.partition("/")[2] for m in members if m.startswith("pycircuitbreaker/")}
    others = [m for m in members
              if not m.startswith(("pycircuitbreaker/", "pycircuitbreaker-"))]
    assert others == []
    library = {p.relative_to(ROOT / "src" / "pycircuitbreaker").as_posix()
               for p in (ROOT / "src" / "pycircuitbreaker").glob("*")
               if p.suffix in (".py", ".pyi") or p.name == "py.typed"}
    # The pure wheel has no compiled core: its stub is left out too (see above).
    assert package == library - {"_core_c.pyi"}, sorted(package ^ (library - {"_core_c.pyi"}))


def test_pure_wheel_installs_without_compiler_or_cython(pure_wheel, tmp_path):
    venv = Venv(tmp_path / "venv")
    # No index either: if pip tried to build anything it could not even fetch setuptools
    # and Cython for the build, so a clean install proves nothing was built.
    result = check(venv.pip_install("--no-index", pure_wheel, CC="false"))
    assert "Building wheel" not in result.stdout
    assert WARNING not in result.stdout + result.stderr
    assert venv.python_says("import importlib.util as u; print(u.find_spec('Cython'))") == "None"
    # Pure without being told to at run time: there is no compiled core to load.
    assert venv.python_says(IMPLEMENTATION) == "python"
    assert venv.python_says(WORKS) == "OPEN 2"


# -- metadata and version --------------------------------------------------------------


def dist_info_file(wheel, name):
    with zipfile.ZipFile(wheel) as archive:
        (path,) = [m for m in archive.namelist() if m.endswith(f".dist-info/{name}")]
        return archive.read(path).decode()


def read_metadata(kind, sdist, pure_wheel, compiled_install):
    if kind == "sdist":
        with tarfile.open(sdist) as archive:
            text = archive.extractfile(f"{sdist.name[:-len('.tar.gz')]}/PKG-INFO").read().decode()
    elif kind == "pure wheel":
        text = dist_info_file(pure_wheel, "METADATA")
    else:  # the wheel pip built from the sdist with the compiler, as installed
        venv, _ = compiled_install
        text = venv.python_says("import importlib.metadata as m;"
                                " print(m.distribution('pycircuitbreaker').read_text('METADATA'))")
    return email.parser.Parser().parsestr(text)


@pytest.fixture(params=["sdist", "pure wheel", "compiled install"])
def metadata(request, sdist, pure_wheel):
    compiled = request.getfixturevalue("compiled_install") if "compiled" in request.param else None
    return read_metadata(request.param, sdist, pure_wheel, compiled)


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def test_metadata_version_is_the_package_version(metadata):
    assert metadata["Name"] == "pycircuitbreaker"
    assert metadata["Version"] == pycircuitbreaker.__version__


def test_metadata_license(metadata):
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    # PEP 639: a license expression replaces the License :: classifiers.
    assert not [c for c in metadata.get_all("Classifier") if c.startswith("License ::")]


def test_metadata_python_versions(metadata):
    assert metadata["Requires-Python"] == ">=3.9"
    classifiers = metadata.get_all("Classifier")
    listed = sorted(int(c.rsplit(".", 1)[1]) for c in classifiers
                    if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c))
    assert listed == list(range(9, 16))
    # The wheels are built for exactly the versions the classifiers name.
    built = sorted(int(s[3:-2]) for s in PYPROJECT["tool"]["cibuildwheel"]["build"].split())
    assert built == listed
    for classifier in ("Programming Language :: Python :: 3 :: Only", "Typing :: Typed",
                       "Programming Language :: Cython"):
        assert classifier in classifiers


def test_metadata_project_urls(metadata):
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL"))
    assert sorted(urls) == ["Documentation", "Homepage", "Issues", "Source"]
    for url in urls.values():
        assert url.startswith("https://github.com/pycircuitbreaker/pycircuitbreaker")


def test_metadata_offers_every_extra(metadata):
    declared = {normalize(name) for name in PYPROJECT["project"]["optional-dependencies"]}
    assert set(metadata.get_all("Provides-Extra")) == declared
    assert declared >= {"redis", "prometheus", "opentelemetry"}


def test_the_projects_own_tools_are_not_extras_a_user_sees():
    # Test, benchmark and documentation tools are dependency groups (PEP 735), which no
    # installed package offers.
    assert not {"test", "bench", "docs"} & set(PYPROJECT["project"]["optional-dependencies"])
    assert {"test", "bench", "docs", "examples"} <= set(PYPROJECT["dependency-groups"])
    assert any(r.startswith("uvicorn") for r in PYPROJECT["dependency-groups"]["examples"])


def test_metadata_description_is_the_readme(metadata):
    assert metadata["Description-Content-Type"] == "text/markdown"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert metadata.get_payload().strip() == readme.strip()


def test_license_file_ships_in_sdist_and_wheel(sdist, pure_wheel):
    text = dist_info_file(pure_wheel, "licenses/LICENSE")
    assert text == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in text
    assert "Copyright (c) 2026 the pycircuitbreaker developers" in text
    with tarfile.open(sdist) as archive:
        top = sdist.name[:-len(".tar.gz")]
        assert archive.extractfile(f"{top}/LICENSE").read().decode() == text


def test_version_is_defined_in_one_place_only():
    version = pycircuitbreaker.__version__
    assert (ROOT / "src/pycircuitbreaker/_version.py").read_text() == f'__version__ = "{version}"\n'
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "pycircuitbreaker._version.__version__"}
    # No other file of the checkout names this version (setup.py, the README's examples,
    # a changelog entry written ahead...): a release bump edits _version.py alone.
    pattern = re.compile(rf"(?<![\w.]){re.escape(version)}(?![\w.])")
    found = []
    for name in checkout_files():
        if name == "src/pycircuitbreaker/_version.py":
            continue
        text = (ROOT / name).read_bytes().decode("utf-8", errors="replace")
        found += [f"{name}:{n}: {line.strip()}"
                  for n, line in enumerate(text.splitlines(), 1) if pattern.search(line)]
    assert found == []
