"""The pipeline on Ray against the local engine, and datatrove's Ray executor on near dedup.

``--part engines``: generates a support-chat JSONL (tests/python/support_chats.py) of ``--rows``
rows and runs read -> clean -> quality -> exact -> near with the local engine and with
``engine="ray"`` on a local Ray cluster of 1 and of 2 workers (``ray.init(num_cpus=k)``), each run
in its own process. Reports wall time, rows/s, rows/s per worker, the 2-worker / 1-worker scaling
ratio, the peak RSS of the driver and of the largest Ray worker (sampled every 0.2 s), whether
train.jsonl and dropped.jsonl equal the local run's, and the load average before each run (the
machine is shared). The issue's size is 2M rows (``--rows 2000000``).

``--part peers``: near dedup alone (word 5-grams, 16 bands x 8 rows: airtune's choice at threshold
0.8) on ``--peer-rows`` rows flattened to {"id", "text"} JSONL (8 shards for datatrove, one file for
airtune): airtune local, airtune on Ray (2 workers) and datatrove 0.10.1's ``RayPipelineExecutor``
(2 workers; its four MinHash steps: signatures, buckets, clusters, filter). datatrove runs with
``HashConfig(hash_fc="sha1")``: its default xxhash path passes str to ``xxhash.xxh64_intdigest``,
which xxhash 4.x refuses ("Strings must be encoded before hashing"). datatrove keeps a pair when
a whole band matches (no Jaccard check); airtune verifies candidates by exact Jaccard >= 0.8, so
the removed sets differ; the table gives their overlap. Each part keeps the other's results.

    python benchmarks/scale.py --part engines --rows 2000000
    python benchmarks/scale.py --part peers --peer-rows 200000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

from _common import RESULTS, write_results  # noqa: E402

STAGES = ["read", "clean", "quality", "exact", "near"]
TIMEOUT = 900  # seconds per run: a shared machine must not be held by a stuck run
PEER_STAGES = ["read", ("near", {"threshold": 0.8, "warn_above": None})]


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


def child(engine: str, workers: int, data: Path, out: Path, blocks: int | None, near_only: bool) -> None:
    from airtune.pipeline import Pipeline

    peak = _Peak()
    if engine in ("ray", "datatrove"):
        import ray

        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    if engine == "datatrove":
        return _datatrove(data, out, workers, peak)
    stages = PEER_STAGES if near_only else STAGES
    t0 = time.perf_counter()
    r = Pipeline(stages, **({"engine": "ray", "blocks": blocks} if engine == "ray" else {})).run(data, out)
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
                "dropped_ids": _dropped_ids(out / "dropped.jsonl") if near_only else None,
            }
        )
    )


def _dropped_ids(path: Path) -> str:
    ids = sorted(json.loads(x)["id"] for x in path.read_text().splitlines()) if path.exists() else []
    dump = path.with_name("dropped-ids.json")
    dump.write_text(json.dumps(ids))
    return str(dump)


def _datatrove(shards: Path, out: Path, workers: int, peak: _Peak) -> None:
    """datatrove's four MinHash steps on its Ray executor, `workers` CPUs."""
    import gzip

    import ray
    from datatrove.executor.ray import RayPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    cfg = MinhashConfig(
        n_grams=5, num_buckets=16, hashes_per_bucket=8, hash_config=HashConfig(precision=64, hash_fc="sha1")
    )
    n_files = len(list(shards.glob("*.jsonl")))
    logs = out / "logs"

    def run(steps: list, tasks: int, name: str) -> None:
        kw = {"tasks": tasks, "workers": min(workers, tasks), "logging_dir": str(logs / name)}
        RayPipelineExecutor(steps, **kw).run()

    t0 = time.perf_counter()
    run(
        [JsonlReader(str(shards)), MinhashDedupSignature(output_folder=str(out / "sigs"), config=cfg)],
        n_files,
        "1",
    )
    run([MinhashDedupBuckets(str(out / "sigs"), str(out / "buckets"), config=cfg)], cfg.num_buckets, "2")
    run([MinhashDedupCluster(str(out / "buckets"), str(out / "remove"), config=cfg)], 1, "3")
    run(
        [
            JsonlReader(str(shards)),
            MinhashDedupFilter(str(out / "remove"), exclusion_writer=JsonlWriter(str(out / "removed"))),
            JsonlWriter(str(out / "kept")),
        ],
        n_files,
        "4",
    )
    seconds = time.perf_counter() - t0
    ray.shutdown()
    driver, worker = peak.done()
    kept = sum(1 for f in (out / "kept").glob("*.gz") for _ in gzip.open(f))
    ids = sorted(json.loads(x)["id"] for f in (out / "removed").glob("*.gz") for x in gzip.open(f))
    (out / "dropped-ids.json").write_text(json.dumps(ids))
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "accounting": {"kept": kept, "dropped": len(ids)},
                "peak_driver_mb": driver,
                "peak_worker_mb": worker,
                "dropped_ids": str(out / "dropped-ids.json"),
            }
        )
    )


def _run_child(engine: str, k: int, data: Path, out: Path, blocks: int | None, near_only: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", engine, str(k), "--data", str(data), "--out", str(out)]
    cmd += (["--blocks", str(blocks)] if blocks else []) + (["--near-only"] if near_only else [])
    load = os.getloadavg()[0]
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"over {TIMEOUT} s (stopped)", "load": round(load, 1)}
    if p.returncode:
        return {"error": p.stderr[-1500:], "load": round(load, 1)}
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["workers"] = k or None
    r["load"] = round(load, 1)
    return r


def engines(a: argparse.Namespace, work: Path) -> tuple[dict, str]:
    import support_chats

    data = work / f"chats-{a.rows}.jsonl"
    if not data.exists():
        support_chats.write_jsonl(data, a.rows, seed=1)
    runs = {}
    for name, engine, k in (("local", "local", 0), ("ray-1", "ray", 1), ("ray-2", "ray", 2)):
        runs[name] = _run_child(engine, k, data, work / name, a.blocks, False)
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
        f"2 workers vs 1: {ratio}x. Load: the 1-minute load average of the shared {os.cpu_count()}-core "
        "machine when the run started.",
        "",
        "| run | seconds | rows/s | rows/s per worker | peak driver MB | peak worker MB | same rows as local | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        if "error" in r:
            lines.append(f"| {name} | error | | | | | | {r['load']} |")
            continue
        lines.append(
            f"| {name} | {r['seconds']} | {r['rows_per_s']:,} | {r.get('rows_per_s_per_worker', '')} | "
            f"{r['peak_driver_mb']} | {r['peak_worker_mb'] or ''} | {r['same_as_local']} | {r['load']} |"
        )
    return {"rows": a.rows, "stages": STAGES, "scaling_2_vs_1": ratio, "runs": runs}, "\n".join(lines)


def peers(a: argparse.Namespace, work: Path) -> tuple[dict, str]:
    import support_chats
    from airtune.io import read_jsonl
    from airtune.io.select import select_text

    n = a.peer_rows
    text = work / f"text-{n}.jsonl"
    shards = work / f"text-{n}-shards"
    if not text.exists():
        chats = support_chats.write_jsonl(work / f"chats-{n}-peers.jsonl", n, seed=1)
        recs = read_jsonl(chats, progress=False)
        lines = [
            json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
            for i, t in zip(recs.ids, select_text(recs, "conversation", missing="empty").to_list())
        ]
        text.write_text("".join(lines), encoding="utf-8")
        shards.mkdir(exist_ok=True)
        per = -(-len(lines) // 8)
        for i in range(8):
            (shards / f"part-{i}.jsonl").write_text("".join(lines[i * per : (i + 1) * per]), encoding="utf-8")
    runs = {
        "airtune local": _run_child("local", 0, text, work / "peer-local", None, True),
        "airtune Ray, 2 workers": _run_child("ray", 2, text, work / "peer-ray", None, True),
        "datatrove Ray, 2 workers": _run_child("datatrove", 2, shards, work / "peer-datatrove", None, False),
    }
    base = (
        set(json.loads(Path(runs["airtune local"]["dropped_ids"]).read_text()))
        if "seconds" in runs["airtune local"]
        else set()
    )
    lines = [
        f"Near dedup alone (word 5-grams, 16 bands x 8 rows) on {n:,} support chats as text "
        f"({text.stat().st_size / 2**20:.0f} MiB); one run each. 'overlap': |removed by both| / |removed "
        "by either|, against airtune local (datatrove removes a pair whose band matches, airtune verifies "
        "Jaccard >= 0.8).",
        "",
        "| run | seconds | rows/s | rows/s per worker | removed | overlap with airtune local | peak driver MB "
        "| peak worker MB | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        if "error" in r:
            lines.append(
                f"| {name} | error: {r['error'].strip().splitlines()[-1][:120]} | | | | | | | {r['load']} |"
            )
            continue
        got = set(json.loads(Path(r.pop("dropped_ids")).read_text()))
        r["removed"] = len(got)
        r["overlap"] = round(len(got & base) / max(1, len(got | base)), 4)
        r["rows_per_s"] = round(n / r["seconds"])
        per_worker = round(n / r["seconds"] / r["workers"]) if r.get("workers") else ""
        lines.append(
            f"| {name} | {r['seconds']} | {r['rows_per_s']:,} | {per_worker} | {len(got):,} | {r['overlap']} | "
            f"{r['peak_driver_mb']} | {r['peak_worker_mb'] or ''} | {r['load']} |"
        )
    return {"rows": n, "runs": runs}, "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("engines", "peers", "all"), default="all")
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--peer-rows", type=int, default=200_000)
    ap.add_argument("--work", default="/tmp/airtune-bench-scale")
    ap.add_argument("--blocks", type=int, help="read tasks of the Ray runs (default: one per 16 MiB)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--near-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], int(a.child[1]), Path(a.data), Path(a.out), a.blocks, a.near_only)
        return
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    old = RESULTS / "scale.json"
    payload = json.loads(old.read_text()) if old.exists() else {}
    payload.pop("area", None)
    payload.pop("machine", None)
    tables = dict(payload.pop("tables", {}))
    if "engines" not in tables and "runs" in payload:  # results of the earlier layout
        tables["engines"] = (RESULTS / "scale.md").read_text().strip()
        payload = {
            "engines": {k: payload[k] for k in ("rows", "stages", "scaling_2_vs_1", "runs") if k in payload}
        }
    for part, fn in (("engines", engines), ("peers", peers)):
        if a.part in (part, "all"):
            payload[part], tables[part] = fn(a, work)
    md = "\n\n".join(tables[k] for k in ("engines", "peers") if k in tables)
    write_results("scale", {**payload, "tables": tables}, md)


if __name__ == "__main__":
    main()
