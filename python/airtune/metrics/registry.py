"""Metric functions by name, as airtune.evaluate takes them."""

from __future__ import annotations

from collections.abc import Callable

from ._result import MetricResult
from .labels import classification, taxonomy_accuracy
from .text import bleu, chrf, exact_match, rouge, token_f1

MetricFn = Callable[..., MetricResult]


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
    "accuracy": lambda h, r, **kw: classification(list(r), list(h), **kw),
    "taxonomy": lambda h, r, **kw: taxonomy_accuracy(r, h, **kw),
}
