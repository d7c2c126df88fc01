"""Benchmark airtune.dedup against the peers, in one process, on the same data.

Near duplicates: synthetic documents of about 1 KB in families (a base and variants at controlled
word-edit rates). airtune.dedup.near_duplicates (MinHash, LSH, exact-Jaccard verification, union
find) vs datasketch (MinHash.bulk + MinHashLSH at the same num_perm/bands/rows, shingles made by
the same Python normalisation). Truth: every within-family pair with exact Jaccard >= threshold
(Python sets); cross-family pairs of random documents have Jaccard ~0 (checked on the pairs
reported). Recall = truth pairs found / truth pairs; precision = reported pairs that are true.
datasketch returns unverified candidates, so its precision is that of its candidates.

Semantic duplicates: clustered 384-d float32 embeddings with planted near copies.
(1) kNN graph, k=10: airtune (auto index: IVF above 20k rows) vs exact search (faiss-python
IndexFlatIP; numpy blocked matmul + argpartition as a second baseline); recall@10 against exact.
(2) SemDeDup: airtune mode="semdedup" vs a reference written here (faiss-python spherical k-means +
numpy pairwise max inside clusters), same n_clusters; agreement of the removed sets.

Peak memory: RSS sampled every 5 ms during one call, minus the RSS before it (MiB).

    python benchmarks/dedup.py            # default: 20k docs, 30k x 384 embeddings, 1 thread (~3 min)
    python benchmarks/dedup.py --threads 2
    python benchmarks/dedup.py --full     # 100k docs, 200k x 384 (the issue's sizes)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _threads_from_argv(default: int = 1) -> int:
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return default


# Thread counts of every library are fixed before numpy/faiss load their BLAS/OpenMP runtimes.
THREADS = _threads_from_argv()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import airtune  # noqa: E402
import numpy as np  # noqa: E402
from airtune import dedup  # noqa: E402

airtune.set_num_threads(THREADS)

RESULTS = Path(__file__).resolve().parent / "results"


# ------------------------------------------------------------------------------------- plumbing


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def release_memory() -> None:
    """Return freed heap to the OS so that the next RSS baseline is honest."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


CPU_SECONDS: dict[str, float] = {}


def measure(fn, repeats: int = 3, name: str = "") -> tuple[float, float, Any]:
    """(median wall seconds, peak extra RSS MiB of the first call, last result); the median
    process CPU seconds (all threads) go to CPU_SECONDS[name]."""
    times, cpus, peak_extra, result = [], [], 0.0, None
    for rep in range(repeats):
        if rep == 0:
            release_memory()
        base = rss_mib()
        peak = [base]
        stop = threading.Event()

        def sample(stop: threading.Event = stop, peak: list[float] = peak) -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mib())
                time.sleep(0.005)

        t = threading.Thread(target=sample, daemon=True)
        if rep == 0:
            t.start()
        start = time.perf_counter()
        cpu0 = time.process_time()
        result = fn()
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu0)
        if rep == 0:
            stop.set()
            t.join()
            peak_extra = max(peak[0], rss_mib()) - base
    if name:
        CPU_SECONDS[name] = statistics.median(cpus)
    return statistics.median(times), peak_extra, result


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    info = airtune.build_info()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "airtune": airtune.__version__,
        "airtune_threads": airtune.get_num_threads(),
        "blas": info["blas"]["name"],
        "faiss": info["faiss"],
        "faiss_gpu": info["faiss_gpu"],
        "date": time.strftime("%Y-%m-%d"),
    }


# ------------------------------------------------------------------------------------- text data


def py_normalize(text: str) -> str:
    t = text.lower()
    t = re.sub(r"[!-/:-@\[-`{-~]", " ", t)
    return " ".join(t.split())


def py_shingles(text: str, n: int) -> set[str]:
    words = py_normalize(text).split(" ")
    if len(words) <= n:
        return {" ".join(words)}
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def text_corpus(n_docs: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """~1 KB documents in families of 5: a base and 4 variants (word edits at 2, 5, 10, 20%)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(20000)]
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(vocab))]
    docs, family = [], []
    fam = 0
    while len(docs) < n_docs:
        base = rng.choices(vocab, weights, k=165)
        variants = [base]
        for rate in (0.02, 0.05, 0.10, 0.20):
            variants.append([rng.choice(vocab) if rng.random() < rate else w for w in base])
        for v in variants:
            if len(docs) < n_docs:
                docs.append(" ".join(v).capitalize() + ".")
                family.append(fam)
        fam += 1
    order = list(range(len(docs)))
    rng.shuffle(order)
    return [docs[i] for i in order], [family[i] for i in order]


def truth_pairs(docs: list[str], family: list[int], threshold: float, ngram: int) -> set[tuple[int, int]]:
    by_fam: dict[int, list[int]] = {}
    for i, f in enumerate(family):
        by_fam.setdefault(f, []).append(i)
    sets = {}
    truth = set()
    for rows in by_fam.values():
        for i in rows:
            sets[i] = py_shingles(docs[i], ngram)
        for x in range(len(rows)):
            for y in range(x + 1, len(rows)):
                a, b = sorted((rows[x], rows[y]))
                sa, sb = sets[a], sets[b]
                if len(sa & sb) / len(sa | sb) >= threshold:
                    truth.add((a, b))
    return truth


def run_datasketch(docs: list[str], num_perm: int, bands: int, rows: int, ngram: int) -> set[tuple[int, int]]:
    from datasketch import MinHash, MinHashLSH

    shingles = [[s.encode() for s in py_shingles(d, ngram)] for d in docs]
    sigs = MinHash.bulk(shingles, num_perm=num_perm)
    lsh = MinHashLSH(num_perm=num_perm, params=(bands, rows))
    with lsh.insertion_session() as session:
        for i, m in enumerate(sigs):
            session.insert(i, m)
    pairs = set()
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            if j != i:
                pairs.add((min(i, j), max(i, j)))
    return pairs


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def bench_near(n_docs: int, repeats: int) -> dict[str, Any]:
    threshold, ngram, num_perm = 0.8, 5, 128
    log(f"near: {n_docs} documents")
    docs, family = text_corpus(n_docs)
    truth = truth_pairs(docs, family, threshold, ngram)
    log("near: airtune")
    t_ours, m_ours, r = measure(
        lambda: dedup.near_duplicates(docs, threshold, ngram, num_perm=num_perm), repeats, "near_airtune"
    )
    ours = set(zip(r.pairs_a.tolist(), r.pairs_b.tolist()))
    ds_repeats = 1
    log("near: datasketch")
    t_ds, m_ds, ds = measure(
        lambda: run_datasketch(docs, num_perm, r.bands, r.rows, ngram), ds_repeats, "near_datasketch"
    )

    def jac(a: int, b: int) -> float:
        sa, sb = py_shingles(docs[a], ngram), py_shingles(docs[b], ngram)
        return len(sa & sb) / len(sa | sb)

    ours_true = sum(1 for p in ours if p in truth or jac(*p) >= threshold)
    ds_true = sum(1 for p in ds if p in truth or (family[p[0]] == family[p[1]] and jac(*p) >= threshold))
    return {
        "docs": n_docs,
        "mean_doc_bytes": round(float(np.mean([len(d) for d in docs])), 1),
        "threshold": threshold,
        "ngram": ngram,
        "num_perm": num_perm,
        "bands": r.bands,
        "rows": r.rows,
        "p_candidate_at_threshold": round(r.candidate_probability[threshold], 4),
        "truth_pairs": len(truth),
        "airtune": {
            "seconds": round(t_ours, 3),
            "cpu_seconds": round(CPU_SECONDS["near_airtune"], 3),
            "peak_extra_mib": round(m_ours, 1),
            "pairs": len(ours),
            "recall": round(len(ours & truth) / max(1, len(truth)), 4),
            "precision": round(ours_true / max(1, len(ours)), 4),
            "removed": r.n_removed,
            "repeats": repeats,
        },
        "datasketch": {
            "seconds": round(t_ds, 3),
            "cpu_seconds": round(CPU_SECONDS["near_datasketch"], 3),
            "peak_extra_mib": round(m_ds, 1),
            "candidates": len(ds),
            "recall": round(len(ds & truth) / max(1, len(truth)), 4),
            "precision": round(ds_true / max(1, len(ds)), 4),
            "repeats": ds_repeats,
        },
        "speedup": round(t_ds / t_ours, 2),
        "cpu_ratio": round(CPU_SECONDS["near_datasketch"] / CPU_SECONDS["near_airtune"], 2),
    }


# ------------------------------------------------------------------------------------- embeddings


def embeddings(n: int, d: int = 384, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = max(50, n // 400)
    centers = rng.standard_normal((k, d)).astype(np.float32)
    x = centers[rng.integers(0, k, n)] + 0.9 * rng.standard_normal((n, d)).astype(np.float32)
    dup = rng.choice(n, n // 10, replace=False)
    src = rng.choice(n, n // 10, replace=False)
    x[dup] = x[src] + 0.05 * rng.standard_normal((n // 10, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def numpy_knn(x: np.ndarray, k: int, block: int = 2048) -> np.ndarray:
    n = x.shape[0]
    ids = np.empty((n, k), dtype=np.int64)
    for s in range(0, n, block):
        g = x[s : s + block] @ x.T
        g[np.arange(g.shape[0]), np.arange(s, s + g.shape[0])] = -np.inf
        part = np.argpartition(-g, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(g, part, axis=1), axis=1)
        ids[s : s + block] = np.take_along_axis(part, order, axis=1)
    return ids


def numpy_knn_rows(x: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    g = x[rows] @ x.T
    g[np.arange(rows.size), rows] = -np.inf
    part = np.argpartition(-g, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(g, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def faiss_knn_rows(x: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    import faiss

    faiss.omp_set_num_threads(THREADS)
    ix = faiss.IndexFlatIP(x.shape[1])
    ix.add(x)
    _, i = ix.search(x[rows], k + 1)
    return i


def faiss_knn(x: np.ndarray, k: int) -> np.ndarray:
    import faiss

    faiss.omp_set_num_threads(THREADS)
    ix = faiss.IndexFlatIP(x.shape[1])
    ix.add(x)
    _, i = ix.search(x, k + 1)
    out = np.empty((x.shape[0], k), dtype=np.int64)
    for r in range(x.shape[0]):
        row = i[r][i[r] != r][:k]
        out[r] = row
    return out


def reference_semdedup(x: np.ndarray, n_clusters: int, threshold: float, seed: int = 1234) -> np.ndarray:
    """SemDeDup as in Meta's / NeMo's code: spherical k-means (faiss), hard order, column max."""
    import faiss

    faiss.omp_set_num_threads(THREADS)
    km = faiss.Kmeans(x.shape[1], n_clusters, niter=20, seed=seed, spherical=True, verbose=False)
    km.train(x)
    sim, lab = km.index.search(x, 1)
    lab = lab[:, 0]
    dist = 1 - sim[:, 0]
    max_sim = np.full(x.shape[0], -1.0, dtype=np.float32)
    for c in range(n_clusters):
        m = np.flatnonzero(lab == c)
        if m.size < 2:
            continue
        m = m[np.lexsort((m, -dist[m]))]
        e = x[m]
        for s in range(0, m.size, 1024):
            g = e[s : s + 1024] @ e[: s + 1024].T
            rows = np.arange(g.shape[0])[:, None] + s
            g[np.arange(g.shape[1])[None, :] >= rows] = -2
            max_sim[m[s : s + 1024]] = g.max(axis=1)
    return max_sim >= threshold


def bench_semantic(n: int, repeats: int) -> dict[str, Any]:
    x = embeddings(n)
    k = 10
    log(f"semantic: airtune kNN (auto index) on {n} x {x.shape[1]}")
    t_ours, m_ours, r = measure(lambda: dedup.semantic_duplicates(x, 0.95, k=k), repeats)
    out: dict[str, Any] = {"rows": n, "dims": x.shape[1], "k": k}
    if n <= 50_000:
        try:
            import faiss  # noqa: F401

            log("semantic: faiss-python exact kNN")
            t_faiss, m_faiss, exact = measure(lambda: faiss_knn(x, k), 1)
            out["faiss_python_flat"] = {"seconds": round(t_faiss, 3), "peak_extra_mib": round(m_faiss, 1)}
        except ImportError:
            log("semantic: airtune exact kNN (faiss-python missing)")
            exact = dedup.semantic_duplicates(x, 0.95, k=k, index="flat").knn_ids
        log("semantic: numpy exact kNN")
        t_np, m_np, _ = measure(lambda: numpy_knn(x, k), 1)
        rows = np.arange(n)
    else:
        # Exact search over all rows would take many minutes here: exact neighbours (numpy) of a
        # random sample of 2000 query rows give the recall, and the baselines' time on that sample
        # is scaled by n / 2000 (reported as extrapolated).
        rows = np.sort(np.random.default_rng(1).choice(n, 2000, replace=False))
        log("semantic: numpy exact kNN of 2000 sampled rows")
        t_np_s, m_np, exact = measure(lambda: numpy_knn_rows(x, rows, k), 1)
        t_np = t_np_s * n / rows.size
        try:
            import faiss  # noqa: F401

            log("semantic: faiss-python exact kNN of 2000 sampled rows")
            t_f, m_faiss, _ = measure(lambda: faiss_knn_rows(x, rows, k), 1)
            out["faiss_python_flat"] = {
                "seconds": round(t_f * n / rows.size, 3),
                "peak_extra_mib": round(m_faiss, 1),
                "extrapolated_from_rows": int(rows.size),
            }
        except ImportError:
            pass
    recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(r.knn_ids[rows], exact)]))
    out["airtune_knn_auto"] = {
        "seconds": round(t_ours, 3),
        "peak_extra_mib": round(m_ours, 1),
        "index": r.index,
        "recall_at_10": round(recall, 4),
        "recall_rows": int(rows.size),
        "removed_at_0.95": r.n_removed,
        "threshold_table": {str(t): v for t, v in r.threshold_table.items()},
        "repeats": repeats,
    }
    out["numpy_knn"] = {
        "seconds": round(t_np, 3),
        "peak_extra_mib": round(m_np, 1),
        "extrapolated": bool(n > 50_000),
    }
    out["knn_speedup_vs_numpy"] = round(t_np / t_ours, 2)
    if "faiss_python_flat" in out:
        out["knn_speedup_vs_faiss_flat"] = round(out["faiss_python_flat"]["seconds"] / t_ours, 2)
    n_clusters = max(10, int(round(np.sqrt(n))))
    log("semantic: airtune SemDeDup")
    t_sem, m_sem, s = measure(
        lambda: dedup.semantic_duplicates(x, 0.95, mode="semdedup", n_clusters=n_clusters), repeats
    )
    out["airtune_semdedup"] = {
        "seconds": round(t_sem, 3),
        "peak_extra_mib": round(m_sem, 1),
        "n_clusters": n_clusters,
        "removed_at_0.95": s.n_removed,
        "threshold_table": {str(t): v for t, v in s.threshold_table.items()},
    }
    try:
        log("semantic: reference SemDeDup (faiss-python + numpy)")
        t_ref, m_ref, ref_removed = measure(lambda: reference_semdedup(x, n_clusters, 0.95), 1)
        ours_removed = ~s.keep
        inter = int((ours_removed & ref_removed).sum())
        union = int((ours_removed | ref_removed).sum())
        out["reference_semdedup_faiss_numpy"] = {
            "seconds": round(t_ref, 3),
            "peak_extra_mib": round(m_ref, 1),
            "removed_at_0.95": int(ref_removed.sum()),
            "removed_set_jaccard_vs_airtune": round(inter / max(1, union), 4),
        }
        out["semdedup_speedup"] = round(t_ref / t_sem, 2)
    except ImportError:
        pass
    return out


# ------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="the issue's sizes: 100k docs, 200k x 384")
    ap.add_argument("--docs", type=int, default=None)
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for every library (default 1: stable ratios on a shared machine)",
    )
    args = ap.parse_args()
    n_docs = args.docs or (100_000 if args.full else 20_000)
    n_rows = args.rows or (200_000 if args.full else 30_000)
    versions = {}
    for mod in ("datasketch", "faiss", "numpy", "sklearn"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    load_before = os.getloadavg()
    near = bench_near(n_docs, args.repeats)
    print(json.dumps(near, indent=1))
    sem = bench_semantic(n_rows, args.repeats)
    print(json.dumps(sem, indent=1))
    load_after = os.getloadavg()
    payload = {
        "area": "dedup",
        "command": " ".join(["benchmarks/dedup.py", *sys.argv[1:]]),
        "machine": {
            **machine(),
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in load_after],
        },
        "versions": versions,
        "near_duplicates": near,
        "semantic": sem,
        "notes": [
            "GPU: not measured; this machine has no GPU and Debian's FAISS 1.7.3 is CPU only.",
            "datasketch returns unverified LSH candidates; airtune verifies every candidate "
            "by exact Jaccard (precision 1 by construction).",
            "Peak memory = max RSS (sampled every 5 ms) during the first call minus RSS before "
            "it, after gc + malloc_trim (MiB); memory reused from earlier calls is not seen.",
            "The 2-core machine was shared with other work (loadavg in machine): ratios are "
            "indicative; OpenMP/BLAS threads suffer most from the contention, hence the "
            f"default of one thread for every library (this run: {THREADS}).",
        ],
    }
    md = [
        "| benchmark | airtune | peer | ratio | quality |",
        "|---|---|---|---|---|",
        f"| near-dup, {near['docs']} docs x {near['mean_doc_bytes']:.0f} B, t=0.8, {near['num_perm']} perms "
        f"({near['bands']}x{near['rows']}) | {near['airtune']['seconds']:.2f} s, "
        f"{near['airtune']['peak_extra_mib']:.0f} MiB | datasketch {near['datasketch']['seconds']:.2f} s, "
        f"{near['datasketch']['peak_extra_mib']:.0f} MiB | {near['speedup']:.1f}x wall, "
        f"{near['cpu_ratio']:.1f}x CPU | airtune recall "
        f"{near['airtune']['recall']:.3f} precision {near['airtune']['precision']:.3f}; datasketch recall "
        f"{near['datasketch']['recall']:.3f} precision {near['datasketch']['precision']:.3f} |",
    ]
    if "faiss_python_flat" in sem:
        md.append(
            f"| kNN graph k=10, {sem['rows']} x {sem['dims']} | {sem['airtune_knn_auto']['seconds']:.2f} s "
            f"({sem['airtune_knn_auto']['index']}), {sem['airtune_knn_auto']['peak_extra_mib']:.0f} MiB | "
            f"faiss-python flat {sem['faiss_python_flat']['seconds']:.2f} s"
            f"{' (extrapolated)' if sem['numpy_knn']['extrapolated'] else ''}, "
            f"{sem['faiss_python_flat']['peak_extra_mib']:.0f} MiB | {sem['knn_speedup_vs_faiss_flat']:.1f}x | "
            f"recall@10 {sem['airtune_knn_auto']['recall_at_10']:.3f} vs exact |"
        )
        md.append(
            f"| kNN graph k=10, {sem['rows']} x {sem['dims']} | (same) | numpy blocked matmul "
            f"{sem['numpy_knn']['seconds']:.2f} s{' (extrapolated)' if sem['numpy_knn']['extrapolated'] else ''}, "
            f"{sem['numpy_knn']['peak_extra_mib']:.0f} MiB | "
            f"{sem['knn_speedup_vs_numpy']:.1f}x | numpy is exact |"
        )
    if "reference_semdedup_faiss_numpy" in sem:
        ref = sem["reference_semdedup_faiss_numpy"]
        md.append(
            f"| SemDeDup {sem['rows']} x {sem['dims']}, {sem['airtune_semdedup']['n_clusters']} clusters, "
            f"cos>=0.95 | {sem['airtune_semdedup']['seconds']:.2f} s, "
            f"{sem['airtune_semdedup']['peak_extra_mib']:.0f} MiB | faiss-python+numpy {ref['seconds']:.2f} s, "
            f"{ref['peak_extra_mib']:.0f} MiB | {sem['semdedup_speedup']:.1f}x | removed {sem['airtune_semdedup']['removed_at_0.95']} "
            f"vs {ref['removed_at_0.95']}, set Jaccard {ref['removed_set_jaccard_vs_airtune']:.3f} |"
        )
    table = "\n".join(md)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dedup.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / "dedup.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
