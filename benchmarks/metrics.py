"""Benchmark: airtune.metrics against sacreBLEU and rouge-score on the same synthetic corpus.

One process, same data: Zipfian sentence pairs (mean ~25 words, punctuation and numbers). Each
operation is timed `--repeats` times (median reported); airtune runs single-threaded and with all
cores. Scores are checked to agree before timings are recorded. Writes
benchmarks/results/metrics.json (machine, versions, medians, ratios) and metrics.md (table).

    python benchmarks/metrics.py               # 20,000 pairs (about 2 minutes on 2 cores)
    python benchmarks/metrics.py --n 100000 --repeats 1
    python benchmarks/metrics.py --rouge-real 10000   # ROUGE + stemmer on real words, cold and warm

The --rouge-real table draws its vocabulary from a real English word list (/usr/share/dict/words,
Debian's wamerican: ~100k words with their inflections, so the stemmer meets realistic, mostly
distinct stems instead of a few hundred synthetic tokens), Zipf-ranked after a seeded shuffle.
Cold: a fresh process per engine, its first call (airtune's stem cache empty; imports and the
corpus generation not timed). Warm: medians of the same repeats for every engine, alternating.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
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


WORD_LIST = Path("/usr/share/dict/words")


def real_corpus(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Sentence pairs over a real word list: references of 12-40 Zipf-drawn words with commas and a
    final period; hypotheses drop ~25% of the words and substitute ~15% (from the same list)."""
    if not WORD_LIST.exists():
        raise SystemExit(f"{WORD_LIST} is missing: apt-get install wamerican (scripts/setup.sh --tests)")
    words = sorted({w.strip() for w in WORD_LIST.read_text(encoding="utf-8").splitlines() if w.strip()})
    rng = np.random.default_rng(seed)
    vocab = np.array(words, dtype=object)[rng.permutation(len(words))]
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.07
    p /= p.sum()
    hyps, refs = [], []
    for _ in range(n):
        k = int(rng.integers(12, 41))
        ref = rng.choice(vocab, size=k, p=p)
        keep = rng.random(k) > 0.25
        hyp = ref[keep].copy()
        swap = rng.random(len(hyp)) < 0.15
        hyp[swap] = rng.choice(vocab, size=int(swap.sum()), p=p)
        comma = rng.random(k) < 0.08
        ref_words = [w + "," if c else w for w, c in zip(ref, comma)]
        ref_words[0] = ref_words[0].capitalize()
        refs.append(" ".join(ref_words) + ".")
        hyps.append(" ".join(hyp).capitalize() + ".")
    return hyps, refs


ROUGE_TYPES = ["rouge1", "rouge2", "rougeL"]


def _rouge_engine(engine: str, hyps: list[str], refs: list[str]):
    """A function scoring every pair with the stemmer; returns per-item F (items x 3 types)."""
    if engine == "rouge-score":
        from rouge_score import rouge_scorer

        sc = rouge_scorer.RougeScorer(ROUGE_TYPES, use_stemmer=True)

        def peer() -> np.ndarray:
            out = [sc.score(r, h) for h, r in zip(hyps, refs)]
            return np.array([[o[t].fmeasure for t in ROUGE_TYPES] for o in out])

        return peer
    threads = int(engine.split()[1])

    def ours() -> np.ndarray:
        airtune.set_num_threads(threads)
        r = M.rouge(hyps, refs, rouge_types=ROUGE_TYPES, use_stemmer=True)
        return np.stack([r.columns[t] for t in ROUGE_TYPES], axis=1)

    return ours


ROUGE_ENGINES = ("airtune 1", "airtune 2", "rouge-score")
ROUGE_MARKER = "ROUGE-1/2/L with the Porter stemmer on a realistic vocabulary"


def rouge_cold_child(engine: str, n: int) -> None:
    hyps, refs = real_corpus(n)
    fn = _rouge_engine(engine, hyps, refs)
    c0, t0 = time.process_time(), time.perf_counter()
    f = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"seconds": wall, "cpu_seconds": cpu, "mean_f": f.mean(0).tolist()}))


def rouge_real(n: int, repeats: int, out: Path) -> None:
    import subprocess

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import Load, alternating, setting_line

    load = Load()
    cold = {}
    for engine in ROUGE_ENGINES:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--rouge-cold", engine, "--n", str(n)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        cold[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
    hyps, refs = real_corpus(n)
    n_words = sum(len(r.split()) for r in refs) + sum(len(h.split()) for h in hyps)
    distinct = len({w.strip(",.").lower() for t in refs + hyps for w in t.split()})
    warm = alternating({e: _rouge_engine(e, hyps, refs) for e in ROUGE_ENGINES}, repeats)
    load.stop()
    peer = warm["rouge-score"].result
    diffs = {e: float(np.abs(warm[e].result - peer).max()) for e in ROUGE_ENGINES}
    for e in ROUGE_ENGINES:
        assert diffs[e] < 1e-12, (e, diffs[e])
        assert np.allclose(cold[e]["mean_f"], peer.mean(0), atol=1e-12, rtol=0), (e, cold[e], peer.mean(0))
    t_peer_warm, t_peer_cold = warm["rouge-score"].median, cold["rouge-score"]["seconds"]
    lines = [
        ROUGE_MARKER
        + ": "
        + setting_line(
            "1 or 2 (rouge-score: 1)",
            f"{n:,} pairs, {n_words:,} words, {distinct:,} distinct lowercase words drawn from "
            f"{WORD_LIST} (Zipf-ranked)",
            load,
            repeats,
            "cold = a fresh process per engine, first call (stem cache empty), imports not timed; "
            "the machine is shared, so wall times carry noise",
        ),
        "",
        "| engine | cold s (first call) | cold CPU s | warm s (median) | warm CPU s | speedup cold "
        "| speedup warm | max abs diff of per-item F vs rouge-score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = []
    for e in ROUGE_ENGINES:
        tc, tw = cold[e]["seconds"], warm[e].median
        name = e if e == "rouge-score" else f"airtune {e.split()[1]} thread(s)"
        lines.append(
            f"| {name} | {tc:.3f} | {cold[e]['cpu_seconds']:.3f} | {tw:.3f} | {warm[e].cpu_median:.3f} "
            f"| {t_peer_cold / tc:.1f}x "
            f"| {t_peer_warm / tw:.1f}x | {diffs[e]:.1e} |"
        )
        rows.append(
            {
                "engine": name,
                "cold_s": tc,
                "cold_cpu_s": cold[e]["cpu_seconds"],
                "warm": warm[e].as_dict(),
                "max_abs_diff": diffs[e],
            }
        )
    lines.append("")
    path = out / "metrics.json"
    data = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    data["rouge_real"] = {
        "n_pairs": n,
        "words": n_words,
        "distinct_words": distinct,
        "word_list": str(WORD_LIST),
        "repeats": repeats,
        **load.as_dict(),
        "rows": rows,
        "table_md": "\n".join(lines),
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    md = out / "metrics.md"
    old = md.read_text() if md.exists() else ""
    if ROUGE_MARKER in old:
        old = old[: old.index(ROUGE_MARKER)]
    md.write_text(old.rstrip("\n") + "\n\n" + "\n".join(lines))
    print("\n".join(lines))


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
    ap.add_argument(
        "--peer-repeats", type=int, default=None, help="default: --repeats (the same for every engine)"
    )
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument(
        "--rouge-real", type=int, default=0, metavar="N", help="the realistic-vocabulary ROUGE table"
    )
    ap.add_argument("--rouge-cold", choices=ROUGE_ENGINES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer_repeats is None:
        args.peer_repeats = args.repeats
    if args.rouge_cold:
        rouge_cold_child(args.rouge_cold, args.n)
        return
    if args.rouge_real:
        rouge_real(args.rouge_real, args.repeats, Path(args.out))
        return

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
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import alternating

    load = os.getloadavg()[0]
    rows = []
    for name, (peer, ours) in ops.items():
        if args.peer_repeats == args.repeats:
            # the same repeats for every engine, alternating (each ran once before, untimed)
            t = alternating(
                {
                    "peer": peer,
                    "1": lambda ours=ours: (airtune.set_num_threads(1), ours())[1],
                    "n": lambda ours=ours: (airtune.set_num_threads(cores), ours())[1],
                },
                args.repeats,
            )
            airtune.set_num_threads(cores)
            (t_peer, v_peer), (t_1, v_1), (t_n, v_n) = (
                (t[e].median, t[e].result) for e in ("peer", "1", "n")
            )
        else:
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
        "alternating": args.peer_repeats == args.repeats,
        "loadavg_1m_before": round(load, 2),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Runs of different sizes accumulate in one file (the default run and a --n 100000 run).
    path = out / "metrics.json"
    data = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            data = {}
    runs = data.get("runs", {})
    runs[str(args.n)] = info
    data["runs"] = runs
    path.write_text(json.dumps(data, indent=1) + "\n")
    lines = []
    for n_key in sorted(runs, key=int):
        run = runs[n_key]
        lines += [
            f"Metrics, {int(n_key):,} synthetic sentence pairs, {run['machine']['processor']}, "
            f"{run['machine']['cores']} cores (median of {run['repeats']} for airtune, "
            f"{run['peer_repeats']} for the peer"
            + (", alternating" if run.get("alternating") else "")
            + (
                f"; 1-minute load {run['loadavg_1m_before']:.1f} before, {run['loadavg_1m_after']:.1f} after"
                if "loadavg_1m_before" in run
                else ""
            )
            + f"; the machine is shared; sacreBLEU {run['versions']['sacrebleu']}).",
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
    if "rouge_real" in data:  # the realistic-vocabulary table (--rouge-real) stays below
        lines += [data["rouge_real"]["table_md"], ""]
    (out / "metrics.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
