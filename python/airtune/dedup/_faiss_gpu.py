"""Semantic kNN on a GPU through a Python FAISS build with GPU indexes (PyPI ``faiss-gpu-cu12``,
``faiss-gpu-cu13-cuvs``; Debian's libfaiss, which the C++ engine links, has no GPU code).

FAISS on the device only proposes candidates: ``GpuIndexFlatIP`` for ``index="flat"``, and for
``"ivf"`` / ``"ivf-gemm"`` a ``GpuIndexIVFFlat`` over airtune's own k-means lists, searched with
airtune's own probes (``_c.ivf_plan``, the plan the CPU indexes scan). The C++ exact kernel then
rescores the candidates (``_c.rescore_knn``) and widens the list (x4) for every row whose list does
not prove that it holds the exact top-k of what was scanned, so ids and scores are the same bits as
the CPU path's flat, ivf and ivf-gemm graphs. Rows whose candidate list would pass FAISS GPU's
k limit (2048) are searched on the CPU copy of the same index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._common import _c

#: FAISS GPU's largest k for flat and IVF search.
GPU_MAX_K = 2048


@dataclass
class FaissBackend:
    """A Python ``faiss`` module and how a CPU index becomes the index searched on the device."""

    faiss: Any
    to_device: Callable[[Any], Any]
    name: str
    max_k: int = GPU_MAX_K


def gpu_backend() -> FaissBackend | None:
    """The GPU backend when ``import faiss`` works and ``faiss.get_num_gpus() > 0``, else None."""
    try:
        import faiss
    except ImportError:
        return None
    get = getattr(faiss, "get_num_gpus", None)
    if get is None or get() <= 0:
        return None
    res = faiss.StandardGpuResources()  # pragma: no cover - needs a GPU build and a device

    def to_device(index: Any) -> Any:  # pragma: no cover
        co = faiss.GpuClonerOptions()
        co.useFloat16 = False  # fp32 products: the candidate tolerance assumes them
        return faiss.index_cpu_to_gpu(res, 0, index, co)

    return FaissBackend(faiss, to_device, "faiss-gpu")  # pragma: no cover


def resolve_kind(index: str, n: int, flat_max_rows: int) -> str:
    """The index the CPU path would run for ``index`` on ``n`` rows (dedup/knn.h ``resolve``)."""
    kind = index
    if kind == "auto":
        kind = "flat" if n <= flat_max_rows else "ivf-gemm"
    if kind in ("ivf", "ivf-gemm") and n < 64:
        kind = "flat"
    if kind == "hnsw":
        raise ValueError(
            "index='hnsw' has no FAISS GPU index: use index='flat', 'ivf' or 'ivf-gemm' with device='cuda', "
            "or device='cpu'"
        )
    if kind not in ("flat", "ivf", "ivf-gemm"):
        raise ValueError(f"index: expected 'auto', 'flat', 'ivf', 'ivf-gemm' or 'hnsw', got {index!r}")
    return kind


def _search_preassigned(index: Any, faiss: Any, x: np.ndarray, kc: int, pid: np.ndarray, pdis: np.ndarray):
    """IVF search of the given probes, through the Python wrapper where the class has one, else
    through the SWIG signature (GpuIndexIVF in some builds)."""
    try:
        dist, lab = index.search_preassigned(x, kc, pid, pdis)
        return dist, lab
    except TypeError:
        n = x.shape[0]
        dist = np.empty((n, kc), dtype=np.float32)
        lab = np.empty((n, kc), dtype=np.int64)
        sp = faiss.swig_ptr
        index.search_preassigned(n, sp(x), kc, sp(pid), sp(pdis), sp(dist), sp(lab), False)
        return dist, lab


def knn_self(
    backend: FaissBackend,
    x: np.ndarray,
    k: int,
    index: str = "auto",
    flat_max_rows: int = 20000,
    nlist: int = 0,
    nprobe: int = 0,
    seed: int = 1234,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Cosine kNN of every row against the others (itself excluded): (scores, ids, index used),
    the same bits as ``_c.knn_self_cosine`` with the same arguments."""
    faiss = backend.faiss
    xu = np.ascontiguousarray(_c.unit_rows(x), dtype=np.float32)
    n, d = xu.shape
    kind = resolve_kind(index, n, int(flat_max_rows))
    k = max(0, min(int(k), n - 1))
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    ids = np.full((n, k), -1, dtype=np.int64)
    if k == 0:
        return sims, ids, "none"
    if kind == "flat":
        cpu = faiss.IndexFlatIP(d)
        cpu.add(xu)
        used = "flat"
        plan = None
    else:
        plan = _c.ivf_plan(xu, xu, kind, int(nlist), int(nprobe), int(seed))
        quantizer = faiss.IndexFlatIP(d)
        quantizer.add(np.ascontiguousarray(plan.centroids, dtype=np.float32))
        cpu = faiss.IndexIVFFlat(quantizer, d, int(plan.nlist), faiss.METRIC_INNER_PRODUCT)
        cpu.own_fields = False
        lists = np.ascontiguousarray(plan.assign, dtype=np.int64)
        cpu.add_core(n, faiss.swig_ptr(xu), None, faiss.swig_ptr(lists))
        cpu.nprobe = int(plan.nprobe)
        used = f"{kind}(nlist={plan.nlist},nprobe={plan.nprobe})"
    dev = backend.to_device(cpu)
    rows = np.arange(n, dtype=np.int64)
    kc = min(n, 2 * k + 8)
    while rows.size:
        engine = dev if kc <= backend.max_k else cpu
        q = np.ascontiguousarray(xu[rows])
        if plan is None:
            cand_s, cand_i = engine.search(q, kc)
        else:
            pid = np.ascontiguousarray(plan.probe_ids[rows], dtype=np.int64)
            pdis = np.ascontiguousarray(plan.probe_scores[rows], dtype=np.float32)
            cand_s, cand_i = _search_preassigned(engine, faiss, q, kc, pid, pdis)
        sim, idx, proven = _c.rescore_knn(
            xu, xu, rows, np.ascontiguousarray(cand_i, dtype=np.int64), np.ascontiguousarray(cand_s), k, True
        )
        sims[rows[proven]] = sim[proven]
        ids[rows[proven]] = idx[proven]
        rows = rows[~proven]
        if kc == n:
            break  # unreachable: a list of every scanned row is proven
        kc = min(n, kc * 4)
    return sims, ids, f"{backend.name}-{used}"
