"""The demo's model recipe: a small Llama built in place, pretrained, LoRA-tuned, scored on a holdout.

The base model is checked against transformers (same logits through airtune's runtime), its cache
and its determinism; the recipe end to end (generate -> quick_splits, a stand-in for the curation
pipeline -> build_base -> finetune -> score_holdout) must give a fine-tuned model that beats the untuned one
on holdout rows it never saw. The fast variant uses tiny sizes; the slow one the demo's defaults.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
pytest.importorskip("airtune._nn")

from airtune.demo import DemoSizes, generate  # noqa: E402
from airtune.demo.model import BaseRecipe, build_base  # noqa: E402
from airtune.demo.recipe import (  # noqa: E402
    FinetuneRecipe,
    _finetune_key,
    finetune,
    quick_splits,
    score_holdout,
)
from airtune.nn import Tokenizer, load_model  # noqa: E402

TINY_BASE = BaseRecipe(
    vocab_size=400,
    hidden_size=32,
    intermediate_size=64,
    num_layers=2,
    num_heads=2,
    num_kv_heads=1,
    max_position_embeddings=320,
    steps=30,
    seq=48,
    batch_size=8,
    learning_rate=1e-2,
    eval_rows=8,
)


def norm(text):
    return re.sub(r"\W+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate(
        tmp_path_factory.mktemp("data"),
        seed=3,
        sizes=DemoSizes(rows=600, production_rows=100, corpus_rows=400),
        show_progress=False,
    )


def test_base_model_layout_logits_cache_determinism(tmp_path, corpus):
    base = build_base(tmp_path, corpus.corpus, TINY_BASE, show_progress=False)
    assert not base.cached and base.num_parameters > 0
    folder = tmp_path / f"base-{base.key[:12]}"
    assert base.path == str(folder)
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "base_recipe.json",
    ):
        assert (folder / name).is_file(), name
    assert not list(tmp_path.glob(".base-*")), "no temporary folder left behind"
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["model_type"] == "llama" and cfg["tie_word_embeddings"] is True
    assert cfg["hidden_size"] == 32 and cfg["num_hidden_layers"] == 2

    # pretraining learned something: the held-out corpus loss fell well below the random model's
    assert base.eval_loss < base.initial_eval_loss - 1.0
    assert len(base.loss) == TINY_BASE.steps

    # the chat template renders a conversation whose role markers are single special tokens
    tok = Tokenizer(folder)
    msgs = [{"role": "system", "content": "Classify."}, {"role": "user", "content": "a red dress"}]
    text = tok.apply_chat_template(msgs, add_generation_prompt=True)
    assert text.endswith("<|assistant|>\n")
    ids = tok.encode_batch([text], add_special_tokens=False)[0]
    assert ids[0] == tok.bos_token_id and tok.token_to_id("<|assistant|>") in ids

    # airtune's runtime reads the folder as transformers does (same logits)
    hf = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    x = torch.tensor([ids])
    ours = load_model(folder, dtype="float32", device="cpu").logits(x)
    with torch.no_grad():
        ref = hf(input_ids=x).logits
    assert torch.allclose(ours.float(), ref, atol=1e-4)

    # a second call reuses the cached model; a forced rebuild gives the same bytes
    again = build_base(tmp_path, corpus.corpus, TINY_BASE, show_progress=False)
    assert again.cached and again.path == base.path and again.eval_loss == base.eval_loss
    weights = (folder / "model.safetensors").read_bytes()
    rebuilt = build_base(tmp_path, corpus.corpus, TINY_BASE, show_progress=False, force=True)
    assert not rebuilt.cached and (folder / "model.safetensors").read_bytes() == weights
    # another recipe is another cache entry
    other = build_base(
        tmp_path, corpus.corpus, BaseRecipe(**{**TINY_BASE.__dict__, "steps": 5}), show_progress=False
    )
    assert other.path != base.path


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such corpus"):
        build_base(tmp_path, tmp_path / "missing.txt", TINY_BASE, show_progress=False)
    with pytest.raises(ValueError, match="num_heads"):
        build_base(tmp_path, tmp_path / "missing.txt", BaseRecipe(hidden_size=30), show_progress=False)
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ValueError, match="empty"):
        build_base(tmp_path, tmp_path / "empty.txt", TINY_BASE, show_progress=False)
    assert not list(tmp_path.glob(".base-*")) and not list(tmp_path.glob("base-*"))


def _pipeline(tmp_path, data, base_recipe, ft_recipe):
    train, test = quick_splits(data.traffic)
    # the holdout never reaches the fine-tune: no shared request, no shared (normalised) text
    assert {r["metadata"]["request_id"] for r in train}.isdisjoint(r["metadata"]["request_id"] for r in test)
    assert {norm(r["text"]) for r in train}.isdisjoint(norm(r["text"]) for r in test)
    base = build_base(tmp_path / "bases", data.corpus, base_recipe, show_progress=False)
    ft = finetune(base.path, train, tmp_path / "adapter", ft_recipe, show_progress=False, num_threads=1)
    assert ft.train.train_report.kept == len(train)
    scores = score_holdout(
        test,
        base.path,
        ft.merged_path,
        show_progress=False,
        num_threads=1,
        max_new_tokens=ft_recipe.max_new_tokens,
    )
    gold = [r["metadata"]["gold_label"] for r in test if r["metadata"]["gold_label"]]
    assert scores.gold == gold and all(s.n == len(gold) for s in scores.scores)
    # the baseline is the logged answers, scored like the models
    logged = [r["messages"][2]["content"] for r in test if r["metadata"]["gold_label"]]
    assert scores["baseline"].accuracy == pytest.approx(sum(a == g for a, g in zip(logged, gold)) / len(gold))
    return train, test, base, ft, scores


def test_pipeline_fast_finetuned_beats_untuned(tmp_path, corpus):
    """Tiny sizes (~40 s on one core): the fine-tune learns the answer format, the label prior
    and some of the mapping; the untuned base answers no taxonomy path."""
    base_recipe = BaseRecipe(
        vocab_size=1024,
        hidden_size=64,
        intermediate_size=128,
        num_layers=2,
        num_heads=4,
        num_kv_heads=2,
        max_position_embeddings=320,
        steps=200,
        seq=64,
        batch_size=16,
        learning_rate=1e-2,
        eval_rows=8,
    )
    ft_recipe = FinetuneRecipe(r=16, lora_alpha=32, epochs=10, learning_rate=5e-3, max_new_tokens=32)
    train, _, base, ft, s = _pipeline(tmp_path, corpus, base_recipe, ft_recipe)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert not ft.cached and (tmp_path / "adapter" / "finetune_cache.json").is_file()
    # a second run reuses the adapter: same base, rows and recipe
    again = finetune(base.path, train, tmp_path / "adapter", ft_recipe, show_progress=False)
    assert again.cached and again.key == ft.key and again.merged_path == ft.merged_path
    assert again.train.history == ft.train.history and again.train.train_report == ft.train.train_report
    # other rows or another recipe are another adapter
    assert _finetune_key(Path(base.path), train[1:], None, ft_recipe) != ft.key
    other = FinetuneRecipe(**{**ft_recipe.__dict__, "epochs": 1})
    assert _finetune_key(Path(base.path), train, None, other) != ft.key
    untuned, tuned = s["untuned"], s["fine-tuned"]
    assert untuned.invalid_rate > 0.8 and tuned.invalid_rate < 0.1, s.table()
    assert tuned.hierarchical_f1 > untuned.hierarchical_f1 + 0.15, s.table()
    assert tuned.accuracy > untuned.accuracy, s.table()


@pytest.mark.slow
def test_pipeline_demo_sizes_finetuned_learns_the_task(tmp_path, request):
    """The demo's defaults: a real improvement on a holdout of ~200 rows (~4 CPU minutes)."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the demo's full recipe takes minutes: run with -m slow")
    data = generate(tmp_path / "data", seed=0, show_progress=False)
    ft_recipe = FinetuneRecipe()
    train, test, base, ft, s = _pipeline(tmp_path, data, BaseRecipe(), ft_recipe)
    print("\n" + s.table())
    assert len(test) >= 150
    untuned, tuned, baseline = s["untuned"], s["fine-tuned"], s["baseline"]
    assert tuned.accuracy >= 0.6 and tuned.accuracy > untuned.accuracy + 0.5, s.table()
    assert tuned.hierarchical_f1 > untuned.hierarchical_f1 + 0.4, s.table()
    assert 0.8 <= baseline.accuracy <= 0.95
