#!/usr/bin/env bash
# Fuzz every target (or the ones named) with libFuzzer + ASan + UBSan for SECONDS each (default 60).
# New inputs that raise coverage are merged into tests/fuzz/corpus/<target>/ so that the normal
# test run replays them; crashes land in tests/fuzz/findings/ (keep them as corpus once fixed).
#   apt-get install -y clang-14 libclang-rt-14-dev libomp-14-dev
#   SECONDS_PER_TARGET=120 bash tests/fuzz/run.sh fuzz_io_jsonl
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
build=build/fuzz
CC=clang-14 CXX=clang++-14 cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DAIRTUNE_FUZZ=ON -DAIRTUNE_SANITIZE=ON -DAIRTUNE_BUILD_TESTS=ON -DAIRTUNE_BUILD_PYTHON=OFF > $build.log
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=($(cd tests/fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//'))
cmake --build $build -j 2 --target "${targets[@]}"
mkdir -p tests/fuzz/findings
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t
  mkdir -p "$corpus" "$build/new_$t"
  ASAN_OPTIONS=detect_leaks=0 "$build/$t" "$build/new_$t" "$corpus" -max_total_time="${SECONDS_PER_TARGET:-60}" \
    -max_len=65536 -artifact_prefix=tests/fuzz/findings/ -print_final_stats=1
  "$build/$t" -merge=1 "$corpus" "$build/new_$t" > /dev/null 2>&1
done
