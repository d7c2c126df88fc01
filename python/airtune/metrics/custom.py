"""Metrics written by the user, declared as per-item or corpus-level so that each is scored and
resampled as what it is (a corpus statistic such as macro-F1 is never averaged over items).

    exact = item_metric(lambda pred, ref: float(pred.strip() == ref))
    macro = corpus_metric(lambda preds, refs: sklearn.metrics.f1_score(refs, preds, average="macro"))
    evaluate(records, models, metrics=[exact, macro])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._result import MetricResult


def item_metric(
    fn: Callable[[Any, Any], float], name: str | None = None, *, on_error: float | str = 0.0
) -> Callable[[Sequence, Sequence], MetricResult]:
    """A per-item metric ``fn(prediction, reference) -> float``; the score is the mean.

    An item on which ``fn`` raises (or returns NaN) is scored ``on_error`` (default 0.0, the worst
    value of a score in [0, x]) and counted: ``details["errors"]`` holds the count and
    ``details["error_rows"]`` row -> message. ``on_error="raise"`` raises a ValueError naming the row.
    """
    label: str = name or str(getattr(fn, "__name__", "metric"))
    if label == "<lambda>":
        label = "metric"
    if on_error != "raise" and not isinstance(on_error, (int, float)):
        raise TypeError("on_error: expected a number or 'raise'")

    def metric(hyps: Sequence, refs: Sequence) -> MetricResult:
        hyps, refs = list(hyps), list(refs)
        if len(hyps) != len(refs):
            raise ValueError(f"inputs differ in length: hypotheses={len(hyps)}, references={len(refs)}")
        values = np.empty(len(hyps))
        errors: dict[int, str] = {}
        for i, (h, r) in enumerate(zip(hyps, refs)):
            try:
                v = float(fn(h, r))
                if math.isnan(v):
                    raise ValueError("returned NaN")
            except Exception as exc:  # one bad item is counted, never a crash mid-run
                if on_error == "raise":
                    raise ValueError(
                        f"metric {label!r} failed on row {i}: {type(exc).__name__}: {exc}"
                    ) from exc
                errors[i] = f"{type(exc).__name__}: {exc}"
                v = float(on_error)
            values[i] = v
        res = MetricResult(
            label,
            float(values.mean()) if len(values) else 0.0,
            values,
            values.reshape(-1, 1),
            "mean",
            {"column": 0},
        )
        res.details = {"errors": len(errors), "error_rows": errors}
        return res

    metric.__name__ = label
    metric.kind = "item"  # type: ignore[attr-defined]
    return metric


def corpus_metric(
    fn: Callable[[list, list], float], name: str | None = None
) -> Callable[[Sequence, Sequence], MetricResult]:
    """A corpus-level metric ``fn(predictions, references) -> float`` (macro-F1, a custom BLEU...).

    The statistics recompute ``fn`` on every resample of the items (the same draws as the C++
    resampling for the same seed), so a bootstrap of 1000 samples calls it 1000 times: give it
    numpy-speed code. There is no per-item score (``per_item`` is NaN).
    """
    label: str = name or str(getattr(fn, "__name__", "metric"))
    if label == "<lambda>":
        label = "metric"

    def metric(hyps: Sequence, refs: Sequence) -> MetricResult:
        hyps, refs = list(hyps), list(refs)
        if len(hyps) != len(refs):
            raise ValueError(f"inputs differ in length: hypotheses={len(hyps)}, references={len(refs)}")
        resample = PythonCorpusStatistic(label, fn, hyps, refs)
        score = resample.score(np.arange(len(hyps)))
        n = len(hyps)
        res = MetricResult(
            label,
            score,
            np.full(n, np.nan),
            np.arange(n, dtype=np.float64).reshape(-1, 1),
            "python",
            {"metric": label},
        )
        res.resample = resample
        return res

    metric.__name__ = label
    metric.kind = "corpus"  # type: ignore[attr-defined]
    return metric


class PythonCorpusStatistic:
    """Recomputes a Python corpus metric on chosen items (resampling) or on outputs swapped with
    another system's (approximate randomisation)."""

    def __init__(self, name: str, fn: Callable[[list, list], float], hyps: list, refs: list) -> None:
        self.name, self.fn, self.hyps, self.refs = name, fn, hyps, refs

    def _call(self, hyps: list, refs: list, what: str) -> float:
        try:
            v = float(self.fn(hyps, refs))
        except Exception as exc:
            raise ValueError(
                f"corpus metric {self.name!r} failed on {what}: {type(exc).__name__}: {exc}"
            ) from exc
        if math.isnan(v):
            raise ValueError(f"corpus metric {self.name!r} returned NaN on {what}")
        return v

    def score(self, idx: np.ndarray, what: str = "all items") -> float:
        return self._call([self.hyps[i] for i in idx], [self.refs[i] for i in idx], what)

    def swapped(self, other: PythonCorpusStatistic, swap: np.ndarray, what: str) -> tuple[float, float]:
        a = [o if s else h for h, o, s in zip(self.hyps, other.hyps, swap)]
        b = [h if s else o for h, o, s in zip(self.hyps, other.hyps, swap)]
        return self._call(a, self.refs, what), self._call(b, self.refs, what)
