"""The FAISS-GPU path of semantic dedup (dedup/_faiss_gpu.py), run on the CPU: faiss-cpu's Python
module stands in as the index backend (its indexes are the same classes a GPU build clones to the
device), so the wrapper code (plan, preassigned search, exact rescoring, widening) is proven to
return the same kNN graph and survivors as the C++ path; the dispatcher picks it only when a
Python FAISS reports GPUs, and device="cuda" without any GPU is a clear error."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from airtune import dedup
from airtune.dedup import _faiss_gpu, semantic

faiss = pytest.importorskip("faiss")


def data(n: int = 900, d: int = 24, seed: int = 3) -> np.ndarray:
    """Clustered rows with near copies and a group of 40 exact copies (ties longer than the first
    candidate list, so the widening runs)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((12, d)).astype(np.float32)
    x = centers[rng.integers(0, 12, n)] + 0.45 * rng.standard_normal((n, d)).astype(np.float32)
    for i in range(0, 200, 2):
        x[i + 1] = x[i] + 0.02 * rng.standard_normal(d).astype(np.float32)
    x[300:340] = x[299]
    return x


def cpu_backend(max_k: int = _faiss_gpu.GPU_MAX_K) -> _faiss_gpu.FaissBackend:
    return _faiss_gpu.FaissBackend(faiss, lambda index: index, "faiss-test", max_k)


@pytest.fixture
def fake_gpu(monkeypatch):
    """Makes the dispatcher see a FAISS with GPUs whose "device" indexes are faiss-cpu's."""
    monkeypatch.setattr(_faiss_gpu, "gpu_backend", lambda: cpu_backend())


def same(a, b) -> None:
    assert np.array_equal(a.knn_ids, b.knn_ids)
    assert np.array_equal(a.knn_sim.view(np.uint32), b.knn_sim.view(np.uint32))  # same bits
    assert np.array_equal(a.keep, b.keep) and np.array_equal(a.cluster, b.cluster)
    assert a.threshold_table == b.threshold_table
    assert a.n_removed > 0


def test_faiss_cpu_reports_no_gpu_so_the_dispatcher_does_not_pick_it():
    assert faiss.get_num_gpus() == 0
    assert _faiss_gpu.gpu_backend() is None
    dev, backend = semantic._resolve_device("auto")
    assert backend is None and dev in ("cpu", "cuda")


def test_cuda_without_any_gpu_is_a_clear_error():
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(RuntimeError, match=r"device='cuda'.*faiss\.get_num_gpus\(\) == 0"):
        dedup.semantic_duplicates(data(), 0.9, device="cuda")


@pytest.mark.parametrize(
    "index, extra",
    [
        ("flat", {}),
        ("ivf", {}),
        ("ivf-gemm", {}),
        ("auto", {"flat_max_rows": 100}),
        ("ivf", {"nlist": 20, "nprobe": 3}),
    ],
)
def test_gpu_path_returns_the_cpu_graph_and_survivors(fake_gpu, index, extra):
    x = data()
    cpu = dedup.semantic_duplicates(x, 0.9, k=10, index=index, device="cpu", **extra)
    gpu = dedup.semantic_duplicates(x, 0.9, k=10, index=index, device="cuda", **extra)
    assert gpu.device == "cuda" and cpu.device == "cpu"
    assert gpu.index == f"faiss-test-{cpu.index}"  # same index, same nlist and nprobe
    same(gpu, cpu)


def test_rows_past_the_gpu_k_limit_are_finished_on_the_cpu_copy():
    x = data()
    ref = dedup.semantic_duplicates(x, 0.9, k=10, index="ivf", device="cpu")
    for max_k in (16, 40):  # the first list (2k + 8 = 28) or the widened one (112) exceeds it
        sim, ids, used = _faiss_gpu.knn_self(cpu_backend(max_k), x, 10, "ivf")
        assert used == f"faiss-test-{ref.index}"
        assert np.array_equal(ids, ref.knn_ids) and np.array_equal(sim, ref.knn_sim)


def test_ivf_plan_is_the_plan_the_cpu_index_scans():
    x = data()
    xu = x / np.linalg.norm(x, axis=1, keepdims=True)
    for kind in ("ivf", "ivf-gemm"):
        plan = semantic._c.ivf_plan(x, x, kind)
        _, _, used = semantic._c.knn_self_cosine(x, 5, kind)
        assert used == f"{kind}(nlist={plan.nlist},nprobe={plan.nprobe})"
        assert plan.centroids.shape == (plan.nlist, x.shape[1])
        assert plan.assign.shape == (x.shape[0],) and plan.assign.max() < plan.nlist
        # probes: each row's best lists by inner product with the centroids, best first
        scores = xu @ plan.centroids.T
        best = np.take_along_axis(scores, plan.probe_ids, axis=1)
        assert np.all(np.diff(best, axis=1) <= 1e-6)
        assert np.allclose(best, plan.probe_scores, atol=1e-5)
        assert np.all(best[:, -1] >= np.sort(scores, axis=1)[:, -plan.nprobe] - 1e-5)
    with pytest.raises(ValueError, match="'ivf' or 'ivf-gemm'"):
        semantic._c.ivf_plan(x, x, "flat")


def test_hnsw_has_no_gpu_index(fake_gpu):
    with pytest.raises(ValueError, match="index='hnsw' has no FAISS GPU index"):
        dedup.semantic_duplicates(data(), 0.9, index="hnsw", device="cuda")


def test_auto_takes_the_gpu_only_when_faiss_is_imported(fake_gpu, monkeypatch):
    x = data()
    assert dedup.semantic_duplicates(x, 0.9, device="auto").device == (
        "cuda" if "faiss" in sys.modules else "cpu"
    )
    monkeypatch.delitem(sys.modules, "faiss")
    torch = sys.modules.get("torch")
    expect = "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
    assert dedup.semantic_duplicates(x, 0.9, device="auto").device == expect
