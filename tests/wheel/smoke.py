"""Smoke test of an installed airtune wheel: one real call per area, results checked.

Run by tests/wheel/run.sh with the Python of a fresh virtualenv that holds nothing but the wheel
and its declared dependencies (no pytest): exits non-zero on the first wrong result and prints one
JSON line of facts (versions, kernels picked, BLAS) for the caller to check. `--torch` adds the
libtorch part (airtune._nn, a decoder forward) and a torch op in the same process as FAISS.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import tempfile
from pathlib import Path


def check(cond: bool, what: str) -> None:
    if not cond:
        raise SystemExit(f"smoke test failed: {what}")


def main() -> None:
    with_torch = "--torch" in sys.argv
    import airtune
    import numpy as np
    from airtune import clean, cost, dedup, embed, evaluate, io, metrics, monitor, prompts, split

    info = airtune.build_info()
    facts = {
        "version": airtune.__version__,
        "metadata_version": importlib.metadata.version("airtune"),
        "build_info_version": info["version"],
        "airtune_file": airtune.__file__,
        "simdjson_implementation": info["simdjson_implementation"],
        "blas": info["blas"],
        "faiss": info["faiss"],
        "num_threads": airtune.get_num_threads(),
    }
    check(facts["version"] == facts["metadata_version"] == facts["build_info_version"], f"versions {facts}")
    check(info["blas"]["name"] == "openblas", f"BLAS is {info['blas']}")

    tmp = Path(tempfile.mkdtemp(prefix="airtune-smoke-"))
    # io: simdjson parsing, a bad line quarantined with its line number.
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": f"answer {i}"},
            ]
        }
        for i in range(50)
    ]
    src = tmp / "in.jsonl"
    lines = [json.dumps(r) for r in rows]
    lines.insert(7, '{"messages": [')
    src.write_text("\n".join(lines) + "\n")
    records = io.read_jsonl(str(src), errors="skip", progress=False)
    rep = records.report
    check(len(records) == 50 and rep.rejected == 1 and rep.lines_read == 51, f"io report {rep}")
    out = tmp / "out.jsonl"
    io.write_jsonl(records, str(out))
    check(len(io.read_jsonl(str(out), progress=False)) == 50, "io round trip")

    # clean: HTML to text, garbage, unicode repair, quality filter.
    text = clean.html_to_text(["<html><body><p>Hello <b>world</b>.</p><script>x()</script></body></html>"])[0]
    check("Hello world" in text and "x()" not in text, f"html_to_text {text!r}")
    check(clean.fix_text(["cafÃ©"])[0] == "café", "fix_text mojibake")
    check(
        clean.strip_garbage(["see <span>this</span> &amp; that"], show_progress=False).texts[0]
        == "see this & that",
        "strip_garbage",
    )
    good = " ".join(f"Sentence number {i} has enough plain words to pass the filter." for i in range(6))
    q = clean.quality_filter(["short", good], "c4", show_progress=False)
    check(list(q.keep) == [False, True], f"quality_filter {q.keep} {q.reasons}")

    # dedup: exact, MinHash-LSH, semantic (FAISS flat search through BLAS), outliers.
    docs = [
        "the cat sat on the mat today",
        "The cat sat on the mat today",
        "a completely different sentence here",
    ]
    check(list(dedup.exact_duplicates(docs).keep) == [True, False, True], "exact_duplicates")
    near = dedup.near_duplicates(
        [
            "one two three four five six seven eight nine ten",
            "one two three four five six seven eight nine ten!",
            "x y z",
        ],
        threshold=0.7,
        ngram=3,
    )
    check(list(near.keep) == [True, False, True], f"near_duplicates {near.keep}")
    rng = np.random.default_rng(0)
    base = rng.standard_normal((300, 32)).astype(np.float32)
    x = np.concatenate([base, base[:20] + 1e-4 * rng.standard_normal((20, 32)).astype(np.float32)])
    sem = dedup.semantic_duplicates(x, threshold=0.99, index="flat")
    check(
        int((~sem.keep).sum()) == 20 and not sem.keep[300:].any(),
        f"semantic_duplicates removed {(~sem.keep).sum()}",
    )
    # The same nearest neighbours as numpy's brute force (FAISS's flat search goes through sgemm).
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = xn @ xn.T
    np.fill_diagonal(sims, -np.inf)
    check(bool(np.all(sem.knn_ids[:, 0] == sims.argmax(1))), "FAISS neighbours differ from numpy")
    blob = np.ones((100, 32), np.float32) + 0.05 * rng.standard_normal((100, 32)).astype(np.float32)
    out_res = dedup.outliers(np.concatenate([blob, -np.ones((1, 32), np.float32)]), k=5)
    check(bool(out_res.flag[-1]), "outliers: the far point is not flagged")

    # embed: hashed n-grams, deterministic.
    e = embed.embed(["hello world", "hello world", "goodbye"])
    check(e.shape[0] == 3 and np.allclose(e[0], e[1]) and not np.allclose(e[0], e[2]), "embed")

    # prompts: system-prompt report and variations.
    report = prompts.system_prompt_report(
        [
            {
                "messages": [
                    {"role": "system", "content": "You are helpful."},
                    {"role": "user", "content": f"q{i}"},
                ]
            }
            for i in range(10)
        ]
    )
    check(
        report.n_rows == 10 and report.distinct == 1,
        f"system_prompt_report {report.n_rows} {report.distinct}",
    )
    var = prompts.variations(
        "You are a friendly support assistant. Always respond in a professional tone. Keep your answers concise.",
        n=3,
        seed=1,
        min_distance=0.02,
    )
    check(len(var.variants) >= 1, "variations")

    # split: holdout with no duplicate across sides.
    s = split.holdout_split([f"row {i}" for i in range(100)] + ["row 1"], 0.2, seed=3)
    check(len(s.train) + len(s.test) == 101 and not set(s.train) & set(s.test), "holdout_split")

    # metrics: BLEU against a hand-checked value, ROUGE, exact match.
    check(
        abs(metrics.bleu(["the cat sat on the mat"], ["the cat sat on the mat"]).score - 100.0) < 1e-9, "bleu"
    )
    check(metrics.rouge(["a b c"], ["a b d"]).score > 0.6, "rouge")
    check(metrics.exact_match(["yes", "no"], ["yes", "yes"]).score == 0.5, "exact_match")

    # monitor: drift of identical distributions is not flagged.
    tr = [f"how do I reset my password number {i}" for i in range(120)]
    dr = monitor.drift(tr, tr[:60], permutations=99, seed=0)
    check(dr.mmd_p_value > 0.05, f"drift p={dr.mmd_p_value}")

    # cost: a replacement report from the bundled price table.
    table = cost.default_prices()
    api = next(p.name for p in table.prices.values() if p.kind == "api")
    own = next(p.name for p in table.prices.values() if p.kind != "api")
    r = cost.replacement(api, own, 1e8, 2e7)
    check(r.api_monthly_usd > 0, "cost.replacement")

    # threads: the pool reaches OpenBLAS and OpenMP.
    airtune.set_num_threads(1)
    check(airtune.build_info()["blas"]["threads"] == 1, "set_num_threads did not reach OpenBLAS")

    if "--data" in sys.argv:  # pandas and pyarrow, whatever versions pip picked
        import pandas as pd
        import pyarrow as pa

        df = records.to_pandas()
        table = records.to_arrow()
        check(len(df) == 50 and table.num_rows == 50, "to_pandas / to_arrow")
        check(len(io.from_pandas(df)) == 50 and len(io.from_arrow(table)) == 50, "from_pandas / from_arrow")
        facts["pandas"], facts["pyarrow"], facts["numpy"] = pd.__version__, pa.__version__, np.__version__
        # evaluate (its tables are pandas): two callables, one metric.
        items = [{"input": f"say {i}", "reference": f"{i}"} for i in range(30)]
        ev = evaluate.evaluate(
            items,
            {"api": lambda p: p.split()[1], "candidate": lambda p: p.split()[1]},
            metrics=["exact_match"],
            baseline="api",
            progress=False,
        )
        check(ev.results["candidate"]["exact_match"].score == 1.0, "evaluate")
    else:  # without the data extra, a feature that needs pandas names the extra
        try:
            evaluate.evaluate(
                [{"input": "a", "reference": "a"}], {"m": str}, metrics=["exact_match"], progress=False
            )
        except ImportError as exc:
            check("airtune[data]" in str(exc), f"evaluate without pandas: {exc}")
        else:
            check(False, "evaluate ran without pandas")

    if with_torch:
        import torch
        from airtune import _nn

        airtune.set_num_threads(2)
        y = _nn.roundtrip(torch.arange(4, dtype=torch.float32))
        check(torch.equal(y, torch.arange(4, dtype=torch.float32) * 2), "_nn.roundtrip")
        a = torch.randn(128, 128)
        check(torch.allclose(a @ a.T, (a @ a.T).T, atol=1e-4), "torch matmul")
        sem2 = dedup.semantic_duplicates(x, threshold=0.99, index="flat")
        check(bool(np.array_equal(sem2.keep, sem.keep)), "FAISS after torch")
        facts["torch"] = torch.__version__
        facts["torch_file"] = torch.__file__
        facts["nn_build_info"] = _nn.build_info()
    facts["modules"] = sorted(
        m for m in sys.modules if m.startswith(("airtune._", "torch")) and m.count(".") < 2
    )[:20]
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
