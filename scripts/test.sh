#!/usr/bin/env bash
# Every test: installs what is needed (idempotently), then runs the GoogleTest suite (CTest),
# the C++ tests again under AddressSanitizer + UBSan, the stub and lint checks, pytest
# (parity tests against the peer libraries, notebooks included) and the wheel as users install it
# (AIRTUNE_SKIP_WHEEL=1 skips that stage).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh --tests
venv="${AIRTUNE_VENV:-$root/.venv}"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1 PATH="$venv/bin:$PATH"

printf '\n== C++ tests (CTest)\n'
ctest --test-dir build/py --output-on-failure -j 2

if [ "${AIRTUNE_SKIP_SANITIZE:-0}" != "1" ]; then
  printf '\n== C++ tests under AddressSanitizer + UBSan\n'
  cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIRTUNE_SANITIZE=ON \
    -DAIRTUNE_BUILD_TESTS=ON -DAIRTUNE_BUILD_PYTHON=OFF > build/asan.configure.log
  cmake --build build/asan -j 2 > build/asan.build.log || { tail -50 build/asan.build.log; exit 1; }
  ASAN_OPTIONS=detect_leaks=0 ctest --test-dir build/asan --output-on-failure -j 2
fi

printf '\n== lint, types and format (ruff, mypy, clang-format)\n'
ruff check python tests benchmarks scripts
ruff format --check python tests benchmarks scripts
mypy  # [tool.mypy] in pyproject.toml: the package against the committed stubs of _core and _nn
git ls-files 'cpp/*.cpp' 'cpp/*.h' 'tests/*.cpp' 'tests/*.h' | grep -v 'unicode_tables.h$' \
  | xargs clang-format-14 --dry-run -Werror

printf '\n== pytest\n'
python -m pytest tests/python -q -p no:cacheprovider "$@"

if [ "${AIRTUNE_SKIP_WHEEL:-0}" != "1" ]; then
  # The wheel is packed from build/py (compiled above, nothing recompiles); its sdist is checked to
  # hold every tracked file. `bash scripts/build_wheels.sh` alone builds the wheel from the sdist.
  printf '\n== wheel: build, auditwheel, fresh virtualenvs (tests/wheel/run.sh)\n'
  export AIRTUNE_STAGE_START="$(date +%s)"
  DIST="$root/build/dist" bash scripts/build_wheels.sh --reuse-build build/py
  bash tests/wheel/run.sh "$(ls "$root"/build/dist/airtune-*manylinux*.whl)"
fi
