"""Semantic duplicates: cosine kNN graph of embeddings (FAISS flat / IVF / HNSW; on a GPU, a Python FAISS
with GPU indexes where one is installed, else exact top-k in torch), or SemDeDup (k-means, then
pairwise inside clusters); a removal table per threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._inputs import as_float32_matrix
from .._results import require
from . import _faiss_gpu
from ._common import _c, _RowsMixin, _scores_array, _survivor_args

#: Cosine thresholds of the removal table of :func:`semantic_duplicates`.
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.99, 0.97, 0.95, 0.9)


def _torch_cuda_available() -> bool:
    import sys

    if "torch" not in sys.modules:
        try:
            import torch  # noqa: F401 - only for device="cuda"
        except ImportError:
            return False
    return bool(sys.modules["torch"].cuda.is_available())


def _resolve_device(device: str) -> tuple[str, _faiss_gpu.FaissBackend | None]:
    """(device, FAISS GPU backend or None): "cuda" prefers a Python FAISS with GPUs, then torch."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cpu":
        return "cpu", None
    import sys

    if device == "auto":
        # never import faiss or torch implicitly: "auto" takes the GPU only when one is already imported
        if "faiss" in sys.modules and (backend := _faiss_gpu.gpu_backend()) is not None:
            return "cuda", backend  # pragma: no cover - needs a GPU
        torch = sys.modules.get("torch")
        return ("cuda" if torch is not None and torch.cuda.is_available() else "cpu"), None
    backend = _faiss_gpu.gpu_backend()
    if backend is not None:
        return "cuda", backend  # pragma: no cover - needs a GPU
    if not _torch_cuda_available():
        raise RuntimeError(
            "device='cuda': no GPU search available: the installed FAISS has no GPU support "
            "(Python faiss missing or faiss.get_num_gpus() == 0; pip install faiss-gpu-cu12 or "
            "faiss-gpu-cu13-cuvs on a CUDA machine) and torch has no CUDA device"
        )
    return "cuda", None


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
    ids: list | None = None
    reason_label = "semantic duplicate"
    stage = "semantic"

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
        if vals is None:
            raise ValueError("plot: this result holds no similarities")
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
    ids: Sequence[str] | None = None,
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

    ``device``: "cpu"; "cuda": where a Python FAISS with GPU indexes is installed
    (``faiss.get_num_gpus() > 0``: PyPI ``faiss-gpu-cu12``, ``faiss-gpu-cu13-cuvs``), its GPU flat /
    IVF indexes find the candidates of ``index`` ("auto", "flat", "ivf", "ivf-gemm"; "hnsw" raises)
    over airtune's own IVF lists and probes; else exact kNN with torch on the GPU; else RuntimeError.
    "auto" uses a GPU only when faiss (with GPUs) or torch (with CUDA) is already imported.

    Determinism: every score is computed by one fixed-order exact kernel and ties go to the lower
    row, so ids, scores and clusters are the same bits whatever the thread count, the CPU and the
    BLAS kernel it selects, for every ``index`` and ``device``; ``index="hnsw"`` only with
    ``deterministic=True`` (the default: its graph is built on one thread; False builds it in
    parallel, faster, and results may then differ from run to run).

    ``ids``: names of the rows (e.g. ``records.ids``) used by ``result.reason``
    (``"semantic_duplicate_of:<id>"``); row numbers otherwise.
    """
    x = as_float32_matrix(embeddings)
    n = x.shape[0]
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold: expected a cosine in (0, 1], got {threshold}")
    ts = sorted({float(t) for t in thresholds} | {float(threshold)}, reverse=True)
    dev, backend = _resolve_device(device)
    if mode == "semdedup":
        if keep == "first":
            keep = "hard"
        sc = _scores_array(scores, n, "scores") if scores is not None else None
        if keep == "score" and sc is None:
            raise ValueError("keep='score' needs scores=")
        r = _c.semdedup(x, int(n_clusters or 0), int(niter), int(seed), keep, sc)
        ms = r.max_similarity
        removed = ms >= threshold
        table = {t: int((ms >= t).sum()) for t in ts}
        a = r.max_id[removed]
        b = np.flatnonzero(removed).astype(np.int64)
        # cluster = the row each removed row duplicates, followed to a kept row
        cluster = np.arange(n, dtype=np.int64)
        target = np.where(removed, r.max_id, cluster)
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
            index=f"kmeans(k={r.n_clusters})",
            device="cpu",
            n_clusters=int(((size > 1) & ~removed).sum()),
            semdedup_cluster=r.cluster,
            centroid_distance=r.centroid_distance,
            max_similarity=ms,
            ids=list(ids) if ids is not None else None,
        )
    if mode != "knn":
        raise ValueError(f"mode: expected 'knn' or 'semdedup', got {mode!r}")
    if keep == "longest":
        raise ValueError("keep='longest' needs texts: pass scores= (e.g. the text lengths) instead")
    rule, sc = _survivor_args(keep, scores, priority, n)
    if backend is not None:
        sim, knn_ids, used = _faiss_gpu.knn_self(
            backend, x, int(k), index, int(flat_max_rows), int(nlist), int(nprobe), int(seed)
        )
    elif dev == "cuda":
        sim, knn_ids = _torch_knn_self(x, int(k))
        used = "torch-exact"
    else:
        sim, knn_ids, used = _c.knn_self_cosine(
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
    # One sweep over every kNN edge (a pair seen twice joins once): each threshold is compared in
    # the scores' dtype, as `sim >= t` compares it.
    ts_sim = np.asarray(ts, dtype=sim.dtype).astype(np.float64)
    edge = knn_ids.ravel() >= 0
    removed_at = _c.removed_at_thresholds(
        n,
        np.repeat(np.arange(sim.shape[0], dtype=np.int64), sim.shape[1])[edge],
        knn_ids.ravel()[edge],
        sim.ravel()[edge],
        ts_sim,
    )
    table = {t: int(r) for t, r in zip(ts, removed_at)}
    a, b, s = _edges_at(sim, knn_ids, float(threshold))
    c = _c.clusters_from_pairs(n, a, b, rule, None, sc)
    capped = int((sim[:, -1] >= threshold).sum()) if sim.shape[1] else 0
    return SemanticResult(
        keep=c.keep.astype(bool),
        cluster=c.cluster,
        cluster_size=c.size,
        pairs_a=a,
        pairs_b=b,
        pairs_similarity=s,
        threshold=float(threshold),
        threshold_table=table,
        mode="knn",
        index=used,
        device=dev,
        n_clusters=int(c.n_clusters),
        knn_sim=sim,
        knn_ids=knn_ids,
        capped_rows=capped,
        ids=list(ids) if ids is not None else None,
    )
