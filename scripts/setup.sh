#!/usr/bin/env bash
# Installs everything airtune needs on a fresh Debian machine (run as root), idempotently:
# the Debian libraries, a virtualenv in .venv, torch (the nn extra's pin: 2.13.0, CPU), airtune itself (compiled with
# ccache into the persistent build/py folder) and, with --tests, the test extras and the C++ tests.
#   bash scripts/setup.sh            # user install (demo)
#   bash scripts/setup.sh --tests    # + test extras, GoogleTest suite built in build/py
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
with_tests=0
[ "${1:-}" = "--tests" ] && with_tests=1

log() { printf '\n== %s\n' "$*"; }

# 1. Debian packages (only when one is missing: apt-get update is the slow part).
packages=(build-essential ccache pkg-config zlib1g-dev libfaiss-dev libsimdjson-dev libtbb-dev
          libgtest-dev libgmock-dev libutf8proc-dev clang-format-14 libopenblas0-pthread libopenblas-dev python3-venv python3-dev
          qemu-user)  # qemu-user: the wheel's smoke test on a CPU without AVX (tests/wheel/run.sh)
# The tests check links and reports in a real browser; benchmarks/metrics.py draws its realistic
# vocabulary from wamerican's word list (/usr/share/dict/words).
[ $with_tests -eq 1 ] && packages+=(chromium wamerican)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. The virtualenv, with torch first (airtune's _nn links the torch found at build time).
venv="${AIRTUNE_VENV:-$root/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  log "creating the virtualenv $venv"
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip install -q --disable-pip-version-check)
# The torch release is the one pinned by the `nn` extra (pyproject.toml): the wheel's _nn is built
# against it. On our machines `pip install torch==2.13.0` takes the CPU build from a file on disk.
torch_version="$("$py" -c 'import tomllib; d = tomllib.load(open("pyproject.toml", "rb"))
print(next(r for r in d["project"]["optional-dependencies"]["nn"] if r.startswith("torch==")).split("==")[1])')"
if ! "$py" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$torch_version')" 2>/dev/null; then
  log "installing torch $torch_version"
  "${pip[@]}" "torch==$torch_version"
fi
"${pip[@]}" "scikit-build-core>=0.10" "pybind11>=2.12" ninja cmake numpy

# 3. airtune, compiled against the venv's torch (hence --no-build-isolation), incrementally.
log "building and installing airtune"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
target=".[demo,data,plot]"  # what `airtune demo` (scripts/demo.sh) needs beside torch
defines=()
if [ $with_tests -eq 1 ]; then
  target=".[test,demo]"
  defines=(-Ccmake.define.AIRTUNE_BUILD_TESTS=ON)
fi
"${pip[@]}" --no-build-isolation -Cbuild-dir=build/py "${defines[@]}" "$target"
"$py" -c "import airtune, sys; print('airtune', airtune.__version__, 'installed in', sys.prefix)"
