#!/usr/bin/env bash
# The main job on the bundled sample: installs what is needed (idempotently), then ingests
# python/airtune/data/sample_chat.jsonl, quarantines its bad lines and prints/writes the summary
# into build/demo/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
"${AIRTUNE_VENV:-$root/.venv}/bin/airtune" demo --out "$root/build/demo"
