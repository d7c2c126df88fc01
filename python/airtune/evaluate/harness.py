"""The evaluation harness: models x metrics on a test set, intervals, significance against the baseline,
non-inferiority verdicts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics as M
from .._results import require
from ..split.holdout import _as_records
from .cache import PredictionCache
from .judges import likert_summary, parse_judge_scores
from .models import GenerationParams
from .predict import predict_models
from .report import EvalReport
from .significance import (
    NonInferiorityResult,
    approximate_randomization,
    bootstrap_ci,
    non_inferiority,
    paired_bootstrap,
    wilcoxon,
)


def _resolve_metric(m: Any) -> tuple[str, Callable[..., M.MetricResult]]:
    if isinstance(m, str):
        if m not in M.REGISTRY:
            raise ValueError(f"unknown metric {m!r}; choose from {sorted(M.REGISTRY)} or pass a callable")
        return m, M.REGISTRY[m]
    if isinstance(m, tuple) and len(m) == 2 and callable(m[1]):
        return str(m[0]), m[1]
    if callable(m):
        return getattr(m, "__name__", "metric"), m
    raise TypeError(f"metric {m!r}: expected a name, a callable or (name, callable)")


def evaluate(
    records: Any,
    models: Mapping[str, Any],
    metrics: Sequence[Any] = ("bleu", "chrf", "rougeL"),
    *,
    input_key: str = "input",
    reference_key: str = "reference",
    baseline: str | None = None,
    margin: float | Mapping[str, float] | None = None,
    alpha: float = 0.05,
    judge: Callable[[Any, str, Any], Any] | None = None,
    cache: str | Path | PredictionCache | None = None,
    params: str = "",
    max_workers: int = 4,
    retries: int = 2,
    n_samples: int = 1000,
    ar_trials: int = 2000,
    seed: int = M.DEFAULT_SEED,
    by: str | None = None,
    progress: bool = True,
    generation: GenerationParams | Mapping[str, Any] | None = None,
    on_failure: str = "raise",
    model_options: Mapping[str, Any] | None = None,
    model_id: Mapping[str, str] | None = None,
) -> EvalReport:
    """Evaluate several models on the same records and compare each with the baseline.

    ``records``: dicts (or a DataFrame / HF dataset) with ``input_key`` and ``reference_key``
    (a reference may be a list of references). ``models``: name -> a model, as
    :func:`airtune.evaluate.resolve_model` takes it: a callable(input) -> output (run concurrently,
    ``max_workers``, with ``retries``), precomputed predictions, a model folder, an adapter folder or
    ``{"base": ..., "adapter": ...}`` (generated on airtune's runtime with the prompt format the
    model was trained with, checked row by row), ``{"endpoint": url, "model": name, ...}`` (an
    OpenAI-compatible server), or any :class:`~airtune.evaluate.models.GenerativeModel`.
    ``generation``: :class:`~airtune.evaluate.models.GenerationParams` (max_tokens, temperature,
    top_p, top_k, seed, stop). ``model_options``: dtype, device, batch_size, prompt_format for local
    models. Answers are cached in SQLite at ``cache`` by (model identity, input, generation
    parameters + ``params``), each as soon as it arrives; a callable's identity is a fingerprint of
    its code, defaults, closure and the globals it reads (:mod:`airtune.evaluate.identity` says what
    is covered), so editing or breaking it is never served the old answers; ``model_id={name: "v3"}``
    sets a model's identity yourself (``report.settings["model_identities"]`` shows them). Prompts that fail (an endpoint that gives
    up, malformed JSON, a prompt too long) are counted per reason; ``on_failure="raise"`` (default)
    raises :class:`~airtune.evaluate.predict.PredictionError` after the others are cached,
    ``"score"`` scores them as empty answers (``report.settings["failures"]``). ``metrics``: names from ``airtune.metrics.REGISTRY`` or callables (hyps, refs) ->
    MetricResult. ``judge``: callable(input, output, reference) -> judge text or number, parsed to
    Likert 1-5 (unparsed outputs counted) and reported as metric "judge"; a judge that returns a
    dict criterion -> text gives one metric "judge:<criterion>" per criterion. ``comparisons``
    covers every pair of models (the baseline first). ``margin`` enables the non-inferiority
    verdict against the baseline (one float for all metrics or one per metric). ``by``: a record
    field (e.g. the top-level category); ``report.groups`` then has score, CI and n per group,
    model and metric (a 10% holdout of a small group gives a wide interval: look at n).
    """
    pd = require("pandas", "data")
    recs = _as_records(records)
    if not recs:
        raise ValueError("records: nothing to evaluate")
    if not models:
        raise ValueError("models: give at least one model")
    inputs, refs = [], []
    for i, r in enumerate(recs):
        if not isinstance(r, Mapping):
            raise TypeError(f"records: row {i} is {type(r).__name__}, expected a dict")
        if input_key not in r:
            raise ValueError(f"records: row {i} has no field {input_key!r}")
        if reference_key not in r or r[reference_key] is None:
            raise ValueError(f"records: row {i} has no reference ({reference_key!r})")
        inputs.append(r[input_key])
        refs.append(r[reference_key])
    names = list(models)
    base = baseline if baseline is not None else names[0]
    if base not in models:
        raise ValueError(f"baseline {base!r} is not one of the models {names}")
    store = cache if isinstance(cache, PredictionCache) or cache is None else PredictionCache(cache)
    # ---- models in, predictions out (evaluate/models.py, evaluate/endpoint.py, evaluate/predict.py) ----
    try:
        predictions, model_info = predict_models(
            models,
            inputs,
            refs,
            store,
            params=params,
            generation=generation,
            on_failure=on_failure,
            max_workers=max_workers,
            retries=retries,
            local_options=model_options,
            show_progress=progress,
            model_ids=model_id,
        )
    except BaseException:
        if store is not None and not isinstance(cache, PredictionCache):
            store.close()
        raise
    cache_hits: dict[str, int] = model_info["cache_hits"]
    # ---- end of the model handling ----
    metric_fns = [_resolve_metric(m) for m in metrics]
    results: dict[str, dict[str, M.MetricResult]] = {name: {} for name in names}
    for name in names:
        for mname, fn in metric_fns:
            results[name][mname] = fn(predictions[name], refs)
    judge_info: dict[str, dict] = {}
    metric_names = [mn for mn, _ in metric_fns]
    if judge is not None:
        criteria: list[str] = []
        for name in names:
            raw = [judge(inp, out, ref) for inp, out, ref in zip(inputs, predictions[name], refs)]
            per_criterion = _split_criteria(raw, name)
            for crit, values in per_criterion.items():
                mname = "judge" if crit is None else f"judge:{crit}"
                if mname not in criteria:
                    criteria.append(mname)
                scores = parse_judge_scores(values)
                judge_info.setdefault(name, {})[mname] = likert_summary(
                    scores, n_samples=n_samples, seed=seed
                )
                results[name][mname] = _judge_result(scores)
        for name in names:
            missing = [c for c in criteria if c not in results[name]]
            if missing:
                raise ValueError(f"judge returned no {missing} for model {name!r}")
        if len(criteria) == 1 and criteria[0] == "judge":
            judge_info = {name: info["judge"] for name, info in judge_info.items()}
        metric_names += criteria
    rows, item_cols = [], {"item": np.arange(len(recs))}
    for name in names:
        for mname in metric_names:
            res = results[name][mname]
            lo, hi = (
                bootstrap_ci(res, n_samples=n_samples, seed=seed)
                if len(res.per_item) > 1
                else (res.score, res.score)
            )
            rows.append(
                {
                    "model": name,
                    "metric": mname,
                    "score": res.score,
                    "ci_low": lo,
                    "ci_high": hi,
                    "n": int(len(res.per_item)),
                }
            )
            item_cols[f"{name}:{mname}"] = res.per_item
    comps, verdicts = [], []
    others = [n for n in names if n != base]
    pairs = [(base, n) for n in others] + [(a, b) for i, a in enumerate(others) for b in others[i + 1 :]]
    for first, second in pairs:
        for mname in metric_names:
            a, b = results[first][mname], results[second][mname]
            pb = paired_bootstrap(a, b, n_samples=n_samples, seed=seed)
            ar = approximate_randomization(a, b, n_trials=ar_trials, seed=seed)
            p_w = float("nan")
            if mname.startswith("judge"):
                both = ~np.isnan(a.per_item) & ~np.isnan(b.per_item)
                if (a.per_item[both] != b.per_item[both]).any():
                    p_w = wilcoxon(b.per_item[both], a.per_item[both])["p_value"]
            comps.append(
                {
                    "model": second,
                    "metric": mname,
                    "baseline": first,
                    "difference": pb.difference,
                    "ci_low": pb.ci[0],
                    "ci_high": pb.ci[1],
                    "p_bootstrap": pb.p_value,
                    "p_ar": ar.p_value,
                    "p_wilcoxon": p_w,
                }
            )
            if first != base:
                continue
            mg = margin.get(mname) if isinstance(margin, Mapping) else margin
            if mg is not None:
                ni = non_inferiority(
                    b, a, margin=float(mg), alpha=alpha, n_samples=max(n_samples, 1000), seed=seed
                )
                verdicts.append(
                    {
                        "model": second,
                        "metric": mname,
                        "baseline": first,
                        "margin": float(mg),
                        "difference": ni.difference,
                        "lower_bound": ni.lower_bound,
                        "non_inferior": ni.non_inferior,
                        "superior": ni.superior,
                    }
                )
    group_rows = []
    if by is not None:
        labels = []
        for i, r in enumerate(recs):
            if by not in r:
                raise ValueError(f"records: row {i} has no field {by!r} to group by")
            labels.append(r[by])
        for label in sorted(set(labels), key=str):
            idx = [i for i, x in enumerate(labels) if x == label]
            for name in names:
                for mname, fn in metric_fns:
                    sub = fn([predictions[name][i] for i in idx], [refs[i] for i in idx])
                    lo, hi = (
                        bootstrap_ci(sub, n_samples=n_samples, seed=seed)
                        if len(idx) > 1
                        else (sub.score, sub.score)
                    )
                    group_rows.append(
                        {
                            by: label,
                            "model": name,
                            "metric": mname,
                            "score": sub.score,
                            "ci_low": lo,
                            "ci_high": hi,
                            "n": len(idx),
                        }
                    )
    settings = {
        "n_samples": n_samples,
        "ar_trials": ar_trials,
        "seed": seed,
        "alpha": alpha,
        "cache_hits": cache_hits,
        "model_identities": model_info["identities"],
        "failures": model_info["failures"],
        "generate_seconds": model_info["model_seconds"],
        "signatures": {m: results[names[0]][m].signature for m in metric_names},
    }
    if store is not None and not isinstance(cache, PredictionCache):
        store.close()
    return EvalReport(
        names,
        metric_names,
        base,
        results,
        pd.DataFrame(rows),
        pd.DataFrame(item_cols),
        pd.DataFrame(comps),
        pd.DataFrame(verdicts),
        predictions,
        judge_info,
        settings,
        pd.DataFrame(group_rows),
    )


def _split_criteria(raw: list, model: str) -> dict:
    """Judge outputs per criterion: a judge may return one text/number, or a dict criterion -> text."""
    if raw and all(isinstance(x, Mapping) for x in raw):
        keys = list(raw[0])
        for i, x in enumerate(raw):
            if list(x) != keys:
                raise ValueError(
                    f"judge for model {model!r}: row {i} has criteria {list(x)}, expected {keys}"
                )
        return {k: [x[k] for x in raw] for k in keys}
    if any(isinstance(x, Mapping) for x in raw):
        raise ValueError(f"judge for model {model!r} returned a dict for some rows only")
    return {None: raw}


def _judge_result(scores: np.ndarray) -> M.MetricResult:
    # Unparsed judge outputs count as the lowest score in the mean (never silently dropped);
    # the histogram in EvalReport.judge reports them as their own bucket.
    filled = np.where(np.isnan(scores), 1.0, scores)
    res = M.MetricResult("judge", float(filled.mean()), scores, filled.reshape(-1, 1), "mean", {"column": 0})
    res.details = {"unparsed": int(np.isnan(scores).sum())}
    return res


def assert_no_regression(*args: Any, **kwargs: Any) -> NonInferiorityResult | None:
    """Fail if a metric regressed against a stored baseline; see
    :func:`airtune.pytest_plugin.assert_no_regression` for the arguments."""
    from ..pytest_plugin import assert_no_regression as impl

    return impl(*args, **kwargs)
