"""MetricResult (corpus score, per-item scores and sufficient statistics) and the input adapters of the metrics."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._inputs import as_str_list
from .._results import ResultMixin

#: The sacreBLEU release whose behaviour (and signature strings) bleu() and chrf() reproduce.
SACREBLEU_COMPAT = "2.6.0"


DEFAULT_SEED = 12345


@dataclass
class MetricResult(ResultMixin):
    """A corpus score with per-item scores and the statistics to resample it.

    ``stats`` (n x k) sums to the corpus statistics; ``aggregate`` with ``options`` says how summed
    rows become the score: "mean" (the mean of column ``options["column"]``: a per-item metric),
    or a corpus statistic recomputed from the rows of each resample: "bleu", "chrf",
    "classification" (macro-F1 and the others from label codes), "hierarchical" (taxonomy P/R/F1),
    "python" (a declared corpus metric, see :func:`airtune.metrics.corpus_metric`). ``details``
    holds metric-specific extras (counts, sub-scores); ``views`` the other corpus statistics the
    same items give (name -> (stats, aggregate, options)), reached with :meth:`select`.
    """

    name: str
    score: float
    per_item: np.ndarray
    stats: np.ndarray
    aggregate: str
    options: dict = field(default_factory=dict)
    signature: str = ""
    details: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)
    views: dict = field(default_factory=dict, repr=False)
    # aggregate "python": the object that recomputes the statistic on resampled items.
    resample: Any = field(default=None, repr=False, compare=False)

    @property
    def is_corpus(self) -> bool:
        """True when the score is a corpus statistic, not the mean of per-item scores."""
        return self.aggregate != "mean"

    @property
    def is_binary(self) -> bool:
        """A mean of 0/1 per-item outcomes (accuracy, exact match, validity): McNemar and Wilson apply."""
        if self.aggregate != "mean" or not len(self.stats):
            return False
        return bool(np.isin(self.item_values(), (0.0, 1.0)).all())

    def item_values(self) -> np.ndarray:
        """The per-item values a "mean" aggregate averages (the resampled column; for a judge,
        unparsed answers are filled with the value they are scored as)."""
        if self.aggregate != "mean":
            raise ValueError(
                f"{self.name} is a corpus statistic ({self.aggregate}): it has no per-item values to average"
            )
        return np.asarray(self.stats, dtype=np.float64)[:, int(self.options.get("column", 0))]

    def summary_line(self) -> str:
        sig = f" ({self.signature})" if self.signature else ""
        return f"{self.name} = {self.score:.4f} over {len(self.per_item)} items{sig}"

    def to_pandas(self) -> Any:
        """Per-item table: one column per score this metric produces."""
        import pandas as pd

        data = {self.name: self.per_item}
        for key, col in self.columns.items():
            data[key] = col
        return pd.DataFrame(data)

    def select(self, column: str) -> MetricResult:
        """A sub-metric for statistics: a per-item column as a mean (``rouge(...).select("rougeL")``)
        or another corpus statistic of the same items (``classification(...).select("macro_f1")``)."""
        if column in self.views:
            from .._core import metrics as _m

            stats, aggregate, options = self.views[column]
            score = _m.aggregate(stats, aggregate, options) if len(stats) else 0.0
            return MetricResult(
                column,
                float(score),
                self.per_item,
                stats,
                aggregate,
                dict(options),
                self.signature,
                self.details,
                self.columns,
                self.views,
            )
        if column not in self.columns:
            raise KeyError(
                f"{self.name}: no column or statistic {column!r}; have {sorted(self.columns) + sorted(self.views)}"
            )
        values = np.asarray(self.columns[column], dtype=np.float64)
        return MetricResult(
            name=column,
            score=float(values.mean()) if len(values) else 0.0,
            per_item=values,
            stats=values.reshape(-1, 1),
            aggregate="mean",
            options={"column": 0},
        )

    def __float__(self) -> float:
        return float(self.score)


def _texts(obj: Any, name: str) -> list:
    texts = as_str_list(obj, name)
    if set(map(type, texts)) <= {str}:  # the common case, checked at C speed
        return texts
    for i, t in enumerate(texts):
        if t is None:
            raise ValueError(f"{name}: row {i} is None")
        if isinstance(t, float) and math.isnan(t):
            raise ValueError(f"{name}: row {i} is NaN")
        if not isinstance(t, (str, bytes)):
            raise TypeError(f"{name}: row {i} is {type(t).__name__}, expected str")
    return texts


def _ref_streams(refs: Any, n: int, streams: bool) -> list[list]:
    """sacreBLEU-layout reference streams (refs[k][i], None = missing) from either layout."""
    if isinstance(refs, (str, bytes)):
        raise TypeError("references: expected a sequence, got a single string")
    if not streams:
        items = refs if isinstance(refs, list) else as_str_list(refs, "references")
        if set(map(type, items)) <= {str, bytes, type(None)}:
            if len(items) != n:
                raise ValueError(f"inputs differ in length: hypotheses={n}, references={len(items)}")
            for i, r in enumerate(items):
                if r is None:
                    raise ValueError(f"references: row {i} is None")
            return [list(items)]
        if len(items) != n:
            raise ValueError(f"inputs differ in length: hypotheses={n}, references={len(items)}")
        per_item = []
        for i, r in enumerate(items):
            if isinstance(r, (str, bytes)):
                r = [r]
            r = [x for x in (list(r) if r is not None else []) if x is not None]
            if not r:
                raise ValueError(f"references: row {i} has no reference")
            per_item.append(r)
        width = max(len(r) for r in per_item) if per_item else 1
        return [[r[k] if k < len(r) else None for r in per_item] for k in range(width)]
    out = [list(s) for s in refs]
    for k, s in enumerate(out):
        if len(s) != n:
            raise ValueError(f"reference stream {k} has {len(s)} items, hypotheses have {n}")
    return out


@contextlib.contextmanager
def _named_rows(**columns: list) -> Iterator[None]:
    """Turns a UnicodeEncodeError from the C++ call (a str with lone surrogates) into a ValueError
    naming the column and row; the scan runs only on that failure path."""
    try:
        yield
    except UnicodeEncodeError:
        for name, col in columns.items():
            streams = col if col and isinstance(col[0], list) else [col]
            for stream in streams:
                for i, t in enumerate(stream):
                    if isinstance(t, str):
                        try:
                            t.encode("utf-8")
                        except UnicodeEncodeError as exc:
                            raise ValueError(f"{name}: row {i} is not valid Unicode ({exc.reason})") from None
        raise


def _lower(texts: list) -> list:
    return [t.lower() if isinstance(t, str) else t for t in texts]


def _lower_streams(streams: list[list]) -> list[list]:
    return [[t.lower() if isinstance(t, str) else t for t in s] for s in streams]


def _nrefs(streams: list[list]) -> str:
    if not any(None in s for s in streams):
        return str(len(streams))
    counts = {sum(s[i] is not None for s in streams) for i in range(len(streams[0]))} if streams[0] else {1}
    return str(counts.pop()) if len(counts) == 1 else "var"
