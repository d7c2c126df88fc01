"""The pipeline on Ray against the local engine: same data, same stages, results checked equal.

Generates a support-chat JSONL (tests/python/support_chats.py) of ``--rows`` rows and runs read ->
clean -> quality -> exact -> near with the local engine and with ``engine="ray"`` on a local Ray
cluster of 1 and of 2 workers (``ray.init(num_cpus=k)``), each run in its own process. Reports
wall time, rows/s, rows/s per worker, the 2-worker / 1-worker scaling ratio, the peak RSS of the
driver and of the largest Ray worker (sampled every 0.2 s), and whether train.jsonl and
dropped.jsonl equal the local run's. The issue's size is 2M rows (``--rows 2000000``); on a shared
2-core machine use a short run. NeMo Curator and datatrove's Ray executor are not run (not
installed here).

    python benchmarks/scale.py --rows 100000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

from _common import write_results  # noqa: E402

STAGES = ["read", "clean", "quality", "exact", "near"]


def _digest(path: Path, sort: bool) -> str:
    lines = path.read_bytes().splitlines() if path.exists() else []
    return hashlib.blake2b(b"\n".join(sorted(lines) if sort else lines), digest_size=16).hexdigest()


class _Peak:
    """Peak RSS (MB) of this process and of its largest descendant named ray::*."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.driver = self.worker = 0.0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.driver = max(self.driver, self.me.memory_info().rss / 2**20)
                for c in self.me.children(recursive=True):
                    try:
                        if c.name().startswith("ray::") or "default_worker" in " ".join(c.cmdline()[:3]):
                            self.worker = max(self.worker, c.memory_info().rss / 2**20)
                    except Exception:  # noqa: BLE001 - a process that just ended
                        pass
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.2)

    def done(self) -> tuple[float, float]:
        self.stop.set()
        self.t.join()
        return round(self.driver, 1), round(self.worker, 1)


def child(engine: str, workers: int, data: Path, out: Path, blocks: int | None) -> None:
    from airtune.pipeline import Pipeline

    peak = _Peak()
    if engine == "ray":
        import ray

        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    t0 = time.perf_counter()
    r = Pipeline(STAGES, **({"engine": "ray", "blocks": blocks} if engine == "ray" else {})).run(data, out)
    seconds = time.perf_counter() - t0
    if engine == "ray":
        import ray

        ray.shutdown()
    driver, worker = peak.done()
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "accounting": r.accounting,
                "train": _digest(out / "train.jsonl", False),
                "dropped": _digest(out / "dropped.jsonl", True),
                "peak_driver_mb": driver,
                "peak_worker_mb": worker,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--work", default="/tmp/airtune-bench-scale")
    ap.add_argument("--blocks", type=int, help="read tasks of the Ray runs (default: one per 16 MiB)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], int(a.child[1]), Path(a.data), Path(a.out), a.blocks)
        return
    import support_chats

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"chats-{a.rows}.jsonl"
    if not data.exists():
        support_chats.write_jsonl(data, a.rows, seed=1)
    runs = {}
    for name, engine, k in (("local", "local", 0), ("ray-1", "ray", 1), ("ray-2", "ray", 2)):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            engine,
            str(k),
            "--data",
            str(data),
            "--out",
            str(work / name),
        ]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode:
            runs[name] = {"error": p.stderr[-1500:]}
            continue
        runs[name] = json.loads(p.stdout.strip().splitlines()[-1])
        runs[name]["workers"] = k or None
    base = runs.get("local", {})
    for r in runs.values():
        if "seconds" in r:
            r["rows_per_s"] = round(a.rows / r["seconds"])
            if r.get("workers"):
                r["rows_per_s_per_worker"] = round(a.rows / r["seconds"] / r["workers"])
            r["same_as_local"] = r["train"] == base.get("train") and r["dropped"] == base.get("dropped")
    ratio = None
    if "seconds" in runs.get("ray-1", {}) and "seconds" in runs.get("ray-2", {}):
        ratio = round(runs["ray-1"]["seconds"] / runs["ray-2"]["seconds"], 2)
    lines = [
        f"Pipeline {' -> '.join(STAGES)} on {a.rows:,} generated support chats "
        f"({data.stat().st_size / 2**20:.0f} MiB), Ray blocks: {a.blocks or 'one per 16 MiB'}, one run each; "
        f"2 workers vs 1: {ratio}x.",
        "",
        "| run | seconds | rows/s | rows/s per worker | peak driver MB | peak worker MB | same rows as local |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        if "error" in r:
            lines.append(f"| {name} | error | | | | | |")
            continue
        lines.append(
            f"| {name} | {r['seconds']} | {r['rows_per_s']:,} | {r.get('rows_per_s_per_worker', '')} | "
            f"{r['peak_driver_mb']} | {r['peak_worker_mb'] or ''} | {r['same_as_local']} |"
        )
    write_results(
        "scale", {"rows": a.rows, "stages": STAGES, "scaling_2_vs_1": ratio, "runs": runs}, "\n".join(lines)
    )


if __name__ == "__main__":
    main()
