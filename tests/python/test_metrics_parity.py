"""Parity of airtune.metrics with sacreBLEU, rouge-score, the SQuAD script and scikit-learn on the
same inputs: thousands of varied pairs (punctuation, numbers, HTML entities, newlines, hyphens,
non-ASCII, empty strings) plus the published test vectors."""

from __future__ import annotations

import random

import airtune
import numpy as np
import pytest
from airtune import metrics as M

sacrebleu = pytest.importorskip("sacrebleu")
rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

WORDS = (
    "the a an of cat dog sat mat running runs ran happily generalization conditional relational "
    "U.S.A. e-mail 3.14 1,000 5-6 x-1 (ok) \"quoted\" it's don't &amp; &quot; &lt;tag&gt; <skipped> "
    "été café naïve Straße İstanbul K résumé 東京 你好 世界 — – … ¿qué? ¡sí! € $5 100% #tag @user "
    "a.b,c end. Hello, world! skies dying news innings proceed hopping hoping agreed feed "
    "probabilistically rationalization"
).split()


def _sentence(rng: random.Random) -> str:
    if rng.random() < 0.03:
        return ""
    n = rng.randint(1, 30)
    out = []
    for _ in range(n):
        w = rng.choice(WORDS)
        r = rng.random()
        if r < 0.1:
            w = w.upper()
        elif r < 0.15:
            w += rng.choice([".", ",", "!", "?", ";", ":", "-", ")"])
        out.append(w)
        out.append(rng.choice([" "] * 12 + ["  ", "\t", "\n", "-\n", "\u00a0"]))
    return "".join(out).strip() + rng.choice(["", "", " ", "\n"])


def _corpus(n: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(seed)
    hyps, refs, refs2 = [], [], []
    for _ in range(n):
        ref = _sentence(rng)
        words = ref.split(" ")
        hyp = " ".join(w for w in words if rng.random() > 0.3) if rng.random() < 0.7 else _sentence(rng)
        hyps.append(hyp)
        refs.append(ref)
        refs2.append(_sentence(rng) if rng.random() < 0.5 else ref.replace("the", "a"))
    return hyps, refs, refs2


HYPS, REFS, REFS2 = _corpus(2000, 7)


@pytest.mark.parametrize("tok", ["13a", "intl", "char", "none"])
def test_tokenizers_match_sacrebleu(tok: str) -> None:
    from sacrebleu.tokenizers import tokenizer_13a, tokenizer_char, tokenizer_intl

    ref = {
        "13a": tokenizer_13a.Tokenizer13a(),
        "intl": tokenizer_intl.TokenizerV14International(),
        "char": tokenizer_char.TokenizerChar(),
        "none": None,
    }[tok]
    if ref is None:
        return
    for line in HYPS[:800] + REFS[:800]:
        assert airtune._core.metrics.tokenize_bleu(line, tok) == ref(line).strip() or tok == "char", line
        assert airtune._core.metrics.tokenize_bleu(line, tok).split() == ref(line).split(), line


def test_published_13a_vectors() -> None:
    t = airtune._core.metrics.tokenize_bleu
    assert t("Hello, world! It's 3.14 and 1,000 (ok).") == "Hello , world ! It's 3.14 and 1,000 ( ok ) ."
    assert t('e-mail: a@b.com; x-1 5-6 "quoted" &amp; été—café.') == (
        'e-mail : a @ b . com ; x-1 5 - 6 " quoted " & été—café .'
    )
    assert t("U.S.A. end.") == "U . S . A . end ."


@pytest.mark.parametrize(
    ("tok", "smooth"),
    [
        ("13a", "exp"),
        ("intl", "exp"),
        ("char", "exp"),
        ("none", "exp"),
        ("13a", "floor"),
        ("13a", "add-k"),
        ("13a", "none"),
    ],
)
def test_corpus_bleu_matches(tok: str, smooth: str) -> None:
    for refs in ([REFS], [REFS, REFS2]):
        ours = M.bleu(HYPS, refs, tokenize=tok, smooth_method=smooth, streams=True)
        theirs = sacrebleu.BLEU(tokenize=tok, smooth_method=smooth)
        got = theirs.corpus_score(HYPS, refs)
        assert ours.score == pytest.approx(got.score, abs=1e-9)
        if smooth != "add-k":  # sacreBLEU reports add-k's smoothed counts
            assert ours.details["counts"] == got.counts and ours.details["totals"] == got.totals
        assert ours.details["sys_len"] == got.sys_len and ours.details["ref_len"] == got.ref_len
        assert ours.signature == str(theirs.get_signature())


@pytest.mark.parametrize("tok", ["13a", "intl", "char"])
@pytest.mark.parametrize("smooth", ["exp", "floor", "add-k"])
def test_sentence_bleu_matches(tok: str, smooth: str) -> None:
    ours = M.bleu(HYPS, list(zip(REFS, REFS2)), tokenize=tok, smooth_method=smooth)
    for i in range(0, len(HYPS), 5):
        want = sacrebleu.sentence_bleu(HYPS[i], [REFS[i], REFS2[i]], tokenize=tok, smooth_method=smooth).score
        assert ours.per_item[i] == pytest.approx(want, abs=1e-9), i


def test_sentence_level_on_every_pair() -> None:
    bleu_items = M.bleu(HYPS, REFS).per_item
    chrf_items = M.chrf(HYPS, REFS, word_order=2).per_item
    for i in range(len(HYPS)):
        assert bleu_items[i] == pytest.approx(sacrebleu.sentence_bleu(HYPS[i], [REFS[i]]).score, abs=1e-9), i
        want = sacrebleu.sentence_chrf(HYPS[i], [REFS[i]], word_order=2).score
        assert chrf_items[i] == pytest.approx(want, abs=1e-9), i


def test_bleu_options_and_lowercase() -> None:
    ours = M.bleu(HYPS, REFS, lowercase=True, effective_order=True, max_ngram_order=3)
    theirs = sacrebleu.BLEU(lowercase=True, effective_order=True, max_ngram_order=3)
    assert ours.score == pytest.approx(theirs.corpus_score(HYPS, [REFS]).score, abs=1e-9)
    assert ours.signature == str(theirs.get_signature())


def test_bleu_variable_references() -> None:
    refs2 = [r if i % 3 else None for i, r in enumerate(REFS2)]
    ours = M.bleu(HYPS, [REFS, refs2], streams=True)
    got = sacrebleu.corpus_bleu(HYPS, [REFS, refs2])
    assert ours.score == pytest.approx(got.score, abs=1e-9)
    assert "nrefs:var" in ours.signature


def test_chrf_and_rouge_variable_references() -> None:
    refs2 = [r if i % 3 else None for i, r in enumerate(REFS2)]
    for wo in (0, 2):
        ours = M.chrf(HYPS, [REFS, refs2], word_order=wo, streams=True)
        assert ours.score == pytest.approx(
            sacrebleu.corpus_chrf(HYPS, [REFS, refs2], word_order=wo).score, abs=1e-9
        )
    scorer = rouge_scorer.RougeScorer(["rouge2"])
    per_item = [[a] if b is None else [a, b] for a, b in zip(REFS[:300], refs2[:300])]
    ours = M.rouge(HYPS[:300], per_item, rouge_types=["rouge2"])
    for i in range(300):
        assert ours.per_item[i] == pytest.approx(
            scorer.score_multi(per_item[i], HYPS[i])["rouge2"].fmeasure, abs=1e-12
        )


def test_bleu_published_vectors() -> None:
    hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
    refs = [
        ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
        ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
    ]
    assert M.bleu(hyps, refs, streams=True).score == pytest.approx(48.530827, abs=1e-6)
    assert M.bleu(hyps, refs, streams=True, tokenize="none").score == pytest.approx(49.1919566, abs=1e-6)
    assert M.bleu(hyps, refs, streams=True, tokenize="intl").score == pytest.approx(43.91623493, abs=1e-6)
    assert M.bleu(["", ""], ["a b", "c"]).score == 0.0
    assert M.bleu(["test"], ["a test"], effective_order=True).score == pytest.approx(36.787944, abs=1e-5)


@pytest.mark.parametrize("word_order", [0, 2])
@pytest.mark.parametrize("eps", [False, True])
def test_chrf_matches(word_order: int, eps: bool) -> None:
    for refs in ([REFS], [REFS, REFS2]):
        ours = M.chrf(HYPS, refs, word_order=word_order, eps_smoothing=eps, streams=True)
        theirs = sacrebleu.CHRF(word_order=word_order, eps_smoothing=eps)
        assert ours.score == pytest.approx(theirs.corpus_score(HYPS, refs).score, abs=1e-9)
        assert ours.signature == str(theirs.get_signature())
    for i in range(0, len(HYPS), 8):
        want = sacrebleu.sentence_chrf(
            HYPS[i], [REFS[i], REFS2[i]], word_order=word_order, eps_smoothing=eps
        ).score
        got = M.chrf([HYPS[i]], [[REFS[i], REFS2[i]]], word_order=word_order, eps_smoothing=eps).score
        assert got == pytest.approx(want, abs=1e-9), i


def test_chrf_options_and_vectors() -> None:
    ours = M.chrf(HYPS, REFS, lowercase=True, whitespace=True, beta=3, char_order=4)
    theirs = sacrebleu.CHRF(lowercase=True, whitespace=True, beta=3, char_order=4)
    assert ours.score == pytest.approx(theirs.corpus_score(HYPS, [REFS]).score, abs=1e-9)
    assert M.chrf(["a"], ["a"], beta=3, eps_smoothing=True).score == pytest.approx(16.6667, abs=1e-4)
    assert M.chrf(["aa"], ["ab"], beta=3, eps_smoothing=True).score == pytest.approx(8.3333, abs=1e-4)
    assert M.chrf(["aa"], ["ab"], beta=3).score == pytest.approx(25.0, abs=1e-9)


@pytest.mark.parametrize("stem", [False, True])
def test_rouge_matches(stem: bool) -> None:
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=stem)
    ours = M.rouge(HYPS, REFS, rouge_types=types, use_stemmer=stem)
    for i in range(len(HYPS)):
        want = scorer.score(REFS[i], HYPS[i])
        for t in types:
            assert ours.columns[t][i] == pytest.approx(want[t].fmeasure, abs=1e-12), (i, t)
            assert ours.columns[f"{t}_precision"][i] == pytest.approx(want[t].precision, abs=1e-12)
            assert ours.columns[f"{t}_recall"][i] == pytest.approx(want[t].recall, abs=1e-12)


def test_rouge_long_texts_match() -> None:
    # Candidates longer than 64 tokens take the full DP instead of the bit-parallel LCS.
    types = ["rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types)
    hyps = ["\n".join(HYPS[i : i + 6]) for i in range(0, 600, 6)]
    refs = ["\n".join(REFS[i : i + 6]) for i in range(0, 600, 6)]
    ours = M.rouge(hyps, refs, rouge_types=types)
    assert max(len(h.split()) for h in hyps) > 100
    for i in range(len(hyps)):
        want = scorer.score(refs[i], hyps[i])
        for t in types:
            assert ours.columns[t][i] == pytest.approx(want[t].fmeasure, abs=1e-12), (i, t)


def test_wide_ngram_keys_match() -> None:
    # Long items with many distinct tokens and high orders need 128-bit n-gram keys.
    extra = " ".join(f"t{k}" for k in range(150))
    hyps = [" ".join(HYPS[i : i + 12]) + " " + extra for i in range(0, 480, 12)]
    refs = [extra + " " + " ".join(REFS[i : i + 12]) for i in range(0, 480, 12)]
    ours = M.bleu(hyps, refs, max_ngram_order=9)
    assert ours.score == pytest.approx(
        sacrebleu.BLEU(max_ngram_order=9).corpus_score(hyps, [refs]).score, abs=1e-9
    )
    scorer = rouge_scorer.RougeScorer(["rouge9"])
    r9 = M.rouge(hyps, refs, rouge_types=["rouge9"])
    for i in range(len(hyps)):
        assert r9.per_item[i] == pytest.approx(scorer.score(refs[i], hyps[i])["rouge9"].fmeasure, abs=1e-12)


def test_rouge_multi_reference_and_vectors() -> None:
    types = ["rouge1", "rougeL"]
    scorer = rouge_scorer.RougeScorer(types)
    ours = M.rouge(HYPS[:300], list(zip(REFS[:300], REFS2[:300])), rouge_types=types)
    for i in range(300):
        want = scorer.score_multi([REFS[i], REFS2[i]], HYPS[i])
        assert ours.columns["rougeL"][i] == pytest.approx(want["rougeL"].fmeasure, abs=1e-12)
    r = M.rouge(["testing"], ["testing one two"], rouge_types=["rouge1"])
    assert r.details["rouge1"]["precision"] == 1.0 and r.details["rouge1"]["recall"] == pytest.approx(1 / 3)
    r = M.rouge(["w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5"], ["w1 w2 w3 w4 w5"], rouge_types=["rougeLsum"])
    assert r.details["rougeLsum"]["recall"] == pytest.approx(0.8)
    assert r.details["rougeLsum"]["precision"] == pytest.approx(0.4)
    assert M.rouge(["你好 世界"], ["你好 世界"], rouge_types=["rouge1"]).score == 0.0


def test_porter_matches_nltk() -> None:
    from nltk.stem.porter import PorterStemmer

    ps = PorterStemmer()
    words = set()
    for line in HYPS + REFS:
        words.update(airtune._core.metrics.rouge_tokenize(line))
    words |= {
        "caresses",
        "ponies",
        "ties",
        "caress",
        "cats",
        "feed",
        "agreed",
        "plastered",
        "bled",
        "motoring",
        "sing",
        "conflated",
        "troubled",
        "sized",
        "hopping",
        "tanned",
        "falling",
        "hissing",
        "fizzed",
        "failing",
        "filing",
        "happy",
        "sky",
        "relational",
        "conditional",
        "rational",
        "valenci",
        "hesitanci",
        "digitizer",
        "conformabli",
        "radicalli",
        "differentli",
        "vileli",
        "analogousli",
        "vietnamization",
        "predication",
        "operator",
        "feudalism",
        "decisiveness",
        "hopefulness",
        "callousness",
        "formaliti",
        "sensitiviti",
        "sensibiliti",
        "triplicate",
        "formative",
        "formalize",
        "electriciti",
        "electrical",
        "hopeful",
        "goodness",
        "revival",
        "allowance",
        "inference",
        "airliner",
        "gyroscopic",
        "adjustable",
        "defensible",
        "irritant",
        "replacement",
        "adjustment",
        "dependent",
        "adoption",
        "homologou",
        "communism",
        "activate",
        "angulariti",
        "homologous",
        "effective",
        "bowdlerize",
        "probate",
        "rate",
        "cease",
        "controll",
        "roll",
        "generously",
        "analogy",
        "archaeology",
        "fully",
        "dying",
        "lying",
        "innings",
        "yyyy",
        "syzygy",
        "ied",
        "cried",
        "spied",
        "flies",
        "dies",
        "eed",
        "bleed",
        "logi",
        "apologi",
    }
    for w in sorted(words):
        assert airtune._core.metrics.porter_stem(w) == ps.stem(w), w


def test_squad_matches_reference_script() -> None:
    import collections
    import re
    import string

    def normalize(s: str) -> str:
        s = s.lower()
        s = "".join(ch for ch in s if ch not in set(string.punctuation))
        s = re.sub(r"\b(a|an|the)\b", " ", s)
        return " ".join(s.split())

    def f1(pred: str, gold: str) -> float:
        p, g = normalize(pred).split(), normalize(gold).split()
        common = collections.Counter(p) & collections.Counter(g)
        same = sum(common.values())
        if same == 0:
            return 0.0
        pr, rc = same / len(p), same / len(g)
        return 2 * pr * rc / (pr + rc)

    res = M.token_f1(HYPS, list(zip(REFS, REFS2)))
    for i in range(len(HYPS)):
        assert airtune._core.metrics.squad_normalize(HYPS[i].lower()) == normalize(HYPS[i])
        want_f1 = max(f1(HYPS[i], REFS[i]), f1(HYPS[i], REFS2[i])) * 100
        want_em = max(normalize(HYPS[i]) == normalize(r) for r in (REFS[i], REFS2[i])) * 100
        assert res.per_item[i] == pytest.approx(want_f1, abs=1e-9)
        assert res.columns["exact_match"][i] == want_em
    assert M.token_f1(["the"], [""]).score == 0.0
    assert M.token_f1(["the"], [""], squad_v2=True).score == 100.0


def test_exact_match_matches_hf_definition() -> None:
    import re
    import string

    preds = ["Paris", "paris\n", "The 3 cats!", "x", "42"]
    refs = ["Paris", "Paris", "the cats", "y", "42"]
    assert M.exact_match(preds, refs).per_item.tolist() == [1, 0, 0, 0, 1]
    got = M.exact_match(
        preds, refs, ignore_case=True, ignore_punctuation=True, ignore_numbers=True, strip=True
    )
    assert got.per_item.tolist() == [1, 1, 0, 0, 1]
    table = str.maketrans("", "", string.punctuation)

    def hf(p: str, r: str) -> bool:
        p, r = re.sub("cat", "", p).lower().translate(table), re.sub("cat", "", r).lower().translate(table)
        return p == r

    ours = M.exact_match(HYPS, REFS, regexes_to_ignore=["cat"], ignore_case=True, ignore_punctuation=True)
    assert ours.per_item.tolist() == [float(hf(p, r)) for p, r in zip(HYPS, REFS)]


def test_classification_matches_sklearn() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    for k in (2, 3, 7):
        yt = rng.integers(0, k, 500).tolist()
        yp = rng.integers(0, k, 500).tolist()
        res = M.classification(yt, yp)
        d = res.details
        assert res.score == pytest.approx(sk.accuracy_score(yt, yp))
        for avg in ("macro", "micro", "weighted"):
            p, r, f, _ = sk.precision_recall_fscore_support(yt, yp, average=avg, zero_division=0)
            assert d[f"{avg}_precision"] == pytest.approx(p, abs=1e-12)
            assert d[f"{avg}_recall"] == pytest.approx(r, abs=1e-12)
            assert d[f"{avg}_f1"] == pytest.approx(f, abs=1e-12)
        np.testing.assert_array_equal(d["confusion"][:, :k], sk.confusion_matrix(yt, yp))
        for w in (None, "linear", "quadratic"):
            assert M.cohen_kappa(yt, yp, weights=w) == pytest.approx(
                sk.cohen_kappa_score(yt, yp, weights=w), abs=1e-12
            )
    yt, yp = [0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1]
    assert M.classification(yt, yp).details["macro_f1"] == pytest.approx(0.2667, abs=1e-4)
    assert M.classification(yt, yp, labels=[0, 1, 2, 3]).details["macro_f1"] == pytest.approx(0.2, abs=1e-12)
    a, b = [0] * 46 + [1] * 44 + [2] * 10, [0] * 50 + [1] * 40 + [2] * 10
    assert M.cohen_kappa(a, b) == pytest.approx(0.9315, abs=1e-4)
    assert M.cohen_kappa(a, b, weights="linear") == pytest.approx(0.9412, abs=1e-4)
    assert M.cohen_kappa(a, b, weights="quadratic") == pytest.approx(0.9541, abs=1e-4)


def test_classification_invalid_bucket() -> None:
    res = M.classification(["a", "b", "a", "b"], ["a", "oops", None, "b"], labels=["a", "b"])
    assert res.details["invalid"] == 2 and res.score == 0.5
    assert res.details["confusion"][:, 2].sum() == 2
    with pytest.raises(ValueError, match="row 1"):
        M.classification(["a", None], ["a", "a"])
    with pytest.raises(ValueError, match="differ in length"):
        M.classification(["a"], ["a", "b"])


def test_wilcoxon_matches_scipy() -> None:
    st = pytest.importorskip("scipy.stats")
    d = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]
    r = M.wilcoxon(d)
    assert r["statistic"] == 24 and r["p_value"] == pytest.approx(0.041259765625, abs=1e-15)
    rng = np.random.default_rng(1)
    for zm in ("wilcox", "pratt", "zsplit"):
        for alt in ("two-sided", "greater", "less"):
            x, y = rng.integers(1, 6, 60), rng.integers(1, 6, 60)
            ours = M.wilcoxon(x, y, zero_method=zm, alternative=alt, method="asymptotic")
            want = st.wilcoxon(x, y, zero_method=zm, alternative=alt, method="asymptotic")
            assert ours["statistic"] == pytest.approx(want.statistic)
            assert ours["p_value"] == pytest.approx(want.pvalue, rel=1e-9)
    x = rng.normal(size=20)
    for alt in ("two-sided", "greater", "less"):
        assert M.wilcoxon(x, alternative=alt, method="exact")["p_value"] == pytest.approx(
            st.wilcoxon(x, alternative=alt, method="exact").pvalue, rel=1e-12
        )


def test_krippendorff_published_vectors() -> None:
    nan = np.nan
    data = [
        [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
        [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
        [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
    ]
    assert M.krippendorff_alpha(data, level="nominal") == pytest.approx(0.691358, abs=1e-6)
    assert M.krippendorff_alpha(data, level="interval") == pytest.approx(0.810845, abs=1e-6)
    data4 = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
    assert M.krippendorff_alpha(data4, level="ordinal") == pytest.approx(0.815, abs=1e-3)
    assert M.krippendorff_alpha(data4, level="ratio") == pytest.approx(0.797, abs=1e-3)


# sacreBLEU test/test_sentence_bleu.py: the Romanian pair of issue #98 and the zero-BLEU pair of #141.
RO_REF = "producţia de zahăr brut se exprimă în zahăr alb;"
RO_SYS = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;"


@pytest.mark.parametrize(
    ("smooth", "value", "lower", "tok", "expected"),
    [
        ("exp", None, False, "13a", 8.493),
        ("none", None, False, "13a", 0.0),
        ("floor", None, False, "13a", 4.51688),
        ("floor", 0.5, False, "13a", 10.10),
        ("add-k", None, False, "13a", 14.882),
        ("add-k", 2, False, "13a", 21.389),
        ("exp", None, False, "none", 7.347),
        ("exp", None, False, "intl", 8.493),
        ("exp", None, False, "char", 40.8759),
        ("exp", None, True, "char", 42.0267),
    ],
)
def test_published_sentence_bleu_vectors(
    smooth: str, value: float | None, lower: bool, tok: str, expected: float
) -> None:
    got = M.bleu(
        [RO_SYS],
        [RO_REF],
        smooth_method=smooth,
        smooth_value=value,
        lowercase=lower,
        tokenize=tok,
        effective_order=True,
    ).score
    assert abs(got - expected) < 1e-3
    assert M.bleu(["this is a cat"], ["okay thanks"], smooth_method=smooth, effective_order=True).score == 0.0
