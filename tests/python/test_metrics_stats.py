"""Resampling statistics, judges, taxonomy, JSON and bad input of airtune.metrics."""

from __future__ import annotations

import json

import airtune
import numpy as np
import pytest
from airtune import metrics as M

sacrebleu = pytest.importorskip("sacrebleu")

RNG = np.random.default_rng(11)
VOCAB = "the cat sat on a mat dog ran fast slow big small red blue one two three".split()
REFS = [" ".join(RNG.choice(VOCAB, RNG.integers(3, 15))) for _ in range(300)]
HYP_A = [" ".join(w for w in r.split() if RNG.random() > 0.4) for r in REFS]
HYP_B = [" ".join(w for w in r.split() if RNG.random() > 0.2) for r in REFS]


def test_bootstrap_reproduces_sacrebleu_with_same_indices() -> None:
    from sacrebleu.significance import estimate_ci

    res = M.bleu(HYP_A, REFS)
    metric = sacrebleu.BLEU()
    stats = metric._extract_corpus_statistics(HYP_A, [REFS])
    rng = np.random.default_rng(12345)
    idx = rng.choice(len(stats), size=(200, len(stats)), replace=True)
    theirs = np.array(
        [metric._compute_score_from_stats(s.sum(0)).score for s in np.array(stats, dtype="float32")[idx]]
    )
    ours = airtune._core.metrics.bootstrap(res.stats, "bleu", res.options, 200, 0, idx)
    # sacreBLEU sums and scores resamples in float32; we use float64, so agreement is to ~1e-7.
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert estimate_ci(ours) == pytest.approx(estimate_ci(theirs), rel=1e-5)


def test_approximate_randomization_reproduces_sacrebleu_with_same_swaps() -> None:
    a, b = M.chrf(HYP_A, REFS), M.chrf(HYP_B, REFS)
    metric = sacrebleu.CHRF()
    sa = np.array(metric._extract_corpus_statistics(HYP_A, [REFS]))
    sb = np.array(metric._extract_corpus_statistics(HYP_B, [REFS]))
    pos = np.random.default_rng(5).integers(2, size=(100, len(REFS)), dtype=bool)
    shuf_a = pos @ sa + ~pos @ sb
    shuf_b = ~pos @ sa + pos @ sb
    want_a = [metric._compute_score_from_stats(x).score for x in shuf_a]
    want_b = [metric._compute_score_from_stats(x).score for x in shuf_b]
    got = airtune._core.metrics.approximate_randomization(
        a.stats, b.stats, "chrf", a.options, 100, 0, (~pos).astype(np.uint8)
    )
    np.testing.assert_allclose(got[0], want_a, atol=1e-9)
    np.testing.assert_allclose(got[1], want_b, atol=1e-9)


def test_resampling_is_deterministic_across_threads() -> None:
    a, b = M.bleu(HYP_A, REFS), M.bleu(HYP_B, REFS)
    old = airtune.get_num_threads()
    try:
        airtune.set_num_threads(1)
        r1 = (
            M.bootstrap_ci(a, seed=3),
            M.paired_bootstrap(a, b, seed=3).p_value,
            M.approximate_randomization(a, b, n_trials=500, seed=3).p_value,
            M.bleu(HYP_A, REFS).stats,
        )
        airtune.set_num_threads(2)
        r2 = (
            M.bootstrap_ci(a, seed=3),
            M.paired_bootstrap(a, b, seed=3).p_value,
            M.approximate_randomization(a, b, n_trials=500, seed=3).p_value,
            M.bleu(HYP_A, REFS).stats,
        )
    finally:
        airtune.set_num_threads(old)
    assert r1[:3] == r2[:3]
    np.testing.assert_array_equal(r1[3], r2[3])
    assert M.bootstrap_ci(a, seed=4) != M.bootstrap_ci(a, seed=3)


def test_bootstrap_ci_covers_score_and_mean_bootstrap_matches_numpy() -> None:
    a = M.bleu(HYP_A, REFS)
    lo, hi = M.bootstrap_ci(a)
    assert lo < a.score < hi
    r = M.rouge(HYP_A, REFS, rouge_types=["rougeL"])
    scores = airtune._core.metrics.bootstrap(
        r.stats, "mean", {"column": 0}, 50, 0, np.tile(np.arange(len(REFS)), (50, 1))
    )
    np.testing.assert_allclose(scores, r.score)


def test_significance_detects_a_real_difference_and_not_a_fake_one() -> None:
    a, b = M.bleu(HYP_A, REFS), M.bleu(HYP_B, REFS)
    assert b.score > a.score
    pb = M.paired_bootstrap(a, b)
    ar = M.approximate_randomization(a, b, n_trials=2000)
    assert pb.p_value < 0.01 and ar.p_value < 0.01 and pb.ci[0] > 0
    same = M.approximate_randomization(a, M.bleu(HYP_A, REFS), n_trials=500)
    assert same.p_value == 1.0
    with pytest.raises(ValueError, match="different items"):
        M.paired_bootstrap(a, M.bleu(HYP_B[:10], REFS[:10]))


def test_non_inferiority_verdicts() -> None:
    a, b = M.rouge(HYP_A, REFS, rouge_types=["rougeL"]), M.rouge(HYP_B, REFS, rouge_types=["rougeL"])
    better = M.non_inferiority(b, a, margin=0.02)
    assert better.non_inferior and better.superior
    worse = M.non_inferiority(a, b, margin=0.02)
    assert not worse.non_inferior
    loose = M.non_inferiority(a, b, margin=1.0)
    assert loose.non_inferior and not loose.superior
    with pytest.raises(ValueError, match="margin"):
        M.non_inferiority(a, b, margin=float("nan"))


def test_judge_parsing_and_likert_summary() -> None:
    outs = ["Score: 4", "[[5]]", "The answer is fine. Rating: 3/5", "I cannot judge", "[2]", "7", None, "1"]
    s = M.parse_judge_scores(outs)
    np.testing.assert_array_equal(np.isnan(s), [False, False, False, True, False, True, True, False])
    assert s[~np.isnan(s)].tolist() == [4, 5, 3, 2, 1]
    summary = M.likert_summary(s)
    assert summary["histogram"] == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, "unparsed": 3}
    assert summary["mean"] == 3.0 and summary["ci"][0] <= 3.0 <= summary["ci"][1]
    assert summary["unparsed_rate"] == 3 / 8


def test_judge_agreement_matches_sklearn() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    a = rng.integers(1, 6, 200).astype(float)
    b = np.clip(a + rng.integers(-1, 2, 200), 1, 5)
    b[:5] = np.nan
    r = M.judge_agreement(a, b)
    assert r["n"] == 195 and r["missing"] == 5
    assert r["exact"] == pytest.approx(float((a[5:] == b[5:]).mean()))
    assert r["within_1"] == 1.0
    assert r["kappa_quadratic"] == pytest.approx(sk.cohen_kappa_score(a[5:], b[5:], weights="quadratic"))
    assert -1 <= r["alpha_ordinal"] <= 1 and r["alpha_interval"] > 0.5
    with pytest.raises(ValueError, match="different numbers"):
        M.judge_agreement([1, 2], [1])


def test_taxonomy_levels_and_hierarchical_f() -> None:
    gold = ["A > B > C", "A > B > D", "E > F", "A > B"]
    pred = ["A > B > C", "A > X > D", "E", "Nope > Path"]
    valid = ["A > B > C", "A > X > D", "E", "A > B", "A > B > D", "E > F", "A", "A > X"]
    r = M.taxonomy_accuracy(gold, pred, valid_paths=valid)
    levels = {x["level"]: (x["accuracy"], x["n"]) for x in r.details["levels"]}
    assert levels == {1: (0.75, 4), 2: (0.25, 4), 3: (0.5, 2)}
    assert r.score == 0.25 and r.details["invalid"] == 1
    # common = [3, 1, 1, 0]; pred depths [3, 3, 1, 2]; gold depths [3, 3, 2, 2]
    assert r.details["hierarchical_precision"] == pytest.approx(5 / 9)
    assert r.details["hierarchical_recall"] == pytest.approx(5 / 10)
    assert (
        M.taxonomy_accuracy(
            ["Food, Beverages & Tobacco > Food"],
            ["food, beverages & tobacco>food"],
            sep=">",
            case_sensitive=False,
        ).score
        == 1.0
    )
    with pytest.raises(ValueError, match="gold: row 0"):
        M.taxonomy_accuracy([""], ["A"])


def test_json_validity_strict_lenient_and_schema() -> None:
    outs = [
        '{"a": 1, "b": "x"}',
        '```json\n{"a": 2, "b": "y"}\n```',
        'Sure! {"a": "3"} hope it helps',
        "{'a': 1}",
        '{"a": NaN}',
        "",
        "[1, 2]",
        '{"b": "z"}',
    ]
    r = M.json_validity(outs, required={"a": "integer", "b": "string"})
    assert r.columns["status"].tolist() == [
        "strict",
        "lenient",
        "lenient",
        "invalid",
        "invalid",
        "invalid",
        "strict",
        "strict",
    ]
    assert r.per_item.tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    assert r.columns["problem"][2] == "wrong type: 'a'" and r.columns["problem"][6] == "not an object"
    assert r.columns["problem"][7] == "missing key: 'a'"
    for text in outs:
        try:
            json.loads(text)
            strict_py = True
        except ValueError:
            strict_py = False
        if "NaN" not in text:
            assert strict_py == (M.json_validity([text]).columns["status"][0] == "strict"), text


def test_length_stats() -> None:
    r = M.length_stats(["héllo world", "", "a  b\tc"])
    assert r.columns["bytes"].tolist() == [12, 0, 6]
    assert r.columns["chars"].tolist() == [11, 0, 6]
    assert r.per_item.tolist() == [2, 0, 3]


def test_bad_input_names_the_row() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        M.bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="hyps: row 1 is None"):
        M.bleu(["a", None], ["a", "b"])
    with pytest.raises(ValueError, match="row 0 is not valid UTF-8"):
        M.chrf([b"\xff\xfe"], ["a"])
    with pytest.raises(ValueError, match="references: row 1 has no reference"):
        M.bleu(["a", "b"], [["a"], [None]])
    with pytest.raises(ValueError, match="references: row 1 is not valid Unicode"):
        M.rouge(["a", "b"], ["a", "b\udc80"])
    with pytest.raises(ValueError, match="unknown tokenizer"):
        M.bleu(["a"], ["a"], tokenize="zh")
    with pytest.raises(ValueError, match="invalid rouge type"):
        M.rouge(["a"], ["a"], rouge_types=["rougeX"])
    with pytest.raises(ValueError, match="NaN"):
        M.wilcoxon([1.0, float("nan")])
    with pytest.raises(TypeError, match="single str"):
        M.bleu("abc", ["abc"])
    assert M.bleu([], []).score == 0.0


def test_accepts_pandas_numpy_pyarrow_and_reports_missing_rows() -> None:
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    want = M.bleu(HYP_A[:50], REFS[:50]).score
    assert M.bleu(pd.Series(HYP_A[:50]), np.array(REFS[:50], dtype=object)).score == want
    assert M.bleu(pa.array(HYP_A[:50]), pd.Series(REFS[:50])).score == want
    assert M.rouge(np.array(HYP_A[:50]), REFS[:50]).score == M.rouge(HYP_A[:50], REFS[:50]).score
    with pytest.raises(ValueError, match="hyps: row 2 is NaN"):
        M.chrf(pd.Series(["a", "b", float("nan")]), ["a", "b", "c"])


def test_json_strict_conformance_cases() -> None:
    # In the spirit of nst/JSONTestSuite: y_ documents must parse, n_ documents must not.
    must_accept = [
        "[]",
        "{}",
        '"\\u00e9"',
        "1e5",
        "-0",
        "[1.5e-3]",
        " [1] ",
        '{"a":[{"b":null}]}',
        "true",
        '["\\ud83d\\ude00"]',
        '{"":0}',
        "[-1E+2]",
    ]
    must_reject = [
        "[1,]",
        '{"a":1,}',
        "01",
        "[.5]",
        '["\t"]',
        "[1 2]",
        "'a'",
        '["a\\x"]',
        "tru",
        "{}}",
        "[NaN]",
        "[Infinity]",
        '{"a" 1}',
        "[1.]",
        "",
        "   ",
        "[",
        '{"a":}',
    ]
    acc = M.json_validity(must_accept).columns["status"]
    rej = M.json_validity(must_reject).columns["status"]
    assert list(acc) == ["strict"] * len(must_accept)
    assert all(s != "strict" for s in rej), list(zip(must_reject, rej))
