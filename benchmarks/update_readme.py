"""Rebuild the results section of benchmarks/README.md from benchmarks/results/*.md."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
START, END = "<!-- results:start -->", "<!-- results:end -->"


def main() -> None:
    parts = []
    for md in sorted((HERE / "results").glob("*.md")):
        area = md.stem
        meta = HERE / "results" / f"{area}.json"
        machine = json.loads(meta.read_text()).get("machine", {}) if meta.exists() else {}
        where = (
            f"; {machine['cores']} cores, {machine.get('cpu', '')}, {machine.get('date', '')}"
            if "cores" in machine
            else ""
        )
        parts.append(f"### {area} (`benchmarks/{area}.py`{where})\n\n{md.read_text().strip()}\n")
    readme = HERE / "README.md"
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(f"{head}{START}\n\n" + "\n".join(parts) + f"\n{END}{tail}")


if __name__ == "__main__":
    main()
