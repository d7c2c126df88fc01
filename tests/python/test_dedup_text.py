"""Exact and near-duplicate detection: hand cases, Python-set Jaccard truth, datasketch parity,
the saved index, determinism across thread counts and row accounting."""

from __future__ import annotations

import itertools
import os
import random
import re

import airtune
import numpy as np
import pytest
from airtune import dedup

# ---------------------------------------------------------------------------------------------
# helpers: an independent Python model of the default normalisation and shingling (ASCII text)


def py_normalize(text: str) -> str:
    t = text.lower()
    t = re.sub(r"[!-/:-@\[-`{-~]", " ", t)  # ASCII punctuation -> space
    return " ".join(t.split())


def py_shingles(text: str, n: int) -> set[str]:
    words = py_normalize(text).split(" ") if py_normalize(text) else []
    if not words:
        return set()
    if len(words) <= n:
        return {" ".join(words)}
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def py_jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if (a or b) else 0.0


def make_corpus(n_base: int, words: int, edit_rates: list[float], seed: int) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"tok{i}" for i in range(3000)]
    out = []
    for _ in range(n_base):
        base = [rng.choice(vocab) for _ in range(words)]
        out.append(" ".join(base) + ".")
        for rate in edit_rates:
            out.append(" ".join(rng.choice(vocab) if rng.random() < rate else w for w in base))
    rng.shuffle(out)
    return out


# ---------------------------------------------------------------------------------------------
# exact


def test_exact_groups_survivors_and_accounting():
    texts = ["Hello  World", "hello world", "HELLO WORLD!", "x", "", "", "hello world"]
    r = dedup.exact_duplicates(texts)
    assert r.keep.tolist() == [True, False, True, True, True, False, False]
    assert r.cluster.tolist() == [0, 0, 2, 3, 4, 4, 0]
    assert r.clusters() == [[0, 1, 6], [4, 5]]
    assert r.n_kept + r.n_removed == len(texts)
    assert r.reasons()[6] == "exact duplicate of row 0"
    # punctuation folding merges row 2 too
    assert dedup.exact_duplicates(texts, punctuation=True).cluster[2] == 0


def test_exact_survivor_rules():
    texts = ["a b", "A B ", "a  b", "c"]
    assert dedup.exact_duplicates(texts, keep="longest").cluster.tolist()[:3] == [1, 1, 1]
    assert dedup.exact_duplicates(texts, scores=[0.1, 0.2, 0.9, 0]).cluster.tolist()[:3] == [2, 2, 2]
    assert dedup.exact_duplicates(texts, priority=[3, 1, 2, 0]).cluster.tolist()[:3] == [1, 1, 1]
    with pytest.raises(ValueError, match="row 1"):
        dedup.exact_duplicates(texts, scores=[0.1, float("nan"), 0, 0])
    with pytest.raises(ValueError, match="expected 4 values"):
        dedup.exact_duplicates(texts, scores=[1.0])
    with pytest.raises(ValueError, match="keep"):
        dedup.exact_duplicates(texts, keep="best")


def test_exact_unicode_normalisation():
    # NFKC folds full-width letters and ligatures; str.lower handles non-ASCII case.
    texts = ["ｆｕｌｌ ｗｉｄｔｈ", "full width", "ﬁne ÉTÉ", "fine été", "Fine Ete"]
    r = dedup.exact_duplicates(texts)
    assert r.cluster.tolist() == [0, 0, 2, 2, 4]
    assert dedup.exact_duplicates(texts, nfkc=False).cluster.tolist()[:2] == [0, 1]
    assert dedup.normalize("Ｈｉ,\u00a0 There 42", punctuation=True, digits=True) == "hi there 00"


def test_exact_accepts_column_types():
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    df = pd.DataFrame({"text": ["a", "A", "b"]})
    assert dedup.exact_duplicates(df, column="text").keep.tolist() == [True, False, True]
    assert dedup.exact_duplicates(pa.array(["a", "A", None])).keep.tolist() == [True, False, True]
    assert dedup.exact_duplicates([]).n_rows == 0
    with pytest.raises(TypeError, match="row 1"):
        dedup.exact_duplicates(["a", 3])


# ---------------------------------------------------------------------------------------------
# near duplicates


def test_shingles_match_python_model():
    text = "The quick, brown fox -- jumps over the lazy dog. Again!"
    assert set(dedup.shingles(text, 3)) == py_shingles(text, 3)
    assert dedup.shingles("two words", 5) == ["two words"]
    assert dedup.shingles("", 5) == []
    assert dedup.shingles("abcd", 2, char_ngrams=True) == ["ab", "bc", "cd"]


def test_bands_rows_match_datasketch():
    lsh = pytest.importorskip("datasketch.lsh")
    for t, n in itertools.product([0.3, 0.5, 0.7, 0.8, 0.9, 0.95], [64, 128, 256]):
        for w in [(0.5, 0.5), (0.1, 0.9)]:
            ours = dedup.choose_bands_rows(t, n, w)
            theirs = lsh._optimal_param(t, n, *w)
            assert ours == tuple(theirs), (t, n, w, ours, theirs)


def test_verified_pairs_equal_python_set_jaccard_and_brute_force():
    corpus = make_corpus(40, 60, [0.02, 0.05, 0.1, 0.3], seed=1)
    t = 0.6
    r = dedup.near_duplicates(corpus, t, 3)
    sets = [py_shingles(x, 3) for x in corpus]
    truth = {
        (i, j) for i, j in itertools.combinations(range(len(corpus)), 2) if py_jaccard(sets[i], sets[j]) >= t
    }
    got = set(zip(r.pairs_a.tolist(), r.pairs_b.tolist()))
    for a, b, s in zip(r.pairs_a.tolist(), r.pairs_b.tolist(), r.pairs_similarity.tolist()):
        assert s == pytest.approx(py_jaccard(sets[a], sets[b]), abs=1e-12)
    assert got <= truth  # precision 1
    # recall: each true pair of Jaccard s is a candidate with probability P(s) (the S-curve), so the
    # number found is a sum of Bernoulli(P(s)) variables
    probs = [dedup.candidate_probability(py_jaccard(sets[i], sets[j]), r.bands, r.rows) for i, j in truth]
    expected, sd = sum(probs), np.sqrt(sum(p * (1 - p) for p in probs))
    assert len(truth) > 80
    assert abs(len(got) - expected) < 4 * sd + 1, (len(got), expected, sd)
    assert r.n_kept + r.n_removed == len(corpus)
    assert r.candidate_probability[0.6] == pytest.approx(1 - (1 - 0.6**r.rows) ** r.bands)


def test_clusters_are_union_find_with_deterministic_survivors():
    base = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
    a = base
    b = base + " nu"
    c = base + " nu xi"
    texts = ["unrelated words entirely here and there", c, a, b]
    r = dedup.near_duplicates(texts, 0.7, 2)
    assert r.clusters() == [[1, 2, 3]]
    assert r.keep.tolist() == [True, True, False, False]
    assert dedup.near_duplicates(texts, 0.7, 2, keep="longest").cluster[2] == 1
    assert dedup.near_duplicates(texts, 0.7, 2, priority=[0, 5, 1, 9]).cluster[1] == 2


def test_minhash_estimates_agree_with_datasketch_on_same_shingles():
    datasketch = pytest.importorskip("datasketch")
    rng = random.Random(5)
    num_perm = 256
    errs_ours, errs_ds = [], []
    for _ in range(40):
        universe = [f"s{rng.randrange(10**9)}" for _ in range(300)]
        k = rng.randrange(60, 300)
        a = universe[:200]
        b = universe[300 - k : 300 - k + 200] if k < 200 else universe[100:300]
        # each shingle is one "word" with ngram=1 and no normalisation changes
        ta, tb = " ".join(a), " ".join(b)
        truth = py_jaccard(set(a), set(b))
        ix = dedup.MinHashIndex(
            0.5, 1, num_perm=num_perm, bands=1, rows=num_perm, lowercase=False, punctuation=False
        )
        ix.add([ta, tb])
        sig = ix.signatures()
        est = float((sig[0] == sig[1]).mean())
        ma, mb = datasketch.MinHash(num_perm=num_perm), datasketch.MinHash(num_perm=num_perm)
        ma.update_batch([s.encode() for s in a])
        mb.update_batch([s.encode() for s in b])
        se = max(np.sqrt(truth * (1 - truth) / num_perm), 1e-3)
        assert abs(est - truth) < 4.5 * se
        assert abs(ma.jaccard(mb) - truth) < 4.5 * se
        errs_ours.append(est - truth)
        errs_ds.append(ma.jaccard(mb) - truth)
    # unbiased and of the same spread as datasketch
    assert abs(np.mean(errs_ours)) < 0.02
    assert np.std(errs_ours) < 2.0 * np.std(errs_ds) + 0.01


def test_signatures_of_hash_sets_equal_those_of_the_texts():
    from airtune import _core

    rng = random.Random(9)
    texts = [" ".join(f"w{rng.randrange(400)}" for _ in range(rng.randrange(0, 120))) for _ in range(300)]
    for num_perm in (7, 128, 200):
        ix = dedup.MinHashIndex(0.8, 3, num_perm=num_perm, seed=4)
        ix.add(texts)
        norm = ix._ix.options.normalize
        sets = [_core.dedup.shingle_hashes(t, 3, False, norm) for t in texts]
        # the same sets shuffled with repeats: order and multiplicity do not change a signature
        flat = np.concatenate([np.concatenate([s, s[::-1]]) for s in sets]).astype(np.uint64)
        offsets = np.cumsum([0] + [2 * len(s) for s in sets])
        sig = _core.dedup.signatures_of_sets(flat, offsets, num_perm, 4)
        np.testing.assert_array_equal(sig, ix.signatures())
    with pytest.raises(ValueError, match="offsets"):
        _core.dedup.signatures_of_sets(np.zeros(3, np.uint64), np.array([0, 5]), 8, 1)


def test_candidate_rate_follows_s_curve_like_datasketch_lsh():
    datasketch = pytest.importorskip("datasketch")
    rng = random.Random(9)
    bands, rows = 8, 4
    n_pairs = 150
    s_target = 0.55
    ours_hits = 0
    ds_hits = 0
    texts_a, texts_b = [], []
    for p in range(n_pairs):
        shared = [f"p{p}x{i}" for i in range(110)]
        only_a = [f"p{p}a{i}" for i in range(45)]
        only_b = [f"p{p}b{i}" for i in range(45)]
        texts_a.append(" ".join(shared + only_a))
        texts_b.append(" ".join(shared + only_b))
    s_true = 110 / 200
    assert s_true == pytest.approx(s_target)
    for p in range(n_pairs):
        ix = dedup.MinHashIndex(
            0.5, 1, bands=bands, rows=rows, lowercase=False, punctuation=False, seed=p + 1
        )
        ix.add([texts_a[p], texts_b[p]])
        ours_hits += len(ix.self_pairs(0.0)["a"]) > 0
        lsh = datasketch.MinHashLSH(num_perm=128, params=(bands, rows))
        ma, mb = datasketch.MinHash(num_perm=128, seed=p + 1), datasketch.MinHash(num_perm=128, seed=p + 1)
        ma.update_batch([w.encode() for w in texts_a[p].split()])
        mb.update_batch([w.encode() for w in texts_b[p].split()])
        lsh.insert("a", ma)
        ds_hits += "a" in lsh.query(mb)
    expected = dedup.candidate_probability(s_true, bands, rows)
    sd = np.sqrt(expected * (1 - expected) / n_pairs)
    assert abs(ours_hits / n_pairs - expected) < 4 * sd
    assert abs(ds_hits / n_pairs - expected) < 4 * sd
    _ = rng


def test_unverified_mode_reports_estimates():
    corpus = make_corpus(10, 50, [0.05], seed=3)
    r = dedup.near_duplicates(corpus, 0.7, 3, verify=False)
    assert not r.verified
    assert ((r.pairs_similarity * 128) % 1 == 0).all()  # estimates are k / num_perm


def test_empty_one_row_and_all_identical():
    assert dedup.near_duplicates([]).n_rows == 0
    assert dedup.near_duplicates(["only one"]).keep.tolist() == [True]
    r = dedup.near_duplicates(["", "", "x y z"])
    assert r.keep.all()  # empty texts are never near duplicates
    same = dedup.near_duplicates(["the very same text again and again"] * 3000)
    assert same.n_kept == 1 and same.candidates == 2999 and same.clusters()[0][0] == 0


def test_index_without_sets_verifies_from_texts():
    corpus = make_corpus(40, 50, [0.03, 0.1], seed=12) + ["", "x"]
    corpus += corpus[:5]  # exact copies
    kept = dedup.MinHashIndex(0.6, 3, keep_shingles=True)
    lean = dedup.MinHashIndex(0.6, 3, keep_shingles=False)
    kept.add(corpus)
    lean.add(corpus)
    want = kept.self_pairs(0.6)
    got = lean.self_pairs(0.6, texts=corpus)
    assert len(want["a"]) > 40
    for k in ("a", "b", "similarity"):
        assert got[k].tolist() == want[k].tolist()
    assert got["candidates"] == want["candidates"]
    within = kept.pairs_within(corpus, 0.6)  # the index's own rows take no part
    for k in ("a", "b", "similarity"):
        assert within[k].tolist() == want[k].tolist()
    with pytest.raises(ValueError, match="or the texts it was built from"):
        lean.self_pairs(0.6)
    with pytest.raises(ValueError, match="expected the"):
        lean.self_pairs(0.6, texts=corpus[1:])


def test_index_save_load_query(tmp_path):
    corpus = make_corpus(30, 50, [0.05], seed=4)
    ix = dedup.MinHashIndex(0.7, 3)
    ix.add(corpus[:40])
    path = tmp_path / "corpus.mhx"
    ix.save(path)
    assert not os.path.exists(str(path) + ".tmp")
    back = dedup.MinHashIndex.load(path)
    assert len(back) == 40 and back.bands == ix.bands and back.rows == ix.rows
    assert back.threshold == pytest.approx(0.7)
    q1 = ix.query(corpus[40:])
    q2 = back.query(corpus[40:])
    assert q1.query_row.tolist() == q2.query_row.tolist() and q1.index_row.tolist() == q2.index_row.tolist()
    # the query answer equals near_duplicates over the concatenation, restricted to cross pairs
    full = dedup.near_duplicates(corpus, 0.7, 3)
    cross = {(b - 40, a) for a, b in zip(full.pairs_a.tolist(), full.pairs_b.tolist()) if a < 40 <= b}
    assert set(zip(q1.query_row.tolist(), q1.index_row.tolist())) == cross
    back.add(corpus[40:])
    assert len(back) == len(corpus)
    data = path.read_bytes()
    path.write_bytes(data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:])
    with pytest.raises(ValueError, match="checksum"):
        dedup.MinHashIndex.load(path)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="magic"):
        dedup.MinHashIndex.load(path)
    with pytest.raises(OSError):
        dedup.MinHashIndex.load(tmp_path / "missing.mhx")


def test_near_duplicates_deterministic_across_threads():
    corpus = make_corpus(60, 40, [0.05, 0.15], seed=7)
    before = airtune.get_num_threads()
    try:
        airtune.set_num_threads(1)
        r1 = dedup.near_duplicates(corpus, 0.5, 3)
        e1 = dedup.exact_duplicates(corpus, punctuation=True)
        airtune.set_num_threads(2)
        r2 = dedup.near_duplicates(corpus, 0.5, 3)
        e2 = dedup.exact_duplicates(corpus, punctuation=True)
    finally:
        airtune.set_num_threads(before)
    assert r1.cluster.tolist() == r2.cluster.tolist()
    assert r1.pairs_similarity.tolist() == r2.pairs_similarity.tolist()
    assert e1.hashes.tolist() == e2.hashes.tolist()


def test_deduplicator_fit_transform_save_load_and_leakage(tmp_path):
    ref = ["the cat sat on the mat all day long", "a completely different reference row here"]
    new = [
        "The cat sat on the mat all day long!",  # exact (after punctuation? no) -> near ref
        "the cat sat on the mat all day long",  # exact ref
        "fresh text that is new and unseen so far",  # kept
        "fresh text that is new and unseen so far",  # exact within
        "something else",
    ]
    d = dedup.Deduplicator(threshold=0.7, ngram=2).fit(ref)
    r = d.transform(new)
    assert r.reason == ["near-reference", "exact-reference", "", "exact", ""]
    assert r.matched_row.tolist()[:4] == [0, 0, -1, 2]
    assert r.keep.sum() + sum(r.counts.values()) == len(new)
    d.save(tmp_path / "ref.mhx")
    again = dedup.Deduplicator.load(tmp_path / "ref.mhx").transform(new)
    assert again.reason == r.reason and again.matched_row.tolist() == r.matched_row.tolist()
    leak = dedup.leakage(new, ref, ngram=2, near_threshold=0.7)
    assert leak.kind == ["near", "exact", "", "", ""]
    assert leak.remove.tolist() == [True, True, False, False, False]


def test_results_display_and_plots():
    corpus = make_corpus(10, 30, [0.05], seed=2)
    r = dedup.near_duplicates(corpus, 0.5, 2)
    html = r._repr_html_()
    assert "NearDuplicateResult" in html and "<table" in html
    frame = r.to_pandas()
    assert list(frame.columns) == ["keep", "cluster", "cluster_size", "reason"]
    assert (frame["reason"] != "").sum() == r.n_removed
    assert r.pairs().shape[0] == r.pairs_a.shape[0]
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    assert r.plot() is not None
    assert dedup.exact_duplicates(corpus).plot() is not None


def test_whole_conversations_are_compared():
    chat_a = [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"}]
    chat_b = [{"role": "user", "content": "hi  THERE"}, {"role": "assistant", "content": "Hello!"}]
    chat_c = [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Bye"}]
    share = {
        "conversations": [{"from": "user", "value": "Hi there"}, {"from": "assistant", "value": "Hello!"}]
    }
    r = dedup.exact_duplicates([chat_a, chat_b, chat_c, share, "plain text"])
    assert r.cluster.tolist() == [0, 0, 2, 0, 4]
    assert dedup._common._conversation_text(chat_a) == "user: Hi there\nassistant: Hello!"
    assert dedup._common._conversation_text({"b": 1, "a": [2]}) == '{"a": [2], "b": 1}'
