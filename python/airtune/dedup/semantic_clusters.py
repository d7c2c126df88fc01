"""Semantic dedup partitioned by k-means: the rule both pipeline engines follow, so the local run
and a Ray run keep the same rows with the same reasons.

With ``clusters`` = K > 1 the rows are split before the kNN search: spherical k-means
(:func:`train_centroids`) is trained on a sample of at most ``sample`` rows (:func:`sample_rows`:
the rows with the smallest XXH64 of their id, ties to the earlier row, in input order), every row
goes to its nearest centroid (:func:`route`, decided per row by the exact kernel, so a row's
cluster does not depend on which rows share its batch), and each cluster is deduplicated on its
own by :func:`semantic_duplicates` on the cluster's rows in input order (:func:`dedup_cluster`).
Duplicates in different clusters are not found: that is the price of a search that fits one task.
K = 1 is the plain kNN graph over every row.

The local engine runs :func:`clustered_duplicates`; the Ray engine runs the same three steps over
blocks (pipeline/distributed/semantic.py). Same inputs, same bits: the embeddings of a row do not
depend on its batch (the hashed embedder; a transformer with padding may differ in the last bits),
the k-means is deterministic, and :func:`semantic_duplicates` is deterministic for a given input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import _core
from .semantic import DEFAULT_THRESHOLDS, SemanticResult, semantic_duplicates

KMEANS_SEED = 1234
KMEANS_NITER = 20


def sample_hashes(ids: Sequence[str]) -> np.ndarray:
    """XXH64 (seed 0) of each row id: the sample rule's rank."""
    return _core.distributed.exact_keys(list(ids), 0)[0]


def sample_rows(hashes: np.ndarray, order: np.ndarray, n: int) -> np.ndarray:
    """Positions of the (at most) `n` rows with the smallest (hash, order), sorted by `order`."""
    pick = np.lexsort((order, hashes))[: max(0, int(n))]
    return pick[np.argsort(order[pick], kind="stable")]


def train_centroids(x: np.ndarray, clusters: int) -> np.ndarray:
    """min(clusters, rows) spherical k-means centroids of the sample `x` (unit rows, input order)."""
    return _core.distributed.semantic_centroids(
        np.ascontiguousarray(x, dtype=np.float32), int(clusters), KMEANS_NITER, KMEANS_SEED
    )


def route(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The centroid of each row (int32)."""
    return _core.distributed.semantic_route(np.ascontiguousarray(x, dtype=np.float32), centroids)


def dedup_cluster(x: np.ndarray, threshold: float, k: int) -> SemanticResult | None:
    """Semantic duplicates among the rows of one cluster (input order); None under two rows."""
    if x.shape[0] < 2:
        return None
    return semantic_duplicates(x, float(threshold), k=int(k), device="cpu")


def clustered_duplicates(
    x: np.ndarray, threshold: float, *, k: int, clusters: int, sample: int, ids: Sequence[str]
) -> SemanticResult:
    """Semantic duplicates of the rows `x` (unit embeddings, input order) under the partition rule
    above: one SemanticResult over all rows (cluster = the survivor's row, pairs in row numbers,
    the removal table summed over the clusters)."""
    n = x.shape[0]
    ids = list(ids)
    pick = sample_rows(sample_hashes(ids), np.arange(n, dtype=np.int64), sample)
    centroids = train_centroids(x[pick], clusters)
    assign = route(x, centroids)
    keep = np.ones(n, dtype=bool)
    cluster = np.arange(n, dtype=np.int64)
    size = np.ones(n, dtype=np.int64)
    a, b, s = [], [], []
    table: dict[float, int] = {}
    capped, groups, index = 0, 0, ""
    for c in range(centroids.shape[0]):
        idx = np.flatnonzero(assign == c)
        r = dedup_cluster(x[idx], threshold, k)
        if r is None:
            continue
        keep[idx] = r.keep
        cluster[idx] = idx[r.cluster]
        size[idx] = r.cluster_size
        a.append(idx[r.pairs_a])
        b.append(idx[r.pairs_b])
        s.append(r.pairs_similarity)
        for t, v in r.threshold_table.items():
            table[t] = table.get(t, 0) + v
        capped += r.capped_rows
        groups += r.n_clusters
        index = index or r.index
    if not table:
        table = {t: 0 for t in sorted({*DEFAULT_THRESHOLDS, float(threshold)}, reverse=True)}
    return SemanticResult(
        keep=keep,
        cluster=cluster,
        cluster_size=size,
        pairs_a=_cat(a, np.int64),
        pairs_b=_cat(b, np.int64),
        pairs_similarity=_cat(s, np.float64),
        threshold=float(threshold),
        threshold_table=table,
        mode="knn",
        index=f"kmeans({centroids.shape[0]})+{index or 'flat'}",
        device="cpu",
        n_clusters=groups,
        capped_rows=capped,
        ids=ids,
    )


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)
