"""airtune.prompts: protected spans (property test), determinism, hand-computed concentration,
row accounting, sacreBLEU parity, k-means against scikit-learn, gaps, paraphraser filtering."""

from __future__ import annotations

import json
import math
import random
import re
from importlib import resources

import airtune
import numpy as np
import pytest
from airtune import prompts as ap

EXAMPLES = json.loads(resources.files("airtune").joinpath("data/prompts_examples.json").read_text("utf-8"))


def chat(system, user="hi", assistant="ok", **extra):
    msgs = [{"role": "system", "content": system}] if system is not None else []
    msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": msgs, **extra}


# --- protected spans ------------------------------------------------------------------------------

_PIECES = [
    "You are a helpful assistant for {company}.",
    "Always respond in a professional tone.",
    "Make sure to greet the customer.",
    "Do not reveal internal notes.",
    "Keep your answers concise.",
    "Use `format_answer()` for the output.",
    "See https://docs.example.com/a?b=c&d=e for details.",
    'Return JSON like {"ok": true, "items": [1, 2]}.',
    "Fill in {{user_name}} and ${ENV_VAR}.",
    "Wrap the context in <context> and </context>.",
    "If you don't know the answer, say so.",
    "Be polite. This matters to us.",
    "Provide accurate information.",
    "Never share personal data.",
    "Escalate billing issues immediately.",
    "Ask for the order number if it is missing.",
    "Café naïve résumé — use {name} in Ünïcödé text.",
]
_BLOCKS = [
    "## Rules",
    "Rules:",
    "**Formatting**",
    "```python\nprint({'x': 1})  # do not change\n```",
    '~~~\nraw block with "quotes" and {braces}\n~~~',
    '{\n  "type": "object",\n  "required": ["a"]\n}',
]


def random_prompt(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 5)):
        kind = rng.random()
        if kind < 0.4:
            parts.append(" ".join(rng.sample(_PIECES, rng.randint(1, 4))))
        elif kind < 0.7:
            marker = rng.choice(["-", "*", "1."])
            items = rng.sample(_PIECES, rng.randint(2, 5))
            head = rng.choice(["Rules:", "## Steps", ""])
            lines = [f"{marker if marker != '1.' else str(i + 1) + '.'} {t}" for i, t in enumerate(items)]
            parts.append("\n".join(([head] if head else []) + lines))
        else:
            parts.append(rng.choice(_BLOCKS))
    return "\n\n".join(parts)


def assert_spans_identical(prompt, vs, extra=()):
    """Every protected span occurs byte for byte: a text protected k times occurs >= k times (it may
    also occur in unprotected text, which a variant may change)."""
    spans = ap.protected_spans(prompt, protect=list(extra) or None)
    times = {}
    for s in spans:
        times[s[3]] = times.get(s[3], 0) + 1
    assert spans == vs.protected
    for v in vs.variants:
        for text, k in times.items():
            assert v.count(text) >= k, (text, v)


def test_protected_spans_byte_identical_in_every_variant_property():
    rng = random.Random(7)
    prompts = EXAMPLES + [random_prompt(rng) for _ in range(120)]
    total = 0
    for p in prompts:
        for seed in (0, 1, 2):
            vs = ap.variations(p, n=6, seed=seed, min_distance=0.02)
            total += len(vs)
            assert_spans_identical(p, vs)
            assert all(v != p for v in vs.variants)
    assert total > 0.8 * len(prompts) * 3 * 6  # most prompts give all their variants


def test_caller_marked_spans_are_kept():
    p = "You are the ACME-42 helper. Make sure to respond politely. Keep answers concise. Never say TOP SECRET."
    marks = ["ACME-42 helper", re.compile(r"TOP \w+"), (0, 7)]
    vs = ap.variations(p, n=10, seed=3, protect=marks, min_distance=0.02)
    assert len(vs) >= 3
    spans = ap.protected_spans(p, protect=marks)
    assert {s[3] for s in spans} == {"You are", "ACME-42 helper", "TOP SECRET"}
    for v in vs.variants:
        for s in spans:
            assert s[3] in v
    with pytest.raises(ValueError, match="outside"):
        ap.variations(p, protect=[(5, 500)])
    with pytest.raises(TypeError):
        ap.variations(p, protect=[3.5])


def test_protected_span_offsets_are_characters():
    p = "Ünïcödé first, then {name} and `code`."
    spans = ap.protected_spans(p)
    assert [(s, e, k) for s, e, k, _ in spans] == [(20, 26, "placeholder"), (31, 37, "inline_code")]
    assert [p[s:e] for s, e, _, _ in spans] == ["{name}", "`code`"]


# --- determinism ----------------------------------------------------------------------------------


def test_variations_deterministic_across_seed_and_threads():
    p = EXAMPLES[0]
    airtune.set_num_threads(1)
    a = ap.variations(p, n=10, seed=5)
    d1 = ap.diversify([chat(x) for x in EXAMPLES[:8] for _ in range(5)], n_variants=4, seed=2, output="dicts")
    airtune.set_num_threads(2)
    b = ap.variations(p, n=10, seed=5)
    d2 = ap.diversify([chat(x) for x in EXAMPLES[:8] for _ in range(5)], n_variants=4, seed=2, output="dicts")
    assert a.variants == b.variants and a.transforms == b.transforms
    assert d1.records == d2.records
    assert ap.variations(p, n=10, seed=6).variants != a.variants


def test_min_distance_and_transform_names():
    vs = ap.variations(EXAMPLES[7], n=10, seed=0, min_distance=0.1)
    assert len(vs) >= 5
    assert all(d >= 0.1 for d in vs.min_distance)
    assert all(set(t) <= set(ap.TRANSFORMS) and t for t in vs.transforms)
    only = ap.variations(EXAMPLES[7], n=5, seed=0, transforms=["contractions"], min_distance=0.0)
    assert all(t == ["contractions"] for t in only.transforms)
    with pytest.raises(ValueError, match="unknown transform"):
        ap.variations("x", transforms=["nope"])


def test_bad_input():
    with pytest.raises(ValueError, match="empty"):
        ap.variations("")
    with pytest.raises(ValueError, match="empty"):
        ap.variations("   \n")
    with pytest.raises(ValueError, match="UTF-8"):
        ap.variations("bad \ud800 surrogate")
    with pytest.raises(TypeError):
        ap.variations(b"bytes")
    assert len(ap.variations("```\nonly code\n```", n=5)) == 0
    assert len(ap.variations('{"only": ["json"]}', n=5)) == 0
    big = " ".join(EXAMPLES) * 20
    assert len(big) > 100_000
    vs = ap.variations(big, n=2, seed=0, min_distance=0.0)
    assert len(vs) == 2
    assert_spans_identical(big, vs)


# --- system-prompt report -------------------------------------------------------------------------

A = "You are a helpful assistant for Acme. Answer briefly."
A2 = "You are a helpful assistant for Acme. Answer briefly!"
B = "You translate English to French."


def test_report_hand_computed():
    rows = [chat(A)] * 6 + [chat(B)] * 2 + [chat(A2)] + [chat(None)]
    r = ap.system_prompt_report(rows)
    assert (r.n_rows, r.n_with_system, r.distinct, r.near_groups) == (10, 9, 3, 2)
    assert r.top_share == pytest.approx(6 / 9)
    assert r.top_k_share[3] == pytest.approx(1.0)
    h = -(6 / 9 * math.log2(6 / 9) + 2 / 9 * math.log2(2 / 9) + 1 / 9 * math.log2(1 / 9))
    assert r.entropy_bits == pytest.approx(h)
    assert r.normalized_entropy == pytest.approx(h / math.log2(3))
    assert r.effective_prompts == pytest.approx(2**h)
    assert r.near_top_share == pytest.approx(7 / 9)
    assert r.risk == "medium"
    assert [g.rows for g in r.groups] == [6, 2, 1]
    assert r.groups[0].near_group == r.groups[2].near_group != r.groups[1].near_group
    assert r.near[0]["rows"] == 7 and r.near[0]["distinct"] == 2
    # the same from plain strings and from Records
    s = ap.system_prompt_report([A] * 6 + [B] * 2 + [A2, None])
    rec = ap.system_prompt_report(airtune.io.from_dicts(rows))
    for other in (s, rec):
        assert (other.distinct, other.top_share, other.entropy_bits, other.risk) == (
            r.distinct,
            r.top_share,
            r.entropy_bits,
            r.risk,
        )
    assert len(r.to_pandas()) == 3
    assert "risk" in r.summary_line().lower()


def test_report_risk_levels():
    assert ap.system_prompt_report([A] * 95 + [B] * 5).risk == "high"
    many = [
        f"You are assistant number {i} with a distinct persona: {w}."
        for i, w in enumerate(["pirate", "poet", "lawyer", "chef", "pilot", "nurse", "coach", "judge"])
    ]
    low = ap.system_prompt_report(many * 3)
    assert low.risk == "low" and low.distinct == 8
    assert low.entropy_bits == pytest.approx(3.0)
    none = ap.system_prompt_report([chat(None)] * 4)
    assert none.risk == "none" and none.n_with_system == 0


def test_report_scaffolds():
    rows = [chat(A, user=f"Classify the sentiment of this review: {t}") for t in ("good", "bad", "meh", "ok")]
    rows += [
        chat(A, user=f"{q} Answer with one word only.") for q in ("Capital of Peru?", "2+2?", "Color of sky?")
    ]
    rows += [chat(A, user="something unrelated entirely")]
    r = ap.system_prompt_report(rows, scaffold_min_rows=3)
    kinds = {(s["kind"], s["text"], s["rows"]) for s in r.scaffolds}
    assert ("prefix", "Classify the sentiment of this review: ", 4) in kinds
    assert ("suffix", "? Answer with one word only.", 3) in kinds  # all three questions end in "?"
    assert r.risk == "high"


# --- diversify ------------------------------------------------------------------------------------


def test_diversify_accounts_for_every_row_and_is_even():
    rows = [chat(EXAMPLES[0], user=f"q{i}", id=f"a{i}") for i in range(37)]
    rows += [chat(EXAMPLES[12], user=f"c{i}", id=f"b{i}") for i in range(11)]
    rows += [chat(None, user=f"n{i}", id=f"n{i}") for i in range(4)]
    res = ap.diversify(rows, n_variants=5, seed=1)
    assert isinstance(res.records, list)
    assert res.balanced and res.n_rows == 52 and res.n_no_system == 4
    assert res.n_varied + res.n_original == 48
    for prompt, counts in res.usage.items():
        assert sum(counts) == (37 if prompt == EXAMPLES[0] else 11)
        assert max(counts) - min(counts) <= 1
    for i, (before, after) in enumerate(zip(rows, res.records)):
        k = res.variant_of_row[i]
        sys_after = [m["content"] for m in after["messages"] if m["role"] == "system"]
        if k == -1:
            assert sys_after == []
        elif k == 0:
            assert sys_after == [before["messages"][0]["content"]]
        else:
            assert sys_after[0] == res.variants[before["messages"][0]["content"]][k - 1]
        assert [m for m in after["messages"] if m["role"] != "system"] == [
            m for m in before["messages"] if m["role"] != "system"
        ]
        assert after["id"] == before["id"]
    recs = ap.diversify(airtune.io.from_dicts(rows), n_variants=3, seed=0).records
    assert isinstance(recs, airtune.io.Records) and len(recs) == 52
    r2 = ap.system_prompt_report(res.records)
    assert r2.distinct > ap.system_prompt_report(rows).distinct


# --- paraphraser ----------------------------------------------------------------------------------


def test_paraphraser_filtering():
    p = "You are a support assistant for {company}. Keep your answers short and polite. Never share passwords."

    def para(prompt, k):
        return [
            "You are a support assistant for {company}. Keep replies short and courteous. Never share passwords.",
            "You are a support assistant for {firm}. Keep answers short. Never share passwords.",  # span lost
            p,  # duplicate
            "Bananas are yellow and grow in bunches on tall plants in the tropics {company}.",  # low fidelity
            "",
        ][:k]

    r = ap.paraphrase(p, para, 5, min_fidelity=0.6)
    assert r.accepted == [para(p, 1)[0]]
    reasons = [why for _, why in r.rejected]
    assert any("protected span" in x for x in reasons)
    assert any("duplicate" in x for x in reasons)
    assert any("fidelity" in x for x in reasons)
    assert any("empty" in x for x in reasons)
    vs = ap.variations(p, n=3, seed=0, paraphraser=para, n_paraphrases=5, min_fidelity=0.6)
    assert vs.sources.count("paraphraser") == 1 and vs.variants[-1] == para(p, 1)[0]


# --- measurement ----------------------------------------------------------------------------------


def test_bleu_parity_with_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    rng = random.Random(3)
    texts = [v for p in EXAMPLES[:6] for v in ap.variations(p, n=4, seed=1).variants]
    texts += ["The cat sat on the mat.", "A dog, 3.5 kg, ran-away (fast)!", "It's 10-20 items; e.g. x/y."]
    for i, hyp in enumerate(texts):
        refs = rng.sample([t for j, t in enumerate(texts) if j != i], 3)
        ours = ap.sentence_bleu(hyp, refs)
        theirs = sacrebleu.sentence_bleu(hyp, refs).score / 100
        assert ours == pytest.approx(theirs, abs=1e-9), hyp
    group = texts[:8]
    expected = np.mean(
        [sacrebleu.sentence_bleu(h, group[:i] + group[i + 1 :]).score / 100 for i, h in enumerate(group)]
    )
    assert ap.self_bleu(group) == pytest.approx(expected, abs=1e-9)


def test_distinct_n_and_fidelity():
    assert ap.distinct_n(["a b a", "A b"], 1) == pytest.approx(2 / 5)
    assert ap.distinct_n(["a b a", "A b"], 2) == pytest.approx(2 / 3)
    f = ap.fidelity("Keep answers short.", ["Keep answers short.", "Bananas grow in bunches."])
    assert f[0] == pytest.approx(1.0, abs=1e-5) and f[1] < 0.5
    d = ap.variations(EXAMPLES[0], n=6, seed=0).diversity()
    assert 0 < d["self_bleu"] < 1 and 0 < d["fidelity_min"] <= d["fidelity_mean"] <= 1


def test_robustness_spread():
    rows = [chat(A, user=f"q{i}", assistant=f"a{i}") for i in range(5)]

    def brittle(messages):
        ok = messages[0]["content"] == A
        return f"a{messages[-1]['content'][1:]}" if ok else "?"

    def robust(messages):
        return f"a{messages[-1]['content'][1:]}"

    r = ap.robustness(brittle, rows, n_variants=3, show_progress=False)
    assert r.scores[0] == 1.0 and all(s == 0.0 for s in r.scores[1:])
    assert r.spread == 1.0 and r.n_rows == 5 and len(r.labels) == 4
    r2 = ap.robustness(robust, rows, n_variants=3)
    assert r2.spread == 0.0 and r2.original == 1.0


# --- gaps -----------------------------------------------------------------------------------------


def test_gaps_labels_hand_computed():
    labels = ["billing"] * 6 + ["tech"] * 3 + ["account"] * 1
    texts = [f"text {i}" for i in range(10)]
    g = ap.gaps(
        texts, labels=labels, target_mix={"billing": 0.45, "tech": 0.3, "account": 0.15, "legal": 0.1}
    )
    assert g.method == "labels"
    df = g.to_pandas().set_index("category")
    assert df.loc["billing", "train_share"] == pytest.approx(0.6)
    assert df.loc["account", "ratio"] == pytest.approx(0.1 / 0.15)
    assert df.loc["legal", "train_rows"] == 0
    assert df.loc["legal", "deficit"] == 1 and df.loc["tech", "deficit"] == 0
    assert g.under == ["legal"]  # ratio 0; account's 0.67 is not < 0.5
    assert g.coverage["reference_covered"] == pytest.approx(0.9)
    assert g.coverage["reference_balanced"] == pytest.approx(0.9)
    g2 = ap.gaps(texts, labels=labels, reference_labels=["account"] * 5 + ["billing"] * 5)
    assert g2.under == ["account"] and g2.examples["account"] == ["text 9"]
    with pytest.raises(ValueError, match="labels has"):
        ap.gaps(texts, labels=labels[:3])


def _blobs(rng, centers, per, spread=0.05):
    return np.vstack([c + spread * rng.standard_normal((per, len(c))) for c in centers]).astype(np.float32)


def test_kmeans_matches_sklearn():
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(0)
    centers = rng.standard_normal((5, 16)) * 3
    x = _blobs(rng, centers, 40)
    ours = airtune._core.prompts.kmeans(x, 5, 25, 1, 10)
    ref = sklearn_cluster.KMeans(5, n_init=10, random_state=0).fit(x)
    assert adjusted_rand_score(ref.labels_, ours.assign) == pytest.approx(1.0)
    assert ours.inertia == pytest.approx(ref.inertia_, rel=1e-3)
    airtune.set_num_threads(1)
    a1 = airtune._core.prompts.kmeans(x, 5, 25, 1, 3)
    airtune.set_num_threads(2)
    a2 = airtune._core.prompts.kmeans(x, 5, 25, 1, 3)
    assert np.array_equal(a1.assign, a2.assign)
    assert np.array_equal(a1.centroids, a2.centroids)


def test_gaps_kmeans_finds_reference_only_cluster_and_fill():
    rng = np.random.default_rng(1)
    centers = np.eye(8, dtype=np.float32)[:4] * 5
    train = _blobs(rng, centers[:3], 30)
    ref = _blobs(rng, centers, 20)
    tt = [f"train {i}" for i in range(len(train))]
    rt = [f"ref {i}" for i in range(len(ref))]
    g = ap.gaps(tt, rt, embeddings=train, reference_embeddings=ref, k=4, seed=0)
    assert g.method == "kmeans" and len(g.under) == 1
    missing = g.under[0]
    assert g.train_counts[missing] == 0
    assert g.coverage["reference_covered"] == pytest.approx(0.75)
    assert all(t.startswith("ref ") for t in g.examples[missing])
    assert all(t.startswith("train ") for c in g.categories if c != missing for t in g.examples[c])
    df = g.to_pandas()
    assert df["train_rows"].sum() == len(train)


def test_fill_gaps_validates():
    base = [
        "How do I reset my password?",
        "How do I change my password?",
        "Where is my invoice for March?",
        "Why was I charged twice on my invoice?",
        "The app crashes when I open settings.",
        "The app freezes on the login screen.",
    ]
    labels = ["account", "account", "billing", "billing", "tech", "tech"]
    g = ap.gaps(base, labels=labels, target_mix={"account": 1, "billing": 1, "tech": 1, "legal": 3})
    assert g.under == ["legal"]

    def gen(examples, n, cat):
        return [
            "Can I get a copy of the contract terms?",
            "How do I reset my password?",
            "",
            "Is the GDPR data processing agreement available?",
            17,
        ][: n + 3]

    f = ap.fill_gaps(g, gen, n_per_gap=2, validate=lambda s: s.endswith("?"))
    assert f.texts == [
        "Can I get a copy of the contract terms?",
        "Is the GDPR data processing agreement available?",
    ]
    reasons = [r["reason"] for r in f.rejected]
    assert any(r.startswith("duplicate") for r in reasons)
    assert reasons.count("empty or not a string") == 2


def test_report_inputs_and_thread_independence():
    pd = pytest.importorskip("pandas")
    rng = random.Random(0)
    prompts = [rng.choice(EXAMPLES[:12]) + rng.choice(["", " Thanks.", "  "]) for _ in range(400)]
    airtune.set_num_threads(1)
    a = ap.system_prompt_report(prompts)
    airtune.set_num_threads(2)
    b = ap.system_prompt_report(pd.Series(prompts))
    c = ap.system_prompt_report(np.array(prompts, dtype=object))
    for other in (b, c):
        assert [(g.text, g.rows, g.near_group) for g in other.groups] == [
            (g.text, g.rows, g.near_group) for g in a.groups
        ]
    assert a.distinct == len(set(prompts)) and a.near_groups == 12
    with pytest.raises(ValueError):
        ap.system_prompt_report(["ok", "bad \ud800"])


def test_plots_draw():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = ap.system_prompt_report([A] * 5 + [B] * 2)
    assert r.plot() is not None
    g = ap.gaps(["a b", "c d", "e f"], labels=["x", "y", "x"])
    assert g.plot() is not None
    rows = [chat(A, user="q", assistant="a")]
    rb = ap.robustness(lambda m: "a", rows, n_variants=2, show_progress=False)
    assert rb.plot() is not None
    plt.close("all")
