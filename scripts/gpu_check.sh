#!/usr/bin/env bash
# The GPU check: on an NVIDIA machine that has python3 with torch (CUDA), transformers and peft but
# no FAISS and no package index, build airtune's modules, run every test marked `cuda` and the GPU
# rows of the benchmarks (benchmarks/gpu.py: LoRA step in bf16 vs PEFT, and vs Liger Kernel where
# its wheel was carried; exact kNN on the GPU vs torch's matmul + top-k, and vs GPU FAISS where its
# wheel was carried), and write the results under $OUT, all within 8 minutes.
#
#   scripts/gpu_check.sh --prepare   # here (Debian with apt): the .debs the build needs -> .gpu/debs
#                                    # and the wheels to measure beside, copied from a local wheel
#                                    # folder ($GPU_WHEELS; default .whl/ and wheels/ of the checkout):
#                                    # faiss_gpu* (faiss-gpu-cu12, faiss-gpu-cu13-cuvs), liger_kernel*
#                                    # -> .gpu/wheels, installed there into a --target prefix
#   scripts/gpu_check.sh             # there, in the repository root, with .gpu carried along
#   scripts/gpu_check.sh --dry-run   # here, on the CPU: every step that needs no GPU, for real
#                                    # (deps unpacked into a prefix, CMake configured against it,
#                                    # the cuda tests collected, benchmarks/gpu.py on tiny sizes)
# What comes back: $OUT/summary.txt (each step, its status and seconds), $OUT/gpu.json + gpu.md,
# $OUT/pytest_cuda.xml and the tails of the logs. Without $OUT, results go to build/gpu-check/.
#
# The build uses the carried Debian packages unpacked with dpkg -x into a prefix (never into /):
# FAISS (static, CPU: the product's CPU path), simdjson, oneTBB, utf8proc, OpenBLAS, pkgconf.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode=run
case "${1:-}" in
  --prepare) mode=prepare ;;
  --dry-run) mode=dry ;;
  "") ;;
  *) echo "usage: scripts/gpu_check.sh [--prepare | --dry-run]" >&2; exit 2 ;;
esac

BUDGET_S=${GPU_CHECK_BUDGET_S:-480}
carry="$root/.gpu"
debs=(libfaiss-dev libsimdjson-dev libsimdjson14 libtbb-dev libtbb12 libtbbmalloc2 libtbbbind-2-5 libhwloc15 libutf8proc-dev
      libutf8proc2 libopenblas-dev libopenblas-pthread-dev libopenblas0 libopenblas0-pthread
      libgfortran5 libquadmath0 pkgconf pkgconf-bin libpkgconf3 zlib1g-dev)

prepare() {
  mkdir -p "$carry/debs" "$carry/wheels"
  grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> "$(git rev-parse --git-path info/exclude)"
  (cd "$carry/debs" && apt-get download "${debs[@]}") || { echo "apt-get download failed" >&2; return 1; }
  # A faiss-gpu wheel makes semantic dedup's device="cuda" use GPU FAISS (dedup/_faiss_gpu.py), and
  # benchmarks/gpu.py measures it; its CUDA libraries must be there (torch's nvidia-* wheels) or carried.
  local dir w n=0
  for dir in ${GPU_WHEELS:-$root/.whl $root/wheels}; do
    for w in "$dir"/faiss_gpu*.whl "$dir"/liger_kernel*.whl; do
      [ -f "$w" ] && cp -u "$w" "$carry/wheels/" && n=$((n + 1))
    done
  done
  echo "wheels carried from ${GPU_WHEELS:-.whl/ wheels/}: $n ($(ls "$carry/wheels" | tr '\n' ' '))"
  echo "carried: .gpu ($(du -sh "$carry" | cut -f1)); wheels to measure beside (optional): .gpu/wheels"
}

if [ "$mode" = prepare ]; then prepare; exit $?; fi

out="${OUT:-$root/build/gpu-check}"
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
start=$SECONDS
left() { echo $((BUDGET_S - (SECONDS - start))); }
failed=0
# step NAME TIMEOUT_S CMD...: runs CMD with its log in $out/NAME.log, records status and seconds.
step() {
  local name=$1 limit=$2
  shift 2
  local rem
  rem=$(left)
  [ "$limit" -gt "$rem" ] && limit=$rem
  if [ "$limit" -le 5 ]; then
    printf '%-10s SKIPPED (budget spent)\n' "$name" | tee -a "$summary"
    failed=1
    return 1
  fi
  local t0=$SECONDS rc
  timeout "$limit" bash -c '"$@"' step "$@" > "$out/$name.log" 2>&1
  rc=$?
  local status=ok
  [ $rc -ne 0 ] && status="FAILED rc=$rc" && failed=1
  [ $rc -eq 124 ] && status="TIMED OUT after ${limit}s"
  printf '%-10s %s (%ds)\n' "$name" "$status" $((SECONDS - t0)) | tee -a "$summary"
  [ $rc -ne 0 ] && tail -n 40 "$out/$name.log" | sed 's/^/    /'
  return $rc
}

if [ "$mode" = dry ]; then
  py="${AIRTUNE_VENV:-$root/.venv}/bin/python"
  [ -x "$py" ] || py=/work/main/.venv/bin/python
  [ -x "$py" ] || py=python3
  device=cpu
  step prepare 120 bash "$0" --prepare  # here, so the package list itself is checked each time
else
  py=python3
  device=cuda
fi
prefix="${TMPDIR:-/tmp}/airtune-gpu-deps"
build="$root/build/gpu"
[ "$mode" = dry ] && build="$root/build/gpu-dry"

# 1. what the machine has
check_env() {
  if [ "$device" = cuda ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || return 1
  fi
  "$py" - "$device" << 'EOF'
import importlib, sys
dev = sys.argv[1]
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if dev == "cuda" and not torch.cuda.is_available():
    sys.exit("torch sees no CUDA device")
for name in ("transformers", "peft", "numpy", "pybind11", "faiss", "liger_kernel"):
    try:
        m = importlib.import_module(name)
        print(name, getattr(m, "__version__", "?"), *(["gpus", m.get_num_gpus()] if name == "faiss" else []))
    except ImportError:
        print(name, "missing", "(required)" if name in ("transformers", "peft", "numpy", "pybind11") else "")
        if name in ("transformers", "peft", "numpy", "pybind11"):
            sys.exit(1)
EOF
  command -v cmake && command -v ninja && command -v c++
}

# 2. the carried Debian packages into $prefix; static FAISS's targets name /usr's BLAS: point them here
unpack() {
  rm -rf "$prefix" && mkdir -p "$prefix" || return 1
  local n=0
  for f in "$carry"/debs/*.deb; do dpkg -x "$f" "$prefix" || return 1; n=$((n + 1)); done
  [ $n -gt 0 ] || { echo "no .debs in $carry/debs (run scripts/gpu_check.sh --prepare and carry .gpu)"; return 1; }
  local lib="$prefix/usr/lib/x86_64-linux-gnu"
  sed -i "s#/usr/lib/x86_64-linux-gnu/libblas.so#$lib/openblas-pthread/libblas.so#g; s#/usr/lib/x86_64-linux-gnu/liblapack.so#$lib/openblas-pthread/liblapack.so#g" \
    "$lib"/cmake/faiss/faiss-targets.cmake || return 1
  ls "$prefix/usr/include/faiss/IndexFlat.h" "$prefix/usr/include/simdjson.h" "$prefix/usr/include/utf8proc.h" \
    "$lib/cmake/TBB/TBBConfig.cmake" "$lib/openblas-pthread/libopenblas.so" || return 1
  if ls "$carry"/wheels/*.whl > /dev/null 2>&1; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$prefix/site" \
      "$carry"/wheels/*.whl || return 1
  fi
  echo "unpacked $n packages into $prefix"
}

lib="$prefix/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$lib:$lib/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$prefix"
export PYTHONPATH="$root/python:$prefix/site${PYTHONPATH:+:$PYTHONPATH}"

# 3. configure against the prefix (and check that CMake took FAISS, simdjson, TBB, utf8proc from it)
configure() {
  local pkgconf="$prefix/usr/bin/pkgconf"
  rm -rf "$build"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(command -v "$py")" \
    -DAIRTUNE_BUILD_PYTHON=ON -DAIRTUNE_BUILD_TESTS=OFF -DAIRTUNE_INPLACE=ON -DAIRTUNE_WITH_TORCH=ON \
    -DCMAKE_PREFIX_PATH="$prefix/usr" -DPKG_CONFIG_EXECUTABLE="$pkgconf" \
    -DBLAS_LIBRARIES="$lib/openblas-pthread/libblas.so" -DLAPACK_LIBRARIES="$lib/openblas-pthread/liblapack.so" \
    -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" || return 1
  local c="$build/CMakeCache.txt" bad=0
  for v in faiss_DIR simdjson_DIR TBB_DIR; do
    grep -q "^$v:PATH=$prefix" "$c" || { echo "$v not from $prefix: $(grep "^$v:" "$c")"; bad=1; }
  done
  grep -q "^pkgcfg_lib_UTF8PROC_utf8proc:FILEPATH=$prefix" "$c" \
    || { echo "utf8proc not from $prefix: $(grep pkgcfg_lib_UTF8PROC "$c")"; bad=1; }
  grep -q "AIRTUNE_HAVE_TORCH" "$c" && grep "AIRTUNE_HAVE_TORCH\|Torch_DIR" "$c"
  return $bad
}

compile() { cmake --build "$build" -j "$(nproc)"; }

# 4. the tests marked cuda (on the CPU: collected, each one skipped for want of a device)
cuda_tests() {
  if [ "$mode" = dry ]; then
    local listed
    listed=$("$py" -m pytest -q -p no:cacheprovider --collect-only -m cuda tests/python | grep -c '::')
    echo "collected $listed tests marked cuda"
    [ "$listed" -ge 4 ] || return 1
    "$py" -m pytest -q -p no:cacheprovider -m cuda tests/python/test_cuda.py -rs
  else
    "$py" -m pytest -q -p no:cacheprovider -m cuda tests/python --junitxml="$out/pytest_cuda.xml" -rs
  fi
}

bench() {
  if [ "$mode" = dry ]; then
    "$py" benchmarks/gpu.py --device cpu --tiny --rounds 1 --warmup 1 --steps 2 --repeats 1 --out "$out"
  else
    "$py" benchmarks/gpu.py --device cuda --out "$out"
  fi
}

export -f check_env unpack configure compile cuda_tests bench
export py device prefix build carry out mode lib root
step env 90 check_env || { echo "gpu_check: this machine lacks what the check needs" | tee -a "$summary"; exit 1; }
step unpack 60 unpack && step configure 90 configure && {
  if [ "$mode" = dry ]; then
    printf '%-10s %s\n' compile "not run (dry run: configured only; the dev build compiles the same sources)" | tee -a "$summary"
  else
    step compile 300 compile
  fi
}
if [ "$mode" = dry ] || [ -f "$root/python/airtune/_nn.cpython-$("$py" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')-x86_64-linux-gnu.so" ]; then
  step cuda_tests 120 cuda_tests
  step bench 400 bench
else
  printf '%-10s %s\n' tests "not run: the modules were not built" | tee -a "$summary"
  failed=1
fi
printf 'total %ds of %ds; %s\n' $((SECONDS - start)) "$BUDGET_S" "$([ $failed = 0 ] && echo ok || echo 'with failures')" | tee -a "$summary"
for f in "$out"/*.log; do tail -c 12000 "$f" > "$f.tail" && mv "$f.tail" "$f"; done
exit $failed
