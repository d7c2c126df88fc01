"""Deduplication: exact, near-duplicate (MinHash-LSH) and semantic (FAISS); outliers.

Every function returns a result dataclass with a ``keep`` boolean mask (one entry per input row),
the clusters it found and why each dropped row was dropped, so that
``kept + dropped == total`` always holds. Survivors are deterministic: the best row of a cluster
by the survivor rule, ties to the smallest row index, for any thread count.

* :func:`exact_duplicates` (``dedup/exact.py``) - identical text after normalisation (case,
  whitespace, punctuation, digits, NFKC), hashed with XXH64 and confirmed byte for byte.
* :func:`near_duplicates`, :class:`MinHashIndex` (``dedup/near.py``) - MinHash over word or
  character n-grams, LSH bands/rows derived from the threshold, every candidate verified by exact
  Jaccard, union-find clusters; the index saved to disk and loaded again for incremental checks.
* :func:`semantic_duplicates` (``dedup/semantic.py``) - cosine kNN graph of float32 embeddings
  with FAISS (exact, IVF or HNSW), or SemDeDup (k-means, then pairwise inside clusters); a table
  of removals per threshold.
* :func:`outliers` (``dedup/outliers.py``) - mean kNN distance with an IQR fence, LOF, distance to
  the centroid or to a reference set.
* :class:`Deduplicator` (``dedup/deduplicator.py``) - ``fit(reference)`` / ``transform(new)``.

Leakage between train and test lives with the split (:func:`airtune.split.leakage`); it is also
importable from here.
"""

from __future__ import annotations

from typing import Any

from ._common import normalize
from .deduplicator import Deduplicator, DeduplicatorResult
from .exact import ExactResult, exact_duplicates
from .near import (
    NEAR_WEIGHTS,
    MinHashIndex,
    NearDuplicateResult,
    QueryResult,
    candidate_probability,
    choose_bands_rows,
    near_duplicates,
    shingles,
)
from .outliers import OutlierResult, outliers
from .semantic import DEFAULT_THRESHOLDS, SemanticResult, semantic_duplicates

__all__ = [
    "DEFAULT_THRESHOLDS",
    "NEAR_WEIGHTS",
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

# Names that moved to a later stage of the flow stay importable here (lazily: no import cycle).
_MOVED = {"leakage": "airtune.split.leakage", "LeakageResult": "airtune.split.leakage"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'airtune.dedup' has no attribute {name!r}")
