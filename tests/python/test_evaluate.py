"""The evaluation harness: holdout splits, evaluate() reports, caching, judges, the pytest plugin."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from collections import Counter
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from airtune import evaluate as E
from airtune import metrics as M

pytest.importorskip("pandas")


def _records(n: int = 400, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    words = "red blue green shoe shirt lamp desk chair phone case cable dog cat food toy".split()
    cats = ["Apparel > Shoes", "Apparel > Shirts", "Home > Lamps", "Home > Desks", "Electronics > Phones"]
    out = []
    for i in range(n):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        out.append({"id": i, "input": f"describe: {text}", "reference": text, "category": rng.choice(cats)})
    return out


def test_holdout_split_is_deterministic_stratified_and_safe() -> None:
    recs = _records()
    recs.append({"id": 999, "input": "x", "reference": "x", "category": "Rare > Singleton"})
    s1 = E.holdout_split(recs, 0.1, stratify="category", seed=3, id_key="id")
    s2 = E.holdout_split(list(reversed(recs)), 0.1, stratify="category", seed=3, id_key="id")
    assert sorted(r["id"] for r in s1.test) == sorted(r["id"] for r in s2.test)
    assert len(s1.train) + len(s1.test) == len(recs)
    assert "Rare > Singleton" in s1.singletons
    assert all(r["category"] != "Rare > Singleton" for r in s1.test)
    for row in s1.strata:
        if row["n"] > 1:
            assert abs(row["test"] - 0.1 * row["n"]) <= max(1.5, 0.02 * row["n"])
    s3 = E.holdout_split(recs, 0.1, stratify="category", seed=4, id_key="id")
    assert {r["id"] for r in s3.test} != {r["id"] for r in s1.test}
    # growing the data keeps earlier choices mostly stable (hash-based selection)
    more = recs + _records(100, seed=9)
    for j, r in enumerate(more[len(recs) :]):
        r["id"] = 10_000 + j
    s4 = E.holdout_split(more, 0.1, stratify="category", seed=3, id_key="id")
    kept = len({r["id"] for r in s1.test} & {r["id"] for r in s4.test}) / len(s1.test)
    assert kept > 0.7


def test_holdout_split_keeps_duplicates_on_one_side() -> None:
    recs = _records(300)
    dupes = [dict(r, id=5000 + i, reference=r["reference"].upper() + "!") for i, r in enumerate(recs[:60])]
    allr = recs + dupes
    split = E.holdout_split(allr, 0.2, seed=1, text_key="reference")
    side = {}
    for r in split.train:
        side.setdefault(E.normalized_hash(r["reference"]), set()).add("train")
    for r in split.test:
        side.setdefault(E.normalized_hash(r["reference"]), set()).add("test")
    assert all(len(v) == 1 for v in side.values())
    assert split.duplicate_groups >= 1
    groups = [i % 7 for i in range(len(allr))]
    g = E.holdout_split(allr, 0.3, seed=1, groups=groups)
    assert not ({groups[i] for i in g.test_index} & {groups[i] for i in g.train_index})
    with pytest.raises(ValueError, match="row 0 has no field 'nope'"):
        E.holdout_split(recs, 0.1, stratify="nope")
    with pytest.raises(ValueError, match="fraction"):
        E.holdout_split(recs, 1.5)


def _noisy(refs: list[str], drop: float, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(w for w in r.split() if rng.random() > drop) or "x" for r in refs]


def test_evaluate_report_with_cache_judge_and_verdicts(tmp_path: Path) -> None:
    recs = _records(300)
    refs = [r["reference"] for r in recs]
    calls = Counter()
    flaky = {"n": 0}

    def tuned(inp: str) -> str:
        calls["tuned"] += 1
        if inp.endswith("shoe") and flaky["n"] < 3:
            flaky["n"] += 1
            raise TimeoutError("transient")
        return inp.removeprefix("describe: ")

    def judge(inp: str, out: str, ref: str) -> str:
        overlap = len(set(out.split()) & set(ref.split())) / max(len(set(ref.split())), 1)
        return "no idea" if out == "x" else f"Score: {1 + round(4 * overlap)}"

    db = tmp_path / "cache.sqlite"
    models = {"api": _noisy(refs, 0.5, 1), "tuned": tuned}
    rep = E.evaluate(
        recs,
        models,
        metrics=["bleu", "rougeL", "chrf"],
        judge=judge,
        cache=db,
        margin={"rougeL": 0.05, "judge": 0.2},
        progress=False,
        n_samples=200,
        ar_trials=200,
    )
    t = rep.table.set_index(["model", "metric"])
    assert t.loc[("tuned", "bleu"), "score"] == pytest.approx(100.0)
    assert t.loc[("api", "bleu"), "score"] == pytest.approx(M.bleu(models["api"], refs).score)
    assert (t.ci_low <= t.score + 1e-9).all() and (t.score <= t.ci_high + 1e-9).all()
    comp = rep.comparisons.set_index(["model", "metric"])
    assert comp.loc[("tuned", "rougeL"), "p_bootstrap"] < 0.01
    assert comp.loc[("tuned", "judge"), "p_wilcoxon"] < 0.01
    verdict = rep.verdicts.set_index(["model", "metric"])
    assert bool(verdict.loc[("tuned", "rougeL"), "non_inferior"])
    assert rep.judge["api"]["histogram"]["unparsed"] == sum(p == "x" for p in models["api"])
    assert len(rep.per_item) == 300 and "tuned:bleu" in rep.per_item
    md = rep.to_markdown()
    assert "| tuned | rougeL |" in md and "can replace baseline" in md
    assert "| api | judge |" in md and "tok:13a" in md
    html = rep.to_html(tmp_path / "r.html")
    assert "<table" in html and (tmp_path / "r.html").exists()
    # rerun: every prediction comes from the cache
    before = calls["tuned"]
    rep2 = E.evaluate(recs, models, metrics=["bleu"], cache=db, progress=False, n_samples=100, ar_trials=100)
    assert calls["tuned"] == before and rep2.settings["cache_hits"]["tuned"] == 300


def test_judge_criteria_and_pairwise_comparisons() -> None:
    recs = _records(120)
    refs = [r["reference"] for r in recs]

    def judge(inp: str, out: str, ref: str) -> dict:
        exact = out == ref
        return {"relevance": f"[[{5 if exact else 2}]]", "formatting": "Score: 4" if exact else "unsure"}

    models = {"a": _noisy(refs, 0.5, 1), "b": _noisy(refs, 0.2, 2), "c": refs}
    rep = E.evaluate(
        recs, models, metrics=["rougeL"], judge=judge, progress=False, n_samples=100, ar_trials=100
    )
    assert rep.metrics == ["rougeL", "judge:relevance", "judge:formatting"]
    assert rep.judge["c"]["judge:formatting"]["histogram"]["unparsed"] == 0
    assert rep.judge["a"]["judge:formatting"]["histogram"]["unparsed"] == sum(
        p != r for p, r in zip(models["a"], refs)
    )
    pairs = set(zip(rep.comparisons.baseline, rep.comparisons.model))
    assert pairs == {("a", "b"), ("a", "c"), ("b", "c")}
    assert "| c | b | rougeL |" in rep.to_markdown()


def test_scores_by_group() -> None:
    recs = _records(200)
    refs = [r["reference"] for r in recs]
    preds = _noisy(refs, 0.4, 5)
    rep = E.evaluate(
        recs,
        {"m": preds},
        metrics=["rougeL", "bleu"],
        by="category",
        progress=False,
        n_samples=100,
        ar_trials=50,
    )
    g = rep.groups
    assert set(g.category) == {r["category"] for r in recs}
    assert g.groupby("metric").n.sum().tolist() == [200, 200]
    first = g[(g.metric == "bleu")].iloc[0]
    idx = [i for i, r in enumerate(recs) if r["category"] == first.category]
    assert first.score == pytest.approx(M.bleu([preds[i] for i in idx], [refs[i] for i in idx]).score)
    assert "By group" in rep.to_html(full=False)


def test_evaluate_bad_input() -> None:
    recs = _records(5)
    with pytest.raises(ValueError, match="has 2 predictions for 5 records"):
        E.evaluate(recs, {"a": ["x", "y"]}, progress=False)
    with pytest.raises(ValueError, match="row 1 has no reference"):
        E.evaluate([recs[0], {"input": "a"}], {"a": ["x", "y"]}, progress=False)
    with pytest.raises(ValueError, match="unknown metric"):
        E.evaluate(recs, {"a": ["x"] * 5}, metrics=["nope"], progress=False)
    with pytest.raises(RuntimeError, match="failed on row 0"):
        E.evaluate(recs, {"a": lambda s: 1 / 0}, retries=1, progress=False)


def test_plot_and_playground() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    recs = _records(50)
    refs = [r["reference"] for r in recs]
    rep = E.evaluate(
        recs,
        {"a": _noisy(refs, 0.3, 1), "b": refs},
        metrics=["rougeL"],
        progress=False,
        n_samples=100,
        ar_trials=100,
    )
    fig = rep.plot()
    assert len(fig.axes) == 2
    pg = E.playground({"upper": str.upper, "len": lambda s: str(len(s))}, ["ab", "cde"])
    assert pg["upper"].tolist() == ["AB", "CDE"] and pg["len"].tolist() == ["2", "3"]


def test_assert_no_regression_direct(tmp_path: Path) -> None:
    recs = _records(200)
    refs = [r["reference"] for r in recs]
    good = E.evaluate(
        recs, {"m": _noisy(refs, 0.1, 2)}, metrics=["rougeL"], progress=False, n_samples=50, ar_trials=50
    )
    worse = E.evaluate(
        recs, {"m": _noisy(refs, 0.6, 3)}, metrics=["rougeL"], progress=False, n_samples=50, ar_trials=50
    )
    path = tmp_path / "b.json"
    with pytest.raises(AssertionError, match="no baseline"):
        E.assert_no_regression(good, path, "rougeL", update=False)
    E.assert_no_regression(good, path, "rougeL", update=True)
    assert E.assert_no_regression(good, path, "rougeL", margin=0.0, update=False).non_inferior
    with pytest.raises(AssertionError, match=r"regressed(.|\n)*lower bound"):
        E.assert_no_regression(worse, path, "rougeL", margin=0.01, update=False)
    E.assert_no_regression(worse, path, "rougeL", margin=0.9, update=False)


def test_pytest_plugin_end_to_end(tmp_path: Path) -> None:
    test_file = tmp_path / "test_quality.py"
    test_file.write_text(
        textwrap.dedent("""
        import os
        from airtune import evaluate as E
        REFS = ["a b c d e f", "g h i j k", "l m n o p q"] * 20
        def test_quality(airtune_regression):
            drop = int(os.environ.get("DROP", "0"))
            preds = [" ".join(r.split()[: len(r.split()) - drop]) for r in REFS]
            recs = [{"input": r, "reference": r} for r in REFS]
            rep = E.evaluate(recs, {"m": preds}, metrics=["rougeL"], progress=False, n_samples=50, ar_trials=50)
            airtune_regression(rep, "quality.json", metric="rougeL", margin=0.01)
    """)
    )
    python_dir = str(Path(E.__file__).resolve().parents[1])
    env = {"PYTHONPATH": python_dir, "PATH": "/usr/bin:/bin"}

    # Installed, the plugin is registered through its pytest11 entry point; in a source tree it
    # is named explicitly (naming it twice is an error).
    registered = any(ep.value == "airtune.pytest_plugin" for ep in entry_points(group="pytest11"))
    plugin_args = [] if registered else ["-p", "airtune.pytest_plugin"]

    def run(*args: str, drop: str = "0") -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                *plugin_args,
                "-q",
                "-p",
                "no:cacheprovider",
                str(test_file),
                *args,
            ],
            capture_output=True,
            text=True,
            env=env | {"DROP": drop},
            cwd=tmp_path,
        )

    first = run()
    assert first.returncode == 1 and "--airtune-update-baselines" in first.stdout
    assert run("--airtune-update-baselines").returncode == 0
    assert (tmp_path / "baselines" / "quality.json").exists()
    assert run().returncode == 0
    regressed = run(drop="2")
    assert regressed.returncode == 1 and "| difference |" in regressed.stdout
