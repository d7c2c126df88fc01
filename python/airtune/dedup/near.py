"""Near duplicates: MinHash over word or character n-grams, LSH bands/rows from the threshold, every
candidate verified by exact Jaccard, union-find clusters; the MinHash index saved and loaded."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._results import ResultMixin, require
from ._common import _c, _labels_of, _norm_flags, _resolve_conflicts, _RowsMixin, _survivor_args, _texts


def choose_bands_rows(
    threshold: float, num_perm: int = 128, weights: tuple[float, float] = (0.5, 0.5)
) -> tuple[int, int]:
    """(bands, rows) minimising ``w_fp * FP area + w_fn * FN area`` of the LSH S-curve around
    ``threshold`` (the rule of datasketch's MinHashLSH, same result for the same weights)."""
    return _bands_rows(float(threshold), int(num_perm), float(weights[0]), float(weights[1]))


@functools.lru_cache(maxsize=256)
def _bands_rows(threshold: float, num_perm: int, w_fp: float, w_fn: float) -> tuple[int, int]:
    # The search integrates ~num_perm * ln(num_perm) S-curves (tens of ms): once per setting.
    bands, rows = _c.choose_bands_rows(threshold, num_perm, w_fp, w_fn)
    return int(bands), int(rows)


def candidate_probability(s: float, bands: int, rows: int) -> float:
    """Probability that a pair of Jaccard similarity ``s`` becomes an LSH candidate:
    ``1 - (1 - s**rows)**bands``."""
    return float(_c.candidate_probability(float(s), int(bands), int(rows)))


def shingles(
    text: str,
    ngram: int = 5,
    *,
    char_ngrams: bool = False,
    lowercase: bool = True,
    whitespace: bool = True,
    punctuation: bool = True,
    digits: bool = False,
    nfkc: bool = True,
) -> list[str]:
    """The shingles MinHash sees for ``text`` (in text order, repeats included)."""
    return _c.shingles(
        text, int(ngram), bool(char_ngrams), _norm_flags(lowercase, whitespace, punctuation, digits, nfkc)
    )


#: Default LSH weights of near_duplicates: false negatives cost recall, false positives only cost
#: verification time (every candidate is checked by exact Jaccard), so misses weigh more.
NEAR_WEIGHTS = (0.05, 0.95)


@dataclass(repr=False)
class QueryResult(ResultMixin):
    """Matches of query rows in a :class:`MinHashIndex`: pairs (query row, index row, Jaccard)."""

    query_row: np.ndarray
    index_row: np.ndarray
    similarity: np.ndarray
    n_queries: int
    candidates: int

    @property
    def matched(self) -> np.ndarray:
        """Per query row: True when it matches at least one index row."""
        m = np.zeros(self.n_queries, dtype=bool)
        m[self.query_row] = True
        return m

    def best(self) -> tuple[np.ndarray, np.ndarray]:
        """Per query row: (index row of the most similar match or -1, its similarity or 0)."""
        row = np.full(self.n_queries, -1, dtype=np.int64)
        sim = np.zeros(self.n_queries)
        order = np.lexsort((self.index_row, -self.similarity, self.query_row))
        q = self.query_row[order]
        first = np.ones(q.shape[0], dtype=bool)
        first[1:] = q[1:] != q[:-1]
        row[q[first]] = self.index_row[order][first]
        sim[q[first]] = self.similarity[order][first]
        return row, sim

    def summary_line(self) -> str:
        return (
            f"QueryResult: {int(self.matched.sum())} of {self.n_queries} query rows match the index "
            f"({self.query_row.shape[0]} pairs, {self.candidates} candidates)"
        )

    def to_pandas(self) -> Any:
        pd = require("pandas", "pandas")
        return pd.DataFrame(
            {"query_row": self.query_row, "index_row": self.index_row, "similarity": self.similarity}
        )

    def __repr__(self) -> str:
        return self.summary_line()


class MinHashIndex:
    """A MinHash-LSH index of texts that can be saved, loaded and queried incrementally.

    ``bands``/``rows`` default to :func:`choose_bands_rows` for ``threshold`` with
    :data:`NEAR_WEIGHTS`. The shingle sets are kept (8 bytes per distinct shingle) so that every
    candidate can be verified by exact Jaccard; ``keep_shingles=False`` saves that memory and
    reports signature estimates instead. Files are written atomically (temp file + rename) and
    checked on load (magic, version, sizes, XXH64 checksum). The file records every normalisation
    flag the index was built with (Unicode form included), so a loaded index hashes new texts the
    same way; ``nfkc=False`` builds an index without the Unicode compatibility folding.
    """

    def __init__(
        self,
        threshold: float = 0.8,
        ngram: int = 5,
        *,
        num_perm: int = 128,
        char_ngrams: bool = False,
        bands: int | None = None,
        rows: int | None = None,
        weights: tuple[float, float] = NEAR_WEIGHTS,
        seed: int = 1,
        lowercase: bool = True,
        whitespace: bool = True,
        punctuation: bool = True,
        digits: bool = False,
        nfkc: bool = True,
        keep_shingles: bool = True,
        _native: Any = None,
    ) -> None:
        self.threshold = float(threshold)
        if _native is not None:
            self._ix = _native
        else:
            if not 0.0 < self.threshold < 1.0 and (bands is None or rows is None):
                raise ValueError(f"threshold: expected a value in (0, 1), got {threshold}")
            if (bands is None) != (rows is None):
                raise ValueError("pass both bands and rows, or neither")
            if bands is None:
                bands, rows = choose_bands_rows(self.threshold, num_perm, weights)
            assert bands is not None and rows is not None  # both given, or both chosen above
            self._ix = _c.MinHashIndex(
                int(num_perm),
                int(ngram),
                bool(char_ngrams),
                int(seed),
                _norm_flags(lowercase, whitespace, punctuation, digits, nfkc),
                int(bands),
                int(rows),
                bool(keep_shingles),
            )
            if 0.0 <= self.threshold <= 1.0:
                self._ix.threshold = self.threshold
        self.nfkc = self.options["normalize"]["unicode"] == "NFKC"

    # -- properties
    @property
    def bands(self) -> int:
        return int(self._ix.bands)

    @property
    def rows(self) -> int:
        return int(self._ix.rows)

    @property
    def options(self) -> dict[str, Any]:
        o = self._ix.options
        n = o.normalize
        return {
            "num_perm": o.num_perm,
            "ngram": o.ngram,
            "char_ngrams": o.char_ngrams,
            "seed": o.seed,
            "normalize": {
                "lowercase": n.lowercase,
                "collapse_whitespace": n.collapse_whitespace,
                "strip_punctuation": n.strip_punctuation,
                "digits_to_zero": n.digits_to_zero,
                "unicode": n.unicode,
            },
        }

    def __len__(self) -> int:
        return len(self._ix)

    def _prep(self, texts: Any, column: str | None, select: str | None = None) -> Any:
        return _texts(texts, column, select=select, stage="near")[0]

    def add(self, texts: Any, column: str | None = None, *, select: str | None = None) -> range:
        """Hash ``texts`` (records: the ``select``-ed text, by default the conversation) and append
        them; returns their index rows."""
        start = len(self)
        self._ix.add(self._prep(texts, column, select))
        return range(start, len(self))

    def query(
        self,
        texts: Any,
        threshold: float | None = None,
        *,
        verify: bool = True,
        column: str | None = None,
        select: str | None = None,
    ) -> QueryResult:
        """Index rows similar (Jaccard >= threshold) to each query text; the index is unchanged."""
        rows = self._prep(texts, column, select)
        t = self.threshold if threshold is None else float(threshold)
        p = self._ix.query(rows, t, verify)
        return QueryResult(
            query_row=p.a,
            index_row=p.b,
            similarity=p.similarity,
            n_queries=len(rows),
            candidates=int(p.candidates),
        )

    def self_pairs(
        self,
        threshold: float | None = None,
        *,
        verify: bool = True,
        max_bucket: int = 256,
        texts: Any = None,
        column: str | None = None,
        select: str | None = None,
    ) -> dict[str, Any]:
        """All pairs of indexed rows with similarity >= threshold (dict of arrays a, b, similarity).

        An index made with ``keep_shingles=False`` verifies from ``texts``, the texts it was built
        from (the same rows, in order): only rows that share a band bucket with another row are
        shingled again, so the corpus's shingle sets are never all held at once."""
        t = self.threshold if threshold is None else float(threshold)
        return self._self_pairs(
            t, verify, max_bucket, None if texts is None else self._prep(texts, column, select)
        )

    def _self_pairs(self, threshold: float, verify: bool, max_bucket: int, rows: Any) -> dict[str, Any]:
        return _pair_dict(self._ix.self_pairs(float(threshold), bool(verify), int(max_bucket), rows))

    def pairs_within(
        self,
        texts: Any,
        threshold: float | None = None,
        *,
        max_bucket: int = 256,
        column: str | None = None,
        select: str | None = None,
    ) -> dict[str, Any]:
        """Verified pairs among ``texts`` alone (the index's rows take no part), with this index's
        options, bands and rows: what ``add(texts)`` then ``self_pairs`` would give on an empty
        index, holding neither signatures nor shingle sets (band keys are taken as each signature
        is made, and only rows sharing a bucket are shingled again to verify)."""
        t = self.threshold if threshold is None else float(threshold)
        return _pair_dict(self._ix.pairs_within(self._prep(texts, column, select), t, int(max_bucket)))

    def signatures(self) -> np.ndarray:
        """Copy of the signatures, shape (len(self), num_perm), uint64."""
        return self._ix.signatures()

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to ``path`` atomically (temp file + rename)."""
        self._ix.save(os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike, threshold: float | None = None, nfkc: bool = True) -> MinHashIndex:
        """Read an index written by :meth:`save` (OSError if unreadable, ValueError if invalid).
        ``threshold`` defaults to the one stored in the file; the normalisation (``nfkc`` included)
        is the one stored in the file, so the ``nfkc`` argument is ignored (kept for old callers)."""
        native = _c.MinHashIndex.load(os.fspath(path))
        if threshold is None:
            threshold = float(native.threshold) or 0.8
        return cls(threshold, _native=native, nfkc=nfkc)

    def __repr__(self) -> str:
        o = self.options
        return (
            f"MinHashIndex({len(self)} rows, num_perm={o['num_perm']}, ngram={o['ngram']}, "
            f"bands={self.bands}, rows={self.rows})"
        )


@dataclass(repr=False)
class NearDuplicateResult(_RowsMixin):
    """Near duplicates found by MinHash-LSH.

    ``pairs_a``/``pairs_b``/``pairs_similarity``: every verified pair (a < b) with its exact
    Jaccard similarity (signature estimate when ``verify=False``). ``candidate_probability``:
    P(a pair at Jaccard s becomes a candidate) for s in 0.5..1.0 at the chosen bands/rows.
    """

    keep: np.ndarray
    cluster: np.ndarray
    cluster_size: np.ndarray
    pairs_a: np.ndarray
    pairs_b: np.ndarray
    pairs_similarity: np.ndarray
    threshold: float
    num_perm: int
    bands: int
    rows: int
    verified: bool
    candidates: int
    capped_buckets: int
    n_clusters: int
    survivor_rule: str
    candidate_probability: dict[float, float] = field(default_factory=dict)
    conflicts: list = field(default_factory=list)
    on_conflict: str = "first"
    ids: list | None = None
    threshold_table: dict[float, int] = field(default_factory=dict)
    conflict_dropped: np.ndarray | None = None
    reason_label = "near duplicate"
    stage = "near"

    def pairs(self) -> Any:
        """The pairs as a DataFrame (a, b, similarity)."""
        pd = require("pandas", "pandas")
        return pd.DataFrame({"a": self.pairs_a, "b": self.pairs_b, "similarity": self.pairs_similarity})

    def summary_line(self) -> str:
        p = self.candidate_probability.get(self.threshold)
        ptxt = f", P(candidate | s={self.threshold:g}) = {p:.3f}" if p is not None else ""
        return (
            f"NearDuplicateResult: {self.n_rows} rows, {self.n_removed} near duplicates removed in "
            f"{self.n_clusters} clusters ({self.pairs_a.shape[0]} pairs >= {self.threshold:g}, "
            f"{self.candidates} candidates, bands={self.bands} x rows={self.rows}{ptxt})"
        )

    def plot(self, ax: Any = None) -> Any:
        """Histogram of pair similarities."""
        plt = require("matplotlib.pyplot", "plot")
        ax = ax or plt.subplots()[1]
        ax.hist(self.pairs_similarity, bins=40)
        ax.set_xlabel("Jaccard similarity" if self.verified else "estimated Jaccard")
        ax.set_ylabel("pairs")
        ax.set_title(self.summary_line())
        return ax

    def __repr__(self) -> str:
        return self.summary_line()


def _pair_dict(p: Any) -> dict[str, Any]:
    return {
        "candidates": p.candidates,
        "capped_buckets": p.capped_buckets,
        "a": p.a,
        "b": p.b,
        "similarity": p.similarity,
    }


def _lengths(rows: Any) -> np.ndarray:
    if hasattr(rows, "byte_lengths"):
        return rows.byte_lengths()
    return np.fromiter(
        (len(t.encode()) if isinstance(t, str) else len(t or b"") for t in rows),
        dtype=np.int64,
        count=len(rows),
    )


def near_duplicates(
    texts: Any,
    threshold: float = 0.8,
    ngram: int = 5,
    *,
    select: str | None = None,
    column: str | None = None,
    num_perm: int = 128,
    char_ngrams: bool = False,
    bands: int | None = None,
    rows: int | None = None,
    weights: tuple[float, float] = NEAR_WEIGHTS,
    verify: bool = True,
    keep: str = "first",
    scores: Any = None,
    priority: Any = None,
    seed: int = 1,
    lowercase: bool = True,
    whitespace: bool = True,
    punctuation: bool = True,
    digits: bool = False,
    nfkc: bool = True,
    max_bucket: int = 256,
    labels: Any = None,
    on_conflict: str = "first",
    thresholds: tuple[float, ...] | None = (0.95, 0.9, 0.85, 0.8, 0.7, 0.6),
) -> NearDuplicateResult:
    """Near duplicates by MinHash-LSH with exact-Jaccard verification.

    Shingles: word ``ngram``-grams (or character n-grams with ``char_ngrams=True``) of the
    normalised text, hashed to 64 bits; ``num_perm`` MinHash values per row. LSH bands/rows come
    from ``threshold`` (:func:`choose_bands_rows` with ``weights``) unless given. With
    ``verify=True`` (default) every candidate pair's exact Jaccard is computed and only pairs
    ``>= threshold`` are kept, so precision is 1 by construction; recall is the S-curve
    ``candidate_probability``. Pairs are joined by union-find; each cluster keeps one row by
    ``keep`` ("first", "longest", "score" with ``scores``, or ``priority=``, lower wins).
    Empty texts have no shingles and are never near duplicates (use exact_duplicates for them).
    Records and chat rows are compared on ``select`` (default: the whole conversation); label
    conflicts inside clusters are reported and settled as in :func:`exact_duplicates`.
    ``threshold_table``: rows removed at each of ``thresholds`` (pairs verified once at the lowest).
    """
    rows_, records = _texts(texts, column, select=select, stage="near")
    rule, sc = _survivor_args(keep, scores, priority, len(rows_))
    index = MinHashIndex(
        threshold,
        ngram,
        num_perm=num_perm,
        char_ngrams=char_ngrams,
        bands=bands,
        rows=rows,
        weights=weights,
        seed=seed,
        lowercase=lowercase,
        whitespace=whitespace,
        punctuation=punctuation,
        digits=digits,
        nfkc=nfkc,
        keep_shingles=False,
    )
    ts = sorted({float(t) for t in (thresholds or ())} | {float(threshold)}, reverse=True)
    low = min(ts)
    if verify:  # no signatures or shingle sets held: keys as signatures are made, candidates' sets
        p = _pair_dict(index._ix.pairs_within(rows_, low, int(max_bucket)))
    else:
        index._ix.add(rows_)
        p = index._self_pairs(low, False, int(max_bucket), None)
    removed = _c.removed_at_thresholds(len(rows_), p["a"], p["b"], p["similarity"], np.asarray(ts))
    table = {t: int(r) for t, r in zip(ts, removed)}
    if low < float(threshold):
        m = p["similarity"] >= float(threshold)
        p = {**p, "a": p["a"][m], "b": p["b"][m], "similarity": p["similarity"][m]}
    lengths = _lengths(rows_) if rule == "longest" else None
    c = _c.clusters_from_pairs(len(rows_), p["a"], p["b"], rule, lengths, sc)
    labs = _labels_of(records, labels, len(rows_))
    keep_mask, cluster, conflicts, conflict_dropped = _resolve_conflicts(
        c.keep.astype(bool), c.cluster, c.size, labs, on_conflict
    )
    probs = {
        s: candidate_probability(s, index.bands, index.rows)
        for s in sorted({0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, round(float(threshold), 6)})
    }
    return NearDuplicateResult(
        keep=keep_mask,
        cluster=cluster,
        cluster_size=c.size,
        pairs_a=p["a"],
        pairs_b=p["b"],
        pairs_similarity=p["similarity"],
        threshold=float(threshold),
        num_perm=int(num_perm),
        bands=index.bands,
        rows=index.rows,
        verified=bool(verify),
        candidates=int(p["candidates"]),
        capped_buckets=int(p["capped_buckets"]),
        n_clusters=int(c.n_clusters),
        survivor_rule=rule if priority is None else "priority",
        candidate_probability=probs,
        conflicts=conflicts,
        on_conflict=on_conflict,
        ids=records.ids if records is not None else None,
        threshold_table=table,
        conflict_dropped=conflict_dropped if conflict_dropped.any() else None,
    )
