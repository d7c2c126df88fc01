#!/usr/bin/env bash
# The main job end to end: installs what is needed (idempotently), then runs `airtune demo` into
# build/demo/: generated shop traffic curated, split, a small Llama pretrained and LoRA fine-tuned,
# evaluated against the logged API answers on the holdout, the verdict and the cost table (about 4 CPU
# minutes; a second run reuses every step). `bash scripts/demo.sh --quick` runs the reduced sizes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
"${AIRTUNE_VENV:-$root/.venv}/bin/airtune" demo --out "$root/build/demo" "$@"
