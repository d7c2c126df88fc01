"""Generate the .pyi stubs of the compiled modules (pybind11-stubgen), or check they are current.

python scripts/gen_stubs.py          # rewrite python/airtune/_core/*.pyi and _nn.pyi
python scripts/gen_stubs.py --check  # exit 1 and show a diff when the committed stubs are stale
"""

from __future__ import annotations

import difflib
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "airtune"
MODULES = ["airtune._core", "airtune._nn"]


# airtune.ParseError is created in C++ (_core) under the name airtune.ParseError, so the generated
# stub imports it from airtune, which imports it from _core: a cycle a type checker cannot resolve.
# The stub declares the class instead (a ValueError with the attributes the C++ side sets).
FIXUPS = {
    "_core/__init__.pyi": [
        (
            "from airtune import ParseError\n",
            "class ParseError(ValueError):\n"
            '    """Malformed input (airtune.ParseError)."""\n'
            "    source: str\n"
            "    line: int\n"
            "    column: int\n"
            "    reason: str\n",
        )
    ]
}


def generate(out: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for module in MODULES:
        if importlib.util.find_spec(module) is None:
            continue
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pybind11_stubgen",
                module,
                "-o",
                str(out),
                "--numpy-array-wrap-with-annotated",
            ],
            check=True,
            capture_output=True,
        )
    for path in sorted((out / "airtune").rglob("*.pyi")):
        name = str(path.relative_to(out / "airtune"))
        text = path.read_text()
        for old, new in FIXUPS.get(name, []):
            text = text.replace(old, new)
        files[name] = text
    return files


def committed() -> dict[str, str]:
    return {
        str(p.relative_to(PACKAGE)): p.read_text()
        for p in sorted([*PACKAGE.glob("_core/*.pyi"), *PACKAGE.glob("_nn.pyi"), *PACKAGE.glob("_nn/*.pyi")])
    }


def main() -> int:
    check = "--check" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        if check:
            old = committed()
            stale = [name for name in sorted(set(fresh) | set(old)) if fresh.get(name) != old.get(name)]
            for name in stale:
                sys.stdout.writelines(
                    difflib.unified_diff(
                        old.get(name, "").splitlines(True),
                        fresh.get(name, "").splitlines(True),
                        f"committed/{name}",
                        f"generated/{name}",
                    )
                )
            if stale:
                print(f"\nstale stubs: {stale}; run python scripts/gen_stubs.py")
                return 1
            return 0
        for name in committed():
            (PACKAGE / name).unlink()
        for name, text in fresh.items():
            target = PACKAGE / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        print("wrote", ", ".join(fresh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
