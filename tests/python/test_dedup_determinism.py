"""Every public entry point that returns ids or scores from embeddings (semantic duplicates with
each index, the torch search path, SemDeDup, outliers, leakage, gap k-means) and the Deduplicator
give the same bits at 1, 2 and 3 threads and under every OpenBLAS kernel this CPU can run
(OPENBLAS_CORETYPE, in child processes), on data with exact copies: the ties that OpenBLAS's
rounding used to decide (issue #11: row 2538 differed between 1 and 2 threads on Zen kernels)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

KERNELS = ("Haswell", "SkylakeX", "Zen", "Sandybridge")


def _data() -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1500, 24)).astype(np.float32)
    for i, noise in zip(range(0, 120, 2), np.linspace(0.01, 0.6, 60)):
        x[i + 1] = x[i] + noise * rng.standard_normal(24).astype(np.float32)
    x[200:205] = x[199]  # exact copies
    x[700:730] = x[699]  # more exact copies than any k
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    texts = [" ".join(words[(i * j) % 8] for j in range(1, 12)) + f" {i % 97}" for i in range(600)]
    return x, texts


def _digest(arrays: list) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def fingerprints(with_torch: bool) -> dict[str, str]:
    """Digest of each entry point's ids and scores at 1, 2 and 3 threads; raises if threads differ.
    with_torch adds the torch search path (torch's CPU matmul does not use the system OpenBLAS, so
    the children, which vary only OpenBLAS, skip it and its import)."""
    import airtune
    from airtune import dedup, monitor, prompts

    x, texts = _data()

    def once() -> dict[str, str]:
        out = {}
        for index in ("flat", "ivf-gemm", "ivf", "hnsw"):
            r = dedup.semantic_duplicates(x, 0.9, k=5, index=index)
            out[f"semantic[{index}]"] = _digest(
                [r.knn_sim, r.knn_ids, r.keep, r.cluster, r.pairs_a, r.pairs_b]
            )
        s = dedup.semantic_duplicates(x, 0.9, mode="semdedup", n_clusters=12)
        out["semdedup"] = _digest(
            [s.max_similarity, s.semdedup_cluster, s.centroid_distance, s.keep, s.pairs_a]
        )
        for method in ("knn", "lof", "centroid"):
            o = dedup.outliers(x, method, k=10)
            out[f"outliers[{method}]"] = _digest([o.score, o.flag, [o.fence]])
        o = dedup.outliers(x[:300], reference=x[300:])
        out["outliers[reference]"] = _digest([o.score, o.flag, [o.fence]])
        leak = dedup.leakage(
            texts[:300],
            texts[250:550],
            near_threshold=None,
            semantic_threshold=0.9,
            train_embeddings=x[:300],
            test_embeddings=x[250:550],
        )
        out["leakage"] = _digest([leak.remove, leak.test_row, leak.similarity])
        g = prompts.gaps(texts[:400], texts[400:], embeddings=x[:400], reference_embeddings=x[400:600], k=6)
        out["gaps"] = _digest([g.train_counts, g.train_assign, g.centroids, g.under])
        dd = dedup.Deduplicator(0.7).fit(texts[:300]).transform(texts[200:600])
        out["Deduplicator"] = _digest([dd.keep, dd.matched_row, dd.similarity])
        dr = monitor.drift(
            texts[:300],
            texts[300:500],
            train_embeddings=x[:300],
            production_embeddings=x[300:500],
            permutations=49,
        )
        out["monitor.drift"] = _digest(
            [dr.far_rows, dr.production_distance, dr.mmd_null, [dr.mmd2, dr.far_threshold, dr.cluster_psi]]
        )
        if with_torch:
            sims, ids = dedup.semantic._torch_knn_self(x, 5, block=256, device="cpu")
            out["torch-exact"] = _digest([sims, ids])
        return out

    before = airtune.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 3):
            airtune.set_num_threads(threads)
            runs.append(once())
    finally:
        airtune.set_num_threads(before)
    for threads, run in zip((2, 3), runs[1:]):
        differ = sorted(k for k in run if run[k] != runs[0][k])
        if differ:
            raise AssertionError(f"{threads} threads differ from 1 thread in {differ}")
    return runs[0]


def test_same_bits_across_threads_and_blas_kernels():
    import airtune

    try:
        import torch  # noqa: F401

        with_torch = True
    except ImportError:
        with_torch = False
    here = fingerprints(with_torch)
    assert len(here) >= 12 + with_torch
    assert airtune.build_info()["blas"]["core"]
    root = Path(__file__).resolve().parents[2]
    env_base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    # the children import the airtune this process imported (the installed one in CI, python/ in a dev tree)
    package_root = str(Path(airtune.__file__).resolve().parents[1])
    env_base["PYTHONPATH"] = os.pathsep.join([package_root, env_base.get("PYTHONPATH", "")])
    compared = []
    for kernel in KERNELS:
        env = dict(env_base, OPENBLAS_CORETYPE=kernel)
        proc = subprocess.run(
            [sys.executable, __file__], env=env, capture_output=True, text=True, timeout=600, cwd=root
        )
        assert proc.returncode == 0, f"OPENBLAS_CORETYPE={kernel}:\n{proc.stdout}\n{proc.stderr}"
        child = json.loads(proc.stdout.strip().splitlines()[-1])
        if child["core"].lower() != kernel.lower():  # this CPU cannot run that kernel
            print(f"skipped {kernel}: OpenBLAS ran {child['core']}")
            continue
        differ = sorted(k for k in child["fingerprints"] if child["fingerprints"][k] != here[k])
        assert len(child["fingerprints"]) >= 12
        assert not differ, f"OPENBLAS_CORETYPE={kernel} differs in {differ}"
        compared.append(kernel)
    assert len(compared) >= 2, f"fewer than two OpenBLAS kernels ran here: {compared}"


if __name__ == "__main__":  # child process: one kernel, every thread count
    import airtune

    fp = fingerprints(with_torch=False)
    print(json.dumps({"core": airtune.build_info()["blas"]["core"], "fingerprints": fp}))
