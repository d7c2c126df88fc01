"""Deduplication: exact, near-duplicate (MinHash-LSH) and semantic (FAISS); outliers; leakage.

Every function returns a result dataclass with a ``keep`` boolean mask (one entry per input row),
the clusters it found and why each dropped row was dropped, so that
``kept + dropped == total`` always holds. Survivors are deterministic: the best row of a cluster
by the survivor rule, ties to the smallest row index, for any thread count.

* :func:`exact_duplicates` - identical text after normalisation (case, whitespace, punctuation,
  digits, NFKC), hashed with XXH64 and confirmed byte for byte.
* :func:`near_duplicates` - MinHash over word or character n-grams, LSH bands/rows derived from the
  threshold, every candidate verified by exact Jaccard, union-find clusters.
* :class:`MinHashIndex` - the same index saved to disk and loaded again for incremental checks.
* :func:`semantic_duplicates` - cosine kNN graph of float32 embeddings with FAISS (exact, IVF or
  HNSW), or SemDeDup (k-means, then pairwise inside clusters); a table of removals per threshold.
* :func:`outliers` - mean kNN distance with an IQR fence, LOF, distance to the centroid or to a
  reference set.
* :func:`leakage` - exact, near and semantic matches of train rows in the test split.
* :class:`Deduplicator` - ``fit(reference)`` / ``transform(new)`` for pipelines.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from ._inputs import as_float32_matrix, as_str_list
from ._results import ResultMixin, require

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Deduplicator",
    "DeduplicatorResult",
    "ExactResult",
    "LeakageResult",
    "MinHashIndex",
    "NearDuplicateResult",
    "OutlierResult",
    "QueryResult",
    "SemanticResult",
    "candidate_probability",
    "choose_bands_rows",
    "exact_duplicates",
    "leakage",
    "near_duplicates",
    "normalize",
    "outliers",
    "semantic_duplicates",
    "shingles",
]

_c = _core.dedup

#: Cosine thresholds of the removal table of :func:`semantic_duplicates`.
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.99, 0.97, 0.95, 0.9)


# --------------------------------------------------------------------------------------------
# normalisation


def _norm_flags(lowercase: bool, whitespace: bool, punctuation: bool, digits: bool) -> dict[str, bool]:
    return {
        "lowercase": bool(lowercase),
        "collapse_whitespace": bool(whitespace),
        "strip_punctuation": bool(punctuation),
        "digits_to_zero": bool(digits),
    }


def _unicode_prep(texts: list, nfkc: bool, lowercase: bool) -> list:
    """NFKC and full Unicode lower-casing of non-ASCII rows (ASCII rows pass through untouched;
    the C++ pass lower-cases ASCII). None stays None (treated as empty)."""
    if not (nfkc or lowercase):
        return texts
    out = texts
    for i, t in enumerate(texts):
        if isinstance(t, str) and not t.isascii():
            if out is texts:
                out = list(texts)
            if nfkc:
                t = unicodedata.normalize("NFKC", t)
            if lowercase:
                t = t.lower()
            out[i] = t
    return out


def normalize(
    text: str,
    *,
    lowercase: bool = True,
    whitespace: bool = True,
    punctuation: bool = False,
    digits: bool = False,
    nfkc: bool = True,
) -> str:
    """The normalised form of ``text`` used for hashing (see :func:`exact_duplicates`)."""
    (prepped,) = _unicode_prep([text], nfkc, lowercase)
    return _c.normalize(prepped, _norm_flags(lowercase, whitespace, punctuation, digits))


def _conversation_text(row: Any) -> str:
    """One string for a structured row: a chat (list of {role, content} / ShareGPT {from, value}
    messages, or a dict holding one under "messages" / "conversations") becomes "role: content"
    lines; any other dict or list becomes canonical JSON (sorted keys)."""
    messages = row
    if isinstance(row, dict):
        for key in ("messages", "conversations", "conversation"):
            if isinstance(row.get(key), list):
                messages = row[key]
                break
    if isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages):
        lines = []
        for m in messages:
            role = m.get("role", m.get("from", ""))
            content = m.get("content", m.get("value", ""))
            if not isinstance(content, str):
                content = json.dumps(content, ensure_ascii=False, sort_keys=True)
            lines.append(f"{role}: {content}")
        return "\n".join(lines)
    return json.dumps(row, ensure_ascii=False, sort_keys=True, default=str)


def _texts(obj: Any, column: str | None, name: str = "texts") -> list:
    """as_str_list, plus whole conversations / structured rows (dict, list) turned into one string
    each; other non-text values are left for the C++ layer to reject (TypeError naming the row)."""
    rows = as_str_list(obj, name=name, column=column)
    if any(isinstance(r, (dict, list, tuple)) for r in rows):
        rows = [_conversation_text(r) if isinstance(r, (dict, list, tuple)) else r for r in rows]
    return rows


def _scores_array(scores: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name}: expected {n} values, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name}: row {int(bad[0])} is NaN or infinite")
    return arr


def _survivor_args(keep: str, scores: Any, priority: Any, n: int) -> tuple[str, np.ndarray | None]:
    if priority is not None:
        if scores is not None:
            raise ValueError("pass scores or priority, not both")
        return "score", -_scores_array(priority, n, "priority")
    if keep in ("score", "priority") and scores is None:
        raise ValueError(f"keep={keep!r} needs scores= (or priority=)")
    if scores is not None:
        return ("score" if keep in ("first", "score") else keep), _scores_array(scores, n, "scores")
    return keep, None


def _cluster_list(cluster: np.ndarray, size: np.ndarray) -> list[list[int]]:
    rows = np.flatnonzero(size > 1)
    if rows.size == 0:
        return []
    order = rows[np.argsort(cluster[rows], kind="stable")]
    groups = np.split(order, np.flatnonzero(np.diff(cluster[order])) + 1)
    return [g.tolist() for g in groups]


class _RowsMixin(ResultMixin):
    keep: np.ndarray
    cluster: np.ndarray
    cluster_size: np.ndarray
    reason_label = "duplicate"

    @property
    def n_rows(self) -> int:
        return int(self.keep.shape[0])

    @property
    def n_kept(self) -> int:
        return int(self.keep.sum())

    @property
    def n_removed(self) -> int:
        return self.n_rows - self.n_kept

    def clusters(self) -> list[list[int]]:
        """Clusters of two or more rows, each a sorted list of row indices (survivor included)."""
        return _cluster_list(self.cluster, self.cluster_size)

    def reasons(self) -> list[str]:
        """Per row: '' for kept rows, else '<label> of row <survivor>'."""
        return [
            "" if k else f"{self.reason_label} of row {c}"
            for k, c in zip(self.keep.tolist(), self.cluster.tolist())
        ]

    def to_pandas(self) -> Any:
        pd = require("pandas", "pandas")
        return pd.DataFrame(
            {
                "keep": self.keep,
                "cluster": self.cluster,
                "cluster_size": self.cluster_size,
                "reason": self.reasons(),
            }
        )

    def plot(self, ax: Any = None) -> Any:
        """Histogram of cluster sizes (clusters of two or more rows)."""
        plt = require("matplotlib.pyplot", "plot")
        ax = ax or plt.subplots()[1]
        sizes = [len(c) for c in self.clusters()]
        ax.hist(sizes, bins=min(50, max(1, len(set(sizes)))))
        ax.set_xlabel("cluster size")
        ax.set_ylabel("clusters")
        ax.set_title(self.summary_line())
        return ax


# --------------------------------------------------------------------------------------------
# exact


@dataclass(repr=False)
class ExactResult(_RowsMixin):
    """Exact duplicates. ``cluster[i]`` is the surviving row of row i's group."""

    keep: np.ndarray
    cluster: np.ndarray
    cluster_size: np.ndarray
    hashes: np.ndarray
    n_clusters: int
    hash_collisions: int
    survivor_rule: str
    reason_label = "exact duplicate"

    def summary_line(self) -> str:
        return (
            f"ExactResult: {self.n_rows} rows, {self.n_removed} exact duplicates removed in "
            f"{self.n_clusters} groups, {self.n_kept} kept (keep={self.survivor_rule})"
        )

    def __repr__(self) -> str:
        return self.summary_line()


def exact_duplicates(
    texts: Any,
    *,
    column: str | None = None,
    keep: str = "first",
    scores: Any = None,
    priority: Any = None,
    lowercase: bool = True,
    whitespace: bool = True,
    punctuation: bool = False,
    digits: bool = False,
    nfkc: bool = True,
) -> ExactResult:
    """Find rows whose normalised text is identical and keep one per group.

    ``texts``: list/numpy/pandas/pyarrow/HF column (``column=`` selects one from a table). Rows
    that are whole conversations (lists of ``{role, content}`` or ShareGPT ``{from, value}``
    messages, or dicts with ``messages``) are compared as "role: content" lines; other structured
    rows as canonical JSON.
    Normalisation: NFKC, lower-casing, whitespace collapsing, optional punctuation removal and
    digit folding (``digits=True`` maps every digit to 0). Survivor: ``keep="first"`` (smallest
    row), ``"longest"`` (most UTF-8 bytes), ``"score"`` (highest ``scores``), or ``priority=``
    (lowest value wins); ties go to the smallest row. Hash collisions are checked byte for byte.
    """
    rows = _texts(texts, column)
    rule, sc = _survivor_args(keep, scores, priority, len(rows))
    prepped = _unicode_prep(rows, nfkc, lowercase)
    r = _c.exact_duplicates(prepped, _norm_flags(lowercase, whitespace, punctuation, digits), rule, sc)
    return ExactResult(
        keep=r["keep"].astype(bool),
        cluster=r["cluster"],
        cluster_size=r["size"],
        hashes=r["hashes"],
        n_clusters=int(r["n_clusters"]),
        hash_collisions=int(r["hash_collisions"]),
        survivor_rule=rule if priority is None else "priority",
    )


# --------------------------------------------------------------------------------------------
# near duplicates (MinHash-LSH)


def choose_bands_rows(
    threshold: float, num_perm: int = 128, weights: tuple[float, float] = (0.5, 0.5)
) -> tuple[int, int]:
    """(bands, rows) minimising ``w_fp * FP area + w_fn * FN area`` of the LSH S-curve around
    ``threshold`` (the rule of datasketch's MinHashLSH, same result for the same weights)."""
    return tuple(_c.choose_bands_rows(float(threshold), int(num_perm), float(weights[0]), float(weights[1])))


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
    (prepped,) = _unicode_prep([text], nfkc, lowercase)
    return _c.shingles(
        prepped, int(ngram), bool(char_ngrams), _norm_flags(lowercase, whitespace, punctuation, digits)
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
    checked on load (magic, version, sizes, XXH64 checksum).
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
            self._ix = _c.MinHashIndex(
                int(num_perm),
                int(ngram),
                bool(char_ngrams),
                int(seed),
                _norm_flags(lowercase, whitespace, punctuation, digits),
                int(bands),
                int(rows),
                bool(keep_shingles),
            )
            if 0.0 <= self.threshold <= 1.0:
                self._ix.threshold = self.threshold
        self.nfkc = nfkc

    # -- properties
    @property
    def bands(self) -> int:
        return int(self._ix.bands)

    @property
    def rows(self) -> int:
        return int(self._ix.rows)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self._ix.options)

    def __len__(self) -> int:
        return len(self._ix)

    def _prep(self, texts: Any, column: str | None) -> list:
        rows = _texts(texts, column)
        return _unicode_prep(rows, self.nfkc, self.options["normalize"]["lowercase"])

    def add(self, texts: Any, column: str | None = None) -> range:
        """Hash ``texts`` and append them; returns their index rows."""
        start = len(self)
        self._ix.add(self._prep(texts, column))
        return range(start, len(self))

    def query(
        self, texts: Any, threshold: float | None = None, *, verify: bool = True, column: str | None = None
    ) -> QueryResult:
        """Index rows similar (Jaccard >= threshold) to each query text; the index is unchanged."""
        rows = self._prep(texts, column)
        t = self.threshold if threshold is None else float(threshold)
        p = self._ix.query(rows, t, verify)
        return QueryResult(
            query_row=p["a"],
            index_row=p["b"],
            similarity=p["similarity"],
            n_queries=len(rows),
            candidates=int(p["candidates"]),
        )

    def self_pairs(
        self, threshold: float | None = None, *, verify: bool = True, max_bucket: int = 256
    ) -> dict[str, Any]:
        """All pairs of indexed rows with similarity >= threshold (dict of arrays a, b, similarity)."""
        t = self.threshold if threshold is None else float(threshold)
        return dict(self._ix.self_pairs(t, verify, int(max_bucket)))

    def signatures(self) -> np.ndarray:
        """Copy of the signatures, shape (len(self), num_perm), uint64."""
        return self._ix.signatures()

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to ``path`` atomically (temp file + rename)."""
        self._ix.save(os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike, threshold: float | None = None, nfkc: bool = True) -> MinHashIndex:
        """Read an index written by :meth:`save` (OSError if unreadable, ValueError if invalid).
        ``threshold`` defaults to the one stored in the file."""
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
    reason_label = "near duplicate"

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


def _lengths(rows: list) -> np.ndarray:
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
    """
    rows_ = _texts(texts, column)
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
        keep_shingles=verify,
    )
    index._ix.add(_unicode_prep(rows_, nfkc, lowercase))
    p = index._ix.self_pairs(float(threshold), bool(verify), int(max_bucket))
    lengths = _lengths(rows_) if rule == "longest" else None
    c = _c.resolve_clusters(len(rows_), p["a"], p["b"], rule, lengths, sc)
    probs = {
        s: candidate_probability(s, index.bands, index.rows)
        for s in sorted({0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, round(float(threshold), 6)})
    }
    return NearDuplicateResult(
        keep=c["keep"].astype(bool),
        cluster=c["cluster"],
        cluster_size=c["size"],
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
        n_clusters=int(c["n_clusters"]),
        survivor_rule=rule if priority is None else "priority",
        candidate_probability=probs,
    )


# --------------------------------------------------------------------------------------------
# semantic duplicates


def _torch_cuda_available() -> bool:
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch  # noqa: F811 - only for device="cuda"
        except ImportError:
            return False
    return bool(torch.cuda.is_available())


def _resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cpu":
        return "cpu"
    faiss_gpu = bool(_core.build_info().get("faiss_gpu"))
    if faiss_gpu:  # pragma: no cover - Debian's FAISS is CPU only
        return "cpu"  # a FAISS GPU build is not wired here yet; see the module notes
    if device == "auto":
        import sys

        torch = sys.modules.get("torch")  # never import torch implicitly
        return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
    if not _torch_cuda_available():
        raise RuntimeError("device='cuda': this FAISS build has no GPU support and torch has no CUDA device")
    return "cuda"


def _torch_knn_self(
    x: np.ndarray, k: int, block: int = 4096, device: str = "cuda"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine kNN (self excluded): torch finds candidates on ``device`` (blocked float32
    matmul at "highest" precision + top-k), the C++ exact kernel rescores them and orders them by
    (score, id), and rows whose candidate list does not prove that it holds the exact top-k are
    searched again with 4x the candidates. Same bits as ``index="flat"`` on the CPU."""
    import torch

    xu = _c.unit_rows(x)  # the rows the C++ search uses (x itself when already unit length)
    n = xu.shape[0]
    k = max(0, min(int(k), n - 1))
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    ids = np.full((n, k), -1, dtype=np.int64)
    if k == 0:
        return sims, ids
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")  # TF32 would break the error bound
    try:
        xt = torch.from_numpy(xu).to(device)
        rows = np.arange(n, dtype=np.int64)
        kc = min(n - 1, 2 * k + 8)
        while rows.size:
            cand_s = np.empty((rows.size, kc), dtype=np.float32)
            cand_i = np.empty((rows.size, kc), dtype=np.int64)
            for s in range(0, rows.size, block):
                r = torch.from_numpy(rows[s : s + block]).to(device)
                g = xt[r] @ xt.T
                g[torch.arange(r.shape[0], device=device), r] = -float("inf")
                v, i = torch.topk(g, kc, dim=1)
                cand_s[s : s + block] = v.cpu().numpy()
                cand_i[s : s + block] = i.cpu().numpy()
            sim, idx, proven = _c.rescore_knn(xu, xu, rows, cand_i, cand_s, k, True)
            sims[rows[proven]] = sim[proven]
            ids[rows[proven]] = idx[proven]
            rows = rows[~proven]
            kc = min(n - 1, kc * 4)  # a list of all n - 1 other rows is always proven
    finally:
        torch.set_float32_matmul_precision(precision)
    return sims, ids


@dataclass(repr=False)
class SemanticResult(_RowsMixin):
    """Semantic duplicates of embeddings.

    ``pairs_*``: pairs with cosine >= threshold (kNN mode: edges of the kNN graph, a < b; SemDeDup
    mode: each removed row with its most similar earlier row). ``threshold_table``: rows each
    threshold in :data:`DEFAULT_THRESHOLDS` (plus ``threshold``) would remove. ``knn_sim``/``knn_ids``:
    the kNN graph (kNN mode). ``semdedup_cluster``, ``centroid_distance`` (1 - cosine to the
    k-means centroid) and ``max_similarity`` (to an earlier row of the cluster): SemDeDup mode.
    ``index``: the search used; ``device``: where search ran.
    """

    keep: np.ndarray
    cluster: np.ndarray
    cluster_size: np.ndarray
    pairs_a: np.ndarray
    pairs_b: np.ndarray
    pairs_similarity: np.ndarray
    threshold: float
    threshold_table: dict[float, int]
    mode: str
    index: str
    device: str
    n_clusters: int
    knn_sim: np.ndarray | None = None
    knn_ids: np.ndarray | None = None
    semdedup_cluster: np.ndarray | None = None
    centroid_distance: np.ndarray | None = None
    max_similarity: np.ndarray | None = None
    capped_rows: int = 0
    reason_label = "semantic duplicate"

    def pairs(self) -> Any:
        pd = require("pandas", "pandas")
        return pd.DataFrame({"a": self.pairs_a, "b": self.pairs_b, "similarity": self.pairs_similarity})

    def table(self) -> Any:
        """The removal-per-threshold table as a DataFrame (threshold, removed, kept)."""
        pd = require("pandas", "pandas")
        ts = sorted(self.threshold_table, reverse=True)
        return pd.DataFrame(
            {
                "threshold": ts,
                "removed": [self.threshold_table[t] for t in ts],
                "kept": [self.n_rows - self.threshold_table[t] for t in ts],
            }
        )

    def summary_line(self) -> str:
        tab = ", ".join(
            f"{t:g}: {self.threshold_table[t]}" for t in sorted(self.threshold_table, reverse=True)
        )
        return (
            f"SemanticResult ({self.mode}, {self.index}, {self.device}): {self.n_rows} rows, "
            f"{self.n_removed} removed at cosine >= {self.threshold:g}; removed by threshold: {tab}"
        )

    def plot(self, ax: Any = None) -> Any:
        """Histogram of nearest-neighbour cosine similarities."""
        plt = require("matplotlib.pyplot", "plot")
        ax = ax or plt.subplots()[1]
        vals = (
            self.knn_sim[:, 0] if self.knn_sim is not None and self.knn_sim.shape[1] else self.max_similarity
        )
        ax.hist(vals[np.isfinite(vals)], bins=50)
        ax.axvline(self.threshold, color="k", linestyle="--")
        ax.set_xlabel("cosine similarity to nearest neighbour")
        ax.set_ylabel("rows")
        return ax

    def __repr__(self) -> str:
        return self.summary_line()


def _edges_at(sim: np.ndarray, ids: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(sim.shape[0], dtype=np.int64), sim.shape[1])
    s = sim.ravel()
    j = ids.ravel()
    m = (s >= t) & (j >= 0)
    a = np.minimum(rows[m], j[m])
    b = np.maximum(rows[m], j[m])
    if a.size == 0:
        return a, b, s[m].astype(np.float64)
    key = a * sim.shape[0] + b
    _, first = np.unique(key, return_index=True)
    return a[first], b[first], s[m][first].astype(np.float64)


def semantic_duplicates(
    embeddings: Any,
    threshold: float = 0.95,
    *,
    k: int = 10,
    mode: str = "knn",
    index: str = "auto",
    keep: str = "first",
    scores: Any = None,
    priority: Any = None,
    n_clusters: int | None = None,
    niter: int = 20,
    seed: int = 1234,
    device: str = "auto",
    nlist: int = 0,
    nprobe: int = 0,
    hnsw_m: int = 32,
    ef_search: int = 0,
    flat_max_rows: int = 20000,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    deterministic: bool = True,
) -> SemanticResult:
    """Semantic duplicates: rows whose embeddings have cosine similarity >= ``threshold``.

    ``embeddings``: (rows x dims) float32 (zero-copy when C-contiguous float32; rows that are not
    unit length are normalised into a copy). Zero rows and NaN/inf raise ValueError naming the row.

    ``mode="knn"``: a k-nearest-neighbour graph: exact FAISS ``IndexFlatIP`` up to ``flat_max_rows``
    rows, else ``"ivf-gemm"`` (spherical k-means into sqrt(n) lists, each query probes
    ``nprobe`` = max(8, nlist/20) lists, scanned with BLAS); ``index="flat"|"ivf"|"ivf-gemm"|"hnsw"``
    overrides ("ivf" = FAISS IndexIVFFlat, "hnsw" = FAISS IndexHNSWFlat). Edges with cosine
    >= threshold joined by union-find; ``keep`` as in :func:`exact_duplicates`. A row with more
    than ``k`` duplicates still joins its cluster through its neighbours; ``capped_rows`` counts
    rows whose k-th neighbour is above the threshold (raise ``k`` to see every pair).

    ``mode="semdedup"``: SemDeDup (spherical k-means with ``n_clusters``, default sqrt(n); within
    each cluster a row is removed when its cosine to an earlier row >= threshold), order by
    ``keep="hard"`` (far from centroid first), ``"easy"``, ``"random"`` or ``"score"``.

    ``device``: "cpu"; "cuda" runs exact kNN with torch on the GPU (this build's FAISS is CPU only);
    "auto" uses CUDA only when torch is already imported and has a device.

    Determinism: every score is computed by one fixed-order exact kernel and ties go to the lower
    row, so ids, scores and clusters are the same bits whatever the thread count, the CPU and the
    BLAS kernel it selects, for every ``index`` and ``device``; ``index="hnsw"`` only with
    ``deterministic=True`` (the default: its graph is built on one thread; False builds it in
    parallel, faster, and results may then differ from run to run).
    """
    x = as_float32_matrix(embeddings)
    n = x.shape[0]
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold: expected a cosine in (0, 1], got {threshold}")
    ts = sorted({float(t) for t in thresholds} | {float(threshold)}, reverse=True)
    dev = _resolve_device(device)
    if mode == "semdedup":
        if keep == "first":
            keep = "hard"
        sc = _scores_array(scores, n, "scores") if scores is not None else None
        if keep == "score" and sc is None:
            raise ValueError("keep='score' needs scores=")
        r = _c.semdedup(x, int(n_clusters or 0), int(niter), int(seed), keep, sc)
        ms = r["max_similarity"]
        removed = ms >= threshold
        table = {t: int((ms >= t).sum()) for t in ts}
        a = r["max_id"][removed]
        b = np.flatnonzero(removed).astype(np.int64)
        # cluster = the row each removed row duplicates, followed to a kept row
        cluster = np.arange(n, dtype=np.int64)
        target = np.where(removed, r["max_id"], cluster)
        for _ in range(64):
            nxt = target[target]
            if np.array_equal(nxt, target):
                break
            target = nxt
        cluster = target
        size = np.bincount(cluster, minlength=n)[cluster]
        return SemanticResult(
            keep=~removed,
            cluster=cluster,
            cluster_size=size,
            pairs_a=a,
            pairs_b=b,
            pairs_similarity=ms[removed].astype(np.float64),
            threshold=float(threshold),
            threshold_table=table,
            mode="semdedup",
            index=f"kmeans(k={r['n_clusters']})",
            device="cpu",
            n_clusters=int(((size > 1) & ~removed).sum()),
            semdedup_cluster=r["cluster"],
            centroid_distance=r["centroid_distance"],
            max_similarity=ms,
        )
    if mode != "knn":
        raise ValueError(f"mode: expected 'knn' or 'semdedup', got {mode!r}")
    if keep == "longest":
        raise ValueError("keep='longest' needs texts: pass scores= (e.g. the text lengths) instead")
    rule, sc = _survivor_args(keep, scores, priority, n)
    if dev == "cuda":
        sim, ids = _torch_knn_self(x, int(k))
        used = "torch-exact"
    else:
        sim, ids, used = _c.knn_self_cosine(
            x,
            int(k),
            index,
            int(flat_max_rows),
            int(nlist),
            int(nprobe),
            int(hnsw_m),
            int(ef_search),
            int(seed),
            bool(deterministic),
        )
    table = {}
    for t in ts:
        a, b, _ = _edges_at(sim, ids, t)
        c = _c.resolve_clusters(n, a, b, "first", None, None)
        table[t] = int(c["n_removed"])
    a, b, s = _edges_at(sim, ids, float(threshold))
    c = _c.resolve_clusters(n, a, b, rule, None, sc)
    capped = int((sim[:, -1] >= threshold).sum()) if sim.shape[1] else 0
    return SemanticResult(
        keep=c["keep"].astype(bool),
        cluster=c["cluster"],
        cluster_size=c["size"],
        pairs_a=a,
        pairs_b=b,
        pairs_similarity=s,
        threshold=float(threshold),
        threshold_table=table,
        mode="knn",
        index=used,
        device=dev,
        n_clusters=int(c["n_clusters"]),
        knn_sim=sim,
        knn_ids=ids,
        capped_rows=capped,
    )


# --------------------------------------------------------------------------------------------
# outliers


@dataclass(repr=False)
class OutlierResult(ResultMixin):
    """Outlier scores (higher = more outlying), flags and the reason for each flag."""

    score: np.ndarray
    flag: np.ndarray
    fence: float
    method: str
    reason: list[str]

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
    score, flag, fence = r["score"], r["flag"].astype(bool), float(r["fence"])
    reason = [f"{what} {s:.4g} > {fence:.4g}" if f else "" for s, f in zip(score.tolist(), flag.tolist())]
    return OutlierResult(score=score, flag=flag, fence=fence, method=name, reason=reason)


# --------------------------------------------------------------------------------------------
# leakage


@dataclass(repr=False)
class LeakageResult(ResultMixin):
    """Train rows that also appear in test: per train row the kind of match ('exact', 'near',
    'semantic' or ''), the matched test row (-1) and the similarity; ``remove`` = rows to drop."""

    remove: np.ndarray
    kind: list[str]
    test_row: np.ndarray
    similarity: np.ndarray
    counts: dict[str, int]

    @property
    def keep(self) -> np.ndarray:
        return ~self.remove

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
    tr = _texts(train, column, "train")
    te = _texts(test, column, "test")
    n = len(tr)
    kind = [""] * n
    test_row = np.full(n, -1, dtype=np.int64)
    sim = np.zeros(n)
    flags = _norm_flags(lowercase, whitespace, punctuation, digits)
    tr_p, te_p = _unicode_prep(tr, nfkc, lowercase), _unicode_prep(te, nfkc, lowercase)
    h_tr = _c.exact_hashes(tr_p, flags)
    h_te = _c.exact_hashes(te_p, flags)
    first_test: dict[int, int] = {}
    for j, h in enumerate(h_te.tolist()):
        first_test.setdefault(h, j)
    counts = {"exact": 0, "near": 0, "semantic": 0}
    for i, h in enumerate(h_tr.tolist()):
        j = first_test.get(h)
        if j is not None and _c.normalize(tr_p[i] or "", flags) == _c.normalize(te_p[j] or "", flags):
            kind[i], test_row[i], sim[i] = "exact", j, 1.0
            counts["exact"] += 1
    if near_threshold is not None and te:
        ix = MinHashIndex(near_threshold, ngram, nfkc=nfkc, lowercase=lowercase)
        ix.add(te)
        best_row, best_sim = ix.query(tr).best()
        for i in np.flatnonzero(best_row >= 0).tolist():
            if not kind[i]:
                kind[i], test_row[i], sim[i] = "near", int(best_row[i]), float(best_sim[i])
                counts["near"] += 1
    if semantic_threshold is not None and te:
        if train_embeddings is None or test_embeddings is None:
            from .embed import embed

            train_embeddings = embed(tr, embedder)
            test_embeddings = embed(te, embedder)
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
    return LeakageResult(remove=remove, kind=kind, test_row=test_row, similarity=sim, counts=counts)


# --------------------------------------------------------------------------------------------
# pipeline object


@dataclass(repr=False)
class DeduplicatorResult(ResultMixin):
    """Result of :meth:`Deduplicator.transform`: ``keep`` mask and a reason per dropped row
    ('exact-reference', 'near-reference', 'exact', 'near'), with the matched row."""

    keep: np.ndarray
    reason: list[str]
    matched_row: np.ndarray
    similarity: np.ndarray

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

    def fit(self, reference: Any, column: str | None = None) -> Deduplicator:
        rows = _texts(reference, column, "reference")
        self._index = MinHashIndex(self.threshold, self.ngram, num_perm=self.num_perm, nfkc=self.nfkc)
        self._index.add(rows)
        self._hashes = {}
        for i, h in enumerate(_c.exact_hashes(_unicode_prep(rows, self.nfkc, True), _EXACT_FLAGS).tolist()):
            self._hashes.setdefault(h, i)
        return self

    def transform(self, texts: Any, column: str | None = None) -> DeduplicatorResult:
        if self._index is None:
            raise RuntimeError("Deduplicator: call fit(reference) first")
        rows = _texts(texts, column)
        n = len(rows)
        reason = [""] * n
        matched = np.full(n, -1, dtype=np.int64)
        sim = np.zeros(n)
        if self.exact:
            hs = _c.exact_hashes(_unicode_prep(rows, self.nfkc, True), _EXACT_FLAGS).tolist()
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
            sub = [rows[i] for i in live]
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


_EXACT_FLAGS = _norm_flags(True, True, False, False)
