"""Benchmark: airtune.metrics against sacreBLEU and rouge-score on the same synthetic corpus.

One process, same data: Zipfian sentence pairs (mean ~25 words, punctuation and numbers). Each
operation is timed `--repeats` times (median reported); airtune runs single-threaded and with all
cores. Scores are checked to agree before timings are recorded. Writes
benchmarks/results/metrics.json (machine, versions, medians, ratios) and metrics.md (table).

    python benchmarks/metrics.py               # 20,000 pairs (about 2 minutes on 2 cores)
    python benchmarks/metrics.py --n 100000 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import airtune
import numpy as np
from airtune import metrics as M


def corpus(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    vocab = np.array(
        [f"w{i}" for i in range(5000)]
        + [
            "the",
            "a",
            "of",
            "and",
            "to",
            "in",
            "is",
            "was",
            "running",
            "generalization",
            "relational",
            "3.14",
            "1,000",
            "e-mail",
            "(ok)",
            "don't",
            "U.S.A.",
        ]
    )
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.1
    p /= p.sum()
    hyps, refs = [], []
    for _ in range(n):
        k = int(rng.integers(10, 41))
        ref = rng.choice(vocab, size=k, p=p)
        keep = rng.random(k) > 0.25
        hyp = ref[keep].copy()
        swap = rng.random(len(hyp)) < 0.15
        hyp[swap] = rng.choice(vocab, size=int(swap.sum()), p=p)
        refs.append(" ".join(ref) + ".")
        hyps.append(" ".join(hyp) + ("." if rng.random() < 0.8 else " !"))
    return hyps, refs


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peer-repeats", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()

    import rouge_score
    import sacrebleu
    from rouge_score import rouge_scorer

    hyps, refs = corpus(args.n)
    cores = os.cpu_count() or 1

    def rouge_peer(stem: bool) -> float:
        sc = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=stem)
        return float(np.mean([sc.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs)]))

    def boot_peer() -> float:
        from sacrebleu.significance import _bootstrap_resample

        metric = sacrebleu.BLEU()
        stats = metric._extract_corpus_statistics(hyps, [refs])
        _, scores = _bootstrap_resample(stats, metric, 1000)
        return float(np.mean([s.score for s in scores]))

    bleu_res = M.bleu(hyps, refs)
    ops = {
        "BLEU corpus (13a)": (
            lambda: sacrebleu.corpus_bleu(hyps, [refs]).score,
            lambda: M.bleu(hyps, refs).score,
        ),
        "chrF": (lambda: sacrebleu.corpus_chrf(hyps, [refs]).score, lambda: M.chrf(hyps, refs).score),
        "chrF++": (
            lambda: sacrebleu.corpus_chrf(hyps, [refs], word_order=2).score,
            lambda: M.chrf(hyps, refs, word_order=2).score,
        ),
        "ROUGE-1/2/L": (
            lambda: rouge_peer(False),
            lambda: M.rouge(hyps, refs, rouge_types=["rougeL", "rouge1", "rouge2"]).score,
        ),
        "ROUGE-1/2/L + Porter stemmer": (
            lambda: rouge_peer(True),
            lambda: M.rouge(hyps, refs, rouge_types=["rougeL", "rouge1", "rouge2"], use_stemmer=True).score,
        ),
        "BLEU bootstrap, 1000 resamples (stats + resampling)": (
            boot_peer,
            lambda: float(np.mean(M.bootstrap_ci(M.bleu(hyps, refs), n_samples=1000))),
        ),
    }
    rows = []
    for name, (peer, ours) in ops.items():
        t_peer, v_peer = timed(peer, args.peer_repeats)
        airtune.set_num_threads(1)
        t_1, v_1 = timed(ours, args.repeats)
        airtune.set_num_threads(cores)
        t_n, v_n = timed(ours, args.repeats)
        if "bootstrap" not in name:
            assert abs(v_peer - v_1) < 1e-9 and v_1 == v_n, (name, v_peer, v_1, v_n)
        peer_name = "rouge-score" if "ROUGE" in name else "sacreBLEU"
        rows.append(
            {
                "operation": name,
                "peer": peer_name,
                "items": args.n,
                "peer_s": t_peer,
                "airtune_1t_s": t_1,
                "airtune_all_s": t_n,
                "speedup_1t": t_peer / t_1,
                "speedup_all": t_peer / t_n,
                "score": v_1,
            }
        )
        print(
            f"{name:55s} {peer_name:12s} {t_peer:8.3f}s  1t {t_1:7.3f}s ({t_peer / t_1:6.1f}x)  "
            f"{cores}t {t_n:7.3f}s ({t_peer / t_n:6.1f}x)",
            flush=True,
        )
    del bleu_res
    info = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cores": cores,
            "python": platform.python_version(),
        },
        "versions": {
            "airtune": airtune.__version__,
            "sacrebleu": sacrebleu.__version__,
            "rouge_score": getattr(rouge_score, "__version__", "0.1.2"),
            "numpy": np.__version__,
        },
        "n_pairs": args.n,
        "repeats": args.repeats,
        "peer_repeats": args.peer_repeats,
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Runs of different sizes accumulate in one file (the default run and a --n 100000 run).
    path = out / "metrics.json"
    runs = {}
    if path.exists():
        try:
            runs = json.loads(path.read_text()).get("runs", {})
        except (ValueError, AttributeError):
            runs = {}
    runs[str(args.n)] = info
    path.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    lines = []
    for n_key in sorted(runs, key=int):
        run = runs[n_key]
        lines += [
            f"Metrics, {int(n_key):,} synthetic sentence pairs, {run['machine']['processor']}, "
            f"{run['machine']['cores']} cores (median of {run['repeats']} for airtune, "
            f"{run['peer_repeats']} for the peer; sacreBLEU {run['versions']['sacrebleu']}).",
            "",
            "| operation | peer | peer s | airtune 1 thread s | speedup | airtune all cores s | speedup |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in run["rows"]:
            lines.append(
                f"| {r['operation']} | {r['peer']} | {r['peer_s']:.2f} | {r['airtune_1t_s']:.3f} | "
                f"{r['speedup_1t']:.1f}x | {r['airtune_all_s']:.3f} | {r['speedup_all']:.1f}x |"
            )
        lines.append("")
    (out / "metrics.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
