"""Bootstrap resampling of corpus BLEU, 1000 resamples: airtune vs sacreBLEU, scaling in the number
of pairs (the resampling only: both start from per-item statistics computed once, outside the
timings). One thread for airtune (sacreBLEU's numpy is single-threaded here too); the tools run in
alternating rounds, medians of the same repeats. Results checked equal: airtune resampled with
sacreBLEU's own draws gives sacreBLEU's 1000 scores.

    python benchmarks/bootstrap.py                 # 2,000 / 8,000 / 32,000 pairs (about 1 minute)
    python benchmarks/bootstrap.py --sizes 2000 8000 32000 128000
Writes benchmarks/results/bootstrap.json and bootstrap.md.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SAMPLES = 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import airtune
    import sacrebleu
    from _common import Load, alternating, setting_line, write_results
    from airtune import metrics as M
    from airtune._core import metrics as _m
    from metrics import corpus
    from sacrebleu.significance import _bootstrap_resample

    airtune.set_num_threads(1)
    load = Load()
    rows = []
    for n in args.sizes:
        hyps, refs = corpus(n)
        r = M.bleu(hyps, refs)
        metric = sacrebleu.BLEU()
        stats = metric._extract_corpus_statistics(hyps, [refs])
        seed = int(os.environ.get("SACREBLEU_SEED", "12345"))
        idxs = np.random.default_rng(seed).choice(n, size=(SAMPLES, n), replace=True)  # sacreBLEU's draws
        ours_on_theirs = _m.bootstrap(r.stats, r.aggregate, r.options, SAMPLES, 0, idxs.astype(np.int64))
        theirs = np.array([s.score for s in _bootstrap_resample(stats, metric, SAMPLES)[1]])
        diff = float(np.max(np.abs(ours_on_theirs - theirs)))
        t = alternating(
            {
                "airtune": lambda r=r: _m.bootstrap(r.stats, r.aggregate, r.options, SAMPLES, 1),
                "sacreBLEU": lambda stats=stats, metric=metric: _bootstrap_resample(stats, metric, SAMPLES),
            },
            args.repeats,
        )
        rows.append(
            {
                "pairs": n,
                "airtune": t["airtune"].as_dict(),
                "sacrebleu": t["sacreBLEU"].as_dict(),
                "speedup_wall": round(t["sacreBLEU"].median / t["airtune"].median, 2),
                "speedup_cpu": round(t["sacreBLEU"].cpu_median / t["airtune"].cpu_median, 2),
                "max_abs_score_diff_same_draws": diff,
            }
        )
        print(rows[-1], flush=True)
    load_s = str(load.stop())

    def exponent(key: str) -> float:
        a, b = rows[0], rows[-1]
        return math.log(b[key]["cpu_median_s"] / a[key]["cpu_median_s"]) / math.log(b["pairs"] / a["pairs"])

    exps = {"airtune": round(exponent("airtune"), 2), "sacrebleu": round(exponent("sacrebleu"), 2)}
    sizes = " / ".join(f"{n:,}" for n in args.sizes)
    lines = [
        setting_line(
            1,
            f"{sizes} synthetic sentence pairs (benchmarks/metrics.py's Zipfian corpus), BLEU, {SAMPLES} resamples",
            load_s,
            args.repeats,
            "resampling only (per-item statistics computed once, outside the timings)",
        ),
        "",
        "| pairs | airtune s (CPU s) | sacreBLEU s (CPU s) | speed-up wall / CPU | max score diff, same draws |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        a, s = row["airtune"], row["sacrebleu"]
        lines.append(
            f"| {row['pairs']:,} | {a['median_s']:.4f} ({a['cpu_median_s']:.4f}) | "
            f"{s['median_s']:.3f} ({s['cpu_median_s']:.3f}) | {row['speedup_wall']}x / {row['speedup_cpu']}x | "
            f"{row['max_abs_score_diff_same_draws']:.1e} |"
        )
    lines += [
        "",
        f"Time ~ pairs^{exps['airtune']} for airtune, pairs^{exps['sacrebleu']} for sacreBLEU (CPU medians, "
        f"{args.sizes[0]:,} to {args.sizes[-1]:,} pairs). Score diff: airtune resampled with sacreBLEU's own "
        "draws against sacreBLEU's scores (BLEU points; sacreBLEU sums float32 statistics). The machine was "
        "shared: wall times include waiting for a core, CPU times are the comparison.",
    ]
    write_results(
        "bootstrap",
        {"samples": SAMPLES, "threads": 1, "load": load_s, "rows": rows, "exponents": exps},
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()
