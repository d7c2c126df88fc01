#!/usr/bin/env bash
# The wheel as a user gets it (the `wheel` stage of scripts/test.sh; docs/packaging.md):
#  A. a fresh virtualenv holding nothing but pip; `pip install --only-binary :all:` the wheel (so
#     nothing can compile); every shared library resolves inside the wheel or to glibc/libstdc++
#     (check_libs.py); the smoke test of every area (FAISS through BLAS included); thread-count
#     variables set absurdly high; a torch of another release (a stand-in torch 2.5.1) and no torch
#     at all; the same smoke test on a CPU without AVX (qemu-x86_64 -cpu Nehalem), when qemu is here.
#  B. a virtualenv with airtune[train] next to the newest numpy, pandas and pyarrow pip picks and
#     torch 2.13.0 (the release _nn is built against; the newest torch on this machine's index is
#     a multi-GB CUDA build): FAISS and torch ops in one process, pandas/Arrow round trips.
#   bash tests/wheel/run.sh [dist/airtune-V-*.whl]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/tests/wheel"
wheel="${1:-$(ls -t "$root"/dist/airtune-*.whl 2>/dev/null | head -1)}"
[ -f "$wheel" ] || { echo "no wheel: run scripts/build_wheels.sh first" >&2; exit 1; }
wheel="$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")"
venv="${AIRTUNE_VENV:-$root/.venv}"
[ -x "$venv/bin/python" ] || venv="/work/main/.venv"
base_py="${PYTHON:-$("$venv/bin/python" -c 'import sys; print(sys._base_executable)')}"
meta() { "$base_py" -c 'import sys, tomllib; p = tomllib.load(open(sys.argv[1], "rb"))["project"]; print(eval(sys.argv[2]))' "$root/pyproject.toml" "$1"; }
version="$(meta 'p["version"]')"
torch_pin="$(meta 'next(r for r in p["optional-dependencies"]["nn"] if r.startswith("torch=="))')"
case "$(basename "$wheel")" in
  airtune-"$version"-*manylinux_*.whl) ;;
  *) echo "$(basename "$wheel"): not a manylinux wheel of version $version (pyproject.toml)" >&2; exit 1 ;;
esac
tmp="$(mktemp -d /tmp/airtune-wheel-XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"  # never import the source tree
# --only-binary: nothing may compile; --no-compile: no .pyc for torch's thousands of files (minutes here).
pip_install=(-m pip install -q --disable-pip-version-check --only-binary :all: --no-compile)
t0=$(date +%s)
checks=0
step() { printf -- '-- %s (%d s)\n' "$*" "$(($(date +%s) - t0))"; }
ok() { checks=$((checks + 1)); printf -- '   ok: %s\n' "$*"; }  # every failure exits (set -e, fail)
fail() { echo "FAILED: $*" >&2; echo "wheel: $checks passed, 1 failed"; exit 1; }

step "A: fresh virtualenv, nothing but pip"
"$base_py" -m venv a
a/bin/python -m pip uninstall -q -y setuptools 2>/dev/null || true
start=$(date +%s)
a/bin/python "${pip_install[@]}" "$wheel"
step "installed in $(($(date +%s) - start)) s: $(a/bin/python -m pip list --format=freeze 2>/dev/null | tr '\n' ' ')"
a/bin/python -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is not None)' \
  || fail "venv A has torch"
ok "installed from wheels only, no torch"
a/bin/python "$here/check_libs.py" > libs-a.json || fail "venv A: a library resolves outside the wheel"
ok "ldd: every library inside the wheel or in the manylinux policy"
a/bin/python "$here/smoke.py" > smoke-a.json || fail "smoke test in venv A"
ok "smoke test of every area: $(cut -c1-400 smoke-a.json)"

step "A: absurd thread counts in the environment"
OMP_NUM_THREADS=100000 OPENBLAS_NUM_THREADS=100000 AIRTUNE_NUM_THREADS=abc \
  a/bin/python "$here/smoke.py" > smoke-threads.json 2> threads.err || { cat threads.err; fail "smoke test with absurd thread counts"; }
for var in OMP_NUM_THREADS OPENBLAS_NUM_THREADS AIRTUNE_NUM_THREADS; do
  grep -q "RuntimeWarning: $var=" threads.err || { cat threads.err; fail "no warning naming $var"; }
done
grep -m1 "RuntimeWarning: OMP_NUM_THREADS" threads.err
ok "absurd thread counts: smoke test passes, one warning per variable"

step "A: the libtorch module without torch, and next to another torch release"
a/bin/python -c 'import airtune._nn' 2> notorch.err && fail "airtune._nn imported without torch"
grep -q "pip install 'airtune\[train\]'" notorch.err || { cat notorch.err; fail "no install hint without torch"; }
ok "without torch: ImportError naming the train extra"
mkdir -p fake/torch && echo '__version__ = "2.5.1+cpu"' > fake/torch/__init__.py
PYTHONPATH="$tmp/fake" a/bin/python -c 'import airtune._nn' 2> mismatch.err && fail "airtune._nn imported next to torch 2.5.1"
built="$(a/bin/python -c 'import airtune._core as c; print(c.NN_TORCH_VERSION)')"
for needle in "TorchVersionError" "torch 2.5.1+cpu" "against torch $built" "pip install 'torch==$built'" "no-build-isolation"; do
  grep -qF "$needle" mismatch.err || { cat mismatch.err; fail "the mismatch message lacks: $needle"; }
done
tail -1 mismatch.err
PYTHONPATH="$tmp/fake" a/bin/python -c '
import airtune, sys
info = airtune.build_info()
sys.exit(not ("2.5.1" in info.get("nn_error", "") and info["blas"]["name"] == "openblas"))' || fail "build_info next to torch 2.5.1"
ok "next to torch 2.5.1: TorchVersionError naming both releases and the fix"

nehalem_numpy=1
if command -v qemu-x86_64 > /dev/null && ! qemu-x86_64 -cpu Nehalem a/bin/python -c 'import numpy' 2> /dev/null; then
  # seen 2026-12-02 with numpy 2.3.5 and 2.4.6 from PyPI: `import numpy` alone (no airtune) stops with
  # SIGILL under qemu's Nehalem model (and works under -cpu max), so this CPU model cannot test us
  nehalem_numpy=0
  step "A: numpy $(a/bin/python -c 'import numpy; print(numpy.__version__)') itself dies (SIGILL) under qemu -cpu Nehalem, airtune not imported: no run on a CPU without AVX"
fi
if command -v qemu-x86_64 > /dev/null && [ $nehalem_numpy -eq 1 ]; then
  step "A: the smoke test on a CPU without AVX/AVX2 (qemu-x86_64 -cpu Nehalem: an AVX instruction is SIGILL)"
  AIRTUNE_NUM_THREADS=2 qemu-x86_64 -cpu Nehalem a/bin/python "$here/smoke.py" > smoke-nehalem.json 2> qemu.err \
    || { tail -20 qemu.err; fail "smoke test under qemu -cpu Nehalem"; }
  a/bin/python - smoke-nehalem.json <<'EOF' || fail "kernels picked under -cpu Nehalem"
import json, sys
f = json.load(open(sys.argv[1]))
print("simdjson:", f["simdjson_implementation"], "| OpenBLAS:", f["blas"]["config"])
assert f["simdjson_implementation"] in ("westmere", "fallback"), f["simdjson_implementation"]
assert "Nehalem" in f["blas"]["config"] or "Core2" in f["blas"]["config"], f["blas"]["config"]
EOF
  ok "smoke test on a Nehalem (no AVX): no SIGILL, non-AVX kernels picked"
elif ! command -v qemu-x86_64 > /dev/null; then
  step "A: qemu-x86_64 not installed (apt-get install qemu-user): no run on a CPU without AVX"
fi

step "B: airtune[train] next to the newest numpy, pandas, pyarrow and $torch_pin"
"$base_py" -m venv --without-pip b  # the build venv's pip installs into it (pip --python)
start=$(date +%s)
"$venv/bin/python" -m pip --python b/bin/python install -q --disable-pip-version-check --only-binary :all: \
  --no-compile "$wheel[train]" numpy pandas pyarrow "$torch_pin"
step "installed in $(($(date +%s) - start)) s: $("$venv/bin/python" -m pip --python b/bin/python list --format=freeze 2>/dev/null | grep -iE '^(numpy|pandas|pyarrow|torch|airtune)=' | tr '\n' ' ')"
b/bin/python "$here/check_libs.py" > libs-b.json || fail "venv B: a library resolves outside the wheel"
ok "ldd next to torch: libtorch from the torch wheel, the rest inside"
b/bin/python "$here/smoke.py" --torch --data > smoke-b.json || fail "smoke test in venv B"
ok "smoke test with _nn, torch ops and FAISS in one process, pandas/Arrow: $(cut -c1-400 smoke-b.json)"
[ -z "${AIRTUNE_STAGE_START:-}" ] || echo "wheel stage: $(($(date +%s) - AIRTUNE_STAGE_START)) s (build + tests)"
echo "wheel tests: $(($(date +%s) - t0)) s"
echo "wheel: $checks passed, 0 failed"
