"""Deduplicator: fit(reference) / transform(new) for pipelines (exact, near and semantic checks
against rows seen before), saved and loaded."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _core
from .._results import ResultMixin, require
from ..stage import StageResult
from ._common import _c, _norm_flags, _texts
from .exact import exact_duplicates
from .near import MinHashIndex, near_duplicates


@dataclass(repr=False)
class DeduplicatorResult(StageResult, ResultMixin):
    """Result of :meth:`Deduplicator.transform`: ``keep`` mask and a reason per dropped row
    ('exact-reference', 'near-reference', 'exact', 'near'), with the matched row."""

    keep: np.ndarray
    reason: list[str]
    matched_row: np.ndarray
    similarity: np.ndarray
    stage = "dedup"

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.reason:
            if r:
                out[r] = out.get(r, 0) + 1
        return out

    def summary_line(self) -> str:
        return f"DeduplicatorResult: {int(self.keep.sum())} of {self.keep.shape[0]} rows kept; dropped {self.counts}"

    def to_pandas(self) -> Any:
        pd = require("pandas", "pandas")
        return pd.DataFrame(
            {
                "keep": self.keep,
                "reason": self.reason,
                "matched_row": self.matched_row,
                "similarity": self.similarity,
            }
        )

    def __repr__(self) -> str:
        return self.summary_line()


def _core_take(column: Any, rows: list[int]) -> list:
    texts = column.to_list()
    return [texts[i] for i in rows]


class Deduplicator:
    """Exact + near deduplication against a reference corpus, for pipelines.

    ``fit(reference)`` hashes the reference once (exact hashes and a :class:`MinHashIndex`);
    ``transform(new)`` drops new rows that duplicate a reference row or an earlier new row.
    ``save``/``load`` keep the fitted MinHash index on disk.
    """

    def __init__(
        self,
        threshold: float = 0.8,
        ngram: int = 5,
        *,
        num_perm: int = 128,
        exact: bool = True,
        near: bool = True,
        within: bool = True,
        nfkc: bool = True,
    ) -> None:
        self.threshold = float(threshold)
        self.ngram = int(ngram)
        self.num_perm = int(num_perm)
        self.exact, self.near, self.within, self.nfkc = exact, near, within, nfkc
        self._hashes: dict[int, int] = {}
        self._index: MinHashIndex | None = None

    def _flags(self) -> _core.dedup.NormalizeOptions:
        return _norm_flags(True, True, False, False, self.nfkc)

    def fit(self, reference: Any, column: str | None = None, *, select: str | None = None) -> Deduplicator:
        rows, _ = _texts(reference, column, "reference", select=select, stage="dedup")
        self._index = MinHashIndex(self.threshold, self.ngram, num_perm=self.num_perm, nfkc=self.nfkc)
        self._index.add(rows)
        self._hashes = {}
        for i, h in enumerate(_c.exact_hashes(rows, self._flags()).tolist()):
            self._hashes.setdefault(h, i)
        return self

    def transform(
        self, texts: Any, column: str | None = None, *, select: str | None = None
    ) -> DeduplicatorResult:
        if self._index is None:
            raise RuntimeError("Deduplicator: call fit(reference) first")
        rows, _ = _texts(texts, column, select=select, stage="dedup")
        n = len(rows)
        reason = [""] * n
        matched = np.full(n, -1, dtype=np.int64)
        sim = np.zeros(n)
        if self.exact:
            hs = _c.exact_hashes(rows, self._flags()).tolist()
            for i, h in enumerate(hs):
                j = self._hashes.get(h)
                if j is not None:
                    reason[i], matched[i], sim[i] = "exact-reference", j, 1.0
        if self.near and len(self._index):
            best, bsim = self._index.query(rows).best()
            for i in np.flatnonzero(best >= 0).tolist():
                if not reason[i]:
                    reason[i], matched[i], sim[i] = "near-reference", int(best[i]), float(bsim[i])
        if self.within:
            live = [i for i in range(n) if not reason[i]]
            sub = [rows[i] for i in live] if isinstance(rows, list) else _core_take(rows, live)
            if self.exact:
                ex = exact_duplicates(sub, nfkc=self.nfkc)
                for k in np.flatnonzero(~ex.keep).tolist():
                    i = live[k]
                    reason[i], matched[i], sim[i] = "exact", live[int(ex.cluster[k])], 1.0
            if self.near:
                nd = near_duplicates(sub, self.threshold, self.ngram, num_perm=self.num_perm, nfkc=self.nfkc)
                for k in np.flatnonzero(~nd.keep).tolist():
                    i = live[k]
                    if not reason[i]:
                        reason[i], matched[i] = "near", live[int(nd.cluster[k])]
        keep = np.array([not r for r in reason], dtype=bool)
        return DeduplicatorResult(keep=keep, reason=reason, matched_row=matched, similarity=sim)

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted state: the MinHash index at ``path`` and the exact hashes at
        ``path + ".exact.npy"`` (both written to a temporary name first, then renamed)."""
        if self._index is None:
            raise RuntimeError("Deduplicator: call fit(reference) first")
        path = os.fspath(path)
        self._index.save(path)
        table = np.array(sorted(self._hashes.items()), dtype=np.uint64).reshape(-1, 2)
        tmp = path + ".exact.tmp.npy"
        np.save(tmp, table)
        os.replace(tmp, path + ".exact.npy")

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        threshold: float | None = None,
        *,
        exact: bool = True,
        near: bool = True,
        within: bool = True,
        nfkc: bool = True,
    ) -> Deduplicator:
        """Read a state written by :meth:`save` (threshold, ngram and num_perm come from the file)."""
        path = os.fspath(path)
        index = MinHashIndex.load(path, threshold=threshold, nfkc=nfkc)
        opts = index.options
        d = cls(
            index.threshold,
            opts["ngram"],
            num_perm=opts["num_perm"],
            exact=exact,
            near=near,
            within=within,
            nfkc=nfkc,
        )
        d._index = index
        table = np.load(path + ".exact.npy")
        if table.ndim != 2 or table.shape[1] != 2:
            raise ValueError(f"{path}.exact.npy: expected an (n, 2) table of hashes and rows")
        d._hashes = {int(h): int(r) for h, r in table.tolist()}
        return d
