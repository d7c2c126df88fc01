"""The airtune wheel against the faiss-cpu and sentence-transformers wheels: size, install, import.

For each package, in one run on this machine:
* wheel size (the file) and installed size (site-packages of a venv holding it and its
  dependencies, minus the empty venv);
* install time into a fresh virtualenv: the wheel alone (``--no-deps``, into a venv that already
  has its dependencies: the package's own cost) and with all its dependencies (what a user waits
  for), both from a local folder of wheels (``--no-index``) so that no download is timed;
* ``import`` time: wall time of ``python -c "import X"`` in a new process, minus ``python -c pass``.
sentence-transformers depends on torch: its wheelhouse pins torch to the 2.13.0 CPU wheel on this
machine's disk (an unpinned torch here is a multi-GB CUDA build). pip's defaults apply (bytecode
compiled at install), as a user gets them.

    python benchmarks/wheel.py [dist/airtune-*.whl] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_results

ROOT = Path(__file__).resolve().parents[1]
WHEELHOUSE = ROOT / "benchmarks" / "data" / "wheels"
PIP = [sys.executable, "-m", "pip"]
TORCH = "torch==2.13.0"


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    run(cmd)
    return time.perf_counter() - start


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def new_venv(where: Path) -> Path:
    base = run([sys.executable, "-c", "import sys; print(sys._base_executable)"]).stdout.strip()
    run([base, "-m", "venv", "--without-pip", str(where)])  # this pip installs into it (--python)
    return where / "bin" / "python"


def pip_into(py: Path, *args: str) -> list[str]:
    return [*PIP, "--python", str(py), "install", "-q", "--disable-pip-version-check", *args]


def fetch(requirements: list[str]) -> None:
    """Download the wheels (and their dependencies') into the local wheelhouse, once."""
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    run([*PIP, "download", "-q", "--only-binary", ":all:", "-d", str(WHEELHOUSE), *requirements])


def measure(name: str, modules: list[str], wheel: Path, extra: list[str], repeats: int) -> dict:
    local = ["--no-index", "--find-links", str(WHEELHOUSE)]
    with tempfile.TemporaryDirectory(prefix="airtune-bench-") as tmp:
        new_venv(Path(tmp) / "empty")
        empty = du(Path(tmp) / "empty" / "lib")
        with_deps = []
        for i in range(repeats if name == "airtune" else 1):  # one full torch install is minutes
            py = new_venv(Path(tmp) / f"full{i}")
            with_deps.append(timed(pip_into(py, *local, str(wheel), *extra)))
        installed = du(py.parent.parent / "lib") - empty
        alone = []
        for _ in range(repeats):
            run([*PIP, "--python", str(py), "uninstall", "-q", "-y", name])
            alone.append(timed(pip_into(py, *local, "--no-deps", str(wheel))))
        base = [timed([str(py), "-c", "pass"]) for _ in range(repeats + 2)]
        imports = {m: [timed([str(py), "-c", f"import {m}"]) for _ in range(repeats + 2)] for m in modules}
        version = run(
            [str(py), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"]
        ).stdout.strip()
    return {
        "package": name,
        "version": version,
        "wheel": wheel.name,
        "wheel_mb": wheel.stat().st_size / 1e6,
        "installed_mb": installed / 1e6,
        "install_alone_s": statistics.median(alone),
        "install_with_deps_s": statistics.median(with_deps),
        "import_s": {m: max(statistics.median(t) - statistics.median(base), 0.0) for m, t in imports.items()},
        "python_startup_s": statistics.median(base),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("wheel", nargs="?", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ours = Path(args.wheel) if args.wheel else max((ROOT / "dist").glob("airtune-*manylinux*.whl"))
    load = os.getloadavg()[0]
    fetch([str(ours), "faiss-cpu", "sentence-transformers", TORCH])
    wheel_of = {p.name.split("-")[0].lower(): p for p in WHEELHOUSE.glob("*.whl")}
    shutil.copy(ours, WHEELHOUSE / ours.name)
    rows = [
        # airtune loads its areas on first use: `import airtune.dedup` adds numpy and the FAISS wrappers.
        measure("airtune", ["airtune", "airtune.dedup"], ours, [], args.repeats),
        measure("faiss-cpu", ["faiss"], wheel_of["faiss_cpu"], [], args.repeats),
        measure(
            "sentence-transformers",
            ["sentence_transformers"],
            wheel_of["sentence_transformers"],
            [TORCH],
            args.repeats,
        ),
    ]
    lines = [
        "Wheels installed with pip into fresh virtualenvs from a local folder of wheels (no download timed); "
        f"install alone: `--no-deps` into a venv that has the dependencies; import: `python -c 'import X'` minus "
        f"`python -c pass`; median of {args.repeats} (with dependencies: 1 run for the torch-based package). "
        f"sentence-transformers' torch is the 2.13.0 CPU wheel. x86_64, {os.cpu_count()} CPUs, 1-minute load "
        f"average {load:.1f} at the start (a shared machine: the times are indicative).",
        "",
        "| package | version | wheel MB | installed MB (with deps) | install alone s | install with deps s | import s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['package']} | {r['version']} | {r['wheel_mb']:.1f} | {r['installed_mb']:.0f} | "
            f"{r['install_alone_s']:.2f} | {r['install_with_deps_s']:.1f} | "
            + ", ".join(f"`{m}` {t:.3f}" for m, t in r["import_s"].items())
            + " |"
        )
    write_results("wheel", {"rows": rows, "repeats": args.repeats, "load_average": load}, "\n".join(lines))


if __name__ == "__main__":
    main()
