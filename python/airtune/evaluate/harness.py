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
from .judges import PairwiseJudge
from .judges.run import run_judges
from .models import GenerationParams
from .predict import predict_models
from .report import EvalReport
from .scoring import interval, resolve_metric, score_metric, subset_result
from .significance import (
    NonInferiorityResult,
    approximate_randomization,
    mcnemar,
    non_inferiority,
    paired_bootstrap,
    wilcoxon,
)


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
    power: float = 0.8,
    labels: Sequence[Any] | None = None,
    normalize: bool | Callable[[Any], str] | None = None,
    judge: Any = None,
    pairwise: PairwiseJudge | None = None,
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
    ``"score"`` scores them as empty answers (``report.settings["failures"]``).

    ``metrics``: names from ``airtune.metrics.REGISTRY`` (per-item ones such as rougeL and
    exact_match, corpus-level ones such as bleu, chrf, macro_f1, hierarchical_f1), ``(name,
    callable)`` or callables (hyps, refs) -> MetricResult; a plain Python metric is declared with
    :func:`airtune.metrics.item_metric` or :func:`airtune.metrics.corpus_metric`. Every metric is
    resampled as what it is: a corpus statistic is recomputed on each resample, never averaged
    over items. 0/1 metrics get Wilson intervals and the exact McNemar test. ``labels``: the
    allowed labels of a classification task (label metrics: accuracy, macro_f1, ...; default the
    labels of the references), ``normalize``: True or a callable mapping an answer to its label key
    (case, whitespace, punctuation, markup); answers outside the set are invalid: counted
    (``table.invalid``), shown, and wrong.

    ``judge``: a :class:`~airtune.evaluate.RubricJudge` (metrics "judge:<criterion>"), a
    callable(input, output, reference) -> text / number / dict criterion -> text (metric "judge" or
    "judge:<criterion>"), or a dict name -> judge (metrics "judge:<criterion>@<name>" and
    ``report.judge_agreement`` between the judges). Answers are parsed to Likert 1-5; unparsed,
    off-scale and failed ones are counted and score lowest. ``pairwise``: a
    :class:`~airtune.evaluate.PairwiseJudge` comparing each model with the baseline in both orders
    (``report.pairwise``, position bias measured).

    ``comparisons`` covers every pair of models (the baseline first). ``margin`` (one float for all
    metrics or one per metric) gives the verdict against the baseline: "replaceable",
    "not replaceable" or "inconclusive" from the (1 - 2 alpha) interval of the difference, with the
    minimum detectable effect of this test set and the items that would settle it at ``power``
    (``report.verdicts``). ``by``: a record field (e.g. the top-level category); ``report.groups``
    then has score, CI and n per group, model and metric (a 10% holdout of a small group gives a
    wide interval: look at n).
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
    metric_fns = [resolve_metric(m, labels, normalize) for m in metrics]
    results: dict[str, dict[str, M.MetricResult]] = {name: {} for name in names}
    errors: list[dict] = []
    for name in names:
        for mname, fn, kw in metric_fns:
            results[name][mname] = score_metric(mname, fn, kw, predictions[name], refs, name, errors)
    metric_names = [mn for mn, _, _ in metric_fns]
    jr = run_judges(
        judge,
        pairwise,
        names=names,
        baseline=base,
        inputs=inputs,
        predictions=predictions,
        refs=refs,
        cache=store,
        n_samples=n_samples,
        seed=seed,
        progress=progress,
    )
    for name in names:
        results[name].update(jr.results.get(name, {}))
    judge_info = jr.info
    metric_names += jr.metrics
    errors += jr.errors
    rows, item_cols = [], {"item": np.arange(len(recs))}
    for name in names:
        for mname in metric_names:
            res = results[name][mname]
            lo, hi, method = interval(res, n_samples, seed)
            rows.append(
                {
                    "model": name,
                    "metric": mname,
                    "score": res.score,
                    "ci_low": lo,
                    "ci_high": hi,
                    "n": int(len(res.per_item)),
                    "statistic": res.name,
                    "kind": "corpus" if res.is_corpus else ("0/1 mean" if res.is_binary else "per-item mean"),
                    "ci_method": method,
                    "invalid": int(res.details.get("invalid", res.details.get("unparsed", 0))),
                    "errors": int(res.details.get("errors", 0)),
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
            p_mc = mcnemar(a, b)["p_value"] if a.is_binary and b.is_binary else float("nan")
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
                    "p_mcnemar": p_mc,
                }
            )
            if first != base:
                continue
            mg = margin.get(mname) if isinstance(margin, Mapping) else margin
            if mg is not None:
                ni = non_inferiority(
                    b,
                    a,
                    margin=float(mg),
                    alpha=alpha,
                    n_samples=max(n_samples, 1000),
                    seed=seed,
                    power=power,
                )
                verdicts.append(
                    {
                        "model": second,
                        "metric": mname,
                        "baseline": first,
                        "margin": float(mg),
                        "difference": ni.difference,
                        "lower_bound": ni.lower_bound,
                        "upper_bound": ni.upper_bound,
                        "outcome": ni.outcome,
                        "non_inferior": ni.non_inferior,
                        "superior": ni.superior,
                        "n_items": ni.n_items,
                        "mde": ni.mde,
                        "n_needed": ni.n_needed,
                        "sd_method": ni.sd_method,
                        "reading": ni.reading,
                    }
                )
    group_rows = []
    if by is not None:
        group_of = []
        for i, r in enumerate(recs):
            if by not in r:
                raise ValueError(f"records: row {i} has no field {by!r} to group by")
            group_of.append(r[by])
        fns = {mname: (fn, kw) for mname, fn, kw in metric_fns}
        for label in sorted(set(group_of), key=str):
            idx = [i for i, x in enumerate(group_of) if x == label]
            for name in names:
                for mname in metric_names:
                    if mname in fns:  # recomputed on the group (its own gold labels, its own corpus)
                        fn, kw = fns[mname]
                        hyps, grefs = [predictions[name][i] for i in idx], [refs[i] for i in idx]
                        sub = score_metric(mname, fn, kw, hyps, grefs, name, None)
                    else:  # a judge: its per-item scores on the group
                        sub = subset_result(results[name][mname], idx)
                    lo, hi, _ = interval(sub, n_samples, seed)
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
        "power": power,
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
        pairwise=pd.DataFrame(jr.pairwise),
        judge_agreement=pd.DataFrame(jr.agreement),
        errors=pd.DataFrame(errors, columns=["model", "metric", "row", "error"]),
    )


def assert_no_regression(*args: Any, **kwargs: Any) -> NonInferiorityResult | None:
    """Fail if a metric regressed against a stored baseline; see
    :func:`airtune.pytest_plugin.assert_no_regression` for the arguments."""
    from ..pytest_plugin import assert_no_regression as impl

    return impl(*args, **kwargs)
