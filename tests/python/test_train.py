"""LoRA trainer against PEFT + transformers on tiny random Llama models built here (CPU, fp32)."""

from __future__ import annotations

import json
import logging
import math
import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
pytest.importorskip("airtune._nn")

from airtune.train import (  # noqa: E402
    LoraConfig,
    TrainingDivergedError,
    load_adapter,
    train_lora,
)
from airtune.train.data import IGNORE, Tokenization, build_examples  # noqa: E402
from tiny_models import VOCAB, tiny_causal_lm, write_tokenizer  # noqa: E402

TOL = 1e-4


WORDS = "the quick brown fox jumps over the lazy dog hello world how are you today numbers 123 456".split()


def _make_base(folder, seed: int = 0, kind: str = "llama", **overrides):
    model = tiny_causal_lm(folder, kind, seed, weight_scale=0.1, norm_scale=0.1, **overrides)
    write_tokenizer(folder)
    return model


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("base")
    _make_base(folder)
    return folder


def _rows(n: int, seed: int = 0, chat: bool = False) -> list[dict]:
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
        r = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 10)))
        if chat:
            msgs = [{"role": "user", "content": p}, {"role": "assistant", "content": r}]
            if rng.random() < 0.5:
                msgs += [{"role": "user", "content": r}, {"role": "assistant", "content": p}]
            out.append({"messages": msgs})
        else:
            out.append({"prompt": p, "completion": r})
    return out


def _hf(folder, dtype=torch.float32):
    return transformers.AutoModelForCausalLM.from_pretrained(folder, torch_dtype=dtype).eval()


def _peft_load(base_folder, adapter_dir, dtype=torch.float32, **kw):
    """PeftModel.from_pretrained; fails on any missing/unexpected-key warning."""
    records: list[str] = []

    class _H(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = _H()
    logging.getLogger("peft").addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = peft.PeftModel.from_pretrained(_hf(base_folder, dtype), str(adapter_dir), **kw)
    finally:
        logging.getLogger("peft").removeHandler(handler)
    msgs = records + [str(w.message) for w in caught]
    bad = [m for m in msgs if "missing" in m.lower() or "unexpected" in m.lower()]
    assert not bad, bad
    return model


def _batch(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (3, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    mask[2, 5:] = 0
    return ids, mask


def _masked_max_diff(a, b, mask):
    return (a - b).abs()[mask.bool()].max().item()


# ---------------------------------------------------------------------------------------- adapters


@pytest.mark.parametrize(
    "targets,expected",
    [
        (["q_proj", "v_proj"], {"q_proj", "v_proj"}),
        ("all-linear", {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}),
        (r".*\.layers\.1\.mlp\.(gate|up)_proj", {"gate_proj", "up_proj"}),
        (["self_attn.k_proj", "down_proj"], {"k_proj", "down_proj"}),
    ],
)
def test_targets_and_init_match_peft(base, targets, expected):
    from airtune.train import AdapterModel

    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=targets, seed=3)
    ours = AdapterModel(base, cfg, "float32", "cpu")
    ref = peft.get_peft_model(
        _hf(base), peft.LoraConfig(r=4, lora_alpha=8, target_modules=targets, task_type="CAUSAL_LM")
    )
    ref_modules = {
        n[: -len(".lora_A")] for n, _ in ref.base_model.model.named_modules() if n.endswith(".lora_A")
    }
    assert set(ours.modules) == ref_modules
    assert {m.rsplit(".", 1)[1] for m in ours.modules} == expected
    sd = ours.state_dict()
    ref_sd = peft.get_peft_model_state_dict(ref)
    assert set(sd) == set(ref_sd)
    for k, v in sd.items():
        assert v.dtype == torch.float32 and v.shape == ref_sd[k].shape
        if ".lora_B." in k:
            assert torch.count_nonzero(v) == 0
        else:  # kaiming_uniform(a=sqrt(5)): U(-1/sqrt(in), 1/sqrt(in))
            bound = 1 / math.sqrt(v.shape[1])
            assert v.abs().max() <= bound and v.abs().max() > 0.8 * bound and abs(v.mean()) < 0.2 * bound


def test_no_matching_target_is_an_error(base):
    from airtune.train import AdapterModel

    with pytest.raises(ValueError, match="matches no linear module"):
        AdapterModel(base, LoraConfig(target_modules=["c_attn"]), "float32", "cpu")


@pytest.mark.parametrize("rslora", [False, True])
def test_peft_adapter_loads_in_airtune_with_same_logits(base, tmp_path, rslora):
    ref = peft.get_peft_model(
        _hf(base),
        peft.LoraConfig(
            r=4,
            lora_alpha=12,
            target_modules="all-linear",
            init_lora_weights=False,
            use_rslora=rslora,
            task_type="CAUSAL_LM",
        ),
    ).eval()
    ref.save_pretrained(tmp_path / "peft")
    ours = load_adapter(base, tmp_path / "peft")
    ids, mask = _batch()
    with torch.no_grad():
        want = ref(input_ids=ids, attention_mask=mask).logits
    got = ours.logits(ids, mask)
    assert _masked_max_diff(got, want, mask) < TOL
    # and the base alone differs (the adapter really acts)
    with torch.no_grad():
        plain = _hf(base)(input_ids=ids, attention_mask=mask).logits
    assert _masked_max_diff(plain, want, mask) > 1e-3


def test_trained_adapter_loads_in_peft_and_merged_export(base, tmp_path):
    cfg = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules="all-linear",
        learning_rate=5e-3,
        max_steps=6,
        batch_size=4,
        save_merged=True,
        mode="instruct",
    )
    res = train_lora(base, _rows(16), config=cfg, output_dir=tmp_path / "out", show_progress=False)
    conf = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert conf["peft_type"] == "LORA" and conf["task_type"] == "CAUSAL_LM" and conf["r"] == 4
    assert conf["lora_alpha"] == 8 and conf["base_model_name_or_path"] == str(base)
    assert sorted(conf["target_modules"]) == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    from safetensors.torch import load_file

    keys = set(load_file(str(tmp_path / "out" / "adapter_model.safetensors")))
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in keys
    assert "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight" in keys
    ref = _peft_load(base, tmp_path / "out").eval()
    ids, mask = _batch(5)
    with torch.no_grad():
        want = ref(input_ids=ids, attention_mask=mask).logits
        plain = _hf(base)(input_ids=ids, attention_mask=mask).logits
    ours = load_adapter(base, tmp_path / "out").logits(ids, mask)
    assert _masked_max_diff(ours, want, mask) < TOL
    assert _masked_max_diff(plain, want, mask) > 1e-4  # training moved the adapter
    merged = _hf(res.merged_path)
    with torch.no_grad():
        m_logits = merged(input_ids=ids, attention_mask=mask).logits
    assert _masked_max_diff(m_logits, want, mask) < TOL


# ------------------------------------------------------------------------------------------- masks


def _tok(folder):
    from airtune.nn import Tokenizer

    return Tokenizer(folder)


def test_chat_masks_with_pad_equal_eos(tmp_path):
    _make_base(tmp_path)
    write_tokenizer(tmp_path, pad_token="</s>")  # pad == eos
    tok = _tok(tmp_path)
    assert tok.pad_token_id == tok.eos_token_id == 2
    conv = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello world"},
        {"role": "assistant", "content": "the quick fox"},
        {"role": "user", "content": "how are you"},
        {"role": "assistant", "content": "lazy dog today"},
    ]
    ids, labels, report = build_examples(
        [{"messages": conv}], Tokenization(tok, "chat", 128, "truncate", ""), "t"
    )
    assert report.kept == 1
    ids, labels = ids[0], labels[0]
    full = tok.apply_chat_template(conv, add_generation_prompt=False)
    assert tok.decode(ids, skip_special_tokens=False) == full
    trained = tok.decode(
        [t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE], skip_special_tokens=False
    )
    assert trained == "the quick fox</s>\nlazy dog today</s>\n"
    # the EOS ending each assistant turn is learned although pad == eos
    eos_positions = [i for i, t in enumerate(ids) if t == 2]
    assert [labels[i] for i in eos_positions] == [IGNORE, IGNORE, 2, IGNORE, 2]


def test_left_and_right_padding_give_each_rows_loss(tmp_path):
    """Right padding runs unmasked causal attention (no padding row is read), left padding a mask:
    both give the sum of the rows' losses computed alone."""
    _make_base(tmp_path)
    from airtune.train import AdapterModel

    m = AdapterModel(tmp_path, LoraConfig(), "float32", "cpu")
    a, b = [1, 50, 60, 70, 80, 90, 2], [1, 55, 65, 2]
    alone = [
        m._impl.loss(torch.tensor([r]), torch.ones(1, len(r), dtype=torch.long), torch.tensor([r]))
        for r in (a, b)
    ]
    want = sum(x[0] for x in alone)
    pad = len(a) - len(b)
    right = torch.tensor([a, b + [0] * pad]), torch.tensor([[1] * len(a), [1] * len(b) + [0] * pad])
    left = torch.tensor([a, [0] * pad + b]), torch.tensor([[1] * len(a), [0] * pad + [1] * len(b)])
    for ids, mask in (right, left):
        labels = ids.masked_fill(mask == 0, -100)
        labels[1, mask[1].argmax()] = -100  # a row's first token is no target (alone it is none)
        got, n = m._impl.loss(ids, mask, labels)
        assert n == sum(x[1] for x in alone) == len(a) + len(b) - 2
        assert got == pytest.approx(want, rel=1e-5)


def test_padding_with_eos_id_does_not_change_loss(tmp_path):
    _make_base(tmp_path)
    write_tokenizer(tmp_path, pad_token="</s>")
    from airtune.train import AdapterModel

    m = AdapterModel(tmp_path, LoraConfig(), "float32", "cpu")
    ids = torch.tensor([[1, 50, 60, 70, 2], [1, 80, 90, 2, 2]])  # second row padded with eos
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    labels = torch.tensor([[-100, -100, 60, 70, 2], [-100, -100, 90, 2, -100]])
    s_all, n_all = m._impl.loss(ids, mask, labels)
    s0, n0 = m._impl.loss(ids[:1], mask[:1], labels[:1])
    s1, n1 = m._impl.loss(ids[1:, :4], mask[1:, :4], labels[1:, :4])
    assert n_all == n0 + n1 == 5
    assert s_all == pytest.approx(s0 + s1, abs=1e-5)
    hf = _hf(tmp_path)
    with torch.no_grad():
        logits = hf(input_ids=ids, attention_mask=mask).logits
    ref = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1), ignore_index=-100, reduction="sum"
    )
    assert s_all == pytest.approx(ref.item(), abs=1e-4)


def test_instruct_masks(base):
    tok = _tok(base)
    ids, labels, _ = build_examples(
        [{"instruction": "hello", "input": "world", "output": "the dog"}],
        Tokenization(tok, "instruct", 128, "truncate", "{prompt}\n"),
        "t",
    )
    ids, labels = ids[0], labels[0]
    assert ids[0] == 1 and ids[-1] == 2
    trained = [t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE]
    assert tok.decode(trained, skip_special_tokens=False) == "the dog</s>"
    assert tok.decode(ids, skip_special_tokens=False) == "<s>hello\n\nworld\nthe dog</s>"


def test_bad_input_is_counted(base, tmp_path):
    rows = [
        {"prompt": "hello", "completion": "the dog"},
        {"prompt": "hello", "completion": "   "},  # empty response
        {"messages": [{"role": "user", "content": "x"}, {"role": "robot", "content": "y"}]},  # unknown role
        {"messages": [{"role": "user", "content": "only a question"}]},  # no assistant turn
        {"text": "no prompt here"},  # unrecognised
        {"prompt": "hello", "completion": " ".join(["the end"] * 40)},  # too long
    ]
    tok = _tok(base)
    _, _, rep = build_examples(rows, Tokenization(tok, "chat", 32, "drop", ""), "t")
    assert rep.kept == 1
    assert rep.dropped == {
        "empty_response": 1,
        "unknown_role": 1,
        "no_assistant_turn": 1,
        "unrecognised_row": 1,
        "too_long": 1,
    }
    assert rep.kept + sum(rep.dropped.values()) == rep.total == len(rows)
    ids, _, rep = build_examples(rows, Tokenization(tok, "chat", 32, "truncate", ""), "t")
    assert rep.kept == 2 and rep.truncated == 1 and all(len(x) <= 32 for x in ids)
    # a long prompt truncated before any response token: dropped with its own reason
    long_prompt = [{"prompt": " ".join(["hello world"] * 40), "completion": "the end"}]
    _, _, rep = build_examples(long_prompt, Tokenization(tok, "instruct", 8, "truncate", "{prompt}\n"), "t")
    assert rep.dropped == {"no_labels_after_truncation": 1}


def test_configuration_errors(tmp_path, base):
    folder = tmp_path / "notemplate"
    folder.mkdir()
    _make_base(folder)
    write_tokenizer(folder, template=None)
    with pytest.raises(ValueError, match="chat template"):
        train_lora(
            folder, _rows(4), config=LoraConfig(mode="chat"), output_dir=tmp_path / "o", show_progress=False
        )
    gpt = tmp_path / "gpt2"
    gpt.mkdir()
    (gpt / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="model_type 'gpt2' is not supported"):
        train_lora(gpt, _rows(4), output_dir=tmp_path / "o", show_progress=False)
    with pytest.raises(ValueError, match="no usable training rows"):
        train_lora(base, [{"prompt": "x", "completion": ""}], output_dir=tmp_path / "o", show_progress=False)
    with pytest.raises(ValueError, match="lora_dropout"):
        train_lora(base, _rows(4), config=LoraConfig(lora_dropout=1.5), output_dir=tmp_path / "o")
    for lr in (1e38, float("inf")):  # AdamW's step past float32: a named error, not an internal one
        with pytest.raises(ValueError, match="learning_rate"):
            cfg = LoraConfig(learning_rate=lr, max_steps=1)
            train_lora(base, _rows(4), config=cfg, output_dir=tmp_path / "o", show_progress=False)


# -------------------------------------------------------------------------------------- training


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_schedules_match_transformers(schedule):
    from airtune.nn._lib import native

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = transformers.get_scheduler(schedule, opt, num_warmup_steps=3, num_training_steps=11)
    for step in range(11):
        assert native().lr_lambda(schedule, step, 3, 11) == pytest.approx(
            opt.param_groups[0]["lr"], abs=1e-12
        )
        opt.step()
        sched.step()


def _peft_loop(base, adapter_dir, batches, cfg: LoraConfig, steps: int, dtype=torch.float32):
    """A plain PyTorch loop over PEFT: AdamW, HF scheduler, token-normalised loss, clipping."""
    model = _peft_load(base, adapter_dir, dtype, is_trainable=True)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = transformers.get_scheduler(
        cfg.lr_scheduler, opt, num_warmup_steps=cfg.warmup_steps, num_training_steps=steps
    )
    losses = []
    for step in range(steps):
        ids, mask, labels = batches[step % len(batches)]
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        n = (labels[:, 1:] != -100).sum()
        loss = (
            torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, VOCAB),
                labels[:, 1:].reshape(-1),
                ignore_index=-100,
                reduction="sum",
            )
            / n
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses, model


def _padded(ids_list, labels_list, pad):
    w = max(len(x) for x in ids_list)
    ids = torch.full((len(ids_list), w), pad)
    mask = torch.zeros((len(ids_list), w), dtype=torch.long)
    labels = torch.full((len(ids_list), w), -100)
    for i, (a, b) in enumerate(zip(ids_list, labels_list, strict=True)):
        ids[i, : len(a)] = torch.tensor(a)
        mask[i, : len(a)] = 1
        labels[i, : len(b)] = torch.tensor(b)
    return ids, mask, labels


def _train_beside_peft(base, tmp_path, dtype: str):
    """20 steps of ours and of PEFT + torch from the same initial adapter, the whole data as one
    batch, the base in `dtype` in both (adapters float32): (our losses, PEFT's, our adapter, PEFT's,
    the initial one) as state dicts."""
    from airtune.train import AdapterModel

    rows = _rows(6, seed=4, chat=True)
    cfg = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules="all-linear",
        learning_rate=3e-3,
        max_steps=20,
        batch_size=6,
        warmup_steps=3,
        lr_scheduler="cosine",
        max_grad_norm=0.5,
        seed=11,
        mode="chat",
        dtype=dtype,
    )
    AdapterModel(base, cfg, dtype, "cpu").save_adapter(tmp_path / "init")
    res = train_lora(base, rows, config=cfg, output_dir=tmp_path / "ours", show_progress=False)
    ids, labels, _ = build_examples(rows, Tokenization(_tok(base), "chat", 1024, "truncate", ""), "t")
    batch = _padded(ids, labels, 0)
    ref_losses, ref_model = _peft_loop(base, tmp_path / "init", [batch], cfg, 20, getattr(torch, dtype))
    assert len(res.train_loss) == 20
    return (
        res.train_loss,
        ref_losses,
        load_adapter(base, tmp_path / "ours").state_dict(),
        peft.get_peft_model_state_dict(ref_model),
        load_adapter(base, tmp_path / "init").state_dict(),
    )


def test_loss_per_step_matches_peft_loop(base, tmp_path):
    """fp32: our loss at every step within 1e-4 of PEFT + torch, the adapters within 1e-4."""
    ours, ref_losses, got, want, _ = _train_beside_peft(base, tmp_path, "float32")
    assert max(abs(a - b) for a, b in zip(ours, ref_losses, strict=True)) < TOL
    assert ours[-1] < ours[0] - 0.05  # it learns
    for k, v in got.items():
        assert torch.allclose(v, want[k], atol=1e-4), k


def test_bfloat16_loss_per_step_matches_peft_bf16_loop(base, tmp_path):
    """A bf16 base with float32 adapters (on the CPU the adapters' terms run cpp/nn/lora_bf16.h)
    against PEFT's loop over the same bf16 base, whose adapters stay float32 too: losses per step
    to bf16 noise, and the adapters apart by far less than training moved them (AdamW turns
    bf16-level gradient differences into steps of up to the learning rate)."""
    ours, ref_losses, got, want, init = _train_beside_peft(base, tmp_path, "bfloat16")
    diffs = [abs(a - b) for a, b in zip(ours, ref_losses, strict=True)]
    assert max(diffs) < 2e-2, diffs
    assert ours[-1] < ours[0] - 0.05  # it learns
    for k, v in got.items():
        assert v.dtype == want[k].dtype == torch.float32, k
        moved, apart = (v - init[k]).abs().mean(), (v - want[k]).abs().mean()
        assert apart < 0.05 * moved, (k, float(apart), float(moved))


def test_gradient_accumulation_normalised_by_step_tokens(base, tmp_path):
    """2 micro-batches of 2 == 1 batch of 4 (rows of very different lengths)."""
    rows = _rows(4, seed=9)
    rows[0]["completion"] = " ".join(WORDS * 2)
    common = dict(
        r=4,
        target_modules="all-linear",
        learning_rate=1e-2,
        epochs=3,
        group_by_length=False,
        mode="instruct",
        max_grad_norm=0.0,
    )
    a = train_lora(
        base, rows, config=LoraConfig(batch_size=4, **common), output_dir=tmp_path / "a", show_progress=False
    )
    b = train_lora(
        base,
        rows,
        config=LoraConfig(batch_size=2, gradient_accumulation_steps=2, **common),
        output_dir=tmp_path / "b",
        show_progress=False,
    )
    assert a.steps == b.steps == 3
    for x, y in zip(a.train_loss, b.train_loss, strict=True):
        assert x == pytest.approx(y, abs=1e-5)
    sa, sb = load_adapter(base, tmp_path / "a").state_dict(), load_adapter(base, tmp_path / "b").state_dict()
    for k in sa:
        assert torch.allclose(sa[k], sb[k], atol=1e-4), k  # Adam amplifies ulp-level gradient differences


def test_killed_and_resumed_run_ends_with_same_adapter(base, tmp_path):
    rows = _rows(20, seed=2)
    cfg = LoraConfig(
        r=4,
        target_modules=["q_proj", "v_proj", "down_proj"],
        lora_dropout=0.1,
        learning_rate=5e-3,
        epochs=2,
        batch_size=3,
        gradient_accumulation_steps=2,
        save_steps=2,
        seed=5,
        mode="instruct",
        warmup_ratio=0.2,
    )
    full = train_lora(base, rows, config=cfg, output_dir=tmp_path / "full", show_progress=False)

    def kill(info):
        if info["step"] == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_lora(
            base, rows, config=cfg, output_dir=tmp_path / "part", callbacks=[kill], show_progress=False
        )
    ckpt = tmp_path / "part" / "checkpoints" / "checkpoint-4"
    assert ckpt.is_dir() and not (tmp_path / "part" / "checkpoints" / "checkpoint-6").exists()
    assert not (tmp_path / "part" / "adapter_model.safetensors").exists()
    resumed = train_lora(
        base, rows, config=cfg, output_dir=tmp_path / "part", resume_from_checkpoint=ckpt, show_progress=False
    )
    assert resumed.steps == full.steps == 7  # 20 rows / 3 = 7 micro-batches x 2 epochs / 2
    assert resumed.train_loss == full.train_loss
    a = load_adapter(base, tmp_path / "full").state_dict()
    b = load_adapter(base, tmp_path / "part").state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # resuming with other batch settings is refused
    with pytest.raises(ValueError, match="batch_size"):
        train_lora(
            base,
            rows,
            config=LoraConfig(**{**cfg.__dict__, "batch_size": 4}),
            output_dir=tmp_path / "x",
            resume_from_checkpoint=ckpt,
            show_progress=False,
        )


def test_nan_loss_stops_and_keeps_last_good_checkpoint(base, tmp_path):
    cfg = LoraConfig(
        target_modules="all-linear",
        learning_rate=1e30,
        max_steps=5,
        save_steps=1,
        mode="instruct",
        max_grad_norm=0.0,
    )
    with pytest.raises(TrainingDivergedError, match="checkpoint-1") as err:
        train_lora(base, _rows(8), config=cfg, output_dir=tmp_path / "o", show_progress=False)
    res = err.value.result
    assert res.stop_reason == "nan_loss" and res.steps == 1
    assert (tmp_path / "o" / "checkpoints" / "checkpoint-1" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "o" / "adapter_model.safetensors").exists()


def test_eval_early_stopping_callbacks_and_result(base, tmp_path):
    seen = []
    cfg = LoraConfig(
        learning_rate=0.0, epochs=50, batch_size=2, eval_steps=2, early_stopping_patience=2, mode="chat"
    )
    res = train_lora(
        base,
        _rows(6, chat=True),
        eval=_rows(4, seed=8, chat=True),
        config=cfg,
        output_dir=tmp_path / "o",
        callbacks=[seen.append],
        show_progress=True,
    )
    assert res.stop_reason == "early_stopping"
    assert [s for s, _ in res.eval_history] == [2, 4, 6]  # best at 2, no improvement at 4 and 6
    assert len(seen) == res.steps == 6
    assert res.tokens_per_second > 0 and res.train_report.kept == 6 and res.eval_report.kept == 4
    assert len(res.to_pandas()) == 6
    import matplotlib

    matplotlib.use("Agg")
    assert res.plot() is not None

    stop = train_lora(
        base,
        _rows(6),
        config=LoraConfig(max_steps=10, mode="instruct"),
        output_dir=tmp_path / "p",
        callbacks=[lambda info: info["step"] < 3],
        show_progress=False,
    )
    assert stop.stop_reason == "callback" and stop.steps == 3


def test_same_seed_same_adapter(base, tmp_path):
    cfg = LoraConfig(lora_dropout=0.2, max_steps=4, batch_size=2, mode="instruct", learning_rate=1e-2, seed=3)
    train_lora(base, _rows(8), config=cfg, output_dir=tmp_path / "a", show_progress=False)
    train_lora(base, _rows(8), config=cfg, output_dir=tmp_path / "b", show_progress=False)
    a = load_adapter(base, tmp_path / "a").state_dict()
    b = load_adapter(base, tmp_path / "b").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(torch.count_nonzero(v) > 0 for k, v in a.items() if "lora_B" in k)


def test_input_kinds_give_the_same_examples(base):
    import airtune.io as aio

    rows = _rows(6, seed=3, chat=True) + [{"instruction": "hello", "input": "world", "output": "the dog"}]
    tokenization = Tokenization(_tok(base), "chat", 128, "truncate", "")
    want = build_examples(rows, tokenization, "t")[:2]
    records = aio.from_dicts(rows)
    assert build_examples(records, tokenization, "t")[:2] == want
    assert build_examples(records.to_pandas(), tokenization, "t")[:2] == want
    assert build_examples(records.to_hf(), tokenization, "t")[:2] == want


def test_import_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, airtune.train; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_gradient_checkpointing_gives_the_same_training(base, tmp_path):
    common = dict(
        target_modules="all-linear",
        lora_dropout=0.1,
        max_steps=4,
        batch_size=3,
        mode="instruct",
        learning_rate=1e-2,
        seed=2,
    )
    a = train_lora(
        base, _rows(9), config=LoraConfig(**common), output_dir=tmp_path / "a", show_progress=False
    )
    b = train_lora(
        base,
        _rows(9),
        config=LoraConfig(gradient_checkpointing=True, **common),
        output_dir=tmp_path / "b",
        show_progress=False,
    )
    assert a.train_loss == pytest.approx(b.train_loss, abs=1e-6)
    sa, sb = load_adapter(base, tmp_path / "a").state_dict(), load_adapter(base, tmp_path / "b").state_dict()
    for k in sa:
        assert torch.allclose(sa[k], sb[k], atol=1e-5), k


@pytest.mark.parametrize("targets", [["model.layers.0.self_attn.q_proj", "down_proj"], ["o_proj"]])
def test_saved_target_modules_select_the_same_modules_in_peft(base, tmp_path, targets):
    from airtune.train import AdapterModel

    ours = AdapterModel(base, LoraConfig(target_modules=targets), "float32", "cpu")
    ours.save_adapter(tmp_path / "a")
    ref = _peft_load(base, tmp_path / "a")  # fails on a missing / unexpected key
    names = {n[: -len(".lora_A")] for n, _ in ref.base_model.model.named_modules() if n.endswith(".lora_A")}
    assert names == set(ours.modules)


@pytest.mark.parametrize(
    "kind,overrides",
    [
        ("qwen2", {"tie_word_embeddings": True}),
        ("mistral", {"sliding_window": 4}),
        ("llama", {"mlp_bias": True}),
    ],
)
def test_other_architectures_match_peft(tmp_path, kind, overrides):
    """Qwen2 (q/k/v biases, tied embeddings), Mistral (sliding window, padded batch), Llama MLP biases."""
    _make_base(tmp_path / "base", kind=kind, **overrides)
    ref = peft.get_peft_model(
        _hf(tmp_path / "base"),
        peft.LoraConfig(
            r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM"
        ),
    ).eval()
    ref.save_pretrained(tmp_path / "peft")
    ours = load_adapter(tmp_path / "base", tmp_path / "peft")
    ids, mask = _batch()
    with torch.no_grad():
        want = ref(input_ids=ids, attention_mask=mask).logits
    assert _masked_max_diff(ours.logits(ids, mask), want, mask) < TOL
    ours.save_merged(tmp_path / "merged")
    with torch.no_grad():
        merged = _hf(tmp_path / "merged")(input_ids=ids, attention_mask=mask).logits
    assert _masked_max_diff(merged, want, mask) < TOL


def test_bfloat16_base_trains_with_float32_adapters(base, tmp_path):
    cfg = LoraConfig(
        dtype="bfloat16", device="cpu", max_steps=4, learning_rate=1e-2, mode="instruct", batch_size=4
    )
    res = train_lora(base, _rows(16), config=cfg, output_dir=tmp_path / "o", show_progress=False)
    assert all(math.isfinite(x) for x in res.train_loss)
    sd = load_adapter(base, tmp_path / "o").state_dict()
    assert all(v.dtype == torch.float32 for v in sd.values())
    assert any(torch.count_nonzero(v) > 0 for k, v in sd.items() if "lora_B" in k)


@pytest.mark.parametrize("kind", ["llama", "mistral"])
def test_packing_gives_the_same_training(tmp_path, kind):
    """Packed rows (positions restart, block-causal attention) train exactly as one example per row."""
    _make_base(tmp_path / "base", kind=kind, **({"sliding_window": 6} if kind == "mistral" else {}))
    rows = _rows(10, seed=6, chat=True)
    common = dict(
        target_modules="all-linear",
        max_steps=3,
        batch_size=5,
        mode="chat",
        learning_rate=1e-2,
        max_length=64,
        group_by_length=False,
    )
    a = train_lora(
        tmp_path / "base", rows, config=LoraConfig(**common), output_dir=tmp_path / "a", show_progress=False
    )
    b = train_lora(
        tmp_path / "base",
        rows,
        config=LoraConfig(packing=True, **common),
        output_dir=tmp_path / "b",
        show_progress=False,
    )
    assert a.train_loss == pytest.approx(b.train_loss, abs=1e-5)
    assert sum(h["seq_tokens"] for h in a.history) == sum(h["seq_tokens"] for h in b.history)
    sa = load_adapter(tmp_path / "base", tmp_path / "a").state_dict()
    sb = load_adapter(tmp_path / "base", tmp_path / "b").state_dict()
    for k in sa:
        assert torch.allclose(sa[k], sb[k], atol=1e-4), k


# ------------------------------------------------------------------------- checkpoints under attack


def _ckpt_run(**overrides):
    rows = _rows(12, seed=3)
    cfg = LoraConfig(
        **{
            "r": 4,
            "target_modules": ["q_proj", "v_proj"],
            "max_steps": 3,
            "batch_size": 4,
            "save_steps": 2,
            "eval_steps": 1,
            "mode": "instruct",
            "learning_rate": 1e-3,
            **overrides,
        }
    )
    return rows, cfg


@pytest.fixture(scope="module")
def checkpoint(base, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    rows, cfg = _ckpt_run()
    train_lora(base, rows, eval=rows[:4], config=cfg, output_dir=out, show_progress=False)
    return out / "checkpoints" / "checkpoint-2"


def _copy(ckpt, tmp_path):
    import shutil

    dst = tmp_path / "ckpt"
    shutil.copytree(ckpt, dst)
    return dst


def _manifest(ckpt):
    return json.loads((ckpt / "manifest.json").read_text())


def _set_manifest(ckpt, m):
    (ckpt / "manifest.json").write_text(json.dumps(m))


def _rehash(ckpt, name):
    """Records the current digest of `name`, as an attacker who rewrote the file would."""
    import hashlib

    m = _manifest(ckpt)
    data = (ckpt / name).read_bytes()
    m["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    _set_manifest(ckpt, m)


def _resume(base, ckpt, tmp_path, rows=None, **overrides):
    r, cfg = _ckpt_run(**overrides)
    rows = r if rows is None else rows
    return train_lora(
        base,
        rows,
        eval=rows[:4],
        config=cfg,
        output_dir=tmp_path / "resumed",
        resume_from_checkpoint=ckpt,
        show_progress=False,
    )


def test_checkpoint_holds_no_pickle_and_resumes(base, checkpoint, tmp_path):
    st = pytest.importorskip("safetensors.torch")
    names = {p.name for p in checkpoint.iterdir()}
    assert names == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "optimizer.safetensors",
        "trainer_state.safetensors",
        "best_adapter.safetensors",
        "manifest.json",
    }
    opt = st.load_file(str(checkpoint / "optimizer.safetensors"))
    steps = {k: int(v) for k, v in opt.items() if k.endswith(".step")}
    assert len(steps) == 8 and set(steps.values()) == {2}  # A, B of 2 modules x 2 layers; 2 steps each
    a = next(k for k in opt if k.endswith("q_proj.lora_A.weight.exp_avg"))
    assert opt[a].abs().sum() > 0
    m = _manifest(checkpoint)
    assert m["step"] == 2 and m["total_steps"] == 3 and m["n_evals"] == 2
    assert {"learning_rate", "r", "lora_alpha", "target_modules", "train_data_sha256"} <= set(
        m["fingerprint"]
    )
    # The checkpoint of the (uninterrupted) fixture run resumes to the adapter that run wrote.
    resumed = _resume(base, _copy(checkpoint, tmp_path), tmp_path)
    log = json.loads((checkpoint.parent.parent / "training_log.json").read_text())
    assert resumed.train_loss == [h["loss"] for h in log["history"]]
    sa = load_adapter(base, checkpoint.parent.parent).state_dict()
    sb = load_adapter(base, tmp_path / "resumed").state_dict()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ({"step": -5}, "'step' = -5 is out of range"),
        ({"step": 0}, "'step' = 0 is out of range"),
        ({"step": 999999}, r"'step' = 999999 is out of range \[1, 3\]"),
        ({"step": 1e9}, "'step' must be an integer"),
        ({"n_history": 10**9}, "unknown key 'n_history'"),
        ({"n_evals": 100}, "'n_evals' = 100 is out of range"),
        ({"bad_evals": -1}, "'bad_evals' = -1"),
        ({"version": 1}, "version 1 is not supported"),
        ({"best_metric": None}, "'best_metric' must be null exactly when 'best_step' is 0"),
        ({"best_metric": "x"}, "'best_metric' must be a finite number"),
        ({"best_step": 7}, "'best_step' = 7 is out of range"),
    ],
)
def test_resume_refuses_crafted_manifest(base, checkpoint, tmp_path, edit, needle):
    ckpt = _copy(checkpoint, tmp_path)
    _set_manifest(ckpt, {**_manifest(ckpt), **edit})
    with pytest.raises(ValueError, match=needle) as err:
        _resume(base, ckpt, tmp_path)
    assert "manifest.json" in str(err.value)


@pytest.mark.parametrize(
    "name",
    [
        "adapter_model.safetensors",
        "optimizer.safetensors",
        "trainer_state.safetensors",
        "best_adapter.safetensors",
    ],
)
def test_resume_refuses_flipped_bits(base, checkpoint, tmp_path, name):
    ckpt = _copy(checkpoint, tmp_path)
    data = bytearray((ckpt / name).read_bytes())
    data[-3] ^= 0x10  # one bit of the tensor data
    (ckpt / name).write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{name}: SHA-256 .* differs"):
        _resume(base, ckpt, tmp_path)
    (ckpt / name).write_bytes(bytes(data[:-1]))
    with pytest.raises(
        ValueError, match=f"{name}: {len(data) - 1} bytes but the checkpoint manifest records"
    ):
        _resume(base, ckpt, tmp_path)


def test_resume_validates_rehashed_contents(base, checkpoint, tmp_path):
    st = pytest.importorskip("safetensors.torch")
    # A history longer than the checkpoint (the 'n_history = 100' case), digest recomputed.
    ckpt = _copy(checkpoint, tmp_path)
    state = st.load_file(str(ckpt / "trainer_state.safetensors"))
    state["history"] = torch.cat([state["history"], torch.ones(98, 11, dtype=torch.float64)])
    st.save_file(state, str(ckpt / "trainer_state.safetensors"))
    _rehash(ckpt, "trainer_state.safetensors")
    with pytest.raises(ValueError, match=r"tensor 'history' is F64 \[100, 11\], expected F64 \[2, 11\]"):
        _resume(base, ckpt, tmp_path)
    # A loss that is not a number.
    ckpt = _copy(checkpoint, tmp_path / "b")
    state = st.load_file(str(ckpt / "trainer_state.safetensors"))
    state["history"][1, 3] = float("nan")
    st.save_file(state, str(ckpt / "trainer_state.safetensors"))
    _rehash(ckpt, "trainer_state.safetensors")
    with pytest.raises(ValueError, match="history row 1 column 'loss' = nan"):
        _resume(base, ckpt, tmp_path)
    # Optimizer moments that are not finite, and a step count beyond the checkpoint's.
    for key_end, value, needle in [
        (".exp_avg", float("inf"), "is not finite"),
        (".step", 7, r"out of range \[0, 2\]"),
    ]:
        ckpt = _copy(checkpoint, tmp_path / f"o{key_end}")
        opt = st.load_file(str(ckpt / "optimizer.safetensors"))
        key = next(k for k in sorted(opt) if k.endswith(key_end))
        opt[key] = torch.full_like(opt[key], value)
        st.save_file(opt, str(ckpt / "optimizer.safetensors"))
        _rehash(ckpt, "optimizer.safetensors")
        with pytest.raises(ValueError, match=needle):
            _resume(base, ckpt, tmp_path)
    # An adapter (the last or the best one) holding a NaN.
    for name in ("adapter_model.safetensors", "best_adapter.safetensors"):
        ckpt = _copy(checkpoint, tmp_path / name)
        ad = st.load_file(str(ckpt / name))
        key = sorted(ad)[0]
        ad[key][0, 0] = float("nan")
        st.save_file(ad, str(ckpt / name))
        _rehash(ckpt, name)
        with pytest.raises(ValueError, match=f"{name}.*holds a NaN or infinity"):
            _resume(base, ckpt, tmp_path)


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"learning_rate": 2e-3}, "learning_rate = 0.001 but this run has learning_rate = 0.002"),
        ({"r": 8}, "r = 4 but this run has r = 8"),
        ({"lora_alpha": 8.0}, "lora_alpha = 16 but this run has lora_alpha = 8"),
        (
            {"target_modules": ["q_proj", "k_proj"]},
            "target_modules = q_proj,v_proj but this run has target_modules",
        ),
        ({"lora_dropout": 0.1}, "lora_dropout"),
        ({"lr_scheduler": "cosine"}, "lr_scheduler = linear"),
        ({"seed": 1}, "seed = 0 but this run has seed = 1"),
        ({"max_steps": 4}, "max_steps = 3 but this run has max_steps = 4"),
    ],
)
def test_resume_names_the_setting_that_differs(base, checkpoint, tmp_path, override, needle):
    with pytest.raises(ValueError, match=needle):
        _resume(base, _copy(checkpoint, tmp_path), tmp_path, **override)


def test_resume_refuses_other_data_and_old_checkpoints(base, checkpoint, tmp_path):
    rows = _ckpt_run()[0]
    changed = [dict(r) for r in rows]
    changed[5]["completion"] += " more"
    with pytest.raises(ValueError, match="train_data_sha256 = [0-9a-f]{64} but this run has"):
        _resume(base, _copy(checkpoint, tmp_path), tmp_path, rows=changed)
    # A checkpoint of the older format (its optimizer state a pickle) is refused, not unpickled.
    ckpt = _copy(checkpoint, tmp_path / "old")
    (ckpt / "manifest.json").unlink()
    (ckpt / "optimizer.pt").write_bytes(b"\x80\x04not loaded")
    with pytest.raises(ValueError, match="optimizer.pt.* is a pickle, which airtune does not load"):
        _resume(base, ckpt, tmp_path)
    (ckpt / "optimizer.pt").unlink()
    with pytest.raises(OSError, match="is not a checkpoint"):
        _resume(base, ckpt, tmp_path)


def test_no_pickle_reader_in_the_sources():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readers = ("torch::load(", "torch::pickle_load", "torch.load(", "pickle.load", "pickle.loads")
    for folder in ("cpp", "python/airtune"):
        for path in (root / folder).rglob("*"):
            if path.suffix in {".cpp", ".h", ".py"}:
                text = path.read_text(encoding="utf-8")
                assert not any(r in text for r in readers), path
