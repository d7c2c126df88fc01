"""Evaluation harness: holdout splits, model comparison with confidence intervals and significance,
the "can the candidate replace the baseline?" verdict, reports, plots and a playground.

    split = holdout_split(records, fraction=0.1, stratify="category", seed=0)
    report = evaluate(split.test, models={"gpt-3.5": preds, "mistral-ft": call_model},
                      metrics=["bleu", "rougeL"], baseline="gpt-3.5", margin={"rougeL": 0.02})
    report.table; report.plot(); report.to_html("report.html")

Metrics come from :mod:`airtune.metrics` (C++, exact); statistics from per-item sufficient
statistics (seeded bootstrap, paired bootstrap, approximate randomisation, Wilcoxon for judges).
Predictions of callables are cached in SQLite keyed by (model, input hash, parameters).
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics as M
from ._results import ResultMixin, progress, require

__all__ = [
    "EvalReport",
    "PredictionCache",
    "SplitResult",
    "assert_no_regression",
    "evaluate",
    "holdout_split",
    "normalized_hash",
    "playground",
]


# --- holdout split -------------------------------------------------------------------------------

_PUNCT_RE = re.compile(r"[\W_]+", re.UNICODE)


def normalized_hash(text: str) -> str:
    """Hash of a text after NFKC, lowercasing and dropping punctuation/whitespace differences.

    Two texts with the same normalised hash are treated as duplicates by :func:`holdout_split`.
    This is the exact-after-normalisation stage; MinHash near-duplicate groups from
    ``airtune.dedup`` plug in through ``holdout_split(groups=...)``.
    """
    norm = _PUNCT_RE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()
    return hashlib.blake2b(norm.encode("utf-8"), digest_size=16).hexdigest()


def _stable_hash(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).digest(), "big")


def _record_text(rec: Any, text_key: str | Sequence[str] | None) -> str:
    if isinstance(rec, str):
        return rec
    if isinstance(rec, Mapping):
        if text_key is None:
            return json.dumps(rec, sort_keys=True, ensure_ascii=False, default=str)
        keys = [text_key] if isinstance(text_key, str) else list(text_key)
        return "\n".join(str(rec.get(k, "")) for k in keys)
    return str(rec)


def _as_records(records: Any) -> list:
    mod = type(records).__module__.split(".")[0]
    if mod == "pandas" and hasattr(records, "to_dict"):
        return records.to_dict("records") if hasattr(records, "columns") else records.tolist()
    if mod == "datasets":
        return [dict(r) for r in records]
    if mod == "pyarrow" and hasattr(records, "to_pylist"):
        return records.to_pylist()
    return list(records)


@dataclass
class SplitResult(ResultMixin):
    """Train and test rows of a holdout split, with its manifest.

    ``train_index`` / ``test_index`` are positions in the input; ``strata`` lists, per stratum,
    the counts on each side; ``singletons`` the strata too small to split (kept in train);
    ``duplicate_groups`` the number of groups of duplicate texts kept on one side.
    """

    train: list
    test: list
    train_index: np.ndarray
    test_index: np.ndarray
    strata: list[dict]
    singletons: list
    duplicate_groups: int
    seed: int
    fraction: float

    def summary_line(self) -> str:
        return (
            f"holdout split: {len(self.train)} train / {len(self.test)} test ({len(self.strata)} strata, "
            f"{len(self.singletons)} singleton strata kept in train, {self.duplicate_groups} duplicate groups)"
        )

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.strata)

    def manifest(self) -> dict:
        """What to store next to the metrics: seed, fraction and the test positions."""
        return {
            "seed": self.seed,
            "fraction": self.fraction,
            "test_index": self.test_index.tolist(),
            "n": len(self.train) + len(self.test),
        }


def holdout_split(
    records: Any,
    fraction: float = 0.1,
    *,
    stratify: str | Callable[[Any], Any] | Sequence | None = None,
    seed: int = 0,
    id_key: str | None = None,
    text_key: str | Sequence[str] | None = None,
    dedup: bool = True,
    groups: Sequence | None = None,
) -> SplitResult:
    """Deterministic, stratified holdout split with no duplicates across the two sides.

    Items are grouped first (duplicates after :func:`normalized_hash` of ``text_key``'s text when
    ``dedup``, or the ``groups`` labels you pass, e.g. MinHash clusters from ``airtune.dedup``);
    each group goes wholly to one side. In each stratum (``stratify``: a key, a callable on the
    record, or a sequence of labels) round(fraction * groups) groups go to test, chosen by a
    seeded hash of the group's id (``id_key`` if given, else its text), so the choice is stable as
    data grows. Strata with a single group stay in train and are reported in ``singletons``: no
    error where scikit-learn's stratified split raises one.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    recs = _as_records(records)
    n = len(recs)
    if groups is not None and len(groups) != n:
        raise ValueError(f"groups has {len(groups)} labels for {n} records")
    if stratify is None:
        labels: list = [None] * n
    elif isinstance(stratify, str):
        labels = []
        for i, r in enumerate(recs):
            if not isinstance(r, Mapping) or stratify not in r:
                raise ValueError(f"records: row {i} has no field {stratify!r} to stratify on")
            labels.append(r[stratify])
    elif callable(stratify):
        labels = [stratify(r) for r in recs]
    else:
        labels = list(stratify)
        if len(labels) != n:
            raise ValueError(f"stratify has {len(labels)} labels for {n} records")
    keys = []
    for i, r in enumerate(recs):
        if id_key is not None:
            if not isinstance(r, Mapping) or id_key not in r:
                raise ValueError(f"records: row {i} has no field {id_key!r}")
            keys.append(str(r[id_key]))
        else:
            keys.append(_record_text(r, text_key))
    # Groups: caller's labels, else duplicates by normalised hash, else every item alone.
    if groups is not None:
        gkey = [f"g:{g}" for g in groups]
    elif dedup:
        gkey = [normalized_hash(_record_text(r, text_key)) for r in recs]
    else:
        gkey = [f"i:{i}" for i in range(n)]
    members: dict[str, list[int]] = {}
    for i, g in enumerate(gkey):
        members.setdefault(g, []).append(i)
    dup_groups = sum(1 for m in members.values() if len(m) > 1)
    by_stratum: dict[Any, list[str]] = {}
    for g, idx in members.items():
        by_stratum.setdefault(_label_key(labels[idx[0]]), []).append(g)
    test_groups: set[str] = set()
    strata, singletons = [], []
    for label, glist in sorted(by_stratum.items(), key=lambda kv: str(kv[0])):
        ordered = sorted(glist, key=lambda g: (_stable_hash(seed, keys[members[g][0]]), g))
        k = int(math.floor(fraction * len(ordered) + 0.5)) if len(ordered) > 1 else 0
        if len(ordered) == 1:
            singletons.append(label)
        k = min(k, len(ordered) - 1) if len(ordered) > 1 else 0
        chosen = ordered[:k]
        test_groups.update(chosen)
        n_test = sum(len(members[g]) for g in chosen)
        n_all = sum(len(members[g]) for g in ordered)
        strata.append({"stratum": label, "n": n_all, "train": n_all - n_test, "test": n_test})
    is_test = np.zeros(n, dtype=bool)
    for g in test_groups:
        is_test[members[g]] = True
    test_idx = np.flatnonzero(is_test)
    train_idx = np.flatnonzero(~is_test)
    return SplitResult(
        [recs[i] for i in train_idx],
        [recs[i] for i in test_idx],
        train_idx,
        test_idx,
        strata,
        singletons,
        dup_groups,
        seed,
        fraction,
    )


def _label_key(label: Any) -> Any:
    if isinstance(label, float) and math.isnan(label):
        return None
    return label if isinstance(label, (str, int, float, bool, type(None), tuple)) else str(label)


# --- prediction cache ----------------------------------------------------------------------------


class PredictionCache:
    """SQLite cache of model outputs keyed by (model, input hash, parameters).

    Thread safety: one connection guarded by a lock; reads and writes from worker threads are safe.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS predictions (model TEXT, input_hash TEXT, params TEXT, output TEXT, "
            "created REAL, PRIMARY KEY (model, input_hash, params))"
        )
        self._db.commit()

    @staticmethod
    def key(inp: Any) -> str:
        text = (
            inp if isinstance(inp, str) else json.dumps(inp, sort_keys=True, ensure_ascii=False, default=str)
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, model: str, inp: Any, params: str = "") -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT output FROM predictions WHERE model=? AND input_hash=? AND params=?",
                (model, self.key(inp), params),
            ).fetchone()
        return None if row is None else row[0]

    def put(self, model: str, inp: Any, output: str, params: str = "") -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?, ?)",
                (model, self.key(inp), params, output, time.time()),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _run_model(
    name: str,
    fn: Callable[[Any], Any],
    inputs: list,
    cache: PredictionCache | None,
    params: str,
    max_workers: int,
    retries: int,
    show: bool,
) -> tuple[list[str], int]:
    outputs: list[Any] = [None] * len(inputs)
    todo = []
    for i, inp in enumerate(inputs):
        hit = cache.get(name, inp, params) if cache is not None else None
        if hit is not None:
            outputs[i] = hit
        else:
            todo.append(i)

    def call(i: int) -> tuple[int, str]:
        last: Exception | None = None
        for attempt in range(retries + 1):
            try:
                out = fn(inputs[i])
                return i, "" if out is None else str(out)
            except Exception as exc:  # a model API can fail transiently: retry, then report the row
                last = exc
                time.sleep(min(0.05 * 2**attempt, 1.0))
        raise RuntimeError(f"model {name!r} failed on row {i} after {retries + 1} attempts: {last}") from last

    if todo:
        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            for i, out in progress(pool.map(call, todo), total=len(todo), desc=name, enabled=show):
                outputs[i] = out
                if cache is not None:
                    cache.put(name, inputs[i], out, params)
    return outputs, len(inputs) - len(todo)


# --- the report ----------------------------------------------------------------------------------


@dataclass
class EvalReport(ResultMixin):
    """Everything :func:`evaluate` found.

    ``table``: one row per (model, metric) with score, CI and n. ``per_item``: one row per item with
    every model's per-item score for each metric. ``comparisons``: each model against the baseline
    per metric (paired bootstrap, approximate randomisation, Wilcoxon for judge scores).
    ``verdicts``: non-inferiority per (model, metric) when margins were given. ``groups``: scores per
    group when ``evaluate(by=...)``. ``judge``: Likert histograms (with an "unparsed" bucket),
    means with CIs and medians per model. ``results`` keeps the
    :class:`~airtune.metrics.MetricResult` objects (``results[model][metric]``).
    """

    models: list[str]
    metrics: list[str]
    baseline: str
    results: dict[str, dict[str, M.MetricResult]]
    table: Any
    per_item: Any
    comparisons: Any
    verdicts: Any
    predictions: dict[str, list[str]]
    judge: dict[str, dict] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    groups: Any = None

    def summary_line(self) -> str:
        return f"evaluation of {len(self.models)} models on {len(self.per_item)} items; baseline {self.baseline!r}"

    def to_pandas(self) -> Any:
        return self.table

    def _repr_html_(self) -> str:
        return self.to_html(full=False)

    def to_markdown(self) -> str:
        """A markdown report: scores with CIs, comparisons with the baseline, verdicts."""
        lines = [
            f"# Evaluation ({len(self.per_item)} items, baseline `{self.baseline}`)",
            "",
            "| model | metric | score | 95% CI | n |",
            "|---|---|---:|---|---:|",
        ]
        for r in self.table.itertuples():
            lines.append(
                f"| {r.model} | {r.metric} | {r.score:.4f} | [{r.ci_low:.4f}, {r.ci_high:.4f}] | {r.n} |"
            )
        if len(self.comparisons):
            lines += [
                "",
                "| model | against | metric | difference | p (bootstrap) | p (AR) | p (Wilcoxon) |",
                "|---|---|---|---:|---:|---:|---:|",
            ]
            for r in self.comparisons.itertuples():
                w = (
                    ""
                    if r.p_wilcoxon is None or (isinstance(r.p_wilcoxon, float) and math.isnan(r.p_wilcoxon))
                    else f"{r.p_wilcoxon:.4g}"
                )
                lines.append(
                    f"| {r.model} | {r.baseline} | {r.metric} | {r.difference:+.4f} | {r.p_bootstrap:.4g} | "
                    f"{r.p_ar:.4g} | {w} |"
                )
        if len(self.verdicts):
            lines += [
                "",
                "| model | metric | margin | lower bound | can replace baseline |",
                "|---|---|---:|---:|---|",
            ]
            for r in self.verdicts.itertuples():
                lines.append(
                    f"| {r.model} | {r.metric} | {r.margin} | {r.lower_bound:+.4f} | "
                    f"{'yes' if r.non_inferior else 'no'} |"
                )
        if self.judge:
            lines += [
                "",
                "| model | judge | 1 | 2 | 3 | 4 | 5 | unparsed | mean | median |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for model, info in self.judge.items():
                per = info if "histogram" not in info else {"judge": info}
                for crit, summary in per.items():
                    h = summary["histogram"]
                    lines.append(
                        f"| {model} | {crit} | "
                        + " | ".join(str(h.get(k, 0)) for k in range(1, 6))
                        + f" | {h['unparsed']} | {summary['mean']:.3f} | {summary['median']:.1f} |"
                    )
        sigs = {k: v for k, v in self.settings.get("signatures", {}).items() if v}
        if sigs:
            lines += [""] + [f"- `{k}`: `{v}`" for k, v in sigs.items()]
        lines.append(
            f"- resampling: {self.settings.get('n_samples')} bootstrap samples, "
            f"{self.settings.get('ar_trials')} AR trials, seed {self.settings.get('seed')}"
        )
        return "\n".join(lines) + "\n"

    def to_html(self, path: str | Path | None = None, *, full: bool = True) -> str:
        """The report as HTML (tables, and the plots inline when matplotlib is available)."""
        parts = [
            f"<h3>{html.escape(self.summary_line())}</h3>",
            self.table.to_html(index=False, float_format="%.4f"),
        ]
        if len(self.comparisons):
            parts += [
                "<h4>Against the baseline</h4>",
                self.comparisons.to_html(index=False, float_format="%.4g"),
            ]
        if len(self.verdicts):
            parts += ["<h4>Non-inferiority</h4>", self.verdicts.to_html(index=False, float_format="%.4f")]
        if self.groups is not None and len(self.groups):
            parts += ["<h4>By group</h4>", self.groups.to_html(index=False, float_format="%.4f")]
        if full:
            try:
                import base64
                import io

                fig = self.plot()
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
                parts.append(
                    f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'
                )
                import matplotlib.pyplot as plt

                plt.close(fig)
            except ImportError:
                pass
        out = "<div>" + "\n".join(parts) + "</div>"
        if path is not None:
            Path(path).write_text(
                f"<!doctype html><meta charset='utf-8'><body>{out}</body>", encoding="utf-8"
            )
        return out

    def plot(self, metric: str | None = None, kind: str = "both") -> Any:
        """Bars with 95% intervals per model and overlaid per-item score distributions (``kind``:
        "bars", "distributions" or "both") for ``metric`` (default: the first)."""
        plt = require("matplotlib.pyplot", "plot")
        metric = metric or self.metrics[0]
        panels = ["bars", "distributions"] if kind == "both" else [kind]
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False)
        rows = self.table[self.table.metric == metric]
        for ax, panel in zip(axes[0], panels):
            if panel == "bars":
                err = np.vstack([rows.score - rows.ci_low, rows.ci_high - rows.score])
                ax.bar(rows.model, rows.score, yerr=err, capsize=4, color="#4C78A8")
                ax.set_title(f"{metric} with 95% CI")
                ax.tick_params(axis="x", rotation=20)
            else:
                for model in self.models:
                    vals = np.asarray(self.results[model][metric].per_item, dtype=float)
                    vals = vals[~np.isnan(vals)]
                    if metric.startswith("judge"):
                        bins = np.arange(0.5, 6.5, 1.0)
                    else:
                        bins = 20
                    ax.hist(vals, bins=bins, alpha=0.45, label=model, density=True)
                ax.set_title(f"per-item {metric}")
                ax.legend()
        fig.tight_layout()
        return fig


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
    models: Mapping[str, Callable[[Any], Any] | Sequence[str]],
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
) -> EvalReport:
    """Evaluate several models on the same records and compare each with the baseline.

    ``records``: dicts (or a DataFrame / HF dataset) with ``input_key`` and ``reference_key``
    (a reference may be a list of references). ``models``: name -> callable(input) -> output, or
    name -> precomputed predictions. Callables run concurrently (``max_workers``) with ``retries``
    and a progress bar; outputs are cached in SQLite at ``cache`` by (model, input hash,
    ``params``). ``metrics``: names from ``airtune.metrics.REGISTRY`` or callables (hyps, refs) ->
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
    predictions: dict[str, list[str]] = {}
    cache_hits: dict[str, int] = {}
    for name in names:
        m = models[name]
        if callable(m):
            predictions[name], cache_hits[name] = _run_model(
                name, m, inputs, store, params, max_workers, retries, progress
            )
        else:
            preds = list(m)
            if len(preds) != len(recs):
                raise ValueError(f"model {name!r} has {len(preds)} predictions for {len(recs)} records")
            for i, p in enumerate(preds):
                if p is None:
                    raise ValueError(f"model {name!r}: prediction for row {i} is None")
            predictions[name] = [str(p) for p in preds]
            cache_hits[name] = 0
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
                scores = M.parse_judge_scores(values)
                judge_info.setdefault(name, {})[mname] = M.likert_summary(
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
                M.bootstrap_ci(res, n_samples=n_samples, seed=seed)
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
            pb = M.paired_bootstrap(a, b, n_samples=n_samples, seed=seed)
            ar = M.approximate_randomization(a, b, n_trials=ar_trials, seed=seed)
            p_w = float("nan")
            if mname.startswith("judge"):
                both = ~np.isnan(a.per_item) & ~np.isnan(b.per_item)
                if (a.per_item[both] != b.per_item[both]).any():
                    p_w = M.wilcoxon(b.per_item[both], a.per_item[both])["p_value"]
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
                ni = M.non_inferiority(
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
                        M.bootstrap_ci(sub, n_samples=n_samples, seed=seed)
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


def playground(
    models: Mapping[str, Callable[[Any], Any]], inputs: Sequence[Any], *, max_workers: int = 4
) -> Any:
    """Several models on a few sample inputs, side by side (a DataFrame that renders in notebooks)."""
    pd = require("pandas", "data")
    table: dict[str, list] = {"input": list(inputs)}
    for name, fn in models.items():
        table[name], _ = _run_model(name, fn, list(inputs), None, "", max_workers, 0, False)
    return pd.DataFrame(table)


def assert_no_regression(*args: Any, **kwargs: Any) -> M.NonInferiorityResult | None:
    """Fail if a metric regressed against a stored baseline; see
    :func:`airtune.pytest_plugin.assert_no_regression` for the arguments."""
    from .pytest_plugin import assert_no_regression as impl

    return impl(*args, **kwargs)
