"""LLM judges: rubric prompts, parsing with buckets, repeated sampling, pairwise judging in both orders
with position bias, agreement between judges (= the krippendorff package), the cache, bad judges."""

from __future__ import annotations

import random
import re
import threading
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from airtune import evaluate as E

pytest.importorskip("pandas")

WORDS = "fever cough headache aspirin penicillin allergy asthma diabetes nausea rash".split()


def _records(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        facts = rng.sample(WORDS, 4)
        out.append({"input": f"patient {i}: " + ", ".join(facts), "reference": " ".join(facts)})
    return out


def _drop(refs: list[str], rate: float, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(w for w in r.split() if rng.random() > rate) or "nothing" for r in refs]


def _block(prompt: str, name: str) -> str:
    m = re.search(rf"\[{re.escape(name)}\]\n(.*?)\n(?:\n\[|\nGrade|\nThe order)", prompt, re.S)
    return m.group(1).strip() if m else ""


class CountingJudge:
    """A stand-in for an LLM: grades by how many of the reference facts the answer keeps; answers
    "Score: 9" (off the scale) for one answer, no score for another, raises for a third."""

    def __init__(self, noise: int = 0) -> None:
        self.calls = Counter()
        self.noise = noise
        self.lock = threading.Lock()

    def __call__(self, prompt: str, seed: int = 0) -> str:
        with self.lock:
            self.calls[prompt] += 1
        answer, ref = _block(prompt, "Answer to grade"), _block(prompt, "Reference answer")
        if answer == "nothing":
            return "I cannot grade an empty answer."
        if answer.startswith("aspirin aspirin"):
            return "Reason: fine.\nScore: 9"
        if answer == "boom":
            raise ConnectionError("judge endpoint down")
        kept = len(set(answer.split()) & set(ref.split()))
        score = 1 + kept  # 4 facts -> 1..5
        if self.noise:
            score += random.Random(zlib.crc32(f"{seed}|{prompt}".encode())).randint(-self.noise, self.noise)
        return f"The answer keeps {kept} facts. A score of 5 needs all.\nScore: {min(max(score, 1), 5)}"


def test_rubric_judge_prompt_parsing_and_buckets(tmp_path: Path) -> None:
    model = CountingJudge()
    judge = E.RubricJudge(model, ["history_completeness", "relevance"], name="counting")
    prompt = judge.prompt(E.RUBRICS["history_completeness"], "patient 1: fever", "fever", "fever cough")
    assert "Criterion: history completeness" in prompt and "Score: N" in prompt
    assert "[Reference answer]\nfever cough" in prompt and "1 = most of the relevant history" in prompt
    outs = ["fever cough headache aspirin", "fever cough", "nothing", "aspirin aspirin", "boom"]
    refs = ["fever cough headache aspirin"] * 5
    res = judge.score(["q"] * 5, outs, refs, cache=str(tmp_path / "c.sqlite"), progress=False)
    s = res.item_scores("history_completeness")
    assert s[:2].tolist() == [5.0, 3.0] and np.isnan(s[2:]).all()
    assert res.counts("history_completeness") == {"ok": 2, "off-scale": 1, "unparsed": 1, "error": 1}
    assert "ConnectionError" in res.errors["relevance"][4]
    table = res.to_pandas().set_index("criterion")
    assert table.loc["relevance", "off_scale"] == 1 and table.loc["relevance", "error"] == 1
    # the last "Score:" counts (the reasoning above mentions another number)
    assert res.raw["relevance"][0][0].count("5") == 2
    # cached: a rerun asks the model nothing except the call that failed
    before = sum(model.calls.values())
    judge.score(["q"] * 5, outs, refs, cache=str(tmp_path / "c.sqlite"), progress=False)
    assert sum(model.calls.values()) - before == 2 * 3  # the failing row, 2 criteria x (1 + 2 retries)
    assert judge("q", "fever cough headache aspirin", refs[0]) == {
        "history_completeness": 5.0,
        "relevance": 5.0,
    }


def test_templates_are_checked_and_overridable() -> None:
    model = CountingJudge()
    custom = (
        "Grade {criterion} of:\n[Answer to grade]\n{output}\n\n[Reference answer]\n{reference}\n\nGrade it."
    )
    j = E.RubricJudge(model, {"faithfulness": "no invented facts"}, template=custom)
    assert j.prompt(j.rubrics[0], "x", "a b", "a b c").startswith("Grade faithfulness of:")
    assert j("x", "fever cough", "fever cough headache rash")["faithfulness"] == 3.0
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) \['answer'\]"):
        E.RubricJudge(model, template="{answer}")
    with pytest.raises(ValueError, match=r"must contain \{output\}"):
        E.RubricJudge(model, template="grade {input}")
    with pytest.raises(ValueError, match="not a ready rubric"):
        E.RubricJudge(model, ["helpfulness-ish"])
    with pytest.raises(ValueError, match="anchor 7"):
        E.Rubric("x", "y", {7: "too high"})


def test_repeated_sampling_reports_its_spread() -> None:
    recs = _records(40)
    refs = [r["reference"] for r in recs]
    outs = _drop(refs, 0.4, 1)
    steady = E.RubricJudge(CountingJudge(), "history_completeness", samples=3, name="steady").score(
        [r["input"] for r in recs], outs, refs, progress=False
    )
    noisy = E.RubricJudge(CountingJudge(noise=1), "history_completeness", samples=5, name="noisy").score(
        [r["input"] for r in recs], outs, refs, progress=False
    )
    sp, sn = steady.spread("history_completeness"), noisy.spread("history_completeness")
    assert sp["sd"] == 0 and sp["disagree"] == 0 and sn["sd"] > 0.3 and sn["disagree"] > 0.5
    assert sn["alpha"] < sp["alpha"] or np.isnan(sp["alpha"])
    assert noisy.scores["history_completeness"].shape == (40, 5)


def test_evaluate_with_two_judges_agreement_and_pairwise() -> None:
    krippendorff = pytest.importorskip("krippendorff")
    recs = _records(80)
    refs = [r["reference"] for r in recs]
    models = {"api": _drop(refs, 0.5, 1), "tuned": _drop(refs, 0.15, 2)}
    judges = {
        "exact": E.RubricJudge(CountingJudge(), "history_completeness", name="exact"),
        "noisy": E.RubricJudge(CountingJudge(noise=1), "history_completeness", name="noisy"),
    }
    rep = E.evaluate(
        recs,
        models,
        metrics=["rougeL"],
        judge=judges,
        pairwise=E.PairwiseJudge(PositionBiasedJudge(), "history_completeness"),
        margin={"judge:history_completeness@exact": 0.2},
        progress=False,
        n_samples=200,
        ar_trials=100,
    )
    assert (
        "judge:history_completeness@exact" in rep.metrics
        and "judge:history_completeness@noisy" in rep.metrics
    )
    ag = rep.judge_agreement.set_index("model")
    a = rep.results["tuned"]["judge:history_completeness@exact"].per_item
    b = rep.results["tuned"]["judge:history_completeness@noisy"].per_item
    want = krippendorff.alpha(reliability_data=np.vstack([a, b]), level_of_measurement="interval")
    assert ag.loc["tuned", "alpha_interval"] == pytest.approx(want, abs=1e-9)
    assert ag.loc["tuned", "alpha_ordinal"] == pytest.approx(
        krippendorff.alpha(reliability_data=np.vstack([a, b]), level_of_measurement="ordinal"), abs=1e-9
    )
    # intervals on the aggregated judge scores
    t = rep.table.set_index(["model", "metric"]).loc[("tuned", "judge:history_completeness@exact")]
    assert t.ci_low < t.score < t.ci_high and t.ci_method == "bootstrap"
    assert rep.verdicts.outcome.iloc[0] == "replaceable"
    pw = rep.pairwise.iloc[0]
    assert pw.model == "tuned" and pw.baseline == "api" and pw.wins > pw.losses and pw.p_sign < 0.01
    # the judge picks position A on close calls: measured, and cancelled by asking both orders
    assert pw.first_position_rate > 0.55 and pw.p_position < 0.05 and pw.consistency < 1
    close = sum(
        abs(len(set(x.split()) & set(r.split())) - len(set(y.split()) & set(r.split()))) <= 1
        for x, y, r in zip(models["api"], models["tuned"], refs)
    )
    assert pw.inconsistent == close and pw.ties == close
    assert "| tuned | api | history_completeness |" in rep.to_markdown()


class PositionBiasedJudge:
    """Prefers the answer keeping more facts; when they keep about as many, always says A."""

    def __call__(self, prompt: str) -> str:
        a, b = _block(prompt, "Answer A"), _block(prompt, "Answer B")
        ref = _block(prompt, "Reference answer")
        ka, kb = (len(set(x.split()) & set(ref.split())) for x in (a, b))
        if abs(ka - kb) <= 1:
            return "They look similar.\n[[A]]"
        return "[[A]]" if ka > kb else "[[B]]"


def test_pairwise_parsing_and_outcomes() -> None:
    v = E.judges.parse_pairwise(["x [[A]]", "[[b]]", "[[C]]", "[[tie]]", "none", None, "[[A]] then [[B]]"])
    assert v.tolist() == ["A", "B", "tie", "tie", "unparsed", "error", "B"]
    from airtune.evaluate.judges.pairwise import _combine

    first = np.array(["B", "A", "tie", "B", "A", "unparsed"], dtype=object)
    second = np.array(["A", "B", "tie", "tie", "A", "A"], dtype=object)
    assert _combine(first, second).tolist() == ["b", "a", "tie", "b", "inconsistent", "unparsed"]


def test_a_judge_that_fails_or_answers_off_scale_never_stops_the_run() -> None:
    recs = _records(30)
    refs = [r["reference"] for r in recs]

    def flaky(inp: str, out: str, ref: str) -> str:
        if inp.startswith("patient 3:"):
            raise TimeoutError("judge timed out")
        if inp.startswith("patient 4:"):
            return "Score: 11"
        return "Score: 4"

    rep = E.evaluate(
        recs, {"m": refs}, metrics=["rougeL"], judge=flaky, progress=False, n_samples=50, ar_trials=20
    )
    info = rep.judge["m"]
    assert info["errors"] == 1 and info["off_scale"] == 1 and info["histogram"]["unparsed"] == 2
    assert rep.errors.row.tolist() == [3] and "TimeoutError" in rep.errors.error.iloc[0]
    assert rep.table.set_index("metric").loc["judge", "invalid"] == 2
