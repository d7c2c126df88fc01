"""Outliers: mean kNN distance with an IQR fence, LOF, distance to the centroid or to a reference set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._inputs import as_float32_matrix
from .._results import ResultMixin, require
from ..stage import StageResult
from ._common import _c


@dataclass(repr=False)
class OutlierResult(StageResult, ResultMixin):
    """Outlier scores (higher = more outlying), flags and the reason for each flag.

    As a stage: ``keep`` is ``~flag`` and ``reason[i]`` reads ``"outlier:<method> ..."`` for a flagged row.
    """

    score: np.ndarray
    flag: np.ndarray
    fence: float
    method: str
    reason: list[str]
    stage = "outliers"

    @property
    def keep(self) -> np.ndarray:
        return ~self.flag

    @property
    def n_flagged(self) -> int:
        return int(self.flag.sum())

    def summary_line(self) -> str:
        return (
            f"OutlierResult ({self.method}): {self.n_flagged} of {self.flag.shape[0]} rows flagged "
            f"(score > {self.fence:.4g})"
        )

    def to_pandas(self) -> Any:
        pd = require("pandas", "pandas")
        return pd.DataFrame({"score": self.score, "flag": self.flag, "reason": self.reason})

    def plot(self, ax: Any = None) -> Any:
        plt = require("matplotlib.pyplot", "plot")
        ax = ax or plt.subplots()[1]
        ax.hist(self.score, bins=50)
        ax.axvline(self.fence, color="r", linestyle="--")
        ax.set_xlabel(f"{self.method} outlier score")
        return ax

    def __repr__(self) -> str:
        return self.summary_line()


def outliers(
    embeddings: Any,
    method: str = "knn",
    *,
    k: int = 10,
    reference: Any = None,
    factor: float = 1.7,
    lof_threshold: float = 1.5,
    index: str = "auto",
) -> OutlierResult:
    """Score how far each row lies from the rest (or from ``reference``, in-domain examples).

    * ``"knn"``: mean cosine distance to the ``k`` nearest neighbours; flagged above
      Q3 + ``factor`` x IQR (cleanlab's fence: factor 1.7).
    * ``"lof"``: local outlier factor with ``k`` neighbours on raw vectors (Euclidean), as
      scikit-learn's LocalOutlierFactor; flagged when LOF > ``lof_threshold`` (1.5 = sklearn's
      ``contamination="auto"``).
    * ``"centroid"``: cosine distance to the mean direction; IQR fence.
    * ``reference=`` (any method): cosine distance to the nearest reference row; flagged above the
      IQR fence of the reference rows' own nearest-neighbour distances.

    ``index`` is the kNN search of the "knn" method (see :func:`semantic_duplicates`); above 20k
    rows "auto" is approximate, so pass ``index="flat"`` for exact scores on weakly clustered data.
    """
    x = as_float32_matrix(embeddings)
    n = x.shape[0]
    if n == 0:
        raise ValueError("embeddings: empty input")
    if reference is not None:
        ref = as_float32_matrix(reference, name="reference")
        r = _c.reference_outliers(x, ref, float(factor))
        name, what = "reference", "distance to nearest reference row"
    elif method == "knn":
        if n < 2:
            raise ValueError("outliers(method='knn'): needs at least 2 rows")
        sim, ids, _ = _c.knn_self_cosine(x, int(k), index)
        r = _c.knn_outliers(sim, ids, float(factor))
        name, what = "knn", f"mean cosine distance to {min(k, n - 1)} neighbours"
    elif method == "lof":
        r = _c.lof_outliers(x, int(k), float(lof_threshold))
        name, what = "lof", f"local outlier factor (k={min(k, n - 1)})"
    elif method == "centroid":
        r = _c.centroid_outliers(x, float(factor))
        name, what = "centroid", "cosine distance to the centroid"
    else:
        raise ValueError(f"method: expected 'knn', 'lof' or 'centroid', got {method!r}")
    score, flag, fence = r.score, r.flag.astype(bool), float(r.fence)
    reason = [
        f"outlier:{name}: {what} {s:.4g} > {fence:.4g}" if f else ""
        for s, f in zip(score.tolist(), flag.tolist())
    ]
    return OutlierResult(score=score, flag=flag, fence=fence, method=name, reason=reason)
