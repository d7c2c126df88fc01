"""Ingestion benchmark: airtune.io against the stdlib json loop, an orjson loop and
pandas.read_json(lines=True), on the same generated chat JSONL, in one run.

    python benchmarks/io.py                 # ~1 GB file (generated once into benchmarks/data/)
    python benchmarks/io.py --size-mb 100   # smaller, quicker

Throughput is input megabytes per second (file size / median wall time). pandas runs on a prefix
of the file (--pandas-mb, default 256) because it needs several times the file size in memory;
its row states that. Streaming memory is the peak RSS of a fresh process that iterates the whole
file with airtune.io.iter_jsonl and keeps nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_time, write_results  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
WORDS = (
    "the deploy failed because a migration locked the users table for eleven minutes; we rolled back "
    "and added a timeout. Invoices, regions, API keys, two-factor authentication, café, naïve, 数据, "
    'émoji 😀 and "quoted" text with \\ backslashes\n and new lines.'
).split(" ")


def generate(path: Path, size_mb: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    target = size_mb << 20
    written = 0
    systems = [
        "You are a support assistant for Acme Cloud. Answer briefly and cite the docs.",
        "You are a careful assistant. Use markdown.",
        "Classify the ticket.",
    ]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        i = 0
        while written < target:
            msgs = [{"role": "system", "content": rng.choice(systems)}]
            for _ in range(rng.randint(1, 3)):
                msgs.append({"role": "user", "content": " ".join(rng.choices(WORDS, k=rng.randint(8, 60)))})
                msgs.append(
                    {"role": "assistant", "content": " ".join(rng.choices(WORDS, k=rng.randint(20, 200)))}
                )
            line = (
                json.dumps(
                    {"id": f"t{i}", "messages": msgs, "label": rng.choice(["billing", "tech", "sales"])},
                    ensure_ascii=False,
                )
                + "\n"
            )
            f.write(line)
            written += len(line.encode("utf-8"))
            i += 1
    os.replace(tmp, path)


def stdlib_loop(path: Path) -> int:
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            json.loads(line)
            n += 1
    return n


def orjson_loop(path: Path) -> int:
    import orjson

    n = 0
    with open(path, "rb") as f:
        for line in f:
            orjson.loads(line)
            n += 1
    return n


def streaming_peak_rss_mb(path: Path) -> tuple[float, int]:
    code = (
        "import airtune.io as io\n"
        f"s = io.iter_jsonl({str(path)!r}, batch_bytes=16 << 20)\n"
        "n = sum(len(b) for b in s)\n"
        # VmHWM is this process's own peak; ru_maxrss would include the parent's (fork).
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(n, hwm)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    return int(out[1]) / 1024, int(out[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--pandas-mb", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import airtune.io as io

    DATA.mkdir(exist_ok=True)
    path = DATA / f"chat_{args.size_mb}mb.jsonl"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, args.size_mb)
    size = path.stat().st_size
    mb = size / 1e6
    rows = []

    t, recs = median_time(lambda: io.read_jsonl(path, progress=False), args.repeats)
    n = len(recs)
    assert recs.report.balanced
    del recs
    rows.append(("airtune.io.read_jsonl", t, args.repeats, mb))
    t, count = median_time(lambda: sum(len(b) for b in io.iter_jsonl(path)), args.repeats)
    assert count == n
    rows.append(("airtune.io.iter_jsonl (streaming)", t, args.repeats, mb))
    t, count = median_time(lambda: orjson_loop(path), args.repeats)
    assert count == n
    rows.append(("orjson loop", t, args.repeats, mb))
    t, count = median_time(lambda: stdlib_loop(path), 1)
    assert count == n
    rows.append(("json (stdlib) loop", t, 1, mb))

    import pandas as pd

    prefix = DATA / f"chat_{args.size_mb}mb_prefix{args.pandas_mb}.jsonl"
    if not prefix.exists():
        with open(path, "rb") as src, open(prefix, "wb") as dst:
            left = args.pandas_mb << 20
            for line in src:
                if left <= 0:
                    break
                dst.write(line)
                left -= len(line)
    pmb = prefix.stat().st_size / 1e6
    t, frame = median_time(lambda: pd.read_json(prefix, lines=True), 1)
    rows.append((f"pandas.read_json(lines=True) [{pmb:.0f} MB prefix]", t, 1, pmb))
    del frame
    t_air_prefix, _ = median_time(lambda: io.read_jsonl(prefix, progress=False), args.repeats)

    peak_mb, streamed = streaming_peak_rss_mb(path)
    assert streamed == n

    orjson_mbps = rows[2][3] / rows[2][1]
    table = ["| reader | input | median s | MB/s | vs orjson loop |", "|---|---|---|---|---|"]
    results = []
    for name, secs, reps, size_mb in rows:
        mbps = size_mb / secs
        table.append(f"| {name} | {size_mb:.0f} MB | {secs:.2f} | {mbps:.0f} | {mbps / orjson_mbps:.1f}x |")
        results.append(
            {
                "reader": name,
                "input_mb": round(size_mb, 1),
                "median_s": round(secs, 4),
                "repeats": reps,
                "mb_per_s": round(mbps, 1),
                "ratio_vs_orjson": round(mbps / orjson_mbps, 2),
            }
        )
    pandas_ratio = (pmb / t_air_prefix) / (rows[4][3] / rows[4][1])
    table.append("")
    table.append(
        f"{n} records, {mb:.0f} MB; airtune vs pandas on the same {pmb:.0f} MB prefix: "
        f"{pandas_ratio:.1f}x. Streaming (iter_jsonl, 16 MB batches) peak RSS of a fresh "
        f"process over the whole file: {peak_mb:.0f} MB."
    )
    write_results(
        "io",
        {
            "file_mb": round(mb, 1),
            "records": n,
            "rows": results,
            "airtune_vs_pandas_same_prefix": round(pandas_ratio, 2),
            "streaming_peak_rss_mb": round(peak_mb, 1),
            "generated_at": time.strftime("%H:%M:%S"),
        },
        "\n".join(table),
    )


if __name__ == "__main__":
    main()
