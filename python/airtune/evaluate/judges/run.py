"""Judges inside :func:`airtune.evaluate.evaluate`: every model's outputs scored by one judge or
several, as metrics "judge:<criterion>" with their buckets, summaries, agreement between judges and
pairwise comparisons with the baseline."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...metrics._result import MetricResult
from ..cache import PredictionCache
from .pairwise import PairwiseJudge
from .rubric import RubricJudge
from .scores import judge_agreement, likert_summary, parse_judge_outputs


@dataclass
class JudgeRun:
    metrics: list[str] = field(default_factory=list)
    results: dict[str, dict[str, MetricResult]] = field(default_factory=dict)
    info: dict[str, dict] = field(default_factory=dict)
    agreement: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    pairwise: list[dict] = field(default_factory=list)


def judge_result(scores: np.ndarray, status: np.ndarray | None = None) -> MetricResult:
    """A judge metric: unparsed, off-scale and failed answers count as the lowest score in the
    mean (never silently dropped); ``per_item`` keeps them NaN for the histograms."""
    filled = np.where(np.isnan(scores), 1.0, scores)
    res = MetricResult("judge", float(filled.mean()), scores, filled.reshape(-1, 1), "mean", {"column": 0})
    res.details = {"unparsed": int(np.isnan(scores).sum())}
    if status is not None:
        res.details |= {
            "off_scale": int((status == "off-scale").sum()),
            "errors": int((status == "error").sum()),
        }
    return res


def _summary(scores: np.ndarray, status: np.ndarray, n_samples: int, seed: int, spread: dict | None) -> dict:
    s = likert_summary(scores, n_samples=n_samples, seed=seed)
    s["off_scale"] = int((status == "off-scale").sum())
    s["errors"] = int((status == "error").sum())
    if spread is not None:
        s["spread"] = spread
    return s


def _legacy(
    judge: Callable[[Any, str, Any], Any], inputs: list, outputs: list, refs: list, model: str, run: JudgeRun
) -> dict:
    """A plain callable(input, output, reference) -> text / number / dict criterion -> text, called
    item by item; an item on which it raises lands in the "error" bucket."""
    raw: list[Any] = []
    for i, (inp, out, ref) in enumerate(zip(inputs, outputs, refs)):
        try:
            raw.append(judge(inp, out, ref))
        except Exception as exc:  # one failing judge call is counted, never a crash mid-run
            raw.append(None)
            run.errors.append(
                {"model": model, "metric": "judge", "row": i, "error": f"{type(exc).__name__}: {exc}"}
            )
    return _split_criteria(raw, model)


def _split_criteria(raw: list, model: str) -> dict:
    """Judge outputs per criterion: a judge may return one text/number, or a dict criterion -> text."""
    dicts = [x for x in raw if isinstance(x, Mapping)]
    if dicts and len(dicts) == sum(x is not None for x in raw):
        keys = list(dicts[0])
        for i, x in enumerate(raw):
            if x is not None and list(x) != keys:
                raise ValueError(
                    f"judge for model {model!r}: row {i} has criteria {list(x)}, expected {keys}"
                )
        return {k: [None if x is None else x[k] for x in raw] for k in keys}
    if dicts:
        raise ValueError(f"judge for model {model!r} returned a dict for some rows only")
    return {None: raw}


def run_judges(
    judge: Any,
    pairwise: PairwiseJudge | None,
    *,
    names: list[str],
    baseline: str,
    inputs: list,
    predictions: dict[str, list[str]],
    refs: list,
    cache: PredictionCache | None,
    n_samples: int,
    seed: int,
    progress: bool,
) -> JudgeRun:
    run = JudgeRun()
    if judge is not None:
        judges = dict(judge) if isinstance(judge, Mapping) else {None: judge}
        if not judges:
            raise ValueError("judge: an empty dict of judges")
        per_judge: dict[
            Any, dict[str, dict[str, np.ndarray]]
        ] = {}  # judge -> model -> criterion -> item scores
        for jname, j in judges.items():
            suffix = "" if jname is None else f"@{jname}"
            per_judge[jname] = {}
            for model in names:
                if isinstance(j, RubricJudge):
                    js = j.score(inputs, predictions[model], refs, cache=cache, progress=progress)
                    crits: dict[str, tuple[np.ndarray, np.ndarray, dict[str, float] | None]] = {}
                    for c in js.criteria:
                        crits[f"judge:{c}{suffix}"] = (
                            js.item_scores(c),
                            _item_status(js.status[c]),
                            js.spread(c),
                        )
                        for i, msg in js.errors[c].items():
                            run.errors.append(
                                {"model": model, "metric": f"judge:{c}{suffix}", "row": i, "error": msg}
                            )
                elif callable(j):
                    crits = {}
                    for c, values in _legacy(j, inputs, predictions[model], refs, model, run).items():
                        scores, status = parse_judge_outputs(values)
                        crits[("judge" if c is None else f"judge:{c}") + suffix] = (scores, status, None)
                else:
                    raise TypeError(
                        f"judge {j!r}: expected a RubricJudge or a callable(input, output, reference)"
                    )
                for mname, (scores, status, spread) in crits.items():
                    if mname not in run.metrics:
                        run.metrics.append(mname)
                    run.results.setdefault(model, {})[mname] = judge_result(scores, status)
                    run.info.setdefault(model, {})[mname] = _summary(scores, status, n_samples, seed, spread)
                    per_judge[jname].setdefault(model, {})[mname.removesuffix(suffix)] = scores
        for model in names:
            missing = [c for c in run.metrics if c not in run.results.get(model, {})]
            if missing:
                raise ValueError(f"judge returned no {missing} for model {model!r}")
        if run.metrics == ["judge"]:
            run.info = {model: info["judge"] for model, info in run.info.items()}
        keys = list(per_judge)
        for x in range(len(keys)):
            for y in range(x + 1, len(keys)):
                for model in names:
                    for crit, sa in per_judge[keys[x]][model].items():
                        sb = per_judge[keys[y]][model].get(crit)
                        if sb is None or not (~np.isnan(sa) & ~np.isnan(sb)).any():
                            continue
                        run.agreement.append(
                            {"model": model, "criterion": crit, "judge_a": keys[x], "judge_b": keys[y]}
                            | judge_agreement(sa, sb)
                        )
    if pairwise is not None:
        if not isinstance(pairwise, PairwiseJudge):
            raise TypeError("pairwise: expected a PairwiseJudge")
        for model in names:
            if model == baseline:
                continue
            res = pairwise.compare(
                inputs,
                predictions[baseline],
                predictions[model],
                refs,
                names=(baseline, model),
                cache=cache,
                progress=progress,
            )
            run.pairwise.append(res.row())
            for i, msg in res.errors.items():
                run.errors.append(
                    {"model": model, "metric": f"pairwise:{res.criterion}", "row": i, "error": msg}
                )
    return run


def _item_status(status: np.ndarray) -> np.ndarray:
    """One status per item from its samples: ok if any sample parsed, else the first sample's."""
    ok = (status == "ok").any(axis=1)
    return np.where(ok, "ok", status[:, 0]).astype(object)
