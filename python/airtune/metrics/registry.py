"""Metric functions by name, as airtune.evaluate takes them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._result import MetricResult
from .labels import CLASS_STATISTICS, classification, taxonomy_accuracy
from .text import bleu, chrf, exact_match, rouge, token_f1

MetricFn = Callable[..., MetricResult]


def _label_metric(statistic: str) -> MetricFn:
    # Allowed labels default to the gold labels: an answer outside them (raw HTML, a sentence) is
    # invalid, counted and wrong, and the macro statistics never average over such strings.
    def fn(h: Sequence, r: Sequence, *, labels: Sequence | str | None = None, **kw: Any) -> MetricResult:
        return classification(
            list(r), list(h), labels="gold" if labels is None else labels, statistic=statistic, **kw
        )

    fn.__name__ = statistic
    return fn


def _taxonomy_metric(statistic: str) -> MetricFn:
    def fn(h: Sequence, r: Sequence, *, labels: Sequence | None = None, **kw: Any) -> MetricResult:
        kw.pop("normalize", None)  # paths are compared level by level (case_sensitive= instead)
        return taxonomy_accuracy(r, h, valid_paths=labels, statistic=statistic, **kw)

    fn.__name__ = statistic
    return fn


#: Metric functions by name, for airtune.evaluate.
REGISTRY: dict[str, MetricFn] = {
    "bleu": bleu,
    "chrf": chrf,
    "chrf++": lambda h, r, **kw: chrf(h, r, word_order=2, **kw),
    "rouge1": lambda h, r, **kw: rouge(h, r, rouge_types=("rouge1",), **kw),
    "rouge2": lambda h, r, **kw: rouge(h, r, rouge_types=("rouge2",), **kw),
    "rougeL": lambda h, r, **kw: rouge(h, r, rouge_types=("rougeL",), **kw),
    "rougeLsum": lambda h, r, **kw: rouge(h, r, rouge_types=("rougeLsum",), **kw),
    "exact_match": exact_match,
    "token_f1": token_f1,
    **{st: _label_metric(st) for st in CLASS_STATISTICS},
    "taxonomy": _taxonomy_metric("exact"),
    "hierarchical_f1": _taxonomy_metric("hierarchical_f1"),
    "hierarchical_precision": _taxonomy_metric("hierarchical_precision"),
    "hierarchical_recall": _taxonomy_metric("hierarchical_recall"),
}

#: Registry metrics over labels: evaluate(labels=..., normalize=...) reaches them.
LABEL_METRICS = frozenset(
    [*CLASS_STATISTICS, "taxonomy", "hierarchical_f1", "hierarchical_precision", "hierarchical_recall"]
)
