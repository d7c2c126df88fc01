#!/usr/bin/env bash
# Development build: compiles libairtune, the C++ tests and the extension modules into
# python/airtune/ (in place), so `PYTHONPATH=python pytest` and `ctest --test-dir build/dev` run
# against the working tree without a pip install. Needs the venv made by scripts/setup.sh.
#   AIRTUNE_WITH_TORCH=OFF scripts/dev-build.sh   # skip the libtorch module (much faster)
#   BUILD_DIR=build/asan CMAKE_ARGS=-DAIRTUNE_SANITIZE=ON scripts/dev-build.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${AIRTUNE_VENV:-$root/.venv}"
[ -x "$venv/bin/python" ] || venv="/work/main/.venv"
build_dir="${BUILD_DIR:-build/dev}"
export CCACHE_BASEDIR="$root"
mkdir -p "$(dirname "$build_dir")"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" \
  -DPython_EXECUTABLE="$venv/bin/python" -DAIRTUNE_BUILD_PYTHON=ON -DAIRTUNE_BUILD_TESTS=ON \
  -DAIRTUNE_INPLACE=ON -DAIRTUNE_WITH_TORCH="${AIRTUNE_WITH_TORCH:-AUTO}" \
  -Dpybind11_DIR="$("$venv/bin/python" -m pybind11 --cmakedir)" ${CMAKE_ARGS:-} > "$build_dir.configure.log" 2>&1 \
  || { mkdir -p "$build_dir"; cat "$build_dir.configure.log"; exit 1; }
cmake --build "$build_dir" -j "${JOBS:-2}"
