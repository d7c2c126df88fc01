"""The curation pipeline on a generated support-chat JSONL (>= 1 GB by default): airtune against
datatrove (its JSONL reader, Gopher quality filter and 4-stage MinHash dedup) and a plain
pandas + datasketch script, on the same file, with the same threads (2 tasks for datatrove over
2 shards of the file), in one run. Each system runs in its own process; peak RSS is net of the
process's footprint after imports.

  airtune-same    read -> quality (gopher) -> near (MinHash 14 bands x 8 rows, 5-gram words) -> write
  datatrove       JsonlReader -> GopherQualityFilter -> MinHash signature/buckets/cluster/filter -> JsonlWriter
  pandas+datasketch  read_json -> Gopher's document rules (vectorised) -> datasketch MinHashLSH (14 x 8)
  airtune-stream  read -> clean -> quality (chat) -> exact -> write (the streaming stages: bounded RSS)
  airtune-chat    the chat curation: read -> clean -> quality (chat) -> exact -> near -> split -> write

    python benchmarks/pipeline.py                  # full size (>= 1 GB)
    python benchmarks/pipeline.py --mb 50          # a quick run

The gopher rules of airtune tokenise words as runs of letters/digits where datatrove uses NLTK, and
airtune verifies every MinHash candidate by exact Jaccard (datatrove and datasketch take bucket
collisions as duplicates), so the removed counts differ a little; the table shows them side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

from _common import RESULTS, write_results  # noqa: E402

THREADS = 2


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, mb: float) -> dict:
    import support_chats

    target = int(mb * 1e6)
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in support_chats.rows(10**9, seed=7):
            f.write(json.dumps(row, ensure_ascii=False))
            f.write("\n")
            n += 1
            if n % 4096 == 0 and f.tell() >= target:
                break
    return {"rows": n, "bytes": path.stat().st_size}


def shards(path: Path, k: int, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    outs = [open(folder / f"part-{i}.jsonl", "w", encoding="utf-8") for i in range(k)]
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            outs[i % k].write(line)
    for o in outs:
        o.close()


# ----------------------------------------------------------------------------------------------
# the systems (each runs in a child process)


def run_airtune(data: Path, out: Path, which: str) -> dict:
    import warnings

    import airtune

    airtune.set_num_threads(THREADS)
    base = _rss_mb()
    stages = {
        "airtune-same": [
            "read",
            ("quality", {"preset": "gopher", "warn_above": None}),
            (
                "near",
                {"threshold": 0.8, "ngram": 5, "num_perm": 112, "bands": 14, "rows": 8, "warn_above": None},
            ),
            "write",
        ],
        "airtune-stream": ["read", "clean", ("quality", {"preset": "chat"}), "exact", "write"],
        "airtune-chat": ["read", "clean", ("quality", {"preset": "chat"}), "exact", "near", "split", "write"],
    }[which]
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = airtune.Pipeline(stages).run(data, out, resume=False)
    seconds = time.perf_counter() - t
    removed = {f["stage"]: f["dropped"] + f["quarantined"] for f in r.funnel}
    return {
        "seconds": seconds,
        "rows_in": r.accounting["rows_in"],
        "kept": r.accounting["kept"],
        "removed": removed,
        "peak_mb": _peak_mb() - base,
    }


def _conversation(self, data: dict, path: str, id_in_file: int | str) -> dict:  # bound by datatrove
    text = "\n".join(f"{m['role']}: {m.get('content') or ''}" for m in data.get("messages", []))
    return {"text": text, "id": data.get("id", f"{path}/{id_in_file}"), "metadata": {}}


def run_datatrove(data: Path, out: Path) -> dict:
    import datatrove.utils.hashes.xxhash as dx
    import xxhash
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.filters import GopherQualityFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    # datatrove 0.10.1 passes str to xxhash, which (xxhash >= 3.6) takes bytes only: encode first,
    # the fix its own sha1 path has (the hashes are the same XXH64 of the UTF-8 text).
    dx.xxhash64 = lambda data: xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)
    base = _rss_mb()
    shard_dir = out / "shards"
    shards(data, THREADS, shard_dir)
    cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
    logs = out / "logs"
    t = time.perf_counter()
    s1 = LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(shard_dir), adapter=_conversation, glob_pattern="*.jsonl"),
            GopherQualityFilter(),
            JsonlWriter(str(out / "filtered"), compression=None),
            MinhashDedupSignature(output_folder=str(out / "sigs"), config=cfg),
        ],
        tasks=THREADS,
        workers=THREADS,
        logging_dir=str(logs / "s1"),
    )
    s1.run()
    LocalPipelineExecutor(
        pipeline=[
            MinhashDedupBuckets(
                input_folder=str(out / "sigs"), output_folder=str(out / "buckets"), config=cfg
            )
        ],
        tasks=cfg.num_buckets,
        workers=THREADS,
        logging_dir=str(logs / "s2"),
        depends=s1,
    ).run()
    LocalPipelineExecutor(
        pipeline=[
            MinhashDedupCluster(
                input_folder=str(out / "buckets"), output_folder=str(out / "remove"), config=cfg
            )
        ],
        tasks=1,
        logging_dir=str(logs / "s3"),
    ).run()
    LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(out / "filtered"), glob_pattern="*.jsonl"),
            MinhashDedupFilter(input_folder=str(out / "remove")),
            JsonlWriter(str(out / "deduped"), compression=None),
        ],
        tasks=THREADS,
        workers=THREADS,
        logging_dir=str(logs / "s4"),
    ).run()
    seconds = time.perf_counter() - t

    def stat(stage_dir: str, name_part: str) -> dict:
        stats = json.loads((logs / stage_dir / "stats.json").read_text())
        for step in stats:
            if name_part in step["name"]:
                return step["stats"]
        return {}

    read = stat("s1", "READER").get("documents", {})
    gopher = stat("s1", "Gopher")
    dedup = stat("s4", "MinHash")
    rows_in = int(read.get("total", 0)) if isinstance(read, dict) else int(read)
    removed = {"quality": int(gopher.get("dropped", 0)), "near": int(dedup.get("dropped", 0))}
    return {
        "seconds": seconds,
        "rows_in": rows_in,
        "kept": int(dedup.get("forwarded", 0)),
        "removed": removed,
        "peak_mb": _peak_children_mb() - base,
    }


def _peak_children_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


_STOP = {"the", "be", "to", "of", "and", "that", "have", "with"}
_WORD = re.compile(r"\w+")


def run_pandas(data: Path, out: Path) -> dict:
    import pandas as pd
    from datasketch import MinHash, MinHashLSH

    base = _rss_mb()
    t = time.perf_counter()
    df = pd.read_json(data, lines=True)
    rows_in = len(df)
    text = df["messages"].map(lambda ms: "\n".join(f"{m['role']}: {m.get('content') or ''}" for m in ms))
    words = text.str.findall(_WORD)
    n_words = words.str.len()
    mean_len = words.map(lambda w: sum(map(len, w)) / len(w) if w else 0.0)
    stop = words.map(lambda w: sum(1 for x in w if x.lower() in _STOP))
    keep = (n_words >= 50) & (n_words <= 100_000) & (mean_len >= 3) & (mean_len <= 10) & (stop >= 2)
    quality_removed = int((~keep).sum())
    kept = df[keep].reset_index(drop=True)
    kept_words = words[keep].reset_index(drop=True)
    lsh = MinHashLSH(threshold=0.8, num_perm=112, params=(14, 8))
    dup = 0
    for i, w in enumerate(kept_words):
        toks = [x.lower() for x in w]
        grams = {" ".join(toks[j : j + 5]).encode() for j in range(max(1, len(toks) - 4))}
        m = MinHash(num_perm=112, seed=1)
        m.update_batch(list(grams))
        if lsh.query(m):
            dup += 1
            continue
        lsh.insert(str(i), m)
    seconds = time.perf_counter() - t
    kept.head(0).to_json(out / "kept.jsonl", orient="records", lines=True)  # (writing not timed)
    return {
        "seconds": seconds,
        "rows_in": rows_in,
        "kept": len(kept) - dup,
        "removed": {"quality": quality_removed, "near": dup},
        "peak_mb": _peak_mb() - base,
    }


# ----------------------------------------------------------------------------------------------


def render(results: dict, size: int) -> str:
    """The markdown table (and its notes) of a results dict."""
    base = next((r.get("rows_per_s") for r in results.values() if r.get("system") == "datatrove"), None)
    whole = next((r for r in results.values() if r.get("bytes") == size and "rows_in" in r), {})
    lines = [
        f"Pipeline on a generated support-chat JSONL ({size / 1e9:.2f} GB, {whole.get('rows_in', 0):,} rows), "
        f"{THREADS} threads, one run:",
        "",
        "| system | stages | rows | seconds | rows/s | vs datatrove | peak RSS (MB, net) | removed per stage |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    stages_of = {
        "airtune-same": "read, gopher, MinHash (14x8), write",
        "datatrove": "read, gopher, MinHash (14x8, 4 steps), write",
        "pandas+datasketch": "read, gopher rules, MinHashLSH (14x8)",
        "airtune-stream": "read, clean, chat quality, exact, write",
        "airtune-chat": "read, clean, chat quality, exact, near, split, write",
    }
    for name, res in results.items():
        stages = stages_of[res["system"]]
        if "error" in res:
            lines.append(f"| {name} | {stages} | | failed | | | | |")
            continue
        ratio = f"{res['rows_per_s'] / base:.1f}x" if base else ""
        removed = ", ".join(f"{k} {v:,}" for k, v in res["removed"].items() if v)
        lines.append(
            f"| {name} | {stages} | {res['rows_in']:,} | {res['seconds']:.1f} | {res['rows_per_s']:,.0f} | {ratio} | "
            f"{res['peak_mb']:.0f} | {removed} |"
        )
    table = "\n".join(lines) + "\n"
    notes = [
        "",
        "Notes: the peers run on the first rows of the same file (datatrove at its measured rate would need "
        "hours for the whole file on this machine); airtune-same runs on both, for the ratio on equal rows. "
        "rows/s counts input rows. The machine (2 cores) was shared with other builds and tests during the run "
        "(load average 14-20), which slows every system alike; compare within the table. The removed counts differ "
        "by design: airtune's Gopher rules tokenise words as runs of letters/digits (datatrove: spaCy, the "
        "pandas script: \\w+), and airtune verifies every MinHash candidate by exact Jaccard (datatrove and "
        "datasketch take bucket collisions as duplicates). Peak RSS is the process's maximum minus its footprint "
        "after imports (datatrove: its worker processes, which stream).",
    ]
    return table + "\n".join(notes)


def child(system: str, data: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if system.startswith("airtune"):
        res = run_airtune(data, out, system)
    elif system == "datatrove":
        res = run_datatrove(data, out)
    else:
        res = run_pandas(data, out)
    print("RESULT " + json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=1050.0, help="size of the generated JSONL in MB")
    ap.add_argument("--work", default="/tmp/airtune-bench-pipeline")
    ap.add_argument(
        "--systems", default="airtune-same,datatrove,pandas+datasketch,airtune-stream,airtune-chat"
    )
    ap.add_argument(
        "--peer-rows",
        type=int,
        default=0,
        help="run the peers (and airtune-same again, for the ratio) on the first N rows only (0: the whole file)",
    )
    ap.add_argument(
        "--full", default="airtune-same,airtune-stream,airtune-chat", help="systems run on the whole file"
    )
    ap.add_argument(
        "--merge", action="store_true", help="update the rows of benchmarks/results/pipeline.json"
    )
    ap.add_argument(
        "--render", action="store_true", help="rewrite results/pipeline.md from results/pipeline.json"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.data), Path(args.out))
        return
    if args.render:
        payload = json.loads((RESULTS / "pipeline.json").read_text())
        table = render(payload["results"], payload["bytes"])
        (RESULTS / "pipeline.md").write_text(table.rstrip() + "\n")
        print(table)
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"support-{int(args.mb)}mb.jsonl"
    if not data.exists():
        t = time.perf_counter()
        info = generate(data, args.mb)
        print(
            f"generated {data} ({info['rows']} rows, {info['bytes'] / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s"
        )
    size = data.stat().st_size
    prefix = data
    if args.peer_rows:
        prefix = work / f"{data.stem}-first{args.peer_rows}.jsonl"
        with open(data, encoding="utf-8") as f, open(prefix, "w", encoding="utf-8") as g:
            for i, line in enumerate(f):
                if i >= args.peer_rows:
                    break
                g.write(line)
    full = set(args.full.split(",")) if args.peer_rows else set(args.systems.split(","))
    runs = [(s, data) for s in args.systems.split(",") if s in full]
    runs += [(s, prefix) for s in args.systems.split(",") if s not in full]
    if args.peer_rows and "airtune-same" in full:
        runs.append(("airtune-same", prefix))  # the same rows as the peers, for the ratio
    results = {}
    if args.merge and (RESULTS / "pipeline.json").exists():
        results = json.loads((RESULTS / "pipeline.json").read_text())["results"]
    for system, path in runs:
        name = system if path == data else f"{system} (first {args.peer_rows:,} rows)"
        out = work / f"out-{system}"
        shutil.rmtree(out, ignore_errors=True)
        env = dict(os.environ, AIRTUNE_NUM_THREADS=str(THREADS), OMP_NUM_THREADS=str(THREADS))
        proc = subprocess.run(
            [sys.executable, __file__, "--child", system, "--data", str(path), "--out", str(out)],
            capture_output=True,
            text=True,
            env=env,
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(f"{name} failed:\n{proc.stderr[-3000:]}")
            results[name] = {"error": proc.stderr[-1000:], "system": system}
            continue
        res = json.loads(line[len("RESULT ") :])
        res["system"] = system
        res["bytes"] = path.stat().st_size
        res["rows_per_s"] = res["rows_in"] / res["seconds"]
        res["mb_per_s"] = res["bytes"] / 1e6 / res["seconds"]
        results[name] = res
        print(
            f"{name:>18}: {res['seconds']:8.1f} s  {res['rows_per_s']:>10.0f} rows/s  peak {res['peak_mb']:7.0f} MB  removed {res['removed']}"
        )
        shutil.rmtree(out, ignore_errors=True)
    table = render(results, size)
    write_results("pipeline", {"bytes": size, "threads": THREADS, "results": results}, table)


if __name__ == "__main__":
    main()
