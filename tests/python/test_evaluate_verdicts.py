"""Verdicts that mean what they say: corpus metrics resampled as such, McNemar and Wilson (= statsmodels),
the three-way outcome with its minimum detectable effect and items needed (checked by simulation),
labels with an invalid bucket, bad metrics, the report's text form, plots and HTML."""

from __future__ import annotations

import math
import random
from pathlib import Path

import airtune
import numpy as np
import pytest
from airtune import evaluate as E
from airtune import metrics as M

pytest.importorskip("pandas")

LABELS = ["billing", "shipping", "returns", "other"]


def _labelled(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    weights = [0.5, 0.3, 0.15, 0.05]
    return [{"input": f"ticket {i}", "reference": rng.choices(LABELS, weights)[0]} for i in range(n)]


def _answers(refs: list[str], error: float, seed: int, messy: float = 0.0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for r in refs:
        x = rng.choice(LABELS) if rng.random() < error else r
        if rng.random() < messy:
            x = rng.choice([f"**{x.title()}**", f"<p>{x.upper()}</p>", f" {x}. ", "I am not sure, sorry."])
        out.append(x)
    return out


# --- McNemar and Wilson against statsmodels -------------------------------------------------------


def test_mcnemar_and_wilson_match_statsmodels() -> None:
    sm_ct = pytest.importorskip("statsmodels.stats.contingency_tables")
    sm_prop = pytest.importorskip("statsmodels.stats.proportion")
    rng = np.random.default_rng(4)
    for n, pa, flip in [(30, 0.7, 0.1), (97, 0.8, 0.2), (500, 0.6, 0.05), (2000, 0.9, 0.3), (12, 0.5, 0.0)]:
        a = (rng.random(n) < pa).astype(float)
        b = a.copy()
        f = rng.random(n) < flip
        b[f] = 1 - b[f]
        ours = M.mcnemar(a, b)
        table = [[((a == 1) & (b == 1)).sum(), ours["a_only"]], [ours["b_only"], ((a == 0) & (b == 0)).sum()]]
        theirs = sm_ct.mcnemar(table, exact=True)
        assert ours["statistic"] == theirs.statistic
        assert ours["p_value"] == pytest.approx(theirs.pvalue, rel=1e-10, abs=1e-300)
        for level in (0.9, 0.95, 0.99):
            k = int(a.sum())
            lo, hi = sm_prop.proportion_confint(k, n, alpha=1 - level, method="wilson")
            assert M.wilson_interval(k, n, level=level) == pytest.approx((lo, hi), abs=1e-12)
    assert M.wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="row 2 is 0.5"):
        M.mcnemar([1, 0, 0.5], [1, 1, 1])


# --- corpus-level metrics under resampling -------------------------------------------------------


def test_macro_f1_bootstrap_recomputes_sklearn_on_every_resample() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    recs = _labelled(300)
    refs = [r["reference"] for r in recs]
    preds = _answers(refs, 0.3, 1)
    res = M.classification(refs, preds, labels=LABELS, statistic="macro_f1")
    assert res.is_corpus and res.name == "macro_f1"
    assert res.score == pytest.approx(
        sk.f1_score(refs, preds, labels=LABELS, average="macro", zero_division=0)
    )
    boots = airtune._core.metrics.bootstrap(res.stats, res.aggregate, res.options, 40, 9)
    idx = airtune._core.metrics.resample_indices(len(refs), 0, 40, 9)
    for r, row in enumerate(idx):
        want = sk.f1_score(
            [refs[i] for i in row], [preds[i] for i in row], labels=LABELS, average="macro", zero_division=0
        )
        assert boots[r] == pytest.approx(want, abs=1e-12)
    # A declared Python corpus metric gets the same draws: its intervals equal the C++ ones.
    py_macro = M.corpus_metric(
        lambda h, g: sk.f1_score(g, h, labels=LABELS, average="macro", zero_division=0), "macro_f1"
    )
    pr = py_macro(preds, refs)
    assert pr.score == pytest.approx(res.score)
    assert E.bootstrap_ci(pr, n_samples=60, seed=3) == pytest.approx(
        E.bootstrap_ci(res, n_samples=60, seed=3)
    )
    other = _answers(refs, 0.2, 2)
    pb_cpp = E.paired_bootstrap(
        res, M.classification(refs, other, labels=LABELS, statistic="macro_f1"), n_samples=60
    )
    pb_py = E.paired_bootstrap(pr, py_macro(other, refs), n_samples=60)
    assert pb_py.ci == pytest.approx(pb_cpp.ci) and pb_py.p_value == pytest.approx(pb_cpp.p_value)


def test_hierarchical_f1_is_a_corpus_statistic() -> None:
    gold = ["A > B > C", "A > B > D", "E > F", "A > B"] * 25
    pred = ["A > B > C", "A > X > D", "E", "Nope > Path"] * 25
    r = M.taxonomy_accuracy(gold, pred, statistic="hierarchical_f1")
    assert r.is_corpus and r.score == pytest.approx(2 * 5 / (9 + 10))
    exact = M.taxonomy_accuracy(gold, pred)
    assert exact.select("hierarchical_f1").score == pytest.approx(r.score)
    lo, hi = E.bootstrap_ci(r, n_samples=200)
    assert lo <= r.score <= hi
    # The resampled statistic is the ratio of sums, not the mean of per-item F1s.
    assert r.score != pytest.approx(float(r.per_item.mean()))


def test_evaluate_decides_on_corpus_metrics_and_refuses_misdeclared_callables() -> None:
    recs = _labelled(200)
    refs = [r["reference"] for r in recs]
    models = {"api": _answers(refs, 0.2, 1), "tuned": _answers(refs, 0.15, 2)}
    rep = E.evaluate(
        recs,
        models,
        metrics=["macro_f1", "accuracy", "bleu"],
        margin=0.05,
        progress=False,
        n_samples=200,
        ar_trials=100,
    )
    t = rep.table.set_index(["model", "metric"])
    want = M.classification(refs, models["tuned"], labels="gold", statistic="macro_f1").score
    assert t.loc[("tuned", "macro_f1"), "score"] == pytest.approx(want)
    assert t.loc[("tuned", "macro_f1"), "kind"] == "corpus"
    assert (
        t.loc[("tuned", "accuracy"), "kind"] == "0/1 mean"
        and t.loc[("tuned", "accuracy"), "ci_method"] == "wilson"
    )
    assert t.loc[("tuned", "bleu"), "kind"] == "corpus"
    assert set(rep.verdicts.metric) == {"macro_f1", "accuracy", "bleu"}
    comp = rep.comparisons.set_index(["model", "metric"])
    assert not math.isnan(comp.loc[("tuned", "accuracy"), "p_mcnemar"])
    assert math.isnan(comp.loc[("tuned", "macro_f1"), "p_mcnemar"])
    # The old trap: a macro-F1 "callable" that returns a classification result scored by accuracy.
    with pytest.raises(ValueError, match="scored as 'accuracy'.*select\\('macro_f1'\\)"):
        E.evaluate(recs, models, metrics=[("macro_f1", lambda h, r: M.classification(r, h))], progress=False)
    # A bare float is a corpus statistic that must be declared.
    with pytest.raises(TypeError, match="corpus_metric"):
        E.evaluate(recs, models, metrics=[("f", lambda h, r: 0.5)], progress=False)
    # Declared, it decides like any other metric (a numpy macro-F1: it runs on every resample).
    sk = pytest.importorskip("sklearn.metrics")

    def np_macro(h: list, r: list) -> float:
        h, r = np.asarray(h), np.asarray(r)
        f1 = []
        for lab in sorted(set(r.tolist()) | set(h.tolist())):
            tp, p, t = np.sum((h == lab) & (r == lab)), np.sum(h == lab), np.sum(r == lab)
            f1.append(2 * tp / (p + t) if p + t else 0.0)
        return float(np.mean(f1))

    rep2 = E.evaluate(
        recs,
        models,
        progress=False,
        n_samples=100,
        ar_trials=50,
        margin=0.05,
        metrics=[M.corpus_metric(np_macro, "sk_macro")],
    )
    assert rep2.table.set_index(["model", "metric"]).loc[("tuned", "sk_macro"), "score"] == pytest.approx(
        sk.f1_score(refs, models["tuned"], average="macro")
    )
    assert rep2.verdicts.outcome.iloc[0] in E.OUTCOMES


# --- labels, normaliser, invalid bucket ------------------------------------------------------------


def test_allowed_labels_normaliser_and_invalid_bucket() -> None:
    recs = _labelled(240, seed=3)
    refs = [r["reference"] for r in recs]
    messy = _answers(refs, 0.1, 4, messy=0.4)
    rep = E.evaluate(
        recs,
        {"m": messy},
        metrics=["accuracy", "macro_f1"],
        labels=LABELS,
        normalize=True,
        progress=False,
        n_samples=100,
        ar_trials=50,
    )
    res = rep.results["m"]["accuracy"]
    n_invalid = sum(x == "I am not sure, sorry." for x in messy)
    assert n_invalid > 0 and res.details["invalid"] == n_invalid
    assert rep.table.set_index("metric").loc["accuracy", "invalid"] == n_invalid
    assert res.details["invalid_examples"] == [("I am not sure, sorry.", n_invalid)]
    assert res.details["labels"] == LABELS  # macro statistics over the allowed labels only
    norm = M.LabelNormalizer()
    cleaned = [next((lab for lab in LABELS if norm(lab) == norm(x)), None) for x in messy]
    want = np.mean([c == r for c, r in zip(cleaned, refs)])
    assert res.score == pytest.approx(want)
    # Without the normaliser "**Billing**" is not a label: invalid, wrong, and not a new class.
    raw = M.REGISTRY["accuracy"](messy, refs)
    assert raw.details["labels"] == sorted(set(refs)) and raw.details["invalid"] > n_invalid
    assert norm("```json\n<b>Food, Beverages &amp; Tobacco</b>\n```") == norm("food beverages & tobacco")
    with pytest.raises(ValueError, match="normalise to the same key"):
        M.classification(["a"], ["a"], labels=["Yes", "yes."], normalize=True)
    with pytest.raises(ValueError, match="y_true: row 1 has label 'maybe'"):
        M.classification(["yes", "maybe"], ["yes", "yes"], labels=["yes", "no"], normalize=True)
    assert "invalid" in rep.text()


# --- bad metrics -----------------------------------------------------------------------------------


def test_a_metric_that_raises_on_one_item() -> None:
    recs = [{"input": str(i), "reference": str(i)} for i in range(50)]
    preds = [str(i) if i != 7 else "seven" for i in range(50)]

    def strict(pred: str, ref: str) -> float:
        return float(int(pred) == int(ref))  # raises on "seven"

    rep = E.evaluate(
        recs, {"m": preds}, metrics=[M.item_metric(strict)], progress=False, n_samples=50, ar_trials=20
    )
    assert rep.table.errors.iloc[0] == 1 and rep.table.score.iloc[0] == pytest.approx(49 / 50)
    assert rep.errors.row.tolist() == [7] and "ValueError" in rep.errors.error.iloc[0]
    with pytest.raises(ValueError, match="row 7"):
        E.evaluate(recs, {"m": preds}, metrics=[M.item_metric(strict, on_error="raise")], progress=False)

    def batch(hyps: list, refs: list) -> M.MetricResult:
        return M.exact_match([str(int(h)) for h in hyps], refs)

    with pytest.raises(ValueError, match="metric 'batch' failed on model 'm': row 7: invalid literal"):
        E.evaluate(recs, {"m": preds}, metrics=[batch], progress=False)


# --- the three-way verdict and its power ----------------------------------------------------------


def _binary(values: np.ndarray) -> M.MetricResult:
    v = np.asarray(values, dtype=np.float64)
    return M.MetricResult("acc", float(v.mean()), v, v.reshape(-1, 1), "mean", {"column": 0})


def _continuous(values: np.ndarray) -> M.MetricResult:
    return _binary(values)


def test_three_outcomes_and_the_reading() -> None:
    rng = np.random.default_rng(0)
    base = (rng.random(97) < 0.8).astype(float)
    small = base.copy()
    small[rng.choice(97, 6, replace=False)] = 1 - small[rng.choice(97, 6, replace=False)]
    r = E.non_inferiority(_binary(small), _binary(base), margin=0.02)
    assert r.outcome == "inconclusive" and not r.non_inferior
    assert r.reading.startswith(f"97 items cannot tell; about {int(r.n_needed):,} would")
    assert r.n_needed > 97 and r.sd_method == "discordance"
    same = E.non_inferiority(_binary(base), _binary(base), margin=0.0)
    assert same.outcome == "replaceable" and same.reading.startswith("replaceable")
    worse = base.copy()
    worse[base == 1] = (rng.random(int(base.sum())) < 0.6).astype(float)
    bad = E.non_inferiority(_binary(worse), _binary(base), margin=0.02)
    assert bad.outcome == "not replaceable" and bad.upper_bound < -0.02 and "not replaceable" in bad.reading
    # A difference exactly on the margin: no number of items settles it.
    assert E.sample_size(0.3, -0.05, 0.05) == math.inf


def _power_by_simulation(draw, n: int, margin: float, sims: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    wins = 0
    for s in range(sims):
        cand, base = draw(rng, n)
        r = E.non_inferiority(cand, base, margin=margin, n_samples=400, seed=s)
        wins += r.outcome == "replaceable"
    return wins / sims


@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_items_needed_and_mde_reach_the_stated_power_in_simulation(kind: str) -> None:
    margin = 0.05
    if kind == "binary":
        p10, p01 = 0.10, 0.12  # candidate right where the baseline fails / the other way round
        delta, sd = p10 - p01, math.sqrt((p10 + p01) - (p10 - p01) ** 2)

        def draw(rng: np.random.Generator, n: int) -> tuple:
            base = (rng.random(n) < 0.7).astype(float)
            u = rng.random(n)
            cand = base.copy()
            cand[(base == 0) & (u < p10 / 0.3)] = 1
            cand[(base == 1) & (u < p01 / 0.7)] = 0
            return _binary(cand), _binary(base)

    else:
        delta, sd = -0.01, 0.25

        def draw(rng: np.random.Generator, n: int) -> tuple:
            base = rng.normal(0.5, 0.2, n)
            return _continuous(base + rng.normal(delta, sd, n)), _continuous(base)

    n = int(E.sample_size(sd, delta, margin, power=0.8))
    assert 150 < n < 2000
    power = _power_by_simulation(draw, n, margin, sims=300, seed=1)
    assert abs(power - 0.8) < 0.08, (n, power)
    # The observed sd is what the verdict uses: close to the design value.
    c, b = draw(np.random.default_rng(5), n)
    r = E.non_inferiority(c, b, margin=margin)
    assert r.sd == pytest.approx(sd, rel=0.15)
    # MDE: at n items a true gap to the margin of one MDE is found with the stated power ...
    mde = E.minimum_detectable_effect(sd, n, power=0.8)
    assert mde == pytest.approx(delta + margin, rel=0.02)
    # ... and a quarter of the items has a lower power.
    assert _power_by_simulation(draw, n // 4, margin, sims=150, seed=2) < 0.55


def test_connor_sample_size_for_mcnemar_matches_simulation() -> None:
    p10, p01 = 0.15, 0.07
    n = int(E.mcnemar_sample_size(p10, p01, alpha=0.05, power=0.8))
    rng = np.random.default_rng(3)
    hits = 0
    sims = 600
    for _ in range(sims):
        u = rng.random(n)
        a = np.ones(n)
        b = np.ones(n)
        a[u < p10] = 0  # only b right
        b[(u >= p10) & (u < p10 + p01)] = 0  # only a right
        hits += M.mcnemar(a, b)["p_value"] < 0.05
    # Connor's approximation with the exact test: within a few points of the stated power.
    assert abs(hits / sims - 0.8) < 0.06, (n, hits / sims)


# --- report text, plots, HTML ----------------------------------------------------------------------


def _classification_report() -> E.EvalReport:
    recs = _labelled(97, seed=8)
    refs = [r["reference"] for r in recs]
    models = {"api": _answers(refs, 0.2, 1), "tuned": _answers(refs, 0.22, 2, messy=0.05)}
    return E.evaluate(
        recs,
        models,
        metrics=["accuracy", "macro_f1"],
        labels=LABELS,
        margin=0.02,
        progress=False,
        n_samples=200,
        ar_trials=100,
    )


def test_text_form_is_a_short_table() -> None:
    rep = _classification_report()
    text = repr(rep)
    assert text == str(rep) and text.startswith("EvalReport: 2 models on 97 items, baseline 'api'")
    assert (
        len(text.splitlines()) < 15
        and "array" not in text
        and "[0." not in text.split("verdicts")[0].split("\n")[0]
    )
    assert "97 items cannot tell; about" in text or "replaceable" in text
    for r in rep.verdicts.itertuples():
        assert r.reading in text
    html = rep._repr_html_()
    assert "<table" in html and "verdict" in html and len(html) < 60_000


def test_plots_fit_the_metric() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rep = _classification_report()
    fig = rep.plot("accuracy")
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 3 and "wilson" in titles[0]  # bars + one confusion matrix per model
    assert titles[1].startswith("api: accuracy") and "invalid" in titles[2]
    plt.close(fig)
    fig = rep.plot("accuracy", kind="distributions")  # 0/1: the paired outcomes, not a histogram
    assert "paired outcomes" in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="no per-group scores"):
        rep.plot("accuracy", kind="groups")
    recs = _labelled(120, seed=2)
    for i, r in enumerate(recs):
        r["group"] = "even" if i % 2 else "odd"
    refs = [r["reference"] for r in recs]

    def judge(inp: str, out: str, ref: str) -> str:
        return f"Score: {5 if out == ref else 2}" if len(inp) % 7 else "no idea"

    rep2 = E.evaluate(
        recs,
        {"api": _answers(refs, 0.3, 1), "tuned": _answers(refs, 0.1, 2)},
        metrics=["accuracy"],
        judge=judge,
        by="group",
        progress=False,
        n_samples=100,
        ar_trials=50,
    )
    fig = rep2.plot("judge")
    ax = fig.axes[1]
    assert "score distribution per model" in ax.get_title()
    assert len(ax.get_lines()) == 2  # candidate and baseline on the same axes
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "no score"
    assert "by group" in fig.axes[2].get_title()
    plt.close(fig)
    fig = rep2.plot("accuracy", kind="groups")
    assert len(fig.axes[0].containers) >= 2  # bars (with error bars) per model
    plt.close(fig)


def test_html_export_is_self_contained_and_renders(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from browser import render

    rep = _classification_report()
    page = tmp_path / "report.html"
    rep.to_html(page)
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "data:image/png;base64," in text
    for attr in ('src="http', "src='http", 'href="http', "<link", "@import"):
        assert attr not in text
    out = render(page, tmp_path)
    assert out.console == [], out.console
    assert "cannot tell" in out.dom or "replaceable" in out.dom
    assert out.screenshot.parent == tmp_path
