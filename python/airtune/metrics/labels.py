"""Label metrics: classification (scikit-learn's definitions), Cohen's kappa, taxonomy accuracy with
hierarchical precision/recall/F1."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._core import metrics as _m
from .._inputs import as_str_list, check_same_length
from ._result import MetricResult, _lower, _named_rows, _texts
from .normalize import as_normalizer, label_index, map_labels

#: The fields of ``_core.metrics.ClassReport`` a classification result's details hold, in order.
_REPORT_FIELDS = (
    "precision",
    "recall",
    "f1",
    "support",
    "accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_precision",
    "weighted_recall",
    "weighted_f1",
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "invalid",
    "total",
)


def _codes(
    y_true: Sequence, y_pred: Sequence, labels: Sequence | None
) -> tuple[list, np.ndarray, np.ndarray]:
    check_same_length(y_true=y_true, y_pred=y_pred)
    for i, t in enumerate(y_true):
        if t is None or (isinstance(t, float) and math.isnan(t)):
            raise ValueError(f"y_true: row {i} is missing")
    if labels is None:
        pool = set(y_true) | {
            p for p in y_pred if p is not None and not (isinstance(p, float) and math.isnan(p))
        }
        labels = sorted(pool, key=lambda v: (str(type(v)), v))
    labels = list(labels)
    index = {lab: k for k, lab in enumerate(labels)}
    t_codes = np.empty(len(y_true), dtype=np.int32)
    for i, t in enumerate(y_true):
        if t not in index:
            raise ValueError(f"y_true: row {i} has label {t!r}, which is not in labels")
        t_codes[i] = index[t]
    p_codes = np.array([index.get(p, -1) if p is not None else -1 for p in y_pred], dtype=np.int32)
    return labels, t_codes, p_codes


#: The corpus statistics a classification result can be scored (and resampled) by.
CLASS_STATISTICS = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "weighted_f1", "micro_f1")


def classification(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence | str | None = None,
    normalize: bool | Callable[[Any], str] | None = None,
    statistic: str = "accuracy",
) -> MetricResult:
    """Accuracy, per-class and macro/micro/weighted precision/recall/F1, confusion matrix, Cohen's kappa.

    Definitions are scikit-learn's (``zero_division=0``) over ``labels``: the allowed labels (a
    list), ``"gold"`` (the labels of ``y_true``), or None (the sorted union of y_true and y_pred,
    scikit-learn's default). A prediction that is None or not among the labels is an invalid
    output: it counts as wrong, lands in the confusion matrix's extra "invalid" column and in
    ``details["invalid"]`` (``details["invalid_examples"]``: the most frequent such answers).
    ``normalize``: True (:class:`~airtune.metrics.LabelNormalizer`: case, whitespace,
    punctuation, markup) or a callable text -> key; an answer then counts as the allowed label
    with the same key ("**Positive.**" is "Positive"), and a gold label must normalise to one.

    ``statistic`` chooses the score: "accuracy" (a per-item mean, ``per_item`` 1.0 where correct)
    or a corpus statistic ("macro_f1", "macro_precision", "macro_recall", "weighted_f1",
    "micro_f1") that resampling recomputes from the per-item label codes (``per_item`` then still
    holds correctness, for display). ``select(statistic)`` gives the others from one result.
    """
    if statistic not in CLASS_STATISTICS:
        raise ValueError(f"statistic: expected one of {CLASS_STATISTICS}, got {statistic!r}")
    yt = y_true if isinstance(y_true, list) else list(as_str_list(y_true, "y_true"))
    yp = y_pred if isinstance(y_pred, list) else list(as_str_list(y_pred, "y_pred"))
    check_same_length(y_true=yt, y_pred=yp)
    norm = as_normalizer(normalize)
    raw_pred = yp
    if isinstance(labels, str):
        if labels != "gold":
            raise ValueError(f"labels: expected a list of labels, 'gold' or None, got {labels!r}")
        labels = _gold_labels(yt, norm)
    if norm is not None:
        allowed = labels if labels is not None else _gold_labels(yt, norm)
        index = label_index(allowed, norm)
        mapped = map_labels(yt, index, norm)
        for i, (t, m) in enumerate(zip(yt, mapped)):
            if t is not None and m is None:
                raise ValueError(f"y_true: row {i} has label {t!r}, which normalises to none of the labels")
        yt = [m if t is not None else None for t, m in zip(yt, mapped)]
        yp = map_labels(yp, index, norm)
        labels = list(allowed)
    labs, t, p = _codes(yt, yp, labels)
    k = len(labs)
    conf = _m.confusion_matrix(t, p, k)
    rep = _m.classification_report(conf, k)
    correct = (t == p).astype(np.float64)
    details: dict[str, Any] = {name: getattr(rep, name) for name in _REPORT_FIELDS}
    details["labels"] = labs
    details["confusion"] = conf
    details["invalid_rate"] = rep.invalid / len(t) if len(t) else 0.0
    bad = Counter(str(raw_pred[i]) for i in np.flatnonzero(p < 0))
    details["invalid_examples"] = bad.most_common(5)
    square = np.zeros((k + 1, k + 1))
    square[:k, :] = conf
    kappa_conf = square if rep.invalid else square[:k, :k]
    for w in ("none", "linear", "quadratic"):
        details[f"kappa_{w}"] = _m.cohen_kappa(kappa_conf, w) if len(t) else float("nan")
    details["kappa"] = details["kappa_none"]
    codes = np.stack([t, p], axis=1).astype(np.float64) if len(t) else np.zeros((0, 2))
    views = {st: (codes, "classification", {"n_classes": k, "statistic": st}) for st in CLASS_STATISTICS[1:]}
    if statistic == "accuracy":
        res = MetricResult(
            "accuracy",
            rep.accuracy,
            correct,
            correct.reshape(-1, 1),
            "mean",
            {"column": 0},
            details=details,
        )
    else:
        stats, agg, opts = views[statistic]
        res = MetricResult(statistic, float(details[statistic]), correct, stats, agg, opts, details=details)
    res.views = views
    res.columns = {
        "predicted_label": [labs[c] if c >= 0 else None for c in p.tolist()],
        "valid": p >= 0,
    }
    return res


def _gold_labels(y_true: Sequence, norm: Callable[[Any], str] | None) -> list:
    """The distinct gold labels (first spelling of each key when normalising), sorted."""
    seen: dict[Any, Any] = {}
    for v in y_true:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        seen.setdefault(norm(v) if norm is not None else v, v)
    return sorted(seen.values(), key=lambda v: (str(type(v)), v))


def cohen_kappa(
    a: Sequence, b: Sequence, *, weights: str | None = None, labels: Sequence | None = None
) -> float:
    """Cohen's kappa between two raters as ``sklearn.metrics.cohen_kappa_score`` (weights: None/linear/quadratic).

    For ordinal scores (Likert) the label order is the sorted order, so linear/quadratic weights
    measure distance on the scale.
    """
    labs, t, p = _codes(list(a), list(b), labels)
    if (p < 0).any():
        raise ValueError(f"b: row {int(np.argmax(p < 0))} has a label outside labels")
    conf = _m.confusion_matrix(t, p, len(labs))[:, : len(labs)].astype(np.float64)
    return float(_m.cohen_kappa(conf, weights or "none"))


def taxonomy_accuracy(
    gold: Any,
    predictions: Any,
    *,
    sep: str = " > ",
    valid_paths: Sequence[str] | None = None,
    case_sensitive: bool = True,
    statistic: str = "exact",
) -> MetricResult:
    """Level-wise accuracy and hierarchical P/R/F for category paths such as ``"A > B > C"``.

    acc_k = share of items with gold depth >= k whose predicted path agrees on the first k levels
    (``details["levels"]`` lists k, accuracy, denominator). Hierarchical precision/recall/F follow
    Kiritchenko et al. (node plus ancestors, root excluded). A prediction that is empty or, when
    ``valid_paths`` is given, not one of them is invalid: wrong at every level, counted in
    ``details["invalid"]``. Score (``statistic``): "exact" (leaf accuracy, a per-item mean) or the
    corpus statistics "hierarchical_f1", "hierarchical_precision", "hierarchical_recall", which
    resampling recomputes from per-item (matched, predicted depth, gold depth); ``per_item`` then
    holds each item's own hierarchical F1. ``select(...)`` gives the others from one result.
    """
    if statistic not in _TAXONOMY_STATISTICS:
        raise ValueError(f"statistic: expected one of {_TAXONOMY_STATISTICS}, got {statistic!r}")
    g = _texts(gold, "gold")
    p = [("" if x is None else x) for x in as_str_list(predictions, "predictions")]
    check_same_length(gold=g, predictions=p)
    v = list(valid_paths or [])
    if not case_sensitive:
        g, p, v = _lower(g), _lower(p), _lower(v)
    with _named_rows(gold=g, predictions=p, valid_paths=v):
        r = _m.taxonomy_items(g, p, v, sep)
    gd, pd_, common, valid = r.gold_depth, r.pred_depth, r.common, r.valid.astype(bool)
    exact = ((common == gd) & (pd_ == gd) & valid).astype(np.float64)
    levels = []
    for k in range(1, int(gd.max(initial=0)) + 1):
        mask = gd >= k
        levels.append({"level": k, "accuracy": float((common[mask] >= k).mean()), "n": int(mask.sum())})
    hp = float(common.sum() / pd_.sum()) if pd_.sum() else 0.0
    hr = float(common.sum() / gd.sum()) if gd.sum() else 0.0
    hf = 2 * hp * hr / (hp + hr) if hp + hr else 0.0
    details: dict[str, Any] = {
        "levels": levels,
        "hierarchical_precision": hp,
        "hierarchical_recall": hr,
        "hierarchical_f1": hf,
        "invalid": int((~valid).sum()),
        "invalid_rate": float((~valid).mean()) if len(g) else 0.0,
    }
    hstats = np.stack([common, pd_, gd], axis=1).astype(np.float64) if len(g) else np.zeros((0, 3))
    views = {
        f"hierarchical_{st}": (hstats, "hierarchical", {"statistic": st})
        for st in ("f1", "precision", "recall")
    }
    if statistic == "exact":
        res = MetricResult(
            "taxonomy_exact",
            float(exact.mean()) if len(g) else 0.0,
            exact,
            exact.reshape(-1, 1),
            "mean",
            {"column": 0},
            details=details,
        )
    else:
        denom = pd_ + gd
        item_f1 = np.where(denom > 0, 2 * common / np.where(denom > 0, denom, 1), 0.0).astype(np.float64)
        stats, agg, opts = views[statistic]
        res = MetricResult(statistic, float(details[statistic]), item_f1, stats, agg, opts, details=details)
    res.views = views
    res.columns = {"matched_levels": common, "pred_depth": pd_, "gold_depth": gd, "valid": valid}
    return res


_TAXONOMY_STATISTICS = ("exact", "hierarchical_f1", "hierarchical_precision", "hierarchical_recall")
