"""Llama-family decoder and generation against transformers on tiny random models built here."""

from __future__ import annotations

import json
import sys

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("airtune._nn")

import airtune.nn as ann  # noqa: E402
from tiny_models import VOCAB, tiny_causal_lm, write_tokenizer  # noqa: E402

FP32_TOL = 1e-4  # max |our logits - transformers'| in fp32 (observed ~1e-6)


def _build(tmp_path, kind: str, seed: int = 0, **overrides):
    folder = tmp_path / f"{kind}-{seed}"
    return tiny_causal_lm(folder, kind, seed, **overrides), folder


CASES = {
    "llama": ("llama", {}),
    "llama-gqa-tied": ("llama", {"tie_word_embeddings": True, "num_key_value_heads": 1}),
    "llama-bias": ("llama", {"attention_bias": True, "mlp_bias": True}),
    "llama3.1-rope": (
        "llama",
        {
            "rope_scaling": {
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            },
            "rope_theta": 500000.0,
        },
    ),
    "llama-linear-rope": ("llama", {"rope_scaling": {"rope_type": "linear", "factor": 4.0}}),
    "mistral-sliding": ("mistral", {"sliding_window": 6}),
    "qwen2-bias": ("qwen2", {"tie_word_embeddings": True}),
    "gemma": ("gemma", {}),
    "gemma2-softcap-sliding": ("gemma2", {}),
    "gemma3-qknorm-local-rope": ("gemma3_text", {}),
    "phi3-partial-rotary": ("phi3", {}),
    "phi3-sliding": ("phi3", {"sliding_window": 6}),
}


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (3, 19), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :5] = 0  # left padding
    mask[2, :11] = 0
    return ids, mask


@pytest.mark.parametrize("case", sorted(CASES))
def test_logits_match_transformers_fp32(tmp_path, case):
    kind, overrides = CASES[case]
    ref_model, folder = _build(tmp_path, kind, **overrides)
    ids, mask = _batch()
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ref = ref_model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
    ours = ann.load_model(folder, dtype="float32", device="cpu")
    got = ours.logits(ids, mask)
    assert got.dtype == torch.float32 and got.shape == ref.shape
    real = mask.bool()
    assert ref[real].abs().max() > 0.5  # a meaningful comparison, not two near-zero outputs
    assert (got - ref)[real].abs().max().item() <= FP32_TOL
    # numpy in, unpadded row equals its left-padded version
    solo = ours.logits(ids[2, 11:].numpy())
    assert torch.allclose(solo[0], got[2, 11:], atol=1e-5)


def test_v4_config_keys(tmp_path):
    ref_model, folder = _build(
        tmp_path,
        "llama",
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16,
        },
        rope_theta=500000.0,
    )
    cfg = json.loads((folder / "config.json").read_text())
    rope = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rope.pop("rope_theta")
    cfg["rope_scaling"] = {"type": rope.pop("rope_type"), **rope}  # oldest spelling: "type"
    (folder / "config.json").write_text(json.dumps(cfg))
    ids, mask = _batch(1)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ref = ref_model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
    got = ann.load_model(folder, dtype="float32", device="cpu").logits(ids, mask)
    assert (got - ref)[mask.bool()].abs().max().item() <= FP32_TOL


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_close_to_fp32(tmp_path, dtype):
    _, folder = _build(tmp_path, "mistral", sliding_window=6)
    ids, mask = _batch()
    f32 = ann.load_model(folder, dtype="float32", device="cpu").logits(ids, mask)
    half = ann.load_model(folder, dtype=dtype, device="cpu").logits(ids, mask)
    assert half.dtype == getattr(torch, dtype)
    real = mask.bool()
    err = (half.float() - f32)[real].abs().max().item()
    assert err < 0.1 * f32[real].abs().max().item()


def test_sharded_checkpoint(tmp_path):
    ref_model, _ = _build(tmp_path, "llama")
    folder = tmp_path / "sharded"
    ref_model.save_pretrained(folder, safe_serialization=True, max_shard_size="20KB")
    assert (folder / "model.safetensors.index.json").is_file()
    ids, mask = _batch()
    with torch.no_grad():
        ref = ref_model(
            input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)
        ).logits
    got = ann.load_model(folder, dtype="float32", device="cpu").logits(ids, mask)
    assert (got - ref)[mask.bool()].abs().max().item() <= FP32_TOL
    shard = sorted(folder.glob("model-*.safetensors"))[-1]
    shard.unlink()
    with pytest.raises(OSError, match=shard.name):
        ann.load_model(folder, device="cpu")


@pytest.mark.parametrize("case", ["llama", "mistral-sliding", "qwen2-bias"])
def test_greedy_generation_equals_transformers(tmp_path, case):
    kind, overrides = CASES[case]
    ref_model, folder = _build(tmp_path, kind, seed=3, **overrides)
    ids, mask = _batch(2)
    ours = ann.load_model(folder, dtype="float32", device="cpu")
    # Pick an EOS that row 0 produces, so stopping is exercised too.
    with torch.no_grad():
        free = ref_model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=12,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
        )
    eos = int(free[0, ids.shape[1] + 4])
    with torch.no_grad():
        ref = ref_model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=12,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=0,
        )[:, ids.shape[1] :].tolist()
    ours.eos_token_ids = [eos]
    rows = [ids[i][mask[i].bool()].tolist() for i in range(ids.shape[0])]
    res = ours.generate(rows, max_new_tokens=12)
    for i, row in enumerate(res.token_ids):
        expected = ref[i]
        if eos in expected:
            expected = expected[: expected.index(eos) + 1]
            assert res.finish_reasons[i] == "eos"
        else:
            assert res.finish_reasons[i] == "length"
        assert row == expected, i
    assert res.finish_reasons[0] == "eos"


def test_sampling_seeded_and_warpers(tmp_path):
    _, folder = _build(tmp_path, "llama", seed=5)
    model = ann.load_model(folder, device="cpu")
    prompts = [[1, 5, 9, 33], [1, 77]]
    a = model.generate(prompts, max_new_tokens=10, temperature=0.8, top_p=0.9, seed=11)
    b = model.generate(prompts, max_new_tokens=10, temperature=0.8, top_p=0.9, seed=11)
    c = model.generate(prompts, max_new_tokens=10, temperature=1.5, seed=12)
    assert a.token_ids == b.token_ids
    assert a.token_ids != c.token_ids
    greedy = model.generate(prompts, max_new_tokens=10)
    topk1 = model.generate(prompts, max_new_tokens=10, temperature=2.0, top_k=1, seed=3)
    assert topk1.token_ids == greedy.token_ids
    # Sampled tokens come from the top-k set of the step's distribution.
    first = model.logits(torch.tensor([prompts[0]]))[0, -1]
    allowed = set(torch.topk(first, 5).indices.tolist())
    for seed in range(10):
        r = model.generate([prompts[0]], max_new_tokens=1, temperature=1.0, top_k=5, seed=seed)
        assert r.token_ids[0][0] in allowed


def test_chat_template_and_text_prompts(tmp_path):
    ref_model, folder = _build(tmp_path, "llama", seed=7)
    write_tokenizer(folder)
    hf_tok = transformers.AutoTokenizer.from_pretrained(folder)
    messages = [
        {"role": "system", "content": "  be brief  "},
        {"role": "user", "content": 'héllo, {"json"} 🙂'},
    ]
    model = ann.load_model(folder, device="cpu")
    ours = model.tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    ref = hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert ours == ref
    ids = model._prompt_ids([messages])[0]
    assert ids == hf_tok(ref, add_special_tokens=False)["input_ids"]
    assert ids.count(1) == 1  # BOS once: from the template, not added again
    with pytest.raises(Exception, match="unknown role"):
        model.tokenizer.apply_chat_template([{"role": "robot", "content": "x"}])
    with pytest.raises(Exception):  # noqa: B017 - the sandbox blocks attribute access to internals
        ann.render_chat_template("{{ messages.__class__.__mro__ }}", [])
    # Text prompts: tokenized with BOS, generation equals transformers greedy on the same ids.
    texts = ["hello world", "the quick brown fox jumps"]
    res = model.generate(texts, max_new_tokens=6)
    enc = hf_tok(texts, add_special_tokens=True)["input_ids"]
    for i, row in enumerate(enc):
        with torch.no_grad():
            ref_ids = ref_model.generate(
                input_ids=torch.tensor([row]),
                max_new_tokens=6,
                do_sample=False,
                eos_token_id=2,
                pad_token_id=0,
            )[0, len(row) :].tolist()
        if 2 in ref_ids:
            ref_ids = ref_ids[: ref_ids.index(2) + 1]
        assert res.token_ids[i] == ref_ids
        assert res.texts[i] == hf_tok.decode(ref_ids, skip_special_tokens=True)
    frame = res.to_pandas()
    assert list(frame["new_tokens"]) == [len(t) for t in res.token_ids]


def test_stop_strings(tmp_path):
    _, folder = _build(tmp_path, "llama", seed=7)
    write_tokenizer(folder)
    model = ann.load_model(folder, device="cpu")
    free = model.generate(["hello world"], max_new_tokens=12)
    text = model.tokenizer.decode(free.token_ids[0], skip_special_tokens=False)
    if len(text) < 4 or free.finish_reasons[0] != "length":
        pytest.skip("random model produced too little text for a stop-string check")
    stop = text[2:4]
    res = model.generate(["hello world"], max_new_tokens=12, stop=[stop, "never-produced-xyz"])
    assert res.finish_reasons[0] == "stop"
    assert stop not in res.texts[0]
    assert text.startswith(res.texts[0])
    assert len(res.token_ids[0]) < len(free.token_ids[0])


def test_bad_input_errors(tmp_path):
    _, folder = _build(tmp_path, "llama")
    model = ann.load_model(folder, device="cpu")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.logits([[1, VOCAB + 5]])
    with pytest.raises(ValueError, match="context"):
        model.generate([list(range(3, 3 + 130))], max_new_tokens=1)
    with pytest.raises(ValueError, match="temperature"):
        model.generate([[1, 2]], do_sample=True, temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        model.generate([[1, 2]], temperature=1.0, top_p=0.0)
    with pytest.raises(ValueError, match="dtype"):
        ann.load_model(folder, dtype="int8", device="cpu")
    with pytest.raises(ValueError, match="device"):
        ann.load_model(folder, device="tpu")
    with pytest.raises(ValueError, match="no tokenizer"):
        model.generate(["text prompt"])

    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "model_type": "gpt_neox"}))
    with pytest.raises(ValueError, match="model_type"):
        ann.load_model(folder, device="cpu")
    (folder / "config.json").write_text(
        json.dumps({**cfg, "rope_parameters": {"rope_type": "yarn", "factor": 2.0}})
    )
    with pytest.raises(ValueError, match="rope_parameters.rope_type"):
        ann.load_model(folder, device="cpu")
    (folder / "config.json").write_text(json.dumps({**cfg, "hidden_size": 64}))
    with pytest.raises(ValueError, match="model.embed_tokens.weight"):
        ann.load_model(folder, device="cpu")
    (folder / "config.json").write_text(json.dumps(cfg))
    from safetensors.torch import load_file, save_file

    weights = load_file(str(folder / "model.safetensors"))
    weights["model.layers.1.mlp.up_proj.weight"] = weights["model.layers.1.mlp.up_proj.weight"].to(
        torch.int32
    )
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"model.layers.1.mlp.up_proj.weight' has dtype Int"):
        ann.load_model(folder, device="cpu")
    del weights["model.layers.1.mlp.up_proj.weight"]
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="model.layers.1.mlp.up_proj.weight"):
        ann.load_model(folder, device="cpu")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ValueError, match="pickle"):
        ann.load_model(folder, device="cpu")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cpu_attention_kernel_against_transformers_and_sdpa(tmp_path, dtype):
    """The decoder's CPU attention (nn/causal_attention.h: unpadded prompts and training rows):
    logits against transformers with the kernel on and off, its gradients against torch's
    scaled_dot_product_attention, and bad inputs refused with a message."""
    from airtune.nn._lib import native

    nn = native()
    dt = getattr(torch, dtype)
    q = torch.randn(2, 70, 4, 16).to(dt).transpose(1, 2).requires_grad_()
    k = torch.randn(2, 70, 2, 16).to(dt).transpose(1, 2).requires_grad_()
    v = torch.randn(2, 70, 2, 16).to(dt).transpose(1, 2).requires_grad_()
    if not nn.causal_attention_applies(q, k, v):
        pytest.skip("no brgemm kernel for this dtype on this CPU")
    ref_model, folder = _build(tmp_path, "llama", num_key_value_heads=1)
    ids = torch.randint(3, VOCAB, (2, 23), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = ref_model(input_ids=ids).logits
    model = ann.load_model(folder, dtype=dtype, device="cpu")
    on = model.logits(ids).float()
    before = nn.set_causal_attention_enabled(False)
    try:
        off = model.logits(ids).float()
    finally:
        nn.set_causal_attention_enabled(before)
    tol = FP32_TOL if dtype == "float32" else 0.05 * ref.abs().max().item()
    assert (on - ref).abs().max().item() <= tol
    assert (off - ref).abs().max().item() <= tol

    g = torch.randn(2, 4, 70, 16).to(dt)
    ours = nn.causal_attention(q, k, v, 0.25)
    ours.backward(g)
    mine = [ours.detach(), q.grad, k.grad, v.grad]
    q.grad = k.grad = v.grad = None
    theirs = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, is_causal=True, scale=0.25, enable_gqa=True
    )
    theirs.backward(g)
    tol = 2e-5 if dtype == "float32" else 3e-2
    for a, b in zip(mine, [theirs.detach(), q.grad, k.grad, v.grad], strict=True):
        assert a.shape == b.shape
        assert (a.float() - b.float()).abs().max().item() <= tol * max(1.0, b.float().abs().max().item())
    with pytest.raises(ValueError, match="causal_attention"):
        nn.causal_attention(q, k[:, :, :69], v[:, :, :69], 0.25)


def test_import_airtune_does_not_import_torch():
    import subprocess

    code = "import sys, airtune, airtune.nn; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
