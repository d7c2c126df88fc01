"""Scoring one model's outputs on one metric inside :func:`~airtune.evaluate.evaluate`: resolving what
the user passed, checking that the result is what its name says, counting bad items, and the
interval that fits the metric."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import metrics as M
from .significance import bootstrap_ci, wilson_interval


def resolve_metric(
    m: Any, labels: Sequence[Any] | None, normalize: Any
) -> tuple[str, Callable[..., Any], dict]:
    """(name, function, keyword arguments) for a registry name, ``(name, callable)`` or a callable.
    Registry label metrics receive the task's allowed ``labels`` and ``normalize``."""
    if isinstance(m, str):
        if m not in M.REGISTRY:
            raise ValueError(f"unknown metric {m!r}; choose from {sorted(M.REGISTRY)} or pass a callable")
        kw: dict = {}
        if m in M.LABEL_METRICS:
            if labels is not None:
                kw["labels"] = list(labels)
            if normalize is not None:
                kw["normalize"] = normalize
        return m, M.REGISTRY[m], kw
    if isinstance(m, tuple) and len(m) == 2 and callable(m[1]):
        return str(m[0]), m[1], {}
    if callable(m):
        return getattr(m, "__name__", "metric"), m, {}
    raise TypeError(f"metric {m!r}: expected a name, a callable or (name, callable)")


def score_metric(
    mname: str,
    fn: Callable[..., Any],
    kw: dict,
    hyps: list[str],
    refs: list,
    model: str,
    errors: list[dict] | None,
) -> M.MetricResult:
    """``fn(hyps, refs)`` as a MetricResult. A metric that raises is rerun item by item to name the
    rows it fails on (a clear error, raised before any judge is paid); per-item errors that an
    :func:`~airtune.metrics.item_metric` counted are added to ``errors``."""
    try:
        out = fn(hyps, refs, **kw)
    except Exception as exc:
        raise ValueError(
            f"metric {mname!r} failed on model {model!r}: {_failing_rows(fn, kw, hyps, refs)}{exc}"
        ) from exc
    res = _as_result(out, mname, len(hyps))
    if errors is not None:
        for row, msg in sorted(res.details.get("error_rows", {}).items()):
            errors.append({"model": model, "metric": mname, "row": row, "error": msg})
    return res


def _failing_rows(fn: Callable[..., Any], kw: dict, hyps: list, refs: list, limit: int = 5) -> str:
    rows = []
    for i, (h, r) in enumerate(zip(hyps, refs)):
        try:
            fn([h], [r], **kw)
        except Exception:
            rows.append(i)
            if len(rows) >= limit:
                break
    if not rows:
        return "(no single row fails alone) "
    return f"row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))}{' ...' if len(rows) >= limit else ''}: "


def _as_result(out: Any, mname: str, n: int) -> M.MetricResult:
    if isinstance(out, M.MetricResult):
        if len(out.per_item) != n:
            raise ValueError(f"metric {mname!r} returned {len(out.per_item)} per-item scores for {n} items")
        other = out.details.get(mname) if out.name != mname else None
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            hint = (
                f" (its .select({mname!r}) or the registry name {mname!r})"
                if mname in out.views or mname in M.REGISTRY
                else ""
            )
            raise ValueError(
                f"metric {mname!r}: the callable returned a result scored as {out.name!r}, while "
                f"{mname!r} is another statistic of it; return the {mname!r} result itself{hint}"
            )
        return out
    if isinstance(out, numbers.Real) and not isinstance(out, bool):
        raise TypeError(
            f"metric {mname!r} returned one number ({float(out):.4g}) for the whole test set: declare it "
            "with airtune.metrics.corpus_metric(fn) (recomputed on each resample) or "
            "airtune.metrics.item_metric(fn) (scored per item and averaged)"
        )
    if isinstance(out, (Sequence, np.ndarray)) and not isinstance(out, (str, bytes)) and len(out) == n:
        values = np.asarray(out, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise ValueError(f"metric {mname!r}: row {int(bad[0])} has a NaN or infinite score")
        return M.MetricResult(
            mname, float(values.mean()) if n else 0.0, values, values.reshape(-1, 1), "mean", {"column": 0}
        )
    raise TypeError(
        f"metric {mname!r} returned {type(out).__name__}: expected a MetricResult, or per-item scores "
        f"({n} numbers); declare plain functions with airtune.metrics.item_metric / corpus_metric"
    )


def interval(res: M.MetricResult, n_samples: int, seed: int, level: float = 0.95) -> tuple[float, float, str]:
    """(low, high, method): Wilson for 0/1 means, the seeded bootstrap otherwise (resampling the
    metric's own statistic); a single item gives its score."""
    n = len(res.per_item)
    if n <= 1:
        return res.score, res.score, "none"
    if res.is_binary:
        lo, hi = wilson_interval(int(round(res.item_values().sum())), n, level=level)
        return lo, hi, "wilson"
    lo, hi = bootstrap_ci(res, n_samples=n_samples, seed=seed, level=level)
    return lo, hi, "bootstrap"


def subset_result(res: M.MetricResult, idx: Sequence[int]) -> M.MetricResult:
    """A per-item (mean) result restricted to the items ``idx``."""
    if res.aggregate != "mean":
        raise ValueError(f"{res.name}: only per-item means can be restricted to a subset")
    rows = np.asarray(idx, dtype=np.int64)
    stats = np.ascontiguousarray(res.stats[rows])
    col = int(res.options.get("column", 0))
    return M.MetricResult(
        res.name,
        float(stats[:, col].mean()) if len(rows) else 0.0,
        np.asarray(res.per_item)[rows],
        stats,
        "mean",
        dict(res.options),
    )
