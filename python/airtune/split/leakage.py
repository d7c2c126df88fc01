"""Leakage: exact, near and semantic matches of train rows in the test split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._inputs import as_float32_matrix
from .._results import ResultMixin, require
from ..dedup._common import _c, _norm_flags, _texts
from ..dedup.near import MinHashIndex
from ..stage import StageResult, row_names


@dataclass(repr=False)
class LeakageResult(StageResult, ResultMixin):
    """Train rows that also appear in test: per train row the kind of match ('exact', 'near',
    'semantic' or ''), the matched test row (-1) and the similarity; ``remove`` = rows to drop."""

    remove: np.ndarray
    kind: list[str]
    test_row: np.ndarray
    similarity: np.ndarray
    counts: dict[str, int]
    test_ids: list | None = None
    stage = "leakage"

    @property
    def keep(self) -> np.ndarray:
        return ~self.remove

    @property
    def reason(self) -> list[str]:
        """Per train row: '' when kept, else 'leakage:<kind>_of_test:<test id or row>'."""
        out = [""] * len(self.kind)
        rows = np.flatnonzero(self.remove)
        for i, n in zip(rows.tolist(), row_names(self.test_ids, self.test_row[rows])):
            out[i] = f"leakage:{self.kind[i]}_of_test:{n}"
        return out

    def summary_line(self) -> str:
        detail = ", ".join(f"{k}: {v}" for k, v in self.counts.items())
        return f"LeakageResult: {int(self.remove.sum())} of {self.remove.shape[0]} train rows leak ({detail})"

    def to_pandas(self) -> Any:
        pd = require("pandas", "pandas")
        return pd.DataFrame(
            {
                "remove": self.remove,
                "kind": self.kind,
                "test_row": self.test_row,
                "similarity": self.similarity,
            }
        )

    def __repr__(self) -> str:
        return self.summary_line()


def leakage(
    train: Any,
    test: Any,
    *,
    column: str | None = None,
    select: str | None = None,
    near_threshold: float | None = 0.8,
    ngram: int = 5,
    semantic_threshold: float | None = None,
    train_embeddings: Any = None,
    test_embeddings: Any = None,
    embedder: Any = None,
    lowercase: bool = True,
    whitespace: bool = True,
    punctuation: bool = False,
    digits: bool = False,
    nfkc: bool = True,
) -> LeakageResult:
    """Train rows that duplicate a test row: exact (normalised text), near (MinHash, verified
    Jaccard >= ``near_threshold``; None turns it off) and semantic (cosine >= ``semantic_threshold``
    on embeddings given or computed with ``embedder``; off unless a threshold is given).
    The first kind that matches is reported (exact, then near, then semantic)."""
    tr, tr_records = _texts(train, column, "train", select=select, stage="leakage")
    te, te_records = _texts(test, column, "test", select=select, stage="leakage")
    n = len(tr)
    kind = [""] * n
    test_row = np.full(n, -1, dtype=np.int64)
    sim = np.zeros(n)
    flags = _norm_flags(lowercase, whitespace, punctuation, digits, nfkc)
    h_tr = _c.exact_hashes(tr, flags)
    h_te = _c.exact_hashes(te, flags)
    first_test: dict[int, int] = {}
    for j, h in enumerate(h_te.tolist()):
        first_test.setdefault(h, j)
    counts = {"exact": 0, "near": 0, "semantic": 0}
    for i, h in enumerate(h_tr.tolist()):
        j_test = first_test.get(h)
        if j_test is not None and _c.normalize(tr[i] or "", flags) == _c.normalize(te[j_test] or "", flags):
            kind[i], test_row[i], sim[i] = "exact", j_test, 1.0
            counts["exact"] += 1
    if near_threshold is not None and te:
        ix = MinHashIndex(near_threshold, ngram, nfkc=nfkc, lowercase=lowercase, digits=digits)
        ix.add(te)
        best_row, best_sim = ix.query(tr).best()
        for i in np.flatnonzero(best_row >= 0).tolist():
            if not kind[i]:
                kind[i], test_row[i], sim[i] = "near", int(best_row[i]), float(best_sim[i])
                counts["near"] += 1
    if semantic_threshold is not None and te:
        if train_embeddings is None or test_embeddings is None:
            from ..embed import embed

            train_embeddings = embed(_as_list(tr), embedder)
            test_embeddings = embed(_as_list(te), embedder)
        a = as_float32_matrix(train_embeddings, name="train_embeddings")
        b = as_float32_matrix(test_embeddings, name="test_embeddings")
        if a.shape[0] != n or b.shape[0] != len(te):
            raise ValueError("train_embeddings/test_embeddings: row counts differ from train/test")
        s, ids, _ = _c.knn_cross_cosine(b, a, 1)
        for i in np.flatnonzero(s[:, 0] >= semantic_threshold).tolist():
            if not kind[i]:
                kind[i], test_row[i], sim[i] = "semantic", int(ids[i, 0]), float(s[i, 0])
                counts["semantic"] += 1
    remove = np.array([bool(k) for k in kind], dtype=bool)
    return LeakageResult(
        remove=remove,
        kind=kind,
        test_row=test_row,
        similarity=sim,
        counts=counts,
        test_ids=te_records.ids if te_records is not None else None,
    )


def _as_list(texts: Any) -> list:
    return texts.to_list() if hasattr(texts, "to_list") else list(texts)
